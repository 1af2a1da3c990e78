/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * COLO proxy connection table: a bounded table of flows keyed by
 * #ColoFlowKey, with a fixed-size private area per entry for its user,
 * approximately-LRU eviction of idle entries and TCP-aware expiry.
 *
 * Pure code: no QOM, no main loop, no tracing, no clock.  Time is passed in
 * by the caller as int64_t nanoseconds (any monotonic origin).  Lookups are
 * O(1) and allocate nothing; creating an entry allocates one block (and,
 * whenever the entries outnumber the buckets, doubles the bucket array,
 * up to one bucket per entry the table may hold).
 *
 * Entry lists
 * -----------
 * Every unpinned entry is on exactly one of:
 * - the idle list (not closed), approximately least recently active
 *   first: activity does not move an entry (no per-packet list work), an
 *   entry active since it was queued goes back to the tail when it
 *   reaches the head (CLOCK, or "second chance");
 * - the closed list (TCP closed by FIN/FIN/ACK or RST), in order of
 *   closing.
 * A pinned entry (colo_conn_pin()) stays where it was until eviction or
 * expiry finds it at the head of its list and takes it off; unpinning
 * puts it back at the tail.  Eviction and expiry skip pinned entries, so
 * a pinned entry is never destroyed except by colo_conn_remove() or
 * colo_conn_table_free().
 */

#ifndef NET_COLO_CONN_H
#define NET_COLO_CONN_H

#include "net/colo.h"

typedef struct ColoConnTable ColoConnTable;
typedef struct ColoConn ColoConn;

/**
 * ColoDir: direction of a packet relative to its entry's canonical key.
 *
 * %COLO_DIR_FWD: the packet's source is the key's @src (key not swapped);
 * %COLO_DIR_REV: the packet's source is the key's @dst.
 * Use colo_conn_initiator() to learn which direction opened a TCP flow.
 */
typedef enum ColoDir {
    COLO_DIR_FWD = 0,
    COLO_DIR_REV = 1,
} ColoDir;

/**
 * ColoConnResult: result of a lookup-or-create.
 */
typedef enum ColoConnResult {
    COLO_CONN_FOUND = 0,    /* existing entry */
    COLO_CONN_CREATED,      /* new entry (possibly after an eviction) */
    COLO_CONN_FULL,         /* table full and nothing evictable */
    COLO_CONN_INVALID,      /* packet malformed: no key */
} ColoConnResult;

/**
 * ColoConnEvent: bits returned by colo_conn_track().
 */
enum {
    /* this packet closed the flow */
    COLO_CONN_EV_CLOSED   = 1 << 0,
    /* SYN on a closed flow: TCP state was reset; reset your state too */
    COLO_CONN_EV_REOPENED = 1 << 1,
};

/**
 * ColoConnInitFn:
 * @conn: the new entry; its private area is zero-filled
 * @opaque: #ColoConnTableConfig.opaque
 *
 * Called when an entry is created, before it is returned.
 */
typedef void ColoConnInitFn(ColoConn *conn, void *opaque);

/**
 * ColoConnDestroyFn:
 * @conn: the entry about to be freed (still readable; already out of
 *        the table)
 * @opaque: #ColoConnTableConfig.opaque
 *
 * Called whenever an entry leaves the table: colo_conn_remove(),
 * eviction, colo_conn_expire(), colo_conn_table_free().  Must not call
 * back into the table.
 */
typedef void ColoConnDestroyFn(ColoConn *conn, void *opaque);

/**
 * ColoConnTableConfig:
 * @max_entries: bound on the number of entries (>= 1)
 * @priv_size: bytes of zero-filled private area per entry (may be 0)
 * @idle_timeout_ns: unpinned entries idle this long are expired
 *                   (<= 0: never expire on idleness)
 * @closed_linger_ns: closed entries are expired this long after closing
 * @hash_seed: hash seed (pass a random value in production)
 * @init: optional, see #ColoConnInitFn
 * @destroy: optional, see #ColoConnDestroyFn
 * @opaque: passed to @init and @destroy
 */
typedef struct ColoConnTableConfig {
    uint32_t max_entries;
    size_t priv_size;
    int64_t idle_timeout_ns;
    int64_t closed_linger_ns;
    uint32_t hash_seed;
    ColoConnInitFn *init;
    ColoConnDestroyFn *destroy;
    void *opaque;
} ColoConnTableConfig;

/**
 * ColoConnTcpState: TCP lifetime tracking of one entry (per direction
 * bits indexed by #ColoDir).
 */
typedef struct ColoConnTcpState {
    bool syn_seen[2];
    bool fin_seen[2];
    bool fin_acked[2];
    uint32_t fin_seq[2];        /* sequence number of the FIN */
    bool rst_seen;
    bool closed;
} ColoConnTcpState;

/**
 * colo_conn_table_new:
 * @cfg: configuration (copied)
 *
 * Returns: a new empty table; the bucket array is allocated up front.
 */
ColoConnTable *colo_conn_table_new(const ColoConnTableConfig *cfg);

/**
 * colo_conn_table_free:
 * @t: table (may be NULL)
 *
 * Destroy every entry (calling the destroy callback, pinned or not) and
 * free the table.
 */
void colo_conn_table_free(ColoConnTable *t);

/**
 * colo_conn_count / colo_conn_max:
 * Returns: the number of entries in @t, respectively its bound.
 */
uint32_t colo_conn_count(const ColoConnTable *t);
uint32_t colo_conn_max(const ColoConnTable *t);

/**
 * ColoConnStats: cumulative counters of a table.
 */
typedef struct ColoConnStats {
    uint64_t created;
    uint64_t evicted;           /* removed to make room */
    uint64_t expired_idle;
    uint64_t expired_closed;
    uint64_t removed;           /* by colo_conn_remove() */
    uint64_t full;              /* COLO_CONN_FULL returned */
} ColoConnStats;

/**
 * colo_conn_stats:
 * Returns: the counters of @t.
 */
const ColoConnStats *colo_conn_stats(const ColoConnTable *t);

/**
 * colo_conn_lookup:
 * @t: table
 * @key: a canonical key (see colo_flow_key_canonicalize())
 *
 * Find an entry without creating it or marking it active.
 *
 * Returns: the entry or NULL.
 */
ColoConn *colo_conn_lookup(ColoConnTable *t, const ColoFlowKey *key);

/**
 * colo_conn_lookup_hashed:
 * @hash: colo_conn_hash() of @key
 *
 * Same as colo_conn_lookup(), for a caller that already has the hash.
 */
ColoConn *colo_conn_lookup_hashed(ColoConnTable *t, const ColoFlowKey *key,
                                  uint32_t hash);

/**
 * colo_conn_lookup_or_create:
 * @t: table
 * @key: a canonical key
 * @now: current time, ns
 * @pconn: where to store the entry (NULL on %COLO_CONN_FULL)
 *
 * Find the entry for @key, or create it.  If the table is full, first
 * evict the oldest unpinned closed entry, else the least recently used
 * unpinned idle entry (calling the destroy callback); if every entry is
 * pinned, return %COLO_CONN_FULL and destroy nothing.  The entry found
 * or created is marked active at @now (see colo_conn_touch()).
 *
 * Returns: %COLO_CONN_FOUND, %COLO_CONN_CREATED or %COLO_CONN_FULL.
 */
ColoConnResult colo_conn_lookup_or_create(ColoConnTable *t,
                                          const ColoFlowKey *key,
                                          int64_t now, ColoConn **pconn);

/**
 * colo_conn_hash:
 * @t: table
 * @key: a canonical key
 *
 * Returns: the hash of @key in @t, for the functions below.
 */
uint32_t colo_conn_hash(const ColoConnTable *t, const ColoFlowKey *key);

/**
 * colo_conn_lookup_or_create_hashed:
 * @hash: colo_conn_hash() of @key
 *
 * Same as colo_conn_lookup_or_create(), for a caller that already has
 * the hash of @key.
 */
ColoConnResult colo_conn_lookup_or_create_hashed(ColoConnTable *t,
                                                 const ColoFlowKey *key,
                                                 uint32_t hash, int64_t now,
                                                 ColoConn **pconn);

/**
 * colo_conn_prefetch_bucket / colo_conn_prefetch_entry:
 * @t: table
 * @hash: colo_conn_hash() of a key that will soon be looked up
 *
 * Hints for a caller that knows the keys of a burst of packets before
 * it looks them up: call colo_conn_prefetch_bucket() for every key of
 * the burst, then colo_conn_prefetch_entry() for every key, then do the
 * lookups.  The first starts loading the key's bucket; the second reads
 * that bucket and starts loading its first entry with its private area,
 * so that each miss overlaps with those of the other keys instead of
 * stalling its own lookup.  Neither changes the table; a hint that has
 * become wrong (the table changed in between) only costs a useless load.
 */
void colo_conn_prefetch_bucket(const ColoConnTable *t, uint32_t hash);
void colo_conn_prefetch_entry(const ColoConnTable *t, uint32_t hash);

/**
 * colo_conn_get:
 * @t: table
 * @pkt: a parsed packet
 * @now: current time, ns
 * @pconn: where to store the entry (NULL unless FOUND/CREATED)
 * @dir: where to store the direction of @pkt relative to the entry's key
 *       (may be NULL)
 *
 * The usual per-packet call: build the key of @pkt, canonicalise it,
 * colo_conn_lookup_or_create(), then colo_conn_track() the packet (its
 * events are then in colo_conn_last_events()).
 *
 * Returns: as colo_conn_lookup_or_create(), or %COLO_CONN_INVALID if
 * @pkt is malformed.
 */
ColoConnResult colo_conn_get(ColoConnTable *t, const ColoPacket *pkt,
                             int64_t now, ColoConn **pconn, ColoDir *dir);

/**
 * colo_conn_track:
 * @t: table
 * @conn: entry of @pkt
 * @pkt: a parsed packet belonging to @conn
 * @dir: its direction
 * @now: current time, ns
 *
 * Mark @conn active at @now and follow TCP flags: FIN per direction and
 * its ACK by the other side, RST.  When both FINs are acked or a RST is
 * seen, the entry becomes closed and will be expired after the linger
 * time.  A SYN without ACK on a closed entry reopens it.
 *
 * Returns: a mask of COLO_CONN_EV_* bits.
 */
unsigned colo_conn_track(ColoConnTable *t, ColoConn *conn,
                         const ColoPacket *pkt, ColoDir dir, int64_t now);

/**
 * colo_conn_last_events:
 * @conn: entry
 *
 * Returns: the COLO_CONN_EV_* mask of the last colo_conn_track() on
 * @conn, including the one colo_conn_get() does.
 */
unsigned colo_conn_last_events(const ColoConn *conn);

/**
 * colo_conn_touch:
 * @t: table
 * @conn: entry
 * @now: current time, ns
 *
 * Mark @conn active at @now: O(1), it only records the time; eviction
 * and expiry see it (an idle entry gets a second chance at the head).
 */
void colo_conn_touch(ColoConnTable *t, ColoConn *conn, int64_t now);

/**
 * colo_conn_remove:
 * @t: table
 * @conn: entry (pinned or not); freed on return
 *
 * Remove @conn, calling the destroy callback.
 */
void colo_conn_remove(ColoConnTable *t, ColoConn *conn);

/**
 * colo_conn_pin / colo_conn_unpin:
 * @t: table
 * @conn: entry
 *
 * Pin counts nest.  A pinned entry is never evicted nor expired: pin it
 * while it holds state that must not be lost (e.g. queued packets).
 * When the count drops to 0 the entry counts as active at the latest time
 * the table has seen.
 */
void colo_conn_pin(ColoConnTable *t, ColoConn *conn);
void colo_conn_unpin(ColoConnTable *t, ColoConn *conn);

/**
 * colo_conn_expire:
 * @t: table
 * @now: current time, ns
 *
 * Remove unpinned closed entries whose linger time has passed and unpinned
 * entries idle for at least the idle timeout, calling the destroy
 * callback for each.  Cost is proportional to the entries removed.
 *
 * Returns: the number of entries removed.
 */
uint32_t colo_conn_expire(ColoConnTable *t, int64_t now);

/**
 * ColoConnIterFn:
 * @conn: current entry; the callback may colo_conn_remove() it (and only
 *        it)
 * @opaque: as given to colo_conn_foreach()
 *
 * Returns: false to stop iterating.
 */
typedef bool ColoConnIterFn(ColoConn *conn, void *opaque);

/**
 * colo_conn_foreach:
 * @t: table
 * @fn: callback
 * @opaque: passed to @fn
 *
 * Call @fn on each entry, in no particular order.  No entry may be
 * created during the walk.
 */
void colo_conn_foreach(ColoConnTable *t, ColoConnIterFn *fn, void *opaque);

/* Entry accessors */

/**
 * colo_conn_priv:
 * Returns: the private area of @conn (priv_size bytes, zero-filled at
 * creation, aligned like g_malloc() memory).
 */
void *colo_conn_priv(ColoConn *conn);

/**
 * colo_conn_from_priv:
 * Returns: the entry whose private area is @priv.
 */
ColoConn *colo_conn_from_priv(void *priv);

/**
 * colo_conn_key:
 * Returns: the canonical key of @conn.
 */
const ColoFlowKey *colo_conn_key(const ColoConn *conn);

/**
 * colo_conn_tcp_state:
 * Returns: the TCP tracking state of @conn (all false for non-TCP).
 */
const ColoConnTcpState *colo_conn_tcp_state(const ColoConn *conn);

/**
 * colo_conn_is_closed:
 * Returns: true if @conn saw RST or FIN+ACK in both directions.
 */
bool colo_conn_is_closed(const ColoConn *conn);

/**
 * colo_conn_initiator:
 * Returns: the direction of the first packet seen on @conn (for TCP, the
 * first SYN without ACK if one was seen).
 */
ColoDir colo_conn_initiator(const ColoConn *conn);

/**
 * colo_conn_pin_count:
 * Returns: the pin count of @conn.
 */
uint32_t colo_conn_pin_count(const ColoConn *conn);

/**
 * colo_conn_last_seen:
 * Returns: time of last activity (ns).
 */
int64_t colo_conn_last_seen(const ColoConn *conn);

#endif /* NET_COLO_CONN_H */
