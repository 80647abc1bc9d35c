
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_webhook_store.h"
#include "ngx_http_webhook_state.h"


#define NGX_HTTP_WEBHOOK_REC_SUB_PUT     1
#define NGX_HTTP_WEBHOOK_REC_SUB_DEL     2

#define NGX_HTTP_WEBHOOK_REC_VERSION     1

/* version, enabled, reason, flags, __v, created, updated, id, 6 lengths */
#define NGX_HTTP_WEBHOOK_SUB_REC_FIXED                                        \
    (4 + 4 + 8 + 8 + NGX_HTTP_WEBHOOK_ID_LEN + 6 * 2)

#define NGX_HTTP_WEBHOOK_SNAPSHOT_SIZE   (64 * 1024 * 1024)


/* a node of the tenant and action trees: key is the hash of the name */
typedef struct {
    ngx_rbtree_node_t               node;
    u_char                         *name;
    size_t                          len;
} ngx_http_webhook_named_t;


typedef struct {
    ngx_http_webhook_named_t        named;
    ngx_queue_t                     subs;       /* in creation order */
    ngx_rbtree_t                    actions;    /* buckets */
    ngx_rbtree_node_t               sentinel;
    ngx_uint_t                      count;
} ngx_http_webhook_tenant_t;


/* the subscriptions of one tenant whose action (or pattern) is "name" */
typedef struct {
    ngx_http_webhook_named_t        named;
    ngx_queue_t                     subs;
} ngx_http_webhook_bucket_t;


typedef struct {
    ngx_rbtree_node_t               node;       /* key: hash of the id */
    ngx_queue_t                     tenant_queue;
    ngx_queue_t                     bucket_queue;
    ngx_http_webhook_tenant_t      *tenant;
    ngx_http_webhook_bucket_t      *bucket;
    int64_t                         created;
    int64_t                         updated;
    uint32_t                        version;
    u_char                          enabled;
    u_char                          disabled_reason;
    u_char                          has_token;
    u_char                          has_description;
    u_char                          id[NGX_HTTP_WEBHOOK_ID_LEN];
    u_short                         action_len;
    u_short                         url_len;
    u_short                         secret_len;
    u_short                         token_len;
    u_short                         description_len;
    u_char                          data[1];
} ngx_http_webhook_node_t;


typedef struct {
    ngx_rbtree_t                    ids;
    ngx_rbtree_node_t               ids_sentinel;
    ngx_rbtree_t                    tenants;
    ngx_rbtree_node_t               tenants_sentinel;

    ngx_uint_t                      subscriptions;

    uint64_t                        generation;
    uint64_t                        seq;
    off_t                           journal_size;
    ngx_pid_t                       snapshot_pid;    /* 0: none running */

    ngx_uint_t                      writable;

    uint32_t                        id_counter;
    u_char                          id_random[5];
} ngx_http_webhook_shctx_t;


struct ngx_http_webhook_store_s {
    ngx_http_webhook_shctx_t       *sh;
    ngx_slab_pool_t                *shpool;
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_webhook_store_conf_t   conf;
    ngx_http_webhook_state_t       *state;
    ngx_event_t                     lock_event;
};


static ngx_int_t ngx_http_webhook_store_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_webhook_store_load(ngx_http_webhook_store_t *store,
    ngx_cycle_t *cycle);
static ngx_int_t ngx_http_webhook_store_apply(void *data, ngx_uint_t type,
    u_char *p, size_t len);
static void ngx_http_webhook_store_clear(ngx_http_webhook_store_t *store);
static void ngx_http_webhook_store_lock_handler(ngx_event_t *ev);

static ngx_http_webhook_tenant_t *ngx_http_webhook_tenant_lookup(
    ngx_http_webhook_shctx_t *sh, ngx_str_t *name);
static ngx_http_webhook_bucket_t *ngx_http_webhook_bucket_lookup(
    ngx_http_webhook_tenant_t *tenant, u_char *name, size_t len);
static ngx_http_webhook_node_t *ngx_http_webhook_node_lookup(
    ngx_http_webhook_shctx_t *sh, u_char *id);
static ngx_http_webhook_named_t *ngx_http_webhook_named_lookup(
    ngx_rbtree_t *tree, u_char *name, size_t len);
static void ngx_http_webhook_named_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_http_webhook_id_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);

static ngx_http_webhook_node_t *ngx_http_webhook_node_alloc(
    ngx_http_webhook_store_t *store, ngx_http_webhook_sub_t *sub);
static ngx_int_t ngx_http_webhook_node_prepare(
    ngx_http_webhook_store_t *store, ngx_http_webhook_node_t *node,
    ngx_str_t *tenant, ngx_http_webhook_tenant_t **tp,
    ngx_http_webhook_bucket_t **bp);
static void ngx_http_webhook_node_link(ngx_http_webhook_store_t *store,
    ngx_http_webhook_node_t *node, ngx_http_webhook_tenant_t *tenant,
    ngx_http_webhook_bucket_t *bucket, ngx_http_webhook_node_t *old);
static void ngx_http_webhook_node_unlink(ngx_http_webhook_store_t *store,
    ngx_http_webhook_node_t *node, ngx_uint_t keep_tenant);
static void ngx_http_webhook_node_free_unlinked(
    ngx_http_webhook_store_t *store, ngx_http_webhook_tenant_t *tenant,
    ngx_http_webhook_bucket_t *bucket);
static ngx_int_t ngx_http_webhook_node_copy(ngx_http_webhook_node_t *node,
    ngx_pool_t *pool, ngx_http_webhook_sub_t *out, ngx_uint_t secrets);
static void ngx_http_webhook_node_view(ngx_http_webhook_node_t *node,
    ngx_http_webhook_sub_t *sub);

static size_t ngx_http_webhook_sub_rec_size(ngx_http_webhook_sub_t *sub);
static u_char *ngx_http_webhook_sub_rec_write(u_char *p,
    ngx_http_webhook_sub_t *sub);
static ngx_int_t ngx_http_webhook_sub_rec_read(u_char *p, size_t len,
    ngx_http_webhook_sub_t *sub);

static ngx_int_t ngx_http_webhook_store_journal(
    ngx_http_webhook_store_t *store, ngx_uint_t type, u_char *p, size_t len,
    ngx_log_t *log);
static u_char *ngx_http_webhook_store_dump(ngx_http_webhook_store_t *store,
    size_t *len);
static void ngx_http_webhook_store_maybe_snapshot(
    ngx_http_webhook_store_t *store, ngx_log_t *log);
static void ngx_http_webhook_store_snapshot_done(void *data, ngx_int_t rc);
static ngx_int_t ngx_http_webhook_store_done(ngx_http_webhook_store_t *store,
    ngx_log_t *log, ngx_http_webhook_store_handler_pt handler, void *data);

static int64_t ngx_http_webhook_now(void);
static void ngx_http_webhook_new_id(ngx_http_webhook_shctx_t *sh,
    u_char *id);


ngx_http_webhook_store_t *
ngx_http_webhook_store_add(ngx_conf_t *cf, ngx_http_webhook_store_conf_t *scf)
{
    ngx_shm_zone_t            *shm_zone;
    ngx_http_webhook_store_t  *store;

    store = ngx_pcalloc(cf->pool, sizeof(ngx_http_webhook_store_t));
    if (store == NULL) {
        return NULL;
    }

    store->conf = *scf;

    if (store->conf.snapshot_size == 0) {
        store->conf.snapshot_size = NGX_HTTP_WEBHOOK_SNAPSHOT_SIZE;
    }

    if (scf->state_dir.len) {
        store->state = ngx_http_webhook_state_create(cf, &store->conf.state_dir,
                                                     scf->fsync,
                                                     scf->fsync_interval);
        if (store->state == NULL) {
            return NULL;
        }
    }

    shm_zone = ngx_shared_memory_add(cf, &store->conf.name, scf->size,
                                     &ngx_http_webhook_module);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate webhook zone \"%V\"", &scf->name);
        return NULL;
    }

    shm_zone->init = ngx_http_webhook_store_init_zone;
    shm_zone->data = store;

    store->shm_zone = shm_zone;

    return store;
}


ngx_http_webhook_store_t *
ngx_http_webhook_store_find(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                     i;
    ngx_http_webhook_store_t     **stores;
    ngx_http_webhook_main_conf_t  *wmcf;

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_module);

    stores = wmcf->stores.elts;

    for (i = 0; i < wmcf->stores.nelts; i++) {
        if (stores[i]->conf.name.len == name->len
            && ngx_strncmp(stores[i]->conf.name.data, name->data, name->len)
               == 0)
        {
            return stores[i];
        }
    }

    return NULL;
}


ngx_str_t *
ngx_http_webhook_store_name(ngx_http_webhook_store_t *store)
{
    return &store->conf.name;
}


static ngx_int_t
ngx_http_webhook_store_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_webhook_store_t  *ostore = data;

    size_t                     len;
    ngx_uint_t                 i;
    ngx_shm_zone_t            *oz;
    ngx_list_part_t           *part;
    ngx_http_webhook_store_t  *store;

    store = shm_zone->data;

    if (ostore) {
        store->sh = ostore->sh;
        store->shpool = ostore->shpool;
        return NGX_OK;
    }

    /*
     * A reload that resizes the zone would start from the files while the
     * old workers may still be writing: refuse it.  During a reload
     * ngx_cycle is still the old cycle.
     */

    if (store->state) {
        part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
        oz = part->elts;

        for (i = 0; /* void */ ; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }
                part = part->next;
                oz = part->elts;
                i = 0;
            }

            if (oz[i].tag == shm_zone->tag
                && oz[i].shm.name.len == shm_zone->shm.name.len
                && ngx_strncmp(oz[i].shm.name.data, shm_zone->shm.name.data,
                               shm_zone->shm.name.len)
                   == 0
                && oz[i].shm.size != shm_zone->shm.size)
            {
                ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                              "webhook zone \"%V\" cannot change its size "
                              "from %uz to %uz on reload, restart nginx to "
                              "resize it", &shm_zone->shm.name,
                              oz[i].shm.size, shm_zone->shm.size);
                return NGX_ERROR;
            }
        }
    }

    store->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        store->sh = store->shpool->data;
        return NGX_OK;
    }

    store->sh = ngx_slab_calloc(store->shpool,
                                sizeof(ngx_http_webhook_shctx_t));
    if (store->sh == NULL) {
        return NGX_ERROR;
    }

    store->shpool->data = store->sh;

    ngx_rbtree_init(&store->sh->ids, &store->sh->ids_sentinel,
                    ngx_http_webhook_id_insert_value);
    ngx_rbtree_init(&store->sh->tenants, &store->sh->tenants_sentinel,
                    ngx_http_webhook_named_insert_value);

    if (RAND_bytes(store->sh->id_random, 5) != 1) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "RAND_bytes() failed");
        return NGX_ERROR;
    }

    store->sh->writable = 1;

    len = sizeof(" in webhook zone \"\"") + shm_zone->shm.name.len;

    store->shpool->log_ctx = ngx_slab_alloc(store->shpool, len);
    if (store->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(store->shpool->log_ctx, " in webhook zone \"%V\"%Z",
                &shm_zone->shm.name);

    store->shpool->log_nomem = 0;

    if (store->state == NULL) {
        return NGX_OK;
    }

    return ngx_http_webhook_store_load(store, (ngx_cycle_t *) ngx_cycle);
}


static ngx_int_t
ngx_http_webhook_store_load(ngx_http_webhook_store_t *store,
    ngx_cycle_t *cycle)
{
    u_char                         *buf;
    size_t                          len;
    ngx_int_t                       rc;
    ngx_uint_t                      writable;
    ngx_http_webhook_state_info_t   info;

    ngx_memzero(&info, sizeof(ngx_http_webhook_state_info_t));
    writable = 0;

    if (ngx_http_webhook_state_load(store->state, cycle,
                                    ngx_http_webhook_store_apply, store,
                                    &info, &writable)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    store->sh->generation = info.generation;
    store->sh->seq = info.seq;
    store->sh->writable = writable;
    store->sh->journal_size = 0;

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "webhook zone \"%V\": %ui subscriptions loaded from \"%V\"%s",
                  &store->conf.name, store->sh->subscriptions,
                  &store->conf.state_dir,
                  writable ? "" : " (read-only: another nginx owns it)");

    if (!writable || ngx_test_config || info.journal_size == 0) {
        return NGX_OK;
    }

    /* every start begins with a fresh snapshot and an empty journal */

    buf = ngx_http_webhook_store_dump(store, &len);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    store->sh->generation++;

    rc = ngx_http_webhook_state_write_snapshot(store->state, buf, len,
                                               store->sh->generation,
                                               store->sh->seq, cycle->log);
    ngx_free(buf);

    return rc;
}


static ngx_int_t
ngx_http_webhook_store_apply(void *data, ngx_uint_t type, u_char *p,
    size_t len)
{
    ngx_http_webhook_store_t *store = data;

    ngx_http_webhook_sub_t      sub;
    ngx_http_webhook_node_t    *node, *old;
    ngx_http_webhook_bucket_t  *bucket;
    ngx_http_webhook_tenant_t  *tenant;

    switch (type) {

    case NGX_HTTP_WEBHOOK_REC_SUB_PUT:

        if (ngx_http_webhook_sub_rec_read(p, len, &sub) != NGX_OK) {
            return NGX_ERROR;
        }

        node = ngx_http_webhook_node_alloc(store, &sub);
        if (node == NULL) {
            ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                          "webhook zone \"%V\" is too small for its state",
                          &store->conf.name);
            return NGX_ERROR;
        }

        if (ngx_http_webhook_node_prepare(store, node, &sub.tenant, &tenant,
                                          &bucket)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                          "webhook zone \"%V\" is too small for its state",
                          &store->conf.name);
            return NGX_ERROR;
        }

        old = ngx_http_webhook_node_lookup(store->sh, node->id);

        ngx_http_webhook_node_link(store, node, tenant, bucket, old);

        return NGX_OK;

    case NGX_HTTP_WEBHOOK_REC_SUB_DEL:

        if (len != NGX_HTTP_WEBHOOK_ID_LEN) {
            return NGX_ERROR;
        }

        node = ngx_http_webhook_node_lookup(store->sh, p);
        if (node) {
            ngx_http_webhook_node_unlink(store, node, 0);
        }

        return NGX_OK;

    default:
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "unknown webhook record type %ui", type);
        return NGX_ERROR;
    }
}


static void
ngx_http_webhook_store_clear(ngx_http_webhook_store_t *store)
{
    ngx_rbtree_node_t         *node, *root, *sentinel;
    ngx_http_webhook_node_t   *wn;

    sentinel = store->sh->ids.sentinel;

    for ( ;; ) {
        root = store->sh->ids.root;

        if (root == sentinel) {
            break;
        }

        node = ngx_rbtree_min(root, sentinel);
        wn = (ngx_http_webhook_node_t *) node;

        ngx_http_webhook_node_unlink(store, wn, 0);
    }
}


ngx_int_t
ngx_http_webhook_store_init_process(ngx_cycle_t *cycle,
    ngx_http_webhook_store_t *store)
{
    if (store->state == NULL) {
        return NGX_OK;
    }

    if (ngx_http_webhook_state_init_process(store->state, cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (store->sh->writable) {
        return NGX_OK;
    }

    /* a read-only instance waits for the owner of the state to go */

    store->lock_event.handler = ngx_http_webhook_store_lock_handler;
    store->lock_event.data = store;
    store->lock_event.log = cycle->log;
    store->lock_event.cancelable = 1;

    ngx_add_timer(&store->lock_event, 1000);

    return NGX_OK;
}


void
ngx_http_webhook_store_exit_process(ngx_cycle_t *cycle,
    ngx_http_webhook_store_t *store)
{
    if (store->state) {
        ngx_http_webhook_state_exit_process(store->state);
    }
}


static void
ngx_http_webhook_store_lock_handler(ngx_event_t *ev)
{
    ngx_http_webhook_store_t *store = ev->data;

    ngx_int_t                       rc;
    ngx_http_webhook_state_info_t   info;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (store->sh->writable) {
        return;
    }

    if (ngx_http_webhook_state_try_lock(store->state, ev->log) != NGX_OK) {
        ngx_add_timer(ev, 1000);
        return;
    }

    /*
     * The previous owner went on writing after this instance loaded the
     * state: replay what it wrote since, now that nobody else writes.
     */

    ngx_shmtx_lock(&store->shpool->mutex);

    if (store->sh->writable) {
        ngx_shmtx_unlock(&store->shpool->mutex);
        return;
    }

    ngx_memzero(&info, sizeof(ngx_http_webhook_state_info_t));

    rc = ngx_http_webhook_state_catch_up(store->state, store->sh->seq,
                                         ngx_http_webhook_store_apply, store,
                                         &info, ev->log);

    if (rc == NGX_DECLINED) {
        /* a newer snapshot: start from it */

        ngx_http_webhook_store_clear(store);

        ngx_memzero(&info, sizeof(ngx_http_webhook_state_info_t));

        rc = ngx_http_webhook_state_catch_up(store->state, 0,
                                             ngx_http_webhook_store_apply,
                                             store, &info, ev->log);
    }

    if (rc != NGX_OK) {
        ngx_shmtx_unlock(&store->shpool->mutex);
        ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                      "webhook zone \"%V\": could not load the state after "
                      "taking it over", &store->conf.name);
        ngx_add_timer(ev, 1000);
        return;
    }

    store->sh->generation = info.generation;
    store->sh->seq = info.seq;
    store->sh->journal_size = info.journal_size;
    store->sh->writable = 1;

    ngx_shmtx_unlock(&store->shpool->mutex);

    ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                  "webhook zone \"%V\": took over \"%V\", %ui subscriptions",
                  &store->conf.name, &store->conf.state_dir,
                  store->sh->subscriptions);
}


ngx_int_t
ngx_http_webhook_store_writable(ngx_http_webhook_store_t *store)
{
    return store->sh->writable ? NGX_OK : NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE;
}


ngx_int_t
ngx_http_webhook_store_create(ngx_http_webhook_store_t *store,
    ngx_http_webhook_sub_t *sub, ngx_uint_t max_per_tenant,
    ngx_pool_t *pool, ngx_http_webhook_sub_t *out,
    ngx_http_webhook_store_handler_pt handler, void *data)
{
    u_char                     *rec;
    size_t                      len;
    ngx_int_t                   rc;
    ngx_http_webhook_sub_t      view;
    ngx_http_webhook_node_t    *node;
    ngx_http_webhook_bucket_t  *bucket;
    ngx_http_webhook_tenant_t  *tenant;

    ngx_shmtx_lock(&store->shpool->mutex);

    if (!store->sh->writable) {
        rc = NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE;
        goto failed;
    }

    tenant = ngx_http_webhook_tenant_lookup(store->sh, &sub->tenant);

    if (tenant && max_per_tenant && tenant->count >= max_per_tenant) {
        rc = NGX_HTTP_WEBHOOK_STORE_LIMIT;
        goto failed;
    }

    view = *sub;
    view.id.len = NGX_HTTP_WEBHOOK_ID_LEN;
    view.id.data = ngx_pnalloc(pool, NGX_HTTP_WEBHOOK_ID_LEN);
    if (view.id.data == NULL) {
        rc = NGX_ERROR;
        goto failed;
    }

    ngx_http_webhook_new_id(store->sh, view.id.data);

    view.created = ngx_http_webhook_now();
    view.updated = view.created;
    view.version = 0;

    node = ngx_http_webhook_node_alloc(store, &view);
    if (node == NULL) {
        rc = NGX_HTTP_WEBHOOK_STORE_FULL;
        goto failed;
    }

    if (ngx_http_webhook_node_prepare(store, node, &sub->tenant, &tenant,
                                      &bucket)
        != NGX_OK)
    {
        ngx_slab_free_locked(store->shpool, node);
        rc = NGX_HTTP_WEBHOOK_STORE_FULL;
        goto failed;
    }

    if (store->state) {
        len = ngx_http_webhook_sub_rec_size(&view);

        rec = ngx_pnalloc(pool, len);
        if (rec == NULL) {
            rc = NGX_ERROR;
            goto undo;
        }

        (void) ngx_http_webhook_sub_rec_write(rec, &view);

        rc = ngx_http_webhook_store_journal(store,
                                            NGX_HTTP_WEBHOOK_REC_SUB_PUT,
                                            rec, len, pool->log);
        if (rc != NGX_OK) {
            goto undo;
        }
    }

    ngx_http_webhook_node_link(store, node, tenant, bucket, NULL);

    rc = ngx_http_webhook_node_copy(node, pool, out, 1);

    ngx_http_webhook_store_maybe_snapshot(store, pool->log);

    ngx_shmtx_unlock(&store->shpool->mutex);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_webhook_store_done(store, pool->log, handler, data);

undo:

    ngx_slab_free_locked(store->shpool, node);
    ngx_http_webhook_node_free_unlinked(store, tenant, bucket);

failed:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


ngx_int_t
ngx_http_webhook_store_get(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *id, ngx_pool_t *pool,
    ngx_http_webhook_sub_t *out)
{
    ngx_int_t                 rc;
    ngx_http_webhook_node_t  *node;

    if (id->len != NGX_HTTP_WEBHOOK_ID_LEN) {
        return NGX_HTTP_WEBHOOK_STORE_NOT_FOUND;
    }

    ngx_shmtx_lock(&store->shpool->mutex);

    node = ngx_http_webhook_node_lookup(store->sh, id->data);

    if (node == NULL
        || node->tenant->named.len != tenant->len
        || ngx_strncmp(node->tenant->named.name, tenant->data, tenant->len)
           != 0)
    {
        rc = NGX_HTTP_WEBHOOK_STORE_NOT_FOUND;

    } else {
        rc = ngx_http_webhook_node_copy(node, pool, out, 1);
    }

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


static int ngx_libc_cdecl
ngx_http_webhook_cmp_updated(const void *one, const void *two)
{
    ngx_http_webhook_node_t  *a, *b;

    a = *(ngx_http_webhook_node_t **) one;
    b = *(ngx_http_webhook_node_t **) two;

    if (a->updated != b->updated) {
        return a->updated < b->updated ? -1 : 1;
    }

    return ngx_memcmp(a->id, b->id, NGX_HTTP_WEBHOOK_ID_LEN);
}


ngx_int_t
ngx_http_webhook_store_list(ngx_http_webhook_store_t *store,
    ngx_http_webhook_list_query_t *q, ngx_pool_t *pool, ngx_array_t *out,
    ngx_uint_t *total)
{
    ngx_int_t                   rc;
    ngx_uint_t                  i, n, first, last;
    ngx_queue_t                *qe;
    ngx_http_webhook_sub_t     *sub;
    ngx_http_webhook_node_t   **nodes, *node;
    ngx_http_webhook_tenant_t  *tenant;

    *total = 0;
    rc = NGX_OK;

    ngx_shmtx_lock(&store->shpool->mutex);

    tenant = ngx_http_webhook_tenant_lookup(store->sh, &q->tenant);
    if (tenant == NULL) {
        goto done;
    }

    /*
     * Pointers into the zone are only used while the mutex is held; the
     * results are copies.
     */

    nodes = ngx_alloc(tenant->count * sizeof(ngx_http_webhook_node_t *),
                      pool->log);
    if (nodes == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    n = 0;

    for (qe = ngx_queue_head(&tenant->subs);
         qe != ngx_queue_sentinel(&tenant->subs);
         qe = ngx_queue_next(qe))
    {
        node = ngx_queue_data(qe, ngx_http_webhook_node_t, tenant_queue);

        if (q->action.len
            && (node->action_len != q->action.len
                || ngx_strncmp(node->data, q->action.data, q->action.len)
                   != 0))
        {
            continue;
        }

        nodes[n++] = node;
    }

    if (q->sort == NGX_HTTP_WEBHOOK_SORT_UPDATED) {
        ngx_qsort(nodes, n, sizeof(ngx_http_webhook_node_t *),
                  ngx_http_webhook_cmp_updated);
    }

    *total = n;

    first = ngx_min(q->skip, n);
    last = q->limit ? ngx_min(first + q->limit, n) : n;

    for (i = first; i < last; i++) {
        sub = ngx_array_push(out);
        if (sub == NULL) {
            rc = NGX_ERROR;
            break;
        }

        node = nodes[q->descending ? n - 1 - i : i];

        rc = ngx_http_webhook_node_copy(node, pool, sub, 0);
        if (rc != NGX_OK) {
            break;
        }
    }

    ngx_free(nodes);

done:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


ngx_int_t
ngx_http_webhook_store_update(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *id, ngx_uint_t mask,
    ngx_http_webhook_sub_t *sub, ngx_pool_t *pool,
    ngx_http_webhook_sub_t *out, ngx_http_webhook_store_handler_pt handler,
    void *data)
{
    u_char                     *rec;
    size_t                      len;
    ngx_int_t                   rc;
    ngx_http_webhook_sub_t      view;
    ngx_http_webhook_node_t    *node, *old;
    ngx_http_webhook_bucket_t  *bucket;
    ngx_http_webhook_tenant_t  *tp;

    if (id->len != NGX_HTTP_WEBHOOK_ID_LEN) {
        return NGX_HTTP_WEBHOOK_STORE_NOT_FOUND;
    }

    ngx_shmtx_lock(&store->shpool->mutex);

    old = ngx_http_webhook_node_lookup(store->sh, id->data);

    if (old == NULL
        || old->tenant->named.len != tenant->len
        || ngx_strncmp(old->tenant->named.name, tenant->data, tenant->len)
           != 0)
    {
        rc = NGX_HTTP_WEBHOOK_STORE_NOT_FOUND;
        goto failed;
    }

    if (!store->sh->writable) {
        rc = NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE;
        goto failed;
    }

    ngx_http_webhook_node_view(old, &view);

    if (mask & NGX_HTTP_WEBHOOK_F_ACTION) {
        view.action = sub->action;
    }

    if (mask & NGX_HTTP_WEBHOOK_F_TARGET_URL) {
        view.target_url = sub->target_url;
    }

    if (mask & NGX_HTTP_WEBHOOK_F_SECRET) {
        view.secret = sub->secret;
    }

    if (mask & NGX_HTTP_WEBHOOK_F_TOKEN) {
        view.token = sub->token;
        view.has_token = sub->has_token;
    }

    if (mask & NGX_HTTP_WEBHOOK_F_DESCRIPTION) {
        view.description = sub->description;
        view.has_description = sub->has_description;
    }

    if (mask & NGX_HTTP_WEBHOOK_F_ENABLED) {
        view.enabled = sub->enabled;
        view.disabled_reason = sub->enabled ? NGX_HTTP_WEBHOOK_DISABLED_NONE
                                            : sub->disabled_reason;
    }

    view.updated = ngx_http_webhook_now();
    view.version++;

    node = ngx_http_webhook_node_alloc(store, &view);
    if (node == NULL) {
        rc = NGX_HTTP_WEBHOOK_STORE_FULL;
        goto failed;
    }

    if (ngx_http_webhook_node_prepare(store, node, &view.tenant, &tp,
                                      &bucket)
        != NGX_OK)
    {
        ngx_slab_free_locked(store->shpool, node);
        rc = NGX_HTTP_WEBHOOK_STORE_FULL;
        goto failed;
    }

    if (store->state) {
        len = ngx_http_webhook_sub_rec_size(&view);

        rec = ngx_pnalloc(pool, len);
        if (rec == NULL) {
            rc = NGX_ERROR;
            goto undo;
        }

        (void) ngx_http_webhook_sub_rec_write(rec, &view);

        rc = ngx_http_webhook_store_journal(store,
                                            NGX_HTTP_WEBHOOK_REC_SUB_PUT,
                                            rec, len, pool->log);
        if (rc != NGX_OK) {
            goto undo;
        }
    }

    ngx_http_webhook_node_link(store, node, tp, bucket, old);

    rc = ngx_http_webhook_node_copy(node, pool, out, 1);

    ngx_http_webhook_store_maybe_snapshot(store, pool->log);

    ngx_shmtx_unlock(&store->shpool->mutex);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_webhook_store_done(store, pool->log, handler, data);

undo:

    ngx_slab_free_locked(store->shpool, node);
    ngx_http_webhook_node_free_unlinked(store, tp, bucket);

failed:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


ngx_int_t
ngx_http_webhook_store_delete(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *id,
    ngx_http_webhook_store_handler_pt handler, void *data)
{
    ngx_int_t                 rc;
    ngx_http_webhook_node_t  *node;

    if (id->len != NGX_HTTP_WEBHOOK_ID_LEN) {
        return NGX_HTTP_WEBHOOK_STORE_NOT_FOUND;
    }

    ngx_shmtx_lock(&store->shpool->mutex);

    node = ngx_http_webhook_node_lookup(store->sh, id->data);

    if (node == NULL
        || node->tenant->named.len != tenant->len
        || ngx_strncmp(node->tenant->named.name, tenant->data, tenant->len)
           != 0)
    {
        rc = NGX_HTTP_WEBHOOK_STORE_NOT_FOUND;
        goto failed;
    }

    if (!store->sh->writable) {
        rc = NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE;
        goto failed;
    }

    if (store->state) {
        rc = ngx_http_webhook_store_journal(store,
                                            NGX_HTTP_WEBHOOK_REC_SUB_DEL,
                                            node->id,
                                            NGX_HTTP_WEBHOOK_ID_LEN,
                                            ngx_cycle->log);
        if (rc != NGX_OK) {
            goto failed;
        }
    }

    ngx_http_webhook_node_unlink(store, node, 0);

    ngx_http_webhook_store_maybe_snapshot(store, ngx_cycle->log);

    ngx_shmtx_unlock(&store->shpool->mutex);

    return ngx_http_webhook_store_done(store, ngx_cycle->log, handler, data);

failed:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


static ngx_http_webhook_named_t *
ngx_http_webhook_named_lookup(ngx_rbtree_t *tree, u_char *name, size_t len)
{
    ngx_int_t                  rc;
    uint32_t                   hash;
    ngx_rbtree_node_t         *node, *sentinel;
    ngx_http_webhook_named_t  *named;

    hash = ngx_crc32_short(name, len);

    node = tree->root;
    sentinel = tree->sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        named = (ngx_http_webhook_named_t *) node;

        rc = ngx_memn2cmp(name, named->name, len, named->len);

        if (rc == 0) {
            return named;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_webhook_named_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t         **p;
    ngx_http_webhook_named_t   *n, *t;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            n = (ngx_http_webhook_named_t *) node;
            t = (ngx_http_webhook_named_t *) temp;

            p = (ngx_memn2cmp(n->name, t->name, n->len, t->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_http_webhook_tenant_t *
ngx_http_webhook_tenant_lookup(ngx_http_webhook_shctx_t *sh, ngx_str_t *name)
{
    return (ngx_http_webhook_tenant_t *)
               ngx_http_webhook_named_lookup(&sh->tenants, name->data,
                                             name->len);
}


static ngx_http_webhook_bucket_t *
ngx_http_webhook_bucket_lookup(ngx_http_webhook_tenant_t *tenant,
    u_char *name, size_t len)
{
    return (ngx_http_webhook_bucket_t *)
               ngx_http_webhook_named_lookup(&tenant->actions, name, len);
}


static ngx_http_webhook_node_t *
ngx_http_webhook_node_lookup(ngx_http_webhook_shctx_t *sh, u_char *id)
{
    ngx_int_t                 rc;
    uint32_t                  hash;
    ngx_rbtree_node_t        *node, *sentinel;
    ngx_http_webhook_node_t  *wn;

    hash = ngx_crc32_short(id, NGX_HTTP_WEBHOOK_ID_LEN);

    node = sh->ids.root;
    sentinel = sh->ids.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        wn = (ngx_http_webhook_node_t *) node;

        rc = ngx_memcmp(id, wn->id, NGX_HTTP_WEBHOOK_ID_LEN);

        if (rc == 0) {
            return wn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_webhook_id_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t        **p;
    ngx_http_webhook_node_t   *n, *t;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            n = (ngx_http_webhook_node_t *) node;
            t = (ngx_http_webhook_node_t *) temp;

            p = (ngx_memcmp(n->id, t->id, NGX_HTTP_WEBHOOK_ID_LEN) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_http_webhook_node_t *
ngx_http_webhook_node_alloc(ngx_http_webhook_store_t *store,
    ngx_http_webhook_sub_t *sub)
{
    u_char                   *p;
    size_t                    size;
    ngx_http_webhook_node_t  *node;

    size = offsetof(ngx_http_webhook_node_t, data)
           + sub->action.len + sub->target_url.len + sub->secret.len
           + sub->token.len + sub->description.len;

    node = ngx_slab_alloc_locked(store->shpool, size);
    if (node == NULL) {
        return NULL;
    }

    ngx_memzero(node, offsetof(ngx_http_webhook_node_t, data));

    node->node.key = ngx_crc32_short(sub->id.data, NGX_HTTP_WEBHOOK_ID_LEN);
    ngx_memcpy(node->id, sub->id.data, NGX_HTTP_WEBHOOK_ID_LEN);

    node->created = sub->created;
    node->updated = sub->updated;
    node->version = (uint32_t) sub->version;
    node->enabled = sub->enabled;
    node->disabled_reason = (u_char) sub->disabled_reason;
    node->has_token = sub->has_token;
    node->has_description = sub->has_description;

    node->action_len = (u_short) sub->action.len;
    node->url_len = (u_short) sub->target_url.len;
    node->secret_len = (u_short) sub->secret.len;
    node->token_len = (u_short) sub->token.len;
    node->description_len = (u_short) sub->description.len;

    p = node->data;
    p = ngx_cpymem(p, sub->action.data, sub->action.len);
    p = ngx_cpymem(p, sub->target_url.data, sub->target_url.len);
    p = ngx_cpymem(p, sub->secret.data, sub->secret.len);
    p = ngx_cpymem(p, sub->token.data, sub->token.len);
    (void) ngx_cpymem(p, sub->description.data, sub->description.len);

    return node;
}


/*
 * Finds or makes the tenant and the action bucket "node" will join.  New
 * ones are inserted empty, so that a later failure can drop them with
 * ngx_http_webhook_node_free_unlinked().
 */

static ngx_int_t
ngx_http_webhook_node_prepare(ngx_http_webhook_store_t *store,
    ngx_http_webhook_node_t *node, ngx_str_t *name,
    ngx_http_webhook_tenant_t **tp, ngx_http_webhook_bucket_t **bp)
{
    ngx_http_webhook_bucket_t  *bucket;
    ngx_http_webhook_tenant_t  *tenant;

    *tp = NULL;
    *bp = NULL;

    tenant = ngx_http_webhook_tenant_lookup(store->sh, name);

    if (tenant == NULL) {
        tenant = ngx_slab_alloc_locked(store->shpool,
                                       sizeof(ngx_http_webhook_tenant_t)
                                       + name->len);
        if (tenant == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(tenant, sizeof(ngx_http_webhook_tenant_t));

        tenant->named.name = (u_char *) tenant
                             + sizeof(ngx_http_webhook_tenant_t);
        tenant->named.len = name->len;
        ngx_memcpy(tenant->named.name, name->data, name->len);
        tenant->named.node.key = ngx_crc32_short(name->data, name->len);

        ngx_queue_init(&tenant->subs);
        ngx_rbtree_init(&tenant->actions, &tenant->sentinel,
                        ngx_http_webhook_named_insert_value);

        ngx_rbtree_insert(&store->sh->tenants, &tenant->named.node);
    }

    *tp = tenant;

    bucket = ngx_http_webhook_bucket_lookup(tenant, node->data,
                                            node->action_len);
    if (bucket == NULL) {
        bucket = ngx_slab_alloc_locked(store->shpool,
                                       sizeof(ngx_http_webhook_bucket_t)
                                       + node->action_len);
        if (bucket == NULL) {
            ngx_http_webhook_node_free_unlinked(store, tenant, NULL);
            *tp = NULL;
            return NGX_ERROR;
        }

        ngx_memzero(bucket, sizeof(ngx_http_webhook_bucket_t));

        bucket->named.name = (u_char *) bucket
                             + sizeof(ngx_http_webhook_bucket_t);
        bucket->named.len = node->action_len;
        ngx_memcpy(bucket->named.name, node->data, node->action_len);
        bucket->named.node.key = ngx_crc32_short(node->data,
                                                 node->action_len);

        ngx_queue_init(&bucket->subs);

        ngx_rbtree_insert(&tenant->actions, &bucket->named.node);
    }

    *bp = bucket;

    return NGX_OK;
}


/* links a prepared node in, in place of "old" if there is one */

static void
ngx_http_webhook_node_link(ngx_http_webhook_store_t *store,
    ngx_http_webhook_node_t *node, ngx_http_webhook_tenant_t *tenant,
    ngx_http_webhook_bucket_t *bucket, ngx_http_webhook_node_t *old)
{
    node->tenant = tenant;
    node->bucket = bucket;

    if (old && old->tenant == tenant) {
        ngx_queue_insert_after(&old->tenant_queue, &node->tenant_queue);

    } else {
        ngx_queue_insert_tail(&tenant->subs, &node->tenant_queue);
    }

    if (old && old->bucket == bucket) {
        ngx_queue_insert_after(&old->bucket_queue, &node->bucket_queue);

    } else {
        ngx_queue_insert_tail(&bucket->subs, &node->bucket_queue);
    }

    tenant->count++;
    store->sh->subscriptions++;

    if (old) {
        ngx_http_webhook_node_unlink(store, old, 0);
    }

    ngx_rbtree_insert(&store->sh->ids, &node->node);
}


static void
ngx_http_webhook_node_unlink(ngx_http_webhook_store_t *store,
    ngx_http_webhook_node_t *node, ngx_uint_t keep_tenant)
{
    ngx_http_webhook_bucket_t  *bucket;
    ngx_http_webhook_tenant_t  *tenant;

    tenant = node->tenant;
    bucket = node->bucket;

    ngx_rbtree_delete(&store->sh->ids, &node->node);
    ngx_queue_remove(&node->tenant_queue);
    ngx_queue_remove(&node->bucket_queue);

    tenant->count--;
    store->sh->subscriptions--;

    ngx_slab_free_locked(store->shpool, node);

    ngx_http_webhook_node_free_unlinked(store, keep_tenant ? NULL : tenant,
                                        bucket);
}


/* drops a bucket and a tenant left empty */

static void
ngx_http_webhook_node_free_unlinked(ngx_http_webhook_store_t *store,
    ngx_http_webhook_tenant_t *tenant, ngx_http_webhook_bucket_t *bucket)
{
    ngx_http_webhook_tenant_t  *owner;

    if (bucket && ngx_queue_empty(&bucket->subs)) {
        owner = tenant;

        if (owner == NULL) {
            return;
        }

        ngx_rbtree_delete(&owner->actions, &bucket->named.node);
        ngx_slab_free_locked(store->shpool, bucket);
    }

    if (tenant
        && ngx_queue_empty(&tenant->subs)
        && tenant->actions.root == tenant->actions.sentinel)
    {
        ngx_rbtree_delete(&store->sh->tenants, &tenant->named.node);
        ngx_slab_free_locked(store->shpool, tenant);
    }
}


static void
ngx_http_webhook_node_view(ngx_http_webhook_node_t *node,
    ngx_http_webhook_sub_t *sub)
{
    u_char  *p;

    ngx_memzero(sub, sizeof(ngx_http_webhook_sub_t));

    sub->id.len = NGX_HTTP_WEBHOOK_ID_LEN;
    sub->id.data = node->id;

    sub->tenant.len = node->tenant->named.len;
    sub->tenant.data = node->tenant->named.name;

    p = node->data;

    sub->action.len = node->action_len;
    sub->action.data = p;
    p += node->action_len;

    sub->target_url.len = node->url_len;
    sub->target_url.data = p;
    p += node->url_len;

    sub->secret.len = node->secret_len;
    sub->secret.data = p;
    p += node->secret_len;

    sub->token.len = node->token_len;
    sub->token.data = p;
    p += node->token_len;

    sub->description.len = node->description_len;
    sub->description.data = p;

    sub->created = node->created;
    sub->updated = node->updated;
    sub->version = node->version;
    sub->disabled_reason = node->disabled_reason;
    sub->enabled = node->enabled;
    sub->has_token = node->has_token;
    sub->has_description = node->has_description;
}


static ngx_int_t
ngx_http_webhook_node_copy(ngx_http_webhook_node_t *node, ngx_pool_t *pool,
    ngx_http_webhook_sub_t *out, ngx_uint_t secrets)
{
    u_char                  *p;
    size_t                   size;
    ngx_http_webhook_sub_t   view;

    ngx_http_webhook_node_view(node, &view);

    if (!secrets) {
        view.secret.len = 0;
        view.token.len = 0;
    }

    size = view.id.len + view.tenant.len + view.action.len
           + view.target_url.len + view.secret.len + view.token.len
           + view.description.len;

    p = ngx_pnalloc(pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *out = view;

#define ngx_http_webhook_copy_str(f)                                          \
    out->f.data = p;                                                          \
    p = ngx_cpymem(p, view.f.data, view.f.len)

    ngx_http_webhook_copy_str(id);
    ngx_http_webhook_copy_str(tenant);
    ngx_http_webhook_copy_str(action);
    ngx_http_webhook_copy_str(target_url);
    ngx_http_webhook_copy_str(secret);
    ngx_http_webhook_copy_str(token);
    ngx_http_webhook_copy_str(description);

#undef ngx_http_webhook_copy_str

    return NGX_OK;
}


static size_t
ngx_http_webhook_sub_rec_size(ngx_http_webhook_sub_t *sub)
{
    return NGX_HTTP_WEBHOOK_SUB_REC_FIXED
           + sub->tenant.len + sub->action.len + sub->target_url.len
           + sub->secret.len + sub->token.len + sub->description.len;
}


/* native byte order: the state files are not meant to move between hosts */

static u_char *
ngx_http_webhook_sub_rec_write(u_char *p, ngx_http_webhook_sub_t *sub)
{
    uint16_t  n;
    uint32_t  v;

    *p++ = NGX_HTTP_WEBHOOK_REC_VERSION;
    *p++ = (u_char) sub->enabled;
    *p++ = (u_char) sub->disabled_reason;
    *p++ = (u_char) (sub->has_token | (sub->has_description << 1));

    v = (uint32_t) sub->version;
    p = ngx_cpymem(p, &v, 4);
    p = ngx_cpymem(p, &sub->created, 8);
    p = ngx_cpymem(p, &sub->updated, 8);
    p = ngx_cpymem(p, sub->id.data, NGX_HTTP_WEBHOOK_ID_LEN);

#define ngx_http_webhook_put_len(f)                                           \
    n = (uint16_t) sub->f.len;                                                \
    p = ngx_cpymem(p, &n, 2)

    ngx_http_webhook_put_len(tenant);
    ngx_http_webhook_put_len(action);
    ngx_http_webhook_put_len(target_url);
    ngx_http_webhook_put_len(secret);
    ngx_http_webhook_put_len(token);
    ngx_http_webhook_put_len(description);

#undef ngx_http_webhook_put_len

    p = ngx_cpymem(p, sub->tenant.data, sub->tenant.len);
    p = ngx_cpymem(p, sub->action.data, sub->action.len);
    p = ngx_cpymem(p, sub->target_url.data, sub->target_url.len);
    p = ngx_cpymem(p, sub->secret.data, sub->secret.len);
    p = ngx_cpymem(p, sub->token.data, sub->token.len);
    p = ngx_cpymem(p, sub->description.data, sub->description.len);

    return p;
}


static ngx_int_t
ngx_http_webhook_sub_rec_read(u_char *p, size_t len,
    ngx_http_webhook_sub_t *sub)
{
    u_char    *last;
    uint16_t   n;
    uint32_t   v;

    if (len < NGX_HTTP_WEBHOOK_SUB_REC_FIXED
        || p[0] != NGX_HTTP_WEBHOOK_REC_VERSION)
    {
        return NGX_ERROR;
    }

    ngx_memzero(sub, sizeof(ngx_http_webhook_sub_t));

    last = p + len;

    sub->enabled = p[1] ? 1 : 0;
    sub->disabled_reason = p[2];
    sub->has_token = (p[3] & 1) ? 1 : 0;
    sub->has_description = (p[3] & 2) ? 1 : 0;
    p += 4;

    ngx_memcpy(&v, p, 4);
    sub->version = v;
    p += 4;

    ngx_memcpy(&sub->created, p, 8);
    p += 8;
    ngx_memcpy(&sub->updated, p, 8);
    p += 8;

    sub->id.len = NGX_HTTP_WEBHOOK_ID_LEN;
    sub->id.data = p;
    p += NGX_HTTP_WEBHOOK_ID_LEN;

#define ngx_http_webhook_get_len(f)                                           \
    ngx_memcpy(&n, p, 2);                                                     \
    sub->f.len = n;                                                           \
    p += 2

    ngx_http_webhook_get_len(tenant);
    ngx_http_webhook_get_len(action);
    ngx_http_webhook_get_len(target_url);
    ngx_http_webhook_get_len(secret);
    ngx_http_webhook_get_len(token);
    ngx_http_webhook_get_len(description);

#undef ngx_http_webhook_get_len

    if ((size_t) (last - p) != sub->tenant.len + sub->action.len
                               + sub->target_url.len + sub->secret.len
                               + sub->token.len + sub->description.len
        || sub->tenant.len == 0
        || sub->action.len == 0)
    {
        return NGX_ERROR;
    }

#define ngx_http_webhook_get_str(f)                                           \
    sub->f.data = p;                                                          \
    p += sub->f.len

    ngx_http_webhook_get_str(tenant);
    ngx_http_webhook_get_str(action);
    ngx_http_webhook_get_str(target_url);
    ngx_http_webhook_get_str(secret);
    ngx_http_webhook_get_str(token);
    ngx_http_webhook_get_str(description);

#undef ngx_http_webhook_get_str

    return NGX_OK;
}


/* under the mutex: gives the change its sequence number and appends it */

static ngx_int_t
ngx_http_webhook_store_journal(ngx_http_webhook_store_t *store,
    ngx_uint_t type, u_char *p, size_t len, ngx_log_t *log)
{
    uint64_t   seq;
    ngx_err_t  err;

    seq = store->sh->seq + 1;
    err = 0;

    if (ngx_http_webhook_state_append(store->state, store->sh->generation,
                                      seq, type, p, len, log, &err)
        != NGX_OK)
    {
        return (err == NGX_ENOSPC) ? NGX_HTTP_WEBHOOK_STORE_FULL
                                   : NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE;
    }

    store->sh->seq = seq;
    store->sh->journal_size += ngx_http_webhook_state_frame_size(len);

    return NGX_OK;
}


/*
 * Under the mutex: the whole store as framed records, in ngx_alloc()
 * memory.  Each tenant's subscriptions go in creation order, which is the
 * order a load puts them back in.
 */

static u_char *
ngx_http_webhook_store_dump(ngx_http_webhook_store_t *store, size_t *len)
{
    u_char                     *buf, *p, *rec;
    size_t                      size, n, max;
    ngx_uint_t                  pass;
    ngx_queue_t                *q;
    ngx_rbtree_node_t          *node, *root, *sentinel;
    ngx_http_webhook_sub_t      sub;
    ngx_http_webhook_node_t    *wn;
    ngx_http_webhook_tenant_t  *tenant;

    root = store->sh->tenants.root;
    sentinel = store->sh->tenants.sentinel;

    size = 0;
    max = 0;
    buf = NULL;
    rec = NULL;
    p = NULL;

    /* pass 0 measures, pass 1 writes */

    for (pass = 0; pass < 2; pass++) {

        if (pass == 1) {
            buf = ngx_alloc(size + max + 1, ngx_cycle->log);
            if (buf == NULL) {
                return NULL;
            }

            /* each record is written past the frames, then framed in place */

            rec = buf + size;
            p = buf;
        }

        if (root == sentinel) {
            continue;
        }

        for (node = ngx_rbtree_min(root, sentinel);
             node;
             node = ngx_rbtree_next(&store->sh->tenants, node))
        {
            tenant = (ngx_http_webhook_tenant_t *) node;

            for (q = ngx_queue_head(&tenant->subs);
                 q != ngx_queue_sentinel(&tenant->subs);
                 q = ngx_queue_next(q))
            {
                wn = ngx_queue_data(q, ngx_http_webhook_node_t, tenant_queue);

                ngx_http_webhook_node_view(wn, &sub);

                if (pass == 0) {
                    n = ngx_http_webhook_sub_rec_size(&sub);
                    size += ngx_http_webhook_state_frame_size(n);
                    max = ngx_max(max, n);
                    continue;
                }

                n = ngx_http_webhook_sub_rec_write(rec, &sub) - rec;
                p = ngx_http_webhook_state_frame(p, store->sh->seq,
                                                 NGX_HTTP_WEBHOOK_REC_SUB_PUT,
                                                 rec, n);
            }
        }
    }

    *len = p - buf;

    return buf;
}


static void
ngx_http_webhook_store_maybe_snapshot(ngx_http_webhook_store_t *store,
    ngx_log_t *log)
{
    u_char                    *buf;
    size_t                     len;
    ngx_http_webhook_shctx_t  *sh;

    sh = store->sh;

    if (store->state == NULL
        || (size_t) sh->journal_size < store->conf.snapshot_size)
    {
        return;
    }

    if (sh->snapshot_pid) {
        if (sh->snapshot_pid == ngx_pid
            || kill(sh->snapshot_pid, 0) == 0
            || ngx_errno != NGX_ESRCH)
        {
            return;
        }

        /* the worker that was writing it died */
    }

    buf = ngx_http_webhook_store_dump(store, &len);
    if (buf == NULL) {
        return;
    }

    sh->generation++;
    sh->journal_size = 0;
    sh->snapshot_pid = ngx_pid;

    if (ngx_http_webhook_state_snapshot(store->state, buf, len,
                                        sh->generation, sh->seq, log,
                                        ngx_http_webhook_store_snapshot_done,
                                        store)
        != NGX_OK)
    {
        sh->snapshot_pid = 0;
    }
}


static void
ngx_http_webhook_store_snapshot_done(void *data, ngx_int_t rc)
{
    ngx_http_webhook_store_t *store = data;

    ngx_shmtx_lock(&store->shpool->mutex);

    if (store->sh->snapshot_pid == ngx_pid) {
        store->sh->snapshot_pid = 0;
    }

    ngx_shmtx_unlock(&store->shpool->mutex);
}


static ngx_int_t
ngx_http_webhook_store_done(ngx_http_webhook_store_t *store, ngx_log_t *log,
    ngx_http_webhook_store_handler_pt handler, void *data)
{
    if (store->state == NULL) {
        return NGX_OK;
    }

    return ngx_http_webhook_state_sync(store->state, log,
                                       (ngx_http_webhook_state_handler_pt)
                                           handler,
                                       data);
}


static int64_t
ngx_http_webhook_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


/*
 * 12 bytes as 24 hex digits, as a MongoDB ObjectId: seconds, 5 random bytes
 * chosen when the zone was made, a counter; roughly creation-ordered.
 */

static void
ngx_http_webhook_new_id(ngx_http_webhook_shctx_t *sh, u_char *id)
{
    u_char    raw[12];
    uint32_t  t, c;

    t = (uint32_t) ngx_time();
    c = ++sh->id_counter;

    raw[0] = (u_char) (t >> 24);
    raw[1] = (u_char) (t >> 16);
    raw[2] = (u_char) (t >> 8);
    raw[3] = (u_char) t;
    ngx_memcpy(&raw[4], sh->id_random, 5);
    raw[9] = (u_char) (c >> 16);
    raw[10] = (u_char) (c >> 8);
    raw[11] = (u_char) c;

    (void) ngx_hex_dump(id, raw, 12);
}
