/*
 * deadline.c - the next deadline of an inbound connection.  See
 * deadline.h.  Pure: no clock, no I/O, no allocation.
 */
#include "daemon/deadline.h"

static int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

int64_t
deadline_next(const struct deadline_in *in)
{
	int64_t d, fresh = in->now + in->timeout_ms;

	switch (in->phase) {
	case DEADLINE_GREET_PAUSE:
		d = in->greet_at;
		break;
	case DEADLINE_COMMAND:
		d = in->line_pending && in->prev != 0 ? in->prev : fresh;
		break;
	case DEADLINE_DATA:
		if (in->prev == 0 || in->min_rate <= 0) {
			d = in->prev != 0 && in->new_bytes == 0 ? in->prev :
			    fresh;
			break;
		}
		/* Bounded: new_bytes is at most what one read returned
		 * since prev; the cap keeps the sum from overflowing. */
		if (in->new_bytes > (uint64_t)INT64_MAX / 1000)
			d = fresh;
		else
			d = min64(fresh, in->prev +
			    (int64_t)(in->new_bytes * 1000) / in->min_rate);
		break;
	case DEADLINE_CLOSING:
	default:
		d = in->now + min64(in->timeout_ms, DEADLINE_CLOSING_MS);
		break;
	}
	if (in->lifetime_ms > 0)
		d = min64(d, in->started + in->lifetime_ms);
	return d;
}

int
deadline_lifetime_over(int64_t now, int64_t started, int64_t lifetime_ms)
{
	return lifetime_ms > 0 && now >= started + lifetime_ms;
}
