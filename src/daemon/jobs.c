/* SPDX-License-Identifier: Apache-2.0 */
/* daemon/jobs.c: the jobs process: periodic housekeeping of the store. */
#include <stdlib.h>

#include <event2/event.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "http/http.h"
#include "daemon/daemon.h"
#include "daemon/internal.h"

struct jobs {
	struct event_base *base;
	struct fb_store *store;
};

static void
purge(evutil_socket_t fd, short what, void *arg)
{
	struct jobs *j = arg;
	struct fb_err err = {0};
	size_t n = 0;

	if (fb_store_kv_purge(j->store, fb_time_now(), &n, &err) != FB_OK)
		fb_log_err(FB_LOG_ERROR, NULL, &err);
	else if (n > 0)
		fb_log(FB_LOG_INFO, "purged %zu expired store entries", n);
}

static void
stop(evutil_socket_t sig, short what, void *arg)
{
	struct jobs *j = arg;

	event_base_loopbreak(j->base);
}

int
fb_daemon_jobs_main(const struct fb_daemon_runtime *rt)
{
	struct jobs j = {0};
	struct event *timer = NULL;
	struct fb_daemon_signals sig = {0};
	struct timeval tv = {.tv_sec = FB_DAEMON_PURGE_INTERVAL};
	struct fb_err err = {0};
	int status = 1;

	fb_http_libevent_log_init();
	if (fb_store_open(rt->conf, &j.store, &err) != FB_OK) {
		fb_log_err(FB_LOG_ERROR, NULL, &err);
		goto out;
	}
	j.base = event_base_new();
	if (j.base == NULL) {
		fb_log(FB_LOG_ERROR, "event_base_new failed");
		goto out;
	}
	timer = event_new(j.base, -1, EV_PERSIST, purge, &j);
	event_add(timer, &tv);
	if (fb_daemon_signals_init(&sig, j.base, stop, &j, &err) != FB_OK) {
		fb_log_err(FB_LOG_ERROR, NULL, &err);
		goto out;
	}
	purge(-1, 0, &j);
	event_base_dispatch(j.base);
	fb_daemon_signals_block(&sig);
	status = 0;
out:
	if (timer != NULL)
		event_free(timer);
	fb_daemon_signals_cleanup(&sig);
	if (j.base != NULL)
		event_base_free(j.base);
	fb_store_close(j.store);
	return status;
}
