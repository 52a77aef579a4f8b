/* SPDX-License-Identifier: Apache-2.0 */
/*
 * oidc/rp.c: the relying party's protocol steps, free of I/O: the discovery
 * document, the authorization request with PKCE S256, the callback's
 * checks (state, RFC 9207 iss), the token request with the three client
 * authentication methods, the token and userinfo responses, logout.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "net/net.h"
#include "oidc/oidc.h"

/* Appends s percent-encoded (RFC 3986 unreserved kept) to b. */
static void
add_pct(struct fb_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			fb_buf_add(b, s, 1, NULL);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};

			fb_buf_add(b, e, 3, NULL);
		}
	}
}

/* Appends "&name=value" (without '&' when b is empty or ends with '?'), value encoded. */
static void
add_param(struct fb_buf *b, const char *name, const char *value)
{
	if (b->len > 0 && b->data[b->len - 1] != '?' && b->data[b->len - 1] != '&')
		fb_buf_add(b, "&", 1, NULL);
	fb_buf_add(b, name, strlen(name), NULL);
	fb_buf_add(b, "=", 1, NULL);
	add_pct(b, value);
}

/* Appends '?' or '&' to start a query after the URL in b. */
static void
add_query_start(struct fb_buf *b)
{
	fb_buf_add(b, strchr(b->data, '?') != NULL ? "&" : "?", 1, NULL);
}

char *
fb_oidc_discovery_url(const char *issuer)
{
	size_t n = strlen(issuer);

	if (n > 0 && issuer[n - 1] == '/')
		n--;
	return fb_xasprintf("%.*s%s", (int)n, issuer, FB_OIDC_DISCOVERY_PATH);
}

void
fb_oidc_provider_cleanup(struct fb_oidc_provider *p)
{
	if (p == NULL)
		return;
	free(p->issuer);
	free(p->authorization_endpoint);
	free(p->token_endpoint);
	free(p->jwks_uri);
	free(p->userinfo_endpoint);
	free(p->end_session_endpoint);
	memset(p, 0, sizeof(*p));
}

/* An https:// endpoint member of doc, copied into *out (NULL when absent and optional). */
static enum fb_status
endpoint(const json_t *doc, const char *name, int required, char **out, struct fb_err *err)
{
	const json_t *v = json_object_get(doc, name);

	*out = NULL;
	if (v == NULL && !required)
		return FB_OK;
	if (!json_is_string(v))
		return fb_err_set(err, FB_ERR_INVALID, "discovery: \"%s\" %s", name,
		    v == NULL ? "is missing" : "is not a string");
	if (strncasecmp(json_string_value(v), "https://", 8) != 0)
		return fb_err_set(err, FB_ERR_PROTOCOL, "discovery: \"%s\" is not an https:// URL",
		    name);
	*out = fb_xstrdup(json_string_value(v));
	return FB_OK;
}

/* 1 when the string array member name of doc is absent, or holds want. */
static int
absent_or_lists(const json_t *doc, const char *name, const char *want)
{
	const json_t *arr = json_object_get(doc, name), *v;
	size_t i;

	if (arr == NULL)
		return 1;
	json_array_foreach(arr, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
			return 1;
	}
	return 0;
}

enum fb_status
fb_oidc_provider_parse(const char *json, size_t len, const char *issuer,
    struct fb_oidc_provider *out, struct fb_err *err)
{
	struct fb_oidc_provider p = {0};
	enum fb_status r = FB_ERR_INVALID;
	const char *iss;
	json_error_t je;
	json_t *doc;

	memset(out, 0, sizeof(*out));
	doc = len <= FB_OIDC_DOC_MAX ? json_loadb(json, len, JSON_REJECT_DUPLICATES, &je) : NULL;
	if (!json_is_object(doc)) {
		r = fb_err_set(err, FB_ERR_INVALID,
		    "discovery: not a JSON object of at most %d bytes", FB_OIDC_DOC_MAX);
		goto out;
	}
	iss = json_string_value(json_object_get(doc, "issuer"));
	/* OIDC Discovery 4.3: exactly the issuer asked for (no mix-up across providers). */
	if (iss == NULL || strcmp(iss, issuer) != 0) {
		r = fb_err_set(err, FB_ERR_PROTOCOL, "discovery: \"issuer\" is %s, not %s",
		    iss != NULL ? iss : "missing", issuer);
		goto out;
	}
	p.issuer = fb_xstrdup(iss);
	if ((r = endpoint(doc, "authorization_endpoint", 1, &p.authorization_endpoint, err)) !=
	        FB_OK ||
	    (r = endpoint(doc, "token_endpoint", 1, &p.token_endpoint, err)) != FB_OK ||
	    (r = endpoint(doc, "jwks_uri", 1, &p.jwks_uri, err)) != FB_OK ||
	    (r = endpoint(doc, "userinfo_endpoint", 0, &p.userinfo_endpoint, err)) != FB_OK ||
	    (r = endpoint(doc, "end_session_endpoint", 0, &p.end_session_endpoint, err)) != FB_OK)
		goto out;
	if (!absent_or_lists(doc, "code_challenge_methods_supported", "S256") ||
	    !absent_or_lists(doc, "response_types_supported", "code")) {
		r = fb_err_set(err, FB_ERR_PROTOCOL,
		    "discovery: the provider does not support the code flow with PKCE S256");
		goto out;
	}
	p.iss_parameter =
	    json_is_true(json_object_get(doc, "authorization_response_iss_parameter_supported"));
	*out = p;
	memset(&p, 0, sizeof(p)); /* transferred */
	r = FB_OK;
out:
	fb_oidc_provider_cleanup(&p);
	json_decref(doc);
	return r;
}

/* 32 random bytes, base64url. New. */
static char *
random_b64(void)
{
	unsigned char b[32];

	fb_rand_bytes(b, sizeof(b));
	return fb_b64url_encode(b, sizeof(b));
}

void
fb_oidc_authz_init(struct fb_oidc_authz *a)
{
	a->state = random_b64();
	a->nonce = random_b64();
	a->verifier = random_b64();
}

void
fb_oidc_authz_cleanup(struct fb_oidc_authz *a)
{
	if (a == NULL)
		return;
	fb_secret_free(a->state);
	fb_secret_free(a->nonce);
	fb_secret_free(a->verifier);
	memset(a, 0, sizeof(*a));
}

char *
fb_oidc_pkce_challenge(const char *verifier)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	EVP_Digest(verifier, strlen(verifier), md, &mdlen, EVP_sha256(), NULL);
	return fb_b64url_encode(md, mdlen);
}

char *
fb_oidc_authz_url(const struct fb_oidc_provider *p, const struct fb_conf_upstream_oidc *o,
    const char *redirect_uri, const struct fb_oidc_authz *a, const char *login_hint)
{
	struct fb_buf b, scope;
	char *challenge = fb_oidc_pkce_challenge(a->verifier), *s;

	fb_buf_init(&scope, 4096);
	for (size_t i = 0; i < o->nscopes; i++)
		fb_buf_addf(&scope, NULL, "%s%s", i > 0 ? " " : "", o->scopes[i]);
	fb_buf_init(&b, 16384);
	fb_buf_add(&b, p->authorization_endpoint, strlen(p->authorization_endpoint), NULL);
	add_query_start(&b);
	add_param(&b, "response_type", "code");
	add_param(&b, FB_OIDC_P_CLIENT_ID, o->client_id);
	add_param(&b, "redirect_uri", redirect_uri);
	add_param(&b, "scope", scope.data != NULL ? scope.data : "openid");
	add_param(&b, "state", a->state);
	add_param(&b, "nonce", a->nonce);
	add_param(&b, "code_challenge", challenge);
	add_param(&b, "code_challenge_method", "S256");
	if (login_hint != NULL && login_hint[0] != '\0')
		add_param(&b, "login_hint", login_hint);
	s = fb_buf_take(&b);
	fb_buf_cleanup(&scope);
	free(challenge);
	return s;
}

/* 1 when a and b are equal strings, compared in constant time for equal lengths. */
static int
str_eq_ct(const char *a, const char *b)
{
	return a != NULL && b != NULL && strlen(a) == strlen(b) &&
	       fb_memeq_ct(a, b, strlen(a)) == 0;
}

enum fb_status
fb_oidc_callback_check(const struct fb_oidc_provider *p, const char *state_sent,
    const struct fb_oidc_callback *cb, struct fb_err *err)
{
	/* SECURITY: the state binds the response to the browser that started the flow. */
	if (!str_eq_ct(cb->state, state_sent))
		return fb_err_set(err, FB_ERR_PROTOCOL, "callback: state %s",
		    cb->state == NULL ? "missing" : "does not match this browser's");
	/* RFC 9207 2.4: required when advertised; checked whenever present (mix-up defence). */
	if ((p->iss_parameter || cb->iss != NULL) &&
	    (cb->iss == NULL || strcmp(cb->iss, p->issuer) != 0))
		return fb_err_set(err, FB_ERR_PROTOCOL, "callback: iss %s%s",
		    cb->iss == NULL ? "missing" : "is not ", cb->iss == NULL ? "" : p->issuer);
	if (cb->error != NULL)
		return fb_err_set(err, FB_ERR_DENIED, "the provider answered error=%.64s%s%.200s",
		    cb->error, cb->error_description != NULL ? ": " : "",
		    cb->error_description != NULL ? cb->error_description : "");
	if (cb->code == NULL || cb->code[0] == '\0')
		return fb_err_set(err, FB_ERR_PROTOCOL, "callback: no code");
	return FB_OK;
}

void
fb_oidc_token_request_cleanup(struct fb_oidc_token_request *r)
{
	if (r == NULL)
		return;
	free(r->url);
	fb_secret_free(r->body);
	free(r->username);
	fb_secret_free(r->password);
	memset(r, 0, sizeof(*r));
}

/* x form-encoded (RFC 6749 2.3.1 applies it to the Basic credentials). New. */
static char *
form_encode(const char *x)
{
	struct fb_buf b;

	fb_buf_init(&b, 4 * strlen(x) + 1);
	add_pct(&b, x);
	return fb_buf_take(&b);
}

/* The private_key_jwt client assertion (RFC 7523 2.2, 3). New in *out. */
static enum fb_status
client_assertion(const struct fb_oidc_provider *p, const struct fb_conf_upstream_oidc *o,
    const struct fb_key *key, int64_t now, char **out, struct fb_err *err)
{
	char *jti = random_b64();
	json_t *claims;
	enum fb_status r;

	claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "iss", o->client_id, "sub",
	    o->client_id, "aud", p->token_endpoint, "jti", jti, "iat", (json_int_t)now, "exp",
	    (json_int_t)(now + FB_OIDC_ASSERTION_LIFETIME));
	r = fb_oidc_jwt_sign(key, "JWT", claims, out, err);
	free(jti);
	json_decref(claims);
	return r;
}

enum fb_status
fb_oidc_token_request_build(const struct fb_oidc_provider *p, const struct fb_conf_upstream_oidc *o,
    const char *code, const char *redirect_uri, const char *verifier, const struct fb_key *key,
    int64_t now, struct fb_oidc_token_request *out, struct fb_err *err)
{
	struct fb_buf b;
	char *assertion = NULL;
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	fb_buf_init(&b, 64 * 1024);
	add_param(&b, "grant_type", "authorization_code");
	add_param(&b, "code", code);
	add_param(&b, "redirect_uri", redirect_uri);
	add_param(&b, "code_verifier", verifier);
	switch (o->client_auth) {
	case FB_CONF_OIDC_SECRET_BASIC:
		if (o->client_secret == NULL) {
			r = fb_err_set(err, FB_ERR_CONFIG, "client_secret_basic: no client_secret");
			goto out;
		}
		out->username = form_encode(o->client_id);
		out->password = form_encode(o->client_secret);
		break;
	case FB_CONF_OIDC_SECRET_POST:
		if (o->client_secret == NULL) {
			r = fb_err_set(err, FB_ERR_CONFIG, "client_secret_post: no client_secret");
			goto out;
		}
		add_param(&b, FB_OIDC_P_CLIENT_ID, o->client_id);
		add_param(&b, "client_secret", o->client_secret);
		break;
	case FB_CONF_OIDC_PRIVATE_KEY_JWT:
		if (key == NULL) {
			r = fb_err_set(err, FB_ERR_CONFIG,
			    "private_key_jwt: no active signing key");
			goto out;
		}
		if ((r = client_assertion(p, o, key, now, &assertion, err)) != FB_OK)
			goto out;
		add_param(&b, FB_OIDC_P_CLIENT_ID, o->client_id);
		add_param(&b, "client_assertion_type",
		    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
		add_param(&b, "client_assertion", assertion);
		break;
	default:
		r = fb_err_set(err, FB_ERR_CONFIG, "unknown client_auth");
		goto out;
	}
	out->url = fb_xstrdup(p->token_endpoint);
	out->body = fb_buf_take(&b);
	r = FB_OK;
out:
	if (r != FB_OK)
		fb_oidc_token_request_cleanup(out);
	free(assertion);
	fb_secret_wipe(b.data, b.len);
	fb_buf_cleanup(&b);
	return r;
}

void
fb_oidc_tokens_cleanup(struct fb_oidc_tokens *t)
{
	if (t == NULL)
		return;
	fb_secret_free(t->id_token);
	fb_secret_free(t->access_token);
	memset(t, 0, sizeof(*t));
}

/* The response body as a JSON object (new), or NULL. */
static json_t *
body_object(const struct fb_net_http_response *r)
{
	json_t *doc;

	if (r->body == NULL || r->body_len > FB_OIDC_DOC_MAX)
		return NULL;
	doc = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL);
	if (doc != NULL && !json_is_object(doc)) {
		json_decref(doc);
		doc = NULL;
	}
	return doc;
}

enum fb_status
fb_oidc_token_response_parse(const struct fb_net_http_response *r, struct fb_oidc_tokens *out,
    struct fb_err *err)
{
	json_t *doc = body_object(r);
	const char *idt, *at, *tt, *e;
	enum fb_status st;

	memset(out, 0, sizeof(*out));
	if (r->status != 200) {
		e = doc != NULL ? json_string_value(json_object_get(doc, "error")) : NULL;
		st = fb_err_set(err, FB_ERR_UPSTREAM, "token endpoint: HTTP %ld%s%.64s", r->status,
		    e != NULL ? ", error=" : "", e != NULL ? e : "");
		goto out;
	}
	if (doc == NULL) {
		st = fb_err_set(err, FB_ERR_INVALID, "token endpoint: the response is not JSON");
		goto out;
	}
	idt = json_string_value(json_object_get(doc, "id_token"));
	at = json_string_value(json_object_get(doc, "access_token"));
	tt = json_string_value(json_object_get(doc, "token_type"));
	if (idt == NULL) {
		st = fb_err_set(err, FB_ERR_INVALID, "token endpoint: no id_token");
		goto out;
	}
	if (at != NULL && (tt == NULL || strcasecmp(tt, "Bearer") != 0)) {
		st = fb_err_set(err, FB_ERR_PROTOCOL, "token endpoint: token_type is not Bearer");
		goto out;
	}
	out->id_token = fb_xstrdup(idt);
	out->access_token = at != NULL ? fb_xstrdup(at) : NULL;
	if (json_is_integer(json_object_get(doc, "expires_in")))
		out->expires_in = json_integer_value(json_object_get(doc, "expires_in"));
	st = FB_OK;
out:
	json_decref(doc);
	return st;
}

enum fb_status
fb_oidc_userinfo_merge(const struct fb_net_http_response *r, json_t *claims, struct fb_err *err)
{
	json_t *doc, *v;
	const char *k, *sub;
	enum fb_status st;

	if (r->status != 200)
		return fb_err_set(err, FB_ERR_UPSTREAM, "userinfo: HTTP %ld", r->status);
	if ((doc = body_object(r)) == NULL)
		return fb_err_set(err, FB_ERR_INVALID, "userinfo: not a JSON object");
	sub = json_string_value(json_object_get(doc, FB_OIDC_C_SUB));
	/* SECURITY: OIDC Core 5.3.4: a userinfo of another subject is a substitution. */
	if (sub == NULL ||
	    strcmp(sub, json_string_value(json_object_get(claims, FB_OIDC_C_SUB))) != 0) {
		st = fb_err_set(err, FB_ERR_PROTOCOL, "userinfo: sub is not the ID token's");
		goto out;
	}
	json_object_foreach(doc, k, v) {
		if (json_object_get(claims, k) == NULL)
			json_object_set(claims, k, v);
	}
	st = FB_OK;
out:
	json_decref(doc);
	return st;
}

char *
fb_oidc_logout_url(const struct fb_oidc_provider *p, const struct fb_conf_upstream_oidc *o,
    const char *id_token, const char *post_logout_redirect_uri)
{
	struct fb_buf b;

	if (p->end_session_endpoint == NULL)
		return NULL;
	fb_buf_init(&b, 64 * 1024);
	fb_buf_add(&b, p->end_session_endpoint, strlen(p->end_session_endpoint), NULL);
	add_query_start(&b);
	if (id_token != NULL)
		add_param(&b, "id_token_hint", id_token);
	add_param(&b, FB_OIDC_P_CLIENT_ID, o->client_id);
	if (post_logout_redirect_uri != NULL)
		add_param(&b, "post_logout_redirect_uri", post_logout_redirect_uri);
	return fb_buf_take(&b);
}
