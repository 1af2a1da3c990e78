/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QTest of filter-mirror.
 *
 * The filtered netdev "fnet" is a socket netdev whose other end is held
 * by the test; it is joined through a hub to a second socket netdev,
 * "hnet", whose other end the test also holds.  A frame the test writes
 * to hnet travels hub -> fnet (the rx direction of fnet) and comes out
 * of fnet's socket; a frame written to fnet travels fnet -> hub (tx) and
 * comes out of hnet's socket.  No guest and no tap are needed.
 *
 * Chardevs are UNIX socket clients of listeners created by the test, so
 * the test sees exactly the bytes QEMU puts on the wire.
 *
 * COLO_PEER_QEMU_BINARY, if set, is the QEMU used as the far end of the
 * two-instance test (e.g. a stock build): the wire format is checked
 * against it in both directions (see test-filter-redirector.c for the
 * other direction).
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#ifdef CONFIG_LINUX
#include <sys/ioctl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#endif
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qemu/bswap.h"
#include "colo-filter-rig.h"


static uint64_t qom_get_uint(QTestState *qts, const char *path,
                             const char *prop)
{
    QDict *resp = qtest_qmp(qts,
        "{'execute': 'qom-get', 'arguments': {'path': %s, 'property': %s}}",
        path, prop);
    uint64_t val = qnum_get_uint(qobject_to(QNum, qdict_get(resp, "return")));

    qobject_unref(resp);
    return val;
}

typedef struct MirrorCase {
    const char *queue;
    bool vnet;
} MirrorCase;

/*
 * A frame in the mirrored direction reaches both its destination and
 * outdev, byte for byte; frames in the other direction pass unmirrored.
 */
static void test_mirror_direction(const void *opaque)
{
    const MirrorCase *c = opaque;
    bool rx = strcmp(c->queue, "tx") != 0;
    bool tx = strcmp(c->queue, "rx") != 0;
    g_autofree char *mpath = NULL;
    uint64_t frames = 0, bytes = 0;
    Rig r;
    int lfd, out, i;

    rig_init(&r);
    mpath = rig_path(&r, "mout");
    lfd = listen_unix(mpath);
    rig_start(&r, NULL,
              "-chardev socket,id=mout,path=%s "
              "-object filter-mirror,id=m0,netdev=fnet,queue=%s,outdev=mout,"
              "vnet_hdr_support=%s",
              mpath, c->queue, c->vnet ? "on" : "off");
    out = accept_timeout(lfd);

    for (i = 0; i < 6; i++) {
        /* Alternate directions; sizes from tiny to jumbo. */
        static const size_t sizes[] = { 60, 1514, 9014, 14, 65536, 342 };
        bool to_guest = i % 2 == 0;
        g_autoptr(GByteArray) f = make_frame(sizes[i], i);
        g_autoptr(GByteArray) got = NULL;
        bool mirrored = to_guest ? tx : rx;

        /* tx of fnet: fnet sends to the hub; rx: the hub sends to fnet. */
        net_send(to_guest ? r.fnet : r.hnet, f->data, f->len);
        got = net_recv(to_guest ? r.hnet : r.fnet);
        assert_same(got, f);
        if (mirrored) {
            g_autoptr(GByteArray) m = NULL;
            uint32_t vlen;

            m = rec_recv(out, c->vnet, &vlen);
            assert_same(m, f);
            /* A socket netdev has no vnet header. */
            g_assert_cmpuint(vlen, ==, 0);
            frames++;
            bytes += f->len;
        }
        /*
         * The mirror copies before passing on, so its counter is final
         * once the frame came out of the far socket.
         */
        g_assert_cmpuint(stat_get(r.qts, "m0", "frames-out"), ==, frames);
    }
    g_assert_cmpuint(stat_get(r.qts, "m0", "bytes-out"), ==, bytes);
    g_assert_cmpuint(stat_get(r.qts, "m0", "drops-backlog"), ==, 0);
    g_assert_cmpuint(stat_get(r.qts, "m0", "drops-disconnected"), ==, 0);
    g_assert_cmpuint(stat_get(r.qts, "m0", "backlog-bytes"), ==, 0);
    /* Nothing but the expected records was written. */
    g_assert_true(fd_idle(out));

    close(out);
    close(lfd);
    rig_free(&r);
}

/*
 * A udp chardev never reports being open: it is written all the same,
 * one datagram per flush, in the usual record format.
 */
static void test_mirror_udp_outdev(void)
{
    g_autoptr(GByteArray) f = make_frame(342, 7);
    g_autoptr(GByteArray) got = NULL;
    uint16_t port;
    Rig r;
    int u = bind_udp(&port);

    rig_init(&r);
    rig_start(&r, NULL,
              "-chardev udp,id=mout,host=127.0.0.1,port=%d,"
              "localaddr=127.0.0.1,localport=0 "
              "-object filter-mirror,id=m0,netdev=fnet,queue=rx,outdev=mout",
              port);
    net_send(r.hnet, f->data, f->len);
    got = net_recv(r.fnet);
    assert_same(got, f);
    expect_udp_record(u, f);
    g_assert_cmpuint(stat_get(r.qts, "m0", "frames-out"), ==, 1);
    g_assert_cmpuint(stat_get(r.qts, "m0", "drops-disconnected"), ==, 0);

    close(u);
    rig_free(&r);
}

/*
 * A real vnet header: tap with vnet_hdr=on + virtio-net.  Frames are
 * injected with a redirector (rx, towards the tap) and mirrored by a
 * filter that comes before it in the chain.  Needs CAP_NET_ADMIN.
 */
/* Can this process create a tap with vnet headers?  Skip if not. */
static bool tap_usable(void)
{
#ifdef CONFIG_LINUX
    struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
    int fd = open("/dev/net/tun", O_RDWR);
    int ret;

    if (fd < 0) {
        g_test_skip("no usable /dev/net/tun");
        return false;
    }
    /* A non-persistent tap: it vanishes when fd is closed. */
    ret = ioctl(fd, TUNSETIFF, &ifr);
    close(fd);
    if (ret < 0) {
        g_test_skip("cannot create a tap (needs CAP_NET_ADMIN)");
        return false;
    }
    if (!qtest_has_device("virtio-net-pci")) {
        g_test_skip("no virtio-net-pci");
        return false;
    }
    return true;
#else
    g_test_skip("tap with vnet headers: Linux only");
    return false;
#endif
}

/*
 * The guest never runs (qtest accelerator), so an empty firmware image
 * will do; it keeps the test independent of where firmware is installed.
 */
static char *fake_bios(Rig *r)
{
    g_autofree uint8_t *zero = g_malloc0(64 * 1024);
    char *path = g_build_filename(r->dir, "bios.bin", NULL);

    g_assert_true(g_file_set_contents(path, (char *)zero, 64 * 1024, NULL));
    return path;
}

static void test_mirror_vnet_tap(void)
{
    g_autofree char *mpath = NULL, *ipath = NULL, *ifname = NULL;
    g_autofree char *bios = NULL;
    g_autoptr(GByteArray) f = make_frame(60, 7);
    g_autoptr(GByteArray) m = NULL;
    uint8_t vhdr[10] = { 0 };
    GByteArray *in;
    uint32_t vlen;
    Rig r;
    int lfd, ilfd, out, inp;

    if (!tap_usable()) {
        return;
    }

    rig_init(&r);
    mpath = rig_path(&r, "mout");
    ipath = rig_path(&r, "rin");
    ifname = g_strdup_printf("colom%d", getpid() % 100000);
    bios = fake_bios(&r);
    lfd = listen_unix(mpath);
    ilfd = listen_unix(ipath);
    r.qts = qtest_initf(
        "-M pc -nodefaults -bios %s "
        "-netdev tap,id=tnet,ifname=%s,script=no,downscript=no,vnet_hdr=on "
        "-device virtio-net-pci,netdev=tnet,romfile= "
        "-chardev socket,id=mout,path=%s -chardev socket,id=rin,path=%s "
        "-object filter-mirror,id=m0,netdev=tnet,queue=rx,outdev=mout,"
        "vnet_hdr_support=on "
        "-object filter-redirector,id=r0,netdev=tnet,queue=rx,indev=rin,"
        "vnet_hdr_support=on", bios, ifname, mpath, ipath);
    out = accept_timeout(lfd);
    inp = accept_timeout(ilfd);

    /* The frame as the virtio-net/tap pair carries it: header first. */
    in = g_byte_array_new();
    g_byte_array_append(in, vhdr, sizeof(vhdr));
    g_byte_array_append(in, f->data, f->len);
    rec_send(inp, true, in->len, sizeof(vhdr), in->data, in->len);
    m = rec_recv(out, true, &vlen);
    /* L counts the header; V is the netdev's vnet header length. */
    assert_same(m, in);
    g_assert_cmpuint(vlen, ==, sizeof(vhdr));
    g_assert_cmpuint(stat_get(r.qts, "r0", "frames-in"), ==, 1);
    g_assert_cmpuint(stat_get(r.qts, "m0", "bytes-out"), ==, in->len);
    g_byte_array_unref(in);

    close(out);
    close(inp);
    close(lfd);
    close(ilfd);
    rig_free(&r);
}

/*
 * The same with two QEMUs: the tap-side QEMU mirrors the frame (with its
 * real vnet header, V = 10) to the redirector of another QEMU, which
 * injects it whole.  One of the two is COLO_PEER_QEMU_BINARY (e.g. stock
 * QEMU): @peer_tap says which.
 */
static void test_mirror_vnet_tap_two_qemus(const void *opaque)
{
    bool peer_tap = *(const bool *)opaque;
    g_autofree char *lpath = NULL, *ipath = NULL, *ifname = NULL;
    g_autofree char *args = NULL, *bios = NULL;
    g_autoptr(GByteArray) f = make_frame(90, 8);
    g_autoptr(GByteArray) got = NULL;
    uint8_t vhdr[10] = { 0 };
    GByteArray *in;
    QTestState *tap_qts;
    Rig r;
    int ilfd, inp, i;

    if (!tap_usable()) {
        return;
    }
    rig_init(&r);
    lpath = rig_path(&r, "link");
    ipath = rig_path(&r, "rin");
    ifname = g_strdup_printf("colon%d", getpid() % 100000);
    bios = fake_bios(&r);
    ilfd = listen_unix(ipath);
    rig_start(&r, peer_tap ? NULL : "COLO_PEER_QEMU_BINARY",
              "-chardev socket,id=lin,path=%s,server=on,wait=off "
              "-object filter-redirector,id=r1,netdev=fnet,queue=tx,"
              "indev=lin,vnet_hdr_support=on", lpath);
    args = g_strdup_printf(
        "-M pc -nodefaults -bios %s "
        "-netdev tap,id=tnet,ifname=%s,script=no,downscript=no,vnet_hdr=on "
        "-device virtio-net-pci,netdev=tnet,romfile= "
        "-chardev socket,id=lout,path=%s -chardev socket,id=rin,path=%s "
        "-object filter-mirror,id=m0,netdev=tnet,queue=rx,outdev=lout,"
        "vnet_hdr_support=on "
        "-object filter-redirector,id=r0,netdev=tnet,queue=rx,indev=rin,"
        "vnet_hdr_support=on", bios, ifname, lpath, ipath);
    tap_qts = qtest_init_with_env(peer_tap ? "COLO_PEER_QEMU_BINARY" : NULL,
                                  args, true);
    inp = accept_timeout(ilfd);

    in = g_byte_array_new();
    g_byte_array_append(in, vhdr, sizeof(vhdr));
    g_byte_array_append(in, f->data, f->len);
    for (i = 0; i < 3; i++) {
        rec_send(inp, true, in->len, sizeof(vhdr), in->data, in->len);
        /* Header included: the redirector injects all L bytes. */
        got = net_recv(r.hnet);
        assert_same(got, in);
        g_byte_array_unref(got);
        got = NULL;
    }
    if (peer_tap) {
        g_assert_cmpuint(stat_get(r.qts, "r1", "frames-in"), ==, 3);
        g_assert_cmpuint(stat_get(r.qts, "r1", "malformed-in"), ==, 0);
    } else {
        g_assert_cmpuint(stat_get(tap_qts, "m0", "frames-out"), ==, 3);
    }
    g_byte_array_unref(in);

    qtest_quit(tap_qts);
    close(inp);
    close(ilfd);
    rig_free(&r);
}

/* object-add / object-del at runtime, and status off/on. */
static void test_mirror_runtime(void)
{
    g_autofree char *mpath = NULL;
    Rig r;
    int lfd, out, i;

    rig_init(&r);
    mpath = rig_path(&r, "mout");
    lfd = listen_unix(mpath);
    rig_start(&r, NULL, "%s", "");

    for (i = 0; i < 2; i++) {
        g_autoptr(GByteArray) f1 = make_frame(100 + i, 1);
        g_autoptr(GByteArray) f2 = make_frame(200 + i, 2);
        g_autoptr(GByteArray) f3 = make_frame(300 + i, 3);
        g_autoptr(GByteArray) got = NULL;
        uint32_t vlen;

        qtest_qmp_assert_success(r.qts,
            "{'execute': 'chardev-add', 'arguments': {'id': 'mout',"
            " 'backend': {'type': 'socket', 'data': {'server': false,"
            " 'addr': {'type': 'unix', 'data': {'path': %s}}}}}}", mpath);
        out = accept_timeout(lfd);
        qtest_qmp_assert_success(r.qts,
            "{'execute': 'object-add', 'arguments': {"
            " 'qom-type': 'filter-mirror', 'id': 'm0', 'netdev': 'fnet',"
            " 'queue': 'rx', 'outdev': 'mout'}}");
        qtest_qmp_assert_success(r.qts,
            "{'execute': 'qom-set', 'arguments': {'path': '/objects/m0',"
            " 'property': 'max-backlog', 'value': 1000000}}");

        net_send(r.hnet, f1->data, f1->len);
        got = net_recv(r.fnet);
        assert_same(got, f1);
        g_byte_array_unref(got);
        got = rec_recv(out, false, &vlen);
        assert_same(got, f1);
        g_byte_array_unref(got);

        /* Off: frames pass, unmirrored. */
        qtest_qmp_assert_success(r.qts,
            "{'execute': 'qom-set', 'arguments': {'path': '/objects/m0',"
            " 'property': 'status', 'value': 'off'}}");
        net_send(r.hnet, f2->data, f2->len);
        got = net_recv(r.fnet);
        assert_same(got, f2);
        g_byte_array_unref(got);
        g_assert_cmpuint(stat_get(r.qts, "m0", "frames-out"), ==, 1);

        /* On again: the next frame is mirrored, and is the next record. */
        qtest_qmp_assert_success(r.qts,
            "{'execute': 'qom-set', 'arguments': {'path': '/objects/m0',"
            " 'property': 'status', 'value': 'on'}}");
        net_send(r.hnet, f3->data, f3->len);
        got = net_recv(r.fnet);
        assert_same(got, f3);
        g_byte_array_unref(got);
        got = rec_recv(out, false, &vlen);
        assert_same(got, f3);
        g_assert_cmpuint(stat_get(r.qts, "m0", "frames-out"), ==, 2);

        /* Delete the filter, then the chardev it used. */
        qtest_qmp_assert_success(r.qts,
            "{'execute': 'object-del', 'arguments': {'id': 'm0'}}");
        g_assert_false(proxy_exists(r.qts, "m0"));
        qtest_qmp_assert_success(r.qts,
            "{'execute': 'chardev-remove', 'arguments': {'id': 'mout'}}");
        wait_eof(out);
        close(out);

        /* Traffic still flows without the filter. */
        net_send(r.hnet, f1->data, f1->len);
        g_byte_array_unref(got);
        got = net_recv(r.fnet);
        assert_same(got, f1);
    }
    close(lfd);
    rig_free(&r);
}

/* Every bad configuration fails object-add with an error; QEMU lives. */
static void test_mirror_bad_args(void)
{
    g_autofree char *mpath = NULL;
    g_autoptr(GByteArray) f = make_frame(64, 9);
    g_autoptr(GByteArray) got = NULL;
    Rig r;
    int lfd, out;

    rig_init(&r);
    mpath = rig_path(&r, "mout");
    lfd = listen_unix(mpath);
    rig_start(&r, NULL,
              "-chardev socket,id=mout,path=%s "
              "-object filter-mirror,id=m0,netdev=fnet,queue=all,outdev=mout",
              mpath);
    out = accept_timeout(lfd);

    qmp_expect_error(r.qts, "outdev",
        "{'execute': 'object-add', 'arguments': {"
        " 'qom-type': 'filter-mirror', 'id': 'bad', 'netdev': 'fnet'}}");
    qmp_expect_error(r.qts, "nosuch",
        "{'execute': 'object-add', 'arguments': {"
        " 'qom-type': 'filter-mirror', 'id': 'bad', 'netdev': 'fnet',"
        " 'outdev': 'nosuch'}}");
    /* mout already has a frontend: m0. */
    qmp_expect_error(r.qts, "mout",
        "{'execute': 'object-add', 'arguments': {"
        " 'qom-type': 'filter-mirror', 'id': 'bad', 'netdev': 'fnet',"
        " 'outdev': 'mout'}}");
    qmp_expect_error(r.qts, "netdev",
        "{'execute': 'object-add', 'arguments': {"
        " 'qom-type': 'filter-mirror', 'id': 'bad', 'netdev': 'nonet',"
        " 'outdev': 'mout'}}");
    qmp_expect_error(r.qts, "max-backlog",
        "{'execute': 'qom-set', 'arguments': {'path': '/objects/m0',"
        " 'property': 'max-backlog', 'value': 100}}");
    /* The wire format cannot change under a running stream. */
    qmp_expect_error(r.qts, "vnet_hdr_support",
        "{'execute': 'qom-set', 'arguments': {'path': '/objects/m0',"
        " 'property': 'vnet_hdr_support', 'value': true}}");
    g_assert_false(proxy_exists(r.qts, "bad"));
    g_assert_true(proxy_exists(r.qts, "m0"));

    /* m0 still works. */
    net_send(r.fnet, f->data, f->len);
    got = net_recv(r.hnet);
    assert_same(got, f);
    g_byte_array_unref(got);
    {
        uint32_t vlen;

        got = rec_recv(out, false, &vlen);
        assert_same(got, f);
    }
    close(out);
    close(lfd);
    rig_free(&r);
}

/* max-backlog given at creation (needs it in qapi/qom.json). */
static void test_mirror_max_backlog_prop(void)
{
    bool created;
    QDict *resp;
    Rig r;

    rig_init(&r);
    rig_start(&r, NULL, "%s", "-chardev null,id=c0 -chardev null,id=c1");
    resp = qtest_qmp(r.qts,
        "{'execute': 'object-add', 'arguments': {"
        " 'qom-type': 'filter-mirror', 'id': 'm0', 'netdev': 'fnet',"
        " 'outdev': 'c0', 'max-backlog': 300000}}");
    created = !qdict_haskey(resp, "error");
    if (!created) {
        const char *desc = qdict_get_str(qdict_get_qdict(resp, "error"),
                                         "desc");

        g_assert_nonnull(strstr(desc, "max-backlog"));
        g_test_skip("qapi/qom.json does not list max-backlog yet");
    } else {
        g_assert_cmpuint(qom_get_uint(r.qts, "/objects/m0", "max-backlog"),
                         ==, 300000);
        qmp_expect_error(r.qts, "max-backlog",
            "{'execute': 'object-add', 'arguments': {"
            " 'qom-type': 'filter-redirector', 'id': 'r0', 'netdev': 'fnet',"
            " 'outdev': 'c1', 'max-backlog': 65536}}");
        /* The failed object-add left c1 free. */
        qtest_qmp_assert_success(r.qts,
            "{'execute': 'object-add', 'arguments': {"
            " 'qom-type': 'filter-redirector', 'id': 'r0', 'netdev': 'fnet',"
            " 'outdev': 'c1', 'max-backlog': 69640}}");
        g_assert_cmpuint(qom_get_uint(r.qts, "/objects/r0", "max-backlog"),
                         ==, 69640);
    }
    qobject_unref(resp);
    /* Default, when not given. */
    if (created) {
        qtest_qmp_assert_success(r.qts,
            "{'execute': 'object-del', 'arguments': {'id': 'm0'}}");
    }
    qtest_qmp_assert_success(r.qts,
        "{'execute': 'object-add', 'arguments': {"
        " 'qom-type': 'filter-mirror', 'id': 'm0', 'netdev': 'fnet',"
        " 'outdev': 'c0'}}");
    g_assert_cmpuint(qom_get_uint(r.qts, "/objects/m0", "max-backlog"), ==,
                     4 * 1024 * 1024);
    rig_free(&r);
}

/*
 * A peer that does not read: the backlog fills up to max-backlog, then
 * frames are dropped and counted, while traffic and QMP go on.  When the
 * peer reads at last, it gets whole records in order.
 */
static void test_mirror_backlog(void)
{
    const uint64_t limit = 200000;
    g_autofree char *mpath = NULL;
    GPtrArray *sent = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_byte_array_unref);
    uint64_t frames_out, drops, i;
    Rig r;
    int lfd, out, sz = 4096;

    rig_init(&r);
    mpath = rig_path(&r, "mout");
    lfd = listen_unix(mpath);
    rig_start(&r, NULL,
              "-chardev socket,id=mout,path=%s "
              "-object filter-mirror,id=m0,netdev=fnet,queue=rx,outdev=mout",
              mpath);
    out = accept_timeout(lfd);
    /* qom-set, so that this works whatever qom.json says. */
    qtest_qmp_assert_success(r.qts,
        "{'execute': 'qom-set', 'arguments': {'path': '/objects/m0',"
        " 'property': 'max-backlog', 'value': %" PRIu64 "}}", limit);
    g_assert_cmpuint(qom_get_uint(r.qts, "/objects/m0", "max-backlog"),
                     ==, limit);
    /* Keep the kernel's buffering small. */
    setsockopt(out, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));

    for (i = 0; stat_get(r.qts, "m0", "drops-backlog") < 5; i++) {
        GByteArray *f = make_frame(1400, i);
        g_autoptr(GByteArray) got = NULL;

        g_assert_cmpuint(i, <, 100000);
        net_send(r.hnet, f->data, f->len);
        got = net_recv(r.fnet);
        assert_same(got, f);
        g_ptr_array_add(sent, f);
        g_assert_cmpuint(stat_get(r.qts, "m0", "backlog-bytes"), <=, limit);
    }
    frames_out = stat_get(r.qts, "m0", "frames-out");
    drops = stat_get(r.qts, "m0", "drops-backlog");
    g_assert_cmpuint(frames_out + drops, ==, sent->len);
    g_assert_cmpuint(stat_get(r.qts, "m0", "backlog-bytes"), >, 0);

    /*
     * Read everything: a prefix of the frames in order, then the frames
     * accepted after each drop; every record whole.  Match them in order
     * against what was sent, skipping the dropped ones.
     */
    {
        guint next = 0;

        for (i = 0; i < frames_out; i++) {
            uint32_t vlen;
            g_autoptr(GByteArray) m = rec_recv(out, false, &vlen);

            while (next < sent->len &&
                   (((GByteArray *)g_ptr_array_index(sent, next))->len !=
                    m->len ||
                    memcmp(((GByteArray *)g_ptr_array_index(sent, next))->data,
                           m->data, m->len))) {
                next++;
            }
            g_assert_cmpuint(next, <, sent->len);
            next++;
        }
    }
    stat_wait(r.qts, "m0", "backlog-bytes", 0);
    g_assert_cmpuint(stat_get(r.qts, "m0", "backlog-bytes"), ==, 0);
    g_assert_true(fd_idle(out));

    g_ptr_array_unref(sent);
    close(out);
    close(lfd);
    rig_free(&r);
}

/*
 * The outdev peer goes away: frames are dropped (and counted) until the
 * chardev reconnects, then mirroring resumes with a clean stream.
 */
static void test_mirror_reconnect(void)
{
    g_autofree char *mpath = NULL;
    g_autoptr(GByteArray) f1 = make_frame(500, 1);
    g_autoptr(GByteArray) f2 = make_frame(600, 2);
    g_autoptr(GByteArray) f3 = make_frame(700, 3);
    g_autoptr(GByteArray) got = NULL;
    uint32_t vlen;
    Rig r;
    int lfd, out;

    rig_init(&r);
    mpath = rig_path(&r, "mout");
    lfd = listen_unix(mpath);
    rig_start(&r, NULL,
              "-chardev socket,id=mout,path=%s,reconnect-ms=100 "
              "-object filter-mirror,id=m0,netdev=fnet,queue=tx,outdev=mout,"
              "vnet_hdr_support=on", mpath);
    chardev_wait(r.qts, "mout", true);
    out = accept_timeout(lfd);

    net_send(r.fnet, f1->data, f1->len);
    got = net_recv(r.hnet);
    g_byte_array_unref(got);
    got = rec_recv(out, true, &vlen);
    assert_same(got, f1);
    g_byte_array_unref(got);

    /*
     * The peer goes away, and so does its listener: QEMU's reconnection
     * attempts fail until it is back.
     */
    close(lfd);
    unlink(mpath);
    close(out);
    stat_wait(r.qts, "m0", "peer-disconnects", 1);
    chardev_wait(r.qts, "mout", false);
    net_send(r.fnet, f2->data, f2->len);
    got = net_recv(r.hnet);
    assert_same(got, f2);
    g_byte_array_unref(got);
    /* Not mirrored: dropped and counted. */
    g_assert_cmpuint(stat_get(r.qts, "m0", "drops-disconnected"), ==, 1);
    g_assert_cmpuint(stat_get(r.qts, "m0", "frames-out"), ==, 1);

    lfd = listen_unix(mpath);
    out = accept_timeout(lfd);
    chardev_wait(r.qts, "mout", true);
    net_send(r.fnet, f3->data, f3->len);
    got = net_recv(r.hnet);
    g_byte_array_unref(got);
    /* The new connection starts at a record boundary, with f3. */
    got = rec_recv(out, true, &vlen);
    assert_same(got, f3);
    g_assert_cmpuint(stat_get(r.qts, "m0", "frames-out"), ==, 2);
    g_assert_cmpuint(stat_get(r.qts, "m0", "peer-disconnects"), ==, 1);

    close(out);
    close(lfd);
    rig_free(&r);
}

/*
 * Primary and secondary, as COLO wires them: the mirror of one QEMU
 * feeds, over a UNIX socket, the redirector of another one, which
 * injects the frames towards its guest.  The secondary is
 * COLO_PEER_QEMU_BINARY when set (e.g. stock QEMU): our output must be
 * understood by it.
 */
static void test_mirror_to_other_qemu(const void *opaque)
{
    bool vnet = *(const bool *)opaque;
    g_autofree char *path = NULL;
    Rig pri, sec;
    int i;

    rig_init(&sec);
    rig_init(&pri);
    path = rig_path(&sec, "mirror");
    rig_start(&sec, "COLO_PEER_QEMU_BINARY",
              "-chardev socket,id=red0,path=%s,server=on,wait=off "
              "-object filter-redirector,id=r0,netdev=fnet,queue=tx,"
              "indev=red0,vnet_hdr_support=%s", path, vnet ? "on" : "off");
    rig_start(&pri, NULL,
              "-chardev socket,id=mir0,path=%s,reconnect-ms=1000 "
              "-object filter-mirror,id=m0,netdev=fnet,queue=rx,"
              "outdev=mir0,vnet_hdr_support=%s", path, vnet ? "on" : "off");
    chardev_wait(pri.qts, "mir0", true);

    for (i = 0; i < 20; i++) {
        g_autoptr(GByteArray) f = make_frame(60 + i * 397, i);
        g_autoptr(GByteArray) got = NULL;

        /* A frame for the primary guest... */
        net_send(pri.hnet, f->data, f->len);
        got = net_recv(pri.fnet);
        assert_same(got, f);
        g_byte_array_unref(got);
        /* ...is also delivered to the secondary guest, via the mirror. */
        got = net_recv(sec.hnet);
        assert_same(got, f);
    }
    g_assert_cmpuint(stat_get(pri.qts, "m0", "frames-out"), ==, 20);
    g_assert_true(fd_idle(sec.fnet));

    rig_free(&pri);
    rig_free(&sec);
}

int main(int argc, char **argv)
{
    static const MirrorCase cases[] = {
        { "rx", false }, { "rx", true },
        { "tx", false }, { "tx", true },
        { "all", false }, { "all", true },
    };
    static const bool vnet_off = false, vnet_on = true;
    static const bool our_tap = false, peer_tap = true;
    int i;

    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        const MirrorCase *mc = &cases[i];
        g_autofree char *name = g_strdup_printf("/filter-mirror/%s/vnet-%s",
                                                mc->queue,
                                                mc->vnet ? "on" : "off");

        qtest_add_data_func(name, mc, test_mirror_direction);
    }
    qtest_add_func("/filter-mirror/vnet-tap", test_mirror_vnet_tap);
    qtest_add_data_func("/filter-mirror/vnet-tap-two-qemus/our-tap",
                        &our_tap, test_mirror_vnet_tap_two_qemus);
    qtest_add_data_func("/filter-mirror/vnet-tap-two-qemus/peer-tap",
                        &peer_tap, test_mirror_vnet_tap_two_qemus);
    qtest_add_func("/filter-mirror/runtime", test_mirror_runtime);
    qtest_add_func("/filter-mirror/udp-outdev", test_mirror_udp_outdev);
    qtest_add_func("/filter-mirror/bad-args", test_mirror_bad_args);
    qtest_add_func("/filter-mirror/backlog", test_mirror_backlog);
    qtest_add_func("/filter-mirror/max-backlog-property",
                   test_mirror_max_backlog_prop);
    qtest_add_func("/filter-mirror/reconnect", test_mirror_reconnect);
    qtest_add_data_func("/filter-mirror/to-other-qemu/vnet-off", &vnet_off,
                        test_mirror_to_other_qemu);
    qtest_add_data_func("/filter-mirror/to-other-qemu/vnet-on", &vnet_on,
                        test_mirror_to_other_qemu);
    return g_test_run();
}
