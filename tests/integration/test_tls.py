"""TLS: STARTTLS on the plain listeners, implicit TLS, protocol versions."""
import os
import re
import smtplib
import subprocess

from harness import (ALICE, HOST, PORT_SMTP, PORT_SMTPS, PORT_SUBMISSION, Client, check,
                     client_ctx)


def s_client(args, stdin=b"QUIT\r\n", timeout=20):
    # -ign_eof: keep reading after stdin ends, until the server closes.
    p = subprocess.run(["openssl", "s_client", "-ign_eof", "-connect", "%s:%d" % (HOST, args[0])]
                       + args[1:],
                       input=stdin, capture_output=True, timeout=timeout)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def negotiated(out):
    m = re.search(r"Protocol\s*(?:version)?\s*:\s*(TLSv1(?:\.\d)?)", out)
    if m is None:
        m = re.search(r"New, (TLSv1(?:\.\d)?), Cipher is (\S+)", out)
    return m.group(1) if m else None


def ehlo_caps(s):
    code, text = s.ehlo("client.test")
    check(code == 250, "EHLO answered %d" % code)
    return [l.decode().upper() for l in text.splitlines()]


def starttls_smtplib(port):
    with smtplib.SMTP(HOST, port, local_hostname="client.test", timeout=10) as s:
        caps = ehlo_caps(s)
        check("STARTTLS" in caps, "no STARTTLS before TLS on %d: %r" % (port, caps))
        check(not any(c.startswith("AUTH") for c in caps),
              "AUTH offered before TLS on %d: %r" % (port, caps))
        code, _ = s.starttls(context=client_ctx())
        check(code == 220, "STARTTLS answered %d" % code)
        ver = s.sock.version()
        check(ver in ("TLSv1.2", "TLSv1.3"), "negotiated %r" % ver)
        caps = ehlo_caps(s)
        check("STARTTLS" not in caps, "STARTTLS still offered after TLS: %r" % caps)
        check("AUTH PLAIN LOGIN" in caps, "AUTH PLAIN LOGIN not offered after TLS: %r" % caps)
        check(s.noop()[0] == 250, "NOOP after TLS")


def starttls_openssl(port):
    rc, out = s_client([port, "-starttls", "smtp", "-brief"])
    ver = negotiated(out)
    check(ver in ("TLSv1.2", "TLSv1.3"), "s_client -starttls smtp on %d: no TLS protocol in output:\n%s"
          % (port, out[-800:]))
    check("221" in out, "no 221 reply to QUIT through s_client on %d:\n%s" % (port, out[-800:]))


def test_starttls_smtp_3525(env):
    starttls_smtplib(PORT_SMTP)
    starttls_openssl(PORT_SMTP)


def test_starttls_submission_3587(env):
    starttls_smtplib(PORT_SUBMISSION)
    starttls_openssl(PORT_SUBMISSION)


def test_plaintext_discarded_after_starttls(env):
    # RFC 3207 4.2: plaintext pipelined after STARTTLS must not be executed
    # inside the TLS session (command injection, CVE-2011-0411 style).
    with Client(PORT_SMTP) as c:
        c.expect("EHLO client.test", 250)
        c.send("STARTTLS\r\nRSET\r\n")
        code, text = c.reply()
        check(code == 220, "STARTTLS: %r" % text)
        c.buf = b""
        c.sock = client_ctx().wrap_socket(c.sock, server_hostname="localhost")
        code, text = c.cmd("NOOP")
        check(code == 250 and "2.0.0 Ok" in text, "first reply inside TLS %r" % text)
        c.expect("EHLO client.test", 250)
        c.expect("QUIT", 221)


def test_implicit_tls_3465(env):
    with smtplib.SMTP_SSL(HOST, PORT_SMTPS, local_hostname="client.test", timeout=10,
                          context=client_ctx()) as s:
        # smtplib swallows the greeting; check it with a raw client below.
        caps = ehlo_caps(s)
        check("AUTH PLAIN LOGIN" in caps, "AUTH not offered on 465: %r" % caps)
        check("STARTTLS" not in caps, "STARTTLS offered on implicit TLS: %r" % caps)
    with Client(PORT_SMTPS, tls=True) as c:
        check(c.greeting[0] == 220 and "ESMTP" in c.greeting[1], "greeting %r" % (c.greeting,))
        check(c.sock.version() in ("TLSv1.2", "TLSv1.3"), "version %r" % c.sock.version())
        c.expect("QUIT", 221)


def test_tls11_refused_tls12_tls13_accepted(env):
    # SECLEVEL=0 so that OpenSSL itself is willing to speak TLS 1.1: any
    # refusal then comes from the server.
    off = env.daemon.log_size()
    rc, out = s_client([PORT_SMTPS, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], stdin=b"")
    check(rc != 0, "TLS 1.1 handshake succeeded (rc 0):\n%s" % out[-800:])
    check(not re.search(r"New, TLSv1\.1|Protocol version: TLSv1\.1|^220 ", out, re.M),
          "TLS 1.1 was negotiated:\n%s" % out[-800:])
    check(re.search(r"New, \(NONE\), Cipher is \(NONE\)", out) and
          re.search(r"alert|handshake failure|error", out, re.I),
          "no handshake failure shown for TLS 1.1:\n%s" % out[-800:])
    # The refusal is the server's: it saw the ClientHello and failed it.
    env.daemon.wait_log(r"listener=smtps reason=tls handshake failed", off)
    for flag, want in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        rc, out = s_client([PORT_SMTPS, flag, "-brief"])
        check(negotiated(out) == want, "%s: expected %s:\n%s" % (flag, want, out[-800:]))
        check("220" in out, "%s: no greeting:\n%s" % (flag, out[-800:]))


def test_broken_tls_handshake_closed(env):
    with Client(PORT_SMTPS, greet=False) as c:
        c.send(b"\x47\x00" + os.urandom(300) + b"\r\n\r\n")
        check(c.closed(10), "server kept a connection open after a garbage TLS handshake")
    with Client(PORT_SMTP) as c:
        c.expect("EHLO client.test", 250)
        c.send("STARTTLS\r\n")
        check(c.reply()[0] == 220, "STARTTLS")
        c.send(b"\x16\x03\x01\x00\x05" + os.urandom(5) + b"garbage" * 20)
        check(c.closed(10), "server kept a connection open after a broken STARTTLS handshake")
    with Client(PORT_SMTPS, tls=True) as c:
        check(c.greeting[0] == 220, "smtps greeting after broken handshakes %r" % (c.greeting,))
    env.healthy_session()
