/* SPDX-License-Identifier: Apache-2.0 */
/*
 * local: local accounts: passwords (argon2id), TOTP second factor, recovery
 * codes and links, API tokens, brute-force limits and the bootstrap
 * administrator. The sign-in pages and the CLI call this module; it keeps
 * every rule about credentials in one place.
 *
 * Conventions of every function below: arguments are borrowed; reqid (the
 * request id for audit lines) may be NULL; err may be NULL and is filled on
 * every status other than FB_OK; store failures are FB_ERR_IO (or
 * FB_ERR_INTERNAL when a store handle crossed a fork). Security events are
 * audit log lines (category audit, event=...), with the username and the
 * client address but never a password, code or token.
 */
#ifndef FB_LOCAL_LOCAL_H
#define FB_LOCAL_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"

/* The users.source of local accounts. */
#define FB_LOCAL_SOURCE "local"
/*
 * Password policy: at least 12 characters (Unicode code points, so a
 * passphrase in any script counts by what people type), at most 1024
 * bytes (argon2 hashes any length; the bound keeps hashing requests
 * cheap to refuse), valid UTF-8 without control characters. Length is
 * what makes a password strong (NIST SP 800-63B 5.1.1.2); no composition
 * rules.
 */
#define FB_LOCAL_PASSWORD_MIN 12
#define FB_LOCAL_PASSWORD_MAX 1024
/* RFC 6238 TOTP as every authenticator app implements it: HMAC-SHA-1, 6 digits, 30 s. */
#define FB_LOCAL_TOTP_SECRET_BYTES 20
#define FB_LOCAL_TOTP_DIGITS 6
#define FB_LOCAL_TOTP_PERIOD 30
/* Steps of clock drift accepted either way (RFC 6238 5.2). */
#define FB_LOCAL_TOTP_DRIFT 1
/* Seconds an enrolment (the pending token of the enrolment form) stays valid. */
#define FB_LOCAL_TOTP_ENROL_LIFETIME 600
/* Recovery codes per user, each "xxxx-xxxx-xxxx" (60 random bits). */
#define FB_LOCAL_RECOVERY_CODES 10
#define FB_LOCAL_RECOVERY_CODE_LEN 14
/* The path of recovery links under server.public_url: <public_url>/recover?token=... */
#define FB_LOCAL_RECOVERY_PATH "/recover"
/* API tokens: "fbt_" + 16 hex id + "_" + 43 base64url characters. */
#define FB_LOCAL_TOKEN_PREFIX "fbt_"
#define FB_LOCAL_TOKEN_MAX 512
/* The bootstrap administrator's username. */
#define FB_LOCAL_BOOTSTRAP_USER "admin"

/* ---- accounts ------------------------------------------------------------ */

/* A local account as the pages and the CLI see it. Members new; fb_local_account_cleanup. */
struct fb_local_account {
	char *id;	/* users.id */
	char *username;
	char *name;	/* may be NULL */
	char *email;	/* may be NULL */
	enum fb_store_account_type type;
	int active;	/* 0: disabled, cannot sign in nor use its tokens */
	int has_password;
	int totp_enabled;
	size_t recovery_codes_left;
	int64_t created;
	int64_t last_login; /* 0 = never */
	int64_t session_gen; /* sessions must carry it (fb_store_cred_sessions_revoke) */
};

/* "internal" or "service". Borrowed, static. */
const char *fb_local_type_name(enum fb_store_account_type t);
/* Parses "internal" or "service" into *out; -1 when neither (*out untouched), else 0. */
int fb_local_type_parse(const char *s, enum fb_store_account_type *out);

/*
 * Creates a local account: username (fb_ident_username_check), name and
 * email (may be NULL), type, and password (may be NULL: no password, the
 * account cannot sign in with one until fb_local_password_set; the usual
 * choice for service accounts). The password must pass
 * fb_local_password_check and is hashed with conf's argon2id cost.
 * Audit event account_created. On success *out (may be NULL) is filled
 * (new members). FB_ERR_INVALID: bad username, name, email or weak
 * password, or a user of that name exists (local or seen from an
 * upstream); the message says which.
 */
enum fb_status fb_local_account_create(const struct fb_conf *conf, struct fb_store *st,
    const char *username, const char *name, const char *email,
    enum fb_store_account_type type, const char *password, const char *reqid,
    struct fb_local_account *out, struct fb_err *err);
/*
 * The local account username (by_id: with users.id id). FB_ERR_NOTFOUND
 * when there is no such user or the user is not a local account (a user
 * seen from an upstream). *out members new.
 */
enum fb_status fb_local_account_get(struct fb_store *st, const char *username,
    struct fb_local_account *out, struct fb_err *err);
enum fb_status fb_local_account_get_by_id(struct fb_store *st, const char *id,
    struct fb_local_account *out, struct fb_err *err);
/*
 * Calls fn for each local account ordered by username (a is borrowed,
 * valid during the call); fn returns non-zero to stop.
 */
enum fb_status fb_local_account_list(struct fb_store *st,
    int (*fn)(const struct fb_local_account *a, void *arg), void *arg, struct fb_err *err);
/*
 * Enables (active 1) or disables (0) the account. A disabled account
 * cannot sign in, recover its password or use its API tokens; nothing is
 * deleted. Disabling ends every session of the account. Audit events account_enabled / account_disabled.
 * FB_ERR_NOTFOUND when there is no such local account.
 */
enum fb_status fb_local_account_set_active(struct fb_store *st, const char *username, int active,
    const char *reqid, struct fb_err *err);
/*
 * Changes the display name and email of a local account: NULL keeps one,
 * "" removes it; both are checked as by fb_local_account_create
 * (FB_ERR_INVALID, nothing stored). Audit event account_edited with the
 * changed fields. FB_ERR_NOTFOUND when there is no such local account.
 */
enum fb_status fb_local_account_edit(struct fb_store *st, const char *username, const char *name,
    const char *email, const char *reqid, struct fb_err *err);
/*
 * Deletes the account with its credentials, recovery codes and API tokens.
 * Audit event account_deleted. FB_ERR_NOTFOUND when no such local account.
 */
enum fb_status fb_local_account_delete(struct fb_store *st, const char *username,
    const char *reqid, struct fb_err *err);
/* Frees a's members and zeroes it; NULL is a no-op. */
void fb_local_account_cleanup(struct fb_local_account *a);

/* ---- passwords ------------------------------------------------------------ */

/* FB_OK when password meets the policy above; FB_ERR_INVALID with the reason (never the value). */
enum fb_status fb_local_password_check(const char *password, struct fb_err *err);
/*
 * Hashes password with argon2id at conf's cost (local.password.*), a
 * random 16-byte salt and a 32-byte tag, in the PHC encoded form
 * ("$argon2id$v=19$m=...,t=...,p=...$salt$hash"). New in *out (caller
 * frees). FB_ERR_INVALID when longer than FB_LOCAL_PASSWORD_MAX,
 * FB_ERR_INTERNAL when libargon2 fails (e.g. the memory cost cannot be
 * allocated). Does not apply the policy: call fb_local_password_check.
 */
enum fb_status fb_local_password_hash(const struct fb_conf *conf, const char *password,
    char **out, struct fb_err *err);
/*
 * Checks password against an encoded argon2id hash; libargon2 compares
 * in constant time. FB_OK on a match, FB_ERR_DENIED on a mismatch,
 * FB_ERR_INVALID when encoded is not an argon2id hash or password is
 * longer than FB_LOCAL_PASSWORD_MAX.
 */
enum fb_status fb_local_password_verify(const char *encoded, const char *password,
    struct fb_err *err);
/* A new random password (24 base64url characters, 144 bits). Caller frees with fb_secret_free. */
char *fb_local_password_generate(void);
/*
 * Sets username's password after fb_local_password_check and ends every
 * session of the account (fb_store_cred_sessions_revoke). Audit event
 * password_changed. FB_ERR_INVALID: weak password; FB_ERR_NOTFOUND: no
 * such local account.
 */
enum fb_status fb_local_password_set(const struct fb_conf *conf, struct fb_store *st,
    const char *username, const char *password, const char *reqid, struct fb_err *err);

/*
 * A signed-in person changing their own password, in three steps like
 * fb_local_signin, so that argon2id runs on another thread than the store's:
 *   _begin (store): the new password's policy (FB_ERR_INVALID, nothing
 *     stored), the account's limits (FB_ERR_LIMIT, c->retry_after set:
 *     the current password is then not checked) and its stored hash
 *     (FB_ERR_NOTFOUND without a local account).
 *   _work (no store, thread-safe): checks the current password (against
 *     a dummy hash when the account has none) and hashes the new one.
 *   _end (store): a wrong current password is FB_ERR_DENIED, counts as a
 *     failed sign-in of the account and the address (fb_local_lockout_fail)
 *     and writes audit event password_change_refused; else the new hash is
 *     stored, every session of the account ends (its new generation in
 *     *gen, for the caller to issue its own session again) and audit event
 *     password_changed is written.
 * Call _cleanup after _begin whatever happened. conf, client_addr and
 * reqid are borrowed until _end; the passwords are copied (and wiped).
 */
struct fb_local_pwchange {
	/* private */
	const struct fb_conf *conf;
	const char *client_addr, *reqid;
	char *username, *user_id, *stored, *current, *next, *hash;
	enum fb_status verified, hashed;
	struct fb_err werr;
	/* FB_ERR_LIMIT from _begin: seconds to wait (>= 1). */
	int64_t retry_after;
};
enum fb_status fb_local_password_change_begin(const struct fb_conf *conf, struct fb_store *st,
    const char *username, const char *current, const char *next, const char *client_addr,
    const char *reqid, struct fb_local_pwchange *c, struct fb_err *err);
void fb_local_password_change_work(struct fb_local_pwchange *c);
enum fb_status fb_local_password_change_end(struct fb_store *st, struct fb_local_pwchange *c,
    int64_t *gen, struct fb_err *err);
/* Frees (and wipes) c's members and zeroes it; NULL is a no-op. */
void fb_local_password_change_cleanup(struct fb_local_pwchange *c);

/* ---- signing in ----------------------------------------------------------- */

/* The outcome of one sign-in step; the pages show one message per value. */
enum fb_local_result {
	FB_LOCAL_ACCEPTED = 0,
	/* Wrong username or password, or wrong code: one answer for all, so
	 * that nobody learns which usernames exist. */
	FB_LOCAL_REJECTED,
	/* A TOTP code whose time step was used already (RFC 6238 5.2). */
	FB_LOCAL_REPLAYED,
	/* Too many recent failures for the account or the address: retry_after. */
	FB_LOCAL_LOCKED,
	/* The password was right but the account is disabled. */
	FB_LOCAL_DISABLED,
};

/* "accepted", "rejected", ... Borrowed, static. */
const char *fb_local_result_name(enum fb_local_result r);

struct fb_local_attempt {
	enum fb_local_result result;
	/*
	 * FB_LOCAL_LOCKED: seconds until an attempt is considered again (>= 1).
	 * FB_LOCAL_REJECTED: when this failure started a lock, its length,
	 * else 0 (the page may say "wait N seconds").
	 */
	int64_t retry_after;
	/* FB_LOCAL_ACCEPTED (and FB_LOCAL_DISABLED): the account; members new. */
	struct fb_local_account account;
	/*
	 * FB_LOCAL_ACCEPTED after a password: 1 when a second factor must
	 * follow before a session is issued: the account has TOTP
	 * (fb_local_totp_signin or fb_local_recovery_signin), or one of its
	 * groups has require_mfa and it has none yet (send it to enrolment).
	 */
	int mfa_needed;
};

/* Frees the account in a and zeroes it; NULL is a no-op. */
void fb_local_attempt_cleanup(struct fb_local_attempt *a);

/*
 * The first step: username and password from the sign-in form.
 * client_addr (may be NULL) is the address brute-force limits count
 * against. Order: limits (FB_LOCAL_LOCKED without checking the password),
 * then the password: an unknown user, an account without password and a
 * service account are verified against a dummy hash of the same cost, so
 * that they take the time a wrong password takes; then the active flag.
 * Oversized or non-UTF-8 input is FB_LOCAL_REJECTED without hashing.
 * Each failure counts (fb_local_lockout_fail). Success does not yet reset
 * the limits or record the sign-in: call fb_local_login_finish once every
 * factor passed. The verdict is in out (fb_local_attempt_cleanup); the
 * status is FB_OK whenever a verdict was reached, a store failure
 * otherwise. Audit events: login_failed, login_locked, login_disabled,
 * login_password_ok (and account_locked via the limits).
 */
enum fb_status fb_local_signin(const struct fb_conf *conf, struct fb_store *st,
    const char *username, const char *password, const char *client_addr, const char *reqid,
    struct fb_local_attempt *out, struct fb_err *err);
/*
 * fb_local_signin in three steps, so that the password check (pure CPU,
 * about 0.2 s at the default cost) can run on another thread than the
 * store's event loop:
 *   fb_local_signin_begin (store): input checks, limits, lookup. When
 *     fb_local_signin_pending then says 0, the verdict is in out already
 *     (malformed input, locked) or the status is a store failure.
 *   fb_local_signin_verify (no store, thread-safe): the argon2id check,
 *     against a dummy hash of the same cost for an unknown user, an
 *     account without password or a service account; the rehash when the
 *     configured cost changed.
 *   fb_local_signin_end (store): records the outcome (failures, audit
 *     lines, the rehash) and fills the verdict in out, as fb_local_signin.
 * Call fb_local_signin_cleanup after begin whatever happened. conf,
 * client_addr and reqid are borrowed until end; username and password are
 * copied (the copy of the password is wiped by cleanup).
 */
struct fb_local_signin {
	/* private */
	const struct fb_conf *conf;
	const char *client_addr, *reqid;
	char *username, *password, *rehash;
	struct fb_store_user u;
	struct fb_store_cred c;
	const char *unknown_reason;
	int known, pending;
	enum fb_status verified;
	struct fb_err verr;
};

enum fb_status fb_local_signin_begin(const struct fb_conf *conf, struct fb_store *st,
    const char *username, const char *password, const char *client_addr, const char *reqid,
    struct fb_local_signin *s, struct fb_local_attempt *out, struct fb_err *err);
/* 1 when begin left the password to check: call _verify, then _end. */
int fb_local_signin_pending(const struct fb_local_signin *s);
void fb_local_signin_verify(struct fb_local_signin *s);
enum fb_status fb_local_signin_end(struct fb_store *st, struct fb_local_signin *s,
    struct fb_local_attempt *out, struct fb_err *err);
/* Frees s's members and zeroes it; NULL is a no-op. */
void fb_local_signin_cleanup(struct fb_local_signin *s);

/*
 * Records a completed sign-in of user_id (every factor passed): resets the
 * account's failure counter (audit account_unlocked when it was locked),
 * sets last_login and writes audit event login_succeeded. FB_ERR_NOTFOUND
 * when no such local account.
 */
enum fb_status fb_local_login_finish(const struct fb_conf *conf, struct fb_store *st,
    const char *user_id, const char *client_addr, const char *reqid, struct fb_err *err);

/* ---- TOTP (RFC 6238) ----------------------------------------------------- */

/*
 * RFC 4226 HOTP: HMAC-SHA-1 of the 8-byte big-endian counter, dynamic
 * truncation (5.3), modulo 10^digits (digits 1..9).
 */
uint32_t fb_local_hotp(const unsigned char *key, size_t keylen, uint64_t counter, int digits);
/* The RFC 6238 time step of t: floor(t / FB_LOCAL_TOTP_PERIOD). */
int64_t fb_local_totp_step(int64_t t);
/*
 * Checks a 6-digit code against key at time now, accepting the steps
 * now-1, now, now+1 (every candidate is computed and compared in constant
 * time). FB_OK with the matching step in *step; FB_ERR_DENIED when no step
 * matches; FB_ERR_INVALID when code is not 6 ASCII digits (spaces are
 * ignored: "123 456" is accepted).
 */
enum fb_status fb_local_totp_match(const unsigned char *key, size_t keylen, const char *code,
    int64_t now, int64_t *step, struct fb_err *err);
/* RFC 4648 base32, upper case, without padding. New, caller frees. */
char *fb_local_base32_encode(const unsigned char *p, size_t n);
/*
 * Decodes RFC 4648 base32 (either case, padding and spaces ignored). New
 * buffer in *out (caller frees). FB_ERR_INVALID on another character or
 * a length no encoder produces.
 */
enum fb_status fb_local_base32_decode(const char *s, unsigned char **out, size_t *outlen,
    struct fb_err *err);
/*
 * The key URI authenticator apps read (Google Authenticator "Key Uri
 * Format"): otpauth://totp/<issuer>:<username>?secret=<base32>&issuer=<issuer>
 * &algorithm=SHA1&digits=6&period=30, issuer = branding.organization,
 * label and issuer percent-encoded (RFC 3986 unreserved kept). New, caller
 * frees (it holds the secret: fb_secret_free).
 */
char *fb_local_totp_uri(const struct fb_conf *conf, const char *username,
    const unsigned char *key, size_t keylen);
/*
 * A QR code of text (byte mode, error correction M) as one <svg> element
 * (no XML declaration, viewBox in modules with a 4-module quiet zone,
 * black on white, role="img" and an aria-label "QR code"), ready to embed
 * in a page. New in *out (caller frees). FB_ERR_INVALID when text is
 * empty or too long for a QR code, FB_ERR_INTERNAL when libqrencode fails.
 */
enum fb_status fb_local_qr_svg(const char *text, char **out, struct fb_err *err);

/* What the enrolment page shows. Members new; fb_local_totp_enrolment_cleanup. */
struct fb_local_totp_enrolment {
	char *secret;  /* base32, grouped by 4 for typing ("ABCD EFGH ...") */
	char *uri;     /* otpauth:// URI */
	char *qr_svg;  /* the URI as a QR code, an <svg> element */
	/*
	 * The new secret sealed for this user (purpose "totp-enrol", valid
	 * FB_LOCAL_TOTP_ENROL_LIFETIME): put it in a hidden form field and
	 * give it back to fb_local_totp_enrol_finish. Nothing is stored
	 * before the user proves the app has the secret.
	 */
	char *pending;
};

/*
 * Starts TOTP enrolment for the account (user_id, username): a new
 * 20-byte secret. FB_ERR_INTERNAL when sealing or the QR code fails.
 */
enum fb_status fb_local_totp_enrol_begin(const struct fb_conf *conf,
    const struct fb_sealer *sealer, const char *user_id, const char *username,
    struct fb_local_totp_enrolment *out, struct fb_err *err);
/*
 * Completes enrolment with the pending token and the first code from the
 * app: stores the secret sealed (purpose "totp", bound to user_id) and
 * marks the code's time step used. Replaces an earlier TOTP secret. Audit
 * event mfa_enrolled. The caller then shows new recovery codes
 * (fb_local_recovery_codes_new). Statuses: FB_ERR_DENIED wrong code (the
 * same pending token may be tried again); FB_ERR_INVALID malformed code;
 * FB_ERR_EXPIRED pending token expired (start again); FB_ERR_SIGNATURE
 * pending token tampered with, or made for another user; FB_ERR_NOTFOUND
 * no such local account.
 */
enum fb_status fb_local_totp_enrol_finish(const struct fb_conf *conf, struct fb_store *st,
    const struct fb_sealer *sealer, const char *user_id, const char *pending, const char *code,
    const char *reqid, struct fb_err *err);
void fb_local_totp_enrolment_cleanup(struct fb_local_totp_enrolment *e);
/*
 * The second step with a TOTP code for user_id (from the first step's
 * account): FB_LOCAL_ACCEPTED, FB_LOCAL_REJECTED (wrong code, no TOTP, or
 * an unknown/disabled account), FB_LOCAL_REPLAYED (the code's step was
 * used already: a code is accepted once, even across workers) or
 * FB_LOCAL_LOCKED. Failures count towards the limits like wrong
 * passwords. Audit events login_totp_ok, login_totp_replayed, and for a
 * failure login_failed with reason=wrong_totp, malformed_totp, no_totp or
 * replayed_totp (fb_local_lockout_fail). Status as fb_local_signin; FB_ERR_SIGNATURE or
 * FB_ERR_NOTFOUND when the stored secret cannot be opened (sealed with a
 * cookie key no longer configured: reset the user's MFA).
 */
enum fb_status fb_local_totp_signin(const struct fb_conf *conf, struct fb_store *st,
    const struct fb_sealer *sealer, const char *user_id, const char *code,
    const char *client_addr, const char *reqid, struct fb_local_attempt *out,
    struct fb_err *err);
/*
 * Removes username's TOTP secret and recovery codes (a lost phone). Audit
 * event mfa_reset. FB_ERR_NOTFOUND when no such local account.
 */
enum fb_status fb_local_mfa_reset(struct fb_store *st, const char *username, const char *reqid,
    struct fb_err *err);

/* ---- recovery codes ------------------------------------------------------ */

/*
 * Generates FB_LOCAL_RECOVERY_CODES new codes for user_id, replacing all
 * earlier ones; only their hashes (SHA-256 of user id and code) are
 * stored. *codes is a new NULL-terminated array of new strings
 * ("xxxx-xxxx-xxxx"), to show once; free with fb_local_codes_free. Audit
 * event recovery_codes_generated. FB_ERR_NOTFOUND when no such user.
 */
enum fb_status fb_local_recovery_codes_new(struct fb_store *st, const char *user_id,
    const char *reqid, char ***codes, struct fb_err *err);
/* Wipes and frees a code array; NULL is a no-op. */
void fb_local_codes_free(char **codes);
/*
 * The second step with a recovery code instead of TOTP: case, spaces and
 * dashes are ignored. A code works once (atomic in the store).
 * FB_LOCAL_ACCEPTED, FB_LOCAL_REJECTED (wrong or used code, unknown or
 * disabled account) or FB_LOCAL_LOCKED; failures count towards the
 * limits. Audit events login_recovery_code_ok, and for a failure
 * login_failed with reason=wrong_recovery_code or malformed_recovery_code.
 */
enum fb_status fb_local_recovery_signin(const struct fb_conf *conf, struct fb_store *st,
    const char *user_id, const char *code, const char *client_addr, const char *reqid,
    struct fb_local_attempt *out, struct fb_err *err);

/* ---- recovery links (password reset) ------------------------------------ */

/*
 * A one-time link for username to set a new password:
 * <server.public_url>/recover?token=<43 base64url characters>, valid
 * local.recovery_link_lifetime. Only SHA-256 of the token is stored (kv
 * namespace "recovery"). Earlier links stay valid until used or expired.
 * New in *url (caller frees with fb_secret_free). Audit event
 * recovery_link_created. FB_ERR_NOTFOUND: no such local account;
 * FB_ERR_DENIED: the account is disabled or a service account;
 * FB_ERR_CONFIG: server.public_url is not set.
 */
enum fb_status fb_local_recovery_link_new(const struct fb_conf *conf, struct fb_store *st,
    const char *username, const char *reqid, char **url, struct fb_err *err);
/*
 * Looks at a link's token (the GET of the page) WITHOUT using it up: mail
 * scanners fetch links before people click them. FB_OK with the username
 * in *username (new, may be NULL to not ask); FB_ERR_NOTFOUND when the
 * token is unknown, used or expired (one answer: they cannot be told
 * apart); FB_ERR_INVALID when it is malformed.
 */
enum fb_status fb_local_recovery_link_check(struct fb_store *st, const char *token,
    char **username, struct fb_err *err);
/*
 * The POST of the recovery form: checks new_password first (a weak one is
 * FB_ERR_INVALID and leaves the link usable), then uses the token up
 * atomically (FB_ERR_NOTFOUND when unknown, used or expired, even when
 * two requests race) and sets the password; the account's failure counter
 * is reset and every session of the account ends. FB_ERR_DENIED when the
 * account was disabled meanwhile (the link is used up). *username (may
 * be NULL) is new. Audit events password_recovered / recovery_link_refused.
 */
enum fb_status fb_local_recovery_link_consume(const struct fb_conf *conf, struct fb_store *st,
    const char *token, const char *new_password, const char *reqid, char **username,
    struct fb_err *err);
/*
 * The same with the new password checked (fb_local_password_check) and
 * hashed (fb_local_password_hash) by the caller already, so that the
 * hashing can run off the event loop: uses the token up and stores
 * password_hash (borrowed). Statuses as fb_local_recovery_link_consume.
 */
enum fb_status fb_local_recovery_link_consume_hash(const struct fb_conf *conf,
    struct fb_store *st, const char *token, const char *password_hash, const char *reqid,
    char **username, struct fb_err *err);
/*
 * Creates a recovery link for username and emails it to the account's
 * address with fb_net_mail_send. BLOCKING (the SMTP dialogue): only the
 * CLI and the jobs process may call it, never an event-loop worker. The
 * address it went to in *to (new, may be NULL to not ask). Statuses of
 * fb_local_recovery_link_new, plus FB_ERR_CONFIG when smtp.host is not set,
 * FB_ERR_INVALID when the account has no email address,
 * FB_ERR_UPSTREAM when the relay refused (err has its answer).
 */
enum fb_status fb_local_recovery_link_mail(const struct fb_conf *conf, struct fb_store *st,
    const char *username, const char *reqid, char **to, struct fb_err *err);

/* ---- API tokens ---------------------------------------------------------- */

/*
 * Creates an API token for username's local account: the secret
 * "fbt_<id>_<random>" (in *secret, new, show once, fb_secret_free) and its
 * id (*id, new, may be NULL to not ask; also the first part of the
 * secret). Only SHA-256 of the secret is stored. description may be NULL;
 * expires_at 0 means never. Audit event token_created.
 * FB_ERR_NOTFOUND: no such local account; FB_ERR_DENIED: disabled;
 * FB_ERR_INVALID: description too long or not UTF-8, expires_at in the
 * past.
 */
enum fb_status fb_local_token_create(struct fb_store *st, const char *username,
    const char *description, int64_t expires_at, const char *reqid, char **secret, char **id,
    struct fb_err *err);
/*
 * Like fb_local_token_create with a secret chosen elsewhere (the
 * configured bootstrap token): any string of 16..FB_LOCAL_TOKEN_MAX
 * bytes. A secret not of the "fbt_<16 hex>_..." form gets the id made of
 * the first 16 hex digits of its SHA-256.
 */
enum fb_status fb_local_token_import(struct fb_store *st, const char *username,
    const char *secret, const char *description, int64_t expires_at, const char *reqid,
    char **id, struct fb_err *err);
/*
 * Checks a presented token (a bearer token): found by id, SHA-256 of the
 * secret compared in constant time, not revoked, not expired, owner
 * active. FB_OK and, when out is not NULL, the token record (members new,
 * fb_store_token_cleanup). FB_ERR_INVALID when malformed or too long,
 * FB_ERR_DENIED when unknown, wrong, revoked or the owner is disabled,
 * FB_ERR_EXPIRED when expired. Writes no audit line (the caller logs the
 * request).
 */
enum fb_status fb_local_token_verify(struct fb_store *st, const char *secret,
    struct fb_store_token *out, struct fb_err *err);
/*
 * Revokes token id (a token revoked already stays revoked: FB_OK). Audit
 * event token_revoked. FB_ERR_NOTFOUND when there is no such token.
 * Listing is fb_store_token_list (no secret is stored to list).
 */
enum fb_status fb_local_token_revoke(struct fb_store *st, const char *id, const char *reqid,
    struct fb_err *err);

/* ---- brute-force limits --------------------------------------------------- */

/*
 * Failures are counted per account (username, existing or not) and per
 * client address, in the store (kv namespace "lockout"), so every worker
 * and replica sees them. A counter is forgotten after local.lockout.window
 * without a failure. From the local.lockout.max_failures-th failure on,
 * each failure locks the account (or address) for a delay that doubles:
 * 1 s, 2 s, 4 s, ... up to local.lockout.max_delay. Attempts during a
 * lock are refused without looking at the password.
 */

/*
 * FB_OK when username and client_addr (either may be NULL) may try now;
 * FB_ERR_LIMIT with the seconds to wait in *retry_after (>= 1) when one is
 * locked (err names which).
 */
enum fb_status fb_local_lockout_check(const struct fb_conf *conf, struct fb_store *st,
    const char *username, const char *client_addr, int64_t *retry_after, struct fb_err *err);
/*
 * Counts one failure for username and client_addr (either may be NULL).
 * reason ("wrong_password", "unknown_user", "wrong_totp", ...) goes into
 * the audit line login_failed; a lock it starts is an account_locked or
 * address_locked line. *retry_after (may be NULL): the lock's length, 0
 * when none started.
 */
enum fb_status fb_local_lockout_fail(const struct fb_conf *conf, struct fb_store *st,
    const char *username, const char *client_addr, const char *reason, const char *reqid,
    int64_t *retry_after, struct fb_err *err);
/*
 * Forgets username's failures and lock (a successful sign-in or password
 * recovery): audit account_unlocked when it had reached the threshold.
 * Address counters are not reset by a success (an attacker's own account
 * must not clear them); they expire.
 */
enum fb_status fb_local_lockout_reset(const struct fb_conf *conf, struct fb_store *st,
    const char *username, const char *reqid, struct fb_err *err);

/* ---- bootstrap ------------------------------------------------------------ */

/*
 * First start: when local.bootstrap.enabled is true, no local account
 * exists and no earlier start did it (a store flag, kv "bootstrap"/"done"),
 * creates the internal account "admin" (its groups are whatever groups:
 * lists it in) with local.bootstrap.password or a random password, and an
 * API token (local.bootstrap.token or random), and writes them once in one
 * WARN line of category "bootstrap" (generated values only; configured
 * ones are shown as "(from configuration)"). Later starts do nothing, even
 * when every account was deleted. Call once in the master before workers
 * start, after the store is open. FB_ERR_CONFIG when a configured password
 * fails the policy, FB_ERR_INVALID when a user "admin" exists already
 * without being a local account (nothing is created; the flag stays
 * unset), store statuses otherwise.
 */
enum fb_status fb_local_bootstrap(const struct fb_conf *conf, struct fb_store *st,
    struct fb_err *err);
/*
 * Records that the bootstrap is done without making anything (the store
 * flag): a store restored from an export is not a first start, even when
 * it holds no local account.
 */
enum fb_status fb_local_bootstrap_skip(struct fb_store *st, struct fb_err *err);

#endif
