/*
 * fuzz_bootstrap.c - libFuzzer target over the bootstrap file reader
 * (daemon/bootstrap.c).  Each input is written to a memfd and read back
 * through /proc/self/fd/N, the same path bootstrap_read() takes for a
 * real file.  Asserts that every field comes back NUL-terminated within
 * its bounds and that a refusal always carries a message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/bootstrap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bootstrap b;
	char path[64], err[512];
	int fd;

	fd = memfd_create("bootstrap", 0);
	if (fd == -1)
		return 0;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	memset(&b, 0x5a, sizeof(b));
	err[0] = '\0';
	if (bootstrap_read(path, &b, err, sizeof(err)) == 0) {
		if (memchr(b.conninfo, '\0', sizeof(b.conninfo)) == NULL ||
		    memchr(b.node, '\0', sizeof(b.node)) == NULL ||
		    memchr(b.spool_dir, '\0', sizeof(b.spool_dir)) == NULL)
			abort();
	} else if (err[0] == '\0')
		abort();
	close(fd);
	return 0;
}
