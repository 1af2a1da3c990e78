#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Generate the seed corpus of the "rewrite" fuzz target (fuzz-rewrite.c):
# scripts of frames (built from 8 descriptor bytes each, see build() in
# fuzz-rewrite.c) and events covering passive, active, concurrent and
# simultaneous opens, SACK, teardown, checkpoint, failover, expiry,
# IPv6, VLAN, vnet headers, damaged and raw frames, and a full table.
#
#   python3 tests/fuzz/colo/gen-rewrite-corpus.py [OUTDIR]
#
# OUTDIR defaults to tests/fuzz/colo/corpus/rewrite next to this script.
# Existing *.bin files there are replaced, except park-*.bin: inputs kept
# from fuzzing runs that reach the SYN-ACK parking (which these scripts
# leave off).  Python 3 standard library only.

import os
import sys

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# indexes into ports[] and seqs[] of fuzz-rewrite.c
P80, P443, P1000, P22, P40000, P40001, P50000, P50001 = 0, 1, 2, 4, 5, 6, 8, 9
S1000, S2000, S0x12345678, S0x40000000, S100, S5000 = 3, 4, 9, 10, 12, 14
S0xfffffff0, S0xffffffff = 7, 8

OP_CHECKPOINT, OP_FAILOVER, OP_EXPIRE, OP_RAW, OP_FRAME = 0, 0x81, 2, 3, 4


def seq(idx, delta=0):
    return (delta << 4) | idx


class Script:
    def __init__(self, max_conn=8, no_idle=False, no_linger=False):
        self.b = bytearray([((max_conn - 1) & 15) |
                            (0x10 if no_idle else 0) |
                            (0x20 if no_linger else 0)])

    def frame(self, to_guest, flags, gport, pport, s, a, payload=0,
              v6=False, vlan=0, vnet=0, ts=False, peer9=False, sack=0,
              sack_base=0, damage=0):
        d0 = ((1 if to_guest else 0) | (2 if v6 else 0) | (vlan << 2) |
              (vnet << 4) | (0x40 if ts else 0) | (0x80 if peer9 else 0))
        self.b += bytes([OP_FRAME, d0, flags, gport | (pport << 4), s, a,
                         payload, sack | (sack_base << 3), damage])
        return self

    def op(self, *ops):
        self.b += bytes(ops)
        return self

    def raw(self, data, vnet=False, to_guest=False):
        self.b += bytes([OP_RAW | (0x40 if vnet else 0) |
                         (0x80 if to_guest else 0), len(data)]) + data
        return self


def passive(sc, **kw):
    # peer 40000 -> guest 80; P = 1000, Is = 0x12345678, Ip = 0x40000000
    sc.frame(True, SYN, P80, P40000, seq(S1000), 0, **kw)
    sc.frame(False, SYN | ACK, P80, P40000, seq(S0x12345678),
             seq(S1000, 1), **kw)
    sc.frame(True, ACK, P80, P40000, seq(S1000, 1), seq(S0x40000000, 1),
             **kw)
    sc.frame(False, ACK | PSH, P80, P40000, seq(S0x12345678, 1),
             seq(S1000, 1), payload=100, **kw)
    sc.frame(True, ACK, P80, P40000, seq(S1000, 1), seq(S0x40000000, 2),
             sack=2, sack_base=S0x40000000, **kw)
    return sc


def active(sc, gport=P40000, ppri=P50000, **kw):
    # guest gport -> peer 80; Is = 2000, primary port ppri, Ip = 5000
    sc.frame(False, SYN, gport, P80, seq(S2000), 0, peer9=True, **kw)
    sc.frame(True, SYN | ACK, ppri, P80, seq(S100), seq(S5000, 1),
             peer9=True, **kw)
    sc.frame(False, ACK, gport, P80, seq(S2000, 1), seq(S100, 1),
             peer9=True, **kw)
    sc.frame(False, ACK | PSH, gport, P80, seq(S2000, 1), seq(S100, 1),
             payload=50, peer9=True, **kw)
    sc.frame(True, ACK, ppri, P80, seq(S100, 1), seq(S5000, 3),
             peer9=True, sack=1, sack_base=S5000, **kw)
    return sc


def teardown_active(sc, gport=P40000, ppri=P50000):
    sc.frame(False, FIN | ACK, gport, P80, seq(S2000, 3), seq(S100, 1),
             peer9=True)
    sc.frame(True, FIN | ACK, ppri, P80, seq(S100, 1), seq(S5000, 4),
             peer9=True)
    sc.frame(False, ACK, gport, P80, seq(S2000, 4), seq(S100, 2),
             peer9=True)
    return sc


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.join(here, 'corpus', 'rewrite')
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.endswith('.bin') and not f.startswith('park-'):
            os.unlink(os.path.join(out, f))

    seeds = {
        'passive': passive(Script()),
        'passive-v6': passive(Script(), v6=True),
        'passive-vlan': passive(Script(), vlan=1),
        'passive-qinq-vnet': passive(Script(), vlan=3, vnet=2, ts=True),
        'active': active(Script()),
        'active-teardown': teardown_active(active(Script())).op(
            OP_EXPIRE, 40),
        'active-v6-vnet-csum': active(Script(), v6=True, vnet=3),
        'active-same-port': active(Script(), ppri=P40000),
        'concurrent': active(active(Script(), gport=P40001, ppri=P50001)),
        'checkpoint': active(passive(Script())).op(OP_CHECKPOINT).frame(
            False, ACK, P50000, P80, seq(S5000, 1), seq(S100, 1),
            peer9=True),
        'failover': active(passive(Script())).frame(
            False, SYN, P40001, P80, seq(S2000), 0, peer9=True).op(
            OP_FAILOVER).frame(
            True, ACK, P50000, P80, seq(S100, 1), seq(S5000, 2),
            peer9=True).op(OP_CHECKPOINT),
        'expire': active(Script()).op(OP_EXPIRE, 255, OP_EXPIRE, 255),
        'simultaneous': Script().frame(
            False, SYN, P22, P22, seq(S2000), 0).frame(
            True, SYN, P22, P22, seq(S100), 0).frame(
            False, SYN | ACK, P22, P22, seq(S2000), seq(S100, 1)).frame(
            True, SYN | ACK, P22, P22, seq(S100), seq(S5000, 1)),
        'wrap': Script().frame(
            False, SYN, P40000, P80, seq(S0xfffffff0), 0).frame(
            True, SYN | ACK, P50000, P80, seq(S0xffffffff),
            seq(S0x12345678, 1)).frame(
            False, ACK | PSH, P40000, P80, seq(S0xfffffff0, 1),
            seq(S0xffffffff, 1), payload=200),
        'rst': passive(Script()).frame(
            True, RST, P80, P40000, seq(S1000, 1), 0).frame(
            True, SYN, P80, P40000, seq(S5000), 0),
        'damaged': active(Script()).frame(
            True, ACK, P50000, P80, seq(S100, 1), seq(S5000, 1),
            peer9=True, damage=0x35).frame(
            False, ACK, P40000, P80, seq(S2000, 1), seq(S100, 1),
            peer9=True, damage=0x42),
        'raw': Script().raw(bytes(range(60))).raw(
            bytes.fromhex('525400000002525400000009080045000028'),
            to_guest=True).raw(bytes(30), vnet=True),
        'table-full': Script(max_conn=2),
    }
    flood = seeds['table-full']
    for i in range(6):
        active(flood, gport=P40000 + (i % 3), ppri=P50000 + (i % 3))
    for i in range(12):
        flood.frame(True, SYN, P80, i % 16, seq(i % 16), 0)

    for name, sc in seeds.items():
        with open(os.path.join(out, name + '.bin'), 'wb') as f:
            f.write(bytes(sc.b))
    print('%d seeds written to %s' % (len(seeds), out))


if __name__ == '__main__':
    main()
