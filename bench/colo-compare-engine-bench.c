/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Micro-benchmark of the COLO proxy comparison engine alone (no chardev,
 * no iothread): identical TCP traffic from both guests, for 64, 512 and
 * 1460 byte payloads over 1, 100 and 10,000 connections.
 *
 * Each round sends one segment on every connection from the primary,
 * then the same segments from the secondary (with the header fields the
 * engine ignores changed: ack, window, IP id, TTL, checksums), so with
 * many connections up to one frame per connection is queued at a time,
 * as when the adapter decodes a burst from each chardev.  Timestamps
 * options are present, as with Linux guests.  Every primary frame must
 * come out identical; the benchmark checks that no divergence occurred.
 *
 * A second series ("window") sends one flow with the primary running
 * ahead: each round is WINDOW segments from the primary, then the same
 * segments from the secondary, so up to WINDOW primary frames are queued
 * on one flow (as in the end-to-end benchmark, where the secondary's
 * copy arrives late).  WINDOW must not exceed the engine's default
 * max_queue_size (1024).
 *
 * With 100 and 10,000 connections each configuration runs twice: frames
 * input one by one ("single"), then in bursts of COLO_CMP_BURST
 * ("burst", as the colo-compare object inputs them), which lets the
 * engine overlap the cache misses of the bursts' connection lookups.
 *
 * A last series ("stream", see run_stream()) feeds the engine as the
 * end-to-end benchmark feeds the object: batches of 512 frames per side,
 * connections round robin, frames hot in the cache.  Its figures with 1
 * and 10,000 connections show how the engine alone scales with the
 * number of flows, without the scheduling noise of the end-to-end runs.
 *
 * Figures: "frames/s" counts the frames input on both sides, "primary/s"
 * the primary frames released (half of it), "Gbit/s" the primary payload.
 *
 * Build and run from the top of the repository (after "make" has
 * assembled and configured the tree), or use "make bench":
 *
 *   gcc -O2 -std=gnu11 -iquote . -I build/obj -I build/src/include \
 *       -I build/src/host/include/x86_64 -I build/src/host/include/generic \
 *       $(pkg-config --cflags glib-2.0) -o build/colo-compare-engine-bench \
 *       bench/colo-compare-engine-bench.c net/colo.c net/colo-conn.c \
 *       net/colo-compare-engine.c $(pkg-config --libs glib-2.0)
 *   build/colo-compare-engine-bench [--stream] [--size N] [--conns N]
 *                                   [PRIMARY_FRAMES_PER_RUN [WINDOW]]
 *
 * (WINDOW defaults to 1000; 0 skips the window series; --stream runs the
 * stream series only, --size and --conns only its runs with that payload
 * size and number of connections.)
 *
 * Timings move with the machine's load; instruction counts do not.
 * "scripts/colo/bench.sh --instructions colo-compare-engine-bench
 * --stream --size 64 --conns 1 200000" counts the instructions of that
 * one run (200,000 frame pairs, plus the harness) under cachegrind, the
 * steady figure to compare two builds of the engine with.
 *
 * It prints one line per configuration; figures are not asserted.
 */

#include "qemu/osdep.h"
#include "net/colo.h"
#include "net/colo-compare-engine.h"

#define HDR_LEN     (14 + 20 + 32)  /* Ethernet, IPv4, TCP + timestamps */

typedef struct Conn {
    uint8_t p[HDR_LEN + 1460];
    uint8_t s[HDR_LEN + 1460];
    uint32_t seq;
} Conn;

static uint64_t n_released, released_bytes, n_divergences;

static void on_release(void *opaque, const uint8_t *frame, size_t len)
{
    n_released++;
    released_bytes += len;
}

static void on_divergence(void *opaque, const ColoCmpDivergence *d)
{
    n_divergences++;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

static void build(uint8_t *f, uint32_t conn, size_t plen, bool secondary)
{
    uint8_t *ip = f + 14, *tcp = ip + 20;
    size_t i;

    memset(f, 0, HDR_LEN);
    memcpy(f, "\x52\x54\x00\x00\x00\x02\x52\x54\x00\x00\x00\x01\x08\x00",
           14);
    ip[0] = 0x45;
    put16(ip + 2, 20 + 32 + plen);
    put16(ip + 4, secondary ? 0x1234 : 0x4321);
    put16(ip + 6, 0x4000);
    ip[8] = secondary ? 63 : 64;
    ip[9] = COLO_IPPROTO_TCP;
    put16(ip + 10, secondary ? 0xaaaa : 0x5555);
    put32(ip + 12, 0x0a000001);
    put32(ip + 16, 0x0a010000 | (conn >> 16) << 8 | 2);
    put16(tcp, 8080);
    put16(tcp + 2, 1024 + (conn & 0xffff));
    put32(tcp + 8, secondary ? 777 : 999);
    tcp[12] = (32 / 4) << 4;
    tcp[13] = COLO_TCP_ACK | COLO_TCP_PSH;
    put16(tcp + 14, secondary ? 500 : 501);
    put16(tcp + 16, secondary ? 0xbbbb : 0xcccc);
    memcpy(tcp + 20, "\x01\x01\x08\x0a", 4);
    put32(tcp + 24, secondary ? 1000 : 2000);
    put32(tcp + 28, 3000);
    for (i = 0; i < plen; i++) {
        f[HDR_LEN + i] = (uint8_t)(i * 7 + conn);
    }
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Frames go to the engine one by one, or (burst) in bursts of
 * COLO_CMP_BURST consecutive frames, as the adapter passes them when it
 * decodes a chardev read.  A burst never holds the same connection twice
 * (each connection has one buffer per side): bursts are only used with
 * at least COLO_CMP_BURST connections.
 */
static ColoCmpFrameRef pending[COLO_CMP_BURST];
static size_t n_pending;

static void input_flush(ColoCompareEngine *e, ColoCmpSide side, int64_t t)
{
    colo_cmp_engine_input_burst(e, side, pending, n_pending, t);
    n_pending = 0;
}

static void input(ColoCompareEngine *e, ColoCmpSide side,
                  const uint8_t *frame, size_t len, int64_t t, bool burst)
{
    if (!burst) {
        colo_cmp_engine_input(e, side, frame, len, t);
        return;
    }
    pending[n_pending].data = frame;
    pending[n_pending].len = len;
    if (++n_pending == COLO_CMP_BURST) {
        input_flush(e, side, t);
    }
}

static ColoCompareEngine *engine_new(uint32_t n_conns)
{
    ColoCmpConfig cfg = {
        .max_connections = n_conns,
        .release = on_release,
        .divergence = on_divergence,
        .hash_seed = 0x9e3779b9,
    };

    return colo_cmp_engine_new(&cfg);
}

static void run(size_t plen, uint32_t n_conns, uint64_t frames,
                uint32_t window, bool burst)
{
    ColoCompareEngine *e = engine_new(n_conns);
    Conn *conns = g_new(Conn, n_conns);
    uint64_t rounds = MAX(frames / ((uint64_t)n_conns * window), 1), r;
    size_t len = HDR_LEN + plen;
    int64_t t = 0;
    uint32_t c, w, seq0;
    double t0, dt;

    for (c = 0; c < n_conns; c++) {
        build(conns[c].p, c, plen, false);
        build(conns[c].s, c, plen, true);
        conns[c].seq = c * 2654435761u;
    }
    n_released = released_bytes = n_divergences = 0;

    t0 = now_s();
    for (r = 0; r < rounds; r++) {
        for (w = 0; w < window; w++) {
            for (c = 0; c < n_conns; c++) {
                put32(conns[c].p + 14 + 20 + 4, conns[c].seq + w * plen);
                input(e, COLO_CMP_PRIMARY, conns[c].p, len, t, burst);
            }
            input_flush(e, COLO_CMP_PRIMARY, t);
        }
        for (w = 0; w < window; w++) {
            for (c = 0; c < n_conns; c++) {
                seq0 = conns[c].seq + w * plen;
                put32(conns[c].s + 14 + 20 + 4, seq0);
                input(e, COLO_CMP_SECONDARY, conns[c].s, len, t, burst);
            }
            input_flush(e, COLO_CMP_SECONDARY, t);
        }
        for (c = 0; c < n_conns; c++) {
            conns[c].seq += window * plen;
        }
        t += 1000;
    }
    dt = now_s() - t0;

    if (n_released != rounds * n_conns * window || n_divergences) {
        fprintf(stderr, "unexpected: %" PRIu64 " released of %" PRIu64
                ", %" PRIu64 " divergences\n", n_released,
                rounds * n_conns * window, n_divergences);
        exit(1);
    }
    printf("payload %4zu B  conns %6u  window %4u  %-6s frames/s %6.2f M"
           "  primary/s %6.2f M  %6.2f Gbit/s  (%.0f ns/frame)\n",
           plen, n_conns, window, burst ? "burst" : "single",
           2 * n_released / dt / 1e6,
           n_released / dt / 1e6, n_released * plen * 8 / dt / 1e9,
           dt * 1e9 / (2 * n_released));
    colo_cmp_engine_free(e);
    g_free(conns);
}

/*
 * The "stream" series: what the colo-compare object sees in the
 * end-to-end benchmark.  Each round inputs a batch of BATCH primary
 * frames, connections taken round robin, then the same BATCH frames from
 * the secondary, in bursts of COLO_CMP_BURST.  Every frame is first
 * copied from a template into a small buffer of COLO_CMP_BURST slots,
 * the way the object reads frames from its chardev: the frames are hot
 * in the cache whatever the number of connections, and only the engine's
 * per-connection state grows with it.  The copy is part of the time
 * measured, the same for any number of connections.
 */
#define BATCH   512

static void run_stream(size_t plen, uint32_t n_conns, uint64_t frames)
{
    ColoCompareEngine *e = engine_new(n_conns);
    size_t len = HDR_LEN + plen;
    uint8_t *tmpl[2], *slot[COLO_CMP_BURST];
    uint32_t *seq = g_new(uint32_t, n_conns);
    uint32_t bconn[BATCH], bseq[BATCH];
    uint64_t rounds = MAX(frames / BATCH, 1), r;
    uint32_t next = 0, c, i, side;
    int64_t t = 0;
    double t0, dt;

    for (side = 0; side < 2; side++) {
        tmpl[side] = g_malloc(len);
        build(tmpl[side], 0, plen, side == COLO_CMP_SECONDARY);
    }
    for (i = 0; i < COLO_CMP_BURST; i++) {
        slot[i] = g_malloc(len);
    }
    for (c = 0; c < n_conns; c++) {
        seq[c] = c * 2654435761u;
    }
    n_released = released_bytes = n_divergences = 0;

    t0 = now_s();
    for (r = 0; r < rounds; r++) {
        for (i = 0; i < BATCH; i++) {
            bconn[i] = next;
            bseq[i] = seq[next];
            seq[next] += plen;
            next = next + 1 == n_conns ? 0 : next + 1;
        }
        for (side = 0; side < 2; side++) {
            for (i = 0; i < BATCH; i++) {
                uint8_t *f = slot[n_pending];

                memcpy(f, tmpl[side], len);
                put32(f + 14 + 16, 0x0a010000 | (bconn[i] >> 16) << 8 | 2);
                put16(f + 14 + 20 + 2, 1024 + (bconn[i] & 0xffff));
                put32(f + 14 + 20 + 4, bseq[i]);
                input(e, side, f, len, t, true);
            }
            input_flush(e, side, t);
        }
        t += 1000;
    }
    dt = now_s() - t0;

    if (n_released != rounds * BATCH || n_divergences) {
        fprintf(stderr, "unexpected: %" PRIu64 " released of %" PRIu64
                ", %" PRIu64 " divergences\n", n_released,
                rounds * BATCH, n_divergences);
        exit(1);
    }
    printf("payload %4zu B  conns %6u  batch  %4u  stream frames/s %6.2f M"
           "  primary/s %6.2f M  %6.2f Gbit/s  (%.0f ns/frame)\n",
           plen, n_conns, BATCH, 2 * n_released / dt / 1e6,
           n_released / dt / 1e6, n_released * plen * 8 / dt / 1e9,
           dt * 1e9 / (2 * n_released));
    colo_cmp_engine_free(e);
    for (i = 0; i < COLO_CMP_BURST; i++) {
        g_free(slot[i]);
    }
    g_free(tmpl[0]);
    g_free(tmpl[1]);
    g_free(seq);
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = { 64, 512, 1460 };
    static const uint32_t counts[] = { 1, 100, 10000 };
    bool stream_only = false;
    uint64_t frames, window, only_size = 0, only_conns = 0;
    size_t i, j;

    while (argc > 1 && g_str_has_prefix(argv[1], "--")) {
        if (!strcmp(argv[1], "--stream")) {
            stream_only = true;
        } else if (!strcmp(argv[1], "--size") && argc > 2) {
            only_size = g_ascii_strtoull(argv[2], NULL, 0);
            argc--;
            argv++;
        } else if (!strcmp(argv[1], "--conns") && argc > 2) {
            only_conns = g_ascii_strtoull(argv[2], NULL, 0);
            argc--;
            argv++;
        } else {
            fprintf(stderr, "unknown option %s\n", argv[1]);
            return 1;
        }
        argc--;
        argv++;
    }
    frames = argc > 1 ? g_ascii_strtoull(argv[1], NULL, 0) : 2000000;
    window = argc > 2 ? g_ascii_strtoull(argv[2], NULL, 0) : 1000;
    for (i = 0; !stream_only && i < G_N_ELEMENTS(sizes); i++) {
        for (j = 0; j < G_N_ELEMENTS(counts); j++) {
            run(sizes[i], counts[j], frames, 1, false);
            if (counts[j] >= COLO_CMP_BURST) {
                run(sizes[i], counts[j], frames, 1, true);
            }
        }
    }
    for (i = 0; !stream_only && window && i < G_N_ELEMENTS(sizes); i++) {
        run(sizes[i], 1, frames, window, false);
    }
    for (i = 0; i < G_N_ELEMENTS(sizes); i++) {
        for (j = 0; j < G_N_ELEMENTS(counts); j++) {
            if ((!only_size || sizes[i] == only_size) &&
                (!only_conns || counts[j] == only_conns)) {
                run_stream(sizes[i], counts[j], frames);
            }
        }
    }
    return 0;
}
