"""
cluster.py - fixtures for the cluster tests (test_cluster.py) and
bench/cluster.sh: private PostgreSQL instances, several posternd nodes on
one database, and a recording SMTP peer (stdlib only).

Nothing here touches the suite's shared private cluster (var/pg, database
postern_it) or its ports: every PostgreSQL instance is made with initdb in
a temporary directory (as the OS user postgres when we are root, since
initdb refuses root), listens on its own Unix socket directory and on
127.0.0.1 with a port in 5600-5699 (TCP, so that standbys and multi-host
conninfo strings can reach it), and is removed at the end.

Ports: posternd nodes 3700-3799, peers 3800-3899, PostgreSQL 5600-5699.
A port is taken only after a successful trial bind, so concurrent runs on
one machine pick different ones.  Every wait here is bounded.

    Pg(name)               one instance: init(), start(), stop(mode),
                           promote(), psql(), make_postern_db()
    pg_shared()            one instance shared by the non-destructive tests
                           (each test gets its own database from a template)
    Node(name, conninfo)   one posternd: start(), stop(), kill9(), log()
    Peer(delay)            SMTP recorder: Message-IDs received, optional
                           delay before the reply to the end of DATA
    setup_cluster_db(...)  settings, per-node listeners, relay rule to the peer
    Cluster(pg, db, "ABC") nodes A, B, C on one database, each with its own
                           starttls listener (listeners.node set); a
                           context manager that stops them all
    send_one(port, mid)    one message with that Message-ID; (code, text),
                           code 0 for a connection-level failure

bench/cluster.sh uses the same fixtures.
"""
import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import harness
from harness import ROOT, TestFailure, check, wait_until

PG_BIN = os.environ.get("POSTERN_PG_BIN", "/usr/lib/postgresql/15/bin")
AS_PG = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
NODE_PORTS = (3700, 3799)
PEER_PORTS = (3800, 3899)
PG_PORTS = (5600, 5699)
HOST = "127.0.0.1"

_taken = set()
_cleanup = []


def _at_exit():
    for f in reversed(_cleanup):
        try:
            f()
        except Exception:
            pass


atexit.register(_at_exit)

# A run ended by SIGTERM (timeout(1), a CI job limit) should still stop its
# PostgreSQL instances and nodes: turn SIGTERM into a normal exit so that
# the atexit clean-up runs.
if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(128 + sig))


def free_port(lo_hi):
    """A port in [lo, hi] that binds now on 127.0.0.1 and that this process
    has not handed out before."""
    lo, hi = lo_hi
    start = lo + (os.getpid() * 7 + int(time.time())) % (hi - lo + 1)
    for i in range(hi - lo + 1):
        p = lo + (start - lo + i) % (hi - lo + 1)
        if p in _taken:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((HOST, p))
        except OSError:
            continue
        finally:
            s.close()
        _taken.add(p)
        return p
    raise TestFailure("no free port in %d-%d" % (lo, hi))


def port_open(port):
    return harness.port_open(port, HOST)


def make_tmpdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    return d


# ---- PostgreSQL instances ----

class Pg:
    """One PostgreSQL 15 instance in a temporary directory."""

    def __init__(self, name, port=None, root=None):
        self.name = name
        self.port = port or free_port(PG_PORTS)
        self.own_root = root is None
        self.root = root or make_tmpdir("postern-cl-pg-")
        self.dir = os.path.join(self.root, name)
        self.data = os.path.join(self.dir, "data")
        self.run = os.path.join(self.dir, "run")
        self.logfile = os.path.join(self.dir, "postgresql.log")
        self.started = False
        _cleanup.append(self.destroy)

    def _as_pg(self, args, timeout=60, check_rc=True):
        p = subprocess.run(AS_PG + args, cwd="/", capture_output=True, text=True, timeout=timeout)
        if check_rc and p.returncode != 0:
            raise TestFailure("%s failed (%d): %s%s\n%s" % (" ".join(args[:2]), p.returncode, p.stdout,
                                                          p.stderr, self.log_tail()))
        return p

    def log_tail(self, n=3000):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def _mkdirs(self):
        os.makedirs(self.run, exist_ok=True)
        os.chmod(self.dir, 0o755)
        os.chmod(self.run, 0o755)
        if AS_PG:
            shutil.chown(self.dir, "postgres", "postgres")
            shutil.chown(self.run, "postgres", "postgres")

    def conf(self, extra=""):
        return ("\n# --- postern cluster test instance ---\n"
                "listen_addresses = '%s'\nport = %d\nunix_socket_directories = '%s'\n"
                "unix_socket_permissions = 0777\nmax_connections = 200\n"
                "fsync = on\nsynchronous_commit = on\nwal_level = replica\n"
                "max_wal_senders = 5\nlog_line_prefix = '%%m [%%p] %%q%%u@%%d '\n%s"
                % (HOST, self.port, self.run, extra))

    def init(self):
        self._mkdirs()
        self._as_pg([os.path.join(PG_BIN, "initdb"), "-D", self.data, "--auth=trust", "-U", "postgres",
                     "--encoding=UTF8", "--locale=C", "--no-sync"], timeout=120)
        # initdb's pg_hba.conf with --auth=trust already allows replication
        # connections from 127.0.0.1.
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(self.conf())
        return self

    def basebackup_from(self, primary):
        """Makes this instance a streaming standby of primary (pg_basebackup -R)."""
        self._mkdirs()
        self._as_pg([os.path.join(PG_BIN, "pg_basebackup"), "-h", HOST, "-p", str(primary.port),
                     "-U", "postgres", "-D", self.data, "-R", "-X", "stream", "-c", "fast",
                     "--no-sync"], timeout=120)
        # The copy carries the primary's settings; only port and socket differ.
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# --- standby ---\nport = %d\nunix_socket_directories = '%s'\n"
                    % (self.port, self.run))
        return self

    def start(self, timeout=30):
        self._as_pg([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.logfile, "-w",
                     "-t", str(timeout), "start"], timeout=timeout + 10)
        self.started = True
        wait_until(self.ready, 20, 0.1, "PostgreSQL %s ready on port %d" % (self.name, self.port))
        return self

    def ready(self):
        p = subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-q", "-h", self.run, "-p",
                            str(self.port)], capture_output=True, timeout=10)
        return p.returncode == 0

    def stop(self, mode="fast"):
        if not os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.started = False
            return
        self._as_pg([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "-t", "60",
                     "stop"], timeout=70, check_rc=False)
        self.started = False

    def promote(self):
        self._as_pg([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-w", "-t", "30", "promote"],
                    timeout=40)

    def destroy(self):
        try:
            self.stop("immediate")
        finally:
            if self.own_root:
                shutil.rmtree(self.root, ignore_errors=True)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)

    def psql_try(self, query, user="postern", db="postern", timeout=30, host=None):
        cmd = [os.path.join(PG_BIN, "psql"), "-X", "-q", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1",
               "-h", host or self.run, "-p", str(self.port), "-U", user, "-d", db, "-c", query]
        env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning", PGCONNECT_TIMEOUT="5")
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return False, [], "psql timed out after %d s" % timeout
        rows = [line.split("|") for line in p.stdout.splitlines() if line != ""]
        return p.returncode == 0, rows, p.stderr

    def psql(self, query, user="postern", db="postern", timeout=30):
        ok, rows, err = self.psql_try(query, user, db, timeout)
        if not ok:
            raise TestFailure("SQL on %s/%s failed: %s: %s" % (self.name, db, query[:300], err.strip()))
        return rows

    def value(self, query, db="postern"):
        rows = self.psql(query, db=db)
        return rows[0][0] if rows else None

    def load_postern(self, db):
        """Creates database db owned by postern with the current schema
        (sql/schema.sql in one transaction, what scripts/db-load.sh does
        for a new database; that script only knows the private cluster in
        var/pg)."""
        if self.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'postern'", "postgres",
                     "postgres") == [["0"]]:
            self.psql("CREATE ROLE postern LOGIN", "postgres", "postgres")
        self.psql("CREATE DATABASE %s OWNER postern ENCODING 'UTF8' TEMPLATE template0" % db,
                  "postgres", "postgres")
        self.psql("CREATE EXTENSION IF NOT EXISTS pgcrypto", "postgres", db)
        files = [os.path.join(ROOT, "sql", "schema.sql")]
        env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
        for f in files:
            p = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1",
                                "-h", self.run, "-p", str(self.port), "-U", "postern", "-d", db,
                                "-f", f], capture_output=True, text=True, timeout=120, env=env)
            if p.returncode != 0:
                raise TestFailure("loading %s into %s failed: %s" % (os.path.basename(f), db, p.stderr))

    def conninfo(self, db="postern"):
        return "host=%s port=%d dbname=%s user=postern connect_timeout=3" % (HOST, self.port, db)


def new_pg(name="pg", db="postern"):
    """A fresh started instance with the postern schema in database db."""
    pg = Pg(name).init().start()
    pg.load_postern(db)
    return pg


_shared = None
_db_seq = [0]


def pg_shared():
    """One instance for the tests that do not stop PostgreSQL; the schema is
    loaded once into database postern_tmpl, and fresh_db() copies it."""
    global _shared
    if _shared is None:
        pg = Pg("shared").init().start()
        pg.load_postern("postern_tmpl")
        _shared = pg
    return _shared


def fresh_db(pg):
    """A new database from postern_tmpl on pg; returns its name."""
    _db_seq[0] += 1
    db = "postern_cl%d" % _db_seq[0]
    pg.psql("CREATE DATABASE %s OWNER postern TEMPLATE postern_tmpl" % db, "postgres", "postgres")
    return db


# ---- posternd nodes ----

class Node:
    """One posternd process with its own bootstrap file, spool dir and log."""

    def __init__(self, name, conninfo, tmpdir):
        self.name = name
        self.bin = os.environ.get("POSTERN_BIN", os.path.join(ROOT, "build", "posternd"))
        if not os.path.isabs(self.bin):
            self.bin = os.path.join(ROOT, self.bin)
        self.dir = os.path.join(tmpdir, "node-" + name)
        os.makedirs(os.path.join(self.dir, "spool"), exist_ok=True)
        self.bootstrap = os.path.join(self.dir, "postern.conf")
        self.logfile = os.path.join(self.dir, "posternd.log")
        self.proc = None
        self.extra = []
        self.set_conninfo(conninfo)
        _cleanup.append(self.kill9)

    def set_conninfo(self, conninfo):
        with open(self.bootstrap, "w") as f:
            f.write("conninfo = %s\nnode = %s\nspool_dir = %s\n"
                    % (conninfo, self.name, os.path.join(self.dir, "spool")))

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def spawn(self):
        """Starts the process; does not wait."""
        logf = open(self.logfile, "ab")
        p = subprocess.Popen([self.bin, "-c", self.bootstrap], stdin=subprocess.DEVNULL,
                             stdout=logf, stderr=logf, cwd=self.dir)
        logf.close()
        return p

    def start(self, ports=(), timeout=15):
        if self.alive():
            return
        off = len(self.log())
        self.proc = self.spawn()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise TestFailure("posternd %s exited with %d at start; log:\n%s"
                                  % (self.name, self.proc.returncode, self.log()[off:][-2000:]))
            if "posternd ready" in self.log()[off:] and all(port_open(p) for p in ports):
                return
            time.sleep(0.05)
        raise TestFailure("posternd %s not ready within %.0f s; log:\n%s"
                          % (self.name, timeout, self.log()[off:][-2000:]))

    def stop(self, timeout=20):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise TestFailure("posternd %s did not stop within %d s of SIGTERM" % (self.name, timeout))
        self.proc = None

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def tail(self, n=1500):
        return "--- %s log tail ---\n%s" % (self.name, self.log()[-n:])


def stop_all(nodes):
    errs = []
    for n in nodes:
        try:
            n.stop()
        except Exception as e:
            errs.append(str(e))
    if errs:
        raise TestFailure("; ".join(errs))


# ---- the recording SMTP peer ----

MSGID_RX = re.compile(rb"^message-id:\s*<([^>\r\n]+)>", re.I | re.M)


class Peer:
    """A small SMTP server on 127.0.0.1 that records the Message-ID of every
    message it accepts.  delay: seconds to wait after the end of DATA; the
    message is recorded before the wait (like a receiver that has committed
    and not yet answered), so a sender that dies during the wait causes a
    duplicate when the message is sent again."""

    def __init__(self, delay=0.0, port=None):
        self.delay = delay
        self.port = port or free_port(PEER_PORTS)
        self.lock = threading.Lock()
        self.received = []
        self.times = []  # (Message-ID, time.monotonic()) per message received
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, self.port))
        self.sock.listen(256)
        self.closing = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        _cleanup.append(self.close)

    def _accept(self):
        while not self.closing:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        f = None
        try:
            c.settimeout(60)
            f = c.makefile("rb")
            c.sendall(b"220 peer.test ESMTP recorder\r\n")
            while True:
                line = f.readline(4096)
                if not line:
                    return
                cmd = line.strip().upper()
                if cmd.startswith(b"EHLO"):
                    c.sendall(b"250-peer.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                elif cmd.startswith(b"HELO"):
                    c.sendall(b"250 peer.test\r\n")
                elif cmd.startswith(b"MAIL") or cmd.startswith(b"RCPT") or cmd in (b"RSET", b"NOOP"):
                    c.sendall(b"250 2.0.0 Ok\r\n")
                elif cmd == b"DATA":
                    c.sendall(b"354 go ahead\r\n")
                    data = []
                    while True:
                        l2 = f.readline(1 << 20)
                        if not l2:
                            return
                        if l2 in (b".\r\n", b".\n"):
                            break
                        data.append(l2)
                    body = b"".join(data)
                    m = MSGID_RX.search(body)
                    with self.lock:
                        self.received.append(m.group(1).decode() if m else "<none>")
                        self.times.append((self.received[-1], time.monotonic()))
                    if self.delay:
                        time.sleep(self.delay)
                    c.sendall(b"250 2.0.0 Ok: recorded\r\n")
                elif cmd == b"QUIT":
                    c.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    c.sendall(b"502 5.5.2 not implemented\r\n")
        except OSError:
            return
        finally:
            if f is not None:
                f.close()
            c.close()

    def ids(self):
        with self.lock:
            return list(self.received)

    def close(self):
        self.closing = True
        try:
            self.sock.close()
        except OSError:
            pass


# ---- database set-up for a cluster ----

def setup_cluster_db(psql, nodes_ports, peer_port=None, cert=None, key=None, settings=""):
    """psql: a function running SQL as postern.  nodes_ports: {node: port};
    each node gets its own starttls listener (node column set) on
    127.0.0.1:port, the default listeners are removed.  peer_port: mail for
    peer.test is accepted without AUTH and relayed to 127.0.0.1:peer_port
    (plain SMTP).  settings: extra assignments for UPDATE postern.settings."""
    q = harness.q
    stmts = ["DELETE FROM postern.listeners"]
    for name, port in sorted(nodes_ports.items()):
        stmts.append("INSERT INTO postern.listeners (name, node, address, port, tls_mode) "
                     "VALUES (%s, %s, '127.0.0.1', %d, 'starttls')"
                     % (q("smtp-" + name.lower()), q(name), port))
    # lease_seconds must stay 5 s above every smtp_*_timeout (schema 7).
    sets = ["hostname = 'mx.cluster.test'", "delivery_threads = 2", "delivery_batch = 2",
            "smtp_connect_timeout = 5", "smtp_command_timeout = 5", "smtp_data_timeout = 5",
            "lease_seconds = 10", "node_timeout = 10", "retry_initial = 1", "retry_max = 2",
            "greet_pause_ms = 0"]  # no greeting pause: test_hardening.py tests it
    if cert:
        sets += ["tls_cert_file = %s" % q(cert), "tls_key_file = %s" % q(key)]
    stmts.append("UPDATE postern.settings SET " + ", ".join(sets))
    if settings:
        stmts.append("UPDATE postern.settings SET " + settings)
    stmts.append("SELECT postern.add_domain('cluster.test')")
    if peer_port:
        stmts += ["SELECT postern.rule_add('to_peer')",
                  "SELECT postern.rule_add_condition('to_peer', 'rcpt_domain', 'is', 'peer.test')",
                  "SELECT postern.rule_add_relay('to_peer', '[127.0.0.1]', %d, 'none')" % peer_port,
                  # The test clients on loopback may relay (a route is no permission).
                  "SELECT postern.rule_add('loopback_relay')",
                  "SELECT postern.rule_add_condition('loopback_relay', 'conn_remote_addr', 'in_cidr', '127.0.0.0/8')",
                  "SELECT postern.rule_add_relay_allow('loopback_relay')"]
    psql(";\n".join(stmts))


def msgid(tag, i):
    return "%s.%d.%d@cluster.test" % (tag, i, os.getpid())


def send_one(port, mid, rcpt="user@peer.test", timeout=10.0):
    """One message over a new connection.  Returns (code, text); code 0 with
    the error text for a connection-level failure (refused, reset, EOF)."""
    try:
        with harness.Client(port, timeout=timeout) as c:
            if c.greeting[0] != 220:
                return c.greeting
            body = "Message-ID: <%s>\nSubject: cluster %s\n\nbody of %s\n" % (mid, mid, mid)
            for line, want in (("EHLO client.test", 250), ("MAIL FROM:<sender@client.test>", 250),
                               ("RCPT TO:<%s>" % rcpt, 250), ("DATA", 354)):
                code, text = c.cmd(line)
                if code != want:
                    return code, text
            data = body.replace("\n", "\r\n")
            c.send(data + ".\r\n")
            code, text = c.reply()
            try:
                c.cmd("QUIT")
            except (OSError, EOFError):
                pass
            return code, text
    except (OSError, EOFError) as e:
        return 0, "connection: %s" % e


# ---- a cluster of nodes on one database ----

_cert = []


def test_cert():
    """A self-signed certificate shared by every node (made once)."""
    if not _cert:
        d = make_tmpdir("postern-cl-cert-")
        _cleanup.append(lambda: shutil.rmtree(d, ignore_errors=True))
        _cert.extend(harness.make_cert(d))
    return _cert[0], _cert[1]


class Cluster:
    """Nodes named by names (e.g. "ABC") on database db of Pg pg, each with
    its own listener; with peer, mail for peer.test is relayed to it.
    conninfo: what the nodes use (default: pg's TCP address, database db).
    A context manager: leaving it stops every node (SIGKILL if SIGTERM does
    not work) and prints the node logs to stderr when the test failed."""

    def __init__(self, pg, db, names, peer=None, settings="", conninfo=None):
        self.pg, self.db, self.peer = pg, db, peer
        self.tmp = make_tmpdir("postern-cl-")
        self.cert, self.key = test_cert()
        self.ports = {n: free_port(NODE_PORTS) for n in names}
        setup_cluster_db(self.sql, self.ports, peer.port if peer else None, self.cert, self.key,
                         settings)
        self.nodes = {n: Node(n, conninfo or pg.conninfo(db), self.tmp) for n in names}

    def sql(self, query):
        return self.pg.psql(query, db=self.db)

    def value(self, query):
        rows = self.sql(query)
        return rows[0][0] if rows else None

    def start(self, names=None):
        for n in names or sorted(self.nodes):
            self.nodes[n].start(ports=(self.ports[n],))

    def logs(self, n=1500):
        return "\n".join(self.nodes[k].tail(n) for k in sorted(self.nodes))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        for n in self.nodes.values():
            try:
                n.stop()
            except Exception:
                n.kill9()
        if exc_type is not None and os.environ.get("POSTERN_CLUSTER_LOGS", "1") != "0":
            import sys
            sys.stderr.write(self.logs(3000) + "\n")
        if self.peer is not None:
            self.peer.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return False
