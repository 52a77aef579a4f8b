/* SPDX-License-Identifier: Apache-2.0 */
/* local/account.c: local accounts (create, look up, enable, delete) and the password sign-in. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "ident/ident.h"
#include "local/local.h"
#include "local/internal.h"

/* ---- shared helpers ------------------------------------------------------ */

void
fb_local_sha256_hex(const void *p, size_t n, char out[FB_LOCAL_SHA256_HEX])
{
	unsigned char md[32];
	unsigned int len = 0;

	/* EVP_Digest with SHA-256 cannot fail short of memory; abort as fb_x* would. */
	if (EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) != 1 || len != sizeof(md)) {
		fb_log(FB_LOG_ERROR, "SHA-256 failed");
		abort();
	}
	fb_hex_encode(md, sizeof(md), out);
}

void
fb_local_audit(const char *reqid, const char *event, const char *user, const char *addr,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fb_log_vaudit(reqid, "local", event, user, addr, NULL, NULL, fmt, ap);
	va_end(ap);
}

const char *
fb_local_type_name(enum fb_store_account_type t)
{
	return t == FB_ACCOUNT_SERVICE ? "service" : "internal";
}

int
fb_local_type_parse(const char *s, enum fb_store_account_type *out)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "internal") == 0)
		*out = FB_ACCOUNT_INTERNAL;
	else if (strcmp(s, "service") == 0)
		*out = FB_ACCOUNT_SERVICE;
	else
		return -1;
	return 0;
}

const char *
fb_local_result_name(enum fb_local_result r)
{
	switch (r) {
	case FB_LOCAL_ACCEPTED:
		return "accepted";
	case FB_LOCAL_REJECTED:
		return "rejected";
	case FB_LOCAL_REPLAYED:
		return "replayed";
	case FB_LOCAL_LOCKED:
		return "locked";
	case FB_LOCAL_DISABLED:
		return "disabled";
	default:
		return "unknown";
	}
}

/* Name and email: optional, at most FB_STORE_TEXT_MAX bytes of UTF-8 without control bytes. */
static enum fb_status
text_check(const char *s, const char *label, struct fb_err *err)
{
	size_t n;

	if (s == NULL)
		return FB_OK;
	n = strnlen(s, FB_STORE_TEXT_MAX + 1);
	if (n > FB_STORE_TEXT_MAX)
		return fb_err_set(err, FB_ERR_INVALID, "%s is longer than %d bytes", label,
		    FB_STORE_TEXT_MAX);
	if (fb_utf8_check(s, n) == 0)
		return fb_err_set(err, FB_ERR_INVALID, "%s is not valid UTF-8", label);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return fb_err_set(err, FB_ERR_INVALID, "%s contains a control character",
			    label);
	return FB_OK;
}

/* A plausible address: local@domain, no spaces; the relay decides the rest. */
static enum fb_status
email_check(const char *s, struct fb_err *err)
{
	const char *at;
	enum fb_status r;

	if (s == NULL)
		return FB_OK;
	if ((r = text_check(s, "email", err)) != FB_OK)
		return r;
	at = strchr(s, '@');
	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL ||
	    strpbrk(s, " \t<>,;\"") != NULL)
		return fb_err_set(err, FB_ERR_INVALID, "email '%s' is not an address like "
						       "name@example.com",
		    s);
	return FB_OK;
}

enum fb_status
fb_local_account_fill(struct fb_store *st, const struct fb_store_user *u,
    const struct fb_store_cred *c, struct fb_local_account *out, struct fb_err *err)
{
	size_t left = 0;
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	if ((r = fb_store_recovery_codes_count(st, u->id, &left, err)) != FB_OK)
		return r;
	out->id = fb_xstrdup(u->id);
	out->username = fb_xstrdup(u->username);
	out->name = u->name != NULL ? fb_xstrdup(u->name) : NULL;
	out->email = u->email != NULL ? fb_xstrdup(u->email) : NULL;
	out->active = u->active;
	out->created = u->created;
	out->recovery_codes_left = left;
	if (c != NULL) {
		out->type = c->type;
		out->has_password = c->password_hash != NULL;
		out->totp_enabled = c->totp_secret != NULL;
		out->last_login = c->last_login;
		out->session_gen = c->session_gen;
	}
	return FB_OK;
}

enum fb_status
fb_local_lookup(struct fb_store *st, const char *key, int by_name, struct fb_store_user *u,
    struct fb_store_cred *c, struct fb_err *err)
{
	enum fb_status r;

	memset(c, 0, sizeof(*c));
	r = by_name ? fb_store_user_get(st, key, u, err) : fb_store_user_get_by_id(st, key, u, err);
	if (r == FB_ERR_NOTFOUND)
		return fb_err_set(err, FB_ERR_NOTFOUND, "no user %s%s", by_name ? "" : "with id ",
		    key);
	if (r != FB_OK)
		return r;
	r = fb_store_cred_get(st, u->id, c, err);
	if (r == FB_ERR_NOTFOUND)
		fb_err_set(err, FB_ERR_NOTFOUND, "user %s is not a local account (source %s)",
		    u->username, u->source);
	if (r != FB_OK)
		fb_store_user_cleanup(u);
	return r;
}

/* ---- accounts ------------------------------------------------------------ */

enum fb_status
fb_local_account_create(const struct fb_conf *conf, struct fb_store *st, const char *username,
    const char *name, const char *email, enum fb_store_account_type type, const char *password,
    const char *reqid, struct fb_local_account *out, struct fb_err *err)
{
	struct fb_store_user u;
	struct fb_store_cred c;
	char *hash = NULL;
	enum fb_status r;

	memset(&u, 0, sizeof(u));
	memset(&c, 0, sizeof(c));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if ((r = fb_ident_username_check(username, err)) != FB_OK ||
	    (r = text_check(name, "name", err)) != FB_OK || (r = email_check(email, err)) != FB_OK)
		goto out;
	if (type != FB_ACCOUNT_INTERNAL && type != FB_ACCOUNT_SERVICE) {
		r = fb_err_set(err, FB_ERR_INVALID, "unknown account type %d", (int)type);
		goto out;
	}
	if (password != NULL) {
		if ((r = fb_local_password_check(password, err)) != FB_OK ||
		    (r = fb_local_password_hash(conf, password, &hash, err)) != FB_OK)
			goto out;
	}
	u.username = (char *)username;
	u.name = (char *)name;
	u.email = (char *)email;
	u.source = (char *)FB_LOCAL_SOURCE;
	u.active = 1;
	u.last_seen = fb_time_now();
	c.password_hash = hash;
	c.type = type;
	r = fb_store_cred_create(st, &u, &c, err);
	if (r == FB_ERR_INVALID && strstr(err != NULL ? err->msg : "", "already exists") != NULL)
		fb_err_set(err, FB_ERR_INVALID, "user %s already exists", username);
	if (r != FB_OK)
		goto out;
	fb_local_audit(reqid, "account_created", username, NULL, "local %s account created",
	    fb_local_type_name(type));
	if (out != NULL)
		r = fb_local_account_fill(st, &u, &c, out, err);
out:
	free(u.id);
	fb_secret_free(hash);
	return r;
}

static enum fb_status
account_get(struct fb_store *st, const char *key, int by_name, struct fb_local_account *out,
    struct fb_err *err)
{
	struct fb_store_user u;
	struct fb_store_cred c;
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	if ((r = fb_local_lookup(st, key, by_name, &u, &c, err)) != FB_OK)
		return r;
	r = fb_local_account_fill(st, &u, &c, out, err);
	fb_store_user_cleanup(&u);
	fb_store_cred_cleanup(&c);
	return r;
}

enum fb_status
fb_local_account_get(struct fb_store *st, const char *username, struct fb_local_account *out,
    struct fb_err *err)
{
	return account_get(st, username, 1, out, err);
}

enum fb_status
fb_local_account_get_by_id(struct fb_store *st, const char *id, struct fb_local_account *out,
    struct fb_err *err)
{
	return account_get(st, id, 0, out, err);
}

/* Collects usernames first, so the callback runs outside the store's list statement. */
struct names {
	char **v;
	size_t n;
	size_t cap;
};

static int
collect_name(const struct fb_store_user *u, void *arg)
{
	struct names *nm = arg;

	if (strcmp(u->source, FB_LOCAL_SOURCE) != 0)
		return 0;
	if (nm->n == nm->cap) {
		nm->cap = nm->cap != 0 ? nm->cap * 2 : 16;
		nm->v = fb_xrealloc(nm->v, nm->cap * sizeof(*nm->v));
	}
	nm->v[nm->n++] = fb_xstrdup(u->username);
	return 0;
}

enum fb_status
fb_local_account_list(struct fb_store *st, int (*fn)(const struct fb_local_account *a, void *arg),
    void *arg, struct fb_err *err)
{
	struct names nm = {NULL, 0, 0};
	struct fb_local_account a;
	enum fb_status r;
	size_t i;

	if ((r = fb_store_user_list(st, collect_name, &nm, err)) != FB_OK)
		goto out;
	for (i = 0; i < nm.n; i++) {
		r = fb_local_account_get(st, nm.v[i], &a, err);
		if (r == FB_ERR_NOTFOUND)
			continue; /* source local without credentials, or deleted meanwhile */
		if (r != FB_OK)
			goto out;
		if (fn(&a, arg) != 0) {
			fb_local_account_cleanup(&a);
			break;
		}
		fb_local_account_cleanup(&a);
	}
	r = FB_OK;
out:
	for (i = 0; i < nm.n; i++)
		free(nm.v[i]);
	free(nm.v);
	return r;
}

enum fb_status
fb_local_account_set_active(struct fb_store *st, const char *username, int active,
    const char *reqid, struct fb_err *err)
{
	struct fb_store_user u;
	struct fb_store_cred c;
	enum fb_status r;

	if ((r = fb_local_lookup(st, username, 1, &u, &c, err)) != FB_OK)
		return r;
	u.active = active != 0;
	r = fb_store_user_upsert(st, &u, err);
	/* SECURITY: disabling ends every session, also for after a later enabling. */
	if (r == FB_OK && !active)
		r = fb_store_cred_sessions_revoke(st, u.id, err);
	if (r == FB_OK)
		fb_local_audit(reqid, active ? "account_enabled" : "account_disabled", username,
		    NULL, "local account %s", active ? "enabled" : "disabled");
	fb_store_user_cleanup(&u);
	fb_store_cred_cleanup(&c);
	return r;
}

enum fb_status
fb_local_account_delete(struct fb_store *st, const char *username, const char *reqid,
    struct fb_err *err)
{
	struct fb_store_user u;
	struct fb_store_cred c;
	enum fb_status r;

	if ((r = fb_local_lookup(st, username, 1, &u, &c, err)) != FB_OK)
		return r;
	/* Credentials, recovery codes and tokens go with the user (ON DELETE CASCADE). */
	if ((r = fb_store_user_delete(st, username, err)) == FB_OK)
		fb_local_audit(reqid, "account_deleted", username, NULL,
		    "local account deleted with its credentials and API tokens");
	fb_store_user_cleanup(&u);
	fb_store_cred_cleanup(&c);
	return r;
}

void
fb_local_account_cleanup(struct fb_local_account *a)
{
	if (a == NULL)
		return;
	free(a->id);
	free(a->username);
	free(a->name);
	free(a->email);
	memset(a, 0, sizeof(*a));
}

void
fb_local_attempt_cleanup(struct fb_local_attempt *a)
{
	if (a == NULL)
		return;
	fb_local_account_cleanup(&a->account);
	memset(a, 0, sizeof(*a));
}

/* ---- signing in ---------------------------------------------------------- */

/* 1 when s is a form value this module looks at: bounded, UTF-8. */
static int
input_ok(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, max + 1);
	return n > 0 && n <= max && fb_utf8_check(s, n) != 0;
}

/* A refusal that counts as a failure: the verdict, the audit line (via the limits). */
static enum fb_status
signin_fail(const struct fb_conf *conf, struct fb_store *st, const char *username,
    const char *client_addr, const char *reason, const char *reqid,
    struct fb_local_attempt *out, struct fb_err *err)
{
	int64_t retry = 0;
	enum fb_status r;

	fb_local_account_cleanup(&out->account);
	out->result = FB_LOCAL_REJECTED;
	r = fb_local_lockout_fail(conf, st, username, client_addr, reason, reqid, &retry, err);
	out->retry_after = retry;
	return r;
}

/*
 * FB_OK and out->result FB_LOCAL_LOCKED when the limits refuse an attempt
 * now (audit login_locked); FB_OK with result untouched when allowed.
 */
static enum fb_status
signin_limits(const struct fb_conf *conf, struct fb_store *st, const char *username,
    const char *client_addr, const char *reqid, struct fb_local_attempt *out,
    struct fb_err *err)
{
	struct fb_err lerr;
	int64_t retry = 0;
	enum fb_status r;

	fb_err_clear(&lerr);
	r = fb_local_lockout_check(conf, st, username, client_addr, &retry, &lerr);
	if (r == FB_ERR_LIMIT) {
		out->result = FB_LOCAL_LOCKED;
		out->retry_after = retry;
		fb_local_audit(reqid, "login_locked", username, client_addr,
		    "attempt refused without checking it: %s", lerr.msg);
		return FB_OK;
	}
	if (r != FB_OK && err != NULL)
		*err = lerr;
	return r;
}

enum fb_status
fb_local_signin_begin(const struct fb_conf *conf, struct fb_store *st, const char *username,
    const char *password, const char *client_addr, const char *reqid,
    struct fb_local_signin *s, struct fb_local_attempt *out, struct fb_err *err)
{
	enum fb_status r;

	memset(s, 0, sizeof(*s));
	memset(out, 0, sizeof(*out));
	s->conf = conf;
	s->client_addr = client_addr;
	s->reqid = reqid;
	out->result = FB_LOCAL_REJECTED;
	/* SECURITY: oversized or malformed input is refused before any hashing. */
	if (!input_ok(username, FB_STORE_KEY_MAX) || !input_ok(password, FB_LOCAL_PASSWORD_MAX))
		return signin_fail(conf, st, input_ok(username, FB_STORE_KEY_MAX) ? username : NULL,
		    client_addr, "malformed_input", reqid, out, err);
	if ((r = signin_limits(conf, st, username, client_addr, reqid, out, err)) != FB_OK ||
	    out->result == FB_LOCAL_LOCKED)
		return r;
	r = fb_local_lookup(st, username, 1, &s->u, &s->c, err);
	if (r != FB_OK && r != FB_ERR_NOTFOUND)
		return r;
	s->known = r == FB_OK && s->c.password_hash != NULL && s->c.type == FB_ACCOUNT_INTERNAL;
	s->unknown_reason = r == FB_ERR_NOTFOUND ? "unknown_user" : "no_password";
	s->username = fb_xstrdup(username);
	s->password = fb_xstrdup(password);
	s->pending = 1;
	return FB_OK;
}

int
fb_local_signin_pending(const struct fb_local_signin *s)
{
	return s->pending;
}

void
fb_local_signin_verify(struct fb_local_signin *s)
{
	if (!s->known) {
		/* SECURITY: same work and same answer as a wrong password (no user enumeration). */
		fb_local_password_dummy(s->conf, s->password);
		s->verified = FB_ERR_DENIED;
		return;
	}
	fb_err_clear(&s->verr);
	s->verified = fb_local_password_verify(s->c.password_hash, s->password, &s->verr);
	/* The configured cost changed since the hash was made: upgrade it (stored by _end). */
	if (s->verified == FB_OK && fb_local_password_stale(s->conf, s->c.password_hash) &&
	    fb_local_password_hash(s->conf, s->password, &s->rehash, NULL) != FB_OK)
		s->rehash = NULL;
}

enum fb_status
fb_local_signin_end(struct fb_store *st, struct fb_local_signin *s,
    struct fb_local_attempt *out, struct fb_err *err)
{
	const struct fb_conf *conf = s->conf;
	enum fb_status r;

	if (!s->known)
		return signin_fail(conf, st, s->username, s->client_addr, s->unknown_reason,
		    s->reqid, out, err);
	if (s->verified == FB_ERR_DENIED)
		return signin_fail(conf, st, s->username, s->client_addr, "wrong_password",
		    s->reqid, out, err);
	if (s->verified != FB_OK) {
		if (err != NULL)
			*err = s->verr;
		return s->verified;
	}
	if (!s->u.active) {
		out->result = FB_LOCAL_DISABLED;
		fb_local_audit(s->reqid, "login_disabled", s->username, s->client_addr,
		    "right password for a disabled account");
		return fb_local_account_fill(st, &s->u, &s->c, &out->account, err);
	}
	if (s->rehash != NULL && fb_store_cred_password_set(st, s->u.id, s->rehash, NULL) == FB_OK)
		fb_log(FB_LOG_INFO, "password hash of %s upgraded to the configured cost",
		    s->username);
	if ((r = fb_local_account_fill(st, &s->u, &s->c, &out->account, err)) != FB_OK)
		return r;
	out->result = FB_LOCAL_ACCEPTED;
	out->mfa_needed = s->c.totp_secret != NULL || fb_ident_requires_mfa(conf, s->username);
	fb_local_audit(s->reqid, "login_password_ok", s->username, s->client_addr,
	    "password accepted%s", out->mfa_needed ? "; second factor next" : "");
	return FB_OK;
}

void
fb_local_signin_cleanup(struct fb_local_signin *s)
{
	if (s == NULL)
		return;
	free(s->username);
	fb_secret_free(s->password);
	fb_secret_free(s->rehash);
	fb_store_user_cleanup(&s->u);
	fb_store_cred_cleanup(&s->c);
	memset(s, 0, sizeof(*s));
}

enum fb_status
fb_local_signin(const struct fb_conf *conf, struct fb_store *st, const char *username,
    const char *password, const char *client_addr, const char *reqid,
    struct fb_local_attempt *out, struct fb_err *err)
{
	struct fb_local_signin s;
	enum fb_status r;

	r = fb_local_signin_begin(conf, st, username, password, client_addr, reqid, &s, out, err);
	if (r == FB_OK && fb_local_signin_pending(&s)) {
		fb_local_signin_verify(&s);
		r = fb_local_signin_end(st, &s, out, err);
	}
	fb_local_signin_cleanup(&s);
	return r;
}

enum fb_status
fb_local_login_finish(const struct fb_conf *conf, struct fb_store *st, const char *user_id,
    const char *client_addr, const char *reqid, struct fb_err *err)
{
	struct fb_store_user u;
	struct fb_store_cred c;
	enum fb_status r;

	if ((r = fb_local_lookup(st, user_id, 0, &u, &c, err)) != FB_OK)
		return r;
	if ((r = fb_local_lockout_reset(conf, st, u.username, reqid, err)) != FB_OK ||
	    (r = fb_store_cred_login_set(st, u.id, fb_time_now(), err)) != FB_OK)
		goto out;
	u.last_seen = fb_time_now();
	if ((r = fb_store_user_upsert(st, &u, err)) != FB_OK)
		goto out;
	fb_local_audit(reqid, "login_succeeded", u.username, client_addr, "signed in");
out:
	fb_store_user_cleanup(&u);
	fb_store_cred_cleanup(&c);
	return r;
}
