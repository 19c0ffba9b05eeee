/*
 * accept_limits.c - connection limits at accept.  See accept_limits.h.
 *
 * The per-address table is a fixed array of hash buckets with a chain of
 * entries each, under one mutex (a leaf lock: nothing is called while it is
 * held).
 */
#include "daemon/accept_limits.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/util.h"

#define IP_BUCKETS 4096

struct ipcount {
	struct ipcount *next;
	char ip[64];
	int n;
};

struct accept_limits {
	atomic_int total;
	pthread_mutex_t lock;
	struct ipcount *table[IP_BUCKETS];
};

struct accept_limits *
accept_limits_new(void)
{
	struct accept_limits *al = xcalloc(1, sizeof(*al));

	atomic_init(&al->total, 0);
	pthread_mutex_init(&al->lock, NULL);
	return al;
}

void
accept_limits_free(struct accept_limits *al)
{
	size_t i;

	if (al == NULL)
		return;
	for (i = 0; i < IP_BUCKETS; i++)
		while (al->table[i] != NULL) {
			struct ipcount *e = al->table[i];

			al->table[i] = e->next;
			free(e);
		}
	pthread_mutex_destroy(&al->lock);
	free(al);
}

static unsigned
ip_hash(const char *ip)
{
	unsigned h = 5381;

	while (*ip != '\0')
		h = h * 33 + (unsigned char)*ip++;
	return h % IP_BUCKETS;
}

/* Adds delta to ip's count unless that would pass max (max < 0: no
 * check).  Returns 1 when added, 0 when refused.  Caller holds the lock. */
static int
ip_add(struct accept_limits *al, const char *ip, int delta, int max)
{
	struct ipcount **pp, *e;

	for (pp = &al->table[ip_hash(ip)]; (e = *pp) != NULL; pp = &e->next)
		if (strcmp(e->ip, ip) == 0)
			break;
	if (delta > 0 && max >= 0 && (e != NULL ? e->n : 0) + delta > max)
		return 0;
	if (e == NULL) {
		if (delta <= 0)
			return 1;
		e = xcalloc(1, sizeof(*e));
		str_copy(e->ip, ip, sizeof(e->ip));
		*pp = e;
	}
	e->n += delta;
	if (e->n <= 0) {
		*pp = e->next;
		free(e);
	}
	return 1;
}

enum accept_verdict
accept_limits_admit(struct accept_limits *al, atomic_int *listener_n,
    const char *ip, const struct accept_max *max)
{
	int ok;

	if (atomic_load(&al->total) >= max->total)
		return ACCEPT_FULL;
	if (atomic_load(listener_n) >= max->listener)
		return ACCEPT_LISTENER_FULL;
	pthread_mutex_lock(&al->lock);
	ok = ip_add(al, ip, 1, max->per_ip);
	pthread_mutex_unlock(&al->lock);
	if (!ok)
		return ACCEPT_IP_FULL;
	atomic_fetch_add(listener_n, 1);
	atomic_fetch_add(&al->total, 1);
	return ACCEPT_OK;
}

void
accept_limits_release(struct accept_limits *al, atomic_int *listener_n,
    const char *ip)
{
	atomic_fetch_sub(&al->total, 1);
	atomic_fetch_sub(listener_n, 1);
	pthread_mutex_lock(&al->lock);
	(void)ip_add(al, ip, -1, -1);
	pthread_mutex_unlock(&al->lock);
}

int
accept_limits_total(struct accept_limits *al)
{
	return atomic_load(&al->total);
}

int
accept_limits_from(struct accept_limits *al, const char *ip)
{
	struct ipcount *e;
	int n = 0;

	pthread_mutex_lock(&al->lock);
	for (e = al->table[ip_hash(ip)]; e != NULL; e = e->next)
		if (strcmp(e->ip, ip) == 0) {
			n = e->n;
			break;
		}
	pthread_mutex_unlock(&al->lock);
	return n;
}

const char *
accept_verdict_text(enum accept_verdict v)
{
	switch (v) {
	case ACCEPT_OK:
		return "accepted";
	case ACCEPT_FULL:
		return "too many connections";
	case ACCEPT_LISTENER_FULL:
		return "too many connections to this listener";
	case ACCEPT_IP_FULL:
		return "too many connections from your address";
	}
	fatalx("accept_verdict_text: verdict %d", (int)v);
}

int
accept_limits_fd_budget(long nofile, int reserve)
{
	long n = (nofile - reserve) / 2;

	if (n < 1)
		return 1;
	return n > 1000000 ? 1000000 : (int)n;
}
