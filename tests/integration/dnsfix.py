"""
dnsfix.py - a private authoritative-only unbound on loopback for DNS tests
(stdlib only).

start(zones, port=None) writes an unbound.conf into a fresh temporary
directory and runs `unbound -d -c <conf>` listening on 127.0.0.1:<port>
(UDP and TCP).  zones maps a zone name to a list of resource records in
zone-file text, each becoming a local-data line inside a `static`
local-zone, e.g.

    {"mx.test": ["mx.test. IN MX 10 mail.mx.test.",
                 "mail.mx.test. IN A 127.0.0.1"],
     "nullmx.test": ["nullmx.test. IN MX 0 ."]}

In a static zone a name with records of another type answers NOERROR with
no data (NODATA) and a name with no records at all answers NXDOMAIN.
Nothing is recursed: a `refuse` local-zone for "." answers every name
outside the given zones with REFUSED at once, so unbound never sends a
query anywhere.  unbound's own default zones (RFC 6761 names such as
test. and invalid.) still answer NXDOMAIN; start(zones, refuse=["test"])
makes such a zone answer REFUSED too (a temporary failure for a mailer).  No remote control, no chroot, no privilege drop (username
""), so it runs the same as root and as a normal user; logs go to
unbound.log in the temporary directory.

Returns (port, stop).  port is the one given, or the first free one in
4800-4899.  stop() terminates unbound (SIGTERM, then SIGKILL after 5 s)
and removes the directory.  Every wait is bounded: start() waits at most
10 s for unbound to answer a probe query and raises RuntimeError (with
the log's tail) when it does not.  Raises RuntimeError when the unbound
binary is missing.

Run directly (python3 dnsfix.py) to serve a demo set of zones until ^C.
"""
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

HOST = "127.0.0.1"
PORT_RANGE = range(4800, 4900)
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

DEMO_ZONES = {
    "mx.test": [
        "mx.test. IN MX 10 mail.mx.test.",
        "mx.test. IN MX 20 backup.mx.test.",
        "mail.mx.test. IN A 127.0.0.1",
        "mail.mx.test. IN AAAA ::1",
        "backup.mx.test. IN A 127.0.0.2",
    ],
    "nullmx.test": ["nullmx.test. IN MX 0 ."],
    "nodata.test": ["nodata.test. IN A 127.0.0.3"],
}


def find_unbound():
    for p in (shutil.which("unbound"), "/usr/sbin/unbound"):
        if p and os.access(p, os.X_OK):
            return p
    return None


def _port_free(port):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port():
    ports = list(PORT_RANGE)
    random.shuffle(ports)
    for p in ports:
        if _port_free(p):
            return p
    raise RuntimeError("dnsfix: no free port in 4800-4899")


def _quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(d, port, zones, refuse=()):
    lines = [
        "server:",
        "  interface: %s" % HOST,
        "  port: %d" % port,
        "  do-ip4: yes",
        "  do-ip6: no",
        "  do-udp: yes",
        "  do-tcp: yes",
        "  access-control: 127.0.0.0/8 allow",
        '  chroot: ""',
        '  username: ""',
        "  directory: %s" % _quote(d),
        "  pidfile: %s" % _quote(os.path.join(d, "unbound.pid")),
        "  logfile: %s" % _quote(os.path.join(d, "unbound.log")),
        "  use-syslog: no",
        "  verbosity: 1",
        "  num-threads: 1",
        "  module-config: \"iterator\"",
        "  do-not-query-localhost: yes",
        "  minimal-responses: yes",
        "  local-zone: \".\" refuse",
        "  local-zone: \"dnsfix-probe.\" static",
        "  local-data: \"dnsfix-probe. IN A 127.0.0.9\"",
    ]
    for zone in refuse:
        lines.append("  local-zone: %s refuse" % _quote(zone.rstrip(".") + "."))
    for zone, records in zones.items():
        z = zone.rstrip(".") + "."
        lines.append("  local-zone: %s static" % _quote(z))
        for rr in records:
            lines.append("  local-data: %s" % _quote(rr))
    lines += ["remote-control:", "  control-enable: no", ""]
    conf = os.path.join(d, "unbound.conf")
    with open(conf, "w") as f:
        f.write("\n".join(lines))
    return conf


def _probe(port, timeout=0.5):
    """One A query for dnsfix-probe.; True when unbound answers it."""
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"\x0cdnsfix-probe\x00" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, (HOST, port))
        data, _ = s.recvfrom(4096)
    except OSError:
        return False
    finally:
        s.close()
    return len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid


def _log_tail(d, n=20):
    try:
        with open(os.path.join(d, "unbound.log")) as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


def start(zones, port=None, refuse=()):
    """Starts unbound serving zones (and answering REFUSED for the zones
    in refuse); returns (port, stop)."""
    binary = find_unbound()
    if binary is None:
        raise RuntimeError("dnsfix: the unbound binary is missing "
                           "(apt-get install unbound)")
    if port is None:
        port = free_port()
    d = tempfile.mkdtemp(prefix="postern-dnsfix-")
    os.chmod(d, 0o755)
    conf = write_config(d, port, zones, refuse)
    chk = shutil.which("unbound-checkconf") or "/usr/sbin/unbound-checkconf"
    if os.access(chk, os.X_OK):
        r = subprocess.run([chk, conf], capture_output=True, text=True,
                           timeout=START_TIMEOUT)
        if r.returncode != 0:
            shutil.rmtree(d, ignore_errors=True)
            raise RuntimeError("dnsfix: bad unbound config: %s%s"
                               % (r.stdout, r.stderr))
    out = open(os.path.join(d, "unbound.out"), "w")
    proc = subprocess.Popen([binary, "-d", "-c", conf], stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    out.close()

    def stop():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        shutil.rmtree(d, ignore_errors=True)

    end = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            tail = _log_tail(d)
            stop()
            raise RuntimeError("dnsfix: unbound exited with %d:\n%s"
                               % (proc.returncode, tail))
        if _probe(port):
            return port, stop
        if time.monotonic() >= end:
            tail = _log_tail(d)
            stop()
            raise RuntimeError("dnsfix: unbound did not answer on %s:%d "
                               "within %.0f s:\n%s"
                               % (HOST, port, START_TIMEOUT, tail))
        time.sleep(0.05)


if __name__ == "__main__":
    import sys
    p = int(sys.argv[1]) if len(sys.argv) > 1 else None
    port, stop = start(DEMO_ZONES, p)
    print("unbound on %s:%d (^C to stop)" % (HOST, port), flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
