# SPDX-License-Identifier: GPL-2.0-or-later
"""A COLO primary/secondary pair on this machine, for the end-to-end
test (colo_e2e.py) and the demo (scripts/colo/demo.sh).

Python 3 standard library only.  Pieces:

  QMP        a small synchronous QMP client over a UNIX socket
  Netns      a network namespace with a bridge (the "network"), the
             primary's tap on it and the secondary's tap off it
  Pair       the two QEMU processes wired as the COLO-proxy design
             describes, the QMP sequences to start COLO and to fail
             over to the secondary, and the counters
  LineStream sequence-numbered lines over a TCP connection, checked for
             loss, duplication and resets

Everything runs inside the namespace: the caller enters it with
Netns.enter() (setns), so loopback chardev ports never collide with the
host's and the test traffic never leaves the namespace.
"""

import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

# The guest network (inside the namespace only).
HOST_IP4 = "10.77.0.1"
GUEST_IP4 = "10.77.0.2"
HOST_IP6 = "fd77::1"
GUEST_IP6 = "fd77::2"
BRIDGE_MAC = "02:c0:10:00:00:01"
GUEST_MAC = "52:54:00:c0:10:02"

# Guest services (guest/init beside this file).
ECHO_PORT = 7
UUID_PORT = 8
CONNECT_PORT = 9
LINE_PORT = 10

# Loopback ports of the COLO-proxy chardevs and the migration stream.
PORTS = {
    "mirror": 9003,         # primary filter-mirror -> secondary f1
    "secondary_in": 9004,   # secondary f2 -> primary colo-compare
    "primary_in": 9001,     # primary redire1 -> colo-compare
    "compare_out": 9005,    # colo-compare -> primary redire0
    "migration": 9998,      # primary -> secondary (COLO checkpoints)
}

PRIMARY_TAP = "colo-tap-p"
SECONDARY_TAP = "colo-tap-s"
BRIDGE = "colo-br0"

CLONE_NEWNET = 0x40000000


class SetupError(Exception):
    """Something this machine lacks; the message is one sentence."""


class PairError(Exception):
    """The pair did not do what it should."""


def now():
    return time.monotonic()


def wait_for(cond, timeout, interval=0.05, what="condition"):
    """Poll cond() until it returns a true value; return that value."""
    deadline = now() + timeout
    while True:
        v = cond()
        if v:
            return v
        if now() > deadline:
            raise PairError("timed out after %.0f s waiting for %s" %
                            (timeout, what))
        time.sleep(interval)


def run(*cmd, check=True):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if check and p.returncode != 0:
        raise PairError("'%s' failed: %s" % (" ".join(cmd),
                                             p.stderr.strip()))
    return p


def check_environment(qemu):
    """Raise SetupError (one sentence) if the pair cannot run here."""
    if os.geteuid() != 0:
        raise SetupError("this needs root: it creates a network namespace "
                         "and tap devices (run it with sudo)")
    if not os.path.exists("/dev/net/tun"):
        raise SetupError("/dev/net/tun is missing, so QEMU cannot open a "
                         "tap device (load the 'tun' module: modprobe tun)")
    if shutil.which("ip") is None:
        raise SetupError("the 'ip' command is missing (install iproute2)")
    if not os.access(qemu, os.X_OK):
        raise SetupError("%s is not built yet (run 'make' first)" % qemu)


# ---------------------------------------------------------------- QMP

class QMPError(Exception):
    def __init__(self, cmd, err):
        super().__init__("%s: %s" % (cmd, err.get("desc", err)))
        self.cmd = cmd
        self.err = err


class QMP:
    """Synchronous QMP client; events are kept in self.events."""

    def __init__(self, path, proc=None, timeout=30.0):
        self.path = path
        self.timeout = timeout
        self.events = []
        self.sock = None
        self.buf = b""
        deadline = now() + timeout
        while True:
            if proc is not None and proc.poll() is not None:
                raise PairError("QEMU exited (status %s) before its QMP "
                                "socket %s answered" % (proc.returncode, path))
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                self.sock = s
                break
            except OSError:
                s.close()
                if now() > deadline:
                    raise PairError("no QMP socket at %s" % path)
                time.sleep(0.05)
        self._read_message()     # greeting
        self.cmd("qmp_capabilities")

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def _read_message(self, timeout=None):
        deadline = now() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            left = deadline - now()
            if left <= 0:
                raise PairError("QMP %s: no answer" % self.path)
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise PairError("QMP %s: connection closed" % self.path)
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, args=None, timeout=None):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            m = self._read_message(timeout)
            if "event" in m:
                self.events.append(m)
                continue
            if "error" in m:
                raise QMPError(name, m["error"])
            if "return" in m:
                return m["return"]

    def wait_event(self, name, timeout):
        deadline = now() + timeout
        while True:
            for e in self.events:
                if e["event"] == name:
                    self.events.remove(e)
                    return e
            left = deadline - now()
            if left <= 0:
                raise PairError("no %s event within %.0f s" % (name, timeout))
            m = self._read_message(left)
            if "event" in m:
                self.events.append(m)


# ---------------------------------------------------------- namespace

class Netns:
    """A network namespace: lo, a bridge with the host's addresses (the
    client side), the primary's tap on the bridge and the secondary's tap
    off it (the secondary's traffic flows through the redirectors only,
    until failover attaches its tap)."""

    def __init__(self, name):
        self.name = name
        self.created = False

    def ip(self, *args, check=True):
        return run("ip", "-n", self.name, *args, check=check)

    def sysctl(self, key, value):
        run("ip", "netns", "exec", self.name, "sysctl", "-qw",
            "%s=%s" % (key, value))

    def create(self):
        p = run("ip", "netns", "add", self.name, check=False)
        if p.returncode != 0:
            raise SetupError("cannot create the network namespace %s (%s)" %
                             (self.name, p.stderr.strip()))
        self.created = True
        self.ip("link", "set", "lo", "up")
        self.ip("link", "add", BRIDGE, "type", "bridge", "mcast_snooping",
                "0", "forward_delay", "0")
        self.ip("link", "set", BRIDGE, "address", BRIDGE_MAC)
        self.sysctl("net.ipv6.conf.%s.dad_transmits" % BRIDGE, 0)
        self.sysctl("net.ipv6.conf.%s.router_solicitations" % BRIDGE, 0)
        self.ip("addr", "add", HOST_IP4 + "/24", "dev", BRIDGE)
        self.ip("addr", "add", HOST_IP6 + "/64", "dev", BRIDGE, "nodad")
        self.ip("link", "set", BRIDGE, "up")
        for tap in (PRIMARY_TAP, SECONDARY_TAP):
            p = self.ip("tuntap", "add", tap, "mode", "tap", check=False)
            if p.returncode != 0:
                raise SetupError("cannot create a tap device (%s)" %
                                 p.stderr.strip())
            # The taps themselves say nothing: no IPv6 on them.
            self.sysctl("net.ipv6.conf.%s.disable_ipv6" % tap, 1)
            self.ip("link", "set", tap, "up")
        self.ip("link", "set", PRIMARY_TAP, "master", BRIDGE)

    def enter(self):
        """Move this process (all its threads to come) into the netns."""
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open("/run/netns/" + self.name, os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                e = ctypes.get_errno()
                raise SetupError("cannot enter the network namespace %s (%s)"
                                 % (self.name, os.strerror(e)))
        finally:
            os.close(fd)

    def failover_network(self):
        """The primary's node is gone: its tap leaves the network, the
        secondary's joins it."""
        self.ip("link", "del", PRIMARY_TAP, check=False)
        self.ip("link", "set", SECONDARY_TAP, "master", BRIDGE)

    def reset_taps(self):
        """Back to the initial wiring, for the next pair."""
        self.ip("link", "set", SECONDARY_TAP, "nomaster", check=False)
        if self.ip("link", "show", PRIMARY_TAP, check=False).returncode:
            self.ip("tuntap", "add", PRIMARY_TAP, "mode", "tap")
            self.sysctl("net.ipv6.conf.%s.disable_ipv6" % PRIMARY_TAP, 1)
            self.ip("link", "set", PRIMARY_TAP, "up")
            self.ip("link", "set", PRIMARY_TAP, "master", BRIDGE)

    def destroy(self):
        if self.created:
            run("ip", "netns", "del", self.name, check=False)
            self.created = False


def remove_stale_namespaces(prefix):
    """Delete namespaces PREFIX-<pid> left by runs whose process is gone
    (killed with SIGKILL before they could clean up)."""
    p = run("ip", "netns", "list", check=False)
    for line in p.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(re.escape(prefix) + r"-(\d+)", name)
        if m and not os.path.exists("/proc/" + m.group(1)):
            run("ip", "netns", "del", name, check=False)


# --------------------------------------------------------------- pair

class Pair:
    """A primary and a secondary QEMU running one guest under COLO."""

    def __init__(self, qemu, guest_dir, workdir, netns, nic="e1000",
                 checkpoint_delay=2000, memory=256, log=None, tag="pair"):
        self.qemu = qemu
        self.guest_dir = guest_dir
        self.dir = workdir
        self.netns = netns
        self.nic = nic
        self.checkpoint_delay = checkpoint_delay
        self.memory = memory
        self.log = log or (lambda msg: None)
        self.tag = tag
        self.procs = {}
        self.qmp = {}
        self.trace_pos = 0
        os.makedirs(workdir, exist_ok=True)

    # --- files
    def path(self, role, what):
        return os.path.join(self.dir, "%s-%s.%s" % (self.tag, role, what))

    def serial(self, role):
        try:
            with open(self.path(role, "serial"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stderr(self, role):
        try:
            with open(self.path(role, "log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # --- command lines
    def _common_args(self, role, tap):
        g = self.guest_dir
        append = ("console=ttyS0 panic=-1 quiet colo.nic=%s "
                  "colo.ip4=%s/24 colo.ip6=%s/64 colo.peer4=%s colo.peer6=%s"
                  % (self.nic, GUEST_IP4, GUEST_IP6, HOST_IP4, HOST_IP6))
        dev = "e1000" if self.nic == "e1000" else "virtio-net-pci"
        return [
            "ip", "netns", "exec", self.netns.name, self.qemu,
            "-name", role, "-accel", "tcg", "-m", str(self.memory),
            "-smp", "1", "-nodefaults", "-no-user-config",
            "-display", "none", "-no-reboot",
            "-kernel", os.path.join(g, "vmlinuz"),
            "-initrd", os.path.join(g, "initrd.img"),
            "-append", append,
            "-chardev", "file,id=serial0,path=" + self.path(role, "serial"),
            "-serial", "chardev:serial0",
            "-qmp", "unix:%s,server=on,wait=off" % self.path(role, "qmp"),
            "-msg", "timestamp=on",
            "-D", self.path(role, "trace"),
            "-trace", "colo_vm_state_change",
            "-trace", "colo_send_message",
            "-trace", "colo_receive_message",
            # COLO-proxy events: peers connecting, divergences with their
            # reason and offset, rewriter offsets (patterns: no warning
            # from a QEMU that lacks one of them)
            "-trace", "colo_compare_*",
            "-trace", "filter_stream_*",
            "-trace", "filter_rewriter_*",
            "-netdev", "tap,id=hn0,ifname=%s,script=no,downscript=no,"
                       "vhost=off" % tap,
            "-device", "%s,id=e0,netdev=hn0,mac=%s" % (dev, GUEST_MAC),
        ]

    def _vnet(self):
        return ",vnet_hdr_support=on" if self.nic != "e1000" else ""

    def primary_args(self):
        p = PORTS
        v = self._vnet()
        return self._common_args("primary", PRIMARY_TAP) + [
            "-S",
            # a second monitor, for a watcher (the demo's live counters)
            "-qmp", "unix:%s,server=on,wait=off" % self.path("primary",
                                                             "watch.qmp"),
            "-chardev", "socket,id=mirror0,host=127.0.0.1,port=%d,"
                        "server=on,wait=off" % p["mirror"],
            "-chardev", "socket,id=compare1,host=127.0.0.1,port=%d,"
                        "server=on,wait=off" % p["secondary_in"],
            "-chardev", "socket,id=compare0,host=127.0.0.1,port=%d,"
                        "server=on,wait=off" % p["primary_in"],
            "-chardev", "socket,id=compare0-0,host=127.0.0.1,port=%d"
                        % p["primary_in"],
            "-chardev", "socket,id=compare_out,host=127.0.0.1,port=%d,"
                        "server=on,wait=off" % p["compare_out"],
            "-chardev", "socket,id=compare_out0,host=127.0.0.1,port=%d"
                        % p["compare_out"],
            "-object", "filter-mirror,id=m0,netdev=hn0,queue=tx,"
                       "outdev=mirror0" + v,
            "-object", "filter-redirector,id=redire0,netdev=hn0,queue=rx,"
                       "indev=compare_out" + v,
            "-object", "filter-redirector,id=redire1,netdev=hn0,queue=rx,"
                       "outdev=compare0" + v,
            "-object", "iothread,id=iothread1",
            "-object", "colo-compare,id=comp0,primary_in=compare0-0,"
                       "secondary_in=compare1,outdev=compare_out0,"
                       "iothread=iothread1" + v,
        ]

    def secondary_args(self):
        p = PORTS
        v = self._vnet()
        return self._common_args("secondary", SECONDARY_TAP) + [
            "-chardev", "socket,id=red0,host=127.0.0.1,port=%d,"
                        "reconnect-ms=1000" % p["mirror"],
            "-chardev", "socket,id=red1,host=127.0.0.1,port=%d,"
                        "reconnect-ms=1000" % p["secondary_in"],
            "-object", "filter-redirector,id=f1,netdev=hn0,queue=tx,"
                       "indev=red0" + v,
            "-object", "filter-redirector,id=f2,netdev=hn0,queue=rx,"
                       "outdev=red1" + v,
            "-object", "filter-rewriter,id=rew0,netdev=hn0,queue=all" + v,
            "-incoming", "tcp:127.0.0.1:%d" % p["migration"],
        ]

    def _spawn(self, role, args):
        if os.environ.get("COLO_PAIR_GDB") == role:
            # debugging aid: a backtrace in the log if this QEMU crashes
            i = args.index(self.qemu)
            args = args[:i] + ["gdb", "-q", "-batch", "-ex", "handle SIGUSR1 "
                               "SIGPIPE nostop noprint", "-ex", "run",
                               "-ex", "thread apply all bt", "--args"] + \
                args[i:]
        for what in ("serial", "trace", "qmp", "watch.qmp"):
            try:
                os.unlink(self.path(role, what))
            except FileNotFoundError:
                pass
        with open(self.path(role, "cmdline"), "w") as f:
            f.write(" \\\n    ".join(args[4:]) + "\n")
        out = open(self.path(role, "log"), "w")
        # A session of its own: Ctrl-C reaches us, and we stop QEMU in
        # order, rather than both QEMUs dying at once.
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
        out.close()
        self.procs[role] = proc
        return proc

    def check_ports(self):
        for name, port in PORTS.items():
            s = socket.socket()
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", port))
            except OSError:
                raise SetupError("port %d (%s) on 127.0.0.1 is already in use "
                                 "in namespace %s" % (port, name,
                                                      self.netns.name))
            finally:
                s.close()

    # --- lifecycle
    def start(self, boot_timeout=120):
        """Start both QEMUs and COLO; return when the guest is up.
        Returns a dict of step durations (seconds)."""
        steps = {}
        t0 = now()
        self.check_ports()
        self.log("starting the primary QEMU (paused) and the secondary QEMU "
                 "(waiting for the incoming migration)")
        self._spawn("primary", self.primary_args())
        self.qmp["primary"] = QMP(self.path("primary", "qmp"),
                                  self.procs["primary"])
        self._spawn("secondary", self.secondary_args())
        self.qmp["secondary"] = QMP(self.path("secondary", "qmp"),
                                    self.procs["secondary"])
        self.log("waiting for the secondary's redirectors to connect to "
                 "the primary")
        wait_for(self._secondary_chardevs_connected, 20,
                 what="the secondary's chardevs red0/red1 to connect")
        steps["processes"] = now() - t0

        t1 = now()
        self.log("COLO: x-colo on both, x-checkpoint-delay=%d ms, migrate"
                 % self.checkpoint_delay)
        self.start_colo()
        steps["colo"] = now() - t1
        t2 = now()
        self.log("waiting for the guest to boot under COLO")
        wait_for(lambda: self._alive() and
                 "COLO-GUEST-READY" in self.serial("primary"),
                 boot_timeout, interval=0.2, what="the guest to boot")
        steps["boot"] = now() - t2
        return steps

    def _alive(self):
        for role, p in self.procs.items():
            if p.poll() is not None and role not in getattr(self, "killed",
                                                            ()):
                raise PairError("the %s QEMU exited with status %s: %s" %
                                (role, p.returncode,
                                 self.stderr(role).strip()[-500:]))
        return True

    def _secondary_chardevs_connected(self):
        self._alive()
        devs = {c["label"]: c["filename"]
                for c in self.qmp["secondary"].cmd("query-chardev")}
        return all(not devs.get(i, "disconnected").startswith("disconnected")
                   for i in ("red0", "red1"))

    def start_colo(self):
        s = self.qmp["secondary"]
        p = self.qmp["primary"]
        caps = {"capabilities": [{"capability": "x-colo", "state": True}]}
        s.cmd("migrate-set-capabilities", caps)
        p.cmd("migrate-set-capabilities", caps)
        p.cmd("migrate-set-parameters",
              {"x-checkpoint-delay": self.checkpoint_delay})
        p.cmd("migrate", {"uri": "tcp:127.0.0.1:%d" % PORTS["migration"]})
        wait_for(lambda: self._alive() and
                 p.cmd("query-migrate").get("status") in ("colo", "failed"),
                 60, what="the primary's migration to reach the colo state")
        st = p.cmd("query-migrate").get("status")
        if st != "colo":
            raise PairError("the migration to the secondary ended in state "
                            "'%s' instead of 'colo'" % st)
        wait_for(lambda: s.cmd("query-colo-status")["mode"] == "secondary",
                 20, what="the secondary to enter COLO mode")

    def colo_status(self, role):
        return self.qmp[role].cmd("query-colo-status")

    def migrate_status(self):
        return self.qmp["primary"].cmd("query-migrate").get("status")

    def set_checkpoint_delay(self, ms):
        """Also makes the COLO frame take a checkpoint at once."""
        self.checkpoint_delay = ms
        self.qmp["primary"].cmd("migrate-set-parameters",
                                {"x-checkpoint-delay": ms})

    def proxy_stats(self, role="primary", obj_id=None):
        args = {"id": obj_id} if obj_id else None
        return {o["id"]: o
                for o in self.qmp[role].cmd("query-colo-proxy", args)}

    def compare_stats(self):
        return self.proxy_stats("primary", "comp0")["comp0"]

    # --- checkpoints, from the primary's trace of the COLO frame
    def checkpoints(self):
        """List of (start, end) wall-clock times of completed checkpoints
        (the primary's VM stopped and ran again), and the start of one
        in progress, if any (end None)."""
        try:
            with open(self.path("primary", "trace")) as f:
                text = f.read()
        except FileNotFoundError:
            return []
        out = []
        start = None
        first = True
        for m in re.finditer(r"@(\d+\.\d+):colo_vm_state_change "
                             r"Change '(\w+)' => '(\w+)'", text):
            t, old, new = float(m.group(1)), m.group(2), m.group(3)
            if old == "stop" and new == "run" and first:
                # the VM starting when COLO begins
                first = False
                continue
            first = False
            if old == "run" and new == "stop":
                start = t
            elif old == "stop" and new == "run" and start is not None:
                out.append((start, t))
                start = None
        if start is not None:
            out.append((start, None))
        return out

    def trace_mark(self, role="primary"):
        """A position in ROLE's trace log, for trace_since()."""
        try:
            return os.path.getsize(self.path(role, "trace"))
        except FileNotFoundError:
            return 0

    def trace_since(self, mark, event, role="primary"):
        """Lines of trace event EVENT logged by ROLE after MARK."""
        try:
            with open(self.path(role, "trace"), errors="replace") as f:
                f.seek(mark)
                text = f.read()
        except FileNotFoundError:
            return []
        return [ln for ln in text.splitlines() if (":%s " % event) in ln]

    def completed_checkpoints(self):
        return sum(1 for s, e in self.checkpoints() if e is not None)

    def wait_checkpoint_after(self, count, timeout):
        """Wait until more than COUNT checkpoints completed."""
        return wait_for(lambda: self.completed_checkpoints() > count and
                        self.completed_checkpoints(), timeout,
                        what="a checkpoint")

    # --- failover
    def kill(self, role):
        """SIGKILL one QEMU (its whole process group: gdb too)."""
        self.killed = (role,)
        p = self.procs[role]
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        self.qmp.pop(role).close()

    def kill_primary(self):
        self.kill("primary")

    def primary_failover(self):
        """The secondary died: the primary carries on alone.  Returns the
        list of (step, seconds)."""
        q = self.qmp["primary"]
        steps = []
        for cmd, args in (("object-del", {"id": "comp0"}),
                          ("object-del", {"id": "iothread1"}),
                          ("object-del", {"id": "m0"}),
                          ("object-del", {"id": "redire0"}),
                          ("object-del", {"id": "redire1"}),
                          ("x-colo-lost-heartbeat", None)):
            t = now()
            q.cmd(cmd, args)
            steps.append((cmd + (" " + args["id"] if args else ""),
                          now() - t))
        return steps

    def failover(self):
        """The documented failover sequence on the secondary.  Returns
        the list of (step, seconds)."""
        s = self.qmp["secondary"]
        steps = []
        for cmd, args in (("x-colo-lost-heartbeat", None),
                          ("object-del", {"id": "f2"}),
                          ("object-del", {"id": "f1"}),
                          ("chardev-remove", {"id": "red1"}),
                          ("chardev-remove", {"id": "red0"})):
            t = now()
            s.cmd(cmd, args)
            name = cmd + (" " + args["id"] if args else "")
            if cmd == "x-colo-lost-heartbeat":
                self.colo_exit = s.wait_event("COLO_EXIT", 20)["data"]
            steps.append((name, now() - t))
        t = now()
        self.netns.failover_network()
        steps.append(("tap onto the bridge", now() - t))
        return steps

    def stop(self):
        for q in self.qmp.values():
            q.close()
        self.qmp = {}
        for role, p in self.procs.items():
            if p.poll() is None:
                p.terminate()
        for role, p in self.procs.items():
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = {}

    def pids(self):
        return [p.pid for p in self.procs.values() if p.poll() is None]


# ------------------------------------------------------------ traffic

def tcp_echo(addr, payload, timeout=10.0, port=ECHO_PORT):
    """One connection: send PAYLOAD, half-close, read the answer."""
    with socket.create_connection((addr, port), timeout=timeout) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def tcp_line(addr, line, timeout=10.0):
    """One line to the guest's one-shot line service, which answers and
    closes first; returns the answer."""
    with socket.create_connection((addr, LINE_PORT), timeout=timeout) as s:
        s.sendall(line)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def tcp_read_all(addr, port, timeout=10.0):
    with socket.create_connection((addr, port), timeout=timeout) as s:
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def udp_echo(addr, payload, timeout=3.0, tries=3, port=ECHO_PORT):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        for _ in range(tries):
            s.sendto(payload, (addr, port))
            try:
                return s.recv(65536)
            except socket.timeout:
                continue
    return None


def listener(addr):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 0))
    s.listen(4)
    return s


def guest_connect_out(guest_addr, host_addr, timeout=20.0):
    """Ask the guest (control service) to open a TCP connection to a
    listener of ours; return our end of that connection."""
    lst = listener(host_addr)
    try:
        port = lst.getsockname()[1]
        with socket.create_connection((guest_addr, CONNECT_PORT),
                                      timeout=timeout) as c:
            c.sendall(("%s %d\n" % (host_addr, port)).encode())
            c.shutdown(socket.SHUT_WR)
            answer = b""
            while True:
                chunk = c.recv(100)
                if not chunk:
                    break
                answer += chunk
        if answer.strip() != b"ok":
            raise PairError("the guest's control service answered %r" %
                            answer)
        lst.settimeout(timeout)
        conn, _ = lst.accept()
        return conn
    finally:
        lst.close()


class LineStream:
    """Sequence-numbered lines written to an echoing TCP connection by one
    thread and read back by another; checks that what comes back is
    exactly what was sent (no byte lost, duplicated or reordered) and
    that the connection is never reset."""

    def __init__(self, sock, name, interval=0.05, pad=40):
        self.sock = sock
        self.name = name
        self.interval = interval
        self.pad = "x" * pad
        self.sent = 0           # lines
        self.sent_bytes = bytearray()
        self.received = bytearray()
        self.error = None
        self.running = False
        self.last_rx = now()
        self.max_gap = 0.0
        self.lock = threading.Lock()
        sock.settimeout(None)

    def line(self, n):
        return ("%s %08d %s\n" % (self.name, n, self.pad)).encode()

    def start(self):
        self.running = True
        self.tx = threading.Thread(target=self._send, daemon=True)
        self.rx = threading.Thread(target=self._recv, daemon=True)
        self.tx.start()
        self.rx.start()

    def _send(self):
        try:
            while self.running:
                data = self.line(self.sent)
                # accounted before it leaves: the echo may come back
                # before sendall() returns
                with self.lock:
                    self.sent += 1
                    self.sent_bytes += data
                self.sock.sendall(data)
                time.sleep(self.interval)
        except OSError as e:
            self.error = self.error or "send: %s" % e

    def _recv(self):
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    if self.error is None and not self.closing:
                        self.error = "the connection was closed by the peer"
                    return
                t = now()
                with self.lock:
                    self.max_gap = max(self.max_gap, t - self.last_rx)
                    self.last_rx = t
                    self.received += chunk
                    if not self.sent_bytes.startswith(self.received):
                        self.error = self.error or self.describe_mismatch()
                        return
        except OSError as e:
            if not self.closing:
                self.error = self.error or "receive: %s" % e

    closing = False

    def echoed_lines(self):
        with self.lock:
            return self.received.count(b"\n")

    def describe_mismatch(self):
        got = bytes(self.received).split(b"\n")
        want = bytes(self.sent_bytes).split(b"\n")
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                return ("line %d came back as %r instead of %r" %
                        (i, g[:60], w[:60]))
        return "more bytes came back than were sent"

    def drain(self, timeout):
        """Stop sending and wait until everything came back (or TIMEOUT);
        the connection stays open."""
        self.running = False
        self.tx.join(5)
        deadline = now() + timeout
        while now() < deadline and self.error is None:
            with self.lock:
                if len(self.received) >= len(self.sent_bytes):
                    break
            time.sleep(0.05)

    def stop(self, timeout):
        """Stop sending, wait until everything came back, close; return
        None if the stream is intact, else what went wrong."""
        self.drain(timeout)
        self.closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.rx.join(5)
        self.sock.close()
        if self.error:
            return self.error
        with self.lock:
            if bytes(self.received) != bytes(self.sent_bytes):
                return ("%d of %d bytes came back (%d of %d lines) within "
                        "%.0f s" % (len(self.received), len(self.sent_bytes),
                                    self.received.count(b"\n"), self.sent,
                                    timeout))
        return None
