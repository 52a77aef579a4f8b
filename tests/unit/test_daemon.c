/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/test_daemon.c: the daemon's pieces that run without a listening server. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <event2/event.h>

#include "core/core.h"
#include "daemon/internal.h"
#include "unit.h"

struct loop {
	struct event_base *base;
	int stopped_by;
};

static void
loop_stop(evutil_socket_t sig, short what, void *arg)
{
	struct loop *l = arg;

	l->stopped_by = (int)sig;
	event_base_loopbreak(l->base);
}

/*
 * A child set up like a worker or the jobs process, with the signals blocked
 * as the master leaves them: it tells the parent it is ready, is sent SIGHUP
 * (ignored) then sig (stops the loop), blocks them again, is sent sig once more
 * (must not kill it) and exits with the signal that stopped its loop.
 */
static int
child(int ready, int sig)
{
	struct fb_daemon_signals s = {0};
	struct loop l = {0};
	sigset_t set, now;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	l.base = event_base_new();
	if (l.base == NULL || fb_daemon_signals_init(&s, l.base, loop_stop, &l, NULL) != FB_OK)
		return 90;
	sigprocmask(SIG_BLOCK, NULL, &now);
	if (sigismember(&now, SIGTERM) || sigismember(&now, SIGHUP))
		return 91; /* still blocked */
	if (write(ready, "r", 1) != 1)
		return 92;
	event_base_dispatch(l.base);
	fb_daemon_signals_block(&s);
	fb_daemon_signals_cleanup(&s);
	fb_daemon_signals_cleanup(&s); /* twice is harmless */
	raise(sig);                    /* blocked: not delivered */
	event_base_free(l.base);
	return l.stopped_by;
}

static void
run_child(int sig)
{
	int p[2], status = 0;
	char c;
	pid_t pid;

	CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(child(p[1], sig));
	}
	close(p[1]);
	CU_ASSERT_EQUAL(read(p[0], &c, 1), 1);
	close(p[0]);
	CU_ASSERT_EQUAL(kill(pid, SIGHUP), 0);
	CU_ASSERT_EQUAL(kill(pid, sig), 0);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(status));
	if (WIFSIGNALED(status))
		fprintf(stderr, "\nchild killed by signal %d\n", WTERMSIG(status));
	CU_ASSERT_EQUAL(WIFEXITED(status) ? WEXITSTATUS(status) : -1, sig);
}

static void
test_signals(void)
{
	run_child(SIGTERM);
	run_child(SIGINT);
}

int
fb_test_daemon_register(void)
{
	CU_pSuite s = CU_add_suite("daemon", NULL, NULL);

	if (s == NULL || CU_add_test(s, "signals of workers and jobs", test_signals) == NULL)
		return -1;
	return 0;
}
