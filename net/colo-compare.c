/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * colo-compare: compares the network output of the COLO primary and
 * secondary guests and releases the primary's.
 *
 * A thin adapter around the pure comparison engine
 * (net/colo-compare-engine.h).  Everything runs in the object's iothread:
 *
 *   primary_in ---> decoder --+
 *                             +--> engine --release--> encoder --> outdev
 *   secondary_in -> decoder --+      |
 *                                    +--divergence--> trace, counters,
 *                                                     checkpoint request
 *
 * Chardev bytes are framed as in net/colo-stream.h.  Released frames are
 * appended to a bounded output ring that is written once per batch (one
 * bottom half per main loop iteration of the iothread), never once per
 * frame, and never blocks: when @outdev is busy a G_IO_OUT watch resumes
 * the writes, and while more than COLO_COMPARE_OUT_HIGH bytes wait, the
 * inputs are not read (back-pressure towards the filters).
 *
 * One timer per object runs the engine's expiry at the next frame
 * deadline (compare_timeout) and at least every expired_scan_cycle.
 *
 * The COLO frame talks to all objects at once through a global list
 * (colo_notify_compares_event()); each object asks it for a checkpoint
 * through a notifier list, or over @notify_dev (Xen COLO) when set.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-visit-common.h"
#include "qapi/visitor.h"
#include "qemu/main-loop.h"
#include "qemu/notify.h"
#include "qemu/queue.h"
#include "qemu/thread.h"
#include "qemu/timer.h"
#include "qom/object.h"
#include "qom/object_interfaces.h"
#include "block/aio.h"
#include "block/aio-wait.h"
#include "chardev/char-fe.h"
#include "system/iothread.h"
#include "migration/colo.h"
#include "net/colo-proxy.h"
#include "net/colo-compare.h"
#include "net/colo-compare-engine.h"
#include "net/colo-stream.h"
#include "trace.h"

OBJECT_DECLARE_SIMPLE_TYPE(ColoCompare, COLO_COMPARE)

/* Defaults of the properties (compatible with every QEMU since 2.8). */
#define COLO_COMPARE_TIMEOUT_MS_DEFAULT     3000
#define COLO_COMPARE_SCAN_CYCLE_MS_DEFAULT  3000
#define COLO_COMPARE_QUEUE_SIZE_DEFAULT     1024
/* Larger values would overflow the nanosecond clock arithmetic. */
#define COLO_COMPARE_TIMEOUT_MS_MAX         (INT64_MAX / SCALE_MS / 4)

/*
 * Output ring bound.  Above COLO_COMPARE_OUT_HIGH queued bytes the inputs
 * are no longer read; the ring can still grow up to COLO_COMPARE_OUT_MAX
 * when a checkpoint or a timeout releases many queued frames at once.
 * A frame that does not fit is dropped and counted (output-drops).
 */
#define COLO_COMPARE_OUT_HIGH               (1 * 1024 * 1024)
#define COLO_COMPARE_OUT_MAX                (64 * 1024 * 1024)
/* Retry period for a chardev that is busy but cannot be watched. */
#define COLO_COMPARE_RETRY_MS               10

/*
 * notify_dev: the Xen COLO frame's text protocol, each message framed
 * like a frame (length [+ vnet length] + the bytes, no NUL).  The frame
 * sends INIT and we answer INIT_REPLY; we send DO_CKPT to ask for a
 * checkpoint and it sends CKPT_DONE when one happened.
 */
#define COLO_NOTIFY_INIT        "COLO_USERSPACE_PROXY_INIT"
#define COLO_NOTIFY_INIT_REPLY  "COLO_COMPARE_GET_XEN_INIT"
#define COLO_NOTIFY_DO_CKPT     "DO_CHECKPOINT"
#define COLO_NOTIFY_CKPT_DONE   "COLO_CHECKPOINT"
#define COLO_NOTIFY_MAX_MSG     4096
#define COLO_NOTIFY_OUT_MAX     (64 * 1024)

/*
 * Counters kept by the adapter itself (the engine keeps the others).
 * Written in the iothread only; published with the engine's (see
 * colo_compare_publish()).
 */
typedef struct ColoCompareCounters {
    uint64_t stream_resets;
    uint64_t output_drops;
    uint64_t checkpoints_requested;
    uint64_t checkpoint_events;
    /* frames whose vnet header length differs from the stream's */
    uint64_t bypass_frames[2];
    uint64_t bypass_bytes[2];
} ColoCompareCounters;

/* What the reporter reads, under stats_lock. */
typedef struct ColoCompareSnapshot {
    ColoCmpStats eng;
    ColoCompareCounters c;
    uint64_t output_backlog;
    bool failover;
    bool notify_ready;
} ColoCompareSnapshot;

/* One input chardev: primary_in or secondary_in. */
typedef struct ColoCompareIn {
    ColoCompare *s;
    ColoCmpSide side;
    const char *prop;
    CharBackend chr;
    ColoStreamDecoder dec;
    ColoCmpFrameRef burst[COLO_STREAM_BURST];   /* colo_compare_frames() */
    uint32_t read_size;     /* bytes asked per read, see can_read() */
    uint32_t read_frames;   /* frames decoded from the current read */
} ColoCompareIn;

/* One output chardev: outdev, or notify_dev's write side. */
typedef struct ColoCompareOut {
    ColoCompare *s;
    const char *prop;
    CharBackend chr;
    ColoStreamEncoder enc;
    bool open;              /* the chardev has a peer */
    guint watch;            /* G_IO_OUT watch in the iothread context */
    QEMUTimer *retry;       /* when no watch can be made */
} ColoCompareOut;

struct ColoCompare {
    Object parent_obj;

    /* Properties (set before complete; read-only afterwards). */
    char *pri_name;
    char *sec_name;
    char *out_name;
    char *notify_name;
    char *iothread_name;
    uint64_t compare_timeout_ms;
    uint32_t scan_cycle_ms;
    uint32_t max_queue_size;
    bool vnet_hdr;

    /* Set up by complete. */
    bool completed;         /* properties frozen */
    bool attached;          /* chardev handlers live in the iothread */
    bool listed;            /* in colo_compares */
    char *id;
    IOThread *iothread;
    AioContext *ctx;
    GMainContext *gctx;
    ColoCompareIn in[2];
    ColoCompareOut out;
    ColoCompareOut notify;
    ColoStreamDecoder notify_dec;
    QEMUBH *batch_bh;
    QEMUTimer *timer;

    /* Iothread state. */
    ColoCompareEngine *engine;  /* created at the first frame with vnet */
    uint32_t engine_vnet_len;
    int64_t now;                /* time of the current batch */
    int64_t timer_deadline;     /* when the timer is armed; INT64_MAX */
    int64_t next_scan;
    bool failover;
    bool checkpoint_requested;  /* rate limit: one until a checkpoint */
    bool notify_pending;        /* DO_CHECKPOINT to send on connect */
    bool notify_ready;          /* handshake answered */
    ColoCompareCounters c;

    /* Published counters. */
    QemuMutex stats_lock;
    ColoCompareSnapshot snap;

    QTAILQ_ENTRY(ColoCompare) next;
};

/*
 * All completed objects, for colo_notify_compares_event() and
 * colo_compare_cleanup().  An object leaves the list (under the lock)
 * before it is torn down, so holding the lock keeps every listed object
 * alive and attached.
 */
static QemuMutex colo_compares_lock;
static QTAILQ_HEAD(, ColoCompare) colo_compares =
    QTAILQ_HEAD_INITIALIZER(colo_compares);

/* The COLO frame's checkpoint request notifiers. */
static QemuMutex colo_compare_notifiers_lock;
static NotifierList colo_compare_notifiers =
    NOTIFIER_LIST_INITIALIZER(colo_compare_notifiers);

static void __attribute__((constructor)) colo_compare_init_globals(void)
{
    qemu_mutex_init(&colo_compares_lock);
    qemu_mutex_init(&colo_compare_notifiers_lock);
}

static const char *colo_compare_side_prop(ColoCmpSide side)
{
    return side == COLO_CMP_PRIMARY ? "primary_in" : "secondary_in";
}

/* Counters */

/* Make the iothread's counters visible to the reporter. */
static void colo_compare_publish(ColoCompare *s)
{
    qemu_mutex_lock(&s->stats_lock);
    if (s->engine) {
        colo_cmp_engine_get_stats(s->engine, &s->snap.eng);
    }
    s->snap.c = s->c;
    s->snap.output_backlog = colo_stream_encoder_queued(&s->out.enc);
    s->snap.failover = s->failover;
    s->snap.notify_ready = s->notify_ready;
    qemu_mutex_unlock(&s->stats_lock);
}

static void colo_compare_report(Object *obj, ColoProxyObjectInfo *info)
{
    ColoCompare *s = COLO_COMPARE(obj);
    ColoCompareStats *st = &info->u.colo_compare;
    ColoCompareDivergences *d = g_new0(ColoCompareDivergences, 1);
    ColoCompareSnapshot snap;
    const ColoCmpStats *e = &snap.eng;

    qemu_mutex_lock(&s->stats_lock);
    snap = s->snap;
    qemu_mutex_unlock(&s->stats_lock);

    info->kind = COLO_PROXY_OBJECT_KIND_COLO_COMPARE;
    st->primary_frames = e->frames_in[COLO_CMP_PRIMARY] +
                         snap.c.bypass_frames[COLO_CMP_PRIMARY];
    st->primary_bytes = e->bytes_in[COLO_CMP_PRIMARY] +
                        snap.c.bypass_bytes[COLO_CMP_PRIMARY];
    st->secondary_frames = e->frames_in[COLO_CMP_SECONDARY] +
                           snap.c.bypass_frames[COLO_CMP_SECONDARY];
    st->secondary_bytes = e->bytes_in[COLO_CMP_SECONDARY] +
                          snap.c.bypass_bytes[COLO_CMP_SECONDARY];
    st->released = e->released_frames +
                   snap.c.bypass_frames[COLO_CMP_PRIMARY];
    st->released_bytes = e->released_bytes +
                         snap.c.bypass_bytes[COLO_CMP_PRIMARY];
    st->identical = e->released_identical;
    st->uncompared = e->released_uncompared;
    st->unverified = e->released_diverged +
                     snap.c.bypass_frames[COLO_CMP_PRIMARY];
    st->checkpoint_flushed = e->released_checkpoint;
    st->failover_flushed = e->released_failover;
    st->secondary_expired = e->secondary_expired;

    d->payload = e->divergences[COLO_CMP_DIV_PAYLOAD];
    d->size = e->divergences[COLO_CMP_DIV_SIZE];
    d->header = e->divergences[COLO_CMP_DIV_HEADER];
    d->syn = e->divergences[COLO_CMP_DIV_SYN];
    d->fin = e->divergences[COLO_CMP_DIV_FIN];
    d->timeout = e->divergences[COLO_CMP_DIV_TIMEOUT];
    d->queue_full = e->divergences[COLO_CMP_DIV_QUEUE_FULL];
    d->malformed = e->divergences[COLO_CMP_DIV_MALFORMED] +
                   snap.c.bypass_frames[COLO_CMP_PRIMARY];
    d->table_full = e->divergences[COLO_CMP_DIV_TABLE_FULL];
    st->divergences = d;

    st->checkpoints = snap.c.checkpoints_requested;
    st->checkpoint_events = snap.c.checkpoint_events;
    st->failover = snap.failover;
    st->connections = e->connections;
    st->primary_queued = e->queued_frames[COLO_CMP_PRIMARY];
    st->secondary_queued = e->queued_frames[COLO_CMP_SECONDARY];
    st->stream_resets = snap.c.stream_resets;
    st->output_drops = snap.c.output_drops;
    st->output_backlog = snap.output_backlog;
    st->notify_ready = snap.notify_ready;
}

/* Output (outdev and notify_dev) */

static void colo_compare_out_flush(ColoCompareOut *o);

static void colo_compare_out_unwatch(ColoCompareOut *o)
{
    if (o->watch) {
        GSource *src = g_main_context_find_source_by_id(o->s->gctx,
                                                        o->watch);

        if (src) {
            g_source_destroy(src);
        }
        o->watch = 0;
    }
    if (o->retry) {
        timer_del(o->retry);
    }
}

static gboolean colo_compare_out_ready(void *do_not_use, GIOCondition cond,
                                       void *opaque)
{
    ColoCompareOut *o = opaque;

    o->watch = 0;
    colo_compare_out_flush(o);
    colo_compare_publish(o->s);
    return G_SOURCE_REMOVE;
}

static void colo_compare_out_retry(void *opaque)
{
    ColoCompareOut *o = opaque;

    colo_compare_out_flush(o);
    colo_compare_publish(o->s);
}

/* The peer went away: what it did not read is lost. */
static void colo_compare_out_drop(ColoCompareOut *o)
{
    size_t frames = colo_stream_encoder_clear(&o->enc);

    if (frames && o == &o->s->out) {
        o->s->c.output_drops += frames;
        trace_colo_compare_output_drop(o->s->id, "disconnected", frames);
    }
    colo_compare_out_unwatch(o);
}

static void colo_compare_out_wait_writable(ColoCompareOut *o)
{
    if (o->watch || timer_pending(o->retry)) {
        return;
    }
    o->watch = qemu_chr_fe_add_watch(&o->chr, G_IO_OUT | G_IO_HUP,
                                     colo_compare_out_ready, o);
    if (!o->watch) {
        timer_mod(o->retry, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                  COLO_COMPARE_RETRY_MS);
    }
}

/*
 * Write as much of the ring as the chardev takes without blocking: one
 * write per contiguous run (two at most, when the ring wraps).
 */
static void colo_compare_out_flush(ColoCompareOut *o)
{
    const uint8_t *data;
    size_t len;

    if (o->watch) {
        return;     /* the chardev is full; the watch calls us back */
    }
    while ((len = colo_stream_encoder_peek(&o->enc, &data)) > 0) {
        int ret;

        if (!o->open) {
            colo_compare_out_drop(o);
            return;
        }
        ret = qemu_chr_fe_write(&o->chr, data, MIN(len, INT_MAX));
        if (ret > 0) {
            colo_stream_encoder_consume(&o->enc, ret);
            if (ret < len) {
                colo_compare_out_wait_writable(o);
                return;
            }
        } else if (ret == 0 || errno == EAGAIN) {
            colo_compare_out_wait_writable(o);
            return;
        } else {
            /* The peer is gone (a CLOSED event may already have come). */
            colo_compare_out_drop(o);
            return;
        }
    }
}

static void colo_compare_out_event(void *opaque, QEMUChrEvent event);

/* Queue one primary frame for outdev. */
static inline void colo_compare_output(ColoCompare *s, const uint8_t *frame,
                                       size_t len, uint32_t vnet_hdr_len)
{
    ColoStreamPush res;

    if (unlikely(!s->out.open)) {
        s->c.output_drops++;
        trace_colo_compare_output_drop(s->id, "no-peer", 1);
        return;
    }
    res = colo_stream_encoder_push_buf(&s->out.enc, frame, len,
                                       vnet_hdr_len);
    if (unlikely(res != COLO_STREAM_PUSH_OK)) {
        s->c.output_drops++;
        trace_colo_compare_output_drop(s->id, res == COLO_STREAM_PUSH_FULL ?
                                       "backlog-full" : "invalid", 1);
    }
}

/* Engine callbacks */

static void colo_compare_release(void *opaque, const uint8_t *frame,
                                 size_t len)
{
    ColoCompare *s = opaque;

    colo_compare_output(s, frame, len, s->engine_vnet_len);
}

static void colo_compare_notify_send(ColoCompare *s, const char *msg);

/*
 * Ask for a checkpoint, at most once until one happens (a checkpoint
 * resets every flow, so one request covers every divergence found
 * meanwhile, and the COLO frame does not queue a second checkpoint
 * behind the first).
 */
static void colo_compare_request_checkpoint(ColoCompare *s)
{
    if (s->checkpoint_requested || s->failover) {
        return;
    }
    s->checkpoint_requested = true;
    s->c.checkpoints_requested++;
    if (s->notify_name) {
        if (s->notify.open) {
            colo_compare_notify_send(s, COLO_NOTIFY_DO_CKPT);
            trace_colo_compare_checkpoint_request(s->id, "notify_dev");
        } else {
            s->notify_pending = true;
            trace_colo_compare_checkpoint_request(s->id,
                                                  "notify_dev (pending)");
        }
        return;
    }
    trace_colo_compare_checkpoint_request(s->id, "colo-frame");
    qemu_mutex_lock(&colo_compare_notifiers_lock);
    notifier_list_notify(&colo_compare_notifiers, NULL);
    qemu_mutex_unlock(&colo_compare_notifiers_lock);
}

static void colo_compare_divergence(void *opaque, const ColoCmpDivergence *d)
{
    ColoCompare *s = opaque;

    if (trace_event_get_state_backends(TRACE_COLO_COMPARE_DIVERGENCE)) {
        char flow[COLO_FLOW_KEY_STRLEN];

        if (d->has_key) {
            colo_flow_key_format(&d->key, flow, sizeof(flow));
        } else {
            snprintf(flow, sizeof(flow), "malformed frame (%s)",
                     colo_pkt_error_name(d->pkt_error));
        }
        trace_colo_compare_divergence(s->id, colo_cmp_reason_name(d->reason),
                                      colo_cmp_side_name(d->side), flow,
                                      d->tcp_stream ? "stream" : "frame",
                                      d->offset, d->primary_len,
                                      d->secondary_len);
    }
    colo_compare_request_checkpoint(s);
}

static ColoCompareEngine *colo_compare_make_engine(ColoCompare *s,
                                                   uint32_t vnet_hdr_len)
{
    ColoCmpConfig cfg = {
        .max_queue_size = s->max_queue_size,
        .compare_timeout_ns = s->compare_timeout_ms * SCALE_MS,
        .vnet_hdr_len = vnet_hdr_len,
        .hash_seed = g_random_int(),
        .release = colo_compare_release,
        .divergence = colo_compare_divergence,
        .opaque = s,
    };

    s->engine_vnet_len = vnet_hdr_len;
    s->engine = colo_cmp_engine_new(&cfg);
    if (s->failover) {
        colo_cmp_engine_failover(s->engine);
    }
    return s->engine;
}

/* Input */

/* A frame whose vnet header length is not the stream's: not compared. */
static void colo_compare_bypass(ColoCompare *s, ColoCmpSide side,
                                const ColoStreamFrame *f)
{
    trace_colo_compare_vnet_mismatch(s->id, colo_cmp_side_name(side),
                                     f->vnet_hdr_len, s->engine_vnet_len);
    s->c.bypass_frames[side]++;
    s->c.bypass_bytes[side] += f->len;
    if (side == COLO_CMP_PRIMARY) {
        colo_compare_output(s, f->data, f->len, f->vnet_hdr_len);
        colo_compare_request_checkpoint(s);
    }
}

static void colo_compare_frame(void *opaque, const ColoStreamFrame *f)
{
    ColoCompareIn *in = opaque;
    ColoCompare *s = in->s;
    ColoCompareEngine *e = s->engine;

    if (unlikely(!e || f->vnet_hdr_len != s->engine_vnet_len)) {
        if (!e) {
            e = colo_compare_make_engine(s, f->vnet_hdr_len);
        } else {
            colo_compare_bypass(s, in->side, f);
            return;
        }
    }
    colo_cmp_engine_input(e, in->side, f->data, f->len, s->now);
}

/* A burst of frames from one side: the engine looks ahead over them. */
static void colo_compare_frames(void *opaque, const ColoStreamFrame *f,
                                size_t n)
{
    ColoCompareIn *in = opaque;
    ColoCompare *s = in->s;
    size_t i, m = 0;

    in->read_frames += n;
    for (i = 0; i < n; i++) {
        if (unlikely(!s->engine || f[i].vnet_hdr_len != s->engine_vnet_len)) {
            /* the first frame, or a mismatched one: one at a time */
            if (m) {
                colo_cmp_engine_input_burst(s->engine, in->side, in->burst,
                                            m, s->now);
                m = 0;
            }
            colo_compare_frame(in, &f[i]);
            continue;
        }
        in->burst[m].data = f[i].data;
        in->burst[m].len = f[i].len;
        m++;
    }
    if (m) {
        colo_cmp_engine_input_burst(s->engine, in->side, in->burst, m,
                                    s->now);
    }
}

static void colo_compare_end_batch(ColoCompare *s);

/*
 * How much to read at a time.  Every read costs an event loop iteration,
 * system calls and an output flush, so small frames favour large reads;
 * but a read's bytes and the frames it makes wait also push the engine's
 * state out of the CPU caches, so they cost more the more frames they
 * hold.  A read is sized for about COLO_COMPARE_READ_FRAMES frames of the
 * sizes seen lately, within these bounds (measured end to end on a 2-core
 * machine: 64 KiB reads were best with 64-byte frames, 256 KiB ones
 * moved 30-40% more 1460-byte frames).
 */
#define COLO_COMPARE_READ_FRAMES    512
#define COLO_COMPARE_READ_MIN       (64 * 1024)
#define COLO_COMPARE_READ_MAX       (256 * 1024)
/* Fewer frames than this in a read say little about their size */
#define COLO_COMPARE_READ_SAMPLE    8

static void colo_compare_in_size_reads(ColoCompareIn *in, int size)
{
    uint64_t want;

    if (in->read_frames >= COLO_COMPARE_READ_SAMPLE) {
        want = (uint64_t)size * COLO_COMPARE_READ_FRAMES / in->read_frames;
        in->read_size = MIN(MAX(want, COLO_COMPARE_READ_MIN),
                            COLO_COMPARE_READ_MAX);
    }
    in->read_frames = 0;
}

static int colo_compare_in_can_read(void *opaque)
{
    ColoCompareIn *in = opaque;

    /* Back-pressure: stop reading while outdev lags behind. */
    if (colo_stream_encoder_queued(&in->s->out.enc) > COLO_COMPARE_OUT_HIGH) {
        return 0;
    }
    return in->read_size;
}

static void colo_compare_in_read(void *opaque, const uint8_t *buf, int size)
{
    ColoCompareIn *in = opaque;
    ColoCompare *s = in->s;
    ColoStreamError err;

    s->now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    err = colo_stream_decoder_feed_burst(&in->dec, buf, size,
                                         colo_compare_frames, in);
    /*
     * End the batch here rather than in batch_bh: scheduling a BH from
     * its own AioContext costs an eventfd write and read per chardev
     * read, and a read already carries hundreds of frames.
     */
    colo_compare_end_batch(s);
    colo_compare_in_size_reads(in, size);
    if (likely(err == COLO_STREAM_OK || err == COLO_STREAM_ERR_DISCARDING)) {
        return;
    }
    /*
     * A length-prefixed stream cannot be resynchronised: discard until
     * the peer reconnects, and make it reconnect.
     */
    s->c.stream_resets++;
    trace_colo_compare_stream_reset(s->id, in->prop,
                                    colo_stream_error_name(err));
    qemu_chr_fe_disconnect(&in->chr);
}

static void colo_compare_in_event(void *opaque, QEMUChrEvent event)
{
    ColoCompareIn *in = opaque;
    ColoCompare *s = in->s;

    switch (event) {
    case CHR_EVENT_OPENED:
    case CHR_EVENT_CLOSED:
        if (colo_stream_decoder_reset(&in->dec)) {
            s->c.stream_resets++;
            trace_colo_compare_stream_reset(s->id, in->prop, "cut-mid-frame");
        }
        trace_colo_compare_peer(s->id, in->prop, event == CHR_EVENT_OPENED ?
                                "connected" : "disconnected");
        colo_compare_publish(s);
        break;
    default:
        break;
    }
}

static void colo_compare_out_event(void *opaque, QEMUChrEvent event)
{
    ColoCompareOut *o = opaque;
    ColoCompare *s = o->s;

    switch (event) {
    case CHR_EVENT_OPENED:
    case CHR_EVENT_CLOSED:
        o->open = event == CHR_EVENT_OPENED;
        trace_colo_compare_peer(s->id, o->prop,
                                o->open ? "connected" : "disconnected");
        if (!o->open) {
            colo_compare_out_drop(o);
        }
        if (o != &s->notify) {
            break;
        }
        /* notify_dev: a new peer starts a new conversation. */
        s->notify_ready = false;
        if (colo_stream_decoder_reset(&s->notify_dec)) {
            s->c.stream_resets++;
            trace_colo_compare_stream_reset(s->id, o->prop, "cut-mid-frame");
        }
        if (!o->open) {
            /* A request the old peer may not have read: make it again. */
            s->notify_pending = s->checkpoint_requested;
        } else if (s->notify_pending) {
            s->notify_pending = false;
            colo_compare_notify_send(s, COLO_NOTIFY_DO_CKPT);
        }
        break;
    default:
        /* e.g. a break, sent from the main thread: nothing to publish */
        return;
    }
    colo_compare_publish(s);
}

/* Checkpoint, failover and teardown, in the iothread */

static void colo_compare_do_checkpoint(ColoCompare *s)
{
    s->c.checkpoint_events++;
    s->checkpoint_requested = false;
    s->notify_pending = false;
    if (s->engine) {
        colo_cmp_engine_checkpoint(s->engine);
    }
}

static void colo_compare_do_failover(ColoCompare *s)
{
    s->failover = true;
    s->checkpoint_requested = false;
    s->notify_pending = false;
    if (s->engine) {
        colo_cmp_engine_failover(s->engine);
    }
}

/* notify_dev */

static void colo_compare_notify_send(ColoCompare *s, const char *msg)
{
    ColoStreamPush res;

    res = colo_stream_encoder_push_buf(&s->notify.enc, (const uint8_t *)msg,
                                       strlen(msg), 0);
    /* Dropped only if the peer reads nothing for a very long time. */
    trace_colo_compare_notify_msg(s->id, res == COLO_STREAM_PUSH_OK ?
                                  "sent" : "dropped", msg);
    qemu_bh_schedule(s->batch_bh);
}

static bool colo_notify_msg_is(const uint8_t *msg, size_t len,
                               const char *want)
{
    size_t n = strlen(want);

    /* Peers may or may not send the terminating NUL. */
    while (len > n && msg[len - 1] == '\0') {
        len--;
    }
    return len == n && !memcmp(msg, want, n);
}

static void colo_compare_notify_frame(void *opaque, const ColoStreamFrame *f)
{
    ColoCompare *s = opaque;
    const uint8_t *msg = f->data + f->vnet_hdr_len;
    size_t len = f->len - f->vnet_hdr_len;

    if (colo_notify_msg_is(msg, len, COLO_NOTIFY_INIT)) {
        trace_colo_compare_notify_msg(s->id, "received", COLO_NOTIFY_INIT);
        colo_compare_notify_send(s, COLO_NOTIFY_INIT_REPLY);
        s->notify_ready = true;
    } else if (colo_notify_msg_is(msg, len, COLO_NOTIFY_CKPT_DONE)) {
        trace_colo_compare_notify_msg(s->id, "received",
                                      COLO_NOTIFY_CKPT_DONE);
        colo_compare_do_checkpoint(s);
    } else {
        trace_colo_compare_notify_msg(s->id, "ignored", "unknown message");
    }
}

static int colo_compare_notify_can_read(void *opaque)
{
    return COLO_NOTIFY_MAX_MSG;
}

/* The opaque of notify_dev's handlers is &s->notify (see out_event). */
static void colo_compare_notify_read(void *opaque, const uint8_t *buf,
                                     int size)
{
    ColoCompareOut *o = opaque;
    ColoCompare *s = o->s;
    ColoStreamError err;

    s->now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    err = colo_stream_decoder_feed(&s->notify_dec, buf, size,
                                   colo_compare_notify_frame, s);
    qemu_bh_schedule(s->batch_bh);
    if (err == COLO_STREAM_OK || err == COLO_STREAM_ERR_DISCARDING) {
        return;
    }
    s->c.stream_resets++;
    trace_colo_compare_stream_reset(s->id, "notify_dev",
                                    colo_stream_error_name(err));
    qemu_chr_fe_disconnect(&s->notify.chr);
}

/* Timer and batches */

/* Arm the timer for the engine's next deadline or the next scan. */
static void colo_compare_arm_timer(ColoCompare *s)
{
    int64_t deadline = s->next_scan;

    if (s->engine) {
        deadline = MIN(deadline, colo_cmp_engine_next_deadline(s->engine));
    }
    /* Only earlier: a later deadline is found when the timer fires. */
    if (deadline < s->timer_deadline) {
        s->timer_deadline = deadline;
        timer_mod_ns(s->timer, deadline);
    }
}

/* End of a batch: write the output, re-arm the timer, publish counters. */
static void colo_compare_end_batch(ColoCompare *s)
{
    colo_compare_out_flush(&s->out);
    if (s->notify_name) {
        colo_compare_out_flush(&s->notify);
    }
    colo_compare_arm_timer(s);
    colo_compare_publish(s);
}

static void colo_compare_batch_bh(void *opaque)
{
    colo_compare_end_batch(opaque);
}

static void colo_compare_timer_cb(void *opaque)
{
    ColoCompare *s = opaque;
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    s->now = now;
    s->timer_deadline = INT64_MAX;
    if (now >= s->next_scan) {
        s->next_scan = now + (int64_t)s->scan_cycle_ms * SCALE_MS;
    }
    if (s->engine) {
        colo_cmp_engine_expire(s->engine, now);
    }
    colo_compare_end_batch(s);
}

/* Attach and detach, run in the iothread */

static void colo_compare_attach_bh(void *opaque)
{
    ColoCompare *s = opaque;
    int i;

    s->now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    s->next_scan = s->now + (int64_t)s->scan_cycle_ms * SCALE_MS;
    s->timer_deadline = INT64_MAX;

    /*
     * outdev first: an OPENED event for it must precede any frame.  With
     * sync_state, each already-connected chardev sends us OPENED now.
     */
    qemu_chr_fe_set_handlers(&s->out.chr, NULL, NULL, colo_compare_out_event,
                             NULL, &s->out, s->gctx, true);
    /*
     * Only socket chardevs report connections reliably; the others (udp,
     * file, ...) are written whenever there is something to write, and
     * some (udp) never report being open at all.
     */
    if (!qemu_chr_has_feature(qemu_chr_fe_get_driver(&s->out.chr),
                              QEMU_CHAR_FEATURE_RECONNECTABLE)) {
        s->out.open = true;
    }
    if (s->notify_name) {
        /* One opaque per CharBackend: &s->notify (see out_event). */
        qemu_chr_fe_set_handlers(&s->notify.chr, colo_compare_notify_can_read,
                                 colo_compare_notify_read,
                                 colo_compare_out_event, NULL, &s->notify,
                                 s->gctx, true);
    }
    for (i = 0; i < 2; i++) {
        qemu_chr_fe_set_handlers(&s->in[i].chr, colo_compare_in_can_read,
                                 colo_compare_in_read, colo_compare_in_event,
                                 NULL, &s->in[i], s->gctx, true);
    }
    colo_compare_end_batch(s);
}

static void colo_compare_detach_bh(void *opaque)
{
    ColoCompare *s = opaque;
    size_t left;
    int i;

    /*
     * The chardevs stay connected for their next user, who must find the
     * streams at a record boundary: a connection cut in the middle of a
     * record is dropped (its CLOSED event counts the reset), and the peer
     * starts afresh on the next one.
     */
    for (i = 0; i < 2; i++) {
        if (colo_stream_decoder_mid_frame(&s->in[i].dec)) {
            qemu_chr_fe_disconnect(&s->in[i].chr);
        }
        qemu_chr_fe_deinit(&s->in[i].chr, false);
    }
    /* Never lose a primary frame: release what is queued. */
    if (s->engine && !colo_cmp_engine_is_failover(s->engine)) {
        colo_cmp_engine_failover(s->engine);
    }
    /* Last chance for the output, without waiting. */
    colo_compare_out_unwatch(&s->out);
    colo_compare_out_flush(&s->out);
    colo_compare_out_unwatch(&s->out);
    if (colo_stream_encoder_mid_frame(&s->out.enc)) {
        /* Its CLOSED event counts what is dropped. */
        qemu_chr_fe_disconnect(&s->out.chr);
    }
    left = colo_stream_encoder_clear(&s->out.enc);
    if (left) {
        s->c.output_drops += left;
        trace_colo_compare_output_drop(s->id, "deleted", left);
    }
    qemu_chr_fe_deinit(&s->out.chr, false);
    if (s->notify_name) {
        colo_compare_out_unwatch(&s->notify);
        if (colo_stream_decoder_mid_frame(&s->notify_dec) ||
            colo_stream_encoder_mid_frame(&s->notify.enc)) {
            qemu_chr_fe_disconnect(&s->notify.chr);
        }
        qemu_chr_fe_deinit(&s->notify.chr, false);
    }
    timer_free(s->timer);
    s->timer = NULL;
    timer_free(s->out.retry);
    s->out.retry = NULL;
    timer_free(s->notify.retry);
    s->notify.retry = NULL;
    qemu_bh_delete(s->batch_bh);
    s->batch_bh = NULL;
    s->out.open = false;
    s->notify.open = false;
    s->notify_ready = false;
    colo_compare_publish(s);
}

static void colo_compare_detach(ColoCompare *s)
{
    if (s->attached) {
        aio_wait_bh_oneshot(s->ctx, colo_compare_detach_bh, s);
        s->attached = false;
    }
}

/* The functions the COLO frame and the net layer call */

/*
 * The waiter owns this, on its stack.  The last BH signals under the
 * lock, and the waiter only returns after taking the lock again, so no BH
 * touches it once the waiter can free it.
 */
typedef struct ColoCompareEventWait {
    QemuMutex lock;
    QemuCond done;
    int pending;
} ColoCompareEventWait;

typedef struct ColoCompareEventReq {
    ColoCompare *s;
    int event;
    ColoCompareEventWait *wait;
} ColoCompareEventReq;

static void colo_compare_event_bh(void *opaque)
{
    ColoCompareEventReq *req = opaque;
    ColoCompare *s = req->s;
    ColoCompareEventWait *wait = req->wait;

    if (req->event == COLO_EVENT_CHECKPOINT) {
        trace_colo_compare_event(s->id, "checkpoint");
        colo_compare_do_checkpoint(s);
    } else {
        trace_colo_compare_event(s->id, "failover");
        colo_compare_do_failover(s);
    }
    colo_compare_end_batch(s);
    /* req belongs to the waiter: do not touch it after this. */
    qemu_mutex_lock(&wait->lock);
    if (--wait->pending == 0) {
        qemu_cond_signal(&wait->done);
    }
    qemu_mutex_unlock(&wait->lock);
}

void colo_notify_compares_event(void *opaque, int event, Error **errp)
{
    ColoCompareEventWait wait;
    g_autofree ColoCompareEventReq *reqs = NULL;
    AioContext *here = qemu_get_current_aio_context();
    ColoCompare *s;
    int n = 0, i = 0;

    if (event != COLO_EVENT_CHECKPOINT && event != COLO_EVENT_FAILOVER) {
        return;
    }
    /*
     * The lock is held until every object is done: a listed object can
     * neither be torn down nor freed meanwhile (finalize and cleanup take
     * the lock first).  The iothreads never take this lock, so they
     * always complete the work.
     */
    qemu_mutex_lock(&colo_compares_lock);
    QTAILQ_FOREACH(s, &colo_compares, next) {
        n++;
    }
    if (!n) {
        qemu_mutex_unlock(&colo_compares_lock);
        return;
    }
    reqs = g_new(ColoCompareEventReq, n);
    qemu_mutex_init(&wait.lock);
    qemu_cond_init(&wait.done);
    wait.pending = n;
    QTAILQ_FOREACH(s, &colo_compares, next) {
        reqs[i] = (ColoCompareEventReq) {
            .s = s, .event = event, .wait = &wait,
        };
        if (s->ctx == here) {
            colo_compare_event_bh(&reqs[i]);
        } else {
            aio_bh_schedule_oneshot(s->ctx, colo_compare_event_bh, &reqs[i]);
        }
        i++;
    }
    qemu_mutex_lock(&wait.lock);
    while (wait.pending) {
        qemu_cond_wait(&wait.done, &wait.lock);
    }
    qemu_mutex_unlock(&wait.lock);
    qemu_mutex_unlock(&colo_compares_lock);
    qemu_cond_destroy(&wait.done);
    qemu_mutex_destroy(&wait.lock);
}

void colo_compare_register_notifier(Notifier *notify)
{
    qemu_mutex_lock(&colo_compare_notifiers_lock);
    notifier_list_add(&colo_compare_notifiers, notify);
    qemu_mutex_unlock(&colo_compare_notifiers_lock);
}

void colo_compare_unregister_notifier(Notifier *notify)
{
    qemu_mutex_lock(&colo_compare_notifiers_lock);
    notifier_remove(notify);
    qemu_mutex_unlock(&colo_compare_notifiers_lock);
}

void colo_compare_cleanup(void)
{
    QTAILQ_HEAD(, ColoCompare) gone = QTAILQ_HEAD_INITIALIZER(gone);
    ColoCompare *s, *tmp;

    /*
     * Unlisted under the lock (which also waits for an event in flight),
     * detached without it: detaching polls the main loop, whose BHs may
     * deliver a COLO event (failover) that takes the lock.
     */
    qemu_mutex_lock(&colo_compares_lock);
    QTAILQ_FOREACH_SAFE(s, &colo_compares, next, tmp) {
        QTAILQ_REMOVE(&colo_compares, s, next);
        s->listed = false;
        QTAILQ_INSERT_TAIL(&gone, s, next);
    }
    qemu_mutex_unlock(&colo_compares_lock);
    QTAILQ_FOREACH_SAFE(s, &gone, next, tmp) {
        QTAILQ_REMOVE(&gone, s, next);
        colo_compare_detach(s);
    }
}

/* Creation */

/*
 * @input: the chardev is read.  A record stream that goes wrong can only
 * be recovered by dropping the connection (the peer starts afresh at a
 * record boundary), so input chardevs must be able to disconnect.
 */
static bool colo_compare_attach_chr(ColoCompare *s, CharBackend *be,
                                    const char *prop, const char *name,
                                    bool input, Error **errp)
{
    Chardev *chr = qemu_chr_find(name);

    if (!chr) {
        error_setg(errp, "colo-compare: %s: chardev '%s' not found", prop,
                   name);
        return false;
    }
    if (!qemu_chr_has_feature(chr, QEMU_CHAR_FEATURE_GCONTEXT)) {
        error_setg(errp, "colo-compare: %s: chardev '%s' cannot be used "
                   "from an iothread", prop, name);
        return false;
    }
    if (input && !qemu_chr_has_feature(chr, QEMU_CHAR_FEATURE_RECONNECTABLE)) {
        error_setg(errp, "colo-compare: %s: chardev '%s' cannot disconnect "
                   "(use a socket chardev): a broken record stream is "
                   "recovered from by reconnecting", prop, name);
        return false;
    }
    if (!qemu_chr_fe_init(be, chr, errp)) {
        error_prepend(errp, "colo-compare: %s: ", prop);
        return false;
    }
    return true;
}

static bool colo_compare_check_props(ColoCompare *s, Error **errp)
{
    const struct {
        const char *prop;
        const char *value;
    } devs[] = {
        { "primary_in", s->pri_name },
        { "secondary_in", s->sec_name },
        { "outdev", s->out_name },
        { "notify_dev", s->notify_name },
    };
    int i, j;

    for (i = 0; i < 3; i++) {
        if (!devs[i].value || !devs[i].value[0]) {
            error_setg(errp, "colo-compare: property '%s' is required",
                       devs[i].prop);
            return false;
        }
    }
    if (!s->iothread_name || !s->iothread_name[0]) {
        error_setg(errp, "colo-compare: property 'iothread' is required");
        return false;
    }
    for (i = 0; i < ARRAY_SIZE(devs); i++) {
        for (j = i + 1; j < ARRAY_SIZE(devs); j++) {
            if (devs[i].value && devs[j].value &&
                !strcmp(devs[i].value, devs[j].value)) {
                error_setg(errp, "colo-compare: '%s' and '%s' must be "
                           "different chardevs (both are '%s')",
                           devs[i].prop, devs[j].prop, devs[i].value);
                return false;
            }
        }
    }
    return true;
}

static void colo_compare_complete(UserCreatable *uc, Error **errp)
{
    ColoCompare *s = COLO_COMPARE(uc);
    Object *iothread;
    int i;

    if (!colo_compare_check_props(s, errp)) {
        return;
    }
    iothread = object_resolve_path_type(s->iothread_name, TYPE_IOTHREAD,
                                        NULL);
    if (!iothread) {
        error_setg(errp, "colo-compare: iothread '%s' not found",
                   s->iothread_name);
        return;
    }

    s->id = g_strdup(object_get_canonical_path_component(OBJECT(s)));
    s->in[COLO_CMP_PRIMARY].prop = "primary_in";
    s->in[COLO_CMP_SECONDARY].prop = "secondary_in";
    if (!colo_compare_attach_chr(s, &s->in[COLO_CMP_PRIMARY].chr,
                                 "primary_in", s->pri_name, true, errp) ||
        !colo_compare_attach_chr(s, &s->in[COLO_CMP_SECONDARY].chr,
                                 "secondary_in", s->sec_name, true, errp) ||
        !colo_compare_attach_chr(s, &s->out.chr, "outdev", s->out_name,
                                 false, errp) ||
        (s->notify_name &&
         !colo_compare_attach_chr(s, &s->notify.chr, "notify_dev",
                                  s->notify_name, true, errp))) {
        for (i = 0; i < 2; i++) {
            qemu_chr_fe_deinit(&s->in[i].chr, false);
        }
        qemu_chr_fe_deinit(&s->out.chr, false);
        qemu_chr_fe_deinit(&s->notify.chr, false);
        g_free(s->id);
        s->id = NULL;
        return;
    }

    s->completed = true;
    s->iothread = IOTHREAD(object_ref(iothread));
    s->ctx = iothread_get_aio_context(s->iothread);
    s->gctx = iothread_get_g_main_context(s->iothread);

    for (i = 0; i < 2; i++) {
        s->in[i].s = s;
        s->in[i].side = i;
        s->in[i].read_size = COLO_COMPARE_READ_MIN;
        s->in[i].prop = colo_compare_side_prop(i);
        colo_stream_decoder_init(&s->in[i].dec, s->vnet_hdr, 0);
    }
    s->out.s = s;
    s->out.prop = "outdev";
    colo_stream_encoder_init(&s->out.enc, s->vnet_hdr, COLO_COMPARE_OUT_MAX);
    s->out.retry = aio_timer_new(s->ctx, QEMU_CLOCK_REALTIME, SCALE_MS,
                                 colo_compare_out_retry, &s->out);
    s->notify.s = s;
    s->notify.prop = "notify_dev";
    /*
     * Messages to the Xen frame never carry the vnet length, while those
     * from it do when vnet_hdr_support is on: that is the protocol as
     * stock QEMU speaks it.
     */
    colo_stream_encoder_init(&s->notify.enc, false, COLO_NOTIFY_OUT_MAX);
    s->notify.retry = aio_timer_new(s->ctx, QEMU_CLOCK_REALTIME, SCALE_MS,
                                    colo_compare_out_retry, &s->notify);
    colo_stream_decoder_init(&s->notify_dec, s->vnet_hdr,
                             COLO_NOTIFY_MAX_MSG);
    s->batch_bh = aio_bh_new(s->ctx, colo_compare_batch_bh, s);
    s->timer = aio_timer_new(s->ctx, QEMU_CLOCK_REALTIME, SCALE_NS,
                             colo_compare_timer_cb, s);
    if (!s->vnet_hdr) {
        colo_compare_make_engine(s, 0);
    }

    /* From here on, everything runs in the iothread. */
    aio_wait_bh_oneshot(s->ctx, colo_compare_attach_bh, s);
    s->attached = true;

    qemu_mutex_lock(&colo_compares_lock);
    QTAILQ_INSERT_TAIL(&colo_compares, s, next);
    s->listed = true;
    qemu_mutex_unlock(&colo_compares_lock);
    trace_colo_compare_created(s->id, s->pri_name, s->sec_name, s->out_name,
                               s->iothread_name);
}

/* Properties */

static bool colo_compare_settable(ColoCompare *s, const char *name,
                                  Error **errp)
{
    if (s->completed) {
        error_setg(errp, "colo-compare: property '%s' cannot be changed "
                   "after the object has been created", name);
        return false;
    }
    return true;
}

#define COLO_COMPARE_STR_PROP(field, prop)                                  \
static char *colo_compare_get_##field(Object *obj, Error **errp)            \
{                                                                           \
    return g_strdup(COLO_COMPARE(obj)->field);                              \
}                                                                           \
                                                                            \
static void colo_compare_set_##field(Object *obj, const char *value,        \
                                     Error **errp)                          \
{                                                                           \
    ColoCompare *s = COLO_COMPARE(obj);                                     \
                                                                            \
    if (colo_compare_settable(s, prop, errp)) {                             \
        g_free(s->field);                                                   \
        s->field = g_strdup(value);                                         \
    }                                                                       \
}

COLO_COMPARE_STR_PROP(pri_name, "primary_in")
COLO_COMPARE_STR_PROP(sec_name, "secondary_in")
COLO_COMPARE_STR_PROP(out_name, "outdev")
COLO_COMPARE_STR_PROP(notify_name, "notify_dev")
COLO_COMPARE_STR_PROP(iothread_name, "iothread")

/* A numeric property: where it lives, its width and its largest value. */
typedef struct ColoCompareNumProp {
    size_t offset;
    bool wide;                  /* a uint64_t field, else a uint32_t one */
    uint64_t max;
    const char *unit;
} ColoCompareNumProp;

static const ColoCompareNumProp colo_compare_timeout_prop = {
    offsetof(ColoCompare, compare_timeout_ms), true,
    COLO_COMPARE_TIMEOUT_MS_MAX, " milliseconds",
};
static const ColoCompareNumProp colo_compare_scan_prop = {
    offsetof(ColoCompare, scan_cycle_ms), false, UINT32_MAX, " milliseconds",
};
static const ColoCompareNumProp colo_compare_queue_prop = {
    offsetof(ColoCompare, max_queue_size), false, UINT32_MAX, " frames",
};

static void colo_compare_get_num(Object *obj, Visitor *v, const char *name,
                                 void *opaque, Error **errp)
{
    const ColoCompareNumProp *p = opaque;
    void *field = (char *)obj + p->offset;
    uint64_t value = p->wide ? *(uint64_t *)field : *(uint32_t *)field;

    visit_type_uint64(v, name, &value, errp);
}

/* Every numeric property must be at least 1: 0 would disable COLO. */
static void colo_compare_set_num(Object *obj, Visitor *v, const char *name,
                                 void *opaque, Error **errp)
{
    const ColoCompareNumProp *p = opaque;
    void *field = (char *)obj + p->offset;
    uint64_t value;

    if (!colo_compare_settable(COLO_COMPARE(obj), name, errp) ||
        !visit_type_uint64(v, name, &value, errp)) {
        return;
    }
    if (value == 0 || value > p->max) {
        error_setg(errp, "colo-compare: property '%s' must be between 1 "
                   "and %" PRIu64 "%s", name, p->max, p->unit);
        return;
    }
    if (p->wide) {
        *(uint64_t *)field = value;
    } else {
        *(uint32_t *)field = value;
    }
}

static bool colo_compare_get_vnet_hdr(Object *obj, Error **errp)
{
    return COLO_COMPARE(obj)->vnet_hdr;
}

static void colo_compare_set_vnet_hdr(Object *obj, bool value, Error **errp)
{
    ColoCompare *s = COLO_COMPARE(obj);

    if (colo_compare_settable(s, "vnet_hdr_support", errp)) {
        s->vnet_hdr = value;
    }
}

static void colo_compare_instance_init(Object *obj)
{
    ColoCompare *s = COLO_COMPARE(obj);

    s->compare_timeout_ms = COLO_COMPARE_TIMEOUT_MS_DEFAULT;
    s->scan_cycle_ms = COLO_COMPARE_SCAN_CYCLE_MS_DEFAULT;
    s->max_queue_size = COLO_COMPARE_QUEUE_SIZE_DEFAULT;
    qemu_mutex_init(&s->stats_lock);
}

static void colo_compare_instance_finalize(Object *obj)
{
    ColoCompare *s = COLO_COMPARE(obj);
    int i;

    if (s->listed) {
        qemu_mutex_lock(&colo_compares_lock);
        QTAILQ_REMOVE(&colo_compares, s, next);
        s->listed = false;
        qemu_mutex_unlock(&colo_compares_lock);
    }
    colo_compare_detach(s);
    if (s->completed) {
        colo_cmp_engine_free(s->engine);
        s->engine = NULL;
        for (i = 0; i < 2; i++) {
            colo_stream_decoder_destroy(&s->in[i].dec);
        }
        colo_stream_decoder_destroy(&s->notify_dec);
        colo_stream_encoder_destroy(&s->out.enc);
        colo_stream_encoder_destroy(&s->notify.enc);
        object_unref(OBJECT(s->iothread));
        s->iothread = NULL;
    }
    if (s->id) {
        trace_colo_compare_deleted(s->id);
    }
    qemu_mutex_destroy(&s->stats_lock);
    g_free(s->id);
    g_free(s->pri_name);
    g_free(s->sec_name);
    g_free(s->out_name);
    g_free(s->notify_name);
    g_free(s->iothread_name);
}

static void colo_compare_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);
    ColoProxyReporterClass *rc = COLO_PROXY_REPORTER_CLASS(oc);

    ucc->complete = colo_compare_complete;
    rc->report = colo_compare_report;

    object_class_property_add_str(oc, "primary_in", colo_compare_get_pri_name,
                                  colo_compare_set_pri_name);
    object_class_property_set_description(oc, "primary_in",
        "chardev carrying the primary guest's output (framed)");
    object_class_property_add_str(oc, "secondary_in",
                                  colo_compare_get_sec_name,
                                  colo_compare_set_sec_name);
    object_class_property_set_description(oc, "secondary_in",
        "chardev carrying the secondary guest's output (framed)");
    object_class_property_add_str(oc, "outdev", colo_compare_get_out_name,
                                  colo_compare_set_out_name);
    object_class_property_set_description(oc, "outdev",
        "chardev to which the released primary frames are written");
    object_class_property_add_str(oc, "notify_dev",
                                  colo_compare_get_notify_name,
                                  colo_compare_set_notify_name);
    object_class_property_set_description(oc, "notify_dev",
        "chardev to the Xen COLO frame (checkpoint requests)");
    object_class_property_add_str(oc, "iothread",
                                  colo_compare_get_iothread_name,
                                  colo_compare_set_iothread_name);
    object_class_property_set_description(oc, "iothread",
        "id of the iothread that runs the comparison");
    object_class_property_add(oc, "compare_timeout", "uint64",
                              colo_compare_get_num, colo_compare_set_num,
                              NULL, (void *)&colo_compare_timeout_prop);
    object_class_property_set_description(oc, "compare_timeout",
        "longest time (ms) a primary frame waits for its secondary "
        "counterpart (default 3000)");
    object_class_property_add(oc, "expired_scan_cycle", "uint32",
                              colo_compare_get_num, colo_compare_set_num,
                              NULL, (void *)&colo_compare_scan_prop);
    object_class_property_set_description(oc, "expired_scan_cycle",
        "period (ms) of the housekeeping scan (default 3000)");
    object_class_property_add(oc, "max_queue_size", "uint32",
                              colo_compare_get_num, colo_compare_set_num,
                              NULL, (void *)&colo_compare_queue_prop);
    object_class_property_set_description(oc, "max_queue_size",
        "frames queued at most per flow and per side (default 1024)");
    object_class_property_add_bool(oc, "vnet_hdr_support",
                                   colo_compare_get_vnet_hdr,
                                   colo_compare_set_vnet_hdr);
    object_class_property_set_description(oc, "vnet_hdr_support",
        "the wire format carries the vnet header length (default off)");
}

static const TypeInfo colo_compare_info = {
    .name = TYPE_COLO_COMPARE,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(ColoCompare),
    .instance_init = colo_compare_instance_init,
    .instance_finalize = colo_compare_instance_finalize,
    .class_init = colo_compare_class_init,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { TYPE_COLO_PROXY_REPORTER },
        { }
    },
};

static void colo_compare_register_types(void)
{
    type_register_static(&colo_compare_info);
}

type_init(colo_compare_register_types);
