/* SPDX-License-Identifier: Apache-2.0 */
/* store/store.c: the public store API; checks arguments once and dispatches to the backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/internal.h"
#include "store/store.h"

/* Length of the random user ids (bytes before base64url). */
#define USER_ID_BYTES 16

/* FB_OK when the handle belongs to this process (SQLite handles must not cross fork). */
static enum fb_status
check_owner(const struct fb_store *st, const char *what, struct fb_err *err)
{
	if (st->pid != getpid())
		return fb_err_set(err, FB_ERR_INTERNAL,
		    "%s: store handle opened by process %ld used in process %ld; "
		    "open one per process",
		    what, (long)st->pid, (long)getpid());
	if (st->unmigrated && st->version != fb_store_schema_latest())
		return fb_err_set(err, FB_ERR_CONFIG,
		    "%s: the store is at schema version %d, this fedbroker uses %d: run "
		    "'fedbroker store migrate'",
		    what, st->version, fb_store_schema_latest());
	return FB_OK;
}

/*
 * Checks a namespace, key, session id, user id or username: 1..max bytes.
 * label names it in the message; the value itself is never printed (keys
 * can be one-time codes).
 */
static enum fb_status
check_name(const char *s, size_t max, const char *what, const char *label, struct fb_err *err)
{
	size_t n;

	if (s == NULL || s[0] == '\0')
		return fb_err_set(err, FB_ERR_INVALID, "%s: %s is empty", what, label);
	n = strnlen(s, max + 1);
	if (n > max)
		return fb_err_set(err, FB_ERR_INVALID, "%s: %s is longer than %zu bytes", what,
		    label, max);
	return FB_OK;
}

static enum fb_status
check_kv(const struct fb_store *st, const char *ns, const char *key, const char *what,
    struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, what, err)) != FB_OK)
		return r;
	if ((r = check_name(ns, FB_STORE_KEY_MAX, what, "namespace", err)) != FB_OK)
		return r;
	return check_name(key, FB_STORE_KEY_MAX, what, "key", err);
}

static enum fb_status
check_value(const void *val, size_t len, const char *what, struct fb_err *err)
{
	if (val == NULL && len != 0)
		return fb_err_set(err, FB_ERR_INVALID, "%s: value is NULL with length %zu", what,
		    len);
	if (len > FB_STORE_VALUE_MAX)
		return fb_err_set(err, FB_ERR_INVALID,
		    "%s: value of %zu bytes is over the %d byte limit", what, len,
		    FB_STORE_VALUE_MAX);
	return FB_OK;
}

/* Optional text: NULL or at most max bytes of valid UTF-8. */
static enum fb_status
check_text(const char *s, size_t max, const char *what, const char *label, struct fb_err *err)
{
	size_t n;

	if (s == NULL)
		return FB_OK;
	n = strnlen(s, max + 1);
	if (n > max)
		return fb_err_set(err, FB_ERR_INVALID, "%s: %s is longer than %zu bytes", what,
		    label, max);
	if (fb_utf8_check(s, n) == 0)
		return fb_err_set(err, FB_ERR_INVALID, "%s: %s is not valid UTF-8", what, label);
	return FB_OK;
}

/* How store_open treats pending migrations. */
enum open_mode {
	OPEN_CONF,	 /* as store.migrate says */
	OPEN_UNMIGRATED, /* none applied (fb_store_open_unmigrated) */
	OPEN_MIGRATE,	 /* applied whatever store.migrate says (fb_store_open_migrate) */
};

/* Opens conf's store as mode says. */
static enum fb_status
store_open(const struct fb_conf *conf, enum open_mode mode, struct fb_store **out,
    struct fb_err *err)
{
	const struct fb_store_ops *ops = NULL;
	struct fb_store *st = NULL;
	enum fb_status r = FB_ERR_INTERNAL;

	*out = NULL;
	if (mode == OPEN_CONF && conf->store_migrate == FB_STORE_MIGRATE_MANUAL) {
		struct fb_store *probe = NULL;
		int v;

		/*
		 * Only fedbroker store migrate migrates an existing store. A store
		 * that cannot be probed (not there yet) is left to the ordinary
		 * open, which creates a new one or says what is wrong.
		 */
		if (store_open(conf, OPEN_UNMIGRATED, &probe, NULL) == FB_OK) {
			v = probe->version;
			fb_store_close(probe);
			if (v != 0 && v < fb_store_schema_latest())
				return fb_err_set(err, FB_ERR_CONFIG,
				    "store: schema version %d, this fedbroker uses %d, and "
				    "store.migrate is manual: run 'fedbroker store migrate' first",
				    v, fb_store_schema_latest());
		}
	}
	switch (conf->store_driver) {
	case FB_STORE_SQLITE:
		ops = &fb_store_sqlite_ops;
		break;
	case FB_STORE_POSTGRES:
		ops = &fb_store_postgres_ops;
		break;
	default:
		r = fb_err_set(err, FB_ERR_CONFIG, "store.driver: unknown driver %d",
		    (int)conf->store_driver);
		goto out;
	}
	st = fb_xcalloc(1, sizeof(*st));
	st->ops = ops;
	st->pid = getpid();
	st->unmigrated = mode == OPEN_UNMIGRATED;
	if ((r = ops->open(st, conf, err)) != FB_OK)
		goto out;
	*out = st;
	st = NULL; /* transferred */
	r = FB_OK;
out:
	free(st); /* the backend left st->be NULL on failure */
	return r;
}

enum fb_status
fb_store_open(const struct fb_conf *conf, struct fb_store **out, struct fb_err *err)
{
	return store_open(conf, OPEN_CONF, out, err);
}

enum fb_status
fb_store_open_unmigrated(const struct fb_conf *conf, struct fb_store **out, struct fb_err *err)
{
	return store_open(conf, OPEN_UNMIGRATED, out, err);
}

enum fb_status
fb_store_open_migrate(const struct fb_conf *conf, struct fb_store **out, struct fb_err *err)
{
	return store_open(conf, OPEN_MIGRATE, out, err);
}

enum fb_status
fb_store_check(const struct fb_conf *conf, int *version, struct fb_err *err)
{
	int v = -1;
	enum fb_status r = FB_OK;

	if (conf->store_driver == FB_STORE_POSTGRES)
		r = fb_store_postgres_check(conf, &v, err);
	if (version != NULL)
		*version = v;
	return r;
}

char *
fb_store_path(const struct fb_conf *conf)
{
	if (conf->store_driver != FB_STORE_SQLITE)
		return NULL;
	if (conf->store_path != NULL && conf->store_path[0] != '\0')
		return fb_xstrdup(conf->store_path);
	if (conf->state_dir != NULL && conf->state_dir[0] != '\0')
		return fb_xasprintf("%s/fedbroker.db", conf->state_dir);
	return NULL;
}

void
fb_store_close(struct fb_store *st)
{
	if (st == NULL)
		return;
	/* In a forked child the backend's handle belongs to the parent: leave it. */
	if (st->be != NULL && st->pid == getpid())
		st->ops->close(st);
	free(st);
}

enum fb_status
fb_store_ping(struct fb_store *st, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, "ping", err)) != FB_OK)
		return r;
	return st->ops->ping(st, err);
}

int
fb_store_schema_version(struct fb_store *st)
{
	return st->version;
}

int
fb_store_schema_latest(void)
{
	/* SQLite is the reference numbering; other backends follow it. */
	return fb_store_sqlite_ops.schema_latest();
}

const char *
fb_store_driver_name(const struct fb_store *st)
{
	return st->ops->name;
}

/* Seconds since the epoch in milliseconds, saturated (no overflow for a far "never"). */
static int64_t
ms_of(int64_t s)
{
	if (s > INT64_MAX / 1000)
		return INT64_MAX;
	if (s < INT64_MIN / 1000)
		return INT64_MIN;
	return s * 1000;
}

enum fb_status
fb_store_kv_put_ms(struct fb_store *st, const char *ns, const char *key, const void *val,
    size_t len, int64_t expires_at_ms, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_kv(st, ns, key, "kv_put", err)) != FB_OK ||
	    (r = check_value(val, len, "kv_put", err)) != FB_OK)
		return r;
	return st->ops->kv_put(st, ns, key, val, len, expires_at_ms, err);
}

enum fb_status
fb_store_kv_put(struct fb_store *st, const char *ns, const char *key, const void *val,
    size_t len, int64_t expires_at, struct fb_err *err)
{
	return fb_store_kv_put_ms(st, ns, key, val, len, ms_of(expires_at), err);
}

enum fb_status
fb_store_kv_add(struct fb_store *st, const char *ns, const char *key, const void *val,
    size_t len, int64_t expires_at, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_kv(st, ns, key, "kv_add", err)) != FB_OK ||
	    (r = check_value(val, len, "kv_add", err)) != FB_OK)
		return r;
	return st->ops->kv_add(st, ns, key, val, len, ms_of(expires_at), fb_time_now_ms(), err);
}

enum fb_status
fb_store_kv_get(struct fb_store *st, const char *ns, const char *key, unsigned char **val,
    size_t *len, struct fb_err *err)
{
	enum fb_status r;

	*val = NULL;
	*len = 0;
	if ((r = check_kv(st, ns, key, "kv_get", err)) != FB_OK)
		return r;
	return st->ops->kv_get(st, ns, key, fb_time_now_ms(), val, len, err);
}

enum fb_status
fb_store_kv_take(struct fb_store *st, const char *ns, const char *key, unsigned char **val,
    size_t *len, struct fb_err *err)
{
	enum fb_status r;

	*val = NULL;
	*len = 0;
	if ((r = check_kv(st, ns, key, "kv_take", err)) != FB_OK)
		return r;
	return st->ops->kv_take(st, ns, key, fb_time_now_ms(), val, len, err);
}

enum fb_status
fb_store_kv_delete(struct fb_store *st, const char *ns, const char *key, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_kv(st, ns, key, "kv_delete", err)) != FB_OK)
		return r;
	return st->ops->kv_delete(st, ns, key, err);
}

enum fb_status
fb_store_kv_purge(struct fb_store *st, int64_t now, size_t *n, struct fb_err *err)
{
	size_t count = 0;
	enum fb_status r;

	if (n != NULL)
		*n = 0;
	if ((r = check_owner(st, "purge", err)) != FB_OK)
		return r;
	if ((r = st->ops->purge(st, now, &count, err)) != FB_OK)
		return r;
	if (n != NULL)
		*n = count;
	return FB_OK;
}

static enum fb_status
check_user_id(struct fb_store *st, const char *user_id, const char *what, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, what, err)) != FB_OK)
		return r;
	return check_name(user_id, FB_STORE_KEY_MAX, what, "user id", err);
}

enum fb_status
fb_store_session_revoke(struct fb_store *st, const char *sid, int64_t expires_at,
    struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, "session_revoke", err)) != FB_OK ||
	    (r = check_name(sid, FB_STORE_KEY_MAX, "session_revoke", "session id", err)) != FB_OK)
		return r;
	return st->ops->session_revoke(st, sid, expires_at, err);
}

enum fb_status
fb_store_session_state(struct fb_store *st, const char *sid, const char *user_id, int *revoked,
    int64_t *gen, struct fb_err *err)
{
	enum fb_status r;

	*revoked = 0;
	*gen = -1;
	if ((r = check_name(sid, FB_STORE_KEY_MAX, "session_state", "session id", err)) != FB_OK ||
	    (r = check_user_id(st, user_id, "session_state", err)) != FB_OK)
		return r;
	return st->ops->session_state(st, sid, user_id, fb_time_now(), revoked, gen, err);
}

static enum fb_status check_signon_args(struct fb_store *st, const char *user_id, const char *sp,
    const char *ns, const char *key, const char *what, struct fb_err *err);
static enum fb_status signon_calls(struct fb_store *st, const char *user_id, const char *sp,
    const char *ns, const char *key, struct fb_store_signon *out, struct fb_err *err);

enum fb_status
fb_store_session_user(struct fb_store *st, const char *sid, const char *user_id, int *revoked,
    int64_t *gen, struct fb_store_user *user, const struct fb_store_signon_want *want,
    struct fb_store_signon *signon, struct fb_err *err)
{
	enum fb_status r;

	*revoked = 0;
	*gen = -1;
	memset(user, 0, sizeof(*user));
	if (signon != NULL)
		memset(signon, 0, sizeof(*signon));
	if ((r = check_name(sid, FB_STORE_KEY_MAX, "session_user", "session id", err)) != FB_OK ||
	    (r = check_user_id(st, user_id, "session_user", err)) != FB_OK ||
	    (want != NULL && (r = check_signon_args(st, user_id, want->sp, want->ns, want->key,
	                          "session_user", err)) != FB_OK))
		return r;
	if (st->ops->session_user != NULL) {
		r = st->ops->session_user(st, sid, user_id, fb_time_now(), revoked, gen, user, want,
		    fb_time_now_ms(), signon, err);
	} else if ((r = st->ops->session_state(st, sid, user_id, fb_time_now(), revoked, gen,
	                err)) == FB_OK &&
	           (r = st->ops->user_get_by_id(st, user_id, user, err)) == FB_OK && want != NULL) {
		r = signon_calls(st, user_id, want->sp, want->ns, want->key, signon, err);
	}
	if (r != FB_OK) {
		fb_store_user_cleanup(user);
		fb_store_signon_cleanup(signon);
	}
	return r;
}

/*
 * Checks the user u that op ("user_upsert") writes; what (at least
 * FB_STORE_KEY_MAX + 32 bytes) then names the user for later messages.
 */
static enum fb_status
check_user(const struct fb_store *st, const struct fb_store_user *u, const char *op, char *what,
    size_t whatlen, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, op, err)) != FB_OK)
		return r;
	if ((r = check_name(u->username, FB_STORE_KEY_MAX, op, "username", err)) != FB_OK ||
	    (r = check_text(u->username, FB_STORE_KEY_MAX, op, "username", err)) != FB_OK)
		return r;
	/* From here on messages name the user. */
	snprintf(what, whatlen, "%s: user %s", op, u->username);
	if (u->id != NULL && (r = check_name(u->id, FB_STORE_KEY_MAX, what, "id", err)) != FB_OK)
		return r;
	if ((r = check_name(u->source, FB_STORE_TEXT_MAX, what, "source", err)) != FB_OK ||
	    (r = check_text(u->source, FB_STORE_TEXT_MAX, what, "source", err)) != FB_OK ||
	    (r = check_text(u->name, FB_STORE_TEXT_MAX, what, "name", err)) != FB_OK)
		return r;
	return check_text(u->email, FB_STORE_TEXT_MAX, what, "email", err);
}

enum fb_status
fb_store_user_upsert(struct fb_store *st, struct fb_store_user *u, struct fb_err *err)
{
	char what[FB_STORE_KEY_MAX + 32];
	char *new_id = NULL;
	enum fb_status r = FB_ERR_INTERNAL;

	if ((r = check_user(st, u, "user_upsert", what, sizeof(what), err)) != FB_OK)
		goto out;
	if (u->id == NULL)
		new_id = fb_rand_token(USER_ID_BYTES);
	r = st->ops->user_upsert(st, u, new_id, fb_time_now(), err);
out:
	free(new_id);
	return r;
}

enum fb_status
fb_store_user_get(struct fb_store *st, const char *username, struct fb_store_user *out,
    struct fb_err *err)
{
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	if ((r = check_owner(st, "user_get", err)) != FB_OK ||
	    (r = check_name(username, FB_STORE_KEY_MAX, "user_get", "username", err)) != FB_OK)
		return r;
	return st->ops->user_get(st, username, out, err);
}

enum fb_status
fb_store_user_list(struct fb_store *st, int (*fn)(const struct fb_store_user *u, void *arg),
    void *arg, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, "user_list", err)) != FB_OK)
		return r;
	return st->ops->user_list(st, fn, arg, err);
}

enum fb_status
fb_store_user_delete(struct fb_store *st, const char *username, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, "user_delete", err)) != FB_OK ||
	    (r = check_name(username, FB_STORE_KEY_MAX, "user_delete", "username", err)) != FB_OK)
		return r;
	return st->ops->user_delete(st, username, err);
}

void
fb_store_user_cleanup(struct fb_store_user *u)
{
	if (u == NULL)
		return;
	free(u->id);
	free(u->username);
	free(u->name);
	free(u->email);
	free(u->source);
	memset(u, 0, sizeof(*u));
}

enum fb_status
fb_store_user_get_by_id(struct fb_store *st, const char *id, struct fb_store_user *out,
    struct fb_err *err)
{
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	if ((r = check_owner(st, "user_get_by_id", err)) != FB_OK ||
	    (r = check_name(id, FB_STORE_KEY_MAX, "user_get_by_id", "user id", err)) != FB_OK)
		return r;
	return st->ops->user_get_by_id(st, id, out, err);
}

/* ---- counters ------------------------------------------------------------ */

enum fb_status
fb_store_kv_incr_ms(struct fb_store *st, const char *ns, const char *key, int64_t expires_at_ms,
    int64_t *count, struct fb_err *err)
{
	enum fb_status r;

	*count = 0;
	if ((r = check_kv(st, ns, key, "kv_incr", err)) != FB_OK)
		return r;
	return st->ops->kv_incr(st, ns, key, expires_at_ms, fb_time_now_ms(), count, err);
}

enum fb_status
fb_store_kv_incr(struct fb_store *st, const char *ns, const char *key, int64_t expires_at,
    int64_t *count, struct fb_err *err)
{
	return fb_store_kv_incr_ms(st, ns, key, ms_of(expires_at), count, err);
}

/* ---- local account credentials ---------------------------------------- */

/* A stored hash or sealed secret: NULL, or 1..FB_STORE_VALUE_MAX bytes of text. */
static enum fb_status
check_blob_text(const char *s, const char *what, const char *label, struct fb_err *err)
{
	if (s == NULL)
		return FB_OK;
	return check_name(s, FB_STORE_VALUE_MAX, what, label, err);
}

enum fb_status
fb_store_cred_create(struct fb_store *st, struct fb_store_user *u, const struct fb_store_cred *c,
    struct fb_err *err)
{
	char what[FB_STORE_KEY_MAX + 32];
	char *new_id = NULL;
	enum fb_status r = FB_ERR_INTERNAL;

	if ((r = check_user(st, u, "cred_create", what, sizeof(what), err)) != FB_OK ||
	    (r = check_blob_text(c->password_hash, what, "password hash", err)) != FB_OK ||
	    (r = check_blob_text(c->totp_secret, what, "TOTP secret", err)) != FB_OK)
		goto out;
	if (c->type != FB_ACCOUNT_INTERNAL && c->type != FB_ACCOUNT_SERVICE) {
		r = fb_err_set(err, FB_ERR_INVALID, "%s: unknown account type %d", what,
		    (int)c->type);
		goto out;
	}
	if (u->id == NULL)
		new_id = fb_rand_token(USER_ID_BYTES);
	r = st->ops->cred_create(st, u, c, new_id, fb_time_now(), err);
out:
	free(new_id);
	return r;
}

enum fb_status
fb_store_cred_get(struct fb_store *st, const char *user_id, struct fb_store_cred *out,
    struct fb_err *err)
{
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	if ((r = check_user_id(st, user_id, "cred_get", err)) != FB_OK)
		return r;
	return st->ops->cred_get(st, user_id, out, err);
}

enum fb_status
fb_store_cred_password_set(struct fb_store *st, const char *user_id, const char *password_hash,
    struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_user_id(st, user_id, "cred_password_set", err)) != FB_OK ||
	    (r = check_blob_text(password_hash, "cred_password_set", "password hash", err)) !=
		FB_OK)
		return r;
	return st->ops->cred_password_set(st, user_id, password_hash, err);
}

enum fb_status
fb_store_cred_totp_set(struct fb_store *st, const char *user_id, const char *totp_secret,
    int64_t last_step, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_user_id(st, user_id, "cred_totp_set", err)) != FB_OK ||
	    (r = check_blob_text(totp_secret, "cred_totp_set", "TOTP secret", err)) != FB_OK)
		return r;
	return st->ops->cred_totp_set(st, user_id, totp_secret, last_step, err);
}

enum fb_status
fb_store_cred_totp_accept(struct fb_store *st, const char *user_id, int64_t step,
    struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_user_id(st, user_id, "cred_totp_accept", err)) != FB_OK)
		return r;
	return st->ops->cred_totp_accept(st, user_id, step, err);
}

enum fb_status
fb_store_cred_login_set(struct fb_store *st, const char *user_id, int64_t when,
    struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_user_id(st, user_id, "cred_login_set", err)) != FB_OK)
		return r;
	return st->ops->cred_login_set(st, user_id, when, err);
}

enum fb_status
fb_store_cred_sessions_revoke(struct fb_store *st, const char *user_id, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_user_id(st, user_id, "cred_sessions_revoke", err)) != FB_OK)
		return r;
	return st->ops->cred_sessions_revoke(st, user_id, err);
}

enum fb_status
fb_store_cred_count(struct fb_store *st, size_t *n, struct fb_err *err)
{
	enum fb_status r;

	*n = 0;
	if ((r = check_owner(st, "cred_count", err)) != FB_OK)
		return r;
	return st->ops->cred_count(st, n, err);
}

void
fb_store_cred_cleanup(struct fb_store_cred *c)
{
	if (c == NULL)
		return;
	free(c->user_id);
	fb_secret_free(c->password_hash);
	fb_secret_free(c->totp_secret);
	memset(c, 0, sizeof(*c));
}

/* ---- recovery codes -------------------------------------------------------- */

/* At most this many codes per user: a bound on one replace transaction. */
#define RECOVERY_CODES_MAX 100

enum fb_status
fb_store_recovery_codes_replace(struct fb_store *st, const char *user_id,
    const char *const *hashes, size_t n, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_user_id(st, user_id, "recovery_codes_replace", err)) != FB_OK)
		return r;
	if (n > RECOVERY_CODES_MAX)
		return fb_err_set(err, FB_ERR_INVALID,
		    "recovery_codes_replace: %zu codes is over the limit of %d", n,
		    RECOVERY_CODES_MAX);
	for (size_t i = 0; i < n; i++)
		if ((r = check_name(hashes[i], FB_STORE_KEY_MAX, "recovery_codes_replace",
			 "code hash", err)) != FB_OK)
			return r;
	return st->ops->recovery_replace(st, user_id, hashes, n, fb_time_now(), err);
}

enum fb_status
fb_store_recovery_code_use(struct fb_store *st, const char *user_id, const char *hash,
    struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_user_id(st, user_id, "recovery_code_use", err)) != FB_OK ||
	    (r = check_name(hash, FB_STORE_KEY_MAX, "recovery_code_use", "code hash", err)) !=
		FB_OK)
		return r;
	return st->ops->recovery_use(st, user_id, hash, fb_time_now(), err);
}

enum fb_status
fb_store_recovery_codes_count(struct fb_store *st, const char *user_id, size_t *n,
    struct fb_err *err)
{
	enum fb_status r;

	*n = 0;
	if ((r = check_user_id(st, user_id, "recovery_codes_count", err)) != FB_OK)
		return r;
	return st->ops->recovery_count(st, user_id, n, err);
}

/* ---- API tokens ------------------------------------------------------------ */

enum fb_status
fb_store_token_add(struct fb_store *st, const struct fb_store_token *t, struct fb_err *err)
{
	struct fb_store_token copy;
	enum fb_status r;

	if ((r = check_owner(st, "token_add", err)) != FB_OK ||
	    (r = check_name(t->id, FB_STORE_KEY_MAX, "token_add", "token id", err)) != FB_OK ||
	    (r = check_name(t->user_id, FB_STORE_KEY_MAX, "token_add", "user id", err)) !=
		FB_OK ||
	    (r = check_name(t->secret_hash, FB_STORE_KEY_MAX, "token_add", "secret hash", err)) !=
		FB_OK ||
	    (r = check_text(t->description, FB_STORE_TEXT_MAX, "token_add", "description",
		 err)) != FB_OK)
		return r;
	copy = *t;
	if (copy.created == 0)
		copy.created = fb_time_now();
	return st->ops->token_add(st, &copy, err);
}

enum fb_status
fb_store_token_get(struct fb_store *st, const char *id, struct fb_store_token *out,
    struct fb_err *err)
{
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	if ((r = check_owner(st, "token_get", err)) != FB_OK ||
	    (r = check_name(id, FB_STORE_KEY_MAX, "token_get", "token id", err)) != FB_OK)
		return r;
	return st->ops->token_get(st, id, out, err);
}

enum fb_status
fb_store_token_list(struct fb_store *st, const char *user_id,
    int (*fn)(const struct fb_store_token *t, void *arg), void *arg, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, "token_list", err)) != FB_OK)
		return r;
	if (user_id != NULL &&
	    (r = check_name(user_id, FB_STORE_KEY_MAX, "token_list", "user id", err)) != FB_OK)
		return r;
	return st->ops->token_list(st, user_id, fn, arg, err);
}

enum fb_status
fb_store_token_revoke(struct fb_store *st, const char *id, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, "token_revoke", err)) != FB_OK ||
	    (r = check_name(id, FB_STORE_KEY_MAX, "token_revoke", "token id", err)) != FB_OK)
		return r;
	return st->ops->token_revoke(st, id, fb_time_now(), err);
}

void
fb_store_token_cleanup(struct fb_store_token *t)
{
	if (t == NULL)
		return;
	free(t->id);
	free(t->user_id);
	free(t->username);
	free(t->secret_hash);
	free(t->description);
	memset(t, 0, sizeof(*t));
}

/* ---- persistent NameIDs ----------------------------------------------------------- */

static enum fb_status
check_nameid_args(struct fb_store *st, const char *user_id, const char *sp, const char *what,
    struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_user_id(st, user_id, what, err)) != FB_OK)
		return r;
	return check_name(sp, FB_STORE_KEY_MAX * 4, what, "service provider", err);
}

enum fb_status
fb_store_nameid_get(struct fb_store *st, const char *user_id, const char *sp, char **nameid,
    struct fb_err *err)
{
	enum fb_status r;

	*nameid = NULL;
	if ((r = check_nameid_args(st, user_id, sp, "nameid_get", err)) != FB_OK)
		return r;
	return st->ops->nameid_get(st, user_id, sp, nameid, err);
}

enum fb_status
fb_store_nameid_ensure(struct fb_store *st, const char *user_id, const char *sp,
    const char *candidate, char **nameid, struct fb_err *err)
{
	enum fb_status r;

	*nameid = NULL;
	if ((r = check_nameid_args(st, user_id, sp, "nameid_ensure", err)) != FB_OK ||
	    (r = check_name(candidate, FB_STORE_KEY_MAX, "nameid_ensure", "NameID", err)) != FB_OK)
		return r;
	return st->ops->nameid_ensure(st, user_id, sp, candidate, fb_time_now(), nameid, err);
}

enum fb_status
fb_store_audit_add(struct fb_store *st, const char *actor, const char *event, const char *detail,
    struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, "audit_add", err)) != FB_OK ||
	    (r = check_name(actor, FB_STORE_KEY_MAX, "audit_add", "actor", err)) != FB_OK ||
	    (r = check_name(event, FB_STORE_KEY_MAX, "audit_add", "event", err)) != FB_OK ||
	    (r = check_text(detail, FB_STORE_VALUE_MAX, "audit_add", "detail", err)) != FB_OK)
		return r;
	return st->ops->audit_add(st, fb_time_now(), actor, event, detail != NULL ? detail : "{}",
	    err);
}

enum fb_status
fb_store_audit_list(struct fb_store *st, size_t limit,
    int (*fn)(const struct fb_store_audit *a, void *arg), void *arg, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, "audit_list", err)) != FB_OK)
		return r;
	return st->ops->audit_list(st, limit, fn, arg, err);
}

/* ---- one-time values ------------------------------------------------------------- */

/* Namespaces of fb_store_once live apart from the other key/value entries. */
#define ONCE_PREFIX "once:"

enum fb_status
fb_store_once(struct fb_store *st, const char *ns, const char *id, int64_t expires_at_ms,
    struct fb_err *err)
{
	char full[FB_STORE_KEY_MAX + sizeof(ONCE_PREFIX)];
	enum fb_status r;

	if ((r = check_kv(st, ns, id, "once", err)) != FB_OK)
		return r;
	snprintf(full, sizeof(full), ONCE_PREFIX "%s", ns);
	r = st->ops->kv_add(st, full, id, NULL, 0, expires_at_ms, fb_time_now_ms(), err);
	if (r == FB_ERR_REPLAY)
		fb_err_set(err, FB_ERR_REPLAY, "once: %s: already used", ns);
	return r;
}

/* ---- upstream identities ----------------------------------------------------------- */

static enum fb_status
check_identity(const struct fb_store *st, const char *upstream, const char *issuer,
    const char *subject, const char *what, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, what, err)) != FB_OK ||
	    (r = check_name(upstream, FB_STORE_KEY_MAX, what, "upstream", err)) != FB_OK ||
	    (r = check_name(issuer, FB_STORE_TEXT_MAX, what, "issuer", err)) != FB_OK)
		return r;
	return check_name(subject, FB_STORE_TEXT_MAX, what, "subject", err);
}

enum fb_status
fb_store_link_find(struct fb_store *st, const char *upstream, const char *issuer,
    const char *subject, char **user_id, struct fb_err *err)
{
	enum fb_status r;

	*user_id = NULL;
	if ((r = check_identity(st, upstream, issuer, subject, "link_find", err)) != FB_OK)
		return r;
	return st->ops->link_find(st, upstream, issuer, subject, user_id, err);
}

enum fb_status
fb_store_link_list(struct fb_store *st, const char *user_id,
    int (*fn)(const struct fb_store_link *l, void *arg), void *arg, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_user_id(st, user_id, "link_list", err)) != FB_OK)
		return r;
	return st->ops->link_list(st, user_id, fn, arg, err);
}

void
fb_store_link_cleanup(struct fb_store_link *l)
{
	if (l == NULL)
		return;
	free(l->user_id);
	free(l->upstream);
	free(l->issuer);
	free(l->subject);
	memset(l, 0, sizeof(*l));
}

/* Collects names into a NULL-terminated array. */
struct name_list {
	char **v;
	size_t n, cap;
};

static int
name_add(const char *name, void *arg)
{
	struct name_list *l = arg;

	if (l->n + 1 >= l->cap) {
		l->cap = l->cap != 0 ? l->cap * 2 : 8;
		l->v = fb_xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = fb_xstrdup(name);
	l->v[l->n] = NULL;
	return 0;
}

enum fb_status
fb_store_upstream_groups_of(struct fb_store *st, const char *user_id, const char *upstream,
    char ***groups, size_t *n, struct fb_err *err)
{
	struct name_list l = {0};
	enum fb_status r;

	*groups = NULL;
	*n = 0;
	if ((r = check_user_id(st, user_id, "upstream_groups", err)) != FB_OK ||
	    (upstream != NULL &&
		(r = check_name(upstream, FB_STORE_KEY_MAX, "upstream_groups", "upstream", err)) !=
		    FB_OK))
		return r;
	r = st->ops->groups_list(st, user_id, upstream, name_add, &l, err);
	if (r != FB_OK) {
		for (size_t i = 0; i < l.n; i++)
			free(l.v[i]);
		free(l.v);
		return r;
	}
	*groups = l.v;
	*n = l.n;
	return FB_OK;
}

enum fb_status
fb_store_upstream_groups(struct fb_store *st, const char *user_id, char ***groups, size_t *n,
    struct fb_err *err)
{
	return fb_store_upstream_groups_of(st, user_id, NULL, groups, n, err);
}

void
fb_store_signon_cleanup(struct fb_store_signon *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->ngroups; i++)
		free(s->groups[i]);
	free(s->groups);
	free(s->nameid);
	if (s->kv != NULL)
		fb_secret_wipe(s->kv, s->kvlen);
	free(s->kv);
	memset(s, 0, sizeof(*s));
}

static enum fb_status
check_signon_args(struct fb_store *st, const char *user_id, const char *sp, const char *ns,
    const char *key, const char *what, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_nameid_args(st, user_id, sp, what, err)) != FB_OK)
		return r;
	return check_kv(st, ns, key, what, err);
}

/* fb_store_signon_get's reads, one call each (a backend without signon_get). */
static enum fb_status
signon_calls(struct fb_store *st, const char *user_id, const char *sp, const char *ns,
    const char *key, struct fb_store_signon *out, struct fb_err *err)
{
	enum fb_status r;

	if ((r = fb_store_upstream_groups(st, user_id, &out->groups, &out->ngroups, err)) != FB_OK)
		return r;
	r = st->ops->nameid_get(st, user_id, sp, &out->nameid, err);
	if (r == FB_ERR_NOTFOUND)
		r = FB_OK;
	if (r == FB_OK)
		r = st->ops->kv_get(st, ns, key, fb_time_now_ms(), &out->kv, &out->kvlen, err);
	return r == FB_ERR_NOTFOUND ? FB_OK : r;
}

enum fb_status
fb_store_signon_get(struct fb_store *st, const char *user_id, const char *sp, const char *ns,
    const char *key, struct fb_store_signon *out, struct fb_err *err)
{
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	if ((r = check_signon_args(st, user_id, sp, ns, key, "signon_get", err)) != FB_OK)
		return r;
	if (st->ops->signon_get != NULL)
		r = st->ops->signon_get(st, user_id, sp, ns, key, fb_time_now_ms(), out, err);
	else
		r = signon_calls(st, user_id, sp, ns, key, out, err);
	if (r != FB_OK)
		fb_store_signon_cleanup(out);
	return r;
}

/* The most groups one upstream sign-in stores. */
#define UPSTREAM_GROUPS_MAX 1000

enum fb_status
fb_store_upstream_signin(struct fb_store *st, struct fb_store_user *u,
    const struct fb_store_upstream_signin *s, struct fb_err *err)
{
	char what[FB_STORE_KEY_MAX + 32];
	char *new_id = NULL;
	enum fb_status r;

	if ((r = check_identity(st, s->upstream, s->issuer, s->subject, "upstream_signin", err)) !=
		FB_OK)
		return r;
	if (s->create) {
		if ((r = check_user(st, u, "upstream_signin", what, sizeof(what), err)) != FB_OK)
			return r;
	} else if ((r = check_user_id(st, u->id, "upstream_signin", err)) != FB_OK ||
	           (r = check_text(u->name, FB_STORE_TEXT_MAX, "upstream_signin", "name", err)) !=
	               FB_OK ||
	           (r = check_text(u->email, FB_STORE_TEXT_MAX, "upstream_signin", "email", err)) !=
	               FB_OK) {
		return r;
	}
	if (s->ngroups > UPSTREAM_GROUPS_MAX)
		return fb_err_set(err, FB_ERR_INVALID, "upstream_signin: %zu groups (at most %d)",
		    s->ngroups, UPSTREAM_GROUPS_MAX);
	for (size_t i = 0; i < s->ngroups; i++)
		if ((r = check_name(s->groups[i], FB_STORE_KEY_MAX, "upstream_signin", "group",
			 err)) != FB_OK ||
		    (r = check_text(s->groups[i], FB_STORE_KEY_MAX, "upstream_signin", "group",
			 err)) != FB_OK)
			return r;
	if (s->create && u->id == NULL)
		new_id = fb_rand_token(USER_ID_BYTES);
	r = st->ops->upstream_signin(st, u, s, new_id, fb_time_now(), err);
	free(new_id);
	return r;
}

/* Counts the stored groups, and those among the sign-in's (arg: struct groups_cmp). */
struct groups_cmp {
	const struct fb_store_upstream_signin *in;
	size_t stored, found;
};

static int
groups_cmp_each(const char *name, void *arg)
{
	struct groups_cmp *g = arg;

	g->stored++;
	for (size_t i = 0; i < g->in->ngroups; i++)
		if (strcmp(g->in->groups[i], name) == 0) {
			g->found++;
			break;
		}
	return 0;
}

enum fb_status
fb_store_signin_groups_same(struct fb_store *st, const char *uid,
    const struct fb_store_upstream_signin *in, int *same, struct fb_err *err)
{
	struct groups_cmp g = {in, 0, 0};
	size_t distinct = 0;
	enum fb_status r;

	*same = 0;
	if ((r = st->ops->groups_list(st, uid, in->upstream, groups_cmp_each, &g, err)) != FB_OK)
		return r;
	for (size_t i = 0; i < in->ngroups; i++) {
		size_t k = 0;

		while (k < i && strcmp(in->groups[k], in->groups[i]) != 0)
			k++;
		distinct += k == i;
	}
	*same = g.stored == g.found && g.found == distinct;
	return FB_OK;
}

enum fb_status
fb_store_user_find_email(struct fb_store *st, const char *email, struct fb_store_user *out,
    size_t *count, struct fb_err *err)
{
	size_t ignored;
	enum fb_status r;

	if ((r = check_owner(st, "user_find_email", err)) != FB_OK ||
	    (r = check_name(email, FB_STORE_TEXT_MAX, "user_find_email", "email", err)) != FB_OK)
		return r;
	return st->ops->user_find_email(st, email, out, count != NULL ? count : &ignored, err);
}

/* ---- whole-store export and import ---------------------------------------------- */

#define TEXT(n) {n, FB_STORE_COL_TEXT, 0}
#define TEXT_NULL(n) {n, FB_STORE_COL_TEXT, 1}
#define INT(n) {n, FB_STORE_COL_INT, 0}
#define INT_NULL(n) {n, FB_STORE_COL_INT, 1}
#define TABLE(n, cols, order, optional)                                                    \
	{n, cols, sizeof(cols) / sizeof(cols[0]), order, optional}

/*
 * The one list of what a backup holds (schema version 8). A new table or
 * column that cannot be regenerated is added here with its migration;
 * every backend builds its export and import statements from this list.
 *
 * SCIM: the remote ids (with the digest and body last pushed) and the
 * membership mirror are kept; the change log, cursors, outbox and reports
 * are not (they are work and history, not state). Importing users and
 * groups logs each of them once (the triggers), so each target's first
 * drain after a restore pushes every object once: one that the restored
 * digest shows in step is not written, the others (changed after their
 * last push, or never pushed) are, so nothing queued at export is lost.
 *
 * Session revocations are kept (until they expire, like the sealed cookies
 * they refuse): the cookie keys travel with a restore, so a signed-out
 * session's copied cookie would otherwise work again. An export without
 * them (older) imports as none.
 */
static const struct fb_store_column users_cols[] = {
	TEXT("id"), TEXT("username"), TEXT_NULL("name"), TEXT_NULL("email"), TEXT("source"),
	INT("active"), INT("created"), INT("last_seen"),
};
static const struct fb_store_column cred_cols[] = {
	TEXT("user_id"), TEXT_NULL("password_hash"), TEXT("account_type"),
	TEXT_NULL("totp_secret"), INT("totp_last_step"), INT("created"), INT("last_login"),
	INT("session_gen"),
};
static const struct fb_store_column recovery_cols[] = {
	TEXT("user_id"), TEXT("code_hash"), INT("created"), INT_NULL("used_at"),
};
static const struct fb_store_column token_cols[] = {
	TEXT("id"), TEXT("user_id"), TEXT("secret_hash"), TEXT_NULL("description"),
	INT("created"), INT("expires_at"), INT_NULL("revoked_at"),
};
static const struct fb_store_column nameid_cols[] = {
	TEXT("user_id"), TEXT("sp"), TEXT("nameid"), INT("created"),
};
static const struct fb_store_column link_cols[] = {
	TEXT("upstream"), TEXT("issuer"), TEXT("subject"), TEXT("user_id"), INT("created"),
	INT("last_used"),
};
static const struct fb_store_column group_cols[] = {
	TEXT("user_id"), TEXT("upstream"), TEXT("name"),
};
static const struct fb_store_column scim_remote_cols[] = {
	TEXT("target"), TEXT("kind"), TEXT("object"), TEXT("remote_id"), INT("managed"),
	TEXT_NULL("digest"), TEXT_NULL("body"), INT("updated"),
};
static const struct fb_store_column scim_member_cols[] = {
	TEXT("target"), TEXT("grp"), TEXT("user_id"),
};
static const struct fb_store_column revocation_cols[] = {
	TEXT("sid"), INT("expires_at"),
};
static const struct fb_store_column oidc_client_cols[] = {
	TEXT("id"), TEXT("spec"), TEXT_NULL("secret_hash"), TEXT_NULL("jwks"), INT("created"),
};
static const struct fb_store_column audit_cols[] = {
	INT("id"), INT("at"), TEXT("actor"), TEXT("event"), TEXT("detail"),
};

static const struct fb_store_table tables[] = {
	TABLE("users", users_cols, "username", 0),
	TABLE("local_credentials", cred_cols, "user_id", 0),
	TABLE("recovery_codes", recovery_cols, "user_id, code_hash", 0),
	TABLE("api_tokens", token_cols, "id", 0),
	TABLE("saml_nameids", nameid_cols, "user_id, sp", 0),
	TABLE("upstream_links", link_cols, "upstream, issuer, subject", 0),
	TABLE("upstream_groups", group_cols, "user_id, upstream, name", 0),
	TABLE("scim_remote", scim_remote_cols, "target, kind, object", 0),
	TABLE("scim_members", scim_member_cols, "target, grp, user_id", 0),
	TABLE("session_revocations", revocation_cols, "sid", 0),
	TABLE("oidc_clients", oidc_client_cols, "id", 0),
	TABLE("audit_log", audit_cols, "id", 1),
};

#define NTABLES (sizeof(tables) / sizeof(tables[0]))

const struct fb_store_table *
fb_store_tables(size_t *n)
{
	*n = NTABLES;
	return tables;
}

const struct fb_store_table *
fb_store_table_get(const char *name)
{
	for (size_t i = 0; i < NTABLES; i++)
		if (strcmp(tables[i].name, name) == 0)
			return &tables[i];
	return NULL;
}

/* FB_OK when t is one of tables[] (the backends build SQL from it). */
static enum fb_status
check_table(const struct fb_store_table *t, const char *what, struct fb_err *err)
{
	if (t < tables || t >= tables + NTABLES)
		return fb_err_set(err, FB_ERR_INVALID, "%s: not a table of fb_store_tables", what);
	return FB_OK;
}

/* The column of t named name (len bytes), or NULL. */
static const struct fb_store_column *
column_get(const struct fb_store_table *t, const char *name, size_t len)
{
	for (size_t i = 0; i < t->ncols; i++)
		if (strlen(t->cols[i].name) == len && strncmp(t->cols[i].name, name, len) == 0)
			return &t->cols[i];
	return NULL;
}

char *
fb_store_table_sql(const struct fb_store_table *t, const char *op, int pg)
{
	struct fb_buf b;

	fb_buf_init(&b, 4096);
	if (strcmp(op, "any") == 0) {
		(void)fb_buf_addf(&b, NULL, "SELECT 1 FROM %s LIMIT 1", t->name);
		return fb_buf_take(&b);
	}
	if (strcmp(op, "select") == 0)
		(void)fb_buf_addf(&b, NULL, "SELECT ");
	else
		(void)fb_buf_addf(&b, NULL, "%s %s (",
		    strcmp(op, "copy") == 0 ? "COPY" : "INSERT INTO", t->name);
	for (size_t i = 0; i < t->ncols; i++)
		(void)fb_buf_addf(&b, NULL, "%s%s", i != 0 ? ", " : "", t->cols[i].name);
	if (strcmp(op, "select") == 0) {
		(void)fb_buf_addf(&b, NULL, " FROM %s ORDER BY ", t->name);
		/* Text keys in byte order on both backends (SQLite's BINARY is the default). */
		for (const char *k = t->order; *k != '\0';) {
			size_t len = strcspn(k, ", ");
			const struct fb_store_column *c = column_get(t, k, len);
			int text = c != NULL && c->type == FB_STORE_COL_TEXT;

			(void)fb_buf_addf(&b, NULL, "%s%.*s%s", k != t->order ? ", " : "", (int)len,
			    k, pg && text ? " COLLATE \"C\"" : "");
			k += len;
			k += strspn(k, ", ");
		}
		return fb_buf_take(&b);
	}
	if (strcmp(op, "copy") == 0) {
		(void)fb_buf_addf(&b, NULL, ") FROM STDIN");
		return fb_buf_take(&b);
	}
	(void)fb_buf_addf(&b, NULL, ") VALUES (");
	for (size_t i = 0; i < t->ncols; i++)
		(void)fb_buf_addf(&b, NULL, "%s%s%zu", i != 0 ? ", " : "", pg ? "$" : "?", i + 1);
	(void)fb_buf_addf(&b, NULL, ")");
	return fb_buf_take(&b);
}

/* The tables of the list, the optional ones only when with_optional, into sel; how many. */
static size_t
tables_select(int with_optional, const struct fb_store_table **sel)
{
	size_t n = 0;

	for (size_t i = 0; i < NTABLES; i++)
		if (!tables[i].optional || with_optional)
			sel[n++] = &tables[i];
	return n;
}

enum fb_status
fb_store_rows_each(struct fb_store *st, int with_optional, fb_store_row_fn fn, void *arg,
    struct fb_err *err)
{
	const struct fb_store_table *sel[NTABLES];
	size_t n = tables_select(with_optional, sel);
	enum fb_status r;

	if ((r = check_owner(st, "export", err)) != FB_OK)
		return r;
	if (st->ops->rows_each == NULL)
		return fb_err_set(err, FB_ERR_INTERNAL, "export: the %s store cannot export",
		    st->ops->name);
	return st->ops->rows_each(st, sel, n, fn, arg, err);
}

static int
row_count(const struct fb_store_table *t, const struct fb_store_value *row, void *arg)
{
	(void)row;
	((size_t *)arg)[t - tables]++;
	return 0;
}

enum fb_status
fb_store_rows_count(struct fb_store *st, int with_optional, size_t *counts, struct fb_err *err)
{
	memset(counts, 0, NTABLES * sizeof(*counts));
	return fb_store_rows_each(st, with_optional, row_count, counts, err);
}

/* The caller's row source, each row checked before the backend sees it. */
struct load_src {
	fb_store_row_next_fn next;
	void *arg;
	int with_optional;
	struct fb_store_row_at *at; /* the row last yielded */
};

static enum fb_status
check_row(const struct fb_store_table *t, const struct fb_store_value *row, struct fb_err *err)
{
	char what[96];
	enum fb_status r;

	for (size_t i = 0; i < t->ncols; i++) {
		const struct fb_store_column *c = &t->cols[i];

		snprintf(what, sizeof(what), "import: %s.%s", t->name, c->name);
		if (row[i].null) {
			if (!c->nullable)
				return fb_err_set(err, FB_ERR_INVALID, "%s: null is not allowed", what);
			continue;
		}
		if (c->type != FB_STORE_COL_TEXT)
			continue;
		if (row[i].text == NULL)
			return fb_err_set(err, FB_ERR_INVALID, "%s: text value missing", what);
		/* Text as stored may be empty: an import restores what an export read. */
		if ((r = check_text(row[i].text, FB_STORE_VALUE_MAX, what, "value", err)) != FB_OK)
			return r;
	}
	return FB_OK;
}

static enum fb_status
load_next(void *arg, const struct fb_store_table **t, const struct fb_store_value **row,
    struct fb_err *err)
{
	struct load_src *src = arg;
	enum fb_status r;

	*t = NULL;
	*row = NULL;
	if ((r = src->next(src->arg, t, row, err)) != FB_OK || *t == NULL)
		return r;
	if (*t == src->at->table) {
		src->at->index++;
	} else {
		src->at->table = *t;
		src->at->index = 0;
	}
	if ((r = check_table(*t, "import", err)) != FB_OK)
		return r;
	if ((*t)->optional && !src->with_optional)
		return fb_err_set(err, FB_ERR_INVALID, "import: rows of %s were not asked for",
		    (*t)->name);
	return check_row(*t, *row, err);
}

enum fb_status
fb_store_rows_load(struct fb_store *st, int with_optional, fb_store_row_next_fn next, void *arg,
    size_t *n, struct fb_store_row_at *at, struct fb_err *err)
{
	const struct fb_store_table *empty[NTABLES];
	struct fb_store_row_at here = {NULL, 0};
	struct load_src src = {next, arg, with_optional, at != NULL ? at : &here};
	size_t nempty = tables_select(with_optional, empty), count = 0;
	enum fb_status r;

	if (n != NULL)
		*n = 0;
	*src.at = here;
	if ((r = check_owner(st, "import", err)) != FB_OK)
		return r;
	if (st->ops->rows_load == NULL)
		return fb_err_set(err, FB_ERR_INTERNAL, "import: the %s store cannot import",
		    st->ops->name);
	if ((r = st->ops->rows_load(st, empty, nempty, load_next, &src, &count, src.at, err)) !=
	    FB_OK)
		return r;
	if (n != NULL)
		*n = count;
	return FB_OK;
}

/* ---- SCIM push ------------------------------------------------------------------------- */

/* The most outbox entries one claim leases, and the longest lease. */
#define SCIM_CLAIM_MAX 1000
#define SCIM_LEASE_MAX 86400

static enum fb_status
check_scim_target(const struct fb_store *st, const char *target, const char *what,
    struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, what, err)) != FB_OK)
		return r;
	return check_name(target, FB_STORE_KEY_MAX, what, "target", err);
}

static enum fb_status
check_scim_object(const struct fb_store *st, const char *target, const char *kind,
    const char *object, const char *what, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_scim_target(st, target, what, err)) != FB_OK)
		return r;
	if (kind == NULL ||
	    (strcmp(kind, FB_STORE_SCIM_USER) != 0 && strcmp(kind, FB_STORE_SCIM_GROUP) != 0))
		return fb_err_set(err, FB_ERR_INVALID, "%s: kind is not user or group", what);
	return check_name(object, FB_STORE_KEY_MAX, what, "object", err);
}

enum fb_status
fb_store_scim_outbox_fill(struct fb_store *st, const char *target, size_t *n, struct fb_err *err)
{
	size_t ignored;
	enum fb_status r;

	if ((r = check_scim_target(st, target, "scim_outbox_fill", err)) != FB_OK)
		return r;
	return st->ops->scim_fill(st, target, fb_time_now(), n != NULL ? n : &ignored, err);
}

enum fb_status
fb_store_scim_outbox_add(struct fb_store *st, const char *target, const char *kind,
    const char *object, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_scim_object(st, target, kind, object, "scim_outbox_add", err)) != FB_OK)
		return r;
	return st->ops->scim_add(st, target, kind, object, fb_time_now(), err);
}

enum fb_status
fb_store_scim_outbox_claim(struct fb_store *st, const char *target, const char *owner,
    int64_t lease, size_t limit, struct fb_store_scim_item **items, size_t *n, struct fb_err *err)
{
	int64_t now = fb_time_now();
	enum fb_status r;

	*items = NULL;
	*n = 0;
	if ((r = check_scim_target(st, target, "scim_outbox_claim", err)) != FB_OK ||
	    (r = check_name(owner, FB_STORE_KEY_MAX, "scim_outbox_claim", "owner", err)) != FB_OK)
		return r;
	if (lease < 1 || lease > SCIM_LEASE_MAX || limit < 1 || limit > SCIM_CLAIM_MAX)
		return fb_err_set(err, FB_ERR_INVALID,
		    "scim_outbox_claim: lease %lld s or limit %zu out of range", (long long)lease,
		    limit);
	return st->ops->scim_claim(st, target, owner, now, now + lease, limit, items, n, err);
}

void
fb_store_scim_items_free(struct fb_store_scim_item *items, size_t n)
{
	if (items == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(items[i].kind);
		free(items[i].object);
		free(items[i].last_error);
	}
	free(items);
}

enum fb_status
fb_store_scim_outbox_done(struct fb_store *st, const char *target,
    const struct fb_store_scim_item *it, const char *owner, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_scim_object(st, target, it->kind, it->object, "scim_outbox_done", err)) !=
		FB_OK ||
	    (r = check_name(owner, FB_STORE_KEY_MAX, "scim_outbox_done", "owner", err)) != FB_OK)
		return r;
	return st->ops->scim_done(st, target, it->kind, it->object, owner, it->seq, err);
}

enum fb_status
fb_store_scim_outbox_release(struct fb_store *st, const char *target,
    const struct fb_store_scim_item *it, const char *owner, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_scim_object(st, target, it->kind, it->object, "scim_outbox_release",
		 err)) != FB_OK ||
	    (r = check_name(owner, FB_STORE_KEY_MAX, "scim_outbox_release", "owner", err)) != FB_OK)
		return r;
	return st->ops->scim_release(st, target, it->kind, it->object, owner, err);
}

enum fb_status
fb_store_scim_outbox_fail(struct fb_store *st, const char *target,
    const struct fb_store_scim_item *it, const char *owner, int64_t retry_at, const char *error,
    struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_scim_object(st, target, it->kind, it->object, "scim_outbox_fail", err)) !=
		FB_OK ||
	    (r = check_name(owner, FB_STORE_KEY_MAX, "scim_outbox_fail", "owner", err)) != FB_OK ||
	    (r = check_text(error, FB_STORE_TEXT_MAX, "scim_outbox_fail", "error", err)) != FB_OK)
		return r;
	return st->ops->scim_fail(st, target, it->kind, it->object, owner, retry_at,
	    error != NULL ? error : "failed", err);
}

enum fb_status
fb_store_scim_outbox_list(struct fb_store *st, const char *target,
    int (*fn)(const struct fb_store_scim_item *it, void *arg), void *arg, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_scim_target(st, target, "scim_outbox_list", err)) != FB_OK)
		return r;
	return st->ops->scim_outbox_list(st, target, fn, arg, err);
}

enum fb_status
fb_store_scim_outbox_depth(struct fb_store *st, const char *target, size_t *depth,
    size_t *failing, struct fb_err *err)
{
	enum fb_status r;

	*depth = *failing = 0;
	if ((r = check_scim_target(st, target, "scim_outbox_depth", err)) != FB_OK)
		return r;
	return st->ops->scim_depth(st, target, depth, failing, err);
}

enum fb_status
fb_store_scim_remote_get(struct fb_store *st, const char *target, const char *kind,
    const char *object, struct fb_store_scim_remote *out, struct fb_err *err)
{
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	if ((r = check_scim_object(st, target, kind, object, "scim_remote_get", err)) != FB_OK)
		return r;
	return st->ops->scim_remote_get(st, target, kind, object, out, err);
}

enum fb_status
fb_store_scim_remote_put(struct fb_store *st, const struct fb_store_scim_remote *rm,
    struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_scim_object(st, rm->target, rm->kind, rm->object, "scim_remote_put",
		 err)) != FB_OK ||
	    (r = check_name(rm->remote_id, FB_STORE_KEY_MAX, "scim_remote_put", "remote id",
		 err)) != FB_OK ||
	    (r = check_text(rm->digest, FB_STORE_KEY_MAX, "scim_remote_put", "digest", err)) !=
		FB_OK ||
	    (r = check_text(rm->body, FB_STORE_VALUE_MAX, "scim_remote_put", "body", err)) != FB_OK)
		return r;
	return st->ops->scim_remote_put(st, rm, fb_time_now(), err);
}

enum fb_status
fb_store_scim_remote_delete(struct fb_store *st, const char *target, const char *kind,
    const char *object, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_scim_object(st, target, kind, object, "scim_remote_delete", err)) != FB_OK)
		return r;
	return st->ops->scim_remote_delete(st, target, kind, object, err);
}

enum fb_status
fb_store_scim_remote_list(struct fb_store *st, const char *target, const char *kind,
    int (*fn)(const struct fb_store_scim_remote *rm, void *arg), void *arg, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_scim_object(st, target, kind, "-", "scim_remote_list", err)) != FB_OK)
		return r;
	return st->ops->scim_remote_list(st, target, kind, fn, arg, err);
}

void
fb_store_scim_remote_cleanup(struct fb_store_scim_remote *rm)
{
	if (rm == NULL)
		return;
	free(rm->target);
	free(rm->kind);
	free(rm->object);
	free(rm->remote_id);
	free(rm->digest);
	free(rm->body);
	memset(rm, 0, sizeof(*rm));
}

enum fb_status
fb_store_scim_member_put(struct fb_store *st, const char *target, const char *group,
    const char *user_id, int present, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_scim_object(st, target, FB_STORE_SCIM_GROUP, group, "scim_member_put",
		 err)) != FB_OK ||
	    (r = check_name(user_id, FB_STORE_KEY_MAX, "scim_member_put", "user id", err)) !=
		FB_OK)
		return r;
	return st->ops->scim_member_put(st, target, group, user_id, present, err);
}

enum fb_status
fb_store_scim_members_put(struct fb_store *st, const char *target, const char *group,
    const char *const *user_ids, size_t n, int present, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_scim_object(st, target, FB_STORE_SCIM_GROUP, group, "scim_members_put",
	         err)) != FB_OK)
		return r;
	for (size_t i = 0; i < n; i++)
		if ((r = check_name(user_ids[i], FB_STORE_KEY_MAX, "scim_members_put", "user id",
		         err)) != FB_OK)
			return r;
	if (st->ops->scim_members_put != NULL && n > 1)
		return st->ops->scim_members_put(st, target, group, user_ids, n, present, err);
	for (size_t i = 0; i < n; i++)
		if ((r = st->ops->scim_member_put(st, target, group, user_ids[i], present, err)) !=
		    FB_OK)
			return r;
	return FB_OK;
}

enum fb_status
fb_store_scim_member_list(struct fb_store *st, const char *target, const char *group,
    int (*fn)(const char *user_id, void *arg), void *arg, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_scim_object(st, target, FB_STORE_SCIM_GROUP, group, "scim_member_list",
		 err)) != FB_OK)
		return r;
	return st->ops->scim_member_list(st, target, group, fn, arg, err);
}

enum fb_status
fb_store_scim_report_put(struct fb_store *st, const char *target, int ok, const char *report,
    struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_scim_target(st, target, "scim_report_put", err)) != FB_OK ||
	    (r = check_name(report, FB_STORE_VALUE_MAX, "scim_report_put", "report", err)) !=
		FB_OK ||
	    (r = check_text(report, FB_STORE_VALUE_MAX, "scim_report_put", "report", err)) !=
		FB_OK)
		return r;
	return st->ops->scim_report_put(st, target, fb_time_now(), ok, report, err);
}

enum fb_status
fb_store_scim_report_get(struct fb_store *st, const char *target, int64_t *at, int *ok,
    char **report, struct fb_err *err)
{
	enum fb_status r;

	*at = 0;
	*ok = 0;
	*report = NULL;
	if ((r = check_scim_target(st, target, "scim_report_get", err)) != FB_OK)
		return r;
	return st->ops->scim_report_get(st, target, at, ok, report, err);
}

enum fb_status
fb_store_group_members(struct fb_store *st, const char *group,
    int (*fn)(const struct fb_store_user *u, void *arg), void *arg, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, "group_members", err)) != FB_OK ||
	    (r = check_name(group, FB_STORE_KEY_MAX, "group_members", "group", err)) != FB_OK)
		return r;
	return st->ops->group_members(st, group, fn, arg, err);
}

/* ---- the OpenID provider's grants ---------------------------------------- */

void
fb_store_oidc_grant_cleanup(struct fb_store_oidc_grant *g)
{
	if (g == NULL)
		return;
	free(g->hash);
	free(g->family);
	free(g->client_id);
	fb_secret_free(g->data);
	memset(g, 0, sizeof(*g));
}

enum fb_status
fb_store_oidc_grant_add(struct fb_store *st, const struct fb_store_oidc_grant *g,
    struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, "oidc_grant_add", err)) != FB_OK ||
	    (r = check_name(g->hash, FB_STORE_KEY_MAX, "oidc_grant_add", "hash", err)) != FB_OK ||
	    (r = check_name(g->family, FB_STORE_KEY_MAX, "oidc_grant_add", "family", err)) !=
		FB_OK ||
	    (r = check_name(g->client_id, FB_STORE_KEY_MAX, "oidc_grant_add", "client id", err)) !=
		FB_OK ||
	    (r = check_name(g->data, FB_STORE_VALUE_MAX, "oidc_grant_add", "data", err)) != FB_OK)
		return r;
	if (g->kind != FB_STORE_OIDC_CODE && g->kind != FB_STORE_OIDC_REFRESH)
		return fb_err_set(err, FB_ERR_INVALID, "oidc_grant_add: unknown kind");
	return st->ops->oidc_grant_add(st, g, err);
}

enum fb_status
fb_store_oidc_grant_use(struct fb_store *st, const char *hash, enum fb_store_oidc_kind kind,
    struct fb_store_oidc_grant *out, struct fb_err *err)
{
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	if ((r = check_owner(st, "oidc_grant_use", err)) != FB_OK ||
	    (r = check_name(hash, FB_STORE_KEY_MAX, "oidc_grant_use", "hash", err)) != FB_OK)
		return r;
	if (kind != FB_STORE_OIDC_CODE && kind != FB_STORE_OIDC_REFRESH)
		return fb_err_set(err, FB_ERR_INVALID, "oidc_grant_use: unknown kind");
	r = st->ops->oidc_grant_use(st, hash, kind, fb_time_now(), out, err);
	if (r != FB_OK && r != FB_ERR_REPLAY && r != FB_ERR_DENIED)
		fb_store_oidc_grant_cleanup(out);
	return r;
}

enum fb_status
fb_store_oidc_family_revoke(struct fb_store *st, const char *family, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, "oidc_family_revoke", err)) != FB_OK ||
	    (r = check_name(family, FB_STORE_KEY_MAX, "oidc_family_revoke", "family", err)) !=
		FB_OK)
		return r;
	return st->ops->oidc_family_revoke(st, family, fb_time_now(), err);
}

enum fb_status
fb_store_oidc_jti_revoke(struct fb_store *st, const char *jti, int64_t expires_at,
    struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, "oidc_jti_revoke", err)) != FB_OK ||
	    (r = check_name(jti, FB_STORE_KEY_MAX, "oidc_jti_revoke", "jti", err)) != FB_OK)
		return r;
	return st->ops->oidc_jti_revoke(st, jti, expires_at, err);
}

enum fb_status
fb_store_oidc_token_revoked(struct fb_store *st, const char *jti, const char *family,
    int *revoked, struct fb_err *err)
{
	enum fb_status r;

	*revoked = 0;
	if ((r = check_owner(st, "oidc_token_revoked", err)) != FB_OK ||
	    (r = check_name(jti, FB_STORE_KEY_MAX, "oidc_token_revoked", "jti", err)) != FB_OK ||
	    (family != NULL && (r = check_name(family, FB_STORE_KEY_MAX, "oidc_token_revoked",
				    "family", err)) != FB_OK))
		return r;
	return st->ops->oidc_token_state(st, jti, family, fb_time_now(), revoked, err);
}

/* ---- the OpenID provider's clients kept in the store ---------------------- */

void
fb_store_oidc_client_cleanup(struct fb_store_oidc_client *c)
{
	if (c == NULL)
		return;
	free(c->id);
	free(c->spec);
	free(c->secret_hash);
	free(c->jwks);
	memset(c, 0, sizeof(*c));
}

enum fb_status
fb_store_oidc_client_add(struct fb_store *st, const struct fb_store_oidc_client *c,
    struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, "oidc_client_add", err)) != FB_OK ||
	    (r = check_name(c->id, FB_STORE_KEY_MAX, "oidc_client_add", "id", err)) != FB_OK ||
	    (r = check_name(c->spec, FB_STORE_VALUE_MAX, "oidc_client_add", "spec", err)) !=
		FB_OK ||
	    (c->secret_hash != NULL && (r = check_name(c->secret_hash, FB_STORE_KEY_MAX,
					    "oidc_client_add", "secret hash", err)) != FB_OK) ||
	    (c->jwks != NULL &&
		(r = check_name(c->jwks, FB_STORE_VALUE_MAX, "oidc_client_add", "jwks", err)) !=
		    FB_OK))
		return r;
	return st->ops->oidc_client_add(st, c, fb_time_now(), err);
}

enum fb_status
fb_store_oidc_client_get(struct fb_store *st, const char *id, struct fb_store_oidc_client *out,
    struct fb_err *err)
{
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	if ((r = check_owner(st, "oidc_client_get", err)) != FB_OK ||
	    (r = check_name(id, FB_STORE_KEY_MAX, "oidc_client_get", "id", err)) != FB_OK)
		return r;
	if ((r = st->ops->oidc_client_get(st, id, out, err)) != FB_OK)
		fb_store_oidc_client_cleanup(out);
	return r;
}

enum fb_status
fb_store_oidc_client_list(struct fb_store *st,
    int (*fn)(const struct fb_store_oidc_client *c, void *arg), void *arg, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, "oidc_client_list", err)) != FB_OK)
		return r;
	return st->ops->oidc_client_list(st, fn, arg, err);
}

enum fb_status
fb_store_oidc_client_remove(struct fb_store *st, const char *id, struct fb_err *err)
{
	enum fb_status r;

	if ((r = check_owner(st, "oidc_client_remove", err)) != FB_OK ||
	    (r = check_name(id, FB_STORE_KEY_MAX, "oidc_client_remove", "id", err)) != FB_OK)
		return r;
	return st->ops->oidc_client_remove(st, id, fb_time_now(), err);
}
