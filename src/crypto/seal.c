/* SPDX-License-Identifier: Apache-2.0 */
/* crypto/seal.c: AES-256-GCM sealed tokens (cookies) with key rollover. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "crypto/internal.h"

#define TOKEN_PREFIX "v1."
#define AAD_PREFIX   "fedbroker/v1/"
#define NONCE_LEN    12
#define TAG_LEN      16
#define EXP_LEN      8
#define OVERHEAD     (FB_SEAL_KID_LEN + NONCE_LEN + TAG_LEN + EXP_LEN)
#define KEYFILE_MAX  65536

struct fb_sealer *
fb_crypto_sealer_new(const unsigned char (*keys)[32], size_t nkeys)
{
	struct fb_sealer *s = fb_xcalloc(1, sizeof(*s));
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen;

	s->n = nkeys;
	s->keys = fb_xcalloc(nkeys, sizeof(*s->keys));
	s->kids = fb_xcalloc(nkeys, sizeof(*s->kids));
	for (size_t i = 0; i < nkeys; i++) {
		memcpy(s->keys[i], keys[i], FB_SEAL_KEY_LEN);
		/* The key id names the key without revealing it. */
		if (EVP_Digest(keys[i], FB_SEAL_KEY_LEN, digest, &dlen, EVP_sha256(), NULL) != 1)
			abort();
		memcpy(s->kids[i], digest, FB_SEAL_KID_LEN);
	}
	return s;
}

void
fb_crypto_sealer_free(struct fb_sealer *s)
{
	if (s == NULL)
		return;
	fb_secret_wipe(s->keys, s->n * sizeof(*s->keys));
	free(s->keys);
	free(s->kids);
	free(s);
}

/* ---- loading ------------------------------------------------------------ */

/* Creates path with one random key; EEXIST (another process won the race) is fine. */
static enum fb_status
keyfile_create(const char *path, struct fb_err *err)
{
	unsigned char key[FB_SEAL_KEY_LEN];
	char *line, *b64;
	size_t len;
	ssize_t w;
	int fd, e;

	/* SECURITY: 0600 from the start: these keys forge every session. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return FB_OK;
		return fb_err_set(err, FB_ERR_IO, "cannot create %s: %s", path, strerror(errno));
	}
	fb_rand_bytes(key, sizeof(key));
	b64 = fb_b64url_encode(key, sizeof(key));
	line = fb_xasprintf("%s\n", b64);
	len = strlen(line);
	w = write(fd, line, len);
	e = errno;
	fb_secret_wipe(key, sizeof(key));
	fb_secret_free(b64);
	fb_secret_free(line);
	if (w != (ssize_t)len || close(fd) != 0) {
		if (w == (ssize_t)len)
			e = errno;
		else
			close(fd);
		unlink(path);
		return fb_err_set(err, FB_ERR_IO, "cannot write %s: %s", path,
		    w >= 0 && w != (ssize_t)len ? "short write" : strerror(e));
	}
	fb_log(FB_LOG_INFO, "created cookie key file %s with one new key", path);
	return FB_OK;
}

/* Reads the whole file (bounded) into a new NUL-terminated buffer. */
static enum fb_status
keyfile_read(const char *path, char **out, struct fb_err *err)
{
	struct fb_buf b;
	char chunk[4096];
	struct stat st;
	enum fb_status r;
	ssize_t n;
	int fd;

	*out = NULL;
	fb_buf_init(&b, KEYFILE_MAX);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = fb_err_set(err, FB_ERR_IO, "cookie key file %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) != 0)
		fb_log(FB_LOG_WARN,
		    "cookie key file %s is readable by group or others (mode %04o): chmod 600 it",
		    path, (unsigned)(st.st_mode & 07777));
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (fb_buf_add(&b, chunk, (size_t)n, NULL) != FB_OK) {
			r = fb_err_set(err, FB_ERR_CONFIG,
			    "cookie key file %s is larger than %d bytes", path, KEYFILE_MAX);
			goto out;
		}
	if (n < 0) {
		r = fb_err_set(err, FB_ERR_IO, "cookie key file %s: %s", path, strerror(errno));
		goto out;
	}
	*out = fb_buf_take(&b);
	r = FB_OK;
out:
	if (fd >= 0)
		close(fd);
	fb_secret_wipe(chunk, sizeof(chunk));
	if (b.data != NULL)
		fb_secret_wipe(b.data, b.len);
	fb_buf_cleanup(&b);
	return r;
}

/* Parses one base64url key per line (blank lines and # comments skipped). */
static enum fb_status
keyfile_parse(const char *path, char *text, unsigned char (**keys)[32], size_t *nkeys,
    struct fb_err *err)
{
	unsigned char *raw = NULL;
	size_t rawlen, lineno = 0;
	char *line = text, *next;
	enum fb_status r;

	*keys = NULL;
	*nkeys = 0;
	for (; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		line[strcspn(line, "\r")] = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		line[strcspn(line, " \t")] = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		if (fb_b64url_decode(line, &raw, &rawlen, NULL) != FB_OK || rawlen != 32) {
			r = fb_err_set(err, FB_ERR_CONFIG,
			    "%s:%zu: not a key (expected 32 bytes in base64url, e.g. from "
			    "'openssl rand 32 | basenc --base64url')",
			    path, lineno);
			goto out;
		}
		*keys = fb_xrealloc(*keys, (*nkeys + 1) * sizeof(**keys));
		memcpy((*keys)[*nkeys], raw, 32);
		(*nkeys)++;
		fb_secret_wipe(raw, rawlen);
		free(raw);
		raw = NULL;
	}
	if (*nkeys == 0) {
		r = fb_err_set(err, FB_ERR_CONFIG, "%s: holds no key", path);
		goto out;
	}
	r = FB_OK;
out:
	if (raw != NULL) {
		fb_secret_wipe(raw, rawlen);
		free(raw);
	}
	if (r != FB_OK) {
		if (*keys != NULL)
			fb_secret_wipe(*keys, *nkeys * sizeof(**keys));
		free(*keys);
		*keys = NULL;
		*nkeys = 0;
	}
	return r;
}

enum fb_status
fb_crypto_sealer_load(const struct fb_conf *conf, struct fb_sealer **out, struct fb_err *err)
{
	unsigned char(*keys)[32] = NULL;
	size_t nkeys = 0, i;
	char *path = NULL, *text = NULL;
	unsigned int dlen;
	enum fb_status r;

	*out = NULL;
	if (conf->ncookie_secrets > 0) {
		nkeys = conf->ncookie_secrets;
		keys = fb_xcalloc(nkeys, sizeof(*keys));
		for (i = 0; i < nkeys; i++)
			if (EVP_Digest(conf->cookie_secrets[i], strlen(conf->cookie_secrets[i]),
			        keys[i], &dlen, EVP_sha256(), NULL) != 1) {
				r = fb_err_openssl(err, FB_ERR_INTERNAL,
				    "hashing cookie secret %zu", i);
				goto out;
			}
	} else {
		if (conf->state_dir == NULL) {
			r = fb_err_set(err, FB_ERR_CONFIG,
			    "no cookie secrets are configured and no state_dir is set");
			goto out;
		}
		path = fb_xasprintf("%s/cookie-keys", conf->state_dir);
		/*
		 * A shared store means replicas: keys made here would open no other
		 * replica's cookies. A file put there (the same on each) is used.
		 */
		if (fb_conf_store_is_shared(conf) && access(path, F_OK) != 0) {
			r = fb_err_set(err, FB_ERR_CONFIG,
			    "no cookie keys: set session.cookie_keys, the same secrets on every "
			    "replica (a shared store, store.driver postgres, means replicas; %s is "
			    "not made per replica)",
			    path);
			goto out;
		}
		if ((r = keyfile_create(path, err)) != FB_OK)
			goto out;
		if ((r = keyfile_read(path, &text, err)) != FB_OK)
			goto out;
		if ((r = keyfile_parse(path, text, &keys, &nkeys, err)) != FB_OK)
			goto out;
	}
	*out = fb_crypto_sealer_new((const unsigned char(*)[32])keys, nkeys);
	r = FB_OK;
out:
	if (keys != NULL)
		fb_secret_wipe(keys, nkeys * sizeof(*keys));
	free(keys);
	fb_secret_free(text);
	free(path);
	return r;
}

/* ---- sealing ------------------------------------------------------------ */

static char *
aad_new(const char *purpose)
{
	return fb_xasprintf("%s%s", AAD_PREFIX, purpose);
}

enum fb_status
fb_crypto_seal(const struct fb_sealer *s, const char *purpose, const void *p, size_t n,
    int64_t expires_at, char **out, struct fb_err *err)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *buf = NULL, *nonce, *ct, exp[EXP_LEN];
	char *aad = aad_new(purpose), *b64 = NULL;
	uint64_t e = (uint64_t)expires_at;
	size_t total = OVERHEAD + n;
	int len, i;
	enum fb_status r;

	*out = NULL;
	if (n > FB_CRYPTO_SEAL_MAX) {
		r = fb_err_set(err, FB_ERR_LIMIT,
		    "sealed payload of %zu bytes is too large (max %d)", n, FB_CRYPTO_SEAL_MAX);
		goto out;
	}
	for (i = EXP_LEN - 1; i >= 0; i--, e >>= 8)
		exp[i] = (unsigned char)(e & 0xff);
	buf = fb_xmalloc(total);
	memcpy(buf, s->kids[0], FB_SEAL_KID_LEN);
	nonce = buf + FB_SEAL_KID_LEN;
	ct = nonce + NONCE_LEN;
	/* SECURITY: a random 96-bit nonce per token (NIST SP 800-38D 8.2.2). */
	fb_rand_bytes(nonce, NONCE_LEN);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, s->keys[0], nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
	    EVP_EncryptUpdate(ctx, ct, &len, exp, EXP_LEN) != 1 ||
	    (n > 0 && EVP_EncryptUpdate(ctx, ct + EXP_LEN, &len, p, (int)n) != 1) ||
	    EVP_EncryptFinal_ex(ctx, ct + EXP_LEN + n, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, ct + EXP_LEN + n) != 1) {
		r = fb_err_openssl(err, FB_ERR_INTERNAL, "AES-256-GCM sealing failed");
		goto out;
	}
	b64 = fb_b64url_encode(buf, total);
	*out = fb_xasprintf("%s%s", TOKEN_PREFIX, b64);
	r = FB_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(buf);
	free(b64);
	free(aad);
	return r;
}

/* Tries one key; FB_ERR_SIGNATURE when the tag does not verify. */
static enum fb_status
open_with(const unsigned char *key, const char *aad, const unsigned char *nonce,
    const unsigned char *ct, size_t ctlen, const unsigned char *tag, unsigned char *exp,
    unsigned char *pt, struct fb_err *err)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	enum fb_status r = FB_ERR_INTERNAL;
	int len;

	if (ctx == NULL || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
	    EVP_DecryptUpdate(ctx, exp, &len, ct, EXP_LEN) != 1 ||
	    (ctlen > EXP_LEN &&
	        EVP_DecryptUpdate(ctx, pt, &len, ct + EXP_LEN, (int)(ctlen - EXP_LEN)) != 1) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)(uintptr_t)tag) != 1) {
		r = fb_err_openssl(err, FB_ERR_INTERNAL, "AES-256-GCM opening failed");
		goto out;
	}
	/* SECURITY: nothing decrypted is used unless the tag verifies. */
	if (EVP_DecryptFinal_ex(ctx, pt + (ctlen - EXP_LEN), &len) != 1) {
		r = fb_err_openssl(err, FB_ERR_SIGNATURE,
		    "sealed token does not verify (tampered, or sealed for another purpose)");
		goto out;
	}
	r = FB_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

enum fb_status
fb_crypto_unseal(const struct fb_sealer *s, const char *purpose, const char *token,
    unsigned char **out, size_t *outlen, struct fb_err *err)
{
	unsigned char *raw = NULL, *pt = NULL, exp[EXP_LEN];
	size_t rawlen = 0, ctlen, tlen, i;
	char *aad = aad_new(purpose);
	int64_t expires_at;
	uint64_t e = 0;
	int tried = 0;
	enum fb_status r;

	*out = NULL;
	*outlen = 0;
	/* SECURITY: bound the input before decoding anything. */
	tlen = strnlen(token, FB_CRYPTO_TOKEN_MAX + 1);
	if (tlen > FB_CRYPTO_TOKEN_MAX) {
		r = fb_err_set(err, FB_ERR_INVALID, "sealed token is longer than %d characters",
		    FB_CRYPTO_TOKEN_MAX);
		goto out;
	}
	if (strncmp(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0) {
		r = fb_err_set(err, FB_ERR_INVALID, "sealed token does not start with %s",
		    TOKEN_PREFIX);
		goto out;
	}
	if (fb_b64url_decode(token + strlen(TOKEN_PREFIX), &raw, &rawlen, NULL) != FB_OK ||
	    rawlen < OVERHEAD) {
		r = fb_err_set(err, FB_ERR_INVALID,
		    "sealed token is not valid base64url of %d+ bytes", OVERHEAD);
		goto out;
	}
	ctlen = rawlen - FB_SEAL_KID_LEN - NONCE_LEN - TAG_LEN;
	pt = fb_xmalloc(ctlen - EXP_LEN + 1);
	r = FB_ERR_NOTFOUND;
	/* Four-byte ids may collide: every key with the id gets its chance. */
	for (i = 0; i < s->n; i++) {
		if (memcmp(s->kids[i], raw, FB_SEAL_KID_LEN) != 0)
			continue;
		tried = 1;
		r = open_with(s->keys[i], aad, raw + FB_SEAL_KID_LEN,
		    raw + FB_SEAL_KID_LEN + NONCE_LEN, ctlen, raw + rawlen - TAG_LEN, exp, pt, err);
		if (r == FB_OK || r != FB_ERR_SIGNATURE)
			break;
	}
	if (!tried) {
		r = fb_err_set(err, FB_ERR_NOTFOUND,
		    "sealed token uses an unknown key (rotated out?)");
		goto out;
	}
	if (r != FB_OK)
		goto out;
	for (i = 0; i < EXP_LEN; i++)
		e = (e << 8) | exp[i];
	expires_at = (int64_t)e;
	/* SECURITY: the expiry is inside the authenticated plaintext, so it cannot be moved. */
	if (fb_time_now() >= expires_at) {
		r = fb_err_set(err, FB_ERR_EXPIRED, "sealed token expired %lld seconds ago",
		    (long long)(fb_time_now() - expires_at));
		goto out;
	}
	pt[ctlen - EXP_LEN] = '\0';
	*outlen = ctlen - EXP_LEN;
	*out = pt;
	pt = NULL; /* transferred */
	r = FB_OK;
out:
	if (pt != NULL) {
		fb_secret_wipe(pt, ctlen - EXP_LEN + 1);
		free(pt);
	}
	free(raw);
	free(aad);
	return r;
}
