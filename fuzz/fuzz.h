
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#ifndef _NGX_HTTP_WEBHOOK_FUZZ_H_INCLUDED_
#define _NGX_HTTP_WEBHOOK_FUZZ_H_INCLUDED_


/*
 * What the libFuzzer harnesses share: an nginx process-like environment
 * (pagesize, time, log, a cycle), shared-memory stores built as nginx
 * builds them, fake requests whose responses are captured by the top
 * header and body filters, and a few checks.  See fuzz/README.md.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_webhook_common.h"
#include "ngx_http_webhook_store.h"


#define FUZZ_STATE_DIR_PREFIX  "/tmp/ngx-webhook-fuzz-"


/* a response as the filters saw it */
typedef struct {
    ngx_uint_t                  status;
    ngx_uint_t                  header_sent;
    u_char                     *body;
    size_t                      len;
} fuzz_response_t;


extern ngx_log_t                fuzz_log;
extern ngx_cycle_t              fuzz_cycle;
extern fuzz_response_t          fuzz_response;
extern ngx_uint_t               fuzz_alerts;

/*
 * once, at the first input; log messages at "abort_level" or more severe
 * abort the run (NGX_LOG_ALERT: what cannot happen); 0: none abort
 */
void fuzz_init(ngx_uint_t abort_level);

/* a store as "webhook_zone zone=NAME:SIZE [state=DIR] fsync=off" makes it */
ngx_http_webhook_store_t *fuzz_store_add(char *name, size_t size,
    char *state_dir);
/* a new empty zone (the slab pool reset), loaded from its state if any */
ngx_int_t fuzz_store_init(ngx_http_webhook_store_t *store);

ngx_http_webhook_loc_conf_t *fuzz_loc_conf(ngx_pool_t *pool);
ngx_http_complex_value_t *fuzz_constant(ngx_pool_t *pool, char *value);

/* a POST with "body", whose module loc conf is "wlcf" */
ngx_http_request_t *fuzz_request(ngx_pool_t *pool,
    ngx_http_webhook_loc_conf_t *wlcf, u_char *body, size_t len);
ngx_int_t fuzz_add_header(ngx_http_request_t *r, char *name, u_char *value,
    size_t len);

void fuzz_response_reset(void);

/*
 * The response must be one of "statuses" (0-terminated), JSON, an error
 * object for 4xx/5xx, and no string in it may hold a control character.
 */
void fuzz_check_response(ngx_uint_t *statuses);

/* splits "data" at each "sep" into at most "n" parts; returns how many */
ngx_uint_t fuzz_split(u_char *data, size_t len, u_char sep, ngx_str_t *parts,
    ngx_uint_t n);

void fuzz_fail(const char *fmt, ...) ngx_cdecl;


#endif /* _NGX_HTTP_WEBHOOK_FUZZ_H_INCLUDED_ */
