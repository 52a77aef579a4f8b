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

/*
 * Raw DEFLATE (RFC 1951) of n bytes in stored blocks: valid input for the
 * Redirect binding's inflate without a compressor. New, length in *outlen.
 */
static uint8_t *
fz_deflate_stored(const uint8_t *p, size_t n, size_t *outlen)
{
	size_t blocks = n / 65535 + 1, o = 0;
	uint8_t *out = fb_xmalloc(n + 5 * blocks);

	do {
		size_t len = n > 65535 ? 65535 : n;

		out[o++] = n == len ? 1 : 0; /* BFINAL on the last block, BTYPE 00 */
		out[o++] = (uint8_t)(len & 0xff);
		out[o++] = (uint8_t)(len >> 8);
		out[o++] = (uint8_t)(~len & 0xff);
		out[o++] = (uint8_t)((~len >> 8) & 0xff);
		if (len > 0)
			memcpy(out + o, p, len);
		o += len;
		p += len;
		n -= len;
	} while (n > 0);
	*outlen = o;
	return out;
}

/* Percent-encodes s (RFC 3986 unreserved characters kept). New. */
static char *
fz_pct(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = fb_xmalloc(3 * strlen(s) + 1), *q = out;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			*q++ = (char)c;
		} else {
			*q++ = '%';
			*q++ = hex[c >> 4];
			*q++ = hex[c & 15];
		}
	}
	*q = '\0';
	return out;
}

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
