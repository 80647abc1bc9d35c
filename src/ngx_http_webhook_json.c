
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_webhook_json.h"
#include "ngx_http_webhook_store.h"


/* 9999-12-31T23:59:59.999Z: the year keeps its four digits */
#define NGX_HTTP_WEBHOOK_JSON_TIME_MAX  ((int64_t) 253402300799999LL)

/* as deep as cJSON goes: what one accepts, the other does */
#define NGX_HTTP_WEBHOOK_JSON_DEPTH     CJSON_NESTING_LIMIT


/* a request waiting for the state: ngx_http_webhook_json_wait_writable() */
typedef struct {
    ngx_event_t                     event;
    ngx_http_request_t             *request;
    ngx_http_webhook_store_t       *store;
    ngx_http_webhook_json_done_pt   next;
    ngx_msec_t                      start;
} ngx_http_webhook_json_wait_t;


static void ngx_http_webhook_json_cleanup(void *data);
static void ngx_http_webhook_json_wait_handler(ngx_event_t *ev);
static u_char *ngx_http_webhook_json_name(u_char *p, u_char *last);
static u_char *ngx_http_webhook_json_string(u_char *p, u_char *last);
static u_char *ngx_http_webhook_json_number(u_char *p, u_char *last);
static u_char *ngx_http_webhook_json_literal(u_char *p, u_char *last,
    char *literal, size_t len);


ngx_int_t
ngx_http_webhook_json_start_body(ngx_http_request_t *r, size_t max,
    ngx_http_client_body_handler_pt handler)
{
    ngx_int_t  rc;

    if (max && r->headers_in.content_length_n > (off_t) max) {

        /* as nginx does for its own 413: do not wait for the body */
        r->keepalive = 0;

        return ngx_http_webhook_json_too_large(r, max);
    }

    rc = ngx_http_read_client_request_body(r, handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


u_char *
ngx_http_webhook_json_vmessage(ngx_pool_t *pool, const char *fmt,
    va_list args)
{
    u_char  *p, *message;
    u_char   buf[NGX_HTTP_WEBHOOK_JSON_MESSAGE_LEN];

    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);

    message = ngx_pnalloc(pool, p - buf + 1);
    if (message == NULL) {
        return NULL;
    }

    *ngx_cpymem(message, buf, p - buf) = '\0';

    return message;
}


ngx_int_t
ngx_http_webhook_json_too_large(ngx_http_request_t *r, size_t max)
{
    u_char  *message, *p;

    message = ngx_pnalloc(r->pool, sizeof("the request body is larger than "
                                          " bytes") + NGX_SIZE_T_LEN);
    if (message == NULL) {
        return ngx_http_webhook_json_internal_error(r);
    }

    p = ngx_sprintf(message, "the request body is larger than %uz bytes",
                    max);
    *p = '\0';

    return ngx_http_webhook_json_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "payload_too_large", (char *) message,
                                       NULL);
}


ngx_int_t
ngx_http_webhook_json_read_body(ngx_http_request_t *r, size_t max,
    ngx_str_t *text)
{
    off_t         size;
    u_char       *p;
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    size = 0;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            size += ngx_buf_size(cl->buf);
        }
    }

    if ((max && size > (off_t) max)
        || (uint64_t) size >= (uint64_t) NGX_MAX_SIZE_T_VALUE)
    {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, (size_t) size + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    text->data = p;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;

            if (ngx_buf_in_memory(b)) {
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
                continue;
            }

            if (!b->in_file || b->file_last <= b->file_pos) {
                continue;
            }

            len = (size_t) (b->file_last - b->file_pos);

            n = ngx_read_file(b->file, p, len, b->file_pos);

            if (n == NGX_ERROR) {
                return NGX_ERROR;
            }

            if ((size_t) n != len) {
                ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                              ngx_read_file_n " read only %z of %uz "
                              "from \"%V\"", n, len, &b->file->name);
                return NGX_ERROR;
            }

            p += n;
        }
    }

    *p = '\0';
    text->len = p - text->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_webhook_json_parse(ngx_pool_t *pool, ngx_str_t *text, cJSON **json)
{
    cJSON               *root;
    ngx_pool_cleanup_t  *cln;

    /*
     * A NUL byte is never valid JSON text, but cJSON would skip it as
     * white space between tokens and cut a string short at it.
     */

    if (ngx_strlchr(text->data, text->data + text->len, '\0')) {
        return NGX_DECLINED;
    }

    /* added first: once the tree exists, nothing may fail before it */

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    /*
     * The length counts the terminating NUL: that is how cJSON's
     * require_null_terminated check finds the end of the text.
     */

    root = cJSON_ParseWithLengthOpts((const char *) text->data, text->len + 1,
                                     NULL, 1);
    if (root == NULL) {
        return NGX_DECLINED;
    }

    cln->handler = ngx_http_webhook_json_cleanup;
    cln->data = root;

    *json = root;

    return NGX_OK;
}


static void
ngx_http_webhook_json_cleanup(void *data)
{
    cJSON_Delete(data);
}


ngx_uint_t
ngx_http_webhook_json_mark_nul(ngx_str_t *text)
{
    u_char      *p, *q, *last;
    ngx_uint_t   n;

    n = 0;
    p = text->data;
    last = p + text->len;

    while (p < last) {

        if (*p != '\\') {
            p++;
            continue;
        }

        /*
         * In valid JSON a backslash occurs only inside strings; of a run
         * of them, pairs are escaped backslashes, and an odd one out
         * escapes the character after the run.
         */

        for (q = p; q < last && *q == '\\'; q++) { /* void */ }

        if (((q - p) & 1)
            && last - q >= 5
            && ngx_strncmp(q, "u0000", 5) == 0)
        {
            q[3] = '1';
            q[4] = 'a';
            n++;
        }

        p = q;
    }

    return n;
}


ngx_uint_t
ngx_http_webhook_json_utf8_valid(u_char *p, size_t len)
{
    u_char      c, lo, hi;
    u_char     *last;
    ngx_uint_t  n;

    last = p + len;

    while (p < last) {
        c = *p++;

        if (c < 0x80) {
            continue;
        }

        lo = 0x80;
        hi = 0xbf;

        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;

            if (c == 0xe0) {
                lo = 0xa0;                      /* overlong */

            } else if (c == 0xed) {
                hi = 0x9f;                      /* surrogates */
            }

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;

            if (c == 0xf0) {
                lo = 0x90;                      /* overlong */

            } else if (c == 0xf4) {
                hi = 0x8f;                      /* above U+10FFFF */
            }

        } else {
            return 0;
        }

        if ((size_t) (last - p) < n || *p < lo || *p > hi) {
            return 0;
        }

        p++;

        while (--n) {
            if (*p < 0x80 || *p > 0xbf) {
                return 0;
            }

            p++;
        }
    }

    return 1;
}


size_t
ngx_http_webhook_json_escape_len(ngx_str_t *s)
{
    size_t   len;
    u_char  *p, *last;

    len = s->len;
    last = s->data + s->len;

    for (p = s->data; p < last; p++) {

        if (*p == '"' || *p == '\\') {
            len++;

        } else if (*p < 0x20 || *p == 0x7f) {
            len += sizeof("\\u0000") - 2;
        }
    }

    return len;
}


u_char *
ngx_http_webhook_json_escape(u_char *dst, ngx_str_t *s)
{
    u_char         c, *p, *last;
    static u_char  hex[] = "0123456789abcdef";

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        c = *p;

        if (c == '"' || c == '\\') {
            *dst++ = '\\';
            *dst++ = c;

        } else if (c < 0x20 || c == 0x7f) {
            *dst++ = '\\';
            *dst++ = 'u';
            *dst++ = '0';
            *dst++ = '0';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 0xf];

        } else {
            *dst++ = c;
        }
    }

    return dst;
}


ngx_uint_t
ngx_http_webhook_json_tenant_valid(ngx_str_t *tenant)
{
    return ngx_http_webhook_json_word(tenant, NGX_HTTP_WEBHOOK_TENANT_MAX,
                                      "_.:@-");
}


ngx_uint_t
ngx_http_webhook_json_word(ngx_str_t *s, size_t max, char *extra)
{
    u_char  c, *p, *last;

    if (s->len == 0 || s->len > max) {
        return 0;
    }

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        c = *p;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || (c && ngx_strchr(extra, c)))
        {
            continue;
        }

        return 0;
    }

    return 1;
}


u_char *
ngx_http_webhook_json_space(u_char *p, u_char *last)
{
    while (p < last
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


/*
 * Iterative, so that deep nesting costs no stack: one bit per open
 * container tells an object (1) from an array (0).
 */

u_char *
ngx_http_webhook_json_value(u_char *p, u_char *last)
{
    u_char      open;
    uint64_t    bit, objects[(NGX_HTTP_WEBHOOK_JSON_DEPTH + 63) / 64];
    ngx_uint_t  depth, object;

    depth = 0;

    for ( ;; ) {

        /* p is at the first byte of a value */

        if (p >= last) {
            return NULL;
        }

        switch (*p) {

        case '{':
        case '[':
            if (depth == NGX_HTTP_WEBHOOK_JSON_DEPTH) {
                return NULL;
            }

            open = *p;
            bit = (uint64_t) 1 << (depth % 64);

            if (open == '{') {
                objects[depth / 64] |= bit;

            } else {
                objects[depth / 64] &= ~bit;
            }

            depth++;

            p = ngx_http_webhook_json_space(p + 1, last);

            if (p < last && *p == (open == '{' ? '}' : ']')) {
                p++;
                depth--;
                break;
            }

            if (open == '{') {
                p = ngx_http_webhook_json_name(p, last);
                if (p == NULL) {
                    return NULL;
                }
            }

            /* the first member's or element's value */
            continue;

        case '"':
            p = ngx_http_webhook_json_string(p, last);
            break;

        case 't':
            p = ngx_http_webhook_json_literal(p, last, "true", 4);
            break;

        case 'f':
            p = ngx_http_webhook_json_literal(p, last, "false", 5);
            break;

        case 'n':
            p = ngx_http_webhook_json_literal(p, last, "null", 4);
            break;

        default:
            p = ngx_http_webhook_json_number(p, last);
            break;
        }

        if (p == NULL) {
            return NULL;
        }

        /* a value ended: close containers until another value follows */

        for ( ;; ) {

            if (depth == 0) {
                return p;
            }

            p = ngx_http_webhook_json_space(p, last);

            if (p >= last) {
                return NULL;
            }

            object = (objects[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1;

            if (*p == ',') {
                p = ngx_http_webhook_json_space(p + 1, last);

                if (object) {
                    p = ngx_http_webhook_json_name(p, last);
                    if (p == NULL) {
                        return NULL;
                    }
                }

                break;
            }

            if (*p != (object ? '}' : ']')) {
                return NULL;
            }

            p++;
            depth--;
        }
    }
}


/* a member's name and its colon: returns the start of its value */

static u_char *
ngx_http_webhook_json_name(u_char *p, u_char *last)
{
    if (p >= last || *p != '"') {
        return NULL;
    }

    p = ngx_http_webhook_json_string(p, last);
    if (p == NULL) {
        return NULL;
    }

    p = ngx_http_webhook_json_space(p, last);

    if (p >= last || *p != ':') {
        return NULL;
    }

    return ngx_http_webhook_json_space(p + 1, last);
}


static u_char *
ngx_http_webhook_json_string(u_char *p, u_char *last)
{
    u_char      c;
    ngx_uint_t  i;

    /* the opening quote */
    p++;

    while (p < last) {
        c = *p++;

        if (c == '"') {
            return p;
        }

        if (c < 0x20) {
            return NULL;
        }

        if (c != '\\') {
            continue;
        }

        if (p >= last) {
            return NULL;
        }

        c = *p++;

        switch (c) {

        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            break;

        case 'u':
            if (last - p < 4) {
                return NULL;
            }

            for (i = 0; i < 4; i++) {
                c = p[i];

                if (!((c >= '0' && c <= '9')
                      || (c >= 'a' && c <= 'f')
                      || (c >= 'A' && c <= 'F')))
                {
                    return NULL;
                }
            }

            p += 4;
            break;

        default:
            return NULL;
        }
    }

    return NULL;
}


/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */

static u_char *
ngx_http_webhook_json_number(u_char *p, u_char *last)
{
    u_char  *start;

    if (p < last && *p == '-') {
        p++;
    }

    if (p >= last || *p < '0' || *p > '9') {
        return NULL;
    }

    if (*p++ != '0') {
        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < last && *p == '.') {
        start = ++p;

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }

        if (p == start) {
            return NULL;
        }
    }

    if (p < last && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < last && (*p == '+' || *p == '-')) {
            p++;
        }

        start = p;

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }

        if (p == start) {
            return NULL;
        }
    }

    return p;
}


static u_char *
ngx_http_webhook_json_literal(u_char *p, u_char *last, char *literal,
    size_t len)
{
    if ((size_t) (last - p) < len || ngx_strncmp(p, literal, len) != 0) {
        return NULL;
    }

    return p + len;
}


u_char *
ngx_http_webhook_json_time(u_char *dst, int64_t ms)
{
    ngx_tm_t  tm;

    if (ms < 0) {
        ms = 0;

    } else if (ms > NGX_HTTP_WEBHOOK_JSON_TIME_MAX) {
        ms = NGX_HTTP_WEBHOOK_JSON_TIME_MAX;
    }

    ngx_gmtime((time_t) (ms / 1000), &tm);

    /* "%4d-%02d-%02dT%02d:%02d:%02d.%03dZ", without ngx_sprintf()'s cost */

#define ngx_http_webhook_json_2d(v)                                           \
    *dst++ = (u_char) ('0' + (v) / 10);                                       \
    *dst++ = (u_char) ('0' + (v) % 10)

    ngx_http_webhook_json_2d(tm.ngx_tm_year / 100);
    ngx_http_webhook_json_2d(tm.ngx_tm_year % 100);
    *dst++ = '-';
    ngx_http_webhook_json_2d(tm.ngx_tm_mon);
    *dst++ = '-';
    ngx_http_webhook_json_2d(tm.ngx_tm_mday);
    *dst++ = 'T';
    ngx_http_webhook_json_2d(tm.ngx_tm_hour);
    *dst++ = ':';
    ngx_http_webhook_json_2d(tm.ngx_tm_min);
    *dst++ = ':';
    ngx_http_webhook_json_2d(tm.ngx_tm_sec);
    *dst++ = '.';
    ms %= 1000;
    *dst++ = (u_char) ('0' + ms / 100);
    ngx_http_webhook_json_2d(ms % 100);
    *dst++ = 'Z';

#undef ngx_http_webhook_json_2d

    return dst;
}


ngx_int_t
ngx_http_webhook_json_add_header(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->lowcase_key = ngx_pnalloc(r->pool, key->len);
    if (h->lowcase_key == NULL) {
        h->hash = 0;
        return NGX_ERROR;
    }

    ngx_strlow(h->lowcase_key, key->data, key->len);

    h->hash = 1;
    h->key = *key;
    h->value = *value;

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


void
ngx_http_webhook_json_hold(ngx_http_request_t *r)
{
    r->main->count++;
    r->main->blocked++;
}


/* after the store call: NGX_DONE while the store still has the request */

ngx_int_t
ngx_http_webhook_json_held(ngx_http_request_t *r, ngx_int_t rc,
    ngx_http_webhook_json_done_pt done)
{
    if (rc == NGX_AGAIN) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "webhook: waiting for the store");

        return NGX_DONE;
    }

    r->main->blocked--;
    r->main->count--;

    return done(r, rc);
}


/* from the store's handler: the answer it was waiting for */

void
ngx_http_webhook_json_resume(ngx_http_request_t *r, ngx_int_t rc,
    ngx_http_webhook_json_done_pt done)
{
    ngx_connection_t  *c;

    c = r->connection;

    r->main->blocked--;

    ngx_http_set_log_request(c->log, r);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "webhook: store done: %i", rc);

    if (c->error) {
        /* terminated while waiting: now it may go */
        ngx_http_finalize_request(r, NGX_ERROR);

    } else {
        ngx_http_finalize_request(r, done(r, rc));
    }

    ngx_http_run_posted_requests(c);
}


ngx_int_t
ngx_http_webhook_json_wait_writable(ngx_http_request_t *r,
    ngx_http_webhook_store_t *store, ngx_http_webhook_json_done_pt next)
{
    ngx_http_webhook_json_wait_t  *w;

    if (ngx_http_webhook_store_writable(store) == NGX_OK) {
        return NGX_OK;
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_webhook_json_wait_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->request = r;
    w->store = store;
    w->next = next;
    w->start = ngx_current_msec;

    /* not cancelable: the request gets its answer within the wait */

    w->event.handler = ngx_http_webhook_json_wait_handler;
    w->event.data = w;
    w->event.log = r->connection->log;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "webhook: state owned by another nginx, waiting");

    ngx_http_webhook_json_hold(r);

    ngx_add_timer(&w->event, NGX_HTTP_WEBHOOK_JSON_WAIT_STEP);

    return NGX_DONE;
}


static void
ngx_http_webhook_json_wait_handler(ngx_event_t *ev)
{
    ngx_http_webhook_json_wait_t *w = ev->data;

    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = w->request;

    rc = ngx_http_webhook_store_take_over(w->store, ev->log);

    if (rc != NGX_OK) {
        if (ngx_current_msec - w->start < NGX_HTTP_WEBHOOK_JSON_WAIT_MAX
            && !r->connection->error)
        {
            ngx_add_timer(ev, NGX_HTTP_WEBHOOK_JSON_WAIT_STEP);
            return;
        }

        rc = NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE;
    }

    ngx_http_webhook_json_resume(r, rc, w->next);
}


ngx_int_t
ngx_http_webhook_json_store_error(ngx_http_request_t *r, ngx_int_t rc)
{
    static ngx_str_t  retry_after = ngx_string("Retry-After");
    static ngx_str_t  one = ngx_string("1");

    switch (rc) {

    case NGX_HTTP_WEBHOOK_STORE_FULL:
        return ngx_http_webhook_json_error(r, NGX_HTTP_INSUFFICIENT_STORAGE,
                                           "zone_full",
                                           "the webhook zone is full", NULL);

    case NGX_HTTP_WEBHOOK_STORE_DISK_FULL:
        return ngx_http_webhook_json_error(r, NGX_HTTP_INSUFFICIENT_STORAGE,
                                           "storage_full",
                                           "no room left on the disk of the "
                                           "webhook state", NULL);

    case NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE:
        if (ngx_http_webhook_json_add_header(r, &retry_after, &one)
            != NGX_OK)
        {
            return ngx_http_webhook_json_internal_error(r);
        }

        return ngx_http_webhook_json_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                           "unavailable",
                                           "the webhook state is not "
                                           "writable now, retry later", NULL);

    default:
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "webhook: store failed: %i", rc);

        return ngx_http_webhook_json_internal_error(r);
    }
}


/* our own failures (no memory, no randomness) get a JSON 500 too */

ngx_int_t
ngx_http_webhook_json_internal_error(ngx_http_request_t *r)
{
    return ngx_http_webhook_json_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "internal_error", "internal error",
                                       NULL);
}


ngx_int_t
ngx_http_webhook_json_send(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len)
{
    static ngx_str_t  type = ngx_string("application/json");

    return ngx_http_webhook_json_send_as(r, status, &type, body, len);
}


ngx_int_t
ngx_http_webhook_json_send_as(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    r->headers_out.status = status;

    if (status == NGX_HTTP_WEBHOOK_UNPROCESSABLE_ENTITY) {
        /* else the status line would go out without a reason phrase */
        ngx_str_set(&r->headers_out.status_line, "422 Unprocessable Entity");
    }

    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_lowcase = NULL;

    r->headers_out.content_length_n = len;

    if (len == 0 || r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_webhook_json_error(ngx_http_request_t *r, ngx_uint_t status,
    char *code, char *message, char *field)
{
    size_t     len;
    u_char    *body, *p;
    ngx_str_t  c, m, f;

    c.data = (u_char *) code;
    c.len = ngx_strlen(code);

    m.data = (u_char *) (message ? message : "");
    m.len = ngx_strlen(m.data);

    len = sizeof("{\"error\":\"\",\"message\":\"\"}") - 1
          + ngx_http_webhook_json_escape_len(&c)
          + ngx_http_webhook_json_escape_len(&m);

    if (field) {
        f.data = (u_char *) field;
        f.len = ngx_strlen(field);

        len += sizeof(",\"field\":\"\"") - 1
               + ngx_http_webhook_json_escape_len(&f);

    } else {
        ngx_str_null(&f);
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = ngx_http_webhook_json_escape(p, &c);
    p = ngx_cpymem(p, "\",\"message\":\"", sizeof("\",\"message\":\"") - 1);
    p = ngx_http_webhook_json_escape(p, &m);
    *p++ = '"';

    if (field) {
        p = ngx_cpymem(p, ",\"field\":\"", sizeof(",\"field\":\"") - 1);
        p = ngx_http_webhook_json_escape(p, &f);
        *p++ = '"';
    }

    *p++ = '}';

    return ngx_http_webhook_json_send(r, status, body, p - body);
}
