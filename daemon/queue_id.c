/*
 * queue_id.c - queue id generation and formatting.  See queue_id.h.
 */
#include "daemon/queue_id.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>

#include "daemon/util.h"

#define QUEUE_ID_EPOCH_MS 1704067200000LL	/* 2024-01-01T00:00:00Z */

static atomic_uint_fast64_t id_counter;
static atomic_uint_fast64_t node_bits;

void
queue_id_init(const char *node)
{
	unsigned h = 0;
	const char *p;

	for (p = node; *p != '\0'; p++)
		h = h * 31 + (unsigned char)*p;
	atomic_store(&node_bits, h & 0x7f);
}

uint64_t
queue_id_new(void)
{
	uint64_t ms = (uint64_t)(wall_ms() - QUEUE_ID_EPOCH_MS);
	uint64_t n = atomic_fetch_add(&id_counter, 1);

	return (ms << 22) | ((uint64_t)atomic_load(&node_bits) << 15) |
	    (n & 0x7fff);
}

void
queue_id_format(uint64_t id, char out[17])
{
	snprintf(out, 17, "%016" PRIX64, id);
}
