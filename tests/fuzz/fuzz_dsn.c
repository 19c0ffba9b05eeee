/*
 * fuzz_dsn.c - libFuzzer target over the DSN builder (daemon/dsn.c).
 * The input is split at 0xff bytes: the first part is the original
 * message, the next ones are (address, status, diagnostic) triples of
 * failed recipients, the sender and remote MTA taken from the first
 * recipient's fields.  Inputs are shaped as callers guarantee them: the
 * original has CRLF line ends (DATA refuses bare CR and LF) and the
 * recipient fields have no CR or LF.  Asserts that the output stays within
 * the buffer's bound and, when built, has only CRLF line ends (no header
 * injection, no line cut in half by the 64 KiB header limit).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/dsn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXPART 32

/* Copies n bytes into dst (room for 2n+1): the original with every line
 * ended by CRLF, a field with CR/LF turned into spaces.  Returns the
 * length. */
static size_t
shape(char *dst, const uint8_t *src, size_t n, int original)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char ch = (char)src[i];

		if (ch == '\r' || ch == '\n' || ch == '\0') {
			if (!original || ch == '\0') {
				dst[o++] = ' ';
				continue;
			}
			if (ch == '\r' && i + 1 < n && src[i + 1] == '\n')
				i++;
			dst[o++] = '\r';
			dst[o++] = '\n';
			continue;
		}
		dst[o++] = ch;
	}
	dst[o] = '\0';
	return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *part[MAXPART];
	size_t plen[MAXPART];
	struct dsn_rcpt rc[MAXPART / 3];
	struct dsn_params p;
	struct buf out;
	size_t n = 0, start = 0, i, nr = 0;

	for (i = 0; i <= size && n < MAXPART; i++)
		if (i == size || data[i] == 0xff) {
			part[n] = malloc(2 * (i - start) + 1);
			if (part[n] == NULL)
				abort();
			plen[n] = shape(part[n], data + start, i - start,
			    n == 0);
			n++;
			start = i + 1;
		}
	for (i = 1; i + 2 < n && nr < MAXPART / 3; i += 3, nr++) {
		rc[nr].address = part[i];
		rc[nr].status = part[i + 1];
		rc[nr].diagnostic = part[i + 2];
		rc[nr].remote_mta = (nr & 1) ? part[i] : NULL;
	}
	memset(&p, 0, sizeof(p));
	p.reporting_mta = "mx.fuzz.test";
	p.from_name = "MAILER-DAEMON";
	p.queue_id = "0123456789ABCDEF";
	p.sender = nr > 0 ? rc[0].address : "";
	p.arrival = 1700000000;
	p.now = 1700000100;
	p.original = (const uint8_t *)part[0];
	p.original_len = plen[0];
	p.rcpts = rc;
	p.nrcpts = nr;
	buf_init(&out, 256 * 1024);
	if (dsn_build(&p, &out) == 0) {
		const uint8_t *d = out.data + out.off;
		size_t len = out.len - out.off, j;

		if (out.len > out.max)
			abort();
		for (j = 0; j < len; j++)
			if (d[j] == '\n' && (j == 0 || d[j - 1] != '\r'))
				abort();
	}
	buf_free(&out);
	for (i = 0; i < n; i++)
		free(part[i]);
	return 0;
}
