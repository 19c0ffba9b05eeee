/*
 * store_request.c - freeing a store request.  See store_request.h.
 */
#include "daemon/store_request.h"

#include <stdlib.h>

void
store_request_free(struct store_request *r)
{
	if (r == NULL)
		return;
	spool_free(&r->body);
	buf_free(&r->headers);
	free(r->rcpts);
	free(r);
}
