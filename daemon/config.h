/*
 * config.h - the immutable configuration snapshot loaded from PostgreSQL.
 *
 * A snapshot holds everything a session needs: settings, this node's
 * listeners with their built TLS contexts, local domains and accounts.
 * daemon/db_config.c reads it in one REPEATABLE READ transaction, so it is
 * consistent; this module builds it (config_new, config_listener_build,
 * config_finish), and it is never modified once built: threads share it
 * read-only
 * and keep it alive with config_ref()/config_unref() (atomic refcount).  The
 * daemon swaps the current pointer when a reload succeeds; sessions keep
 * the snapshot they started with.  A snapshot that fails to load or
 * validate (a TLS file that cannot be read, for example) is never
 * published: the caller keeps the old one and logs the error text.
 *
 * Lookups (config_domain_is_local, config_account, config_aliases) are
 * binary searches on
 * sorted arrays: O(log n), no locks, no allocation.  The enabled
 * acceptance/routing rules are compiled into c->rules (rules.h).
 */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/rules.h"
#include "tls/tls.h"

/* The schema version (postern.schema_version) this code needs. */
#include "daemon/schema_version.h"
#define CONFIG_SCHEMA_VERSION POSTERN_SCHEMA_VERSION

enum listener_tls { LISTENER_STARTTLS, LISTENER_IMPLICIT, LISTENER_NONE };
/* listeners.role (migration 008): mx takes mail from the internet for
 * local recipients; submission takes mail from users, who must AUTH. */
enum listener_role { LISTENER_MX, LISTENER_SUBMISSION };

struct config_listener {
	char name[65];
	char address[64];
	int port;
	enum listener_tls mode;
	enum listener_role role;
	int max_connections;
	int greet_pause;	/* MX listener: pause before the greeting */
	struct tls_ctx *tls;	/* NULL when mode is NONE */
	char tls_desc[64];	/* "TLSv1.2-TLSv1.3" for logs */
};

struct config_account {
	char *address;	/* lower-case */
	char *hash;	/* crypt(3) string, NULL = cannot log in */
	int enabled;
};

/* One target of an alias (postern.aliases row). */
struct config_alias {
	char *source;	/* lower-case "local@domain", or "@domain" */
	char *target;	/* lower-case address */
};

struct config {
	atomic_int refs;
	uint64_t generation;
	char hostname[256];
	int allow_starttls;
	int use_starttls_out;
	uint64_t max_message_size;
	unsigned max_recipients;
	unsigned max_errors;
	unsigned max_auth_failures;
	int command_timeout;	/* seconds */
	int data_timeout;
	int max_connections;
	int max_connections_per_ip;
	int worker_threads;
	int db_connections;
	/* delivery (migration 003) */
	int delivery_threads;
	int delivery_batch;
	int lease_seconds;
	int retry_initial;	/* seconds */
	int retry_max;
	int queue_lifetime;
	char maildir_root[512];	/* "" = local delivery not configured */
	char dns_servers[512];	/* "" = system resolver */
	int smtp_connect_timeout;
	int smtp_command_timeout;
	int smtp_data_timeout;
	int tls_verify_out;
	int smtp_port_out;
	char bounce_sender_name[64];
	/* cluster (migration 005) */
	int node_timeout;	/* seconds */
	int delivery_paused;	/* migration 006 */
	/* protocol hardening (migration 009) */
	int greet_pause_ms;	/* 0 = no greeting pause */
	int greet_pass_ttl;	/* seconds */
	int data_min_rate;	/* bytes/s during DATA, 0 = off */
	int session_max_lifetime;	/* seconds */
	/* aliases (migration 010) */
	char recipient_delimiter[8];	/* "" = no extensions */
	char admin_address[257];	/* "" = not set */
	struct config_listener *listeners;
	size_t nlisteners;
	char **domains;		/* sorted, lower-case */
	size_t ndomains;
	struct config_account *accounts;	/* sorted by address */
	size_t naccounts;
	struct config_alias *aliases;	/* sorted by source, then target */
	size_t naliases;
	struct ruleset rules;	/* enabled rules in position order */
};

/* A listener row as stored in postern.listeners (text columns as text,
 * NULL when unset). */
struct config_listener_row {
	const char *name;
	const char *address;
	int port;
	const char *tls_mode;		/* "starttls", "implicit", "none" */
	const char *tls_min_version;
	const char *tls_max_version;
	const char *ciphers;
	const char *dh_file;
	const char *cert_file;
	const char *key_file;
	int max_connections;
	const char *role;		/* "mx", "submission"; NULL = mx */
	int greet_pause;
};

/* An empty snapshot with refcount 1.  The reader fills the settings and
 * the arrays (allocated with xcalloc, counts in n*), building each listener
 * with config_listener_build(), then calls config_finish(); on any error
 * it drops the snapshot with config_unref(). */
struct config *config_new(uint64_t generation);
/* settings.hostname; when v is NULL or empty, this host's fully qualified
 * name: its canonical name (getaddrinfo AI_CANONNAME) when that has a dot,
 * else the host name plus ".localdomain" as Postfix does (looked up once
 * per process, with a warning when it falls back). */
void config_set_hostname(struct config *c, const char *v);
/* Fills l from r, building its TLS context (the listener's own
 * certificate, else the settings' default dcert/dkey).  Returns 0, or -1
 * with a reason naming the listener in err. */
int config_listener_build(struct config_listener *l,
    const struct config_listener_row *r, const char *dcert, const char *dkey,
    char *err, size_t errlen);
/* Sorts domains, accounts and aliases for the look-ups below. */
void config_finish(struct config *c);
/* 0 when the schema version v is recent enough, else -1 and why. */
int config_check_schema(int v, char *err, size_t errlen);

void config_ref(struct config *c);
void config_unref(struct config *c);

int config_domain_is_local(const struct config *c, const char *domain);
/* The account for a lower-case address, or NULL. */
const struct config_account *config_account(const struct config *c,
    const char *address);
/* The targets of alias source (lower-case "local@domain" or "@domain"):
 * the first of *n consecutive rows, or NULL with *n 0. */
const struct config_alias *config_aliases(const struct config *c,
    const char *source, size_t *n);
const struct config_listener *config_listener_find(const struct config *c,
    const char *address, int port);

#endif
