/*
 * runtime.c - the current snapshot and this node's name.  See runtime.h.
 *
 * cfg_lock is a leaf lock: config_unref() of a dropped snapshot runs after
 * it is released.
 */
#include "daemon/runtime.h"

#include <pthread.h>
#include <stddef.h>

#include "daemon/config.h"
#include "daemon/util.h"

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct config *cfg_current;
static struct config *cfg_pending;
static void (*cfg_waker)(void);
static char rt_node[128];

void
runtime_init(const char *node)
{
	str_copy(rt_node, node, sizeof(rt_node));
}

const char *
runtime_node(void)
{
	return rt_node;
}

struct config *
runtime_config(void)
{
	struct config *c;

	pthread_mutex_lock(&cfg_lock);
	c = cfg_current;
	if (c != NULL)
		config_ref(c);
	pthread_mutex_unlock(&cfg_lock);
	return c;
}

void
runtime_publish(struct config *c)
{
	struct config *old;
	void (*wake)(void);

	pthread_mutex_lock(&cfg_lock);
	old = cfg_pending;
	cfg_pending = c;
	wake = cfg_waker;
	pthread_mutex_unlock(&cfg_lock);
	config_unref(old);
	if (wake != NULL)
		wake();
}

void
runtime_set_waker(void (*wake)(void))
{
	pthread_mutex_lock(&cfg_lock);
	cfg_waker = wake;
	pthread_mutex_unlock(&cfg_lock);
}

struct config *
runtime_take_pending(void)
{
	struct config *c;

	pthread_mutex_lock(&cfg_lock);
	c = cfg_pending;
	cfg_pending = NULL;
	pthread_mutex_unlock(&cfg_lock);
	return c;
}

void
runtime_install(struct config *c)
{
	struct config *old;

	pthread_mutex_lock(&cfg_lock);
	old = cfg_current;
	cfg_current = c;
	pthread_mutex_unlock(&cfg_lock);
	config_unref(old);
}
