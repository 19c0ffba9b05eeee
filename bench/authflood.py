#!/usr/bin/env python3
"""authflood.py - mail latency while AUTH is flooded with wrong passwords.

    bench/authflood.py [--host 127.0.0.1] [--auth-port 3465] [--mail-port 3525]
                       [--flooders 50] [--seconds 30] [--user alice@example.test]

FLOODERS connections to AUTH-PORT (implicit TLS) loop on AUTH PLAIN with a
wrong password (reconnecting after a 421 or 454).  Meanwhile one client on
MAIL-PORT measures MAIL FROM -> 250 (and a whole RSET/MAIL/RCPT round)
latency.  Prints attempts, replies seen and latency p50/p99/max.  Raise
settings.auth_throttle_max (and max_auth_failures) for the run, or the
cluster throttle answers 454 at once and no password is checked.
"""
import argparse
import base64
import socket
import ssl
import threading
import time


def reply(f):
    while True:
        line = f.readline()
        if not line:
            raise EOFError("closed")
        if line[3:4] != b"-":
            return int(line[:3])


def flooder(a, stop, counts, lock):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    tok = base64.b64encode(b"\0" + a.user.encode() + b"\0wrong-password").decode()
    while not stop.is_set():
        try:
            s = ctx.wrap_socket(socket.create_connection((a.host, a.auth_port), timeout=30))
            f = s.makefile("rb")
            reply(f)
            s.sendall(b"EHLO flood.test\r\n")
            reply(f)
            while not stop.is_set():
                s.sendall(("AUTH PLAIN %s\r\n" % tok).encode())
                code = reply(f)
                with lock:
                    counts[code] = counts.get(code, 0) + 1
                if code in (421, 454) or code >= 500 and code != 535:
                    break
            s.close()
        except (OSError, EOFError):
            time.sleep(0.1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--auth-port", type=int, default=3465)
    p.add_argument("--mail-port", type=int, default=3525)
    p.add_argument("--flooders", type=int, default=50)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--user", default="alice@example.test")
    a = p.parse_args()
    stop, lock, counts = threading.Event(), threading.Lock(), {}
    ts = [threading.Thread(target=flooder, args=(a, stop, counts, lock), daemon=True)
          for _ in range(a.flooders)]
    for t in ts:
        t.start()
    time.sleep(2)
    s = socket.create_connection((a.host, a.mail_port), timeout=30)
    f = s.makefile("rb")
    reply(f)
    s.sendall(b"EHLO measure.test\r\n")
    reply(f)
    lat = []
    end = time.monotonic() + a.seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        s.sendall(b"MAIL FROM:<measure@client.test>\r\n")
        code = reply(f)
        lat.append(time.monotonic() - t0)
        if code != 250:
            print("MAIL answered %d" % code)
        s.sendall(b"RSET\r\n")
        reply(f)
        time.sleep(0.01)
    stop.set()
    s.close()
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    print("flooders=%d seconds=%.0f AUTH replies=%s" % (a.flooders, a.seconds, dict(sorted(counts.items()))))
    print("MAIL->250 n=%d p50=%.2f ms p99=%.2f ms max=%.2f ms" % (len(lat), pct(0.5), pct(0.99), lat[-1] * 1000))


if __name__ == "__main__":
    main()
