/* SPDX-License-Identifier: Apache-2.0 */
/* http/saml.c: the SAML IdP's endpoints: metadata, certificate, SP- and IdP-initiated sign-on, logout. */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "saml/saml.h"
#include "http/http.h"
#include "http/internal.h"
#include "http/web.h"
#include "http/samlidp.h"
#include "http/pages.h"

/*
 * This worker's IdP: the master's, inherited at the fork (fb_http_saml_idp_use),
 * else built once after the fork; each worker adds SPs to its copy's lasso server
 * as it meets them, nothing else changes.
 */
static struct fb_saml_idp *worker_idp;

void
fb_http_saml_idp_use(struct fb_saml_idp *idp)
{
	worker_idp = idp;
}

/* ---- replies ---------------------------------------------------------------------------- */

static void
send_page(struct fb_http_req *req, int code, const char *title, const char *detail)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_http_page p;

	fb_http_page_begin(&p, env->conf, title);
	fb_http_page_html(&p,
	    "<main>\n<h1>%s</h1>\n<p>%s</p>\n<p><a href=\"/\">Back to your apps</a></p>\n</main>",
	    title, detail);
	fb_http_page_send(req, &p, code);
}

/*
 * The auto-submitting form that carries a SAML message to the SP, in the
 * site's layout: its script and style run by the page's CSP nonce; without
 * JavaScript the person presses the button.
 */
void
fb_http_saml_post_form(struct fb_http_req *req, const struct fb_saml_reply *r)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_http_page p;

	fb_http_page_begin_strict(&p, req, env->conf, "Signing in",
	    4 * FB_SAML_MESSAGE_MAX + FB_HTTP_PAGE_MAX);
	fb_http_page_html(&p,
	    "<main>\n<h1>Signing you in</h1>\n<form method=\"post\" action=\"%s\">\n"
	    "<input type=\"hidden\" name=\"%s\" value=\"%s\">\n",
	    r->post_url, r->post_field, r->post_value);
	if (r->relay_state != NULL)
		fb_http_page_html(&p, "<input type=\"hidden\" name=\"RelayState\" value=\"%s\">\n",
		    r->relay_state);
	fb_http_page_html(&p,
	    "<p>Taking you to the application%s%s&hellip;</p>\n<noscript><p class=\"alert note\">"
	    "JavaScript is off: press the button to continue.</p>"
	    "<button type=\"submit\">Continue</button></noscript>\n</form>\n</main>\n"
	    "<script nonce=\"%s\">document.forms[0].submit();</script>",
	    env->conf->org_name != NULL ? " with " : "",
	    env->conf->org_name != NULL ? env->conf->org_name : "", fb_http_page_nonce(&p));
	fb_http_page_send(req, &p, 200);
}

/* Sends what the saml module decided: a POST form, a redirect, or a page. */
static void
send_reply(struct fb_http_req *req, const struct fb_saml_reply *r)
{
	if (r->post_url != NULL) {
		fb_http_saml_post_form(req, r);
	} else if (r->redirect_url != NULL) {
		fb_http_reply_header(req, "Location", r->redirect_url);
		fb_http_reply(req, 303, NULL, NULL, 0);
	} else {
		send_page(req, r->http_status != 0 ? r->http_status : 500,
		    r->title != NULL ? r->title : "Error",
		    r->detail != NULL ? r->detail : "Something went wrong.");
	}
}

/* 303 to /login?next=<here>: the person signs in, then comes back to here (a local path). */
static void
to_login(struct fb_http_req *req, const char *here)
{
	char *enc = evhttp_uriencode(here, -1, 0);
	char *url = fb_xasprintf("%s?next=%s", FB_HTTP_PATH_LOGIN, enc != NULL ? enc : "%2F");

	fb_http_redirect(req, url);
	free(url);
	free(enc);
}

/* The raw (still percent-encoded) query string of req, or NULL. */
static const char *
raw_query(struct fb_http_req *req)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req->ev);

	return u != NULL ? evhttp_uri_get_query(u) : NULL;
}

/*
 * Ends the browser session s everywhere: revoked in the store (a copy of
 * the cookie stops working too), then the cookie dropped. FB_OK or the
 * store's status (err filled; the cookie is dropped anyway).
 */
static enum fb_status
session_end(struct fb_http_req *req, const struct fb_http_session *s, struct fb_err *err)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	enum fb_status r = fb_store_session_revoke(env->store, s->sid, s->expires_at, err);

	fb_http_session_clear(req);
	return r;
}

/*
 * The signed-in person: FB_OK with *s and *u filled (members new) when a
 * FULL session exists and its user is known; FB_ERR_NOTFOUND otherwise.
 * When the store cannot say (fb_http_store_down), that status: the caller
 * answers 503 (store_down_page), never the login page.
 */
static enum fb_status
signed_in(struct fb_http_req *req, struct fb_http_session *s, struct fb_store_user *u,
    const struct fb_saml_sp *sp, struct fb_store_signon *known)
{
	struct fb_err err = {0};
	enum fb_status r;

	memset(s, 0, sizeof(*s));
	memset(u, 0, sizeof(*u));
	memset(known, 0, sizeof(*known));
	/* The session's checks, its user and what the answer to sp reads: one store call. */
	if ((r = fb_http_session_get_user(req, s, u, sp, known, &err)) == FB_OK &&
	    s->state == FB_HTTP_SESSION_FULL && u->active)
		return FB_OK;
	fb_http_session_cleanup(s);
	fb_store_user_cleanup(u);
	fb_store_signon_cleanup(known);
	if (fb_http_store_down(r)) {
		fb_rlog_err(req, &err);
		return r;
	}
	return FB_ERR_NOTFOUND;
}

/* The page of a sign-in the store cannot serve now (503, Retry-After). */
static void
store_down_page(struct fb_http_req *req)
{
	fb_http_page_unavailable(req, "Sign-in unavailable",
	    "Sign-in is not available right now. Wait a moment and try again.", NULL);
}

static int
ready(struct fb_http_req *req)
{
	const struct fb_http_env *env = fb_http_req_env(req);

	if (worker_idp == NULL || env->store == NULL || env->sealer == NULL) {
		fb_http_reply_error(req, FB_ERR_NOMEM, "The SAML identity provider is not available.",
		    NULL);
		return 0;
	}
	return 1;
}

/* ---- /saml/idp/metadata, /saml/idp/cert.pem ------------------------------------------------- */

static void
h_metadata(struct fb_http_req *req, void *arg)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_err err = {0};
	char *xml = NULL;
	size_t len = 0;

	if (worker_idp == NULL) {
		fb_http_reply_error(req, FB_ERR_NOTFOUND, "No SAML identity provider here.", NULL);
		return;
	}
	if (fb_saml_idp_metadata(worker_idp, env->conf->saml_sign_metadata, &xml, &len, &err) !=
	    FB_OK) {
		fb_http_reply_error(req, FB_ERR_INTERNAL, NULL, &err);
		return;
	}
	fb_http_reply(req, 200, "application/samlmetadata+xml", xml, len);
	free(xml);
}

static void
h_cert(struct fb_http_req *req, void *arg)
{
	const char *pem;

	if (worker_idp == NULL) {
		fb_http_reply_error(req, FB_ERR_NOTFOUND, "No SAML identity provider here.", NULL);
		return;
	}
	pem = fb_saml_idp_cert_pem(worker_idp);
	fb_http_reply(req, 200, "application/x-pem-file", pem, strlen(pem));
}

/* ---- /saml/idp/sso ------------------------------------------------------------------------- */

/* Answers a verified request for the signed-in person, or sends them to sign in first. */
static void
sso_continue(struct fb_http_req *req, struct fb_saml_request *sr)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_saml_reply reply = {0};
	struct fb_saml_subject who = {0};
	struct fb_http_session s;
	struct fb_store_user u;
	struct fb_store_signon known;
	struct fb_err err = {0};
	char *handle = NULL, *here = NULL;
	enum fb_status who_r = signed_in(req, &s, &u, fb_saml_request_sp(sr), &known);
	int have = who_r == FB_OK;

	if (fb_http_store_down(who_r)) {
		store_down_page(req);
		goto out;
	}
	/* SAML2 Core 3.4.1: ForceAuthn wants an authentication after the request arrived. */
	if (have && fb_saml_request_force_authn(sr) && s.auth_time < fb_saml_request_received(sr)) {
		if (fb_saml_request_is_passive(sr)) {
			have = 0;
		} else {
			/*
			 * SECURITY: a fresh sign-in is asked for: the old session is
			 * revoked, not only its cookie dropped (a copy must not outlive it).
			 */
			enum fb_status er = session_end(req, &s, &err);

			fb_audit(fb_http_req_id(req), "session_ended", "user=%s: ForceAuthn",
			    s.username);
			fb_http_session_cleanup(&s);
			fb_store_user_cleanup(&u);
			have = 0;
			if (er != FB_OK) {
				fb_http_page_unavailable(req, "Sign-in unavailable",
				    "Your earlier session cannot be ended. Try again later.", &err);
				goto out;
			}
			goto login;
		}
	}
	if (have) {
		who.user = &u;
		who.session_id = s.sid;
		who.auth_time = s.auth_time;
		who.mfa = s.mfa;
		who.expires_at = s.expires_at;
		who.client_addr = fb_http_req_client(req);
		who.known = &known;
		fb_saml_request_answer(worker_idp, env->store, sr, &who, fb_http_req_id(req), &reply,
		    &err);
		send_reply(req, &reply);
		goto out;
	}
	if (fb_saml_request_is_passive(sr)) {
		fb_saml_request_answer(worker_idp, env->store, sr, NULL, fb_http_req_id(req), &reply,
		    &err);
		send_reply(req, &reply);
		goto out;
	}
login:
	/* SECURITY: the login page carries a random handle; the request stays in the store. */
	if (fb_saml_request_stash(worker_idp, env->store, sr, &handle, &err) != FB_OK) {
		fb_http_page_unavailable(req, "Sign-in unavailable",
		    "The sign-in request cannot be kept while you sign in. Try again later.", &err);
		goto out;
	}
	here = fb_xasprintf("%s?resume=%s", FB_SAML_PATH_SSO, handle);
	to_login(req, here);
out:
	if (have) {
		fb_http_session_cleanup(&s);
		fb_store_user_cleanup(&u);
	}
	fb_store_signon_cleanup(&known);
	fb_saml_reply_cleanup(&reply);
	free(handle);
	free(here);
}

static void
h_sso(struct fb_http_req *req, void *arg)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_saml_request *sr = NULL;
	struct fb_saml_reply reply = {0};
	struct fb_err err = {0};
	const char *resume;
	char *saml_request = NULL, *relay_state = NULL;
	enum fb_status r;

	if (!ready(req))
		return;
	if (fb_http_req_method_id(req) == FB_HTTP_POST) {
		size_t len = 0;
		const char *body = fb_http_req_body(req, &len);

		if (fb_saml_form_get(body, len, "SAMLRequest", &saml_request, &err) != FB_OK) {
			fb_audit(fb_http_req_id(req), "saml_request_invalid", "POST: %s", err.msg);
			send_page(req, 400, "Bad sign-in request",
			    "The form holds no usable SAMLRequest field.");
			goto out;
		}
		if (fb_saml_form_get(body, len, "RelayState", &relay_state, &err) == FB_ERR_INVALID) {
			fb_audit(fb_http_req_id(req), "saml_request_invalid", "POST: %s", err.msg);
			send_page(req, 400, "Bad sign-in request",
			    "The RelayState field is malformed (a bad %-escape, an encoded NUL or "
			    "given twice).");
			goto out;
		}
		r = fb_saml_request_parse(worker_idp, env->store, FB_SAML_POST, NULL, saml_request,
		    relay_state, fb_http_req_id(req), &sr, &reply, &err);
	} else if ((resume = fb_http_req_query(req, "resume")) != NULL) {
		r = fb_saml_request_resume(worker_idp, env->store, resume, &sr, &err);
		if (fb_http_store_down(r)) {
			/* The request may be in the store still: not "expired", try again. */
			fb_rlog_err(req, &err);
			store_down_page(req);
			goto out;
		}
		if (r != FB_OK) {
			fb_audit(fb_http_req_id(req), "saml_resume_failed", "%s", err.msg);
			send_page(req, 400, "Sign-in expired",
			    "This sign-in was finished already or took too long. Start again from the "
			    "application.");
			goto out;
		}
	} else {
		r = fb_saml_request_parse(worker_idp, env->store, FB_SAML_REDIRECT, raw_query(req),
		    NULL, NULL, fb_http_req_id(req), &sr, &reply, &err);
	}
	if (r != FB_OK) {
		fb_rlog(req, FB_LOG_INFO, "%s", err.msg);
		send_reply(req, &reply);
		goto out;
	}
	sso_continue(req, sr);
out:
	fb_saml_request_free(sr);
	fb_saml_reply_cleanup(&reply);
	free(saml_request);
	free(relay_state);
}

/* ---- /saml/idp/init/<sp> ------------------------------------------------------------------- */

static void
h_init(struct fb_http_req *req, void *arg)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	const char *path = fb_http_req_path(req), *name, *q;
	const struct fb_saml_sp *sp;
	struct fb_saml_reply reply = {0};
	struct fb_saml_subject who = {0};
	struct fb_http_session s;
	struct fb_store_user u;
	struct fb_store_signon known;
	struct fb_err err = {0};
	char *here, *rs = NULL;
	enum fb_status r;

	if (!ready(req))
		return;
	name = path + strlen(FB_SAML_PATH_INIT);
	if ((sp = fb_saml_idp_sp_get(worker_idp, name)) == NULL) {
		fb_audit_fields(fb_http_req_id(req), "saml_sp_unknown",
		    FB_LOG_FIELDS(FB_LOG_STR("sp", name), FB_LOG_STR("addr", fb_http_req_client(req))),
		    "IdP-initiated sign-on for an unknown service provider");
		send_page(req, 404, "Unknown application",
		    "There is no application with this name here.");
		return;
	}
	if ((r = signed_in(req, &s, &u, sp, &known)) != FB_OK && fb_http_store_down(r)) {
		store_down_page(req);
		return;
	}
	if (r != FB_OK) {
		q = raw_query(req);
		here = q != NULL ? fb_xasprintf("%s?%s", path, q) : fb_xstrdup(path);
		if (!fb_http_next_check(here)) {
			free(here);
			here = fb_xstrdup(path);
		}
		to_login(req, here);
		free(here);
		return;
	}
	/*
	 * SECURITY: the RelayState from the raw query, so an encoded NUL (which
	 * the parsed query would cut the value at) or a repeated one is refused.
	 */
	q = raw_query(req);
	if (fb_saml_form_get(q, q != NULL ? strlen(q) : 0, "RelayState", &rs, &err) ==
	    FB_ERR_INVALID) {
		fb_audit(fb_http_req_id(req), "saml_request_invalid", "init: sp=%s: %s",
		    fb_saml_sp_name(sp), err.msg);
		send_page(req, 400, "Bad link", "This link's RelayState is refused.");
		goto out;
	}
	who.user = &u;
	who.session_id = s.sid;
	who.auth_time = s.auth_time;
	who.mfa = s.mfa;
	who.expires_at = s.expires_at;
	who.client_addr = fb_http_req_client(req);
	who.known = &known;
	fb_saml_idp_initiated(worker_idp, env->store, sp, &who, rs, fb_http_req_id(req), &reply,
	    &err);
	send_reply(req, &reply);
out:
	free(rs);
	fb_saml_reply_cleanup(&reply);
	fb_http_session_cleanup(&s);
	fb_store_user_cleanup(&u);
	fb_store_signon_cleanup(&known);
}

/* ---- /saml/idp/slo ----------------------------------------------------------------------- */

static void
h_slo(struct fb_http_req *req, void *arg)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_saml_reply reply = {0};
	struct fb_http_session s = {0};
	struct fb_err err = {0};
	char *saml_request = NULL, *relay_state = NULL;
	enum fb_status r;
	int have;

	if (!ready(req))
		return;
	/* The request is checked against this browser's session (SECURITY: logout CSRF). */
	r = fb_http_session_get(req, &s, &err);
	have = r == FB_OK;
	if (fb_http_store_down(r)) {
		/* The store cannot say whether this session is live: nothing is decided. */
		fb_http_page_unavailable(req, "Sign-out unavailable",
		    "Sign-out cannot be completed right now. Try again later.", &err);
		goto out;
	}
	if (fb_http_req_method_id(req) == FB_HTTP_POST) {
		size_t len = 0;
		const char *body = fb_http_req_body(req, &len);

		if (fb_saml_form_get(body, len, "SAMLRequest", &saml_request, &err) != FB_OK ||
		    fb_saml_form_get(body, len, "RelayState", &relay_state, &err) == FB_ERR_INVALID) {
			fb_audit(fb_http_req_id(req), "saml_request_invalid", "POST: %s", err.msg);
			send_page(req, 400, "Bad sign-out request",
			    "The form holds no usable SAMLRequest or RelayState field.");
			goto out;
		}
		r = fb_saml_logout(worker_idp, env->store, FB_SAML_POST, NULL, saml_request,
		    relay_state, have ? s.sid : NULL, fb_http_req_id(req), &reply, &err);
	} else {
		r = fb_saml_logout(worker_idp, env->store, FB_SAML_REDIRECT, raw_query(req), NULL,
		    NULL, have ? s.sid : NULL, fb_http_req_id(req), &reply, &err);
	}
	if (r == FB_OK && have) {
		/* The broker session ends everywhere: revoked in the store, cookie dropped. */
		if (session_end(req, &s, &err) != FB_OK)
			fb_rlog_err(req, &err);
		fb_audit_fields(fb_http_req_id(req), "logout",
		    FB_LOG_FIELDS(FB_LOG_STR("user", s.username),
			FB_LOG_STR("addr", fb_http_req_client(req))),
		    "signed out by a SAML LogoutRequest");
	} else if (r != FB_OK) {
		/* A refused request leaves the session and its cookie alone. */
		fb_rlog(req, FB_LOG_INFO, "%s", err.msg);
	}
	/*
	 * No session came with the request: nothing is ended, and no cookie is
	 * touched (a SameSite cookie a cross-site POST did not carry stays valid).
	 */
	send_reply(req, &reply);
out:
	if (have)
		fb_http_session_cleanup(&s);
	fb_saml_reply_cleanup(&reply);
	free(saml_request);
	free(relay_state);
}

/* ---- registration --------------------------------------------------------------------------- */

enum fb_status
fb_http_saml_routes_add(struct fb_http_router *r, const struct fb_conf *conf,
    const struct fb_keyring *kr, struct fb_err *err)
{
	const struct fb_map_set *rules = NULL;
	struct fb_err e = {0};
	enum fb_status st;

	if (kr == NULL)
		return FB_OK;
	/*
	 * The worker's rules, shared with the upstream sign-in. Without a readable
	 * directory the IdP loads none of its own unless an SP names a rule, and
	 * then says why it cannot.
	 */
	if (fb_http_rules_load(conf, &rules, &e) != FB_OK)
		rules = NULL;
	if (worker_idp == NULL &&
	    (st = fb_saml_idp_new(conf, kr, rules, &worker_idp, err)) != FB_OK)
		return st;
	if ((st = fb_http_saml_sp_routes_add(r, conf, kr, err)) != FB_OK)
		return st;
	if ((st = fb_http_router_add(r, FB_SAML_PATH_METADATA, FB_HTTP_GET, h_metadata, NULL,
	         err)) != FB_OK ||
	    (st = fb_http_router_add(r, FB_SAML_PATH_CERT, FB_HTTP_GET, h_cert, NULL, err)) != FB_OK)
		return st;
	if (conf->nsaml_sps == 0)
		return FB_OK;
	if ((st = fb_http_router_add(r, FB_SAML_PATH_SSO, FB_HTTP_GET | FB_HTTP_POST, h_sso, NULL,
	         err)) != FB_OK ||
	    (st = fb_http_router_add(r, FB_SAML_PATH_INIT "*", FB_HTTP_GET, h_init, NULL, err)) !=
	        FB_OK ||
	    (st = fb_http_router_add(r, FB_SAML_PATH_SLO, FB_HTTP_GET | FB_HTTP_POST, h_slo, NULL,
	         err)) != FB_OK)
		return st;
	return FB_OK;
}
