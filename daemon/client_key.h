/*
 * client_key.h - the key an abuse counter is kept under for a client
 * address (the AUTH failure throttle, postern.auth_failures).
 *
 * An IPv4 client is counted per address.  An IPv6 client is counted per
 * /64: one host usually holds a whole /64 and can pick any address in it,
 * so counting per address would give it 2^64 fresh counters.  An
 * IPv4-mapped IPv6 address (::ffff:192.0.2.1) counts as its IPv4 address.
 *
 * Pure (no I/O, no allocation), unit-tested in tests/unit/test_client_key.c.
 */
#ifndef POSTERN_CLIENT_KEY_H
#define POSTERN_CLIENT_KEY_H

#include <stddef.h>

/* Longest key with its NUL ("ffff:ffff:ffff:ffff::/64"). */
#define CLIENT_KEY_MAX 64

/* Writes the key of addr ("192.0.2.1" -> "192.0.2.1", "2001:db8:1:2::5" ->
 * "2001:db8:1:2::/64") into out (size n, at least CLIENT_KEY_MAX).
 * Returns 0, or -1 when addr is not an IP address (out then holds addr,
 * truncated). */
int client_key(const char *addr, char *out, size_t n);

#endif
