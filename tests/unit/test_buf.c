/*
 * test_buf.c - unit tests for daemon/buf.c, the bounded byte buffer.
 *
 * What is asserted: appends at max-1, max and max+1 bytes (the last fails
 * and leaves the buffer exactly as it was); consume and compact keep the
 * unread bytes and the NUL terminator; buf_printf refuses a result that
 * does not fit its 1 KiB staging buffer without changing the buffer; the
 * memory is released when an empty buffer is compacted; buf_reset keeps
 * small allocations and drops large ones.
 *
 * Failure: a test fails via cmocka asserts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/buf.h"

static void
fill(char *p, size_t n, char c)
{
	memset(p, c, n);
}

/* Appends of max-1, max and max+1 bytes to an empty buffer. */
static void
test_append_boundaries(void **state)
{
	static const struct {
		size_t max, n;
		int want;
	} cases[] = {
		{ 100, 99, 0 }, { 100, 100, 0 }, { 100, 101, -1 },
		{ 10, 9, 0 }, { 10, 10, 0 }, { 10, 11, -1 },
		{ 5000, 4999, 0 }, { 5000, 5000, 0 }, { 5000, 5001, -1 },
	};
	char src[6000];
	size_t i;

	(void)state;
	fill(src, sizeof(src), 'a');
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		int got;

		buf_init(&b, cases[i].max);
		got = buf_append(&b, src, cases[i].n);
		if (got != cases[i].want)
			fail_msg("max %zu append %zu: got %d want %d",
			    cases[i].max, cases[i].n, got, cases[i].want);
		if (got == 0) {
			assert_int_equal(buf_unread(&b), cases[i].n);
			assert_true(b.cap <= b.max);
			assert_int_equal(b.data[b.len], '\0');
		} else {
			assert_int_equal(buf_unread(&b), 0);
			assert_int_equal(b.len, 0);
		}
		buf_free(&b);
	}
}

/* Filling a partly full buffer to max-1, max, then max+1. */
static void
test_append_past_max_leaves_buffer_unchanged(void **state)
{
	char fillb[53];
	struct buf b;
	size_t len, cap;

	(void)state;
	fill(fillb, sizeof(fillb), 'f');
	memcpy(fillb, "abcdef", 6);
	buf_init(&b, 64);
	assert_int_equal(buf_append(&b, "0123456789", 10), 0);
	assert_int_equal(buf_append(&b, fillb, sizeof(fillb)), 0);
	assert_int_equal(buf_unread(&b), 63);		/* max - 1 */
	assert_int_equal(buf_append(&b, "T", 1), 0);
	assert_int_equal(buf_unread(&b), 64);		/* max */
	len = b.len;
	cap = b.cap;
	assert_int_equal(buf_append(&b, "U", 1), -1);	/* max + 1 */
	assert_int_equal(b.len, len);
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.off, 0);
	assert_memory_equal(buf_data(&b), "0123456789abcdef", 16);
	assert_int_equal(buf_data(&b)[63], 'T');
	assert_int_equal(b.data[64], '\0');
	/* A huge length must not wrap the size check. */
	assert_int_equal(buf_append(&b, "x", SIZE_MAX), -1);
	assert_int_equal(b.len, len);
	buf_free(&b);
}

/* Consume advances; compact moves the rest to the front, NUL-terminated. */
static void
test_consume_and_compact(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(buf_append(&b, "hello world", 11), 0);
	buf_consume(&b, 6);
	assert_int_equal(buf_unread(&b), 5);
	assert_string_equal((const char *)buf_data(&b), "world");
	buf_compact(&b);
	assert_int_equal(b.off, 0);
	assert_int_equal(b.len, 5);
	assert_string_equal((const char *)b.data, "world");
	assert_int_equal(b.data[5], '\0');
	/* Consuming more than is unread clamps. */
	buf_consume(&b, 100);
	assert_int_equal(buf_unread(&b), 0);
	assert_int_equal(b.off, 0);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

/* Every change keeps data[len] == NUL. */
static void
test_nul_terminator_kept(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(buf_append(&b, "abc", 3), 0);
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), 0);
	assert_string_equal((const char *)buf_data(&b), "abc42-x");
	assert_int_equal(b.data[b.len], '\0');
	buf_consume(&b, 2);
	assert_string_equal((const char *)buf_data(&b), "c42-x");
	buf_compact(&b);
	assert_string_equal((const char *)b.data, "c42-x");
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_int_equal(b.data[b.len], '\0');
	buf_reset(&b);
	assert_int_equal(buf_unread(&b), 0);
	if (b.data != NULL)
		assert_int_equal(b.data[0], '\0');
	buf_free(&b);
}

/* buf_printf of 1023 characters fits, 1024 does not; failure is a no-op. */
static void
test_printf_too_long(void **state)
{
	char big[2000];
	struct buf b;

	(void)state;
	fill(big, sizeof(big), 'z');
	big[1023] = '\0';
	buf_init(&b, 64 * 1024);
	assert_int_equal(buf_append(&b, "keep", 4), 0);
	assert_int_equal(buf_printf(&b, "%s", big), 0);
	assert_int_equal(buf_unread(&b), 4 + 1023);
	big[1023] = 'z';
	big[1024] = '\0';
	assert_int_equal(buf_printf(&b, "%s", big), -1);
	assert_int_equal(buf_unread(&b), 4 + 1023);
	/* Fits the staging buffer but not max: also refused, unchanged. */
	buf_free(&b);
	buf_init(&b, 8);
	assert_int_equal(buf_printf(&b, "%s", "12345"), 0);
	assert_int_equal(buf_printf(&b, "%s", "6789"), -1);
	assert_int_equal(buf_unread(&b), 5);
	assert_string_equal((const char *)buf_data(&b), "12345");
	buf_free(&b);
}

/* Compacting an empty buffer frees its memory. */
static void
test_memory_released_when_empty_after_compact(void **state)
{
	char src[300];
	struct buf b;

	(void)state;
	fill(src, sizeof(src), 'q');
	buf_init(&b, 1024);
	assert_int_equal(buf_append(&b, src, sizeof(src)), 0);
	assert_non_null(b.data);
	buf_consume(&b, 100);
	buf_compact(&b);
	assert_non_null(b.data);	/* still holds 200 bytes */
	assert_int_equal(buf_unread(&b), 200);
	buf_consume(&b, 200);
	buf_compact(&b);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.off, 0);
	/* Still usable afterwards. */
	assert_int_equal(buf_append(&b, "x", 1), 0);
	assert_string_equal((const char *)buf_data(&b), "x");
	buf_free(&b);
}

/* buf_reset keeps up to 4 KiB of memory and frees larger buffers. */
static void
test_reset_releases_large(void **state)
{
	static char src[10000];
	struct buf b;

	(void)state;
	fill(src, sizeof(src), 'r');
	buf_init(&b, sizeof(src));
	assert_int_equal(buf_append(&b, src, 100), 0);
	buf_reset(&b);
	assert_non_null(b.data);
	assert_int_equal(buf_unread(&b), 0);
	assert_int_equal(buf_append(&b, src, sizeof(src)), 0);
	assert_true(b.cap > 4096);
	buf_reset(&b);
	assert_null(b.data);
	assert_int_equal(buf_unread(&b), 0);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_boundaries),
		cmocka_unit_test(test_append_past_max_leaves_buffer_unchanged),
		cmocka_unit_test(test_consume_and_compact),
		cmocka_unit_test(test_nul_terminator_kept),
		cmocka_unit_test(test_printf_too_long),
		cmocka_unit_test(test_memory_released_when_empty_after_compact),
		cmocka_unit_test(test_reset_releases_large),
	};

	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
