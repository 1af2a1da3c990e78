/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target for the COLO proxy TCP rewrite logic (net/colo-rewrite.c).
 *
 * The input is a script: a small configuration, then operations, each a
 * checkpoint, a failover, a step of time with expiry, a raw frame, or a
 * frame built from a few descriptor bytes (so that handshakes, port
 * pairing and rewriting are reached often) and optionally damaged.
 * Frames go towards or from the guest.
 *
 * The configuration byte: bits 0-3 bound the connections, bit 4 turns
 * off the idle timeout, bit 5 the closed linger, bit 6 the event
 * callback; bit 7 turns on the parking of SYN-ACKs, and then a second
 * byte follows: bits 0-3 are park_max - 1, bits 4-5 pick the park
 * timeout, bit 6 releases the parked frames after every operation and
 * bit 7 makes the release callback call back into the rewriter (expiry
 * and a nested release).  Bit 3 of an operation releases the parked
 * frames after it.
 *
 * Invariants checked (abort on violation):
 * - the rewriter's internal consistency and its bound, after every step;
 * - a frame that is not rewritten is not touched;
 * - a rewritten frame keeps its length, only its TCP header changes, and
 *   if its checksums were valid they still are;
 * - patching a copy of only the headers (what filter-rewriter does) gives
 *   the same bytes (and ASan sees any access past the copy);
 * - only frames towards the guest are parked, only when parking is on,
 *   each with a PARKED event, and never more than park_max;
 * - a release hands back exactly the releasable frames, each one that
 *   was parked: same length and layout, changed at most in the fields
 *   the to-guest path rewrites (destination port, acknowledgement
 *   number, checksum, options), with valid checksums if they were;
 * - a checkpoint or a failover makes every parked frame releasable, and
 *   once failed over no parked frame waits: no new SYN-ACK is parked,
 *   and a later frame of a flow goes with the frames parked before it;
 * - a checkpoint and a release at the end leave nothing parked.
 */

#include "qemu/osdep.h"
#include "net/colo.h"
#include "net/colo-rewrite.h"
#include "colo-fuzz.h"

#define MAX_FRAME 600
#define NS_PER_S 1000000000LL
#define PARK_MAX 16             /* the largest park_max the input picks */

typedef struct Input {
    const uint8_t *p;
    size_t left;
} Input;

/* A frame the rewriter parked, as it was handed over */
typedef struct Parked {
    uint8_t *frame;
    size_t len;
    size_t vnet;
    size_t l4_off;
    size_t payload_off;
    bool valid;                 /* its checksums were valid */
} Parked;

typedef struct Fuzz {
    ColoRewriter *rw;
    int64_t now;                /* for releases */
    bool park;                  /* parking is on */
    bool events;                /* the event callback is set */
    bool reenter;               /* the release callback calls back */
    unsigned depth;             /* of nested releases */
    unsigned n_events;
    unsigned n_parked_events;
    unsigned n_park_results;
    unsigned n_released;
    unsigned n_parked;
    Parked parked[PARK_MAX];    /* oldest first */
} Fuzz;

static uint8_t next(Input *in)
{
    if (!in->left) {
        return 0;
    }
    in->left--;
    return *in->p++;
}

static const uint16_t ports[16] = {
    80, 443, 1000, 1001, 22, 40000, 40001, 40002,
    50000, 50001, 50002, 65535, 0, 1, 7000, 7001,
};

static const int64_t park_timeouts[4] = {
    0, NS_PER_S / 2, NS_PER_S, 5 * NS_PER_S,
};

static const uint32_t seqs[16] = {
    0, 1, 2, 1000, 2000, 0x7fffffff, 0x80000000, 0xfffffff0,
    0xffffffff, 0x12345678, 0x40000000, 0xdeadbeef, 100, 0x10000, 5000,
    0xfffff000,
};

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

static void put_addr(uint8_t *p, bool v6, uint8_t host)
{
    memset(p, 0, v6 ? 16 : 4);
    if (v6) {
        p[0] = 0xfd;
        p[15] = host;
    } else {
        p[0] = 10;
        p[3] = host;
    }
}

/* Build a frame from 8 descriptor bytes; returns its length, sets vnet. */
static size_t build(Input *in, uint8_t *b, size_t *vnet, bool *to_guest,
                    bool *damaged)
{
    uint8_t d0 = next(in), d1 = next(in), d2 = next(in), d3 = next(in);
    uint8_t d4 = next(in), d5 = next(in), d6 = next(in), d7 = next(in);
    bool v6 = d0 & 2;
    int n_vlans = (d0 >> 2) & 3;
    int vmode = (d0 >> 4) & 3;
    bool ts = d0 & 0x40;
    uint8_t guest = 2, peer = (d0 & 0x80) ? 9 : 10;
    uint16_t gport = ports[d2 & 15], pport = ports[d2 >> 4];
    uint32_t seq = seqs[d3 & 15] + (d3 >> 4);
    uint32_t ack = seqs[d4 & 15] + (d4 >> 4);
    size_t payload = d5, optlen = 0, hl, l3, l4, len, i;
    int n_sack = (d6 & 7) % 5;
    uint8_t *p = b, *opt;
    ColoPacket pkt;
    uint16_t csum;

    *to_guest = d0 & 1;
    if (d6 & 0x80) {
        /* a frame of the other side, sent the wrong way */
        uint8_t h = guest;

        guest = peer;
        peer = h;
    }
    *vnet = vmode == 0 ? 0 : vmode == 1 ? 10 : 12;
    memset(b, 0, MAX_FRAME);
    if (*vnet) {
        b[0] = vmode == 3 ? COLO_VNET_HDR_F_NEEDS_CSUM : 0;
        p += *vnet;
    }
    memcpy(p, "\x52\x54\x00\x00\x00\x02\x52\x54\x00\x00\x00\x09", 12);
    p += 12;
    for (i = 0; i < (n_vlans == 3 ? 2 : n_vlans ? 1 : 0); i++) {
        put16(p, COLO_ETH_P_VLAN);
        put16(p + 2, n_vlans == 2 ? 6 : 5 + i);
        p += 4;
    }
    put16(p, v6 ? COLO_ETH_P_IPV6 : COLO_ETH_P_IPV4);
    p += 2;
    l3 = p - b;
    l4 = l3 + (v6 ? 40 : 20);

    opt = b + l4 + 20;
    if (d1 & COLO_TCP_SYN) {
        opt[optlen++] = COLO_TCPOPT_MSS;
        opt[optlen++] = 4;
        put16(opt + optlen, 1460);
        optlen += 2;
    }
    if (n_sack) {
        opt[optlen++] = COLO_TCPOPT_NOP;
        opt[optlen++] = COLO_TCPOPT_NOP;
        opt[optlen++] = COLO_TCPOPT_SACK;
        opt[optlen++] = 2 + 8 * n_sack;
        for (i = 0; i < n_sack; i++) {
            put32(opt + optlen, seqs[(d6 >> 3) & 15] + 100 * i);
            put32(opt + optlen + 4, seqs[(d6 >> 3) & 15] + 100 * i + 50);
            optlen += 8;
        }
    }
    if (ts && optlen <= 28) {
        opt[optlen++] = COLO_TCPOPT_NOP;
        opt[optlen++] = COLO_TCPOPT_NOP;
        opt[optlen++] = COLO_TCPOPT_TIMESTAMP;
        opt[optlen++] = 10;
        optlen += 8;
    }
    hl = 20 + optlen;
    len = l4 + hl + payload;
    if (len > MAX_FRAME) {
        payload -= len - MAX_FRAME;
        len = MAX_FRAME;
    }

    p = b + l3;
    if (v6) {
        put32(p, 0x60000000);
        put16(p + 4, hl + payload);
        p[6] = COLO_IPPROTO_TCP;
        p[7] = 64;
        put_addr(p + 8, true, *to_guest ? peer : guest);
        put_addr(p + 24, true, *to_guest ? guest : peer);
    } else {
        p[0] = 0x45;
        put16(p + 2, 20 + hl + payload);
        p[8] = 64;
        p[9] = COLO_IPPROTO_TCP;
        put_addr(p + 12, false, *to_guest ? peer : guest);
        put_addr(p + 16, false, *to_guest ? guest : peer);
    }
    p = b + l4;
    put16(p, *to_guest ? pport : gport);
    put16(p + 2, *to_guest ? gport : pport);
    put32(p + 4, seq);
    put32(p + 8, ack);
    p[12] = (hl / 4) << 4;
    p[13] = d1;
    put16(p + 14, 1000);
    for (i = 0; i < payload; i++) {
        p[hl + i] = i ^ d5;
    }
    if (colo_packet_parse(&pkt, b, len, *vnet) == COLO_PKT_OK) {
        if (!v6) {
            put16(b + l3 + 10, colo_ipv4_csum_compute(&pkt));
        }
        if (colo_l4_csum_compute(&pkt, &csum)) {
            put16(b + l4 + 16, csum);
        }
    }
    *damaged = d7 != 0;
    if (d7) {
        b[(d7 * 7u) % len] ^= d7;
        if (d7 & 1) {
            len -= d7 % len;
        }
    }
    return len;
}

static void on_event(const ColoRewriteEvent *ev, void *opaque)
{
    Fuzz *f = opaque;
    char buf[COLO_FLOW_KEY_STRLEN];

    f->n_events++;
    assert(ev->kind <= COLO_RW_EV_MALFORMED ||
           (f->park && ev->kind == COLO_RW_EV_PARKED));
    if (ev->kind == COLO_RW_EV_MALFORMED) {
        assert(!ev->key && ev->error != COLO_PKT_OK);
        return;
    }
    assert(ev->key && ev->key->proto == COLO_IPPROTO_TCP);
    colo_flow_key_format(ev->key, buf, sizeof(buf));
    if (ev->kind == COLO_RW_EV_REMOVED) {
        assert(ev->reason < COLO_RW_RM__MAX);
        assert(strcmp(colo_rewrite_reason_name(ev->reason), "invalid"));
    }
    if (ev->kind == COLO_RW_EV_PARKED) {
        assert(ev->dir == COLO_RW_TO_GUEST);
        f->n_parked_events++;
    }
}

static bool csum_ok(const uint8_t *b, size_t len, size_t vnet)
{
    ColoPacket pkt;

    if (colo_packet_parse(&pkt, b, len, vnet) != COLO_PKT_OK ||
        pkt.l4 != COLO_L4_TCP || pkt.is_fragment ||
        (pkt.vnet_flags & COLO_VNET_HDR_F_NEEDS_CSUM)) {
        return false;
    }
    return colo_l4_csum_verify(&pkt) &&
           (pkt.l3 != COLO_L3_IPV4 || colo_ipv4_csum_verify(&pkt));
}

/*
 * Could @frame be the release of the parked @p: same length and layout,
 * changed at most where the to-guest path rewrites?
 */
static bool parked_like(const Parked *p, const uint8_t *frame, size_t len,
                        size_t vnet)
{
    size_t l4 = p->l4_off, i;

    if (len != p->len || vnet != p->vnet) {
        return false;
    }
    for (i = 0; i < len; i++) {
        bool rewritable = (i >= l4 + 2 && i < l4 + 4) ||     /* dport */
                          (i >= l4 + 8 && i < l4 + 12) ||    /* ack */
                          (i >= l4 + 16 && i < l4 + 18) ||   /* csum */
                          (i >= l4 + COLO_TCP_HLEN &&
                           i < p->payload_off);              /* options */

        if (!rewritable && frame[i] != p->frame[i]) {
            return false;
        }
    }
    return true;
}

static void release(Fuzz *f);

static void on_release(const uint8_t *frame, size_t len, size_t vnet_hdr_len,
                       void *opaque)
{
    Fuzz *f = opaque;
    bool valid = csum_ok(frame, len, vnet_hdr_len);
    unsigned i, best = 0, rank = 3;
    ColoPacket pkt;

    f->n_released++;
    assert(len <= MAX_FRAME);
    assert(vnet_hdr_len == 0 || vnet_hdr_len == 10 || vnet_hdr_len == 12);
    /*
     * Parked frames that differ only in the rewritten fields cannot be
     * told apart here: take the same bytes first, else one whose
     * checksums were as valid, so that the checks hold for the frame
     * that really went in.
     */
    for (i = 0; i < f->n_parked; i++) {
        const Parked *p = &f->parked[i];
        unsigned r;

        if (!parked_like(p, frame, len, vnet_hdr_len)) {
            continue;
        }
        r = !memcmp(p->frame, frame, len) ? 0 : p->valid == valid ? 1 : 2;
        if (r < rank) {
            rank = r;
            best = i;
        }
    }
    assert(rank < 3);
    /* not valid, though every candidate was */
    assert(valid || rank < 2);
    assert(colo_packet_parse(&pkt, frame, len, vnet_hdr_len) ==
           COLO_PKT_OK);
    assert(pkt.l4 == COLO_L4_TCP && pkt.l4_off == f->parked[best].l4_off &&
           pkt.payload_off == f->parked[best].payload_off);
    g_free(f->parked[best].frame);
    f->n_parked--;
    memmove(&f->parked[best], &f->parked[best + 1],
            (f->n_parked - best) * sizeof(f->parked[0]));

    if (f->reenter && f->depth == 1) {
        /* allowed: the callback may call back into the rewriter */
        colo_rewriter_expire(f->rw, f->now);
        assert(colo_rewriter_check(f->rw));
        release(f);
    }
}

/* Release what is releasable; it all comes back, and only that */
static void release(Fuzz *f)
{
    uint32_t parked = colo_rewriter_parked(f->rw);
    uint32_t ready = colo_rewriter_releasable(f->rw);
    unsigned before = f->n_released;

    assert(ready <= parked);
    f->depth++;
    assert(colo_rewriter_release(f->rw, f->now, on_release, f) == ready);
    f->depth--;
    assert(f->n_released - before >= ready);
    assert(colo_rewriter_parked(f->rw) == parked - (f->n_released - before));
    assert(colo_rewriter_releasable(f->rw) <= colo_rewriter_parked(f->rw));
    if (!f->depth) {
        assert(f->n_parked == colo_rewriter_parked(f->rw));
    }
}

static void run_frame(Fuzz *f, uint8_t *frame, size_t len, size_t vnet,
                      bool to_guest, int64_t now)
{
    ColoRewriter *rw = f->rw;
    ColoRewriteDir dir = to_guest ? COLO_RW_TO_GUEST : COLO_RW_FROM_GUEST;
    uint8_t *orig = g_memdup2(frame, len);
    bool valid = csum_ok(frame, len, vnet);
    uint32_t parked = colo_rewriter_parked(rw);
    uint32_t ready = colo_rewriter_releasable(rw);
    unsigned parked_events = f->n_parked_events;
    ColoRewritePatch patch;
    ColoRewriteResult res;
    size_t ext, i;

    res = colo_rewriter_handle(rw, dir, frame, len, vnet, now, &patch);
    assert(colo_rewriter_releasable(rw) >= ready);
    if (res == COLO_RW_PARK) {
        /* consumed: the rewriter keeps a copy for colo_rewriter_release() */
        assert(f->park && dir == COLO_RW_TO_GUEST);
        assert(patch.pkt.l4 == COLO_L4_TCP);
        assert(memcmp(frame, orig, len) == 0);
        assert(colo_rewriter_parked(rw) == parked + 1);
        assert(f->n_parked_events == parked_events + f->events);
        assert(f->n_parked < PARK_MAX);
        f->parked[f->n_parked++] = (Parked) {
            .frame = orig,
            .len = len,
            .vnet = vnet,
            .l4_off = patch.pkt.l4_off,
            .payload_off = patch.pkt.payload_off,
            .valid = valid,
        };
        f->n_park_results++;
        orig = NULL;
    } else {
        assert(colo_rewriter_parked(rw) == parked);
        assert(f->n_parked_events == parked_events);
    }
    if (res != COLO_RW_REWRITTEN) {
        assert(patch.n_ops == 0);
        assert(!orig || memcmp(frame, orig, len) == 0);
        g_free(orig);
        return;
    }
    assert(patch.pkt.l4 == COLO_L4_TCP);
    ext = colo_rewrite_patch_extent(&patch);
    assert(ext <= len && ext >= patch.pkt.l4_off + COLO_TCP_HLEN);

    /* the adapter's way: patch an exact-size copy of the headers */
    {
        uint8_t *hdr = g_memdup2(frame, ext ? ext : 1);

        colo_rewrite_patch_apply(&patch, hdr);
        colo_rewrite_patch_apply(&patch, frame);
        assert(memcmp(hdr, frame, ext) == 0);
        g_free(hdr);
    }
    /* only the TCP header changed */
    for (i = 0; i < len; i++) {
        if (frame[i] != orig[i]) {
            assert(i >= patch.pkt.l4_off && i < patch.pkt.payload_off);
        }
    }
    if (valid) {
        assert(csum_ok(frame, len, vnet));
    }
    g_free(orig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Input in = { .p = data, .left = size };
    uint8_t c0 = next(&in);
    uint8_t c1 = (c0 & 0x80) ? next(&in) : 0;
    Fuzz f = {
        .park = c0 & 0x80,
        .events = !(c0 & 0x40),
        .reenter = c1 & 0x80,
    };
    ColoRewriterConfig cfg = {
        .max_connections = 1 + (c0 & 15),
        .idle_timeout_ns = (c0 & 0x10) ? 0 : 30 * NS_PER_S,
        .handshake_timeout_ns = 10 * NS_PER_S,
        .closed_linger_ns = (c0 & 0x20) ? 0 : 5 * NS_PER_S,
        .hash_seed = c0,
        .park_max = (c0 & 0x80) ? 1 + (c1 & 15) : 0,
        .park_timeout_ns = park_timeouts[(c1 >> 4) & 3],
        .event = (c0 & 0x40) ? NULL : on_event,
        .opaque = &f,
    };
    ColoRewriter *rw = colo_rewriter_new(&cfg);
    int64_t now = 0;
    uint8_t frame[MAX_FRAME];
    unsigned steps = 0;

    f.rw = rw;
    while (in.left && steps++ < 4096) {
        uint8_t op = next(&in);
        ColoRewriteCounters c;
        size_t len, vnet;
        bool to_guest, damaged;

        switch (op & 7) {
        case 0:
            colo_rewriter_checkpoint(rw);
            assert(colo_rewriter_releasable(rw) == colo_rewriter_parked(rw));
            break;
        case 1:
            if (op & 0x80) {
                colo_rewriter_failover(rw);
                assert(colo_rewriter_releasable(rw) ==
                       colo_rewriter_parked(rw));
            } else {
                now += NS_PER_S / 10;
            }
            break;
        case 2:
            now += (int64_t)next(&in) * NS_PER_S / 4;
            colo_rewriter_expire(rw, now);
            break;
        case 3:
            len = MIN(next(&in), in.left);
            memcpy(frame, in.p, len);
            in.p += len;
            in.left -= len;
            run_frame(&f, frame, len, (op & 0x40) ? 12 : 0, op & 0x80, now);
            break;
        default:
            len = build(&in, frame, &vnet, &to_guest, &damaged);
            run_frame(&f, frame, len, vnet, to_guest, now);
            break;
        }
        now += 1000;
        if ((op & 0x08) || (c1 & 0x40)) {
            f.now = now;
            release(&f);
        }
        colo_rewriter_counters(rw, &c);
        assert(c.connections <= cfg.max_connections);
        assert(c.pending <= c.connections);
        assert(c.parked == colo_rewriter_parked(rw) && c.parked == f.n_parked);
        assert(c.parked <= cfg.park_max);
        assert(c.parked_syn_acks <= f.n_park_results);
        assert(colo_rewriter_releasable(rw) <= c.parked);
        assert(!c.failed_over || colo_rewriter_releasable(rw) == c.parked);
        assert(colo_rewriter_check(rw));
    }
    if (f.park) {
        colo_rewriter_checkpoint(rw);
        f.now = now;
        release(&f);
        assert(colo_rewriter_parked(rw) == 0 && f.n_parked == 0);
        assert(colo_rewriter_check(rw));
    }
    colo_rewriter_free(rw);
    return 0;
}
