#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Writes the seed corpus of the "compare" fuzz target (fuzz-compare.c)
# into tests/fuzz/colo/corpus/compare/: one small script per comparison
# situation.  See fuzz-compare.c for the script format.
#
#   python3 tests/fuzz/colo/gen-compare-corpus.py

import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   'corpus', 'compare')

# protocols (bits 2-4 of the flow byte)
TCP, TCP2, UDP, ICMP, ARP, TCP6, UDP6, TCPVLAN = range(8)  # UDP6+misc 2: ICMPv6
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
P, S = 0, 1


def header(max_conn=4, vnet=0, max_queue=8, mirror=False, timeout_ms=30,
           base=0x10, burst=False):
    return bytes([(max_conn - 1) | (vnet << 3),
                  (max_queue - 1) | (0x10 if mirror else 0) |
                  (0x20 if burst else 0),
                  timeout_ms - 1, base])


def frame(side, flow=0, proto=TCP, misc=0, flags=ACK, off=0, plen=0,
          mut=0):
    """A built frame; mut=1 corrupts one byte (non-mirror scripts)."""
    return bytes([0 | (side << 3), flow | (proto << 2) | (misc << 5),
                  flags]) + struct.pack('<H', off) + \
        bytes([plen | (0xc0 if mut else 0)])


def raw(side, data):
    return bytes([4 | (side << 3), len(data)]) + data


def advance(units, expire=False):
    return bytes([5 | (8 if expire else 0), units])


def expire():
    return bytes([6])


def checkpoint():
    return bytes([6 | 8])


def failover():
    return bytes([0xff])


def both(**kw):
    return frame(P, **kw) + frame(S, **kw)


SEEDS = {}

SEEDS['tcp-identical'] = header() + b''.join(
    both(off=o, plen=40) for o in range(0, 200, 40))

SEEDS['tcp-mirror'] = header(mirror=True) + b''.join(
    frame(P, off=o, plen=30) for o in range(0, 300, 30)) + \
    frame(P, flow=1, proto=UDP, off=3, plen=10)

SEEDS['tcp-resegment'] = header() + frame(P, off=0, plen=60) + b''.join(
    frame(S, off=o, plen=15) for o in range(0, 60, 15))

SEEDS['tcp-resegment-rev'] = header() + b''.join(
    frame(P, off=o, plen=15) for o in range(0, 60, 15)) + \
    frame(S, off=0, plen=60)

SEEDS['tcp-payload-diff'] = header() + frame(P, off=0, plen=40) + \
    frame(S, off=0, plen=20) + frame(S, off=20, plen=20, mut=1)

SEEDS['tcp-retransmit'] = header() + both(off=0, plen=30) + \
    frame(P, off=0, plen=30) + frame(S, off=0, plen=30) + \
    frame(P, off=10, plen=40) + frame(S, off=30, plen=20)

SEEDS['tcp-out-of-order'] = header() + frame(P, off=0, plen=20) + \
    frame(P, off=40, plen=20) + frame(P, off=20, plen=20) + \
    frame(S, off=0, plen=60)

SEEDS['tcp-guest-connect'] = header() + \
    frame(P, flow=0, flags=SYN, off=0) + \
    frame(S, flow=1, flags=SYN, off=999) + \
    frame(P, flow=0, flags=ACK, off=1) + \
    both(flow=0, off=1, plen=50)

SEEDS['tcp-guest-accept'] = header() + \
    frame(P, flags=SYN | ACK, off=0) + frame(S, flags=SYN | ACK, off=0) + \
    both(off=1, plen=33) + frame(S, flags=SYN | ACK, misc=1, off=100) + \
    frame(P, flags=SYN | ACK, off=100)

SEEDS['tcp-fin'] = header() + frame(P, flags=ACK | FIN, off=0, plen=20) + \
    frame(S, off=0, plen=20) + frame(S, flags=ACK | FIN, off=20) + \
    frame(P, flags=ACK | FIN, off=0, plen=10) + \
    frame(S, flags=ACK | FIN, off=0, plen=5)

SEEDS['tcp-rst'] = header() + frame(P, off=0, plen=10) + \
    frame(P, flags=RST, off=10) + frame(S, flags=RST | ACK, off=77) + \
    frame(S, off=0, plen=10) + frame(P, flow=2, flags=RST) + \
    advance(255, expire=True)

SEEDS['tcp-pure-ack'] = header() + both(flags=ACK, off=5) + \
    frame(P, off=0, plen=10) + frame(P, flags=ACK, off=10) + \
    frame(S, off=0, plen=10)

SEEDS['udp-fifo'] = header(max_queue=16) + b''.join(
    frame(P, flow=1, proto=UDP, off=i, plen=8 + i) for i in range(12)) + \
    b''.join(frame(S, flow=1, proto=UDP, off=i, plen=8 + i)
             for i in range(12))

SEEDS['udp-size'] = header() + frame(P, proto=UDP, plen=10) + \
    frame(S, proto=UDP, plen=11)

SEEDS['icmp'] = header() + both(proto=ICMP, off=1, plen=32) + \
    frame(P, proto=ICMP, off=2, plen=32) + frame(S, proto=ICMP, off=3,
                                                   plen=32)

SEEDS['arp'] = header() + both(proto=ARP, off=1) + \
    frame(P, proto=ARP, off=2) + frame(S, proto=ARP, off=3)

SEEDS['ipv6'] = header() + both(proto=TCP6, off=0, plen=50) + \
    both(proto=UDP6, off=4, plen=20) + both(proto=TCP6, flow=3, off=9) + \
    both(proto=UDP6, misc=2, off=5, plen=16)

SEEDS['vlan'] = header() + both(proto=TCPVLAN, off=0, plen=25) + \
    frame(P, proto=TCPVLAN, flow=1, off=0, plen=5) + \
    frame(S, proto=TCPVLAN, flow=2, off=0, plen=5) + advance(200, True)

SEEDS['timeout'] = header(timeout_ms=2) + frame(P, off=0, plen=10) + \
    frame(S, off=0, plen=5) + advance(10) + frame(P, proto=UDP) + \
    advance(15, expire=True) + advance(30, expire=True) + \
    frame(S, proto=UDP, flow=3) + advance(40, expire=True)

SEEDS['queue-full'] = header(max_queue=2) + b''.join(
    frame(P, proto=UDP, off=i, plen=4) for i in range(4)) + b''.join(
    frame(S, flow=1, off=i * 10, plen=10) for i in range(4))

SEEDS['table-full'] = header(max_conn=1) + frame(P, flow=0, plen=5) + \
    frame(P, flow=1, plen=5) + frame(S, flow=1, plen=5) + \
    frame(P, flow=2, flags=SYN) + frame(S, flow=0, plen=5)

SEEDS['malformed'] = header() + raw(P, b'\x52\x54\x00') + \
    raw(S, bytes(14)) + \
    raw(P, bytes.fromhex('525400000002525400000001080045000014')) + \
    frame(P, off=3, plen=9, mut=1) + frame(S, off=3, plen=9, mut=1)

SEEDS['checkpoint'] = header() + frame(P, off=0, plen=30) + \
    frame(P, proto=UDP, plen=3) + frame(S, off=20, plen=30) + \
    checkpoint() + frame(S, off=0, plen=30) + frame(P, off=30, plen=20) + \
    frame(S, off=30, plen=20)

SEEDS['failover'] = header() + frame(P, off=0, plen=30) + \
    frame(S, off=0, plen=10) + failover() + frame(P, off=30, plen=4) + \
    frame(S, proto=UDP)

SEEDS['vnet-hdr'] = header(vnet=1) + both(off=0, plen=20) + \
    both(proto=UDP, plen=7) + raw(P, bytes(10))

SEEDS['vnet-hdr-12'] = header(vnet=2, mirror=True) + \
    frame(P, off=0, plen=20) + frame(P, proto=ICMP, plen=8)

SEEDS['wraparound'] = header(base=0xff) + b''.join(
    both(off=o, plen=60) for o in range(0, 65535 - 4096, 4096)[:6]) + \
    both(off=4000, plen=63)

SEEDS['mirror-mix'] = header(mirror=True, max_queue=4, max_conn=2) + \
    frame(P, flags=SYN | ACK, misc=1) + frame(P, off=1, plen=20) + \
    frame(P, off=41, plen=20) + frame(P, flow=1, proto=UDP, plen=5) + \
    frame(P, flow=2, proto=ARP) + frame(P, off=21, plen=20) + \
    advance(50, expire=True) + checkpoint() + frame(P, off=61, plen=9)

# Bursts: runs of one side's frames over several flows, with malformed
# frames, pure ACKs, UDP and a divergence inside the runs.
SEEDS['burst-mix'] = header(burst=True, max_conn=8) + b''.join(
    frame(P, flow=f, off=20 * i, plen=20) for i in range(3)
    for f in range(4)) + raw(P, b'\x52\x54\x00') + \
    frame(P, flow=5, proto=UDP, plen=8) + frame(P, flags=ACK, off=60) + \
    b''.join(frame(S, flow=f, off=20 * i, plen=20, mut=(f == 2 and i == 1))
             for i in range(3) for f in range(4)) + \
    frame(S, flow=5, proto=UDP, plen=8) + raw(S, b'\x00' * 20) + \
    advance(10, expire=True) + checkpoint()

SEEDS['burst-table-full'] = header(burst=True, max_conn=2, max_queue=2) + \
    b''.join(frame(P, flow=f, off=0, plen=10) for f in range(5)) + \
    b''.join(frame(S, flow=f, off=0, plen=10) for f in range(5))

SEEDS['burst-mirror'] = header(burst=True, mirror=True, vnet=2) + b''.join(
    frame(P, flow=f, off=30 * i, plen=30) for i in range(4)
    for f in range(3))


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        if name.endswith('.bin'):
            os.unlink(os.path.join(OUT, name))
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(OUT, name + '.bin'), 'wb') as f:
            f.write(data)
    print(f'{len(SEEDS)} seeds written to {OUT}')


if __name__ == '__main__':
    main()
