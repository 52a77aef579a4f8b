/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_saml_redirect.c: libFuzzer target for the HTTP-Redirect
 * binding's request decoders: raw query strings (parameters, percent
 * decoding, base64, inflate, the query signature), XML wrapped into a valid
 * SAMLRequest parameter, and the bare parameter decoder.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_saml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t dlen, plen;
	unsigned mode;
	uint8_t *defl;
	char *s, *b64, *p, *query, *out = NULL;
	int dup = 0;

	if (size < 1 || size > FUZZ_SAML_MAX)
		return 0;
	fz_setup();
	mode = data[0] % 3;
	s = fz_str(data + 1, size - 1);
	switch (mode) {
	case 0: /* the whole query string, as the browser sent it */
		fz_run(FB_SAML_REDIRECT, s, NULL, NULL);
		break;
	case 1: /* XML: DEFLATE, base64, percent-encoded into SAMLRequest */
		defl = fz_deflate_stored(data + 1, size - 1, &dlen);
		b64 = fz_base64(defl, dlen);
		p = fz_pct(b64);
		query = fb_xasprintf("SAMLRequest=%s&RelayState=fuzz", p);
		fz_run(FB_SAML_REDIRECT, query, NULL, NULL);
		free(query);
		free(p);
		free(b64);
		free(defl);
		break;
	default: /* the parameter decoder and the query parser alone */
		if (fb_saml_message_decode(s, 1, &out, &dlen, NULL) == FB_OK)
			free(out);
		(void)fb_saml_query_param(s, "SAMLRequest", &plen, &dup);
		(void)fb_saml_query_param(s, "Signature", &plen, &dup);
		break;
	}
	free(s);
	return 0;
}
