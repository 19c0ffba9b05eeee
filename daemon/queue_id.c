/*
 * queue_id.c - queue id generation and formatting.  See queue_id.h.
 */
#include "daemon/queue_id.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>

#include "daemon/log.h"
#include "daemon/util.h"

static atomic_uint_fast64_t last_tick;	/* ms << 15 | seq of the last id */
static unsigned node_bits;		/* set once, before any id */

void
queue_id_init(int node_no)
{
	if (node_no < 0 || node_no > QUEUE_ID_NODE_MAX)
		fatalx("queue_id_init: node number %d out of range", node_no);
	node_bits = (unsigned)node_no;
}

uint64_t
queue_id_next_tick(uint64_t last, uint64_t ms)
{
	uint64_t now = (ms & ((1ULL << 41) - 1)) << 15;

	return now > last ? now : last + 1;
}

uint64_t
queue_id_make(uint64_t tick, unsigned node)
{
	return (tick >> 15) << 22 | (uint64_t)(node & QUEUE_ID_NODE_MAX) << 15 |
	    (tick & 0x7fff);
}

uint64_t
queue_id_new(void)
{
	uint_fast64_t last = atomic_load(&last_tick), next;
	int64_t ms = wall_ms() - QUEUE_ID_EPOCH_MS;

	do
		next = queue_id_next_tick(last, ms > 0 ? (uint64_t)ms : 0);
	while (!atomic_compare_exchange_weak(&last_tick, &last, next));
	return queue_id_make(next, node_bits);
}

void
queue_id_format(uint64_t id, char out[17])
{
	snprintf(out, 17, "%016" PRIX64, id);
}
