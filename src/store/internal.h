/* SPDX-License-Identifier: Apache-2.0 */
/* store/internal.h: the backend table behind struct fb_store; only store/ and its tests use it. */
#ifndef FB_STORE_INTERNAL_H
#define FB_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"

/*
 * One storage backend. store.c checks every argument (NULLs, lengths, the
 * owning process) and reads the clock before calling these, so a backend
 * only translates to its storage: callers never see SQL, rows or library
 * types. Pointers are borrowed for the call. Each fills err with what was
 * being done ("kv_put: ...") and the library's own text. Expired means
 * expires_at <= now. Key/value expiry and the now of the kv_* functions
 * are in milliseconds since the epoch (schema version 5); purge's now and
 * everything else in seconds.
 */
struct fb_store_ops {
	const char *name; /* "sqlite", "postgres" */
	/* The schema version the backend's migrations reach. */
	int (*schema_latest)(void);
	/*
	 * Opens conf's store, applies pending migrations and sets st->be and
	 * st->version. On failure st->be is left NULL and nothing is changed.
	 */
	enum fb_status (*open)(struct fb_store *st, const struct fb_conf *conf, struct fb_err *err);
	/* Releases st->be (never NULL here). */
	void (*close)(struct fb_store *st);
	enum fb_status (*ping)(struct fb_store *st, struct fb_err *err);

	enum fb_status (*kv_put)(struct fb_store *st, const char *ns, const char *key,
	    const void *val, size_t len, int64_t expires_at, struct fb_err *err);
	/* FB_ERR_REPLAY when a live entry exists. */
	enum fb_status (*kv_add)(struct fb_store *st, const char *ns, const char *key,
	    const void *val, size_t len, int64_t expires_at, int64_t now, struct fb_err *err);
	/* FB_ERR_NOTFOUND when absent; *val new (NUL-terminated), caller frees. */
	enum fb_status (*kv_get)(struct fb_store *st, const char *ns, const char *key, int64_t now,
	    unsigned char **val, size_t *len, struct fb_err *err);
	/* Same, and deletes the entry in the same transaction. */
	enum fb_status (*kv_take)(struct fb_store *st, const char *ns, const char *key,
	    int64_t now, unsigned char **val, size_t *len, struct fb_err *err);
	enum fb_status (*kv_delete)(struct fb_store *st, const char *ns, const char *key,
	    struct fb_err *err);
	/* Deletes expired key/value entries and session revocations; the count in *n. */
	enum fb_status (*purge)(struct fb_store *st, int64_t now, size_t *n, struct fb_err *err);

	enum fb_status (*session_revoke)(struct fb_store *st, const char *sid, int64_t expires_at,
	    struct fb_err *err);
	enum fb_status (*session_state)(struct fb_store *st, const char *sid, const char *user_id,
	    int64_t now, int *revoked, int64_t *gen, struct fb_err *err);
	/*
	 * As fb_store_session_user (now in seconds, now_ms for want's kv entry;
	 * signon zeroed); NULL: store.c calls session_state, user_get_by_id and
	 * then fb_store_signon_get's calls.
	 */
	enum fb_status (*session_user)(struct fb_store *st, const char *sid, const char *user_id,
	    int64_t now, int *revoked, int64_t *gen, struct fb_store_user *user,
	    const struct fb_store_signon_want *want, int64_t now_ms, struct fb_store_signon *signon,
	    struct fb_err *err);

	/*
	 * As fb_store_user_upsert. new_id is the id to insert when u->id is
	 * NULL (borrowed; the backend copies it into u->id when used).
	 */
	enum fb_status (*user_upsert)(struct fb_store *st, struct fb_store_user *u,
	    const char *new_id, int64_t now, struct fb_err *err);
	/* FB_ERR_NOTFOUND when absent; out's members new. */
	enum fb_status (*user_get)(struct fb_store *st, const char *username,
	    struct fb_store_user *out, struct fb_err *err);
	enum fb_status (*user_list)(struct fb_store *st,
	    int (*fn)(const struct fb_store_user *u, void *arg), void *arg, struct fb_err *err);
	/* FB_ERR_NOTFOUND when absent. */
	enum fb_status (*user_delete)(struct fb_store *st, const char *username,
	    struct fb_err *err);
	/* FB_ERR_NOTFOUND when absent; out's members new. */
	enum fb_status (*user_get_by_id)(struct fb_store *st, const char *id,
	    struct fb_store_user *out, struct fb_err *err);

	/* As fb_store_kv_incr; now decides whether the present entry is live. */
	enum fb_status (*kv_incr)(struct fb_store *st, const char *ns, const char *key,
	    int64_t expires_at, int64_t now, int64_t *count, struct fb_err *err);

	/* As the fb_store_cred_* functions; new_id and now as in user_upsert. */
	enum fb_status (*cred_create)(struct fb_store *st, struct fb_store_user *u,
	    const struct fb_store_cred *c, const char *new_id, int64_t now, struct fb_err *err);
	enum fb_status (*cred_get)(struct fb_store *st, const char *user_id,
	    struct fb_store_cred *out, struct fb_err *err);
	enum fb_status (*cred_password_set)(struct fb_store *st, const char *user_id,
	    const char *hash, struct fb_err *err);
	enum fb_status (*cred_totp_set)(struct fb_store *st, const char *user_id,
	    const char *secret, int64_t last_step, struct fb_err *err);
	enum fb_status (*cred_totp_accept)(struct fb_store *st, const char *user_id,
	    int64_t step, struct fb_err *err);
	enum fb_status (*cred_login_set)(struct fb_store *st, const char *user_id, int64_t when,
	    struct fb_err *err);
	enum fb_status (*cred_sessions_revoke)(struct fb_store *st, const char *user_id,
	    struct fb_err *err);
	enum fb_status (*cred_count)(struct fb_store *st, size_t *n, struct fb_err *err);

	/* As the fb_store_recovery_* functions. */
	enum fb_status (*recovery_replace)(struct fb_store *st, const char *user_id,
	    const char *const *hashes, size_t n, int64_t now, struct fb_err *err);
	enum fb_status (*recovery_use)(struct fb_store *st, const char *user_id,
	    const char *hash, int64_t now, struct fb_err *err);
	enum fb_status (*recovery_count)(struct fb_store *st, const char *user_id, size_t *n,
	    struct fb_err *err);

	/* As the fb_store_token_* functions; created already set by store.c. */
	enum fb_status (*token_add)(struct fb_store *st, const struct fb_store_token *t,
	    struct fb_err *err);
	enum fb_status (*token_get)(struct fb_store *st, const char *id,
	    struct fb_store_token *out, struct fb_err *err);
	enum fb_status (*token_list)(struct fb_store *st, const char *user_id,
	    int (*fn)(const struct fb_store_token *t, void *arg), void *arg, struct fb_err *err);
	enum fb_status (*token_revoke)(struct fb_store *st, const char *id, int64_t now,
	    struct fb_err *err);

	/* As the fb_store_nameid_* functions; *nameid new. */
	enum fb_status (*nameid_get)(struct fb_store *st, const char *user_id, const char *sp,
	    char **nameid, struct fb_err *err);
	enum fb_status (*nameid_ensure)(struct fb_store *st, const char *user_id, const char *sp,
	    const char *candidate, int64_t now, char **nameid, struct fb_err *err);
	/*
	 * As fb_store_signon_get (now in ms, for the kv entry; out zeroed, its
	 * groups array allocated by the backend). NULL: store.c makes the three
	 * calls (groups_list, nameid_get, kv_get) itself.
	 */
	enum fb_status (*signon_get)(struct fb_store *st, const char *user_id, const char *sp,
	    const char *ns, const char *key, int64_t now, struct fb_store_signon *out,
	    struct fb_err *err);

	/* As the fb_store_audit_* functions. */
	enum fb_status (*audit_add)(struct fb_store *st, int64_t now, const char *actor,
	    const char *event, const char *detail, struct fb_err *err);
	enum fb_status (*audit_list)(struct fb_store *st, size_t limit,
	    int (*fn)(const struct fb_store_audit *a, void *arg), void *arg, struct fb_err *err);

	/* As the fb_store_link_* functions (schema version 7). */
	enum fb_status (*link_find)(struct fb_store *st, const char *upstream, const char *issuer,
	    const char *subject, char **user_id, struct fb_err *err);
	enum fb_status (*link_list)(struct fb_store *st, const char *user_id,
	    int (*fn)(const struct fb_store_link *l, void *arg), void *arg, struct fb_err *err);
	/* The distinct group names of user_id (from upstream, or any when NULL), by name. */
	enum fb_status (*groups_list)(struct fb_store *st, const char *user_id,
	    const char *upstream, int (*fn)(const char *name, void *arg), void *arg,
	    struct fb_err *err);
	/* As fb_store_upstream_signin; new_id and now as in user_upsert. */
	enum fb_status (*upstream_signin)(struct fb_store *st, struct fb_store_user *u,
	    const struct fb_store_upstream_signin *s, const char *new_id, int64_t now,
	    struct fb_err *err);
	/* As fb_store_user_find_email; *count always set. */
	enum fb_status (*user_find_email)(struct fb_store *st, const char *email,
	    struct fb_store_user *out, size_t *count, struct fb_err *err);

	/*
	 * Export and import, generic over the tables of fb_store_tables():
	 * the backend builds its statements from t->name, t->cols and
	 * t->order (names from that fixed list, never from input).
	 * rows_each: fn on every row of tables[0..n), in one read
	 * transaction (a snapshot), as fb_store_rows_each.
	 * rows_load: in one transaction, FB_ERR_INVALID when a table of
	 * empty[0..nempty) holds a row; then inserts each row next yields
	 * (already checked by store.c) until *t is NULL, counting them in *n,
	 * and commits. A constraint violation is FB_ERR_INVALID naming the
	 * table; any failure rolls everything back. *at holds the row last
	 * yielded (next keeps it); a backend that finds a fault later sets
	 * it to that row, or its table to NULL when no row is to blame.
	 */
	enum fb_status (*rows_each)(struct fb_store *st, const struct fb_store_table *const *tables,
	    size_t n, fb_store_row_fn fn, void *arg, struct fb_err *err);
	enum fb_status (*rows_load)(struct fb_store *st, const struct fb_store_table *const *empty,
	    size_t nempty, fb_store_row_next_fn next, void *arg, size_t *n,
	    struct fb_store_row_at *at, struct fb_err *err);

	/*
	 * As the fb_store_scim_* functions (schema version 8); now and the
	 * lease's end in seconds. The backend logs every change of a user or
	 * an upstream group membership in the change's own transaction (SQLite:
	 * triggers). scim_claim must never lease one entry to two callers at
	 * once (PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, then the lease
	 * UPDATE, in one transaction).
	 */
	enum fb_status (*scim_fill)(struct fb_store *st, const char *target, int64_t now,
	    size_t *n, struct fb_err *err);
	enum fb_status (*scim_add)(struct fb_store *st, const char *target, const char *kind,
	    const char *object, int64_t now, struct fb_err *err);
	enum fb_status (*scim_claim)(struct fb_store *st, const char *target, const char *owner,
	    int64_t now, int64_t lease_until, size_t limit, struct fb_store_scim_item **items,
	    size_t *n, struct fb_err *err);
	enum fb_status (*scim_done)(struct fb_store *st, const char *target, const char *kind,
	    const char *object, const char *owner, int64_t seq, struct fb_err *err);
	enum fb_status (*scim_release)(struct fb_store *st, const char *target, const char *kind,
	    const char *object, const char *owner, struct fb_err *err);
	enum fb_status (*scim_fail)(struct fb_store *st, const char *target, const char *kind,
	    const char *object, const char *owner, int64_t retry_at, const char *error,
	    struct fb_err *err);
	enum fb_status (*scim_outbox_list)(struct fb_store *st, const char *target,
	    int (*fn)(const struct fb_store_scim_item *it, void *arg), void *arg,
	    struct fb_err *err);
	enum fb_status (*scim_depth)(struct fb_store *st, const char *target, size_t *depth,
	    size_t *failing, struct fb_err *err);
	enum fb_status (*scim_remote_get)(struct fb_store *st, const char *target,
	    const char *kind, const char *object, struct fb_store_scim_remote *out,
	    struct fb_err *err);
	enum fb_status (*scim_remote_put)(struct fb_store *st, const struct fb_store_scim_remote *rm,
	    int64_t now, struct fb_err *err);
	enum fb_status (*scim_remote_delete)(struct fb_store *st, const char *target,
	    const char *kind, const char *object, struct fb_err *err);
	enum fb_status (*scim_remote_list)(struct fb_store *st, const char *target,
	    const char *kind, int (*fn)(const struct fb_store_scim_remote *rm, void *arg),
	    void *arg, struct fb_err *err);
	enum fb_status (*scim_member_put)(struct fb_store *st, const char *target,
	    const char *group, const char *user_id, int present, struct fb_err *err);
	/* Optional (NULL: scim_member_put for each): n members in one transaction. */
	enum fb_status (*scim_members_put)(struct fb_store *st, const char *target,
	    const char *group, const char *const *user_ids, size_t n, int present,
	    struct fb_err *err);
	enum fb_status (*scim_member_list)(struct fb_store *st, const char *target,
	    const char *group, int (*fn)(const char *user_id, void *arg), void *arg,
	    struct fb_err *err);
	enum fb_status (*scim_report_put)(struct fb_store *st, const char *target, int64_t now,
	    int ok, const char *report, struct fb_err *err);
	enum fb_status (*scim_report_get)(struct fb_store *st, const char *target, int64_t *at,
	    int *ok, char **report, struct fb_err *err);
	/*
	 * As the fb_store_oidc_* functions (schema version 9); now in seconds.
	 * oidc_grant_use reads, marks used (or revokes the family on a second
	 * use) in one transaction.
	 */
	enum fb_status (*oidc_grant_add)(struct fb_store *st, const struct fb_store_oidc_grant *g,
	    struct fb_err *err);
	enum fb_status (*oidc_grant_use)(struct fb_store *st, const char *hash,
	    enum fb_store_oidc_kind kind, int64_t now, struct fb_store_oidc_grant *out,
	    struct fb_err *err);
	enum fb_status (*oidc_family_revoke)(struct fb_store *st, const char *family, int64_t now,
	    struct fb_err *err);
	enum fb_status (*oidc_jti_revoke)(struct fb_store *st, const char *jti, int64_t expires_at,
	    struct fb_err *err);
	enum fb_status (*oidc_token_state)(struct fb_store *st, const char *jti, const char *family,
	    int64_t now, int *revoked, struct fb_err *err);
	/* As the fb_store_oidc_client_* functions (schema version 10); now in seconds. */
	enum fb_status (*oidc_client_add)(struct fb_store *st,
	    const struct fb_store_oidc_client *c, int64_t now, struct fb_err *err);
	enum fb_status (*oidc_client_get)(struct fb_store *st, const char *id,
	    struct fb_store_oidc_client *out, struct fb_err *err);
	enum fb_status (*oidc_client_list)(struct fb_store *st,
	    int (*fn)(const struct fb_store_oidc_client *c, void *arg), void *arg,
	    struct fb_err *err);
	enum fb_status (*oidc_client_remove)(struct fb_store *st, const char *id, int64_t now,
	    struct fb_err *err);
	/* As fb_store_group_members. */
	enum fb_status (*group_members)(struct fb_store *st, const char *group,
	    int (*fn)(const struct fb_store_user *u, void *arg), void *arg, struct fb_err *err);
};

/* An open store. Members are private to store/. */
struct fb_store {
	const struct fb_store_ops *ops;
	void *be;    /* the backend's state */
	int version; /* the schema version in use */
	pid_t pid;   /* the process that opened it */
	/*
	 * Set before ops->open by fb_store_open_unmigrated: the backend reads
	 * the schema version into st->version and changes nothing (no
	 * migration, no file created, no journal mode switched).
	 */
	int unmigrated;
};

/*
 * The statement of t that op ("select": every column in t->order; "insert":
 * every column; "copy": PostgreSQL's COPY of every column from the client;
 * "any": one row if t holds one) needs, new (caller frees);
 * built from the fixed table list, never from input. pg: PostgreSQL's $n
 * placeholders and text keys ordered COLLATE "C" (SQLite's ?n and BINARY
 * otherwise), so both backends export rows in the same order.
 */
char *fb_store_table_sql(const struct fb_store_table *t, const char *op, int pg);

/*
 * For a backend's upstream_signin, inside its transaction: *same = 1 when
 * user uid's stored groups from in->upstream are exactly in->groups (as a
 * set), so an unchanged sign-in rewrites nothing and logs no SCIM change.
 */
enum fb_status fb_store_signin_groups_same(struct fb_store *st, const char *uid,
    const struct fb_store_upstream_signin *in, int *same, struct fb_err *err);

extern const struct fb_store_ops fb_store_sqlite_ops;
extern const struct fb_store_ops fb_store_postgres_ops;

/*
 * Connects to conf's PostgreSQL store without changing anything: the DSN's
 * TLS rule, the credentials, the server's version and the schema version
 * (in *version; newer than this binary is FB_ERR_CONFIG).
 */
enum fb_status fb_store_postgres_check(const struct fb_conf *conf, int *version,
    struct fb_err *err);
/*
 * What st's calls cost so far (PostgreSQL only; zeros otherwise): calls, the
 * total and the longest time a call blocked the caller, microseconds.
 */
void fb_store_postgres_stats(struct fb_store *st, int64_t *calls, int64_t *total_us,
    int64_t *max_us);

#ifdef FB_UNIT_TESTS
/*
 * The SQLite migrations, one SQL script per version (index 0 brings
 * version 0 to 1). Tests swap in their own list to exercise failures.
 */
extern const char *const *fb_store_sqlite_migrations;
extern size_t fb_store_sqlite_nmigrations;
/* The same for PostgreSQL. */
extern const char *const *fb_store_postgres_migrations;
extern size_t fb_store_postgres_nmigrations;
/*
 * Called before each statement of a PostgreSQL transaction after its BEGIN
 * (n counts them from 0) with the server process id of the connection, so
 * tests can act between statements (terminate it, write a conflicting row).
 */
extern void (*fb_store_postgres_hook)(const char *what, int n, int backend_pid);
#endif

#endif
