/*
 * smtp_auth.c - SMTP AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN.
 *
 * Policy: the mechanisms offered come from the auth_mechs hook (the rules'
 * auth_plain / auth_tls decisions in the daemon).  By default none are
 * offered in clear, so AUTH is neither advertised nor accepted there:
 * "530 5.7.0 Must issue a STARTTLS command first" when STARTTLS could be
 * used and AUTH would be offered after it.  Credentials are
 * handed to the I/O layer as SMTP_REQ_AUTH and never logged; the password
 * copy is wiped as soon as the result comes back.  "*" cancels an exchange
 * (501 5.7.0); undecodable base64 is 501 5.5.2.  After max_auth_failures
 * failures the session ends with 421 4.7.0.  Slowing down repeated failures
 * is the I/O layer's job (it delays the resume).
 */
#include "daemon/smtp_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/util.h"

unsigned
smtp_auth_offered(const struct smtp_session *s)
{
	return smtp_auth_mechs(s, s->tls);
}

/* Would AUTH be offered after STARTTLS? */
static unsigned
auth_offered_tls(const struct smtp_session *s)
{
	return smtp_auth_mechs(s, 1);
}

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict RFC 4648 base64: length a multiple of 4, padding only at the end.
 * Returns 0 or -1 (bad input or output would exceed outmax). */
int
smtp_base64_decode(const char *in, size_t inlen, unsigned char *out,
    size_t outmax, size_t *outlen)
{
	size_t i, o = 0;

	if (inlen % 4 != 0)
		return -1;
	for (i = 0; i < inlen; i += 4) {
		int v[4], k, pad = 0;

		for (k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];

			if (c == '=' && i + 4 == inlen && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad > 0 || (v[k] = b64val(c)) < 0) {
				return -1;
			}
		}
		if (o + 3 - (size_t)pad > outmax)
			return -1;
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	*outlen = o;
	return 0;
}

static void
auth_abort(struct smtp_session *s)
{
	wipe(s->req_user, sizeof(s->req_user));
	wipe(s->req_pass, sizeof(s->req_pass));
	smtp_enter_state(s, SMTP_S_CMD);
}

static void
auth_submit(struct smtp_session *s)
{
	smtp_request(s, SMTP_REQ_AUTH);
}

/* PLAIN response: [authzid] NUL authcid NUL passwd. */
static void
auth_plain_response(struct smtp_session *s, const char *b64, size_t n)
{
	unsigned char dec[1024];
	size_t dlen = 0;
	const unsigned char *p1, *p2;
	size_t ulen, plen;

	if (smtp_base64_decode(b64, n, dec, sizeof(dec) - 1, &dlen) == -1) {
		auth_abort(s);
		smtp_reply(s, 501, "5.5.2", "Cannot decode AUTH response");
		goto out;
	}
	p1 = memchr(dec, '\0', dlen);
	p2 = p1 ? memchr(p1 + 1, '\0', dlen - (size_t)(p1 + 1 - dec)) : NULL;
	if (p1 == NULL || p2 == NULL) {
		auth_abort(s);
		smtp_reply(s, 501, "5.5.2", "Invalid AUTH PLAIN response");
		goto out;
	}
	ulen = (size_t)(p2 - (p1 + 1));
	plen = dlen - (size_t)(p2 + 1 - dec);
	if (ulen == 0 || ulen >= sizeof(s->req_user) ||
	    plen >= sizeof(s->req_pass)) {
		auth_abort(s);
		smtp_reply(s, 501, "5.5.2", "Invalid AUTH PLAIN response");
		goto out;
	}
	memcpy(s->req_user, p1 + 1, ulen);
	s->req_user[ulen] = '\0';
	memcpy(s->req_pass, p2 + 1, plen);
	s->req_pass[plen] = '\0';
	auth_submit(s);
out:
	wipe(dec, sizeof(dec));
}

static int
auth_login_field(struct smtp_session *s, const char *b64, size_t n, char *dst,
    size_t dstlen)
{
	unsigned char dec[600];
	size_t dlen = 0;
	int r = -1;

	if (smtp_base64_decode(b64, n, dec, sizeof(dec), &dlen) == -1) {
		auth_abort(s);
		smtp_reply(s, 501, "5.5.2", "Cannot decode AUTH response");
		goto out;
	}
	if (dlen >= dstlen || memchr(dec, '\0', dlen) != NULL) {
		auth_abort(s);
		smtp_reply(s, 501, "5.5.2", "Invalid AUTH LOGIN response");
		goto out;
	}
	memcpy(dst, dec, dlen);
	dst[dlen] = '\0';
	r = 0;
out:
	wipe(dec, sizeof(dec));
	return r;
}

void
smtp_auth_cmd(struct smtp_session *s, char *arg)
{
	unsigned offered = smtp_auth_offered(s);
	char *mech = arg, *init = NULL;

	if (offered == 0) {
		if (!s->tls && s->p.starttls_offer && auth_offered_tls(s) != 0)
			smtp_reply(s, 530, "5.7.0", "Must issue a STARTTLS command "
			    "first");
		else
			smtp_reply(s, 503, "5.5.1", "Error: authentication not "
			    "enabled");
		return;
	}
	if (s->auth_user[0] != '\0') {
		smtp_reply(s, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	if (s->tx != NULL) {
		smtp_reply(s, 503, "5.5.1", "Error: MAIL transaction in progress");
		return;
	}
	init = strchr(arg, ' ');
	if (init != NULL) {
		*init++ = '\0';
		while (*init == ' ')
			init++;
	}
	if (strcasecmp(mech, "PLAIN") == 0 && (offered & AUTH_MECH_PLAIN)) {
		s->auth_mech = AUTH_MECH_PLAIN;
		if (init == NULL || *init == '\0') {
			smtp_reply(s, 334, NULL, "%s", "");
			smtp_enter_state(s, SMTP_S_AUTH_PLAIN);
			return;
		}
		if (strcmp(init, "=") == 0) {
			/* RFC 4954 4: "=" is an empty initial response. */
			auth_abort(s);
			smtp_reply(s, 501, "5.5.2", "Invalid AUTH PLAIN response");
			return;
		}
		auth_plain_response(s, init, strlen(init));
	} else if (strcasecmp(mech, "LOGIN") == 0 &&
	    (offered & AUTH_MECH_LOGIN)) {
		s->auth_mech = AUTH_MECH_LOGIN;
		if (init == NULL || *init == '\0') {
			smtp_reply(s, 334, NULL, "VXNlcm5hbWU6");
			smtp_enter_state(s, SMTP_S_AUTH_LOGIN_USER);
			return;
		}
		if (auth_login_field(s, init, strlen(init), s->req_user,
		    sizeof(s->req_user)) == -1)
			return;
		smtp_reply(s, 334, NULL, "UGFzc3dvcmQ6");
		smtp_enter_state(s, SMTP_S_AUTH_LOGIN_PASS);
	} else {
		smtp_reply(s, 504, "5.5.4", "Unrecognized authentication type");
	}
}

void
smtp_auth_line(struct smtp_session *s, char *line, size_t len)
{
	if (len == 1 && line[0] == '*') {
		auth_abort(s);
		smtp_reply(s, 501, "5.7.0", "Authentication cancelled");
		return;
	}
	switch (s->state) {
	case SMTP_S_AUTH_PLAIN:
		auth_plain_response(s, line, len);
		break;
	case SMTP_S_AUTH_LOGIN_USER:
		if (auth_login_field(s, line, len, s->req_user,
		    sizeof(s->req_user)) == -1)
			return;
		smtp_reply(s, 334, NULL, "UGFzc3dvcmQ6");
		smtp_enter_state(s, SMTP_S_AUTH_LOGIN_PASS);
		break;
	case SMTP_S_AUTH_LOGIN_PASS:
		if (auth_login_field(s, line, len, s->req_pass,
		    sizeof(s->req_pass)) == -1)
			return;
		auth_submit(s);
		break;
	case SMTP_S_GREETING:
	case SMTP_S_CMD:
	case SMTP_S_DATA:
	case SMTP_S_WAIT:
	case SMTP_S_CLOSED:
		fatalx("smtp: AUTH response line in state %d", (int)s->state);
	}
}

void
smtp_session_resume_auth_throttled(struct smtp_session *s)
{
	s->req = SMTP_REQ_NONE;
	smtp_enter_state(s, SMTP_S_CMD);
	wipe(s->req_pass, sizeof(s->req_pass));
	wipe(s->req_user, sizeof(s->req_user));
	smtp_reply(s, 454, "4.7.0", "Too many failed authentication attempts "
	    "from your address, try again later");
	smtp_session_process(s);
}

void
smtp_session_resume_auth(struct smtp_session *s, enum smtp_result r)
{
	char esc[128];

	s->req = SMTP_REQ_NONE;
	smtp_enter_state(s, SMTP_S_CMD);
	wipe(s->req_pass, sizeof(s->req_pass));
	log_escape(esc, sizeof(esc), s->req_user, strlen(s->req_user));
	switch (r) {
	case SMTP_OK:
		str_copy(s->auth_user, s->req_user, sizeof(s->auth_user));
		log_info("%016" PRIx64 " smtp auth ok client=%s user=\"%s\" "
		    "mechanism=%s", s->id, s->client_addr, esc,
		    s->auth_mech == AUTH_MECH_PLAIN ? "PLAIN" : "LOGIN");
		smtp_reply(s, 235, "2.7.0", "Authentication successful");
		break;
	case SMTP_TEMPFAIL:
		smtp_reply(s, 454, "4.7.0", "Temporary authentication failure");
		break;
	case SMTP_PERMFAIL:
		s->auth_failures++;
		log_info("%016" PRIx64 " smtp auth failed client=%s user=\"%s\" "
		    "failures=%u", s->id, s->client_addr, esc, s->auth_failures);
		smtp_reply(s, 535, "5.7.8", "Authentication credentials invalid");
		if (s->auth_failures >= s->p.max_auth_failures &&
		    s->req != SMTP_REQ_CLOSE) {
			smtp_reply(s, 421, "4.7.0", "%s Too many failed "
			    "authentication attempts", s->p.hostname);
			smtp_close(s, "too many auth failures");
		}
		break;
	}
	wipe(s->req_user, sizeof(s->req_user));
	smtp_session_process(s);
}
