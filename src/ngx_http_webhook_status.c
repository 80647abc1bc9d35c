
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_webhook_status.h"
#include "ngx_http_webhook_store.h"
#include "ngx_http_webhook_json.h"


/* the longest number printed: an off_t, a uint64_t or a size_t */
#define NGX_HTTP_WEBHOOK_STATUS_NUM_LEN  NGX_INT64_LEN

/* sample lines of the Prometheus text, each with its "# TYPE" line */
#define NGX_HTTP_WEBHOOK_STATUS_METRICS  17


static ngx_int_t ngx_http_webhook_status_json(ngx_http_request_t *r,
    ngx_str_t *zone, ngx_http_webhook_stats_t *st);
static ngx_int_t ngx_http_webhook_status_prometheus(ngx_http_request_t *r,
    ngx_str_t *zone, ngx_http_webhook_stats_t *st);
static u_char *ngx_http_webhook_status_metric(u_char *p, char *name,
    char *type, ngx_str_t *zone, char *state, uint64_t value);


static ngx_str_t  ngx_http_webhook_status_allow_key = ngx_string("Allow");
static ngx_str_t  ngx_http_webhook_status_allow = ngx_string("GET, HEAD");
static ngx_str_t  ngx_http_webhook_status_prometheus_type =
    ngx_string("text/plain; version=0.0.4");




ngx_int_t
ngx_http_webhook_status_handler(ngx_http_request_t *r)
{
    ngx_str_t                     format, *zone;
    ngx_http_webhook_stats_t      st;
    ngx_http_webhook_loc_conf_t  *wlcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        if (ngx_http_webhook_json_add_header(r,
                                        &ngx_http_webhook_status_allow_key,
                                        &ngx_http_webhook_status_allow)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_webhook_json_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "method_not_allowed",
                                           "method not allowed here", NULL);
    }

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_webhook_module);

    if (ngx_http_webhook_store_stats(wlcf->status_store, &st) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    zone = ngx_http_webhook_store_name(wlcf->status_store);

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK
        && format.len == sizeof("prometheus") - 1
        && ngx_strncmp(format.data, "prometheus", format.len) == 0)
    {
        return ngx_http_webhook_status_prometheus(r, zone, &st);
    }

    return ngx_http_webhook_status_json(r, zone, &st);
}


static ngx_int_t
ngx_http_webhook_status_json(ngx_http_request_t *r, ngx_str_t *zone,
    ngx_http_webhook_stats_t *st)
{
    u_char  *body, *p;
    size_t   len;

    len = sizeof("{\"zone\":\"\",\"subscriptions\":,\"events\":,"
                 "\"deliveries\":{\"queued\":,\"in_flight\":,\"failed\":,"
                 "\"succeeded\":},"
                 "\"attempts\":{\"total\":,\"retries\":,\"given_up\":},"
                 "\"oldest_due_age_ms\":,"
                 "\"zone_bytes\":{\"used\":,\"free\":},"
                 "\"journal\":{\"bytes\":,\"seq\":,\"generation\":,"
                 "\"last_snapshot\":},"
                 "\"writable\":false}") - 1
          + ngx_http_webhook_json_escape_len(zone)
          + 16 * NGX_HTTP_WEBHOOK_STATUS_NUM_LEN;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, "{\"zone\":\"", sizeof("{\"zone\":\"") - 1);
    p = ngx_http_webhook_json_escape(p, zone);

    p = ngx_sprintf(p, "\",\"subscriptions\":%ui,\"events\":%ui,"
                    "\"deliveries\":{\"queued\":%ui,\"in_flight\":%ui,"
                    "\"failed\":%ui,\"succeeded\":%uL},"
                    "\"attempts\":{\"total\":%uL,\"retries\":%uL,"
                    "\"given_up\":%uL},\"oldest_due_age_ms\":%M,"
                    "\"zone_bytes\":{\"used\":%uz,\"free\":%uz},"
                    "\"journal\":{\"bytes\":%O,\"seq\":%uL,"
                    "\"generation\":%uL,\"last_snapshot\":",
                    st->subscriptions, st->events, st->queued,
                    st->in_flight, st->failed, st->delivered,
                    st->attempts, st->retries, st->given_up,
                    st->oldest_due_age, st->zone_used, st->zone_free,
                    st->journal_bytes, st->seq, st->generation);

    /* seconds since the epoch, null before the first snapshot */

    if (st->snapshot_time) {
        p = ngx_sprintf(p, "%T", st->snapshot_time);

    } else {
        p = ngx_cpymem(p, "null", sizeof("null") - 1);
    }

    p = ngx_sprintf(p, "},\"writable\":%s}", st->writable ? "true" : "false");

    return ngx_http_webhook_json_send(r, NGX_HTTP_OK, body, p - body);
}


static ngx_int_t
ngx_http_webhook_status_prometheus(ngx_http_request_t *r, ngx_str_t *zone,
    ngx_http_webhook_stats_t *st)
{
    u_char  *body, *p;
    size_t   len;

    /*
     * per line, the longest "# TYPE" line twice (for the line and its
     * sample), the longest labels, the zone and a number: room to spare
     */
    len = NGX_HTTP_WEBHOOK_STATUS_METRICS
          * (2 * (sizeof("# TYPE webhook_last_snapshot_timestamp_seconds "
                          "gauge\n") - 1)
             + sizeof("{zone=\"\",state=\"in_flight\"} \n") - 1
             + ngx_http_webhook_json_escape_len(zone)
             + NGX_HTTP_WEBHOOK_STATUS_NUM_LEN);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = body;

    p = ngx_http_webhook_status_metric(p, "subscriptions", "gauge", zone,
                                       NULL, st->subscriptions);
    p = ngx_http_webhook_status_metric(p, "events", "gauge", zone, NULL,
                                       st->events);

    /* one metric, a line per state */

    p = ngx_http_webhook_status_metric(p, "deliveries", "gauge", zone,
                                       "queued", st->queued);
    p = ngx_http_webhook_status_metric(p, "deliveries", NULL, zone,
                                       "in_flight", st->in_flight);
    p = ngx_http_webhook_status_metric(p, "deliveries", NULL, zone,
                                       "failed", st->failed);

    /* counters since the zone began */

    p = ngx_http_webhook_status_metric(p, "delivered_total", "counter", zone,
                                       NULL, st->delivered);
    p = ngx_http_webhook_status_metric(p, "attempts_total", "counter", zone,
                                       NULL, st->attempts);
    p = ngx_http_webhook_status_metric(p, "retries_total", "counter", zone,
                                       NULL, st->retries);
    p = ngx_http_webhook_status_metric(p, "given_up_total", "counter", zone,
                                       NULL, st->given_up);

    p = ngx_http_webhook_status_metric(p, "oldest_due_age_ms", "gauge", zone,
                                       NULL, st->oldest_due_age);
    p = ngx_http_webhook_status_metric(p, "zone_used_bytes", "gauge", zone,
                                       NULL, st->zone_used);
    p = ngx_http_webhook_status_metric(p, "zone_free_bytes", "gauge", zone,
                                       NULL, st->zone_free);
    p = ngx_http_webhook_status_metric(p, "journal_bytes", "gauge", zone,
                                       NULL, st->journal_bytes);
    p = ngx_http_webhook_status_metric(p, "journal_seq", "counter", zone,
                                       NULL, st->seq);
    p = ngx_http_webhook_status_metric(p, "journal_generation", "counter",
                                       zone, NULL, st->generation);
    p = ngx_http_webhook_status_metric(p, "last_snapshot_timestamp_seconds",
                                       "gauge", zone, NULL,
                                       (uint64_t) st->snapshot_time);
    p = ngx_http_webhook_status_metric(p, "writable", "gauge", zone, NULL,
                                       st->writable);

    return ngx_http_webhook_json_send_as(r, NGX_HTTP_OK,
                                     &ngx_http_webhook_status_prometheus_type,
                                     body, p - body);
}


/*
 * A sample of webhook_NAME with zone="ZONE" and, if "state" is given,
 * state="STATE", after a "# TYPE" line if "type" is given (the first line
 * of a metric).  Zone names are configuration tokens: a quote or a
 * backslash in one gets the backslash Prometheus wants, as in JSON.
 */

static u_char *
ngx_http_webhook_status_metric(u_char *p, char *name, char *type,
    ngx_str_t *zone, char *state, uint64_t value)
{
    if (type) {
        p = ngx_sprintf(p, "# TYPE webhook_%s %s\n", name, type);
    }

    p = ngx_sprintf(p, "webhook_%s{zone=\"", name);
    p = ngx_http_webhook_json_escape(p, zone);

    if (state) {
        p = ngx_sprintf(p, "\",state=\"%s", state);
    }

    return ngx_sprintf(p, "\"} %uL\n", value);
}
