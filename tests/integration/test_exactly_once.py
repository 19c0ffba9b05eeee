"""Delivery exactly once in normal operation, unique queue ids (issue 12).

Like test_cluster.py, these build their own PostgreSQL database and
posternd nodes (cluster.py) and never touch the suite's shared daemon.
Every test name contains "exactly_once", so
    python3 tests/integration/run.py -k exactly_once
runs exactly these.  Every wait is bounded.

  * a slow peer (3 s per message), four delivery threads, batches that take
    longer than lease_seconds: each message reaches the peer exactly once;
  * lease_seconds not 5 s above every smtp_*_timeout is refused by the
    database with a constraint that names the rule;
  * two nodes whose names hashed alike under the old 7-bit name hash
    ("A" and "BC") accept mail at the same time: no failed batch, all
    queue ids distinct, different node numbers;
  * a cached outbound session lost after the final "." (the peer closes
    without a reply): the recipient is deferred, not sent again at once.
"""
import threading
import time

import cluster
from cluster import Cluster, Peer, msgid, pg_shared, fresh_db, send_one
from harness import check, queue_id_of, wait_until


def _old_hash(name):
    h = 0
    for ch in name:
        h = (h * 31 + ord(ch)) & 0xFFFFFFFF
    return h & 0x7F


def _dups(peer):
    got = peer.ids()
    return sorted({m for m in got if got.count(m) > 1})


def test_exactly_once_slow_peer_several_threads(env):
    # 16 messages queued while delivery is paused, then four threads claim
    # batches of up to 5: three threads hold 5 messages each (15 s of work
    # at 3 s a message, longer than the 10 s lease), the fourth is soon
    # idle and polls for expired leases.  Leases are renewed while the
    # batches are worked, and a lease taken over by another thread of the
    # same node is never written by the first, so nothing goes twice.
    peer = Peer(delay=3.0)
    pg = pg_shared()
    with Cluster(pg, fresh_db(pg), "A", peer,
                 settings="delivery_threads = 4, delivery_batch = 5, lease_seconds = 10, "
                          "delivery_paused = true") as cl:
        cl.start()
        mids = []
        for i in range(16):
            mid = msgid("once", i)
            code, text = send_one(cl.ports["A"], mid)
            check(code == 250, "message %d: %r" % (i, (code, text)))
            mids.append(mid)
        cl.sql("SELECT postern.delivery_pause(false)")
        wait_until(lambda: set(mids) <= set(peer.ids()), 60, 0.1, "the peer receiving all 16 messages")
        wait_until(lambda: int(cl.value("SELECT count(*) FROM postern.recipients "
                                        "WHERE state <> 'delivered'")) == 0,
                   20, 0.1, "every recipient recorded as delivered")
        time.sleep(4.0)  # a late duplicate (3 s per message) would arrive now
        check(not _dups(peer), "delivered more than once: %r" % _dups(peer))
        check(len(peer.ids()) == 16, "the peer received %d messages, not 16" % len(peer.ids()))
        left = cl.value("SELECT count(*) FROM postern.recipients WHERE lease_token IS NOT NULL")
        check(left == "0", "leases left after delivery: %s" % left)


def test_exactly_once_lease_below_smtp_timeouts_refused(env):
    pg = pg_shared()
    db = fresh_db(pg)
    ok, _, err = pg.psql_try("UPDATE postern.settings SET smtp_connect_timeout = 30, "
                             "smtp_command_timeout = 300, smtp_data_timeout = 600, lease_seconds = 300",
                             db=db)
    check(not ok, "lease_seconds 300 with smtp_data_timeout 600 was accepted")
    check("settings.lease_seconds must be 5 s above every smtp_*_timeout" in err,
          "error does not name the rule: %r" % err)
    ok, _, err = pg.psql_try("UPDATE postern.settings SET smtp_data_timeout = 900", db=db)
    check(not ok and "lease_seconds must be 5 s above" in err,
          "raising smtp_data_timeout to the lease was accepted: %r" % err)
    ok, _, err = pg.psql_try("UPDATE postern.settings SET lease_seconds = 605", db=db)
    check(ok, "lease_seconds 605 with the default timeouts refused: %r" % err)
    check(pg.value("SELECT column_default FROM information_schema.columns WHERE table_schema = 'postern' "
                   "AND table_name = 'settings' AND column_name = 'lease_seconds'", db=db) == "900",
          "lease_seconds default is not 900")


def test_exactly_once_nodes_hashing_alike_get_distinct_ids(env):
    names = ["A", "BC"]
    check(_old_hash(names[0]) == _old_hash(names[1]), "test names must collide under the old hash")
    peer = Peer()
    pg = pg_shared()
    with Cluster(pg, fresh_db(pg), names, peer,
                 settings="delivery_paused = true, max_connections_per_ip = 200") as cl:
        cl.start()
        results = {n: [] for n in names}

        def sender(node):
            lock = threading.Lock()

            def one(i):
                r = send_one(cl.ports[node], msgid("hash" + node, i))
                with lock:
                    results[node].append(r)

            ts = [threading.Thread(target=one, args=(i,)) for i in range(40)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(60)

        ths = [threading.Thread(target=sender, args=(n,)) for n in names]
        for t in ths:
            t.start()
        for t in ths:
            t.join(90)
        qids = []
        for n in names:
            bad = [r for r in results[n] if r[0] != 250]
            check(not bad, "node %s refused or failed: %r" % (n, bad[:5]))
            check(len(results[n]) == 40, "node %s: %d answers" % (n, len(results[n])))
            qids += [queue_id_of(r[1]) for r in results[n]]
        check(len(set(qids)) == 80, "queue ids not distinct: %d of 80" % len(set(qids)))
        stored = cl.value("SELECT count(*) FROM postern.messages")
        check(stored == "80", "messages stored: %s" % stored)
        nos = cl.sql("SELECT name, node_no FROM postern.nodes ORDER BY name")
        check(len(nos) == 2 and nos[0][1] != nos[1][1] and all(r[1] != "" for r in nos),
              "node numbers: %r" % nos)
        for n in names:
            check("duplicate key" not in cl.nodes[n].log(), "node %s logged a duplicate key" % n)


class DotDropPeer(Peer):
    """Answers the first message of each connection with 250; on the
    second message of a connection it reads the data and the final "."
    (and records the message), then closes without a reply."""

    def _serve(self, c):
        f = None
        n = 0
        try:
            c.settimeout(60)
            f = c.makefile("rb")
            c.sendall(b"220 peer.test ESMTP dot-drop\r\n")
            while True:
                line = f.readline(4096)
                if not line:
                    return
                cmd = line.strip().upper()
                if cmd.startswith(b"EHLO"):
                    c.sendall(b"250-peer.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
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
                    m = cluster.MSGID_RX.search(b"".join(data))
                    with self.lock:
                        self.received.append(m.group(1).decode() if m else "<none>")
                        self.times.append((self.received[-1], time.monotonic()))
                    n += 1
                    if n >= 2:
                        return  # no reply after the dot
                    c.sendall(b"250 2.0.0 Ok: recorded\r\n")
                elif cmd == b"QUIT":
                    c.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    c.sendall(b"502 5.5.2 not implemented\r\n")
        except OSError:
            pass
        finally:
            try:
                if f is not None:
                    f.close()
                c.close()
            except OSError:
                pass


def test_exactly_once_cached_session_lost_after_dot_defers(env):
    peer = DotDropPeer()
    pg = pg_shared()
    with Cluster(pg, fresh_db(pg), "A", peer,
                 settings="delivery_threads = 1, retry_initial = 60, retry_max = 120") as cl:
        cl.start()
        first, second = msgid("dot", 1), msgid("dot", 2)
        code, text = send_one(cl.ports["A"], first)
        check(code == 250, "first message: %r" % ((code, text),))
        wait_until(lambda: cl.value("SELECT count(*) FROM postern.recipients WHERE state = 'delivered'") == "1",
                   10, 0.02, "the first message delivered")
        # Within the 2 s the session stays cached: the second message goes
        # over the same connection, and the peer drops it after the ".".
        code, text = send_one(cl.ports["A"], second)
        check(code == 250, "second message: %r" % ((code, text),))
        qid = queue_id_of(text)
        wait_until(lambda: second in peer.ids(), 10, 0.02, "the peer receiving the second message")
        wait_until(lambda: cl.value("SELECT state FROM postern.queue_recipients WHERE queue_id = '%s'" % qid)
                   in ("deferred", "delivered"), 10, 0.05, "an outcome for the second message")
        time.sleep(2.0)  # an immediate resend would have arrived by now
        row = cl.sql("SELECT state, attempts, last_reply FROM postern.queue_recipients "
                     "WHERE queue_id = '%s'" % qid)
        check(row and row[0][0] == "deferred" and row[0][1] == "1",
              "second message after a session lost after the dot: %r" % row)
        check("4.4.2" in row[0][2] and "lost connection" in row[0][2], "last_reply: %r" % row[0][2])
        check(peer.ids().count(second) == 1,
              "the second message was sent %d times (resent at once)" % peer.ids().count(second))
