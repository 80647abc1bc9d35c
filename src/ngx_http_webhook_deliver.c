
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_webhook_common.h"
#include "ngx_http_webhook_store.h"
#include "ngx_http_webhook_api.h"
#include "ngx_http_webhook_publish.h"
#include "ngx_http_webhook_deliver.h"
#include "ngx_http_webhook_sign.h"


/*
 * Delivery.
 *
 * Each worker runs, per webhook_deliver location, a scheduler: a cancelable
 * timer that claims due deliveries from the store while fewer than
 * webhook_concurrency are in flight.  A claimed delivery gets its own pool
 * holding everything it needs (the claim, its log, the fake connection's
 * http connection), waits for a slot of its target host if
 * webhook_host_concurrency are already in flight there, has its target
 * checked (resolved with the location's resolver, private addresses
 * refused), and is then sent as a background subrequest of a fake request
 * to the deliver location, where proxy does the work.  The subrequest's
 * post_subrequest handler only notes what happened and posts the teardown
 * event; the teardown waits until the fake request is back to its own
 * references, reports the outcome to the store and frees everything.
 *
 * The lease a delivery is claimed for covers a wait for a host slot of up
 * to attempt_timeout, the attempt itself (attempt_timeout) and a margin;
 * an attempt never runs past its lease (less a slack), so no other worker
 * sends the same attempt while this one may still be sending it.
 */


#define NGX_HTTP_WEBHOOK_DELIVER_LEASE_MARGIN  30000
#define NGX_HTTP_WEBHOOK_DELIVER_LEASE_SLACK   10000
#define NGX_HTTP_WEBHOOK_DELIVER_MIN_ATTEMPT   1000
#define NGX_HTTP_WEBHOOK_DELIVER_WAIT_MAX      1000
#define NGX_HTTP_WEBHOOK_DELIVER_POOL_SIZE     4096
#define NGX_HTTP_WEBHOOK_DELIVER_BODY_MAX      4096
#define NGX_HTTP_WEBHOOK_DELIVER_CONN_RESERVE  16
#define NGX_HTTP_WEBHOOK_DELIVER_JITTER        20
#define NGX_HTTP_WEBHOOK_DELIVER_RETRY_AFTER   (3600 * 1000)

#define NGX_HTTP_WEBHOOK_DELIVER_GONE          410

/* the fake request's own references: its creation's and the delivery's */
#define NGX_HTTP_WEBHOOK_DELIVER_COUNT         2

#define NGX_HTTP_WEBHOOK_DELIVER_USER_AGENT    "ngx_http_webhook_module/0.1"


/* a target host with deliveries in flight in this worker */
typedef struct {
    ngx_queue_t                        queue;     /* in sched->hosts */
    ngx_queue_t                        waiting;   /* deliveries, FIFO */
    ngx_uint_t                         active;
    ngx_uint_t                         nwaiting;
    ngx_str_t                          name;      /* lowercased */
} ngx_http_webhook_deliver_host_t;


/* a deliver location's scheduler, one per worker */
typedef struct {
    ngx_event_t                        event;
    ngx_log_t                          log;

    ngx_http_webhook_deliver_t        *deliver;
    ngx_http_webhook_loc_conf_t       *wlcf;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_webhook_retry_conf_t     *rcf;

    ngx_msec_t                         lease;
    ngx_uint_t                         concurrency;
    ngx_uint_t                         host_concurrency;  /* 0: no limit */

    ngx_uint_t                         active;    /* claimed, not closed */
    ngx_uint_t                         full;      /* hosts with a full
                                                     waiting queue */
    ngx_queue_t                        hosts;
    ngx_queue_t                        deliveries;  /* claimed: reachable
                                                       until closed */
} ngx_http_webhook_deliver_sched_t;


/* one attempt of one delivery: everything lives in its own pool */
typedef struct {
    ngx_pool_t                        *pool;
    ngx_http_webhook_deliver_sched_t  *sched;
    ngx_http_webhook_deliver_host_t   *host;
    ngx_queue_t                        queue;     /* in sched->deliveries */
    ngx_queue_t                        wait;      /* in host->waiting */

    ngx_http_webhook_claim_t           claim;
    ngx_http_webhook_url_t             url;

    ngx_str_t                          target_host;
    ngx_str_t                          upstream_url;
    ngx_str_t                          addr_text;
    ngx_str_t                          timestamp;
    ngx_str_t                          attempt;
    ngx_str_t                          body;      /* the response's first
                                                     bytes */
    ngx_sockaddr_t                     sockaddr;
    socklen_t                          socklen;

    ngx_msec_t                         claimed;
    ngx_msec_t                         start;
    ngx_uint_t                         error;     /* before the subrequest */
    ngx_uint_t                         status;    /* the receiver's */
    ngx_int_t                          rc;        /* what nginx made */

    ngx_resolver_ctx_t                *resolver;
    ngx_connection_t                  *connection;
    ngx_http_request_t                *request;
    ngx_http_request_t                *subrequest;

    ngx_event_t                        wake;      /* a host slot is free */
    ngx_event_t                        deadline;
    ngx_event_t                        teardown;

    ngx_log_t                          log;
    ngx_http_log_ctx_t                 log_ctx;
    ngx_http_connection_t              hc;
    ngx_http_post_subrequest_t         ps;

    ngx_http_webhook_deliver_sync_t   *sync;      /* mode=sync: not stored,
                                                     reported there */

    unsigned                           waiting:1;
    unsigned                           reported:1;
    unsigned                           timed_out:1;
    unsigned                           redirected:1;
    unsigned                           tls_failed:1;
    unsigned                           truncated:1;  /* body cut short */

    u_char                             timestamp_buf[NGX_TIME_T_LEN];
    u_char                             attempt_buf[NGX_INT_T_LEN];
} ngx_http_webhook_deliver_ctx_t;


static void ngx_http_webhook_deliver_handler(ngx_event_t *ev);
static void ngx_http_webhook_deliver_kick(
    ngx_http_webhook_deliver_sched_t *sched);
static void ngx_http_webhook_deliver_start(
    ngx_http_webhook_deliver_sched_t *sched,
    ngx_http_webhook_deliver_ctx_t *ctx, ngx_pool_t *pool);
static ngx_int_t ngx_http_webhook_deliver_target(
    ngx_http_webhook_deliver_ctx_t *ctx);
static void ngx_http_webhook_deliver_wake_handler(ngx_event_t *ev);
static void ngx_http_webhook_deliver_run(ngx_http_webhook_deliver_ctx_t *ctx);
static ngx_uint_t ngx_http_webhook_deliver_allowed(
    ngx_http_webhook_loc_conf_t *wlcf, struct sockaddr *sa);
static void ngx_http_webhook_deliver_resolve_handler(ngx_resolver_ctx_t *rctx);
static void ngx_http_webhook_deliver_send(ngx_http_webhook_deliver_ctx_t *ctx);
static ngx_int_t ngx_http_webhook_deliver_upstream_url(
    ngx_http_webhook_deliver_ctx_t *ctx);
static ngx_http_request_t *ngx_http_webhook_deliver_create_request(
    ngx_http_webhook_deliver_ctx_t *ctx);
static ngx_int_t ngx_http_webhook_deliver_header(ngx_http_request_t *r,
    ngx_str_t *key, ngx_str_t *value, ngx_table_elt_t **hp);
static ngx_int_t ngx_http_webhook_deliver_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static void ngx_http_webhook_deliver_deadline_handler(ngx_event_t *ev);
static void ngx_http_webhook_deliver_teardown_handler(ngx_event_t *ev);
static void ngx_http_webhook_deliver_fail(ngx_http_webhook_deliver_ctx_t *ctx,
    ngx_uint_t error);
static void ngx_http_webhook_deliver_report(
    ngx_http_webhook_deliver_ctx_t *ctx);
static void ngx_http_webhook_deliver_report_sync(
    ngx_http_webhook_deliver_ctx_t *ctx, ngx_http_webhook_outcome_t *o);
static ngx_int_t ngx_http_webhook_deliver_copy_claim(ngx_pool_t *pool,
    ngx_http_webhook_claim_t *dst, ngx_http_webhook_claim_t *src);
static ngx_http_webhook_deliver_sched_t *ngx_http_webhook_deliver_sched(
    ngx_cycle_t *cycle, ngx_http_webhook_store_t *store);
static void ngx_http_webhook_deliver_classify(
    ngx_http_webhook_deliver_ctx_t *ctx, ngx_http_webhook_outcome_t *o);
static ngx_msec_t ngx_http_webhook_deliver_retry_after(ngx_http_upstream_t *u,
    ngx_msec_t max);
static void ngx_http_webhook_deliver_close(ngx_http_webhook_deliver_ctx_t *ctx);
static void ngx_http_webhook_deliver_free_request(
    ngx_http_webhook_deliver_ctx_t *ctx);
static void ngx_http_webhook_deliver_log_drop(ngx_log_t *log,
    ngx_uint_t level, u_char *buf, size_t len);
static u_char *ngx_http_webhook_deliver_log_error(ngx_log_t *log, u_char *buf,
    size_t len);
static ngx_http_webhook_deliver_ctx_t *ngx_http_webhook_deliver_get_ctx(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_webhook_deliver_str_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_webhook_deliver_signature_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_webhook_deliver_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_str_t  ngx_http_webhook_deliver_post = ngx_string("POST");

static ngx_str_t  ngx_http_webhook_deliver_error_names[] = {
    ngx_string("none"),
    ngx_string("blocked_address"),
    ngx_string("connect_failed"),
    ngx_string("timeout"),
    ngx_string("tls_failed"),
    ngx_string("bad_status"),
    ngx_string("redirected"),
    ngx_string("disabled"),
    ngx_string("pending_limit")
};


static ngx_http_variable_t  ngx_http_webhook_deliver_vars[] = {

    { ngx_string("webhook_subscription_id"), NULL,
      ngx_http_webhook_deliver_str_variable,
      offsetof(ngx_http_webhook_deliver_ctx_t, claim.sub_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_target_url"), NULL,
      ngx_http_webhook_deliver_str_variable,
      offsetof(ngx_http_webhook_deliver_ctx_t, claim.target_url),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_target_host"), NULL,
      ngx_http_webhook_deliver_str_variable,
      offsetof(ngx_http_webhook_deliver_ctx_t, target_host),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_upstream_url"), NULL,
      ngx_http_webhook_deliver_str_variable,
      offsetof(ngx_http_webhook_deliver_ctx_t, upstream_url),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_secret"), NULL,
      ngx_http_webhook_deliver_str_variable,
      offsetof(ngx_http_webhook_deliver_ctx_t, claim.secret),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_token"), NULL,
      ngx_http_webhook_deliver_str_variable,
      offsetof(ngx_http_webhook_deliver_ctx_t, claim.token),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_payload"), NULL,
      ngx_http_webhook_deliver_str_variable,
      offsetof(ngx_http_webhook_deliver_ctx_t, claim.payload),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_timestamp"), NULL,
      ngx_http_webhook_deliver_str_variable,
      offsetof(ngx_http_webhook_deliver_ctx_t, timestamp),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_attempt"), NULL,
      ngx_http_webhook_deliver_str_variable,
      offsetof(ngx_http_webhook_deliver_ctx_t, attempt),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_signature"), NULL,
      ngx_http_webhook_deliver_signature_variable,
      NGX_HTTP_WEBHOOK_SIGN_STANDARD,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_signature_hex"), NULL,
      ngx_http_webhook_deliver_signature_variable,
      NGX_HTTP_WEBHOOK_SIGN_HEX,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_signature_github"), NULL,
      ngx_http_webhook_deliver_signature_variable,
      NGX_HTTP_WEBHOOK_SIGN_GITHUB,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_signature_stripe"), NULL,
      ngx_http_webhook_deliver_signature_variable,
      NGX_HTTP_WEBHOOK_SIGN_STRIPE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_signature_sha512"), NULL,
      ngx_http_webhook_deliver_signature_variable,
      NGX_HTTP_WEBHOOK_SIGN_SHA512,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_http_output_body_filter_pt  ngx_http_next_body_filter;


ngx_int_t
ngx_http_webhook_deliver_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_webhook_deliver_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_webhook_deliver_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_webhook_deliver_body_filter;

    return NGX_OK;
}


ngx_int_t
ngx_http_webhook_deliver_init(ngx_conf_t *cf, ngx_http_webhook_deliver_t *d)
{
    ngx_log_t                      *head;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_webhook_loc_conf_t    *wlcf;
    ngx_http_webhook_retry_conf_t  *rcf;

    wlcf = d->wlcf;

    rcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_webhook_retry_conf_t));
    if (rcf == NULL) {
        return NGX_ERROR;
    }

    rcf->delays = wlcf->retry;
    rcf->jitter = NGX_HTTP_WEBHOOK_DELIVER_JITTER;
    rcf->retry_after_max = NGX_HTTP_WEBHOOK_DELIVER_RETRY_AFTER;
    rcf->disable_after = wlcf->disable_after;
    rcf->failed_keep = wlcf->failed_keep;

    /*
     * the scheduler's, and what claim() needs to end the deliveries of a
     * disabled subscription
     */
    d->rcf = rcf;
    ngx_http_webhook_store_set_retry(d->store, rcf);

    /*
     * tls_failed is learned from the error a failed handshake logs, which
     * the log handler sees only if the level lets it through.  Below ERR,
     * a first logger that writes nothing lets it through; the configured
     * loggers after it still decide what is written.  Subrequests set
     * their connection's log from the location, so it goes there.
     */

    clcf = d->ctx->loc_conf[ngx_http_core_module.ctx_index];

    if (clcf->error_log->log_level < NGX_LOG_ERR) {
        head = ngx_pcalloc(cf->pool, sizeof(ngx_log_t));
        if (head == NULL) {
            return NGX_ERROR;
        }

        head->log_level = NGX_LOG_ERR;
        head->file = clcf->error_log->file;
        head->writer = ngx_http_webhook_deliver_log_drop;
        head->next = clcf->error_log;

        clcf->error_log = head;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_webhook_deliver_init_process(ngx_cycle_t *cycle,
    ngx_http_webhook_deliver_t *d)
{
    ngx_http_webhook_loc_conf_t       *wlcf;
    ngx_http_webhook_deliver_sched_t  *sched;

    sched = ngx_pcalloc(cycle->pool, sizeof(ngx_http_webhook_deliver_sched_t));
    if (sched == NULL) {
        return NGX_ERROR;
    }

    wlcf = d->wlcf;

    sched->deliver = d;
    sched->wlcf = wlcf;
    sched->clcf = d->ctx->loc_conf[ngx_http_core_module.ctx_index];

    sched->rcf = d->rcf;

    sched->concurrency = ngx_max(wlcf->concurrency, 1);
    sched->host_concurrency = wlcf->host_concurrency;
    sched->lease = 2 * wlcf->attempt_timeout
                   + NGX_HTTP_WEBHOOK_DELIVER_LEASE_MARGIN;

    ngx_queue_init(&sched->hosts);
    ngx_queue_init(&sched->deliveries);

    sched->log = *sched->clcf->error_log;

    sched->event.handler = ngx_http_webhook_deliver_handler;
    sched->event.data = sched;
    sched->event.log = &sched->log;
    sched->event.cancelable = 1;

    d->sched = sched;

    /* workers should not all reach for the zone's mutex at once */

    ngx_add_timer(&sched->event, 1 + ngx_random() % 100);

    return NGX_OK;
}


void
ngx_http_webhook_deliver_wake(ngx_cycle_t *cycle,
    ngx_http_webhook_store_t *store)
{
    ngx_uint_t                      i;
    ngx_http_webhook_deliver_t    **delivers;
    ngx_http_webhook_main_conf_t   *wmcf;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_webhook_module);
    if (wmcf == NULL) {
        return;
    }

    delivers = wmcf->delivers.elts;

    for (i = 0; i < wmcf->delivers.nelts; i++) {
        if (delivers[i]->store == store && delivers[i]->sched) {
            ngx_http_webhook_deliver_kick(delivers[i]->sched);
        }
    }
}


ngx_int_t
ngx_http_webhook_deliver_sync(ngx_http_webhook_store_t *store,
    ngx_http_webhook_claim_t *claim, ngx_http_webhook_deliver_sync_t *sync)
{
    ngx_pool_t                        *pool;
    ngx_http_webhook_deliver_ctx_t    *ctx;
    ngx_http_webhook_deliver_sched_t  *sched;

    sched = ngx_http_webhook_deliver_sched((ngx_cycle_t *) ngx_cycle, store);
    if (sched == NULL) {
        return NGX_DECLINED;
    }

    pool = ngx_create_pool(NGX_HTTP_WEBHOOK_DELIVER_POOL_SIZE, &sched->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    ctx = ngx_pcalloc(pool, sizeof(ngx_http_webhook_deliver_ctx_t));
    if (ctx == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    /* the delivery may outlive the publisher's request: its own copies */

    if (ngx_http_webhook_deliver_copy_claim(pool, &ctx->claim, claim)
        != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    ctx->sync = sync;

    ngx_http_webhook_deliver_start(sched, ctx, pool);

    return NGX_OK;
}


/* this process's scheduler of the webhook_deliver location of "store" */

static ngx_http_webhook_deliver_sched_t *
ngx_http_webhook_deliver_sched(ngx_cycle_t *cycle,
    ngx_http_webhook_store_t *store)
{
    ngx_uint_t                      i;
    ngx_http_webhook_deliver_t    **delivers;
    ngx_http_webhook_main_conf_t   *wmcf;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_webhook_module);
    if (wmcf == NULL) {
        return NULL;
    }

    delivers = wmcf->delivers.elts;

    for (i = 0; i < wmcf->delivers.nelts; i++) {
        if (delivers[i]->store == store && delivers[i]->sched) {
            return delivers[i]->sched;
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_webhook_deliver_copy_claim(ngx_pool_t *pool,
    ngx_http_webhook_claim_t *dst, ngx_http_webhook_claim_t *src)
{
    u_char      *p;
    ngx_str_t   *s[8 + NGX_HTTP_WEBHOOK_PREV_SECRETS];
    ngx_uint_t   i, n;

    *dst = *src;

    s[0] = &dst->event_id;
    s[1] = &dst->sub_id;
    s[2] = &dst->tenant;
    s[3] = &dst->action;
    s[4] = &dst->payload;
    s[5] = &dst->target_url;
    s[6] = &dst->secret;
    s[7] = &dst->token;

    n = 8;

    for (i = 0; i < dst->nprev && i < NGX_HTTP_WEBHOOK_PREV_SECRETS; i++) {
        s[n++] = &dst->prev_secret[i];
    }

    for (i = 0; i < n; i++) {
        if (s[i]->len == 0) {
            continue;
        }

        p = ngx_pstrdup(pool, s[i]);
        if (p == NULL) {
            return NGX_ERROR;
        }

        s[i]->data = p;
    }

    return NGX_OK;
}


static void
ngx_http_webhook_deliver_handler(ngx_event_t *ev)
{
    ngx_int_t                          rc;
    ngx_msec_t                         wait, next;
    ngx_pool_t                        *pool;
    ngx_http_webhook_deliver_ctx_t    *ctx;
    ngx_http_webhook_deliver_sched_t  *sched;

    sched = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    wait = NGX_HTTP_WEBHOOK_DELIVER_WAIT_MAX;

    /* a completion frees a slot and posts this handler again */

    while (sched->active < sched->concurrency && sched->full == 0) {

        /* each delivery needs two connections: keep some for clients */

        if (ngx_cycle->free_connection_n
            < NGX_HTTP_WEBHOOK_DELIVER_CONN_RESERVE)
        {
            break;
        }

        pool = ngx_create_pool(NGX_HTTP_WEBHOOK_DELIVER_POOL_SIZE,
                               &sched->log);
        if (pool == NULL) {
            break;
        }

        ctx = ngx_pcalloc(pool, sizeof(ngx_http_webhook_deliver_ctx_t));
        if (ctx == NULL) {
            ngx_destroy_pool(pool);
            break;
        }

        rc = ngx_http_webhook_store_claim(sched->deliver->store, sched->lease,
                                          pool, &ctx->claim, &next);

        if (rc != NGX_OK) {
            ngx_destroy_pool(pool);

            if (rc == NGX_DECLINED) {
                wait = ngx_min(wait, next);

            } else {
                ngx_log_error(NGX_LOG_ERR, &sched->log, 0,
                              "webhook delivery claim failed (%i)", rc);
            }

            break;
        }

        ngx_http_webhook_deliver_start(sched, ctx, pool);
    }

    if (!ev->timer_set) {
        ngx_add_timer(ev, wait);
    }
}


static void
ngx_http_webhook_deliver_kick(ngx_http_webhook_deliver_sched_t *sched)
{
    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (sched->event.timer_set) {
        ngx_del_timer(&sched->event);
    }

    ngx_post_event(&sched->event, &ngx_posted_events);
}


/*
 * A claimed delivery ("ctx" in its own "pool") joins the worker's
 * deliveries, with its own log, and asks for a slot of its host.
 */

static void
ngx_http_webhook_deliver_start(ngx_http_webhook_deliver_sched_t *sched,
    ngx_http_webhook_deliver_ctx_t *ctx, ngx_pool_t *pool)
{
    u_char                           *p;
    ngx_queue_t                      *q;
    ngx_http_webhook_deliver_host_t  *host;

    ctx->pool = pool;
    ctx->sched = sched;

    ctx->log = *sched->clcf->error_log;
    ctx->log.handler = ngx_http_webhook_deliver_log_error;
    ctx->log.data = &ctx->log_ctx;
    ctx->log.action = "delivering a webhook";

    pool->log = &ctx->log;

    sched->active++;
    ngx_queue_insert_tail(&sched->deliveries, &ctx->queue);

    ctx->claimed = ngx_current_msec;
    ctx->start = ngx_current_msec;

    ctx->attempt.data = ctx->attempt_buf;
    ctx->attempt.len = ngx_sprintf(ctx->attempt_buf, "%ui",
                                   ctx->claim.attempt)
                       - ctx->attempt_buf;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, &ctx->log, 0,
                   "webhook delivery claimed: event \"%V\", "
                   "subscription %V, attempt %ui",
                   &ctx->claim.event_id, &ctx->claim.sub_id,
                   ctx->claim.attempt);

    if (ngx_http_webhook_deliver_target(ctx) != NGX_OK) {
        ngx_http_webhook_deliver_fail(ctx, NGX_HTTP_WEBHOOK_ERR_CONNECT);
        return;
    }

    /* a slot of its host */

    for (q = ngx_queue_head(&sched->hosts);
         q != ngx_queue_sentinel(&sched->hosts);
         q = ngx_queue_next(q))
    {
        host = ngx_queue_data(q, ngx_http_webhook_deliver_host_t, queue);

        if (host->name.len == ctx->url.host.len
            && ngx_strncasecmp(host->name.data, ctx->url.host.data,
                               host->name.len)
               == 0)
        {
            goto found;
        }
    }

    host = ngx_alloc(sizeof(ngx_http_webhook_deliver_host_t)
                     + ctx->url.host.len, &ctx->log);
    if (host == NULL) {
        ngx_http_webhook_deliver_fail(ctx, NGX_HTTP_WEBHOOK_ERR_CONNECT);
        return;
    }

    p = (u_char *) host + sizeof(ngx_http_webhook_deliver_host_t);
    ngx_strlow(p, ctx->url.host.data, ctx->url.host.len);

    host->name.data = p;
    host->name.len = ctx->url.host.len;
    host->active = 0;
    host->nwaiting = 0;
    ngx_queue_init(&host->waiting);
    ngx_queue_insert_tail(&sched->hosts, &host->queue);

found:

    ctx->host = host;

    /* a publisher waits for a sync delivery: it takes a slot at once */

    if (sched->host_concurrency == 0
        || host->active < sched->host_concurrency
        || ctx->sync)
    {
        host->active++;
        ngx_http_webhook_deliver_run(ctx);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, &ctx->log, 0,
                   "webhook delivery waits for host \"%V\" (%ui active)",
                   &host->name, host->active);

    ctx->waiting = 1;
    ngx_queue_insert_tail(&host->waiting, &ctx->wait);

    /* a full queue stops claims until one of them starts */

    if (++host->nwaiting == sched->host_concurrency) {
        sched->full++;
    }
}


/* takes the registered URL apart: its host for Host and SNI */

static ngx_int_t
ngx_http_webhook_deliver_target(ngx_http_webhook_deliver_ctx_t *ctx)
{
    char        *err;
    u_char      *p;
    size_t       len;
    ngx_uint_t   ipv6, port;

    err = ngx_http_webhook_url_parse(&ctx->claim.target_url, &ctx->url);

    if (err == NULL && ctx->url.scheme_bit == 0) {
        err = "has a scheme delivery does not support";
    }

    if (err) {
        ngx_log_error(NGX_LOG_INFO, &ctx->log, 0,
                      "webhook target url of subscription %V %s",
                      &ctx->claim.sub_id, err);
        return NGX_ERROR;
    }

    ipv6 = (ctx->url.socklen
            && ctx->url.sockaddr.sockaddr.sa_family == AF_INET6);

    port = (ctx->url.scheme_bit == NGX_HTTP_WEBHOOK_SCHEME_HTTPS) ? 443 : 80;
    port = (ctx->url.port != port);

    len = ctx->url.host.len + (ipv6 ? 2 : 0) + (port ? 6 : 0);

    p = ngx_pnalloc(ctx->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->target_host.data = p;

    if (ipv6) {
        *p++ = '[';
        p = ngx_cpymem(p, ctx->url.host.data, ctx->url.host.len);
        *p++ = ']';

    } else {
        p = ngx_cpymem(p, ctx->url.host.data, ctx->url.host.len);
    }

    if (port) {
        p = ngx_sprintf(p, ":%ui", (ngx_uint_t) ctx->url.port);
    }

    ctx->target_host.len = p - ctx->target_host.data;

    return NGX_OK;
}


static void
ngx_http_webhook_deliver_wake_handler(ngx_event_t *ev)
{
    ngx_http_webhook_deliver_ctx_t  *ctx;

    ctx = ev->data;

    ngx_http_webhook_deliver_run(ctx);
}


static void
ngx_http_webhook_deliver_run(ngx_http_webhook_deliver_ctx_t *ctx)
{
    ngx_msec_t                         timeout, elapsed;
    ngx_resolver_ctx_t                *rctx;
    ngx_http_webhook_deliver_sched_t  *sched;

    sched = ctx->sched;

    ctx->start = ngx_current_msec;

    ctx->timestamp.data = ctx->timestamp_buf;
    ctx->timestamp.len = ngx_sprintf(ctx->timestamp_buf, "%T", ngx_time())
                         - ctx->timestamp_buf;

    /* the attempt must end before its lease does */

    elapsed = ngx_current_msec - ctx->claimed;
    timeout = sched->wlcf->attempt_timeout;

    if (elapsed + NGX_HTTP_WEBHOOK_DELIVER_LEASE_SLACK
        + NGX_HTTP_WEBHOOK_DELIVER_MIN_ATTEMPT > sched->lease)
    {
        ngx_log_error(NGX_LOG_ERR, &ctx->log, 0,
                      "webhook delivery waited %M ms for a slot of its host, "
                      "too long to be attempted within its lease", elapsed);
        ngx_http_webhook_deliver_fail(ctx, NGX_HTTP_WEBHOOK_ERR_TIMEOUT);
        return;
    }

    timeout = ngx_min(timeout, sched->lease - elapsed
                               - NGX_HTTP_WEBHOOK_DELIVER_LEASE_SLACK);

    if (ctx->sync && ctx->sync->timeout) {
        timeout = ngx_min(timeout, ctx->sync->timeout);
    }

    /* not cancelable: a graceful shutdown waits for the attempt */

    ctx->deadline.handler = ngx_http_webhook_deliver_deadline_handler;
    ctx->deadline.data = ctx;
    ctx->deadline.log = &ctx->log;

    ngx_add_timer(&ctx->deadline, timeout);

    if (ctx->url.socklen) {

        if (!ngx_http_webhook_deliver_allowed(sched->wlcf,
                                              &ctx->url.sockaddr.sockaddr))
        {
            ngx_http_webhook_deliver_fail(ctx, NGX_HTTP_WEBHOOK_ERR_BLOCKED);
            return;
        }

        ngx_memcpy(&ctx->sockaddr, &ctx->url.sockaddr, ctx->url.socklen);
        ctx->socklen = ctx->url.socklen;

        ngx_http_webhook_deliver_send(ctx);
        return;
    }

    /* a name: resolved here, so that the address checked is the one used */

    rctx = ngx_resolve_start(sched->clcf->resolver, NULL);

    if (rctx == NULL) {
        ngx_http_webhook_deliver_fail(ctx, NGX_HTTP_WEBHOOK_ERR_CONNECT);
        return;
    }

    if (rctx == NGX_NO_RESOLVER) {
        ngx_log_error(NGX_LOG_ERR, &ctx->log, 0,
                      "no resolver defined to resolve %V", &ctx->url.host);
        ngx_http_webhook_deliver_fail(ctx, NGX_HTTP_WEBHOOK_ERR_CONNECT);
        return;
    }

    rctx->name = ctx->url.host;
    rctx->handler = ngx_http_webhook_deliver_resolve_handler;
    rctx->data = ctx;
    rctx->timeout = sched->clcf->resolver_timeout;

    ctx->log.action = "resolving the webhook target";
    ctx->resolver = rctx;

    /* the handler may run, and the delivery end, before this returns */

    if (ngx_resolve_name(rctx) != NGX_OK) {
        ctx->resolver = NULL;
        ngx_http_webhook_deliver_fail(ctx, NGX_HTTP_WEBHOOK_ERR_CONNECT);
    }
}


static ngx_uint_t
ngx_http_webhook_deliver_allowed(ngx_http_webhook_loc_conf_t *wlcf,
    struct sockaddr *sa)
{
    if (wlcf->allow_private == 1) {
        return 1;
    }

    return !ngx_http_webhook_addr_blocked(sa, wlcf->private_cidrs);
}


static void
ngx_http_webhook_deliver_resolve_handler(ngx_resolver_ctx_t *rctx)
{
    ngx_uint_t                       i, found;
    ngx_http_webhook_deliver_ctx_t  *ctx;

    ctx = rctx->data;
    ctx->log.action = "delivering a webhook";

    if (rctx->state) {
        ngx_log_error(NGX_LOG_INFO, &ctx->log, 0,
                      "webhook target \"%V\" could not be resolved "
                      "(%i: %s)", &rctx->name, rctx->state,
                      ngx_resolver_strerror(rctx->state));

        ngx_resolve_name_done(rctx);
        ctx->resolver = NULL;

        ngx_http_webhook_deliver_fail(ctx, NGX_HTTP_WEBHOOK_ERR_CONNECT);
        return;
    }

    /* the first address allowed; none allowed: not contacted at all */

    found = 0;

    for (i = 0; i < rctx->naddrs; i++) {

        if (rctx->addrs[i].socklen > sizeof(ngx_sockaddr_t)
            || !ngx_http_webhook_deliver_allowed(ctx->sched->wlcf,
                                                 rctx->addrs[i].sockaddr))
        {
            continue;
        }

        ngx_memcpy(&ctx->sockaddr, rctx->addrs[i].sockaddr,
                   rctx->addrs[i].socklen);
        ctx->socklen = rctx->addrs[i].socklen;

        ngx_inet_set_port(&ctx->sockaddr.sockaddr, ctx->url.port);

        found = 1;
        break;
    }

    ngx_resolve_name_done(rctx);
    ctx->resolver = NULL;

    if (!found) {
        ngx_http_webhook_deliver_fail(ctx, NGX_HTTP_WEBHOOK_ERR_BLOCKED);
        return;
    }

    ngx_http_webhook_deliver_send(ctx);
}


static void
ngx_http_webhook_deliver_send(ngx_http_webhook_deliver_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_http_request_t  *r, *sr;

    if (ngx_http_webhook_deliver_upstream_url(ctx) != NGX_OK) {
        ngx_http_webhook_deliver_fail(ctx, NGX_HTTP_WEBHOOK_ERR_CONNECT);
        return;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, &ctx->log, 0,
                   "webhook delivery to \"%V\" via \"%V\" (host \"%V\")",
                   &ctx->claim.target_url, &ctx->upstream_url,
                   &ctx->target_host);

    r = ngx_http_webhook_deliver_create_request(ctx);

    if (r == NULL) {
        ngx_http_webhook_deliver_fail(ctx, NGX_HTTP_WEBHOOK_ERR_CONNECT);
        return;
    }

    ctx->ps.handler = ngx_http_webhook_deliver_done;
    ctx->ps.data = ctx;

    ctx->teardown.handler = ngx_http_webhook_deliver_teardown_handler;
    ctx->teardown.data = ctx;
    ctx->teardown.log = &ctx->log;

    rc = ngx_http_subrequest(r, &ctx->sched->deliver->uri, NULL, &sr,
                             &ctx->ps, NGX_HTTP_SUBREQUEST_BACKGROUND);

    if (rc != NGX_OK) {
        ngx_http_webhook_deliver_free_request(ctx);
        ngx_http_webhook_deliver_fail(ctx, NGX_HTTP_WEBHOOK_ERR_CONNECT);
        return;
    }

    /* ngx_http_subrequest() makes every subrequest a GET */

    sr->method = NGX_HTTP_POST;
    sr->method_name = ngx_http_webhook_deliver_post;

    ctx->subrequest = sr;

    ngx_http_run_posted_requests(ctx->connection);
}


/* the registered URL with its host replaced by the address checked */

static ngx_int_t
ngx_http_webhook_deliver_upstream_url(ngx_http_webhook_deliver_ctx_t *ctx)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   ipv6, port;
    u_char       text[NGX_SOCKADDR_STRLEN];

    len = ngx_sock_ntop(&ctx->sockaddr.sockaddr, ctx->socklen, text,
                        NGX_SOCKADDR_STRLEN, 0);

    if (len == 0) {
        return NGX_ERROR;
    }

    ipv6 = (ctx->sockaddr.sockaddr.sa_family != AF_INET);

    port = (ctx->url.scheme_bit == NGX_HTTP_WEBHOOK_SCHEME_HTTPS) ? 443 : 80;
    port = (ctx->url.port != port);

    p = ngx_pnalloc(ctx->pool, len + 2 + 6);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->addr_text.data = p;

    if (ipv6) {
        *p++ = '[';
        p = ngx_cpymem(p, text, len);
        *p++ = ']';

    } else {
        p = ngx_cpymem(p, text, len);
    }

    if (port) {
        p = ngx_sprintf(p, ":%ui", (ngx_uint_t) ctx->url.port);
    }

    ctx->addr_text.len = p - ctx->addr_text.data;

    /* proxy_pass sends a URL's own path; one without sends the location's */

    len = ctx->url.scheme.len + sizeof("://") - 1 + ctx->addr_text.len
          + 1 + ctx->url.path.len;

    p = ngx_pnalloc(ctx->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->upstream_url.data = p;

    p = ngx_cpymem(p, ctx->url.scheme.data, ctx->url.scheme.len);
    p = ngx_cpymem(p, "://", sizeof("://") - 1);
    p = ngx_cpymem(p, ctx->addr_text.data, ctx->addr_text.len);

    if (ctx->url.path.len == 0 || ctx->url.path.data[0] != '/') {
        *p++ = '/';
    }

    p = ngx_cpymem(p, ctx->url.path.data, ctx->url.path.len);

    ctx->upstream_url.len = p - ctx->upstream_url.data;

    return NGX_OK;
}


/*
 * A fake connection and request, as njs's js_periodic makes them; see
 * NGINX-NOTES.md for why each field below is set.
 */

static ngx_http_request_t *
ngx_http_webhook_deliver_create_request(ngx_http_webhook_deliver_ctx_t *ctx)
{
    u_char                   *p;
    ngx_buf_t                *b;
    ngx_str_t                 key, value;
    ngx_chain_t              *cl;
    ngx_connection_t         *c;
    ngx_http_request_t       *r;
    ngx_http_request_body_t  *rb;

    static ngx_str_t          addr_text = ngx_string("127.0.0.1");
    static struct sockaddr_in sin;

    c = ngx_get_connection((ngx_socket_t) -1, &ctx->log);
    if (c == NULL) {
        return NULL;
    }

    c->log = &ctx->log;
    c->read->log = &ctx->log;
    c->write->log = &ctx->log;

    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);
    ctx->log.connection = c->number;

    /*
     * Nothing to add to epoll: the connection is always writable, and
     * never readable (upstream would add the read event to check for a
     * broken client connection).
     */

    c->read->active = 1;
    c->write->active = 1;
    c->write->ready = 1;

    c->tcp_nodelay = NGX_TCP_NODELAY_DISABLED;
    c->tcp_nopush = NGX_TCP_NOPUSH_DISABLED;

    /* the delivery comes from nginx itself */

    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    c->sockaddr = (struct sockaddr *) &sin;
    c->socklen = sizeof(struct sockaddr_in);
    c->local_sockaddr = (struct sockaddr *) &sin;
    c->local_socklen = sizeof(struct sockaddr_in);
    c->addr_text = addr_text;

    ctx->hc.conf_ctx = ctx->sched->deliver->ctx;

    ctx->log_ctx.connection = c;
    ctx->log_ctx.request = NULL;
    ctx->log_ctx.current_request = NULL;

    c->data = &ctx->hc;

    r = ngx_http_create_request(c);

    if (r == NULL) {
        ngx_free_connection(c);
        c->fd = (ngx_socket_t) -1;
        c->destroyed = 1;
        return NULL;
    }

    c->data = r;
    c->pool = r->pool;

    ctx->connection = c;
    ctx->request = r;

    /* the delivery's reference: teardown waits until only these are left */

    r->count++;

    ngx_http_set_ctx(r, ctx, ngx_http_webhook_module);

    r->method = NGX_HTTP_POST;
    r->method_name = ngx_http_webhook_deliver_post;
    r->http_version = NGX_HTTP_VERSION_11;
    ngx_str_set(&r->http_protocol, "HTTP/1.1");

    r->uri = ctx->sched->deliver->uri;
    r->unparsed_uri = r->uri;
    r->valid_unparsed_uri = 1;

    p = ngx_pnalloc(r->pool, sizeof("POST  HTTP/1.1") - 1 + r->uri.len);
    if (p == NULL) {
        goto failed;
    }

    r->request_line.data = p;
    p = ngx_cpymem(p, "POST ", sizeof("POST ") - 1);
    p = ngx_cpymem(p, r->uri.data, r->uri.len);
    p = ngx_cpymem(p, " HTTP/1.1", sizeof(" HTTP/1.1") - 1);
    r->request_line.len = p - r->request_line.data;

    /* the subrequest copies headers_in, and proxy passes them on */

    if (ngx_list_init(&r->headers_in.headers, r->pool, 4,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        goto failed;
    }

    ngx_str_set(&key, "Content-Type");
    ngx_str_set(&value, "application/json");

    if (ngx_http_webhook_deliver_header(r, &key, &value,
                                        &r->headers_in.content_type)
        != NGX_OK)
    {
        goto failed;
    }

    ngx_str_set(&key, "User-Agent");
    ngx_str_set(&value, NGX_HTTP_WEBHOOK_DELIVER_USER_AGENT);

    if (ngx_http_webhook_deliver_header(r, &key, &value,
                                        &r->headers_in.user_agent)
        != NGX_OK)
    {
        goto failed;
    }

    r->headers_in.content_length_n = ctx->claim.payload.len;

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        goto failed;
    }

    /* an empty buffer would be a "zero size buf" to the output chain */

    if (ctx->claim.payload.len) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            goto failed;
        }

        b->start = ctx->claim.payload.data;
        b->pos = b->start;
        b->last = b->start + ctx->claim.payload.len;
        b->end = b->last;
        b->memory = 1;
        b->last_buf = 1;

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            goto failed;
        }

        cl->buf = b;
        cl->next = NULL;

        rb->bufs = cl;
    }

    r->request_body = rb;

    return r;

failed:

    ngx_http_webhook_deliver_free_request(ctx);

    return NULL;
}


static ngx_int_t
ngx_http_webhook_deliver_header(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value, ngx_table_elt_t **hp)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key = *key;
    h->value = *value;

    h->lowcase_key = ngx_pnalloc(r->pool, key->len);
    if (h->lowcase_key == NULL) {
        h->hash = 0;
        return NGX_ERROR;
    }

    ngx_strlow(h->lowcase_key, key->data, key->len);

    /* as the request parser hashes it: proxy_set_header may replace it */

    h->hash = ngx_hash_key(h->lowcase_key, key->len);

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    *hp = h;

    return NGX_OK;
}


/*
 * post_subrequest: it runs more than once for statuses nginx makes itself
 * (first with rc 502, then again with rc 0 once the error page is out),
 * so it only notes what it sees and posts the teardown.
 */

static ngx_int_t
ngx_http_webhook_deliver_done(ngx_http_request_t *r, void *data, ngx_int_t rc)
{
    ngx_http_webhook_deliver_ctx_t *ctx = data;

    ngx_http_upstream_t  *u;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "webhook delivery subrequest done rc:%i status:%ui "
                   "count:%ui", rc, r->headers_out.status,
                   (ngx_uint_t) r->main->count);

    u = r->upstream;

    /* the receiver's status, once its header was taken in whole */

    if (u && u->header_sent && u->headers_in.status_n) {
        ctx->status = u->headers_in.status_n;
    }

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ctx->rc = rc;

    } else if (ctx->rc == 0) {
        ctx->rc = r->headers_out.status;
    }

    /* X-Accel-Redirect, error_page, rewrite ... last: not what was sent */

    if (r->uri_changes != NGX_HTTP_MAX_URI_CHANGES + 1
        || r->uri.len != ctx->sched->deliver->uri.len
        || ngx_strncmp(r->uri.data, ctx->sched->deliver->uri.data,
                       r->uri.len)
           != 0)
    {
        ctx->redirected = 1;
    }

    ngx_post_event(&ctx->teardown, &ngx_posted_events);

    return rc;
}


static void
ngx_http_webhook_deliver_deadline_handler(ngx_event_t *ev)
{
    ngx_connection_t                *pc;
    ngx_http_upstream_t             *u;
    ngx_http_webhook_deliver_ctx_t  *ctx;

    ctx = ev->data;

    if (ctx->request && ctx->request->count <= NGX_HTTP_WEBHOOK_DELIVER_COUNT) {
        /* the subrequest is over, its teardown is posted */
        return;
    }

    ngx_log_error(NGX_LOG_INFO, &ctx->log, 0,
                  "webhook delivery attempt timed out after %M ms",
                  ngx_current_msec - ctx->start);

    if (ctx->request == NULL) {
        /* still resolving: closing cancels it */
        ngx_http_webhook_deliver_fail(ctx, NGX_HTTP_WEBHOOK_ERR_TIMEOUT);
        return;
    }

    /*
     * Recorded now, within the lease.  Then the upstream is stopped the
     * way its own timeouts stop it: its events time out, and proxy ends
     * the subrequest with 504 (the teardown follows).  A subrequest not
     * waiting on its upstream (limit_req delay, a redirect ...) ends
     * within the proxy timeouts; its result is ignored.
     */

    ctx->timed_out = 1;
    ngx_http_webhook_deliver_report(ctx);

    u = ctx->subrequest->upstream;

    if (u == NULL || u->peer.connection == NULL) {
        return;
    }

    pc = u->peer.connection;

    pc->read->timedout = 1;
    pc->write->timedout = 1;

    ngx_post_event(pc->read, &ngx_posted_events);
}


static void
ngx_http_webhook_deliver_teardown_handler(ngx_event_t *ev)
{
    ngx_http_request_t              *r;
    ngx_http_webhook_deliver_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, &ctx->log, 0,
                   "webhook delivery teardown count:%ui blk:%ui",
                   (ngx_uint_t) r->count, (ngx_uint_t) r->blocked);

    /* the subrequest is not over: its next post_subrequest posts again */

    if (r->count > NGX_HTTP_WEBHOOK_DELIVER_COUNT || r->blocked) {
        return;
    }

    ngx_http_webhook_deliver_report(ctx);
    ngx_http_webhook_deliver_close(ctx);
}


static void
ngx_http_webhook_deliver_fail(ngx_http_webhook_deliver_ctx_t *ctx,
    ngx_uint_t error)
{
    ctx->error = error;

    ngx_http_webhook_deliver_report(ctx);
    ngx_http_webhook_deliver_close(ctx);
}


static void
ngx_http_webhook_deliver_report(ngx_http_webhook_deliver_ctx_t *ctx)
{
    ngx_int_t                          rc;
    ngx_uint_t                         level;
    ngx_http_webhook_outcome_t         o;
    ngx_http_webhook_deliver_sched_t  *sched;

    if (ctx->reported) {
        return;
    }

    ctx->reported = 1;
    sched = ctx->sched;

    ngx_memzero(&o, sizeof(ngx_http_webhook_outcome_t));

    o.delivery = ctx->claim.delivery;
    o.attempt = ctx->claim.attempt;
    o.duration = ngx_current_msec - ctx->start;

    if (ctx->error == NGX_HTTP_WEBHOOK_ERR_NONE && ctx->subrequest) {
        ngx_http_webhook_deliver_classify(ctx, &o);

    } else {
        o.error = ctx->error;
    }

    /* what a subscriber caused: info; a success: debug */

    level = o.success ? NGX_LOG_DEBUG : NGX_LOG_INFO;

    ngx_log_error(level, &ctx->log, 0,
                  "webhook %sdelivery %s: status %ui, error %V, %M ms",
                  ctx->sync ? "sync " : "",
                  o.success ? "succeeded" : "failed", o.status,
                  &ngx_http_webhook_deliver_error_names[o.error],
                  o.duration);

    if (ctx->sync) {
        ngx_http_webhook_deliver_report_sync(ctx, &o);
        return;
    }

    rc = ngx_http_webhook_store_complete(sched->deliver->store, &o,
                                         sched->rcf, &ctx->log);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, &ctx->log, 0,
                      "webhook delivery outcome not recorded: the delivery "
                      "was deleted or its lease ended");

    } else if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, &ctx->log, 0,
                      "webhook delivery outcome not recorded (%i)", rc);
    }
}


/*
 * A sync delivery's outcome goes to the publisher waiting for it, not to
 * the store.  A timed out attempt is a timeout even if the receiver's
 * status line had come.
 */

static void
ngx_http_webhook_deliver_report_sync(ngx_http_webhook_deliver_ctx_t *ctx,
    ngx_http_webhook_outcome_t *o)
{
    ngx_http_upstream_t              *u;
    ngx_http_webhook_deliver_sync_t  *sync;

    sync = ctx->sync;
    ctx->sync = NULL;

    sync->status = o->status;
    sync->error = o->error;
    sync->success = o->success;
    sync->truncated = ctx->truncated;

    if (ctx->timed_out) {
        sync->error = NGX_HTTP_WEBHOOK_ERR_TIMEOUT;
        sync->success = 0;

        /* the status, if the receiver's header had come in whole */

        u = ctx->subrequest ? ctx->subrequest->upstream : NULL;

        if (sync->status == 0 && u && u->header_sent) {
            sync->status = u->headers_in.status_n;
        }
    }

    if (ctx->body.len) {
        sync->body.data = ngx_pnalloc(sync->pool, ctx->body.len);

        if (sync->body.data == NULL) {
            sync->error = NGX_HTTP_WEBHOOK_ERR_CONNECT;
            sync->success = 0;

        } else {
            ngx_memcpy(sync->body.data, ctx->body.data, ctx->body.len);
            sync->body.len = ctx->body.len;
        }
    }

    ngx_post_event(&sync->event, &ngx_posted_events);
}


static void
ngx_http_webhook_deliver_classify(ngx_http_webhook_deliver_ctx_t *ctx,
    ngx_http_webhook_outcome_t *o)
{
    ngx_uint_t            status;
    ngx_http_upstream_t  *u;

    u = ctx->subrequest->upstream;
    status = ctx->status;

    /* whatever answered after a redirect is not the receiver */

    if (ctx->redirected) {
        o->error = NGX_HTTP_WEBHOOK_ERR_REDIRECTED;
        return;
    }

    if (status) {
        o->status = status;

        if (status < 600 && ctx->sched->wlcf->success[status]) {
            o->success = 1;
            return;
        }

        o->error = NGX_HTTP_WEBHOOK_ERR_BAD_STATUS;

        if (status == NGX_HTTP_WEBHOOK_DELIVER_GONE) {
            o->gone = 1;

        } else if ((status == NGX_HTTP_TOO_MANY_REQUESTS
                    || status == NGX_HTTP_SERVICE_UNAVAILABLE)
                   && u)
        {
            o->retry_after = ngx_http_webhook_deliver_retry_after(u,
                                           ctx->sched->rcf->retry_after_max);
        }

        return;
    }

    /* no response from the receiver: nginx made the status */

    if (ctx->timed_out || ctx->rc == NGX_HTTP_GATEWAY_TIME_OUT) {
        o->error = NGX_HTTP_WEBHOOK_ERR_TIMEOUT;

    } else if (ctx->tls_failed) {
        o->error = NGX_HTTP_WEBHOOK_ERR_TLS;

    } else {
        o->error = NGX_HTTP_WEBHOOK_ERR_CONNECT;
    }
}


/* Retry-After: delay-seconds or an HTTP-date */

static ngx_msec_t
ngx_http_webhook_deliver_retry_after(ngx_http_upstream_t *u, ngx_msec_t max)
{
    time_t            t, now;
    ngx_int_t         n;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &u->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0
            || h[i].key.len != sizeof("Retry-After") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Retry-After",
                               sizeof("Retry-After") - 1)
               != 0)
        {
            continue;
        }

        if (h[i].value.len == 0) {
            return 0;
        }

        if (h[i].value.data[0] >= '0' && h[i].value.data[0] <= '9') {
            n = ngx_atoi(h[i].value.data, h[i].value.len);

            if (n == NGX_ERROR || (ngx_msec_t) n > max / 1000) {
                return (n == NGX_ERROR) ? 0 : max;
            }

            return (ngx_msec_t) n * 1000;
        }

        t = ngx_parse_http_time(h[i].value.data, h[i].value.len);
        now = ngx_time();

        if (t == NGX_ERROR || t <= now) {
            return 0;
        }

        if ((ngx_msec_t) (t - now) > max / 1000) {
            return max;
        }

        return (ngx_msec_t) (t - now) * 1000;
    }
}


static void
ngx_http_webhook_deliver_close(ngx_http_webhook_deliver_ctx_t *ctx)
{
    ngx_queue_t                       *q;
    ngx_http_webhook_deliver_ctx_t    *next;
    ngx_http_webhook_deliver_host_t   *host;
    ngx_http_webhook_deliver_sched_t  *sched;

    sched = ctx->sched;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, &ctx->log, 0,
                   "webhook delivery close");

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    if (ctx->teardown.posted) {
        ngx_delete_posted_event(&ctx->teardown);
    }

    if (ctx->wake.posted) {
        ngx_delete_posted_event(&ctx->wake);
    }

    if (ctx->resolver) {
        ngx_resolve_name_done(ctx->resolver);
        ctx->resolver = NULL;
    }

    if (ctx->request) {
        ngx_http_webhook_deliver_free_request(ctx);
    }

    /* its host slot goes to the next one waiting, started from an event */

    host = ctx->host;

    if (host) {

        if (ctx->waiting) {
            ngx_queue_remove(&ctx->wait);

            if (host->nwaiting-- == sched->host_concurrency) {
                sched->full--;
            }

        } else {
            host->active--;
        }

        if (host->nwaiting && host->active < sched->host_concurrency) {
            q = ngx_queue_head(&host->waiting);
            ngx_queue_remove(q);

            if (host->nwaiting-- == sched->host_concurrency) {
                sched->full--;
            }

            host->active++;

            next = ngx_queue_data(q, ngx_http_webhook_deliver_ctx_t, wait);
            next->waiting = 0;

            next->wake.handler = ngx_http_webhook_deliver_wake_handler;
            next->wake.data = next;
            next->wake.log = &next->log;

            ngx_post_event(&next->wake, &ngx_posted_events);

        } else if (host->active == 0 && host->nwaiting == 0) {
            ngx_queue_remove(&host->queue);
            ngx_free(host);
        }
    }

    ngx_queue_remove(&ctx->queue);
    sched->active--;

    ngx_destroy_pool(ctx->pool);

    ngx_http_webhook_deliver_kick(sched);
}


static void
ngx_http_webhook_deliver_free_request(ngx_http_webhook_deliver_ctx_t *ctx)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = ctx->connection;

    ctx->request = NULL;
    ctx->connection = NULL;

    /* not ngx_http_close_request(): the connection has no socket to close */

    r->logged = 1;
    ngx_http_free_request(r, 0);

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);

    c->fd = (ngx_socket_t) -1;
    c->pool = NULL;
    c->destroyed = 1;
}


/*
 * The fake connection's log handler: core's expects a listening socket.
 * It also tells a TLS failure: the error logged while proxy handshakes.
 */

static void
ngx_http_webhook_deliver_log_drop(ngx_log_t *log, ngx_uint_t level,
    u_char *buf, size_t len)
{
    /* see ngx_http_webhook_deliver_init() */
}


static u_char *
ngx_http_webhook_deliver_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char                          *p;
    ngx_http_request_t              *r;
    ngx_http_webhook_deliver_ctx_t  *ctx;

    ctx = (ngx_http_webhook_deliver_ctx_t *)
              ((u_char *) log->data
               - offsetof(ngx_http_webhook_deliver_ctx_t, log_ctx));

    p = buf;

    if (log->action) {

        if (ngx_strncmp(log->action, "SSL handshaking",
                        sizeof("SSL handshaking") - 1)
            == 0)
        {
            ctx->tls_failed = 1;
        }

        p = ngx_snprintf(buf, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    p = ngx_snprintf(buf, len, ", webhook event: \"%V\", subscription: %V, "
                     "attempt: %ui", &ctx->claim.event_id,
                     &ctx->claim.sub_id, ctx->claim.attempt);
    len -= p - buf;
    buf = p;

    if (ctx->addr_text.len) {
        p = ngx_snprintf(buf, len, ", target: %V", &ctx->addr_text);
        len -= p - buf;
        buf = p;
    }

    r = ctx->log_ctx.request;

    if (r && r->log_handler) {
        return r->log_handler(r, ctx->log_ctx.current_request, buf, len);
    }

    return buf;
}


/* the delivery a request belongs to: its main request is the fake one */

static ngx_http_webhook_deliver_ctx_t *
ngx_http_webhook_deliver_get_ctx(ngx_http_request_t *r)
{
    if (r->connection->log->handler != ngx_http_webhook_deliver_log_error) {
        return NULL;
    }

    return ngx_http_get_module_ctx(r->main, ngx_http_webhook_module);
}


static ngx_int_t
ngx_http_webhook_deliver_str_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                       *s;
    ngx_http_webhook_deliver_ctx_t  *ctx;

    ctx = ngx_http_webhook_deliver_get_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((u_char *) ctx + data);

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}


/*
 * A signature over exactly what the attempt sends: the claimed payload,
 * with the timestamp ngx_http_webhook_deliver_run() fixed for the attempt
 * (the one $webhook_timestamp shows).  A secret that does not decode
 * yields an empty value; it is never logged.
 */

static ngx_int_t
ngx_http_webhook_deliver_signature_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                          *p;
    size_t                           len;
    ssize_t                          n, m;
    ngx_uint_t                       i, nprev;
    ngx_http_webhook_sign_data_t     d;
    ngx_http_webhook_deliver_ctx_t  *ctx;

    ctx = ngx_http_webhook_deliver_get_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    d.id = ctx->claim.event_id;
    d.timestamp = ctx->timestamp;
    d.url = ctx->claim.target_url;
    d.payload = ctx->claim.payload;

    len = ngx_http_webhook_sign_len(data, &d);

    /*
     * During a rotation the Standard Webhooks signature carries one entry
     * per live secret, newest first; the single-value schemes use the
     * newest.
     */

    nprev = (data == NGX_HTTP_WEBHOOK_SIGN_STANDARD) ? ctx->claim.nprev : 0;

    p = ngx_pnalloc(r->pool, (len + 1) * (nprev + 1));
    if (p == NULL) {
        return NGX_ERROR;
    }

    n = ngx_http_webhook_sign(data, &ctx->claim.secret, &d, p);

    for (i = 0; i < nprev && n != NGX_ERROR; i++) {
        p[n] = ' ';

        m = ngx_http_webhook_sign(data, &ctx->claim.prev_secret[i], &d,
                                  p + n + 1);
        if (m != NGX_ERROR) {
            n += 1 + m;
        }
    }

    if (n == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      data == NGX_HTTP_WEBHOOK_SIGN_STANDARD
                      ? "webhook secret of subscription \"%V\" does not "
                        "decode as a standard webhooks key"
                      : "webhook signing for subscription \"%V\" failed",
                      &ctx->claim.sub_id);
        n = 0;
    }

    v->len = n;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


ngx_int_t
ngx_http_webhook_deliver_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                       *s;
    ngx_http_webhook_deliver_ctx_t  *ctx;

    ctx = ngx_http_webhook_deliver_get_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_WEBHOOK_VAR_ACTION:
        s = &ctx->claim.action;
        break;

    case NGX_HTTP_WEBHOOK_VAR_TENANT:
        s = &ctx->claim.tenant;
        break;

    case NGX_HTTP_WEBHOOK_VAR_EVENT_ID:
        s = &ctx->claim.event_id;
        break;

    default:
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}


/*
 * A delivery's response goes nowhere: its first bytes are kept, the rest
 * is dropped here, before the postpone filter would hold it (a background
 * subrequest never becomes the connection's active request).
 */

static ngx_int_t
ngx_http_webhook_deliver_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                           n;
    ngx_buf_t                       *b;
    ngx_chain_t                     *cl;
    ngx_http_webhook_deliver_ctx_t  *ctx;

    if (r == r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_webhook_deliver_get_ctx(r);

    if (ctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)
            && ctx->body.len < NGX_HTTP_WEBHOOK_DELIVER_BODY_MAX)
        {
            if (ctx->body.data == NULL) {
                ctx->body.data = ngx_pnalloc(ctx->pool,
                                             NGX_HTTP_WEBHOOK_DELIVER_BODY_MAX);
                if (ctx->body.data == NULL) {
                    return NGX_ERROR;
                }
            }

            n = ngx_min((size_t) (b->last - b->pos),
                        NGX_HTTP_WEBHOOK_DELIVER_BODY_MAX - ctx->body.len);

            ngx_memcpy(ctx->body.data + ctx->body.len, b->pos, n);
            ctx->body.len += n;

            if (n < (size_t) (b->last - b->pos)) {
                ctx->truncated = 1;
            }

        } else if (ngx_buf_size(b)) {
            ctx->truncated = 1;
        }

        b->pos = b->last;

        if (b->in_file) {
            b->file_pos = b->file_last;
        }
    }

    return NGX_OK;
}
