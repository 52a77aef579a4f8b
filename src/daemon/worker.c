/* SPDX-License-Identifier: Apache-2.0 */
/* daemon/worker.c: one worker process: its store handle, router and HTTP server. */
#include <signal.h>
#include <stdlib.h>

#include <event2/event.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "http/http.h"
#include "http/web.h"
#include "http/samlidp.h"
#include "http/pages.h"
#include "http/oauth2.h"
#include "daemon/daemon.h"
#include "daemon/internal.h"

struct worker {
	struct event_base *base;
	struct fb_http_server *srv;
	struct fb_http_server *msrv; /* metrics.listen's, or NULL */
	int ndraining;		     /* servers whose drain is not over */
	struct event *shutdown_timer;
	const struct fb_conf *conf;
	int draining;
};

static void
drained(void *arg)
{
	struct worker *w = arg;

	if (--w->ndraining == 0)
		event_base_loopbreak(w->base);
}

static void
shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	fb_log(FB_LOG_WARN, "shutdown_timeout reached: closing %zu connections",
	    fb_http_server_connections(w->srv) +
		(w->msrv != NULL ? fb_http_server_connections(w->msrv) : 0));
	event_base_loopbreak(w->base);
}


/*
 * The worker's event loop. With epoll, libevent's changelist batches the
 * read/write interest changes a request makes into one epoll_ctl per loop
 * pass instead of four (measured: 16 -> 12 us of server CPU per request).
 * It is safe here because the http server never dup()s or closes the
 * listening descriptors it is given.
 */
static struct event_base *
worker_base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

/* SIGTERM/SIGINT: stop accepting, finish what is in flight. */
static void
stop(evutil_socket_t sig, short what, void *arg)
{
	struct worker *w = arg;
	struct timeval tv = {.tv_sec = (time_t)w->conf->shutdown_timeout};

	if (w->draining)
		return;
	w->draining = 1;
	fb_log(FB_LOG_DEBUG, "draining %zu connections", fb_http_server_connections(w->srv));
	evtimer_add(w->shutdown_timer, &tv);
	w->ndraining = w->msrv != NULL ? 2 : 1;
	fb_http_server_drain(w->srv, drained, w);
	if (w->msrv != NULL)
		fb_http_server_drain(w->msrv, drained, w);
}

/* The server of metrics.listen: /metrics alone, on its own evhttp. */
static enum fb_status
metrics_server_new(struct worker *w, const struct fb_http_env *env, int fd,
    struct fb_http_router **router, struct fb_err *err)
{
	enum fb_status rc;

	*router = fb_http_router_new();
	rc = fb_http_ops_metrics_register(*router, env->conf, err);
	if (rc == FB_OK)
		rc = fb_http_server_new(w->base, env, *router, &fd, 1, &w->msrv, err);
	return rc;
}

int
fb_daemon_worker_main(const struct fb_daemon_runtime *rt, int slot, const int *fds,
    size_t nfds, int metrics_fd, struct fb_http_metrics *metrics)
{
	struct worker w = {.conf = rt->conf};
	struct fb_http_env env = {.conf = rt->conf, .keyring = rt->keyring,
	    .sealer = rt->sealer, .metrics = metrics};
	struct fb_http_router *router = fb_http_router_new(), *mrouter = NULL;
	struct fb_daemon_signals sig = {0};
	struct fb_err err = {0};
	int status = 1;

	fb_http_libevent_log_init();
	fb_log_audit_hook_set(fb_http_metrics_audit, metrics);
	/* What the master built for this generation before the fork: nothing rebuilt here. */
	fb_http_rules_use(rt->maps);
	fb_http_saml_idp_use(rt->idp);
	if (fb_store_open(rt->conf, &env.store, &err) != FB_OK ||
	    fb_http_ops_register(router, rt->conf, &err) != FB_OK ||
	    fb_http_web_routes_add(router, rt->conf, &err) != FB_OK ||
	    fb_http_authz_routes_add(router, rt->conf, &err) != FB_OK ||
	    fb_http_saml_routes_add(router, rt->conf, rt->keyring, &err) != FB_OK ||
	    fb_http_oauth2_routes_add(router, rt->conf, rt->keyring, &err) != FB_OK) {
		fb_log_err(FB_LOG_ERROR, NULL, &err);
		goto out;
	}
	w.base = worker_base_new();
	if (w.base == NULL) {
		fb_log(FB_LOG_ERROR, "event_base_new failed");
		goto out;
	}
	if (fb_http_server_new(w.base, &env, router, fds, nfds, &w.srv, &err) != FB_OK ||
	    (metrics_fd >= 0 && metrics_server_new(&w, &env, metrics_fd, &mrouter, &err) != FB_OK)) {
		fb_log_err(FB_LOG_ERROR, NULL, &err);
		goto out;
	}
	w.shutdown_timer = evtimer_new(w.base, shutdown_timeout, &w);
	if (fb_daemon_signals_init(&sig, w.base, stop, &w, &err) != FB_OK) {
		fb_log_err(FB_LOG_ERROR, NULL, &err);
		goto out;
	}
	/* SIGUSR1 is the jobs process' (blocked since the master's fork; never ours). */
	signal(SIGUSR1, SIG_IGN);
	fb_log(FB_LOG_DEBUG, "worker %d serving", slot);
	event_base_dispatch(w.base);
	/* Drained: no kill during teardown. */
	fb_daemon_signals_block(&sig);
	status = 0;
out:
	fb_http_server_free(w.msrv);
	fb_http_server_free(w.srv);
	fb_daemon_signals_cleanup(&sig);
	if (w.shutdown_timer != NULL)
		event_free(w.shutdown_timer);
	if (w.base != NULL)
		event_base_free(w.base);
	fb_http_router_free(router);
	fb_http_router_free(mrouter);
	fb_store_close(env.store);
	return status;
}
