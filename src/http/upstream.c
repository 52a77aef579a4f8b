/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http/upstream.c: sign-in through an upstream identity provider: the login
 * page's buttons and home-realm discovery, /upstream/NAME/ACTION dispatched
 * to the protocol ends, and the completion they call (fb_http_upstream_finish).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "map/map.h"
#include "oidc/oidc.h"
#include "upstream/upstream.h"
#include "http/http.h"
#include "http/web.h"
#include "http/pages.h"

/* How long a sign-in at an upstream may take before the return-to is forgotten. */
#define RETURN_LIFETIME 900
/* Longest login_hint passed on. */
#define LOGIN_HINT_MAX 256

/*
 * The mapping rules of this worker: the master's (fb_http_rules_use), else
 * compiled once here (fb_http_rules_load).
 */
static const struct fb_map_set *worker_rules;

void
fb_http_rules_use(const struct fb_map_set *rules)
{
	worker_rules = rules;
}

enum fb_status
fb_http_rules_load(const struct fb_conf *conf, const struct fb_map_set **out, struct fb_err *err)
{
	json_t *errors = NULL, *line;
	enum fb_status st = FB_OK;
	size_t i;

	if (worker_rules == NULL) {
		struct fb_map_set *set = NULL;

		st = fb_map_set_load_usable(conf->mappings_dir, &set, &errors, err);
		worker_rules = set;
		/* Debug only: the configuration check at start and reload warned already. */
		json_array_foreach(errors, i, line)
			fb_log(FB_LOG_DEBUG, "mappings.dir: %s (rule left out)", json_string_value(line));
		json_decref(errors);
		if (st != FB_OK)
			fb_err_prefix(err, "mappings.dir");
	}
	*out = worker_rules;
	return st;
}

/* ---- the login page ------------------------------------------------------------------- */

int
fb_http_upstream_local_available(struct fb_http_web *w)
{
	size_t n = 0;
	struct fb_err err = {0};

	if (w->conf->nupstreams == 0)
		return 1;
	/* With upstreams, the password form is shown when local accounts exist. */
	if (fb_store_cred_count(w->env->store, &n, &err) != FB_OK) {
		fb_rlog_err(w->req, &err);
		return 1;
	}
	return n > 0;
}

/* /upstream/NAME/start?next=... for up, in the request's arena. */
static const char *
start_url(struct fb_http_web *w, const struct fb_conf_upstream *up)
{
	char *path = fb_arena_printf(fb_http_req_arena(w->req), FB_HTTP_PATH_UPSTREAM "%s/start",
	    up->name);

	return fb_http_web_url(w, path);
}

void
fb_http_upstream_login_choices(struct fb_http_web *w, struct fb_http_page *p)
{
	int domains = 0;

	if (w->conf->nupstreams == 0)
		return;
	fb_http_page_raw(p, "<ul class=\"apps\" id=\"upstreams\">\n");
	for (size_t i = 0; i < w->conf->nupstreams; i++) {
		const struct fb_conf_upstream *up = &w->conf->upstreams[i];

		domains |= up->ndomains > 0;
		fb_http_page_html(p, "<li><a class=\"app\" href=\"%s\">Sign in with %s</a></li>\n",
		    start_url(w, up), up->display_name);
	}
	fb_http_page_raw(p, "</ul>\n");
	if (!domains)
		return;
	/* Home-realm discovery: a GET form, it only chooses where to go. */
	fb_http_page_raw(p, "<form method=\"get\" action=\"" FB_HTTP_PATH_LOGIN
	                    "\" id=\"discover\">\n");
	if (strcmp(w->next, FB_HTTP_PATH_HOME) != 0)
		fb_http_page_html(p, "<input type=\"hidden\" name=\"" FB_HTTP_F_NEXT "\" value=\"%s\">\n",
		    w->next);
	fb_http_page_raw(p,
	    "<label for=\"email\">Work email</label>\n"
	    "<input type=\"email\" id=\"email\" name=\"email\" autocomplete=\"email\" "
	    "autocapitalize=\"none\" spellcheck=\"false\" required "
	    "aria-describedby=\"email-hint\">\n"
	    "<p class=\"hint\" id=\"email-hint\">Your organization's sign-in page is chosen from "
	    "the address.</p>\n"
	    "<button type=\"submit\">Continue</button>\n</form>\n");
}

/* Answers the page for an address whose domain no upstream owns. */
static void
unknown_domain(struct fb_http_web *w, const char *email)
{
	const char *at = strrchr(email, '@');
	struct fb_http_page p;

	fb_http_web_audit(w, "upstream_unknown_domain", NULL, "no upstream for the domain %s",
	    at != NULL ? at + 1 : "(none)");
	fb_http_page_begin(&p, w->conf, "Sign in");
	fb_http_page_html(&p,
	    "<main>\n<h1>Sign in to %s</h1>\n"
	    "<p class=\"alert\" role=\"alert\">No sign-in provider is set up for %s. Check the "
	    "address, or ask your administrator.</p>\n",
	    w->conf->org_name, at != NULL ? at + 1 : email);
	fb_http_upstream_login_choices(w, &p);
	fb_http_page_raw(&p, "</main>");
	fb_http_page_send(w->req, &p, 400);
}

int
fb_http_upstream_login_get(struct fb_http_web *w, const char **message, const char **username)
{
	const char *name = fb_http_req_query(w->req, "upstream");
	const char *email = fb_http_req_query(w->req, "email");
	const struct fb_conf_upstream *up;
	const char *url;

	*message = NULL;
	*username = NULL;
	if (name != NULL) {
		if ((up = fb_conf_upstream_find(w->conf, name)) == NULL) {
			fb_http_web_fail(w, 404, "Unknown sign-in provider",
			    "There is no sign-in provider of that name.", FB_HTTP_PATH_LOGIN,
			    "Back to sign-in", "upstream_unknown", "?upstream= names no upstream");
			return 1;
		}
		fb_http_redirect(w->req, start_url(w, up));
		return 1;
	}
	if (email == NULL)
		return 0;
	if (!fb_conf_addr_spec_check(email)) {
		*message = "Enter your email address (name@example.com).";
		if (!fb_http_upstream_local_available(w)) {
			fb_http_web_fail(w, 400, "Sign in", *message, FB_HTTP_PATH_LOGIN,
			    "Back to sign-in", NULL, NULL);
			return 1;
		}
		return 0;
	}
	if ((up = fb_conf_upstream_for_email(w->conf, email)) != NULL) {
		char *enc = evhttp_uriencode(email, -1, 0);

		url = start_url(w, up);
		if (enc != NULL)
			url = fb_arena_printf(fb_http_req_arena(w->req), "%s%clogin_hint=%s", url,
			    strchr(url, '?') != NULL ? '&' : '?', enc);
		free(enc);
		fb_http_redirect(w->req, url);
		return 1;
	}
	if (!fb_http_upstream_local_available(w)) {
		unknown_domain(w, email);
		return 1;
	}
	/* No upstream for the domain: the password form, the address as the username. */
	*message = "No single sign-on is set up for this address: sign in with your password.";
	*username = email;
	return 0;
}

/* ---- /upstream/NAME/ACTION ------------------------------------------------------------- */

/* Saves where to go after the sign-in at up (a sealed, short-lived cookie). 0, or -1 answered. */
static int
return_save(struct fb_http_web *w, const struct fb_conf_upstream *up, const char *next)
{
	json_t *o = json_pack("{s:s, s:s}", "u", up->name, "n", next);
	char *text = json_dumps(o, JSON_COMPACT), *token = NULL;
	struct fb_err err = {0};
	const char *name = fb_arena_printf(fb_http_req_arena(w->req), "%s" FB_HTTP_UPSTREAM_RETURN_SUFFIX,
	    w->conf->cookie_name);
	int r = 0;

	if (fb_crypto_seal(w->env->sealer, FB_HTTP_UPSTREAM_RETURN_PURPOSE, text, strlen(text),
	        fb_time_now() + RETURN_LIFETIME, &token, &err) != FB_OK) {
		fb_http_web_unavailable(w, &err);
		r = -1;
	} else {
		fb_http_reply_cookie(w->req, name, token, RETURN_LIFETIME);
	}
	free(token);
	free(text);
	json_decref(o);
	return r;
}

/* The return-to saved for upstream (a checked local path), else "/"; the cookie is deleted. */
static const char *
return_take(struct fb_http_web *w, const char *upstream)
{
	const char *name = fb_arena_printf(fb_http_req_arena(w->req), "%s" FB_HTTP_UPSTREAM_RETURN_SUFFIX,
	    w->conf->cookie_name);
	const char *token = fb_http_req_cookie(w->req, name), *u = NULL, *n = NULL;
	const char *out = FB_HTTP_PATH_HOME;
	unsigned char *plain = NULL;
	size_t len = 0;
	json_t *o = NULL;
	struct fb_err err = {0};

	if (token == NULL)
		return out;
	fb_http_reply_cookie(w->req, name, "", 0);
	if (fb_crypto_unseal(w->env->sealer, FB_HTTP_UPSTREAM_RETURN_PURPOSE, token, &plain, &len, &err) != FB_OK)
		return out;
	o = json_loadb((const char *)plain, len, 0, NULL);
	/* SECURITY: the open-redirect guard again, and only for the upstream it was saved for. */
	if (o != NULL && json_unpack(o, "{s:s, s:s}", "u", &u, "n", &n) == 0 &&
	    strcmp(u, upstream) == 0 && fb_http_next_check(n))
		out = fb_arena_printf(fb_http_req_arena(w->req), "%s", n);
	json_decref(o);
	free(plain);
	return out;
}

/* /upstream/NAME/start: saves the return-to, then the protocol redirects to the upstream. */
static void
start(struct fb_http_web *w, const struct fb_conf_upstream *up)
{
	const char *rt = fb_http_req_query(w->req, "return_to");
	const char *hint = fb_http_req_query(w->req, "login_hint");

	if (rt != NULL) {
		if (fb_http_next_check(rt))
			w->next = rt;
		else
			fb_http_web_audit(w, "redirect_refused", NULL,
			    "return_to is not a local path: ignored");
	}
	/* A hint is an address or a short name; anything else is dropped, not passed on. */
	if (hint != NULL && (strlen(hint) > LOGIN_HINT_MAX || !fb_utf8_check(hint, strlen(hint)) ||
	                        strpbrk(hint, "\r\n\t") != NULL))
		hint = NULL;
	if (return_save(w, up, w->next) != 0)
		return;
	fb_http_web_audit(w, "upstream_start", NULL, "sign-in through %s started", up->name);
	if (up->type == FB_CONF_UPSTREAM_OIDC)
		fb_http_oidc_rp_start(w->req, up, hint);
	else
		fb_http_saml_sp_start(w->req, up, hint);
}

void
fb_http_web_handle_upstream(struct fb_http_req *req, void *arg)
{
	const char *path = fb_http_req_path(req) + strlen(FB_HTTP_PATH_UPSTREAM);
	size_t nlen = strcspn(path, "/");
	const char *action = path[nlen] == '/' ? path + nlen + 1 : "";
	char name[64];
	const struct fb_conf_upstream *up = NULL;
	int post = fb_http_req_method_id(req) == FB_HTTP_POST;
	struct fb_http_web w;

	(void)arg;
	if (fb_http_web_begin(req, &w) != 0)
		return;
	if (nlen > 0 && nlen < sizeof(name)) {
		memcpy(name, path, nlen);
		name[nlen] = '\0';
		up = fb_conf_upstream_find(w.conf, name);
	}
	if (up == NULL) {
		fb_http_web_fail(&w, 404, "Unknown sign-in provider",
		    "There is no sign-in provider at this address.", FB_HTTP_PATH_LOGIN,
		    "Back to sign-in", "upstream_unknown", "no such upstream in the path");
	} else if (strcmp(action, "start") == 0 && !post) {
		start(&w, up);
	} else if (strcmp(action, "callback") == 0 && up->type == FB_CONF_UPSTREAM_OIDC) {
		fb_http_oidc_rp_callback(req, up);
	} else if (strcmp(action, "acs") == 0 && post && up->type == FB_CONF_UPSTREAM_SAML) {
		fb_http_saml_sp_acs(req, up);
	} else if (strcmp(action, "slo") == 0 && up->type == FB_CONF_UPSTREAM_SAML) {
		fb_http_saml_sp_slo(req, up);
	} else {
		fb_http_web_fail(&w, 404, "Page not found",
		    "There is no such page of this sign-in provider.", FB_HTTP_PATH_LOGIN,
		    "Back to sign-in", NULL, NULL);
	}
	fb_http_web_end(&w);
}

/* ---- completion ----------------------------------------------------------------------- */

/* Seconds the session may last: session.lifetime, capped by the upstream's settings and word. */
static int64_t
session_lifetime(const struct fb_conf *conf, const struct fb_conf_upstream *up,
    const struct fb_upstream_identity *id, int64_t now)
{
	int64_t life = conf->session_lifetime;

	if (up->session_lifetime > 0 && up->session_lifetime < life)
		life = up->session_lifetime;
	if (id->expires_at > 0 && id->expires_at - now < life)
		life = id->expires_at - now;
	return life;
}

/* Keeps what logging out at the upstream needs, by session id, until the session ends. */
static enum fb_status
logout_record(struct fb_http_web *w, const struct fb_http_session *s,
    const struct fb_upstream_identity *id, struct fb_err *err)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?}", "upstream", id->upstream,
	    "issuer", id->issuer, "subject", id->subject, "subject_format", id->subject_format,
	    "session_index", id->session_index, "id_token", id->id_token);
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	enum fb_status r;

	if (text == NULL)
		r = fb_err_set(err, FB_ERR_INVALID, "upstream session: a member is not UTF-8");
	else
		r = fb_store_kv_put(w->env->store, FB_HTTP_UPSTREAM_SESSION_NS, s->sid, text,
		    strlen(text), s->expires_at, err);
	free(text);
	json_decref(o);
	return r;
}

void
fb_http_upstream_finish(struct fb_http_req *req, const struct fb_upstream_identity *id)
{
	struct fb_http_web w;
	struct fb_upstream_result res = {0};
	struct fb_http_session s = {0};
	struct fb_store_cred cred = {0};
	const struct fb_conf_upstream *up;
	const char *target;
	int64_t now = fb_time_now(), life;
	struct fb_err err = {0};
	enum fb_status r;

	if (fb_http_web_begin(req, &w) != 0)
		return;
	up = fb_conf_upstream_find(w.conf, id != NULL ? id->upstream : NULL);
	if (up == NULL || worker_rules == NULL) {
		fb_http_web_fail(&w, 500, "Sign-in unavailable",
		    "Sign-in through this provider is not set up. Ask your administrator.",
		    FB_HTTP_PATH_LOGIN, "Back to sign-in", "upstream_unavailable",
		    up == NULL ? "unknown upstream" : "mappings not loaded");
		goto out;
	}
	if ((life = session_lifetime(w.conf, up, id, now)) <= 0) {
		fb_http_web_fail(&w, 403, "Sign-in expired",
		    "Your sign-in at the provider has expired already. Sign in again.",
		    FB_HTTP_PATH_LOGIN, "Back to sign-in", "upstream_expired",
		    "the upstream session ended before the broker's began");
		goto out;
	}
	r = fb_upstream_signin(w.conf, w.env->store, worker_rules, id, w.reqid, w.client, &res,
	    &err);
	if (r == FB_ERR_DENIED) {
		/* fb_upstream_signin wrote the audit line; nothing was stored. */
		fb_http_web_fail(&w, 403, "Sign-in refused", err.msg, FB_HTTP_PATH_LOGIN,
		    "Back to sign-in", NULL, NULL);
		goto out;
	}
	if (r != FB_OK) {
		fb_http_web_unavailable(&w, &err);
		goto out;
	}
	fb_http_session_init(&s, res.user.id, res.user.username, FB_HTTP_SESSION_FULL, 0, life);
	s.upstream = fb_xstrdup(up->name);
	/* A local account linked by email: its session generation applies. */
	r = fb_store_cred_get(w.env->store, res.user.id, &cred, &err);
	if (r == FB_OK)
		s.gen = cred.session_gen;
	else if (r != FB_ERR_NOTFOUND) {
		fb_http_web_unavailable(&w, &err);
		goto out;
	}
	if (logout_record(&w, &s, id, &err) != FB_OK) {
		fb_http_web_unavailable(&w, &err);
		goto out;
	}
	target = return_take(&w, up->name);
	if (fb_http_web_session_replace(&w, &s) == 0)
		fb_http_redirect(req, target);
out:
	fb_store_cred_cleanup(&cred);
	fb_http_session_cleanup(&s);
	fb_upstream_result_cleanup(&res);
	fb_http_web_end(&w);
}

int
fb_http_upstream_logout(struct fb_http_web *w)
{
	const struct fb_conf_upstream *up;
	unsigned char *rec = NULL;
	size_t len = 0;
	json_t *o;
	struct fb_err err = {0};
	enum fb_status r;
	int answered = 0;

	if (!w->has_session || w->sess.upstream == NULL)
		return 0;
	/* Taken: a second sign-out of the same session has nothing to send upstream. */
	r = fb_store_kv_take(w->env->store, FB_HTTP_UPSTREAM_SESSION_NS, w->sess.sid, &rec, &len,
	    &err);
	if (r != FB_OK) {
		if (r != FB_ERR_NOTFOUND)
			fb_rlog_err(w->req, &err);
		return 0;
	}
	up = fb_conf_upstream_find(w->conf, w->sess.upstream);
	o = json_loadb((const char *)rec, len, 0, NULL);
	free(rec);
	if (up == NULL || !up->logout || o == NULL) {
		json_decref(o);
		return 0;
	}
	if (up->type == FB_CONF_UPSTREAM_OIDC) {
		fb_http_web_audit(w, "upstream_logout", NULL, "signing out at %s too", up->name);
		fb_http_oidc_rp_logout(w->req, up, o);
		answered = 1;
	} else if (up->type == FB_CONF_UPSTREAM_SAML) {
		fb_http_web_audit(w, "upstream_logout", NULL, "signing out at %s too", up->name);
		answered = fb_http_saml_sp_logout(w->req, up, o);
	}
	json_decref(o);
	return answered;
}

/* ---- the client's JWKS ----------------------------------------------------------------- */

/* GET /upstream/jwks.json: the keyring's public keys (built once per worker: keys change by reload). */
static void
h_jwks(struct fb_http_req *req, void *arg)
{
	static char *jwks;
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_err err = {0};

	(void)arg;
	if (jwks == NULL && fb_oidc_jwks_publish(env->keyring, &jwks, &err) != FB_OK) {
		fb_http_reply_error(req, FB_ERR_INTERNAL, NULL, &err);
		return;
	}
	fb_http_reply_header(req, "Cache-Control", "public, max-age=300");
	fb_http_reply(req, 200, "application/jwk-set+json", jwks, strlen(jwks));
}

/* 1 when some OIDC upstream authenticates with private_key_jwt. */
static int
any_private_key_jwt(const struct fb_conf *conf)
{
	for (size_t i = 0; i < conf->nupstreams; i++)
		if (conf->upstreams[i].type == FB_CONF_UPSTREAM_OIDC &&
		    conf->upstreams[i].oidc.client_auth == FB_CONF_OIDC_PRIVATE_KEY_JWT)
			return 1;
	return 0;
}

/* ---- registration ---------------------------------------------------------------------- */

enum fb_status
fb_http_upstream_routes_add(struct fb_http_router *r, const struct fb_conf *conf,
    struct fb_err *err)
{
	const struct fb_map_set *rules;
	enum fb_status st;

	if (conf->nupstreams == 0)
		return FB_OK;
	if ((st = fb_http_rules_load(conf, &rules, err)) != FB_OK)
		return st;
	if (any_private_key_jwt(conf) &&
	    (st = fb_http_router_add(r, FB_HTTP_PATH_UPSTREAM_JWKS, FB_HTTP_GET, h_jwks, NULL,
	         err)) != FB_OK)
		return st;
	return fb_http_router_add(r, FB_HTTP_PATH_UPSTREAM "*", FB_HTTP_GET | FB_HTTP_POST,
	    fb_http_web_handle_upstream, NULL, err);
}
