/* SPDX-License-Identifier: Apache-2.0 */
/* crypto/internal.h: structures private to the crypto module. */
#ifndef FB_CRYPTO_INTERNAL_H
#define FB_CRYPTO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "conf/conf.h"

struct fb_key {
	char *id;
	char *key_file;
	char *cert_file;
	EVP_PKEY *pkey;
	X509 *cert;
	const char *alg; /* "RSA" or "EC", static */
	int bits;
	int64_t not_before; /* certificate start: when the key was published */
	int64_t not_after;
	enum fb_conf_key_state state;
};

struct fb_keyring {
	struct fb_key *keys;
	size_t n;
};

#define FB_SEAL_KEY_LEN 32
#define FB_SEAL_KID_LEN 4

struct fb_sealer {
	unsigned char (*keys)[FB_SEAL_KEY_LEN];
	unsigned char (*kids)[FB_SEAL_KID_LEN];
	size_t n;
};

#endif
