/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http/oauth2.c: the OpenID provider's endpoints: discovery, JWKS,
 * authorization (with the broker session and the login page), token,
 * userinfo, introspection and revocation. The protocol is oidc/op.c's.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "oidc/oidc.h"
#include "http/http.h"
#include "http/internal.h"
#include "http/web.h"
#include "http/pages.h"
#include "http/oauth2.h"

#define DISCOVERY_PATH "/.well-known/openid-configuration"

/* This worker's provider: built once after fork, immutable afterwards. */
static struct fb_oidc_op *worker_op;

enum fb_status
fb_http_oauth2_params(struct fb_arena *a, const char *body, size_t len, struct fb_oidc_params *p,
    struct fb_err *err)
{
	struct fb_http_form *f = NULL;
	const char *name, *value;
	enum fb_status r;

	memset(p, 0, sizeof(*p));
	if (len > FB_HTTP_OAUTH2_BODY_MAX)
		return fb_err_set(err, FB_ERR_LIMIT, "the body is larger than %d bytes",
		    FB_HTTP_OAUTH2_BODY_MAX);
	if ((r = fb_http_form_parse(a, body != NULL ? body : "", len, &f, err)) != FB_OK)
		return r;
	for (size_t i = 0; fb_http_form_field(f, i, &name, &value); i++) {
		const char **slot = fb_oidc_param_slot(p, name);

		if (slot == NULL)
			continue; /* RFC 6749 3.1: unrecognized parameters are ignored */
		/* RFC 6749 3.1: a parameter given twice is an error, not a choice. */
		if (*slot != NULL)
			return fb_err_set(err, FB_ERR_INVALID, "parameter %s is given twice", name);
		*slot = value;
	}
	return FB_OK;
}

/* ---- replies -------------------------------------------------------------------------- */

static void
send_json(struct fb_http_req *req, int code, const char *json)
{
	fb_http_reply_header(req, "Pragma", "no-cache");
	fb_http_reply(req, code, "application/json", json, strlen(json));
}

/*
 * CORS for browser apps: an Origin of a client's cors_origins is allowed
 * (the answer names it; Vary: Origin), any other gets no CORS header. 1 when
 * allowed.
 */
static int
cors(struct fb_http_req *req)
{
	const char *origin = fb_http_req_header(req, "Origin");

	if (origin == NULL)
		return 0;
	fb_http_reply_header(req, "Vary", "Origin");
	if (!fb_oidc_op_cors_allowed(worker_op, origin))
		return 0;
	fb_http_reply_header(req, "Access-Control-Allow-Origin", origin);
	return 1;
}

/* Sends what op decided, with its audit line. */
static void
send_op_reply(struct fb_http_req *req, struct fb_oidc_op_reply *r)
{
	if (r->audit_event[0] != '\0')
		fb_audit(fb_http_req_id(req), r->audit_event, "%s client_addr=%s", r->audit,
		    fb_http_req_client(req));
	if (r->www_authenticate != NULL)
		fb_http_reply_header(req, "WWW-Authenticate", r->www_authenticate);
	send_json(req, r->status != 0 ? r->status : 500, r->body != NULL ? r->body : "{}");
	fb_oidc_op_reply_cleanup(r);
}

/* An OAuth error as JSON (RFC 6749 5.2), with an audit line. */
static void
send_error(struct fb_http_req *req, int code, const char *error, const char *desc,
    const char *event)
{
	json_t *o = json_pack("{s:s, s:s}", "error", error, "error_description", desc);
	char *s = json_dumps(o, JSON_COMPACT);

	fb_audit(fb_http_req_id(req), event, "%s: %s", error, desc);
	send_json(req, code, s);
	free(s);
	json_decref(o);
}

static void
send_page(struct fb_http_req *req, int code, const char *title, const char *detail)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_http_page p;

	fb_http_page_begin(&p, env->conf, title);
	fb_http_page_html(&p, "<main>\n<h1>%s</h1>\n<p>%s</p>\n</main>", title, detail);
	fb_http_page_send(req, &p, code);
}

/* 1 when the provider and the store are there; else it answered 503. */
static int
ready(struct fb_http_req *req)
{
	const struct fb_http_env *env = fb_http_req_env(req);

	if (worker_op == NULL || env->store == NULL) {
		fb_http_reply_error(req, FB_ERR_NOMEM, "The OpenID provider is not available.",
		    NULL);
		return 0;
	}
	/* The clients kept in the store (fedbroker oidc client add) are read through it. */
	fb_oidc_op_store_set(worker_op, env->store);
	return 1;
}

/*
 * Reads the form of a POST endpoint into *p: 1, or 0 after answering
 * invalid_request (wrong content type, malformed, oversized, repeated).
 */
static int
form_read(struct fb_http_req *req, struct fb_oidc_params *p, const char *event)
{
	const char *ct = fb_http_req_header(req, "Content-Type");
	struct fb_err err = {0};
	const char *body;
	size_t len = 0;

	body = fb_http_req_body(req, &len);
	if (ct == NULL || !fb_http_form_content_type_check(ct)) {
		send_error(req, 400, "invalid_request",
		    "the body must be application/x-www-form-urlencoded", event);
		return 0;
	}
	if (fb_http_oauth2_params(fb_http_req_arena(req), body, len, p, &err) != FB_OK) {
		send_error(req, 400, "invalid_request", err.msg, event);
		return 0;
	}
	return 1;
}

/* ---- discovery and keys ------------------------------------------------------------------ */

static void
h_discovery(struct fb_http_req *req, void *arg)
{
	const char *d = fb_oidc_op_discovery(worker_op);

	(void)arg;
	fb_http_reply_header(req, "Access-Control-Allow-Origin", "*");
	fb_http_reply(req, 200, "application/json", d, strlen(d));
}

static void
h_jwks(struct fb_http_req *req, void *arg)
{
	const char *j = fb_oidc_op_jwks(worker_op);

	(void)arg;
	fb_http_reply_header(req, "Access-Control-Allow-Origin", "*");
	fb_http_reply(req, 200, "application/jwk-set+json", j, strlen(j));
}

/* ---- /oauth2/authorize --------------------------------------------------------------------- */

/* The signed-in person (FB_OK, members new), FB_ERR_NOTFOUND, or the store's failure. */
static enum fb_status
signed_in(struct fb_http_req *req, struct fb_http_session *s, struct fb_store_user *u)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_err err = {0};
	enum fb_status r;

	memset(s, 0, sizeof(*s));
	memset(u, 0, sizeof(*u));
	if ((r = fb_http_session_get(req, s, &err)) == FB_OK && s->state == FB_HTTP_SESSION_FULL &&
	    (r = fb_store_user_get_by_id(env->store, s->user_id, u, &err)) == FB_OK && u->active)
		return FB_OK;
	fb_http_session_cleanup(s);
	fb_store_user_cleanup(u);
	if (fb_http_store_down(r)) {
		fb_rlog_err(req, &err);
		return r;
	}
	return FB_ERR_NOTFOUND;
}

/* A browser request's parameters from the query (GET) or the form (POST). */
static int
authz_params(struct fb_http_req *req, struct fb_oidc_params *p, const char *event)
{
	if (fb_http_req_method_id(req) == FB_HTTP_POST)
		return form_read(req, p, event);
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; fb_oidc_param_names[i] != NULL; i++)
		*fb_oidc_param_slot(p, fb_oidc_param_names[i]) =
		    fb_http_req_query(req, fb_oidc_param_names[i]);
	return 1;
}

/* Redirects the browser to the client with the authorization response. */
static void
to_client(struct fb_http_req *req, const struct fb_oidc_authz_req *a, const char *code,
    const struct fb_oidc_op_error *e)
{
	char *url = fb_oidc_authz_response(worker_op, a->redirect_uri, code, e, a->state);

	if (e != NULL)
		fb_audit(fb_http_req_id(req), "oidc_authorize_refused", "client=%s %s: %s",
		    a->client->id, e->code, e->desc);
	fb_http_reply_header(req, "Location", url);
	fb_http_reply(req, 302, NULL, NULL, 0);
	free(url);
}

/*
 * This request again, as a local path for after the sign-in: the
 * authorization parameters without prompt, and auth_after when a fresh
 * sign-in is needed (so the new one passes and the old one does not).
 */
static char *
authz_again(const struct fb_oidc_params *p, int64_t auth_after)
{
	static const char *const names[] = {"response_type", "client_id", "redirect_uri", "scope",
	    "state", "nonce", "code_challenge", "code_challenge_method", "max_age", "login_hint",
	    "acr_values", NULL};
	struct fb_buf b;
	struct fb_oidc_params copy = *p;

	fb_buf_init(&b, 64 * 1024);
	(void)fb_buf_addf(&b, NULL, "%s", FB_OIDC_OP_PATH_AUTHORIZE);
	for (size_t i = 0; names[i] != NULL; i++) {
		const char *v = *fb_oidc_param_slot(&copy, names[i]);
		char *enc;

		if (v == NULL)
			continue;
		enc = evhttp_uriencode(v, -1, 0);
		(void)fb_buf_addf(&b, NULL, "%c%s=%s",
		    b.len == strlen(FB_OIDC_OP_PATH_AUTHORIZE) ? '?' : '&', names[i],
		    enc != NULL ? enc : "");
		free(enc);
	}
	if (auth_after > 0)
		(void)fb_buf_addf(&b, NULL, "&auth_after=%lld", (long long)auth_after);
	return fb_buf_take(&b);
}

/* Sends the person to the login page, then back to this request. */
static void
to_login(struct fb_http_req *req, const struct fb_oidc_params *p, const struct fb_oidc_authz_req *a,
    int64_t auth_after)
{
	char *again = authz_again(p, auth_after), *enc, *url, *hint = NULL;

	if (!fb_http_next_check(again)) {
		send_page(req, 400, "Bad sign-in request",
		    "The sign-in request of the application is too long.");
		free(again);
		return;
	}
	enc = evhttp_uriencode(again, -1, 0);
	/* login_hint: an email address goes to home-realm discovery. */
	if (a->login_hint != NULL && fb_conf_addr_spec_check(a->login_hint))
		hint = evhttp_uriencode(a->login_hint, -1, 0);
	url = fb_xasprintf("%s?next=%s%s%s", FB_HTTP_PATH_LOGIN, enc != NULL ? enc : "%2F",
	    hint != NULL ? "&email=" : "", hint != NULL ? hint : "");
	fb_http_redirect(req, url);
	free(url);
	free(enc);
	free(hint);
	free(again);
}

/* ---- consent (third-party clients) ------------------------------------------------------ */

/* The consent form's action, its fields, and how long a shown form can be answered. */
#define CONSENT_PATH         "/oauth2/consent"
#define CONSENT_F_TICKET     "ticket"
#define CONSENT_F_ALLOW      "allow"
#define CONSENT_PENDING_NS   "oidc_consent_pending"
#define CONSENT_PENDING_TTL  600
#define CONSENT_TICKET_BYTES 16
#define CONSENT_TICKET_LEN   22

/* What a scope lets the client do, in words for the consent page. */
static const char *
scope_words(struct fb_arena *ar, const char *scope)
{
	static const struct {
		const char *scope, *words;
	} known[] = {
	    {"openid", "Know who you are (your account's identifier)"},
	    {"profile", "See your name and username"},
	    {"email", "See your email address"},
	    {"groups", "See the groups you are a member of"},
	    {"offline_access", "Keep access while you are away (refresh tokens)"},
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(scope, known[i].scope) == 0)
			return known[i].words;
	return fb_arena_printf(ar, "Use the permission \"%s\"", scope);
}

/*
 * Shows the consent page for a (params p) to the signed-in s/u: the
 * request is kept server-side under a random one-time ticket, bound to the
 * session and the user; the form carries the ticket and a CSRF token.
 */
static void
consent_page(struct fb_http_req *req, const struct fb_oidc_params *p,
    const struct fb_oidc_authz_req *a, const struct fb_http_session *s,
    const struct fb_store_user *u)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_arena *ar = fb_http_req_arena(req);
	json_t *pending = json_pack("{s:s, s:s, s:{}}", "sid", s->sid, "uid", u->id, "p"), *params;
	struct fb_oidc_params copy = *p;
	char *ticket = fb_rand_token(CONSENT_TICKET_BYTES), *json, *scopes, *save = NULL;
	struct fb_http_page pg;
	struct fb_http_web w;
	struct fb_err err = {0};
	enum fb_status r;

	/* The request again, as checked; prompt and auth_after were answered here. */
	params = json_object_get(pending, "p");
	for (size_t i = 0; fb_oidc_param_names[i] != NULL; i++) {
		const char *v = *fb_oidc_param_slot(&copy, fb_oidc_param_names[i]);

		if (v != NULL && strcmp(fb_oidc_param_names[i], "prompt") != 0 &&
		    strcmp(fb_oidc_param_names[i], "auth_after") != 0)
			json_object_set_new(params, fb_oidc_param_names[i], json_string(v));
	}
	json = json_dumps(pending, JSON_COMPACT);
	r = fb_store_kv_put(env->store, CONSENT_PENDING_NS, ticket, json, strlen(json),
	    fb_time_now() + CONSENT_PENDING_TTL, &err);
	free(json);
	json_decref(pending);
	if (r != FB_OK) {
		fb_rlog_err(req, &err);
		send_page(req, 503, "Sign-in unavailable",
		    "Sign-in is not available right now. Wait a moment and try again.");
		goto out;
	}
	if (fb_http_web_begin(req, &w) != 0)
		goto out;
	fb_audit(fb_http_req_id(req), "oidc_consent_asked", "client=%s user=%s scope=%s",
	    a->client->id, u->username, a->scope);
	fb_http_page_begin(&pg, w.conf, "Allow access");
	fb_http_page_html(&pg,
	    "<main>\n<h1>Allow access</h1>\n<p><strong>%s</strong> asks to sign you in as "
	    "<strong>%s</strong> and to:</p>\n<ul class=\"scopes\">\n",
	    a->client->name != NULL ? a->client->name : a->client->id, u->username);
	scopes = fb_arena_strdup(ar, a->scope != NULL ? a->scope : "");
	for (char *t = strtok_r(scopes, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save))
		fb_http_page_html(&pg, "<li>%s</li>\n", scope_words(ar, t));
	fb_http_page_html(&pg,
	    "</ul>\n<p>You will be sent back to <code>%s</code>.</p>\n"
	    "<form method=\"post\" action=\"" CONSENT_PATH "\">\n",
	    a->redirect_uri);
	fb_http_web_form_fields(&w, &pg);
	fb_http_page_html(&pg,
	    "<input type=\"hidden\" name=\"" CONSENT_F_TICKET "\" value=\"%s\">\n"
	    "<button type=\"submit\" name=\"" CONSENT_F_ALLOW "\" value=\"yes\">Allow</button>\n"
	    "<button type=\"submit\" name=\"" CONSENT_F_ALLOW "\" value=\"no\">Deny</button>\n"
	    "</form>\n</main>",
	    ticket);
	fb_http_reply_header(req, "Cache-Control", "no-store");
	fb_http_page_send(req, &pg, 200);
	fb_http_web_end(&w);
out:
	free(ticket);
}

/*
 * The end of an authorization for the signed-in s/u: the second factor
 * acr_values asks for, the client's groups, consent (unless consented:
 * given just now), then a code to the client.
 */
static void
authorize_finish(struct fb_http_req *req, const struct fb_oidc_params *p,
    const struct fb_oidc_authz_req *a, const struct fb_http_session *s,
    const struct fb_store_user *u, int consented)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_oidc_op_error e = {0};
	char *code = NULL;
	int needed = 0;

	/* acr_values asks for a second factor: a sign-in without one cannot give it. */
	if (a->want_mfa && !s->mfa) {
		e.code = a->prompt_none ? "interaction_required" : "access_denied";
		snprintf(e.desc, sizeof(e.desc), "%s",
		    "the client asks for a sign-in with a second factor; this one had none");
		to_client(req, a, NULL, &e);
		return;
	}
	if (fb_oidc_op_user_allowed(worker_op, env->store, a, u, &e) != FB_OK) {
		to_client(req, a, NULL, &e);
		return;
	}
	if (!consented) {
		if (fb_oidc_op_consent_check(env->store, a, u->id, &needed, &e) != FB_OK) {
			to_client(req, a, NULL, &e);
			return;
		}
		/* OIDC Core 3.1.2.6: prompt=none cannot show the page. */
		if (needed && a->prompt_none) {
			e.code = "consent_required";
			snprintf(e.desc, sizeof(e.desc), "%s",
			    "the user has not allowed this client these scopes");
			to_client(req, a, NULL, &e);
			return;
		}
		if (needed) {
			consent_page(req, p, a, s, u);
			return;
		}
	}
	if (fb_oidc_op_code_issue(worker_op, env->store, a, u, s->auth_time, s->sid, s->mfa, &code,
	        &e) != FB_OK) {
		to_client(req, a, NULL, &e);
		return;
	}
	fb_audit(fb_http_req_id(req), "oidc_code_issued", "client=%s user=%s scope=%s",
	    a->client->id, u->username, a->scope);
	to_client(req, a, code, NULL);
	fb_secret_free(code);
}

/*
 * POST /oauth2/consent: Allow or Deny of a consent page. CSRF-checked,
 * the ticket taken once (a replayed form finds nothing), bound to this
 * session and user, and the request checked again (client, redirect URI).
 */
static void
h_consent(struct fb_http_req *req, void *arg)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_oidc_authz_req a = {0};
	struct fb_oidc_op_error e = {0};
	struct fb_oidc_params p;
	struct fb_http_session s;
	struct fb_store_user u;
	struct fb_http_web w;
	struct fb_err err = {0};
	const char *ticket, *allow, *value;
	unsigned char *val = NULL;
	size_t len = 0;
	json_t *pending = NULL, *params;
	int have = 0;
	enum fb_status r;

	(void)arg;
	if (!ready(req) || fb_http_web_begin(req, &w) != 0)
		return;
	if (fb_http_web_post(&w) != 0)
		goto end;
	ticket = fb_http_form_get(w.form, CONSENT_F_TICKET);
	allow = fb_http_form_get(w.form, CONSENT_F_ALLOW);
	if (ticket == NULL || strlen(ticket) != CONSENT_TICKET_LEN || allow == NULL ||
	    (strcmp(allow, "yes") != 0 && strcmp(allow, "no") != 0)) {
		fb_http_web_fail(&w, 400, "The form could not be read",
		    "The answer to the application's request is incomplete. Sign in to the "
		    "application again.",
		    NULL, NULL, "oidc_consent_refused", "no ticket or answer");
		goto end;
	}
	/* SECURITY: one-time: taken atomically, so a replayed form finds nothing. */
	r = fb_store_kv_take(env->store, CONSENT_PENDING_NS, ticket, &val, &len, &err);
	if (fb_http_store_down(r) || (r != FB_OK && r != FB_ERR_NOTFOUND)) {
		fb_http_web_unavailable(&w, &err);
		goto end;
	}
	if (r == FB_OK)
		pending = json_loadb((const char *)val, len, 0, NULL);
	free(val);
	params = json_object_get(pending, "p");
	if (r == FB_ERR_NOTFOUND || !json_is_object(params) ||
	    !json_is_string(json_object_get(pending, "sid")) ||
	    !json_is_string(json_object_get(pending, "uid"))) {
		fb_http_web_fail(&w, 400, "This request was answered already",
		    "This page was answered already or is too old. Sign in to the application "
		    "again.",
		    NULL, NULL, "oidc_consent_refused", "ticket unknown, used or expired");
		goto end;
	}
	/* SECURITY: the answer counts only from the session and user that were asked. */
	r = FB_ERR_NOTFOUND;
	if (w.has_session &&
	    strcmp(w.sess.sid, json_string_value(json_object_get(pending, "sid"))) == 0)
		r = signed_in(req, &s, &u);
	have = r == FB_OK;
	if (fb_http_store_down(r)) {
		fb_http_web_unavailable(&w, NULL);
		goto end;
	}
	if (r != FB_OK || strcmp(u.id, json_string_value(json_object_get(pending, "uid"))) != 0) {
		fb_http_web_fail(&w, 403, "This request is not yours",
		    "The application's request was made for another sign-in. Sign in to the "
		    "application again.",
		    NULL, NULL, "oidc_consent_refused", "another session or user");
		goto end;
	}
	memset(&p, 0, sizeof(p));
	for (void *it = json_object_iter(params); it != NULL;
	     it = json_object_iter_next(params, it)) {
		const char **slot = fb_oidc_param_slot(&p, json_object_iter_key(it));

		value = json_string_value(json_object_iter_value(it));
		if (slot != NULL && value != NULL)
			*slot = value;
	}
	/* The client or its redirect URI may have changed since (a store client removed). */
	r = fb_oidc_authz_check(worker_op, &p, &a, &e);
	if (r == FB_ERR_NOTFOUND) {
		fb_audit(fb_http_req_id(req), "oidc_consent_refused", "%s", e.desc);
		send_page(req, 400, "Bad sign-in request",
		    "The application is no longer known or its address changed. Tell the "
		    "application's administrator.");
		goto end;
	}
	if (r != FB_OK) {
		to_client(req, &a, NULL, &e);
		goto end;
	}
	if (strcmp(allow, "yes") != 0) {
		fb_audit(fb_http_req_id(req), "oidc_consent_denied", "client=%s user=%s scope=%s",
		    a.client->id, u.username, a.scope);
		e.code = "access_denied";
		snprintf(e.desc, sizeof(e.desc), "%s", "the user denied the request");
		to_client(req, &a, NULL, &e);
		goto end;
	}
	if (fb_oidc_op_consent_grant(env->store, &a, u.id, &e) != FB_OK) {
		to_client(req, &a, NULL, &e);
		goto end;
	}
	fb_audit(fb_http_req_id(req), "oidc_consent_given", "client=%s user=%s scope=%s",
	    a.client->id, u.username, a.scope);
	authorize_finish(req, &p, &a, &s, &u, 1);
end:
	if (have) {
		fb_http_session_cleanup(&s);
		fb_store_user_cleanup(&u);
	}
	json_decref(pending);
	fb_oidc_authz_req_cleanup(&a);
	fb_http_web_end(&w);
}

static void
h_authorize(struct fb_http_req *req, void *arg)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_oidc_authz_req a = {0};
	struct fb_oidc_op_error e = {0};
	struct fb_oidc_params p;
	struct fb_http_session s;
	struct fb_store_user u;
	struct fb_err err = {0};
	enum fb_status r, who;
	int have = 0, fresh_needed = 0;
	int64_t now = fb_time_now();

	(void)arg;
	if (!ready(req) || !authz_params(req, &p, "oidc_authorize_refused"))
		return;
	r = fb_oidc_authz_check(worker_op, &p, &a, &e);
	if (r == FB_ERR_NOTFOUND) {
		fb_audit(fb_http_req_id(req), "oidc_authorize_refused", "%s", e.desc);
		send_page(req, 400, "Bad sign-in request",
		    "The application sent a sign-in request for an unknown client or to an address "
		    "it did not register. Tell the application's administrator.");
		goto done;
	}
	if (r != FB_OK) {
		to_client(req, &a, NULL, &e);
		goto done;
	}
	who = signed_in(req, &s, &u);
	if (fb_http_store_down(who)) {
		send_page(req, 503, "Sign-in unavailable",
		    "Sign-in is not available right now. Wait a moment and try again.");
		goto done;
	}
	have = who == FB_OK;
	/*
	 * Back from the fresh sign-in prompt=login or max_age asked for, auth_after
	 * (when this request was sent to it) is what the sign-in must be newer
	 * than: max_age then counts from the request, or a slow sign-in would
	 * loop. Only the client's own wishes depend on it.
	 */
	if (have && (a.auth_after > 0
	                    ? s.auth_time < a.auth_after
	                    : a.max_age == 0 || (a.max_age > 0 && s.auth_time + a.max_age < now) ||
	                          a.prompt_login))
		fresh_needed = 1;
	if (!have || fresh_needed) {
		if (a.prompt_none) {
			e.code = "login_required";
			snprintf(e.desc, sizeof(e.desc), "%s",
			    have ? "a fresh sign-in is needed" : "no one is signed in");
			to_client(req, &a, NULL, &e);
			goto out;
		}
		if (fresh_needed) {
			/* SECURITY: a fresh sign-in is asked for: the old session is revoked. */
			if (fb_store_session_revoke(env->store, s.sid, s.expires_at, &err) !=
			    FB_OK) {
				fb_rlog_err(req, &err);
				send_page(req, 503, "Sign-in unavailable",
				    "Your earlier session cannot be ended. Try again later.");
				goto out;
			}
			fb_http_session_clear(req);
			fb_audit(fb_http_req_id(req), "session_ended",
			    "user=%s: the client %s asked "
			    "for a fresh sign-in",
			    s.username, a.client->id);
		}
		to_login(req, &p, &a, fresh_needed || a.prompt_login || a.max_age >= 0 ? now : 0);
		goto out;
	}
	authorize_finish(req, &p, &a, &s, &u, 0);
out:
	if (have) {
		fb_http_session_cleanup(&s);
		fb_store_user_cleanup(&u);
	}
done:
	fb_oidc_authz_req_cleanup(&a);
}

/* ---- /oauth2/logout (RP-initiated logout) --------------------------------------------------- */

static void
h_logout(struct fb_http_req *req, void *arg)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	const struct fb_conf_oidc_client *cl = NULL;
	struct fb_oidc_op_error e = {0};
	struct fb_oidc_params p;
	struct fb_http_session s;
	struct fb_err err = {0};
	enum fb_status r;

	(void)arg;
	if (!ready(req) || !authz_params(req, &p, "oidc_logout_refused"))
		return;
	if (fb_oidc_op_logout_check(worker_op, &p, &cl, &e) != FB_OK) {
		fb_audit(fb_http_req_id(req), "oidc_logout_refused", "%s", e.desc);
		send_page(req, 400, "Bad sign-out request",
		    "The application sent a sign-out request that cannot be trusted. You are still "
		    "signed in; sign out from your dashboard.");
		return;
	}
	if ((r = fb_http_session_get(req, &s, &err)) == FB_OK) {
		if (fb_store_session_revoke(env->store, s.sid, s.expires_at, &err) != FB_OK) {
			fb_rlog_err(req, &err);
			fb_http_session_cleanup(&s);
			send_page(req, 503, "Sign-out unavailable",
			    "Your session cannot be ended right now. Try again in a moment.");
			return;
		}
		fb_audit(fb_http_req_id(req), "session_ended", "user=%s: signed out by client %s",
		    s.username, cl != NULL ? cl->id : "(unnamed)");
		fb_http_session_cleanup(&s);
	} else if (fb_http_store_down(r)) {
		fb_rlog_err(req, &err);
		send_page(req, 503, "Sign-out unavailable",
		    "Your session cannot be ended right now. Try again in a moment.");
		return;
	}
	fb_http_session_clear(req);
	if (p.post_logout_redirect_uri != NULL) {
		char *enc = p.state != NULL ? evhttp_uriencode(p.state, -1, 0) : NULL;
		char *url = fb_xasprintf("%s%s%s", p.post_logout_redirect_uri,
		    enc == NULL                               ? ""
		    : strchr(p.post_logout_redirect_uri, '?') ? "&state="
		                                              : "?state=",
		    enc != NULL ? enc : "");

		fb_http_reply_header(req, "Location", url);
		fb_http_reply(req, 302, NULL, NULL, 0);
		free(url);
		free(enc);
		return;
	}
	send_page(req, 200, "Signed out", "You are signed out.");
}

/* ---- the token, userinfo, introspection and revocation endpoints ----------------------------- */

/* A CORS preflight (OPTIONS): 204, allowing POST (and GET) from an allowed origin. 1 when answered.
 */
static int
preflight(struct fb_http_req *req)
{
	if (fb_http_req_method_id(req) != FB_HTTP_OPTIONS)
		return 0;
	if (worker_op != NULL && cors(req)) {
		fb_http_reply_header(req, "Access-Control-Allow-Methods", "GET, POST");
		fb_http_reply_header(req, "Access-Control-Allow-Headers",
		    "Authorization, Content-Type");
		fb_http_reply_header(req, "Access-Control-Max-Age", "600");
	}
	fb_http_reply(req, 204, NULL, NULL, 0);
	return 1;
}

static void
h_token(struct fb_http_req *req, void *arg)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_oidc_op_reply out;
	struct fb_oidc_params p;
	struct fb_crypto_cert *cert;

	(void)arg;
	if (preflight(req) || !ready(req))
		return;
	cors(req);
	if (!form_read(req, &p, "oidc_token_refused"))
		return;
	cert = fb_http_req_client_cert(req);
	fb_oidc_op_token(worker_op, env->store, fb_http_req_header(req, "Authorization"), &p, cert,
	    &out);
	fb_crypto_cert_free(cert);
	send_op_reply(req, &out);
}

static void
h_userinfo(struct fb_http_req *req, void *arg)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_oidc_op_reply out;
	struct fb_crypto_cert *cert;

	(void)arg;
	if (preflight(req) || !ready(req))
		return;
	cors(req);
	cert = fb_http_req_client_cert(req);
	fb_oidc_op_userinfo(worker_op, env->store, fb_http_req_header(req, "Authorization"), cert,
	    &out);
	fb_crypto_cert_free(cert);
	send_op_reply(req, &out);
}

static void
h_introspect(struct fb_http_req *req, void *arg)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_oidc_op_reply out;
	struct fb_oidc_params p;
	struct fb_crypto_cert *cert;

	(void)arg;
	if (!ready(req) || !form_read(req, &p, "oidc_introspect_refused"))
		return;
	cert = fb_http_req_client_cert(req);
	fb_oidc_op_introspect(worker_op, env->store, fb_http_req_header(req, "Authorization"), &p,
	    cert, &out);
	fb_crypto_cert_free(cert);
	send_op_reply(req, &out);
}

static void
h_revoke(struct fb_http_req *req, void *arg)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_oidc_op_reply out;
	struct fb_oidc_params p;
	struct fb_crypto_cert *cert;

	(void)arg;
	if (preflight(req) || !ready(req))
		return;
	cors(req);
	if (!form_read(req, &p, "oidc_revoke_refused"))
		return;
	cert = fb_http_req_client_cert(req);
	fb_oidc_op_revoke(worker_op, env->store, fb_http_req_header(req, "Authorization"), &p, cert,
	    &out);
	fb_crypto_cert_free(cert);
	send_op_reply(req, &out);
}

/* ---- registration -------------------------------------------------------------------------- */

/* Builds worker_op once (with the worker's mapping rules). */
static enum fb_status
op_build(const struct fb_conf *conf, const struct fb_keyring *kr, struct fb_err *err)
{
	const struct fb_map_set *rules = NULL;
	struct fb_err e = {0};

	if (worker_op != NULL)
		return FB_OK;
	if (fb_http_rules_load(conf, &rules, &e) != FB_OK)
		rules = NULL;
	return fb_oidc_op_new(conf, kr, rules, &worker_op, err);
}

const struct fb_oidc_op *
fb_http_oauth2_op(const struct fb_http_env *env)
{
	static int failed;
	struct fb_err err = {0};

	if (worker_op == NULL && !failed && env->keyring != NULL &&
	    op_build(env->conf, env->keyring, &err) != FB_OK) {
		failed = 1;
		fb_log_err(FB_LOG_ERROR, NULL, &err);
	}
	return worker_op;
}

enum fb_status
fb_http_oauth2_routes_add(struct fb_http_router *r, const struct fb_conf *conf,
    const struct fb_keyring *kr, struct fb_err *err)
{
	static const struct {
		const char *path;
		unsigned methods;
		fb_http_handler_fn *fn;
	} routes[] = {
	    {DISCOVERY_PATH, FB_HTTP_GET, h_discovery},
	    {FB_OIDC_OP_PATH_JWKS, FB_HTTP_GET, h_jwks},
	    {FB_OIDC_OP_PATH_AUTHORIZE, FB_HTTP_GET | FB_HTTP_POST, h_authorize},
	    {CONSENT_PATH, FB_HTTP_POST, h_consent},
	    {FB_OIDC_OP_PATH_TOKEN, FB_HTTP_POST | FB_HTTP_OPTIONS, h_token},
	    {FB_OIDC_OP_PATH_USERINFO, FB_HTTP_GET | FB_HTTP_POST | FB_HTTP_OPTIONS, h_userinfo},
	    {FB_OIDC_OP_PATH_INTROSPECT, FB_HTTP_POST, h_introspect},
	    {FB_OIDC_OP_PATH_REVOKE, FB_HTTP_POST | FB_HTTP_OPTIONS, h_revoke},
	    {FB_OIDC_OP_PATH_LOGOUT, FB_HTTP_GET | FB_HTTP_POST, h_logout},
	};
	enum fb_status st;

	/* On with a keyring: clients may come from the store, without oidc.clients. */
	if (kr == NULL)
		return FB_OK;
	if ((st = op_build(conf, kr, err)) != FB_OK)
		return st;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if ((st = fb_http_router_add(r, routes[i].path, routes[i].methods, routes[i].fn,
		         NULL, err)) != FB_OK)
			return st;
	return FB_OK;
}
