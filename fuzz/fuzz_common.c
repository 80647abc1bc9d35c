
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <cjson/cJSON.h>

#include "fuzz.h"


#define FUZZ_MAX_MODULES  256


static void fuzz_log_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf,
    size_t len);
static ngx_int_t fuzz_header_filter(ngx_http_request_t *r);
static ngx_int_t fuzz_body_filter(ngx_http_request_t *r, ngx_chain_t *in);
static void fuzz_check_strings(cJSON *json);


ngx_log_t         fuzz_log;
ngx_cycle_t       fuzz_cycle;
fuzz_response_t   fuzz_response;
ngx_uint_t        fuzz_alerts;

static ngx_uint_t         fuzz_abort_level;
static ngx_open_file_t    fuzz_log_file;
static ngx_connection_t   fuzz_connection;
static ngx_uint_t         fuzz_initialized;


/*
 * ngx_http_webhook_module.c's one ngx_devel_kit call (set_webhook_signature
 * at configuration time, which no harness reaches): the harnesses link
 * without the kit.
 */

char *ndk_set_var_multi_value_core(void *cf, void *name, void *value,
    void *filter);

char *
ndk_set_var_multi_value_core(void *cf, void *name, void *value, void *filter)
{
    return NGX_CONF_ERROR;
}


void
fuzz_init(ngx_uint_t abort_level)
{
    ngx_uint_t  n;

    if (fuzz_initialized) {
        return;
    }

    fuzz_initialized = 1;
    fuzz_abort_level = abort_level;

    ngx_pid = ngx_getpid();
    ngx_process = NGX_PROCESS_SINGLE;

    ngx_pagesize = getpagesize();
    ngx_cacheline_size = NGX_CPU_CACHE_LINE;

    for (n = ngx_pagesize; n >>= 1; ngx_pagesize_shift++) { /* void */ }

    (void) ngx_strerror_init();
    ngx_time_init();
    ngx_slab_sizes_init();

    if (ngx_preinit_modules() != NGX_OK) {
        fuzz_fail("ngx_preinit_modules() failed");
    }

    /* the module indexes an http{} block would give */

    ngx_http_core_module.ctx_index = 0;
    ngx_http_webhook_module.ctx_index = 1;

    fuzz_log_file.fd = ngx_stderr;
    fuzz_log.file = &fuzz_log_file;
    fuzz_log.log_level = NGX_LOG_NOTICE;
    fuzz_log.writer = fuzz_log_writer;

    fuzz_cycle.log = &fuzz_log;
    fuzz_cycle.pool = ngx_create_pool(NGX_CYCLE_POOL_SIZE, &fuzz_log);
    if (fuzz_cycle.pool == NULL) {
        fuzz_fail("no memory");
    }

    fuzz_cycle.conf_ctx = ngx_pcalloc(fuzz_cycle.pool,
                                      ngx_max_module * sizeof(void *));
    if (fuzz_cycle.conf_ctx == NULL) {
        fuzz_fail("no memory");
    }

    if (ngx_list_init(&fuzz_cycle.shared_memory, fuzz_cycle.pool, 1,
                      sizeof(ngx_shm_zone_t))
        != NGX_OK)
    {
        fuzz_fail("no memory");
    }

    ngx_str_set(&fuzz_cycle.prefix, "/tmp/");
    ngx_str_set(&fuzz_cycle.conf_prefix, "/tmp/");

    ngx_cycle = &fuzz_cycle;

    fuzz_connection.log = &fuzz_log;
    fuzz_connection.fd = (ngx_socket_t) -1;

    ngx_http_top_header_filter = fuzz_header_filter;
    ngx_http_top_body_filter = fuzz_body_filter;
}


static void
fuzz_log_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf, size_t len)
{
    if (level <= NGX_LOG_ALERT) {
        fuzz_alerts++;
    }

    if (fuzz_abort_level && level <= fuzz_abort_level) {
        fuzz_fail("logged at level %ui: %*s", level, len, buf);
    }

    if (getenv("FUZZ_VERBOSE")) {
        (void) ngx_write_fd(ngx_stderr, buf, len);
        (void) ngx_write_fd(ngx_stderr, "\n", 1);
    }
}


ngx_http_webhook_store_t *
fuzz_store_add(char *name, size_t size, char *state_dir)
{
    ngx_conf_t                     cf;
    ngx_http_webhook_store_t      *store;
    ngx_http_webhook_store_conf_t  scf;

    ngx_memzero(&cf, sizeof(ngx_conf_t));
    cf.pool = fuzz_cycle.pool;
    cf.temp_pool = fuzz_cycle.pool;
    cf.cycle = &fuzz_cycle;
    cf.log = &fuzz_log;

    ngx_memzero(&scf, sizeof(ngx_http_webhook_store_conf_t));
    scf.name.data = (u_char *) name;
    scf.name.len = ngx_strlen(name);
    scf.size = size;
    scf.fsync = NGX_HTTP_WEBHOOK_FSYNC_OFF;
    scf.attempts_kept = NGX_CONF_UNSET_UINT;

    if (state_dir) {
        scf.state_dir.data = (u_char *) state_dir;
        scf.state_dir.len = ngx_strlen(state_dir);
    }

    store = ngx_http_webhook_store_add(&cf, &scf);
    if (store == NULL) {
        fuzz_fail("ngx_http_webhook_store_add() failed");
    }

    return store;
}


/* ngx_cycle.c's ngx_init_zone_pool(), then the zone's init */

ngx_int_t
fuzz_store_init(ngx_http_webhook_store_t *store)
{
    ngx_uint_t        i;
    ngx_slab_pool_t  *sp;
    ngx_shm_zone_t   *zone;
    ngx_list_part_t  *part;

    part = &fuzz_cycle.shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                fuzz_fail("no zone for the store");
            }

            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].data == store) {
            break;
        }
    }

    zone = &zone[i];

    if (zone->shm.addr == NULL) {
        zone->shm.addr = ngx_memalign(ngx_pagesize, zone->shm.size,
                                      &fuzz_log);
        if (zone->shm.addr == NULL) {
            fuzz_fail("no memory");
        }

        zone->shm.log = &fuzz_log;
    }

    zone->shm.exists = 0;

    sp = (ngx_slab_pool_t *) zone->shm.addr;

    ngx_memzero(sp, sizeof(ngx_slab_pool_t));

    sp->end = zone->shm.addr + zone->shm.size;
    sp->min_shift = 3;
    sp->addr = zone->shm.addr;

    if (ngx_shmtx_create(&sp->mutex, &sp->lock, NULL) != NGX_OK) {
        fuzz_fail("ngx_shmtx_create() failed");
    }

    ngx_slab_init(sp);

    return zone->init(zone, NULL);
}


ngx_http_webhook_loc_conf_t *
fuzz_loc_conf(ngx_pool_t *pool)
{
    ngx_http_webhook_loc_conf_t  *wlcf;

    wlcf = ngx_pcalloc(pool, sizeof(ngx_http_webhook_loc_conf_t));
    if (wlcf == NULL) {
        fuzz_fail("no memory");
    }

    wlcf->tenant = fuzz_constant(pool, "org1");
    wlcf->events = NGX_CONF_UNSET_PTR;
    wlcf->schemes = NGX_HTTP_WEBHOOK_SCHEME_HTTPS;
    wlcf->allow_private = 0;
    wlcf->private_cidrs = NGX_CONF_UNSET_PTR;
    wlcf->max_subscriptions = 1000;
    wlcf->max_body_size = 1024 * 1024;
    wlcf->secret_grace = 86400000;
    wlcf->idempotency = 86400000;
    wlcf->max_pending = 1000;

    return wlcf;
}


ngx_http_complex_value_t *
fuzz_constant(ngx_pool_t *pool, char *value)
{
    ngx_http_complex_value_t  *cv;

    cv = ngx_pcalloc(pool, sizeof(ngx_http_complex_value_t));
    if (cv == NULL) {
        fuzz_fail("no memory");
    }

    cv->value.data = (u_char *) value;
    cv->value.len = ngx_strlen(value);

    return cv;
}


ngx_http_request_t *
fuzz_request(ngx_pool_t *pool, ngx_http_webhook_loc_conf_t *wlcf,
    u_char *body, size_t len)
{
    ngx_buf_t           *b;
    ngx_chain_t         *cl;
    ngx_http_request_t  *r;

    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    if (r == NULL) {
        fuzz_fail("no memory");
    }

    r->pool = pool;
    r->connection = &fuzz_connection;
    r->main = r;
    r->count = 1;
    r->method = NGX_HTTP_POST;
    ngx_str_set(&r->method_name, "POST");
    r->http_version = NGX_HTTP_VERSION_11;

    r->ctx = ngx_pcalloc(pool, sizeof(void *) * FUZZ_MAX_MODULES);
    r->main_conf = ngx_pcalloc(pool, sizeof(void *) * FUZZ_MAX_MODULES);
    r->srv_conf = ngx_pcalloc(pool, sizeof(void *) * FUZZ_MAX_MODULES);
    r->loc_conf = ngx_pcalloc(pool, sizeof(void *) * FUZZ_MAX_MODULES);

    if (r->ctx == NULL || r->main_conf == NULL || r->srv_conf == NULL
        || r->loc_conf == NULL)
    {
        fuzz_fail("no memory");
    }

    r->loc_conf[ngx_http_core_module.ctx_index] =
                         ngx_pcalloc(pool, sizeof(ngx_http_core_loc_conf_t));
    r->loc_conf[ngx_http_webhook_module.ctx_index] = wlcf;

    if (ngx_list_init(&r->headers_in.headers, pool, 4, sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_list_init(&r->headers_out.headers, pool, 4,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        fuzz_fail("no memory");
    }

    r->headers_in.content_length_n = len;

    r->request_body = ngx_pcalloc(pool, sizeof(ngx_http_request_body_t));
    if (r->request_body == NULL) {
        fuzz_fail("no memory");
    }

    if (len == 0) {
        return r;
    }

    /* a copy of exactly "len" bytes: ASan sees any read past it */

    b = ngx_create_temp_buf(pool, len);
    cl = ngx_alloc_chain_link(pool);
    if (b == NULL || cl == NULL) {
        fuzz_fail("no memory");
    }

    b->last = ngx_cpymem(b->pos, body, len);
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;

    r->request_body->bufs = cl;

    return r;
}


ngx_int_t
fuzz_add_header(ngx_http_request_t *r, char *name, u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->lowcase_key = (u_char *) name;

    h->value.data = ngx_pnalloc(r->pool, len + 1);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(h->value.data, value, len);
    h->value.data[len] = '\0';
    h->value.len = len;

    return NGX_OK;
}


void
fuzz_response_reset(void)
{
    ngx_free(fuzz_response.body);
    ngx_memzero(&fuzz_response, sizeof(fuzz_response_t));
}


static ngx_int_t
fuzz_header_filter(ngx_http_request_t *r)
{
    if (fuzz_response.header_sent) {
        fuzz_fail("a second response header");
    }

    fuzz_response.header_sent = 1;
    fuzz_response.status = r->headers_out.status;
    r->header_sent = 1;

    return NGX_OK;
}


static ngx_int_t
fuzz_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    u_char       *p;
    size_t        size;
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        if (!ngx_buf_in_memory(cl->buf)) {
            continue;
        }

        size = cl->buf->last - cl->buf->pos;

        if (size == 0) {
            continue;
        }

        p = ngx_alloc(fuzz_response.len + size, &fuzz_log);
        if (p == NULL) {
            fuzz_fail("no memory");
        }

        if (fuzz_response.len) {
            ngx_memcpy(p, fuzz_response.body, fuzz_response.len);
        }

        ngx_memcpy(p + fuzz_response.len, cl->buf->pos, size);

        ngx_free(fuzz_response.body);
        fuzz_response.body = p;
        fuzz_response.len += size;
    }

    return NGX_OK;
}


void
fuzz_check_response(ngx_uint_t *statuses)
{
    cJSON       *json, *error;
    ngx_uint_t  *s;

    if (!fuzz_response.header_sent) {
        fuzz_fail("no response");
    }

    if (getenv("FUZZ_VERBOSE")) {
        ngx_log_stderr(0, "response: %ui %*s", fuzz_response.status,
                       fuzz_response.len, fuzz_response.body);
    }

    for (s = statuses; *s; s++) {
        if (*s == fuzz_response.status) {
            break;
        }
    }

    if (*s == 0) {
        fuzz_fail("unexpected status %ui: %*s", fuzz_response.status,
                  fuzz_response.len, fuzz_response.body);
    }

    if (fuzz_response.len == 0) {
        if (fuzz_response.status != NGX_HTTP_NO_CONTENT) {
            fuzz_fail("status %ui with no body", fuzz_response.status);
        }

        return;
    }

    json = cJSON_ParseWithLength((char *) fuzz_response.body,
                                 fuzz_response.len);
    if (json == NULL) {
        fuzz_fail("the response is not JSON: %*s", fuzz_response.len,
                  fuzz_response.body);
    }

    if (fuzz_response.status >= NGX_HTTP_BAD_REQUEST) {
        error = cJSON_GetObjectItemCaseSensitive(json, "error");

        if (!cJSON_IsString(error)) {
            fuzz_fail("an error without \"error\": %*s", fuzz_response.len,
                      fuzz_response.body);
        }
    }

    fuzz_check_strings(json);

    cJSON_Delete(json);
}


/* what reaches a client or a delivery header never holds CR, LF, ... */

static void
fuzz_check_strings(cJSON *json)
{
    u_char  *p;
    cJSON   *item;

    if (cJSON_IsString(json)) {
        for (p = (u_char *) json->valuestring; *p; p++) {
            if (*p < 0x20 || *p == 0x7f) {
                fuzz_fail("a control character in a response string: %*s",
                          fuzz_response.len, fuzz_response.body);
            }
        }
    }

    for (item = json->child; item; item = item->next) {
        fuzz_check_strings(item);
    }
}


ngx_uint_t
fuzz_split(u_char *data, size_t len, u_char sep, ngx_str_t *parts,
    ngx_uint_t n)
{
    u_char      *p, *last, *e;
    ngx_uint_t   i;

    p = data;
    last = data + len;

    for (i = 0; i < n; i++) {
        if (i == n - 1) {
            e = last;

        } else {
            e = ngx_strlchr(p, last, sep);
            if (e == NULL) {
                e = last;
            }
        }

        parts[i].data = p;
        parts[i].len = e - p;

        if (e == last) {
            return i + 1;
        }

        p = e + 1;
    }

    return n;
}


void ngx_cdecl
fuzz_fail(const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    buf[4096];

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf) - 1, fmt, args);
    va_end(args);

    *p++ = '\n';

    (void) ngx_write_fd(ngx_stderr, "fuzz check failed: ", 19);
    (void) ngx_write_fd(ngx_stderr, buf, p - buf);

    abort();
}
