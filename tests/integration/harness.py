"""
harness.py - environment for the posternd integration tests (stdlib only).

Sets up a throw-away database postern_it in the private PostgreSQL cluster
(scripts/pg.sh start must have run), loads the schema and migrations
(scripts/db-load.sh), points the
listeners at 127.0.0.1:3525 (smtp, starttls), 3587 (submission, starttls)
and 3465 (smtps, implicit), makes a self-signed certificate in a temporary
directory, adds the domain example.test with accounts alice and bob, points
settings.dns_servers at an unbound on loopback that refuses every name
(dnsfix.py; so deliveries of the acceptance tests' mail are deferred), and
runs posternd (binary from $POSTERN_BIN, default build/posternd) with its
log captured to a file.  $POSTERN_IT_DB names another database and
$POSTERN_IT_PORT_OFFSET shifts every fixed port, so that two runs can share
one machine.  Every wait here is bounded.

Helpers: sql() / sql_try() run SQL with psql, Daemon starts, stops and
kills the daemon, Client is a small raw SMTP client for byte-level tests.
"""
import base64
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import dnsfix

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PGPORT = os.environ.get("POSTERN_PGPORT", "5499")
PGHOST = os.path.realpath(os.path.join(ROOT, "var", "pg", "run"))
# POSTERN_IT_DB and POSTERN_IT_PORT_OFFSET let two runs share the machine
# (another database, every fixed port shifted by the offset).
DBNAME = os.environ.get("POSTERN_IT_DB", "postern_it")
HOST = "127.0.0.1"
PORT_OFFSET = int(os.environ.get("POSTERN_IT_PORT_OFFSET", "0"))
PORT_SMTP, PORT_SUBMISSION, PORT_SMTPS = 3525 + PORT_OFFSET, 3587 + PORT_OFFSET, 3465 + PORT_OFFSET
PORT_EXTRA = 3599 + PORT_OFFSET
DOMAIN = "example.test"
ALICE, BOB = "alice@example.test", "bob@example.test"
PASSWORD = "alice-secret-42"
BOB_PASSWORD = "bob-secret-42"
TIMEOUT = 10.0


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def wait_until(pred, timeout=TIMEOUT, interval=0.05, what="condition"):
    """Polls pred() until it returns a true value; bounded."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            raise TestFailure("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


# ---- SQL ----

def _psql(query, user="postern", db=DBNAME, timeout=60):
    cmd = ["psql", "-X", "-q", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1",
           "-h", PGHOST, "-p", PGPORT, "-U", user, "-d", db, "-c", query]
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def sql_try(query, user="postern", db=DBNAME):
    """Runs query; returns (ok, rows, stderr)."""
    p = _psql(query, user, db)
    rows = [line.split("|") for line in p.stdout.splitlines() if line != ""]
    return p.returncode == 0, rows, p.stderr


def sql(query, user="postern", db=DBNAME):
    """Runs query; returns rows as lists of strings.  Raises on error."""
    ok, rows, err = sql_try(query, user, db)
    if not ok:
        raise TestFailure("SQL failed: %s: %s" % (query, err.strip()))
    return rows


def sql_value(query):
    rows = sql(query)
    return rows[0][0] if rows else None


def q(s):
    """SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def setup_database(certfile, keyfile):
    ok, rows, err = sql_try("SELECT 1", user="postgres", db="postgres")
    if not ok:
        raise TestFailure("cannot reach the private cluster at %s port %s "
                          "(run scripts/pg.sh start): %s" % (PGHOST, PGPORT, err.strip()))
    # The same loader as setup.sh: schema plus every migration.
    p = subprocess.run([os.path.join(ROOT, "scripts", "db-load.sh"), DBNAME, "--fresh"],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise TestFailure("scripts/db-load.sh %s --fresh failed: %s%s" % (DBNAME, p.stdout, p.stderr))
    sql("UPDATE postern.listeners SET address = '127.0.0.1', port = %d WHERE name = 'smtp';"
        "UPDATE postern.listeners SET address = '127.0.0.1', port = %d WHERE name = 'submission';"
        "UPDATE postern.listeners SET address = '127.0.0.1', port = %d WHERE name = 'smtps';"
        "UPDATE postern.settings SET hostname = 'mx.example.test', tls_cert_file = %s, tls_key_file = %s;"
        # No greeting pause (settings.greet_pause_ms) except in the tests
        # of it (test_hardening.py), so the suite stays fast.
        "UPDATE postern.settings SET greet_pause_ms = 0;"
        "SELECT postern.add_domain(%s);"
        "SELECT postern.add_account(%s, %s);"
        "SELECT postern.add_account(%s, %s);"
        % (PORT_SMTP, PORT_SUBMISSION, PORT_SMTPS, q(certfile), q(keyfile), q(DOMAIN),
           q(ALICE), q(PASSWORD), q(BOB), q(BOB_PASSWORD)))


def make_cert(tmpdir):
    cert = os.path.join(tmpdir, "cert.pem")
    key = os.path.join(tmpdir, "key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise TestFailure("openssl req failed: " + p.stderr)
    return cert, key


# ---- the daemon ----

def port_open(port, host=HOST):
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


# What a sanitizer, fatalx() or a fatal error writes into posternd's log.
SANITIZER_RX = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)"
                          r"|runtime error: |SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer"
                          r"| panic: ")


class Daemon:
    def __init__(self, tmpdir):
        self.bin = os.environ.get("POSTERN_BIN", os.path.join(ROOT, "build", "posternd"))
        if not os.path.isabs(self.bin):
            self.bin = os.path.join(ROOT, self.bin)
        self.tmpdir = tmpdir
        self.bootstrap = os.path.join(tmpdir, "postern-it.conf")
        self.logfile = os.path.join(tmpdir, "posternd.log")
        self.proc = None
        self.exit_code = None   # of the last process we stopped ourselves
        with open(self.bootstrap, "w") as f:
            f.write("conninfo = host=%s port=%s dbname=%s user=postern\n" % (PGHOST, PGPORT, DBNAME))
            f.write("node = it\n")

    def log(self):
        try:
            with open(self.logfile, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.logfile)
        except FileNotFoundError:
            return 0

    def log_since(self, offset):
        return self.log()[offset:] if offset else self.log()

    def wait_log(self, pattern, offset=0, timeout=TIMEOUT):
        """Waits for regex pattern in the log after byte offset."""
        rx = re.compile(pattern)

        def found():
            with open(self.logfile, "rb") as f:
                f.seek(offset)
                return rx.search(f.read().decode("utf-8", "replace"))
        return wait_until(found, timeout, what="log line /%s/" % pattern)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def crashed(self):
        """The exit status when posternd exited by itself (nobody called
        stop() or kill9()), else None: a crash, a sanitizer abort, a
        fatal error."""
        if self.proc is None:
            return None
        return self.proc.poll()

    def sanitizer_reports(self, offset=0):
        """Sanitizer, panic and fatal lines in the log after offset."""
        return [l for l in self.log_since(offset).splitlines() if SANITIZER_RX.search(l)]

    def start(self, ports=(PORT_SMTP, PORT_SUBMISSION, PORT_SMTPS)):
        if self.alive():
            return
        offset = self.log_size()
        logf = open(self.logfile, "ab")
        self.proc = subprocess.Popen([self.bin, "-c", self.bootstrap], stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=logf, cwd=self.tmpdir)
        logf.close()
        end = time.monotonic() + TIMEOUT
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise TestFailure("posternd exited with %d at start; log:\n%s"
                                  % (self.proc.returncode, self.log_since(offset)[-2000:]))
            if "posternd ready" in self.log_since(offset) and all(port_open(p) for p in ports):
                return
            time.sleep(0.05)
        raise TestFailure("posternd not ready within %.0f s; log:\n%s"
                          % (TIMEOUT, self.log_since(offset)[-2000:]))

    def stop(self, check_exit=True):
        """SIGTERM and wait.  A clean stop exits 0; anything else (a leak
        report from LeakSanitizer exits 23, a crash during shutdown) is a
        TestFailure unless check_exit is False."""
        if self.proc is None:
            return
        if self.proc.poll() is not None:
            code = self.proc.returncode
            self.proc = None
            raise TestFailure("posternd had already exited with %d before stop" % code)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=TIMEOUT)
            self.proc = None
            raise TestFailure("posternd did not stop within %.0f s of SIGTERM" % TIMEOUT)
        self.exit_code = self.proc.returncode
        self.proc = None
        if check_exit and self.exit_code != 0:
            raise TestFailure("posternd exited with %d on SIGTERM; log tail:\n%s"
                              % (self.exit_code, self.log()[-2000:]))

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=TIMEOUT)
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def wait_reload(self, offset):
        """Waits for a reload logged after offset (a config change by SQL)."""
        return self.wait_log(r"config: reloaded generation=\d+", offset)


# ---- SMTP clients ----

def client_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def plain_token(user, password):
    return b64("\0%s\0%s" % (user, password))


class Client:
    """Raw SMTP client: sends exact bytes, reads whole (multi-line) replies."""

    def __init__(self, port=PORT_SMTP, tls=False, timeout=TIMEOUT, greet=True):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.settimeout(timeout)
        if tls:
            self.sock = client_ctx().wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.greeting = self.reply() if greet else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed by server (buffer %r)" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """Returns (code, full text with lines joined by newlines)."""
        lines = []
        while True:
            line = self._line()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                break
        try:
            code = int(lines[-1][:3])
        except ValueError:
            raise TestFailure("malformed reply %r" % lines)
        return code, "\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def expect(self, line, code):
        c, text = self.cmd(line)
        check(c == code, "%r: expected %d, got %r" % (line, code, text))
        return text

    def starttls(self):
        self.expect("STARTTLS", 220)
        check(self.buf == b"", "data after the STARTTLS reply")
        self.sock = client_ctx().wrap_socket(self.sock, server_hostname="localhost")

    def closed(self, timeout=TIMEOUT):
        """True when the server closes the connection (EOF or reset) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True
                self.buf += d
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            return True
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def send_message(c, sender, rcpts, body, ehlo="client.test"):
    """Runs one transaction on Client c; returns the final (code, text)."""
    c.expect("EHLO " + ehlo, 250)
    c.expect("MAIL FROM:<%s>" % sender, 250)
    for r in rcpts:
        c.expect("RCPT TO:<%s>" % r, 250)
    c.expect("DATA", 354)
    data = body.replace("\r\n", "\n").replace("\n", "\r\n")
    if not data.endswith("\r\n"):
        data += "\r\n"
    data = "\r\n".join("." + l if l.startswith(".") else l for l in data.split("\r\n"))
    c.send(data + ".\r\n")
    return c.reply()


QUEUED_RX = re.compile(r"^250 2\.0\.0 Ok: queued as ([0-9A-F]{16})$")


def queue_id_of(text):
    m = QUEUED_RX.match(text)
    check(m is not None, "expected '250 2.0.0 Ok: queued as <16 hex>', got %r" % text)
    return m.group(1)


def unique(tag="m"):
    return "%s%d%04d" % (tag, int(time.time() * 1000), os.getpid() % 10000)


# ---- the environment shared by one run ----

class Env:
    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="postern-it-")
        self.tmpdir = self.tmp.name
        os.chmod(self.tmpdir, 0o755)
        self.cert, self.key = make_cert(self.tmpdir)
        setup_database(self.cert, self.key)
        # The delivery engine tries every queued message at once.  Its DNS
        # is an unbound on loopback that refuses every name, the special-use
        # test. and invalid. included (a temporary failure: remote
        # recipients are deferred, never bounced by what the machine's
        # resolver says); local ones are deferred too while maildir_root is
        # NULL.  Delivery tests set their own servers.
        self.dns_port, self.dns_stop = dnsfix.start({}, refuse=("test", "invalid"))
        self.dns_servers = "%s:%d" % (HOST, self.dns_port)
        sql("UPDATE postern.settings SET dns_servers = %s" % q(self.dns_servers))
        self.daemon = Daemon(self.tmpdir)
        try:
            self.daemon.start()
        except Exception:
            self.dns_stop()
            raise

    def ensure_running(self):
        if not self.daemon.alive():
            self.daemon.start()

    def healthy_session(self, port=PORT_SMTP):
        """A normal SMTP exchange works (used after abuse tests)."""
        with Client(port) as c:
            check(c.greeting[0] == 220, "greeting %r" % (c.greeting,))
            code, text = send_message(c, "probe@client.test", [ALICE],
                                      "Subject: probe\n\nstill alive\n")
            queue_id_of(text)
            c.expect("QUIT", 221)

    def close(self):
        try:
            self.daemon.stop()
        finally:
            self.dns_stop()
            self.tmp.cleanup()


ENV = None


def env():
    return ENV
