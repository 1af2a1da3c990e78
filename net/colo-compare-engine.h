/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * COLO proxy comparison engine: frames from the primary and the secondary
 * guest in, decisions out.
 *
 * Pure code: no QOM, no chardev, no main loop, no clock, no tracing.  The
 * caller passes time in as int64_t nanoseconds (any monotonic origin) and
 * receives decisions through two callbacks:
 *
 * - release(): a primary frame must be sent to the outside now;
 * - divergence(): the two guests diverged (or could not be compared); the
 *   caller traces it, counts it and asks the COLO frame for a checkpoint.
 *
 * Secondary frames are never output: they are only compared and dropped.
 *
 * Threading: an engine is not thread-safe; call it from one thread (the
 * colo-compare iothread).  Callbacks run synchronously inside the engine
 * calls and must not call back into the engine.
 *
 * What is compared
 * ----------------
 * Flows are identified by the packet layer's directional #ColoFlowKey
 * (source first, not canonicalised: the engine only sees the guests'
 * outgoing traffic).  For each flow, primary frames are released in the
 * order they were input, always.
 *
 * TCP: the byte *streams* are compared, not the segments.  Per flow the
 * engine keeps a comparison point in the primary's sequence space; all
 * stream bytes before it were found equal on both sides.  A primary segment
 * is released as soon as the secondary has sent the same bytes for its
 * whole range; secondary segments are dropped once the comparison point has
 * passed their end.  Hence a flow segmented differently by the two guests
 * (e.g. 1 x 1000 bytes against 4 x 250 bytes, or a 64 KiB GSO frame against
 * MSS-sized ones) is identical if the bytes are.
 *  - A FIN occupies one sequence number, compared as one extra stream byte:
 *    a FIN must be at the same stream position on both sides (else
 *    divergence "fin").
 *  - Retransmissions (a range already compared, or held by segments of
 *    the same side queued before it, e.g. a tail loss probe) need no
 *    comparison: a primary one is released without comparison in its
 *    turn (in flow order), a secondary one dropped.  A segment that
 *    partially overlaps the compared range (e.g. window-limited resends)
 *    has only its new part compared.
 *  - Pure ACKs (no payload, no SYN/FIN/RST) carry nothing to compare: a
 *    primary one is released at once (behind the flow's queued frames, if
 *    any; it creates no connection entry), a secondary one is dropped.
 *  - SYN without ACK (the guest opens a connection): the primary's is
 *    released at once and gives the flow its initial sequence number; the
 *    secondary's is dropped without a divergence and without being paired:
 *    it arrives unrewritten by filter-rewriter (own ISN, and its own
 *    ephemeral port), so it cannot be paired and must not cost a
 *    checkpoint nor a compare_timeout stall.  Its data (TCP Fast Open),
 *    if any, is released unverified.
 *  - SYN+ACK (the guest accepts a connection): both sides' SYN+ACKs are
 *    paired per flow by their acknowledgment number (the client's ISN + 1,
 *    the same on both sides; a secondary SYN+ACK answering another SYN
 *    never pairs, and a retransmission of one already paired is dropped),
 *    and compared on their SYN, ACK, FIN, ECE and CWR flags, MSS and
 *    window scale options, the presence of the SACK-permitted and
 *    timestamp options and their payload if any (divergence "syn"); never
 *    on the sequence number, which the secondary sends unrewritten.  The
 *    primary's ISN starts the flow's stream.
 *  - RST: presence is compared.  A primary RST waits for a secondary RST
 *    on the same flow (else "timeout"); sequence numbers and any RST
 *    payload are ignored.
 *  - Ignored, because they legitimately differ between two guests or depend
 *    only on segmentation and timing: the IP header (id, checksum, TTL,
 *    TOS/ECN, flags, options, IPv6 extension headers), Ethernet addresses,
 *    the TCP checksum, acknowledgment number, window, urgent pointer, PSH,
 *    URG, ECE and CWR flags of non-SYN segments, and every option of a
 *    non-SYN segment (timestamps, SACK blocks).
 *  - Sequence space: every secondary segment after the handshake arrives
 *    rewritten into the primary's space.  The stream starts at ISN + 1 when
 *    the primary's SYN or SYN+ACK was seen; otherwise (engine start, after
 *    a checkpoint, expired entry) at the sequence number of the first
 *    primary segment carrying data or FIN, and the secondary is aligned at
 *    the same absolute sequence number (its bytes before that point are
 *    dropped).  Until the first bytes are compared, if the secondary's
 *    data starts beyond that point, the point moves forward to it: the
 *    primary's first segment was a retransmission (of bytes both guests
 *    sent before their states were made equal) that only the primary's
 *    timer happened to send; the stream offset counts the bytes skipped.
 *  - IP fragments of TCP are compared as datagrams (see UDP).  When no
 *    segment covers the comparison point but both sides' next segments
 *    start at the same sequence number, the point moves there: neither
 *    stream holds the bytes in between (both sent them as fragments, or
 *    malformed); the stream offset counts them.
 *
 * UDP, ICMP, ICMPv6, other IP protocols and IP fragments: per flow, first
 * in first compared (FIFO).  The L4 header and payload are compared
 * (UDP/ICMP checksums excepted), as are the fragment fields (offset, MF);
 * the rest of the IP header and Ethernet addresses are ignored, as for TCP
 * (L2 addressing comes from ARP/ND state, itself compared through ARP and
 * ICMPv6 frames).  Different lengths give "size", a different L4 header
 * "header", a different payload "payload".
 *
 * Other frames (ARP, any non-IP ethertype): FIFO per ethertype and VLAN,
 * the whole frame from the Ethernet header to its end compared ("header"
 * if the difference is in the Ethernet/VLAN headers, else "payload";
 * "size" for different lengths).
 *
 * IPv6 and VLAN-tagged traffic is compared exactly like IPv4 (the VLAN ids
 * are part of the flow key).  The virtio-net header is never compared.
 *
 * Divergences and diverged flows
 * ------------------------------
 * On a divergence on a flow the engine reports it once, releases the
 * flow's queued primary frames in order, drops its secondary frames, and
 * marks the flow diverged: until the next colo_cmp_engine_checkpoint() its
 * primary frames are released at once and its secondary frames dropped,
 * with no further report.  (The secondary's state is known to be wrong;
 * comparing further would only stall the primary.)  A checkpoint makes the
 * secondary equal to the primary again and resets all comparison state.
 *
 * Bounds
 * ------
 * - A primary frame waits at most compare_timeout: then its flow diverges
 *   ("timeout").  A secondary frame that waited as long without a primary
 *   counterpart is dropped and counted, without a divergence: output the
 *   secondary produced and the primary did not was never seen by anyone,
 *   so it does not matter on failover (TCP retransmits, UDP may lose
 *   datagrams); if it shows a real difference, the primary frames that
 *   follow reveal it.
 * - Each flow queues at most max_queue_size frames per side.  A primary
 *   frame that does not fit makes the flow diverge ("queue-full"): it is
 *   released after the queued ones, never lost.  A secondary frame that
 *   does not fit is dropped and the flow diverges ("queue-full", side
 *   secondary).  So at most max_connections * 2 * max_queue_size frames
 *   are held.
 * - Connection entries holding queued frames are pinned in the connection
 *   table; the others are evicted LRU or expired after being idle.  If the
 *   table is full of pinned entries, a primary frame that needs comparison
 *   is released at once ("table-full"), a secondary one dropped.
 * - Malformed frames (packet layer error): a primary one is released at
 *   once ("malformed"; it has no flow, so it is not ordered with any), a
 *   secondary one dropped and counted.
 *
 * Frames are copied only when queued (one allocation, recycled through a
 * free list); a frame that can be decided on arrival is released from, or
 * dropped with, the caller's buffer.
 */

#ifndef NET_COLO_COMPARE_ENGINE_H
#define NET_COLO_COMPARE_ENGINE_H

#include "net/colo.h"

typedef struct ColoCompareEngine ColoCompareEngine;

/** Defaults used for the #ColoCmpConfig fields left at 0. */
#define COLO_CMP_DEFAULT_MAX_CONNECTIONS    65536
#define COLO_CMP_DEFAULT_MAX_QUEUE_SIZE     1024
#define COLO_CMP_DEFAULT_TIMEOUT_NS         (3000 * 1000 * 1000LL)
#define COLO_CMP_DEFAULT_CONN_IDLE_NS       (120 * 1000 * 1000 * 1000LL)

/**
 * ColoCmpSide: where a frame comes from.
 */
typedef enum ColoCmpSide {
    COLO_CMP_PRIMARY = 0,
    COLO_CMP_SECONDARY = 1,
} ColoCmpSide;

/**
 * ColoCmpReason: why a divergence was reported.
 *
 * colo_cmp_reason_name() gives each a stable name (in brackets) for
 * counters and trace events.
 *
 * @COLO_CMP_DIV_PAYLOAD: ["payload"] different TCP stream bytes, or
 *     different L4 payload bytes of a datagram / bytes after the L2 header
 *     of a non-IP frame.
 * @COLO_CMP_DIV_SIZE: ["size"] datagrams or non-IP frames of different
 *     lengths (L4 header + payload for IP, the frame otherwise).
 * @COLO_CMP_DIV_HEADER: ["header"] a compared header field differs (L4
 *     header of a datagram, IP fragment fields, L2 header of a non-IP
 *     frame).
 * @COLO_CMP_DIV_SYN: ["syn"] SYN+ACKs with different flags, options that
 *     matter, or payload.
 * @COLO_CMP_DIV_FIN: ["fin"] a FIN on one side where the other has a data
 *     byte (a FIN at different stream positions).
 * @COLO_CMP_DIV_TIMEOUT: ["timeout"] a primary frame waited
 *     compare_timeout for its counterpart.
 * @COLO_CMP_DIV_QUEUE_FULL: ["queue-full"] a flow's queue on one side was
 *     full.
 * @COLO_CMP_DIV_MALFORMED: ["malformed"] a primary frame the packet layer
 *     rejected (see #ColoCmpDivergence.pkt_error).
 * @COLO_CMP_DIV_TABLE_FULL: ["table-full"] no connection entry could be
 *     made for a primary frame that needs comparison.
 */
typedef enum ColoCmpReason {
    COLO_CMP_DIV_PAYLOAD = 0,
    COLO_CMP_DIV_SIZE,
    COLO_CMP_DIV_HEADER,
    COLO_CMP_DIV_SYN,
    COLO_CMP_DIV_FIN,
    COLO_CMP_DIV_TIMEOUT,
    COLO_CMP_DIV_QUEUE_FULL,
    COLO_CMP_DIV_MALFORMED,
    COLO_CMP_DIV_TABLE_FULL,
    COLO_CMP_DIV__MAX,
} ColoCmpReason;

/**
 * ColoCmpDivergence: what the divergence callback receives (valid during
 * the call only).
 *
 * @reason: see #ColoCmpReason
 * @side: side of the frame that revealed it (for "queue-full": the side
 *        whose frame did not fit; for comparisons: the side of the frame
 *        being input; "timeout", "table-full" and "malformed" are always
 *        %COLO_CMP_PRIMARY)
 * @has_key: false for "malformed" (no flow)
 * @key: the flow, directional (source first) as built by
 *       colo_flow_key_from_packet(); zero if !@has_key
 * @tcp_stream: true if @offset is a TCP stream offset, false if it is a
 *              frame offset
 * @offset: first differing byte.  TCP stream offset: bytes since the start
 *          of the flow's stream as the engine knows it (ISN + 1, or the
 *          first primary segment seen after the last reset; see above),
 *          i.e. the comparison point for "timeout"/"queue-full" on TCP.
 *          Frame offset: from the start of the Ethernet header (the
 *          virtio-net header is not counted) in the primary frame; for
 *          "size" the first difference within the common length, or that
 *          length if the common part is equal; 0 when no bytes were
 *          compared (non-TCP "timeout" and "queue-full", "table-full",
 *          "malformed", "syn")
 * @primary_len / @secondary_len: lengths (as input) of the two frames
 *          compared, or 0 when there is no such frame
 * @pkt_error: for "malformed", the packet layer's verdict; else
 *             %COLO_PKT_OK
 */
typedef struct ColoCmpDivergence {
    ColoCmpReason reason;
    ColoCmpSide side;
    bool has_key;
    bool tcp_stream;
    ColoFlowKey key;
    uint64_t offset;
    size_t primary_len;
    size_t secondary_len;
    ColoPktError pkt_error;
} ColoCmpDivergence;

/**
 * ColoCmpReleaseFn:
 * @opaque: #ColoCmpConfig.opaque
 * @frame: a primary frame, exactly as input (virtio-net header included);
 *         valid during the call only: copy it before returning
 * @len: its length
 *
 * Send @frame to the outside now.  Called in per-flow input order.
 */
typedef void ColoCmpReleaseFn(void *opaque, const uint8_t *frame,
                              size_t len);

/**
 * ColoCmpDivergenceFn:
 * @opaque: #ColoCmpConfig.opaque
 * @d: the divergence (valid during the call only)
 *
 * Report a divergence: the adapter traces it and requests a checkpoint.
 * Called before the releases it causes.
 */
typedef void ColoCmpDivergenceFn(void *opaque, const ColoCmpDivergence *d);

/*
 * Below this many connections their state stays in the CPU caches and
 * looking ahead costs more than it saves (bench/colo-compare-engine-bench:
 * about 5% slower with 16 or 100 connections, 10-20% faster with 10,000).
 */
#define COLO_CMP_DEFAULT_LOOKAHEAD_MIN_CONNS 1024

/**
 * ColoCmpConfig: engine configuration (copied by colo_cmp_engine_new()).
 *
 * @max_connections: connection entries (flows) tracked at most
 *                   (0: %COLO_CMP_DEFAULT_MAX_CONNECTIONS)
 * @max_queue_size: frames queued at most per flow and per side
 *                  (0: %COLO_CMP_DEFAULT_MAX_QUEUE_SIZE)
 * @compare_timeout_ns: how long a frame may wait for its counterpart
 *                      (<= 0: %COLO_CMP_DEFAULT_TIMEOUT_NS)
 * @conn_idle_timeout_ns: flows without queued frames and idle this long
 *                        are forgotten (<= 0:
 *                        %COLO_CMP_DEFAULT_CONN_IDLE_NS)
 * @vnet_hdr_len: virtio-net header length at the start of every frame of
 *                both sides (0 if none)
 * @hash_seed: connection table hash seed (pass a random value)
 * @lookahead_min_conns: colo_cmp_engine_input_burst() looks ahead over
 *                       its burst from this many tracked connections
 *                       (0: %COLO_CMP_DEFAULT_LOOKAHEAD_MIN_CONNS; tests
 *                       pass 1 to always look ahead)
 * @release: mandatory, see #ColoCmpReleaseFn
 * @divergence: optional, see #ColoCmpDivergenceFn
 * @opaque: passed to the callbacks
 */
typedef struct ColoCmpConfig {
    uint32_t max_connections;
    uint32_t max_queue_size;
    int64_t compare_timeout_ns;
    int64_t conn_idle_timeout_ns;
    uint32_t vnet_hdr_len;
    uint32_t hash_seed;
    uint32_t lookahead_min_conns;
    ColoCmpReleaseFn *release;
    ColoCmpDivergenceFn *divergence;
    void *opaque;
} ColoCmpConfig;

/**
 * ColoCmpStats: counters, all cumulative except those marked "now".
 *
 * Every primary frame input is released exactly once, under exactly one
 * of the released_* headings, so their sum is the number of primary frames
 * released; every secondary frame input is dropped exactly once, under
 * exactly one of the secondary_* headings.
 *
 * @frames_in / @bytes_in: frames and bytes input, per #ColoCmpSide
 * @released_frames / @released_bytes: primary frames released
 * @released_identical: released because the secondary sent the same
 * @released_uncompared: released with nothing to compare (pure ACKs,
 *                       SYNs without ACK, retransmissions)
 * @released_diverged: released unverified because of a divergence (on
 *                     their flow, including "timeout", "queue-full",
 *                     "table-full" and "malformed")
 * @released_checkpoint: released by colo_cmp_engine_checkpoint()
 * @released_failover: released by colo_cmp_engine_failover() or after it
 * @secondary_matched: dropped after their data was compared
 * @secondary_uncompared: dropped with nothing to compare (pure ACKs,
 *                        SYNs without ACK, retransmissions)
 * @secondary_diverged: dropped because their flow diverged
 * @secondary_malformed: dropped because the packet layer rejected them
 * @secondary_table_full: dropped because no connection entry was free
 * @secondary_overflow: dropped because their flow's queue was full
 * @secondary_expired: dropped after waiting compare_timeout
 * @secondary_checkpoint: dropped by colo_cmp_engine_checkpoint()
 * @secondary_failover: dropped by colo_cmp_engine_failover() or after it
 * @divergences: divergences reported, per #ColoCmpReason
 * @checkpoints: colo_cmp_engine_checkpoint() calls
 * @connections: connection entries (now)
 * @queued_frames / @queued_bytes: frames and bytes queued, per side (now)
 */
typedef struct ColoCmpStats {
    uint64_t frames_in[2];
    uint64_t bytes_in[2];
    uint64_t released_frames;
    uint64_t released_bytes;
    uint64_t released_identical;
    uint64_t released_uncompared;
    uint64_t released_diverged;
    uint64_t released_checkpoint;
    uint64_t released_failover;
    uint64_t secondary_matched;
    uint64_t secondary_uncompared;
    uint64_t secondary_diverged;
    uint64_t secondary_malformed;
    uint64_t secondary_table_full;
    uint64_t secondary_overflow;
    uint64_t secondary_expired;
    uint64_t secondary_checkpoint;
    uint64_t secondary_failover;
    uint64_t divergences[COLO_CMP_DIV__MAX];
    uint64_t checkpoints;
    uint32_t connections;
    uint32_t queued_frames[2];
    uint64_t queued_bytes[2];
} ColoCmpStats;

/**
 * colo_cmp_reason_name:
 * @reason: a reason
 *
 * Returns: its constant, stable name (see #ColoCmpReason); "invalid" if
 * out of range.
 */
const char *colo_cmp_reason_name(ColoCmpReason reason);

/**
 * colo_cmp_side_name:
 * Returns: "primary" or "secondary" ("invalid" if out of range).
 */
const char *colo_cmp_side_name(ColoCmpSide side);

/**
 * colo_cmp_engine_new:
 * @cfg: configuration (copied); @cfg->release must be set
 *
 * Returns: a new engine, in comparing mode, with no flow.
 */
ColoCompareEngine *colo_cmp_engine_new(const ColoCmpConfig *cfg);

/**
 * colo_cmp_engine_free:
 * @e: engine (may be NULL)
 *
 * Free the engine.  Queued frames are discarded *without* being released:
 * call colo_cmp_engine_checkpoint() or colo_cmp_engine_failover() first
 * to flush them.  No callback is called.
 */
void colo_cmp_engine_free(ColoCompareEngine *e);

/**
 * colo_cmp_engine_input:
 * @e: engine
 * @side: which guest the frame comes from
 * @frame: the frame (@cfg->vnet_hdr_len bytes of virtio-net header, then
 *         Ethernet); only read during the call, copied if it must be kept
 * @len: its length
 * @now_ns: current time (times going backwards are taken as the latest
 *          time seen)
 *
 * Feed one frame.  Any number of release and divergence callbacks may
 * run before this returns (this frame and/or earlier frames of its flow).
 */
void colo_cmp_engine_input(ColoCompareEngine *e, ColoCmpSide side,
                           const uint8_t *frame, size_t len, int64_t now_ns);

/**
 * ColoCmpFrameRef:
 * @data: a frame, as for colo_cmp_engine_input()
 * @len: its length
 */
typedef struct ColoCmpFrameRef {
    const uint8_t *data;
    size_t len;
} ColoCmpFrameRef;

/* Frames colo_cmp_engine_input_burst() looks ahead at most. */
#define COLO_CMP_BURST 16

/**
 * colo_cmp_engine_input_burst:
 * @e: engine
 * @side: which guest the frames come from
 * @frames: @n frames, in their order of arrival
 * @n: how many
 * @now_ns: current time, as for colo_cmp_engine_input()
 *
 * Same as colo_cmp_engine_input() on each frame in turn, but faster with
 * many flows: the connection lookups of up to %COLO_CMP_BURST frames are
 * started together, so that their cache misses overlap.
 */
void colo_cmp_engine_input_burst(ColoCompareEngine *e, ColoCmpSide side,
                                 const ColoCmpFrameRef *frames, size_t n,
                                 int64_t now_ns);

/**
 * colo_cmp_engine_expire:
 * @e: engine
 * @now_ns: current time
 *
 * Make the flows diverge whose oldest queued primary frame has waited
 * compare_timeout ("timeout"; their primary frames are released), drop
 * secondary frames that waited as long, and forget connection entries
 * idle for conn_idle_timeout.
 *
 * Returns: the absolute time (same origin as @now_ns) at which the next
 * queued frame will time out, i.e. when to call this again; INT64_MAX if
 * nothing is queued.  Idle entry expiry has no deadline of its own: also
 * call this every few seconds (e.g. each expired_scan_cycle).
 */
int64_t colo_cmp_engine_expire(ColoCompareEngine *e, int64_t now_ns);

/**
 * colo_cmp_engine_next_deadline:
 * Returns: as colo_cmp_engine_expire() would, without expiring anything.
 */
int64_t colo_cmp_engine_next_deadline(const ColoCompareEngine *e);

/**
 * colo_cmp_engine_checkpoint:
 * @e: engine
 *
 * A checkpoint happened (the secondary's state is now the primary's):
 * release every queued primary frame (in per-flow input order; in fact in
 * global input order), drop every secondary frame and reset all per-flow
 * comparison state (TCP streams restart at the next primary segment,
 * diverged flows are compared again).  Cost is proportional to the queued
 * frames, not to the number of flows.  No divergence is reported.
 */
void colo_cmp_engine_checkpoint(ColoCompareEngine *e);

/**
 * colo_cmp_engine_failover:
 * @e: engine
 *
 * The secondary is gone or the primary carries on alone: release every
 * queued primary frame (as colo_cmp_engine_checkpoint()), drop every
 * secondary frame, and from now on release primary frames as they are
 * input and drop secondary ones.  Irreversible.
 */
void colo_cmp_engine_failover(ColoCompareEngine *e);

/**
 * colo_cmp_engine_is_failover:
 * Returns: true once colo_cmp_engine_failover() was called.
 */
bool colo_cmp_engine_is_failover(const ColoCompareEngine *e);

/**
 * colo_cmp_engine_get_stats:
 * @e: engine
 * @stats: filled with a snapshot of the counters (cheap: a copy)
 */
void colo_cmp_engine_get_stats(const ColoCompareEngine *e,
                               ColoCmpStats *stats);

#endif /* NET_COLO_COMPARE_ENGINE_H */
