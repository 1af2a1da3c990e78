/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * COLO-proxy chardev wire framing: an incremental decoder and a bounded,
 * batching encoder.  See colo-stream.h for the wire format.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "net/colo-stream.h"

/* Smallest ring and frame buffer allocated. */
#define COLO_STREAM_MIN_ALLOC 4096

static const char *const colo_stream_error_names[COLO_STREAM_ERR__MAX] = {
    [COLO_STREAM_OK] = "ok",
    [COLO_STREAM_ERR_ZERO_LEN] = "zero-length",
    [COLO_STREAM_ERR_TOO_LONG] = "too-long",
    [COLO_STREAM_ERR_VNET_HDR_LEN] = "vnet-hdr-len",
    [COLO_STREAM_ERR_DISCARDING] = "discarding",
};

const char *colo_stream_error_name(ColoStreamError err)
{
    if ((unsigned)err >= COLO_STREAM_ERR__MAX) {
        return "unknown";
    }
    return colo_stream_error_names[err];
}

/* Decoder */

static uint32_t colo_stream_prefix_len(bool vnet_hdr)
{
    return vnet_hdr ? 8 : 4;
}

void colo_stream_decoder_init(ColoStreamDecoder *d, bool vnet_hdr,
                              uint32_t max_frame)
{
    memset(d, 0, sizeof(*d));
    d->vnet_hdr = vnet_hdr;
    d->max_frame = max_frame ? max_frame : COLO_STREAM_MAX_FRAME_DEFAULT;
    d->state = COLO_STREAM_DEC_PREFIX;
}

void colo_stream_decoder_destroy(ColoStreamDecoder *d)
{
    g_free(d->buf);
    d->buf = NULL;
    d->buf_size = 0;
    colo_stream_decoder_reset(d);
}

bool colo_stream_decoder_mid_frame(const ColoStreamDecoder *d)
{
    switch (d->state) {
    case COLO_STREAM_DEC_PREFIX:
        return d->prefix_have > 0;
    case COLO_STREAM_DEC_BODY:
        return true;
    default:
        return false;
    }
}

bool colo_stream_decoder_discarding(const ColoStreamDecoder *d)
{
    return d->state == COLO_STREAM_DEC_DISCARD;
}

bool colo_stream_decoder_reset(ColoStreamDecoder *d)
{
    bool cut = colo_stream_decoder_mid_frame(d);

    d->state = COLO_STREAM_DEC_PREFIX;
    d->prefix_have = 0;
    d->frame_len = 0;
    d->vnet_hdr_len = 0;
    d->buf_have = 0;
    return cut;
}

static ColoStreamError colo_stream_fail(ColoStreamDecoder *d,
                                        ColoStreamError err)
{
    colo_stream_decoder_reset(d);
    d->state = COLO_STREAM_DEC_DISCARD;
    return err;
}

/* Validate a complete prefix at @p and load it into @d. */
static ColoStreamError colo_stream_parse_prefix(ColoStreamDecoder *d,
                                                const uint8_t *p)
{
    uint32_t len = ldl_be_p(p);
    uint32_t vlen = d->vnet_hdr ? ldl_be_p(p + 4) : 0;

    if (len == 0) {
        return COLO_STREAM_ERR_ZERO_LEN;
    }
    if (len > d->max_frame) {
        return COLO_STREAM_ERR_TOO_LONG;
    }
    if (vlen > len) {
        return COLO_STREAM_ERR_VNET_HDR_LEN;
    }
    d->frame_len = len;
    d->vnet_hdr_len = vlen;
    return COLO_STREAM_OK;
}

static void colo_stream_emit(ColoStreamDecoder *d, const uint8_t *data,
                             ColoStreamFrameFn *cb, void *opaque)
{
    ColoStreamFrame f = {
        .data = data,
        .len = d->frame_len,
        .vnet_hdr_len = d->vnet_hdr_len,
    };

    d->state = COLO_STREAM_DEC_PREFIX;
    d->prefix_have = 0;
    d->buf_have = 0;
    cb(opaque, &f);
}

/* Make room for a whole frame of d->frame_len bytes in d->buf. */
static void colo_stream_reserve(ColoStreamDecoder *d)
{
    uint32_t size;

    if (d->buf_size >= d->frame_len) {
        return;
    }
    size = MAX(d->buf_size, COLO_STREAM_MIN_ALLOC);
    while (size < d->frame_len) {
        size = size > d->max_frame / 2 ? d->max_frame : size * 2;
    }
    /* Nothing buffered yet: no need to copy the old contents. */
    g_free(d->buf);
    d->buf = g_malloc(size);
    d->buf_size = size;
}

ColoStreamError colo_stream_decoder_feed(ColoStreamDecoder *d,
                                         const uint8_t *buf, size_t len,
                                         ColoStreamFrameFn *cb,
                                         void *opaque)
{
    const uint32_t plen = colo_stream_prefix_len(d->vnet_hdr);
    ColoStreamError err;

    if (d->state == COLO_STREAM_DEC_DISCARD) {
        return COLO_STREAM_ERR_DISCARDING;
    }

    while (len > 0) {
        if (d->state == COLO_STREAM_DEC_PREFIX) {
            size_t take;

            if (d->prefix_have == 0 && len >= plen) {
                /* Fast path: whole prefix in the chunk. */
                err = colo_stream_parse_prefix(d, buf);
                if (err) {
                    return colo_stream_fail(d, err);
                }
                buf += plen;
                len -= plen;
                if (len >= d->frame_len) {
                    /* ... and the whole frame too: no copy. */
                    size_t flen = d->frame_len;

                    colo_stream_emit(d, buf, cb, opaque);
                    buf += flen;
                    len -= flen;
                    continue;
                }
            } else {
                take = MIN(len, plen - d->prefix_have);
                memcpy(d->prefix + d->prefix_have, buf, take);
                d->prefix_have += take;
                buf += take;
                len -= take;
                if (d->prefix_have < plen) {
                    break;
                }
                err = colo_stream_parse_prefix(d, d->prefix);
                if (err) {
                    return colo_stream_fail(d, err);
                }
            }
            d->state = COLO_STREAM_DEC_BODY;
            d->buf_have = 0;
            colo_stream_reserve(d);
            continue;
        }

        /* COLO_STREAM_DEC_BODY */
        {
            size_t take = MIN(len, (size_t)(d->frame_len - d->buf_have));

            memcpy(d->buf + d->buf_have, buf, take);
            d->buf_have += take;
            buf += take;
            len -= take;
            if (d->buf_have == d->frame_len) {
                colo_stream_emit(d, d->buf, cb, opaque);
            }
        }
    }
    return COLO_STREAM_OK;
}

/* colo_stream_decoder_feed_burst(): frames collected for the next burst */
typedef struct ColoStreamBurst {
    const ColoStreamDecoder *d;
    ColoStreamBurstFn *cb;
    void *opaque;
    size_t n;
    ColoStreamFrame frames[COLO_STREAM_BURST];
} ColoStreamBurst;

static void colo_stream_burst_flush(ColoStreamBurst *b)
{
    if (b->n) {
        b->cb(b->opaque, b->frames, b->n);
        b->n = 0;
    }
}

static void colo_stream_burst_add(void *opaque, const ColoStreamFrame *frame)
{
    ColoStreamBurst *b = opaque;
    ColoStreamFrame *f = &b->frames[b->n++];

    /*
     * Field by field: the decoder has just stored *frame that way, and
     * a CPU cannot forward several stores to one wider load, which a
     * whole-struct copy would be.
     */
    f->data = frame->data;
    f->len = frame->len;
    f->vnet_hdr_len = frame->vnet_hdr_len;
    /*
     * A frame in the decoder's buffer must go now: the next frame split
     * across chunks is reassembled in the same buffer.
     */
    if (b->n == COLO_STREAM_BURST || frame->data == b->d->buf) {
        colo_stream_burst_flush(b);
    }
}

ColoStreamError colo_stream_decoder_feed_burst(ColoStreamDecoder *d,
                                               const uint8_t *buf,
                                               size_t len,
                                               ColoStreamBurstFn *cb,
                                               void *opaque)
{
    ColoStreamBurst b = { .d = d, .cb = cb, .opaque = opaque };
    ColoStreamError err;

    err = colo_stream_decoder_feed(d, buf, len, colo_stream_burst_add, &b);
    colo_stream_burst_flush(&b);
    return err;
}

/* Encoder */

void colo_stream_encoder_init(ColoStreamEncoder *e, bool vnet_hdr,
                              size_t limit)
{
    memset(e, 0, sizeof(*e));
    e->vnet_hdr = vnet_hdr;
    e->limit = limit;
}

void colo_stream_encoder_destroy(ColoStreamEncoder *e)
{
    g_free(e->ring);
    e->ring = NULL;
    e->cap = 0;
    e->start = 0;
    e->used = 0;
    e->frames = 0;
    e->head_left = 0;
}

void colo_stream_encoder_set_limit(ColoStreamEncoder *e, size_t limit)
{
    e->limit = limit;
}

size_t colo_stream_record_size(const ColoStreamEncoder *e, size_t frame_len)
{
    return colo_stream_prefix_len(e->vnet_hdr) + frame_len;
}

size_t colo_stream_encoder_queued(const ColoStreamEncoder *e)
{
    return e->used;
}

size_t colo_stream_encoder_frames(const ColoStreamEncoder *e)
{
    return e->frames;
}

bool colo_stream_encoder_mid_frame(const ColoStreamEncoder *e)
{
    return e->frames > 0 && e->head_done > 0;
}

/* Ring position of @pos + @n, both < cap. */
static inline size_t colo_stream_ring_add(const ColoStreamEncoder *e,
                                          size_t pos, size_t n)
{
    pos += n;
    return pos >= e->cap ? pos - e->cap : pos;
}

/* Copy @len bytes into the ring at logical offset @off from start. */
static void colo_stream_ring_put(ColoStreamEncoder *e, size_t off,
                                 const void *src, size_t len)
{
    size_t pos = colo_stream_ring_add(e, e->start, off);
    size_t first = MIN(len, e->cap - pos);

    if (len == 0) {
        return;
    }
    memcpy(e->ring + pos, src, first);
    if (len > first) {
        memcpy(e->ring, (const uint8_t *)src + first, len - first);
    }
}

/* Read the be32 L of the record starting at ring position @pos. */
static uint32_t colo_stream_ring_len_at(const ColoStreamEncoder *e,
                                        size_t pos)
{
    uint8_t b[4];
    int i;

    if (likely(e->cap - pos >= sizeof(b))) {
        return ldl_be_p(e->ring + pos);
    }
    for (i = 0; i < 4; i++) {
        b[i] = e->ring[colo_stream_ring_add(e, pos, i)];
    }
    return ldl_be_p(b);
}

/* Make the ring hold at least @need bytes; @need <= limit. */
static void colo_stream_ring_grow(ColoStreamEncoder *e, size_t need)
{
    size_t cap = MAX(e->cap, COLO_STREAM_MIN_ALLOC);
    uint8_t *ring;
    size_t first;

    if (need <= e->cap) {
        return;
    }
    while (cap < need) {
        cap = cap > e->limit / 2 ? e->limit : cap * 2;
    }
    /* Linearise the queued bytes at the start of the new ring. */
    ring = g_malloc(cap);
    if (e->used) {
        first = MIN(e->used, e->cap - e->start);
        memcpy(ring, e->ring + e->start, first);
        memcpy(ring + first, e->ring, e->used - first);
    }
    g_free(e->ring);
    e->ring = ring;
    e->cap = cap;
    e->start = 0;
}

ColoStreamPush colo_stream_encoder_push(ColoStreamEncoder *e,
                                        const struct iovec *iov,
                                        int iovcnt, uint32_t vnet_hdr_len)
{
    uint8_t prefix[COLO_STREAM_PREFIX_MAX];
    size_t plen = colo_stream_prefix_len(e->vnet_hdr);
    size_t len = 0, rec, off;
    int i;

    for (i = 0; i < iovcnt; i++) {
        len += iov[i].iov_len;
        if (len > UINT32_MAX) {
            return COLO_STREAM_PUSH_INVALID;
        }
    }
    if (len == 0 || (e->vnet_hdr && vnet_hdr_len > len)) {
        return COLO_STREAM_PUSH_INVALID;
    }
    rec = plen + len;
    if (rec > e->limit || e->used > e->limit - rec) {
        return COLO_STREAM_PUSH_FULL;
    }
    if (e->used == 0) {
        e->start = 0;
    }
    colo_stream_ring_grow(e, e->used + rec);

    off = colo_stream_ring_add(e, e->start, e->used);
    if (likely(e->cap - off >= rec)) {
        /* The usual case: the record fits before the end of the ring. */
        uint8_t *d = e->ring + off;

        stl_be_p(d, len);
        if (e->vnet_hdr) {
            stl_be_p(d + 4, vnet_hdr_len);
        }
        d += plen;
        for (i = 0; i < iovcnt; i++) {
            if (iov[i].iov_len) {   /* an empty one may have no base */
                memcpy(d, iov[i].iov_base, iov[i].iov_len);
                d += iov[i].iov_len;
            }
        }
    } else {
        stl_be_p(prefix, len);
        if (e->vnet_hdr) {
            stl_be_p(prefix + 4, vnet_hdr_len);
        }
        off = e->used;
        colo_stream_ring_put(e, off, prefix, plen);
        off += plen;
        for (i = 0; i < iovcnt; i++) {
            colo_stream_ring_put(e, off, iov[i].iov_base, iov[i].iov_len);
            off += iov[i].iov_len;
        }
    }
    e->used += rec;
    if (e->frames++ == 0) {
        e->head_left = rec;
        e->head_done = 0;
    }
    return COLO_STREAM_PUSH_OK;
}

ColoStreamPush colo_stream_encoder_push_buf(ColoStreamEncoder *e,
                                            const uint8_t *buf, size_t len,
                                            uint32_t vnet_hdr_len)
{
    struct iovec iov = {
        .iov_base = (void *)buf,
        .iov_len = len,
    };

    return colo_stream_encoder_push(e, &iov, 1, vnet_hdr_len);
}

size_t colo_stream_encoder_peek(const ColoStreamEncoder *e,
                                const uint8_t **data)
{
    if (e->used == 0) {
        *data = NULL;
        return 0;
    }
    *data = e->ring + e->start;
    return MIN(e->used, e->cap - e->start);
}

void colo_stream_encoder_consume(ColoStreamEncoder *e, size_t n)
{
    size_t pos = e->start;

    assert(n <= e->used);
    if (n == e->used) {
        /* the usual case: the write took everything */
        colo_stream_encoder_clear(e);
        return;
    }
    /* Some bytes stay queued, so a record starts after each one written. */
    e->used -= n;
    e->start = colo_stream_ring_add(e, e->start, n);
    while (n >= e->head_left) {
        n -= e->head_left;
        pos = colo_stream_ring_add(e, pos, e->head_left);
        e->frames--;
        e->head_done = 0;
        e->head_left = colo_stream_record_size(
            e, colo_stream_ring_len_at(e, pos));
    }
    e->head_left -= n;
    e->head_done += n;
}

size_t colo_stream_encoder_clear(ColoStreamEncoder *e)
{
    size_t frames = e->frames;

    e->start = 0;
    e->used = 0;
    e->frames = 0;
    e->head_left = 0;
    e->head_done = 0;
    return frames;
}
