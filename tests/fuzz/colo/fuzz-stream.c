/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the COLO-proxy chardev wire framing
 * (net/colo-stream.c).
 *
 * Input: a control byte, a chunk script, then the byte stream.
 *   byte 0    bit 0: vnet headers on; bits 1-2: max_frame (default,
 *             64, 1514, 4096); bits 3-7: encoder backlog slack
 *   byte 1    script length N (1 + byte % 16)
 *   N bytes   chunk sizes, used in turn: 0 means "the peer reconnected"
 *             (colo_stream_decoder_reset()), any other value v feeds the
 *             next v bytes (v * 17 bytes when v > 200, so that frames
 *             arrive both whole and split)
 *   the rest  the stream
 *
 * The decoder's frames and errors are checked against a reference
 * parser that sees each connection's bytes in one piece.  Every frame
 * must match it byte for byte and obey the bounds; after an error the
 * decoder must discard until reset.  The frames are then sent through
 * the encoder (with a small bound and partial writes whose sizes come
 * from the input) and decoded again: the same frames must come out.
 *
 * Build and run: make fuzz FUZZ_TARGET=stream FUZZ_RUNS=N (clang
 * libFuzzer); make check replays corpus/stream/ under ASan/UBSan.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "net/colo-stream.h"
#include "colo-fuzz.h"

#define CHECK(cond) do { if (!(cond)) { abort(); } } while (0)

#define MAX_REF 4096

/* volatile: keeps the reads done only for ASan from being optimised out */
static volatile uint8_t sink;

typedef struct RefFrame {
    size_t off;             /* in the input */
    uint32_t len;
    uint32_t vlen;
} RefFrame;

typedef struct Ctx {
    bool vnet;
    uint32_t max_frame;
    const uint8_t *input;
    RefFrame ref[MAX_REF];
    size_t nref;
    size_t next;            /* next expected frame (first decoder) */
    size_t next2;           /* next expected frame (after the encoder) */
    ColoStreamEncoder enc;
    ColoStreamDecoder dec2;
    const uint8_t *script;
    size_t nscript;
    size_t pos;             /* chunking */
    size_t wpos;            /* encoder write sizes */
} Ctx;

/*
 * Reference: parse one connection's bytes in one piece.  Records the
 * frames; stops at the first bad prefix or at the end.
 */
static void ref_parse(Ctx *c, size_t start, size_t end)
{
    size_t plen = c->vnet ? 8 : 4;
    size_t p = start;

    while (end - p >= plen) {
        uint32_t len = ldl_be_p(c->input + p);
        uint32_t vlen = c->vnet ? ldl_be_p(c->input + p + 4) : 0;

        if (len == 0 || len > c->max_frame || vlen > len) {
            return;
        }
        if (end - p - plen < len) {
            return;
        }
        CHECK(c->nref < MAX_REF);
        c->ref[c->nref].off = p + plen;
        c->ref[c->nref].len = len;
        c->ref[c->nref].vlen = vlen;
        c->nref++;
        p += plen + len;
    }
}

static void check_frame(Ctx *c, const ColoStreamFrame *f, size_t idx)
{
    const RefFrame *r;
    uint32_t i;

    CHECK(idx < c->nref);
    r = &c->ref[idx];
    CHECK(f->len > 0 && f->len <= c->max_frame);
    CHECK(f->vnet_hdr_len <= f->len);
    CHECK(c->vnet || f->vnet_hdr_len == 0);
    CHECK(f->len == r->len && f->vnet_hdr_len == r->vlen);
    CHECK(memcmp(f->data, c->input + r->off, f->len) == 0);
    for (i = 0; i < f->len; i++) {
        sink = f->data[i];
    }
}

static void on_frame2(void *opaque, const ColoStreamFrame *f)
{
    Ctx *c = opaque;

    check_frame(c, f, c->next2++);
}

static size_t script_next(Ctx *c)
{
    return c->script[c->pos++ % c->nscript];
}

static size_t script_write(Ctx *c)
{
    return c->script[c->wpos++ % c->nscript];
}

/* Write part of the encoder's queue to the second decoder. */
static void enc_write(Ctx *c, size_t max)
{
    const uint8_t *p;
    size_t n = colo_stream_encoder_peek(&c->enc, &p);

    n = MIN(n, max);
    if (n) {
        CHECK(colo_stream_decoder_feed(&c->dec2, p, n, on_frame2, c) ==
              COLO_STREAM_OK);
        colo_stream_encoder_consume(&c->enc, n);
    }
}

static void on_frame(void *opaque, const ColoStreamFrame *f)
{
    Ctx *c = opaque;
    ColoStreamPush res;
    size_t before;

    check_frame(c, f, c->next++);

    /* Re-encode it; when the queue is full, write a bit and retry. */
    while ((res = colo_stream_encoder_push_buf(&c->enc, f->data, f->len,
                                               f->vnet_hdr_len)) ==
           COLO_STREAM_PUSH_FULL) {
        before = colo_stream_encoder_queued(&c->enc);
        CHECK(before > 0);
        enc_write(c, 1 + script_write(c) * 37);
        CHECK(colo_stream_encoder_queued(&c->enc) < before);
    }
    CHECK(res == COLO_STREAM_PUSH_OK);
    CHECK(colo_stream_encoder_queued(&c->enc) <= c->enc.limit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t max_frames[] = {
        COLO_STREAM_MAX_FRAME_DEFAULT, 64, 1514, 4096,
    };
    static Ctx ctx;
    Ctx *c = &ctx;
    ColoStreamDecoder dec;
    size_t off, conn_start;
    bool failed = false;

    size_t i;

    /* Bounded: at most MAX_REF frames of at least 5 bytes. */
    size = MIN(size, 16384);
    if (size < 2) {
        return 0;
    }
    memset(c, 0, sizeof(*c));
    c->vnet = data[0] & 1;
    c->max_frame = max_frames[(data[0] >> 1) & 3];
    c->nscript = 1 + data[1] % 16;
    if (size < 2 + c->nscript) {
        return 0;
    }
    c->script = data + 2;
    c->input = data;
    /* A script of resets only would never consume the stream. */
    for (i = 0; i < c->nscript && !c->script[i]; i++) {
        continue;
    }
    if (i == c->nscript) {
        return 0;
    }
    off = 2 + c->nscript;

    /* Reference frames, connection by connection. */
    conn_start = off;
    {
        size_t p = off;

        for (i = 0; p < size; i++) {
            size_t v = c->script[i % c->nscript];

            if (v == 0) {
                ref_parse(c, conn_start, p);
                conn_start = p;
                continue;
            }
            p += MIN(v > 200 ? v * 17 : v, size - p);
        }
        ref_parse(c, conn_start, size);
    }

    colo_stream_decoder_init(&dec, c->vnet, c->max_frame);
    colo_stream_decoder_init(&c->dec2, c->vnet, c->max_frame);
    colo_stream_encoder_init(&c->enc, c->vnet,
                             c->max_frame + COLO_STREAM_PREFIX_MAX +
                             (data[0] >> 3) * 97);

    c->pos = 0;
    while (off < size) {
        size_t v = script_next(c);
        ColoStreamError err;
        size_t n;

        if (v == 0) {
            bool cut = colo_stream_decoder_reset(&dec);

            CHECK(!failed || !cut);
            failed = false;
            CHECK(!colo_stream_decoder_mid_frame(&dec));
            continue;
        }
        n = MIN(v > 200 ? v * 17 : v, size - off);
        err = colo_stream_decoder_feed(&dec, data + off, n, on_frame, c);
        if (failed) {
            CHECK(err == COLO_STREAM_ERR_DISCARDING);
        } else if (err != COLO_STREAM_OK) {
            CHECK(err != COLO_STREAM_ERR_DISCARDING);
            CHECK(strcmp(colo_stream_error_name(err), "unknown") != 0);
            failed = true;
        }
        CHECK(colo_stream_decoder_discarding(&dec) == failed);
        if (failed) {
            CHECK(!colo_stream_decoder_mid_frame(&dec));
        }
        off += n;
    }
    /* Every reference frame came out, in order, and nothing else. */
    CHECK(c->next == c->nref);

    /* Drain the encoder: the same frames again. */
    while (colo_stream_encoder_queued(&c->enc)) {
        enc_write(c, 1 + script_write(c) * 53);
    }
    CHECK(colo_stream_encoder_frames(&c->enc) == 0);
    CHECK(!colo_stream_decoder_mid_frame(&c->dec2));
    CHECK(c->next2 == c->nref);

    colo_stream_encoder_destroy(&c->enc);
    colo_stream_decoder_destroy(&c->dec2);
    colo_stream_decoder_destroy(&dec);
    return 0;
}
