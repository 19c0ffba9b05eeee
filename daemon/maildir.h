/*
 * maildir.h - local delivery into Maildir (the maildir(5) convention of
 * qmail, Dovecot and Postfix).
 *
 * A message for local@domain goes to ROOT/domain/local/ (created with
 * mode 0700 when missing): written to tmp/ under a unique name with
 * Return-Path: and Delivered-To: prepended and CRLF turned into LF,
 * fsync()ed, renamed into new/, and the new/ directory fsync()ed - only
 * then is the delivery reported done.  Any failure (disk full,
 * permissions) removes the temporary file and reports a reason; the
 * caller defers, so nothing is lost.  Thread-safe.
 */
#ifndef POSTERN_MAILDIR_H
#define POSTERN_MAILDIR_H

#include <stddef.h>
#include <stdint.h>

/* Returns 0, or -1 with a readable reason in err.  *permanent is set when
 * retrying cannot help (an address that cannot name a mailbox). */
int maildir_deliver(const char *root, const char *address, const char *sender,
    const char *queue_id, int rcpt_no, const uint8_t *msg, size_t len,
    char *err, size_t errlen, int *permanent);

#endif
