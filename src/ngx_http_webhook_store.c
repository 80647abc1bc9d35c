
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_webhook_store.h"
#include "ngx_http_webhook_state.h"
#include "ngx_http_webhook_json.h"


#define NGX_HTTP_WEBHOOK_REC_SUB_PUT     1
#define NGX_HTTP_WEBHOOK_REC_SUB_DEL     2
#define NGX_HTTP_WEBHOOK_REC_EVENTS      3
#define NGX_HTTP_WEBHOOK_REC_OUTCOME     4
#define NGX_HTTP_WEBHOOK_REC_REDELIVER   5
#define NGX_HTTP_WEBHOOK_REC_EVENT       6    /* snapshots only */
#define NGX_HTTP_WEBHOOK_REC_DELIVERY    7    /* snapshots only */
#define NGX_HTTP_WEBHOOK_REC_ENTRY       8    /* snapshots only */

#define NGX_HTTP_WEBHOOK_REC_VERSION     1

/* version, enabled, reason, flags, __v, created, updated, id, 6 lengths */
#define NGX_HTTP_WEBHOOK_SUB_REC_FIXED                                        \
    (4 + 4 + 8 + 8 + NGX_HTTP_WEBHOOK_ID_LEN + 6 * 2)

#define NGX_HTTP_WEBHOOK_SNAPSHOT_SIZE   (64 * 1024 * 1024)
#define NGX_HTTP_WEBHOOK_ATTEMPTS_KEPT   20


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


/* the last attempts of a subscription, a ring */
typedef struct {
    int64_t                         at;
    ngx_msec_t                      duration;
    u_short                         status;
    u_char                          error;
    u_char                          state;
    u_short                         attempt;
    u_char                          event_id_len;
    u_char                          action_len;
    u_char                          data[1];    /* event id, action */
} ngx_http_webhook_entry_t;


typedef struct {
    ngx_uint_t                      next;
    ngx_uint_t                      count;
    ngx_http_webhook_entry_t       *entries[1];
} ngx_http_webhook_log_t;


typedef struct {
    ngx_rbtree_node_t               node;       /* key: hash of tenant, id */
    ngx_queue_t                     queue;      /* in expiry order */
    int64_t                         created;
    int64_t                         expires;
    ngx_uint_t                      deliveries; /* the publish answer */
    ngx_uint_t                      refs;       /* deliveries alive */
    u_char                         *payload;
    size_t                          payload_len;
    u_char                          tenant_len;
    u_char                          id_len;
    u_char                          action_len;
    u_char                          data[1];    /* tenant, id, action */
} ngx_http_webhook_event_node_t;


/*
 * A delivery fits a slab slot of 128 bytes (on 64-bit platforms), not 256:
 * its id is the key of id_node, and its subscription id is kept as the
 * 12 bytes its 24 hex digits stand for.
 */

typedef struct {
    ngx_rbtree_node_t               node;       /* key: next_at, due tree */
    ngx_rbtree_node_t               id_node;    /* key: id */
    ngx_queue_t                     sub_queue;
    ngx_http_webhook_event_node_t  *event;
    ngx_pid_t                       owner;
    u_short                         attempt;
    u_char                          state;
    u_char                          sub_id[NGX_HTTP_WEBHOOK_ID_LEN / 2];
} ngx_http_webhook_delivery_t;


#define ngx_http_webhook_delivery_id(d)  ((uint64_t) (d)->id_node.key)


typedef struct ngx_http_webhook_node_s  ngx_http_webhook_node_t;


/* a subscription a publish passed over: at its cap of pending deliveries */
typedef struct {
    ngx_http_webhook_node_t        *sub;
    ngx_http_webhook_attempt_t      attempt;
} ngx_http_webhook_skip_t;


struct ngx_http_webhook_node_s {
    ngx_rbtree_node_t               node;       /* key: hash of the id */
    ngx_queue_t                     tenant_queue;
    ngx_queue_t                     bucket_queue;
    ngx_http_webhook_tenant_t      *tenant;
    ngx_http_webhook_bucket_t      *bucket;
    ngx_queue_t                     deliveries;
    ngx_http_webhook_log_t         *log;        /* attempts, or NULL */
    ngx_uint_t                      pending;
    int64_t                         failing_since;
    int64_t                         last_test;
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
    u_short                         prev_len[NGX_HTTP_WEBHOOK_PREV_SECRETS];
    int64_t                         prev_expires[NGX_HTTP_WEBHOOK_PREV_SECRETS];
    u_char                          nprev;
    u_char                          data[1];    /* action, url, secret,
                                                   token, description,
                                                   previous secrets */
};


typedef struct {
    ngx_rbtree_t                    ids;
    ngx_rbtree_node_t               ids_sentinel;
    ngx_rbtree_t                    tenants;
    ngx_rbtree_node_t               tenants_sentinel;

    ngx_uint_t                      subscriptions;

    ngx_rbtree_t                    events;
    ngx_rbtree_node_t               events_sentinel;
    ngx_rbtree_node_t              *events_last;     /* NULL: not known */
    ngx_queue_t                     events_expiry;
    ngx_rbtree_t                    due;
    ngx_rbtree_node_t               due_sentinel;
    ngx_rbtree_t                    deliveries;
    ngx_rbtree_node_t               deliveries_sentinel;
    ngx_rbtree_node_t              *due_hint;        /* the last linked */
    ngx_rbtree_node_t              *deliveries_last; /* NULL: not known */
    uint64_t                        next_delivery;
    ngx_uint_t                      events_count;
    ngx_uint_t                      deliveries_count;

    uint64_t                        generation;
    uint64_t                        seq;
    off_t                           journal_size;
    ngx_pid_t                       snapshot_pid;    /* 0: none running */
    time_t                          snapshot_time;   /* the last written */

    /* counted by this zone since it began, for webhook_status */
    uint64_t                        delivered;
    uint64_t                        attempts;
    uint64_t                        retries;
    uint64_t                        given_up;

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
    ngx_http_webhook_retry_conf_t  *rcf;
    ngx_event_t                     lock_event;

    /* loading a snapshot: the last subscription and event found */
    ngx_http_webhook_node_t        *load_sub;
    ngx_http_webhook_event_node_t  *load_ev;
};


static ngx_int_t ngx_http_webhook_store_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_webhook_store_load(ngx_http_webhook_store_t *store,
    ngx_cycle_t *cycle);
static ngx_int_t ngx_http_webhook_store_apply(void *data, ngx_uint_t type,
    u_char *p, size_t len);
static void ngx_http_webhook_store_clear(ngx_http_webhook_store_t *store);
static ngx_http_webhook_node_t *ngx_http_webhook_load_sub(
    ngx_http_webhook_store_t *store, u_char *id);
static ngx_http_webhook_event_node_t *ngx_http_webhook_load_event(
    ngx_http_webhook_store_t *store, ngx_str_t *tenant, ngx_str_t *id);
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
static ngx_rbtree_key_t ngx_http_webhook_id_key(u_char *id);
static void ngx_http_webhook_hint_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_http_webhook_hint_insert(ngx_rbtree_t *tree,
    ngx_rbtree_node_t **hint, ngx_uint_t is_last, ngx_rbtree_node_t *node);
static void ngx_http_webhook_hint_delete(ngx_rbtree_t *tree,
    ngx_rbtree_node_t **hint, ngx_uint_t is_last, ngx_rbtree_node_t *node);

static ngx_http_webhook_node_t *ngx_http_webhook_node_alloc(
    ngx_http_webhook_store_t *store, ngx_http_webhook_sub_t *sub);
static ngx_int_t ngx_http_webhook_sub_put(ngx_http_webhook_store_t *store,
    ngx_http_webhook_sub_t *view, ngx_http_webhook_node_t *old,
    ngx_log_t *log, ngx_http_webhook_node_t **out);
static ngx_int_t ngx_http_webhook_node_prepare(
    ngx_http_webhook_store_t *store, ngx_http_webhook_node_t *node,
    ngx_str_t *tenant, ngx_http_webhook_tenant_t **tp,
    ngx_http_webhook_bucket_t **bp);
static void ngx_http_webhook_node_link(ngx_http_webhook_store_t *store,
    ngx_http_webhook_node_t *node, ngx_http_webhook_tenant_t *tenant,
    ngx_http_webhook_bucket_t *bucket, ngx_http_webhook_node_t *old);
static void ngx_http_webhook_node_unlink(ngx_http_webhook_store_t *store,
    ngx_http_webhook_node_t *node);
static void ngx_http_webhook_node_free_unlinked(
    ngx_http_webhook_store_t *store, ngx_http_webhook_tenant_t *tenant,
    ngx_http_webhook_bucket_t *bucket);
static ngx_int_t ngx_http_webhook_node_copy(ngx_http_webhook_node_t *node,
    ngx_pool_t *pool, ngx_http_webhook_sub_t *out, ngx_uint_t secrets);
static ngx_int_t ngx_http_webhook_claim_target(ngx_http_webhook_claim_t *c,
    ngx_http_webhook_sub_t *view, u_char *p, int64_t now, ngx_pool_t *pool);
static void ngx_http_webhook_node_view(ngx_http_webhook_node_t *node,
    ngx_http_webhook_sub_t *sub);

static size_t ngx_http_webhook_sub_rec_size(ngx_http_webhook_sub_t *sub);
static u_char *ngx_http_webhook_sub_rec_write(u_char *p,
    ngx_http_webhook_sub_t *sub);
static ngx_int_t ngx_http_webhook_sub_rec_read(u_char *p, size_t len,
    ngx_http_webhook_sub_t *sub);
static ngx_uint_t ngx_http_webhook_sub_rec_valid(ngx_http_webhook_sub_t *sub);
static ngx_uint_t ngx_http_webhook_rec_text(ngx_str_t *s, size_t max);

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

static void ngx_http_webhook_event_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_http_webhook_sub_drop(ngx_http_webhook_store_t *store,
    ngx_http_webhook_node_t *node);
static ngx_int_t ngx_http_webhook_events_rec_apply(
    ngx_http_webhook_store_t *store, u_char *p, size_t len);
static size_t ngx_http_webhook_event_rec_apply(
    ngx_http_webhook_store_t *store, u_char *p, size_t len);
static ngx_int_t ngx_http_webhook_outcome_rec_apply(
    ngx_http_webhook_store_t *store, u_char *p, size_t len);
static ngx_int_t ngx_http_webhook_redeliver_rec_apply(
    ngx_http_webhook_store_t *store, u_char *p, size_t len);
static ngx_int_t ngx_http_webhook_delivery_rec_apply(
    ngx_http_webhook_store_t *store, u_char *p, size_t len);
static ngx_int_t ngx_http_webhook_entry_rec_apply(
    ngx_http_webhook_store_t *store, u_char *p, size_t len);
static ngx_uint_t ngx_http_webhook_log_has(ngx_http_webhook_store_t *store,
    ngx_http_webhook_node_t *sub, ngx_str_t *event_id);
static void ngx_http_webhook_sub_end_pending(ngx_http_webhook_store_t *store,
    ngx_http_webhook_node_t *sub, ngx_log_t *log);
static size_t ngx_http_webhook_event_rec_size(
    ngx_http_webhook_event_node_t *ev, ngx_uint_t nd);
static u_char *ngx_http_webhook_event_rec_write(u_char *p,
    ngx_http_webhook_event_node_t *ev, uint64_t first,
    ngx_http_webhook_node_t **subs, ngx_uint_t nd);
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

    if (store->conf.attempts_kept == NGX_CONF_UNSET_UINT) {
        store->conf.attempts_kept = NGX_HTTP_WEBHOOK_ATTEMPTS_KEPT;
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
    ngx_rbtree_init(&store->sh->events, &store->sh->events_sentinel,
                    ngx_http_webhook_event_insert_value);
    ngx_queue_init(&store->sh->events_expiry);
    ngx_rbtree_init(&store->sh->due, &store->sh->due_sentinel,
                    ngx_http_webhook_hint_insert_value);
    ngx_rbtree_init(&store->sh->deliveries, &store->sh->deliveries_sentinel,
                    ngx_http_webhook_hint_insert_value);

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
    store->sh->snapshot_time = info.snapshot_time;

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

    if (rc == NGX_OK) {
        store->sh->snapshot_time = ngx_time();
        return NGX_OK;
    }

    /*
     * A full disk, for instance: the journal loaded is intact, so this
     * instance goes on appending to it rather than refusing to start; the
     * next start (or snapshot) compacts it.
     */

    store->sh->generation--;

    ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                  "webhook zone \"%V\": the journal in \"%V\" is not "
                  "compacted, going on with it", &store->conf.name,
                  &store->conf.state_dir);

    return NGX_OK;
}


static ngx_int_t
ngx_http_webhook_store_apply(void *data, ngx_uint_t type, u_char *p,
    size_t len)
{
    ngx_http_webhook_store_t *store = data;

    ngx_uint_t                  snapshot;
    ngx_http_webhook_sub_t      sub;
    ngx_http_webhook_node_t    *node, *old;
    ngx_http_webhook_bucket_t  *bucket;
    ngx_http_webhook_tenant_t  *tenant;

    snapshot = type & NGX_HTTP_WEBHOOK_STATE_FROM_SNAPSHOT;
    type &= ~NGX_HTTP_WEBHOOK_STATE_FROM_SNAPSHOT;

    if (type != NGX_HTTP_WEBHOOK_REC_DELIVERY
        && type != NGX_HTTP_WEBHOOK_REC_ENTRY)
    {
        /* what the load caches may point to can change */
        store->load_sub = NULL;
        store->load_ev = NULL;
    }

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

        /*
         * A snapshot holds each subscription once, and is replayed into an
         * empty store: no earlier version to look for (a lookup in a tree
         * of a million subscriptions is most of the cost of loading them).
         */

        old = snapshot ? NULL
                       : ngx_http_webhook_node_lookup(store->sh, node->id);

        ngx_http_webhook_node_link(store, node, tenant, bucket, old);

        return NGX_OK;

    case NGX_HTTP_WEBHOOK_REC_SUB_DEL:

        if (len != NGX_HTTP_WEBHOOK_ID_LEN) {
            return NGX_ERROR;
        }

        node = ngx_http_webhook_node_lookup(store->sh, p);
        if (node) {
            ngx_http_webhook_node_unlink(store, node);
        }

        return NGX_OK;

    case NGX_HTTP_WEBHOOK_REC_EVENTS:
        return ngx_http_webhook_events_rec_apply(store, p, len);

    case NGX_HTTP_WEBHOOK_REC_EVENT:
        return (ngx_http_webhook_event_rec_apply(store, p, len) == len)
               ? NGX_OK : NGX_ERROR;

    case NGX_HTTP_WEBHOOK_REC_OUTCOME:
        return ngx_http_webhook_outcome_rec_apply(store, p, len);

    case NGX_HTTP_WEBHOOK_REC_REDELIVER:
        return ngx_http_webhook_redeliver_rec_apply(store, p, len);

    case NGX_HTTP_WEBHOOK_REC_DELIVERY:
        return ngx_http_webhook_delivery_rec_apply(store, p, len);

    case NGX_HTTP_WEBHOOK_REC_ENTRY:
        return ngx_http_webhook_entry_rec_apply(store, p, len);

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

        ngx_http_webhook_node_unlink(store, wn);
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

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (ngx_http_webhook_store_take_over(store, ev->log) != NGX_OK) {
        ngx_add_timer(ev, 1000);
    }
}


ngx_int_t
ngx_http_webhook_store_take_over(ngx_http_webhook_store_t *store,
    ngx_log_t *log)
{
    ngx_int_t                       rc;
    ngx_http_webhook_state_info_t   info;

    if (store->sh->writable) {
        return NGX_OK;
    }

    if (store->state == NULL
        || ngx_http_webhook_state_try_lock(store->state, log) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    /*
     * The previous owner went on writing after this instance loaded the
     * state: replay what it wrote since, now that nobody else writes.
     */

    ngx_shmtx_lock(&store->shpool->mutex);

    if (store->sh->writable) {
        ngx_shmtx_unlock(&store->shpool->mutex);
        return NGX_OK;
    }

    ngx_memzero(&info, sizeof(ngx_http_webhook_state_info_t));

    rc = ngx_http_webhook_state_catch_up(store->state, store->sh->seq,
                                         ngx_http_webhook_store_apply, store,
                                         &info, log);

    if (rc == NGX_DECLINED) {
        /* a newer snapshot: start from it */

        ngx_http_webhook_store_clear(store);

        ngx_memzero(&info, sizeof(ngx_http_webhook_state_info_t));

        rc = ngx_http_webhook_state_catch_up(store->state, 0,
                                             ngx_http_webhook_store_apply,
                                             store, &info, log);
    }

    if (rc != NGX_OK) {
        ngx_shmtx_unlock(&store->shpool->mutex);
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "webhook zone \"%V\": could not load the state after "
                      "taking it over", &store->conf.name);
        return NGX_DECLINED;
    }

    store->sh->generation = info.generation;
    store->sh->seq = info.seq;
    store->sh->journal_size = info.journal_size;
    store->sh->writable = 1;

    ngx_shmtx_unlock(&store->shpool->mutex);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "webhook zone \"%V\": took over \"%V\", %ui subscriptions",
                  &store->conf.name, &store->conf.state_dir,
                  store->sh->subscriptions);

    return NGX_OK;
}


ngx_int_t
ngx_http_webhook_store_writable(ngx_http_webhook_store_t *store)
{
    return store->sh->writable ? NGX_OK : NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE;
}


/*
 * Every delivery alive is in the due tree: a pending one keyed by its
 * next_at, a claimed one by the end of its lease, a failed one by the
 * time it is dropped.  A walk of it is bounded by the zone, and keeps
 * the places where states change free of counters to keep right.
 */

ngx_int_t
ngx_http_webhook_store_stats(ngx_http_webhook_store_t *store,
    ngx_http_webhook_stats_t *out)
{
    size_t                        total;
    int64_t                       now;
    ngx_rbtree_t                 *tree;
    ngx_rbtree_node_t            *node;
    ngx_http_webhook_shctx_t     *sh;
    ngx_http_webhook_delivery_t  *d;

    ngx_memzero(out, sizeof(ngx_http_webhook_stats_t));

    sh = store->sh;
    tree = &sh->due;

    ngx_shmtx_lock(&store->shpool->mutex);

    now = ngx_http_webhook_now();

    out->subscriptions = sh->subscriptions;
    out->events = sh->events_count;
    out->journal_bytes = sh->journal_size;
    out->seq = sh->seq;
    out->generation = sh->generation;
    out->writable = sh->writable ? 1 : 0;
    out->delivered = sh->delivered;
    out->attempts = sh->attempts;
    out->retries = sh->retries;
    out->given_up = sh->given_up;
    out->snapshot_time = sh->snapshot_time;

    total = store->shpool->end - store->shpool->start;
    out->zone_free = store->shpool->pfree * ngx_pagesize;
    out->zone_used = total > out->zone_free ? total - out->zone_free : 0;

    if (tree->root == tree->sentinel) {
        goto done;
    }

    for (node = ngx_rbtree_min(tree->root, tree->sentinel);
         node;
         node = ngx_rbtree_next(tree, node))
    {
        d = (ngx_http_webhook_delivery_t *) node;

        if (d->state == NGX_HTTP_WEBHOOK_DELIVERY_FAILED) {
            out->failed++;
            continue;
        }

        if (d->state != NGX_HTTP_WEBHOOK_DELIVERY_PENDING) {
            continue;
        }

        if (d->owner && (int64_t) node->key > now) {
            out->in_flight++;
            continue;
        }

        /* in key order: the first one due is the oldest */

        if (out->queued == 0 && (int64_t) node->key <= now) {
            out->oldest_due_age = (ngx_msec_t) (now - (int64_t) node->key);
        }

        out->queued++;
    }

done:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return NGX_OK;
}


/*
 * Under the mutex: stores "view" as a new subscription, or as the new
 * version of "old": allocated, journaled, then linked, so that a failure
 * at any step leaves the zone as it was.  "log" is where the record's
 * buffer comes from and errors go.
 */

static ngx_int_t
ngx_http_webhook_sub_put(ngx_http_webhook_store_t *store,
    ngx_http_webhook_sub_t *view, ngx_http_webhook_node_t *old,
    ngx_log_t *log, ngx_http_webhook_node_t **out)
{
    u_char                     *rec;
    size_t                      len;
    ngx_int_t                   rc;
    ngx_http_webhook_node_t    *node;
    ngx_http_webhook_bucket_t  *bucket;
    ngx_http_webhook_tenant_t  *tenant;

    node = ngx_http_webhook_node_alloc(store, view);
    if (node == NULL) {
        return NGX_HTTP_WEBHOOK_STORE_FULL;
    }

    if (ngx_http_webhook_node_prepare(store, node, &view->tenant, &tenant,
                                      &bucket)
        != NGX_OK)
    {
        ngx_slab_free_locked(store->shpool, node);
        return NGX_HTTP_WEBHOOK_STORE_FULL;
    }

    if (store->state) {
        len = ngx_http_webhook_sub_rec_size(view);

        rec = ngx_alloc(len, log);
        if (rec == NULL) {
            rc = NGX_ERROR;
            goto undo;
        }

        (void) ngx_http_webhook_sub_rec_write(rec, view);

        rc = ngx_http_webhook_store_journal(store,
                                            NGX_HTTP_WEBHOOK_REC_SUB_PUT,
                                            rec, len, log);
        ngx_free(rec);

        if (rc != NGX_OK) {
            goto undo;
        }
    }

    ngx_http_webhook_node_link(store, node, tenant, bucket, old);

    *out = node;

    return NGX_OK;

undo:

    ngx_slab_free_locked(store->shpool, node);
    ngx_http_webhook_node_free_unlinked(store, tenant, bucket);

    return rc;
}


ngx_int_t
ngx_http_webhook_store_create(ngx_http_webhook_store_t *store,
    ngx_http_webhook_sub_t *sub, ngx_uint_t max_per_tenant,
    ngx_pool_t *pool, ngx_http_webhook_sub_t *out,
    ngx_http_webhook_store_handler_pt handler, void *data)
{
    ngx_int_t                   rc;
    ngx_http_webhook_sub_t      view;
    ngx_http_webhook_node_t    *node;
    ngx_http_webhook_tenant_t  *tenant;

    view = *sub;
    view.id.len = NGX_HTTP_WEBHOOK_ID_LEN;
    view.id.data = ngx_pnalloc(pool, NGX_HTTP_WEBHOOK_ID_LEN);
    if (view.id.data == NULL) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&store->shpool->mutex);

    if (!store->sh->writable) {
        rc = NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE;
        goto done;
    }

    tenant = ngx_http_webhook_tenant_lookup(store->sh, &sub->tenant);

    if (tenant && max_per_tenant && tenant->count >= max_per_tenant) {
        rc = NGX_HTTP_WEBHOOK_STORE_LIMIT;
        goto done;
    }

    ngx_http_webhook_new_id(store->sh, view.id.data);

    view.created = ngx_http_webhook_now();
    view.updated = view.created;
    view.version = 0;

    rc = ngx_http_webhook_sub_put(store, &view, NULL, pool->log, &node);

    if (rc == NGX_OK) {
        rc = ngx_http_webhook_node_copy(node, pool, out, 1);
        ngx_http_webhook_store_maybe_snapshot(store, pool->log);
    }

done:

    ngx_shmtx_unlock(&store->shpool->mutex);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_webhook_store_done(store, pool->log, handler, data);
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

        rc = ngx_http_webhook_node_copy(node, pool, sub, q->secrets);
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
    ngx_int_t                   rc;
    ngx_http_webhook_sub_t      view;
    ngx_http_webhook_node_t    *node, *old;

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

    rc = ngx_http_webhook_sub_put(store, &view, old, pool->log, &node);

    if (rc == NGX_OK) {
        if (!node->enabled) {
            ngx_http_webhook_sub_end_pending(store, node, pool->log);
        }

        rc = ngx_http_webhook_node_copy(node, pool, out, 1);
        ngx_http_webhook_store_maybe_snapshot(store, pool->log);
    }

failed:

    ngx_shmtx_unlock(&store->shpool->mutex);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_webhook_store_done(store, pool->log, handler, data);
}


ngx_int_t
ngx_http_webhook_store_rotate(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *id, ngx_str_t *secret, ngx_msec_t grace,
    ngx_pool_t *pool, ngx_http_webhook_sub_t *out,
    ngx_http_webhook_store_handler_pt handler, void *data)
{
    int64_t                   now;
    ngx_int_t                 rc;
    ngx_uint_t                i, n;
    ngx_http_webhook_sub_t    view, old_view;
    ngx_http_webhook_node_t  *node, *old;

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
        goto done;
    }

    if (!store->sh->writable) {
        rc = NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE;
        goto done;
    }

    now = ngx_http_webhook_now();

    ngx_http_webhook_node_view(old, &old_view);
    view = old_view;

    /* the current secret first, then those still in their grace period */

    n = 0;

    if (grace) {
        view.prev_secret[n] = old_view.secret;
        view.prev_expires[n] = now + grace;
        n++;
    }

    for (i = 0; i < old_view.nprev && n < NGX_HTTP_WEBHOOK_PREV_SECRETS; i++) {
        if (old_view.prev_expires[i] > now) {
            view.prev_secret[n] = old_view.prev_secret[i];
            view.prev_expires[n] = old_view.prev_expires[i];
            n++;
        }
    }

    view.nprev = n;
    view.secret = *secret;
    view.updated = now;
    view.version++;

    rc = ngx_http_webhook_sub_put(store, &view, old, pool->log, &node);

    if (rc == NGX_OK) {
        rc = ngx_http_webhook_node_copy(node, pool, out, 1);
        ngx_http_webhook_store_maybe_snapshot(store, pool->log);
    }

done:

    ngx_shmtx_unlock(&store->shpool->mutex);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_webhook_store_done(store, pool->log, handler, data);
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

    ngx_http_webhook_node_unlink(store, node);

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
    ngx_rbtree_key_t          hash;
    ngx_rbtree_node_t        *node, *sentinel;
    ngx_http_webhook_node_t  *wn;

    hash = ngx_http_webhook_id_key(id);

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


/*
 * The key of a subscription id in the ids tree: the second and the counter
 * of its creation (ngx_http_webhook_new_id()), so that ids made one after
 * another are neighbours in the tree: an insert walks a path that is still
 * in the CPU caches, which makes loading a million subscriptions several
 * times faster than with a hash as the key.  Ties (ids of another instance
 * or worker made in the same second with the same counter, or ids that are
 * not hex at all) are broken by the whole id.
 */

static ngx_rbtree_key_t
ngx_http_webhook_id_key(u_char *id)
{
    u_char            c;
    ngx_uint_t        i;
    ngx_rbtree_key_t  key;

    key = 0;

    for (i = 0; i < NGX_HTTP_WEBHOOK_ID_LEN; i++) {

        if (i == 8) {
            i = 18;                 /* past the instance's random part */
        }

        c = id[i];
        key = (key << 4) | ((c & 0x0f) + (c >> 6) * 9);
    }

    return key;
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
    ngx_uint_t                i;
    ngx_http_webhook_node_t  *node;

    size = offsetof(ngx_http_webhook_node_t, data)
           + sub->action.len + sub->target_url.len + sub->secret.len
           + sub->token.len + sub->description.len;

    for (i = 0; i < sub->nprev; i++) {
        size += sub->prev_secret[i].len;
    }

    node = ngx_slab_alloc_locked(store->shpool, size);
    if (node == NULL) {
        return NULL;
    }

    ngx_memzero(node, offsetof(ngx_http_webhook_node_t, data));
    ngx_queue_init(&node->deliveries);

    node->node.key = ngx_http_webhook_id_key(sub->id.data);
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
    p = ngx_cpymem(p, sub->description.data, sub->description.len);

    node->nprev = (u_char) sub->nprev;

    for (i = 0; i < sub->nprev; i++) {
        node->prev_len[i] = (u_short) sub->prev_secret[i].len;
        node->prev_expires[i] = sub->prev_expires[i];
        p = ngx_cpymem(p, sub->prev_secret[i].data, sub->prev_secret[i].len);
    }

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

        /* what belongs to the subscription, not to this version of it */

        if (!ngx_queue_empty(&old->deliveries)) {
            ngx_queue_add(&node->deliveries, &old->deliveries);
            ngx_queue_init(&old->deliveries);
        }

        node->log = old->log;
        node->pending = old->pending;
        node->failing_since = old->failing_since;
        node->last_test = old->last_test;

        old->log = NULL;

        ngx_http_webhook_node_unlink(store, old);
    }

    ngx_rbtree_insert(&store->sh->ids, &node->node);
}


static void
ngx_http_webhook_node_unlink(ngx_http_webhook_store_t *store,
    ngx_http_webhook_node_t *node)
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

    ngx_http_webhook_sub_drop(store, node);

    ngx_slab_free_locked(store->shpool, node);

    ngx_http_webhook_node_free_unlinked(store, tenant, bucket);
}


/* drops a bucket and a tenant left empty */

static void
ngx_http_webhook_node_free_unlinked(ngx_http_webhook_store_t *store,
    ngx_http_webhook_tenant_t *tenant, ngx_http_webhook_bucket_t *bucket)
{
    if (bucket && ngx_queue_empty(&bucket->subs)) {
        ngx_rbtree_delete(&tenant->actions, &bucket->named.node);
        ngx_slab_free_locked(store->shpool, bucket);
    }

    if (ngx_queue_empty(&tenant->subs)
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
    u_char      *p;
    ngx_uint_t   i;

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
    p += node->description_len;

    sub->nprev = node->nprev;

    for (i = 0; i < node->nprev; i++) {
        sub->prev_secret[i].len = node->prev_len[i];
        sub->prev_secret[i].data = p;
        sub->prev_expires[i] = node->prev_expires[i];
        p += node->prev_len[i];
    }

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

    /* rotated out secrets are for signing only */
    view.nprev = 0;

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
    size_t      size;
    ngx_uint_t  i;

    size = NGX_HTTP_WEBHOOK_SUB_REC_FIXED
           + sub->tenant.len + sub->action.len + sub->target_url.len
           + sub->secret.len + sub->token.len + sub->description.len;

    /* rotated out secrets, if any, after the strings */

    if (sub->nprev) {
        size += 1;

        for (i = 0; i < sub->nprev; i++) {
            size += 2 + 8 + sub->prev_secret[i].len;
        }
    }

    return size;
}


/* native byte order: the state files are not meant to move between hosts */

static u_char *
ngx_http_webhook_sub_rec_write(u_char *p, ngx_http_webhook_sub_t *sub)
{
    uint16_t    n;
    uint32_t    v;
    ngx_uint_t  i;

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

    if (sub->nprev == 0) {
        return p;
    }

    *p++ = (u_char) sub->nprev;

    for (i = 0; i < sub->nprev; i++) {
        n = (uint16_t) sub->prev_secret[i].len;
        p = ngx_cpymem(p, &n, 2);
        p = ngx_cpymem(p, &sub->prev_expires[i], 8);
        p = ngx_cpymem(p, sub->prev_secret[i].data, n);
    }

    return p;
}


static ngx_int_t
ngx_http_webhook_sub_rec_read(u_char *p, size_t len,
    ngx_http_webhook_sub_t *sub)
{
    u_char      *last;
    uint16_t     n;
    uint32_t     v;
    ngx_uint_t   i;

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

    if ((size_t) (last - p) < sub->tenant.len + sub->action.len
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

    if (p == last) {
        return ngx_http_webhook_sub_rec_valid(sub) ? NGX_OK : NGX_ERROR;
    }

    sub->nprev = *p++;

    if (sub->nprev == 0 || sub->nprev > NGX_HTTP_WEBHOOK_PREV_SECRETS) {
        return NGX_ERROR;
    }

    for (i = 0; i < sub->nprev; i++) {

        if (last - p < 2 + 8) {
            return NGX_ERROR;
        }

        ngx_memcpy(&n, p, 2);
        ngx_memcpy(&sub->prev_expires[i], p + 2, 8);
        p += 2 + 8;

        if (last - p < n) {
            return NGX_ERROR;
        }

        sub->prev_secret[i].len = n;
        sub->prev_secret[i].data = p;
        p += n;
    }

    if (p != last) {
        return NGX_ERROR;
    }

    return ngx_http_webhook_sub_rec_valid(sub) ? NGX_OK : NGX_ERROR;
}


/*
 * A record can pass its crc32 and still hold what the API never stores
 * (a state directory written by something else): it is refused as
 * corruption, since its strings would reach deliveries' request lines and
 * headers.  The checks are the API's, but for URLs, which deliveries
 * parse again at every attempt.
 */

static ngx_uint_t
ngx_http_webhook_sub_rec_valid(ngx_http_webhook_sub_t *sub)
{
    u_char      c;
    ngx_str_t   action;
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_WEBHOOK_ID_LEN; i++) {
        c = sub->id.data[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }

    action = sub->action;

    if (action.len > 2
        && action.data[action.len - 2] == '.'
        && action.data[action.len - 1] == '*')
    {
        action.len -= 2;
    }

    if (!ngx_http_webhook_json_tenant_valid(&sub->tenant)
        || (!(sub->action.len == 1 && sub->action.data[0] == '*')
            && !ngx_http_webhook_json_word(&action,
                                          NGX_HTTP_WEBHOOK_ACTION_MAX, "_.:-"))
        || sub->target_url.len == 0
        || !ngx_http_webhook_rec_text(&sub->target_url,
                                      NGX_HTTP_WEBHOOK_URL_MAX)
        || sub->secret.len == 0
        || !ngx_http_webhook_rec_text(&sub->secret,
                                      NGX_HTTP_WEBHOOK_SECRET_MAX)
        || !ngx_http_webhook_rec_text(&sub->token, NGX_HTTP_WEBHOOK_TOKEN_MAX)
        || !ngx_http_webhook_rec_text(&sub->description,
                                      NGX_HTTP_WEBHOOK_DESCRIPTION_MAX)
        || sub->disabled_reason > NGX_HTTP_WEBHOOK_DISABLED_FAILING
        || sub->enabled
           != (sub->disabled_reason == NGX_HTTP_WEBHOOK_DISABLED_NONE))
    {
        return 0;
    }

    for (i = 0; i < sub->nprev; i++) {
        if (sub->prev_secret[i].len == 0
            || !ngx_http_webhook_rec_text(&sub->prev_secret[i],
                                          NGX_HTTP_WEBHOOK_SECRET_MAX))
        {
            return 0;
        }
    }

    return 1;
}


/* at most "max" bytes of UTF-8 text without control characters */

static ngx_uint_t
ngx_http_webhook_rec_text(ngx_str_t *s, size_t max)
{
    u_char  *p, *last;

    if (s->len > max) {
        return 0;
    }

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return 0;
        }
    }

    return ngx_http_webhook_json_utf8_valid(s->data, s->len);
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
        return (err == NGX_ENOSPC) ? NGX_HTTP_WEBHOOK_STORE_DISK_FULL
                                   : NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE;
    }

    store->sh->seq = seq;
    store->sh->journal_size += ngx_http_webhook_state_frame_size(len);

    return NGX_OK;
}


/* a growing buffer of framed records, for snapshots */

typedef struct {
    u_char                         *buf;
    size_t                          len;
    size_t                          size;
    u_char                         *scratch;
    size_t                          scratch_size;
    uint64_t                        seq;
    ngx_uint_t                      failed;
} ngx_http_webhook_dump_t;


static u_char *
ngx_http_webhook_dump_scratch(ngx_http_webhook_dump_t *dump, size_t n)
{
    if (dump->failed) {
        return NULL;
    }

    if (n > dump->scratch_size) {
        ngx_free(dump->scratch);

        dump->scratch_size = ngx_max(n, 2 * dump->scratch_size);
        dump->scratch = ngx_alloc(dump->scratch_size, ngx_cycle->log);

        if (dump->scratch == NULL) {
            dump->scratch_size = 0;
            dump->failed = 1;
            return NULL;
        }
    }

    return dump->scratch;
}


static void
ngx_http_webhook_dump_add(ngx_http_webhook_dump_t *dump, ngx_uint_t type,
    size_t n)
{
    u_char  *buf;
    size_t   need, size;

    if (dump->failed) {
        return;
    }

    need = dump->len + ngx_http_webhook_state_frame_size(n);

    if (need > dump->size) {
        size = ngx_max(need, 2 * dump->size);

        buf = ngx_alloc(size, ngx_cycle->log);
        if (buf == NULL) {
            dump->failed = 1;
            return;
        }

        if (dump->buf) {
            ngx_memcpy(buf, dump->buf, dump->len);
            ngx_free(dump->buf);
        }

        dump->buf = buf;
        dump->size = size;
    }

    (void) ngx_http_webhook_state_frame(dump->buf + dump->len, dump->seq,
                                        type, dump->scratch, n);
    dump->len = need;
}


/*
 * Under the mutex: the whole store as framed records, in ngx_alloc()
 * memory: subscriptions (each tenant's in creation order, the order a load
 * puts them back in), events, deliveries, attempt logs (oldest first).
 */

static u_char *
ngx_http_webhook_store_dump(ngx_http_webhook_store_t *store, size_t *len)
{
    u_char                         *p;
    size_t                          n;
    uint16_t                        v16;
    uint32_t                        v32;
    uint64_t                        did;
    ngx_uint_t                      i, k, kept;
    ngx_queue_t                    *q, *dq;
    ngx_rbtree_node_t              *node, *root, *sentinel;
    ngx_http_webhook_sub_t          sub;
    ngx_http_webhook_dump_t         dump;
    ngx_http_webhook_node_t        *wn;
    ngx_http_webhook_entry_t       *e;
    ngx_http_webhook_tenant_t      *tenant;
    ngx_http_webhook_delivery_t    *d;
    ngx_http_webhook_event_node_t  *ev;

    ngx_memzero(&dump, sizeof(ngx_http_webhook_dump_t));
    dump.seq = store->sh->seq;

    root = store->sh->tenants.root;
    sentinel = store->sh->tenants.sentinel;

    /* subscriptions */

    for (node = (root == sentinel) ? NULL : ngx_rbtree_min(root, sentinel);
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

            n = ngx_http_webhook_sub_rec_size(&sub);

            p = ngx_http_webhook_dump_scratch(&dump, n);
            if (p == NULL) {
                goto failed;
            }

            (void) ngx_http_webhook_sub_rec_write(p, &sub);
            ngx_http_webhook_dump_add(&dump, NGX_HTTP_WEBHOOK_REC_SUB_PUT, n);
        }
    }

    /* events, in the order they expire */

    for (q = ngx_queue_head(&store->sh->events_expiry);
         q != ngx_queue_sentinel(&store->sh->events_expiry);
         q = ngx_queue_next(q))
    {
        ev = ngx_queue_data(q, ngx_http_webhook_event_node_t, queue);

        n = ngx_http_webhook_event_rec_size(ev, 0);

        p = ngx_http_webhook_dump_scratch(&dump, n);
        if (p == NULL) {
            goto failed;
        }

        (void) ngx_http_webhook_event_rec_write(p, ev, 0, NULL, 0);
        ngx_http_webhook_dump_add(&dump, NGX_HTTP_WEBHOOK_REC_EVENT, n);
    }

    /* deliveries, then each subscription's attempt log */

    for (node = (root == sentinel) ? NULL : ngx_rbtree_min(root, sentinel);
         node;
         node = ngx_rbtree_next(&store->sh->tenants, node))
    {
        tenant = (ngx_http_webhook_tenant_t *) node;

        for (q = ngx_queue_head(&tenant->subs);
             q != ngx_queue_sentinel(&tenant->subs);
             q = ngx_queue_next(q))
        {
            wn = ngx_queue_data(q, ngx_http_webhook_node_t, tenant_queue);

            for (dq = ngx_queue_head(&wn->deliveries);
                 dq != ngx_queue_sentinel(&wn->deliveries);
                 dq = ngx_queue_next(dq))
            {
                d = ngx_queue_data(dq, ngx_http_webhook_delivery_t,
                                   sub_queue);
                ev = d->event;

                n = 8 + 8 + 2 + 1 + NGX_HTTP_WEBHOOK_ID_LEN + 2
                    + ev->tenant_len + ev->id_len;

                p = ngx_http_webhook_dump_scratch(&dump, n);
                if (p == NULL) {
                    goto failed;
                }

                did = ngx_http_webhook_delivery_id(d);
                p = ngx_cpymem(p, &did, 8);
                p = ngx_cpymem(p, &d->node.key, 8);
                v16 = d->attempt;
                p = ngx_cpymem(p, &v16, 2);
                *p++ = d->state;
                p = ngx_hex_dump(p, d->sub_id, NGX_HTTP_WEBHOOK_ID_LEN / 2);
                *p++ = ev->tenant_len;
                *p++ = ev->id_len;
                (void) ngx_cpymem(p, ev->data, ev->tenant_len + ev->id_len);

                ngx_http_webhook_dump_add(&dump,
                                          NGX_HTTP_WEBHOOK_REC_DELIVERY, n);
            }

            if (wn->log == NULL) {
                continue;
            }

            kept = store->conf.attempts_kept;

            for (i = 0; i < wn->log->count; i++) {
                k = (wn->log->next + kept - wn->log->count + i) % kept;
                e = wn->log->entries[k];

                n = NGX_HTTP_WEBHOOK_ID_LEN + 8 + 4 + 2 + 1 + 1 + 2 + 2
                    + e->event_id_len + e->action_len;

                p = ngx_http_webhook_dump_scratch(&dump, n);
                if (p == NULL) {
                    goto failed;
                }

                p = ngx_cpymem(p, wn->id, NGX_HTTP_WEBHOOK_ID_LEN);
                p = ngx_cpymem(p, &e->at, 8);
                v32 = (uint32_t) e->duration;
                p = ngx_cpymem(p, &v32, 4);
                p = ngx_cpymem(p, &e->status, 2);
                *p++ = e->error;
                *p++ = e->state;
                p = ngx_cpymem(p, &e->attempt, 2);
                *p++ = e->event_id_len;
                *p++ = e->action_len;
                (void) ngx_cpymem(p, e->data,
                                  e->event_id_len + e->action_len);

                ngx_http_webhook_dump_add(&dump, NGX_HTTP_WEBHOOK_REC_ENTRY,
                                          n);
            }
        }
    }

    if (dump.failed) {
        goto failed;
    }

    ngx_free(dump.scratch);

    if (dump.buf == NULL) {
        dump.buf = ngx_alloc(1, ngx_cycle->log);
    }

    *len = dump.len;

    return dump.buf;

failed:

    ngx_free(dump.scratch);
    ngx_free(dump.buf);

    return NULL;
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

    if (rc == NGX_OK) {
        store->sh->snapshot_time = ngx_time();
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


/* events, deliveries and attempt logs */


/* of the insert made: see ngx_http_webhook_hint_insert() */

static ngx_rbtree_node_t  *ngx_http_webhook_hint;
static ngx_uint_t          ngx_http_webhook_hint_last;
static ngx_uint_t          ngx_http_webhook_hint_new_last;


/*
 * The events tree keeps its last node too: the keys of generated ids grow
 * (see ngx_http_webhook_event_hash()), and are above all others.
 */

static void
ngx_http_webhook_event_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_int_t                        rc;
    ngx_uint_t                       last;
    ngx_rbtree_node_t              **p;
    ngx_http_webhook_event_node_t   *n, *t;

    last = 1;

    if (ngx_http_webhook_hint && node->key > ngx_http_webhook_hint->key) {
        temp = ngx_http_webhook_hint;
        p = &temp->right;
        goto link;
    }

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;
            last = 0;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            n = (ngx_http_webhook_event_node_t *) node;
            t = (ngx_http_webhook_event_node_t *) temp;

            /* the order event_lookup() searches in: tenant, then id */

            rc = ngx_memn2cmp(n->data, t->data, n->tenant_len, t->tenant_len);

            if (rc == 0) {
                rc = ngx_memn2cmp(n->data + n->tenant_len,
                                  t->data + t->tenant_len,
                                  n->id_len, t->id_len);
            }

            if (rc < 0) {
                p = &temp->left;
                last = 0;

            } else {
                p = &temp->right;
            }
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

link:

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);

    ngx_http_webhook_hint_new_last = last;
}


/*
 * The key of an event: for an id the store made ("evt_" and an id of
 * ngx_http_webhook_new_id()), the second and counter of its making with the
 * top bit set, so that inserts of new events walk a path still in the CPU
 * caches (as in the ids tree); otherwise a CRC of tenant and id, with a byte
 * between them.  Equal keys are ordered by tenant, then id.
 */

static ngx_rbtree_key_t
ngx_http_webhook_event_hash(ngx_str_t *tenant, ngx_str_t *id)
{
    uint32_t    crc;
    ngx_uint_t  i;

    if (id->len == 4 + NGX_HTTP_WEBHOOK_ID_LEN
        && ngx_strncmp(id->data, "evt_", 4) == 0)
    {
        for (i = 4; i < id->len; i++) {
            if (!((id->data[i] >= '0' && id->data[i] <= '9')
                  || (id->data[i] >= 'a' && id->data[i] <= 'f')))
            {
                break;
            }
        }

        if (i == id->len) {
            return ((ngx_rbtree_key_t) 1 << (sizeof(ngx_rbtree_key_t) * 8 - 1))
                   | ngx_http_webhook_id_key(id->data + 4);
        }
    }

    ngx_crc32_init(crc);
    ngx_crc32_update(&crc, tenant->data, tenant->len);
    ngx_crc32_update(&crc, (u_char *) "/", 1);
    ngx_crc32_update(&crc, id->data, id->len);
    ngx_crc32_final(crc);

    return crc;
}


static ngx_http_webhook_event_node_t *
ngx_http_webhook_event_lookup(ngx_http_webhook_shctx_t *sh,
    ngx_str_t *tenant, ngx_str_t *id)
{
    ngx_int_t                       rc;
    ngx_rbtree_key_t                hash;
    ngx_rbtree_node_t              *node, *sentinel;
    ngx_http_webhook_event_node_t  *ev;

    hash = ngx_http_webhook_event_hash(tenant, id);

    node = sh->events.root;
    sentinel = sh->events.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        ev = (ngx_http_webhook_event_node_t *) node;

        rc = ngx_memn2cmp(tenant->data, ev->data, tenant->len,
                          ev->tenant_len);
        if (rc == 0) {
            rc = ngx_memn2cmp(id->data, ev->data + ev->tenant_len, id->len,
                              ev->id_len);
        }

        if (rc == 0) {
            return ev;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static ngx_http_webhook_event_node_t *
ngx_http_webhook_event_alloc(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *id, ngx_str_t *action, ngx_str_t *payload,
    ngx_uint_t with_payload)
{
    u_char                         *p;
    ngx_http_webhook_event_node_t  *ev;

    ev = ngx_slab_alloc_locked(store->shpool,
                               offsetof(ngx_http_webhook_event_node_t, data)
                               + tenant->len + id->len + action->len);
    if (ev == NULL) {
        return NULL;
    }

    ngx_memzero(ev, offsetof(ngx_http_webhook_event_node_t, data));

    if (with_payload) {
        ev->payload = ngx_slab_alloc_locked(store->shpool,
                                            ngx_max(payload->len, 1));
        if (ev->payload == NULL) {
            ngx_slab_free_locked(store->shpool, ev);
            return NULL;
        }

        ngx_memcpy(ev->payload, payload->data, payload->len);
        ev->payload_len = payload->len;
    }

    ev->node.key = ngx_http_webhook_event_hash(tenant, id);
    ev->tenant_len = (u_char) tenant->len;
    ev->id_len = (u_char) id->len;
    ev->action_len = (u_char) action->len;

    p = ngx_cpymem(ev->data, tenant->data, tenant->len);
    p = ngx_cpymem(p, id->data, id->len);
    (void) ngx_cpymem(p, action->data, action->len);

    return ev;
}


static void
ngx_http_webhook_event_link(ngx_http_webhook_store_t *store,
    ngx_http_webhook_event_node_t *ev)
{
    ngx_http_webhook_hint_insert(&store->sh->events, &store->sh->events_last,
                                 1, &ev->node);
    ngx_queue_insert_tail(&store->sh->events_expiry, &ev->queue);
    store->sh->events_count++;
}


static void
ngx_http_webhook_event_free(ngx_http_webhook_store_t *store,
    ngx_http_webhook_event_node_t *ev, ngx_uint_t linked)
{
    if (linked) {
        ngx_http_webhook_hint_delete(&store->sh->events,
                                     &store->sh->events_last, 1, &ev->node);
        ngx_queue_remove(&ev->queue);
        store->sh->events_count--;
    }

    if (ev->payload) {
        ngx_slab_free_locked(store->shpool, ev->payload);
    }

    ngx_slab_free_locked(store->shpool, ev);
}


/* a delivery let go of its event: the payload goes with the last one */

static void
ngx_http_webhook_event_release(ngx_http_webhook_store_t *store,
    ngx_http_webhook_event_node_t *ev)
{
    if (--ev->refs == 0 && ev->payload) {
        ngx_slab_free_locked(store->shpool, ev->payload);
        ev->payload = NULL;
        ev->payload_len = 0;
    }
}


/* events whose window passed and that no delivery holds any more */

static void
ngx_http_webhook_events_expire(ngx_http_webhook_store_t *store, int64_t now,
    ngx_uint_t max)
{
    ngx_queue_t                    *q, *next;
    ngx_http_webhook_event_node_t  *ev;

    for (q = ngx_queue_head(&store->sh->events_expiry);
         q != ngx_queue_sentinel(&store->sh->events_expiry) && max;
         q = next, max--)
    {
        next = ngx_queue_next(q);
        ev = ngx_queue_data(q, ngx_http_webhook_event_node_t, queue);

        if (ev->expires > now) {
            break;
        }

        if (ev->refs == 0) {
            ngx_http_webhook_event_free(store, ev, 1);
        }
    }
}


/*
 * The due and deliveries trees get nearly all their nodes at the same
 * places: a new delivery has the highest id, and is due now, that is,
 * after the other new ones and before those claimed or to be retried
 * later.  With millions of pending deliveries, walking down from the root
 * was some 20 levels, twice per delivery.  So each tree keeps a node in the
 * zone (as other workers change the trees too), and a node that goes right
 * after it is linked there at once: the deliveries tree its last node, the
 * due tree the node last linked (then the next one must be checked).  Equal
 * keys go right, as with ngx_rbtree_insert_value().
 */

static void
ngx_http_webhook_hint_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_uint_t           last;
    ngx_rbtree_node_t   *root, *h, *s, **p;

    root = temp;
    h = ngx_http_webhook_hint;

    if (h && node->key >= h->key) {

        if (h->right != sentinel) {

            /* the next node: the first of its right */

            for (s = h->right; s->left != sentinel; s = s->left) {
                /* void */
            }

            if (node->key < s->key) {
                temp = s;
                p = &s->left;
                last = 0;
                goto link;
            }

        } else if (ngx_http_webhook_hint_last) {
            temp = h;
            p = &h->right;
            last = 1;
            goto link;

        } else {

            /*
             * the next node: the parent of the first one up that is a left
             * child (the parent of a root may be stale: ngx_rbtree_delete())
             */

            for (s = h; s != root && s == s->parent->right; s = s->parent) {
                /* void */
            }

            if (s == root || node->key < s->parent->key) {
                temp = h;
                p = &h->right;
                last = (s == root);
                goto link;
            }
        }
    }

    last = 1;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;
            last = 0;

        } else {
            p = &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

link:

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);

    ngx_http_webhook_hint_new_last = last;
}


/* hint: the tree's last node (is_last) or the node last linked, or NULL */

static void
ngx_http_webhook_hint_insert(ngx_rbtree_t *tree, ngx_rbtree_node_t **hint,
    ngx_uint_t is_last, ngx_rbtree_node_t *node)
{
    if (tree->root == tree->sentinel) {
        ngx_rbtree_insert(tree, node);
        *hint = node;
        return;
    }

    ngx_http_webhook_hint = *hint;
    ngx_http_webhook_hint_last = is_last;
    ngx_http_webhook_hint_new_last = 0;

    ngx_rbtree_insert(tree, node);

    ngx_http_webhook_hint = NULL;

    if (!is_last || ngx_http_webhook_hint_new_last) {
        *hint = node;
    }
}


static void
ngx_http_webhook_hint_delete(ngx_rbtree_t *tree, ngx_rbtree_node_t **hint,
    ngx_uint_t is_last, ngx_rbtree_node_t *node)
{
    ngx_rbtree_node_t  *prev;

    if (*hint == node) {

        if (!is_last) {
            prev = NULL;

        } else if (node->left != tree->sentinel) {

            /* the one before the last: the last of its left, or its parent */

            for (prev = node->left;
                 prev->right != tree->sentinel;
                 prev = prev->right)
            {
                /* void */
            }

        } else {
            /* the parent of a root may be stale: see ngx_rbtree_delete() */
            prev = (node == tree->root) ? NULL : node->parent;
        }

        *hint = prev;
    }

    ngx_rbtree_delete(tree, node);
}


/* a subscription id (24 lowercase hex digits, as checked) as 12 bytes */

static void
ngx_http_webhook_sub_id_pack(u_char *raw, u_char *id)
{
    u_char      hi, lo;
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_WEBHOOK_ID_LEN / 2; i++) {
        hi = id[2 * i];
        lo = id[2 * i + 1];
        raw[i] = (u_char) ((((hi & 0x0f) + (hi >> 6) * 9) << 4)
                           | ((lo & 0x0f) + (lo >> 6) * 9));
    }
}


static ngx_http_webhook_node_t *
ngx_http_webhook_delivery_sub(ngx_http_webhook_shctx_t *sh,
    ngx_http_webhook_delivery_t *d)
{
    u_char  id[NGX_HTTP_WEBHOOK_ID_LEN];

    (void) ngx_hex_dump(id, d->sub_id, NGX_HTTP_WEBHOOK_ID_LEN / 2);

    return ngx_http_webhook_node_lookup(sh, id);
}


static ngx_http_webhook_delivery_t *
ngx_http_webhook_delivery_lookup(ngx_http_webhook_shctx_t *sh, uint64_t id)
{
    ngx_rbtree_node_t  *node, *sentinel;

    node = sh->deliveries.root;
    sentinel = sh->deliveries.sentinel;

    while (node != sentinel) {

        if ((ngx_rbtree_key_t) id < node->key) {
            node = node->left;
            continue;
        }

        if ((ngx_rbtree_key_t) id > node->key) {
            node = node->right;
            continue;
        }

        return (ngx_http_webhook_delivery_t *)
                   ((u_char *) node
                    - offsetof(ngx_http_webhook_delivery_t, id_node));
    }

    return NULL;
}


static void
ngx_http_webhook_delivery_link(ngx_http_webhook_store_t *store,
    ngx_http_webhook_delivery_t *d, ngx_http_webhook_node_t *sub,
    int64_t next_at)
{
    d->node.key = (ngx_rbtree_key_t) next_at;

    ngx_http_webhook_hint_insert(&store->sh->due, &store->sh->due_hint, 0,
                                 &d->node);
    ngx_http_webhook_hint_insert(&store->sh->deliveries,
                                 &store->sh->deliveries_last, 1, &d->id_node);
    ngx_queue_insert_tail(&sub->deliveries, &d->sub_queue);

    if (d->state == NGX_HTTP_WEBHOOK_DELIVERY_PENDING) {
        sub->pending++;
    }

    d->event->refs++;
    store->sh->deliveries_count++;
}


static void
ngx_http_webhook_delivery_reschedule(ngx_http_webhook_store_t *store,
    ngx_http_webhook_delivery_t *d, int64_t at)
{
    ngx_http_webhook_hint_delete(&store->sh->due, &store->sh->due_hint, 0,
                                 &d->node);
    d->node.key = (ngx_rbtree_key_t) at;
    ngx_http_webhook_hint_insert(&store->sh->due, &store->sh->due_hint, 0,
                                 &d->node);
}


static void
ngx_http_webhook_delivery_free(ngx_http_webhook_store_t *store,
    ngx_http_webhook_delivery_t *d, ngx_http_webhook_node_t *sub)
{
    ngx_http_webhook_hint_delete(&store->sh->due, &store->sh->due_hint, 0,
                                 &d->node);
    ngx_http_webhook_hint_delete(&store->sh->deliveries,
                                 &store->sh->deliveries_last, 1, &d->id_node);
    ngx_queue_remove(&d->sub_queue);

    if (sub && d->state == NGX_HTTP_WEBHOOK_DELIVERY_PENDING
        && sub->pending)
    {
        sub->pending--;
    }

    ngx_http_webhook_event_release(store, d->event);
    store->sh->deliveries_count--;

    ngx_slab_free_locked(store->shpool, d);
}


/* a subscription goes: its deliveries and its attempt log with it */

static void
ngx_http_webhook_sub_drop(ngx_http_webhook_store_t *store,
    ngx_http_webhook_node_t *node)
{
    ngx_uint_t                    i;
    ngx_queue_t                  *q;
    ngx_http_webhook_delivery_t  *d;

    while (!ngx_queue_empty(&node->deliveries)) {
        q = ngx_queue_head(&node->deliveries);
        d = ngx_queue_data(q, ngx_http_webhook_delivery_t, sub_queue);
        ngx_http_webhook_delivery_free(store, d, node);
    }

    if (node->log) {
        for (i = 0; i < store->conf.attempts_kept; i++) {
            if (node->log->entries[i]) {
                ngx_slab_free_locked(store->shpool, node->log->entries[i]);
            }
        }

        ngx_slab_free_locked(store->shpool, node->log);
        node->log = NULL;
    }
}


/* adds an entry to a subscription's attempt log; a full log drops its oldest */

static void
ngx_http_webhook_log_add(ngx_http_webhook_store_t *store,
    ngx_http_webhook_node_t *sub, ngx_http_webhook_attempt_t *a)
{
    u_char                    *p;
    size_t                     size;
    ngx_uint_t                 n;
    ngx_http_webhook_entry_t  *e;

    n = store->conf.attempts_kept;

    if (n == 0) {
        return;
    }

    if (sub->log == NULL) {
        size = offsetof(ngx_http_webhook_log_t, entries)
               + n * sizeof(ngx_http_webhook_entry_t *);

        sub->log = ngx_slab_calloc_locked(store->shpool, size);
        if (sub->log == NULL) {
            return;
        }
    }

    e = ngx_slab_alloc_locked(store->shpool,
                              offsetof(ngx_http_webhook_entry_t, data)
                              + a->event_id.len + a->action.len);
    if (e == NULL) {
        return;
    }

    e->at = a->at;
    e->duration = a->duration;
    e->status = (u_short) a->status;
    e->error = (u_char) a->error;
    e->state = (u_char) a->state;
    e->attempt = (u_short) a->attempt;
    e->event_id_len = (u_char) a->event_id.len;
    e->action_len = (u_char) a->action.len;

    p = ngx_cpymem(e->data, a->event_id.data, a->event_id.len);
    (void) ngx_cpymem(p, a->action.data, a->action.len);

    if (sub->log->entries[sub->log->next]) {
        ngx_slab_free_locked(store->shpool, sub->log->entries[sub->log->next]);

    } else {
        sub->log->count++;
    }

    sub->log->entries[sub->log->next] = e;
    sub->log->next = (sub->log->next + 1) % n;
}


static void
ngx_http_webhook_delivery_attempt(ngx_http_webhook_delivery_t *d,
    ngx_http_webhook_attempt_t *a)
{
    ngx_http_webhook_event_node_t  *ev;

    ev = d->event;

    a->event_id.len = ev->id_len;
    a->event_id.data = ev->data + ev->tenant_len;
    a->action.len = ev->action_len;
    a->action.data = ev->data + ev->tenant_len + ev->id_len;
}


/* the record of one event: its deliveries' subscription ids follow it */

static size_t
ngx_http_webhook_event_rec_size(ngx_http_webhook_event_node_t *ev,
    ngx_uint_t nd)
{
    return 8 + 8 + 8 + 4 + 4 + 4 + 3
           + ev->tenant_len + ev->id_len + ev->action_len + ev->payload_len
           + nd * NGX_HTTP_WEBHOOK_ID_LEN;
}


static u_char *
ngx_http_webhook_event_rec_write(u_char *p, ngx_http_webhook_event_node_t *ev,
    uint64_t first, ngx_http_webhook_node_t **subs, ngx_uint_t nd)
{
    uint32_t    v;
    ngx_uint_t  i;

    p = ngx_cpymem(p, &ev->created, 8);
    p = ngx_cpymem(p, &ev->expires, 8);
    p = ngx_cpymem(p, &first, 8);
    v = (uint32_t) ev->deliveries;
    p = ngx_cpymem(p, &v, 4);
    v = (uint32_t) nd;
    p = ngx_cpymem(p, &v, 4);
    v = (uint32_t) ev->payload_len;
    p = ngx_cpymem(p, &v, 4);
    *p++ = ev->tenant_len;
    *p++ = ev->id_len;
    *p++ = ev->action_len;
    p = ngx_cpymem(p, ev->data, ev->tenant_len + ev->id_len + ev->action_len);
    p = ngx_cpymem(p, ev->payload, ev->payload_len);

    for (i = 0; i < nd; i++) {
        p = ngx_cpymem(p, subs[i]->id, NGX_HTTP_WEBHOOK_ID_LEN);
    }

    return p;
}


/* replays an event record; returns the bytes it used, or 0 if malformed */

static size_t
ngx_http_webhook_event_rec_apply(ngx_http_webhook_store_t *store, u_char *p,
    size_t len)
{
    u_char                         *start, *last;
    int64_t                         created, expires;
    uint32_t                        answer, nd, plen;
    uint64_t                        first;
    ngx_str_t                       tenant, id, action, payload;
    ngx_uint_t                      i;
    ngx_http_webhook_node_t        *sub;
    ngx_http_webhook_delivery_t    *d;
    ngx_http_webhook_event_node_t  *ev, *old;

    start = p;
    last = p + len;

    if (len < 8 + 8 + 8 + 4 + 4 + 4 + 3) {
        return 0;
    }

    ngx_memcpy(&created, p, 8);
    ngx_memcpy(&expires, p + 8, 8);
    ngx_memcpy(&first, p + 16, 8);
    ngx_memcpy(&answer, p + 24, 4);
    ngx_memcpy(&nd, p + 28, 4);
    ngx_memcpy(&plen, p + 32, 4);
    tenant.len = p[36];
    id.len = p[37];
    action.len = p[38];
    p += 39;

    if ((size_t) (last - p) < tenant.len + id.len + action.len + plen
                              + (size_t) nd * NGX_HTTP_WEBHOOK_ID_LEN)
    {
        return 0;
    }

    tenant.data = p;
    id.data = p + tenant.len;
    action.data = id.data + id.len;
    payload.data = action.data + action.len;
    payload.len = plen;
    p = payload.data + plen;

    /* as publishing stores them (see ngx_http_webhook_sub_rec_valid()) */

    if (!ngx_http_webhook_json_tenant_valid(&tenant)
        || !ngx_http_webhook_json_word(&id, 64, "_-")
        || !ngx_http_webhook_json_word(&action, NGX_HTTP_WEBHOOK_ACTION_MAX,
                                      "_.:-"))
    {
        return 0;
    }

    old = ngx_http_webhook_event_lookup(store->sh, &tenant, &id);
    if (old) {
        /* the same key again: the newest wins */
        if (old->refs == 0) {
            ngx_http_webhook_event_free(store, old, 1);

        } else {
            ngx_http_webhook_hint_delete(&store->sh->events,
                                         &store->sh->events_last, 1,
                                         &old->node);
            ngx_queue_remove(&old->queue);
            ngx_queue_init(&old->queue);
            old->node.key = 0;
        }
    }

    ev = ngx_http_webhook_event_alloc(store, &tenant, &id, &action, &payload,
                                      plen || nd);
    if (ev == NULL) {
        return 0;
    }

    ev->created = created;
    ev->expires = expires;
    ev->deliveries = answer;

    ngx_http_webhook_event_link(store, ev);

    for (i = 0; i < nd; i++, p += NGX_HTTP_WEBHOOK_ID_LEN) {

        sub = ngx_http_webhook_node_lookup(store->sh, p);
        if (sub == NULL) {
            continue;
        }

        d = ngx_slab_calloc_locked(store->shpool,
                                   sizeof(ngx_http_webhook_delivery_t));
        if (d == NULL) {
            return 0;
        }

        d->id_node.key = (ngx_rbtree_key_t) (first + i);
        d->event = ev;
        d->attempt = 1;
        d->state = NGX_HTTP_WEBHOOK_DELIVERY_PENDING;
        ngx_http_webhook_sub_id_pack(d->sub_id, p);

        ngx_http_webhook_delivery_link(store, d, sub, created);
    }

    if (nd && first + nd - 1 > store->sh->next_delivery) {
        store->sh->next_delivery = first + nd - 1;
    }

    return p - start;
}


ngx_int_t
ngx_http_webhook_store_publish(ngx_http_webhook_store_t *store,
    ngx_http_webhook_event_t *events, ngx_uint_t n,
    ngx_http_webhook_publish_conf_t *pcf, ngx_pool_t *pool,
    ngx_http_webhook_published_t *results,
    ngx_http_webhook_store_handler_pt handler, void *data)
{
    u_char                          *rec, *p, *dot;
    u_char                           pattern[NGX_HTTP_WEBHOOK_ACTION_MAX + 2];
    size_t                           len;
    int64_t                          now;
    uint64_t                         next_id, first;
    uint32_t                         v;
    ngx_int_t                        rc;
    ngx_str_t                        id, pat;
    ngx_uint_t                       i, j, k, nd, count, *made;
    ngx_queue_t                     *q;
    ngx_array_t                     *matches, skips;
    ngx_http_webhook_node_t         *sub, **sp;
    ngx_http_webhook_bucket_t       *bucket;
    ngx_http_webhook_tenant_t       *tenant;
    ngx_http_webhook_delivery_t   ***dss, **ds;
    ngx_http_webhook_skip_t         *sk;
    ngx_http_webhook_event_node_t  **evs, *ev;

    matches = ngx_pcalloc(pool, n * sizeof(ngx_array_t));
    evs = ngx_pcalloc(pool, n * sizeof(ngx_http_webhook_event_node_t *));
    dss = ngx_pcalloc(pool, n * sizeof(ngx_http_webhook_delivery_t **));
    made = ngx_pcalloc(pool, n * sizeof(ngx_uint_t));

    if (matches == NULL || evs == NULL || dss == NULL || made == NULL) {
        return NGX_ERROR;
    }

    if (ngx_array_init(&skips, pool, 2, sizeof(ngx_http_webhook_skip_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    dot = NULL;

    for (i = 0; i < n; i++) {
        if (ngx_array_init(&matches[i], pool, 4,
                           sizeof(ngx_http_webhook_node_t *))
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ngx_shmtx_lock(&store->shpool->mutex);

    if (!store->sh->writable) {
        rc = NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE;
        goto failed;
    }

    now = ngx_http_webhook_now();

    ngx_http_webhook_events_expire(store, now, 64);

    /* the ids, the duplicates, the matching subscriptions */

    for (i = 0; i < n; i++) {

        results[i].duplicate = 0;
        results[i].deliveries = 0;

        if (events[i].id.len) {
            id = events[i].id;

            ev = ngx_http_webhook_event_lookup(store->sh, &events[i].tenant,
                                               &id);
            if (ev && (ev->expires > now || ev->refs)) {
                results[i].id = id;
                results[i].deliveries = ev->deliveries;
                results[i].duplicate = 1;
                continue;
            }

            for (j = 0; j < i; j++) {
                if (!results[j].duplicate
                    && results[j].id.len == id.len
                    && ngx_strncmp(results[j].id.data, id.data, id.len) == 0
                    && events[j].tenant.len == events[i].tenant.len
                    && ngx_strncmp(events[j].tenant.data,
                                   events[i].tenant.data,
                                   events[i].tenant.len) == 0)
                {
                    break;
                }
            }

            if (j < i) {
                /* the same id earlier in this batch */
                results[i].id = id;
                results[i].deliveries = matches[j].nelts;
                results[i].duplicate = 1;
                continue;
            }

        } else {
            id.len = 4 + NGX_HTTP_WEBHOOK_ID_LEN;
            id.data = ngx_pnalloc(pool, id.len);
            if (id.data == NULL) {
                rc = NGX_ERROR;
                goto failed;
            }

            ngx_memcpy(id.data, "evt_", 4);
            ngx_http_webhook_new_id(store->sh, id.data + 4);
        }

        results[i].id = id;

        if (pcf->only.len) {
            sub = (pcf->only.len == NGX_HTTP_WEBHOOK_ID_LEN)
                  ? ngx_http_webhook_node_lookup(store->sh, pcf->only.data)
                  : NULL;

            if (sub == NULL
                || sub->tenant->named.len != events[i].tenant.len
                || ngx_strncmp(sub->tenant->named.name,
                               events[i].tenant.data,
                               events[i].tenant.len) != 0)
            {
                rc = NGX_HTTP_WEBHOOK_STORE_NOT_FOUND;
                goto failed;
            }

            if (!sub->enabled) {
                rc = NGX_HTTP_WEBHOOK_STORE_DISABLED;
                goto failed;
            }

            if (now - sub->last_test < 1000) {
                rc = NGX_BUSY;
                goto failed;
            }

            sp = ngx_array_push(&matches[i]);
            if (sp == NULL) {
                rc = NGX_ERROR;
                goto failed;
            }

            *sp = sub;
            continue;
        }

        tenant = ngx_http_webhook_tenant_lookup(store->sh,
                                                &events[i].tenant);
        if (tenant == NULL) {
            continue;
        }

        /* the action itself, "*", then "a.*", "a.b.*", ... */

        for (k = 0; /* void */ ; k++) {

            if (k == 0) {
                pat = events[i].action;

            } else if (k == 1) {
                pat.data = (u_char *) "*";
                pat.len = 1;

            } else {
                p = (k == 2) ? events[i].action.data : dot + 1;
                dot = ngx_strlchr(p, events[i].action.data
                                     + events[i].action.len, '.');
                if (dot == NULL
                    || (size_t) (dot - events[i].action.data) + 2
                       > sizeof(pattern))
                {
                    break;
                }

                pat.len = dot - events[i].action.data + 2;
                ngx_memcpy(pattern, events[i].action.data, pat.len - 1);
                pattern[pat.len - 1] = '*';
                pat.data = pattern;
            }

            bucket = ngx_http_webhook_bucket_lookup(tenant, pat.data,
                                                    pat.len);
            if (bucket == NULL) {
                continue;
            }

            for (q = ngx_queue_head(&bucket->subs);
                 q != ngx_queue_sentinel(&bucket->subs);
                 q = ngx_queue_next(q))
            {
                sub = ngx_queue_data(q, ngx_http_webhook_node_t,
                                     bucket_queue);

                if (!sub->enabled) {
                    continue;
                }

                if (pcf->max_pending && sub->pending >= pcf->max_pending) {

                    /*
                     * One dead subscriber cannot fill the zone: its log
                     * says so once the publish is committed.
                     */

                    sk = ngx_array_push(&skips);
                    if (sk == NULL) {
                        rc = NGX_ERROR;
                        goto failed;
                    }

                    ngx_memzero(sk, sizeof(ngx_http_webhook_skip_t));
                    sk->sub = sub;
                    sk->attempt.event_id = id;
                    sk->attempt.action = events[i].action;
                    sk->attempt.at = now;
                    sk->attempt.error = NGX_HTTP_WEBHOOK_ERR_PENDING_LIMIT;
                    sk->attempt.state = NGX_HTTP_WEBHOOK_DELIVERY_FAILED;
                    continue;
                }

                sp = ngx_array_push(&matches[i]);
                if (sp == NULL) {
                    rc = NGX_ERROR;
                    goto failed;
                }

                *sp = sub;
            }
        }
    }

    /* everything allocated before anything is linked: all or nothing */

    count = 0;
    len = 4;
    next_id = store->sh->next_delivery;

    for (i = 0; i < n; i++) {

        if (results[i].duplicate) {
            continue;
        }

        nd = matches[i].nelts;
        results[i].deliveries = nd;

        if (nd == 0 && events[i].id.len == 0) {
            continue;
        }

        evs[i] = ngx_http_webhook_event_alloc(store, &events[i].tenant,
                                              &results[i].id,
                                              &events[i].action,
                                              &events[i].payload, nd);
        if (evs[i] == NULL) {
            rc = NGX_HTTP_WEBHOOK_STORE_FULL;
            goto undo;
        }

        evs[i]->created = now;
        evs[i]->expires = now + pcf->idempotency;
        evs[i]->deliveries = nd;

        ds = ngx_palloc(pool,
                        (nd + 1) * sizeof(ngx_http_webhook_delivery_t *));
        if (ds == NULL) {
            rc = NGX_ERROR;
            goto undo;
        }

        dss[i] = ds;
        sp = matches[i].elts;

        for (j = 0; j < nd; j++) {
            ds[j] = ngx_slab_calloc_locked(store->shpool,
                                          sizeof(ngx_http_webhook_delivery_t));
            if (ds[j] == NULL) {
                rc = NGX_HTTP_WEBHOOK_STORE_FULL;
                goto undo;
            }

            made[i]++;

            ds[j]->id_node.key = (ngx_rbtree_key_t) ++next_id;
            ds[j]->event = evs[i];
            ds[j]->attempt = 1;
            ds[j]->state = NGX_HTTP_WEBHOOK_DELIVERY_PENDING;
            ngx_http_webhook_sub_id_pack(ds[j]->sub_id, sp[j]->id);
        }

        len += ngx_http_webhook_event_rec_size(evs[i], nd);
        count++;
    }

    if (count && store->state) {
        rec = ngx_pnalloc(pool, len);
        if (rec == NULL) {
            rc = NGX_ERROR;
            goto undo;
        }

        v = (uint32_t) count;
        p = ngx_cpymem(rec, &v, 4);

        for (i = 0; i < n; i++) {
            if (evs[i] == NULL) {
                continue;
            }

            ds = dss[i];
            first = matches[i].nelts ? ngx_http_webhook_delivery_id(ds[0])
                                     : 0;

            p = ngx_http_webhook_event_rec_write(p, evs[i], first,
                                                 matches[i].elts,
                                                 matches[i].nelts);
        }

        rc = ngx_http_webhook_store_journal(store, NGX_HTTP_WEBHOOK_REC_EVENTS,
                                            rec, p - rec, pool->log);
        if (rc != NGX_OK) {
            goto undo;
        }
    }

    /* nothing can fail from here */

    store->sh->next_delivery = next_id;

    for (i = 0; i < n; i++) {
        if (evs[i] == NULL) {
            continue;
        }

        ngx_http_webhook_event_link(store, evs[i]);

        ds = dss[i];
        sp = matches[i].elts;

        for (j = 0; j < matches[i].nelts; j++) {
            ngx_http_webhook_delivery_link(store, ds[j], sp[j], now);

            if (pcf->only.len) {
                sp[j]->last_test = now;
            }
        }
    }

    sk = skips.elts;

    for (i = 0; i < skips.nelts; i++) {
        ngx_http_webhook_log_add(store, sk[i].sub, &sk[i].attempt);
    }

    ngx_http_webhook_store_maybe_snapshot(store, pool->log);

    ngx_shmtx_unlock(&store->shpool->mutex);

    return ngx_http_webhook_store_done(store, pool->log, handler, data);

undo:

    for (i = 0; i < n; i++) {
        if (evs[i] == NULL) {
            continue;
        }

        for (j = 0; j < made[i]; j++) {
            ngx_slab_free_locked(store->shpool, dss[i][j]);
        }

        ngx_http_webhook_event_free(store, evs[i], 0);
    }

failed:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


void
ngx_http_webhook_store_set_retry(ngx_http_webhook_store_t *store,
    ngx_http_webhook_retry_conf_t *rcf)
{
    store->rcf = rcf;
}


/* outcome record: what an attempt changed, replayed as it was decided */

typedef struct {
    uint64_t                        delivery;
    int64_t                         next_at;
    int64_t                         at;
    uint32_t                        duration;
    uint16_t                        attempt;      /* the one made */
    uint16_t                        next_attempt;
    uint16_t                        status;
    u_char                          error;
    u_char                          state;        /* after it */
} ngx_http_webhook_outcome_rec_t;


/* applies an outcome, live or replayed; "sub" may be NULL (gone) */

static void
ngx_http_webhook_outcome_apply(ngx_http_webhook_store_t *store,
    ngx_http_webhook_delivery_t *d, ngx_http_webhook_node_t *sub,
    ngx_http_webhook_outcome_rec_t *o)
{
    ngx_http_webhook_attempt_t  a;

    if (sub) {
        ngx_memzero(&a, sizeof(ngx_http_webhook_attempt_t));
        ngx_http_webhook_delivery_attempt(d, &a);

        a.attempt = o->attempt;
        a.at = o->at;
        a.status = o->status;
        a.duration = o->duration;
        a.error = o->error;
        a.state = o->state;

        ngx_http_webhook_log_add(store, sub, &a);
    }

    if (o->state == NGX_HTTP_WEBHOOK_DELIVERY_DELIVERED) {
        ngx_http_webhook_delivery_free(store, d, sub);
        return;
    }

    if (o->state == NGX_HTTP_WEBHOOK_DELIVERY_FAILED
        && d->state == NGX_HTTP_WEBHOOK_DELIVERY_PENDING
        && sub && sub->pending)
    {
        sub->pending--;
    }

    d->state = o->state;
    d->attempt = o->next_attempt;
    d->owner = 0;

    ngx_http_webhook_delivery_reschedule(store, d, o->next_at);
}


/* under the mutex: journals and applies an outcome */

static void
ngx_http_webhook_outcome_record(ngx_http_webhook_store_t *store,
    ngx_http_webhook_delivery_t *d, ngx_http_webhook_node_t *sub,
    ngx_http_webhook_outcome_rec_t *o, ngx_log_t *log)
{
    if (store->state) {

        /*
         * A failed write is not fatal here: without the record the
         * delivery is simply made again after a restart (at least once).
         */

        (void) ngx_http_webhook_store_journal(store,
                                              NGX_HTTP_WEBHOOK_REC_OUTCOME,
                                              (u_char *) o,
                                              sizeof(*o), log);
    }

    ngx_http_webhook_outcome_apply(store, d, sub, o);
}


/* a new version of "sub", disabled for "reason", journaled */

static void
ngx_http_webhook_sub_disable(ngx_http_webhook_store_t *store,
    ngx_http_webhook_node_t *sub, ngx_uint_t reason, ngx_log_t *log)
{
    ngx_http_webhook_sub_t    view;
    ngx_http_webhook_node_t  *node;

    ngx_http_webhook_node_view(sub, &view);

    view.enabled = 0;
    view.disabled_reason = reason;
    view.updated = ngx_http_webhook_now();
    view.version++;

    if (ngx_http_webhook_sub_put(store, &view, sub, log, &node) != NGX_OK) {

        /* no room for a new version: disabled all the same, not journaled */

        sub->enabled = 0;
        sub->disabled_reason = (u_char) reason;
        node = sub;
    }

    ngx_http_webhook_sub_end_pending(store, node, log);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "webhook subscription %*s disabled (%s)",
                  (size_t) NGX_HTTP_WEBHOOK_ID_LEN, node->id,
                  reason == NGX_HTTP_WEBHOOK_DISABLED_GONE ? "gone"
                                                           : "failing");
}


ngx_int_t
ngx_http_webhook_store_claim(ngx_http_webhook_store_t *store,
    ngx_msec_t lease, ngx_pool_t *pool, ngx_http_webhook_claim_t *c,
    ngx_msec_t *wait)
{
    u_char                          *p;
    size_t                           size;
    int64_t                          now;
    ngx_int_t                        rc;
    ngx_uint_t                       n;
    ngx_rbtree_node_t               *node;
    ngx_http_webhook_sub_t           view;
    ngx_http_webhook_node_t         *sub;
    ngx_http_webhook_delivery_t     *d;
    ngx_http_webhook_event_node_t   *ev;
    ngx_http_webhook_outcome_rec_t   o;

    *wait = NGX_TIMER_INFINITE;
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&store->shpool->mutex);

    if (!store->sh->writable) {
        *wait = 1000;
        goto done;
    }

    now = ngx_http_webhook_now();

    ngx_http_webhook_events_expire(store, now, 16);

    for (n = 0; n < 64; n++) {

        if (store->sh->due.root == store->sh->due.sentinel) {
            goto done;
        }

        node = ngx_rbtree_min(store->sh->due.root, store->sh->due.sentinel);

        if ((int64_t) node->key > now) {
            *wait = (ngx_msec_t) ((int64_t) node->key - now);
            goto done;
        }

        d = (ngx_http_webhook_delivery_t *) node;

        sub = ngx_http_webhook_delivery_sub(store->sh, d);

        if (d->state == NGX_HTTP_WEBHOOK_DELIVERY_FAILED || sub == NULL) {
            /* kept long enough after it failed */
            ngx_http_webhook_delivery_free(store, d, sub);
            continue;
        }

        if (!sub->enabled) {
            ngx_memzero(&o, sizeof(ngx_http_webhook_outcome_rec_t));
            o.delivery = ngx_http_webhook_delivery_id(d);
            o.at = now;
            o.attempt = d->attempt;
            o.next_attempt = d->attempt;
            o.error = NGX_HTTP_WEBHOOK_ERR_DISABLED;
            o.state = NGX_HTTP_WEBHOOK_DELIVERY_FAILED;
            o.next_at = now + (store->rcf ? store->rcf->failed_keep
                                          : 3 * 86400 * 1000);

            ngx_http_webhook_outcome_record(store, d, sub, &o, pool->log);
            continue;
        }

        /* claimed: due again when the lease ends, for another worker */

        d->owner = ngx_pid;
        ngx_http_webhook_delivery_reschedule(store, d, now + lease);

        ev = d->event;
        ngx_http_webhook_node_view(sub, &view);

        size = NGX_HTTP_WEBHOOK_ID_LEN + ev->tenant_len + ev->id_len
               + ev->action_len + ev->payload_len + view.target_url.len
               + view.secret.len + view.token.len;

        p = ngx_pnalloc(pool, size);
        if (p == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        c->delivery = ngx_http_webhook_delivery_id(d);
        c->attempt = d->attempt;

        c->sub_id.data = p;
        c->sub_id.len = NGX_HTTP_WEBHOOK_ID_LEN;
        p = ngx_hex_dump(p, d->sub_id, NGX_HTTP_WEBHOOK_ID_LEN / 2);

        c->tenant.data = p;
        c->tenant.len = ev->tenant_len;
        p = ngx_cpymem(p, ev->data, ev->tenant_len);

        c->event_id.data = p;
        c->event_id.len = ev->id_len;
        p = ngx_cpymem(p, ev->data + ev->tenant_len, ev->id_len);

        c->action.data = p;
        c->action.len = ev->action_len;
        p = ngx_cpymem(p, ev->data + ev->tenant_len + ev->id_len,
                       ev->action_len);

        c->payload.data = p;
        c->payload.len = ev->payload_len;
        p = ngx_cpymem(p, ev->payload, ev->payload_len);

        rc = ngx_http_webhook_claim_target(c, &view, p, now, pool);
        goto done;
    }

    /* more to look at: come back at once */

    *wait = 0;

done:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


/*
 * Synchronous delivery (webhook_publish mode=sync): the enabled
 * subscriptions of "tenant" that an event of "action" goes to, matched as
 * publish() matches them.  *n is how many there are; the first is copied
 * into "c" as a claim of no stored delivery (delivery 0, attempt 1; the
 * event's id, action and payload are the caller's to set).  Nothing is
 * stored or journaled.
 */

/*
 * The rest of a claim from the subscription's view, under the mutex: its
 * target, secret and token copied to "p" (the caller made room for them)
 * and its previous secrets still valid at "now", from "pool".
 */

static ngx_int_t
ngx_http_webhook_claim_target(ngx_http_webhook_claim_t *c,
    ngx_http_webhook_sub_t *view, u_char *p, int64_t now, ngx_pool_t *pool)
{
    ngx_uint_t  i;

    c->target_url.data = p;
    c->target_url.len = view->target_url.len;
    p = ngx_cpymem(p, view->target_url.data, view->target_url.len);

    c->secret.data = p;
    c->secret.len = view->secret.len;
    p = ngx_cpymem(p, view->secret.data, view->secret.len);

    c->token.data = p;
    c->token.len = view->token.len;
    (void) ngx_cpymem(p, view->token.data, view->token.len);

    c->nprev = 0;

    for (i = 0; i < view->nprev; i++) {
        if (view->prev_expires[i] <= now) {
            continue;
        }

        c->prev_secret[c->nprev].data = ngx_pstrdup(pool,
                                                    &view->prev_secret[i]);
        if (c->prev_secret[c->nprev].data == NULL) {
            return NGX_ERROR;
        }

        c->prev_secret[c->nprev].len = view->prev_secret[i].len;
        c->nprev++;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_webhook_store_match(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *action, ngx_pool_t *pool,
    ngx_http_webhook_claim_t *c, ngx_uint_t *n)
{
    u_char                     *p, *dot;
    u_char                      pattern[NGX_HTTP_WEBHOOK_ACTION_MAX + 2];
    size_t                      size;
    ngx_int_t                   rc;
    ngx_str_t                   pat;
    ngx_uint_t                  k;
    ngx_queue_t                *q;
    ngx_http_webhook_sub_t      view;
    ngx_http_webhook_node_t    *sub, *first;
    ngx_http_webhook_bucket_t  *bucket;
    ngx_http_webhook_tenant_t  *tn;

    *n = 0;
    first = NULL;
    dot = NULL;
    rc = NGX_OK;

    ngx_shmtx_lock(&store->shpool->mutex);

    tn = ngx_http_webhook_tenant_lookup(store->sh, tenant);
    if (tn == NULL) {
        goto done;
    }

    /* the action itself, "*", then "a.*", "a.b.*", ... */

    for (k = 0; /* void */ ; k++) {

        if (k == 0) {
            pat = *action;

        } else if (k == 1) {
            pat.data = (u_char *) "*";
            pat.len = 1;

        } else {
            p = (k == 2) ? action->data : dot + 1;
            dot = ngx_strlchr(p, action->data + action->len, '.');
            if (dot == NULL
                || (size_t) (dot - action->data) + 2 > sizeof(pattern))
            {
                break;
            }

            pat.len = dot - action->data + 2;
            ngx_memcpy(pattern, action->data, pat.len - 1);
            pattern[pat.len - 1] = '*';
            pat.data = pattern;
        }

        bucket = ngx_http_webhook_bucket_lookup(tn, pat.data, pat.len);
        if (bucket == NULL) {
            continue;
        }

        for (q = ngx_queue_head(&bucket->subs);
             q != ngx_queue_sentinel(&bucket->subs);
             q = ngx_queue_next(q))
        {
            sub = ngx_queue_data(q, ngx_http_webhook_node_t, bucket_queue);

            if (!sub->enabled) {
                continue;
            }

            if (first == NULL) {
                first = sub;
            }

            (*n)++;
        }
    }

    if (first == NULL) {
        goto done;
    }

    ngx_http_webhook_node_view(first, &view);

    size = NGX_HTTP_WEBHOOK_ID_LEN + view.tenant.len + view.target_url.len
           + view.secret.len + view.token.len;

    p = ngx_pnalloc(pool, size);
    if (p == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    ngx_memzero(c, sizeof(ngx_http_webhook_claim_t));

    c->attempt = 1;

    c->sub_id.data = p;
    c->sub_id.len = NGX_HTTP_WEBHOOK_ID_LEN;
    p = ngx_cpymem(p, view.id.data, NGX_HTTP_WEBHOOK_ID_LEN);

    c->tenant.data = p;
    c->tenant.len = view.tenant.len;
    p = ngx_cpymem(p, view.tenant.data, view.tenant.len);

    rc = ngx_http_webhook_claim_target(c, &view, p, ngx_http_webhook_now(),
                                       pool);

done:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


ngx_int_t
ngx_http_webhook_store_complete(ngx_http_webhook_store_t *store,
    ngx_http_webhook_outcome_t *o, ngx_http_webhook_retry_conf_t *rcf,
    ngx_log_t *log)
{
    int64_t                          now, delay, jitter;
    ngx_msec_t                      *delays;
    ngx_uint_t                       reason;
    ngx_http_webhook_node_t         *sub;
    ngx_http_webhook_delivery_t     *d;
    ngx_http_webhook_outcome_rec_t   rec;

    ngx_shmtx_lock(&store->shpool->mutex);

    d = ngx_http_webhook_delivery_lookup(store->sh, o->delivery);

    if (d == NULL
        || d->owner != ngx_pid
        || d->attempt != o->attempt
        || d->state != NGX_HTTP_WEBHOOK_DELIVERY_PENDING)
    {
        /* deleted meanwhile, or the lease ran out and someone took it */
        ngx_shmtx_unlock(&store->shpool->mutex);
        return NGX_DECLINED;
    }

    sub = ngx_http_webhook_delivery_sub(store->sh, d);
    now = ngx_http_webhook_now();

    ngx_memzero(&rec, sizeof(ngx_http_webhook_outcome_rec_t));
    rec.delivery = ngx_http_webhook_delivery_id(d);
    rec.at = now - o->duration;
    rec.duration = (uint32_t) o->duration;
    rec.attempt = d->attempt;
    rec.next_attempt = d->attempt;
    rec.status = (uint16_t) o->status;
    rec.error = (u_char) o->error;

    reason = NGX_HTTP_WEBHOOK_DISABLED_NONE;

    if (o->success) {
        rec.state = NGX_HTTP_WEBHOOK_DELIVERY_DELIVERED;
        rec.next_at = now;

        if (sub) {
            sub->failing_since = 0;
        }

        goto record;
    }

    if (o->gone) {
        reason = NGX_HTTP_WEBHOOK_DISABLED_GONE;

    } else if (sub && sub->failing_since == 0) {
        sub->failing_since = now;

    } else if (sub && rcf->disable_after
               && now - sub->failing_since >= (int64_t) rcf->disable_after)
    {
        reason = NGX_HTTP_WEBHOOK_DISABLED_FAILING;
    }

    if (reason == NGX_HTTP_WEBHOOK_DISABLED_NONE
        && rcf->delays && d->attempt <= rcf->delays->nelts)
    {
        delays = rcf->delays->elts;
        delay = delays[d->attempt - 1];

        if (rcf->jitter && delay >= 10) {
            jitter = delay * (int64_t) rcf->jitter / 100;
            delay += (int64_t) (ngx_random() % (2 * jitter + 1)) - jitter;
        }

        if (o->retry_after) {
            delay = ngx_max(delay, (int64_t) ngx_min(o->retry_after,
                                                     rcf->retry_after_max));
        }

        rec.state = NGX_HTTP_WEBHOOK_DELIVERY_PENDING;
        rec.next_attempt = d->attempt + 1;
        rec.next_at = now + delay;

    } else {
        rec.state = NGX_HTTP_WEBHOOK_DELIVERY_FAILED;
        rec.next_at = now + rcf->failed_keep;
    }

record:

    store->sh->attempts++;

    if (rec.state == NGX_HTTP_WEBHOOK_DELIVERY_DELIVERED) {
        store->sh->delivered++;

    } else if (rec.state == NGX_HTTP_WEBHOOK_DELIVERY_PENDING) {
        store->sh->retries++;

    } else {
        store->sh->given_up++;
    }

    ngx_http_webhook_outcome_record(store, d, sub, &rec, log);

    if (sub && reason != NGX_HTTP_WEBHOOK_DISABLED_NONE && sub->enabled) {
        ngx_http_webhook_sub_disable(store, sub, reason, log);
    }

    ngx_http_webhook_store_maybe_snapshot(store, log);

    ngx_shmtx_unlock(&store->shpool->mutex);

    return NGX_OK;
}


ngx_int_t
ngx_http_webhook_store_attempts(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *sub_id, ngx_pool_t *pool,
    ngx_array_t *out, ngx_uint_t *total)
{
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_uint_t                   i, n, k;
    ngx_http_webhook_node_t     *sub;
    ngx_http_webhook_entry_t    *e;
    ngx_http_webhook_attempt_t  *a;

    *total = 0;

    if (sub_id->len != NGX_HTTP_WEBHOOK_ID_LEN) {
        return NGX_HTTP_WEBHOOK_STORE_NOT_FOUND;
    }

    rc = NGX_OK;

    ngx_shmtx_lock(&store->shpool->mutex);

    sub = ngx_http_webhook_node_lookup(store->sh, sub_id->data);

    if (sub == NULL
        || sub->tenant->named.len != tenant->len
        || ngx_strncmp(sub->tenant->named.name, tenant->data, tenant->len)
           != 0)
    {
        rc = NGX_HTTP_WEBHOOK_STORE_NOT_FOUND;
        goto done;
    }

    if (sub->log == NULL) {
        goto done;
    }

    n = store->conf.attempts_kept;
    *total = sub->log->count;

    /* newest first: backwards from the slot before "next" */

    for (i = 0; i < sub->log->count; i++) {
        k = (sub->log->next + n - 1 - i) % n;
        e = sub->log->entries[k];

        a = ngx_array_push(out);
        if (a == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        p = ngx_pnalloc(pool, e->event_id_len + e->action_len);
        if (p == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        ngx_memcpy(p, e->data, e->event_id_len + e->action_len);

        a->event_id.data = p;
        a->event_id.len = e->event_id_len;
        a->action.data = p + e->event_id_len;
        a->action.len = e->action_len;
        a->attempt = e->attempt;
        a->at = e->at;
        a->status = e->status;
        a->duration = e->duration;
        a->error = e->error;
        a->state = e->state;
    }

done:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


/* whether a subscription's log has an entry of "event_id" */

static ngx_uint_t
ngx_http_webhook_log_has(ngx_http_webhook_store_t *store,
    ngx_http_webhook_node_t *sub, ngx_str_t *event_id)
{
    ngx_uint_t                 i;
    ngx_http_webhook_entry_t  *e;

    if (sub->log == NULL) {
        return 0;
    }

    for (i = 0; i < store->conf.attempts_kept; i++) {
        e = sub->log->entries[i];

        if (e && e->event_id_len == event_id->len
            && ngx_strncmp(e->data, event_id->data, event_id->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * A subscription was disabled: its queued deliveries end now as failed,
 * "disabled", journaled.  One being attempted at this moment finishes its
 * attempt; the next claim ends it the same way.
 */

static void
ngx_http_webhook_sub_end_pending(ngx_http_webhook_store_t *store,
    ngx_http_webhook_node_t *sub, ngx_log_t *log)
{
    int64_t                          now;
    ngx_queue_t                     *q, *next;
    ngx_http_webhook_delivery_t     *d;
    ngx_http_webhook_outcome_rec_t   o;

    now = ngx_http_webhook_now();

    for (q = ngx_queue_head(&sub->deliveries);
         q != ngx_queue_sentinel(&sub->deliveries);
         q = next)
    {
        next = ngx_queue_next(q);
        d = ngx_queue_data(q, ngx_http_webhook_delivery_t, sub_queue);

        if (d->state != NGX_HTTP_WEBHOOK_DELIVERY_PENDING
            || (d->owner && (int64_t) d->node.key > now))
        {
            continue;
        }

        ngx_memzero(&o, sizeof(ngx_http_webhook_outcome_rec_t));
        o.delivery = ngx_http_webhook_delivery_id(d);
        o.at = now;
        o.attempt = d->attempt;
        o.next_attempt = d->attempt;
        o.error = NGX_HTTP_WEBHOOK_ERR_DISABLED;
        o.state = NGX_HTTP_WEBHOOK_DELIVERY_FAILED;
        o.next_at = now + (store->rcf ? store->rcf->failed_keep
                                      : 3 * 86400 * 1000);

        ngx_http_webhook_outcome_record(store, d, sub, &o, log);
    }
}


typedef struct {
    uint64_t                        delivery;
    int64_t                         next_at;
} ngx_http_webhook_redeliver_rec_t;


static void
ngx_http_webhook_redeliver_apply(ngx_http_webhook_store_t *store,
    ngx_http_webhook_delivery_t *d, ngx_http_webhook_node_t *sub,
    int64_t at)
{
    d->state = NGX_HTTP_WEBHOOK_DELIVERY_PENDING;
    d->attempt = 1;
    d->owner = 0;
    sub->pending++;

    ngx_http_webhook_delivery_reschedule(store, d, at);
}


ngx_int_t
ngx_http_webhook_store_redeliver(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *sub_id, ngx_str_t *event_id,
    ngx_http_webhook_store_handler_pt handler, void *data)
{
    ngx_int_t                          rc;
    ngx_queue_t                       *q;
    ngx_http_webhook_node_t           *sub;
    ngx_http_webhook_delivery_t       *d;
    ngx_http_webhook_event_node_t     *ev;
    ngx_http_webhook_redeliver_rec_t   rec;

    if (sub_id->len != NGX_HTTP_WEBHOOK_ID_LEN) {
        return NGX_HTTP_WEBHOOK_STORE_NOT_FOUND;
    }

    ngx_shmtx_lock(&store->shpool->mutex);

    sub = ngx_http_webhook_node_lookup(store->sh, sub_id->data);

    if (sub == NULL
        || sub->tenant->named.len != tenant->len
        || ngx_strncmp(sub->tenant->named.name, tenant->data, tenant->len)
           != 0)
    {
        rc = NGX_HTTP_WEBHOOK_STORE_NOT_FOUND;
        goto failed;
    }

    d = NULL;

    for (q = ngx_queue_head(&sub->deliveries);
         q != ngx_queue_sentinel(&sub->deliveries);
         q = ngx_queue_next(q))
    {
        d = ngx_queue_data(q, ngx_http_webhook_delivery_t, sub_queue);
        ev = d->event;

        if (ev->id_len == event_id->len
            && ngx_strncmp(ev->data + ev->tenant_len, event_id->data,
                           event_id->len) == 0)
        {
            break;
        }

        d = NULL;
    }

    if (d == NULL) {
        /* delivered ones are gone from the queue, not from the log */
        rc = ngx_http_webhook_log_has(store, sub, event_id)
             ? NGX_DECLINED : NGX_HTTP_WEBHOOK_STORE_NO_DELIVERY;
        goto failed;
    }

    if (d->state != NGX_HTTP_WEBHOOK_DELIVERY_FAILED) {
        rc = NGX_DECLINED;
        goto failed;
    }

    if (!store->sh->writable) {
        rc = NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE;
        goto failed;
    }

    rec.delivery = ngx_http_webhook_delivery_id(d);
    rec.next_at = ngx_http_webhook_now();

    if (store->state) {
        rc = ngx_http_webhook_store_journal(store,
                                            NGX_HTTP_WEBHOOK_REC_REDELIVER,
                                            (u_char *) &rec, sizeof(rec),
                                            ngx_cycle->log);
        if (rc != NGX_OK) {
            goto failed;
        }
    }

    ngx_http_webhook_redeliver_apply(store, d, sub, rec.next_at);

    ngx_shmtx_unlock(&store->shpool->mutex);

    return ngx_http_webhook_store_done(store, ngx_cycle->log, handler, data);

failed:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


/* replaying the records of events and deliveries */

static ngx_int_t
ngx_http_webhook_events_rec_apply(ngx_http_webhook_store_t *store, u_char *p,
    size_t len)
{
    size_t      used;
    uint32_t    count, i;

    if (len < 4) {
        return NGX_ERROR;
    }

    ngx_memcpy(&count, p, 4);
    p += 4;
    len -= 4;

    for (i = 0; i < count; i++) {
        used = ngx_http_webhook_event_rec_apply(store, p, len);
        if (used == 0) {
            return NGX_ERROR;
        }

        p += used;
        len -= used;
    }

    return (len == 0) ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_webhook_outcome_rec_apply(ngx_http_webhook_store_t *store,
    u_char *p, size_t len)
{
    ngx_http_webhook_node_t         *sub;
    ngx_http_webhook_delivery_t     *d;
    ngx_http_webhook_outcome_rec_t   o;

    if (len != sizeof(ngx_http_webhook_outcome_rec_t)) {
        return NGX_ERROR;
    }

    ngx_memcpy(&o, p, len);

    d = ngx_http_webhook_delivery_lookup(store->sh, o.delivery);
    if (d == NULL) {
        /* its subscription was deleted, or it was delivered */
        return NGX_OK;
    }

    sub = ngx_http_webhook_delivery_sub(store->sh, d);

    ngx_http_webhook_outcome_apply(store, d, sub, &o);

    return NGX_OK;
}


static ngx_int_t
ngx_http_webhook_redeliver_rec_apply(ngx_http_webhook_store_t *store,
    u_char *p, size_t len)
{
    ngx_http_webhook_node_t           *sub;
    ngx_http_webhook_delivery_t       *d;
    ngx_http_webhook_redeliver_rec_t   rec;

    if (len != sizeof(ngx_http_webhook_redeliver_rec_t)) {
        return NGX_ERROR;
    }

    ngx_memcpy(&rec, p, len);

    d = ngx_http_webhook_delivery_lookup(store->sh, rec.delivery);
    if (d == NULL) {
        return NGX_OK;
    }

    sub = ngx_http_webhook_delivery_sub(store->sh, d);

    if (sub && d->state == NGX_HTTP_WEBHOOK_DELIVERY_FAILED) {
        ngx_http_webhook_redeliver_apply(store, d, sub, rec.next_at);
    }

    return NGX_OK;
}


/*
 * A snapshot lists deliveries and attempts subscription by subscription,
 * each subscription's deliveries in the order of their events, which is the
 * order of the events before them: most lookups find the last subscription
 * again, or the event after the last one.
 */

static ngx_http_webhook_node_t *
ngx_http_webhook_load_sub(ngx_http_webhook_store_t *store, u_char *id)
{
    ngx_http_webhook_node_t  *sub;

    sub = store->load_sub;

    if (sub && ngx_memcmp(sub->id, id, NGX_HTTP_WEBHOOK_ID_LEN) == 0) {
        return sub;
    }

    sub = ngx_http_webhook_node_lookup(store->sh, id);
    store->load_sub = sub;

    return sub;
}


static ngx_http_webhook_event_node_t *
ngx_http_webhook_load_event(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *id)
{
    ngx_uint_t                      i;
    ngx_queue_t                    *q;
    ngx_http_webhook_event_node_t  *ev;

    ev = store->load_ev;

    for (i = 0; ev && i < 2; i++) {

        if (ev->tenant_len == tenant->len
            && ev->id_len == id->len
            && ngx_memcmp(ev->data, tenant->data, tenant->len) == 0
            && ngx_memcmp(ev->data + ev->tenant_len, id->data, id->len) == 0
            && ev->node.key != 0)
        {
            store->load_ev = ev;
            return ev;
        }

        /* the event after it, if it is still queued */

        q = ngx_queue_next(&ev->queue);

        if (q == &ev->queue
            || q == ngx_queue_sentinel(&store->sh->events_expiry))
        {
            break;
        }

        ev = ngx_queue_data(q, ngx_http_webhook_event_node_t, queue);
    }

    ev = ngx_http_webhook_event_lookup(store->sh, tenant, id);
    store->load_ev = ev;

    return ev;
}


static ngx_int_t
ngx_http_webhook_delivery_rec_apply(ngx_http_webhook_store_t *store,
    u_char *p, size_t len)
{
    int64_t                         next_at;
    uint16_t                        attempt;
    uint64_t                        did;
    ngx_str_t                       tenant, id;
    ngx_http_webhook_node_t        *sub;
    ngx_http_webhook_delivery_t    *d;
    ngx_http_webhook_event_node_t  *ev;

    if (len < 8 + 8 + 2 + 1 + NGX_HTTP_WEBHOOK_ID_LEN + 2) {
        return NGX_ERROR;
    }

    tenant.len = p[8 + 8 + 2 + 1 + NGX_HTTP_WEBHOOK_ID_LEN];
    id.len = p[8 + 8 + 2 + 1 + NGX_HTTP_WEBHOOK_ID_LEN + 1];

    if (len != 8 + 8 + 2 + 1 + NGX_HTTP_WEBHOOK_ID_LEN + 2
               + tenant.len + id.len)
    {
        return NGX_ERROR;
    }

    tenant.data = p + 8 + 8 + 2 + 1 + NGX_HTTP_WEBHOOK_ID_LEN + 2;
    id.data = tenant.data + tenant.len;

    ev = ngx_http_webhook_load_event(store, &tenant, &id);
    sub = ngx_http_webhook_load_sub(store, p + 8 + 8 + 2 + 1);

    if (ev == NULL || sub == NULL) {
        return NGX_OK;
    }

    d = ngx_slab_calloc_locked(store->shpool,
                               sizeof(ngx_http_webhook_delivery_t));
    if (d == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(&did, p, 8);
    ngx_memcpy(&next_at, p + 8, 8);
    ngx_memcpy(&attempt, p + 16, 2);

    d->attempt = attempt;
    d->state = p[18];
    d->event = ev;
    d->id_node.key = (ngx_rbtree_key_t) did;
    ngx_http_webhook_sub_id_pack(d->sub_id, p + 19);

    ngx_http_webhook_delivery_link(store, d, sub, next_at);

    if (ngx_http_webhook_delivery_id(d) > store->sh->next_delivery) {
        store->sh->next_delivery = ngx_http_webhook_delivery_id(d);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_webhook_entry_rec_apply(ngx_http_webhook_store_t *store, u_char *p,
    size_t len)
{
    uint16_t                    v16;
    uint32_t                    v32;
    ngx_http_webhook_node_t    *sub;
    ngx_http_webhook_attempt_t  a;

    if (len < NGX_HTTP_WEBHOOK_ID_LEN + 8 + 4 + 2 + 1 + 1 + 2 + 2) {
        return NGX_ERROR;
    }

    sub = ngx_http_webhook_load_sub(store, p);
    p += NGX_HTTP_WEBHOOK_ID_LEN;

    ngx_memzero(&a, sizeof(ngx_http_webhook_attempt_t));

    ngx_memcpy(&a.at, p, 8);
    ngx_memcpy(&v32, p + 8, 4);
    a.duration = v32;
    ngx_memcpy(&v16, p + 12, 2);
    a.status = v16;
    a.error = p[14];
    a.state = p[15];
    ngx_memcpy(&v16, p + 16, 2);
    a.attempt = v16;
    a.event_id.len = p[18];
    a.action.len = p[19];
    p += 20;

    if (len != NGX_HTTP_WEBHOOK_ID_LEN + 20 + a.event_id.len + a.action.len) {
        return NGX_ERROR;
    }

    a.event_id.data = p;
    a.action.data = p + a.event_id.len;

    if (sub) {
        ngx_http_webhook_log_add(store, sub, &a);
    }

    return NGX_OK;
}
