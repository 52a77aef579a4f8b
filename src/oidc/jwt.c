/* SPDX-License-Identifier: Apache-2.0 */
/*
 * oidc/jwt.c: ID token validation (OIDC Core 3.1.3.7, 3.2.2.9) with
 * libcjose for the JWS and JWK work, and the JWKS cache's refetch rule.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "oidc/oidc.h"

struct fb_oidc_jwks {
	cjose_jwk_t **keys;
	char **kids; /* kid of each key, or NULL */
	size_t n;
};

/* The signature algorithms this module knows: asymmetric only. */
static const struct alg {
	const char *name;
	cjose_jwk_kty_t kty;
	const char *crv; /* EC curve, or NULL */
	const char *md;  /* at_hash digest */
} algs[] = {
    {"RS256", CJOSE_JWK_KTY_RSA, NULL, "SHA256"},
    {"RS384", CJOSE_JWK_KTY_RSA, NULL, "SHA384"},
    {"RS512", CJOSE_JWK_KTY_RSA, NULL, "SHA512"},
    {"PS256", CJOSE_JWK_KTY_RSA, NULL, "SHA256"},
    {"PS384", CJOSE_JWK_KTY_RSA, NULL, "SHA384"},
    {"PS512", CJOSE_JWK_KTY_RSA, NULL, "SHA512"},
    {"ES256", CJOSE_JWK_KTY_EC, "P-256", "SHA256"},
    {"ES384", CJOSE_JWK_KTY_EC, "P-384", "SHA384"},
    {"ES512", CJOSE_JWK_KTY_EC, "P-521", "SHA512"},
};

static const struct alg *
alg_find(const char *name)
{
	for (size_t i = 0; name != NULL && i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(algs[i].name, name) == 0)
			return &algs[i];
	return NULL;
}

static const char *
cjose_msg(const cjose_err *ce)
{
	return ce->message != NULL ? ce->message : "unknown cjose error";
}

/* The big-endian bytes of pk's parameter name, left-padded to pad bytes (new); NULL when none. */
static uint8_t *
bn_param(EVP_PKEY *pk, const char *name, size_t pad, size_t *len)
{
	BIGNUM *bn = NULL;
	uint8_t *b = NULL;
	int n;

	if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1)
		return NULL;
	n = pad > 0 ? (int)pad : BN_num_bytes(bn);
	b = fb_xmalloc((size_t)n + 1);
	if (BN_bn2binpad(bn, b, n) != n) {
		free(b);
		b = NULL;
	}
	*len = (size_t)n;
	BN_free(bn);
	return b;
}

/* The public JWK of k (cjose), with its kid; NULL + err when the key is not RSA or P-256/384/521. */
static cjose_jwk_t *
public_jwk(const struct fb_key *k, struct fb_err *err)
{
	EVP_PKEY *pk = fb_crypto_key_pkey(k);
	struct fb_key_info info;
	cjose_jwk_t *jwk = NULL;
	cjose_err ce = {0};
	char group[64] = "";
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;

	fb_crypto_key_info(k, &info);
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA) {
		cjose_jwk_rsa_keyspec s = {0};

		s.n = a = bn_param(pk, OSSL_PKEY_PARAM_RSA_N, 0, &alen);
		s.nlen = alen;
		s.e = b = bn_param(pk, OSSL_PKEY_PARAM_RSA_E, 0, &blen);
		s.elen = blen;
		if (a != NULL && b != NULL)
			jwk = cjose_jwk_create_RSA_spec(&s, &ce);
	} else if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC &&
	           EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group,
	               sizeof(group), NULL) == 1) {
		cjose_jwk_ec_keyspec s = {0};
		size_t field = ((size_t)EVP_PKEY_get_bits(pk) + 7) / 8;
		int nid = OBJ_sn2nid(group);

		s.crv = nid == NID_X9_62_prime256v1 ? CJOSE_JWK_EC_P_256
		        : nid == NID_secp384r1      ? CJOSE_JWK_EC_P_384
		        : nid == NID_secp521r1      ? CJOSE_JWK_EC_P_521
		                                    : CJOSE_JWK_EC_INVALID;
		s.x = a = bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, field, &alen);
		s.xlen = alen;
		s.y = b = bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, field, &blen);
		s.ylen = blen;
		if (a != NULL && b != NULL && s.crv != CJOSE_JWK_EC_INVALID)
			jwk = cjose_jwk_create_EC_spec(&s, &ce);
	}
	if (jwk != NULL && !cjose_jwk_set_kid(jwk, info.id, strlen(info.id), &ce)) {
		cjose_jwk_release(jwk);
		jwk = NULL;
	}
	if (jwk == NULL)
		fb_err_set(err, FB_ERR_CONFIG, "key %s: no public JWK (%s)", info.id,
		    ce.message != NULL ? ce.message : "not RSA or a NIST curve");
	free(a);
	free(b);
	return jwk;
}

enum fb_status
fb_oidc_jwks_publish(const struct fb_keyring *kr, char **out, struct fb_err *err)
{
	json_t *keys = json_array(), *doc;
	enum fb_status r = FB_OK;

	*out = NULL;
	for (size_t i = 0; kr != NULL && i < fb_crypto_keyring_count(kr) && r == FB_OK; i++) {
		const struct fb_key *k = fb_crypto_keyring_get(kr, i);
		cjose_jwk_t *jwk = public_jwk(k, err);
		cjose_err ce = {0};
		char *text = jwk != NULL ? cjose_jwk_to_json(jwk, false, &ce) : NULL;
		json_t *o = text != NULL ? json_loads(text, 0, NULL) : NULL;
		struct fb_key_info info;

		fb_crypto_key_info(k, &info);
		if (o == NULL) {
			r = jwk != NULL ? fb_err_set(err, FB_ERR_INTERNAL, "key %s: %s", info.id,
			                      cjose_msg(&ce))
			                : FB_ERR_CONFIG;
		} else {
			/* What the client assertion names (oidc/rp.c): RS256, or ES256. */
			json_object_set_new(o, "use", json_string("sig"));
			json_object_set_new(o, "alg",
			    json_string(strcmp(info.alg, "EC") == 0 ? "ES256" : "RS256"));
			json_array_append_new(keys, o);
		}
		free(text);
		cjose_jwk_release(jwk);
	}
	doc = json_pack("{s:o}", "keys", keys);
	if (r == FB_OK)
		*out = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return r;
}

/* ---- signing ---------------------------------------------------------------------------- */

/* The JWS signature of input with pkey: RS256, or ES256 in JOSE's r||s form. New base64url. */
static enum fb_status
jws_sign(EVP_PKEY *pkey, int ec, const char *input, char **out, struct fb_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL, raw[64];
	const unsigned char *q;
	ECDSA_SIG *es = NULL;
	size_t siglen = 0;
	enum fb_status r = FB_ERR_INTERNAL;

	*out = NULL;
	if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
		r = fb_err_openssl(err, FB_ERR_INTERNAL, "JWT: signing");
		goto out;
	}
	sig = fb_xmalloc(siglen);
	if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
		r = fb_err_openssl(err, FB_ERR_INTERNAL, "JWT: signing");
		goto out;
	}
	if (ec) {
		q = sig;
		if ((es = d2i_ECDSA_SIG(NULL, &q, (long)siglen)) == NULL ||
		    BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32) != 32 ||
		    BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32) != 32) {
			r = fb_err_set(err, FB_ERR_INTERNAL, "JWT: not a P-256 signature");
			goto out;
		}
		*out = fb_b64url_encode(raw, sizeof(raw));
	} else {
		*out = fb_b64url_encode(sig, siglen);
	}
	r = FB_OK;
out:
	ECDSA_SIG_free(es);
	free(sig);
	EVP_MD_CTX_free(ctx);
	return r;
}

const char *
fb_oidc_key_alg(const struct fb_key *key)
{
	EVP_PKEY *pk = fb_crypto_key_pkey(key);
	char group[64] = "";

	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA)
		return "RS256";
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC &&
	    EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
		NULL) == 1 &&
	    OBJ_sn2nid(group) == NID_X9_62_prime256v1)
		return "ES256";
	return NULL;
}

enum fb_status
fb_oidc_jwt_sign(const struct fb_key *key, const char *typ, const json_t *claims, char **out,
    struct fb_err *err)
{
	struct fb_key_info info;
	const char *alg = fb_oidc_key_alg(key);
	json_t *hdr;
	char *h, *c, *hb, *cb, *input, *sig = NULL;
	enum fb_status r;

	*out = NULL;
	fb_crypto_key_info(key, &info);
	if (alg == NULL)
		return fb_err_set(err, FB_ERR_CONFIG, "key %s: neither RSA nor EC P-256", info.id);
	hdr = json_pack("{s:s, s:s, s:s}", "alg", alg, "kid", info.id, "typ", typ);
	h = json_dumps(hdr, JSON_COMPACT);
	c = json_dumps(claims, JSON_COMPACT);
	hb = fb_b64url_encode(h, strlen(h));
	cb = fb_b64url_encode(c, strlen(c));
	input = fb_xasprintf("%s.%s", hb, cb);
	if ((r = jws_sign(fb_crypto_key_pkey(key), strcmp(alg, "ES256") == 0, input, &sig, err)) ==
	    FB_OK)
		*out = fb_xasprintf("%s.%s", input, sig);
	free(sig);
	free(input);
	free(hb);
	free(cb);
	free(h);
	free(c);
	json_decref(hdr);
	return r;
}

void
fb_oidc_jwks_free(struct fb_oidc_jwks *jwks)
{
	if (jwks == NULL)
		return;
	for (size_t i = 0; i < jwks->n; i++) {
		cjose_jwk_release(jwks->keys[i]);
		free(jwks->kids[i]);
	}
	free(jwks->keys);
	free(jwks->kids);
	free(jwks);
}

size_t
fb_oidc_jwks_count(const struct fb_oidc_jwks *jwks)
{
	return jwks != NULL ? jwks->n : 0;
}

/* 1 when c is a base64url character (RFC 4648 5), no padding. */
static int
b64url_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* 1 when every base64url member of the JWK k (RFC 7518 6) holds only base64url characters. */
static int
key_members_check(const json_t *k)
{
	static const char *const names[] = {"n", "e", "x", "y", "d", "p", "q", "dp", "dq", "qi",
	    "k"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const json_t *v = json_object_get(k, names[i]);

		if (v == NULL)
			continue;
		if (!json_is_string(v))
			return 0;
		for (const char *p = json_string_value(v); *p != '\0'; p++)
			if (!b64url_char((unsigned char)*p))
				return 0;
	}
	return 1;
}

enum fb_status
fb_oidc_jwks_parse(const char *json, size_t len, struct fb_oidc_jwks **out, struct fb_err *err)
{
	struct fb_oidc_jwks *jwks = NULL;
	json_t *doc = NULL, *keys, *k;
	json_error_t je;
	enum fb_status r = FB_ERR_INVALID;
	size_t i;

	*out = NULL;
	if (len > FB_OIDC_JWKS_MAX) {
		fb_err_set(err, FB_ERR_INVALID, "JWKS: larger than %d bytes", FB_OIDC_JWKS_MAX);
		goto out;
	}
	if ((doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		fb_err_set(err, FB_ERR_INVALID, "JWKS: not JSON: %s (line %d, column %d)", je.text,
		    je.line, je.column);
		goto out;
	}
	keys = json_object_get(doc, "keys");
	if (!json_is_array(keys) || json_array_size(keys) > FB_OIDC_JWKS_MAX_KEYS) {
		fb_err_set(err, FB_ERR_INVALID, "JWKS: \"keys\" is not an array of at most %d keys",
		    FB_OIDC_JWKS_MAX_KEYS);
		goto out;
	}
	jwks = fb_xcalloc(1, sizeof(*jwks));
	jwks->keys = fb_xcalloc(json_array_size(keys) + 1, sizeof(*jwks->keys));
	jwks->kids = fb_xcalloc(json_array_size(keys) + 1, sizeof(*jwks->kids));
	json_array_foreach(keys, i, k) {
		const char *kty = json_string_value(json_object_get(k, "kty"));
		json_t *use = json_object_get(k, "use");
		const char *kid = json_string_value(json_object_get(k, "kid"));
		cjose_err ce = {0};
		cjose_jwk_t *jwk;
		char *text;

		if (!json_is_object(k) || kty == NULL) {
			fb_err_set(err, FB_ERR_INVALID, "JWKS: key %zu has no \"kty\"", i);
			goto out;
		}
		/* SECURITY: only public signature keys; a symmetric key is never used. */
		if ((strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0) ||
		    (use != NULL &&
		        (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0)))
			continue;
		/* Public members only: a JWKS that publishes "d" is a provider's mistake. */
		if (json_object_get(k, "d") != NULL) {
			fb_err_set(err, FB_ERR_INVALID, "JWKS: key %zu holds a private key", i);
			goto out;
		}
		/* SECURITY: cjose 0.6 aborts on a '=' inside a base64url member: checked first. */
		if (!key_members_check(k)) {
			fb_err_set(err, FB_ERR_INVALID,
			    "JWKS: key %zu has a member that is not base64url", i);
			goto out;
		}
		text = json_dumps(k, JSON_COMPACT);
		jwk = text != NULL ? cjose_jwk_import(text, strlen(text), &ce) : NULL;
		free(text);
		if (jwk == NULL) {
			fb_err_set(err, FB_ERR_INVALID, "JWKS: key %zu (%s): %s", i,
			    kid != NULL ? kid : "no kid", cjose_msg(&ce));
			goto out;
		}
		jwks->keys[jwks->n] = jwk;
		jwks->kids[jwks->n] = kid != NULL ? fb_xstrdup(kid) : NULL;
		jwks->n++;
	}
	*out = jwks;
	jwks = NULL; /* transferred */
	r = FB_OK;
out:
	fb_oidc_jwks_free(jwks);
	json_decref(doc);
	return r;
}

/* 1 when key i of jwks can check alg a (type and, for EC, curve). */
static int
key_fits(const struct fb_oidc_jwks *jwks, size_t i, const struct alg *a)
{
	cjose_err ce = {0};
	char *json;
	json_t *k;
	int ok;

	if (cjose_jwk_get_kty(jwks->keys[i], &ce) != a->kty)
		return 0;
	if (a->crv == NULL)
		return 1;
	if ((json = cjose_jwk_to_json(jwks->keys[i], false, &ce)) == NULL)
		return 0;
	k = json_loads(json, 0, NULL);
	ok = k != NULL && json_string_value(json_object_get(k, "crv")) != NULL &&
	     strcmp(json_string_value(json_object_get(k, "crv")), a->crv) == 0;
	json_decref(k);
	free(json);
	return ok;
}

/* Checks the signature of jws (alg a, kid or NULL) with the keys of jwks. */
static enum fb_status
signature_check(cjose_jws_t *jws, const struct alg *a, const char *kid,
    const struct fb_oidc_jwks *jwks, enum fb_oidc_idtoken_why *why, struct fb_err *err)
{
	size_t tried = 0;

	for (size_t i = 0; jwks != NULL && i < jwks->n; i++) {
		cjose_err ce = {0};

		if (kid != NULL && (jwks->kids[i] == NULL || strcmp(kid, jwks->kids[i]) != 0))
			continue;
		if (!key_fits(jwks, i, a))
			continue;
		tried++;
		if (cjose_jws_verify(jws, jwks->keys[i], &ce))
			return FB_OK;
	}
	if (tried == 0) {
		*why = FB_OIDC_IDT_UNKNOWN_KID;
		return fb_err_set(err, FB_ERR_SIGNATURE, "JWT: no %s key%s%s in the JWKS",
		    a->name, kid != NULL ? " with kid " : "", kid != NULL ? kid : "");
	}
	return fb_err_set(err, FB_ERR_SIGNATURE, "JWT: the %s signature does not verify",
	    a->name);
}

/* A NumericDate claim (RFC 7519 2): *t set, 0 when absent; FB_ERR_INVALID when not a number. */
static enum fb_status
numeric_date(const json_t *claims, const char *name, int required, int64_t *t, struct fb_err *err)
{
	const json_t *v = json_object_get(claims, name);
	double d = json_is_real(v) ? json_real_value(v) : 0.0;

	*t = 0;
	if (v == NULL) {
		if (required)
			return fb_err_set(err, FB_ERR_INVALID, "ID token: no \"%s\"", name);
		return FB_OK;
	}
	if (json_is_integer(v))
		*t = json_integer_value(v);
	else if (json_is_real(v) && d > -9.0e15 && d < 9.0e15)
		*t = (int64_t)d;
	else
		return fb_err_set(err, FB_ERR_INVALID, "ID token: \"%s\" is not a number", name);
	return FB_OK;
}

/* aud contains client_id; with several audiences, azp is client_id (OIDC Core 3.1.3.7 3-5). */
static enum fb_status
audience_check(const json_t *claims, const char *client_id, struct fb_err *err)
{
	const json_t *aud = json_object_get(claims, FB_OIDC_C_AUD);
	const char *azp = json_string_value(json_object_get(claims, FB_OIDC_C_AZP));
	size_t i, n = 0;
	const json_t *v;
	int found = 0;

	if (json_is_string(aud)) {
		found = strcmp(json_string_value(aud), client_id) == 0;
		n = 1;
	} else if (json_is_array(aud)) {
		json_array_foreach(aud, i, v) {
			if (!json_is_string(v))
				return fb_err_set(err, FB_ERR_INVALID,
				    "ID token: \"aud\" holds a non-string");
			if (strcmp(json_string_value(v), client_id) == 0)
				found = 1;
		}
		n = json_array_size(aud);
	} else {
		return fb_err_set(err, FB_ERR_INVALID, "ID token: no \"aud\"");
	}
	if (!found)
		return fb_err_set(err, FB_ERR_PROTOCOL, "ID token: \"aud\" is not this client");
	if (json_object_get(claims, FB_OIDC_C_AZP) != NULL &&
	    (azp == NULL || strcmp(azp, client_id) != 0))
		return fb_err_set(err, FB_ERR_PROTOCOL, "ID token: \"azp\" is not this client");
	if (n > 1 && azp == NULL)
		return fb_err_set(err, FB_ERR_PROTOCOL,
		    "ID token: several audiences and no \"azp\"");
	return FB_OK;
}

static char *
at_hash_compute(const char *md_name, const char *access_token)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const EVP_MD *md_alg = EVP_get_digestbyname(md_name);

	if (md_alg == NULL ||
	    EVP_Digest(access_token, strlen(access_token), md, &mdlen, md_alg, NULL) != 1)
		return NULL;
	/* The left-most half of the hash, base64url (OIDC Core 3.1.3.6). */
	return fb_b64url_encode(md, mdlen / 2);
}

static enum fb_status
claims_check(const json_t *claims, const struct alg *a, const struct fb_oidc_idtoken_check *chk,
    struct fb_err *err)
{
	const char *iss = json_string_value(json_object_get(claims, FB_OIDC_C_ISS));
	const char *sub = json_string_value(json_object_get(claims, FB_OIDC_C_SUB));
	const char *nonce = json_string_value(json_object_get(claims, FB_OIDC_C_NONCE));
	const char *at_hash = json_string_value(json_object_get(claims, FB_OIDC_C_AT_HASH));
	int64_t exp, iat, nbf;
	enum fb_status r;
	char *want;
	int ok;

	if (iss == NULL || strcmp(iss, chk->issuer) != 0)
		return fb_err_set(err, FB_ERR_PROTOCOL, "ID token: \"iss\" is not %s", chk->issuer);
	if (sub == NULL || sub[0] == '\0' || strlen(sub) > 255)
		return fb_err_set(err, FB_ERR_PROTOCOL, "ID token: no usable \"sub\"");
	if ((r = audience_check(claims, chk->client_id, err)) != FB_OK)
		return r;
	if ((r = numeric_date(claims, FB_OIDC_C_EXP, 1, &exp, err)) != FB_OK ||
	    (r = numeric_date(claims, FB_OIDC_C_IAT, 1, &iat, err)) != FB_OK ||
	    (r = numeric_date(claims, FB_OIDC_C_NBF, 0, &nbf, err)) != FB_OK)
		return r;
	if (exp + chk->skew <= chk->now)
		return fb_err_set(err, FB_ERR_EXPIRED, "ID token: expired %lld s ago",
		    (long long)(chk->now - exp));
	if (iat - chk->skew > chk->now)
		return fb_err_set(err, FB_ERR_EXPIRED, "ID token: issued %lld s in the future",
		    (long long)(iat - chk->now));
	if (nbf != 0 && nbf - chk->skew > chk->now)
		return fb_err_set(err, FB_ERR_EXPIRED, "ID token: not valid for %lld s yet",
		    (long long)(nbf - chk->now));
	/* SECURITY: the nonce binds the token to the browser that started the flow. */
	if (chk->nonce == NULL || nonce == NULL || strlen(nonce) != strlen(chk->nonce) ||
	    fb_memeq_ct(nonce, chk->nonce, strlen(nonce)) != 0)
		return fb_err_set(err, FB_ERR_PROTOCOL, "ID token: \"nonce\" %s",
		    nonce == NULL ? "missing" : "does not match");
	if (at_hash != NULL && chk->access_token != NULL) {
		if ((want = at_hash_compute(a->md, chk->access_token)) == NULL)
			return fb_err_set(err, FB_ERR_INTERNAL, "at_hash: no %s digest", a->md);
		ok = strcmp(want, at_hash) == 0;
		free(want);
		if (!ok)
			return fb_err_set(err, FB_ERR_PROTOCOL,
			    "ID token: \"at_hash\" does not match the access token");
	}
	return FB_OK;
}

/*
 * 1 when s is three base64url parts joined by two dots (RFC 7515 7.1).
 * SECURITY: cjose 0.6 aborts on an assertion when a part holds '=' or
 * another character outside base64url: checked before cjose sees it.
 */
static int
compact_check(const char *s)
{
	int dots = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '.')
			dots++;
		else if (!b64url_char(c))
			return 0;
	}
	return dots == 2;
}

/* 1 when alg is in the allow-list (NULL: RS256 only). */
static int
alg_allowed(const char *alg, const char *const *allow)
{
	if (allow == NULL)
		return strcmp(alg, "RS256") == 0;
	for (size_t i = 0; allow[i] != NULL; i++)
		if (strcmp(allow[i], alg) == 0)
			return 1;
	return 0;
}

/* fb_oidc_jwt_verify, and *aout the algorithm that signed (may be NULL). */
static enum fb_status
jwt_verify(const char *jwt, const struct fb_oidc_jwks *jwks, const char *const *algorithms,
    const char *typ_want, json_t **claims, enum fb_oidc_idtoken_why *why, const struct alg **aout,
    struct fb_err *err)
{
	enum fb_oidc_idtoken_why why_local = FB_OIDC_IDT_OTHER;
	enum fb_status r = FB_ERR_INVALID;
	cjose_jws_t *jws = NULL;
	cjose_header_t *hdr;
	cjose_err ce = {0};
	const struct alg *a;
	const char *alg, *kid, *typ;
	uint8_t *payload = NULL;
	size_t plen = 0, len;
	json_t *c = NULL;
	json_error_t je;

	*claims = NULL;
	if (why == NULL)
		why = &why_local;
	*why = FB_OIDC_IDT_OTHER;
	len = jwt != NULL ? strlen(jwt) : 0;
	if (len == 0 || len > FB_OIDC_JWT_MAX) {
		r = fb_err_set(err, FB_ERR_INVALID, "JWT: empty or larger than %d bytes",
		    FB_OIDC_JWT_MAX);
		goto out;
	}
	if (!compact_check(jwt) || (jws = cjose_jws_import(jwt, len, &ce)) == NULL) {
		r = fb_err_set(err, FB_ERR_INVALID, "JWT: not a compact JWS: %s", cjose_msg(&ce));
		goto out;
	}
	hdr = cjose_jws_get_protected(jws);
	alg = hdr != NULL ? cjose_header_get(hdr, CJOSE_HDR_ALG, &ce) : NULL;
	kid = hdr != NULL ? cjose_header_get(hdr, CJOSE_HDR_KID, &ce) : NULL;
	typ = hdr != NULL ? json_string_value(json_object_get((json_t *)hdr, "typ")) : NULL;
	/* SECURITY: never none, never HS* (an HMAC keyed with a public key), only the allow-list.
	 */
	if (alg == NULL || (a = alg_find(alg)) == NULL || !alg_allowed(alg, algorithms)) {
		r = fb_err_set(err, FB_ERR_SIGNATURE, "JWT: algorithm %s is not accepted",
		    alg != NULL ? alg : "(none given)");
		goto out;
	}
	/* RFC 8725 3.11: a JWT of another kind (an access token, a logout token) is refused. */
	if (typ_want == NULL ? typ != NULL && strcasecmp(typ, "JWT") != 0
	                     : typ == NULL || strcasecmp(typ, typ_want) != 0) {
		r = fb_err_set(err, FB_ERR_PROTOCOL, "JWT: typ %s is not %s",
		    typ != NULL ? typ : "(none)", typ_want != NULL ? typ_want : "JWT");
		goto out;
	}
	/* A header member this module does not understand changes what the signature means. */
	if (json_object_get((json_t *)hdr, "crit") != NULL) {
		r = fb_err_set(err, FB_ERR_PROTOCOL, "JWT: \"crit\" header not supported");
		goto out;
	}
	if ((r = signature_check(jws, a, kid, jwks, why, err)) != FB_OK)
		goto out;
	r = FB_ERR_INVALID;
	if (!cjose_jws_get_plaintext(jws, &payload, &plen, &ce)) {
		r = fb_err_set(err, FB_ERR_INVALID, "JWT: no payload: %s", cjose_msg(&ce));
		goto out;
	}
	if ((c = json_loadb((const char *)payload, plen, JSON_REJECT_DUPLICATES, &je)) == NULL ||
	    !json_is_object(c)) {
		r = fb_err_set(err, FB_ERR_INVALID, "JWT: the payload is not a JSON object");
		goto out;
	}
	*why = FB_OIDC_IDT_OK;
	*claims = c;
	c = NULL; /* transferred */
	if (aout != NULL)
		*aout = a;
	r = FB_OK;
out:
	json_decref(c);
	cjose_jws_release(jws);
	return r;
}

enum fb_status
fb_oidc_jwt_verify(const char *jwt, const struct fb_oidc_jwks *jwks, const char *const *algorithms,
    const char *typ, json_t **claims, enum fb_oidc_idtoken_why *why, struct fb_err *err)
{
	return jwt_verify(jwt, jwks, algorithms, typ, claims, why, NULL, err);
}

enum fb_status
fb_oidc_idtoken_verify(const char *jwt, const struct fb_oidc_jwks *jwks,
    const struct fb_oidc_idtoken_check *chk, json_t **claims, enum fb_oidc_idtoken_why *why,
    struct fb_err *err)
{
	const struct alg *a = NULL;
	json_t *c = NULL;
	enum fb_status r;

	*claims = NULL;
	if ((r = jwt_verify(jwt, jwks, chk->algorithms, NULL, &c, why, &a, err)) != FB_OK) {
		/* The messages name the ID token, as callers and logs always did. */
		if (err != NULL && strncmp(err->msg, "JWT: ", 5) == 0) {
			char m[sizeof(err->msg)];

			snprintf(m, sizeof(m), "ID token: %s", err->msg + 5);
			fb_err_set(err, r, "%s", m);
		}
		return r;
	}
	if ((r = claims_check(c, a, chk, err)) != FB_OK) {
		if (why != NULL)
			*why = FB_OIDC_IDT_OTHER;
		json_decref(c);
		return r;
	}
	*claims = c;
	return FB_OK;
}

int
fb_oidc_jwks_cache_refetch_take(struct fb_oidc_jwks_cache *c, int64_t now_ms)
{
	int64_t min = c->min_refetch_ms > 0 ? c->min_refetch_ms : FB_OIDC_JWKS_REFETCH_MIN_MS;

	/*
	 * Only refetches count: a scheduled fetch just before the provider
	 * rotated its keys must not hold back the first token signed with the
	 * new key.
	 */
	if (c->refetch_ms != 0 && now_ms - c->refetch_ms < min)
		return 0;
	c->refetch_ms = now_ms;
	return 1;
}

void
fb_oidc_jwks_cache_set(struct fb_oidc_jwks_cache *c, struct fb_oidc_jwks *jwks, int64_t now_ms)
{
	fb_oidc_jwks_free(c->jwks);
	c->jwks = jwks;
	c->fetched_ms = now_ms;
}

void
fb_oidc_jwks_cache_cleanup(struct fb_oidc_jwks_cache *c)
{
	fb_oidc_jwks_free(c->jwks);
	memset(c, 0, sizeof(*c));
}
