
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_webhook_common.h"
#include "ngx_http_webhook_store.h"
#include "ngx_http_webhook_api.h"
#include "ngx_http_webhook_publish.h"
#include "ngx_http_webhook_deliver.h"
#include "ngx_http_webhook_sign.h"
#include "ngx_http_webhook_verify.h"
#include "ngx_http_webhook_status.h"

#include <ndk.h>


#define NGX_HTTP_WEBHOOK_MAX_SUBSCRIPTIONS  1000
#define NGX_HTTP_WEBHOOK_MAX_BODY_SIZE      (1024 * 1024)
#define NGX_HTTP_WEBHOOK_IDEMPOTENCY        (24 * 60 * 60 * 1000)
#define NGX_HTTP_WEBHOOK_SECRET_GRACE       (24 * 60 * 60 * 1000)
#define NGX_HTTP_WEBHOOK_MAX_PENDING        1000
#define NGX_HTTP_WEBHOOK_CONCURRENCY        64
#define NGX_HTTP_WEBHOOK_HOST_CONCURRENCY   8
#define NGX_HTTP_WEBHOOK_ATTEMPT_TIMEOUT    (60 * 1000)
#define NGX_HTTP_WEBHOOK_FAILED_KEEP        (3 * 24 * 60 * 60 * 1000)
#define NGX_HTTP_WEBHOOK_DISABLE_AFTER      (5 * 24 * 60 * 60 * 1000)


static ngx_int_t ngx_http_webhook_init_process(ngx_cycle_t *cycle);
static void ngx_http_webhook_exit_process(ngx_cycle_t *cycle);

static void *ngx_http_webhook_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_webhook_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_webhook_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);

static char *ngx_http_webhook_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_webhook_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_webhook_events(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_webhook_target_schemes(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_webhook_allow_private(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_webhook_publish(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_webhook_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_webhook_deliver(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_webhook_retry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_webhook_success(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_http_webhook_store_t *ngx_http_webhook_zone_param(ngx_conf_t *cf,
    ngx_command_t *cmd, ngx_str_t *param);
static ngx_array_t *ngx_http_webhook_default_retry(ngx_conf_t *cf);
static ngx_int_t ngx_http_webhook_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_webhook_postconfiguration(ngx_conf_t *cf);
static char *ngx_http_webhook_set_signature(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_webhook_set_signature_value(ngx_http_request_t *r,
    ngx_str_t *val, ngx_http_variable_value_t *v, void *data);


static ngx_command_t  ngx_http_webhook_commands[] = {

    { ngx_string("webhook_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_webhook_zone,
      0,
      0,
      NULL },

    { ngx_string("webhook_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_webhook_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("webhook_tenant"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_webhook_loc_conf_t, tenant),
      NULL },

    { ngx_string("webhook_events"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_webhook_events,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("webhook_target_schemes"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_webhook_target_schemes,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("webhook_allow_private"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_webhook_allow_private,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("webhook_max_subscriptions"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_webhook_loc_conf_t, max_subscriptions),
      NULL },

    { ngx_string("webhook_secret_grace"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_webhook_loc_conf_t, secret_grace),
      NULL },

    { ngx_string("webhook_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_webhook_loc_conf_t, max_body_size),
      NULL },

    { ngx_string("webhook_publish"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_webhook_publish,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("webhook_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_webhook_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("webhook_payload"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_webhook_loc_conf_t, payload),
      NULL },

    { ngx_string("webhook_idempotency_window"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_webhook_loc_conf_t, idempotency),
      NULL },

    { ngx_string("webhook_max_pending"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_webhook_loc_conf_t, max_pending),
      NULL },

    { ngx_string("webhook_deliver"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_webhook_deliver,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("webhook_retry"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_webhook_retry,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("webhook_success"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_webhook_success,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("webhook_concurrency"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_webhook_loc_conf_t, concurrency),
      NULL },

    { ngx_string("webhook_host_concurrency"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_webhook_loc_conf_t, host_concurrency),
      NULL },

    { ngx_string("webhook_attempt_timeout"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_webhook_loc_conf_t, attempt_timeout),
      NULL },

    { ngx_string("webhook_failed_keep"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_webhook_loc_conf_t, failed_keep),
      NULL },

    { ngx_string("webhook_disable_after"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_webhook_loc_conf_t, disable_after),
      NULL },

    { ngx_string("webhook_verify"),
      NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_webhook_verify_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("set_webhook_signature"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_SIF_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LIF_CONF
                       |NGX_CONF_2MORE,
      ngx_http_webhook_set_signature,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_webhook_module_ctx = {
    ngx_http_webhook_preconfiguration,     /* preconfiguration */
    ngx_http_webhook_postconfiguration,    /* postconfiguration */

    ngx_http_webhook_create_main_conf,     /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_webhook_create_loc_conf,      /* create location configuration */
    ngx_http_webhook_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_webhook_module = {
    NGX_MODULE_V1,
    &ngx_http_webhook_module_ctx,          /* module context */
    ngx_http_webhook_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_webhook_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_webhook_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_webhook_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_http_webhook_store_t     **stores;
    ngx_http_webhook_deliver_t   **delivers;
    ngx_http_webhook_main_conf_t  *wmcf;

    /* the cache manager and loader run init_process too */

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_webhook_module);
    if (wmcf == NULL) {
        return NGX_OK;
    }

    stores = wmcf->stores.elts;

    for (i = 0; i < wmcf->stores.nelts; i++) {
        if (ngx_http_webhook_store_init_process(cycle, stores[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    delivers = wmcf->delivers.elts;

    for (i = 0; i < wmcf->delivers.nelts; i++) {
        if (ngx_http_webhook_deliver_init_process(cycle, delivers[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_webhook_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_http_webhook_store_t     **stores;
    ngx_http_webhook_main_conf_t  *wmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return;
    }

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_webhook_module);
    if (wmcf == NULL) {
        return;
    }

    stores = wmcf->stores.elts;

    for (i = 0; i < wmcf->stores.nelts; i++) {
        ngx_http_webhook_store_exit_process(cycle, stores[i]);
    }
}


static void *
ngx_http_webhook_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_webhook_main_conf_t  *wmcf;

    wmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_webhook_main_conf_t));
    if (wmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&wmcf->stores, cf->pool, 2,
                       sizeof(ngx_http_webhook_store_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&wmcf->publishers, cf->pool, 2,
                       sizeof(ngx_http_webhook_store_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&wmcf->delivers, cf->pool, 2,
                       sizeof(ngx_http_webhook_deliver_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return wmcf;
}


static void *
ngx_http_webhook_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_webhook_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_webhook_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->api_store = NULL;
     *     conf->api_profile = 0;
     *     conf->tenant = NULL;
     *     conf->events = NULL;
     *     conf->private_cidrs = NULL;
     *     conf->publish_store = NULL;
     *     conf->publish_timeout = 0;
     *     conf->payload = NULL;
     *     conf->deliver = NULL;
     *     conf->retry = NULL;
     *     conf->success = NULL;
     *     conf->verify = NULL;
     *     conf->status_store = NULL;
     */

    conf->publish_sync = NGX_CONF_UNSET;
    conf->idempotency = NGX_CONF_UNSET_MSEC;
    conf->max_pending = NGX_CONF_UNSET_UINT;
    conf->concurrency = NGX_CONF_UNSET_UINT;
    conf->host_concurrency = NGX_CONF_UNSET_UINT;
    conf->attempt_timeout = NGX_CONF_UNSET_MSEC;
    conf->failed_keep = NGX_CONF_UNSET_MSEC;
    conf->disable_after = NGX_CONF_UNSET_MSEC;

    conf->schemes = NGX_CONF_UNSET_UINT;
    conf->allow_private = NGX_CONF_UNSET;
    conf->max_subscriptions = NGX_CONF_UNSET_UINT;
    conf->max_body_size = NGX_CONF_UNSET_SIZE;
    conf->secret_grace = NGX_CONF_UNSET_MSEC;

    return conf;
}


static char *
ngx_http_webhook_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_webhook_loc_conf_t *prev = parent;
    ngx_http_webhook_loc_conf_t *conf = child;

    if (conf->tenant == NULL) {
        conf->tenant = prev->tenant;
    }

    if (conf->events == NULL) {
        conf->events = prev->events;
    }

    if (conf->verify == NULL) {
        conf->verify = prev->verify;
    }

    ngx_conf_merge_uint_value(conf->schemes, prev->schemes,
                              NGX_HTTP_WEBHOOK_SCHEME_HTTPS);

    if (conf->allow_private == NGX_CONF_UNSET) {
        conf->allow_private = prev->allow_private;
        conf->private_cidrs = prev->private_cidrs;
    }

    ngx_conf_merge_value(conf->allow_private, prev->allow_private, 0);

    ngx_conf_merge_uint_value(conf->max_subscriptions,
                              prev->max_subscriptions,
                              NGX_HTTP_WEBHOOK_MAX_SUBSCRIPTIONS);

    ngx_conf_merge_size_value(conf->max_body_size, prev->max_body_size,
                              NGX_HTTP_WEBHOOK_MAX_BODY_SIZE);

    ngx_conf_merge_msec_value(conf->secret_grace, prev->secret_grace,
                              NGX_HTTP_WEBHOOK_SECRET_GRACE);

    if (conf->payload == NULL) {
        conf->payload = prev->payload;
    }

    ngx_conf_merge_value(conf->publish_sync, prev->publish_sync, 0);
    ngx_conf_merge_msec_value(conf->idempotency, prev->idempotency,
                              NGX_HTTP_WEBHOOK_IDEMPOTENCY);
    ngx_conf_merge_uint_value(conf->max_pending, prev->max_pending,
                              NGX_HTTP_WEBHOOK_MAX_PENDING);

    if (conf->retry == NULL) {
        conf->retry = prev->retry;
    }

    if (conf->retry == NULL) {
        conf->retry = ngx_http_webhook_default_retry(cf);
        if (conf->retry == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->success == NULL) {
        conf->success = prev->success;
    }

    if (conf->success == NULL) {
        conf->success = ngx_pcalloc(cf->pool, 600);
        if (conf->success == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memset(conf->success + 200, 1, 100);
    }

    ngx_conf_merge_uint_value(conf->concurrency, prev->concurrency,
                              NGX_HTTP_WEBHOOK_CONCURRENCY);
    ngx_conf_merge_uint_value(conf->host_concurrency, prev->host_concurrency,
                              NGX_HTTP_WEBHOOK_HOST_CONCURRENCY);
    ngx_conf_merge_msec_value(conf->attempt_timeout, prev->attempt_timeout,
                              NGX_HTTP_WEBHOOK_ATTEMPT_TIMEOUT);
    ngx_conf_merge_msec_value(conf->failed_keep, prev->failed_keep,
                              NGX_HTTP_WEBHOOK_FAILED_KEEP);
    ngx_conf_merge_msec_value(conf->disable_after, prev->disable_after,
                              NGX_HTTP_WEBHOOK_DISABLE_AFTER);

    if ((conf->api_store || conf->publish_store) && conf->tenant == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" requires \"webhook_tenant\"",
                           conf->api_store ? "webhook_api"
                                           : "webhook_publish");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_webhook_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char                         *p;
    ssize_t                         size;
    ngx_str_t                      *value, s;
    ngx_int_t                       t;
    ngx_uint_t                      i;
    ngx_http_webhook_store_t       *store, **sp;
    ngx_http_webhook_main_conf_t   *wmcf;
    ngx_http_webhook_store_conf_t   scf;

    value = cf->args->elts;

    ngx_memzero(&scf, sizeof(ngx_http_webhook_store_conf_t));
    scf.fsync = NGX_HTTP_WEBHOOK_FSYNC_ON;
    scf.attempts_kept = NGX_CONF_UNSET_UINT;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            scf.name.data = value[i].data + 5;

            p = (u_char *) ngx_strchr(scf.name.data, ':');

            if (p == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            scf.name.len = p - scf.name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &value[i]);
                return NGX_CONF_ERROR;
            }

            scf.size = size;

            continue;
        }

        if (ngx_strncmp(value[i].data, "state=", 6) == 0) {

            scf.state_dir.data = value[i].data + 6;
            scf.state_dir.len = value[i].len - 6;

            if (scf.state_dir.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid state \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "fsync=", 6) == 0) {

            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            if (s.len == 2 && ngx_strncmp(s.data, "on", 2) == 0) {
                scf.fsync = NGX_HTTP_WEBHOOK_FSYNC_ON;

            } else if (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0) {
                scf.fsync = NGX_HTTP_WEBHOOK_FSYNC_OFF;

            } else {
                t = ngx_parse_time(&s, 0);

                if (t == NGX_ERROR || t == 0) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid fsync \"%V\"", &value[i]);
                    return NGX_CONF_ERROR;
                }

                scf.fsync = NGX_HTTP_WEBHOOK_FSYNC_TIMED;
                scf.fsync_interval = (ngx_msec_t) t;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "snapshot=", 9) == 0) {

            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR || size == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid snapshot \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            scf.snapshot_size = size;

            continue;
        }

        if (ngx_strncmp(value[i].data, "attempts=", 9) == 0) {

            t = ngx_atoi(value[i].data + 9, value[i].len - 9);

            if (t == NGX_ERROR || t > 1000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid attempts \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            scf.attempts_kept = t;

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (scf.name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_webhook_store_find(cf, &scf.name)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate webhook zone \"%V\"", &scf.name);
        return NGX_CONF_ERROR;
    }

    store = ngx_http_webhook_store_add(cf, &scf);
    if (store == NULL) {
        return NGX_CONF_ERROR;
    }

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_module);

    sp = ngx_array_push(&wmcf->stores);
    if (sp == NULL) {
        return NGX_CONF_ERROR;
    }

    *sp = store;

    return NGX_CONF_OK;
}


static char *
ngx_http_webhook_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_webhook_loc_conf_t *wlcf = conf;

    ngx_str_t                 *value, *zone, s;
    ngx_uint_t                 i;
    ngx_conf_enum_t           *e;
    ngx_http_core_loc_conf_t  *clcf;

    static ngx_conf_enum_t  profiles[] = {
        { ngx_string("vyte"), NGX_HTTP_WEBHOOK_PROFILE_VYTE },
        { ngx_string("vyte2"), NGX_HTTP_WEBHOOK_PROFILE_VYTE2 },
        { ngx_string("screver"), NGX_HTTP_WEBHOOK_PROFILE_SCREVER },
        { ngx_string("hubplanner"), NGX_HTTP_WEBHOOK_PROFILE_HUBPLANNER },
        { ngx_null_string, 0 }
    };

    if (wlcf->api_store) {
        return "is duplicate";
    }

    value = cf->args->elts;
    zone = NULL;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            zone = &value[i];
            continue;
        }

        if (ngx_strncmp(value[i].data, "profile=", 8) == 0) {

            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            for (e = profiles; e->name.len; e++) {
                if (e->name.len == s.len
                    && ngx_strncmp(e->name.data, s.data, s.len) == 0)
                {
                    break;
                }
            }

            if (e->name.len) {
                wlcf->api_profile = e->value;
                continue;
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown profile \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    wlcf->api_store = ngx_http_webhook_zone_param(cf, cmd, zone);

    if (wlcf->api_store == NULL) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_webhook_api_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_webhook_events(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_webhook_loc_conf_t *wlcf = conf;

    u_char      *p;
    ngx_str_t   *value, *name;
    ngx_uint_t   i;

    if (wlcf->events) {
        return "is duplicate";
    }

    wlcf->events = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                    sizeof(ngx_str_t));
    if (wlcf->events == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 0 || value[i].len > NGX_HTTP_WEBHOOK_ACTION_MAX) {
            goto invalid;
        }

        for (p = value[i].data; p < value[i].data + value[i].len; p++) {
            if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z')
                && !(*p >= '0' && *p <= '9')
                && *p != '_' && *p != '.' && *p != ':' && *p != '-')
            {
                goto invalid;
            }
        }

        name = ngx_array_push(wlcf->events);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid event name \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_webhook_target_schemes(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_webhook_loc_conf_t *wlcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (wlcf->schemes != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    wlcf->schemes = 0;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "https") == 0) {
            wlcf->schemes |= NGX_HTTP_WEBHOOK_SCHEME_HTTPS;

        } else if (ngx_strcmp(value[i].data, "http") == 0) {
            wlcf->schemes |= NGX_HTTP_WEBHOOK_SCHEME_HTTP;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid scheme \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_webhook_allow_private(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_webhook_loc_conf_t *wlcf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_uint_t   i;
    ngx_cidr_t  *cidr;

    if (wlcf->allow_private != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2) {

        if (ngx_strcmp(value[1].data, "on") == 0) {
            wlcf->allow_private = 1;
            return NGX_CONF_OK;
        }

        if (ngx_strcmp(value[1].data, "off") == 0) {
            wlcf->allow_private = 0;
            return NGX_CONF_OK;
        }
    }

    /* the subnets named are allowed, the other private ranges are not */

    wlcf->allow_private = 0;

    wlcf->private_cidrs = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                           sizeof(ngx_cidr_t));
    if (wlcf->private_cidrs == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        cidr = ngx_array_push(wlcf->private_cidrs);
        if (cidr == NULL) {
            return NGX_CONF_ERROR;
        }

        rc = ngx_ptocidr(&value[i], cidr);

        if (rc == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DONE) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "low address bits of %V are meaningless",
                               &value[i]);
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_webhook_publish(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_webhook_loc_conf_t *wlcf = conf;

    ngx_str_t                      *value, *zone, s;
    ngx_uint_t                      i;
    ngx_msec_t                      timeout;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_webhook_store_t      **sp;
    ngx_http_webhook_main_conf_t   *wmcf;

    if (wlcf->publish_store) {
        return "is duplicate";
    }

    value = cf->args->elts;
    zone = NULL;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            zone = &value[i];
            continue;
        }

        if (ngx_strcmp(value[i].data, "mode=sync") == 0) {
            wlcf->publish_sync = 1;
            continue;
        }

        /* mode=sync: how long the publisher waits, at most */

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            timeout = ngx_parse_time(&s, 0);
            if (timeout == (ngx_msec_t) NGX_ERROR || timeout == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid timeout \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            wlcf->publish_timeout = timeout;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (wlcf->publish_timeout && wlcf->publish_sync != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"timeout\" parameter requires \"mode=sync\"");
        return NGX_CONF_ERROR;
    }

    wlcf->publish_store = ngx_http_webhook_zone_param(cf, cmd, zone);

    if (wlcf->publish_store == NULL) {
        return NGX_CONF_ERROR;
    }

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_module);

    sp = ngx_array_push(&wmcf->publishers);
    if (sp == NULL) {
        return NGX_CONF_ERROR;
    }

    *sp = wlcf->publish_store;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_webhook_publish_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_webhook_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_webhook_loc_conf_t *wlcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (wlcf->status_store) {
        return "is duplicate";
    }

    value = cf->args->elts;

    wlcf->status_store = ngx_http_webhook_zone_param(cf, cmd, &value[1]);

    if (wlcf->status_store == NULL) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_webhook_status_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_webhook_deliver(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_webhook_loc_conf_t *wlcf = conf;

    ngx_str_t                      *value;
    ngx_uint_t                      i;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_webhook_store_t       *store;
    ngx_http_webhook_deliver_t     *d, **dp;
    ngx_http_webhook_main_conf_t   *wmcf;

    if (wlcf->deliver) {
        return "is duplicate";
    }

    value = cf->args->elts;

    store = ngx_http_webhook_zone_param(cf, cmd, &value[1]);

    if (store == NULL) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* subrequests cannot reach named or regex locations */

    if (clcf->named
#if (NGX_PCRE)
        || clcf->regex
#endif
        || clcf->name.len == 0 || clcf->name.data[0] != '/')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must be in a prefix or exact URI location",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_module);

    dp = wmcf->delivers.elts;

    for (i = 0; i < wmcf->delivers.nelts; i++) {
        if (dp[i]->store == store) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "webhook zone \"%V\" already has a "
                               "\"webhook_deliver\" location \"%V\"",
                               ngx_http_webhook_store_name(store),
                               &dp[i]->uri);
            return NGX_CONF_ERROR;
        }
    }

    d = ngx_pcalloc(cf->pool, sizeof(ngx_http_webhook_deliver_t));
    if (d == NULL) {
        return NGX_CONF_ERROR;
    }

    d->store = store;
    d->uri = clcf->name;
    d->ctx = cf->ctx;
    d->wlcf = wlcf;

    dp = ngx_array_push(&wmcf->delivers);
    if (dp == NULL) {
        return NGX_CONF_ERROR;
    }

    *dp = d;
    wlcf->deliver = d;

    return NGX_CONF_OK;
}


static char *
ngx_http_webhook_retry(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_webhook_loc_conf_t *wlcf = conf;

    ngx_str_t   *value;
    ngx_int_t    t;
    ngx_uint_t   i;
    ngx_msec_t  *ms;

    if (wlcf->retry) {
        return "is duplicate";
    }

    wlcf->retry = ngx_array_create(cf->pool, cf->args->nelts,
                                   sizeof(ngx_msec_t));
    if (wlcf->retry == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    /* "off": a single attempt */

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        t = ngx_parse_time(&value[i], 0);

        if (t == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid time \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        ms = ngx_array_push(wlcf->retry);
        if (ms == NULL) {
            return NGX_CONF_ERROR;
        }

        *ms = (ngx_msec_t) t;
    }

    return NGX_CONF_OK;
}


/*
 * The "zone=NAME" parameter of webhook_api, webhook_publish,
 * webhook_status and webhook_deliver ("param", NULL when none was given):
 * a zone that webhook_zone declared before.
 */

static ngx_http_webhook_store_t *
ngx_http_webhook_zone_param(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *param)
{
    ngx_str_t                  name;
    ngx_http_webhook_store_t  *store;

    if (param == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NULL;
    }

    if (param->len < 5 || ngx_strncmp(param->data, "zone=", 5) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", param);
        return NULL;
    }

    name.data = param->data + 5;
    name.len = param->len - 5;

    store = ngx_http_webhook_store_find(cf, &name);

    if (store == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown webhook zone \"%V\"", &name);
    }

    return store;
}


static ngx_array_t *
ngx_http_webhook_default_retry(ngx_conf_t *cf)
{
    ngx_uint_t    i;
    ngx_msec_t   *ms;
    ngx_array_t  *a;

    /* 5s 5m 30m 2h 5h 10h 10h: 8 attempts over about 28 hours */

    static ngx_msec_t  defaults[] = {
        5 * 1000, 5 * 60 * 1000, 30 * 60 * 1000, 2 * 3600 * 1000,
        5 * 3600 * 1000, 10 * 3600 * 1000, 10 * 3600 * 1000
    };

    a = ngx_array_create(cf->pool, 7, sizeof(ngx_msec_t));
    if (a == NULL) {
        return NULL;
    }

    for (i = 0; i < sizeof(defaults) / sizeof(ngx_msec_t); i++) {
        ms = ngx_array_push(a);
        if (ms == NULL) {
            return NULL;
        }

        *ms = defaults[i];
    }

    return a;
}


static char *
ngx_http_webhook_success(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_webhook_loc_conf_t *wlcf = conf;

    ngx_str_t   *value;
    ngx_int_t    n;
    ngx_uint_t   i;

    if (wlcf->success) {
        return "is duplicate";
    }

    wlcf->success = ngx_pcalloc(cf->pool, 600);
    if (wlcf->success == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 3
            && value[i].data[0] >= '1' && value[i].data[0] <= '5'
            && value[i].data[1] == 'x' && value[i].data[2] == 'x')
        {
            n = (value[i].data[0] - '0') * 100;
            ngx_memset(wlcf->success + n, 1, 100);
            continue;
        }

        n = ngx_atoi(value[i].data, value[i].len);

        if (n < 100 || n > 599) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid status \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        wlcf->success[n] = 1;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_webhook_preconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_webhook_publish_add_variables(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_webhook_deliver_add_variables(cf);
}


/*
 * What "nginx -t" can check once every location is merged: each zone
 * events are published to has exactly one deliver location, with a
 * resolver.
 */

static ngx_int_t
ngx_http_webhook_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                      i, j, found;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_webhook_store_t      **publishers;
    ngx_http_webhook_deliver_t    **delivers;
    ngx_http_webhook_main_conf_t   *wmcf;

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_module);

    if (ngx_http_webhook_deliver_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_webhook_verify_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    publishers = wmcf->publishers.elts;
    delivers = wmcf->delivers.elts;

    for (i = 0; i < wmcf->publishers.nelts; i++) {

        found = 0;

        for (j = 0; j < wmcf->delivers.nelts; j++) {
            if (delivers[j]->store == publishers[i]) {
                found = 1;
            }
        }

        if (!found) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "webhook zone \"%V\" is used by "
                               "\"webhook_publish\" but has no "
                               "\"webhook_deliver\" location",
                               ngx_http_webhook_store_name(publishers[i]));
            return NGX_ERROR;
        }
    }

    for (j = 0; j < wmcf->delivers.nelts; j++) {

        clcf = delivers[j]->ctx->loc_conf[ngx_http_core_module.ctx_index];

        if (clcf->resolver == NULL
            || clcf->resolver->connections.nelts == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"webhook_deliver\" location \"%V\" has no "
                               "\"resolver\"", &delivers[j]->uri);
            return NGX_ERROR;
        }

        if (ngx_http_webhook_deliver_init(cf, delivers[j]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * set_webhook_signature $var SCHEME SECRET DATA...: an ngx_devel_kit
 * set_var, so it runs among rewrite's "set" in order.  The scheme is
 * fixed here, and with it how many data values follow the secret.
 */

static char *
ngx_http_webhook_set_signature(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_int_t       scheme;
    ngx_str_t      *value;
    ngx_uint_t      n;
    ndk_set_var_t   filter;

    value = cf->args->elts;

    scheme = ngx_http_webhook_sign_scheme(&value[2]);
    if (scheme == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown signature scheme \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    n = ngx_http_webhook_sign_nargs(scheme);

    if (cf->args->nelts != 4 + n) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "signature scheme \"%V\" takes a secret and "
                           "%ui data value%s", &value[2], n,
                           n == 1 ? "" : "s");
        return NGX_CONF_ERROR;
    }

    filter.type = NDK_SET_VAR_MULTI_VALUE_DATA;
    filter.func = (void *) ngx_http_webhook_set_signature_value;
    filter.size = 1 + n;
    filter.data = (void *) (uintptr_t) scheme;

    return ndk_set_var_multi_value_core(cf, &value[1], &value[3], &filter);
}


/* "v": the secret, then the scheme's data values in directive order */

static ngx_int_t
ngx_http_webhook_set_signature_value(ngx_http_request_t *r, ngx_str_t *val,
    ngx_http_variable_value_t *v, void *data)
{
    ssize_t                        n;
    ngx_str_t                      secret;
    ngx_uint_t                     scheme;
    ngx_http_webhook_sign_data_t   d;

    scheme = (uintptr_t) data;

    ngx_memzero(&d, sizeof(ngx_http_webhook_sign_data_t));

    secret.len = v[0].len;
    secret.data = v[0].data;

    switch (scheme) {

    case NGX_HTTP_WEBHOOK_SIGN_STANDARD:
        d.id.len = v[1].len;
        d.id.data = v[1].data;
        d.timestamp.len = v[2].len;
        d.timestamp.data = v[2].data;
        d.payload.len = v[3].len;
        d.payload.data = v[3].data;
        break;

    case NGX_HTTP_WEBHOOK_SIGN_STRIPE:
        d.timestamp.len = v[1].len;
        d.timestamp.data = v[1].data;
        d.payload.len = v[2].len;
        d.payload.data = v[2].data;
        break;

    case NGX_HTTP_WEBHOOK_SIGN_SHA512:
        d.url.len = v[1].len;
        d.url.data = v[1].data;
        d.payload.len = v[2].len;
        d.payload.data = v[2].data;
        break;

    default: /* hex, github */
        d.payload.len = v[1].len;
        d.payload.data = v[1].data;
    }

    val->data = ngx_pnalloc(r->pool, ngx_http_webhook_sign_len(scheme, &d));
    if (val->data == NULL) {
        return NGX_ERROR;
    }

    n = ngx_http_webhook_sign(scheme, &secret, &d, val->data);

    /* an empty value, as for a delivery: the secret itself is not logged */

    if (n == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      scheme == NGX_HTTP_WEBHOOK_SIGN_STANDARD
                      ? "set_webhook_signature: the secret does not "
                        "decode as a standard webhooks key"
                      : "set_webhook_signature: signing failed");
        val->len = 0;
        return NGX_OK;
    }

    val->len = n;

    return NGX_OK;
}
