/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/test_oidc.c: ID token validation (oidc/jwt.c) with tokens made here with cjose. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>
#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "net/net.h"
#include "oidc/oidc.h"
#include "store/store.h"
#include "unit.h"

/* op.c: how long a worker trusts what it read of a stored client (ms). */
extern int64_t fb_oidc_stored_ttl_ms;

#define ISS    "https://op.example.org"
#define CLIENT "fedbroker"
#define NONCE  "n-0S6_WzA2Mj"
#define NOW    1700000000

/* A string literal where the API takes a non-const member it does not change. */
#define UNCONST(s) ((char *)(uintptr_t)(s))

static cjose_jwk_t *rsa, *rsa2, *ec;

static int
keys_init(void)
{
	static const uint8_t e[] = {1, 0, 1};

	rsa = cjose_jwk_create_RSA_random(2048, e, sizeof(e), NULL);
	rsa2 = cjose_jwk_create_RSA_random(2048, e, sizeof(e), NULL);
	ec = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, NULL);
	if (rsa == NULL || rsa2 == NULL || ec == NULL)
		return -1;
	cjose_jwk_set_kid(rsa, "rsa1", 4, NULL);
	cjose_jwk_set_kid(rsa2, "rsa2", 4, NULL);
	cjose_jwk_set_kid(ec, "ec1", 3, NULL);
	return 0;
}

static int
keys_cleanup(void)
{
	cjose_jwk_release(rsa);
	cjose_jwk_release(rsa2);
	cjose_jwk_release(ec);
	return 0;
}

/* {"keys":[the public JWKs of the keys given]} as text (new). */
static char *
jwks_text(cjose_jwk_t *const *keys, size_t n)
{
	json_t *doc = json_object(), *arr = json_array();
	char *s;

	for (size_t i = 0; i < n; i++) {
		char *k = cjose_jwk_to_json(keys[i], false, NULL);

		json_array_append_new(arr, json_loads(k, 0, NULL));
		free(k);
	}
	json_object_set_new(doc, "keys", arr);
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

static struct fb_oidc_jwks *
jwks_of(cjose_jwk_t *const *keys, size_t n)
{
	struct fb_oidc_jwks *j = NULL;
	char *s = jwks_text(keys, n);

	CU_ASSERT_EQUAL(fb_oidc_jwks_parse(s, strlen(s), &j, NULL), FB_OK);
	free(s);
	return j;
}

/* Good claims at NOW (new). */
static json_t *
claims_good(void)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", ISS, "sub", "248289761001", "aud",
	    CLIENT, "exp", (json_int_t)NOW + 300, "iat", (json_int_t)NOW - 10, "nonce", NONCE);
}

/* The compact JWS of claims (taken) signed by key with alg; kid NULL: the key's own. New. */
static char *
sign(cjose_jwk_t *key, const char *alg, const char *kid, json_t *claims)
{
	cjose_header_t *hdr = cjose_header_new(NULL);
	char *payload = json_dumps(claims, JSON_COMPACT), *out = NULL;
	const char *ser = NULL;
	cjose_jws_t *jws;

	cjose_header_set(hdr, CJOSE_HDR_ALG, alg, NULL);
	cjose_header_set(hdr, CJOSE_HDR_KID, kid != NULL ? kid : cjose_jwk_get_kid(key, NULL),
	    NULL);
	jws = cjose_jws_sign(key, hdr, (const uint8_t *)payload, strlen(payload), NULL);
	if (jws != NULL && cjose_jws_export(jws, &ser, NULL))
		out = fb_xstrdup(ser);
	cjose_jws_release(jws);
	cjose_header_release(hdr);
	free(payload);
	json_decref(claims);
	CU_ASSERT_PTR_NOT_NULL(out);
	return out;
}

static const char *const algs_default[] = {"RS256", "ES256", "PS256", NULL};

static struct fb_oidc_idtoken_check
check_good(void)
{
	struct fb_oidc_idtoken_check c = {0};

	c.issuer = ISS;
	c.client_id = CLIENT;
	c.algorithms = algs_default;
	c.nonce = NONCE;
	c.now = NOW;
	c.skew = 60;
	return c;
}

/* Verifies tok (taken) and returns the status; err filled; claims dropped. */
static enum fb_status
verify(char *tok, const struct fb_oidc_jwks *j, const struct fb_oidc_idtoken_check *c,
    enum fb_oidc_idtoken_why *why, struct fb_err *err)
{
	json_t *claims = NULL;
	enum fb_status r = fb_oidc_idtoken_verify(tok, j, c, &claims, why, err);

	CU_ASSERT((r == FB_OK) == (claims != NULL));
	json_decref(claims);
	free(tok);
	return r;
}

static void
test_good_tokens(void)
{
	cjose_jwk_t *keys[] = {rsa, ec};
	struct fb_oidc_jwks *j = jwks_of(keys, 2);
	struct fb_oidc_idtoken_check c = check_good();
	enum fb_oidc_idtoken_why why;
	json_t *claims = NULL, *cl;
	struct fb_err err;
	char *tok;

	CU_ASSERT_EQUAL(fb_oidc_jwks_count(j), 2);
	tok = sign(rsa, "RS256", NULL, claims_good());
	CU_ASSERT_EQUAL(fb_oidc_idtoken_verify(tok, j, &c, &claims, &why, &err), FB_OK);
	CU_ASSERT_EQUAL(why, FB_OIDC_IDT_OK);
	if (claims == NULL)
		fprintf(stderr, "\n%s\n", err.msg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(claims);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(claims, "sub")), "248289761001");
	json_decref(claims);
	free(tok);
	CU_ASSERT_EQUAL(verify(sign(ec, "ES256", NULL, claims_good()), j, &c, NULL, &err), FB_OK);
	CU_ASSERT_EQUAL(verify(sign(rsa, "PS256", NULL, claims_good()), j, &c, NULL, &err), FB_OK);
	/* Without a kid, each key of the right type is tried. */
	{
		/* Rebuild without kid: header {"alg":"ES256"} only. */
		cjose_header_t *hdr = cjose_header_new(NULL);
		char *payload = json_dumps((cl = claims_good()), JSON_COMPACT);
		const char *ser = NULL;
		cjose_jws_t *jws;

		cjose_header_set(hdr, CJOSE_HDR_ALG, "ES256", NULL);
		jws = cjose_jws_sign(ec, hdr, (const uint8_t *)payload, strlen(payload), NULL);
		CU_ASSERT_FATAL(jws != NULL && cjose_jws_export(jws, &ser, NULL));
		CU_ASSERT_EQUAL(verify(fb_xstrdup(ser), j, &c, NULL, &err), FB_OK);
		cjose_jws_release(jws);
		cjose_header_release(hdr);
		free(payload);
		json_decref(cl);
	}
	/* Several audiences with azp = us. */
	cl = claims_good();
	json_object_set_new(cl, "aud", json_pack("[s,s]", "other", CLIENT));
	json_object_set_new(cl, "azp", json_string(CLIENT));
	CU_ASSERT_EQUAL(verify(sign(rsa, "RS256", NULL, cl), j, &c, NULL, &err), FB_OK);
	/* Clock skew: expired 30 s ago, issued 30 s ahead, nbf 30 s ahead, all within 60 s. */
	cl = claims_good();
	json_object_set_new(cl, "exp", json_integer(NOW - 30));
	json_object_set_new(cl, "iat", json_integer(NOW + 30));
	json_object_set_new(cl, "nbf", json_integer(NOW + 30));
	CU_ASSERT_EQUAL(verify(sign(rsa, "RS256", NULL, cl), j, &c, NULL, &err), FB_OK);
	/* at_hash (OIDC Core 3.1.3.6): base64url of the left half of SHA-256 (for RS256), as
	 * python3 computes it: urlsafe_b64encode(sha256(token).digest()[:16]). */
	c.access_token = "jHkWEdUXMU1BwAsC4vtUsZwnNfvA4PWRXw5Tvu7c2OC6";
	cl = claims_good();
	json_object_set_new(cl, "at_hash", json_string("FivAYK3V4-GWxnGPzmvXPg"));
	CU_ASSERT_EQUAL(verify(sign(rsa, "RS256", NULL, cl), j, &c, NULL, &err), FB_OK);
	fb_oidc_jwks_free(j);
}

/* Expects tok (taken) to fail with st and msg to contain what. */
static void
expect_bad(char *tok, const struct fb_oidc_jwks *j, const struct fb_oidc_idtoken_check *c,
    enum fb_status st, const char *what)
{
	struct fb_err err = {0};
	enum fb_status r = verify(tok, j, c, NULL, &err);

	if (r != st || strstr(err.msg, what) == NULL)
		fprintf(stderr, "\nwant %s \"%s\", got %s \"%s\"\n", fb_status_name(st), what,
		    fb_status_name(r), err.msg);
	CU_ASSERT_EQUAL(r, st);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, what));
}

/* A JWS made by hand: base64url(header).base64url(payload).sig. New. */
static char *
handmade(const char *header, const char *payload, const char *sig)
{
	char *h = fb_b64url_encode(header, strlen(header));
	char *p = fb_b64url_encode(payload, strlen(payload));
	char *s = fb_xasprintf("%s.%s.%s", h, p, sig);

	free(h);
	free(p);
	return s;
}

static void
test_bad_tokens(void)
{
	cjose_jwk_t *keys[] = {rsa, ec};
	struct fb_oidc_jwks *j = jwks_of(keys, 2);
	struct fb_oidc_idtoken_check c = check_good();
	static const char *const rs_only[] = {"RS256", NULL};
	static const char *const with_hs[] = {"RS256", "HS256", "none", NULL};
	json_t *cl;
	char *pub, *payload, *tok;
	cjose_jwk_t *hmac;
	enum fb_oidc_idtoken_why why;
	struct fb_err err;

	/* Wrong iss. */
	cl = claims_good();
	json_object_set_new(cl, "iss", json_string("https://evil.example.org"));
	expect_bad(sign(rsa, "RS256", NULL, cl), j, &c, FB_ERR_PROTOCOL, "\"iss\"");
	/* A trailing slash is another issuer. */
	cl = claims_good();
	json_object_set_new(cl, "iss", json_string(ISS "/"));
	expect_bad(sign(rsa, "RS256", NULL, cl), j, &c, FB_ERR_PROTOCOL, "\"iss\"");
	/* Wrong aud. */
	cl = claims_good();
	json_object_set_new(cl, "aud", json_string("someone-else"));
	expect_bad(sign(rsa, "RS256", NULL, cl), j, &c, FB_ERR_PROTOCOL, "\"aud\"");
	cl = claims_good();
	json_object_del(cl, "aud");
	expect_bad(sign(rsa, "RS256", NULL, cl), j, &c, FB_ERR_INVALID, "\"aud\"");
	/* Several audiences: azp is required and must be us. */
	cl = claims_good();
	json_object_set_new(cl, "aud", json_pack("[s,s]", CLIENT, "other"));
	expect_bad(sign(rsa, "RS256", NULL, cl), j, &c, FB_ERR_PROTOCOL, "no \"azp\"");
	cl = claims_good();
	json_object_set_new(cl, "aud", json_pack("[s,s]", CLIENT, "other"));
	json_object_set_new(cl, "azp", json_string("other"));
	expect_bad(sign(rsa, "RS256", NULL, cl), j, &c, FB_ERR_PROTOCOL, "\"azp\"");
	/* Expired beyond the skew, issued or valid only in the future beyond it. */
	cl = claims_good();
	json_object_set_new(cl, "exp", json_integer(NOW - 61));
	expect_bad(sign(rsa, "RS256", NULL, cl), j, &c, FB_ERR_EXPIRED, "expired");
	cl = claims_good();
	json_object_set_new(cl, "iat", json_integer(NOW + 61));
	expect_bad(sign(rsa, "RS256", NULL, cl), j, &c, FB_ERR_EXPIRED, "future");
	cl = claims_good();
	json_object_set_new(cl, "nbf", json_integer(NOW + 61));
	expect_bad(sign(rsa, "RS256", NULL, cl), j, &c, FB_ERR_EXPIRED, "not valid");
	cl = claims_good();
	json_object_del(cl, "exp");
	expect_bad(sign(rsa, "RS256", NULL, cl), j, &c, FB_ERR_INVALID, "\"exp\"");
	cl = claims_good();
	json_object_set_new(cl, "exp", json_string("tomorrow"));
	expect_bad(sign(rsa, "RS256", NULL, cl), j, &c, FB_ERR_INVALID, "\"exp\"");
	/* Missing and wrong nonce. */
	cl = claims_good();
	json_object_del(cl, "nonce");
	expect_bad(sign(rsa, "RS256", NULL, cl), j, &c, FB_ERR_PROTOCOL, "missing");
	cl = claims_good();
	json_object_set_new(cl, "nonce", json_string("n-0S6_WzA2Mk"));
	expect_bad(sign(rsa, "RS256", NULL, cl), j, &c, FB_ERR_PROTOCOL, "\"nonce\"");
	/* No sub. */
	cl = claims_good();
	json_object_del(cl, "sub");
	expect_bad(sign(rsa, "RS256", NULL, cl), j, &c, FB_ERR_PROTOCOL, "\"sub\"");
	/* at_hash that does not belong to the access token. */
	c.access_token = "another-access-token";
	cl = claims_good();
	json_object_set_new(cl, "at_hash", json_string("FivAYK3V4-GWxnGPzmvXPg"));
	expect_bad(sign(rsa, "RS256", NULL, cl), j, &c, FB_ERR_PROTOCOL, "at_hash");
	c.access_token = NULL;

	/* alg none, even when a misconfiguration lists it. */
	payload = json_dumps((cl = claims_good()), JSON_COMPACT);
	json_decref(cl);
	expect_bad(handmade("{\"alg\":\"none\"}", payload, ""), j, &c, FB_ERR_SIGNATURE, "none");
	c.algorithms = with_hs;
	expect_bad(handmade("{\"alg\":\"none\"}", payload, ""), j, &c, FB_ERR_SIGNATURE, "none");
	expect_bad(handmade("{\"alg\":\"none\",\"kid\":\"rsa1\"}", payload, "AAAA"), j, &c,
	    FB_ERR_SIGNATURE, "none");
	/* No alg at all: cjose refuses to import it. */
	expect_bad(handmade("{\"kid\":\"rsa1\"}", payload, "AAAA"), j, &c, FB_ERR_INVALID, "JWS");
	/* SECURITY: HS256 "signed" with the provider's public key (its JWK and its bytes as
	 * an HMAC secret), named with the RSA key's kid: refused even when listed. */
	pub = cjose_jwk_to_json(rsa, false, NULL);
	hmac = cjose_jwk_create_oct_spec((const uint8_t *)pub, strlen(pub), NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(hmac);
	expect_bad(sign(hmac, "HS256", "rsa1", claims_good()), j, &c, FB_ERR_SIGNATURE, "HS256");
	c.algorithms = algs_default;
	expect_bad(sign(hmac, "HS256", "rsa1", claims_good()), j, &c, FB_ERR_SIGNATURE, "HS256");
	cjose_jwk_release(hmac);
	free(pub);
	/* An allowed-by-us algorithm the configuration does not list. */
	c.algorithms = rs_only;
	expect_bad(sign(ec, "ES256", NULL, claims_good()), j, &c, FB_ERR_SIGNATURE, "ES256");
	c.algorithms = algs_default;
	/* alg and key type disagree: an RS256 header on the EC key's kid. */
	expect_bad(sign(rsa, "RS256", "ec1", claims_good()), j, &c, FB_ERR_SIGNATURE, "no RS256");
	/* Signed by a key not in the JWKS but claiming a kid that is. */
	expect_bad(sign(rsa2, "RS256", "rsa1", claims_good()), j, &c, FB_ERR_SIGNATURE,
	    "does not verify");
	/* Payload changed after signing. */
	tok = sign(rsa, "RS256", NULL, claims_good());
	{
		char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
		char *p2 = fb_b64url_encode("{\"iss\":\"" ISS "\",\"sub\":\"admin\"}", 35);
		char *t2 = fb_xasprintf("%.*s.%s%s", (int)(dot1 - tok), tok, p2, dot2);

		expect_bad(t2, j, &c, FB_ERR_SIGNATURE, "does not verify");
		free(p2);
	}
	free(tok);
	/* Unknown kid: the reason says so, for the caller's one refetch. */
	err.msg[0] = '\0';
	CU_ASSERT_EQUAL(verify(sign(rsa2, "RS256", NULL, claims_good()), j, &c, &why, &err),
	    FB_ERR_SIGNATURE);
	CU_ASSERT_EQUAL(why, FB_OIDC_IDT_UNKNOWN_KID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "rsa2"));
	/* A '=' (or any non-base64url byte) in a part made cjose 0.6 abort (found by fuzz_jwt):
	 * refused before cjose sees it. */
	tok = sign(rsa, "RS256", NULL, claims_good());
	tok[strlen(tok) - 5] = '=';
	expect_bad(tok, j, &c, FB_ERR_INVALID, "JWS");
	tok = sign(rsa, "RS256", NULL, claims_good());
	tok[3] = '+';
	expect_bad(tok, j, &c, FB_ERR_INVALID, "JWS");
	expect_bad(fb_xstrdup("a.b.c.d"), j, &c, FB_ERR_INVALID, "JWS");
	/* Not a JWS at all; too large; a JSON payload that is not an object. */
	expect_bad(fb_xstrdup("not a token"), j, &c, FB_ERR_INVALID, "JWS");
	expect_bad(fb_xstrdup(""), j, &c, FB_ERR_INVALID, "empty");
	tok = fb_xcalloc(1, FB_OIDC_JWT_MAX + 2);
	memset(tok, 'a', FB_OIDC_JWT_MAX + 1);
	expect_bad(tok, j, &c, FB_ERR_INVALID, "larger");
	cl = json_pack("[s]", "x");
	expect_bad(sign(rsa, "RS256", NULL, cl), j, &c, FB_ERR_INVALID, "JSON object");
	/* A JWT of another kind (RFC 8725 3.11) and a crit header are refused. */
	expect_bad(handmade("{\"alg\":\"RS256\",\"typ\":\"logout+jwt\"}", payload, "AAAA"), j, &c,
	    FB_ERR_PROTOCOL, "typ");
	expect_bad(handmade("{\"alg\":\"RS256\",\"crit\":[\"exp\"]}", payload, "AAAA"), j, &c,
	    FB_ERR_PROTOCOL, "crit");
	free(payload);
	fb_oidc_jwks_free(j);
}

static void
test_jwks(void)
{
	struct fb_oidc_jwks *j = NULL;
	struct fb_oidc_jwks_cache cache = {0};
	struct fb_err err;
	cjose_jwk_t *keys[] = {rsa, ec, rsa2};
	char *s;
	static const char *const bad[] = {
	    "",
	    "not json",
	    "{}",
	    "{\"keys\":{}}",
	    "[1,2]",
	    "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"!!\",\"e\":\"AQAB\"}]}",
	    "{\"keys\":[{\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
	    "{\"keys\":[1]}",
	    /* a '=' inside a base64url member made cjose 0.6 abort (found by fuzz_jwt) */
	    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"ut_pMYaTHjsw_41OvF3Co="
	    "ZmmiJau96GBlz-"
	    "mu9c9LE\",\"y\":\"EXpqqexK3FTwAUCZQsMQsCZI_kfqQJBcyD2qLuDxA-k\"}]}",
	    "{\"keys\":[{\"kty\":\"RSA\",\"n\":1,\"e\":\"AQAB\"}]}",
	};

	/* Every malformed document: a clear error and no key set. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = (struct fb_oidc_jwks *)1;
		CU_ASSERT_EQUAL(fb_oidc_jwks_parse(bad[i], strlen(bad[i]), &j, &err),
		    FB_ERR_INVALID);
		CU_ASSERT_PTR_NULL(j);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "JWKS"));
	}
	/* oct keys and "enc" keys are dropped; a published private key is refused. */
	s = fb_xstrdup("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"kid\":\"h\"},"
	               "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}");
	CU_ASSERT_EQUAL(fb_oidc_jwks_parse(s, strlen(s), &j, &err), FB_OK);
	free(s);
	CU_ASSERT_EQUAL(fb_oidc_jwks_count(j), 0);
	fb_oidc_jwks_free(j);
	s = cjose_jwk_to_json(rsa, true, NULL);
	{
		char *doc = fb_xasprintf("{\"keys\":[%s]}", s);

		CU_ASSERT_EQUAL(fb_oidc_jwks_parse(doc, strlen(doc), &j, &err), FB_ERR_INVALID);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "private"));
		free(doc);
	}
	free(s);
	s = jwks_text(keys, 3);
	CU_ASSERT_EQUAL(fb_oidc_jwks_parse(s, strlen(s), &j, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_oidc_jwks_count(j), 3);
	free(s);

	/* The refetch rule: one refetch per interval for unknown kids, then refusal. */
	fb_oidc_jwks_cache_set(&cache, j, 1000);
	CU_ASSERT_PTR_EQUAL(cache.jwks, j);
	CU_ASSERT_EQUAL(fb_oidc_jwks_cache_refetch_take(&cache, 2000), 1);
	CU_ASSERT_EQUAL(fb_oidc_jwks_cache_refetch_take(&cache, 2001), 0);
	CU_ASSERT_EQUAL(fb_oidc_jwks_cache_refetch_take(&cache,
	                    2000 + FB_OIDC_JWKS_REFETCH_MIN_MS - 1),
	    0);
	CU_ASSERT_EQUAL(fb_oidc_jwks_cache_refetch_take(&cache, 2000 + FB_OIDC_JWKS_REFETCH_MIN_MS),
	    1);
	cache.min_refetch_ms = 10;
	CU_ASSERT_EQUAL(fb_oidc_jwks_cache_refetch_take(&cache,
	                    2000 + FB_OIDC_JWKS_REFETCH_MIN_MS + 10),
	    1);
	fb_oidc_jwks_cache_set(&cache, NULL, 5000);
	CU_ASSERT_PTR_NULL(cache.jwks);
	fb_oidc_jwks_cache_cleanup(&cache);
}

/* The file's text (new), or NULL. */
static char *
read_text(const char *path)
{
	struct fb_buf b;
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return NULL;
	fb_buf_init(&b, 1024 * 1024);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fb_buf_add(&b, buf, n, NULL);
	fclose(f);
	return fb_buf_take(&b);
}

/* Tokens signed by panva's jose (oidc-provider's JOSE library) pass cjose's checks here. */
static void
test_jose_tokens(void)
{
	static const char *const algs[] = {"RS256", "PS256", "ES256", NULL};
	static const char *const good[] = {"rs256", "ps256", "es256", "azp", "at_hash"};
	struct fb_oidc_idtoken_check c = {.issuer = "https://op.example.org",
	    .client_id = "fedbroker",
	    .algorithms = algs,
	    .nonce = "n1",
	    .access_token = "at",
	    .now = 1700000000,
	    .skew = 60};
	char *text = read_text(FB_SRCDIR "/tests/fixtures/oidc/jwks.json"), *path;
	struct fb_oidc_jwks *j = NULL;
	enum fb_oidc_idtoken_why why;
	struct fb_err err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_EQUAL_FATAL(fb_oidc_jwks_parse(text, strlen(text), &j, &err), FB_OK);
	free(text);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		path = fb_xasprintf("%s/tests/fuzz/corpus/jwt/%s", FB_SRCDIR, good[i]);
		text = read_text(path);
		free(path);
		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		if (verify(text, j, &c, NULL, &err) != FB_OK) {
			fprintf(stderr, "\n%s: %s\n", good[i], err.msg);
			CU_FAIL("a jose-signed token was refused");
		}
	}
	path = fb_xasprintf("%s/tests/fuzz/corpus/jwt/unknown-kid", FB_SRCDIR);
	CU_ASSERT_EQUAL(verify(read_text(path), j, &c, &why, &err), FB_ERR_SIGNATURE);
	CU_ASSERT_EQUAL(why, FB_OIDC_IDT_UNKNOWN_KID);
	free(path);
	path = fb_xasprintf("%s/tests/fuzz/corpus/jwt/expired", FB_SRCDIR);
	CU_ASSERT_EQUAL(verify(read_text(path), j, &c, NULL, &err), FB_ERR_EXPIRED);
	free(path);
	fb_oidc_jwks_free(j);
}

/* --- rp.c --- */

static const char disco[] = "{\"issuer\":\"https://op.example.org\","
                            "\"authorization_endpoint\":\"https://op.example.org/auth?x=1\","
                            "\"token_endpoint\":\"https://op.example.org/token\","
                            "\"jwks_uri\":\"https://op.example.org/jwks\","
                            "\"userinfo_endpoint\":\"https://op.example.org/me\","
                            "\"end_session_endpoint\":\"https://op.example.org/logout\","
                            "\"response_types_supported\":[\"code\"],"
                            "\"code_challenge_methods_supported\":[\"S256\"],"
                            "\"authorization_response_iss_parameter_supported\":true}";

static void
test_rp_discovery(void)
{
	struct fb_oidc_provider p;
	struct fb_err err;
	char *u, *bad;
	static const char *const bads[][2] = {
	    {"\"issuer\":\"https://op.example.org\"", "\"issuer\":\"https://evil.example.org\""},
	    {"\"token_endpoint\":\"https://", "\"token_endpoint\":\"http://"},
	    {"\"jwks_uri\":\"https://op.example.org/jwks\",", ""},
	    {"[\"S256\"]", "[\"plain\"]"},
	    {"[\"code\"]", "[\"id_token\"]"},
	    {"{", "["},
	};

	u = fb_oidc_discovery_url("https://op.example.org/");
	CU_ASSERT_STRING_EQUAL(u, "https://op.example.org/.well-known/openid-configuration");
	free(u);
	CU_ASSERT_EQUAL_FATAL(fb_oidc_provider_parse(disco, strlen(disco), ISS, &p, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(p.token_endpoint, "https://op.example.org/token");
	CU_ASSERT_STRING_EQUAL(p.end_session_endpoint, "https://op.example.org/logout");
	CU_ASSERT_EQUAL(p.iss_parameter, 1);
	fb_oidc_provider_cleanup(&p);
	/* Each broken variant: an error, nothing kept. */
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const char *at = strstr(disco, bads[i][0]);

		CU_ASSERT_PTR_NOT_NULL_FATAL(at);
		bad = fb_xasprintf("%.*s%s%s", (int)(at - disco), disco, bads[i][1],
		    at + strlen(bads[i][0]));
		CU_ASSERT_NOT_EQUAL(fb_oidc_provider_parse(bad, strlen(bad), ISS, &p, &err), FB_OK);
		CU_ASSERT_PTR_NULL(p.issuer);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "discovery"));
		free(bad);
	}
}

static void
test_rp_authz(void)
{
	char *scopes[] = {UNCONST("openid"), UNCONST("email")};
	struct fb_conf_upstream_oidc o = {.client_id = UNCONST("fed broker"),
	    .scopes = scopes,
	    .nscopes = 2};
	struct fb_oidc_provider p;
	struct fb_oidc_authz a, a2;
	struct fb_oidc_callback cb = {0};
	struct fb_err err;
	char *u, *want, *ch;

	/* RFC 7636 Appendix B's verifier, and its S256 challenge as python3 computes it. */
	ch = fb_oidc_pkce_challenge("dBjftJeZ4CVP-mJ92K9pYpG9xWs5w5j3rbf0kFj5ZAqA");
	CU_ASSERT_STRING_EQUAL(ch, "kntDaUQEttsYjVacSVS1cWeUtWHPUZ_EdFkrSecx6y8");
	free(ch);
	CU_ASSERT_EQUAL_FATAL(fb_oidc_provider_parse(disco, strlen(disco), ISS, &p, &err), FB_OK);
	fb_oidc_authz_init(&a);
	fb_oidc_authz_init(&a2);
	CU_ASSERT_EQUAL(strlen(a.state), 43);
	CU_ASSERT(strcmp(a.state, a2.state) != 0 && strcmp(a.nonce, a2.nonce) != 0 &&
	          strcmp(a.verifier, a.state) != 0);
	u = fb_oidc_authz_url(&p, &o, "https://sso.example.com/upstream/corp/callback", &a,
	    "bob@example.com");
	ch = fb_oidc_pkce_challenge(a.verifier);
	want = fb_xasprintf(
	    "https://op.example.org/auth?x=1&response_type=code&client_id=fed%%20broker"
	    "&redirect_uri=https%%3A%%2F%%2Fsso.example.com%%2Fupstream%%2Fcorp%%2Fcallback"
	    "&scope=openid%%20email&state=%s&nonce=%s&code_challenge=%s"
	    "&code_challenge_method=S256&login_hint=bob%%40example.com",
	    a.state, a.nonce, ch);
	CU_ASSERT_STRING_EQUAL(u, want);
	free(u);
	free(want);
	free(ch);

	/* The callback. */
	cb.state = a.state;
	cb.code = "c0de";
	cb.iss = ISS;
	CU_ASSERT_EQUAL(fb_oidc_callback_check(&p, a.state, &cb, &err), FB_OK);
	cb.state = a2.state; /* another browser's state */
	CU_ASSERT_EQUAL(fb_oidc_callback_check(&p, a.state, &cb, &err), FB_ERR_PROTOCOL);
	cb.state = NULL;
	CU_ASSERT_EQUAL(fb_oidc_callback_check(&p, a.state, &cb, &err), FB_ERR_PROTOCOL);
	cb.state = a.state;
	/* RFC 9207: advertised, so required; a wrong one is a mix-up. */
	cb.iss = NULL;
	CU_ASSERT_EQUAL(fb_oidc_callback_check(&p, a.state, &cb, &err), FB_ERR_PROTOCOL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "iss missing"));
	cb.iss = "https://evil.example.org";
	CU_ASSERT_EQUAL(fb_oidc_callback_check(&p, a.state, &cb, &err), FB_ERR_PROTOCOL);
	/* Not advertised: absent is fine, a wrong one still refused. */
	p.iss_parameter = 0;
	CU_ASSERT_EQUAL(fb_oidc_callback_check(&p, a.state, &cb, &err), FB_ERR_PROTOCOL);
	cb.iss = NULL;
	CU_ASSERT_EQUAL(fb_oidc_callback_check(&p, a.state, &cb, &err), FB_OK);
	cb.error = "access_denied";
	CU_ASSERT_EQUAL(fb_oidc_callback_check(&p, a.state, &cb, &err), FB_ERR_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "access_denied"));
	cb.error = NULL;
	cb.code = NULL;
	CU_ASSERT_EQUAL(fb_oidc_callback_check(&p, a.state, &cb, &err), FB_ERR_PROTOCOL);

	/* RP-initiated logout. */
	u = fb_oidc_logout_url(&p, &o, "e.y.J", "https://sso.example.com/");
	CU_ASSERT_STRING_EQUAL(u, "https://op.example.org/logout?id_token_hint=e.y.J"
	                          "&client_id=fed%20broker&post_logout_redirect_uri="
	                          "https%3A%2F%2Fsso.example.com%2F");
	free(u);
	fb_oidc_authz_cleanup(&a);
	fb_oidc_authz_cleanup(&a2);
	fb_oidc_provider_cleanup(&p);
}

/* The value of name in a form body (new), or NULL. Only for the test's plain values. */
static char *
form_value(const char *body, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = body; p != NULL;
	     p = strchr(p, '&') != NULL ? strchr(p, '&') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == '=')
			return fb_xstrndup(p + n + 1, strcspn(p + n + 1, "&"));
	return NULL;
}

/* Checks a private_key_jwt assertion with public JWK jwk_index of the fixture JWKS. */
static void
check_assertion(const char *assertion, size_t jwk_index, const char *alg)
{
	char *text = read_text(FB_SRCDIR "/tests/fixtures/oidc/jwks.json"), *k;
	json_t *doc = json_loads(text, 0, NULL), *claims;
	cjose_jwk_t *jwk;
	cjose_jws_t *jws;
	uint8_t *pl = NULL;
	size_t plen = 0;

	k = json_dumps(json_array_get(json_object_get(doc, "keys"), jwk_index), 0);
	jwk = cjose_jwk_import(k, strlen(k), NULL);
	jws = cjose_jws_import(assertion, strlen(assertion), NULL);
	CU_ASSERT_FATAL(jwk != NULL && jws != NULL);
	CU_ASSERT(cjose_jws_verify(jws, jwk, NULL));
	CU_ASSERT_STRING_EQUAL(cjose_header_get(cjose_jws_get_protected(jws), CJOSE_HDR_ALG, NULL),
	    alg);
	CU_ASSERT_STRING_EQUAL(cjose_header_get(cjose_jws_get_protected(jws), CJOSE_HDR_KID, NULL),
	    "k1");
	CU_ASSERT(cjose_jws_get_plaintext(jws, &pl, &plen, NULL));
	claims = json_loadb((const char *)pl, plen, 0, NULL);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(claims, "iss")), "fedbroker");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(claims, "sub")), "fedbroker");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(claims, "aud")),
	    "https://op.example.org/token");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(claims, "exp")), NOW + 60);
	CU_ASSERT_EQUAL(strlen(json_string_value(json_object_get(claims, "jti"))), 43);
	json_decref(claims);
	cjose_jws_release(jws);
	cjose_jwk_release(jwk);
	free(k);
	json_decref(doc);
	free(text);
}

/* The keyring holding one fixture key as "k1". */
static struct fb_keyring *
fixture_keyring(const char *name)
{
	char *key = fb_xasprintf("%s/tests/fixtures/keys/%s.key.pem", FB_SRCDIR, name);
	char *cert = fb_xasprintf("%s/tests/fixtures/keys/%s.crt.pem", FB_SRCDIR, name);
	struct fb_conf_key ck = {.id = (char *)(uintptr_t) "k1",
	    .key_file = key,
	    .cert_file = cert,
	    .state = FB_KEY_ACTIVE};
	struct fb_conf conf = {.keys = &ck, .nkeys = 1};
	struct fb_keyring *kr = NULL;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_crypto_keyring_load(&conf, &kr, &err), FB_OK);
	free(key);
	free(cert);
	return kr;
}

/*
 * The client's JWKS (/upstream/jwks.json): for an RSA and an EC keyring, the
 * published key verifies the private_key_jwt assertion the RP builds, under
 * the key's kid, with no private member; fedbroker's own JWKS parser takes it.
 */
static void
test_jwks_publish(void)
{
	struct fb_conf_upstream_oidc o = {.client_id = UNCONST("fedbroker"),
	    .client_auth = FB_CONF_OIDC_PRIVATE_KEY_JWT};
	struct fb_oidc_provider p;
	struct fb_err err;

	CU_ASSERT_EQUAL_FATAL(fb_oidc_provider_parse(disco, strlen(disco), ISS, &p, &err), FB_OK);
	for (int i = 0; i < 2; i++) {
		struct fb_keyring *kr = fixture_keyring(i == 0 ? "rsa2048" : "ec256");
		struct fb_oidc_token_request tr;
		struct fb_oidc_jwks *parsed = NULL;
		char *text = NULL, *key, *v;
		json_t *doc, *k;
		cjose_err ce;
		cjose_jwk_t *jwk;
		cjose_jws_t *jws;

		CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
		CU_ASSERT_EQUAL_FATAL(fb_oidc_jwks_publish(kr, &text, &err), FB_OK);
		CU_ASSERT_EQUAL(fb_oidc_jwks_parse(text, strlen(text), &parsed, &err), FB_OK);
		CU_ASSERT_EQUAL(fb_oidc_jwks_count(parsed), 1);
		fb_oidc_jwks_free(parsed);
		doc = json_loads(text, 0, NULL);
		k = json_array_get(json_object_get(doc, "keys"), 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(k);
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(k, "kid")), "k1");
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(k, "use")), "sig");
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(k, "kty")),
		    i == 0 ? "RSA" : "EC");
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(k, "alg")),
		    i == 0 ? "RS256" : "ES256");
		/* SECURITY: public members only. */
		CU_ASSERT_PTR_NULL(json_object_get(k, "d"));
		CU_ASSERT_PTR_NULL(json_object_get(k, "p"));
		CU_ASSERT_PTR_NULL(json_object_get(k, "q"));
		key = json_dumps(k, JSON_COMPACT);
		jwk = cjose_jwk_import(key, strlen(key), &ce);
		CU_ASSERT_PTR_NOT_NULL_FATAL(jwk);
		CU_ASSERT_EQUAL_FATAL(fb_oidc_token_request_build(&p, &o, "c", "https://sso/cb",
		                          "ver", fb_crypto_keyring_active(kr), NOW, &tr, &err),
		    FB_OK);
		v = form_value(tr.body, "client_assertion");
		CU_ASSERT_PTR_NOT_NULL_FATAL(v);
		jws = cjose_jws_import(v, strlen(v), &ce);
		CU_ASSERT_PTR_NOT_NULL_FATAL(jws);
		CU_ASSERT_TRUE(cjose_jws_verify(jws, jwk, &ce));
		cjose_jws_release(jws);
		cjose_jwk_release(jwk);
		free(v);
		free(key);
		fb_oidc_token_request_cleanup(&tr);
		json_decref(doc);
		free(text);
		fb_crypto_keyring_free(kr);
	}
	fb_oidc_provider_cleanup(&p);
}

static void
test_rp_token(void)
{
	struct fb_conf_upstream_oidc o = {.client_id = UNCONST("fedbroker"),
	    .client_secret = UNCONST("s3cr&t")};
	struct fb_net_http_response resp = {0};
	struct fb_oidc_token_request tr;
	struct fb_oidc_provider p;
	struct fb_oidc_tokens t;
	struct fb_keyring *kr;
	struct fb_err err;
	json_t *claims;
	char *v;

	CU_ASSERT_EQUAL_FATAL(fb_oidc_provider_parse(disco, strlen(disco), ISS, &p, &err), FB_OK);
	/* client_secret_basic: the secret in Basic, form-encoded, not in the body. */
	CU_ASSERT_EQUAL(fb_oidc_token_request_build(&p, &o, "c/1", "https://sso/cb", "ver", NULL,
	                    NOW, &tr, &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(tr.url, "https://op.example.org/token");
	CU_ASSERT_STRING_EQUAL(tr.body, "grant_type=authorization_code&code=c%2F1"
	                                "&redirect_uri=https%3A%2F%2Fsso%2Fcb&code_verifier=ver");
	CU_ASSERT_STRING_EQUAL(tr.username, "fedbroker");
	CU_ASSERT_STRING_EQUAL(tr.password, "s3cr%26t");
	fb_oidc_token_request_cleanup(&tr);
	/* client_secret_post. */
	o.client_auth = FB_CONF_OIDC_SECRET_POST;
	CU_ASSERT_EQUAL(fb_oidc_token_request_build(&p, &o, "c", "https://sso/cb", "ver", NULL, NOW,
	                    &tr, &err),
	    FB_OK);
	CU_ASSERT_PTR_NULL(tr.username);
	CU_ASSERT_PTR_NOT_NULL(strstr(tr.body, "&client_id=fedbroker&client_secret=s3cr%26t"));
	fb_oidc_token_request_cleanup(&tr);
	o.client_secret = NULL;
	CU_ASSERT_EQUAL(fb_oidc_token_request_build(&p, &o, "c", "https://sso/cb", "ver", NULL, NOW,
	                    &tr, &err),
	    FB_ERR_CONFIG);
	/* private_key_jwt with an RSA and an EC key of the keyring. */
	o.client_auth = FB_CONF_OIDC_PRIVATE_KEY_JWT;
	CU_ASSERT_EQUAL(fb_oidc_token_request_build(&p, &o, "c", "https://sso/cb", "ver", NULL, NOW,
	                    &tr, &err),
	    FB_ERR_CONFIG);
	for (int i = 0; i < 2; i++) {
		kr = fixture_keyring(i == 0 ? "rsa2048" : "ec256");
		CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
		CU_ASSERT_EQUAL_FATAL(fb_oidc_token_request_build(&p, &o, "c", "https://sso/cb",
		                          "ver", fb_crypto_keyring_active(kr), NOW, &tr, &err),
		    FB_OK);
		CU_ASSERT_PTR_NOT_NULL(
		    strstr(tr.body, "&client_assertion_type=urn%3Aietf%3Aparams"
		                    "%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"));
		v = form_value(tr.body, "client_assertion");
		CU_ASSERT_PTR_NOT_NULL_FATAL(v);
		check_assertion(v, (size_t)i, i == 0 ? "RS256" : "ES256");
		free(v);
		fb_oidc_token_request_cleanup(&tr);
		fb_crypto_keyring_free(kr);
	}

	/* Token responses. */
	resp.status = 200;
	resp.body =
	    UNCONST("{\"id_token\":\"a.b.c\",\"access_token\":\"at\",\"token_type\":\"bearer\","
	            "\"expires_in\":300}");
	resp.body_len = strlen(resp.body);
	CU_ASSERT_EQUAL(fb_oidc_token_response_parse(&resp, &t, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(t.id_token, "a.b.c");
	CU_ASSERT_STRING_EQUAL(t.access_token, "at");
	CU_ASSERT_EQUAL(t.expires_in, 300);
	fb_oidc_tokens_cleanup(&t);
	resp.body = UNCONST("{\"access_token\":\"at\",\"token_type\":\"Bearer\"}");
	resp.body_len = strlen(resp.body);
	CU_ASSERT_EQUAL(fb_oidc_token_response_parse(&resp, &t, &err), FB_ERR_INVALID);
	resp.body =
	    UNCONST("{\"id_token\":\"a.b.c\",\"access_token\":\"at\",\"token_type\":\"DPoP\"}");
	resp.body_len = strlen(resp.body);
	CU_ASSERT_EQUAL(fb_oidc_token_response_parse(&resp, &t, &err), FB_ERR_PROTOCOL);
	resp.body = UNCONST("<html>");
	resp.body_len = strlen(resp.body);
	CU_ASSERT_EQUAL(fb_oidc_token_response_parse(&resp, &t, &err), FB_ERR_INVALID);
	/* A code used twice: the provider's invalid_grant, reported, body not logged. */
	resp.status = 400;
	resp.body = UNCONST(
	    "{\"error\":\"invalid_grant\",\"error_description\":\"grant request is invalid\"}");
	resp.body_len = strlen(resp.body);
	CU_ASSERT_EQUAL(fb_oidc_token_response_parse(&resp, &t, &err), FB_ERR_UPSTREAM);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "HTTP 400, error=invalid_grant"));
	resp.status = 500;
	resp.body = UNCONST("oops");
	resp.body_len = 4;
	CU_ASSERT_EQUAL(fb_oidc_token_response_parse(&resp, &t, &err), FB_ERR_UPSTREAM);
	CU_ASSERT_PTR_NULL(t.id_token);

	/* userinfo: merged under the ID token's claims; another sub refused. */
	claims = json_pack("{s:s, s:s}", "sub", "alice", "iss", ISS);
	resp.status = 200;
	resp.body =
	    UNCONST("{\"sub\":\"alice\",\"iss\":\"https://evil\",\"email\":\"a@example.com\"}");
	resp.body_len = strlen(resp.body);
	CU_ASSERT_EQUAL(fb_oidc_userinfo_merge(&resp, claims, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(claims, "iss")), ISS);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(claims, "email")),
	    "a@example.com");
	resp.body = UNCONST("{\"sub\":\"mallory\",\"groups\":[\"admins\"]}");
	resp.body_len = strlen(resp.body);
	CU_ASSERT_EQUAL(fb_oidc_userinfo_merge(&resp, claims, &err), FB_ERR_PROTOCOL);
	CU_ASSERT_PTR_NULL(json_object_get(claims, "groups"));
	resp.status = 500;
	CU_ASSERT_EQUAL(fb_oidc_userinfo_merge(&resp, claims, &err), FB_ERR_UPSTREAM);
	json_decref(claims);
	fb_oidc_provider_cleanup(&p);
}

/* The provider: redirect URIs matched exactly (loopback ports free), PKCE S256 only, tokens. */
/* A client of the store into st: id, spec JSON, the hash of secret (may be NULL). */
static void
stored_add(struct fb_store *st, const char *id, const char *spec, const char *secret)
{
	char hash[FB_OIDC_SECRET_HASH_LEN];
	struct fb_err err;

	if (secret != NULL)
		fb_oidc_secret_hash(secret, hash);
	CU_ASSERT_EQUAL(fb_store_oidc_client_add(st,
			    &(struct fb_store_oidc_client){(char *)id, (char *)spec,
				secret != NULL ? hash : NULL, NULL, 0},
			    &err),
	    FB_OK);
}

/* 1 when op gives id a client_credentials token (the client is known and usable). */
static int
known(struct fb_oidc_op *op, const char *id)
{
	json_t *body = NULL;
	struct fb_err err;
	int ok = fb_oidc_op_client_token(op, id, NULL, &body, &err) == FB_OK;

	json_decref(body);
	return ok;
}

/*
 * Clients of the store: found after oidc.clients (which wins an id), read
 * again after the TTL (added, changed, removed), an unknown id remembered as
 * absent as long as a known one is remembered present, an unusable one refused.
 */
/* fb_oidc_op_consent_check's answer for user (-1 when it failed). */
static int
consent_needed(struct fb_store *st, const struct fb_oidc_authz_req *a, const char *user)
{
	struct fb_oidc_op_error e = {0};
	int needed = -1;

	if (fb_oidc_op_consent_check(st, a, user, &needed, &e) != FB_OK)
		return -1;
	return needed;
}

/* Consent of third-party clients: asked once per scopes, more scopes ask again, revoked. */
static void
test_op_consent(void)
{
	struct fb_conf_oidc_client third = {.id = (char *)"third", .first_party = 0,
	    .consent_lifetime = 3600};
	struct fb_conf_oidc_client first = {.id = (char *)"first", .first_party = 1,
	    .consent_lifetime = 3600};
	char *dir = fb_test_tmpdir(), *path = fb_xasprintf("%s/fedbroker.db", dir);
	struct fb_conf sc = {.state_dir = dir, .store_driver = FB_STORE_SQLITE, .store_path = path,
	    .store_busy_timeout_ms = 5000, .store_pool_size = 1};
	struct fb_oidc_authz_req a = {.client = &third, .scope = (char *)"openid profile"};
	struct fb_oidc_op_error e = {0};
	struct fb_store *st = NULL;
	struct fb_err err;
	unsigned char *val = NULL;
	size_t len = 0;
	int found = -1;

	CU_ASSERT_EQUAL_FATAL(fb_store_open(&sc, &st, &err), FB_OK);
	/* A first-party client is never asked, but for prompt=consent. */
	a.client = &first;
	CU_ASSERT_EQUAL(consent_needed(st, &a, "u1"), 0);
	a.prompt_consent = 1;
	CU_ASSERT_EQUAL(consent_needed(st, &a, "u1"), 1);
	a.prompt_consent = 0;
	/* A third-party one: asked until allowed; then the same or fewer scopes pass. */
	a.client = &third;
	CU_ASSERT_EQUAL(consent_needed(st, &a, "u1"), 1);
	CU_ASSERT_EQUAL(fb_oidc_op_consent_grant(st, &a, "u1", &e), FB_OK);
	CU_ASSERT_EQUAL(consent_needed(st, &a, "u1"), 0);
	a.scope = (char *)"profile";
	CU_ASSERT_EQUAL(consent_needed(st, &a, "u1"), 0);
	/* Per user. */
	CU_ASSERT_EQUAL(consent_needed(st, &a, "u2"), 1);
	/* More scopes: asked again; allowing them keeps the earlier ones. */
	a.scope = (char *)"openid email";
	CU_ASSERT_EQUAL(consent_needed(st, &a, "u1"), 1);
	CU_ASSERT_EQUAL(fb_oidc_op_consent_grant(st, &a, "u1", &e), FB_OK);
	CU_ASSERT_EQUAL(fb_store_kv_get(st, FB_OIDC_CONSENT_NS, "u1 third", &val, &len, &err),
	    FB_OK);
	/* Kept with the client's registration (0: configured). */
	CU_ASSERT_STRING_EQUAL((char *)val, "0 openid profile email");
	free(val);
	a.scope = (char *)"openid profile email";
	CU_ASSERT_EQUAL(consent_needed(st, &a, "u1"), 0);
	/* A client of the same id registered anew (a stored one removed and added) is asked. */
	third.registered = 42;
	CU_ASSERT_EQUAL(consent_needed(st, &a, "u1"), 1);
	third.registered = 0;
	/* prompt=consent asks even so. */
	a.prompt_consent = 1;
	CU_ASSERT_EQUAL(consent_needed(st, &a, "u1"), 1);
	a.prompt_consent = 0;
	/* Revoked: asked again; a second revoke finds nothing. */
	CU_ASSERT_EQUAL(fb_oidc_op_consent_revoke(st, "u1", "third", &found, &err), FB_OK);
	CU_ASSERT_EQUAL(found, 1);
	CU_ASSERT_EQUAL(consent_needed(st, &a, "u1"), 1);
	CU_ASSERT_EQUAL(fb_oidc_op_consent_revoke(st, "u1", "third", &found, &err), FB_OK);
	CU_ASSERT_EQUAL(found, 0);
	fb_store_close(st);
	fb_test_rmtree(dir);
	free(dir);
	free(path);
}

static void
test_op_stored_clients(void)
{
	static char *scopes[] = {(char *)"api"};
	struct fb_conf_oidc_client cl = {.id = (char *)"cfg", .type = FB_CONF_OIDC_SERVICE,
	    .secret = (char *)"cfg-secret-0123456789", .grants = FB_CONF_OIDC_GRANT_CLIENT,
	    .scopes = scopes, .nscopes = 1, .signing_alg = FB_CONF_OIDC_ES256,
	    .access_token_lifetime = 600, .id_token_lifetime = 600};
	struct fb_conf conf = {.public_url = (char *)"https://sso.example", .oidc_clients = &cl,
	    .noidc_clients = 1, .oidc_code_lifetime = 60};
	char *dir = fb_test_tmpdir(), *path = fb_xasprintf("%s/fedbroker.db", dir);
	struct fb_conf sc = {.state_dir = dir, .store_driver = FB_STORE_SQLITE, .store_path = path,
	    .store_busy_timeout_ms = 5000, .store_pool_size = 1};
	struct fb_keyring *kr = fixture_keyring("ec256");
	struct fb_oidc_op *op = NULL;
	struct fb_store *st = NULL;
	struct fb_oidc_op_reply out;
	struct fb_oidc_params p;
	struct fb_err err;
	json_t *body = NULL;
	int64_t saved = fb_oidc_stored_ttl_ms;

	CU_ASSERT_EQUAL_FATAL(fb_store_open(&sc, &st, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_oidc_op_new(&conf, kr, NULL, &op, &err), FB_OK);
	stored_add(st, "svc", "{\"id\":\"svc\",\"type\":\"service\",\"scopes\":[\"jobs\"]}",
	    "svc-secret-0123456789abcdef");
	/* Without the store: the configured clients only. */
	CU_ASSERT_TRUE(known(op, "cfg"));
	CU_ASSERT_FALSE(known(op, "svc"));
	fb_oidc_op_store_set(op, st);
	CU_ASSERT_TRUE(known(op, "svc"));
	CU_ASSERT_EQUAL(fb_oidc_op_client_token(op, "svc", "jobs", &body, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(body, "scope")), "jobs");
	json_decref(body);
	CU_ASSERT_PTR_NOT_NULL(fb_oidc_op_client_key(op, "svc"));
	/* The token endpoint authenticates it by the stored hash (a wrong secret refused). */
	memset(&p, 0, sizeof(p));
	p.grant_type = "client_credentials";
	p.client_id = "svc";
	p.client_secret = "svc-secret-0123456789abcdef";
	fb_oidc_op_token(op, st, NULL, &p, NULL, &out);
	CU_ASSERT_EQUAL(out.status, 200);
	fb_oidc_op_reply_cleanup(&out);
	p.client_secret = "svc-secret-0123456789abcdeX";
	fb_oidc_op_token(op, st, NULL, &p, NULL, &out);
	CU_ASSERT_EQUAL(out.status, 401);
	fb_oidc_op_reply_cleanup(&out);
	/* The configuration wins an id the store also has. */
	stored_add(st, "cfg", "{\"id\":\"cfg\",\"type\":\"service\",\"scopes\":[\"other\"]}",
	    "cfg-other-0123456789abcdef");
	CU_ASSERT_EQUAL(fb_oidc_op_client_token(op, "cfg", "api", &body, &err), FB_OK);
	json_decref(body);
	/* An unknown id is remembered absent for the TTL, as a known one present. */
	CU_ASSERT_FALSE(known(op, "late"));
	stored_add(st, "late", "{\"id\":\"late\",\"type\":\"service\",\"scopes\":[\"x\"]}",
	    "late-secret-0123456789abcdef");
	CU_ASSERT_EQUAL(fb_store_oidc_client_remove(st, "svc", &err), FB_OK);
	CU_ASSERT_FALSE(known(op, "late"));
	CU_ASSERT_TRUE(known(op, "svc"));
	/* After the TTL: read again. */
	fb_oidc_stored_ttl_ms = 0;
	CU_ASSERT_TRUE(known(op, "late"));
	CU_ASSERT_FALSE(known(op, "svc"));
	/* Changed (removed, added again as another type): the new one is used. */
	CU_ASSERT_EQUAL(fb_store_oidc_client_remove(st, "late", &err), FB_OK);
	stored_add(st, "late",
	    "{\"id\":\"late\",\"type\":\"confidential\",\"redirect_uris\":[\"https://a/cb\"]}",
	    "late-secret-0123456789abcdef");
	CU_ASSERT_FALSE(known(op, "late")); /* no client_credentials grant now */
	CU_ASSERT_PTR_NOT_NULL(fb_oidc_op_client_key(op, "late"));
	/* Unusable (its spec names another id; RS256 without an RSA key): unknown. */
	stored_add(st, "odd", "{\"id\":\"other\",\"type\":\"service\"}", "odd-secret-0123456789abc");
	CU_ASSERT_PTR_NULL(fb_oidc_op_client_key(op, "odd"));
	stored_add(st, "rsa",
	    "{\"id\":\"rsa\",\"type\":\"service\",\"signing_alg\":\"RS256\"}",
	    "rsa-secret-0123456789abcdef");
	CU_ASSERT_PTR_NULL(fb_oidc_op_client_key(op, "rsa"));
	CU_ASSERT_EQUAL(fb_oidc_op_client_token(op, "rsa", NULL, &body, &err), FB_ERR_NOTFOUND);
	fb_oidc_stored_ttl_ms = saved;
	fb_oidc_op_free(op);
	fb_crypto_keyring_free(kr);
	fb_store_close(st);
	fb_test_rmtree(dir);
	free(dir);
	free(path);
}

static void
test_op(void)
{
	static char *web_uris[] = {(char *)"https://app.example/cb", (char *)"http://127.0.0.1/cb"};
	static char *spa_uris[] = {(char *)"http://127.0.0.1/cb", (char *)"http://[::1]:8080/cb"};
	static char *scopes[] = {(char *)"openid", (char *)"email"};
	struct fb_conf_oidc_client cl[2] = {
	    {.id = (char *)"web", .type = FB_CONF_OIDC_CONFIDENTIAL,
		.secret = (char *)"web-secret-0123456789", .redirect_uris = web_uris,
		.nredirect_uris = 2, .grants = FB_CONF_OIDC_GRANT_CODE, .scopes = scopes,
		.nscopes = 2, .require_pkce = 0, .signing_alg = FB_CONF_OIDC_ES256,
		.access_token_lifetime = 600, .id_token_lifetime = 600},
	    {.id = (char *)"spa", .type = FB_CONF_OIDC_PUBLIC, .redirect_uris = spa_uris,
		.nredirect_uris = 2, .grants = FB_CONF_OIDC_GRANT_CODE, .scopes = scopes,
		.nscopes = 2, .require_pkce = 1, .signing_alg = FB_CONF_OIDC_RS256,
		.access_token_lifetime = 600, .id_token_lifetime = 600},
	};
	struct fb_conf conf = {.public_url = (char *)"https://sso.example/", .oidc_clients = cl,
	    .noidc_clients = 2, .oidc_code_lifetime = 60};
	struct fb_keyring *kr_ec = fixture_keyring("ec256"), *kr_rsa = fixture_keyring("rsa2048");
	struct fb_oidc_op *op = NULL;
	struct fb_oidc_authz_req a;
	struct fb_oidc_op_error e;
	struct fb_oidc_params p;
	struct fb_err err;
	struct fb_oidc_jwks *jwks = NULL;
	const char *doc;
	char *url, *jwt = NULL;
	json_t *claims = NULL, *got = NULL;
	static const char *const es[] = {"ES256", NULL};

	/* The parameter names are the struct's members, in order, one each. */
	{
		size_t n = 0;

		while (fb_oidc_param_names[n] != NULL)
			n++;
		CU_ASSERT_EQUAL(n, sizeof(struct fb_oidc_params) / sizeof(const char *));
		memset(&p, 0, sizeof(p));
		CU_ASSERT_PTR_EQUAL(fb_oidc_param_slot(&p, "acr_values"), &p.acr_values);
		CU_ASSERT_PTR_EQUAL(fb_oidc_param_slot(&p, "client_id"), &p.client_id);
		CU_ASSERT_PTR_EQUAL(fb_oidc_param_slot(&p, "code_verifier"), &p.code_verifier);
		CU_ASSERT_PTR_NULL(fb_oidc_param_slot(&p, "password"));
	}
	/* Exact match; a public client's loopback redirect may change its port only. */
	CU_ASSERT_TRUE(fb_oidc_redirect_uri_match(&cl[0], "https://app.example/cb"));
	CU_ASSERT_FALSE(fb_oidc_redirect_uri_match(&cl[0], "https://app.example/cb/"));
	CU_ASSERT_FALSE(fb_oidc_redirect_uri_match(&cl[0], "https://app.example:443/cb"));
	CU_ASSERT_FALSE(fb_oidc_redirect_uri_match(&cl[0], "https://app.example/cb?a=1"));
	CU_ASSERT_FALSE(fb_oidc_redirect_uri_match(&cl[0], "http://app.example/cb"));
	CU_ASSERT_FALSE(fb_oidc_redirect_uri_match(&cl[0], "http://127.0.0.1:9999/cb"));
	CU_ASSERT_FALSE(fb_oidc_redirect_uri_match(&cl[0], NULL));
	CU_ASSERT_TRUE(fb_oidc_redirect_uri_match(&cl[1], "http://127.0.0.1:53000/cb"));
	CU_ASSERT_TRUE(fb_oidc_redirect_uri_match(&cl[1], "http://[::1]/cb"));
	CU_ASSERT_FALSE(fb_oidc_redirect_uri_match(&cl[1], "http://127.0.0.1:53000/cb2"));
	CU_ASSERT_FALSE(fb_oidc_redirect_uri_match(&cl[1], "http://127.0.0.1:x/cb"));
	CU_ASSERT_FALSE(fb_oidc_redirect_uri_match(&cl[1], "http://127.0.0.10/cb"));
	CU_ASSERT_FALSE(fb_oidc_redirect_uri_match(&cl[1], "http://127.0.0.1.evil/cb"));

	/* No key of the client's algorithm: refused when built. */
	CU_ASSERT_EQUAL(fb_oidc_op_new(&conf, kr_ec, NULL, &op, &err), FB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "oidc.clients[1] (spa): signing_alg RS256"));
	cl[1].signing_alg = FB_CONF_OIDC_ES256;
	CU_ASSERT_EQUAL_FATAL(fb_oidc_op_new(&conf, kr_ec, NULL, &op, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(fb_oidc_op_issuer(op), "https://sso.example");
	doc = fb_oidc_op_discovery(op);
	CU_ASSERT_PTR_NOT_NULL(strstr(doc, "\"token_endpoint\":\"https://sso.example/oauth2/token\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(doc, "\"code_challenge_methods_supported\":[\"S256\"]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(fb_oidc_op_jwks(op), "\"kid\":\"k1\""));

	memset(&p, 0, sizeof(p));
	p.client_id = "nosuch";
	CU_ASSERT_EQUAL(fb_oidc_authz_check(op, &p, &a, &e), FB_ERR_NOTFOUND);
	fb_oidc_authz_req_cleanup(&a);
	p.client_id = "spa";
	p.redirect_uri = "http://127.0.0.1:4000/cb/";
	CU_ASSERT_EQUAL(fb_oidc_authz_check(op, &p, &a, &e), FB_ERR_NOTFOUND);
	fb_oidc_authz_req_cleanup(&a);
	p.redirect_uri = "http://127.0.0.1:4000/cb";
	p.state = "s";
	CU_ASSERT_EQUAL(fb_oidc_authz_check(op, &p, &a, &e), FB_ERR_PROTOCOL);
	CU_ASSERT_STRING_EQUAL(e.code, "unsupported_response_type");
	CU_ASSERT_STRING_EQUAL(a.state, "s");
	fb_oidc_authz_req_cleanup(&a);
	p.response_type = "code";
	p.scope = "openid email phone";
	CU_ASSERT_EQUAL(fb_oidc_authz_check(op, &p, &a, &e), FB_ERR_PROTOCOL);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.desc, "code_challenge (PKCE S256) is required"));
	fb_oidc_authz_req_cleanup(&a);
	p.code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
	CU_ASSERT_EQUAL(fb_oidc_authz_check(op, &p, &a, &e), FB_ERR_PROTOCOL);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.desc, "plain is refused"));
	fb_oidc_authz_req_cleanup(&a);
	p.code_challenge_method = "plain";
	CU_ASSERT_EQUAL(fb_oidc_authz_check(op, &p, &a, &e), FB_ERR_PROTOCOL);
	fb_oidc_authz_req_cleanup(&a);
	p.code_challenge_method = "S256";
	p.prompt = "none login";
	CU_ASSERT_EQUAL(fb_oidc_authz_check(op, &p, &a, &e), FB_ERR_PROTOCOL);
	fb_oidc_authz_req_cleanup(&a);
	p.prompt = "none consent"; /* OIDC Core 3.1.2.1: none alone */
	CU_ASSERT_EQUAL(fb_oidc_authz_check(op, &p, &a, &e), FB_ERR_PROTOCOL);
	fb_oidc_authz_req_cleanup(&a);
	p.prompt = "consent";
	CU_ASSERT_EQUAL(fb_oidc_authz_check(op, &p, &a, &e), FB_OK);
	CU_ASSERT_TRUE(a.prompt_consent);
	CU_ASSERT_FALSE(a.prompt_none);
	fb_oidc_authz_req_cleanup(&a);
	p.prompt = "none";
	p.max_age = "-1";
	CU_ASSERT_EQUAL(fb_oidc_authz_check(op, &p, &a, &e), FB_ERR_PROTOCOL);
	fb_oidc_authz_req_cleanup(&a);
	p.max_age = "300";
	CU_ASSERT_EQUAL(fb_oidc_authz_check(op, &p, &a, &e), FB_OK);
	/* Scopes the client may not have are dropped; the rest kept in order. */
	CU_ASSERT_STRING_EQUAL(a.scope, "openid email");
	CU_ASSERT_EQUAL(a.max_age, 300);
	CU_ASSERT_TRUE(a.prompt_none);
	url = fb_oidc_authz_response(op, a.redirect_uri, "c o+d", NULL, "s&t");
	CU_ASSERT_STRING_EQUAL(url, "http://127.0.0.1:4000/cb?code=c%20o%2Bd&state=s%26t"
	                            "&iss=https%3A%2F%2Fsso.example");
	free(url);
	e.code = "access_denied";
	snprintf(e.desc, sizeof(e.desc), "no");
	url = fb_oidc_authz_response(op, "https://app.example/cb?x=1", NULL, &e, NULL);
	CU_ASSERT_STRING_EQUAL(url, "https://app.example/cb?x=1&error=access_denied"
	                            "&error_description=no&iss=https%3A%2F%2Fsso.example");
	free(url);
	fb_oidc_authz_req_cleanup(&a);

	/* The one encoder and its checker: ES256 and RS256, typ enforced both ways. */
	claims = json_pack("{s:s, s:i}", "sub", "u1", "exp", 2000000000);
	CU_ASSERT_EQUAL(fb_oidc_jwt_sign(fb_crypto_keyring_active(kr_ec), "at+jwt", claims, &jwt, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_oidc_jwks_parse(fb_oidc_op_jwks(op), strlen(fb_oidc_op_jwks(op)), &jwks,
	                    &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_oidc_jwt_verify(jwt, jwks, es, "at+jwt", &got, NULL, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(got, "sub")), "u1");
	json_decref(got);
	got = NULL;
	CU_ASSERT_EQUAL(fb_oidc_jwt_verify(jwt, jwks, es, NULL, &got, NULL, &err), FB_ERR_PROTOCOL);
	CU_ASSERT_EQUAL(fb_oidc_jwt_verify(jwt, jwks, NULL, "at+jwt", &got, NULL, &err),
	    FB_ERR_SIGNATURE);
	free(jwt);
	CU_ASSERT_STRING_EQUAL(fb_oidc_key_alg(fb_crypto_keyring_active(kr_rsa)), "RS256");
	CU_ASSERT_EQUAL(fb_oidc_jwt_sign(fb_crypto_keyring_active(kr_rsa), "JWT", claims, &jwt, &err),
	    FB_OK);
	/* Signed by a key the JWKS does not hold. */
	CU_ASSERT_EQUAL(fb_oidc_jwt_verify(jwt, jwks, (const char *const[]){"RS256", NULL}, NULL,
	                    &got, NULL, &err),
	    FB_ERR_SIGNATURE);
	free(jwt);
	json_decref(claims);
	fb_oidc_jwks_free(jwks);
	fb_oidc_op_free(op);
	fb_crypto_keyring_free(kr_ec);
	fb_crypto_keyring_free(kr_rsa);
}

/* The claims of a compact JWS, not verified (new). */
static json_t *
jwt_claims(const char *jwt)
{
	const char *a = strchr(jwt, '.'), *b = a != NULL ? strchr(a + 1, '.') : NULL;
	char *part = b != NULL ? fb_xstrndup(a + 1, (size_t)(b - a - 1)) : NULL;
	unsigned char *raw = NULL;
	size_t n = 0;
	json_t *o = NULL;

	if (part != NULL && fb_b64url_decode(part, &raw, &n, NULL) == FB_OK)
		o = json_loadb((const char *)raw, n, 0, NULL);
	free(part);
	free(raw);
	return o;
}

/* RFC 8705: a certificate client's token is bound; fb_oidc_op_token_verify holds it to it. */
static void
test_op_mtls(void)
{
	static char *scopes[] = {(char *)"reports.read"};
	/* The thumbprint of tests/fixtures/keys/localhost.crt.pem. */
	struct fb_conf_oidc_client cl[3] = {
	    {.id = (char *)"robot",
	        .type = FB_CONF_OIDC_SERVICE,
	        .tls_thumbprint = (char *)"59q_5lbP6ykkiyXZfaK-dmNuInavJwfe5LyEeI0abRE",
	        .grants = FB_CONF_OIDC_GRANT_CLIENT,
	        .scopes = scopes,
	        .nscopes = 1,
	        .signing_alg = FB_CONF_OIDC_ES256,
	        .access_token_lifetime = 600},
	    {.id = (char *)"svc",
	        .type = FB_CONF_OIDC_SERVICE,
	        .secret = (char *)"svc-secret-0123456789",
	        .grants = FB_CONF_OIDC_GRANT_CLIENT,
	        .scopes = scopes,
	        .nscopes = 1,
	        .signing_alg = FB_CONF_OIDC_ES256,
	        .access_token_lifetime = 600},
	    /* RFC 8705 2.2.2: the certificates in its JWKS (x5c, x5t#S256). */
	    {.id = (char *)"robot-jwks",
	        .type = FB_CONF_OIDC_SERVICE,
	        .tls_self_signed = 1,
	        .grants = FB_CONF_OIDC_GRANT_CLIENT,
	        .scopes = scopes,
	        .nscopes = 1,
	        .signing_alg = FB_CONF_OIDC_ES256,
	        .access_token_lifetime = 600},
	};
	char *dir = fb_test_tmpdir(), *db = fb_xasprintf("%s/t.db", dir);
	struct fb_conf conf = {.public_url = (char *)"https://sso.example",
	    .oidc_clients = cl,
	    .noidc_clients = 3,
	    .oidc_code_lifetime = 60,
	    .state_dir = dir,
	    .store_driver = FB_STORE_SQLITE,
	    .store_path = db,
	    .store_busy_timeout_ms = 5000,
	    .store_pool_size = 1};
	struct fb_keyring *kr = fixture_keyring("ec256");
	struct fb_oidc_op *op = NULL;
	struct fb_store *st = NULL;
	struct fb_crypto_cert *cert = NULL, *other = NULL;
	struct fb_oidc_params p = {.grant_type = "client_credentials", .client_id = "robot"};
	struct fb_oidc_op_reply out;
	struct fb_err err = {0};
	json_t *body, *claims = NULL;
	char *at = NULL, *pem, *opem;
	const char *tp;
	size_t n = 0;

	pem = fb_test_read_src("tests/fixtures/keys/localhost.crt.pem", &n);
	{
		/* The JWKS: a made-up x5t#S256, then the fixture's certificate as x5c. */
		struct fb_buf b;
		char *x5c, *doc;

		fb_buf_init(&b, 65536);
		for (const char *l = strchr(pem, '\n') + 1; strncmp(l, "-----END", 8) != 0;
		     l = strchr(l, '\n') + 1)
			(void)fb_buf_add(&b, l, (size_t)(strchr(l, '\n') - l), NULL);
		x5c = fb_buf_take(&b);
		doc = fb_xasprintf(
		    "{\"keys\": [{\"kty\": \"EC\", \"x5t#S256\": "
		    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}, {\"kty\": \"RSA\", "
		    "\"x5c\": [\"%s\"]}]}",
		    x5c);
		cl[2].jwks = fb_test_write_file(dir, "robot.jwks", doc);
		free(doc);
		free(x5c);
		free(pem);
	}
	{
		/* A JWKS whose certificate is not one, or without any: refused when built. */
		char *keep = cl[2].jwks;

		cl[2].jwks =
		    fb_test_write_file(dir, "bad.jwks", "{\"keys\": [{\"x5c\": [\"AAAA\"]}]}");
		CU_ASSERT_EQUAL(fb_oidc_op_new(&conf, kr, NULL, &op, &err), FB_ERR_CONFIG);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "x5c[0] is not a certificate"));
		free(cl[2].jwks);
		cl[2].jwks =
		    fb_test_write_file(dir, "none.jwks", "{\"keys\": [{\"kty\": \"EC\"}]}");
		CU_ASSERT_EQUAL(fb_oidc_op_new(&conf, kr, NULL, &op, &err), FB_ERR_CONFIG);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no certificate"));
		free(cl[2].jwks);
		cl[2].jwks = keep;
	}
	CU_ASSERT_EQUAL_FATAL(fb_store_open(&conf, &st, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_oidc_op_new(&conf, kr, NULL, &op, &err), FB_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(fb_oidc_op_discovery(op),
	    "\"tls_client_certificate_bound_access_tokens\":true"));
	pem = fb_test_read_src("tests/fixtures/keys/localhost.crt.pem", &n);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_cert_parse(pem, n, &cert, &err), FB_OK);
	opem = fb_test_read_src("tests/fixtures/keys/ec256.crt.pem", &n);
	CU_ASSERT_EQUAL_FATAL(fb_crypto_cert_parse(opem, n, &other, &err), FB_OK);
	tp = fb_crypto_cert_thumbprint(cert);

	/* No certificate, another one, or a secret: invalid_client, nothing issued. */
	fb_oidc_op_token(op, st, NULL, &p, NULL, &out);
	CU_ASSERT_EQUAL(out.status, 401);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.body, "invalid_client"));
	CU_ASSERT_STRING_EQUAL(out.audit_event, "oidc_client_auth_failed");
	fb_oidc_op_reply_cleanup(&out);
	fb_oidc_op_token(op, st, NULL, &p, other, &out);
	CU_ASSERT_EQUAL(out.status, 401);
	CU_ASSERT_PTR_NULL(strstr(out.body, "access_token"));
	fb_oidc_op_reply_cleanup(&out);
	p.client_secret = "svc-secret-0123456789";
	fb_oidc_op_token(op, st, NULL, &p, cert, &out);
	CU_ASSERT_EQUAL(out.status, 401);
	fb_oidc_op_reply_cleanup(&out);
	p.client_secret = NULL;

	/* The pinned certificate: a token bound to it. */
	fb_oidc_op_token(op, st, NULL, &p, cert, &out);
	CU_ASSERT_EQUAL_FATAL(out.status, 200);
	body = json_loads(out.body, 0, NULL);
	at = fb_xstrdup(json_string_value(json_object_get(body, "access_token")));
	json_decref(body);
	fb_oidc_op_reply_cleanup(&out);
	claims = jwt_claims(at);
	CU_ASSERT_STRING_EQUAL(json_string_value(
	                           json_object_get(json_object_get(claims, "cnf"), "x5t#S256")),
	    tp);
	json_decref(claims);
	claims = NULL;
	CU_ASSERT_EQUAL(fb_oidc_op_token_verify(op, st, at, tp, &claims, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(claims, "client_id")), "robot");
	json_decref(claims);
	claims = NULL;
	CU_ASSERT_EQUAL(fb_oidc_op_token_verify(op, st, at, fb_crypto_cert_thumbprint(other),
	                    &claims, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_PTR_NULL(claims);
	CU_ASSERT_EQUAL(fb_oidc_op_token_verify(op, st, at, NULL, &claims, &err), FB_ERR_DENIED);
	CU_ASSERT_EQUAL(fb_oidc_op_token_verify(op, st, at, "", &claims, &err), FB_ERR_DENIED);
	CU_ASSERT_EQUAL(fb_oidc_op_token_verify(op, st, "x.y.z", tp, &claims, &err) == FB_OK, 0);
	free(at);

	/* The certificate of robot-jwks' JWKS (x5c); another one is refused. */
	p.client_id = "robot-jwks";
	fb_oidc_op_token(op, st, NULL, &p, other, &out);
	CU_ASSERT_EQUAL(out.status, 401);
	fb_oidc_op_reply_cleanup(&out);
	fb_oidc_op_token(op, st, NULL, &p, cert, &out);
	CU_ASSERT_EQUAL(out.status, 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.body, "access_token"));
	fb_oidc_op_reply_cleanup(&out);

	/* A secret client's token is not bound: good with or without a certificate. */
	p.client_id = "svc";
	p.client_secret = "svc-secret-0123456789";
	fb_oidc_op_token(op, st, NULL, &p, cert, &out);
	CU_ASSERT_EQUAL_FATAL(out.status, 200);
	body = json_loads(out.body, 0, NULL);
	at = fb_xstrdup(json_string_value(json_object_get(body, "access_token")));
	json_decref(body);
	fb_oidc_op_reply_cleanup(&out);
	CU_ASSERT_EQUAL(fb_oidc_op_token_verify(op, st, at, NULL, &claims, &err), FB_OK);
	CU_ASSERT_PTR_NULL(json_object_get(claims, "cnf"));
	json_decref(claims);
	claims = NULL;
	CU_ASSERT_EQUAL(fb_oidc_op_token_verify(op, st, at, tp, &claims, &err), FB_OK);
	json_decref(claims);
	free(at);

	fb_crypto_cert_free(cert);
	fb_crypto_cert_free(other);
	free(pem);
	free(opem);
	fb_oidc_op_free(op);
	fb_store_close(st);
	fb_crypto_keyring_free(kr);
	free(cl[2].jwks);
	fb_test_rmtree(dir);
	free(dir);
	free(db);
}

/* Forward auth's side of the provider: tokens minted for apps, checked with the skew. */
static void
test_op_access(void)
{
	struct fb_conf conf = {.public_url = (char *)"https://sso.example"};
	struct fb_conf other = {.public_url = (char *)"https://other.example"};
	struct fb_keyring *kr_ec = fixture_keyring("ec256"), *kr_rsa = fixture_keyring("rsa2048");
	struct fb_oidc_op *op = NULL, *op_rsa = NULL, *op_other = NULL;
	struct fb_err err;
	json_t *c = NULL;
	char *tok = NULL, *tok_rsa = NULL;

	CU_ASSERT_EQUAL_FATAL(fb_oidc_op_new(&conf, kr_ec, NULL, &op, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_oidc_op_new(&conf, kr_rsa, NULL, &op_rsa, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_oidc_op_new(&other, kr_ec, NULL, &op_other, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_oidc_op_app_token(op, "wiki", "u1", 300, NOW, &tok, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_oidc_op_access_verify(op, tok, NOW, 0, &c, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "aud")), "wiki");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "client_id")), "wiki");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "sub")), "u1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "iss")), "https://sso.example");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(c, "exp")), NOW + 300);
	CU_ASSERT_PTR_NOT_NULL(json_object_get(c, "jti"));
	json_decref(c);
	c = NULL;
	/* exp and nbf, give or take the skew. */
	CU_ASSERT_EQUAL(fb_oidc_op_access_verify(op, tok, NOW + 300, 0, &c, &err), FB_ERR_EXPIRED);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL(fb_oidc_op_access_verify(op, tok, NOW + 359, 60, &c, &err), FB_OK);
	json_decref(c);
	c = NULL;
	CU_ASSERT_EQUAL(fb_oidc_op_access_verify(op, tok, NOW + 360, 60, &c, &err), FB_ERR_EXPIRED);
	CU_ASSERT_EQUAL(fb_oidc_op_access_verify(op, tok, NOW - 61, 60, &c, &err), FB_ERR_EXPIRED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not valid yet"));
	CU_ASSERT_EQUAL(fb_oidc_op_access_verify(op, tok, NOW - 59, 60, &c, &err), FB_OK);
	json_decref(c);
	c = NULL;
	/* Another issuer's provider with the same key: not ours. A key it does not hold. */
	CU_ASSERT_EQUAL(fb_oidc_op_access_verify(op_other, tok, NOW, 0, &c, &err), FB_ERR_PROTOCOL);
	CU_ASSERT_EQUAL(fb_oidc_op_access_verify(op_rsa, tok, NOW, 0, &c, &err), FB_ERR_SIGNATURE);
	/* An RSA keyring signs RS256. */
	CU_ASSERT_EQUAL_FATAL(fb_oidc_op_app_token(op_rsa, "wiki", "u1", 300, NOW, &tok_rsa, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_oidc_op_access_verify(op_rsa, tok_rsa, NOW, 0, &c, &err), FB_OK);
	json_decref(c);
	c = NULL;
	CU_ASSERT_EQUAL(fb_oidc_op_access_verify(op, "a.b.c", NOW, 0, &c, &err) != FB_OK, 1);
	CU_ASSERT_PTR_NULL(c);
	/* The Authorization header's token. */
	CU_ASSERT_STRING_EQUAL(fb_oidc_bearer("Bearer  abc"), "abc");
	CU_ASSERT_STRING_EQUAL(fb_oidc_bearer("bearer x.y.z"), "x.y.z");
	CU_ASSERT_PTR_NULL(fb_oidc_bearer("Basic abc"));
	CU_ASSERT_PTR_NULL(fb_oidc_bearer("Bearer "));
	CU_ASSERT_PTR_NULL(fb_oidc_bearer(NULL));
	free(tok);
	free(tok_rsa);
	fb_oidc_op_free(op);
	fb_oidc_op_free(op_rsa);
	fb_oidc_op_free(op_other);
	fb_crypto_keyring_free(kr_ec);
	fb_crypto_keyring_free(kr_rsa);
}

int
fb_test_oidc_register(void)
{
	CU_pSuite s = CU_add_suite("oidc", keys_init, keys_cleanup);

	if (s == NULL ||
	    CU_add_test(s, "ID tokens that pass: RS256, ES256, PS256", test_good_tokens) == NULL ||
	    CU_add_test(s, "ID tokens refused: every bad case", test_bad_tokens) == NULL ||
	    CU_add_test(s, "JWKS parsing and the refetch rule", test_jwks) == NULL ||
	    CU_add_test(s, "tokens signed by panva's jose", test_jose_tokens) == NULL ||
	    CU_add_test(s, "RP: discovery", test_rp_discovery) == NULL ||
	    CU_add_test(s, "RP: authorization request, callback, logout", test_rp_authz) == NULL ||
	    CU_add_test(s, "RP: token request and responses, userinfo", test_rp_token) == NULL ||
	    CU_add_test(s, "the client's JWKS (private_key_jwt)", test_jwks_publish) == NULL ||
	    CU_add_test(s, "OP: redirect URIs, authorization requests, tokens", test_op) == NULL ||
	    CU_add_test(s, "OP: RFC 8705 certificate-bound tokens", test_op_mtls) == NULL ||
	    CU_add_test(s, "OP: access tokens for forward auth", test_op_access) == NULL ||
	    CU_add_test(s, "OP: clients of the store", test_op_stored_clients) == NULL ||
	    CU_add_test(s, "OP: consent of third-party clients", test_op_consent) == NULL)
		return -1;
	return 0;
}
