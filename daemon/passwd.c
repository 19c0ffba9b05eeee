/*
 * passwd.c - crypt(3) verification.  See passwd.h.
 *
 * struct crypt_data is large (~32 KiB), so it is heap-allocated per call
 * rather than put on a worker's stack.
 */
#include <stddef.h>

#include "daemon/passwd.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/util.h"

/* A valid bcrypt hash of a random string, used to spend the same time on
 * unknown or disabled accounts.  It has exactly the algorithm and cost of
 * what postern.set_password() stores (pgcrypto gen_salt('bf', 12): $2a$,
 * cost 12; tests/unit/test_passwd.c reads sql/schema.sql to keep them
 * equal), so a reply's time does not tell whether the account exists. */
static const char dummy_hash[] =
    "$2a$12$EjRqOsCWKkU8qgJ6s9/mieZptjh6/Ec3JSWOvGWNpsLoHTDntcyZe";

const char *
passwd_dummy_hash(void)
{
	return dummy_hash;
}

int
passwd_verify(const char *hash, const char *password)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *h = hash != NULL ? hash : dummy_hash;
	const char *out;
	size_t i, hl;
	unsigned char diff = 0;
	int ok = 0;

	out = crypt_r(password, h, cd);
	if (out == NULL || out[0] == '*')
		goto done;
	hl = strlen(h);
	if (strlen(out) != hl)
		goto done;
	for (i = 0; i < hl; i++)
		diff |= (unsigned char)(out[i] ^ h[i]);
	ok = diff == 0 && hash != NULL;
done:
	wipe(cd, sizeof(*cd));
	free(cd);
	return ok;
}

int
passwd_hash(const char *password, char *out, size_t n)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *h;
	int r = -1;

	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL)
		goto done;
	h = crypt_r(password, salt, cd);
	if (h == NULL || h[0] == '*' || strlen(h) >= n)
		goto done;
	memcpy(out, h, strlen(h) + 1);
	r = 0;
done:
	wipe(cd, sizeof(*cd));
	free(cd);
	return r;
}
