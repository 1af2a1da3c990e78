/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the COLO-proxy qtests: UNIX socket listeners and
 * robust reads and writes for the chardevs and socket netdevs a test
 * holds the other end of, and query-colo-proxy lookups.
 */

#ifndef TESTS_QTEST_COLO_PROXY_QTEST_H
#define TESTS_QTEST_COLO_PROXY_QTEST_H

#include "libqtest.h"

#define TIMEOUT_MS 20000

int listen_unix(const char *path);

int bind_udp(uint16_t *port);

void expect_udp_record(int fd, GByteArray *frame);

bool wait_fd(int fd, short events, int timeout_ms);

int accept_timeout(int lfd);

void write_all(int fd, const void *buf, size_t len);

bool read_exact(int fd, void *buf, size_t len);

bool fd_idle(int fd);

void wait_eof(int fd);

void net_send(int fd, const uint8_t *frame, size_t len);

QDict *proxy_info(QTestState *qts, const char *id);

#endif /* TESTS_QTEST_COLO_PROXY_QTEST_H */
