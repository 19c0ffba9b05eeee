/*
 * deadline.h - when an idle inbound connection is given up: pure
 * arithmetic over times in milliseconds (no clock, no I/O), so cmocka
 * tests it (tests/unit/test_deadline.c) and conn.c applies it.
 *
 * Rules (the slowloris defence):
 *   greeting pause  the deadline is the end of the pause (the 220 is
 *                   written then);
 *   command         settings.command_timeout counts from when the session
 *                   started waiting for a command line and is not extended
 *                   while a line (or a TLS handshake) is only partly in:
 *                   one byte every few seconds does not keep a client;
 *   DATA            settings.data_timeout from the 354, then each read of
 *                   n bytes extends the deadline by n / data_min_rate
 *                   seconds, never beyond data_timeout from now (Postfix's
 *                   smtpd_min_data_rate); data_min_rate 0: data_timeout
 *                   from the last read, as for silence only;
 *   closing         a 421 being written waits at most 10 s;
 * and never after the session's start + settings.session_max_lifetime.
 */
#ifndef POSTERN_DEADLINE_H
#define POSTERN_DEADLINE_H

#include <stdint.h>

enum deadline_phase {
	DEADLINE_GREET_PAUSE,
	DEADLINE_COMMAND,
	DEADLINE_DATA,
	DEADLINE_CLOSING,
};

#define DEADLINE_CLOSING_MS 10000

struct deadline_in {
	int64_t now;
	int64_t started;	/* the connection was accepted */
	int64_t lifetime_ms;	/* session_max_lifetime; 0 = none */
	enum deadline_phase phase;
	int64_t prev;		/* the deadline set last in this phase; 0 =
				 * none (the phase just began) */
	int line_pending;	/* COMMAND: a line or handshake partly in */
	int64_t timeout_ms;	/* command_timeout or data_timeout */
	uint64_t new_bytes;	/* DATA: bytes read since prev was set */
	int64_t min_rate;	/* DATA: bytes/s; 0 = off */
	int64_t greet_at;	/* GREET_PAUSE: when the 220 is due */
};

/* The next deadline (absolute ms). */
int64_t deadline_next(const struct deadline_in *in);
/* 1 when the session has reached its maximum lifetime at now. */
int deadline_lifetime_over(int64_t now, int64_t started, int64_t lifetime_ms);

#endif
