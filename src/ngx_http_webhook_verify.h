
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#ifndef _NGX_HTTP_WEBHOOK_VERIFY_H_INCLUDED_
#define _NGX_HTTP_WEBHOOK_VERIFY_H_INCLUDED_


#include "ngx_http_webhook_common.h"


/* "webhook_verify scheme secret=... [header=] [url=] [tolerance=]" */
char *ngx_http_webhook_verify_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * postconfiguration, once: $webhook_verified, $webhook_verify_error and
 * the pre-content phase handler
 */
ngx_int_t ngx_http_webhook_verify_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_WEBHOOK_VERIFY_H_INCLUDED_ */
