/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Micro-benchmark of the COLO proxy packet layer and connection table:
 * ns per frame for parse, parse + flow key, and parse + key + table
 * lookup (colo_conn_get(), which also follows TCP state), with 1 and
 * with 100,000 connections in a pre-filled table.
 *
 * Frames: TCP with a timestamp option, 80% IPv4 / 20% IPv6, both
 * directions, 0 to 200 bytes of payload, one frame per flow visited in a
 * shuffled order, so with 100,000 flows lookups miss the CPU caches the
 * way a busy proxy's do.
 *
 * Build and run from the top of the repository (after "make" has
 * assembled and configured the tree):
 *
 *   gcc -O2 -std=gnu11 -iquote . -I build/obj -I build/src/include \
 *       -I build/src/host/include/x86_64 -I build/src/host/include/generic \
 *       $(pkg-config --cflags glib-2.0) -o build/colo-packet-bench \
 *       bench/colo-packet-bench.c net/colo.c net/colo-conn.c \
 *       $(pkg-config --libs glib-2.0)
 *   build/colo-packet-bench [FRAMES_PER_RUN]
 *
 * It prints one line per configuration; figures are not asserted.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "net/colo.h"
#include "net/colo-conn.h"

#define FRAME_MAX 320

typedef struct BenchFrame {
    uint8_t b[FRAME_MAX];
    size_t len;
} BenchFrame;

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state;
}

/* TCP frame of flow @flow; @rev: from the server side. */
static void build_frame(BenchFrame *f, uint32_t flow, bool rev)
{
    bool v6 = flow % 5 == 4;
    size_t payload = rnd() % 201;
    uint8_t *p = f->b, *ip = p + 14, *tcp;
    uint32_t client = 0x0a000000 | (flow & 0xffffff);
    uint32_t server = 0xc0a80001;
    uint16_t cport = 1024 + (flow >> 8) % 60000, sport = 80;
    size_t tcplen = 32 + payload;

    memset(f, 0, sizeof(*f));
    stw_be_p(p + 12, v6 ? COLO_ETH_P_IPV6 : COLO_ETH_P_IPV4);
    if (v6) {
        ip[0] = 0x60;
        stw_be_p(ip + 4, tcplen);
        ip[6] = COLO_IPPROTO_TCP;
        ip[7] = 64;
        ip[8] = ip[24] = 0xfd;
        stl_be_p(ip + 20, rev ? server : client);
        stl_be_p(ip + 36, rev ? client : server);
        tcp = ip + 40;
    } else {
        ip[0] = 0x45;
        stw_be_p(ip + 2, 20 + tcplen);
        ip[8] = 64;
        ip[9] = COLO_IPPROTO_TCP;
        stl_be_p(ip + 12, rev ? server : client);
        stl_be_p(ip + 16, rev ? client : server);
        tcp = ip + 20;
    }
    stw_be_p(tcp, rev ? sport : cport);
    stw_be_p(tcp + 2, rev ? cport : sport);
    stl_be_p(tcp + 4, rnd());
    stl_be_p(tcp + 8, rnd());
    tcp[12] = 8 << 4;
    tcp[13] = COLO_TCP_ACK | (payload ? COLO_TCP_PSH : 0);
    stw_be_p(tcp + 14, 501);
    tcp[20] = tcp[21] = COLO_TCPOPT_NOP;
    tcp[22] = COLO_TCPOPT_TIMESTAMP;
    tcp[23] = 10;
    stl_be_p(tcp + 24, rnd());
    stl_be_p(tcp + 28, rnd());
    f->len = tcp - p + tcplen;
}

typedef enum { RUN_PARSE, RUN_KEY, RUN_LOOKUP } RunKind;

static double run(RunKind kind, ColoConnTable *t, const BenchFrame *frames,
                  size_t nframes, size_t total)
{
    int64_t start = now_ns();
    uint32_t sink = 0;
    size_t i;

    for (i = 0; i < total; i++) {
        const BenchFrame *f = &frames[i % nframes];
        ColoFlowKey key;
        ColoPacket pkt;
        ColoConn *c;

        colo_packet_parse(&pkt, f->b, f->len, 0);
        if (kind == RUN_PARSE) {
            sink += pkt.payload_len;
            continue;
        }
        if (kind == RUN_KEY) {
            colo_flow_key_from_packet(&pkt, &key);
            sink += colo_flow_key_canonicalize(&key);
            sink += colo_flow_key_hash(&key, 1);
            continue;
        }
        if (colo_conn_get(t, &pkt, i, &c, NULL) != COLO_CONN_FOUND) {
            fprintf(stderr, "lookup missed a pre-filled flow\n");
            exit(1);
        }
    }
    if (sink == 42) {
        fprintf(stderr, " ");   /* keep the loop from being optimised out */
    }
    return (double)(now_ns() - start) / total;
}

static void bench(uint32_t nflows, size_t total)
{
    ColoConnTableConfig cfg = {
        .max_entries = MAX(nflows, 16),
        .priv_size = 128,
        .idle_timeout_ns = INT64_MAX,
        .closed_linger_ns = INT64_MAX,
        .hash_seed = 0x9e3779b9,
    };
    size_t nframes = MAX(nflows, 4096);
    BenchFrame *frames = g_new(BenchFrame, nframes);
    ColoConnTable *t = colo_conn_table_new(&cfg);
    double parse, key, lookup;
    size_t i;

    for (i = 0; i < nframes; i++) {
        build_frame(&frames[i], i % nflows, rnd() & 1);
    }
    for (i = nframes - 1; i > 0; i--) {         /* shuffle */
        size_t j = rnd() % (i + 1);
        BenchFrame tmp = frames[i];

        frames[i] = frames[j];
        frames[j] = tmp;
    }
    for (i = 0; i < nframes; i++) {             /* pre-fill */
        ColoPacket pkt;
        ColoConn *c;

        colo_packet_parse(&pkt, frames[i].b, frames[i].len, 0);
        colo_conn_get(t, &pkt, 0, &c, NULL);
    }
    g_assert(colo_conn_count(t) == nflows);

    run(RUN_LOOKUP, t, frames, nframes, total / 4);     /* warm up */
    parse = run(RUN_PARSE, t, frames, nframes, total);
    key = run(RUN_KEY, t, frames, nframes, total);
    lookup = run(RUN_LOOKUP, t, frames, nframes, total);
    printf("%7u connections: parse %6.1f ns/frame, parse+key %6.1f, "
           "parse+key+lookup %6.1f\n", nflows, parse, key, lookup);
    colo_conn_table_free(t);
    g_free(frames);
}

int main(int argc, char **argv)
{
    size_t total = argc > 1 ? g_ascii_strtoull(argv[1], NULL, 0) : 5000000;

    bench(1, total);
    bench(100000, total);
    return 0;
}
