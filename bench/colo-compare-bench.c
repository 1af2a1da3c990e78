/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * colo-compare end-to-end benchmark: drives a real QEMU's colo-compare
 * object through its three chardevs and measures what comes out.
 *
 * Run it through bench/colo-compare-bench.sh (which builds it and finds
 * the two QEMUs), or by hand:
 *
 *   gcc -O2 -pthread -o ccb bench/colo-compare-bench.c
 *   ./ccb [--quick] [--verbose] [--seconds S] [--window N] [--repeat N]
 *         [--proto udp|tcp] [--conns N] [--size N] NAME=QEMU [NAME=QEMU...]
 *
 * --verbose prints the object's query-colo-proxy counters after each run
 * (QEMUs without that command print a note instead).
 *
 * For every scenario (TCP and UDP, 1/100/10,000 connections, 64/512/1460
 * byte payloads, or the ones chosen) and every QEMU given, it starts
 *
 *   QEMU -M none -nodefaults -display none -object iothread,id=t
 *        -chardev socket,id=pri|sec|out,path=... (clients of our sockets)
 *        -object colo-compare,id=cmp,primary_in=pri,secondary_in=sec,
 *                outdev=out,iothread=t
 *
 * and feeds the same pre-built frames to primary_in and secondary_in (the
 * same batch buffer is sent on both: one send() of 512 frames per side),
 * at most --window frames ahead of what came out of outdev (default 1024,
 * colo-compare's default max_queue_size, so that no queue overflows even
 * with one connection), for --seconds (default 2).  Connections are used
 * round robin; TCP segments carry consecutive sequence numbers.  A reader
 * thread reads outdev in big chunks and checks every frame: the payload
 * carries a global sequence number, the connection and its own sequence
 * number, and the send time.
 *
 * NAME=relay (instead of a QEMU binary) runs a built-in relay in a child
 * process: one thread that reads both inputs 256 KiB at a time, pairs the
 * records in order, compares each pair's bytes and writes the primary
 * record out, batching its writes.  It has no colo-compare semantics at
 * all (no parsing, no flows, no queues); it shows how many frames these
 * sockets carry through one thread on this machine, the ceiling for any
 * colo-compare that runs in one iothread.
 *
 * --repeat N runs every scenario N times, going round the scenarios and,
 * within each, round the QEMUs (so that all share the machine's slow and
 * fast spells; each repeat starts the round with the next QEMU), and
 * prints the median of each figure; integrity counts
 * are summed.  When one connection and more ran in the same protocol and
 * size, a "scaling" table follows: per QEMU, the median over the repeats
 * of (frames/s with N connections) / (frames/s with 1), each ratio taken
 * from two runs of the same repeat, close in time.
 *
 * Printed per scenario: frames/s out, MB/s of payload, p50/p99 latency
 * (send to receive, including queueing within the window), QEMU's CPU
 * time (all its threads, user and system, from /proc) per frame out, the
 * ratio of its frames/s to the relay's ("floor", when NAME=relay is one
 * of the runs), and
 * integrity: lost, duplicated and reordered (within a connection) frames,
 * which must all be zero.  On a shared machine frames/s moves with the
 * load of its neighbours; CPU ns per frame moves much less.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#define BATCH_FRAMES    512
#define READ_CHUNK      (4 << 20)
#define IDLE_TIMEOUT_MS 5000
#define MAX_RUNS        64
#define LAT_SAMPLE      8       /* keep one latency sample in 8 */

/* Payload layout (network order is irrelevant: we read what we wrote). */
struct payload_hdr {
    uint64_t gseq;
    uint64_t ts_ns;
    uint32_t conn;
    uint32_t cseq;
};

typedef struct Scenario {
    bool tcp;
    uint32_t conns;
    uint32_t size;      /* L4 payload bytes, >= sizeof(struct payload_hdr) */
} Scenario;

typedef struct Result {
    char name[32];
    Scenario sc;
    bool ok;            /* QEMU ran */
    uint64_t sent;
    uint64_t received;
    uint64_t lost;
    uint64_t dup;
    uint64_t reordered;
    uint64_t corrupt;
    double seconds;
    double p50_us;
    double p99_us;
    double cpu_ns;      /* QEMU's CPU time (all threads) per frame out */
    char counters[4096];    /* --verbose: query-colo-proxy's answer */
} Result;

typedef struct Run {
    Scenario sc;
    int pri, sec, out;
    double seconds;
    uint64_t window;

    /* writer -> reader */
    uint64_t sent;              /* atomic */
    bool writer_done;           /* atomic */
    /* reader -> writer */
    uint64_t received;          /* atomic */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool writer_waiting;

    uint64_t t_start, t_last;
    uint8_t *seen;              /* bitmap of global seqs */
    uint64_t seen_cap;
    uint32_t *last_cseq;        /* per connection, +1 (0 = none) */
    uint32_t *lat;              /* ns samples */
    uint64_t n_lat, lat_cap;
    uint64_t dup, reordered, corrupt, unique;
} Run;

static bool verbose;

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void die(const char *msg)
{
    perror(msg);
    exit(1);
}

static size_t l4_hdr(const Scenario *sc)
{
    return sc->tcp ? 20 : 8;
}

static size_t frame_len(const Scenario *sc)
{
    return 14 + 20 + l4_hdr(sc) + sc->size;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static uint16_t csum20(const uint8_t *p)
{
    uint32_t s = 0;
    int i;

    for (i = 0; i < 20; i += 2) {
        s += (p[i] << 8) | p[i + 1];
    }
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return ~s;
}

/* Lay out a batch of identical frames; per-frame fields are set later. */
static uint8_t *batch_new(const Scenario *sc, size_t *rec_len)
{
    size_t flen = frame_len(sc), rlen = 4 + flen;
    uint8_t *b = calloc(BATCH_FRAMES, rlen);
    int i;
    size_t j;

    if (!b) {
        die("calloc");
    }
    for (i = 0; i < BATCH_FRAMES; i++) {
        uint8_t *r = b + i * rlen, *f = r + 4, *ip = f + 14;
        uint8_t *l4 = ip + 20;

        put32(r, flen);
        memcpy(f, "\x52\x54\x00\x00\x00\x02\x52\x54\x00\x00\x00\x01\x08\x00",
               14);
        ip[0] = 0x45;
        put16(ip + 2, 20 + l4_hdr(sc) + sc->size);
        put16(ip + 6, 0x4000);
        ip[8] = 64;
        ip[9] = sc->tcp ? 6 : 17;
        memcpy(ip + 12, "\x0a\x01\x00\x00\x0a\x02\x00\x01", 8);
        put16(l4 + 2, 5001);
        if (sc->tcp) {
            put32(l4 + 8, 1);
            l4[12] = 5 << 4;
            l4[13] = 0x18;
            put16(l4 + 14, 65535);
        } else {
            put16(l4 + 4, 8 + sc->size);
        }
        for (j = sizeof(struct payload_hdr); j < sc->size; j++) {
            l4[l4_hdr(sc) + j] = (uint8_t)(j * 7);
        }
    }
    *rec_len = rlen;
    return b;
}

/* Fill the per-frame fields of frame @gseq. */
static void frame_fill(const Scenario *sc, uint8_t *rec, uint64_t gseq,
                       uint64_t ts)
{
    uint8_t *ip = rec + 4 + 14, *l4 = ip + 20;
    uint32_t conn = gseq % sc->conns;
    uint32_t cseq = gseq / sc->conns;
    struct payload_hdr h = {
        .gseq = gseq, .ts_ns = ts, .conn = conn, .cseq = cseq,
    };

    put16(ip + 4, (uint16_t)gseq);
    ip[14] = conn >> 8;
    ip[15] = conn;
    ip[10] = ip[11] = 0;
    put16(ip + 10, csum20(ip));
    put16(l4, 10000 + conn % 50000);
    if (sc->tcp) {
        put32(l4 + 4, 1000 + cseq * sc->size);
    }
    memcpy(l4 + l4_hdr(sc), &h, sizeof(h));
}

static void send_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("send");
        }
        p += n;
        len -= n;
    }
}

static void *writer_main(void *opaque)
{
    Run *r = opaque;
    size_t rlen;
    uint8_t *batch = batch_new(&r->sc, &rlen);
    uint64_t gseq = 0, end;
    int i;

    r->t_start = now_ns();
    end = r->t_start + (uint64_t)(r->seconds * 1e9);
    while (now_ns() < end) {
        uint64_t ts;

        if (gseq + BATCH_FRAMES > r->seen_cap) {
            break;      /* as many frames as the reader can check */
        }

        /* Stay within the window. */
        if (gseq + BATCH_FRAMES >
            __atomic_load_n(&r->received, __ATOMIC_ACQUIRE) + r->window) {
            pthread_mutex_lock(&r->lock);
            r->writer_waiting = true;
            while (gseq + BATCH_FRAMES >
                   __atomic_load_n(&r->received, __ATOMIC_ACQUIRE) +
                   r->window) {
                struct timespec to;

                clock_gettime(CLOCK_REALTIME, &to);
                to.tv_nsec += 100 * 1000 * 1000;
                if (to.tv_nsec >= 1000000000) {
                    to.tv_sec++;
                    to.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&r->cond, &r->lock, &to);
                if (now_ns() > end + IDLE_TIMEOUT_MS * 1000000ULL) {
                    break;  /* stalled: the reader will report losses */
                }
            }
            r->writer_waiting = false;
            pthread_mutex_unlock(&r->lock);
            if (now_ns() >= end) {
                break;
            }
        }
        ts = now_ns();
        for (i = 0; i < BATCH_FRAMES; i++) {
            frame_fill(&r->sc, batch + i * rlen, gseq + i, ts);
        }
        __atomic_store_n(&r->sent, gseq + BATCH_FRAMES, __ATOMIC_RELEASE);
        send_all(r->pri, batch, BATCH_FRAMES * rlen);
        send_all(r->sec, batch, BATCH_FRAMES * rlen);
        gseq += BATCH_FRAMES;
    }
    __atomic_store_n(&r->writer_done, true, __ATOMIC_RELEASE);
    free(batch);
    return NULL;
}

static void check_frame(Run *r, const uint8_t *f, uint32_t len, uint64_t now)
{
    size_t off = 14 + 20 + l4_hdr(&r->sc);
    struct payload_hdr h;

    if (len != frame_len(&r->sc)) {
        r->corrupt++;
        return;
    }
    memcpy(&h, f + off, sizeof(h));
    if (h.conn >= r->sc.conns || h.gseq >= r->seen_cap) {
        r->corrupt++;
        return;
    }
    if (r->seen[h.gseq >> 3] & (1 << (h.gseq & 7))) {
        r->dup++;
        return;
    }
    r->seen[h.gseq >> 3] |= 1 << (h.gseq & 7);
    r->unique++;
    if (r->last_cseq[h.conn] && h.cseq < r->last_cseq[h.conn]) {
        r->reordered++;
    } else {
        r->last_cseq[h.conn] = h.cseq + 1;
    }
    if ((h.gseq % LAT_SAMPLE) == 0 && r->n_lat < r->lat_cap) {
        uint64_t d = now > h.ts_ns ? now - h.ts_ns : 0;

        r->lat[r->n_lat++] = d > UINT32_MAX ? UINT32_MAX : d;
    }
}

/* Read outdev until everything sent came out or nothing comes for a while. */
static void reader_run(Run *r)
{
    uint8_t *buf = malloc(READ_CHUNK);
    size_t have = 0;
    uint64_t last_data = now_ns();

    if (!buf) {
        die("malloc");
    }
    for (;;) {
        struct pollfd pfd = { .fd = r->out, .events = POLLIN };
        uint64_t now;
        size_t pos = 0;
        ssize_t n;
        int ret;

        if (__atomic_load_n(&r->writer_done, __ATOMIC_ACQUIRE) &&
            r->unique + r->dup + r->corrupt >=
            __atomic_load_n(&r->sent, __ATOMIC_ACQUIRE)) {
            break;
        }
        ret = poll(&pfd, 1, 100);
        now = now_ns();
        if (ret <= 0) {
            if (now - last_data > IDLE_TIMEOUT_MS * 1000000ULL &&
                __atomic_load_n(&r->writer_done, __ATOMIC_ACQUIRE)) {
                break;
            }
            continue;
        }
        n = recv(r->out, buf + have, READ_CHUNK - have, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            break;
        }
        last_data = now;
        r->t_last = now;
        have += n;
        while (have - pos >= 4) {
            uint32_t len = (uint32_t)buf[pos] << 24 | buf[pos + 1] << 16 |
                           buf[pos + 2] << 8 | buf[pos + 3];

            if (len == 0 || len > READ_CHUNK / 2) {
                fprintf(stderr, "bad record length %u on outdev\n", len);
                r->corrupt++;
                goto out;
            }
            if (have - pos < 4 + len) {
                break;
            }
            check_frame(r, buf + pos + 4, len, now);
            pos += 4 + len;
        }
        memmove(buf, buf + pos, have - pos);
        have -= pos;
        __atomic_store_n(&r->received, r->unique + r->dup + r->corrupt,
                         __ATOMIC_RELEASE);
        if (__atomic_load_n(&r->writer_waiting, __ATOMIC_RELAXED)) {
            pthread_mutex_lock(&r->lock);
            pthread_cond_signal(&r->cond);
            pthread_mutex_unlock(&r->lock);
        }
    }
out:
    free(buf);
}

static int listen_unix(const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    if (fd < 0 || strlen(path) >= sizeof(a.sun_path)) {
        die("socket");
    }
    strcpy(a.sun_path, path);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0) {
        die("bind/listen");
    }
    return fd;
}

static int accept_timeout(int lfd, pid_t pid)
{
    struct pollfd pfd = { .fd = lfd, .events = POLLIN };
    int fd;

    if (poll(&pfd, 1, 20000) <= 0) {
        fprintf(stderr, "QEMU (pid %d) did not connect\n", pid);
        return -1;
    }
    fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
        die("accept");
    }
    return fd;
}

/* --verbose: the object's counters, if QEMU has query-colo-proxy. */
static void qmp_report(const char *path, char *out, size_t out_len)
{
    static const char cmds[] =
        "{\"execute\": \"qmp_capabilities\"}\n"
        "{\"execute\": \"query-colo-proxy\"}\n";
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    char buf[8192];
    size_t have = 0;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0), lines = 0;

    strcpy(a.sun_path, path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        return;
    }
    send_all(fd, (const uint8_t *)cmds, strlen(cmds));
    /* greeting, capabilities, query */
    while (lines < 3 && have < sizeof(buf) - 1) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (poll(&pfd, 1, 2000) <= 0) {
            break;
        }
        n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
        if (n <= 0) {
            break;
        }
        buf[have + n] = '\0';
        for (ssize_t j = 0; j < n; j++) {
            lines += buf[have + j] == '\n';
        }
        have += n;
    }
    close(fd);
    buf[have] = '\0';
    {
        char *q = strstr(buf, "\"return\": [");

        snprintf(out, out_len, "%s", q ? q : "(no query-colo-proxy)\n");
    }
}

/* CPU time (user + system, all threads) used so far by @pid, in ns. */
static uint64_t proc_cpu_ns(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long long ut = 0, st = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f) {
        return 0;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* fields 14 and 15, counted after the ")" that ends the name */
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                     "%llu %llu", &ut, &st) != 2) {
        return 0;
    }
    return (ut + st) * (1000000000ULL / sysconf(_SC_CLK_TCK));
}

/* NAME=relay: the socket floor, see the top of the file. */
#define RELAY_BUF   (4 << 20)
#define RELAY_READ  (256 * 1024)
#define RELAY_MIN(a, b) ((a) < (b) ? (a) : (b))

typedef struct RelayBuf {
    uint8_t *b;
    size_t start, end;
} RelayBuf;

static int relay_connect(const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    strcpy(a.sun_path, path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        _exit(1);
    }
    return fd;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

/* Read what is there, up to RELAY_READ bytes; false at end of stream. */
static bool relay_read(int fd, RelayBuf *b)
{
    ssize_t n;

    if (b->end + RELAY_READ > RELAY_BUF) {
        memmove(b->b, b->b + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
    }
    if (b->end == RELAY_BUF) {
        return true;
    }
    n = recv(fd, b->b + b->end, RELAY_MIN(RELAY_READ, RELAY_BUF - b->end),
             MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        return false;
    }
    b->end += n > 0 ? n : 0;
    return true;
}

static void __attribute__((noreturn)) relay_main(char path[3][128])
{
    int fd[3], i;
    RelayBuf in[2], out = { 0 };
    /* the comparison's result is not used: volatile keeps it done */
    volatile uint64_t differ = 0;

    for (i = 0; i < 3; i++) {
        fd[i] = relay_connect(path[i]);
    }
    for (i = 0; i < 2; i++) {
        in[i].b = malloc(RELAY_BUF);
        in[i].start = in[i].end = 0;
    }
    out.b = malloc(RELAY_BUF);
    if (!in[0].b || !in[1].b || !out.b) {
        _exit(1);
    }
    for (;;) {
        bool room = out.end - out.start < RELAY_BUF / 2;
        struct pollfd pfd[3] = {
            { .fd = fd[0], .events = room ? POLLIN : 0 },
            { .fd = fd[1], .events = room ? POLLIN : 0 },
            { .fd = fd[2], .events = out.end > out.start ? POLLOUT : 0 },
        };

        if (poll(pfd, 3, -1) < 0 && errno != EINTR) {
            _exit(1);
        }
        for (i = 0; i < 2; i++) {
            if ((pfd[i].revents & (POLLIN | POLLHUP)) &&
                !relay_read(fd[i], &in[i])) {
                _exit(0);
            }
        }
        /* pair whole records, in order */
        for (;;) {
            RelayBuf *a = &in[0], *b = &in[1];
            uint32_t la, lb;

            if (a->end - a->start < 4 || b->end - b->start < 4) {
                break;
            }
            la = be32(a->b + a->start);
            lb = be32(b->b + b->start);
            if (la > RELAY_BUF / 4 || lb > RELAY_BUF / 4) {
                _exit(1);
            }
            if (a->end - a->start < 4 + la || b->end - b->start < 4 + lb) {
                break;
            }
            if (out.end + 4 + la > RELAY_BUF) {
                memmove(out.b, out.b + out.start, out.end - out.start);
                out.end -= out.start;
                out.start = 0;
                if (out.end + 4 + la > RELAY_BUF) {
                    break;
                }
            }
            differ += la != lb ||
                      memcmp(a->b + a->start + 4, b->b + b->start + 4, la);
            memcpy(out.b + out.end, a->b + a->start, 4 + la);
            out.end += 4 + la;
            a->start += 4 + la;
            b->start += 4 + lb;
        }
        if (out.end > out.start) {
            ssize_t n = send(fd[2], out.b + out.start, out.end - out.start,
                             MSG_DONTWAIT | MSG_NOSIGNAL);

            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                _exit(0);
            }
            out.start += n > 0 ? n : 0;
            if (out.start == out.end) {
                out.start = out.end = 0;
            }
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static bool run_one(const char *qemu, const Scenario *sc, double seconds,
                    uint64_t window, Result *res)
{
    char dir[] = "/tmp/ccbench-XXXXXX";
    char path[3][128], chr[3][200], cmp[256], qmp_path[128], qmp_arg[200];
    const char *names[3] = { "pri", "sec", "out" };
    int lfd[3], fd[3] = { -1, -1, -1 }, i, status;
    pthread_t writer;
    Run r;
    pid_t pid;
    uint64_t max_frames, cpu0, cpu1;

    if (!mkdtemp(dir)) {
        die("mkdtemp");
    }
    for (i = 0; i < 3; i++) {
        snprintf(path[i], sizeof(path[i]), "%s/%s", dir, names[i]);
        lfd[i] = listen_unix(path[i]);
        snprintf(chr[i], sizeof(chr[i]), "socket,id=%s,path=%s", names[i],
                 path[i]);
    }
    snprintf(cmp, sizeof(cmp), "colo-compare,id=cmp,primary_in=pri,"
             "secondary_in=sec,outdev=out,iothread=t");
    snprintf(qmp_path, sizeof(qmp_path), "%s/qmp", dir);
    snprintf(qmp_arg, sizeof(qmp_arg), "unix:%s,server=on,wait=off",
             qmp_path);
    pid = fork();
    if (pid == 0 && !strcmp(qemu, "relay")) {
        relay_main(path);
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);

        dup2(null, 0);
        execl(qemu, qemu, "-M", "none", "-nodefaults", "-display", "none",
              "-object", "iothread,id=t", "-chardev", chr[0],
              "-chardev", chr[1], "-chardev", chr[2], "-object", cmp,
              "-qmp", qmp_arg, (char *)NULL);
        perror(qemu);
        _exit(127);
    }
    for (i = 0; i < 3; i++) {
        fd[i] = accept_timeout(lfd[i], pid);
        close(lfd[i]);
        unlink(path[i]);
        if (fd[i] < 0) {
            break;
        }
    }
    memset(res, 0, sizeof(*res));
    res->sc = *sc;
    if (i < 3) {
        unlink(qmp_path);
        rmdir(dir);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return false;
    }

    memset(&r, 0, sizeof(r));
    r.sc = *sc;
    r.pri = fd[0];
    r.sec = fd[1];
    r.out = fd[2];
    r.seconds = seconds;
    r.window = window;
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.cond, NULL);
    /*
     * Enough for 16 M frames/s (the relay moves 6 M of 64 bytes); the
     * writer stops early rather than send more.
     */
    max_frames = (uint64_t)(seconds * 16e6) + window + BATCH_FRAMES;
    r.seen_cap = max_frames;
    r.seen = calloc(max_frames / 8 + 1, 1);
    r.last_cseq = calloc(sc->conns, sizeof(uint32_t));
    r.lat_cap = max_frames / LAT_SAMPLE + 1;
    r.lat = malloc(r.lat_cap * sizeof(uint32_t));
    if (!r.seen || !r.last_cseq || !r.lat) {
        die("calloc");
    }

    cpu0 = proc_cpu_ns(pid);
    pthread_create(&writer, NULL, writer_main, &r);
    reader_run(&r);
    pthread_join(writer, NULL);
    cpu1 = proc_cpu_ns(pid);

    res->ok = true;
    res->sent = r.sent;
    res->received = r.unique;
    res->lost = r.sent > r.unique ? r.sent - r.unique : 0;
    res->dup = r.dup;
    res->reordered = r.reordered;
    res->corrupt = r.corrupt;
    res->seconds = (r.t_last > r.t_start ? r.t_last - r.t_start : 1) / 1e9;
    res->cpu_ns = r.unique && cpu1 > cpu0 ? (double)(cpu1 - cpu0) / r.unique
                                          : 0;
    if (r.n_lat) {
        qsort(r.lat, r.n_lat, sizeof(uint32_t), cmp_u32);
        res->p50_us = r.lat[r.n_lat / 2] / 1e3;
        res->p99_us = r.lat[r.n_lat * 99 / 100] / 1e3;
    }

    if (verbose) {
        qmp_report(qmp_path, res->counters, sizeof(res->counters));
    }
    for (i = 0; i < 3; i++) {
        close(fd[i]);
    }
    unlink(qmp_path);
    rmdir(dir);
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    free(r.seen);
    free(r.last_cseq);
    free(r.lat);
    return true;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Median of @n values (sorted in place). */
static double median(double *v, int n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median frames/s of the runs that worked; 0 if none did. */
static double median_fps(const Result *runs, int n)
{
    double fps[MAX_RUNS];
    int i, ok = 0;

    for (i = 0; i < n; i++) {
        if (runs[i].ok) {
            fps[ok++] = runs[i].received / runs[i].seconds;
        }
    }
    return ok ? median(fps, ok) : 0;
}

/*
 * Print one QEMU's row for a scenario: the median of its @n runs for
 * every figure, the sums for integrity.  @floor_fps: the floor's median
 * frames/s in this scenario, 0 if there is no floor.  Returns false if
 * a frame was lost, duplicated, reordered or corrupted.
 */
static bool report(const Scenario *sc, const char *name, const Result *runs,
                   int n, double floor_fps)
{
    double fps[MAX_RUNS], p50[MAX_RUNS], p99[MAX_RUNS], cpu[MAX_RUNS];
    uint64_t lost = 0, dup = 0, reord = 0, corrupt = 0;
    int i, ok = 0;
    double f;

    for (i = 0; i < n; i++) {
        if (!runs[i].ok) {
            continue;
        }
        fps[ok] = runs[i].received / runs[i].seconds;
        p50[ok] = runs[i].p50_us;
        p99[ok] = runs[i].p99_us;
        cpu[ok] = runs[i].cpu_ns;
        ok++;
        lost += runs[i].lost;
        dup += runs[i].dup;
        reord += runs[i].reordered;
        corrupt += runs[i].corrupt;
    }
    if (!ok) {
        printf("%-5s %6u %5u | %-8s  (QEMU did not start)\n",
               sc->tcp ? "tcp" : "udp", sc->conns, sc->size, name);
        return false;
    }
    f = median(fps, ok);
    printf("%-5s %6u %5u | %-8s %10.0f %9.1f %9.1f %9.1f %7.0f ",
           sc->tcp ? "tcp" : "udp", sc->conns, sc->size, name, f,
           f * sc->size / 1e6, median(p50, ok), median(p99, ok),
           median(cpu, ok));
    if (floor_fps > 0) {
        printf("%5.2f", f / floor_fps);
    } else {
        printf("%5s", "-");
    }
    printf(" | %5" PRIu64 " %4" PRIu64 " %4" PRIu64 "%s%s\n", lost, dup,
           reord, corrupt ? "  CORRUPT FRAMES" : "",
           ok < n ? "  (some runs failed)" : "");
    if (verbose) {
        for (i = 0; i < n; i++) {
            printf("      %s", runs[i].counters);
        }
    }
    fflush(stdout);
    return ok == n && !lost && !dup && !reord && !corrupt;
}

static void usage(void);

static uint64_t parse_num(const char *s)
{
    uint64_t v;
    char extra;

    if (sscanf(s, "%" SCNu64 "%c", &v, &extra) != 1 || v > UINT32_MAX) {
        usage();
    }
    return v;
}

/* Index of a run in main()'s array: scenario, then QEMU, then repeat */
#define RUN_IDX(s, q, rep)  (((size_t)(s) * nq + (q)) * repeat + (rep))

/* Report every QEMU's runs of one scenario (@runs: nq * repeat of them). */
static bool report_scenario(const Scenario *sc, int nq,
                            const char *const *qname,
                            const char *const *qpath, const Result *runs,
                            int repeat)
{
    double floor_fps = 0;
    bool ok = true;
    int q;

    for (q = 0; q < nq && !floor_fps; q++) {
        if (!strcmp(qpath[q], "relay")) {
            floor_fps = median_fps(&runs[q * repeat], repeat);
        }
    }
    for (q = 0; q < nq; q++) {
        if (!report(sc, qname[q], &runs[q * repeat], repeat, floor_fps)) {
            ok = false;
        }
    }
    return ok;
}

/*
 * With one connection and more in the same protocol and size: how much of
 * its one-connection rate each QEMU keeps with more connections.  Each
 * repeat gives a ratio of two runs close in time (so of the same spell
 * of the machine); the median of those ratios is printed.
 */
static void report_scaling(const Scenario *scen, int ns, int nq,
                           const char *const *qname, const Result *runs,
                           int repeat)
{
    bool header = false;
    int i, j, q, rep, n;
    double ratio[MAX_RUNS];

    for (i = 0; i < ns; i++) {
        if (scen[i].conns != 1) {
            continue;
        }
        for (j = 0; j < ns; j++) {
            if (scen[j].conns == 1 || scen[j].tcp != scen[i].tcp ||
                scen[j].size != scen[i].size) {
                continue;
            }
            for (q = 0; q < nq; q++) {
                for (rep = n = 0; rep < repeat; rep++) {
                    const Result *one = &runs[RUN_IDX(i, q, rep)];
                    const Result *many = &runs[RUN_IDX(j, q, rep)];

                    if (one->ok && many->ok && one->received) {
                        ratio[n++] = (many->received / many->seconds) /
                                     (one->received / one->seconds);
                    }
                }
                if (!n) {
                    continue;
                }
                if (!header) {
                    printf("\nscaling: frames/s with N connections over "
                           "frames/s with 1 (median of %d paired "
                           "runs)\n", repeat);
                    header = true;
                }
                printf("%-5s %6u %5u | %-8s %5.2f\n",
                       scen[j].tcp ? "tcp" : "udp", scen[j].conns,
                       scen[j].size, qname[q], median(ratio, n));
            }
        }
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: colo-compare-bench [--quick] [--verbose] [--seconds S]\n"
            "       [--window N] [--repeat N]\n"
            "       [--proto udp|tcp] [--conns N] [--size N]\n"
            "       NAME=QEMU [NAME=QEMU...]\n"
            "(QEMU \"relay\": the built-in relay, the sockets' ceiling)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const uint32_t all_conns[] = { 1, 100, 10000 };
    static const uint32_t all_sizes[] = { 64, 512, 1460 };
    const char *qname[8], *qpath[8];
    int nq = 0, i, p, c, z, q, k;
    double seconds = 2.0;
    uint64_t window = 1024;
    int proto_sel = -1;
    uint32_t conns_sel = 0, size_sel = 0;
    bool quick = false, all_ok = true;
    int repeat = 1, rep;
    Scenario scen[2 * 3 * 3];
    int ns = 0;
    Result *runs;

    signal(SIGPIPE, SIG_IGN);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = true;
        } else if (!strcmp(argv[i], "--verbose")) {
            verbose = true;
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
            repeat = parse_num(argv[++i]);
        } else if (!strcmp(argv[i], "--window") && i + 1 < argc) {
            window = parse_num(argv[++i]);
        } else if (!strcmp(argv[i], "--proto") && i + 1 < argc) {
            i++;
            proto_sel = !strcmp(argv[i], "tcp");
        } else if (!strcmp(argv[i], "--conns") && i + 1 < argc) {
            conns_sel = parse_num(argv[++i]);
        } else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
            size_sel = parse_num(argv[++i]);
        } else if (strchr(argv[i], '=') && nq < 8) {
            char *eq = strchr(argv[i], '=');

            *eq = '\0';
            qname[nq] = argv[i];
            qpath[nq++] = eq + 1;
        } else {
            usage();
        }
    }
    if (!nq || window < BATCH_FRAMES || seconds <= 0 || repeat < 1 ||
        repeat > MAX_RUNS ||
        (size_sel && size_sel < sizeof(struct payload_hdr))) {
        usage();
    }

    printf("colo-compare end to end: frames in on primary_in and "
           "secondary_in, out on outdev\n");
    printf("%.1f s per run, window %" PRIu64 " frames, batches of %d "
           "frames per send()", seconds, window, BATCH_FRAMES);
    if (repeat > 1) {
        printf("; medians of %d runs (integrity: sums)", repeat);
    }
    printf("\n\n%-5s %6s %5s | %-8s %10s %9s %9s %9s %7s %5s | %5s %4s %4s\n",
           "proto", "conns", "size", "qemu", "frames/s", "MB/s", "p50 us",
           "p99 us", "cpu ns", "floor", "lost", "dup", "reord");
    for (p = 0; p < 2; p++) {
        if (proto_sel >= 0 && p != proto_sel) {
            continue;
        }
        for (c = 0; c < 3; c++) {
            if ((conns_sel && all_conns[c] != conns_sel) ||
                (quick && c == 1)) {
                continue;
            }
            for (z = 0; z < 3; z++) {
                if ((size_sel && all_sizes[z] != size_sel) ||
                    (quick && z == 1)) {
                    continue;
                }
                scen[ns].tcp = p == 1;
                scen[ns].conns = all_conns[c];
                scen[ns].size = size_sel ? size_sel : all_sizes[z];
                ns++;
            }
        }
    }
    runs = calloc((size_t)ns * nq * repeat, sizeof(Result));
    if (!runs) {
        die("calloc");
    }
    /*
     * Repeats go round the scenarios and, within each, round the QEMUs:
     * all of them then share the machine's slow and fast spells, which
     * last longer than a run.  Each repeat starts the round with the next
     * QEMU, since the place in the round matters too (the first one ran
     * some 8% faster in paired runs of two identical-speed builds, in
     * either order).  With one repeat each scenario is reported as soon
     * as it has run.
     */
    for (rep = 0; rep < repeat; rep++) {
        for (i = 0; i < ns; i++) {
            for (k = 0; k < nq; k++) {
                q = (k + rep) % nq;
                run_one(qpath[q], &scen[i], seconds, window,
                        &runs[RUN_IDX(i, q, rep)]);
            }
            if (repeat == 1 && !report_scenario(&scen[i], nq, qname, qpath,
                                                &runs[RUN_IDX(i, 0, 0)],
                                                repeat)) {
                all_ok = false;
            }
        }
        if (repeat > 1) {
            fprintf(stderr, "==> repeat %d of %d done\n", rep + 1, repeat);
        }
    }
    for (i = 0; repeat > 1 && i < ns; i++) {
        if (!report_scenario(&scen[i], nq, qname, qpath,
                             &runs[RUN_IDX(i, 0, 0)], repeat)) {
            all_ok = false;
        }
    }
    report_scaling(scen, ns, nq, qname, runs, repeat);
    free(runs);
    printf("\nintegrity: %s\n", all_ok ? "no frame lost, duplicated or "
           "reordered" : "PROBLEMS (see above)");
    return all_ok ? 0 : 1;
}
