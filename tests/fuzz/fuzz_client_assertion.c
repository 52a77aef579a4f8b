/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_client_assertion.c: libFuzzer target for the OpenID
 * provider's private_key_jwt client assertions (oidc/op.c): the input is
 * the assertion, checked for the client "fedbroker" whose keys are
 * tests/fixtures/oidc/jwks.json (seeds: ID tokens of the jwt corpus).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "oidc/oidc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fb_oidc_op *
fixture_op(void)
{
	static struct fb_oidc_op *op;
	static struct fb_conf_key key = {.id = (char *)"k1",
	    .key_file = (char *)FB_FIXTURES_DIR "/keys/ec256.key.pem",
	    .cert_file = (char *)FB_FIXTURES_DIR "/keys/ec256.crt.pem",
	    .state = FB_KEY_ACTIVE};
	static struct fb_conf_oidc_client cl = {.id = (char *)"fedbroker",
	    .type = FB_CONF_OIDC_SERVICE,
	    .jwks = (char *)FB_FIXTURES_DIR "/oidc/jwks.json",
	    .grants = FB_CONF_OIDC_GRANT_CLIENT,
	    .access_token_lifetime = 600};
	static struct fb_conf conf = {.public_url = (char *)"https://op.example.org",
	    .keys = &key,
	    .nkeys = 1,
	    .oidc_clients = &cl,
	    .noidc_clients = 1};
	static struct fb_keyring *kr;

	if (op != NULL)
		return op;
	if (fb_crypto_keyring_load(&conf, &kr, NULL) != FB_OK ||
	    fb_oidc_op_new(&conf, kr, NULL, &op, NULL) != FB_OK)
		abort();
	return op;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fb_conf_oidc_client *cl = NULL;
	struct fb_oidc_op_error e;
	char *s = fb_xstrndup((const char *)data, size), *jti = NULL;
	int64_t exp = 0;

	/* A pass names the client, a jti and an exp within the bound; a refusal says why. */
	if (fb_oidc_op_assertion_check(fixture_op(), s, NULL, 1700000000, &cl, &jti, &exp, &e) ==
	    FB_OK) {
		if (cl == NULL || jti == NULL || exp <= 1700000000 ||
		    exp > 1700000000 + FB_OIDC_ASSERTION_MAX_LIFETIME)
			__builtin_trap();
	} else if (e.code == NULL || strcmp(e.code, "invalid_client") != 0 || cl != NULL) {
		__builtin_trap();
	}
	free(jti);
	free(s);
	return 0;
}
