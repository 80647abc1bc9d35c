
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/file.h>

#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif

#include "ngx_http_webhook_state.h"


/*
 * The snapshot header, little-endian like the records:
 *
 *   u_char magic[8]  "NGXWHSNP"
 *   uint32 version
 *   uint32 reserved  0
 *   uint64 generation
 *   uint64 seq       the last record the snapshot covers
 *   uint64 records   framed records that follow the header
 *   uint64 size      bytes that follow the header
 *   uint32 crc32     of the 48 bytes above
 *   uint32 reserved  0
 */

#define NGX_HTTP_WEBHOOK_STATE_MAGIC      "NGXWHSNP"
#define NGX_HTTP_WEBHOOK_STATE_VERSION    1
#define NGX_HTTP_WEBHOOK_STATE_HEADER     56

/* a record's len field: its type and payload */
#define NGX_HTTP_WEBHOOK_STATE_LEN_MAX    0x40000000

#define NGX_HTTP_WEBHOOK_STATE_STACK      4096

/*
 * Looking for a valid record past a bad one, only sequence numbers up to
 * this far past the last good one are tried: garbage rarely passes it, so
 * the crc32 of a candidate is seldom computed.
 */
#define NGX_HTTP_WEBHOOK_STATE_WINDOW     ((uint64_t) 1 << 40)

#define NGX_HTTP_WEBHOOK_STATE_NAME_LEN   256

/* how often a worker waiting for an fsync checks it is still running */
#define NGX_HTTP_WEBHOOK_STATE_GUARD      60000

#if defined(O_CLOEXEC)
#define NGX_HTTP_WEBHOOK_STATE_CLOEXEC    O_CLOEXEC
#else
#define NGX_HTTP_WEBHOOK_STATE_CLOEXEC    0
#endif

#if (NGX_LINUX)
#define ngx_http_webhook_state_fdatasync(fd)  fdatasync(fd)
#define ngx_http_webhook_state_fdatasync_n    "fdatasync()"
#else
#define ngx_http_webhook_state_fdatasync(fd)  fsync(fd)
#define ngx_http_webhook_state_fdatasync_n    "fsync()"
#endif


typedef struct ngx_http_webhook_state_lock_s  ngx_http_webhook_state_lock_t;

/* a lock file held by this process, kept across reloads */
struct ngx_http_webhook_state_lock_s {
    ngx_http_webhook_state_lock_t      *next;
    ngx_fd_t                            fd;
    u_char                              name[1];
};


typedef struct {
    ngx_queue_t                         queue;
    off_t                               offset;
    ngx_http_webhook_state_handler_pt   handler;
    void                               *data;
} ngx_http_webhook_state_waiter_t;


/*
 * This worker's journal segment.  It stays alive while it is the current
 * one, while an fsync of it is posted, while it has waiters and while
 * their handlers run: ngx_http_webhook_state_release() closes it after.
 */
typedef struct {
    ngx_queue_t                         queue;        /* state->segments */
    ngx_queue_t                         waiters;
    ngx_http_webhook_state_t           *state;
    ngx_fd_t                            fd;
    ngx_err_t                           err;          /* of the last fsync */
    uint64_t                            generation;
    off_t                               written;
    off_t                               synced;
    off_t                               target;       /* of the fsync posted */
    ngx_uint_t                          dir_synced;   /* its name is durable */
    ngx_event_t                         event;        /* fsync done inline */
    ngx_event_t                         guard;        /* while busy */
#if (NGX_THREADS)
    ngx_thread_task_t                   task;
#endif
    unsigned                            busy:1;       /* an fsync posted */
    unsigned                            handling:1;
    unsigned                            retired:1;    /* no more appends */
    unsigned                            failed:1;     /* an fsync failed */
    u_char                              name[1];
} ngx_http_webhook_state_segment_t;


struct ngx_http_webhook_state_s {
    ngx_str_t                           dir;
    ngx_str_t                           lock_name;
    ngx_str_t                           snapshot_name;
    ngx_uint_t                          fsync;
    ngx_msec_t                          fsync_interval;
    ngx_cycle_t                        *cycle;

    /* per process, set in init_process */
    ngx_log_t                          *log;
    ngx_http_webhook_state_segment_t   *segment;
    ngx_queue_t                         segments;     /* oldest first */
    ngx_fd_t                            lock_fd;
    ngx_uint_t                          locked;
    ngx_event_t                         timer;
#if (NGX_THREADS)
    ngx_thread_pool_t                  *thread_pool;
#endif
};


/* a snapshot being written, in a thread or inline */
typedef struct {
    ngx_http_webhook_state_t           *state;
    u_char                             *buf;
    size_t                              len;
    uint64_t                            generation;
    uint64_t                            seq;
    uint64_t                            records;
    ngx_core_conf_t                    *ccf;          /* chown to, or NULL */
    ngx_http_webhook_state_handler_pt   handler;
    void                               *data;
    ngx_event_t                         event;
#if (NGX_THREADS)
    ngx_thread_task_t                   task;
#endif
    ngx_int_t                           rc;
    ngx_err_t                           err;
    char                               *op;
    u_char                             *name;
    ngx_err_t                           unlink_err;
    u_char                             *unlink_name;
    u_char                             *path;
    u_char                             *temp;
} ngx_http_webhook_state_write_t;


typedef struct {
    uint64_t                            seq;
    u_char                             *p;
    size_t                              len;          /* of the payload */
    ngx_uint_t                          type;
    off_t                               offset;
    u_char                             *file;
} ngx_http_webhook_state_record_t;


typedef struct {
    ngx_str_t                           name;
    uint64_t                            generation;
    uint64_t                            seq;
} ngx_http_webhook_state_file_t;


typedef struct {
    ngx_http_webhook_state_t           *state;
    ngx_pool_t                         *pool;
    ngx_log_t                          *log;
    ngx_uint_t                          level;        /* of read errors */
    ngx_core_conf_t                    *ccf;

    u_char                             *snapshot;
    size_t                              snapshot_size;
    ngx_file_info_t                     snapshot_info;
    uint64_t                            snapshot_generation;
    uint64_t                            snapshot_seq;

    ngx_array_t                         files;
    ngx_array_t                         records;
    uint64_t                            generation;
    uint64_t                            seq;
    off_t                               journal_size;

    unsigned                            writable:1;
    unsigned                            owner:1;
} ngx_http_webhook_state_load_t;


static ngx_int_t ngx_http_webhook_state_lock(ngx_http_webhook_state_t *st,
    ngx_log_t *log, ngx_core_conf_t *ccf, ngx_uint_t *fresh);
static ngx_http_webhook_state_lock_t *ngx_http_webhook_state_lock_find(
    ngx_str_t *name);
static ngx_core_conf_t *ngx_http_webhook_state_owner(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_webhook_state_chown(ngx_core_conf_t *ccf,
    u_char *name, ngx_log_t *log);

static ngx_int_t ngx_http_webhook_state_scan(
    ngx_http_webhook_state_load_t *ld);
static ngx_int_t ngx_http_webhook_state_read(
    ngx_http_webhook_state_load_t *ld);
static ngx_int_t ngx_http_webhook_state_read_file(
    ngx_http_webhook_state_load_t *ld, u_char *name, u_char **buf,
    size_t *size, ngx_file_info_t *fi);
static ngx_int_t ngx_http_webhook_state_read_snapshot(
    ngx_http_webhook_state_load_t *ld);
static ngx_int_t ngx_http_webhook_state_read_dir(
    ngx_http_webhook_state_load_t *ld);
static ngx_int_t ngx_http_webhook_state_read_segment(
    ngx_http_webhook_state_load_t *ld, ngx_http_webhook_state_file_t *file);
static ngx_int_t ngx_http_webhook_state_replay(
    ngx_http_webhook_state_load_t *ld, uint64_t seq,
    ngx_http_webhook_state_apply_pt apply, void *data,
    ngx_http_webhook_state_info_t *info);
static int ngx_libc_cdecl ngx_http_webhook_state_cmp(const void *one,
    const void *two);

static ngx_int_t ngx_http_webhook_state_parse(u_char *p, u_char *last,
    ngx_http_webhook_state_record_t *rec);
static ngx_uint_t ngx_http_webhook_state_find(u_char *p, u_char *last,
    uint64_t min);
static ngx_int_t ngx_http_webhook_state_parse_name(u_char *name, size_t len,
    uint64_t *generation, uint64_t *seq);
static ngx_int_t ngx_http_webhook_state_hex(u_char *p, uint64_t *value);

static ngx_http_webhook_state_write_t *ngx_http_webhook_state_write_create(
    ngx_http_webhook_state_t *st, u_char *buf, size_t len,
    uint64_t generation, uint64_t seq, ngx_log_t *log);
static void ngx_http_webhook_state_write(ngx_http_webhook_state_write_t *w);
static ngx_int_t ngx_http_webhook_state_write_all(ngx_fd_t fd, u_char *p,
    size_t size, ngx_err_t *err);
static void ngx_http_webhook_state_remove(ngx_http_webhook_state_write_t *w);
static void ngx_http_webhook_state_write_log(
    ngx_http_webhook_state_write_t *w, ngx_log_t *log);
#if (NGX_THREADS)
static void ngx_http_webhook_state_write_thread(void *data, ngx_log_t *log);
#endif
static void ngx_http_webhook_state_write_done(ngx_event_t *ev);

static ngx_http_webhook_state_segment_t *ngx_http_webhook_state_open(
    ngx_http_webhook_state_t *st, uint64_t generation, uint64_t seq,
    ngx_log_t *log, ngx_err_t *err);
static void ngx_http_webhook_state_retire(
    ngx_http_webhook_state_segment_t *seg);
static void ngx_http_webhook_state_release(
    ngx_http_webhook_state_segment_t *seg);
static void ngx_http_webhook_state_fsync(
    ngx_http_webhook_state_segment_t *seg);
static ngx_err_t ngx_http_webhook_state_datasync(
    ngx_http_webhook_state_segment_t *seg);
static ngx_err_t ngx_http_webhook_state_fsync_dir(u_char *name);
#if (NGX_THREADS)
static void ngx_http_webhook_state_fsync_thread(void *data, ngx_log_t *log);
#endif
static void ngx_http_webhook_state_guard_handler(ngx_event_t *ev);
static void ngx_http_webhook_state_fsync_done(ngx_event_t *ev);
static void ngx_http_webhook_state_wake(ngx_http_webhook_state_segment_t *seg,
    ngx_http_webhook_state_waiter_t *w, ngx_int_t rc);
static void ngx_http_webhook_state_timer_handler(ngx_event_t *ev);
static void ngx_http_webhook_state_crc_init(void);
static uint32_t ngx_http_webhook_state_crc(u_char *p, size_t len);


static ngx_http_webhook_state_lock_t  *ngx_http_webhook_state_locks;

/* CRC-32 (that of ngx_crc32_long()), 8 bytes a step */
static uint32_t  ngx_http_webhook_state_crc_table[8][256];


static ngx_inline void
ngx_http_webhook_state_put32(u_char *p, uint32_t v)
{
    p[0] = (u_char) v;
    p[1] = (u_char) (v >> 8);
    p[2] = (u_char) (v >> 16);
    p[3] = (u_char) (v >> 24);
}


static ngx_inline void
ngx_http_webhook_state_put64(u_char *p, uint64_t v)
{
    ngx_http_webhook_state_put32(p, (uint32_t) v);
    ngx_http_webhook_state_put32(p + 4, (uint32_t) (v >> 32));
}


static ngx_inline uint32_t
ngx_http_webhook_state_get32(u_char *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
           | (uint32_t) p[3] << 24;
}


static ngx_inline uint64_t
ngx_http_webhook_state_get64(u_char *p)
{
    return (uint64_t) ngx_http_webhook_state_get32(p)
           | (uint64_t) ngx_http_webhook_state_get32(p + 4) << 32;
}


ngx_http_webhook_state_t *
ngx_http_webhook_state_create(ngx_conf_t *cf, ngx_str_t *dir,
    ngx_uint_t fsync, ngx_msec_t fsync_interval)
{
    u_char                    *p;
    ngx_str_t                  name;
    ngx_http_webhook_state_t  *st;

    st = ngx_pcalloc(cf->pool, sizeof(ngx_http_webhook_state_t));
    if (st == NULL) {
        return NULL;
    }

    ngx_http_webhook_state_crc_init();

    /*
     * set by ngx_pcalloc():
     *
     *     st->log = NULL;
     *     st->segment = NULL;
     *     st->thread_pool = NULL;
     */

    name = *dir;

    while (name.len > 1 && name.data[name.len - 1] == '/') {
        name.len--;
    }

    if (ngx_conf_full_name(cf->cycle, &name, 0) != NGX_OK) {
        return NULL;
    }

    /* the names, NUL-terminated: DIR, DIR/lock, DIR/snapshot */

    p = ngx_pnalloc(cf->pool, 3 * name.len + sizeof("/lock")
                              + sizeof("/snapshot") + 1);
    if (p == NULL) {
        return NULL;
    }

    st->dir.data = p;
    st->dir.len = name.len;
    p = ngx_sprintf(p, "%V%Z", &name);

    st->lock_name.data = p;
    st->lock_name.len = name.len + sizeof("/lock") - 1;
    p = ngx_sprintf(p, "%V/lock%Z", &name);

    st->snapshot_name.data = p;
    st->snapshot_name.len = name.len + sizeof("/snapshot") - 1;
    (void) ngx_sprintf(p, "%V/snapshot%Z", &name);

    st->fsync = fsync;
    st->fsync_interval = fsync_interval;
    st->cycle = cf->cycle;
    st->lock_fd = NGX_INVALID_FILE;
    ngx_queue_init(&st->segments);

#if (NGX_THREADS)

    if (fsync != NGX_HTTP_WEBHOOK_FSYNC_OFF) {
        if (ngx_thread_pool_add(cf, NULL) == NULL) {
            return NULL;
        }
    }

#endif

    return st;
}


ngx_int_t
ngx_http_webhook_state_load(ngx_http_webhook_state_t *st, ngx_cycle_t *cycle,
    ngx_http_webhook_state_apply_pt apply, void *data,
    ngx_http_webhook_state_info_t *info, ngx_uint_t *writable)
{
    ngx_int_t                      rc;
    ngx_err_t                      err;
    ngx_uint_t                     fresh;
    ngx_file_info_t                fi;
    ngx_http_webhook_state_load_t  ld;

    *writable = 0;
    ngx_memzero(info, sizeof(ngx_http_webhook_state_info_t));

    ngx_memzero(&ld, sizeof(ngx_http_webhook_state_load_t));
    ld.state = st;
    ld.log = cycle->log;
    ld.level = NGX_LOG_EMERG;

    if (!ngx_test_config) {
        ld.ccf = ngx_http_webhook_state_owner(st->cycle);
    }

    if (ngx_file_info(st->dir.data, &fi) == NGX_FILE_ERROR) {
        err = ngx_errno;

        if (err != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_EMERG, ld.log, err,
                          ngx_file_info_n " \"%s\" failed", st->dir.data);
            return NGX_ERROR;
        }

        if (ngx_test_config) {
            return NGX_OK;
        }

        if (ngx_create_dir(st->dir.data, 0700) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_EMERG, ld.log, ngx_errno,
                          ngx_create_dir_n " \"%s\" failed", st->dir.data);
            return NGX_ERROR;
        }

    } else if (!ngx_is_dir(&fi)) {
        ngx_log_error(NGX_LOG_EMERG, ld.log, 0,
                      "state \"%s\" is not a directory", st->dir.data);
        return NGX_ERROR;
    }

    if (!ngx_test_config) {
        if (ld.ccf
            && chown((const char *) st->dir.data, ld.ccf->user, (gid_t) -1)
               == -1)
        {
            ngx_log_error(NGX_LOG_EMERG, ld.log, ngx_errno,
                          "chown(\"%s\", %d) failed",
                          st->dir.data, ld.ccf->user);
            return NGX_ERROR;
        }

        rc = ngx_http_webhook_state_lock(st, ld.log, ld.ccf, &fresh);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            *writable = 1;
            ld.writable = 1;

            /*
             * Only when this process has just taken the lock is nobody
             * else writing: a reload's load runs while old workers still
             * append, so it neither truncates nor removes temporary files.
             */
            ld.owner = fresh;
        }
    }

    rc = ngx_http_webhook_state_scan(&ld);

    if (rc == NGX_OK) {
        rc = ngx_http_webhook_state_replay(&ld, 0, apply, data, info);
    }

    if (ld.pool) {
        ngx_destroy_pool(ld.pool);
    }

    return rc;
}


ngx_int_t
ngx_http_webhook_state_catch_up(ngx_http_webhook_state_t *st, uint64_t seq,
    ngx_http_webhook_state_apply_pt apply, void *data,
    ngx_http_webhook_state_info_t *info, ngx_log_t *log)
{
    ngx_int_t                      rc;
    ngx_http_webhook_state_load_t  ld;

    ngx_memzero(info, sizeof(ngx_http_webhook_state_info_t));

    ngx_memzero(&ld, sizeof(ngx_http_webhook_state_load_t));
    ld.state = st;
    ld.log = log;
    ld.level = NGX_LOG_ERR;

    rc = ngx_http_webhook_state_scan(&ld);

    if (rc == NGX_OK) {
        rc = ngx_http_webhook_state_replay(&ld, seq, apply, data, info);
    }

    if (ld.pool) {
        ngx_destroy_pool(ld.pool);
    }

    return rc;
}


static ngx_int_t
ngx_http_webhook_state_scan(ngx_http_webhook_state_load_t *ld)
{
    ngx_int_t   rc;
    ngx_uint_t  i;

    for (i = 0; /* void */; i++) {
        ld->pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, ld->log);
        if (ld->pool == NULL) {
            return NGX_ERROR;
        }

        rc = ngx_http_webhook_state_read(ld);

        if (rc != NGX_AGAIN) {
            return rc;
        }

        if (i == 3) {
            ngx_log_error(ld->level, ld->log, 0,
                          "state snapshot \"%s\" keeps changing while read",
                          ld->state->snapshot_name.data);
            return NGX_ERROR;
        }

        /* a worker replaced the snapshot while it was read: start over */

        ngx_destroy_pool(ld->pool);
        ld->pool = NULL;
    }
}


static ngx_int_t
ngx_http_webhook_state_lock(ngx_http_webhook_state_t *st, ngx_log_t *log,
    ngx_core_conf_t *ccf, ngx_uint_t *fresh)
{
    ngx_fd_t                        fd;
    ngx_err_t                       err;
    ngx_http_webhook_state_lock_t  *lk;

    *fresh = 0;

    /*
     * The lock belongs to the open file description, which the workers
     * inherit: a reload reuses it, as flock() on a second descriptor of
     * the file would fail, and a worker of a read-only instance takes the
     * lock on it for the whole instance (see try_lock).
     */

    lk = ngx_http_webhook_state_lock_find(&st->lock_name);

    if (lk == NULL) {
        fd = ngx_open_file(st->lock_name.data,
                           NGX_FILE_RDWR|NGX_FILE_NOFOLLOW
                           |NGX_HTTP_WEBHOOK_STATE_CLOEXEC,
                           NGX_FILE_CREATE_OR_OPEN, NGX_FILE_OWNER_ACCESS);

        if (fd == NGX_INVALID_FILE) {
            ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                          ngx_open_file_n " \"%s\" failed",
                          st->lock_name.data);
            return NGX_ERROR;
        }

        if (ccf && fchown(fd, ccf->user, ccf->group) == -1) {
            ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                          "fchown(\"%s\", %d) failed",
                          st->lock_name.data, ccf->user);
            (void) ngx_close_file(fd);
            return NGX_ERROR;
        }

        lk = ngx_alloc(sizeof(ngx_http_webhook_state_lock_t)
                       + st->lock_name.len, log);
        if (lk == NULL) {
            (void) ngx_close_file(fd);
            return NGX_ERROR;
        }

        lk->fd = fd;
        ngx_memcpy(lk->name, st->lock_name.data, st->lock_name.len + 1);

        lk->next = ngx_http_webhook_state_locks;
        ngx_http_webhook_state_locks = lk;

        *fresh = 1;
    }

    if (flock(lk->fd, LOCK_EX|LOCK_NB) == -1) {
        err = ngx_errno;

        if (err == NGX_EAGAIN) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "state directory \"%s\" is owned by another nginx, "
                          "this one stays read-only until it is free",
                          st->dir.data);
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_EMERG, log, err,
                      "flock() \"%s\" failed", st->lock_name.data);
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "webhook state lock \"%s\" taken", st->lock_name.data);

    return NGX_OK;
}


static ngx_http_webhook_state_lock_t *
ngx_http_webhook_state_lock_find(ngx_str_t *name)
{
    ngx_http_webhook_state_lock_t  *lk;

    for (lk = ngx_http_webhook_state_locks; lk; lk = lk->next) {
        if (ngx_strcmp(lk->name, name->data) == 0) {
            return lk;
        }
    }

    return NULL;
}


static ngx_core_conf_t *
ngx_http_webhook_state_owner(ngx_cycle_t *cycle)
{
    ngx_core_conf_t  *ccf;

    if (geteuid() != 0) {
        return NULL;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (ccf == NULL || ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        return NULL;
    }

    return ccf;
}


static ngx_int_t
ngx_http_webhook_state_chown(ngx_core_conf_t *ccf, u_char *name,
    ngx_log_t *log)
{
    ngx_err_t  err;

    if (ccf == NULL) {
        return NGX_OK;
    }

    /* lchown(): a link planted in the directory must not give root's files */

    if (lchown((const char *) name, ccf->user, ccf->group) == -1) {
        err = ngx_errno;

        if (err == NGX_ENOENT) {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_EMERG, log, err,
                      "lchown(\"%s\", %d) failed", name, ccf->user);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_webhook_state_read(ngx_http_webhook_state_load_t *ld)
{
    ngx_err_t                         err;
    ngx_uint_t                        i;
    ngx_file_info_t                   fi;
    ngx_http_webhook_state_t         *st;
    ngx_http_webhook_state_file_t    *file;
    ngx_http_webhook_state_record_t  *r;

    st = ld->state;

    ld->snapshot = NULL;
    ld->snapshot_size = 0;
    ld->snapshot_generation = 0;
    ld->snapshot_seq = 0;
    ld->generation = 0;
    ld->seq = 0;
    ld->journal_size = 0;

    if (ngx_array_init(&ld->files, ld->pool, 8,
                       sizeof(ngx_http_webhook_state_file_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_array_init(&ld->records, ld->pool, 256,
                       sizeof(ngx_http_webhook_state_record_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_webhook_state_read_snapshot(ld) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_webhook_state_read_dir(ld) != NGX_OK) {
        return NGX_ERROR;
    }

    file = ld->files.elts;

    for (i = 0; i < ld->files.nelts; i++) {

        if (file[i].generation > ld->generation) {
            ld->generation = file[i].generation;
        }

        if (file[i].generation < ld->snapshot_generation) {

            /* left by a crash after the snapshot was renamed */

            if (ld->writable
                && ngx_delete_file(file[i].name.data) == NGX_FILE_ERROR)
            {
                err = ngx_errno;

                if (err != NGX_ENOENT) {
                    ngx_log_error(NGX_LOG_WARN, ld->log, err,
                                  ngx_delete_file_n " \"%s\" failed",
                                  file[i].name.data);
                }
            }

            continue;
        }

        if (ngx_http_webhook_state_read_segment(ld, &file[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /*
     * A worker of the running instance may have renamed a newer snapshot
     * in place and removed the segments it covers since the snapshot was
     * read (a reload that loads again): what was read does not fit.
     */

    if (ngx_file_info(st->snapshot_name.data, &fi) == NGX_FILE_ERROR) {
        err = ngx_errno;

        if (err != NGX_ENOENT) {
            ngx_log_error(ld->level, ld->log, err,
                          ngx_file_info_n " \"%s\" failed",
                          st->snapshot_name.data);
            return NGX_ERROR;
        }

        if (ld->snapshot) {
            return NGX_AGAIN;
        }

    } else if (ld->snapshot == NULL
               || ngx_file_uniq(&fi) != ngx_file_uniq(&ld->snapshot_info)
               || ngx_file_size(&fi) != ngx_file_size(&ld->snapshot_info)
               || ngx_file_mtime(&fi) != ngx_file_mtime(&ld->snapshot_info))
    {
        return NGX_AGAIN;
    }

    if (ld->snapshot_generation > ld->generation) {
        ld->generation = ld->snapshot_generation;
    }

    ngx_qsort(ld->records.elts, ld->records.nelts,
              sizeof(ngx_http_webhook_state_record_t),
              ngx_http_webhook_state_cmp);

    r = ld->records.elts;

    for (i = 1; i < ld->records.nelts; i++) {
        if (r[i].seq == r[i - 1].seq) {
            ngx_log_error(ld->level, ld->log, 0,
                          "state record %uL is both in \"%s\" at offset %O "
                          "and in \"%s\" at offset %O", r[i].seq,
                          r[i - 1].file, r[i - 1].offset,
                          r[i].file, r[i].offset);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_webhook_state_read_file(ngx_http_webhook_state_load_t *ld,
    u_char *name, u_char **buf, size_t *size, ngx_file_info_t *fi)
{
    u_char     *p;
    size_t      len, n;
    ssize_t     rc;
    ngx_fd_t    fd;
    ngx_err_t   err;

    fd = ngx_open_file(name, NGX_FILE_RDONLY|NGX_FILE_NOFOLLOW
                             |NGX_HTTP_WEBHOOK_STATE_CLOEXEC,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;

        if (err == NGX_ENOENT) {
            return NGX_DECLINED;
        }

        ngx_log_error(ld->level, ld->log, err,
                      ngx_open_file_n " \"%s\" failed", name);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, fi) == NGX_FILE_ERROR) {
        ngx_log_error(ld->level, ld->log, ngx_errno,
                      ngx_fd_info_n " \"%s\" failed", name);
        goto failed;
    }

    if (!ngx_is_file(fi)) {
        ngx_log_error(ld->level, ld->log, 0,
                      "state file \"%s\" is not a regular file", name);
        goto failed;
    }

    len = (size_t) ngx_file_size(fi);

    p = ngx_pnalloc(ld->pool, len + 1);
    if (p == NULL) {
        goto failed;
    }

    /* a segment may grow meanwhile: what is past the size is not read */

    for (n = 0; n < len; n += rc) {
        rc = ngx_read_fd(fd, p + n, len - n);

        if (rc == -1) {
            err = ngx_errno;

            if (err == NGX_EINTR) {
                rc = 0;
                continue;
            }

            ngx_log_error(ld->level, ld->log, err,
                          ngx_read_fd_n " \"%s\" failed", name);
            goto failed;
        }

        if (rc == 0) {
            break;
        }
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ld->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", name);
    }

    *buf = p;
    *size = n;

    return NGX_OK;

failed:

    (void) ngx_close_file(fd);

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_webhook_state_read_snapshot(ngx_http_webhook_state_load_t *ld)
{
    u_char                           *p, *last;
    size_t                            size;
    uint64_t                          records, n;
    ngx_int_t                         rc;
    ngx_http_webhook_state_t         *st;
    ngx_http_webhook_state_record_t   rec;

    st = ld->state;

    rc = ngx_http_webhook_state_read_file(ld, st->snapshot_name.data, &p,
                                          &size, &ld->snapshot_info);
    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    last = p + size;

    if (size < NGX_HTTP_WEBHOOK_STATE_HEADER
        || ngx_memcmp(p, NGX_HTTP_WEBHOOK_STATE_MAGIC, 8) != 0
        || ngx_http_webhook_state_get32(p + 48) != ngx_crc32_long(p, 48))
    {
        ngx_log_error(ld->level, ld->log, 0,
                      "state snapshot \"%s\" has an invalid header",
                      st->snapshot_name.data);
        return NGX_ERROR;
    }

    if (ngx_http_webhook_state_get32(p + 8) != NGX_HTTP_WEBHOOK_STATE_VERSION) {
        ngx_log_error(ld->level, ld->log, 0,
                      "state snapshot \"%s\" has unsupported version %uD",
                      st->snapshot_name.data,
                      ngx_http_webhook_state_get32(p + 8));
        return NGX_ERROR;
    }

    ld->snapshot_generation = ngx_http_webhook_state_get64(p + 16);
    ld->snapshot_seq = ngx_http_webhook_state_get64(p + 24);
    records = ngx_http_webhook_state_get64(p + 32);

    if (ngx_http_webhook_state_get64(p + 40)
        != (uint64_t) (size - NGX_HTTP_WEBHOOK_STATE_HEADER))
    {
        ngx_log_error(ld->level, ld->log, 0,
                      "state snapshot \"%s\" is truncated: %uz bytes "
                      "instead of %uL", st->snapshot_name.data, size,
                      ngx_http_webhook_state_get64(p + 40)
                      + NGX_HTTP_WEBHOOK_STATE_HEADER);
        return NGX_ERROR;
    }

    n = 0;

    for (p += NGX_HTTP_WEBHOOK_STATE_HEADER;
         p < last;
         p += NGX_HTTP_WEBHOOK_RECORD_HEADER + rec.len)
    {
        if (ngx_http_webhook_state_parse(p, last, &rec) != NGX_OK) {
            ngx_log_error(ld->level, ld->log, 0,
                          "state snapshot \"%s\" is corrupted at offset %uz",
                          st->snapshot_name.data, size - (last - p));
            return NGX_ERROR;
        }

        n++;
    }

    if (n != records) {
        ngx_log_error(ld->level, ld->log, 0,
                      "state snapshot \"%s\" holds %uL records instead of %uL",
                      st->snapshot_name.data, n, records);
        return NGX_ERROR;
    }

    ld->snapshot = last - size;
    ld->snapshot_size = size;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ld->log, 0,
                   "webhook state snapshot \"%s\": generation %uL, seq %uL, "
                   "%uL records", st->snapshot_name.data,
                   ld->snapshot_generation, ld->snapshot_seq, records);

    return NGX_OK;
}


static ngx_int_t
ngx_http_webhook_state_read_dir(ngx_http_webhook_state_load_t *ld)
{
    u_char                         *name;
    size_t                          len;
    uint64_t                        generation, seq;
    ngx_err_t                       err;
    ngx_int_t                       rc;
    ngx_dir_t                       dir;
    ngx_http_webhook_state_t       *st;
    ngx_http_webhook_state_file_t  *file;

    st = ld->state;

    if (ngx_open_dir(&st->dir, &dir) == NGX_ERROR) {
        ngx_log_error(ld->level, ld->log, ngx_errno,
                      ngx_open_dir_n " \"%s\" failed", st->dir.data);
        return NGX_ERROR;
    }

    rc = NGX_OK;

    for ( ;; ) {
        ngx_set_errno(0);

        if (ngx_read_dir(&dir) == NGX_ERROR) {
            err = ngx_errno;

            if (err != NGX_ENOMOREFILES) {
                ngx_log_error(ld->level, ld->log, err,
                              ngx_read_dir_n " \"%s\" failed", st->dir.data);
                rc = NGX_ERROR;
            }

            break;
        }

        len = ngx_de_namelen(&dir);

        if (ngx_de_name(&dir)[0] == '.') {
            continue;
        }

        name = ngx_pnalloc(ld->pool, st->dir.len + 1 + len + 1);
        if (name == NULL) {
            rc = NGX_ERROR;
            break;
        }

        (void) ngx_sprintf(name, "%V/%*s%Z", &st->dir, len, ngx_de_name(&dir));

        if (ngx_http_webhook_state_chown(ld->ccf, name, ld->log) != NGX_OK) {
            rc = NGX_ERROR;
            break;
        }

        if (len > sizeof("snapshot..tmp") - 1
            && ngx_strncmp(ngx_de_name(&dir), "snapshot.", 9) == 0
            && ngx_strncmp(ngx_de_name(&dir) + len - 4, ".tmp", 4) == 0)
        {
            /* left by a crash while a snapshot was written */

            if (ld->owner) {
                ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ld->log, 0,
                               "webhook state remove \"%s\"", name);

                if (ngx_delete_file(name) == NGX_FILE_ERROR) {
                    ngx_log_error(NGX_LOG_WARN, ld->log, ngx_errno,
                                  ngx_delete_file_n " \"%s\" failed", name);
                }
            }

            continue;
        }

        if (ngx_http_webhook_state_parse_name(ngx_de_name(&dir), len,
                                              &generation, &seq)
            != NGX_OK)
        {
            continue;
        }

        file = ngx_array_push(&ld->files);
        if (file == NULL) {
            rc = NGX_ERROR;
            break;
        }

        file->name.data = name;
        file->name.len = st->dir.len + 1 + len;
        file->generation = generation;
        file->seq = seq;
    }

    if (ngx_close_dir(&dir) == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ld->log, ngx_errno,
                      ngx_close_dir_n " \"%s\" failed", st->dir.data);
    }

    return rc;
}


static ngx_int_t
ngx_http_webhook_state_read_segment(ngx_http_webhook_state_load_t *ld,
    ngx_http_webhook_state_file_t *file)
{
    off_t                             offset;
    u_char                           *start, *p, *last;
    size_t                            size;
    uint64_t                          min;
    ngx_fd_t                          fd;
    ngx_int_t                         rc;
    ngx_file_info_t                   fi;
    ngx_http_webhook_state_record_t   rec, *r;

    rc = ngx_http_webhook_state_read_file(ld, file->name.data, &start, &size,
                                          &fi);
    if (rc == NGX_DECLINED) {
        /* removed by a snapshot meanwhile: the snapshot check catches it */
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    p = start;
    last = start + size;

    /* the segment's first record is at least the sequence in its name */
    min = file->seq;

    while (p < last) {
        if (ngx_http_webhook_state_parse(p, last, &rec) != NGX_OK) {
            break;
        }

        r = ngx_array_push(&ld->records);
        if (r == NULL) {
            return NGX_ERROR;
        }

        *r = rec;
        r->offset = p - start;
        r->file = file->name.data;

        if (rec.seq > ld->seq) {
            ld->seq = rec.seq;
        }

        if (rec.seq >= min) {
            min = rec.seq + 1;
        }

        p += NGX_HTTP_WEBHOOK_RECORD_HEADER + rec.len;
    }

    offset = p - start;
    ld->journal_size += offset;

    if (p == last) {
        return NGX_OK;
    }

    if (ngx_http_webhook_state_find(p + 1, last, min)) {
        ngx_log_error(ld->level, ld->log, 0,
                      "state journal \"%s\" is corrupted at offset %O: "
                      "valid records follow a bad one",
                      file->name.data, offset);
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_WARN, ld->log, 0,
                  "state journal \"%s\" has a torn record at offset %O, "
                  "%uz bytes skipped", file->name.data, offset, last - p);

    if (!ld->owner) {
        return NGX_OK;
    }

    /* cut it, so that it does not end up before a good record later */

    fd = ngx_open_file(file->name.data,
                       NGX_FILE_WRONLY|NGX_FILE_NOFOLLOW
                       |NGX_HTTP_WEBHOOK_STATE_CLOEXEC,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_WARN, ld->log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", file->name.data);
        return NGX_OK;
    }

    if (ftruncate(fd, offset) == -1) {
        ngx_log_error(NGX_LOG_WARN, ld->log, ngx_errno,
                      "ftruncate() \"%s\" failed", file->name.data);
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ld->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", file->name.data);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_webhook_state_replay(ngx_http_webhook_state_load_t *ld, uint64_t seq,
    ngx_http_webhook_state_apply_pt apply, void *data,
    ngx_http_webhook_state_info_t *info)
{
    u_char                           *p, *last;
    ngx_uint_t                        i, n, full;
    ngx_http_webhook_state_record_t   rec, *r;

    info->generation = ld->generation;
    info->seq = ngx_max(ld->seq, ld->snapshot_seq);
    info->journal_size = ld->journal_size;
    info->snapshot_time = ngx_file_mtime(&ld->snapshot_info);

    full = (seq == 0);

    if (full) {
        seq = ld->snapshot_seq;

    } else if (ld->snapshot_seq > seq) {
        /* what follows "seq" is partly in the snapshot only */
        return NGX_DECLINED;
    }

    n = 0;

    if (full && ld->snapshot) {
        last = ld->snapshot + ld->snapshot_size;

        for (p = ld->snapshot + NGX_HTTP_WEBHOOK_STATE_HEADER;
             p < last;
             p += NGX_HTTP_WEBHOOK_RECORD_HEADER + rec.len)
        {
            /* read_snapshot() checked every record and its CRC already */

            rec.type = p[16];
            rec.p = p + NGX_HTTP_WEBHOOK_RECORD_HEADER;
            rec.len = ngx_http_webhook_state_get32(p) - 1;

            if (apply(data, rec.type | NGX_HTTP_WEBHOOK_STATE_FROM_SNAPSHOT,
                      rec.p, rec.len)
                == NGX_ERROR)
            {
                ngx_log_error(ld->level, ld->log, 0,
                              "state snapshot \"%s\": record at offset %uz "
                              "cannot be applied",
                              ld->state->snapshot_name.data,
                              p - ld->snapshot);
                return NGX_ERROR;
            }

            n++;
        }
    }

    r = ld->records.elts;

    for (i = 0; i < ld->records.nelts; i++) {

        if (r[i].seq <= seq) {
            continue;
        }

        if (apply(data, r[i].type, r[i].p, r[i].len) == NGX_ERROR) {
            ngx_log_error(ld->level, ld->log, 0,
                          "state journal \"%s\": record %uL at offset %O "
                          "cannot be applied", r[i].file, r[i].seq,
                          r[i].offset);
            return NGX_ERROR;
        }

        n++;
    }

    info->records = n;

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, ld->log, 0,
                   "webhook state \"%s\" loaded: generation %uL, seq %uL, "
                   "%ui records, journal %O", ld->state->dir.data,
                   info->generation, info->seq, info->records,
                   info->journal_size);

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_http_webhook_state_cmp(const void *one, const void *two)
{
    const ngx_http_webhook_state_record_t  *a = one;
    const ngx_http_webhook_state_record_t  *b = two;

    if (a->seq < b->seq) {
        return -1;
    }

    return a->seq > b->seq;
}


static ngx_int_t
ngx_http_webhook_state_parse(u_char *p, u_char *last,
    ngx_http_webhook_state_record_t *rec)
{
    uint32_t  len;

    if (last - p < NGX_HTTP_WEBHOOK_RECORD_HEADER) {
        return NGX_DECLINED;
    }

    len = ngx_http_webhook_state_get32(p);

    if (len == 0
        || len > NGX_HTTP_WEBHOOK_STATE_LEN_MAX
        || (size_t) (last - p) - (NGX_HTTP_WEBHOOK_RECORD_HEADER - 1) < len)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_webhook_state_crc(p + 8, 8 + len)
        != ngx_http_webhook_state_get32(p + 4))
    {
        return NGX_DECLINED;
    }

    rec->seq = ngx_http_webhook_state_get64(p + 8);
    rec->type = p[16];
    rec->p = p + NGX_HTTP_WEBHOOK_RECORD_HEADER;
    rec->len = len - 1;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_webhook_state_find(u_char *p, u_char *last, uint64_t min)
{
    uint64_t                         seq;
    ngx_http_webhook_state_record_t  rec;

    for ( /* void */ ; last - p >= NGX_HTTP_WEBHOOK_RECORD_HEADER; p++) {
        seq = ngx_http_webhook_state_get64(p + 8);

        if (seq < min || seq - min >= NGX_HTTP_WEBHOOK_STATE_WINDOW) {
            continue;
        }

        if (ngx_http_webhook_state_parse(p, last, &rec) == NGX_OK) {
            return 1;
        }
    }

    return 0;
}


/* journal-GGGGGGGGGGGGGGGG-SSSSSSSSSSSSSSSS-PID[.N].log */

static ngx_int_t
ngx_http_webhook_state_parse_name(u_char *name, size_t len,
    uint64_t *generation, uint64_t *seq)
{
    if (len < sizeof("journal-0123456789abcdef-0123456789abcdef-0.log") - 1
        || ngx_strncmp(name, "journal-", 8) != 0
        || name[24] != '-'
        || name[41] != '-'
        || ngx_strncmp(name + len - 4, ".log", 4) != 0)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_webhook_state_hex(name + 8, generation) != NGX_OK
        || ngx_http_webhook_state_hex(name + 25, seq) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_webhook_state_hex(u_char *p, uint64_t *value)
{
    u_char      c;
    uint64_t    v;
    ngx_uint_t  i;

    v = 0;

    for (i = 0; i < 16; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            c -= '0';

        } else if (c >= 'a' && c <= 'f') {
            c = c - 'a' + 10;

        } else {
            return NGX_DECLINED;
        }

        v = v << 4 | c;
    }

    *value = v;

    return NGX_OK;
}


ngx_int_t
ngx_http_webhook_state_try_lock(ngx_http_webhook_state_t *st, ngx_log_t *log)
{
    ngx_fd_t                        fd;
    ngx_err_t                       err;
    ngx_http_webhook_state_lock_t  *lk;

    /*
     * Taken on the master's descriptor, inherited by every worker, the
     * lock belongs to the whole instance and outlives this worker.
     */

    lk = ngx_http_webhook_state_lock_find(&st->lock_name);

    if (lk) {
        fd = lk->fd;

    } else if (st->lock_fd != NGX_INVALID_FILE) {
        return NGX_OK;

    } else {
        fd = ngx_open_file(st->lock_name.data,
                           NGX_FILE_RDONLY|NGX_FILE_NOFOLLOW
                           |NGX_HTTP_WEBHOOK_STATE_CLOEXEC,
                           NGX_FILE_CREATE_OR_OPEN, NGX_FILE_OWNER_ACCESS);

        if (fd == NGX_INVALID_FILE) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          ngx_open_file_n " \"%s\" failed",
                          st->lock_name.data);
            return NGX_ERROR;
        }
    }

    if (flock(fd, LOCK_EX|LOCK_NB) == -1) {
        err = ngx_errno;

        if (lk == NULL) {
            (void) ngx_close_file(fd);
        }

        if (err == NGX_EAGAIN) {
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_ERR, log, err,
                      "flock() \"%s\" failed", st->lock_name.data);
        return NGX_ERROR;
    }

    if (lk == NULL) {
        st->lock_fd = fd;
    }

    if (!st->locked) {
        st->locked = 1;

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "state directory \"%s\" is free, this nginx owns it now",
                      st->dir.data);
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_webhook_state_init_process(ngx_http_webhook_state_t *st,
    ngx_cycle_t *cycle)
{
#if (NGX_THREADS)
    static ngx_str_t  name = ngx_string("default");
#endif

    st->log = cycle->log;
    st->segment = NULL;
    ngx_queue_init(&st->segments);
    st->lock_fd = NGX_INVALID_FILE;
    st->locked = 0;

#if (NGX_THREADS)
    st->thread_pool = ngx_thread_pool_get(cycle, &name);
#endif

    if (st->fsync == NGX_HTTP_WEBHOOK_FSYNC_TIMED && st->fsync_interval) {
        ngx_memzero(&st->timer, sizeof(ngx_event_t));

        st->timer.handler = ngx_http_webhook_state_timer_handler;
        st->timer.data = st;
        st->timer.log = cycle->log;
        st->timer.cancelable = 1;

        ngx_add_timer(&st->timer, st->fsync_interval);
    }

    return NGX_OK;
}


void
ngx_http_webhook_state_exit_process(ngx_http_webhook_state_t *st)
{
    ngx_err_t                          err;
    ngx_queue_t                       *q;
    ngx_http_webhook_state_waiter_t   *w;
    ngx_http_webhook_state_segment_t  *seg;

    if (st->timer.timer_set) {
        ngx_del_timer(&st->timer);
    }

    /*
     * The thread pool has been destroyed by now (core modules exit
     * first), so no thread uses a segment: blocking here is acceptable.
     */

    while (!ngx_queue_empty(&st->segments)) {
        q = ngx_queue_head(&st->segments);
        ngx_queue_remove(q);

        seg = ngx_queue_data(q, ngx_http_webhook_state_segment_t, queue);

        if (st->fsync != NGX_HTTP_WEBHOOK_FSYNC_OFF
            && !seg->failed
            && seg->synced < seg->written)
        {
            err = ngx_http_webhook_state_datasync(seg);

            if (err) {
                ngx_log_error(NGX_LOG_ERR, st->log, err,
                              ngx_http_webhook_state_fdatasync_n
                              " \"%s\" failed", seg->name);
            }
        }

        if (seg->event.posted) {
            ngx_delete_posted_event(&seg->event);
        }

        if (seg->guard.timer_set) {
            ngx_del_timer(&seg->guard);
        }

        while (!ngx_queue_empty(&seg->waiters)) {
            q = ngx_queue_head(&seg->waiters);
            ngx_queue_remove(q);

            w = ngx_queue_data(q, ngx_http_webhook_state_waiter_t, queue);
            ngx_free(w);
        }

        if (ngx_close_file(seg->fd) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ALERT, st->log, ngx_errno,
                          ngx_close_file_n " \"%s\" failed", seg->name);
        }

        ngx_free(seg);
    }

    st->segment = NULL;

    if (st->lock_fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(st->lock_fd);
        st->lock_fd = NGX_INVALID_FILE;
    }
}


size_t
ngx_http_webhook_state_frame_size(size_t len)
{
    return NGX_HTTP_WEBHOOK_RECORD_HEADER + len;
}


u_char *
ngx_http_webhook_state_frame(u_char *buf, uint64_t seq, ngx_uint_t type,
    u_char *p, size_t len)
{
    ngx_http_webhook_state_put32(buf, (uint32_t) (len + 1));
    ngx_http_webhook_state_put64(buf + 8, seq);
    buf[16] = (u_char) type;

    if (len) {
        ngx_memcpy(buf + NGX_HTTP_WEBHOOK_RECORD_HEADER, p, len);
    }

    ngx_http_webhook_state_put32(buf + 4,
                                 ngx_http_webhook_state_crc(buf + 8, 9 + len));

    return buf + NGX_HTTP_WEBHOOK_RECORD_HEADER + len;
}


ngx_int_t
ngx_http_webhook_state_append(ngx_http_webhook_state_t *st,
    uint64_t generation, uint64_t seq, ngx_uint_t type, u_char *p,
    size_t len, ngx_log_t *log, ngx_err_t *err)
{
    u_char                            *buf;
    size_t                             size;
    ssize_t                            n;
    ngx_int_t                          rc;
    ngx_http_webhook_state_segment_t  *seg;
    u_char                             stack[NGX_HTTP_WEBHOOK_STATE_STACK];

    if (len >= NGX_HTTP_WEBHOOK_STATE_LEN_MAX) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "state record of %uz bytes is too large", len);
        *err = NGX_EINVAL;
        return NGX_ERROR;
    }

    seg = st->segment;

    if (seg == NULL || seg->generation < generation) {
        seg = ngx_http_webhook_state_open(st, generation, seq, log, err);
        if (seg == NULL) {
            return NGX_ERROR;
        }
    }

    size = ngx_http_webhook_state_frame_size(len);

    if (size <= sizeof(stack)) {
        buf = stack;

    } else {
        buf = ngx_alloc(size, log);
        if (buf == NULL) {
            *err = NGX_ENOMEM;
            return NGX_ERROR;
        }
    }

    (void) ngx_http_webhook_state_frame(buf, seq, type, p, len);

    rc = NGX_ERROR;

    for ( ;; ) {
        n = ngx_write_fd(seg->fd, buf, size);

        if (n == (ssize_t) size) {
            seg->written += size;
            rc = NGX_OK;
            break;
        }

        if (n == -1) {
            *err = ngx_errno;

            if (*err == NGX_EINTR) {
                continue;
            }

            ngx_log_error(NGX_LOG_ERR, log, *err,
                          ngx_write_fd_n " to \"%s\" failed", seg->name);
            break;
        }

        /* a short write to a file: the disk is full, most likely */

        *err = NGX_ENOSPC;

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      ngx_write_fd_n " to \"%s\" has written only %z of %uz",
                      seg->name, n, size);
        break;
    }

    if (buf != stack) {
        ngx_free(buf);
    }

    if (rc == NGX_OK) {
        return NGX_OK;
    }

    if (ftruncate(seg->fd, seg->written) == -1) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "ftruncate() \"%s\" failed", seg->name);

        /* what is left at its end is a torn tail: never append after it */

        ngx_http_webhook_state_retire(seg);
    }

    return NGX_ERROR;
}


static ngx_http_webhook_state_segment_t *
ngx_http_webhook_state_open(ngx_http_webhook_state_t *st,
    uint64_t generation, uint64_t seq, ngx_log_t *log, ngx_err_t *err)
{
    size_t                             len;
    ngx_fd_t                           fd;
    ngx_uint_t                         i;
    ngx_http_webhook_state_segment_t  *seg;

    len = st->dir.len + sizeof("/journal---.log") + 2 * 16 + NGX_INT64_LEN
          + 1 + NGX_INT_T_LEN;

    seg = ngx_calloc(sizeof(ngx_http_webhook_state_segment_t) + len, log);
    if (seg == NULL) {
        *err = NGX_ENOMEM;
        return NULL;
    }

    for (i = 0; /* void */; i++) {

        if (i == 0) {
            (void) ngx_sprintf(seg->name, "%V/journal-%016xL-%016xL-%P.log%Z",
                               &st->dir, generation, seq, ngx_pid);

        } else {
            (void) ngx_sprintf(seg->name,
                               "%V/journal-%016xL-%016xL-%P.%ui.log%Z",
                               &st->dir, generation, seq, ngx_pid, i);
        }

        fd = ngx_open_file(seg->name,
                           NGX_FILE_APPEND|NGX_FILE_NOFOLLOW
                           |NGX_HTTP_WEBHOOK_STATE_CLOEXEC,
                           NGX_FILE_CREATE_OR_OPEN|O_EXCL,
                           NGX_FILE_OWNER_ACCESS);

        if (fd != NGX_INVALID_FILE) {
            break;
        }

        *err = ngx_errno;

        if (*err == NGX_EEXIST_FILE && i < 8) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "state journal \"%s\" already exists", seg->name);
            continue;
        }

        ngx_log_error(NGX_LOG_ERR, log, *err,
                      ngx_open_file_n " \"%s\" failed", seg->name);
        ngx_free(seg);
        return NULL;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "webhook state journal \"%s\" opened", seg->name);

    seg->state = st;
    seg->fd = fd;
    seg->generation = generation;
    ngx_queue_init(&seg->waiters);

    seg->event.handler = ngx_http_webhook_state_fsync_done;
    seg->event.data = seg;
    seg->event.log = st->log;

    seg->guard.handler = ngx_http_webhook_state_guard_handler;
    seg->guard.data = seg;
    seg->guard.log = st->log;

#if (NGX_THREADS)
    seg->task.ctx = seg;
    seg->task.handler = ngx_http_webhook_state_fsync_thread;
    seg->task.event.handler = ngx_http_webhook_state_fsync_done;
    seg->task.event.data = seg;
    seg->task.event.log = st->log;
#endif

    if (st->segment) {
        ngx_http_webhook_state_retire(st->segment);
    }

    ngx_queue_insert_tail(&st->segments, &seg->queue);
    st->segment = seg;

    return seg;
}


static void
ngx_http_webhook_state_retire(ngx_http_webhook_state_segment_t *seg)
{
    ngx_http_webhook_state_t  *st;

    st = seg->state;

    if (st->segment == seg) {
        st->segment = NULL;
    }

    seg->retired = 1;

    /* what it holds must still become durable before it is closed */

    if (st->fsync != NGX_HTTP_WEBHOOK_FSYNC_OFF
        && !seg->busy
        && !seg->failed
        && seg->synced < seg->written)
    {
        ngx_http_webhook_state_fsync(seg);
    }

    ngx_http_webhook_state_release(seg);
}


static void
ngx_http_webhook_state_release(ngx_http_webhook_state_segment_t *seg)
{
    if (!seg->retired
        || seg->busy
        || seg->handling
        || !ngx_queue_empty(&seg->waiters))
    {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, seg->state->log, 0,
                   "webhook state journal \"%s\" closed", seg->name);

    if (ngx_close_file(seg->fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, seg->state->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", seg->name);
    }

    ngx_queue_remove(&seg->queue);
    ngx_free(seg);
}


ngx_int_t
ngx_http_webhook_state_sync(ngx_http_webhook_state_t *st, ngx_log_t *log,
    ngx_http_webhook_state_handler_pt handler, void *data)
{
    ngx_queue_t                       *q;
    ngx_http_webhook_state_waiter_t   *w;
    ngx_http_webhook_state_segment_t  *seg;

    if (st->fsync != NGX_HTTP_WEBHOOK_FSYNC_ON) {
        return NGX_OK;
    }

    /*
     * The waiter goes to the newest segment not yet synced: once done
     * there it moves on to older ones (ngx_http_webhook_state_wake()).
     */

    for (q = ngx_queue_last(&st->segments);
         q != ngx_queue_sentinel(&st->segments);
         q = ngx_queue_prev(q))
    {
        seg = ngx_queue_data(q, ngx_http_webhook_state_segment_t, queue);

        if (seg->failed || seg->synced >= seg->written) {
            continue;
        }

        w = ngx_alloc(sizeof(ngx_http_webhook_state_waiter_t), log);
        if (w == NULL) {
            return NGX_ERROR;
        }

        w->offset = seg->written;
        w->handler = handler;
        w->data = data;

        ngx_queue_insert_tail(&seg->waiters, &w->queue);

        if (!seg->busy) {
            ngx_http_webhook_state_fsync(seg);
        }

        return NGX_AGAIN;
    }

    return NGX_OK;
}


static void
ngx_http_webhook_state_fsync(ngx_http_webhook_state_segment_t *seg)
{
    ngx_http_webhook_state_t  *st;

    st = seg->state;

    seg->target = seg->written;
    seg->err = 0;
    seg->busy = 1;

    /*
     * A request waiting for this fsync has no timer of its own: this one,
     * not cancelable, keeps a gracefully exiting worker (HUP, QUIT) alive
     * until the fsync is done and the request answered.
     */

    ngx_add_timer(&seg->guard, NGX_HTTP_WEBHOOK_STATE_GUARD);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, st->log, 0,
                   "webhook state fsync \"%s\" up to %O",
                   seg->name, seg->target);

#if (NGX_THREADS)

    if (st->thread_pool
        && ngx_thread_task_post(st->thread_pool, &seg->task) == NGX_OK)
    {
        return;
    }

#endif

    /* no thread pool, or its queue is full: block, report from the loop */

    seg->err = ngx_http_webhook_state_datasync(seg);

    ngx_post_event(&seg->event, &ngx_posted_events);
}


/* blocking: in a thread or inline; no nginx logging here */

static ngx_err_t
ngx_http_webhook_state_datasync(ngx_http_webhook_state_segment_t *seg)
{
    ngx_err_t  err;

    if (ngx_http_webhook_state_fdatasync(seg->fd) == -1) {
        return ngx_errno;
    }

    /* the name of a new file is durable once its directory is synced */

    if (!seg->dir_synced) {
        err = ngx_http_webhook_state_fsync_dir(seg->state->dir.data);
        if (err) {
            return err;
        }

        seg->dir_synced = 1;
    }

    return 0;
}


static ngx_err_t
ngx_http_webhook_state_fsync_dir(u_char *name)
{
    ngx_fd_t   fd;
    ngx_err_t  err;

    fd = ngx_open_file(name, NGX_FILE_RDONLY|NGX_HTTP_WEBHOOK_STATE_CLOEXEC,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        return ngx_errno;
    }

    err = 0;

    /* some file systems cannot sync a directory */

    if (fsync(fd) == -1 && ngx_errno != NGX_EINVAL) {
        err = ngx_errno;
    }

    (void) ngx_close_file(fd);

    return err;
}


#if (NGX_THREADS)

static void
ngx_http_webhook_state_fsync_thread(void *data, ngx_log_t *log)
{
    ngx_http_webhook_state_segment_t  *seg = data;

    seg->err = ngx_http_webhook_state_datasync(seg);
}

#endif


/* an fsync still running after NGX_HTTP_WEBHOOK_STATE_GUARD: wait on */

static void
ngx_http_webhook_state_guard_handler(ngx_event_t *ev)
{
    ngx_http_webhook_state_segment_t *seg = ev->data;

    if (seg->busy) {
        ngx_add_timer(ev, NGX_HTTP_WEBHOOK_STATE_GUARD);
    }
}


static void
ngx_http_webhook_state_fsync_done(ngx_event_t *ev)
{
    ngx_int_t                          rc;
    ngx_queue_t                       *q, *next, done;
    ngx_http_webhook_state_t          *st;
    ngx_http_webhook_state_waiter_t   *w;
    ngx_http_webhook_state_segment_t  *seg;

    seg = ev->data;
    st = seg->state;

    seg->busy = 0;
    seg->handling = 1;

    if (seg->guard.timer_set) {
        ngx_del_timer(&seg->guard);
    }
    ngx_queue_init(&done);

    if (seg->err) {
        ngx_log_error(NGX_LOG_ERR, st->log, seg->err,
                      ngx_http_webhook_state_fdatasync_n " \"%s\" failed",
                      seg->name);

        /*
         * After a failed fsync the page cache cannot be trusted: nothing
         * in this segment is reported durable, new records go to another.
         */

        seg->failed = 1;
        rc = NGX_ERROR;

        if (!ngx_queue_empty(&seg->waiters)) {
            ngx_queue_add(&done, &seg->waiters);
            ngx_queue_init(&seg->waiters);
        }

        if (!seg->retired) {
            ngx_http_webhook_state_retire(seg);
        }

    } else {
        rc = NGX_OK;

        if (seg->target > seg->synced) {
            seg->synced = seg->target;
        }

        for (q = ngx_queue_head(&seg->waiters);
             q != ngx_queue_sentinel(&seg->waiters);
             q = next)
        {
            next = ngx_queue_next(q);
            w = ngx_queue_data(q, ngx_http_webhook_state_waiter_t, queue);

            if (w->offset <= seg->synced) {
                ngx_queue_remove(q);
                ngx_queue_insert_tail(&done, q);
            }
        }

        if (!ngx_queue_empty(&seg->waiters)) {
            ngx_http_webhook_state_fsync(seg);
        }
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, st->log, 0,
                   "webhook state fsync \"%s\" done: %i, synced %O",
                   seg->name, rc, seg->synced);

    while (!ngx_queue_empty(&done)) {
        q = ngx_queue_head(&done);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_http_webhook_state_waiter_t, queue);
        ngx_http_webhook_state_wake(seg, w, rc);
    }

    seg->handling = 0;

    ngx_http_webhook_state_release(seg);
}


static void
ngx_http_webhook_state_wake(ngx_http_webhook_state_segment_t *seg,
    ngx_http_webhook_state_waiter_t *w, ngx_int_t rc)
{
    ngx_queue_t                       *q;
    ngx_http_webhook_state_segment_t  *s;

    if (rc == NGX_OK) {

        /* what was appended before, to older segments, must be durable too */

        for (q = ngx_queue_head(&seg->state->segments);
             q != &seg->queue;
             q = ngx_queue_next(q))
        {
            s = ngx_queue_data(q, ngx_http_webhook_state_segment_t, queue);

            if (s->failed || s->synced >= s->written) {
                continue;
            }

            w->offset = s->written;
            ngx_queue_insert_tail(&s->waiters, &w->queue);

            if (!s->busy) {
                ngx_http_webhook_state_fsync(s);
            }

            return;
        }
    }

    w->handler(w->data, rc);

    ngx_free(w);
}


static void
ngx_http_webhook_state_timer_handler(ngx_event_t *ev)
{
    ngx_queue_t                       *q, *next;
    ngx_http_webhook_state_t          *st;
    ngx_http_webhook_state_segment_t  *seg;

    st = ev->data;

    for (q = ngx_queue_head(&st->segments);
         q != ngx_queue_sentinel(&st->segments);
         q = next)
    {
        next = ngx_queue_next(q);
        seg = ngx_queue_data(q, ngx_http_webhook_state_segment_t, queue);

        if (!seg->busy && !seg->failed && seg->synced < seg->written) {
            ngx_http_webhook_state_fsync(seg);
        }
    }

    if (!ngx_exiting && !ngx_quit && !ngx_terminate) {
        ngx_add_timer(ev, st->fsync_interval);
    }
}


ngx_int_t
ngx_http_webhook_state_write_snapshot(ngx_http_webhook_state_t *st,
    u_char *buf, size_t len, uint64_t generation, uint64_t seq,
    ngx_log_t *log)
{
    ngx_int_t                        rc;
    ngx_http_webhook_state_write_t  *w;

    w = ngx_http_webhook_state_write_create(st, buf, len, generation, seq,
                                            log);
    if (w == NULL) {
        return NGX_ERROR;
    }

    ngx_http_webhook_state_write(w);
    ngx_http_webhook_state_write_log(w, log);

    rc = w->rc;

    ngx_free(w);

    return rc;
}


ngx_int_t
ngx_http_webhook_state_snapshot(ngx_http_webhook_state_t *st,
    u_char *buf, size_t len, uint64_t generation, uint64_t seq,
    ngx_log_t *log, ngx_http_webhook_state_handler_pt handler, void *data)
{
    ngx_log_t                       *elog;
    ngx_http_webhook_state_write_t  *w;

    w = ngx_http_webhook_state_write_create(st, buf, len, generation, seq,
                                            log);
    if (w == NULL) {
        ngx_free(buf);
        return NGX_ERROR;
    }

    /* the caller's log may be a request's: gone before the completion */

    elog = st->log ? st->log : ngx_cycle->log;

    w->handler = handler;
    w->data = data;

    w->event.handler = ngx_http_webhook_state_write_done;
    w->event.data = w;
    w->event.log = elog;

#if (NGX_THREADS)

    w->task.ctx = w;
    w->task.handler = ngx_http_webhook_state_write_thread;
    w->task.event.handler = ngx_http_webhook_state_write_done;
    w->task.event.data = w;
    w->task.event.log = elog;

    if (st->thread_pool
        && ngx_thread_task_post(st->thread_pool, &w->task) == NGX_OK)
    {
        return NGX_AGAIN;
    }

#endif

    /* no thread pool: block, and report from the event loop */

    ngx_http_webhook_state_write(w);
    ngx_post_event(&w->event, &ngx_posted_events);

    return NGX_AGAIN;
}


static ngx_http_webhook_state_write_t *
ngx_http_webhook_state_write_create(ngx_http_webhook_state_t *st,
    u_char *buf, size_t len, uint64_t generation, uint64_t seq,
    ngx_log_t *log)
{
    u_char                          *p, *last;
    size_t                           size;
    uint32_t                         n;
    uint64_t                         records;
    ngx_http_webhook_state_write_t  *w;

    records = 0;
    last = buf + len;

    for (p = buf; p < last; p += NGX_HTTP_WEBHOOK_RECORD_HEADER - 1 + n) {
        n = (last - p < NGX_HTTP_WEBHOOK_RECORD_HEADER)
            ? 0 : ngx_http_webhook_state_get32(p);

        if (n == 0 || (size_t) (last - p) - (NGX_HTTP_WEBHOOK_RECORD_HEADER - 1)
                      < n)
        {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "invalid snapshot record at offset %uz", p - buf);
            return NULL;
        }

        records++;
    }

    /* the temporary name, a directory entry name, a copy of it */

    size = st->dir.len + sizeof("/snapshot..tmp") + NGX_INT64_LEN
           + 2 * (st->dir.len + 1 + NGX_HTTP_WEBHOOK_STATE_NAME_LEN + 1);

    w = ngx_calloc(sizeof(ngx_http_webhook_state_write_t) + size, log);
    if (w == NULL) {
        return NULL;
    }

    w->state = st;
    w->buf = buf;
    w->len = len;
    w->generation = generation;
    w->seq = seq;
    w->records = records;
    w->ccf = ngx_http_webhook_state_owner(st->cycle);

    w->temp = (u_char *) (w + 1);
    p = ngx_sprintf(w->temp, "%V/snapshot.%P.tmp%Z", &st->dir, ngx_pid);

    w->path = p;
    w->unlink_name = p + st->dir.len + 1 + NGX_HTTP_WEBHOOK_STATE_NAME_LEN + 1;

    return w;
}


/* blocking: in a thread, or in the master; no nginx logging here */

static void
ngx_http_webhook_state_write(ngx_http_webhook_state_write_t *w)
{
    ngx_fd_t                   fd;
    ngx_http_webhook_state_t  *st;
    u_char                     header[NGX_HTTP_WEBHOOK_STATE_HEADER];

    st = w->state;
    w->rc = NGX_ERROR;

    /* a file of a crashed process with the same pid; no link is followed */

    (void) ngx_delete_file(w->temp);

    fd = ngx_open_file(w->temp,
                       NGX_FILE_WRONLY|NGX_FILE_NOFOLLOW
                       |NGX_HTTP_WEBHOOK_STATE_CLOEXEC,
                       NGX_FILE_TRUNCATE|O_EXCL, NGX_FILE_OWNER_ACCESS);

    if (fd == NGX_INVALID_FILE) {
        w->err = ngx_errno;
        w->op = ngx_open_file_n;
        w->name = w->temp;
        return;
    }

    w->name = w->temp;

    if (w->ccf && fchown(fd, w->ccf->user, w->ccf->group) == -1) {
        w->err = ngx_errno;
        w->op = "fchown()";
        goto failed;
    }

    ngx_memcpy(header, NGX_HTTP_WEBHOOK_STATE_MAGIC, 8);
    ngx_http_webhook_state_put32(header + 8, NGX_HTTP_WEBHOOK_STATE_VERSION);
    ngx_http_webhook_state_put32(header + 12, 0);
    ngx_http_webhook_state_put64(header + 16, w->generation);
    ngx_http_webhook_state_put64(header + 24, w->seq);
    ngx_http_webhook_state_put64(header + 32, w->records);
    ngx_http_webhook_state_put64(header + 40, w->len);
    ngx_http_webhook_state_put32(header + 48, ngx_crc32_long(header, 48));
    ngx_http_webhook_state_put32(header + 52, 0);

    if (ngx_http_webhook_state_write_all(fd, header, sizeof(header), &w->err)
        != NGX_OK
        || ngx_http_webhook_state_write_all(fd, w->buf, w->len, &w->err)
           != NGX_OK)
    {
        w->op = ngx_write_fd_n;
        goto failed;
    }

    if (fsync(fd) == -1) {
        w->err = ngx_errno;
        w->op = "fsync()";
        goto failed;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        fd = NGX_INVALID_FILE;
        w->err = ngx_errno;
        w->op = ngx_close_file_n;
        goto failed;
    }

    fd = NGX_INVALID_FILE;

    if (ngx_rename_file(w->temp, st->snapshot_name.data) == NGX_FILE_ERROR) {
        w->err = ngx_errno;
        w->op = ngx_rename_file_n;
        goto failed;
    }

    /* the rename must be durable before the segments it covers go */

    w->err = ngx_http_webhook_state_fsync_dir(st->dir.data);

    if (w->err) {
        w->op = "fsync()";
        w->name = st->dir.data;
        return;
    }

    w->rc = NGX_OK;

    ngx_http_webhook_state_remove(w);

    return;

failed:

    if (fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(fd);
    }

    (void) ngx_delete_file(w->temp);
}


static ngx_int_t
ngx_http_webhook_state_write_all(ngx_fd_t fd, u_char *p, size_t size,
    ngx_err_t *err)
{
    ssize_t  n;

    while (size) {
        n = ngx_write_fd(fd, p, size);

        if (n == -1) {
            *err = ngx_errno;

            if (*err == NGX_EINTR) {
                continue;
            }

            return NGX_ERROR;
        }

        if (n == 0) {
            *err = NGX_ENOSPC;
            return NGX_ERROR;
        }

        p += n;
        size -= n;
    }

    return NGX_OK;
}


/* removes the journal segments the new snapshot covers */

static void
ngx_http_webhook_state_remove(ngx_http_webhook_state_write_t *w)
{
    size_t                     len;
    uint64_t                   generation, seq;
    ngx_err_t                  err;
    ngx_dir_t                  dir;
    ngx_http_webhook_state_t  *st;

    st = w->state;

    if (ngx_open_dir(&st->dir, &dir) == NGX_ERROR) {
        w->unlink_err = ngx_errno;
        ngx_memcpy(w->unlink_name, st->dir.data, st->dir.len + 1);
        return;
    }

    for ( ;; ) {
        ngx_set_errno(0);

        if (ngx_read_dir(&dir) == NGX_ERROR) {
            break;
        }

        len = ngx_de_namelen(&dir);

        if (len > NGX_HTTP_WEBHOOK_STATE_NAME_LEN
            || ngx_http_webhook_state_parse_name(ngx_de_name(&dir), len,
                                                 &generation, &seq)
               != NGX_OK
            || generation >= w->generation)
        {
            continue;
        }

        (void) ngx_sprintf(w->path, "%V/%*s%Z", &st->dir, len,
                           ngx_de_name(&dir));

        if (ngx_delete_file(w->path) == NGX_FILE_ERROR) {
            err = ngx_errno;

            if (err != NGX_ENOENT && w->unlink_err == 0) {
                w->unlink_err = err;
                (void) ngx_cpystrn(w->unlink_name, w->path,
                                   st->dir.len + 1 + len + 1);
            }
        }
    }

    (void) ngx_close_dir(&dir);
}


static void
ngx_http_webhook_state_write_log(ngx_http_webhook_state_write_t *w,
    ngx_log_t *log)
{
    if (w->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, w->err,
                      "%s \"%s\" failed while writing a state snapshot",
                      w->op, w->name);

    } else {
        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, log, 0,
                       "webhook state snapshot \"%s\" written: "
                       "generation %uL, seq %uL, %uL records",
                       w->state->snapshot_name.data, w->generation, w->seq,
                       w->records);
    }

    if (w->unlink_err) {
        ngx_log_error(NGX_LOG_WARN, log, w->unlink_err,
                      "state journal not removed: " ngx_delete_file_n
                      " \"%s\" failed", w->unlink_name);
    }
}


#if (NGX_THREADS)

static void
ngx_http_webhook_state_write_thread(void *data, ngx_log_t *log)
{
    ngx_http_webhook_state_write_t  *w = data;

    ngx_http_webhook_state_write(w);
}

#endif


static void
ngx_http_webhook_state_write_done(ngx_event_t *ev)
{
    ngx_http_webhook_state_write_t  *w;

    w = ev->data;

    ngx_http_webhook_state_write_log(w, ev->log);

    ngx_free(w->buf);

    w->handler(w->data, w->rc);

    ngx_free(w);
}


/*
 * The CRC of every record, computed 8 bytes at a time ("slicing-by-8"): the
 * same values as ngx_crc32_long(), several times faster, which matters when
 * a snapshot of a million subscriptions is checked and written at start.
 */

static void
ngx_http_webhook_state_crc_init(void)
{
    uint32_t    c;
    ngx_uint_t  i, k;

    if (ngx_http_webhook_state_crc_table[0][1]) {
        return;
    }

    for (i = 0; i < 256; i++) {
        c = (uint32_t) i;

        for (k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0xedb88320 : c >> 1;
        }

        ngx_http_webhook_state_crc_table[0][i] = c;
    }

    for (i = 0; i < 256; i++) {
        c = ngx_http_webhook_state_crc_table[0][i];

        for (k = 1; k < 8; k++) {
            c = ngx_http_webhook_state_crc_table[0][c & 0xff] ^ (c >> 8);
            ngx_http_webhook_state_crc_table[k][i] = c;
        }
    }
}


static uint32_t
ngx_http_webhook_state_crc(u_char *p, size_t len)
{
    uint32_t   crc, one, two;
    uint32_t  (*t)[256];

    t = ngx_http_webhook_state_crc_table;
    crc = 0xffffffff;

    while (len >= 8) {
        one = ((uint32_t) p[0] | (uint32_t) p[1] << 8
               | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24) ^ crc;
        two = (uint32_t) p[4] | (uint32_t) p[5] << 8
              | (uint32_t) p[6] << 16 | (uint32_t) p[7] << 24;

        crc = t[7][one & 0xff] ^ t[6][(one >> 8) & 0xff]
              ^ t[5][(one >> 16) & 0xff] ^ t[4][one >> 24]
              ^ t[3][two & 0xff] ^ t[2][(two >> 8) & 0xff]
              ^ t[1][(two >> 16) & 0xff] ^ t[0][two >> 24];

        p += 8;
        len -= 8;
    }

    while (len--) {
        crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }

    return crc ^ 0xffffffff;
}
