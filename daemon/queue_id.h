/*
 * queue_id.h - 64-bit queue ids, made in the daemon so a whole batch of
 * messages goes to the database in one statement without a round trip for
 * ids (docs/architecture.md, "Queue ids").
 *
 * An id is 41 bits of time, 7 bits of node number and 15 bits of
 * sequence:
 *
 *   id = ms << 22 | node << 15 | seq
 *
 * ms is milliseconds since 2024-01-01 00:00 UTC and node the node's
 * number, which the database allocates unique among the nodes
 * (postern.nodes.node_no, postern.node_register).  Within one process
 * (ms, seq) strictly increases: it is the clock, unless the last id was at
 * or after it, then the last id's (ms, seq) plus one (a burst of more than
 * 32768 ids in a millisecond, or a clock step back, borrows the next
 * millisecond).  So two ids never repeat, by construction: different
 * nodes differ in the node bits, one process never repeats (ms, seq).
 * It is shown as 16 upper-case hex digits.
 *
 * queue_id_new() is safe from any thread (a compare-and-swap loop); call
 * queue_id_init() once, before the first id, with this node's number.
 */
#ifndef POSTERN_QUEUE_ID_H
#define POSTERN_QUEUE_ID_H

#include <stdint.h>

#define QUEUE_ID_NODE_MAX 127
#define QUEUE_ID_EPOCH_MS 1704067200000LL	/* 2024-01-01T00:00:00Z */

void queue_id_init(int node_no);
uint64_t queue_id_new(void);

/* Pure pieces (tests): the next (ms << 15 | seq) after last at clock ms,
 * and the id of that value for node. */
uint64_t queue_id_next_tick(uint64_t last, uint64_t ms);
uint64_t queue_id_make(uint64_t tick, unsigned node);

/* The id's text form: 16 upper-case hex digits and a NUL. */
void queue_id_format(uint64_t id, char out[17]);

#endif
