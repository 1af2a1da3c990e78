#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# filter-mirror throughput: frames per second mirrored through a real
# QEMU.
#
#   bench/filter-mirror-bench.py [--qemu BIN] [--stock BIN] [--frames N]
#                                [--sizes 64,1514] [--runs R]
#
# Defaults: --qemu $COLO_QEMU or build/qemu-system-x86_64 (our build) and,
# if it exists, --stock /tmp/qstock-build/qemu-system-x86_64 for
# comparison.  Run by "make bench".
#
# Rig (no guest, no tap): a socket netdev "hnet" whose peer is a port of
# a hub whose only other port is connected to nothing, so the frames go
# nowhere after the filter and only the mirror's work is measured.  The bench writes N frames into
# hnet's socket; hnet sends them (the tx direction), and its
# filter-mirror (queue=tx) copies each to a UNIX socket chardev read by
# the bench.  The figure is the number of mirrored frames received on
# the chardev divided by the time from the first frame written to the
# last mirrored byte received.  Frames the mirror dropped (our build:
# backlog bound; visible in query-colo-proxy) are reported separately
# and not counted.
#
# Prints one line per binary and frame size, e.g.
#   ours   1514 B:  250000 frames/s mirrored (3.03 Gbit/s), 200000/200000
#   mirrored, dropped: 0

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class Drain(threading.Thread):
    """Read a socket until @expect bytes arrived or it goes quiet."""

    def __init__(self, sock, expect):
        super().__init__(daemon=True)
        self.sock, self.expect = sock, expect
        self.got, self.last = 0, None

    def run(self):
        self.sock.settimeout(2.0)
        buf = bytearray(1 << 20)
        while self.got < self.expect:
            try:
                n = self.sock.recv_into(buf)
            except socket.timeout:
                return
            if n == 0:
                return
            self.got += n
            self.last = time.monotonic()


def qmp(path, cmd):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    f = s.makefile('rw')
    f.readline()
    f.write(json.dumps({'execute': 'qmp_capabilities'}) + '\n')
    f.flush()
    f.readline()
    f.write(json.dumps(cmd) + '\n')
    f.flush()
    while True:
        r = json.loads(f.readline())
        if 'return' in r or 'error' in r:
            s.close()
            return r


def run_one(binary, nframes, size):
    d = tempfile.mkdtemp(prefix='mirror-bench-')
    lpath, qpath = d + '/mout.sock', d + '/qmp.sock'
    lsock = socket.socket(socket.AF_UNIX)
    lsock.bind(lpath)
    lsock.listen(1)
    h = socket.socketpair()
    os.set_inheritable(h[1].fileno(), True)
    args = [binary, '-M', 'none', '-display', 'none', '-nodefaults',
            '-qmp', 'unix:%s,server=on,wait=off' % qpath,
            '-netdev', 'socket,id=hnet,fd=%d' % h[1].fileno(),
            '-netdev', 'hubport,id=hp0,hubid=0,netdev=hnet',
            '-netdev', 'hubport,id=hp1,hubid=0',
            '-chardev', 'socket,id=mout,path=%s' % lpath,
            '-object', 'filter-mirror,id=m0,netdev=hnet,queue=tx,'
            'outdev=mout']
    p = subprocess.Popen(args, pass_fds=(h[1].fileno(),),
                         stderr=subprocess.DEVNULL)
    h[1].close()
    lsock.settimeout(30)
    out, _ = lsock.accept()
    for _ in range(300):
        if os.path.exists(qpath):
            break
        time.sleep(0.01)

    frame = bytes(b'\xff' * 6 + b'\x52\x54\x00\x00\x00\x01\x88\xb5' +
                  bytes((i * 7) & 0xff for i in range(size - 14)))
    rec = struct.pack('>I', size) + frame
    mirrored = Drain(out, nframes * (4 + size))
    mirrored.start()
    batch = rec * 256
    t0 = time.monotonic()
    sent = 0
    while sent < nframes:
        n = min(256, nframes - sent)
        h[0].sendall(batch if n == 256 else rec * n)
        sent += n
    mirrored.join()
    frames = mirrored.got // (4 + size)
    elapsed = (mirrored.last or time.monotonic()) - t0
    dropped = None
    try:
        r = qmp(qpath, {'execute': 'query-colo-proxy'})
        if 'return' in r:
            for o in r['return']:
                if o['id'] == 'm0':
                    dropped = o['drops-backlog'] + o['drops-disconnected']
    except OSError:
        pass
    p.terminate()
    p.wait()
    for s in (out, lsock, h[0]):
        s.close()
    for n in (lpath, qpath):
        if os.path.exists(n):
            os.unlink(n)
    os.rmdir(d)
    return frames, elapsed, dropped


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--qemu', default=os.environ.get(
        'COLO_QEMU', os.path.join(ROOT, 'build', 'qemu-system-x86_64')))
    ap.add_argument('--stock', default='/tmp/qstock-build/qemu-system-x86_64')
    ap.add_argument('--frames', type=int, default=200000)
    ap.add_argument('--sizes', default='64,1514')
    ap.add_argument('--runs', type=int, default=3)
    a = ap.parse_args()

    bins = [('ours', a.qemu)]
    if a.stock and os.path.exists(a.stock):
        bins.append(('stock', a.stock))
    for size in [int(s) for s in a.sizes.split(',')]:
        for name, binary in bins:
            best = None
            for _ in range(a.runs):
                frames, el, dropped = run_one(binary, a.frames, size)
                rate = frames / el if el > 0 else 0
                if best is None or rate > best[0]:
                    best = (rate, frames, dropped)
            rate, frames, dropped = best
            print('%-6s %5d B: %8.0f frames/s mirrored (%.2f Gbit/s), '
                  '%d/%d mirrored, dropped: %s' %
                  (name, size, rate, rate * size * 8 / 1e9, frames,
                   a.frames, 'n/a' if dropped is None else dropped))
            sys.stdout.flush()


if __name__ == '__main__':
    main()
