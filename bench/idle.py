#!/usr/bin/env python3
"""postern bench - many idle SMTP connections against one server.

    idle.py --pid PID --port 4525 [--count 1000] [--hold 5] --out FILE.json
            [--count-cmd "bench/posternd.sh count"]

Opens --count TCP connections to 127.0.0.1:PORT, reads each 220 greeting and
then leaves the connection idle (no command sent).  Reads /proc/PID/status
(VmRSS, VmHWM, Threads) before, while they are open (after --hold seconds)
and after closing them.  While they are open, a new client sends one message
with smtplib and must get 250; --count-cmd (prints a number) checks that the
message was really stored.  Every wait is bounded.
"""
import argparse
import errno
import json
import resource
import smtplib
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"


def proc_status(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "VmSize", "Threads"):
                    out[k] = int(v.split()[0])
    except OSError:
        return None
    return out


def read_greeting(sock, deadline):
    buf = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed before greeting (got %r)" % buf[:80])
        buf += chunk
        for line in buf.split(b"\r\n")[:-1]:
            if line[:4] == b"220 ":
                return line.decode("ascii", "replace")
            if line[:3] != b"220":
                raise ConnectionError("unexpected greeting %r" % line[:80])
    raise TimeoutError("no greeting within the deadline")


def count(cmd):
    if not cmd:
        return None
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30)
    return int(r.stdout.strip()) if r.returncode == 0 and r.stdout.strip().isdigit() else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--hold", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=120.0, help="bound on opening all connections")
    ap.add_argument("--out", required=True)
    ap.add_argument("--count-cmd", default="")
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, a.count + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    res = {"pid": a.pid, "target": a.count, "hold_seconds": a.hold, "status": {},
           "errors": [], "failed": 0, "greeted": 0}
    res["status"]["before"] = proc_status(a.pid)
    socks = []
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    for i in range(a.count):
        if time.monotonic() >= deadline:
            res["errors"].append("gave up after %.0f s with %d open" % (a.timeout, len(socks)))
            res["failed"] += a.count - i
            break
        s = None
        try:
            s = socket.create_connection((HOST, a.port), timeout=10)
            read_greeting(s, min(deadline, time.monotonic() + 10))
            socks.append(s)
        except (OSError, ConnectionError, TimeoutError) as e:
            res["failed"] += 1
            if len(res["errors"]) < 20:
                res["errors"].append("conn %d: %s" % (i, e))
            if s is not None:
                s.close()
    res["open_seconds"] = time.monotonic() - t0
    res["greeted"] = len(socks)
    print("idle.py: %d of %d connections greeted in %.2f s; holding %.0f s"
          % (len(socks), a.count, res["open_seconds"], a.hold), file=sys.stderr)
    time.sleep(a.hold)
    res["status"]["open"] = proc_status(a.pid)

    # A new client must still be served while the idle ones are open.
    before = count(a.count_cmd)
    probe = {"ok": False, "reply": "", "seconds": 0.0}
    t = time.monotonic()
    try:
        with smtplib.SMTP(HOST, a.port, local_hostname="probe.bench.test", timeout=30) as c:
            c.ehlo()
            c.mail("from@bench.test")
            code, msg = c.rcpt("to@bench.test")
            if code != 250:
                raise smtplib.SMTPException("RCPT: %d %s" % (code, msg.decode(errors="replace")))
            code, msg = c.data(b"Subject: idle probe\r\n\r\nprobe while %d connections are idle\r\n" % len(socks))
            probe["reply"] = "%d %s" % (code, msg.decode(errors="replace"))
            probe["ok"] = code == 250
    except (OSError, smtplib.SMTPException) as e:
        probe["reply"] = "%s: %s" % (type(e).__name__, e)
    probe["seconds"] = time.monotonic() - t
    res["probe"] = probe
    after = count(a.count_cmd)
    res["stored_delta"] = (after - before) if before is not None and after is not None else None

    # Are the idle connections still open (server did not drop them)?
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            alive += 1 if s.recv(1, socket.MSG_PEEK) else 0
        except BlockingIOError:
            alive += 1
        except OSError as e:
            if e.errno not in (errno.ECONNRESET, errno.EPIPE):
                raise
    res["idle_alive"] = alive

    for s in socks:
        s.close()
    time.sleep(2)
    res["status"]["after"] = proc_status(a.pid)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    ok = res["failed"] == 0 and probe["ok"] and res["stored_delta"] in (None, 1) and alive == len(socks)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
