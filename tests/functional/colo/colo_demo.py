#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The COLO-proxy demonstration ('make demo', scripts/colo/demo.sh):
start a COLO pair on this machine, show what happens live, provoke a
divergence, kill the primary, fail over and show the connections
surviving.  Cleans up everything it created, also on Ctrl-C.

Environment: COLO_DEMO_STATE (directory for logs and sockets, made by
demo.sh), COLO_DEMO_PAUSE (seconds between steps, default 1),
COLO_DEMO_NIC (e1000 or virtio), COLO_DEMO_QEMU (the QEMU binary).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import colo_pair as cp  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..",
                                    ".."))
QEMU = os.environ.get("COLO_DEMO_QEMU",
                      os.path.join(ROOT, "build", "qemu-system-x86_64"))
NIC = os.environ.get("COLO_DEMO_NIC", "e1000")
PAUSE = float(os.environ.get("COLO_DEMO_PAUSE", "1"))
TTY = sys.stdout.isatty()

BOLD = "\033[1m" if TTY else ""
GREEN = "\033[32m" if TTY else ""
RED = "\033[31m" if TTY else ""
DIM = "\033[2m" if TTY else ""
OFF = "\033[0m" if TTY else ""


class Interrupted(Exception):
    pass


def on_signal(signum, frame):
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    raise Interrupted()


class Screen:
    """Step messages, and one status line of counters that refreshes in
    place on a terminal (printed every few seconds otherwise)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.status = ""
        self.shown = False
        self.last_plain = 0.0
        self.step_no = 0
        self.failures = 0

    def _clear(self):
        if TTY and self.shown:
            sys.stdout.write("\r\033[K")
            self.shown = False

    def say(self, text):
        with self.lock:
            self._clear()
            print(text, flush=True)
            self._draw()

    def step(self, text):
        self.step_no += 1
        self.say("\n%s[%d] %s%s" % (BOLD, self.step_no, text, OFF))

    def detail(self, text):
        self.say("    " + text)

    def ok(self, text):
        self.say("    %s✓%s %s" % (GREEN, OFF, text))

    def bad(self, text):
        self.failures += 1
        self.say("    %s✗%s %s" % (RED, OFF, text))

    def set_status(self, text):
        with self.lock:
            self.status = text
            if TTY:
                self._clear()
                self._draw()
            elif text and time.monotonic() - self.last_plain > 5:
                self.last_plain = time.monotonic()
                print("    " + text, flush=True)

    def _draw(self):
        if TTY and self.status:
            cols = shutil.get_terminal_size((100, 20)).columns
            sys.stdout.write(DIM + ("    " + self.status)[:cols - 1] + OFF)
            sys.stdout.flush()
            self.shown = True

    def end_status(self):
        with self.lock:
            self._clear()
            if self.status:
                print("    " + self.status, flush=True)
            self.status = ""


S = Screen()


class Monitor(threading.Thread):
    """Polls the primary's colo-compare counters and the checkpoints."""

    def __init__(self, pair, qmp_path):
        super().__init__(daemon=True)
        self.pair = pair
        self.qmp_path = qmp_path
        self.running = True
        self.qmp = None

    def run(self):
        try:
            # A QMP connection of its own: the main thread keeps its own.
            self.qmp = cp.QMP(self.qmp_path, timeout=5)
        except Exception:
            return
        while self.running:
            try:
                st = self.qmp.cmd("query-colo-proxy", {"id": "comp0"})[0]
                ck = self.pair.checkpoints()
                done = [c for c in ck if c[1] is not None]
                last = ("%d ms" % ((done[-1][1] - done[-1][0]) * 1000)
                        if done else "-")
                div = st["divergences"]
                reasons = ", ".join("%s %d" % (k, v)
                                    for k, v in div.items() if v)
                S.set_status(
                    "frames %d/%d (pri/sec), identical %d | divergences %d%s"
                    " | checkpoints %d (%d asked), last pause %s" %
                    (st["primary-frames"], st["secondary-frames"],
                     st["identical"], sum(div.values()),
                     ": " + reasons if reasons else "",
                     len(done), st["checkpoints"], last))
            except Exception:
                break
            time.sleep(0.25)
        try:
            self.qmp.close()
        except Exception:
            pass

    def stop(self):
        self.running = False
        self.join(2)
        S.end_status()


def pause():
    time.sleep(PAUSE)


def demo(state):
    S.step("Building the guest (Debian kernel + busybox initramfs, cached)")
    b = subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "guest", "build.sh")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if b.returncode != 0:
        raise cp.SetupError(b.stderr.strip().splitlines()[-1]
                            if b.stderr.strip() else "the guest build failed")
    guest = b.stdout.strip().splitlines()[-1]
    S.ok("guest in %s" % guest)

    ns = cp.Netns("colo-demo-%d" % os.getpid())
    with open(os.path.join(state, "netns"), "w") as f:
        f.write(ns.name + "\n")
    pair = None
    mon = None
    try:
        S.step("Network namespace %s" % ns.name)
        cp.remove_stale_namespaces("colo-demo")
        ns.create()
        ns.enter()
        S.ok("bridge %s with %s and %s (the client side); primary tap %s on "
             "it, secondary tap %s off it" % (cp.BRIDGE, cp.HOST_IP4,
                                             cp.HOST_IP6, cp.PRIMARY_TAP,
                                             cp.SECONDARY_TAP))
        pause()

        S.step("Starting the pair (TCG, %d MB, %s, no disk)" % (256, NIC))
        pair = cp.Pair(QEMU, guest, state, ns, nic=NIC,
                       checkpoint_delay=2000, log=S.detail, tag="demo")
        S.detail("primary:   filter-mirror m0 -> 127.0.0.1:%d, "
                 "filter-redirector redire1 -> colo-compare comp0 (iothread) "
                 "-> redire0 -> tap" % cp.PORTS["mirror"])
        S.detail("secondary: filter-redirector f1 <- mirror, f2 -> "
                 "127.0.0.1:%d (comp0), filter-rewriter rew0" %
                 cp.PORTS["secondary_in"])
        S.detail("command lines: %s/demo-{primary,secondary}.cmdline" % state)
        t = time.monotonic()
        pair.check_ports()
        pair._spawn("primary", pair.primary_args())
        pair.qmp["primary"] = cp.QMP(pair.path("primary", "qmp"),
                                     pair.procs["primary"])
        pair._spawn("secondary", pair.secondary_args())
        pair.qmp["secondary"] = cp.QMP(pair.path("secondary", "qmp"),
                                       pair.procs["secondary"])
        with open(os.path.join(state, "pids"), "a") as f:
            f.write("".join("%d\n" % x for x in pair.pids()))
        cp.wait_for(pair._secondary_chardevs_connected, 20,
                    what="the secondary's redirectors to connect")
        S.ok("both QEMUs up, the secondary's redirectors connected (%.1f s)"
             % (time.monotonic() - t))
        pause()

        S.step("Starting COLO")
        S.detail("secondary: migrate-set-capabilities x-colo")
        S.detail("primary:   migrate-set-capabilities x-colo; "
                 "migrate-set-parameters x-checkpoint-delay=2000; "
                 "migrate tcp:127.0.0.1:%d" % cp.PORTS["migration"])
        t = time.monotonic()
        pair.start_colo()
        S.ok("migration state 'colo' after %.2f s; primary mode %s, "
             "secondary mode %s" %
             (time.monotonic() - t, pair.colo_status("primary")["mode"],
              pair.colo_status("secondary")["mode"]))
        mon = Monitor(pair, pair.path("primary", "watch.qmp"))
        mon.start()
        S.detail("the guest boots in both VMs; a checkpoint every 2 s:")
        t = time.monotonic()
        cp.wait_for(lambda: pair._alive() and
                    "COLO-GUEST-READY" in pair.serial("primary"),
                    120, interval=0.2, what="the guest to boot")
        S.ok("guest up after %.1f s: %s (echo tcp+udp/7, uuid tcp/8, "
             "connect-out tcp/9)" % (time.monotonic() - t,
                                     cp.GUEST_IP4 + ", " + cp.GUEST_IP6))
        pause()

        S.step("Identical traffic: both guests answer the same")
        before = pair.completed_checkpoints()
        pair.set_checkpoint_delay(60000)
        pair.wait_checkpoint_after(before, 30)
        S.detail("x-checkpoint-delay=60000: one checkpoint now, then none "
                 "unless colo-compare asks")
        time.sleep(0.5)
        s0 = pair.compare_stats()
        ck0 = pair.completed_checkpoints()
        good = 0
        for addr in (cp.GUEST_IP4, cp.GUEST_IP6):
            for i in range(5):
                msg = b"hello %d over %s\n" % (i, addr.encode())
                good += cp.tcp_line(addr, msg) == msg
                good += cp.udp_echo(addr, msg) == msg
        ls = cp.LineStream(socket.create_connection((cp.GUEST_IP4,
                                                     cp.ECHO_PORT), 10),
                           "steady", interval=0.02)
        ls.start()
        time.sleep(3)
        ls.drain(10)
        err = ls.error
        time.sleep(0.5)
        s1 = pair.compare_stats()
        ls.stop(1)
        d = sum(s1["divergences"].values()) - sum(s0["divergences"].values())
        why = {k: s1["divergences"][k] - s0["divergences"][k]
               for k in s1["divergences"]
               if s1["divergences"][k] != s0["divergences"][k]}
        S.ok("%d/20 TCP+UDP echoes over IPv4/IPv6, and %d lines on one "
             "connection%s" % (good, ls.sent,
                               "" if err is None else " (%s)" % err))
        (S.ok if d == 0 else S.bad)(
            "%d frames identical, %d divergences%s, %d checkpoints" %
            (s1["identical"] - s0["identical"], d,
             " %s" % why if why else "",
             pair.completed_checkpoints() - ck0))
        pause()

        S.step("A divergence: tcp/8 answers a random UUID, different in "
               "each guest")
        s0 = pair.compare_stats()
        ck0 = pair.completed_checkpoints()
        t = time.time()
        answer = cp.tcp_read_all(cp.GUEST_IP4, cp.UUID_PORT).strip().decode()
        try:
            pair.wait_checkpoint_after(ck0, 10)
        except cp.PairError:
            pass
        time.sleep(0.5)
        s1 = pair.compare_stats()
        reasons = {k: s1["divergences"][k] - s0["divergences"][k]
                   for k in s1["divergences"]}
        reasons = {k: v for k, v in reasons.items() if v}
        ck = [c for c in pair.checkpoints()[ck0:] if c[1] is not None]
        S.ok("the client got %s" % answer)
        (S.ok if reasons else S.bad)("divergences: %s" % (reasons or "none"))
        if ck:
            S.ok("checkpoint %.0f ms after the request, VM paused %.0f ms" %
                 ((ck[0][0] - t) * 1000, (ck[0][1] - ck[0][0]) * 1000))
        else:
            S.bad("no checkpoint followed")
        prim = [ln for ln in pair.serial("primary").splitlines()
                if "uuid" in ln]
        S.detail("primary guest console: %s" % (prim[-1] if prim else "-"))
        pause()

        S.step("Failover with live connections")
        before = pair.completed_checkpoints()
        pair.set_checkpoint_delay(60000)
        pair.wait_checkpoint_after(before, 30)
        time.sleep(0.2)
        ck_open = len(pair.checkpoints())
        client = cp.LineStream(
            socket.create_connection((cp.GUEST_IP4, cp.ECHO_PORT), 10),
            "client")
        out = cp.LineStream(cp.guest_connect_out(cp.GUEST_IP4, cp.HOST_IP4),
                            "guest")
        client.start()
        out.start()
        S.detail("client -> guest tcp/7 and guest -> %s (opened by the "
                 "guest), numbered lines every 50 ms" % cp.HOST_IP4)
        time.sleep(2)
        n = (client.echoed_lines(), out.echoed_lines())
        (S.ok if all(n) else S.bad)("%d and %d lines echoed so far" % n)
        ck = len(pair.checkpoints()) - ck_open
        (S.ok if ck == 0 else S.bad)(
            "no checkpoint since they opened: the secondary knows them only "
            "from its own guest and filter-rewriter" if ck == 0 else
            "%d checkpoint(s) since they opened (colo-compare asked): the "
            "secondary was resynchronised with them" % ck)
        mon.stop()
        mon = None
        S.detail("%skill -9 the primary QEMU (pid %d)%s" %
                 (RED, pair.procs["primary"].pid, OFF))
        t_kill = time.monotonic()
        pair.kill_primary()
        S.detail("secondary: x-colo-lost-heartbeat; object-del f2, f1; "
                 "chardev-remove red1, red0; its tap onto the bridge")
        steps = pair.failover()
        S.ok("failover done %.0f ms after the kill (%s)" %
             ((time.monotonic() - t_kill) * 1000,
              ", ".join("%s %.0f ms" % (n, s * 1000) for n, s in steps)))
        st = pair.colo_status("secondary")
        S.detail("secondary: query-colo-status mode %s, last-mode %s, "
                 "reason %s" % (st["mode"], st["last-mode"], st["reason"]))
        sent = (client.sent, out.sent)
        try:
            cp.wait_for(lambda: (client.echoed_lines() > sent[0] or
                                 client.error) and
                        (out.echoed_lines() > sent[1] or out.error), 15,
                        what="the connections to carry on")
        except cp.PairError:
            pass
        if client.echoed_lines() > sent[0] and out.echoed_lines() > sent[1]:
            S.ok("both connections carry on %.2f s after the kill" %
                 (time.monotonic() - t_kill))
        for i in range(6):
            S.set_status("client: %d lines sent, %d echoed | guest: %d sent, "
                         "%d echoed" % (client.sent, client.echoed_lines(),
                                        out.sent, out.echoed_lines()))
            time.sleep(0.5)
        S.end_status()
        for name, stream in (("client -> guest", client),
                             ("guest -> host", out)):
            err = stream.stop(20)
            if err:
                S.bad("%s: %s" % (name, err))
            else:
                S.ok("%s: %d lines, none lost, duplicated or reset" %
                     (name, stream.sent))
        msg = b"a new connection\n"
        (S.ok if cp.tcp_echo(cp.GUEST_IP4, msg) == msg else S.bad)(
            "the former secondary serves new connections alone")
    except (cp.PairError, cp.QMPError, OSError):
        if pair is not None:
            for role in ("primary", "secondary"):
                tail = pair.stderr(role).strip().splitlines()[-5:]
                if tail:
                    S.say("%s QEMU said:\n    %s" % (role,
                                                   "\n    ".join(tail)))
        raise
    finally:
        if mon is not None:
            mon.stop()
        S.step("Cleaning up")
        if pair is not None:
            pair.stop()
        ns.destroy()
        S.ok("QEMU processes stopped, namespace %s deleted" % ns.name)


def main():
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    state = os.environ.get("COLO_DEMO_STATE")
    own = not state
    if own:
        state = tempfile.mkdtemp(prefix="colo-demo.")
    try:
        cp.check_environment(QEMU)
        print("%sCOLO-proxy demo%s: a primary and a secondary QEMU on this "
              "machine, one guest, failover with open connections." %
              (BOLD, OFF))
        demo(state)
        if S.failures:
            print("\n%sDone, but %d check(s) above failed (✗).%s" %
                  (BOLD, S.failures, OFF))
            return 1
        print("\n%sDone.%s" % (BOLD, OFF))
        return 0
    except cp.SetupError as e:
        S.end_status()
        print("error: %s." % str(e).rstrip("."), file=sys.stderr)
        return 2
    except Interrupted:
        S.end_status()
        print("\ninterrupted; everything the demo started is cleaned up.")
        return 130
    except (cp.PairError, cp.QMPError, OSError) as e:
        S.end_status()
        print("error: %s" % e, file=sys.stderr)
        return 1
    finally:
        if own:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
