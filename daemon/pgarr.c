/*
 * pgarr.c - binary array parameters.  See pgarr.h.
 *
 * Layout (PostgreSQL src/backend/utils/adt/arrayfuncs.c array_send):
 *   int32 ndim = 1, int32 flags (1 if any NULL), uint32 element type OID,
 *   int32 dimension length, int32 lower bound = 1,
 *   then per element int32 length (-1 for NULL) and the bytes.
 * The 20-byte header is reserved at init and filled by pgarr_finish.
 */
#include "daemon/pgarr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/util.h"

#define HDR 20

static void
put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

void
pgarr_init(struct pgarr *a, uint32_t oid)
{
	memset(a, 0, sizeof(*a));
	a->oid = oid;
	a->cap = 256;
	a->data = xmalloc(a->cap);
	a->len = HDR;
}

void
pgarr_free(struct pgarr *a)
{
	free(a->data);
	memset(a, 0, sizeof(*a));
}

static void
grow(struct pgarr *a, size_t n)
{
	if (a->len + n <= a->cap)
		return;
	while (a->len + n > a->cap)
		a->cap *= 2;
	a->data = xrealloc(a->data, a->cap);
}

uint8_t *
pgarr_add_space(struct pgarr *a, size_t n)
{
	uint8_t *p;

	grow(a, 4 + n);
	put32(a->data + a->len, (uint32_t)n);
	p = a->data + a->len + 4;
	a->len += 4 + n;
	a->count++;
	return p;
}

void
pgarr_add_bytes(struct pgarr *a, const void *p, size_t n)
{
	uint8_t *d = pgarr_add_space(a, n);

	if (n > 0)
		memcpy(d, p, n);
}

void
pgarr_add_null(struct pgarr *a)
{
	grow(a, 4);
	put32(a->data + a->len, 0xffffffffu);
	a->len += 4;
	a->count++;
	a->has_null = 1;
}

void
pgarr_add_text(struct pgarr *a, const char *s)
{
	if (s == NULL) {
		pgarr_add_null(a);
		return;
	}
	pgarr_add_bytes(a, s, strlen(s));
}

void
pgarr_add_int8(struct pgarr *a, int64_t v)
{
	uint8_t *d = pgarr_add_space(a, 8);
	uint64_t u = (uint64_t)v;

	put32(d, (uint32_t)(u >> 32));
	put32(d + 4, (uint32_t)u);
}

void
pgarr_add_int4(struct pgarr *a, int32_t v)
{
	put32(pgarr_add_space(a, 4), (uint32_t)v);
}

const uint8_t *
pgarr_finish(struct pgarr *a, int *len)
{
	put32(a->data, 1);
	put32(a->data + 4, a->has_null ? 1 : 0);
	put32(a->data + 8, a->oid);
	put32(a->data + 12, a->count);
	put32(a->data + 16, 1);
	*len = (int)a->len;
	return a->data;
}
