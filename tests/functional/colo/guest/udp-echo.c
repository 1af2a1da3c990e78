/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * UDP echo service of the COLO test guest: answers every datagram on
 * PORT (IPv4 and IPv6) with the same bytes.  Busybox's nc has no UDP
 * mode, hence this.  Built static by scripts/colo/guest/build.sh.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
    struct sockaddr_in6 addr;
    struct sockaddr_storage from;
    socklen_t fromlen;
    char buf[65536];
    ssize_t n;
    int off = 0;
    int fd;

    fd = socket(AF_INET6, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("udp-echo: socket");
        return 1;
    }
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    memset(&addr, 0, sizeof(addr));
    addr.sin6_family = AF_INET6;
    addr.sin6_port = htons(argc > 1 ? atoi(argv[1]) : 7);
    addr.sin6_addr = in6addr_any;
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        perror("udp-echo: bind");
        return 1;
    }
    for (;;) {
        fromlen = sizeof(from);
        n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
                     &fromlen);
        if (n < 0) {
            continue;
        }
        sendto(fd, buf, n, 0, (struct sockaddr *)&from, fromlen);
    }
}
