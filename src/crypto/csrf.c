/* SPDX-License-Identifier: Apache-2.0 */
/* crypto/csrf.c: CSRF tokens for forms, sealed and bound to the session. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/core.h"
#include "crypto/crypto.h"

#define CSRF_PURPOSE "csrf"
#define DIGEST_LEN   32

static enum fb_status
session_digest(const char *session_id, unsigned char *out, struct fb_err *err)
{
	unsigned int len;

	if (EVP_Digest(session_id, strlen(session_id), out, &len, EVP_sha256(), NULL) != 1)
		return fb_err_openssl(err, FB_ERR_INTERNAL, "hashing the session id");
	return FB_OK;
}

enum fb_status
fb_crypto_csrf_new(const struct fb_sealer *s, const char *session_id, int64_t lifetime, char **out,
    struct fb_err *err)
{
	unsigned char d[DIGEST_LEN];
	enum fb_status r;

	*out = NULL;
	if (lifetime <= 0)
		return fb_err_set(err, FB_ERR_INVALID,
		    "CSRF token lifetime must be positive, not %lld", (long long)lifetime);
	/* The digest, not the id: the token must not carry the session id itself. */
	if ((r = session_digest(session_id, d, err)) != FB_OK)
		return r;
	return fb_crypto_seal(s, CSRF_PURPOSE, d, sizeof(d), fb_time_now() + lifetime, out, err);
}

enum fb_status
fb_crypto_csrf_verify(const struct fb_sealer *s, const char *session_id, const char *token,
    struct fb_err *err)
{
	unsigned char d[DIGEST_LEN], *p = NULL;
	size_t n = 0;
	enum fb_status r;

	if ((r = fb_crypto_unseal(s, CSRF_PURPOSE, token, &p, &n, err)) != FB_OK)
		goto out;
	if ((r = session_digest(session_id, d, err)) != FB_OK)
		goto out;
	/* SECURITY: constant-time compare; a token from another session is refused. */
	if (n != sizeof(d) || fb_memeq_ct(p, d, sizeof(d)) != 0) {
		r = fb_err_set(err, FB_ERR_SIGNATURE, "CSRF token belongs to another session");
		goto out;
	}
	r = FB_OK;
out:
	free(p);
	return r;
}
