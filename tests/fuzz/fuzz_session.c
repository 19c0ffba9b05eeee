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
check(void *arg, enum smtp_stage st, const struct smtp_facts *f,
    struct smtp_verdict *v)
{
	(void)arg;
	if (st == SMTP_STAGE_RCPT && f->rcpt->domain[0] == 'x')
		return SMTP_PERMFAIL;
	if (st == SMTP_STAGE_DATA && v->headers != NULL && f->nrcpts > 1)
		buf_printf(v->headers, "X-Fuzz: %zu\r\n", f->nrcpts);
	return SMTP_OK;
}

static unsigned
mechs(void *arg, const struct smtp_facts *f, int tls)
{
	(void)arg;
	(void)f;
	return tls ? AUTH_MECH_PLAIN | AUTH_MECH_LOGIN : AUTH_MECH_LOGIN;
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

	for (rounds = 0; rounds < 8; rounds++) {
		switch (smtp_session_request(s)) {
		case SMTP_REQ_NONE:
		case SMTP_REQ_CLOSE:
			return;
		case SMTP_REQ_STARTTLS:
			smtp_session_tls_started(s, "TLSv1.3", "TLS_AES_128_GCM_SHA256");
			break;
		case SMTP_REQ_AUTH:
			smtp_session_resume_auth(s, (flavour & 1) ? SMTP_OK :
			    SMTP_PERMFAIL);
			break;
		case SMTP_REQ_STORE:
			/* Taken as the committer would (or left for the
			 * session to drop). */
			if (flavour & 4)
				store_request_free(smtp_session_take_store(s));
			smtp_session_resume_store(s, (flavour & 2) ? SMTP_OK :
			    SMTP_TEMPFAIL, NULL);
			break;
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
			size_t n;

			if (smtp_session_request(s) == SMTP_REQ_CLOSE)
				break;
			if (i > start + 1 && smtp_session_wants_input(s))
				smtp_session_feed(s, data + start + 1, i - start - 1);
			serve(s, flavour);
			(void)smtp_session_output(s, &n);
			smtp_session_output_done(s, n);
			smtp_session_process(s);
			start = i;
		}
	}
	smtp_session_free(s);
	return 0;
}
