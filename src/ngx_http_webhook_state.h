
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#ifndef _NGX_HTTP_WEBHOOK_STATE_H_INCLUDED_
#define _NGX_HTTP_WEBHOOK_STATE_H_INCLUDED_


#include "ngx_http_webhook_common.h"


/*
 * The state part: a durable log of opaque typed records in a directory.
 *
 *   DIR/lock                            flock()ed by the owning instance
 *   DIR/snapshot                        header + framed records, all of the
 *                                       store up to one sequence number
 *   DIR/journal-GGGG-SSSS-PID.log       one segment per worker and
 *                                       generation (G, S: 16 hex digits)
 *
 * A record is framed as
 *
 *   uint32 len     bytes after this header (type + payload)
 *   uint32 crc32   of seq, type and payload
 *   uint64 seq     global sequence number, given under the zone mutex
 *   uint8  type    the store's record type
 *   payload
 *
 * all little-endian.  The generation and the sequence live in the store's
 * shared memory; a snapshot starts a new generation, and every worker
 * opens a new segment on its first append of a newer generation, so each
 * segment of an older generation is wholly covered by the snapshot.
 *
 * The state part knows nothing of what the records mean.
 */

#define NGX_HTTP_WEBHOOK_RECORD_HEADER   17


/*
 * Records replayed from a snapshot carry this bit in "type": a snapshot holds
 * each subscription and each event once, so apply need not look for an
 * earlier version of it.
 */
#define NGX_HTTP_WEBHOOK_STATE_FROM_SNAPSHOT  0x100

typedef ngx_int_t (*ngx_http_webhook_state_apply_pt)(void *data,
    ngx_uint_t type, u_char *p, size_t len);
typedef void (*ngx_http_webhook_state_handler_pt)(void *data, ngx_int_t rc);


typedef struct {
    uint64_t                    generation;
    uint64_t                    seq;              /* last applied */
    ngx_uint_t                  records;
    off_t                       journal_size;     /* bytes left in segments */
    time_t                      snapshot_time;    /* 0: no snapshot */
} ngx_http_webhook_state_info_t;


/* at configuration time; adds the default thread pool if fsync is used */
ngx_http_webhook_state_t *ngx_http_webhook_state_create(ngx_conf_t *cf,
    ngx_str_t *dir, ngx_uint_t fsync, ngx_msec_t fsync_interval);

/*
 * In the master (or the single process) when a new zone is initialized:
 * creates the directory (not under "nginx -t"), takes the lock if it can
 * (*writable is set to 1 if so), and replays the snapshot and the journal
 * through "apply" in sequence order.  A torn tail is skipped with a warning;
 * a bad record followed by good ones fails, naming the file.  Under
 * "nginx -t" it only reads.  The store then compacts what was loaded with
 * ngx_http_webhook_state_write_snapshot() when *writable.
 */
ngx_int_t ngx_http_webhook_state_load(ngx_http_webhook_state_t *st,
    ngx_cycle_t *cycle, ngx_http_webhook_state_apply_pt apply, void *data,
    ngx_http_webhook_state_info_t *info, ngx_uint_t *writable);

/* in a read-only instance: try to take the lock again */
ngx_int_t ngx_http_webhook_state_try_lock(ngx_http_webhook_state_t *st,
    ngx_log_t *log);

/*
 * After try_lock() succeeded (the previous owner went on writing after
 * this instance loaded), or after a reload that loaded a new zone while
 * old workers still wrote: replays through "apply" the journal records
 * after "seq", reading the directory again (blocking).  NGX_DECLINED: a
 * newer snapshot holds some of them, so the store must start empty and
 * call it with "seq" 0, which replays everything as load does.  "info"
 * tells the generation and the sequence to continue from.
 */
ngx_int_t ngx_http_webhook_state_catch_up(ngx_http_webhook_state_t *st,
    uint64_t seq, ngx_http_webhook_state_apply_pt apply, void *data,
    ngx_http_webhook_state_info_t *info, ngx_log_t *log);

ngx_int_t ngx_http_webhook_state_init_process(ngx_http_webhook_state_t *st,
    ngx_cycle_t *cycle);
void ngx_http_webhook_state_exit_process(ngx_http_webhook_state_t *st);

size_t ngx_http_webhook_state_frame_size(size_t len);
u_char *ngx_http_webhook_state_frame(u_char *buf, uint64_t seq,
    ngx_uint_t type, u_char *p, size_t len);

/*
 * Appends one record with one write() to this worker's segment of
 * "generation".  Called under the zone mutex.  On failure returns
 * NGX_ERROR with *err set (NGX_ENOSPC: the disk is full) and leaves the
 * segment as it was.
 */
ngx_int_t ngx_http_webhook_state_append(ngx_http_webhook_state_t *st,
    uint64_t generation, uint64_t seq, ngx_uint_t type, u_char *p,
    size_t len, ngx_log_t *log, ngx_err_t *err);

/*
 * Makes everything this worker appended so far durable as fsync= says:
 * NGX_OK at once (fsync off or timed, or nothing pending), or NGX_AGAIN
 * and "handler" is called later with NGX_OK or NGX_ERROR.  One fsync
 * serves every caller waiting on it.  Never called under the mutex.
 */
ngx_int_t ngx_http_webhook_state_sync(ngx_http_webhook_state_t *st,
    ngx_log_t *log, ngx_http_webhook_state_handler_pt handler, void *data);

/*
 * Writes a snapshot of "generation" synchronously (temporary file, fsync,
 * rename, directory fsync) and removes the segments and snapshots of older
 * generations.  Blocking: for start-up in the master only.
 */
ngx_int_t ngx_http_webhook_state_write_snapshot(ngx_http_webhook_state_t *st,
    u_char *buf, size_t len, uint64_t generation, uint64_t seq,
    ngx_log_t *log);

/*
 * The same in a thread: "buf" holds framed records of everything up to
 * "seq", allocated with ngx_alloc(); the state part frees it.  Returns
 * NGX_AGAIN, and "handler" is called in the event loop when done, or
 * NGX_ERROR at once (the handler is not called).
 */
ngx_int_t ngx_http_webhook_state_snapshot(ngx_http_webhook_state_t *st,
    u_char *buf, size_t len, uint64_t generation, uint64_t seq,
    ngx_log_t *log, ngx_http_webhook_state_handler_pt handler, void *data);


#endif /* _NGX_HTTP_WEBHOOK_STATE_H_INCLUDED_ */
