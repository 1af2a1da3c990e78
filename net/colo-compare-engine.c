/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * COLO proxy comparison engine (see colo-compare-engine.h for the
 * semantics).
 *
 * Structure
 * ---------
 * Each flow is an entry of the packet layer's connection table, keyed by
 * the directional flow key; its private area is a #CmpFlow.  A flow holds:
 *  - pq: every queued primary frame in input order (the release order);
 *  - q[class].ppend: the queued primary frames still waiting for a
 *    decision, per comparison class, in input order;
 *  - q[class].sq: the queued secondary frames, per class, in input order.
 * A primary frame is "decided" once it may be released (identical, or
 * nothing to compare); decided frames leave ppend but stay on pq until
 * every frame before them is decided too.  Invariant between calls: the
 * head of pq, if any, is undecided.
 *
 * Every queued frame is also on the engine-wide list of its side, in input
 * order: timeouts look only at the heads, checkpoints walk the lists.  A
 * flow holding queued frames is pinned in the table.  Per-flow comparison
 * state is reset lazily after a checkpoint: each flow records the engine
 * epoch it belongs to.
 *
 * The TCP lists (q[CLS_TCP].ppend and .sq) are usually "chains":
 * each segment starts where the previous one ends and the whole spans
 * less than TCP_CHAIN_MAX.  Then the segments the comparison point has
 * passed are a prefix of the list and the first other one is the one
 * covering it, so finding it costs O(1) amortised instead of a walk of
 * the list (which made a flow with many queued segments quadratic).  A
 * flag per list records whether it is a chain; a full walk, which gives
 * the same result in every case, is the fallback and recomputes it.
 * A segment whose bytes not behind the comparison point lie within the
 * span of a chain when it is queued retransmits bytes that segments
 * queued before it hold (e.g. a tail loss probe): they cover each of
 * those bytes before it would, so it would never be compared.  It is
 * decided at once rather than linked (kept only on pq if primary, to be
 * released in its turn; dropped if secondary) and the list stays a
 * chain.
 *
 * A new frame is first processed from the caller's buffer (a #CmpFrame on
 * the stack pointing at it); it is copied only if it must be kept.
 */

#include "qemu/osdep.h"
#include "qemu/queue.h"
#include "net/colo-conn.h"
#include "net/colo-compare-engine.h"

/* Comparison classes: how frames are paired */
typedef enum CmpClass {
    CLS_FIFO = 0,   /* datagrams, fragments, non-IP: first in, first paired */
    CLS_TCP,        /* TCP data and/or FIN: byte stream */
    CLS_SYN,        /* TCP SYN (+ACK) */
    CLS_RST,        /* TCP RST */
    CLS__MAX,
} CmpClass;

/* What a frame is, as far as the input path is concerned */
typedef enum CmpKind {
    KIND_FIFO,
    KIND_TCP,
    KIND_SYN,           /* SYN+ACK */
    KIND_SYN_NOACK,     /* SYN without ACK: connection opened by the guest */
    KIND_RST,
    KIND_PURE_ACK,
} CmpKind;

/* State of a frame's decision */
typedef enum CmpOutcome {
    OUT_PENDING = 0,    /* waiting for its counterpart */
    OUT_IDENTICAL,      /* compared equal (secondary: consumed) */
    OUT_UNCOMPARED,     /* nothing to compare */
} CmpOutcome;

/* Release categories (see ColoCmpStats) */
typedef enum CmpRelease {
    REL_IDENTICAL,
    REL_UNCOMPARED,
    REL_DIVERGED,
    REL_CHECKPOINT,
    REL_FAILOVER,
} CmpRelease;

/* Secondary drop categories (see ColoCmpStats) */
typedef enum CmpDrop {
    DROP_MATCHED,
    DROP_UNCOMPARED,
    DROP_DIVERGED,
    DROP_MALFORMED,
    DROP_TABLE_FULL,
    DROP_OVERFLOW,
    DROP_EXPIRED,
    DROP_CHECKPOINT,
    DROP_FAILOVER,
} CmpDrop;

#define NO_CSUM UINT32_MAX

/* What comparing a frame needs from its parse, offsets from its start */
typedef struct CmpInfo {
    uint32_t l2_off;        /* Ethernet header */
    uint32_t reg_off;       /* compared region: TCP payload, FIFO region */
    uint32_t reg_len;
    uint32_t hdr_len;       /* FIFO: header part of the region */
    uint32_t csum_rel;      /* FIFO: checksum offset in region or NO_CSUM */
    uint32_t seq;           /* TCP: sequence number */
    uint32_t ack;           /* TCP: acknowledgment number */
    uint32_t end;           /* CLS_TCP: seq + payload + FIN */
    uint16_t mss;           /* SYN */
    uint16_t frag_off;      /* FIFO IP */
    uint8_t flags;          /* TCP */
    uint8_t wscale;         /* SYN */
    bool has_wscale;        /* SYN */
    bool sack_perm;         /* SYN */
    bool has_ts;            /* SYN */
    bool is_frag;           /* FIFO IP */
    bool more_frags;        /* FIFO IP */
} CmpInfo;

typedef struct CmpFlow CmpFlow;
typedef struct CmpFrame CmpFrame;
typedef QTAILQ_HEAD(, CmpFrame) CmpFrameList;

struct CmpFrame {
    QTAILQ_ENTRY(CmpFrame) link;    /* primary: pq; secondary: q[cls].sq */
    QTAILQ_ENTRY(CmpFrame) plink;   /* primary, pending: q[cls].ppend */
    QTAILQ_ENTRY(CmpFrame) glink;   /* engine list of its side */
    CmpFlow *flow;
    const uint8_t *data;            /* buf, or the caller's buffer */
    int64_t arrival;
    uint32_t len;
    uint8_t side;                   /* ColoCmpSide */
    uint8_t cls;                    /* CmpClass */
    uint8_t outcome;                /* CmpOutcome */
    uint8_t slab;                   /* size class, SLAB_NONE if none */
    bool compared;                  /* some of its bytes were compared */
    bool linked;                    /* queued (heap copy) */
    CmpInfo info;
    uint8_t buf[];
};
/* A frame's header fills two cache lines at most */
QEMU_BUILD_BUG_ON(offsetof(CmpFrame, buf) > 128);

struct CmpFlow {
    ColoConn *conn;
    uint64_t epoch;
    uint32_t nq[2];                 /* queued frames per side */
    bool diverged;
    /* TCP stream state, primary sequence space */
    bool synced;                    /* cmp is meaningful */
    bool fresh;                     /* synced without SYN, nothing compared */
    bool have_isn;
    bool have_synack;
    bool chain[2];                  /* q[CLS_TCP] lists form chains */
    uint32_t isn;                   /* primary's last SYN sequence number */
    uint32_t synack_ack;            /* ack number of its last SYN+ACK */
    uint32_t cmp;                   /* all bytes before it compared */
    uint64_t off64;                 /* stream offset of cmp */
    CmpFrameList pq;
    /*
     * Per class, the two lists a frame of that class works on, side by
     * side: one cache line or two per frame rather than three.
     */
    struct {
        CmpFrameList ppend;
        CmpFrameList sq;
    } q[CLS__MAX];
};

/* Frame buffers are recycled in two size classes */
#define SLAB_NONE       0xff
#define SLAB_N          2
#define SLAB_FREE_MAX   4096
static const uint32_t slab_cap[SLAB_N] = { 256, 2048 };

struct ColoCompareEngine {
    ColoCmpConfig cfg;
    ColoConnTable *conns;
    uint64_t epoch;
    int64_t now;
    bool failover;
    ColoCmpSide in_side;            /* side of the frame being input */
    CmpFrameList gq[2];             /* queued frames per side, input order */
    /*
     * Recycled frames per size class, a stack of pointers rather than a
     * list through the frames: taking one reads no frame, so allocating
     * never waits on a frame's cache line.
     */
    CmpFrame **free_stack[SLAB_N];  /* SLAB_FREE_MAX each */
    uint32_t n_free[SLAB_N];
    ColoCmpStats stats;
    /*
     * The frame being input, parsed: here rather than on the stack, where
     * QEMU's -ftrivial-auto-var-init=zero would clear them for every frame
     * (with "rep stos", costlier than parsing).  The engine does not
     * re-enter itself, so one of each suffices.
     */
    ColoPacket in_pkt;
    CmpFrame *in_frame;
    /* colo_cmp_engine_input_burst(): the burst being input, parsed */
    ColoFlowKey in_key;
    ColoPacket burst_pkt[COLO_CMP_BURST];
    ColoFlowKey burst_key[COLO_CMP_BURST];
    uint32_t burst_hash[COLO_CMP_BURST];
};

static const char *const reason_names[COLO_CMP_DIV__MAX] = {
    [COLO_CMP_DIV_PAYLOAD] = "payload",
    [COLO_CMP_DIV_SIZE] = "size",
    [COLO_CMP_DIV_HEADER] = "header",
    [COLO_CMP_DIV_SYN] = "syn",
    [COLO_CMP_DIV_FIN] = "fin",
    [COLO_CMP_DIV_TIMEOUT] = "timeout",
    [COLO_CMP_DIV_QUEUE_FULL] = "queue-full",
    [COLO_CMP_DIV_MALFORMED] = "malformed",
    [COLO_CMP_DIV_TABLE_FULL] = "table-full",
};

const char *colo_cmp_reason_name(ColoCmpReason reason)
{
    if ((unsigned)reason >= COLO_CMP_DIV__MAX) {
        return "invalid";
    }
    return reason_names[reason];
}

const char *colo_cmp_side_name(ColoCmpSide side)
{
    switch (side) {
    case COLO_CMP_PRIMARY:
        return "primary";
    case COLO_CMP_SECONDARY:
        return "secondary";
    }
    return "invalid";
}

/* Sequence number comparisons modulo 2^32 */
static inline bool seq_le(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}

/* Longest span of sequence space a TCP list may cover to be a chain */
#define TCP_CHAIN_MAX   0x40000000u

/* Whether @now - @then >= @span, without signed overflow. */
static bool elapsed(int64_t now, int64_t then, int64_t span)
{
    return now >= then && (uint64_t)now - (uint64_t)then >= (uint64_t)span;
}

/*
 * TCP chains (see the top of the file)
 */

/*
 * Whether a TCP list that runs from @head to @tail (both NULL if it is
 * empty) and is a chain if @chain is still one once @f is appended.
 */
static bool tcp_chain_extend(bool chain, const CmpFrame *head,
                             const CmpFrame *tail, const CmpFrame *f)
{
    uint64_t span = (uint32_t)(f->info.end - f->info.seq);

    if (tail) {
        if (!chain || f->info.seq != tail->info.end) {
            return false;
        }
        /* the list's true span: it is below TCP_CHAIN_MAX */
        span += (uint32_t)(tail->info.end - head->info.seq);
    }
    return span < TCP_CHAIN_MAX;
}

/*
 * Whether the retired segments of the chain from @head to @tail are a
 * prefix of it followed by the covering one, if any: true if @cmp is
 * within the chain (as integers, since the chain spans less than 2^30),
 * or before it by less than 2^31 - span (then every segment is ahead).
 */
static bool tcp_chain_usable(const CmpFrame *head, const CmpFrame *tail,
                             uint32_t cmp)
{
    uint32_t span = tail->info.end - head->info.seq;

    return (uint32_t)(cmp - head->info.seq) <= span ||
           (uint32_t)(head->info.seq - cmp) < 0x80000000u - span;
}

/* A segment leaves a TCP list of a flow: unless it is the head, no chain */
static void tcp_chain_remove(CmpFlow *flow, CmpFrame *f, CmpFrame *head)
{
    if (f->cls == CLS_TCP && f != head) {
        flow->chain[f->side] = false;
    }
}

/*
 * Whether the bytes of segment @f that are not behind the comparison
 * point lie within [@head seq, @tail end) of a flow's chain.
 */
static bool tcp_chain_holds(const CmpFlow *flow, const CmpFrame *head,
                            const CmpFrame *tail, const CmpFrame *f)
{
    uint32_t from = f->info.seq;
    uint32_t end = f->info.end - head->info.seq;

    if (flow->synced && seq_le(from, flow->cmp)) {
        from = flow->cmp;
    }
    from -= head->info.seq;
    return from <= end && end <= (uint32_t)(tail->info.end - head->info.seq);
}

/* tcp_chain_append() when @f does not extend its list as a chain */
static bool tcp_chain_break(CmpFlow *flow, ColoCmpSide side,
                            const CmpFrame *head, const CmpFrame *tail,
                            const CmpFrame *f)
{
    if (flow->chain[side] && tail && tcp_chain_holds(flow, head, tail, f)) {
        return false;
    }
    flow->chain[side] = false;
    return true;
}

/*
 * A pending TCP segment @f of a flow is to be queued on @l, the TCP list
 * of its @side: update whether @l is a chain.  Returns false if @f must
 * be decided instead: @l is a chain that holds every byte of @f not
 * compared yet (see the top of the file).  Linked, @f would end the chain
 * until the comparison point passes it, and every search would walk the
 * whole list until then.
 */
static inline bool tcp_chain_append(CmpFlow *flow, ColoCmpSide side,
                                    CmpFrameList *l, const CmpFrame *f)
{
    CmpFrame *head = QTAILQ_FIRST(l), *tail = QTAILQ_LAST(l);

    if (likely(tcp_chain_extend(flow->chain[side], head, tail, f))) {
        flow->chain[side] = true;
        return true;
    }
    return tcp_chain_break(flow, side, head, tail, f);
}

/*
 * Frame memory
 */

/*
 * A frame for @len bytes, recycled if it can be; *@slab is its size class
 * (SLAB_NONE for a frame of its own size).  Nothing of the frame is read
 * or written here: a recycled frame may have left the cache, and the
 * caller's stores to it then do not wait for it to come back.
 */
static CmpFrame *frame_alloc(ColoCompareEngine *e, uint32_t len,
                             uint8_t *slab)
{
    uint8_t c;

    for (c = 0; c < SLAB_N && len > slab_cap[c]; c++) {
        /* find the size class */
    }
    if (c == SLAB_N) {
        *slab = SLAB_NONE;
        return g_malloc(sizeof(CmpFrame) + len);
    }
    *slab = c;
    if (e->n_free[c]) {
        return e->free_stack[c][--e->n_free[c]];
    }
    return g_malloc(sizeof(CmpFrame) + slab_cap[c]);
}

static void frame_free(ColoCompareEngine *e, CmpFrame *f)
{
    if (f->slab < SLAB_N && e->n_free[f->slab] < SLAB_FREE_MAX) {
        e->free_stack[f->slab][e->n_free[f->slab]++] = f;
    } else {
        g_free(f);
    }
}

/*
 * Flows
 */

static void flow_init(ColoConn *conn, void *opaque)
{
    ColoCompareEngine *e = opaque;
    CmpFlow *flow = colo_conn_priv(conn);
    int i;

    flow->conn = conn;
    flow->epoch = e->epoch;
    QTAILQ_INIT(&flow->pq);
    for (i = 0; i < CLS__MAX; i++) {
        QTAILQ_INIT(&flow->q[i].ppend);
        QTAILQ_INIT(&flow->q[i].sq);
    }
}

/* Reset the comparison state of a flow left from before a checkpoint. */
static void flow_refresh(ColoCompareEngine *e, CmpFlow *flow)
{
    if (flow->epoch != e->epoch) {
        assert(flow->nq[0] == 0 && flow->nq[1] == 0);
        flow->epoch = e->epoch;
        flow->diverged = false;
        flow->synced = false;
        flow->fresh = false;
        flow->have_isn = false;
        flow->have_synack = false;
        flow->isn = 0;
        flow->synack_ack = 0;
        flow->cmp = 0;
        flow->off64 = 0;
    }
}

/*
 * Releasing and dropping
 */

static void release_data(ColoCompareEngine *e, const uint8_t *data,
                         size_t len, CmpRelease cat)
{
    ColoCmpStats *s = &e->stats;

    s->released_frames++;
    s->released_bytes += len;
    switch (cat) {
    case REL_IDENTICAL:
        s->released_identical++;
        break;
    case REL_UNCOMPARED:
        s->released_uncompared++;
        break;
    case REL_DIVERGED:
        s->released_diverged++;
        break;
    case REL_CHECKPOINT:
        s->released_checkpoint++;
        break;
    case REL_FAILOVER:
        s->released_failover++;
        break;
    }
    e->cfg.release(e->cfg.opaque, data, len);
}

static void count_drop(ColoCompareEngine *e, CmpDrop cat)
{
    ColoCmpStats *s = &e->stats;

    switch (cat) {
    case DROP_MATCHED:
        s->secondary_matched++;
        break;
    case DROP_UNCOMPARED:
        s->secondary_uncompared++;
        break;
    case DROP_DIVERGED:
        s->secondary_diverged++;
        break;
    case DROP_MALFORMED:
        s->secondary_malformed++;
        break;
    case DROP_TABLE_FULL:
        s->secondary_table_full++;
        break;
    case DROP_OVERFLOW:
        s->secondary_overflow++;
        break;
    case DROP_EXPIRED:
        s->secondary_expired++;
        break;
    case DROP_CHECKPOINT:
        s->secondary_checkpoint++;
        break;
    case DROP_FAILOVER:
        s->secondary_failover++;
        break;
    }
}

/* Release category of a primary frame given its outcome. */
static CmpRelease outcome_release(const CmpFrame *f, CmpRelease otherwise)
{
    switch (f->outcome) {
    case OUT_IDENTICAL:
        return REL_IDENTICAL;
    case OUT_UNCOMPARED:
        return REL_UNCOMPARED;
    default:
        return otherwise;
    }
}

/* Drop category of a secondary frame given its outcome. */
static CmpDrop outcome_drop(const CmpFrame *f, CmpDrop otherwise)
{
    switch (f->outcome) {
    case OUT_IDENTICAL:
        return DROP_MATCHED;
    case OUT_UNCOMPARED:
        return DROP_UNCOMPARED;
    default:
        return otherwise;
    }
}

/*
 * Copy a frame being input so that it can be queued.  A TCP one went
 * through tcp_chain_append() first.
 */
static void frame_persist(ColoCompareEngine *e, CmpFlow *flow,
                          const CmpFrame *nf)
{
    uint8_t slab;
    CmpFrame *f = frame_alloc(e, nf->len, &slab);

    memcpy(f, nf, offsetof(CmpFrame, buf));
    f->slab = slab;
    memcpy(f->buf, nf->data, nf->len);
    f->data = f->buf;
    f->flow = flow;
    f->linked = true;
    if (f->side == COLO_CMP_PRIMARY) {
        QTAILQ_INSERT_TAIL(&flow->pq, f, link);
        if (f->outcome == OUT_PENDING) {
            QTAILQ_INSERT_TAIL(&flow->q[f->cls].ppend, f, plink);
        }
    } else {
        QTAILQ_INSERT_TAIL(&flow->q[f->cls].sq, f, link);
    }
    QTAILQ_INSERT_TAIL(&e->gq[f->side], f, glink);
    if (flow->nq[0] + flow->nq[1] == 0) {
        colo_conn_pin(e->conns, flow->conn);
    }
    flow->nq[f->side]++;
    e->stats.queued_frames[f->side]++;
    e->stats.queued_bytes[f->side] += f->len;
}

/* Take a queued frame off every list and free it. */
static void frame_dispose(ColoCompareEngine *e, CmpFrame *f)
{
    CmpFlow *flow = f->flow;

    assert(f->linked);
    if (f->side == COLO_CMP_PRIMARY) {
        QTAILQ_REMOVE(&flow->pq, f, link);
        if (f->outcome == OUT_PENDING) {
            tcp_chain_remove(flow, f, QTAILQ_FIRST(&flow->q[f->cls].ppend));
            QTAILQ_REMOVE(&flow->q[f->cls].ppend, f, plink);
        }
    } else {
        tcp_chain_remove(flow, f, QTAILQ_FIRST(&flow->q[f->cls].sq));
        QTAILQ_REMOVE(&flow->q[f->cls].sq, f, link);
    }
    QTAILQ_REMOVE(&e->gq[f->side], f, glink);
    flow->nq[f->side]--;
    e->stats.queued_frames[f->side]--;
    e->stats.queued_bytes[f->side] -= f->len;
    if (flow->nq[0] + flow->nq[1] == 0) {
        colo_conn_unpin(e->conns, flow->conn);
    }
    frame_free(e, f);
}

static void frame_release(ColoCompareEngine *e, CmpFrame *f, CmpRelease cat)
{
    release_data(e, f->data, f->len, cat);
    frame_dispose(e, f);
}

static void frame_drop(ColoCompareEngine *e, CmpFrame *f, CmpDrop cat)
{
    count_drop(e, cat);
    frame_dispose(e, f);
}

/* Decide a pending primary frame (queued or being input). */
static void primary_decide(CmpFlow *flow, CmpFrame *f, CmpOutcome outcome)
{
    assert(f->outcome == OUT_PENDING);
    if (f->linked) {
        tcp_chain_remove(flow, f, QTAILQ_FIRST(&flow->q[f->cls].ppend));
        QTAILQ_REMOVE(&flow->q[f->cls].ppend, f, plink);
    }
    f->outcome = outcome;
}

/* Release the decided frames at the head of a flow's queue. */
static void flow_release_ready(ColoCompareEngine *e, CmpFlow *flow)
{
    CmpFrame *f;

    while ((f = QTAILQ_FIRST(&flow->pq)) && f->outcome != OUT_PENDING) {
        frame_release(e, f, outcome_release(f, REL_DIVERGED));
    }
}

/*
 * Release every queued primary frame of a flow in order and drop its
 * secondary frames.
 */
static void flow_flush(ColoCompareEngine *e, CmpFlow *flow,
                       CmpRelease rel, CmpDrop drop)
{
    CmpFrame *f;
    int i;

    while ((f = QTAILQ_FIRST(&flow->pq))) {
        frame_release(e, f, outcome_release(f, rel));
    }
    for (i = 0; i < CLS__MAX; i++) {
        while ((f = QTAILQ_FIRST(&flow->q[i].sq))) {
            frame_drop(e, f, outcome_drop(f, drop));
        }
    }
}

/*
 * Report a divergence on a flow, flush the flow and pass it through until
 * the next checkpoint.
 */
static void flow_diverge(ColoCompareEngine *e, CmpFlow *flow,
                         ColoCmpReason reason, ColoCmpSide side,
                         bool tcp_stream, uint64_t offset,
                         size_t primary_len, size_t secondary_len)
{
    ColoCmpDivergence d = {
        .reason = reason,
        .side = side,
        .has_key = true,
        .tcp_stream = tcp_stream,
        .key = *colo_conn_key(flow->conn),
        .offset = offset,
        .primary_len = primary_len,
        .secondary_len = secondary_len,
        .pkt_error = COLO_PKT_OK,
    };

    e->stats.divergences[reason]++;
    if (e->cfg.divergence) {
        e->cfg.divergence(e->cfg.opaque, &d);
    }
    flow->diverged = true;
    flow_flush(e, flow, REL_DIVERGED, DROP_DIVERGED);
}

/*
 * Comparisons
 */

/* Index of the first differing byte of a and b (n if none). */
static size_t first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t i;

    if (memcmp(a, b, n) == 0) {
        return n;
    }
    for (i = 0; i < n && a[i] == b[i]; i++) {
        /* find it */
    }
    return i;
}

/*
 * FIFO class: compare a primary and a secondary frame.  Returns true if
 * identical; otherwise the flow has diverged (and @s, if queued, is gone).
 */
static bool fifo_match(ColoCompareEngine *e, CmpFlow *flow,
                       CmpFrame *p, CmpFrame *s)
{
    const CmpInfo *pi = &p->info, *si = &s->info;
    const uint8_t *a = p->data + pi->reg_off, *b = s->data + si->reg_off;
    size_t common = MIN(pi->reg_len, si->reg_len);
    size_t base = pi->reg_off - pi->l2_off;
    size_t k, c = pi->csum_rel;
    ColoCmpReason reason;

    p->compared = s->compared = true;
    if (pi->is_frag != si->is_frag || pi->more_frags != si->more_frags ||
        pi->frag_off != si->frag_off) {
        flow_diverge(e, flow, COLO_CMP_DIV_HEADER, e->in_side, false, 0,
                     p->len, s->len);
        return false;
    }
    if (c != si->csum_rel || c >= common || common - c < 2) {
        c = NO_CSUM;
    }
    if (c == NO_CSUM) {
        k = first_diff(a, b, common);
    } else {
        /* skip the checksum field */
        k = first_diff(a, b, c);
        if (k == c) {
            k = c + 2 + first_diff(a + c + 2, b + c + 2, common - c - 2);
        }
    }
    if (pi->reg_len != si->reg_len) {
        reason = COLO_CMP_DIV_SIZE;
    } else if (k < common) {
        reason = k < pi->hdr_len ? COLO_CMP_DIV_HEADER : COLO_CMP_DIV_PAYLOAD;
    } else {
        return true;
    }
    flow_diverge(e, flow, reason, e->in_side, false, base + k,
                 p->len, s->len);
    return false;
}

/* SYN+ACK: compare what matters of a primary and a secondary one. */
static bool syn_match(ColoCompareEngine *e, CmpFlow *flow,
                      CmpFrame *p, CmpFrame *s)
{
    const CmpInfo *pi = &p->info, *si = &s->info;
    const uint8_t mask = COLO_TCP_SYN | COLO_TCP_ACK | COLO_TCP_FIN |
                         COLO_TCP_ECE | COLO_TCP_CWR;

    p->compared = s->compared = true;
    if ((pi->flags & mask) == (si->flags & mask) &&
        pi->mss == si->mss &&
        pi->has_wscale == si->has_wscale &&
        pi->wscale == si->wscale &&
        pi->sack_perm == si->sack_perm &&
        pi->has_ts == si->has_ts &&
        pi->reg_len == si->reg_len &&
        memcmp(p->data + pi->reg_off, s->data + si->reg_off,
               pi->reg_len) == 0) {
        return true;
    }
    flow_diverge(e, flow, COLO_CMP_DIV_SYN, e->in_side, false, 0,
                 p->len, s->len);
    return false;
}

/*
 * TCP stream.  A segment "covers" the comparison point if
 * seq <= cmp < end.  Segments that end at or before it are retired.
 * Each list is searched from its head if it is a usable chain, else
 * walked in full (and whether it is a chain recomputed).
 */

static CmpFrame *tcp_cover_primary(CmpFlow *flow, CmpFrame *extra)
{
    CmpFrameList *l = &flow->q[CLS_TCP].ppend;
    CmpFrame *f, *next, *head = NULL, *prev = NULL, *found = NULL;
    bool chain = true;

    f = QTAILQ_FIRST(l);
    if (f && flow->chain[COLO_CMP_PRIMARY] &&
        tcp_chain_usable(f, QTAILQ_LAST(l), flow->cmp)) {
        while ((f = QTAILQ_FIRST(l)) && seq_le(f->info.end, flow->cmp)) {
            primary_decide(flow, f, f->compared ? OUT_IDENTICAL
                                                : OUT_UNCOMPARED);
        }
        if (f && seq_le(f->info.seq, flow->cmp)) {
            found = f;
        }
    } else {
        QTAILQ_FOREACH_SAFE(f, l, plink, next) {
            if (seq_le(f->info.end, flow->cmp)) {
                primary_decide(flow, f, f->compared ? OUT_IDENTICAL
                                                    : OUT_UNCOMPARED);
                continue;
            }
            if (!found && seq_le(f->info.seq, flow->cmp)) {
                found = f;
            }
            chain = tcp_chain_extend(chain, head, prev, f);
            head = head ? head : f;
            prev = f;
        }
        flow->chain[COLO_CMP_PRIMARY] = chain;
    }
    if (extra && extra->side == COLO_CMP_PRIMARY &&
        extra->outcome == OUT_PENDING) {
        if (seq_le(extra->info.end, flow->cmp)) {
            primary_decide(flow, extra, extra->compared ? OUT_IDENTICAL
                                                        : OUT_UNCOMPARED);
        } else if (!found && seq_le(extra->info.seq, flow->cmp)) {
            found = extra;
        }
    }
    return found;
}

static CmpFrame *tcp_cover_secondary(ColoCompareEngine *e, CmpFlow *flow,
                                     CmpFrame *extra)
{
    CmpFrameList *l = &flow->q[CLS_TCP].sq;
    CmpFrame *f, *next, *head = NULL, *prev = NULL, *found = NULL;
    bool chain = true;

    f = QTAILQ_FIRST(l);
    if (f && flow->chain[COLO_CMP_SECONDARY] &&
        tcp_chain_usable(f, QTAILQ_LAST(l), flow->cmp)) {
        while ((f = QTAILQ_FIRST(l)) && seq_le(f->info.end, flow->cmp)) {
            frame_drop(e, f, f->compared ? DROP_MATCHED : DROP_UNCOMPARED);
        }
        if (f && seq_le(f->info.seq, flow->cmp)) {
            found = f;
        }
    } else {
        QTAILQ_FOREACH_SAFE(f, l, link, next) {
            if (seq_le(f->info.end, flow->cmp)) {
                frame_drop(e, f, f->compared ? DROP_MATCHED
                                             : DROP_UNCOMPARED);
                continue;
            }
            if (!found && seq_le(f->info.seq, flow->cmp)) {
                found = f;
            }
            chain = tcp_chain_extend(chain, head, prev, f);
            head = head ? head : f;
            prev = f;
        }
        flow->chain[COLO_CMP_SECONDARY] = chain;
    }
    if (extra && extra->side == COLO_CMP_SECONDARY &&
        extra->outcome == OUT_PENDING) {
        if (seq_le(extra->info.end, flow->cmp)) {
            extra->outcome = extra->compared ? OUT_IDENTICAL : OUT_UNCOMPARED;
        } else if (!found && seq_le(extra->info.seq, flow->cmp)) {
            found = extra;
        }
    }
    return found;
}

/*
 * Compare from the comparison point as far as both segments go.  Returns
 * false if the flow diverged.
 */
static bool tcp_step(ColoCompareEngine *e, CmpFlow *flow,
                     CmpFrame *p, CmpFrame *s)
{
    uint32_t ip = flow->cmp - p->info.seq, is = flow->cmp - s->info.seq;
    uint32_t n = MIN(p->info.end - flow->cmp, s->info.end - flow->cmp);
    uint32_t dp = ip < p->info.reg_len ? p->info.reg_len - ip : 0;
    uint32_t ds = is < s->info.reg_len ? s->info.reg_len - is : 0;
    uint32_t m = MIN(MIN(dp, ds), n);
    size_t k;

    p->compared = s->compared = true;
    if (m) {
        k = first_diff(p->data + p->info.reg_off + ip,
                       s->data + s->info.reg_off + is, m);
        if (k < m) {
            flow_diverge(e, flow, COLO_CMP_DIV_PAYLOAD, e->in_side, true,
                         flow->off64 + k, p->len, s->len);
            return false;
        }
        flow->cmp += m;
        flow->off64 += m;
        flow->fresh = false;
        return true;
    }
    /* At least one side is at its FIN */
    if (dp == 0 && ds == 0) {
        flow->cmp++;
        flow->off64++;
        flow->fresh = false;
        return true;
    }
    flow_diverge(e, flow, COLO_CMP_DIV_FIN, e->in_side, true, flow->off64,
                 p->len, s->len);
    return false;
}

/*
 * Lowest sequence number of the secondary segments beyond the comparison
 * point; false if there is none.
 */
static bool tcp_secondary_ahead(CmpFlow *flow, CmpFrame *extra,
                                uint32_t *seq)
{
    CmpFrame *f;
    bool found = false;

    QTAILQ_FOREACH(f, &flow->q[CLS_TCP].sq, link) {
        if (!found || seq_le(f->info.seq, *seq)) {
            *seq = f->info.seq;
            found = true;
        }
    }
    if (extra && extra->side == COLO_CMP_SECONDARY &&
        extra->outcome == OUT_PENDING &&
        (!found || seq_le(extra->info.seq, *seq))) {
        *seq = extra->info.seq;
        found = true;
    }
    return found;
}

/*
 * When no segment covers the comparison point: the distance from it to
 * the lowest sequence number of @side's pending TCP segments (@extra
 * included), all beyond it, or UINT32_MAX if there is none (a segment is
 * less than 2^31 ahead).  A chain's lowest is its head.
 */
static uint32_t tcp_lowest_ahead(CmpFlow *flow, ColoCmpSide side,
                                 const CmpFrame *extra)
{
    uint32_t d = UINT32_MAX;
    CmpFrame *f;

    if (side == COLO_CMP_PRIMARY) {
        QTAILQ_FOREACH(f, &flow->q[CLS_TCP].ppend, plink) {
            d = MIN(d, f->info.seq - flow->cmp);
            if (flow->chain[side]) {
                break;
            }
        }
    } else {
        QTAILQ_FOREACH(f, &flow->q[CLS_TCP].sq, link) {
            d = MIN(d, f->info.seq - flow->cmp);
            if (flow->chain[side]) {
                break;
            }
        }
    }
    if (extra && extra->side == side && extra->outcome == OUT_PENDING) {
        d = MIN(d, extra->info.seq - flow->cmp);
    }
    return d;
}

/*
 * When no segment covers the comparison point: whether both sides' next
 * segments start at the same sequence number, and if so which.  Both
 * guests then left out the bytes before it (e.g. a segment both sent as
 * IP fragments, compared as datagrams, or both sent malformed).
 */
static bool tcp_gap_both(CmpFlow *flow, const CmpFrame *extra,
                         uint32_t *seq)
{
    uint32_t d;

    /* usually both sides are done: nothing queued on either */
    if (QTAILQ_EMPTY(&flow->q[CLS_TCP].ppend) &&
        QTAILQ_EMPTY(&flow->q[CLS_TCP].sq)) {
        return false;
    }
    d = tcp_lowest_ahead(flow, COLO_CMP_PRIMARY, extra);
    if (d == UINT32_MAX || d != tcp_lowest_ahead(flow, COLO_CMP_SECONDARY,
                                                 extra)) {
        return false;
    }
    *seq = flow->cmp + d;
    return true;
}

/*
 * Advance the comparison point as far as both sides have data, retiring
 * what it passes.  @extra is the frame being input, not queued yet.
 *
 * A stream synced on a primary segment (no SYN seen: after a checkpoint,
 * at start, after an idle expiry) may have started on a retransmission
 * of bytes both guests had sent before the checkpoint, which only the
 * primary's timer happened to resend.  So until the first comparison, if
 * the secondary's data starts beyond the comparison point, the point
 * moves there: the bytes skipped were sent before the guests' states were
 * made equal.
 *
 * At any time, if neither side covers the comparison point but both have
 * segments beyond it starting at the same sequence number, the point
 * moves there: bytes in between entered neither stream, and would
 * otherwise be waited for until compare_timeout.  The stream offset
 * counts the bytes skipped.  A side that has nothing beyond the point,
 * or whose next segment starts elsewhere, is waited for as before.
 */
static void tcp_advance(ColoCompareEngine *e, CmpFlow *flow, CmpFrame *extra)
{
    CmpFrame *p, *s;
    uint32_t seq;

    if (!flow->synced) {
        return;
    }
    for (;;) {
        p = tcp_cover_primary(flow, extra);
        s = tcp_cover_secondary(e, flow, extra);
        if (!s) {
            if (p) {
                if (!flow->fresh || !tcp_secondary_ahead(flow, extra, &seq)) {
                    return;
                }
                flow->fresh = false;
            } else if (!tcp_gap_both(flow, extra, &seq)) {
                return;
            }
            flow->off64 += (uint32_t)(seq - flow->cmp);
            flow->cmp = seq;
            continue;
        }
        if (!p || !tcp_step(e, flow, p, s)) {
            return;
        }
    }
}

static void tcp_sync(CmpFlow *flow, uint32_t seq, uint64_t off, bool fresh)
{
    flow->synced = true;
    flow->fresh = fresh;
    flow->cmp = seq;
    flow->off64 = off;
}

/*
 * Per-class processing of a frame being input (@nf, on the stack).  Each
 * may decide @nf and/or queued frames, or make the flow diverge.
 */

static void process_fifo(ColoCompareEngine *e, CmpFlow *flow, CmpFrame *nf)
{
    CmpFrame *other;

    if (nf->side == COLO_CMP_PRIMARY) {
        other = QTAILQ_FIRST(&flow->q[CLS_FIFO].sq);
        if (other && QTAILQ_EMPTY(&flow->q[CLS_FIFO].ppend) &&
            fifo_match(e, flow, nf, other)) {
            primary_decide(flow, nf, OUT_IDENTICAL);
            frame_drop(e, other, DROP_MATCHED);
        }
    } else {
        other = QTAILQ_FIRST(&flow->q[CLS_FIFO].ppend);
        if (other && fifo_match(e, flow, other, nf)) {
            primary_decide(flow, other, OUT_IDENTICAL);
            nf->outcome = OUT_IDENTICAL;
        }
    }
}

static void process_tcp(ColoCompareEngine *e, CmpFlow *flow, CmpFrame *nf)
{
    if (nf->side == COLO_CMP_PRIMARY && !flow->synced) {
        tcp_sync(flow, nf->info.seq, 0, true);
    }
    /*
     * The usual first half of a pair: a segment beyond the comparison
     * point while the other side has no segment pending.  The point moves
     * only where both sides have data, and every segment it passed was
     * retired when it moved, so tcp_advance() would find nothing to do.
     */
    if (QTAILQ_EMPTY(nf->side == COLO_CMP_PRIMARY ? &flow->q[CLS_TCP].sq :
                     &flow->q[CLS_TCP].ppend) &&
        !seq_le(nf->info.end, flow->cmp)) {
        return;
    }
    tcp_advance(e, flow, nf);
}

/*
 * SYN+ACKs are paired by their acknowledgment number: the client's ISN + 1,
 * the same on both sides (the secondary's SYN+ACK is unrewritten, but only
 * its own sequence number differs).
 */
static CmpFrame *syn_find_primary(CmpFlow *flow, uint32_t ack)
{
    CmpFrame *f;

    QTAILQ_FOREACH(f, &flow->q[CLS_SYN].ppend, plink) {
        if (f->info.ack == ack) {
            return f;
        }
    }
    return NULL;
}

static CmpFrame *syn_find_secondary(CmpFlow *flow, uint32_t ack)
{
    CmpFrame *f;

    QTAILQ_FOREACH(f, &flow->q[CLS_SYN].sq, link) {
        if (f->info.ack == ack) {
            return f;
        }
    }
    return NULL;
}

static void process_syn(ColoCompareEngine *e, CmpFlow *flow, CmpFrame *nf,
                        bool with_ack)
{
    CmpFrame *other;

    if (nf->side == COLO_CMP_SECONDARY) {
        /* Only SYN+ACK gets here; it is unrewritten, never use its seq */
        other = syn_find_primary(flow, nf->info.ack);
        if (other) {
            if (syn_match(e, flow, other, nf)) {
                primary_decide(flow, other, OUT_IDENTICAL);
                nf->outcome = OUT_IDENTICAL;
            }
        } else if (flow->have_synack && flow->synack_ack == nf->info.ack) {
            /* retransmission of one already paired or released */
            nf->outcome = OUT_UNCOMPARED;
        } else {
            /* wait for the primary's; keep only the latest copy */
            other = syn_find_secondary(flow, nf->info.ack);
            if (other) {
                frame_drop(e, other, DROP_UNCOMPARED);
            }
        }
        return;
    }

    if (flow->have_isn && nf->info.seq == flow->isn &&
        (!with_ack || (flow->have_synack &&
                       flow->synack_ack == nf->info.ack))) {
        /* Retransmitted SYN: released in order, nothing to compare */
        primary_decide(flow, nf, OUT_UNCOMPARED);
        return;
    }
    flow->have_isn = true;
    flow->isn = nf->info.seq;
    tcp_sync(flow, nf->info.seq + 1 + nf->info.reg_len, nf->info.reg_len,
             false);
    if (!with_ack) {
        /* The guest opens a connection: nothing to pair it with */
        primary_decide(flow, nf, OUT_UNCOMPARED);
    } else {
        flow->have_synack = true;
        flow->synack_ack = nf->info.ack;
        other = syn_find_secondary(flow, nf->info.ack);
        if (other) {
            if (!syn_match(e, flow, nf, other)) {
                return;
            }
            primary_decide(flow, nf, OUT_IDENTICAL);
            frame_drop(e, other, DROP_MATCHED);
        }
    }
    /* Secondary segments queued before are now behind or aligned */
    tcp_advance(e, flow, NULL);
}

static void process_rst(ColoCompareEngine *e, CmpFlow *flow, CmpFrame *nf)
{
    CmpFrame *other;

    if (nf->side == COLO_CMP_PRIMARY) {
        other = QTAILQ_FIRST(&flow->q[CLS_RST].sq);
        if (other) {
            nf->compared = true;
            primary_decide(flow, nf, OUT_IDENTICAL);
            frame_drop(e, other, DROP_MATCHED);
        }
    } else {
        other = QTAILQ_FIRST(&flow->q[CLS_RST].ppend);
        if (other) {
            other->compared = true;
            primary_decide(flow, other, OUT_IDENTICAL);
            nf->outcome = OUT_IDENTICAL;
        }
    }
}

/*
 * Input
 */

static CmpKind classify(const ColoPacket *pkt)
{
    uint8_t f;

    if (pkt->l4 != COLO_L4_TCP || pkt->is_fragment) {
        return KIND_FIFO;
    }
    f = pkt->tcp_flags;
    if (f & COLO_TCP_RST) {
        return KIND_RST;
    }
    if (f & COLO_TCP_SYN) {
        return (f & COLO_TCP_ACK) ? KIND_SYN : KIND_SYN_NOACK;
    }
    if (pkt->payload_len == 0 && !(f & COLO_TCP_FIN)) {
        return KIND_PURE_ACK;
    }
    return KIND_TCP;
}

static void fill_info(const ColoPacket *pkt, CmpKind kind, CmpInfo *info)
{
    size_t off, len;

    memset(info, 0, sizeof(*info));
    info->l2_off = pkt->l2_off;
    info->csum_rel = NO_CSUM;
    switch (kind) {
    case KIND_TCP:
    case KIND_SYN:
    case KIND_SYN_NOACK:
    case KIND_RST:
    case KIND_PURE_ACK:
        info->reg_off = pkt->payload_off;
        info->reg_len = pkt->payload_len;
        info->seq = pkt->tcp_seq;
        info->ack = pkt->tcp_ack;
        info->flags = pkt->tcp_flags;
        info->end = pkt->tcp_seq + pkt->payload_len +
                    !!(pkt->tcp_flags & COLO_TCP_FIN);
        if (kind == KIND_SYN) {
            /* only SYN+ACKs have their options compared */
            info->mss = pkt->tcp_mss;
            info->wscale = pkt->tcp_wscale;
            info->has_wscale = pkt->tcp_has_wscale;
            info->has_ts = pkt->tcp_ts_off != 0;
            info->sack_perm = colo_tcp_option_find(pkt,
                                                   COLO_TCPOPT_SACK_PERM,
                                                   &off, &len);
        }
        break;
    case KIND_FIFO:
        if (pkt->l3 == COLO_L3_OTHER) {
            /* the whole frame */
            info->reg_off = pkt->l2_off;
            info->reg_len = pkt->size - pkt->l2_off;
            info->hdr_len = pkt->l3_off - pkt->l2_off;
            break;
        }
        info->is_frag = pkt->is_fragment;
        info->more_frags = pkt->more_frags;
        info->frag_off = pkt->frag_off;
        if (pkt->l4 == COLO_L4_TCP) {
            /* TCP fragment: its header holds ack/window, compare data */
            info->reg_off = pkt->payload_off;
            info->reg_len = pkt->payload_len;
            break;
        }
        info->reg_off = pkt->l4_off;
        info->reg_len = pkt->payload_off + pkt->payload_len - pkt->l4_off;
        info->hdr_len = pkt->l4_hdr_len;
        if (pkt->l4_csum_off >= pkt->l4_off) {
            info->csum_rel = pkt->l4_csum_off - pkt->l4_off;
        }
        if (pkt->l4_csum_off == 0) {
            info->csum_rel = NO_CSUM;
        }
        break;
    }
}

static CmpClass kind_class(CmpKind kind)
{
    switch (kind) {
    case KIND_TCP:
        return CLS_TCP;
    case KIND_SYN:
    case KIND_SYN_NOACK:
        return CLS_SYN;
    case KIND_RST:
        return CLS_RST;
    default:
        return CLS_FIFO;
    }
}

/* The frame being input has been processed: release, drop or queue it. */
static void input_finish(ColoCompareEngine *e, CmpFlow *flow, CmpFrame *nf)
{
    bool primary = nf->side == COLO_CMP_PRIMARY;

    if (flow->diverged) {
        if (primary) {
            release_data(e, nf->data, nf->len,
                         outcome_release(nf, REL_DIVERGED));
        } else {
            count_drop(e, outcome_drop(nf, DROP_DIVERGED));
        }
        return;
    }
    flow_release_ready(e, flow);
    if (!primary) {
        if (nf->outcome != OUT_PENDING) {
            count_drop(e, outcome_drop(nf, DROP_UNCOMPARED));
        } else if (nf->cls == CLS_TCP &&
                   !tcp_chain_append(flow, COLO_CMP_SECONDARY,
                                     &flow->q[CLS_TCP].sq, nf)) {
            /* it retransmits queued bytes: nothing to compare */
            count_drop(e, DROP_UNCOMPARED);
        } else if (flow->nq[COLO_CMP_SECONDARY] >= e->cfg.max_queue_size) {
            count_drop(e, DROP_OVERFLOW);
            flow_diverge(e, flow, COLO_CMP_DIV_QUEUE_FULL,
                         COLO_CMP_SECONDARY, nf->cls == CLS_TCP,
                         nf->cls == CLS_TCP ? flow->off64 : 0, 0, nf->len);
        } else {
            frame_persist(e, flow, nf);
        }
        return;
    }
    if (nf->outcome != OUT_PENDING && QTAILQ_EMPTY(&flow->pq)) {
        release_data(e, nf->data, nf->len, outcome_release(nf, REL_DIVERGED));
    } else if (flow->nq[COLO_CMP_PRIMARY] >= e->cfg.max_queue_size) {
        flow_diverge(e, flow, COLO_CMP_DIV_QUEUE_FULL, COLO_CMP_PRIMARY,
                     nf->cls == CLS_TCP,
                     nf->cls == CLS_TCP ? flow->off64 : 0, nf->len, 0);
        release_data(e, nf->data, nf->len, outcome_release(nf, REL_DIVERGED));
    } else {
        if (nf->outcome == OUT_PENDING && nf->cls == CLS_TCP &&
            !tcp_chain_append(flow, COLO_CMP_PRIMARY,
                              &flow->q[CLS_TCP].ppend, nf)) {
            /* it retransmits queued bytes: released in its turn */
            nf->outcome = OUT_UNCOMPARED;
        }
        frame_persist(e, flow, nf);
    }
}

static void input_malformed(ColoCompareEngine *e, ColoCmpSide side,
                            const uint8_t *frame, size_t len,
                            ColoPktError err)
{
    ColoCmpDivergence d = {
        .reason = COLO_CMP_DIV_MALFORMED,
        .side = side,
        .primary_len = len,
        .pkt_error = err,
    };

    if (side == COLO_CMP_SECONDARY) {
        count_drop(e, DROP_MALFORMED);
        return;
    }
    e->stats.divergences[COLO_CMP_DIV_MALFORMED]++;
    if (e->cfg.divergence) {
        e->cfg.divergence(e->cfg.opaque, &d);
    }
    release_data(e, frame, len, REL_DIVERGED);
}

static void input_table_full(ColoCompareEngine *e, ColoCmpSide side,
                             const uint8_t *frame, size_t len,
                             const ColoFlowKey *key)
{
    ColoCmpDivergence d = {
        .reason = COLO_CMP_DIV_TABLE_FULL,
        .side = side,
        .has_key = true,
        .key = *key,
        .primary_len = len,
    };

    if (side == COLO_CMP_SECONDARY) {
        count_drop(e, DROP_TABLE_FULL);
        return;
    }
    e->stats.divergences[COLO_CMP_DIV_TABLE_FULL]++;
    if (e->cfg.divergence) {
        e->cfg.divergence(e->cfg.opaque, &d);
    }
    release_data(e, frame, len, REL_DIVERGED);
}

/* A primary pure ACK: released at once unless its flow has queued frames. */
static void input_pure_ack(ColoCompareEngine *e, CmpFrame *nf,
                           const ColoFlowKey *key, uint32_t hash)
{
    ColoConn *conn = colo_conn_lookup_hashed(e->conns, key, hash);
    CmpFlow *flow = conn ? colo_conn_priv(conn) : NULL;

    nf->outcome = OUT_UNCOMPARED;
    if (!flow || QTAILQ_EMPTY(&flow->pq)) {
        release_data(e, nf->data, nf->len, REL_UNCOMPARED);
        return;
    }
    colo_conn_touch(e->conns, conn, e->now);
    input_finish(e, flow, nf);
}

/* Parse a frame being input into @pkt; false if it is malformed. */
static bool input_parse(const ColoCompareEngine *e, ColoPacket *pkt,
                        const uint8_t *frame, size_t len)
{
    return colo_packet_parse(pkt, frame, len, e->cfg.vnet_hdr_len) ==
           COLO_PKT_OK;
}

/*
 * Input one frame.  @pkt: the frame already parsed by input_parse(), or
 * NULL to parse it here if needed (into e->in_pkt).  @key and @hash:
 * its flow key and colo_conn_hash(), computed by the caller if it parsed
 * the frame successfully, else NULL and ignored.
 */
static void input_one(ColoCompareEngine *e, ColoCmpSide side,
                      const uint8_t *frame, size_t len, ColoPacket *pkt,
                      const ColoFlowKey *key, uint32_t hash, int64_t now_ns)
{
    CmpFrame *nf = e->in_frame;
    ColoConn *conn;
    CmpFlow *flow;
    CmpKind kind;

    assert(side == COLO_CMP_PRIMARY || side == COLO_CMP_SECONDARY);
    e->now = MAX(e->now, now_ns);
    e->in_side = side;
    e->stats.frames_in[side]++;
    e->stats.bytes_in[side] += len;

    if (e->failover) {
        if (side == COLO_CMP_PRIMARY) {
            release_data(e, frame, len, REL_FAILOVER);
        } else {
            count_drop(e, DROP_FAILOVER);
        }
        return;
    }
    if (!pkt) {
        pkt = &e->in_pkt;
        input_parse(e, pkt, frame, len);
        key = NULL;
    }
    if (pkt->error != COLO_PKT_OK) {
        input_malformed(e, side, frame, len, pkt->error);
        return;
    }
    kind = classify(pkt);
    if (side == COLO_CMP_SECONDARY &&
        (kind == KIND_PURE_ACK || kind == KIND_SYN_NOACK)) {
        /* nothing to compare; a SYN from the guest cannot be paired */
        count_drop(e, DROP_UNCOMPARED);
        return;
    }

    if (!key) {
        colo_flow_key_from_packet(pkt, &e->in_key);
        key = &e->in_key;
        hash = colo_conn_hash(e->conns, key);
    }
    nf->data = frame;
    nf->len = len;
    nf->side = side;
    nf->cls = kind_class(kind);
    nf->outcome = OUT_PENDING;
    nf->compared = false;
    nf->linked = false;
    nf->arrival = e->now;
    nf->flow = NULL;
    fill_info(pkt, kind, &nf->info);

    if (kind == KIND_PURE_ACK) {
        input_pure_ack(e, nf, key, hash);
        return;
    }
    if (colo_conn_lookup_or_create_hashed(e->conns, key, hash, e->now,
                                          &conn) == COLO_CONN_FULL) {
        if (kind == KIND_SYN_NOACK) {
            release_data(e, frame, len, REL_UNCOMPARED);
        } else {
            input_table_full(e, side, frame, len, key);
        }
        return;
    }
    colo_conn_track(e->conns, conn, pkt, COLO_DIR_FWD, e->now);
    flow = colo_conn_priv(conn);
    flow_refresh(e, flow);
    nf->flow = flow;

    if (!flow->diverged) {
        switch (kind) {
        case KIND_FIFO:
            process_fifo(e, flow, nf);
            break;
        case KIND_TCP:
            process_tcp(e, flow, nf);
            break;
        case KIND_SYN:
        case KIND_SYN_NOACK:
            process_syn(e, flow, nf, kind == KIND_SYN);
            break;
        case KIND_RST:
            process_rst(e, flow, nf);
            break;
        case KIND_PURE_ACK:
            g_assert_not_reached();
        }
    }
    input_finish(e, flow, nf);
}

void colo_cmp_engine_input(ColoCompareEngine *e, ColoCmpSide side,
                           const uint8_t *frame, size_t len, int64_t now_ns)
{
    input_one(e, side, frame, len, NULL, NULL, 0, now_ns);
}

/*
 * Entries being loaded ahead of the frame being input: each is several
 * cache lines, and too many loads in flight stall the CPU (its miss
 * buffers are full) instead of overlapping.
 */
#define CMP_LOOKAHEAD_ENTRIES 4

static void burst_prefetch_entry(ColoCompareEngine *e, size_t j)
{
    if (e->burst_pkt[j].error == COLO_PKT_OK) {
        colo_conn_prefetch_entry(e->conns, e->burst_hash[j]);
    }
}

/*
 * A burst is processed in two passes so that its connection lookups
 * overlap: parse every frame and start loading its hash bucket, then
 * input the frames in order, each time reading the bucket of the frame
 * CMP_LOOKAHEAD_ENTRIES ahead and starting to load its entry (with its
 * flow state).  With thousands of flows each lookup would otherwise
 * stall on two cache misses in turn.
 */
void colo_cmp_engine_input_burst(ColoCompareEngine *e, ColoCmpSide side,
                                 const ColoCmpFrameRef *frames, size_t n,
                                 int64_t now_ns)
{
    while (n > 0) {
        size_t m = MIN(n, COLO_CMP_BURST), j;
        /* failover passes frames through without parsing them */
        bool parsed = !e->failover &&
                      colo_conn_count(e->conns) >= e->cfg.lookahead_min_conns;

        if (parsed) {
            for (j = 0; j < m; j++) {
                ColoPacket *pkt = &e->burst_pkt[j];

                if (input_parse(e, pkt, frames[j].data, frames[j].len)) {
                    colo_flow_key_from_packet(pkt, &e->burst_key[j]);
                    e->burst_hash[j] = colo_conn_hash(e->conns,
                                                      &e->burst_key[j]);
                    colo_conn_prefetch_bucket(e->conns, e->burst_hash[j]);
                }
            }
            for (j = 0; j < MIN(m, CMP_LOOKAHEAD_ENTRIES); j++) {
                burst_prefetch_entry(e, j);
            }
        }
        for (j = 0; j < m; j++) {
            if (parsed) {
                if (j + CMP_LOOKAHEAD_ENTRIES < m) {
                    burst_prefetch_entry(e, j + CMP_LOOKAHEAD_ENTRIES);
                }
                input_one(e, side, frames[j].data, frames[j].len,
                          &e->burst_pkt[j], &e->burst_key[j],
                          e->burst_hash[j], now_ns);
            } else {
                input_one(e, side, frames[j].data, frames[j].len, NULL, NULL,
                          0, now_ns);
            }
        }
        frames += m;
        n -= m;
    }
}

/*
 * Time, checkpoints, failover
 */

static int64_t deadline_of(const ColoCompareEngine *e, const CmpFrame *f)
{
    int64_t to = e->cfg.compare_timeout_ns;

    return f->arrival > INT64_MAX - to ? INT64_MAX : f->arrival + to;
}

int64_t colo_cmp_engine_next_deadline(const ColoCompareEngine *e)
{
    int64_t d = INT64_MAX;
    int i;

    for (i = 0; i < 2; i++) {
        const CmpFrame *f = QTAILQ_FIRST(&e->gq[i]);

        if (f) {
            d = MIN(d, deadline_of(e, f));
        }
    }
    return d;
}

int64_t colo_cmp_engine_expire(ColoCompareEngine *e, int64_t now_ns)
{
    int64_t to = e->cfg.compare_timeout_ns;
    CmpFrame *f;

    e->now = MAX(e->now, now_ns);
    while ((f = QTAILQ_FIRST(&e->gq[COLO_CMP_PRIMARY])) &&
           elapsed(e->now, f->arrival, to)) {
        /* the oldest primary frame is the head of its flow's queue */
        CmpFlow *flow = f->flow;

        assert(f == QTAILQ_FIRST(&flow->pq));
        flow_diverge(e, flow, COLO_CMP_DIV_TIMEOUT, COLO_CMP_PRIMARY,
                     f->cls == CLS_TCP,
                     f->cls == CLS_TCP ? flow->off64 : 0, f->len, 0);
    }
    while ((f = QTAILQ_FIRST(&e->gq[COLO_CMP_SECONDARY])) &&
           elapsed(e->now, f->arrival, to)) {
        frame_drop(e, f, DROP_EXPIRED);
    }
    colo_conn_expire(e->conns, e->now);
    return colo_cmp_engine_next_deadline(e);
}

/* Release every primary frame in input order, drop every secondary one. */
static void flush_all(ColoCompareEngine *e, CmpRelease rel, CmpDrop drop)
{
    CmpFrame *f;

    while ((f = QTAILQ_FIRST(&e->gq[COLO_CMP_PRIMARY]))) {
        frame_release(e, f, outcome_release(f, rel));
    }
    while ((f = QTAILQ_FIRST(&e->gq[COLO_CMP_SECONDARY]))) {
        frame_drop(e, f, drop);
    }
}

void colo_cmp_engine_checkpoint(ColoCompareEngine *e)
{
    flush_all(e, REL_CHECKPOINT, DROP_CHECKPOINT);
    e->epoch++;
    e->stats.checkpoints++;
}

void colo_cmp_engine_failover(ColoCompareEngine *e)
{
    flush_all(e, REL_FAILOVER, DROP_FAILOVER);
    e->epoch++;
    e->failover = true;
}

bool colo_cmp_engine_is_failover(const ColoCompareEngine *e)
{
    return e->failover;
}

void colo_cmp_engine_get_stats(const ColoCompareEngine *e,
                               ColoCmpStats *stats)
{
    *stats = e->stats;
    stats->connections = colo_conn_count(e->conns);
}

/*
 * Life cycle
 */

ColoCompareEngine *colo_cmp_engine_new(const ColoCmpConfig *cfg)
{
    ColoCompareEngine *e = g_new0(ColoCompareEngine, 1);
    ColoConnTableConfig tcfg = { 0 };
    int i;

    assert(cfg->release);
    e->cfg = *cfg;
    if (!e->cfg.lookahead_min_conns) {
        e->cfg.lookahead_min_conns = COLO_CMP_DEFAULT_LOOKAHEAD_MIN_CONNS;
    }
    if (!e->cfg.max_connections) {
        e->cfg.max_connections = COLO_CMP_DEFAULT_MAX_CONNECTIONS;
    }
    if (!e->cfg.max_queue_size) {
        e->cfg.max_queue_size = COLO_CMP_DEFAULT_MAX_QUEUE_SIZE;
    }
    if (e->cfg.compare_timeout_ns <= 0) {
        e->cfg.compare_timeout_ns = COLO_CMP_DEFAULT_TIMEOUT_NS;
    }
    if (e->cfg.conn_idle_timeout_ns <= 0) {
        e->cfg.conn_idle_timeout_ns = COLO_CMP_DEFAULT_CONN_IDLE_NS;
    }
    e->now = INT64_MIN;
    e->in_frame = g_new0(CmpFrame, 1);
    for (i = 0; i < SLAB_N; i++) {
        e->free_stack[i] = g_new(CmpFrame *, SLAB_FREE_MAX);
    }
    QTAILQ_INIT(&e->gq[0]);
    QTAILQ_INIT(&e->gq[1]);

    tcfg.max_entries = e->cfg.max_connections;
    tcfg.priv_size = sizeof(CmpFlow);
    tcfg.idle_timeout_ns = e->cfg.conn_idle_timeout_ns;
    /* Closed (RST) flows: late frames only need to find them for a while */
    tcfg.closed_linger_ns = e->cfg.compare_timeout_ns;
    tcfg.hash_seed = e->cfg.hash_seed;
    tcfg.init = flow_init;
    tcfg.opaque = e;
    e->conns = colo_conn_table_new(&tcfg);
    return e;
}

void colo_cmp_engine_free(ColoCompareEngine *e)
{
    CmpFrame *f;
    int i;

    if (!e) {
        return;
    }
    for (i = 0; i < 2; i++) {
        while ((f = QTAILQ_FIRST(&e->gq[i]))) {
            QTAILQ_REMOVE(&e->gq[i], f, glink);
            g_free(f);
        }
    }
    colo_conn_table_free(e->conns);
    g_free(e->in_frame);
    for (i = 0; i < SLAB_N; i++) {
        while (e->n_free[i]) {
            g_free(e->free_stack[i][--e->n_free[i]]);
        }
        g_free(e->free_stack[i]);
    }
    g_free(e);
}
