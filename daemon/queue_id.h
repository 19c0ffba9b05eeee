/*
 * queue_id.h - 64-bit queue ids, made in the daemon so a whole batch of
 * messages goes to the database in one statement without a round trip for
 * ids (docs/architecture.md, "Queue ids").
 *
 * An id is milliseconds since 2024-01-01 00:00 UTC (41 bits), 7 bits of a
 * hash of the node name, and 15 bits of a process-wide counter: unique
 * across the nodes of one database for up to 32768 ids per millisecond per
 * node.  It is shown as 16 upper-case hex digits.
 *
 * queue_id_new() is safe from any thread (one atomic add); call
 * queue_id_init() once, before the first id, with this node's name.
 */
#ifndef POSTERN_QUEUE_ID_H
#define POSTERN_QUEUE_ID_H

#include <stdint.h>

void queue_id_init(const char *node);
uint64_t queue_id_new(void);
/* The id's text form: 16 upper-case hex digits and a NUL. */
void queue_id_format(uint64_t id, char out[17]);

#endif
