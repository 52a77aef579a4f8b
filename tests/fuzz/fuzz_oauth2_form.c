/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_oauth2_form.c: libFuzzer target for the OpenID provider's
 * token, introspection and revocation request bodies (http/oauth2.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/core.h"
#include "oidc/oidc.h"
#include "http/http.h"
#include "http/web.h"
#include "http/oauth2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fb_arena *a = fb_arena_new();
	struct fb_oidc_params p;
	struct fb_err err;

	/* Every parameter read is a bounded string, and no parameter is read twice. */
	if (fb_http_oauth2_params(a, (const char *)data, size, &p, &err) == FB_OK) {
		if (size > FB_HTTP_OAUTH2_BODY_MAX)
			__builtin_trap();
		for (size_t i = 0; fb_oidc_param_names[i] != NULL; i++) {
			const char *v = *fb_oidc_param_slot(&p, fb_oidc_param_names[i]);

			if (v != NULL && strlen(v) > FB_HTTP_FORM_VALUE_MAX)
				__builtin_trap();
		}
	} else if (err.msg[0] == '\0') {
		__builtin_trap(); /* a refusal always says why */
	}
	fb_arena_free(a);
	return 0;
}
