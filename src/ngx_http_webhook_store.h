
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#ifndef _NGX_HTTP_WEBHOOK_STORE_H_INCLUDED_
#define _NGX_HTTP_WEBHOOK_STORE_H_INCLUDED_


#include "ngx_http_webhook_common.h"


/*
 * The store: subscriptions (and, later, events and deliveries) in a shared
 * memory zone, persisted through the state part.  It knows nothing of HTTP.
 *
 * Every call is shaped so that a second, remote backend could implement it:
 * a write returns NGX_OK when it is complete, NGX_AGAIN when its result
 * will be reported later through the handler given (for instance once an
 * fsync covering its journal record has finished), or one of the
 * NGX_HTTP_WEBHOOK_STORE_* failure codes below.  A failed write changes
 * nothing.
 */

#define NGX_HTTP_WEBHOOK_STORE_NOT_FOUND    -101
#define NGX_HTTP_WEBHOOK_STORE_LIMIT        -102
#define NGX_HTTP_WEBHOOK_STORE_FULL         -103
#define NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE  -104


#define NGX_HTTP_WEBHOOK_DISABLED_NONE      0
#define NGX_HTTP_WEBHOOK_DISABLED_MANUAL    1
#define NGX_HTTP_WEBHOOK_DISABLED_GONE      2
#define NGX_HTTP_WEBHOOK_DISABLED_FAILING   3


/* fields of a subscription an update may set */
#define NGX_HTTP_WEBHOOK_F_ACTION           0x0001
#define NGX_HTTP_WEBHOOK_F_TARGET_URL       0x0002
#define NGX_HTTP_WEBHOOK_F_SECRET           0x0004
#define NGX_HTTP_WEBHOOK_F_TOKEN            0x0008
#define NGX_HTTP_WEBHOOK_F_ENABLED          0x0010
#define NGX_HTTP_WEBHOOK_F_DESCRIPTION      0x0020


#define NGX_HTTP_WEBHOOK_SORT_CREATED       0
#define NGX_HTTP_WEBHOOK_SORT_UPDATED       1


/*
 * A subscription as callers see it: a copy, allocated from the caller's
 * pool, never a pointer into shared memory.
 */
typedef struct {
    ngx_str_t                   id;
    ngx_str_t                   tenant;
    ngx_str_t                   action;
    ngx_str_t                   target_url;
    ngx_str_t                   secret;
    ngx_str_t                   token;            /* authorization_token */
    ngx_str_t                   description;
    int64_t                     created;          /* unix ms */
    int64_t                     updated;          /* unix ms */
    ngx_uint_t                  version;          /* __v */
    ngx_uint_t                  disabled_reason;
    unsigned                    enabled:1;
    unsigned                    has_token:1;
    unsigned                    has_description:1;
} ngx_http_webhook_sub_t;


typedef struct {
    ngx_str_t                   tenant;
    ngx_str_t                   action;           /* empty: any */
    ngx_uint_t                  sort;             /* NGX_HTTP_WEBHOOK_SORT_* */
    ngx_uint_t                  descending;
    ngx_uint_t                  skip;
    ngx_uint_t                  limit;            /* 0: all */
} ngx_http_webhook_list_query_t;


typedef void (*ngx_http_webhook_store_handler_pt)(void *data, ngx_int_t rc);


typedef struct {
    ngx_str_t                   name;
    size_t                      size;
    ngx_str_t                   state_dir;        /* empty: memory only */
    ngx_uint_t                  fsync;            /* NGX_HTTP_WEBHOOK_FSYNC_* */
    ngx_msec_t                  fsync_interval;
    size_t                      snapshot_size;
} ngx_http_webhook_store_conf_t;


ngx_http_webhook_store_t *ngx_http_webhook_store_add(ngx_conf_t *cf,
    ngx_http_webhook_store_conf_t *scf);
ngx_http_webhook_store_t *ngx_http_webhook_store_find(ngx_conf_t *cf,
    ngx_str_t *name);
ngx_str_t *ngx_http_webhook_store_name(ngx_http_webhook_store_t *store);
ngx_int_t ngx_http_webhook_store_init_process(ngx_cycle_t *cycle,
    ngx_http_webhook_store_t *store);
void ngx_http_webhook_store_exit_process(ngx_cycle_t *cycle,
    ngx_http_webhook_store_t *store);

/* NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE while another instance owns the state */
ngx_int_t ngx_http_webhook_store_writable(ngx_http_webhook_store_t *store);

/*
 * "sub" carries the new subscription; id, created, updated and version are
 * assigned by the store and returned in "out".
 */
ngx_int_t ngx_http_webhook_store_create(ngx_http_webhook_store_t *store,
    ngx_http_webhook_sub_t *sub, ngx_uint_t max_per_tenant,
    ngx_pool_t *pool, ngx_http_webhook_sub_t *out,
    ngx_http_webhook_store_handler_pt handler, void *data);

ngx_int_t ngx_http_webhook_store_get(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *id, ngx_pool_t *pool,
    ngx_http_webhook_sub_t *out);

/* pushes copies into "out", an array of ngx_http_webhook_sub_t made by the
 * caller, and sets "total" */
ngx_int_t ngx_http_webhook_store_list(ngx_http_webhook_store_t *store,
    ngx_http_webhook_list_query_t *q, ngx_pool_t *pool, ngx_array_t *out,
    ngx_uint_t *total);

/* changes the fields in "mask", taking their values from "sub" */
ngx_int_t ngx_http_webhook_store_update(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *id, ngx_uint_t mask,
    ngx_http_webhook_sub_t *sub, ngx_pool_t *pool,
    ngx_http_webhook_sub_t *out, ngx_http_webhook_store_handler_pt handler,
    void *data);

ngx_int_t ngx_http_webhook_store_delete(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *id,
    ngx_http_webhook_store_handler_pt handler, void *data);


#endif /* _NGX_HTTP_WEBHOOK_STORE_H_INCLUDED_ */
