/* SPDX-License-Identifier: Apache-2.0 */
/* local/token.c: API tokens: "fbt_<id>_<secret>", stored as SHA-256 only. */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "store/store.h"
#include "local/local.h"
#include "local/internal.h"

/* Hex digits of a token id, and random bytes of the secret part (43 base64url characters). */
#define ID_HEX 16
#define SECRET_BYTES 32
#define PREFIX_LEN (sizeof(FB_LOCAL_TOKEN_PREFIX) - 1)
/* Shortest secret accepted from elsewhere (the configured bootstrap token). */
#define IMPORT_MIN 16

static int
is_hex_lower(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/*
 * The id of a presented secret into id (ID_HEX + 1): the hex after
 * "fbt_" when it has our form, else the start of its SHA-256 (an imported
 * secret).
 */
static void
token_id_of(const char *secret, size_t n, char id[ID_HEX + 1])
{
	char h[FB_LOCAL_SHA256_HEX];

	if (n > PREFIX_LEN + ID_HEX + 1 &&
	    strncmp(secret, FB_LOCAL_TOKEN_PREFIX, PREFIX_LEN) == 0 &&
	    is_hex_lower(secret + PREFIX_LEN, ID_HEX) && secret[PREFIX_LEN + ID_HEX] == '_') {
		memcpy(id, secret + PREFIX_LEN, ID_HEX);
	} else {
		fb_local_sha256_hex(secret, n, h);
		memcpy(id, h, ID_HEX);
	}
	id[ID_HEX] = '\0';
}

/* Stores a token for username with the given secret. */
static enum fb_status
token_store(struct fb_store *st, const char *username, const char *secret, const char *id,
    const char *description, int64_t expires_at, const char *reqid, struct fb_err *err)
{
	struct fb_store_user u;
	struct fb_store_cred c;
	struct fb_store_token t;
	char hash[FB_LOCAL_SHA256_HEX];
	enum fb_status r;

	if ((r = fb_local_lookup(st, username, 1, &u, &c, err)) != FB_OK)
		return r;
	if (!u.active) {
		r = fb_err_set(err, FB_ERR_DENIED, "user %s is disabled", username);
		goto out;
	}
	if (expires_at != 0 && expires_at <= fb_time_now()) {
		r = fb_err_set(err, FB_ERR_INVALID, "the expiry is in the past");
		goto out;
	}
	fb_local_sha256_hex(secret, strlen(secret), hash);
	memset(&t, 0, sizeof(t));
	t.id = (char *)id;
	t.user_id = u.id;
	t.secret_hash = hash;
	t.description = (char *)description;
	t.expires_at = expires_at;
	if ((r = fb_store_token_add(st, &t, err)) != FB_OK)
		goto out;
	fb_local_audit_fields(reqid, "token_created", username, NULL,
	    FB_LOG_FIELDS(FB_LOG_STR("token_id", id), FB_LOG_INT("expires_at", expires_at)),
	    "API token created%s", expires_at != 0 ? "" : " (no expiry)");
out:
	fb_store_user_cleanup(&u);
	fb_store_cred_cleanup(&c);
	return r;
}

enum fb_status
fb_local_token_create(struct fb_store *st, const char *username, const char *description,
    int64_t expires_at, const char *reqid, char **secret, char **id, struct fb_err *err)
{
	unsigned char rid[ID_HEX / 2];
	char idhex[ID_HEX + 1], *rnd = NULL, *s = NULL;
	enum fb_status r;

	*secret = NULL;
	if (id != NULL)
		*id = NULL;
	fb_rand_bytes(rid, sizeof(rid));
	fb_hex_encode(rid, sizeof(rid), idhex);
	rnd = fb_rand_token(SECRET_BYTES);
	s = fb_xasprintf("%s%s_%s", FB_LOCAL_TOKEN_PREFIX, idhex, rnd);
	fb_secret_free(rnd);
	if ((r = token_store(st, username, s, idhex, description, expires_at, reqid, err)) !=
	    FB_OK) {
		fb_secret_free(s);
		return r;
	}
	*secret = s;
	if (id != NULL)
		*id = fb_xstrdup(idhex);
	return FB_OK;
}

enum fb_status
fb_local_token_import(struct fb_store *st, const char *username, const char *secret,
    const char *description, int64_t expires_at, const char *reqid, char **id,
    struct fb_err *err)
{
	char idhex[ID_HEX + 1];
	size_t n;
	enum fb_status r;

	if (id != NULL)
		*id = NULL;
	n = secret != NULL ? strnlen(secret, FB_LOCAL_TOKEN_MAX + 1) : 0;
	if (n < IMPORT_MIN || n > FB_LOCAL_TOKEN_MAX)
		return fb_err_set(err, FB_ERR_INVALID, "an API token must be %d..%d bytes long",
		    IMPORT_MIN, FB_LOCAL_TOKEN_MAX);
	token_id_of(secret, n, idhex);
	if ((r = token_store(st, username, secret, idhex, description, expires_at, reqid, err)) !=
	    FB_OK)
		return r;
	if (id != NULL)
		*id = fb_xstrdup(idhex);
	return FB_OK;
}

enum fb_status
fb_local_token_verify(struct fb_store *st, const char *secret, struct fb_store_token *out,
    struct fb_err *err)
{
	struct fb_store_token t;
	struct fb_store_user u;
	char id[ID_HEX + 1], hash[FB_LOCAL_SHA256_HEX];
	size_t n;
	enum fb_status r;

	memset(&t, 0, sizeof(t));
	memset(&u, 0, sizeof(u));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	n = secret != NULL ? strnlen(secret, FB_LOCAL_TOKEN_MAX + 1) : 0;
	if (n == 0 || n > FB_LOCAL_TOKEN_MAX)
		return fb_err_set(err, FB_ERR_INVALID, "API token: missing or longer than %d bytes",
		    FB_LOCAL_TOKEN_MAX);
	token_id_of(secret, n, id);
	fb_local_sha256_hex(secret, n, hash);
	r = fb_store_token_get(st, id, &t, err);
	if (r == FB_ERR_NOTFOUND) {
		r = fb_err_set(err, FB_ERR_DENIED, "API token %s: unknown", id);
		goto out;
	}
	if (r != FB_OK)
		goto out;
	/* SECURITY: the hash comparison takes the same time wherever the first difference is. */
	if (strlen(t.secret_hash) != FB_LOCAL_SHA256_HEX - 1 ||
	    fb_memeq_ct(t.secret_hash, hash, FB_LOCAL_SHA256_HEX - 1) != 0) {
		r = fb_err_set(err, FB_ERR_DENIED, "API token %s: wrong secret", id);
		goto out;
	}
	if (t.revoked_at != 0) {
		r = fb_err_set(err, FB_ERR_DENIED, "API token %s: revoked", id);
		goto out;
	}
	if (t.expires_at != 0 && fb_time_now() >= t.expires_at) {
		r = fb_err_set(err, FB_ERR_EXPIRED, "API token %s: expired", id);
		goto out;
	}
	if ((r = fb_store_user_get_by_id(st, t.user_id, &u, err)) != FB_OK)
		goto out;
	if (!u.active) {
		r = fb_err_set(err, FB_ERR_DENIED, "API token %s: user %s is disabled", id,
		    u.username);
		goto out;
	}
	if (out != NULL) {
		*out = t;
		memset(&t, 0, sizeof(t)); /* transferred */
	}
	r = FB_OK;
out:
	fb_store_token_cleanup(&t);
	fb_store_user_cleanup(&u);
	return r;
}

enum fb_status
fb_local_token_revoke(struct fb_store *st, const char *id, const char *reqid,
    struct fb_err *err)
{
	struct fb_store_token t;
	enum fb_status r;

	if ((r = fb_store_token_get(st, id, &t, err)) != FB_OK)
		return r;
	if ((r = fb_store_token_revoke(st, id, err)) == FB_OK)
		fb_local_audit_fields(reqid, "token_revoked", t.username, NULL,
		    FB_LOG_FIELDS(FB_LOG_STR("token_id", id)), "API token revoked%s",
		    t.revoked_at != 0 ? " (it was revoked already)" : "");
	fb_store_token_cleanup(&t);
	return r;
}
