/*
 * db.c - the console's PostgreSQL connection.  See db.h.
 *
 * Error text: the server's primary message, " (DETAIL)" and " Hint: ..."
 * joined on one line with newlines turned into spaces, so the message
 * line can show it as the database wrote it.  Statements are short
 * (paged), so the blocking libpq calls keep the screen responsive; the
 * statement_timeout bounds the worst case.
 */
#include "console/db.h"

#include <stdio.h>
#include <string.h>

#define DB_STATEMENT_TIMEOUT "10s"
#define DB_LOCK_TIMEOUT "5s"

static void
db_oneline(char *dst, size_t n, const char *src)
{
	size_t i, o = 0;

	for (i = 0; src[i] != '\0' && o + 1 < n; i++) {
		char c = src[i];

		if (c == '\n' || c == '\r' || c == '\t') {
			if (o > 0 && dst[o - 1] != ' ')
				dst[o++] = ' ';
			continue;
		}
		dst[o++] = c;
	}
	while (o > 0 && dst[o - 1] == ' ')
		o--;
	dst[o] = '\0';
}

static void
db_notice(void *arg, const PGresult *r)
{
	struct db *db = arg;
	const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	char tmp[DB_ERR_MAX];

	snprintf(tmp, sizeof(tmp), "%s: %s", sev ? sev : "NOTICE",
	    msg ? msg : "");
	db_oneline(db->notice, sizeof(db->notice), tmp);
}

static void
db_set_result_err(struct db *db, const PGresult *r)
{
	const char *msg = NULL, *detail = NULL, *hint = NULL;
	char tmp[DB_ERR_MAX * 2];

	if (r != NULL) {
		msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
		detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
		hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);
	}
	if (msg == NULL)
		msg = db->conn ? PQerrorMessage(db->conn) : "no connection";
	snprintf(tmp, sizeof(tmp), "%s%s%s%s%s", msg,
	    detail ? " (" : "", detail ? detail : "", detail ? ")" : "",
	    "");
	if (hint != NULL) {
		size_t len = strlen(tmp);

		snprintf(tmp + len, sizeof(tmp) - len, " Hint: %s", hint);
	}
	db_oneline(db->err, sizeof(db->err), tmp);
}

static int
db_setup(struct db *db)
{
	static const char *const setup =
	    "SET application_name = 'postern-console';"
	    "SET DateStyle = 'ISO, YMD';"
	    "SET TimeZone = 'UTC';"
	    "SET statement_timeout = '" DB_STATEMENT_TIMEOUT "';"
	    "SET lock_timeout = '" DB_LOCK_TIMEOUT "';"
	    "LISTEN postern_queue;"
	    "LISTEN postern_config;";
	PGresult *r = PQexec(db->conn, setup);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		db_set_result_err(db, r);
	PQclear(r);
	if (ok)
		PQsetnonblocking(db->conn, 0);
	return ok ? 0 : -1;
}

int
db_open(struct db *db, const char *conninfo)
{
	memset(db, 0, sizeof(*db));
	db->conn = PQconnectdb(conninfo ? conninfo : "");
	if (db->conn == NULL) {
		snprintf(db->err, sizeof(db->err), "out of memory");
		return -1;
	}
	if (PQstatus(db->conn) != CONNECTION_OK) {
		db_oneline(db->err, sizeof(db->err), PQerrorMessage(db->conn));
		return -1;
	}
	PQsetNoticeReceiver(db->conn, db_notice, db);
	return db_setup(db);
}

void
db_close(struct db *db)
{
	if (db->conn != NULL)
		PQfinish(db->conn);
	db->conn = NULL;
}

int
db_fd(const struct db *db)
{
	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK)
		return -1;
	return PQsocket(db->conn);
}

int
db_poll(struct db *db)
{
	PGnotify *n;

	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
		snprintf(db->err, sizeof(db->err), "not connected");
		return -1;
	}
	if (!PQconsumeInput(db->conn)) {
		db_oneline(db->err, sizeof(db->err), PQerrorMessage(db->conn));
		return -1;
	}
	while ((n = PQnotifies(db->conn)) != NULL) {
		if (strcmp(n->relname, "postern_queue") == 0)
			db->queue_events++;
		else if (strcmp(n->relname, "postern_config") == 0)
			db->config_events++;
		PQfreemem(n);
	}
	return 0;
}

/* A lost connection is reset once (outside a transaction only). */
static int
db_alive(struct db *db)
{
	if (db->conn == NULL) {
		snprintf(db->err, sizeof(db->err), "not connected");
		return -1;
	}
	if (PQstatus(db->conn) == CONNECTION_OK)
		return 0;
	PQreset(db->conn);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		char tmp[DB_ERR_MAX];

		snprintf(tmp, sizeof(tmp), "connection lost: %s",
		    PQerrorMessage(db->conn));
		db_oneline(db->err, sizeof(db->err), tmp);
		return -1;
	}
	return db_setup(db);
}

PGresult *
db_query(struct db *db, const char *sql, int n, const char *const *params)
{
	PGresult *r;
	ExecStatusType st;

	db->notice[0] = '\0';
	if (db_alive(db) == -1)
		return NULL;
	r = PQexecParams(db->conn, sql, n, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(r);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return r;
	db_set_result_err(db, r);
	PQclear(r);
	return NULL;
}

int
db_exec(struct db *db, const char *sql, int n, const char *const *params)
{
	PGresult *r = db_query(db, sql, n, params);

	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int
db_begin(struct db *db)
{
	return db_exec(db, "BEGIN", 0, NULL);
}

int
db_commit(struct db *db)
{
	char notice[DB_ERR_MAX];
	int rc;

	/* Keep the notices of the transaction's statements. */
	memcpy(notice, db->notice, sizeof(notice));
	rc = db_exec(db, "COMMIT", 0, NULL);
	if (db->notice[0] == '\0')
		memcpy(db->notice, notice, sizeof(notice));
	return rc;
}

void
db_rollback(struct db *db)
{
	char keep[DB_ERR_MAX];
	PGresult *r;

	memcpy(keep, db->err, sizeof(keep));
	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK) {
		r = PQexec(db->conn, "ROLLBACK");
		PQclear(r);
	}
	memcpy(db->err, keep, sizeof(db->err));
}

const char *
db_val(const PGresult *r, int row, int col)
{
	if (r == NULL || row >= PQntuples(r) || col >= PQnfields(r) ||
	    PQgetisnull(r, row, col))
		return "";
	return PQgetvalue(r, row, col);
}

const char *
db_valn(const PGresult *r, int row, int col)
{
	if (r == NULL || row >= PQntuples(r) || col >= PQnfields(r) ||
	    PQgetisnull(r, row, col))
		return NULL;
	return PQgetvalue(r, row, col);
}
