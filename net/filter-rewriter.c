/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * filter-rewriter: the netfilter on the COLO secondary's netdev that keeps
 * the secondary guest's TCP connections in step with the primary's.
 *
 * A thin adapter around net/colo-rewrite.c: it tells the two directions
 * apart, feeds every frame to the rewrite logic, sends patched copies on,
 * drives expiry from a timer, turns the COLO frame's checkpoint and
 * failover events into calls, reports counters to query-colo-proxy and
 * emits the trace events.
 *
 * Directions: for a filter on the guest's netdev, frames the netdev sends
 * (sender == netdev: the peers' traffic, or frames a filter-redirector
 * injects in the tx direction) go towards the guest; frames the guest's
 * NIC sends to the netdev come from the guest.  queue=all is required.
 *
 * A frame that needs no change passes through untouched.  One that does
 * is copied: its headers into a per-filter buffer, where they are
 * patched; the payload is sent from the original (a frame in several
 * pieces is copied whole first, as the packet layer parses contiguous
 * frames).  The copy is passed down the chain and the original counts as
 * consumed.  The buffer is free again when qemu_netfilter_pass_to_next()
 * returns, because every receiver either handles the frame at once or
 * queues its own copy.
 *
 * A SYN-ACK towards the guest that comes before the guest's SYN is
 * parked by the rewrite logic (the frame counts as consumed); once the
 * guest's SYN claims it, or it times out, a bottom half (never the
 * receive path itself) sends it on towards the guest.
 *
 * Everything runs in the main loop with the BQL held.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/iov.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qom/object.h"
#include "net/net.h"
#include "net/filter.h"
#include "net/colo-proxy.h"
#include "net/colo-rewrite.h"
#include "migration/colo.h"
#include "trace.h"

#define TYPE_FILTER_REWRITER "filter-rewriter"
OBJECT_DECLARE_SIMPLE_TYPE(FilterRewriterState, FILTER_REWRITER)

/* Defaults and bounds of the properties */
#define REWRITER_MAX_CONN_DEFAULT   16384
#define REWRITER_MAX_CONN_LIMIT     (1u << 20)
#define REWRITER_IDLE_DEFAULT_S     86400       /* one day */
/* Entries that rewrite nothing: the longest a TCP handshake retries */
#define REWRITER_HANDSHAKE_S        130
/* Closed connections: long enough for retransmitted FINs and ACKs */
#define REWRITER_LINGER_S           60
/* Expiry runs this often while entries exist */
#define REWRITER_TICK_NS            (1 * NANOSECONDS_PER_SECOND)
/*
 * SYN-ACKs parked until the guest's SYN, with the frames of their flows
 * that follow them: how many frames, how long
 */
#define REWRITER_PARK_MAX           256
#define REWRITER_PARK_NS            (1 * NANOSECONDS_PER_SECOND)
/* ... and the tick while some are parked */
#define REWRITER_PARK_TICK_NS       (100 * SCALE_MS)

struct FilterRewriterState {
    NetFilterState parent_obj;

    /* properties */
    bool vnet_hdr;
    uint32_t max_connections;
    uint32_t idle_timeout;      /* seconds, 0 = never */

    /* from setup() to cleanup() */
    char *id;                   /* for traces */
    ColoRewriter *rw;
    QEMUTimer *timer;
    QEMUBH *release_bh;         /* hands parked frames back */
    uint8_t *buf;               /* writable copies of frames */
    size_t buf_size;
    bool buf_busy;
    bool vnet_warned;
};

OBJECT_DEFINE_SIMPLE_TYPE_WITH_INTERFACES(FilterRewriterState, filter_rewriter,
                                          FILTER_REWRITER, NETFILTER,
                                          { TYPE_COLO_PROXY_REPORTER },
                                          { })

static const char *dir_name(ColoRewriteDir dir)
{
    return dir == COLO_RW_TO_GUEST ? "to" : "from";
}

/* Trace events, from the rewrite logic's callback */
static void filter_rewriter_event(const ColoRewriteEvent *ev, void *opaque)
{
    FilterRewriterState *s = opaque;
    char flow[COLO_FLOW_KEY_STRLEN] = "";

    switch (ev->kind) {
    case COLO_RW_EV_OFFSET_LEARNED:
        if (trace_event_get_state_backends(TRACE_FILTER_REWRITER_OFFSET)) {
            colo_flow_key_format(ev->key, flow, sizeof(flow));
            trace_filter_rewriter_offset(s->id, flow, ev->offset);
        }
        break;
    case COLO_RW_EV_PORT_MAPPED:
        if (trace_event_get_state_backends(TRACE_FILTER_REWRITER_PORT_MAP)) {
            colo_flow_key_format(ev->key, flow, sizeof(flow));
            trace_filter_rewriter_port_map(s->id, flow, ev->guest_port,
                                           ev->primary_port);
        }
        break;
    case COLO_RW_EV_REMOVED:
        if (trace_event_get_state_backends(TRACE_FILTER_REWRITER_REMOVE)) {
            colo_flow_key_format(ev->key, flow, sizeof(flow));
            trace_filter_rewriter_remove(s->id, flow,
                                         colo_rewrite_reason_name(ev->reason));
        }
        break;
    case COLO_RW_EV_UNMATCHED:
        if (trace_event_get_state_backends(TRACE_FILTER_REWRITER_UNMATCHED)) {
            colo_flow_key_format(ev->key, flow, sizeof(flow));
            trace_filter_rewriter_unmatched(s->id, flow);
        }
        break;
    case COLO_RW_EV_TABLE_FULL:
        if (trace_event_get_state_backends(TRACE_FILTER_REWRITER_TABLE_FULL)) {
            colo_flow_key_format(ev->key, flow, sizeof(flow));
            trace_filter_rewriter_table_full(s->id, flow);
        }
        break;
    case COLO_RW_EV_PARKED:
        /* counted in parked-syn-acks; traced when it goes out */
        break;
    case COLO_RW_EV_MALFORMED:
        trace_filter_rewriter_malformed(s->id, dir_name(ev->dir),
                                        colo_pkt_error_name(ev->error));
        break;
    }
}

/* Expiry */

static void filter_rewriter_arm(FilterRewriterState *s)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);

    if (colo_rewriter_releasable(s->rw)) {
        qemu_bh_schedule(s->release_bh);
    }
    if (colo_rewriter_parked(s->rw)) {
        if (!timer_pending(s->timer) ||
            timer_expire_time_ns(s->timer) > now + REWRITER_PARK_TICK_NS) {
            timer_mod(s->timer, now + REWRITER_PARK_TICK_NS);
        }
    } else if (!timer_pending(s->timer) && colo_rewriter_connections(s->rw)) {
        timer_mod(s->timer, now + REWRITER_TICK_NS);
    }
}

/* Send a released parked frame on, towards the guest */
static void filter_rewriter_send_parked(const uint8_t *frame, size_t len,
                                        size_t vnet_hdr_len, void *opaque)
{
    NetFilterState *nf = opaque;
    unsigned flags = QEMU_NET_PACKET_FLAG_NONE;
    struct iovec iov = {
        .iov_base = (void *)frame,
        .iov_len = len,
    };

    if (!vnet_hdr_len && qemu_get_vnet_hdr_len(nf->netdev)) {
        /* it was handled without the netdev's header: a raw frame */
        flags = QEMU_NET_PACKET_FLAG_RAW;
    }
    qemu_netfilter_pass_to_next(nf->netdev, flags, &iov, 1, nf);
}

static void filter_rewriter_release(FilterRewriterState *s)
{
    colo_rewriter_release(s->rw, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL),
                          filter_rewriter_send_parked, &s->parent_obj);
}

static void filter_rewriter_release_bh(void *opaque)
{
    FilterRewriterState *s = opaque;

    filter_rewriter_release(s);
    filter_rewriter_arm(s);
}

static void filter_rewriter_tick(void *opaque)
{
    FilterRewriterState *s = opaque;

    colo_rewriter_expire(s->rw, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL));
    filter_rewriter_release(s);
    filter_rewriter_arm(s);
}

/* Frames */

/* A writable buffer of @len bytes: the filter's own, or @tmp if busy. */
static uint8_t *filter_rewriter_buf(FilterRewriterState *s, size_t len,
                                    uint8_t **tmp)
{
    if (s->buf_busy) {
        /* re-entered from pass_to_next(): do not clobber the outer copy */
        *tmp = g_malloc(len);
        return *tmp;
    }
    if (s->buf_size < len) {
        s->buf_size = MAX(len, 2048);
        g_free(s->buf);
        s->buf = g_malloc(s->buf_size);
    }
    return s->buf;
}

static ssize_t
filter_rewriter_receive_iov(NetFilterState *nf, NetClientState *sender,
                            unsigned flags, const struct iovec *iov,
                            int iovcnt, NetPacketSent *sent_cb)
{
    FilterRewriterState *s = FILTER_REWRITER(nf);
    ColoRewriteDir dir = sender == nf->netdev ? COLO_RW_TO_GUEST
                                              : COLO_RW_FROM_GUEST;
    size_t len = iov_size(iov, iovcnt);
    size_t vnet_len = 0;
    g_autofree uint8_t *tmp = NULL;
    const uint8_t *frame;
    uint8_t *copy = NULL;
    ColoRewritePatch patch;
    ColoRewriteResult res;
    struct iovec out[2];
    int n_out = 1;
    bool outer;

    if (!(flags & QEMU_NET_PACKET_FLAG_RAW)) {
        /* The layout of frames is the netdev's, whatever the property */
        vnet_len = qemu_get_vnet_hdr_len(nf->netdev);
        if (vnet_len && !s->vnet_hdr && !s->vnet_warned) {
            s->vnet_warned = true;
            trace_filter_rewriter_vnet_hdr(s->id, vnet_len);
        }
    }

    outer = !s->buf_busy;
    if (iovcnt == 1) {
        frame = iov[0].iov_base;
    } else {
        copy = filter_rewriter_buf(s, len, &tmp);
        s->buf_busy = true;
        iov_to_buf(iov, iovcnt, 0, copy, len);
        frame = copy;
    }
    res = colo_rewriter_handle(s->rw, dir, frame, len, vnet_len,
                               qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL), &patch);
    filter_rewriter_arm(s);
    if (res != COLO_RW_REWRITTEN) {
        if (outer) {
            s->buf_busy = false;
        }
        /* a parked frame is consumed: the rewriter keeps a copy */
        return res == COLO_RW_PARK ? len : 0;
    }

    if (copy) {
        colo_rewrite_patch_apply(&patch, copy);
        out[0].iov_base = copy;
        out[0].iov_len = len;
    } else {
        size_t ext = colo_rewrite_patch_extent(&patch);

        copy = filter_rewriter_buf(s, ext, &tmp);
        s->buf_busy = true;
        memcpy(copy, frame, ext);
        colo_rewrite_patch_apply(&patch, copy);
        out[0].iov_base = copy;
        out[0].iov_len = ext;
        if (len > ext) {
            out[1].iov_base = (uint8_t *)frame + ext;
            out[1].iov_len = len - ext;
            n_out = 2;
        }
    }
    qemu_netfilter_pass_to_next(sender, flags, out, n_out, nf);
    if (outer) {
        s->buf_busy = false;
    }
    return len;
}

/* COLO events */

static void filter_rewriter_handle_event(NetFilterState *nf, int event,
                                         Error **errp)
{
    FilterRewriterState *s = FILTER_REWRITER(nf);
    uint32_t n;

    /*
     * Not the default handler, which turns filters off at failover: the
     * connections opened since the last checkpoint still need rewriting.
     */
    switch (event) {
    case COLO_EVENT_CHECKPOINT:
        n = colo_rewriter_checkpoint(s->rw);
        trace_filter_rewriter_colo_event(s->id, "checkpoint", n);
        break;
    case COLO_EVENT_FAILOVER:
        n = colo_rewriter_failover(s->rw);
        trace_filter_rewriter_colo_event(s->id, "failover", n);
        break;
    default:
        break;
    }
    /* parked frames go out now, from the main loop */
    filter_rewriter_arm(s);
}

/* Counters */

static void filter_rewriter_report(Object *obj, ColoProxyObjectInfo *info)
{
    FilterRewriterState *s = FILTER_REWRITER(obj);
    ColoRewriterStats *st = &info->u.filter_rewriter;
    ColoRewriteCounters c = { 0 };

    info->kind = COLO_PROXY_OBJECT_KIND_FILTER_REWRITER;
    if (s->rw) {
        colo_rewriter_counters(s->rw, &c);
    }
    st->connections = c.connections;
    st->pending = c.pending;
    st->frames_rewritten = c.frames_rewritten;
    st->offsets_learned = c.offsets_learned;
    st->ports_mapped = c.ports_mapped;
    st->unmatched_syn_acks = c.unmatched_syn_acks;
    st->parked_syn_acks = c.parked_syn_acks;
    st->entries_expired = c.entries_expired;
    st->entries_evicted = c.entries_evicted;
    st->malformed = c.malformed;
    st->table_full = c.table_full;
    st->checkpoints = c.checkpoints;
    st->failed_over = c.failed_over;
}

/* Life cycle */

static void filter_rewriter_setup(NetFilterState *nf, Error **errp)
{
    FilterRewriterState *s = FILTER_REWRITER(nf);
    int64_t idle = (int64_t)s->idle_timeout * NANOSECONDS_PER_SECOND;
    ColoRewriterConfig cfg = {
        .max_connections = s->max_connections,
        .idle_timeout_ns = idle,
        .handshake_timeout_ns = REWRITER_HANDSHAKE_S * NANOSECONDS_PER_SECOND,
        .closed_linger_ns = REWRITER_LINGER_S * NANOSECONDS_PER_SECOND,
        .hash_seed = g_random_int(),
        .park_max = REWRITER_PARK_MAX,
        .park_timeout_ns = REWRITER_PARK_NS,
        .event = filter_rewriter_event,
        .opaque = s,
    };

    if (nf->direction != NET_FILTER_DIRECTION_ALL) {
        error_setg(errp, "filter-rewriter needs queue=all: it rewrites "
                   "the frames of both directions");
        return;
    }
    if (idle > 0) {
        cfg.handshake_timeout_ns = MIN(cfg.handshake_timeout_ns, idle);
        cfg.closed_linger_ns = MIN(cfg.closed_linger_ns, idle);
    }
    s->id = g_strdup(object_get_canonical_path_component(OBJECT(nf)));
    s->rw = colo_rewriter_new(&cfg);
    s->timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, filter_rewriter_tick, s);
    s->release_bh = qemu_bh_new(filter_rewriter_release_bh, s);
}

static void filter_rewriter_cleanup(NetFilterState *nf)
{
    FilterRewriterState *s = FILTER_REWRITER(nf);

    if (s->timer) {
        timer_free(s->timer);
        s->timer = NULL;
    }
    if (s->release_bh) {
        qemu_bh_delete(s->release_bh);
        s->release_bh = NULL;
    }
    /* parked frames are dropped: the netdev is going away */
    colo_rewriter_free(s->rw);
    s->rw = NULL;
    g_free(s->buf);
    s->buf = NULL;
    s->buf_size = 0;
    g_free(s->id);
    s->id = NULL;
}

/* Properties */

static bool filter_rewriter_settable(FilterRewriterState *s,
                                     const char *name, Error **errp)
{
    if (s->rw) {
        error_setg(errp, "property '%s' cannot be changed after the filter "
                   "has been created", name);
        return false;
    }
    return true;
}

static bool filter_rewriter_get_vnet_hdr(Object *obj, Error **errp)
{
    return FILTER_REWRITER(obj)->vnet_hdr;
}

static void filter_rewriter_set_vnet_hdr(Object *obj, bool value,
                                         Error **errp)
{
    FilterRewriterState *s = FILTER_REWRITER(obj);

    if (filter_rewriter_settable(s, "vnet_hdr_support", errp)) {
        s->vnet_hdr = value;
    }
}

/* A uint32 property of the filter: where it lives and its range. */
typedef struct RewriterU32Prop {
    size_t offset;
    uint32_t min;
    uint32_t max;
} RewriterU32Prop;

static const RewriterU32Prop rewriter_max_conn_prop = {
    offsetof(FilterRewriterState, max_connections), 1, REWRITER_MAX_CONN_LIMIT,
};
static const RewriterU32Prop rewriter_idle_prop = {
    offsetof(FilterRewriterState, idle_timeout), 0, UINT32_MAX,
};

static void filter_rewriter_get_u32(Object *obj, Visitor *v,
                                    const char *name, void *opaque,
                                    Error **errp)
{
    const RewriterU32Prop *p = opaque;
    uint32_t value = *(uint32_t *)((uint8_t *)obj + p->offset);

    visit_type_uint32(v, name, &value, errp);
}

static void filter_rewriter_set_u32(Object *obj, Visitor *v,
                                    const char *name, void *opaque,
                                    Error **errp)
{
    const RewriterU32Prop *p = opaque;
    uint32_t value;

    if (!filter_rewriter_settable(FILTER_REWRITER(obj), name, errp) ||
        !visit_type_uint32(v, name, &value, errp)) {
        return;
    }
    if (value < p->min || value > p->max) {
        error_setg(errp, "property '%s' must be between %u and %u", name,
                   p->min, p->max);
        return;
    }
    *(uint32_t *)((uint8_t *)obj + p->offset) = value;
}

static void filter_rewriter_class_init(ObjectClass *oc, void *data)
{
    NetFilterClass *nfc = NETFILTER_CLASS(oc);
    ColoProxyReporterClass *rc = COLO_PROXY_REPORTER_CLASS(oc);

    nfc->setup = filter_rewriter_setup;
    nfc->cleanup = filter_rewriter_cleanup;
    nfc->receive_iov = filter_rewriter_receive_iov;
    nfc->handle_event = filter_rewriter_handle_event;
    rc->report = filter_rewriter_report;

    object_class_property_add_bool(oc, "vnet_hdr_support",
                                   filter_rewriter_get_vnet_hdr,
                                   filter_rewriter_set_vnet_hdr);
    object_class_property_set_description(oc, "vnet_hdr_support",
        "frames carry a vnet header (its length is always the netdev's)");
    object_class_property_add(oc, "max-connections", "uint32",
        filter_rewriter_get_u32, filter_rewriter_set_u32, NULL,
        (void *)&rewriter_max_conn_prop);
    object_class_property_set_description(oc, "max-connections",
        "bound on the TCP connections tracked");
    object_class_property_add(oc, "idle-timeout", "uint32",
        filter_rewriter_get_u32, filter_rewriter_set_u32, NULL,
        (void *)&rewriter_idle_prop);
    object_class_property_set_description(oc, "idle-timeout",
        "seconds after which an idle connection is forgotten (0: never)");
}

/* Teardown is the netfilter's cleanup hook: nothing is left to free here. */
static void filter_rewriter_finalize(Object *obj)
{
}

static void filter_rewriter_init(Object *obj)
{
    FilterRewriterState *s = FILTER_REWRITER(obj);

    s->max_connections = REWRITER_MAX_CONN_DEFAULT;
    s->idle_timeout = REWRITER_IDLE_DEFAULT_S;
}
