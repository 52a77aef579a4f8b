/* SPDX-License-Identifier: Apache-2.0 */
/* local/totp.c: RFC 6238 TOTP: codes, base32, the otpauth:// URI, enrolment and the second step. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "local/local.h"
#include "local/internal.h"

/* Sealing purposes: the stored secret, and the secret of an enrolment in progress. */
#define PURPOSE_STORED "totp"
#define PURPOSE_PENDING "totp-enrol"

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

uint32_t
fb_local_hotp(const unsigned char *key, size_t keylen, uint64_t counter, int digits)
{
	unsigned char msg[8], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint32_t bin, mod = 1;
	int off;

	for (int i = 7; i >= 0; i--) {
		msg[i] = (unsigned char)(counter & 0xff);
		counter >>= 8;
	}
	if (HMAC(EVP_sha1(), key, (int)keylen, msg, sizeof(msg), md, &mdlen) == NULL ||
	    mdlen != 20) {
		fb_log(FB_LOG_ERROR, "HMAC-SHA-1 failed");
		abort();
	}
	/* RFC 4226 5.3: dynamic truncation. */
	off = md[19] & 0x0f;
	bin = ((uint32_t)(md[off] & 0x7f) << 24) | ((uint32_t)md[off + 1] << 16) |
	      ((uint32_t)md[off + 2] << 8) | (uint32_t)md[off + 3];
	for (int i = 0; i < digits && i < 9; i++)
		mod *= 10;
	fb_secret_wipe(md, sizeof(md));
	return bin % mod;
}

int64_t
fb_local_totp_step(int64_t t)
{
	/* Floor division, so times before the epoch (tests) step down too. */
	if (t >= 0)
		return t / FB_LOCAL_TOTP_PERIOD;
	return -((-t + FB_LOCAL_TOTP_PERIOD - 1) / FB_LOCAL_TOTP_PERIOD);
}

/* The code without spaces into out (FB_LOCAL_TOTP_DIGITS + 1); -1 when not 6 digits. */
static int
code_normalize(const char *code, char *out)
{
	size_t n = 0;

	if (code == NULL)
		return -1;
	for (size_t i = 0; code[i] != '\0' && i < 64; i++) {
		if (code[i] == ' ')
			continue;
		if (code[i] < '0' || code[i] > '9' || n == FB_LOCAL_TOTP_DIGITS)
			return -1;
		out[n++] = code[i];
	}
	out[n] = '\0';
	return n == FB_LOCAL_TOTP_DIGITS && strlen(code) < 64 ? 0 : -1;
}

enum fb_status
fb_local_totp_match(const unsigned char *key, size_t keylen, const char *code, int64_t now,
    int64_t *step, struct fb_err *err)
{
	char want[FB_LOCAL_TOTP_DIGITS + 1], got[16];
	int64_t base = fb_local_totp_step(now), found = 0;
	int matched = 0;

	*step = 0;
	if (code_normalize(code, got) != 0)
		return fb_err_set(err, FB_ERR_INVALID, "the code is not %d digits",
		    FB_LOCAL_TOTP_DIGITS);
	/* SECURITY: every candidate is computed and compared, in constant time. */
	for (int64_t d = -FB_LOCAL_TOTP_DRIFT; d <= FB_LOCAL_TOTP_DRIFT; d++) {
		uint32_t v = fb_local_hotp(key, keylen, (uint64_t)(base + d), FB_LOCAL_TOTP_DIGITS);
		int eq;

		snprintf(want, sizeof(want), "%0*u", FB_LOCAL_TOTP_DIGITS, (unsigned)v);
		eq = fb_memeq_ct(want, got, FB_LOCAL_TOTP_DIGITS) == 0;
		/* The latest matching step wins (steps of one code cannot repeat in the window). */
		found = eq ? base + d : found;
		matched |= eq;
	}
	fb_secret_wipe(want, sizeof(want));
	if (!matched)
		return fb_err_set(err, FB_ERR_DENIED, "wrong code");
	*step = found;
	return FB_OK;
}

char *
fb_local_base32_encode(const unsigned char *p, size_t n)
{
	char *out = fb_xmalloc((n * 8 + 4) / 5 + 1);
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | p[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32_alphabet[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
	out[o] = '\0';
	return out;
}

enum fb_status
fb_local_base32_decode(const char *s, unsigned char **out, size_t *outlen, struct fb_err *err)
{
	size_t n = strlen(s), o = 0, chars = 0;
	unsigned char *buf = fb_xmalloc(n * 5 / 8 + 1);
	uint32_t acc = 0;
	int bits = 0;

	*out = NULL;
	*outlen = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		const char *pos;

		if (c == ' ' || c == '=')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c == '\0' || (pos = strchr(b32_alphabet, c)) == NULL) {
			free(buf);
			return fb_err_set(err, FB_ERR_INVALID,
			    "base32: character %zu is not in the RFC 4648 alphabet", i + 1);
		}
		acc = (acc << 5) | (uint32_t)(pos - b32_alphabet);
		bits += 5;
		chars++;
		if (bits >= 8) {
			buf[o++] = (unsigned char)((acc >> (bits - 8)) & 0xff);
			bits -= 8;
		}
	}
	/* Valid lengths leave 0, 2, 4, 1 or 3 spare characters' bits: 1, 3, 6 chars mod 8 cannot occur. */
	if (chars % 8 == 1 || chars % 8 == 3 || chars % 8 == 6) {
		free(buf);
		return fb_err_set(err, FB_ERR_INVALID, "base32: %zu characters is not a valid length",
		    chars);
	}
	*out = buf;
	*outlen = o;
	return FB_OK;
}

/* Appends s percent-encoded (RFC 3986: unreserved characters kept). */
static void
pct_append(struct fb_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL) {
			fb_buf_add(b, p, 1, NULL);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};

			fb_buf_add(b, e, 3, NULL);
		}
	}
}

char *
fb_local_totp_uri(const struct fb_conf *conf, const char *username, const unsigned char *key,
    size_t keylen)
{
	const char *issuer = conf->org_name != NULL ? conf->org_name : "fedbroker";
	char *secret = fb_local_base32_encode(key, keylen);
	struct fb_buf b;

	fb_buf_init(&b, 1 << 20);
	fb_buf_addf(&b, NULL, "otpauth://totp/");
	/* The label is issuer:account; the colon itself stays literal. */
	pct_append(&b, issuer);
	fb_buf_addf(&b, NULL, ":");
	pct_append(&b, username);
	fb_buf_addf(&b, NULL, "?secret=%s&issuer=", secret);
	pct_append(&b, issuer);
	fb_buf_addf(&b, NULL, "&algorithm=SHA1&digits=%d&period=%d", FB_LOCAL_TOTP_DIGITS,
	    FB_LOCAL_TOTP_PERIOD);
	fb_secret_free(secret);
	return fb_buf_take(&b);
}

/* The secret grouped by four characters for typing. New. */
static char *
secret_grouped(const unsigned char *key, size_t keylen)
{
	char *plain = fb_local_base32_encode(key, keylen);
	size_t n = strlen(plain), o = 0;
	char *out = fb_xmalloc(n + n / 4 + 1);

	for (size_t i = 0; i < n; i++) {
		if (i != 0 && i % 4 == 0)
			out[o++] = ' ';
		out[o++] = plain[i];
	}
	out[o] = '\0';
	fb_secret_free(plain);
	return out;
}

/* payload = user_id NUL secret; sealed for purpose. */
static enum fb_status
seal_secret(const struct fb_sealer *sealer, const char *purpose, const char *user_id,
    const unsigned char *key, size_t keylen, int64_t expires_at, char **out,
    struct fb_err *err)
{
	size_t idlen = strlen(user_id), n = idlen + 1 + keylen;
	unsigned char *p = fb_xmalloc(n);
	enum fb_status r;

	memcpy(p, user_id, idlen + 1);
	memcpy(p + idlen + 1, key, keylen);
	r = fb_crypto_seal(sealer, purpose, p, n, expires_at, out, err);
	fb_secret_wipe(p, n);
	free(p);
	return r;
}

/*
 * Opens a sealed secret and checks it belongs to user_id: the key in *key
 * (new, FB_LOCAL_TOTP_SECRET_BYTES; wipe and free). SECURITY: a secret
 * copied to another user's row, or a pending token of another user, is
 * FB_ERR_SIGNATURE.
 */
static enum fb_status
open_secret(const struct fb_sealer *sealer, const char *purpose, const char *user_id,
    const char *sealed, unsigned char **key, struct fb_err *err)
{
	unsigned char *p = NULL;
	size_t n = 0, idlen = strlen(user_id);
	enum fb_status r;

	*key = NULL;
	if ((r = fb_crypto_unseal(sealer, purpose, sealed, &p, &n, err)) != FB_OK)
		return r;
	if (n != idlen + 1 + FB_LOCAL_TOTP_SECRET_BYTES || memcmp(p, user_id, idlen + 1) != 0) {
		r = fb_err_set(err, FB_ERR_SIGNATURE, "the TOTP secret was made for another user");
		goto out;
	}
	*key = fb_xmalloc(FB_LOCAL_TOTP_SECRET_BYTES);
	memcpy(*key, p + idlen + 1, FB_LOCAL_TOTP_SECRET_BYTES);
	r = FB_OK;
out:
	fb_secret_wipe(p, n);
	free(p);
	return r;
}

static void
key_free(unsigned char *key)
{
	if (key != NULL) {
		fb_secret_wipe(key, FB_LOCAL_TOTP_SECRET_BYTES);
		free(key);
	}
}

enum fb_status
fb_local_totp_enrol_begin(const struct fb_conf *conf, const struct fb_sealer *sealer,
    const char *user_id, const char *username, struct fb_local_totp_enrolment *out,
    struct fb_err *err)
{
	unsigned char key[FB_LOCAL_TOTP_SECRET_BYTES];
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	fb_rand_bytes(key, sizeof(key));
	out->secret = secret_grouped(key, sizeof(key));
	out->uri = fb_local_totp_uri(conf, username, key, sizeof(key));
	if ((r = fb_local_qr_svg(out->uri, &out->qr_svg, err)) != FB_OK ||
	    (r = seal_secret(sealer, PURPOSE_PENDING, user_id, key, sizeof(key),
		 fb_time_now() + FB_LOCAL_TOTP_ENROL_LIFETIME, &out->pending, err)) != FB_OK)
		fb_local_totp_enrolment_cleanup(out);
	fb_secret_wipe(key, sizeof(key));
	return r;
}

enum fb_status
fb_local_totp_enrol_finish(const struct fb_conf *conf, struct fb_store *st,
    const struct fb_sealer *sealer, const char *user_id, const char *pending, const char *code,
    const char *reqid, struct fb_err *err)
{
	struct fb_store_user u;
	struct fb_store_cred c;
	unsigned char *key = NULL;
	char *sealed = NULL;
	int64_t step;
	enum fb_status r;

	if ((r = fb_local_lookup(st, user_id, 0, &u, &c, err)) != FB_OK)
		return r;
	if (pending == NULL || strlen(pending) > FB_CRYPTO_TOKEN_MAX) {
		r = fb_err_set(err, FB_ERR_INVALID, "the enrolment token is missing or too long");
		goto out;
	}
	if ((r = open_secret(sealer, PURPOSE_PENDING, u.id, pending, &key, err)) != FB_OK)
		goto out;
	if ((r = fb_local_totp_match(key, FB_LOCAL_TOTP_SECRET_BYTES, code, fb_time_now(), &step,
		 err)) != FB_OK) {
		fb_local_audit(reqid, "mfa_enrol_failed", u.username, NULL,
		    "TOTP enrolment: %s", r == FB_ERR_DENIED ? "wrong code" : "malformed code");
		goto out;
	}
	/* The stored secret does not expire; it lives as long as the sealing key does. */
	if ((r = seal_secret(sealer, PURPOSE_STORED, u.id, key, FB_LOCAL_TOTP_SECRET_BYTES,
		 INT64_MAX, &sealed, err)) != FB_OK ||
	    (r = fb_store_cred_totp_set(st, u.id, sealed, step, err)) != FB_OK)
		goto out;
	fb_local_audit(reqid, "mfa_enrolled", u.username, NULL, "TOTP enrolled");
out:
	key_free(key);
	fb_secret_free(sealed);
	fb_store_user_cleanup(&u);
	fb_store_cred_cleanup(&c);
	return r;
}

void
fb_local_totp_enrolment_cleanup(struct fb_local_totp_enrolment *e)
{
	if (e == NULL)
		return;
	fb_secret_free(e->secret);
	fb_secret_free(e->uri);
	free(e->qr_svg);
	fb_secret_free(e->pending);
	memset(e, 0, sizeof(*e));
}

/*
 * The account for a second step: FB_OK with u and c filled, or FB_OK with
 * out->result set to REJECTED (unknown, not local, disabled) or LOCKED.
 */
static enum fb_status
second_step_begin(const struct fb_conf *conf, struct fb_store *st, const char *user_id,
    const char *client_addr, const char *what, const char *reqid, struct fb_store_user *u,
    struct fb_store_cred *c, struct fb_local_attempt *out, struct fb_err *err)
{
	int64_t retry = 0;
	struct fb_err lerr;
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	out->result = FB_LOCAL_REJECTED;
	r = user_id != NULL ? fb_local_lookup(st, user_id, 0, u, c, err) : FB_ERR_NOTFOUND;
	if (r == FB_ERR_NOTFOUND) {
		memset(u, 0, sizeof(*u));
		memset(c, 0, sizeof(*c));
		fb_local_audit(reqid, "login_failed", NULL, client_addr,
		    "%s for an unknown account", what);
		return FB_OK;
	}
	if (r != FB_OK)
		return r;
	if (!u->active) {
		fb_local_audit(reqid, "login_disabled", u->username, client_addr,
		    "%s for a disabled account", what);
		out->result = FB_LOCAL_DISABLED;
		return FB_OK;
	}
	fb_err_clear(&lerr);
	r = fb_local_lockout_check(conf, st, u->username, client_addr, &retry, &lerr);
	if (r == FB_ERR_LIMIT) {
		out->result = FB_LOCAL_LOCKED;
		out->retry_after = retry;
		fb_local_audit(reqid, "login_locked", u->username, client_addr,
		    "%s refused without checking it: %s", what, lerr.msg);
		return FB_OK;
	}
	if (r != FB_OK && err != NULL)
		*err = lerr;
	if (r == FB_OK)
		out->result = FB_LOCAL_ACCEPTED; /* provisional: the caller checks the code */
	return r;
}

enum fb_status
fb_local_totp_signin(const struct fb_conf *conf, struct fb_store *st,
    const struct fb_sealer *sealer, const char *user_id, const char *code,
    const char *client_addr, const char *reqid, struct fb_local_attempt *out,
    struct fb_err *err)
{
	struct fb_store_user u;
	struct fb_store_cred c;
	unsigned char *key = NULL;
	int64_t step = 0, retry = 0;
	enum fb_status r;

	r = second_step_begin(conf, st, user_id, client_addr, "TOTP code", reqid, &u, &c, out,
	    err);
	if (r != FB_OK || out->result != FB_LOCAL_ACCEPTED)
		goto out;
	out->result = FB_LOCAL_REJECTED;
	if (c.totp_secret == NULL) {
		r = fb_local_lockout_fail(conf, st, u.username, client_addr, "no_totp", reqid,
		    &retry, err);
		goto out;
	}
	if ((r = open_secret(sealer, PURPOSE_STORED, u.id, c.totp_secret, &key, err)) != FB_OK) {
		fb_err_prefix(err, "user %s: the stored TOTP secret cannot be opened (reset the "
				   "user's MFA if the cookie keys changed)",
		    u.username);
		goto out;
	}
	r = fb_local_totp_match(key, FB_LOCAL_TOTP_SECRET_BYTES, code, fb_time_now(), &step,
	    NULL);
	if (r != FB_OK) {
		r = fb_local_lockout_fail(conf, st, u.username, client_addr,
		    r == FB_ERR_INVALID ? "malformed_totp" : "wrong_totp", reqid, &retry, err);
		goto out;
	}
	/* SECURITY: RFC 6238 5.2: the step is recorded atomically, so a code works once. */
	r = fb_store_cred_totp_accept(st, u.id, step, err);
	if (r == FB_ERR_REPLAY) {
		out->result = FB_LOCAL_REPLAYED;
		fb_local_audit(reqid, "login_totp_replayed", u.username, client_addr,
		    "TOTP code of a time step already used");
		r = fb_local_lockout_fail(conf, st, u.username, client_addr, "replayed_totp", reqid,
		    &retry, err);
		goto out;
	}
	if (r != FB_OK)
		goto out;
	if ((r = fb_local_account_fill(st, &u, &c, &out->account, err)) != FB_OK)
		goto out;
	out->result = FB_LOCAL_ACCEPTED;
	fb_local_audit(reqid, "login_totp_ok", u.username, client_addr, "TOTP code accepted");
out:
	if (out->result == FB_LOCAL_REJECTED || out->result == FB_LOCAL_REPLAYED)
		out->retry_after = retry;
	key_free(key);
	fb_store_user_cleanup(&u);
	fb_store_cred_cleanup(&c);
	return r;
}

enum fb_status
fb_local_mfa_reset(struct fb_store *st, const char *username, const char *reqid,
    struct fb_err *err)
{
	struct fb_store_user u;
	struct fb_store_cred c;
	enum fb_status r;

	if ((r = fb_local_lookup(st, username, 1, &u, &c, err)) != FB_OK)
		return r;
	if ((r = fb_store_cred_totp_set(st, u.id, NULL, 0, err)) != FB_OK ||
	    (r = fb_store_recovery_codes_replace(st, u.id, NULL, 0, err)) != FB_OK)
		goto out;
	fb_local_audit(reqid, "mfa_reset", username, NULL,
	    "TOTP secret and recovery codes removed");
out:
	fb_store_user_cleanup(&u);
	fb_store_cred_cleanup(&c);
	return r;
}
