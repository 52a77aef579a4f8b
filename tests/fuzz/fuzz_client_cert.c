/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_client_cert.c: libFuzzer target for a TLS-ending proxy's
 * client-certificate header (fb_http_client_cert_header_parse: Envoy's
 * x-forwarded-client-cert and nginx's $ssl_client_escaped_cert), and the
 * certificate it yields (fb_crypto_cert_parse). The first byte chooses the
 * format (even: XFCC, odd: escaped PEM); the rest is the header's value.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "http/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fb_crypto_cert *c = NULL;
	char *s, *pem = NULL;
	enum fb_status r;

	if (size == 0)
		return 0;
	s = fb_xmalloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	r = fb_http_client_cert_header_parse(s,
	    (data[0] & 1) ? FB_CONF_MTLS_PEM : FB_CONF_MTLS_XFCC, &pem, NULL);
	/* SECURITY: a certificate comes out as PEM text, whole (no NUL inside), or nothing. */
	if ((r == FB_OK) != (pem != NULL))
		__builtin_trap();
	if (pem != NULL) {
		if (strstr(pem, "-----BEGIN CERTIFICATE-----") == NULL)
			__builtin_trap();
		if (fb_crypto_cert_parse(pem, strlen(pem), &c, NULL) == FB_OK &&
		    (c == NULL || strlen(fb_crypto_cert_thumbprint(c)) != 43))
			__builtin_trap();
		fb_crypto_cert_free(c);
	}
	free(pem);
	free(s);
	return 0;
}
