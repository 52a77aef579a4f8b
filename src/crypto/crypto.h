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
	int64_t not_before; /* certificate start: taken as when the key was published */
	int64_t not_after;  /* certificate expiry, seconds since the epoch */
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
 *
 * The state directory holds, per key, <id>.key.pem, <id>.crt.pem and
 * <id>.state (one word: "active", "published" or "retired"; retired keys
 * are not loaded, configured or not). Checks: PEM key and
 * certificate that match, passphrase right, RSA >= 2048 bits or EC on
 * P-256/P-384, unique ids, exactly one active. An expired certificate and
 * a key file readable by group or others are logged as warnings only.
 */
enum fb_status fb_crypto_keyring_load(const struct fb_conf *conf, struct fb_keyring **out,
    struct fb_err *err);
/*
 * Like fb_crypto_keyring_load, but never generates a key: FB_ERR_NOTFOUND
 * when no key is configured and <state_dir>/keys holds none (for
 * `fedbroker keys list`).
 */
enum fb_status fb_crypto_keyring_load_existing(const struct fb_conf *conf,
    struct fb_keyring **out, struct fb_err *err);
/*
 * Like fb_crypto_keyring_load_existing, with the retired keys too (for
 * `fedbroker keys list`; never for signing or publishing).
 */
enum fb_status fb_crypto_keyring_load_all(const struct fb_conf *conf, struct fb_keyring **out,
    struct fb_err *err);
/*
 * 1 when the active key of kr started (its certificate's notBefore, which
 * fb_crypto_key_generate sets to when it made the key) less than
 * min_publish seconds before now and replaced a key of kr not newer (a
 * rollover that service providers may not have seen yet), with the
 * warning, naming the key, in msg; else 0. The first key never warns.
 */
int fb_crypto_keyring_rollover_check(const struct fb_keyring *kr, int64_t min_publish,
    int64_t now, char *msg, size_t len);
/*
 * Logs which key signs and which are published (info, fields active_key and
 * published_keys), and the warning of fb_crypto_keyring_rollover_check.
 */
void fb_crypto_keyring_log(const struct fb_keyring *kr, int64_t min_publish);
/* "active", "published" or "retired". Static. */
const char *fb_crypto_key_state_name(enum fb_conf_key_state state);
/*
 * Rollover in <state_dir>/keys: makes key id active (the active key before
 * becomes published; its id new in *prev, else NULL) or retired (neither
 * published nor signing). The state before in *was; setting the state a
 * key has changes nothing. FB_ERR_NOTFOUND for an unknown id (err lists
 * the ids there), FB_ERR_INVALID when retiring the active key or
 * activating a retired one, FB_ERR_CONFIG when conf lists its keys (the
 * message says what to edit), a load error when the key to activate does
 * not load. Nothing is changed on failure.
 */
enum fb_status fb_crypto_key_state_set(const struct fb_conf *conf, const char *id,
    enum fb_conf_key_state to, enum fb_conf_key_state *was, char **prev, struct fb_err *err);
/* NULL is a no-op. */
void fb_crypto_keyring_free(struct fb_keyring *kr);
size_t fb_crypto_keyring_count(const struct fb_keyring *kr);
/*
 * Borrowed, valid while kr lives. _get returns NULL when i >= count; a
 * loaded keyring always has its one active key.
 */
const struct fb_key *fb_crypto_keyring_get(const struct fb_keyring *kr, size_t i);
const struct fb_key *fb_crypto_keyring_active(const struct fb_keyring *kr);
/* Fills out; its strings are borrowed, valid while the keyring lives. */
void fb_crypto_key_info(const struct fb_key *k, struct fb_key_info *out);
/* Borrowed, valid while the keyring lives. */
EVP_PKEY *fb_crypto_key_pkey(const struct fb_key *k);
X509 *fb_crypto_key_cert(const struct fb_key *k);

/*
 * Generates a key ("rsa" with bits 2048..8192, or "ec" with bits 256 for
 * P-256, 384 for P-384, 0 meaning 256) and a self-signed certificate
 * (CN subject_cn, borrowed) valid for days (1..36500), written as
 * <dir>/<id>.key.pem, <dir>/<id>.crt.pem and <dir>/<id>.state with mode
 * 0600 (dir created 0700 when missing; its parent must exist). When state
 * is FB_KEY_ACTIVE, every other key of dir marked active is set to
 * published (rollover: it stays published so relying parties can still
 * verify what it signed). id is 1..64 characters of [A-Za-z0-9._-], not
 * starting with '.'. Fails with FB_ERR_IO when the files exist already or
 * cannot be written, FB_ERR_INVALID on a bad id, alg, bits or days,
 * FB_ERR_INTERNAL when OpenSSL fails; err names the path and reason.
 */
enum fb_status fb_crypto_key_generate(const char *dir, const char *id, const char *alg,
    int bits, int days, const char *subject_cn, enum fb_conf_key_state state, struct fb_err *err);
/* A fresh key id "kYYYYMMDD-xxxx" (today's UTC date, 4 random hex digits). New, caller frees. */
char *fb_crypto_key_id_new(void);
/*
 * The CN of generated certificates: the host of conf->public_url, or
 * "fedbroker" when there is none (or it is longer than 64 characters).
 * New, caller frees.
 */
char *fb_crypto_key_cn(const struct fb_conf *conf);
/*
 * The id of the key marked active in dir (a keys directory as written by
 * fb_crypto_key_generate): new in *id (caller frees), NULL when none is.
 * FB_ERR_IO when dir exists but cannot be read.
 */
enum fb_status fb_crypto_keydir_active(const char *dir, char **id, struct fb_err *err);

/* ---- sealed cookies ----------------------------------------------------- */

/*
 * AES-256-GCM sealing with key rollover: the first key seals, every key
 * opens. The expiry travels inside the sealed payload.
 *
 * Token: "v1." base64url(kid[4] || nonce[12] || ciphertext || tag[16]),
 * kid = the first 4 bytes of SHA-256(key), plaintext = expiry as 8 bytes
 * big-endian || payload, additional data "fedbroker/v1/" purpose.
 */
struct fb_sealer;

/* Longest token fb_crypto_unseal accepts (characters). */
#define FB_CRYPTO_TOKEN_MAX 16384
/* Largest payload fb_crypto_seal accepts, so that every token can be opened. */
#define FB_CRYPTO_SEAL_MAX 12000

/*
 * Keys from conf->cookie_secrets (each hashed with SHA-256 to 32 bytes), or
 * else from <state_dir>/cookie-keys (created 0600 with one random key when
 * absent): one base64url 32-byte key per line, the first seals; blank lines
 * and lines starting with '#' are skipped. New in *out
 * (fb_crypto_sealer_free). FB_ERR_IO when the file cannot be read or
 * created, FB_ERR_CONFIG on a malformed line ("file:line: reason") or an
 * empty file; err is filled.
 */
enum fb_status fb_crypto_sealer_load(const struct fb_conf *conf, struct fb_sealer **out,
    struct fb_err *err);
/* From raw 32-byte keys (borrowed, copied; tests, tools). keys[0] seals. nkeys >= 1. New. */
struct fb_sealer *fb_crypto_sealer_new(const unsigned char (*keys)[32], size_t nkeys);
/* Wipes the keys and frees. NULL is a no-op. */
void fb_crypto_sealer_free(struct fb_sealer *s);

/*
 * Seals n bytes with an absolute expiry (seconds since the epoch). The
 * token is base64url text, new in *out (caller frees). purpose binds the
 * token to one use ("session", "csrf", ...) as additional data.
 * FB_ERR_LIMIT when n > FB_CRYPTO_SEAL_MAX, FB_ERR_INTERNAL when OpenSSL
 * fails; err is filled.
 */
enum fb_status fb_crypto_seal(const struct fb_sealer *s, const char *purpose, const void *p,
    size_t n, int64_t expires_at, char **out, struct fb_err *err);
/*
 * Opens a token. FB_ERR_INVALID when malformed or longer than
 * FB_CRYPTO_TOKEN_MAX, FB_ERR_NOTFOUND when sealed
 * with a key that is not known, FB_ERR_SIGNATURE when tampered or sealed
 * for another purpose, FB_ERR_EXPIRED when past its expiry. New buffer in
 * *out (NUL-terminated, caller frees) and length in *outlen.
 */
enum fb_status fb_crypto_unseal(const struct fb_sealer *s, const char *purpose,
    const char *token, unsigned char **out, size_t *outlen, struct fb_err *err);

/* ---- CSRF --------------------------------------------------------------- */

/*
 * A CSRF token for forms, bound to a session identifier and valid for
 * lifetime seconds (> 0): a sealed token of purpose "csrf" holding
 * SHA-256(session_id). New in *out (caller frees). FB_ERR_INVALID when
 * lifetime <= 0.
 */
enum fb_status fb_crypto_csrf_new(const struct fb_sealer *s, const char *session_id,
    int64_t lifetime, char **out, struct fb_err *err);
/*
 * FB_OK when token was made for session_id and has not expired. Otherwise
 * the status of fb_crypto_unseal, or FB_ERR_SIGNATURE when the token is
 * for another session; err is filled.
 */
enum fb_status fb_crypto_csrf_verify(const struct fb_sealer *s, const char *session_id,
    const char *token, struct fb_err *err);

/* ---- client certificates (cert.c, RFC 8705) ------------------------------ */

/* A certificate a client presented: the leaf and the intermediates it sent. */
struct fb_crypto_cert;
/* A CA bundle that client certificate chains are verified against. */
struct fb_crypto_ca;

/* Most bytes of a PEM certificate text accepted (leaf and intermediates). */
#define FB_CRYPTO_CERT_PEM_MAX (32 * 1024)

/* The kinds of subjectAltName a client registers (RFC 8705 2.1.2). */
enum fb_crypto_san {
	FB_CRYPTO_SAN_DNS = 0,
	FB_CRYPTO_SAN_URI,
	FB_CRYPTO_SAN_EMAIL,
	FB_CRYPTO_SAN_IP,
};

/*
 * Parses PEM text: the first certificate is the client's, the next ones
 * (at most 8) intermediates. *out new (fb_crypto_cert_free).
 * FB_ERR_INVALID: empty, too large, or no PEM certificate.
 */
enum fb_status fb_crypto_cert_parse(const char *pem, size_t len, struct fb_crypto_cert **out,
    struct fb_err *err);
/* The certificate of a TLS handshake (references taken; chain may be NULL). New, or NULL. */
struct fb_crypto_cert *fb_crypto_cert_from_x509(X509 *leaf, STACK_OF(X509) * chain);
/* c with one more reference (fb_crypto_cert_free drops one). Not thread-safe. */
struct fb_crypto_cert *fb_crypto_cert_ref(struct fb_crypto_cert *c);
void fb_crypto_cert_free(struct fb_crypto_cert *c);
/* base64url(SHA-256(DER)): the x5t#S256 of RFC 8705 3.1. Borrowed. */
const char *fb_crypto_cert_thumbprint(const struct fb_crypto_cert *c);
/* The subject DN as RFC 4514 text (`openssl x509 -nameopt RFC2253`). Borrowed. */
const char *fb_crypto_cert_subject(const struct fb_crypto_cert *c);
/*
 * 1 when the certificate has a subjectAltName of kind equal to want:
 * exactly (DNS names case-insensitively; IP addresses as addresses).
 */
int fb_crypto_cert_san_check(const struct fb_crypto_cert *c, enum fb_crypto_san kind,
    const char *want);
/* Loads a PEM CA bundle. *out new (fb_crypto_ca_free). FB_ERR_CONFIG: unreadable or no CA. */
enum fb_status fb_crypto_ca_load(const char *file, struct fb_crypto_ca **out, struct fb_err *err);
void fb_crypto_ca_free(struct fb_crypto_ca *ca);
/*
 * Verifies c's chain (with the intermediates it came with) up to a CA of
 * ca at now, for TLS client use. FB_ERR_SIGNATURE: not trusted;
 * FB_ERR_EXPIRED: a certificate of the chain expired. A leaf that verified
 * is remembered in ca (by thumbprint, 64 of them) for 5 minutes or until
 * it expires, whichever comes first: ca is not for several threads.
 */
enum fb_status fb_crypto_cert_chain_verify(const struct fb_crypto_cert *c,
    const struct fb_crypto_ca *ca, int64_t now, struct fb_err *err);

#endif
