/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QTest of filter-rewriter.
 *
 * The rig: the filtered netdev "gnet" stands for the secondary guest's
 * netdev, a socket netdev joined through a hub to a second socket netdev,
 * "pnet"; the test holds the other end of both sockets.  The hub port on
 * gnet's side plays the guest's NIC:
 *
 *   test <-> gnet ==filter-rewriter== hub <-> pnet <-> test
 *
 * A frame written to gnet's socket is sent by gnet itself, i.e. it goes
 * towards the guest, and comes out of pnet's socket; a frame written to
 * pnet's socket reaches gnet from the hub, i.e. it comes from the guest,
 * and comes out of gnet's socket.  So the test injects frames in both
 * directions and checks what comes out byte for byte, and the counters
 * through query-colo-proxy.  Checkpoints are triggered with
 * xen-colo-do-checkpoint, expiry with the qtest clock.
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/socket.h>
#include "libqtest.h"
#include "colo-proxy-qtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qemu/bswap.h"

#define NS_PER_S 1000000000LL

typedef struct Rig {
    QTestState *qts;
    int gnet;           /* test end of gnet's socket: towards the guest */
    int pnet;           /* test end of pnet's socket: from the guest */
} Rig;

/*
 * Socket helpers
 */

static void read_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n;

        g_assert_true(wait_fd(fd, POLLIN, TIMEOUT_MS));
        n = read(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        g_assert_cmpint(n, >, 0);
        p += n;
        len -= n;
    }
}

static size_t net_recv(int fd, uint8_t *buf, size_t size)
{
    uint8_t hdr[4];
    uint32_t len;

    read_all(fd, hdr, 4);
    len = ldl_be_p(hdr);
    g_assert_cmpuint(len, <=, size);
    read_all(fd, buf, len);
    return len;
}

/*
 * Frames: Ethernet + IPv4/IPv6 + TCP, checksums computed here
 */

typedef struct Seg {
    bool v6;
    uint8_t src, dst;       /* hosts 10.0.0.x / fd00::x */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    size_t payload;
    int n_sack;
    uint32_t sack[2][2];
} Seg;

typedef struct Frame {
    uint8_t b[1600];
    size_t len;
} Frame;

#define GUEST 2
#define PEER 9

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    size_t i;

    for (i = 0; i + 1 < len; i += 2) {
        sum += lduw_be_p(p + i);
    }
    if (len & 1) {
        sum += p[len - 1] << 8;
    }
    return sum;
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

static void build(Frame *f, const Seg *s)
{
    uint8_t *b = f->b, *ip = b + 14, *tcp;
    size_t iplen = s->v6 ? 40 : 20, optlen = 0, hl, i;
    uint8_t pseudo[40];
    uint32_t sum;

    memset(f, 0, sizeof(*f));
    memcpy(b, "\x52\x54\x00\x12\x34\x02\x52\x54\x00\x12\x34\x09", 12);
    stw_be_p(b + 12, s->v6 ? 0x86dd : 0x0800);
    tcp = ip + iplen;
    if (s->flags & F_SYN) {
        memcpy(tcp + 20, "\x02\x04\x05\xb4", 4);
        optlen = 4;
    }
    if (s->n_sack) {
        tcp[20 + optlen] = 1;
        tcp[21 + optlen] = 1;
        tcp[22 + optlen] = 5;
        tcp[23 + optlen] = 2 + 8 * s->n_sack;
        optlen += 4;
        for (i = 0; i < s->n_sack; i++) {
            stl_be_p(tcp + 20 + optlen, s->sack[i][0]);
            stl_be_p(tcp + 24 + optlen, s->sack[i][1]);
            optlen += 8;
        }
    }
    hl = 20 + optlen;
    stw_be_p(tcp, s->sport);
    stw_be_p(tcp + 2, s->dport);
    stl_be_p(tcp + 4, s->seq);
    stl_be_p(tcp + 8, s->ack);
    tcp[12] = (hl / 4) << 4;
    tcp[13] = s->flags;
    stw_be_p(tcp + 14, 29200);
    for (i = 0; i < s->payload; i++) {
        tcp[hl + i] = 'a' + i % 26;
    }
    if (s->v6) {
        stl_be_p(ip, 0x60000000);
        stw_be_p(ip + 4, hl + s->payload);
        ip[6] = 6;
        ip[7] = 64;
        put_addr(ip + 8, true, s->src);
        put_addr(ip + 24, true, s->dst);
        memcpy(pseudo, ip + 8, 32);
        sum = csum_add(0, pseudo, 32);
    } else {
        ip[0] = 0x45;
        stw_be_p(ip + 2, 20 + hl + s->payload);
        stw_be_p(ip + 6, 0x4000);
        ip[8] = 64;
        ip[9] = 6;
        put_addr(ip + 12, false, s->src);
        put_addr(ip + 16, false, s->dst);
        stw_be_p(ip + 10, ~csum_fold(csum_add(0, ip, 20)));
        memcpy(pseudo, ip + 12, 8);
        sum = csum_add(0, pseudo, 8);
    }
    sum += 6 + hl + s->payload;
    sum = csum_add(sum, tcp, hl + s->payload);
    stw_be_p(tcp + 16, ~csum_fold(sum));
    f->len = 14 + iplen + hl + s->payload;
}

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

/*
 * Send @in towards the guest (@to_guest) or from it and check that the
 * frame built from @want (NULL: @in itself) comes out on the other side.
 */
static void xfer(Rig *r, bool to_guest, const Seg *in, const Seg *want)
{
    Frame f, exp;
    uint8_t out[1600];
    size_t len;

    build(&f, in);
    build(&exp, want ? want : in);
    net_send(to_guest ? r->gnet : r->pnet, f.b, f.len);
    len = net_recv(to_guest ? r->pnet : r->gnet, out, sizeof(out));
    g_assert_cmpuint(len, ==, exp.len);
    g_assert(memcmp(out, exp.b, len) == 0);
}

static void xfer_raw(Rig *r, bool to_guest, const uint8_t *frame,
                     size_t len)
{
    uint8_t out[1600];

    net_send(to_guest ? r->gnet : r->pnet, frame, len);
    g_assert_cmpuint(net_recv(to_guest ? r->pnet : r->gnet, out,
                              sizeof(out)), ==, len);
    g_assert(memcmp(out, frame, len) == 0);
}

/*
 * QEMU and counters
 */

static void rig_start(Rig *r, const char *extra)
{
    int gsv[2], psv[2];
    g_autofree char *args = NULL;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, gsv), ==, 0);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, psv), ==, 0);
    args = g_strdup_printf(
        "-M none "
        "-netdev socket,id=gnet,fd=%d "
        "-netdev hubport,id=hp0,hubid=0,netdev=gnet "
        "-netdev socket,id=pnet,fd=%d "
        "-netdev hubport,id=hp1,hubid=0,netdev=pnet "
        "%s", gsv[1], psv[1], extra);
    r->qts = qtest_init(args);
    close(gsv[1]);
    close(psv[1]);
    r->gnet = gsv[0];
    r->pnet = psv[0];
}

static void rig_stop(Rig *r)
{
    qtest_quit(r->qts);
    close(r->gnet);
    close(r->pnet);
}

static int64_t counter(Rig *r, const char *name)
{
    QDict *info = proxy_info(r->qts, "rew0");
    int64_t v;

    g_assert_nonnull(info);
    g_assert_cmpstr(qdict_get_str(info, "kind"), ==, "filter-rewriter");
    v = qdict_get_int(info, name);
    qobject_unref(info);
    return v;
}

/* The response to qom-get of @prop of rew0 (a new reference) */
static QDict *qom_get(Rig *r, const char *prop)
{
    QDict *resp = qtest_qmp(r->qts, "{'execute': 'qom-get', 'arguments': {"
                            "'path': 'rew0', 'property': %s}}", prop);

    g_assert_true(qdict_haskey(resp, "return"));
    return resp;
}

#define REWRITER "-object filter-rewriter,id=rew0,netdev=gnet,queue=all "

/*
 * Tests
 */

/* The peer connects to the guest: acks towards the guest shifted */
static void test_passive_open(void)
{
    Rig r;
    Seg s, w;
    const uint32_t P = 7000, Ip = 0x80000000, Is = 0x7ffff000;

    rig_start(&r, REWRITER);
    s = p2g(33000, 80, P, 0, F_SYN, 0);
    xfer(&r, true, &s, NULL);
    s = g2p(80, 33000, Is, P + 1, F_SYN | F_ACK, 0);
    xfer(&r, false, &s, NULL);
    g_assert_cmpint(counter(&r, "connections"), ==, 1);
    g_assert_cmpint(counter(&r, "offsets-learned"), ==, 0);

    s = p2g(33000, 80, P + 1, Ip + 1, F_ACK, 0);
    w = s;
    w.ack = Is + 1;
    xfer(&r, true, &s, &w);
    g_assert_cmpint(counter(&r, "offsets-learned"), ==, 1);

    /* data both ways, with SACK towards the guest */
    s = g2p(80, 33000, Is + 1, P + 1, F_ACK | F_PSH, 1000);
    w = s;
    w.seq = Ip + 1;
    xfer(&r, false, &s, &w);
    s = p2g(33000, 80, P + 1, Ip + 1, F_ACK, 20);
    s.n_sack = 1;
    s.sack[0][0] = Ip + 501;
    s.sack[0][1] = Ip + 1001;
    w = s;
    w.ack = Is + 1;
    w.sack[0][0] = Is + 501;
    w.sack[0][1] = Is + 1001;
    xfer(&r, true, &s, &w);
    g_assert_cmpint(counter(&r, "frames-rewritten"), ==, 3);
    g_assert_cmpint(counter(&r, "ports-mapped"), ==, 0);
    rig_stop(&r);
}

/* The guest connects out: the primary's port and ISN, both ways */
static void test_active_open(void)
{
    Rig r;
    Seg s, w;
    const uint32_t P = 1, Ip = 0x11111111, Is = 0x22222222;
    int i;

    rig_start(&r, REWRITER);
    s = g2p(40000, 443, Is, 0, F_SYN, 0);
    xfer(&r, false, &s, NULL);
    g_assert_cmpint(counter(&r, "pending"), ==, 1);
    s = p2g(443, 45678, P, Ip + 1, F_SYN | F_ACK, 0);
    w = s;
    w.dport = 40000;
    w.ack = Is + 1;
    xfer(&r, true, &s, &w);
    g_assert_cmpint(counter(&r, "pending"), ==, 0);
    g_assert_cmpint(counter(&r, "ports-mapped"), ==, 1);
    for (i = 0; i < 3; i++) {
        s = g2p(40000, 443, Is + 1 + 100 * i, P + 1, F_ACK | F_PSH, 100);
        w = s;
        w.sport = 45678;
        w.seq = Ip + 1 + 100 * i;
        xfer(&r, false, &s, &w);
        s = p2g(443, 45678, P + 1, Ip + 101 + 100 * i, F_ACK, 0);
        w = s;
        w.dport = 40000;
        w.ack = Is + 101 + 100 * i;
        xfer(&r, true, &s, &w);
    }
    /* IPv6, same ports, another flow */
    s = g2p(40000, 443, Is, 0, F_SYN, 0);
    s.v6 = true;
    xfer(&r, false, &s, NULL);
    s = p2g(443, 40001, P, Ip + 1, F_SYN | F_ACK, 0);
    s.v6 = true;
    w = s;
    w.dport = 40000;
    w.ack = Is + 1;
    xfer(&r, true, &s, &w);
    g_assert_cmpint(counter(&r, "connections"), ==, 2);
    g_assert_cmpint(counter(&r, "frames-rewritten"), ==, 8);
    rig_stop(&r);
}

/* Non-TCP, unknown TCP and malformed frames pass as they are */
static void test_passthrough(void)
{
    Rig r;
    Frame f;
    Seg s;

    rig_start(&r, REWRITER);
    /* TCP of no tracked connection */
    s = g2p(1234, 80, 5, 6, F_ACK, 10);
    build(&f, &s);
    xfer_raw(&r, false, f.b, f.len);
    xfer_raw(&r, true, f.b, f.len);
    /* UDP (the packet layer does not check IPv4 header checksums) */
    f.b[14 + 9] = 17;
    stw_be_p(f.b + 34 + 4, f.len - 34);
    xfer_raw(&r, true, f.b, f.len);
    /* ARP-sized broadcast */
    memset(f.b, 0xff, 6);
    stw_be_p(f.b + 12, 0x0806);
    xfer_raw(&r, false, f.b, 60);
    g_assert_cmpint(counter(&r, "malformed"), ==, 0);
    /* malformed: IPv4 header length 4 words, total length too long */
    s = p2g(80, 1234, 5, 6, F_ACK, 10);
    build(&f, &s);
    f.b[14] = 0x44;
    xfer_raw(&r, true, f.b, f.len);
    build(&f, &s);
    stw_be_p(f.b + 16, 1500);
    xfer_raw(&r, false, f.b, f.len);
    g_assert_cmpint(counter(&r, "malformed"), ==, 2);
    g_assert_cmpint(counter(&r, "connections"), ==, 0);
    g_assert_cmpint(counter(&r, "frames-rewritten"), ==, 0);
    rig_stop(&r);
}

/* A checkpoint: the guest now uses the primary's numbers */
static void test_checkpoint(void)
{
    Rig r;
    Seg s, w;
    QDict *info;
    const uint32_t P = 1, Ip = 5000, Is = 9000;

    rig_start(&r, REWRITER);
    s = g2p(40000, 443, Is, 0, F_SYN, 0);
    xfer(&r, false, &s, NULL);
    s = p2g(443, 45678, P, Ip + 1, F_SYN | F_ACK, 0);
    w = s;
    w.dport = 40000;
    w.ack = Is + 1;
    xfer(&r, true, &s, &w);
    g_assert_cmpint(counter(&r, "connections"), ==, 1);

    qtest_qmp_assert_success(r.qts,
                             "{'execute': 'xen-colo-do-checkpoint'}");
    g_assert_cmpint(counter(&r, "checkpoints"), ==, 1);
    g_assert_cmpint(counter(&r, "connections"), ==, 0);
    info = proxy_info(r.qts, "rew0");
    g_assert_false(qdict_get_bool(info, "failed-over"));
    qobject_unref(info);

    /* the primary's port and numbers pass untouched */
    s = g2p(45678, 443, Ip + 1, P + 1, F_ACK, 10);
    xfer(&r, false, &s, NULL);
    s = p2g(443, 45678, P + 1, Ip + 11, F_ACK, 0);
    xfer(&r, true, &s, NULL);
    g_assert_cmpint(counter(&r, "frames-rewritten"), ==, 1);
    /* and the filter is still on */
    info = qom_get(&r, "status");
    g_assert_cmpstr(qdict_get_str(info, "return"), ==, "on");
    qobject_unref(info);
    rig_stop(&r);
}

/* Entries expire on the virtual clock */
static void test_expiry(void)
{
    Rig r;
    Seg s, w;

    rig_start(&r, REWRITER);
    /* a half-open passive connection and a closed one */
    s = p2g(33000, 80, 1, 0, F_SYN, 0);
    xfer(&r, true, &s, NULL);
    s = p2g(33001, 80, 1, 0, F_SYN, 0);
    xfer(&r, true, &s, NULL);
    s = g2p(80, 33001, 50, 2, F_SYN | F_ACK, 0);
    xfer(&r, false, &s, NULL);
    s = p2g(33001, 80, 2, 101, F_ACK, 0);
    w = s;
    w.ack = 51;
    xfer(&r, true, &s, &w);
    s = p2g(33001, 80, 2, 0, F_RST, 0);
    xfer(&r, true, &s, NULL);
    g_assert_cmpint(counter(&r, "connections"), ==, 2);

    /* closed: gone after the linger time (60 s) */
    qtest_clock_step(r.qts, 62 * NS_PER_S);
    g_assert_cmpint(counter(&r, "connections"), ==, 1);
    g_assert_cmpint(counter(&r, "entries-expired"), ==, 1);
    /* half-open: gone after the handshake timeout (130 s) */
    qtest_clock_step(r.qts, 70 * NS_PER_S);
    g_assert_cmpint(counter(&r, "connections"), ==, 0);
    g_assert_cmpint(counter(&r, "entries-expired"), ==, 2);
    rig_stop(&r);
}

/* Created and removed at run time; misconfiguration refused */
static void test_hotplug(void)
{
    Rig r;
    Seg s, w;
    QDict *resp;

    rig_start(&r, "");
    g_assert_null(proxy_info(r.qts, "rew0"));
    resp = qtest_qmp(r.qts, "{'execute': 'object-add', 'arguments': {"
                     "'qom-type': 'filter-rewriter', 'id': 'bad',"
                     "'netdev': 'gnet', 'queue': 'rx'}}");
    g_assert_true(qdict_haskey(resp, "error"));
    qobject_unref(resp);
    qtest_qmp_assert_success(r.qts,
        "{'execute': 'object-add', 'arguments': {"
        "'qom-type': 'filter-rewriter', 'id': 'rew0', 'netdev': 'gnet',"
        "'queue': 'all', 'vnet_hdr_support': true}}");
    resp = qom_get(&r, "max-connections");
    g_assert_cmpint(qdict_get_int(resp, "return"), ==, 16384);
    qobject_unref(resp);
    resp = qom_get(&r, "idle-timeout");
    g_assert_cmpint(qdict_get_int(resp, "return"), ==, 86400);
    qobject_unref(resp);
    /* fixed once created */
    resp = qtest_qmp(r.qts, "{'execute': 'qom-set', 'arguments': {"
                     "'path': 'rew0', 'property': 'max-connections',"
                     "'value': 5}}");
    g_assert_true(qdict_haskey(resp, "error"));
    qobject_unref(resp);

    s = p2g(33000, 80, 1, 0, F_SYN, 0);
    xfer(&r, true, &s, NULL);
    s = g2p(80, 33000, 50, 2, F_SYN | F_ACK, 0);
    xfer(&r, false, &s, NULL);
    s = p2g(33000, 80, 2, 1001, F_ACK, 0);
    w = s;
    w.ack = 51;
    xfer(&r, true, &s, &w);
    g_assert_cmpint(counter(&r, "connections"), ==, 1);

    /* off: frames pass untouched */
    qtest_qmp_assert_success(r.qts,
        "{'execute': 'qom-set', 'arguments': {"
        "'path': 'rew0', 'property': 'status', 'value': 'off'}}");
    xfer(&r, true, &s, NULL);
    qtest_qmp_assert_success(r.qts,
        "{'execute': 'qom-set', 'arguments': {"
        "'path': 'rew0', 'property': 'status', 'value': 'on'}}");
    xfer(&r, true, &s, &w);

    qtest_qmp_assert_success(r.qts,
        "{'execute': 'object-del', 'arguments': {'id': 'rew0'}}");
    g_assert_null(proxy_info(r.qts, "rew0"));
    xfer(&r, true, &s, NULL);
    rig_stop(&r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/filter-rewriter/passive-open", test_passive_open);
    qtest_add_func("/filter-rewriter/active-open", test_active_open);
    qtest_add_func("/filter-rewriter/passthrough", test_passthrough);
    qtest_add_func("/filter-rewriter/checkpoint", test_checkpoint);
    qtest_add_func("/filter-rewriter/expiry", test_expiry);
    qtest_add_func("/filter-rewriter/hotplug", test_hotplug);
    return g_test_run();
}
