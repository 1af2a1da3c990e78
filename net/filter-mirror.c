/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * filter-mirror and filter-redirector: netfilters that move frames
 * between a netdev's filter chain and character devices, framed as
 * described in net/colo-stream.h.
 *
 * filter-mirror copies every frame of its direction to @outdev and lets
 * it continue down the chain.  filter-redirector sends the frames of its
 * direction to @outdev and stops them there (without @outdev they pass
 * on), and injects the frames it reads from @indev into the chain as if
 * they came from the filter's source.
 *
 * Output never blocks: frames are appended to a bounded backlog that a
 * bottom half (or, when the peer is slow, a G_IO_OUT watch) writes with
 * as few writes as possible.  A frame that does not fit, or that arrives
 * while @outdev has no peer, is dropped and counted.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-visit-common.h"
#include "qapi/visitor.h"
#include "qemu/iov.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qom/object.h"
#include "chardev/char-fe.h"
#include "net/net.h"
#include "net/filter.h"
#include "net/colo-proxy.h"
#include "net/colo-stream.h"
#include "trace.h"

#define TYPE_FILTER_MIRROR "filter-mirror"
#define TYPE_FILTER_REDIRECTOR "filter-redirector"

/* Default bound of the output backlog, in bytes (prefixes included). */
#define STREAM_FILTER_BACKLOG_DEFAULT (4 * 1024 * 1024)
/* The backlog must hold at least one frame of the largest size. */
#define STREAM_FILTER_BACKLOG_MIN \
    (COLO_STREAM_MAX_FRAME_DEFAULT + COLO_STREAM_PREFIX_MAX)
#define STREAM_FILTER_BACKLOG_MAX (1ULL << 30)
/* Retry period for a chardev that is busy but cannot be watched. */
#define STREAM_FILTER_RETRY_MS 10

/* Both types share this instance; filter-redirector only adds @indev. */
typedef struct StreamFilter {
    NetFilterState parent_obj;

    /* properties */
    char *indev_name;
    char *outdev_name;
    bool vnet_hdr;
    uint64_t max_backlog;

    /* set up in setup(), torn down in cleanup() */
    char *id;               /* for traces */
    bool realized;
    CharBackend chr_in;
    CharBackend chr_out;
    ColoStreamDecoder dec;
    ColoStreamEncoder enc;
    QEMUBH *flush_bh;
    QEMUTimer *retry_timer;
    guint out_watch;

    ColoFilterStats stats;
} StreamFilter;

static StreamFilter *stream_filter(NetFilterState *nf)
{
    return container_of(nf, StreamFilter, parent_obj);
}

static StreamFilter *stream_filter_obj(Object *obj)
{
    return stream_filter(NETFILTER(obj));
}

static bool stream_filter_is_redirector(StreamFilter *s)
{
    return object_dynamic_cast(OBJECT(s), TYPE_FILTER_REDIRECTOR) != NULL;
}

/* Output */

static void stream_filter_flush(StreamFilter *s);

static gboolean stream_filter_out_ready(void *do_not_use, GIOCondition cond,
                                        void *opaque)
{
    StreamFilter *s = opaque;

    s->out_watch = 0;
    stream_filter_flush(s);
    return G_SOURCE_REMOVE;
}

static void stream_filter_retry(void *opaque)
{
    stream_filter_flush(opaque);
}

static void stream_filter_flush_bh(void *opaque)
{
    stream_filter_flush(opaque);
}

/* Drop the backlog: the peer went away and a new one starts afresh. */
static void stream_filter_drop_backlog(StreamFilter *s)
{
    size_t frames = colo_stream_encoder_clear(&s->enc);

    if (frames) {
        s->stats.drops_disconnected += frames;
        trace_filter_stream_drop(s->id, "disconnected", frames);
    }
    if (s->out_watch) {
        g_source_remove(s->out_watch);
        s->out_watch = 0;
    }
    timer_del(s->retry_timer);
}

/* Wait until @outdev can take more. */
static void stream_filter_wait_writable(StreamFilter *s)
{
    if (s->out_watch || timer_pending(s->retry_timer)) {
        return;
    }
    s->out_watch = qemu_chr_fe_add_watch(&s->chr_out, G_IO_OUT | G_IO_HUP,
                                         stream_filter_out_ready, s);
    if (!s->out_watch) {
        timer_mod(s->retry_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                  STREAM_FILTER_RETRY_MS);
    }
}

/*
 * Whether @outdev has a peer.  Only socket chardevs report connections
 * reliably; the others (udp, file, pty, ...) are written whenever there
 * is something to write, and some (udp) never report being open at all.
 */
static bool stream_filter_out_open(StreamFilter *s)
{
    Chardev *chr = qemu_chr_fe_get_driver(&s->chr_out);

    return qemu_chr_fe_backend_open(&s->chr_out) ||
           (chr && !qemu_chr_has_feature(chr,
                                         QEMU_CHAR_FEATURE_RECONNECTABLE));
}

/*
 * Write as much of the backlog as @outdev takes without blocking: one
 * write per contiguous run (at most two, when the ring wraps).
 */
static void stream_filter_flush(StreamFilter *s)
{
    const uint8_t *data;
    size_t len;

    if (s->out_watch) {
        /* A watch is pending: the chardev is full, it will call us. */
        return;
    }
    while ((len = colo_stream_encoder_peek(&s->enc, &data)) > 0) {
        int ret;

        if (!stream_filter_out_open(s)) {
            stream_filter_drop_backlog(s);
            return;
        }
        ret = qemu_chr_fe_write(&s->chr_out, data, MIN(len, INT_MAX));
        if (ret > 0) {
            colo_stream_encoder_consume(&s->enc, ret);
            if (ret < len) {
                stream_filter_wait_writable(s);
                return;
            }
        } else if (ret == 0 || errno == EAGAIN) {
            stream_filter_wait_writable(s);
            return;
        } else {
            /*
             * The peer is gone.  A socket chardev has already sent
             * CHR_EVENT_CLOSED, which dropped the backlog.
             */
            stream_filter_drop_backlog(s);
            return;
        }
    }
}

static void stream_filter_send(StreamFilter *s, const struct iovec *iov,
                               int iovcnt, size_t size)
{
    NetFilterState *nf = &s->parent_obj;
    ColoStreamPush res;

    if (!stream_filter_out_open(s)) {
        s->stats.drops_disconnected++;
        trace_filter_stream_drop(s->id, "disconnected", 1);
        return;
    }
    res = colo_stream_encoder_push(&s->enc, iov, iovcnt,
                                   qemu_get_vnet_hdr_len(nf->netdev));
    switch (res) {
    case COLO_STREAM_PUSH_OK:
        s->stats.frames_out++;
        s->stats.bytes_out += size;
        if (!s->out_watch) {
            qemu_bh_schedule(s->flush_bh);
        }
        break;
    case COLO_STREAM_PUSH_FULL:
        s->stats.drops_backlog++;
        trace_filter_stream_drop(s->id, "backlog-full", 1);
        break;
    case COLO_STREAM_PUSH_INVALID:
        /* Empty frame or vnet header longer than the frame. */
        trace_filter_stream_drop(s->id, "invalid", 1);
        break;
    }
}

static ssize_t
filter_mirror_receive_iov(NetFilterState *nf, NetClientState *sender,
                          unsigned flags, const struct iovec *iov,
                          int iovcnt, NetPacketSent *sent_cb)
{
    StreamFilter *s = stream_filter(nf);
    size_t size = iov_size(iov, iovcnt);

    if (size) {
        stream_filter_send(s, iov, iovcnt, size);
    }
    return 0;
}

static ssize_t
filter_redirector_receive_iov(NetFilterState *nf, NetClientState *sender,
                              unsigned flags, const struct iovec *iov,
                              int iovcnt, NetPacketSent *sent_cb)
{
    StreamFilter *s = stream_filter(nf);
    size_t size = iov_size(iov, iovcnt);

    if (!qemu_chr_fe_backend_connected(&s->chr_out)) {
        return 0;
    }
    if (size) {
        stream_filter_send(s, iov, iovcnt, size);
    }
    /* Stolen: the frame does not continue down the chain. */
    return size;
}

static void stream_filter_out_event(void *opaque, QEMUChrEvent event)
{
    StreamFilter *s = opaque;

    switch (event) {
    case CHR_EVENT_OPENED:
        trace_filter_stream_connect(s->id, s->outdev_name, "out");
        stream_filter_flush(s);
        break;
    case CHR_EVENT_CLOSED:
        trace_filter_stream_disconnect(s->id, s->outdev_name, "out",
                                       colo_stream_encoder_queued(&s->enc));
        s->stats.peer_disconnects++;
        stream_filter_drop_backlog(s);
        break;
    default:
        break;
    }
}

/* Input (filter-redirector) */

static void stream_filter_inject(void *opaque, const ColoStreamFrame *f)
{
    StreamFilter *s = opaque;
    NetFilterState *nf = &s->parent_obj;
    struct iovec iov = {
        .iov_base = (void *)f->data,
        .iov_len = f->len,
    };

    s->stats.frames_in++;
    s->stats.bytes_in += f->len;
    /*
     * Deliver the frame as if it came from the filter's source and had
     * just passed this filter: sent by the netdev (towards the guest) for
     * tx, sent to the netdev (by the guest) for rx.  A frame on the wire
     * carries no direction, so a queue=all filter delivers it both ways.
     */
    if (nf->direction == NET_FILTER_DIRECTION_TX ||
        nf->direction == NET_FILTER_DIRECTION_ALL) {
        qemu_netfilter_pass_to_next(nf->netdev, 0, &iov, 1, nf);
    }
    if (nf->direction == NET_FILTER_DIRECTION_RX ||
        nf->direction == NET_FILTER_DIRECTION_ALL) {
        qemu_netfilter_pass_to_next(nf->netdev->peer, 0, &iov, 1, nf);
    }
}

static int stream_filter_in_can_read(void *opaque)
{
    StreamFilter *s = opaque;

    /* Paused while the filter is off: the bytes wait in the chardev. */
    return s->parent_obj.on ? COLO_STREAM_MAX_FRAME_DEFAULT : 0;
}

static void stream_filter_in_read(void *opaque, const uint8_t *buf, int size)
{
    StreamFilter *s = opaque;
    ColoStreamError err;

    err = colo_stream_decoder_feed(&s->dec, buf, size,
                                   stream_filter_inject, s);
    if (err == COLO_STREAM_OK || err == COLO_STREAM_ERR_DISCARDING) {
        return;
    }
    /*
     * The stream cannot be resynchronised: refuse the frame, discard
     * everything until the peer reconnects, and make it reconnect.
     */
    s->stats.malformed_in++;
    s->stats.stream_resets++;
    trace_filter_stream_malformed(s->id, s->indev_name,
                                  colo_stream_error_name(err));
    qemu_chr_fe_disconnect(&s->chr_in);
}

static void stream_filter_in_event(void *opaque, QEMUChrEvent event)
{
    StreamFilter *s = opaque;
    bool cut;

    switch (event) {
    case CHR_EVENT_OPENED:
    case CHR_EVENT_CLOSED:
        cut = colo_stream_decoder_reset(&s->dec);
        if (cut) {
            s->stats.stream_resets++;
            trace_filter_stream_reset(s->id, s->indev_name, "cut-mid-frame");
        }
        if (event == CHR_EVENT_OPENED) {
            trace_filter_stream_connect(s->id, s->indev_name, "in");
        } else {
            s->stats.peer_disconnects++;
            trace_filter_stream_disconnect(s->id, s->indev_name, "in", 0);
        }
        break;
    default:
        break;
    }
}

/* Setup and teardown */

static bool stream_filter_attach(StreamFilter *s, CharBackend *be,
                                 const char *prop, const char *name,
                                 Error **errp)
{
    Chardev *chr = qemu_chr_find(name);

    if (!chr) {
        error_setg(errp, "%s: chardev '%s' not found", prop, name);
        return false;
    }
    if (!qemu_chr_fe_init(be, chr, errp)) {
        error_prepend(errp, "%s: ", prop);
        return false;
    }
    return true;
}

static void stream_filter_setup(NetFilterState *nf, Error **errp)
{
    StreamFilter *s = stream_filter(nf);
    bool redirector = stream_filter_is_redirector(s);

    if (!redirector && !s->outdev_name) {
        error_setg(errp, "filter-mirror: parameter 'outdev' is required");
        return;
    }
    if (redirector && !s->indev_name && !s->outdev_name) {
        error_setg(errp, "filter-redirector: at least one of 'indev' and "
                   "'outdev' is required");
        return;
    }
    if (s->indev_name && s->outdev_name &&
        !strcmp(s->indev_name, s->outdev_name)) {
        error_setg(errp, "filter-redirector: 'indev' and 'outdev' must be "
                   "different chardevs");
        return;
    }

    if (s->outdev_name &&
        !stream_filter_attach(s, &s->chr_out, "outdev", s->outdev_name,
                              errp)) {
        return;
    }
    if (s->indev_name &&
        !stream_filter_attach(s, &s->chr_in, "indev", s->indev_name, errp)) {
        qemu_chr_fe_deinit(&s->chr_out, false);
        return;
    }

    s->id = g_strdup(object_get_canonical_path_component(OBJECT(s)));
    colo_stream_encoder_init(&s->enc, s->vnet_hdr, s->max_backlog);
    colo_stream_decoder_init(&s->dec, s->vnet_hdr, 0);
    s->flush_bh = qemu_bh_new(stream_filter_flush_bh, s);
    s->retry_timer = timer_new_ms(QEMU_CLOCK_REALTIME, stream_filter_retry,
                                  s);
    s->realized = true;

    if (s->outdev_name) {
        /* No reads: only the events, to learn when the peer goes away. */
        qemu_chr_fe_set_handlers(&s->chr_out, NULL, NULL,
                                 stream_filter_out_event, NULL, s, NULL,
                                 true);
    }
    if (s->indev_name) {
        qemu_chr_fe_set_handlers(&s->chr_in, stream_filter_in_can_read,
                                 stream_filter_in_read,
                                 stream_filter_in_event, NULL, s, NULL,
                                 true);
    }
}

static void stream_filter_teardown(StreamFilter *s);

static void stream_filter_cleanup(NetFilterState *nf)
{
    StreamFilter *s = stream_filter(nf);

    /* Called by netfilter_finalize(), after our own finalize. */
    if (s->realized) {
        stream_filter_teardown(s);
    }
    g_free(s->indev_name);
    s->indev_name = NULL;
    g_free(s->outdev_name);
    s->outdev_name = NULL;
}

static void stream_filter_teardown(StreamFilter *s)
{
    qemu_chr_fe_deinit(&s->chr_in, false);
    if (s->out_watch) {
        g_source_remove(s->out_watch);
        s->out_watch = 0;
    }
    /* Last chance for the backlog, without waiting. */
    stream_filter_flush(s);
    if (s->out_watch) {
        g_source_remove(s->out_watch);
        s->out_watch = 0;
    }
    qemu_chr_fe_deinit(&s->chr_out, false);
    timer_free(s->retry_timer);
    s->retry_timer = NULL;
    qemu_bh_delete(s->flush_bh);
    s->flush_bh = NULL;
    colo_stream_encoder_destroy(&s->enc);
    colo_stream_decoder_destroy(&s->dec);
    g_free(s->id);
    s->id = NULL;
    s->realized = false;
}

static void stream_filter_status_changed(NetFilterState *nf, Error **errp)
{
    StreamFilter *s = stream_filter(nf);

    if (!s->indev_name || !nf->on) {
        /* Turning off only pauses reading (see can_read). */
        return;
    }
    /*
     * An administrator turning the filter back on is the one way to
     * resynchronise a chardev that cannot be disconnected.
     */
    if (colo_stream_decoder_discarding(&s->dec)) {
        colo_stream_decoder_reset(&s->dec);
        trace_filter_stream_reset(s->id, s->indev_name, "status-on");
    }
    qemu_chr_fe_accept_input(&s->chr_in);
}

/* Counters */

static void stream_filter_report(Object *obj, ColoProxyObjectInfo *info)
{
    StreamFilter *s = stream_filter_obj(obj);
    ColoFilterStats *st;

    if (stream_filter_is_redirector(s)) {
        info->kind = COLO_PROXY_OBJECT_KIND_FILTER_REDIRECTOR;
        st = &info->u.filter_redirector;
    } else {
        info->kind = COLO_PROXY_OBJECT_KIND_FILTER_MIRROR;
        st = &info->u.filter_mirror;
    }
    *st = s->stats;
    st->backlog_bytes = s->realized ? colo_stream_encoder_queued(&s->enc) : 0;
}

/* Properties */

static bool stream_filter_check_settable(StreamFilter *s, const char *name,
                                         Error **errp)
{
    if (s->realized) {
        error_setg(errp, "property '%s' cannot be changed after the filter "
                   "has been created", name);
        return false;
    }
    return true;
}

static char *stream_filter_get_indev(Object *obj, Error **errp)
{
    return g_strdup(stream_filter_obj(obj)->indev_name);
}

static void stream_filter_set_indev(Object *obj, const char *value,
                                    Error **errp)
{
    StreamFilter *s = stream_filter_obj(obj);

    if (stream_filter_check_settable(s, "indev", errp)) {
        g_free(s->indev_name);
        s->indev_name = g_strdup(value);
    }
}

static char *stream_filter_get_outdev(Object *obj, Error **errp)
{
    return g_strdup(stream_filter_obj(obj)->outdev_name);
}

static void stream_filter_set_outdev(Object *obj, const char *value,
                                     Error **errp)
{
    StreamFilter *s = stream_filter_obj(obj);

    if (stream_filter_check_settable(s, "outdev", errp)) {
        g_free(s->outdev_name);
        s->outdev_name = g_strdup(value);
    }
}

static bool stream_filter_get_vnet_hdr(Object *obj, Error **errp)
{
    return stream_filter_obj(obj)->vnet_hdr;
}

static void stream_filter_set_vnet_hdr(Object *obj, bool value, Error **errp)
{
    StreamFilter *s = stream_filter_obj(obj);

    if (stream_filter_check_settable(s, "vnet_hdr_support", errp)) {
        s->vnet_hdr = value;
    }
}

static void stream_filter_get_max_backlog(Object *obj, Visitor *v,
                                          const char *name, void *opaque,
                                          Error **errp)
{
    uint64_t value = stream_filter_obj(obj)->max_backlog;

    visit_type_size(v, name, &value, errp);
}

static void stream_filter_set_max_backlog(Object *obj, Visitor *v,
                                          const char *name, void *opaque,
                                          Error **errp)
{
    StreamFilter *s = stream_filter_obj(obj);
    uint64_t value;

    if (!visit_type_size(v, name, &value, errp)) {
        return;
    }
    if (value < STREAM_FILTER_BACKLOG_MIN ||
        value > STREAM_FILTER_BACKLOG_MAX) {
        error_setg(errp, "property '%s' must be between %llu and %llu bytes",
                   name, (unsigned long long)STREAM_FILTER_BACKLOG_MIN,
                   (unsigned long long)STREAM_FILTER_BACKLOG_MAX);
        return;
    }
    s->max_backlog = value;
    if (s->realized) {
        colo_stream_encoder_set_limit(&s->enc, value);
    }
}

static void stream_filter_instance_init(Object *obj)
{
    StreamFilter *s = stream_filter_obj(obj);

    s->max_backlog = STREAM_FILTER_BACKLOG_DEFAULT;
}

static void stream_filter_class_init_common(ObjectClass *oc)
{
    NetFilterClass *nfc = NETFILTER_CLASS(oc);
    ColoProxyReporterClass *rc = COLO_PROXY_REPORTER_CLASS(oc);

    object_class_property_add_str(oc, "outdev", stream_filter_get_outdev,
                                  stream_filter_set_outdev);
    object_class_property_set_description(oc, "outdev",
        "chardev to which the frames are written");
    object_class_property_add_bool(oc, "vnet_hdr_support",
                                   stream_filter_get_vnet_hdr,
                                   stream_filter_set_vnet_hdr);
    object_class_property_set_description(oc, "vnet_hdr_support",
        "the wire format carries the vnet header length");
    object_class_property_add(oc, "max-backlog", "size",
                              stream_filter_get_max_backlog,
                              stream_filter_set_max_backlog, NULL, NULL);
    object_class_property_set_description(oc, "max-backlog",
        "bytes that may wait for outdev before frames are dropped");

    nfc->setup = stream_filter_setup;
    nfc->cleanup = stream_filter_cleanup;
    rc->report = stream_filter_report;
}

static void filter_mirror_class_init(ObjectClass *oc, void *data)
{
    NetFilterClass *nfc = NETFILTER_CLASS(oc);

    stream_filter_class_init_common(oc);
    nfc->receive_iov = filter_mirror_receive_iov;
}

static void filter_redirector_class_init(ObjectClass *oc, void *data)
{
    NetFilterClass *nfc = NETFILTER_CLASS(oc);

    stream_filter_class_init_common(oc);
    object_class_property_add_str(oc, "indev", stream_filter_get_indev,
                                  stream_filter_set_indev);
    object_class_property_set_description(oc, "indev",
        "chardev from which frames are read and injected");
    nfc->receive_iov = filter_redirector_receive_iov;
    nfc->status_changed = stream_filter_status_changed;
}

static const TypeInfo stream_filter_types[] = {
    {
        .name = TYPE_FILTER_MIRROR,
        .parent = TYPE_NETFILTER,
        .class_init = filter_mirror_class_init,
        .instance_size = sizeof(StreamFilter),
        .instance_init = stream_filter_instance_init,
        .interfaces = (InterfaceInfo[]) {
            { TYPE_COLO_PROXY_REPORTER },
            { }
        },
    },
    {
        .name = TYPE_FILTER_REDIRECTOR,
        .parent = TYPE_NETFILTER,
        .class_init = filter_redirector_class_init,
        .instance_size = sizeof(StreamFilter),
        .instance_init = stream_filter_instance_init,
        .interfaces = (InterfaceInfo[]) {
            { TYPE_COLO_PROXY_REPORTER },
            { }
        },
    },
};

DEFINE_TYPES(stream_filter_types)
