/* SPDX-License-Identifier: Apache-2.0 */
/* crypto: signing keys and certificates, sealed cookies, CSRF tokens. */
#ifndef FB_CRYPTO_CRYPTO_H
#define FB_CRYPTO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/core.h"
#include "conf/conf.h"

/* ---- signing keys ------------------------------------------------------- */

struct fb_key;	   /* one private key with its certificate */
struct fb_keyring; /* every key in use: one active, others published */

struct fb_key_info {
	const char *id;
	const char *alg; /* "RSA" or "EC" */
	int bits;
	int64_t not_after; /* certificate expiry, seconds since the epoch */
	enum fb_conf_key_state state;
	const char *key_file;
	const char *cert_file;
};

/*
 * Loads the keys of conf->keys, or, when none is configured, those in
 * <state_dir>/keys, generating an RSA-2048 key and self-signed certificate
 * there (files mode 0600) when it holds none. Exactly one key must be
 * active. New in *out (fb_crypto_keyring_free). FB_ERR_IO or FB_ERR_CONFIG
 * with the path and reason in err when a file is unreadable or wrong.
 */
enum fb_status fb_crypto_keyring_load(const struct fb_conf *conf, struct fb_keyring **out,
    struct fb_err *err);
void fb_crypto_keyring_free(struct fb_keyring *kr);
size_t fb_crypto_keyring_count(const struct fb_keyring *kr);
/* Borrowed, valid while kr lives. */
const struct fb_key *fb_crypto_keyring_get(const struct fb_keyring *kr, size_t i);
const struct fb_key *fb_crypto_keyring_active(const struct fb_keyring *kr);
void fb_crypto_key_info(const struct fb_key *k, struct fb_key_info *out);
/* Borrowed, valid while the keyring lives. */
EVP_PKEY *fb_crypto_key_pkey(const struct fb_key *k);
X509 *fb_crypto_key_cert(const struct fb_key *k);

/*
 * Generates a key ("rsa" with bits 2048..8192, or "ec" P-256) and a
 * self-signed certificate valid for days, written as <dir>/<id>.key.pem and
 * <dir>/<id>.crt.pem with mode 0600 (dir created 0700). Fails with
 * FB_ERR_IO when the files exist already.
 */
enum fb_status fb_crypto_key_generate(const char *dir, const char *id, const char *alg,
    int bits, int days, const char *subject_cn, enum fb_conf_key_state state, struct fb_err *err);

/* ---- sealed cookies ----------------------------------------------------- */

/*
 * AES-256-GCM sealing with key rollover: the first key seals, every key
 * opens. The expiry travels inside the sealed payload.
 */
struct fb_sealer;

/*
 * Keys from conf->cookie_secrets (each hashed to 32 bytes), or else from
 * <state_dir>/cookie-keys (created 0600 with one random key when absent).
 */
enum fb_status fb_crypto_sealer_load(const struct fb_conf *conf, struct fb_sealer **out,
    struct fb_err *err);
/* From raw 32-byte keys (tests, tools). keys[0] seals. */
struct fb_sealer *fb_crypto_sealer_new(const unsigned char (*keys)[32], size_t nkeys);
void fb_crypto_sealer_free(struct fb_sealer *s);

/*
 * Seals n bytes with an absolute expiry (seconds since the epoch). The
 * token is base64url text, new in *out (caller frees). purpose binds the
 * token to one use ("session", "csrf", ...) as additional data.
 */
enum fb_status fb_crypto_seal(const struct fb_sealer *s, const char *purpose, const void *p,
    size_t n, int64_t expires_at, char **out, struct fb_err *err);
/*
 * Opens a token. FB_ERR_INVALID when malformed, FB_ERR_NOTFOUND when sealed
 * with a key that is not known, FB_ERR_SIGNATURE when tampered or sealed
 * for another purpose, FB_ERR_EXPIRED when past its expiry. New buffer in
 * *out (NUL-terminated, caller frees) and length in *outlen.
 */
enum fb_status fb_crypto_unseal(const struct fb_sealer *s, const char *purpose,
    const char *token, unsigned char **out, size_t *outlen, struct fb_err *err);

/* ---- CSRF --------------------------------------------------------------- */

/*
 * A CSRF token for forms, bound to a session identifier and valid for
 * lifetime seconds. New in *out (caller frees).
 */
enum fb_status fb_crypto_csrf_new(const struct fb_sealer *s, const char *session_id,
    int64_t lifetime, char **out, struct fb_err *err);
/* FB_OK when token was made for session_id and has not expired. */
enum fb_status fb_crypto_csrf_verify(const struct fb_sealer *s, const char *session_id,
    const char *token, struct fb_err *err);

#endif
