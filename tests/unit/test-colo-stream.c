/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the COLO-proxy chardev wire framing (net/colo-stream.c).
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "net/colo-stream.h"

/* Frames collected by the decoder callback. */
typedef struct Sink {
    GPtrArray *frames;      /* GByteArray per frame */
    GArray *vnet_lens;      /* uint32_t per frame */
} Sink;

static void sink_init(Sink *s)
{
    s->frames = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_byte_array_unref);
    s->vnet_lens = g_array_new(false, false, sizeof(uint32_t));
}

static void sink_free(Sink *s)
{
    g_ptr_array_unref(s->frames);
    g_array_unref(s->vnet_lens);
}

static void sink_cb(void *opaque, const ColoStreamFrame *f)
{
    Sink *s = opaque;
    GByteArray *b = g_byte_array_sized_new(f->len);

    g_assert_cmpuint(f->len, >, 0);
    g_assert_cmpuint(f->vnet_hdr_len, <=, f->len);
    g_byte_array_append(b, f->data, f->len);
    g_ptr_array_add(s->frames, b);
    g_array_append_val(s->vnet_lens, f->vnet_hdr_len);
}

static GByteArray *sink_frame(Sink *s, guint i)
{
    return g_ptr_array_index(s->frames, i);
}

/* Deterministic test data. */
static void fill(uint8_t *p, size_t len, unsigned seed)
{
    size_t i;

    for (i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
    }
}

/* Append one record to @wire by hand (independently of the encoder). */
static void wire_add(GByteArray *wire, bool vnet, uint32_t len,
                     uint32_t vlen, const uint8_t *data, size_t data_len)
{
    uint8_t p[8];

    stl_be_p(p, len);
    stl_be_p(p + 4, vlen);
    g_byte_array_append(wire, p, vnet ? 8 : 4);
    if (data_len) {
        g_byte_array_append(wire, data, data_len);
    }
}

static void check_frame(Sink *s, guint i, size_t len, unsigned seed,
                        uint32_t vlen)
{
    g_autofree uint8_t *want = g_malloc(len);
    GByteArray *got = sink_frame(s, i);

    fill(want, len, seed);
    g_assert_cmpuint(got->len, ==, len);
    g_assert(memcmp(got->data, want, len) == 0);
    g_assert_cmpuint(g_array_index(s->vnet_lens, uint32_t, i), ==, vlen);
}

/* Build a wire image of @n frames of varied sizes. */
static GByteArray *make_wire(bool vnet, int n, size_t *sizes)
{
    GByteArray *wire = g_byte_array_new();
    int i;

    for (i = 0; i < n; i++) {
        size_t len = sizes[i];
        g_autofree uint8_t *d = g_malloc(len);

        fill(d, len, i);
        wire_add(wire, vnet, len, vnet ? MIN(len, 12) : 0, d, len);
    }
    return wire;
}

static size_t test_sizes[] = {
    60, 1, 1514, 4096, 4097, 9000, 65536, 42, COLO_STREAM_MAX_FRAME_DEFAULT,
    12, 13, 3000,
};

static void check_all(Sink *s, bool vnet)
{
    int i;

    g_assert_cmpuint(s->frames->len, ==, G_N_ELEMENTS(test_sizes));
    for (i = 0; i < G_N_ELEMENTS(test_sizes); i++) {
        check_frame(s, i, test_sizes[i], i,
                    vnet ? MIN(test_sizes[i], 12) : 0);
    }
}

static void do_chunked(bool vnet, size_t chunk)
{
    g_autoptr(GByteArray) wire = make_wire(vnet, G_N_ELEMENTS(test_sizes),
                                           test_sizes);
    ColoStreamDecoder d;
    Sink s;
    size_t off;

    sink_init(&s);
    colo_stream_decoder_init(&d, vnet, 0);
    for (off = 0; off < wire->len; off += chunk) {
        size_t n = MIN(chunk, wire->len - off);

        g_assert_cmpint(colo_stream_decoder_feed(&d, wire->data + off, n,
                                                 sink_cb, &s), ==,
                        COLO_STREAM_OK);
    }
    g_assert_false(colo_stream_decoder_mid_frame(&d));
    g_assert_false(colo_stream_decoder_reset(&d));
    check_all(&s, vnet);
    /* A split frame never makes the buffer larger than the limit. */
    g_assert_cmpuint(d.buf_size, <=, COLO_STREAM_MAX_FRAME_DEFAULT);
    colo_stream_decoder_destroy(&d);
    sink_free(&s);
}

static void test_decode_whole(void)
{
    do_chunked(false, SIZE_MAX / 2);
    do_chunked(true, SIZE_MAX / 2);
}

static void test_decode_byte_at_a_time(void)
{
    do_chunked(false, 1);
    do_chunked(true, 1);
}

static void test_decode_odd_chunks(void)
{
    static const size_t chunks[] = { 2, 3, 5, 7, 4095, 4096, 4097, 65537 };
    int i;

    for (i = 0; i < G_N_ELEMENTS(chunks); i++) {
        do_chunked(false, chunks[i]);
        do_chunked(true, chunks[i]);
    }
}

static void test_decode_many_in_one_chunk(void)
{
    size_t sizes[200];
    g_autoptr(GByteArray) wire = NULL;
    ColoStreamDecoder d;
    Sink s;
    int i;

    for (i = 0; i < 200; i++) {
        sizes[i] = 1 + i * 3;
    }
    wire = make_wire(false, 200, sizes);
    sink_init(&s);
    colo_stream_decoder_init(&d, false, 0);
    g_assert_cmpint(colo_stream_decoder_feed(&d, wire->data, wire->len,
                                             sink_cb, &s), ==,
                    COLO_STREAM_OK);
    g_assert_cmpuint(s.frames->len, ==, 200);
    for (i = 0; i < 200; i++) {
        check_frame(&s, i, sizes[i], i, 0);
    }
    /* Every frame was whole in the chunk: nothing was copied. */
    g_assert_null(d.buf);
    colo_stream_decoder_destroy(&d);
    sink_free(&s);
}

/* The exact bytes of the wire format, written out by hand. */
static void test_decode_wire_bytes(void)
{
    static const uint8_t plain[] = {
        0x00, 0x00, 0x00, 0x03, 'a', 'b', 'c',
        0x00, 0x00, 0x01, 0x00,
    };
    static const uint8_t vnet[] = {
        0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x02,
        0xaa, 0xbb, 'x', 'y', 'z',
    };
    ColoStreamDecoder d;
    Sink s;

    sink_init(&s);
    colo_stream_decoder_init(&d, false, 0);
    g_assert_cmpint(colo_stream_decoder_feed(&d, plain, sizeof(plain),
                                             sink_cb, &s), ==,
                    COLO_STREAM_OK);
    g_assert_cmpuint(s.frames->len, ==, 1);
    g_assert_cmpuint(sink_frame(&s, 0)->len, ==, 3);
    g_assert(!memcmp(sink_frame(&s, 0)->data, "abc", 3));
    /* The next record announced 256 bytes: it is pending. */
    g_assert_true(colo_stream_decoder_mid_frame(&d));
    g_assert_true(colo_stream_decoder_reset(&d));
    colo_stream_decoder_destroy(&d);

    colo_stream_decoder_init(&d, true, 0);
    g_assert_cmpint(colo_stream_decoder_feed(&d, vnet, sizeof(vnet),
                                             sink_cb, &s), ==,
                    COLO_STREAM_OK);
    g_assert_cmpuint(s.frames->len, ==, 2);
    g_assert_cmpuint(sink_frame(&s, 1)->len, ==, 5);
    g_assert(!memcmp(sink_frame(&s, 1)->data, "\xaa\xbbxyz", 5));
    g_assert_cmpuint(g_array_index(s.vnet_lens, uint32_t, 1), ==, 2);
    g_assert_false(colo_stream_decoder_mid_frame(&d));
    colo_stream_decoder_destroy(&d);
    sink_free(&s);
}

/*
 * Feed good frame, bad record, trailing good frame; the bad record is
 * reported once, the rest is discarded until reset, then decoding works.
 */
static void do_error(bool vnet, uint32_t len, uint32_t vlen,
                     uint32_t max, ColoStreamError want, size_t chunk)
{
    g_autoptr(GByteArray) wire = g_byte_array_new();
    uint8_t good[100];
    ColoStreamDecoder d;
    ColoStreamError err, first = COLO_STREAM_OK;
    int errors = 0;
    size_t off;
    Sink s;

    fill(good, sizeof(good), 1);
    wire_add(wire, vnet, 100, 0, good, 100);
    wire_add(wire, vnet, len, vlen, NULL, 0);
    wire_add(wire, vnet, 100, 0, good, 100);

    sink_init(&s);
    colo_stream_decoder_init(&d, vnet, max);
    for (off = 0; off < wire->len; off += chunk) {
        err = colo_stream_decoder_feed(&d, wire->data + off,
                                       MIN(chunk, wire->len - off),
                                       sink_cb, &s);
        if (err != COLO_STREAM_OK && err != COLO_STREAM_ERR_DISCARDING) {
            g_assert_cmpint(first, ==, COLO_STREAM_OK);
            first = err;
            errors++;
        }
        if (first != COLO_STREAM_OK) {
            g_assert_true(colo_stream_decoder_discarding(&d));
        }
    }
    g_assert_cmpint(errors, ==, 1);
    g_assert_cmpint(first, ==, want);
    g_assert_cmpstr(colo_stream_error_name(first), !=, "unknown");
    /* Only the frame before the bad record was delivered. */
    g_assert_cmpuint(s.frames->len, ==, 1);
    g_assert_cmpint(colo_stream_decoder_feed(&d, good, 4, sink_cb, &s), ==,
                    COLO_STREAM_ERR_DISCARDING);

    /* The error dropped the partial frame already: not "cut". */
    g_assert_false(colo_stream_decoder_mid_frame(&d));
    g_assert_false(colo_stream_decoder_reset(&d));
    g_assert_false(colo_stream_decoder_discarding(&d));

    /* A new connection decodes normally. */
    off = vnet ? 8 : 4;
    g_assert_cmpint(colo_stream_decoder_feed(&d, wire->data, off + 100,
                                             sink_cb, &s), ==,
                    COLO_STREAM_OK);
    g_assert_cmpuint(s.frames->len, ==, 2);
    check_frame(&s, 1, 100, 1, 0);
    colo_stream_decoder_destroy(&d);
    sink_free(&s);
}

static void test_decode_errors(void)
{
    static const size_t chunks[] = { 1, 3, 1000 };
    int i;

    for (i = 0; i < G_N_ELEMENTS(chunks); i++) {
        size_t c = chunks[i];

        do_error(false, 0, 0, 0, COLO_STREAM_ERR_ZERO_LEN, c);
        do_error(true, 0, 0, 0, COLO_STREAM_ERR_ZERO_LEN, c);
        do_error(false, COLO_STREAM_MAX_FRAME_DEFAULT + 1, 0, 0,
                 COLO_STREAM_ERR_TOO_LONG, c);
        do_error(true, UINT32_MAX, 0, 0, COLO_STREAM_ERR_TOO_LONG, c);
        do_error(false, 1001, 0, 1000, COLO_STREAM_ERR_TOO_LONG, c);
        do_error(true, 10, 11, 0, COLO_STREAM_ERR_VNET_HDR_LEN, c);
        do_error(true, 10, UINT32_MAX, 0, COLO_STREAM_ERR_VNET_HDR_LEN, c);
    }
}

/* colo_stream_decoder_feed_burst(): bursts recorded as they come. */
typedef struct BurstSink {
    Sink s;
    guint bursts;
    guint full_bursts;      /* of COLO_STREAM_BURST frames */
} BurstSink;

static void burst_cb(void *opaque, const ColoStreamFrame *f, size_t n)
{
    BurstSink *b = opaque;
    size_t i;

    g_assert_cmpuint(n, >=, 1);
    g_assert_cmpuint(n, <=, COLO_STREAM_BURST);
    b->bursts++;
    b->full_bursts += n == COLO_STREAM_BURST;
    for (i = 0; i < n; i++) {
        sink_cb(&b->s, &f[i]);
    }
}

/*
 * Bursts carry the same frames as single callbacks, whatever the
 * chunking: in particular a frame reassembled in the decoder's buffer is
 * handed over before the next split frame reuses that buffer.
 */
static void test_decode_burst(void)
{
    static const size_t chunks[] = { 1, 7, 100, 333, 1000, 4096, SIZE_MAX };
    enum { N = 300 };
    size_t sizes[N];
    int i, c;

    for (i = 0; i < N; i++) {
        sizes[i] = 1 + (i * 37) % 250;
    }
    sizes[N / 2] = 5000;    /* the buffer grows while frames are in use */
    for (c = 0; c < G_N_ELEMENTS(chunks); c++) {
        g_autoptr(GByteArray) wire = make_wire(true, N, sizes);
        ColoStreamDecoder d;
        BurstSink b = { 0 };
        size_t off;

        sink_init(&b.s);
        colo_stream_decoder_init(&d, true, 0);
        for (off = 0; off < wire->len; off += MIN(chunks[c], wire->len - off)) {
            g_assert_cmpint(colo_stream_decoder_feed_burst(
                                &d, wire->data + off,
                                MIN(chunks[c], wire->len - off),
                                burst_cb, &b), ==, COLO_STREAM_OK);
        }
        g_assert_cmpuint(b.s.frames->len, ==, N);
        for (i = 0; i < N; i++) {
            check_frame(&b.s, i, sizes[i], i, MIN(sizes[i], 12));
        }
        if (chunks[c] >= 4096) {
            g_assert_cmpuint(b.full_bursts, >, 0);
        }
        g_assert(!colo_stream_decoder_mid_frame(&d));
        colo_stream_decoder_destroy(&d);
        sink_free(&b.s);
    }
}

/* The frames before a malformed prefix are handed over, then the error. */
static void test_decode_burst_error(void)
{
    size_t sizes[40];
    g_autoptr(GByteArray) wire = NULL;
    ColoStreamDecoder d;
    BurstSink b = { 0 };
    int i;

    for (i = 0; i < G_N_ELEMENTS(sizes); i++) {
        sizes[i] = 60 + i;
    }
    wire = make_wire(false, G_N_ELEMENTS(sizes), sizes);
    wire_add(wire, false, 0, 0, NULL, 0);
    sink_init(&b.s);
    colo_stream_decoder_init(&d, false, 0);
    g_assert_cmpint(colo_stream_decoder_feed_burst(&d, wire->data, wire->len,
                                                   burst_cb, &b), ==,
                    COLO_STREAM_ERR_ZERO_LEN);
    g_assert_cmpuint(b.s.frames->len, ==, G_N_ELEMENTS(sizes));
    for (i = 0; i < G_N_ELEMENTS(sizes); i++) {
        check_frame(&b.s, i, sizes[i], i, 0);
    }
    g_assert_cmpint(colo_stream_decoder_feed_burst(&d, wire->data, wire->len,
                                                   burst_cb, &b), ==,
                    COLO_STREAM_ERR_DISCARDING);
    g_assert_cmpuint(b.s.frames->len, ==, G_N_ELEMENTS(sizes));
    colo_stream_decoder_destroy(&d);
    sink_free(&b.s);
}

/* Limits are inclusive: L == max_frame and V == L are valid. */
static void test_decode_limits(void)
{
    g_autoptr(GByteArray) wire = g_byte_array_new();
    uint8_t data[1000];
    ColoStreamDecoder d;
    Sink s;

    fill(data, sizeof(data), 3);
    wire_add(wire, true, 1000, 1000, data, 1000);
    sink_init(&s);
    colo_stream_decoder_init(&d, true, 1000);
    g_assert_cmpint(colo_stream_decoder_feed(&d, wire->data, wire->len,
                                             sink_cb, &s), ==,
                    COLO_STREAM_OK);
    g_assert_cmpuint(s.frames->len, ==, 1);
    check_frame(&s, 0, 1000, 3, 1000);
    colo_stream_decoder_destroy(&d);
    sink_free(&s);
}

static void test_decode_reset_mid_frame(void)
{
    g_autoptr(GByteArray) wire = g_byte_array_new();
    uint8_t data[300];
    ColoStreamDecoder d;
    Sink s;
    size_t cut;

    fill(data, sizeof(data), 9);
    wire_add(wire, true, 300, 10, data, 300);
    sink_init(&s);
    colo_stream_decoder_init(&d, true, 0);

    /* Cut at every position: inside the prefix, inside the body. */
    for (cut = 1; cut < wire->len; cut++) {
        g_assert_cmpint(colo_stream_decoder_feed(&d, wire->data, cut,
                                                 sink_cb, &s), ==,
                        COLO_STREAM_OK);
        g_assert_true(colo_stream_decoder_mid_frame(&d));
        g_assert_true(colo_stream_decoder_reset(&d));
        g_assert_false(colo_stream_decoder_mid_frame(&d));
        g_assert_cmpuint(s.frames->len, ==, 0);
    }
    /* Not cut: reset reports nothing. */
    g_assert_false(colo_stream_decoder_reset(&d));
    g_assert_cmpint(colo_stream_decoder_feed(&d, wire->data, wire->len,
                                             sink_cb, &s), ==,
                    COLO_STREAM_OK);
    g_assert_cmpuint(s.frames->len, ==, 1);
    check_frame(&s, 0, 300, 9, 10);
    colo_stream_decoder_destroy(&d);
    sink_free(&s);
}

/* Encoder */

/* Decode everything the encoder has queued, writing @step at a time. */
static void drain(ColoStreamEncoder *e, ColoStreamDecoder *d, Sink *s,
                  size_t step)
{
    const uint8_t *p;
    size_t n;

    while ((n = colo_stream_encoder_peek(e, &p)) > 0) {
        n = MIN(n, step);
        g_assert_cmpint(colo_stream_decoder_feed(d, p, n, sink_cb, s), ==,
                        COLO_STREAM_OK);
        colo_stream_encoder_consume(e, n);
    }
    g_assert_cmpuint(colo_stream_encoder_frames(e), ==, 0);
    g_assert_cmpuint(colo_stream_encoder_queued(e), ==, 0);
}

static void test_encode_wire_bytes(void)
{
    static const uint8_t want_plain[] = {
        0x00, 0x00, 0x00, 0x03, 'a', 'b', 'c',
        0x00, 0x00, 0x00, 0x02, 'd', 'e',
    };
    static const uint8_t want_vnet[] = {
        0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x02,
        0xaa, 0xbb, 'x', 'y', 'z',
    };
    struct iovec iov[3] = {
        { .iov_base = (void *)"\xaa\xbb", .iov_len = 2 },
        { .iov_base = NULL, .iov_len = 0 },
        { .iov_base = (void *)"xyz", .iov_len = 3 },
    };
    ColoStreamEncoder e;
    const uint8_t *p;

    colo_stream_encoder_init(&e, false, 1024);
    g_assert_cmpint(colo_stream_encoder_push_buf(&e, (uint8_t *)"abc", 3, 7),
                    ==, COLO_STREAM_PUSH_OK);
    g_assert_cmpint(colo_stream_encoder_push_buf(&e, (uint8_t *)"de", 2, 0),
                    ==, COLO_STREAM_PUSH_OK);
    /* Both records in one contiguous batch. */
    g_assert_cmpuint(colo_stream_encoder_peek(&e, &p), ==,
                     sizeof(want_plain));
    g_assert(!memcmp(p, want_plain, sizeof(want_plain)));
    g_assert_cmpuint(colo_stream_encoder_frames(&e), ==, 2);
    colo_stream_encoder_destroy(&e);

    colo_stream_encoder_init(&e, true, 1024);
    g_assert_cmpuint(colo_stream_record_size(&e, 5), ==, 13);
    g_assert_cmpint(colo_stream_encoder_push(&e, iov, 3, 2), ==,
                    COLO_STREAM_PUSH_OK);
    g_assert_cmpuint(colo_stream_encoder_peek(&e, &p), ==,
                     sizeof(want_vnet));
    g_assert(!memcmp(p, want_vnet, sizeof(want_vnet)));
    colo_stream_encoder_destroy(&e);
}

static void test_encode_invalid(void)
{
    ColoStreamEncoder e;
    struct iovec iov = { .iov_base = NULL, .iov_len = 0 };

    colo_stream_encoder_init(&e, true, 1024);
    g_assert_cmpint(colo_stream_encoder_push(&e, &iov, 1, 0), ==,
                    COLO_STREAM_PUSH_INVALID);
    g_assert_cmpint(colo_stream_encoder_push(&e, NULL, 0, 0), ==,
                    COLO_STREAM_PUSH_INVALID);
    g_assert_cmpint(colo_stream_encoder_push_buf(&e, (uint8_t *)"ab", 2, 3),
                    ==, COLO_STREAM_PUSH_INVALID);
    g_assert_cmpuint(colo_stream_encoder_queued(&e), ==, 0);
    g_assert_cmpuint(colo_stream_encoder_frames(&e), ==, 0);
    colo_stream_encoder_destroy(&e);
}

static void test_encode_partial_writes(void)
{
    uint8_t data[500];
    ColoStreamEncoder e;
    const uint8_t *p;
    size_t n;

    fill(data, sizeof(data), 5);
    colo_stream_encoder_init(&e, false, 4096);
    colo_stream_encoder_push_buf(&e, data, 100, 0);
    colo_stream_encoder_push_buf(&e, data, 200, 0);
    colo_stream_encoder_push_buf(&e, data, 300, 0);
    g_assert_cmpuint(colo_stream_encoder_queued(&e), ==, 612);
    g_assert_cmpuint(colo_stream_encoder_frames(&e), ==, 3);
    g_assert_false(colo_stream_encoder_mid_frame(&e));

    /* The write took the first record and 1 byte of the second. */
    colo_stream_encoder_consume(&e, 105);
    g_assert_cmpuint(colo_stream_encoder_queued(&e), ==, 507);
    g_assert_cmpuint(colo_stream_encoder_frames(&e), ==, 2);
    g_assert_true(colo_stream_encoder_mid_frame(&e));
    n = colo_stream_encoder_peek(&e, &p);
    g_assert_cmpuint(n, ==, 507);
    /* What remains starts with the last 3 bytes of the second L. */
    g_assert_cmpuint(p[0], ==, 0);
    g_assert_cmpuint(p[1], ==, 0);
    g_assert_cmpuint(p[2], ==, 200);

    /* Finish the second record exactly. */
    colo_stream_encoder_consume(&e, 203);
    g_assert_cmpuint(colo_stream_encoder_frames(&e), ==, 1);
    g_assert_false(colo_stream_encoder_mid_frame(&e));
    n = colo_stream_encoder_peek(&e, &p);
    g_assert_cmpuint(n, ==, 304);
    g_assert_cmpuint(ldl_be_p(p), ==, 300);

    /* Dropping the backlog on disconnect counts the partial record. */
    colo_stream_encoder_consume(&e, 1);
    g_assert_true(colo_stream_encoder_mid_frame(&e));
    g_assert_cmpuint(colo_stream_encoder_clear(&e), ==, 1);
    g_assert_cmpuint(colo_stream_encoder_queued(&e), ==, 0);
    g_assert_cmpuint(colo_stream_encoder_peek(&e, &p), ==, 0);
    g_assert_false(colo_stream_encoder_mid_frame(&e));
    colo_stream_encoder_destroy(&e);
}

static void test_encode_bound(void)
{
    uint8_t data[96];
    ColoStreamEncoder e;
    int i;

    fill(data, sizeof(data), 2);
    /* Room for exactly 10 records of 100 bytes. */
    colo_stream_encoder_init(&e, true, 1000);
    for (i = 0; i < 10; i++) {
        g_assert_cmpint(colo_stream_encoder_push_buf(&e, data, 92, 0), ==,
                        COLO_STREAM_PUSH_OK);
    }
    g_assert_cmpuint(colo_stream_encoder_queued(&e), ==, 1000);
    g_assert_cmpint(colo_stream_encoder_push_buf(&e, data, 1, 0), ==,
                    COLO_STREAM_PUSH_FULL);
    g_assert_cmpuint(colo_stream_encoder_queued(&e), ==, 1000);
    g_assert_cmpuint(colo_stream_encoder_frames(&e), ==, 10);
    /* Partial write of 50 bytes frees room for a 42 byte frame only. */
    colo_stream_encoder_consume(&e, 50);
    g_assert_cmpint(colo_stream_encoder_push_buf(&e, data, 43, 0), ==,
                    COLO_STREAM_PUSH_FULL);
    g_assert_cmpint(colo_stream_encoder_push_buf(&e, data, 42, 0), ==,
                    COLO_STREAM_PUSH_OK);
    g_assert_cmpuint(colo_stream_encoder_queued(&e), ==, 1000);
    g_assert_cmpuint(colo_stream_encoder_frames(&e), ==, 11);
    /* A frame larger than the bound itself is refused too. */
    colo_stream_encoder_clear(&e);
    g_assert_cmpint(colo_stream_encoder_push_buf(&e, data, 96, 0), ==,
                    COLO_STREAM_PUSH_OK);
    colo_stream_encoder_set_limit(&e, 50);
    g_assert_cmpint(colo_stream_encoder_push_buf(&e, data, 1, 0), ==,
                    COLO_STREAM_PUSH_FULL);
    g_assert_cmpuint(colo_stream_encoder_queued(&e), ==, 104);
    colo_stream_encoder_destroy(&e);

    colo_stream_encoder_init(&e, false, 0);
    g_assert_cmpint(colo_stream_encoder_push_buf(&e, data, 1, 0), ==,
                    COLO_STREAM_PUSH_FULL);
    colo_stream_encoder_destroy(&e);
}

/* The ring wraps: peek returns the two parts in order. */
static void test_encode_wrap(void)
{
    uint8_t data[3000];
    ColoStreamEncoder e;
    ColoStreamDecoder d;
    const uint8_t *p;
    Sink s;
    int i, wrapped = 0;

    fill(data, sizeof(data), 11);
    sink_init(&s);
    colo_stream_decoder_init(&d, false, 0);
    colo_stream_encoder_init(&e, false, 8192);
    for (i = 0; i < 200; i++) {
        size_t len = 1 + (i * 977) % 3000;
        size_t n;

        g_assert_cmpint(colo_stream_encoder_push_buf(&e, data, len, 0), ==,
                        COLO_STREAM_PUSH_OK);
        /* Write all but a 100 byte tail, so the queue moves round. */
        while (colo_stream_encoder_queued(&e) > 100) {
            n = colo_stream_encoder_peek(&e, &p);
            if (n < colo_stream_encoder_queued(&e)) {
                wrapped++;
            }
            n = MIN(n, colo_stream_encoder_queued(&e) - 100);
            g_assert_cmpint(colo_stream_decoder_feed(&d, p, n, sink_cb, &s),
                            ==, COLO_STREAM_OK);
            colo_stream_encoder_consume(&e, n);
        }
        g_assert_cmpuint(e.cap, <=, 8192);
    }
    drain(&e, &d, &s, SIZE_MAX);
    g_assert_cmpint(wrapped, >, 0);
    g_assert_cmpuint(s.frames->len, ==, 200);
    for (i = 0; i < 200; i++) {
        size_t len = 1 + (i * 977) % 3000;

        g_assert_cmpuint(sink_frame(&s, i)->len, ==, len);
        g_assert(!memcmp(sink_frame(&s, i)->data, data, len));
    }
    colo_stream_encoder_destroy(&e);
    colo_stream_decoder_destroy(&d);
    sink_free(&s);
}

/* Random round trip: encoder -> random partial writes -> decoder. */
static void test_round_trip(void)
{
    GRand *r = g_rand_new_with_seed(1234);
    uint8_t *data = g_malloc(COLO_STREAM_MAX_FRAME_DEFAULT);
    int vnet;

    fill(data, COLO_STREAM_MAX_FRAME_DEFAULT, 17);
    for (vnet = 0; vnet < 2; vnet++) {
        ColoStreamEncoder e;
        ColoStreamDecoder d;
        GArray *lens = g_array_new(false, false, sizeof(size_t));
        size_t refused = 0;
        Sink s;
        int i;

        sink_init(&s);
        colo_stream_decoder_init(&d, vnet, 0);
        colo_stream_encoder_init(&e, vnet, 256 * 1024);
        for (i = 0; i < 2000; i++) {
            size_t len = g_rand_int_range(r, 0, 8) == 0 ?
                g_rand_int_range(r, 1, COLO_STREAM_MAX_FRAME_DEFAULT + 1) :
                g_rand_int_range(r, 1, 1600);
            uint32_t vlen = vnet ? MIN(len, 12) : 0;
            struct iovec iov[2] = {
                { .iov_base = data, .iov_len = len / 3 },
                { .iov_base = data + len / 3, .iov_len = len - len / 3 },
            };
            ColoStreamPush res = colo_stream_encoder_push(&e, iov, 2, vlen);

            if (res == COLO_STREAM_PUSH_OK) {
                g_array_append_val(lens, len);
            } else {
                g_assert_cmpint(res, ==, COLO_STREAM_PUSH_FULL);
                refused++;
            }
            g_assert_cmpuint(colo_stream_encoder_queued(&e), <=, 256 * 1024);
            if (g_rand_int_range(r, 0, 3) == 0) {
                const uint8_t *p;
                size_t n = colo_stream_encoder_peek(&e, &p);

                n = MIN(n, g_rand_int_range(r, 0, 20000));
                if (n) {
                    g_assert_cmpint(colo_stream_decoder_feed(&d, p, n,
                                                             sink_cb, &s),
                                    ==, COLO_STREAM_OK);
                    colo_stream_encoder_consume(&e, n);
                }
            }
        }
        drain(&e, &d, &s, 777);
        g_assert_cmpuint(refused, >, 0);
        g_assert_cmpuint(s.frames->len, ==, lens->len);
        for (i = 0; i < lens->len; i++) {
            size_t len = g_array_index(lens, size_t, i);

            g_assert_cmpuint(sink_frame(&s, i)->len, ==, len);
            g_assert(!memcmp(sink_frame(&s, i)->data, data, len));
            g_assert_cmpuint(g_array_index(s.vnet_lens, uint32_t, i), ==,
                             vnet ? MIN(len, 12) : 0);
        }
        g_array_unref(lens);
        colo_stream_encoder_destroy(&e);
        colo_stream_decoder_destroy(&d);
        sink_free(&s);
    }
    g_free(data);
    g_rand_free(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/colo-stream/decode/whole", test_decode_whole);
    g_test_add_func("/colo-stream/decode/byte-at-a-time",
                    test_decode_byte_at_a_time);
    g_test_add_func("/colo-stream/decode/odd-chunks", test_decode_odd_chunks);
    g_test_add_func("/colo-stream/decode/many-in-one-chunk",
                    test_decode_many_in_one_chunk);
    g_test_add_func("/colo-stream/decode/wire-bytes", test_decode_wire_bytes);
    g_test_add_func("/colo-stream/decode/errors", test_decode_errors);
    g_test_add_func("/colo-stream/decode/burst", test_decode_burst);
    g_test_add_func("/colo-stream/decode/burst-error",
                    test_decode_burst_error);
    g_test_add_func("/colo-stream/decode/limits", test_decode_limits);
    g_test_add_func("/colo-stream/decode/reset-mid-frame",
                    test_decode_reset_mid_frame);
    g_test_add_func("/colo-stream/encode/wire-bytes", test_encode_wire_bytes);
    g_test_add_func("/colo-stream/encode/invalid", test_encode_invalid);
    g_test_add_func("/colo-stream/encode/partial-writes",
                    test_encode_partial_writes);
    g_test_add_func("/colo-stream/encode/bound", test_encode_bound);
    g_test_add_func("/colo-stream/encode/wrap", test_encode_wrap);
    g_test_add_func("/colo-stream/round-trip", test_round_trip);
    return g_test_run();
}
