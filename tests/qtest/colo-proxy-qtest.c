/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the COLO-proxy qtests; see colo-proxy-qtest.h.
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qemu/bswap.h"
#include "colo-filter-rig.h"

char *rig_path(Rig *r, const char *name)
{
    return g_strdup_printf("%s/%s.sock", r->dir, name);
}

/* A UDP socket on 127.0.0.1, at the port returned in *@port */
int bind_udp(uint16_t *port)
{
    struct sockaddr_in addr = {
        .sin_family = AF_INET,
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    socklen_t alen = sizeof(addr);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&addr, &alen), ==, 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

/* The next datagram on @fd is one record (no vnet length) of @frame. */
void expect_udp_record(int fd, GByteArray *frame)
{
    uint8_t dgram[4096];
    ssize_t n;

    g_assert_cmpuint(frame->len, <=, sizeof(dgram) - 4);
    g_assert_true(wait_fd(fd, POLLIN, TIMEOUT_MS));
    n = recv(fd, dgram, sizeof(dgram), 0);
    g_assert_cmpint(n, ==, 4 + frame->len);
    g_assert_cmpuint(ldl_be_p(dgram), ==, frame->len);
    g_assert(memcmp(dgram + 4, frame->data, frame->len) == 0);
}

int listen_unix(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(strlen(path), <, sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    unlink(path);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(fd, 4), ==, 0);
    return fd;
}

bool wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd pfd = { .fd = fd, .events = events };
    int ret;

    do {
        ret = poll(&pfd, 1, timeout_ms);
    } while (ret < 0 && errno == EINTR);
    g_assert_cmpint(ret, >=, 0);
    return ret > 0;
}

int accept_timeout(int lfd)
{
    int fd;

    g_assert_true(wait_fd(lfd, POLLIN, TIMEOUT_MS));
    fd = accept(lfd, NULL, NULL);
    g_assert_cmpint(fd, >=, 0);
    return fd;
}

void write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            g_assert_true(wait_fd(fd, POLLOUT, TIMEOUT_MS));
            continue;
        }
        g_assert_cmpint(n, >, 0);
        p += n;
        len -= n;
    }
}

/* Read exactly @len bytes; false on EOF before the first byte. */
bool read_exact(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t got = 0;

    while (got < len) {
        ssize_t n;

        g_assert_true(wait_fd(fd, POLLIN, TIMEOUT_MS));
        n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        g_assert_cmpint(n, >=, 0);
        if (n == 0) {
            g_assert_cmpuint(got, ==, 0);
            return false;
        }
        got += n;
    }
    return true;
}

/* True if nothing at all is readable on @fd right now. */
bool fd_idle(int fd)
{
    return !wait_fd(fd, POLLIN, 0);
}

/* Wait for EOF on @fd (the peer closed it), discarding data. */
void wait_eof(int fd)
{
    uint8_t buf[4096];
    ssize_t n;

    do {
        g_assert_true(wait_fd(fd, POLLIN, TIMEOUT_MS));
        n = read(fd, buf, sizeof(buf));
    } while (n > 0 || (n < 0 && errno == EINTR));
}

/* A socket netdev frames with a 4-byte big-endian length. */
void net_send(int fd, const uint8_t *frame, size_t len)
{
    uint8_t hdr[4];

    stl_be_p(hdr, len);
    write_all(fd, hdr, 4);
    write_all(fd, frame, len);
}

GByteArray *net_recv(int fd)
{
    uint8_t hdr[4];
    GByteArray *b;
    uint32_t len;

    g_assert_true(read_exact(fd, hdr, 4));
    len = ldl_be_p(hdr);
    g_assert_cmpuint(len, <=, 70000);
    b = g_byte_array_sized_new(len);
    g_byte_array_set_size(b, len);
    g_assert_true(read_exact(fd, b->data, len));
    return b;
}

/* The COLO wire format: L, [V,] frame. */
void rec_send(int fd, bool vnet, uint32_t len, uint32_t vlen,
              const uint8_t *frame, size_t frame_len)
{
    uint8_t hdr[8];

    stl_be_p(hdr, len);
    stl_be_p(hdr + 4, vlen);
    write_all(fd, hdr, vnet ? 8 : 4);
    if (frame_len) {
        write_all(fd, frame, frame_len);
    }
}

GByteArray *rec_recv(int fd, bool vnet, uint32_t *vlen)
{
    uint8_t hdr[8];
    GByteArray *b;
    uint32_t len;

    g_assert_true(read_exact(fd, hdr, vnet ? 8 : 4));
    len = ldl_be_p(hdr);
    *vlen = vnet ? ldl_be_p(hdr + 4) : 0;
    g_assert_cmpuint(len, >, 0);
    g_assert_cmpuint(len, <=, 70000);
    g_assert_cmpuint(*vlen, <=, len);
    b = g_byte_array_sized_new(len);
    g_byte_array_set_size(b, len);
    g_assert_true(read_exact(fd, b->data, len));
    return b;
}

/* An Ethernet frame of @len bytes, its content derived from @seed. */
GByteArray *make_frame(size_t len, unsigned seed)
{
    GByteArray *b = g_byte_array_sized_new(len);
    size_t i;

    g_byte_array_set_size(b, len);
    for (i = 0; i < len; i++) {
        b->data[i] = (uint8_t)(seed * 37 + i * 11 + (i >> 7));
    }
    if (len >= 14) {
        memset(b->data, 0xff, 6);           /* broadcast */
        b->data[6] = 0x52;
        b->data[7] = 0x54;
        b->data[12] = 0x88;                 /* local experimental */
        b->data[13] = 0xb5;
    }
    return b;
}

void assert_same(GByteArray *a, GByteArray *b)
{
    g_assert_cmpuint(a->len, ==, b->len);
    g_assert(memcmp(a->data, b->data, a->len) == 0);
}

/*
 * Start QEMU with hnet and fnet joined by a hub, plus the extra
 * arguments.  "@DIR@" in them is not expanded: use rig_path().
 */
void rig_start(Rig *r, const char *binary_env, const char *fmt, ...)
{
    int hsv[2], fsv[2];
    g_autofree char *extra = NULL;
    g_autofree char *args = NULL;
    va_list ap;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, hsv), ==, 0);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, fsv), ==, 0);
    va_start(ap, fmt);
    extra = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    args = g_strdup_printf(
        "-M none "
        "-netdev socket,id=hnet,fd=%d "
        "-netdev hubport,id=hp0,hubid=0,netdev=hnet "
        "-netdev socket,id=fnet,fd=%d "
        "-netdev hubport,id=hp1,hubid=0,netdev=fnet "
        "%s", hsv[1], fsv[1], extra);
    r->qts = qtest_init_with_env(binary_env, args, true);
    close(hsv[1]);
    close(fsv[1]);
    r->hnet = hsv[0];
    r->fnet = fsv[0];
}

void rig_init(Rig *r)
{
    memset(r, 0, sizeof(*r));
    r->dir = g_dir_make_tmp("colo-filter-XXXXXX", NULL);
    g_assert(r->dir);
    r->hnet = r->fnet = -1;
}

void rig_free(Rig *r)
{
    g_autoptr(GDir) d = g_dir_open(r->dir, 0, NULL);
    const char *name;

    if (r->qts) {
        qtest_quit(r->qts);
    }
    if (r->hnet >= 0) {
        close(r->hnet);
    }
    if (r->fnet >= 0) {
        close(r->fnet);
    }
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(r->dir, name, NULL);
        unlink(p);
    }
    rmdir(r->dir);
    g_free(r->dir);
}

/*
 * The query-colo-proxy entry of object @id (a new reference), or NULL.
 * All objects are listed and searched, which also checks that each id
 * appears once.
 */
QDict *proxy_info(QTestState *qts, const char *id)
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

bool proxy_exists(QTestState *qts, const char *id)
{
    QDict *info = proxy_info(qts, id);

    qobject_unref(info);
    return info != NULL;
}

/* One counter of a COLO-proxy object, from query-colo-proxy. */
uint64_t stat_get(QTestState *qts, const char *id, const char *name)
{
    QDict *info = proxy_info(qts, id);
    uint64_t val;

    g_assert_nonnull(info);
    g_assert_true(qdict_haskey(info, name));
    val = qnum_get_uint(qobject_to(QNum, qdict_get(info, name)));
    qobject_unref(info);
    return val;
}

/* Poll a counter until it reaches @want (bounded). */
void stat_wait(QTestState *qts, const char *id, const char *name,
               uint64_t want)
{
    gint64 end = g_get_monotonic_time() + TIMEOUT_MS * 1000LL;

    while (stat_get(qts, id, name) < want) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_usleep(1000);
    }
}

/* Poll until socket chardev @id is (or is not) connected. */
void chardev_wait(QTestState *qts, const char *id, bool connected)
{
    g_autofree char *path = g_strdup_printf("/chardevs/%s", id);
    gint64 end = g_get_monotonic_time() + TIMEOUT_MS * 1000LL;

    while (qtest_qom_get_bool(qts, path, "connected") != connected) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_usleep(1000);
    }
}

/* Run a QMP command that must fail with an error mentioning @needle. */
void qmp_expect_error(QTestState *qts, const char *needle,
                      const char *fmt, ...)
{
    QDict *resp, *err;
    const char *desc;
    va_list ap;

    va_start(ap, fmt);
    resp = qtest_vqmp(qts, fmt, ap);
    va_end(ap);
    err = qdict_get_qdict(resp, "error");

    g_assert_nonnull(err);
    desc = qdict_get_str(err, "desc");
    if (!strstr(desc, needle)) {
        g_error("error '%s' does not mention '%s'", desc, needle);
    }
    qobject_unref(resp);
}
