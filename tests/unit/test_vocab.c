/*
 * test_vocab.c - unit tests for daemon/vocab.c: the relay TLS mode and the
 * TLS version set, parsed from and printed to their SQL spellings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/vocab.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
test_relay_tls(void **state)
{
	static const char *const names[] = { "none", "opportunistic",
	    "required", "implicit" };
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(names); i++) {
		enum relay_tls t = relay_tls_parse(names[i]);

		assert_int_equal(t, RELAY_TLS_NONE + (int)i);
		assert_string_equal(relay_tls_name(t), names[i]);
	}
	assert_int_equal(relay_tls_parse(NULL), RELAY_TLS_UNSET);
	assert_int_equal(relay_tls_parse("unset"), RELAY_TLS_UNSET);
	assert_int_equal(relay_tls_parse("Required"), RELAY_TLS_UNSET);
	assert_int_equal(relay_tls_parse(""), RELAY_TLS_UNSET);
	assert_string_equal(relay_tls_name(RELAY_TLS_UNSET), "unset");
}

static void
test_tls_versions(void **state)
{
	static const struct {
		const char *in;
		unsigned want;
	} cases[] = {
		{ NULL, 0 },
		{ "", 0 },
		{ "{}", 0 },
		{ "{TLSv1}", TLS_VERSIONS_10 },
		{ "{TLSv1.0}", TLS_VERSIONS_10 },
		{ "{TLSv1.1,TLSv1.2}", TLS_VERSIONS_11 | TLS_VERSIONS_12 },
		{ "TLSv1.3", TLS_VERSIONS_13 },
		{ "{TLSv1,TLSv1.1,TLSv1.2,TLSv1.3}", TLS_VERSIONS_ALL },
		{ "{\"TLSv1.2\"}", TLS_VERSIONS_12 },
		/* Unknown elements are ignored, not read as TLSv1. */
		{ "{TLSv1.4,SSLv3,TLSv1.2x}", 0 },
		{ "{TLSv1.2, TLSv1.3}", TLS_VERSIONS_12 | TLS_VERSIONS_13 },
	};
	unsigned v;
	char out[64], small[8];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++)
		assert_int_equal(tls_versions_parse(cases[i].in), cases[i].want);
	/* Every set round-trips through its text. */
	for (v = 0; v <= TLS_VERSIONS_ALL; v++) {
		tls_versions_text(v, out, sizeof(out));
		assert_int_equal(tls_versions_parse(out), v);
	}
	tls_versions_text(TLS_VERSIONS_11 | TLS_VERSIONS_13, out, sizeof(out));
	assert_string_equal(out, "TLSv1.1,TLSv1.3");
	tls_versions_text(0, out, sizeof(out));
	assert_string_equal(out, "");
	/* Truncated, still terminated. */
	tls_versions_text(TLS_VERSIONS_ALL, small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_tls),
		cmocka_unit_test(test_tls_versions),
	};

	return cmocka_run_group_tests_name("vocab", tests, NULL, NULL);
}
