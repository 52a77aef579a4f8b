/* SPDX-License-Identifier: Apache-2.0 */
/*
 * oidc/op.c: the OpenID provider's protocol steps, free of HTTP: discovery,
 * the authorization request's checks (exact redirect URIs, PKCE S256),
 * codes and refresh-token families in the store, client authentication in
 * constant time, ID tokens and RFC 9068 access tokens signed with the
 * keyring, userinfo, introspection (RFC 7662) and revocation (RFC 7009).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "ident/ident.h"
#include "map/map.h"
#include "oidc/oidc.h"

#define SHA256_LEN 32
/* Random bytes of a code, a refresh token, a family id, a jti. */
#define TOKEN_BYTES 32

/* How long a worker trusts what it read of a client kept in the store (ms; tests set it). */
FB_STATIC int64_t fb_oidc_stored_ttl_ms = 5000;
#define STORED_TTL_MS fb_oidc_stored_ttl_ms
/* Ids a worker remembers the store has no client of (a ring: bounded memory). */
#define STORED_ABSENT_MAX 256

struct op_client {
	const struct fb_conf_oidc_client *conf;
	int has_secret;                        /* secret (configured) or secret_hash (stored) */
	unsigned char secret_hash[SHA256_LEN]; /* SHA-256 of the secret */
	const struct fb_key *key;              /* signs its tokens */
	const char *alg;                       /* "ES256" or "RS256" */
	const struct fb_map_rule **claim_rules;
	struct fb_oidc_jwks *keys; /* private_key_jwt: the client's public keys, or NULL */
	char **thumbprints;        /* self_signed_tls_client_auth: of its jwks' certificates */
	size_t nthumbprints;
};

struct fb_oidc_op {
	const struct fb_conf *conf;
	char *issuer;
	char *discovery;
	char *jwks_json;
	struct fb_oidc_jwks *jwks;    /* our own keys, to check our own tokens */
	const struct fb_key *app_key; /* signs forward auth's access tokens (ES256, else RS256) */
	struct op_client *clients;
	size_t nclients;
	unsigned char dummy_hash[SHA256_LEN]; /* compared for an unknown client */
	struct fb_crypto_ca *mtls_ca;         /* tls_client_auth chains, or NULL */
	const struct fb_keyring *kr;
	const struct fb_map_set *maps;
	struct op_cache *cache; /* the clients read from the store (mutable through a const op) */
};

/*
 * A client read from the store, kept STORED_TTL_MS before it is read again.
 * SECURITY: an entry is never freed before the provider is (pointers to it
 * live through a request); a removed or changed client's entry is marked
 * gone and a changed one read anew, so memory grows with changes only.
 */
struct op_stored {
	struct op_client c;
	struct fb_conf_oidc_client cl;
	struct fb_store_oidc_client row; /* as read: a change makes a new entry */
	int64_t checked_ms;
	int gone;
	struct op_stored *next;
};

/*
 * SECURITY: an unknown id is remembered as absent for STORED_TTL_MS like a
 * known one is remembered as present, so neither answers faster than the
 * other: the time of a request says nothing about which ids exist.
 */
struct op_cache {
	struct fb_store *store; /* borrowed; NULL: the configured clients only */
	struct op_stored *list;
	char *absent[STORED_ABSENT_MAX];
	int64_t absent_ms[STORED_ABSENT_MAX];
	size_t absent_next;
};

const char *const fb_oidc_param_names[] = {"response_type", "client_id", "redirect_uri", "scope",
    "state", "nonce", "code_challenge", "code_challenge_method", "prompt", "max_age", "login_hint",
    "auth_after", "grant_type", "code", "code_verifier", "refresh_token", "client_secret", "token",
    "token_type_hint", "id_token_hint", "post_logout_redirect_uri", "client_assertion_type",
    "client_assertion", "acr_values", NULL};

const char **
fb_oidc_param_slot(struct fb_oidc_params *p, const char *name)
{
	const char **slots = (const char **)p;

	/* The members are the names' order, all const char *. */
	for (size_t i = 0; fb_oidc_param_names[i] != NULL; i++)
		if (strcmp(fb_oidc_param_names[i], name) == 0)
			return &slots[i];
	return NULL;
}

static void
sha256(const void *p, size_t n, unsigned char out[SHA256_LEN])
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != SHA256_LEN)
		abort(); /* SHA-256 is always there; nothing may go on with a wrong digest */
}

void
fb_oidc_secret_hash(const char *secret, char out[FB_OIDC_SECRET_HASH_LEN])
{
	unsigned char h[SHA256_LEN];

	sha256(secret, strlen(secret), h);
	fb_hex_encode(h, sizeof(h), out);
	fb_secret_wipe(h, sizeof(h));
}

/* Reads 64 hex digits into out; 0 when hex is not that. */
static int
hex_sha256(const char *hex, unsigned char out[SHA256_LEN])
{
	if (strlen(hex) != 2 * SHA256_LEN)
		return 0;
	for (size_t i = 0; i < SHA256_LEN; i++) {
		int hi = fb_hex_value(hex[2 * i]), lo = fb_hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return 0;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 1;
}

/* base64url(SHA-256(s)): how codes and refresh tokens are stored. New. */
static char *
hash_b64(const char *s)
{
	unsigned char h[SHA256_LEN];

	sha256(s, strlen(s), h);
	return fb_b64url_encode(h, sizeof(h));
}

static void op_error(struct fb_oidc_op_error *e, const char *code, int status, const char *fmt, ...)
    FB_PRINTF(4, 5);

static void
op_error(struct fb_oidc_op_error *e, const char *code, int status, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	e->status = status;
	va_start(ap, fmt);
	vsnprintf(e->desc, sizeof(e->desc), fmt, ap);
	va_end(ap);
}

/* ---- building ------------------------------------------------------------------------- */

const struct fb_key *
fb_oidc_keyring_key(const struct fb_keyring *kr, const char *alg)
{
	const struct fb_key *k = fb_crypto_keyring_active(kr);
	const char *a;

	if (k != NULL && (a = fb_oidc_key_alg(k)) != NULL && strcmp(a, alg) == 0)
		return k;
	for (size_t i = 0; i < fb_crypto_keyring_count(kr); i++) {
		k = fb_crypto_keyring_get(kr, i);
		if ((a = fb_oidc_key_alg(k)) != NULL && strcmp(a, alg) == 0)
			return k;
	}
	return NULL;
}

/* A JSON array of the NULL-terminated strings v. */
static json_t *
strs(const char *const *v)
{
	json_t *a = json_array();

	for (; *v != NULL; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static char *
discovery_build(const char *iss)
{
	json_t *d = json_object();
	char *s;

	json_object_set_new(d, "issuer", json_string(iss));
	json_object_set_new(d, "authorization_endpoint",
	    json_sprintf("%s%s", iss, FB_OIDC_OP_PATH_AUTHORIZE));
	json_object_set_new(d, "token_endpoint", json_sprintf("%s%s", iss, FB_OIDC_OP_PATH_TOKEN));
	json_object_set_new(d, "jwks_uri", json_sprintf("%s%s", iss, FB_OIDC_OP_PATH_JWKS));
	json_object_set_new(d, "userinfo_endpoint",
	    json_sprintf("%s%s", iss, FB_OIDC_OP_PATH_USERINFO));
	json_object_set_new(d, "introspection_endpoint",
	    json_sprintf("%s%s", iss, FB_OIDC_OP_PATH_INTROSPECT));
	json_object_set_new(d, "revocation_endpoint",
	    json_sprintf("%s%s", iss, FB_OIDC_OP_PATH_REVOKE));
	json_object_set_new(d, "end_session_endpoint",
	    json_sprintf("%s%s", iss, FB_OIDC_OP_PATH_LOGOUT));
	json_object_set_new(d, "response_types_supported", strs((const char *[]){"code", NULL}));
	json_object_set_new(d, "response_modes_supported", strs((const char *[]){"query", NULL}));
	json_object_set_new(d, "grant_types_supported",
	    strs((const char *[]){"authorization_code", "refresh_token", "client_credentials",
	        NULL}));
	json_object_set_new(d, "subject_types_supported", strs((const char *[]){"public", NULL}));
	json_object_set_new(d, "code_challenge_methods_supported",
	    strs((const char *[]){"S256", NULL}));
	json_object_set_new(d, "id_token_signing_alg_values_supported",
	    strs((const char *[]){"ES256", "RS256", NULL}));
	json_object_set_new(d, "token_endpoint_auth_methods_supported",
	    strs((const char *[]){"client_secret_basic", "client_secret_post", "private_key_jwt",
	        "tls_client_auth", "self_signed_tls_client_auth", "none", NULL}));
	json_object_set_new(d, "token_endpoint_auth_signing_alg_values_supported",
	    strs((const char *[]){"ES256", "RS256", "PS256", NULL}));
	json_object_set_new(d, "introspection_endpoint_auth_methods_supported",
	    strs((const char *[]){"client_secret_basic", "client_secret_post", "private_key_jwt",
	        "tls_client_auth", "self_signed_tls_client_auth", NULL}));
	json_object_set_new(d, "revocation_endpoint_auth_methods_supported",
	    strs((const char *[]){"client_secret_basic", "client_secret_post", "private_key_jwt",
	        "tls_client_auth", "self_signed_tls_client_auth", "none", NULL}));
	/* RFC 8705 3.3; the same endpoints ask for a certificate (no mtls_endpoint_aliases). */
	json_object_set_new(d, "tls_client_certificate_bound_access_tokens", json_true());
	json_object_set_new(d, "scopes_supported",
	    strs((const char *[]){"openid", "profile", "email", "groups", NULL}));
	json_object_set_new(d, "claims_supported",
	    strs((const char *[]){"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp",
	        "at_hash", "sid", "acr", "amr", "name", "preferred_username", "email",
	        "email_verified", "groups", NULL}));
	json_object_set_new(d, "acr_values_supported",
	    strs((const char *[]){FB_OIDC_ACR_PWD, FB_OIDC_ACR_MFA, NULL}));
	json_object_set_new(d, "prompt_values_supported",
	    strs((const char *[]){"none", "login", "consent", NULL}));
	json_object_set_new(d, "claims_parameter_supported", json_false());
	json_object_set_new(d, "request_parameter_supported", json_false());
	json_object_set_new(d, "authorization_response_iss_parameter_supported", json_true());
	s = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(d);
	return s;
}

/* A client's JWKS file, parsed (private_key_jwt). */
static enum fb_status
client_keys_load(const char *path, struct fb_oidc_jwks **out, struct fb_err *err)
{
	json_error_t je;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	char *text;
	enum fb_status r;

	*out = NULL;
	if (doc == NULL)
		return fb_err_set(err, FB_ERR_CONFIG, "%s: %s (line %d)", path, je.text, je.line);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	r = fb_oidc_jwks_parse(text, strlen(text), out, err);
	free(text);
	if (r == FB_OK && fb_oidc_jwks_count(*out) == 0) {
		fb_oidc_jwks_free(*out);
		*out = NULL;
		r = fb_err_set(err, FB_ERR_CONFIG, "%s: no RSA or EC signature key", path);
	}
	return r == FB_OK ? r : FB_ERR_CONFIG;
}

/* The SHA-256 thumbprint (x5t#S256) of a JWK's x5c[0] (standard base64 DER). New, or NULL. */
static char *
x5c_thumbprint(const char *b64)
{
	struct fb_buf b;
	struct fb_crypto_cert *c = NULL;
	char *pem, *tp = NULL;
	size_t n = strlen(b64);

	fb_buf_init(&b, FB_CRYPTO_CERT_PEM_MAX);
	(void)fb_buf_addf(&b, NULL, "-----BEGIN CERTIFICATE-----\n");
	for (size_t i = 0; i < n; i += 64)
		(void)fb_buf_addf(&b, NULL, "%.64s\n", b64 + i);
	(void)fb_buf_addf(&b, NULL, "-----END CERTIFICATE-----\n");
	pem = fb_buf_take(&b);
	if (pem != NULL && fb_crypto_cert_parse(pem, strlen(pem), &c, NULL) == FB_OK)
		tp = fb_xstrdup(fb_crypto_cert_thumbprint(c));
	fb_crypto_cert_free(c);
	free(pem);
	return tp;
}

/*
 * self_signed_tls_client_auth (RFC 8705 2.2.2): the thumbprints of the
 * certificates a client's JWKS file registers, each key's x5t#S256 or its
 * x5c[0]'s. At least one.
 */
static enum fb_status
client_certs_load(const char *path, struct op_client *c, struct fb_err *err)
{
	json_error_t je;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *k;
	size_t i;

	if (doc == NULL)
		return fb_err_set(err, FB_ERR_CONFIG, "%s: %s (line %d)", path, je.text, je.line);
	json_array_foreach(json_object_get(doc, "keys"), i, k) {
		const char *x5t = json_string_value(json_object_get(k, FB_OIDC_C_X5T_S256));
		const char *x5c = json_string_value(json_array_get(json_object_get(k, "x5c"), 0));
		char *tp = x5t != NULL ? fb_xstrdup(x5t) : x5c != NULL ? x5c_thumbprint(x5c) : NULL;

		if (tp == NULL && x5c == NULL)
			continue; /* a key without a certificate */
		if (tp == NULL || strlen(tp) != 43) {
			free(tp);
			json_decref(doc);
			return fb_err_set(err, FB_ERR_CONFIG, "%s: keys[%zu]: %s", path, i,
			    x5t != NULL ? "x5t#S256 is not a SHA-256 thumbprint (43 characters)"
			                : "x5c[0] is not a certificate");
		}
		c->thumbprints =
		    fb_xrealloc(c->thumbprints, (c->nthumbprints + 1) * sizeof(*c->thumbprints));
		c->thumbprints[c->nthumbprints++] = tp;
	}
	json_decref(doc);
	if (c->nthumbprints == 0)
		return fb_err_set(err, FB_ERR_CONFIG,
		    "%s: no certificate (a key with x5t#S256 or x5c) for self_signed", path);
	return FB_OK;
}

/*
 * Fills c for cc (borrowed, outliving c): the key of its algorithm, its
 * secret's hash, its keys (a JWKS file, or inline for a stored client) and
 * its claims' rules. label names the client in errors (FB_ERR_CONFIG).
 */
static enum fb_status
client_build(const struct fb_oidc_op *op, const struct fb_conf_oidc_client *cc, const char *label,
    struct op_client *c, struct fb_err *err)
{
	enum fb_status r;

	c->conf = cc;
	c->alg = cc->signing_alg == FB_CONF_OIDC_RS256 ? "RS256" : "ES256";
	if ((c->key = fb_oidc_keyring_key(op->kr, c->alg)) == NULL)
		return fb_err_set(err, FB_ERR_CONFIG,
		    "%s: signing_alg %s needs a%s key in keys: (active or published); the keyring "
		    "has none",
		    label, c->alg, strcmp(c->alg, "ES256") == 0 ? "n EC P-256" : " RSA");
	if (cc->secret != NULL)
		sha256(cc->secret, strlen(cc->secret), c->secret_hash);
	else if (cc->secret_hash != NULL && !hex_sha256(cc->secret_hash, c->secret_hash))
		return fb_err_set(err, FB_ERR_CONFIG, "%s: the secret hash is not a SHA-256",
		    label);
	c->has_secret = cc->secret != NULL || cc->secret_hash != NULL;
	/* A certificate client's jwks holds its certificates, never assertion keys. */
	if (cc->jwks != NULL &&
	    (r = fb_conf_oidc_client_mtls(cc) != FB_CONF_MTLS_NONE
	             ? client_certs_load(cc->jwks, c, err)
	             : client_keys_load(cc->jwks, &c->keys, err)) != FB_OK) {
		fb_err_prefix(err, "%s: jwks: ", label);
		return r;
	}
	if (cc->jwks_json != NULL) {
		if (fb_oidc_jwks_parse(cc->jwks_json, strlen(cc->jwks_json), &c->keys, err) !=
		    FB_OK) {
			fb_err_prefix(err, "%s: jwks: ", label);
			return FB_ERR_CONFIG;
		}
		if (fb_oidc_jwks_count(c->keys) == 0)
			return fb_err_set(err, FB_ERR_CONFIG,
			    "%s: jwks: no RSA or EC signature key", label);
	}
	c->claim_rules = fb_xcalloc(cc->nclaims + 1, sizeof(*c->claim_rules));
	for (size_t j = 0; j < cc->nclaims; j++)
		if ((c->claim_rules[j] = fb_map_set_get(op->maps, cc->claims[j].mapping)) == NULL)
			return fb_err_set(err, FB_ERR_CONFIG,
			    "%s: claim %s: no usable mapping '%s' in mappings.dir", label,
			    cc->claims[j].name, cc->claims[j].mapping);
	return FB_OK;
}

static void
client_free(struct op_client *c)
{
	free(c->claim_rules);
	fb_oidc_jwks_free(c->keys);
	for (size_t j = 0; j < c->nthumbprints; j++)
		free(c->thumbprints[j]);
	free(c->thumbprints);
}

enum fb_status
fb_oidc_op_new(const struct fb_conf *conf, const struct fb_keyring *kr,
    const struct fb_map_set *maps, struct fb_oidc_op **out, struct fb_err *err)
{
	struct fb_oidc_op *op = fb_xcalloc(1, sizeof(*op));
	enum fb_status r;
	size_t len;

	*out = NULL;
	op->conf = conf;
	op->issuer = fb_xstrdup(conf->public_url != NULL ? conf->public_url : "");
	len = strlen(op->issuer);
	while (len > 0 && op->issuer[len - 1] == '/')
		op->issuer[--len] = '\0';
	op->discovery = discovery_build(op->issuer);
	if ((r = fb_oidc_jwks_publish(kr, &op->jwks_json, err)) != FB_OK ||
	    (r = fb_oidc_jwks_parse(op->jwks_json, strlen(op->jwks_json), &op->jwks, err)) != FB_OK)
		goto fail;
	fb_rand_bytes(op->dummy_hash, sizeof(op->dummy_hash));
	if ((conf->oidc_mtls_ca_file != NULL || conf->tls_client_ca != NULL) &&
	    (r = fb_crypto_ca_load(conf->oidc_mtls_ca_file != NULL ? conf->oidc_mtls_ca_file
	                                                           : conf->tls_client_ca,
	         &op->mtls_ca, err)) != FB_OK) {
		fb_err_prefix(err, "oidc.mtls.ca_file: ");
		goto fail;
	}
	if ((op->app_key = fb_oidc_keyring_key(kr, "ES256")) == NULL)
		op->app_key = fb_oidc_keyring_key(kr, "RS256");
	op->kr = kr;
	op->maps = maps;
	op->cache = fb_xcalloc(1, sizeof(*op->cache));
	op->nclients = conf->noidc_clients;
	op->clients = fb_xcalloc(op->nclients + 1, sizeof(*op->clients));
	for (size_t i = 0; i < op->nclients; i++) {
		char *label = fb_xasprintf("oidc.clients[%zu] (%s)", i, conf->oidc_clients[i].id);

		r = client_build(op, &conf->oidc_clients[i], label, &op->clients[i], err);
		free(label);
		if (r != FB_OK)
			goto fail;
	}
	*out = op;
	return FB_OK;
fail:
	fb_oidc_op_free(op);
	return r;
}

void
fb_oidc_op_store_set(struct fb_oidc_op *op, struct fb_store *store)
{
	op->cache->store = store;
}

void
fb_oidc_op_free(struct fb_oidc_op *op)
{
	if (op == NULL)
		return;
	for (size_t i = 0; i < op->nclients; i++)
		client_free(&op->clients[i]);
	free(op->clients);
	while (op->cache != NULL && op->cache->list != NULL) {
		struct op_stored *s = op->cache->list;

		op->cache->list = s->next;
		client_free(&s->c);
		fb_conf_oidc_client_cleanup(&s->cl);
		fb_store_oidc_client_cleanup(&s->row);
		free(s);
	}
	for (size_t i = 0; op->cache != NULL && i < STORED_ABSENT_MAX; i++)
		free(op->cache->absent[i]);
	free(op->cache);
	free(op->issuer);
	free(op->discovery);
	free(op->jwks_json);
	fb_oidc_jwks_free(op->jwks);
	fb_crypto_ca_free(op->mtls_ca);
	free(op);
}

const char *
fb_oidc_op_discovery(const struct fb_oidc_op *op)
{
	return op->discovery;
}

const char *
fb_oidc_op_jwks(const struct fb_oidc_op *op)
{
	return op->jwks_json;
}

const char *
fb_oidc_op_issuer(const struct fb_oidc_op *op)
{
	return op->issuer;
}

static int
str_eq(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/*
 * A stored client's registration, for its consents: a number from its row
 * (added when, its spec, secret hash and keys), so that a client removed
 * and added again under the same id is another one. Positive, never 0 (a
 * configured client's).
 */
static int64_t
registration_of(const struct fb_store_oidc_client *row)
{
	char *all = fb_xasprintf("%lld\n%s\n%s\n%s", (long long)row->created,
	    row->spec != NULL ? row->spec : "", row->secret_hash != NULL ? row->secret_hash : "",
	    row->jwks != NULL ? row->jwks : "");
	unsigned char md[SHA256_LEN];
	int64_t v = 0;

	sha256(all, strlen(all), md);
	free(all);
	for (size_t i = 0; i < 7; i++)
		v = (v << 8) | md[i];
	return v != 0 ? v : 1;
}

/* A new entry for row (taken on success), or NULL when the client is unusable (logged). */
static struct op_stored *
stored_build(const struct fb_oidc_op *op, struct fb_store_oidc_client *row)
{
	struct op_stored *s = fb_xcalloc(1, sizeof(*s));
	struct fb_err err = {0};
	json_error_t je;
	json_t *spec = json_loads(row->spec, JSON_REJECT_DUPLICATES, &je);
	char *label = fb_xasprintf("stored client %s", row->id);
	enum fb_status r;

	r = spec == NULL ? fb_err_set(&err, FB_ERR_CONFIG, "spec: %s", je.text)
	                 : fb_conf_oidc_client_parse(spec, row->secret_hash, row->jwks,
	                       op->conf->mappings_dir, label, &s->cl, NULL, &err);
	json_decref(spec);
	if (r == FB_OK && strcmp(s->cl.id, row->id) != 0)
		r = fb_err_set(&err, FB_ERR_CONFIG, "its spec names client %s", s->cl.id);
	s->cl.registered = registration_of(row);
	if (r == FB_OK)
		r = client_build(op, &s->cl, label, &s->c, &err);
	free(label);
	if (r != FB_OK) {
		fb_log(FB_LOG_WARN, "OpenID client %s of the store is unusable: %s", row->id,
		    err.msg);
		client_free(&s->c);
		fb_conf_oidc_client_cleanup(&s->cl);
		free(s);
		return NULL;
	}
	s->row = *row;
	memset(row, 0, sizeof(*row));
	return s;
}

/* 1 when id was found absent (or unusable) less than STORED_TTL_MS before now. */
static int
absent_has(const struct op_cache *k, const char *id, int64_t now)
{
	for (size_t i = 0; i < STORED_ABSENT_MAX; i++)
		if (k->absent[i] != NULL && now - k->absent_ms[i] < STORED_TTL_MS &&
		    strcmp(k->absent[i], id) == 0)
			return 1;
	return 0;
}

static void
absent_add(struct op_cache *k, const char *id, int64_t now)
{
	free(k->absent[k->absent_next]);
	k->absent[k->absent_next] = fb_xstrdup(id);
	k->absent_ms[k->absent_next] = now;
	k->absent_next = (k->absent_next + 1) % STORED_ABSENT_MAX;
}

/*
 * The client id kept in the store, read at most every STORED_TTL_MS per
 * worker (so a removal takes effect within that time everywhere). When the
 * store fails, the last read stands.
 */
static const struct op_client *
stored_find(const struct fb_oidc_op *op, const char *id)
{
	struct op_cache *k = op->cache;
	struct op_stored *s, *live = NULL;
	struct fb_store_oidc_client row;
	struct fb_err err = {0};
	int64_t now = fb_time_mono_us() / 1000;
	enum fb_status r;

	if (k->store == NULL || id[0] == '\0' || strlen(id) > FB_STORE_KEY_MAX)
		return NULL;
	for (s = k->list; s != NULL && live == NULL; s = s->next)
		if (!s->gone && strcmp(s->row.id, id) == 0)
			live = s;
	if (live != NULL && now - live->checked_ms < STORED_TTL_MS)
		return &live->c;
	if (live == NULL && absent_has(k, id, now))
		return NULL;
	r = fb_store_oidc_client_get(k->store, id, &row, &err);
	if (r != FB_OK) {
		if (r == FB_ERR_NOTFOUND) {
			if (live != NULL)
				live->gone = 1;
			absent_add(k, id, now);
		} else {
			fb_log_err(FB_LOG_WARN, NULL, &err);
		}
		return r == FB_ERR_NOTFOUND || live == NULL ? NULL : &live->c;
	}
	if (live != NULL && row.created == live->row.created && str_eq(row.spec, live->row.spec) &&
	    str_eq(row.secret_hash, live->row.secret_hash) && str_eq(row.jwks, live->row.jwks)) {
		live->checked_ms = now;
		fb_store_oidc_client_cleanup(&row);
		return &live->c;
	}
	if (live != NULL)
		live->gone = 1;
	s = stored_build(op, &row);
	fb_store_oidc_client_cleanup(&row);
	if (s == NULL) {
		absent_add(k, id, now); /* logged once per STORED_TTL_MS, not per request */
		return NULL;
	}
	s->checked_ms = now;
	s->next = k->list;
	k->list = s;
	return &s->c;
}

/* The client id: oidc.clients first (the configuration wins), then the store. */
static const struct op_client *
client_find(const struct fb_oidc_op *op, const char *id)
{
	for (size_t i = 0; id != NULL && i < op->nclients; i++)
		if (strcmp(op->clients[i].conf->id, id) == 0)
			return &op->clients[i];
	return id != NULL ? stored_find(op, id) : NULL;
}

int
fb_oidc_op_cors_allowed(const struct fb_oidc_op *op, const char *origin)
{
	for (size_t i = 0; origin != NULL && i < op->nclients; i++)
		for (size_t j = 0; j < op->clients[i].conf->ncors_origins; j++)
			if (strcmp(op->clients[i].conf->cors_origins[j], origin) == 0)
				return 1;
	return 0;
}

const char *
fb_oidc_op_client_key(const struct fb_oidc_op *op, const char *client_id)
{
	const struct op_client *c = client_find(op, client_id);
	struct fb_key_info info;

	if (c == NULL)
		return NULL;
	fb_crypto_key_info(c->key, &info);
	return info.id;
}

/* ---- the authorization request ----------------------------------------------------------- */

void
fb_oidc_authz_req_cleanup(struct fb_oidc_authz_req *a)
{
	free(a->scope);
	memset(a, 0, sizeof(*a));
}

/* 1 when uri is http://127.0.0.1[:port]/... or http://[::1][:port]/...; *rest after the port. */
static int
loopback_split(const char *uri, size_t *host_end, const char **rest)
{
	const char *h;

	if (strncmp(uri, "http://127.0.0.1", 16) == 0)
		h = uri + 16;
	else if (strncmp(uri, "http://[::1]", 12) == 0)
		h = uri + 12;
	else
		return 0;
	*host_end = (size_t)(h - uri);
	if (*h == ':') {
		h++;
		if (*h < '0' || *h > '9')
			return 0;
		while (*h >= '0' && *h <= '9')
			h++;
	}
	if (*h != '/' && *h != '\0' && *h != '?')
		return 0;
	*rest = h;
	return 1;
}

int
fb_oidc_redirect_uri_match(const struct fb_conf_oidc_client *cl, const char *uri)
{
	size_t he1, he2;
	const char *r1, *r2;

	if (uri == NULL)
		return 0;
	for (size_t i = 0; i < cl->nredirect_uris; i++) {
		const char *reg = cl->redirect_uris[i];

		if (strcmp(reg, uri) == 0)
			return 1;
		/* RFC 8252 7.3: a native app's loopback redirect may use any port. */
		if (cl->type == FB_CONF_OIDC_PUBLIC && loopback_split(reg, &he1, &r1) &&
		    loopback_split(uri, &he2, &r2) && he1 == he2 && strncmp(reg, uri, he1) == 0 &&
		    strcmp(r1, r2) == 0)
			return 1;
	}
	return 0;
}

/* 1 when s is 43..128 characters of [A-Za-z0-9-._~] (RFC 7636 4.1, 4.2). */
static int
pkce_syntax(const char *s)
{
	size_t n = strlen(s);

	if (n < 43 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~",
		        s[i]) == NULL)
			return 0;
	return 1;
}

/* 1 when s holds only printable ASCII (a scope, state or nonce) and at most max bytes. */
static int
printable(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e || n >= max)
			return 0;
	return 1;
}

static int scope_has(const char *scope, const char *want);

/* The scopes of asked that cl allows, space-separated (new); *openid set when asked for. */
static char *
scope_grant(const struct fb_conf_oidc_client *cl, const char *asked, int *openid)
{
	struct fb_buf b;
	char *copy = fb_xstrdup(asked != NULL ? asked : ""), *save = NULL;

	fb_buf_init(&b, strlen(copy) + 1);
	*openid = 0;
	for (char *t = strtok_r(copy, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
		int ok = 0;

		for (size_t i = 0; i < cl->nscopes && !ok; i++)
			ok = strcmp(cl->scopes[i], t) == 0;
		if (!ok || (b.len > 0 && scope_has(b.data, t)))
			continue;
		if (strcmp(t, "openid") == 0)
			*openid = 1;
		if (b.len > 0)
			(void)fb_buf_add(&b, " ", 1, NULL);
		(void)fb_buf_add(&b, t, strlen(t), NULL);
	}
	free(copy);
	return fb_buf_take(&b);
}

enum fb_status
fb_oidc_authz_check(const struct fb_oidc_op *op, const struct fb_oidc_params *p,
    struct fb_oidc_authz_req *out, struct fb_oidc_op_error *e)
{
	const struct op_client *c = client_find(op, p->client_id);
	const struct fb_conf_oidc_client *cl;
	int openid = 0;

	memset(out, 0, sizeof(*out));
	out->max_age = -1;
	if (c == NULL) {
		op_error(e, "invalid_request", 400, "unknown client_id");
		return FB_ERR_NOTFOUND;
	}
	cl = c->conf;
	out->client = cl;
	/* SECURITY: errors go to the redirect URI only when it is one of the client's. */
	if (!fb_oidc_redirect_uri_match(cl, p->redirect_uri)) {
		op_error(e, "invalid_request", 400, "%s redirect_uri for client %s",
		    p->redirect_uri == NULL ? "no" : "unregistered", cl->id);
		return FB_ERR_NOTFOUND;
	}
	out->redirect_uri = p->redirect_uri;
	if (p->state != NULL && printable(p->state, 1024))
		out->state = p->state;
	if (p->state != NULL && out->state == NULL) {
		op_error(e, "invalid_request", 400, "state is not printable ASCII of 1024 bytes");
		return FB_ERR_PROTOCOL;
	}
	if (p->response_type == NULL || strcmp(p->response_type, "code") != 0) {
		op_error(e, "unsupported_response_type", 400, "response_type must be code");
		return FB_ERR_PROTOCOL;
	}
	if ((cl->grants & FB_CONF_OIDC_GRANT_CODE) == 0) {
		op_error(e, "unauthorized_client", 400,
		    "client %s may not use the authorization code grant", cl->id);
		return FB_ERR_PROTOCOL;
	}
	if (p->scope != NULL && !printable(p->scope, 2048)) {
		op_error(e, "invalid_scope", 400, "scope is not printable ASCII");
		return FB_ERR_PROTOCOL;
	}
	out->scope = scope_grant(cl, p->scope, &openid);
	if (p->nonce != NULL && !printable(p->nonce, 512)) {
		op_error(e, "invalid_request", 400, "nonce is not printable ASCII of 512 bytes");
		return FB_ERR_PROTOCOL;
	}
	out->nonce = p->nonce;
	/* PKCE (RFC 7636): S256 only; required for public clients and by default. */
	if (p->code_challenge_method != NULL && strcmp(p->code_challenge_method, "S256") != 0) {
		op_error(e, "invalid_request", 400,
		    "code_challenge_method %s is refused: S256 only",
		    strcmp(p->code_challenge_method, "plain") == 0 ? "plain" : "(unknown)");
		return FB_ERR_PROTOCOL;
	}
	if (p->code_challenge == NULL) {
		if (cl->type == FB_CONF_OIDC_PUBLIC || cl->require_pkce) {
			op_error(e, "invalid_request", 400,
			    "code_challenge (PKCE S256) is required for client %s", cl->id);
			return FB_ERR_PROTOCOL;
		}
	} else {
		if (p->code_challenge_method == NULL) {
			/* RFC 7636 4.3: absent means plain, which is refused. */
			op_error(e, "invalid_request", 400,
			    "code_challenge_method plain is refused: S256 only");
			return FB_ERR_PROTOCOL;
		}
		if (!pkce_syntax(p->code_challenge)) {
			op_error(e, "invalid_request", 400, "code_challenge is malformed");
			return FB_ERR_PROTOCOL;
		}
		out->challenge = p->code_challenge;
	}
	if (p->prompt != NULL) {
		char *copy = fb_xstrdup(p->prompt), *save = NULL;
		int bad = 0;

		for (char *t = strtok_r(copy, " ", &save); t != NULL;
		     t = strtok_r(NULL, " ", &save))
			if (strcmp(t, "none") == 0)
				out->prompt_none = 1;
			else if (strcmp(t, "login") == 0)
				out->prompt_login = 1;
			else if (strcmp(t, "consent") == 0)
				out->prompt_consent = 1;
			else if (strcmp(t, "select_account") != 0)
				bad = 1;
		free(copy);
		/* OIDC Core 3.1.2.1: none with any other value is an error. */
		if (bad || (out->prompt_none && (out->prompt_login || out->prompt_consent))) {
			op_error(e, "invalid_request", 400, "prompt is not none, login or consent");
			return FB_ERR_PROTOCOL;
		}
	}
	if (p->max_age != NULL) {
		char *end = NULL;
		long long v = strtoll(p->max_age, &end, 10);

		if (end == p->max_age || *end != '\0' || v < 0 || v > 100000000) {
			op_error(e, "invalid_request", 400, "max_age is not a number of seconds");
			return FB_ERR_PROTOCOL;
		}
		out->max_age = v;
	}
	if (p->auth_after != NULL)
		out->auth_after = strtoll(p->auth_after, NULL, 10);
	if (p->login_hint != NULL && printable(p->login_hint, 256))
		out->login_hint = p->login_hint;
	out->want_mfa = p->acr_values != NULL && scope_has(p->acr_values, FB_OIDC_ACR_MFA);
	(void)openid;
	return FB_OK;
}

/* Appends "&name=value" (value percent-encoded), or "?" first when sep says so. */
static void
param_add(struct fb_buf *b, int *first, const char *name, const char *value)
{
	char *enc = curl_easy_escape(NULL, value, 0);

	(void)fb_buf_addf(b, NULL, "%s%s=%s", *first ? "" : "&", name, enc != NULL ? enc : "");
	*first = 0;
	curl_free(enc);
}

char *
fb_oidc_authz_response(const struct fb_oidc_op *op, const char *redirect_uri, const char *code,
    const struct fb_oidc_op_error *e, const char *state)
{
	struct fb_buf b;
	int first = 1;

	fb_buf_init(&b, 16384);
	(void)fb_buf_addf(&b, NULL, "%s%c", redirect_uri, strchr(redirect_uri, '?') ? '&' : '?');
	if (code != NULL) {
		param_add(&b, &first, "code", code);
	} else {
		param_add(&b, &first, "error", e->code);
		param_add(&b, &first, "error_description", e->desc);
	}
	if (state != NULL)
		param_add(&b, &first, "state", state);
	param_add(&b, &first, "iss", op->issuer);
	return fb_buf_take(&b);
}

/* The groups upstreams gave u (new array and strings), none when the store cannot say. */
static void
upstream_groups(struct fb_store *store, const struct fb_store_user *u, char ***g, size_t *n)
{
	struct fb_err err = {0};

	*g = NULL;
	*n = 0;
	if (store != NULL && u->id != NULL &&
	    fb_store_upstream_groups(store, u->id, g, n, &err) != FB_OK)
		fb_log_err(FB_LOG_ERROR, NULL, &err);
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

enum fb_status
fb_oidc_op_user_allowed(const struct fb_oidc_op *op, struct fb_store *store,
    const struct fb_oidc_authz_req *a, const struct fb_store_user *u, struct fb_oidc_op_error *e)
{
	const struct fb_conf_group **groups = NULL;
	char **ug = NULL;
	size_t nug = 0, n;
	int ok = a->client->ngroups == 0;

	if (!ok) {
		upstream_groups(store, u, &ug, &nug);
		n = fb_ident_groups_with(op->conf, u->username, (const char *const *)ug, nug,
		    &groups);
		for (size_t i = 0; i < a->client->ngroups && !ok; i++)
			for (size_t j = 0; j < n && !ok; j++)
				ok = strcmp(groups[j]->name, a->client->groups[i]) == 0;
		free(groups);
		strv_free(ug, nug);
	}
	if (!ok) {
		op_error(e, "access_denied", 403, "user %s is in no group that may use client %s",
		    u->username, a->client->id);
		return FB_ERR_DENIED;
	}
	return FB_OK;
}

/* A store failure as an OAuth error: the store down is temporarily_unavailable. */
static void
store_error(struct fb_oidc_op_error *e, enum fb_status r, const struct fb_err *err)
{
	fb_log_err(FB_LOG_ERROR, NULL, err);
	if (r == FB_ERR_IO)
		op_error(e, "temporarily_unavailable", 503, "the store cannot be reached");
	else
		op_error(e, "server_error", 500, "the store failed");
}

/* ---- consent ------------------------------------------------------------------------------ */

/* The key of user_id's consent to client_id in FB_OIDC_CONSENT_NS (new). */
static char *
consent_key(const char *user_id, const char *client_id)
{
	/* A user id has no space and a client id neither (v_client_id). */
	return fb_xasprintf("%s %s", user_id, client_id);
}

/*
 * The scopes user_id allowed cl (new in *scopes, NULL when none). A consent
 * is kept as "REGISTERED SCOPES...": SECURITY: one given to a client of the
 * store that was removed since does not pass to a new client of the same id.
 */
static enum fb_status
consent_read(struct fb_store *store, const char *user_id, const struct fb_conf_oidc_client *cl,
    char **scopes, struct fb_err *err)
{
	char *key = consent_key(user_id, cl->id), *rest = NULL;
	unsigned char *val = NULL;
	size_t len = 0;
	long long registered;
	enum fb_status r;

	*scopes = NULL;
	r = fb_store_kv_get(store, FB_OIDC_CONSENT_NS, key, &val, &len, err);
	free(key);
	if (r == FB_ERR_NOTFOUND)
		return FB_OK;
	if (r != FB_OK)
		return r;
	errno = 0;
	registered = strtoll((const char *)val, &rest, 10);
	if (errno == 0 && rest != (char *)val && (*rest == ' ' || *rest == '\0') &&
	    registered == (long long)cl->registered)
		*scopes = fb_xstrdup(*rest == ' ' ? rest + 1 : rest);
	free(val);
	return FB_OK;
}

enum fb_status
fb_oidc_op_consent_check(struct fb_store *store, const struct fb_oidc_authz_req *a,
    const char *user_id, int *needed, struct fb_oidc_op_error *e)
{
	struct fb_err err = {0};
	char *given = NULL, *copy, *save = NULL;
	enum fb_status r;

	*needed = a->prompt_consent;
	if (a->prompt_consent || a->client->first_party)
		return FB_OK;
	if ((r = consent_read(store, user_id, a->client, &given, &err)) != FB_OK) {
		store_error(e, r, &err);
		return r;
	}
	/* More scopes than were allowed ask again. */
	copy = fb_xstrdup(a->scope != NULL ? a->scope : "");
	for (char *t = strtok_r(copy, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save))
		if (given == NULL || !scope_has(given, t))
			*needed = 1;
	if (given == NULL)
		*needed = 1;
	free(copy);
	free(given);
	return FB_OK;
}

enum fb_status
fb_oidc_op_consent_grant(struct fb_store *store, const struct fb_oidc_authz_req *a,
    const char *user_id, struct fb_oidc_op_error *e)
{
	struct fb_err err = {0};
	char *given = NULL, *copy, *save = NULL, *key;
	struct fb_buf b;
	enum fb_status r;

	if ((r = consent_read(store, user_id, a->client, &given, &err)) != FB_OK) {
		store_error(e, r, &err);
		return r;
	}
	fb_buf_init(&b, 4096);
	(void)fb_buf_addf(&b, NULL, "%lld %s", (long long)a->client->registered,
	    given != NULL ? given : "");
	copy = fb_xstrdup(a->scope != NULL ? a->scope : "");
	for (char *t = strtok_r(copy, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save))
		if (given == NULL || !scope_has(given, t))
			(void)fb_buf_addf(&b, NULL, "%s%s",
			    b.data[b.len - 1] != ' ' ? " " : "", t);
	free(copy);
	free(given);
	given = fb_buf_take(&b);
	key = consent_key(user_id, a->client->id);
	r = fb_store_kv_put(store, FB_OIDC_CONSENT_NS, key, given, strlen(given),
	    fb_time_now() + a->client->consent_lifetime, &err);
	free(key);
	free(given);
	if (r != FB_OK)
		store_error(e, r, &err);
	return r;
}

enum fb_status
fb_oidc_op_consent_revoke(struct fb_store *store, const char *user_id, const char *client_id,
    int *found, struct fb_err *err)
{
	char *key = consent_key(user_id, client_id);
	unsigned char *val = NULL;
	size_t len = 0;
	enum fb_status r;

	if (found != NULL)
		*found = 0;
	r = fb_store_kv_take(store, FB_OIDC_CONSENT_NS, key, &val, &len, err);
	free(key);
	free(val);
	if (r == FB_ERR_NOTFOUND)
		return FB_OK;
	if (r == FB_OK && found != NULL)
		*found = 1;
	return r;
}

enum fb_status
fb_oidc_op_code_issue(const struct fb_oidc_op *op, struct fb_store *store,
    const struct fb_oidc_authz_req *a, const struct fb_store_user *u, int64_t auth_time,
    const char *sid, int mfa, char **code, struct fb_oidc_op_error *e)
{
	char *c = fb_rand_token(TOKEN_BYTES), *family = fb_rand_token(16);
	json_t *data =
	    json_pack("{s:s, s:s, s:s, s:I}", "sub", u->id, "redirect_uri", a->redirect_uri,
	        "scope", a->scope != NULL ? a->scope : "", "auth_time", (json_int_t)auth_time);
	struct fb_store_oidc_grant g = {0};
	struct fb_err err = {0};
	enum fb_status r;

	*code = NULL;
	if (a->nonce != NULL)
		json_object_set_new(data, "nonce", json_string(a->nonce));
	if (a->challenge != NULL)
		json_object_set_new(data, "code_challenge", json_string(a->challenge));
	if (sid != NULL)
		json_object_set_new(data, "sid", json_string(sid));
	json_object_set_new(data, "mfa", json_boolean(mfa));
	g.hash = hash_b64(c);
	g.kind = FB_STORE_OIDC_CODE;
	g.family = family;
	g.client_id = (char *)a->client->id;
	g.data = json_dumps(data, JSON_COMPACT);
	g.expires_at = fb_time_now() + op->conf->oidc_code_lifetime;
	if ((r = fb_store_oidc_grant_add(store, &g, &err)) != FB_OK) {
		store_error(e, r, &err);
		free(c);
	} else {
		*code = c;
	}
	free(g.hash);
	free(g.data);
	free(family);
	json_decref(data);
	return r;
}

/* ---- replies -------------------------------------------------------------------------- */

void
fb_oidc_op_reply_cleanup(struct fb_oidc_op_reply *r)
{
	fb_secret_free(r->body);
	memset(r, 0, sizeof(*r));
}

static void
reply_json(struct fb_oidc_op_reply *out, int status, json_t *body)
{
	out->status = status;
	out->body = json_dumps(body, JSON_COMPACT);
	json_decref(body);
}

static void reply_error(struct fb_oidc_op_reply *out, const struct fb_oidc_op_error *e,
    const char *event);

/* A refused token request: the audit event a check set already, else the generic one. */
static void
token_refused(struct fb_oidc_op_reply *out, const struct fb_oidc_op_error *e)
{
	char ev[48];

	snprintf(ev, sizeof(ev), "%s",
	    out->audit_event[0] != '\0' ? out->audit_event : "oidc_token_refused");
	reply_error(out, e, ev);
}

static void
reply_error(struct fb_oidc_op_reply *out, const struct fb_oidc_op_error *e, const char *event)
{
	json_t *o = json_pack("{s:s, s:s}", "error", e->code, "error_description", e->desc);

	out->status = e->status;
	out->body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (e->status == 401)
		out->www_authenticate = "Basic realm=\"fedbroker\", charset=\"UTF-8\"";
	snprintf(out->audit_event, sizeof(out->audit_event), "%s", event);
	snprintf(out->audit, sizeof(out->audit), "%s: %s", e->code, e->desc);
}

/* ---- client authentication ------------------------------------------------------------- */

/* Percent-decodes a Basic credential part (RFC 6749 2.3.1). New, NULL when malformed. */
static char *
form_decode(const char *s, size_t n)
{
	int len = 0;
	char *plus = fb_xmalloc(n + 1), *d, *r;

	for (size_t i = 0; i < n; i++)
		plus[i] = s[i] == '+' ? ' ' : s[i];
	plus[n] = '\0';
	d = curl_easy_unescape(NULL, plus, (int)n, &len);
	free(plus);
	if (d == NULL || (size_t)len != strlen(d)) {
		curl_free(d);
		return NULL;
	}
	r = fb_xstrdup(d);
	curl_free(d);
	return r;
}

/* Splits "Basic base64(id:secret)" into new *id and *secret; 0 when malformed. */
static int
basic_split(const char *h, char **id, char **secret)
{
	unsigned char *raw = NULL;
	size_t n = 0;
	const char *colon;
	EVP_ENCODE_CTX *ctx;
	int outl = 0, tl = 0, ok = 0;
	size_t hl;

	*id = *secret = NULL;
	if (strncasecmp(h, "Basic ", 6) != 0)
		return 0;
	h += 6;
	while (*h == ' ')
		h++;
	hl = strlen(h);
	if (hl == 0 || hl > 4096)
		return 0;
	raw = fb_xmalloc(hl);
	ctx = EVP_ENCODE_CTX_new();
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, raw, &outl, (const unsigned char *)h, (int)hl) >= 0 &&
	    EVP_DecodeFinal(ctx, raw + outl, &tl) == 1) {
		n = (size_t)(outl + tl);
		if (memchr(raw, '\0', n) == NULL && (colon = memchr(raw, ':', n)) != NULL) {
			*id = form_decode((const char *)raw, (size_t)(colon - (const char *)raw));
			*secret =
			    form_decode(colon + 1, n - (size_t)(colon + 1 - (const char *)raw));
			ok = *id != NULL && *secret != NULL;
		}
	}
	EVP_ENCODE_CTX_free(ctx);
	fb_secret_wipe(raw, hl);
	free(raw);
	if (!ok) {
		free(*id);
		fb_secret_free(*secret);
		*id = *secret = NULL;
	}
	return ok;
}

/* The JSON payload of a compact JWS, not verified (to learn which client signed it). New. */
static json_t *
payload_peek(const char *jwt)
{
	const char *a = strchr(jwt, '.'), *b = a != NULL ? strchr(a + 1, '.') : NULL;
	unsigned char *raw = NULL;
	size_t n = 0;
	char *part;
	json_t *o = NULL;

	if (b == NULL || strchr(b + 1, '.') != NULL || b - a - 1 <= 0)
		return NULL;
	part = fb_xstrndup(a + 1, (size_t)(b - a - 1));
	if (fb_b64url_decode(part, &raw, &n, NULL) == FB_OK)
		o = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
	free(part);
	free(raw);
	if (o != NULL && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

/* 1 when the aud claim (a string or an array) holds want. */
static int
aud_has(const json_t *aud, const char *want)
{
	size_t i;
	const json_t *v;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
			return 1;
	return 0;
}

enum fb_status
fb_oidc_op_assertion_check(const struct fb_oidc_op *op, const char *assertion,
    const char *client_id, int64_t now, const struct fb_conf_oidc_client **client, char **jti,
    int64_t *exp, struct fb_oidc_op_error *e)
{
	static const char *const algs[] = {"RS256", "ES256", "PS256", NULL};
	const struct op_client *c = NULL;
	json_t *peek = NULL, *claims = NULL;
	const char *sub, *iss, *id;
	char *token_ep = NULL;
	struct fb_err err = {0};
	enum fb_status r = FB_ERR_DENIED;

	*client = NULL;
	*jti = NULL;
	*exp = 0;
	if (assertion == NULL || strlen(assertion) > FB_OIDC_JWT_MAX ||
	    (peek = payload_peek(assertion)) == NULL ||
	    (sub = json_string_value(json_object_get(peek, "sub"))) == NULL) {
		op_error(e, "invalid_client", 401,
		    "client_assertion is not a JWT naming its client");
		goto out;
	}
	if ((client_id != NULL && strcmp(client_id, sub) != 0) ||
	    (c = client_find(op, sub)) == NULL || c->keys == NULL) {
		op_error(e, "invalid_client", 401, "client authentication failed");
		goto out;
	}
	if (fb_oidc_jwt_verify(assertion, c->keys, algs, NULL, &claims, NULL, &err) != FB_OK) {
		op_error(e, "invalid_client", 401, "client_assertion: %.200s", err.msg);
		goto out;
	}
	id = c->conf->id;
	iss = json_string_value(json_object_get(claims, "iss"));
	sub = json_string_value(json_object_get(claims, "sub"));
	token_ep = fb_xasprintf("%s%s", op->issuer, FB_OIDC_OP_PATH_TOKEN);
	if (iss == NULL || sub == NULL || strcmp(iss, id) != 0 || strcmp(sub, id) != 0) {
		op_error(e, "invalid_client", 401, "client_assertion: iss and sub must be %s", id);
		goto out;
	}
	if (!aud_has(json_object_get(claims, "aud"), token_ep) &&
	    !aud_has(json_object_get(claims, "aud"), op->issuer)) {
		op_error(e, "invalid_client", 401,
		    "client_assertion: aud is neither the token endpoint nor the issuer");
		goto out;
	}
	if (!json_is_integer(json_object_get(claims, "exp")) ||
	    json_integer_value(json_object_get(claims, "exp")) <= now ||
	    json_integer_value(json_object_get(claims, "exp")) >
	        now + FB_OIDC_ASSERTION_MAX_LIFETIME) {
		op_error(e, "invalid_client", 401,
		    "client_assertion: exp is missing, past, or more than %d s ahead",
		    FB_OIDC_ASSERTION_MAX_LIFETIME);
		goto out;
	}
	if (json_string_value(json_object_get(claims, "jti")) == NULL ||
	    strlen(json_string_value(json_object_get(claims, "jti"))) > 128) {
		op_error(e, "invalid_client", 401,
		    "client_assertion: no jti (of at most 128 bytes)");
		goto out;
	}
	*client = c->conf;
	*jti = fb_xstrdup(json_string_value(json_object_get(claims, "jti")));
	*exp = json_integer_value(json_object_get(claims, "exp"));
	r = FB_OK;
out:
	free(token_ep);
	json_decref(peek);
	json_decref(claims);
	return r;
}

/* private_key_jwt (RFC 7523 2.2): the assertion checked, its jti used once. */
static const struct op_client *
client_auth_jwt(const struct fb_oidc_op *op, struct fb_store *store, const struct fb_oidc_params *p,
    struct fb_oidc_op_error *e)
{
	const struct fb_conf_oidc_client *cl = NULL;
	struct fb_err err = {0};
	char *jti = NULL, *key;
	int64_t exp = 0;
	enum fb_status r;

	if (p->client_assertion_type == NULL ||
	    strcmp(p->client_assertion_type, FB_OIDC_ASSERTION_TYPE) != 0) {
		op_error(e, "invalid_client", 401, "client_assertion_type is not jwt-bearer");
		return NULL;
	}
	if (p->client_secret != NULL) {
		op_error(e, "invalid_request", 400, "the client is authenticated twice");
		return NULL;
	}
	if (fb_oidc_op_assertion_check(op, p->client_assertion, p->client_id, fb_time_now(), &cl,
	        &jti, &exp, e) != FB_OK)
		return NULL;
	/* SECURITY: an assertion is used once (RFC 7523 3, item 7). */
	key = fb_xasprintf("%s:%s", cl->id, jti);
	r = fb_store_kv_add(store, "oidc_assertion", key, "1", 1, exp + 1, &err);
	free(key);
	free(jti);
	if (r == FB_ERR_REPLAY) {
		op_error(e, "invalid_client", 401, "client_assertion: its jti was used before");
		return NULL;
	}
	if (r != FB_OK) {
		store_error(e, r, &err);
		return NULL;
	}
	return client_find(op, cl->id);
}

/*
 * RFC 8705 2: the client's certificate instead of a secret. tls_client_auth:
 * the chain verified against oidc.mtls.ca_file, then the registered subject
 * DN or SAN matched exactly; self_signed_tls_client_auth: the certificate's
 * SHA-256 thumbprint is the registered one. Refusals: invalid_client (401).
 */
static const struct op_client *
client_auth_tls(const struct fb_oidc_op *op, const struct op_client *c,
    const struct fb_crypto_cert *cert, struct fb_oidc_op_error *e)
{
	const struct fb_conf_oidc_client *cc = c->conf;
	const char *tp;
	struct fb_err err = {0};

	if (cert == NULL) {
		op_error(e, "invalid_client", 401, "client %s: no client certificate", cc->id);
		return NULL;
	}
	if (fb_conf_oidc_client_mtls(cc) == FB_CONF_MTLS_SELF_SIGNED) {
		int found = 0;

		tp = fb_crypto_cert_thumbprint(cert);
		for (size_t i = 0; i <= c->nthumbprints && !found; i++) {
			const char *want =
			    i < c->nthumbprints ? c->thumbprints[i] : cc->tls_thumbprint;

			found = want != NULL && strlen(tp) == strlen(want) &&
			        fb_memeq_ct(tp, want, strlen(tp)) == 0;
		}
		if (!found) {
			op_error(e, "invalid_client", 401,
			    "client %s: the certificate is not the registered one (x5t#S256 %s)",
			    cc->id, tp);
			return NULL;
		}
		return c;
	}
	if (op->mtls_ca == NULL ||
	    fb_crypto_cert_chain_verify(cert, op->mtls_ca, fb_time_now(), &err) != FB_OK) {
		op_error(e, "invalid_client", 401, "client %s: %.180s", cc->id,
		    op->mtls_ca == NULL ? "no CA to verify the certificate" : err.msg);
		return NULL;
	}
	if (cc->tls_subject_dn != NULL
	        ? strcmp(fb_crypto_cert_subject(cert), cc->tls_subject_dn) != 0
	        : !fb_crypto_cert_san_check(cert,
	              cc->tls_san_dns != NULL     ? FB_CRYPTO_SAN_DNS
	              : cc->tls_san_uri != NULL   ? FB_CRYPTO_SAN_URI
	              : cc->tls_san_email != NULL ? FB_CRYPTO_SAN_EMAIL
	                                          : FB_CRYPTO_SAN_IP,
	              cc->tls_san_dns != NULL     ? cc->tls_san_dns
	              : cc->tls_san_uri != NULL   ? cc->tls_san_uri
	              : cc->tls_san_email != NULL ? cc->tls_san_email
	                                          : cc->tls_san_ip)) {
		op_error(e, "invalid_client", 401,
		    "client %s: the certificate (subject %.120s) is not the registered one", cc->id,
		    fb_crypto_cert_subject(cert));
		return NULL;
	}
	return c;
}

/*
 * Authenticates the client of a token, introspection or revocation request.
 * SECURITY: the presented secret's hash is compared in constant time with
 * the client's, or with a random one for an unknown client, so the time
 * says nothing about which client ids exist. A public client authenticates
 * with its client_id alone (public_ok).
 */
static const struct op_client *
client_auth(const struct fb_oidc_op *op, struct fb_store *store, const char *authorization,
    const struct fb_oidc_params *p, const struct fb_crypto_cert *cert, int public_ok,
    struct fb_oidc_op_error *e)
{
	char *bid = NULL, *bsecret = NULL;
	const char *id, *secret;
	const struct op_client *c = NULL;
	unsigned char h[SHA256_LEN];
	int ok;

	if (p->client_assertion != NULL || p->client_assertion_type != NULL) {
		if (authorization != NULL) {
			op_error(e, "invalid_request", 400, "the client is authenticated twice");
			return NULL;
		}
		return client_auth_jwt(op, store, p, e);
	}
	/*
	 * RFC 8705 2: client_id in the form, no secret. A client bound to a
	 * certificate has no secret and no keys, so every other method fails
	 * for it below: it never falls back.
	 */
	if (authorization == NULL && p->client_secret == NULL && p->client_id != NULL &&
	    (c = client_find(op, p->client_id)) != NULL &&
	    fb_conf_oidc_client_mtls(c->conf) != FB_CONF_MTLS_NONE)
		return client_auth_tls(op, c, cert, e);
	c = NULL;
	if (authorization != NULL) {
		if (!basic_split(authorization, &bid, &bsecret)) {
			op_error(e, "invalid_client", 401, "malformed Basic credentials");
			return NULL;
		}
		if (p->client_secret != NULL ||
		    (p->client_id != NULL && strcmp(p->client_id, bid) != 0)) {
			op_error(e, "invalid_request", 400,
			    "the client is authenticated twice (Basic and the form)");
			goto out;
		}
		id = bid;
		secret = bsecret;
	} else {
		id = p->client_id;
		secret = p->client_secret;
	}
	if (id == NULL) {
		op_error(e, "invalid_client", 401, "no client authentication");
		goto out;
	}
	c = client_find(op, id);
	if (secret == NULL) {
		if (c != NULL && c->conf->type == FB_CONF_OIDC_PUBLIC && public_ok)
			goto out;
		op_error(e, "invalid_client", 401, "client authentication failed");
		c = NULL;
		goto out;
	}
	sha256(secret, strlen(secret), h);
	ok = fb_memeq_ct(h, c != NULL && c->has_secret ? c->secret_hash : op->dummy_hash,
	         SHA256_LEN) == 0;
	if (!ok || c == NULL || !c->has_secret) {
		op_error(e, "invalid_client", 401, "client authentication failed");
		c = NULL;
	}
out:
	free(bid);
	fb_secret_free(bsecret);
	return c;
}

/* ---- tokens --------------------------------------------------------------------------- */

/* What a sign-in grants, as stored with a code or refresh token. */
struct grant {
	const char *sub, *scope, *nonce, *sid, *redirect_uri, *challenge;
	int64_t auth_time;
	int mfa;
};

static void
grant_read(const json_t *d, struct grant *g)
{
	memset(g, 0, sizeof(*g));
	g->sub = json_string_value(json_object_get(d, "sub"));
	g->scope = json_string_value(json_object_get(d, "scope"));
	g->nonce = json_string_value(json_object_get(d, "nonce"));
	g->sid = json_string_value(json_object_get(d, "sid"));
	g->redirect_uri = json_string_value(json_object_get(d, "redirect_uri"));
	g->challenge = json_string_value(json_object_get(d, "code_challenge"));
	g->auth_time = json_integer_value(json_object_get(d, "auth_time"));
	g->mfa = json_is_true(json_object_get(d, "mfa"));
}

static int
scope_has(const char *scope, const char *want)
{
	size_t n = strlen(want);

	for (const char *p = scope; p != NULL && *p != '\0';) {
		const char *sp = strchr(p, ' ');
		size_t len = sp != NULL ? (size_t)(sp - p) : strlen(p);

		if (len == n && strncmp(p, want, n) == 0)
			return 1;
		p = sp != NULL ? sp + 1 : NULL;
	}
	return 0;
}

/*
 * The claims about u that scope allows (profile, email, groups) and the
 * client's mapped claims, added to claims.
 */
static void
user_claims(const struct fb_oidc_op *op, const struct op_client *c, struct fb_store *store,
    const struct fb_store_user *u, const char *scope, json_t *claims)
{
	char **ug = NULL;
	size_t nug = 0;
	json_t *user = NULL, *names = NULL, *attrs = NULL, *request = NULL;
	struct fb_map_subject *subject = NULL;
	struct fb_map_input in = {0};
	struct fb_err err = {0};

	if (scope_has(scope, "profile")) {
		json_object_set_new(claims, "preferred_username", json_string(u->username));
		if (u->name != NULL)
			json_object_set_new(claims, "name", json_string(u->name));
	}
	if (scope_has(scope, "email") && u->email != NULL) {
		json_object_set_new(claims, "email", json_string(u->email));
		json_object_set_new(claims, "email_verified", json_true());
	}
	upstream_groups(store, u, &ug, &nug);
	if (fb_ident_user_json_with(op->conf, u, (const char *const *)ug, nug, &user, &err) !=
	    FB_OK) {
		fb_log_err(FB_LOG_WARN, NULL, &err);
		goto out;
	}
	if (scope_has(scope, "groups")) {
		fb_ident_user_json_groups(user, &names, &attrs);
		json_object_set(claims, "groups", names);
	}
	if (c->conf->nclaims == 0)
		goto out;
	request = json_pack("{s:s, s:s, s:n}", "name", c->conf->id, "type", "oidc", "upstream");
	in.user = user;
	in.request = request;
	if (fb_map_subject_new(&in, &subject, &err) != FB_OK) {
		fb_log_err(FB_LOG_WARN, NULL, &err);
		goto out;
	}
	for (size_t i = 0; i < c->conf->nclaims; i++) {
		struct fb_map_diag diag = {0};
		json_t *res = NULL, *v;

		if (fb_map_rule_eval_subject(c->claim_rules[i], subject, NULL, &res, &diag, &err) !=
		    FB_OK) {
			fb_log(FB_LOG_WARN, "oidc client %s: claim %s: %s", c->conf->id,
			    c->conf->claims[i].name, err.msg);
			continue;
		}
		if ((v = fb_map_oidc_claim(res)) != NULL)
			json_object_set_new(claims, c->conf->claims[i].name, v);
		json_decref(res);
	}
out:
	fb_map_subject_free(subject);
	json_decref(request);
	json_decref(names);
	json_decref(attrs);
	json_decref(user);
	strv_free(ug, nug);
}

/* The left half of SHA-256(token), base64url (OIDC Core 3.1.3.6): at_hash. New. */
static char *
half_hash(const char *token)
{
	unsigned char h[SHA256_LEN];

	sha256(token, strlen(token), h);
	return fb_b64url_encode(h, SHA256_LEN / 2);
}

/* The claims of an access token (RFC 9068 2.2) for c. New. */
static json_t *
access_claims(const struct fb_oidc_op *op, const struct op_client *c, const char *sub,
    const char *scope, const char *jti, int64_t auth_time, const char *x5t, int64_t now)
{
	json_t *cl = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "iss", op->issuer, "sub",
	    sub, "aud", c->conf->id, "client_id", c->conf->id, "iat", (json_int_t)now, "nbf",
	    (json_int_t)now, "exp", (json_int_t)(now + c->conf->access_token_lifetime), "jti", jti);

	if (scope != NULL && scope[0] != '\0')
		json_object_set_new(cl, "scope", json_string(scope));
	if (auth_time > 0)
		json_object_set_new(cl, "auth_time", json_integer(auth_time));
	/* RFC 8705 3.1: bound to the client's certificate. */
	if (x5t != NULL)
		json_object_set_new(cl, "cnf", json_pack("{s:s}", FB_OIDC_C_X5T_S256, x5t));
	return cl;
}

/* The claims of an ID token for u and g (at_hash may be NULL). New. */
static json_t *
idtoken_claims(const struct fb_oidc_op *op, const struct op_client *c, struct fb_store *store,
    const struct fb_store_user *u, const struct grant *g, const char *at_hash, int64_t now)
{
	json_t *claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "iss", op->issuer, "sub",
	    g->sub, "aud", c->conf->id, "azp", c->conf->id, "iat", (json_int_t)now, "exp",
	    (json_int_t)(now + c->conf->id_token_lifetime), "auth_time", (json_int_t)g->auth_time);

	if (at_hash != NULL)
		json_object_set_new(claims, "at_hash", json_string(at_hash));
	if (g->nonce != NULL)
		json_object_set_new(claims, "nonce", json_string(g->nonce));
	if (g->sid != NULL)
		json_object_set_new(claims, "sid", json_string(g->sid));
	json_object_set_new(claims, "acr", json_string(g->mfa ? FB_OIDC_ACR_MFA : FB_OIDC_ACR_PWD));
	json_object_set_new(claims, "amr",
	    g->mfa ? json_pack("[s,s]", "pwd", "mfa") : json_pack("[s]", "pwd"));
	user_claims(op, c, store, u, g->scope, claims);
	return claims;
}

/*
 * An access token (RFC 9068) for c: sub, scope, and the family in the jti
 * ("<family>.<random>") so that revoking the family revokes it. New.
 */
static enum fb_status
access_token(const struct fb_oidc_op *op, const struct op_client *c, const char *sub,
    const char *scope, const char *family, int64_t auth_time, const char *x5t, int64_t now,
    char **out, struct fb_err *err)
{
	char *rnd = fb_rand_token(16);
	char *jti = family != NULL ? fb_xasprintf("%s.%s", family, rnd) : fb_xstrdup(rnd);
	json_t *cl = access_claims(op, c, sub, scope, jti, auth_time, x5t, now);
	enum fb_status r;

	r = fb_oidc_jwt_sign(c->key, "at+jwt", cl, out, err);
	json_decref(cl);
	free(jti);
	free(rnd);
	return r;
}

/* Adds access_token, token_type, expires_in, scope (and id_token, refresh_token) to body. */
static enum fb_status
tokens_issue(const struct fb_oidc_op *op, const struct op_client *c, struct fb_store *store,
    const struct grant *g, const char *family, const char *x5t, int64_t now, json_t *body,
    struct fb_oidc_op_error *e)
{
	struct fb_store_user u = {0};
	struct fb_err err = {0};
	char *at = NULL, *idt = NULL, *rt = NULL, *ath = NULL;
	json_t *claims = NULL, *data = NULL;
	enum fb_status r;

	if ((r = fb_store_user_get_by_id(store, g->sub, &u, &err)) != FB_OK || !u.active) {
		if (r == FB_ERR_IO) {
			store_error(e, r, &err);
			goto out;
		}
		op_error(e, "invalid_grant", 400, "the user is gone or disabled");
		r = FB_ERR_DENIED;
		goto out;
	}
	if ((r = access_token(op, c, g->sub, g->scope, family, g->auth_time, x5t, now, &at,
	         &err)) != FB_OK)
		goto sign_failed;
	if (scope_has(g->scope, "openid")) {
		ath = half_hash(at);
		claims = idtoken_claims(op, c, store, &u, g, ath, now);
		if ((r = fb_oidc_jwt_sign(c->key, "JWT", claims, &idt, &err)) != FB_OK)
			goto sign_failed;
		json_object_set_new(body, "id_token", json_string(idt));
	}
	if ((c->conf->grants & FB_CONF_OIDC_GRANT_REFRESH) != 0 &&
	    c->conf->refresh_token_lifetime > 0) {
		struct fb_store_oidc_grant sg = {0};

		rt = fb_rand_token(TOKEN_BYTES);
		data = json_pack("{s:s, s:s, s:I, s:b}", "sub", g->sub, "scope", g->scope,
		    "auth_time", (json_int_t)g->auth_time, "mfa", g->mfa);
		if (g->sid != NULL)
			json_object_set_new(data, "sid", json_string(g->sid));
		sg.hash = hash_b64(rt);
		sg.kind = FB_STORE_OIDC_REFRESH;
		sg.family = (char *)family;
		sg.client_id = (char *)c->conf->id;
		sg.data = json_dumps(data, JSON_COMPACT);
		sg.expires_at = now + c->conf->refresh_token_lifetime;
		r = fb_store_oidc_grant_add(store, &sg, &err);
		free(sg.hash);
		free(sg.data);
		if (r != FB_OK) {
			store_error(e, r, &err);
			goto out;
		}
		json_object_set_new(body, "refresh_token", json_string(rt));
	}
	json_object_set_new(body, "access_token", json_string(at));
	json_object_set_new(body, "token_type", json_string("Bearer"));
	json_object_set_new(body, "expires_in", json_integer(c->conf->access_token_lifetime));
	json_object_set_new(body, "scope", json_string(g->scope != NULL ? g->scope : ""));
	r = FB_OK;
	goto out;
sign_failed:
	fb_log_err(FB_LOG_ERROR, NULL, &err);
	op_error(e, "server_error", 500, "the token cannot be signed");
out:
	fb_store_user_cleanup(&u);
	free(at);
	free(idt);
	fb_secret_free(rt);
	free(ath);
	json_decref(claims);
	json_decref(data);
	return r;
}

/* 1 when verifier (RFC 7636 4.1) hashes to challenge (S256), in constant time. */
static int
pkce_ok(const char *verifier, const char *challenge)
{
	unsigned char h[SHA256_LEN];
	char *want;
	int ok;

	if (verifier == NULL || !pkce_syntax(verifier))
		return 0;
	sha256(verifier, strlen(verifier), h);
	want = fb_b64url_encode(h, sizeof(h));
	ok = strlen(want) == strlen(challenge) && fb_memeq_ct(want, challenge, strlen(want)) == 0;
	free(want);
	return ok;
}

/* Uses a code or refresh token: FB_OK with *g's data, else e filled (what happened logged). */
static enum fb_status
grant_take(struct fb_store *store, const struct op_client *c, const char *value,
    enum fb_store_oidc_kind kind, struct fb_store_oidc_grant *sg, struct fb_oidc_op_error *e,
    struct fb_oidc_op_reply *out)
{
	const char *what = kind == FB_STORE_OIDC_CODE ? "code" : "refresh token";
	char *h = hash_b64(value);
	struct fb_err err = {0};
	enum fb_status r = fb_store_oidc_grant_use(store, h, kind, sg, &err);

	free(h);
	switch (r) {
	case FB_OK:
		break;
	case FB_ERR_REPLAY:
		op_error(e, "invalid_grant", 400,
		    "the %s was used before: what it issued is revoked", what);
		snprintf(out->audit_event, sizeof(out->audit_event), "oidc_%s_replayed",
		    kind == FB_STORE_OIDC_CODE ? "code" : "refresh");
		return r;
	case FB_ERR_DENIED:
		op_error(e, "invalid_grant", 400, "the %s is revoked", what);
		return r;
	case FB_ERR_NOTFOUND:
		op_error(e, "invalid_grant", 400, "unknown or expired %s", what);
		return r;
	default:
		store_error(e, r, &err);
		return r;
	}
	/* SECURITY: another client holds it: it leaked; what it stands for is revoked. */
	if (strcmp(sg->client_id, c->conf->id) != 0) {
		if (fb_store_oidc_family_revoke(store, sg->family, &err) != FB_OK)
			fb_log_err(FB_LOG_ERROR, NULL, &err);
		op_error(e, "invalid_grant", 400, "the %s was issued to another client", what);
		snprintf(out->audit_event, sizeof(out->audit_event), "oidc_%s_other_client",
		    kind == FB_STORE_OIDC_CODE ? "code" : "refresh");
		return FB_ERR_DENIED;
	}
	return FB_OK;
}

static void
grant_code(const struct fb_oidc_op *op, struct fb_store *store, const struct op_client *c,
    const struct fb_oidc_params *p, const char *x5t, struct fb_oidc_op_reply *out)
{
	struct fb_store_oidc_grant sg = {0};
	struct fb_oidc_op_error e = {0};
	struct grant g;
	json_t *d = NULL, *body = json_object();
	struct fb_err err = {0};

	if (p->code == NULL) {
		op_error(&e, "invalid_request", 400, "no code");
		goto fail;
	}
	if (grant_take(store, c, p->code, FB_STORE_OIDC_CODE, &sg, &e, out) != FB_OK)
		goto fail;
	d = json_loads(sg.data, 0, NULL);
	grant_read(d, &g);
	if (g.sub == NULL || g.redirect_uri == NULL) {
		op_error(&e, "server_error", 500, "the stored code is unreadable");
		goto revoke;
	}
	/* RFC 6749 4.1.3: the same redirect_uri as in the authorization request. */
	if (p->redirect_uri == NULL || strcmp(p->redirect_uri, g.redirect_uri) != 0) {
		op_error(&e, "invalid_grant", 400,
		    "redirect_uri is not the authorization request's");
		goto revoke;
	}
	if (g.challenge != NULL && !pkce_ok(p->code_verifier, g.challenge)) {
		op_error(&e, "invalid_grant", 400, "%s code_verifier",
		    p->code_verifier == NULL ? "no" : "wrong");
		goto revoke;
	}
	if (g.challenge == NULL && p->code_verifier != NULL) {
		op_error(&e, "invalid_grant", 400, "code_verifier without a code_challenge");
		goto revoke;
	}
	if (tokens_issue(op, c, store, &g, sg.family, x5t, fb_time_now(), body, &e) != FB_OK)
		goto revoke;
	snprintf(out->audit_event, sizeof(out->audit_event), "oidc_token_issued");
	snprintf(out->audit, sizeof(out->audit), "client=%s grant=authorization_code sub=%s",
	    c->conf->id, g.sub);
	reply_json(out, 200, body);
	body = NULL;
	goto out;
revoke:
	/* SECURITY: a code spent on a failed exchange leaves nothing usable behind. */
	if (fb_store_oidc_family_revoke(store, sg.family, &err) != FB_OK)
		fb_log_err(FB_LOG_ERROR, NULL, &err);
fail:
	token_refused(out, &e);
out:
	json_decref(d);
	json_decref(body);
	fb_store_oidc_grant_cleanup(&sg);
}

static void
grant_refresh(const struct fb_oidc_op *op, struct fb_store *store, const struct op_client *c,
    const struct fb_oidc_params *p, const char *x5t, struct fb_oidc_op_reply *out)
{
	struct fb_store_oidc_grant sg = {0};
	struct fb_oidc_op_error e = {0};
	struct grant g;
	json_t *d = NULL, *body = json_object();
	char *scope = NULL;
	int openid;

	if (p->refresh_token == NULL) {
		op_error(&e, "invalid_request", 400, "no refresh_token");
		goto fail;
	}
	if (grant_take(store, c, p->refresh_token, FB_STORE_OIDC_REFRESH, &sg, &e, out) != FB_OK)
		goto fail;
	d = json_loads(sg.data, 0, NULL);
	grant_read(d, &g);
	if (g.sub == NULL) {
		op_error(&e, "server_error", 500, "the stored refresh token is unreadable");
		goto fail;
	}
	/* RFC 6749 6: a narrower scope may be asked for, never a wider one. */
	if (p->scope != NULL) {
		scope = scope_grant(c->conf, p->scope, &openid);
		for (char *t = scope, *sp; t != NULL && *t != '\0';
		     t = sp != NULL ? sp + 1 : NULL) {
			char save;

			sp = strchr(t, ' ');
			save = sp != NULL ? *sp : '\0';
			if (sp != NULL)
				*sp = '\0';
			if (!scope_has(g.scope, t)) {
				op_error(&e, "invalid_scope", 400, "scope %s was not granted", t);
				goto fail;
			}
			if (sp != NULL)
				*sp = save;
		}
		g.scope = scope;
	}
	g.nonce = NULL; /* OIDC Core 12.2: no nonce in a refreshed ID token */
	if (tokens_issue(op, c, store, &g, sg.family, x5t, fb_time_now(), body, &e) != FB_OK)
		goto fail;
	snprintf(out->audit_event, sizeof(out->audit_event), "oidc_token_issued");
	snprintf(out->audit, sizeof(out->audit), "client=%s grant=refresh_token sub=%s",
	    c->conf->id, g.sub);
	reply_json(out, 200, body);
	body = NULL;
	goto out;
fail:
	token_refused(out, &e);
out:
	free(scope);
	json_decref(d);
	json_decref(body);
	fb_store_oidc_grant_cleanup(&sg);
}

/*
 * The client_credentials grant's response for c (RFC 6749 4.4.3), asked
 * scope (may be NULL: every scope of the client). *body new on FB_OK;
 * else e filled.
 */
static enum fb_status
client_credentials(const struct fb_oidc_op *op, const struct op_client *c, const char *asked,
    const char *x5t, json_t **body, struct fb_oidc_op_error *e)
{
	struct fb_err err = {0};
	char *at = NULL, *scope;
	int openid = 0;
	enum fb_status r = FB_ERR_PROTOCOL;

	*body = NULL;
	scope = scope_grant(c->conf, asked, &openid);
	/* RFC 6749 5.2: a scope the client may not have is an error here, not dropped. */
	if (asked != NULL && asked[0] != '\0' && strcmp(scope, asked) != 0) {
		op_error(e, "invalid_scope", 400, "a scope asked for is not the client's");
	} else if (scope_has(asked, "openid")) {
		op_error(e, "invalid_scope", 400, "openid: client_credentials signs no one in");
	} else if ((c->conf->grants & FB_CONF_OIDC_GRANT_CLIENT) == 0) {
		op_error(e, "unauthorized_client", 400, "client_credentials is not allowed for %s",
		    c->conf->id);
	} else if ((r = access_token(op, c, c->conf->id, scope, NULL, 0, x5t, fb_time_now(), &at,
	                &err)) != FB_OK) {
		fb_log_err(FB_LOG_ERROR, NULL, &err);
		op_error(e, "server_error", 500, "the token cannot be signed");
	} else {
		*body =
		    json_pack("{s:s, s:s, s:I, s:s}", "access_token", at, "token_type", "Bearer",
		        "expires_in", (json_int_t)c->conf->access_token_lifetime, "scope", scope);
	}
	fb_secret_free(at);
	free(scope);
	return r;
}

static void
grant_client(const struct fb_oidc_op *op, const struct op_client *c, const struct fb_oidc_params *p,
    const char *x5t, struct fb_oidc_op_reply *out)
{
	struct fb_oidc_op_error e = {0};
	json_t *body;

	if (client_credentials(op, c, p->scope, x5t, &body, &e) != FB_OK) {
		reply_error(out, &e, "oidc_token_refused");
		return;
	}
	reply_json(out, 200, body);
	snprintf(out->audit_event, sizeof(out->audit_event), "oidc_token_issued");
	snprintf(out->audit, sizeof(out->audit), "client=%s grant=client_credentials%s%s",
	    c->conf->id, x5t != NULL ? " x5t#S256=" : "", x5t != NULL ? x5t : "");
}

enum fb_status
fb_oidc_op_client_token(const struct fb_oidc_op *op, const char *client_id, const char *scope,
    json_t **out, struct fb_err *err)
{
	const struct op_client *c = client_find(op, client_id);
	struct fb_oidc_op_error e = {0};

	*out = NULL;
	if (c == NULL)
		return fb_err_set(err, FB_ERR_NOTFOUND, "no OpenID client %s", client_id);
	/* SECURITY: an unbound token of a certificate client would be a bearer token. */
	if (fb_conf_oidc_client_mtls(c->conf) != FB_CONF_MTLS_NONE)
		return fb_err_set(err, FB_ERR_DENIED,
		    "client %s authenticates with a certificate and its tokens are bound to it "
		    "(RFC 8705): ask the token endpoint with that certificate",
		    client_id);
	if (client_credentials(op, c, scope, NULL, out, &e) != FB_OK)
		return fb_err_set(err, e.status == 500 ? FB_ERR_INTERNAL : FB_ERR_DENIED, "%s: %s",
		    e.code, e.desc);
	return FB_OK;
}

void
fb_oidc_op_token(const struct fb_oidc_op *op, struct fb_store *store, const char *authorization,
    const struct fb_oidc_params *p, const struct fb_crypto_cert *cert, struct fb_oidc_op_reply *out)
{
	struct fb_oidc_op_error e = {0};
	const struct op_client *c;
	const char *x5t = NULL;
	unsigned need = 0;

	memset(out, 0, sizeof(*out));
	if ((c = client_auth(op, store, authorization, p, cert, 1, &e)) == NULL) {
		reply_error(out, &e, "oidc_client_auth_failed");
		return;
	}
	/* RFC 8705 3: a client that authenticated with its certificate gets tokens bound to it. */
	if (cert != NULL && fb_conf_oidc_client_mtls(c->conf) != FB_CONF_MTLS_NONE)
		x5t = fb_crypto_cert_thumbprint(cert);
	if (p->grant_type == NULL) {
		op_error(&e, "invalid_request", 400, "no grant_type");
		reply_error(out, &e, "oidc_token_refused");
		return;
	}
	if (strcmp(p->grant_type, "authorization_code") == 0)
		need = FB_CONF_OIDC_GRANT_CODE;
	else if (strcmp(p->grant_type, "refresh_token") == 0)
		need = FB_CONF_OIDC_GRANT_REFRESH;
	else if (strcmp(p->grant_type, "client_credentials") == 0)
		need = FB_CONF_OIDC_GRANT_CLIENT;
	if (need == 0) {
		op_error(&e, "unsupported_grant_type", 400, "grant_type is not supported");
		reply_error(out, &e, "oidc_token_refused");
		return;
	}
	if ((c->conf->grants & need) == 0) {
		op_error(&e, "unauthorized_client", 400, "client %s may not use %s", c->conf->id,
		    p->grant_type);
		reply_error(out, &e, "oidc_token_refused");
		return;
	}
	if (need == FB_CONF_OIDC_GRANT_CODE)
		grant_code(op, store, c, p, x5t, out);
	else if (need == FB_CONF_OIDC_GRANT_REFRESH)
		grant_refresh(op, store, c, p, x5t, out);
	else
		grant_client(op, c, p, x5t, out);
}

/* ---- using access tokens ------------------------------------------------------------------ */

enum fb_status
fb_oidc_op_access_verify(const struct fb_oidc_op *op, const char *token, int64_t now, int64_t skew,
    json_t **claims, struct fb_err *err)
{
	static const char *const algs[] = {"ES256", "RS256", NULL};
	const char *iss, *jti;
	json_t *c = NULL, *nbf;
	enum fb_status r;

	*claims = NULL;
	if ((r = fb_oidc_jwt_verify(token, op->jwks, algs, "at+jwt", &c, NULL, err)) != FB_OK)
		return r;
	iss = json_string_value(json_object_get(c, "iss"));
	jti = json_string_value(json_object_get(c, "jti"));
	nbf = json_object_get(c, "nbf");
	if (iss == NULL || strcmp(iss, op->issuer) != 0 || jti == NULL ||
	    !json_is_integer(json_object_get(c, "exp")) || (nbf != NULL && !json_is_integer(nbf))) {
		r = fb_err_set(err, FB_ERR_PROTOCOL, "access token: not ours");
		goto out;
	}
	if (json_integer_value(json_object_get(c, "exp")) + skew <= now) {
		r = fb_err_set(err, FB_ERR_EXPIRED, "access token: expired");
		goto out;
	}
	if (nbf != NULL && json_integer_value(nbf) > now + skew) {
		r = fb_err_set(err, FB_ERR_EXPIRED, "access token: not valid yet (nbf)");
		goto out;
	}
	*claims = c;
	c = NULL;
out:
	json_decref(c);
	return r;
}

enum fb_status
fb_oidc_op_access_revoked(struct fb_store *store, const json_t *claims, int *revoked,
    struct fb_err *err)
{
	const char *jti = json_string_value(json_object_get(claims, "jti"));
	char *family = NULL;
	enum fb_status r;

	*revoked = 0;
	if (jti == NULL)
		return fb_err_set(err, FB_ERR_INVALID, "access token: no jti");
	if (strchr(jti, '.') != NULL)
		family = fb_xstrndup(jti, (size_t)(strchr(jti, '.') - jti));
	r = fb_store_oidc_token_revoked(store, jti, family, revoked, err);
	free(family);
	return r;
}

/*
 * Checks one of our access tokens: signature, typ at+jwt, iss, exp, nbf,
 * not revoked (its jti or its family). FB_OK with *claims new.
 */
static enum fb_status
access_check(const struct fb_oidc_op *op, struct fb_store *store, const char *token,
    json_t **claims, struct fb_err *err)
{
	int64_t now = fb_time_now();
	json_t *c = NULL;
	int revoked = 0;
	enum fb_status r;

	/* nbf within oidc.clock_skew (another replica's clock); exp exactly, as it always was. */
	if ((r = fb_oidc_op_access_verify(op, token, now, op->conf->oidc_clock_skew, &c, err)) !=
	    FB_OK)
		return r;
	if (json_integer_value(json_object_get(c, "exp")) <= now)
		r = fb_err_set(err, FB_ERR_EXPIRED, "access token: expired");
	else if ((r = fb_oidc_op_access_revoked(store, c, &revoked, err)) == FB_OK && revoked)
		r = fb_err_set(err, FB_ERR_DENIED, "access token: revoked");
	if (r != FB_OK) {
		json_decref(c);
		return r;
	}
	*claims = c;
	return FB_OK;
}

enum fb_status
fb_oidc_op_app_token(const struct fb_oidc_op *op, const char *aud, const char *sub,
    int64_t lifetime, int64_t now, char **out, struct fb_err *err)
{
	char *jti = fb_rand_token(16);
	json_t *cl;
	enum fb_status r;

	*out = NULL;
	if (op->app_key == NULL) {
		free(jti);
		return fb_err_set(err, FB_ERR_CONFIG,
		    "no EC P-256 or RSA key in keys: signs access tokens for apps");
	}
	cl = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "iss", op->issuer, "sub", sub,
	    "aud", aud, "client_id", aud, "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
	    (json_int_t)(now + lifetime), "jti", jti);
	r = cl != NULL ? fb_oidc_jwt_sign(op->app_key, "at+jwt", cl, out, err)
	               : fb_err_set(err, FB_ERR_INVALID, "access token: a claim is not UTF-8");
	json_decref(cl);
	free(jti);
	return r;
}

enum fb_status
fb_oidc_op_access_bound(const json_t *claims, const char *x5t, struct fb_err *err)
{
	const json_t *cnf = json_object_get(claims, "cnf");
	const char *bound = json_string_value(json_object_get(cnf, FB_OIDC_C_X5T_S256));

	if (cnf == NULL)
		return FB_OK;
	if (bound == NULL)
		return fb_err_set(err, FB_ERR_DENIED, "access token: a cnf we cannot check");
	/* SECURITY: RFC 8705 3: a bound token is good only with its certificate. */
	if (x5t == NULL || strlen(x5t) != strlen(bound) ||
	    fb_memeq_ct(x5t, bound, strlen(bound)) != 0)
		return fb_err_set(err, FB_ERR_DENIED, "access token: bound to a certificate (cnf) %s",
		    x5t == NULL ? "and none was presented" : "other than the one presented");
	return FB_OK;
}

enum fb_status
fb_oidc_op_token_verify(const struct fb_oidc_op *op, struct fb_store *store, const char *token,
    const char *x5t, json_t **claims, struct fb_err *err)
{
	json_t *c = NULL;
	enum fb_status r;

	*claims = NULL;
	if ((r = access_check(op, store, token, &c, err)) != FB_OK)
		return r;
	if ((r = fb_oidc_op_access_bound(c, x5t, err)) != FB_OK) {
		json_decref(c);
		return r;
	}
	*claims = c;
	return FB_OK;
}

const char *
fb_oidc_bearer(const char *authorization)
{
	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return NULL;
	authorization += 7;
	while (*authorization == ' ')
		authorization++;
	return *authorization != '\0' ? authorization : NULL;
}

void
fb_oidc_op_userinfo(const struct fb_oidc_op *op, struct fb_store *store, const char *authorization,
    const struct fb_crypto_cert *cert, struct fb_oidc_op_reply *out)
{
	const char *tok = fb_oidc_bearer(authorization);
	struct fb_store_user u = {0};
	struct fb_err err = {0};
	json_t *c = NULL, *body = NULL;
	const struct op_client *cl;
	const char *sub, *scope;
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	if (tok == NULL ||
	    (r = fb_oidc_op_token_verify(op, store, tok,
	         cert != NULL ? fb_crypto_cert_thumbprint(cert) : NULL, &c, &err)) != FB_OK ||
	    (cl = client_find(op, json_string_value(json_object_get(c, "client_id")))) == NULL ||
	    (sub = json_string_value(json_object_get(c, "sub"))) == NULL ||
	    !scope_has(json_string_value(json_object_get(c, "scope")), "openid")) {
		out->status = 401;
		out->body = fb_xstrdup("{\"error\":\"invalid_token\"}");
		out->www_authenticate = "Bearer error=\"invalid_token\"";
		snprintf(out->audit_event, sizeof(out->audit_event), "oidc_userinfo_refused");
		snprintf(out->audit, sizeof(out->audit), "%.300s",
		    tok == NULL          ? "no Bearer token"
		    : err.msg[0] != '\0' ? err.msg
		                         : "not for userinfo");
		goto out;
	}
	scope = json_string_value(json_object_get(c, "scope"));
	if ((r = fb_store_user_get_by_id(store, sub, &u, &err)) != FB_OK || !u.active) {
		out->status = 401;
		out->body = fb_xstrdup("{\"error\":\"invalid_token\"}");
		out->www_authenticate = "Bearer error=\"invalid_token\"";
		goto out;
	}
	body = json_pack("{s:s}", "sub", sub);
	user_claims(op, cl, store, &u, scope, body);
	reply_json(out, 200, body);
out:
	fb_store_user_cleanup(&u);
	json_decref(c);
}

void
fb_oidc_op_introspect(const struct fb_oidc_op *op, struct fb_store *store,
    const char *authorization, const struct fb_oidc_params *p, const struct fb_crypto_cert *cert,
    struct fb_oidc_op_reply *out)
{
	struct fb_oidc_op_error e = {0};
	struct fb_err err = {0};
	const struct op_client *c;
	json_t *claims = NULL, *body;
	const char *cid;
	static const char *const keep[] = {"scope", "client_id", "sub", "exp", "iat", "nbf", "iss",
	    "aud", "jti", "auth_time", "cnf", NULL};

	memset(out, 0, sizeof(*out));
	if ((c = client_auth(op, store, authorization, p, cert, 0, &e)) == NULL) {
		reply_error(out, &e, "oidc_client_auth_failed");
		return;
	}
	if (p->token == NULL) {
		op_error(&e, "invalid_request", 400, "no token");
		reply_error(out, &e, "oidc_introspect_refused");
		return;
	}
	if (access_check(op, store, p->token, &claims, &err) != FB_OK) {
		reply_json(out, 200, json_pack("{s:b}", "active", 0));
		return;
	}
	/*
	 * SECURITY: a client learns only of its own tokens (issued to it, or
	 * naming it in aud), unless it is a resource server (introspect: any);
	 * RFC 7662 2.2 lets the answer be "active": false.
	 */
	cid = json_string_value(json_object_get(claims, "client_id"));
	if (!c->conf->introspect_any && !str_eq(cid, c->conf->id) &&
	    !aud_has(json_object_get(claims, "aud"), c->conf->id)) {
		reply_json(out, 200, json_pack("{s:b}", "active", 0));
		snprintf(out->audit_event, sizeof(out->audit_event), "oidc_introspect_refused");
		snprintf(out->audit, sizeof(out->audit),
		    "client=%.128s may not introspect a token of client %.128s", c->conf->id,
		    cid != NULL ? cid : "?");
		json_decref(claims);
		return;
	}
	body = json_pack("{s:b, s:s}", "active", 1, "token_type", "Bearer");
	for (size_t i = 0; keep[i] != NULL; i++)
		if (json_object_get(claims, keep[i]) != NULL)
			json_object_set(body, keep[i], json_object_get(claims, keep[i]));
	json_decref(claims);
	reply_json(out, 200, body);
}

void
fb_oidc_op_revoke(const struct fb_oidc_op *op, struct fb_store *store, const char *authorization,
    const struct fb_oidc_params *p, const struct fb_crypto_cert *cert, struct fb_oidc_op_reply *out)
{
	struct fb_oidc_op_error e = {0};
	struct fb_err err = {0};
	const struct op_client *c;
	json_t *claims = NULL;
	enum fb_status r = FB_OK;

	memset(out, 0, sizeof(*out));
	if ((c = client_auth(op, store, authorization, p, cert, 1, &e)) == NULL) {
		reply_error(out, &e, "oidc_client_auth_failed");
		return;
	}
	if (p->token == NULL) {
		op_error(&e, "invalid_request", 400, "no token");
		reply_error(out, &e, "oidc_revoke_refused");
		return;
	}
	if (access_check(op, store, p->token, &claims, &err) == FB_OK) {
		const char *cid = json_string_value(json_object_get(claims, "client_id"));

		/* RFC 7009 2.1: only the client the token was issued to revokes it. */
		if (cid != NULL && strcmp(cid, c->conf->id) == 0)
			r = fb_store_oidc_jti_revoke(store,
			    json_string_value(json_object_get(claims, "jti")),
			    json_integer_value(json_object_get(claims, "exp")), &err);
		json_decref(claims);
	} else {
		struct fb_store_oidc_grant sg = {0};
		char *h = hash_b64(p->token);
		enum fb_status u =
		    fb_store_oidc_grant_use(store, h, FB_STORE_OIDC_REFRESH, &sg, &err);

		free(h);
		/* A refresh token revoked takes its family (the access tokens from it) along. */
		if ((u == FB_OK || u == FB_ERR_REPLAY || u == FB_ERR_DENIED) &&
		    strcmp(sg.client_id, c->conf->id) == 0)
			r = fb_store_oidc_family_revoke(store, sg.family, &err);
		else if (u == FB_ERR_IO)
			r = u;
		fb_store_oidc_grant_cleanup(&sg);
	}
	if (r != FB_OK) {
		store_error(&e, r, &err);
		reply_error(out, &e, "oidc_revoke_failed");
		return;
	}
	/* RFC 7009 2.2: 200 whether or not the token was valid. */
	out->status = 200;
	out->body = fb_xstrdup("{}");
	snprintf(out->audit_event, sizeof(out->audit_event), "oidc_token_revoked");
	snprintf(out->audit, sizeof(out->audit), "client=%s", c->conf->id);
}

/* ---- RP-initiated logout ------------------------------------------------------------------- */

enum fb_status
fb_oidc_op_logout_check(const struct fb_oidc_op *op, const struct fb_oidc_params *p,
    const struct fb_conf_oidc_client **client, struct fb_oidc_op_error *e)
{
	static const char *const algs[] = {"ES256", "RS256", NULL};
	const struct op_client *c = NULL;
	const char *aud = NULL, *iss;
	struct fb_err err = {0};
	json_t *claims = NULL;
	enum fb_status r = FB_OK;

	*client = NULL;
	if (p->id_token_hint != NULL) {
		/* SECURITY: a hint signed by anyone else names no client and ends nothing. */
		if ((r = fb_oidc_jwt_verify(p->id_token_hint, op->jwks, algs, NULL, &claims, NULL,
		         &err)) != FB_OK) {
			op_error(e, "invalid_request", 400, "id_token_hint: %.200s", err.msg);
			return r == FB_ERR_INVALID ? FB_ERR_PROTOCOL : r;
		}
		iss = json_string_value(json_object_get(claims, "iss"));
		aud = json_string_value(json_object_get(claims, "aud"));
		if (iss == NULL || strcmp(iss, op->issuer) != 0 || aud == NULL) {
			op_error(e, "invalid_request", 400,
			    "id_token_hint is not an ID token of ours");
			r = FB_ERR_PROTOCOL;
			goto out;
		}
		if (p->client_id != NULL && strcmp(p->client_id, aud) != 0) {
			op_error(e, "invalid_request", 400,
			    "client_id is not the audience of id_token_hint");
			r = FB_ERR_PROTOCOL;
			goto out;
		}
	}
	if (aud != NULL || p->client_id != NULL) {
		if ((c = client_find(op, aud != NULL ? aud : p->client_id)) == NULL) {
			op_error(e, "invalid_request", 400, "unknown client_id");
			r = FB_ERR_NOTFOUND;
			goto out;
		}
		*client = c->conf;
	}
	if (p->post_logout_redirect_uri != NULL) {
		int ok = 0;

		for (size_t i = 0; c != NULL && i < c->conf->npost_logout_redirect_uris && !ok; i++)
			ok = strcmp(c->conf->post_logout_redirect_uris[i],
			         p->post_logout_redirect_uri) == 0;
		if (!ok) {
			op_error(e, "invalid_request", 400,
			    "post_logout_redirect_uri is not registered for %s",
			    c != NULL ? c->conf->id : "(no client named)");
			r = FB_ERR_NOTFOUND;
			goto out;
		}
	}
out:
	json_decref(claims);
	return r;
}

/* ---- explain ---------------------------------------------------------------------------- */

enum fb_status
fb_oidc_op_explain(const struct fb_oidc_op *op, struct fb_store *store, const char *client_id,
    const struct fb_store_user *u, json_t **out, struct fb_err *err)
{
	const struct op_client *c = client_find(op, client_id);
	struct fb_oidc_authz_req a = {0};
	struct fb_oidc_op_error e = {0};
	struct grant g = {0};
	struct fb_buf scope;
	int64_t now = fb_time_now();
	int allowed;

	*out = NULL;
	if (c == NULL)
		return fb_err_set(err, FB_ERR_NOTFOUND,
		    "--client %s: no such client in oidc.clients or the store", client_id);
	/* Every scope the client may have, as a sign-in asking for all of them would get. */
	fb_buf_init(&scope, 64 * 1024);
	for (size_t i = 0; i < c->conf->nscopes; i++)
		(void)fb_buf_addf(&scope, NULL, "%s%s", i > 0 ? " " : "", c->conf->scopes[i]);
	a.client = c->conf;
	allowed = fb_oidc_op_user_allowed(op, store, &a, u, &e) == FB_OK;
	g.sub = u->id;
	g.scope = scope.data != NULL ? scope.data : "";
	g.auth_time = now;
	*out = json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:s}", "client", c->conf->id, "user",
	    u->username, "ok", allowed && u->active, "why",
	    !u->active ? "the account is disabled"
	    : allowed  ? "allowed"
	               : e.desc,
	    "scope", g.scope, "signing_alg", c->alg, "signing_key",
	    fb_oidc_op_client_key(op, client_id));
	if ((c->conf->grants & FB_CONF_OIDC_GRANT_CODE) != 0)
		json_object_set_new(*out, "id_token",
		    idtoken_claims(op, c, store, u, &g, NULL, now));
	json_object_set_new(*out, "access_token",
	    access_claims(op, c, u->id, g.scope, "(random)", now, NULL, now));
	fb_buf_cleanup(&scope);
	return FB_OK;
}
