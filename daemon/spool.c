/*
 * spool.c - memory-then-file message body staging.  See spool.h.
 */
#include "daemon/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/util.h"

static char spool_dir[512] = "/var/tmp";

void
spool_set_dir(const char *dir)
{
	str_copy(spool_dir, dir, sizeof(spool_dir));
}

void
spool_init(struct spool *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->fd = -1;
}

void
spool_free(struct spool *sp)
{
	free(sp->mem);
	if (sp->fd != -1)
		close(sp->fd);
	spool_init(sp);
}

static int
spool_to_file(struct spool *sp)
{
	sp->fd = open(spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (sp->fd == -1) {
		log_warn("spool: cannot create temporary file in %s", spool_dir);
		return -1;
	}
	if (write_all(sp->fd, sp->mem, sp->len) == -1) {
		log_warn("spool: write to %s", spool_dir);
		return -1;
	}
	free(sp->mem);
	sp->mem = NULL;
	sp->cap = 0;
	return 0;
}

int
spool_append(struct spool *sp, const void *p, size_t n)
{
	if (sp->failed)
		return -1;
	if (sp->fd == -1 && sp->len + n > SPOOL_MEM_MAX) {
		if (spool_to_file(sp) == -1)
			goto fail;
	}
	if (sp->fd != -1) {
		if (write_all(sp->fd, p, n) == -1) {
			log_warn("spool: write to %s", spool_dir);
			goto fail;
		}
	} else {
		if (sp->len + n > sp->cap) {
			size_t ncap = sp->cap ? sp->cap : 4096;

			while (ncap < sp->len + n)
				ncap *= 2;
			sp->mem = xrealloc(sp->mem, ncap);
			sp->cap = ncap;
		}
		memcpy(sp->mem + sp->len, p, n);
	}
	sp->len += n;
	return 0;
fail:
	sp->failed = 1;
	return -1;
}

int
spool_read_all(struct spool *sp, uint8_t *dst)
{
	size_t got = 0;

	if (sp->failed)
		return -1;
	if (sp->fd == -1) {
		if (sp->len > 0)
			memcpy(dst, sp->mem, sp->len);
		return 0;
	}
	while (got < sp->len) {
		ssize_t r = pread(sp->fd, dst + got, sp->len - got, (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}
