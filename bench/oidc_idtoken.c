/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/oidc_idtoken.c: ID-token validations per second through the code
 * path of the OIDC callback (fb_oidc_idtoken_verify on the compact token
 * with the cached JWKS: the JWS parse, alg allow-list, kid look-up, the
 * signature through libcjose, iss/aud/azp/exp/iat/nbf/nonce/at_hash, then
 * the issuer and subject that http/oidc_rp.c hands to the linking step),
 * for RS256 (RSA-2048) and ES256 (P-256), next to a bare EVP verification
 * of the same signature with the same key. CPU time of this process, so
 * neighbours on the machine do not inflate it (issue 11 "Benchmark":
 * target: the non-crypto work costs less than the signature check).
 *
 *   make bench/oidc_idtoken && ./bench/oidc_idtoken [N]     (default N = 4000)
 *
 * One line per algorithm, machine-readable for bench/upstream.sh:
 *   ALG validations_per_s verifications_per_s token_bytes
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "bench.h"
#include "core/core.h"
#include "oidc/oidc.h"

#define ISS "https://idp.example.com"
#define AUD "fedbroker"

static char *
b64_bn(EVP_PKEY *pk, const char *param, int pad)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	int n;

	if (EVP_PKEY_get_bn_param(pk, param, &bn) != 1)
		return NULL;
	n = pad > 0 ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	BN_free(bn);
	return n > 0 ? fb_b64url_encode(buf, (size_t)n) : NULL;
}

/* The public JWK of pk, kid kid. New. */
static json_t *
public_jwk(EVP_PKEY *pk, int ec, const char *kid)
{
	char *a, *b;
	json_t *j;

	if (ec) {
		a = b64_bn(pk, OSSL_PKEY_PARAM_EC_PUB_X, 32);
		b = b64_bn(pk, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
		j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", a,
		    "y", b, "kid", kid, "use", "sig");
	} else {
		a = b64_bn(pk, OSSL_PKEY_PARAM_RSA_N, 0);
		b = b64_bn(pk, OSSL_PKEY_PARAM_RSA_E, 0);
		j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "n", a, "e", b, "kid", kid,
		    "use", "sig");
	}
	free(a);
	free(b);
	return j;
}

/* base64url of the JSON text of j. New. */
static char *
b64_json(json_t *j)
{
	char *t = json_dumps(j, JSON_COMPACT), *r = fb_b64url_encode(t, strlen(t));

	free(t);
	return r;
}

/* SHA-256 signature of input with pk: *der (as OpenSSL gives it) and the JWS form. */
static int
sign(EVP_PKEY *pk, int ec, const char *input, unsigned char *der, size_t *derlen, char **jws)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char raw[64];
	const unsigned char *q = der;
	ECDSA_SIG *es = NULL;
	int ok = 0;

	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk) != 1 ||
	    EVP_DigestSign(ctx, der, derlen, (const unsigned char *)input, strlen(input)) != 1)
		goto out;
	if (ec) {
		if ((es = d2i_ECDSA_SIG(NULL, &q, (long)*derlen)) == NULL ||
		    BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32) != 32 ||
		    BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32) != 32)
			goto out;
		*jws = fb_b64url_encode(raw, sizeof(raw));
	} else {
		*jws = fb_b64url_encode(der, *derlen);
	}
	ok = 1;
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(ctx);
	return ok;
}

static int
run(const char *alg, long n)
{
	int ec = strcmp(alg, "ES256") == 0;
	EVP_PKEY *pk = ec ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
	json_t *jwks_doc, *hdr, *claims, *groups;
	struct fb_oidc_jwks *jwks = NULL;
	struct fb_oidc_idtoken_check chk = {0};
	const char *const allow[] = {"RS256", "ES256", "PS256", NULL};
	unsigned char der[1024];
	size_t derlen = sizeof(der);
	char *text, *h, *c, *input, *sig = NULL, *jwt;
	struct fb_err err = {0};
	double t0, val_s, ver_s;
	int64_t now = fb_time_now();

	if (pk == NULL)
		return 1;
	/* The provider's JWKS, parsed once as the worker's cache holds it: two keys (rollover). */
	jwks_doc = json_pack("{s:[o]}", "keys", public_jwk(pk, ec, "k2"));
	text = json_dumps(jwks_doc, JSON_COMPACT);
	if (fb_oidc_jwks_parse(text, strlen(text), &jwks, &err) != FB_OK)
		goto fail;
	free(text);
	json_decref(jwks_doc);

	/* An ID token as providers send them: standard claims, email, a few groups. */
	hdr = json_pack("{s:s, s:s, s:s}", "alg", alg, "kid", "k2", "typ", "JWT");
	groups = json_pack("[s, s, s]", "everyone", "dev", "aws-admins");
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:b, s:s, s:o}", "iss", ISS,
	    "sub", "248289761001", "aud", AUD, "exp", (json_int_t)(now + 3600), "iat",
	    (json_int_t)now, "auth_time", (json_int_t)now, "nonce", "n-0S6_WzA2Mj", "email",
	    "alice@example.com", "email_verified", 1, "name", "Alice Example", "groups", groups);
	h = b64_json(hdr);
	c = b64_json(claims);
	input = fb_xasprintf("%s.%s", h, c);
	if (!sign(pk, ec, input, der, &derlen, &sig))
		return 1;
	jwt = fb_xasprintf("%s.%s", input, sig);
	json_decref(hdr);
	json_decref(claims);

	chk.issuer = ISS;
	chk.client_id = AUD;
	chk.algorithms = allow;
	chk.nonce = "n-0S6_WzA2Mj";
	chk.skew = 60;

	/* The callback's path, N times. */
	t0 = cpu_now();
	for (long i = 0; i < n; i++) {
		enum fb_oidc_idtoken_why why;
		json_t *out = NULL;

		chk.now = fb_time_now();
		if (fb_oidc_idtoken_verify(jwt, jwks, &chk, &out, &why, &err) != FB_OK)
			goto fail;
		/* What do_finish hands to the linking step. */
		if (json_string_value(json_object_get(out, FB_OIDC_C_ISS)) == NULL ||
		    json_string_value(json_object_get(out, FB_OIDC_C_SUB)) == NULL)
			return 1;
		json_decref(out);
	}
	val_s = (cpu_now() - t0) / (double)n;

	/* The bare signature check: the same signature, the same key, N times. */
	t0 = cpu_now();
	for (long i = 0; i < n; i++) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pk) != 1 ||
		    EVP_DigestVerify(ctx, der, derlen, (const unsigned char *)input,
		        strlen(input)) != 1)
			return 1;
		EVP_MD_CTX_free(ctx);
	}
	ver_s = (cpu_now() - t0) / (double)n;

	printf("%s %.0f %.0f %zu\n", alg, 1.0 / val_s, 1.0 / ver_s, strlen(jwt));
	free(h);
	free(c);
	free(input);
	free(sig);
	free(jwt);
	fb_oidc_jwks_free(jwks);
	EVP_PKEY_free(pk);
	return 0;
fail:
	fprintf(stderr, "oidc_idtoken: %s: %s\n", alg, err.msg);
	return 1;
}

int
main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 4000;

	if (n <= 0) {
		fprintf(stderr, "usage: oidc_idtoken [N]\n");
		return 2;
	}
	return run("RS256", n) || run("ES256", n);
}
