/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http/authz.c: forward auth's endpoints on authz's decision: Envoy/Istio
 * ext_authz (HTTP service), nginx auth_request, Caddy forward_auth and
 * Traefik forwardAuth; the sign-in hand-off to an app's own host (a
 * one-time code, then a host-only sealed cookie bound to the app).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "ident/ident.h"
#include "local/local.h"
#include "map/map.h"
#include "authz/authz.h"
#include "oidc/oidc.h"
#include "http/http.h"
#include "http/internal.h"
#include "http/oauth2.h"
#include "http/pages.h"
#include "http/web.h"

/* The kv namespace of one-time hand-off codes, and their lifetime (seconds). */
#define CODE_NS       "fwdauth_code"
#define CODE_LIFETIME 60
/* How long a session's revocation state is kept in a worker (milliseconds). */
#define REVOCATION_CACHE_MS    2000
#define REVOCATION_CACHE_SLOTS 1024
/* The least lifetime left (s) for a minted access token to be reused. */
#define APP_TOKEN_MIN_LEFT 60

enum flavour {
	FL_ENVOY = 0,    /* ext_authz: original path after the prefix, Host is the original's */
	FL_NGINX,        /* auth_request: X-Original-URL; 401 (nginx turns it into a redirect) */
	FL_FORWARD,      /* Caddy, Traefik: X-Forwarded-Method/-Proto/-Host/-Uri */
	FL_NGINX_SIGNIN, /* nginx's error_page 401: X-Original-URL, answered with the redirect */
};

/* The app index of the configuration this worker runs (built on first use). */
static const struct fb_authz *
authz_index(const struct fb_conf *conf)
{
	static struct fb_authz *az;
	static const struct fb_conf *of;

	if (of != conf) {
		fb_authz_free(az);
		az = fb_authz_new(conf);
		of = conf;
	}
	return az;
}

/* The rules of mappings.dir, for mapped headers (loaded on first use; NULL when unreadable). */
static const struct fb_map_set *
rules_of(const struct fb_conf *conf)
{
	static struct fb_map_set *set;
	static const struct fb_conf *of;
	struct fb_err err = {0};

	if (of != conf) {
		fb_map_set_free(set);
		set = NULL;
		of = conf;
		if (fb_map_set_load_usable(conf->mappings_dir, &set, NULL, &err) != FB_OK)
			fb_log_err(FB_LOG_ERROR, NULL, &err);
	}
	return set;
}

static void
reply_json(struct fb_http_req *req, int code, json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT);

	fb_http_reply(req, code, "application/json", text, text != NULL ? strlen(text) : 0);
	free(text);
	json_decref(o);
}

/* ---- the request the proxy holds -------------------------------------------- */

struct facts {
	const char *method, *host, *uri, *proto; /* in the request's arena or borrowed */
};

/* The scheme people use for fedbroker (server.public_url's). */
static const char *
own_scheme(const struct fb_conf *conf)
{
	return conf->public_url != NULL && strncmp(conf->public_url, "https:", 6) == 0 ? "https"
	                                                                               : "http";
}

/*
 * Splits "scheme://authority/path?query" (an absolute URL as a proxy
 * sends it) into f's proto, host and uri (in a). 0, or -1 when it is not one.
 */
static int
url_split(struct fb_arena *a, const char *url, struct facts *f)
{
	const char *p = strstr(url, "://"), *path;
	size_t slen;

	if (p == NULL)
		return -1;
	slen = (size_t)(p - url);
	if (!((slen == 4 && strncasecmp(url, "http", 4) == 0) ||
	        (slen == 5 && strncasecmp(url, "https", 5) == 0)))
		return -1;
	f->proto = slen == 5 ? "https" : "http";
	p += 3;
	path = p + strcspn(p, "/?#");
	/* SECURITY: user@host is a trick to make a URL look like another host's. */
	if (path == p || memchr(p, '@', (size_t)(path - p)) != NULL ||
	    memchr(p, '\\', (size_t)(path - p)) != NULL)
		return -1;
	f->host = fb_arena_printf(a, "%.*s", (int)(path - p), p);
	f->uri = *path == '/' ? path : fb_arena_printf(a, "/%s", path);
	return 0;
}

/* Fills f for flavour; NULL, or why the request cannot be read (static text). */
static const char *
facts_get(struct fb_http_req *req, enum flavour fl, struct facts *f)
{
	const struct fb_conf *conf = fb_http_req_env(req)->conf;
	const char *raw = evhttp_request_get_uri(req->ev), *v;

	memset(f, 0, sizeof(*f));
	f->proto = req->fwd_proto != NULL ? req->fwd_proto : own_scheme(conf);
	if (fl == FL_ENVOY) {
		/* Envoy appends the original path to the prefix and keeps the original Host. */
		size_t n = strlen(FB_HTTP_AUTHZ_ENVOY);

		if (raw == NULL || strncmp(raw, FB_HTTP_AUTHZ_ENVOY, n) != 0 || raw[n] != '/')
			return "the path is not " FB_HTTP_AUTHZ_ENVOY "/<original path>";
		f->uri = raw + n;
		f->method = fb_http_req_method(req);
		f->host = req->fwd_host != NULL ? req->fwd_host : fb_http_req_header(req, "Host");
		return NULL;
	}
	/* SECURITY: which URL is asked about comes from headers only a trusted proxy may set. */
	if (!req->proxied)
		return "the forwarding headers come from an address not in server.trusted_proxies";
	v = fb_http_req_header(req, "X-Forwarded-Method");
	if (fl != FL_FORWARD && (v = fb_http_req_header(req, "X-Original-Method")) == NULL)
		v = fb_http_req_header(req, "X-Forwarded-Method");
	f->method = v != NULL ? v : "GET";
	if (fl != FL_FORWARD && (v = fb_http_req_header(req, "X-Original-URL")) != NULL) {
		if (url_split(fb_http_req_arena(req), v, f) != 0)
			return "X-Original-URL is not an http or https URL";
		return NULL;
	}
	f->host = req->fwd_host;
	f->uri = fb_http_req_header(req, "X-Forwarded-Uri");
	if (f->host == NULL || f->uri == NULL)
		return fl != FL_FORWARD ? "neither X-Original-URL nor X-Forwarded-Host and "
		                          "X-Forwarded-Uri were sent"
		                        : "X-Forwarded-Host or X-Forwarded-Uri was not sent";
	return NULL;
}

/* ---- the app's session (a sealed cookie on the app's host) --------------------- */

struct app_session {
	const char *sid, *uid, *usr, *email, *name; /* borrowed from o */
	const json_t *ug; /* the declared groups an upstream gave the user (array), or NULL */
	int64_t gen;
	json_t *o;
};

static const char *
purpose_of(struct fb_arena *a, const struct fb_conf_app *app)
{
	return fb_arena_printf(a, "fwd:%s", app->name);
}

/* The cookie's name on the wire for an app reached over proto. */
static const char *
cookie_name(struct fb_http_req *req, const char *proto)
{
	struct fb_arena *a = fb_http_req_arena(req);
	const char *base = fb_arena_printf(a, "%s%s", fb_http_req_env(req)->conf->cookie_name,
	    FB_HTTP_AUTHZ_COOKIE_SUFFIX);

	return fb_http_cookie_name(a, base, strcmp(proto, "https") == 0);
}

/*
 * Opens the app cookie of the request for app: FB_OK with *s filled,
 * FB_ERR_NOTFOUND without one, else why it was refused (sealed for another
 * app, tampered with, expired).
 */
static enum fb_status
app_session_open(struct fb_http_req *req, const struct fb_conf_app *app, const char *proto,
    struct app_session *s, struct fb_err *err)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	const char *cookies = fb_http_req_header(req, "Cookie"), *token;
	unsigned char *plain = NULL;
	size_t plen = 0;
	json_int_t v = 0, gen = 0;
	enum fb_status r;

	memset(s, 0, sizeof(*s));
	token = cookies != NULL
	            ? fb_http_cookie_find(fb_http_req_arena(req), cookies, cookie_name(req, proto))
	            : NULL;
	if (token == NULL || token[0] == '\0')
		return fb_err_set(err, FB_ERR_NOTFOUND, "no app cookie");
	/* SECURITY: sealed for this app only: another app's cookie does not open. */
	if ((r = fb_crypto_unseal(env->sealer, purpose_of(fb_http_req_arena(req), app), token,
	         &plain, &plen, err)) != FB_OK)
		return r;
	s->o = json_loadb((const char *)plain, plen, JSON_REJECT_DUPLICATES, NULL);
	fb_secret_wipe(plain, plen);
	free(plain);
	if (s->o == NULL ||
	    json_unpack(s->o, "{s:I, s:s, s:s, s:s, s?s, s?s, s:I, s?o}", "v", &v, "sid", &s->sid,
	        "uid", &s->uid, "usr", &s->usr, "em", &s->email, "nm", &s->name, "gen", &gen, "ug",
	        &s->ug) != 0 ||
	    v != 1) {
		json_decref(s->o);
		memset(s, 0, sizeof(*s));
		return fb_err_set(err, FB_ERR_INVALID, "app cookie: not a session payload");
	}
	s->gen = gen;
	return FB_OK;
}

static void
app_session_cleanup(struct app_session *s)
{
	json_decref(s->o);
	memset(s, 0, sizeof(*s));
}

/* One session's state as the store said it, kept for REVOCATION_CACHE_MS. */
struct cache_slot {
	char sid[48];
	int64_t until_ms;
	int revoked;
	int64_t gen;
};

static struct cache_slot revocation_cache[REVOCATION_CACHE_SLOTS];

/* The slot of key in a cache of REVOCATION_CACHE_SLOTS slots (FNV-1a). */
static size_t
slot_index(const char *key)
{
	uint32_t h = 2166136261u;

	for (const char *p = key; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % REVOCATION_CACHE_SLOTS;
}

static struct cache_slot *
cache_slot_of(const char *sid)
{
	return &revocation_cache[slot_index(sid)];
}

/*
 * FB_OK when s is still valid (not revoked, the account's generation
 * unchanged); FB_ERR_DENIED when not; the store's status when it cannot say.
 * SECURITY: a sign-out anywhere (any replica) ends it within REVOCATION_CACHE_MS.
 */
static enum fb_status
app_session_check(struct fb_http_req *req, const struct app_session *s, struct fb_err *err)
{
	struct cache_slot *c = cache_slot_of(s->sid);
	int64_t now = fb_time_now_ms();
	enum fb_status r;

	if (strcmp(c->sid, s->sid) != 0 || c->until_ms <= now) {
		int revoked = 0;
		int64_t gen = 0;

		if ((r = fb_store_session_state(fb_http_req_env(req)->store, s->sid, s->uid,
		         &revoked, &gen, err)) != FB_OK)
			return r;
		snprintf(c->sid, sizeof(c->sid), "%s", s->sid);
		c->until_ms = now + REVOCATION_CACHE_MS;
		c->revoked = revoked;
		c->gen = gen;
	}
	if (c->revoked)
		return fb_err_set(err, FB_ERR_DENIED, "session of %s was revoked", s->usr);
	if (c->gen >= 0 && c->gen != s->gen)
		return fb_err_set(err, FB_ERR_DENIED,
		    "session of %s predates a password reset or disabling", s->usr);
	return FB_OK;
}

/* ---- Bearer access tokens of fedbroker's OpenID provider ----------------------------- */

/*
 * What the check of one access token found, kept REVOCATION_CACHE_MS by the
 * token's SHA-256: the signature is not checked again meanwhile (it is
 * most of a check's cost), nor is the store asked.
 */
struct bearer_slot {
	unsigned char hash[SHA256_DIGEST_LENGTH];
	int64_t until_ms;
	json_t *claims; /* as verified; NULL: an empty slot */
	json_t *who;    /* as bearer_who makes it; NULL: refused, why in reason */
	char reason[200];
};

static struct bearer_slot bearer_cache[REVOCATION_CACHE_SLOTS];

/* 1 when aud (a string or an array of them, RFC 7519 4.1.3) names one of app's audiences. */
static int
aud_accepted(const struct fb_conf_app *app, const json_t *aud)
{
	size_t n = json_is_array(aud) ? json_array_size(aud) : 1;

	for (size_t i = 0; i < n; i++) {
		const char *v =
		    json_string_value(json_is_array(aud) ? json_array_get(aud, i) : aud);

		if (v == NULL)
			continue;
		if (app->naudiences == 0 && strcmp(v, app->name) == 0)
			return 1;
		for (size_t j = 0; j < app->naudiences; j++)
			if (strcmp(v, app->audiences[j]) == 0)
				return 1;
	}
	return 0;
}

/*
 * Who the token with claims stands for, as the store says now: *who new,
 * {"uid", "usr", "em", "nm", "ug"} (ug: the groups upstreams gave the
 * user), or for a service's token (client_credentials: sub is the client)
 * {"uid", "usr": the client, "svc": true}: no groups. FB_ERR_DENIED: no
 * such user, or the account is disabled.
 */
static enum fb_status
bearer_who(struct fb_http_req *req, const json_t *claims, json_t **who, struct fb_err *err)
{
	struct fb_store *store = fb_http_req_env(req)->store;
	const char *sub = json_string_value(json_object_get(claims, "sub"));
	const char *cid = json_string_value(json_object_get(claims, "client_id"));
	struct fb_store_user u = {0};
	char **ug = NULL;
	size_t nug = 0;
	enum fb_status r;

	*who = NULL;
	if (sub == NULL)
		return fb_err_set(err, FB_ERR_DENIED, "access token: no sub");
	r = fb_store_user_get_by_id(store, sub, &u, err);
	if (r == FB_ERR_NOTFOUND && cid != NULL && strcmp(cid, sub) == 0) {
		/* SECURITY: the username header names the client: never a user's name. */
		if ((r = fb_store_user_get(store, sub, &u, err)) == FB_OK) {
			r = fb_err_set(err, FB_ERR_DENIED,
			    "access token: client %s bears a user's name (it would pass for them)",
			    sub);
			goto out;
		}
		if (r != FB_ERR_NOTFOUND)
			return r;
		*who = json_pack("{s:s, s:s, s:b}", "uid", sub, "usr", sub, "svc", 1);
		return *who != NULL ? FB_OK
		                    : fb_err_set(err, FB_ERR_DENIED, "access token: bad sub");
	}
	if (r == FB_ERR_NOTFOUND)
		return fb_err_set(err, FB_ERR_DENIED, "access token: no user %.64s", sub);
	if (r != FB_OK)
		return r;
	if (!u.active) {
		r = fb_err_set(err, FB_ERR_DENIED, "access token: the account of %s is disabled",
		    u.username);
		goto out;
	}
	if ((r = fb_store_upstream_groups(store, u.id, &ug, &nug, err)) != FB_OK)
		goto out;
	*who = json_pack("{s:s, s:s, s:[]}", "uid", u.id, "usr", u.username, "ug");
	for (size_t i = 0; i < nug; i++) {
		json_array_append_new(json_object_get(*who, "ug"), json_string(ug[i]));
		free(ug[i]);
	}
	free(ug);
	if (u.email != NULL)
		json_object_set_new(*who, "em", json_string(u.email));
	if (u.name != NULL)
		json_object_set_new(*who, "nm", json_string(u.name));
out:
	fb_store_user_cleanup(&u);
	return r;
}

/* Whether claims' token is revoked (its jti or family), then who it stands for. */
static enum fb_status
bearer_state(struct fb_http_req *req, const json_t *claims, json_t **who, struct fb_err *err)
{
	int revoked = 0;
	enum fb_status r;

	*who = NULL;
	if ((r = fb_oidc_op_access_revoked(fb_http_req_env(req)->store, claims, &revoked, err)) !=
	    FB_OK)
		return r;
	if (revoked)
		return fb_err_set(err, FB_ERR_DENIED, "access token: revoked");
	return bearer_who(req, claims, who, err);
}

/*
 * Opens the Bearer access token tok for app (RFC 6750, RFC 9068): our
 * provider's signature (the keyring, no HTTP), typ at+jwt, iss, exp and
 * nbf within oidc.clock_skew, aud one of app's audiences, cnf (RFC 8705) the
 * presented certificate's, not
 * revoked (through the store), the user active; what the signature and
 * the store said is cached REVOCATION_CACHE_MS per token, like sessions.
 * FB_OK: s filled as a session would be (no sid); the store's status when
 * it cannot say; else why it was refused.
 */
static enum fb_status
bearer_open(struct fb_http_req *req, const struct fb_conf_app *app, const char *tok,
    struct app_session *s, struct fb_err *err)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	const struct fb_oidc_op *op = fb_http_oauth2_op(env);
	unsigned char h[SHA256_DIGEST_LENGTH];
	struct bearer_slot *c;
	json_t *claims = NULL, *who = NULL;
	int64_t now = fb_time_now_ms();
	uint32_t at;
	int hit;
	enum fb_status r;

	memset(s, 0, sizeof(*s));
	if (op == NULL)
		return fb_err_set(err, FB_ERR_SIGNATURE, "access token: no key to check it with");
	if (EVP_Digest(tok, strlen(tok), h, NULL, EVP_sha256(), NULL) != 1)
		return fb_err_set(err, FB_ERR_INTERNAL, "access token: SHA-256 failed");
	memcpy(&at, h, sizeof(at));
	c = &bearer_cache[at % REVOCATION_CACHE_SLOTS];
	hit = c->claims != NULL && c->until_ms > now && CRYPTO_memcmp(c->hash, h, sizeof(h)) == 0;
	if (hit) {
		claims = json_incref(c->claims);
		if (json_integer_value(json_object_get(claims, "exp")) +
		        env->conf->oidc_clock_skew <=
		    now / 1000) {
			r = fb_err_set(err, FB_ERR_EXPIRED, "access token: expired");
			goto out;
		}
	} else if ((r = fb_oidc_op_access_verify(op, tok, now / 1000, env->conf->oidc_clock_skew,
	                &claims, err)) != FB_OK) {
		return r;
	}
	if (!aud_accepted(app, json_object_get(claims, "aud"))) {
		r = fb_err_set(err, FB_ERR_PROTOCOL,
		    "access token: its aud is none of app %s's audiences", app->name);
		goto out;
	}
	/*
	 * SECURITY: a certificate-bound token (RFC 8705 3) is good only with its
	 * certificate, which a trusted proxy passes in oidc.mtls.header; checked
	 * on every request, never cached with the token.
	 */
	if (json_object_get(claims, "cnf") != NULL) {
		struct fb_crypto_cert *cert = fb_http_req_client_cert(req);

		r = fb_oidc_op_access_bound(claims,
		    cert != NULL ? fb_crypto_cert_thumbprint(cert) : NULL, err);
		fb_crypto_cert_free(cert);
		if (r != FB_OK)
			goto out;
	}
	if (hit) {
		if (c->who == NULL) {
			r = fb_err_set(err, FB_ERR_DENIED, "%s", c->reason);
			goto out;
		}
		who = json_incref(c->who);
	} else {
		r = bearer_state(req, claims, &who, err);
		if (r != FB_OK && r != FB_ERR_DENIED)
			goto out;
		json_decref(c->claims);
		json_decref(c->who);
		memcpy(c->hash, h, sizeof(h));
		c->until_ms = now + REVOCATION_CACHE_MS;
		c->claims = json_incref(claims);
		c->who = json_incref(who);
		snprintf(c->reason, sizeof(c->reason), "%.199s", r == FB_OK ? "" : err->msg);
		if (r != FB_OK)
			goto out;
	}
	s->o = who;
	who = NULL;
	if (json_unpack(s->o, "{s:s, s:s, s?s, s?s, s?o}", "uid", &s->uid, "usr", &s->usr, "em",
	        &s->email, "nm", &s->name, "ug", &s->ug) != 0) {
		json_decref(s->o);
		memset(s, 0, sizeof(*s));
		r = fb_err_set(err, FB_ERR_INTERNAL, "access token: bad cache entry");
	}
out:
	json_decref(who);
	json_decref(claims);
	return r;
}

/* A Bearer token refused: 401 invalid_token (RFC 6750 3.1), never a redirect; an audit line. */
static void
reply_invalid_token(struct fb_http_req *req, const struct fb_conf_app *app,
    const struct fb_err *err)
{
	fb_audit(fb_http_req_id(req), "forward_auth_token_refused", "app=%s client_addr=%s: %s",
	    app->name, fb_http_req_peer(req), err->msg);
	fb_http_reply_header(req, "WWW-Authenticate",
	    "Bearer realm=\"fedbroker\", error=\"invalid_token\"");
	reply_json(req, 401,
	    json_pack("{s:s, s:s}", "error", "invalid_token", "error_description", err->msg));
}

/* One session's access token for an app's upstream, reused until APP_TOKEN_MIN_LEFT is left. */
struct token_slot {
	char key[128]; /* "sid/app" */
	int64_t exp;
	char *token; /* SECRET */
};

static struct token_slot token_cache[REVOCATION_CACHE_SLOTS];

/*
 * The access token s's user is sent to app's upstream with (pass_access_token):
 * minted by the provider with aud the app, FB_HTTP_AUTHZ_TOKEN_LIFETIME, cached per
 * session and app so that a check does not sign each time. Borrowed (valid
 * until the next check), or NULL (err says why).
 */
static const char *
app_token(struct fb_http_req *req, const struct fb_conf_app *app, const struct app_session *s,
    struct fb_err *err)
{
	const struct fb_oidc_op *op = fb_http_oauth2_op(fb_http_req_env(req));
	const char *key = fb_arena_printf(fb_http_req_arena(req), "%s/%s", s->sid, app->name);
	struct token_slot *t = &token_cache[slot_index(key)];
	int64_t now = fb_time_now();
	char *tok = NULL;

	if (strcmp(t->key, key) == 0 && t->token != NULL && t->exp - now >= APP_TOKEN_MIN_LEFT)
		return t->token;
	if (op == NULL) {
		fb_err_set(err, FB_ERR_CONFIG, "pass_access_token: no key in keys: signs tokens");
		return NULL;
	}
	if (fb_oidc_op_app_token(op, app->name, s->uid, FB_HTTP_AUTHZ_TOKEN_LIFETIME, now, &tok,
	        err) != FB_OK)
		return NULL;
	if (t->token != NULL)
		fb_secret_free(t->token);
	snprintf(t->key, sizeof(t->key), "%s", key);
	t->exp = now + FB_HTTP_AUTHZ_TOKEN_LIFETIME;
	t->token = tok;
	return tok;
}

/* ---- the check ------------------------------------------------------------------ */

/* "https://host/uri": the URL the browser asked for (in the request's arena). */
static const char *
original_url(struct fb_http_req *req, const struct facts *f)
{
	return fb_arena_printf(fb_http_req_arena(req), "%s://%s%s", f->proto, f->host, f->uri);
}

static int
is_browser(struct fb_http_req *req)
{
	const char *accept = fb_http_req_header(req, "Accept");

	return accept != NULL && strstr(accept, "text/html") != NULL;
}

static void
reply_no_app(struct fb_http_req *req, const struct fb_authz_decision *d)
{
	char *detail = fb_xasprintf(
	    "No app in the apps: list of fedbroker's configuration claims the host '%s'%s. Add "
	    "it to the hosts of the app it belongs to (apps: [{name: NAME, hosts: [%s]}]), check "
	    "that the proxy sends the host the browser used (Envoy/Istio: the original Host, or "
	    "x-forwarded-host from an address in server.trusted_proxies), then reload fedbroker "
	    "(systemctl reload fedbroker, or kill -HUP).",
	    d->host, d->path != NULL && strcmp(d->path, "/") != 0 ? " for this path" : "", d->host);

	reply_json(req, 404,
	    json_pack("{s:s, s:s, s:s, s:s}", "message", "no app for hostname", "host", d->host,
	        "path", d->path != NULL ? d->path : "", "detail", detail));
	free(detail);
}

/*
 * The state cookie's name on an app host reached over proto: it binds the
 * hand-off code to the browser that was sent to sign in.
 */
static const char *
state_cookie_name(struct fb_http_req *req, const char *proto)
{
	struct fb_arena *a = fb_http_req_arena(req);
	const char *base = fb_arena_printf(a, "%s%s", fb_http_req_env(req)->conf->cookie_name,
	    FB_HTTP_AUTHZ_STATE_SUFFIX);

	return fb_http_cookie_name(a, base, strcmp(proto, "https") == 0);
}

static void
reply_signin(struct fb_http_req *req, enum flavour fl, const struct facts *f)
{
	const struct fb_conf *conf = fb_http_req_env(req)->conf;
	char *loc, *state, *cookie;

	/* nginx's auth_request knows 2xx, 401 and 403: its error_page 401 asks FL_NGINX_SIGNIN. */
	if (fl == FL_NGINX || (fl != FL_NGINX_SIGNIN && !is_browser(req))) {
		fb_http_reply_header(req, "WWW-Authenticate", "Bearer realm=\"fedbroker\"");
		reply_json(req, 401,
		    json_pack("{s:s, s:s}", "message", "sign-in required", "signin",
		        conf->public_url != NULL ? conf->public_url : ""));
		return;
	}
	/*
	 * SECURITY: login CSRF: the code that comes back to the app's host is
	 * honoured only with this browser's state cookie on that host, so a
	 * code made for someone else's session cannot be planted.
	 */
	state = fb_rand_token(16);
	cookie = fb_http_cookie_build(state_cookie_name(req, f->proto), state,
	    FB_HTTP_AUTHZ_STATE_LIFETIME, strcmp(f->proto, "https") == 0);
	fb_http_reply_header(req, "Set-Cookie", cookie);
	loc = fb_xasprintf("%s%s?st=%s&rd=%s", conf->public_url != NULL ? conf->public_url : "",
	    FB_HTTP_AUTHZ_START, state, original_url(req, f));
	fb_http_reply_header(req, "Location", loc);
	fb_http_reply(req, 302, NULL, NULL, 0);
	free(loc);
	free(cookie);
	free(state);
}

static void
reply_allow(struct fb_http_req *req, const struct fb_authz_decision *d, const struct app_session *s,
    const char *const *names, size_t n, const char *bearer)
{
	const struct fb_conf *conf = fb_http_req_env(req)->conf;
	json_t *h, *mapped = NULL;
	const char *k, *at = "";
	json_t *v;

	if (d->verdict == FB_AUTHZ_ALLOW && d->app->pass_access_token) {
		struct fb_err err = {0};

		/* The token presented goes on; a session gets one minted for this app. */
		if (bearer == NULL && (bearer = app_token(req, d->app, s, &err)) == NULL) {
			fb_rlog_err(req, &err);
			reply_json(req, 500,
			    json_pack("{s:s, s:s}", "message", "no access token for the app",
			        "detail", "see fedbroker's log"));
			return;
		}
		at = strcasecmp(d->app->access_token_header, "Authorization") == 0
		         ? fb_arena_printf(fb_http_req_arena(req), "Bearer %s", bearer)
		         : bearer;
	}

	if (d->verdict == FB_AUTHZ_ALLOW && d->app->nmapped > 0) {
		struct fb_store_user u = {.id = (char *)s->uid,
		    .username = (char *)s->usr,
		    .name = (char *)s->name,
		    .email = (char *)s->email,
		    .active = 1};
		struct fb_err err = {0};
		json_t *user = NULL;

		/* SECURITY: a header that cannot be computed fails the check, never passes it. */
		if (fb_ident_user_json(conf, &u, &user, &err) != FB_OK ||
		    fb_authz_mapped_eval(d->app, rules_of(conf), user, &mapped, &err) != FB_OK) {
			fb_rlog_err(req, &err);
			json_decref(user);
			reply_json(req, 500,
			    json_pack("{s:s, s:s}", "message", "mapping failed", "detail",
			        "see fedbroker's log"));
			return;
		}
		json_decref(user);
	}
	h = d->verdict == FB_AUTHZ_ALLOW
	        ? fb_authz_headers_build(d->app, s->usr, s->email, s->name, names, n, mapped)
	        : fb_authz_headers_build(d->app, NULL, NULL, NULL, NULL, 0, mapped);
	json_decref(mapped);
	json_object_foreach(h, k, v)
		fb_http_reply_header(req, k, json_string_value(v));
	json_decref(h);
	/* SECURITY: set even when empty, so a client's own value never passes. */
	if (d->app->pass_access_token)
		fb_http_reply_header(req, d->app->access_token_header, at);
	fb_http_reply(req, 200, "text/plain", "", 0);
}

static void
check(struct fb_http_req *req, enum flavour fl)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	const struct fb_authz *az = authz_index(env->conf);
	const struct fb_conf_group **groups = NULL;
	struct fb_authz_request rq = {0};
	struct fb_authz_decision d;
	struct app_session s = {0};
	struct fb_err err = {0};
	const char *why, **names = NULL;
	struct facts f;
	enum fb_status r;
	size_t n = 0;
	/* RFC 6750 2.1: a non-browser client's access token from our provider. */
	const char *tok = fb_oidc_bearer(fb_http_req_header(req, "Authorization"));

	if ((why = facts_get(req, fl, &f)) != NULL) {
		fb_rlog(req, FB_LOG_WARN, "forward auth: %s (peer %s)", why, fb_http_req_peer(req));
		reply_json(req, 400,
		    json_pack("{s:s, s:s, s:s}", "message", "bad forward-auth request", "detail",
		        why, "peer", fb_http_req_peer(req)));
		return;
	}
	rq.method = f.method;
	rq.host = f.host;
	rq.uri = f.uri;
	fb_authz_decide(az, &rq, &d);
	if (d.app == NULL || d.verdict == FB_AUTHZ_BAD_REQUEST || env->store == NULL)
		r = FB_ERR_NOTFOUND;
	else if (tok != NULL)
		/* An anonymous path needs no one; else the token alone decides (no cookie). */
		r = d.verdict == FB_AUTHZ_ANONYMOUS ? FB_ERR_NOTFOUND
		                                    : bearer_open(req, d.app, tok, &s, &err);
	else if (env->sealer == NULL)
		r = FB_ERR_NOTFOUND;
	else if ((r = app_session_open(req, d.app, f.proto, &s, &err)) == FB_OK)
		r = app_session_check(req, &s, &err);
	if (r == FB_OK) {
		size_t nug = json_array_size(s.ug), k;
		const char **ug = fb_arena_alloc(fb_http_req_arena(req), (nug + 1) * sizeof(*ug));
		json_t *g;

		json_array_foreach(s.ug, k, g)
			ug[k] = json_is_string(g) ? json_string_value(g) : "";
		/* A service's token (client_credentials) has no groups. */
		n = json_is_true(json_object_get(s.o, "svc"))
		        ? 0
		        : fb_ident_groups_with(env->conf, s.usr, ug, nug, &groups);
		names = fb_arena_alloc(fb_http_req_arena(req), (n + 1) * sizeof(*names));
		for (size_t i = 0; i < n; i++)
			names[i] = groups[i]->name;
		rq.username = s.usr;
		rq.groups = names;
		rq.ngroups = n;
		free(groups);
		fb_authz_decision_cleanup(&d);
		fb_authz_decide(az, &rq, &d);
	} else if (fb_http_store_down(r)) {
		fb_rlog_err(req, &err);
		fb_http_reply_header(req, "Retry-After", FB_HTTP_RETRY_AFTER);
		reply_json(req, 503, json_pack("{s:s}", "message", "store unavailable"));
		goto out;
	} else if (tok != NULL && r != FB_ERR_NOTFOUND) {
		reply_invalid_token(req, d.app, &err);
		goto out;
	} else if (r != FB_ERR_NOTFOUND) {
		fb_rlog(req, FB_LOG_INFO, "forward auth: app cookie of %s refused: %s", d.app->name,
		    err.msg);
	}
	if (d.verdict != FB_AUTHZ_ALLOW && d.verdict != FB_AUTHZ_ANONYMOUS)
		fb_rlog(req, FB_LOG_INFO, "forward auth: %s %s %s: %s: %s", f.method, d.host,
		    d.path != NULL ? d.path : "-", fb_authz_verdict_name(d.verdict), d.reason);
	switch (d.verdict) {
	case FB_AUTHZ_ALLOW:
	case FB_AUTHZ_ANONYMOUS:
		reply_allow(req, &d, &s, rq.groups, rq.ngroups, tok);
		break;
	case FB_AUTHZ_SIGNIN:
		reply_signin(req, fl, &f);
		break;
	case FB_AUTHZ_FORBIDDEN:
		reply_json(req, 403,
		    json_pack("{s:s, s:s, s:s}", "message", "forbidden", "app", d.app->display_name,
		        "user", s.usr != NULL ? s.usr : ""));
		break;
	case FB_AUTHZ_NO_APP:
		reply_no_app(req, &d);
		break;
	case FB_AUTHZ_BAD_REQUEST:
	default:
		reply_json(req, 400,
		    json_pack("{s:s, s:s}", "message", "request refused", "detail", d.reason));
		break;
	}
out:
	app_session_cleanup(&s);
	fb_authz_decision_cleanup(&d);
}

static void
handle_envoy(struct fb_http_req *req, void *arg)
{
	check(req, FL_ENVOY);
}

static void
handle_nginx(struct fb_http_req *req, void *arg)
{
	check(req, FL_NGINX);
}

static void
handle_forward(struct fb_http_req *req, void *arg)
{
	check(req, FL_FORWARD);
}

static void
handle_nginx_signin(struct fb_http_req *req, void *arg)
{
	check(req, FL_NGINX_SIGNIN);
}

/* ---- the hand-off: fedbroker's host -> a code -> the app's host ------------------- */

/*
 * The raw query of req, "st=STATE&rd=URL": the state (base64url, 16 to
 * len - 1 characters) in state, and the URL to return to as the browser
 * or nginx wrote it (nginx cannot encode it); NULL when not so.
 */
static const char *
return_to(struct fb_http_req *req, char *state, size_t len)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req->ev);
	const char *q = u != NULL ? evhttp_uri_get_query(u) : NULL;
	size_t n;

	state[0] = '\0';
	if (q == NULL || strncmp(q, "st=", 3) != 0)
		return NULL;
	n = strspn(q + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
	if (n < 16 || n >= len || strncmp(q + 3 + n, "&rd=", 4) != 0)
		return NULL;
	snprintf(state, len, "%.*s", (int)n, q + 3);
	return q + 3 + n + 4;
}

/*
 * The app rd belongs to, with f filled from rd; NULL when rd is no URL of
 * an app of this broker. SECURITY: the open-redirect guard of forward auth.
 */
static const struct fb_conf_app *
return_app(struct fb_http_req *req, const char *rd, struct facts *f)
{
	struct fb_authz_request rq = {0};
	struct fb_authz_decision d;
	const struct fb_conf_app *app = NULL;

	if (rd == NULL || strlen(rd) > FB_HTTP_NEXT_MAX ||
	    url_split(fb_http_req_arena(req), rd, f) != 0 || !fb_http_next_check(f->uri))
		return NULL;
	rq.method = "GET";
	rq.host = f->host;
	rq.uri = f->uri;
	fb_authz_decide(authz_index(fb_http_req_env(req)->conf), &rq, &d);
	if (d.verdict != FB_AUTHZ_NO_APP && d.verdict != FB_AUTHZ_BAD_REQUEST)
		app = d.app;
	fb_authz_decision_cleanup(&d);
	return app;
}

/*
 * Adds to the code o "ug": the declared groups an upstream gave the user
 * (at most UG_MAX, so the cookie stays under FB_HTTP_COOKIE_MAX); they count at each check.
 */
#define UG_MAX 32
static enum fb_status
upstream_groups(struct fb_http_web *w, json_t *o, struct fb_err *err)
{
	char **ug = NULL;
	size_t nug = 0;
	json_t *a = json_array();
	enum fb_status r;

	if ((r = fb_store_upstream_groups(w->env->store, w->sess.user_id, &ug, &nug, err)) !=
	    FB_OK) {
		json_decref(a);
		return r;
	}
	for (size_t i = 0; i < nug; i++) {
		int declared = 0;

		for (size_t j = 0; j < w->conf->ngroups && !declared; j++)
			declared = strcmp(w->conf->groups[j].name, ug[i]) == 0;
		if (declared && json_array_size(a) < UG_MAX)
			json_array_append_new(a, json_string(ug[i]));
		else if (declared)
			fb_rlog(w->req, FB_LOG_WARN,
			    "forward auth: %s has more than %d upstream groups; group %s not kept",
			    w->sess.username, UG_MAX, ug[i]);
		free(ug[i]);
	}
	free(ug);
	json_object_set_new(o, "ug", a);
	return FB_OK;
}

static void
handle_start(struct fb_http_req *req, void *arg)
{
	char state[64];
	const char *rd = return_to(req, state, sizeof(state));
	struct fb_local_account acct = {0};
	struct fb_err err = {0};
	const struct fb_conf_app *app;
	struct fb_http_web w;
	char *code = NULL, *text = NULL, *loc;
	json_t *o;
	struct facts f;
	enum fb_status r;

	if (fb_http_web_begin(req, &w) != 0)
		return;
	if ((app = return_app(req, rd, &f)) == NULL) {
		fb_http_web_fail(&w, 400, "Unknown address",
		    "The address to go back to after signing in is not one of the apps of this "
		    "sign-in service.",
		    FB_HTTP_PATH_HOME, "Go to your apps", "redirect_refused",
		    "forward auth: rd is not an app's URL");
		goto out;
	}
	if (!w.has_session) {
		char *here = fb_xasprintf("%s?st=%s&rd=%s", FB_HTTP_AUTHZ_START, state, rd);
		char *enc = evhttp_uriencode(here, -1, 0);
		/* The app's own upstream (apps[].upstream), else the sign-in page. */
		char *url = app->upstream != NULL
		                ? fb_xasprintf("%s%s/start?%s=%s", FB_HTTP_PATH_UPSTREAM,
		                      app->upstream, FB_HTTP_F_NEXT, enc != NULL ? enc : "%2F")
		                : fb_xasprintf("%s?%s=%s", FB_HTTP_PATH_LOGIN, FB_HTTP_F_NEXT,
		                      enc != NULL ? enc : "%2F");

		fb_http_redirect(req, url);
		free(url);
		free(enc);
		free(here);
		goto out;
	}
	if (fb_http_web_user(&w, &acct) != 0)
		goto out;
	o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "sid", w.sess.sid, "uid",
	    w.sess.user_id, "usr", w.sess.username, "app", app->name, "gen", (json_int_t)w.sess.gen,
	    "exp", (json_int_t)w.sess.expires_at, "rd", rd, "st", state);
	if (o != NULL && acct.email != NULL)
		json_object_set_new(o, "em", json_string(acct.email));
	if (o != NULL && acct.name != NULL)
		json_object_set_new(o, "nm", json_string(acct.name));
	if (o != NULL && (r = upstream_groups(&w, o, &err)) != FB_OK) {
		json_decref(o);
		fb_http_web_unavailable(&w, &err);
		goto out;
	}
	text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	code = fb_rand_token(32);
	if (text == NULL) {
		fb_http_web_fail(&w, 400, "Unknown address", "The address could not be used.",
		    FB_HTTP_PATH_HOME, "Go to your apps", "redirect_refused", "not UTF-8");
		goto out;
	}
	r = fb_store_kv_put(w.env->store, CODE_NS, code, text, strlen(text),
	    fb_time_now() + CODE_LIFETIME, &err);
	if (r != FB_OK) {
		fb_http_web_unavailable(&w, &err);
		goto out;
	}
	fb_http_web_audit(&w, "forward_auth_handoff", NULL, "app %s", app->name);
	loc = fb_xasprintf("%s://%s%s?code=%s", f.proto, f.host, FB_HTTP_AUTHZ_CALLBACK, code);
	fb_http_redirect(req, loc);
	free(loc);
out:
	free(code);
	free(text);
	fb_local_account_cleanup(&acct);
	fb_http_web_end(&w);
}

/* A plain error page for the app's host (no sign-in links there). */
static void
callback_fail(struct fb_http_web *w, int code, const char *message, const char *detail)
{
	fb_http_web_fail(w, code, "Sign-in did not complete", message, NULL, NULL,
	    "forward_auth_refused", detail);
}

static void
handle_callback(struct fb_http_req *req, void *arg)
{
	const char *code = fb_http_req_query(req, "code"), *sid, *uid, *usr, *app_name, *rd;
	const char *em = NULL, *nm = NULL, *host, *proto, *st, *cookies, *mine;
	char here[FB_AUTHZ_HOST_MAX + 1], there[FB_AUTHZ_HOST_MAX + 1];
	const struct fb_conf_app *app;
	unsigned char *val = NULL;
	struct fb_err err = {0};
	struct fb_http_web w;
	json_int_t gen = 0, exp = 0;
	char *token = NULL, *payload = NULL, *cookie;
	size_t len = 0;
	json_t *o = NULL, *p = NULL;
	struct facts f;
	int64_t age;
	enum fb_status r;

	if (fb_http_web_begin(req, &w) != 0)
		return;
	host = req->fwd_host != NULL ? req->fwd_host : fb_http_req_header(req, "Host");
	proto = req->fwd_proto != NULL ? req->fwd_proto : own_scheme(w.conf);
	if (code == NULL || strlen(code) > 64) {
		callback_fail(&w, 400, "The sign-in link is incomplete.", "no code");
		goto out;
	}
	/* SECURITY: taken (read and deleted) in one step: a code works once, on any replica. */
	r = fb_store_kv_take(w.env->store, CODE_NS, code, &val, &len, &err);
	if (r == FB_ERR_NOTFOUND) {
		callback_fail(&w, 400,
		    "This sign-in link was used already or has expired. Go back to the app and "
		    "open it again.",
		    "unknown or used code");
		goto out;
	}
	if (r != FB_OK) {
		fb_http_web_unavailable(&w, &err);
		goto out;
	}
	o = json_loadb((const char *)val, len, 0, NULL);
	if (o == NULL ||
	    json_unpack(o, "{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s?s, s?s}", "sid", &sid, "uid",
	        &uid, "usr", &usr, "app", &app_name, "gen", &gen, "exp", &exp, "rd", &rd, "st", &st,
	        "em", &em, "nm", &nm) != 0 ||
	    (app = fb_conf_app_find(w.conf, app_name)) == NULL || return_app(req, rd, &f) != app) {
		callback_fail(&w, 400, "This sign-in link is not valid any more.",
		    "code for an app no longer configured");
		goto out;
	}
	/* SECURITY: login CSRF: only the browser that was sent to sign in may use the code. */
	cookies = fb_http_req_header(req, "Cookie");
	mine = cookies != NULL ? fb_http_cookie_find(fb_http_req_arena(req), cookies,
	                             state_cookie_name(req, proto))
	                       : NULL;
	if (mine == NULL || strcmp(mine, st) != 0) {
		callback_fail(&w, 400,
		    "This sign-in link was opened in another browser than the one that asked to "
		    "sign in. Go back to the app and open it again.",
		    "state cookie missing or different");
		goto out;
	}
	/* SECURITY: the cookie is set only on the host the code was made for. */
	if (fb_authz_host_normalise(host, here, &err) != FB_OK ||
	    fb_authz_host_normalise(f.host, there, &err) != FB_OK || strcmp(here, there) != 0) {
		callback_fail(&w, 400, "This sign-in link belongs to another address.",
		    "code used on another host");
		goto out;
	}
	age = (int64_t)exp - fb_time_now();
	if (app->session_lifetime > 0 && app->session_lifetime < age)
		age = app->session_lifetime;
	if (age <= 0) {
		callback_fail(&w, 400,
		    "Your session has expired. Go back to the app and sign in "
		    "again.",
		    "session expired");
		goto out;
	}
	p = json_pack("{s:i, s:s, s:s, s:s, s:I}", "v", 1, "sid", sid, "uid", uid, "usr", usr,
	    "gen", gen);
	if (p != NULL && em != NULL)
		json_object_set_new(p, "em", json_string(em));
	if (p != NULL && nm != NULL)
		json_object_set_new(p, "nm", json_string(nm));
	if (p != NULL && json_is_array(json_object_get(o, "ug")))
		json_object_set(p, "ug", json_object_get(o, "ug"));
	payload = p != NULL ? json_dumps(p, JSON_COMPACT) : NULL;
	if (payload == NULL ||
	    fb_crypto_seal(w.env->sealer, purpose_of(fb_http_req_arena(req), app), payload,
	        strlen(payload), fb_time_now() + age, &token, &err) != FB_OK) {
		fb_http_web_unavailable(&w, &err);
		goto out;
	}
	/* Host-only (no Domain), HttpOnly, SameSite=Lax: sent to this app's host only. */
	cookie =
	    fb_http_cookie_build(cookie_name(req, proto), token, age, strcmp(proto, "https") == 0);
	fb_http_reply_header(req, "Set-Cookie", cookie);
	free(cookie);
	cookie =
	    fb_http_cookie_build(state_cookie_name(req, proto), "", 0, strcmp(proto, "https") == 0);
	fb_http_reply_header(req, "Set-Cookie", cookie);
	free(cookie);
	fb_http_web_audit(&w, "forward_auth_session", usr, "app %s", app->name);
	fb_http_redirect(req, f.uri);
out:
	if (token != NULL)
		fb_secret_free(token);
	free(payload);
	json_decref(p);
	json_decref(o);
	if (val != NULL) {
		fb_secret_wipe(val, len);
		free(val);
	}
	fb_http_web_end(&w);
}

enum fb_status
fb_http_authz_routes_add(struct fb_http_router *r, const struct fb_conf *conf, struct fb_err *err)
{
	const unsigned any = FB_HTTP_GET | FB_HTTP_HEAD | FB_HTTP_POST | FB_HTTP_PUT |
	                     FB_HTTP_DELETE | FB_HTTP_PATCH | FB_HTTP_OPTIONS;
	enum fb_status rc;

	if (conf->napps == 0)
		return FB_OK;
	if ((rc = fb_http_router_add(r, FB_HTTP_AUTHZ_ENVOY "/*", any, handle_envoy, NULL, err)) !=
	        FB_OK ||
	    (rc = fb_http_router_add(r, FB_HTTP_AUTHZ_NGINX, any, handle_nginx, NULL, err)) !=
	        FB_OK ||
	    (rc = fb_http_router_add(r, FB_HTTP_AUTHZ_NGINX_SIGNIN, any, handle_nginx_signin, NULL,
	         err)) != FB_OK ||
	    (rc = fb_http_router_add(r, FB_HTTP_AUTHZ_CADDY, any, handle_forward, NULL, err)) !=
	        FB_OK ||
	    (rc = fb_http_router_add(r, FB_HTTP_AUTHZ_TRAEFIK, any, handle_forward, NULL, err)) !=
	        FB_OK ||
	    (rc = fb_http_router_add(r, FB_HTTP_AUTHZ_START, FB_HTTP_GET, handle_start, NULL,
	         err)) != FB_OK)
		return rc;
	return fb_http_router_add(r, FB_HTTP_AUTHZ_CALLBACK, FB_HTTP_GET, handle_callback, NULL,
	    err);
}
