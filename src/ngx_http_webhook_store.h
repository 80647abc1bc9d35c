
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#ifndef _NGX_HTTP_WEBHOOK_STORE_H_INCLUDED_
#define _NGX_HTTP_WEBHOOK_STORE_H_INCLUDED_


#include "ngx_http_webhook_common.h"


/*
 * The store: subscriptions (and, later, events and deliveries) in a shared
 * memory zone, persisted through the state part.  It knows nothing of HTTP.
 *
 * Every call is shaped so that a second, remote backend could implement it:
 * a write returns NGX_OK when it is complete, NGX_AGAIN when its result
 * will be reported later through the handler given (for instance once an
 * fsync covering its journal record has finished), or one of the
 * NGX_HTTP_WEBHOOK_STORE_* failure codes below.  A failed write changes
 * nothing.
 */

#define NGX_HTTP_WEBHOOK_STORE_NOT_FOUND    -101
#define NGX_HTTP_WEBHOOK_STORE_LIMIT        -102
#define NGX_HTTP_WEBHOOK_STORE_FULL         -103
#define NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE  -104
#define NGX_HTTP_WEBHOOK_STORE_NO_DELIVERY  -105
#define NGX_HTTP_WEBHOOK_STORE_DISABLED     -106
#define NGX_HTTP_WEBHOOK_STORE_DISK_FULL    -107   /* no room for the journal */


#define NGX_HTTP_WEBHOOK_DISABLED_NONE      0
#define NGX_HTTP_WEBHOOK_DISABLED_MANUAL    1
#define NGX_HTTP_WEBHOOK_DISABLED_GONE      2
#define NGX_HTTP_WEBHOOK_DISABLED_FAILING   3


/* fields of a subscription an update may set */
#define NGX_HTTP_WEBHOOK_F_ACTION           0x0001
#define NGX_HTTP_WEBHOOK_F_TARGET_URL       0x0002
#define NGX_HTTP_WEBHOOK_F_SECRET           0x0004
#define NGX_HTTP_WEBHOOK_F_TOKEN            0x0008
#define NGX_HTTP_WEBHOOK_F_ENABLED          0x0010
#define NGX_HTTP_WEBHOOK_F_DESCRIPTION      0x0020


#define NGX_HTTP_WEBHOOK_SORT_CREATED       0
#define NGX_HTTP_WEBHOOK_SORT_UPDATED       1


/* how many previous secrets keep signing beside the new one, at most */
#define NGX_HTTP_WEBHOOK_PREV_SECRETS       3


/*
 * A subscription as callers see it: a copy, allocated from the caller's
 * pool, never a pointer into shared memory.
 */
typedef struct {
    ngx_str_t                   id;
    ngx_str_t                   tenant;
    ngx_str_t                   action;
    ngx_str_t                   target_url;
    ngx_str_t                   secret;
    ngx_str_t                   token;            /* authorization_token */
    ngx_str_t                   description;
    int64_t                     created;          /* unix ms */
    int64_t                     updated;          /* unix ms */
    ngx_uint_t                  version;          /* __v */
    ngx_uint_t                  disabled_reason;
    ngx_uint_t                  nprev;            /* rotated out secrets */
    ngx_str_t                   prev_secret[NGX_HTTP_WEBHOOK_PREV_SECRETS];
    int64_t                     prev_expires[NGX_HTTP_WEBHOOK_PREV_SECRETS];
    unsigned                    enabled:1;
    unsigned                    has_token:1;
    unsigned                    has_description:1;
} ngx_http_webhook_sub_t;


typedef struct {
    ngx_str_t                   tenant;
    ngx_str_t                   action;           /* empty: any */
    ngx_uint_t                  sort;             /* NGX_HTTP_WEBHOOK_SORT_* */
    ngx_uint_t                  descending;
    ngx_uint_t                  skip;
    ngx_uint_t                  limit;            /* 0: all */
    ngx_uint_t                  secrets;          /* with secret, token */
} ngx_http_webhook_list_query_t;


typedef void (*ngx_http_webhook_store_handler_pt)(void *data, ngx_int_t rc);


typedef struct {
    ngx_str_t                   name;
    size_t                      size;
    ngx_str_t                   state_dir;        /* empty: memory only */
    ngx_uint_t                  fsync;            /* NGX_HTTP_WEBHOOK_FSYNC_* */
    ngx_msec_t                  fsync_interval;
    size_t                      snapshot_size;
    ngx_uint_t                  attempts_kept;    /* per subscription */
} ngx_http_webhook_store_conf_t;


ngx_http_webhook_store_t *ngx_http_webhook_store_add(ngx_conf_t *cf,
    ngx_http_webhook_store_conf_t *scf);
ngx_http_webhook_store_t *ngx_http_webhook_store_find(ngx_conf_t *cf,
    ngx_str_t *name);
ngx_str_t *ngx_http_webhook_store_name(ngx_http_webhook_store_t *store);
ngx_int_t ngx_http_webhook_store_init_process(ngx_cycle_t *cycle,
    ngx_http_webhook_store_t *store);
void ngx_http_webhook_store_exit_process(ngx_cycle_t *cycle,
    ngx_http_webhook_store_t *store);

/* NGX_HTTP_WEBHOOK_STORE_UNAVAILABLE while another instance owns the state */
ngx_int_t ngx_http_webhook_store_writable(ngx_http_webhook_store_t *store);

/*
 * In a read-only instance: takes the state over if its owner is gone
 * (blocking: replays what the owner wrote since this instance loaded).
 * NGX_OK: writable now; NGX_DECLINED: not yet.
 */
ngx_int_t ngx_http_webhook_store_take_over(ngx_http_webhook_store_t *store,
    ngx_log_t *log);

/*
 * "sub" carries the new subscription; id, created, updated and version are
 * assigned by the store and returned in "out".
 */
ngx_int_t ngx_http_webhook_store_create(ngx_http_webhook_store_t *store,
    ngx_http_webhook_sub_t *sub, ngx_uint_t max_per_tenant,
    ngx_pool_t *pool, ngx_http_webhook_sub_t *out,
    ngx_http_webhook_store_handler_pt handler, void *data);

ngx_int_t ngx_http_webhook_store_get(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *id, ngx_pool_t *pool,
    ngx_http_webhook_sub_t *out);

/* pushes copies into "out", an array of ngx_http_webhook_sub_t made by the
 * caller, and sets "total" */
ngx_int_t ngx_http_webhook_store_list(ngx_http_webhook_store_t *store,
    ngx_http_webhook_list_query_t *q, ngx_pool_t *pool, ngx_array_t *out,
    ngx_uint_t *total);

/* changes the fields in "mask", taking their values from "sub" */
ngx_int_t ngx_http_webhook_store_update(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *id, ngx_uint_t mask,
    ngx_http_webhook_sub_t *sub, ngx_pool_t *pool,
    ngx_http_webhook_sub_t *out, ngx_http_webhook_store_handler_pt handler,
    void *data);

/*
 * A new secret; the current one keeps signing beside it for "grace"
 * (rotated out secrets past their grace period are dropped, and at most
 * NGX_HTTP_WEBHOOK_PREV_SECRETS are kept).
 */
ngx_int_t ngx_http_webhook_store_rotate(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *id, ngx_str_t *secret, ngx_msec_t grace,
    ngx_pool_t *pool, ngx_http_webhook_sub_t *out,
    ngx_http_webhook_store_handler_pt handler, void *data);

ngx_int_t ngx_http_webhook_store_delete(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *id,
    ngx_http_webhook_store_handler_pt handler, void *data);


/*
 * Events and deliveries.
 *
 * An event is stored once (its payload is the exact body every subscriber
 * receives) and gets one delivery per matching subscription.  A delivery
 * is due at its next_at; a worker claims it for a lease (owner pid +
 * lease end), runs the attempt and reports the outcome.  A claim whose
 * lease ran out (a dead worker) is due again, with the same attempt.
 */

#define NGX_HTTP_WEBHOOK_DELIVERY_PENDING    0
#define NGX_HTTP_WEBHOOK_DELIVERY_DELIVERED  1
#define NGX_HTTP_WEBHOOK_DELIVERY_FAILED     2

/* attempt errors, as /deliveries shows them */
#define NGX_HTTP_WEBHOOK_ERR_NONE            0
#define NGX_HTTP_WEBHOOK_ERR_BLOCKED         1    /* blocked_address */
#define NGX_HTTP_WEBHOOK_ERR_CONNECT         2    /* connect_failed */
#define NGX_HTTP_WEBHOOK_ERR_TIMEOUT         3    /* timeout */
#define NGX_HTTP_WEBHOOK_ERR_TLS             4    /* tls_failed */
#define NGX_HTTP_WEBHOOK_ERR_BAD_STATUS      5    /* bad_status */
#define NGX_HTTP_WEBHOOK_ERR_REDIRECTED      6    /* redirected */
#define NGX_HTTP_WEBHOOK_ERR_DISABLED        7    /* disabled */
#define NGX_HTTP_WEBHOOK_ERR_PENDING_LIMIT   8    /* pending_limit */


typedef struct {
    ngx_str_t                   tenant;
    ngx_str_t                   id;               /* publisher's, or empty */
    ngx_str_t                   action;
    ngx_str_t                   payload;          /* the body to deliver */
} ngx_http_webhook_event_t;


typedef struct {
    ngx_msec_t                  idempotency;      /* window for ids */
    ngx_uint_t                  max_pending;      /* per subscription */
    ngx_str_t                   only;             /* a subscription id: a
                                                     test event to it only */
} ngx_http_webhook_publish_conf_t;


typedef struct {
    ngx_str_t                   id;               /* the event id */
    ngx_uint_t                  deliveries;
    unsigned                    duplicate:1;      /* seen within the window */
} ngx_http_webhook_published_t;


/* a claimed delivery: copies, in the pool given to claim() */
typedef struct {
    uint64_t                    delivery;         /* handle for complete() */
    ngx_uint_t                  attempt;          /* 1-based */
    ngx_str_t                   event_id;
    ngx_str_t                   sub_id;
    ngx_str_t                   tenant;
    ngx_str_t                   action;
    ngx_str_t                   payload;
    ngx_str_t                   target_url;
    ngx_str_t                   secret;
    ngx_str_t                   token;
    ngx_uint_t                  nprev;            /* previous secrets still
                                                     in their grace period,
                                                     newest first */
    ngx_str_t                   prev_secret[NGX_HTTP_WEBHOOK_PREV_SECRETS];
} ngx_http_webhook_claim_t;


typedef struct {
    uint64_t                    delivery;
    ngx_uint_t                  attempt;
    ngx_uint_t                  status;           /* HTTP status, 0: none */
    ngx_uint_t                  error;            /* NGX_HTTP_WEBHOOK_ERR_* */
    ngx_msec_t                  duration;
    ngx_msec_t                  retry_after;      /* 0: none */
    unsigned                    success:1;
    unsigned                    gone:1;           /* 410: disable */
} ngx_http_webhook_outcome_t;


typedef struct {
    ngx_array_t                *delays;           /* ngx_msec_t, per retry */
    ngx_uint_t                  jitter;           /* percent */
    ngx_msec_t                  retry_after_max;
    ngx_msec_t                  disable_after;    /* continuous failure */
    ngx_msec_t                  failed_keep;      /* failed ones stay */
} ngx_http_webhook_retry_conf_t;


typedef struct {
    ngx_str_t                   event_id;
    ngx_str_t                   action;
    ngx_uint_t                  attempt;
    int64_t                     at;               /* unix ms */
    ngx_uint_t                  status;
    ngx_msec_t                  duration;
    ngx_uint_t                  error;
    ngx_uint_t                  state;            /* ..._DELIVERY_* */
} ngx_http_webhook_attempt_t;


/*
 * All or nothing: every event of "events" is stored with its deliveries,
 * or none is (NGX_HTTP_WEBHOOK_STORE_FULL, ...).  "results" has "n" slots.
 */
ngx_int_t ngx_http_webhook_store_publish(ngx_http_webhook_store_t *store,
    ngx_http_webhook_event_t *events, ngx_uint_t n,
    ngx_http_webhook_publish_conf_t *pcf, ngx_pool_t *pool,
    ngx_http_webhook_published_t *results,
    ngx_http_webhook_store_handler_pt handler, void *data);

/*
 * Claims the earliest due delivery for "lease": NGX_OK and "c" filled
 * (allocated from "pool"), or NGX_DECLINED with *wait set to the time until
 * the next one is due (NGX_TIMER_INFINITE if none).
 */
ngx_int_t ngx_http_webhook_store_claim(ngx_http_webhook_store_t *store,
    ngx_msec_t lease, ngx_pool_t *pool, ngx_http_webhook_claim_t *c,
    ngx_msec_t *wait);

/*
 * webhook_publish mode=sync: *n enabled subscriptions of "tenant" match
 * "action" (as publish() matches them); the first is copied into "c" as a
 * claim of no stored delivery.  Nothing is stored.
 */
ngx_int_t ngx_http_webhook_store_match(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *action, ngx_pool_t *pool,
    ngx_http_webhook_claim_t *c, ngx_uint_t *n);

/* records an attempt's outcome and schedules what follows */
ngx_int_t ngx_http_webhook_store_complete(ngx_http_webhook_store_t *store,
    ngx_http_webhook_outcome_t *o, ngx_http_webhook_retry_conf_t *rcf,
    ngx_log_t *log);

/* what claim() needs to end the deliveries of a disabled subscription */
void ngx_http_webhook_store_set_retry(ngx_http_webhook_store_t *store,
    ngx_http_webhook_retry_conf_t *rcf);

/* the attempt log of a subscription, newest first */
ngx_int_t ngx_http_webhook_store_attempts(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *sub_id, ngx_pool_t *pool,
    ngx_array_t *out, ngx_uint_t *total);

/*
 * A failed delivery queued again from attempt 1; NGX_DECLINED if the
 * delivery has not failed (pending or delivered), _NO_DELIVERY if the
 * subscription never had one of that event.
 */
ngx_int_t ngx_http_webhook_store_redeliver(ngx_http_webhook_store_t *store,
    ngx_str_t *tenant, ngx_str_t *sub_id, ngx_str_t *event_id,
    ngx_http_webhook_store_handler_pt handler, void *data);


/* what webhook_status shows: one consistent look, taken under the mutex */
typedef struct {
    ngx_uint_t                  subscriptions;
    ngx_uint_t                  events;
    ngx_uint_t                  queued;           /* pending, not claimed */
    ngx_uint_t                  in_flight;        /* claimed, lease alive */
    ngx_uint_t                  failed;           /* kept for failed_keep */
    ngx_msec_t                  oldest_due_age;   /* 0: none due */
    uint64_t                    delivered;        /* since the zone began */
    uint64_t                    attempts;
    uint64_t                    retries;
    uint64_t                    given_up;
    time_t                      snapshot_time;    /* 0: none yet */
    size_t                      zone_used;
    size_t                      zone_free;
    off_t                       journal_bytes;
    uint64_t                    seq;
    uint64_t                    generation;
    unsigned                    writable:1;
} ngx_http_webhook_stats_t;


ngx_int_t ngx_http_webhook_store_stats(ngx_http_webhook_store_t *store,
    ngx_http_webhook_stats_t *out);


#endif /* _NGX_HTTP_WEBHOOK_STORE_H_INCLUDED_ */
