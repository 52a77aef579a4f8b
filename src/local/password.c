/* SPDX-License-Identifier: Apache-2.0 */
/* local/password.c: the password policy and argon2id hashing (libargon2). */
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>

#include <argon2.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "local/local.h"
#include "local/internal.h"

#define SALT_BYTES 16
#define TAG_BYTES 32

enum fb_status
fb_local_password_check(const char *password, struct fb_err *err)
{
	size_t n;

	if (password == NULL || password[0] == '\0')
		return fb_err_set(err, FB_ERR_INVALID, "the password is empty");
	n = strnlen(password, FB_LOCAL_PASSWORD_MAX + 1);
	if (n > FB_LOCAL_PASSWORD_MAX)
		return fb_err_set(err, FB_ERR_INVALID, "the password is longer than %d bytes",
		    FB_LOCAL_PASSWORD_MAX);
	if (fb_utf8_check(password, n) == 0)
		return fb_err_set(err, FB_ERR_INVALID, "the password is not valid UTF-8");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)password[i] < 0x20 || password[i] == 0x7f)
			return fb_err_set(err, FB_ERR_INVALID,
			    "the password contains a control character (a pasted line break?)");
	if (fb_utf8_len(password, n) < FB_LOCAL_PASSWORD_MIN)
		return fb_err_set(err, FB_ERR_INVALID,
		    "the password is too weak: it has %zu characters; use at least %d (a "
		    "passphrase of several words is easy to remember)",
		    fb_utf8_len(password, n), FB_LOCAL_PASSWORD_MIN);
	return FB_OK;
}

/* Hashes with an explicit cost; the encoded form in *out (new). */
static enum fb_status
hash_with(uint32_t t, uint32_t m, uint32_t p, const char *password, char **out,
    struct fb_err *err)
{
	unsigned char salt[SALT_BYTES];
	size_t elen = argon2_encodedlen(t, m, p, SALT_BYTES, TAG_BYTES, Argon2_id);
	char *enc = fb_xmalloc(elen);
	int rc;

	*out = NULL;
	fb_rand_bytes(salt, sizeof(salt));
	rc = argon2id_hash_encoded(t, m, p, password, strlen(password), salt, sizeof(salt),
	    TAG_BYTES, enc, elen);
	if (rc != ARGON2_OK) {
		free(enc);
		return fb_err_set(err, FB_ERR_INTERNAL,
		    "argon2id (t=%u, m=%u KiB, p=%u) failed: %s", (unsigned)t, (unsigned)m,
		    (unsigned)p, argon2_error_message(rc));
	}
	*out = enc;
	return FB_OK;
}

enum fb_status
fb_local_password_hash(const struct fb_conf *conf, const char *password, char **out,
    struct fb_err *err)
{
	*out = NULL;
	if (password == NULL || strnlen(password, FB_LOCAL_PASSWORD_MAX + 1) > FB_LOCAL_PASSWORD_MAX)
		return fb_err_set(err, FB_ERR_INVALID, "the password is missing or longer than %d "
						       "bytes",
		    FB_LOCAL_PASSWORD_MAX);
	return hash_with(conf->argon2_t_cost, conf->argon2_m_cost_kib, conf->argon2_parallelism,
	    password, out, err);
}

enum fb_status
fb_local_password_verify(const char *encoded, const char *password, struct fb_err *err)
{
	int rc;

	if (password == NULL || strnlen(password, FB_LOCAL_PASSWORD_MAX + 1) > FB_LOCAL_PASSWORD_MAX)
		return fb_err_set(err, FB_ERR_INVALID, "the password is missing or longer than %d "
						       "bytes",
		    FB_LOCAL_PASSWORD_MAX);
	if (encoded == NULL || strncmp(encoded, "$argon2id$", 10) != 0)
		return fb_err_set(err, FB_ERR_INVALID, "the stored hash is not an argon2id hash");
	/* SECURITY: libargon2 compares the tags in constant time. */
	rc = argon2id_verify(encoded, password, strlen(password));
	if (rc == ARGON2_OK)
		return FB_OK;
	if (rc == ARGON2_VERIFY_MISMATCH)
		return fb_err_set(err, FB_ERR_DENIED, "wrong password");
	return fb_err_set(err, FB_ERR_INVALID, "the stored argon2id hash is unusable: %s",
	    argon2_error_message(rc));
}

char *
fb_local_password_generate(void)
{
	/* 18 bytes are 24 base64url characters: 144 bits, more than the policy asks. */
	return fb_rand_token(18);
}

/*
 * The dummy hash of this process, remade when the configured cost changes
 * (a reload). Each worker has its own; nothing secret is in it. The lock
 * guards it: sign-ins verify on the worker's CPU threads.
 */
static pthread_mutex_t dummy_mu = PTHREAD_MUTEX_INITIALIZER;
static char *dummy_hash;
static uint32_t dummy_t, dummy_m, dummy_p;

void
fb_local_password_dummy(const struct fb_conf *conf, const char *password)
{
	char *random = NULL, *copy = NULL;

	pthread_mutex_lock(&dummy_mu);
	if (dummy_hash == NULL || dummy_t != conf->argon2_t_cost ||
	    dummy_m != conf->argon2_m_cost_kib || dummy_p != conf->argon2_parallelism) {
		free(dummy_hash);
		dummy_hash = NULL;
		random = fb_rand_token(18);
		if (fb_local_password_hash(conf, random, &dummy_hash, NULL) == FB_OK) {
			dummy_t = conf->argon2_t_cost;
			dummy_m = conf->argon2_m_cost_kib;
			dummy_p = conf->argon2_parallelism;
		}
		fb_secret_free(random);
	}
	if (dummy_hash != NULL)
		copy = fb_xstrdup(dummy_hash);
	pthread_mutex_unlock(&dummy_mu);
	/* The answer is always "no": the random password is not known to anyone. */
	if (copy != NULL)
		(void)fb_local_password_verify(copy, password != NULL ? password : "", NULL);
	free(copy);
}

int
fb_local_password_stale(const struct fb_conf *conf, const char *encoded)
{
	char want[96];

	snprintf(want, sizeof(want), "$argon2id$v=%d$m=%u,t=%u,p=%u$", ARGON2_VERSION_NUMBER,
	    (unsigned)conf->argon2_m_cost_kib, (unsigned)conf->argon2_t_cost,
	    (unsigned)conf->argon2_parallelism);
	return strncmp(encoded, want, strlen(want)) != 0;
}

enum fb_status
fb_local_password_set(const struct fb_conf *conf, struct fb_store *st, const char *username,
    const char *password, const char *reqid, struct fb_err *err)
{
	struct fb_store_user u;
	struct fb_store_cred c;
	char *hash = NULL;
	enum fb_status r;

	if ((r = fb_local_password_check(password, err)) != FB_OK)
		return r;
	if ((r = fb_local_lookup(st, username, 1, &u, &c, err)) != FB_OK)
		return r;
	if ((r = fb_local_password_hash(conf, password, &hash, err)) != FB_OK ||
	    (r = fb_store_cred_password_set(st, u.id, hash, err)) != FB_OK ||
	    (r = fb_store_cred_sessions_revoke(st, u.id, err)) != FB_OK)
		goto out;
	fb_local_audit(reqid, "password_changed", username, NULL,
	    "password set; every session of the account ended");
out:
	fb_secret_free(hash);
	fb_store_user_cleanup(&u);
	fb_store_cred_cleanup(&c);
	return r;
}

/* ---- a person changing their own password ---------------------------------- */

enum fb_status
fb_local_password_change_begin(const struct fb_conf *conf, struct fb_store *st,
    const char *username, const char *current, const char *next, const char *client_addr,
    const char *reqid, struct fb_local_pwchange *c, struct fb_err *err)
{
	struct fb_store_user u;
	struct fb_store_cred cr;
	enum fb_status r;

	memset(c, 0, sizeof(*c));
	c->conf = conf;
	c->client_addr = client_addr;
	c->reqid = reqid;
	c->verified = c->hashed = FB_ERR_INTERNAL;
	if ((r = fb_local_password_check(next, err)) != FB_OK)
		return r;
	if (current == NULL || strlen(current) > FB_LOCAL_PASSWORD_MAX)
		return fb_err_set(err, FB_ERR_INVALID, "the current password is missing or too long");
	r = fb_local_lockout_check(conf, st, username, client_addr, &c->retry_after, err);
	if (r != FB_OK)
		return r;
	if ((r = fb_local_lookup(st, username, 1, &u, &cr, err)) != FB_OK)
		return r;
	c->username = fb_xstrdup(username);
	c->user_id = fb_xstrdup(u.id);
	c->stored = cr.password_hash != NULL ? fb_xstrdup(cr.password_hash) : NULL;
	c->current = fb_xstrdup(current);
	c->next = fb_xstrdup(next);
	fb_store_user_cleanup(&u);
	fb_store_cred_cleanup(&cr);
	return FB_OK;
}

void
fb_local_password_change_work(struct fb_local_pwchange *c)
{
	char *dummy = NULL;

	fb_err_clear(&c->werr);
	if (c->stored != NULL) {
		c->verified = fb_local_password_verify(c->stored, c->current, &c->werr);
	} else {
		/* No password to compare with: take the time a wrong one takes, then refuse. */
		if (fb_local_password_hash(c->conf, c->current, &dummy, &c->werr) == FB_OK)
			fb_local_password_verify(dummy, "-", NULL);
		fb_secret_free(dummy);
		c->verified = FB_ERR_DENIED;
	}
	if (c->verified == FB_OK)
		c->hashed = fb_local_password_hash(c->conf, c->next, &c->hash, &c->werr);
}

enum fb_status
fb_local_password_change_end(struct fb_store *st, struct fb_local_pwchange *c, int64_t *gen,
    struct fb_err *err)
{
	struct fb_store_cred cr;
	enum fb_status r;

	*gen = -1;
	if (c->verified == FB_ERR_DENIED) {
		if ((r = fb_local_lockout_fail(c->conf, st, c->username, c->client_addr,
			 "wrong_current_password", c->reqid, NULL, err)) != FB_OK)
			return r;
		fb_local_audit(c->reqid, "password_change_refused", c->username, c->client_addr,
		    "the current password is wrong; nothing changed");
		return fb_err_set(err, FB_ERR_DENIED, "the current password is wrong");
	}
	if (c->verified != FB_OK) {
		if (err != NULL)
			*err = c->werr;
		return c->verified;
	}
	if (c->hashed != FB_OK) {
		if (err != NULL)
			*err = c->werr;
		return c->hashed;
	}
	/* SECURITY: the new generation ends every session, the stolen ones too. */
	if ((r = fb_store_cred_password_set(st, c->user_id, c->hash, err)) != FB_OK ||
	    (r = fb_store_cred_sessions_revoke(st, c->user_id, err)) != FB_OK ||
	    (r = fb_store_cred_get(st, c->user_id, &cr, err)) != FB_OK)
		return r;
	*gen = cr.session_gen;
	fb_store_cred_cleanup(&cr);
	fb_local_audit(c->reqid, "password_changed", c->username, c->client_addr,
	    "password changed by its owner; every other session of the account ended");
	return FB_OK;
}

void
fb_local_password_change_cleanup(struct fb_local_pwchange *c)
{
	if (c == NULL)
		return;
	free(c->username);
	free(c->user_id);
	fb_secret_free(c->stored);
	fb_secret_free(c->current);
	fb_secret_free(c->next);
	fb_secret_free(c->hash);
	memset(c, 0, sizeof(*c));
}
