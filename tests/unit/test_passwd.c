/*
 * test_passwd.c - unit tests for daemon/passwd.c: the dummy hash spent on
 * unknown or disabled accounts uses exactly the algorithm and cost of
 * postern.set_password() (read from sql/schema.sql), so the reply time
 * does not tell which accounts exist; verification of that kind of hash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/passwd.h"

/* "$2a$12$" for gen_salt('bf', 12) in set_password, "" when not found. */
static void
set_password_prefix(char *out, size_t n)
{
	char path[4096], line[1024];
	const char *src = __FILE__, *slash = strrchr(src, '/');
	int in_fn = 0;
	FILE *f;

	out[0] = '\0';
	/* tests/unit/test_passwd.c -> sql/schema.sql, else from the cwd. */
	if (slash != NULL)
		snprintf(path, sizeof(path), "%.*s/../../sql/schema.sql",
		    (int)(slash - src), src);
	else
		snprintf(path, sizeof(path), "sql/schema.sql");
	if (access(path, R_OK) != 0)
		snprintf(path, sizeof(path), "sql/schema.sql");
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *g;
		int cost;

		if (strstr(line, "FUNCTION postern.set_password(") != NULL)
			in_fn = 1;
		if (!in_fn || (g = strstr(line, "gen_salt('bf', ")) == NULL)
			continue;
		cost = atoi(g + strlen("gen_salt('bf', "));
		/* pgcrypto's 'bf' makes $2a$ hashes. */
		snprintf(out, n, "$2a$%02d$", cost);
		break;
	}
	fclose(f);
}

static void
test_dummy_matches_set_password(void **state)
{
	char prefix[16];

	(void)state;
	set_password_prefix(prefix, sizeof(prefix));
	assert_string_not_equal(prefix, "");
	assert_int_equal(strncmp(passwd_dummy_hash(), prefix, strlen(prefix)),
	    0);
	/* A full bcrypt hash: prefix, 22 salt and 31 hash characters. */
	assert_int_equal(strlen(passwd_dummy_hash()), strlen(prefix) + 53);
}

static void
test_verify(void **state)
{
	/* crypt('secret', gen_salt('bf', 12)) from pgcrypto. */
	static const char h[] =
	    "$2a$12$crZSVAe1LQRN96IezRK.WeXBvpntbdeTFpJAg.MccetnHHeeWwyAy";

	(void)state;
	/* An unknown user never succeeds, whatever the password. */
	assert_int_equal(passwd_verify(NULL, "secret"), 0);
	assert_int_equal(passwd_verify(NULL, ""), 0);
	assert_int_equal(passwd_verify(h, "wrong"), 0);
	assert_int_equal(passwd_verify(h, "secret"), 1);
	assert_int_equal(passwd_verify("*", "x"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dummy_matches_set_password),
		cmocka_unit_test(test_verify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
