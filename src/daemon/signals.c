/* SPDX-License-Identifier: Apache-2.0 */
/* daemon/signals.c: the signal set-up the master's children (workers, jobs) share. */
#include <signal.h>

#include <event2/event.h>

#include "core/core.h"
#include "daemon/internal.h"

enum fb_status
fb_daemon_signals_init(struct fb_daemon_signals *s, struct event_base *base,
    void (*stop)(evutil_socket_t, short, void *), void *arg, struct fb_err *err)
{
	s->term = evsignal_new(base, SIGTERM, stop, arg);
	s->intr = evsignal_new(base, SIGINT, stop, arg);
	if (s->term == NULL || s->intr == NULL || event_add(s->term, NULL) != 0 ||
	    event_add(s->intr, NULL) != 0) {
		fb_daemon_signals_cleanup(s);
		return fb_err_set(err, FB_ERR_INTERNAL, "cannot watch SIGTERM and SIGINT");
	}
	/* Reloads are the master's business. */
	signal(SIGHUP, SIG_IGN);
	/* The master blocks these for sigtimedwait; the handlers are in place now. */
	sigemptyset(&s->set);
	sigaddset(&s->set, SIGTERM);
	sigaddset(&s->set, SIGINT);
	sigaddset(&s->set, SIGHUP);
	sigaddset(&s->set, SIGCHLD);
	sigprocmask(SIG_UNBLOCK, &s->set, NULL);
	return FB_OK;
}

void
fb_daemon_signals_block(struct fb_daemon_signals *s)
{
	/*
	 * Freeing the signal events restores the default actions, and the master
	 * may repeat SIGTERM at stop: blocked, teardown ends with exit 0, not a kill.
	 */
	sigprocmask(SIG_BLOCK, &s->set, NULL);
}

void
fb_daemon_signals_cleanup(struct fb_daemon_signals *s)
{
	if (s->term != NULL)
		event_free(s->term);
	if (s->intr != NULL)
		event_free(s->intr);
	s->term = s->intr = NULL;
}
