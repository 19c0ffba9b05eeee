#!/usr/bin/env bash
# postern bench - clustered nodes on one database.
#
#   bench/cluster.sh
#
# Builds its own PostgreSQL 15 instance in a temporary directory (fsync and
# synchronous_commit on, like scripts/pg.sh; nothing of var/pg is used) and
# posternd nodes A, B, C on it (tests/integration/cluster.py: node ports
# 3700-3799, sinks 3800-3899, PostgreSQL 5600-5699), then measures:
#
# 1. Relay throughput, end to end: smtp-source sends N messages of 10 KiB to
#    user@peer.test (one message per connection, 30 parallel sessions); a
#    relay rule sends peer.test to a private smtp-sink (-u nobody, every
#    message dumped to a file).  The clock runs from the start of smtp-source
#    until the sink holds N files.  Two set-ups, each on a fresh database:
#      1 node : one posternd, all 30 sessions to it;
#      3 nodes: three posternd on the same database, smtp-source spread over
#               their ports (3 x 10 sessions, N/3 messages each).
#    Median of $BENCH_RUNS (default 3).  Every process runs on this one
#    machine, so the 3-node figure shows contention between nodes on one
#    database, not scale-out: more nodes on more machines is a different
#    measurement.
#
# 2. Takeover time: a slow peer (1 s before each 250), 6 messages queued
#    through node A (1 delivery thread, delivery_batch 5); once A holds the
#    last 5 (and nothing else is queued) node B starts and A is killed with
#    SIGKILL (or, for comparison, stopped with SIGTERM); reported is the
#    time from the signal until B delivered each recipient A held and had
#    not finished itself, for lease_seconds 10 and 30.  B also has one
#    thread, so it delivers them one after the other (1 s each): the
#    minimum is the takeover latency, the rest adds B's own pace.
#
# Output: markdown on stdout, also saved to var/bench/cluster-<date>.md.
# Settings are the schema defaults (4 worker threads, 4 database
# connections, 4 delivery threads, delivery_batch 50) unless stated.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SRC=$(smtp_source_bin) || die "smtp-source not found (postfix package)"
[ -x /usr/sbin/smtp-sink ] || die "smtp-sink not found (postfix package)"
[ -x "$BENCH_ROOT/build/posternd" ] || die "build/posternd missing (make)"

STAMP=$(date +%Y%m%d-%H%M%S)
MD="$BENCH_STATE/cluster-$STAMP.md"
export BENCH_SRC="$SRC" BENCH_RUNS="${BENCH_RUNS:-3}" BENCH_N="${BENCH_N:-3000}"
export POSTERN_CLUSTER_LOGS=0

python3 - "$BENCH_ROOT" <<'EOF' | tee "$MD"
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

root = sys.argv[1]
sys.path.insert(0, os.path.join(root, "tests", "integration"))
import cluster  # noqa: E402
from cluster import Cluster, Peer, msgid, send_one  # noqa: E402
from harness import queue_id_of  # noqa: E402

SRC = os.environ["BENCH_SRC"]
RUNS = int(os.environ["BENCH_RUNS"])
N = int(os.environ["BENCH_N"])
CONC = 30
SIZE = 10240
DEFAULTS = ("delivery_threads = 4, delivery_batch = 50, lease_seconds = 900, "
            "retry_initial = 300, retry_max = 14400, max_connections_per_ip = 5000")


def say(msg):
    sys.stderr.write(time.strftime("%H:%M:%S ") + msg + "\n")


class Sink:
    """smtp-sink dumping every message to a file in its own directory."""

    def __init__(self):
        self.port = cluster.free_port(cluster.PEER_PORTS)
        self.dir = cluster.make_tmpdir("postern-cl-sink-")
        os.chmod(self.dir, 0o777)
        args = ["/usr/sbin/smtp-sink", "-d", os.path.join(self.dir, "m."),
                "127.0.0.1:%d" % self.port, "1024"]
        if os.geteuid() == 0:
            args[1:1] = ["-u", "nobody"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t = time.monotonic() + 10
        while not cluster.port_open(self.port):
            if time.monotonic() > t or self.proc.poll() is not None:
                raise RuntimeError("smtp-sink did not start")
            time.sleep(0.05)

    def count(self):
        return len(os.listdir(self.dir))

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def throughput(pg, nnodes):
    sink = Sink()
    db = cluster.fresh_db(pg)
    names = "ABC"[:nnodes]
    try:
        with Cluster(pg, db, names, settings=DEFAULTS) as cl:
            # Relay rule to the sink (the Cluster's own peer is not used).
            cl.sql("SELECT postern.rule_add('to_peer');"
                   "SELECT postern.rule_add_condition('to_peer', 'rcpt_domain', 'is', 'peer.test');"
                   "SELECT postern.rule_add_relay('to_peer', '[127.0.0.1]', %d, 'none');"
                   "SELECT postern.rule_add('loopback_relay');"
                   "SELECT postern.rule_add_condition('loopback_relay', 'conn_remote_addr', 'in_cidr',"
                   " '127.0.0.0/8');"
                   "SELECT postern.rule_add_relay_allow('loopback_relay')" % sink.port)
            cl.start()
            time.sleep(0.5)
            per = N // nnodes
            t0 = time.monotonic()
            procs = [subprocess.Popen([SRC, "-s", str(CONC // nnodes), "-l", str(SIZE), "-m", str(per),
                                       "-f", "sender@client.test", "-t", "user@peer.test",
                                       "127.0.0.1:%d" % cl.ports[n]],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                     for n in names]
            errs = []
            for p in procs:
                _, e = p.communicate(timeout=300)
                if p.returncode != 0 or e.strip():
                    errs.append("smtp-source rc=%d %s" % (p.returncode, e.decode()[:200]))
            t_sent = time.monotonic() - t0
            total = per * nnodes
            end = time.monotonic() + 300
            while sink.count() < total and time.monotonic() < end:
                time.sleep(0.02)
            t_all = time.monotonic() - t0
            got = sink.count()
            delivered = int(cl.value("SELECT count(*) FROM postern.recipients WHERE state = 'delivered'"))
            by_node = cl.sql("SELECT node, count(*) FROM postern.messages GROUP BY node ORDER BY node")
            ok = not errs and got == total and delivered == total
            return dict(ok=ok, total=total, accept_s=t_sent, e2e_s=t_all, got=got, delivered=delivered,
                        errs=errs, by_node=" ".join("%s=%s" % tuple(r) for r in by_node))
    finally:
        sink.close()
        pg.psql("DROP DATABASE %s WITH (FORCE)" % db, "postgres", "postgres")


def takeover(pg, lease, how):
    peer = Peer(delay=1.0)
    db = cluster.fresh_db(pg)
    try:
        with Cluster(pg, db, "AB", peer, settings="lease_seconds = %d, delivery_threads = 1, "
                     "delivery_batch = 5" % lease) as cl:
            cl.start("A")
            qid_to_mid = {}
            for i in range(6):
                mid = msgid("take%d%s" % (lease, how), i)
                code, text = send_one(cl.ports["A"], mid)
                if code != 250:
                    raise RuntimeError("send: %r" % text)
                qid_to_mid[queue_id_of(text)] = mid
            t = time.monotonic() + 10
            # A delivers the first message alone, then claims the other 5 as
            # one batch: wait for that, so that B finds nothing else to do.
            while cl.value("SELECT count(*) FILTER (WHERE lease_owner = 'A') >= 3 AND count(*) FILTER "
                           "(WHERE lease_owner IS NULL AND state = 'queued') = 0 "
                           "FROM postern.recipients") != "t":
                if time.monotonic() > t:
                    raise RuntimeError("A never held 3 leases")
                time.sleep(0.02)
            cl.start("B")
            a = cl.nodes["A"]
            t_sig = time.monotonic()
            if how == "SIGKILL":
                a.kill9()
            else:
                a.proc.send_signal(signal.SIGTERM)
            rows = cl.sql("SELECT m.queue_id, extract(epoch FROM r.lease_expires - now()) FROM "
                          "postern.recipients r JOIN postern.messages m ON m.id = r.message_id "
                          "WHERE r.lease_owner = 'A' AND r.state IN ('queued', 'deferred')")
            if how != "SIGKILL":
                a.proc.wait(timeout=30)
                a.proc = None
                # What A finished itself before stopping is not taken over.
                log = a.log()
                rows = [r for r in rows if not any(r[0] + " to=<" in l and "status=sent" in l
                                                   for l in log.splitlines())]
            held = {qid_to_mid[q]: float(left) for q, left in rows}
            if not held and how == "SIGKILL":
                raise RuntimeError("A held no lease at the kill")
            end = time.monotonic() + lease + 30

            def after(mid):
                for m, ts in list(peer.times):
                    if m == mid and ts >= t_sig:
                        return ts - t_sig
                return None
            while time.monotonic() < end and any(after(m) is None for m in held):
                time.sleep(0.05)
            delays = [after(m) for m in held]
            if any(d is None for d in delays):
                raise RuntimeError("not all of A's leased mail was delivered by B")
            left = list(held.values())
            return dict(n=len(held), dmin=min(delays) if delays else 0, dmed=statistics.median(delays) if delays else 0,
                        dmax=max(delays) if delays else 0, lmin=min(left) if left else 0, lmax=max(left) if left else 0)
    finally:
        peer.close()
        pg.psql("DROP DATABASE %s WITH (FORCE)" % db, "postgres", "postgres")


say("PostgreSQL instance (temporary directory)")
pg = cluster.pg_shared()
results = {1: [], 3: []}
for r in range(RUNS):
    for n in (1, 3):   # alternate, so machine drift affects both alike
        res = throughput(pg, n)
        say("throughput %d node(s) run %d: %s" % (n, r + 1, res))
        results[n].append(res)
take = []
for lease in (10, 30):
    res = takeover(pg, lease, "SIGKILL")
    say("takeover lease %d SIGKILL: %s" % (lease, res))
    take.append((lease, "SIGKILL", res))
res = takeover(pg, 10, "SIGTERM")
say("takeover lease 10 SIGTERM: %s" % res)
take.append((10, "SIGTERM (clean stop)", res))

cpus = os.cpu_count()
load = open("/proc/loadavg").read().split()[0]
print("## Cluster: relay throughput with 1 vs 3 nodes on one database\n")
print("Generated %s by bench/cluster.sh; %d CPUs, 1-min load average %s at the end. "
      "N = %d messages of 10 KiB per run (one per connection), smtp-source with 30 parallel "
      "sessions in total, relayed to a local smtp-sink; end to end = from the start of smtp-source "
      "until the sink holds all N. Median of %d runs. **All nodes, PostgreSQL, smtp-source and the "
      "sink share this one machine, so the 3-node figure shows the cost of contention between nodes "
      "on one database, not scale-out.**\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), cpus, load, N, RUNS))
print("| set-up | accepted msgs/s (median) | end-to-end msgs/s (median) | runs (end-to-end s; accepted s; per node) |")
print("|---|---:|---:|---|")
for n in (1, 3):
    rs = results[n]
    good = [x for x in rs if x["ok"]]
    runs = "; ".join(("%.2f s / %.2f s [%s]" % (x["e2e_s"], x["accept_s"], x["by_node"])) if x["ok"]
                     else "ERROR (%s got=%d delivered=%d)" % (" ".join(x["errs"]), x["got"], x["delivered"])
                     for x in rs)
    if good:
        acc = statistics.median(x["total"] / x["accept_s"] for x in good)
        e2e = statistics.median(x["total"] / x["e2e_s"] for x in good)
        print("| %d node%s%s | %.0f | %.0f | %s |" % (n, "" if n == 1 else "s",
              " (all 30 sessions to A)" if n == 1 else " (10 sessions to each)", acc, e2e, runs))
    else:
        print("| %d nodes | ERROR | ERROR | %s |" % (n, runs))
print("\n## Takeover of leased mail (nodes A and B, 1 delivery thread each, delivery_batch 5, "
      "peer answers after 1 s)\n")
print("| lease_seconds | how A ended | recipients A held | lease left at the signal (s) | "
      "signal -> delivered by B, min / median / max (s) |")
print("|---:|---|---:|---|---|")
for lease, how, r in take:
    print("| %d | %s | %d | %.1f - %.1f | %.1f / %.1f / %.1f |"
          % (lease, how, r["n"], r["lmin"], r["lmax"], r["dmin"], r["dmed"], r["dmax"]))
print("\nThe minimum is the takeover latency; B then delivers the rest one by one at the peer's "
      "1 s per message. After SIGKILL the leased mail waits for its lease to expire (lease_seconds "
      "after the claim), then for the next poll of an idle delivery thread (every 2 s); after SIGTERM "
      "the node finishes the message it is sending, releases its other leases and notifies the other "
      "nodes, which take them at once.")
EOF
