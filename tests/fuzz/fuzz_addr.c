/*
 * fuzz_addr.c - libFuzzer target over the RFC 5321 path and ESMTP
 * parameter parser (daemon/addr.c): addr_parse_cmd() as SENDER and as
 * RECIPIENT, addr_parse_mailbox(), and addr_param_next() over whatever
 * parameters follow the path.  The input is one NUL-terminated command
 * argument (cut at 600 bytes, beyond the 512-octet command line).
 * Asserts the parser's promises: the address and domain it returns are
 * NUL-terminated within their bounds and the domain is lower-case.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
promises(const struct addr *a)
{
	const char *p;

	if (memchr(a->addr, '\0', sizeof(a->addr)) == NULL ||
	    memchr(a->domain, '\0', sizeof(a->domain)) == NULL)
		abort();
	for (p = a->domain; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			abort();
}

static void
params(const char *p)
{
	char key[64], val[512];
	int i, r;

	for (i = 0; i < 64; i++) {
		r = addr_param_next(&p, key, sizeof(key), val, sizeof(val));
		if (r != 1)
			break;
		if (strlen(key) >= sizeof(key) || strlen(val) >= sizeof(val))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[601];
	struct addr a;
	const char *rest;
	int k;

	if (size > 600)
		size = 600;
	memcpy(in, data, size);
	in[size] = '\0';
	for (k = 0; k < 2; k++) {
		memset(&a, 0x5a, sizeof(a));
		if (addr_parse_cmd(in, k == 0 ? ADDR_SENDER : ADDR_RECIPIENT,
		    &a, &rest) == 0) {
			promises(&a);
			params(rest);
		}
	}
	memset(&a, 0x5a, sizeof(a));
	if (addr_parse_mailbox(in, strlen(in), &a) == 0)
		promises(&a);
	return 0;
}
