/*
 * test_log.c - log_escape(): what client text becomes in a log line.
 *
 * Promises tested: printable ASCII passes, quotes and backslashes are
 * escaped, control and 8-bit bytes become \xNN, < and > become \x3c and
 * \x3e so an address written as to=<...> cannot be closed early by a
 * quoted local part, and the output is truncated with "..." within its
 * size.
 * Failure: a test fails via cmocka asserts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/log.h"

static void
test_escape_plain_and_quotes(void **state)
{
	char out[128];

	(void)state;
	assert_string_equal(log_escape(out, sizeof(out), "alice@example.org",
	    17), "alice@example.org");
	assert_string_equal(log_escape(out, sizeof(out), "a\"b\\c", 5),
	    "a\\\"b\\\\c");
	assert_string_equal(log_escape(out, sizeof(out), "a\r\nb\xff", 5),
	    "a\\x0d\\x0ab\\xff");
}

static void
test_escape_angle_brackets(void **state)
{
	static const char forged[] = "\"x> status=sent <\"@evil.example";
	char out[128];

	(void)state;
	log_escape(out, sizeof(out), forged, strlen(forged));
	assert_null(strchr(out, '>'));
	assert_null(strchr(out, '<'));
	assert_string_equal(out, "\\\"x\\x3e status=sent \\x3c\\\"@evil.example");
}

static void
test_escape_truncates(void **state)
{
	char big[300], out[32];

	(void)state;
	memset(big, 'a', sizeof(big));
	log_escape(out, sizeof(out), big, sizeof(big));
	assert_true(strlen(out) < sizeof(out));
	assert_memory_equal(out + strlen(out) - 3, "...", 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_plain_and_quotes),
		cmocka_unit_test(test_escape_angle_brackets),
		cmocka_unit_test(test_escape_truncates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
