/*
 * test_greet.c - the greeting pause's in-memory passes (daemon/greet.c):
 * expiry, the queue of passes to write, and the bound (a full probe
 * window drops the entry that expires first, never more memory).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "daemon/greet.h"

static void
test_pass_expires_and_is_queued(void **state)
{
	char out[4][GREET_ADDR_MAX];

	(void)state;
	greet_reset();
	assert_false(greet_known("192.0.2.1", 1000));
	greet_pass("192.0.2.1", 1000, 5000);
	assert_true(greet_known("192.0.2.1", 5999));
	assert_false(greet_known("192.0.2.1", 6000));
	assert_false(greet_known("192.0.2.2", 2000));
	assert_int_equal(greet_take_pending(out, 4), 1);
	assert_string_equal(out[0], "192.0.2.1");
	assert_int_equal(greet_take_pending(out, 4), 0);
	/* Learnt from the database: not queued again. */
	greet_learn("2001:db8::1", INT64_MAX);
	assert_true(greet_known("2001:db8::1", 1 << 30));
	assert_int_equal(greet_take_pending(out, 4), 0);
}

static void
test_bounded(void **state)
{
	char addr[GREET_ADDR_MAX], out[64][GREET_ADDR_MAX];
	size_t n = 0, got;
	int i;

	(void)state;
	greet_reset();
	for (i = 0; i < 3 * GREET_SLOTS; i++) {
		snprintf(addr, sizeof(addr), "10.%d.%d.%d", (i >> 16) & 255,
		    (i >> 8) & 255, i & 255);
		greet_pass(addr, 0, 1000 + i);
	}
	/* The newest pass is always kept. */
	assert_true(greet_known(addr, 500));
	while ((got = greet_take_pending(out, 64)) > 0)
		n += got;
	assert_int_equal(n, GREET_PENDING);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pass_expires_and_is_queued),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
