
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


/*
 * The receiver's parsing of signature headers: webhook-* and svix-*
 * (standard), Stripe-Signature, X-Hub-Signature-256, a hex header,
 * Vello-Signature and a token header, through
 * ngx_http_webhook_verify_check() with the request's headers and body.
 *
 * Input: byte 0 the scheme, byte 1 flags; then, separated by '\n' (which
 * no header value can hold), up to three header values, the secret, and
 * the body (the rest).  With flag 0x01 the harness signs the request
 * itself with the sign part (as a delivery would be signed) and adds that
 * signature beside the fuzzed ones: the check must then pass.  Otherwise
 * any outcome is fine, but it must be one of OK, DECLINED with one of the
 * documented reasons, and nothing may be read out of bounds.
 */

#include "../src/ngx_http_webhook_verify.c"

#include "fuzz.h"


#define FUZZ_VERIFY_SIGN      0x01
#define FUZZ_VERIFY_SVIX      0x02
#define FUZZ_VERIFY_SECRETS   0x04


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static ngx_int_t fuzz_verify_sign(ngx_http_request_t *r,
    ngx_http_webhook_verify_conf_t *vcf, ngx_str_t *parts, ngx_uint_t flags,
    ngx_str_t *url);
static ngx_int_t fuzz_verify_header(ngx_http_request_t *r, char *name,
    ngx_str_t *a, ngx_str_t *b);


static char  *fuzz_verify_names[] = {
    NULL, "x-hub-signature-256", "stripe-signature", "x-signature",
    "vello-signature", "x-token"
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                            *err, *s;
    ngx_int_t                        rc, expect;
    ngx_str_t                        parts[5], url;
    ngx_uint_t                       flags, n, i;
    ngx_pool_t                      *pool;
    ngx_http_request_t              *r;
    ngx_http_complex_value_t        *cv;
    ngx_http_webhook_verify_conf_t  *vcf;
    static char                     *reasons[] = {
        "missing_header", "bad_format", "timestamp_out_of_tolerance",
        "mismatch", NULL
    };

    fuzz_init(NGX_LOG_ALERT);

    if (size < 2) {
        return 0;
    }

    ngx_time_update();

    flags = data[1];

    pool = ngx_create_pool(4096, &fuzz_log);
    if (pool == NULL) {
        fuzz_fail("no memory");
    }

    ngx_memzero(parts, sizeof(parts));

    n = fuzz_split((u_char *) data + 2, size - 2, '\n', parts, 5);

    r = fuzz_request(pool, fuzz_loc_conf(pool), parts[4].data, parts[4].len);

    vcf = ngx_pcalloc(pool, sizeof(ngx_http_webhook_verify_conf_t));
    if (vcf == NULL) {
        fuzz_fail("no memory");
    }

    vcf->scheme = data[0] % 6;
    vcf->tolerance = NGX_HTTP_WEBHOOK_VERIFY_TOLERANCE;
    ngx_str_set(&url, "https://a.example/incoming?x=1");
    vcf->url = fuzz_constant(pool, (char *) url.data);

    if (fuzz_verify_names[vcf->scheme]) {
        vcf->header.data = (u_char *) fuzz_verify_names[vcf->scheme];
        vcf->header.len = ngx_strlen(fuzz_verify_names[vcf->scheme]);
    }

    /* the secret, and with flag 0x04 a rotated-out one before it */

    vcf->secrets = ngx_array_create(pool, 2, sizeof(ngx_http_complex_value_t));
    if (vcf->secrets == NULL) {
        fuzz_fail("no memory");
    }

    if (flags & FUZZ_VERIFY_SECRETS) {
        cv = ngx_array_push(vcf->secrets);
        if (cv == NULL) {
            fuzz_fail("no memory");
        }

        ngx_memzero(cv, sizeof(ngx_http_complex_value_t));
        ngx_str_set(&cv->value, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    }

    cv = ngx_array_push(vcf->secrets);
    if (cv == NULL) {
        fuzz_fail("no memory");
    }

    ngx_memzero(cv, sizeof(ngx_http_complex_value_t));
    cv->value = parts[3];

    expect = NGX_DECLINED;

    if ((flags & FUZZ_VERIFY_SIGN) && n >= 4) {
        expect = fuzz_verify_sign(r, vcf, parts, flags, &url);

    } else if (vcf->scheme == NGX_HTTP_WEBHOOK_VERIFY_STANDARD) {
        s = (flags & FUZZ_VERIFY_SVIX) ? "svix-" : "webhook-";

        if ((n > 0 && fuzz_verify_header(r, s[0] == 's' ? "svix-id"
                                                        : "webhook-id",
                                         &parts[0], NULL) != NGX_OK)
            || (n > 1 && fuzz_verify_header(r, s[0] == 's' ? "svix-timestamp"
                                                      : "webhook-timestamp",
                                            &parts[1], NULL) != NGX_OK)
            || (n > 2 && fuzz_verify_header(r, s[0] == 's' ? "svix-signature"
                                                      : "webhook-signature",
                                            &parts[2], NULL) != NGX_OK))
        {
            fuzz_fail("no memory");
        }

    } else if (n > 0) {
        if (fuzz_verify_header(r, (char *) vcf->header.data, &parts[0],
                               NULL)
            != NGX_OK)
        {
            fuzz_fail("no memory");
        }
    }

    err = NULL;

    rc = ngx_http_webhook_verify_check(r, vcf, &err);

    if (getenv("FUZZ_VERBOSE")) {
        ngx_log_stderr(0, "verify: scheme %ui rc %i err %s expect %i",
                       vcf->scheme, rc, err ? err : "-", expect);
    }

    if (rc == NGX_DECLINED) {
        for (i = 0; reasons[i]; i++) {
            if (err && ngx_strcmp(err, reasons[i]) == 0) {
                break;
            }
        }

        if (reasons[i] == NULL) {
            fuzz_fail("declined without a documented reason");
        }

    } else if (rc != NGX_OK) {
        fuzz_fail("verify check returned %i", rc);
    }

    if (expect == NGX_OK && rc != NGX_OK) {
        fuzz_fail("scheme %ui: a request signed as deliveries are signed "
                  "was refused: %s", vcf->scheme, err);
    }

    ngx_destroy_pool(pool);

    return 0;
}


/*
 * Adds the headers of a correctly signed request (the fuzzed values
 * beside the right signature).  NGX_OK: the check must pass.
 */

static ngx_int_t
fuzz_verify_sign(ngx_http_request_t *r, ngx_http_webhook_verify_conf_t *vcf,
    ngx_str_t *parts, ngx_uint_t flags, ngx_str_t *url)
{
    u_char                        *p;
    ssize_t                        n;
    ngx_str_t                      sig, sep, id;
    ngx_uint_t                     scheme;
    ngx_http_webhook_sign_data_t   d;
    u_char                         ts[NGX_TIME_T_LEN];
    u_char                         buf[512];

    ngx_memzero(&d, sizeof(ngx_http_webhook_sign_data_t));

    d.timestamp.data = ts;
    d.timestamp.len = ngx_sprintf(ts, "%T", ngx_time()) - ts;
    d.payload = parts[4];
    d.url = *url;

    /* a header value is never empty here: nginx keeps such a header */

    id = parts[0];

    if (id.len == 0) {
        ngx_str_set(&id, "msg_1");
    }

    d.id = id;

    switch (vcf->scheme) {
    case NGX_HTTP_WEBHOOK_VERIFY_STANDARD:
        scheme = NGX_HTTP_WEBHOOK_SIGN_STANDARD;
        break;
    case NGX_HTTP_WEBHOOK_VERIFY_GITHUB:
        scheme = NGX_HTTP_WEBHOOK_SIGN_GITHUB;
        break;
    case NGX_HTTP_WEBHOOK_VERIFY_STRIPE:
        scheme = NGX_HTTP_WEBHOOK_SIGN_STRIPE;
        break;
    case NGX_HTTP_WEBHOOK_VERIFY_HEX:
        scheme = NGX_HTTP_WEBHOOK_SIGN_HEX;
        break;
    case NGX_HTTP_WEBHOOK_VERIFY_SHA512:
        scheme = NGX_HTTP_WEBHOOK_SIGN_SHA512;
        break;
    default: /* NGX_HTTP_WEBHOOK_VERIFY_TOKEN */
        if (parts[3].len == 0) {
            return NGX_DECLINED;
        }

        return fuzz_verify_header(r, (char *) vcf->header.data, &parts[3],
                                  NULL) == NGX_OK ? NGX_OK : NGX_ERROR;
    }

    if (parts[3].len == 0
        || ngx_http_webhook_sign_len(scheme, &d) > sizeof(buf))
    {
        return NGX_DECLINED;
    }

    n = ngx_http_webhook_sign(scheme, &parts[3], &d, buf);
    if (n <= 0) {
        return NGX_DECLINED;
    }

    sig.data = buf;
    sig.len = n;

    switch (vcf->scheme) {

    case NGX_HTTP_WEBHOOK_VERIFY_STANDARD:

        /* the fuzzed entries first: at most 8 are looked at */

        p = parts[2].data;
        sep.len = 0;

        if (parts[2].len && ngx_strlchr(p, p + parts[2].len, ' ') == NULL) {
            sep = parts[2];
        }

        if (fuzz_verify_header(r, (flags & FUZZ_VERIFY_SVIX)
                                  ? "svix-id" : "webhook-id", &id, NULL)
            != NGX_OK
            || fuzz_verify_header(r, (flags & FUZZ_VERIFY_SVIX)
                                     ? "svix-timestamp" : "webhook-timestamp",
                                  &d.timestamp, NULL)
               != NGX_OK
            || fuzz_verify_header(r, (flags & FUZZ_VERIFY_SVIX)
                                     ? "svix-signature" : "webhook-signature",
                                  &sep, &sig)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;

    case NGX_HTTP_WEBHOOK_VERIFY_STRIPE:

        /*
         * "t=...,v1=..." then whatever else was given, after a comma,
         * unless it has a "t=" of its own (the last one counts)
         */

        p = parts[1].data;

        return fuzz_verify_header(r, (char *) vcf->header.data, &sig,
                                  (parts[1].len
                                   && memmem(p, parts[1].len, "t=", 2)
                                      == NULL)
                                  ? &parts[1] : NULL)
               == NGX_OK ? NGX_OK : NGX_ERROR;

    default:
        return fuzz_verify_header(r, (char *) vcf->header.data, &sig, NULL)
               == NGX_OK ? NGX_OK : NGX_ERROR;
    }
}


/* a header "name: a b" (standard), "a,b" (stripe), or "a" */

static ngx_int_t
fuzz_verify_header(ngx_http_request_t *r, char *name, ngx_str_t *a,
    ngx_str_t *b)
{
    u_char  *p, *value;
    size_t   len;

    len = a->len + (b ? 1 + b->len : 0);

    value = ngx_pnalloc(r->pool, len);
    if (value == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(value, a->data, a->len);

    if (b) {
        if (a->len) {
            *p++ = (ngx_strcmp(name, "stripe-signature") == 0) ? ',' : ' ';
        }

        p = ngx_cpymem(p, b->data, b->len);
    }

    return fuzz_add_header(r, name, value, p - value);
}
