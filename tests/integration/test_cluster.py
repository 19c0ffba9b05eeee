"""Clustered nodes on one database (issue #6).

None of these tests touches the suite's shared database or daemon: each
builds its own PostgreSQL instance(s) in a temporary directory and its own
posternd nodes (cluster.py).  Every test name contains "cluster", so
    python3 tests/integration/run.py -k cluster
runs exactly these.  Every wait is bounded.
"""
import threading
import time

import cluster
from cluster import Cluster, Peer, msgid, pg_shared, fresh_db, send_one
from harness import Client, check, plain_token, queue_id_of, wait_until


def _count(cl, query):
    return int(cl.value(query))


def _delivered_by(cl, qid, names):
    """True when the log of one of the nodes names records qid as sent."""
    needle = "%s to=<" % qid
    for n in names:
        for line in cl.nodes[n].log().splitlines():
            if needle in line and "status=sent" in line:
                return n
    return None


def test_cluster_sigkilled_node_leases_go_to_others_after_expiry(env):
    peer = Peer(delay=1.0)
    pg = pg_shared()
    with Cluster(pg, fresh_db(pg), "ABC", peer) as cl:
        cl.start()
        qids = {}
        for i in range(30):
            mid = msgid("lease", i)
            code, text = send_one(cl.ports["A"], mid)
            check(code == 250, "message %d on node A: %r" % (i, (code, text)))
            qids[mid] = queue_id_of(text)
        wait_until(lambda: _count(cl, "SELECT count(*) FROM postern.recipients WHERE lease_owner = 'A'") > 0,
                   10, 0.02, "node A holding leases")
        cl.nodes["A"].kill9()
        t_kill = time.monotonic()
        # Leases A held when it died (a superset of what it had in flight).
        held = {r[0] for r in cl.sql("SELECT m.queue_id FROM postern.recipients r JOIN postern.messages m "
                                     "ON m.id = r.message_id WHERE r.lease_owner = 'A' "
                                     "AND r.state IN ('queued', 'deferred')")}
        check(held, "node A held no undelivered lease when it was killed")
        wait_until(lambda: set(qids) <= set(peer.ids()), 45, 0.1,
                   "the peer receiving all 30 messages")
        wait_until(lambda: _count(cl, "SELECT count(*) FROM postern.recipients WHERE state <> 'delivered'") == 0,
                   10, 0.1, "every recipient recorded as delivered")
        got = peer.ids()
        lost = [m for m in qids if m not in got]
        check(not lost, "lost: %r" % lost)
        dups = sorted({m for m in got if got.count(m) > 1})
        check(set(qids[m] for m in dups) <= held,
              "duplicates %r include messages node A did not hold (A held %r)" % (dups, sorted(held)))
        check(not [m for m in got if m not in qids], "unexpected messages at the peer")
        # A's leased mail went to B or C, and not before the lease expired.
        for qid in held:
            check(_delivered_by(cl, qid, "BC"), "%s (leased by A) not delivered by B or C" % qid)
        rows = cl.sql("SELECT m.queue_id, extract(epoch FROM r.delivered_at - m.received_at) "
                      "FROM postern.recipients r JOIN postern.messages m ON m.id = r.message_id "
                      "WHERE m.queue_id IN (%s)" % ",".join("'%s'" % h for h in held))
        # Node A was still in its first lease period (10 s) when it died.
        check(all(float(r[1]) >= 9.5 for r in rows),
              "A's leased mail delivered before its lease could have expired: %r" % rows)
        # nodes_status: A down after node_timeout (10 s), B and C up.
        wait_until(lambda: cl.value("SELECT status FROM postern.nodes_status WHERE name = 'A'") == "down",
                   max(1.0, 25 - (time.monotonic() - t_kill)), 0.2, "nodes_status showing A down")
        st = dict((r[0], r[1]) for r in cl.sql("SELECT name, status FROM postern.nodes_status"))
        check(st == {"A": "down", "B": "up", "C": "up"}, "nodes_status %r" % st)
        check(_count(cl, "SELECT leased FROM postern.nodes_status WHERE name = 'A'") == 0,
              "A still shown holding leases")


def test_cluster_clean_stop_releases_leases_at_once(env):
    # lease_seconds 60: had A not released its leases, B could take them
    # only a minute later.
    peer = Peer(delay=0.5)
    pg = pg_shared()
    with Cluster(pg, fresh_db(pg), "AB", peer,
                 settings="delivery_threads = 1, delivery_batch = 10, lease_seconds = 60") as cl:
        cl.start("A")
        qids = {}
        for i in range(10):
            mid = msgid("clean", i)
            code, text = send_one(cl.ports["A"], mid)
            check(code == 250, "message %d: %r" % (i, text))
            qids[mid] = queue_id_of(text)
        wait_until(lambda: _count(cl, "SELECT count(*) FROM postern.recipients WHERE lease_owner = 'A' "
                                      "AND state = 'queued'") >= 4, 10, 0.05, "node A holding 4 leases")
        cl.start("B")
        t0 = time.monotonic()
        cl.nodes["A"].stop(timeout=10)
        t_stop = time.monotonic() - t0
        check(t_stop < 5.0, "SIGTERM took %.1f s (A should stop after its current message)" % t_stop)
        check(_count(cl, "SELECT count(*) FROM postern.recipients WHERE lease_owner = 'A'") == 0,
              "A kept leases after a clean stop")
        st = cl.sql("SELECT status, leased FROM postern.nodes_status WHERE name = 'A'")
        check(st == [["stopped", "0"]], "nodes_status of A after a clean stop: %r" % st)
        wait_until(lambda: set(qids) <= set(peer.ids()), 15, 0.1,
                   "B delivering A's released mail well before the 60 s lease")
        got = peer.ids()
        dups = sorted({m for m in got if got.count(m) > 1})
        check(not dups, "duplicates after a clean stop: %r" % dups)
        check(time.monotonic() - t0 < 20, "took %.1f s" % (time.monotonic() - t0))


def test_cluster_batch_longer_than_lease_delivers_exactly_once(env):
    # Normal operation, no crash: one delivery thread claims a batch whose
    # delivery takes longer than lease_seconds (slow peer); a second node
    # must not take over the tail of that batch while it is being worked.
    peer = Peer(delay=0.8)
    pg = pg_shared()
    with Cluster(pg, fresh_db(pg), "AB", peer,
                 settings="delivery_threads = 1, delivery_batch = 20") as cl:
        cl.start("A")
        qids = {}
        for i in range(16):
            mid = msgid("batch", i)
            code, text = send_one(cl.ports["A"], mid)
            check(code == 250, "message %d: %r" % (i, text))
            qids[mid] = queue_id_of(text)
        cl.start("B")
        wait_until(lambda: set(qids) <= set(peer.ids()), 40, 0.1, "the peer receiving all 16 messages")
        wait_until(lambda: _count(cl, "SELECT count(*) FROM postern.recipients WHERE state <> 'delivered'") == 0,
                   15, 0.1, "every recipient recorded as delivered")
        time.sleep(1.0)  # a late duplicate would arrive now
        got = peer.ids()
        dups = sorted({m for m in got if got.count(m) > 1})
        check(not dups, "delivered more than once without any failure: %r" % dups)


def test_cluster_rule_change_by_sql_reaches_every_node_within_2s(env):
    pg = pg_shared()
    with Cluster(pg, fresh_db(pg), "ABC", Peer()) as cl:
        cl.start()

        def rcpt_reply(node):
            try:
                with Client(cl.ports[node], timeout=5) as c:
                    c.expect("EHLO client.test", 250)
                    c.expect("MAIL FROM:<s@client.test>", 250)
                    return c.cmd("RCPT TO:<someone@peer.test>")
            except (OSError, EOFError) as e:
                return 0, str(e)

        for n in "ABC":
            code, text = rcpt_reply(n)
            check(code == 250, "node %s before the change: %r" % (n, text))
        cl.sql("SELECT postern.rule_add('cluster_block_peer');"
               "SELECT postern.rule_add_condition('cluster_block_peer', 'rcpt_domain', 'is', 'peer.test');"
               "SELECT postern.rule_add_reply('cluster_block_peer', 'reject', 550, '5.7.1', "
               "'blocked cluster-wide')")
        t0 = time.monotonic()
        for n in "ABC":
            wait_until(lambda: rcpt_reply(n)[0] == 550, max(0.05, 2.0 - (time.monotonic() - t0)), 0.05,
                       "node %s rejecting peer.test within 2 s of the change" % n)
        for n in "ABC":
            code, text = rcpt_reply(n)
            check(code == 550 and "5.7.1 blocked cluster-wide" in text, "node %s: %r" % (n, text))
        # And back.
        cl.sql("SELECT postern.rule_delete('cluster_block_peer')")
        t0 = time.monotonic()
        for n in "ABC":
            wait_until(lambda: rcpt_reply(n)[0] == 250, max(0.05, 2.0 - (time.monotonic() - t0)), 0.05,
                       "node %s accepting peer.test again within 2 s" % n)


def test_cluster_second_process_with_same_node_name_refused(env):
    pg = pg_shared()
    with Cluster(pg, fresh_db(pg), "A") as cl:
        cl.start()
        first = cl.nodes["A"]
        twin = cluster.Node("A", pg.conninfo(cl.db), cl.tmp + "/twin")
        p = twin.spawn()
        try:
            rc = p.wait(timeout=15)
        except Exception:
            p.kill()
            p.wait(timeout=10)
            raise
        log = twin.log()
        check(rc == 75, "second process with node name A exited with %r, expected 75; log %r" % (rc, log[-500:]))
        check('node name "A" is already in use by a running posternd' in log and
              "pid %d" % first.proc.pid in log,
              "no clear message naming the running process: %r" % log[-600:])
        check(first.alive(), "the first node A died")
        check(cl.value("SELECT pid FROM postern.nodes WHERE name = 'A'") == str(first.proc.pid),
              "postern.nodes row of A no longer shows the first process")
        with Client(cl.ports["A"]) as c:
            c.expect("EHLO client.test", 250)
            c.expect("QUIT", 221)


def test_cluster_db_outage_451_never_250_unstored_and_resume(env):
    peer = Peer()
    pg = cluster.new_pg("outage")
    try:
        with Cluster(pg, "postern", "A", peer) as cl:
            cl.start()
            port = cl.ports["A"]
            results = []
            listener_down = []
            stop = threading.Event()

            # Sends until 7 s after PostgreSQL is back (however long its
            # restart takes on a loaded machine), at most 60 s.
            deadline = [time.monotonic() + 60.0]

            def sender():
                t0 = time.monotonic()
                i = 0
                while time.monotonic() < deadline[0]:
                    mid = msgid("outage", i)
                    ts = time.monotonic() - t0
                    code, text = send_one(port, mid, timeout=8)
                    results.append((mid, code, text, t0 + ts, time.monotonic()))
                    i += 1
                    time.sleep(max(0.0, 0.1 - (time.monotonic() - t0 - ts)))

            def watcher():
                while not stop.is_set():
                    if not cluster.port_open(port):
                        listener_down.append(time.monotonic())
                    time.sleep(0.2)

            ts = threading.Thread(target=sender)
            tw = threading.Thread(target=watcher)
            ts.start()
            tw.start()
            try:
                time.sleep(3.0)
                t_stopping = time.monotonic()
                pg.stop("fast")
                t_down = time.monotonic()
                time.sleep(3.0)
                pg.start()
                t_up = time.monotonic()
                deadline[0] = t_up + 7.0
            finally:
                deadline[0] = min(deadline[0], time.monotonic() + 60.0)
                ts.join(timeout=60)
                stop.set()
                tw.join(timeout=5)
            check(not ts.is_alive(), "sender thread did not finish")
            check(not listener_down, "the listener was unreachable %d time(s) during the outage"
                  % len(listener_down))
            check(cl.nodes["A"].alive(), "posternd died during the outage")
            ok = [r for r in results if r[1] == 250]
            bad = [r for r in results if r[1] != 250]
            check(len(results) >= 60, "only %d messages attempted" % len(results))
            check(bad, "no message failed although PostgreSQL was down for 3 s")
            for mid, code, text, _, _ in bad:
                check(code == 0 or 400 <= code < 500, "%s: not a temporary failure: %r" % (mid, text))
                check(code != 451 or text.startswith("451 4.3.0"), "%s: %r" % (mid, text))
            check(any(r[1] == 451 and r[2].startswith("451 4.3.0") for r in bad),
                  "no 451 4.3.0 during the outage: %r" % [r[1:3] for r in bad][:5])
            # Resumed by itself: every message started 5 s after PostgreSQL was back got 250.
            late = [r for r in results if r[3] >= t_up + 5.0]
            check(late and all(r[1] == 250 for r in late),
                  "5 s after the restart: %r" % [(round(r[3] - t_up, 1), r[1], r[2][:60])
                                                 for r in late if r[1] != 250][:5])
            # A message whose session ended before PostgreSQL went down
            # had no reason to fail (one still in DATA at the stop rightly
            # gets 451: on a loaded machine a session takes a while).
            check(all(r[1] == 250 for r in results if r[4] < t_stopping),
                  "failures before the outage: %r" % [r[1:3] for r in results if r[4] < t_stopping
                                                      and r[1] != 250][:5])
            # Every 250 is stored and delivered.
            qids = {r[0]: queue_id_of(r[2]) for r in ok}
            stored = {row[0] for row in cl.sql("SELECT queue_id FROM postern.messages")}
            missing = [q for q in qids.values() if q not in stored]
            check(not missing, "250 without a stored message: %r" % missing)
            wait_until(lambda: set(qids) <= set(peer.ids()), 40, 0.2,
                       "the peer receiving all %d acknowledged messages" % len(qids))
            check(cl.nodes["A"].alive(), "posternd died")
            import sys
            first_ok = min([r[3] - t_up for r in ok if r[3] >= t_up] or [-1.0])
            sys.stderr.write("outage: %d messages, %d x 250, %d x 451 4.3.0, %d other 4xx, %d connection "
                             "failures; first 250 begun %.1f s after PostgreSQL was back\n"
                             % (len(results), len(ok), sum(1 for r in bad if r[1] == 451),
                                sum(1 for r in bad if r[1] not in (0, 451)), sum(1 for r in bad if r[1] == 0),
                                first_ok))
            log = cl.nodes["A"].log()
            check("config: reloaded" in log, "config thread did not reconnect and reload")
    finally:
        pg.destroy()


def test_cluster_failover_to_promoted_standby_keeps_acknowledged_mail(env):
    peer = Peer(delay=0.3)
    primary = cluster.new_pg("primary")
    standby = None
    try:
        standby = cluster.Pg("standby", root=primary.root).basebackup_from(primary).start()
        # Synchronous replication, set on the primary only (the standby's
        # copy must not wait for a standby of its own once promoted).
        primary.psql("ALTER SYSTEM SET synchronous_standby_names = '*'", "postgres", "postgres")
        primary.psql("SELECT pg_reload_conf()", "postgres", "postgres")
        wait_until(lambda: primary.psql("SELECT sync_state FROM pg_stat_replication", "postgres",
                                        "postgres") == [["sync"]], 15, 0.1, "a synchronous standby")
        conninfo = ("host=127.0.0.1,127.0.0.1 port=%d,%d dbname=postern user=postern "
                    "target_session_attrs=read-write connect_timeout=3" % (primary.port, standby.port))
        with Cluster(primary, "postern", "AB", peer, conninfo=conninfo) as cl:
            cl.start()
            before = {}
            for i in range(20):
                mid = msgid("before", i)
                code, text = send_one(cl.ports["AB"[i % 2]], mid)
                check(code == 250, "before the failover, message %d: %r" % (i, text))
                before[mid] = queue_id_of(text)
            queued = _count(cl, "SELECT count(*) FROM postern.recipients WHERE state <> 'delivered'")
            primary.stop("immediate")
            t_fail = time.monotonic()
            standby.promote()
            t_promoted = time.monotonic()
            cl.pg = standby  # SQL from here on goes to the new primary
            # Everything acknowledged before the failover is on the new primary.
            rows = standby.psql("SELECT queue_id FROM postern.messages")
            have = {r[0] for r in rows}
            missing = [m for m, q in before.items() if q not in have]
            check(not missing, "acknowledged before the failover but missing on the new primary: %r" % missing)
            # Keep sending: after a short gap both nodes accept again.
            after, gap = {}, []
            i = 0
            end = time.monotonic() + 30
            while time.monotonic() < end and len(after) < 10:
                node = "AB"[i % 2]
                mid = msgid("after", i)
                code, text = send_one(cl.ports[node], mid, timeout=10)
                if code == 250:
                    after[mid] = (node, queue_id_of(text))
                else:
                    check(code == 0 or (400 <= code < 500), "during the failover: %r" % text)
                    gap.append((round(time.monotonic() - t_fail, 1), code, text[:60]))
                    time.sleep(0.2)
                i += 1
            check(len(after) >= 10, "nodes did not accept again within 30 s of the failover: %r" % gap[-5:])
            check({n for n, _ in after.values()} == {"A", "B"}, "not both nodes accept: %r" % after)
            wait_until(lambda: (set(before) | set(after)) <= set(peer.ids()), 40, 0.2,
                       "the peer receiving every message (before and after the failover)")
            check(cl.value("SELECT pg_is_in_recovery()") == "f", "the new primary is still in recovery")
            n = _count(cl, "SELECT count(*) FROM postern.nodes_status WHERE status = 'up'")
            check(n == 2, "nodes_status on the new primary: %r" % cl.sql("SELECT name, status FROM "
                                                                        "postern.nodes_status"))
            import sys
            sys.stderr.write("failover: %d of 20 undelivered at the failover, gap %.1f s "
                             "(promotion took %.1f s), %d temporary failures\n"
                             % (queued, (gap[-1][0] if gap else 0.0), t_promoted - t_fail, len(gap)))
    finally:
        if standby is not None:
            standby.stop("immediate")
        primary.destroy()


def test_cluster_auth_throttling_shared_across_nodes(env):
    pg = pg_shared()
    with Cluster(pg, fresh_db(pg), "ABC", settings="auth_throttle_max = 4") as cl:
        cl.sql("SELECT postern.add_account('user@cluster.test', 'right-password-1')")
        cl.start()

        def session(node):
            c = Client(cl.ports[node], timeout=15)
            c.expect("EHLO client.test", 250)
            c.starttls()
            c.expect("EHLO client.test", 250)
            return c

        for node in "AB":
            with session(node) as c:
                for _ in range(2):
                    code, text = c.cmd("AUTH PLAIN " + plain_token("user@cluster.test", "wrong"))
                    check(code == 535, "node %s, wrong password: %r" % (node, text))
        rows = cl.sql("SELECT failures, last_node FROM postern.auth_failures WHERE client_addr = '127.0.0.1'")
        check(rows == [["4", "B"]], "auth_failures %r" % rows)
        with session("C") as c:
            code, text = c.cmd("AUTH PLAIN " + plain_token("user@cluster.test", "right-password-1"))
            check(code == 454 and text.startswith("454 4.7.0"),
                  "node C after 4 failures on A and B (right password): %r" % text)
        check(cl.value("SELECT postern.auth_forgive('127.0.0.1')") == "t", "auth_forgive found nothing")
        with session("C") as c:
            c.expect("AUTH PLAIN " + plain_token("user@cluster.test", "right-password-1"), 235)
