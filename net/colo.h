/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * COLO proxy packet layer: bounds-checked frame parsing, flow keys and
 * Internet checksum helpers.
 *
 * This is pure code: no QOM, no main loop, no tracing, no clock and no
 * allocation.  It can be built on its own for unit tests, fuzzers and
 * benchmarks.
 *
 * Offsets
 * -------
 * Every ``*_off`` field of #ColoPacket is a byte offset from the start of
 * the buffer given to colo_packet_parse(), i.e. it *includes* the
 * virtio-net header, if any.  Offsets do not depend on where the buffer
 * lives: after copying the buffer elsewhere, set #ColoPacket.data to the
 * copy (or just add the offsets to the copy) and every offset stays valid.
 * This is how the rewriter patches a writable copy of a frame in place.
 *
 * Every offset and length stored in a #ColoPacket that parsed without error
 * has been checked against the end of the buffer: data[off .. off + len)
 * is always readable.  Offsets are 32-bit: a buffer longer than
 * %COLO_PKT_MAX_SIZE is malformed (%COLO_PKT_ERR_TOO_LONG).
 */

#ifndef NET_COLO_H
#define NET_COLO_H

/* Longest buffer colo_packet_parse() accepts (offsets are 32-bit) */
#define COLO_PKT_MAX_SIZE       UINT32_MAX

/* Ethertypes (host order) */
#define COLO_ETH_P_IPV4         0x0800
#define COLO_ETH_P_ARP          0x0806
#define COLO_ETH_P_VLAN         0x8100  /* 802.1Q C-tag */
#define COLO_ETH_P_QINQ         0x88a8  /* 802.1ad S-tag */
#define COLO_ETH_P_IPV6         0x86dd

/* IP protocol numbers */
#define COLO_IPPROTO_HOPOPTS    0
#define COLO_IPPROTO_ICMP       1
#define COLO_IPPROTO_TCP        6
#define COLO_IPPROTO_UDP        17
#define COLO_IPPROTO_ROUTING    43
#define COLO_IPPROTO_FRAGMENT   44
#define COLO_IPPROTO_ESP        50
#define COLO_IPPROTO_AH         51
#define COLO_IPPROTO_ICMPV6     58
#define COLO_IPPROTO_NONE       59
#define COLO_IPPROTO_DSTOPTS    60

/* TCP flags, as in the 8 low bits of TCP header byte 13 */
#define COLO_TCP_FIN            0x01
#define COLO_TCP_SYN            0x02
#define COLO_TCP_RST            0x04
#define COLO_TCP_PSH            0x08
#define COLO_TCP_ACK            0x10
#define COLO_TCP_URG            0x20
#define COLO_TCP_ECE            0x40
#define COLO_TCP_CWR            0x80

/* TCP option kinds */
#define COLO_TCPOPT_EOL         0
#define COLO_TCPOPT_NOP         1
#define COLO_TCPOPT_MSS         2
#define COLO_TCPOPT_WSCALE      3
#define COLO_TCPOPT_SACK_PERM   4
#define COLO_TCPOPT_SACK        5
#define COLO_TCPOPT_TIMESTAMP   8

/* ICMP / ICMPv6 echo types */
#define COLO_ICMP_ECHOREPLY     0
#define COLO_ICMP_ECHO          8
#define COLO_ICMPV6_ECHO        128
#define COLO_ICMPV6_ECHOREPLY   129

/* Fixed header sizes */
#define COLO_ETH_HLEN           14
#define COLO_VLAN_HLEN          4
#define COLO_IPV4_HLEN          20      /* without options */
#define COLO_IPV6_HLEN          40      /* without extension headers */
#define COLO_TCP_HLEN           20      /* without options */
#define COLO_UDP_HLEN           8
#define COLO_ICMP_HLEN          8       /* ICMP and ICMPv6 */

/** COLO_MAX_VLAN_TAGS: VLAN tags accepted in one frame (802.1ad + 802.1Q) */
#define COLO_MAX_VLAN_TAGS      2
/** COLO_MAX_IPV6_EXT_HDRS: IPv6 extension headers walked before giving up */
#define COLO_MAX_IPV6_EXT_HDRS  8
/** COLO_MAX_SACK_BLOCKS: SACK blocks that fit in 40 bytes of TCP options */
#define COLO_MAX_SACK_BLOCKS    4

/**
 * ColoPktError:
 *
 * Result of colo_packet_parse().  Anything but %COLO_PKT_OK means the frame
 * is malformed; colo_pkt_error_name() gives a short stable name for
 * counters and trace events.  Frames that are merely of a kind we do not
 * look into (ARP, ESP, GRE, ...) are not errors: they parse as
 * %COLO_L3_OTHER or %COLO_L4_OTHER.
 */
typedef enum ColoPktError {
    COLO_PKT_OK = 0,
    COLO_PKT_ERR_VNET_HDR,      /* frame shorter than the vnet header */
    COLO_PKT_ERR_ETH_TRUNC,     /* shorter than an Ethernet header */
    COLO_PKT_ERR_VLAN_TRUNC,    /* VLAN tag cut short */
    COLO_PKT_ERR_VLAN_DEPTH,    /* more than COLO_MAX_VLAN_TAGS tags */
    COLO_PKT_ERR_IPV4_TRUNC,    /* shorter than a 20 byte IPv4 header */
    COLO_PKT_ERR_IPV4_VERSION,  /* version field is not 4 */
    COLO_PKT_ERR_IPV4_IHL,      /* IHL < 5 */
    COLO_PKT_ERR_IPV4_OPTS,     /* IHL * 4 past the end of the frame */
    COLO_PKT_ERR_IPV4_TOTLEN,   /* total length < IHL * 4 or > frame */
    COLO_PKT_ERR_IPV6_TRUNC,    /* shorter than a 40 byte IPv6 header */
    COLO_PKT_ERR_IPV6_VERSION,  /* version field is not 6 */
    COLO_PKT_ERR_IPV6_PLEN,     /* payload length past the frame */
    COLO_PKT_ERR_IPV6_EXT_TRUNC,/* extension header past the payload */
    COLO_PKT_ERR_IPV6_EXT_CHAIN,/* more than COLO_MAX_IPV6_EXT_HDRS */
    COLO_PKT_ERR_TCP_TRUNC,     /* shorter than a 20 byte TCP header */
    COLO_PKT_ERR_TCP_DOFF,      /* data offset < 5 or past the segment */
    COLO_PKT_ERR_TCP_OPTS,      /* an option runs past the TCP header */
    COLO_PKT_ERR_UDP_TRUNC,     /* shorter than an 8 byte UDP header */
    COLO_PKT_ERR_UDP_LEN,       /* UDP length < 8 or > IP payload */
    COLO_PKT_ERR_ICMP_TRUNC,    /* shorter than an 8 byte ICMP header */
    COLO_PKT_ERR_ICMPV6_TRUNC,  /* shorter than an 8 byte ICMPv6 header */
    COLO_PKT_ERR_TOO_LONG,      /* longer than COLO_PKT_MAX_SIZE */
    COLO_PKT_ERR__MAX,
} ColoPktError;

/**
 * ColoL3Kind: what follows the Ethernet/VLAN headers.
 */
typedef enum ColoL3Kind {
    COLO_L3_OTHER = 0,  /* ARP or any other ethertype; see eth_type */
    COLO_L3_IPV4,
    COLO_L3_IPV6,
} ColoL3Kind;

/**
 * ColoL4Kind: which L4 header was parsed.
 *
 * %COLO_L4_NONE is used for non-IP frames and for IP fragments that do not
 * carry the L4 header (non-first fragments).  %COLO_L4_OTHER is any other
 * upper-layer protocol (ESP, GRE, SCTP, no-next-header, ...); its number is
 * in #ColoPacket.ip_proto and its bytes are the "payload".
 */
typedef enum ColoL4Kind {
    COLO_L4_NONE = 0,
    COLO_L4_TCP,
    COLO_L4_UDP,
    COLO_L4_ICMP,
    COLO_L4_ICMPV6,
    COLO_L4_OTHER,
} ColoL4Kind;

/**
 * ColoPacket:
 *
 * Parsed view of one frame.  Filled by colo_packet_parse(); points into
 * the caller's buffer and allocates nothing.  All fields are read-only for
 * users.  Multi-byte values copied out of headers are in host order.
 *
 * Layout of the buffer (all offsets from @data)::
 *
 *   0          l2_off        l3_off     l4_off      payload_off   l3_end  size
 *   | vnet hdr | eth [+vlans] | IP hdrs  | L4 hdr    | payload     | pad   |
 *
 * For non-IP frames l3_end == size, l4_off == payload_off == l3_off.
 * For IP, bytes from l3_end to size are Ethernet padding and belong to
 * nothing; the payload ends at l3_end, except for UDP where it ends at
 * l4_off + udp_len when that is shorter (or, for a first fragment, at
 * l3_end when the UDP length is longer).  For %COLO_L4_NONE and
 * %COLO_L4_OTHER the L4 header length is zero and the payload is
 * everything after the IP headers.
 */
typedef struct ColoPacket {
    const uint8_t *data;        /* buffer given to colo_packet_parse() */
    uint32_t size;              /* its length in bytes */
    ColoPktError error;         /* COLO_PKT_OK or why it is malformed */

    /* virtio-net header (first two bytes of struct virtio_net_hdr) */
    uint32_t vnet_hdr_len;
    uint8_t vnet_flags;         /* 0 if vnet_hdr_len < 1 */
    uint8_t vnet_gso_type;      /* 0 if vnet_hdr_len < 2 */

    /* L2 */
    uint16_t eth_type;          /* innermost ethertype */
    uint32_t l2_off;            /* Ethernet header, == vnet_hdr_len */
    uint16_t vlan_tpid[COLO_MAX_VLAN_TAGS];
    uint16_t vlan_tci[COLO_MAX_VLAN_TAGS];      /* PCP, DEI and VLAN id */
    uint8_t n_vlans;            /* 0..COLO_MAX_VLAN_TAGS, outermost first */

    /* L3 */
    uint8_t ip_proto;           /* upper-layer protocol (after ext hdrs) */
    uint8_t ip_tos;             /* IPv4 TOS / IPv6 traffic class */
    uint8_t ip_ttl;             /* IPv4 TTL / IPv6 hop limit */
    ColoL3Kind l3;
    uint32_t l3_off;            /* IP header (or ARP etc.) */
    uint32_t l3_end;            /* end of the IP datagram, before padding */
    uint32_t l3_hdr_len;        /* IPv4 IHL*4, IPv6 40 + extension hdrs */
    uint32_t ip_ttl_off;        /* offset of TTL / hop limit byte */
    uint32_t ip_csum_off;       /* IPv4 header checksum; 0 for IPv6 */
    /* IPv4: 16-bit id; IPv6: 32-bit id of the fragment header or 0 */
    uint32_t ip_id_off;
    uint32_t ip_src_off;        /* 4 (IPv4) or 16 (IPv6) bytes */
    uint32_t ip_dst_off;
    uint8_t ip_addr_len;        /* 4 or 16; 0 for non-IP */
    uint8_t ipv6_n_ext;         /* IPv6 extension headers walked */
    bool ipv4_has_opts;         /* IHL > 5 */
    bool is_fragment;           /* MF set or fragment offset != 0 */
    bool more_frags;            /* MF flag (IPv4 or IPv6 fragment hdr) */
    uint16_t frag_off;          /* fragment offset in 8 byte units */

    /* L4 */
    ColoL4Kind l4;
    uint32_t l4_off;            /* L4 header; start of IP payload */
    uint32_t l4_hdr_len;        /* TCP doff*4, 8 for UDP/ICMP, else 0 */
    uint32_t l4_csum_off;       /* TCP/UDP/ICMP/ICMPv6 checksum; else 0 */
    uint32_t payload_off;
    uint32_t payload_len;
    uint16_t sport;             /* TCP/UDP; 0 otherwise */
    uint16_t dport;

    /* TCP only */
    uint32_t tcp_seq;
    uint32_t tcp_ack;
    uint8_t tcp_flags;          /* COLO_TCP_* */
    uint8_t tcp_n_sack;
    uint16_t tcp_win;
    uint32_t tcp_opt_off;       /* options area: l4_off + 20 */
    uint32_t tcp_opt_len;       /* doff * 4 - 20 */
    uint32_t tcp_ts_off;        /* TSval (TSecr follows at +4); 0 if none */
    uint32_t tcp_sack_off[COLO_MAX_SACK_BLOCKS]; /* left edge; right at +4 */
    uint8_t tcp_wscale;         /* window scale option; 0 if none */
    bool tcp_has_wscale;
    uint16_t tcp_mss;           /* MSS option; 0 if none */

    /* UDP only */
    uint16_t udp_len;           /* UDP length field */

    /* ICMP / ICMPv6 only */
    uint8_t icmp_type;
    uint8_t icmp_code;
    uint16_t icmp_echo_id;      /* identifier, if icmp_is_echo */
    bool icmp_is_echo;          /* echo request or reply */
} ColoPacket;

/**
 * colo_packet_parse:
 * @pkt: the parsed view to fill
 * @data: the buffer: @vnet_hdr_len bytes of virtio-net header, then an
 *        Ethernet frame
 * @size: length of @data in bytes; more than %COLO_PKT_MAX_SIZE is
 *        %COLO_PKT_ERR_TOO_LONG
 * @vnet_hdr_len: virtio-net header length to skip (0 if none)
 *
 * Parse the frame.  Never reads outside @data[0 .. @size); allocates
 * nothing.  @pkt is always fully initialised: on error, the fields filled
 * before the problem was found keep their values (for tracing) and the
 * rest are zero; only a packet with @error == %COLO_PKT_OK may be used
 * for anything else.
 *
 * Returns: %COLO_PKT_OK, or the reason the frame is malformed (also stored
 * in @pkt->error).
 */
ColoPktError colo_packet_parse(ColoPacket *pkt, const uint8_t *data,
                               size_t size, size_t vnet_hdr_len);

/**
 * colo_packet_parse_generic:
 *
 * colo_packet_parse() without its fast path for the most common frames
 * (untagged IPv4 without options or fragmentation, carrying TCP with no
 * options or NOP, NOP, timestamps).  For tests and fuzzers, which check
 * that both fill the #ColoPacket byte for byte the same.
 */
ColoPktError colo_packet_parse_generic(ColoPacket *pkt, const uint8_t *data,
                                       size_t size, size_t vnet_hdr_len);

/**
 * colo_pkt_error_name:
 * @err: a parse result
 *
 * Returns: a short, constant, stable name for @err (e.g. "ipv4-ihl"),
 * suitable for counters and trace events; "invalid" if out of range.
 */
const char *colo_pkt_error_name(ColoPktError err);

/**
 * colo_packet_payload:
 * @pkt: a parsed packet
 *
 * Returns: pointer to the L4 payload (@pkt->payload_len bytes).
 */
static inline const uint8_t *colo_packet_payload(const ColoPacket *pkt)
{
    return pkt->data + pkt->payload_off;
}

/**
 * colo_packet_is_tcp / colo_packet_is_ip:
 * @pkt: a parsed packet
 *
 * Returns: true if @pkt parsed without error and carries a TCP header,
 * respectively an IPv4 or IPv6 header.
 */
static inline bool colo_packet_is_tcp(const ColoPacket *pkt)
{
    return pkt->error == COLO_PKT_OK && pkt->l4 == COLO_L4_TCP;
}

static inline bool colo_packet_is_ip(const ColoPacket *pkt)
{
    return pkt->error == COLO_PKT_OK && pkt->l3 != COLO_L3_OTHER;
}

/**
 * colo_tcp_option_find:
 * @pkt: a parsed TCP packet
 * @kind: option kind (COLO_TCPOPT_*)
 * @off: where to store the offset of the option's kind byte
 * @len: where to store the option's total length (kind and length bytes
 *       included)
 *
 * Look for the first option of @kind in the TCP options area.  The options
 * were validated by colo_packet_parse(), so @off + @len is within the
 * header.
 *
 * Returns: true if found.
 */
bool colo_tcp_option_find(const ColoPacket *pkt, uint8_t kind,
                          size_t *off, size_t *len);

/*
 * Flow keys
 */

/**
 * ColoFamily: address family of a #ColoFlowKey.
 */
typedef enum ColoFamily {
    COLO_FAMILY_NONE = 0,       /* non-IP frame */
    COLO_FAMILY_IPV4 = 4,
    COLO_FAMILY_IPV6 = 6,
} ColoFamily;

/**
 * ColoFlowKey:
 *
 * Identifies a flow, for both IP versions.  Fixed size and without
 * implicit padding: it can be compared with memcmp() and hashed as bytes,
 * provided it was built with colo_flow_key_from_packet() or zeroed before
 * being filled by hand.
 *
 * - @src/@dst: addresses in network order; IPv4 uses the first 4 bytes and
 *   the other 12 are zero (@family tells the versions apart, so an IPv4
 *   flow never equals an IPv6 flow, even one with v4-mapped addresses).
 * - @sport/@dport: TCP/UDP ports (host order).  For ICMP and ICMPv6 echo
 *   requests and replies both hold the echo identifier; for other ICMP
 *   messages, non-first fragments and other protocols both are 0.
 * - @vlan: VLAN ids (12 bits) outermost first, @n_vlans of them; unused
 *   ones are 0.
 * - For non-IP frames @family is %COLO_FAMILY_NONE, @sport holds the
 *   ethertype and the addresses are zero: one flow per ethertype and VLAN.
 */
typedef struct ColoFlowKey {
    uint8_t src[16];
    uint8_t dst[16];
    uint16_t sport;
    uint16_t dport;
    uint16_t vlan[COLO_MAX_VLAN_TAGS];
    uint8_t family;             /* ColoFamily */
    uint8_t proto;              /* IP protocol number */
    uint8_t n_vlans;
    uint8_t pad;                /* always 0 */
} ColoFlowKey;

/**
 * colo_flow_key_from_packet:
 * @pkt: a parsed packet
 * @key: the key to fill (fully overwritten, padding zeroed)
 *
 * Build the key of @pkt as seen on the wire (source first).  Use
 * colo_flow_key_canonicalize() to get the same key for both directions.
 *
 * Returns: false (and a zeroed @key) if @pkt is malformed.
 */
bool colo_flow_key_from_packet(const ColoPacket *pkt, ColoFlowKey *key);

/**
 * colo_flow_key_canonicalize:
 * @key: the key to canonicalise in place
 *
 * Order the two endpoints so that both directions of a flow give the same
 * key: the endpoint (address, port) that compares lower comes first.
 *
 * Returns: true if the endpoints were swapped, i.e. the packet the key was
 * built from travels in the "reverse" direction of the canonical key.
 */
bool colo_flow_key_canonicalize(ColoFlowKey *key);

/**
 * colo_flow_key_reverse:
 * @key: the key to reverse in place (swap source and destination)
 */
void colo_flow_key_reverse(ColoFlowKey *key);

/**
 * colo_flow_key_equal:
 * Returns: true if @a and @b are the same key (byte comparison).
 */
bool colo_flow_key_equal(const ColoFlowKey *a, const ColoFlowKey *b);

/**
 * colo_flow_key_hash:
 * @key: a key
 * @seed: a per-table seed (use a random one against hash flooding)
 *
 * Returns: a 32-bit hash of all the bytes of @key (64x64->128-bit
 * multiply-and-fold mixing of the seeded key words).
 */
uint32_t colo_flow_key_hash(const ColoFlowKey *key, uint32_t seed);

/**
 * colo_flow_key_format:
 * @key: a key
 * @buf: output buffer
 * @len: size of @buf; COLO_FLOW_KEY_STRLEN always suffices
 *
 * Write a human-readable form of @key, e.g. "tcp 10.0.0.1:80 >
 * 10.0.0.2:1234 vlan 5", for trace events.
 *
 * Returns: @buf
 */
#define COLO_FLOW_KEY_STRLEN 128
char *colo_flow_key_format(const ColoFlowKey *key, char *buf, size_t len);

/*
 * Internet checksums (RFC 1071, RFC 1624)
 *
 * Values called "csum" below are checksum field values as 16-bit host
 * order numbers (ldw_be of the field).  A "sum" is an unfolded 32-bit
 * ones-complement accumulator.
 */

/**
 * colo_csum_add:
 * @sum: running sum (0 to start)
 * @buf: data
 * @len: its length; if odd, the last byte is padded with a zero byte, so
 *       only the last block of a sum may have an odd length
 *
 * Returns: @sum plus the 16-bit big-endian words of @buf.
 */
uint32_t colo_csum_add(uint32_t sum, const void *buf, size_t len);

/**
 * colo_csum_fold:
 * Returns: @sum folded to 16 bits (ones-complement; not inverted).
 */
uint16_t colo_csum_fold(uint32_t sum);

/**
 * colo_csum_finish:
 * Returns: the checksum field value for @sum, i.e. ~colo_csum_fold(@sum).
 */
uint16_t colo_csum_finish(uint32_t sum);

/**
 * colo_csum_pseudo:
 * @pkt: a parsed IPv4 or IPv6 packet
 * @proto: upper-layer protocol for the pseudo header
 * @l4_len: upper-layer length for the pseudo header
 *
 * Returns: the unfolded sum of the IPv4 or IPv6 pseudo header built from
 * the addresses of @pkt; 0 for non-IP packets.
 */
uint32_t colo_csum_pseudo(const ColoPacket *pkt, uint8_t proto,
                          uint32_t l4_len);

/**
 * colo_l4_csum_compute:
 * @pkt: a parsed, unfragmented TCP, UDP, ICMP or ICMPv6 packet
 * @csum: where to store the computed checksum field value
 *
 * Compute from scratch the checksum the L4 header of @pkt should carry
 * (over the pseudo header where one applies, the L4 header with its
 * checksum field taken as zero, and the payload up to @pkt->l3_end).
 * A UDP result of 0 is returned as 0xffff.
 *
 * Returns: false if @pkt has no checksummable L4 header or is a fragment.
 */
bool colo_l4_csum_compute(const ColoPacket *pkt, uint16_t *csum);

/**
 * colo_l4_csum_verify:
 * @pkt: a parsed packet
 *
 * Returns: true if the L4 checksum in @pkt is right (an IPv4 UDP checksum
 * of 0, meaning "none", counts as right); false if wrong or if
 * colo_l4_csum_compute() cannot compute it.
 */
bool colo_l4_csum_verify(const ColoPacket *pkt);

/**
 * colo_ipv4_csum_compute / colo_ipv4_csum_verify:
 * @pkt: a parsed IPv4 packet
 *
 * Compute the IPv4 header checksum field value (options included, field
 * taken as zero), or check the one in the header.  Return 0 / false for
 * non-IPv4 packets.
 */
uint16_t colo_ipv4_csum_compute(const ColoPacket *pkt);
bool colo_ipv4_csum_verify(const ColoPacket *pkt);

/**
 * colo_csum_replace16:
 * @csum: current checksum field value
 * @old_val: old value of a 16-bit field covered by the checksum
 * @new_val: its new value
 *
 * RFC 1624 incremental update (eqn. 3).  Fields must be 16-bit aligned
 * relative to the start of the checksummed data (true for every header
 * field the rewriter patches).
 *
 * Returns: the new checksum field value.
 */
uint16_t colo_csum_replace16(uint16_t csum, uint16_t old_val,
                             uint16_t new_val);

/**
 * colo_csum_replace32:
 * Same as colo_csum_replace16() for a 32-bit field (e.g. TCP seq/ack,
 * SACK edges, an IPv4 address in the pseudo header).
 */
uint16_t colo_csum_replace32(uint16_t csum, uint32_t old_val,
                             uint32_t new_val);

/**
 * colo_packet_patch16 / colo_packet_patch32:
 * @buf: writable copy of the buffer @pkt was parsed from (same layout)
 * @pkt: the parsed packet
 * @off: offset of a 16 / 32-bit big-endian field inside the L4 header or
 *       payload of @pkt (e.g. @pkt->l4_off + 4 for the TCP sequence
 *       number, @pkt->tcp_sack_off[i])
 * @val: new value, host order
 *
 * Store @val at @off and update the L4 checksum of @pkt incrementally.
 * A UDP-over-IPv4 checksum of 0 ("none") is left at 0 and a UDP result
 * of 0 is stored as 0xffff.  No checksum is touched for packets without
 * one (or for fragments other than the first), and none when the
 * virtio-net header says the checksum is still to be computed
 * (VIRTIO_NET_HDR_F_NEEDS_CSUM): the device computes it from the data.
 *
 * Returns: false (and nothing written) if the field is not entirely
 * within [@pkt->l4_off, @pkt->payload_off + @pkt->payload_len), overlaps
 * the checksum field, or @pkt is malformed or not IP.
 */
bool colo_packet_patch16(uint8_t *buf, const ColoPacket *pkt, size_t off,
                         uint16_t val);
bool colo_packet_patch32(uint8_t *buf, const ColoPacket *pkt, size_t off,
                         uint32_t val);

/** COLO_VNET_HDR_F_NEEDS_CSUM: virtio-net header flag, checksum pending */
#define COLO_VNET_HDR_F_NEEDS_CSUM 1

#endif /* NET_COLO_H */
