/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * COLO proxy packet layer: bounds-checked frame parsing, flow keys and
 * Internet checksum helpers.
 *
 * Every header byte is reached through a ColoCursor, which checks that the
 * bytes are there before handing out a pointer to them.  The cursor's end
 * starts at the end of the buffer and shrinks to the end of the IP
 * datagram once its length is known, so Ethernet padding is never taken
 * for payload and no later read can reach it.
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/bswap.h"
#include "qemu/host-utils.h"
#include "net/colo.h"

/*
 * Cursor
 */

typedef struct ColoCursor {
    const uint8_t *data;
    size_t pos;                 /* invariant: pos <= end */
    size_t end;                 /* invariant: end <= buffer size */
} ColoCursor;

static inline size_t cur_left(const ColoCursor *c)
{
    return c->end - c->pos;
}

/* Return a pointer to the next @n bytes, or NULL if they are not there. */
static inline const uint8_t *cur_peek(const ColoCursor *c, size_t n)
{
    return n <= cur_left(c) ? c->data + c->pos : NULL;
}

/* Same as cur_peek(), and step over the bytes. */
static inline const uint8_t *cur_pull(ColoCursor *c, size_t n)
{
    const uint8_t *p = cur_peek(c, n);

    if (p) {
        c->pos += n;
    }
    return p;
}

/* Shrink the readable area to the next @n bytes; @n <= cur_left(). */
static inline void cur_limit(ColoCursor *c, size_t n)
{
    assert(n <= cur_left(c));
    c->end = c->pos + n;
}

/*
 * Error names
 */

static const char *const colo_pkt_error_names[COLO_PKT_ERR__MAX] = {
    [COLO_PKT_OK] = "ok",
    [COLO_PKT_ERR_VNET_HDR] = "vnet-hdr",
    [COLO_PKT_ERR_ETH_TRUNC] = "eth-trunc",
    [COLO_PKT_ERR_VLAN_TRUNC] = "vlan-trunc",
    [COLO_PKT_ERR_VLAN_DEPTH] = "vlan-depth",
    [COLO_PKT_ERR_IPV4_TRUNC] = "ipv4-trunc",
    [COLO_PKT_ERR_IPV4_VERSION] = "ipv4-version",
    [COLO_PKT_ERR_IPV4_IHL] = "ipv4-ihl",
    [COLO_PKT_ERR_IPV4_OPTS] = "ipv4-opts",
    [COLO_PKT_ERR_IPV4_TOTLEN] = "ipv4-totlen",
    [COLO_PKT_ERR_IPV6_TRUNC] = "ipv6-trunc",
    [COLO_PKT_ERR_IPV6_VERSION] = "ipv6-version",
    [COLO_PKT_ERR_IPV6_PLEN] = "ipv6-plen",
    [COLO_PKT_ERR_IPV6_EXT_TRUNC] = "ipv6-ext-trunc",
    [COLO_PKT_ERR_IPV6_EXT_CHAIN] = "ipv6-ext-chain",
    [COLO_PKT_ERR_TCP_TRUNC] = "tcp-trunc",
    [COLO_PKT_ERR_TCP_DOFF] = "tcp-doff",
    [COLO_PKT_ERR_TCP_OPTS] = "tcp-opts",
    [COLO_PKT_ERR_UDP_TRUNC] = "udp-trunc",
    [COLO_PKT_ERR_UDP_LEN] = "udp-len",
    [COLO_PKT_ERR_ICMP_TRUNC] = "icmp-trunc",
    [COLO_PKT_ERR_ICMPV6_TRUNC] = "icmpv6-trunc",
    [COLO_PKT_ERR_TOO_LONG] = "too-long",
};

const char *colo_pkt_error_name(ColoPktError err)
{
    if ((unsigned)err >= COLO_PKT_ERR__MAX) {
        return "invalid";
    }
    return colo_pkt_error_names[err];
}

/*
 * L2
 */

static bool is_vlan_tpid(uint16_t type)
{
    return type == COLO_ETH_P_VLAN || type == COLO_ETH_P_QINQ;
}

static ColoPktError parse_eth(ColoCursor *c, ColoPacket *pkt)
{
    const uint8_t *p = cur_pull(c, COLO_ETH_HLEN);
    uint16_t type;

    if (!p) {
        return COLO_PKT_ERR_ETH_TRUNC;
    }
    type = lduw_be_p(p + 12);
    while (is_vlan_tpid(type)) {
        if (pkt->n_vlans == COLO_MAX_VLAN_TAGS) {
            return COLO_PKT_ERR_VLAN_DEPTH;
        }
        p = cur_pull(c, COLO_VLAN_HLEN);
        if (!p) {
            return COLO_PKT_ERR_VLAN_TRUNC;
        }
        pkt->vlan_tpid[pkt->n_vlans] = type;
        pkt->vlan_tci[pkt->n_vlans] = lduw_be_p(p);
        pkt->n_vlans++;
        type = lduw_be_p(p + 2);
    }
    pkt->eth_type = type;
    pkt->l3_off = c->pos;
    return COLO_PKT_OK;
}

/*
 * L3
 */

static ColoPktError parse_ipv4(ColoCursor *c, ColoPacket *pkt)
{
    const uint8_t *p = cur_peek(c, COLO_IPV4_HLEN);
    size_t hlen, totlen;
    uint16_t frag;

    if (!p) {
        return COLO_PKT_ERR_IPV4_TRUNC;
    }
    if (p[0] >> 4 != 4) {
        return COLO_PKT_ERR_IPV4_VERSION;
    }
    hlen = (p[0] & 0xf) * 4;
    if (hlen < COLO_IPV4_HLEN) {
        return COLO_PKT_ERR_IPV4_IHL;
    }
    if (hlen > cur_left(c)) {
        return COLO_PKT_ERR_IPV4_OPTS;
    }
    totlen = lduw_be_p(p + 2);
    if (totlen < hlen || totlen > cur_left(c)) {
        return COLO_PKT_ERR_IPV4_TOTLEN;
    }
    cur_limit(c, totlen);
    cur_pull(c, hlen);

    pkt->l3 = COLO_L3_IPV4;
    pkt->l3_hdr_len = hlen;
    pkt->l3_end = c->end;
    pkt->ipv4_has_opts = hlen > COLO_IPV4_HLEN;
    pkt->ip_tos = p[1];
    pkt->ip_id_off = pkt->l3_off + 4;
    frag = lduw_be_p(p + 6);
    pkt->more_frags = frag & 0x2000;
    pkt->frag_off = frag & 0x1fff;
    pkt->is_fragment = (frag & 0x3fff) != 0;
    pkt->ip_ttl = p[8];
    pkt->ip_ttl_off = pkt->l3_off + 8;
    pkt->ip_proto = p[9];
    pkt->ip_csum_off = pkt->l3_off + 10;
    pkt->ip_src_off = pkt->l3_off + 12;
    pkt->ip_dst_off = pkt->l3_off + 16;
    pkt->ip_addr_len = 4;
    return COLO_PKT_OK;
}

/* Length of an IPv6 extension header whose first two bytes are @p. */
static size_t ipv6_ext_len(uint8_t nh, const uint8_t *p)
{
    switch (nh) {
    case COLO_IPPROTO_FRAGMENT:
        return 8;
    case COLO_IPPROTO_AH:
        return (p[1] + 2) * 4;
    default:
        return (p[1] + 1) * 8;
    }
}

static bool is_ipv6_ext(uint8_t nh)
{
    switch (nh) {
    case COLO_IPPROTO_HOPOPTS:
    case COLO_IPPROTO_ROUTING:
    case COLO_IPPROTO_FRAGMENT:
    case COLO_IPPROTO_DSTOPTS:
    case COLO_IPPROTO_AH:
        return true;
    default:
        return false;
    }
}

/*
 * Walk the extension header chain up to the upper-layer protocol.  Stops
 * after a fragment header of a non-first fragment: what follows it is
 * fragment data, not headers.
 */
static ColoPktError parse_ipv6_ext(ColoCursor *c, ColoPacket *pkt, uint8_t nh)
{
    while (is_ipv6_ext(nh)) {
        const uint8_t *p = cur_peek(c, 2);
        size_t start = c->pos;

        if (pkt->ipv6_n_ext == COLO_MAX_IPV6_EXT_HDRS) {
            return COLO_PKT_ERR_IPV6_EXT_CHAIN;
        }
        if (!p || !cur_pull(c, ipv6_ext_len(nh, p))) {
            return COLO_PKT_ERR_IPV6_EXT_TRUNC;
        }
        pkt->ipv6_n_ext++;
        if (nh == COLO_IPPROTO_FRAGMENT) {
            uint16_t fo = lduw_be_p(p + 2);

            pkt->ip_id_off = start + 4;
            pkt->frag_off = fo >> 3;
            pkt->more_frags = fo & 1;
            pkt->is_fragment = (fo & 0xfff9) != 0;
        }
        nh = p[0];
        if (pkt->frag_off) {
            break;
        }
    }
    pkt->ip_proto = nh;
    return COLO_PKT_OK;
}

static ColoPktError parse_ipv6(ColoCursor *c, ColoPacket *pkt)
{
    const uint8_t *p = cur_peek(c, COLO_IPV6_HLEN);
    size_t plen;

    if (!p) {
        return COLO_PKT_ERR_IPV6_TRUNC;
    }
    if (p[0] >> 4 != 6) {
        return COLO_PKT_ERR_IPV6_VERSION;
    }
    plen = lduw_be_p(p + 4);
    if (plen > cur_left(c) - COLO_IPV6_HLEN) {
        return COLO_PKT_ERR_IPV6_PLEN;
    }
    cur_limit(c, COLO_IPV6_HLEN + plen);
    cur_pull(c, COLO_IPV6_HLEN);

    pkt->l3 = COLO_L3_IPV6;
    pkt->l3_end = c->end;
    pkt->ip_tos = (lduw_be_p(p) >> 4) & 0xff;
    pkt->ip_ttl = p[7];
    pkt->ip_ttl_off = pkt->l3_off + 7;
    pkt->ip_src_off = pkt->l3_off + 8;
    pkt->ip_dst_off = pkt->l3_off + 24;
    pkt->ip_addr_len = 16;
    return parse_ipv6_ext(c, pkt, p[6]);
}

/*
 * L4
 */

static void tcp_opt_note(ColoPacket *pkt, size_t off, uint8_t kind,
                         size_t len)
{
    const uint8_t *o = pkt->data + off;
    size_t i;

    switch (kind) {
    case COLO_TCPOPT_MSS:
        if (len == 4) {
            pkt->tcp_mss = lduw_be_p(o + 2);
        }
        break;
    case COLO_TCPOPT_WSCALE:
        if (len == 3) {
            pkt->tcp_wscale = o[2];
            pkt->tcp_has_wscale = true;
        }
        break;
    case COLO_TCPOPT_TIMESTAMP:
        if (len == 10 && !pkt->tcp_ts_off) {
            pkt->tcp_ts_off = off + 2;
        }
        break;
    case COLO_TCPOPT_SACK:
        if ((len - 2) % 8) {
            break;
        }
        for (i = 2; i < len && pkt->tcp_n_sack < COLO_MAX_SACK_BLOCKS;
             i += 8) {
            pkt->tcp_sack_off[pkt->tcp_n_sack++] = off + i;
        }
        break;
    }
}

typedef enum ColoTcpOptStep {
    TCPOPT_STEP_END,            /* EOL or end of the area */
    TCPOPT_STEP_OPT,            /* an option: *kind, *olen set */
    TCPOPT_STEP_BAD,            /* malformed: length < 2 or past the end */
} ColoTcpOptStep;

/*
 * Step over the TCP option at @o[*@i] in an options area of @len bytes,
 * skipping NOPs.  Every option but EOL and NOP has a length byte >= 2
 * that keeps it inside the area.  On TCPOPT_STEP_OPT, *@i is the offset of
 * the option found; the caller adds *@olen to go on.
 */
static ColoTcpOptStep tcp_opt_next(const uint8_t *o, size_t len, size_t *i,
                                   uint8_t *kind, size_t *olen)
{
    while (*i < len && o[*i] == COLO_TCPOPT_NOP) {
        (*i)++;
    }
    if (*i >= len || o[*i] == COLO_TCPOPT_EOL) {
        return TCPOPT_STEP_END;
    }
    if (len - *i < 2) {
        return TCPOPT_STEP_BAD;
    }
    /*
     * Read once: the frame may be in guest memory that a vCPU changes
     * under us, and the length checked must be the length used.
     */
    *olen = qatomic_read(&o[*i + 1]);
    if (*olen < 2 || *olen > len - *i) {
        return TCPOPT_STEP_BAD;
    }
    *kind = o[*i];
    return TCPOPT_STEP_OPT;
}

/* Validate the options area and note the options we know in @pkt. */
static bool tcp_opts_parse(ColoPacket *pkt)
{
    const uint8_t *o = pkt->data + pkt->tcp_opt_off;
    ColoTcpOptStep step;
    size_t i = 0, olen;
    uint8_t kind;

    /*
     * What Linux puts on every segment of a connection with timestamps:
     * NOP, NOP, then the timestamps option, nothing else.  The loop below
     * would note the same, at more than a tenth of a frame's parsing time.
     */
    if (pkt->tcp_opt_len == 12 && o[0] == COLO_TCPOPT_NOP &&
        o[1] == COLO_TCPOPT_NOP && o[2] == COLO_TCPOPT_TIMESTAMP &&
        o[3] == 10) {
        pkt->tcp_ts_off = pkt->tcp_opt_off + 4;
        return true;
    }
    while ((step = tcp_opt_next(o, pkt->tcp_opt_len, &i, &kind, &olen)) ==
           TCPOPT_STEP_OPT) {
        tcp_opt_note(pkt, pkt->tcp_opt_off + i, kind, olen);
        i += olen;
    }
    return step == TCPOPT_STEP_END;
}

/*
 * Store the source and destination ports of the L4 header at @p with one
 * 32-bit store.  colo_flow_key_from_packet() reads the two fields back as
 * one word, and a CPU cannot forward two 16-bit stores to one wider load:
 * the load would wait for both to reach the cache, on every frame.
 */
QEMU_BUILD_BUG_ON(offsetof(ColoPacket, dport) !=
                  offsetof(ColoPacket, sport) + sizeof(uint16_t));

static inline void set_ports(ColoPacket *pkt, const uint8_t *p)
{
    uint16_t ports[2] = { lduw_be_p(p), lduw_be_p(p + 2) };

    memcpy(&pkt->sport, ports, sizeof(ports));
}

static ColoPktError parse_tcp(ColoCursor *c, ColoPacket *pkt)
{
    const uint8_t *p = cur_peek(c, COLO_TCP_HLEN);
    size_t hlen;

    if (!p) {
        return COLO_PKT_ERR_TCP_TRUNC;
    }
    hlen = (p[12] >> 4) * 4;
    if (hlen < COLO_TCP_HLEN || !cur_pull(c, hlen)) {
        return COLO_PKT_ERR_TCP_DOFF;
    }
    pkt->l4 = COLO_L4_TCP;
    pkt->l4_hdr_len = hlen;
    pkt->l4_csum_off = pkt->l4_off + 16;
    set_ports(pkt, p);
    pkt->tcp_seq = ldl_be_p(p + 4);
    pkt->tcp_ack = ldl_be_p(p + 8);
    pkt->tcp_flags = p[13];
    pkt->tcp_win = lduw_be_p(p + 14);
    pkt->tcp_opt_off = pkt->l4_off + COLO_TCP_HLEN;
    pkt->tcp_opt_len = hlen - COLO_TCP_HLEN;
    if (!tcp_opts_parse(pkt)) {
        return COLO_PKT_ERR_TCP_OPTS;
    }
    return COLO_PKT_OK;
}

static ColoPktError parse_udp(ColoCursor *c, ColoPacket *pkt)
{
    const uint8_t *p = cur_peek(c, COLO_UDP_HLEN);
    size_t ulen;

    if (!p) {
        return COLO_PKT_ERR_UDP_TRUNC;
    }
    ulen = lduw_be_p(p + 4);
    if (ulen < COLO_UDP_HLEN) {
        return COLO_PKT_ERR_UDP_LEN;
    }
    if (ulen > cur_left(c)) {
        if (!pkt->more_frags) {
            return COLO_PKT_ERR_UDP_LEN;
        }
    } else {
        /* Bytes after the UDP length are not payload. */
        cur_limit(c, ulen);
    }
    cur_pull(c, COLO_UDP_HLEN);
    pkt->l4 = COLO_L4_UDP;
    pkt->l4_hdr_len = COLO_UDP_HLEN;
    pkt->l4_csum_off = pkt->l4_off + 6;
    set_ports(pkt, p);
    pkt->udp_len = ulen;
    return COLO_PKT_OK;
}

static ColoPktError parse_icmp(ColoCursor *c, ColoPacket *pkt, bool v6)
{
    const uint8_t *p = cur_pull(c, COLO_ICMP_HLEN);
    uint8_t req = v6 ? COLO_ICMPV6_ECHO : COLO_ICMP_ECHO;
    uint8_t rep = v6 ? COLO_ICMPV6_ECHOREPLY : COLO_ICMP_ECHOREPLY;

    if (!p) {
        return v6 ? COLO_PKT_ERR_ICMPV6_TRUNC : COLO_PKT_ERR_ICMP_TRUNC;
    }
    pkt->l4 = v6 ? COLO_L4_ICMPV6 : COLO_L4_ICMP;
    pkt->l4_hdr_len = COLO_ICMP_HLEN;
    pkt->l4_csum_off = pkt->l4_off + 2;
    pkt->icmp_type = p[0];
    pkt->icmp_code = p[1];
    pkt->icmp_is_echo = p[0] == req || p[0] == rep;
    if (pkt->icmp_is_echo) {
        pkt->icmp_echo_id = lduw_be_p(p + 4);
    }
    return COLO_PKT_OK;
}

static ColoPktError parse_l4(ColoCursor *c, ColoPacket *pkt)
{
    bool v6 = pkt->l3 == COLO_L3_IPV6;

    if (pkt->frag_off) {
        return COLO_PKT_OK;     /* no L4 header in this fragment */
    }
    switch (pkt->ip_proto) {
    case COLO_IPPROTO_TCP:
        return parse_tcp(c, pkt);
    case COLO_IPPROTO_UDP:
        return parse_udp(c, pkt);
    case COLO_IPPROTO_ICMP:
        if (!v6) {
            return parse_icmp(c, pkt, false);
        }
        break;
    case COLO_IPPROTO_ICMPV6:
        if (v6) {
            return parse_icmp(c, pkt, true);
        }
        break;
    }
    pkt->l4 = COLO_L4_OTHER;
    return COLO_PKT_OK;
}

/*
 * Top level
 */

static ColoPktError parse_frame(ColoCursor *c, ColoPacket *pkt)
{
    ColoPktError err;

    err = parse_eth(c, pkt);
    if (err) {
        return err;
    }
    switch (pkt->eth_type) {
    case COLO_ETH_P_IPV4:
        err = parse_ipv4(c, pkt);
        break;
    case COLO_ETH_P_IPV6:
        err = parse_ipv6(c, pkt);
        break;
    default:
        pkt->l3_end = c->end;
        pkt->l4_off = c->pos;
        pkt->payload_off = c->pos;
        pkt->payload_len = cur_left(c);
        return COLO_PKT_OK;
    }
    if (err) {
        return err;
    }
    /*
     * is_fragment is set by parse_ipv4()/parse_ipv6_ext() from the header
     * word itself: testing the narrow fields just stored here again would
     * be one wide load over several small stores, a store-forwarding stall
     * on every frame.
     */
    pkt->l3_hdr_len = c->pos - pkt->l3_off;
    pkt->l4_off = c->pos;
    err = parse_l4(c, pkt);
    if (err) {
        return err;
    }
    pkt->payload_off = c->pos;
    pkt->payload_len = cur_left(c);
    return COLO_PKT_OK;
}

/*
 * Zero a #ColoPacket with 16-byte stores.  A memset() of a constant size
 * becomes "rep stos" with QEMU's tuning, whose start-up cost is larger
 * than parsing a whole frame; the empty asm keeps the compiler from
 * turning the loops back into that memset().  Four stores per iteration
 * let the compiler peel the loops into straight-line code for a packet
 * of ten or so vectors.
 */
typedef uint64_t ColoZeroVec __attribute__((vector_size(16), aligned(8)));

#define PKT_VECS (sizeof(ColoPacket) / sizeof(ColoZeroVec))

static inline void packet_clear(ColoPacket *pkt)
{
    ColoZeroVec *v = (ColoZeroVec *)pkt;
    size_t i;

    for (i = 0; i + 4 <= PKT_VECS; i += 4) {
        v[i] = (ColoZeroVec){ 0, 0 };
        v[i + 1] = (ColoZeroVec){ 0, 0 };
        v[i + 2] = (ColoZeroVec){ 0, 0 };
        v[i + 3] = (ColoZeroVec){ 0, 0 };
        asm("" : : "r"(&v[i]));
    }
    for (; i < PKT_VECS; i++) {
        v[i] = (ColoZeroVec){ 0, 0 };
        asm("" : : "r"(&v[i]));
    }
    memset((uint8_t *)pkt + i * sizeof(*v), 0, sizeof(*pkt) % sizeof(*v));
}

/*
 * The frame colo-compare and filter-rewriter see most: untagged IPv4
 * without options, not fragmented, carrying TCP with no options or with
 * Linux's NOP, NOP, timestamps.  Every check parse_frame() would make is
 * made first, then @pkt (cleared, with data, size and the vnet header
 * fields set) is filled with what parse_frame() would store, without the
 * cursor and the walk through the layers.  Returns false, having stored
 * nothing, for any other frame.
 */
static bool parse_ipv4_tcp_fast(ColoPacket *pkt, size_t size)
{
    const size_t l3 = pkt->l2_off + COLO_ETH_HLEN, l4 = l3 + COLO_IPV4_HLEN;
    const uint8_t *ip = pkt->data + l3, *tcp = pkt->data + l4, *o;
    size_t totlen, hlen;

    if (size < l4 + COLO_TCP_HLEN ||
        lduw_be_p(pkt->data + l3 - 2) != COLO_ETH_P_IPV4 ||
        ip[0] != 0x45 || ip[9] != COLO_IPPROTO_TCP ||
        (lduw_be_p(ip + 6) & 0x3fff)) {
        return false;
    }
    totlen = lduw_be_p(ip + 2);
    hlen = (tcp[12] >> 4) * 4;
    if (totlen > size - l3 || totlen < COLO_IPV4_HLEN + hlen) {
        return false;
    }
    o = tcp + COLO_TCP_HLEN;
    if (hlen == COLO_TCP_HLEN + 12 && o[0] == COLO_TCPOPT_NOP &&
        o[1] == COLO_TCPOPT_NOP && o[2] == COLO_TCPOPT_TIMESTAMP &&
        o[3] == 10) {
        pkt->tcp_ts_off = l4 + COLO_TCP_HLEN + 4;
    } else if (hlen != COLO_TCP_HLEN) {
        return false;
    }

    pkt->eth_type = COLO_ETH_P_IPV4;
    pkt->l3 = COLO_L3_IPV4;
    pkt->l3_off = l3;
    pkt->l3_end = l3 + totlen;
    pkt->l3_hdr_len = COLO_IPV4_HLEN;
    pkt->ip_tos = ip[1];
    pkt->ip_ttl = ip[8];
    pkt->ip_proto = COLO_IPPROTO_TCP;
    pkt->ip_id_off = l3 + 4;
    pkt->ip_ttl_off = l3 + 8;
    pkt->ip_csum_off = l3 + 10;
    pkt->ip_src_off = l3 + 12;
    pkt->ip_dst_off = l3 + 16;
    pkt->ip_addr_len = 4;

    pkt->l4 = COLO_L4_TCP;
    pkt->l4_off = l4;
    pkt->l4_hdr_len = hlen;
    pkt->l4_csum_off = l4 + 16;
    set_ports(pkt, tcp);
    pkt->tcp_seq = ldl_be_p(tcp + 4);
    pkt->tcp_ack = ldl_be_p(tcp + 8);
    pkt->tcp_flags = tcp[13];
    pkt->tcp_win = lduw_be_p(tcp + 14);
    pkt->tcp_opt_off = l4 + COLO_TCP_HLEN;
    pkt->tcp_opt_len = hlen - COLO_TCP_HLEN;
    pkt->payload_off = l4 + hlen;
    pkt->payload_len = totlen - COLO_IPV4_HLEN - hlen;
    return true;
}

static inline ColoPktError packet_parse(ColoPacket *pkt, const uint8_t *data,
                                        size_t size, size_t vnet_hdr_len,
                                        bool fast)
{
    ColoCursor c = { .data = data, .pos = 0, .end = size };

    packet_clear(pkt);
    pkt->data = data;
    if (size > COLO_PKT_MAX_SIZE) {
        pkt->error = COLO_PKT_ERR_TOO_LONG;
        return pkt->error;
    }
    pkt->size = size;
    if (vnet_hdr_len > size) {
        pkt->error = COLO_PKT_ERR_VNET_HDR;
        return pkt->error;
    }
    pkt->vnet_hdr_len = vnet_hdr_len;
    pkt->vnet_flags = vnet_hdr_len >= 1 ? data[0] : 0;
    pkt->vnet_gso_type = vnet_hdr_len >= 2 ? data[1] : 0;
    c.pos = vnet_hdr_len;
    pkt->l2_off = c.pos;
    if (fast && parse_ipv4_tcp_fast(pkt, size)) {
        return COLO_PKT_OK;     /* pkt->error is already 0 */
    }
    pkt->error = parse_frame(&c, pkt);
    return pkt->error;
}

ColoPktError colo_packet_parse(ColoPacket *pkt, const uint8_t *data,
                               size_t size, size_t vnet_hdr_len)
{
    return packet_parse(pkt, data, size, vnet_hdr_len, true);
}

ColoPktError colo_packet_parse_generic(ColoPacket *pkt, const uint8_t *data,
                                       size_t size, size_t vnet_hdr_len)
{
    return packet_parse(pkt, data, size, vnet_hdr_len, false);
}

bool colo_tcp_option_find(const ColoPacket *pkt, uint8_t kind,
                          size_t *off, size_t *len)
{
    const uint8_t *o = pkt->data + pkt->tcp_opt_off;
    size_t i = 0, olen;
    uint8_t k;

    if (!colo_packet_is_tcp(pkt)) {
        return false;
    }
    while (tcp_opt_next(o, pkt->tcp_opt_len, &i, &k, &olen) ==
           TCPOPT_STEP_OPT) {
        if (k == kind) {
            *off = pkt->tcp_opt_off + i;
            *len = olen;
            return true;
        }
        i += olen;
    }
    return false;
}

/*
 * Flow keys
 */

QEMU_BUILD_BUG_ON(sizeof(ColoFlowKey) != 44);

/*
 * The key is assembled in registers and stored in 8-byte words (and one
 * 4-byte word), the sizes colo_flow_key_hash() and colo_flow_key_equal()
 * read it with.  Filling it field by field after a memset() made their
 * loads span several smaller stores, which the CPU cannot forward: each
 * waited for the stores to reach the cache, for every packet.
 */
QEMU_BUILD_BUG_ON(COLO_MAX_VLAN_TAGS != 2);
QEMU_BUILD_BUG_ON(offsetof(ColoFlowKey, sport) != 32 ||
                  offsetof(ColoFlowKey, dport) != 34 ||
                  offsetof(ColoFlowKey, vlan) != 36 ||
                  offsetof(ColoFlowKey, family) != 40 ||
                  offsetof(ColoFlowKey, proto) != 41 ||
                  offsetof(ColoFlowKey, n_vlans) != 42 ||
                  offsetof(ColoFlowKey, pad) != 43);

bool colo_flow_key_from_packet(const ColoPacket *pkt, ColoFlowKey *key)
{
    uint64_t s0 = 0, s1 = 0, d0 = 0, d1 = 0;   /* src, dst */
    uint16_t ports[4] = { 0 };              /* sport, dport, vlan[2] */
    uint8_t tail[4] = { 0 };                /* family, proto, n_vlans, pad */
    const uint8_t *sa, *da;
    uint64_t w;
    uint32_t t;
    int i;

    if (pkt->error != COLO_PKT_OK) {
        memset(key, 0, sizeof(*key));
        return false;
    }
    tail[2] = pkt->n_vlans;
    for (i = 0; i < pkt->n_vlans; i++) {
        ports[2 + i] = pkt->vlan_tci[i] & 0xfff;
    }
    if (pkt->l3 == COLO_L3_OTHER) {
        tail[0] = COLO_FAMILY_NONE;
        ports[0] = pkt->eth_type;
    } else {
        tail[0] = pkt->l3 == COLO_L3_IPV4 ? COLO_FAMILY_IPV4
                                          : COLO_FAMILY_IPV6;
        tail[1] = pkt->ip_proto;
        sa = pkt->data + pkt->ip_src_off;
        da = pkt->data + pkt->ip_dst_off;
        if (pkt->ip_addr_len == 4) {
            /* the 4 bytes, then zeroes */
            s0 = (uint32_t)ldl_he_p(sa);
            d0 = (uint32_t)ldl_he_p(da);
            if (HOST_BIG_ENDIAN) {
                s0 <<= 32;
                d0 <<= 32;
            }
        } else {
            s0 = ldq_he_p(sa);
            s1 = ldq_he_p(sa + 8);
            d0 = ldq_he_p(da);
            d1 = ldq_he_p(da + 8);
        }
        switch (pkt->l4) {
        case COLO_L4_TCP:
        case COLO_L4_UDP:
            ports[0] = pkt->sport;
            ports[1] = pkt->dport;
            break;
        case COLO_L4_ICMP:
        case COLO_L4_ICMPV6:
            if (pkt->icmp_is_echo) {
                ports[0] = pkt->icmp_echo_id;
                ports[1] = pkt->icmp_echo_id;
            }
            break;
        default:
            break;
        }
    }
    stq_he_p(key->src, s0);
    stq_he_p(key->src + 8, s1);
    stq_he_p(key->dst, d0);
    stq_he_p(key->dst + 8, d1);
    memcpy(&w, ports, 8);
    stq_he_p(&key->sport, w);
    memcpy(&t, tail, 4);
    stl_he_p(&key->family, t);
    return true;
}

void colo_flow_key_reverse(ColoFlowKey *key)
{
    uint8_t addr[16];
    uint16_t port;

    memcpy(addr, key->src, sizeof(addr));
    memcpy(key->src, key->dst, sizeof(addr));
    memcpy(key->dst, addr, sizeof(addr));
    port = key->sport;
    key->sport = key->dport;
    key->dport = port;
}

bool colo_flow_key_canonicalize(ColoFlowKey *key)
{
    int cmp = memcmp(key->src, key->dst, sizeof(key->src));

    if (cmp > 0 || (cmp == 0 && key->sport > key->dport)) {
        colo_flow_key_reverse(key);
        return true;
    }
    return false;
}

bool colo_flow_key_equal(const ColoFlowKey *a, const ColoFlowKey *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

/*
 * Multiply two 64-bit words to 128 bits and fold the halves: every input
 * bit reaches the middle of the product, so the fold mixes well, and the
 * multiplications of one key are independent of each other.
 */
static inline uint64_t hash_fold(uint64_t a, uint64_t b)
{
    uint64_t lo, hi;

    mulu64(&lo, &hi, a, b);
    return lo ^ hi;
}

uint32_t colo_flow_key_hash(const ColoFlowKey *key, uint32_t seed)
{
    static const uint64_t k[4] = {
        0xa0761d6478bd642fULL, 0xe7037ed1a0b428dbULL,
        0x8ebc6af09c88c6e3ULL, 0x589965cc75374cc3ULL,
    };
    const uint8_t *p = (const uint8_t *)key;
    uint64_t s = ((uint64_t)seed + 1) * 0x9e3779b97f4a7c15ULL;
    uint64_t h;

    /* 44 bytes: five 64-bit words and one 32-bit word */
    h = hash_fold(ldq_he_p(p) ^ s ^ k[0], ldq_he_p(p + 8) ^ k[1]) ^
        hash_fold(ldq_he_p(p + 16) ^ s ^ k[2], ldq_he_p(p + 24) ^ k[3]) ^
        hash_fold(ldq_he_p(p + 32) ^ s ^ k[1],
                  (uint64_t)ldl_he_p(p + 40) ^ k[0]);
    h = hash_fold(h ^ k[3], s ^ sizeof(*key));
    return h ^ (h >> 32);
}

static void format_addr(GString *s, uint8_t family, const uint8_t *a)
{
    int i;

    if (family == COLO_FAMILY_IPV4) {
        g_string_append_printf(s, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
        return;
    }
    g_string_append_c(s, '[');
    for (i = 0; i < 16; i += 2) {
        g_string_append_printf(s, i ? ":%x" : "%x", lduw_be_p(a + i));
    }
    g_string_append_c(s, ']');
}

char *colo_flow_key_format(const ColoFlowKey *key, char *buf, size_t len)
{
    g_autoptr(GString) s = g_string_sized_new(COLO_FLOW_KEY_STRLEN);
    int i;

    if (key->family == COLO_FAMILY_NONE) {
        g_string_append_printf(s, "ethertype 0x%04x", key->sport);
    } else {
        g_string_append_printf(s, "proto %u ", key->proto);
        format_addr(s, key->family, key->src);
        g_string_append_printf(s, ":%u > ", key->sport);
        format_addr(s, key->family, key->dst);
        g_string_append_printf(s, ":%u", key->dport);
    }
    for (i = 0; i < key->n_vlans && i < COLO_MAX_VLAN_TAGS; i++) {
        g_string_append_printf(s, " vlan %u", key->vlan[i]);
    }
    if (len) {
        g_strlcpy(buf, s->str, len);
    }
    return buf;
}

/*
 * Checksums
 */

uint32_t colo_csum_add(uint32_t sum, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t acc = sum;
    size_t i;

    for (i = 0; i + 1 < len; i += 2) {
        acc += lduw_be_p(p + i);
    }
    if (len & 1) {
        acc += (uint32_t)p[len - 1] << 8;
    }
    while (acc >> 32) {
        acc = (acc & 0xffffffff) + (acc >> 32);
    }
    /* Leave room for the caller to keep adding. */
    acc = (acc & 0xffff) + (acc >> 16);
    return acc;
}

uint16_t colo_csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

uint16_t colo_csum_finish(uint32_t sum)
{
    return ~colo_csum_fold(sum);
}

uint32_t colo_csum_pseudo(const ColoPacket *pkt, uint8_t proto,
                          uint32_t l4_len)
{
    uint32_t sum;

    if (pkt->l3 == COLO_L3_OTHER) {
        return 0;
    }
    sum = colo_csum_add(0, pkt->data + pkt->ip_src_off, pkt->ip_addr_len);
    sum = colo_csum_add(sum, pkt->data + pkt->ip_dst_off, pkt->ip_addr_len);
    sum += proto;
    sum += l4_len >> 16;
    sum += l4_len & 0xffff;
    return sum;
}

/* Bytes covered by the L4 checksum, from l4_off; 0 if none. */
static size_t l4_csum_len(const ColoPacket *pkt)
{
    if (pkt->error != COLO_PKT_OK || pkt->is_fragment || !pkt->l4_csum_off) {
        return 0;
    }
    if (pkt->l4 == COLO_L4_UDP) {
        return pkt->udp_len;
    }
    return pkt->l3_end - pkt->l4_off;
}

/* Sum of the L4 bytes with the checksum field taken as zero. */
static uint32_t l4_sum_without_csum(const ColoPacket *pkt, size_t len)
{
    const uint8_t *l4 = pkt->data + pkt->l4_off;
    size_t coff = pkt->l4_csum_off - pkt->l4_off;    /* even */
    uint32_t sum;

    sum = colo_csum_add(0, l4, coff);
    sum = colo_csum_add(sum, l4 + coff + 2, len - coff - 2);
    if (pkt->l4 != COLO_L4_ICMP) {
        sum += colo_csum_pseudo(pkt, pkt->ip_proto, len);
    }
    return sum;
}

bool colo_l4_csum_compute(const ColoPacket *pkt, uint16_t *csum)
{
    size_t len = l4_csum_len(pkt);
    uint16_t c;

    if (!len) {
        return false;
    }
    c = colo_csum_finish(l4_sum_without_csum(pkt, len));
    if (c == 0 && pkt->l4 == COLO_L4_UDP) {
        c = 0xffff;
    }
    *csum = c;
    return true;
}

bool colo_l4_csum_verify(const ColoPacket *pkt)
{
    size_t len = l4_csum_len(pkt);
    uint16_t field;

    if (!len) {
        return false;
    }
    field = lduw_be_p(pkt->data + pkt->l4_csum_off);
    if (field == 0 && pkt->l4 == COLO_L4_UDP && pkt->l3 == COLO_L3_IPV4) {
        return true;
    }
    return colo_csum_fold(l4_sum_without_csum(pkt, len) + field) == 0xffff;
}

uint16_t colo_ipv4_csum_compute(const ColoPacket *pkt)
{
    const uint8_t *ip = pkt->data + pkt->l3_off;
    uint32_t sum;

    if (pkt->l3 != COLO_L3_IPV4) {
        return 0;
    }
    sum = colo_csum_add(0, ip, 10);
    sum = colo_csum_add(sum, ip + 12, pkt->l3_hdr_len - 12);
    return colo_csum_finish(sum);
}

bool colo_ipv4_csum_verify(const ColoPacket *pkt)
{
    if (pkt->l3 != COLO_L3_IPV4) {
        return false;
    }
    return colo_csum_fold(colo_csum_add(0, pkt->data + pkt->l3_off,
                                        pkt->l3_hdr_len)) == 0xffff;
}

uint16_t colo_csum_replace16(uint16_t csum, uint16_t old_val,
                             uint16_t new_val)
{
    uint32_t sum = (uint16_t)~csum;

    sum += (uint16_t)~old_val;
    sum += new_val;
    return ~colo_csum_fold(sum);
}

uint16_t colo_csum_replace32(uint16_t csum, uint32_t old_val,
                             uint32_t new_val)
{
    uint32_t sum = (uint16_t)~csum;

    sum += (uint16_t)~(old_val >> 16);
    sum += (uint16_t)~old_val;
    sum += new_val >> 16;
    sum += new_val & 0xffff;
    return ~colo_csum_fold(sum);
}

/*
 * Contribution of @n bytes at @p to a checksum over data starting at an
 * offset of parity @odd: byte-swapping the data byte-swaps the sum
 * (RFC 1071 section 2 (B)).
 */
static uint16_t field_sum(const uint8_t *p, size_t n, bool odd)
{
    uint16_t s = colo_csum_fold(colo_csum_add(0, p, n));

    return odd ? bswap16(s) : s;
}

static bool colo_packet_patch(uint8_t *buf, const ColoPacket *pkt,
                              size_t off, const uint8_t *val, size_t n)
{
    size_t end = pkt->payload_off + pkt->payload_len;
    bool odd = (off - pkt->l4_off) & 1;
    bool has_csum;
    uint16_t csum = 0;
    uint32_t sum;

    if (pkt->error != COLO_PKT_OK || pkt->l3 == COLO_L3_OTHER ||
        off < pkt->l4_off || off > end || n > end - off) {
        return false;
    }
    has_csum = pkt->l4_csum_off && !pkt->frag_off &&
               !(pkt->vnet_flags & COLO_VNET_HDR_F_NEEDS_CSUM);
    if (pkt->l4_csum_off && off < pkt->l4_csum_off + 2 &&
        off + n > pkt->l4_csum_off) {
        return false;           /* the field overlaps the checksum */
    }
    if (has_csum) {
        csum = lduw_be_p(buf + pkt->l4_csum_off);
        if (csum == 0 && pkt->l4 == COLO_L4_UDP &&
            pkt->l3 == COLO_L3_IPV4) {
            has_csum = false;   /* no checksum */
        }
    }
    if (has_csum) {
        sum = (uint16_t)~csum;
        sum += (uint16_t)~field_sum(buf + off, n, odd);
        sum += field_sum(val, n, odd);
        csum = ~colo_csum_fold(sum);
        if (csum == 0 && pkt->l4 == COLO_L4_UDP) {
            csum = 0xffff;
        }
        stw_be_p(buf + pkt->l4_csum_off, csum);
    }
    memcpy(buf + off, val, n);
    return true;
}

bool colo_packet_patch16(uint8_t *buf, const ColoPacket *pkt, size_t off,
                         uint16_t val)
{
    uint8_t v[2];

    stw_be_p(v, val);
    return colo_packet_patch(buf, pkt, off, v, sizeof(v));
}

bool colo_packet_patch32(uint8_t *buf, const ColoPacket *pkt, size_t off,
                         uint32_t val)
{
    uint8_t v[4];

    stl_be_p(v, val);
    return colo_packet_patch(buf, pkt, off, v, sizeof(v));
}
