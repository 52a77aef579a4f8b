/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scim: SCIM 2.0 push (RFC 7643, 7644). Keeps the targets of scim.targets
 * in step with fedbroker's users and groups: the store logs every change
 * and each target's outbox holds the objects to push (store/store.h); this
 * module builds the bodies (through the targets' mapping rules) and drains
 * the outboxes over the asynchronous HTTP client, recording remote ids and
 * the memberships pushed. AWS IAM Identity Center's rules apply with
 * profile aws (fedbroker.yaml(5)).
 */
#ifndef FB_SCIM_SCIM_H
#define FB_SCIM_SCIM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "map/map.h"

/* The SCIM schema URNs the bodies carry. */
#define FB_SCIM_USER_SCHEMA  "urn:ietf:params:scim:schemas:core:2.0:User"
#define FB_SCIM_GROUP_SCHEMA "urn:ietf:params:scim:schemas:core:2.0:Group"
#define FB_SCIM_PATCH_SCHEMA "urn:ietf:params:scim:api:messages:2.0:PatchOp"

/* The most member changes one PATCH /Groups carries (and one POST /Groups). */
#define FB_SCIM_MEMBER_CHUNK 100

/*
 * The SCIM User body of the user object user (as fb_ident_user_json_with
 * builds it, borrowed) for target t: userName (the email with profile
 * aws, else the username), externalId (the user's id), displayName,
 * name.givenName and familyName (the display name split at its last
 * space), one primary work email, active. Then rule (may be NULL; the
 * target's user_mapping) patches it (fb_map_scim_patch; request.type is
 * "scim", request.name the target). Profile aws: the attributes AWS
 * refuses are removed, and a body lacking userName, displayName,
 * givenName or familyName, or with several values in a multi-valued
 * attribute, is FB_ERR_INVALID naming the user and what is missing.
 * A failing rule is FB_ERR_DENIED with the rule's message. *out new.
 */
enum fb_status fb_scim_user_body(const struct fb_conf_scim_target *t,
    const struct fb_map_rule *rule, const json_t *user, json_t **out, struct fb_err *err);
/* The SCIM Group body of group name (displayName, externalId), patched by rule (may be NULL). */
enum fb_status fb_scim_group_body(const struct fb_conf_scim_target *t,
    const struct fb_map_rule *rule, const char *name, json_t **out, struct fb_err *err);
/* A digest of body (its canonical JSON): equal digests, equal bodies. New string. */
char *fb_scim_body_digest(const json_t *body);
/*
 * The detail of a SCIM error body (RFC 7644 3.12, or AWS's shape: status
 * as a string, an extra "schema" key), bounded and printable, into buf.
 * A body that is not JSON (an HTML error page) is described as such.
 */
void fb_scim_error_detail(const char *body, size_t len, char *buf, size_t size);

/* The longest id, externalId, name or cursor the answers' readers keep. */
#define FB_SCIM_ID_MAX 1024

/* The "id" of a resource answer (POST, PUT), new; NULL when absent, empty or not JSON. */
char *fb_scim_resource_id(const char *body, size_t len);

/* One resource of a list answer. */
struct fb_scim_entry {
	char *id;          /* never NULL (resources without one are skipped) */
	char *external_id; /* NULL when none */
	char *name;        /* userName or displayName; NULL when none */
	int active;        /* 0 only when "active" is false */
};

/* One page of a list answer (RFC 7644 3.4.2, or AWS's cursor form). */
struct fb_scim_page {
	struct fb_scim_entry *v;
	size_t n;
	int64_t total;     /* totalResults, -1 when absent (AWS's cursor pages) */
	int64_t items;     /* itemsPerPage, else the number of Resources */
	char *next_cursor; /* nextCursor, NULL on the last page */
};

/*
 * Reads a list answer (GET /Users or /Groups): its Resources' id,
 * externalId, name_attr and active, and the paging members.
 * FB_ERR_INVALID when it is not a ListResponse. *out's members new
 * (fb_scim_page_cleanup), zeroed on error.
 */
enum fb_status fb_scim_page_parse(const char *body, size_t len, const char *name_attr,
    struct fb_scim_page *out, struct fb_err *err);
/* Frees p's members and zeroes it; NULL is a no-op. */
void fb_scim_page_cleanup(struct fb_scim_page *p);

/* ---- the push engine ------------------------------------------------------ */

struct event_base;
struct fb_scim;

/* Distinct answer statuses counted per target (the last one takes the rest). */
#define FB_SCIM_STATUS_SLOTS 16

/* Requests answered with one status (0: no answer: refused, timed out, cut). */
struct fb_scim_status_count {
	int status; /* -1: a free slot, or (the last slot) every other status */
	uint64_t n;
};

/* What one engine did (since fb_scim_new), per target. */
struct fb_scim_counts {
	uint64_t requests; /* HTTP requests sent */
	uint64_t writes;   /* of which POST, PUT, PATCH, DELETE answered 2xx */
	uint64_t retries;  /* pushes failed and scheduled again */
	uint64_t failed;   /* pushes failed with an error recorded against the object */
	uint64_t pushed;   /* objects brought in step */
	int64_t last_success; /* when the outbox was last seen empty (0: never) */
	uint64_t listed;      /* objects the last full reconcile's listing found at the target */
	uint64_t queued;      /* objects the last full reconcile queued */
	char error[400];      /* the last full reconcile's listing failed: why ("" when not) */
	struct fb_scim_status_count by_status[FB_SCIM_STATUS_SLOTS]; /* requests by status */
};

/* fb_scim_new's flags. */
#define FB_SCIM_RECONCILE 0x1u /* a full reconcile at once, then every reconcile_interval */
#define FB_SCIM_DRY_RUN	  0x2u /* fb_scim_plan only: nothing is sent, nothing stored */

/*
 * A new engine (fb_scim_free) pushing every target of conf (only the one
 * named target when not NULL: FB_ERR_NOTFOUND when conf has none) from st,
 * on base (all borrowed; they must outlive it). Loads the mapping rules
 * the targets name. Outbox leases name this process (host:pid).
 */
enum fb_status fb_scim_new(const struct fb_conf *conf, struct fb_store *st,
    struct event_base *base, const char *target, unsigned flags, struct fb_scim **out,
    struct fb_err *err);
/* Stops every push (their leases run out) and frees s; NULL is a no-op. */
void fb_scim_free(struct fb_scim *s);
/*
 * One round now, without blocking: each target's new changes go to its
 * outbox, and due entries are claimed and pushed, at most concurrency at
 * once per target. Rounds also run by themselves every second.
 */
void fb_scim_poll(struct fb_scim *s);
/* 1 when no push is running and no entry is due now (a CLI sync is over). */
int fb_scim_idle(struct fb_scim *s);
/*
 * Queues every user and group of the target's scope, and every object
 * with a remote id there (a full reconcile); how many in *n.
 */
enum fb_status fb_scim_enqueue_all(struct fb_scim *s, const char *target, size_t *n,
    struct fb_err *err);
/*
 * Starts a full reconcile of target, without blocking: pages through the
 * target's /Users and /Groups (AWS: cursor; generic: startIndex and count),
 * matches them with the remote ids recorded (gone there: pushed again;
 * changed there: written again; ours but unrecorded: adopted; another's:
 * never touched), then queues as fb_scim_enqueue_all (counts.queued).
 * fb_scim_idle is 0 until the listing is over. Not with FB_SCIM_DRY_RUN.
 */
enum fb_status fb_scim_reconcile(struct fb_scim *s, const char *target, struct fb_err *err);
/*
 * With FB_SCIM_DRY_RUN: what a sync of target would send, computed from the
 * store (the remote ids, digests and memberships pushed) without a request
 * or a write: *out is a new JSON array of {"kind", "object", "name",
 * "action" (create, update, deactivate, delete, add_members,
 * remove_members), "method", "path", "members" (a count), and for an
 * update "changes": the attributes that differ from the body last pushed}
 * and of
 * {"kind", "object", "error"} for objects that cannot be pushed.
 */
enum fb_status fb_scim_plan(struct fb_scim *s, const char *target, json_t **out,
    struct fb_err *err);
/* The counts of target, or NULL when s does not push it. Borrowed. */
const struct fb_scim_counts *fb_scim_counts(const struct fb_scim *s, const char *target);

/*
 * What the jobs processes (one per replica) did for target, as they keep
 * it in the store (ns "scim", key "live:TARGET"; each process writes its
 * counts at most every few seconds): summed over the processes seen in the
 * last day.
 */
struct fb_scim_live {
	uint64_t requests, writes, retries;
	struct fb_scim_status_count by_status[FB_SCIM_STATUS_SLOTS];
	int64_t last_success; /* the latest time a process saw the outbox empty (0: never) */
	size_t processes;
};

/* FB_OK with *out zeroed when no jobs process wrote anything yet. */
enum fb_status fb_scim_live_get(struct fb_store *st, const char *target, struct fb_scim_live *out,
    struct fb_err *err);

/*
 * Appends to out the SCIM families of /metrics (Prometheus text), one
 * sample per target of conf, read from st (any process): the outbox depth
 * and failing objects (the store's outbox), and the jobs processes' live
 * counts (fb_scim_live_get): requests by answer status, writes, retries,
 * when the outbox was last seen empty (or a sync by hand left the target
 * in step).
 */
enum fb_status fb_scim_metrics(const struct fb_conf *conf, struct fb_store *st,
    struct fb_buf *out, struct fb_err *err);

#endif
