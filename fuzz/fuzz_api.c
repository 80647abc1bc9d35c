
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


/*
 * The subscription API's request bodies (POST P, PUT and PATCH P/{id}):
 * ngx_http_webhook_api_body() as the body handler runs it, with a real
 * in-memory zone behind it.  Input: byte 0 the operation (bits 0-1) and
 * the profile (bits 2-3); byte 1 the location's settings; then the body.
 *
 * Checked: the response is one of the statuses the API documents, JSON,
 * an error object when it is an error, with no control character in any
 * string; a refused PUT or PATCH leaves the subscription as it was; and
 * nothing is logged at "alert" (what cannot happen).
 */

#include "../src/ngx_http_webhook_api.c"

#include "fuzz.h"


#define FUZZ_API_EVENTS         0x01
#define FUZZ_API_HTTP           0x02
#define FUZZ_API_PRIVATE        0x04
#define FUZZ_API_SMALL_BODY     0x08
#define FUZZ_API_CIDRS          0x10


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static ngx_http_webhook_store_t  *fuzz_api_store;
static ngx_str_t                  fuzz_api_tenant = ngx_string("org1");
static u_char                     fuzz_api_id[NGX_HTTP_WEBHOOK_ID_LEN];
static ngx_uint_t                 fuzz_api_runs;

static ngx_uint_t  fuzz_api_create_statuses[] = {
    201, 400, 403, 413, 422, 507, 0
};

static ngx_uint_t  fuzz_api_update_statuses[] = {
    200, 400, 413, 422, 507, 0
};


/* a fresh zone with one subscription that PUT and PATCH change */

static void
fuzz_api_reset(void)
{
    ngx_pool_t              *pool;
    ngx_http_webhook_sub_t   sub, out;

    if (fuzz_store_init(fuzz_api_store) != NGX_OK) {
        fuzz_fail("the zone's init failed");
    }

    pool = ngx_create_pool(4096, &fuzz_log);
    if (pool == NULL) {
        fuzz_fail("no memory");
    }

    ngx_memzero(&sub, sizeof(ngx_http_webhook_sub_t));
    sub.tenant = fuzz_api_tenant;
    ngx_str_set(&sub.action, "event.created");
    ngx_str_set(&sub.target_url, "https://a.example/hook");
    ngx_str_set(&sub.secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    sub.enabled = 1;

    if (ngx_http_webhook_store_create(fuzz_api_store, &sub, 1000, pool, &out,
                                      NULL, NULL)
        != NGX_OK)
    {
        fuzz_fail("ngx_http_webhook_store_create() failed");
    }

    ngx_memcpy(fuzz_api_id, out.id.data, NGX_HTTP_WEBHOOK_ID_LEN);

    ngx_destroy_pool(pool);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t                     rc;
    ngx_str_t                     id;
    ngx_uint_t                    op, flags, *statuses, n;
    ngx_pool_t                   *pool;
    ngx_array_t                  *events, *cidrs;
    ngx_cidr_t                   *cidr;
    ngx_str_t                    *ev;
    ngx_http_request_t           *r;
    ngx_http_webhook_sub_t        before, after;
    ngx_http_webhook_api_ctx_t   *ctx;
    ngx_http_webhook_loc_conf_t  *wlcf;
    static ngx_uint_t             ops[] = {
        NGX_HTTP_WEBHOOK_API_CREATE, NGX_HTTP_WEBHOOK_API_REPLACE,
        NGX_HTTP_WEBHOOK_API_MODIFY, NGX_HTTP_WEBHOOK_API_CREATE
    };

    fuzz_init(NGX_LOG_ALERT);

    if (fuzz_api_store == NULL) {
        fuzz_api_store = fuzz_store_add("api", 1024 * 1024, NULL);
        fuzz_api_reset();
    }

    if (size < 2) {
        return 0;
    }

    /* a zone that fills up (507) is part of the game, but not for long */

    if (++fuzz_api_runs % 4096 == 0) {
        fuzz_api_reset();
    }

    op = ops[data[0] & 3];
    n = sizeof(ngx_http_webhook_api_profiles)
        / sizeof(ngx_http_webhook_api_profile_t);
    flags = data[1];

    pool = ngx_create_pool(4096, &fuzz_log);
    if (pool == NULL) {
        fuzz_fail("no memory");
    }

    wlcf = fuzz_loc_conf(pool);
    wlcf->api_store = fuzz_api_store;
    wlcf->api_profile = ((data[0] >> 2) & 3) % n;

    if (flags & FUZZ_API_EVENTS) {
        events = ngx_array_create(pool, 2, sizeof(ngx_str_t));
        if (events == NULL) {
            fuzz_fail("no memory");
        }

        ev = ngx_array_push_n(events, 2);
        if (ev == NULL) {
            fuzz_fail("no memory");
        }

        ngx_str_set(&ev[0], "event.created");
        ngx_str_set(&ev[1], "event.cancelled");

        wlcf->events = events;
    }

    if (flags & FUZZ_API_HTTP) {
        wlcf->schemes |= NGX_HTTP_WEBHOOK_SCHEME_HTTP;
    }

    if (flags & FUZZ_API_PRIVATE) {
        wlcf->allow_private = 1;

    } else if (flags & FUZZ_API_CIDRS) {
        cidrs = ngx_array_create(pool, 1, sizeof(ngx_cidr_t));
        if (cidrs == NULL) {
            fuzz_fail("no memory");
        }

        cidr = ngx_array_push(cidrs);
        if (cidr == NULL) {
            fuzz_fail("no memory");
        }

        ngx_memzero(cidr, sizeof(ngx_cidr_t));
        cidr->family = AF_INET;
        cidr->u.in.addr = htonl(0x0a010000);
        cidr->u.in.mask = htonl(0xffff0000);

        wlcf->private_cidrs = cidrs;
    }

    if (flags & FUZZ_API_SMALL_BODY) {
        wlcf->max_body_size = 256;
    }

    r = fuzz_request(pool, wlcf, (u_char *) data + 2, size - 2);

    ctx = ngx_pcalloc(pool, sizeof(ngx_http_webhook_api_ctx_t));
    if (ctx == NULL) {
        fuzz_fail("no memory");
    }

    ctx->wlcf = wlcf;
    ctx->profile = &ngx_http_webhook_api_profiles[wlcf->api_profile];
    ctx->tenant = fuzz_api_tenant;
    ngx_str_set(&ctx->prefix, "/hooks");
    ctx->op = op;

    id.data = fuzz_api_id;
    id.len = NGX_HTTP_WEBHOOK_ID_LEN;

    if (op != NGX_HTTP_WEBHOOK_API_CREATE) {
        ctx->id = id;
        r->method = (op == NGX_HTTP_WEBHOOK_API_REPLACE) ? NGX_HTTP_PUT
                                                         : NGX_HTTP_PATCH;

        if (ngx_http_webhook_store_get(fuzz_api_store, &fuzz_api_tenant, &id,
                                       pool, &before)
            != NGX_OK)
        {
            fuzz_fail("the subscription is gone");
        }
    }

    ngx_http_set_ctx(r, ctx, ngx_http_webhook_module);

    fuzz_response_reset();

    rc = ngx_http_webhook_api_body(r);

    if (rc == NGX_AGAIN || rc == NGX_DONE) {
        fuzz_fail("a memory-only zone answered later");
    }

    statuses = (op == NGX_HTTP_WEBHOOK_API_CREATE) ? fuzz_api_create_statuses
                                                   : fuzz_api_update_statuses;

    fuzz_check_response(statuses);

    if (op != NGX_HTTP_WEBHOOK_API_CREATE) {
        if (ngx_http_webhook_store_get(fuzz_api_store, &fuzz_api_tenant, &id,
                                       pool, &after)
            != NGX_OK)
        {
            fuzz_fail("the subscription is gone");
        }

        if (fuzz_response.status >= NGX_HTTP_BAD_REQUEST
            && (after.version != before.version
                || after.target_url.len != before.target_url.len
                || ngx_memcmp(after.target_url.data, before.target_url.data,
                              after.target_url.len)
                   != 0))
        {
            fuzz_fail("a refused %s changed the subscription",
                      op == NGX_HTTP_WEBHOOK_API_REPLACE ? "PUT" : "PATCH");
        }
    }

    if (fuzz_response.status == 507) {
        fuzz_api_reset();
    }

    ngx_destroy_pool(pool);

    return 0;
}
