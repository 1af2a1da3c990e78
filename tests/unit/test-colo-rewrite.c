/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the COLO proxy TCP rewrite logic (net/colo-rewrite.c):
 * passive and active opens (with port mapping), concurrent and
 * simultaneous opens, retransmissions, SACK, teardown, checkpoint and
 * failover, sequence wrap-around, IPv6, VLAN, vnet headers, malformed
 * frames, the table bound under a SYN flood and idle expiry.
 *
 * Frames are built by hand with their checksums computed here, by a
 * naive implementation independent of net/colo.c.  A rewritten frame is
 * compared byte for byte with the frame built from the expected values,
 * and its checksum is checked three ways: against that frame, with the
 * packet layer's from-scratch computation, and with the naive one.
 */

#include "qemu/osdep.h"
#include "net/colo.h"
#include "net/colo-rewrite.h"

#define SEC(x) ((int64_t)(x) * 1000000000LL)

/*
 * Frame builder
 */

typedef struct Seg {
    bool v6;
    uint8_t src;            /* host number: 10.0.0.x or fd00::x */
    uint8_t dst;
    uint16_t sport;
    uint16_t dport;
    uint32_t seq;
    uint32_t ack;
    uint8_t flags;
    int n_vlans;
    uint16_t vlan[2];
    int n_sack;
    uint32_t sack[4][2];
    bool ts;
    bool tsecr_set;         /* TSecr = @tsecr instead of the default */
    uint32_t tsecr;
    size_t payload;
    size_t vnet;            /* vnet header length */
    bool needs_csum;        /* VIRTIO_NET_HDR_F_NEEDS_CSUM */
} Seg;

typedef struct Frame {
    uint8_t b[2048];
    size_t len;
    size_t l3;              /* offset of the IP header */
    size_t l4;              /* offset of the TCP header */
    size_t l4_len;          /* TCP header + payload */
    bool v6;
} Frame;

#define GUEST 2
#define PEER 9
#define PEER2 10

#define F_SYN COLO_TCP_SYN
#define F_ACK COLO_TCP_ACK
#define F_FIN COLO_TCP_FIN
#define F_RST COLO_TCP_RST
#define F_PSH COLO_TCP_PSH

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

static uint16_t get16(const uint8_t *p)
{
    return (p[0] << 8) | p[1];
}

static void put_addr(uint8_t *p, bool v6, uint8_t host)
{
    if (v6) {
        memset(p, 0, 16);
        p[0] = 0xfd;
        p[15] = host;
    } else {
        p[0] = 10;
        p[1] = 0;
        p[2] = 0;
        p[3] = host;
    }
}

/* Naive RFC 1071 sum over 16-bit big-endian words, no tricks. */
static uint32_t naive_sum(uint32_t sum, const uint8_t *p, size_t len)
{
    size_t i;

    for (i = 0; i + 1 < len; i += 2) {
        sum += get16(p + i);
    }
    if (len & 1) {
        sum += p[len - 1] << 8;
    }
    return sum;
}

static uint16_t naive_fold(uint32_t sum)
{
    while (sum > 0xffff) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

/* TCP checksum of @f computed naively, checksum field taken as zero. */
static uint16_t naive_tcp_csum(const Frame *f)
{
    uint8_t pseudo[40];
    uint8_t seg[2048];
    size_t alen = f->v6 ? 16 : 4;
    uint32_t sum;

    memcpy(pseudo, f->b + f->l3 + (f->v6 ? 8 : 12), 2 * alen);
    sum = naive_sum(0, pseudo, 2 * alen);
    sum += COLO_IPPROTO_TCP;
    sum += f->l4_len;
    memcpy(seg, f->b + f->l4, f->l4_len);
    seg[16] = seg[17] = 0;
    sum = naive_sum(sum, seg, f->l4_len);
    return ~naive_fold(sum) & 0xffff;
}

static void build(Frame *f, const Seg *s)
{
    uint8_t *p = f->b;
    size_t optlen = 0, hl, i;
    uint8_t opts[60];
    int v;

    memset(f, 0, sizeof(*f));
    f->v6 = s->v6;
    if (s->vnet) {
        p[0] = s->needs_csum ? COLO_VNET_HDR_F_NEEDS_CSUM : 0;
        p += s->vnet;
    }
    /* Ethernet */
    memcpy(p, "\x52\x54\x00\x00\x00\x02\x52\x54\x00\x00\x00\x09", 12);
    p += 12;
    for (v = 0; v < s->n_vlans; v++) {
        put16(p, COLO_ETH_P_VLAN);
        put16(p + 2, s->vlan[v]);
        p += 4;
    }
    put16(p, s->v6 ? COLO_ETH_P_IPV6 : COLO_ETH_P_IPV4);
    p += 2;
    f->l3 = p - f->b;

    /* TCP options */
    if (s->flags & F_SYN) {
        opts[optlen++] = COLO_TCPOPT_MSS;
        opts[optlen++] = 4;
        put16(opts + optlen, 1460);
        optlen += 2;
    }
    if (s->n_sack) {
        opts[optlen++] = COLO_TCPOPT_NOP;
        opts[optlen++] = COLO_TCPOPT_NOP;
        opts[optlen++] = COLO_TCPOPT_SACK;
        opts[optlen++] = 2 + 8 * s->n_sack;
        for (v = 0; v < s->n_sack; v++) {
            put32(opts + optlen, s->sack[v][0]);
            put32(opts + optlen + 4, s->sack[v][1]);
            optlen += 8;
        }
    }
    if (s->ts) {
        opts[optlen++] = COLO_TCPOPT_NOP;
        opts[optlen++] = COLO_TCPOPT_NOP;
        opts[optlen++] = COLO_TCPOPT_TIMESTAMP;
        opts[optlen++] = 10;
        put32(opts + optlen, 0x01020304);
        put32(opts + optlen + 4, s->tsecr_set ? s->tsecr : 0x05060708);
        optlen += 8;
    }
    g_assert_cmpuint(optlen % 4, ==, 0);
    g_assert_cmpuint(optlen, <=, 40);
    hl = 20 + optlen;
    f->l4_len = hl + s->payload;

    /* IP */
    if (s->v6) {
        put32(p, 0x60000000);
        put16(p + 4, f->l4_len);
        p[6] = COLO_IPPROTO_TCP;
        p[7] = 64;
        put_addr(p + 8, true, s->src);
        put_addr(p + 24, true, s->dst);
        p += 40;
    } else {
        p[0] = 0x45;
        put16(p + 2, 20 + f->l4_len);
        put16(p + 4, 0x1234);
        put16(p + 6, 0x4000);
        p[8] = 64;
        p[9] = COLO_IPPROTO_TCP;
        put_addr(p + 12, false, s->src);
        put_addr(p + 16, false, s->dst);
        put16(p + 10, ~naive_fold(naive_sum(0, p, 20)) & 0xffff);
        p += 20;
    }
    f->l4 = p - f->b;

    /* TCP */
    put16(p, s->sport);
    put16(p + 2, s->dport);
    put32(p + 4, s->seq);
    put32(p + 8, s->ack);
    p[12] = (hl / 4) << 4;
    p[13] = s->flags;
    put16(p + 14, 65535);
    memcpy(p + 20, opts, optlen);
    for (i = 0; i < s->payload; i++) {
        p[hl + i] = (uint8_t)(i * 7 + (i >> 8) + 3);
    }
    f->len = f->l4 + f->l4_len;
    if (s->needs_csum) {
        /* what a guest leaves there: the pseudo header sum only */
        put16(p + 16, 0xbeef);
    } else {
        put16(p + 16, naive_tcp_csum(f));
    }
}

/* Check the TCP checksum of a frame three ways. */
static void check_csum(const Frame *f, size_t vnet)
{
    ColoPacket pkt;
    uint16_t c;

    g_assert_cmpint(colo_packet_parse(&pkt, f->b, f->len, vnet), ==,
                    COLO_PKT_OK);
    g_assert_true(colo_l4_csum_verify(&pkt));
    g_assert_true(colo_l4_csum_compute(&pkt, &c));
    g_assert_cmphex(c, ==, get16(f->b + f->l4 + 16));
    g_assert_cmphex(naive_tcp_csum(f), ==, get16(f->b + f->l4 + 16));
}

/*
 * Rewriter harness
 */

typedef struct Ctx {
    ColoRewriter *rw;
    int64_t now;
    unsigned n_events[COLO_RW_EV_PARKED + 1];
    unsigned n_removed[COLO_RW_RM__MAX];
    ColoRewriteEvent last[COLO_RW_EV_PARKED + 1];
} Ctx;

static void on_event(const ColoRewriteEvent *ev, void *opaque)
{
    Ctx *ctx = opaque;

    ctx->n_events[ev->kind]++;
    ctx->last[ev->kind] = *ev;
    ctx->last[ev->kind].key = NULL;     /* only valid during the call */
    if (ev->kind == COLO_RW_EV_REMOVED) {
        ctx->n_removed[ev->reason]++;
    }
    if (ev->kind != COLO_RW_EV_MALFORMED) {
        g_assert_nonnull(ev->key);
    }
}

static void ctx_init_park(Ctx *ctx, uint32_t max, int64_t idle,
                          int64_t handshake, int64_t linger,
                          uint32_t park_max, int64_t park_timeout)
{
    ColoRewriterConfig cfg = {
        .max_connections = max,
        .idle_timeout_ns = idle,
        .handshake_timeout_ns = handshake,
        .closed_linger_ns = linger,
        .hash_seed = 0x1234567,
        .park_max = park_max,
        .park_timeout_ns = park_timeout,
        .event = on_event,
        .opaque = ctx,
    };

    memset(ctx, 0, sizeof(*ctx));
    ctx->now = SEC(1000);
    ctx->rw = colo_rewriter_new(&cfg);
}

static void ctx_init_full(Ctx *ctx, uint32_t max, int64_t idle,
                          int64_t handshake, int64_t linger)
{
    ctx_init_park(ctx, max, idle, handshake, linger, 0, 0);
}

static void ctx_init(Ctx *ctx)
{
    ctx_init_full(ctx, 1024, SEC(3600), SEC(120), SEC(60));
}

static void ctx_free(Ctx *ctx)
{
    g_assert_true(colo_rewriter_check(ctx->rw));
    colo_rewriter_free(ctx->rw);
}

static ColoRewriteCounters counters(Ctx *ctx)
{
    ColoRewriteCounters c;

    colo_rewriter_counters(ctx->rw, &c);
    return c;
}

/*
 * Send @in in direction @dir; expect @res and, if @want is given, the
 * frame built from @want (else @in unchanged).
 */
static void xfer(Ctx *ctx, ColoRewriteDir dir, const Seg *in,
                 ColoRewriteResult res, const Seg *want)
{
    Frame f, exp;
    ColoRewriteResult got;

    build(&f, in);
    build(&exp, want ? want : in);
    ctx->now += 1000;
    if (dir == COLO_RW_TO_GUEST) {
        got = colo_rewriter_to_guest(ctx->rw, f.b, f.len, in->vnet, ctx->now);
    } else {
        got = colo_rewriter_from_guest(ctx->rw, f.b, f.len, in->vnet,
                                       ctx->now);
    }
    g_assert_cmpstr(colo_rewrite_result_name(got), ==,
                    colo_rewrite_result_name(res));
    g_assert_cmpuint(f.len, ==, exp.len);
    if (memcmp(f.b, exp.b, f.len)) {
        size_t i;

        for (i = 0; i < f.len; i++) {
            if (f.b[i] != exp.b[i]) {
                g_test_message("byte %zu: got %02x want %02x", i, f.b[i],
                               exp.b[i]);
            }
        }
        g_assert_not_reached();
    }
    if (!in->needs_csum) {
        check_csum(&f, in->vnet);
    }
    g_assert_true(colo_rewriter_check(ctx->rw));
}

#define TO COLO_RW_TO_GUEST
#define FROM COLO_RW_FROM_GUEST
#define REWRITTEN COLO_RW_REWRITTEN
#define UNCHANGED COLO_RW_UNCHANGED
#define UNTRACKED COLO_RW_UNTRACKED

/* Segment from the guest (port @gp) to the peer (port @pp) and back */
static Seg g2p(uint16_t gp, uint16_t pp, uint32_t seq, uint32_t ack,
               uint8_t flags, size_t payload)
{
    return (Seg) {
        .src = GUEST, .dst = PEER, .sport = gp, .dport = pp,
        .seq = seq, .ack = ack, .flags = flags, .payload = payload,
    };
}

static Seg p2g(uint16_t pp, uint16_t gp, uint32_t seq, uint32_t ack,
               uint8_t flags, size_t payload)
{
    return (Seg) {
        .src = PEER, .dst = GUEST, .sport = pp, .dport = gp,
        .seq = seq, .ack = ack, .flags = flags, .payload = payload,
    };
}

static void lookup(Ctx *ctx, uint8_t peer, uint16_t gport, uint16_t pport,
                   bool v6, ColoRewriteConnInfo *info)
{
    ColoFlowKey k;

    memset(&k, 0, sizeof(k));
    k.family = v6 ? COLO_FAMILY_IPV6 : COLO_FAMILY_IPV4;
    k.proto = COLO_IPPROTO_TCP;
    put_addr(k.src, v6, GUEST);
    put_addr(k.dst, v6, peer);
    k.sport = gport;
    k.dport = pport;
    colo_rewriter_lookup(ctx->rw, &k, info);
}

/*
 * Opening helpers.  Ip/Is: the primary's/secondary's ISN, P: the peer's.
 * On return the connection is established on both sides.
 */

/* The peer connects to guest port @gp from @pp. */
static void passive_open(Ctx *ctx, uint16_t pp, uint16_t gp, uint32_t P,
                         uint32_t Ip, uint32_t Is)
{
    Seg s, w;

    s = p2g(pp, gp, P, 0, F_SYN, 0);
    xfer(ctx, TO, &s, UNCHANGED, NULL);
    /* the guest's SYN-ACK passes with its own ISN: offset not known yet */
    s = g2p(gp, pp, Is, P + 1, F_SYN | F_ACK, 0);
    xfer(ctx, FROM, &s, UNCHANGED, NULL);
    /* the peer acknowledges the primary's SYN-ACK */
    s = p2g(pp, gp, P + 1, Ip + 1, F_ACK, 0);
    w = s;
    w.ack = Is + 1;
    xfer(ctx, TO, &s, Ip == Is ? UNCHANGED : REWRITTEN, &w);
}

/* The guest connects from @gs (the primary from @gpri) to peer port @pp. */
static void active_open(Ctx *ctx, uint16_t gs, uint16_t gpri, uint16_t pp,
                        uint32_t P, uint32_t Ip, uint32_t Is)
{
    Seg s, w;
    bool same = gs == gpri && Ip == Is;

    s = g2p(gs, pp, Is, 0, F_SYN, 0);
    xfer(ctx, FROM, &s, UNCHANGED, NULL);
    s = p2g(pp, gpri, P, Ip + 1, F_SYN | F_ACK, 0);
    w = s;
    w.dport = gs;
    w.ack = Is + 1;
    xfer(ctx, TO, &s, same ? UNCHANGED : REWRITTEN, &w);
    s = g2p(gs, pp, Is + 1, P + 1, F_ACK, 0);
    w = s;
    w.sport = gpri;
    w.seq = Ip + 1;
    xfer(ctx, FROM, &s, same ? UNCHANGED : REWRITTEN, &w);
}

/* Data both ways on an established connection; returns nothing. */
static void exchange(Ctx *ctx, uint16_t gs, uint16_t gpri, uint16_t pp,
                     uint32_t pseq, uint32_t Ip, uint32_t Is, size_t n)
{
    Seg s, w;
    bool same = gs == gpri && Ip == Is;

    /* guest sends n bytes at relative position 1 */
    s = g2p(gs, pp, Is + 1, pseq, F_ACK | F_PSH, n);
    w = s;
    w.sport = gpri;
    w.seq = Ip + 1;
    xfer(ctx, FROM, &s, same ? UNCHANGED : REWRITTEN, &w);
    /* peer acks them and sends n bytes */
    s = p2g(pp, gpri, pseq, Ip + 1 + n, F_ACK | F_PSH, n);
    w = s;
    w.dport = gs;
    w.ack = Is + 1 + n;
    xfer(ctx, TO, &s, same ? UNCHANGED : REWRITTEN, &w);
}

/* Frames handed back by colo_rewriter_release() */
#define MAX_RELEASED 8

typedef struct Released {
    unsigned n;
    Frame f[MAX_RELEASED];
} Released;

static void on_release(const uint8_t *frame, size_t len, size_t vnet_hdr_len,
                       void *opaque)
{
    Released *rel = opaque;

    g_assert_cmpuint(rel->n, <, MAX_RELEASED);
    g_assert_cmpuint(len, <=, sizeof(rel->f[0].b));
    g_assert_cmpuint(vnet_hdr_len, ==, 0);
    memcpy(rel->f[rel->n].b, frame, len);
    rel->f[rel->n].len = len;
    rel->n++;
}

/*
 * Release the releasable parked frames; expect exactly @n of them, equal
 * byte for byte to the frames built from @want, checksums valid.
 */
static void expect_released(Ctx *ctx, unsigned n, const Seg *want)
{
    g_autofree Released *rel = g_new0(Released, 1);
    Frame exp;
    unsigned i;

    g_assert_cmpuint(colo_rewriter_releasable(ctx->rw), ==, n);
    g_assert_cmpuint(colo_rewriter_release(ctx->rw, ctx->now, on_release,
                                           rel), ==, n);
    g_assert_cmpuint(rel->n, ==, n);
    for (i = 0; i < n; i++) {
        build(&exp, &want[i]);
        g_assert_cmpuint(rel->f[i].len, ==, exp.len);
        g_assert_cmpmem(rel->f[i].b, rel->f[i].len, exp.b, exp.len);
        /* the f[i] offsets are those of the built frame */
        exp.len = rel->f[i].len;
        memcpy(exp.b, rel->f[i].b, exp.len);
        check_csum(&exp, 0);
    }
    g_assert_cmpuint(colo_rewriter_releasable(ctx->rw), ==, 0);
    g_assert_true(colo_rewriter_check(ctx->rw));
}

/*
 * Tests
 */

#define PARK COLO_RW_PARK

/*
 * The peer's SYN-ACK (mirrored from the primary) comes before the
 * secondary guest's SYN: parked, paired when the SYN comes, then
 * released rewritten.
 */
/*
 * Once the primary's SYN-ACK from peer port 80 to 51234, parked, was
 * claimed by the guest's SYN from port 40000: the guest's ACK completes
 * the handshake and data flows both ways, all of it rewritten, the
 * peer's next byte being @pseq.
 */
static void claimed_flow_runs(Ctx *ctx, uint32_t P, uint32_t Ip,
                              uint32_t Is, uint32_t pseq)
{
    Seg s = g2p(40000, 80, Is + 1, P + 1, F_ACK, 0), w = s;

    w.sport = 51234;
    w.seq = Ip + 1;
    xfer(ctx, FROM, &s, REWRITTEN, &w);
    exchange(ctx, 40000, 51234, 80, pseq, Ip, Is, 300);
}

static void test_park_syn_ack_first(void)
{
    Ctx ctx;
    Seg s, w[3];
    ColoRewriteConnInfo info;
    ColoRewriteCounters c;
    const uint32_t P = 777, Ip = 0x80000000, Is = 0x7fff0000;

    ctx_init_park(&ctx, 1024, SEC(3600), SEC(120), SEC(60), 64, SEC(1));
    s = p2g(80, 51234, P, Ip + 1, F_SYN | F_ACK, 0);
    s.ts = true;
    xfer(&ctx, TO, &s, PARK, NULL);
    /* its retransmission is parked too */
    xfer(&ctx, TO, &s, PARK, NULL);
    c = counters(&ctx);
    /* data of the flow that follows it waits behind it */
    s = p2g(80, 51234, P + 1, Ip + 1, F_ACK | F_PSH, 50);
    xfer(&ctx, TO, &s, PARK, NULL);
    c = counters(&ctx);
    g_assert_cmpuint(c.parked_syn_acks, ==, 2);
    g_assert_cmpuint(c.parked, ==, 3);
    g_assert_cmpuint(c.unmatched_syn_acks, ==, 0);
    g_assert_cmpuint(c.ports_mapped, ==, 0);
    g_assert_cmpuint(ctx.n_events[COLO_RW_EV_PARKED], ==, 3);
    g_assert_cmpuint(colo_rewriter_parked(ctx.rw), ==, 3);
    expect_released(&ctx, 0, NULL);

    /* a SYN to another destination does not claim it */
    s = g2p(40001, 81, 5, 0, F_SYN, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    g_assert_cmpuint(colo_rewriter_releasable(ctx.rw), ==, 0);

    /* the guest's SYN (TSval 0x01020304): paired, passes as it is */
    s = g2p(40000, 80, Is, 0, F_SYN, 0);
    s.ts = true;
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    c = counters(&ctx);
    g_assert_cmpuint(c.ports_mapped, ==, 1);
    g_assert_cmpuint(c.pending, ==, 1);     /* the SYN to port 81 */
    lookup(&ctx, PEER, 40000, 80, false, &info);
    g_assert_true(info.found);
    g_assert_true(info.paired);
    g_assert_cmpuint(info.primary_port, ==, 51234);

    /*
     * both copies go out rewritten, echoing the guest's SYN timestamp
     * (the primary's, 0x05060708, may be older than the guest's SYN)
     */
    s = p2g(80, 51234, P, Ip + 1, F_SYN | F_ACK, 0);
    s.ts = true;
    w[0] = s;
    w[0].dport = 40000;
    w[0].ack = Is + 1;
    w[0].tsecr_set = true;
    w[0].tsecr = 0x01020304;
    w[1] = w[0];
    w[2] = p2g(80, 40000, P + 1, Is + 1, F_ACK | F_PSH, 50);
    expect_released(&ctx, 3, w);
    c = counters(&ctx);
    g_assert_cmpuint(c.parked, ==, 0);
    g_assert_cmpuint(c.offsets_learned, ==, 1);
    g_assert_cmpuint(c.unmatched_syn_acks, ==, 0);
    lookup(&ctx, PEER, 40000, 80, false, &info);
    g_assert_true(info.offset_known);
    g_assert_cmphex(info.offset, ==, Ip - Is);

    /* the handshake completes and data flows rewritten both ways */
    claimed_flow_runs(&ctx, P, Ip, Is, P + 51);
    ctx_free(&ctx);
}

/*
 * A frame of the flow that comes after the guest's SYN claimed the
 * parked SYN-ACK, but before the claimed frames were released, goes out
 * right behind them, rewritten, not after the park timeout unchanged.
 * After a checkpoint the claimed frames go out unchanged, and so does a
 * frame parked behind them.
 */
/*
 * Start a rewriter that parks, and park the primary's SYN-ACK from peer
 * port 80 to 51234 (seq @P, acking @Ip + 1), with a timestamp if @ts.
 * Returns it; *@claimed is it as the guest gets it once its SYN from
 * port 40000 (ISN @Is) claimed it.
 */
static Seg park_syn_ack(Ctx *ctx, uint32_t P, uint32_t Ip, uint32_t Is,
                        bool ts, Seg *claimed)
{
    Seg s = p2g(80, 51234, P, Ip + 1, F_SYN | F_ACK, 0);

    ctx_init_park(ctx, 1024, SEC(3600), SEC(120), SEC(60), 64, SEC(1));
    s.ts = ts;
    xfer(ctx, TO, &s, PARK, NULL);
    *claimed = s;
    claimed->dport = 40000;
    claimed->ack = Is + 1;
    return s;
}

static void test_park_claimed_flow(void)
{
    Ctx ctx;
    Seg s, w[2];
    ColoRewriteCounters c;
    const uint32_t P = 777, Ip = 0x80000000, Is = 0x7fff0000;

    park_syn_ack(&ctx, P, Ip, Is, true, &w[0]);
    w[0].tsecr_set = true;
    w[0].tsecr = 0x01020304;
    /* another flow to the same destination, never claimed */
    s = p2g(80, 51299, 5, 9001, F_SYN | F_ACK, 0);
    xfer(&ctx, TO, &s, PARK, NULL);

    /* the guest's SYN claims the oldest SYN-ACK: releasable at once */
    s = g2p(40000, 80, Is, 0, F_SYN, 0);
    s.ts = true;
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    g_assert_cmpuint(colo_rewriter_releasable(ctx.rw), ==, 1);

    /* data of the claimed flow before the release: parked, releasable */
    s = p2g(80, 51234, P + 1, Ip + 1, F_ACK | F_PSH, 50);
    xfer(&ctx, TO, &s, PARK, NULL);
    w[1] = p2g(80, 40000, P + 1, Is + 1, F_ACK | F_PSH, 50);
    /* data of the unclaimed flow keeps waiting behind its SYN-ACK */
    s = p2g(80, 51299, 6, 9001, F_ACK | F_PSH, 10);
    xfer(&ctx, TO, &s, PARK, NULL);
    g_assert_cmpuint(colo_rewriter_parked(ctx.rw), ==, 4);
    g_assert_cmpuint(colo_rewriter_releasable(ctx.rw), ==, 2);

    /* both go out now, in order, rewritten */
    expect_released(&ctx, 2, w);
    c = counters(&ctx);
    g_assert_cmpuint(c.parked, ==, 2);
    g_assert_cmpuint(c.offsets_learned, ==, 1);
    g_assert_cmpuint(c.unmatched_syn_acks, ==, 0);

    /* nothing of the flow is parked any more: rewritten at once */
    s = p2g(80, 51234, P + 51, Ip + 1, F_ACK, 0);
    w[0] = s;
    w[0].dport = 40000;
    w[0].ack = Is + 1;
    xfer(&ctx, TO, &s, REWRITTEN, &w[0]);
    s = g2p(40000, 80, Is + 1, P + 51, F_ACK, 0);
    w[0] = s;
    w[0].sport = 51234;
    w[0].seq = Ip + 1;
    xfer(&ctx, FROM, &s, REWRITTEN, &w[0]);
    ctx_free(&ctx);

    /*
     * A checkpoint between the claim and the release: the guest now uses
     * the primary's port and numbers, so the claimed SYN-ACK and the
     * frame parked behind it afterwards go out unchanged.
     */
    ctx_init_park(&ctx, 1024, SEC(3600), SEC(120), SEC(60), 64, SEC(1));
    s = p2g(80, 51234, P, Ip + 1, F_SYN | F_ACK, 0);
    xfer(&ctx, TO, &s, PARK, NULL);
    w[0] = s;
    s = g2p(40000, 80, Is, 0, F_SYN, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    g_assert_cmpuint(colo_rewriter_checkpoint(ctx.rw), ==, 1);
    s = p2g(80, 51234, P + 1, Ip + 1, F_ACK | F_PSH, 50);
    xfer(&ctx, TO, &s, PARK, NULL);
    w[1] = s;
    expect_released(&ctx, 2, w);
    c = counters(&ctx);
    g_assert_cmpuint(c.parked, ==, 0);
    g_assert_cmpuint(c.connections, ==, 0);
    g_assert_cmpuint(c.offsets_learned, ==, 0);
    g_assert_cmpuint(c.unmatched_syn_acks, ==, 0);
    ctx_free(&ctx);
}

/*
 * Failover between the claim of a parked SYN-ACK and its release: the
 * connection is kept, so the SYN-ACK still goes out rewritten (the
 * primary's port and ack would make the guest answer with a RST); an
 * unclaimed one goes out unchanged.  Likewise when a checkpoint event
 * comes after the failover.
 */
static void test_park_failover(void)
{
    Ctx ctx;
    Seg s, w[2];
    ColoRewriteConnInfo info;
    ColoRewriteCounters c;
    const uint32_t P = 777, Ip = 0x80000000, Is = 0x7fff0000;

    park_syn_ack(&ctx, P, Ip, Is, false, &w[0]);
    s = p2g(80, 51235, 2, 2001, F_SYN | F_ACK, 0);
    s.src = PEER2;
    xfer(&ctx, TO, &s, PARK, NULL);
    w[1] = s;
    s = g2p(40000, 80, Is, 0, F_SYN, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    g_assert_cmpuint(colo_rewriter_releasable(ctx.rw), ==, 1);

    g_assert_cmpuint(colo_rewriter_failover(ctx.rw), ==, 0);
    g_assert_cmpuint(counters(&ctx).connections, ==, 1);
    expect_released(&ctx, 2, w);
    c = counters(&ctx);
    g_assert_cmpuint(c.parked, ==, 0);
    g_assert_cmpuint(c.offsets_learned, ==, 1);
    g_assert_cmpuint(c.unmatched_syn_acks, ==, 1);
    lookup(&ctx, PEER, 40000, 80, false, &info);
    g_assert_true(info.offset_known);
    g_assert_cmpuint(info.primary_port, ==, 51234);
    g_assert_cmphex(info.offset, ==, Ip - Is);
    /* the handshake completes and data flows rewritten both ways */
    claimed_flow_runs(&ctx, P, Ip, Is, P + 1);
    ctx_free(&ctx);

    /* a checkpoint event after the failover changes nothing */
    park_syn_ack(&ctx, P, Ip, Is, false, &w[0]);
    s = g2p(40000, 80, Is, 0, F_SYN, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    g_assert_cmpuint(colo_rewriter_failover(ctx.rw), ==, 0);
    g_assert_cmpuint(colo_rewriter_checkpoint(ctx.rw), ==, 0);
    expect_released(&ctx, 1, w);
    g_assert_cmpuint(counters(&ctx).offsets_learned, ==, 1);
    g_assert_cmpuint(counters(&ctx).unmatched_syn_acks, ==, 0);
    ctx_free(&ctx);

    /*
     * A frame of a flow whose parked SYN-ACK the failover let go, before
     * the release: it goes right behind, unchanged too.
     */
    w[0] = park_syn_ack(&ctx, P, Ip, Is, false, &w[1]);
    g_assert_cmpuint(colo_rewriter_failover(ctx.rw), ==, 0);
    s = p2g(80, 51234, P + 1, Ip + 1, F_ACK | F_PSH, 20);
    xfer(&ctx, TO, &s, PARK, NULL);
    w[1] = s;
    expect_released(&ctx, 2, w);
    g_assert_cmpuint(counters(&ctx).parked, ==, 0);
    ctx_free(&ctx);
}

/* A parked SYN-ACK nobody claims goes out unchanged after the timeout */
static void test_park_timeout(void)
{
    Ctx ctx;
    Seg s, w[2];

    ctx_init_park(&ctx, 1024, SEC(3600), SEC(120), SEC(60), 64, SEC(1));
    s = p2g(80, 51234, 1, 1001, F_SYN | F_ACK, 0);
    xfer(&ctx, TO, &s, PARK, NULL);
    w[0] = s;
    ctx.now += SEC(1) / 2;
    colo_rewriter_expire(ctx.rw, ctx.now);
    expect_released(&ctx, 0, NULL);
    /* a later frame of the flow goes out with it, in order */
    s = p2g(80, 51234, 2, 1001, F_ACK, 10);
    xfer(&ctx, TO, &s, PARK, NULL);
    w[1] = s;
    ctx.now += SEC(1) / 2 + 1000;
    colo_rewriter_expire(ctx.rw, ctx.now);
    expect_released(&ctx, 2, w);
    g_assert_cmpuint(counters(&ctx).unmatched_syn_acks, ==, 1);
    g_assert_cmpuint(counters(&ctx).parked, ==, 0);
    g_assert_cmpuint(ctx.n_events[COLO_RW_EV_UNMATCHED], ==, 1);

    /* a SYN coming later stays pending */
    s = g2p(40000, 80, 500, 0, F_SYN, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    g_assert_cmpuint(counters(&ctx).pending, ==, 1);
    g_assert_cmpuint(counters(&ctx).ports_mapped, ==, 0);

    /* at failover, parked frames go out unchanged too */
    s = p2g(80, 51235, 2, 2001, F_SYN | F_ACK, 0);
    s.src = PEER2;
    xfer(&ctx, TO, &s, PARK, NULL);
    w[0] = s;
    colo_rewriter_failover(ctx.rw);
    expect_released(&ctx, 1, w);
    g_assert_cmpuint(counters(&ctx).unmatched_syn_acks, ==, 2);
    ctx_free(&ctx);
}

/* Two opens to one destination, SYN-ACKs and SYNs in either order */
static void test_park_concurrent(void)
{
    Ctx ctx;
    Seg s, w[2];
    ColoRewriteConnInfo info;

    /* both SYN-ACKs first; the second is for the guest's own port */
    ctx_init_park(&ctx, 1024, SEC(3600), SEC(120), SEC(60), 64, SEC(1));
    s = p2g(443, 50000, 7, 100001, F_SYN | F_ACK, 0);
    xfer(&ctx, TO, &s, PARK, NULL);
    w[0] = s;
    w[0].dport = 40000;
    w[0].ack = 2001;
    s = p2g(443, 40001, 8, 200001, F_SYN | F_ACK, 0);
    xfer(&ctx, TO, &s, PARK, NULL);
    w[1] = s;
    w[1].ack = 1001;
    /* the SYN from port 40001 claims the SYN-ACK for port 40001 */
    s = g2p(40001, 443, 1000, 0, F_SYN, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    s = g2p(40000, 443, 2000, 0, F_SYN, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    expect_released(&ctx, 2, w);
    lookup(&ctx, PEER, 40000, 443, false, &info);
    g_assert_cmpuint(info.primary_port, ==, 50000);
    g_assert_cmphex(info.offset, ==, 100000 - 2000);
    lookup(&ctx, PEER, 40001, 443, false, &info);
    g_assert_cmpuint(info.primary_port, ==, 40001);
    g_assert_cmphex(info.offset, ==, 200000 - 1000);
    exchange(&ctx, 40000, 50000, 443, 8, 100000, 2000, 10);
    exchange(&ctx, 40001, 40001, 443, 9, 200000, 1000, 20);
    ctx_free(&ctx);

    /* one SYN-ACK first, then the SYNs, then the other SYN-ACK */
    ctx_init_park(&ctx, 1024, SEC(3600), SEC(120), SEC(60), 64, SEC(1));
    s = p2g(443, 50000, 7, 100001, F_SYN | F_ACK, 0);
    xfer(&ctx, TO, &s, PARK, NULL);
    w[0] = s;
    w[0].dport = 40000;
    w[0].ack = 1001;
    s = g2p(40000, 443, 1000, 0, F_SYN, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    s = g2p(40001, 443, 2000, 0, F_SYN, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    g_assert_cmpuint(counters(&ctx).pending, ==, 1);
    s = p2g(443, 50001, 8, 200001, F_SYN | F_ACK, 0);
    w[1] = s;
    w[1].dport = 40001;
    w[1].ack = 2001;
    xfer(&ctx, TO, &s, REWRITTEN, &w[1]);
    expect_released(&ctx, 1, w);
    exchange(&ctx, 40000, 50000, 443, 8, 100000, 1000, 10);
    exchange(&ctx, 40001, 50001, 443, 9, 200000, 2000, 20);
    g_assert_cmpuint(counters(&ctx).ports_mapped, ==, 2);
    g_assert_cmpuint(counters(&ctx).parked_syn_acks, ==, 1);
    g_assert_cmpuint(counters(&ctx).unmatched_syn_acks, ==, 0);
    ctx_free(&ctx);
}

/* At most park_max SYN-ACKs are parked; a checkpoint releases them */
static void test_park_bound(void)
{
    Ctx ctx;
    Seg s, w[3];
    int i;

    ctx_init_park(&ctx, 1024, SEC(3600), SEC(120), SEC(60), 3, SEC(1));
    for (i = 0; i < 3; i++) {
        s = p2g(80 + i, 50000, 7, 1001, F_SYN | F_ACK, 0);
        xfer(&ctx, TO, &s, PARK, NULL);
        w[i] = s;
    }
    s = p2g(90, 50000, 7, 1001, F_SYN | F_ACK, 0);
    xfer(&ctx, TO, &s, UNTRACKED, NULL);
    g_assert_cmpuint(counters(&ctx).parked, ==, 3);
    g_assert_cmpuint(counters(&ctx).parked_syn_acks, ==, 3);
    g_assert_cmpuint(counters(&ctx).unmatched_syn_acks, ==, 1);
    colo_rewriter_checkpoint(ctx.rw);
    expect_released(&ctx, 3, w);
    g_assert_cmpuint(counters(&ctx).parked, ==, 0);
    g_assert_cmpuint(counters(&ctx).unmatched_syn_acks, ==, 4);
    /* room again */
    xfer(&ctx, TO, &s, PARK, NULL);
    ctx_free(&ctx);
}

static void test_passive_open(void)
{
    Ctx ctx;
    ColoRewriteConnInfo info;
    ColoRewriteCounters c;
    const uint32_t P = 1000, Ip = 0x40000000, Is = 0x12345678;

    ctx_init(&ctx);
    passive_open(&ctx, 5000, 80, P, Ip, Is);
    exchange(&ctx, 80, 80, 5000, P + 1, Ip, Is, 100);

    lookup(&ctx, PEER, 80, 5000, false, &info);
    g_assert_true(info.found);
    g_assert_false(info.active);
    g_assert_true(info.offset_known);
    g_assert_true(info.rewriting);
    g_assert_cmphex(info.offset, ==, Ip - Is);
    g_assert_cmpuint(info.primary_port, ==, 80);

    c = counters(&ctx);
    g_assert_cmpuint(c.connections, ==, 1);
    g_assert_cmpuint(c.offsets_learned, ==, 1);
    g_assert_cmpuint(c.ports_mapped, ==, 0);
    g_assert_cmpuint(c.frames_rewritten, ==, 3);
    g_assert_cmpuint(ctx.n_events[COLO_RW_EV_OFFSET_LEARNED], ==, 1);
    g_assert_cmphex(ctx.last[COLO_RW_EV_OFFSET_LEARNED].offset, ==, Ip - Is);
    ctx_free(&ctx);
}

static void test_active_open(void)
{
    Ctx ctx;
    ColoRewriteConnInfo info;
    ColoRewriteCounters c;
    const uint32_t P = 777, Ip = 0x80000000, Is = 0x7fff0000;

    ctx_init(&ctx);
    active_open(&ctx, 40000, 51234, 80, P, Ip, Is);
    exchange(&ctx, 40000, 51234, 80, P + 1, Ip, Is, 300);

    lookup(&ctx, PEER, 40000, 80, false, &info);
    g_assert_true(info.found);
    g_assert_true(info.active);
    g_assert_true(info.paired);
    g_assert_cmpuint(info.guest_port, ==, 40000);
    g_assert_cmpuint(info.primary_port, ==, 51234);
    g_assert_cmphex(info.offset, ==, Ip - Is);
    /* the guest's table knows the flow only under the guest's port */
    lookup(&ctx, PEER, 51234, 80, false, &info);
    g_assert_false(info.found);

    c = counters(&ctx);
    g_assert_cmpuint(c.ports_mapped, ==, 1);
    g_assert_cmpuint(c.offsets_learned, ==, 1);
    g_assert_cmpuint(c.pending, ==, 0);
    g_assert_cmpuint(ctx.last[COLO_RW_EV_PORT_MAPPED].guest_port, ==, 40000);
    g_assert_cmpuint(ctx.last[COLO_RW_EV_PORT_MAPPED].primary_port, ==,
                     51234);

    /* A frame of the primary's port that is not part of it: untouched */
    {
        Seg s = p2g(81, 51234, 5, 6, F_ACK, 0);

        xfer(&ctx, TO, &s, UNTRACKED, NULL);
    }
    ctx_free(&ctx);
}

/* Same ports on both sides: only the offset is applied */
static void test_active_same_port(void)
{
    Ctx ctx;
    const uint32_t P = 1, Ip = 500, Is = 100;

    ctx_init(&ctx);
    active_open(&ctx, 40000, 40000, 22, P, Ip, Is);
    exchange(&ctx, 40000, 40000, 22, P + 1, Ip, Is, 10);
    g_assert_cmpuint(counters(&ctx).ports_mapped, ==, 1);
    ctx_free(&ctx);
}

/*
 * Several guest SYNs to one destination: paired oldest first, a SYN from
 * the primary's very port first of all; other destinations never mix.
 */
static void test_concurrent_active(void)
{
    Ctx ctx;
    Seg s, w;
    ColoRewriteConnInfo info;
    const uint16_t gs[4] = { 40000, 40001, 40002, 40003 };
    int i;

    ctx_init(&ctx);
    for (i = 0; i < 4; i++) {
        s = g2p(gs[i], 443, 1000 * (i + 1), 0, F_SYN, 0);
        xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    }
    /* a SYN to another peer, sent before the SYN-ACKs */
    s = g2p(40010, 443, 99, 0, F_SYN, 0);
    s.dst = PEER2;
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    g_assert_cmpuint(counters(&ctx).pending, ==, 5);

    /*
     * SYN-ACKs arrive for the primary's ports 50000, 40003, 50002:
     * 50000 -> the oldest (40000), 40003 -> the SYN from port 40003,
     * 50002 -> the oldest left (40001).
     */
    s = p2g(443, 50000, 7, 100001, F_SYN | F_ACK, 0);
    w = s;
    w.dport = 40000;
    w.ack = 1001;
    xfer(&ctx, TO, &s, REWRITTEN, &w);

    s = p2g(443, 40003, 8, 200001, F_SYN | F_ACK, 0);
    w = s;
    w.ack = 4001;
    xfer(&ctx, TO, &s, REWRITTEN, &w);

    s = p2g(443, 50002, 9, 300001, F_SYN | F_ACK, 0);
    w = s;
    w.dport = 40001;
    w.ack = 2001;
    xfer(&ctx, TO, &s, REWRITTEN, &w);

    /* the other peer's SYN-ACK pairs with the SYN to it */
    s = p2g(443, 60000, 10, 5001, F_SYN | F_ACK, 0);
    s.src = PEER2;
    w = s;
    w.dport = 40010;
    w.ack = 100;
    xfer(&ctx, TO, &s, REWRITTEN, &w);

    g_assert_cmpuint(counters(&ctx).pending, ==, 1);
    lookup(&ctx, PEER, 40002, 443, false, &info);
    g_assert_true(info.found);
    g_assert_false(info.paired);
    lookup(&ctx, PEER, 40001, 443, false, &info);
    g_assert_cmpuint(info.primary_port, ==, 50002);
    g_assert_cmphex(info.offset, ==, 300000 - 2000);

    /* each connection carries on with its own mapping */
    s = g2p(40001, 443, 2001, 10, F_ACK, 5);
    w = s;
    w.sport = 50002;
    w.seq = 300001;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);
    s = g2p(40003, 443, 4001, 9, F_ACK, 5);
    w = s;
    w.seq = 200001;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);

    /* a SYN-ACK for a destination with no pending SYN: untouched */
    s = p2g(444, 50000, 11, 12, F_SYN | F_ACK, 0);
    xfer(&ctx, TO, &s, UNTRACKED, NULL);
    g_assert_cmpuint(counters(&ctx).unmatched_syn_acks, ==, 1);
    g_assert_cmpuint(ctx.n_events[COLO_RW_EV_UNMATCHED], ==, 1);
    ctx_free(&ctx);
}

/* Both sides send a SYN on the same (bound) ports */
static void test_simultaneous_open(void)
{
    Ctx ctx;
    Seg s, w;
    const uint32_t P = 3000, Ip = 9000, Is = 6000;

    ctx_init(&ctx);
    s = g2p(7000, 7001, Is, 0, F_SYN, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    /* the peer's SYN crosses the primary's */
    s = p2g(7001, 7000, P, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    g_assert_cmpuint(counters(&ctx).pending, ==, 0);
    /* the guest answers with a SYN-ACK: offset still unknown */
    s = g2p(7000, 7001, Is, P + 1, F_SYN | F_ACK, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    /* the peer's SYN-ACK acknowledges the primary's SYN */
    s = p2g(7001, 7000, P, Ip + 1, F_SYN | F_ACK, 0);
    w = s;
    w.ack = Is + 1;
    xfer(&ctx, TO, &s, REWRITTEN, &w);
    /* the guest's SYN-ACK retransmitted now carries the primary's ISN */
    s = g2p(7000, 7001, Is, P + 1, F_SYN | F_ACK, 0);
    w = s;
    w.seq = Ip;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);
    exchange(&ctx, 7000, 7000, 7001, P + 1, Ip, Is, 40);
    g_assert_cmpuint(counters(&ctx).offsets_learned, ==, 1);
    g_assert_cmpuint(counters(&ctx).connections, ==, 1);
    ctx_free(&ctx);
}

static void test_retransmissions(void)
{
    Ctx ctx;
    Seg s, w;
    const uint32_t P = 50, Ip = 1 << 20, Is = 1 << 10;

    ctx_init(&ctx);
    /* active: the guest's SYN three times, one pending entry */
    s = g2p(41000, 8080, Is, 0, F_SYN, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    g_assert_cmpuint(counters(&ctx).pending, ==, 1);
    g_assert_cmpuint(counters(&ctx).connections, ==, 1);
    /* the SYN-ACK twice: rewritten the same way both times */
    s = p2g(8080, 42000, P, Ip + 1, F_SYN | F_ACK, 0);
    w = s;
    w.dport = 41000;
    w.ack = Is + 1;
    xfer(&ctx, TO, &s, REWRITTEN, &w);
    xfer(&ctx, TO, &s, REWRITTEN, &w);
    /* the guest's SYN again, after pairing: now the primary's */
    s = g2p(41000, 8080, Is, 0, F_SYN, 0);
    w = s;
    w.sport = 42000;
    w.seq = Ip;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);
    g_assert_cmpuint(counters(&ctx).ports_mapped, ==, 1);
    g_assert_cmpuint(counters(&ctx).offsets_learned, ==, 1);

    /* passive: the peer's SYN twice, the guest's SYN-ACK twice */
    s = p2g(6000, 25, P, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    s = g2p(25, 6000, Is, P + 1, F_SYN | F_ACK, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    s = p2g(6000, 25, P + 1, Ip + 1, F_ACK, 0);
    w = s;
    w.ack = Is + 1;
    xfer(&ctx, TO, &s, REWRITTEN, &w);
    /* a late SYN-ACK retransmission of the guest: the primary's ISN */
    s = g2p(25, 6000, Is, P + 1, F_SYN | F_ACK, 0);
    w = s;
    w.seq = Ip;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);
    /* the peer's SYN retransmitted late changes nothing */
    s = p2g(6000, 25, P, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    g_assert_cmpuint(counters(&ctx).connections, ==, 2);
    g_assert_cmpuint(counters(&ctx).offsets_learned, ==, 2);

    /*
     * The peer opens a new connection from the same port, with another
     * ISN, while the old one was never seen closing: a new handshake.
     */
    s = p2g(6000, 25, P + 5000000, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    g_assert_cmpuint(ctx.n_removed[COLO_RW_RM_REPLACED], ==, 1);
    s = g2p(25, 6000, Is + 77, P + 5000001, F_SYN | F_ACK, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    s = p2g(6000, 25, P + 5000001, Ip + 99, F_ACK, 0);
    w = s;
    w.ack = Is + 77 + 1;
    xfer(&ctx, TO, &s, REWRITTEN, &w);
    /* and the guest reuses its port for a new connection too */
    s = g2p(41000, 8080, Is + 1000, 0, F_SYN, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    g_assert_cmpuint(ctx.n_removed[COLO_RW_RM_REPLACED], ==, 2);
    g_assert_cmpuint(counters(&ctx).pending, ==, 1);
    ctx_free(&ctx);
}

/*
 * The peer's ACK (of the primary's SYN-ACK) overtakes the secondary
 * guest's SYN-ACK: the offset is learned when the latter comes, and that
 * SYN-ACK already carries the primary's ISN.
 */
static void test_ack_before_syn_ack(void)
{
    Ctx ctx;
    Seg s, w;
    const uint32_t P = 300, Ip = 0x50000000, Is = 0x20000000;

    ctx_init(&ctx);
    s = p2g(5000, 80, P, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    s = p2g(5000, 80, P + 1, Ip + 1, F_ACK, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    /* the primary's data is acked too: the first ACK counted */
    s = p2g(5000, 80, P + 1, Ip + 101, F_ACK, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    g_assert_cmpuint(counters(&ctx).offsets_learned, ==, 0);
    s = g2p(80, 5000, Is, P + 1, F_SYN | F_ACK, 0);
    w = s;
    w.seq = Ip;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);
    g_assert_cmpuint(counters(&ctx).offsets_learned, ==, 1);
    g_assert_cmpuint(ctx.last[COLO_RW_EV_OFFSET_LEARNED].dir, ==, FROM);
    exchange(&ctx, 80, 80, 5000, P + 1, Ip, Is, 100);
    ctx_free(&ctx);
}

static void test_sack(void)
{
    Ctx ctx;
    Seg s, w;
    const uint32_t P = 100, Ip = 0xfffff000, Is = 0x00000100;
    const uint32_t off = Ip - Is;
    int i;

    ctx_init(&ctx);
    active_open(&ctx, 33000, 34000, 80, P, Ip, Is);
    /* the peer SACKs data of the guest: every edge shifted */
    s = p2g(80, 34000, P + 1, Ip + 1, F_ACK, 0);
    s.n_sack = 3;
    for (i = 0; i < 3; i++) {
        s.sack[i][0] = Ip + 1 + 1000 * (i + 1);
        s.sack[i][1] = Ip + 1 + 1000 * (i + 1) + 500;
    }
    s.ts = true;
    w = s;
    w.dport = 33000;
    w.ack = Is + 1;
    for (i = 0; i < 3; i++) {
        w.sack[i][0] -= off;
        w.sack[i][1] -= off;
    }
    xfer(&ctx, TO, &s, REWRITTEN, &w);
    /* four blocks, no timestamps */
    s.n_sack = 4;
    s.ts = false;
    s.sack[3][0] = Ip + 9000;
    s.sack[3][1] = Ip + 9100;
    w = s;
    w.dport = 33000;
    w.ack = Is + 1;
    for (i = 0; i < 4; i++) {
        w.sack[i][0] = s.sack[i][0] - off;
        w.sack[i][1] = s.sack[i][1] - off;
    }
    xfer(&ctx, TO, &s, REWRITTEN, &w);
    /* the guest SACKs the peer's data: edges in the peer's space, kept */
    s = g2p(33000, 80, Is + 1, P + 1, F_ACK, 0);
    s.n_sack = 2;
    s.sack[0][0] = P + 100;
    s.sack[0][1] = P + 200;
    s.sack[1][0] = P + 300;
    s.sack[1][1] = P + 400;
    w = s;
    w.sport = 34000;
    w.seq = Ip + 1;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);
    ctx_free(&ctx);
}

static void test_fin_teardown(void)
{
    Ctx ctx;
    Seg s, w;
    ColoRewriteConnInfo info;
    /* Ip < Is: acks of the guest's FIN only match once rewritten */
    const uint32_t P = 10, Ip = 2000, Is = 5000;

    ctx_init(&ctx);
    active_open(&ctx, 45000, 46000, 80, P, Ip, Is);
    /* the guest closes first */
    s = g2p(45000, 80, Is + 1, P + 1, F_FIN | F_ACK, 0);
    w = s;
    w.sport = 46000;
    w.seq = Ip + 1;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);
    s = p2g(80, 46000, P + 1, Ip + 2, F_FIN | F_ACK, 0);
    w = s;
    w.dport = 45000;
    w.ack = Is + 2;
    xfer(&ctx, TO, &s, REWRITTEN, &w);
    lookup(&ctx, PEER, 45000, 80, false, &info);
    g_assert_false(info.closed);
    s = g2p(45000, 80, Is + 2, P + 2, F_ACK, 0);
    w = s;
    w.sport = 46000;
    w.seq = Ip + 2;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);
    lookup(&ctx, PEER, 45000, 80, false, &info);
    g_assert_true(info.closed);
    g_assert_false(info.rewriting && !info.closed);

    /* while it lingers, a retransmitted FIN is still rewritten */
    s = p2g(80, 46000, P + 1, Ip + 2, F_FIN | F_ACK, 0);
    w = s;
    w.dport = 45000;
    w.ack = Is + 2;
    xfer(&ctx, TO, &s, REWRITTEN, &w);
    g_assert_cmpuint(colo_rewriter_expire(ctx.rw, ctx.now + SEC(59)), ==, 0);
    g_assert_cmpuint(colo_rewriter_expire(ctx.rw, ctx.now + SEC(61)), ==, 1);
    g_assert_cmpuint(counters(&ctx).connections, ==, 0);
    g_assert_cmpuint(counters(&ctx).entries_expired, ==, 1);
    g_assert_cmpuint(ctx.n_removed[COLO_RW_RM_CLOSED], ==, 1);
    /* gone: untouched from now on */
    ctx.now += SEC(61);
    xfer(&ctx, TO, &s, UNTRACKED, NULL);
    ctx_free(&ctx);
}

static void test_rst_teardown(void)
{
    Ctx ctx;
    Seg s, w;
    ColoRewriteConnInfo info;
    const uint32_t P = 10, Ip = 5000, Is = 2000;

    ctx_init(&ctx);
    passive_open(&ctx, 5555, 443, P, Ip, Is);
    /* a RST from the guest: its sequence number shifted too */
    s = g2p(443, 5555, Is + 1, 0, F_RST, 0);
    w = s;
    w.seq = Ip + 1;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);
    lookup(&ctx, PEER, 443, 5555, false, &info);
    g_assert_true(info.closed);
    /* the peer reconnects from the same port: a new connection */
    passive_open(&ctx, 5555, 443, P + 100000, Ip + 7, Is + 9);
    g_assert_cmpuint(ctx.n_removed[COLO_RW_RM_REPLACED], ==, 1);
    lookup(&ctx, PEER, 443, 5555, false, &info);
    g_assert_false(info.closed);
    g_assert_cmphex(info.offset, ==, (Ip + 7) - (Is + 9));
    /* a RST from the peer closes it as well */
    s = p2g(5555, 443, P + 100001, 0, F_RST, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    lookup(&ctx, PEER, 443, 5555, false, &info);
    g_assert_true(info.closed);
    g_assert_cmpuint(colo_rewriter_expire(ctx.rw, ctx.now + SEC(60)), ==, 1);
    ctx_free(&ctx);
}

/*
 * A RST towards the guest at a sequence number the guest did not
 * acknowledge last (a blind one, which an RFC 5961 guest ignores) does
 * not end the rewriting; one at that number does.
 */
static void test_blind_rst(void)
{
    Ctx ctx;
    Seg s, w;
    ColoRewriteConnInfo info;
    const uint32_t P = 10, Ip = 5000, Is = 2000;

    ctx_init(&ctx);
    passive_open(&ctx, 5555, 443, P, Ip, Is);
    exchange(&ctx, 443, 443, 5555, P + 1, Ip, Is, 100);
    /* the guest acknowledges the peer's 100 bytes */
    s = g2p(443, 5555, Is + 101, P + 101, F_ACK, 0);
    w = s;
    w.seq = Ip + 101;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);

    s = p2g(5555, 443, P + 101 + 0x40000000, 0, F_RST, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    s = p2g(5555, 443, P + 100, 0, F_RST, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    lookup(&ctx, PEER, 443, 5555, false, &info);
    g_assert_false(info.closed);
    /* still rewritten, and not removed when a closed one would be */
    s = g2p(443, 5555, Is + 101, P + 101, F_ACK | F_PSH, 10);
    w = s;
    w.seq = Ip + 101;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);
    g_assert_cmpuint(colo_rewriter_expire(ctx.rw, ctx.now + SEC(60)), ==, 0);

    /* at the number the guest acknowledged: closed */
    s = p2g(5555, 443, P + 101, 0, F_RST, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    lookup(&ctx, PEER, 443, 5555, false, &info);
    g_assert_true(info.closed);
    ctx_free(&ctx);
}

static void test_checkpoint(void)
{
    Ctx ctx;
    Seg s;
    const uint32_t P = 10, Ip = 5000, Is = 2000;

    ctx_init(&ctx);
    active_open(&ctx, 45000, 46000, 80, P, Ip, Is);
    passive_open(&ctx, 7000, 22, P, Ip, Is);
    /* a handshake in progress and an unpaired SYN */
    s = p2g(7001, 22, P, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    s = g2p(22, 7001, Is, P + 1, F_SYN | F_ACK, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    s = g2p(45001, 80, 77, 0, F_SYN, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    g_assert_cmpuint(counters(&ctx).connections, ==, 4);

    g_assert_cmpuint(colo_rewriter_checkpoint(ctx.rw), ==, 4);
    g_assert_cmpuint(counters(&ctx).connections, ==, 0);
    g_assert_cmpuint(counters(&ctx).pending, ==, 0);
    g_assert_cmpuint(counters(&ctx).checkpoints, ==, 1);
    g_assert_cmpuint(ctx.n_removed[COLO_RW_RM_CHECKPOINT], ==, 4);

    /*
     * The guest now is the primary: it uses the primary's port and
     * numbers, which pass untouched in both directions.
     */
    s = g2p(46000, 80, Ip + 1, P + 1, F_ACK, 10);
    xfer(&ctx, FROM, &s, UNTRACKED, NULL);
    s = p2g(80, 46000, P + 1, Ip + 11, F_ACK, 10);
    xfer(&ctx, TO, &s, UNTRACKED, NULL);
    /* the handshake completes with the primary's ISN: no offset learned */
    s = p2g(7001, 22, P + 1, Ip + 1, F_ACK, 0);
    xfer(&ctx, TO, &s, UNTRACKED, NULL);
    g_assert_cmpuint(counters(&ctx).connections, ==, 0);

    /* new connections after the checkpoint are tracked as usual */
    active_open(&ctx, 45002, 46002, 80, P, Ip, Is);
    g_assert_cmpuint(counters(&ctx).connections, ==, 1);
    ctx_free(&ctx);
}

static void test_failover(void)
{
    Ctx ctx;
    Seg s, w;
    ColoRewriteCounters c;
    const uint32_t P = 10, Ip = 5000, Is = 2000;

    ctx_init(&ctx);
    /* established before the failover, one of each kind */
    active_open(&ctx, 45000, 46000, 80, P, Ip, Is);
    passive_open(&ctx, 7000, 22, P, Ip, Is);
    /* passive handshake in progress */
    s = p2g(7001, 22, P, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    s = g2p(22, 7001, Is + 5, P + 1, F_SYN | F_ACK, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    /* an unpaired guest SYN */
    s = g2p(45001, 80, 77, 0, F_SYN, 0);
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);

    g_assert_cmpuint(colo_rewriter_failover(ctx.rw), ==, 1);
    g_assert_cmpuint(colo_rewriter_failover(ctx.rw), ==, 0);
    g_assert_true(colo_rewriter_failed_over(ctx.rw));
    g_assert_cmpuint(ctx.n_removed[COLO_RW_RM_FAILOVER], ==, 1);
    c = counters(&ctx);
    g_assert_cmpuint(c.connections, ==, 3);
    g_assert_cmpuint(c.pending, ==, 0);
    g_assert_true(c.failed_over);

    /* existing connections keep being rewritten, both ways */
    exchange(&ctx, 45000, 46000, 80, P + 1, Ip, Is, 20);
    exchange(&ctx, 22, 22, 7000, P + 1, Ip, Is, 20);
    /* the handshake in progress still learns its offset */
    s = p2g(7001, 22, P + 1, Ip + 1, F_ACK, 0);
    w = s;
    w.ack = Is + 5 + 1;
    xfer(&ctx, TO, &s, REWRITTEN, &w);

    /* the guest's retransmitted SYN now goes to the peer as it is */
    s = g2p(45001, 80, 77, 0, F_SYN, 0);
    xfer(&ctx, FROM, &s, UNTRACKED, NULL);
    s = p2g(80, 45001, 1, 78, F_SYN | F_ACK, 0);
    xfer(&ctx, TO, &s, UNTRACKED, NULL);
    /* connections opened now are left alone */
    s = p2g(9999, 22, 1, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNTRACKED, NULL);
    s = g2p(22, 9999, 5, 2, F_SYN | F_ACK, 0);
    xfer(&ctx, FROM, &s, UNTRACKED, NULL);
    g_assert_cmpuint(counters(&ctx).connections, ==, 3);
    g_assert_cmpuint(counters(&ctx).unmatched_syn_acks, ==, 0);

    /* a checkpoint event now changes nothing */
    g_assert_cmpuint(colo_rewriter_checkpoint(ctx.rw), ==, 0);
    exchange(&ctx, 45000, 46000, 80, P + 1, Ip, Is, 20);
    g_assert_cmpuint(counters(&ctx).connections, ==, 3);

    /* a closed connection reopened after the failover is dropped */
    s = p2g(7000, 22, P + 21, 0, F_RST, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    s = p2g(7000, 22, 123456, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNTRACKED, NULL);
    g_assert_cmpuint(counters(&ctx).connections, ==, 2);
    ctx_free(&ctx);
}

static void test_wraparound(void)
{
    Ctx ctx;
    const uint32_t P = 0xffffff00;

    ctx_init(&ctx);
    /* offsets that wrap, and sequence numbers that cross 2^32 */
    active_open(&ctx, 40000, 40100, 80, P, 0xfffffff0, 0x00000010);
    exchange(&ctx, 40000, 40100, 80, P + 1, 0xfffffff0, 0x00000010, 1000);
    passive_open(&ctx, 5000, 80, P, 0x00000005, 0xfffffffa);
    exchange(&ctx, 80, 80, 5000, P + 1, 0x00000005, 0xfffffffa, 1000);
    passive_open(&ctx, 5001, 80, 0xffffffff, 0xffffffff, 0);
    exchange(&ctx, 80, 80, 5001, 0, 0xffffffff, 0, 1000);
    ctx_free(&ctx);
}

static void test_ipv6(void)
{
    Ctx ctx;
    Seg s, w;
    ColoRewriteConnInfo info;
    const uint32_t P = 12, Ip = 0xabcdef01, Is = 0x10fedcba;

    ctx_init(&ctx);
    s = g2p(40000, 443, Is, 0, F_SYN, 0);
    s.v6 = true;
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    s = p2g(443, 40555, P, Ip + 1, F_SYN | F_ACK, 0);
    s.v6 = true;
    w = s;
    w.dport = 40000;
    w.ack = Is + 1;
    xfer(&ctx, TO, &s, REWRITTEN, &w);
    s = g2p(40000, 443, Is + 1, P + 1, F_ACK | F_PSH, 333);
    s.v6 = true;
    s.ts = true;
    w = s;
    w.sport = 40555;
    w.seq = Ip + 1;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);
    s = p2g(443, 40555, P + 1, Ip + 334, F_ACK, 0);
    s.v6 = true;
    s.n_sack = 1;
    s.sack[0][0] = Ip + 500;
    s.sack[0][1] = Ip + 600;
    w = s;
    w.dport = 40000;
    w.ack = Is + 334;
    w.sack[0][0] = Is + 500;
    w.sack[0][1] = Is + 600;
    xfer(&ctx, TO, &s, REWRITTEN, &w);
    lookup(&ctx, PEER, 40000, 443, true, &info);
    g_assert_true(info.found);
    /* IPv4 with the same numbers is another flow */
    lookup(&ctx, PEER, 40000, 443, false, &info);
    g_assert_false(info.found);

    /* IPv6 passive open */
    s = p2g(5000, 22, P, 0, F_SYN, 0);
    s.v6 = true;
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    s = g2p(22, 5000, Is, P + 1, F_SYN | F_ACK, 0);
    s.v6 = true;
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    s = p2g(5000, 22, P + 1, Ip + 1, F_ACK, 0);
    s.v6 = true;
    w = s;
    w.ack = Is + 1;
    xfer(&ctx, TO, &s, REWRITTEN, &w);
    ctx_free(&ctx);
}

static void test_vlan(void)
{
    Ctx ctx;
    Seg s, w;
    const uint32_t P = 12, Ip = 4000, Is = 3000;

    ctx_init(&ctx);
    s = g2p(40000, 80, Is, 0, F_SYN, 0);
    s.n_vlans = 1;
    s.vlan[0] = 5;
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    /* a SYN-ACK on another VLAN does not pair */
    s = p2g(80, 41000, P, Ip + 1, F_SYN | F_ACK, 0);
    s.n_vlans = 1;
    s.vlan[0] = 6;
    xfer(&ctx, TO, &s, UNTRACKED, NULL);
    /* nor one without a tag */
    s.n_vlans = 0;
    xfer(&ctx, TO, &s, UNTRACKED, NULL);
    g_assert_cmpuint(counters(&ctx).unmatched_syn_acks, ==, 2);
    /* the right VLAN (priority bits do not matter) */
    s.n_vlans = 1;
    s.vlan[0] = 0xa005;
    w = s;
    w.dport = 40000;
    w.ack = Is + 1;
    xfer(&ctx, TO, &s, REWRITTEN, &w);
    s = g2p(40000, 80, Is + 1, P + 1, F_ACK, 10);
    s.n_vlans = 1;
    s.vlan[0] = 5;
    w = s;
    w.sport = 41000;
    w.seq = Ip + 1;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);
    /* QinQ-style double tag, IPv6, passive */
    s = p2g(6000, 22, P, 0, F_SYN, 0);
    s.v6 = true;
    s.n_vlans = 2;
    s.vlan[0] = 100;
    s.vlan[1] = 200;
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    s = g2p(22, 6000, Is, P + 1, F_SYN | F_ACK, 0);
    s.v6 = true;
    s.n_vlans = 2;
    s.vlan[0] = 100;
    s.vlan[1] = 200;
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    s = p2g(6000, 22, P + 1, Ip + 1, F_ACK, 0);
    s.v6 = true;
    s.n_vlans = 2;
    s.vlan[0] = 100;
    s.vlan[1] = 200;
    w = s;
    w.ack = Is + 1;
    xfer(&ctx, TO, &s, REWRITTEN, &w);
    ctx_free(&ctx);
}

static void test_vnet_hdr(void)
{
    Ctx ctx;
    Seg s, w;
    const uint32_t P = 12, Ip = 4000, Is = 3000;

    ctx_init(&ctx);
    s = g2p(40000, 80, Is, 0, F_SYN, 0);
    s.vnet = 12;
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    s = p2g(80, 41000, P, Ip + 1, F_SYN | F_ACK, 0);
    s.vnet = 12;
    w = s;
    w.dport = 40000;
    w.ack = Is + 1;
    xfer(&ctx, TO, &s, REWRITTEN, &w);
    /*
     * The guest leaves the checksum to the device (NEEDS_CSUM): fields
     * are patched, the partial checksum is left alone.
     */
    s = g2p(40000, 80, Is + 1, P + 1, F_ACK, 1000);
    s.vnet = 12;
    s.needs_csum = true;
    w = s;
    w.sport = 41000;
    w.seq = Ip + 1;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);
    /* 10-byte header, checksum complete */
    s = g2p(40000, 80, Is + 1001, P + 1, F_ACK, 10);
    s.vnet = 10;
    w = s;
    w.sport = 41000;
    w.seq = Ip + 1001;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);
    ctx_free(&ctx);
}

static void test_malformed(void)
{
    Ctx ctx;
    Frame f;
    uint8_t copy[2048];
    Seg s;
    size_t cut;
    ColoRewriteResult res;

    ctx_init(&ctx);
    active_open(&ctx, 40000, 41000, 80, 1, 100, 200);

    /* truncated inside the TCP header, in both directions */
    s = p2g(80, 41000, 2, 101, F_ACK, 0);
    build(&f, &s);
    for (cut = 0; cut < f.len; cut++) {
        memcpy(copy, f.b, f.len);
        res = colo_rewriter_to_guest(ctx.rw, copy, cut, 0, ctx.now);
        g_assert_cmpint(res, !=, COLO_RW_REWRITTEN);
        g_assert_true(memcmp(copy, f.b, f.len) == 0);
        res = colo_rewriter_from_guest(ctx.rw, copy, cut, 0, ctx.now);
        g_assert_cmpint(res, !=, COLO_RW_REWRITTEN);
        g_assert_true(memcmp(copy, f.b, f.len) == 0);
    }
    g_assert_cmpuint(counters(&ctx).malformed, >=, 2 * (f.len - f.l3));
    g_assert_cmpuint(ctx.n_events[COLO_RW_EV_MALFORMED], ==,
                     counters(&ctx).malformed);

    /* bad data offset */
    build(&f, &s);
    f.b[f.l4 + 12] = 0x40;
    memcpy(copy, f.b, f.len);
    g_assert_cmpint(colo_rewriter_to_guest(ctx.rw, copy, f.len, 0, ctx.now),
                    ==, COLO_RW_MALFORMED);
    g_assert_true(memcmp(copy, f.b, f.len) == 0);
    /* IPv4 total length past the frame */
    build(&f, &s);
    put16(f.b + f.l3 + 2, 1500);
    memcpy(copy, f.b, f.len);
    g_assert_cmpint(colo_rewriter_to_guest(ctx.rw, copy, f.len, 0, ctx.now),
                    ==, COLO_RW_MALFORMED);
    g_assert_true(memcmp(copy, f.b, f.len) == 0);
    /* vnet header longer than the frame */
    build(&f, &s);
    g_assert_cmpint(colo_rewriter_to_guest(ctx.rw, f.b, 8, 12, ctx.now),
                    ==, COLO_RW_MALFORMED);

    /* non-TCP: ARP and UDP pass as they are */
    build(&f, &s);
    f.b[f.l3 + 9] = COLO_IPPROTO_UDP;
    put16(f.b + f.l4 + 4, f.l4_len);
    put16(f.b + f.l3 + 10, 0);
    put16(f.b + f.l3 + 10, ~naive_fold(naive_sum(0, f.b + f.l3, 20)));
    memcpy(copy, f.b, f.len);
    g_assert_cmpint(colo_rewriter_to_guest(ctx.rw, copy, f.len, 0, ctx.now),
                    ==, COLO_RW_NOT_TCP);
    g_assert_true(memcmp(copy, f.b, f.len) == 0);
    build(&f, &s);
    put16(f.b + 12, COLO_ETH_P_ARP);
    g_assert_cmpint(colo_rewriter_from_guest(ctx.rw, f.b, 42, 0, ctx.now),
                    ==, COLO_RW_NOT_TCP);

    /* the connection is still fine */
    exchange(&ctx, 40000, 41000, 80, 2, 100, 200, 10);
    ctx_free(&ctx);
}

/* Frames that hit an entry from the wrong side, and flows in conflict */
static void test_odd_flows(void)
{
    Ctx ctx;
    Seg s, w;
    ColoRewriteConnInfo info;

    ctx_init(&ctx);
    passive_open(&ctx, 5000, 80, 1, 1000, 7);
    /* the guest sends as if it were the peer, and the reverse */
    s = p2g(5000, 80, 2, 1001, F_ACK, 0);
    xfer(&ctx, FROM, &s, UNTRACKED, NULL);
    s = g2p(80, 5000, 8, 2, F_ACK, 0);
    xfer(&ctx, TO, &s, UNTRACKED, NULL);

    /*
     * The guest's connection from port 40000 is the primary's from
     * 40500.  A SYN of the peer to the guest's port 40000 (from the
     * same peer port) would need the same entry: left alone.
     */
    active_open(&ctx, 40000, 40500, 80, 1, 1000, 7);
    s = p2g(80, 40000, 99, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNTRACKED, NULL);
    g_assert_cmpuint(counters(&ctx).connections, ==, 2);
    /* once that connection is closed, the flow is free again */
    s = g2p(40000, 80, 8, 0, F_RST, 0);
    w = s;
    w.sport = 40500;
    w.seq = 1001;
    xfer(&ctx, FROM, &s, REWRITTEN, &w);
    s = p2g(80, 40000, 99, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    g_assert_cmpuint(ctx.n_removed[COLO_RW_RM_REPLACED], ==, 1);
    lookup(&ctx, PEER, 40000, 80, false, &info);
    g_assert_true(info.found);
    g_assert_false(info.active);
    ctx_free(&ctx);
}

/*
 * A SYN flood against a full table: entries that rewrite nothing are
 * evicted, oldest first; connections being rewritten stay.  When only
 * those are left, new connections are not tracked ("table full").
 */
static void test_syn_flood(void)
{
    Ctx ctx;
    Seg s;
    ColoRewriteCounters c;
    int i;

    ctx_init_full(&ctx, 64, SEC(3600), SEC(120), SEC(60));
    for (i = 0; i < 8; i++) {
        active_open(&ctx, 40000 + i, 50000 + i, 80, 1, 1000 + i, 7);
    }
    for (i = 0; i < 5000; i++) {
        s = p2g(1024 + i, 80, i, 0, F_SYN, 0);
        s.src = 100 + (i % 100);
        xfer(&ctx, TO, &s, UNCHANGED, NULL);
        g_assert_cmpuint(counters(&ctx).connections, <=, 64);
    }
    c = counters(&ctx);
    g_assert_cmpuint(c.connections, ==, 64);
    g_assert_cmpuint(c.entries_evicted, ==, 5000 - 56);
    g_assert_cmpuint(c.table_full, ==, 0);
    for (i = 0; i < 8; i++) {
        exchange(&ctx, 40000 + i, 50000 + i, 80, 2, 1000 + i, 7, 1);
    }
    /* the most recent flood entries are the ones left */
    {
        ColoRewriteConnInfo info;

        lookup(&ctx, 100 + 4999 % 100, 80, 1024 + 4999, false, &info);
        g_assert_true(info.found);
        lookup(&ctx, 100, 80, 1024, false, &info);
        g_assert_false(info.found);
    }

    /* a table that holds only rewritten connections */
    ctx_free(&ctx);
    ctx_init_full(&ctx, 8, SEC(3600), SEC(120), SEC(60));
    for (i = 0; i < 8; i++) {
        passive_open(&ctx, 3000 + i, 80, 1, 1000 + i, 7);
    }
    s = p2g(4000, 80, 1, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNTRACKED, NULL);
    s = g2p(44444, 80, 1, 0, F_SYN, 0);
    xfer(&ctx, FROM, &s, UNTRACKED, NULL);
    c = counters(&ctx);
    g_assert_cmpuint(c.table_full, ==, 2);
    g_assert_cmpuint(c.connections, ==, 8);
    g_assert_cmpuint(ctx.n_events[COLO_RW_EV_TABLE_FULL], ==, 2);
    /* once one closes, there is room again */
    s = p2g(3000, 80, 2, 0, F_RST, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    s = p2g(4000, 80, 1, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    g_assert_cmpuint(counters(&ctx).connections, ==, 8);
    ctx_free(&ctx);
}

static void test_idle_expiry(void)
{
    Ctx ctx;
    Seg s;
    ColoRewriteConnInfo info;
    int64_t t0;

    ctx_init_full(&ctx, 100, SEC(1000), SEC(100), SEC(10));
    active_open(&ctx, 40000, 41000, 80, 1, 1000, 7);   /* rewriting */
    active_open(&ctx, 40001, 40001, 80, 1, 7, 7);      /* identity */
    s = g2p(40002, 80, 1, 0, F_SYN, 0);                /* unpaired */
    xfer(&ctx, FROM, &s, UNCHANGED, NULL);
    s = p2g(5000, 22, 1, 0, F_SYN, 0);                 /* half open */
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    g_assert_cmpuint(counters(&ctx).connections, ==, 4);
    t0 = ctx.now;

    g_assert_cmpuint(colo_rewriter_expire(ctx.rw, t0 + SEC(99)), ==, 0);
    g_assert_cmpuint(colo_rewriter_expire(ctx.rw, t0 + SEC(101)), ==, 3);
    g_assert_cmpuint(counters(&ctx).pending, ==, 0);
    lookup(&ctx, PEER, 40000, 80, false, &info);
    g_assert_true(info.found);
    /* activity keeps it */
    ctx.now = t0 + SEC(900);
    exchange(&ctx, 40000, 41000, 80, 2, 1000, 7, 1);
    g_assert_cmpuint(colo_rewriter_expire(ctx.rw, t0 + SEC(1500)), ==, 0);
    g_assert_cmpuint(colo_rewriter_expire(ctx.rw, t0 + SEC(1901)), ==, 1);
    g_assert_cmpuint(counters(&ctx).connections, ==, 0);
    g_assert_cmpuint(counters(&ctx).entries_expired, ==, 4);
    g_assert_cmpuint(ctx.n_removed[COLO_RW_RM_IDLE], ==, 4);
    ctx_free(&ctx);

    /* A full table first expires what has timed out, then evicts */
    ctx_init_full(&ctx, 2, SEC(1000), SEC(100), SEC(10));
    s = p2g(5000, 22, 1, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    s = p2g(5001, 22, 1, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    ctx.now += SEC(101);
    s = p2g(5002, 22, 1, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    g_assert_cmpuint(counters(&ctx).entries_expired, ==, 2);
    g_assert_cmpuint(counters(&ctx).entries_evicted, ==, 0);
    g_assert_cmpuint(counters(&ctx).connections, ==, 1);
    s = p2g(5003, 22, 1, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    s = p2g(5004, 22, 1, 0, F_SYN, 0);
    xfer(&ctx, TO, &s, UNCHANGED, NULL);
    g_assert_cmpuint(counters(&ctx).entries_evicted, ==, 1);
    g_assert_cmpuint(ctx.n_removed[COLO_RW_RM_EVICTED], ==, 1);
    ctx_free(&ctx);
}

/*
 * Many interleaved connections of every kind with random numbers;
 * every frame is checked against the expected one.
 */
static void test_random_mix(void)
{
    Ctx ctx;
    GRand *rnd = g_rand_new_with_seed(42);
    int round, i;

    ctx_init_full(&ctx, 4096, SEC(3600), SEC(120), SEC(60));
    for (round = 0; round < 20; round++) {
        for (i = 0; i < 50; i++) {
            uint32_t P = g_rand_int(rnd), Ip = g_rand_int(rnd);
            uint32_t Is = g_rand_int(rnd);
            uint16_t gs = 20000 + round * 100 + i;

            if (g_rand_boolean(rnd)) {
                uint16_t gpri = g_rand_boolean(rnd) ? gs : gs + 10000;

                active_open(&ctx, gs, gpri, 80 + i % 3, P, Ip, Is);
                exchange(&ctx, gs, gpri, 80 + i % 3, P + 1, Ip, Is,
                         g_rand_int_range(rnd, 0, 1400));
            } else {
                passive_open(&ctx, gs, 443, P, Ip, Is);
                exchange(&ctx, 443, 443, gs, P + 1, Ip, Is,
                         g_rand_int_range(rnd, 0, 1400));
            }
        }
        if (round % 5 == 4) {
            colo_rewriter_checkpoint(ctx.rw);
            g_assert_cmpuint(counters(&ctx).connections, ==, 0);
        }
    }
    g_rand_free(rnd);
    ctx_free(&ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/colo/rewrite/passive-open", test_passive_open);
    g_test_add_func("/colo/rewrite/active-open", test_active_open);
    g_test_add_func("/colo/rewrite/active-same-port", test_active_same_port);
    g_test_add_func("/colo/rewrite/concurrent-active",
                    test_concurrent_active);
    g_test_add_func("/colo/rewrite/simultaneous-open",
                    test_simultaneous_open);
    g_test_add_func("/colo/rewrite/retransmissions", test_retransmissions);
    g_test_add_func("/colo/rewrite/ack-before-syn-ack",
                    test_ack_before_syn_ack);
    g_test_add_func("/colo/rewrite/sack", test_sack);
    g_test_add_func("/colo/rewrite/fin-teardown", test_fin_teardown);
    g_test_add_func("/colo/rewrite/rst-teardown", test_rst_teardown);
    g_test_add_func("/colo/rewrite/blind-rst", test_blind_rst);
    g_test_add_func("/colo/rewrite/checkpoint", test_checkpoint);
    g_test_add_func("/colo/rewrite/failover", test_failover);
    g_test_add_func("/colo/rewrite/wraparound", test_wraparound);
    g_test_add_func("/colo/rewrite/ipv6", test_ipv6);
    g_test_add_func("/colo/rewrite/vlan", test_vlan);
    g_test_add_func("/colo/rewrite/vnet-hdr", test_vnet_hdr);
    g_test_add_func("/colo/rewrite/malformed", test_malformed);
    g_test_add_func("/colo/rewrite/odd-flows", test_odd_flows);
    g_test_add_func("/colo/rewrite/syn-flood", test_syn_flood);
    g_test_add_func("/colo/rewrite/idle-expiry", test_idle_expiry);
    g_test_add_func("/colo/rewrite/random-mix", test_random_mix);
    g_test_add_func("/colo/rewrite/park-syn-ack-first",
                    test_park_syn_ack_first);
    g_test_add_func("/colo/rewrite/park-timeout", test_park_timeout);
    g_test_add_func("/colo/rewrite/park-concurrent", test_park_concurrent);
    g_test_add_func("/colo/rewrite/park-bound", test_park_bound);
    g_test_add_func("/colo/rewrite/park-claimed-flow",
                    test_park_claimed_flow);
    g_test_add_func("/colo/rewrite/park-failover", test_park_failover);
    return g_test_run();
}
