/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/test_oidc.c: ID token validation (oidc/jwt.c) with tokens made here with cjose. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>
#include <jansson.h>

#include "core/core.h"
#include "oidc/oidc.h"
#include "unit.h"

#define ISS    "https://op.example.org"
#define CLIENT "fedbroker"
#define NONCE  "n-0S6_WzA2Mj"
#define NOW    1700000000

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

int
fb_test_oidc_register(void)
{
	CU_pSuite s = CU_add_suite("oidc", keys_init, keys_cleanup);

	if (s == NULL ||
	    CU_add_test(s, "ID tokens that pass: RS256, ES256, PS256", test_good_tokens) == NULL ||
	    CU_add_test(s, "ID tokens refused: every bad case", test_bad_tokens) == NULL ||
	    CU_add_test(s, "JWKS parsing and the refetch rule", test_jwks) == NULL ||
	    CU_add_test(s, "tokens signed by panva's jose", test_jose_tokens) == NULL)
		return -1;
	return 0;
}
