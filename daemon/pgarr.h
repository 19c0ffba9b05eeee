/*
 * pgarr.h - builds PostgreSQL one-dimensional arrays in binary wire format
 * (array_send: ndim, has-null flag, element OID, dimension, lower bound,
 * then length-prefixed elements, all big-endian), so a whole batch of
 * messages goes to the server as a handful of binary parameters of one
 * prepared statement, with no text escaping of bodies.
 *
 * A pgarr is built by one thread.  Appending never fails (memory is grown
 * with xrealloc); the caller bounds the batch size.
 */
#ifndef POSTERN_PGARR_H
#define POSTERN_PGARR_H

#include <stddef.h>
#include <stdint.h>

#define PGARR_OID_BYTEA 17
#define PGARR_OID_INT8 20
#define PGARR_OID_INT4 23
#define PGARR_OID_TEXT 25

struct pgarr {
	uint8_t *data;
	size_t len, cap;
	uint32_t oid;
	uint32_t count;
	int has_null;
};

void pgarr_init(struct pgarr *a, uint32_t oid);
void pgarr_free(struct pgarr *a);
/* Reserve n bytes for an element and return where to write them. */
uint8_t *pgarr_add_space(struct pgarr *a, size_t n);
void pgarr_add_bytes(struct pgarr *a, const void *p, size_t n);
void pgarr_add_null(struct pgarr *a);
void pgarr_add_text(struct pgarr *a, const char *s);	/* NULL = SQL NULL */
void pgarr_add_int8(struct pgarr *a, int64_t v);
void pgarr_add_int4(struct pgarr *a, int32_t v);
/* Finish: fills the header; returns the wire bytes (valid until free). */
const uint8_t *pgarr_finish(struct pgarr *a, int *len);

#endif
