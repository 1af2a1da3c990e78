#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Generate the seed corpus of the "packet" fuzz target (fuzz-packet.c):
# small frames covering every protocol path of net/colo.c, a few malformed
# ones, and multi-frame inputs driving the connection table.
#
#   python3 tests/fuzz/colo/gen-packet-corpus.py [OUTDIR]
#
# OUTDIR defaults to tests/fuzz/colo/corpus/packet next to this script.
# Existing *.bin files there are replaced.  Python 3 standard library only.

import os
import struct
import sys

V4_A = bytes([10, 0, 0, 1])
V4_B = bytes([10, 0, 0, 2])
V6_A = bytes([0xfd] + [0] * 14 + [1])
V6_B = bytes([0xfd] + [0] * 14 + [2])

TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58
HOP, ROUTING, FRAG, ESP, AH, NONE, DST = 0, 43, 44, 50, 51, 59, 60
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def csum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def eth(ethertype, vlans=()):
    h = bytes.fromhex('525400000001525400000002')
    for tpid, tci in vlans:
        h += struct.pack('!HH', tpid, tci)
    return h + struct.pack('!H', ethertype)


def tcp(sport, dport, seq, ack, flags, opts=b'', payload=b''):
    assert len(opts) % 4 == 0
    doff = (20 + len(opts)) // 4
    return struct.pack('!HHIIBBHHH', sport, dport, seq, ack, doff << 4,
                       flags, 29200, 0, 0) + opts + payload


def udp(sport, dport, payload=b''):
    return struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload


def icmp(typ, code, ident, payload=b''):
    return struct.pack('!BBHHH', typ, code, 0, ident, 1) + payload


CSUM_AT = {TCP: 16, UDP: 6, ICMP: 2, ICMPV6: 2}


def fill_l4_csum(proto, l4, pseudo):
    at = CSUM_AT.get(proto)
    if at is None or len(l4) < at + 2:
        return l4
    c = csum(pseudo + l4)
    if proto == UDP and c == 0:
        c = 0xffff
    return l4[:at] + struct.pack('!H', c) + l4[at + 2:]


def ipv4(proto, l4, src=V4_A, dst=V4_B, opts=b'', frag=0x4000,
         l4csum=True):
    ihl = 5 + len(opts) // 4
    if l4csum:
        pseudo = b'' if proto == ICMP else \
            src + dst + struct.pack('!BBH', 0, proto, len(l4))
        l4 = fill_l4_csum(proto, l4, pseudo)
    hdr = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, 4 * ihl + len(l4),
                      0x1234, frag, 64, proto, 0, src, dst) + opts
    hdr = hdr[:10] + struct.pack('!H', csum(hdr)) + hdr[12:]
    return hdr + l4


def ipv6(nh, upper, body, exts=b'', src=V6_A, dst=V6_B, l4csum=True):
    """body: upper-layer bytes; exts: extension headers before it."""
    if l4csum:
        pseudo = src + dst + struct.pack('!I3xB', len(body), upper)
        body = fill_l4_csum(upper, body, pseudo)
    payload = exts + body
    return struct.pack('!IHBB16s16s', 0x60000000, len(payload), nh, 64,
                       src, dst) + payload


def ext(nh, length):
    """hop-by-hop / routing / destination options header of length bytes"""
    return bytes([nh, length // 8 - 1]) + b'\1' + bytes([length - 4]) + \
        bytes(length - 4)


def ah(nh, length):
    return bytes([nh, length // 4 - 2]) + bytes(length - 2)


def frag6(nh, offset, more):
    return struct.pack('!BBHI', nh, 0, (offset << 3) | more, 0xcafe)


TCP_OPTS = bytes([2, 4, 5, 0xb4, 1, 3, 3, 7, 1, 1, 8, 10,
                  0, 0, 0, 1, 0, 0, 0, 2,
                  1, 1, 5, 18, 0, 0, 0x10, 0, 0, 0, 0x20, 0,
                  0, 0, 0x30, 0, 0, 0, 0x40, 0])


def single(frame, vnet=0):
    """control byte: vnet selector in bits 0-1, single-frame mode"""
    sel = {0: 0, 10: 1, 12: 2}[vnet]
    return bytes([sel]) + (bytes(vnet) if vnet else b'') + frame


def multi(frames, vnet=0, step=1):
    sel = {0: 0, 10: 1, 12: 2}[vnet]
    out = bytes([sel | 4 | (step << 3)])
    for f in frames:
        f = (bytes(vnet) if vnet else b'') + f
        out += struct.pack('!H', len(f)) + f
    return out


def tcp4(src, sport, dst, dport, seq, ack, flags, payload=b'', opts=b''):
    return eth(0x0800) + ipv4(TCP, tcp(sport, dport, seq, ack, flags, opts,
                                       payload), src=src, dst=dst)


def corpus():
    c = {}
    data = bytes(range(32))
    c['ipv4-tcp'] = single(eth(0x0800) + ipv4(TCP, tcp(1234, 80, 1, 2,
                                                       ACK | PSH,
                                                       payload=data)))
    c['ipv4-tcp-opts'] = single(eth(0x0800) + ipv4(TCP, tcp(
        1234, 80, 1, 2, ACK, TCP_OPTS, b'xyz')))
    c['ipv4-udp'] = single(eth(0x0800) + ipv4(UDP, udp(5353, 53, data)))
    c['ipv4-udp-nocsum'] = single(eth(0x0800) + ipv4(UDP, udp(1, 2, data),
                                                     l4csum=False))
    c['ipv4-icmp-echo'] = single(eth(0x0800) + ipv4(ICMP, icmp(8, 0, 77,
                                                               data)))
    c['ipv4-icmp-unreach'] = single(eth(0x0800) + ipv4(ICMP, icmp(3, 3, 0,
                                                                  data)))
    c['ipv4-options'] = single(eth(0x0800) + ipv4(
        TCP, tcp(1, 2, 3, 4, ACK), opts=b'\1' * 12))
    c['ipv4-frag-first'] = single(eth(0x0800) + ipv4(
        UDP, struct.pack('!HHHH', 7, 9, 3000, 0) + data, frag=0x2000,
        l4csum=False))
    c['ipv4-frag-next'] = single(eth(0x0800) + ipv4(TCP, data, frag=185,
                                                    l4csum=False))
    c['ipv4-gre'] = single(eth(0x0800) + ipv4(47, data))
    c['ipv4-padded'] = single(eth(0x0800) + ipv4(TCP, tcp(1, 2, 3, 4, ACK,
                                                          payload=b'ab'))
                              + bytes(4))
    c['ipv6-tcp'] = single(eth(0x86dd) + ipv6(TCP, TCP, tcp(
        40000, 443, 7, 0, SYN, TCP_OPTS[:20])))
    c['ipv6-udp'] = single(eth(0x86dd) + ipv6(UDP, UDP, udp(546, 547, data)))
    c['ipv6-icmpv6-echo'] = single(eth(0x86dd) + ipv6(
        ICMPV6, ICMPV6, icmp(128, 0, 0x4242, data)))
    c['ipv6-hop-tcp'] = single(eth(0x86dd) + ipv6(
        HOP, TCP, tcp(1, 2, 3, 4, ACK, payload=data), exts=ext(TCP, 8)))
    c['ipv6-routing-udp'] = single(eth(0x86dd) + ipv6(
        ROUTING, UDP, udp(1, 2, data), exts=ext(UDP, 24)))
    c['ipv6-dst-icmpv6'] = single(eth(0x86dd) + ipv6(
        DST, ICMPV6, icmp(129, 0, 5), exts=ext(ICMPV6, 16)))
    c['ipv6-ah-tcp'] = single(eth(0x86dd) + ipv6(
        AH, TCP, tcp(1, 2, 3, 4, ACK), exts=ah(TCP, 24)))
    c['ipv6-frag-first'] = single(eth(0x86dd) + ipv6(
        FRAG, UDP, struct.pack('!HHHH', 7, 9, 5000, 0) + data,
        exts=frag6(UDP, 0, 1), l4csum=False))
    c['ipv6-frag-next'] = single(eth(0x86dd) + ipv6(
        FRAG, DST, data, exts=frag6(DST, 100, 0), l4csum=False))
    c['ipv6-chain-8'] = single(eth(0x86dd) + ipv6(
        DST, UDP, udp(1, 2), exts=b''.join(ext(DST, 8) for _ in range(7)) +
        ext(UDP, 8)))
    c['ipv6-esp'] = single(eth(0x86dd) + ipv6(ESP, ESP, data))
    c['ipv6-nonext'] = single(eth(0x86dd) + ipv6(NONE, NONE, b''))
    c['vlan-ipv4-tcp'] = single(eth(0x0800, [(0x8100, 0x2005)]) + ipv4(
        TCP, tcp(1, 2, 3, 4, ACK, payload=b'q')))
    c['qinq-ipv6-udp'] = single(eth(0x86dd, [(0x88a8, 100), (0x8100, 10)]) +
                                ipv6(UDP, UDP, udp(1, 2, b'q')))
    c['arp'] = single(eth(0x0806) + bytes(28))
    c['vnet10-ipv4-tcp'] = single(eth(0x0800) + ipv4(
        TCP, tcp(1, 2, 3, 4, ACK, payload=data)), vnet=10)
    c['vnet12-ipv6-tcp'] = single(eth(0x86dd) + ipv6(
        TCP, TCP, tcp(1, 2, 3, 4, ACK, TCP_OPTS, data)), vnet=12)
    # malformed
    c['bad-vlan-depth'] = single(eth(0x0800, [(0x88a8, 1), (0x8100, 2),
                                              (0x8100, 3)]) + bytes(20))
    c['bad-ipv4-ihl'] = single(eth(0x0800) + b'\x44' + bytes(30))
    c['bad-ipv6-chain-9'] = single(eth(0x86dd) + ipv6(
        DST, UDP, udp(1, 2), exts=b''.join(ext(DST, 8) for _ in range(8)) +
        ext(UDP, 8)))
    c['bad-tcp-doff'] = single(eth(0x0800) + ipv4(TCP, tcp(1, 2, 3, 4, ACK)
                                                  [:12] + b'\xf0' +
                                                  bytes(11)))
    c['bad-tcp-opts'] = single(eth(0x0800) + ipv4(TCP, tcp(
        1, 2, 3, 4, ACK, bytes([1, 8, 10, 0]))))
    c['bad-udp-len'] = single(eth(0x0800) + ipv4(UDP, struct.pack(
        '!HHHH', 1, 2, 100, 0)))
    # connection table: handshake, data, FIN both ways, RST, reuse
    a, b = V4_A, V4_B
    c['multi-tcp-fin'] = multi([
        tcp4(a, 5000, b, 80, 1000, 0, SYN),
        tcp4(b, 80, a, 5000, 9000, 1001, SYN | ACK),
        tcp4(a, 5000, b, 80, 1001, 9001, ACK),
        tcp4(a, 5000, b, 80, 1001, 9001, ACK | PSH, b'GET /'),
        tcp4(b, 80, a, 5000, 9001, 1006, ACK | FIN),
        tcp4(a, 5000, b, 80, 1006, 9002, ACK | FIN),
        tcp4(b, 80, a, 5000, 9002, 1007, ACK),
        tcp4(a, 5000, b, 80, 2000, 0, SYN),
    ], step=1)
    c['multi-tcp-rst-many'] = multi(
        [tcp4(a, 6000 + i, b, 80, i, 0, SYN) for i in range(6)] +
        [tcp4(b, 80, a, 6001, 0, 0, RST)] +
        [tcp4(a, 7000 + i, b, 80, i, 0, SYN) for i in range(3)], step=3)
    c['multi-tcp-reopen'] = multi([
        tcp4(a, 5000, b, 80, 1000, 0, SYN),
        tcp4(b, 80, a, 5000, 9000, 1001, SYN | ACK),
        tcp4(a, 5000, b, 80, 1001, 9001, RST),
        tcp4(b, 80, a, 5000, 3000, 0, SYN),
        tcp4(a, 5000, b, 80, 1001, 0, SYN | RST),
    ], step=2)
    c['multi-mixed'] = multi([
        eth(0x86dd) + ipv6(UDP, UDP, udp(1, 2, b'\xde\xad')),
        eth(0x0800) + ipv4(ICMP, icmp(8, 0, 9)),
        eth(0x0800) + ipv4(ICMP, icmp(0, 0, 9), src=b, dst=a),
        eth(0x0806) + bytes(28),
        b'\x00' * 5,
    ], vnet=10, step=31)
    return c


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.join(here, 'corpus', 'packet')
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        if name.endswith('.bin'):
            os.unlink(os.path.join(out, name))
    files = corpus()
    for name, blob in sorted(files.items()):
        with open(os.path.join(out, name + '.bin'), 'wb') as f:
            f.write(blob)
    print('%d files in %s' % (len(files), out))


if __name__ == '__main__':
    main()
