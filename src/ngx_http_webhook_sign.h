
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#ifndef _NGX_HTTP_WEBHOOK_SIGN_H_INCLUDED_
#define _NGX_HTTP_WEBHOOK_SIGN_H_INCLUDED_


#include "ngx_http_webhook_common.h"


/*
 * Signature schemes (DESIGN §5).  Pure functions: each writes into a
 * buffer of the caller's, of at least ngx_http_webhook_sign_len() bytes,
 * and returns the length written, or NGX_ERROR (a "standard" secret
 * that does not decode, or OpenSSL failing).
 */

#define NGX_HTTP_WEBHOOK_SIGN_STANDARD   0
#define NGX_HTTP_WEBHOOK_SIGN_HEX        1
#define NGX_HTTP_WEBHOOK_SIGN_GITHUB     2
#define NGX_HTTP_WEBHOOK_SIGN_STRIPE     3
#define NGX_HTTP_WEBHOOK_SIGN_SHA512     4

/* the longest decoded "standard" key accepted */
#define NGX_HTTP_WEBHOOK_SIGN_KEY_MAX    1024


/* what a scheme signs; a scheme ignores the fields it does not use */
typedef struct {
    ngx_str_t                   id;
    ngx_str_t                   timestamp;
    ngx_str_t                   url;
    ngx_str_t                   payload;
} ngx_http_webhook_sign_data_t;


/* NGX_HTTP_WEBHOOK_SIGN_* by name, NGX_ERROR if unknown */
ngx_int_t ngx_http_webhook_sign_scheme(ngx_str_t *name);

/* how many data values set_webhook_signature takes for "scheme" */
ngx_uint_t ngx_http_webhook_sign_nargs(ngx_uint_t scheme);

/* the buffer "scheme" needs for "d" */
size_t ngx_http_webhook_sign_len(ngx_uint_t scheme,
    ngx_http_webhook_sign_data_t *d);

ssize_t ngx_http_webhook_sign(ngx_uint_t scheme, ngx_str_t *secret,
    ngx_http_webhook_sign_data_t *d, u_char *buf);

ssize_t ngx_http_webhook_sign_standard(ngx_str_t *secret, ngx_str_t *id,
    ngx_str_t *timestamp, ngx_str_t *payload, u_char *buf);
ssize_t ngx_http_webhook_sign_hex(ngx_str_t *secret, ngx_str_t *payload,
    u_char *buf);
ssize_t ngx_http_webhook_sign_github(ngx_str_t *secret, ngx_str_t *payload,
    u_char *buf);
ssize_t ngx_http_webhook_sign_stripe(ngx_str_t *secret,
    ngx_str_t *timestamp, ngx_str_t *payload, u_char *buf);
ssize_t ngx_http_webhook_sign_sha512(ngx_str_t *secret, ngx_str_t *url,
    ngx_str_t *payload, u_char *buf);

/* constant time for equal lengths: 1 if "a" and "b" are equal */
ngx_uint_t ngx_http_webhook_sign_equal(ngx_str_t *a, ngx_str_t *b);


#endif /* _NGX_HTTP_WEBHOOK_SIGN_H_INCLUDED_ */
