/*
 * test_dsn.c - unit tests for the DSN builder (daemon/dsn.c): RFC 3464
 * fields per failed recipient, one report for several recipients, the
 * original headers (not the body) in the third part, and refusal for a
 * null sender.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/buf.h"
#include "daemon/dsn.h"

static const char original[] =
    "Received: from x ([127.0.0.1])\r\n\tby mx.test (postern)\r\n"
    "From: a@remote.test\r\nSubject: hello\r\n\r\nsecret body line\r\n";

static struct dsn_params
params(const struct dsn_rcpt *r, size_t n, const char *sender)
{
	struct dsn_params p;

	memset(&p, 0, sizeof(p));
	p.reporting_mta = "mx.test";
	p.from_name = "MAILER-DAEMON";
	p.queue_id = "0000000000000ABC";
	p.sender = sender;
	p.arrival = 1700000000;
	p.now = 1700000100;
	p.original = (const uint8_t *)original;
	p.original_len = sizeof(original) - 1;
	p.rcpts = r;
	p.nrcpts = n;
	return p;
}

static void
test_dsn_two_recipients_one_report(void **state)
{
	struct dsn_rcpt r[2] = {
		{ "bob@remote.test", "5.1.1", "550 5.1.1 no such user",
		    "mx.remote.test[127.0.0.1]:25" },
		{ "carol@remote.test", "4.4.7", "message expired", NULL },
	};
	struct dsn_params p = params(r, 2, "alice@local.test");
	struct buf b;
	const char *s;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(dsn_build(&p, &b), 0);
	s = (const char *)buf_data(&b);
	assert_non_null(strstr(s, "To: <alice@local.test>\r\n"));
	assert_non_null(strstr(s, "From: Mail Delivery System "
	    "<MAILER-DAEMON@mx.test>\r\n"));
	assert_non_null(strstr(s, "Content-Type: multipart/report; "
	    "report-type=delivery-status;"));
	assert_non_null(strstr(s, "Content-Type: message/delivery-status"));
	assert_non_null(strstr(s, "Reporting-MTA: dns; mx.test\r\n"));
	assert_non_null(strstr(s, "Final-Recipient: rfc822; bob@remote.test\r\n"
	    "Action: failed\r\nStatus: 5.1.1\r\n"
	    "Remote-MTA: dns; mx.remote.test[127.0.0.1]:25\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"));
	assert_non_null(strstr(s, "Final-Recipient: rfc822; carol@remote.test\r\n"
	    "Action: failed\r\nStatus: 4.4.7\r\nDiagnostic-Code: smtp; "
	    "message expired\r\n"));
	assert_non_null(strstr(s, "Content-Type: text/rfc822-headers\r\n\r\n"
	    "Received: from x"));
	assert_non_null(strstr(s, "Subject: hello\r\n"));
	assert_null(strstr(s, "secret body line"));
	/* exactly one closing boundary */
	assert_non_null(strstr(s, "--\r\n"));
	assert_int_equal(s[buf_unread(&b) - 1], '\n');
	buf_free(&b);
}

static void
test_dsn_null_sender_refused(void **state)
{
	struct dsn_rcpt r[1] = { { "bob@remote.test", "5.1.1", "x", NULL } };
	struct dsn_params p = params(r, 1, "");
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(dsn_build(&p, &b), -1);
	p.sender = NULL;
	assert_int_equal(dsn_build(&p, &b), -1);
	buf_free(&b);
}

static void
test_dsn_too_small_buffer_fails(void **state)
{
	struct dsn_rcpt r[1] = { { "bob@remote.test", "5.1.1", "x", NULL } };
	struct dsn_params p = params(r, 1, "alice@local.test");
	struct buf b;

	(void)state;
	buf_init(&b, 200);
	assert_int_equal(dsn_build(&p, &b), -1);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dsn_two_recipients_one_report),
		cmocka_unit_test(test_dsn_null_sender_refused),
		cmocka_unit_test(test_dsn_too_small_buffer_fails),
	};

	return cmocka_run_group_tests_name("dsn", tests, NULL, NULL);
}
