/*
 * delivery.h - the delivery engine: worker threads that drain the
 * PostgreSQL queue.
 *
 * Each thread owns one database handle (db_queue.c) and one DNS resolver.
 * A round claims up to settings.delivery_batch due recipients with FOR
 * UPDATE SKIP LOCKED and a lease (lease_owner = this node, lease_token =
 * node/incarnation/thread.claim, unique to this claim, lease_expires =
 * now + lease_seconds),
 * groups them by message and destination, delivers (Maildir for local
 * domains, SMTP to the rule-chosen relay host or to the MX hosts), and
 * records each outcome: delivered, deferred with exponential backoff, or
 * bounced with one DSN per message.  A NOTIFY on postern_queue wakes the
 * threads at once (delivery_wake); otherwise they poll every 2 s, which
 * also picks up retries and leases left by dead nodes once they expire.
 * Exactly once in normal operation: an outcome (and a DSN) is written
 * only while the claim's token still holds the lease, so no other thread
 * of this or another node can hold it meanwhile; the thread renews every
 * lease of its claim before each wait that could outlast it (the database
 * keeps lease_seconds 5 s above every smtp_*_timeout), and just before
 * each message is delivered recipients the claim no longer holds are
 * dropped.  A session lost after the final "." defers the recipient (the
 * outcome is unknown), it is not sent again at once.  At-least-once after
 * a failure: a crash between the remote 250 and the write means the
 * recipient is delivered again after the lease expires.
 */
#ifndef POSTERN_DELIVERY_H
#define POSTERN_DELIVERY_H

#include <stdint.h>

/* Starts n threads.  Returns 0 or -1. */
int delivery_start(const char *node, int64_t incarnation, int n);
/* Wakes idle threads (new mail or a manual retry). Any thread. */
void delivery_wake(void);
/* Stops the threads after their current destination, then releases every
 * lease this node holds so other nodes can take the mail at once. */
void delivery_stop(void);

#endif
