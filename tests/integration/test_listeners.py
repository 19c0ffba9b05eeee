"""Listeners follow SQL changes live, without a restart."""
import socket

from harness import HOST, PORT_EXTRA, Client, check, port_open, sql, wait_until


def test_listener_added_and_disabled_by_sql(env):
    pid = env.daemon.proc.pid
    check(not port_open(PORT_EXTRA), "port %d is already open before the test" % PORT_EXTRA)
    try:
        sql("INSERT INTO postern.listeners (name, address, port, tls_mode) "
            "VALUES ('extra', '127.0.0.1', %d, 'none')" % PORT_EXTRA)
        wait_until(lambda: port_open(PORT_EXTRA), 5, what="listener 'extra' to open")
        with Client(PORT_EXTRA) as c:
            check(c.greeting[0] == 220, "greeting on the new listener %r" % (c.greeting,))
            caps = c.expect("EHLO client.test", 250)
            check("STARTTLS" not in caps, "tls_mode none offers STARTTLS: %r" % caps)
            code, text = c.cmd("STARTTLS")
            check(code == 502, "STARTTLS on tls_mode none: %r" % text)
            c.expect("QUIT", 221)
        sql("UPDATE postern.listeners SET enabled = false WHERE name = 'extra'")
        wait_until(lambda: not port_open(PORT_EXTRA), 5, what="listener 'extra' to close")
        try:
            socket.create_connection((HOST, PORT_EXTRA), timeout=2).close()
            check(False, "connection accepted on a disabled listener")
        except ConnectionRefusedError:
            pass
        sql("UPDATE postern.listeners SET enabled = true WHERE name = 'extra'")
        wait_until(lambda: port_open(PORT_EXTRA), 5, what="listener 'extra' to reopen")
    finally:
        sql("DELETE FROM postern.listeners WHERE name = 'extra'")
    wait_until(lambda: not port_open(PORT_EXTRA), 5, what="deleted listener to close")
    check(env.daemon.alive() and env.daemon.proc.pid == pid, "the daemon was restarted")
    env.healthy_session()


def test_listener_disabled_keeps_open_sessions(env):
    try:
        sql("INSERT INTO postern.listeners (name, address, port, tls_mode) "
            "VALUES ('extra', '127.0.0.1', %d, 'none')" % PORT_EXTRA)
        wait_until(lambda: port_open(PORT_EXTRA), 5, what="listener 'extra' to open")
        with Client(PORT_EXTRA) as c:
            c.expect("EHLO client.test", 250)
            sql("UPDATE postern.listeners SET enabled = false WHERE name = 'extra'")
            wait_until(lambda: not port_open(PORT_EXTRA), 5, what="listener 'extra' to close")
            # The established session goes on (it keeps its snapshot).
            c.expect("NOOP", 250)
            c.expect("QUIT", 221)
    finally:
        sql("DELETE FROM postern.listeners WHERE name = 'extra'")
    wait_until(lambda: not port_open(PORT_EXTRA), 5, what="deleted listener to close")
