/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_jwt.c: libFuzzer target for the ID token checks and the
 * JWKS parser (oidc/jwt.c). An input starting with '{' is a JWKS document;
 * anything else is an ID token checked against tests/fixtures/oidc/jwks.json
 * (seeds: tests/peers/oidc/gen_jwt_corpus.mjs).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "oidc/oidc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fb_oidc_jwks *
fixture_jwks(void)
{
	static struct fb_oidc_jwks *jwks;
	char buf[16384];
	size_t n;
	FILE *f;

	if (jwks != NULL)
		return jwks;
	if ((f = fopen(FB_FIXTURES_DIR "/oidc/jwks.json", "r")) == NULL)
		abort();
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (fb_oidc_jwks_parse(buf, n, &jwks, NULL) != FB_OK || fb_oidc_jwks_count(jwks) != 2)
		abort();
	return jwks;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const algs[] = {"RS256", "PS256", "ES256", NULL};
	struct fb_oidc_idtoken_check chk = {
	    .issuer = "https://op.example.org",
	    .client_id = "fedbroker",
	    .algorithms = algs,
	    .nonce = "n1",
	    .access_token = "at",
	    .now = 1700000000,
	    .skew = 60,
	};
	struct fb_oidc_jwks *parsed = NULL;
	json_t *claims = NULL;
	struct fb_err err;
	char *s;

	if (size > 0 && data[0] == '{') {
		if (fb_oidc_jwks_parse((const char *)data, size, &parsed, &err) == FB_OK &&
		    fb_oidc_jwks_count(parsed) > FB_OIDC_JWKS_MAX_KEYS)
			__builtin_trap();
		fb_oidc_jwks_free(parsed);
		return 0;
	}
	s = fb_xstrndup((const char *)data, size);
	/* Only a token made with the fixture keys for this client may pass. */
	if (fb_oidc_idtoken_verify(s, fixture_jwks(), &chk, &claims, NULL, &err) == FB_OK &&
	    strcmp(json_string_value(json_object_get(claims, "iss")), chk.issuer) != 0)
		__builtin_trap();
	json_decref(claims);
	free(s);
	return 0;
}
