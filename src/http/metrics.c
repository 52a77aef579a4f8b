/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http/metrics.c: Prometheus counters in one anonymous shared mapping made
 * by the master before it forks, so every process adds to the same numbers
 * with C11 atomics and /metrics on any worker shows the whole group.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "core/core.h"
#include "http/http.h"
#include "http/internal.h"

#define ROUTE_SLOTS (FB_HTTP_ROUTES_MAX + 1) /* slot 0 is "unmatched" */
#define CODE_SLOTS 24			     /* distinct status codes counted per route */
#define ROUTE_NAME_MAX 128

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

enum slot_state {
	SLOT_FREE = 0,
	SLOT_WRITING,
	SLOT_READY,
};

struct route_slot {
	atomic_int state;
	char name[ROUTE_NAME_MAX];
	atomic_int codes[CODE_SLOTS]; /* 0 = free; claimed with a compare-and-swap */
	atomic_uint_fast64_t code_count[CODE_SLOTS];
	atomic_uint_fast64_t bucket[NBUCKETS + 1]; /* not cumulative; last is +Inf */
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum_us;
};

/* The shared segment. Only atomics are written after the fork. */
struct fb_http_metrics {
	atomic_int workers;
	atomic_uint_fast64_t restarts;
	atomic_uint_fast64_t accept_paused[2]; /* by enum fb_http_pause */
	atomic_uint_fast64_t idle_closed;
	int64_t start_time;
	struct route_slot routes[ROUTE_SLOTS];
	struct route_slot events[FB_HTTP_AUDIT_EVENTS_MAX + 1]; /* name and count only; 0 = other */
};

enum fb_status
fb_http_metrics_new(struct fb_http_metrics **out, struct fb_err *err)
{
	struct fb_http_metrics *m;

	*out = NULL;
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return fb_err_set(err, FB_ERR_IO, "metrics: mmap %zu bytes: %s", sizeof(*m),
		    strerror(errno));
	/* The mapping is zero-filled: every atomic starts at 0. */
	m->start_time = fb_time_now();
	snprintf(m->routes[0].name, sizeof(m->routes[0].name), "%s", FB_HTTP_ROUTE_UNMATCHED);
	atomic_store(&m->routes[0].state, SLOT_READY);
	snprintf(m->events[0].name, sizeof(m->events[0].name), "other");
	atomic_store(&m->events[0].state, SLOT_READY);
	*out = m;
	return FB_OK;
}

void
fb_http_metrics_free(struct fb_http_metrics *m)
{
	if (m != NULL)
		munmap(m, sizeof(*m));
}

/*
 * The slot for name. Every process scans in the same order and claims the
 * first free slot, so two processes adding the same new name meet on the
 * same slot: one writes it, the other waits for it and finds its name.
 */
static struct route_slot *
slot_find(struct route_slot *slots, size_t n, const char *name)
{
	if (strlen(name) >= ROUTE_NAME_MAX)
		return &slots[0];
	for (size_t i = 0; i < n; i++) {
		struct route_slot *s = &slots[i];
		int st = atomic_load(&s->state);

		if (st == SLOT_FREE) {
			int expect = SLOT_FREE;

			if (atomic_compare_exchange_strong(&s->state, &expect, SLOT_WRITING)) {
				snprintf(s->name, sizeof(s->name), "%s", name);
				atomic_store(&s->state, SLOT_READY);
				return s;
			}
			st = expect;
		}
		while (st == SLOT_WRITING)
			st = atomic_load(&s->state);
		if (strcmp(s->name, name) == 0)
			return s;
	}
	return &slots[0];
}

static struct route_slot *
route_slot(struct fb_http_metrics *m, const char *name)
{
	return slot_find(m->routes, ROUTE_SLOTS, name);
}

void
fb_http_metrics_audit(const char *event, void *arg)
{
	struct fb_http_metrics *m = arg;

	if (m != NULL && event != NULL)
		atomic_fetch_add(&slot_find(m->events, FB_HTTP_AUDIT_EVENTS_MAX + 1, event)->count, 1);
}

/*
 * This process's memo of route_slot by label pointer: labels are router
 * patterns, the same pointer for every request of a route, so most
 * lookups cost one string compare instead of a scan. An entry is used
 * only when its slot is ready and carries the name asked for.
 */
#define MEMO_SIZE 128 /* a power of two above ROUTE_SLOTS */

static struct {
	const struct fb_http_metrics *m;
	const char *label;
	struct route_slot *slot;
} memo[MEMO_SIZE];

static struct route_slot *
route_slot_memo(struct fb_http_metrics *m, const char *name)
{
	size_t h = ((uintptr_t)name >> 3) & (MEMO_SIZE - 1);
	struct route_slot *s = memo[h].slot;

	if (memo[h].m == m && memo[h].label == name && atomic_load(&s->state) == SLOT_READY &&
	    strcmp(s->name, name) == 0)
		return s;
	s = route_slot(m, name);
	memo[h].m = m;
	memo[h].label = name;
	memo[h].slot = s;
	return s;
}

void
fb_http_metrics_observe(struct fb_http_metrics *m, const char *route, int code, double seconds)
{
	struct route_slot *s;
	size_t b;

	if (m == NULL)
		return;
	s = route_slot_memo(m, route);
	for (size_t i = 0; i < CODE_SLOTS; i++) {
		int c = atomic_load(&s->codes[i]);

		if (c == 0) {
			int expect = 0;

			if (!atomic_compare_exchange_strong(&s->codes[i], &expect, code))
				c = expect;
			else
				c = code;
		}
		if (c == code) {
			atomic_fetch_add(&s->code_count[i], 1);
			break;
		}
	}
	for (b = 0; b < NBUCKETS && seconds > buckets[b]; b++)
		;
	atomic_fetch_add(&s->bucket[b], 1);
	atomic_fetch_add(&s->count, 1);
	atomic_fetch_add(&s->sum_us, (uint_fast64_t)(seconds > 0 ? seconds * 1e6 : 0));
}

void
fb_http_metrics_set_workers(struct fb_http_metrics *m, int n)
{
	if (m != NULL)
		atomic_store(&m->workers, n);
}

void
fb_http_metrics_worker_restarted(struct fb_http_metrics *m)
{
	if (m != NULL)
		atomic_fetch_add(&m->restarts, 1);
}

void
fb_http_metrics_accept_paused(struct fb_http_metrics *m, enum fb_http_pause why)
{
	if (m != NULL && (unsigned)why < 2)
		atomic_fetch_add(&m->accept_paused[why], 1);
}

void
fb_http_metrics_idle_closed(struct fb_http_metrics *m)
{
	if (m != NULL)
		atomic_fetch_add(&m->idle_closed, 1);
}

/* Route patterns are plain, but label values are escaped as the format requires. */
static void
label_escape(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *s != '\0' && o + 3 < outlen; s++) {
		if (*s == '\\' || *s == '"') {
			out[o++] = '\\';
			out[o++] = *s;
		} else if (*s == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
}

enum fb_status
fb_http_metrics_render(struct fb_http_metrics *m, struct fb_buf *out, struct fb_err *err)
{
	enum fb_status rc;
	char esc[2 * ROUTE_NAME_MAX + 1];

#define ADD(...)                                           \
	do {                                               \
		rc = fb_buf_addf(out, err, __VA_ARGS__);   \
		if (rc != FB_OK)                           \
			goto out;                          \
	} while (0)

	label_escape(FB_VERSION, esc, sizeof(esc));
	ADD("# HELP fedbroker_build_info The running version.\n"
	    "# TYPE fedbroker_build_info gauge\n"
	    "fedbroker_build_info{version=\"%s\"} 1\n", esc);
	ADD("# HELP fedbroker_workers Worker processes the master keeps running.\n"
	    "# TYPE fedbroker_workers gauge\n"
	    "fedbroker_workers %d\n", atomic_load(&m->workers));
	ADD("# HELP fedbroker_worker_restarts_total Workers restarted after they died.\n"
	    "# TYPE fedbroker_worker_restarts_total counter\n"
	    "fedbroker_worker_restarts_total %ju\n", (uintmax_t)atomic_load(&m->restarts));
	ADD("# HELP fedbroker_http_accept_paused_total Times a worker stopped accepting "
	    "connections: out of descriptors (accept failed with EMFILE or ENFILE) or at "
	    "server.max_connections with no idle connection to close.\n"
	    "# TYPE fedbroker_http_accept_paused_total counter\n"
	    "fedbroker_http_accept_paused_total{reason=\"descriptors\"} %ju\n"
	    "fedbroker_http_accept_paused_total{reason=\"connections\"} %ju\n",
	    (uintmax_t)atomic_load(&m->accept_paused[FB_HTTP_PAUSE_DESCRIPTORS]),
	    (uintmax_t)atomic_load(&m->accept_paused[FB_HTTP_PAUSE_CONNECTIONS]));
	ADD("# HELP fedbroker_http_idle_closed_total Idle client connections closed to make "
	    "room for new ones.\n"
	    "# TYPE fedbroker_http_idle_closed_total counter\n"
	    "fedbroker_http_idle_closed_total %ju\n", (uintmax_t)atomic_load(&m->idle_closed));
	ADD("# HELP process_start_time_seconds Start time of the master since the epoch.\n"
	    "# TYPE process_start_time_seconds gauge\n"
	    "process_start_time_seconds %jd\n", (intmax_t)m->start_time);

	ADD("# HELP fedbroker_http_requests_total HTTP requests answered, by route and status.\n"
	    "# TYPE fedbroker_http_requests_total counter\n");
	for (size_t i = 0; i < ROUTE_SLOTS; i++) {
		struct route_slot *s = &m->routes[i];

		if (atomic_load(&s->state) != SLOT_READY)
			continue;
		label_escape(s->name, esc, sizeof(esc));
		for (size_t j = 0; j < CODE_SLOTS; j++) {
			int code = atomic_load(&s->codes[j]);

			if (code == 0)
				break;
			ADD("fedbroker_http_requests_total{route=\"%s\",code=\"%d\"} %ju\n", esc,
			    code, (uintmax_t)atomic_load(&s->code_count[j]));
		}
	}

	ADD("# HELP fedbroker_http_request_duration_seconds Time to answer HTTP requests.\n"
	    "# TYPE fedbroker_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i < ROUTE_SLOTS; i++) {
		struct route_slot *s = &m->routes[i];
		uint_fast64_t cum = 0;

		if (atomic_load(&s->state) != SLOT_READY || atomic_load(&s->count) == 0)
			continue;
		label_escape(s->name, esc, sizeof(esc));
		for (size_t b = 0; b <= NBUCKETS; b++) {
			cum += atomic_load(&s->bucket[b]);
			if (b < NBUCKETS)
				ADD("fedbroker_http_request_duration_seconds_bucket{route=\"%s\","
				    "le=\"%g\"} %ju\n", esc, buckets[b], (uintmax_t)cum);
			else
				ADD("fedbroker_http_request_duration_seconds_bucket{route=\"%s\","
				    "le=\"+Inf\"} %ju\n", esc, (uintmax_t)cum);
		}
		ADD("fedbroker_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", esc,
		    (double)atomic_load(&s->sum_us) / 1e6);
		/* _count equals the +Inf bucket, so the two always agree. */
		ADD("fedbroker_http_request_duration_seconds_count{route=\"%s\"} %ju\n", esc,
		    (uintmax_t)cum);
	}

	ADD("# HELP fedbroker_audit_events_total Audit events written (sign-ins, refusals, "
	    "locks, SAML decisions), by event.\n"
	    "# TYPE fedbroker_audit_events_total counter\n");
	for (size_t i = 0; i <= FB_HTTP_AUDIT_EVENTS_MAX; i++) {
		struct route_slot *s = &m->events[i];

		if (atomic_load(&s->state) != SLOT_READY || atomic_load(&s->count) == 0)
			continue;
		label_escape(s->name, esc, sizeof(esc));
		ADD("fedbroker_audit_events_total{event=\"%s\"} %ju\n", esc,
		    (uintmax_t)atomic_load(&s->count));
	}
#undef ADD
	rc = FB_OK;
out:
	return rc;
}
