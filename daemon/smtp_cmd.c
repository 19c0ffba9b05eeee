/*
 * smtp_cmd.c - the SMTP command table and its handlers (RFC 5321 4.1).
 *
 * Every command goes through the one const table below (docs/style.md rule 8);
 * the last entry catches unknown commands.  A command has an optional
 * check (order and syntax, no side effects; it replies and returns -1 to
 * refuse) and a run.  The dispatcher, smtp_cmd_line(), applies the flags,
 * in this order:
 *   CMD_CLOSE_NOW      not an SMTP client (HTTP verbs): 421 4.7.0 and
 *                      close; nothing else runs
 *   CMD_NEEDS_HELO     refused with 503 5.5.1 before HELO/EHLO
 *   (the check)
 *   CMD_LAST_CLOSE     last in a pipelined group (RFC 2920 3.1) and the
 *                      client must wait for our reply: input already
 *                      buffered behind it is improper pipelining, answered
 *                      554 5.5.0, and the session closes (DATA: the SMTP
 *                      smuggling guard)
 *   CMD_LAST_DISCARD   last in a group, and input behind it is dropped
 *                      unanswered (STARTTLS, RFC 3207 4.2: plaintext must
 *                      not reach the TLS session)
 *   (the run)
 * RFC 2920 also makes EHLO, HELO and QUIT last in a group; we tolerate
 * input behind them (as Postfix does): EHLO/HELO reset nothing a pipelined
 * command could exploit, and QUIT closes.
 *
 * Policy: the check hook (rules and built-in acceptance in the daemon) is
 * consulted at EHLO/HELO, MAIL and RCPT after the syntax checks; without a
 * hook every syntactically valid command is accepted (unit tests).
 */
#include "daemon/smtp_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/log.h"
#include "daemon/util.h"

#define CMD_NEEDS_HELO 0x1
#define CMD_LAST_CLOSE 0x2
#define CMD_LAST_DISCARD 0x4
#define CMD_CLOSE_NOW 0x8

struct smtp_cmd {
	const char *name;
	const char *logname;
	int (*check)(struct smtp_session *, const char *arg);
	void (*run)(struct smtp_session *, char *arg);
	int flags;
};

static void cmd_helo(struct smtp_session *, char *);
static void cmd_ehlo(struct smtp_session *, char *);
static void cmd_mail(struct smtp_session *, char *);
static void cmd_rcpt(struct smtp_session *, char *);
static int check_data(struct smtp_session *, const char *);
static void cmd_data(struct smtp_session *, char *);
static void cmd_rset(struct smtp_session *, char *);
static void cmd_noop(struct smtp_session *, char *);
static void cmd_quit(struct smtp_session *, char *);
static void cmd_help(struct smtp_session *, char *);
static void cmd_vrfy(struct smtp_session *, char *);
static void cmd_expn(struct smtp_session *, char *);
static int check_starttls(struct smtp_session *, const char *);
static void cmd_starttls(struct smtp_session *, char *);
static void cmd_auth(struct smtp_session *, char *);
static void cmd_unknown(struct smtp_session *, char *);

static const struct smtp_cmd smtp_cmds[] = {
	{ "HELO", "helo", NULL, cmd_helo, 0 },
	{ "EHLO", "ehlo", NULL, cmd_ehlo, 0 },
	{ "MAIL", "mail", NULL, cmd_mail, CMD_NEEDS_HELO },
	{ "RCPT", "rcpt", NULL, cmd_rcpt, CMD_NEEDS_HELO },
	{ "DATA", "data", check_data, cmd_data,
	    CMD_NEEDS_HELO | CMD_LAST_CLOSE },
	{ "RSET", "rset", NULL, cmd_rset, 0 },
	{ "NOOP", "noop", NULL, cmd_noop, 0 },
	{ "QUIT", "quit", NULL, cmd_quit, 0 },
	{ "HELP", "help", NULL, cmd_help, 0 },
	{ "VRFY", "vrfy", NULL, cmd_vrfy, 0 },
	{ "EXPN", "expn", NULL, cmd_expn, 0 },
	{ "STARTTLS", "starttls", check_starttls, cmd_starttls,
	    CMD_LAST_DISCARD },
	{ "AUTH", "auth", NULL, cmd_auth, CMD_NEEDS_HELO },
	{ "GET", "get", NULL, NULL, CMD_CLOSE_NOW },
	{ "POST", "post", NULL, NULL, CMD_CLOSE_NOW },
	{ "HEAD", "head", NULL, NULL, CMD_CLOSE_NOW },
	{ "PUT", "put", NULL, NULL, CMD_CLOSE_NOW },
	{ "CONNECT", "connect", NULL, NULL, CMD_CLOSE_NOW },
	{ NULL, "unknown", NULL, cmd_unknown, 0 },
};

void
smtp_cmd_line(struct smtp_session *s, char *line, size_t len)
{
	const struct smtp_cmd *c;
	size_t vlen = 0;
	char *arg;

	(void)len;
	while (line[vlen] != '\0' && line[vlen] != ' ')
		vlen++;
	arg = line + vlen;
	while (*arg == ' ')
		arg++;
	for (c = smtp_cmds; c->name != NULL; c++)
		if (strlen(c->name) == vlen && strncasecmp(line, c->name, vlen) == 0)
			break;
	if (c->flags & CMD_CLOSE_NOW) {
		smtp_reply(s, 421, "4.7.0", "%s Not an SMTP client, closing",
		    s->p.hostname);
		smtp_close(s, "http command");
		return;
	}
	if ((c->flags & CMD_NEEDS_HELO) && s->helo[0] == '\0') {
		smtp_reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	if (c->check != NULL && c->check(s, arg) == -1)
		return;
	if ((c->flags & CMD_LAST_CLOSE) && buf_unread(&s->in) > 0) {
		/* RFC 2920 3.1: text sent before our reply is improper
		 * pipelining (and a smuggling vector). */
		smtp_reply(s, 554, "5.5.0", "Error: improper command pipelining "
		    "after %s", c->name);
		smtp_close(s, "improper pipelining");
		return;
	}
	if (c->flags & CMD_LAST_DISCARD) {
		s->discarded = buf_unread(&s->in);
		if (s->discarded > 0)
			log_info("%016" PRIx64 " smtp %s discarded=%zu "
			    "(plaintext sent after %s)", s->id, c->logname,
			    s->discarded, c->name);
		buf_reset(&s->in);
	}
	c->run(s, arg);
}

static int
helo_check(struct smtp_session *s, const char *verb, const char *arg)
{
	size_t i;

	if (*arg == '\0') {
		smtp_reply(s, 501, "5.5.4", "Syntax: %s hostname", verb);
		return -1;
	}
	for (i = 0; arg[i] != '\0'; i++) {
		unsigned char c = (unsigned char)arg[i];

		if (c < 0x21 || c > 0x7e || i >= 255) {
			smtp_reply(s, 501, "5.5.4", "Invalid %s hostname", verb);
			return -1;
		}
	}
	return 0;
}

/* Rules at EHLO/HELO.  Returns 0 to go on, -1 after refusing. */
static int
helo_policy(struct smtp_session *s)
{
	struct smtp_verdict v;

	if (smtp_policy(s, SMTP_STAGE_EHLO, NULL, NULL, &v) == SMTP_OK)
		return 0;
	s->helo[0] = '\0';
	if (v.reply.code == 0)
		smtp_reply(s, 550, "5.7.1", "Access denied");
	else
		smtp_reply_r(s, &v.reply);
	return -1;
}

static void
cmd_helo(struct smtp_session *s, char *arg)
{
	if (helo_check(s, "HELO", arg) == -1)
		return;
	smtp_tx_free(s);
	str_copy(s->helo, arg, sizeof(s->helo));
	s->esmtp = 0;
	if (helo_policy(s) == -1)
		return;
	smtp_reply(s, 250, NULL, "%s", s->p.hostname);
}

static void
cmd_ehlo(struct smtp_session *s, char *arg)
{
	unsigned mechs;

	if (helo_check(s, "EHLO", arg) == -1)
		return;
	smtp_tx_free(s);
	str_copy(s->helo, arg, sizeof(s->helo));
	s->esmtp = 1;
	if (helo_policy(s) == -1)
		return;
	/* Multi-line reply (RFC 5321 4.2.1); written directly, it is a 250. */
	buf_printf(&s->out, "250-%s Hello [%s]\r\n", s->p.hostname,
	    s->client_addr);
	buf_printf(&s->out, "250-PIPELINING\r\n");
	buf_printf(&s->out, "250-SIZE %" PRIu64 "\r\n", s->p.max_size);
	if (!s->tls && s->p.starttls_offer)
		buf_printf(&s->out, "250-STARTTLS\r\n");
	mechs = smtp_auth_offered(s);
	if (mechs != 0)
		buf_printf(&s->out, "250-AUTH%s%s\r\n",
		    (mechs & AUTH_MECH_PLAIN) ? " PLAIN" : "",
		    (mechs & AUTH_MECH_LOGIN) ? " LOGIN" : "");
	buf_printf(&s->out, "250-ENHANCEDSTATUSCODES\r\n");
	smtp_reply(s, 250, NULL, "8BITMIME");
}

static void
cmd_mail(struct smtp_session *s, char *arg)
{
	struct addr a;
	struct smtp_verdict v;
	const char *params;
	char key[32], val[64];
	uint64_t size = 0;
	int r;

	if (s->tx != NULL) {
		smtp_reply(s, 503, "5.5.1", "Error: nested MAIL command");
		return;
	}
	if (addr_parse_cmd(arg, ADDR_SENDER, &a, &params) == -1) {
		smtp_reply(s, 501, "5.1.7", "Bad sender address syntax");
		return;
	}
	while ((r = addr_param_next(&params, key, sizeof(key), val,
	    sizeof(val))) == 1) {
		if (strcasecmp(key, "SIZE") == 0) {
			char *end = NULL;

			size = strtoull(val, &end, 10);
			if (val[0] == '\0' || *end != '\0' || strlen(val) > 19) {
				smtp_reply(s, 501, "5.5.4", "Bad SIZE parameter");
				return;
			}
		} else if (strcasecmp(key, "BODY") == 0) {
			if (strcasecmp(val, "7BIT") != 0 &&
			    strcasecmp(val, "8BITMIME") != 0) {
				smtp_reply(s, 501, "5.5.4", "Bad BODY parameter");
				return;
			}
		} else if (strcasecmp(key, "AUTH") == 0) {
			/* RFC 4954 5: accepted and ignored. */
		} else {
			smtp_reply(s, 555, "5.5.4", "Unsupported parameter %s", key);
			return;
		}
	}
	if (r == -1) {
		smtp_reply(s, 501, "5.5.4", "Bad parameter syntax");
		return;
	}
	if (size > s->p.max_size) {
		smtp_reply(s, 552, "5.3.4", "Message size exceeds fixed maximum "
		    "message size (%" PRIu64 " bytes)", s->p.max_size);
		return;
	}
	if (s->auth_user[0] != '\0' && s->h.auth_current != NULL &&
	    !s->h.auth_current(s->h.auth_arg, s->auth_user)) {
		char esc[128];

		log_info("%016" PRIx64 " smtp auth revoked client=%s user=\"%s\" "
		    "reason=account disabled or password changed", s->id,
		    s->client_addr, log_escape(esc, sizeof(esc), s->auth_user,
		    strlen(s->auth_user)));
		s->auth_user[0] = '\0';
	}
	s->tx = xcalloc(1, sizeof(*s->tx));
	s->tx->sender = a;
	s->tx->declared_size = size;
	spool_init(&s->tx->body);
	if (smtp_policy(s, SMTP_STAGE_MAIL, NULL, NULL, &v) != SMTP_OK) {
		smtp_tx_free(s);
		if (v.reply.code == 0)
			smtp_reply(s, 550, "5.7.1", "Sender rejected");
		else
			smtp_reply_r(s, &v.reply);
		return;
	}
	smtp_reply(s, 250, "2.1.0", "Ok");
}

/* 1 if the transaction already stores a (case-insensitively). */
static int
tx_has_rcpt(const struct smtp_tx *tx, const struct addr *a)
{
	unsigned i;

	for (i = 0; i < tx->nrcpts; i++)
		if (strcasecmp(tx->rcpts[i].addr.addr, a->addr) == 0)
			return 1;
	return 0;
}

static void
tx_add_rcpt(struct smtp_tx *tx, const struct store_rcpt *rc)
{
	if (tx->nrcpts == tx->cap_rcpts) {
		tx->cap_rcpts = tx->cap_rcpts ? tx->cap_rcpts * 2 : 4;
		tx->rcpts = xrealloc(tx->rcpts,
		    tx->cap_rcpts * sizeof(*tx->rcpts));
	}
	tx->rcpts[tx->nrcpts++] = *rc;
}

/*
 * Policy may answer with the recipients to store (v.targets: alias
 * expansion); else the recipient the client gave is stored.  Recipients
 * already in the transaction are stored once; the total stays within
 * max_recipients (452 4.5.3, nothing of this RCPT stored).
 */
static void
cmd_rcpt(struct smtp_session *s, char *arg)
{
	struct smtp_verdict v;
	struct store_rcpt rc;
	const char *params;
	enum smtp_result res;
	size_t i, n, fresh = 0;

	if (s->tx == NULL) {
		smtp_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	memset(&rc, 0, sizeof(rc));
	if (addr_parse_cmd(arg, ADDR_RECIPIENT, &rc.addr, &params) == -1) {
		smtp_reply(s, 501, "5.1.3", "Bad recipient address syntax");
		return;
	}
	if (*params != '\0') {
		smtp_reply(s, 555, "5.5.4", "Unsupported RCPT parameter");
		return;
	}
	if (s->tx->nrcpts >= s->p.max_rcpts) {
		smtp_reply(s, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	res = smtp_policy(s, SMTP_STAGE_RCPT, &rc.addr, NULL, &v);
	if (res != SMTP_OK) {
		free(v.targets);
		if (v.reply.code == 0) {
			if (res == SMTP_TEMPFAIL)
				smtp_reply(s, 451, "4.3.0",
				    "Temporary lookup failure");
			else
				smtp_reply(s, 550, "5.1.1",
				    "Recipient address rejected");
		} else {
			smtp_reply_r(s, &v.reply);
		}
		return;
	}
	rc.route = v.route;
	n = v.targets != NULL ? v.ntargets : 1;
	for (i = 0; i < n; i++)
		if (!tx_has_rcpt(s->tx, v.targets != NULL ?
		    &v.targets[i].addr : &rc.addr))
			fresh++;
	if (s->tx->nrcpts + fresh > s->p.max_rcpts) {
		free(v.targets);
		smtp_reply(s, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	for (i = 0; i < n; i++) {
		const struct store_rcpt *t = v.targets != NULL ?
		    &v.targets[i] : &rc;

		if (!tx_has_rcpt(s->tx, &t->addr))
			tx_add_rcpt(s->tx, t);
	}
	free(v.targets);
	if (v.reply.code != 0)
		smtp_reply_r(s, &v.reply);
	else
		smtp_reply(s, 250, "2.1.5", "Ok");
}

static int
check_data(struct smtp_session *s, const char *arg)
{
	if (*arg != '\0') {
		smtp_reply(s, 501, "5.5.4", "Syntax: DATA");
		return -1;
	}
	if (s->tx == NULL) {
		smtp_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return -1;
	}
	if (s->tx->nrcpts == 0) {
		smtp_reply(s, 554, "5.5.1", "Error: no valid recipients");
		return -1;
	}
	return 0;
}

static void
cmd_data(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_data_begin(s);
}

static void
cmd_rset(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_tx_free(s);
	smtp_reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_noop(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_quit(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, 221, "2.0.0", "Bye");
	smtp_close(s, "quit");
}

static void
cmd_help(struct smtp_session *s, char *arg)
{
	(void)arg;
	buf_printf(&s->out, "214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET"
	    " NOOP QUIT HELP VRFY STARTTLS AUTH\r\n");
	smtp_reply(s, 214, "2.0.0", "See RFC 5321");
}

static void
cmd_vrfy(struct smtp_session *s, char *arg)
{
	if (*arg == '\0') {
		smtp_reply(s, 501, "5.5.4", "Syntax: VRFY address");
		return;
	}
	/* RFC 5321 3.5.3: 252 discloses nothing about accounts. */
	smtp_reply(s, 252, "2.5.2", "Cannot VRFY user, but will accept "
	    "message and attempt delivery");
}

static void
cmd_expn(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, 502, "5.5.1", "EXPN not available");
}

static int
check_starttls(struct smtp_session *s, const char *arg)
{
	if (s->tls) {
		smtp_reply(s, 503, "5.5.1", "Error: TLS already active");
		return -1;
	}
	if (!s->p.starttls_offer) {
		smtp_reply(s, 502, "5.5.1", "Error: STARTTLS not available");
		return -1;
	}
	if (*arg != '\0') {
		smtp_reply(s, 501, "5.5.4", "Syntax: STARTTLS");
		return -1;
	}
	return 0;
}

static void
cmd_starttls(struct smtp_session *s, char *arg)
{
	(void)arg;
	/* The dispatcher dropped pipelined plaintext (CMD_LAST_DISCARD). */
	smtp_reply(s, 220, "2.0.0", "Ready to start TLS");
	smtp_tx_free(s);
	smtp_request(s, SMTP_REQ_STARTTLS);
}

static void
cmd_auth(struct smtp_session *s, char *arg)
{
	smtp_auth_cmd(s, arg);
}

static void
cmd_unknown(struct smtp_session *s, char *arg)
{
	(void)arg;
	smtp_reply(s, 500, "5.5.2", "Error: command not recognized");
}
