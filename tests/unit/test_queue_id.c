/*
 * test_queue_id.c - unit tests for daemon/queue_id.c, queue ids unique by
 * construction.
 *
 * What is asserted: the layout (41 bits of milliseconds, 7 of node number,
 * 15 of sequence); two nodes make different ids for the same (ms, seq),
 * including two whose names hash alike under the old 7-bit name hash
 * ("mx1" and "mx2m"), since the number now comes from the database; the
 * (ms, seq) tick strictly increases through a burst of more than 32768
 * ids in one millisecond and through a clock step back; ids made by four
 * threads at once are all different; the text form is 16 upper-case hex
 * digits.
 *
 * Failure: a test fails via cmocka asserts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "daemon/queue_id.h"

#define THREADS 4
#define PER_THREAD 50000

/* The node-name hash ids used before node numbers. */
static unsigned
old_hash(const char *node)
{
	unsigned h = 0;

	for (; *node != '\0'; node++)
		h = h * 31 + (unsigned char)*node;
	return h & 0x7f;
}

static void
test_layout(void **state)
{
	uint64_t tick = (uint64_t)123456789 << 15 | 42;
	uint64_t id = queue_id_make(tick, 5);

	(void)state;
	assert_int_equal(id >> 22, 123456789);
	assert_int_equal((id >> 15) & 0x7f, 5);
	assert_int_equal(id & 0x7fff, 42);
}

static void
test_nodes_differ_even_when_names_hash_alike(void **state)
{
	uint64_t tick = (uint64_t)1000 << 15;

	(void)state;
	/* The collision that failed whole batches before. */
	assert_int_equal(old_hash("mx1"), old_hash("mx2m"));
	/* The database gives the two names different numbers. */
	assert_true(queue_id_make(tick, 0) != queue_id_make(tick, 1));
	assert_true(queue_id_make(tick, 1) != queue_id_make(tick, 127));
}

static void
test_tick_strictly_increases(void **state)
{
	uint64_t last = 0, t;
	int i;

	(void)state;
	/* A burst of 40000 ids within millisecond 7 borrows the next one. */
	for (i = 0; i < 40000; i++) {
		t = queue_id_next_tick(last, 7);
		assert_true(t > last);
		last = t;
	}
	assert_int_equal(last >> 15, 8);
	/* The clock steps back: still increasing. */
	t = queue_id_next_tick(last, 3);
	assert_true(t > last);
	/* The clock moves on: its millisecond, sequence 0. */
	t = queue_id_next_tick(last, 100);
	assert_int_equal(t, (uint64_t)100 << 15);
}

static void *
make_ids(void *arg)
{
	uint64_t *out = arg;
	int i;

	for (i = 0; i < PER_THREAD; i++)
		out[i] = queue_id_new();
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
test_threads_never_repeat(void **state)
{
	uint64_t *ids = calloc(THREADS * PER_THREAD, sizeof(*ids));
	pthread_t th[THREADS];
	int i;

	(void)state;
	assert_non_null(ids);
	queue_id_init(9);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, make_ids,
		    ids + (size_t)i * PER_THREAD), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	qsort(ids, THREADS * PER_THREAD, sizeof(*ids), cmp_u64);
	for (i = 1; i < THREADS * PER_THREAD; i++)
		assert_true(ids[i] != ids[i - 1]);
	for (i = 0; i < THREADS * PER_THREAD; i++)
		assert_int_equal((ids[i] >> 15) & 0x7f, 9);
	free(ids);
}

static void
test_format(void **state)
{
	char out[17];

	(void)state;
	queue_id_format(0xabcULL, out);
	assert_string_equal(out, "0000000000000ABC");
	queue_id_format(UINT64_MAX, out);
	assert_string_equal(out, "FFFFFFFFFFFFFFFF");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_nodes_differ_even_when_names_hash_alike),
		cmocka_unit_test(test_tick_strictly_increases),
		cmocka_unit_test(test_threads_never_repeat),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests_name("queue_id", tests, NULL, NULL);
}
