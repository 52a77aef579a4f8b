/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http/web.h: the pages people see (sign in, second factor, MFA enrolment,
 * password recovery, sign out, dashboard) and what they are built from:
 * urlencoded forms with limits, HTML escaping and the page layout,
 * cookies, the sealed browser session and CSRF binding. Part of the http
 * module; the daemon calls fb_http_web_routes_add, the rest is here so the
 * unit tests reach it.
 */
#ifndef FB_HTTP_WEB_H
#define FB_HTTP_WEB_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "http/http.h"

/* ---- routes ------------------------------------------------------------------ */

/* The paths of the pages. */
#define FB_HTTP_PATH_HOME      "/"
#define FB_HTTP_PATH_LOGIN     "/login"
#define FB_HTTP_PATH_LOGIN_MFA "/login/mfa"
#define FB_HTTP_PATH_MFA_ENROL "/mfa/enrol"
#define FB_HTTP_PATH_RECOVER   "/recover"
#define FB_HTTP_PATH_LOGOUT    "/logout"
#define FB_HTTP_PATH_PASSWORD  "/account/password"

/*
 * Registers every page above on r (GET and POST where a form posts). The
 * handlers read fb_http_req_env(): conf, store and sealer must be set
 * (a request arriving without store or sealer is answered 503).
 * FB_ERR_INVALID when a route is already present, FB_ERR_LIMIT when the
 * router is full (err filled).
 */
enum fb_status fb_http_web_routes_add(struct fb_http_router *r, const struct fb_conf *conf,
    struct fb_err *err);

/* ---- forms (application/x-www-form-urlencoded) ----------------------------- */

/* Limits of a form: fields, bytes of a decoded name and of a decoded value. */
#define FB_HTTP_FORM_FIELDS_MAX   32
#define FB_HTTP_FORM_NAME_MAX     64
#define FB_HTTP_FORM_VALUE_MAX    4096
#define FB_HTTP_FORM_CONTENT_TYPE "application/x-www-form-urlencoded"

struct fb_http_form; /* parsed fields; lives in an arena */

/*
 * Parses len bytes of urlencoded body ("a=1&b=%C3%A9+x"; '+' is a space;
 * empty pieces between '&' are skipped; a piece without '=' has the value
 * ""). Every decoded name and value must be valid UTF-8 without NUL or
 * other control characters except TAB, CR and LF in values.
 * New in *out, allocated in a (borrowed; freed with it).
 * FB_ERR_LIMIT: more than FB_HTTP_FORM_FIELDS_MAX fields or a name or
 * value longer than its limit; FB_ERR_INVALID: a malformed %-escape, bad
 * UTF-8 or a control character. err names the field (never its value).
 */
enum fb_status fb_http_form_parse(struct fb_arena *a, const char *body, size_t len,
    struct fb_http_form **out, struct fb_err *err);
/* The first value of field name (borrowed, valid while the arena lives), NULL when absent. */
const char *fb_http_form_get(const struct fb_http_form *f, const char *name);
/* The number of fields parsed. */
size_t fb_http_form_count(const struct fb_http_form *f);
/* Field i in the order given (*name, *value borrowed): 1, or 0 past the end. */
int fb_http_form_field(const struct fb_http_form *f, size_t i, const char **name,
    const char **value);
/*
 * 1 when the request's Content-Type is FB_HTTP_FORM_CONTENT_TYPE
 * (case-insensitive, parameters such as charset allowed).
 */
int fb_http_form_content_type_check(const char *content_type);

/* ---- HTML ------------------------------------------------------------------- */

/* Most bytes a page may have (far more than any page here needs). */
#define FB_HTTP_PAGE_MAX (256 * 1024)


/*
 * A page being written. Members are private; use the API. Errors are
 * sticky: once the bound is reached every call does nothing and
 * fb_http_page_send answers a plain 500.
 */
struct fb_http_page {
	struct fb_buf b;
	enum fb_status st;
	char nonce[32]; /* the CSP nonce of a strict page (fb_http_page_begin_strict), or "" */
};

/*
 * Starts a page: doctype, head (charset, viewport, title "<title> -
 * <branding.organization>", the inline style sheet) and the header with
 * branding.logo_url (when set) and branding.organization. conf and title
 * borrowed.
 */
void fb_http_page_begin(struct fb_http_page *p, const struct fb_conf *conf, const char *title);
/*
 * The same for a page with a script, of up to max bytes: sets on req a
 * Content-Security-Policy that allows only the style sheet and scripts
 * carrying the page's fresh nonce (fb_http_page_nonce), images from this
 * site or https, and no framing.
 */
void fb_http_page_begin_strict(struct fb_http_page *p, struct fb_http_req *req,
    const struct fb_conf *conf, const char *title, size_t max);
/* The nonce of a page begun with fb_http_page_begin_strict. Borrowed, valid while p lives. */
const char *fb_http_page_nonce(const struct fb_http_page *p);
/*
 * Answers 503 (with Retry-After) with the site's page: title, detail (static
 * text, not escaped), a link home and the request id. err, when not NULL, is
 * logged first: what the store or a peer said, which the page never shows.
 */
void fb_http_page_unavailable(struct fb_http_req *req, const char *title, const char *detail,
    const struct fb_err *err);
/* Answers 404 with the site's page (title, message, a link home, the request id). */
void fb_http_page_not_found(struct fb_http_req *req);
/* Appends trusted markup as it is (a literal of this module, never input). */
void fb_http_page_raw(struct fb_http_page *p, const char *html);
/*
 * Appends fmt with its conversions filled: %s (HTML-escaped; NULL is
 * empty), %d, %u, %lld, %zu and %%. Any other conversion is a programming
 * error (abort). Literal text in fmt is trusted markup.
 */
void fb_http_page_html(struct fb_http_page *p, const char *fmt, ...) FB_PRINTF(2, 3);
/*
 * Closes the page and replies with code (text/html). An error page (code
 * 400 and above) shows the request id, for the person to quote to the
 * administrator (the log has it on every line). p is cleaned up.
 */
void fb_http_page_send(struct fb_http_req *req, struct fb_http_page *p, int code);
/* Frees p's buffer (after an early exit without sending). */
void fb_http_page_cleanup(struct fb_http_page *p);

/* ---- cookies -------------------------------------------------------------- */

/* Longest cookie value read or written (a sealed session is far shorter). */
#define FB_HTTP_COOKIE_MAX 4096

/*
 * The value of cookie name in a Cookie header value (RFC 6265 5.4
 * "name=value; name2=value2"), copied into a; NULL when absent, empty or
 * longer than FB_HTTP_COOKIE_MAX. The first occurrence wins.
 */
const char *fb_http_cookie_find(struct fb_arena *a, const char *header, const char *name);
/*
 * The same for the request's Cookie header (borrowed, valid until the
 * reply); name is the configured one, prefixed as fb_http_cookie_name does.
 */
const char *fb_http_req_cookie(struct fb_http_req *req, const char *name);
/* The prefix of cookie names on an https site (RFC 6265bis 4.1.3.2). */
#define FB_HTTP_COOKIE_HOST_PREFIX "__Host-"
/*
 * The name a cookie has on the wire: on an https site (secure)
 * "__Host-" + name, which browsers accept only Secure, with Path=/ and no
 * Domain (so no other host or path can set or shadow it); name itself
 * otherwise or when it has a __Host- or __Secure- prefix already. Borrowed
 * or in a.
 */
const char *fb_http_cookie_name(struct fb_arena *a, const char *name, int secure);
/*
 * A Set-Cookie value: "name=value; Path=/; HttpOnly; SameSite=Lax",
 * "; Secure" when secure, "; Max-Age=N" when max_age >= 0 (0 deletes the
 * cookie; negative: a browser-session cookie). New, caller frees.
 */
char *fb_http_cookie_build(const char *name, const char *value, int64_t max_age, int secure);
/*
 * The one place cookies are set: a Set-Cookie header as
 * fb_http_cookie_build makes it; on an https site (fb_http_req_tls)
 * Secure and named as fb_http_cookie_name says.
 */
void fb_http_reply_cookie(struct fb_http_req *req, const char *name, const char *value,
    int64_t max_age);

/* ---- redirects ------------------------------------------------------------- */

/* Longest next path accepted. */
#define FB_HTTP_NEXT_MAX 2048

/*
 * 1 when next may be used as the target of a redirect after signing in: a
 * path on this site. SECURITY: open-redirect guard: it starts with "/"
 * but not "//" or "/\" (which browsers read as another host), and holds
 * only printable ASCII without backslash (browsers drop TAB, CR and LF
 * from URLs, so "/\t/evil" would become "//evil"); at most
 * FB_HTTP_NEXT_MAX bytes. NULL: 0.
 */
int fb_http_next_check(const char *next);
/* Replies 303 See Other to location (a local path) with an empty body. */
void fb_http_redirect(struct fb_http_req *req, const char *location);

/* ---- the browser session ----------------------------------------------------- */

/* What a session lets its holder do. */
enum fb_http_session_state {
	FB_HTTP_SESSION_FULL = 0,    /* signed in: every factor passed */
	FB_HTTP_SESSION_MFA_PENDING, /* password right; the TOTP step is next */
	FB_HTTP_SESSION_MFA_ENROL,   /* password right; must enrol a second factor first */
};

/* Lifetime of a session that is not FULL (seconds): a sign-in in progress. */
#define FB_HTTP_SESSION_STEP_LIFETIME 600
/* The sealing purpose of session cookies. */
#define FB_HTTP_SESSION_PURPOSE "session"

/* A browser session; members new (fb_http_session_cleanup). */
struct fb_http_session {
	char *sid;     /* random id (22 base64url characters), the revocation key */
	char *user_id; /* users.id */
	char *username;
	int64_t auth_time;  /* when the password was checked */
	int64_t expires_at; /* absolute; also sealed as the token's expiry */
	enum fb_http_session_state state;
	int mfa; /* 1 when a second factor was passed */
	/*
	 * The account's session generation when it was issued: a session
	 * whose generation is not the account's any more is refused
	 * (fb_store_cred_sessions_revoke).
	 */
	int64_t gen;
	/* The upstream signed in through (its configuration name), NULL for local sign-in. */
	char *upstream;
};

/*
 * Fills s for a new session of (user_id, username) (copied) with a new
 * random sid, auth_time now and expires_at now + lifetime.
 */
void fb_http_session_init(struct fb_http_session *s, const char *user_id, const char *username,
    enum fb_http_session_state state, int mfa, int64_t lifetime);
/* Frees s's members and zeroes it; NULL is a no-op. */
void fb_http_session_cleanup(struct fb_http_session *s);
/*
 * Seals s (purpose FB_HTTP_SESSION_PURPOSE, expiry s->expires_at) into a
 * cookie value, new in *out (caller frees). FB_ERR_INVALID when a member
 * is missing, statuses of fb_crypto_seal otherwise; err filled.
 */
enum fb_status fb_http_session_seal(const struct fb_sealer *sealer, const struct fb_http_session *s,
    char **out, struct fb_err *err);
/*
 * Opens a cookie value into *out (new members). Statuses of
 * fb_crypto_unseal (FB_ERR_EXPIRED past its expiry, FB_ERR_SIGNATURE when
 * tampered with), FB_ERR_INVALID when the payload is not a session.
 * err filled.
 */
enum fb_status fb_http_session_open(const struct fb_sealer *sealer, const char *token,
    struct fb_http_session *out, struct fb_err *err);
/*
 * The request's session: the cookie conf->cookie_name opened and checked
 * against the store's revocations and the account's session generation.
 * FB_ERR_NOTFOUND when there is no cookie, FB_ERR_DENIED when revoked or
 * of an earlier generation, statuses of fb_http_session_open or
 * of the store otherwise; err filled.
 */
enum fb_status fb_http_session_get(struct fb_http_req *req, struct fb_http_session *out,
    struct fb_err *err);
/*
 * fb_http_session_get that also reads the session's user, in the same store
 * call (one round trip on PostgreSQL): *user's members new
 * (fb_store_user_cleanup) on FB_OK; FB_ERR_NOTFOUND also when the user is
 * gone (after the session's own checks). With sp not NULL, what the SAML
 * answer to sp reads is read in that call too, into *signon
 * (fb_saml_signon_want; fb_store_signon_cleanup): the subject's known.
 */
struct fb_store_user;
struct fb_store_signon;
struct fb_saml_sp;
enum fb_status fb_http_session_get_user(struct fb_http_req *req, struct fb_http_session *out,
    struct fb_store_user *user, const struct fb_saml_sp *sp, struct fb_store_signon *signon,
    struct fb_err *err);
/* Sets the session cookie for s (Max-Age: until s->expires_at). FB_OK or seal statuses. */
enum fb_status fb_http_session_set(struct fb_http_req *req, const struct fb_http_session *s,
    struct fb_err *err);
/* Deletes the session cookie (Max-Age=0). */
void fb_http_session_clear(struct fb_http_req *req);

#endif
