/*
 * db_store.c - the accept path's statement.  See db_store.h.
 *
 * The statement takes 19 array parameters: ten per message ($1-$10), the
 * bodies ($11, bytea: the request's headers followed by its spooled body)
 * and eight per recipient ($12-$19: message id, position, address and the
 * route's relay_* columns, NULL where the route leaves them unset).  The
 * arrays are built in binary (pgarr.c), so no value is quoted or escaped
 * and bodies are not hex-encoded.
 */
#include "daemon/db_store.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "daemon/db.h"
#include "daemon/log.h"
#include "daemon/pgarr.h"
#include "daemon/util.h"
#include "daemon/vocab.h"

static const char store_sql[] =
    "WITH m AS (INSERT INTO postern.messages (id, node, sender, size,"
    " client_addr, client_helo, listener, tls_version, tls_cipher, auth_user)"
    " SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[],"
    " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])),"
    " b AS (INSERT INTO postern.bodies (message_id, data)"
    " SELECT * FROM unnest($1::bigint[], $11::bytea[]))"
    " INSERT INTO postern.recipients (message_id, rcpt_no, address,"
    " relay_host, relay_port, relay_tls, relay_tls_versions,"
    " relay_tls_verify)"
    " SELECT m, n, a, h, p, t::postern.relay_tls_mode,"
    " v::postern.tls_version[], w::boolean FROM unnest($12::bigint[],"
    " $13::int[], $14::text[], $15::text[], $16::int[], $17::text[],"
    " $18::text[], $19::text[]) AS u(m, n, a, h, p, t, v, w)";

enum {
	P_ID, P_NODE, P_SENDER, P_SIZE, P_CLIENT, P_HELO, P_LISTENER,
	P_TLS_VERSION, P_TLS_CIPHER, P_AUTH_USER, P_BODY,
	P_R_MSG, P_R_NO, P_R_ADDR, P_R_HOST, P_R_PORT, P_R_TLS, P_R_VERSIONS,
	P_R_VERIFY,
	NPARAMS
};

static const uint32_t param_oids[NPARAMS] = {
	PGARR_OID_INT8, PGARR_OID_TEXT, PGARR_OID_TEXT, PGARR_OID_INT8,
	PGARR_OID_TEXT, PGARR_OID_TEXT, PGARR_OID_TEXT, PGARR_OID_TEXT,
	PGARR_OID_TEXT, PGARR_OID_TEXT, PGARR_OID_BYTEA,
	PGARR_OID_INT8, PGARR_OID_INT4, PGARR_OID_TEXT, PGARR_OID_TEXT,
	PGARR_OID_INT4, PGARR_OID_TEXT, PGARR_OID_TEXT, PGARR_OID_TEXT,
};

static const struct db_stmt store_stmts[] = {
	{ "store", store_sql, NPARAMS },
};

static const struct db_role db_store_role = {
	.name = "committer",
	.statement_timeout_ms = 30000,
	.backoff_min_ms = 100,
	.backoff_max_ms = 5000,
	.stmts = store_stmts,
	.nstmts = sizeof(store_stmts) / sizeof(store_stmts[0]),
};

struct db *
db_store_open(void)
{
	return db_open(&db_store_role, NULL);
}

void
db_store_warm(struct db *d)
{
	(void)db_get(d);
}

void
db_store_close(struct db *d)
{
	db_close(d);
}

static const char *
verify_text(enum relay_verify v)
{
	switch (v) {
	case RELAY_VERIFY_UNSET:
		return NULL;
	case RELAY_VERIFY_NO:
		return "false";
	case RELAY_VERIFY_YES:
		return "true";
	}
	fatalx("db_store: bad relay_verify %d", (int)v);
}

/* One recipient: its row's columns (NULL where the route is unset). */
static void
add_rcpt(struct pgarr *a, uint64_t id, unsigned no, const struct store_rcpt *rc)
{
	const struct route *rt = &rc->route;
	char v[64], arr[80];

	pgarr_add_int8(&a[P_R_MSG], (int64_t)id);
	pgarr_add_int4(&a[P_R_NO], (int32_t)no);
	pgarr_add_text(&a[P_R_ADDR], rc->addr.addr);
	pgarr_add_text(&a[P_R_HOST], rt->host[0] ? rt->host : NULL);
	if (rt->host[0] && rt->port > 0)
		pgarr_add_int4(&a[P_R_PORT], rt->port);
	else
		pgarr_add_null(&a[P_R_PORT]);
	pgarr_add_text(&a[P_R_TLS], rt->tls != RELAY_TLS_UNSET ?
	    relay_tls_name(rt->tls) : NULL);
	if (rt->versions != 0) {
		tls_versions_text(rt->versions, v, sizeof(v));
		snprintf(arr, sizeof(arr), "{%s}", v);
		pgarr_add_text(&a[P_R_VERSIONS], arr);
	} else {
		pgarr_add_null(&a[P_R_VERSIONS]);
	}
	pgarr_add_text(&a[P_R_VERIFY], verify_text(rt->verify));
}

/* One message: its row, its body, its recipients.  0 or -1 (the spool
 * could not be read). */
static int
add_message(struct pgarr *a, const char *node, struct store_request *q)
{
	size_t hl = buf_unread(&q->headers);
	uint8_t *body;
	unsigned k;

	pgarr_add_int8(&a[P_ID], (int64_t)q->id);
	pgarr_add_text(&a[P_NODE], node);
	pgarr_add_text(&a[P_SENDER], q->sender.addr);
	pgarr_add_int8(&a[P_SIZE], (int64_t)store_request_length(q));
	pgarr_add_text(&a[P_CLIENT], q->client_addr);
	pgarr_add_text(&a[P_HELO], q->helo);
	pgarr_add_text(&a[P_LISTENER], q->listener);
	pgarr_add_text(&a[P_TLS_VERSION], q->tls_version[0] ? q->tls_version :
	    NULL);
	pgarr_add_text(&a[P_TLS_CIPHER], q->tls_version[0] ? q->tls_cipher :
	    NULL);
	pgarr_add_text(&a[P_AUTH_USER], q->auth_user[0] ? q->auth_user : NULL);
	/* The headers (rules', then Received:) on top of the message. */
	body = pgarr_add_space(&a[P_BODY], hl + spool_size(&q->body));
	if (hl > 0)
		memcpy(body, buf_data(&q->headers), hl);
	if (spool_read_all(&q->body, body + hl) == -1)
		return -1;
	for (k = 0; k < q->nrcpts; k++)
		add_rcpt(a, q->id, k, &q->rcpts[k]);
	return 0;
}

int
db_store_batch(struct db *d, const char *node,
    struct store_request *const *reqs, size_t n, const char *who)
{
	struct pgarr a[NPARAMS];
	const char *values[NPARAMS];
	int lengths[NPARAMS], formats[NPARAMS];
	PGconn *conn;
	PGresult *r = NULL;
	const char *state;
	int i, rc = DB_STORE_FAILED;
	size_t j;

	conn = db_get(d);
	if (conn == NULL)
		return DB_STORE_FAILED;	/* unreachable or backing off */
	for (i = 0; i < NPARAMS; i++)
		pgarr_init(&a[i], param_oids[i]);
	for (j = 0; j < n; j++) {
		if (add_message(a, node, reqs[j]) == -1) {
			log_warnx("%s: cannot read spooled body", who);
			goto out;
		}
	}
	for (i = 0; i < NPARAMS; i++) {
		values[i] = (const char *)pgarr_finish(&a[i], &lengths[i]);
		formats[i] = 1;
	}
	r = PQexecPrepared(conn, "store", NPARAMS, values, lengths, formats, 0);
	if (PQresultStatus(r) == PGRES_COMMAND_OK) {
		rc = DB_STORE_OK;
	} else {
		char msg[300];

		str_copy(msg, PQresultErrorMessage(r), sizeof(msg));
		msg[strcspn(msg, "\n")] = '\0';
		log_warnx("%s: storing %zu message(s) failed: %s", who, n, msg);
		state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		if (PQstatus(conn) != CONNECTION_OK)
			db_failed(d);
		else if (state != NULL && (strncmp(state, "22", 2) == 0 ||
		    strncmp(state, "23", 2) == 0))
			rc = DB_STORE_REFUSED;
	}
out:
	PQclear(r);
	for (i = 0; i < NPARAMS; i++)
		pgarr_free(&a[i]);
	return rc;
}
