/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * COLO-proxy chardev wire framing: an incremental decoder and a bounded,
 * batching encoder.  Pure logic: no QOM, no chardev, no main loop.
 *
 * Wire format (identical to every QEMU that has filter-mirror,
 * filter-redirector and colo-compare), one record per frame:
 *
 *   +------------+---------------------+------------------------------+
 *   | L (be32)   | V (be32), only when | L bytes of frame; the first  |
 *   |            | vnet headers are on | V of them are the virtio-net |
 *   |            |                     | header                       |
 *   +------------+---------------------+------------------------------+
 *
 * L counts every byte of the frame that follows the prefix, the vnet
 * header included.  Both ends must agree on whether V is present
 * (vnet_hdr_support); it is not negotiated.  L == 0, L > max_frame and
 * V > L are malformed.  A length-prefixed stream cannot be
 * resynchronised after a bad prefix, so the decoder then discards all
 * input until it is reset (the caller disconnects the peer, and resets
 * the decoder when the connection closes or reopens).
 */

#ifndef NET_COLO_STREAM_H
#define NET_COLO_STREAM_H

/*
 * Largest frame accepted by default: NET_BUFSIZE, the largest frame any
 * QEMU net client sends (64 KiB of payload plus 4 KiB of room for the
 * vnet header and link-layer headers).
 */
#define COLO_STREAM_MAX_FRAME_DEFAULT (4096 + 65536)

/* Largest prefix: L and V. */
#define COLO_STREAM_PREFIX_MAX 8

/* Why the decoder refused its input. */
typedef enum ColoStreamError {
    COLO_STREAM_OK = 0,
    COLO_STREAM_ERR_ZERO_LEN,       /* L == 0 */
    COLO_STREAM_ERR_TOO_LONG,       /* L > max_frame */
    COLO_STREAM_ERR_VNET_HDR_LEN,   /* V > L */
    COLO_STREAM_ERR_DISCARDING,     /* an earlier error; not reset yet */
    COLO_STREAM_ERR__MAX,
} ColoStreamError;

/* A stable, short name for @err ("zero-length", ...), for traces. */
const char *colo_stream_error_name(ColoStreamError err);

/*
 * One decoded frame.  @data is only valid during the callback: it points
 * either into the chunk being fed or into the decoder's buffer.
 */
typedef struct ColoStreamFrame {
    const uint8_t *data;    /* @len bytes, vnet header first */
    uint32_t len;           /* L */
    uint32_t vnet_hdr_len;  /* V; 0 when vnet headers are off */
} ColoStreamFrame;

/*
 * Called for every complete frame.  It must not call back into the
 * decoder that is feeding it.
 */
typedef void ColoStreamFrameFn(void *opaque, const ColoStreamFrame *frame);

typedef enum ColoStreamDecoderState {
    COLO_STREAM_DEC_PREFIX,     /* reading L (and V) */
    COLO_STREAM_DEC_BODY,       /* reading the L bytes of a frame */
    COLO_STREAM_DEC_DISCARD,    /* after an error: ignore until reset */
} ColoStreamDecoderState;

/*
 * Incremental decoder.  Fields are private; use the functions below.
 * Frames that arrive whole inside one chunk are passed to the callback
 * in place; only frames split across chunks are copied, into a buffer
 * that grows (never beyond max_frame) and is reused.
 */
typedef struct ColoStreamDecoder {
    bool vnet_hdr;
    uint32_t max_frame;
    ColoStreamDecoderState state;
    uint8_t prefix[COLO_STREAM_PREFIX_MAX];
    uint32_t prefix_have;
    uint32_t frame_len;
    uint32_t vnet_hdr_len;
    uint8_t *buf;
    uint32_t buf_size;
    uint32_t buf_have;
} ColoStreamDecoder;

/*
 * Initialise @d.  @vnet_hdr: the prefix carries V.  @max_frame: largest
 * acceptable L (0 means COLO_STREAM_MAX_FRAME_DEFAULT).
 */
void colo_stream_decoder_init(ColoStreamDecoder *d, bool vnet_hdr,
                              uint32_t max_frame);

/* Free the buffer of @d.  @d may be initialised again afterwards. */
void colo_stream_decoder_destroy(ColoStreamDecoder *d);

/*
 * Feed @len bytes.  Calls @cb for every frame completed by them, in
 * order.  Returns COLO_STREAM_OK when all bytes were consumed.  On a
 * malformed prefix it returns the reason, drops the frame, ignores the
 * rest of @buf and enters the discarding state: every later call returns
 * COLO_STREAM_ERR_DISCARDING without looking at its input until
 * colo_stream_decoder_reset().  Only the call that detects the error
 * returns its reason, so the caller can count each error once.
 */
ColoStreamError colo_stream_decoder_feed(ColoStreamDecoder *d,
                                         const uint8_t *buf, size_t len,
                                         ColoStreamFrameFn *cb,
                                         void *opaque);

/* Frames colo_stream_decoder_feed_burst() hands over at once, at most. */
#define COLO_STREAM_BURST 16

/*
 * Called with @n (1..COLO_STREAM_BURST) complete frames, in order.  The
 * same rules as for ColoStreamFrameFn apply to every frame.
 */
typedef void ColoStreamBurstFn(void *opaque, const ColoStreamFrame *frames,
                               size_t n);

/*
 * Same as colo_stream_decoder_feed(), but frames are handed over in
 * bursts, so that the caller can look ahead (e.g. to start loading the
 * state of every frame's flow before processing the first one).  Every
 * frame completed by @buf is handed over before this returns, including
 * those before a malformed prefix.
 */
ColoStreamError colo_stream_decoder_feed_burst(ColoStreamDecoder *d,
                                               const uint8_t *buf,
                                               size_t len,
                                               ColoStreamBurstFn *cb,
                                               void *opaque);

/*
 * Start again at a frame boundary (peer disconnected or reconnected),
 * leaving the discarding state.  Returns true if a partly received
 * frame (or prefix) was discarded, i.e. the stream was cut mid-frame.
 */
bool colo_stream_decoder_reset(ColoStreamDecoder *d);

/* True if some bytes of a frame (or of its prefix) are buffered. */
bool colo_stream_decoder_mid_frame(const ColoStreamDecoder *d);

/* True while discarding after an error. */
bool colo_stream_decoder_discarding(const ColoStreamDecoder *d);

/* Result of colo_stream_encoder_push(). */
typedef enum ColoStreamPush {
    COLO_STREAM_PUSH_OK = 0,    /* the whole record was queued */
    COLO_STREAM_PUSH_FULL,      /* refused: the backlog bound is reached */
    COLO_STREAM_PUSH_INVALID,   /* refused: empty, > 4 GiB, or V > L */
} ColoStreamPush;

/*
 * Bounded output queue of whole records (a ring buffer that grows on
 * demand up to @limit bytes).  The caller appends records with
 * colo_stream_encoder_push(), writes the bytes returned by
 * colo_stream_encoder_peek() with as few writes as possible (at most two
 * per flush: the ring may wrap) and reports what the write took with
 * colo_stream_encoder_consume().  A record is either queued whole or
 * refused, so a partial write only ever leaves the rest of a record
 * queued and the wire never carries half a frame.  Fields are private.
 */
typedef struct ColoStreamEncoder {
    bool vnet_hdr;
    size_t limit;
    uint8_t *ring;
    size_t cap;
    size_t start;       /* first unwritten byte */
    size_t used;        /* queued bytes */
    size_t frames;      /* records not completely written */
    size_t head_left;   /* unwritten bytes of the first record */
    size_t head_done;   /* written bytes of the first record */
} ColoStreamEncoder;

/*
 * Initialise @e.  @vnet_hdr: records carry V.  @limit: the most bytes
 * (prefixes included) that may be queued at once; 0 means no frame can
 * be queued.
 */
void colo_stream_encoder_init(ColoStreamEncoder *e, bool vnet_hdr,
                              size_t limit);

/* Free the ring of @e. */
void colo_stream_encoder_destroy(ColoStreamEncoder *e);

/* Change the bound.  Already queued bytes stay queued. */
void colo_stream_encoder_set_limit(ColoStreamEncoder *e, size_t limit);

/* Bytes a record of a @frame_len byte frame takes on the wire. */
size_t colo_stream_record_size(const ColoStreamEncoder *e,
                               size_t frame_len);

/*
 * Queue one frame, gathered from @iov/@iovcnt (the vnet header, if any,
 * first).  @vnet_hdr_len is written as V when vnet headers are on and is
 * ignored otherwise.
 */
ColoStreamPush colo_stream_encoder_push(ColoStreamEncoder *e,
                                        const struct iovec *iov,
                                        int iovcnt, uint32_t vnet_hdr_len);

/* Same as colo_stream_encoder_push() for a flat buffer. */
ColoStreamPush colo_stream_encoder_push_buf(ColoStreamEncoder *e,
                                            const uint8_t *buf, size_t len,
                                            uint32_t vnet_hdr_len);

/*
 * The longest contiguous run of queued bytes, from the oldest.  Returns
 * its length (0 when nothing is queued) and sets *@data.
 */
size_t colo_stream_encoder_peek(const ColoStreamEncoder *e,
                                const uint8_t **data);

/* @n bytes from the front were written (@n <= queued bytes). */
void colo_stream_encoder_consume(ColoStreamEncoder *e, size_t n);

/*
 * Drop everything queued (the peer went away: a new connection starts
 * at a record boundary).  Returns the number of records dropped,
 * counting a partly written one.
 */
size_t colo_stream_encoder_clear(ColoStreamEncoder *e);

/* Bytes queued. */
size_t colo_stream_encoder_queued(const ColoStreamEncoder *e);

/* Records queued, counting a partly written one. */
size_t colo_stream_encoder_frames(const ColoStreamEncoder *e);

/* True if the first queued record was partly written. */
bool colo_stream_encoder_mid_frame(const ColoStreamEncoder *e);

#endif /* NET_COLO_STREAM_H */
