
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "ngx_http_webhook_sign.h"


/*
 * Signing knows nothing of nginx's state: the functions below take
 * strings, write into the caller's buffer and return a length.  Messages
 * made of several parts ("{id}.{timestamp}.{payload}") are fed to the MAC
 * part by part, so a payload is never copied.
 */


#define NGX_HTTP_WEBHOOK_SIGN_PARTS      5


static size_t ngx_http_webhook_sign_hex_part(ngx_str_t *secret,
    ngx_str_t *timestamp, ngx_str_t *payload, u_char *buf);
static ngx_int_t ngx_http_webhook_sign_digest(const EVP_MD *type,
    ngx_str_t *parts, ngx_uint_t n, u_char *md);


static ngx_str_t  ngx_http_webhook_sign_names[] = {
    ngx_string("standard"),
    ngx_string("hex"),
    ngx_string("github"),
    ngx_string("stripe"),
    ngx_string("sha512"),
    ngx_null_string
};

/* set_webhook_signature's data values, by scheme */
static ngx_uint_t  ngx_http_webhook_sign_args[] = { 3, 1, 1, 2, 2 };

static ngx_str_t  ngx_http_webhook_sign_dot = ngx_string(".");


ngx_int_t
ngx_http_webhook_sign_scheme(ngx_str_t *name)
{
    ngx_int_t  i;

    for (i = 0; ngx_http_webhook_sign_names[i].len; i++) {
        if (name->len == ngx_http_webhook_sign_names[i].len
            && ngx_strncmp(name->data, ngx_http_webhook_sign_names[i].data,
                           name->len)
               == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


ngx_uint_t
ngx_http_webhook_sign_nargs(ngx_uint_t scheme)
{
    return ngx_http_webhook_sign_args[scheme];
}


size_t
ngx_http_webhook_sign_len(ngx_uint_t scheme, ngx_http_webhook_sign_data_t *d)
{
    switch (scheme) {

    case NGX_HTTP_WEBHOOK_SIGN_STANDARD:
        return sizeof("v1,") - 1
               + ngx_base64_encoded_length(NGX_HTTP_WEBHOOK_SHA256_LEN);

    case NGX_HTTP_WEBHOOK_SIGN_HEX:
        return 2 * NGX_HTTP_WEBHOOK_SHA256_LEN;

    case NGX_HTTP_WEBHOOK_SIGN_GITHUB:
        return sizeof("sha256=") - 1 + 2 * NGX_HTTP_WEBHOOK_SHA256_LEN;

    case NGX_HTTP_WEBHOOK_SIGN_STRIPE:
        return sizeof("t=,v1=") - 1 + d->timestamp.len
               + 2 * NGX_HTTP_WEBHOOK_SHA256_LEN;

    default: /* NGX_HTTP_WEBHOOK_SIGN_SHA512 */
        return 2 * NGX_HTTP_WEBHOOK_SHA512_LEN;
    }
}


ssize_t
ngx_http_webhook_sign(ngx_uint_t scheme, ngx_str_t *secret,
    ngx_http_webhook_sign_data_t *d, u_char *buf)
{
    switch (scheme) {

    case NGX_HTTP_WEBHOOK_SIGN_STANDARD:
        return ngx_http_webhook_sign_standard(secret, &d->id, &d->timestamp,
                                              &d->payload, buf);

    case NGX_HTTP_WEBHOOK_SIGN_HEX:
        return ngx_http_webhook_sign_hex(secret, &d->payload, buf);

    case NGX_HTTP_WEBHOOK_SIGN_GITHUB:
        return ngx_http_webhook_sign_github(secret, &d->payload, buf);

    case NGX_HTTP_WEBHOOK_SIGN_STRIPE:
        return ngx_http_webhook_sign_stripe(secret, &d->timestamp,
                                            &d->payload, buf);

    case NGX_HTTP_WEBHOOK_SIGN_SHA512:
        return ngx_http_webhook_sign_sha512(secret, &d->url, &d->payload,
                                            buf);

    default:
        return NGX_ERROR;
    }
}


/*
 * Standard Webhooks v1: the key is the base64 decoding of the secret
 * without its optional "whsec_" prefix, as the standardwebhooks libraries
 * take it; an empty or undecodable key is an error, not a signature.
 */

ssize_t
ngx_http_webhook_sign_standard(ngx_str_t *secret, ngx_str_t *id,
    ngx_str_t *timestamp, ngx_str_t *payload, u_char *buf)
{
    u_char     *p;
    ngx_int_t   rc;
    ngx_str_t   src, key, sig, parts[NGX_HTTP_WEBHOOK_SIGN_PARTS];
    u_char      key_buf[NGX_HTTP_WEBHOOK_SIGN_KEY_MAX];
    u_char      md[NGX_HTTP_WEBHOOK_SHA256_LEN];

    key.data = key_buf;

    if (ngx_http_webhook_sign_key(secret, &key) != NGX_OK || key.len == 0) {
        OPENSSL_cleanse(key_buf, sizeof(key_buf));
        return NGX_ERROR;
    }

    parts[0] = *id;
    parts[1] = ngx_http_webhook_sign_dot;
    parts[2] = *timestamp;
    parts[3] = ngx_http_webhook_sign_dot;
    parts[4] = *payload;

    rc = ngx_http_webhook_sign_hmac_sha256(&key, parts, 5, md);

    OPENSSL_cleanse(key_buf, sizeof(key_buf));

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(buf, "v1,", sizeof("v1,") - 1);

    src.data = md;
    src.len = sizeof(md);
    sig.data = p;

    ngx_encode_base64(&sig, &src);

    return p + sig.len - buf;
}


/* hex HMAC-SHA256 keyed with the secret string's bytes as they are */

ssize_t
ngx_http_webhook_sign_hex(ngx_str_t *secret, ngx_str_t *payload, u_char *buf)
{
    size_t  n;

    n = ngx_http_webhook_sign_hex_part(secret, NULL, payload, buf);

    return n ? (ssize_t) n : NGX_ERROR;
}


ssize_t
ngx_http_webhook_sign_github(ngx_str_t *secret, ngx_str_t *payload,
    u_char *buf)
{
    size_t   n;
    u_char  *p;

    p = ngx_cpymem(buf, "sha256=", sizeof("sha256=") - 1);

    n = ngx_http_webhook_sign_hex_part(secret, NULL, payload, p);
    if (n == 0) {
        return NGX_ERROR;
    }

    return p + n - buf;
}


ssize_t
ngx_http_webhook_sign_stripe(ngx_str_t *secret, ngx_str_t *timestamp,
    ngx_str_t *payload, u_char *buf)
{
    size_t   n;
    u_char  *p;

    p = ngx_cpymem(buf, "t=", sizeof("t=") - 1);
    p = ngx_cpymem(p, timestamp->data, timestamp->len);
    p = ngx_cpymem(p, ",v1=", sizeof(",v1=") - 1);

    n = ngx_http_webhook_sign_hex_part(secret, timestamp, payload, p);
    if (n == 0) {
        return NGX_ERROR;
    }

    return p + n - buf;
}


/* a plain hash, not an HMAC: that is what the scheme's receivers check */

ssize_t
ngx_http_webhook_sign_sha512(ngx_str_t *secret, ngx_str_t *url,
    ngx_str_t *payload, u_char *buf)
{
    ngx_str_t  parts[3];
    u_char     md[NGX_HTTP_WEBHOOK_SHA512_LEN];

    parts[0] = *secret;
    parts[1] = *url;
    parts[2] = *payload;

    if (ngx_http_webhook_sign_sha512_digest(parts, 3, md) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_hex_dump(buf, md, sizeof(md)) - buf;
}


ngx_uint_t
ngx_http_webhook_sign_equal(ngx_str_t *a, ngx_str_t *b)
{
    if (a->len != b->len) {
        return 0;
    }

    return CRYPTO_memcmp(a->data, b->data, a->len) == 0;
}


/*
 * Both sides are hashed first, so that neither where they differ nor the
 * length of the secret shows in the time taken.
 */

ngx_uint_t
ngx_http_webhook_sign_token_equal(ngx_str_t *a, ngx_str_t *b)
{
    u_char  da[NGX_HTTP_WEBHOOK_SHA256_LEN], db[NGX_HTTP_WEBHOOK_SHA256_LEN];

    if (ngx_http_webhook_sign_digest(EVP_sha256(), a, 1, da) != NGX_OK
        || ngx_http_webhook_sign_digest(EVP_sha256(), b, 1, db) != NGX_OK)
    {
        return 0;
    }

    return (CRYPTO_memcmp(da, db, sizeof(da)) == 0) & (a->len == b->len);
}


ngx_int_t
ngx_http_webhook_sign_hmac_sha256(ngx_str_t *key, ngx_str_t *parts,
    ngx_uint_t n, u_char *md)
{
    int            ok;
    size_t         len;
    EVP_MAC       *mac;
    ngx_uint_t     i;
    OSSL_PARAM     params[2];
    EVP_MAC_CTX   *ctx;
    static u_char  empty[1];

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        return NGX_ERROR;
    }

    ctx = EVP_MAC_CTX_new(mac);
    if (ctx == NULL) {
        EVP_MAC_free(mac);
        return NGX_ERROR;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    len = 0;

    /* an empty key is a valid HMAC key, but needs a non-NULL pointer */

    ok = EVP_MAC_init(ctx, key->len ? key->data : empty, key->len, params);

    for (i = 0; ok && i < n; i++) {
        if (parts[i].len) {
            ok = EVP_MAC_update(ctx, parts[i].data, parts[i].len);
        }
    }

    if (ok) {
        ok = EVP_MAC_final(ctx, md, &len, NGX_HTTP_WEBHOOK_SHA256_LEN);
    }

    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);

    if (!ok || len != NGX_HTTP_WEBHOOK_SHA256_LEN) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_webhook_sign_sha512_digest(ngx_str_t *parts, ngx_uint_t n,
    u_char *md)
{
    return ngx_http_webhook_sign_digest(EVP_sha512(), parts, n, md);
}


/*
 * Standard Webhooks keys: base64 with an optional "whsec_" prefix.  An
 * empty decoded key is left to the caller: the sender refuses it, the
 * receiver (as it always did) uses it as the empty HMAC key.
 */

ngx_int_t
ngx_http_webhook_sign_key(ngx_str_t *secret, ngx_str_t *key)
{
    ngx_str_t  src;

    src = *secret;

    if (src.len >= sizeof("whsec_") - 1
        && ngx_strncmp(src.data, "whsec_", sizeof("whsec_") - 1) == 0)
    {
        src.data += sizeof("whsec_") - 1;
        src.len -= sizeof("whsec_") - 1;
    }

    if (src.len == 0
        || ngx_base64_decoded_length(src.len) > NGX_HTTP_WEBHOOK_SIGN_KEY_MAX)
    {
        return NGX_ERROR;
    }

    return ngx_decode_base64(key, &src);
}


ngx_int_t
ngx_http_webhook_sign_unhex(u_char *dst, u_char *src, size_t len)
{
    u_char      c, d;
    ngx_uint_t  i;

    for (i = 0; i < len; i++) {
        c = src[i];

        if (c >= '0' && c <= '9') {
            d = c - '0';

        } else {
            c |= 0x20;

            if (c >= 'a' && c <= 'f') {
                d = c - 'a' + 10;

            } else {
                return NGX_ERROR;
            }
        }

        if (i % 2 == 0) {
            dst[i / 2] = (u_char) (d << 4);

        } else {
            dst[i / 2] |= d;
        }
    }

    return NGX_OK;
}


/* hex HMAC-SHA256(secret, ["{timestamp}."] payload); 0 on failure */

static size_t
ngx_http_webhook_sign_hex_part(ngx_str_t *secret, ngx_str_t *timestamp,
    ngx_str_t *payload, u_char *buf)
{
    ngx_uint_t  n;
    ngx_str_t   parts[3];
    u_char      md[NGX_HTTP_WEBHOOK_SHA256_LEN];

    n = 0;

    if (timestamp) {
        parts[n++] = *timestamp;
        parts[n++] = ngx_http_webhook_sign_dot;
    }

    parts[n++] = *payload;

    if (ngx_http_webhook_sign_hmac_sha256(secret, parts, n, md) != NGX_OK) {
        return 0;
    }

    return ngx_hex_dump(buf, md, sizeof(md)) - buf;
}



static ngx_int_t
ngx_http_webhook_sign_digest(const EVP_MD *type, ngx_str_t *parts,
    ngx_uint_t n, u_char *md)
{
    int          ok;
    ngx_uint_t   i;
    EVP_MD_CTX  *ctx;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ok = EVP_DigestInit_ex(ctx, type, NULL);

    for (i = 0; ok && i < n; i++) {
        if (parts[i].len) {
            ok = EVP_DigestUpdate(ctx, parts[i].data, parts[i].len);
        }
    }

    if (ok) {
        ok = EVP_DigestFinal_ex(ctx, md, NULL);
    }

    EVP_MD_CTX_free(ctx);

    return ok ? NGX_OK : NGX_ERROR;
}
