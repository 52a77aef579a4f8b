/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http/saml_sp.c: the broker as a SAML service provider: /saml/sp/metadata
 * and the SAML ends of /upstream/NAME/start and /upstream/NAME/acs
 * (http/upstream.c dispatches to them). The protocol work is the saml
 * module's (saml/saml.h: fb_saml_broker_*).
 */
#include <stdlib.h>
#include <string.h>

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
#define SP_COOKIE "fb_saml_sp"
#define SP_COOKIE_PURPOSE "saml_sp_request"
/* Replay-cache namespace of the ACS (assertion IDs, request IDs). */
#define SP_ONCE_NS "saml_sp"

/* Until http/upstream.c implements it, a build without it answers 501 (see pages.h). */
#pragma weak fb_http_upstream_finish

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

/* An auto-posted form (fb_saml_reply_html) of r. */
static void
send_form(struct fb_http_req *req, const struct fb_saml_reply *r)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_err err = {0};
	char *html = NULL;

	if (fb_saml_reply_html(r, env->conf->org_name, &html, &err) != FB_OK) {
		fb_http_reply_error(req, FB_ERR_INTERNAL, NULL, &err);
		return;
	}
	fb_http_reply_header(req, "Content-Security-Policy", FB_SAML_FORM_CSP);
	fb_http_reply(req, 200, "text/html; charset=utf-8", html, strlen(html));
	free(html);
}

static int
ready(struct fb_http_req *req)
{
	const struct fb_http_env *env = fb_http_req_env(req);

	if (worker_broker == NULL || env->store == NULL || env->sealer == NULL) {
		send_page(req, 503, "Sign-in unavailable",
		    "Signing in through SAML identity providers is not available right now.");
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
		fb_http_reply_error(req, FB_ERR_NOTFOUND, "No SAML service provider is set up.", NULL);
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

	(void)login_hint; /* SAML has no standard hint; the IdP asks for the name itself */
	if (!ready(req))
		return;
	if (fb_saml_broker_authn_request(worker_broker, up->name, NULL, &url, &id, &err) != FB_OK) {
		fb_rlog_err(req, &err);
		send_page(req, 503, "Sign-in unavailable",
		    "This identity provider's metadata is not loaded. Tell your administrator.");
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
		send_page(req, 405, "Wrong method", "The identity provider must POST its response.");
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
		/*
		 * The IdP's form posts across sites: a browser sends no SameSite=Lax
		 * cookie with it. Post it once more from our own page (same site), so
		 * the cookie binding the request to this browser comes along.
		 */
		reply.post_url = fb_xasprintf(FB_HTTP_PATH_UPSTREAM "%s/acs?same_site=1", up->name);
		reply.post_field = "SAMLResponse";
		reply.post_value = resp;
		resp = NULL;
		reply.relay_state = relay;
		relay = NULL;
		send_form(req, &reply);
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
	if (fb_http_upstream_finish == NULL) {
		send_page(req, 501, "Sign-in unavailable",
		    "Upstream sign-in is not part of this build.");
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
