/*
 * greet.c - in-memory set of client addresses that passed the greeting
 * pause, and the queue of passes to write.  See greet.h.
 *
 * The set is a fixed array of GREET_SLOTS entries with linear probing over
 * at most GREET_PROBE slots from the address's hash (FNV-1a); an expired
 * entry is a free slot.  No allocation.
 */
#include "daemon/greet.h"

#include <pthread.h>
#include <string.h>

#include "daemon/util.h"

struct greet_entry {
	char addr[GREET_ADDR_MAX];	/* "" = free */
	int64_t expires;
};

static pthread_mutex_t greet_lock = PTHREAD_MUTEX_INITIALIZER;
static struct greet_entry slots[GREET_SLOTS];
static char pending[GREET_PENDING][GREET_ADDR_MAX];
static size_t npending;

static size_t
hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h % GREET_SLOTS;
}

/* The slot holding addr, or NULL.  Caller holds greet_lock. */
static struct greet_entry *
find(const char *addr)
{
	size_t h = hash(addr), i;

	for (i = 0; i < GREET_PROBE; i++) {
		struct greet_entry *e = &slots[(h + i) % GREET_SLOTS];

		if (strcmp(e->addr, addr) == 0)
			return e;
	}
	return NULL;
}

/* Caller holds greet_lock. */
static void
put(const char *addr, int64_t expires, int64_t now)
{
	struct greet_entry *e = find(addr), *victim = NULL;
	size_t h, i;

	if (e != NULL) {
		if (expires > e->expires)
			e->expires = expires;
		return;
	}
	h = hash(addr);
	for (i = 0; i < GREET_PROBE; i++) {
		e = &slots[(h + i) % GREET_SLOTS];
		if (e->addr[0] == '\0' || e->expires <= now) {
			victim = e;
			break;
		}
		if (victim == NULL || e->expires < victim->expires)
			victim = e;
	}
	str_copy(victim->addr, addr, sizeof(victim->addr));
	victim->expires = expires;
}

int
greet_known(const char *addr, int64_t now)
{
	const struct greet_entry *e;
	int known;

	pthread_mutex_lock(&greet_lock);
	e = find(addr);
	known = e != NULL && e->expires > now;
	pthread_mutex_unlock(&greet_lock);
	return known;
}

void
greet_pass(const char *addr, int64_t now, int64_t ttl_ms)
{
	pthread_mutex_lock(&greet_lock);
	put(addr, now + ttl_ms, now);
	if (npending < GREET_PENDING)
		str_copy(pending[npending++], addr, GREET_ADDR_MAX);
	pthread_mutex_unlock(&greet_lock);
}

void
greet_learn(const char *addr, int64_t expires)
{
	pthread_mutex_lock(&greet_lock);
	put(addr, expires, now_ms());
	pthread_mutex_unlock(&greet_lock);
}

size_t
greet_take_pending(char (*out)[GREET_ADDR_MAX], size_t max)
{
	size_t n;

	pthread_mutex_lock(&greet_lock);
	n = npending < max ? npending : max;
	memcpy(out, pending, n * GREET_ADDR_MAX);
	memmove(pending, pending + n, (npending - n) * GREET_ADDR_MAX);
	npending -= n;
	pthread_mutex_unlock(&greet_lock);
	return n;
}

void
greet_reset(void)
{
	pthread_mutex_lock(&greet_lock);
	memset(slots, 0, sizeof(slots));
	npending = 0;
	pthread_mutex_unlock(&greet_lock);
}
