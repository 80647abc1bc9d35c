
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#ifndef _NGX_HTTP_WEBHOOK_DELIVER_H_INCLUDED_
#define _NGX_HTTP_WEBHOOK_DELIVER_H_INCLUDED_


#include "ngx_http_webhook_common.h"
#include "ngx_http_webhook_store.h"     /* the claim of a sync delivery */


/* preconfiguration: the delivery variables ($webhook_event_id, ...) */
ngx_int_t ngx_http_webhook_deliver_add_variables(ngx_conf_t *cf);

/* postconfiguration, once: the body filter capturing responses */
ngx_int_t ngx_http_webhook_deliver_filter_init(ngx_conf_t *cf);

/* postconfiguration, per webhook_deliver location, all confs merged */
ngx_int_t ngx_http_webhook_deliver_init(ngx_conf_t *cf,
    ngx_http_webhook_deliver_t *d);

/* in each worker (or the single process): starts the delivery timer */
ngx_int_t ngx_http_webhook_deliver_init_process(ngx_cycle_t *cycle,
    ngx_http_webhook_deliver_t *d);

/*
 * $webhook_action, $webhook_tenant and $webhook_event_id of the delivery
 * "r" belongs to ("data": NGX_HTTP_WEBHOOK_VAR_* of
 * ngx_http_webhook_publish.h); v->not_found outside a delivery
 */
ngx_int_t ngx_http_webhook_deliver_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

/*
 * webhook_publish mode=sync: one attempt, made at once by this worker
 * through the webhook_deliver location of the store, and not stored (no
 * journal, no attempt log, no retry).  The caller fills "event" (handler,
 * data, log) and "pool"; the outcome is set and "event" posted when the
 * attempt ends, so "sync" must live until then.
 */
typedef struct {
    ngx_event_t                 event;
    ngx_pool_t                 *pool;      /* the body is copied there */
    ngx_msec_t                  timeout;   /* 0: webhook_attempt_timeout */
    ngx_uint_t                  status;    /* the subscriber's, 0: none */
    ngx_uint_t                  error;     /* NGX_HTTP_WEBHOOK_ERR_* */
    ngx_str_t                   body;      /* its response's first bytes */
    unsigned                    success:1; /* a webhook_success status */
    unsigned                    truncated:1;  /* body longer than kept */
} ngx_http_webhook_deliver_sync_t;

/*
 * "claim" comes from ngx_http_webhook_store_match() with the event's id,
 * action and payload set; it is copied.  NGX_DECLINED: this process runs
 * no webhook_deliver location of "store".
 */
ngx_int_t ngx_http_webhook_deliver_sync(ngx_http_webhook_store_t *store,
    ngx_http_webhook_claim_t *claim, ngx_http_webhook_deliver_sync_t *sync);

/* new deliveries in "store": this worker looks for them at once */
void ngx_http_webhook_deliver_wake(ngx_cycle_t *cycle,
    ngx_http_webhook_store_t *store);


#endif /* _NGX_HTTP_WEBHOOK_DELIVER_H_INCLUDED_ */
