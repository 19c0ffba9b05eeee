/*
 * q_queue.h - SQL for the Queue screen.
 *
 * Reads postern.queue_recipients one page at a time with a keyset on
 * (received_at, message_id, rcpt_no), the order of the index
 * messages_received_at, so a page costs the same with 100 or 100,000
 * queued recipients and the whole queue is never loaded.  The count shown
 * is capped (Q_QUEUE_COUNT_CAP) for the same reason.
 *
 * Changes go through postern.queue_retry, queue_hold, queue_release,
 * queue_delete and queue_bounce, one statement for all marked messages:
 *   SELECT sum(postern.queue_hold(q)) FROM unnest($1::text[]) q
 * so either every message is changed or (on an error such as a message
 * deleted meanwhile) none is.
 *
 * Every function returns 0 or -1 with db->err set.  Text fields are cut
 * to their fixed sizes.
 */
#ifndef POSTERN_CONSOLE_Q_QUEUE_H
#define POSTERN_CONSOLE_Q_QUEUE_H

#include "console/db.h"
#include "console/model.h"

#define Q_QUEUE_PAGE_MAX 256
#define Q_QUEUE_COUNT_CAP 100000
#define Q_SHAPE_MAX 200
#define Q_SHAPE_BUCKETS 9

struct q_qrow {
	struct model_qkey key;
	char queue_id[MODEL_QUEUE_ID_LEN + 1];
	char state[16];
	long long age;		/* seconds since received */
	long long size;
	int attempts;
	long long next_in;	/* seconds until next attempt (<= 0: due) */
	int leased, bounce_requested;
	char sender[256];
	char rcpt[256];
	char reply[256];
};

struct q_queue_page {
	int n;
	struct q_qrow row[Q_QUEUE_PAGE_MAX];
};

enum q_queue_op { Q_RETRY, Q_HOLD, Q_RELEASE, Q_DELETE, Q_BOUNCE };

struct q_shape {
	int n;
	struct {
		char domain[256];
		long long total;
		long long bucket[Q_SHAPE_BUCKETS];
	} row[Q_SHAPE_MAX];
};

/* Fetches up to limit rows (dir, key: see model_queue_page_sql), always
 * returned in queue order. */
int q_queue_page(struct db *db, const struct model_queue_filter *f, int dir,
    const struct model_qkey *key, int limit, struct q_queue_page *out);
/* Recipients matching the filter, at most Q_QUEUE_COUNT_CAP (+1 when
 * there are more). */
int q_queue_count(struct db *db, const struct model_queue_filter *f,
    long long *count);
/* Runs op on the messages in array ({ID,...}); *changed is the number of
 * recipients the functions reported. */
int q_queue_op(struct db *db, enum q_queue_op op, const char *array,
    long long *changed);
/* Message, recipients and the first lines of the body (headers). */
int q_queue_detail(struct db *db, const char *queue_id,
    struct model_lines *l);
int q_queue_shape(struct db *db, struct q_shape *out);

/* The function name of op ("queue_hold"). */
const char *q_queue_op_name(enum q_queue_op op);

#endif
