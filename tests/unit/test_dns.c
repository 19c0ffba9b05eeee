/*
 * test_dns.c - unit tests for daemon/dns.c, the c-ares look-ups.
 *
 * Pure tests only: no DNS server is started here (answers from a real
 * unbound are checked with tests/integration/dnsfix.py).  What is asserted:
 * dns_new() refuses malformed server lists (bad address, host name, port
 * 0 or > 65535, empty entry, [v6] without port) with a message naming
 * settings.dns_servers, and accepts good ones (blanks around entries
 * allowed); dns_status_name() names every status distinctly; an empty
 * name is DNS_NXDOMAIN without a query; a look-up against a closed
 * loopback port (127.0.0.1:9, real c-ares and a real ICMP error) is
 * DNS_TEMPFAIL well within its timeout; a look-up against a UDP socket
 * that never answers is DNS_TEMPFAIL at its deadline, not before and not
 * much after.
 *
 * Failure: a test fails via cmocka asserts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "daemon/dns.h"
#include "daemon/util.h"

/* Slack for scheduling on a loaded test machine. */
#define SLACK_MS 500

static void
test_bad_servers(void **state)
{
	static const char *bad[] = {
		"nonsense", "localhost:53", "300.1.1.1", "127.0.0.1:0",
		"127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:5x",
		"127.0.0.1:53,", ",", " ", "[::1]", "[::1]:0", "[::1]:",
	};
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dns *d;

		err[0] = '\0';
		d = dns_new(bad[i], err, sizeof(err));
		if (d != NULL) {
			dns_free(d);
			fail_msg("server list \"%s\" accepted", bad[i]);
		}
		if (strstr(err, "settings.dns_servers") == NULL)
			fail_msg("\"%s\": message \"%s\" does not name "
			    "settings.dns_servers", bad[i], err);
	}
}

static void
test_good_servers(void **state)
{
	static const char *good[] = {
		NULL, "", "127.0.0.1", "127.0.0.1:5353", "[::1]:53",
		"::1", "127.0.0.1:4853,[::1]:4853", " 127.0.0.1:53 , ::1 ",
	};
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct dns *d = dns_new(good[i], err, sizeof(err));

		if (d == NULL)
			fail_msg("server list \"%s\" refused: %s",
			    good[i] != NULL ? good[i] : "(null)", err);
		dns_free(d);
	}
	dns_free(NULL);
}

static void
test_status_names(void **state)
{
	static const enum dns_status all[] = {
		DNS_OK, DNS_NXDOMAIN, DNS_NODATA, DNS_NULLMX, DNS_TEMPFAIL,
	};
	size_t i, j, n = sizeof(all) / sizeof(all[0]);

	(void)state;
	assert_string_equal(dns_status_name(DNS_OK), "ok");
	assert_string_equal(dns_status_name(DNS_TEMPFAIL), "tempfail");
	for (i = 0; i < n; i++) {
		assert_non_null(dns_status_name(all[i]));
		assert_string_not_equal(dns_status_name(all[i]), "unknown");
		for (j = i + 1; j < n; j++)
			assert_string_not_equal(dns_status_name(all[i]),
			    dns_status_name(all[j]));
	}
	assert_string_equal(dns_status_name((enum dns_status)99), "unknown");
}

static void
test_empty_name(void **state)
{
	struct dns_mx mx[DNS_MAX_MX];
	char addrs[DNS_MAX_ADDRS][64];
	char err[256];
	struct dns *d;
	size_t n = 99;

	(void)state;
	d = dns_new("127.0.0.1:9", err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(dns_mx(d, "", mx, DNS_MAX_MX, &n, 1000),
	    DNS_NXDOMAIN);
	assert_int_equal(n, 0);
	n = 99;
	assert_int_equal(dns_addrs(d, "", addrs, DNS_MAX_ADDRS, &n, 1000),
	    DNS_NXDOMAIN);
	assert_int_equal(n, 0);
	dns_free(d);
}

/* Nothing listens on 127.0.0.1:9: the ICMP error ends every try. */
static void
test_closed_port(void **state)
{
	struct dns_mx mx[DNS_MAX_MX];
	char addrs[DNS_MAX_ADDRS][64];
	char err[256];
	struct dns *d;
	int64_t t0, el;
	size_t n = 99;
	int i;

	(void)state;
	d = dns_new("127.0.0.1:9", err, sizeof(err));
	assert_non_null(d);
	for (i = 0; i < 3; i++) {
		t0 = now_ms();
		assert_int_equal(dns_mx(d, "example.test", mx, DNS_MAX_MX, &n,
		    1500), DNS_TEMPFAIL);
		el = now_ms() - t0;
		assert_int_equal(n, 0);
		if (el > 1500 + SLACK_MS)
			fail_msg("dns_mx took %lld ms", (long long)el);
		t0 = now_ms();
		n = 99;
		assert_int_equal(dns_addrs(d, "example.test", addrs,
		    DNS_MAX_ADDRS, &n, 1500), DNS_TEMPFAIL);
		el = now_ms() - t0;
		assert_int_equal(n, 0);
		if (el > 1500 + SLACK_MS)
			fail_msg("dns_addrs took %lld ms", (long long)el);
	}
	dns_free(d);
}

/* A bound UDP socket that reads nothing: only the deadline ends it. */
static void
test_silent_server(void **state)
{
	struct dns_mx mx[DNS_MAX_MX];
	char addrs[DNS_MAX_ADDRS][64];
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	char err[256], srv[64];
	struct dns *d;
	int64_t t0, el;
	size_t n;
	int fd;

	(void)state;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(srv, sizeof(srv), "127.0.0.1:%u", ntohs(sin.sin_port));
	d = dns_new(srv, err, sizeof(err));
	assert_non_null(d);

	t0 = now_ms();
	assert_int_equal(dns_mx(d, "example.test", mx, DNS_MAX_MX, &n, 400),
	    DNS_TEMPFAIL);
	el = now_ms() - t0;
	if (el < 390 || el > 400 + SLACK_MS)
		fail_msg("dns_mx with 400 ms timeout took %lld ms",
		    (long long)el);

	t0 = now_ms();
	assert_int_equal(dns_addrs(d, "example.test", addrs, DNS_MAX_ADDRS,
	    &n, 400), DNS_TEMPFAIL);
	el = now_ms() - t0;
	if (el < 390 || el > 400 + SLACK_MS)
		fail_msg("dns_addrs with 400 ms timeout took %lld ms",
		    (long long)el);
	dns_free(d);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_servers),
		cmocka_unit_test(test_good_servers),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_empty_name),
		cmocka_unit_test(test_closed_port),
		cmocka_unit_test(test_silent_server),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
