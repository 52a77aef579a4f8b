/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto/cert.c: client certificates for RFC 8705 (OAuth 2.0 mutual-TLS
 * client authentication and certificate-bound tokens): a presented
 * certificate parsed, its SHA-256 thumbprint, its subject DN and SANs
 * compared with a client's registration, its chain verified against a CA
 * bundle.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/core.h"
#include "crypto/crypto.h"

/* Most certificates read from one PEM text (the leaf and its intermediates). */
#define CERT_CHAIN_MAX 8
/* Chains verified remembered per CA bundle (by leaf thumbprint), and for how long (s). */
#define VERIFIED_MAX 64
#define VERIFIED_TTL 300

struct fb_crypto_cert {
	int refs;
	X509 *leaf;
	STACK_OF(X509) * chain; /* intermediates the client sent, maybe empty */
	char *thumbprint;       /* base64url(SHA-256(DER)) */
	char *subject;          /* RFC 4514 */
};

/* A leaf whose chain verified, until when (the sooner of VERIFIED_TTL and its notAfter). */
struct verified {
	char thumbprint[48];
	int64_t until;
};

struct verified_cache {
	struct verified e[VERIFIED_MAX]; /* round robin */
	size_t next;
};

struct fb_crypto_ca {
	X509_STORE *store;
	/*
	 * Verifying a chain costs an ECDSA or RSA verification per link: a
	 * client sending the same certificate again is served from here. Of
	 * one process (a worker's event loop), never shared.
	 */
	struct verified_cache *verified;
};

static char *
subject_text(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL, *s;
	long n;

	if (b == NULL)
		return fb_xstrdup("");
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) < 0)
		(void)BIO_reset(b);
	n = BIO_get_mem_data(b, &p);
	s = fb_xstrndup(p != NULL ? p : "", n > 0 ? (size_t)n : 0);
	BIO_free(b);
	return s;
}

struct fb_crypto_cert *
fb_crypto_cert_from_x509(X509 *leaf, STACK_OF(X509) * chain)
{
	struct fb_crypto_cert *c;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (leaf == NULL || X509_digest(leaf, EVP_sha256(), md, &mdlen) != 1)
		return NULL;
	c = fb_xcalloc(1, sizeof(*c));
	c->refs = 1;
	X509_up_ref(leaf);
	c->leaf = leaf;
	c->chain = chain != NULL ? X509_chain_up_ref(chain) : sk_X509_new_null();
	c->thumbprint = fb_b64url_encode(md, mdlen);
	c->subject = subject_text(leaf);
	return c;
}

enum fb_status
fb_crypto_cert_parse(const char *pem, size_t len, struct fb_crypto_cert **out, struct fb_err *err)
{
	BIO *b;
	X509 *leaf = NULL, *x;
	STACK_OF(X509) *chain = NULL;
	enum fb_status r = FB_ERR_INVALID;

	*out = NULL;
	if (pem == NULL || len == 0 || len > FB_CRYPTO_CERT_PEM_MAX)
		return fb_err_set(err, FB_ERR_INVALID, "no certificate, or one over %d bytes",
		    FB_CRYPTO_CERT_PEM_MAX);
	if ((b = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return fb_err_set(err, FB_ERR_NOMEM, "BIO");
	if ((leaf = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		ERR_clear_error();
		r = fb_err_set(err, FB_ERR_INVALID, "not a PEM certificate");
		goto out;
	}
	chain = sk_X509_new_null();
	while (sk_X509_num(chain) < CERT_CHAIN_MAX &&
	       (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(chain, x))
			X509_free(x);
	ERR_clear_error();
	if ((*out = fb_crypto_cert_from_x509(leaf, chain)) == NULL) {
		r = fb_err_set(err, FB_ERR_INVALID, "the certificate cannot be hashed");
		goto out;
	}
	r = FB_OK;
out:
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	BIO_free(b);
	return r;
}

struct fb_crypto_cert *
fb_crypto_cert_ref(struct fb_crypto_cert *c)
{
	c->refs++;
	return c;
}

void
fb_crypto_cert_free(struct fb_crypto_cert *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	X509_free(c->leaf);
	sk_X509_pop_free(c->chain, X509_free);
	free(c->thumbprint);
	free(c->subject);
	free(c);
}

const char *
fb_crypto_cert_thumbprint(const struct fb_crypto_cert *c)
{
	return c->thumbprint;
}

const char *
fb_crypto_cert_subject(const struct fb_crypto_cert *c)
{
	return c->subject;
}

/* 1 when the SAN gn is of type kind and value want, exactly (DNS names case-insensitively). */
static int
san_is(const GENERAL_NAME *gn, enum fb_crypto_san kind, const char *want)
{
	const ASN1_STRING *s;
	unsigned char ip[16];
	int iplen;

	switch (kind) {
	case FB_CRYPTO_SAN_DNS:
	case FB_CRYPTO_SAN_URI:
	case FB_CRYPTO_SAN_EMAIL:
		if (gn->type != (kind == FB_CRYPTO_SAN_DNS      ? GEN_DNS
		                    : kind == FB_CRYPTO_SAN_URI ? GEN_URI
		                                                : GEN_EMAIL))
			return 0;
		s = gn->d.ia5;
		if ((size_t)ASN1_STRING_length(s) != strlen(want) ||
		    memchr(ASN1_STRING_get0_data(s), '\0', (size_t)ASN1_STRING_length(s)) != NULL)
			return 0;
		return kind == FB_CRYPTO_SAN_DNS
		           ? strncasecmp((const char *)ASN1_STRING_get0_data(s), want,
		                 strlen(want)) == 0
		           : memcmp(ASN1_STRING_get0_data(s), want, strlen(want)) == 0;
	case FB_CRYPTO_SAN_IP:
		if (gn->type != GEN_IPADD)
			return 0;
		if (inet_pton(AF_INET, want, ip) == 1)
			iplen = 4;
		else if (inet_pton(AF_INET6, want, ip) == 1)
			iplen = 16;
		else
			return 0;
		s = gn->d.iPAddress;
		return ASN1_STRING_length(s) == iplen &&
		       memcmp(ASN1_STRING_get0_data(s), ip, (size_t)iplen) == 0;
	}
	return 0;
}

int
fb_crypto_cert_san_check(const struct fb_crypto_cert *c, enum fb_crypto_san kind, const char *want)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(c->leaf, NID_subject_alt_name, NULL, NULL);
	int found = 0;

	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names) && !found; i++)
		found = san_is(sk_GENERAL_NAME_value(names, i), kind, want);
	GENERAL_NAMES_free(names);
	return found;
}

enum fb_status
fb_crypto_ca_load(const char *file, struct fb_crypto_ca **out, struct fb_err *err)
{
	struct fb_crypto_ca *ca = fb_xcalloc(1, sizeof(*ca));

	*out = NULL;
	ca->verified = fb_xcalloc(1, sizeof(*ca->verified));
	if ((ca->store = X509_STORE_new()) == NULL || X509_STORE_load_file(ca->store, file) != 1) {
		fb_crypto_ca_free(ca);
		return fb_err_openssl(err, FB_ERR_CONFIG, "CA bundle %s", file);
	}
	*out = ca;
	return FB_OK;
}

void
fb_crypto_ca_free(struct fb_crypto_ca *ca)
{
	if (ca == NULL)
		return;
	X509_STORE_free(ca->store);
	free(ca->verified);
	free(ca);
}

enum fb_status
fb_crypto_cert_chain_verify(const struct fb_crypto_cert *c, const struct fb_crypto_ca *ca,
    int64_t now, struct fb_err *err)
{
	X509_STORE_CTX *ctx = NULL;
	enum fb_status r = FB_ERR_SIGNATURE;
	struct verified *v;
	int64_t until = now + VERIFIED_TTL;
	ASN1_TIME *t;
	int days = 0, secs = 0;

	for (size_t i = 0; i < VERIFIED_MAX; i++)
		if (ca->verified->e[i].until > now &&
		    strcmp(ca->verified->e[i].thumbprint, c->thumbprint) == 0)
			return FB_OK;
	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(ctx, ca->store, c->leaf, c->chain) != 1) {
		r = fb_err_openssl(err, FB_ERR_INTERNAL, "certificate verification");
		goto out;
	}
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);

		ERR_clear_error();
		r = fb_err_set(err,
		    e == X509_V_ERR_CERT_HAS_EXPIRED ? FB_ERR_EXPIRED : FB_ERR_SIGNATURE,
		    "the certificate chain is not trusted: %s", X509_verify_cert_error_string(e));
		goto out;
	}
	/* Remembered no longer than the leaf is valid. */
	t = ASN1_TIME_new();
	if (t != NULL && ASN1_TIME_set(t, (time_t)now) != NULL &&
	    ASN1_TIME_diff(&days, &secs, t, X509_get0_notAfter(c->leaf)) == 1 &&
	    (int64_t)days * 86400 + secs < VERIFIED_TTL)
		until = now + (int64_t)days * 86400 + secs;
	ASN1_TIME_free(t);
	if (until > now && strlen(c->thumbprint) < sizeof(v->thumbprint)) {
		v = &ca->verified->e[ca->verified->next++ % VERIFIED_MAX];
		memcpy(v->thumbprint, c->thumbprint, strlen(c->thumbprint) + 1);
		v->until = until;
	}
	r = FB_OK;
out:
	X509_STORE_CTX_free(ctx);
	return r;
}
