
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

#define NGX_HTTP_WEBHOOK_SHA256_LEN      32
#define NGX_HTTP_WEBHOOK_SHA512_LEN      64


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

/* 1 if "a" and "b" are equal; compares hashes, for lengths that differ */
ngx_uint_t ngx_http_webhook_sign_token_equal(ngx_str_t *a, ngx_str_t *b);

/*
 * The primitives the schemes are made of, for the receiver.  "md" is a
 * buffer of NGX_HTTP_WEBHOOK_SHA256_LEN or NGX_HTTP_WEBHOOK_SHA512_LEN
 * bytes; the message is the concatenation of "n" parts.
 */

ngx_int_t ngx_http_webhook_sign_hmac_sha256(ngx_str_t *key,
    ngx_str_t *parts, ngx_uint_t n, u_char *md);
ngx_int_t ngx_http_webhook_sign_sha512_digest(ngx_str_t *parts,
    ngx_uint_t n, u_char *md);

/*
 * the HMAC key of a "standard" secret, into key->data, a buffer of
 * NGX_HTTP_WEBHOOK_SIGN_KEY_MAX bytes; NGX_ERROR if it does not decode
 */
ngx_int_t ngx_http_webhook_sign_key(ngx_str_t *secret, ngx_str_t *key);

/* "len" hex digits, either case, into len / 2 bytes; NGX_ERROR if not */
ngx_int_t ngx_http_webhook_sign_unhex(u_char *dst, u_char *src, size_t len);


#endif /* _NGX_HTTP_WEBHOOK_SIGN_H_INCLUDED_ */
