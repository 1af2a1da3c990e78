/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the COLO proxy comparison engine
 * (net/colo-compare-engine.c, over net/colo.c and net/colo-conn.c).
 *
 * The input is a script.  Four header bytes configure the engine:
 *   b0 bits 0-2  max connections - 1        b1 bits 0-3  max queue - 1
 *   b0 bits 3-4  vnet header 0/10/12/0      b1 bit  4    mirror mode
 *                                           b1 bit  5    bursts
 *   b2           compare timeout - 1, in ms
 *   b3           base of the flows' sequence numbers
 * then operations, each an opcode byte (low 3 bits) and its operands:
 *   0-3  built frame: side (opcode bit 3), then 5 bytes: flow/protocol,
 *        TCP flags, 16-bit stream offset, payload length/mutation.
 *        Protocols: TCP, TCP, UDP, ICMP, ARP, TCP/IPv6, UDP/IPv6 (or
 *        ICMPv6 with misc bit 1), TCP in a VLAN.
 *        In mirror mode the frame goes to the primary and then, with the
 *        header fields the engine must ignore changed, to the secondary.
 *   4    raw frame: side (bit 3), a length byte, that many bytes
 *   5    advance the clock by the next byte * 0.1 ms (bit 3: then expire)
 *   6    expire (bit 3 clear) or checkpoint (bit 3 set)
 *   7    failover if the opcode is 0xff, else expire
 *
 * In burst mode, consecutive frames of one side are input together with
 * colo_cmp_engine_input_burst() (at most COLO_CMP_BURST, looking ahead
 * from the first connection), which must behave as frame by frame.
 *
 * Invariants (abort on violation):
 * - every primary frame is released exactly once by the end (after a
 *   final checkpoint), byte for byte, in input order within its flow;
 * - the counters add up (released categories, secondary drop categories,
 *   queued frames) and queued frames never exceed
 *   max connections * max queue per side;
 * - divergences have a valid reason, and a key unless "malformed";
 * - in mirror mode (no FIN, no raw or corrupted frames), only "timeout",
 *   "queue-full" and "table-full" divergences can occur: identical
 *   traffic never compares different.
 *
 * Build and run: make fuzz FUZZ_TARGET=compare FUZZ_RUNS=N (clang
 * libFuzzer); make check replays corpus/compare/ under ASan/UBSan.
 * Corpus generator: gen-compare-corpus.py.
 */

#include "qemu/osdep.h"
#include "net/colo.h"
#include "net/colo-compare-engine.h"
#include "colo-fuzz.h"

#define CHECK(cond) do { if (!(cond)) { abort(); } } while (0)

#define MAX_OPS         1024
#define FRAME_MAX       320

typedef struct Pending {
    ColoFlowKey key;
    bool done;
    size_t len;
    uint8_t data[FRAME_MAX];
} Pending;

/* Burst mode: frames not input yet, all of one side */
static struct {
    uint8_t data[COLO_CMP_BURST][FRAME_MAX];
    ColoCmpFrameRef refs[COLO_CMP_BURST];
    size_t n;
    int side;
} bq;

static struct {
    bool burst;
    Pending *pend;
    size_t n_pend;
    size_t n_done;
    size_t vnet;
    bool mirror;
    uint64_t bad_divergences;
} fz;

/* Flow key the checker files a primary frame under */
static void frame_key(const uint8_t *data, size_t len, ColoFlowKey *key)
{
    ColoPacket pkt;

    if (colo_packet_parse(&pkt, data, len, fz.vnet) != COLO_PKT_OK) {
        memset(key, 0xff, sizeof(*key));    /* malformed: one pseudo-flow */
        return;
    }
    CHECK(colo_flow_key_from_packet(&pkt, key));
}

static void cb_release(void *opaque, const uint8_t *data, size_t len)
{
    ColoFlowKey key;
    size_t i;

    CHECK(opaque == &fz);
    frame_key(data, len, &key);
    /* the first frame of its flow not released yet must be this one */
    for (i = 0; i < fz.n_pend; i++) {
        Pending *p = &fz.pend[i];

        if (!p->done && colo_flow_key_equal(&p->key, &key)) {
            CHECK(p->len == len && memcmp(p->data, data, len) == 0);
            p->done = true;
            fz.n_done++;
            return;
        }
    }
    abort();    /* released a frame never input, or twice */
}

static void cb_divergence(void *opaque, const ColoCmpDivergence *d)
{
    CHECK(opaque == &fz);
    CHECK((unsigned)d->reason < COLO_CMP_DIV__MAX);
    CHECK(d->side == COLO_CMP_PRIMARY || d->side == COLO_CMP_SECONDARY);
    CHECK(d->has_key || d->reason == COLO_CMP_DIV_MALFORMED);
    CHECK(strcmp(colo_cmp_reason_name(d->reason), "invalid") != 0);
    if (d->reason != COLO_CMP_DIV_TIMEOUT &&
        d->reason != COLO_CMP_DIV_QUEUE_FULL &&
        d->reason != COLO_CMP_DIV_TABLE_FULL) {
        fz.bad_divergences++;
    }
}

static void check_stats(ColoCompareEngine *e, uint32_t max_conn,
                        uint32_t max_queue)
{
    ColoCmpStats s;

    colo_cmp_engine_get_stats(e, &s);
    CHECK(s.released_frames == fz.n_done);
    CHECK(s.released_identical + s.released_uncompared +
          s.released_diverged + s.released_checkpoint +
          s.released_failover == s.released_frames);
    CHECK(s.released_frames + s.queued_frames[0] == s.frames_in[0]);
    CHECK(s.secondary_matched + s.secondary_uncompared +
          s.secondary_diverged + s.secondary_malformed +
          s.secondary_table_full + s.secondary_overflow +
          s.secondary_expired + s.secondary_checkpoint +
          s.secondary_failover + s.queued_frames[1] == s.frames_in[1]);
    CHECK(s.queued_frames[0] <= (uint64_t)max_conn * max_queue);
    CHECK(s.queued_frames[1] <= (uint64_t)max_conn * max_queue);
    CHECK(s.connections <= max_conn);
    CHECK((s.queued_frames[0] == 0) == (s.queued_bytes[0] == 0));
    CHECK((s.queued_frames[1] == 0) == (s.queued_bytes[1] == 0));
}

/*
 * Frame builder
 */

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

/* Stream byte at sequence number @q: a function of @q only */
static uint8_t stream_byte(uint32_t q)
{
    return (q * 2654435761u) >> 24;
}

typedef struct Build {
    uint8_t flow;       /* bits 0-1 flow, bits 2-4 protocol, 5-7 misc */
    uint8_t flags;
    uint16_t off;
    uint8_t lenmut;     /* bits 0-5 length, 6-7 mutation */
    uint32_t seq_base;
    bool secondary_copy;
} Build;

static size_t build(const Build *b, uint8_t *f)
{
    unsigned flow = b->flow & 3, proto = (b->flow >> 2) & 7;
    unsigned misc = b->flow >> 5;
    bool v6 = proto == 5 || proto == 6;
    bool vlan = proto == 7;
    size_t plen = b->lenmut & 0x3f, hlen, l4len, i;
    uint8_t *p = f, *ip, *l4;
    uint8_t ipproto;
    uint32_t seq = b->seq_base + flow * 0x10000000u + b->off;
    uint8_t flags = b->flags;
    uint8_t alt = b->secondary_copy ? 0x5a : 0;

    memset(f, alt, fz.vnet);
    p += fz.vnet;
    memcpy(p, "\x52\x54\x00\x00\x00\x02\x52\x54\x00\x00\x00\x01", 12);
    p += 12;
    if (vlan) {
        put16(p, COLO_ETH_P_VLAN);
        put16(p + 2, 10 + flow);
        p += 4;
    }
    if (proto == 4) {
        /* ARP */
        put16(p, COLO_ETH_P_ARP);
        p += 2;
        put16(p, 1);
        put16(p + 2, 0x0800);
        p[4] = 6;
        p[5] = 4;
        put16(p + 6, 1 + (misc & 1));
        memset(p + 8, 0, 20);
        p[17] = flow;
        p[27] = b->off;
        return p + 28 - f;
    }
    switch (proto) {
    case 0: case 1: case 5: case 7:
        ipproto = COLO_IPPROTO_TCP;
        hlen = 20;
        if (flags & COLO_TCP_SYN) {
            hlen += 12;     /* MSS, NOP NOP SACK-permitted, NOP WS */
        }
        if (misc & 1) {
            hlen += 12;     /* NOP NOP timestamps */
        }
        if (fz.mirror) {
            flags &= ~COLO_TCP_FIN;
        }
        break;
    case 2: case 6:
        ipproto = (v6 && (misc & 2)) ? COLO_IPPROTO_ICMPV6 : COLO_IPPROTO_UDP;
        hlen = 8;
        break;
    default:
        ipproto = v6 ? COLO_IPPROTO_ICMPV6 : COLO_IPPROTO_ICMP;
        hlen = 8;
        break;
    }
    l4len = hlen + plen;
    put16(p, v6 ? COLO_ETH_P_IPV6 : COLO_ETH_P_IPV4);
    ip = p + 2;
    if (v6) {
        memset(ip, 0, 40);
        ip[0] = 0x60;
        put16(ip + 4, l4len);
        ip[6] = ipproto;
        ip[7] = 64 - alt;
        ip[8] = 0xfd;
        ip[23] = 1 + flow;
        ip[24] = 0xfd;
        ip[39] = 100;
        l4 = ip + 40;
    } else {
        memset(ip, 0, 20);
        ip[0] = 0x45;
        put16(ip + 2, 20 + l4len);
        put16(ip + 4, b->off ^ alt);
        ip[8] = 64 - alt;
        ip[9] = ipproto;
        put32(ip + 12, 0x0a000001 + flow);
        put32(ip + 16, 0x0a000064);
        l4 = ip + 20;
    }
    memset(l4, 0, hlen);
    if (ipproto == COLO_IPPROTO_TCP) {
        uint8_t *o = l4 + 20;

        put16(l4, 1000 + flow);
        put16(l4 + 2, 80);
        put32(l4 + 4, seq);
        /* a SYN+ACK acknowledges the client's ISN: same on both sides */
        put32(l4 + 8, (flags & COLO_TCP_SYN) ? 12345 + b->off : 12345 + alt);
        l4[12] = (hlen / 4) << 4;
        l4[13] = flags;
        put16(l4 + 14, 1000 + alt);
        put16(l4 + 16, alt);
        if (flags & COLO_TCP_SYN) {
            memcpy(o, "\x02\x04\x05\xb4\x01\x01\x04\x02\x01\x03\x03\x07", 12);
            o += 12;
        }
        if (misc & 1) {
            memcpy(o, "\x01\x01\x08\x0a", 4);
            put32(o + 4, b->off + alt);
            put32(o + 8, 77);
        }
        /* payload: stream bytes, after the SYN's sequence number */
        seq += !!(flags & COLO_TCP_SYN);
        for (i = 0; i < plen; i++) {
            l4[hlen + i] = stream_byte(seq + i);
        }
    } else {
        if (ipproto == COLO_IPPROTO_UDP) {
            put16(l4, 2000 + flow);
            put16(l4 + 2, 53);
            put16(l4 + 4, l4len);
            put16(l4 + 6, alt);
        } else {
            l4[0] = v6 ? COLO_ICMPV6_ECHO : COLO_ICMP_ECHO;
            put16(l4 + 2, alt);
            put16(l4 + 4, flow);
            put16(l4 + 6, b->off);
        }
        for (i = 0; i < plen; i++) {
            l4[hlen + i] = stream_byte(b->off + i);
        }
    }
    return l4 + l4len - f;
}

static void burst_flush(ColoCompareEngine *e, int64_t now)
{
    if (bq.n) {
        colo_cmp_engine_input_burst(e, bq.side, bq.refs, bq.n, now);
        bq.n = 0;
    }
}

static void input(ColoCompareEngine *e, int side, const uint8_t *frame,
                  size_t len, int64_t now)
{
    if (!fz.burst) {
        colo_cmp_engine_input(e, side, frame, len, now);
        return;
    }
    if (bq.n == COLO_CMP_BURST || (bq.n && bq.side != side)) {
        burst_flush(e, now);
    }
    memcpy(bq.data[bq.n], frame, len);
    bq.refs[bq.n].data = bq.data[bq.n];
    bq.refs[bq.n].len = len;
    bq.side = side;
    bq.n++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t vnet_lens[4] = { 0, 10, 12, 0 };
    ColoCmpConfig cfg = { 0 };
    ColoCompareEngine *e;
    uint32_t max_conn, max_queue, seq_base;
    size_t pos = 4, ops = 0;
    int64_t now = 1000;
    uint8_t frame[FRAME_MAX];

    if (size < 4) {
        return 0;
    }
    memset(&fz, 0, sizeof(fz));
    max_conn = 1 + (data[0] & 7);
    fz.vnet = vnet_lens[(data[0] >> 3) & 3];
    max_queue = 1 + (data[1] & 15);
    fz.mirror = data[1] & 0x10;
    fz.burst = data[1] & 0x20;
    bq.n = 0;
    seq_base = (uint32_t)data[3] << 24 | 0xfff000;  /* near wrap-around */
    fz.pend = g_new0(Pending, 2 * MAX_OPS);

    cfg.max_connections = max_conn;
    cfg.max_queue_size = max_queue;
    cfg.compare_timeout_ns = (1 + data[2]) * 1000000LL;
    cfg.conn_idle_timeout_ns = 50 * 1000000LL;
    cfg.vnet_hdr_len = fz.vnet;
    cfg.hash_seed = data[3];
    cfg.lookahead_min_conns = 1;
    cfg.release = cb_release;
    cfg.divergence = cb_divergence;
    cfg.opaque = &fz;
    e = colo_cmp_engine_new(&cfg);

    while (pos < size && ops++ < MAX_OPS) {
        uint8_t op = data[pos++];
        int side = (op >> 3) & 1;
        size_t len = 0, k;

        switch (op & 7) {
        case 0: case 1: case 2: case 3: {
            Build b = { 0 };
            bool mut = false;

            if (size - pos < 5) {
                pos = size;
                break;
            }
            b.flow = data[pos];
            b.flags = data[pos + 1];
            b.off = data[pos + 2] | data[pos + 3] << 8;
            b.lenmut = data[pos + 4];
            b.seq_base = seq_base;
            pos += 5;
            len = build(&b, frame);
            if (!fz.mirror && (b.lenmut & 0xc0) == 0xc0 && len) {
                /* corrupt one byte anywhere: malformed or another flow */
                frame[b.off % len] ^= 1 + (b.flags & 0x7f);
                mut = true;
            }
            if (fz.mirror) {
                side = 0;
            }
            if (side == 0) {
                Pending *p = &fz.pend[fz.n_pend++];

                frame_key(frame, len, &p->key);
                p->len = len;
                memcpy(p->data, frame, len);
            }
            input(e, side, frame, len, now);
            if (fz.mirror && !mut) {
                b.secondary_copy = true;
                len = build(&b, frame);
                input(e, 1, frame, len, now);
            }
            break;
        }
        case 4:
            if (pos >= size) {
                break;
            }
            len = MIN(data[pos++], size - pos);
            len = MIN(len, FRAME_MAX);
            if (fz.mirror) {
                pos += len;
                break;
            }
            memcpy(frame, data + pos, len);
            pos += len;
            if (side == 0) {
                Pending *p = &fz.pend[fz.n_pend++];

                frame_key(frame, len, &p->key);
                p->len = len;
                memcpy(p->data, frame, len);
            }
            input(e, side, frame, len, now);
            break;
        case 5:
            burst_flush(e, now);
            if (pos < size) {
                now += data[pos++] * 100000LL;
            }
            if (side) {
                int64_t next = colo_cmp_engine_expire(e, now);

                CHECK(next > now);
                CHECK(next == colo_cmp_engine_next_deadline(e));
            }
            break;
        case 6:
            burst_flush(e, now);
            if (side) {
                colo_cmp_engine_checkpoint(e);
                k = fz.n_pend;
                CHECK(fz.n_done == k);
            } else {
                colo_cmp_engine_expire(e, now);
            }
            break;
        case 7:
            burst_flush(e, now);
            if (op == 0xff) {
                colo_cmp_engine_failover(e);
                CHECK(fz.n_done == fz.n_pend);
            } else {
                colo_cmp_engine_expire(e, now);
            }
            break;
        }
        if (!bq.n) {
            check_stats(e, max_conn, max_queue);
        }
    }

    burst_flush(e, now);
    colo_cmp_engine_checkpoint(e);
    CHECK(fz.n_done == fz.n_pend);
    check_stats(e, max_conn, max_queue);
    if (fz.mirror) {
        CHECK(fz.bad_divergences == 0);
    }
    colo_cmp_engine_free(e);
    g_free(fz.pend);
    return 0;
}
