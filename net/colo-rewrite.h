/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * COLO proxy TCP rewrite logic, used by filter-rewriter on the secondary.
 *
 * The secondary guest's TCP stack picks its own initial sequence numbers
 * (ISNs) and, for the connections it opens, its own source ports; the
 * peers only ever see the primary's.  This module learns, per
 * connection, the offset between the primary's and the secondary's ISN
 * (and for guest-initiated connections the primary's source port), and
 * shifts the frames that cross the secondary's netdev so that:
 *
 * - frames from the secondary guest look like the primary's (sequence
 *   number += offset, source port = the primary's), so colo-compare can
 *   compare them and, after a failover, the peers accept them;
 * - frames towards the secondary guest (the primary's traffic, mirrored)
 *   look like what the secondary guest expects (acknowledgement number
 *   and SACK edges -= offset, destination port = the secondary's).
 *
 * Pure code: no QOM, no main loop, no tracing, no clock.  Time is passed
 * in by the caller as int64_t nanoseconds (any monotonic origin).
 * Allocation happens only when a connection entry is created; the
 * per-frame path allocates nothing.
 *
 * Connections are tracked only from their opening handshake: a SYN
 * creates an entry, anything else of an unknown connection passes
 * untouched.  See docs/system/colo-proxy.rst for the full semantics.
 */

#ifndef NET_COLO_REWRITE_H
#define NET_COLO_REWRITE_H

#include "net/colo.h"

typedef struct ColoRewriter ColoRewriter;

/**
 * ColoRewriteDir: which way a frame crosses the secondary's netdev.
 *
 * %COLO_RW_TO_GUEST: towards the secondary guest (the primary's incoming
 * traffic, mirrored; after a failover the peers' frames).
 * %COLO_RW_FROM_GUEST: sent by the secondary guest.
 */
typedef enum ColoRewriteDir {
    COLO_RW_TO_GUEST = 0,
    COLO_RW_FROM_GUEST = 1,
} ColoRewriteDir;

/**
 * ColoRewriteResult: what colo_rewriter_handle() did with a frame.
 *
 * Only %COLO_RW_REWRITTEN changes the frame; %COLO_RW_PARK means the
 * rewriter kept a copy of the frame, which the caller must consume (not
 * pass on); every other result means the frame must be passed on exactly
 * as it came.
 *
 * Parking: the secondary runs behind the primary, so the peer's SYN-ACK
 * for a connection the primary opened may come towards the guest before
 * the secondary guest sent its own SYN.  Such a SYN-ACK (when parking
 * is enabled, see #ColoRewriterConfig) is parked, keyed by its
 * destination as the guest sees it.  A guest SYN to that destination
 * claims the oldest parked SYN-ACK (one for the guest's own port first)
 * and is paired with it; the SYN-ACK then becomes releasable, and
 * colo_rewriter_release() passes it through the normal to-guest path
 * (learning the offset, rewriting it; the TCP timestamp it echoes
 * becomes the one of the guest's SYN, which a guest in SYN-SENT wants
 * not older than its SYN) before handing it back.  Later frames of the
 * same flow towards the guest are parked behind it and go with it, also
 * when they come after the claim but before the release.  Parked
 * SYN-ACKs never claimed are released unchanged after the park timeout,
 * at a checkpoint or at failover; claimed ones go out rewritten at
 * failover, unchanged at a checkpoint.
 */
typedef enum ColoRewriteResult {
    COLO_RW_UNCHANGED = 0,  /* TCP of a tracked connection, no change */
    COLO_RW_REWRITTEN,      /* TCP of a tracked connection, patched */
    COLO_RW_MALFORMED,      /* the packet layer refused the frame */
    COLO_RW_UNTRACKED,      /* TCP of no tracked connection */
    COLO_RW_NOT_TCP,        /* well-formed, but not a TCP segment */
    COLO_RW_PARK,           /* kept: see colo_rewriter_release() */
} ColoRewriteResult;

/**
 * ColoRewriteEventKind: events reported through #ColoRewriteEventFn.
 */
typedef enum ColoRewriteEventKind {
    /* the offset of a connection was learned: @offset */
    COLO_RW_EV_OFFSET_LEARNED,
    /* a guest SYN was paired: @guest_port and @primary_port */
    COLO_RW_EV_PORT_MAPPED,
    /* an entry went away, see @reason */
    COLO_RW_EV_REMOVED,
    /* SYN-ACK towards the guest with no pending guest SYN to pair */
    COLO_RW_EV_UNMATCHED,
    /* a new connection was not tracked: the table is full */
    COLO_RW_EV_TABLE_FULL,
    /* the packet layer refused a frame: @error; @key is NULL */
    COLO_RW_EV_MALFORMED,
    /* SYN-ACK towards the guest parked, waiting for the guest's SYN */
    COLO_RW_EV_PARKED,
} ColoRewriteEventKind;

/**
 * ColoRewriteRemoveReason: why an entry was removed.
 */
typedef enum ColoRewriteRemoveReason {
    COLO_RW_RM_CLOSED = 0,      /* FIN both ways or RST, then lingered */
    COLO_RW_RM_IDLE,            /* idle timeout */
    COLO_RW_RM_EVICTED,         /* made room for a new connection */
    COLO_RW_RM_CHECKPOINT,      /* dropped at a checkpoint */
    COLO_RW_RM_FAILOVER,        /* unpaired guest SYN, at failover */
    COLO_RW_RM_REPLACED,        /* a new SYN reused the flow */
    COLO_RW_RM__MAX,
} ColoRewriteRemoveReason;

/**
 * ColoRewriteEvent:
 * @kind: what happened
 * @dir: direction of the frame that caused it (REMOVED: meaningless)
 * @key: the connection as the secondary guest sees it, oriented from the
 *       guest to the peer (source = the guest, with the guest's port);
 *       NULL for %COLO_RW_EV_MALFORMED
 * @guest_port: the guest's port of the connection
 * @primary_port: the primary's port (== @guest_port unless mapped)
 * @offset: primary ISN - secondary ISN (mod 2^32), once learned
 * @reason: for %COLO_RW_EV_REMOVED
 * @error: for %COLO_RW_EV_MALFORMED
 *
 * Only valid during the callback.
 */
typedef struct ColoRewriteEvent {
    ColoRewriteEventKind kind;
    ColoRewriteDir dir;
    const ColoFlowKey *key;
    uint16_t guest_port;
    uint16_t primary_port;
    uint32_t offset;
    ColoRewriteRemoveReason reason;
    ColoPktError error;
} ColoRewriteEvent;

/**
 * ColoRewriteEventFn:
 * @ev: the event
 * @opaque: #ColoRewriterConfig.opaque
 *
 * Must not call back into the rewriter.
 */
typedef void ColoRewriteEventFn(const ColoRewriteEvent *ev, void *opaque);

/**
 * ColoRewriterConfig:
 * @max_connections: bound on tracked connections (>= 1)
 * @idle_timeout_ns: connections being rewritten are forgotten after
 *                   this long without a frame (<= 0: never)
 * @handshake_timeout_ns: entries that are not (yet) rewriting anything,
 *                   e.g. handshakes in progress, are forgotten after
 *                   this long without a frame (<= 0: never)
 * @closed_linger_ns: closed connections (FIN both ways, or RST) are
 *                   forgotten this long after closing
 * @hash_seed: hash seed (pass a random value in production)
 * @park_max: bound on parked frames: SYN-ACKs and the frames of their
 *                   flows that come after them, parked behind them to
 *                   keep the order (0: parking disabled, unmatched
 *                   SYN-ACKs pass unchanged at once)
 * @park_timeout_ns: a parked SYN-ACK no guest SYN claimed is released
 *                   unchanged after this long (<= 0: only at checkpoint
 *                   or failover)
 * @event: optional event callback (for trace events)
 * @opaque: passed to @event
 */
typedef struct ColoRewriterConfig {
    uint32_t max_connections;
    int64_t idle_timeout_ns;
    int64_t handshake_timeout_ns;
    int64_t closed_linger_ns;
    uint32_t hash_seed;
    uint32_t park_max;
    int64_t park_timeout_ns;
    ColoRewriteEventFn *event;
    void *opaque;
} ColoRewriterConfig;

/**
 * ColoRewriteCounters: cumulative counters, plus current gauges.
 */
typedef struct ColoRewriteCounters {
    uint32_t connections;       /* entries now tracked (gauge) */
    uint32_t pending;           /* guest SYNs not yet paired (gauge) */
    uint64_t frames_rewritten;
    uint64_t offsets_learned;
    uint64_t ports_mapped;      /* guest SYNs paired with a SYN-ACK */
    uint64_t unmatched_syn_acks;    /* went out unpaired */
    uint64_t parked_syn_acks;       /* SYN-ACKs parked */
    uint32_t parked;                /* frames held now (gauge) */
    uint64_t entries_expired;   /* closed or idle */
    uint64_t entries_evicted;   /* made room for new connections */
    uint64_t malformed;
    uint64_t table_full;
    uint64_t checkpoints;
    bool failed_over;
} ColoRewriteCounters;

/**
 * ColoRewritePatch:
 *
 * The changes colo_rewriter_handle() decided for one frame, to apply to
 * a writable copy of it with colo_rewrite_patch_apply().  Filled only for
 * %COLO_RW_REWRITTEN.
 */
#define COLO_RW_MAX_PATCH_OPS (2 + 2 * COLO_MAX_SACK_BLOCKS)

typedef struct ColoRewritePatch {
    ColoPacket pkt;             /* the parsed frame */
    unsigned n_ops;
    struct {
        uint32_t off;           /* from the start of the frame */
        uint32_t val;           /* host order */
        uint8_t size;           /* 2 or 4 */
    } ops[COLO_RW_MAX_PATCH_OPS];
} ColoRewritePatch;

/**
 * colo_rewriter_new:
 * @cfg: configuration (copied)
 *
 * Returns: a new rewriter with no connections.
 */
ColoRewriter *colo_rewriter_new(const ColoRewriterConfig *cfg);

/**
 * colo_rewriter_free:
 * @rw: rewriter (may be NULL)
 *
 * Free @rw and all its entries (no events are reported).
 */
void colo_rewriter_free(ColoRewriter *rw);

/**
 * colo_rewriter_handle:
 * @rw: rewriter
 * @dir: direction of the frame
 * @frame: the frame: @vnet_hdr_len bytes of virtio-net header, then an
 *         Ethernet frame; only read
 * @len: its length
 * @vnet_hdr_len: virtio-net header length (0 if none)
 * @now: current time, ns
 * @patch: filled when the result is %COLO_RW_REWRITTEN
 *
 * Parse the frame, update the connection state and decide how to change
 * the frame.  @patch->pkt points into @frame.
 *
 * Returns: what to do with the frame.
 */
ColoRewriteResult colo_rewriter_handle(ColoRewriter *rw, ColoRewriteDir dir,
                                       const uint8_t *frame, size_t len,
                                       size_t vnet_hdr_len, int64_t now,
                                       ColoRewritePatch *patch);

/**
 * colo_rewrite_patch_extent:
 * @patch: a patch filled by colo_rewriter_handle()
 *
 * Returns: how many leading bytes of the frame the patch reads or writes
 * (the headers, up to the TCP payload).  A writable copy of only these
 * bytes may be patched, the rest of the frame being sent from the
 * original.
 */
size_t colo_rewrite_patch_extent(const ColoRewritePatch *patch);

/**
 * colo_rewrite_patch_apply:
 * @patch: a patch filled by colo_rewriter_handle()
 * @buf: writable copy of at least colo_rewrite_patch_extent() leading
 *       bytes of the frame, same layout
 *
 * Write the new field values and update the TCP checksum incrementally
 * (not when the virtio-net header says the checksum is still to be
 * computed).
 */
void colo_rewrite_patch_apply(const ColoRewritePatch *patch, uint8_t *buf);

/**
 * colo_rewriter_to_guest / colo_rewriter_from_guest:
 * @rw: rewriter
 * @frame: writable frame, patched in place
 * @len: its length
 * @vnet_hdr_len: virtio-net header length (0 if none)
 * @now: current time, ns
 *
 * colo_rewriter_handle() then colo_rewrite_patch_apply() on @frame.
 *
 * Returns: as colo_rewriter_handle().
 */
ColoRewriteResult colo_rewriter_to_guest(ColoRewriter *rw, uint8_t *frame,
                                         size_t len, size_t vnet_hdr_len,
                                         int64_t now);
ColoRewriteResult colo_rewriter_from_guest(ColoRewriter *rw, uint8_t *frame,
                                           size_t len, size_t vnet_hdr_len,
                                           int64_t now);

/**
 * colo_rewriter_checkpoint:
 * @rw: rewriter
 *
 * The secondary's memory was just made equal to the primary's: every
 * connection of the guest now uses the primary's ports and sequence
 * numbers, so all entries are dropped (a connection without an entry is
 * not rewritten) and every parked frame becomes releasable, unchanged.
 * Entries are kept after colo_rewriter_failover(), when the rewriter
 * keeps serving the connections it still rewrites (and claimed parked
 * frames stay rewritten, as at failover).
 *
 * Returns: the number of entries dropped.
 */
uint32_t colo_rewriter_checkpoint(ColoRewriter *rw);

/**
 * colo_rewriter_failover:
 * @rw: rewriter
 *
 * The secondary now talks to the peers directly.  Connections opened
 * before keep being rewritten until they close or go idle (including
 * handshakes in progress that still learn their offset); guest SYNs
 * that were never paired with a primary SYN-ACK are dropped, parked
 * SYN-ACKs become releasable (rewritten if a guest SYN claimed them,
 * unchanged if not), and no new connection is tracked from now on.
 * Idempotent.
 *
 * Returns: the number of entries dropped.
 */
uint32_t colo_rewriter_failover(ColoRewriter *rw);

/**
 * colo_rewriter_expire:
 * @rw: rewriter
 * @now: current time, ns
 *
 * Remove closed entries past their linger time and idle entries past
 * their timeout, and make parked SYN-ACKs past the park timeout
 * releasable.  Cost is proportional to the entries removed (plus the
 * parked frames, at most @park_max).
 *
 * Returns: the number of entries removed (parked frames not included).
 */
uint32_t colo_rewriter_expire(ColoRewriter *rw, int64_t now);

/**
 * ColoRewriteReleaseFn:
 * @frame: a released frame, towards the guest (rewritten if needed)
 * @len: its length
 * @vnet_hdr_len: its virtio-net header length, as it was handled
 * @opaque: as passed to colo_rewriter_release()
 *
 * @frame is only valid during the call.
 */
typedef void ColoRewriteReleaseFn(const uint8_t *frame, size_t len,
                                  size_t vnet_hdr_len, void *opaque);

/**
 * colo_rewriter_release:
 * @rw: rewriter
 * @now: current time, ns
 * @fn: called for each releasable parked frame, oldest first
 * @opaque: passed to @fn
 *
 * Hand back the parked frames that are releasable: claimed by a guest
 * SYN (passed through the to-guest path first, so rewritten), or
 * released by colo_rewriter_expire(), colo_rewriter_checkpoint() or
 * colo_rewriter_failover() (unchanged, unless claimed before a
 * failover).  Call it outside
 * colo_rewriter_handle(); @fn may call back into the rewriter.
 *
 * Returns: the number of frames handed back.
 */
uint32_t colo_rewriter_release(ColoRewriter *rw, int64_t now,
                               ColoRewriteReleaseFn *fn, void *opaque);

/**
 * colo_rewriter_releasable / colo_rewriter_parked:
 * Returns: the number of parked frames ready for colo_rewriter_release(),
 * and of all parked frames (cheap; for scheduling and arming timers).
 */
uint32_t colo_rewriter_releasable(const ColoRewriter *rw);
uint32_t colo_rewriter_parked(const ColoRewriter *rw);

/**
 * colo_rewriter_counters:
 * @rw: rewriter
 * @c: filled with the counters
 */
void colo_rewriter_counters(const ColoRewriter *rw, ColoRewriteCounters *c);

/**
 * colo_rewriter_connections:
 * Returns: the number of entries now tracked (cheap; for arming timers).
 */
uint32_t colo_rewriter_connections(const ColoRewriter *rw);

/**
 * colo_rewriter_failed_over:
 * Returns: true once colo_rewriter_failover() was called.
 */
bool colo_rewriter_failed_over(const ColoRewriter *rw);

/**
 * colo_rewrite_result_name / colo_rewrite_reason_name:
 *
 * Returns: a short constant name, for tests and trace events.
 */
const char *colo_rewrite_result_name(ColoRewriteResult res);
const char *colo_rewrite_reason_name(ColoRewriteRemoveReason reason);

/*
 * Introspection, for tests and fuzzers
 */

/**
 * ColoRewriteConnInfo: the state of one tracked connection.
 */
typedef struct ColoRewriteConnInfo {
    bool found;
    bool active;                /* opened by the guest */
    bool paired;                /* the primary's port is known */
    bool offset_known;
    bool rewriting;             /* offset != 0 or ports differ */
    bool closed;
    uint16_t guest_port;
    uint16_t primary_port;
    uint32_t offset;
} ColoRewriteConnInfo;

/**
 * colo_rewriter_lookup:
 * @rw: rewriter
 * @key: a flow as the secondary guest sees it (any orientation)
 * @info: filled; @info->found is false if no entry
 */
void colo_rewriter_lookup(ColoRewriter *rw, const ColoFlowKey *key,
                          ColoRewriteConnInfo *info);

/**
 * colo_rewriter_check:
 * @rw: rewriter
 *
 * Check the internal invariants (index entries and entries agree, the
 * bound holds, the pending lists are consistent).  For tests and fuzzers.
 *
 * Returns: true if all hold.
 */
bool colo_rewriter_check(ColoRewriter *rw);

#endif /* NET_COLO_REWRITE_H */
