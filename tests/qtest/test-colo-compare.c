/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QTest of the colo-compare object, driven entirely through its chardevs.
 *
 * primary_in and secondary_in are UNIX socket servers in QEMU that the
 * test connects to (so it can reconnect after QEMU drops a broken
 * stream); outdev and notify_dev are clients of listeners created by the
 * test, connected before the object exists, so no released frame can
 * miss them.  Frames are built by hand (Ethernet/IPv4/UDP or TCP) and
 * framed as on the wire: 4-byte big-endian length [+ 4-byte vnet header
 * length] + frame.
 *
 * Nothing is timed: every wait polls a socket or a query-colo-proxy
 * counter with a generous bound.  "Nothing was written" is asserted only
 * after a counter shows that QEMU has processed the input concerned
 * (outdev is written before the counters are published).
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "libqtest.h"
#include "colo-proxy-qtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qobject/qbool.h"
#include "qobject/qjson.h"
#include "qapi/error.h"
#include "qemu/bswap.h"

#define LONG_TIMEOUT "60000"    /* compare_timeout that never expires */

/* Sockets */

static int connect_unix(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(strlen(path), <, sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), ==,
                    0);
    return fd;
}

/* Wire format */

static void rec_send(int fd, bool vnet, uint32_t vlen, const void *frame,
                     size_t len)
{
    uint8_t hdr[8];

    stl_be_p(hdr, len);
    stl_be_p(hdr + 4, vlen);
    write_all(fd, hdr, vnet ? 8 : 4);
    write_all(fd, frame, len);
}

static GByteArray *rec_recv(int fd, bool vnet, uint32_t *vlen)
{
    uint8_t hdr[8];
    GByteArray *b;
    uint32_t len;

    g_assert_true(read_exact(fd, hdr, vnet ? 8 : 4));
    len = ldl_be_p(hdr);
    g_assert_cmpuint(len, >, 0);
    g_assert_cmpuint(len, <=, 70000);
    if (vlen) {
        *vlen = vnet ? ldl_be_p(hdr + 4) : 0;
    }
    b = g_byte_array_sized_new(len);
    g_byte_array_set_size(b, len);
    g_assert_true(read_exact(fd, b->data, len));
    return b;
}

/* Read one record from outdev and check it is @want. */
static void expect_frame(int fd, bool vnet, uint32_t want_vlen,
                         GByteArray *want)
{
    uint32_t vlen;
    g_autoptr(GByteArray) got = rec_recv(fd, vnet, &vlen);

    g_assert_cmpuint(vlen, ==, want_vlen);
    g_assert_cmpuint(got->len, ==, want->len);
    g_assert(memcmp(got->data, want->data, want->len) == 0);
}

static void notify_send(int fd, bool vnet, const char *msg)
{
    rec_send(fd, vnet, 0, msg, strlen(msg));
}

static void notify_expect(int fd, bool vnet, const char *msg)
{
    g_autoptr(GByteArray) got = rec_recv(fd, vnet, NULL);
    size_t len = got->len;

    /* Accept a terminating NUL, which some peers send. */
    while (len && got->data[len - 1] == '\0') {
        len--;
    }
    if (len != strlen(msg) || memcmp(got->data, msg, len)) {
        g_error("notify_dev: expected '%s', got '%.*s'", msg, (int)len,
                (const char *)got->data);
    }
}

/* Frames */

typedef struct FrameSpec {
    uint8_t proto;          /* 17 or 6 */
    uint16_t sport;
    uint16_t dport;
    uint16_t ip_id;         /* ignored by the comparison */
    uint8_t ttl;            /* ignored by the comparison */
    uint32_t seq;           /* TCP */
    uint8_t tcp_flags;      /* TCP */
    const void *payload;
    size_t len;
} FrameSpec;

static uint16_t ip_csum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    size_t i;

    for (i = 0; i + 1 < len; i += 2) {
        sum += lduw_be_p(p + i);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum;
}

/* An Ethernet/IPv4 frame from 10.0.0.1 to 10.0.0.2, after @vlen zeros. */
static GByteArray *make_frame(const FrameSpec *f, size_t vlen)
{
    size_t l4 = f->proto == 6 ? 20 : 8;
    size_t len = vlen + 14 + 20 + l4 + f->len;
    GByteArray *b = g_byte_array_sized_new(len);
    uint8_t *p;

    g_byte_array_set_size(b, len);
    memset(b->data, 0, len);
    p = b->data + vlen;
    memcpy(p, "\x52\x54\x00\x00\x00\x02\x52\x54\x00\x00\x00\x01\x08\x00",
           14);
    p += 14;
    p[0] = 0x45;
    stw_be_p(p + 2, 20 + l4 + f->len);
    stw_be_p(p + 4, f->ip_id);
    stw_be_p(p + 6, 0x4000);
    p[8] = f->ttl ? f->ttl : 64;
    p[9] = f->proto;
    memcpy(p + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    stw_be_p(p + 10, ip_csum(p, 20));
    p += 20;
    stw_be_p(p, f->sport);
    stw_be_p(p + 2, f->dport);
    if (f->proto == 6) {
        stl_be_p(p + 4, f->seq);
        stl_be_p(p + 8, 1);
        p[12] = 5 << 4;
        p[13] = f->tcp_flags ? f->tcp_flags : 0x18;     /* PSH|ACK */
        stw_be_p(p + 14, 65535);
    } else {
        stw_be_p(p + 4, 8 + f->len);
    }
    memcpy(p + l4, f->payload, f->len);
    return b;
}

static GByteArray *udp_frame(uint16_t sport, const char *payload,
                             uint16_t ip_id)
{
    FrameSpec f = {
        .proto = 17, .sport = sport, .dport = 7, .ip_id = ip_id,
        .payload = payload, .len = strlen(payload),
    };

    return make_frame(&f, 0);
}

static void send_frame(int fd, GByteArray *f)
{
    rec_send(fd, false, 0, f->data, f->len);
}

/* QMP helpers */

/*
 * The query-colo-proxy entry of @id (a new reference), or NULL.  All
 * objects are listed and searched, which also checks each id is listed
 * once.
 */
static QDict *cmp_find(QTestState *qts, const char *id)
{
    QDict *resp = qtest_qmp(qts, "{'execute': 'query-colo-proxy'}");
    QList *list = qdict_get_qlist(resp, "return");
    QDict *found = NULL;
    QListEntry *e;

    g_assert_nonnull(list);
    QLIST_FOREACH_ENTRY(list, e) {
        QDict *info = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(info, "id"), id)) {
            g_assert_null(found);
            found = info;
        }
    }
    qobject_ref(found);
    qobject_unref(resp);
    return found;
}

static QDict *cmp_info(QTestState *qts, const char *id)
{
    QDict *info = cmp_find(qts, id);

    g_assert_nonnull(info);
    g_assert_cmpstr(qdict_get_str(info, "kind"), ==, "colo-compare");
    return info;
}

/* A counter; "divergences.payload" reaches into the nested dict. */
static uint64_t stat_get(QTestState *qts, const char *id, const char *name)
{
    QDict *info = cmp_info(qts, id);
    QDict *d = info;
    const char *dot = strchr(name, '.');
    QObject *v;
    uint64_t val;

    if (dot) {
        g_autofree char *sub = g_strndup(name, dot - name);

        d = qdict_get_qdict(info, sub);
        g_assert_nonnull(d);
        name = dot + 1;
    }
    v = qdict_get(d, name);
    if (!v) {
        g_error("query-colo-proxy has no '%s'", name);
    }
    if (qobject_type(v) == QTYPE_QBOOL) {
        val = qbool_get_bool(qobject_to(QBool, v));
    } else {
        val = qnum_get_uint(qobject_to(QNum, v));
    }
    qobject_unref(info);
    return val;
}

/* Poll a counter until it equals @want (bounded). */
static void stat_wait(QTestState *qts, const char *id, const char *name,
                      uint64_t want)
{
    gint64 end = g_get_monotonic_time() + TIMEOUT_MS * 1000LL;
    uint64_t v;

    while ((v = stat_get(qts, id, name)) != want) {
        if (g_get_monotonic_time() > end) {
            g_error("%s: %s is %" PRIu64 ", expected %" PRIu64, id, name, v,
                    want);
        }
        g_usleep(1000);
    }
}

static void stat_check(QTestState *qts, const char *id, const char *name,
                       uint64_t want)
{
    g_assert_cmpuint(stat_get(qts, id, name), ==, want);
}

static void qmp_expect_error(QTestState *qts, const char *needle,
                             const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* Run a QMP command that must fail with an error mentioning @needle. */
static void qmp_expect_error(QTestState *qts, const char *needle,
                             const char *fmt, ...)
{
    QDict *resp, *err;
    const char *desc;
    va_list ap;

    va_start(ap, fmt);
    resp = qtest_vqmp(qts, fmt, ap);
    va_end(ap);
    err = qdict_get_qdict(resp, "error");
    if (!err) {
        g_error("command succeeded, expected an error mentioning '%s'",
                needle);
    }
    desc = qdict_get_str(err, "desc");
    if (!strstr(desc, needle)) {
        g_error("error '%s' does not mention '%s'", desc, needle);
    }
    qobject_unref(resp);
}

/* The rig: one QEMU, one colo-compare "cmp" */

typedef struct Rig {
    QTestState *qts;
    char *dir;
    bool vnet;
    int out_l, notify_l;    /* listeners for outdev / notify_dev */
    int pri, sec, out, notify;
} Rig;

static char *rig_path(Rig *r, const char *name)
{
    return g_strdup_printf("%s/%s.sock", r->dir, name);
}

static void rig_init(Rig *r)
{
    memset(r, 0, sizeof(*r));
    r->dir = g_dir_make_tmp("colo-compare-XXXXXX", NULL);
    g_assert(r->dir);
    r->out_l = r->notify_l = r->pri = r->sec = r->out = r->notify = -1;
}

/*
 * Start QEMU with iothread "t", chardevs "pri"/"sec" (servers), "out"
 * (and "notify" if @notify) connected to the test, and colo-compare
 * "cmp" with @opts appended to its properties.
 */
static void rig_start(Rig *r, bool notify, bool vnet, const char *opts)
{
    g_autofree char *pri = rig_path(r, "pri");
    g_autofree char *sec = rig_path(r, "sec");
    g_autofree char *out = rig_path(r, "out");
    g_autofree char *ntf = rig_path(r, "notify");
    g_autofree char *notify_args = NULL;

    r->vnet = vnet;
    r->out_l = listen_unix(out);
    if (notify) {
        r->notify_l = listen_unix(ntf);
        notify_args = g_strdup_printf(
            "-chardev socket,id=notify,path=%s ", ntf);
    }
    r->qts = qtest_initf(
        "-M none -nodefaults -object iothread,id=t "
        "-chardev socket,id=pri,path=%s,server=on,wait=off "
        "-chardev socket,id=sec,path=%s,server=on,wait=off "
        "-chardev socket,id=out,path=%s "
        "%s"
        "-object colo-compare,id=cmp,primary_in=pri,secondary_in=sec,"
        "outdev=out,iothread=t%s%s%s%s",
        pri, sec, out, notify ? notify_args : "",
        notify ? ",notify_dev=notify" : "",
        vnet ? ",vnet_hdr_support=on" : "",
        opts ? "," : "", opts ? opts : "");
    r->out = accept_timeout(r->out_l);
    if (notify) {
        r->notify = accept_timeout(r->notify_l);
    }
    r->pri = connect_unix(pri);
    r->sec = connect_unix(sec);
}

static void rig_reconnect(Rig *r, int *fd, const char *name)
{
    g_autofree char *path = rig_path(r, name);

    close(*fd);
    *fd = connect_unix(path);
}

static void rig_free(Rig *r)
{
    g_autoptr(GDir) d = g_dir_open(r->dir, 0, NULL);
    const char *name;
    int *fds[] = { &r->out_l, &r->notify_l, &r->pri, &r->sec, &r->out,
                   &r->notify };
    int i;

    if (r->qts) {
        qtest_quit(r->qts);
    }
    for (i = 0; i < ARRAY_SIZE(fds); i++) {
        if (*fds[i] >= 0) {
            close(*fds[i]);
        }
    }
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(r->dir, name, NULL);
        unlink(p);
    }
    rmdir(r->dir);
    g_free(r->dir);
}

/* Tests */

/*
 * Identical output is released once, in order, only when both sides
 * have sent it; it is the primary's bytes that go out, whatever the
 * secondary's IP id and TTL.
 */
static void test_identical(void)
{
    GByteArray *pf[8], *sf[8];
    char payload[32];
    Rig r;
    int i;

    rig_init(&r);
    rig_start(&r, false, false, "compare_timeout=" LONG_TIMEOUT);

    for (i = 0; i < 8; i++) {
        snprintf(payload, sizeof(payload), "datagram %d", i);
        pf[i] = udp_frame(5000 + i % 3, payload, 100 + i);
        sf[i] = udp_frame(5000 + i % 3, payload, 900 + i);
        sf[i]->data[14 + 8] = 33;   /* TTL */
        send_frame(r.pri, pf[i]);
    }
    /* All eight are held until the secondary speaks. */
    stat_wait(r.qts, "cmp", "primary-queued", 8);
    stat_check(r.qts, "cmp", "released", 0);
    g_assert_true(fd_idle(r.out));

    for (i = 0; i < 8; i++) {
        send_frame(r.sec, sf[i]);
    }
    for (i = 0; i < 8; i++) {
        expect_frame(r.out, false, 0, pf[i]);
    }
    stat_wait(r.qts, "cmp", "identical", 8);
    stat_check(r.qts, "cmp", "released", 8);
    stat_check(r.qts, "cmp", "primary-frames", 8);
    stat_check(r.qts, "cmp", "secondary-frames", 8);
    stat_check(r.qts, "cmp", "primary-queued", 0);
    stat_check(r.qts, "cmp", "secondary-queued", 0);
    stat_check(r.qts, "cmp", "divergences.payload", 0);
    stat_check(r.qts, "cmp", "checkpoints", 0);
    /* Each was released exactly once. */
    g_assert_true(fd_idle(r.out));

    /* TCP, secondary first: each primary segment goes out on arrival. */
    for (i = 0; i < 4; i++) {
        FrameSpec f = {
            .proto = 6, .sport = 40000, .dport = 80, .seq = 1000 + i * 10,
            .payload = "0123456789", .len = 10, .ip_id = i,
        };
        g_autoptr(GByteArray) s = NULL;
        g_autoptr(GByteArray) p = NULL;

        f.ip_id = 700 + i;
        s = make_frame(&f, 0);
        f.ip_id = i;
        p = make_frame(&f, 0);
        send_frame(r.sec, s);
        send_frame(r.pri, p);
        expect_frame(r.out, false, 0, p);
    }
    stat_wait(r.qts, "cmp", "identical", 12);
    stat_check(r.qts, "cmp", "checkpoints", 0);

    for (i = 0; i < 8; i++) {
        g_byte_array_unref(pf[i]);
        g_byte_array_unref(sf[i]);
    }
    rig_free(&r);
}

/*
 * Different output is released (the primary's), counted by reason and
 * asks for one checkpoint; "info colo-proxy" shows the same counters.
 */
static void test_divergence(void)
{
    g_autoptr(GByteArray) p1 = udp_frame(6001, "hello world", 1);
    g_autoptr(GByteArray) s1 = udp_frame(6001, "hello wordl", 1);
    g_autoptr(GByteArray) p2 = udp_frame(6002, "short", 1);
    g_autoptr(GByteArray) s2 = udp_frame(6002, "longer one", 1);
    g_autofree char *hmp = NULL;
    Rig r;

    rig_init(&r);
    rig_start(&r, false, false, "compare_timeout=" LONG_TIMEOUT);

    send_frame(r.pri, p1);
    send_frame(r.sec, s1);
    expect_frame(r.out, false, 0, p1);
    stat_wait(r.qts, "cmp", "divergences.payload", 1);
    stat_check(r.qts, "cmp", "unverified", 1);
    stat_check(r.qts, "cmp", "identical", 0);
    stat_check(r.qts, "cmp", "checkpoints", 1);

    /* Another flow, another reason; still one checkpoint request. */
    send_frame(r.sec, s2);
    send_frame(r.pri, p2);
    expect_frame(r.out, false, 0, p2);
    stat_wait(r.qts, "cmp", "divergences.size", 1);
    stat_check(r.qts, "cmp", "checkpoints", 1);
    stat_check(r.qts, "cmp", "released", 2);
    g_assert_true(fd_idle(r.out));

    hmp = qtest_hmp(r.qts, "info colo-proxy");
    g_assert_nonnull(strstr(hmp, "cmp (colo-compare)"));
    g_assert_nonnull(strstr(hmp, "divergences.payload: 1"));
    g_assert_nonnull(strstr(hmp, "divergences.size: 1"));
    rig_free(&r);
}

/*
 * A primary frame without a counterpart goes out after compare_timeout,
 * also once the secondary has disconnected.
 */
static void test_timeout(void)
{
    g_autoptr(GByteArray) p1 = udp_frame(7001, "lonely", 1);
    g_autoptr(GByteArray) p2 = udp_frame(7002, "no secondary", 1);
    g_autoptr(GByteArray) p3 = udp_frame(7002, "still none", 2);
    Rig r;

    rig_init(&r);
    rig_start(&r, false, false,
              "compare_timeout=100,expired_scan_cycle=50");

    send_frame(r.pri, p1);
    expect_frame(r.out, false, 0, p1);
    stat_wait(r.qts, "cmp", "divergences.timeout", 1);
    stat_check(r.qts, "cmp", "primary-queued", 0);

    close(r.sec);
    r.sec = -1;
    send_frame(r.pri, p2);
    send_frame(r.pri, p3);
    expect_frame(r.out, false, 0, p2);
    expect_frame(r.out, false, 0, p3);
    stat_wait(r.qts, "cmp", "released", 3);
    stat_check(r.qts, "cmp", "divergences.timeout", 2);
    rig_free(&r);
}

/*
 * notify_dev: the Xen COLO frame's handshake is answered, a divergence
 * sends DO_CHECKPOINT (once until COLO_CHECKPOINT comes back), and
 * COLO_CHECKPOINT releases the queued primary frames.
 */
static void test_notify_dev(void)
{
    g_autoptr(GByteArray) p1 = udp_frame(8001, "AAAA", 1);
    g_autoptr(GByteArray) s1 = udp_frame(8001, "AAAB", 1);
    g_autoptr(GByteArray) p2 = udp_frame(8002, "BBBB", 1);
    g_autoptr(GByteArray) s2 = udp_frame(8002, "BBBC", 1);
    g_autoptr(GByteArray) p3 = udp_frame(8003, "queued", 1);
    g_autoptr(GByteArray) p4 = udp_frame(8004, "CCCC", 1);
    g_autoptr(GByteArray) s4 = udp_frame(8004, "CCCD", 1);
    Rig r;

    rig_init(&r);
    rig_start(&r, true, false, "compare_timeout=" LONG_TIMEOUT);

    stat_check(r.qts, "cmp", "notify-ready", false);
    notify_send(r.notify, false, "COLO_USERSPACE_PROXY_INIT");
    notify_expect(r.notify, false, "COLO_COMPARE_GET_XEN_INIT");
    stat_wait(r.qts, "cmp", "notify-ready", true);
    /* Unknown messages are ignored. */
    notify_send(r.notify, false, "WHATEVER");

    send_frame(r.pri, p1);
    send_frame(r.sec, s1);
    expect_frame(r.out, false, 0, p1);
    notify_expect(r.notify, false, "DO_CHECKPOINT");
    stat_wait(r.qts, "cmp", "checkpoints", 1);

    /* Rate limit: a second divergence before the checkpoint is silent. */
    send_frame(r.pri, p2);
    send_frame(r.sec, s2);
    expect_frame(r.out, false, 0, p2);
    stat_wait(r.qts, "cmp", "divergences.payload", 2);
    stat_check(r.qts, "cmp", "checkpoints", 1);
    g_assert_true(fd_idle(r.notify));

    /* A queued frame is released by the checkpoint. */
    send_frame(r.pri, p3);
    stat_wait(r.qts, "cmp", "primary-queued", 1);
    notify_send(r.notify, false, "COLO_CHECKPOINT");
    expect_frame(r.out, false, 0, p3);
    stat_wait(r.qts, "cmp", "checkpoint-events", 1);
    stat_check(r.qts, "cmp", "checkpoint-flushed", 1);

    /* After the checkpoint, a divergence asks again. */
    send_frame(r.pri, p4);
    send_frame(r.sec, s4);
    expect_frame(r.out, false, 0, p4);
    notify_expect(r.notify, false, "DO_CHECKPOINT");
    stat_wait(r.qts, "cmp", "checkpoints", 2);
    rig_free(&r);
}

/*
 * vnet_hdr_support: V travels with each frame and comes out as it came;
 * notify_dev messages carry V too (0).
 */
static void test_vnet_hdr(void)
{
    FrameSpec f = {
        .proto = 17, .sport = 9001, .dport = 7, .payload = "vnet", .len = 4,
    };
    g_autoptr(GByteArray) p = make_frame(&f, 12);
    g_autoptr(GByteArray) s = NULL;
    Rig r;

    f.ip_id = 55;
    s = make_frame(&f, 12);
    p->data[0] = 1;                 /* vnet flags: not compared */
    rig_init(&r);
    rig_start(&r, true, true, "compare_timeout=" LONG_TIMEOUT);

    /* As with stock QEMU, only the Xen side's messages carry V. */
    notify_send(r.notify, true, "COLO_USERSPACE_PROXY_INIT");
    notify_expect(r.notify, false, "COLO_COMPARE_GET_XEN_INIT");
    rec_send(r.pri, true, 12, p->data, p->len);
    rec_send(r.sec, true, 12, s->data, s->len);
    expect_frame(r.out, true, 12, p);
    stat_wait(r.qts, "cmp", "identical", 1);
    stat_check(r.qts, "cmp", "divergences.payload", 0);

    /*
     * The stream's vnet header length is the first frame's: a frame with
     * another one is not compared, but a primary one still goes out.
     */
    rec_send(r.sec, true, 10, s->data + 2, s->len - 2);
    rec_send(r.pri, true, 10, p->data + 2, p->len - 2);
    {
        uint32_t vlen;
        g_autoptr(GByteArray) got = rec_recv(r.out, true, &vlen);

        g_assert_cmpuint(vlen, ==, 10);
        g_assert_cmpuint(got->len, ==, p->len - 2);
        g_assert(memcmp(got->data, p->data + 2, got->len) == 0);
    }
    stat_wait(r.qts, "cmp", "divergences.malformed", 1);
    stat_check(r.qts, "cmp", "secondary-frames", 2);
    stat_check(r.qts, "cmp", "released", 2);
    stat_check(r.qts, "cmp", "checkpoints", 1);
    notify_expect(r.notify, false, "DO_CHECKPOINT");
    rig_free(&r);
}

/*
 * Broken streams: a zero or oversized length resets the stream and
 * drops the peer, which can reconnect and carry on; a frame the packet
 * layer calls malformed is still released; a peer leaving mid-frame
 * resets the stream too.
 */
static void test_bad_input(void)
{
    static const uint32_t bad_len[] = { 0, 0x7fffffff };
    g_autoptr(GByteArray) good = udp_frame(9100, "after reconnect", 1);
    g_autoptr(GByteArray) good2 = udp_frame(9101, "again", 1);
    uint8_t runt[10] = { 0x52, 0x54, 0, 0, 0, 2 };
    uint8_t hdr[4], bad[30];
    Rig r;
    int i;

    rig_init(&r);
    rig_start(&r, false, false, "compare_timeout=" LONG_TIMEOUT);

    for (i = 0; i < ARRAY_SIZE(bad_len); i++) {
        int *fd = i == 0 ? &r.pri : &r.sec;

        /* One write: QEMU may drop the connection as soon as it reads. */
        stl_be_p(bad, bad_len[i]);
        memcpy(bad + 4, "garbage after a bad length", 26);
        write_all(*fd, bad, sizeof(bad));
        wait_eof(*fd);
        stat_wait(r.qts, "cmp", "stream-resets", i + 1);
        rig_reconnect(&r, fd, i == 0 ? "pri" : "sec");
    }
    send_frame(r.pri, good);
    send_frame(r.sec, good);
    expect_frame(r.out, false, 0, good);
    stat_wait(r.qts, "cmp", "identical", 1);

    /* Shorter than an Ethernet header: released, counted, not compared. */
    rec_send(r.pri, false, 0, runt, sizeof(runt));
    {
        g_autoptr(GByteArray) got = rec_recv(r.out, false, NULL);

        g_assert_cmpuint(got->len, ==, sizeof(runt));
        g_assert(memcmp(got->data, runt, sizeof(runt)) == 0);
    }
    stat_wait(r.qts, "cmp", "divergences.malformed", 1);

    /* Half a frame, then the primary goes away. */
    stl_be_p(hdr, good2->len);
    write_all(r.pri, hdr, 4);
    write_all(r.pri, good2->data, good2->len / 2);
    rig_reconnect(&r, &r.pri, "pri");
    stat_wait(r.qts, "cmp", "stream-resets", 3);
    send_frame(r.pri, good2);
    send_frame(r.sec, good2);
    expect_frame(r.out, false, 0, good2);
    stat_wait(r.qts, "cmp", "identical", 2);

    stat_check(r.qts, "cmp", "released", 3);
    g_assert_true(fd_idle(r.out));
    rig_free(&r);
}

/*
 * Runtime object-add / object-del over QMP, two objects at once; a
 * deleted object releases what it held and lets go of its chardevs.
 */
static void add_chardev(QTestState *qts, const char *id, const char *path,
                        bool server)
{
    if (server) {
        qtest_qmp_assert_success(qts,
            "{'execute': 'chardev-add', 'arguments': {'id': %s,"
            " 'backend': {'type': 'socket', 'data': {'server': true,"
            "  'wait': false, 'addr': {'type': 'unix',"
            "  'data': {'path': %s}}}}}}", id, path);
    } else {
        qtest_qmp_assert_success(qts,
            "{'execute': 'chardev-add', 'arguments': {'id': %s,"
            " 'backend': {'type': 'socket', 'data': {'server': false,"
            "  'addr': {'type': 'unix', 'data': {'path': %s}}}}}}",
            id, path);
    }
}

static void add_compare(QTestState *qts, const char *id, const char *pri,
                        const char *sec, const char *out)
{
    qtest_qmp_assert_success(qts,
        "{'execute': 'object-add', 'arguments': {'qom-type': 'colo-compare',"
        " 'id': %s, 'primary_in': %s, 'secondary_in': %s, 'outdev': %s,"
        " 'iothread': 't', 'compare_timeout': 60000}}", id, pri, sec, out);
}

typedef struct Ends {
    int out_l, pri, sec, out;
} Ends;

static void make_ends(QTestState *qts, Rig *r, Ends *e, int n)
{
    g_autofree char *pri_id = g_strdup_printf("pri%d", n);
    g_autofree char *sec_id = g_strdup_printf("sec%d", n);
    g_autofree char *out_id = g_strdup_printf("out%d", n);
    g_autofree char *pri = rig_path(r, pri_id);
    g_autofree char *sec = rig_path(r, sec_id);
    g_autofree char *out = rig_path(r, out_id);

    e->out_l = listen_unix(out);
    add_chardev(qts, pri_id, pri, true);
    add_chardev(qts, sec_id, sec, true);
    add_chardev(qts, out_id, out, false);
    e->out = accept_timeout(e->out_l);
    e->pri = connect_unix(pri);
    e->sec = connect_unix(sec);
}

static void close_ends(Ends *e)
{
    close(e->out_l);
    close(e->out);
    close(e->pri);
    close(e->sec);
}

static void test_object_add_del(void)
{
    g_autoptr(GByteArray) a = udp_frame(10001, "to cmp1", 1);
    g_autoptr(GByteArray) b = udp_frame(10002, "to cmp2", 1);
    g_autoptr(GByteArray) held = udp_frame(10003, "held by cmp1", 1);
    g_autoptr(GByteArray) cut = g_byte_array_new();
    g_autofree char *pri2 = NULL;
    uint8_t len[4];
    Ends e1, e2;
    Rig r;

    rig_init(&r);
    r.qts = qtest_init("-M none -nodefaults -object iothread,id=t");
    make_ends(r.qts, &r, &e1, 1);
    make_ends(r.qts, &r, &e2, 2);
    pri2 = rig_path(&r, "pri2");
    add_compare(r.qts, "cmp1", "pri1", "sec1", "out1");
    add_compare(r.qts, "cmp2", "pri2", "sec2", "out2");

    send_frame(e1.pri, a);
    send_frame(e2.pri, b);
    send_frame(e2.sec, b);
    send_frame(e1.sec, a);
    expect_frame(e1.out, false, 0, a);
    expect_frame(e2.out, false, 0, b);
    stat_wait(r.qts, "cmp1", "identical", 1);
    stat_wait(r.qts, "cmp2", "identical", 1);

    /* Deleting cmp1 releases the frame it holds. */
    send_frame(e1.pri, held);
    stat_wait(r.qts, "cmp1", "primary-queued", 1);
    qtest_qmp_assert_success(r.qts, "{'execute': 'object-del',"
                             " 'arguments': {'id': 'cmp1'}}");
    expect_frame(e1.out, false, 0, held);
    g_assert_null(cmp_find(r.qts, "cmp1"));
    /* Its chardevs are free again. */
    qtest_qmp_assert_success(r.qts, "{'execute': 'chardev-remove',"
                             " 'arguments': {'id': 'pri1'}}");
    qtest_qmp_assert_success(r.qts, "{'execute': 'chardev-remove',"
                             " 'arguments': {'id': 'sec1'}}");
    qtest_qmp_assert_success(r.qts, "{'execute': 'chardev-remove',"
                             " 'arguments': {'id': 'out1'}}");

    /* cmp2 is unaffected. */
    send_frame(e2.pri, a);
    send_frame(e2.sec, a);
    expect_frame(e2.out, false, 0, a);
    stat_wait(r.qts, "cmp2", "identical", 2);
    /*
     * Deleted in the middle of a record: the connection is dropped, so
     * that the next user of the chardev does not start mid-record.
     */
    stl_be_p(len, a->len);
    g_byte_array_append(cut, len, 4);
    g_byte_array_append(cut, a->data, a->len);
    stl_be_p(len, b->len);
    g_byte_array_append(cut, len, 4);
    g_byte_array_append(cut, b->data, b->len / 2);
    write_all(e2.pri, cut->data, cut->len);
    stat_wait(r.qts, "cmp2", "primary-queued", 1);
    qtest_qmp_assert_success(r.qts, "{'execute': 'object-del',"
                             " 'arguments': {'id': 'cmp2'}}");
    expect_frame(e2.out, false, 0, a);
    wait_eof(e2.pri);
    close(e2.pri);
    e2.pri = connect_unix(pri2);
    /* The chardevs can be used by a new object. */
    add_compare(r.qts, "cmp3", "pri2", "sec2", "out2");
    send_frame(e2.pri, b);
    send_frame(e2.sec, b);
    expect_frame(e2.out, false, 0, b);
    stat_wait(r.qts, "cmp3", "identical", 1);

    close_ends(&e1);
    close_ends(&e2);
    rig_free(&r);
}

/*
 * A udp chardev never reports being open: as outdev it is written all
 * the same, one datagram per write, in the usual record format.
 */
static void test_udp_outdev(void)
{
    g_autoptr(GByteArray) a = udp_frame(10001, "over udp", 1);
    g_autofree char *pri = NULL, *sec = NULL;
    uint16_t port;
    Rig r;
    int u = bind_udp(&port);

    rig_init(&r);
    pri = rig_path(&r, "pri");
    sec = rig_path(&r, "sec");
    r.qts = qtest_initf("-M none -nodefaults -object iothread,id=t "
                        "-chardev udp,id=uout,host=127.0.0.1,port=%d,"
                        "localaddr=127.0.0.1,localport=0", port);
    add_chardev(r.qts, "pri", pri, true);
    add_chardev(r.qts, "sec", sec, true);
    r.pri = connect_unix(pri);
    r.sec = connect_unix(sec);
    add_compare(r.qts, "cmp", "pri", "sec", "uout");

    send_frame(r.pri, a);
    send_frame(r.sec, a);
    expect_udp_record(u, a);
    stat_wait(r.qts, "cmp", "identical", 1);
    g_assert_cmpuint(stat_get(r.qts, "cmp", "output-drops"), ==, 0);

    close(u);
    rig_free(&r);
}

/* Creation errors are clear and leave nothing half set up. */
static void test_creation_errors(void)
{
    static const struct {
        const char *args;
        const char *needle;
    } cases[] = {
        { "'secondary_in': 'c2', 'outdev': 'c3', 'iothread': 't'",
          "primary_in" },
        { "'primary_in': 'c1', 'outdev': 'c3', 'iothread': 't'",
          "secondary_in" },
        { "'primary_in': 'c1', 'secondary_in': 'c2', 'iothread': 't'",
          "outdev" },
        { "'primary_in': 'c1', 'secondary_in': 'c2', 'outdev': 'c3'",
          "iothread" },
        { "'primary_in': 'nope', 'secondary_in': 'c2', 'outdev': 'c3',"
          " 'iothread': 't'", "chardev 'nope' not found" },
        { "'primary_in': 'c1', 'secondary_in': 'c2', 'outdev': 'c1',"
          " 'iothread': 't'", "must be different chardevs" },
        { "'primary_in': 'c1', 'secondary_in': 'c2', 'outdev': 'c3',"
          " 'notify_dev': 'c2', 'iothread': 't'",
          "must be different chardevs" },
        { "'primary_in': 'c1', 'secondary_in': 'c2', 'outdev': 'c3',"
          " 'iothread': 'nope'", "iothread 'nope' not found" },
        { "'primary_in': 'c1', 'secondary_in': 'c2', 'outdev': 'c3',"
          " 'iothread': 'c1'", "iothread 'c1' not found" },
        { "'primary_in': 'c1', 'secondary_in': 'c2', 'outdev': 'c3',"
          " 'iothread': 't', 'compare_timeout': 0", "compare_timeout" },
        { "'primary_in': 'c1', 'secondary_in': 'c2', 'outdev': 'c3',"
          " 'iothread': 't', 'expired_scan_cycle': 0",
          "expired_scan_cycle" },
        { "'primary_in': 'c1', 'secondary_in': 'c2', 'outdev': 'c3',"
          " 'iothread': 't', 'max_queue_size': 0", "max_queue_size" },
        { "'primary_in': 'c1', 'secondary_in': 'c2', 'outdev': 'nul',"
          " 'iothread': 't'", "cannot be used from an iothread" },
        { "'primary_in': 'fil', 'secondary_in': 'c2', 'outdev': 'c3',"
          " 'iothread': 't'", "primary_in: chardev 'fil' cannot disconnect" },
        { "'primary_in': 'c1', 'secondary_in': 'c2', 'outdev': 'c3',"
          " 'notify_dev': 'fil', 'iothread': 't'",
          "notify_dev: chardev 'fil' cannot disconnect" },
    };
    g_autofree char *dir = g_dir_make_tmp("colo-compare-XXXXXX", NULL);
    g_autofree char *fil = g_strdup_printf("%s/fil", dir);
    g_autofree char *args = NULL;
    QTestState *qts;
    int i;

    args = g_strdup_printf(
        "-M none -nodefaults -object iothread,id=t -chardev null,id=nul "
        "-chardev file,id=fil,path=%s/fil "
        "-chardev socket,id=c1,path=%s/c1,server=on,wait=off "
        "-chardev socket,id=c2,path=%s/c2,server=on,wait=off "
        "-chardev socket,id=c3,path=%s/c3,server=on,wait=off "
        "-chardev socket,id=c4,path=%s/c4,server=on,wait=off "
        "-chardev socket,id=c5,path=%s/c5,server=on,wait=off "
        "-chardev socket,id=c6,path=%s/c6,server=on,wait=off",
        dir, dir, dir, dir, dir, dir, dir);
    qts = qtest_init(args);

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *json = g_strdup_printf(
            "{'qom-type': 'colo-compare', 'id': 'bad', %s}", cases[i].args);
        QObject *obj = qobject_from_json(json, &error_abort);

        qmp_expect_error(qts, cases[i].needle,
                         "{'execute': 'object-add', 'arguments': %p}", obj);
    }
    /* None of the failures kept a chardev: all are usable. */
    qtest_qmp_assert_success(qts,
        "{'execute': 'object-add', 'arguments': {"
        " 'qom-type': 'colo-compare', 'id': 'good',"
        " 'primary_in': 'c1', 'secondary_in': 'c2',"
        " 'outdev': 'c3', 'notify_dev': 'c4', 'iothread': 't'}}");
    /* A chardev in use by another object. */
    qmp_expect_error(qts, "in use",
                     "{'execute': 'object-add', 'arguments': {"
                     " 'qom-type': 'colo-compare', 'id': 'bad',"
                     " 'primary_in': 'c4', 'secondary_in': 'c5',"
                     " 'outdev': 'c6', 'iothread': 't'}}");
    qmp_expect_error(qts, "cannot be changed",
                     "{'execute': 'qom-set', 'arguments': {"
                     " 'path': '/objects/good', 'property': 'outdev',"
                     " 'value': 'nul'}}");
    /* Deleting the object frees its chardevs for another one. */
    qtest_qmp_assert_success(qts, "{'execute': 'object-del',"
                             " 'arguments': {'id': 'good'}}");
    qtest_qmp_assert_success(qts,
        "{'execute': 'object-add', 'arguments': {"
        " 'qom-type': 'colo-compare', 'id': 'good2',"
        " 'primary_in': 'c4', 'secondary_in': 'c3',"
        " 'outdev': 'c2', 'notify_dev': 'c1', 'iothread': 't'}}");
    /* A file chardev is fine as outdev: it records the frames. */
    qtest_qmp_assert_success(qts,
        "{'execute': 'object-add', 'arguments': {"
        " 'qom-type': 'colo-compare', 'id': 'rec',"
        " 'primary_in': 'c5', 'secondary_in': 'c6',"
        " 'outdev': 'fil', 'iothread': 't'}}");
    qtest_quit(qts);
    for (i = 1; i <= 6; i++) {
        g_autofree char *p = g_strdup_printf("%s/c%d", dir, i);

        unlink(p);
    }
    unlink(fil);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* A peer QEMU closed fails the test, it does not kill it. */
    signal(SIGPIPE, SIG_IGN);

    qtest_add_func("/colo-compare/identical", test_identical);
    qtest_add_func("/colo-compare/divergence", test_divergence);
    qtest_add_func("/colo-compare/timeout", test_timeout);
    qtest_add_func("/colo-compare/notify-dev", test_notify_dev);
    qtest_add_func("/colo-compare/vnet-hdr", test_vnet_hdr);
    qtest_add_func("/colo-compare/bad-input", test_bad_input);
    qtest_add_func("/colo-compare/object-add-del", test_object_add_del);
    qtest_add_func("/colo-compare/creation-errors", test_creation_errors);
    qtest_add_func("/colo-compare/udp-outdev", test_udp_outdev);
    return g_test_run();
}
