/*
 * smtp_client_fsm.c - the SMTP client's protocol logic: replies in,
 * commands and per-recipient results out.  See smtp_client_fsm.h.
 *
 * Open: GREETING -> EHLO (-> HELO on a 5xx) -> [STARTTLS -> TLS -> EHLO]
 * -> READY.  A transaction sends its commands in groups: with PIPELINING
 * up to SMTPC_PIPE_GROUP at once, DATA included, replies read in order
 * after each group (RFC 2920 3.1); without it one at a time.  A command
 * whose fate is already known is not sent: RCPT after a refused MAIL, DATA
 * when every RCPT reply has been read and none accepted.  Then BODY ->
 * DOT -> READY, or RSET -> READY when the transaction failed after MAIL
 * was accepted.  A 421, an I/O failure or a protocol error in the reply
 * stream makes the session broken (FAILED, no more commands, no QUIT).
 *
 * Texts of synthesized replies name the peer and what happened; they are
 * what delivery logs and puts into DSNs.
 */
#include "daemon/smtp_client_fsm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/util.h"

#define PATH_MAX_LEN 256	/* RFC 5321 4.5.3.1.3 */

enum rcpt_state { RS_PENDING, RS_INVALID, RS_ACCEPTED, RS_DONE };

/* Which recipients a reply decides. */
enum settle_which {
	SET_ACCEPTED,		/* accepted at RCPT: the final reply */
	SET_UNDECIDED,		/* pending or accepted: 421, lost connection */
	SET_VALID,		/* all that were sent: MAIL refusal */
};

struct smtpc {
	enum smtpc_state state;
	char helo[256];
	char peer[340];
	enum relay_tls mode;
	int tls_up;		/* under TLS: no (more) STARTTLS */
	int greeted;		/* a greeting was read: QUIT makes sense */
	int broken;		/* I/O failed or 421: no more commands */
	unsigned ext;		/* SMTPC_EXT_* of the last EHLO */
	uint64_t size_max;	/* RFC 1870 SIZE value, 0 = none given */
	unsigned nreplies;
	struct smtp_reply_reader rd;
	struct buf out;
	struct smtp_client_reply fail;

	/* The transaction: commands are indexed 0 MAIL, 1..n RCPT, n+1 DATA. */
	const char *sender;
	const char *const *rcpts;
	size_t nrcpts;
	size_t len;		/* body length (SIZE=) */
	int eight;		/* body has 8-bit bytes */
	struct smtp_client_reply *res;
	enum rcpt_state *st;
	size_t k;		/* next command to put on the wire */
	size_t first;		/* first command of the group on the wire */
	size_t next;		/* the command whose reply comes next */
	size_t naccepted;
	int mail_state;		/* 0 not read, 1 accepted, -1 refused */
	int data_sent, data_354, dot_sent, empty_dot;
	int lost_after_dot;	/* smtpc_outcome_unknown() */
	int result;		/* smtpc_tx_result() */
	struct smtp_client_reply mail;	/* the reply to MAIL */
	struct smtp_client_reply data;	/* the reply to DATA */
};

static const char *const state_names[] = {
	"GREETING", "EHLO", "HELO", "STARTTLS", "TLS", "READY", "MAIL",
	"RCPT", "DATA", "BODY", "DOT", "RSET", "QUIT", "DONE", "FAILED",
};

const char *
smtpc_state_name(enum smtpc_state s)
{
	if ((size_t)s >= sizeof(state_names) / sizeof(state_names[0]))
		fatalx("smtpc: state %d out of range", (int)s);
	return state_names[s];
}

struct smtpc *
smtpc_new(const char *helo, const char *peer, enum relay_tls mode, int tls_up)
{
	struct smtpc *c = xcalloc(1, sizeof(*c));

	str_copy(c->helo, helo, sizeof(c->helo));
	str_copy(c->peer, peer, sizeof(c->peer));
	c->mode = mode == RELAY_TLS_UNSET ? RELAY_TLS_OPPORTUNISTIC : mode;
	c->tls_up = tls_up;
	c->state = SMTPC_GREETING;
	smtp_reply_reader_init(&c->rd);
	buf_init(&c->out, SMTPC_OUT_MAX);
	return c;
}

void
smtpc_free(struct smtpc *c)
{
	if (c == NULL)
		return;
	smtp_reply_reader_free(&c->rd);
	buf_free(&c->out);
	free(c->st);
	free(c);
}

enum smtpc_state
smtpc_state(const struct smtpc *c)
{
	return c->state;
}

enum smtpc_req
smtpc_req(const struct smtpc *c)
{
	switch (c->state) {
	case SMTPC_GREETING:
	case SMTPC_EHLO:
	case SMTPC_HELO:
	case SMTPC_STARTTLS:
	case SMTPC_MAIL:
	case SMTPC_RCPT:
	case SMTPC_DATA:
	case SMTPC_DOT:
	case SMTPC_RSET:
	case SMTPC_QUIT:
		return SMTPC_REQ_READ;
	case SMTPC_TLS:
		return SMTPC_REQ_TLS;
	case SMTPC_BODY:
		return SMTPC_REQ_BODY;
	case SMTPC_READY:
	case SMTPC_DONE:
	case SMTPC_FAILED:
		return SMTPC_REQ_NONE;
	}
	fatalx("smtpc: state %d out of range", (int)c->state);
}

struct buf *
smtpc_output(struct smtpc *c)
{
	return &c->out;
}

unsigned
smtpc_nreplies(const struct smtpc *c)
{
	return c->nreplies;
}

const struct smtp_client_reply *
smtpc_fail(const struct smtpc *c)
{
	return &c->fail;
}

int
smtpc_broken(const struct smtpc *c)
{
	return c->broken;
}

unsigned
smtpc_ext(const struct smtpc *c)
{
	return c->ext;
}

uint64_t
smtpc_size_max(const struct smtpc *c)
{
	return c->size_max;
}

int
smtpc_tx_result(const struct smtpc *c)
{
	return c->result;
}

int
smtpc_outcome_unknown(const struct smtpc *c)
{
	return c->lost_after_dot;
}

/* Queues one command line.  A command that does not fit (cannot happen
 * with the bounded names and paths) breaks the session. */
static void
send_line(struct smtpc *c, const char *cmd, const char *arg)
{
	if (buf_printf(&c->out, "%s%s%s\r\n", cmd, arg != NULL ? " " : "",
	    arg != NULL ? arg : "") == -1)
		fatalx("smtpc: command does not fit the output buffer");
}

/* ------------------------------------------------------------- open */

/* One EHLO keyword line ("SIZE 10240000"); case-insensitive. */
static void
ehlo_keyword(void *arg, const char *s, size_t n)
{
	static const struct {
		const char *name;
		unsigned bit;
	} kw[] = {
		{ "PIPELINING", SMTPC_EXT_PIPELINING },
		{ "SIZE", SMTPC_EXT_SIZE },
		{ "8BITMIME", SMTPC_EXT_8BITMIME },
		{ "STARTTLS", SMTPC_EXT_STARTTLS },
		{ "ENHANCEDSTATUSCODES", SMTPC_EXT_ENHANCED },
	};
	struct smtpc *c = arg;
	char tmp[128];
	size_t i, k;

	if (n >= sizeof(tmp))
		return;		/* no keyword we know is that long */
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	for (i = 0; i < sizeof(kw) / sizeof(kw[0]); i++) {
		k = strlen(kw[i].name);
		if (!str_iprefix(tmp, kw[i].name) ||
		    (tmp[k] != '\0' && tmp[k] != ' '))
			continue;
		c->ext |= kw[i].bit;
		if (kw[i].bit == SMTPC_EXT_SIZE && tmp[k] == ' ') {
			char *end = NULL;
			unsigned long long v;

			errno = 0;
			v = strtoull(tmp + k + 1, &end, 10);
			if (errno == 0 && end != tmp + k + 1 &&
			    tmp[k + 1] >= '0' && tmp[k + 1] <= '9')
				c->size_max = v;	/* 0 = no limit */
		}
	}
}

static void
open_failed(struct smtpc *c)
{
	c->state = SMTPC_FAILED;
	c->result = -1;
}

/* What the open phase was doing, for texts. */
static const char *
open_phase(const struct smtpc *c)
{
	switch (c->state) {
	case SMTPC_GREETING:
		return "while waiting for the greeting";
	case SMTPC_EHLO:
		return "after EHLO";
	case SMTPC_HELO:
		return "after HELO";
	case SMTPC_STARTTLS:
		return "after STARTTLS";
	default:
		break;
	}
	fatalx("smtpc: no open phase in state %s", smtpc_state_name(c->state));
}

/* A 421 during the open: the server is closing (RFC 5321 3.8). */
static void
open_closed(struct smtpc *c, const struct smtp_client_reply *r)
{
	smtp_reply_set(&c->fail, 421, r->ecode, "%s closed the session %s: "
	    "%s", c->peer, open_phase(c), r->text);
	open_failed(c);
}

static void
send_ehlo(struct smtpc *c)
{
	c->ext = 0;
	c->size_max = 0;
	send_line(c, "EHLO", c->helo);
	c->state = SMTPC_EHLO;
}

/* EHLO or HELO accepted: STARTTLS per policy, or ready. */
static void
hello_done(struct smtpc *c)
{
	if (c->tls_up || c->mode == RELAY_TLS_NONE ||
	    c->mode == RELAY_TLS_IMPLICIT) {
		c->state = SMTPC_READY;
		return;
	}
	if ((c->ext & SMTPC_EXT_STARTTLS) == 0) {
		if (c->mode != RELAY_TLS_REQUIRED) {
			c->state = SMTPC_READY;
			return;
		}
		smtp_reply_set(&c->fail, 451, "4.7.4", "TLS required but %s "
		    "does not offer STARTTLS", c->peer);
		open_failed(c);
		return;
	}
	send_line(c, "STARTTLS", NULL);
	c->state = SMTPC_STARTTLS;
}

static void
refused(struct smtpc *c, const char *verb, const struct smtp_client_reply *r)
{
	smtp_reply_set(&c->fail, r->code / 100 == 4 || r->code / 100 == 5 ?
	    r->code : 451, r->ecode, "%s refused %s: %d %s", c->peer, verb,
	    r->code, r->text);
	open_failed(c);
}

static void
on_greeting(struct smtpc *c, const struct smtp_client_reply *r)
{
	c->greeted = 1;
	if (r->code != 220) {
		/* 3.1: a 554 greeting still wants our QUIT. */
		smtp_reply_set(&c->fail, r->code / 100 == 4 ||
		    r->code / 100 == 5 ? r->code : 451, r->ecode, "%s greeted "
		    "us with %d %s", c->peer, r->code, r->text);
		open_failed(c);
		return;
	}
	send_ehlo(c);
}

static void
on_ehlo(struct smtpc *c, const struct smtp_client_reply *r)
{
	if (r->code == 421) {
		open_closed(c, r);
		return;
	}
	if (r->code / 100 == 2) {
		hello_done(c);
		return;
	}
	c->ext = 0;
	c->size_max = 0;
	if (r->code / 100 != 5) {
		refused(c, "EHLO", r);
		return;
	}
	send_line(c, "HELO", c->helo);
	c->state = SMTPC_HELO;
}

static void
on_helo(struct smtpc *c, const struct smtp_client_reply *r)
{
	if (r->code == 421)
		open_closed(c, r);
	else if (r->code / 100 == 2)
		hello_done(c);
	else
		refused(c, "HELO", r);
}

static void
on_starttls(struct smtpc *c, const struct smtp_client_reply *r)
{
	if (r->code == 421) {
		open_closed(c, r);
		return;
	}
	if (r->code != 220) {
		if (c->mode != RELAY_TLS_REQUIRED) {
			/* Refused before any handshake: still clean plain
			 * SMTP, as if STARTTLS were not offered. */
			log_debug("smtp client %s STARTTLS refused: %d %s; "
			    "continuing in clear", c->peer, r->code, r->text);
			c->state = SMTPC_READY;
			return;
		}
		smtp_reply_set(&c->fail, 451, "4.7.4", "TLS required but %s "
		    "refused STARTTLS: %d %s", c->peer, r->code, r->text);
		open_failed(c);
		return;
	}
	/* Safety: bytes after the 220 were sent in clear and could be
	 * injected replies (CVE-2011-0411 from the client side). */
	if (smtp_reply_reader_pending(&c->rd) > 0) {
		smtp_reply_set(&c->fail, 451, "4.7.5", "%s sent data after its "
		    "220 to STARTTLS (possible injection); session closed",
		    c->peer);
		c->broken = 1;
		open_failed(c);
		return;
	}
	c->state = SMTPC_TLS;
}

void
smtpc_tls_done(struct smtpc *c, const struct smtp_client_reply *fail)
{
	if (c->state != SMTPC_TLS && c->state != SMTPC_GREETING)
		fatalx("smtpc: TLS done in state %s", smtpc_state_name(c->state));
	if (fail != NULL) {
		c->fail = *fail;
		c->broken = 1;
		open_failed(c);
		return;
	}
	c->tls_up = 1;
	if (c->state == SMTPC_TLS)
		send_ehlo(c);
}

/* ------------------------------------------------------- transaction */

/* Safety: a path goes into a command line; no CR/LF/<>/8-bit. */
static int
path_ok(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		unsigned char ch = (unsigned char)s[n];

		if (ch <= 0x20 || ch >= 0x7f || ch == '<' || ch == '>' ||
		    n >= PATH_MAX_LEN)
			return 0;
	}
	return 1;
}

static void
settle(struct smtpc *c, const struct smtp_client_reply *r,
    enum settle_which which)
{
	size_t i;

	for (i = 0; i < c->nrcpts; i++) {
		if (c->st[i] == RS_ACCEPTED ||
		    (which != SET_ACCEPTED && c->st[i] == RS_PENDING) ||
		    (which == SET_VALID && c->st[i] == RS_DONE))
			c->res[i] = *r;
	}
}

/* A reply where 2xx/4xx/5xx is expected: anything else becomes 451. */
static void
normalise(const struct smtpc *c, struct smtp_client_reply *r,
    const char *cmd)
{
	struct smtp_client_reply got = *r;
	int k = r->code / 100;

	if (k == 2 || k == 4 || k == 5)
		return;
	/* From a copy: smtp_reply_set() clears r first. */
	smtp_reply_set(r, 451, "4.5.0", "%s gave an unexpected reply to %s: "
	    "%d %s", c->peer, cmd, got.code, got.text);
}

static const char *
cmd_phase(const struct smtpc *c, size_t i)
{
	return i == 0 ? "MAIL FROM" : i <= c->nrcpts ? "RCPT TO" : "DATA";
}

static enum smtpc_state
cmd_state(const struct smtpc *c, size_t i)
{
	return i == 0 ? SMTPC_MAIL : i <= c->nrcpts ? SMTPC_RCPT : SMTPC_DATA;
}

static int
cmd_skipped(const struct smtpc *c, size_t i)
{
	return i > 0 && i <= c->nrcpts && c->st[i - 1] == RS_INVALID;
}

/* Puts command i on the wire.  -1 when the group is full. */
static int
add_command(struct smtpc *c, size_t i)
{
	char size[40] = "";

	if (i > c->nrcpts)
		return buf_append(&c->out, "DATA\r\n", 6);
	if (i > 0)
		return buf_printf(&c->out, "RCPT TO:<%s>\r\n",
		    c->rcpts[i - 1]);
	if (c->ext & SMTPC_EXT_SIZE)
		snprintf(size, sizeof(size), " SIZE=%zu", c->len);
	return buf_printf(&c->out, "MAIL FROM:<%s>%s%s\r\n", c->sender, size,
	    c->eight && (c->ext & SMTPC_EXT_8BITMIME) ? " BODY=8BITMIME" : "");
}

/* The transaction ended with its results in place. */
static void
tx_end(struct smtpc *c, int result)
{
	c->result = result;
	if (result == -1) {
		c->broken = 1;
		c->state = SMTPC_FAILED;
	} else
		c->state = SMTPC_READY;
}

/* After a transaction that did not end with the message accepted: RSET
 * when MAIL was accepted, so the session can serve the next one. */
static void
rset(struct smtpc *c)
{
	c->result = 0;
	if (c->mail_state == 1 || c->naccepted > 0) {
		send_line(c, "RSET", NULL);
		c->state = SMTPC_RSET;
	} else
		tx_end(c, 0);
}

/* A 421 in the transaction: the server is closing. */
static void
tx_closing(struct smtpc *c, const struct smtp_client_reply *r)
{
	if (c->mail_state == -1)
		settle(c, &c->mail, SET_VALID);
	else
		settle(c, r, SET_UNDECIDED);
	tx_end(c, -1);
}

static void
tx_lost(struct smtpc *c, const char *phase, const char *err)
{
	struct smtp_client_reply lost;

	smtp_reply_set(&lost, 451, "4.4.2", "lost connection with %s while "
	    "sending %s: %s%s", c->peer, phase, err, c->dot_sent ?
	    " (the message may be delivered more than once)" : "");
	c->lost_after_dot = c->dot_sent;
	if (c->mail_state == -1)
		settle(c, &c->mail, SET_VALID);
	else
		settle(c, &lost, SET_UNDECIDED);
	tx_end(c, -1);
}

/* MAIL refused or nothing accepted: results are in place. */
static void
tx_refused(struct smtpc *c)
{
	if (c->mail_state == -1)
		settle(c, &c->mail, SET_VALID);
	rset(c);
}

/* Every command that will be sent has its reply: body, or the end. */
static void
commands_done(struct smtpc *c)
{
	if (c->mail_state == -1 || c->naccepted == 0) {
		if (c->data_354) {
			/* RFC 2920 3.1 servers refuse DATA here; some do
			 * not.  End the empty message and ignore it. */
			send_line(c, ".", NULL);
			c->empty_dot = 1;
			c->state = SMTPC_DOT;
			return;
		}
		tx_refused(c);
		return;
	}
	if (!c->data_354) {
		/* DATA refused (or not sent: cannot happen with naccepted). */
		if (!c->data_sent)
			smtp_reply_set(&c->data, 451, "4.3.0", "DATA not sent "
			    "to %s", c->peer);
		settle(c, &c->data, SET_ACCEPTED);
		rset(c);
		return;
	}
	c->state = SMTPC_BODY;
}

/* Puts the next group of commands on the wire (state: its first reply),
 * or ends the command phase. */
static void
next_group(struct smtpc *c)
{
	size_t total = c->nrcpts + 2, ncmd = 0;
	size_t group = (c->ext & SMTPC_EXT_PIPELINING) ? SMTPC_PIPE_GROUP : 1;

	c->first = c->k;
	while (c->k < total && ncmd < group) {
		if (c->k > 0 && c->mail_state == -1)
			break;
		if (c->k == total - 1 && c->naccepted == 0 && ncmd == 0)
			break;
		if (cmd_skipped(c, c->k)) {
			c->k++;
			continue;
		}
		if (add_command(c, c->k) == -1)
			break;	/* group full; the next one takes it */
		ncmd++;
		c->k++;
	}
	if (ncmd == 0) {
		commands_done(c);
		return;
	}
	for (c->next = c->first; cmd_skipped(c, c->next); c->next++)
		;
	c->state = cmd_state(c, c->next);
}

/* The reply to command c->next (MAIL, a RCPT or DATA). */
static void
on_command(struct smtpc *c, struct smtp_client_reply *r)
{
	size_t i = c->next;

	if (r->code == 421) {
		tx_closing(c, r);
		return;
	}
	if (i == 0) {
		normalise(c, r, "MAIL FROM");
		c->mail = *r;
		c->mail_state = r->code / 100 == 2 ? 1 : -1;
	} else if (i <= c->nrcpts) {
		normalise(c, r, "RCPT TO");
		if (r->code / 100 == 2) {
			c->st[i - 1] = RS_ACCEPTED;
			c->naccepted++;
		} else {
			c->res[i - 1] = *r;
			c->st[i - 1] = RS_DONE;
		}
	} else {
		c->data_sent = 1;
		c->data_354 = r->code == 354;
		c->data = *r;
		if (!c->data_354 && r->code / 100 != 4 && r->code / 100 != 5)
			smtp_reply_set(&c->data, 451, "4.5.0", "%s gave an "
			    "unexpected reply to DATA: %d %s", c->peer, r->code,
			    r->text);
	}
	for (c->next = i + 1; c->next < c->k && cmd_skipped(c, c->next);
	    c->next++)
		;
	if (c->next < c->k)
		c->state = cmd_state(c, c->next);
	else
		next_group(c);
}

static void
on_dot(struct smtpc *c, struct smtp_client_reply *r)
{
	if (r->code == 421) {
		tx_closing(c, r);
		return;
	}
	if (c->empty_dot) {
		tx_refused(c);
		return;
	}
	normalise(c, r, "end of data");
	settle(c, r, SET_ACCEPTED);
	tx_end(c, 0);
}

void
smtpc_body_sent(struct smtpc *c)
{
	if (c->state != SMTPC_BODY)
		fatalx("smtpc: body sent in state %s",
		    smtpc_state_name(c->state));
	c->dot_sent = 1;
	c->state = SMTPC_DOT;
}

/* Refuses before MAIL what the server must not see or would refuse:
 * bad paths (RFC 5321 4.1.2), a message over its SIZE (RFC 1870 6.1).
 * Returns 1 when some recipient is left to send. */
static int
tx_check(struct smtpc *c)
{
	struct smtp_client_reply r;
	size_t i;

	if (c->nrcpts == 0)
		return 0;
	if (c->sender == NULL || !path_ok(c->sender)) {
		smtp_reply_set(&r, 553, "5.1.7", "invalid sender address (not "
		    "sent to %s)", c->peer);
		settle(c, &r, SET_UNDECIDED);
		return 0;
	}
	for (i = 0; i < c->nrcpts; i++) {
		if (c->rcpts[i] == NULL || c->rcpts[i][0] == '\0' ||
		    !path_ok(c->rcpts[i])) {
			smtp_reply_set(&c->res[i], 553, "5.1.3", "invalid "
			    "recipient address (not sent to %s)", c->peer);
			c->st[i] = RS_INVALID;
		}
	}
	if ((c->ext & SMTPC_EXT_SIZE) && c->size_max > 0 &&
	    c->len > c->size_max) {
		smtp_reply_set(&r, 552, "5.3.4", "message size %zu exceeds the "
		    "size limit %" PRIu64 " of %s", c->len, c->size_max,
		    c->peer);
		settle(c, &r, SET_UNDECIDED);
		return 0;
	}
	for (i = 0; i < c->nrcpts && c->st[i] == RS_INVALID; i++)
		;
	return i < c->nrcpts;
}

void
smtpc_begin(struct smtpc *c, const char *sender, const char *const *rcpts,
    size_t nrcpts, const uint8_t *body, size_t len,
    struct smtp_client_reply *results)
{
	struct smtp_client_reply r;
	size_t i;

	free(c->st);
	c->st = xcalloc(nrcpts > 0 ? nrcpts : 1, sizeof(*c->st));
	c->sender = sender;
	c->rcpts = rcpts;
	c->nrcpts = nrcpts;
	c->len = len;
	c->res = results;
	c->k = c->first = c->next = c->naccepted = 0;
	c->mail_state = c->data_sent = c->data_354 = 0;
	c->dot_sent = c->empty_dot = c->eight = c->lost_after_dot = 0;
	memset(&c->mail, 0, sizeof(c->mail));
	memset(&c->data, 0, sizeof(c->data));
	for (i = 0; i < nrcpts; i++)
		memset(&results[i], 0, sizeof(results[i]));
	if (c->state != SMTPC_READY || c->broken) {
		smtp_reply_set(&r, 451, "4.4.2", "%s: session not usable",
		    c->peer);
		settle(c, &r, SET_UNDECIDED);
		c->result = -1;
		return;
	}
	c->result = 0;
	if (!tx_check(c))
		return;
	for (i = 0; i < len && !c->eight; i++)
		c->eight = body[i] >= 0x80;
	next_group(c);
}

/* ------------------------------------------------------------ input */

static void
on_reply(struct smtpc *c, struct smtp_client_reply *r)
{
	switch (c->state) {
	case SMTPC_GREETING:
		on_greeting(c, r);
		return;
	case SMTPC_EHLO:
		on_ehlo(c, r);
		return;
	case SMTPC_HELO:
		on_helo(c, r);
		return;
	case SMTPC_STARTTLS:
		on_starttls(c, r);
		return;
	case SMTPC_MAIL:
	case SMTPC_RCPT:
	case SMTPC_DATA:
		on_command(c, r);
		return;
	case SMTPC_DOT:
		on_dot(c, r);
		return;
	case SMTPC_RSET:
		tx_end(c, r->code / 100 == 2 ? 0 : -1);
		return;
	case SMTPC_QUIT:
		c->state = SMTPC_DONE;
		return;
	case SMTPC_TLS:
	case SMTPC_READY:
	case SMTPC_BODY:
	case SMTPC_DONE:
	case SMTPC_FAILED:
		break;
	}
	fatalx("smtpc: reply in state %s", smtpc_state_name(c->state));
}

/* Parses every complete reply while the state waits for one. */
static void
process(struct smtpc *c)
{
	struct smtp_client_reply r;
	char err[256];
	int got;

	while (smtpc_req(c) == SMTPC_REQ_READ) {
		got = smtp_reply_reader_next(&c->rd, &r, c->state ==
		    SMTPC_EHLO ? ehlo_keyword : NULL, c, err, sizeof(err));
		if (got == 0)
			return;
		if (got == -1) {
			smtpc_io_failed(c, err, 0);
			return;
		}
		c->nreplies++;
		if (r.code == 421)
			c->broken = 1;	/* 3.8: the server is closing */
		on_reply(c, &r);
	}
}

void
smtpc_feed(struct smtpc *c, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t take;

	do {
		take = smtp_reply_reader_room(&c->rd);
		if (take > n)
			take = n;
		if (n > 0 && take == 0) {
			smtpc_io_failed(c, "input buffer full", 0);
			return;
		}
		if (take > 0)
			(void)smtp_reply_reader_add(&c->rd, b, take);
		b += take;
		n -= take;
		process(c);
	} while (n > 0 && smtpc_req(c) == SMTPC_REQ_READ);
	if (n > 0 && smtp_reply_reader_add(&c->rd, b, n) == -1)
		smtpc_io_failed(c, "input buffer full", 0);
}

void
smtpc_io_failed(struct smtpc *c, const char *err, int writing)
{
	switch (c->state) {
	case SMTPC_GREETING:
	case SMTPC_EHLO:
	case SMTPC_HELO:
	case SMTPC_STARTTLS:
		smtp_reply_set(&c->fail, 451, "4.4.2", "lost connection with "
		    "%s %s: %s", c->peer, open_phase(c), err);
		c->broken = 1;
		open_failed(c);
		return;
	case SMTPC_MAIL:
	case SMTPC_RCPT:
	case SMTPC_DATA:
		tx_lost(c, cmd_phase(c, writing ? c->first : c->next), err);
		return;
	case SMTPC_BODY:
		tx_lost(c, "message body", err);
		return;
	case SMTPC_DOT:
		tx_lost(c, "end of data", err);
		return;
	case SMTPC_RSET:
		tx_end(c, -1);
		return;
	case SMTPC_QUIT:
		c->broken = 1;
		c->state = SMTPC_DONE;
		return;
	case SMTPC_TLS:
	case SMTPC_READY:
	case SMTPC_DONE:
	case SMTPC_FAILED:
		c->broken = 1;
		return;
	}
	fatalx("smtpc: state %d out of range", (int)c->state);
}

void
smtpc_quit(struct smtpc *c)
{
	buf_reset(&c->out);
	if (c->greeted && !c->broken && c->state != SMTPC_DONE &&
	    c->state != SMTPC_QUIT) {
		send_line(c, "QUIT", NULL);
		c->state = SMTPC_QUIT;
	} else
		c->state = SMTPC_DONE;
}
