/*
 * test_deadline.c - the connection deadlines of daemon/deadline.c: the
 * command line is one deadline however it is dribbled, DATA needs
 * data_min_rate, the lifetime caps everything, the greeting pause ends on
 * time.  Pure arithmetic: no clock, no sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "daemon/deadline.h"

static struct deadline_in
base(enum deadline_phase ph)
{
	struct deadline_in in = { 0 };

	in.now = 100000;
	in.started = 100000;
	in.lifetime_ms = 3600 * 1000;
	in.phase = ph;
	in.timeout_ms = 300 * 1000;
	in.min_rate = 500;
	return in;
}

/* Waiting for a new line: command_timeout from now.  A partial line keeps
 * the deadline it had, however many bytes dribble in. */
static void
test_command_line_is_one_deadline(void **state)
{
	struct deadline_in in = base(DEADLINE_COMMAND);
	int64_t d0, d;
	int i;

	(void)state;
	d0 = deadline_next(&in);
	assert_int_equal(d0, 100000 + 300000);
	in.prev = d0;
	in.line_pending = 1;
	for (i = 0; i < 100; i++) {
		in.now += 2000;	/* one byte every 2 s */
		in.new_bytes = 1;
		d = deadline_next(&in);
		assert_int_equal(d, d0);
	}
	/* The line completed and was answered: a fresh deadline. */
	in.line_pending = 0;
	assert_int_equal(deadline_next(&in), in.now + 300000);
}

/* DATA: each read extends by bytes / rate, capped at data_timeout from
 * now; a dribbler runs out, a fast sender never does. */
static void
test_data_min_rate(void **state)
{
	struct deadline_in in = base(DEADLINE_DATA);
	int64_t d;
	int i;

	(void)state;
	d = deadline_next(&in);	/* the 354 */
	assert_int_equal(d, 100000 + 300000);
	in.prev = d;
	/* 1 byte/s at min_rate 500: +2 ms per second. */
	for (i = 0; i < 10; i++) {
		in.now += 1000;
		in.new_bytes = 1;
		in.prev = deadline_next(&in);
	}
	assert_int_equal(in.prev, 100000 + 300000 + 20);
	/* 1 MB at once: capped at data_timeout from now. */
	in.new_bytes = 1000000;
	assert_int_equal(deadline_next(&in), in.now + 300000);
	/* No new bytes (re-armed for writing): unchanged. */
	in.new_bytes = 0;
	assert_int_equal(deadline_next(&in), in.prev);
	/* Rate 0: data_timeout after each read, as for silence only. */
	in.min_rate = 0;
	in.new_bytes = 1;
	assert_int_equal(deadline_next(&in), in.now + 300000);
}

/* The lifetime caps every phase; the greeting pause ends on time;
 * closing waits at most 10 s. */
static void
test_lifetime_pause_closing(void **state)
{
	struct deadline_in in = base(DEADLINE_COMMAND);

	(void)state;
	in.lifetime_ms = 5000;
	assert_int_equal(deadline_next(&in), 105000);
	in.phase = DEADLINE_DATA;
	assert_int_equal(deadline_next(&in), 105000);
	in.lifetime_ms = 0;
	in.phase = DEADLINE_GREET_PAUSE;
	in.greet_at = 106000;
	assert_int_equal(deadline_next(&in), 106000);
	in.phase = DEADLINE_CLOSING;
	assert_int_equal(deadline_next(&in), in.now + DEADLINE_CLOSING_MS);
	assert_false(deadline_lifetime_over(104999, 100000, 5000));
	assert_true(deadline_lifetime_over(105000, 100000, 5000));
	assert_false(deadline_lifetime_over(1 << 30, 100000, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_line_is_one_deadline),
		cmocka_unit_test(test_data_min_rate),
		cmocka_unit_test(test_lifetime_pause_closing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
