/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http/saml_sp.c: the broker as a SAML service provider: /saml/sp/metadata
 * and the SAML ends of /upstream/NAME/start and /upstream/NAME/acs
 * (http/upstream.c dispatches to them). The protocol work is the saml
 * module's (saml/saml.h: fb_saml_broker_*).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "saml/saml.h"
#include "upstream/upstream.h"
#include "http/http.h"
#include "http/internal.h"
#include "http/web.h"
#include "http/pages.h"
#include "http/samlidp.h"

/* The pre-session cookie binding an AuthnRequest to the browser that started it. */
#define SP_COOKIE         "fb_saml_sp"
#define SP_COOKIE_PURPOSE "saml_sp_request"
/* Replay-cache namespace of the ACS (assertion IDs, request IDs). */
#define SP_ONCE_NS "saml_sp"

/* This worker's SP entity: built once after fork, immutable afterwards. */
static struct fb_saml_broker *worker_broker;

static void
send_page(struct fb_http_req *req, int code, const char *title, const char *detail)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_http_page p;

	fb_http_page_begin(&p, env->conf, title);
	fb_http_page_html(&p,
	    "<main>\n<h1>%s</h1>\n<p>%s</p>\n<p><a href=\"" FB_HTTP_PATH_LOGIN
	    "\">Back to the sign-in page</a></p>\n</main>",
	    title, detail);
	fb_http_page_send(req, &p, code);
}

/*
 * The IdP's form posts across sites, and a browser sends no SameSite=Lax
 * cookie with it: the fields are posted once more from our own page (same
 * site) to /upstream/NAME/ACTION?same_site=1, so the cookies come along.
 * Takes *value and *relay (set to NULL).
 */
static void
repost(struct fb_http_req *req, const struct fb_conf_upstream *up, const char *action,
    const char *field, char **value, char **relay)
{
	struct fb_saml_reply reply = {0};

	reply.post_url = fb_xasprintf(FB_HTTP_PATH_UPSTREAM "%s/%s?same_site=1", up->name, action);
	reply.post_field = field;
	reply.post_value = *value;
	reply.relay_state = *relay;
	*value = NULL;
	*relay = NULL;
	fb_http_saml_post_form(req, &reply);
	fb_saml_reply_cleanup(&reply);
}

static int
ready(struct fb_http_req *req)
{
	const struct fb_http_env *env = fb_http_req_env(req);

	if (worker_broker == NULL || env->store == NULL || env->sealer == NULL) {
		fb_http_page_unavailable(req, "Sign-in unavailable",
		    "Signing in through SAML identity providers is not available right now.", NULL);
		return 0;
	}
	return 1;
}

/* ---- /saml/sp/metadata ---------------------------------------------------------------- */

static void
h_sp_metadata(struct fb_http_req *req, void *arg)
{
	struct fb_err err = {0};
	char *xml = NULL;
	size_t len = 0;

	(void)arg;
	if (worker_broker == NULL) {
		fb_http_reply_error(req, FB_ERR_NOTFOUND, "No SAML service provider is set up.",
		    NULL);
		return;
	}
	if (fb_saml_broker_metadata(worker_broker, 0, &xml, &len, &err) != FB_OK) {
		fb_http_reply_error(req, FB_ERR_INTERNAL, NULL, &err);
		return;
	}
	fb_http_reply_header(req, "Cache-Control", "public, max-age=300");
	fb_http_reply(req, 200, "application/samlmetadata+xml", xml, len);
	free(xml);
}

/* ---- /upstream/NAME/start ---------------------------------------------------------------- */

void
fb_http_saml_sp_start(struct fb_http_req *req, const struct fb_conf_upstream *up,
    const char *login_hint)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_err err = {0};
	char *url = NULL, *id = NULL, *plain = NULL, *sealed = NULL;
	int64_t exp;

	if (!ready(req))
		return;
	if (fb_saml_broker_authn_request(worker_broker, up->name, NULL, login_hint, &url, &id,
	        &err) != FB_OK) {
		fb_http_page_unavailable(req, "Sign-in unavailable",
		    "This identity provider's metadata is not loaded. Tell your administrator.",
		    &err);
		goto out;
	}
	/* SECURITY: the request ID is bound to this browser, sealed, for a short while. */
	exp = fb_time_now() + env->conf->saml_request_lifetime;
	plain = fb_xasprintf("%s\n%s", up->name, id);
	if (fb_crypto_seal(env->sealer, SP_COOKIE_PURPOSE, plain, strlen(plain), exp, &sealed,
	        &err) != FB_OK) {
		fb_http_reply_error(req, FB_ERR_INTERNAL, NULL, &err);
		goto out;
	}
	fb_http_reply_cookie(req, SP_COOKIE, sealed, env->conf->saml_request_lifetime);
	fb_audit(fb_http_req_id(req), "saml_upstream_request", "upstream=%s request=%s", up->name,
	    id);
	fb_http_redirect(req, url);
out:
	free(url);
	free(id);
	free(plain);
	free(sealed);
}

/* ---- /upstream/NAME/acs --------------------------------------------------------------------- */

static enum fb_status
once_store(void *store, const char *id, int64_t expires_at, struct fb_err *err)
{
	return fb_saml_broker_once_store(store, id, expires_at, err);
}

/* The request ID sealed in this browser's cookie for upstream name (new), or NULL. */
static char *
cookie_request(struct fb_http_req *req, const char *name)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	const char *c = fb_http_req_cookie(req, SP_COOKIE);
	unsigned char *plain = NULL;
	size_t len = 0, n = strlen(name);
	struct fb_err err = {0};
	char *id = NULL;

	if (c == NULL ||
	    fb_crypto_unseal(env->sealer, SP_COOKIE_PURPOSE, c, &plain, &len, &err) != FB_OK)
		return NULL;
	if (len > n + 1 && memcmp(plain, name, n) == 0 && plain[n] == '\n')
		id = fb_xstrdup((char *)plain + n + 1);
	free(plain);
	return id;
}

void
fb_http_saml_sp_acs(struct fb_http_req *req, const struct fb_conf_upstream *up)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_saml_reply reply = {0};
	struct fb_saml_login login = {0};
	struct fb_err err = {0};
	char *resp = NULL, *relay = NULL, *request_id = NULL;
	const char *body;
	size_t len = 0;
	enum fb_status r;

	if (!ready(req))
		return;
	if (fb_http_req_method_id(req) != FB_HTTP_POST) {
		send_page(req, 405, "Wrong method",
		    "The identity provider must POST its response.");
		return;
	}
	body = fb_http_req_body(req, &len);
	if (fb_saml_form_get(body, len, "SAMLResponse", &resp, &err) != FB_OK ||
	    fb_saml_form_get(body, len, "RelayState", &relay, &err) == FB_ERR_INVALID) {
		fb_audit(fb_http_req_id(req), "saml_upstream_response_invalid", "upstream=%s: %s",
		    up->name, err.msg);
		send_page(req, 400, "Sign-in refused",
		    "The identity provider's form holds no usable SAMLResponse.");
		goto out;
	}
	request_id = cookie_request(req, up->name);
	if (request_id == NULL && fb_http_req_query(req, "same_site") == NULL) {
		/* The cookie binding the request to this browser must come along. */
		repost(req, up, "acs", "SAMLResponse", &resp, &relay);
		goto out;
	}
	/* The request is used once, whatever the outcome. */
	if (request_id != NULL)
		fb_http_reply_cookie(req, SP_COOKIE, "", 0);
	{
		struct fb_saml_acs in = {up->name, resp, request_id, fb_time_now(), once_store,
		    env->store, fb_http_req_id(req)};

		r = fb_saml_broker_acs(worker_broker, &in, &login, &reply, &err);
	}
	if (r != FB_OK) {
		fb_rlog(req, FB_LOG_INFO, "%s", err.msg);
		send_page(req, reply.http_status != 0 ? reply.http_status : 400,
		    reply.title != NULL ? reply.title : "Sign-in refused",
		    reply.detail != NULL ? reply.detail : "The response was refused.");
		goto out;
	}
	{
		struct fb_upstream_identity id = {up->name, login.issuer, login.nameid,
		    login.nameid_format, login.attributes, login.expires_at, login.session_index,
		    NULL};

		fb_http_upstream_finish(req, &id);
	}
out:
	fb_saml_login_cleanup(&login);
	fb_saml_reply_cleanup(&reply);
	free(resp);
	free(relay);
	free(request_id);
}

/* ---- single logout: /upstream/NAME/slo and the broker's sign-out ------------------------ */

/* What http/upstream.c recorded for session sid (new JSON), or NULL. */
static json_t *
upstream_record(struct fb_http_req *req, const char *sid)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	unsigned char *v = NULL;
	size_t len = 0;
	struct fb_err err = {0};
	json_t *o;

	if (fb_store_kv_get(env->store, FB_HTTP_UPSTREAM_SESSION_NS, sid, &v, &len, &err) != FB_OK)
		return NULL;
	o = json_loadb((const char *)v, len, 0, NULL);
	free(v);
	return o;
}

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

int
fb_http_saml_sp_logout(struct fb_http_req *req, const struct fb_conf_upstream *up,
    const json_t *record)
{
	char *url = NULL;
	struct fb_err err = {0};
	int done = 0;

	if (worker_broker == NULL || jstr(record, "subject") == NULL)
		return 0;
	if (fb_saml_broker_logout_request(worker_broker, up->name, jstr(record, "subject"),
	        jstr(record, "subject_format"), jstr(record, "session_index"), NULL, &url,
	        &err) == FB_OK) {
		fb_audit(fb_http_req_id(req), "saml_upstream_logout_request", "upstream=%s",
		    up->name);
		fb_http_redirect(req, url);
		done = 1;
	} else {
		fb_rlog_err(req, &err);
	}
	free(url);
	return done;
}

void
fb_http_saml_sp_slo(struct fb_http_req *req, const struct fb_conf_upstream *up)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_saml_reply reply = {0};
	struct fb_saml_logout_req l = {0};
	struct fb_http_session s = {0};
	struct fb_err err = {0};
	char *saml_request = NULL, *relay = NULL, *url = NULL;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req->ev);
	const char *query = u != NULL ? evhttp_uri_get_query(u) : NULL;
	int post = fb_http_req_method_id(req) == FB_HTTP_POST, have = 0, ended = 0;
	json_t *rec = NULL;
	enum fb_status r;

	if (!ready(req))
		return;
	if (post) {
		size_t len = 0;
		const char *body = fb_http_req_body(req, &len);

		if (fb_saml_form_get(body, len, "SAMLResponse", &saml_request, &err) == FB_OK) {
			/* The IdP answering our LogoutRequest: the broker session ended already. */
			send_page(req, 200, "Signed out",
			    "You have signed out here and at your identity provider.");
			goto out;
		}
		if (fb_saml_form_get(body, len, "SAMLRequest", &saml_request, &err) != FB_OK ||
		    fb_saml_form_get(body, len, "RelayState", &relay, &err) == FB_ERR_INVALID) {
			send_page(req, 400, "Sign-out refused",
			    "The form holds no usable SAMLRequest.");
			goto out;
		}
		if (fb_http_req_query(req, "same_site") == NULL) {
			/* A cross-site POST carries no session cookie. */
			repost(req, up, "slo", "SAMLRequest", &saml_request, &relay);
			goto out;
		}
	} else if (fb_http_req_query(req, "SAMLResponse") != NULL) {
		send_page(req, 200, "Signed out",
		    "You have signed out here and at your identity provider.");
		goto out;
	}
	r = fb_saml_broker_logout_parse(worker_broker, up->name,
	    post ? FB_SAML_POST : FB_SAML_REDIRECT, post ? NULL : query, saml_request, relay,
	    fb_time_now(), fb_http_req_id(req), &l, &reply, &err);
	if (r != FB_OK) {
		fb_rlog(req, FB_LOG_INFO, "%s", err.msg);
		send_page(req, reply.http_status != 0 ? reply.http_status : 400,
		    reply.title != NULL ? reply.title : "Sign-out refused",
		    reply.detail != NULL ? reply.detail : "The request was refused.");
		goto out;
	}
	/* SECURITY: the session ends only when the request names what it was signed in as. */
	r = fb_http_session_get(req, &s, &err);
	have = r == FB_OK;
	if (fb_http_store_down(r)) {
		/* The store cannot say whether this session is live: nothing is decided. */
		fb_http_page_unavailable(req, "Sign-out unavailable",
		    "Sign-out cannot be completed right now. Try again later.", &err);
		goto out;
	}
	if (have && (rec = upstream_record(req, s.sid)) != NULL && jstr(rec, "upstream") != NULL &&
	    strcmp(jstr(rec, "upstream"), up->name) == 0 &&
	    fb_saml_logout_req_matches(&l, jstr(rec, "subject"), jstr(rec, "session_index"))) {
		if (fb_store_session_revoke(env->store, s.sid, s.expires_at, &err) != FB_OK) {
			fb_http_page_unavailable(req, "Sign-out unavailable",
			    "Sign-out cannot be completed right now. Try again later.", &err);
			goto out;
		}
		fb_http_session_clear(req);
		fb_audit(fb_http_req_id(req), "logout", "user=%s by upstream %s LogoutRequest",
		    s.username, up->name);
		ended = 1;
	} else {
		fb_audit(fb_http_req_id(req), "saml_upstream_logout_nomatch",
		    "upstream=%s: no session of this browser is the one named", up->name);
	}
	if (fb_saml_broker_logout_response(worker_broker, up->name, l.id, ended, l.relay_state,
	        &url, &err) == FB_OK) {
		fb_http_redirect(req, url);
	} else {
		fb_rlog_err(req, &err);
		send_page(req, 200, ended ? "Signed out" : "Not signed out",
		    ended ? "Your session here has ended."
		          : "No session here matched the request.");
	}
out:
	if (have)
		fb_http_session_cleanup(&s);
	json_decref(rec);
	fb_saml_logout_req_cleanup(&l);
	fb_saml_reply_cleanup(&reply);
	free(saml_request);
	free(relay);
	free(url);
}

/* ---- registration ------------------------------------------------------------------------- */

enum fb_status
fb_http_saml_sp_routes_add(struct fb_http_router *r, const struct fb_conf *conf,
    const struct fb_keyring *kr, struct fb_err *err)
{
	enum fb_status st;
	size_t n = 0;

	for (size_t i = 0; i < conf->nupstreams; i++)
		n += conf->upstreams[i].type == FB_CONF_UPSTREAM_SAML;
	if (kr == NULL || n == 0)
		return FB_OK;
	if (worker_broker == NULL &&
	    (st = fb_saml_broker_from_conf(conf, kr, 1, &worker_broker, err)) != FB_OK)
		return st;
	return fb_http_router_add(r, FB_SAML_PATH_SP_METADATA, FB_HTTP_GET, h_sp_metadata, NULL,
	    err);
}
