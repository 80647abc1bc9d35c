
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


/*
 * Recovery from arbitrary bytes: a state directory holding a snapshot
 * and a journal segment made from the input is loaded the way nginx
 * loads it at start (the zone's init), into a 1m zone.
 *
 * Input: byte 0 the mode.
 *   bit 0 clear ("raw"): bytes 1-2 (little-endian, modulo the rest's
 *     length + 1) split the rest into the snapshot and the segment, both
 *     written as they are; with bit 1 the snapshot's header (magic,
 *     version, sizes, crc) is made valid around the bytes given.
 *   bit 0 set ("framed"): the rest is a list of records, each a type
 *     byte, a 16-bit length and that many payload bytes; the harness
 *     frames them with valid lengths, sequence numbers and crc32s, so
 *     the store's decoding of each record type is what is fuzzed.  With
 *     bit 1 the first half goes into a snapshot, the rest into the
 *     segment; with bit 2 the byte at offset byte 1 * 7 of the segment
 *     is flipped afterwards.
 *
 * Checked: loading never crashes (ASan, UBSan); what it loads is not
 * garbage (every subscription and event has the shapes the API and
 * publishing would have given it: ids, tenant, action, lengths, UTF-8
 * and no control character in anything that reaches a delivery's request
 * line or headers; URLs are parsed again by deliveries); and what was
 * loaded, dumped as a snapshot, loads again to the same dump.
 */

#include "../src/ngx_http_webhook_store.c"

#include "ngx_http_webhook_json.h"

#include "fuzz.h"

#include <dirent.h>


#define FUZZ_STATE_FRAMED     0x01
#define FUZZ_STATE_SNAPSHOT   0x02
#define FUZZ_STATE_FLIP       0x04

#define FUZZ_STATE_SEGMENT \
    "journal-0000000000000001-0000000000000001-1.log"

/* the snapshot header, as ngx_http_webhook_state.c describes it */
#define FUZZ_STATE_HEADER     56
#define FUZZ_STATE_MAGIC      "NGXWHSNP"
#define FUZZ_STATE_VERSION    1


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void fuzz_state_clean(void);
static void fuzz_state_write(char *name, u_char *p, size_t len);
static void fuzz_state_raw(u_char *p, size_t len, ngx_uint_t mode);
static void fuzz_state_framed(u_char *p, size_t len, ngx_uint_t mode,
    ngx_uint_t flip);
static void fuzz_state_check(ngx_http_webhook_store_t *store);
static ngx_uint_t fuzz_state_clean_str(u_char *p, size_t len);
static ngx_uint_t fuzz_state_action(u_char *p, size_t len);
static uint32_t fuzz_state_get32(u_char *p);
static void fuzz_state_put(size_t n, u_char *p, uint64_t v);


static ngx_http_webhook_store_t  *fuzz_state_store;
static char                       fuzz_state_dir[64];


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char     *a, *b;
    size_t      alen, blen;
    ngx_int_t   rc;
    ngx_uint_t  mode;
    uint64_t    generation, seq;

    fuzz_init(0);

    if (fuzz_state_store == NULL) {
        (void) ngx_sprintf((u_char *) fuzz_state_dir, "%s%P%Z",
                           FUZZ_STATE_DIR_PREFIX, ngx_pid);
        fuzz_state_store = fuzz_store_add("state", 1024 * 1024,
                                          fuzz_state_dir);
    }

    if (size < 3) {
        return 0;
    }

    mode = data[0];

    ngx_time_update();
    fuzz_state_clean();

    if (mode & FUZZ_STATE_FRAMED) {
        fuzz_state_framed((u_char *) data + 3, size - 3, mode, data[1]);

    } else {
        fuzz_state_raw((u_char *) data + 1, size - 1, mode);
    }

    rc = fuzz_store_init(fuzz_state_store);

    if (getenv("FUZZ_VERBOSE")) {
        ngx_log_stderr(0, "state: rc %i, %ui subscriptions", rc,
                       fuzz_state_store->sh->subscriptions);
    }

    if (rc != NGX_OK) {
        /* refused, naming the file: nginx would not start */
        return 0;
    }

    fuzz_state_check(fuzz_state_store);

    /* what was loaded, as a snapshot, loads again to the same */

    a = ngx_http_webhook_store_dump(fuzz_state_store, &alen);
    if (a == NULL) {
        fuzz_fail("ngx_http_webhook_store_dump() failed");
    }

    generation = fuzz_state_store->sh->generation + 1;
    seq = fuzz_state_store->sh->seq;

    fuzz_state_clean();

    if (ngx_http_webhook_state_write_snapshot(fuzz_state_store->state, a, alen,
                                              generation, seq, &fuzz_log)
        != NGX_OK)
    {
        fuzz_fail("ngx_http_webhook_state_write_snapshot() failed");
    }

    if (fuzz_store_init(fuzz_state_store) != NGX_OK) {
        fuzz_fail("a snapshot of what was loaded does not load");
    }

    b = ngx_http_webhook_store_dump(fuzz_state_store, &blen);
    if (b == NULL) {
        fuzz_fail("ngx_http_webhook_store_dump() failed");
    }

    if (alen != blen || ngx_memcmp(a, b, alen) != 0) {
        fuzz_fail("loaded again, the state differs: %uz bytes, then %uz",
                  alen, blen);
    }

    ngx_free(a);
    ngx_free(b);

    return 0;
}


/* everything but the lock file, which stays open and locked */

static void
fuzz_state_clean(void)
{
    DIR            *dir;
    u_char          name[256];
    struct dirent  *de;

    dir = opendir(fuzz_state_dir);
    if (dir == NULL) {
        return;
    }

    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.' || ngx_strcmp(de->d_name, "lock") == 0) {
            continue;
        }

        (void) ngx_snprintf(name, sizeof(name), "%s/%s%Z", fuzz_state_dir,
                            de->d_name);
        (void) unlink((char *) name);
    }

    (void) closedir(dir);
}


static void
fuzz_state_write(char *file, u_char *p, size_t len)
{
    int     fd;
    u_char  name[256];

    (void) mkdir(fuzz_state_dir, 0700);

    (void) ngx_snprintf(name, sizeof(name), "%s/%s%Z", fuzz_state_dir, file);

    fd = open((char *) name, O_WRONLY|O_CREAT|O_TRUNC, 0600);
    if (fd == -1) {
        fuzz_fail("open(\"%s\") failed", name);
    }

    if (len && write(fd, p, len) != (ssize_t) len) {
        fuzz_fail("write(\"%s\") failed", name);
    }

    (void) close(fd);
}


static void
fuzz_state_raw(u_char *p, size_t len, ngx_uint_t mode)
{
    u_char    *q, *s, *last;
    size_t     split;
    uint32_t   n;
    uint64_t   records;

    if (len < 2) {
        return;
    }

    split = (p[0] | p[1] << 8) % (len - 2 + 1);
    p += 2;
    len -= 2;

    if (split) {
        if (mode & FUZZ_STATE_SNAPSHOT) {

            /* a valid header around the bytes given */

            s = ngx_alloc(FUZZ_STATE_HEADER + split, &fuzz_log);
            if (s == NULL) {
                fuzz_fail("no memory");
            }

            ngx_memzero(s, FUZZ_STATE_HEADER);
            ngx_memcpy(s + FUZZ_STATE_HEADER, p, split);

            records = 0;
            q = s + FUZZ_STATE_HEADER;
            last = q + split;

            while (last - q >= NGX_HTTP_WEBHOOK_RECORD_HEADER) {
                n = fuzz_state_get32(q);

                if (n == 0 || (size_t) (last - q) - 16 < n) {
                    break;
                }

                records++;
                q += 16 + n;
            }

            ngx_memcpy(s, FUZZ_STATE_MAGIC, 8);
            fuzz_state_put(4, s + 8, FUZZ_STATE_VERSION);
            fuzz_state_put(8, s + 16, 1);
            fuzz_state_put(8, s + 24, records);
            fuzz_state_put(8, s + 32, records);
            fuzz_state_put(8, s + 40, split);
            fuzz_state_put(4, s + 48, ngx_crc32_long(s, 48));

            fuzz_state_write("snapshot", s,
                             FUZZ_STATE_HEADER + split);
            ngx_free(s);

        } else {
            fuzz_state_write("snapshot", p, split);
        }
    }

    if (len > split) {
        fuzz_state_write(FUZZ_STATE_SEGMENT, p + split, len - split);
    }
}


static void
fuzz_state_framed(u_char *p, size_t len, ngx_uint_t mode, ngx_uint_t flip)
{
    u_char      *buf, *b, *last, *half;
    size_t       n, size;
    uint64_t     seq, half_seq;
    ngx_uint_t   type;

    /* the most framing can add: 17 bytes per record of at least 3 */

    size = len + (len / 3 + 1) * NGX_HTTP_WEBHOOK_RECORD_HEADER;

    buf = ngx_alloc(size, &fuzz_log);
    if (buf == NULL) {
        fuzz_fail("no memory");
    }

    b = buf;
    last = p + len;
    seq = 0;

    while (last - p >= 3) {
        type = p[0];
        n = p[1] | p[2] << 8;
        p += 3;

        if (n > (size_t) (last - p)) {
            n = last - p;
        }

        b = ngx_http_webhook_state_frame(b, ++seq, type, p, n);
        p += n;
    }

    half = buf;
    half_seq = 0;

    if (mode & FUZZ_STATE_SNAPSHOT) {

        /* the first half of the records (by count) into a snapshot */

        for (p = buf; half_seq < seq / 2; half_seq++) {
            p += NGX_HTTP_WEBHOOK_RECORD_HEADER - 1
                 + fuzz_state_get32(p);
        }

        half = p;

        (void) mkdir(fuzz_state_dir, 0700);

        if (ngx_http_webhook_state_write_snapshot(fuzz_state_store->state,
                                                  buf, half - buf, 1,
                                                  half_seq, &fuzz_log)
            != NGX_OK)
        {
            fuzz_fail("ngx_http_webhook_state_write_snapshot() failed");
        }
    }

    if ((mode & FUZZ_STATE_FLIP) && b > half) {
        half[(flip * 7) % (b - half)] ^= 0x5a;
    }

    if (b > half) {
        fuzz_state_write(FUZZ_STATE_SEGMENT, half, b - half);
    }

    ngx_free(buf);
}


static void
fuzz_state_check(ngx_http_webhook_store_t *store)
{
    u_char                         *p;
    ngx_str_t                       s;
    ngx_uint_t                      i;
    ngx_queue_t                    *q;
    ngx_rbtree_node_t              *node, *root, *sentinel;
    ngx_http_webhook_sub_t          sub;
    ngx_http_webhook_node_t        *wn;
    ngx_http_webhook_event_node_t  *ev;

    root = store->sh->ids.root;
    sentinel = store->sh->ids.sentinel;

    for (node = (root == sentinel) ? NULL : ngx_rbtree_min(root, sentinel);
         node;
         node = ngx_rbtree_next(&store->sh->ids, node))
    {
        wn = (ngx_http_webhook_node_t *) node;

        ngx_http_webhook_node_view(wn, &sub);

        for (i = 0; i < NGX_HTTP_WEBHOOK_ID_LEN; i++) {
            if (!((sub.id.data[i] >= '0' && sub.id.data[i] <= '9')
                  || (sub.id.data[i] >= 'a' && sub.id.data[i] <= 'f')))
            {
                fuzz_fail("loaded a subscription id \"%*s\"",
                          (size_t) NGX_HTTP_WEBHOOK_ID_LEN, sub.id.data);
            }
        }

        if (!ngx_http_webhook_json_tenant_valid(&sub.tenant)) {
            fuzz_fail("loaded a subscription of tenant \"%V\"", &sub.tenant);
        }

        if (!fuzz_state_action(sub.action.data, sub.action.len)) {
            fuzz_fail("loaded a subscription to \"%V\"", &sub.action);
        }

        /*
         * the store does not parse URLs (deliveries parse them again at
         * every attempt): nothing that would break a request line
         */

        if (sub.target_url.len == 0
            || sub.target_url.len > NGX_HTTP_WEBHOOK_URL_MAX
            || !fuzz_state_clean_str(sub.target_url.data, sub.target_url.len))
        {
            fuzz_fail("loaded a subscription to URL \"%V\"", &sub.target_url);
        }

        if (sub.secret.len == 0
            || sub.secret.len > NGX_HTTP_WEBHOOK_SECRET_MAX
            || !fuzz_state_clean_str(sub.secret.data, sub.secret.len)
            || sub.token.len > NGX_HTTP_WEBHOOK_TOKEN_MAX
            || !fuzz_state_clean_str(sub.token.data, sub.token.len)
            || sub.description.len > NGX_HTTP_WEBHOOK_DESCRIPTION_MAX
            || !fuzz_state_clean_str(sub.description.data,
                                     sub.description.len)
            || sub.disabled_reason > NGX_HTTP_WEBHOOK_DISABLED_FAILING
            || (sub.enabled
                != (sub.disabled_reason == NGX_HTTP_WEBHOOK_DISABLED_NONE)))
        {
            fuzz_fail("loaded a subscription with a bad field: secret %uz, "
                      "token %uz, description %uz \"%*xs\", enabled %d, "
                      "reason %ui",
                      sub.secret.len, sub.token.len, sub.description.len,
                      sub.description.len, sub.description.data,
                      (int) sub.enabled, sub.disabled_reason);
        }

        for (i = 0; i < sub.nprev; i++) {
            if (sub.prev_secret[i].len == 0
                || sub.prev_secret[i].len > NGX_HTTP_WEBHOOK_SECRET_MAX
                || !fuzz_state_clean_str(sub.prev_secret[i].data,
                                         sub.prev_secret[i].len))
            {
                fuzz_fail("loaded a subscription with a bad old secret");
            }
        }
    }

    /* events: tenant, id (the webhook-id header) and action */

    for (q = ngx_queue_head(&store->sh->events_expiry);
         q != ngx_queue_sentinel(&store->sh->events_expiry);
         q = ngx_queue_next(q))
    {
        ev = ngx_queue_data(q, ngx_http_webhook_event_node_t, queue);

        s.data = ev->data;
        s.len = ev->tenant_len;

        if (!ngx_http_webhook_json_tenant_valid(&s)) {
            fuzz_fail("loaded an event of tenant \"%V\"", &s);
        }

        p = ev->data + ev->tenant_len;

        for (i = 0; i < ev->id_len; i++) {
            if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'z')
                  || (p[i] >= 'A' && p[i] <= 'Z') || p[i] == '_'
                  || p[i] == '-'))
            {
                fuzz_fail("loaded an event id \"%*s\"",
                          (size_t) ev->id_len, p);
            }
        }

        p += ev->id_len;

        if (ev->id_len == 0 || ev->id_len > 64
            || !fuzz_state_action(p, ev->action_len)
            || (ev->action_len && p[ev->action_len - 1] == '*'))
        {
            fuzz_fail("loaded an event with a bad id or action");
        }
    }
}


static ngx_uint_t
fuzz_state_clean_str(u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            return 0;
        }
    }

    return ngx_http_webhook_json_utf8_valid(p, len);
}


/* an action, "*" or "prefix.*", as the API and publishing accept them */

static ngx_uint_t
fuzz_state_action(u_char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > NGX_HTTP_WEBHOOK_ACTION_MAX) {
        return 0;
    }

    if (len == 1 && p[0] == '*') {
        return 1;
    }

    if (len > 2 && p[len - 2] == '.' && p[len - 1] == '*') {
        len -= 2;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'z')
              || (p[i] >= 'A' && p[i] <= 'Z') || p[i] == '_' || p[i] == '.'
              || p[i] == ':' || p[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static uint32_t
fuzz_state_get32(u_char *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
           | (uint32_t) p[3] << 24;
}


static void
fuzz_state_put(size_t n, u_char *p, uint64_t v)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        p[i] = (u_char) (v >> (8 * i));
    }
}
