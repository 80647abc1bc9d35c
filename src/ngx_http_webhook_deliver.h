
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#ifndef _NGX_HTTP_WEBHOOK_DELIVER_H_INCLUDED_
#define _NGX_HTTP_WEBHOOK_DELIVER_H_INCLUDED_


#include "ngx_http_webhook_common.h"


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

/* new deliveries in "store": this worker looks for them at once */
void ngx_http_webhook_deliver_wake(ngx_cycle_t *cycle,
    ngx_http_webhook_store_t *store);


#endif /* _NGX_HTTP_WEBHOOK_DELIVER_H_INCLUDED_ */
