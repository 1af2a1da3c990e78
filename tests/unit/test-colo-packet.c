/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the COLO proxy packet layer (net/colo.c): parsing of
 * hand-built frames on every protocol path, every malformed-frame reason,
 * flow keys, and checksum helpers checked against a naive reference
 * implementation written here.
 */

#include "qemu/osdep.h"
#include "net/colo.h"

/*
 * Frame builder
 */

typedef struct TB {
    uint8_t b[2048];
    size_t len;
    size_t l3;                  /* IP header offset */
    size_t l4;                  /* upper-layer header offset */
    int ipver;                  /* 0, 4 or 6 */
    uint8_t proto;              /* upper-layer protocol */
    bool no_l4_csum;            /* fragments: do not fill in */
} TB;

static const uint8_t v4_a[4] = { 10, 0, 0, 1 };
static const uint8_t v4_b[4] = { 10, 0, 0, 2 };
static const uint8_t v6_a[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0,
                                  0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t v6_b[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0,
                                  0, 0, 0, 0, 0, 0, 0, 2 };

static void put8(TB *t, uint8_t v)
{
    g_assert_cmpuint(t->len, <, sizeof(t->b));
    t->b[t->len++] = v;
}

static void put16(TB *t, uint16_t v)
{
    put8(t, v >> 8);
    put8(t, v);
}

static void put32(TB *t, uint32_t v)
{
    put16(t, v >> 16);
    put16(t, v);
}

static void putn(TB *t, const void *p, size_t n)
{
    const uint8_t *q = p;
    size_t i;

    for (i = 0; i < n; i++) {
        put8(t, q[i]);
    }
}

static void set16(TB *t, size_t off, uint16_t v)
{
    t->b[off] = v >> 8;
    t->b[off + 1] = v;
}

static uint16_t get16(const uint8_t *p)
{
    return (p[0] << 8) | p[1];
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)get16(p) << 16) | get16(p + 2);
}

static void tb_init(TB *t, size_t vnet_len)
{
    memset(t, 0, sizeof(*t));
    while (t->len < vnet_len) {
        put8(t, 0);
    }
}

/* Ethernet header with @n VLAN tags (TPIDs @tpid, TCIs @tci). */
static void tb_eth_vlan(TB *t, int n, const uint16_t *tpid,
                        const uint16_t *tci, uint16_t type)
{
    static const uint8_t macs[12] = { 0x52, 0x54, 0, 0, 0, 1,
                                      0x52, 0x54, 0, 0, 0, 2 };
    int i;

    putn(t, macs, sizeof(macs));
    for (i = 0; i < n; i++) {
        put16(t, tpid[i]);
        put16(t, tci[i]);
    }
    put16(t, type);
}

static void tb_eth(TB *t, uint16_t type)
{
    tb_eth_vlan(t, 0, NULL, NULL, type);
}

/* IPv4 header with @optlen bytes of NOP options; @frag as on the wire. */
static void tb_ipv4(TB *t, uint8_t proto, const uint8_t *src,
                    const uint8_t *dst, size_t optlen, uint16_t frag)
{
    size_t i;

    g_assert(optlen % 4 == 0 && optlen <= 40);
    t->l3 = t->len;
    t->ipver = 4;
    t->proto = proto;
    put8(t, 0x40 | (5 + optlen / 4));
    put8(t, 0x10);              /* TOS */
    put16(t, 0);                /* total length: tb_finish() */
    put16(t, 0x1234);           /* id */
    put16(t, frag);
    put8(t, 64);                /* TTL */
    put8(t, proto);
    put16(t, 0);                /* checksum: tb_finish() */
    putn(t, src, 4);
    putn(t, dst, 4);
    for (i = 0; i < optlen; i++) {
        put8(t, 1);
    }
    t->l4 = t->len;
}

static void tb_ipv6(TB *t, uint8_t nh, const uint8_t *src, const uint8_t *dst)
{
    t->l3 = t->len;
    t->ipver = 6;
    t->proto = nh;
    put32(t, 0x6a012345);       /* version, class 0xa0, flow label */
    put16(t, 0);                /* payload length: tb_finish() */
    put8(t, nh);
    put8(t, 63);                /* hop limit */
    putn(t, src, 16);
    putn(t, dst, 16);
    t->l4 = t->len;
}

/* An IPv6 extension header of @kind, @len bytes long, followed by @nh. */
static void tb_ip6ext(TB *t, uint8_t kind, uint8_t nh, size_t len)
{
    size_t start = t->len;

    put8(t, nh);
    if (kind == COLO_IPPROTO_AH) {
        g_assert(len % 4 == 0 && len >= 12);
        put8(t, len / 4 - 2);
    } else {
        g_assert(len % 8 == 0 && len >= 8);
        put8(t, len / 8 - 1);
    }
    if (kind == COLO_IPPROTO_HOPOPTS || kind == COLO_IPPROTO_DSTOPTS) {
        put8(t, 1);             /* PadN covering the rest */
        put8(t, len - 4);
    }
    while (t->len < start + len) {
        put8(t, 0);
    }
    t->proto = nh;
    t->l4 = t->len;
}

static void tb_ip6frag(TB *t, uint8_t nh, uint16_t offset, bool more)
{
    put8(t, nh);
    put8(t, 0);
    put16(t, (offset << 3) | more);
    put32(t, 0xcafe0001);
    t->proto = nh;
    t->l4 = t->len;
    t->no_l4_csum = offset || more;
}

static void tb_tcp(TB *t, uint16_t sport, uint16_t dport, uint32_t seq,
                   uint32_t ack, uint8_t flags, const uint8_t *opts,
                   size_t optlen)
{
    g_assert(optlen % 4 == 0 && optlen <= 40);
    t->l4 = t->len;
    put16(t, sport);
    put16(t, dport);
    put32(t, seq);
    put32(t, ack);
    put8(t, (5 + optlen / 4) << 4);
    put8(t, flags);
    put16(t, 29200);            /* window */
    put16(t, 0);                /* checksum: tb_finish() */
    put16(t, 0);                /* urgent pointer */
    putn(t, opts, optlen);
}

static void tb_udp(TB *t, uint16_t sport, uint16_t dport)
{
    t->l4 = t->len;
    put16(t, sport);
    put16(t, dport);
    put16(t, 0);                /* length: tb_finish() */
    put16(t, 0);                /* checksum: tb_finish() */
}

static void tb_icmp(TB *t, uint8_t type, uint8_t code, uint16_t id)
{
    t->l4 = t->len;
    put8(t, type);
    put8(t, code);
    put16(t, 0);
    put16(t, id);
    put16(t, 7);                /* sequence */
}

static void tb_payload(TB *t, size_t n, uint8_t seed)
{
    size_t i;

    for (i = 0; i < n; i++) {
        put8(t, seed + i * 7);
    }
}

/* Naive RFC 1071 sum over a contiguous buffer: fold once at the end. */
static uint16_t ref_csum(const uint8_t *p, size_t n)
{
    uint64_t sum = 0;
    size_t i;

    for (i = 0; i < n; i += 2) {
        sum += (uint64_t)p[i] << 8;
        if (i + 1 < n) {
            sum += p[i + 1];
        }
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum & 0xffff;
}

/*
 * Reference L4 checksum: lay out pseudo header + L4 bytes (checksum field
 * zeroed) in one buffer and sum it.  @l4len bytes from t->l4.
 */
static uint16_t ref_l4_csum(const TB *t, size_t l4len, size_t csum_at)
{
    uint8_t buf[4096];
    size_t n = 0;
    uint16_t c;

    if (t->proto != COLO_IPPROTO_ICMP) {
        if (t->ipver == 4) {
            memcpy(buf, t->b + t->l3 + 12, 8);
            buf[8] = 0;
            buf[9] = t->proto;
            buf[10] = l4len >> 8;
            buf[11] = l4len;
            n = 12;
        } else {
            memcpy(buf, t->b + t->l3 + 8, 32);
            buf[32] = l4len >> 24;
            buf[33] = l4len >> 16;
            buf[34] = l4len >> 8;
            buf[35] = l4len;
            buf[36] = buf[37] = buf[38] = 0;
            buf[39] = t->proto;
            n = 40;
        }
    }
    memcpy(buf + n, t->b + t->l4, l4len);
    buf[n + csum_at] = 0;
    buf[n + csum_at + 1] = 0;
    c = ref_csum(buf, n + l4len);
    if (c == 0 && t->proto == COLO_IPPROTO_UDP) {
        c = 0xffff;
    }
    return c;
}

static size_t csum_field_at(uint8_t proto)
{
    switch (proto) {
    case COLO_IPPROTO_TCP:
        return 16;
    case COLO_IPPROTO_UDP:
        return 6;
    case COLO_IPPROTO_ICMP:
    case COLO_IPPROTO_ICMPV6:
        return 2;
    default:
        return SIZE_MAX;
    }
}

/* Fill in lengths and checksums of the frame built so far. */
static void tb_finish(TB *t)
{
    size_t l4len = t->len > t->l4 ? t->len - t->l4 : 0;
    size_t at = csum_field_at(t->proto);

    if (t->ipver == 4) {
        set16(t, t->l3 + 2, t->len - t->l3);
    } else if (t->ipver == 6) {
        set16(t, t->l3 + 4, t->len - t->l3 - 40);
    } else {
        return;
    }
    if (t->proto == COLO_IPPROTO_UDP && l4len >= 8) {
        set16(t, t->l4 + 4, l4len);
    }
    if (t->ipver == 4) {
        size_t hlen = (t->b[t->l3] & 0xf) * 4;

        set16(t, t->l3 + 10, 0);
        set16(t, t->l3 + 10, ref_csum(t->b + t->l3, hlen));
    }
    if (at != SIZE_MAX && !t->no_l4_csum && l4len >= at + 2) {
        set16(t, t->l4 + at, ref_l4_csum(t, l4len, at));
    }
}

static void tb_pad(TB *t, size_t n)
{
    while (n--) {
        put8(t, 0);
    }
}

/*
 * Parse @t from an exact-size heap copy, so that a sanitizer catches any
 * read past the frame.  The copy stays alive until the next call.  Every
 * frame is also parsed without the fast path for common IPv4/TCP frames,
 * which must give the same #ColoPacket byte for byte.
 */
static ColoPktError parse(ColoPacket *pkt, const TB *t, size_t vnet)
{
    static uint8_t *copy;
    ColoPacket ref;
    ColoPktError err;

    g_free(copy);
    copy = g_malloc(t->len ? t->len : 1);
    memcpy(copy, t->b, t->len);
    g_assert_cmpint(colo_packet_parse_generic(&ref, copy, t->len, vnet), ==,
                    ref.error);
    err = colo_packet_parse(pkt, copy, t->len, vnet);
    g_assert_cmpint(err, ==, ref.error);
    g_assert(memcmp(pkt, &ref, sizeof(ref)) == 0);
    return err;
}

static const uint8_t tcp_opts_full[40] = {
    2, 4, 0x05, 0xb4,                   /* MSS 1460 */
    1, 3, 3, 7,                         /* NOP, wscale 7 */
    1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, /* NOP NOP TS 1 2 */
    1, 1, 5, 18,                        /* NOP NOP SACK, 2 blocks */
    0, 0, 0x10, 0, 0, 0, 0x20, 0,
    0, 0, 0x30, 0, 0, 0, 0x40, 0,
};

/*
 * Valid frames
 */

static void check_ipv4_common(const ColoPacket *p, const TB *t)
{
    g_assert_cmpint(p->error, ==, COLO_PKT_OK);
    g_assert_cmpint(p->l3, ==, COLO_L3_IPV4);
    g_assert_cmpuint(p->eth_type, ==, COLO_ETH_P_IPV4);
    g_assert_cmpuint(p->l3_off, ==, t->l3);
    g_assert_cmpuint(p->l4_off, ==, t->l4);
    g_assert_cmpuint(p->ip_ttl, ==, 64);
    g_assert_cmpuint(p->ip_tos, ==, 0x10);
    g_assert_cmpuint(p->ip_ttl_off, ==, t->l3 + 8);
    g_assert_cmpuint(p->ip_id_off, ==, t->l3 + 4);
    g_assert_cmpuint(get16(p->data + p->ip_id_off), ==, 0x1234);
    g_assert_cmpuint(p->ip_csum_off, ==, t->l3 + 10);
    g_assert_cmpuint(p->ip_addr_len, ==, 4);
    g_assert(memcmp(p->data + p->ip_src_off, v4_a, 4) == 0);
    g_assert(memcmp(p->data + p->ip_dst_off, v4_b, 4) == 0);
    g_assert(colo_ipv4_csum_verify(p));
    g_assert_cmpuint(colo_ipv4_csum_compute(p), ==,
                     get16(p->data + p->ip_csum_off));
}

static void test_ipv4_tcp(void)
{
    ColoPacket p;
    TB t;

    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_TCP, v4_a, v4_b, 0, 0x4000);
    tb_tcp(&t, 1234, 80, 0x11223344, 0x55667788,
           COLO_TCP_ACK | COLO_TCP_PSH, NULL, 0);
    tb_payload(&t, 100, 1);
    tb_finish(&t);

    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    check_ipv4_common(&p, &t);
    g_assert_cmpuint(p.l2_off, ==, 0);
    g_assert_cmpuint(p.l3_off, ==, 14);
    g_assert_cmpuint(p.l3_hdr_len, ==, 20);
    g_assert_cmpuint(p.l3_end, ==, t.len);
    g_assert_false(p.is_fragment);
    g_assert_false(p.ipv4_has_opts);
    g_assert_cmpint(p.l4, ==, COLO_L4_TCP);
    g_assert(colo_packet_is_tcp(&p));
    g_assert(colo_packet_is_ip(&p));
    g_assert_cmpuint(p.ip_proto, ==, COLO_IPPROTO_TCP);
    g_assert_cmpuint(p.l4_hdr_len, ==, 20);
    g_assert_cmpuint(p.l4_csum_off, ==, t.l4 + 16);
    g_assert_cmpuint(p.sport, ==, 1234);
    g_assert_cmpuint(p.dport, ==, 80);
    g_assert_cmphex(p.tcp_seq, ==, 0x11223344);
    g_assert_cmphex(p.tcp_ack, ==, 0x55667788);
    g_assert_cmphex(p.tcp_flags, ==, COLO_TCP_ACK | COLO_TCP_PSH);
    g_assert_cmpuint(p.tcp_win, ==, 29200);
    g_assert_cmpuint(p.tcp_opt_len, ==, 0);
    g_assert_cmpuint(p.tcp_ts_off, ==, 0);
    g_assert_cmpuint(p.tcp_n_sack, ==, 0);
    g_assert_cmpuint(p.payload_off, ==, t.l4 + 20);
    g_assert_cmpuint(p.payload_len, ==, 100);
    g_assert(colo_packet_payload(&p) == p.data + t.l4 + 20);
    g_assert_cmpuint(colo_packet_payload(&p)[1], ==, 8);
    g_assert(colo_l4_csum_verify(&p));
}

static void test_tcp_options(void)
{
    size_t off, len;
    ColoPacket p;
    TB t;

    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_TCP, v4_a, v4_b, 0, 0);
    tb_tcp(&t, 1234, 80, 1, 2, COLO_TCP_ACK, tcp_opts_full,
           sizeof(tcp_opts_full));
    tb_payload(&t, 3, 9);
    tb_finish(&t);

    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_cmpuint(p.l4_hdr_len, ==, 60);
    g_assert_cmpuint(p.tcp_opt_off, ==, t.l4 + 20);
    g_assert_cmpuint(p.tcp_opt_len, ==, 40);
    g_assert_cmpuint(p.tcp_mss, ==, 1460);
    g_assert_true(p.tcp_has_wscale);
    g_assert_cmpuint(p.tcp_wscale, ==, 7);
    g_assert_cmpuint(p.tcp_ts_off, ==, t.l4 + 20 + 12);
    g_assert_cmpuint(get32(p.data + p.tcp_ts_off), ==, 1);
    g_assert_cmpuint(get32(p.data + p.tcp_ts_off + 4), ==, 2);
    g_assert_cmpuint(p.tcp_n_sack, ==, 2);
    g_assert_cmpuint(p.tcp_sack_off[0], ==, t.l4 + 20 + 24);
    g_assert_cmphex(get32(p.data + p.tcp_sack_off[0]), ==, 0x1000);
    g_assert_cmphex(get32(p.data + p.tcp_sack_off[0] + 4), ==, 0x2000);
    g_assert_cmphex(get32(p.data + p.tcp_sack_off[1]), ==, 0x3000);
    g_assert_cmphex(get32(p.data + p.tcp_sack_off[1] + 4), ==, 0x4000);
    g_assert_cmpuint(p.payload_len, ==, 3);
    g_assert(colo_l4_csum_verify(&p));

    g_assert_true(colo_tcp_option_find(&p, COLO_TCPOPT_TIMESTAMP,
                                       &off, &len));
    g_assert_cmpuint(off, ==, p.tcp_ts_off - 2);
    g_assert_cmpuint(len, ==, 10);
    g_assert_true(colo_tcp_option_find(&p, COLO_TCPOPT_MSS, &off, &len));
    g_assert_cmpuint(off, ==, t.l4 + 20);
    g_assert_cmpuint(len, ==, 4);
    g_assert_false(colo_tcp_option_find(&p, COLO_TCPOPT_SACK_PERM,
                                        &off, &len));
}

static void test_tcp_options_eol(void)
{
    /* EOL ends the list: what follows it is not parsed. */
    static const uint8_t opts[8] = { 1, 0, 5, 1, 0xff, 0xff, 0xff, 0xff };
    ColoPacket p;
    TB t;

    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_TCP, v4_a, v4_b, 0, 0);
    tb_tcp(&t, 1, 2, 1, 2, COLO_TCP_SYN, opts, sizeof(opts));
    tb_finish(&t);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_cmpuint(p.tcp_n_sack, ==, 0);
    g_assert_cmpuint(p.payload_len, ==, 0);
}

/* An untagged IPv4/TCP frame from v4_a:40000 to v4_b:80, ACK and PSH set */
static void tcp4_frame(TB *t, size_t vnet, uint16_t frag,
                       const uint8_t *opts, size_t optlen, size_t payload)
{
    tb_init(t, vnet);
    tb_eth(t, COLO_ETH_P_IPV4);
    tb_ipv4(t, COLO_IPPROTO_TCP, v4_a, v4_b, 0, frag);
    tb_tcp(t, 40000, 80, 1000, 2000, COLO_TCP_ACK | COLO_TCP_PSH, opts,
           optlen);
    tb_payload(t, payload, 3);
    tb_finish(t);
}

/*
 * The options of a Linux data segment with timestamps (NOP, NOP, TS),
 * which the parser recognises at once, give what the same option in
 * another order, walked option by option, gives; a look-alike with a
 * wrong TS length is no timestamp.
 */
static void test_tcp_options_timestamps(void)
{
    static const struct {
        uint8_t opts[12];
        size_t ts_rel;      /* TSval's offset in the options, 0: none */
    } cases[] = {
        { { 1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6 }, 4 },
        { { 8, 10, 0, 0, 0, 5, 0, 0, 0, 6, 1, 1 }, 2 },
        { { 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6, 0 }, 3 },
        { { 1, 1, 8, 9, 0, 0, 0, 5, 0, 0, 0, 0 }, 0 },
    };
    ColoPacket p;
    size_t i;
    TB t;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        tcp4_frame(&t, 0, 0, cases[i].opts, 12, 4);
        g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
        g_assert_cmpuint(p.tcp_opt_len, ==, 12);
        g_assert_cmpuint(p.payload_len, ==, 4);
        if (!cases[i].ts_rel) {
            g_assert_cmpuint(p.tcp_ts_off, ==, 0);
            continue;
        }
        g_assert_cmpuint(p.tcp_ts_off, ==, t.l4 + 20 + cases[i].ts_rel);
        g_assert_cmpuint(get32(p.data + p.tcp_ts_off), ==, 5);
        g_assert_cmpuint(get32(p.data + p.tcp_ts_off + 4), ==, 6);
    }
}

static void test_ipv4_udp(void)
{
    ColoPacket p;
    TB t;

    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_UDP, v4_a, v4_b, 0, 0);
    tb_udp(&t, 5353, 53);
    tb_payload(&t, 33, 3);
    tb_finish(&t);

    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    check_ipv4_common(&p, &t);
    g_assert_cmpint(p.l4, ==, COLO_L4_UDP);
    g_assert_cmpuint(p.sport, ==, 5353);
    g_assert_cmpuint(p.dport, ==, 53);
    g_assert_cmpuint(p.udp_len, ==, 41);
    g_assert_cmpuint(p.l4_csum_off, ==, t.l4 + 6);
    g_assert_cmpuint(p.payload_off, ==, t.l4 + 8);
    g_assert_cmpuint(p.payload_len, ==, 33);
    g_assert(colo_l4_csum_verify(&p));
}

static void test_udp_short_length(void)
{
    /* A UDP length shorter than the IP payload ends the UDP payload. */
    ColoPacket p;
    TB t;

    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_UDP, v4_a, v4_b, 0, 0);
    tb_udp(&t, 1, 2);
    tb_payload(&t, 10, 3);
    tb_finish(&t);
    set16(&t, t.l4 + 4, 12);
    set16(&t, t.l4 + 6, ref_l4_csum(&t, 12, 6));

    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_cmpuint(p.udp_len, ==, 12);
    g_assert_cmpuint(p.payload_len, ==, 4);
    g_assert_cmpuint(p.l3_end, ==, t.len);
    g_assert(colo_l4_csum_verify(&p));
}

static void test_udp_zero_csum(void)
{
    ColoPacket p;
    TB t;

    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_UDP, v4_a, v4_b, 0, 0);
    tb_udp(&t, 1, 2);
    tb_payload(&t, 10, 3);
    tb_finish(&t);
    set16(&t, t.l4 + 6, 0);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_true(colo_l4_csum_verify(&p));    /* "no checksum" */

    /* ...but not for IPv6, where it is mandatory */
    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV6);
    tb_ipv6(&t, COLO_IPPROTO_UDP, v6_a, v6_b);
    tb_udp(&t, 1, 2);
    tb_payload(&t, 10, 3);
    tb_finish(&t);
    set16(&t, t.l4 + 6, 0);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_false(colo_l4_csum_verify(&p));
}

static void test_ipv4_icmp(void)
{
    ColoPacket p;
    TB t;

    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_ICMP, v4_a, v4_b, 0, 0);
    tb_icmp(&t, COLO_ICMP_ECHO, 0, 0xbeef);
    tb_payload(&t, 56, 5);
    tb_finish(&t);

    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    check_ipv4_common(&p, &t);
    g_assert_cmpint(p.l4, ==, COLO_L4_ICMP);
    g_assert_cmpuint(p.icmp_type, ==, COLO_ICMP_ECHO);
    g_assert_cmpuint(p.icmp_code, ==, 0);
    g_assert_true(p.icmp_is_echo);
    g_assert_cmpuint(p.icmp_echo_id, ==, 0xbeef);
    g_assert_cmpuint(p.l4_csum_off, ==, t.l4 + 2);
    g_assert_cmpuint(p.payload_len, ==, 56);
    g_assert(colo_l4_csum_verify(&p));

    /* destination unreachable: not an echo, no identifier */
    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_ICMP, v4_a, v4_b, 0, 0);
    tb_icmp(&t, 3, 3, 0x1111);
    tb_payload(&t, 28, 5);
    tb_finish(&t);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_cmpuint(p.icmp_type, ==, 3);
    g_assert_cmpuint(p.icmp_code, ==, 3);
    g_assert_false(p.icmp_is_echo);
    g_assert_cmpuint(p.icmp_echo_id, ==, 0);
    g_assert(colo_l4_csum_verify(&p));
}

static void test_ipv4_options(void)
{
    size_t optlen[] = { 4, 40 };
    ColoPacket p;
    TB t;
    int i;

    for (i = 0; i < ARRAY_SIZE(optlen); i++) {
        tb_init(&t, 0);
        tb_eth(&t, COLO_ETH_P_IPV4);
        tb_ipv4(&t, COLO_IPPROTO_TCP, v4_a, v4_b, optlen[i], 0);
        tb_tcp(&t, 1234, 80, 1, 2, COLO_TCP_ACK, NULL, 0);
        tb_payload(&t, 10, 1);
        tb_finish(&t);

        g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
        check_ipv4_common(&p, &t);
        g_assert_true(p.ipv4_has_opts);
        g_assert_cmpuint(p.l3_hdr_len, ==, 20 + optlen[i]);
        g_assert_cmpuint(p.l4_off, ==, 14 + 20 + optlen[i]);
        g_assert_cmpuint(p.sport, ==, 1234);
        g_assert_cmpuint(p.payload_len, ==, 10);
        g_assert(colo_l4_csum_verify(&p));
    }
}

static void test_ipv4_fragments(void)
{
    uint16_t csum;
    ColoPacket p;
    TB t;

    /* first fragment: L4 header present, MF recorded */
    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_UDP, v4_a, v4_b, 0, 0x2000);
    tb_udp(&t, 1000, 2000);
    tb_payload(&t, 64, 1);
    tb_finish(&t);
    set16(&t, t.l4 + 4, 3000);         /* the whole datagram's length */
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_true(p.is_fragment);
    g_assert_true(p.more_frags);
    g_assert_cmpuint(p.frag_off, ==, 0);
    g_assert_cmpint(p.l4, ==, COLO_L4_UDP);
    g_assert_cmpuint(p.sport, ==, 1000);
    g_assert_cmpuint(p.udp_len, ==, 3000);
    g_assert_cmpuint(p.payload_len, ==, 64);
    g_assert_false(colo_l4_csum_compute(&p, &csum));

    /* non-first fragment: no L4 header */
    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_TCP, v4_a, v4_b, 0, 185);
    tb_payload(&t, 40, 1);
    tb_finish(&t);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_true(p.is_fragment);
    g_assert_false(p.more_frags);
    g_assert_cmpuint(p.frag_off, ==, 185);
    g_assert_cmpint(p.l4, ==, COLO_L4_NONE);
    g_assert_cmpuint(p.ip_proto, ==, COLO_IPPROTO_TCP);
    g_assert_cmpuint(p.l4_off, ==, t.l4);
    g_assert_cmpuint(p.l4_hdr_len, ==, 0);
    g_assert_cmpuint(p.payload_off, ==, t.l4);
    g_assert_cmpuint(p.payload_len, ==, 40);
    g_assert_cmpuint(p.sport, ==, 0);
    g_assert_cmpuint(p.l4_csum_off, ==, 0);
    g_assert_false(colo_l4_csum_compute(&p, &csum));
    g_assert_false(colo_l4_csum_verify(&p));
}

static void check_ipv6_common(const ColoPacket *p, const TB *t)
{
    g_assert_cmpint(p->error, ==, COLO_PKT_OK);
    g_assert_cmpint(p->l3, ==, COLO_L3_IPV6);
    g_assert_cmpuint(p->eth_type, ==, COLO_ETH_P_IPV6);
    g_assert_cmpuint(p->l3_off, ==, t->l3);
    g_assert_cmpuint(p->l4_off, ==, t->l4);
    g_assert_cmpuint(p->l3_hdr_len, ==, t->l4 - t->l3);
    g_assert_cmpuint(p->ip_ttl, ==, 63);
    g_assert_cmpuint(p->ip_tos, ==, 0xa0);
    g_assert_cmpuint(p->ip_ttl_off, ==, t->l3 + 7);
    g_assert_cmpuint(p->ip_csum_off, ==, 0);
    g_assert_cmpuint(p->ip_addr_len, ==, 16);
    g_assert(memcmp(p->data + p->ip_src_off, v6_a, 16) == 0);
    g_assert(memcmp(p->data + p->ip_dst_off, v6_b, 16) == 0);
    g_assert_cmpuint(p->ip_proto, ==, t->proto);
}

static void test_ipv6_tcp_udp_icmp(void)
{
    ColoPacket p;
    TB t;

    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV6);
    tb_ipv6(&t, COLO_IPPROTO_TCP, v6_a, v6_b);
    tb_tcp(&t, 40000, 443, 7, 8, COLO_TCP_SYN, tcp_opts_full, 20);
    tb_finish(&t);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    check_ipv6_common(&p, &t);
    g_assert_cmpint(p.l4, ==, COLO_L4_TCP);
    g_assert_cmpuint(p.sport, ==, 40000);
    g_assert_cmpuint(p.dport, ==, 443);
    g_assert_cmpuint(p.tcp_seq, ==, 7);
    g_assert_cmpuint(p.tcp_flags, ==, COLO_TCP_SYN);
    g_assert_cmpuint(p.tcp_ts_off, ==, t.l4 + 32);
    g_assert_cmpuint(p.payload_len, ==, 0);
    g_assert_cmpuint(p.ipv6_n_ext, ==, 0);
    g_assert_cmpuint(p.ip_id_off, ==, 0);
    g_assert(colo_l4_csum_verify(&p));

    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV6);
    tb_ipv6(&t, COLO_IPPROTO_UDP, v6_a, v6_b);
    tb_udp(&t, 546, 547);
    tb_payload(&t, 17, 2);
    tb_finish(&t);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    check_ipv6_common(&p, &t);
    g_assert_cmpint(p.l4, ==, COLO_L4_UDP);
    g_assert_cmpuint(p.udp_len, ==, 25);
    g_assert_cmpuint(p.payload_len, ==, 17);
    g_assert(colo_l4_csum_verify(&p));

    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV6);
    tb_ipv6(&t, COLO_IPPROTO_ICMPV6, v6_a, v6_b);
    tb_icmp(&t, COLO_ICMPV6_ECHOREPLY, 0, 0x4242);
    tb_payload(&t, 9, 2);
    tb_finish(&t);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    check_ipv6_common(&p, &t);
    g_assert_cmpint(p.l4, ==, COLO_L4_ICMPV6);
    g_assert_cmpuint(p.icmp_type, ==, COLO_ICMPV6_ECHOREPLY);
    g_assert_true(p.icmp_is_echo);
    g_assert_cmpuint(p.icmp_echo_id, ==, 0x4242);
    g_assert_cmpuint(p.payload_len, ==, 9);
    g_assert(colo_l4_csum_verify(&p));

    /* ICMP (v4) over IPv6 and ICMPv6 over IPv4 are "other" */
    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV6);
    tb_ipv6(&t, COLO_IPPROTO_ICMP, v6_a, v6_b);
    tb_icmp(&t, COLO_ICMP_ECHO, 0, 1);
    tb_finish(&t);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_cmpint(p.l4, ==, COLO_L4_OTHER);
    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_ICMPV6, v4_a, v4_b, 0, 0);
    tb_icmp(&t, COLO_ICMPV6_ECHO, 0, 1);
    tb_finish(&t);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_cmpint(p.l4, ==, COLO_L4_OTHER);
    g_assert_cmpuint(p.payload_off, ==, t.l4);
    g_assert_cmpuint(p.payload_len, ==, 8);
}

/* One IPv6 extension header of each kind, then TCP. */
static void test_ipv6_ext_each(void)
{
    static const struct {
        uint8_t kind;
        size_t len;
    } ext[] = {
        { COLO_IPPROTO_HOPOPTS, 8 },
        { COLO_IPPROTO_ROUTING, 24 },
        { COLO_IPPROTO_DSTOPTS, 16 },
        { COLO_IPPROTO_AH, 24 },
        { COLO_IPPROTO_FRAGMENT, 8 },
    };
    ColoPacket p;
    TB t;
    int i;

    for (i = 0; i < ARRAY_SIZE(ext); i++) {
        tb_init(&t, 0);
        tb_eth(&t, COLO_ETH_P_IPV6);
        tb_ipv6(&t, ext[i].kind, v6_a, v6_b);
        if (ext[i].kind == COLO_IPPROTO_FRAGMENT) {
            tb_ip6frag(&t, COLO_IPPROTO_TCP, 0, false);
        } else {
            tb_ip6ext(&t, ext[i].kind, COLO_IPPROTO_TCP, ext[i].len);
        }
        tb_tcp(&t, 1, 2, 3, 4, COLO_TCP_ACK, NULL, 0);
        tb_payload(&t, 5, 6);
        tb_finish(&t);

        g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
        check_ipv6_common(&p, &t);
        g_assert_cmpuint(p.ipv6_n_ext, ==, 1);
        g_assert_cmpuint(p.l3_hdr_len, ==, 40 + ext[i].len);
        g_assert_cmpint(p.l4, ==, COLO_L4_TCP);
        g_assert_cmpuint(p.tcp_seq, ==, 3);
        g_assert_cmpuint(p.payload_len, ==, 5);
        g_assert_false(p.is_fragment);  /* atomic fragment */
        g_assert(colo_l4_csum_verify(&p));
        if (ext[i].kind == COLO_IPPROTO_FRAGMENT) {
            g_assert_cmpuint(p.ip_id_off, ==, t.l3 + 44);
            g_assert_cmphex(get32(p.data + p.ip_id_off), ==, 0xcafe0001);
        }
    }
}

static void test_ipv6_fragments(void)
{
    ColoPacket p;
    uint16_t csum;
    TB t;

    /* first fragment */
    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV6);
    tb_ipv6(&t, COLO_IPPROTO_HOPOPTS, v6_a, v6_b);
    tb_ip6ext(&t, COLO_IPPROTO_HOPOPTS, COLO_IPPROTO_FRAGMENT, 8);
    tb_ip6frag(&t, COLO_IPPROTO_UDP, 0, true);
    tb_udp(&t, 7, 9);
    tb_payload(&t, 16, 0);
    tb_finish(&t);
    set16(&t, t.l4 + 4, 5000);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    check_ipv6_common(&p, &t);
    g_assert_cmpuint(p.ipv6_n_ext, ==, 2);
    g_assert_true(p.is_fragment);
    g_assert_true(p.more_frags);
    g_assert_cmpuint(p.frag_off, ==, 0);
    g_assert_cmpint(p.l4, ==, COLO_L4_UDP);
    g_assert_cmpuint(p.sport, ==, 7);
    g_assert_cmpuint(p.payload_len, ==, 16);
    g_assert_false(colo_l4_csum_compute(&p, &csum));

    /*
     * non-first fragment: what follows is data even if it looks like an
     * extension header
     */
    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV6);
    tb_ipv6(&t, COLO_IPPROTO_FRAGMENT, v6_a, v6_b);
    tb_ip6frag(&t, COLO_IPPROTO_DSTOPTS, 100, false);
    tb_payload(&t, 1, 0);       /* "hop-by-hop" at a length of 0 ... */
    tb_payload(&t, 1, 200);     /* ... that would run past the frame */
    tb_payload(&t, 30, 0);
    tb_finish(&t);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_cmpuint(p.ipv6_n_ext, ==, 1);
    g_assert_true(p.is_fragment);
    g_assert_cmpuint(p.frag_off, ==, 100);
    g_assert_cmpint(p.l4, ==, COLO_L4_NONE);
    g_assert_cmpuint(p.ip_proto, ==, COLO_IPPROTO_DSTOPTS);
    g_assert_cmpuint(p.payload_off, ==, t.l3 + 48);
    g_assert_cmpuint(p.payload_len, ==, 32);
}

static void test_ipv6_chain_max(void)
{
    ColoPacket p;
    TB t;
    int i;

    /* exactly COLO_MAX_IPV6_EXT_HDRS headers is fine */
    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV6);
    tb_ipv6(&t, COLO_IPPROTO_DSTOPTS, v6_a, v6_b);
    for (i = 0; i < COLO_MAX_IPV6_EXT_HDRS; i++) {
        bool last = i == COLO_MAX_IPV6_EXT_HDRS - 1;

        tb_ip6ext(&t, COLO_IPPROTO_DSTOPTS,
                  last ? COLO_IPPROTO_UDP : COLO_IPPROTO_DSTOPTS, 8);
    }
    tb_udp(&t, 1, 2);
    tb_finish(&t);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_cmpuint(p.ipv6_n_ext, ==, COLO_MAX_IPV6_EXT_HDRS);
    g_assert_cmpint(p.l4, ==, COLO_L4_UDP);
    g_assert(colo_l4_csum_verify(&p));
}

static void test_ipv6_other(void)
{
    static const uint8_t nh[] = { COLO_IPPROTO_NONE, COLO_IPPROTO_ESP, 132 };
    ColoPacket p;
    TB t;
    int i;

    for (i = 0; i < ARRAY_SIZE(nh); i++) {
        tb_init(&t, 0);
        tb_eth(&t, COLO_ETH_P_IPV6);
        tb_ipv6(&t, COLO_IPPROTO_DSTOPTS, v6_a, v6_b);
        tb_ip6ext(&t, COLO_IPPROTO_DSTOPTS, nh[i], 8);
        tb_payload(&t, 12, 0);
        tb_finish(&t);
        g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
        g_assert_cmpint(p.l4, ==, COLO_L4_OTHER);
        g_assert_cmpuint(p.ip_proto, ==, nh[i]);
        g_assert_cmpuint(p.payload_off, ==, t.l3 + 48);
        g_assert_cmpuint(p.payload_len, ==, 12);
    }
}

static void test_vlan(void)
{
    static const uint16_t tpid1[] = { COLO_ETH_P_VLAN };
    static const uint16_t tci1[] = { 0x2005 };
    static const uint16_t tpid2[] = { COLO_ETH_P_QINQ, COLO_ETH_P_VLAN };
    static const uint16_t tci2[] = { 0x0064, 0xe00a };
    ColoPacket p;
    TB t;

    tb_init(&t, 0);
    tb_eth_vlan(&t, 1, tpid1, tci1, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_TCP, v4_a, v4_b, 0, 0);
    tb_tcp(&t, 1, 2, 3, 4, COLO_TCP_ACK, NULL, 0);
    tb_finish(&t);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    check_ipv4_common(&p, &t);
    g_assert_cmpuint(p.n_vlans, ==, 1);
    g_assert_cmphex(p.vlan_tpid[0], ==, COLO_ETH_P_VLAN);
    g_assert_cmphex(p.vlan_tci[0], ==, 0x2005);
    g_assert_cmpuint(p.l3_off, ==, 18);

    tb_init(&t, 0);
    tb_eth_vlan(&t, 2, tpid2, tci2, COLO_ETH_P_IPV6);
    tb_ipv6(&t, COLO_IPPROTO_UDP, v6_a, v6_b);
    tb_udp(&t, 1, 2);
    tb_finish(&t);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    check_ipv6_common(&p, &t);
    g_assert_cmpuint(p.n_vlans, ==, 2);
    g_assert_cmphex(p.vlan_tpid[0], ==, COLO_ETH_P_QINQ);
    g_assert_cmphex(p.vlan_tci[0], ==, 0x0064);
    g_assert_cmphex(p.vlan_tpid[1], ==, COLO_ETH_P_VLAN);
    g_assert_cmphex(p.vlan_tci[1], ==, 0xe00a);
    g_assert_cmpuint(p.l3_off, ==, 22);
    g_assert(colo_l4_csum_verify(&p));
}

static void test_vnet_hdr(void)
{
    static const size_t lens[] = { 10, 12 };
    ColoPacket p;
    TB t;
    int i;

    for (i = 0; i < ARRAY_SIZE(lens); i++) {
        tb_init(&t, lens[i]);
        t.b[0] = COLO_VNET_HDR_F_NEEDS_CSUM;
        t.b[1] = 1;
        tb_eth(&t, COLO_ETH_P_IPV4);
        tb_ipv4(&t, COLO_IPPROTO_TCP, v4_a, v4_b, 0, 0);
        tb_tcp(&t, 1, 2, 3, 4, COLO_TCP_ACK, NULL, 0);
        tb_payload(&t, 10, 0);
        tb_finish(&t);
        g_assert_cmpint(parse(&p, &t, lens[i]), ==, COLO_PKT_OK);
        check_ipv4_common(&p, &t);
        g_assert_cmpuint(p.vnet_hdr_len, ==, lens[i]);
        g_assert_cmpuint(p.l2_off, ==, lens[i]);
        g_assert_cmpuint(p.l3_off, ==, lens[i] + 14);
        g_assert_cmpuint(p.vnet_flags, ==, COLO_VNET_HDR_F_NEEDS_CSUM);
        g_assert_cmpuint(p.vnet_gso_type, ==, 1);
        g_assert_cmpuint(p.payload_len, ==, 10);
        g_assert(colo_l4_csum_verify(&p));
    }
}

static void test_eth_padding(void)
{
    ColoPacket p;
    TB t;

    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_TCP, v4_a, v4_b, 0, 0);
    tb_tcp(&t, 1, 2, 3, 4, COLO_TCP_ACK, NULL, 0);
    tb_payload(&t, 2, 0);
    tb_finish(&t);
    tb_pad(&t, 60 - t.len);
    g_assert_cmpuint(t.len, ==, 60);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_cmpuint(p.size, ==, 60);
    g_assert_cmpuint(p.l3_end, ==, 56);
    g_assert_cmpuint(p.payload_len, ==, 2);
    g_assert(colo_l4_csum_verify(&p));

    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV6);
    tb_ipv6(&t, COLO_IPPROTO_UDP, v6_a, v6_b);
    tb_udp(&t, 1, 2);
    tb_payload(&t, 1, 0);
    tb_finish(&t);
    tb_pad(&t, 9);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_cmpuint(p.l3_end, ==, t.len - 9);
    g_assert_cmpuint(p.payload_len, ==, 1);
    g_assert(colo_l4_csum_verify(&p));
}

static void test_non_ip(void)
{
    ColoPacket p;
    TB t;

    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_ARP);
    tb_payload(&t, 28, 0);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_cmpint(p.l3, ==, COLO_L3_OTHER);
    g_assert_cmpint(p.l4, ==, COLO_L4_NONE);
    g_assert_cmpuint(p.eth_type, ==, COLO_ETH_P_ARP);
    g_assert_cmpuint(p.l3_off, ==, 14);
    g_assert_cmpuint(p.l3_end, ==, t.len);
    g_assert_cmpuint(p.payload_off, ==, 14);
    g_assert_cmpuint(p.payload_len, ==, 28);
    g_assert_false(colo_packet_is_ip(&p));
    g_assert_false(colo_l4_csum_verify(&p));
    g_assert_false(colo_ipv4_csum_verify(&p));
    g_assert_false(colo_packet_patch16(t.b, &p, 14, 0));
}

static void test_empty(void)
{
    ColoPacket p;

    g_assert_cmpint(colo_packet_parse(&p, NULL, 0, 0), ==,
                    COLO_PKT_ERR_ETH_TRUNC);
    g_assert_cmpint(p.error, ==, COLO_PKT_ERR_ETH_TRUNC);
}

/*
 * Malformed frames: one case per reason
 */

typedef struct BadCase {
    const char *name;
    ColoPktError want;
    size_t vnet;
    void (*build)(TB *t);
} BadCase;

static void ipv4_tcp_frame(TB *t)
{
    tb_init(t, 0);
    tb_eth(t, COLO_ETH_P_IPV4);
    tb_ipv4(t, COLO_IPPROTO_TCP, v4_a, v4_b, 0, 0);
    tb_tcp(t, 1, 2, 3, 4, COLO_TCP_ACK, NULL, 0);
    tb_payload(t, 8, 0);
    tb_finish(t);
}

static void ipv6_frame(TB *t, uint8_t proto)
{
    tb_init(t, 0);
    tb_eth(t, COLO_ETH_P_IPV6);
    tb_ipv6(t, proto, v6_a, v6_b);
}

static void bad_vnet(TB *t)
{
    tb_init(t, 0);
    tb_payload(t, 9, 0);
}

static void bad_eth_trunc(TB *t)
{
    tb_init(t, 0);
    tb_payload(t, 13, 0);
}

static void bad_vlan_trunc(TB *t)
{
    tb_init(t, 0);
    tb_eth(t, COLO_ETH_P_VLAN);
    tb_payload(t, 3, 0);
}

static void bad_vlan_depth(TB *t)
{
    static const uint16_t tpid[] = { COLO_ETH_P_QINQ, COLO_ETH_P_VLAN,
                                     COLO_ETH_P_VLAN };
    static const uint16_t tci[] = { 1, 2, 3 };

    tb_init(t, 0);
    tb_eth_vlan(t, 3, tpid, tci, COLO_ETH_P_IPV4);
    tb_payload(t, 40, 0);
}

static void bad_ipv4_trunc(TB *t)
{
    ipv4_tcp_frame(t);
    t->len = 14 + 19;
}

static void bad_ipv4_version(TB *t)
{
    ipv4_tcp_frame(t);
    t->b[14] = 0x65;
}

static void bad_ipv4_ihl(TB *t)
{
    ipv4_tcp_frame(t);
    t->b[14] = 0x44;
}

static void bad_ipv4_opts(TB *t)
{
    ipv4_tcp_frame(t);
    t->b[14] = 0x4f;            /* 60 bytes of header, 48 there */
}

static void bad_ipv4_totlen_long(TB *t)
{
    ipv4_tcp_frame(t);
    set16(t, 16, t->len - 14 + 1);
}

static void bad_ipv4_totlen_short(TB *t)
{
    ipv4_tcp_frame(t);
    t->b[14] = 0x46;
    set16(t, 16, 20);           /* < 24 bytes of header */
}

static void bad_ipv6_trunc(TB *t)
{
    ipv6_frame(t, COLO_IPPROTO_NONE);
    t->len--;
}

static void bad_ipv6_version(TB *t)
{
    ipv6_frame(t, COLO_IPPROTO_NONE);
    tb_finish(t);
    t->b[14] = 0x4a;
}

static void bad_ipv6_plen(TB *t)
{
    ipv6_frame(t, COLO_IPPROTO_NONE);
    tb_payload(t, 10, 0);
    tb_finish(t);
    set16(t, 18, 11);
}

static void bad_ipv6_ext_trunc(TB *t)
{
    ipv6_frame(t, COLO_IPPROTO_HOPOPTS);
    tb_ip6ext(t, COLO_IPPROTO_HOPOPTS, COLO_IPPROTO_TCP, 16);
    t->len -= 8;
    tb_finish(t);
}

static void bad_ipv6_ext_trunc_ah(TB *t)
{
    ipv6_frame(t, COLO_IPPROTO_AH);
    put8(t, COLO_IPPROTO_TCP);  /* only 1 byte of AH: not even a length */
    tb_finish(t);
}

static void bad_ipv6_ext_chain(TB *t)
{
    int i;

    ipv6_frame(t, COLO_IPPROTO_DSTOPTS);
    for (i = 0; i <= COLO_MAX_IPV6_EXT_HDRS; i++) {
        tb_ip6ext(t, COLO_IPPROTO_DSTOPTS, COLO_IPPROTO_DSTOPTS, 8);
    }
    tb_finish(t);
}

static void bad_tcp_trunc(TB *t)
{
    ipv4_tcp_frame(t);
    t->len = 14 + 20 + 19;
    tb_finish(t);
}

static void bad_tcp_doff_small(TB *t)
{
    ipv4_tcp_frame(t);
    t->b[t->l4 + 12] = 0x40;
}

static void bad_tcp_doff_past(TB *t)
{
    ipv4_tcp_frame(t);          /* 28 bytes of TCP, doff says 32 */
    t->b[t->l4 + 12] = 0x80;
}

static void bad_tcp_doff_padding(TB *t)
{
    /* the TCP header may not reach into Ethernet padding */
    ipv4_tcp_frame(t);
    t->len -= 8;
    tb_finish(t);
    tb_pad(t, 8);
    t->b[t->l4 + 12] = 0x70;
}

static void tcp_with_opts(TB *t, const uint8_t *opts)
{
    tb_init(t, 0);
    tb_eth(t, COLO_ETH_P_IPV4);
    tb_ipv4(t, COLO_IPPROTO_TCP, v4_a, v4_b, 0, 0);
    tb_tcp(t, 1, 2, 3, 4, COLO_TCP_ACK, opts, 4);
    tb_payload(t, 8, 0);
    tb_finish(t);
}

static void bad_tcp_opts_len0(TB *t)
{
    static const uint8_t o[4] = { 2, 0, 1, 1 };

    tcp_with_opts(t, o);
}

static void bad_tcp_opts_past(TB *t)
{
    static const uint8_t o[4] = { 1, 8, 10, 0 };  /* TS needs 10 */

    tcp_with_opts(t, o);
}

static void bad_tcp_opts_nolen(TB *t)
{
    static const uint8_t o[4] = { 1, 1, 1, 3 };   /* kind, no length */

    tcp_with_opts(t, o);
}

static void udp_frame(TB *t)
{
    tb_init(t, 0);
    tb_eth(t, COLO_ETH_P_IPV4);
    tb_ipv4(t, COLO_IPPROTO_UDP, v4_a, v4_b, 0, 0);
    tb_udp(t, 1, 2);
    tb_payload(t, 8, 0);
    tb_finish(t);
}

static void bad_udp_trunc(TB *t)
{
    udp_frame(t);
    t->len = t->l4 + 7;
    tb_finish(t);
}

static void bad_udp_len_short(TB *t)
{
    udp_frame(t);
    set16(t, t->l4 + 4, 7);
}

static void bad_udp_len_long(TB *t)
{
    udp_frame(t);
    set16(t, t->l4 + 4, 17);
}

static void bad_icmp_trunc(TB *t)
{
    tb_init(t, 0);
    tb_eth(t, COLO_ETH_P_IPV4);
    tb_ipv4(t, COLO_IPPROTO_ICMP, v4_a, v4_b, 0, 0);
    tb_payload(t, 7, 8);
    tb_finish(t);
}

static void bad_icmpv6_trunc(TB *t)
{
    ipv6_frame(t, COLO_IPPROTO_ICMPV6);
    tb_payload(t, 7, 128);
    tb_finish(t);
}

static const BadCase bad_cases[] = {
    { "vnet-hdr", COLO_PKT_ERR_VNET_HDR, 10, bad_vnet },
    { "eth-trunc", COLO_PKT_ERR_ETH_TRUNC, 0, bad_eth_trunc },
    { "vlan-trunc", COLO_PKT_ERR_VLAN_TRUNC, 0, bad_vlan_trunc },
    { "vlan-depth", COLO_PKT_ERR_VLAN_DEPTH, 0, bad_vlan_depth },
    { "ipv4-trunc", COLO_PKT_ERR_IPV4_TRUNC, 0, bad_ipv4_trunc },
    { "ipv4-version", COLO_PKT_ERR_IPV4_VERSION, 0, bad_ipv4_version },
    { "ipv4-ihl", COLO_PKT_ERR_IPV4_IHL, 0, bad_ipv4_ihl },
    { "ipv4-opts", COLO_PKT_ERR_IPV4_OPTS, 0, bad_ipv4_opts },
    { "ipv4-totlen-long", COLO_PKT_ERR_IPV4_TOTLEN, 0,
      bad_ipv4_totlen_long },
    { "ipv4-totlen-short", COLO_PKT_ERR_IPV4_TOTLEN, 0,
      bad_ipv4_totlen_short },
    { "ipv6-trunc", COLO_PKT_ERR_IPV6_TRUNC, 0, bad_ipv6_trunc },
    { "ipv6-version", COLO_PKT_ERR_IPV6_VERSION, 0, bad_ipv6_version },
    { "ipv6-plen", COLO_PKT_ERR_IPV6_PLEN, 0, bad_ipv6_plen },
    { "ipv6-ext-trunc", COLO_PKT_ERR_IPV6_EXT_TRUNC, 0,
      bad_ipv6_ext_trunc },
    { "ipv6-ext-trunc-ah", COLO_PKT_ERR_IPV6_EXT_TRUNC, 0,
      bad_ipv6_ext_trunc_ah },
    { "ipv6-ext-chain", COLO_PKT_ERR_IPV6_EXT_CHAIN, 0, bad_ipv6_ext_chain },
    { "tcp-trunc", COLO_PKT_ERR_TCP_TRUNC, 0, bad_tcp_trunc },
    { "tcp-doff-small", COLO_PKT_ERR_TCP_DOFF, 0, bad_tcp_doff_small },
    { "tcp-doff-past", COLO_PKT_ERR_TCP_DOFF, 0, bad_tcp_doff_past },
    { "tcp-doff-padding", COLO_PKT_ERR_TCP_DOFF, 0, bad_tcp_doff_padding },
    { "tcp-opts-len0", COLO_PKT_ERR_TCP_OPTS, 0, bad_tcp_opts_len0 },
    { "tcp-opts-past", COLO_PKT_ERR_TCP_OPTS, 0, bad_tcp_opts_past },
    { "tcp-opts-nolen", COLO_PKT_ERR_TCP_OPTS, 0, bad_tcp_opts_nolen },
    { "udp-trunc", COLO_PKT_ERR_UDP_TRUNC, 0, bad_udp_trunc },
    { "udp-len-short", COLO_PKT_ERR_UDP_LEN, 0, bad_udp_len_short },
    { "udp-len-long", COLO_PKT_ERR_UDP_LEN, 0, bad_udp_len_long },
    { "icmp-trunc", COLO_PKT_ERR_ICMP_TRUNC, 0, bad_icmp_trunc },
    { "icmpv6-trunc", COLO_PKT_ERR_ICMPV6_TRUNC, 0, bad_icmpv6_trunc },
};

static void test_malformed(gconstpointer opaque)
{
    const BadCase *c = opaque;
    ColoFlowKey key;
    ColoPacket p;
    uint16_t csum;
    TB t;

    c->build(&t);
    g_assert_cmpint(parse(&p, &t, c->vnet), ==, c->want);
    g_assert_cmpint(p.error, ==, c->want);
    g_assert_cmpstr(colo_pkt_error_name(p.error), !=, "invalid");
    g_assert_false(colo_flow_key_from_packet(&p, &key));
    g_assert_false(colo_packet_is_tcp(&p));
    g_assert_false(colo_packet_is_ip(&p));
    g_assert_false(colo_l4_csum_compute(&p, &csum));
    g_assert_false(colo_packet_patch16(t.b, &p, p.l4_off, 0));
}

/*
 * A length past COLO_PKT_MAX_SIZE is refused before anything is read, so
 * a short buffer stands in for a huge one.  Only a 64-bit size_t can say
 * such a length.
 */
static void test_too_long(void)
{
    uint64_t len = (uint64_t)COLO_PKT_MAX_SIZE + 1;
    ColoFlowKey key;
    ColoPacket p;
    uint8_t b[64] = { 0 };

    if (len > SIZE_MAX) {
        g_test_skip("size_t cannot hold a length past COLO_PKT_MAX_SIZE");
        return;
    }
    g_assert_cmpint(colo_packet_parse(&p, b, len, 0), ==,
                    COLO_PKT_ERR_TOO_LONG);
    g_assert_cmpint(p.error, ==, COLO_PKT_ERR_TOO_LONG);
    g_assert_cmpuint(p.size, ==, 0);
    g_assert_false(colo_flow_key_from_packet(&p, &key));
    g_assert_false(colo_packet_is_ip(&p));
}

/* Every reason has a case above (or its own test), and a distinct name. */
static void test_malformed_coverage(void)
{
    bool seen[COLO_PKT_ERR__MAX] = { false };
    int i, j;

    for (i = 0; i < ARRAY_SIZE(bad_cases); i++) {
        seen[bad_cases[i].want] = true;
    }
    seen[COLO_PKT_ERR_TOO_LONG] = true;         /* test_too_long() */
    for (i = COLO_PKT_OK + 1; i < COLO_PKT_ERR__MAX; i++) {
        g_assert_true(seen[i]);
        for (j = 0; j < i; j++) {
            g_assert_cmpstr(colo_pkt_error_name(i), !=,
                            colo_pkt_error_name(j));
        }
    }
    g_assert_cmpstr(colo_pkt_error_name(COLO_PKT_OK), ==, "ok");
    g_assert_cmpstr(colo_pkt_error_name(COLO_PKT_ERR__MAX), ==, "invalid");
    g_assert_cmpstr(colo_pkt_error_name(-1), ==, "invalid");
}

/*
 * Frames at the edges of the fast path for IPv4/TCP (the frames it takes
 * and those it must leave to the generic parser); parse() checks that
 * both parsers agree on each.
 */
static void test_fast_path_edges(void)
{
    static const uint8_t ts[12] = { 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2 };
    static const uint8_t ts9[12] = { 1, 1, 8, 9, 0, 0, 0, 1, 0, 0, 0, 0 };
    static const uint8_t mss[4] = { 2, 4, 0x05, 0xb4 };
    ColoPacket p;
    TB t;

    /* taken: no options, timestamps, DF, a vnet header, padding */
    tcp4_frame(&t, 0, 0, NULL, 0, 10);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_cmpuint(p.payload_len, ==, 10);
    g_assert_cmpuint(p.tcp_ts_off, ==, 0);
    tcp4_frame(&t, 0, 0, ts, sizeof(ts), 0);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_cmpuint(p.tcp_ts_off, ==, t.l4 + COLO_TCP_HLEN + 4);
    g_assert_cmpuint(p.payload_len, ==, 0);
    tcp4_frame(&t, 0, 0x4000, ts, sizeof(ts), 5);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_false(p.is_fragment);
    tcp4_frame(&t, 12, 0, NULL, 0, 7);
    g_assert_cmpint(parse(&p, &t, 12), ==, COLO_PKT_OK);
    g_assert_cmpuint(p.l3_off, ==, 12 + COLO_ETH_HLEN);
    tcp4_frame(&t, 0, 0, NULL, 0, 2);
    tb_payload(&t, 6, 0);       /* Ethernet padding after the datagram */
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_cmpuint(p.payload_len, ==, 2);
    g_assert_cmpuint(p.l3_end, ==, t.len - 6);

    /* left to the generic parser */
    tcp4_frame(&t, 0, 0x2000, NULL, 0, 8);          /* MF */
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_true(p.is_fragment);
    tcp4_frame(&t, 0, 0, mss, sizeof(mss), 0);      /* other options */
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_cmpuint(p.tcp_mss, ==, 1460);
    tcp4_frame(&t, 0, 0, ts9, sizeof(ts9), 0);      /* not 10 long */
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_cmpuint(p.tcp_ts_off, ==, 0);
    tcp4_frame(&t, 0, 0, ts, sizeof(ts), 0);
    set16(&t, t.l3 + 2, COLO_IPV4_HLEN + COLO_TCP_HLEN + 8);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_ERR_TCP_DOFF);
    tcp4_frame(&t, 0, 0, NULL, 0, 0);
    t.len--;                                            /* cut short */
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_ERR_IPV4_TOTLEN);
    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_TCP, v4_a, v4_b, 4, 0);    /* IP options */
    tb_tcp(&t, 1, 2, 3, 4, COLO_TCP_ACK, NULL, 0);
    tb_finish(&t);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_true(p.ipv4_has_opts);
}

/*
 * Every prefix of a set of valid frames parses to a defined result and,
 * if OK, with every bound inside the prefix.
 */
static void check_bounds(const ColoPacket *p)
{
    int i;

    if (p->error != COLO_PKT_OK) {
        return;
    }
    g_assert_cmpuint(p->l2_off, <=, p->l3_off);
    g_assert_cmpuint(p->l3_off, <=, p->l4_off);
    g_assert_cmpuint(p->l4_off + p->l4_hdr_len, ==, p->payload_off);
    g_assert_cmpuint(p->payload_off + p->payload_len, <=, p->l3_end);
    g_assert_cmpuint(p->l3_end, <=, p->size);
    for (i = 0; i < p->tcp_n_sack; i++) {
        g_assert_cmpuint(p->tcp_sack_off[i] + 8, <=, p->payload_off);
    }
    if (p->tcp_ts_off) {
        g_assert_cmpuint(p->tcp_ts_off + 8, <=, p->payload_off);
    }
}

static void test_truncation_sweep(void)
{
    ColoPacket p;
    TB full, t;
    size_t n;
    int k;

    for (k = 0; k < 4; k++) {
        tb_init(&full, k == 3 ? 12 : 0);
        tb_eth(&full, k & 1 ? COLO_ETH_P_IPV6 : COLO_ETH_P_IPV4);
        if (k & 1) {
            tb_ipv6(&full, COLO_IPPROTO_HOPOPTS, v6_a, v6_b);
            tb_ip6ext(&full, COLO_IPPROTO_HOPOPTS, COLO_IPPROTO_TCP, 8);
        } else {
            tb_ipv4(&full, COLO_IPPROTO_TCP, v4_a, v4_b, 8, 0);
        }
        tb_tcp(&full, 1, 2, 3, 4, COLO_TCP_ACK, tcp_opts_full,
               sizeof(tcp_opts_full));
        tb_payload(&full, 20, 0);
        tb_finish(&full);
        for (n = 0; n <= full.len; n++) {
            t = full;
            t.len = n;
            parse(&p, &t, k == 3 ? 12 : 0);
            /* the IP length says more than there is */
            g_assert_cmpint(p.error == COLO_PKT_OK, ==, n == full.len);
            check_bounds(&p);
        }
    }
}

/*
 * Flow keys
 */

static void key_of(const TB *t, ColoFlowKey *key)
{
    ColoPacket p;

    g_assert_cmpint(parse(&p, t, 0), ==, COLO_PKT_OK);
    g_assert_true(colo_flow_key_from_packet(&p, key));
}

static void tcp4(TB *t, const uint8_t *src, const uint8_t *dst,
                 uint16_t sport, uint16_t dport)
{
    tb_init(t, 0);
    tb_eth(t, COLO_ETH_P_IPV4);
    tb_ipv4(t, COLO_IPPROTO_TCP, src, dst, 0, 0);
    tb_tcp(t, sport, dport, 1, 1, COLO_TCP_ACK, NULL, 0);
    tb_finish(t);
}

static void tcp6(TB *t, const uint8_t *src, const uint8_t *dst,
                 uint16_t sport, uint16_t dport)
{
    tb_init(t, 0);
    tb_eth(t, COLO_ETH_P_IPV6);
    tb_ipv6(t, COLO_IPPROTO_TCP, src, dst);
    tb_tcp(t, sport, dport, 1, 1, COLO_TCP_ACK, NULL, 0);
    tb_finish(t);
}

static void test_key_basic(void)
{
    ColoFlowKey k, zero;
    char buf[COLO_FLOW_KEY_STRLEN];
    TB t;

    tcp4(&t, v4_b, v4_a, 80, 1234);
    key_of(&t, &k);
    g_assert_cmpuint(k.family, ==, COLO_FAMILY_IPV4);
    g_assert_cmpuint(k.proto, ==, COLO_IPPROTO_TCP);
    g_assert(memcmp(k.src, v4_b, 4) == 0);
    g_assert(memcmp(k.dst, v4_a, 4) == 0);
    g_assert_cmpuint(k.sport, ==, 80);
    g_assert_cmpuint(k.dport, ==, 1234);
    memset(&zero, 0, sizeof(zero));
    g_assert(memcmp(k.src + 4, zero.src, 12) == 0);
    g_assert(memcmp(k.dst + 4, zero.dst, 12) == 0);
    g_assert_cmpuint(k.pad, ==, 0);
    g_assert_cmpstr(colo_flow_key_format(&k, buf, sizeof(buf)), ==,
                    "proto 6 10.0.0.2:80 > 10.0.0.1:1234");

    /* addresses with their top bits set: still zero-padded */
    {
        static const uint8_t hi_a[4] = { 192, 168, 1, 200 };
        static const uint8_t hi_b[4] = { 255, 255, 255, 255 };

        tcp4(&t, hi_a, hi_b, 65535, 32768);
        key_of(&t, &k);
        g_assert(memcmp(k.src, hi_a, 4) == 0);
        g_assert(memcmp(k.dst, hi_b, 4) == 0);
        g_assert(memcmp(k.src + 4, zero.src, 12) == 0);
        g_assert(memcmp(k.dst + 4, zero.dst, 12) == 0);
        g_assert_cmpuint(k.sport, ==, 65535);
        g_assert_cmpuint(k.dport, ==, 32768);
        g_assert_cmpuint(k.n_vlans, ==, 0);
        g_assert_cmpuint(k.vlan[0], ==, 0);
        g_assert_cmpuint(k.vlan[1], ==, 0);
        g_assert_cmpuint(k.pad, ==, 0);
    }
    tcp4(&t, v4_b, v4_a, 80, 1234);
    key_of(&t, &k);

    g_assert_true(colo_flow_key_canonicalize(&k));
    g_assert(memcmp(k.src, v4_a, 4) == 0);
    g_assert_cmpuint(k.sport, ==, 1234);
    g_assert_false(colo_flow_key_canonicalize(&k));

    tcp6(&t, v6_a, v6_b, 1, 2);
    key_of(&t, &k);
    g_assert_cmpstr(colo_flow_key_format(&k, buf, sizeof(buf)), ==,
                    "proto 6 [fd00:0:0:0:0:0:0:1]:1 > "
                    "[fd00:0:0:0:0:0:0:2]:2");
}

static void test_key_directions(void)
{
    ColoFlowKey fwd, rev;
    TB t;
    int i;

    for (i = 0; i < 2; i++) {
        bool s1, s2;

        if (i) {
            tcp6(&t, v6_b, v6_a, 443, 50000);
        } else {
            tcp4(&t, v4_b, v4_a, 443, 50000);
        }
        key_of(&t, &fwd);
        if (i) {
            tcp6(&t, v6_a, v6_b, 50000, 443);
        } else {
            tcp4(&t, v4_a, v4_b, 50000, 443);
        }
        key_of(&t, &rev);
        g_assert_false(colo_flow_key_equal(&fwd, &rev));
        s1 = colo_flow_key_canonicalize(&fwd);
        s2 = colo_flow_key_canonicalize(&rev);
        g_assert_cmpint(s1, !=, s2);
        g_assert_true(colo_flow_key_equal(&fwd, &rev));
        g_assert_cmphex(colo_flow_key_hash(&fwd, 0), ==,
                        colo_flow_key_hash(&rev, 0));
    }

    /* same addresses, ports decide */
    tcp4(&t, v4_a, v4_a, 2, 1);
    key_of(&t, &fwd);
    g_assert_true(colo_flow_key_canonicalize(&fwd));
    g_assert_cmpuint(fwd.sport, ==, 1);
    tcp4(&t, v4_a, v4_a, 1, 2);
    key_of(&t, &rev);
    g_assert_false(colo_flow_key_canonicalize(&rev));
    g_assert_true(colo_flow_key_equal(&fwd, &rev));
}

static void test_key_v4_v6_differ(void)
{
    /* ::ffff:10.0.0.1 and 10.0.0.1 are different flows */
    uint8_t m_a[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
                        10, 0, 0, 1 };
    uint8_t m_b[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
                        10, 0, 0, 2 };
    ColoFlowKey k4, k6;
    TB t;

    tcp4(&t, v4_a, v4_b, 1, 2);
    key_of(&t, &k4);
    tcp6(&t, m_a, m_b, 1, 2);
    key_of(&t, &k6);
    colo_flow_key_canonicalize(&k4);
    colo_flow_key_canonicalize(&k6);
    g_assert_false(colo_flow_key_equal(&k4, &k6));
    /* and with the low 4 bytes equal too */
    memcpy(k6.src, k4.src, 16);
    memcpy(k6.dst, k4.dst, 16);
    g_assert_false(colo_flow_key_equal(&k4, &k6));
}

static void test_key_vlan_differ(void)
{
    static const uint16_t tpid[] = { COLO_ETH_P_VLAN };
    static const uint16_t tci_a[] = { 0x0005 };
    static const uint16_t tci_b[] = { 0x0006 };
    static const uint16_t tci_pcp[] = { 0xe005 };
    ColoFlowKey a, b, c, none;
    TB t;

    tb_init(&t, 0);
    tb_eth_vlan(&t, 1, tpid, tci_a, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_UDP, v4_a, v4_b, 0, 0);
    tb_udp(&t, 1, 2);
    tb_finish(&t);
    key_of(&t, &a);
    g_assert_cmpuint(a.n_vlans, ==, 1);
    g_assert_cmpuint(a.vlan[0], ==, 5);

    t.b[15] = tci_b[0];
    key_of(&t, &b);
    g_assert_false(colo_flow_key_equal(&a, &b));

    /* priority bits are not part of the flow */
    t.b[14] = tci_pcp[0] >> 8;
    t.b[15] = tci_pcp[0];
    key_of(&t, &c);
    g_assert_true(colo_flow_key_equal(&a, &c));

    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_UDP, v4_a, v4_b, 0, 0);
    tb_udp(&t, 1, 2);
    tb_finish(&t);
    key_of(&t, &none);
    g_assert_false(colo_flow_key_equal(&a, &none));
}

static void test_key_icmp_and_other(void)
{
    ColoFlowKey req, rep, arp, frag;
    TB t;

    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_ICMP, v4_a, v4_b, 0, 0);
    tb_icmp(&t, COLO_ICMP_ECHO, 0, 77);
    tb_finish(&t);
    key_of(&t, &req);
    g_assert_cmpuint(req.sport, ==, 77);
    g_assert_cmpuint(req.dport, ==, 77);
    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_ICMP, v4_b, v4_a, 0, 0);
    tb_icmp(&t, COLO_ICMP_ECHOREPLY, 0, 77);
    tb_finish(&t);
    key_of(&t, &rep);
    colo_flow_key_canonicalize(&req);
    colo_flow_key_canonicalize(&rep);
    g_assert_true(colo_flow_key_equal(&req, &rep));

    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_ARP);
    tb_payload(&t, 28, 0);
    key_of(&t, &arp);
    g_assert_cmpuint(arp.family, ==, COLO_FAMILY_NONE);
    g_assert_cmpuint(arp.sport, ==, COLO_ETH_P_ARP);

    /* a non-first fragment has no ports */
    tb_init(&t, 0);
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_UDP, v4_a, v4_b, 0, 10);
    tb_payload(&t, 16, 1);
    tb_finish(&t);
    key_of(&t, &frag);
    g_assert_cmpuint(frag.proto, ==, COLO_IPPROTO_UDP);
    g_assert_cmpuint(frag.sport, ==, 0);
    g_assert_cmpuint(frag.dport, ==, 0);
}

static void test_key_hash_spread(void)
{
    /* Keys differing in one port spread over buckets and hash seeds */
    enum { N = 4096, BUCKETS = 1024 };
    g_autofree uint16_t *count = g_new0(uint16_t, BUCKETS);
    ColoFlowKey k;
    TB t;
    int i, max = 0;

    tcp4(&t, v4_a, v4_b, 0, 80);
    key_of(&t, &k);
    g_assert_cmphex(colo_flow_key_hash(&k, 1), !=,
                    colo_flow_key_hash(&k, 2));
    for (i = 0; i < N; i++) {
        uint32_t h;

        k.sport = i;
        h = colo_flow_key_hash(&k, 12345);
        count[h % BUCKETS]++;
        max = MAX(max, count[h % BUCKETS]);
    }
    /* 4 per bucket on average; a decent hash stays far below 20 */
    g_assert_cmpint(max, <, 20);
}

/*
 * Checksums
 */

static void test_csum_basic(void)
{
    /* RFC 1071 section 3 example: 0001 f203 f4f5 f6f7 -> sum 0xddf2 */
    static const uint8_t d[8] = { 0x00, 0x01, 0xf2, 0x03,
                                  0xf4, 0xf5, 0xf6, 0xf7 };
    uint8_t buf[301];
    uint32_t s;
    int i;

    g_assert_cmphex(colo_csum_fold(colo_csum_add(0, d, 8)), ==, 0xddf2);
    g_assert_cmphex(colo_csum_finish(colo_csum_add(0, d, 8)), ==, 0x220d);
    s = colo_csum_add(0, d, 4);
    s = colo_csum_add(s, d + 4, 4);
    g_assert_cmphex(colo_csum_fold(s), ==, 0xddf2);

    /* odd lengths and chunking agree with the reference */
    for (i = 0; i < sizeof(buf); i++) {
        buf[i] = g_test_rand_int();
    }
    for (i = 0; i <= sizeof(buf); i++) {
        g_assert_cmphex(colo_csum_finish(colo_csum_add(0, buf, i)), ==,
                        ref_csum(buf, i));
        if (i % 2 == 0) {
            s = colo_csum_add(0, buf, i);
            s = colo_csum_add(s, buf + i, sizeof(buf) - i);
            g_assert_cmphex(colo_csum_finish(s), ==,
                            ref_csum(buf, sizeof(buf)));
        }
    }
    /* a large buffer of 0xff does not overflow the accumulator */
    {
        g_autofree uint8_t *big = g_malloc(65536);

        memset(big, 0xff, 65536);
        g_assert_cmphex(colo_csum_finish(colo_csum_add(0, big, 65536)), ==,
                        ref_csum(big, 65536));
    }
}

/* Build a random L4 packet of a random kind, with a correct checksum. */
static void random_packet(TB *t, int kind)
{
    static const uint8_t sack4[36] = {
        1, 1, 5, 34,
        0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4,
        0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8,
    };
    bool v6 = kind & 1;
    int l4 = kind >> 1;         /* 0 TCP, 1 UDP, 2 ICMP(v6) */
    uint8_t proto = l4 == 0 ? COLO_IPPROTO_TCP :
                    l4 == 1 ? COLO_IPPROTO_UDP :
                    v6 ? COLO_IPPROTO_ICMPV6 : COLO_IPPROTO_ICMP;
    uint8_t src[16], dst[16];
    uint8_t opts[36];
    int i;

    for (i = 0; i < 16; i++) {
        src[i] = g_test_rand_int();
        dst[i] = g_test_rand_int();
    }
    tb_init(t, 0);
    tb_eth(t, v6 ? COLO_ETH_P_IPV6 : COLO_ETH_P_IPV4);
    if (v6) {
        tb_ipv6(t, proto, src, dst);
    } else {
        tb_ipv4(t, proto, src, dst, 4 * g_test_rand_int_range(0, 3), 0);
    }
    if (l4 == 0) {
        memcpy(opts, sack4, sizeof(opts));
        for (i = 4; i < 36; i++) {
            opts[i] = g_test_rand_int();
        }
        tb_tcp(t, g_test_rand_int(), g_test_rand_int(), g_test_rand_int(),
               g_test_rand_int(), COLO_TCP_ACK, opts, sizeof(opts));
    } else if (l4 == 1) {
        tb_udp(t, g_test_rand_int(), g_test_rand_int());
    } else {
        tb_icmp(t, v6 ? COLO_ICMPV6_ECHO : COLO_ICMP_ECHO, 0,
                g_test_rand_int());
    }
    tb_payload(t, g_test_rand_int_range(0, 200), g_test_rand_int());
    tb_finish(t);
}

static void test_csum_from_scratch(void)
{
    ColoPacket p;
    uint16_t c;
    TB t;
    int i;

    for (i = 0; i < 600; i++) {
        random_packet(&t, i % 6);
        g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
        g_assert_true(colo_l4_csum_compute(&p, &c));
        g_assert_cmphex(c, ==, get16(t.b + p.l4_csum_off));
        g_assert_true(colo_l4_csum_verify(&p));
        if (p.l3 == COLO_L3_IPV4) {
            g_assert_true(colo_ipv4_csum_verify(&p));
            g_assert_cmphex(colo_ipv4_csum_compute(&p), ==,
                            get16(t.b + p.ip_csum_off));
        }

        /*
         * corrupt one bit of the payload (or of the ports / ICMP type):
         * verification must fail
         */
        {
            size_t at = p.payload_len ?
                p.payload_off + g_test_rand_int_range(0, p.payload_len) :
                p.l4_off + g_test_rand_int_range(0, 2);

            t.b[at] ^= 1 << g_test_rand_int_range(0, 8);
            g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
            g_assert_false(colo_l4_csum_verify(&p));
        }
        /* corrupt an address: the pseudo header must matter */
        if (p.l4 != COLO_L4_ICMP) {
            random_packet(&t, i % 6);
            t.b[t.l3 + (t.ipver == 4 ? 12 : 8)] ^= 0x80;
            g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
            g_assert_false(colo_l4_csum_verify(&p));
        }
    }
}

static void test_csum_replace(void)
{
    uint8_t buf[64];
    int i;

    for (i = 0; i < 10000; i++) {
        size_t at = 2 * g_test_rand_int_range(1, 15);   /* not field 0 */
        uint16_t csum, old16, new16;
        uint32_t old32, new32;
        int j;

        for (j = 0; j < sizeof(buf); j++) {
            buf[j] = g_test_rand_int();
        }
        if (i % 10 == 0) {
            memset(buf, i % 20 ? 0xff : 0, sizeof(buf));
        }
        buf[0] = buf[1] = 0;
        /*
         * All-zero data is the one case where RFC 1624 eqn. 3 gives 0
         * and recomputation 0xffff; never happens with real headers.
         */
        buf[63] |= 1;
        csum = ref_csum(buf, sizeof(buf));

        old16 = get16(buf + at);
        new16 = g_test_rand_int();
        buf[at] = new16 >> 8;
        buf[at + 1] = new16;
        g_assert_cmphex(colo_csum_replace16(csum, old16, new16), ==,
                        ref_csum(buf, sizeof(buf)));

        csum = ref_csum(buf, sizeof(buf));
        old32 = get32(buf + at);
        new32 = g_test_rand_int();
        buf[at] = new32 >> 24;
        buf[at + 1] = new32 >> 16;
        buf[at + 2] = new32 >> 8;
        buf[at + 3] = new32;
        g_assert_cmphex(colo_csum_replace32(csum, old32, new32), ==,
                        ref_csum(buf, sizeof(buf)));
    }
}

/* Patch a random field of @p in @t and check against recomputation. */
static void patch_and_check(TB *t, const ColoPacket *p, size_t off, int n)
{
    uint32_t v = g_test_rand_int();
    ColoPacket q;
    uint16_t c;

    if (n == 2) {
        g_assert_true(colo_packet_patch16(t->b, p, off, v));
        g_assert_cmphex(get16(t->b + off), ==, v & 0xffff);
    } else {
        g_assert_true(colo_packet_patch32(t->b, p, off, v));
        g_assert_cmphex(get32(t->b + off), ==, v);
    }
    g_assert_cmpint(parse(&q, t, 0), ==, COLO_PKT_OK);
    g_assert_true(colo_l4_csum_verify(&q));
    g_assert_true(colo_l4_csum_compute(&q, &c));
    g_assert_cmphex(c, ==, get16(t->b + q.l4_csum_off));
}

static void test_csum_incremental(void)
{
    ColoPacket p;
    TB t;
    int i, k;

    for (i = 0; i < 3000; i++) {
        int kind = i % 6;

        random_packet(&t, kind);
        g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
        if (p.l4 == COLO_L4_TCP) {
            patch_and_check(&t, &p, p.l4_off + 4, 4);          /* seq */
            patch_and_check(&t, &p, p.l4_off + 8, 4);          /* ack */
            patch_and_check(&t, &p, p.l4_off + 14, 2);         /* win */
            g_assert_cmpuint(p.tcp_n_sack, ==, 4);
            for (k = 0; k < p.tcp_n_sack; k++) {
                patch_and_check(&t, &p, p.tcp_sack_off[k], 4);
                patch_and_check(&t, &p, p.tcp_sack_off[k] + 4, 4);
            }
        }
        patch_and_check(&t, &p, p.l4_off, 2);      /* port / type+code */
        if (p.payload_len >= 5) {
            /* odd offsets inside the payload */
            size_t at = p.payload_off +
                        g_test_rand_int_range(0, p.payload_len - 4);

            patch_and_check(&t, &p, at, 4);
            patch_and_check(&t, &p, at + 1, 2);
            patch_and_check(&t, &p, at | 1, 4);
        }
    }
}

static void test_csum_patch_special(void)
{
    ColoPacket p;
    uint16_t before;
    TB t;

    /* IPv4 UDP with no checksum stays without one */
    udp_frame(&t);
    set16(&t, t.l4 + 6, 0);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_true(colo_packet_patch16(t.b, &p, t.l4, 999));
    g_assert_cmpuint(get16(t.b + t.l4), ==, 999);
    g_assert_cmpuint(get16(t.b + t.l4 + 6), ==, 0);

    /* checksum pending in the device: only the field changes */
    tb_init(&t, 10);
    t.b[0] = COLO_VNET_HDR_F_NEEDS_CSUM;
    tb_eth(&t, COLO_ETH_P_IPV4);
    tb_ipv4(&t, COLO_IPPROTO_TCP, v4_a, v4_b, 0, 0);
    tb_tcp(&t, 1, 2, 3, 4, COLO_TCP_ACK, NULL, 0);
    tb_finish(&t);
    g_assert_cmpint(parse(&p, &t, 10), ==, COLO_PKT_OK);
    before = get16(t.b + p.l4_csum_off);
    g_assert_true(colo_packet_patch32(t.b, &p, p.l4_off + 4, 0xdeadbeef));
    g_assert_cmphex(get32(t.b + p.l4_off + 4), ==, 0xdeadbeef);
    g_assert_cmphex(get16(t.b + p.l4_csum_off), ==, before);

    /* out of range, overlapping the checksum, or in padding: refused */
    ipv4_tcp_frame(&t);
    tb_pad(&t, 6);
    g_assert_cmpint(parse(&p, &t, 0), ==, COLO_PKT_OK);
    g_assert_false(colo_packet_patch16(t.b, &p, p.l4_off - 2, 0));
    g_assert_false(colo_packet_patch16(t.b, &p, p.l4_csum_off, 0));
    g_assert_false(colo_packet_patch32(t.b, &p, p.l4_csum_off - 2, 0));
    g_assert_false(colo_packet_patch16(t.b, &p, p.l3_end - 1, 0));
    g_assert_false(colo_packet_patch16(t.b, &p, p.l3_end + 2, 0));
    g_assert_true(colo_packet_patch16(t.b, &p, p.l3_end - 2, 0));
}

int main(int argc, char **argv)
{
    int i;

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/colo/packet/ipv4/tcp", test_ipv4_tcp);
    g_test_add_func("/colo/packet/ipv4/tcp-options", test_tcp_options);
    g_test_add_func("/colo/packet/ipv4/tcp-options-eol",
                    test_tcp_options_eol);
    g_test_add_func("/colo/packet/ipv4/tcp-fast-path", test_fast_path_edges);
    g_test_add_func("/colo/packet/ipv4/tcp-options-timestamps",
                    test_tcp_options_timestamps);
    g_test_add_func("/colo/packet/ipv4/udp", test_ipv4_udp);
    g_test_add_func("/colo/packet/ipv4/udp-short-length",
                    test_udp_short_length);
    g_test_add_func("/colo/packet/udp-zero-csum", test_udp_zero_csum);
    g_test_add_func("/colo/packet/ipv4/icmp", test_ipv4_icmp);
    g_test_add_func("/colo/packet/ipv4/options", test_ipv4_options);
    g_test_add_func("/colo/packet/ipv4/fragments", test_ipv4_fragments);
    g_test_add_func("/colo/packet/ipv6/tcp-udp-icmp",
                    test_ipv6_tcp_udp_icmp);
    g_test_add_func("/colo/packet/ipv6/ext-each", test_ipv6_ext_each);
    g_test_add_func("/colo/packet/ipv6/fragments", test_ipv6_fragments);
    g_test_add_func("/colo/packet/ipv6/chain-max", test_ipv6_chain_max);
    g_test_add_func("/colo/packet/ipv6/other", test_ipv6_other);
    g_test_add_func("/colo/packet/vlan", test_vlan);
    g_test_add_func("/colo/packet/vnet-hdr", test_vnet_hdr);
    g_test_add_func("/colo/packet/eth-padding", test_eth_padding);
    g_test_add_func("/colo/packet/non-ip", test_non_ip);
    g_test_add_func("/colo/packet/empty", test_empty);
    for (i = 0; i < ARRAY_SIZE(bad_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/colo/packet/malformed/%s", bad_cases[i].name);

        g_test_add_data_func(path, &bad_cases[i], test_malformed);
    }
    g_test_add_func("/colo/packet/malformed/too-long", test_too_long);
    g_test_add_func("/colo/packet/malformed-coverage",
                    test_malformed_coverage);
    g_test_add_func("/colo/packet/truncation-sweep", test_truncation_sweep);
    g_test_add_func("/colo/key/basic", test_key_basic);
    g_test_add_func("/colo/key/directions", test_key_directions);
    g_test_add_func("/colo/key/v4-v6-differ", test_key_v4_v6_differ);
    g_test_add_func("/colo/key/vlan-differ", test_key_vlan_differ);
    g_test_add_func("/colo/key/icmp-and-other", test_key_icmp_and_other);
    g_test_add_func("/colo/key/hash-spread", test_key_hash_spread);
    g_test_add_func("/colo/csum/basic", test_csum_basic);
    g_test_add_func("/colo/csum/from-scratch", test_csum_from_scratch);
    g_test_add_func("/colo/csum/replace", test_csum_replace);
    g_test_add_func("/colo/csum/incremental", test_csum_incremental);
    g_test_add_func("/colo/csum/patch-special", test_csum_patch_special);
    return g_test_run();
}
