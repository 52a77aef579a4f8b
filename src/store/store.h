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
 * transaction with its version bump. With store.migrate manual, an
 * existing store with pending migrations is refused instead (FB_ERR_CONFIG,
 * untouched; a new store is still set up). SQLite: the missing parent directory
 * is created 0700, the files 0600. A file that is not a database
 * (FB_ERR_IO) or whose schema is newer than this binary knows
 * (FB_ERR_CONFIG) is left byte-identical; a failing migration is rolled
 * back whole (earlier ones stay applied). Messages name the path.
 * Each process (worker) opens its own handle after fork; a handle must not
 * cross a fork (close it before forking: SQLite's file locks belong to the
 * process that opened it). Calls through a handle opened by another
 * process fail with FB_ERR_INTERNAL.
 * PostgreSQL (store.dsn): every pending migration runs in one transaction
 * under an advisory lock, so replicas starting together migrate once. A
 * server that is not on this machine is reached with TLS verifying its name
 * (a DSN asking for less is FB_ERR_CONFIG), a server older than PostgreSQL
 * 13 or a newer schema is FB_ERR_CONFIG, a server that cannot be reached or
 * refuses the credentials FB_ERR_IO; messages name the user, host, port and
 * database, never the password. Later, a lost connection fails the call it
 * breaks (FB_ERR_IO, nothing half-written) and the next call reconnects; a
 * transaction ending in a serialization failure or deadlock runs again (a
 * few times); a statement over store.statement_timeout is FB_ERR_IO naming
 * the operation.
 * New in *out (fb_store_close).
 */
enum fb_status fb_store_open(const struct fb_conf *conf, struct fb_store **out,
    struct fb_err *err);
/*
 * What check-config asks of conf's store without changing it: for
 * PostgreSQL, that it can be reached with the DSN's credentials and TLS
 * rule, that the server is recent enough and its schema not newer than this
 * binary (errors as fb_store_open's); *version (may be NULL) is the schema
 * version found, 0 for a database fedbroker has not used yet. FB_OK and -1
 * for SQLite (its file is checked when it is opened).
 */
enum fb_status fb_store_check(const struct fb_conf *conf, int *version, struct fb_err *err);
/*
 * The file of conf's SQLite store (store.path, else <state_dir>/fedbroker.db),
 * new (caller frees); NULL when neither is set or the driver is not sqlite.
 */
char *fb_store_path(const struct fb_conf *conf);
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
 * The same with expires_at_ms in milliseconds since the epoch: the entry
 * is expired once fb_time_now_ms() >= expires_at_ms (entries are kept in
 * milliseconds; the seconds functions multiply).
 */
enum fb_status fb_store_kv_put_ms(struct fb_store *st, const char *ns, const char *key,
    const void *val, size_t len, int64_t expires_at_ms, struct fb_err *err);
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
/*
 * What a request with a session cookie checks, in one read of the store:
 * *revoked = 1 when sid is revoked (and the revocation has not expired),
 * else 0; *gen = user_id's session generation, or -1 when the user has no
 * local credentials (no secret is read).
 */
enum fb_status fb_store_session_state(struct fb_store *st, const char *sid, const char *user_id,
    int *revoked, int64_t *gen, struct fb_err *err);
/*
 * fb_store_session_state and fb_store_user_get_by_id(user_id) in one read
 * (on PostgreSQL one statement, one round trip: bench/store.sh): a page
 * that needs the signed-in user. *user's members new
 * (fb_store_user_cleanup); FB_ERR_NOTFOUND when the user does not exist
 * (*revoked and *gen are set all the same). want NULL: nothing else is
 * read (signon may be NULL); else *signon as fb_store_signon_get fills it
 * (fb_store_signon_cleanup), empty when the user is not found.
 */
struct fb_store_user;
struct fb_store_signon;
/*
 * What fb_store_session_user also reads, in the same round trip, for the
 * sign-on that follows at service provider sp: fb_store_signon_get's
 * reads (sp, ns and key as there) into *signon, when the user exists.
 */
struct fb_store_signon_want {
	const char *sp;
	const char *ns;
	const char *key;
};
enum fb_status fb_store_session_user(struct fb_store *st, const char *sid, const char *user_id,
    int *revoked, int64_t *gen, struct fb_store_user *user, const struct fb_store_signon_want *want,
    struct fb_store_signon *signon, struct fb_err *err);

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
/* Like fb_store_user_get, by the stable id. */
enum fb_status fb_store_user_get_by_id(struct fb_store *st, const char *id,
    struct fb_store_user *out, struct fb_err *err);

/* ---- counters (brute-force limits) ---------------------------------------- */

/*
 * Adds 1 to the counter ns/key (absent or expired counts as 0) and sets
 * its expiry to expires_at, in one atomic step across processes; the new
 * value in *count. The entry is an ordinary key/value entry holding the
 * decimal count (fb_store_kv_get reads it, fb_store_kv_delete resets it).
 * FB_ERR_INVALID when the present value is not a count.
 */
enum fb_status fb_store_kv_incr(struct fb_store *st, const char *ns, const char *key,
    int64_t expires_at, int64_t *count, struct fb_err *err);
/* The same with the expiry in milliseconds, as fb_store_kv_put_ms. */
enum fb_status fb_store_kv_incr_ms(struct fb_store *st, const char *ns, const char *key,
    int64_t expires_at_ms, int64_t *count, struct fb_err *err);

/* ---- local account credentials (schema version 2) ------------------------- */

enum fb_store_account_type {
	FB_ACCOUNT_INTERNAL = 0, /* a person: password, optional second factor */
	FB_ACCOUNT_SERVICE,	 /* a machine: API tokens */
};

/*
 * The credentials of a local account, one per user (users.id); deleted
 * with the user. Nothing here is a clear secret: the password is an
 * argon2id hash and the TOTP secret is sealed by the caller.
 */
struct fb_store_cred {
	char *user_id;
	char *password_hash; /* argon2id encoded string; NULL = no password */
	enum fb_store_account_type type;
	char *totp_secret;	/* sealed TOTP secret; NULL = no TOTP */
	int64_t totp_last_step; /* the last accepted TOTP time step (replay guard); 0 = none */
	int64_t created;
	int64_t last_login; /* 0 = never */
	int64_t session_gen; /* moves when every session must end (schema version 3) */
};

/*
 * Creates a local account in one transaction: the user u (as
 * fb_store_user_upsert inserts it; u->id NULL gets a new random id, written
 * back with u->created) and its credentials c (c->user_id is ignored; the
 * user's id is used; c->created 0 means now). FB_ERR_INVALID when a user
 * with u->username exists already (whatever its source), or on a bad
 * argument; nothing is written then. Borrowed arguments.
 */
enum fb_status fb_store_cred_create(struct fb_store *st, struct fb_store_user *u,
    const struct fb_store_cred *c, struct fb_err *err);
/* FB_ERR_NOTFOUND when user_id has no credentials. *out members new: fb_store_cred_cleanup. */
enum fb_status fb_store_cred_get(struct fb_store *st, const char *user_id,
    struct fb_store_cred *out, struct fb_err *err);
/* Replaces the password hash (NULL removes it). FB_ERR_NOTFOUND when no credentials. */
enum fb_status fb_store_cred_password_set(struct fb_store *st, const char *user_id,
    const char *password_hash, struct fb_err *err);
/*
 * Replaces the sealed TOTP secret (NULL removes it) and sets the last
 * accepted step to last_step. FB_ERR_NOTFOUND when no credentials.
 */
enum fb_status fb_store_cred_totp_set(struct fb_store *st, const char *user_id,
    const char *totp_secret, int64_t last_step, struct fb_err *err);
/*
 * Records TOTP time step step as used, atomically: FB_OK only when the
 * user has a TOTP secret and step is later than the last accepted one, so
 * a code is accepted once even when two workers race. FB_ERR_REPLAY when
 * step (or a later one) was accepted already, FB_ERR_NOTFOUND when the
 * user has no credentials or no TOTP secret.
 */
enum fb_status fb_store_cred_totp_accept(struct fb_store *st, const char *user_id,
    int64_t step, struct fb_err *err);
/* Sets the last sign-in time. FB_ERR_NOTFOUND when no credentials. */
enum fb_status fb_store_cred_login_set(struct fb_store *st, const char *user_id, int64_t when,
    struct fb_err *err);
/*
 * Moves user_id's session generation on: sessions sealed with an earlier
 * one stop working. FB_ERR_NOTFOUND when no credentials.
 */
enum fb_status fb_store_cred_sessions_revoke(struct fb_store *st, const char *user_id,
    struct fb_err *err);
/* The number of local accounts (users with credentials) in *n. */
enum fb_status fb_store_cred_count(struct fb_store *st, size_t *n, struct fb_err *err);
/* Frees c's members and zeroes it; NULL is a no-op. */
void fb_store_cred_cleanup(struct fb_store_cred *c);

/* ---- recovery codes ---------------------------------------------------------- */

/*
 * Replaces every recovery code of user_id with the n hashes (borrowed;
 * lowercase hex SHA-256 of each code, n <= 100), in one transaction; n 0
 * removes them all. FB_ERR_NOTFOUND when there is no such user.
 */
enum fb_status fb_store_recovery_codes_replace(struct fb_store *st, const char *user_id,
    const char *const *hashes, size_t n, struct fb_err *err);
/*
 * Marks the unused code with this hash as used, atomically: FB_OK for one
 * caller only, even when two workers race. FB_ERR_NOTFOUND when user_id
 * has no unused code with that hash.
 */
enum fb_status fb_store_recovery_code_use(struct fb_store *st, const char *user_id,
    const char *hash, struct fb_err *err);
/* The number of unused codes of user_id in *n (0 for an unknown user). */
enum fb_status fb_store_recovery_codes_count(struct fb_store *st, const char *user_id,
    size_t *n, struct fb_err *err);

/* ---- API tokens ------------------------------------------------------------ */

struct fb_store_token {
	char *id;	   /* unique, chosen by the caller */
	char *user_id;	   /* users.id of the owner */
	char *username;	   /* the owner's username: filled by _get and _list, ignored by _add */
	char *secret_hash; /* lowercase hex SHA-256 of the secret; never the secret */
	char *description; /* may be NULL */
	int64_t created;
	int64_t expires_at; /* 0 = never */
	int64_t revoked_at; /* 0 = not revoked */
};

/*
 * Stores t (borrowed; t->created 0 means now, revoked_at is ignored).
 * FB_ERR_NOTFOUND when t->user_id is no user, FB_ERR_INVALID when the id
 * is taken or an argument is bad (description at most FB_STORE_TEXT_MAX
 * bytes of UTF-8).
 */
enum fb_status fb_store_token_add(struct fb_store *st, const struct fb_store_token *t,
    struct fb_err *err);
/* FB_ERR_NOTFOUND when absent. *out members new: fb_store_token_cleanup. */
enum fb_status fb_store_token_get(struct fb_store *st, const char *id,
    struct fb_store_token *out, struct fb_err *err);
/*
 * Calls fn for each token (of user_id, or of everyone when user_id is
 * NULL), oldest first; fn returns non-zero to stop. t is borrowed, valid
 * during the call only.
 */
enum fb_status fb_store_token_list(struct fb_store *st, const char *user_id,
    int (*fn)(const struct fb_store_token *t, void *arg), void *arg, struct fb_err *err);
/*
 * Marks the token revoked now; a token revoked already keeps its first
 * revocation time. FB_ERR_NOTFOUND when there is no such token.
 */
enum fb_status fb_store_token_revoke(struct fb_store *st, const char *id, struct fb_err *err);
/* Frees t's members and zeroes it; NULL is a no-op. */
void fb_store_token_cleanup(struct fb_store_token *t);

/* ---- persistent SAML NameIDs (schema version 3) ------------------------------ */

/*
 * The persistent NameID of user_id (users.id) at the service provider sp
 * (its entity id): new in *nameid (caller frees). FB_ERR_NOTFOUND when
 * none is stored.
 */
enum fb_status fb_store_nameid_get(struct fb_store *st, const char *user_id, const char *sp,
    char **nameid, struct fb_err *err);
/*
 * The same, storing candidate (1..FB_STORE_KEY_MAX bytes) first when none
 * is stored: atomic across workers, so racing first sign-ins all get the
 * value stored first. The NameID goes with the user (deleting the user
 * deletes it). FB_ERR_NOTFOUND when user_id is no user, FB_ERR_INVALID
 * when candidate is already another user's NameID at sp or an argument is
 * bad. New in *nameid (caller frees).
 */
enum fb_status fb_store_nameid_ensure(struct fb_store *st, const char *user_id, const char *sp,
    const char *candidate, char **nameid, struct fb_err *err);

/* ---- the audit log of administrative actions (schema version 5) ---------------- */

/* One recorded action. Strings borrowed from the store during a list callback. */
struct fb_store_audit {
	int64_t id;	    /* increasing */
	int64_t at;	    /* seconds since the epoch */
	const char *actor;  /* who did it ("cli:root", ...) */
	const char *event;  /* the audit event name (account_created, ...) */
	const char *detail; /* a JSON object of the event's fields and message */
};

/*
 * Records an action now: actor and event 1..FB_STORE_KEY_MAX bytes, detail
 * at most FB_STORE_VALUE_MAX (FB_ERR_INVALID otherwise). All borrowed.
 */
enum fb_status fb_store_audit_add(struct fb_store *st, const char *actor, const char *event,
    const char *detail, struct fb_err *err);
/*
 * Calls fn for the last limit records (all when limit is 0), oldest first;
 * fn returns non-zero to stop. a is borrowed, valid during the call only.
 */
enum fb_status fb_store_audit_list(struct fb_store *st, size_t limit,
    int (*fn)(const struct fb_store_audit *a, void *arg), void *arg, struct fb_err *err);

/* ---- one-time values (replay caches, OIDC state, codes used once) ------------- */

/*
 * Records id in namespace ns (1..FB_STORE_KEY_MAX bytes each) until
 * expires_at_ms (milliseconds since the epoch): FB_OK the first time,
 * FB_ERR_REPLAY while a live record exists, atomically across workers and
 * restarts (a SAML assertion ID, an OIDC state or code is accepted once).
 * Expired records are purged with the key/value entries (fb_store_kv_purge).
 */
enum fb_status fb_store_once(struct fb_store *st, const char *ns, const char *id,
    int64_t expires_at_ms, struct fb_err *err);

/* ---- upstream identities (schema version 7) ----------------------------------- */

/*
 * A link from an upstream identity to a user: (upstream, issuer, subject)
 * is unique and names one user; a user may have several. Gone with the user.
 */
struct fb_store_link {
	char *user_id;
	char *upstream; /* configuration name */
	char *issuer;	/* OIDC iss, or the SAML IdP's entity id */
	char *subject;	/* OIDC sub, or the SAML NameID */
	int64_t created;
	int64_t last_used;
};

/* The user linked to (upstream, issuer, subject): new in *user_id. FB_ERR_NOTFOUND when none. */
enum fb_status fb_store_link_find(struct fb_store *st, const char *upstream, const char *issuer,
    const char *subject, char **user_id, struct fb_err *err);
/*
 * Calls fn for each link of user_id, ordered by upstream, issuer and
 * subject (l borrowed, valid during the call); fn returns non-zero to stop.
 */
enum fb_status fb_store_link_list(struct fb_store *st, const char *user_id,
    int (*fn)(const struct fb_store_link *l, void *arg), void *arg, struct fb_err *err);
/* Frees l's members and zeroes it; NULL is a no-op. */
void fb_store_link_cleanup(struct fb_store_link *l);

/*
 * What a sign-on at a service provider reads, all in one call (on
 * PostgreSQL one statement, one round trip, instead of three:
 * bench/store.sh): the groups upstreams gave user_id (as
 * fb_store_upstream_groups: groups NULL-terminated, sorted, ngroups),
 * user_id's persistent NameID at sp (as fb_store_nameid_get; NULL when
 * none) and the live key/value entry ns/key (as fb_store_kv_get; NULL and
 * 0 when none). Members new (fb_store_signon_cleanup); a failure fills err
 * as those calls would and leaves out empty.
 */
struct fb_store_signon {
	char **groups;
	size_t ngroups;
	char *nameid;
	unsigned char *kv;
	size_t kvlen;
};
enum fb_status fb_store_signon_get(struct fb_store *st, const char *user_id, const char *sp,
    const char *ns, const char *key, struct fb_store_signon *out, struct fb_err *err);
/* Frees s's members and zeroes it; NULL is a no-op. */
void fb_store_signon_cleanup(struct fb_store_signon *s);

/*
 * The groups upstreams gave user_id at their last sign-in (implicit
 * memberships), sorted by name and unique over every upstream: *groups is a
 * new NULL-terminated array of new strings (fb_strv_free-style: free each,
 * then the array), *n their number (0 and NULL when none).
 */
enum fb_status fb_store_upstream_groups(struct fb_store *st, const char *user_id, char ***groups,
    size_t *n, struct fb_err *err);
/* The same for one upstream only. */
enum fb_status fb_store_upstream_groups_of(struct fb_store *st, const char *user_id,
    const char *upstream, char ***groups, size_t *n, struct fb_err *err);

/* What one sign-in through an upstream writes (fb_store_upstream_signin). Borrowed. */
struct fb_store_upstream_signin {
	const char *upstream, *issuer, *subject; /* the link */
	int create;	  /* 1: insert user (a new user, source = upstream) */
	int update_profile; /* 1: write user's name and email on an existing user */
	const char *const *groups; /* replace user's groups from upstream with these */
	size_t ngroups;
};

/*
 * One upstream sign-in, in one transaction (nothing written on failure):
 * with create, inserts u (u->id NULL: a new random id written back; an
 * existing username is FB_ERR_INVALID); otherwise u->id must be a user
 * (FB_ERR_NOTFOUND) whose last_seen (and name and email with
 * update_profile) is updated. Then the link (upstream, issuer, subject) is
 * made, or its last_used updated; a link to another user is FB_ERR_INVALID.
 * Then the user's groups from upstream are replaced (at most 1000 names of
 * 1..FB_STORE_KEY_MAX bytes).
 */
enum fb_status fb_store_upstream_signin(struct fb_store *st, struct fb_store_user *u,
    const struct fb_store_upstream_signin *s, struct fb_err *err);
/*
 * The first user (by username) whose email is email (case-insensitive) in
 * *out (new members); *count (may be NULL) how many users have it.
 * FB_ERR_NOTFOUND when none.
 */
enum fb_status fb_store_user_find_email(struct fb_store *st, const char *email,
    struct fb_store_user *out, size_t *count, struct fb_err *err);

/* ---- whole-store export and import (fedbroker store export, import, copy) ------- */

/*
 * What a backup holds: the rows of the tables that cannot be regenerated,
 * as typed values, without SQL. Ephemeral state (key/value entries, counters,
 * one-time values, session revocations) is not among them.
 */
enum fb_store_coltype {
	FB_STORE_COL_TEXT = 0,
	FB_STORE_COL_INT,
};

struct fb_store_column {
	const char *name;
	enum fb_store_coltype type;
	int nullable;
};

struct fb_store_table {
	const char *name;
	const struct fb_store_column *cols;
	size_t ncols;
	const char *order; /* the key columns, comma-separated: rows come in this order */
	int optional;	   /* 1: left out unless asked for (the audit log) */
};

/* One column's value in a row: text (borrowed) for TEXT, num for INT; null set for NULL. */
struct fb_store_value {
	int null;
	const char *text;
	int64_t num;
};

/* The exportable tables, parents before children (import order); *n their number. Static. */
const struct fb_store_table *fb_store_tables(size_t *n);
/* The table named name, or NULL. */
const struct fb_store_table *fb_store_table_get(const char *name);

/* Called for each row of t: t->ncols values, borrowed for the call; non-zero stops. */
typedef int (*fb_store_row_fn)(const struct fb_store_table *t, const struct fb_store_value *row,
    void *arg);
/*
 * Calls fn for each row of every table of fb_store_tables (the optional
 * ones only when with_optional), table by table in that order, rows in
 * t->order, all read in one consistent snapshot (one read transaction), so
 * that a store in use by the daemon exports whole. fn must not call the
 * store.
 */
enum fb_status fb_store_rows_each(struct fb_store *st, int with_optional, fb_store_row_fn fn,
    void *arg, struct fb_err *err);
/*
 * The number of rows of each table of fb_store_tables in counts[i] (an
 * array of as many; 0 for the optional ones unless with_optional), read
 * in one snapshot.
 */
enum fb_status fb_store_rows_count(struct fb_store *st, int with_optional, size_t *counts,
    struct fb_err *err);

/*
 * The source of the rows fb_store_rows_load writes: sets *t (NULL at the
 * end) and *row (t->ncols values, borrowed until the next call); FB_OK,
 * or a failure with err filled (nothing is written then).
 */
typedef enum fb_status (*fb_store_row_next_fn)(void *arg, const struct fb_store_table **t,
    const struct fb_store_value **row, struct fb_err *err);

/*
 * Writes every row next yields, in one transaction, into a store whose
 * tables (every table of fb_store_tables; the optional ones only when
 * with_optional) are all empty, else FB_ERR_INVALID naming the first
 * table holding rows. Each row is checked first (a NULL where the column
 * takes none, text that is not UTF-8 or over FB_STORE_VALUE_MAX bytes):
 * FB_ERR_INVALID; a row the database refuses (a duplicate key, a reference
 * to no user) is FB_ERR_INVALID too. On any failure nothing is written, and
 * *at (may be NULL) names the row to blame: its table (NULL when no row is,
 * say a lost connection) and its index among that table's rows in the order
 * next yielded them (a backend may find the fault rows later, PostgreSQL's
 * COPY at the table's end). *n (may be NULL) counts the rows written.
 */
struct fb_store_row_at {
	const struct fb_store_table *table;
	size_t index;
};
enum fb_status fb_store_rows_load(struct fb_store *st, int with_optional,
    fb_store_row_next_fn next, void *arg, size_t *n, struct fb_store_row_at *at,
    struct fb_err *err);

/*
 * Opens the store like fb_store_open but applies no migration: only
 * fb_store_schema_version (what the store holds now; 0 for a fresh one)
 * and fb_store_close may be used on it unless it is already at
 * fb_store_schema_latest(); every other call fails with FB_ERR_CONFIG.
 * Nothing is created or changed: a SQLite file that does not exist is
 * FB_ERR_IO.
 */
enum fb_status fb_store_open_unmigrated(const struct fb_conf *conf, struct fb_store **out,
    struct fb_err *err);
/* Opens the store like fb_store_open, applying pending migrations even with store.migrate manual. */
enum fb_status fb_store_open_migrate(const struct fb_conf *conf, struct fb_store **out,
    struct fb_err *err);

/* ---- SCIM push (schema version 8) ------------------------------------------------ */

/*
 * The store logs every change of a user (created; username, name, email,
 * source or active changed; deleted) and of an upstream group membership
 * (the group's name) by itself, in the transaction that makes the change,
 * whichever function makes it: callers need not know about SCIM. The log
 * keeps each object's latest change under an increasing sequence number.
 * Objects are a kind, FB_STORE_SCIM_USER (object: users.id) or
 * FB_STORE_SCIM_GROUP (object: the group name), and an object name of
 * 1..FB_STORE_KEY_MAX bytes; targets are names of 1..FB_STORE_KEY_MAX bytes.
 */
#define FB_STORE_SCIM_USER "user"
#define FB_STORE_SCIM_GROUP "group"

/* An outbox entry: one object a target must be brought in step with. */
struct fb_store_scim_item {
	char *kind;
	char *object;
	int64_t seq;	  /* the latest change it stands for (0: queued by hand before any) */
	int attempts;	  /* claims since that change, before this one: > 0 means an earlier
			     push may have happened (failed, or its process died) */
	int64_t next_at;  /* not pushed before (seconds since the epoch) */
	char *last_error; /* why the last push failed; NULL when none */
};

/*
 * Copies into target's outbox every change logged since the last fill of
 * that target (all of them for a new target), one entry per object: an
 * object already queued takes the newer change, its attempts and error
 * cleared, due now. How many entries were written in *n (may be NULL).
 */
enum fb_status fb_store_scim_outbox_fill(struct fb_store *st, const char *target, size_t *n,
    struct fb_err *err);
/*
 * Queues object for target, due now (a reconcile, a configured group); kept
 * once. Queued while it is being pushed, it stays for another push.
 */
enum fb_status fb_store_scim_outbox_add(struct fb_store *st, const char *target,
    const char *kind, const char *object, struct fb_err *err);
/*
 * Leases to owner (1..FB_STORE_KEY_MAX bytes: host and process) for lease
 * seconds (1..86400) at most limit (1..1000) of target's entries that are
 * due and not leased (or whose lease has run out), users before groups
 * (a group pushed after its members takes them in one request), oldest
 * change first:
 * no other caller, in any process or replica, gets them until the lease
 * ends or owner gives them back (done, fail). New array in *items of *n
 * (fb_store_scim_items_free); none is FB_OK with *n 0.
 */
enum fb_status fb_store_scim_outbox_claim(struct fb_store *st, const char *target,
    const char *owner, int64_t lease, size_t limit, struct fb_store_scim_item **items, size_t *n,
    struct fb_err *err);
/* Frees the n items and the array; NULL is a no-op. */
void fb_store_scim_items_free(struct fb_store_scim_item *items, size_t n);
/*
 * it (claimed by owner) is pushed: the entry is removed, unless a newer
 * change came meanwhile, then it stays, due now. Nothing happens when
 * owner no longer holds the lease.
 */
enum fb_status fb_store_scim_outbox_done(struct fb_store *st, const char *target,
    const struct fb_store_scim_item *it, const char *owner, struct fb_err *err);
/*
 * Gives it (claimed by owner) back unpushed, due now (a process stopping
 * cleanly: the next one need not wait for the lease to run out).
 */
enum fb_status fb_store_scim_outbox_release(struct fb_store *st, const char *target,
    const struct fb_store_scim_item *it, const char *owner, struct fb_err *err);
/*
 * Pushing it (claimed by owner) failed: retried not before retry_at (seconds since the epoch), error (at most
 * FB_STORE_TEXT_MAX bytes, no secrets) kept for status.
 */
enum fb_status fb_store_scim_outbox_fail(struct fb_store *st, const char *target,
    const struct fb_store_scim_item *it, const char *owner, int64_t retry_at, const char *error,
    struct fb_err *err);
/* Calls fn for each entry of target, oldest change first (it borrowed); non-zero stops. */
enum fb_status fb_store_scim_outbox_list(struct fb_store *st, const char *target,
    int (*fn)(const struct fb_store_scim_item *it, void *arg), void *arg, struct fb_err *err);
/* The number of target's entries in *depth, of those with an error in *failing. */
enum fb_status fb_store_scim_outbox_depth(struct fb_store *st, const char *target,
    size_t *depth, size_t *failing, struct fb_err *err);

/* A local object's id at a target. */
struct fb_store_scim_remote {
	char *target, *kind, *object;
	char *remote_id; /* the target's id, unique per target and kind */
	int managed;	 /* 1: fedbroker created it; 0: adopted after a 409, never deleted */
	char *digest;	 /* what was last pushed (the body's hash), NULL when unknown */
	char *body;	 /* the body last pushed (JSON, at most FB_STORE_VALUE_MAX), or NULL */
	int64_t updated; /* set by _put */
};

/* FB_ERR_NOTFOUND when object has no id at target. *out's members new (_cleanup). */
enum fb_status fb_store_scim_remote_get(struct fb_store *st, const char *target,
    const char *kind, const char *object, struct fb_store_scim_remote *out, struct fb_err *err);
/* Records rm (borrowed); FB_ERR_INVALID when its remote id is another object's. */
enum fb_status fb_store_scim_remote_put(struct fb_store *st,
    const struct fb_store_scim_remote *rm, struct fb_err *err);
/* Forgets object's id at target (FB_OK when none). */
enum fb_status fb_store_scim_remote_delete(struct fb_store *st, const char *target,
    const char *kind, const char *object, struct fb_err *err);
/* Calls fn for each object of kind known at target, by object (rm borrowed). */
enum fb_status fb_store_scim_remote_list(struct fb_store *st, const char *target,
    const char *kind, int (*fn)(const struct fb_store_scim_remote *rm, void *arg), void *arg,
    struct fb_err *err);
/* Frees rm's members and zeroes it; NULL is a no-op. */
void fb_store_scim_remote_cleanup(struct fb_store_scim_remote *rm);

/*
 * The mirror of the memberships pushed to target (AWS never returns them):
 * present 1 records user_id as a member of group there, 0 removes it.
 */
enum fb_status fb_store_scim_member_put(struct fb_store *st, const char *target,
    const char *group, const char *user_id, int present, struct fb_err *err);
/* The same for n user ids at once (one transaction where the driver can: SQLite). */
enum fb_status fb_store_scim_members_put(struct fb_store *st, const char *target, const char *group,
    const char *const *user_ids, size_t n, int present, struct fb_err *err);
/* Calls fn for each member of group recorded at target, by user id. */
enum fb_status fb_store_scim_member_list(struct fb_store *st, const char *target,
    const char *group, int (*fn)(const char *user_id, void *arg), void *arg,
    struct fb_err *err);

/* Keeps target's last sync report (a JSON text of at most FB_STORE_VALUE_MAX bytes), now. */
enum fb_status fb_store_scim_report_put(struct fb_store *st, const char *target, int ok,
    const char *report, struct fb_err *err);
/* FB_ERR_NOTFOUND when none; *report new. */
enum fb_status fb_store_scim_report_get(struct fb_store *st, const char *target, int64_t *at,
    int *ok, char **report, struct fb_err *err);

/*
 * Calls fn for each user an upstream put in group at its last sign-in, by
 * username (u borrowed).
 */
enum fb_status fb_store_group_members(struct fb_store *st, const char *group,
    int (*fn)(const struct fb_store_user *u, void *arg), void *arg, struct fb_err *err);

/* ---- the OpenID provider's grants (schema version 9) ----------------------- */

/*
 * An authorization code or a refresh token, stored by the hash of its value
 * (never the value). family groups what one sign-in issued: the code, then
 * each refresh token of its rotation; revoking the family revokes them all
 * (and the access tokens that name it). Strings 1..FB_STORE_KEY_MAX bytes,
 * data (what the grant stands for, JSON) at most FB_STORE_VALUE_MAX.
 */
enum fb_store_oidc_kind {
	FB_STORE_OIDC_CODE = 0,
	FB_STORE_OIDC_REFRESH,
};
struct fb_store_oidc_grant {
	char *hash;
	enum fb_store_oidc_kind kind;
	char *family;
	char *client_id;
	char *data;
	int64_t expires_at; /* seconds */
};
void fb_store_oidc_grant_cleanup(struct fb_store_oidc_grant *g);
/*
 * Stores g (its family is created, or its expiry pushed to g's).
 * FB_ERR_REPLAY when the hash is taken.
 */
enum fb_status fb_store_oidc_grant_add(struct fb_store *st, const struct fb_store_oidc_grant *g,
    struct fb_err *err);
/*
 * Uses the live grant of kind stored under hash, once, in one transaction:
 * FB_OK the first time (*out filled, members new); FB_ERR_REPLAY when it
 * was used before: its family is revoked in the same transaction (*out
 * filled, so the caller can log it); FB_ERR_DENIED when its family is
 * revoked (*out filled); FB_ERR_NOTFOUND when unknown or expired.
 */
enum fb_status fb_store_oidc_grant_use(struct fb_store *st, const char *hash,
    enum fb_store_oidc_kind kind, struct fb_store_oidc_grant *out, struct fb_err *err);
/* Revokes family now (a no-op when unknown or revoked already). */
enum fb_status fb_store_oidc_family_revoke(struct fb_store *st, const char *family,
    struct fb_err *err);
/* Records the access token jti as revoked until expires_at (seconds). */
enum fb_status fb_store_oidc_jti_revoke(struct fb_store *st, const char *jti, int64_t expires_at,
    struct fb_err *err);
/*
 * *revoked = 1 when jti is revoked or family (may be NULL) is, in one read.
 */
enum fb_status fb_store_oidc_token_revoked(struct fb_store *st, const char *jti,
    const char *family, int *revoked, struct fb_err *err);

/*
 * An OpenID client kept in the store (fedbroker oidc client add; schema
 * version 10) rather than in oidc.clients, so every replica sees it
 * without a reload. spec is what conf reads as one oidc.clients[] entry
 * (JSON, without secret and jwks); the secret is kept as its hash only.
 * id 1..FB_STORE_KEY_MAX bytes, spec and jwks at most FB_STORE_VALUE_MAX.
 */
struct fb_store_oidc_client {
	char *id;
	char *spec;        /* JSON object: oidc.clients[] keys */
	char *secret_hash; /* lowercase hex SHA-256 of the secret, or NULL */
	char *jwks;        /* the client's public keys (JWKS JSON) for private_key_jwt, or NULL */
	int64_t created;   /* seconds */
};
void fb_store_oidc_client_cleanup(struct fb_store_oidc_client *c);
/* Stores c (created: now). FB_ERR_REPLAY when a client with its id is stored already. */
enum fb_status fb_store_oidc_client_add(struct fb_store *st, const struct fb_store_oidc_client *c,
    struct fb_err *err);
/* The client id into *out (members new). FB_ERR_NOTFOUND when none. */
enum fb_status fb_store_oidc_client_get(struct fb_store *st, const char *id,
    struct fb_store_oidc_client *out, struct fb_err *err);
/* fn on every stored client, by id (members borrowed for the call); fn's non-zero stops. */
enum fb_status fb_store_oidc_client_list(struct fb_store *st,
    int (*fn)(const struct fb_store_oidc_client *c, void *arg), void *arg, struct fb_err *err);
/*
 * Deletes client id and, in the same transaction, revokes every family of
 * grants it holds (its codes, refresh tokens and the access tokens naming
 * them are refused from then on). FB_ERR_NOTFOUND when none.
 */
enum fb_status fb_store_oidc_client_remove(struct fb_store *st, const char *id,
    struct fb_err *err);

#endif
