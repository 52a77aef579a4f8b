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
 * Opens the store named by conf (driver, path or <state_dir>/fedbroker.db,
 * busy timeout) and applies pending schema migrations, each in one
 * transaction with its version bump. SQLite: the missing parent directory
 * is created 0700, the files 0600. A file that is not a database
 * (FB_ERR_IO) or whose schema is newer than this binary knows
 * (FB_ERR_CONFIG) is left byte-identical; a failing migration is rolled
 * back whole (earlier ones stay applied). Messages name the path.
 * Each process (worker) opens its own handle after fork; a handle must not
 * cross a fork (close it before forking: SQLite's file locks belong to the
 * process that opened it). Calls through a handle opened by another
 * process fail with FB_ERR_INTERNAL.
 * The postgres driver is not available yet: FB_ERR_CONFIG.
 * New in *out (fb_store_close).
 */
enum fb_status fb_store_open(const struct fb_conf *conf, struct fb_store **out,
    struct fb_err *err);
/*
 * Closes st; NULL is a no-op. In a process other than the one that opened
 * it, only frees memory and leaves the database to its owner.
 */
void fb_store_close(struct fb_store *st);
/* FB_OK when the store answers a trivial query (readiness). */
enum fb_status fb_store_ping(struct fb_store *st, struct fb_err *err);
/* The schema version in use. */
int fb_store_schema_version(struct fb_store *st);
/* The schema version this binary migrates to (every backend numbers its migrations alike). */
int fb_store_schema_latest(void);
/* "sqlite" or "postgres". Borrowed, static. */
const char *fb_store_driver_name(const struct fb_store *st);

/*
 * Limits, checked before the database is touched (FB_ERR_INVALID): a
 * namespace, key, session id, user id or username is 1..FB_STORE_KEY_MAX
 * bytes; a value at most FB_STORE_VALUE_MAX bytes; a user's name, email and
 * source at most FB_STORE_TEXT_MAX bytes. Error messages never contain
 * keys, values or session ids (they can be one-time codes).
 */
#define FB_STORE_KEY_MAX 256
#define FB_STORE_VALUE_MAX 65536
#define FB_STORE_TEXT_MAX 1024

/* ---- key/value with expiry (one-time codes, replay caches) ---------- */

/*
 * Values are opaque bytes (borrowed; val may be NULL when len is 0) in a
 * namespace ns ("otc", "replay", ...). expires_at is seconds since the
 * epoch; an entry is expired once fb_time_now() >= expires_at and is then
 * treated as absent everywhere.
 */
enum fb_status fb_store_kv_put(struct fb_store *st, const char *ns, const char *key,
    const void *val, size_t len, int64_t expires_at, struct fb_err *err);
/*
 * Inserts only when absent: FB_ERR_REPLAY when a live entry exists (a replay
 * cache); an expired entry is overwritten. Atomic across processes.
 */
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
/* FB_OK whether or not the entry existed. */
enum fb_status fb_store_kv_delete(struct fb_store *st, const char *ns, const char *key,
    struct fb_err *err);
/*
 * Deletes every key/value entry and every session revocation expired at now
 * (expires_at <= now); how many in *n (may be NULL).
 */
enum fb_status fb_store_kv_purge(struct fb_store *st, int64_t now, size_t *n,
    struct fb_err *err);

/* ---- session revocations ------------------------------------------------ */

/*
 * Records sid as revoked until expires_at (when the session would end
 * anyway). Revoking again keeps the later expiry.
 */
enum fb_status fb_store_session_revoke(struct fb_store *st, const char *sid, int64_t expires_at,
    struct fb_err *err);
/* *revoked = 1 when sid is revoked (and the revocation has not expired), else 0. */
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
 * Inserts or updates the user with u->username (name, email, source, active,
 * last_seen are written). When u->id is NULL the stored id, or a new random
 * one on insert, is written back into u->id (new, freed by
 * fb_store_user_cleanup); a u->id that differs from the stored user's is
 * FB_ERR_INVALID. created is kept on update and written back into
 * u->created; on insert it is u->created, or now when that is 0. An id
 * already used by another username is FB_ERR_INVALID.
 */
enum fb_status fb_store_user_upsert(struct fb_store *st, struct fb_store_user *u,
    struct fb_err *err);
/* FB_ERR_NOTFOUND when absent. *out members are new: free with fb_store_user_cleanup. */
enum fb_status fb_store_user_get(struct fb_store *st, const char *username,
    struct fb_store_user *out, struct fb_err *err);
/*
 * Calls fn for each user ordered by username; fn returns non-zero to stop.
 * u is borrowed, valid during the call only; fn may call other store
 * functions on st.
 */
enum fb_status fb_store_user_list(struct fb_store *st,
    int (*fn)(const struct fb_store_user *u, void *arg), void *arg, struct fb_err *err);
/* FB_ERR_NOTFOUND when absent. */
enum fb_status fb_store_user_delete(struct fb_store *st, const char *username,
    struct fb_err *err);
/* Frees u's members and zeroes it (u itself is not freed). NULL is a no-op. */
void fb_store_user_cleanup(struct fb_store_user *u);

#endif
