/* SPDX-License-Identifier: Apache-2.0 */
/* http/pages.h: what the page handlers (login.c, mfa.c, recover.c, dashboard.c) share. */
#ifndef FB_HTTP_PAGES_H
#define FB_HTTP_PAGES_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "local/local.h"
#include "http/http.h"
#include "http/web.h"

/* The anonymous forms' CSRF binding: a random id in the cookie <cookie_name> + this suffix. */
#define FB_HTTP_PRE_COOKIE_SUFFIX "_pre"
/* Form field names shared by every form. */
#define FB_HTTP_F_CSRF "csrf"
#define FB_HTTP_F_NEXT "next"

/*
 * One page request: what every handler needs, set up by fb_http_web_begin
 * and released by fb_http_web_end. Members borrowed from the request
 * unless said otherwise.
 */
struct fb_http_web {
	struct fb_http_req *req;
	const struct fb_http_env *env;
	const struct fb_conf *conf;
	const char *reqid;
	const char *client;
	struct fb_http_session sess; /* valid when has_session (new members) */
	int has_session;
	const char *pre;           /* the pre-session id (cookie), once known or made */
	struct fb_http_form *form; /* POST: the parsed form (fb_http_web_post) */
	const char *next;          /* a checked local path: ?next= / the form's next, or "/" */
};

/*
 * Sets w up for req: the session cookie when valid (an invalid, expired or
 * revoked one is ignored and logged), the next parameter of the query.
 * Returns 0, or -1 when it answered already (503: store or sealer missing).
 */
int fb_http_web_begin(struct fb_http_req *req, struct fb_http_web *w);
/* Releases w (the session). */
void fb_http_web_end(struct fb_http_web *w);

/*
 * A POST: checks the content type (400), parses the form (413 on a limit,
 * 400 on bad encoding), then the CSRF token (403); each refusal is an
 * error page and an audit line. On success w->form and w->next (from the
 * form) are set and 0 returned; -1 when it answered.
 */
int fb_http_web_post(struct fb_http_web *w);
/* Appends the hidden csrf and next fields of a form to p (sets the pre-session cookie if needed).
 */
void fb_http_web_form_fields(struct fb_http_web *w, struct fb_http_page *p);

/*
 * Answers an error page: code, title, message (both escaped) and a link
 * (href and text; both NULL for none). Writes the audit line event (NULL:
 * none) with detail (a short reason, never a secret).
 */
void fb_http_web_fail(struct fb_http_web *w, int code, const char *title, const char *message,
    const char *href, const char *link_text, const char *event, const char *detail);
/* A store (or other internal) failure: logs err, answers 503 "try again later". */
void fb_http_web_unavailable(struct fb_http_web *w, const struct fb_err *err);
/* The message for a lockout of secs seconds ("Wait 30 seconds ..."), in the request's arena. */
const char *fb_http_web_wait_text(struct fb_http_web *w, int64_t secs);
/* Adds a Retry-After header of secs (at least 1) seconds. */
void fb_http_web_retry_after(struct fb_http_web *w, int64_t secs);
/* Answers 429 with Retry-After and the lockout message. */
void fb_http_web_locked(struct fb_http_web *w, int64_t retry_after);

/* path + "?next=" + next (percent-encoded) when next is not "/", in the request's arena. */
const char *fb_http_web_url(struct fb_http_web *w, const char *path);

/*
 * Replaces the session: revokes the current one (if any), issues s as the
 * cookie. 0 when done, -1 when it answered (503).
 */
int fb_http_web_session_replace(struct fb_http_web *w, const struct fb_http_session *s);

/*
 * The signed-in user of a page: a FULL session of an active local account
 * that has the second factor its groups require. Otherwise it answers (a
 * redirect to the sign-in, the second factor or enrolment; 403 for a
 * disabled account) and returns -1. On 0, *acct is filled (new members,
 * fb_local_account_cleanup).
 */
int fb_http_web_user(struct fb_http_web *w, struct fb_local_account *acct);

/* An audit line: event, the session's user (or user when not NULL) and the client address. */
void fb_http_web_audit(struct fb_http_web *w, const char *event, const char *user, const char *fmt,
    ...) FB_PRINTF(4, 5);

/*
 * The protocol ends of upstream sign-in, dispatched by http/upstream.c for
 * /upstream/NAME/ACTION (up: the configured upstream, borrowed).
 *  start: redirect the browser to the upstream (OIDC authorization request,
 *    SAML AuthnRequest); login_hint (may be NULL) is the email typed on the
 *    login page. The return-to is saved by the caller already.
 *  callback (OIDC), acs and slo (SAML): check what came back, then call
 *    fb_http_upstream_finish (or answer a clear refusal page).
 */
void fb_http_oidc_rp_start(struct fb_http_req *req, const struct fb_conf_upstream *up,
    const char *login_hint);
void fb_http_oidc_rp_callback(struct fb_http_req *req, const struct fb_conf_upstream *up);
void fb_http_saml_sp_start(struct fb_http_req *req, const struct fb_conf_upstream *up,
    const char *login_hint);
void fb_http_saml_sp_acs(struct fb_http_req *req, const struct fb_conf_upstream *up);
void fb_http_saml_sp_slo(struct fb_http_req *req, const struct fb_conf_upstream *up);
/*
 * logout: signing out of the broker signs out at the upstream too
 * (upstreams[].logout): redirect the browser there (OIDC RP-initiated
 * logout, SAML LogoutRequest). record (borrowed) is what
 * fb_http_upstream_finish kept for the session (FB_HTTP_UPSTREAM_SESSION_NS).
 * The broker session is revoked and its cookie cleared already. OIDC always
 * answers (discovery may come first); SAML returns 1 when the browser was
 * answered, 0 when nothing could be sent (logged): the caller then shows
 * the signed-out page.
 */
void fb_http_oidc_rp_logout(struct fb_http_req *req, const struct fb_conf_upstream *up,
    const json_t *record);
int fb_http_saml_sp_logout(struct fb_http_req *req, const struct fb_conf_upstream *up,
    const json_t *record);

/*
 * The return-to saved by /upstream/NAME/start: a cookie <cookie_name> +
 * this suffix, sealed for this purpose, holding {"u": NAME, "n": PATH}.
 */
#define FB_HTTP_UPSTREAM_RETURN_SUFFIX	"_up"
#define FB_HTTP_UPSTREAM_RETURN_PURPOSE "upstream-return"
/* The path of an upstream's endpoints: "/upstream/" NAME "/" action. */
#define FB_HTTP_PATH_UPSTREAM "/upstream/"
/*
 * The public keys a provider checks private_key_jwt client assertions with
 * (the keyring's, fb_oidc_jwks_publish): the client's jwks_uri. Not the
 * future OpenID provider's /oauth2/jwks, and no upstream name has a dot.
 */
#define FB_HTTP_PATH_UPSTREAM_JWKS FB_HTTP_PATH_UPSTREAM "jwks.json"
/* The page handler of /upstream/ + "*" (registered by fb_http_upstream_routes_add). */
void fb_http_web_handle_upstream(struct fb_http_req *req, void *arg);
/*
 * The mapping rules of conf->mappings_dir, compiled once per worker and
 * shared by the SAML IdP and the upstream sign-in (borrowed, for the
 * worker's life). A file that does not compile leaves only its rule out
 * (fb_map_set_load_usable; logged at debug level: the configuration check
 * reports it, an error when an SP or upstream uses it); fails only when the
 * directory cannot be read (err filled).
 */
struct fb_map_set;
/*
 * Hands this worker the rules its master compiled before the fork (borrowed,
 * for the worker's life): fb_http_rules_load then compiles nothing. NULL: it
 * compiles them itself.
 */
void fb_http_rules_use(const struct fb_map_set *rules);
enum fb_status fb_http_rules_load(const struct fb_conf *conf, const struct fb_map_set **out,
    struct fb_err *err);
/*
 * Registers /upstream/ + "*" when conf has upstreams (and
 * FB_HTTP_PATH_UPSTREAM_JWKS when one uses private_key_jwt), loading the
 * mapping rules once per worker (statuses of fb_http_rules_load and
 * fb_http_router_add, err filled).
 */
enum fb_status fb_http_upstream_routes_add(struct fb_http_router *r, const struct fb_conf *conf,
    struct fb_err *err);
/*
 * After /logout revoked w's session: forgets what the upstream sign-in kept
 * for it and, when the session came from an upstream with logout: true whose
 * protocol end can sign out, hands the browser to it. 1 when it answered,
 * 0 when the signed-out page is still to be sent.
 */
int fb_http_upstream_logout(struct fb_http_web *w);
/*
 * 1 when the login page offers the password form: always without
 * upstreams; with upstreams, when local accounts exist.
 */
int fb_http_upstream_local_available(struct fb_http_web *w);
/* Appends the login page's upstream buttons and home-realm discovery form to p. */
void fb_http_upstream_login_choices(struct fb_http_web *w, struct fb_http_page *p);
/*
 * GET /login with ?upstream=NAME (redirect to its start) or ?email=
 * (home-realm discovery: redirect to the upstream owning the domain, with
 * login_hint). Returns 1 when it answered; 0 when the login page is to be
 * shown, with *message (an alert, or NULL) and *username (the field's
 * value, or NULL) set.
 */
int fb_http_upstream_login_get(struct fb_http_web *w, const char **message,
    const char **username);

/* The page handlers (registered by fb_http_web_routes_add). */
void fb_http_web_handle_login(struct fb_http_req *req, void *arg);
void fb_http_web_handle_login_mfa(struct fb_http_req *req, void *arg);
void fb_http_web_handle_mfa_enrol(struct fb_http_req *req, void *arg);
void fb_http_web_handle_recover(struct fb_http_req *req, void *arg);
void fb_http_web_handle_logout(struct fb_http_req *req, void *arg);
void fb_http_web_handle_home(struct fb_http_req *req, void *arg);
void fb_http_web_handle_password(struct fb_http_req *req, void *arg);

#endif
