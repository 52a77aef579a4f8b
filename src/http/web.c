/* SPDX-License-Identifier: Apache-2.0 */
/* http/web.c: what every page shares: request set-up, CSRF, error pages, the signed-in user. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "ident/ident.h"
#include "local/local.h"
#include "http/http.h"
#include "http/web.h"
#include "http/pages.h"

/* Random bytes of the pre-session id (22 base64url characters). */
#define PRE_BYTES 16
#define PRE_LEN   22

void
fb_http_web_audit(struct fb_http_web *w, const char *event, const char *user, const char *fmt, ...)
{
	const char *peer = fb_http_req_peer(w->req);
	va_list ap;

	if (user == NULL && w->has_session)
		user = w->sess.username;
	va_start(ap, fmt);
	fb_log_vevent(FB_LOG_INFO, "audit", "web", w->reqid, event,
	    FB_LOG_FIELDS(FB_LOG_STR("user", user), FB_LOG_STR("addr", w->client),
		/* Behind a trusted proxy: the connection's address too. */
		FB_LOG_STR("peer", peer != NULL && strcmp(peer, w->client) != 0 ? peer : NULL)),
	    fmt, ap);
	va_end(ap);
}

int
fb_http_web_begin(struct fb_http_req *req, struct fb_http_web *w)
{
	struct fb_err err = {0};
	const char *next;
	enum fb_status r;

	memset(w, 0, sizeof(*w));
	w->req = req;
	w->env = fb_http_req_env(req);
	w->conf = w->env->conf;
	w->reqid = fb_http_req_id(req);
	w->client = fb_http_req_client(req);
	w->next = FB_HTTP_PATH_HOME;
	if (w->env->store == NULL || w->env->sealer == NULL) {
		fb_rlog(req, FB_LOG_ERROR, "pages need the store and the cookie keys");
		fb_http_web_unavailable(w, NULL);
		return -1;
	}
	r = fb_http_session_get(req, &w->sess, &err);
	if (r == FB_OK) {
		w->has_session = 1;
	} else if (fb_http_store_down(r)) {
		fb_http_web_unavailable(w, &err);
		return -1;
	} else if (r != FB_ERR_NOTFOUND) {
		/* Expired, revoked, tampered with or sealed with a retired key: ignored, deleted. */
		fb_http_web_audit(w, "session_ignored", NULL, "session cookie not accepted: %s",
		    fb_status_name(r));
		fb_http_session_clear(req);
	}
	next = fb_http_req_query(req, FB_HTTP_F_NEXT);
	if (next != NULL) {
		if (fb_http_next_check(next))
			w->next = next;
		else
			fb_http_web_audit(w, "redirect_refused", NULL,
			    "next is not a local path: ignored");
	}
	return 0;
}

void
fb_http_web_end(struct fb_http_web *w)
{
	fb_http_session_cleanup(&w->sess);
}

/* The cookie name of the pre-session id, in the request's arena. */
static const char *
pre_cookie_name(struct fb_http_web *w)
{
	return fb_arena_printf(fb_http_req_arena(w->req), "%s%s", w->conf->cookie_name,
	    FB_HTTP_PRE_COOKIE_SUFFIX);
}

/*
 * What CSRF tokens are bound to: the session id when there is a session,
 * else the pre-session id of the browser (made and set as a cookie when
 * create and there is none). NULL when none and !create.
 */
static const char *
csrf_binding(struct fb_http_web *w, int create)
{
	const char *pre;
	char *fresh;

	if (w->has_session)
		return w->sess.sid;
	if (w->pre != NULL)
		return w->pre;
	pre = fb_http_req_cookie(w->req, pre_cookie_name(w));
	if (pre != NULL && strlen(pre) == PRE_LEN) {
		w->pre = pre;
		return pre;
	}
	if (!create)
		return NULL;
	fresh = fb_rand_token(PRE_BYTES);
	w->pre = fb_arena_strdup(fb_http_req_arena(w->req), fresh);
	free(fresh);
	fb_http_reply_cookie(w->req, pre_cookie_name(w), w->pre, -1);
	return w->pre;
}

void
fb_http_web_form_fields(struct fb_http_web *w, struct fb_http_page *p)
{
	struct fb_err err = {0};
	char *token = NULL;

	if (fb_crypto_csrf_new(w->env->sealer, csrf_binding(w, 1), w->conf->session_lifetime,
	        &token, &err) != FB_OK) {
		/* Cannot happen with a positive lifetime; the POST then fails its check. */
		fb_rlog_err(w->req, &err);
	}
	fb_http_page_html(p, "<input type=\"hidden\" name=\"" FB_HTTP_F_CSRF "\" value=\"%s\">\n",
	    token != NULL ? token : "");
	fb_http_page_html(p, "<input type=\"hidden\" name=\"" FB_HTTP_F_NEXT "\" value=\"%s\">\n",
	    w->next);
	free(token);
}

int
fb_http_web_post(struct fb_http_web *w)
{
	const char *path = fb_http_req_path(w->req);
	const char *back = fb_http_web_url(w, path);
	struct fb_err err = {0};
	const char *body, *token, *binding, *next;
	size_t len = 0;
	enum fb_status r;

	if (!fb_http_form_content_type_check(fb_http_req_header(w->req, "Content-Type"))) {
		fb_http_web_fail(w, 400, "The form could not be read",
		    "The browser did not send a form. Go back and try again.", back, "Try again",
		    "form_rejected", "content type is not a form");
		return -1;
	}
	body = fb_http_req_body(w->req, &len);
	r = fb_http_form_parse(fb_http_req_arena(w->req), body, len, &w->form, &err);
	if (r == FB_ERR_LIMIT) {
		fb_http_web_fail(w, 413, "The form is too large",
		    "A field of the form is longer than allowed. Shorten it and try again.", back,
		    "Try again", "form_rejected", err.msg);
		return -1;
	}
	if (r != FB_OK) {
		fb_http_web_fail(w, 400, "The form could not be read",
		    "The form holds characters that are not allowed (it must be UTF-8 text). "
		    "Check what you typed and try again.",
		    back, "Try again", "form_rejected", err.msg);
		return -1;
	}
	next = fb_http_form_get(w->form, FB_HTTP_F_NEXT);
	if (next != NULL && next[0] != '\0') {
		if (fb_http_next_check(next))
			w->next = next;
		else
			fb_http_web_audit(w, "redirect_refused", NULL,
			    "next is not a local path: ignored");
	}
	back = fb_http_web_url(w, path);
	token = fb_http_form_get(w->form, FB_HTTP_F_CSRF);
	binding = csrf_binding(w, 0);
	/* SECURITY: every form carries a token bound to this browser (CSRF). */
	if (token == NULL || token[0] == '\0' || binding == NULL) {
		fb_http_web_fail(w, 403, "This form has expired",
		    "The form was not sent from this site's page, or your browser did not keep "
		    "its cookie. Reload the page (cookies must be allowed) and try again.",
		    back, "Reload the page", "csrf_failed",
		    token == NULL || token[0] == '\0' ? "no csrf token" : "no binding cookie");
		return -1;
	}
	if ((r = fb_crypto_csrf_verify(w->env->sealer, binding, token, &err)) != FB_OK) {
		fb_http_web_fail(w, 403, "This form has expired",
		    "The form was not sent from this site's page, or it is too old. Reload the "
		    "page and try again.",
		    back, "Reload the page", "csrf_failed", fb_status_name(r));
		return -1;
	}
	return 0;
}

void
fb_http_web_fail(struct fb_http_web *w, int code, const char *title, const char *message,
    const char *href, const char *link_text, const char *event, const char *detail)
{
	struct fb_http_page p;

	if (event != NULL)
		fb_http_web_audit(w, event, NULL, "%s %s: %d %s", fb_http_req_method(w->req),
		    fb_http_req_path(w->req), code, detail != NULL ? detail : "");
	fb_http_page_begin(&p, w->conf, title);
	fb_http_page_html(&p, "<main>\n<h1>%s</h1>\n<p class=\"alert\" role=\"alert\">%s</p>\n",
	    title, message);
	if (href != NULL)
		fb_http_page_html(&p, "<p><a href=\"%s\">%s</a></p>\n", href, link_text);
	fb_http_page_raw(&p, "</main>");
	fb_http_page_send(w->req, &p, code);
}

void
fb_http_web_unavailable(struct fb_http_web *w, const struct fb_err *err)
{
	if (err != NULL)
		fb_rlog_err(w->req, err);
	fb_http_web_fail(w, 503, "Temporarily unavailable",
	    "The service cannot answer right now. Wait a moment and try again.", NULL, NULL, NULL,
	    NULL);
}

const char *
fb_http_web_wait_text(struct fb_http_web *w, int64_t secs)
{
	struct fb_arena *a = fb_http_req_arena(w->req);

	if (secs < 1)
		secs = 1;
	if (secs < 120)
		return fb_arena_printf(a,
		    "Too many failed attempts. Wait %lld second%s, then try again.",
		    (long long)secs, secs == 1 ? "" : "s");
	return fb_arena_printf(a,
	    "Too many failed attempts. Wait about %lld minutes, then try "
	    "again.",
	    (long long)((secs + 59) / 60));
}

void
fb_http_web_retry_after(struct fb_http_web *w, int64_t secs)
{
	char v[32];

	snprintf(v, sizeof(v), "%lld", (long long)(secs < 1 ? 1 : secs));
	fb_http_reply_header(w->req, "Retry-After", v);
}

void
fb_http_web_locked(struct fb_http_web *w, int64_t retry_after)
{
	fb_http_web_retry_after(w, retry_after);
	/* The local module wrote the audit line (login_locked). */
	fb_http_web_fail(w, 429, "Sign-in paused", fb_http_web_wait_text(w, retry_after),
	    fb_http_web_url(w, FB_HTTP_PATH_LOGIN), "Back to sign in", NULL, NULL);
}

const char *
fb_http_web_url(struct fb_http_web *w, const char *path)
{
	struct fb_arena *a = fb_http_req_arena(w->req);
	char *enc;
	const char *url;

	if (strcmp(w->next, FB_HTTP_PATH_HOME) == 0)
		return path;
	enc = evhttp_uriencode(w->next, -1, 0);
	if (enc == NULL)
		return path;
	url = fb_arena_printf(a, "%s?" FB_HTTP_F_NEXT "=%s", path, enc);
	free(enc);
	return url;
}

int
fb_http_web_session_replace(struct fb_http_web *w, const struct fb_http_session *s)
{
	struct fb_err err = {0};

	/* SECURITY: a new id at each step, so an id seen before sign-in is worth nothing after. */
	if (w->has_session && fb_store_session_revoke(w->env->store, w->sess.sid,
	                          w->sess.expires_at, &err) != FB_OK) {
		fb_http_web_unavailable(w, &err);
		return -1;
	}
	if (fb_http_session_set(w->req, s, &err) != FB_OK) {
		fb_http_web_unavailable(w, &err);
		return -1;
	}
	return 0;
}

/*
 * The user of a session made by an upstream sign-in, as an account without
 * credentials (the upstream checked who it is, and its second factor).
 * FB_ERR_NOTFOUND when the user is gone or disabled.
 */
static enum fb_status
upstream_account(struct fb_http_web *w, struct fb_local_account *acct, struct fb_err *err)
{
	struct fb_store_user u = {0};
	enum fb_status r;

	if ((r = fb_store_user_get_by_id(w->env->store, w->sess.user_id, &u, err)) != FB_OK)
		return r;
	if (!u.active) {
		fb_store_user_cleanup(&u);
		return fb_err_set(err, FB_ERR_NOTFOUND, "user %s is disabled", w->sess.username);
	}
	memset(acct, 0, sizeof(*acct));
	acct->id = u.id;
	acct->username = u.username;
	acct->name = u.name;
	acct->email = u.email;
	acct->active = 1;
	acct->created = u.created;
	acct->last_login = u.last_seen;
	free(u.source);
	return FB_OK;
}

int
fb_http_web_user(struct fb_http_web *w, struct fb_local_account *acct)
{
	struct fb_err err = {0};
	enum fb_status r;
	const char *here = fb_http_req_path(w->req);
	const char *q = NULL;

	memset(acct, 0, sizeof(*acct));
	if (!w->has_session) {
		/* Come back here after signing in. */
		if (strcmp(here, FB_HTTP_PATH_HOME) != 0 && fb_http_next_check(here))
			w->next = here;
		fb_http_redirect(w->req, fb_http_web_url(w, FB_HTTP_PATH_LOGIN));
		return -1;
	}
	if (w->sess.state == FB_HTTP_SESSION_MFA_PENDING) {
		fb_http_redirect(w->req, fb_http_web_url(w, FB_HTTP_PATH_LOGIN_MFA));
		return -1;
	}
	r = fb_local_account_get_by_id(w->env->store, w->sess.user_id, acct, &err);
	if (r == FB_ERR_NOTFOUND && w->sess.upstream != NULL) {
		/* Signed in through an upstream: a user without local credentials. */
		if ((r = upstream_account(w, acct, &err)) == FB_OK)
			return 0;
	}
	if (r == FB_ERR_NOTFOUND || (r == FB_OK && !acct->active)) {
		/* SECURITY: a disabled or deleted account's session stops working at once. */
		if (fb_store_session_revoke(w->env->store, w->sess.sid, w->sess.expires_at, &err) !=
		    FB_OK)
			fb_rlog_err(w->req, &err);
		fb_http_session_clear(w->req);
		fb_local_account_cleanup(acct);
		fb_http_web_fail(w, 403, "Account disabled",
		    "This account is disabled or no longer exists. Ask your administrator.", NULL,
		    NULL, "session_refused", r == FB_OK ? "account disabled" : "account deleted");
		return -1;
	}
	if (r != FB_OK) {
		fb_http_web_unavailable(w, &err);
		return -1;
	}
	/* Members of a require_mfa group set up a second factor before anything else. */
	if (w->sess.state == FB_HTTP_SESSION_MFA_ENROL ||
	    (!acct->totp_enabled && fb_ident_requires_mfa(w->conf, acct->username))) {
		if (strcmp(here, FB_HTTP_PATH_MFA_ENROL) == 0)
			return 0;
		q = fb_http_web_url(w, FB_HTTP_PATH_MFA_ENROL);
		fb_local_account_cleanup(acct);
		fb_http_redirect(w->req, q);
		return -1;
	}
	return 0;
}

enum fb_status
fb_http_web_routes_add(struct fb_http_router *r, const struct fb_conf *conf, struct fb_err *err)
{
	static const struct {
		const char *path;
		unsigned methods;
		fb_http_handler_fn *fn;
	} routes[] = {
	    {FB_HTTP_PATH_HOME, FB_HTTP_GET, fb_http_web_handle_home},
	    {FB_HTTP_PATH_LOGIN, FB_HTTP_GET | FB_HTTP_POST, fb_http_web_handle_login},
	    {FB_HTTP_PATH_LOGIN_MFA, FB_HTTP_GET | FB_HTTP_POST, fb_http_web_handle_login_mfa},
	    {FB_HTTP_PATH_MFA_ENROL, FB_HTTP_GET | FB_HTTP_POST, fb_http_web_handle_mfa_enrol},
	    {FB_HTTP_PATH_RECOVER, FB_HTTP_GET | FB_HTTP_POST, fb_http_web_handle_recover},
	    {FB_HTTP_PATH_LOGOUT, FB_HTTP_GET | FB_HTTP_POST, fb_http_web_handle_logout},
	    {FB_HTTP_PATH_PASSWORD, FB_HTTP_GET | FB_HTTP_POST, fb_http_web_handle_password},
	};
	enum fb_status rc;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if ((rc = fb_http_router_add(r, routes[i].path, routes[i].methods, routes[i].fn,
		         NULL, err)) != FB_OK)
			return rc;
	return fb_http_upstream_routes_add(r, conf, err);
}
