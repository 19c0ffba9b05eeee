/*
 * delivery.h - the delivery engine: worker threads that drain the
 * PostgreSQL queue.
 *
 * Each thread owns one database handle (db_queue.c) and one DNS resolver.
 * A round claims up to settings.delivery_batch due recipients with FOR
 * UPDATE SKIP LOCKED and a lease (lease_owner = this node, lease_expires = now + lease_seconds),
 * groups them by message and destination, delivers (Maildir for local
 * domains, SMTP to the rule-chosen relay host or to the MX hosts), and
 * records each outcome: delivered, deferred with exponential backoff, or
 * bounced with one DSN per message.  A NOTIFY on postern_queue wakes the
 * threads at once (delivery_wake); otherwise they poll every 2 s, which
 * also picks up retries and leases left by dead nodes once they expire.
 * Delivery is at-least-once: an outcome is written only while this node
 * still holds the lease; a crash between the remote 250 and that write
 * means the recipient is delivered again after the lease expires.  Just
 * before each message is delivered its leases are renewed (now +
 * lease_seconds) and recipients this node no longer holds are dropped, so
 * a batch that takes longer than lease_seconds is not delivered twice;
 * one delivery attempt must still fit within lease_seconds.
 */
#ifndef POSTERN_DELIVERY_H
#define POSTERN_DELIVERY_H

/* Starts n threads.  Returns 0 or -1. */
int delivery_start(const char *node, int n);
/* Wakes idle threads (new mail or a manual retry). Any thread. */
void delivery_wake(void);
/* Stops the threads after their current destination, then releases every
 * lease this node holds so other nodes can take the mail at once. */
void delivery_stop(void);

#endif
