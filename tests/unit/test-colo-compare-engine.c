/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the COLO proxy comparison engine
 * (net/colo-compare-engine.c): TCP stream comparison (resegmentation,
 * retransmissions, overlap, gaps, SYN/FIN/RST, pure ACKs, connections
 * opened and accepted by the guest), FIFO comparison of UDP/ICMP/ARP, IPv6,
 * VLANs, timeouts, queue and table bounds, malformed frames, checkpoints
 * and failover.  Every test checks the released frames byte for byte and
 * in order, and the divergences reported.
 */

#include "qemu/osdep.h"
#include "net/colo-compare-engine.h"

#define MS(x) ((int64_t)(x) * 1000000)
#define P COLO_CMP_PRIMARY
#define S COLO_CMP_SECONDARY

/*
 * Frame builder
 */

typedef struct Frame {
    uint8_t b[2048];
    size_t len;
} Frame;

/*
 * What to build.  Fields left at zero take defaults: IPv4, 10.0.0.1 to
 * 10.0.0.2 (fd00::1 to fd00::2 for IPv6), TTL 64.
 */
typedef struct FB {
    bool v6;
    bool arp;
    uint16_t vlan;              /* VLAN id + 1 (0: untagged) */
    uint8_t proto;              /* COLO_IPPROTO_* */
    uint8_t src, dst;           /* last address byte */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;              /* COLO_TCP_* */
    uint16_t win;
    uint16_t mss;               /* MSS option if non-zero */
    uint8_t wscale;             /* window scale option: value + 1 */
    bool sackok;
    bool ts;
    uint32_t tsval;
    uint16_t ipid;
    uint8_t ttl;
    uint16_t csum;              /* L4 checksum field value */
    uint8_t icmp_type;
    uint16_t icmp_id, icmp_seq;
    uint16_t arp_op;
    const uint8_t *payload;     /* NULL: stream pattern from @poff */
    size_t poff;
    size_t plen;
    size_t vnet;                /* virtio-net header length */
    uint8_t vnet_fill;
} FB;

static uint8_t stream_pat[70000];

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

static Frame mk(const FB *fb)
{
    Frame f;
    uint8_t *p = f.b, *ip, *l4;
    const uint8_t *payload = fb->payload ? fb->payload
                                         : stream_pat + fb->poff;
    uint8_t opts[40];
    size_t olen = 0, l4len, hlen;

    memset(&f, 0, sizeof(f));
    memset(p, fb->vnet_fill, fb->vnet);
    p += fb->vnet;
    /* Ethernet */
    memcpy(p, "\x52\x54\x00\x00\x00\x02\x52\x54\x00\x00\x00\x01", 12);
    p += 12;
    if (fb->vlan) {
        put16(p, COLO_ETH_P_VLAN);
        put16(p + 2, fb->vlan - 1);
        p += 4;
    }
    if (fb->arp) {
        put16(p, COLO_ETH_P_ARP);
        p += 2;
        put16(p, 1);
        put16(p + 2, 0x0800);
        p[4] = 6;
        p[5] = 4;
        put16(p + 6, fb->arp_op ? fb->arp_op : 1);
        memcpy(p + 8, "\x52\x54\x00\x00\x00\x01\x0a\x00\x00", 9);
        p[17] = fb->src ? fb->src : 1;
        memcpy(p + 24, "\x0a\x00\x00", 3);
        p[27] = fb->dst ? fb->dst : 2;
        p += 28;
        f.len = p - f.b;
        return f;
    }
    put16(p, fb->v6 ? COLO_ETH_P_IPV6 : COLO_ETH_P_IPV4);
    p += 2;
    ip = p;

    if (fb->proto == COLO_IPPROTO_TCP) {
        if (fb->mss) {
            opts[olen++] = COLO_TCPOPT_MSS;
            opts[olen++] = 4;
            put16(opts + olen, fb->mss);
            olen += 2;
        }
        if (fb->sackok) {
            opts[olen++] = COLO_TCPOPT_NOP;
            opts[olen++] = COLO_TCPOPT_NOP;
            opts[olen++] = COLO_TCPOPT_SACK_PERM;
            opts[olen++] = 2;
        }
        if (fb->ts) {
            opts[olen++] = COLO_TCPOPT_NOP;
            opts[olen++] = COLO_TCPOPT_NOP;
            opts[olen++] = COLO_TCPOPT_TIMESTAMP;
            opts[olen++] = 10;
            put32(opts + olen, fb->tsval);
            put32(opts + olen + 4, fb->tsval ^ 0x5a5a);
            olen += 8;
        }
        if (fb->wscale) {
            opts[olen++] = COLO_TCPOPT_NOP;
            opts[olen++] = COLO_TCPOPT_WSCALE;
            opts[olen++] = 3;
            opts[olen++] = fb->wscale - 1;
        }
        g_assert(olen % 4 == 0);
        hlen = 20 + olen;
    } else if (fb->proto == COLO_IPPROTO_UDP ||
               fb->proto == COLO_IPPROTO_ICMP ||
               fb->proto == COLO_IPPROTO_ICMPV6) {
        hlen = 8;
    } else {
        hlen = 0;
    }
    l4len = hlen + fb->plen;

    if (fb->v6) {
        ip[0] = 0x60;
        put16(ip + 4, l4len);
        ip[6] = fb->proto;
        ip[7] = fb->ttl ? fb->ttl : 64;
        ip[8] = 0xfd;
        ip[23] = fb->src ? fb->src : 1;
        ip[24] = 0xfd;
        ip[39] = fb->dst ? fb->dst : 2;
        l4 = ip + 40;
    } else {
        ip[0] = 0x45;
        put16(ip + 2, 20 + l4len);
        put16(ip + 4, fb->ipid);
        put16(ip + 6, 0x4000);  /* DF */
        ip[8] = fb->ttl ? fb->ttl : 64;
        ip[9] = fb->proto;
        put16(ip + 10, fb->ipid ^ 0xbeef);  /* any: never compared */
        put32(ip + 12, 0x0a000000 | (fb->src ? fb->src : 1));
        put32(ip + 16, 0x0a000000 | (fb->dst ? fb->dst : 2));
        l4 = ip + 20;
    }
    switch (fb->proto) {
    case COLO_IPPROTO_TCP:
        put16(l4, fb->sport);
        put16(l4 + 2, fb->dport);
        put32(l4 + 4, fb->seq);
        put32(l4 + 8, fb->ack);
        l4[12] = (hlen / 4) << 4;
        l4[13] = fb->flags;
        put16(l4 + 14, fb->win);
        put16(l4 + 16, fb->csum);
        memcpy(l4 + 20, opts, olen);
        break;
    case COLO_IPPROTO_UDP:
        put16(l4, fb->sport);
        put16(l4 + 2, fb->dport);
        put16(l4 + 4, l4len);
        put16(l4 + 6, fb->csum);
        break;
    case COLO_IPPROTO_ICMP:
    case COLO_IPPROTO_ICMPV6:
        l4[0] = fb->icmp_type;
        put16(l4 + 2, fb->csum);
        put16(l4 + 4, fb->icmp_id);
        put16(l4 + 6, fb->icmp_seq);
        break;
    }
    memcpy(l4 + hlen, payload, fb->plen);
    f.len = l4 + l4len - f.b;
    g_assert(f.len <= sizeof(f.b));
    return f;
}

#define MK(...) mk(&(FB){ __VA_ARGS__ })

/* TCP segment of stream bytes [off, off + len) of flow port 1000 -> 80 */
#define TCP_BASE 100000
static Frame seg(size_t off, size_t len, uint8_t flags)
{
    return MK(.proto = COLO_IPPROTO_TCP, .sport = 1000, .dport = 80,
              .seq = TCP_BASE + off, .ack = 7, .flags = COLO_TCP_ACK | flags,
              .win = 500, .poff = off, .plen = len);
}

/* Same, with every header field that must be ignored changed */
static Frame seg2(size_t off, size_t len, uint8_t flags)
{
    return MK(.proto = COLO_IPPROTO_TCP, .sport = 1000, .dport = 80,
              .seq = TCP_BASE + off, .ack = 9999, .win = 123,
              .flags = COLO_TCP_ACK | flags | COLO_TCP_PSH,
              .ts = true, .tsval = 77, .ipid = 4242, .ttl = 63,
              .csum = 0x1234, .poff = off, .plen = len);
}

static Frame udp(uint16_t sport, size_t poff, size_t plen)
{
    return MK(.proto = COLO_IPPROTO_UDP, .sport = sport, .dport = 53,
              .poff = poff, .plen = plen);
}

/*
 * Engine harness: records what the callbacks receive.
 */

static GPtrArray *released;         /* GByteArray */
static GArray *divs;                /* ColoCmpDivergence */
static ColoCompareEngine *eng;
static int64_t now;

static void cb_release(void *opaque, const uint8_t *frame, size_t len)
{
    GByteArray *copy = g_byte_array_sized_new(len);

    g_assert(opaque == &released);
    g_byte_array_append(copy, frame, len);
    g_ptr_array_add(released, copy);
}

static void cb_divergence(void *opaque, const ColoCmpDivergence *d)
{
    g_assert(opaque == &released);
    g_array_append_val(divs, *d);
}

static void eng_start_cfg(ColoCmpConfig *cfg)
{
    cfg->release = cb_release;
    cfg->divergence = cb_divergence;
    cfg->opaque = &released;
    released = g_ptr_array_new_with_free_func((GDestroyNotify)
                                              g_byte_array_unref);
    divs = g_array_new(false, true, sizeof(ColoCmpDivergence));
    eng = colo_cmp_engine_new(cfg);
    now = 0;
}

static void eng_start(void)
{
    ColoCmpConfig cfg = { .compare_timeout_ns = MS(3000) };

    eng_start_cfg(&cfg);
}

static ColoCmpStats stats(void)
{
    ColoCmpStats s;

    colo_cmp_engine_get_stats(eng, &s);
    return s;
}

/* Invariants that hold at any time */
static void check_invariants(void)
{
    ColoCmpStats s = stats();

    g_assert_cmpuint(s.released_frames, ==, released->len);
    g_assert_cmpuint(s.released_identical + s.released_uncompared +
                     s.released_diverged + s.released_checkpoint +
                     s.released_failover, ==, s.released_frames);
    g_assert_cmpuint(s.released_frames + s.queued_frames[P], ==,
                     s.frames_in[P]);
    g_assert_cmpuint(s.secondary_matched + s.secondary_uncompared +
                     s.secondary_diverged + s.secondary_malformed +
                     s.secondary_table_full + s.secondary_overflow +
                     s.secondary_expired + s.secondary_checkpoint +
                     s.secondary_failover + s.queued_frames[S], ==,
                     s.frames_in[S]);
}

static void eng_stop(void)
{
    check_invariants();
    colo_cmp_engine_free(eng);
    g_ptr_array_unref(released);
    g_array_unref(divs);
    eng = NULL;
}


static void in(ColoCmpSide side, const Frame *f)
{
    colo_cmp_engine_input(eng, side, f->b, f->len, now);
    check_invariants();
}

/* Released frames so far must be exactly @n frames, in this order */
static void expect_rel(int n, ...)
{
    va_list ap;
    int i;

    g_assert_cmpint(released->len, ==, n);
    va_start(ap, n);
    for (i = 0; i < n; i++) {
        const Frame *f = va_arg(ap, const Frame *);
        GByteArray *r = g_ptr_array_index(released, i);

        g_assert_cmpuint(r->len, ==, f->len);
        g_assert(memcmp(r->data, f->b, f->len) == 0);
    }
    va_end(ap);
}

static void expect_ndiv(unsigned n)
{
    g_assert_cmpuint(divs->len, ==, n);
}

static const ColoCmpDivergence *div_at(unsigned i)
{
    g_assert_cmpuint(i, <, divs->len);
    return &g_array_index(divs, ColoCmpDivergence, i);
}

static void expect_div(unsigned i, ColoCmpReason reason, ColoCmpSide side,
                       bool tcp_stream, uint64_t offset)
{
    const ColoCmpDivergence *d = div_at(i);

    g_assert_cmpstr(colo_cmp_reason_name(d->reason), ==,
                    colo_cmp_reason_name(reason));
    g_assert_cmpint(d->side, ==, side);
    g_assert_cmpint(d->tcp_stream, ==, tcp_stream);
    g_assert_cmpuint(d->offset, ==, offset);
}

/*
 * Names
 */

static void test_names(void)
{
    static const char *const expect[] = {
        "payload", "size", "header", "syn", "fin", "timeout",
        "queue-full", "malformed", "table-full",
    };
    int i;

    g_assert_cmpint(G_N_ELEMENTS(expect), ==, COLO_CMP_DIV__MAX);
    for (i = 0; i < COLO_CMP_DIV__MAX; i++) {
        g_assert_cmpstr(colo_cmp_reason_name(i), ==, expect[i]);
    }
    g_assert_cmpstr(colo_cmp_reason_name(COLO_CMP_DIV__MAX), ==, "invalid");
    g_assert_cmpstr(colo_cmp_reason_name((ColoCmpReason)-1), ==, "invalid");
    g_assert_cmpstr(colo_cmp_side_name(P), ==, "primary");
    g_assert_cmpstr(colo_cmp_side_name(S), ==, "secondary");
}

/*
 * TCP streams
 */

static void test_tcp_identical(void)
{
    Frame p1 = seg(0, 100, 0), p2 = seg(100, 200, 0);
    Frame s1 = seg2(0, 100, 0), s2 = seg2(100, 200, 0);
    ColoCmpStats st;

    eng_start();
    in(P, &p1);
    expect_rel(0);
    in(S, &s1);
    expect_rel(1, &p1);
    /* secondary first: the primary is released on arrival */
    in(S, &s2);
    expect_rel(1, &p1);
    in(P, &p2);
    expect_rel(2, &p1, &p2);
    expect_ndiv(0);
    st = stats();
    g_assert_cmpuint(st.released_identical, ==, 2);
    g_assert_cmpuint(st.secondary_matched, ==, 2);
    g_assert_cmpuint(st.queued_frames[P], ==, 0);
    g_assert_cmpuint(st.queued_frames[S], ==, 0);
    g_assert_cmpuint(st.connections, ==, 1);
    eng_stop();
}

static void test_tcp_resegmented(void)
{
    Frame p = seg(0, 1000, 0);
    Frame s[4], p4[4], big;
    int i;

    /* primary 1 x 1000, secondary 4 x 250: released after the 4th */
    eng_start();
    in(P, &p);
    for (i = 0; i < 4; i++) {
        s[i] = seg2(i * 250, 250, 0);
        expect_rel(0);
        in(S, &s[i]);
    }
    expect_rel(1, &p);
    expect_ndiv(0);
    g_assert_cmpuint(stats().queued_frames[S], ==, 0);
    eng_stop();

    /* reverse: primary 4 x 250 each released as soon as covered */
    eng_start();
    for (i = 0; i < 4; i++) {
        p4[i] = seg(i * 250, 250, 0);
        in(P, &p4[i]);
    }
    expect_rel(0);
    big = seg2(0, 1000, 0);
    in(S, &big);
    expect_rel(4, &p4[0], &p4[1], &p4[2], &p4[3]);
    expect_ndiv(0);
    eng_stop();

    /* secondary first, interleaved: 1000 vs 4 x 250 */
    eng_start();
    in(S, &big);
    for (i = 0; i < 4; i++) {
        in(P, &p4[i]);
        g_assert_cmpint(released->len, ==, i + 1);
    }
    expect_rel(4, &p4[0], &p4[1], &p4[2], &p4[3]);
    g_assert_cmpuint(stats().queued_frames[S], ==, 0);
    expect_ndiv(0);
    eng_stop();

    /* misaligned: 3 x 333+1 vs 4 x 250 */
    eng_start();
    {
        Frame a = seg(0, 333, 0), b = seg(333, 333, 0), c = seg(666, 334, 0);

        in(P, &a);
        in(P, &b);
        in(P, &c);
        in(S, &s[0]);
        expect_rel(0);
        in(S, &s[1]);
        expect_rel(1, &a);
        in(S, &s[2]);
        expect_rel(2, &a, &b);
        in(S, &s[3]);
        expect_rel(3, &a, &b, &c);
    }
    expect_ndiv(0);
    eng_stop();
}

static void test_tcp_payload_diff(void)
{
    Frame p = seg(0, 1000, 0);
    Frame s1 = seg2(0, 500, 0), s2 = seg2(500, 500, 0);
    Frame p2 = seg(1000, 10, 0), s3 = seg2(1000, 10, 0);
    Frame p3, s4;
    const ColoCmpDivergence *d;
    ColoFlowKey key;
    ColoPacket pkt;

    eng_start();
    s2.b[s2.len - 500 + 117] ^= 0x40;    /* stream offset 617 */
    in(P, &p);
    in(S, &s1);
    expect_rel(0);
    in(S, &s2);
    expect_rel(1, &p);
    expect_ndiv(1);
    expect_div(0, COLO_CMP_DIV_PAYLOAD, S, true, 617);
    d = div_at(0);
    g_assert(d->has_key);
    g_assert_cmpuint(d->primary_len, ==, p.len);
    g_assert_cmpuint(d->secondary_len, ==, s2.len);
    g_assert(colo_packet_parse(&pkt, p.b, p.len, 0) == COLO_PKT_OK);
    colo_flow_key_from_packet(&pkt, &key);
    g_assert(colo_flow_key_equal(&d->key, &key));
    g_assert_cmpuint(stats().released_diverged, ==, 1);
    g_assert_cmpuint(stats().divergences[COLO_CMP_DIV_PAYLOAD], ==, 1);

    /* diverged flow: pass-through until the checkpoint, no new report */
    in(P, &p2);
    expect_rel(2, &p, &p2);
    in(S, &s3);
    expect_ndiv(1);
    g_assert_cmpuint(stats().secondary_diverged, >=, 1);

    /* after a checkpoint the flow is compared again */
    colo_cmp_engine_checkpoint(eng);
    p3 = seg(2000, 10, 0);
    s4 = seg2(2000, 10, 0);
    in(P, &p3);
    expect_rel(2, &p, &p2);
    in(S, &s4);
    expect_rel(3, &p, &p2, &p3);
    expect_ndiv(1);
    eng_stop();

    /* difference found by the primary arriving second */
    eng_start();
    s1 = seg2(0, 100, 0);
    s1.b[s1.len - 1] ^= 1;
    in(S, &s1);
    p = seg(0, 100, 0);
    in(P, &p);
    expect_rel(1, &p);
    expect_div(0, COLO_CMP_DIV_PAYLOAD, P, true, 99);
    eng_stop();
}

static void test_tcp_retransmission(void)
{
    Frame p1 = seg(0, 100, 0), p2 = seg(100, 100, 0);
    Frame s1 = seg2(0, 100, 0), s2 = seg2(100, 100, 0);
    Frame pr = seg(0, 100, 0);
    ColoCmpStats st;

    eng_start();
    in(P, &p1);
    in(S, &s1);
    /* primary retransmission of a compared range: released at once */
    pr.b[14 + 5] ^= 0xff;   /* make it distinguishable (IP id) */
    in(P, &pr);
    expect_rel(2, &p1, &pr);
    /* secondary retransmission: dropped */
    in(S, &s1);
    expect_rel(2, &p1, &pr);
    g_assert_cmpuint(stats().queued_frames[S], ==, 0);
    /* the stream goes on */
    in(P, &p2);
    in(S, &s2);
    expect_rel(3, &p1, &pr, &p2);
    expect_ndiv(0);
    st = stats();
    g_assert_cmpuint(st.released_uncompared, ==, 1);
    g_assert_cmpuint(st.secondary_uncompared, ==, 1);
    eng_stop();

    /* primary retransmits while the first copy still waits */
    eng_start();
    in(P, &p1);
    in(P, &pr);
    expect_rel(0);
    in(S, &s1);
    expect_rel(2, &p1, &pr);
    expect_ndiv(0);
    eng_stop();
}

static void test_tcp_overlap(void)
{
    Frame p1 = seg(0, 100, 0), p2 = seg(50, 100, 0);
    Frame s1 = seg2(0, 100, 0), s2 = seg2(50, 100, 0), s3;
    Frame pbad = seg(60, 100, 0);

    /* partial overlap: only the new part is compared */
    eng_start();
    in(P, &p1);
    in(S, &s1);
    in(P, &p2);
    expect_rel(1, &p1);
    in(S, &s2);
    expect_rel(2, &p1, &p2);
    expect_ndiv(0);
    eng_stop();

    /* the old part of an overlapping segment is not compared */
    eng_start();
    in(P, &p1);
    in(S, &s1);
    pbad.b[pbad.len - 100 + 5] ^= 1;     /* stream offset 65: old part */
    in(P, &pbad);
    s3 = seg2(100, 60, 0);
    in(S, &s3);
    expect_rel(2, &p1, &pbad);
    expect_ndiv(0);
    /* ... but the new part is */
    p2 = seg(150, 20, 0);
    p2.b[p2.len - 1] ^= 1;               /* stream offset 169 */
    in(P, &p2);
    s3 = seg2(160, 20, 0);
    in(S, &s3);
    expect_rel(3, &p1, &pbad, &p2);
    expect_div(0, COLO_CMP_DIV_PAYLOAD, S, true, 169);
    eng_stop();
}

static void test_tcp_out_of_order(void)
{
    Frame p1 = seg(0, 100, 0), p2 = seg(100, 100, 0), p3 = seg(200, 100, 0);
    Frame s = seg2(0, 300, 0);

    eng_start();
    in(P, &p1);
    in(P, &p3);     /* hole at 100 */
    in(P, &p2);
    in(S, &s);
    expect_rel(3, &p1, &p3, &p2);
    expect_ndiv(0);
    eng_stop();
}

static void test_tcp_fin(void)
{
    Frame p1 = seg(0, 100, COLO_TCP_FIN);
    Frame s1 = seg2(0, 100, 0), s2 = seg2(100, 0, COLO_TCP_FIN);
    Frame pr;

    /* FIN at the same position, differently segmented */
    eng_start();
    in(P, &p1);
    in(S, &s1);
    expect_rel(0);
    in(S, &s2);
    expect_rel(1, &p1);
    /* FIN retransmission */
    pr = seg(100, 0, COLO_TCP_FIN);
    in(P, &pr);
    expect_rel(2, &p1, &pr);
    expect_ndiv(0);
    eng_stop();

    /* FIN where the other side has data */
    eng_start();
    in(P, &p1);
    s1 = seg2(0, 120, 0);
    in(S, &s1);
    expect_rel(1, &p1);
    expect_div(0, COLO_CMP_DIV_FIN, S, true, 100);
    eng_stop();

    /* FIN missing on the primary side, found at its next segment */
    eng_start();
    s1 = seg2(0, 50, COLO_TCP_FIN);
    in(S, &s1);
    p1 = seg(0, 60, 0);
    in(P, &p1);
    expect_rel(1, &p1);
    expect_div(0, COLO_CMP_DIV_FIN, P, true, 50);
    eng_stop();
}

static void test_tcp_rst(void)
{
    Frame d = seg(0, 10, 0), ds = seg2(0, 10, 0);
    Frame r = MK(.proto = COLO_IPPROTO_TCP, .sport = 1000, .dport = 80,
                 .seq = TCP_BASE + 10, .flags = COLO_TCP_RST | COLO_TCP_ACK);
    Frame rs = MK(.proto = COLO_IPPROTO_TCP, .sport = 1000, .dport = 80,
                  .seq = 5, .flags = COLO_TCP_RST, .ipid = 9);

    eng_start();
    in(P, &d);
    in(P, &r);
    expect_rel(0);
    in(S, &rs);     /* presence is compared, not seq nor ACK flag */
    expect_rel(0);  /* still behind the data */
    in(S, &ds);
    expect_rel(2, &d, &r);
    expect_ndiv(0);
    eng_stop();

    /* secondary first */
    eng_start();
    in(S, &rs);
    in(P, &r);
    expect_rel(1, &r);
    expect_ndiv(0);
    eng_stop();

    /* a RST on the primary only: timeout */
    eng_start();
    now = 0;
    in(P, &r);
    g_assert_cmpint(colo_cmp_engine_expire(eng, MS(2999)), ==, MS(3000));
    expect_rel(0);
    g_assert_cmpint(colo_cmp_engine_expire(eng, MS(3000)), ==, INT64_MAX);
    expect_rel(1, &r);
    expect_div(0, COLO_CMP_DIV_TIMEOUT, P, false, 0);
    eng_stop();
}

static void test_tcp_pure_ack(void)
{
    Frame a = MK(.proto = COLO_IPPROTO_TCP, .sport = 1000, .dport = 80,
                 .seq = TCP_BASE, .ack = 1, .flags = COLO_TCP_ACK);
    Frame as = MK(.proto = COLO_IPPROTO_TCP, .sport = 1000, .dport = 80,
                  .seq = TCP_BASE, .ack = 2, .flags = COLO_TCP_ACK,
                  .win = 9);
    Frame d = seg(0, 10, 0), ds = seg2(0, 10, 0);
    ColoCmpStats st;

    eng_start();
    /* no waiting, no connection entry */
    in(P, &a);
    expect_rel(1, &a);
    in(S, &as);
    st = stats();
    g_assert_cmpuint(st.connections, ==, 0);
    g_assert_cmpuint(st.released_uncompared, ==, 1);
    g_assert_cmpuint(st.secondary_uncompared, ==, 1);
    /* behind queued data of its flow it waits, keeping the order */
    in(P, &d);
    in(P, &a);
    expect_rel(1, &a);
    in(S, &ds);
    expect_rel(3, &a, &d, &a);
    expect_ndiv(0);
    eng_stop();
}

/* A connection opened by the guest: SYNs differ in port and ISN */
static void test_tcp_guest_connect(void)
{
    Frame syn = MK(.proto = COLO_IPPROTO_TCP, .sport = 40000, .dport = 80,
                   .seq = 1000, .flags = COLO_TCP_SYN, .mss = 1460,
                   .sackok = true, .ts = true, .tsval = 1, .wscale = 8);
    Frame ssyn = MK(.proto = COLO_IPPROTO_TCP, .sport = 51234, .dport = 80,
                    .seq = 777777, .flags = COLO_TCP_SYN, .mss = 1460,
                    .sackok = true, .ts = true, .tsval = 2, .wscale = 8);
    Frame ack = MK(.proto = COLO_IPPROTO_TCP, .sport = 40000, .dport = 80,
                   .seq = 1001, .ack = 5001, .flags = COLO_TCP_ACK);
    Frame d = MK(.proto = COLO_IPPROTO_TCP, .sport = 40000, .dport = 80,
                 .seq = 1001, .ack = 5001, .flags = COLO_TCP_ACK,
                 .poff = 0, .plen = 100);
    /* the secondary's data arrives rewritten into the primary's space */
    Frame ds = MK(.proto = COLO_IPPROTO_TCP, .sport = 40000, .dport = 80,
                  .seq = 1001, .ack = 5001, .flags = COLO_TCP_ACK,
                  .ipid = 3, .poff = 0, .plen = 100);
    Frame d2, ds2, tfo;
    ColoCmpStats st;

    eng_start();
    now = 0;
    in(P, &syn);
    expect_rel(1, &syn);            /* at once */
    in(S, &ssyn);                   /* dropped, not paired */
    expect_ndiv(0);
    g_assert_cmpint(colo_cmp_engine_next_deadline(eng), ==, INT64_MAX);
    in(P, &ack);
    in(S, &ack);
    expect_rel(2, &syn, &ack);
    in(P, &d);
    in(S, &ds);
    expect_rel(3, &syn, &ack, &d);
    /* SYN retransmission: released at once, the stream goes on */
    in(P, &syn);
    expect_rel(4, &syn, &ack, &d, &syn);
    in(S, &ssyn);
    d2 = MK(.proto = COLO_IPPROTO_TCP, .sport = 40000, .dport = 80,
            .seq = 1101, .ack = 5001, .flags = COLO_TCP_ACK,
            .poff = 100, .plen = 10);
    in(P, &d2);
    in(S, &d2);
    expect_rel(5, &syn, &ack, &d, &syn, &d2);
    expect_ndiv(0);
    st = stats();
    g_assert_cmpuint(st.queued_frames[P] + st.queued_frames[S], ==, 0);
    /* the secondary's SYN made no entry */
    g_assert_cmpuint(st.connections, ==, 1);
    now += MS(10000);
    g_assert_cmpint(colo_cmp_engine_expire(eng, now), ==, INT64_MAX);
    expect_ndiv(0);
    eng_stop();

    /* the secondary's data first (before the primary's SYN is seen) */
    eng_start();
    in(S, &ssyn);
    in(S, &ds);
    in(P, &syn);
    expect_rel(1, &syn);
    in(P, &d);
    expect_rel(2, &syn, &d);
    expect_ndiv(0);
    eng_stop();

    /* SYN with data (TCP Fast Open): released unverified; counted */
    eng_start();
    tfo = MK(.proto = COLO_IPPROTO_TCP, .sport = 40000, .dport = 80,
             .seq = 1000, .flags = COLO_TCP_SYN, .poff = 0, .plen = 20);
    in(P, &tfo);
    expect_rel(1, &tfo);
    d2 = MK(.proto = COLO_IPPROTO_TCP, .sport = 40000, .dport = 80,
            .seq = 1021, .ack = 5001, .flags = COLO_TCP_ACK,
            .poff = 20, .plen = 10);
    in(P, &d2);
    ds2 = d2;
    ds2.b[ds2.len - 5] ^= 1;
    in(S, &ds2);
    expect_rel(2, &tfo, &d2);
    expect_div(0, COLO_CMP_DIV_PAYLOAD, S, true, 25);
    eng_stop();
}

/* A connection accepted by the guest: SYN+ACKs with different ISNs */
static void test_tcp_guest_accept(void)
{
    Frame sa = MK(.proto = COLO_IPPROTO_TCP, .sport = 80, .dport = 40000,
                  .seq = 5000, .ack = 1001,
                  .flags = COLO_TCP_SYN | COLO_TCP_ACK, .mss = 1460,
                  .sackok = true, .wscale = 8);
    Frame ssa = MK(.proto = COLO_IPPROTO_TCP, .sport = 80, .dport = 40000,
                   .seq = 0x90000000, .ack = 1001, .ipid = 5,
                   .flags = COLO_TCP_SYN | COLO_TCP_ACK, .mss = 1460,
                   .sackok = true, .wscale = 8);
    Frame d = MK(.proto = COLO_IPPROTO_TCP, .sport = 80, .dport = 40000,
                 .seq = 5001, .ack = 1001, .flags = COLO_TCP_ACK,
                 .poff = 10, .plen = 300);
    Frame ds = MK(.proto = COLO_IPPROTO_TCP, .sport = 80, .dport = 40000,
                  .seq = 5001, .ack = 1001, .flags = COLO_TCP_ACK,
                  .csum = 99, .poff = 10, .plen = 300);
    Frame bad;

    eng_start();
    in(P, &sa);
    expect_rel(0);
    in(S, &ssa);
    expect_rel(1, &sa);
    in(P, &d);
    in(S, &ds);
    expect_rel(2, &sa, &d);
    /* retransmitted SYN+ACKs: released at once / dropped */
    in(P, &sa);
    expect_rel(3, &sa, &d, &sa);
    in(S, &ssa);
    expect_ndiv(0);
    eng_stop();

    /* a secondary SYN+ACK answering another SYN is not paired */
    eng_start();
    bad = MK(.proto = COLO_IPPROTO_TCP, .sport = 80, .dport = 40000,
             .seq = 0x70000000, .ack = 2001,
             .flags = COLO_TCP_SYN | COLO_TCP_ACK, .mss = 536);
    in(S, &bad);
    in(P, &sa);
    expect_rel(0);
    in(S, &ssa);
    expect_rel(1, &sa);
    expect_ndiv(0);
    eng_stop();

    /* timestamps option on one side only */
    eng_start();
    bad = MK(.proto = COLO_IPPROTO_TCP, .sport = 80, .dport = 40000,
             .seq = 0x90000000, .ack = 1001,
             .flags = COLO_TCP_SYN | COLO_TCP_ACK, .mss = 1460,
             .sackok = true, .ts = true, .wscale = 8);
    in(P, &sa);
    in(S, &bad);
    expect_rel(1, &sa);
    expect_div(0, COLO_CMP_DIV_SYN, S, false, 0);
    eng_stop();

    /* secondary SYN+ACK first; stream offsets count from ISN + 1 */
    eng_start();
    in(S, &ssa);
    in(P, &sa);
    expect_rel(1, &sa);
    ds.b[ds.len - 300 + 42] ^= 2;
    in(P, &d);
    in(S, &ds);
    expect_rel(2, &sa, &d);
    expect_div(0, COLO_CMP_DIV_PAYLOAD, S, true, 42);
    eng_stop();

    /* options that matter differ */
    eng_start();
    bad = MK(.proto = COLO_IPPROTO_TCP, .sport = 80, .dport = 40000,
             .seq = 0x90000000, .ack = 1001,
             .flags = COLO_TCP_SYN | COLO_TCP_ACK, .mss = 1400,
             .sackok = true, .wscale = 8);
    in(P, &sa);
    in(S, &bad);
    expect_rel(1, &sa);
    expect_div(0, COLO_CMP_DIV_SYN, S, false, 0);
    eng_stop();

    eng_start();
    bad = MK(.proto = COLO_IPPROTO_TCP, .sport = 80, .dport = 40000,
             .seq = 0x90000000, .ack = 1001,
             .flags = COLO_TCP_SYN | COLO_TCP_ACK, .mss = 1460,
             .sackok = true, .wscale = 7);
    in(S, &bad);
    in(P, &sa);
    expect_rel(1, &sa);
    expect_div(0, COLO_CMP_DIV_SYN, P, false, 0);
    eng_stop();
}

/* After a checkpoint, a flow without SYN resyncs at the primary's seq */
static void test_tcp_resync(void)
{
    Frame p = seg(500, 100, 0), s_old = seg2(400, 100, 0);
    Frame s_ovl = seg2(450, 200, 0);

    eng_start();
    in(S, &s_old);      /* before the primary's first segment: dropped */
    in(S, &s_ovl);      /* overlaps it: compared from 500 */
    in(P, &p);
    expect_rel(1, &p);
    expect_ndiv(0);
    g_assert_cmpuint(stats().queued_frames[S], ==, 1);
    g_assert_cmpuint(stats().secondary_uncompared, ==, 1);
    eng_stop();
}

/* Sequence numbers wrapping around 2^32 */
static void test_tcp_wraparound(void)
{
    Frame p = MK(.proto = COLO_IPPROTO_TCP, .sport = 7, .dport = 8,
                 .seq = 0xffffffc0, .flags = COLO_TCP_ACK, .plen = 128);
    Frame s1 = MK(.proto = COLO_IPPROTO_TCP, .sport = 7, .dport = 8,
                  .seq = 0xffffffc0, .flags = COLO_TCP_ACK, .plen = 100);
    Frame s2 = MK(.proto = COLO_IPPROTO_TCP, .sport = 7, .dport = 8,
                  .seq = 36, .flags = COLO_TCP_ACK, .poff = 100, .plen = 28);
    Frame r = MK(.proto = COLO_IPPROTO_TCP, .sport = 7, .dport = 8,
                 .seq = 0xfffffff0, .flags = COLO_TCP_ACK, .poff = 48,
                 .plen = 20);

    eng_start();
    in(P, &p);
    in(S, &s1);
    expect_rel(0);
    in(S, &s2);
    expect_rel(1, &p);
    in(P, &r);          /* retransmission across the wrap */
    expect_rel(2, &p, &r);
    expect_ndiv(0);
    eng_stop();
}

/* A GSO super-frame against MSS-sized segments */
static void test_tcp_gso(void)
{
    enum { MSS = 1448, N = 40 };
    size_t plen = MSS * N, len = 14 + 20 + 20 + plen, i;
    uint8_t *big = g_malloc0(len);
    Frame s;
    GByteArray *r;

    memcpy(big, "\x52\x54\x00\x00\x00\x02\x52\x54\x00\x00\x00\x01"
           "\x08\x00\x45", 15);
    big[14 + 2] = (len - 14) >> 8;      /* < 64 KiB: a real total length */
    big[14 + 3] = (len - 14) & 0xff;
    big[14 + 9] = COLO_IPPROTO_TCP;
    big[14 + 12] = 10;
    big[14 + 15] = 1;
    big[14 + 16] = 10;
    big[14 + 19] = 2;
    big[34 + 1] = 7;        /* ports 7 -> 8 */
    big[34 + 3] = 8;
    big[34 + 7] = 1;        /* seq 1 */
    big[34 + 12] = 0x50;
    big[34 + 13] = COLO_TCP_ACK;
    for (i = 0; i < plen; i++) {
        big[54 + i] = stream_pat[i];
    }
    eng_start();
    g_assert_cmpuint(len - 14, <=, 65535);
    colo_cmp_engine_input(eng, P, big, len, now);
    check_invariants();
    for (i = 0; i < N; i++) {
        expect_rel(0);
        s = MK(.proto = COLO_IPPROTO_TCP, .sport = 7, .dport = 8,
               .seq = 1 + i * MSS, .flags = COLO_TCP_ACK, .poff = i * MSS,
               .plen = MSS);
        in(S, &s);
    }
    g_assert_cmpuint(released->len, ==, 1);
    r = g_ptr_array_index(released, 0);
    g_assert_cmpuint(r->len, ==, len);
    g_assert(memcmp(r->data, big, len) == 0);
    expect_ndiv(0);
    g_free(big);
    eng_stop();
}

/*
 * After a checkpoint the primary retransmits bytes sent before it; the
 * secondary does not (its timer did not fire) and sends new data: the
 * retransmission must not wait for the secondary.
 */
static void test_tcp_resync_retransmission(void)
{
    Frame old = seg(100, 100, 0), p2 = seg(200, 100, 0);
    Frame s2 = seg2(200, 100, 0), bad = seg2(300, 10, 0);
    Frame p3 = seg(300, 10, 0), s1;

    eng_start();
    colo_cmp_engine_checkpoint(eng);
    in(P, &old);
    in(P, &p2);
    expect_rel(0);
    in(S, &s2);
    expect_rel(2, &old, &p2);
    expect_ndiv(0);
    g_assert_cmpuint(stats().released_uncompared, ==, 1);
    /* the stream is compared from there on (offset counts from 100) */
    bad.b[bad.len - 1] ^= 1;
    in(P, &p3);
    in(S, &bad);
    expect_rel(3, &old, &p2, &p3);
    expect_div(0, COLO_CMP_DIV_PAYLOAD, S, true, 209);
    eng_stop();

    /* once bytes were compared, a gap on the secondary is waited for */
    eng_start();
    now = 0;
    in(P, &old);
    s1 = seg2(100, 10, 0);
    in(S, &s1);
    in(P, &p2);
    in(S, &s2);
    expect_rel(0);
    colo_cmp_engine_expire(eng, MS(3000));
    expect_rel(2, &old, &p2);
    expect_div(0, COLO_CMP_DIV_TIMEOUT, P, true, 10);
    eng_stop();
}

/*
 * Stream bytes [off, off + len) of seg()'s flow as two IPv4 fragments:
 * the first holds the TCP header and @first bytes (20 + @first a
 * multiple of 8), the second the rest, without L4 header.  @sec: as the
 * secondary sends them (seg2()'s header fields, another IP id).
 */
static void tcp_frags(size_t off, size_t len, size_t first, bool sec,
                      Frame *f1, Frame *f2)
{
    uint16_t ipid = sec ? 0x4242 : 0x1111;

    g_assert((COLO_TCP_HLEN + first) % 8 == 0 && first < len);
    *f1 = sec ? seg2(off, first, 0) : seg(off, first, 0);
    put16(f1->b + 14 + 4, ipid);
    put16(f1->b + 14 + 6, 0x2000);                  /* MF, offset 0 */
    /* built as IP protocol 0 (no L4 header), then made TCP */
    *f2 = MK(.ipid = ipid, .poff = off + first, .plen = len - first);
    f2->b[14 + 9] = COLO_IPPROTO_TCP;
    put16(f2->b + 14 + 6, (COLO_TCP_HLEN + first) / 8);
}

/*
 * Stream bytes that neither side's stream holds (here a segment both
 * guests sent as IP fragments, compared as datagrams) are skipped once
 * both sides' next segments start at the same sequence number.
 */
static void test_tcp_gap_both(void)
{
    Frame p1 = seg(0, 100, 0), s1 = seg2(0, 100, 0);
    Frame p3 = seg(200, 100, 0), s3 = seg2(200, 100, 0);
    Frame s3a = seg2(200, 50, 0), s3b = seg2(250, 50, 0);
    Frame p4 = seg(300, 10, 0), s4 = seg2(300, 10, 0);
    Frame pf1, pf2, sf1, sf2;
    ColoCmpStats st;

    tcp_frags(100, 100, 60, false, &pf1, &pf2);
    tcp_frags(100, 100, 60, true, &sf1, &sf2);

    eng_start();
    now = 0;
    in(P, &p1);
    in(S, &s1);
    in(P, &pf1);
    in(P, &pf2);
    in(S, &sf1);
    in(S, &sf2);
    expect_rel(3, &p1, &pf1, &pf2);
    in(P, &p3);
    expect_rel(3, &p1, &pf1, &pf2);
    in(S, &s3);
    expect_rel(4, &p1, &pf1, &pf2, &p3);
    st = stats();
    g_assert_cmpuint(st.queued_frames[P], ==, 0);
    g_assert_cmpuint(st.queued_frames[S], ==, 0);
    g_assert_cmpuint(st.released_identical, ==, 4);
    g_assert_cmpuint(st.secondary_matched, ==, 4);
    g_assert_cmpint(colo_cmp_engine_expire(eng, MS(3000)), ==, INT64_MAX);
    expect_ndiv(0);
    /* the stream offset counts the bytes skipped */
    s4.b[s4.len - 1] ^= 1;
    in(S, &s4);
    in(P, &p4);
    expect_rel(5, &p1, &pf1, &pf2, &p3, &p4);
    expect_div(0, COLO_CMP_DIV_PAYLOAD, P, true, 309);
    eng_stop();

    /* secondary first, segmented differently and out of order */
    eng_start();
    in(P, &p1);
    in(S, &s1);
    in(S, &s3b);
    in(S, &s3a);
    expect_rel(1, &p1);
    in(P, &p3);
    expect_rel(2, &p1, &p3);
    expect_ndiv(0);
    g_assert_cmpuint(stats().queued_frames[S], ==, 0);
    eng_stop();
}

/*
 * A gap only one side has data beyond is waited for, as any other; so is
 * one both sides have data beyond, but not from the same sequence number.
 */
static void test_tcp_gap_one_side(void)
{
    Frame p1 = seg(0, 100, 0), s1 = seg2(0, 100, 0);
    Frame p3 = seg(200, 100, 0), s3 = seg2(250, 50, 0);
    int both;

    for (both = 0; both < 2; both++) {
        eng_start();
        now = 0;
        in(P, &p1);
        in(S, &s1);
        in(P, &p3);
        if (both) {
            in(S, &s3);
        }
        colo_cmp_engine_expire(eng, MS(2999));
        expect_rel(1, &p1);
        colo_cmp_engine_expire(eng, MS(3000));
        expect_rel(2, &p1, &p3);
        expect_div(0, COLO_CMP_DIV_TIMEOUT, P, true, 100);
        eng_stop();
    }
}

/* Released frames so far must be @p[0] to @p[n - 1], then @last if set */
static void expect_rel_array(const Frame *p, int n, const Frame *last)
{
    int i;

    g_assert_cmpint(released->len, ==, n + !!last);
    for (i = 0; i <= n; i++) {
        const Frame *f = i < n ? &p[i] : last;
        GByteArray *r;

        if (f) {
            r = g_ptr_array_index(released, i);
            g_assert_cmpmem(r->data, r->len, f->b, f->len);
        }
    }
}

/*
 * A retransmission of bytes still queued on its side (here a tail loss
 * probe: the last segment again, behind N uncompared ones) is decided on
 * arrival, as its bytes are compared through the first copy: it must not
 * break the queue's in-order fast path, on which the other side's N
 * segments are each matched in constant time.
 */
static void test_tcp_retransmit_queued(void)
{
    enum { N = 2048, LEN = 10 };
    ColoCmpConfig cfg = { .compare_timeout_ns = MS(3000),
                          .max_queue_size = N + 1 };
    Frame *p = g_new(Frame, N + 1), *s = g_new(Frame, N + 1), r;
    ColoCmpStats st;
    int i;

    for (i = 0; i < N; i++) {
        p[i] = seg(i * LEN, LEN, 0);
        s[i] = seg2(i * LEN, LEN, 0);
    }
    p[N] = seg((N - 1) * LEN, LEN, 0);
    p[N].b[14 + 5] ^= 0xff;         /* make it distinguishable (IP id) */
    s[N] = seg2((N - 1) * LEN, LEN, 0);
    s[N].b[14 + 5] ^= 0xff;

    eng_start_cfg(&cfg);
    for (i = 0; i <= N; i++) {
        in(P, &p[i]);
    }
    expect_rel(0);
    for (i = 0; i < N; i++) {
        in(S, &s[i]);
        g_assert_cmpuint(released->len, ==, i + 1 + (i == N - 1));
    }
    expect_rel_array(p, N + 1, NULL);
    expect_ndiv(0);
    st = stats();
    g_assert_cmpuint(st.released_identical, ==, N);
    g_assert_cmpuint(st.released_uncompared, ==, 1);
    g_assert_cmpuint(st.secondary_matched, ==, N);
    g_assert_cmpuint(st.queued_frames[P], ==, 0);
    eng_stop();

    /*
     * The retransmission never joined the list of segments waiting for
     * a comparison (where it would have stopped the list being in
     * order): it was decided on arrival, as a checkpoint's counters
     * show.  It is still released in its turn.
     */
    eng_start_cfg(&cfg);
    for (i = 0; i <= N; i++) {
        in(P, &p[i]);
    }
    colo_cmp_engine_checkpoint(eng);
    expect_rel_array(p, N + 1, NULL);
    st = stats();
    g_assert_cmpuint(st.released_checkpoint, ==, N);
    g_assert_cmpuint(st.released_uncompared, ==, 1);
    eng_stop();

    /* the same from compared bytes into queued ones */
    eng_start_cfg(&cfg);
    for (i = 0; i < N; i++) {
        in(P, &p[i]);
    }
    for (i = 0; i < N / 2; i++) {
        in(S, &s[i]);
    }
    r = seg((N / 2 - 1) * LEN, 2 * LEN, 0);
    in(P, &r);
    colo_cmp_engine_checkpoint(eng);
    expect_rel_array(p, N, &r);
    st = stats();
    g_assert_cmpuint(st.released_identical, ==, N / 2);
    g_assert_cmpuint(st.released_checkpoint, ==, N / 2);
    g_assert_cmpuint(st.released_uncompared, ==, 1);
    eng_stop();

    /* the same on the secondary side: dropped, never queued */
    cfg.max_queue_size = N;
    eng_start_cfg(&cfg);
    for (i = 0; i <= N; i++) {
        in(S, &s[i]);
    }
    st = stats();
    g_assert_cmpuint(st.queued_frames[S], ==, N);
    g_assert_cmpuint(st.secondary_uncompared, ==, 1);
    for (i = 0; i < N; i++) {
        in(P, &p[i]);
        g_assert_cmpuint(released->len, ==, i + 1);
    }
    expect_ndiv(0);
    st = stats();
    g_assert_cmpuint(st.released_identical, ==, N);
    g_assert_cmpuint(st.secondary_matched, ==, N);
    g_assert_cmpuint(st.queued_frames[S], ==, 0);
    eng_stop();

    g_free(p);
    g_free(s);
}

/*
 * FIFO protocols
 */

static void test_udp_fifo(void)
{
    enum { N = 60 };
    Frame p[N], s[N];
    ColoCmpStats st;
    int i;

    eng_start();
    for (i = 0; i < N; i++) {
        p[i] = udp(5000, i * 3, 20 + i);
        s[i] = p[i];
        s[i].b[14 + 4 + 1] = i;         /* IP id */
        s[i].b[14 + 8] = 10 + i;        /* TTL */
        s[i].b[14 + 20 + 6] = 0xee;     /* UDP checksum */
        in(P, &p[i]);
    }
    expect_rel(0);
    for (i = 0; i < N; i++) {
        in(S, &s[i]);
        g_assert_cmpint(released->len, ==, i + 1);
    }
    for (i = 0; i < N; i++) {
        GByteArray *r = g_ptr_array_index(released, i);

        g_assert_cmpuint(r->len, ==, p[i].len);
        g_assert(memcmp(r->data, p[i].b, p[i].len) == 0);
    }
    /* interleaved and secondary first */
    for (i = 0; i < N; i++) {
        in(S, &s[i]);
        in(P, &p[i]);
        g_assert_cmpint(released->len, ==, N + i + 1);
        g_assert(memcmp(((GByteArray *)g_ptr_array_index(released, N + i))
                        ->data, p[i].b, p[i].len) == 0);
    }
    expect_ndiv(0);
    st = stats();
    g_assert_cmpuint(st.released_identical, ==, 2 * N);
    g_assert_cmpuint(st.secondary_matched, ==, 2 * N);
    eng_stop();
}

static void test_udp_diff(void)
{
    Frame p = udp(5000, 0, 40), s = udp(5000, 0, 40);
    Frame p2 = udp(5000, 0, 40), s2 = udp(5000, 0, 41);

    eng_start();
    /* only the checksum differs: identical */
    s.b[14 + 20 + 6] ^= 0xff;
    s.b[14 + 20 + 7] ^= 0x0f;
    in(P, &p);
    in(S, &s);
    expect_rel(1, &p);
    expect_ndiv(0);
    s.b[s.len - 3] ^= 1;
    in(P, &p);
    in(S, &s);
    expect_rel(2, &p, &p);
    /* Ethernet 14 + IPv4 20 + UDP 8 + 37 */
    expect_div(0, COLO_CMP_DIV_PAYLOAD, S, false, 14 + 20 + 8 + 37);
    eng_stop();

    eng_start();
    in(P, &p2);
    in(S, &s2);
    expect_rel(1, &p2);
    /* first difference: the UDP length field */
    expect_div(0, COLO_CMP_DIV_SIZE, S, false, 14 + 20 + 5);
    eng_stop();

    /* different destination port: another flow, so no pairing */
    eng_start();
    now = 0;
    s = udp(5000, 0, 40);
    s.b[14 + 20 + 3] = 54;
    in(P, &p);
    in(S, &s);
    expect_rel(0);
    colo_cmp_engine_expire(eng, MS(3000));
    expect_rel(1, &p);
    expect_div(0, COLO_CMP_DIV_TIMEOUT, P, false, 0);
    g_assert_cmpuint(stats().secondary_expired, ==, 1);
    eng_stop();
}

/* IP fragments: the fragment fields are compared, not the IP id */
static void test_fragments(void)
{
    Frame p = udp(9, 0, 100), s = udp(9, 0, 100);

    eng_start();
    p.b[14 + 6] = 0x20;             /* MF: first fragment */
    s.b[14 + 6] = 0x20;
    s.b[14 + 5] = 0x77;             /* another IP id */
    in(P, &p);
    in(S, &s);
    expect_rel(1, &p);
    expect_ndiv(0);
    s.b[14 + 6] = 0x40;             /* DF, not a fragment */
    in(P, &p);
    in(S, &s);
    expect_rel(2, &p, &p);
    expect_div(0, COLO_CMP_DIV_HEADER, S, false, 0);
    eng_stop();
}

static void test_icmp(void)
{
    Frame p = MK(.proto = COLO_IPPROTO_ICMP, .icmp_type = COLO_ICMP_ECHO,
                 .icmp_id = 7, .icmp_seq = 1, .poff = 5, .plen = 56);
    Frame s = MK(.proto = COLO_IPPROTO_ICMP, .icmp_type = COLO_ICMP_ECHO,
                 .icmp_id = 7, .icmp_seq = 1, .poff = 5, .plen = 56,
                 .ipid = 99, .ttl = 3, .csum = 0xabcd);
    Frame s2 = MK(.proto = COLO_IPPROTO_ICMP, .icmp_type = COLO_ICMP_ECHO,
                  .icmp_id = 7, .icmp_seq = 2, .poff = 5, .plen = 56);

    eng_start();
    in(P, &p);
    in(S, &s);
    expect_rel(1, &p);
    expect_ndiv(0);
    /* different sequence number: an ICMP header difference */
    in(P, &p);
    in(S, &s2);
    expect_rel(2, &p, &p);
    expect_div(0, COLO_CMP_DIV_HEADER, S, false, 14 + 20 + 7);
    eng_stop();
}

static void test_arp(void)
{
    Frame p = MK(.arp = true), s = MK(.arp = true);
    Frame bad = MK(.arp = true, .dst = 9);
    Frame other = MK(.arp = true, .arp_op = 2);

    eng_start();
    in(P, &p);
    expect_rel(0);
    in(S, &s);
    expect_rel(1, &p);
    in(S, &bad);
    in(P, &p);
    expect_rel(2, &p, &p);
    expect_div(0, COLO_CMP_DIV_PAYLOAD, P, false, 14 + 27);
    eng_stop();

    /* FIFO order: requests paired in order */
    eng_start();
    in(P, &p);
    in(P, &other);
    in(S, &s);
    in(S, &other);
    expect_rel(2, &p, &other);
    expect_ndiv(0);
    eng_stop();
}

static void test_ipv6(void)
{
    Frame t = MK(.v6 = true, .proto = COLO_IPPROTO_TCP, .sport = 1, .dport = 2,
                 .seq = 10, .flags = COLO_TCP_ACK, .plen = 400);
    Frame t1 = MK(.v6 = true, .proto = COLO_IPPROTO_TCP, .sport = 1,
                  .dport = 2, .seq = 10, .flags = COLO_TCP_ACK, .plen = 100,
                  .ttl = 1);
    Frame t2 = MK(.v6 = true, .proto = COLO_IPPROTO_TCP, .sport = 1,
                  .dport = 2, .seq = 110, .flags = COLO_TCP_ACK,
                  .poff = 100, .plen = 300);
    Frame u = MK(.v6 = true, .proto = COLO_IPPROTO_UDP, .sport = 1,
                 .dport = 2, .plen = 30);
    Frame ub = MK(.v6 = true, .proto = COLO_IPPROTO_UDP, .sport = 1,
                  .dport = 2, .plen = 30, .poff = 1);
    Frame ic = MK(.v6 = true, .proto = COLO_IPPROTO_ICMPV6,
                  .icmp_type = COLO_ICMPV6_ECHO, .icmp_id = 3, .plen = 8);
    Frame ics = MK(.v6 = true, .proto = COLO_IPPROTO_ICMPV6,
                   .icmp_type = COLO_ICMPV6_ECHO, .icmp_id = 3, .plen = 8,
                   .csum = 1, .ttl = 255);

    eng_start();
    in(P, &t);
    in(S, &t1);
    expect_rel(0);
    in(S, &t2);
    expect_rel(1, &t);
    in(P, &u);
    in(S, &u);
    in(P, &ic);
    in(S, &ics);
    expect_rel(3, &t, &u, &ic);
    expect_ndiv(0);
    in(P, &u);
    in(S, &ub);
    expect_rel(4, &t, &u, &ic, &u);
    expect_div(0, COLO_CMP_DIV_PAYLOAD, S, false, 14 + 40 + 8);
    eng_stop();
}

static void test_vlan(void)
{
    Frame p = MK(.vlan = 6, .proto = COLO_IPPROTO_UDP, .sport = 3,
                 .dport = 4, .plen = 10);
    Frame s = MK(.vlan = 6, .proto = COLO_IPPROTO_UDP, .sport = 3,
                 .dport = 4, .plen = 10, .ipid = 1);
    Frame sv = MK(.vlan = 7, .proto = COLO_IPPROTO_UDP, .sport = 3,
                  .dport = 4, .plen = 10);
    Frame tp = MK(.vlan = 100, .proto = COLO_IPPROTO_TCP, .sport = 1,
                  .dport = 2, .seq = 1, .flags = COLO_TCP_ACK, .plen = 50);
    Frame ts = MK(.vlan = 100, .proto = COLO_IPPROTO_TCP, .sport = 1,
                  .dport = 2, .seq = 1, .flags = COLO_TCP_ACK, .plen = 50,
                  .win = 1);

    eng_start();
    in(P, &p);
    in(S, &s);
    expect_rel(1, &p);
    in(P, &tp);
    in(S, &ts);
    expect_rel(2, &p, &tp);
    /* another VLAN id is another flow */
    now = 0;
    in(P, &p);
    in(S, &sv);
    expect_rel(2, &p, &tp);
    colo_cmp_engine_expire(eng, MS(5000));
    expect_rel(3, &p, &tp, &p);
    expect_div(0, COLO_CMP_DIV_TIMEOUT, P, false, 0);
    eng_stop();
}

static void test_vnet_hdr(void)
{
    ColoCmpConfig cfg = { .vnet_hdr_len = 12 };
    Frame p = MK(.vnet = 12, .vnet_fill = 0, .proto = COLO_IPPROTO_UDP,
                 .sport = 1, .dport = 2, .plen = 20);
    Frame s = MK(.vnet = 12, .vnet_fill = 0x11, .proto = COLO_IPPROTO_UDP,
                 .sport = 1, .dport = 2, .plen = 20);
    Frame s2 = s;

    eng_start_cfg(&cfg);
    in(P, &p);
    in(S, &s);
    expect_rel(1, &p);
    expect_ndiv(0);
    s2.b[s2.len - 1] ^= 1;
    in(P, &p);
    in(S, &s2);
    expect_rel(2, &p, &p);
    /* offsets do not count the virtio-net header */
    expect_div(0, COLO_CMP_DIV_PAYLOAD, S, false, 14 + 20 + 8 + 19);
    eng_stop();
}

/*
 * Bounds
 */

static void test_timeout(void)
{
    Frame p1 = seg(0, 100, 0), p2 = seg(100, 100, 0), s1 = seg2(0, 50, 0);
    Frame u = udp(1, 0, 10), a;

    eng_start();
    now = MS(1000);
    in(P, &p1);
    now = MS(2000);
    in(P, &p2);
    in(S, &s1);
    in(P, &u);
    g_assert_cmpint(colo_cmp_engine_next_deadline(eng), ==, MS(4000));
    g_assert_cmpint(colo_cmp_engine_expire(eng, MS(3999)), ==, MS(4000));
    expect_rel(0);
    g_assert_cmpint(colo_cmp_engine_expire(eng, MS(4000)), ==, MS(5000));
    expect_rel(2, &p1, &p2);
    expect_ndiv(1);
    /* the TCP timeout reports the comparison point */
    expect_div(0, COLO_CMP_DIV_TIMEOUT, P, true, 50);
    /* the flow is passed through until the checkpoint */
    a = seg(200, 10, 0);
    in(P, &a);
    expect_rel(3, &p1, &p2, &a);
    g_assert_cmpint(colo_cmp_engine_expire(eng, MS(5000)), ==, INT64_MAX);
    expect_rel(4, &p1, &p2, &a, &u);
    expect_div(1, COLO_CMP_DIV_TIMEOUT, P, false, 0);
    g_assert_cmpuint(stats().divergences[COLO_CMP_DIV_TIMEOUT], ==, 2);
    eng_stop();

    /* secondary frames expire silently */
    eng_start();
    now = 0;
    in(S, &s1);
    in(S, &u);
    g_assert_cmpint(colo_cmp_engine_expire(eng, MS(1)), ==, MS(3000));
    g_assert_cmpint(colo_cmp_engine_expire(eng, MS(3000)), ==, INT64_MAX);
    expect_ndiv(0);
    g_assert_cmpuint(stats().secondary_expired, ==, 2);
    g_assert_cmpuint(stats().queued_frames[S], ==, 0);
    eng_stop();
}

static void test_queue_limits(void)
{
    ColoCmpConfig cfg = { .max_queue_size = 4 };
    Frame p[6], s[6];
    int i;

    eng_start_cfg(&cfg);
    for (i = 0; i < 6; i++) {
        p[i] = udp(7, i, 10);
        s[i] = udp(7, i, 10);
    }
    for (i = 0; i < 4; i++) {
        in(P, &p[i]);
    }
    expect_rel(0);
    in(P, &p[4]);       /* does not fit: everything released in order */
    expect_rel(5, &p[0], &p[1], &p[2], &p[3], &p[4]);
    expect_div(0, COLO_CMP_DIV_QUEUE_FULL, P, false, 0);
    eng_stop();

    eng_start_cfg(&cfg);
    for (i = 0; i < 4; i++) {
        in(S, &s[i]);
    }
    in(P, &p[0]);
    expect_rel(1, &p[0]);
    in(S, &s[4]);
    in(S, &s[5]);       /* fifth queued: dropped, flow diverges */
    expect_div(0, COLO_CMP_DIV_QUEUE_FULL, S, false, 0);
    g_assert_cmpuint(stats().secondary_overflow, ==, 1);
    g_assert_cmpuint(stats().queued_frames[S], ==, 0);
    in(P, &p[1]);
    expect_rel(2, &p[0], &p[1]);
    expect_ndiv(1);
    eng_stop();

    /* TCP queue-full reports the stream offset */
    eng_start_cfg(&cfg);
    {
        Frame t[5];

        for (i = 0; i < 5; i++) {
            t[i] = seg(i * 10, 10, 0);
            in(P, &t[i]);
        }
        expect_rel(5, &t[0], &t[1], &t[2], &t[3], &t[4]);
        expect_div(0, COLO_CMP_DIV_QUEUE_FULL, P, true, 0);
    }
    eng_stop();
}

static void test_table_full(void)
{
    ColoCmpConfig cfg = { .max_connections = 2 };
    Frame a = udp(1, 0, 10), b = udp(2, 0, 10), c = udp(3, 0, 10);
    Frame cs = udp(3, 0, 10);
    Frame syn = MK(.proto = COLO_IPPROTO_TCP, .sport = 4, .dport = 5,
                   .seq = 1, .flags = COLO_TCP_SYN);
    ColoCmpStats st;

    eng_start_cfg(&cfg);
    in(P, &a);
    in(P, &b);
    in(P, &c);          /* a and b are pinned */
    expect_rel(1, &c);
    expect_div(0, COLO_CMP_DIV_TABLE_FULL, P, false, 0);
    g_assert(div_at(0)->has_key);
    in(S, &cs);
    st = stats();
    g_assert_cmpuint(st.secondary_table_full, ==, 1);
    g_assert_cmpuint(st.connections, ==, 2);
    /* a SYN from the guest needs no comparison: no divergence */
    in(P, &syn);
    expect_rel(2, &c, &syn);
    expect_ndiv(1);
    /* once unpinned, entries are reused */
    in(S, &a);
    in(S, &b);
    expect_rel(4, &c, &syn, &a, &b);
    in(P, &c);
    in(S, &cs);
    expect_rel(5, &c, &syn, &a, &b, &c);
    expect_ndiv(1);
    eng_stop();
}

static void test_malformed(void)
{
    Frame bad = udp(1, 0, 10);
    Frame u = udp(2, 0, 10);
    const ColoCmpDivergence *d;

    bad.b[14] = 0x44;       /* IHL 4 */
    eng_start();
    in(P, &u);
    in(P, &bad);            /* released at once, not ordered with a flow */
    expect_rel(1, &bad);
    d = div_at(0);
    g_assert_cmpint(d->reason, ==, COLO_CMP_DIV_MALFORMED);
    g_assert(!d->has_key);
    g_assert_cmpint(d->pkt_error, ==, COLO_PKT_ERR_IPV4_IHL);
    g_assert_cmpuint(d->primary_len, ==, bad.len);
    in(S, &bad);
    g_assert_cmpuint(stats().secondary_malformed, ==, 1);
    /* truncated frames */
    in(P, &(Frame){ .len = 5 });
    in(S, &(Frame){ .len = 0 });
    expect_ndiv(2);
    g_assert_cmpuint(stats().secondary_malformed, ==, 2);
    in(S, &u);
    expect_rel(3, &bad, &(Frame){ .len = 5 }, &u);
    eng_stop();
}

/*
 * Checkpoint and failover
 */

static void test_checkpoint(void)
{
    Frame t1 = seg(0, 100, 0), t2 = seg(100, 100, 0);
    Frame u1 = udp(1, 0, 10), u2 = udp(2, 0, 10), u3 = udp(1, 1, 10);
    Frame s1 = seg2(0, 100, 0), ss = udp(3, 0, 10);
    Frame n1 = seg(1000, 10, 0), ns = seg2(1000, 10, 0);
    ColoCmpStats st;

    eng_start();
    in(P, &t1);
    in(P, &u1);
    in(P, &t2);
    in(P, &u2);
    in(P, &u3);
    in(S, &ss);
    in(S, &u2);
    expect_rel(1, &u2);
    colo_cmp_engine_checkpoint(eng);
    expect_rel(5, &u2, &t1, &u1, &t2, &u3);
    expect_ndiv(0);
    st = stats();
    g_assert_cmpuint(st.released_checkpoint, ==, 4);
    g_assert_cmpuint(st.secondary_checkpoint, ==, 1);
    g_assert_cmpuint(st.queued_frames[P] + st.queued_frames[S], ==, 0);
    g_assert_cmpuint(st.checkpoints, ==, 1);
    g_assert_cmpint(colo_cmp_engine_next_deadline(eng), ==, INT64_MAX);
    /* the stream restarts at the primary's next segment */
    in(S, &s1);         /* stale: before the new start, dropped */
    in(P, &n1);
    in(S, &ns);
    expect_rel(6, &u2, &t1, &u1, &t2, &u3, &n1);
    expect_ndiv(0);
    eng_stop();
}

static void test_failover(void)
{
    Frame t1 = seg(0, 100, 0), u1 = udp(1, 0, 10), s = seg2(0, 5, 0);
    ColoCmpStats st;

    eng_start();
    in(P, &t1);
    in(S, &s);
    in(P, &u1);
    g_assert(!colo_cmp_engine_is_failover(eng));
    colo_cmp_engine_failover(eng);
    g_assert(colo_cmp_engine_is_failover(eng));
    expect_rel(2, &t1, &u1);
    in(P, &u1);
    expect_rel(3, &t1, &u1, &u1);
    in(S, &u1);
    in(P, &(Frame){ .len = 3 });    /* even malformed ones */
    expect_rel(4, &t1, &u1, &u1, &(Frame){ .len = 3 });
    expect_ndiv(0);
    st = stats();
    g_assert_cmpuint(st.released_failover, ==, 4);
    g_assert_cmpuint(st.secondary_failover, ==, 1);
    g_assert_cmpuint(st.secondary_matched, ==, 1);
    eng_stop();
}

/* Many flows compared at once, interleaved */
static void test_many_flows(void)
{
    enum { N = 500 };
    ColoCmpConfig cfg = { .max_connections = N };
    Frame *p = g_new(Frame, N);
    int i;

    eng_start_cfg(&cfg);
    for (i = 0; i < N; i++) {
        p[i] = MK(.proto = COLO_IPPROTO_TCP, .sport = 1000 + i, .dport = 80,
                  .seq = i * 7919, .flags = COLO_TCP_ACK,
                  .poff = i, .plen = 64);
        in(P, &p[i]);
    }
    g_assert_cmpuint(stats().connections, ==, N);
    for (i = N - 1; i >= 0; i--) {
        Frame s = p[i];

        s.b[14 + 20 + 14] ^= 0xff;       /* window */
        in(S, &s);
        g_assert(memcmp(((GByteArray *)g_ptr_array_index(released,
                                                         N - 1 - i))->data,
                        p[i].b, p[i].len) == 0);
    }
    expect_ndiv(0);
    g_free(p);
    eng_stop();
}

/* Idle flows are forgotten; their next segment resyncs */
static void test_idle_expiry(void)
{
    ColoCmpConfig cfg = { .conn_idle_timeout_ns = MS(60000) };
    Frame p = seg(0, 10, 0), s = seg2(0, 10, 0);
    Frame p2 = seg(5000, 10, 0), s2 = seg2(5000, 10, 0);

    eng_start_cfg(&cfg);
    now = 0;
    in(P, &p);
    in(S, &s);
    g_assert_cmpuint(stats().connections, ==, 1);
    now = MS(60000);
    colo_cmp_engine_expire(eng, now);
    g_assert_cmpuint(stats().connections, ==, 0);
    in(P, &p2);
    in(S, &s2);
    expect_rel(2, &p, &p2);
    expect_ndiv(0);
    eng_stop();
}

/*
 * colo_cmp_engine_input_burst() decides exactly as colo_cmp_engine_input()
 * frame by frame.  Enough flows for the engine to look ahead in bursts
 * (it does from 1,024 connections), and in the bursts everything that
 * leaves the common path: malformed frames, pure ACKs, a guest SYN, UDP,
 * a payload divergence, several frames of one flow.
 */
typedef struct BurstStep {
    ColoCmpSide side;
    Frame f;
} BurstStep;

typedef struct BurstResult {
    GPtrArray *released;
    GArray *divs;
    ColoCmpStats st;
} BurstResult;

/* @lookahead: 0 for single frames, else lookahead_min_conns for bursts */
static BurstResult burst_run(const BurstStep *steps, size_t n,
                             uint32_t lookahead)
{
    ColoCmpConfig cfg = { .max_connections = 4096,
                          .compare_timeout_ns = MS(3000),
                          .lookahead_min_conns = lookahead };
    bool burst = lookahead != 0;
    ColoCmpFrameRef refs[40];
    BurstResult r;
    size_t i = 0, k;
    uint32_t rnd = 12345;

    eng_start_cfg(&cfg);
    while (i < n) {
        size_t m = 1;

        if (!burst) {
            in(steps[i].side, &steps[i].f);
            i++;
            continue;
        }
        /* a run of frames of one side, cut at pseudo-random lengths */
        rnd = rnd * 1103515245 + 12345;
        while (i + m < n && m < 1 + (rnd >> 16) % G_N_ELEMENTS(refs) &&
               steps[i + m].side == steps[i].side) {
            m++;
        }
        for (k = 0; k < m; k++) {
            refs[k].data = steps[i + k].f.b;
            refs[k].len = steps[i + k].f.len;
        }
        colo_cmp_engine_input_burst(eng, steps[i].side, refs, m, now);
        check_invariants();
        i += m;
    }
    r.released = g_ptr_array_ref(released);
    r.divs = g_array_ref(divs);
    r.st = stats();
    eng_stop();
    return r;
}

/* Run @steps in bursts; the outcome must be @a's, frame by frame. */
static void burst_check(const BurstResult *a, const BurstStep *steps,
                        size_t n, uint32_t lookahead)
{
    BurstResult b = burst_run(steps, n, lookahead);
    guint i;

    g_assert_cmpuint(a->released->len, ==, b.released->len);
    for (i = 0; i < a->released->len; i++) {
        GByteArray *x = g_ptr_array_index(a->released, i);
        GByteArray *y = g_ptr_array_index(b.released, i);

        g_assert_cmpmem(x->data, x->len, y->data, y->len);
    }
    g_assert_cmpuint(a->divs->len, ==, b.divs->len);
    for (i = 0; i < a->divs->len; i++) {
        ColoCmpDivergence *x = &g_array_index(a->divs, ColoCmpDivergence, i);
        ColoCmpDivergence *y = &g_array_index(b.divs, ColoCmpDivergence, i);

        g_assert_cmpint(x->reason, ==, y->reason);
        g_assert_cmpint(x->side, ==, y->side);
        g_assert_cmpuint(x->primary_len, ==, y->primary_len);
    }
    g_assert_cmpmem(&a->st, offsetof(ColoCmpStats, connections),
                    &b.st, offsetof(ColoCmpStats, connections));
    g_assert_cmpuint(a->st.connections, ==, b.st.connections);
    g_assert_cmpuint(a->st.queued_frames[P], ==, b.st.queued_frames[P]);
    g_assert_cmpuint(a->st.queued_frames[S], ==, b.st.queued_frames[S]);
    g_ptr_array_unref(b.released);
    g_array_unref(b.divs);
}

static void test_burst(void)
{
    enum { FLOWS = 1200 };
    GArray *steps = g_array_new(false, false, sizeof(BurstStep));
    BurstStep st;
    BurstResult a;
    uint32_t i, j;

    /* FLOWS TCP flows, three segments each, the secondary's in bulk */
    for (j = 0; j < 3; j++) {
        for (i = 0; i < FLOWS; i++) {
            st.side = P;
            st.f = MK(.proto = COLO_IPPROTO_TCP, .sport = 1000 + i,
                      .dport = 80, .seq = i * 7919 + j * 100,
                      .flags = COLO_TCP_ACK, .poff = i + j * 100,
                      .plen = 100);
            if (i % 97 == 5) {
                st.f.len = 14 + 10;             /* truncated IP header */
            }
            g_array_append_val(steps, st);
            if (i % 89 == 3) {                  /* a primary pure ACK */
                st.f = MK(.proto = COLO_IPPROTO_TCP, .sport = 1000 + i,
                          .dport = 80, .seq = i * 7919 + j * 100 + 100,
                          .ack = 5, .flags = COLO_TCP_ACK);
                g_array_append_val(steps, st);
            }
        }
        st.f = MK(.proto = COLO_IPPROTO_TCP, .sport = 9000 + j, .dport = 22,
                  .seq = 1, .flags = COLO_TCP_SYN, .mss = 1460);
        g_array_append_val(steps, st);
        st.f = udp(5000 + j, j, 40);
        g_array_append_val(steps, st);
        for (i = 0; i < FLOWS; i++) {
            st.side = S;
            st.f = MK(.proto = COLO_IPPROTO_TCP, .sport = 1000 + i,
                      .dport = 80, .seq = i * 7919 + j * 100, .ack = 3,
                      .win = 77, .flags = COLO_TCP_ACK | COLO_TCP_PSH,
                      .poff = i + j * 100, .plen = 100);
            if (i % 101 == 7 && j == 1) {
                st.f.b[st.f.len - 1] ^= 0x40;   /* payload divergence */
            }
            if (i % 83 == 2) {
                st.f.len = 14 + 20 + 10;        /* truncated TCP header */
            }
            g_array_append_val(steps, st);
        }
        st.f = udp(5000 + j, j, 40);
        g_array_append_val(steps, st);
    }

    a = burst_run((BurstStep *)steps->data, steps->len, 0);
    g_assert_cmpuint(a.st.connections, >=,
                     COLO_CMP_DEFAULT_LOOKAHEAD_MIN_CONNS);
    g_assert_cmpuint(a.divs->len, >, 0);
    /* with the default threshold, then looking ahead from the start */
    burst_check(&a, (BurstStep *)steps->data, steps->len,
                COLO_CMP_DEFAULT_LOOKAHEAD_MIN_CONNS);
    burst_check(&a, (BurstStep *)steps->data, steps->len, 1);

    g_ptr_array_unref(a.released);
    g_array_unref(a.divs);
    g_array_unref(steps);
}

int main(int argc, char **argv)
{
    size_t i;

    for (i = 0; i < sizeof(stream_pat); i++) {
        stream_pat[i] = (uint8_t)(i * 131 + (i >> 8) * 7 + 1);
    }
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/colo-compare-engine/names", test_names);
    g_test_add_func("/colo-compare-engine/tcp/identical", test_tcp_identical);
    g_test_add_func("/colo-compare-engine/tcp/resegmented",
                    test_tcp_resegmented);
    g_test_add_func("/colo-compare-engine/tcp/payload-diff",
                    test_tcp_payload_diff);
    g_test_add_func("/colo-compare-engine/tcp/retransmission",
                    test_tcp_retransmission);
    g_test_add_func("/colo-compare-engine/tcp/overlap", test_tcp_overlap);
    g_test_add_func("/colo-compare-engine/tcp/out-of-order",
                    test_tcp_out_of_order);
    g_test_add_func("/colo-compare-engine/tcp/fin", test_tcp_fin);
    g_test_add_func("/colo-compare-engine/tcp/rst", test_tcp_rst);
    g_test_add_func("/colo-compare-engine/tcp/pure-ack", test_tcp_pure_ack);
    g_test_add_func("/colo-compare-engine/tcp/guest-connect",
                    test_tcp_guest_connect);
    g_test_add_func("/colo-compare-engine/tcp/guest-accept",
                    test_tcp_guest_accept);
    g_test_add_func("/colo-compare-engine/tcp/resync", test_tcp_resync);
    g_test_add_func("/colo-compare-engine/tcp/wraparound",
                    test_tcp_wraparound);
    g_test_add_func("/colo-compare-engine/tcp/gso", test_tcp_gso);
    g_test_add_func("/colo-compare-engine/tcp/resync-retransmission",
                    test_tcp_resync_retransmission);
    g_test_add_func("/colo-compare-engine/tcp/gap-both", test_tcp_gap_both);
    g_test_add_func("/colo-compare-engine/tcp/gap-one-side",
                    test_tcp_gap_one_side);
    g_test_add_func("/colo-compare-engine/tcp/retransmit-queued",
                    test_tcp_retransmit_queued);
    g_test_add_func("/colo-compare-engine/udp/fifo", test_udp_fifo);
    g_test_add_func("/colo-compare-engine/udp/diff", test_udp_diff);
    g_test_add_func("/colo-compare-engine/fragments", test_fragments);
    g_test_add_func("/colo-compare-engine/icmp", test_icmp);
    g_test_add_func("/colo-compare-engine/arp", test_arp);
    g_test_add_func("/colo-compare-engine/ipv6", test_ipv6);
    g_test_add_func("/colo-compare-engine/vlan", test_vlan);
    g_test_add_func("/colo-compare-engine/vnet-hdr", test_vnet_hdr);
    g_test_add_func("/colo-compare-engine/timeout", test_timeout);
    g_test_add_func("/colo-compare-engine/queue-limits",
                    test_queue_limits);
    g_test_add_func("/colo-compare-engine/table-full", test_table_full);
    g_test_add_func("/colo-compare-engine/malformed", test_malformed);
    g_test_add_func("/colo-compare-engine/checkpoint", test_checkpoint);
    g_test_add_func("/colo-compare-engine/failover", test_failover);
    g_test_add_func("/colo-compare-engine/many-flows", test_many_flows);
    g_test_add_func("/colo-compare-engine/idle-expiry", test_idle_expiry);
    g_test_add_func("/colo-compare-engine/burst", test_burst);
    return g_test_run();
}
