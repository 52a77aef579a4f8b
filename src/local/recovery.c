/* SPDX-License-Identifier: Apache-2.0 */
/* local/recovery.c: single-use recovery codes and one-time password recovery links. */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "net/net.h"
#include "local/local.h"
#include "local/internal.h"

/* The kv namespace of recovery links. */
#define LINK_NS "recovery"
/* Random bytes of a link token (43 base64url characters). */
#define LINK_BYTES 32
/* Characters of a recovery code without its dashes. */
#define CODE_CHARS 12

/* Lower-case RFC 4648 base32: no 0/1/8/9, so 0/O and 1/l are not confused. */
static const char code_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

/* ---- recovery codes --------------------------------------------------------- */

/*
 * The stored form of a code: SHA-256 of "user_id:code" (normalised), so
 * the same code of two users hashes differently.
 */
static void
code_hash(const char *user_id, const char *norm, char out[FB_LOCAL_SHA256_HEX])
{
	char *s = fb_xasprintf("%s:%s", user_id, norm);

	fb_local_sha256_hex(s, strlen(s), out);
	fb_secret_free(s);
}

/* code without dashes and spaces, lower case, into out (CODE_CHARS + 1); -1 when malformed. */
static int
code_normalize(const char *code, char *out)
{
	size_t n = 0;

	if (code == NULL || strnlen(code, 64) >= 64)
		return -1;
	for (const char *p = code; *p != '\0'; p++) {
		char c = *p;

		if (c == '-' || c == ' ')
			continue;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (strchr(code_alphabet, c) == NULL || c == '\0' || n == CODE_CHARS)
			return -1;
		out[n++] = c;
	}
	out[n] = '\0';
	return n == CODE_CHARS ? 0 : -1;
}

void
fb_local_codes_free(char **codes)
{
	if (codes == NULL)
		return;
	for (size_t i = 0; codes[i] != NULL; i++)
		fb_secret_free(codes[i]);
	free(codes);
}

enum fb_status
fb_local_recovery_codes_new(struct fb_store *st, const char *user_id, const char *reqid,
    char ***codes, struct fb_err *err)
{
	char **v = fb_xcalloc(FB_LOCAL_RECOVERY_CODES + 1, sizeof(*v));
	char hashes[FB_LOCAL_RECOVERY_CODES][FB_LOCAL_SHA256_HEX];
	const char *hp[FB_LOCAL_RECOVERY_CODES];
	struct fb_store_user u;
	enum fb_status r;

	*codes = NULL;
	memset(&u, 0, sizeof(u));
	for (size_t i = 0; i < FB_LOCAL_RECOVERY_CODES; i++) {
		unsigned char rnd[CODE_CHARS];
		char norm[CODE_CHARS + 1];

		fb_rand_bytes(rnd, sizeof(rnd));
		/* 32 divides 256: taking 5 bits of each byte is unbiased. */
		for (size_t j = 0; j < CODE_CHARS; j++)
			norm[j] = code_alphabet[rnd[j] & 31];
		norm[CODE_CHARS] = '\0';
		v[i] = fb_xasprintf("%.4s-%.4s-%.4s", norm, norm + 4, norm + 8);
		code_hash(user_id, norm, hashes[i]);
		hp[i] = hashes[i];
		fb_secret_wipe(norm, sizeof(norm));
		fb_secret_wipe(rnd, sizeof(rnd));
	}
	if ((r = fb_store_recovery_codes_replace(st, user_id, hp, FB_LOCAL_RECOVERY_CODES, err)) !=
	    FB_OK)
		goto out;
	if (fb_store_user_get_by_id(st, user_id, &u, NULL) == FB_OK)
		fb_local_audit(reqid, "recovery_codes_generated", u.username, NULL,
		    "%d new recovery codes replace the earlier ones", FB_LOCAL_RECOVERY_CODES);
	*codes = v;
	v = NULL;
out:
	fb_store_user_cleanup(&u);
	fb_local_codes_free(v);
	return r;
}

enum fb_status
fb_local_recovery_signin(const struct fb_conf *conf, struct fb_store *st, const char *user_id,
    const char *code, const char *client_addr, const char *reqid,
    struct fb_local_attempt *out, struct fb_err *err)
{
	struct fb_store_user u;
	struct fb_store_cred c;
	char norm[CODE_CHARS + 1], hash[FB_LOCAL_SHA256_HEX];
	int64_t retry = 0;
	struct fb_err lerr;
	size_t left = 0;
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	memset(&u, 0, sizeof(u));
	memset(&c, 0, sizeof(c));
	out->result = FB_LOCAL_REJECTED;
	r = user_id != NULL ? fb_local_lookup(st, user_id, 0, &u, &c, err) : FB_ERR_NOTFOUND;
	if (r == FB_ERR_NOTFOUND) {
		fb_local_audit(reqid, "login_failed", NULL, client_addr,
		    "recovery code for an unknown account");
		r = FB_OK;
		goto out;
	}
	if (r != FB_OK)
		goto out;
	if (!u.active) {
		out->result = FB_LOCAL_DISABLED;
		fb_local_audit(reqid, "login_disabled", u.username, client_addr,
		    "recovery code for a disabled account");
		goto out;
	}
	fb_err_clear(&lerr);
	r = fb_local_lockout_check(conf, st, u.username, client_addr, &retry, &lerr);
	if (r == FB_ERR_LIMIT) {
		out->result = FB_LOCAL_LOCKED;
		out->retry_after = retry;
		fb_local_audit(reqid, "login_locked", u.username, client_addr,
		    "recovery code refused without checking it: %s", lerr.msg);
		r = FB_OK;
		goto out;
	}
	if (r != FB_OK) {
		if (err != NULL)
			*err = lerr;
		goto out;
	}
	retry = 0;
	if (code_normalize(code, norm) != 0) {
		r = fb_local_lockout_fail(conf, st, u.username, client_addr,
		    "malformed_recovery_code", reqid, &retry, err);
		goto out;
	}
	code_hash(u.id, norm, hash);
	fb_secret_wipe(norm, sizeof(norm));
	/* SECURITY: one conditional UPDATE: a code is used once even when workers race. */
	fb_err_clear(&lerr);
	r = fb_store_recovery_code_use(st, u.id, hash, &lerr);
	if (r == FB_ERR_NOTFOUND) {
		r = fb_local_lockout_fail(conf, st, u.username, client_addr,
		    "wrong_recovery_code", reqid, &retry, err);
		goto out;
	}
	if (r != FB_OK) {
		if (err != NULL)
			*err = lerr;
		goto out;
	}
	if ((r = fb_local_account_fill(st, &u, &c, &out->account, err)) != FB_OK)
		goto out;
	left = out->account.recovery_codes_left;
	out->result = FB_LOCAL_ACCEPTED;
	fb_local_audit(reqid, "login_recovery_code_ok", u.username, client_addr,
	    "recovery code used; %zu left", left);
out:
	if (out->result == FB_LOCAL_REJECTED)
		out->retry_after = retry;
	fb_store_user_cleanup(&u);
	fb_store_cred_cleanup(&c);
	return r;
}

/* ---- recovery links ------------------------------------------------------------ */

/* The kv key of a token: its SHA-256, so the store never holds a usable link. */
static enum fb_status
link_key(const char *token, char key[FB_LOCAL_SHA256_HEX], struct fb_err *err)
{
	size_t n;

	if (token == NULL || token[0] == '\0')
		return fb_err_set(err, FB_ERR_INVALID, "recovery link: the token is missing");
	n = strnlen(token, 257);
	if (n > 256)
		return fb_err_set(err, FB_ERR_INVALID, "recovery link: the token is too long");
	for (size_t i = 0; i < n; i++) {
		char c = token[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '_'))
			return fb_err_set(err, FB_ERR_INVALID,
			    "recovery link: the token is not base64url");
	}
	fb_local_sha256_hex(token, n, key);
	return FB_OK;
}

enum fb_status
fb_local_recovery_link_new(const struct fb_conf *conf, struct fb_store *st,
    const char *username, const char *reqid, char **url, struct fb_err *err)
{
	struct fb_store_user u;
	struct fb_store_cred c;
	char key[FB_LOCAL_SHA256_HEX];
	char *token = NULL;
	enum fb_status r;

	*url = NULL;
	if ((r = fb_local_lookup(st, username, 1, &u, &c, err)) != FB_OK)
		return r;
	if (!u.active) {
		r = fb_err_set(err, FB_ERR_DENIED, "user %s is disabled; enable it first",
		    username);
		goto out;
	}
	if (c.type != FB_ACCOUNT_INTERNAL) {
		r = fb_err_set(err, FB_ERR_DENIED,
		    "user %s is a service account: it signs in with API tokens, not a password",
		    username);
		goto out;
	}
	if (conf->public_url == NULL || conf->public_url[0] == '\0') {
		r = fb_err_set(err, FB_ERR_CONFIG,
		    "server.public_url is not set: a recovery link needs the address people use");
		goto out;
	}
	token = fb_rand_token(LINK_BYTES);
	if ((r = link_key(token, key, err)) != FB_OK ||
	    (r = fb_store_kv_put(st, LINK_NS, key, u.id, strlen(u.id),
		 fb_time_now() + conf->recovery_lifetime, err)) != FB_OK)
		goto out;
	*url = fb_xasprintf("%s%s?token=%s", conf->public_url, FB_LOCAL_RECOVERY_PATH, token);
	fb_local_audit(reqid, "recovery_link_created", username, NULL,
	    "one-time recovery link valid %lld s", (long long)conf->recovery_lifetime);
out:
	fb_secret_free(token);
	fb_store_user_cleanup(&u);
	fb_store_cred_cleanup(&c);
	return r;
}

enum fb_status
fb_local_recovery_link_check(struct fb_store *st, const char *token, char **username,
    struct fb_err *err)
{
	struct fb_store_user u;
	char key[FB_LOCAL_SHA256_HEX];
	unsigned char *v = NULL;
	size_t n = 0;
	enum fb_status r;

	if (username != NULL)
		*username = NULL;
	memset(&u, 0, sizeof(u));
	if ((r = link_key(token, key, err)) != FB_OK)
		return r;
	/* A look only (kv_get): the link stays usable for the form's POST. */
	r = fb_store_kv_get(st, LINK_NS, key, &v, &n, err);
	if (r == FB_ERR_NOTFOUND) {
		r = fb_err_set(err, FB_ERR_NOTFOUND,
		    "recovery link: unknown, already used or expired");
		goto out;
	}
	if (r != FB_OK)
		goto out;
	if ((r = fb_store_user_get_by_id(st, (const char *)v, &u, err)) != FB_OK) {
		if (r == FB_ERR_NOTFOUND)
			fb_err_set(err, FB_ERR_NOTFOUND, "recovery link: the account is gone");
		goto out;
	}
	if (username != NULL)
		*username = fb_xstrdup(u.username);
out:
	free(v);
	fb_store_user_cleanup(&u);
	return r;
}

enum fb_status
fb_local_recovery_link_consume(const struct fb_conf *conf, struct fb_store *st,
    const char *token, const char *new_password, const char *reqid, char **username,
    struct fb_err *err)
{
	char key[FB_LOCAL_SHA256_HEX];
	char *hash = NULL;
	enum fb_status r;

	if (username != NULL)
		*username = NULL;
	if ((r = link_key(token, key, err)) != FB_OK)
		return r;
	/* A weak password must not burn the link: check and hash before taking it. */
	if ((r = fb_local_password_check(new_password, err)) == FB_OK &&
	    (r = fb_local_password_hash(conf, new_password, &hash, err)) == FB_OK)
		r = fb_local_recovery_link_consume_hash(conf, st, token, hash, reqid, username,
		    err);
	fb_secret_free(hash);
	return r;
}

enum fb_status
fb_local_recovery_link_consume_hash(const struct fb_conf *conf, struct fb_store *st,
    const char *token, const char *password_hash, const char *reqid, char **username,
    struct fb_err *err)
{
	struct fb_store_user u;
	struct fb_store_cred c;
	char key[FB_LOCAL_SHA256_HEX];
	unsigned char *v = NULL;
	size_t n = 0;
	enum fb_status r;

	if (username != NULL)
		*username = NULL;
	memset(&u, 0, sizeof(u));
	memset(&c, 0, sizeof(c));
	if ((r = link_key(token, key, err)) != FB_OK)
		return r;
	/* SECURITY: get and delete in one step: of two racing POSTs one wins. */
	r = fb_store_kv_take(st, LINK_NS, key, &v, &n, err);
	if (r == FB_ERR_NOTFOUND) {
		fb_local_audit(reqid, "recovery_link_refused", NULL, NULL,
		    "recovery link unknown, already used or expired");
		r = fb_err_set(err, FB_ERR_NOTFOUND,
		    "recovery link: unknown, already used or expired");
		goto out;
	}
	if (r != FB_OK)
		goto out;
	if ((r = fb_local_lookup(st, (const char *)v, 0, &u, &c, err)) != FB_OK)
		goto out;
	if (!u.active) {
		fb_local_audit(reqid, "recovery_link_refused", u.username, NULL,
		    "recovery link of a disabled account");
		r = fb_err_set(err, FB_ERR_DENIED, "user %s is disabled", u.username);
		goto out;
	}
	/* SECURITY: whoever knew the old password loses the sessions it opened. */
	if ((r = fb_store_cred_password_set(st, u.id, password_hash, err)) != FB_OK ||
	    (r = fb_store_cred_sessions_revoke(st, u.id, err)) != FB_OK ||
	    (r = fb_local_lockout_reset(conf, st, u.username, reqid, err)) != FB_OK)
		goto out;
	fb_local_audit(reqid, "password_recovered", u.username, NULL,
	    "password set through a recovery link; every session of the account ended");
	if (username != NULL)
		*username = fb_xstrdup(u.username);
out:
	free(v);
	fb_store_user_cleanup(&u);
	fb_store_cred_cleanup(&c);
	return r;
}

enum fb_status
fb_local_recovery_link_mail(const struct fb_conf *conf, struct fb_store *st,
    const char *username, const char *reqid, char **to, struct fb_err *err)
{
	struct fb_local_account a;
	char *url = NULL, *subject = NULL, *body = NULL;
	const char *org = conf->org_name != NULL ? conf->org_name : "fedbroker";
	enum fb_status r;

	if (to != NULL)
		*to = NULL;
	if (conf->smtp_host == NULL || conf->smtp_host[0] == '\0')
		return fb_err_set(err, FB_ERR_CONFIG,
		    "email is off: smtp.host is not set (print the link instead)");
	if ((r = fb_local_account_get(st, username, &a, err)) != FB_OK)
		return r;
	if (a.email == NULL) {
		r = fb_err_set(err, FB_ERR_INVALID,
		    "user %s has no email address (print the link instead)", username);
		goto out;
	}
	if ((r = fb_local_recovery_link_new(conf, st, username, reqid, &url, err)) != FB_OK)
		goto out;
	subject = fb_xasprintf("%s: set a new password", org);
	body = fb_xasprintf("Hello %s,\n\n"
			    "to set a new password for your %s account \"%s\", open this link:\n\n"
			    "%s\n\n"
			    "The link works once and expires in %lld minutes. If you did not ask "
			    "for it, ignore this message: your password stays as it is.\n",
	    a.name != NULL ? a.name : a.username, org, a.username, url,
	    (long long)(conf->recovery_lifetime / 60));
	if ((r = fb_net_mail_send(conf, a.email, subject, body, err)) != FB_OK)
		goto out;
	fb_local_audit(reqid, "recovery_link_mailed", username, NULL, "recovery link emailed");
	if (to != NULL)
		*to = fb_xstrdup(a.email);
out:
	fb_secret_free(url);
	free(subject);
	fb_secret_free(body);
	fb_local_account_cleanup(&a);
	return r;
}
