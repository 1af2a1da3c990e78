/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QTest of filter-redirector.
 *
 * Same rig as test-filter-mirror.c: the filtered netdev "fnet" is a
 * socket netdev joined through a hub to a second one, "hnet"; the test
 * holds the other end of both sockets.  A frame written to hnet reaches
 * fnet through the rx direction of fnet's filters and comes out of
 * fnet's socket; a frame written to fnet goes the tx way and comes out
 * of hnet's socket.  Frames injected from indev in the rx direction
 * therefore come out of fnet's socket, those injected for tx out of
 * hnet's.
 *
 * COLO_PEER_QEMU_BINARY, if set, is the QEMU used as the other end of
 * the two-instance tests (e.g. a stock build), so that the wire format
 * is checked against it in both directions.
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qemu/bswap.h"
#include "colo-filter-rig.h"


typedef struct RedirCase {
    const char *queue;
    bool vnet;
} RedirCase;

static const char *onoff(bool b)
{
    return b ? "on" : "off";
}

/*
 * outdev only: frames of the filter's direction go to outdev and stop
 * there; the other direction passes untouched.
 */
static void test_redirector_outdev(const void *opaque)
{
    const RedirCase *c = opaque;
    bool tx = !strcmp(c->queue, "tx");
    g_autofree char *opath = NULL;
    uint64_t bytes = 0;
    Rig r;
    int lfd, out, i;

    rig_init(&r);
    opath = rig_path(&r, "rout");
    lfd = listen_unix(opath);
    rig_start(&r, NULL,
              "-chardev socket,id=rout,path=%s "
              "-object filter-redirector,id=r0,netdev=fnet,queue=%s,"
              "outdev=rout,vnet_hdr_support=%s",
              opath, c->queue, onoff(c->vnet));
    out = accept_timeout(lfd);

    for (i = 0; i < 4; i++) {
        g_autoptr(GByteArray) f = make_frame(60 + i * 1000, i);
        g_autoptr(GByteArray) got = NULL;
        uint32_t vlen;
        /* i even: in the filter's direction; odd: the other one. */
        bool from_fnet = (i % 2 == 0) == tx;
        int src = from_fnet ? r.fnet : r.hnet;
        int dst = from_fnet ? r.hnet : r.fnet;

        net_send(src, f->data, f->len);
        if (i % 2 == 0) {
            got = rec_recv(out, c->vnet, &vlen);
            assert_same(got, f);
            g_assert_cmpuint(vlen, ==, 0);
            bytes += f->len;
            /*
             * Passing the frame on would have happened before the
             * write to outdev: the destination must be empty.
             */
            g_assert_true(fd_idle(dst));
        } else {
            got = net_recv(dst);
            assert_same(got, f);
            g_assert_true(fd_idle(out));
        }
    }
    g_assert_cmpuint(stat_get(r.qts, "r0", "frames-out"), ==, 2);
    g_assert_cmpuint(stat_get(r.qts, "r0", "bytes-out"), ==, bytes);
    g_assert_cmpuint(stat_get(r.qts, "r0", "frames-in"), ==, 0);

    close(out);
    close(lfd);
    rig_free(&r);
}

/*
 * indev only: records read from indev are injected in the filter's
 * direction (both ways for queue=all), whole, vnet header included.
 */
static void test_redirector_indev(const void *opaque)
{
    const RedirCase *c = opaque;
    bool to_fnet = strcmp(c->queue, "tx") != 0;   /* rx or all */
    bool to_hnet = strcmp(c->queue, "rx") != 0;   /* tx or all */
    g_autofree char *ipath = NULL;
    uint64_t bytes = 0;
    Rig r;
    int lfd, in, i;

    rig_init(&r);
    ipath = rig_path(&r, "rin");
    lfd = listen_unix(ipath);
    rig_start(&r, NULL,
              "-chardev socket,id=rin,path=%s "
              "-object filter-redirector,id=r0,netdev=fnet,queue=%s,"
              "indev=rin,vnet_hdr_support=%s",
              ipath, c->queue, onoff(c->vnet));
    in = accept_timeout(lfd);

    for (i = 0; i < 5; i++) {
        static const size_t sizes[] = { 60, 1, 9014, 65536, 1514 };
        g_autoptr(GByteArray) f = make_frame(sizes[i], i);
        uint32_t vlen = c->vnet ? MIN(f->len, 10 + i) : 0;

        rec_send(in, c->vnet, f->len, vlen, f->data, f->len);
        if (to_fnet) {
            g_autoptr(GByteArray) got = net_recv(r.fnet);
            assert_same(got, f);
        }
        if (to_hnet) {
            g_autoptr(GByteArray) got = net_recv(r.hnet);
            assert_same(got, f);
        }
        bytes += f->len;
    }
    /* Several records in one write, split at odd places. */
    {
        g_autoptr(GByteArray) wire = g_byte_array_new();
        uint8_t hdr[8];

        for (i = 0; i < 3; i++) {
            g_autoptr(GByteArray) f = make_frame(100 + i, 10 + i);

            stl_be_p(hdr, f->len);
            stl_be_p(hdr + 4, 0);
            g_byte_array_append(wire, hdr, c->vnet ? 8 : 4);
            g_byte_array_append(wire, f->data, f->len);
            bytes += f->len;
        }
        write_all(in, wire->data, 3);
        write_all(in, wire->data + 3, wire->len - 3);
        for (i = 0; i < 3; i++) {
            g_autoptr(GByteArray) f = make_frame(100 + i, 10 + i);

            if (to_fnet) {
                g_autoptr(GByteArray) got = net_recv(r.fnet);
                assert_same(got, f);
            }
            if (to_hnet) {
                g_autoptr(GByteArray) got = net_recv(r.hnet);
                assert_same(got, f);
            }
        }
    }
    g_assert_cmpuint(stat_get(r.qts, "r0", "frames-in"), ==, 8);
    g_assert_cmpuint(stat_get(r.qts, "r0", "bytes-in"), ==, bytes);
    g_assert_cmpuint(stat_get(r.qts, "r0", "malformed-in"), ==, 0);
    g_assert_cmpuint(stat_get(r.qts, "r0", "frames-out"), ==, 0);
    if (!to_fnet) {
        g_assert_true(fd_idle(r.fnet));
    }
    if (!to_hnet) {
        g_assert_true(fd_idle(r.hnet));
    }

    close(in);
    close(lfd);
    rig_free(&r);
}

/*
 * One QEMU, two redirectors and a chardev loop: r0 takes the frames of
 * its direction to its outdev, which is connected to r1's indev; r1
 * injects them back, and they reach their destination.
 */
static void test_redirector_chain(const void *opaque)
{
    const RedirCase *c = opaque;
    bool tx = !strcmp(c->queue, "tx");
    g_autofree char *path = NULL;
    Rig r;
    int i;

    rig_init(&r);
    path = rig_path(&r, "loop");
    /*
     * The chain is walked head to tail for tx and tail to head for rx:
     * r0 must come first in the walk, r1 after it.
     */
    rig_start(&r, NULL,
              "-chardev socket,id=lin,path=%s,server=on,wait=off "
              "-chardev socket,id=lout,path=%s "
              "-object filter-redirector,id=%s,netdev=fnet,queue=%s,"
              "%s=%s,vnet_hdr_support=%s "
              "-object filter-redirector,id=%s,netdev=fnet,queue=%s,"
              "%s=%s,vnet_hdr_support=%s",
              path, path,
              tx ? "r0" : "r1", c->queue, tx ? "outdev" : "indev",
              tx ? "lout" : "lin", onoff(c->vnet),
              tx ? "r1" : "r0", c->queue, tx ? "indev" : "outdev",
              tx ? "lin" : "lout", onoff(c->vnet));
    chardev_wait(r.qts, "lin", true);

    for (i = 0; i < 10; i++) {
        g_autoptr(GByteArray) f = make_frame(60 + i * 700, i);
        g_autoptr(GByteArray) got = NULL;

        net_send(tx ? r.fnet : r.hnet, f->data, f->len);
        got = net_recv(tx ? r.hnet : r.fnet);
        assert_same(got, f);
    }
    g_assert_cmpuint(stat_get(r.qts, "r0", "frames-out"), ==, 10);
    g_assert_cmpuint(stat_get(r.qts, "r1", "frames-in"), ==, 10);
    g_assert_cmpuint(stat_get(r.qts, "r0", "frames-in"), ==, 0);
    g_assert_cmpuint(stat_get(r.qts, "r1", "frames-out"), ==, 0);
    rig_free(&r);
}

typedef struct BadInput {
    const char *name;
    bool vnet;
    uint32_t len, vlen;     /* the bad prefix */
    bool cut;               /* instead: half a frame, then disconnect */
} BadInput;

/*
 * A malformed record is refused, counted, and the connection dropped;
 * QEMU keeps running and the next connection works.  A stream cut in
 * the middle of a frame is counted as a reset.
 */
static void test_redirector_bad_input(const void *opaque)
{
    const BadInput *b = opaque;
    g_autofree char *ipath = NULL;
    g_autoptr(GByteArray) f1 = make_frame(300, 1);
    g_autoptr(GByteArray) f2 = make_frame(400, 2);
    g_autoptr(GByteArray) got = NULL;
    Rig r;
    int lfd, in;

    rig_init(&r);
    ipath = rig_path(&r, "rin");
    lfd = listen_unix(ipath);
    rig_start(&r, NULL,
              "-chardev socket,id=rin,path=%s,reconnect-ms=50 "
              "-object filter-redirector,id=r0,netdev=fnet,queue=rx,"
              "indev=rin,vnet_hdr_support=%s", ipath, onoff(b->vnet));
    chardev_wait(r.qts, "rin", true);
    in = accept_timeout(lfd);

    rec_send(in, b->vnet, f1->len, 0, f1->data, f1->len);
    got = net_recv(r.fnet);
    assert_same(got, f1);
    g_byte_array_unref(got);

    if (b->cut) {
        rec_send(in, b->vnet, f2->len, 0, f2->data, f2->len / 2);
        /* Wait until QEMU has read the half frame, then cut. */
        while (!fd_idle(in)) {
            g_usleep(1000);
        }
        close(in);
        stat_wait(r.qts, "r0", "stream-resets", 1);
        g_assert_cmpuint(stat_get(r.qts, "r0", "malformed-in"), ==, 0);
    } else {
        /*
         * A bad prefix followed by what would be a good record, in one
         * send: QEMU may close the socket as soon as it sees the prefix.
         */
        g_autoptr(GByteArray) wire = g_byte_array_new();
        uint8_t hdr[8];

        stl_be_p(hdr, b->len);
        stl_be_p(hdr + 4, b->vlen);
        g_byte_array_append(wire, hdr, b->vnet ? 8 : 4);
        stl_be_p(hdr, f2->len);
        stl_be_p(hdr + 4, 0);
        g_byte_array_append(wire, hdr, b->vnet ? 8 : 4);
        g_byte_array_append(wire, f2->data, f2->len);
        g_assert_cmpint(send(in, wire->data, wire->len, MSG_NOSIGNAL), >, 0);
        /* QEMU drops the connection. */
        wait_eof(in);
        close(in);
        stat_wait(r.qts, "r0", "malformed-in", 1);
        g_assert_cmpuint(stat_get(r.qts, "r0", "stream-resets"), ==, 1);
    }
    g_assert_cmpuint(stat_get(r.qts, "r0", "frames-in"), ==, 1);
    /* Nothing of the bad record or what followed it got through. */
    g_assert_true(fd_idle(r.fnet));

    /* The chardev reconnects and the next stream is read normally. */
    in = accept_timeout(lfd);
    chardev_wait(r.qts, "rin", true);
    rec_send(in, b->vnet, f2->len, 0, f2->data, f2->len);
    got = net_recv(r.fnet);
    assert_same(got, f2);
    g_assert_cmpuint(stat_get(r.qts, "r0", "frames-in"), ==, 2);
    g_assert_cmpuint(stat_get(r.qts, "r0", "stream-resets"), ==, 1);
    g_assert_cmpuint(stat_get(r.qts, "r0", "peer-disconnects"), >=, 1);

    close(in);
    close(lfd);
    rig_free(&r);
}

/*
 * status=off pauses reading indev (the bytes wait in the socket) and
 * lets the frames of the filter's direction pass; status=on resumes.
 */
static void test_redirector_status(void)
{
    g_autofree char *ipath = NULL, *opath = NULL;
    g_autoptr(GByteArray) f1 = make_frame(100, 1);
    g_autoptr(GByteArray) f2 = make_frame(200, 2);
    g_autoptr(GByteArray) got = NULL;
    uint32_t vlen;
    Rig r;
    int ilfd, olfd, in, out;

    rig_init(&r);
    ipath = rig_path(&r, "rin");
    opath = rig_path(&r, "rout");
    ilfd = listen_unix(ipath);
    olfd = listen_unix(opath);
    rig_start(&r, NULL,
              "-chardev socket,id=rin,path=%s -chardev socket,id=rout,path=%s "
              "-object filter-redirector,id=r0,netdev=fnet,queue=tx,"
              "indev=rin,outdev=rout,status=off", ipath, opath);
    in = accept_timeout(ilfd);
    out = accept_timeout(olfd);

    /* Off from the start: frames pass, indev is not read. */
    rec_send(in, false, f1->len, 0, f1->data, f1->len);
    net_send(r.fnet, f2->data, f2->len);
    got = net_recv(r.hnet);
    assert_same(got, f2);
    g_byte_array_unref(got);
    g_assert_cmpuint(stat_get(r.qts, "r0", "frames-in"), ==, 0);
    g_assert_cmpuint(stat_get(r.qts, "r0", "frames-out"), ==, 0);

    /* On: the waiting record is injected (towards hnet, for tx). */
    qtest_qmp_assert_success(r.qts,
        "{'execute': 'qom-set', 'arguments': {'path': '/objects/r0',"
        " 'property': 'status', 'value': 'on'}}");
    got = net_recv(r.hnet);
    assert_same(got, f1);
    g_byte_array_unref(got);
    g_assert_cmpuint(stat_get(r.qts, "r0", "frames-in"), ==, 1);
    /* ... and tx frames are redirected. */
    net_send(r.fnet, f2->data, f2->len);
    got = rec_recv(out, false, &vlen);
    assert_same(got, f2);
    g_byte_array_unref(got);
    g_assert_true(fd_idle(r.hnet));

    /* Off again, on again: a record written meanwhile is not lost. */
    qtest_qmp_assert_success(r.qts,
        "{'execute': 'qom-set', 'arguments': {'path': '/objects/r0',"
        " 'property': 'status', 'value': 'off'}}");
    rec_send(in, false, f2->len, 0, f2->data, f2->len);
    net_send(r.fnet, f1->data, f1->len);
    got = net_recv(r.hnet);
    assert_same(got, f1);
    g_byte_array_unref(got);
    g_assert_cmpuint(stat_get(r.qts, "r0", "frames-in"), ==, 1);
    qtest_qmp_assert_success(r.qts,
        "{'execute': 'qom-set', 'arguments': {'path': '/objects/r0',"
        " 'property': 'status', 'value': 'on'}}");
    got = net_recv(r.hnet);
    assert_same(got, f2);
    g_assert_cmpuint(stat_get(r.qts, "r0", "frames-in"), ==, 2);
    g_assert_cmpuint(stat_get(r.qts, "r0", "frames-out"), ==, 1);

    close(in);
    close(out);
    close(ilfd);
    close(olfd);
    rig_free(&r);
}

/* Every bad configuration fails with an error; QEMU lives. */
static void test_redirector_bad_args(void)
{
    g_autofree char *ipath = NULL;
    g_autoptr(GByteArray) f = make_frame(64, 9);
    g_autoptr(GByteArray) got = NULL;
    Rig r;
    int lfd, in;

    rig_init(&r);
    ipath = rig_path(&r, "rin");
    lfd = listen_unix(ipath);
    rig_start(&r, NULL,
              "-chardev socket,id=rin,path=%s -chardev null,id=c1 "
              "-chardev null,id=c2 "
              "-object filter-redirector,id=r0,netdev=fnet,queue=rx,indev=rin",
              ipath);
    in = accept_timeout(lfd);

    qmp_expect_error(r.qts, "indev",
        "{'execute': 'object-add', 'arguments': {"
        " 'qom-type': 'filter-redirector', 'id': 'bad', 'netdev': 'fnet'}}");
    qmp_expect_error(r.qts, "different",
        "{'execute': 'object-add', 'arguments': {"
        " 'qom-type': 'filter-redirector', 'id': 'bad', 'netdev': 'fnet',"
        " 'indev': 'c1', 'outdev': 'c1'}}");
    qmp_expect_error(r.qts, "nosuch",
        "{'execute': 'object-add', 'arguments': {"
        " 'qom-type': 'filter-redirector', 'id': 'bad', 'netdev': 'fnet',"
        " 'indev': 'nosuch'}}");
    qmp_expect_error(r.qts, "nosuch",
        "{'execute': 'object-add', 'arguments': {"
        " 'qom-type': 'filter-redirector', 'id': 'bad', 'netdev': 'fnet',"
        " 'indev': 'c1', 'outdev': 'nosuch'}}");
    /* rin is taken by r0: refused, and c1 must be released again. */
    qmp_expect_error(r.qts, "rin",
        "{'execute': 'object-add', 'arguments': {"
        " 'qom-type': 'filter-redirector', 'id': 'bad', 'netdev': 'fnet',"
        " 'indev': 'rin', 'outdev': 'c1'}}");
    qmp_expect_error(r.qts, "rin",
        "{'execute': 'object-add', 'arguments': {"
        " 'qom-type': 'filter-redirector', 'id': 'bad', 'netdev': 'fnet',"
        " 'indev': 'c1', 'outdev': 'rin'}}");
    qmp_expect_error(r.qts, "indev",
        "{'execute': 'qom-set', 'arguments': {'path': '/objects/r0',"
        " 'property': 'indev', 'value': 'c2'}}");
    g_assert_false(proxy_exists(r.qts, "bad"));

    /* c1 and c2 are free: a good filter can use them. */
    qtest_qmp_assert_success(r.qts,
        "{'execute': 'object-add', 'arguments': {"
        " 'qom-type': 'filter-redirector', 'id': 'good', 'netdev': 'fnet',"
        " 'queue': 'tx', 'indev': 'c1', 'outdev': 'c2'}}");
    qtest_qmp_assert_success(r.qts,
        "{'execute': 'object-del', 'arguments': {'id': 'good'}}");

    /* r0 still works. */
    rec_send(in, false, f->len, 0, f->data, f->len);
    got = net_recv(r.fnet);
    assert_same(got, f);

    close(in);
    close(lfd);
    rig_free(&r);
}

/* object-add and object-del of a redirector on a running VM. */
static void test_redirector_runtime(void)
{
    g_autofree char *ipath = NULL, *opath = NULL;
    Rig r;
    int ilfd, olfd, i;

    rig_init(&r);
    ipath = rig_path(&r, "rin");
    opath = rig_path(&r, "rout");
    ilfd = listen_unix(ipath);
    olfd = listen_unix(opath);
    rig_start(&r, NULL, "%s", "");

    for (i = 0; i < 2; i++) {
        g_autoptr(GByteArray) f1 = make_frame(150 + i, 1);
        g_autoptr(GByteArray) f2 = make_frame(250 + i, 2);
        g_autoptr(GByteArray) got = NULL;
        uint32_t vlen;
        int in, out;

        qtest_qmp_assert_success(r.qts,
            "{'execute': 'chardev-add', 'arguments': {'id': 'rin',"
            " 'backend': {'type': 'socket', 'data': {'server': false,"
            " 'addr': {'type': 'unix', 'data': {'path': %s}}}}}}", ipath);
        qtest_qmp_assert_success(r.qts,
            "{'execute': 'chardev-add', 'arguments': {'id': 'rout',"
            " 'backend': {'type': 'socket', 'data': {'server': false,"
            " 'addr': {'type': 'unix', 'data': {'path': %s}}}}}}", opath);
        in = accept_timeout(ilfd);
        out = accept_timeout(olfd);
        qtest_qmp_assert_success(r.qts,
            "{'execute': 'object-add', 'arguments': {"
            " 'qom-type': 'filter-redirector', 'id': 'r0', 'netdev': 'fnet',"
            " 'queue': 'rx', 'indev': 'rin', 'outdev': 'rout',"
            " 'vnet_hdr_support': true}}");

        /* rx frames go to rout... */
        net_send(r.hnet, f1->data, f1->len);
        got = rec_recv(out, true, &vlen);
        assert_same(got, f1);
        g_byte_array_unref(got);
        g_assert_true(fd_idle(r.fnet));
        /* ...and rin's frames come out towards fnet. */
        rec_send(in, true, f2->len, 14, f2->data, f2->len);
        got = net_recv(r.fnet);
        assert_same(got, f2);
        g_byte_array_unref(got);

        qtest_qmp_assert_success(r.qts,
            "{'execute': 'object-del', 'arguments': {'id': 'r0'}}");
        g_assert_false(proxy_exists(r.qts, "r0"));
        qtest_qmp_assert_success(r.qts,
            "{'execute': 'chardev-remove', 'arguments': {'id': 'rin'}}");
        qtest_qmp_assert_success(r.qts,
            "{'execute': 'chardev-remove', 'arguments': {'id': 'rout'}}");
        wait_eof(in);
        wait_eof(out);
        close(in);
        close(out);

        /* Without the filter, rx frames pass. */
        net_send(r.hnet, f1->data, f1->len);
        got = net_recv(r.fnet);
        assert_same(got, f1);
    }
    close(ilfd);
    close(olfd);
    rig_free(&r);
}

/*
 * Two QEMUs, as COLO wires them.  The one that writes is "src"; the one
 * that reads is "dst"; either may be COLO_PEER_QEMU_BINARY (e.g. stock
 * QEMU).
 *   mirror:     src's filter-mirror (rx) feeds dst's redirector indev
 *               (tx, towards dst's guest): the primary -> secondary path.
 *   redirector: src's filter-redirector outdev (tx, the guest's output)
 *               feeds dst's redirector indev (rx, towards dst's netdev):
 *               the secondary -> primary path.
 */
typedef struct TwoQemu {
    bool peer_writes;       /* src is the peer binary; else dst is */
    bool mirror;
    bool vnet;
} TwoQemu;

static void test_two_qemus(const void *opaque)
{
    const TwoQemu *t = opaque;
    const char *src_env = t->peer_writes ? "COLO_PEER_QEMU_BINARY" : NULL;
    const char *dst_env = t->peer_writes ? NULL : "COLO_PEER_QEMU_BINARY";
    g_autofree char *path = NULL;
    Rig src, dst;
    int i;

    rig_init(&dst);
    rig_init(&src);
    path = rig_path(&dst, "link");
    rig_start(&dst, dst_env,
              "-chardev socket,id=lin,path=%s,server=on,wait=off "
              "-object filter-redirector,id=r1,netdev=fnet,queue=%s,"
              "indev=lin,vnet_hdr_support=%s",
              path, t->mirror ? "tx" : "rx", onoff(t->vnet));
    rig_start(&src, src_env,
              "-chardev socket,id=lout,path=%s,reconnect-ms=1000 "
              "-object %s,id=r0,netdev=fnet,queue=%s,outdev=lout,"
              "vnet_hdr_support=%s",
              path, t->mirror ? "filter-mirror" : "filter-redirector",
              t->mirror ? "rx" : "tx", onoff(t->vnet));
    chardev_wait(src.qts, "lout", true);

    for (i = 0; i < 16; i++) {
        g_autoptr(GByteArray) f = make_frame(60 + i * 4091, i);
        g_autoptr(GByteArray) got = NULL;

        if (t->mirror) {
            /* To the src guest (rx of fnet), and a copy to dst's guest. */
            net_send(src.hnet, f->data, f->len);
            got = net_recv(src.fnet);
            assert_same(got, f);
            g_byte_array_unref(got);
            got = net_recv(dst.hnet);
        } else {
            /* From the src guest (tx of fnet), to dst's netdev. */
            net_send(src.fnet, f->data, f->len);
            got = net_recv(dst.fnet);
        }
        assert_same(got, f);
    }
    if (!t->peer_writes) {
        g_assert_cmpuint(stat_get(src.qts, "r0", "frames-out"), ==, 16);
    } else {
        g_assert_cmpuint(stat_get(dst.qts, "r1", "frames-in"), ==, 16);
        g_assert_cmpuint(stat_get(dst.qts, "r1", "malformed-in"), ==, 0);
    }
    if (!t->mirror) {
        g_assert_true(fd_idle(src.hnet));
    }

    rig_free(&src);
    rig_free(&dst);
}

int main(int argc, char **argv)
{
    static const RedirCase outdev_cases[] = {
        { "rx", false }, { "rx", true }, { "tx", false }, { "tx", true },
    };
    static const RedirCase indev_cases[] = {
        { "rx", false }, { "rx", true }, { "tx", false }, { "tx", true },
        { "all", false }, { "all", true },
    };
    static const RedirCase chain_cases[] = {
        { "rx", false }, { "tx", true },
    };
    static const BadInput bad[] = {
        { "zero-length", false, 0, 0, false },
        { "zero-length-vnet", true, 0, 0, false },
        { "too-long", false, 4096 + 65536 + 1, 0, false },
        { "too-long-vnet", true, 0x7fffffff, 0, false },
        { "vnet-hdr-len", true, 100, 101, false },
        { "cut-mid-frame", false, 0, 0, true },
        { "cut-mid-frame-vnet", true, 0, 0, true },
    };
    static TwoQemu two[8];
    int i;

    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (i = 0; i < G_N_ELEMENTS(outdev_cases); i++) {
        g_autofree char *name = g_strdup_printf(
            "/filter-redirector/outdev/%s/vnet-%s", outdev_cases[i].queue,
            onoff(outdev_cases[i].vnet));
        qtest_add_data_func(name, &outdev_cases[i], test_redirector_outdev);
    }
    for (i = 0; i < G_N_ELEMENTS(indev_cases); i++) {
        g_autofree char *name = g_strdup_printf(
            "/filter-redirector/indev/%s/vnet-%s", indev_cases[i].queue,
            onoff(indev_cases[i].vnet));
        qtest_add_data_func(name, &indev_cases[i], test_redirector_indev);
    }
    for (i = 0; i < G_N_ELEMENTS(chain_cases); i++) {
        g_autofree char *name = g_strdup_printf(
            "/filter-redirector/chain/%s", chain_cases[i].queue);
        qtest_add_data_func(name, &chain_cases[i], test_redirector_chain);
    }
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *name = g_strdup_printf(
            "/filter-redirector/bad-input/%s", bad[i].name);
        qtest_add_data_func(name, &bad[i], test_redirector_bad_input);
    }
    qtest_add_func("/filter-redirector/status", test_redirector_status);
    qtest_add_func("/filter-redirector/bad-args", test_redirector_bad_args);
    qtest_add_func("/filter-redirector/runtime", test_redirector_runtime);
    for (i = 0; i < G_N_ELEMENTS(two); i++) {
        g_autofree char *name = NULL;

        two[i].peer_writes = i & 1;
        two[i].mirror = i & 2;
        two[i].vnet = i & 4;
        name = g_strdup_printf("/filter-redirector/two-qemus/%s-%s/vnet-%s",
                               two[i].mirror ? "mirror" : "redirector",
                               two[i].peer_writes ? "from-peer" : "to-peer",
                               onoff(two[i].vnet));
        qtest_add_data_func(name, &two[i], test_two_qemus);
    }
    return g_test_run();
}
