/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * COLO proxy TCP rewrite logic (see colo-rewrite.h).
 *
 * Two name spaces
 * ---------------
 * Frames from the guest carry the secondary guest's port Ps; frames
 * towards the guest carry the primary's port Pp.  For connections the
 * guest opened the two differ, and a flow key of one side may well name
 * an unrelated connection of the other side.  So there are two tables:
 *
 * - @conns, keyed by the connection as the secondary guest sees it
 *   (canonical key with Ps).  It owns the per-connection state (#RwConn
 *   in the entry's private area), follows the TCP state in the guest's
 *   own sequence space, and bounds, evicts and expires the entries.
 *   Frames from the guest are looked up here.
 * - @by_peer, keyed by the connection as the peers see it (with Pp); an
 *   index whose entries point at the #RwConn.  Frames towards the guest
 *   are looked up here.  A connection gets its index entry once the
 *   primary's port is known: at once for a connection the peer opens,
 *   when its SYN-ACK is paired for one the guest opens.
 *
 * Guest SYNs waiting for their SYN-ACK also sit on a FIFO per destination
 * (guest address, peer address and port, VLANs) in a third table,
 * @pending, so that a SYN-ACK finds the oldest unpaired SYN to its
 * destination in O(1).
 *
 * Index and pending entries die with their #RwConn: the destroy callback
 * of @conns removes them (from the other tables, which is allowed).
 *
 * Connections being rewritten are pinned in @conns, so that a SYN flood
 * evicts only entries that rewrite nothing; they sit on @rewriting,
 * least recently active first, for their own (long) idle timeout.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/queue.h"
#include "net/colo-conn.h"
#include "net/colo-rewrite.h"

typedef enum RwState {
    RW_PASSIVE_SYN = 0,     /* peer's SYN seen; guest's ISN unknown */
    RW_PASSIVE_SYNACK,      /* guest's SYN-ACK seen; waiting for an ACK */
    RW_ACTIVE_SYN,          /* guest's SYN seen; not paired yet */
    RW_ACTIVE_PAIRED,       /* paired (simultaneous open); offset unknown */
    RW_MAPPED,              /* offset (and primary port) known */
} RwState;

typedef struct RwConn RwConn;

struct RwConn {
    ColoConn *idx;                  /* entry in @by_peer, or NULL */
    ColoConn *group;                /* entry in @pending, or NULL */
    QTAILQ_ENTRY(RwConn) pend_next; /* on the group's list */
    QTAILQ_ENTRY(RwConn) rw_next;   /* on @rewriting while pinned */
    ColoFlowKey gkey;               /* guest's view, guest -> peer */
    uint32_t guest_isn;
    uint32_t guest_tsval;           /* TSval of the guest's SYN */
    uint32_t peer_isn;
    uint32_t primary_isn;           /* if pisn_known */
    uint32_t offset;                /* primary ISN - guest ISN */
    uint32_t guest_ack;             /* the guest's latest ack, if acked */
    uint16_t primary_port;          /* == gkey.sport unless mapped */
    uint8_t state;                  /* RwState */
    bool active;                    /* opened by the guest */
    bool pinned;
    bool pisn_known;                /* passive: the peer acked Ip first */
    bool guest_ts;                  /* guest_tsval is known */
    bool acked;                     /* the guest sent an ACK */
    uint8_t guest_dir;              /* ColoDir of frames from the guest */
};

typedef QTAILQ_HEAD(RwConnList, RwConn) RwConnList;

typedef struct RwIdx {
    RwConn *conn;
} RwIdx;

typedef struct RwGroup {
    RwConnList list;                /* oldest SYN first */
} RwGroup;

/*
 * A SYN-ACK towards the guest parked until the guest's SYN (see
 * colo-rewrite.h).  At most @park_max of them, on @parked oldest first.
 */
typedef struct RwParked {
    QTAILQ_ENTRY(RwParked) next;
    ColoFlowKey dk;                 /* destination, guest's view, sport 0 */
    ColoFlowKey ck;                 /* canonical key of the primary's flow */
    uint16_t primary_port;
    bool ready;                     /* releasable */
    bool claimed;                   /* paired with a guest SYN */
    bool process;                   /* pass through to_guest on release */
    bool syn_ack;                   /* else a later frame of the flow */
    int64_t since;
    size_t vnet_hdr_len;
    size_t len;
    uint8_t frame[];
} RwParked;

typedef QTAILQ_HEAD(RwParkedList, RwParked) RwParkedList;

/* Removal reason meaning "closed or idle, ask the entry" */
#define RW_RM_EXPIRING COLO_RW_RM__MAX

struct ColoRewriter {
    ColoRewriterConfig cfg;
    ColoConnTable *conns;
    ColoConnTable *by_peer;
    ColoConnTable *pending;
    RwConnList rewriting;
    ColoRewriteCounters cnt;
    unsigned rm_reason;             /* for conn_destroy() */
    bool freeing;
    bool releasing;                 /* no parking: releasing a frame */
    RwParkedList parked;
    uint32_t n_ready;

};

/*
 * Helpers
 */

static bool elapsed(int64_t now, int64_t then, int64_t span)
{
    return now >= then && (uint64_t)now - (uint64_t)then >= (uint64_t)span;
}

static RwConn *conn_rec(ColoConn *c)
{
    return colo_conn_priv(c);
}

static ColoConn *rec_conn(RwConn *r)
{
    return colo_conn_from_priv(r);
}

static bool rec_rewrites(const RwConn *r)
{
    return r->state == RW_MAPPED &&
           (r->offset != 0 || r->primary_port != r->gkey.sport);
}

static void emit(ColoRewriter *rw, ColoRewriteEventKind kind,
                 ColoRewriteDir dir, const RwConn *r, const ColoFlowKey *key,
                 ColoRewriteRemoveReason reason)
{
    ColoRewriteEvent ev = {
        .kind = kind,
        .dir = dir,
        .key = r ? &r->gkey : key,
        .reason = reason,
    };

    if (!rw->cfg.event) {
        return;
    }
    if (r) {
        ev.guest_port = r->gkey.sport;
        ev.primary_port = r->primary_port;
        ev.offset = r->offset;
    } else if (key) {
        ev.guest_port = ev.primary_port = key->sport;
    }
    rw->cfg.event(&ev, rw->cfg.opaque);
}

/*
 * Pending lists
 */

static void pending_add(ColoRewriter *rw, RwConn *r, int64_t now)
{
    ColoFlowKey dk = r->gkey;
    ColoConn *g;
    RwGroup *grp;

    dk.sport = 0;
    switch (colo_conn_lookup_or_create(rw->pending, &dk, now, &g)) {
    case COLO_CONN_CREATED:
        grp = colo_conn_priv(g);
        QTAILQ_INIT(&grp->list);
        break;
    case COLO_CONN_FOUND:
        grp = colo_conn_priv(g);
        break;
    default:
        /* Cannot happen (fewer groups than entries); pair by port only. */
        return;
    }
    QTAILQ_INSERT_TAIL(&grp->list, r, pend_next);
    r->group = g;
}

static void pending_del(ColoRewriter *rw, RwConn *r)
{
    ColoConn *g = r->group;
    RwGroup *grp;

    if (!g) {
        return;
    }
    grp = colo_conn_priv(g);
    QTAILQ_REMOVE(&grp->list, r, pend_next);
    r->group = NULL;
    if (QTAILQ_EMPTY(&grp->list)) {
        colo_conn_remove(rw->pending, g);
    }
}

/* Leave RW_ACTIVE_SYN */
static void leave_pending(ColoRewriter *rw, RwConn *r)
{
    if (r->state == RW_ACTIVE_SYN) {
        pending_del(rw, r);
        rw->cnt.pending--;
    }
}

static void group_destroy(ColoConn *g, void *opaque)
{
    RwGroup *grp = colo_conn_priv(g);
    RwConn *r, *next;

    /* Only if a group was evicted, which the bounds rule out. */
    QTAILQ_FOREACH_SAFE(r, &grp->list, pend_next, next) {
        QTAILQ_REMOVE(&grp->list, r, pend_next);
        r->group = NULL;
    }
}

/*
 * Index
 */

static void idx_destroy(ColoConn *ic, void *opaque)
{
    RwIdx *idx = colo_conn_priv(ic);

    if (idx->conn) {
        idx->conn->idx = NULL;
    }
}

static void idx_del(ColoRewriter *rw, RwConn *r)
{
    ColoConn *ic = r->idx;

    if (ic) {
        RwIdx *idx = colo_conn_priv(ic);

        idx->conn = NULL;
        r->idx = NULL;
        colo_conn_remove(rw->by_peer, ic);
    }
}

/* Index @r under @pkey (canonical key of the primary's flow). */
static bool idx_add(ColoRewriter *rw, RwConn *r, const ColoFlowKey *pkey,
                    int64_t now)
{
    ColoConn *ic;
    RwIdx *idx;

    idx_del(rw, r);
    switch (colo_conn_lookup_or_create(rw->by_peer, pkey, now, &ic)) {
    case COLO_CONN_CREATED:
    case COLO_CONN_FOUND:
        break;
    default:
        return false;
    }
    idx = colo_conn_priv(ic);
    if (idx->conn && idx->conn != r) {
        /* Cannot happen: callers look the key up first. */
        idx->conn->idx = NULL;
    }
    idx->conn = r;
    r->idx = ic;
    return true;
}

/*
 * Connection entries
 */

static void conn_destroy(ColoConn *c, void *opaque)
{
    ColoRewriter *rw = opaque;
    RwConn *r = conn_rec(c);
    ColoRewriteRemoveReason reason = rw->rm_reason;

    if (reason == RW_RM_EXPIRING) {
        reason = colo_conn_is_closed(c) ? COLO_RW_RM_CLOSED : COLO_RW_RM_IDLE;
    }
    idx_del(rw, r);
    leave_pending(rw, r);
    if (r->pinned) {
        QTAILQ_REMOVE(&rw->rewriting, r, rw_next);
        r->pinned = false;
    }
    if (rw->freeing) {
        return;
    }
    switch (reason) {
    case COLO_RW_RM_CLOSED:
    case COLO_RW_RM_IDLE:
        rw->cnt.entries_expired++;
        break;
    case COLO_RW_RM_EVICTED:
        rw->cnt.entries_evicted++;
        break;
    default:
        break;
    }
    emit(rw, COLO_RW_EV_REMOVED, COLO_RW_TO_GUEST, r, NULL, reason);
}

static void conn_remove(ColoRewriter *rw, ColoConn *c,
                        ColoRewriteRemoveReason reason)
{
    rw->rm_reason = reason;
    colo_conn_remove(rw->conns, c);
    rw->rm_reason = COLO_RW_RM_EVICTED;
}

/*
 * Create the entry of @gkey (the guest's view, guest -> peer), which the
 * caller made sure does not exist.  NULL if the table is full.
 */
static RwConn *conn_create(ColoRewriter *rw, const ColoFlowKey *gkey,
                           ColoRewriteDir dir, int64_t now)
{
    ColoFlowKey ck = *gkey;
    ColoDir gdir = colo_flow_key_canonicalize(&ck) ? COLO_DIR_REV
                                                   : COLO_DIR_FWD;
    ColoConn *c;
    RwConn *r;

    if (colo_conn_count(rw->conns) >= colo_conn_max(rw->conns)) {
        /* Full: whatever has timed out goes before anything is evicted */
        colo_rewriter_expire(rw, now);
    }
    rw->rm_reason = COLO_RW_RM_EVICTED;
    if (colo_conn_lookup_or_create(rw->conns, &ck, now, &c) !=
        COLO_CONN_CREATED) {
        if (!c) {
            rw->cnt.table_full++;
            emit(rw, COLO_RW_EV_TABLE_FULL, dir, NULL, gkey, 0);
        }
        return NULL;
    }
    r = conn_rec(c);
    r->gkey = *gkey;
    r->guest_dir = gdir;
    r->primary_port = gkey->sport;
    return r;
}

/* Pin what rewrites, so that only entries that rewrite nothing are evicted */
static void update_pin(ColoRewriter *rw, RwConn *r)
{
    ColoConn *c = rec_conn(r);
    bool want = rec_rewrites(r) && !colo_conn_is_closed(c);

    if (want && !r->pinned) {
        colo_conn_pin(rw->conns, c);
        QTAILQ_INSERT_TAIL(&rw->rewriting, r, rw_next);
        r->pinned = true;
    } else if (!want && r->pinned) {
        QTAILQ_REMOVE(&rw->rewriting, r, rw_next);
        colo_conn_unpin(rw->conns, c);
        r->pinned = false;
    } else if (want) {
        /* most recently active last */
        QTAILQ_REMOVE(&rw->rewriting, r, rw_next);
        QTAILQ_INSERT_TAIL(&rw->rewriting, r, rw_next);
    }
}

static void learn_offset(ColoRewriter *rw, RwConn *r, uint32_t primary_isn,
                         ColoRewriteDir dir)
{
    r->offset = primary_isn - r->guest_isn;
    r->state = RW_MAPPED;
    rw->cnt.offsets_learned++;
    emit(rw, COLO_RW_EV_OFFSET_LEARNED, dir, r, NULL, 0);
}

/*
 * Patches
 */

static void add_op(ColoRewritePatch *p, size_t off, uint32_t val,
                   uint8_t size)
{
    uint32_t old = size == 2 ? lduw_be_p(p->pkt.data + off)
                             : ldl_be_p(p->pkt.data + off);

    if (old != val && p->n_ops < COLO_RW_MAX_PATCH_OPS) {
        p->ops[p->n_ops].off = off;
        p->ops[p->n_ops].val = val;
        p->ops[p->n_ops].size = size;
        p->n_ops++;
    }
}

size_t colo_rewrite_patch_extent(const ColoRewritePatch *patch)
{
    return patch->pkt.payload_off;
}

void colo_rewrite_patch_apply(const ColoRewritePatch *patch, uint8_t *buf)
{
    unsigned i;

    for (i = 0; i < patch->n_ops; i++) {
        if (patch->ops[i].size == 2) {
            colo_packet_patch16(buf, &patch->pkt, patch->ops[i].off,
                                patch->ops[i].val);
        } else {
            colo_packet_patch32(buf, &patch->pkt, patch->ops[i].off,
                                patch->ops[i].val);
        }
    }
}

/*
 * Parked SYN-ACKs
 */

static void park_ready(ColoRewriter *rw, RwParked *p, bool process)
{
    if (!p->ready) {
        p->ready = true;
        p->process = process;
        rw->n_ready++;
    }
}

static void park_add(ColoRewriter *rw, const uint8_t *frame, size_t len,
                     size_t vnet_hdr_len, const ColoFlowKey *key,
                     uint8_t tcp_flags, int64_t now)
{
    RwParked *p = g_malloc0(sizeof(*p) + len);
    RwParked *q;

    p->dk = *key;
    colo_flow_key_reverse(&p->dk);
    p->primary_port = p->dk.sport;
    p->dk.sport = 0;
    p->ck = *key;
    colo_flow_key_canonicalize(&p->ck);
    p->since = now;
    p->syn_ack = (tcp_flags & (COLO_TCP_SYN | COLO_TCP_ACK)) ==
                 (COLO_TCP_SYN | COLO_TCP_ACK);
    p->vnet_hdr_len = vnet_hdr_len;
    p->len = len;
    memcpy(p->frame, frame, len);
    /*
     * The flow's frames are releasable already, waiting for the release:
     * claimed by a guest SYN (park_claim() will not run for this one), or
     * let go by a checkpoint, failover or expiry.  This one goes right
     * behind them, the same way (rewritten or not).
     */
    QTAILQ_FOREACH_REVERSE(q, &rw->parked, next) {
        if (colo_flow_key_equal(&q->ck, &p->ck)) {
            if (q->ready) {
                p->claimed = q->claimed;
                park_ready(rw, p, q->process);
            }
            break;
        }
    }
    QTAILQ_INSERT_TAIL(&rw->parked, p, next);
    rw->cnt.parked++;
    if (p->syn_ack) {
        rw->cnt.parked_syn_acks++;
    }
    emit(rw, COLO_RW_EV_PARKED, COLO_RW_TO_GUEST, NULL, key, 0);
}

/*
 * The guest's new SYN @r (pending): pair it with the oldest parked
 * SYN-ACK to its destination, one for the guest's own port first, as
 * peer_syn_ack() would have, and make that SYN-ACK releasable.
 */
static void park_claim(ColoRewriter *rw, RwConn *r, int64_t now)
{
    ColoFlowKey dk = r->gkey;
    RwParked *p, *best = NULL;

    if (r->state != RW_ACTIVE_SYN || QTAILQ_EMPTY(&rw->parked)) {
        return;
    }
    dk.sport = 0;
    QTAILQ_FOREACH(p, &rw->parked, next) {
        if (p->ready || !p->syn_ack || !colo_flow_key_equal(&p->dk, &dk) ||
            colo_conn_lookup(rw->by_peer, &p->ck)) {
            continue;
        }
        if (p->primary_port == r->gkey.sport) {
            best = p;
            break;
        }
        if (!best) {
            best = p;
        }
    }
    if (!best || !idx_add(rw, r, &best->ck, now)) {
        return;
    }
    leave_pending(rw, r);
    r->primary_port = best->primary_port;
    r->state = RW_ACTIVE_PAIRED;
    rw->cnt.ports_mapped++;
    emit(rw, COLO_RW_EV_PORT_MAPPED, COLO_RW_FROM_GUEST, r, NULL, 0);
    /* Its retransmissions and the later frames of the flow go with it */
    QTAILQ_FOREACH(p, &rw->parked, next) {
        if (!p->ready && colo_flow_key_equal(&p->ck, &best->ck)) {
            p->claimed = true;
            park_ready(rw, p, true);
        }
    }
}

/* Is a frame of the primary's flow @ck parked (waiting for a SYN)? */
static bool park_holds(ColoRewriter *rw, const ColoFlowKey *ck)
{
    RwParked *p;

    QTAILQ_FOREACH(p, &rw->parked, next) {
        if (colo_flow_key_equal(&p->ck, ck)) {
            return true;
        }
    }
    return false;
}

/*
 * Make every parked frame releasable, unchanged; with @keep_claimed (the
 * connection entries stay: failover), the frames a guest SYN claimed are
 * still passed through the to-guest path, to reach the guest rewritten.
 */
static void park_flush(ColoRewriter *rw, bool keep_claimed)
{
    RwParked *p;

    QTAILQ_FOREACH(p, &rw->parked, next) {
        park_ready(rw, p, false);
        if (!keep_claimed || !p->claimed) {
            p->process = false;
        }
    }
}

static ColoRewriteResult handle_in_place(ColoRewriter *rw, ColoRewriteDir dir,
                                         uint8_t *frame, size_t len,
                                         size_t vnet_hdr_len, int64_t now);

uint32_t colo_rewriter_release(ColoRewriter *rw, int64_t now,
                               ColoRewriteReleaseFn *fn, void *opaque)
{
    RwParkedList done = QTAILQ_HEAD_INITIALIZER(done);
    RwParked *p, *next;
    uint32_t n = 0;

    QTAILQ_FOREACH_SAFE(p, &rw->parked, next, next) {
        if (p->ready) {
            QTAILQ_REMOVE(&rw->parked, p, next);
            QTAILQ_INSERT_TAIL(&done, p, next);
            rw->n_ready--;
            rw->cnt.parked--;
        }
    }
    while ((p = QTAILQ_FIRST(&done))) {
        QTAILQ_REMOVE(&done, p, next);
        if (p->process) {
            rw->releasing = true;
            handle_in_place(rw, COLO_RW_TO_GUEST, p->frame, p->len,
                            p->vnet_hdr_len, now);
            rw->releasing = false;
        } else if (!p->claimed && p->syn_ack) {
            ColoFlowKey gkey = p->dk;

            gkey.sport = p->primary_port;
            rw->cnt.unmatched_syn_acks++;
            emit(rw, COLO_RW_EV_UNMATCHED, COLO_RW_TO_GUEST, NULL, &gkey, 0);
        }
        fn(p->frame, p->len, p->vnet_hdr_len, opaque);
        g_free(p);
        n++;
    }
    return n;
}

uint32_t colo_rewriter_releasable(const ColoRewriter *rw)
{
    return rw->n_ready;
}

uint32_t colo_rewriter_parked(const ColoRewriter *rw)
{
    return rw->cnt.parked;
}

/*
 * Frames from the guest
 */

static ColoRewriteResult from_guest(ColoRewriter *rw, ColoRewritePatch *p,
                                    const ColoFlowKey *key, int64_t now)
{
    const ColoPacket *pkt = &p->pkt;
    uint8_t f = pkt->tcp_flags;
    bool bare_syn = (f & (COLO_TCP_SYN | COLO_TCP_ACK)) == COLO_TCP_SYN;
    ColoFlowKey ck = *key;
    ColoDir d = colo_flow_key_canonicalize(&ck) ? COLO_DIR_REV
                                                : COLO_DIR_FWD;
    ColoConn *c = colo_conn_lookup(rw->conns, &ck);
    RwConn *r = c ? conn_rec(c) : NULL;

    if (r && d != r->guest_dir) {
        return COLO_RW_UNTRACKED;   /* the peer's side, sent by the guest? */
    }
    if (r && bare_syn &&
        (colo_conn_is_closed(c) || !r->active ||
         r->guest_isn != pkt->tcp_seq)) {
        /* a new connection on the same ports */
        conn_remove(rw, c, COLO_RW_RM_REPLACED);
        r = NULL;
    }
    if (!r) {
        if (!bare_syn || rw->cnt.failed_over) {
            return COLO_RW_UNTRACKED;
        }
        r = conn_create(rw, key, COLO_RW_FROM_GUEST, now);
        if (!r) {
            return COLO_RW_UNTRACKED;
        }
        r->active = true;
        r->guest_isn = pkt->tcp_seq;
        if (pkt->tcp_ts_off) {
            r->guest_ts = true;
            r->guest_tsval = ldl_be_p(pkt->data + pkt->tcp_ts_off);
        }
        r->state = RW_ACTIVE_SYN;
        rw->cnt.pending++;
        pending_add(rw, r, now);
        park_claim(rw, r, now);
    }
    c = rec_conn(r);

    if ((r->state == RW_PASSIVE_SYN || r->state == RW_PASSIVE_SYNACK) &&
        (f & (COLO_TCP_SYN | COLO_TCP_ACK)) == (COLO_TCP_SYN | COLO_TCP_ACK)) {
        /* The guest's own ISN; the offset comes with the peer's ACK... */
        r->guest_isn = pkt->tcp_seq;
        r->state = RW_PASSIVE_SYNACK;
        if (r->pisn_known) {
            /* ...which came first (the primary answered sooner) */
            learn_offset(rw, r, r->primary_isn, COLO_RW_FROM_GUEST);
        }
    }
    if (r->state == RW_MAPPED) {
        add_op(p, pkt->l4_off, r->primary_port, 2);
        add_op(p, pkt->l4_off + 4, pkt->tcp_seq + r->offset, 4);
    }
    if (f & COLO_TCP_ACK) {
        r->guest_ack = pkt->tcp_ack;
        r->acked = true;
    }
    /* TCP state in the guest's own sequence space: before rewriting */
    colo_conn_track(rw->conns, c, pkt, d, now);
    update_pin(rw, r);
    return p->n_ops ? COLO_RW_REWRITTEN : COLO_RW_UNCHANGED;
}

/*
 * Frames towards the guest
 */

/* Is @key (a frame towards the guest) the primary's flow of @r? */
static bool to_guest_matches(const RwConn *r, const ColoFlowKey *key)
{
    return key->dport == r->primary_port && key->sport == r->gkey.dport &&
           !memcmp(key->dst, r->gkey.src, sizeof(key->dst)) &&
           !memcmp(key->src, r->gkey.dst, sizeof(key->src));
}

/* A guest SYN that has not been paired, for the flow @gkey exactly */
static RwConn *find_unpaired(ColoRewriter *rw, const ColoFlowKey *ck,
                             const ColoFlowKey *gkey)
{
    ColoConn *c = colo_conn_lookup(rw->conns, ck);
    RwConn *r = c ? conn_rec(c) : NULL;

    if (r && r->state == RW_ACTIVE_SYN &&
        colo_flow_key_equal(&r->gkey, gkey)) {
        return r;
    }
    return NULL;
}

/* The peer's SYN, towards the guest: passive (or simultaneous) open */
static RwConn *peer_syn(ColoRewriter *rw, const ColoPacket *pkt,
                        const ColoFlowKey *key, const ColoFlowKey *ck,
                        int64_t now)
{
    ColoFlowKey gkey = *key;
    ColoConn *c;
    RwConn *r;

    colo_flow_key_reverse(&gkey);
    r = find_unpaired(rw, ck, &gkey);
    if (r) {
        /*
         * Simultaneous open: the guest sent a SYN on this very flow (both
         * sides bound their ports, so the primary's port is the same).
         * The offset comes with the peer's SYN-ACK.
         */
        if (!idx_add(rw, r, ck, now)) {
            return NULL;
        }
        leave_pending(rw, r);
        r->state = RW_ACTIVE_PAIRED;
        r->peer_isn = pkt->tcp_seq;
        rw->cnt.ports_mapped++;
        emit(rw, COLO_RW_EV_PORT_MAPPED, COLO_RW_TO_GUEST, r, NULL, 0);
        return r;
    }
    c = colo_conn_lookup(rw->conns, ck);
    if (c) {
        if (!colo_conn_is_closed(c)) {
            /* The guest uses this flow for a connection of its own. */
            return NULL;
        }
        conn_remove(rw, c, COLO_RW_RM_REPLACED);
    }
    r = conn_create(rw, &gkey, COLO_RW_TO_GUEST, now);
    if (!r) {
        return NULL;
    }
    r->peer_isn = pkt->tcp_seq;
    r->state = RW_PASSIVE_SYN;
    if (!idx_add(rw, r, ck, now)) {
        conn_remove(rw, rec_conn(r), COLO_RW_RM_EVICTED);
        return NULL;
    }
    return r;
}

/*
 * The peer's SYN-ACK for a connection the primary opened: pair it with a
 * SYN of the guest to the same destination.  A SYN from the very same
 * port is preferred (applications that bind their port get it on both
 * sides); otherwise the oldest unpaired SYN, as both guests open their
 * connections in the same order.
 */
static RwConn *peer_syn_ack(ColoRewriter *rw, const ColoFlowKey *key,
                            const ColoFlowKey *ck, int64_t now, bool *park)
{
    ColoFlowKey gkey = *key;
    RwConn *r;

    colo_flow_key_reverse(&gkey);
    r = find_unpaired(rw, ck, &gkey);
    if (!r) {
        ColoFlowKey dk = gkey;
        ColoConn *g;

        dk.sport = 0;
        g = colo_conn_lookup(rw->pending, &dk);
        if (g) {
            r = QTAILQ_FIRST(&((RwGroup *)colo_conn_priv(g))->list);
        }
    }
    if (!r && !rw->releasing && rw->cnt.parked < rw->cfg.park_max) {
        /* The guest's SYN may still come: colo_rewriter_handle() parks */
        *park = true;
        return NULL;
    }
    if (!r) {
        rw->cnt.unmatched_syn_acks++;
        emit(rw, COLO_RW_EV_UNMATCHED, COLO_RW_TO_GUEST, NULL, &gkey, 0);
        return NULL;
    }
    if (!idx_add(rw, r, ck, now)) {
        return NULL;
    }
    leave_pending(rw, r);
    r->primary_port = gkey.sport;
    r->state = RW_ACTIVE_PAIRED;
    rw->cnt.ports_mapped++;
    emit(rw, COLO_RW_EV_PORT_MAPPED, COLO_RW_TO_GUEST, r, NULL, 0);
    return r;
}

static ColoRewriteResult to_guest(ColoRewriter *rw, ColoRewritePatch *p,
                                  const ColoFlowKey *key, int64_t now)
{
    ColoPacket *pkt = &p->pkt;
    uint8_t f = pkt->tcp_flags;
    bool bare_syn = (f & (COLO_TCP_SYN | COLO_TCP_ACK)) == COLO_TCP_SYN;
    ColoFlowKey ck = *key;
    ColoConn *ic, *c;
    RwConn *r = NULL;
    uint32_t orig_ack = pkt->tcp_ack;
    uint32_t ack = orig_ack;
    bool park = false;
    unsigned i;

    colo_flow_key_canonicalize(&ck);
    if (rw->cnt.parked && !rw->releasing && park_holds(rw, &ck)) {
        /*
         * A frame of a flow whose SYN-ACK is parked: it must reach the
         * guest after it, rewritten the same way.
         */
        return rw->cnt.parked < rw->cfg.park_max ? COLO_RW_PARK
                                                  : COLO_RW_UNTRACKED;
    }
    ic = colo_conn_lookup(rw->by_peer, &ck);
    if (ic) {
        r = ((RwIdx *)colo_conn_priv(ic))->conn;
    }
    if (r && !to_guest_matches(r, key)) {
        return COLO_RW_UNTRACKED;   /* the guest's side, sent to the guest? */
    }
    if (r && bare_syn &&
        (colo_conn_is_closed(rec_conn(r)) ||
         (!r->active && r->peer_isn != pkt->tcp_seq))) {
        /* the peer opens a new connection on the same ports */
        conn_remove(rw, rec_conn(r), COLO_RW_RM_REPLACED);
        r = NULL;
    }
    if (!r) {
        if (rw->cnt.failed_over) {
            return COLO_RW_UNTRACKED;
        }
        if (bare_syn) {
            r = peer_syn(rw, pkt, key, &ck, now);
        } else if ((f & (COLO_TCP_SYN | COLO_TCP_ACK)) ==
                   (COLO_TCP_SYN | COLO_TCP_ACK)) {
            r = peer_syn_ack(rw, key, &ck, now, &park);
        }
        if (!r) {
            return park ? COLO_RW_PARK : COLO_RW_UNTRACKED;
        }
    }
    c = rec_conn(r);

    if ((f & COLO_TCP_ACK) &&
        (r->state == RW_PASSIVE_SYNACK || r->state == RW_ACTIVE_PAIRED)) {
        /* The peer acknowledges the primary's SYN: ack == Ip + 1 */
        learn_offset(rw, r, pkt->tcp_ack - 1, COLO_RW_TO_GUEST);
    } else if ((f & COLO_TCP_ACK) && r->state == RW_PASSIVE_SYN &&
               !r->pisn_known) {
        /* The same, before the guest's SYN-ACK: keep it for then */
        r->primary_isn = pkt->tcp_ack - 1;
        r->pisn_known = true;
    }
    if (r->state == RW_MAPPED) {
        add_op(p, pkt->l4_off + 2, r->gkey.sport, 2);
        if (f & COLO_TCP_ACK) {
            ack = pkt->tcp_ack - r->offset;
            add_op(p, pkt->l4_off + 8, ack, 4);
        }
        if (r->active && r->guest_ts && pkt->tcp_ts_off &&
            (f & (COLO_TCP_SYN | COLO_TCP_ACK)) ==
            (COLO_TCP_SYN | COLO_TCP_ACK)) {
            /*
             * The SYN-ACK echoes the primary's SYN timestamp; a guest in
             * SYN-SENT rejects (RST) an echo older than its own SYN,
             * which it is when the secondary sent its SYN later.
             */
            add_op(p, pkt->tcp_ts_off + 4, r->guest_tsval, 4);
        }
        if (r->offset) {
            for (i = 0; i < pkt->tcp_n_sack; i++) {
                size_t off = pkt->tcp_sack_off[i];

                add_op(p, off, ldl_be_p(pkt->data + off) - r->offset, 4);
                add_op(p, off + 4, ldl_be_p(pkt->data + off + 4) - r->offset,
                       4);
            }
        }
    }
    /* TCP state in the guest's own sequence space: after rewriting */
    pkt->tcp_ack = ack;
    if ((f & COLO_TCP_RST) && r->acked && pkt->tcp_seq != r->guest_ack) {
        /*
         * A RST the guest may well ignore (RFC 5961 takes one only at
         * the next sequence number it expects; it answers others with an
         * ACK, whose number the peer's next RST will carry).  A blind one
         * must not end the rewriting of a live connection.
         */
        colo_conn_touch(rw->conns, c, now);
    } else {
        colo_conn_track(rw->conns, c, pkt, !r->guest_dir, now);
    }
    pkt->tcp_ack = orig_ack;
    update_pin(rw, r);
    return p->n_ops ? COLO_RW_REWRITTEN : COLO_RW_UNCHANGED;
}

/*
 * Entry points
 */

ColoRewriteResult colo_rewriter_handle(ColoRewriter *rw, ColoRewriteDir dir,
                                       const uint8_t *frame, size_t len,
                                       size_t vnet_hdr_len, int64_t now,
                                       ColoRewritePatch *patch)
{
    ColoRewriteResult res;
    ColoPktError err;
    ColoFlowKey key;

    patch->n_ops = 0;
    err = colo_packet_parse(&patch->pkt, frame, len, vnet_hdr_len);
    if (err != COLO_PKT_OK) {
        ColoRewriteEvent ev = {
            .kind = COLO_RW_EV_MALFORMED,
            .dir = dir,
            .error = err,
        };

        rw->cnt.malformed++;
        if (rw->cfg.event) {
            rw->cfg.event(&ev, rw->cfg.opaque);
        }
        return COLO_RW_MALFORMED;
    }
    if (patch->pkt.l4 != COLO_L4_TCP ||
        !colo_flow_key_from_packet(&patch->pkt, &key)) {
        return COLO_RW_NOT_TCP;
    }
    if (dir == COLO_RW_TO_GUEST) {
        res = to_guest(rw, patch, &key, now);
    } else {
        res = from_guest(rw, patch, &key, now);
    }
    if (res == COLO_RW_REWRITTEN) {
        rw->cnt.frames_rewritten++;
    } else if (res == COLO_RW_PARK) {
        park_add(rw, frame, len, vnet_hdr_len, &key, patch->pkt.tcp_flags,
                 now);
    }
    return res;
}

static ColoRewriteResult handle_in_place(ColoRewriter *rw, ColoRewriteDir dir,
                                         uint8_t *frame, size_t len,
                                         size_t vnet_hdr_len, int64_t now)
{
    ColoRewritePatch patch;
    ColoRewriteResult res;

    res = colo_rewriter_handle(rw, dir, frame, len, vnet_hdr_len, now,
                               &patch);
    if (res == COLO_RW_REWRITTEN) {
        colo_rewrite_patch_apply(&patch, frame);
    }
    return res;
}

ColoRewriteResult colo_rewriter_to_guest(ColoRewriter *rw, uint8_t *frame,
                                         size_t len, size_t vnet_hdr_len,
                                         int64_t now)
{
    return handle_in_place(rw, COLO_RW_TO_GUEST, frame, len, vnet_hdr_len,
                           now);
}

ColoRewriteResult colo_rewriter_from_guest(ColoRewriter *rw, uint8_t *frame,
                                           size_t len, size_t vnet_hdr_len,
                                           int64_t now)
{
    return handle_in_place(rw, COLO_RW_FROM_GUEST, frame, len, vnet_hdr_len,
                           now);
}

/*
 * Events and expiry
 */

static bool drop_all(ColoConn *c, void *opaque)
{
    ColoRewriter *rw = opaque;

    conn_remove(rw, c, COLO_RW_RM_CHECKPOINT);
    return true;
}

uint32_t colo_rewriter_checkpoint(ColoRewriter *rw)
{
    uint32_t n = colo_conn_count(rw->conns);

    rw->cnt.checkpoints++;
    /* after a failover the entries stay: as colo_rewriter_failover() */
    park_flush(rw, rw->cnt.failed_over);
    if (rw->cnt.failed_over) {
        return 0;
    }
    colo_conn_foreach(rw->conns, drop_all, rw);
    return n - colo_conn_count(rw->conns);
}

static bool drop_unpaired(ColoConn *c, void *opaque)
{
    ColoRewriter *rw = opaque;

    if (conn_rec(c)->state == RW_ACTIVE_SYN) {
        conn_remove(rw, c, COLO_RW_RM_FAILOVER);
    }
    return true;
}

uint32_t colo_rewriter_failover(ColoRewriter *rw)
{
    uint32_t n = colo_conn_count(rw->conns);

    if (rw->cnt.failed_over) {
        return 0;
    }
    rw->cnt.failed_over = true;
    /* the entries of claimed SYN-ACKs are paired, so they stay */
    park_flush(rw, true);
    colo_conn_foreach(rw->conns, drop_unpaired, rw);
    return n - colo_conn_count(rw->conns);
}

bool colo_rewriter_failed_over(const ColoRewriter *rw)
{
    return rw->cnt.failed_over;
}

uint32_t colo_rewriter_expire(ColoRewriter *rw, int64_t now)
{
    int64_t idle = rw->cfg.idle_timeout_ns;
    RwParked *p;
    uint32_t n;
    RwConn *r;

    QTAILQ_FOREACH(p, &rw->parked, next) {
        if (!p->ready && rw->cfg.park_timeout_ns > 0 &&
            elapsed(now, p->since, rw->cfg.park_timeout_ns)) {
            RwParked *q;

            /* with the later frames of its flow, in order */
            QTAILQ_FOREACH(q, &rw->parked, next) {
                if (colo_flow_key_equal(&q->ck, &p->ck)) {
                    park_ready(rw, q, false);
                }
            }
        }
    }
    rw->rm_reason = RW_RM_EXPIRING;
    n = colo_conn_expire(rw->conns, now);
    while (idle > 0 && (r = QTAILQ_FIRST(&rw->rewriting)) &&
           elapsed(now, colo_conn_last_seen(rec_conn(r)), idle)) {
        rw->rm_reason = COLO_RW_RM_IDLE;
        colo_conn_remove(rw->conns, rec_conn(r));
        n++;
    }
    rw->rm_reason = COLO_RW_RM_EVICTED;
    return n;
}

/*
 * Life cycle and introspection
 */

ColoRewriter *colo_rewriter_new(const ColoRewriterConfig *cfg)
{
    ColoRewriter *rw = g_new0(ColoRewriter, 1);
    ColoConnTableConfig tc = {
        .max_entries = MAX(cfg->max_connections, 1),
        .priv_size = sizeof(RwConn),
        .idle_timeout_ns = cfg->handshake_timeout_ns,
        .closed_linger_ns = cfg->closed_linger_ns,
        .hash_seed = cfg->hash_seed,
        .destroy = conn_destroy,
        .opaque = rw,
    };

    rw->cfg = *cfg;
    rw->rm_reason = COLO_RW_RM_EVICTED;
    QTAILQ_INIT(&rw->rewriting);
    QTAILQ_INIT(&rw->parked);
    rw->conns = colo_conn_table_new(&tc);

    /* The other two never expire: their entries die with the connection */
    tc.idle_timeout_ns = 0;
    tc.closed_linger_ns = 0;
    tc.priv_size = sizeof(RwIdx);
    tc.hash_seed = cfg->hash_seed ^ 0x5bd1e995;
    tc.destroy = idx_destroy;
    rw->by_peer = colo_conn_table_new(&tc);

    tc.priv_size = sizeof(RwGroup);
    tc.hash_seed = cfg->hash_seed ^ 0x9e3779b9;
    tc.destroy = group_destroy;
    rw->pending = colo_conn_table_new(&tc);
    return rw;
}

void colo_rewriter_free(ColoRewriter *rw)
{
    RwParked *p;

    if (!rw) {
        return;
    }
    rw->freeing = true;
    while ((p = QTAILQ_FIRST(&rw->parked))) {
        QTAILQ_REMOVE(&rw->parked, p, next);
        g_free(p);
    }
    colo_conn_table_free(rw->conns);
    colo_conn_table_free(rw->by_peer);
    colo_conn_table_free(rw->pending);
    g_free(rw);
}

void colo_rewriter_counters(const ColoRewriter *rw, ColoRewriteCounters *c)
{
    *c = rw->cnt;
    c->connections = colo_conn_count(rw->conns);
}

uint32_t colo_rewriter_connections(const ColoRewriter *rw)
{
    return colo_conn_count(rw->conns);
}

void colo_rewriter_lookup(ColoRewriter *rw, const ColoFlowKey *key,
                          ColoRewriteConnInfo *info)
{
    ColoFlowKey ck = *key;
    ColoConn *c;
    RwConn *r;

    memset(info, 0, sizeof(*info));
    colo_flow_key_canonicalize(&ck);
    c = colo_conn_lookup(rw->conns, &ck);
    if (!c) {
        return;
    }
    r = conn_rec(c);
    info->found = true;
    info->active = r->active;
    info->paired = r->state == RW_ACTIVE_PAIRED || r->state == RW_MAPPED ||
                   !r->active;
    info->offset_known = r->state == RW_MAPPED;
    info->rewriting = rec_rewrites(r);
    info->closed = colo_conn_is_closed(c);
    info->guest_port = r->gkey.sport;
    info->primary_port = r->primary_port;
    info->offset = r->offset;
}

const char *colo_rewrite_result_name(ColoRewriteResult res)
{
    static const char *const names[] = {
        [COLO_RW_UNCHANGED] = "unchanged",
        [COLO_RW_REWRITTEN] = "rewritten",
        [COLO_RW_MALFORMED] = "malformed",
        [COLO_RW_UNTRACKED] = "untracked",
        [COLO_RW_NOT_TCP] = "not-tcp",
        [COLO_RW_PARK] = "park",
    };

    if ((unsigned)res < ARRAY_SIZE(names)) {
        return names[res];
    }
    return "invalid";
}

const char *colo_rewrite_reason_name(ColoRewriteRemoveReason reason)
{
    static const char *const names[] = {
        [COLO_RW_RM_CLOSED] = "closed",
        [COLO_RW_RM_IDLE] = "idle",
        [COLO_RW_RM_EVICTED] = "evicted",
        [COLO_RW_RM_CHECKPOINT] = "checkpoint",
        [COLO_RW_RM_FAILOVER] = "failover",
        [COLO_RW_RM_REPLACED] = "replaced",
    };

    if ((unsigned)reason < ARRAY_SIZE(names)) {
        return names[reason];
    }
    return "invalid";
}

/*
 * Invariants
 */

typedef struct RwCheck {
    ColoRewriter *rw;
    uint32_t n_idx;
    uint32_t n_pending;
    uint32_t n_grouped;
    uint32_t n_pinned;
    bool ok;
} RwCheck;

static bool check_conn(ColoConn *c, void *opaque)
{
    RwCheck *ck = opaque;
    RwConn *r = conn_rec(c);
    ColoFlowKey k = r->gkey;

    colo_flow_key_canonicalize(&k);
    if (!colo_flow_key_equal(&k, colo_conn_key(c)) ||
        r->state > RW_MAPPED || r->pinned != (colo_conn_pin_count(c) != 0)) {
        ck->ok = false;
    }
    if (r->idx) {
        ColoFlowKey pk = r->gkey;

        ck->n_idx++;
        pk.sport = r->primary_port;
        colo_flow_key_canonicalize(&pk);
        if (((RwIdx *)colo_conn_priv(r->idx))->conn != r ||
            !colo_flow_key_equal(&pk, colo_conn_key(r->idx))) {
            ck->ok = false;
        }
    } else if (!r->active || r->state != RW_ACTIVE_SYN) {
        /* every connection whose primary port is known is indexed */
        ck->ok = false;
    }
    if (r->state == RW_ACTIVE_SYN) {
        ck->n_pending++;
        if (r->idx || !r->group) {
            ck->ok = false;
        }
    } else if (r->group) {
        ck->ok = false;
    }
    if (r->pinned) {
        ck->n_pinned++;
        if (!rec_rewrites(r)) {
            ck->ok = false;
        }
    }
    return true;
}

static bool check_group(ColoConn *g, void *opaque)
{
    RwCheck *ck = opaque;
    RwGroup *grp = colo_conn_priv(g);
    RwConn *r;

    if (QTAILQ_EMPTY(&grp->list)) {
        ck->ok = false;
    }
    QTAILQ_FOREACH(r, &grp->list, pend_next) {
        ck->n_grouped++;
        if (r->group != g || r->gkey.dport != colo_conn_key(g)->dport) {
            ck->ok = false;
        }
    }
    return true;
}

static bool check_idx(ColoConn *ic, void *opaque)
{
    RwCheck *ck = opaque;
    RwIdx *idx = colo_conn_priv(ic);

    if (!idx->conn || idx->conn->idx != ic) {
        ck->ok = false;
    }
    return true;
}

bool colo_rewriter_check(ColoRewriter *rw)
{
    RwCheck ck = { .rw = rw, .ok = true };
    uint32_t n_list = 0, n_parked = 0, n_ready = 0;
    RwParked *p;
    RwConn *r;

    QTAILQ_FOREACH(p, &rw->parked, next) {
        n_parked++;
        n_ready += p->ready;
        if (p->process && !p->claimed) {
            return false;
        }
    }
    if (n_parked != rw->cnt.parked || n_ready != rw->n_ready ||
        n_parked > rw->cfg.park_max) {
        return false;
    }

    colo_conn_foreach(rw->conns, check_conn, &ck);
    colo_conn_foreach(rw->pending, check_group, &ck);
    colo_conn_foreach(rw->by_peer, check_idx, &ck);
    QTAILQ_FOREACH(r, &rw->rewriting, rw_next) {
        n_list++;
    }
    return ck.ok &&
           colo_conn_count(rw->conns) <= colo_conn_max(rw->conns) &&
           ck.n_idx == colo_conn_count(rw->by_peer) &&
           ck.n_pending == rw->cnt.pending &&
           ck.n_grouped == ck.n_pending &&
           ck.n_pinned == n_list;
}
