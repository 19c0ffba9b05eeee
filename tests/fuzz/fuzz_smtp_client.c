/*
 * fuzz_smtp_client.c - libFuzzer target over the SMTP client's state
 * machine (daemon/smtp_client_fsm.c) and, through it, the reply reader
 * (daemon/smtp_reply.c): whatever a hostile or broken server answers.
 *
 * The first byte picks the TLS mode; the rest is split at 0xff bytes into
 * server "reads".  Between reads the driver's part is played as the real
 * driver does: a READY session begins a transaction (two recipients), a
 * TLS request succeeds or fails by a bit of the first byte, a BODY request
 * is answered with body_sent, and output is drained.  Asserts the
 * machine's promises: reply texts are printable ASCII and NUL-terminated,
 * the output buffer stays within its bound, and a finished session makes
 * no further requests.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/buf.h"
#include "daemon/smtp_client_fsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
printable(const struct smtp_client_reply *r)
{
	const char *p;

	if (memchr(r->text, '\0', sizeof(r->text)) == NULL ||
	    memchr(r->ecode, '\0', sizeof(r->ecode)) == NULL)
		abort();
	for (p = r->text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			abort();
}

static void
drive(struct smtpc *c, uint8_t flavour, struct smtp_client_reply *res,
    int *begun)
{
	static const char *const rcpts[] = { "a@x.test", "b@x.test" };
	static const uint8_t body[] = "Subject: x\r\n\r\n.dot\r\n";
	struct smtp_client_reply fail;
	int rounds;

	for (rounds = 0; rounds < 4; rounds++) {
		struct buf *out = smtpc_output(c);

		if (buf_unread(out) > SMTPC_OUT_MAX)
			abort();
		buf_reset(out);
		switch (smtpc_req(c)) {
		case SMTPC_REQ_TLS:
			if (flavour & 0x10) {
				memset(&fail, 0, sizeof(fail));
				smtp_reply_set(&fail, 421, "4.7.5", "handshake "
				    "failed");
				smtpc_tls_done(c, &fail);
			} else
				smtpc_tls_done(c, NULL);
			continue;
		case SMTPC_REQ_BODY:
			smtpc_body_sent(c);
			continue;
		default:
			break;
		}
		if (smtpc_state(c) == SMTPC_READY && !*begun) {
			*begun = 1;
			memset(res, 0, 2 * sizeof(*res));
			smtpc_begin(c, (flavour & 0x20) ? "" : "s@y.test", rcpts,
			    2, body, sizeof(body) - 1, res);
			continue;
		}
		if (smtpc_state(c) == SMTPC_READY && *begun == 1) {
			*begun = 2;
			smtpc_quit(c);
			continue;
		}
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum relay_tls modes[] = { RELAY_TLS_NONE,
	    RELAY_TLS_OPPORTUNISTIC, RELAY_TLS_REQUIRED, RELAY_TLS_IMPLICIT };
	struct smtp_client_reply res[2];
	struct smtpc *c;
	uint8_t flavour = size > 0 ? data[0] : 0;
	size_t start = 1, i;
	int begun = 0;

	memset(res, 0, sizeof(res));
	c = smtpc_new("client.test", "mx.test[192.0.2.1]:25",
	    modes[flavour & 3], (flavour & 3) == 3);
	for (i = 1; i <= size; i++) {
		if (i < size && data[i] != 0xff)
			continue;
		if (i > start)
			smtpc_feed(c, data + start, i - start);
		if ((flavour & 0x40) && i == size)
			smtpc_io_failed(c, "connection reset", 0);
		drive(c, flavour, res, &begun);
		start = i + 1;
	}
	if (smtpc_fail(c) != NULL)
		printable(smtpc_fail(c));
	if (begun) {
		printable(&res[0]);
		printable(&res[1]);
	}
	if ((smtpc_state(c) == SMTPC_DONE || smtpc_state(c) == SMTPC_FAILED) &&
	    smtpc_req(c) != SMTPC_REQ_NONE && smtpc_req(c) != SMTPC_REQ_READ)
		abort();
	smtpc_free(c);
	return 0;
}
