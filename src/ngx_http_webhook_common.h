
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#ifndef _NGX_HTTP_WEBHOOK_COMMON_H_INCLUDED_
#define _NGX_HTTP_WEBHOOK_COMMON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_WEBHOOK_ID_LEN          24
#define NGX_HTTP_WEBHOOK_TENANT_MAX      128
#define NGX_HTTP_WEBHOOK_ACTION_MAX      128
#define NGX_HTTP_WEBHOOK_URL_MAX         2048
#define NGX_HTTP_WEBHOOK_SECRET_MAX      256
#define NGX_HTTP_WEBHOOK_TOKEN_MAX       1024
#define NGX_HTTP_WEBHOOK_DESCRIPTION_MAX 1024

#define NGX_HTTP_WEBHOOK_FSYNC_OFF       0
#define NGX_HTTP_WEBHOOK_FSYNC_ON        1
#define NGX_HTTP_WEBHOOK_FSYNC_TIMED     2

/* webhook_api profile=, DESIGN §6 */
#define NGX_HTTP_WEBHOOK_PROFILE_VYTE       0
#define NGX_HTTP_WEBHOOK_PROFILE_VYTE2      1
#define NGX_HTTP_WEBHOOK_PROFILE_SCREVER    2
#define NGX_HTTP_WEBHOOK_PROFILE_HUBPLANNER 3


typedef struct ngx_http_webhook_store_s  ngx_http_webhook_store_t;
typedef struct ngx_http_webhook_state_s  ngx_http_webhook_state_t;


/* a webhook_deliver location: every delivery of its zone runs through it */
typedef struct {
    ngx_http_webhook_store_t   *store;
    ngx_str_t                   uri;
    ngx_http_conf_ctx_t        *ctx;              /* the location's conf */
    void                       *wlcf;             /* its loc conf, merged
                                                     by the time workers
                                                     start */
    void                       *sched;            /* this process's
                                                     scheduler */
    void                       *rcf;              /* its retry conf, the
                                                     store's too */
} ngx_http_webhook_deliver_t;


typedef struct {
    ngx_array_t                 stores;   /* ngx_http_webhook_store_t * */
    ngx_array_t                 publishers; /* ngx_http_webhook_store_t * */
    ngx_array_t                 delivers; /* ngx_http_webhook_deliver_t * */
} ngx_http_webhook_main_conf_t;


typedef struct {
    ngx_http_webhook_store_t   *api_store;
    ngx_uint_t                  api_profile;

    ngx_http_complex_value_t   *tenant;
    ngx_array_t                *events;           /* ngx_str_t */

    ngx_uint_t                  schemes;          /* NGX_HTTP_WEBHOOK_SCHEME_ */
    ngx_flag_t                  allow_private;
    ngx_array_t                *private_cidrs;    /* ngx_cidr_t */

    ngx_uint_t                  max_subscriptions;
    size_t                      max_body_size;
    ngx_msec_t                  secret_grace;     /* webhook_secret_grace */

    /* webhook_publish */
    ngx_http_webhook_store_t   *publish_store;
    ngx_flag_t                  publish_sync;
    ngx_msec_t                  publish_timeout;  /* mode=sync timeout= */
    ngx_http_complex_value_t   *payload;          /* webhook_payload */
    ngx_msec_t                  idempotency;      /* ..._idempotency_window */
    ngx_uint_t                  max_pending;      /* webhook_max_pending */

    /* webhook_deliver */
    ngx_http_webhook_deliver_t *deliver;
    ngx_array_t                *retry;            /* ngx_msec_t */
    u_char                     *success;          /* 600 flags, by status */
    ngx_uint_t                  concurrency;      /* webhook_concurrency */
    ngx_uint_t                  host_concurrency; /* ..._host_concurrency */
    ngx_msec_t                  attempt_timeout;  /* ..._attempt_timeout */
    ngx_msec_t                  failed_keep;      /* webhook_failed_keep */
    ngx_msec_t                  disable_after;    /* webhook_disable_after */

    /* webhook_verify: ngx_http_webhook_verify.c's conf */
    void                       *verify;

    /* webhook_status */
    ngx_http_webhook_store_t   *status_store;
} ngx_http_webhook_loc_conf_t;


#define NGX_HTTP_WEBHOOK_SCHEME_HTTPS    0x01
#define NGX_HTTP_WEBHOOK_SCHEME_HTTP     0x02


extern ngx_module_t  ngx_http_webhook_module;


#endif /* _NGX_HTTP_WEBHOOK_COMMON_H_INCLUDED_ */
