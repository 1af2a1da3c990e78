/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rig of the filter-mirror and filter-redirector qtests: a QEMU
 * whose netdev "fnet" is joined through a hub to "hnet", both socket
 * netdevs whose other ends the test holds, plus the chardev wire format
 * and counter helpers.
 */

#ifndef TESTS_QTEST_COLO_FILTER_RIG_H
#define TESTS_QTEST_COLO_FILTER_RIG_H

#include "colo-proxy-qtest.h"

typedef struct Rig {
    QTestState *qts;
    char *dir;
    int hnet;           /* test end of hnet's socket */
    int fnet;           /* test end of fnet's socket */
} Rig;

char *rig_path(Rig *r, const char *name);

GByteArray *net_recv(int fd);

void rec_send(int fd, bool vnet, uint32_t len, uint32_t vlen,
              const uint8_t *frame, size_t frame_len);

GByteArray *rec_recv(int fd, bool vnet, uint32_t *vlen);

GByteArray *make_frame(size_t len, unsigned seed);

void assert_same(GByteArray *a, GByteArray *b);

void rig_start(Rig *r, const char *binary_env, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

void rig_init(Rig *r);

void rig_free(Rig *r);

bool proxy_exists(QTestState *qts, const char *id);

uint64_t stat_get(QTestState *qts, const char *id, const char *name);

void stat_wait(QTestState *qts, const char *id, const char *name,
               uint64_t want);

void chardev_wait(QTestState *qts, const char *id, bool connected);

void qmp_expect_error(QTestState *qts, const char *needle,
                      const char *fmt, ...) G_GNUC_PRINTF(3, 4);

#endif /* TESTS_QTEST_COLO_FILTER_RIG_H */
