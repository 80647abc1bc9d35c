
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


/*
 * The publish body: ngx_http_webhook_publish_body() as the body handler
 * runs it, with an in-memory zone behind it holding subscriptions to "*",
 * "event.*" and "event.created" (and a small pending cap, so that the
 * cap and a full zone are reached).  Input: byte 0 the location's
 * settings; then the body.
 *
 * Checked: the response is 202 or a documented error, JSON, with no
 * control character in its strings; an event (or an array) that is
 * refused stores nothing (all or nothing); and nothing is logged at
 * "alert", e.g. the JSON scanner and cJSON disagreeing.
 */

#include "../src/ngx_http_webhook_publish.c"

#include "fuzz.h"


#define FUZZ_PUBLISH_SMALL_BODY  0x01
#define FUZZ_PUBLISH_SMALL_CAP   0x02
#define FUZZ_PUBLISH_NO_WINDOW   0x04


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static ngx_http_webhook_store_t  *fuzz_publish_store;
static ngx_str_t                  fuzz_publish_tenant = ngx_string("org1");
static ngx_uint_t                 fuzz_publish_runs;

static ngx_uint_t  fuzz_publish_statuses[] = {
    202, 400, 413, 422, 507, 0
};


static void
fuzz_publish_reset(void)
{
    ngx_uint_t               i;
    ngx_pool_t              *pool;
    ngx_http_webhook_sub_t   sub, out;
    static char             *actions[] = {
        "*", "event.*", "event.created", "other"
    };

    if (fuzz_store_init(fuzz_publish_store) != NGX_OK) {
        fuzz_fail("the zone's init failed");
    }

    pool = ngx_create_pool(4096, &fuzz_log);
    if (pool == NULL) {
        fuzz_fail("no memory");
    }

    for (i = 0; i < sizeof(actions) / sizeof(char *); i++) {
        ngx_memzero(&sub, sizeof(ngx_http_webhook_sub_t));
        sub.tenant = fuzz_publish_tenant;
        sub.action.data = (u_char *) actions[i];
        sub.action.len = ngx_strlen(actions[i]);
        ngx_str_set(&sub.target_url, "https://a.example/hook");
        ngx_str_set(&sub.secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        sub.enabled = 1;

        if (ngx_http_webhook_store_create(fuzz_publish_store, &sub, 1000,
                                          pool, &out, NULL, NULL)
            != NGX_OK)
        {
            fuzz_fail("ngx_http_webhook_store_create() failed");
        }
    }

    ngx_destroy_pool(pool);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t                        rc;
    ngx_uint_t                       flags;
    ngx_pool_t                      *pool;
    ngx_http_request_t              *r;
    ngx_http_webhook_stats_t         before, after;
    ngx_http_webhook_loc_conf_t     *wlcf;
    ngx_http_webhook_publish_ctx_t  *ctx;

    fuzz_init(NGX_LOG_ALERT);

    if (fuzz_publish_store == NULL) {
        fuzz_publish_store = fuzz_store_add("publish", 2 * 1024 * 1024, NULL);
        fuzz_publish_reset();
    }

    if (size < 1) {
        return 0;
    }

    if (++fuzz_publish_runs % 2048 == 0) {
        fuzz_publish_reset();
    }

    flags = data[0];

    pool = ngx_create_pool(4096, &fuzz_log);
    if (pool == NULL) {
        fuzz_fail("no memory");
    }

    wlcf = fuzz_loc_conf(pool);
    wlcf->publish_store = fuzz_publish_store;

    if (flags & FUZZ_PUBLISH_SMALL_BODY) {
        wlcf->max_body_size = 512;
    }

    if (flags & FUZZ_PUBLISH_SMALL_CAP) {
        wlcf->max_pending = 3;
    }

    if (flags & FUZZ_PUBLISH_NO_WINDOW) {
        wlcf->idempotency = 0;
    }

    r = fuzz_request(pool, wlcf, (u_char *) data + 1, size - 1);

    ctx = ngx_pcalloc(pool, sizeof(ngx_http_webhook_publish_ctx_t));
    if (ctx == NULL) {
        fuzz_fail("no memory");
    }

    ctx->wlcf = wlcf;
    ctx->tenant = fuzz_publish_tenant;

    ngx_http_set_ctx(r, ctx, ngx_http_webhook_module);

    if (ngx_http_webhook_store_stats(fuzz_publish_store, &before) != NGX_OK) {
        fuzz_fail("ngx_http_webhook_store_stats() failed");
    }

    fuzz_response_reset();

    rc = ngx_http_webhook_publish_body(r);

    if (rc == NGX_AGAIN || rc == NGX_DONE) {
        fuzz_fail("a memory-only zone answered later");
    }

    fuzz_check_response(fuzz_publish_statuses);

    if (ngx_http_webhook_store_stats(fuzz_publish_store, &after) != NGX_OK) {
        fuzz_fail("ngx_http_webhook_store_stats() failed");
    }

    if (fuzz_response.status >= NGX_HTTP_BAD_REQUEST
        && (after.events != before.events || after.queued != before.queued))
    {
        fuzz_fail("a refused publish stored something: events %ui -> %ui, "
                  "queued %ui -> %ui", before.events, after.events,
                  before.queued, after.queued);
    }

    if (fuzz_response.status == 507) {
        fuzz_publish_reset();
    }

    ngx_destroy_pool(pool);

    return 0;
}
