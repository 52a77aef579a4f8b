/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_saml_post.c: libFuzzer target for the HTTP-POST binding's
 * request decoders: a SAMLRequest form value (base64, then XML with its
 * enveloped signature), raw XML encoded into a valid value, and the bare
 * parameter decoder. AuthnRequests and LogoutRequests both.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_saml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, *b64, *rs, *out = NULL;
	unsigned mode;
	size_t len;

	if (size < 1 || size > FUZZ_SAML_MAX)
		return 0;
	fz_setup();
	mode = data[0] % 3;
	s = fz_str(data + 1, size - 1);
	/* A RelayState after the first newline, when there is one. */
	rs = strchr(s, '\n');
	if (rs != NULL)
		*rs++ = '\0';
	switch (mode) {
	case 0: /* the form value as posted */
		fz_run(FB_SAML_POST, NULL, s, rs);
		break;
	case 1: /* XML, base64-encoded into a valid value */
		b64 = fz_base64(data + 1, size - 1);
		fz_run(FB_SAML_POST, NULL, b64, NULL);
		free(b64);
		break;
	default: /* the parameter decoder alone */
		if (fb_saml_message_decode(s, 0, &out, &len, NULL) == FB_OK)
			free(out);
		break;
	}
	free(s);
	return 0;
}
