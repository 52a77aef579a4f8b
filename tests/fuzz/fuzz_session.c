/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_session.c: libFuzzer target for the session cookie opener
 * (fb_http_session_open: sealed token parse, then the JSON payload). The
 * input is tried as a cookie value, and its bytes are also sealed as a
 * payload with the key, so the JSON checks behind the seal get fuzzed too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "http/web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
open_one(const struct fb_sealer *sealer, const char *token)
{
	struct fb_http_session s;
	struct fb_err err;

	if (fb_http_session_open(sealer, token, &s, &err) == FB_OK &&
	    (s.sid == NULL || s.user_id == NULL || s.username == NULL))
		__builtin_trap();
	fb_http_session_cleanup(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char key[1][32] = {{7, 1, 2, 3}};
	static struct fb_sealer *sealer;
	char *s = fb_xmalloc(size + 1), *token = NULL;
	struct fb_err err;

	if (sealer == NULL)
		sealer = fb_crypto_sealer_new(key, 1);
	memcpy(s, data, size);
	s[size] = '\0';
	open_one(sealer, s);
	if (fb_crypto_seal(sealer, FB_HTTP_SESSION_PURPOSE, s, size, fb_time_now() + 60, &token,
	        &err) == FB_OK)
		open_one(sealer, token);
	free(token);
	free(s);
	return 0;
}
