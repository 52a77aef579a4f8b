/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scim/push.c: the outbox drainer. Each target's new changes are copied into
 * its outbox, due entries are claimed (leased, so no other process pushes
 * them meanwhile) and each object is brought in step by a short chain of
 * requests on the asynchronous HTTP client: one object's requests one after
 * the other, at most concurrency objects at once per target.
 *
 * A user: POST /Users when it has no remote id (after a lookup by userName
 * when an earlier claim may have pushed it, or on a 409: adopted when its
 * externalId is ours or absent), PUT /Users/{id} when its body's digest
 * differs from the one last pushed, nothing otherwise; gone or out of scope:
 * the target's policy (DELETE, PATCH active false, or kept).
 * A group: POST /Groups (at most 100 members), then PATCH add/remove with
 * path "members" in chunks of at most 100, against the mirror of what was
 * pushed (AWS never returns members); gone: DELETE when fedbroker made it.
 * Answers: 2xx moves on; 429 and 5xx, timeouts and lost connections are
 * retried with capped exponential backoff honouring Retry-After; 401 and 403
 * pause the whole target (no retry storm); another 4xx is recorded against
 * the object, whose entry waits an hour or its next change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "ident/ident.h"
#include "map/map.h"
#include "net/net.h"
#include "scim/scim.h"

#define POLL_INTERVAL_S    1
#define RETRY_AFTER_MAX_S  3600
#define ERROR_WAIT_S	   3600 /* a 4xx: retried after this, or at the object's next change */
#define AUTH_PAUSE_S	   60   /* a 401 or 403 pauses the target */
#define WAIT_TRANSPORT	   3    /* a sync waits for retries of lost requests this many times */
#define SCIM_MAX_BODY	   (4 * 1024 * 1024)
#define SCIM_CONTENT_TYPE  "application/scim+json"
#define DIGEST_INACTIVE	   "inactive"

struct fb_scim;
struct job;
struct listing;

struct target {
	struct fb_scim *s;
	const struct fb_conf_scim_target *c;
	const struct fb_map_rule *user_rule, *group_rule;
	size_t inflight;
	int64_t paused_until;	/* seconds */
	int down;               /* failed periods in a row (429, 5xx, no answer): 0 when up */
	int64_t next_slot_ms;	/* the rate limit's next free slot */
	int64_t retry_until;	/* the latest retry this engine scheduled (seconds) */
	int claimed;		/* the last round claimed something */
	int64_t next_reconcile; /* FB_SCIM_RECONCILE: when (seconds) */
	uint64_t reported;	/* counts.requests at the last report written */
	int64_t live_at;        /* when the live counts were last written (seconds) */
	json_t *groups_due;     /* groups to queue at the next round (user_groups_queue) */
	int64_t flushed_at;     /* when groups_due was last queued (seconds) */
	uint64_t live_requests; /* counts.requests then */
	struct listing *list;   /* a full reconcile's listing of the target, or NULL */
	struct fb_scim_counts counts;
};

struct fb_scim {
	const struct fb_conf *conf;
	struct fb_store *st;
	struct event_base *base;
	struct fb_net_http *http;
	struct fb_map_set *maps;
	struct event *timer, *kick;
	struct target *t;
	size_t nt;
	struct job *jobs; /* running */
	unsigned flags;
	json_t *plan; /* FB_SCIM_DRY_RUN: what would be sent */
	char owner[160];
};

struct listing {
	struct target *t;
	int phase;       /* 0: /Users, 1: /Groups */
	char *cursor;    /* aws: the next page's cursor (NULL: the first page) */
	int64_t start;   /* generic: the next page's startIndex */
	size_t pages;    /* of the phase */
	int tries;       /* of the page under way */
	int64_t began;   /* seconds: rows recorded since are newer than the listing */
	json_t *seen[2]; /* remote id -> [externalId or null, name or null, active] */
	json_t *touched; /* "kind:object" of the ids this engine recorded meanwhile */
	struct fb_net_http_call *call;
	struct event *delay;
	struct fb_net_http_request rq;
	char *url;
};

typedef void answer_fn(struct job *j, const struct fb_net_http_response *resp);

/* One object being brought in step. */
struct job {
	struct fb_scim *s;
	struct target *t;
	struct job *prev, *next;
	struct fb_store_scim_item it;
	int is_user;
	answer_fn *on_answer;
	struct event *delay;
	struct fb_net_http_call *call;
	struct fb_net_http_request rq; /* the request to send (strings below) */
	char *url, *method, *body;
	json_t *obj;	 /* the body wanted at the target */
	char *digest;	 /* its digest */
	json_t *old;	 /* the body last pushed (stored), or NULL */
	char *name;	 /* userName or displayName: what a lookup filters on */
	char *remote_id; /* the target's id, NULL when none */
	int managed;
	char *username; /* a user's, and its upstream groups (user_begin) */
	char **up;
	size_t nup;
	int after_conflict; /* the lookup follows a 409 */
	int restarted;
	/* membership changes of a group: local user ids and their remote ids */
	char **add_local, **add_remote, **rm_local, **rm_remote;
	size_t nadd, nrm, pos_add, pos_rm, chunk;
	int chunk_remove;
};

/* ---- small helpers ------------------------------------------------------------ */

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
strv_add(char ***v, size_t *n, const char *s)
{
	*v = fb_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = fb_xstrdup(s);
}

static int
strv_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

static int
collect_id(const char *id, void *arg)
{
	struct {
		char **v;
		size_t n;
	} *l = arg;

	strv_add(&l->v, &l->n, id);
	return 0;
}

/* The groups an upstream gave u (new array of *n new names). */
static void
upstream_names(struct fb_store *st, const struct fb_store_user *u, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (u->id != NULL && fb_store_upstream_groups(st, u->id, out, n, NULL) != FB_OK) {
		*out = NULL;
		*n = 0;
	}
}

/*
 * 1 when u (with its upstream groups up) is in the target's scope: any user
 * without scope groups, else a member (declared or upstream) of one of them.
 */
static int
user_in_scope(const struct fb_conf_scim_target *c, const struct fb_conf *conf,
    const struct fb_store_user *u, char *const *up, size_t nup)
{
	if (c->ngroups == 0)
		return 1;
	for (size_t i = 0; i < c->ngroups; i++)
		if (strv_has(up, nup, c->groups[i]) ||
		    fb_ident_group_member(conf, c->groups[i], u->username))
			return 1;
	return 0;
}

static int
group_in_scope(const struct fb_conf_scim_target *c, const char *name)
{
	return c->ngroups == 0 || strv_has(c->groups, c->ngroups, name);
}

static const struct fb_conf_group *
conf_group(const struct fb_conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->ngroups; i++)
		if (strcmp(conf->groups[i].name, name) == 0)
			return &conf->groups[i];
	return NULL;
}

/* ---- the job's end -------------------------------------------------------------- */

static void
job_free(struct job *j)
{
	struct fb_scim *s = j->s;

	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		s->jobs = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	if (j->call != NULL)
		fb_net_http_cancel(j->call);
	if (j->delay != NULL)
		event_free(j->delay);
	free(j->it.kind);
	free(j->it.object);
	free(j->it.last_error);
	free(j->url);
	free(j->method);
	free(j->body);
	json_decref(j->obj);
	json_decref(j->old);
	free(j->digest);
	free(j->name);
	free(j->remote_id);
	strv_free(j->add_local, j->nadd);
	strv_free(j->add_remote, j->nadd);
	strv_free(j->rm_local, j->nrm);
	strv_free(j->rm_remote, j->nrm);
	free(j->username);
	strv_free(j->up, j->nup);
	free(j);
}

/* Ends j: its target has room for another, and a round runs soon. */
static void
job_end(struct job *j)
{
	struct target *t = j->t;

	t->inflight--;
	job_free(j);
	if (t->s->kick != NULL)
		event_active(t->s->kick, 0, 0);
}

static void
job_done(struct job *j)
{
	struct fb_err err = {0};

	if ((j->s->flags & FB_SCIM_DRY_RUN) == 0 &&
	    fb_store_scim_outbox_done(j->s->st, j->t->c->name, &j->it, j->s->owner, &err) != FB_OK)
		fb_log_err(FB_LOG_ERROR, NULL, &err);
	j->t->counts.pushed++;
	job_end(j);
}

/* The object failed: recorded against it, retried at retry_at. */
static void
job_fail_at(struct job *j, int64_t retry_at, const char *msg)
{
	struct fb_err err = {0};

	if (j->s->flags & FB_SCIM_DRY_RUN) {
		json_array_append_new(j->s->plan, json_pack("{s:s, s:s, s:s}", "kind", j->it.kind,
		    "object", j->it.object, "error", msg));
		job_end(j);
		return;
	}
	fb_log(FB_LOG_WARN, "scim %s: %s %s: %s", j->t->c->name, j->it.kind, j->it.object, msg);
	if (fb_store_scim_outbox_fail(j->s->st, j->t->c->name, &j->it, j->s->owner, retry_at, msg,
		&err) != FB_OK)
		fb_log_err(FB_LOG_ERROR, NULL, &err);
	job_end(j);
}

/* A failure of the object itself (a 4xx, a body that cannot be built). */
static void
job_error(struct job *j, const char *fmt, ...) FB_PRINTF(2, 3);

static void
job_error(struct job *j, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = fb_xvasprintf(fmt, ap);
	va_end(ap);
	j->t->counts.failed++;
	job_fail_at(j, fb_time_now() + ERROR_WAIT_S, msg);
	free(msg);
}

/*
 * A transient failure: capped exponential backoff, or Retry-After when
 * given. A sync waits for the retry when the target answered (429, 5xx),
 * and for the first few retries of a request whose answer was lost; not
 * for a target that refuses the token (pause >= 0) or stays unreachable.
 */
static void
job_retry_wait(struct job *j, int64_t retry_after, int wait_for_it, const char *msg)
{
	int64_t wait = (int64_t)1 << (j->it.attempts < 8 ? j->it.attempts : 8);
	int64_t at;

	if (wait > j->t->c->backoff_max)
		wait = j->t->c->backoff_max;
	if (retry_after >= 0)
		wait = retry_after < RETRY_AFTER_MAX_S ? retry_after : RETRY_AFTER_MAX_S;
	at = fb_time_now() + wait;
	if (wait_for_it && at > j->t->retry_until)
		j->t->retry_until = at;
	j->t->counts.retries++;
	job_fail_at(j, at, msg);
}

/*
 * A 429, a 5xx or no answer: the whole target waits, not each object apart
 * (a target down for an hour gets one probe per period, not one request
 * per object): 1 s, 2, 4... up to backoff_max, or Retry-After. The
 * failures of the requests in flight when it began count once.
 */
static void
target_down(struct target *t, int64_t retry_after)
{
	int64_t now = fb_time_now(), wait;

	if (retry_after > RETRY_AFTER_MAX_S)
		retry_after = RETRY_AFTER_MAX_S;
	if (t->paused_until > now) {
		if (retry_after >= 0 && now + retry_after > t->paused_until)
			t->paused_until = now + retry_after;
		return;
	}
	t->down++;
	wait = (int64_t)1 << (t->down - 1 < 20 ? t->down - 1 : 20);
	if (wait > t->c->backoff_max)
		wait = t->c->backoff_max;
	if (retry_after >= 0)
		wait = retry_after;
	t->paused_until = now + wait;
	if (t->down == 2)
		fb_log(FB_LOG_WARN,
		    "scim %s: the target fails; one request every %lld s at most "
		    "until it answers (scim.targets[].backoff_max: %lld s)",
		    t->c->name, (long long)wait, (long long)t->c->backoff_max);
}

/* A request whose outcome is unknown (no answer, timed out): looked up before it is sent again. */
static void
job_retry(struct job *j, int64_t retry_after, const char *msg)
{
	target_down(j->t, retry_after);
	job_retry_wait(j, retry_after,
	    j->it.attempts < WAIT_TRANSPORT && j->t->down <= WAIT_TRANSPORT, msg);
}

/* ---- requests ---------------------------------------------------------------------- */

static void http_done(enum fb_status st, struct fb_net_http_response *resp,
    const struct fb_err *err, void *arg);

static void
job_fire(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	struct fb_err err = {0};

	if (fb_net_http_start(j->s->http, &j->rq, http_done, j, &j->call, &err) != FB_OK)
		job_retry(j, -1, err.msg);
}

static void group_next(struct job *j);

/*
 * FB_SCIM_DRY_RUN: the request goes to the plan instead, and the object's
 * chain goes on as if it had succeeded (a group's next member chunk).
 */
static void
dry_send(struct job *j, const char *method, const char *path)
{
	int group = !j->is_user, patch = strcmp(method, "PATCH") == 0;
	const char *action = strcmp(method, "POST") == 0	    ? "create"
			     : strcmp(method, "PUT") == 0	    ? "update"
			     : strcmp(method, "DELETE") == 0	    ? "delete"
			     : !group				    ? "deactivate"
			     : j->chunk_remove			    ? "remove_members"
								    : "add_members";
	size_t members = group && patch ? j->chunk
			 : group && strcmp(method, "POST") == 0 ? j->pos_add
								: 0;

	json_t *entry = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:I}", "kind", j->it.kind,
	    "object", j->it.object, "name", j->name, "action", action, "method", method, "path",
	    path, "members", (json_int_t)members);

	/* An update names the attributes that change (when the body last pushed is known). */
	if (strcmp(action, "update") == 0 && j->old != NULL && j->obj != NULL) {
		json_t *changed = json_array(), *v;
		const char *key;

		json_object_foreach(j->obj, key, v) {
			if (!json_equal(v, json_object_get(j->old, key)))
				json_array_append_new(changed, json_string(key));
		}
		json_object_foreach(j->old, key, v) {
			if (json_object_get(j->obj, key) == NULL)
				json_array_append_new(changed, json_string(key));
		}
		json_object_set_new(entry, "changes", changed);
	}
	json_array_append_new(j->s->plan, entry);
	if (group && patch) {
		if (j->chunk_remove)
			j->pos_rm += j->chunk;
		else
			j->pos_add += j->chunk;
		group_next(j);
	} else if (group && strcmp(method, "POST") == 0) {
		j->remote_id = fb_xstrdup("(new)");
		group_next(j);
	} else {
		job_done(j);
	}
}

static void status_add(struct fb_scim_status_count *c, int status, uint64_t n);
static void live_write(struct target *t, int64_t now);

/* One request answered with status (0: none came): counted by status. */
static void
count_answer(struct target *t, long status)
{
	t->counts.requests++;
	status_add(t->counts.by_status, (int)status, 1);
}

/* When (ms) the next request to t may leave under its rate limit; takes that slot. */
static int64_t
rate_slot(struct target *t, int64_t now)
{
	int64_t slot = now;

	if (t->c->rate_limit > 0) {
		if (t->next_slot_ms > slot)
			slot = t->next_slot_ms;
		t->next_slot_ms = slot + 1000 / t->c->rate_limit;
	}
	return slot;
}

/* Sends method path (relative to the target's URL) with body (stolen; NULL: none). */
static void
job_send(struct job *j, const char *method, const char *path, json_t *body, answer_fn *next)
{
	struct target *t = j->t;
	int64_t now = fb_time_now_ms(), slot;

	free(j->url);
	free(j->method);
	free(j->body);
	j->url = fb_xasprintf("%s%s", t->c->url, path);
	j->method = fb_xstrdup(method);
	j->body = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	memset(&j->rq, 0, sizeof(j->rq));
	j->rq.url = j->url;
	j->rq.method = strcmp(method, "GET") == 0 ? NULL : j->method;
	j->rq.loopback_http = 1; /* conf refuses http:// to anything but loopback */
	j->rq.body = j->body;
	j->rq.body_len = j->body != NULL ? strlen(j->body) : 0;
	j->rq.content_type = SCIM_CONTENT_TYPE;
	j->rq.accept = SCIM_CONTENT_TYPE ", application/json";
	j->rq.bearer = t->c->token;
	j->rq.ca_file = t->c->ca_file;
	j->rq.timeout_ms = t->c->timeout_ms;
	j->rq.max_body = SCIM_MAX_BODY;
	j->on_answer = next;
	if (j->s->flags & FB_SCIM_DRY_RUN) {
		dry_send(j, method, path);
		return;
	}
	slot = rate_slot(t, now);
	if (slot > now) {
		struct timeval tv = {.tv_sec = (slot - now) / 1000,
		    .tv_usec = (suseconds_t)((slot - now) % 1000) * 1000};

		if (j->delay == NULL)
			j->delay = evtimer_new(j->s->base, job_fire, j);
		evtimer_add(j->delay, &tv);
		return;
	}
	job_fire(-1, 0, j);
}

static int
is_write(const char *method)
{
	return strcmp(method, "GET") != 0;
}

static void
http_done(enum fb_status st, struct fb_net_http_response *resp, const struct fb_err *err,
    void *arg)
{
	struct job *j = arg;
	struct target *t = j->t;
	char detail[400], *msg;

	j->call = NULL;
	count_answer(t, st == FB_OK ? resp->status : 0);
	if (st != FB_OK) {
		/* The outcome is unknown: the next claim looks the object up first. */
		msg = fb_xasprintf("%s %s: %s", j->method, j->url, err != NULL ? err->msg : "failed");
		job_retry(j, -1, msg);
		free(msg);
		return;
	}
	if (resp->status >= 200 && resp->status < 300 && is_write(j->method))
		t->counts.writes++;
	if (resp->status == 401 || resp->status == 403) {
		fb_scim_error_detail(resp->body, resp->body_len, detail, sizeof(detail));
		t->paused_until = fb_time_now() + AUTH_PAUSE_S;
		fb_log(FB_LOG_ERROR,
		    "scim %s: HTTP %ld from %s: the target refuses the token "
		    "(scim.targets[].token): %s; pausing the target for %d s",
		    t->c->name, resp->status, t->c->url, detail, AUTH_PAUSE_S);
		msg = fb_xasprintf("HTTP %ld from %s: the target refuses the token: %s", resp->status,
		    t->c->name, detail);
		job_retry_wait(j, AUTH_PAUSE_S, 0, msg);
		free(msg);
		return;
	}
	if (resp->status == 429 || resp->status >= 500) {
		fb_scim_error_detail(resp->body, resp->body_len, detail, sizeof(detail));
		msg = fb_xasprintf("%s %s: HTTP %ld: %s", j->method, j->url, resp->status, detail);
		target_down(t, resp->retry_after);
		job_retry_wait(j, resp->retry_after, 1, msg);
		free(msg);
		return;
	}
	if (t->down > 0)
		fb_log(FB_LOG_INFO, "scim %s: the target answers again", t->c->name);
	t->down = 0;
	j->on_answer(j, resp);
}

/* Records the failure of an answer the step did not expect. */
static void
job_unexpected(struct job *j, const struct fb_net_http_response *resp)
{
	char detail[400];

	fb_scim_error_detail(resp->body, resp->body_len, detail, sizeof(detail));
	job_error(j, "%s %s: HTTP %ld: %s", j->method, j->url, resp->status, detail);
}

/* A POST's answer: 0 with the new object's id in j (made by fedbroker), else the job failed. */
static int
created(struct job *j, const struct fb_net_http_response *resp)
{
	if (resp->status != 201 && resp->status != 200) {
		job_unexpected(j, resp);
		return -1;
	}
	if ((j->remote_id = fb_scim_resource_id(resp->body, resp->body_len)) == NULL) {
		job_error(j, "%s %s: HTTP %ld without an id", j->method, j->url, resp->status);
		return -1;
	}
	j->managed = 1;
	return 0;
}

/* A push recorded j's remote id: a listing under way must not judge it by its pages. */
static void
listing_touch(struct job *j)
{
	char *key;

	if (j->t->list == NULL)
		return;
	key = fb_xasprintf("%s:%s", j->it.kind, j->it.object);
	json_object_set_new(j->t->list->touched, key, json_true());
	free(key);
}

static enum fb_status
remote_save(struct job *j, const char *digest)
{
	/* The body goes with its digest (what the dry run compares); members never. */
	char *body = digest != NULL && j->obj != NULL && strcmp(digest, DIGEST_INACTIVE) != 0
			 ? json_dumps(j->obj, JSON_COMPACT | JSON_SORT_KEYS)
			 : NULL;
	struct fb_store_scim_remote rm = {(char *)j->t->c->name, j->it.kind, j->it.object,
	    j->remote_id, j->managed, (char *)digest,
	    body != NULL && strlen(body) <= FB_STORE_VALUE_MAX ? body : NULL, 0};
	struct fb_err err = {0};
	enum fb_status r;

	if (j->s->flags & FB_SCIM_DRY_RUN) {
		free(body);
		return FB_OK;
	}
	if ((r = fb_store_scim_remote_put(j->s->st, &rm, &err)) != FB_OK)
		job_error(j, "recording the remote id: %s", err.msg);
	else
		listing_touch(j);
	free(body);
	return r;
}

static void
remote_forget(struct job *j)
{
	struct fb_err err = {0};

	if ((j->s->flags & FB_SCIM_DRY_RUN) == 0 &&
	    fb_store_scim_remote_delete(j->s->st, j->t->c->name, j->it.kind, j->it.object, &err) !=
		FB_OK)
		fb_log_err(FB_LOG_ERROR, NULL, &err);
	free(j->remote_id);
	j->remote_id = NULL;
}

/* GET endpoint?filter=attr eq "value" (quoted, as AWS requires). */
static void
job_lookup(struct job *j, const char *endpoint, const char *attr, answer_fn *next)
{
	char *filter = fb_xasprintf("%s eq \"%s\"", attr, j->name);
	char *esc = curl_easy_escape(NULL, filter, 0);
	char *path = fb_xasprintf("%s?filter=%s", endpoint, esc != NULL ? esc : "");

	job_send(j, "GET", path, NULL, next);
	free(path);
	curl_free(esc);
	free(filter);
}

/*
 * From a lookup's answer: FB_OK with j->remote_id and j->managed set when
 * the object is there and fedbroker may manage it (its externalId is ours,
 * or it has none: adopted, never deleted); FB_ERR_NOTFOUND when it is not
 * there; FB_ERR_DENIED (the job failed) when someone else's.
 */
static enum fb_status
lookup_adopt(struct job *j, const struct fb_net_http_response *resp, const char *ours)
{
	json_t *b = json_loadb(resp->body, resp->body_len, 0, NULL);
	json_t *hit = json_array_get(json_object_get(b, "Resources"), 0);
	const char *id = json_string_value(json_object_get(hit, "id"));
	const char *ext = json_string_value(json_object_get(hit, "externalId"));
	enum fb_status r = FB_ERR_NOTFOUND;

	if (resp->status != 200 || b == NULL) {
		job_unexpected(j, resp);
		r = FB_ERR_DENIED;
	} else if (hit != NULL && (id == NULL || id[0] == '\0')) {
		job_error(j, "lookup of %s: an answer without an id", j->name);
		r = FB_ERR_DENIED;
	} else if (hit != NULL && ext != NULL && ext[0] != '\0' && strcmp(ext, ours) != 0) {
		job_error(j,
		    "%s exists at the target with externalId %.64s, made by someone else: "
		    "not adopted",
		    j->name, ext);
		r = FB_ERR_DENIED;
	} else if (hit != NULL) {
		free(j->remote_id);
		j->remote_id = fb_xstrdup(id);
		j->managed = ext != NULL && strcmp(ext, ours) == 0;
		r = FB_OK;
	}
	json_decref(b);
	return r;
}

/* ---- users ----------------------------------------------------------------------- */

static void user_posted(struct job *j, const struct fb_net_http_response *resp);
static void user_put_done(struct job *j, const struct fb_net_http_response *resp);

/*
 * Queues the groups of the user, so its memberships follow its new remote
 * id: gathered in t->groups_due (one entry per group however many of its
 * members were just made) and queued at the next round (groups_flush), after
 * the remote ids were recorded. A process killed meanwhile loses nothing: the
 * full reconcile every start makes queues every group.
 */
static void
user_groups_queue(struct job *j)
{
	const struct fb_conf_group **g = NULL;
	size_t ng;

	if ((j->s->flags & FB_SCIM_DRY_RUN) || j->username == NULL)
		return;
	ng = fb_ident_groups(j->s->conf, j->username, &g);
	for (size_t i = 0; i < ng + j->nup; i++) {
		const char *name = i < ng ? g[i]->name : j->up[i - ng];

		if (group_in_scope(j->t->c, name))
			json_object_set_new(j->t->groups_due, name, json_true());
	}
	free(g);
}

/*
 * Queues the groups user_groups_queue gathered, once a second while pushes
 * run (each group once however many of its members were made meanwhile).
 */
static void
groups_flush(struct target *t, int64_t now)
{
	const char *g;
	json_t *v;

	if (json_object_size(t->groups_due) == 0 || (t->inflight > 0 && now <= t->flushed_at))
		return;
	t->flushed_at = now;
	json_object_foreach(t->groups_due, g, v)
		fb_store_scim_outbox_add(t->s->st, t->c->name, FB_STORE_SCIM_GROUP, g, NULL);
	json_object_clear(t->groups_due);
}

static void
user_put(struct job *j)
{
	char *path = fb_xasprintf("/Users/%s", j->remote_id);

	job_send(j, "PUT", path, json_incref(j->obj), user_put_done);
	free(path);
}

static void
user_post(struct job *j)
{
	job_send(j, "POST", "/Users", json_incref(j->obj), user_posted);
}

static void
user_looked_up(struct job *j, const struct fb_net_http_response *resp)
{
	enum fb_status r = lookup_adopt(j, resp, j->it.object);

	if (r == FB_OK && remote_save(j, NULL) == FB_OK)
		user_put(j);
	else if (r == FB_ERR_NOTFOUND && j->after_conflict)
		job_error(j, "409 on create, yet no user has userName %s", j->name);
	else if (r == FB_ERR_NOTFOUND)
		user_post(j);
}

static void
user_posted(struct job *j, const struct fb_net_http_response *resp)
{
	if (resp->status == 409) {
		j->after_conflict = 1;
		job_lookup(j, "/Users", "userName", user_looked_up);
		return;
	}
	if (created(j, resp) != 0 || remote_save(j, j->digest) != FB_OK)
		return;
	user_groups_queue(j);
	job_done(j);
}

static void
user_put_done(struct job *j, const struct fb_net_http_response *resp)
{
	if (resp->status == 404 && !j->restarted) {
		/* Deleted at the target meanwhile: made again. */
		j->restarted = 1;
		remote_forget(j);
		user_post(j);
		return;
	}
	if (resp->status != 200 && resp->status != 204) {
		job_unexpected(j, resp);
		return;
	}
	if (remote_save(j, j->digest) != FB_OK)
		return;
	if (j->after_conflict || j->it.attempts > 0)
		user_groups_queue(j);
	job_done(j);
}

static void
user_gone_done(struct job *j, const struct fb_net_http_response *resp)
{
	if (resp->status == 404 || (strcmp(j->method, "DELETE") == 0 && resp->status < 300)) {
		remote_forget(j);
		job_done(j);
	} else if (resp->status < 300) {
		if (remote_save(j, DIGEST_INACTIVE) == FB_OK)
			job_done(j);
	} else {
		job_unexpected(j, resp);
	}
}

/* A user deleted, or out of the pushed scope: the target's policy. */
static void
user_deprovision(struct job *j, enum fb_conf_scim_deprovision policy, const char *digest)
{
	char *path;

	if (policy == FB_CONF_SCIM_KEEP || (policy == FB_CONF_SCIM_DELETE && !j->managed)) {
		/* Never deleted when fedbroker did not make it (AWS Control Tower's users). */
		if (policy == FB_CONF_SCIM_DELETE)
			remote_forget(j);
		job_done(j);
		return;
	}
	path = fb_xasprintf("/Users/%s", j->remote_id);
	if (policy == FB_CONF_SCIM_DELETE) {
		job_send(j, "DELETE", path, NULL, user_gone_done);
	} else if (digest != NULL && strcmp(digest, DIGEST_INACTIVE) == 0) {
		job_done(j);
	} else {
		job_send(j, "PATCH", path,
		    json_pack("{s:[s], s:[{s:s, s:s, s:b}]}", "schemas", FB_SCIM_PATCH_SCHEMA,
			"Operations", "op", "replace", "path", "active", "value", 0),
		    user_gone_done);
	}
	free(path);
}

static void
user_begin(struct job *j)
{
	struct fb_scim *s = j->s;
	const struct fb_conf_scim_target *c = j->t->c;
	struct fb_store_user u = {0};
	struct fb_store_scim_remote rm = {0};
	struct fb_err err = {0};
	json_t *ujson = NULL;
	char **groups = NULL;
	size_t ngroups = 0;
	enum fb_status r;
	int present, kept = 0;

	r = fb_store_user_get_by_id(s->st, j->it.object, &u, &err);
	if (r != FB_OK && r != FB_ERR_NOTFOUND) {
		job_retry(j, -1, err.msg);
		return;
	}
	present = r == FB_OK;
	if (present)
		upstream_names(s->st, &u, &groups, &ngroups);
	/*
	 * Kept for user_groups_queue: the user's upstream groups need no second
	 * read. Set before anything below may end (and free) the job: nothing
	 * touches j after the decision that ends it.
	 */
	if (present && j->username == NULL) {
		j->username = fb_xstrdup(u.username);
		j->up = groups;
		j->nup = ngroups;
		kept = 1;
	}
	if (fb_store_scim_remote_get(s->st, c->name, FB_STORE_SCIM_USER, j->it.object, &rm, &err) ==
	    FB_OK) {
		j->remote_id = fb_xstrdup(rm.remote_id);
		j->managed = rm.managed;
		j->old = rm.body != NULL ? json_loads(rm.body, 0, NULL) : NULL;
	}
	if (!present || !user_in_scope(c, s->conf, &u, groups, ngroups)) {
		if (j->remote_id == NULL)
			job_done(j);
		else
			user_deprovision(j, present ? c->on_out_of_scope : c->on_delete, rm.digest);
		goto out;
	}
	if (fb_ident_user_json_with(s->conf, &u, (const char *const *)groups, ngroups, &ujson,
		&err) != FB_OK ||
	    fb_scim_user_body(c, j->t->user_rule, ujson, &j->obj, &err) != FB_OK) {
		job_error(j, "%s", err.msg);
		goto out;
	}
	j->digest = fb_scim_body_digest(j->obj);
	j->name = fb_xstrdup(json_string_value(json_object_get(j->obj, "userName")));
	if (j->remote_id != NULL && rm.digest != NULL && strcmp(rm.digest, j->digest) == 0)
		job_done(j); /* in step: no write */
	else if (j->remote_id != NULL)
		user_put(j);
	else if (j->it.attempts > 0)
		job_lookup(j, "/Users", "userName", user_looked_up); /* an earlier push may have made it */
	else
		user_post(j);
out:
	json_decref(ujson);
	if (!kept)
		strv_free(groups, ngroups);
	fb_store_user_cleanup(&u);
	fb_store_scim_remote_cleanup(&rm);
}

/* ---- groups ----------------------------------------------------------------------- */

static void group_begin(struct job *j);

static int
mirror_set(struct job *j, char *const *ids, size_t n, int present)
{
	struct fb_err err = {0};

	if ((j->s->flags & FB_SCIM_DRY_RUN) || n == 0)
		return 0;
	if (fb_store_scim_members_put(j->s->st, j->t->c->name, j->it.object,
	        (const char *const *)ids, n, present, &err) != FB_OK) {
		job_error(j, "recording members: %s", err.msg);
		return -1;
	}
	return 0;
}

/* Forgets the group's remote id and the members pushed into it. */
static int
group_forget(struct job *j)
{
	struct {
		char **v;
		size_t n;
	} l = {0};
	int rc;

	remote_forget(j);
	if (j->s->flags & FB_SCIM_DRY_RUN)
		return 0;
	fb_store_scim_member_list(j->s->st, j->t->c->name, j->it.object, collect_id, &l, NULL);
	rc = mirror_set(j, l.v, l.n, 0);
	strv_free(l.v, l.n);
	return rc;
}

static void
group_patched(struct job *j, const struct fb_net_http_response *resp)
{
	size_t from = j->chunk_remove ? j->pos_rm : j->pos_add;

	if (resp->status == 404 && !j->restarted) {
		j->restarted = 1;
		if (group_forget(j) == 0)
			group_begin(j);
		return;
	}
	if (resp->status != 200 && resp->status != 204) {
		job_unexpected(j, resp);
		return;
	}
	if (mirror_set(j, (j->chunk_remove ? j->rm_local : j->add_local) + from, j->chunk,
		!j->chunk_remove) != 0)
		return;
	if (j->chunk_remove)
		j->pos_rm += j->chunk;
	else
		j->pos_add += j->chunk;
	group_next(j);
}

/* The next PATCH of at most FB_SCIM_MEMBER_CHUNK member changes, or the end. */
static void
group_next(struct job *j)
{
	json_t *values = json_array(), *body;
	char **remote;
	size_t from, n;
	char *path;

	j->chunk_remove = j->pos_rm < j->nrm;
	if (!j->chunk_remove && j->pos_add >= j->nadd) {
		json_decref(values);
		job_done(j);
		return;
	}
	from = j->chunk_remove ? j->pos_rm : j->pos_add;
	n = (j->chunk_remove ? j->nrm : j->nadd) - from;
	if (n > FB_SCIM_MEMBER_CHUNK)
		n = FB_SCIM_MEMBER_CHUNK;
	remote = (j->chunk_remove ? j->rm_remote : j->add_remote) + from;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(values, json_pack("{s:s}", "value", remote[i]));
	j->chunk = n;
	body = json_pack("{s:[s], s:[{s:s, s:s, s:o}]}", "schemas", FB_SCIM_PATCH_SCHEMA,
	    "Operations", "op", j->chunk_remove ? "remove" : "add", "path", "members", "value",
	    values);
	path = fb_xasprintf("/Groups/%s", j->remote_id);
	job_send(j, "PATCH", path, body, group_patched);
	free(path);
}

static void
group_posted(struct job *j, const struct fb_net_http_response *resp);

static void
group_looked_up(struct job *j, const struct fb_net_http_response *resp)
{
	enum fb_status r = lookup_adopt(j, resp, j->it.object);

	if (r == FB_OK && remote_save(j, NULL) == FB_OK)
		group_next(j); /* the mirror is empty: every member is added (adding is idempotent) */
	else if (r == FB_ERR_NOTFOUND && j->after_conflict)
		job_error(j, "409 on create, yet no group has displayName %s", j->name);
	else if (r == FB_ERR_NOTFOUND)
		job_send(j, "POST", "/Groups", json_incref(j->obj), group_posted);
}

static void
group_posted(struct job *j, const struct fb_net_http_response *resp)
{
	if (resp->status == 409) {
		j->after_conflict = 1;
		j->pos_add = 0; /* none of the members sent with the POST went in */
		json_object_del(j->obj, "members");
		job_lookup(j, "/Groups", "displayName", group_looked_up);
		return;
	}
	if (created(j, resp) != 0 || remote_save(j, j->digest) != FB_OK ||
	    mirror_set(j, j->add_local, j->pos_add, 1) != 0)
		return;
	group_next(j);
}

static void
group_gone_done(struct job *j, const struct fb_net_http_response *resp)
{
	if (resp->status >= 300 && resp->status != 404) {
		job_unexpected(j, resp);
		return;
	}
	if (group_forget(j) == 0)
		job_done(j);
}

/* What the group's members should be at the target: local and remote ids, in step. */
struct want {
	struct job *j;
	char **local, **remote;
	size_t n;
	size_t seen; /* local members, pushed or not */
};

static void
want_user(struct want *w, const struct fb_store_user *u)
{
	struct job *j = w->j;
	struct fb_store_scim_remote rm = {0};
	char **g = NULL;
	size_t ng = 0;

	w->seen++;
	if (strv_has(w->local, w->n, u->id))
		return;
	if (j->t->c->ngroups > 0)
		upstream_names(j->s->st, u, &g, &ng);
	if (user_in_scope(j->t->c, j->s->conf, u, g, ng) &&
	    fb_store_scim_remote_get(j->s->st, j->t->c->name, FB_STORE_SCIM_USER, u->id, &rm,
		NULL) == FB_OK &&
	    (rm.digest == NULL || strcmp(rm.digest, DIGEST_INACTIVE) != 0)) {
		size_t n = w->n;

		strv_add(&w->local, &w->n, u->id);
		strv_add(&w->remote, &n, rm.remote_id);
	}
	strv_free(g, ng);
	fb_store_scim_remote_cleanup(&rm);
}

static int
want_each(const struct fb_store_user *u, void *arg)
{
	want_user(arg, u);
	return 0;
}

static void
group_begin(struct job *j)
{
	struct fb_scim *s = j->s;
	const struct fb_conf_scim_target *c = j->t->c;
	const struct fb_conf_group *cg = conf_group(s->conf, j->it.object);
	struct fb_store_scim_remote rm = {0};
	struct want w = {j, NULL, NULL, 0, 0};
	struct {
		char **v;
		size_t n;
	} mirror = {0};
	struct fb_err err = {0};

	for (size_t i = 0; cg != NULL && i < cg->nmembers; i++) {
		struct fb_store_user u = {0};

		if (fb_store_user_get(s->st, cg->members[i], &u, NULL) == FB_OK)
			want_user(&w, &u);
		fb_store_user_cleanup(&u);
	}
	if (fb_store_group_members(s->st, j->it.object, want_each, &w, &err) != FB_OK) {
		job_retry(j, -1, err.msg);
		goto out;
	}
	fb_store_scim_member_list(s->st, c->name, j->it.object, collect_id, &mirror, NULL);
	if (fb_store_scim_remote_get(s->st, c->name, FB_STORE_SCIM_GROUP, j->it.object, &rm, NULL) ==
	    FB_OK) {
		free(j->remote_id);
		j->remote_id = fb_xstrdup(rm.remote_id);
		j->managed = rm.managed;
	}
	/* A group exists while it is declared or an upstream put someone in it. */
	if ((cg == NULL && w.seen == 0) || !group_in_scope(c, j->it.object)) {
		if (j->remote_id == NULL)
			job_done(j);
		else if (!j->managed) {
			if (group_forget(j) == 0)
				job_done(j);
		} else {
			char *path = fb_xasprintf("/Groups/%s", j->remote_id);

			job_send(j, "DELETE", path, NULL, group_gone_done);
			free(path);
		}
		goto out;
	}
	if (fb_scim_group_body(c, j->t->group_rule, j->it.object, &j->obj, &err) != FB_OK) {
		job_error(j, "%s", err.msg);
		goto out;
	}
	j->name = fb_xstrdup(json_string_value(json_object_get(j->obj, "displayName")));
	j->digest = fb_scim_body_digest(j->obj);
	/* The changes: members wanted and not pushed, pushed and no longer wanted. */
	strv_free(j->add_local, j->nadd);
	strv_free(j->add_remote, j->nadd);
	strv_free(j->rm_local, j->nrm);
	strv_free(j->rm_remote, j->nrm);
	j->add_local = j->add_remote = j->rm_local = j->rm_remote = NULL;
	j->nadd = j->nrm = j->pos_add = j->pos_rm = 0;
	for (size_t i = 0; i < w.n; i++)
		if (j->remote_id == NULL || !strv_has(mirror.v, mirror.n, w.local[i])) {
			size_t n = j->nadd;

			strv_add(&j->add_local, &j->nadd, w.local[i]);
			strv_add(&j->add_remote, &n, w.remote[i]);
		}
	for (size_t i = 0; j->remote_id != NULL && i < mirror.n; i++)
		if (!strv_has(w.local, w.n, mirror.v[i])) {
			struct fb_store_scim_remote ur = {0};

			if (fb_store_scim_remote_get(s->st, c->name, FB_STORE_SCIM_USER, mirror.v[i],
				&ur, NULL) == FB_OK) {
				size_t n = j->nrm;

				strv_add(&j->rm_local, &j->nrm, mirror.v[i]);
				strv_add(&j->rm_remote, &n, ur.remote_id);
			} else if ((s->flags & FB_SCIM_DRY_RUN) == 0) {
				/* The user is gone there: so is its membership. */
				fb_store_scim_member_put(s->st, c->name, j->it.object, mirror.v[i], 0,
				    NULL);
			}
			fb_store_scim_remote_cleanup(&ur);
		}
	if (j->remote_id != NULL) {
		group_next(j);
	} else if (j->it.attempts > 0) {
		job_lookup(j, "/Groups", "displayName", group_looked_up);
	} else {
		/* Created with its first members (at most 100), the rest by PATCH. */
		json_t *members = json_array();

		j->pos_add = j->nadd < FB_SCIM_MEMBER_CHUNK ? j->nadd : FB_SCIM_MEMBER_CHUNK;
		for (size_t i = 0; i < j->pos_add; i++)
			json_array_append_new(members, json_pack("{s:s}", "value", j->add_remote[i]));
		json_object_set_new(j->obj, "members", members);
		job_send(j, "POST", "/Groups", json_incref(j->obj), group_posted);
	}
out:
	strv_free(w.local, w.n);
	strv_free(w.remote, w.n);
	strv_free(mirror.v, mirror.n);
	fb_store_scim_remote_cleanup(&rm);
}

/* ---- rounds ------------------------------------------------------------------------ */

static void
job_start(struct target *t, const struct fb_store_scim_item *it)
{
	struct job *j = fb_xcalloc(1, sizeof(*j));
	struct fb_scim *s = t->s;

	j->s = s;
	j->t = t;
	j->it.kind = fb_xstrdup(it->kind);
	j->it.object = fb_xstrdup(it->object);
	j->it.seq = it->seq;
	j->it.attempts = it->attempts;
	j->it.next_at = it->next_at;
	j->is_user = strcmp(it->kind, FB_STORE_SCIM_USER) == 0;
	j->next = s->jobs;
	if (s->jobs != NULL)
		s->jobs->prev = j;
	s->jobs = j;
	t->inflight++;
	if (j->is_user)
		user_begin(j);
	else
		group_begin(j);
}

/* Keeps the engine's counts of t as the target's last report. */
static void
report_write(struct target *t, size_t depth, size_t failing)
{
	json_t *r = json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "source", "jobs",
	    "target", t->c->name, "ok", failing == 0, "outbox", (json_int_t)depth, "failing",
	    (json_int_t)failing, "pushed", (json_int_t)t->counts.pushed, "requests",
	    (json_int_t)t->counts.requests, "writes", (json_int_t)t->counts.writes, "retries",
	    (json_int_t)t->counts.retries);
	char *text = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
	struct fb_err err = {0};

	if (fb_store_scim_report_put(t->s->st, t->c->name, failing == 0, text, &err) != FB_OK)
		fb_log_err(FB_LOG_WARN, NULL, &err);
	else
		t->reported = t->counts.requests;
	free(text);
	json_decref(r);
}

static void reconcile_start(struct target *t);

static void
target_round(struct target *t)
{
	struct fb_scim *s = t->s;
	struct fb_store_scim_item *items = NULL;
	struct fb_err err = {0};
	size_t n = 0, depth = 0, failing = 0;
	int64_t now = fb_time_now();

	t->claimed = 0;
	if (s->flags & FB_SCIM_RECONCILE)
		live_write(t, now); /* for /metrics and status, in any process */
	groups_flush(t, now);
	if (t->paused_until > now)
		return;
	if ((s->flags & FB_SCIM_RECONCILE) && t->next_reconcile <= now) {
		t->next_reconcile = t->c->reconcile_interval > 0 ? now + t->c->reconcile_interval
								 : INT64_MAX;
		reconcile_start(t);
	}
	if (fb_store_scim_outbox_fill(s->st, t->c->name, NULL, &err) != FB_OK) {
		fb_log_err(FB_LOG_ERROR, NULL, &err);
		return;
	}
	if (t->inflight >= (size_t)t->c->concurrency)
		return;
	/*
	 * A sync by hand lists the target before it pushes (what is there is
	 * adopted, not created); the jobs process keeps pushing changes while
	 * its reconcile lists a large directory.
	 */
	if (t->list != NULL && (s->flags & FB_SCIM_RECONCILE) == 0)
		return;
	/* A target that failed gets one request (a probe) until it answers. */
	if (t->down > 0 && t->inflight > 0)
		return;
	/* Claims (write transactions) in batches: once half the slots are free. */
	if (t->inflight > 0 && t->inflight * 2 > (size_t)t->c->concurrency)
		return;
	if (fb_store_scim_outbox_claim(s->st, t->c->name, s->owner,
	        t->c->timeout_ms / 1000 * 2 + 10,
	        t->down > 0 ? 1 : (size_t)t->c->concurrency - t->inflight, &items, &n,
	        &err) != FB_OK) {
		fb_log_err(FB_LOG_ERROR, NULL, &err);
		return;
	}
	t->claimed = n > 0;
	for (size_t i = 0; i < n; i++)
		job_start(t, &items[i]);
	fb_store_scim_items_free(items, n);
	if (n == 0 && t->inflight == 0 &&
	    fb_store_scim_outbox_depth(s->st, t->c->name, &depth, &failing, NULL) == FB_OK) {
		if (depth == 0)
			t->counts.last_success = now;
		/* The jobs process's counts, for status and /metrics, once they moved. */
		if ((s->flags & FB_SCIM_RECONCILE) && t->counts.requests != t->reported)
			report_write(t, depth, failing);
	}
}

void
fb_scim_poll(struct fb_scim *s)
{
	for (size_t i = 0; i < s->nt; i++)
		target_round(&s->t[i]);
}

static void
poll_cb(evutil_socket_t fd, short what, void *arg)
{
	fb_scim_poll(arg);
}

/* Stops at an entry that is due and never failed: leased by a push under way, or about to be. */
static int
pending_each(const struct fb_store_scim_item *it, void *arg)
{
	if (it->last_error == NULL) {
		*(int *)arg = 1;
		return 1;
	}
	return 0;
}

int
fb_scim_idle(struct fb_scim *s)
{
	int64_t now = fb_time_now();
	int pending = 0;

	for (size_t i = 0; i < s->nt; i++)
		if (s->t[i].inflight > 0 || s->t[i].claimed || s->t[i].retry_until > now ||
		    s->t[i].list != NULL || json_object_size(s->t[i].groups_due) > 0)
			return 0;
	/* Entries another process holds (or held when it died: its lease runs out) count too. */
	for (size_t i = 0; i < s->nt && !pending; i++)
		if (s->t[i].paused_until <= now)
			fb_store_scim_outbox_list(s->st, s->t[i].c->name, pending_each, &pending, NULL);
	return !pending;
}

const struct fb_scim_counts *
fb_scim_counts(const struct fb_scim *s, const char *target)
{
	for (size_t i = 0; i < s->nt; i++)
		if (strcmp(s->t[i].c->name, target) == 0)
			return &s->t[i].counts;
	return NULL;
}

/* ---- a full reconcile's list ------------------------------------------------------ */

/*
 * Every object a full reconcile looks at: the declared groups, every user
 * and its groups, and every object with a remote id at the target (gone
 * ones are deprovisioned). fn(kind, object, arg) for each (repeats happen).
 */
struct gather {
	struct fb_scim *s;
	void (*fn)(const char *kind, const char *object, void *arg);
	void *arg;
};

static int
gather_user(const struct fb_store_user *u, void *arg)
{
	struct gather *g = arg;
	char **names = NULL;
	size_t n = 0;

	g->fn(FB_STORE_SCIM_USER, u->id, g->arg);
	upstream_names(g->s->st, u, &names, &n); /* the declared groups are gathered apart */
	for (size_t i = 0; i < n; i++)
		g->fn(FB_STORE_SCIM_GROUP, names[i], g->arg);
	strv_free(names, n);
	return 0;
}

static int
gather_remote(const struct fb_store_scim_remote *rm, void *arg)
{
	struct gather *g = arg;

	g->fn(rm->kind, rm->object, g->arg);
	return 0;
}

static enum fb_status
gather(struct fb_scim *s, const char *target,
    void (*fn)(const char *kind, const char *object, void *arg), void *arg, struct fb_err *err)
{
	struct gather g = {s, fn, arg};
	enum fb_status r;

	for (size_t i = 0; i < s->conf->ngroups; i++)
		fn(FB_STORE_SCIM_GROUP, s->conf->groups[i].name, arg);
	if ((r = fb_store_user_list(s->st, gather_user, &g, err)) != FB_OK ||
	    (r = fb_store_scim_remote_list(s->st, target, FB_STORE_SCIM_USER, gather_remote, &g,
		 err)) != FB_OK)
		return r;
	return fb_store_scim_remote_list(s->st, target, FB_STORE_SCIM_GROUP, gather_remote, &g, err);
}

struct enq {
	struct fb_scim *s;
	const char *target;
	size_t n;
};

static void
enq_one(const char *kind, const char *object, void *arg)
{
	struct enq *e = arg;

	if (fb_store_scim_outbox_add(e->s->st, e->target, kind, object, NULL) == FB_OK)
		e->n++;
}

enum fb_status
fb_scim_enqueue_all(struct fb_scim *s, const char *target, size_t *n, struct fb_err *err)
{
	struct enq e = {s, target, 0};
	enum fb_status r = gather(s, target, enq_one, &e, err);

	*n = e.n;
	return r;
}

/* ---- a full reconcile's listing of the target ---------------------------------- */

/*
 * A full reconcile first pages through the target's /Users and /Groups
 * (AWS: count and cursor, its only paging; generic: startIndex and count),
 * then matches what is there with what the store recorded: an object whose
 * recorded id is gone at the target is forgotten (pushed again), one whose
 * userName or active changed there is written again, and one carrying a
 * local object's id as externalId but not recorded (made by an earlier push
 * whose answer was lost, a store restored from an older backup) is adopted
 * without a create. Objects not ours are never touched: a second object
 * for one local object is left alone (logged). A listing that fails (the
 * target down, a 401) leaves the store as it is: the pushes then work from
 * it alone, as the incremental path does.
 */
#define LIST_COUNT     100
#define LIST_TRIES     3     /* per page, for 429 and 5xx */
#define LIST_MAX_PAGES 20000 /* 2,000,000 objects of a kind */

static void list_fire(evutil_socket_t fd, short what, void *arg);

/* Keeps why t's listing failed (truncated) for the report. */
static void target_error(struct target *t, const char *fmt, ...) FB_PRINTF(2, 3);

static void
target_error(struct target *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->counts.error, sizeof(t->counts.error), fmt, ap);
	va_end(ap);
}

/* 1 when this engine recorded kind:object's id while the listing ran. */
static int
listing_touched(const struct listing *l, const char *kind, const char *object)
{
	char *key = fb_xasprintf("%s:%s", kind, object);
	int r = json_object_get(l->touched, key) != NULL;

	free(key);
	return r;
}

static void
listing_free(struct listing *l)
{
	if (l == NULL)
		return;
	if (l->call != NULL)
		fb_net_http_cancel(l->call);
	if (l->delay != NULL)
		event_free(l->delay);
	json_decref(l->seen[0]);
	json_decref(l->seen[1]);
	json_decref(l->touched);
	free(l->cursor);
	free(l->url);
	free(l);
}

/* A copy of a remote row. */
struct rows {
	struct fb_store_scim_remote *v;
	size_t n;
};

static int
rows_add(const struct fb_store_scim_remote *rm, void *arg)
{
	struct rows *r = arg;
	struct fb_store_scim_remote *c;

	r->v = fb_xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
	c = &r->v[r->n++];
	memset(c, 0, sizeof(*c));
	c->kind = fb_xstrdup(rm->kind);
	c->object = fb_xstrdup(rm->object);
	c->remote_id = fb_xstrdup(rm->remote_id);
	c->managed = rm->managed;
	c->digest = rm->digest != NULL ? fb_xstrdup(rm->digest) : NULL;
	c->body = rm->body != NULL ? fb_xstrdup(rm->body) : NULL;
	c->updated = rm->updated;
	return 0;
}

static void
rows_free(struct rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		fb_store_scim_remote_cleanup(&r->v[i]);
	free(r->v);
}

static int
stop_at_first(const struct fb_store_user *u, void *arg)
{
	*(int *)arg = 1;
	return 1;
}

/* 1 when the group exists here (declared, or an upstream put someone in it). */
static int
group_exists(struct fb_scim *s, const char *name)
{
	int any = 0;

	if (conf_group(s->conf, name) != NULL)
		return 1;
	fb_store_group_members(s->st, name, stop_at_first, &any, NULL);
	return any;
}

/* A recorded object that the listing found changed at the target: written again. */
static int
row_changed(const struct fb_store_scim_remote *row, const json_t *there)
{
	const char *name = json_string_value(json_array_get(there, 1));
	int active = json_is_true(json_array_get(there, 2));
	json_t *body;
	const char *want;
	int changed;

	if (row->digest != NULL && strcmp(row->digest, DIGEST_INACTIVE) == 0)
		return active;
	if (row->body == NULL || (body = json_loads(row->body, 0, NULL)) == NULL)
		return 0;
	want = json_string_value(json_object_get(body, "userName"));
	changed = (want != NULL && name != NULL && strcmp(want, name) != 0) ||
	          json_is_false(json_object_get(body, "active")) == active;
	json_decref(body);
	return changed;
}

/* Forgets the memberships of the forgotten users (json object of local ids) in every group. */
static void
mirror_drop(struct fb_scim *s, const char *target, const json_t *gone)
{
	struct rows g = {0};

	if (json_object_size(gone) == 0 || fb_store_scim_remote_list(s->st, target,
	                                       FB_STORE_SCIM_GROUP, rows_add, &g, NULL) != FB_OK) {
		rows_free(&g);
		return;
	}
	for (size_t i = 0; i < g.n; i++) {
		struct {
			char **v;
			size_t n;
		} m = {0};
		int touched = 0;

		fb_store_scim_member_list(s->st, target, g.v[i].object, collect_id, &m, NULL);
		for (size_t k = 0; k < m.n; k++)
			if (json_object_get(gone, m.v[k]) != NULL &&
			    fb_store_scim_member_put(s->st, target, g.v[i].object, m.v[k], 0,
			        NULL) == FB_OK)
				touched = 1;
		if (touched)
			fb_store_scim_outbox_add(s->st, target, FB_STORE_SCIM_GROUP, g.v[i].object,
			    NULL);
		strv_free(m.v, m.n);
	}
	rows_free(&g);
}

/* Matches the listing of one kind (k 0: users, 1: groups) with the store. */
static void
list_apply_kind(struct listing *l, int k)
{
	struct target *t = l->t;
	struct fb_scim *s = t->s;
	const char *kind = k == 0 ? FB_STORE_SCIM_USER : FB_STORE_SCIM_GROUP, *id;
	const char *target = t->c->name;
	json_t *seen = l->seen[k], *there, *gone = json_object();
	struct rows rows = {0};
	struct fb_err err = {0};
	size_t forgotten = 0, rewritten = 0, adopted = 0, duplicates = 0;

	if (fb_store_scim_remote_list(s->st, target, kind, rows_add, &rows, &err) != FB_OK) {
		fb_log_err(FB_LOG_ERROR, NULL, &err);
		goto out;
	}
	for (size_t i = 0; i < rows.n; i++) {
		struct fb_store_scim_remote *row = &rows.v[i];

		there = json_object_get(seen, row->remote_id);
		if (there != NULL)
			json_array_set_new(there, 3, json_true()); /* recorded */
		if (row->updated > l->began || listing_touched(l, kind, row->object))
			continue; /* recorded while the listing ran: newer than it */
		if (there == NULL) {
			/* Deleted at the target: pushed again (made anew). */
			if (fb_store_scim_remote_delete(s->st, target, kind, row->object, NULL) !=
			    FB_OK)
				continue;
			forgotten++;
			json_object_set_new(gone, row->object, json_true());
			fb_store_scim_outbox_add(s->st, target, kind, row->object, NULL);
		} else if (k == 0 && row_changed(row, there)) {
			/* Changed at the target: the next push writes it again. */
			struct fb_store_scim_remote rm = *row;

			rm.target = (char *)target;
			rm.digest = NULL;
			if (fb_store_scim_remote_put(s->st, &rm, NULL) == FB_OK) {
				rewritten++;
				fb_store_scim_outbox_add(s->st, target, kind, row->object, NULL);
			}
			rm.target = NULL;
		}
	}
	if (k == 0) {
		mirror_drop(s, target, gone);
	} else {
		/* A group made anew starts with no members there. */
		json_t *v;
		const char *g;

		json_object_foreach(gone, g, v) {
			struct {
				char **v;
				size_t n;
			} m = {0};

			fb_store_scim_member_list(s->st, target, g, collect_id, &m, NULL);
			for (size_t i = 0; i < m.n; i++)
				fb_store_scim_member_put(s->st, target, g, m.v[i], 0, NULL);
			strv_free(m.v, m.n);
		}
	}
	/* Objects there carrying a local object's id as externalId, not recorded: ours. */
	json_object_foreach(seen, id, there) {
		const char *ext = json_string_value(json_array_get(there, 0));
		struct fb_store_scim_remote rm = {0};
		struct fb_store_user u = {0};
		int local;

		if (ext == NULL || json_is_true(json_array_get(there, 3)))
			continue;
		if (fb_store_scim_remote_get(s->st, target, kind, ext, &rm, NULL) == FB_OK) {
			/* A second object for one local object: not ours to delete. */
			if (strcmp(rm.remote_id, id) != 0) {
				duplicates++;
				fb_log(FB_LOG_WARN,
				    "scim %s: %s %s has two objects at the target (%s, recorded, "
				    "and "
				    "%.64s): the second is left alone",
				    target, kind, ext, rm.remote_id, id);
			}
			fb_store_scim_remote_cleanup(&rm);
			continue;
		}
		local = k == 0 ? fb_store_user_get_by_id(s->st, ext, &u, NULL) == FB_OK
		               : group_exists(s, ext);
		fb_store_user_cleanup(&u);
		if (!local)
			continue;
		rm.target = (char *)target;
		rm.kind = (char *)kind;
		rm.object = (char *)ext;
		rm.remote_id = (char *)id;
		rm.managed = 1;
		if (fb_store_scim_remote_put(s->st, &rm, NULL) == FB_OK) {
			adopted++;
			fb_store_scim_outbox_add(s->st, target, kind, ext, NULL);
		}
	}
	if (forgotten + rewritten + adopted + duplicates > 0)
		fb_log(FB_LOG_INFO,
		    "scim %s: the target's %s: %zu gone (pushed again), %zu changed there "
		    "(written again), %zu found unrecorded (adopted), %zu duplicates (left alone)",
		    target, k == 0 ? "users" : "groups", forgotten, rewritten, adopted, duplicates);
out:
	json_decref(gone);
	rows_free(&rows);
}

/* The listing is over (complete when ok): matched with the store, then every object queued. */
static void
list_end(struct listing *l, int ok)
{
	struct target *t = l->t;
	struct fb_scim *s = t->s;
	struct fb_err err = {0};
	size_t queued = 0;

	t->list = NULL;
	if (ok) {
		t->counts.listed = json_object_size(l->seen[0]) + json_object_size(l->seen[1]);
		list_apply_kind(l, 0);
		list_apply_kind(l, 1);
	}
	if (fb_scim_enqueue_all(s, t->c->name, &queued, &err) != FB_OK)
		fb_log_err(FB_LOG_ERROR, NULL, &err);
	else
		fb_log(FB_LOG_INFO,
		    "scim %s: full reconcile: %zu objects at the target%s, %zu queued", t->c->name,
		    (size_t)t->counts.listed, ok ? "" : " (listing failed)", queued);
	t->counts.queued = queued;
	listing_free(l);
	if (s->kick != NULL)
		event_active(s->kick, 0, 0);
}

/* Sends the request of the page under way, when the rate limit lets it. */
static void
list_send(struct listing *l)
{
	struct target *t = l->t;
	const char *ep = l->phase == 0 ? "Users" : "Groups";
	int64_t now = fb_time_now_ms(), slot;

	free(l->url);
	if (t->c->profile == FB_CONF_SCIM_AWS) {
		char *esc = curl_easy_escape(NULL, l->cursor != NULL ? l->cursor : "", 0);

		l->url = fb_xasprintf("%s/%s?count=%d&cursor=%s", t->c->url, ep, LIST_COUNT,
		    esc != NULL ? esc : "");
		curl_free(esc);
	} else {
		l->url = fb_xasprintf("%s/%s?startIndex=%lld&count=%d", t->c->url, ep,
		    (long long)l->start, LIST_COUNT);
	}
	memset(&l->rq, 0, sizeof(l->rq));
	l->rq.url = l->url;
	l->rq.loopback_http = 1;
	l->rq.accept = SCIM_CONTENT_TYPE ", application/json";
	l->rq.bearer = t->c->token;
	l->rq.ca_file = t->c->ca_file;
	l->rq.timeout_ms = t->c->timeout_ms;
	l->rq.max_body = SCIM_MAX_BODY;
	slot = rate_slot(t, now);
	if (slot > now) {
		struct timeval tv = {.tv_sec = (slot - now) / 1000,
		    .tv_usec = (suseconds_t)((slot - now) % 1000) * 1000};

		evtimer_add(l->delay, &tv);
		return;
	}
	list_fire(-1, 0, l);
}

/* The next page, or the next phase, or the end. */
static void
list_next(struct listing *l, const struct fb_scim_page *p)
{
	int more;

	l->pages++;
	l->tries = 0;
	if (l->t->c->profile == FB_CONF_SCIM_AWS) {
		more = p->next_cursor != NULL &&
		       (l->cursor == NULL || strcmp(l->cursor, p->next_cursor) != 0);
		free(l->cursor);
		l->cursor = more ? fb_xstrdup(p->next_cursor) : NULL;
	} else {
		more = p->items > 0 && (p->total < 0 || l->start - 1 + p->items < p->total);
		l->start += p->items;
	}
	if (more && l->pages >= LIST_MAX_PAGES) {
		fb_log(FB_LOG_WARN, "scim %s: listing stopped after %d pages", l->t->c->name,
		    LIST_MAX_PAGES);
		more = 0;
	}
	if (!more) {
		if (++l->phase == 2) {
			list_end(l, 1);
			return;
		}
		free(l->cursor);
		l->cursor = NULL;
		l->start = 1;
		l->pages = 0;
	}
	list_send(l);
}

static void
list_done(enum fb_status st, struct fb_net_http_response *resp, const struct fb_err *err, void *arg)
{
	struct listing *l = arg;
	struct target *t = l->t;
	struct fb_scim_page p = {0};
	struct fb_err perr = {0};
	char detail[400];

	l->call = NULL;
	count_answer(t, st == FB_OK ? resp->status : 0);
	if (st != FB_OK) {
		target_error(t, "listing %s: %s", l->url, err != NULL ? err->msg : "failed");
		fb_log(FB_LOG_WARN, "scim %s: %s; reconciling from the store alone", t->c->name,
		    t->counts.error);
		list_end(l, 0);
		return;
	}
	fb_scim_error_detail(resp->body, resp->body_len, detail, sizeof(detail));
	if (resp->status == 401 || resp->status == 403) {
		t->paused_until = fb_time_now() + AUTH_PAUSE_S;
		fb_log(FB_LOG_ERROR,
		    "scim %s: HTTP %ld from %s: the target refuses the token "
		    "(scim.targets[].token): %s; pausing the target for %d s",
		    t->c->name, resp->status, t->c->url, detail, AUTH_PAUSE_S);
		target_error(t, "HTTP %ld from %s: the target refuses the token: %s", resp->status,
		    t->c->name, detail);
		list_end(l, 0);
		return;
	}
	if ((resp->status == 429 || resp->status >= 500) && ++l->tries < LIST_TRIES) {
		int64_t wait = resp->retry_after >= 0 ? resp->retry_after : (int64_t)1 << l->tries;
		struct timeval tv = {.tv_sec = wait < t->c->backoff_max ? wait : t->c->backoff_max};

		t->counts.retries++;
		fb_log(FB_LOG_WARN, "scim %s: listing %s: HTTP %ld: %s; again in %lld s",
		    t->c->name, l->url, resp->status, detail, (long long)tv.tv_sec);
		evtimer_add(l->delay, &tv);
		return;
	}
	if (resp->status != 200 ||
	    fb_scim_page_parse(resp->body, resp->body_len,
	        l->phase == 0 ? "userName" : "displayName", &p, &perr) != FB_OK) {
		target_error(t, "listing %s: HTTP %ld: %s", l->url, resp->status,
		    resp->status == 200 ? perr.msg : detail);
		fb_log(FB_LOG_WARN, "scim %s: %s; reconciling from the store alone", t->c->name,
		    t->counts.error);
		list_end(l, 0);
		return;
	}
	for (size_t i = 0; i < p.n; i++)
		json_object_set_new(l->seen[l->phase], p.v[i].id,
		    json_pack("[s?, s?, b, b]", p.v[i].external_id, p.v[i].name, p.v[i].active, 0));
	list_next(l, &p);
	fb_scim_page_cleanup(&p);
}

static void
list_fire(evutil_socket_t fd, short what, void *arg)
{
	struct listing *l = arg;
	struct fb_err err = {0};

	if (fb_net_http_start(l->t->s->http, &l->rq, list_done, l, &l->call, &err) != FB_OK) {
		target_error(l->t, "listing: %s", err.msg);
		fb_log_err(FB_LOG_WARN, NULL, &err);
		list_end(l, 0);
	}
}

/* Starts t's full reconcile: the listing, then the matching and the queueing. */
static void
reconcile_start(struct target *t)
{
	struct listing *l;

	if (t->list != NULL)
		return;
	l = fb_xcalloc(1, sizeof(*l));
	l->t = t;
	l->start = 1;
	l->began = fb_time_now();
	l->seen[0] = json_object();
	l->seen[1] = json_object();
	l->touched = json_object();
	l->delay = evtimer_new(t->s->base, list_fire, l);
	t->list = l;
	t->counts.listed = 0;
	t->counts.error[0] = '\0';
	list_send(l);
}

enum fb_status
fb_scim_reconcile(struct fb_scim *s, const char *target, struct fb_err *err)
{
	for (size_t i = 0; i < s->nt; i++)
		if (strcmp(s->t[i].c->name, target) == 0 && (s->flags & FB_SCIM_DRY_RUN) == 0) {
			reconcile_start(&s->t[i]);
			return FB_OK;
		}
	return fb_err_set(err, FB_ERR_INVALID, "scim: no reconcile of target %s", target);
}

/* The plan of one object: its job runs to its end at once (nothing is sent). */
static void
plan_one(struct target *t, const char *kind, const char *object)
{
	struct fb_store_scim_item it = {(char *)kind, (char *)object, 0, 0, 0, NULL};

	job_start(t, &it);
}

/* Appends kind, object to the NULL-terminated list arg. */
static void
plan_add(const char *kind, const char *object, void *arg)
{
	char ***v = arg;
	size_t n = 0;

	while ((*v)[n] != NULL)
		n++;
	*v = fb_xrealloc(*v, (n + 3) * sizeof(**v));
	(*v)[n] = fb_xstrdup(kind);
	(*v)[n + 1] = fb_xstrdup(object);
	(*v)[n + 2] = NULL;
}

static int
plan_each(const struct fb_store_scim_item *it, void *arg)
{
	plan_add(it->kind, it->object, arg);
	return 0;
}

enum fb_status
fb_scim_plan(struct fb_scim *s, const char *target, json_t **out, struct fb_err *err)
{
	struct target *t = NULL;
	struct fb_store *st = s->st;
	char **objs = fb_xcalloc(1, sizeof(*objs));
	json_t *seen = json_object();
	enum fb_status r;

	*out = NULL;
	for (size_t i = 0; i < s->nt; i++)
		if (strcmp(s->t[i].c->name, target) == 0)
			t = &s->t[i];
	if (t == NULL || (s->flags & FB_SCIM_DRY_RUN) == 0) {
		free(objs);
		json_decref(seen);
		return fb_err_set(err, FB_ERR_INVALID, "scim: no dry run of target %s", target);
	}
	/*
	 * What a sync queues, read without writing: the outbox as it is, and
	 * every object of the scope (enqueue_all's list, gathered in memory).
	 */
	r = fb_store_scim_outbox_list(st, target, plan_each, &objs, err);
	if (r == FB_OK)
		r = gather(s, target, plan_add, &objs, err);
	json_decref(s->plan);
	s->plan = json_array();
	for (size_t i = 0; r == FB_OK && objs[i] != NULL; i += 2) {
		char *key = fb_xasprintf("%s:%s", objs[i], objs[i + 1]);

		if (json_object_get(seen, key) == NULL) {
			json_object_set_new(seen, key, json_true());
			plan_one(t, objs[i], objs[i + 1]);
		}
		free(key);
	}
	json_decref(seen);
	for (size_t i = 0; objs[i] != NULL; i++)
		free(objs[i]);
	free(objs);
	if (r != FB_OK)
		return r;
	*out = s->plan;
	s->plan = NULL;
	return FB_OK;
}

/* ---- life ------------------------------------------------------------------------------ */

enum fb_status
fb_scim_new(const struct fb_conf *conf, struct fb_store *st, struct event_base *base,
    const char *target, unsigned flags, struct fb_scim **out, struct fb_err *err)
{
	struct fb_scim *s = fb_xcalloc(1, sizeof(*s));
	struct timeval tv = {.tv_sec = POLL_INTERVAL_S};
	char host[128] = "localhost";
	int needs_rules = 0;
	enum fb_status r;

	*out = NULL;
	s->conf = conf;
	s->st = st;
	s->base = base;
	s->flags = flags;
	gethostname(host, sizeof(host) - 1);
	snprintf(s->owner, sizeof(s->owner), "%s:%ld", host, (long)getpid());
	s->t = fb_xcalloc(conf->nscim_targets > 0 ? conf->nscim_targets : 1, sizeof(*s->t));
	for (size_t i = 0; i < conf->nscim_targets; i++) {
		const struct fb_conf_scim_target *c = &conf->scim_targets[i];

		if (target != NULL && strcmp(c->name, target) != 0)
			continue;
		s->t[s->nt].s = s;
		for (size_t k = 0; k < FB_SCIM_STATUS_SLOTS; k++)
			s->t[s->nt].counts.by_status[k].status = -1;
		s->t[s->nt].groups_due = json_object();
		s->t[s->nt++].c = c;
		needs_rules |= c->user_mapping != NULL || c->group_mapping != NULL;
	}
	if (target != NULL && s->nt == 0) {
		r = fb_err_set(err, FB_ERR_NOTFOUND, "scim: no target '%s' in scim.targets", target);
		goto fail;
	}
	if (needs_rules) {
		if (conf->mappings_dir == NULL) {
			r = fb_err_set(err, FB_ERR_CONFIG, "scim: a target names a mapping but "
							   "mappings.dir is not set");
			goto fail;
		}
		if ((r = fb_map_set_load_usable(conf->mappings_dir, &s->maps, NULL, err)) != FB_OK)
			goto fail;
	}
	for (size_t i = 0; i < s->nt; i++) {
		struct target *t = &s->t[i];
		const char *names[2] = {t->c->user_mapping, t->c->group_mapping};
		const struct fb_map_rule **rules[2] = {&t->user_rule, &t->group_rule};

		for (int k = 0; k < 2; k++)
			if (names[k] != NULL && (*rules[k] = fb_map_set_get(s->maps, names[k])) == NULL) {
				r = fb_err_set(err, FB_ERR_CONFIG,
				    "scim %s: the mapping '%s' does not compile or is missing "
				    "(fedbroker check-config shows why)",
				    t->c->name, names[k]);
				goto fail;
			}
	}
	if ((s->http = fb_net_http_new(base)) == NULL) {
		r = fb_err_set(err, FB_ERR_INTERNAL, "scim: cannot set up the HTTP client");
		goto fail;
	}
	if (flags & FB_SCIM_DRY_RUN) {
		*out = s;
		return FB_OK;
	}
	s->timer = event_new(base, -1, EV_PERSIST, poll_cb, s);
	s->kick = event_new(base, -1, 0, poll_cb, s);
	event_add(s->timer, &tv);
	*out = s;
	return FB_OK;
fail:
	fb_scim_free(s);
	return r;
}

void
fb_scim_free(struct fb_scim *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nt; i++) {
		listing_free(s->t[i].list);
		if ((s->flags & FB_SCIM_DRY_RUN) == 0)
			groups_flush(&s->t[i], INT64_MAX); /* what a sync that ends owes */
		json_decref(s->t[i].groups_due);
	}
	/* Pushes under way are given back: the next process takes them at once. */
	while (s->jobs != NULL) {
		if ((s->flags & FB_SCIM_DRY_RUN) == 0)
			fb_store_scim_outbox_release(s->st, s->jobs->t->c->name, &s->jobs->it,
			    s->owner, NULL);
		job_free(s->jobs);
	}
	if (s->timer != NULL)
		event_free(s->timer);
	if (s->kick != NULL)
		event_free(s->kick);
	fb_net_http_free(s->http);
	fb_map_set_free(s->maps);
	json_decref(s->plan);
	free(s->t);
	free(s);
}

/* ---- live counts in the store ------------------------------------------------------ */

/*
 * Each jobs process keeps its counts of a target under its owner name in
 * one JSON object of the kv table (ns "scim", key "live:TARGET"):
 * {OWNER: {"at", "requests", "writes", "retries", "last_success",
 * "status": {"201": n, ...}}}, rewritten whole (read, merge, write) at
 * most every LIVE_EVERY_S while its counts move, and every LIVE_IDLE_S
 * otherwise. Two processes writing at once can each lose the other's
 * last change until its next write. Entries older than a day are dropped.
 */
#define LIVE_NS      "scim"
#define LIVE_EVERY_S 2
#define LIVE_IDLE_S  30
#define LIVE_KEEP_S  86400

static char *
live_key(const char *target)
{
	return fb_xasprintf("live:%s", target);
}

static json_t *
live_load(struct fb_store *st, const char *target)
{
	char *key = live_key(target);
	unsigned char *val = NULL;
	size_t len = 0;
	json_t *o = NULL;

	if (fb_store_kv_get(st, LIVE_NS, key, &val, &len, NULL) == FB_OK)
		o = json_loadb((const char *)val, len, 0, NULL);
	free(val);
	free(key);
	if (!json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	return o;
}

/* Writes t's counts under this process's name, when due. */
static void
live_write(struct target *t, int64_t now)
{
	struct fb_scim *s = t->s;
	const struct fb_scim_counts *c = &t->counts;
	json_t *all, *mine, *status;
	const char *owner;
	json_t *v;
	void *tmp;
	char *text, *key;
	struct fb_err err = {0};

	if (now - t->live_at < (c->requests != t->live_requests ? LIVE_EVERY_S : LIVE_IDLE_S))
		return;
	status = json_object();
	for (size_t i = 0; i < FB_SCIM_STATUS_SLOTS && c->by_status[i].status != -1; i++) {
		char code[16];

		snprintf(code, sizeof(code), "%d", c->by_status[i].status);
		json_object_set_new(status, code, json_integer((json_int_t)c->by_status[i].n));
	}
	mine = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "at", (json_int_t)now, "requests",
	    (json_int_t)c->requests, "writes", (json_int_t)c->writes, "retries",
	    (json_int_t)c->retries, "last_success", (json_int_t)c->last_success, "status", status);
	all = live_load(s->st, t->c->name);
	json_object_foreach_safe(all, tmp, owner, v)
	{
		if (now - json_integer_value(json_object_get(v, "at")) > LIVE_KEEP_S)
			json_object_del(all, owner);
	}
	json_object_set_new(all, s->owner, mine);
	text = json_dumps(all, JSON_COMPACT);
	key = live_key(t->c->name);
	if (text != NULL && strlen(text) <= FB_STORE_VALUE_MAX &&
	    fb_store_kv_put(s->st, LIVE_NS, key, text, strlen(text), now + LIVE_KEEP_S, &err) ==
	        FB_OK) {
		t->live_at = now;
		t->live_requests = c->requests;
	} else if (err.msg[0] != '\0') {
		fb_log_err(FB_LOG_WARN, NULL, &err);
	}
	free(key);
	free(text);
	json_decref(all);
}

static void
status_add(struct fb_scim_status_count *c, int status, uint64_t n)
{
	size_t i;

	for (i = 0; i < FB_SCIM_STATUS_SLOTS - 1; i++)
		if (c[i].status == status || c[i].status == -1)
			break;
	if (c[i].status == -1 && i < FB_SCIM_STATUS_SLOTS - 1)
		c[i].status = status;
	c[i].n += n;
}

enum fb_status
fb_scim_live_get(struct fb_store *st, const char *target, struct fb_scim_live *out,
    struct fb_err *err)
{
	json_t *all = live_load(st, target), *v, *n;
	const char *owner, *code;
	int64_t now = fb_time_now();

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < FB_SCIM_STATUS_SLOTS; i++)
		out->by_status[i].status = -1;
	json_object_foreach(all, owner, v) {
		int64_t last = json_integer_value(json_object_get(v, "last_success"));

		if (now - json_integer_value(json_object_get(v, "at")) > LIVE_KEEP_S)
			continue;
		out->processes++;
		out->requests += (uint64_t)json_integer_value(json_object_get(v, "requests"));
		out->writes += (uint64_t)json_integer_value(json_object_get(v, "writes"));
		out->retries += (uint64_t)json_integer_value(json_object_get(v, "retries"));
		if (last > out->last_success)
			out->last_success = last;
		json_object_foreach(json_object_get(v, "status"), code, n) {
			char *end;
			long c = strtol(code, &end, 10);

			if (*end == '\0' && c >= 0 && c < 1000)
				status_add(out->by_status, (int)c, (uint64_t)json_integer_value(n));
		}
	}
	json_decref(all);
	(void)err;
	return FB_OK;
}

/* ---- /metrics ------------------------------------------------------------------------ */

/* What /metrics shows of one target. */
struct metric_src {
	const char *target;
	struct fb_scim_live live;
	size_t depth, failing;
	int64_t last;
};

static void
metric_read(struct fb_store *st, const char *target, struct metric_src *m)
{
	int64_t at = 0;
	char *text = NULL;
	int ok = 0;

	m->target = target;
	fb_store_scim_outbox_depth(st, target, &m->depth, &m->failing, NULL);
	fb_scim_live_get(st, target, &m->live, NULL);
	/* A sync by hand that left the target in step counts as a success too. */
	if (fb_store_scim_report_get(st, target, &at, &ok, &text, NULL) != FB_OK || !ok)
		at = 0;
	free(text);
	m->last = m->live.last_success > at ? m->live.last_success : at;
}

enum fb_status
fb_scim_metrics(const struct fb_conf *conf, struct fb_store *st, struct fb_buf *out,
    struct fb_err *err)
{
	static const struct {
		const char *name, *help, *type;
	} fam[] = {
	    {"fedbroker_scim_outbox_depth", "Objects waiting to be pushed to a SCIM target.",
	        "gauge"},
	    {"fedbroker_scim_outbox_failing",
	        "Objects whose last push to a SCIM target failed (fedbroker scim status says why).",
	        "gauge"},
	    {"fedbroker_scim_last_success_timestamp_seconds",
	        "When a SCIM target was last seen in step, its outbox empty (0: never).", "gauge"},
	    {"fedbroker_scim_requests_total",
	        "Requests of the jobs processes to a SCIM target, by answer status (none: no "
	        "answer).",
	        "counter"},
	    {"fedbroker_scim_writes_total",
	        "Writes (2xx POST, PUT, PATCH, DELETE) of the jobs processes to a SCIM target.",
	        "counter"},
	    {"fedbroker_scim_retries_total",
	        "Pushes the jobs processes retried (429, 5xx, lost answers).", "counter"},
	};
	struct metric_src *m;
	enum fb_status r = FB_OK;

	if (conf->nscim_targets == 0 || st == NULL)
		return FB_OK;
	m = fb_xcalloc(conf->nscim_targets, sizeof(*m));
	for (size_t i = 0; i < conf->nscim_targets; i++)
		metric_read(st, conf->scim_targets[i].name, &m[i]);
	for (size_t f = 0; r == FB_OK && f < sizeof(fam) / sizeof(fam[0]); f++) {
		r = fb_buf_addf(out, err, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help,
		    fam[f].name, fam[f].type);
		/* Target names are [a-z0-9_-]: nothing to escape in the label. */
		for (size_t i = 0; r == FB_OK && i < conf->nscim_targets; i++) {
			const struct fb_scim_live *l = &m[i].live;
			long long v = f == 0   ? (long long)m[i].depth
			              : f == 1 ? (long long)m[i].failing
			              : f == 2 ? (long long)m[i].last
			              : f == 4 ? (long long)l->writes
			                       : (long long)l->retries;

			if (f != 3) {
				r = fb_buf_addf(out, err, "%s{target=\"%s\"} %lld\n", fam[f].name,
				    m[i].target, v);
				continue;
			}
			for (size_t k = 0; r == FB_OK && k < FB_SCIM_STATUS_SLOTS; k++) {
				char code[16] = "none";

				if (l->by_status[k].status == -1)
					continue;
				if (l->by_status[k].status != 0)
					snprintf(code, sizeof(code), "%d", l->by_status[k].status);
				r = fb_buf_addf(out, err, "%s{target=\"%s\",status=\"%s\"} %llu\n",
				    fam[f].name, m[i].target, code,
				    (unsigned long long)l->by_status[k].n);
			}
		}
	}
	free(m);
	return r;
}
