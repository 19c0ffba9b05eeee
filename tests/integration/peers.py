"""
peers.py - recording SMTP peers for the delivery tests.

Two halves in one file:

  * the peer itself, run as a separate process with Debian's python3 (the
    one that has python3-aiosmtpd; $POSTERN_PEER_PYTHON overrides it):

        /usr/bin/python3 peers.py serve --port N --dir D [options]

    an aiosmtpd Controller on 127.0.0.1:N whose handler records every
    command it sees (EHLO, STARTTLS, MAIL, RCPT, DATA) in D/commands.log,
    one JSON object a line with the TLS version in force, and every
    accepted message as D/msg-NNNNN.json (envelope, TLS facts) plus
    D/msg-NNNNN.eml (the raw content as received: CRLF lines, dot-stuffing
    undone), each written under a temporary name and renamed, so a reader
    never sees half a file.  Options: --starttls CERT KEY (offer STARTTLS),
    --implicit CERT KEY (TLS from the first byte), --tls-min / --tls-max
    1.2|1.3 (versions the TLS context allows), --delay S (sleep before the
    final reply to DATA, after recording the message), --fail-at
    mail|rcpt|data with --fail-reply "451 4.3.0 text" (that reply at that
    stage; a refused DATA records no message).  It writes D/ready once it
    answers and stops on SIGTERM.

  * SmtpPeer, used by the tests (stdlib only): starts and stops such a
    process, waits (bounded) until it answers, and reads back what it
    recorded.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
PEER_PYTHON = os.environ.get("POSTERN_PEER_PYTHON", "/usr/bin/python3")
START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0


# ---- the test side ----

class PeerError(Exception):
    pass


def _port_open(port):
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


class SmtpPeer:
    """A recording aiosmtpd peer on 127.0.0.1:port in its own process.

    opts: starttls=(cert, key), implicit=(cert, key), tls_min="1.2",
    tls_max="1.2", delay=seconds, fail_at="mail"|"rcpt"|"data",
    fail_reply="451 4.3.0 ..."."""

    def __init__(self, port, **opts):
        self.port = port
        self.opts = opts
        self.dir = tempfile.mkdtemp(prefix="postern-peer-%d-" % port)
        os.chmod(self.dir, 0o755)
        self.proc = None

    def _argv(self):
        o = self.opts
        argv = [PEER_PYTHON, os.path.abspath(__file__), "serve", "--port", str(self.port),
                "--dir", self.dir]
        for key in ("starttls", "implicit"):
            if o.get(key):
                argv += ["--" + key, o[key][0], o[key][1]]
        for key in ("tls_min", "tls_max", "delay", "fail_at", "fail_reply"):
            if o.get(key) is not None:
                argv += ["--" + key.replace("_", "-"), str(o[key])]
        return argv

    def start(self, **opts):
        """Starts the peer (opts replace the constructor's) and waits until
        it answers.  Recordings of earlier runs are kept."""
        if opts:
            self.opts = opts
        if self.proc is not None:
            raise PeerError("peer on %d is already running" % self.port)
        ready = os.path.join(self.dir, "ready")
        if os.path.exists(ready):
            os.unlink(ready)
        if _port_open(self.port):
            raise PeerError("port %d is already in use" % self.port)
        out = open(os.path.join(self.dir, "peer.out"), "ab")
        self.proc = subprocess.Popen(self._argv(), stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        end = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                tail = self.output()[-1500:]
                self.proc = None
                raise PeerError("SMTP peer on %d exited at start:\n%s" % (self.port, tail))
            if os.path.exists(ready) and _port_open(self.port):
                return self
            if time.monotonic() >= end:
                self.stop()
                raise PeerError("SMTP peer on %d not ready within %.0f s:\n%s"
                                % (self.port, START_TIMEOUT, self.output()[-1500:]))
            time.sleep(0.05)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        self.proc = None
        # Bounded: the port is free again before anyone reuses it.
        end = time.monotonic() + STOP_TIMEOUT
        while _port_open(self.port) and time.monotonic() < end:
            time.sleep(0.05)

    def restart(self, **opts):
        self.stop()
        return self.start(**opts)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def output(self):
        try:
            with open(os.path.join(self.dir, "peer.out"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def commands(self):
        """Every recorded command: dicts with conn, tls, verb, arg."""
        try:
            with open(os.path.join(self.dir, "commands.log")) as f:
                return [json.loads(l) for l in f if l.strip()]
        except FileNotFoundError:
            return []

    def verbs(self):
        return [c["verb"] for c in self.commands()]

    def messages(self):
        """Accepted messages in arrival order: dicts with seq, mail_from,
        rcpt_tos, mail_options, tls, cipher, helo, conn and data (bytes)."""
        out = []
        for fn in sorted(os.listdir(self.dir)):
            if not (fn.startswith("msg-") and fn.endswith(".json")):
                continue
            with open(os.path.join(self.dir, fn)) as f:
                m = json.load(f)
            with open(os.path.join(self.dir, fn[:-5] + ".eml"), "rb") as f:
                m["data"] = f.read()
            out.append(m)
        return out

    def count(self):
        return sum(1 for fn in os.listdir(self.dir) if fn.startswith("msg-") and fn.endswith(".json"))

    def wait_messages(self, n, timeout):
        end = time.monotonic() + timeout
        while True:
            if self.count() >= n:
                return self.messages()
            if time.monotonic() >= end:
                raise PeerError("peer on %d received %d of %d messages within %.0f s"
                                % (self.port, self.count(), n, timeout))
            time.sleep(0.05)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def peer_python_ok():
    """(True, "") when PEER_PYTHON can import aiosmtpd, else (False, why)."""
    try:
        p = subprocess.run([PEER_PYTHON, "-c", "import aiosmtpd"], capture_output=True, text=True,
                           timeout=30)
    except OSError as e:
        return False, "%s: %s" % (PEER_PYTHON, e)
    if p.returncode != 0:
        return False, ("%s cannot import aiosmtpd (apt-get install python3-aiosmtpd): %s"
                       % (PEER_PYTHON, p.stderr.strip()[-300:]))
    return True, ""


# ---- the peer process ----

def _serve(argv):
    import argparse
    import asyncio
    import logging
    import ssl
    import threading

    from aiosmtpd.controller import Controller

    ap = argparse.ArgumentParser(prog="peers.py serve")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--implicit", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--tls-min", choices=("1.2", "1.3"))
    ap.add_argument("--tls-max", choices=("1.2", "1.3"))
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--fail-at", choices=("mail", "rcpt", "data"))
    ap.add_argument("--fail-reply", default="451 4.3.0 Try again later")
    a = ap.parse_args(argv)
    logging.basicConfig(filename=os.path.join(a.dir, "peer.log"), level=logging.INFO)
    versions = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}

    def context(pair):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pair[0], pair[1])
        if a.tls_min:
            ctx.minimum_version = versions[a.tls_min]
        if a.tls_max:
            ctx.maximum_version = versions[a.tls_max]
        return ctx

    lock = threading.Lock()
    # Numbering goes on after a restart: earlier recordings are kept.
    state = {"seq": sum(1 for fn in os.listdir(a.dir) if fn.startswith("msg-") and fn.endswith(".json"))}

    def tls_facts(server):
        obj = server.transport.get_extra_info("ssl_object") if server.transport else None
        if obj is None:
            return None, None
        return obj.version(), obj.cipher()[0]

    def record(server, session, verb, arg=""):
        version, _ = tls_facts(server)
        line = json.dumps({"conn": session.peer[1] if session.peer else 0, "tls": version,
                           "verb": verb, "arg": arg, "t": time.time()})
        with lock:
            with open(os.path.join(a.dir, "commands.log"), "a") as f:
                f.write(line + "\n")

    def write_atomic(path, data):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, path)

    class Recorder:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            session.host_name = hostname
            record(server, session, "EHLO", hostname)
            return responses

        async def handle_HELO(self, server, session, envelope, hostname):
            session.host_name = hostname
            record(server, session, "HELO", hostname)
            return "250 %s" % server.hostname

        def handle_STARTTLS(self, server, session, envelope):
            record(server, session, "STARTTLS")
            return True

        async def handle_MAIL(self, server, session, envelope, address, mail_options):
            record(server, session, "MAIL", address)
            if a.fail_at == "mail":
                return a.fail_reply
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
            return "250 2.1.0 Ok"

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            record(server, session, "RCPT", address)
            if a.fail_at == "rcpt":
                return a.fail_reply
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 Ok"

        async def handle_DATA(self, server, session, envelope):
            data = envelope.original_content
            record(server, session, "DATA", str(len(data)))
            if a.fail_at == "data":
                return a.fail_reply
            version, cipher = tls_facts(server)
            with lock:
                state["seq"] += 1
                seq = state["seq"]
            base = os.path.join(a.dir, "msg-%05d" % seq)
            write_atomic(base + ".eml", data)
            write_atomic(base + ".json", json.dumps({
                "seq": seq, "mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                "mail_options": envelope.mail_options, "tls": version, "cipher": cipher,
                "helo": session.host_name, "conn": session.peer[1] if session.peer else 0,
                "t": time.time()}).encode())
            if a.delay > 0:
                await asyncio.sleep(a.delay)
            return "250 2.0.0 Ok: queued as peer%05d" % seq

    kw = {}
    if a.starttls:
        kw["tls_context"] = context(a.starttls)
        kw["require_starttls"] = False
    if a.implicit:
        kw["ssl_context"] = context(a.implicit)
    ctl = Controller(Recorder(), hostname=HOST, port=a.port, decode_data=False,
                     server_hostname="peer.test", ident="postern-test-peer", **kw)
    ctl.start()
    with open(os.path.join(a.dir, "ready"), "w") as f:
        f.write(str(os.getpid()))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    ctl.stop()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        sys.exit(_serve(sys.argv[2:]))
    print(__doc__)
    sys.exit(2)
