#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Writes the seed corpus of fuzz-stream.c into corpus/stream/.
# Input layout: control byte, script length byte, script, stream.

import os
import struct

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, 'corpus', 'stream')
os.makedirs(out, exist_ok=True)


def rec(data, vnet=False, vlen=0, length=None):
    n = len(data) if length is None else length
    p = struct.pack('>I', n)
    if vnet:
        p += struct.pack('>I', vlen)
    return p + data


def frame(n, seed=0):
    return bytes((seed * 31 + i * 7) & 0xff for i in range(n))


def seed(name, ctl, script, stream):
    body = bytes([ctl, (len(script) - 1) % 16]) + bytes(script) + stream
    with open(os.path.join(out, name), 'wb') as f:
        f.write(body)


eth = frame(60, 1)
seed('plain-one', 0, [255], rec(eth))
seed('plain-many-whole', 0, [255], b''.join(rec(frame(n, n))
                                            for n in (1, 14, 60, 300, 1514)))
seed('plain-byte-at-a-time', 0, [1], rec(eth) + rec(frame(20, 2)))
seed('vnet-one', 1, [255], rec(bytes(10) + eth, True, 10))
seed('vnet-hdr-equals-len', 1, [3, 7], rec(frame(12), True, 12))
seed('vnet-split', 1, [5, 9, 2], b''.join(rec(bytes(12) + frame(n, n), True, 12)
                                          for n in (40, 90, 200)))
seed('zero-length', 0, [255], rec(eth) + rec(b'', length=0) + rec(eth))
seed('zero-length-vnet', 1, [4], rec(b'', True, 0, length=0) + rec(eth, True))
seed('too-long-default', 0, [255], rec(b'', length=4096 + 65536 + 1) + rec(eth))
seed('too-long-64', 2, [255], rec(frame(64)) + rec(frame(65)) + rec(eth))
seed('too-long-1514', 4, [200, 200], rec(frame(1514)) + rec(frame(1515)))
seed('vnet-hdr-too-long', 1, [255], rec(frame(30), True, 31) + rec(eth, True))
seed('reset-mid-frame', 0, [30, 0, 255], rec(eth) + rec(eth))
seed('reset-mid-prefix', 1, [2, 0, 255], rec(eth, True, 0) + rec(eth, True, 0))
seed('reset-after-error', 0, [5, 0, 255], rec(b'', length=0) + rec(eth))
seed('max-frame-4096', 6, [201, 7], rec(frame(4096, 3)) + rec(frame(4097)))
seed('big-split', 0, [210, 13, 250], rec(frame(9000, 4)) + rec(frame(70, 5)))
seed('encoder-pressure', 3 | (0 << 3), [1, 2, 3],
     b''.join(rec(frame(60 + i, i), True, i % 20) for i in range(20)))
seed('truncated-end', 0, [255], rec(eth) + rec(eth)[:30])
