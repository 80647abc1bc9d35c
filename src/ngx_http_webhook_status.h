
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#ifndef _NGX_HTTP_WEBHOOK_STATUS_H_INCLUDED_
#define _NGX_HTTP_WEBHOOK_STATUS_H_INCLUDED_


#include "ngx_http_webhook_common.h"


/*
 * The content handler of a webhook_status location: the counters of its
 * zone as JSON, or as Prometheus text with "?format=prometheus".
 */
ngx_int_t ngx_http_webhook_status_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_WEBHOOK_STATUS_H_INCLUDED_ */
