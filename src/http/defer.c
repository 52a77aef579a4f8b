/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http/defer.c: a worker's CPU pool: threads that run the CPU-heavy part of
 * a request (password hashing) off the event loop, a bounded queue, and an
 * eventfd that wakes the loop to run each job's completion on its thread.
 *
 * Threads see only the job's work function and argument: never the
 * request, the store or a libevent object. Everything else happens on the
 * loop thread: submitting, completing, cancelling at teardown.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/core.h"
#include "http/http.h"
#include "http/internal.h"

struct job {
	struct fb_http_req *req;
	fb_http_work_fn *work;
	fb_http_done_fn *done;
	void *arg;
	struct job *next;
};

/* A FIFO of jobs. */
struct job_list {
	struct job *head, *tail;
};

struct fb_http_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;    /* a job was queued, or stop */
	struct job_list todo; /* waiting for a thread (mu) */
	struct job_list done; /* worked, waiting for the loop (mu) */
	int stop;	      /* threads exit (mu) */
	size_t pending;	      /* submitted, completion not run yet (loop thread only) */
	size_t max;
	pthread_t *threads;
	size_t nthreads;
	int efd;
	struct event *ev;
	void (*idle)(void *arg); /* called on the loop when pending drops to 0 */
	void *idle_arg;
};

static void
list_push(struct job_list *l, struct job *j)
{
	j->next = NULL;
	if (l->tail != NULL)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static struct job *
list_take_all(struct job_list *l)
{
	struct job *j = l->head;

	l->head = l->tail = NULL;
	return j;
}

static void *
pool_thread(void *arg)
{
	struct fb_http_pool *p = arg;
	const uint64_t one = 1;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct job *j;

		while (p->todo.head == NULL && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop)
			break;
		j = p->todo.head;
		p->todo.head = j->next;
		if (p->todo.head == NULL)
			p->todo.tail = NULL;
		pthread_mutex_unlock(&p->mu);
		j->work(j->arg);
		pthread_mutex_lock(&p->mu);
		list_push(&p->done, j);
		/* A full counter (2^64 - 2 wakes unread) cannot happen: the loop reads it. */
		if (write(p->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			fb_log(FB_LOG_ERROR, "cpu pool: cannot wake the event loop: %s",
			    strerror(errno));
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* The eventfd is readable: run the completions of finished jobs, oldest first. */
static void
pool_wake(evutil_socket_t fd, short what, void *arg)
{
	struct fb_http_pool *p = arg;
	struct job *j, *next;
	uint64_t n;

	if (read(p->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		fb_log(FB_LOG_ERROR, "cpu pool: eventfd read: %s", strerror(errno));
	pthread_mutex_lock(&p->mu);
	j = list_take_all(&p->done);
	pthread_mutex_unlock(&p->mu);
	for (; j != NULL; j = next) {
		next = j->next;
		p->pending--;
		fb_http_req_resume(j->req);
		j->done(j->req, j->arg);
		free(j);
	}
	if (p->pending == 0 && p->idle != NULL)
		p->idle(p->idle_arg);
}

enum fb_status
fb_http_pool_new(struct event_base *base, size_t nthreads, size_t max,
    void (*idle)(void *arg), void *idle_arg, struct fb_http_pool **out, struct fb_err *err)
{
	struct fb_http_pool *p = fb_xcalloc(1, sizeof(*p));
	enum fb_status rc;
	int e;

	*out = NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->max = max > 0 ? max : 1;
	p->idle = idle;
	p->idle_arg = idle_arg;
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0) {
		rc = fb_err_set(err, FB_ERR_IO, "cpu pool: eventfd: %s", strerror(errno));
		goto out;
	}
	p->ev = event_new(base, p->efd, EV_READ | EV_PERSIST, pool_wake, p);
	if (p->ev == NULL || event_add(p->ev, NULL) != 0) {
		rc = fb_err_set(err, FB_ERR_INTERNAL, "cpu pool: cannot watch the eventfd");
		goto out;
	}
	p->threads = fb_xcalloc(nthreads > 0 ? nthreads : 1, sizeof(p->threads[0]));
	for (size_t i = 0; i < (nthreads > 0 ? nthreads : 1); i++) {
		if ((e = pthread_create(&p->threads[i], NULL, pool_thread, p)) != 0) {
			rc = fb_err_set(err, FB_ERR_INTERNAL, "cpu pool: cannot start a thread: %s",
			    strerror(e));
			goto out;
		}
		p->nthreads++;
	}
	*out = p;
	p = NULL;
	rc = FB_OK;
out:
	fb_http_pool_free(p);
	return rc;
}

enum fb_status
fb_http_pool_submit(struct fb_http_pool *p, struct fb_http_req *req, fb_http_work_fn *work,
    fb_http_done_fn *done, void *arg, struct fb_err *err)
{
	struct job *j;

	/* SECURITY: bounded: a flood of sign-ins is refused, not queued without end. */
	if (p->pending >= p->max)
		return fb_err_set(err, FB_ERR_LIMIT, "cpu pool: %zu jobs pending already",
		    p->pending);
	j = fb_xcalloc(1, sizeof(*j));
	j->req = req;
	j->work = work;
	j->done = done;
	j->arg = arg;
	p->pending++;
	pthread_mutex_lock(&p->mu);
	list_push(&p->todo, j);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return FB_OK;
}

size_t
fb_http_pool_pending(const struct fb_http_pool *p)
{
	return p != NULL ? p->pending : 0;
}

void
fb_http_pool_free(struct fb_http_pool *p)
{
	struct job *j, *next, *left[2];

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	/* A running job finishes first (a hash takes at most a second or so). */
	for (size_t i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	/* Jobs never run or never completed: their owners free them, no reply. */
	left[0] = list_take_all(&p->done);
	left[1] = list_take_all(&p->todo);
	for (size_t k = 0; k < 2; k++)
		for (j = left[k]; j != NULL; j = next) {
			next = j->next;
			j->done(NULL, j->arg);
			fb_http_req_drop(j->req);
			free(j);
		}
	if (p->ev != NULL)
		event_free(p->ev);
	if (p->efd >= 0)
		close(p->efd);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
}
