/*
 * fuzz_session.c - libFuzzer target over the SMTP session state machine
 * (smtp_session_feed) and, through it, the address parser and base64
 * decoder.  The input is split at 0xff bytes into feeds, so the fuzzer
 * explores arbitrary chunking; requests are answered (STARTTLS done, AUTH
 * failed or succeeded by the first byte, STORE committed) so every state is
 * reachable.  Output is drained as it grows.
 *
 *   make fuzz            (builds build-fuzz/fuzz_session, runs 60 s)
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "daemon/smtp_session.h"

static enum smtp_result
check(void *arg, struct smtp_session *s, enum smtp_stage st,
    struct smtp_rcpt *rc, struct smtp_reply *r)
{
	(void)arg;
	(void)s;
	(void)r;
	if (st == SMTP_STAGE_RCPT && rc->addr.domain[0] == 'x')
		return SMTP_PERMFAIL;
	return SMTP_OK;
}

static unsigned
mechs(void *arg, const struct smtp_session *s, int tls)
{
	(void)arg;
	(void)s;
	return tls ? SMTP_AUTH_PLAIN | SMTP_AUTH_LOGIN : SMTP_AUTH_LOGIN;
}

static uint64_t
new_id(void *arg)
{
	(void)arg;
	return 42;
}

static void
serve(struct smtp_session *s, uint8_t flavour)
{
	int rounds;

	for (rounds = 0; rounds < 8 && s->req != SMTP_REQ_NONE &&
	    s->req != SMTP_REQ_CLOSE; rounds++) {
		switch (s->req) {
		case SMTP_REQ_STARTTLS:
			smtp_session_tls_started(s, "TLSv1.3", "TLS_AES_128_GCM_SHA256");
			break;
		case SMTP_REQ_AUTH:
			smtp_session_resume_auth(s, (flavour & 1) ? SMTP_OK :
			    SMTP_PERMFAIL);
			break;
		case SMTP_REQ_STORE:
			smtp_session_resume_store(s, (flavour & 2) ? SMTP_OK :
			    SMTP_TEMPFAIL, NULL);
			break;
		default:
			return;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_params p;
	struct smtp_hooks h;
	struct smtp_session *s;
	size_t start = 0, i;
	uint8_t flavour = size > 0 ? data[0] : 0;

	memset(&p, 0, sizeof(p));
	strcpy(p.hostname, "fuzz.test");
	strcpy(p.listener, "smtp");
	p.starttls_offer = 1;
	p.max_size = 4096;
	p.max_rcpts = 5;
	p.max_errors = 50;
	p.max_auth_failures = 3;
	memset(&h, 0, sizeof(h));
	h.check = check;
	h.auth_mechs = mechs;
	h.new_id = new_id;
	s = smtp_session_new(&p, &h, 1, "192.0.2.1", 0);
	smtp_session_start(s, NULL);
	for (i = 1; i <= size; i++) {
		if (i == size || data[i] == 0xff) {
			if (s->req == SMTP_REQ_CLOSE)
				break;
			if (i > start + 1 && smtp_session_wants_input(s))
				smtp_session_feed(s, data + start + 1, i - start - 1);
			serve(s, flavour);
			buf_consume(&s->out, buf_unread(&s->out));
			smtp_session_process(s);
			start = i;
		}
	}
	smtp_session_free(s);
	return 0;
}
