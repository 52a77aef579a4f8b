/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http/oidc_rp.c: the OpenID Connect relying party's endpoints,
 * /upstream/NAME/start and /upstream/NAME/callback (dispatched by
 * http/upstream.c). Every outbound call (discovery, JWKS, token, userinfo)
 * runs on the worker's event loop through net/, so a slow or dead provider
 * holds only the requests waiting for it.
 *
 * The flow's secrets (state, nonce, PKCE verifier) travel in a sealed,
 * short-lived cookie bound to the browser that started it; the state is
 * accepted once (fb_store_once) and so is each code.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "net/net.h"
#include "store/store.h"
#include "oidc/oidc.h"
#include "upstream/upstream.h"
#include "http/http.h"
#include "http/internal.h"
#include "http/pages.h"
#include "http/web.h"

/* The cookie holding the flow, its sealing purpose and lifetime (s). */
#define FLOW_COOKIE   "fb_oidc"
#define FLOW_PURPOSE  "oidc-rp-flow"
#define FLOW_LIFETIME 600
/* fb_store_once namespaces. */
#define ONCE_STATE "oidc-state"
#define ONCE_CODE  "oidc-code"

/* What this worker knows of one upstream provider. */
struct rp_cache {
	char *name;
	char *issuer;
	struct fb_oidc_provider prov; /* prov.issuer NULL until discovered */
	int64_t discovered;           /* unix s */
	struct fb_oidc_jwks_cache keys;
};

static struct rp_cache *caches;
static size_t ncaches;

enum step {
	S_DISCOVERY = 0,
	S_REDIRECT,
	S_LOGOUT,
	S_CHECK,
	S_TOKEN,
	S_JWKS,
	S_VERIFY,
	S_USERINFO,
	S_FINISH,
};

struct flow {
	struct fb_http_req *req;
	struct fb_http_web w;
	const struct fb_conf_upstream *up;
	struct rp_cache *c;
	enum step step;
	int callback;        /* the callback (else the start, or the logout) */
	int logout;          /* RP-initiated logout */
	char *id_token_hint; /* logout: the session's ID token */
	int waiting;         /* an outbound call runs: the handler returned */
	int refetched;
	char *login_hint;
	char *redirect_uri;
	struct fb_oidc_authz authz; /* start: new; callback: from the cookie */
	char *cb[5]; /* the callback's state, code, iss, error, error_description (or NULL) */
	struct fb_oidc_tokens tokens;
	json_t *claims;
};

static struct rp_cache *
cache_for(const struct fb_conf_upstream *up)
{
	struct rp_cache *c;

	for (size_t i = 0; i < ncaches; i++)
		if (strcmp(caches[i].name, up->name) == 0 &&
		    strcmp(caches[i].issuer, up->oidc.issuer) == 0)
			return &caches[i];
	caches = fb_xrealloc(caches, (ncaches + 1) * sizeof(*caches));
	c = &caches[ncaches++];
	memset(c, 0, sizeof(*c));
	c->name = fb_xstrdup(up->name);
	c->issuer = fb_xstrdup(up->oidc.issuer);
	return c;
}

static void
flow_free(struct flow *f)
{
	fb_http_web_end(&f->w);
	free(f->login_hint);
	fb_secret_free(f->id_token_hint);
	free(f->redirect_uri);
	fb_oidc_authz_cleanup(&f->authz);
	for (size_t i = 0; i < sizeof(f->cb) / sizeof(f->cb[0]); i++)
		fb_secret_free(f->cb[i]);
	fb_oidc_tokens_cleanup(&f->tokens);
	json_decref(f->claims);
	free(f);
}

/* Ends the flow with an error page and an audit line (detail: never a secret). */
static void
flow_fail(struct flow *f, int code, const char *message, const char *event,
    const struct fb_err *err)
{
	if (err != NULL)
		fb_log_err(FB_LOG_WARN, fb_http_req_id(f->req), err);
	fb_http_web_fail(&f->w, code, "Sign-in failed", message, "/login", "Back to sign-in", event,
	    f->up->name);
	flow_free(f);
}

static void flow_run(struct flow *f);

typedef void step_done_fn(struct flow *f, struct fb_net_http_response *resp);

/* An outbound call for f: done(f, resp) runs flow's next part. */
struct call {
	struct flow *f;
	step_done_fn *done;
};

static void
call_done(enum fb_status st, struct fb_net_http_response *resp, const struct fb_err *err, void *arg)
{
	struct call *k = arg;
	struct flow *f = k->f;
	step_done_fn *done = k->done;

	free(k);
	fb_http_req_resume(f->req);
	f->waiting = 0;
	if (st != FB_OK) {
		/* A slow, dead or refusing provider: a clear page, nothing else waits on it. */
		flow_fail(f, 502, "The identity provider did not answer. Try again later.",
		    "upstream_unreachable", err);
		return;
	}
	done(f, resp);
}

/* Starts an outbound call of f; the handler's part returns. */
static void
flow_call(struct flow *f, struct fb_net_http_request *rq, step_done_fn *done)
{
	struct call *k = fb_xcalloc(1, sizeof(*k));
	struct fb_net_http *net = fb_http_req_net(f->req);
	struct fb_err err;

	k->f = f;
	k->done = done;
	rq->ca_file = f->up->oidc.ca_file;
	rq->timeout_ms = f->up->oidc.timeout_ms;
	rq->accept = "application/json";
	if (net == NULL || fb_net_http_start(net, rq, call_done, k, NULL, &err) != FB_OK) {
		free(k);
		if (net == NULL)
			fb_err_set(&err, FB_ERR_INTERNAL, "no outbound HTTP client");
		flow_fail(f, 500, "Sign-in is not available right now.", "upstream_error", &err);
		return;
	}
	if (!f->waiting)
		fb_http_req_wait(f->req);
	f->waiting = 1;
}

static void
on_discovery(struct flow *f, struct fb_net_http_response *resp)
{
	struct fb_oidc_provider p;
	struct fb_err err;

	if (resp->status != 200) {
		fb_err_set(&err, FB_ERR_UPSTREAM, "discovery of %s: HTTP %ld", f->up->oidc.issuer,
		    resp->status);
		flow_fail(f, 502, "The identity provider did not answer. Try again later.",
		    "upstream_unreachable", &err);
		return;
	}
	if (fb_oidc_provider_parse(resp->body, resp->body_len, f->up->oidc.issuer, &p, &err) !=
	    FB_OK) {
		flow_fail(f, 502, "The identity provider's configuration is not usable.",
		    "upstream_discovery_bad", &err);
		return;
	}
	fb_oidc_provider_cleanup(&f->c->prov);
	f->c->prov = p;
	f->c->discovered = fb_time_now();
	f->step = f->callback ? S_CHECK : f->logout ? S_LOGOUT : S_REDIRECT;
	flow_run(f);
}

static void
on_jwks(struct flow *f, struct fb_net_http_response *resp)
{
	struct fb_oidc_jwks *jwks = NULL;
	struct fb_err err;

	if (resp->status != 200 ||
	    fb_oidc_jwks_parse(resp->body, resp->body_len, &jwks, &err) != FB_OK) {
		if (resp->status != 200)
			fb_err_set(&err, FB_ERR_UPSTREAM, "JWKS: HTTP %ld", resp->status);
		/* The keys held so far stay: a broken JWKS takes nothing away. */
		flow_fail(f, 502, "The identity provider's keys could not be read.",
		    "upstream_jwks_bad", &err);
		return;
	}
	fb_oidc_jwks_cache_set(&f->c->keys, jwks, fb_time_now_ms());
	f->step = S_VERIFY;
	flow_run(f);
}

static void
on_token(struct flow *f, struct fb_net_http_response *resp)
{
	struct fb_err err;

	if (fb_oidc_token_response_parse(resp, &f->tokens, &err) != FB_OK) {
		flow_fail(f, 502, "The identity provider refused the sign-in. Start again.",
		    "upstream_token_refused", &err);
		return;
	}
	f->step = S_JWKS;
	flow_run(f);
}

static void
on_userinfo(struct flow *f, struct fb_net_http_response *resp)
{
	struct fb_err err;

	if (fb_oidc_userinfo_merge(resp, f->claims, &err) != FB_OK) {
		flow_fail(f, 502, "The identity provider's user information is not usable.",
		    "upstream_userinfo_bad", &err);
		return;
	}
	f->step = S_FINISH;
	flow_run(f);
}

/* The start's end: the sealed flow cookie, and the browser sent to the provider. */
static void
do_redirect(struct flow *f)
{
	const struct fb_http_env *env = fb_http_req_env(f->req);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "u", f->up->name, "s", f->authz.state, "n",
	    f->authz.nonce, "v", f->authz.verifier);
	char *text = json_dumps(j, JSON_COMPACT), *sealed = NULL, *url;
	struct fb_err err;

	json_decref(j);
	if (fb_crypto_seal(env->sealer, FLOW_PURPOSE, text, strlen(text),
	        fb_time_now() + FLOW_LIFETIME, &sealed, &err) != FB_OK) {
		fb_secret_free(text);
		fb_http_web_unavailable(&f->w, &err);
		flow_free(f);
		return;
	}
	fb_secret_free(text);
	url =
	    fb_oidc_authz_url(&f->c->prov, &f->up->oidc, f->redirect_uri, &f->authz, f->login_hint);
	fb_http_reply_cookie(f->req, FLOW_COOKIE, sealed, FLOW_LIFETIME);
	fb_http_web_audit(&f->w, "upstream_start", NULL, "upstream=%s", f->up->name);
	fb_http_reply_header(f->req, "Location", url);
	fb_http_reply(f->req, 302, NULL, NULL, 0);
	free(url);
	free(sealed);
	flow_free(f);
}

/*
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the browser
 * sent to the provider's end_session_endpoint with the ID token as hint,
 * back to the site's front page; to the front page at once without one.
 */
static void
do_logout(struct flow *f)
{
	char *back = fb_xasprintf("%s/", f->w.conf->public_url);
	char *url = fb_oidc_logout_url(&f->c->prov, &f->up->oidc, f->id_token_hint, back);

	if (url == NULL) {
		fb_http_redirect(f->req, "/");
	} else {
		fb_http_reply_header(f->req, "Location", url);
		fb_http_reply(f->req, 302, NULL, NULL, 0);
	}
	free(url);
	free(back);
	flow_free(f);
}

/* The callback's end: the identity handed to the protocol-neutral sign-in. */
static void
do_finish(struct flow *f)
{
	struct fb_upstream_identity id = {0};

	id.upstream = f->up->name;
	id.issuer = json_string_value(json_object_get(f->claims, FB_OIDC_C_ISS));
	id.subject = json_string_value(json_object_get(f->claims, FB_OIDC_C_SUB));
	id.claims = f->claims;
	id.id_token = f->tokens.id_token;
	/*
	 * id.expires_at stays 0: OIDC states no session end. The ID token's exp
	 * and the token response's expires_in are token lifetimes, and
	 * refresh_expires_in or session_state are not standard session ends;
	 * session.lifetime and upstreams[].session_lifetime cap the session
	 * (fedbroker.yaml(5), upstreams[].session_lifetime).
	 */
	fb_http_upstream_finish(f->req, &id);
	flow_free(f);
}

/* upstreams[].oidc.algorithms when not configured. */
static const char *const default_algs[] = {"RS256", "ES256", "PS256", NULL};

static void
do_verify(struct flow *f)
{
	const char **algs = fb_xcalloc(f->up->oidc.nalgorithms + 1, sizeof(*algs));
	struct fb_oidc_idtoken_check chk = {0};
	enum fb_oidc_idtoken_why why;
	struct fb_err err;
	enum fb_status r;

	for (size_t i = 0; i < f->up->oidc.nalgorithms; i++)
		algs[i] = f->up->oidc.algorithms[i];
	chk.issuer = f->up->oidc.issuer;
	chk.client_id = f->up->oidc.client_id;
	chk.algorithms = f->up->oidc.nalgorithms > 0 ? algs : default_algs;
	chk.nonce = f->authz.nonce;
	chk.access_token = f->tokens.access_token;
	chk.now = fb_time_now();
	chk.skew = f->up->oidc.clock_skew;
	r = fb_oidc_idtoken_verify(f->tokens.id_token, f->c->keys.jwks, &chk, &f->claims, &why,
	    &err);
	free(algs);
	if (r == FB_OK) {
		f->step = f->up->oidc.userinfo && f->c->prov.userinfo_endpoint != NULL ? S_USERINFO
		                                                                       : S_FINISH;
		flow_run(f);
		return;
	}
	/* An unknown kid: the provider may have rotated its keys. One refetch, rate-limited. */
	if (why == FB_OIDC_IDT_UNKNOWN_KID && !f->refetched &&
	    fb_oidc_jwks_cache_refetch_take(&f->c->keys, fb_time_now_ms())) {
		struct fb_net_http_request rq = {.url = f->c->prov.jwks_uri};

		f->refetched = 1;
		flow_call(f, &rq, on_jwks);
		return;
	}
	flow_fail(f, 403, "The identity provider's answer did not pass the checks.",
	    "upstream_token_invalid", &err);
}

/* The hex SHA-256 of s (codes are long and secret: the store keeps their hash). New. */
static char *
sha256_hex(const char *s)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *hex = fb_xmalloc(2 * EVP_MAX_MD_SIZE + 1);

	EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL);
	fb_hex_encode(md, mdlen, hex);
	return hex;
}

/* The callback's checks: state (this browser's), iss, error, code; state and code used once. */
static void
do_check(struct flow *f)
{
	struct fb_oidc_callback cb = {.state = f->cb[0],
	    .code = f->cb[1],
	    .iss = f->cb[2],
	    .error = f->cb[3],
	    .error_description = f->cb[4]};
	int64_t expires_ms = (fb_time_now() + FLOW_LIFETIME) * 1000;
	struct fb_store *st = fb_http_req_env(f->req)->store;
	enum fb_status r;
	struct fb_err err;
	char *h;

	r = fb_oidc_callback_check(&f->c->prov, f->authz.state, &cb, &err);
	if (r != FB_OK) {
		flow_fail(f, r == FB_ERR_DENIED ? 403 : 400,
		    r == FB_ERR_DENIED ? "The identity provider did not sign you in."
		                       : "The identity provider's answer did not pass the checks.",
		    r == FB_ERR_DENIED ? "upstream_denied" : "upstream_callback_invalid", &err);
		return;
	}
	/* SECURITY: a state and a code are accepted once, across workers and restarts. */
	r = fb_store_once(st, ONCE_STATE, f->authz.state, expires_ms, &err);
	if (r == FB_OK) {
		h = sha256_hex(cb.code);
		r = fb_store_once(st, ONCE_CODE, h, expires_ms, &err);
		free(h);
	}
	if (r == FB_ERR_REPLAY) {
		flow_fail(f, 400, "This sign-in answer was used already. Start again.",
		    "upstream_replay", &err);
		return;
	}
	if (r != FB_OK) {
		fb_http_web_unavailable(&f->w, &err);
		flow_free(f);
		return;
	}
	f->step = S_TOKEN;
	flow_run(f);
}

static void
do_token(struct flow *f)
{
	const struct fb_http_env *env = fb_http_req_env(f->req);
	struct fb_net_http_request rq = {0};
	struct fb_oidc_token_request tr;
	struct fb_err err;

	if (fb_oidc_token_request_build(&f->c->prov, &f->up->oidc, f->cb[1], f->redirect_uri,
	        f->authz.verifier,
	        env->keyring != NULL ? fb_crypto_keyring_active(env->keyring) : NULL, fb_time_now(),
	        &tr, &err) != FB_OK) {
		flow_fail(f, 500, "Sign-in is not available right now.", "upstream_error", &err);
		return;
	}
	rq.url = tr.url;
	rq.body = tr.body;
	rq.body_len = strlen(tr.body);
	rq.username = tr.username;
	rq.password = tr.password;
	flow_call(f, &rq, on_token); /* copied by net */
	fb_oidc_token_request_cleanup(&tr);
}

static void
flow_run(struct flow *f)
{
	struct fb_net_http_request rq = {0};
	char *url;

	switch (f->step) {
	case S_DISCOVERY:
		if (f->c->prov.issuer == NULL ||
		    fb_time_now() - f->c->discovered >= f->up->oidc.discovery_refresh) {
			url = fb_oidc_discovery_url(f->up->oidc.issuer);
			rq.url = url;
			flow_call(f, &rq, on_discovery);
			free(url);
			return;
		}
		f->step = f->callback ? S_CHECK : f->logout ? S_LOGOUT : S_REDIRECT;
		flow_run(f);
		return;
	case S_LOGOUT:
		do_logout(f);
		return;
	case S_CHECK:
		do_check(f);
		return;
	case S_REDIRECT:
		do_redirect(f);
		return;
	case S_TOKEN:
		do_token(f);
		return;
	case S_JWKS:
		if (f->c->keys.jwks == NULL) {
			rq.url = f->c->prov.jwks_uri;
			flow_call(f, &rq, on_jwks);
			return;
		}
		f->step = S_VERIFY;
		flow_run(f);
		return;
	case S_VERIFY:
		do_verify(f);
		return;
	case S_USERINFO:
		rq.url = f->c->prov.userinfo_endpoint;
		rq.bearer = f->tokens.access_token;
		flow_call(f, &rq, on_userinfo);
		return;
	case S_FINISH:
		do_finish(f);
		return;
	default:
		flow_fail(f, 500, "Sign-in is not available right now.", "upstream_error", NULL);
		return;
	}
}

/* A new flow for req, or NULL when it answered (503). */
static struct flow *
flow_new(struct fb_http_req *req, const struct fb_conf_upstream *up, int callback)
{
	struct flow *f = fb_xcalloc(1, sizeof(*f));

	if (fb_http_web_begin(req, &f->w) != 0) {
		free(f);
		return NULL;
	}
	f->req = req;
	f->up = up;
	f->c = cache_for(up);
	f->callback = callback;
	f->redirect_uri =
	    fb_xasprintf("%s%s%s/callback", f->w.conf->public_url, FB_HTTP_PATH_UPSTREAM, up->name);
	return f;
}

void
fb_http_oidc_rp_start(struct fb_http_req *req, const struct fb_conf_upstream *up,
    const char *login_hint)
{
	struct flow *f = flow_new(req, up, 0);

	if (f == NULL)
		return;
	fb_oidc_authz_init(&f->authz);
	f->login_hint = login_hint != NULL ? fb_xstrdup(login_hint) : NULL;
	flow_run(f);
}

void
fb_http_oidc_rp_logout(struct fb_http_req *req, const struct fb_conf_upstream *up,
    const json_t *record)
{
	struct flow *f = flow_new(req, up, 0);
	const char *idt = json_string_value(json_object_get(record, "id_token"));

	if (f == NULL)
		return;
	f->logout = 1;
	f->id_token_hint = idt != NULL ? fb_xstrdup(idt) : NULL;
	flow_run(f);
}

/* The flow of the cookie (sealed for this upstream) into f->authz. */
static enum fb_status
flow_cookie_open(struct flow *f, struct fb_err *err)
{
	const struct fb_http_env *env = fb_http_req_env(f->req);
	const char *tok = fb_http_req_cookie(f->req, FLOW_COOKIE);
	unsigned char *text = NULL;
	size_t len = 0;
	const char *u, *s, *n, *v;
	enum fb_status r;
	json_t *j;

	if (tok == NULL)
		return fb_err_set(err, FB_ERR_PROTOCOL, "no sign-in flow cookie in this browser");
	if ((r = fb_crypto_unseal(env->sealer, FLOW_PURPOSE, tok, &text, &len, err)) != FB_OK)
		return r;
	j = json_loadb((const char *)text, len, 0, NULL);
	fb_secret_wipe(text, len);
	free(text);
	u = json_string_value(json_object_get(j, "u"));
	s = json_string_value(json_object_get(j, "s"));
	n = json_string_value(json_object_get(j, "n"));
	v = json_string_value(json_object_get(j, "v"));
	if (u == NULL || s == NULL || n == NULL || v == NULL || strcmp(u, f->up->name) != 0) {
		json_decref(j);
		return fb_err_set(err, FB_ERR_PROTOCOL, "the flow cookie is for another upstream");
	}
	f->authz.state = fb_xstrdup(s);
	f->authz.nonce = fb_xstrdup(n);
	f->authz.verifier = fb_xstrdup(v);
	json_decref(j);
	return FB_OK;
}

void
fb_http_oidc_rp_callback(struct fb_http_req *req, const struct fb_conf_upstream *up)
{
	struct flow *f = flow_new(req, up, 1);
	struct fb_oidc_callback cb = {0};
	struct fb_err err;

	if (f == NULL)
		return;
	/* The cookie has done its work whatever happens next. */
	fb_http_reply_cookie(req, FLOW_COOKIE, "", 0);
	cb.state = fb_http_req_query(req, "state");
	cb.code = fb_http_req_query(req, "code");
	cb.iss = fb_http_req_query(req, "iss");
	cb.error = fb_http_req_query(req, "error");
	cb.error_description = fb_http_req_query(req, "error_description");
	if (flow_cookie_open(f, &err) != FB_OK) {
		flow_fail(f, 400,
		    "This sign-in was not started in this browser, or took too long. "
		    "Start again.",
		    "upstream_state_invalid", &err);
		return;
	}
	f->cb[0] = cb.state != NULL ? fb_xstrdup(cb.state) : NULL;
	f->cb[1] = cb.code != NULL ? fb_xstrdup(cb.code) : NULL;
	f->cb[2] = cb.iss != NULL ? fb_xstrdup(cb.iss) : NULL;
	f->cb[3] = cb.error != NULL ? fb_xstrdup(cb.error) : NULL;
	f->cb[4] = cb.error_description != NULL ? fb_xstrdup(cb.error_description) : NULL;
	/* The checks need the provider's metadata (RFC 9207's iss): discovery first. */
	flow_run(f);
}
