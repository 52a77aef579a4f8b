/* SPDX-License-Identifier: Apache-2.0 */
/* core/rand.c: CSPRNG bytes, tokens, hex and base64url encodings. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/core.h"

void
fb_rand_bytes(void *p, size_t n)
{
	/* SECURITY: OpenSSL's DRBG reseeds after fork(); glib's generator does not. */
	if (n > 0 && RAND_bytes(p, (int)n) != 1) {
		fb_log_write(FB_LOG_ERROR, "app", __func__, NULL, NULL, "CSPRNG failure");
		abort();
	}
}

int
fb_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void
fb_hex_encode(const void *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

char *
fb_b64url_encode(const void *p, size_t n)
{
	size_t cap = 4 * ((n + 2) / 3) + 1, i, j;
	char *out = fb_xmalloc(cap);
	int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);

	for (i = 0, j = 0; i < (size_t)len; i++) {
		if (out[i] == '=')
			break;
		out[j++] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	}
	out[j] = '\0';
	return out;
}

enum fb_status
fb_b64url_decode(const char *s, unsigned char **out, size_t *outlen, struct fb_err *err)
{
	size_t n = strlen(s), i, padded;
	char *tmp;
	unsigned char *buf;
	int len;

	*out = NULL;
	*outlen = 0;
	while (n > 0 && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return fb_err_set(err, FB_ERR_INVALID, "base64url: bad length");
	padded = (n + 3) / 4 * 4;
	tmp = fb_xmalloc(padded + 1);
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			       (c >= '0' && c <= '9'))) {
			free(tmp);
			return fb_err_set(err, FB_ERR_INVALID, "base64url: bad character");
		}
		tmp[i] = c;
	}
	for (; i < padded; i++)
		tmp[i] = '=';
	tmp[padded] = '\0';
	buf = fb_xmalloc(padded / 4 * 3 + 1);
	len = EVP_DecodeBlock(buf, (unsigned char *)tmp, (int)padded);
	free(tmp);
	if (len < 0) {
		free(buf);
		return fb_err_set(err, FB_ERR_INVALID, "base64url: undecodable");
	}
	/* EVP_DecodeBlock counts the padding as zero bytes: remove them. */
	len -= (int)(padded - n);
	*out = buf;
	*outlen = (size_t)len;
	return FB_OK;
}

char *
fb_rand_token(size_t nbytes)
{
	unsigned char buf[128];
	char *s;

	if (nbytes > sizeof(buf))
		nbytes = sizeof(buf);
	fb_rand_bytes(buf, nbytes);
	s = fb_b64url_encode(buf, nbytes);
	fb_secret_wipe(buf, nbytes);
	return s;
}

int
fb_memeq_ct(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n);
}
