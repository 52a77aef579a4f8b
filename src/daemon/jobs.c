/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon/jobs.c: the jobs process: periodic housekeeping of the store, and
 * the refresh of upstream SAML metadata from metadata_url (a new good copy
 * makes the master reload, so the workers build their SP with it), and the
 * SCIM push: the targets' outboxes drained on this event loop, with a full
 * reconcile at start (a reload restarts this process) and every
 * reconcile_interval.
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "net/net.h"
#include "saml/saml.h"
#include "scim/scim.h"
#include "http/http.h"
#include "daemon/daemon.h"
#include "daemon/internal.h"

struct jobs;

/* One upstream whose metadata comes from metadata_url. */
struct mdjob {
	struct jobs *j;
	const struct fb_conf_upstream *up;
	struct event *ev;
	struct fb_net_http_call *call; /* the fetch in flight, or NULL */
};

struct jobs {
	struct event_base *base;
	struct fb_store *store;
	struct fb_net_http *http; /* every upstream's fetch at once, none waits for another */
	const struct fb_conf *conf;
	struct mdjob *md;
	size_t nmd;
	struct fb_scim *scim;
};

/*
 * The end of one upstream's fetch (fetched, with resp or fetch_err): the
 * copy is checked and stored, the next refresh scheduled. A failure is
 * logged and counted; the last good copy stays. A changed copy: SIGHUP to
 * the master, whose new generation of workers loads it.
 */
static void
md_stored(struct mdjob *m, enum fb_status fetched, const struct fb_net_http_response *resp,
    const struct fb_err *fetch_err)
{
	struct fb_err err = {0};
	int changed = 0;
	int64_t next = 0, now;
	struct timeval tv = {0};

	if (fb_saml_upstream_metadata_store(m->j->conf, m->up, fetched, resp, fetch_err, &changed,
	        &next, &err) != FB_OK)
		fb_log_err(FB_LOG_WARN, NULL, &err);
	else if (changed) {
		fb_log(FB_LOG_INFO, "upstream %s: new IdP metadata from %s, reloading the workers",
		    m->up->name, m->up->saml.metadata_url);
		if (kill(getppid(), SIGHUP) != 0)
			fb_log(FB_LOG_WARN, "upstream %s: cannot signal the master to reload",
			    m->up->name);
	}
	now = fb_time_now();
	tv.tv_sec = next > now ? (time_t)(next - now) : 1;
	event_add(m->ev, &tv);
}

static void
md_fetched(enum fb_status st, struct fb_net_http_response *resp, const struct fb_err *err,
    void *arg)
{
	struct mdjob *m = arg;

	m->call = NULL;
	md_stored(m, st, resp, err);
}

/*
 * Starts one upstream's fetch on the loop (bounded by the fetch's timeout);
 * the others run beside it. One already in flight is left to finish.
 */
static void
md_refresh(evutil_socket_t fd, short what, void *arg)
{
	struct mdjob *m = arg;
	struct fb_net_http_request rq;
	struct fb_err err = {0};
	enum fb_status st;

	if (m->call != NULL)
		return;
	fb_saml_upstream_metadata_request(m->up, &rq);
	st = m->j->http != NULL
	         ? fb_net_http_start(m->j->http, &rq, md_fetched, m, &m->call, &err)
	         : fb_err_set(&err, FB_ERR_INTERNAL, "no outbound HTTP client");
	if (st != FB_OK)
		md_stored(m, st, NULL, &err);
}

/* SIGUSR1: every metadata_url is refreshed now (the operator's "fetch it again"). */
static void
md_refresh_all(evutil_socket_t sig, short what, void *arg)
{
	struct jobs *j = arg;
	struct timeval now = {0};

	if (j->nmd == 0) {
		fb_log(FB_LOG_INFO, "SIGUSR1: no upstream has a metadata_url to refresh");
		return;
	}
	fb_log(FB_LOG_INFO, "SIGUSR1: refreshing upstream metadata now");
	for (size_t i = 0; i < j->nmd; i++)
		event_add(j->md[i].ev, &now);
}

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
	struct event *timer = NULL, *usr1 = NULL;
	sigset_t usr1_set;
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
	j.conf = rt->conf;
	j.http = fb_net_http_new(j.base);
	for (size_t i = 0; i < rt->conf->nupstreams; i++) {
		const struct fb_conf_upstream *up = &rt->conf->upstreams[i];

		if (up->type == FB_CONF_UPSTREAM_SAML && up->saml.metadata_url != NULL)
			j.nmd++;
	}
	j.md = fb_xcalloc(j.nmd > 0 ? j.nmd : 1, sizeof(j.md[0]));
	j.nmd = 0;
	for (size_t i = 0; i < rt->conf->nupstreams; i++) {
		const struct fb_conf_upstream *up = &rt->conf->upstreams[i];
		struct mdjob *m = &j.md[j.nmd];
		struct timeval when = {0};
		int64_t due, now = fb_time_now();

		if (up->type != FB_CONF_UPSTREAM_SAML || up->saml.metadata_url == NULL)
			continue;
		m->j = &j;
		m->up = up;
		m->ev = evtimer_new(j.base, md_refresh, m);
		j.nmd++;
		/*
		 * When the last refresh said (a reload restarts this process: fetching at
		 * once would make a metadata that differs at each fetch reload forever);
		 * now without a last good copy. From the loop either way.
		 */
		due = fb_saml_upstream_metadata_due(rt->conf, up);
		if (due > now)
			when.tv_sec = (time_t)(due - now);
		event_add(m->ev, &when);
	}
	/*
	 * SIGUSR1 (from the master, or sent here) has been blocked since the fork:
	 * one that came before the handler was in place is delivered now.
	 */
	usr1 = evsignal_new(j.base, SIGUSR1, md_refresh_all, &j);
	if (usr1 == NULL || event_add(usr1, NULL) != 0) {
		fb_log(FB_LOG_ERROR, "cannot watch SIGUSR1");
		goto out;
	}
	sigemptyset(&usr1_set);
	sigaddset(&usr1_set, SIGUSR1);
	sigprocmask(SIG_UNBLOCK, &usr1_set, NULL);
	if (rt->conf->nscim_targets > 0) {
		if (fb_scim_new(rt->conf, j.store, j.base, NULL, FB_SCIM_RECONCILE, &j.scim, &err) !=
		    FB_OK)
			fb_log_err(FB_LOG_ERROR, NULL, &err); /* the rest of the jobs go on */
		else
			fb_scim_poll(j.scim);
	}
	event_base_dispatch(j.base);
	fb_daemon_signals_block(&sig);
	status = 0;
out:
	fb_scim_free(j.scim);
	if (usr1 != NULL)
		event_free(usr1);
	for (size_t i = 0; i < j.nmd; i++)
		event_free(j.md[i].ev);
	free(j.md);
	fb_net_http_free(j.http);
	if (timer != NULL)
		event_free(timer);
	fb_daemon_signals_cleanup(&sig);
	if (j.base != NULL)
		event_base_free(j.base);
	fb_store_close(j.store);
	return status;
}
