
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_webhook_publish.h"
#include "ngx_http_webhook_deliver.h"
#include "ngx_http_webhook_json.h"
#include "ngx_http_webhook_store.h"


/* variables of the publish part only, beside the shared ones */
#define NGX_HTTP_WEBHOOK_VAR_USER           3
#define NGX_HTTP_WEBHOOK_VAR_RESOURCE       4

/* members of an event, by field */
#define NGX_HTTP_WEBHOOK_PUBLISH_ACTION     0
#define NGX_HTTP_WEBHOOK_PUBLISH_RESOURCE   1
#define NGX_HTTP_WEBHOOK_PUBLISH_USER       2
#define NGX_HTTP_WEBHOOK_PUBLISH_ID         3
#define NGX_HTTP_WEBHOOK_PUBLISH_PAYLOAD    4
#define NGX_HTTP_WEBHOOK_PUBLISH_NFIELDS    5

#define NGX_HTTP_WEBHOOK_EVENT_ID_MAX       64
#define NGX_HTTP_WEBHOOK_EVENT_ID_BYTES     12     /* "evt_" + 24 hex */
#define NGX_HTTP_WEBHOOK_PUBLISH_MESSAGE_LEN  512


typedef struct {
    char                                *name;
    ngx_uint_t                           field;
    ngx_uint_t                           rank;       /* of a field's names,
                                                        the lowest wins */
} ngx_http_webhook_publish_name_t;


/* a member of an event object, as cJSON and the text have it */
typedef struct {
    cJSON                               *item;
    char                                *name;       /* the name used */
    ngx_uint_t                           rank;
    ngx_str_t                            text;       /* its value, as sent */
} ngx_http_webhook_publish_member_t;


/* what an event's variables show beside ngx_http_webhook_event_t */
typedef struct {
    ngx_str_t                            user;       /* JSON text as sent */
    ngx_str_t                            resource;   /* JSON text as sent */
    unsigned                             payload:1;  /* given: no template */
} ngx_http_webhook_publish_raw_t;


typedef struct {
    ngx_http_webhook_loc_conf_t         *wlcf;
    ngx_str_t                            tenant;     /* empty until valid */

    ngx_uint_t                           n;
    ngx_uint_t                           current;    /* what the variables
                                                        show */
    ngx_http_webhook_event_t            *events;     /* NULL: none yet */
    ngx_http_webhook_publish_raw_t      *raw;
    ngx_http_webhook_published_t        *results;
    ngx_http_webhook_publish_conf_t      pcf;
    ngx_http_webhook_claim_t             claim;      /* mode=sync */
    ngx_http_webhook_deliver_sync_t     *sync;

    u_char                              *err;        /* a 422's message */
    char                                *err_field;
    ngx_uint_t                           err_index;

    unsigned                             array:1;    /* an array in, an
                                                        array out */
} ngx_http_webhook_publish_ctx_t;


static ngx_int_t ngx_http_webhook_publish_read(ngx_http_request_t *r,
    ngx_int_t rc);
static void ngx_http_webhook_publish_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_webhook_publish_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_webhook_publish_item(ngx_http_request_t *r,
    ngx_http_webhook_publish_ctx_t *ctx, cJSON *obj, u_char **pos,
    u_char *last, ngx_uint_t i);
static ngx_int_t ngx_http_webhook_publish_invalid(ngx_http_request_t *r,
    ngx_http_webhook_publish_ctx_t *ctx, char *field, const char *fmt, ...);
static ngx_int_t ngx_http_webhook_publish_send_invalid(ngx_http_request_t *r,
    ngx_http_webhook_publish_ctx_t *ctx);
static ngx_int_t ngx_http_webhook_publish_payloads(ngx_http_request_t *r,
    ngx_http_webhook_publish_ctx_t *ctx);
static ngx_int_t ngx_http_webhook_publish_default(ngx_http_request_t *r,
    ngx_http_webhook_publish_ctx_t *ctx, ngx_uint_t i);
static ngx_int_t ngx_http_webhook_publish_write(ngx_http_request_t *r,
    ngx_http_webhook_publish_ctx_t *ctx);
static void ngx_http_webhook_publish_store_handler(void *data, ngx_int_t rc);
static ngx_int_t ngx_http_webhook_publish_done(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_int_t ngx_http_webhook_publish_sync(ngx_http_request_t *r,
    ngx_http_webhook_publish_ctx_t *ctx);
static void ngx_http_webhook_publish_sync_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_webhook_publish_sync_done(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_int_t ngx_http_webhook_publish_sync_failed(ngx_http_request_t *r,
    ngx_http_webhook_publish_ctx_t *ctx, ngx_uint_t status, char *code,
    char *reason, char *message);
static ngx_int_t ngx_http_webhook_publish_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_webhook_publish_event_id(ngx_http_request_t *r,
    ngx_str_t *id);


static ngx_str_t  ngx_http_webhook_publish_allow = ngx_string("Allow");
static ngx_str_t  ngx_http_webhook_publish_allow_value = ngx_string("POST");
static ngx_str_t  ngx_http_webhook_publish_null = ngx_string("null");

/* a failed sync delivery's "reason": the attempt errors, by number */
static char  *ngx_http_webhook_publish_reasons[] = {
    "none", "blocked_address", "connect_failed", "timeout", "tls_failed",
    "bad_status", "redirected", "disabled", "pending_limit"
};


/*
 * The names a member may have.  When a field is given under several of
 * them, the one ranked first wins ("action" over "type" over "event");
 * when one name occurs twice, the first occurrence wins, as cJSON's own
 * lookups have it.
 */
static ngx_http_webhook_publish_name_t  ngx_http_webhook_publish_names[] = {
    { "action",   NGX_HTTP_WEBHOOK_PUBLISH_ACTION,   0 },
    { "type",     NGX_HTTP_WEBHOOK_PUBLISH_ACTION,   1 },
    { "event",    NGX_HTTP_WEBHOOK_PUBLISH_ACTION,   2 },
    { "resource", NGX_HTTP_WEBHOOK_PUBLISH_RESOURCE, 0 },
    { "data",     NGX_HTTP_WEBHOOK_PUBLISH_RESOURCE, 1 },
    { "user",     NGX_HTTP_WEBHOOK_PUBLISH_USER,     0 },
    { "id",       NGX_HTTP_WEBHOOK_PUBLISH_ID,       0 },
    { "payload",  NGX_HTTP_WEBHOOK_PUBLISH_PAYLOAD,  0 },
    { NULL, 0, 0 }
};


static ngx_http_variable_t  ngx_http_webhook_publish_vars[] = {

    { ngx_string("webhook_action"), NULL,
      ngx_http_webhook_publish_variable, NGX_HTTP_WEBHOOK_VAR_ACTION,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_tenant"), NULL,
      ngx_http_webhook_publish_variable, NGX_HTTP_WEBHOOK_VAR_TENANT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_event_id"), NULL,
      ngx_http_webhook_publish_variable, NGX_HTTP_WEBHOOK_VAR_EVENT_ID,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_user"), NULL,
      ngx_http_webhook_publish_variable, NGX_HTTP_WEBHOOK_VAR_USER,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("webhook_resource"), NULL,
      ngx_http_webhook_publish_variable, NGX_HTTP_WEBHOOK_VAR_RESOURCE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_webhook_publish_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_str_t                        tenant;
    ngx_http_webhook_loc_conf_t     *wlcf;
    ngx_http_webhook_publish_ctx_t  *ctx;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_webhook_module);

    if (wlcf->publish_store == NULL || wlcf->tenant == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "webhook_publish location without a zone or a tenant");
        return ngx_http_webhook_json_internal_error(r);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_webhook_publish_ctx_t));
    if (ctx == NULL) {
        return ngx_http_webhook_json_internal_error(r);
    }

    ctx->wlcf = wlcf;

    ngx_http_set_ctx(r, ctx, ngx_http_webhook_module);

    if (ngx_http_complex_value(r, wlcf->tenant, &tenant) != NGX_OK) {
        return ngx_http_webhook_json_internal_error(r);
    }

    /* as an auth module would, before the method is looked at */

    if (!ngx_http_webhook_json_tenant_valid(&tenant)) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "webhook publish: invalid tenant \"%V\"", &tenant);

        return ngx_http_webhook_json_error(r, NGX_HTTP_UNAUTHORIZED,
                                           "unauthorized",
                                           "no valid tenant for this request",
                                           NULL);
    }

    ctx->tenant = tenant;

    if (r->method != NGX_HTTP_POST) {
        if (ngx_http_webhook_json_add_header(r,
                                    &ngx_http_webhook_publish_allow,
                                    &ngx_http_webhook_publish_allow_value)
            != NGX_OK)
        {
            return ngx_http_webhook_json_internal_error(r);
        }

        return ngx_http_webhook_json_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "method_not_allowed",
                                           "events are published with POST",
                                           NULL);
    }

    /* mode=sync stores nothing: a read-only state does not stop it */

    if (wlcf->publish_sync == 1) {
        return ngx_http_webhook_publish_read(r, NGX_OK);
    }

    rc = ngx_http_webhook_json_wait_writable(r, wlcf->publish_store,
                                             ngx_http_webhook_publish_read);

    if (rc == NGX_DONE) {
        return NGX_DONE;
    }

    if (rc != NGX_OK) {
        return ngx_http_webhook_json_internal_error(r);
    }

    return ngx_http_webhook_publish_read(r, NGX_OK);
}


/* the state is writable (or the wait for it is over): read the body */

static ngx_int_t
ngx_http_webhook_publish_read(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_webhook_publish_ctx_t  *ctx;

    if (rc != NGX_OK) {
        return ngx_http_webhook_json_store_error(r, rc);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_webhook_module);

    return ngx_http_webhook_json_start_body(r, ctx->wlcf->max_body_size,
                                       ngx_http_webhook_publish_body_handler);
}


static void
ngx_http_webhook_publish_body_handler(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_webhook_publish_body(r));
}


/*
 * cJSON validates the body and gives each member's value; the strict
 * scanner of the json part, walking the original text beside cJSON's
 * tree, gives the bytes of the values that are delivered as sent.
 */

static ngx_int_t
ngx_http_webhook_publish_body(ngx_http_request_t *r)
{
    cJSON                           *json, *obj;
    u_char                          *p, *last;
    ngx_int_t                        rc;
    ngx_str_t                        text, copy;
    ngx_uint_t                       i;
    ngx_http_webhook_publish_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_webhook_module);

    /* a chunked body has no Content-Length to check beforehand */

    rc = ngx_http_webhook_json_read_body(r, ctx->wlcf->max_body_size, &text);

    if (rc == NGX_DECLINED) {
        return ngx_http_webhook_json_too_large(r, ctx->wlcf->max_body_size);
    }

    if (rc != NGX_OK) {
        return ngx_http_webhook_json_internal_error(r);
    }

    last = text.data + text.len;

    p = ngx_http_webhook_json_space(text.data, last);
    p = ngx_http_webhook_json_value(p, last);

    if (p == NULL
        || ngx_http_webhook_json_space(p, last) != last
        || !ngx_http_webhook_json_utf8_valid(text.data, text.len))
    {
        return ngx_http_webhook_json_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid_json",
                                           "the request body is not valid "
                                           "JSON", NULL);
    }

    /*
     * cJSON would cut a string, or a member's name, short at "\u0000":
     * it parses a copy where such escapes are "\u001a", a control
     * character that no checked field accepts and no name matches.  The
     * bytes delivered come from the original text.
     */

    copy = text;

    if (ngx_strnstr(text.data, "\\u0000", text.len)) {
        copy.data = ngx_pnalloc(r->pool, text.len + 1);
        if (copy.data == NULL) {
            return ngx_http_webhook_json_internal_error(r);
        }

        ngx_memcpy(copy.data, text.data, text.len + 1);

        (void) ngx_http_webhook_json_mark_nul(&copy);
    }

    rc = ngx_http_webhook_json_parse(r->pool, &copy, &json);

    if (rc == NGX_ERROR) {
        return ngx_http_webhook_json_internal_error(r);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_webhook_json_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid_json",
                                           "the request body is not valid "
                                           "JSON", NULL);
    }

    if (cJSON_IsObject(json)) {
        ctx->n = 1;

    } else if (cJSON_IsArray(json)) {
        ctx->n = (ngx_uint_t) cJSON_GetArraySize(json);
        ctx->array = 1;

    } else {
        return ngx_http_webhook_json_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid_json",
                                           "the request body must be a JSON "
                                           "object or an array of objects",
                                           NULL);
    }

    if (ctx->n == 0) {
        return ngx_http_webhook_json_error(r,
                                        NGX_HTTP_WEBHOOK_UNPROCESSABLE_ENTITY,
                                        "validation_failed",
                                        "the array holds no event", NULL);
    }

    ctx->events = ngx_pcalloc(r->pool,
                              ctx->n * sizeof(ngx_http_webhook_event_t));
    if (ctx->events == NULL) {
        return ngx_http_webhook_json_internal_error(r);
    }

    ctx->raw = ngx_pcalloc(r->pool,
                           ctx->n * sizeof(ngx_http_webhook_publish_raw_t));
    if (ctx->raw == NULL) {
        return ngx_http_webhook_json_internal_error(r);
    }

    ctx->results = ngx_pcalloc(r->pool,
                               ctx->n * sizeof(ngx_http_webhook_published_t));
    if (ctx->results == NULL) {
        return ngx_http_webhook_json_internal_error(r);
    }

    /* the text is one strict JSON value: p is at its first byte */

    p = ngx_http_webhook_json_space(text.data, last);
    obj = json;

    if (ctx->array) {
        p = ngx_http_webhook_json_space(p + 1, last);
        obj = json->child;
    }

    for (i = 0; i < ctx->n; i++, obj = obj->next) {

        if (i > 0) {
            if (p >= last || *p != ',') {
                goto mismatch;
            }

            p = ngx_http_webhook_json_space(p + 1, last);
        }

        if (obj == NULL || p >= last) {
            goto mismatch;
        }

        ctx->err_index = i;

        if (!cJSON_IsObject(obj)) {
            rc = ngx_http_webhook_publish_invalid(r, ctx, NULL,
                                                  "an event must be a JSON "
                                                  "object");

        } else {
            rc = ngx_http_webhook_publish_item(r, ctx, obj, &p, last, i);
        }

        if (rc == NGX_DECLINED) {
            return ngx_http_webhook_publish_send_invalid(r, ctx);
        }

        if (rc != NGX_OK) {
            return ngx_http_webhook_json_internal_error(r);
        }

        p = ngx_http_webhook_json_space(p, last);
    }

    if (ctx->wlcf->publish_sync == 1 && ctx->array) {
        return ngx_http_webhook_json_error(r,
                                        NGX_HTTP_WEBHOOK_UNPROCESSABLE_ENTITY,
                                        "validation_failed",
                                        "mode=sync publishes one event, a "
                                        "JSON object, not an array", NULL);
    }

    if (ngx_http_webhook_publish_payloads(r, ctx) != NGX_OK) {
        return ngx_http_webhook_json_internal_error(r);
    }

    if (ctx->wlcf->publish_sync == 1) {
        return ngx_http_webhook_publish_sync(r, ctx);
    }

    return ngx_http_webhook_publish_write(r, ctx);

mismatch:

    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "webhook publish: the JSON scanner and cJSON disagree "
                  "at byte %z", p - text.data);

    return ngx_http_webhook_json_internal_error(r);
}


/*
 * One event: "obj" is its cJSON object, *pos the '{' that starts it in
 * the text; on NGX_OK *pos is past its '}'.  The text was scanned as
 * strict JSON already, and cJSON keeps every member in the order of the
 * text (duplicates too), so the two walk member by member.  NGX_DECLINED:
 * a 422 is described in ctx.
 */

static ngx_int_t
ngx_http_webhook_publish_item(ngx_http_request_t *r,
    ngx_http_webhook_publish_ctx_t *ctx, cJSON *obj, u_char **pos,
    u_char *last, ngx_uint_t i)
{
    char                               *name;
    cJSON                              *item;
    u_char                             *p, *start;
    ngx_str_t                          *events;
    ngx_uint_t                          k;
    ngx_http_webhook_event_t           *ev;
    ngx_http_webhook_publish_raw_t     *raw;
    ngx_http_webhook_publish_name_t    *nm;
    ngx_http_webhook_publish_member_t  *m;
    ngx_http_webhook_publish_member_t   found[NGX_HTTP_WEBHOOK_PUBLISH_NFIELDS];

    ngx_memzero(found, sizeof(found));

    if (**pos != '{') {
        goto mismatch;
    }

    p = ngx_http_webhook_json_space(*pos + 1, last);

    for (item = obj->child; item; item = item->next) {

        if (item != obj->child) {
            if (p >= last || *p != ',') {
                goto mismatch;
            }

            p = ngx_http_webhook_json_space(p + 1, last);
        }

        if (item->string == NULL || p >= last || *p != '"') {
            goto mismatch;
        }

        /* the name, as cJSON has it in item->string */

        p = ngx_http_webhook_json_value(p, last);
        if (p == NULL) {
            goto mismatch;
        }

        p = ngx_http_webhook_json_space(p, last);

        if (p >= last || *p != ':') {
            goto mismatch;
        }

        start = ngx_http_webhook_json_space(p + 1, last);

        p = ngx_http_webhook_json_value(start, last);
        if (p == NULL) {
            goto mismatch;
        }

        for (nm = ngx_http_webhook_publish_names; nm->name; nm++) {
            if (ngx_strcmp(nm->name, item->string) == 0) {
                break;
            }
        }

        if (nm->name) {
            m = &found[nm->field];

            if (m->item == NULL || nm->rank < m->rank) {
                m->item = item;
                m->name = nm->name;
                m->rank = nm->rank;
                m->text.data = start;
                m->text.len = p - start;
            }
        }

        p = ngx_http_webhook_json_space(p, last);
    }

    if (p >= last || *p != '}') {
        goto mismatch;
    }

    *pos = p + 1;

    ev = &ctx->events[i];
    raw = &ctx->raw[i];

    ev->tenant = ctx->tenant;

    /* action (type, event) */

    item = found[NGX_HTTP_WEBHOOK_PUBLISH_ACTION].item;
    name = found[NGX_HTTP_WEBHOOK_PUBLISH_ACTION].name;

    if (item == NULL) {
        return ngx_http_webhook_publish_invalid(r, ctx, "action",
                                                "action is required");
    }

    if (!cJSON_IsString(item) || item->valuestring == NULL) {
        return ngx_http_webhook_publish_invalid(r, ctx, name,
                                                "%s must be a string", name);
    }

    ev->action.data = (u_char *) item->valuestring;
    ev->action.len = ngx_strlen(item->valuestring);

    /* [A-Za-z0-9_.:-]{1,128} */

    if (!ngx_http_webhook_json_word(&ev->action, NGX_HTTP_WEBHOOK_ACTION_MAX,
                                    "_.:-"))
    {
        return ngx_http_webhook_publish_invalid(r, ctx, name,
                                                "%s must be 1 to 128 "
                                                "letters, digits, \"_\", "
                                                "\".\", \":\" or \"-\"", name);
    }

    if (ctx->wlcf->events && ctx->wlcf->events != NGX_CONF_UNSET_PTR) {
        events = ctx->wlcf->events->elts;

        for (k = 0; k < ctx->wlcf->events->nelts; k++) {
            if (events[k].len == ev->action.len
                && ngx_strncmp(events[k].data, ev->action.data,
                               ev->action.len)
                   == 0)
            {
                break;
            }
        }

        if (k == ctx->wlcf->events->nelts) {
            return ngx_http_webhook_publish_invalid(r, ctx, name,
                                                    "unknown %s \"%V\"",
                                                    name, &ev->action);
        }
    }

    /* id: null is as good as none */

    item = found[NGX_HTTP_WEBHOOK_PUBLISH_ID].item;

    if (item && !cJSON_IsNull(item)) {

        if (cJSON_IsString(item) && item->valuestring) {
            ev->id.data = (u_char *) item->valuestring;
            ev->id.len = ngx_strlen(item->valuestring);
        }

        /* [A-Za-z0-9_-]{1,64} */

        if (!ngx_http_webhook_json_word(&ev->id, NGX_HTTP_WEBHOOK_EVENT_ID_MAX,
                                        "_-"))
        {
            return ngx_http_webhook_publish_invalid(r, ctx, "id",
                                                    "id must be a string of "
                                                    "1 to 64 letters, "
                                                    "digits, \"_\" or \"-\"");
        }
    }

    /* any JSON value, as sent */

    m = &found[NGX_HTTP_WEBHOOK_PUBLISH_RESOURCE];
    raw->resource = m->item ? m->text : ngx_http_webhook_publish_null;

    m = &found[NGX_HTTP_WEBHOOK_PUBLISH_USER];
    raw->user = m->item ? m->text : ngx_http_webhook_publish_null;

    /* the exact body; null is as good as none: the template applies */

    m = &found[NGX_HTTP_WEBHOOK_PUBLISH_PAYLOAD];

    if (m->item && !cJSON_IsNull(m->item)) {
        ev->payload = m->text;
        raw->payload = 1;
    }

    return NGX_OK;

mismatch:

    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "webhook publish: the JSON scanner and cJSON disagree "
                  "in event %ui", i);

    return NGX_ERROR;
}


/* describes a 422 in ctx; returns NGX_DECLINED, or NGX_ERROR */

static ngx_int_t
ngx_http_webhook_publish_invalid(ngx_http_request_t *r,
    ngx_http_webhook_publish_ctx_t *ctx, char *field, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ctx->err = ngx_http_webhook_json_vmessage(r->pool, fmt, args);
    va_end(args);

    if (ctx->err == NULL) {
        return NGX_ERROR;
    }

    ctx->err_field = field;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "webhook publish: event %ui invalid: %s (%s)",
                   ctx->err_index, ctx->err, field ? field : "-");

    return NGX_DECLINED;
}


/*
 * {"error":"validation_failed","message":"...","field":"...","index":N}:
 * "field" when one is at fault, "index" when an array was published.
 */

static ngx_int_t
ngx_http_webhook_publish_send_invalid(ngx_http_request_t *r,
    ngx_http_webhook_publish_ctx_t *ctx)
{
    size_t     len;
    u_char    *body, *p;
    ngx_str_t  m, f;

    m.data = ctx->err;
    m.len = ngx_strlen(ctx->err);

    len = sizeof("{\"error\":\"validation_failed\",\"message\":\"\"}") - 1
          + ngx_http_webhook_json_escape_len(&m);

    if (ctx->err_field) {
        f.data = (u_char *) ctx->err_field;
        f.len = ngx_strlen(ctx->err_field);

        len += sizeof(",\"field\":\"\"") - 1
               + ngx_http_webhook_json_escape_len(&f);

    } else {
        ngx_str_null(&f);
    }

    if (ctx->array) {
        len += sizeof(",\"index\":") - 1 + NGX_INT_T_LEN;
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return ngx_http_webhook_json_internal_error(r);
    }

    p = ngx_cpymem(body, "{\"error\":\"validation_failed\",\"message\":\"",
                   sizeof("{\"error\":\"validation_failed\",\"message\":\"")
                   - 1);
    p = ngx_http_webhook_json_escape(p, &m);
    *p++ = '"';

    if (ctx->err_field) {
        p = ngx_cpymem(p, ",\"field\":\"", sizeof(",\"field\":\"") - 1);
        p = ngx_http_webhook_json_escape(p, &f);
        *p++ = '"';
    }

    if (ctx->array) {
        p = ngx_sprintf(p, ",\"index\":%ui", ctx->err_index);
    }

    *p++ = '}';

    return ngx_http_webhook_json_send(r,
                                      NGX_HTTP_WEBHOOK_UNPROCESSABLE_ENTITY,
                                      body, p - body);
}


/*
 * The body of each event: its "payload" as sent, else webhook_payload
 * evaluated with the event's variables, else the default envelope.
 */

static ngx_int_t
ngx_http_webhook_publish_payloads(ngx_http_request_t *r,
    ngx_http_webhook_publish_ctx_t *ctx)
{
    ngx_uint_t                 i;
    ngx_http_complex_value_t  *cv;

    cv = ctx->wlcf->payload;

    for (i = 0; i < ctx->n; i++) {

        if (ctx->raw[i].payload) {
            continue;
        }

        if (cv == NULL) {
            if (ngx_http_webhook_publish_default(r, ctx, i) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        ctx->current = i;

        if (ngx_http_complex_value(r, cv, &ctx->events[i].payload) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ctx->current = 0;

    return NGX_OK;
}


/*
 * {"action":"ACTION","organization":"TENANT","user":USER,
 *  "resource":RESOURCE}, as the default template would have it, without
 * running a script for it
 */

static ngx_int_t
ngx_http_webhook_publish_default(ngx_http_request_t *r,
    ngx_http_webhook_publish_ctx_t *ctx, ngx_uint_t i)
{
    size_t                           len;
    u_char                          *p;
    ngx_http_webhook_event_t        *ev;
    ngx_http_webhook_publish_raw_t  *raw;

    ev = &ctx->events[i];
    raw = &ctx->raw[i];

    len = sizeof("{\"action\":\"\",\"organization\":\"\",\"user\":,"
                 "\"resource\":}") - 1
          + ngx_http_webhook_json_escape_len(&ev->action)
          + ngx_http_webhook_json_escape_len(&ev->tenant)
          + raw->user.len + raw->resource.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ev->payload.data = p;

    p = ngx_cpymem(p, "{\"action\":\"", sizeof("{\"action\":\"") - 1);
    p = ngx_http_webhook_json_escape(p, &ev->action);
    p = ngx_cpymem(p, "\",\"organization\":\"",
                   sizeof("\",\"organization\":\"") - 1);
    p = ngx_http_webhook_json_escape(p, &ev->tenant);
    p = ngx_cpymem(p, "\",\"user\":", sizeof("\",\"user\":") - 1);
    p = ngx_cpymem(p, raw->user.data, raw->user.len);
    p = ngx_cpymem(p, ",\"resource\":", sizeof(",\"resource\":") - 1);
    p = ngx_cpymem(p, raw->resource.data, raw->resource.len);
    *p++ = '}';

    ev->payload.len = p - ev->payload.data;

    return NGX_OK;
}


/*
 * As the API's writes: a store that answers later (NGX_AGAIN) gets the
 * request held by r->main->count, and by r->main->blocked against
 * ngx_http_terminate_request(); its handler then answers and finalizes.
 */

static ngx_int_t
ngx_http_webhook_publish_write(ngx_http_request_t *r,
    ngx_http_webhook_publish_ctx_t *ctx)
{
    ngx_int_t  rc;

    ctx->pcf.idempotency = ctx->wlcf->idempotency;
    ctx->pcf.max_pending = ctx->wlcf->max_pending;
    ngx_str_null(&ctx->pcf.only);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "webhook publish: %ui event(s) for \"%V\"",
                   ctx->n, &ctx->tenant);

    ngx_http_webhook_json_hold(r);

    rc = ngx_http_webhook_store_publish(ctx->wlcf->publish_store,
                                        ctx->events, ctx->n, &ctx->pcf,
                                        r->pool, ctx->results,
                                        ngx_http_webhook_publish_store_handler,
                                        r);

    return ngx_http_webhook_json_held(r, rc, ngx_http_webhook_publish_done);
}


static void
ngx_http_webhook_publish_store_handler(void *data, ngx_int_t rc)
{
    ngx_http_webhook_json_resume(data, rc, ngx_http_webhook_publish_done);
}


/* 202 {"id":"EVENT_ID","deliveries":N}, or an array of those */

static ngx_int_t
ngx_http_webhook_publish_done(ngx_http_request_t *r, ngx_int_t rc)
{
    size_t                           len;
    u_char                          *body, *p;
    ngx_uint_t                       i;
    ngx_http_webhook_published_t    *res;
    ngx_http_webhook_publish_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_webhook_module);

    if (rc != NGX_OK) {
        return ngx_http_webhook_json_store_error(r, rc);
    }

    ngx_http_webhook_deliver_wake((ngx_cycle_t *) ngx_cycle,
                                  ctx->wlcf->publish_store);

    res = ctx->results;
    len = ctx->array ? 2 + ctx->n - 1 : 0;

    for (i = 0; i < ctx->n; i++) {
        len += sizeof("{\"id\":\"\",\"deliveries\":}") - 1 + NGX_INT_T_LEN
               + ngx_http_webhook_json_escape_len(&res[i].id);

        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "webhook publish: event \"%V\" %V: %ui deliveries%s",
                       &res[i].id, &ctx->events[i].action,
                       res[i].deliveries,
                       res[i].duplicate ? ", a duplicate" : "");

        /* what $webhook_event_id shows from now on, in the access log */
        ctx->events[i].id = res[i].id;
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return ngx_http_webhook_json_internal_error(r);
    }

    p = body;

    if (ctx->array) {
        *p++ = '[';
    }

    for (i = 0; i < ctx->n; i++) {
        if (i > 0) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, "{\"id\":\"", sizeof("{\"id\":\"") - 1);
        p = ngx_http_webhook_json_escape(p, &res[i].id);
        p = ngx_sprintf(p, "\",\"deliveries\":%ui}", res[i].deliveries);
    }

    if (ctx->array) {
        *p++ = ']';
    }

    return ngx_http_webhook_json_send(r, NGX_HTTP_ACCEPTED, body, p - body);
}


/*
 * mode=sync (Vello's dynamic webhook): the one enabled subscription of the
 * tenant that matches gets the event at once, in one attempt through the
 * zone's webhook_deliver location, signed as every delivery is; the
 * publisher waits and gets the subscriber's answer.  Nothing is stored:
 * no event, no delivery, no attempt log, no retry, no idempotency.
 */

static ngx_int_t
ngx_http_webhook_publish_sync(ngx_http_request_t *r,
    ngx_http_webhook_publish_ctx_t *ctx)
{
    u_char                    *p;
    ngx_int_t                  rc;
    ngx_uint_t                 n;
    ngx_http_webhook_event_t  *ev;
    u_char                     message[NGX_HTTP_WEBHOOK_PUBLISH_MESSAGE_LEN];

    ev = &ctx->events[0];

    rc = ngx_http_webhook_store_match(ctx->wlcf->publish_store, &ctx->tenant,
                                      &ev->action, r->pool, &ctx->claim, &n);
    if (rc != NGX_OK) {
        return ngx_http_webhook_json_internal_error(r);
    }

    if (n == 0) {
        p = ngx_snprintf(message, sizeof(message) - 1,
                         "no enabled subscription matches \"%V\"",
                         &ev->action);
        *p = '\0';

        return ngx_http_webhook_json_error(r, NGX_HTTP_NOT_FOUND,
                                           "no_subscription",
                                           (char *) message, NULL);
    }

    if (n > 1) {
        p = ngx_snprintf(message, sizeof(message) - 1,
                         "%ui enabled subscriptions match \"%V\": "
                         "mode=sync needs exactly one", n, &ev->action);
        *p = '\0';

        return ngx_http_webhook_json_error(r, NGX_HTTP_CONFLICT,
                                           "multiple_subscriptions",
                                           (char *) message, NULL);
    }

    /* the id subscribers see in webhook-id, as the store would make it */

    if (ev->id.len == 0) {
        if (ngx_http_webhook_publish_event_id(r, &ev->id) != NGX_OK) {
            return ngx_http_webhook_json_internal_error(r);
        }
    }

    ctx->claim.event_id = ev->id;
    ctx->claim.action = ev->action;
    ctx->claim.payload = ev->payload;

    ctx->sync = ngx_pcalloc(r->pool, sizeof(ngx_http_webhook_deliver_sync_t));
    if (ctx->sync == NULL) {
        return ngx_http_webhook_json_internal_error(r);
    }

    ctx->sync->pool = r->pool;
    ctx->sync->timeout = ctx->wlcf->publish_timeout;
    ctx->sync->event.handler = ngx_http_webhook_publish_sync_handler;
    ctx->sync->event.data = r;
    ctx->sync->event.log = r->connection->log;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "webhook publish sync: event \"%V\" %V to subscription "
                   "%V", &ev->id, &ev->action, &ctx->claim.sub_id);

    /* held as for a store write: the outcome's event resumes it */

    ngx_http_webhook_json_hold(r);

    rc = ngx_http_webhook_deliver_sync(ctx->wlcf->publish_store, &ctx->claim,
                                       ctx->sync);

    return ngx_http_webhook_json_held(r, rc == NGX_OK ? NGX_AGAIN : rc,
                                      ngx_http_webhook_publish_sync_done);
}


static void
ngx_http_webhook_publish_sync_handler(ngx_event_t *ev)
{
    ngx_http_webhook_json_resume(ev->data, NGX_OK,
                                 ngx_http_webhook_publish_sync_done);
}


/*
 * A status of webhook_success with a JSON body, or with none: that status
 * and body, as the subscriber sent them.  Anything else: 504 timeout, or
 * 502 delivery_failed with its reason (a body that is not JSON, or longer
 * than the 4 KB a delivery keeps, included).
 */

static ngx_int_t
ngx_http_webhook_publish_sync_done(ngx_http_request_t *r, ngx_int_t rc)
{
    char                             *reason, *message;
    u_char                           *p, *last;
    ngx_uint_t                        n;
    ngx_http_webhook_deliver_sync_t  *sync;
    ngx_http_webhook_publish_ctx_t   *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_webhook_module);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "webhook publish sync: no webhook_deliver location "
                      "of zone \"%V\" runs in this process",
                      ngx_http_webhook_store_name(ctx->wlcf->publish_store));
    }

    if (rc != NGX_OK) {
        return ngx_http_webhook_json_internal_error(r);
    }

    sync = ctx->sync;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "webhook publish sync done: status %ui, error %ui, "
                   "%uz body bytes", sync->status, sync->error,
                   sync->body.len);

    if (sync->error == NGX_HTTP_WEBHOOK_ERR_TIMEOUT) {
        return ngx_http_webhook_publish_sync_failed(r, ctx,
                                               NGX_HTTP_GATEWAY_TIME_OUT,
                                               "timeout", "timeout",
                                               "the subscriber did not "
                                               "answer in time");
    }

    if (!sync->success) {
        n = sizeof(ngx_http_webhook_publish_reasons) / sizeof(char *);

        reason = (sync->error < n)
                 ? ngx_http_webhook_publish_reasons[sync->error]
                 : "connect_failed";

        message = sync->status ? "the subscriber answered with an error "
                                 "status"
                               : "the subscriber could not be reached";

        return ngx_http_webhook_publish_sync_failed(r, ctx,
                                                    NGX_HTTP_BAD_GATEWAY,
                                                    "delivery_failed",
                                                    reason, message);
    }

    if (sync->truncated) {
        return ngx_http_webhook_publish_sync_failed(r, ctx,
                                               NGX_HTTP_BAD_GATEWAY,
                                               "delivery_failed",
                                               "response_too_large",
                                               "the subscriber's answer is "
                                               "longer than 4096 bytes");
    }

    p = sync->body.data;
    last = p + sync->body.len;

    p = ngx_http_webhook_json_space(p, last);

    /* no body (204, or a plain "200 OK"): the status alone */

    if (p == last) {
        return ngx_http_webhook_json_send(r, sync->status, NULL, 0);
    }

    p = ngx_http_webhook_json_value(p, last);

    if (p == NULL
        || ngx_http_webhook_json_space(p, last) != last
        || !ngx_http_webhook_json_utf8_valid(sync->body.data,
                                             sync->body.len))
    {
        return ngx_http_webhook_publish_sync_failed(r, ctx,
                                               NGX_HTTP_BAD_GATEWAY,
                                               "delivery_failed",
                                               "invalid_response",
                                               "the subscriber's answer is "
                                               "not JSON");
    }

    return ngx_http_webhook_json_send(r, sync->status, sync->body.data,
                                      sync->body.len);
}


/*
 * {"error":CODE,"message":MESSAGE,"reason":REASON,"status":N|null,
 *  "event_id":ID,"subscription_id":ID}
 */

static ngx_int_t
ngx_http_webhook_publish_sync_failed(ngx_http_request_t *r,
    ngx_http_webhook_publish_ctx_t *ctx, ngx_uint_t status, char *code,
    char *reason, char *message)
{
    size_t      len;
    u_char     *body, *p;
    ngx_str_t  *id;

    id = &ctx->claim.event_id;

    len = sizeof("{\"error\":\"\",\"message\":\"\",\"reason\":\"\","
                 "\"status\":,\"event_id\":\"\",\"subscription_id\":\"\"}")
          - 1 + ngx_strlen(code) + ngx_strlen(message) + ngx_strlen(reason)
          + NGX_INT_T_LEN + ngx_http_webhook_json_escape_len(id)
          + ctx->claim.sub_id.len;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return ngx_http_webhook_json_internal_error(r);
    }

    p = ngx_sprintf(body, "{\"error\":\"%s\",\"message\":\"%s\","
                    "\"reason\":\"%s\",\"status\":", code, message, reason);

    if (ctx->sync->status) {
        p = ngx_sprintf(p, "%ui", ctx->sync->status);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    p = ngx_cpymem(p, ",\"event_id\":\"", sizeof(",\"event_id\":\"") - 1);
    p = ngx_http_webhook_json_escape(p, id);
    p = ngx_sprintf(p, "\",\"subscription_id\":\"%V\"}", &ctx->claim.sub_id);

    return ngx_http_webhook_json_send(r, status, body, p - body);
}


ngx_int_t
ngx_http_webhook_publish_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_webhook_publish_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * In a webhook_publish location whose handler has run: the event being
 * templated (the first one once the store has answered).  Elsewhere the
 * shared names are the deliver part's (see ngx_http_webhook_publish.h).
 */

static ngx_int_t
ngx_http_webhook_publish_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                       *s;
    ngx_http_webhook_event_t        *ev;
    ngx_http_webhook_loc_conf_t     *wlcf;
    ngx_http_webhook_publish_ctx_t  *ctx;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_webhook_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_webhook_module);

    if (wlcf->publish_store == NULL || ctx == NULL) {

        if (data == NGX_HTTP_WEBHOOK_VAR_USER
            || data == NGX_HTTP_WEBHOOK_VAR_RESOURCE)
        {
            v->not_found = 1;
            return NGX_OK;
        }

        return ngx_http_webhook_deliver_variable(r, v, data);
    }

    ev = ctx->events ? &ctx->events[ctx->current] : NULL;

    switch (data) {

    case NGX_HTTP_WEBHOOK_VAR_TENANT:
        s = &ctx->tenant;
        break;

    case NGX_HTTP_WEBHOOK_VAR_ACTION:
        s = ev ? &ev->action : NULL;
        break;

    case NGX_HTTP_WEBHOOK_VAR_EVENT_ID:
        if (ev == NULL) {
            s = NULL;
            break;
        }

        /*
         * No id given: the template needs the one subscribers will see in
         * webhook-id, before the store would make it up.  Made here, it
         * reaches the store as if the publisher had given it.
         */

        if (ev->id.len == 0) {
            if (ngx_http_webhook_publish_event_id(r, &ev->id) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        s = &ev->id;
        break;

    case NGX_HTTP_WEBHOOK_VAR_USER:
        s = ev ? &ctx->raw[ctx->current].user : NULL;
        break;

    default: /* NGX_HTTP_WEBHOOK_VAR_RESOURCE */
        s = ev ? &ctx->raw[ctx->current].resource : NULL;
        break;
    }

    if (s == NULL || s->len == 0) {
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


/* "evt_" + 24 hex, as the store makes them */

static ngx_int_t
ngx_http_webhook_publish_event_id(ngx_http_request_t *r, ngx_str_t *id)
{
    u_char  *p;
    u_char   rnd[NGX_HTTP_WEBHOOK_EVENT_ID_BYTES];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "RAND_bytes() failed");
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, sizeof("evt_") - 1 + 2 * sizeof(rnd));
    if (p == NULL) {
        return NGX_ERROR;
    }

    id->data = p;

    p = ngx_cpymem(p, "evt_", sizeof("evt_") - 1);
    p = ngx_hex_dump(p, rnd, sizeof(rnd));

    id->len = p - id->data;

    return NGX_OK;
}
