/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the COLO proxy packet layer and connection table
 * (net/colo.c, net/colo-conn.c).
 *
 * Input: one control byte, then the frame(s).
 *   bits 0-1  virtio-net header length: 0, 10, 12, 0
 *   bit  2    0: the rest is one frame;
 *             1: the rest is a sequence of [16-bit BE length][frame]
 *             records, all fed to one small connection table
 *   bits 3-7  time step between frames, in 10 ms units
 *
 * Every frame is parsed, with and without the parser's fast path for
 * common IPv4/TCP frames, which must give the same result byte for byte.
 * A parsed frame has its bounds checked, every byte it claims readable
 * read, its key built and canonicalised, goes through a 4-entry
 * connection table (pinning some entries), and through the checksum
 * helpers; patching a field of a correctly checksummed packet must leave
 * it correctly checksummed.  Any violated invariant aborts.
 *
 * Build and run: make fuzz FUZZ_TARGET=packet FUZZ_RUNS=N (clang
 * libFuzzer); make check replays the corpus in corpus/packet/ under
 * ASan/UBSan.  Corpus generator: gen-packet-corpus.py.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "net/colo.h"
#include "net/colo-conn.h"
#include "colo-fuzz.h"

#define FUZZ_MAX_FRAMES 16

#define CHECK(cond) do { if (!(cond)) { abort(); } } while (0)

/* volatile: keeps the reads done only for ASan from being optimised out */
static volatile uint32_t sink;

static void check_bounds(const ColoPacket *p)
{
    int i;

    CHECK(p->l2_off == p->vnet_hdr_len);
    CHECK(p->l2_off <= p->l3_off);
    CHECK(p->l3_off <= p->l4_off);
    CHECK(p->l4_off + p->l4_hdr_len == p->payload_off);
    CHECK(p->payload_off + p->payload_len <= p->l3_end);
    CHECK(p->l3_end <= p->size);
    CHECK(p->n_vlans <= COLO_MAX_VLAN_TAGS);
    CHECK(p->tcp_n_sack <= COLO_MAX_SACK_BLOCKS);
    CHECK(p->ipv6_n_ext <= COLO_MAX_IPV6_EXT_HDRS);
    for (i = 0; i < p->tcp_n_sack; i++) {
        CHECK(p->tcp_sack_off[i] >= p->tcp_opt_off);
        CHECK(p->tcp_sack_off[i] + 8 <= p->tcp_opt_off + p->tcp_opt_len);
    }
    if (p->tcp_ts_off) {
        CHECK(p->tcp_ts_off + 8 <= p->tcp_opt_off + p->tcp_opt_len);
    }
    if (p->l3 != COLO_L3_OTHER) {
        CHECK(p->ip_src_off + p->ip_addr_len <= p->l4_off);
        CHECK(p->ip_dst_off + p->ip_addr_len <= p->l4_off);
        CHECK(p->ip_ttl_off < p->l4_off);
        CHECK(!p->ip_id_off || p->ip_id_off + 2 <= p->l4_off);
    }
    if (p->l4_csum_off) {
        CHECK(p->l4_csum_off + 2 <= p->payload_off);
    }
}

/* Read every byte the packet claims is readable (ASan checks). */
static void touch(const ColoPacket *p)
{
    uint32_t s = 0;
    size_t i;

    for (i = p->l2_off; i < p->l3_end; i++) {
        s += p->data[i];
    }
    s += colo_csum_add(0, colo_packet_payload(p), p->payload_len);
    sink = s;
}

static void check_key(const ColoPacket *p)
{
    ColoFlowKey k, r;
    char buf[COLO_FLOW_KEY_STRLEN];
    bool swapped;

    CHECK(colo_flow_key_from_packet(p, &k));
    CHECK(k.pad == 0);
    r = k;
    colo_flow_key_reverse(&r);
    swapped = colo_flow_key_canonicalize(&k);
    colo_flow_key_canonicalize(&r);
    CHECK(colo_flow_key_equal(&k, &r));
    CHECK(colo_flow_key_hash(&k, 1) == colo_flow_key_hash(&r, 1));
    colo_flow_key_format(&k, buf, sizeof(buf));
    CHECK(strlen(buf) < sizeof(buf));
    sink = swapped;
}

static void check_options(const ColoPacket *p)
{
    static const uint8_t kinds[] = {
        COLO_TCPOPT_MSS, COLO_TCPOPT_WSCALE, COLO_TCPOPT_SACK,
        COLO_TCPOPT_TIMESTAMP, 99,
    };
    size_t off, len;
    int i;

    for (i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (colo_tcp_option_find(p, kinds[i], &off, &len)) {
            CHECK(off >= p->tcp_opt_off && len >= 2);
            CHECK(off + len <= p->tcp_opt_off + p->tcp_opt_len);
            CHECK(p->data[off] == kinds[i]);
        }
    }
}

/*
 * Patch 32-bit fields the rewriter patches (seq, ack, SACK edges) and an
 * odd-aligned payload field; a correct checksum must stay correct.
 */
static void check_patch(const ColoPacket *p)
{
    g_autofree uint8_t *copy = g_memdup2(p->data, p->size);
    bool valid = colo_l4_csum_verify(p) &&
                 !(p->vnet_flags & COLO_VNET_HDR_F_NEEDS_CSUM);
    ColoPacket q;
    int i;

    if (p->l4 == COLO_L4_TCP) {
        CHECK(colo_packet_patch32(copy, p, p->l4_off + 4, 0x12345678));
        CHECK(colo_packet_patch32(copy, p, p->l4_off + 8, 0x9abcdef0));
        for (i = 0; i < p->tcp_n_sack; i++) {
            CHECK(colo_packet_patch32(copy, p, p->tcp_sack_off[i], i));
        }
    }
    if (p->payload_len >= 3) {
        CHECK(colo_packet_patch16(copy, p, p->payload_off + 1, 0xa5a5));
    }
    CHECK(!colo_packet_patch16(copy, p, p->l3_end, 0));
    CHECK(colo_packet_parse(&q, copy, p->size, p->vnet_hdr_len) ==
          COLO_PKT_OK);
    if (valid) {
        /* UDP over IPv4 without checksum stays so: verify still true */
        CHECK(colo_l4_csum_verify(&q));
    }
}

/* Equal as ones-complement numbers (0x0000 and 0xffff are both zero). */
static bool csum_same(uint16_t a, uint16_t b)
{
    return a == b || ((uint16_t)(a + 1) <= 1 && (uint16_t)(b + 1) <= 1);
}

/* colo_packet_patch32() agrees with colo_csum_replace32() on TCP seq. */
static void check_replace(const ColoPacket *p)
{
    g_autofree uint8_t *copy = NULL;
    uint16_t csum;
    uint32_t seq;

    if (p->l4 != COLO_L4_TCP || p->frag_off ||
        (p->vnet_flags & COLO_VNET_HDR_F_NEEDS_CSUM)) {
        return;
    }
    copy = g_memdup2(p->data, p->size);
    csum = lduw_be_p(copy + p->l4_csum_off);
    seq = ldl_be_p(copy + p->l4_off + 4);
    CHECK(colo_packet_patch32(copy, p, p->l4_off + 4, ~seq));
    CHECK(csum_same(lduw_be_p(copy + p->l4_csum_off),
                    colo_csum_replace32(csum, seq, ~seq)));
    CHECK(colo_packet_patch16(copy, p, p->l4_off, 0x5a5a));
    CHECK(colo_packet_patch16(copy, p, p->l4_off, p->sport));
    CHECK(colo_packet_patch32(copy, p, p->l4_off + 4, seq));
    CHECK(csum_same(lduw_be_p(copy + p->l4_csum_off), csum));
    CHECK(csum_same(colo_csum_replace16(colo_csum_replace16(csum, 1, 2),
                                        2, 1), csum));
}

static void check_csum(const ColoPacket *p)
{
    uint16_t c;

    if (colo_l4_csum_compute(p, &c)) {
        uint16_t field = lduw_be_p(p->data + p->l4_csum_off);
        bool ok = colo_l4_csum_verify(p);

        if (c == field) {
            CHECK(ok);
        }
    }
    if (p->l3 == COLO_L3_IPV4) {
        c = colo_ipv4_csum_compute(p);
        if (c == lduw_be_p(p->data + p->ip_csum_off)) {
            CHECK(colo_ipv4_csum_verify(p));
        }
    }
    sink = colo_csum_pseudo(p, p->ip_proto, p->l3_end - p->l4_off);
}

static void one_frame(ColoConnTable *t, const uint8_t *data, size_t size,
                      size_t vnet, int64_t now, unsigned n)
{
    ColoPktError err;
    ColoPacket p, ref;
    ColoConn *c;
    ColoDir dir;

    err = colo_packet_parse(&p, data, size, vnet);
    CHECK(err == p.error);
    /* the fast path for common IPv4/TCP frames changes nothing */
    CHECK(colo_packet_parse_generic(&ref, data, size, vnet) == err);
    CHECK(memcmp(&p, &ref, sizeof(p)) == 0);
    CHECK(strcmp(colo_pkt_error_name(err), "invalid") != 0);
    if (err != COLO_PKT_OK) {
        CHECK(colo_conn_get(t, &p, now, &c, &dir) == COLO_CONN_INVALID);
        return;
    }
    check_bounds(&p);
    touch(&p);
    check_key(&p);
    check_options(&p);
    check_csum(&p);
    if (colo_packet_is_ip(&p)) {
        check_patch(&p);
        check_replace(&p);
    }

    switch (colo_conn_get(t, &p, now, &c, &dir)) {
    case COLO_CONN_FOUND:
    case COLO_CONN_CREATED:
        CHECK(c);
        CHECK(colo_conn_lookup(t, colo_conn_key(c)) == c);
        CHECK(colo_conn_from_priv(colo_conn_priv(c)) == c);
        CHECK(!(colo_conn_last_events(c) &
                ~(COLO_CONN_EV_CLOSED | COLO_CONN_EV_REOPENED)));
        *(uint32_t *)colo_conn_priv(c) += 1;
        if (n % 3 == 0 && colo_conn_pin_count(c) < 2) {
            colo_conn_pin(t, c);
        } else if (colo_conn_pin_count(c) && n % 3 == 1) {
            colo_conn_unpin(t, c);
        }
        if (p.payload_len && p.data[p.payload_off] == 0xde) {
            colo_conn_remove(t, c);
        }
        break;
    case COLO_CONN_FULL:
        CHECK(!c);
        CHECK(colo_conn_count(t) == colo_conn_max(t));
        break;
    default:
        abort();
    }
    CHECK(colo_conn_count(t) <= colo_conn_max(t));
}

static int destroyed;

static void on_init(ColoConn *conn, void *opaque)
{
    CHECK(*(uint32_t *)colo_conn_priv(conn) == 0);
}

static void on_destroy(ColoConn *conn, void *opaque)
{
    destroyed++;
}

static bool count_one(ColoConn *conn, void *opaque)
{
    (*(uint32_t *)opaque)++;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t vnet_lens[4] = { 0, 10, 12, 0 };
    ColoConnTableConfig cfg = {
        .max_entries = 4,
        .priv_size = sizeof(uint32_t),
        .idle_timeout_ns = 1000 * 1000 * 1000,
        .closed_linger_ns = 50 * 1000 * 1000,
        .init = on_init,
        .destroy = on_destroy,
    };
    ColoConnTable *t;
    int64_t now = 0, step;
    size_t vnet;
    unsigned n = 0;
    uint32_t created, counted = 0;

    if (size < 1) {
        return 0;
    }
    vnet = vnet_lens[data[0] & 3];
    step = (int64_t)(data[0] >> 3) * 10 * 1000 * 1000;
    t = colo_conn_table_new(&cfg);
    destroyed = 0;

    if (!(data[0] & 4)) {
        one_frame(t, data + 1, size - 1, vnet, now, n);
    } else {
        size_t pos = 1;

        while (pos + 2 <= size && n < FUZZ_MAX_FRAMES) {
            size_t len = MIN(lduw_be_p(data + pos), size - pos - 2);

            one_frame(t, data + pos + 2, len, vnet, now, n++);
            pos += 2 + len;
            now += step;
            colo_conn_expire(t, now);
        }
    }
    colo_conn_foreach(t, count_one, &counted);
    CHECK(counted == colo_conn_count(t));
    created = colo_conn_stats(t)->created;
    colo_conn_table_free(t);
    CHECK(destroyed == created);
    return 0;
}
