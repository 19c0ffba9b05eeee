/*
 * test_client_key.c - unit tests for daemon/client_key.c: IPv4 per
 * address, IPv6 per /64 (whatever the interface id), IPv4-mapped as IPv4,
 * non-addresses refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/client_key.h"

static void
expect(const char *addr, const char *key)
{
	char out[CLIENT_KEY_MAX];

	assert_int_equal(client_key(addr, out, sizeof(out)), 0);
	assert_string_equal(out, key);
}

static void
test_client_key(void **state)
{
	char out[CLIENT_KEY_MAX];

	(void)state;
	expect("192.0.2.1", "192.0.2.1");
	expect("::1", "::/64");
	expect("2001:db8:1:2::5", "2001:db8:1:2::/64");
	expect("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64");
	expect("2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64");
	expect("2001:db8::3:0:0:1", "2001:db8::/64");
	expect("fe80::1", "fe80::/64");
	expect("::ffff:192.0.2.7", "192.0.2.7");
	assert_int_equal(client_key("not an address", out, sizeof(out)), -1);
	assert_int_equal(client_key("", out, sizeof(out)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
