
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#ifndef _NGX_HTTP_WEBHOOK_PUBLISH_H_INCLUDED_
#define _NGX_HTTP_WEBHOOK_PUBLISH_H_INCLUDED_


#include "ngx_http_webhook_common.h"


/*
 * Variables that both publishing (in a webhook_payload template) and
 * delivery (in the webhook_deliver location) give a value.  nginx allows
 * one registration per name, so the publish part registers
 * $webhook_action, $webhook_tenant and $webhook_event_id (not cacheable)
 * for both.  Their handler answers from the publish request's context
 * when it runs in a webhook_publish location whose handler has set one;
 * anywhere else it calls ngx_http_webhook_deliver_variable(r, v, data)
 * (src/ngx_http_webhook_deliver.h), with "data" one of the values below,
 * and the deliver part answers for a delivery or sets v->not_found.
 * The deliver part does not register these three names itself.
 */
#define NGX_HTTP_WEBHOOK_VAR_ACTION      0
#define NGX_HTTP_WEBHOOK_VAR_TENANT      1
#define NGX_HTTP_WEBHOOK_VAR_EVENT_ID    2


/* the content handler of a webhook_publish location */
ngx_int_t ngx_http_webhook_publish_handler(ngx_http_request_t *r);

/*
 * preconfiguration: $webhook_resource and $webhook_user (publish only),
 * $webhook_action, $webhook_tenant and $webhook_event_id (shared, above)
 */
ngx_int_t ngx_http_webhook_publish_add_variables(ngx_conf_t *cf);


#endif /* _NGX_HTTP_WEBHOOK_PUBLISH_H_INCLUDED_ */
