/*
 * config.c - build and query the configuration snapshot.  See config.h.
 *
 * daemon/db_config.c reads the rows; this file turns them into a snapshot:
 * the default host name (fully qualified: see config.h), one TLS context
 * per TLS listener, sorted domains, accounts and aliases, the refcount.
 * The database already refused invalid values
 * through its constraints; what can only be checked here (files readable,
 * key matches certificate, cipher list known to wolfSSL) fails the whole
 * load with a message naming the listener and the field.
 */
#include "daemon/config.h"

#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/util.h"

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmp_account(const void *a, const void *b)
{
	return strcmp(((const struct config_account *)a)->address,
	    ((const struct config_account *)b)->address);
}

static int
cmp_alias(const void *a, const void *b)
{
	const struct config_alias *x = a, *y = b;
	int r = strcmp(x->source, y->source);

	return r != 0 ? r : strcmp(x->target, y->target);
}

static void
config_free(struct config *c)
{
	size_t i;

	for (i = 0; i < c->nlisteners; i++)
		tls_ctx_unref(c->listeners[i].tls);
	free(c->listeners);
	for (i = 0; i < c->ndomains; i++)
		free(c->domains[i]);
	free(c->domains);
	for (i = 0; i < c->naccounts; i++) {
		free(c->accounts[i].address);
		free(c->accounts[i].hash);
	}
	free(c->accounts);
	for (i = 0; i < c->naliases; i++) {
		free(c->aliases[i].source);
		free(c->aliases[i].target);
	}
	free(c->aliases);
	rules_free(&c->rules);
	free(c);
}

struct config *
config_new(uint64_t generation)
{
	struct config *c = xcalloc(1, sizeof(*c));

	atomic_init(&c->refs, 1);
	c->generation = generation;
	return c;
}

/* This host's fully qualified name, found once (a DNS look-up may block:
 * only the control thread builds snapshots). */
static pthread_once_t fqdn_once = PTHREAD_ONCE_INIT;
static char fqdn[256];

static void
fqdn_find(void)
{
	struct addrinfo hints, *ai = NULL;
	char host[256] = "";

	if (gethostname(host, sizeof(host) - 1) == -1 || host[0] == '\0')
		str_copy(host, "localhost", sizeof(host));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(host, NULL, &hints, &ai) == 0 && ai != NULL &&
	    ai->ai_canonname != NULL && strchr(ai->ai_canonname, '.') != NULL &&
	    strlen(ai->ai_canonname) < sizeof(fqdn)) {
		str_copy(fqdn, ai->ai_canonname, sizeof(fqdn));
	} else if (strchr(host, '.') != NULL) {
		str_copy(fqdn, host, sizeof(fqdn));
	} else {
		snprintf(fqdn, sizeof(fqdn), "%.240s.localdomain", host);
		log_warnx("config: settings.hostname is empty and host name "
		    "\"%s\" is not fully qualified; greeting as %s (set "
		    "settings.hostname)", host, fqdn);
	}
	if (ai != NULL)
		freeaddrinfo(ai);
}

void
config_set_hostname(struct config *c, const char *v)
{
	if (v == NULL || *v == '\0') {
		pthread_once(&fqdn_once, fqdn_find);
		str_copy(c->hostname, fqdn, sizeof(c->hostname));
	} else {
		str_copy(c->hostname, v, sizeof(c->hostname));
	}
}

int
config_listener_build(struct config_listener *l,
    const struct config_listener_row *r, const char *dcert, const char *dkey,
    char *err, size_t errlen)
{
	struct tls_ctx_params tp;
	enum tls_version vmin = TLS_V1_2, vmax = TLS_V1_3;
	const char *mode = r->tls_mode != NULL ? r->tls_mode : "starttls";
	const char *cert = r->cert_file, *key = r->key_file;
	char terr[256];

	str_copy(l->name, r->name, sizeof(l->name));
	str_copy(l->address, r->address, sizeof(l->address));
	l->port = r->port;
	l->max_connections = r->max_connections;
	l->role = r->role != NULL && strcmp(r->role, "submission") == 0 ?
	    LISTENER_SUBMISSION : LISTENER_MX;
	/* Only MX listeners pause (postscreen-style); submission never does,
	 * and implicit TLS has no plaintext greeting to pause (the client
	 * speaks first). */
	l->greet_pause = l->role == LISTENER_MX && r->greet_pause &&
	    strcmp(r->tls_mode != NULL ? r->tls_mode : "starttls",
	    "implicit") != 0;
	l->mode = strcmp(mode, "implicit") == 0 ? LISTENER_IMPLICIT :
	    strcmp(mode, "none") == 0 ? LISTENER_NONE : LISTENER_STARTTLS;
	if (l->mode == LISTENER_NONE)
		return 0;
	if (cert == NULL) {
		cert = dcert;
		key = dkey;
	}
	if (cert == NULL || key == NULL) {
		snprintf(err, errlen, "listener %s: tls_mode is %s but "
		    "no certificate is configured (set listeners.cert_file"
		    "/key_file or settings.tls_cert_file/tls_key_file)",
		    l->name, mode);
		return -1;
	}
	if (tls_version_parse(r->tls_min_version, &vmin) == -1 ||
	    tls_version_parse(r->tls_max_version, &vmax) == -1) {
		snprintf(err, errlen, "listener %s: unknown TLS version",
		    l->name);
		return -1;
	}
	memset(&tp, 0, sizeof(tp));
	tp.cert_file = cert;
	tp.key_file = key;
	tp.min_version = vmin;
	tp.max_version = vmax;
	tp.ciphers = r->ciphers;
	tp.dh_file = r->dh_file;
	l->tls = tls_ctx_new_server(&tp, terr, sizeof(terr));
	if (l->tls == NULL) {
		snprintf(err, errlen, "listener %s: %s", l->name, terr);
		return -1;
	}
	snprintf(l->tls_desc, sizeof(l->tls_desc), "%s-%s",
	    tls_version_name(vmin), tls_version_name(vmax));
	return 0;
}

void
config_finish(struct config *c)
{
	if (c->ndomains > 0)
		qsort(c->domains, c->ndomains, sizeof(char *), cmp_str);
	if (c->naccounts > 0)
		qsort(c->accounts, c->naccounts, sizeof(*c->accounts),
		    cmp_account);
	if (c->naliases > 0)
		qsort(c->aliases, c->naliases, sizeof(*c->aliases), cmp_alias);
}

int
config_check_schema(int v, char *err, size_t errlen)
{
	if (v < CONFIG_SCHEMA_VERSION) {
		snprintf(err, errlen, "database schema version %d is older than "
		    "the %d this posternd needs: apply sql/migrations "
		    "(scripts/db-load.sh DBNAME)", v, CONFIG_SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

void
config_ref(struct config *c)
{
	atomic_fetch_add(&c->refs, 1);
}

void
config_unref(struct config *c)
{
	if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1)
		config_free(c);
}

int
config_domain_is_local(const struct config *c, const char *domain)
{
	return bsearch(&domain, c->domains, c->ndomains, sizeof(char *),
	    cmp_str) != NULL;
}

const struct config_account *
config_account(const struct config *c, const char *address)
{
	struct config_account key;

	memset(&key, 0, sizeof(key));
	key.address = (char *)address;
	return bsearch(&key, c->accounts, c->naccounts, sizeof(key),
	    cmp_account);
}

const struct config_alias *
config_aliases(const struct config *c, const char *source, size_t *n)
{
	size_t lo = 0, hi = c->naliases, first;

	*n = 0;
	while (lo < hi) {	/* the first row with source >= the key */
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(c->aliases[mid].source, source) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	first = lo;
	while (lo < c->naliases && strcmp(c->aliases[lo].source, source) == 0)
		lo++;
	*n = lo - first;
	return *n > 0 ? &c->aliases[first] : NULL;
}

const struct config_listener *
config_listener_find(const struct config *c, const char *address, int port)
{
	size_t i;

	for (i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].port == port &&
		    strcmp(c->listeners[i].address, address) == 0)
			return &c->listeners[i];
	return NULL;
}
