/*
 * committer.h - group commit of accepted messages into PostgreSQL.
 *
 * Sessions that finished DATA hand a store job (a store request,
 * store_request.h, and a completion) to the committer.  A small
 * pool of committer threads, each owning one database connection (db.h),
 * takes every job that is waiting (up to COMMITTER_BATCH jobs and
 * COMMITTER_BATCH_BYTES of text; a larger message alone) and writes the
 * whole batch - messages, bodies, recipients - with ONE prepared statement
 * (db_store.h: binary array parameters) in autocommit, i.e. one
 * transaction and one round trip.  Only when that statement returns PGRES_COMMAND_OK, which
 * means the transaction committed, is each job's completion called with
 * SMTP_OK; when the database refuses the data (a constraint or data
 * error) the jobs are stored again one by one, so one bad message fails
 * alone; on any other error every job of the batch gets SMTP_TEMPFAIL (the
 * client sees 451 4.3.0 and retries; a lost connection after COMMIT was
 * sent can at worst duplicate a message, never lose one).  While one batch
 * commits the next one gathers, which is where the throughput comes from
 * (docs/architecture.md, "Group commit").
 *
 * Threads: committer_submit() may be called from any thread and takes
 * ownership of job->req (freed before the completion runs); completions
 * run on a committer thread and must only hand the result back to the
 * session's owner (they must not touch the session).
 */
#ifndef POSTERN_COMMITTER_H
#define POSTERN_COMMITTER_H

#include <stdint.h>

#include "daemon/smtp_session.h"
#include "daemon/store_request.h"

#define COMMITTER_BATCH 128
/* Message text per batch; a larger message is committed alone. */
#define COMMITTER_BATCH_BYTES (4u * 1024 * 1024)

struct committer_job {
	struct committer_job *next;
	struct store_request *req;	/* the committer's from submit on */
	void (*done)(struct committer_job *job, enum smtp_result r);
	void *arg;
};

/* Starts n threads; node is recorded per message.  They connect with the
 * database layer's conninfo (db_set_conninfo, set by main).  Returns 0
 * or -1. */
int committer_start(const char *node, int n);
void committer_submit(struct committer_job *job);
/* Finishes queued jobs and stops the threads. */
void committer_stop(void);

#endif
