/*
 * maildir.c - Maildir delivery.  See maildir.h.
 *
 * Unique names: <seconds>.<queue id>_<rcpt no>_<pid>.<host>, which is
 * unique because a queue id and recipient number are delivered by one
 * thread at a time (leases) and the pid tells restarts apart.
 * Safety: the local part and domain become path components, so they must
 * not be empty, start with '.', or contain '/' or NUL.
 */
#include "daemon/maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/util.h"

static int
safe_component(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == '\0')
			return 0;
	return 1;
}

static int
mkdirs(const char *path)
{
	char tmp[1024];
	size_t i, n = strlen(path);

	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] == '/' || tmp[i] == '\0') {
			char c = tmp[i];

			tmp[i] = '\0';
			if (mkdir(tmp, 0700) == -1 && errno != EEXIST)
				return -1;
			tmp[i] = c;
		}
	}
	return 0;
}

/* Writes msg with CRLF turned into LF, in chunks. */
static int
write_lf(int fd, const uint8_t *m, size_t len)
{
	uint8_t out[16384];
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (m[i] == '\r' && i + 1 < len && m[i + 1] == '\n')
			continue;
		out[o++] = m[i];
		if (o == sizeof(out)) {
			if (write_all(fd, out, o) == -1)
				return -1;
			o = 0;
		}
	}
	return o > 0 ? write_all(fd, out, o) : 0;
}

int
maildir_deliver(const char *root, const char *address, const char *sender,
    const char *queue_id, int rcpt_no, const uint8_t *msg, size_t len,
    char *err, size_t errlen, int *permanent)
{
	char dir[1024], tmp[1200], dst[1200], newdir[1100], hdr[700];
	char host[128] = "localhost";
	char local[64 + 1], domain[256];
	const char *at = strchr(address, '@');
	int fd = -1, dfd = -1, rc = -1, n, renamed = 0;

	*permanent = 0;
	if (at == NULL) {
		str_copy(local, address, sizeof(local));
		str_copy(domain, "_local", sizeof(domain));
	} else {
		if ((size_t)(at - address) >= sizeof(local) ||
		    strlen(at + 1) >= sizeof(domain)) {
			snprintf(err, errlen, "address too long for a mailbox");
			*permanent = 1;
			return -1;
		}
		memcpy(local, address, (size_t)(at - address));
		local[at - address] = '\0';
		str_copy(domain, at + 1, sizeof(domain));
	}
	str_lower(local);
	str_lower(domain);
	if (!safe_component(local, strlen(local)) ||
	    !safe_component(domain, strlen(domain))) {
		snprintf(err, errlen, "address cannot name a mailbox");
		*permanent = 1;
		return -1;
	}
	gethostname(host, sizeof(host) - 1);
	n = snprintf(dir, sizeof(dir), "%s/%s/%s", root, domain, local);
	if (n < 0 || (size_t)n >= sizeof(dir)) {
		snprintf(err, errlen, "maildir path too long");
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	snprintf(dst, sizeof(dst), "%s/cur", dir);
	if (mkdirs(tmp) == -1 || mkdirs(dst) == -1) {
		snprintf(err, errlen, "cannot create maildir %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	snprintf(dst, sizeof(dst), "%s/new", dir);
	if (mkdirs(dst) == -1) {
		snprintf(err, errlen, "cannot create maildir %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s/tmp/%lld.%s_%d_%ld.%s", dir,
	    (long long)time(NULL), queue_id, rcpt_no, (long)getpid(), host);
	snprintf(dst, sizeof(dst), "%s/new/%lld.%s_%d_%ld.%s", dir,
	    (long long)time(NULL), queue_id, rcpt_no, (long)getpid(), host);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		snprintf(err, errlen, "cannot create %s: %s", tmp,
		    strerror(errno));
		return -1;
	}
	n = snprintf(hdr, sizeof(hdr), "Return-Path: <%s>\nDelivered-To: %s\n",
	    sender, address);
	if (n < 0 || (size_t)n >= sizeof(hdr) || write_all(fd, hdr, (size_t)n) ||
	    write_lf(fd, msg, len) == -1 || fsync(fd) == -1) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, dst) == -1) {
		snprintf(err, errlen, "cannot move into %s/new: %s", dir,
		    strerror(errno));
		goto out;
	}
	renamed = 1;
	snprintf(newdir, sizeof(newdir), "%s/new", dir);
	dfd = open(newdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1 || fsync(dfd) == -1) {
		snprintf(err, errlen, "cannot sync %s: %s", newdir,
		    strerror(errno));
		/* Not durable: take it back and let the caller retry. */
		unlink(dst);
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (rc == -1 && !renamed)
		unlink(tmp);
	if (dfd != -1)
		close(dfd);
	return rc;
}
