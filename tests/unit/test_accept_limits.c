/*
 * test_accept_limits.c - unit tests for the accept policy
 * (daemon/accept_limits.c): the daemon, listener and per-address limits in
 * that order, a refusal changing no count, release freeing the address's
 * entry, and addresses kept apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/accept_limits.h"

static void
test_accept_limits_order_and_counts(void **state)
{
	struct accept_limits *al = accept_limits_new();
	struct accept_max max = { 3, 2, 1 };
	atomic_int l1, l2;

	(void)state;
	atomic_init(&l1, 0);
	atomic_init(&l2, 0);
	assert_int_equal(accept_limits_admit(al, &l1, "192.0.2.1", &max),
	    ACCEPT_OK);
	/* Same address again: the per-address limit. */
	assert_int_equal(accept_limits_admit(al, &l1, "192.0.2.1", &max),
	    ACCEPT_IP_FULL);
	assert_int_equal(accept_limits_total(al), 1);
	assert_int_equal(atomic_load(&l1), 1);
	assert_int_equal(accept_limits_from(al, "192.0.2.1"), 1);
	assert_int_equal(accept_limits_admit(al, &l1, "192.0.2.2", &max),
	    ACCEPT_OK);
	/* Listener full comes before the address check. */
	assert_int_equal(accept_limits_admit(al, &l1, "192.0.2.1", &max),
	    ACCEPT_LISTENER_FULL);
	assert_int_equal(accept_limits_admit(al, &l2, "192.0.2.3", &max),
	    ACCEPT_OK);
	/* Daemon full comes first of all. */
	assert_int_equal(accept_limits_admit(al, &l2, "192.0.2.4", &max),
	    ACCEPT_FULL);
	assert_int_equal(accept_limits_total(al), 3);
	assert_int_equal(atomic_load(&l2), 1);
	assert_int_equal(accept_limits_from(al, "192.0.2.4"), 0);

	accept_limits_release(al, &l1, "192.0.2.1");
	assert_int_equal(accept_limits_from(al, "192.0.2.1"), 0);
	assert_int_equal(accept_limits_total(al), 2);
	assert_int_equal(atomic_load(&l1), 1);
	assert_int_equal(accept_limits_admit(al, &l2, "192.0.2.1", &max),
	    ACCEPT_OK);
	accept_limits_release(al, &l2, "192.0.2.1");
	accept_limits_release(al, &l2, "192.0.2.3");
	accept_limits_release(al, &l1, "192.0.2.2");
	assert_int_equal(accept_limits_total(al), 0);
	assert_int_equal(atomic_load(&l1), 0);
	assert_int_equal(atomic_load(&l2), 0);
	accept_limits_free(al);
}

static void
test_accept_limits_many_addresses(void **state)
{
	struct accept_limits *al = accept_limits_new();
	struct accept_max max = { 10000, 10000, 2 };
	atomic_int l;
	char ip[64];
	int i;

	(void)state;
	atomic_init(&l, 0);
	/* More addresses than hash buckets: chains keep them apart. */
	for (i = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "2001:db8::%x", i);
		assert_int_equal(accept_limits_admit(al, &l, ip, &max),
		    ACCEPT_OK);
		assert_int_equal(accept_limits_admit(al, &l, ip, &max),
		    ACCEPT_OK);
		/* The daemon limit is checked first: full after the last. */
		assert_int_equal(accept_limits_admit(al, &l, ip, &max),
		    i == 4999 ? ACCEPT_FULL : ACCEPT_IP_FULL);
	}
	assert_int_equal(accept_limits_total(al), 10000);
	assert_int_equal(accept_limits_admit(al, &l, "192.0.2.9", &max),
	    ACCEPT_FULL);
	for (i = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "2001:db8::%x", i);
		assert_int_equal(accept_limits_from(al, ip), 2);
		accept_limits_release(al, &l, ip);
		accept_limits_release(al, &l, ip);
		assert_int_equal(accept_limits_from(al, ip), 0);
	}
	assert_int_equal(accept_limits_total(al), 0);
	/* Entries left at exit are freed too (LeakSanitizer checks). */
	assert_int_equal(accept_limits_admit(al, &l, "192.0.2.9", &max),
	    ACCEPT_OK);
	accept_limits_free(al);
}

static void
test_accept_verdict_text(void **state)
{
	(void)state;
	assert_string_equal(accept_verdict_text(ACCEPT_FULL),
	    "too many connections");
	assert_string_equal(accept_verdict_text(ACCEPT_LISTENER_FULL),
	    "too many connections to this listener");
	assert_string_equal(accept_verdict_text(ACCEPT_IP_FULL),
	    "too many connections from your address");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_limits_order_and_counts),
		cmocka_unit_test(test_accept_limits_many_addresses),
		cmocka_unit_test(test_accept_verdict_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
