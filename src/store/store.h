/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store: the only way code reaches persistent state. One interface, with
 * backends behind a table of operations (SQLite now, PostgreSQL later).
 */
#ifndef FB_STORE_STORE_H
#define FB_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "conf/conf.h"

struct fb_store;

/*
 * Opens the store named by conf (driver, path, busy timeout) and applies
 * pending schema migrations, each in one transaction. A store whose schema
 * is newer than this binary knows, or that cannot be opened or migrated,
 * fails with FB_ERR_IO/FB_ERR_CONFIG and a message naming the path; no data
 * is changed then. Each process (worker) opens its own handle after fork.
 * New in *out (fb_store_close).
 */
enum fb_status fb_store_open(const struct fb_conf *conf, struct fb_store **out,
    struct fb_err *err);
void fb_store_close(struct fb_store *st);
/* FB_OK when the store answers a trivial query (readiness). */
enum fb_status fb_store_ping(struct fb_store *st, struct fb_err *err);
/* The schema version in use. */
int fb_store_schema_version(struct fb_store *st);
/* The schema version this binary migrates to. */
int fb_store_schema_latest(void);
/* "sqlite" or "postgres". Borrowed, static. */
const char *fb_store_driver_name(const struct fb_store *st);

/* ---- key/value with expiry (one-time codes, replay caches) ---------- */

/*
 * Values are opaque bytes in a namespace ns ("otc", "replay", ...).
 * expires_at is seconds since the epoch; an expired entry is treated as
 * absent everywhere.
 */
enum fb_status fb_store_kv_put(struct fb_store *st, const char *ns, const char *key,
    const void *val, size_t len, int64_t expires_at, struct fb_err *err);
/* Inserts only when absent: FB_ERR_REPLAY when a live entry exists (a replay cache). */
enum fb_status fb_store_kv_add(struct fb_store *st, const char *ns, const char *key,
    const void *val, size_t len, int64_t expires_at, struct fb_err *err);
/* FB_ERR_NOTFOUND when absent. New buffer (NUL-terminated) in *val, caller frees. */
enum fb_status fb_store_kv_get(struct fb_store *st, const char *ns, const char *key,
    unsigned char **val, size_t *len, struct fb_err *err);
/*
 * Gets and deletes in one atomic step, so a one-time code is used once even
 * when two workers race. FB_ERR_NOTFOUND when absent or already taken.
 */
enum fb_status fb_store_kv_take(struct fb_store *st, const char *ns, const char *key,
    unsigned char **val, size_t *len, struct fb_err *err);
enum fb_status fb_store_kv_delete(struct fb_store *st, const char *ns, const char *key,
    struct fb_err *err);
/* Deletes every entry expired at now; the count in *n (may be NULL). */
enum fb_status fb_store_kv_purge(struct fb_store *st, int64_t now, size_t *n,
    struct fb_err *err);

/* ---- session revocations ------------------------------------------------ */

/* Records sid as revoked until expires_at (when the session would end anyway). */
enum fb_status fb_store_session_revoke(struct fb_store *st, const char *sid, int64_t expires_at,
    struct fb_err *err);
/* *revoked = 1 when sid is revoked. */
enum fb_status fb_store_session_revoked(struct fb_store *st, const char *sid, int *revoked,
    struct fb_err *err);

/* ---- known users ---------------------------------------------------------- */

struct fb_store_user {
	char *id;	/* stable opaque id, generated on first insert */
	char *username; /* unique */
	char *name;	/* display name, may be NULL */
	char *email;	/* may be NULL */
	char *source;	/* "local" or the upstream's name */
	int active;
	int64_t created;
	int64_t last_seen;
};

/*
 * Inserts or updates the user with u->username. When u->id is NULL a new id
 * is generated (and written back into u->id, new). created is kept on update.
 */
enum fb_status fb_store_user_upsert(struct fb_store *st, struct fb_store_user *u,
    struct fb_err *err);
/* FB_ERR_NOTFOUND when absent. *out members are new: free with fb_store_user_cleanup. */
enum fb_status fb_store_user_get(struct fb_store *st, const char *username,
    struct fb_store_user *out, struct fb_err *err);
/* Calls fn for each user ordered by username; fn returns non-zero to stop. */
enum fb_status fb_store_user_list(struct fb_store *st,
    int (*fn)(const struct fb_store_user *u, void *arg), void *arg, struct fb_err *err);
enum fb_status fb_store_user_delete(struct fb_store *st, const char *username,
    struct fb_err *err);
void fb_store_user_cleanup(struct fb_store_user *u);

#endif
