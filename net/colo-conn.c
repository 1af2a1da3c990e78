/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * COLO proxy connection table.
 *
 * Open hashing: a power-of-two array of bucket lists, sized for a load
 * factor of at most 1 at the entry bound, allocated once.  Each entry
 * stores its key's hash so a bucket walk compares keys only on a hash
 * match.  Two tail queues order the unpinned entries for eviction and
 * expiry (see colo-conn.h); pinned entries are on neither.
 */

#include "qemu/osdep.h"
#include "qemu/queue.h"
#include "net/colo-conn.h"

typedef enum ColoConnList {
    COLO_CONN_LIST_NONE,        /* pinned, found so by a list walk */
    COLO_CONN_LIST_IDLE,
    COLO_CONN_LIST_CLOSED,
} ColoConnList;

/*
 * What every packet reads or writes comes first, in 128 bytes (lookup,
 * tracking, pinning and relisting); the user's private area follows the
 * rest.  With many flows each line an entry spans is a cache miss.
 */
QEMU_BUILD_BUG_ON(COLO_CONN_EV_CLOSED > UINT8_MAX ||
                  COLO_CONN_EV_REOPENED > UINT8_MAX);

struct ColoConn {
    QLIST_ENTRY(ColoConn) hnext;        /* bucket chain */
    uint32_t hash;
    uint32_t pins;
    ColoFlowKey key;
    uint8_t list;                       /* ColoConnList */
    uint8_t events;                     /* of the last colo_conn_track() */
    bool dir_known;
    uint8_t initiator;                  /* ColoDir */
    int64_t last_seen;
    ColoConnTcpState tcp;
    QTAILQ_ENTRY(ColoConn) lnext;       /* idle or closed list */
    int64_t listed_at;                  /* when put at its list's tail */
    /* colder */
    int64_t closed_at;
    max_align_t priv[];                 /* priv_size bytes */
};
QEMU_BUILD_BUG_ON(offsetof(ColoConn, listed_at) + sizeof(int64_t) > 128);

/*
 * Bucket array: this many at first, growing with the entries up to
 * max_entries rounded up to a power of two (but at least the minimum).
 */
#define COLO_CONN_START_BUCKETS     256
#define COLO_CONN_MIN_BUCKETS       16

typedef QLIST_HEAD(, ColoConn) ColoConnBucket;
typedef QTAILQ_HEAD(, ColoConn) ColoConnQueue;

struct ColoConnTable {
    ColoConnTableConfig cfg;
    ColoConnBucket *buckets;
    uint32_t mask;                      /* buckets - 1 */
    uint32_t max_mask;                  /* the most buckets - 1 */
    uint32_t count;
    int64_t now;                        /* latest time seen */
    ColoConnQueue idle;                 /* least recently active first */
    ColoConnQueue closed;               /* first closed first */
    ColoConnStats stats;
};

/*
 * Table
 */

ColoConnTable *colo_conn_table_new(const ColoConnTableConfig *cfg)
{
    ColoConnTable *t = g_new0(ColoConnTable, 1);
    uint32_t n = COLO_CONN_MIN_BUCKETS;

    assert(cfg->max_entries >= 1 && cfg->max_entries <= (1u << 30));
    while (n < cfg->max_entries) {
        n <<= 1;
    }
    t->cfg = *cfg;
    t->max_mask = n - 1;
    t->mask = MIN(n, COLO_CONN_START_BUCKETS) - 1;
    t->buckets = g_new0(ColoConnBucket, t->mask + 1);
    t->now = INT64_MIN;
    QTAILQ_INIT(&t->idle);
    QTAILQ_INIT(&t->closed);
    return t;
}

uint32_t colo_conn_count(const ColoConnTable *t)
{
    return t->count;
}

uint32_t colo_conn_max(const ColoConnTable *t)
{
    return t->cfg.max_entries;
}

const ColoConnStats *colo_conn_stats(const ColoConnTable *t)
{
    return &t->stats;
}

/* Whether @now - @then >= @span, without signed overflow. */
static bool elapsed(int64_t now, int64_t then, int64_t span)
{
    return now >= then && (uint64_t)now - (uint64_t)then >= (uint64_t)span;
}

/* Advance the table clock; returns the time to use for @now. */
static int64_t table_time(ColoConnTable *t, int64_t now)
{
    t->now = MAX(t->now, now);
    return t->now;
}

/*
 * List membership
 */

static ColoConnQueue *list_head(ColoConnTable *t, ColoConnList l)
{
    return l == COLO_CONN_LIST_CLOSED ? &t->closed : &t->idle;
}

/*
 * Activity does not move an entry in its list (that would touch two
 * other entries per frame, cache misses when there are many flows):
 * the lists are in the order entries were put at their tail, and
 * an idle entry active since then (last_seen > listed_at) gets a second
 * chance when it reaches the head: it goes back to the tail.  Pinned
 * entries stay where they are until a walk finds them at the head and
 * takes them off; colo_conn_unpin() puts them back.  So eviction takes
 * the idle entry that has been inactive the longest, give or take the
 * time since it was last put at the tail (the CLOCK approximation of
 * LRU), and every operation stays O(1) amortised.
 */
static void list_unlink(ColoConnTable *t, ColoConn *c)
{
    if (c->list != COLO_CONN_LIST_NONE) {
        QTAILQ_REMOVE(list_head(t, c->list), c, lnext);
        c->list = COLO_CONN_LIST_NONE;
    }
}

/* Put an entry at the young end of the list its state says. */
static void list_link_tail(ColoConnTable *t, ColoConn *c)
{
    assert(c->list == COLO_CONN_LIST_NONE);
    c->list = c->tcp.closed ? COLO_CONN_LIST_CLOSED : COLO_CONN_LIST_IDLE;
    c->listed_at = t->now;
    QTAILQ_INSERT_TAIL(list_head(t, c->list), c, lnext);
}

/*
 * Settle the head of a list for a walk: take pinned entries off and send
 * idle entries that were active since they were queued back to the tail.
 * Returns the first entry that is neither, or NULL.
 */
static ColoConn *list_settled_head(ColoConnTable *t, ColoConnQueue *q)
{
    ColoConn *c;

    while ((c = QTAILQ_FIRST(q))) {
        if (c->pins) {
            list_unlink(t, c);
        } else if (c->list == COLO_CONN_LIST_IDLE &&
                   c->last_seen > c->listed_at) {
            list_unlink(t, c);
            list_link_tail(t, c);
            /* now listed_at >= last_seen: it comes back as it is */
        } else {
            return c;
        }
    }
    return NULL;
}

/*
 * Entries
 */

static void conn_free(ColoConnTable *t, ColoConn *c)
{
    QLIST_REMOVE(c, hnext);
    list_unlink(t, c);
    t->count--;
    if (t->cfg.destroy) {
        t->cfg.destroy(c, t->cfg.opaque);
    }
    g_free(c);
}

void colo_conn_table_free(ColoConnTable *t)
{
    uint32_t i;

    if (!t) {
        return;
    }
    for (i = 0; i <= t->mask; i++) {
        while (!QLIST_EMPTY(&t->buckets[i])) {
            conn_free(t, QLIST_FIRST(&t->buckets[i]));
        }
    }
    g_free(t->buckets);
    g_free(t);
}

static ColoConn *find(ColoConnTable *t, const ColoFlowKey *key,
                      uint32_t hash)
{
    ColoConn *c;

    QLIST_FOREACH(c, &t->buckets[hash & t->mask], hnext) {
        if (c->hash == hash && colo_flow_key_equal(&c->key, key)) {
            return c;
        }
    }
    return NULL;
}

ColoConn *colo_conn_lookup(ColoConnTable *t, const ColoFlowKey *key)
{
    return find(t, key, colo_flow_key_hash(key, t->cfg.hash_seed));
}

ColoConn *colo_conn_lookup_hashed(ColoConnTable *t, const ColoFlowKey *key,
                                  uint32_t hash)
{
    return find(t, key, hash);
}

/* Make room for one entry; false if every entry is pinned. */
static bool evict_one(ColoConnTable *t)
{
    ColoConn *victim = list_settled_head(t, &t->closed);

    if (!victim) {
        victim = list_settled_head(t, &t->idle);
    }
    if (!victim) {
        return false;
    }
    t->stats.evicted++;
    conn_free(t, victim);
    return true;
}

/*
 * Double the bucket array once there are more entries than buckets (up
 * to one bucket per possible entry): a table sized for the bound would
 * spread a few thousand flows over a bucket array far larger than the
 * cache.  Entries keep their hash, so moving them reads no key.
 */
static void table_grow(ColoConnTable *t)
{
    uint32_t n = (t->mask + 1) * 2, i;
    ColoConnBucket *b = g_new0(ColoConnBucket, n);
    ColoConn *c;

    for (i = 0; i <= t->mask; i++) {
        while ((c = QLIST_FIRST(&t->buckets[i]))) {
            QLIST_REMOVE(c, hnext);
            QLIST_INSERT_HEAD(&b[c->hash & (n - 1)], c, hnext);
        }
    }
    g_free(t->buckets);
    t->buckets = b;
    t->mask = n - 1;
}

static ColoConn *conn_new(ColoConnTable *t, const ColoFlowKey *key,
                          uint32_t hash, int64_t now)
{
    ColoConn *c = g_malloc0(sizeof(ColoConn) + t->cfg.priv_size);

    c->key = *key;
    c->hash = hash;
    c->last_seen = now;
    c->list = COLO_CONN_LIST_NONE;
    if (t->count > t->mask && t->mask < t->max_mask) {
        table_grow(t);
    }
    QLIST_INSERT_HEAD(&t->buckets[hash & t->mask], c, hnext);
    list_link_tail(t, c);
    t->count++;
    t->stats.created++;
    if (t->cfg.init) {
        t->cfg.init(c, t->cfg.opaque);
    }
    return c;
}

uint32_t colo_conn_hash(const ColoConnTable *t, const ColoFlowKey *key)
{
    return colo_flow_key_hash(key, t->cfg.hash_seed);
}

ColoConnResult colo_conn_lookup_or_create(ColoConnTable *t,
                                          const ColoFlowKey *key,
                                          int64_t now, ColoConn **pconn)
{
    return colo_conn_lookup_or_create_hashed(t, key, colo_conn_hash(t, key),
                                             now, pconn);
}

ColoConnResult colo_conn_lookup_or_create_hashed(ColoConnTable *t,
                                                 const ColoFlowKey *key,
                                                 uint32_t hash, int64_t now,
                                                 ColoConn **pconn)
{
    ColoConn *c = find(t, key, hash);

    if (c) {
        colo_conn_touch(t, c, now);
        *pconn = c;
        return COLO_CONN_FOUND;
    }
    if (t->count >= t->cfg.max_entries && !evict_one(t)) {
        t->stats.full++;
        *pconn = NULL;
        return COLO_CONN_FULL;
    }
    *pconn = conn_new(t, key, hash, table_time(t, now));
    return COLO_CONN_CREATED;
}

void colo_conn_prefetch_bucket(const ColoConnTable *t, uint32_t hash)
{
    __builtin_prefetch(&t->buckets[hash & t->mask]);
}

/* Cache lines of an entry worth loading ahead: lookup, tracking, priv. */
#define COLO_CONN_PREFETCH_MAX  384

void colo_conn_prefetch_entry(const ColoConnTable *t, uint32_t hash)
{
    const ColoConn *c = QLIST_FIRST(&t->buckets[hash & t->mask]);
    size_t size = MIN(sizeof(*c) + t->cfg.priv_size,
                      COLO_CONN_PREFETCH_MAX);
    size_t off;

    if (!c) {
        return;
    }
    for (off = 0; off < size; off += 64) {
        __builtin_prefetch((const uint8_t *)c + off);
    }
    __builtin_prefetch((const uint8_t *)c + size - 1);
}

ColoConnResult colo_conn_get(ColoConnTable *t, const ColoPacket *pkt,
                             int64_t now, ColoConn **pconn, ColoDir *dir)
{
    ColoFlowKey key;
    ColoConnResult res;
    ColoDir d;

    *pconn = NULL;
    if (!colo_flow_key_from_packet(pkt, &key)) {
        return COLO_CONN_INVALID;
    }
    d = colo_flow_key_canonicalize(&key) ? COLO_DIR_REV : COLO_DIR_FWD;
    res = colo_conn_lookup_or_create(t, &key, now, pconn);
    if (*pconn) {
        colo_conn_track(t, *pconn, pkt, d, now);
    }
    if (dir) {
        *dir = d;
    }
    return res;
}

void colo_conn_touch(ColoConnTable *t, ColoConn *c, int64_t now)
{
    c->last_seen = table_time(t, now);
}

void colo_conn_remove(ColoConnTable *t, ColoConn *c)
{
    t->stats.removed++;
    conn_free(t, c);
}

void colo_conn_pin(ColoConnTable *t, ColoConn *c)
{
    c->pins++;
}

void colo_conn_unpin(ColoConnTable *t, ColoConn *c)
{
    assert(c->pins > 0);
    if (--c->pins == 0) {
        c->last_seen = MAX(c->last_seen, t->now);
        if (c->tcp.closed) {
            /* its linger starts again: keep the closed list in order */
            c->closed_at = MAX(c->closed_at, t->now);
            list_unlink(t, c);
        }
        if (c->list == COLO_CONN_LIST_NONE) {
            list_link_tail(t, c);
        }
    }
}

/*
 * TCP tracking
 */

/* Sequence number comparison modulo 2^32: a >= b */
static bool seq_geq(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) >= 0;
}

static void tcp_reopen(ColoConnTable *t, ColoConn *c, ColoDir dir)
{
    memset(&c->tcp, 0, sizeof(c->tcp));
    c->initiator = dir;
    if (c->list == COLO_CONN_LIST_CLOSED) {
        list_unlink(t, c);
        list_link_tail(t, c);
    }
}

static void tcp_close(ColoConnTable *t, ColoConn *c, int64_t now)
{
    c->tcp.closed = true;
    c->closed_at = now;
    if (c->list == COLO_CONN_LIST_IDLE) {
        list_unlink(t, c);
        list_link_tail(t, c);
    }
}

static unsigned tcp_track(ColoConnTable *t, ColoConn *c,
                          const ColoPacket *pkt, ColoDir dir, int64_t now)
{
    ColoConnTcpState *s = &c->tcp;
    uint8_t f = pkt->tcp_flags;
    unsigned ev = 0;

    /*
     * Most segments carry no SYN, FIN or RST and follow no FIN they could
     * acknowledge: nothing below would change.  (A connection is closed
     * in the call that sees its RST or its last FIN acknowledged.)
     */
    if (!(f & (COLO_TCP_SYN | COLO_TCP_FIN | COLO_TCP_RST)) &&
        !s->fin_seen[!dir]) {
        return 0;
    }
    if ((f & (COLO_TCP_SYN | COLO_TCP_ACK)) == COLO_TCP_SYN) {
        if (s->closed) {
            tcp_reopen(t, c, dir);
            ev |= COLO_CONN_EV_REOPENED;
        } else if (!s->syn_seen[0] && !s->syn_seen[1]) {
            c->initiator = dir;
        }
    }
    if (f & COLO_TCP_SYN) {
        s->syn_seen[dir] = true;
    }
    if ((f & COLO_TCP_FIN) && !s->fin_seen[dir]) {
        s->fin_seen[dir] = true;
        s->fin_seq[dir] = pkt->tcp_seq + pkt->payload_len +
                          !!(f & COLO_TCP_SYN);
    }
    if ((f & COLO_TCP_ACK) && s->fin_seen[!dir] &&
        seq_geq(pkt->tcp_ack, s->fin_seq[!dir] + 1)) {
        s->fin_acked[!dir] = true;
    }
    if (f & COLO_TCP_RST) {
        s->rst_seen = true;
    }
    if (!s->closed &&
        (s->rst_seen || (s->fin_acked[0] && s->fin_acked[1]))) {
        tcp_close(t, c, now);
        ev |= COLO_CONN_EV_CLOSED;
    }
    return ev;
}

unsigned colo_conn_track(ColoConnTable *t, ColoConn *c,
                         const ColoPacket *pkt, ColoDir dir, int64_t now)
{
    colo_conn_touch(t, c, now);
    if (!c->dir_known) {
        c->dir_known = true;
        c->initiator = dir;
    }
    c->events = colo_packet_is_tcp(pkt) ?
                tcp_track(t, c, pkt, dir, c->last_seen) : 0;
    return c->events;
}

unsigned colo_conn_last_events(const ColoConn *conn)
{
    return conn->events;
}

/*
 * Expiry and iteration
 */

uint32_t colo_conn_expire(ColoConnTable *t, int64_t now)
{
    int64_t linger = MAX(t->cfg.closed_linger_ns, 0);
    int64_t idle = t->cfg.idle_timeout_ns;
    uint32_t n = 0;
    ColoConn *c;

    now = table_time(t, now);
    while ((c = list_settled_head(t, &t->closed)) &&
           elapsed(now, c->closed_at, linger)) {
        t->stats.expired_closed++;
        conn_free(t, c);
        n++;
    }
    while (idle > 0 && (c = QTAILQ_FIRST(&t->idle))) {
        if (c->pins) {
            list_unlink(t, c);
        } else if (elapsed(now, c->last_seen, idle)) {
            t->stats.expired_idle++;
            conn_free(t, c);
            n++;
        } else if (c->last_seen > c->listed_at) {
            list_unlink(t, c);
            list_link_tail(t, c);
        } else {
            break;      /* the oldest entry is not idle long enough */
        }
    }
    return n;
}

void colo_conn_foreach(ColoConnTable *t, ColoConnIterFn *fn, void *opaque)
{
    ColoConn *c, *next;
    uint32_t i;

    for (i = 0; i <= t->mask; i++) {
        QLIST_FOREACH_SAFE(c, &t->buckets[i], hnext, next) {
            if (!fn(c, opaque)) {
                return;
            }
        }
    }
}

/*
 * Accessors
 */

void *colo_conn_priv(ColoConn *conn)
{
    return conn->priv;
}

ColoConn *colo_conn_from_priv(void *priv)
{
    return container_of(priv, ColoConn, priv);
}

const ColoFlowKey *colo_conn_key(const ColoConn *conn)
{
    return &conn->key;
}

const ColoConnTcpState *colo_conn_tcp_state(const ColoConn *conn)
{
    return &conn->tcp;
}

bool colo_conn_is_closed(const ColoConn *conn)
{
    return conn->tcp.closed;
}

ColoDir colo_conn_initiator(const ColoConn *conn)
{
    return conn->initiator;
}

uint32_t colo_conn_pin_count(const ColoConn *conn)
{
    return conn->pins;
}

int64_t colo_conn_last_seen(const ColoConn *conn)
{
    return conn->last_seen;
}
