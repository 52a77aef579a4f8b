/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon/master.c: the master process: loads, opens the listening sockets,
 * forks workers and the jobs process, restarts the dead, reloads on SIGHUP
 * and drains on SIGTERM. It runs no event loop: signals are blocked and
 * taken one at a time with sigtimedwait(2), so nothing runs in a handler.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "conf/conf.h"
#include "http/http.h"
#include "daemon/daemon.h"
#include "daemon/internal.h"

/* Extra time, beyond shutdown_timeout, before children are killed at stop (ms). */
#define STOP_GRACE_MS 3000
/* Longest sigtimedwait between housekeeping rounds (ms). */
#define TICK_MS 1000

enum child_kind {
	CHILD_WORKER = 0,
	CHILD_JOBS,
};

struct child {
	pid_t pid;
	enum child_kind kind;
	int slot; /* workers: 0-based slot */
	unsigned gen;
	int64_t started_ms;
};

/* One worker position: its listening sockets (one per address) and its restart state. */
struct slot {
	int *fds;
	pid_t pid;	    /* current generation's worker, 0 when none */
	int fails;	    /* quick deaths in a row */
	int pending;	    /* a restart is scheduled */
	int64_t restart_at; /* ms, monotonic */
};

struct master {
	const char *path;
	const struct fb_conf_overrides *ov;
	struct fb_daemon_runtime *rt;
	char **listen; /* the addresses the sockets are bound to: server.listen, metrics.listen */
	size_t nlisten;
	size_t nmain;  /* how many of them are server.listen (the rest: metrics.listen) */
	struct slot *slots;
	size_t nslots;
	struct child *children;
	size_t nchildren;
	unsigned gen;
	struct slot jobs; /* the jobs process' restart state (no sockets) */
	int refresh_pending; /* a SIGUSR1 for a jobs process not running yet */
	struct fb_http_metrics *metrics;
	int stopping;
	int killed;
	int64_t kill_at;
};

static int64_t
now_ms(void)
{
	return fb_time_mono_us() / 1000;
}

static void
slot_close(struct master *m, struct slot *s)
{
	if (s->fds == NULL)
		return;
	for (size_t i = 0; i < m->nlisten; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	free(s->fds);
	s->fds = NULL;
}

static enum fb_status
slot_open(struct master *m, struct slot *s, struct fb_err *err)
{
	enum fb_status rc = FB_OK;

	memset(s, 0, sizeof(*s));
	s->fds = fb_xcalloc(m->nlisten, sizeof(int));
	for (size_t i = 0; i < m->nlisten; i++)
		s->fds[i] = -1;
	for (size_t i = 0; i < m->nlisten && rc == FB_OK; i++)
		rc = fb_daemon_listen(m->listen[i], &s->fds[i], err);
	if (rc != FB_OK)
		slot_close(m, s);
	return rc;
}

/* Frees what the master holds; called by the master at the end and by each child before exit. */
static void
master_free(struct master *m)
{
	for (size_t i = 0; i < m->nslots; i++)
		slot_close(m, &m->slots[i]);
	free(m->slots);
	m->slots = NULL;
	m->nslots = 0;
	for (size_t i = 0; i < m->nlisten; i++)
		free(m->listen[i]);
	free(m->listen);
	m->listen = NULL;
	free(m->children);
	m->children = NULL;
	m->nchildren = 0;
	fb_daemon_runtime_free(m->rt);
	m->rt = NULL;
	fb_http_metrics_free(m->metrics);
	m->metrics = NULL;
	fb_log_secret_clear();
}

static void
child_name(enum child_kind kind, int slot, char *out, size_t outlen)
{
	if (kind == CHILD_JOBS)
		snprintf(out, outlen, "jobs");
	else
		snprintf(out, outlen, "worker.%d", slot + 1);
}


/* Names the process (at most 15 bytes) "fb-" + its log name. */
static void
child_comm_set(const char *name)
{
	char comm[16];

	snprintf(comm, sizeof(comm), "fb-%.12s", name);
	prctl(PR_SET_NAME, comm, 0, 0, 0);
}

/* Forks a worker for slot or the jobs process; returns its pid, -1 when fork fails. */
static pid_t
spawn(struct master *m, enum child_kind kind, int slot)
{
	char name[32];
	pid_t pid;

	child_name(kind, slot, name, sizeof(name));
	fflush(NULL); /* nothing buffered may be written twice */
	pid = fork();
	if (pid < 0) {
		fb_log(FB_LOG_ERROR, "cannot fork %s: %s", name, strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int status;

		fb_log_proc_set(name);
		/* ps and top show each process' role: fb-worker.N, fb-jobs. */
		child_comm_set(name);
		/* A worker keeps its own slot's sockets only; the jobs process none. */
		for (size_t i = 0; i < m->nslots; i++)
			if (kind != CHILD_WORKER || (int)i != slot)
				slot_close(m, &m->slots[i]);
		if (kind == CHILD_WORKER)
			status = fb_daemon_worker_main(m->rt, slot + 1, m->slots[slot].fds,
			    m->nmain, m->nlisten > m->nmain ? m->slots[slot].fds[m->nmain] : -1,
			    m->metrics);
		else
			status = fb_daemon_jobs_main(m->rt);
		master_free(m);
		exit(status);
	}
	m->children = fb_xrealloc(m->children, (m->nchildren + 1) * sizeof(m->children[0]));
	m->children[m->nchildren++] = (struct child){.pid = pid, .kind = kind, .slot = slot,
	    .gen = m->gen, .started_ms = now_ms()};
	if (kind == CHILD_WORKER) {
		m->slots[slot].pid = pid;
	} else {
		m->jobs.pid = pid;
		/* It has SIGUSR1 blocked until its handler is in place: nothing is lost. */
		if (m->refresh_pending && kill(pid, SIGUSR1) == 0)
			m->refresh_pending = 0;
	}
	fb_log(FB_LOG_DEBUG, "%s started (pid %d)", name, (int)pid);
	return pid;
}

static void
signal_children(struct master *m, int sig, unsigned below_gen)
{
	for (size_t i = 0; i < m->nchildren; i++)
		if (m->children[i].gen < below_gen)
			kill(m->children[i].pid, sig);
}

/* Schedules a restart with back-off: a child that died young waits 0, 1, 2, 4, 8, 10 s. */
static void
schedule_restart(struct slot *s, int64_t lived_ms)
{
	int64_t delay = 0;

	if (lived_ms >= FB_DAEMON_STABLE_MS)
		s->fails = 0;
	s->fails++;
	if (s->fails > 1) {
		delay = FB_DAEMON_BACKOFF_MIN_MS;
		for (int i = 2; i < s->fails && delay < FB_DAEMON_BACKOFF_MAX_MS; i++)
			delay *= 2;
		if (delay > FB_DAEMON_BACKOFF_MAX_MS)
			delay = FB_DAEMON_BACKOFF_MAX_MS;
	}
	s->pending = 1;
	s->restart_at = now_ms() + delay;
}

/* Collects every child that ended: logs it and schedules a restart when it belongs. */
static void
reap(struct master *m)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		struct child c;
		char name[32], how[96];
		size_t i;
		int current, clean;

		for (i = 0; i < m->nchildren && m->children[i].pid != pid; i++)
			;
		if (i == m->nchildren)
			continue;
		c = m->children[i];
		m->children[i] = m->children[--m->nchildren];
		child_name(c.kind, c.slot, name, sizeof(name));
		if (WIFSIGNALED(st))
			snprintf(how, sizeof(how), "killed by signal %d (%s)", WTERMSIG(st),
			    strsignal(WTERMSIG(st)));
		else
			snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(st));
		current = c.gen == m->gen && !m->stopping;
		clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		if (!current) {
			fb_log(clean ? FB_LOG_INFO : FB_LOG_WARN, "%s (pid %d, generation %u) %s",
			    name, (int)pid, c.gen, how);
			continue;
		}
		fb_log(FB_LOG_WARN, "%s (pid %d) %s; restarting it", name, (int)pid, how);
		if (c.kind == CHILD_WORKER && (size_t)c.slot < m->nslots &&
		    m->slots[c.slot].pid == pid) {
			m->slots[c.slot].pid = 0;
			schedule_restart(&m->slots[c.slot], now_ms() - c.started_ms);
		} else if (c.kind == CHILD_JOBS && m->jobs.pid == pid) {
			m->jobs.pid = 0;
			schedule_restart(&m->jobs, now_ms() - c.started_ms);
		}
	}
}

static void
restart_due(struct master *m)
{
	int64_t now = now_ms();

	for (size_t i = 0; i < m->nslots; i++) {
		struct slot *s = &m->slots[i];

		if (!s->pending || s->restart_at > now)
			continue;
		s->pending = 0;
		if (spawn(m, CHILD_WORKER, (int)i) > 0) {
			fb_http_metrics_worker_restarted(m->metrics);
			fb_log(FB_LOG_INFO, "worker.%zu restarted (pid %d)", i + 1, (int)s->pid);
		} else {
			schedule_restart(s, 0);
		}
	}
	if (m->jobs.pending && m->jobs.restart_at <= now) {
		m->jobs.pending = 0;
		if (spawn(m, CHILD_JOBS, -1) < 0)
			schedule_restart(&m->jobs, 0);
	}
}

static int
listen_changed(const struct master *m, const struct fb_conf *conf)
{
	if (conf->nlisten != m->nmain)
		return 1;
	for (size_t i = 0; i < m->nmain; i++)
		if (strcmp(conf->listen[i], m->listen[i]) != 0)
			return 1;
	if ((conf->metrics_listen != NULL) != (m->nlisten > m->nmain))
		return 1;
	return conf->metrics_listen != NULL && strcmp(conf->metrics_listen, m->listen[m->nmain]) != 0;
}

/* SIGHUP: a new generation with a valid new configuration, or nothing changes. */
static void
reload(struct master *m)
{
	struct fb_daemon_runtime *nrt = NULL;
	struct fb_err err = {0};
	size_t n;

	fb_log(FB_LOG_INFO, "reloading the configuration from %s",
	    m->path != NULL ? m->path : "(built-in defaults)");
	if (fb_daemon_runtime_load(m->path, m->ov, 0, &nrt, &err) != FB_OK) {
		fb_log_err(FB_LOG_ERROR, NULL, &err);
		fb_log(FB_LOG_ERROR, "reload failed, keeping the running configuration");
		return;
	}
	if (listen_changed(m, nrt->conf))
		fb_log(FB_LOG_WARN, "server.listen or metrics.listen changed: a restart is needed "
				    "to use the new addresses; still listening on the old ones");
	n = (size_t)nrt->workers;
	if (n > m->nslots) {
		m->slots = fb_xrealloc(m->slots, n * sizeof(m->slots[0]));
		for (size_t i = m->nslots; i < n; i++) {
			if (slot_open(m, &m->slots[i], &err) != FB_OK) {
				for (size_t j = m->nslots; j < i; j++)
					slot_close(m, &m->slots[j]);
				fb_log_err(FB_LOG_ERROR, NULL, &err);
				fb_log(FB_LOG_ERROR, "reload failed, keeping the running configuration");
				fb_daemon_runtime_free(nrt);
				return;
			}
		}
	} else {
		for (size_t i = n; i < m->nslots; i++)
			slot_close(m, &m->slots[i]);
	}
	m->nslots = n;
	fb_log_setup(nrt->conf->log_format, nrt->conf->log_level, 2);
	fb_daemon_runtime_changes_log(m->rt, nrt, n);
	fb_daemon_runtime_free(m->rt);
	m->rt = nrt;
	m->gen++;
	for (size_t i = 0; i < m->nslots; i++) {
		m->slots[i].pid = 0;
		m->slots[i].fails = 0;
		m->slots[i].pending = 0;
		if (spawn(m, CHILD_WORKER, (int)i) < 0)
			schedule_restart(&m->slots[i], 0);
	}
	m->jobs.pid = 0;
	m->jobs.pending = 0;
	if (spawn(m, CHILD_JOBS, -1) < 0)
		schedule_restart(&m->jobs, 0);
	/* The old generation stops accepting and finishes what it has. */
	signal_children(m, SIGTERM, m->gen);
	fb_http_metrics_set_workers(m->metrics, (int)m->nslots);
}

/*
 * SIGUSR1: the jobs process refreshes the upstream metadata now. Forwarded to
 * the current generation's one (so `systemctl kill -s USR1 --kill-whom=main`
 * or a kill of the pid file's pid works), or to the next one when it is being
 * restarted.
 */
static void
refresh(struct master *m)
{
	if (m->jobs.pid > 0 && kill(m->jobs.pid, SIGUSR1) == 0) {
		fb_log(FB_LOG_INFO, "forwarding SIGUSR1 to the jobs process (pid %d)",
		    (int)m->jobs.pid);
		return;
	}
	m->refresh_pending = 1;
	fb_log(FB_LOG_INFO, "SIGUSR1: the jobs process is being restarted; it refreshes when it "
			    "runs");
}

static void
stop(struct master *m, int sig)
{
	if (m->stopping)
		return;
	m->stopping = 1;
	m->kill_at = now_ms() + m->rt->conf->shutdown_timeout * 1000 + STOP_GRACE_MS;
	fb_log(FB_LOG_INFO, "%s: stopping %zu processes", strsignal(sig), m->nchildren);
	signal_children(m, SIGTERM, ~0U);
}

static int64_t
next_wakeup(const struct master *m)
{
	int64_t t = now_ms() + TICK_MS;

	for (size_t i = 0; i < m->nslots; i++)
		if (m->slots[i].pending && m->slots[i].restart_at < t)
			t = m->slots[i].restart_at;
	if (m->jobs.pending && m->jobs.restart_at < t)
		t = m->jobs.restart_at;
	if (m->stopping && !m->killed && m->kill_at < t)
		t = m->kill_at;
	return t;
}

static void
run(struct master *m, const sigset_t *set)
{
	for (;;) {
		struct timespec ts;
		int64_t wait;
		int sig;

		reap(m);
		if (m->stopping && m->nchildren == 0)
			return;
		if (!m->stopping)
			restart_due(m);
		if (m->stopping && !m->killed && now_ms() >= m->kill_at) {
			fb_log(FB_LOG_WARN, "%zu processes still running: killing them",
			    m->nchildren);
			signal_children(m, SIGKILL, ~0U);
			m->killed = 1;
		}
		wait = next_wakeup(m) - now_ms();
		if (wait < 0)
			wait = 0;
		ts.tv_sec = (time_t)(wait / 1000);
		ts.tv_nsec = (long)(wait % 1000) * 1000000L;
		sig = sigtimedwait(set, NULL, &ts);
		if (sig == SIGHUP && !m->stopping)
			reload(m);
		else if (sig == SIGUSR1 && !m->stopping)
			refresh(m);
		else if (sig == SIGTERM || sig == SIGINT)
			stop(m, sig);
	}
}

int
fb_daemon_run(const char *config_path, const struct fb_conf_overrides *ov)
{
	struct master m = {.path = config_path, .ov = ov, .gen = 1};
	struct fb_err err = {0};
	sigset_t set, old;
	char *urls = NULL;
	uint64_t nofile;
	int status = 1;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	fb_log_proc_set("master");
	nofile = fb_daemon_nofile_raise();

	if (fb_daemon_runtime_load(config_path, ov, 1, &m.rt, &err) != FB_OK) {
		fb_log(FB_LOG_ERROR, "%s", err.msg);
		goto out;
	}
	m.nmain = m.rt->conf->nlisten;
	m.nlisten = m.nmain + (m.rt->conf->metrics_listen != NULL);
	m.listen = fb_xcalloc(m.nlisten, sizeof(char *));
	for (size_t i = 0; i < m.nmain; i++)
		m.listen[i] = fb_xstrdup(m.rt->conf->listen[i]);
	if (m.nlisten > m.nmain)
		m.listen[m.nmain] = fb_xstrdup(m.rt->conf->metrics_listen);
	m.slots = fb_xcalloc((size_t)m.rt->workers, sizeof(m.slots[0]));
	for (int i = 0; i < m.rt->workers; i++) {
		if (slot_open(&m, &m.slots[i], &err) != FB_OK) {
			fb_log(FB_LOG_ERROR, "%s", err.msg);
			goto out;
		}
		m.nslots++;
	}
	fb_log_setup(m.rt->conf->log_format, m.rt->conf->log_level, 2);
	fb_log(FB_LOG_DEBUG, "descriptor limit (RLIMIT_NOFILE): %ju", (uintmax_t)nofile);
	if (fb_http_metrics_new(&m.metrics, &err) != FB_OK) {
		fb_log(FB_LOG_ERROR, "%s", err.msg);
		goto out;
	}
	fb_http_metrics_set_workers(m.metrics, m.rt->workers);
	for (size_t i = 0; i < m.nslots; i++)
		if (spawn(&m, CHILD_WORKER, (int)i) < 0)
			goto fail_children;
	if (spawn(&m, CHILD_JOBS, -1) < 0)
		goto fail_children;
	urls = fb_daemon_runtime_urls(m.rt);
	printf("fedbroker listening on %s (%d workers)\n", urls, m.rt->workers);
	fflush(stdout);
	fb_log(FB_LOG_INFO, "fedbroker listening on %s (%d workers)", urls, m.rt->workers);
	if (m.nlisten > m.nmain)
		fb_log(FB_LOG_INFO, "metrics on http://%s/metrics%s", m.listen[m.nmain],
		    m.rt->conf->metrics_token != NULL ? " (bearer token required)" : "");
	free(urls);
	run(&m, &set);
	fb_log(FB_LOG_INFO, "stopped");
	status = 0;
	goto out;

fail_children:
	fb_log(FB_LOG_ERROR, "cannot start the worker processes");
	stop(&m, SIGTERM);
	run(&m, &set);
out:
	master_free(&m);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return status;
}
