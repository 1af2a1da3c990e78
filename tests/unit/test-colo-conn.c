/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the COLO proxy connection table (net/colo-conn.c):
 * lookup in both directions, the entry bound with LRU eviction and with
 * pinned entries, TCP-driven expiry, idle expiry, iteration, scale.
 */

#include "qemu/osdep.h"
#include "net/colo-conn.h"

#define MS(x) ((int64_t)(x) * 1000000)

/*
 * Minimal frame builder: Ethernet + IPv4/IPv6 + TCP/UDP, no checksums
 * (the table does not look at them).
 */

typedef struct Frame {
    uint8_t b[128];
    size_t len;
    ColoPacket pkt;
} Frame;

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

/* Endpoint: host @h (IPv4 10.0.x.y, IPv6 fd00::x:y), port @port. */
static void frame_build(Frame *f, bool v6, uint8_t proto, uint32_t src,
                        uint16_t sport, uint32_t dst, uint16_t dport,
                        uint8_t flags, uint32_t seq, uint32_t ack,
                        size_t payload)
{
    uint8_t *ip = f->b + 14;
    uint8_t *l4;
    size_t l4len = (proto == COLO_IPPROTO_TCP ? 20 : 8) + payload;

    memset(f, 0, sizeof(*f));
    put16(f->b + 12, v6 ? COLO_ETH_P_IPV6 : COLO_ETH_P_IPV4);
    if (v6) {
        ip[0] = 0x60;
        put16(ip + 4, l4len);
        ip[6] = proto;
        ip[7] = 64;
        ip[8] = 0xfd;
        put32(ip + 20, src);
        ip[24] = 0xfd;
        put32(ip + 36, dst);
        l4 = ip + 40;
    } else {
        ip[0] = 0x45;
        put16(ip + 2, 20 + l4len);
        ip[8] = 64;
        ip[9] = proto;
        put32(ip + 12, 0x0a000000 | src);
        put32(ip + 16, 0x0a000000 | dst);
        l4 = ip + 20;
    }
    put16(l4, sport);
    put16(l4 + 2, dport);
    if (proto == COLO_IPPROTO_TCP) {
        put32(l4 + 4, seq);
        put32(l4 + 8, ack);
        l4[12] = 0x50;
        l4[13] = flags;
    } else {
        put16(l4 + 4, l4len);
    }
    f->len = l4 - f->b + l4len;
    g_assert_cmpint(colo_packet_parse(&f->pkt, f->b, f->len, 0), ==,
                    COLO_PKT_OK);
}

static void tcp_frame(Frame *f, uint32_t src, uint16_t sport, uint32_t dst,
                      uint16_t dport, uint8_t flags, uint32_t seq,
                      uint32_t ack)
{
    frame_build(f, false, COLO_IPPROTO_TCP, src, sport, dst, dport, flags,
                seq, ack, 0);
}

/*
 * Test user: counts init/destroy calls and records the last destroyed key.
 */

typedef struct Priv {
    uint32_t magic;
    uint32_t id;
    uint8_t blob[40];
} Priv;

typedef struct User {
    int inits;
    int destroys;
    uint32_t last_destroyed_id;
} User;

static void user_init(ColoConn *conn, void *opaque)
{
    User *u = opaque;
    Priv *p = colo_conn_priv(conn);
    int i;

    for (i = 0; i < sizeof(p->blob); i++) {
        g_assert_cmpuint(p->blob[i], ==, 0);
    }
    g_assert_cmpuint(p->magic, ==, 0);
    p->magic = 0x600d;
    u->inits++;
}

static void user_destroy(ColoConn *conn, void *opaque)
{
    User *u = opaque;
    Priv *p = colo_conn_priv(conn);

    g_assert_cmpuint(p->magic, ==, 0x600d);
    u->destroys++;
    u->last_destroyed_id = p->id;
    p->magic = 0;
}

static ColoConnTable *table_new(User *u, uint32_t max)
{
    ColoConnTableConfig cfg = {
        .max_entries = max,
        .priv_size = sizeof(Priv),
        .idle_timeout_ns = MS(1000),
        .closed_linger_ns = MS(100),
        .hash_seed = 0x5eed,
        .init = user_init,
        .destroy = user_destroy,
        .opaque = u,
    };

    memset(u, 0, sizeof(*u));
    return colo_conn_table_new(&cfg);
}

/* Create the entry for TCP flow number @id (10.0.0.1:id > 10.0.0.2:80). */
static ColoConn *flow(ColoConnTable *t, uint32_t id, int64_t now,
                      ColoConnResult want)
{
    ColoConn *c = NULL;
    Frame f;

    tcp_frame(&f, 1, id, 2, 80, COLO_TCP_ACK, 1, 1);
    g_assert_cmpint(colo_conn_get(t, &f.pkt, now, &c, NULL), ==, want);
    if (want == COLO_CONN_CREATED) {
        ((Priv *)colo_conn_priv(c))->id = id;
    }
    if (want == COLO_CONN_FULL) {
        g_assert_null(c);
    } else {
        g_assert_nonnull(c);
        g_assert_cmpuint(((Priv *)colo_conn_priv(c))->id, ==, id);
    }
    return c;
}

static ColoConn *find_flow(ColoConnTable *t, uint32_t id)
{
    ColoFlowKey key;
    Frame f;

    tcp_frame(&f, 1, id, 2, 80, COLO_TCP_ACK, 1, 1);
    g_assert_true(colo_flow_key_from_packet(&f.pkt, &key));
    colo_flow_key_canonicalize(&key);
    return colo_conn_lookup(t, &key);
}

/*
 * Tests
 */

static void test_both_directions(void)
{
    ColoConn *c1, *c2, *c3;
    ColoDir d1, d2;
    ColoConnTable *t;
    Frame f;
    User u;
    int v6;

    for (v6 = 0; v6 < 2; v6++) {
        t = table_new(&u, 16);
        frame_build(&f, v6, COLO_IPPROTO_TCP, 9, 40000, 3, 80,
                    COLO_TCP_SYN, 100, 0, 0);
        g_assert_cmpint(colo_conn_get(t, &f.pkt, 0, &c1, &d1), ==,
                        COLO_CONN_CREATED);
        g_assert_cmpint(u.inits, ==, 1);
        g_assert_cmpuint(colo_conn_count(t), ==, 1);
        g_assert_cmpint(colo_conn_initiator(c1), ==, d1);

        frame_build(&f, v6, COLO_IPPROTO_TCP, 3, 80, 9, 40000,
                    COLO_TCP_SYN | COLO_TCP_ACK, 500, 101, 0);
        g_assert_cmpint(colo_conn_get(t, &f.pkt, 1, &c2, &d2), ==,
                        COLO_CONN_FOUND);
        g_assert(c1 == c2);
        g_assert_cmpint(d1, !=, d2);
        g_assert_cmpint(colo_conn_initiator(c1), ==, d1);
        g_assert_true(colo_conn_tcp_state(c1)->syn_seen[d1]);
        g_assert_true(colo_conn_tcp_state(c1)->syn_seen[d2]);
        g_assert_cmpuint(colo_conn_count(t), ==, 1);

        /* the key is canonical: src <= dst */
        g_assert_cmpint(memcmp(colo_conn_key(c1)->src,
                               colo_conn_key(c1)->dst, 16), <, 0);
        g_assert_cmpuint(colo_conn_key(c1)->family, ==,
                         v6 ? COLO_FAMILY_IPV6 : COLO_FAMILY_IPV4);

        /* lookup by key, and the private area round trip */
        g_assert(colo_conn_lookup(t, colo_conn_key(c1)) == c1);
        g_assert(colo_conn_from_priv(colo_conn_priv(c1)) == c1);
        g_assert_cmpuint((uintptr_t)colo_conn_priv(c1) %
                         __alignof__(max_align_t), ==, 0);

        /* UDP between the same endpoints is another flow */
        frame_build(&f, v6, COLO_IPPROTO_UDP, 9, 40000, 3, 80, 0, 0, 0, 4);
        g_assert_cmpint(colo_conn_get(t, &f.pkt, 2, &c3, NULL), ==,
                        COLO_CONN_CREATED);
        g_assert(c3 != c1);
        g_assert_cmpuint(colo_conn_count(t), ==, 2);
        g_assert_cmpuint(colo_conn_stats(t)->created, ==, 2);

        colo_conn_table_free(t);
        g_assert_cmpint(u.destroys, ==, 2);
    }
}

static void test_invalid(void)
{
    ColoConnTable *t;
    ColoPacket p;
    static int dummy;
    ColoConn *c = (ColoConn *)&dummy;
    uint8_t junk[10] = { 0 };
    User u;

    t = table_new(&u, 4);
    g_assert_cmpint(colo_packet_parse(&p, junk, sizeof(junk), 0), !=,
                    COLO_PKT_OK);
    g_assert_cmpint(colo_conn_get(t, &p, 0, &c, NULL), ==,
                    COLO_CONN_INVALID);
    g_assert_null(c);
    g_assert_cmpuint(colo_conn_count(t), ==, 0);
    colo_conn_table_free(t);
}

static void test_lru_eviction(void)
{
    ColoConnTable *t;
    ColoConn *c;
    User u;
    int i;

    t = table_new(&u, 4);
    for (i = 0; i < 4; i++) {
        flow(t, i, MS(i), COLO_CONN_CREATED);
    }
    /* touch flow 0: flow 1 is now the least recently used */
    flow(t, 0, MS(10), COLO_CONN_FOUND);
    flow(t, 100, MS(11), COLO_CONN_CREATED);
    g_assert_cmpint(u.destroys, ==, 1);
    g_assert_cmpuint(u.last_destroyed_id, ==, 1);
    g_assert_null(find_flow(t, 1));
    g_assert_nonnull(find_flow(t, 0));
    g_assert_cmpuint(colo_conn_count(t), ==, 4);
    g_assert_cmpuint(colo_conn_stats(t)->evicted, ==, 1);

    /* colo_conn_lookup() does not refresh: flow 2 goes next */
    g_assert_nonnull(find_flow(t, 2));
    flow(t, 101, MS(12), COLO_CONN_CREATED);
    g_assert_cmpuint(u.last_destroyed_id, ==, 2);

    /* a pinned LRU entry is skipped: 3 is pinned, 0 goes */
    c = find_flow(t, 3);
    colo_conn_pin(t, c);
    flow(t, 102, MS(13), COLO_CONN_CREATED);
    g_assert_cmpuint(u.last_destroyed_id, ==, 0);
    g_assert(find_flow(t, 3) == c);
    colo_conn_unpin(t, c);

    colo_conn_table_free(t);
    g_assert_cmpint(u.destroys, ==, u.inits);
}

/*
 * Activity does not reorder the idle list (CLOCK): an entry active since
 * it was queued gets a second chance at the head, a pinned entry is
 * taken off the list there and comes back at the tail when unpinned, and
 * expiry goes by the last activity, not by the list position.
 */
static void test_second_chance(void)
{
    ColoConnTable *t;
    ColoConn *c[4];
    User u;
    int i;

    t = table_new(&u, 4);
    for (i = 0; i < 4; i++) {
        c[i] = flow(t, i, MS(i), COLO_CONN_CREATED);
    }
    /* 0 and 1 active again, 2 pinned: 3 is the one idle the longest */
    flow(t, 0, MS(10), COLO_CONN_FOUND);
    colo_conn_touch(t, c[1], MS(11));
    colo_conn_pin(t, c[2]);
    flow(t, 100, MS(12), COLO_CONN_CREATED);
    g_assert_cmpuint(u.last_destroyed_id, ==, 3);
    /* the walk moved 0 and 1 to the tail behind 100: 0 goes next... */
    flow(t, 101, MS(13), COLO_CONN_CREATED);
    g_assert_cmpuint(u.last_destroyed_id, ==, 0);
    /* ...unless it has been active since; 2 is still pinned */
    colo_conn_touch(t, c[1], MS(14));
    flow(t, 102, MS(15), COLO_CONN_CREATED);
    g_assert_cmpuint(u.last_destroyed_id, ==, 100);
    g_assert(find_flow(t, 2) == c[2]);
    g_assert(find_flow(t, 1) == c[1]);

    /* unpinned, 2 is at the tail and active at 20 ms */
    colo_conn_unpin(t, c[2]);
    g_assert_cmpuint(colo_conn_last_seen(c[2]), ==, MS(15));
    colo_conn_touch(t, c[2], MS(20));
    flow(t, 103, MS(21), COLO_CONN_CREATED);
    g_assert_cmpuint(u.last_destroyed_id, ==, 101);
    flow(t, 104, MS(22), COLO_CONN_CREATED);
    g_assert_cmpuint(u.last_destroyed_id, ==, 1);
    g_assert(find_flow(t, 2) == c[2]);
    g_assert_cmpuint(colo_conn_count(t), ==, 4);

    /*
     * Expiry (idle 1000 ms) by last activity: 102 (15 ms), 2 (20 ms),
     * 103 (21 ms) and 104 (22 ms) are left; 102 is active again at
     * 500 ms, after 2, 103 and 104 were queued.
     */
    flow(t, 102, MS(500), COLO_CONN_FOUND);
    g_assert_cmpuint(colo_conn_expire(t, MS(1021)), ==, 2);
    g_assert_nonnull(find_flow(t, 102));
    g_assert_nonnull(find_flow(t, 104));
    g_assert_cmpuint(colo_conn_expire(t, MS(1022)), ==, 1);
    g_assert_cmpuint(colo_conn_expire(t, MS(1499)), ==, 0);
    g_assert_cmpuint(colo_conn_expire(t, MS(1500)), ==, 1);
    g_assert_cmpuint(colo_conn_count(t), ==, 0);

    colo_conn_table_free(t);
    g_assert_cmpint(u.destroys, ==, u.inits);
}

static void test_closed_evicted_first(void)
{
    ColoConnTable *t;
    ColoConn *c;
    Frame f;
    User u;
    int i;

    t = table_new(&u, 3);
    for (i = 0; i < 3; i++) {
        flow(t, i, MS(i), COLO_CONN_CREATED);
    }
    /* RST on the most recent flow: closed entries go before idle ones */
    tcp_frame(&f, 2, 80, 1, 2, COLO_TCP_RST, 1, 0);
    g_assert_cmpint(colo_conn_get(t, &f.pkt, MS(5), &c, NULL), ==,
                    COLO_CONN_FOUND);
    g_assert_true(colo_conn_is_closed(c));
    flow(t, 50, MS(6), COLO_CONN_CREATED);
    g_assert_cmpuint(u.last_destroyed_id, ==, 2);
    g_assert_nonnull(find_flow(t, 0));
    colo_conn_table_free(t);
}

static void test_full_all_pinned(void)
{
    ColoConn *c[4];
    ColoConnTable *t;
    User u;
    int i;

    t = table_new(&u, 4);
    for (i = 0; i < 4; i++) {
        c[i] = flow(t, i, MS(i), COLO_CONN_CREATED);
        colo_conn_pin(t, c[i]);
    }
    colo_conn_pin(t, c[2]);             /* nested */
    g_assert_cmpuint(colo_conn_pin_count(c[2]), ==, 2);

    flow(t, 99, MS(10), COLO_CONN_FULL);
    flow(t, 98, MS(11), COLO_CONN_FULL);
    g_assert_cmpint(u.destroys, ==, 0);
    g_assert_cmpuint(colo_conn_count(t), ==, 4);
    g_assert_cmpuint(colo_conn_stats(t)->full, ==, 2);
    for (i = 0; i < 4; i++) {
        g_assert(find_flow(t, i) == c[i]);
    }
    /* existing flows are still found when full */
    g_assert(flow(t, 1, MS(12), COLO_CONN_FOUND) == c[1]);

    /* nothing expires while pinned, however old */
    g_assert_cmpuint(colo_conn_expire(t, MS(100000)), ==, 0);
    g_assert_cmpuint(colo_conn_count(t), ==, 4);

    /* still pinned once: still full */
    colo_conn_unpin(t, c[2]);
    flow(t, 99, MS(100001), COLO_CONN_FULL);
    /* unpinned: evictable */
    colo_conn_unpin(t, c[2]);
    flow(t, 99, MS(100002), COLO_CONN_CREATED);
    g_assert_cmpint(u.destroys, ==, 1);
    g_assert_cmpuint(u.last_destroyed_id, ==, 2);

    colo_conn_table_free(t);
    g_assert_cmpint(u.destroys, ==, 5);
}

/* Drive a flow from handshake to close; returns its entry. */
static ColoConn *handshake(ColoConnTable *t, int64_t now)
{
    ColoConn *c;
    Frame f;

    tcp_frame(&f, 1, 5000, 2, 80, COLO_TCP_SYN, 1000, 0);
    g_assert_cmpint(colo_conn_get(t, &f.pkt, now, &c, NULL), ==,
                    COLO_CONN_CREATED);
    tcp_frame(&f, 2, 80, 1, 5000, COLO_TCP_SYN | COLO_TCP_ACK, 9000, 1001);
    colo_conn_get(t, &f.pkt, now, &c, NULL);
    tcp_frame(&f, 1, 5000, 2, 80, COLO_TCP_ACK, 1001, 9001);
    colo_conn_get(t, &f.pkt, now, &c, NULL);
    g_assert_false(colo_conn_is_closed(c));
    return c;
}

static unsigned tcp_send(ColoConnTable *t, bool from_client, uint8_t flags,
                     uint32_t seq, uint32_t ack, size_t payload,
                     int64_t now)
{
    ColoConn *c;
    ColoDir d;
    Frame f;

    if (from_client) {
        frame_build(&f, false, COLO_IPPROTO_TCP, 1, 5000, 2, 80, flags,
                    seq, ack, payload);
    } else {
        frame_build(&f, false, COLO_IPPROTO_TCP, 2, 80, 1, 5000, flags,
                    seq, ack, payload);
    }
    g_assert_cmpint(colo_conn_get(t, &f.pkt, now, &c, &d), ==,
                    COLO_CONN_FOUND);
    return colo_conn_last_events(c);
}

static void test_fin_both_ways(void)
{
    ColoConnTable *t;
    ColoConn *c;
    User u;

    t = table_new(&u, 8);
    c = handshake(t, 0);
    /* client sends 10 bytes + FIN: FIN has sequence 1011 */
    tcp_send(t, true, COLO_TCP_FIN | COLO_TCP_ACK, 1001, 9001, 10, MS(1));
    g_assert_false(colo_conn_is_closed(c));
    /* server acks only the data: FIN not acked yet */
    tcp_send(t, false, COLO_TCP_ACK, 9001, 1011, 0, MS(2));
    g_assert_false(colo_conn_tcp_state(c)->fin_acked[COLO_DIR_FWD] ||
                   colo_conn_tcp_state(c)->fin_acked[COLO_DIR_REV]);
    /* server acks the FIN and sends its own */
    tcp_send(t, false, COLO_TCP_FIN | COLO_TCP_ACK, 9001, 1012, 0, MS(3));
    g_assert_false(colo_conn_is_closed(c));
    /* last ACK from the client closes the flow */
    g_assert_cmpuint(tcp_send(t, true, COLO_TCP_ACK, 1012, 9002, 0, MS(4)) &
                     COLO_CONN_EV_CLOSED, !=, 0);
    g_assert_true(colo_conn_is_closed(c));

    /* lingers, then expires */
    g_assert_cmpuint(colo_conn_expire(t, MS(50)), ==, 0);
    g_assert_nonnull(find_flow(t, 5000));
    g_assert_cmpuint(colo_conn_expire(t, MS(104)), ==, 1);
    g_assert_null(find_flow(t, 5000));
    g_assert_cmpint(u.destroys, ==, 1);
    g_assert_cmpuint(colo_conn_stats(t)->expired_closed, ==, 1);
    colo_conn_table_free(t);
}

static void test_fin_wraparound(void)
{
    ColoConnTable *t;
    ColoConn *c;
    Frame f;
    User u;

    /* sequence numbers wrapping around 2^32 */
    t = table_new(&u, 8);
    tcp_frame(&f, 1, 5000, 2, 80, COLO_TCP_ACK, 1, 1);
    colo_conn_get(t, &f.pkt, 0, &c, NULL);
    tcp_send(t, true, COLO_TCP_FIN | COLO_TCP_ACK, 0xfffffff0, 7, 15, 1);
    tcp_send(t, false, COLO_TCP_FIN | COLO_TCP_ACK, 7, 0xffffffff, 0, 2);
    /* 0xffffffff is before the client's FIN (0xffffffff + 1 == 0) */
    g_assert_false(colo_conn_tcp_state(c)->fin_acked[colo_conn_initiator(c)]);
    g_assert_false(colo_conn_is_closed(c));
    tcp_send(t, false, COLO_TCP_ACK, 8, 0, 0, 3);
    tcp_send(t, true, COLO_TCP_ACK, 0, 8, 0, 4);
    g_assert_true(colo_conn_is_closed(c));
    colo_conn_table_free(t);
}

static void test_syn_fin(void)
{
    const ColoConnTcpState *st;
    ColoConnTable *t;
    ColoConn *c;
    Frame f;
    User u;

    /* SYN and FIN in one segment: the FIN is at seq + 1 */
    t = table_new(&u, 8);
    tcp_frame(&f, 1, 5000, 2, 80, COLO_TCP_SYN | COLO_TCP_FIN, 100, 0);
    colo_conn_get(t, &f.pkt, 0, &c, NULL);
    st = colo_conn_tcp_state(c);
    g_assert_true(st->fin_seen[colo_conn_initiator(c)]);
    g_assert_cmpuint(st->fin_seq[colo_conn_initiator(c)], ==, 101);
    tcp_send(t, false, COLO_TCP_ACK, 7, 101, 0, 1);
    g_assert_false(st->fin_acked[colo_conn_initiator(c)]);
    tcp_send(t, false, COLO_TCP_ACK, 7, 102, 0, 2);
    g_assert_true(st->fin_acked[colo_conn_initiator(c)]);
    colo_conn_table_free(t);
}

static void test_rst(void)
{
    ColoConnTable *t;
    ColoConn *c;
    User u;

    t = table_new(&u, 8);
    c = handshake(t, 0);
    g_assert_cmpuint(tcp_send(t, false, COLO_TCP_RST, 9001, 0, 0, MS(1)), ==,
                     COLO_CONN_EV_CLOSED);
    g_assert_true(colo_conn_is_closed(c));
    g_assert_true(colo_conn_tcp_state(c)->rst_seen);
    /* a late packet does not extend the linger */
    tcp_send(t, true, COLO_TCP_ACK, 1001, 9001, 0, MS(90));
    g_assert_cmpuint(colo_conn_expire(t, MS(101)), ==, 1);
    g_assert_cmpuint(colo_conn_count(t), ==, 0);
    colo_conn_table_free(t);
}

static void test_reopen(void)
{
    ColoConnTable *t;
    ColoConn *c;
    User u;

    t = table_new(&u, 8);
    c = handshake(t, 0);
    tcp_send(t, true, COLO_TCP_RST, 1001, 0, 0, MS(1));
    g_assert_true(colo_conn_is_closed(c));
    /* port reuse from the other side: a new connection */
    g_assert_cmpuint(tcp_send(t, false, COLO_TCP_SYN, 77, 0, 0, MS(2)), ==,
                     COLO_CONN_EV_REOPENED);
    g_assert_false(colo_conn_is_closed(c));
    g_assert_false(colo_conn_tcp_state(c)->rst_seen);
    g_assert_true(colo_conn_tcp_state(c)->syn_seen[colo_conn_initiator(c)]);
    /* no longer lingering: not expired after the linger time */
    g_assert_cmpuint(colo_conn_expire(t, MS(500)), ==, 0);
    g_assert_cmpuint(colo_conn_expire(t, MS(1002)), ==, 1);
    colo_conn_table_free(t);
}

static void test_idle_expiry(void)
{
    ColoConnTable *t;
    User u;
    int i;

    t = table_new(&u, 16);
    for (i = 0; i < 10; i++) {
        flow(t, i, MS(100 * i), COLO_CONN_CREATED);
    }
    flow(t, 0, MS(950), COLO_CONN_FOUND);   /* refresh flow 0 */
    /* at 1450 ms, flows idle >= 1000 ms: 1, 2, 3, 4 (at 100..400) */
    g_assert_cmpuint(colo_conn_expire(t, MS(1450)), ==, 4);
    g_assert_nonnull(find_flow(t, 0));
    g_assert_null(find_flow(t, 1));
    g_assert_null(find_flow(t, 4));
    g_assert_nonnull(find_flow(t, 5));
    g_assert_cmpuint(colo_conn_stats(t)->expired_idle, ==, 4);
    g_assert_cmpuint(colo_conn_expire(t, MS(1950)), ==, 6);
    g_assert_cmpuint(colo_conn_count(t), ==, 0);
    g_assert_cmpint(u.destroys, ==, 10);
    colo_conn_table_free(t);
}

static void test_pinned_survive_expiry(void)
{
    ColoConnTable *t;
    ColoConn *a, *b;
    User u;

    t = table_new(&u, 16);
    a = flow(t, 1, 0, COLO_CONN_CREATED);
    b = handshake(t, 0);
    tcp_send(t, true, COLO_TCP_RST, 1001, 0, 0, 0);
    colo_conn_pin(t, a);
    colo_conn_pin(t, b);
    g_assert_cmpuint(colo_conn_expire(t, MS(5000)), ==, 0);
    g_assert_cmpuint(colo_conn_count(t), ==, 2);

    /* unpinned at 5 s: counts as active then */
    colo_conn_unpin(t, a);
    colo_conn_unpin(t, b);
    g_assert_cmpuint(colo_conn_expire(t, MS(5050)), ==, 0);
    g_assert_cmpuint(colo_conn_expire(t, MS(5100)), ==, 1);   /* b */
    g_assert(find_flow(t, 1) == a);
    g_assert_cmpuint(colo_conn_expire(t, MS(5999)), ==, 0);
    g_assert_cmpuint(colo_conn_expire(t, MS(6000)), ==, 1);   /* a */
    colo_conn_table_free(t);
}

static void test_remove(void)
{
    ColoConnTable *t;
    ColoConn *a;
    User u;

    t = table_new(&u, 4);
    a = flow(t, 1, 0, COLO_CONN_CREATED);
    colo_conn_pin(t, a);
    colo_conn_remove(t, a);             /* pinned or not */
    g_assert_cmpint(u.destroys, ==, 1);
    g_assert_null(find_flow(t, 1));
    g_assert_cmpuint(colo_conn_stats(t)->removed, ==, 1);
    flow(t, 1, 1, COLO_CONN_CREATED);
    colo_conn_table_free(t);
    colo_conn_table_free(NULL);
}

typedef struct IterCtx {
    ColoConnTable *t;
    uint64_t seen_mask;
    int visits;
    int stop_after;
} IterCtx;

static bool iter_cb(ColoConn *conn, void *opaque)
{
    IterCtx *ctx = opaque;
    Priv *p = colo_conn_priv(conn);

    ctx->visits++;
    g_assert_cmpuint(ctx->seen_mask & (1ull << p->id), ==, 0);
    ctx->seen_mask |= 1ull << p->id;
    if (p->id % 2) {
        colo_conn_remove(ctx->t, conn);
    }
    return ctx->visits != ctx->stop_after;
}

static void test_iteration(void)
{
    IterCtx ctx = { 0 };
    ColoConnTable *t;
    User u;
    int i;

    t = table_new(&u, 64);
    for (i = 0; i < 40; i++) {
        flow(t, i, i, COLO_CONN_CREATED);
    }
    ctx.t = t;
    colo_conn_foreach(t, iter_cb, &ctx);
    g_assert_cmpint(ctx.visits, ==, 40);
    g_assert_cmphex(ctx.seen_mask, ==, (1ull << 40) - 1);
    g_assert_cmpuint(colo_conn_count(t), ==, 20);
    g_assert_cmpint(u.destroys, ==, 20);

    memset(&ctx, 0, sizeof(ctx));
    ctx.t = t;
    ctx.stop_after = 5;
    colo_conn_foreach(t, iter_cb, &ctx);
    g_assert_cmpint(ctx.visits, ==, 5);
    colo_conn_table_free(t);
}

static void test_many(void)
{
    enum { N = 100000 };
    ColoConnTableConfig cfg = {
        .max_entries = N,
        .priv_size = 64,
        .idle_timeout_ns = MS(1000),
        .closed_linger_ns = MS(100),
    };
    ColoConnTable *t = colo_conn_table_new(&cfg);
    ColoConn *c;
    Frame f;
    int i;

    for (i = 0; i < N; i++) {
        frame_build(&f, i & 1, COLO_IPPROTO_TCP, i, 1000 + i % 7, N + i, 80,
                    COLO_TCP_ACK, 1, 1, 0);
        g_assert_cmpint(colo_conn_get(t, &f.pkt, i, &c, NULL), ==,
                        COLO_CONN_CREATED);
        *(int *)colo_conn_priv(c) = i;
    }
    g_assert_cmpuint(colo_conn_count(t), ==, N);
    for (i = N - 1; i >= 0; i--) {
        /* reverse direction this time */
        frame_build(&f, i & 1, COLO_IPPROTO_TCP, N + i, 80, i, 1000 + i % 7,
                    COLO_TCP_ACK, 1, 1, 0);
        g_assert_cmpint(colo_conn_get(t, &f.pkt, MS(1) + i, &c, NULL), ==,
                        COLO_CONN_FOUND);
        g_assert_cmpint(*(int *)colo_conn_priv(c), ==, i);
    }
    /* full: one more evicts exactly one */
    frame_build(&f, false, COLO_IPPROTO_UDP, 1, 1, 2, 2, 0, 0, 0, 0);
    g_assert_cmpint(colo_conn_get(t, &f.pkt, MS(2), &c, NULL), ==,
                    COLO_CONN_CREATED);
    g_assert_cmpuint(colo_conn_count(t), ==, N);
    g_assert_cmpuint(colo_conn_stats(t)->evicted, ==, 1);
    g_assert_cmpuint(colo_conn_expire(t, MS(5000)), ==, N);
    g_assert_cmpuint(colo_conn_count(t), ==, 0);
    colo_conn_table_free(t);
}

/*
 * The hashed lookup (used after colo_conn_prefetch_*() by a caller that
 * looks ahead) finds the same entries as the plain one; the hints are
 * harmless on empty and on reused buckets.
 */
static void test_hashed(void)
{
    enum { N = 3000 };
    ColoConnTableConfig cfg = { .max_entries = N, .priv_size = 200 };
    ColoConnTable *t = colo_conn_table_new(&cfg);
    ColoFlowKey *keys = g_new(ColoFlowKey, N);
    ColoConn **conns = g_new(ColoConn *, N);
    ColoConn *c;
    Frame f;
    int i;

    for (i = 0; i < N; i++) {
        frame_build(&f, i & 1, COLO_IPPROTO_UDP, i, 1000, N + i, 53, 0, 0, 0,
                    0);
        g_assert(colo_flow_key_from_packet(&f.pkt, &keys[i]));
        colo_conn_prefetch_bucket(t, colo_conn_hash(t, &keys[i]));
        colo_conn_prefetch_entry(t, colo_conn_hash(t, &keys[i]));
        g_assert_cmpint(colo_conn_lookup_or_create_hashed(
                            t, &keys[i], colo_conn_hash(t, &keys[i]), i,
                            &conns[i]), ==, COLO_CONN_CREATED);
    }
    g_assert_cmpuint(colo_conn_count(t), ==, N);
    for (i = 0; i < N; i++) {
        uint32_t h = colo_conn_hash(t, &keys[i]);

        colo_conn_prefetch_bucket(t, h);
        colo_conn_prefetch_entry(t, h);
        g_assert_cmpint(colo_conn_lookup_or_create_hashed(t, &keys[i], h,
                                                          N + i, &c), ==,
                        COLO_CONN_FOUND);
        g_assert(c == conns[i]);
        g_assert(colo_conn_lookup(t, &keys[i]) == c);
        g_assert(colo_conn_lookup_hashed(t, &keys[i], h) == c);
        g_assert_cmpint(colo_conn_lookup_or_create(t, &keys[i], N + i, &c),
                        ==, COLO_CONN_FOUND);
        g_assert(c == conns[i]);
    }
    g_free(keys);
    g_free(conns);
    colo_conn_table_free(t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/colo/conn/both-directions", test_both_directions);
    g_test_add_func("/colo/conn/invalid", test_invalid);
    g_test_add_func("/colo/conn/lru-eviction", test_lru_eviction);
    g_test_add_func("/colo/conn/second-chance", test_second_chance);
    g_test_add_func("/colo/conn/closed-evicted-first",
                    test_closed_evicted_first);
    g_test_add_func("/colo/conn/full-all-pinned", test_full_all_pinned);
    g_test_add_func("/colo/conn/fin-both-ways", test_fin_both_ways);
    g_test_add_func("/colo/conn/fin-wraparound", test_fin_wraparound);
    g_test_add_func("/colo/conn/syn-fin", test_syn_fin);
    g_test_add_func("/colo/conn/rst", test_rst);
    g_test_add_func("/colo/conn/reopen", test_reopen);
    g_test_add_func("/colo/conn/idle-expiry", test_idle_expiry);
    g_test_add_func("/colo/conn/pinned-survive-expiry",
                    test_pinned_survive_expiry);
    g_test_add_func("/colo/conn/remove", test_remove);
    g_test_add_func("/colo/conn/iteration", test_iteration);
    g_test_add_func("/colo/conn/many", test_many);
    g_test_add_func("/colo/conn/hashed", test_hashed);
    return g_test_run();
}
