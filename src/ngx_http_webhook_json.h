
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#ifndef _NGX_HTTP_WEBHOOK_JSON_H_INCLUDED_
#define _NGX_HTTP_WEBHOOK_JSON_H_INCLUDED_


#include "ngx_http_webhook_common.h"

#include <cjson/cJSON.h>


/* nginx 1.22 has no reason phrase for it; see ngx_http_webhook_json_send() */
#define NGX_HTTP_WEBHOOK_UNPROCESSABLE_ENTITY  422

/* "2018-01-04T15:00:58.486Z" */
#define NGX_HTTP_WEBHOOK_JSON_MESSAGE_LEN  512

#define NGX_HTTP_WEBHOOK_JSON_TIME_LEN                                        \
    (sizeof("2018-01-04T15:00:58.486Z") - 1)


/*
 * Starts reading a request body of at most "max" bytes (0: no limit),
 * "handler" being called once it is read; a Content-Length over "max" is
 * answered at once with ngx_http_webhook_json_too_large().  Returns what
 * a content handler returns.
 */
ngx_int_t ngx_http_webhook_json_start_body(ngx_http_request_t *r,
    size_t max, ngx_http_client_body_handler_pt handler);

/*
 * A NUL-terminated message from r->pool, formatted as ngx_vslprintf()
 * does, cut at NGX_HTTP_WEBHOOK_JSON_MESSAGE_LEN bytes; NULL: no memory.
 */
u_char *ngx_http_webhook_json_vmessage(ngx_pool_t *pool, const char *fmt,
    va_list args);

/* 413 payload_too_large, naming "max" */
ngx_int_t ngx_http_webhook_json_too_large(ngx_http_request_t *r, size_t max);

/*
 * Copies the request body, wherever nginx keeps it (memory buffers, a temp
 * file, or both), into one buffer from r->pool with a NUL after its last
 * byte (not counted in text->len).  NGX_DECLINED: the body is larger than
 * "max" bytes (0: no limit).
 */
ngx_int_t ngx_http_webhook_json_read_body(ngx_http_request_t *r, size_t max,
    ngx_str_t *text);

/*
 * Parses "text", which must have a NUL at text->data[text->len], as exactly
 * one JSON value with nothing but white space after it (and no NUL byte
 * anywhere).  The tree is freed with the pool.  NGX_DECLINED: not JSON
 * (or cJSON ran out of memory, which it does not tell apart); NGX_ERROR:
 * no memory for the pool cleanup.
 */
ngx_int_t ngx_http_webhook_json_parse(ngx_pool_t *pool, ngx_str_t *text,
    cJSON **json);

/*
 * cJSON keeps strings NUL-terminated, so a "\u0000" escape silently cuts
 * a string (or a member name) short.  This rewrites every such escape of
 * the text, in place, as "\u001a" (SUB), a control character that field
 * checks then refuse; it returns how many there were.  Text whose bytes
 * must be kept as sent has to be copied first.
 */
ngx_uint_t ngx_http_webhook_json_mark_nul(ngx_str_t *text);

/* 1 if the bytes are well-formed UTF-8 (no overlongs, no surrogates) */
ngx_uint_t ngx_http_webhook_json_utf8_valid(u_char *p, size_t len);

/*
 * JSON string escaping without the quotes: '"' and '\\' get a backslash,
 * control characters (below 0x20, and 0x7f) become \u00XX, everything else
 * ('/' and UTF-8 sequences included) is copied as is.
 */
size_t ngx_http_webhook_json_escape_len(ngx_str_t *s);
u_char *ngx_http_webhook_json_escape(u_char *dst, ngx_str_t *s);

/* [A-Za-z0-9_.:@-]{1,128}: safe in JSON and headers unescaped */
ngx_uint_t ngx_http_webhook_json_tenant_valid(ngx_str_t *tenant);

/* 1 to "max" ASCII letters, digits and characters of "extra" */
ngx_uint_t ngx_http_webhook_json_word(ngx_str_t *s, size_t max, char *extra);

/*
 * A strict scanner of JSON text (RFC 8259), for callers that must keep the
 * sender's bytes: cJSON is more lenient (other control characters as white
 * space, "01", "1.", raw control characters in strings) and re-prints
 * values lossily.  json_space() skips JSON's own white space;
 * json_value() takes "p" at the first byte of a value and returns the
 * byte after it, or NULL if the text there is not one JSON value (nesting
 * deeper than cJSON's limit included).  Neither reads at or past "last".
 */
u_char *ngx_http_webhook_json_space(u_char *p, u_char *last);
u_char *ngx_http_webhook_json_value(u_char *p, u_char *last);

/* unix milliseconds as NGX_HTTP_WEBHOOK_JSON_TIME_LEN bytes, UTC */
u_char *ngx_http_webhook_json_time(u_char *dst, int64_t ms);

/* adds an output header; key and value must outlive the response */
ngx_int_t ngx_http_webhook_json_add_header(ngx_http_request_t *r,
    ngx_str_t *key, ngx_str_t *value);

/*
 * Sends a complete "application/json" response with "body" (not copied:
 * it must live in r->pool or longer) and returns what a content handler
 * returns, for ngx_http_finalize_request().  A request body not read yet
 * is discarded; HEAD gets the headers only; len 0 sends no body.
 */
/*
 * A write to the store may answer later: the request is held around the
 * call (r->main->count keeps it open, r->main->blocked keeps
 * ngx_http_terminate_request() from freeing it while the store has it),
 * and "done" builds the response, at once or from the store's handler.
 */
typedef ngx_int_t (*ngx_http_webhook_json_done_pt)(ngx_http_request_t *r,
    ngx_int_t rc);

void ngx_http_webhook_json_hold(ngx_http_request_t *r);
ngx_int_t ngx_http_webhook_json_held(ngx_http_request_t *r, ngx_int_t rc,
    ngx_http_webhook_json_done_pt done);
void ngx_http_webhook_json_resume(ngx_http_request_t *r, ngx_int_t rc,
    ngx_http_webhook_json_done_pt done);

/*
 * While another nginx owns the state (the old master of a binary upgrade,
 * until it quits), a request is held for up to
 * NGX_HTTP_WEBHOOK_JSON_WAIT_MAX ms, trying to take the state over every
 * NGX_HTTP_WEBHOOK_JSON_WAIT_STEP ms.  NGX_OK: writable now, go on;
 * NGX_DONE: held, and "next" is called later with NGX_OK once writable,
 * or NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE when the wait is over; NGX_ERROR.
 */
#define NGX_HTTP_WEBHOOK_JSON_WAIT_MAX   10000
#define NGX_HTTP_WEBHOOK_JSON_WAIT_STEP  100

ngx_int_t ngx_http_webhook_json_wait_writable(ngx_http_request_t *r,
    ngx_http_webhook_store_t *store, ngx_http_webhook_json_done_pt next);

/*
 * The answers every part gives for a store failure it has no word of its
 * own for: 507 zone_full, 507 storage_full (no room on the disk for the
 * journal), 503 unavailable with Retry-After, else 500.
 */
ngx_int_t ngx_http_webhook_json_store_error(ngx_http_request_t *r,
    ngx_int_t rc);
ngx_int_t ngx_http_webhook_json_internal_error(ngx_http_request_t *r);

ngx_int_t ngx_http_webhook_json_send(ngx_http_request_t *r,
    ngx_uint_t status, u_char *body, size_t len);

/* the same with another Content-Type (webhook_status's Prometheus text) */
ngx_int_t ngx_http_webhook_json_send_as(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, u_char *body, size_t len);

/*
 * Sends {"error":"CODE","message":"MESSAGE","field":"FIELD"}, "field"
 * only when not NULL; message and field are NUL-terminated and escaped.
 */
ngx_int_t ngx_http_webhook_json_error(ngx_http_request_t *r,
    ngx_uint_t status, char *code, char *message, char *field);


#endif /* _NGX_HTTP_WEBHOOK_JSON_H_INCLUDED_ */
