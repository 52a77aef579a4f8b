/* SPDX-License-Identifier: Apache-2.0 */
/* saml/sign.c: XML signatures and encryption with xmlsec over preloaded keys, and query signatures. */
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/nodeset.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmlenc.h>
#include <xmlsec/templates.h>
#include <xmlsec/crypto.h>

#include "core/core.h"
#include "saml/saml.h"
#include "saml/internal.h"

const char *
fb_saml_alg_uri(enum fb_conf_saml_alg alg)
{
	switch (alg) {
	case FB_CONF_SAML_RSA_SHA384:
		return "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
	case FB_CONF_SAML_RSA_SHA512:
		return "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
	case FB_CONF_SAML_ECDSA_SHA256:
		return "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
	case FB_CONF_SAML_RSA_SHA1:
		return "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
	case FB_CONF_SAML_RSA_SHA256:
	default:
		return "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
	}
}

/* The signature and digest transforms of alg (the digest follows the signature's hash). */
static void
alg_transforms(enum fb_conf_saml_alg alg, xmlSecTransformId *sig, xmlSecTransformId *dig)
{
	switch (alg) {
	case FB_CONF_SAML_RSA_SHA384:
		*sig = xmlSecTransformRsaSha384Id;
		*dig = xmlSecTransformSha384Id;
		break;
	case FB_CONF_SAML_RSA_SHA512:
		*sig = xmlSecTransformRsaSha512Id;
		*dig = xmlSecTransformSha512Id;
		break;
	case FB_CONF_SAML_ECDSA_SHA256:
		*sig = xmlSecTransformEcdsaSha256Id;
		*dig = xmlSecTransformSha256Id;
		break;
	case FB_CONF_SAML_RSA_SHA1:
		*sig = xmlSecTransformRsaSha1Id;
		*dig = xmlSecTransformSha1Id;
		break;
	case FB_CONF_SAML_RSA_SHA256:
	default:
		*sig = xmlSecTransformRsaSha256Id;
		*dig = xmlSecTransformSha256Id;
		break;
	}
}

/*
 * Runs exclusive c14n of nodes, then tr (a digest, or a signature with key),
 * through xmlsec's transforms; *out gets the resulting bytes (malloc'd).
 */
static int
c14n_then(xmlSecNodeSetPtr nodes, xmlSecTransformId tr, xmlSecKeyPtr key, unsigned char **out,
    size_t *outlen)
{
	xmlSecTransformCtx ctx;
	xmlSecTransformPtr last;
	int r = -1;

	*out = NULL;
	*outlen = 0;
	if (nodes == NULL)
		return -1;
	if (xmlSecTransformCtxInitialize(&ctx) < 0) {
		xmlSecNodeSetDestroy(nodes);
		return -1;
	}
	if (xmlSecTransformCtxCreateAndAppend(&ctx, xmlSecTransformExclC14NId) == NULL ||
	    (last = xmlSecTransformCtxCreateAndAppend(&ctx, tr)) == NULL)
		goto out;
	last->operation = xmlSecTransformOperationSign;
	if (key != NULL && xmlSecTransformSetKey(last, key) < 0)
		goto out;
	if (xmlSecTransformCtxXmlExecute(&ctx, nodes) < 0 || ctx.result == NULL ||
	    xmlSecBufferGetSize(ctx.result) == 0)
		goto out;
	*outlen = xmlSecBufferGetSize(ctx.result);
	*out = fb_xmalloc(*outlen);
	memcpy(*out, xmlSecBufferGetData(ctx.result), *outlen);
	r = 0;
out:
	xmlSecTransformCtxFinalize(&ctx);
	xmlSecNodeSetDestroy(nodes);
	return r;
}

/*
 * An enveloped signature of node (SAML2 Core 5.4: one Reference to the
 * node's ID, enveloped-signature and exclusive c14n transforms). xmlsec's
 * transforms canonicalize, digest and sign; the steps of its generic
 * signing context that cost without adding anything for a signature we lay
 * out ourselves are skipped: resolving "#ID" through an XPath context, the
 * key's type lookup (a private-exponent export from OpenSSL 3 per signature),
 * re-reading the template we just wrote, and base64-encoding the certificate
 * again for KeyInfo.
 *
 * The digest is taken before the Signature is inserted, which is what the
 * enveloped-signature transform gives a verifier after. The Signature is
 * built in a document of its own: c14n walks a whole document, and there
 * SignedInfo's walk does not cross the node it signs.
 */
enum fb_status
fb_saml_sign_node(xmlNodePtr node, const struct fb_saml_key *key, enum fb_conf_saml_alg alg,
    int after_first, struct fb_err *err)
{
	xmlSecTransformId sig_id, dig_id;
	xmlDocPtr sdoc = NULL;
	xmlNodePtr sig, ref, si, first, ki, x509, cert;
	xmlSecNodeSetPtr nodes;
	unsigned char *bytes = NULL;
	size_t n = 0;
	xmlChar *id;
	char *uri = NULL, *b64 = NULL;
	enum fb_status r = FB_ERR_INTERNAL;

	if ((alg == FB_CONF_SAML_ECDSA_SHA256) != (key->is_ec != 0))
		return fb_err_set(err, FB_ERR_CONFIG,
		    "key '%s' is %s but the signature algorithm is %s", key->id,
		    key->is_ec ? "EC" : "RSA", fb_saml_alg_uri(alg));
	alg_transforms(alg, &sig_id, &dig_id);
	if ((id = xmlGetProp(node, BAD_CAST "ID")) == NULL)
		return fb_err_set(err, r, "the node to sign has no ID");
	uri = fb_xasprintf("#%s", (const char *)id);
	xmlFree(id);
	/*
	 * The "#ID" reference selects the node's subtree without comments. When
	 * that is the whole document, a set without nodes says so and spares
	 * c14n an ancestor walk per node.
	 */
	nodes = node->doc->children == node && node->next == NULL
	            ? xmlSecNodeSetCreate(node->doc, NULL, xmlSecNodeSetTreeWithoutComments)
	            : xmlSecNodeSetGetChildren(node->doc, node, 0, 0);
	if (c14n_then(nodes, dig_id, NULL, &bytes, &n) < 0) {
		fb_err_set(err, r, "xmlsec: cannot digest the node to sign");
		goto out;
	}
	b64 = fb_saml_b64(bytes, n);
	free(bytes);
	bytes = NULL;
	sdoc = xmlNewDoc(BAD_CAST "1.0");
	sig = xmlSecTmplSignatureCreateNsPref(sdoc, xmlSecTransformExclC14NId, sig_id, NULL,
	    BAD_CAST "ds");
	if (sig == NULL) {
		fb_err_set(err, r, "xmlsec: cannot create the signature template");
		goto out;
	}
	xmlDocSetRootElement(sdoc, sig);
	ref = xmlSecTmplSignatureAddReference(sig, dig_id, NULL, BAD_CAST uri, NULL);
	if (ref == NULL || xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId) == NULL ||
	    xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId) == NULL) {
		fb_err_set(err, r, "xmlsec: cannot fill the signature template");
		goto out;
	}
	xmlNodeSetContent(xmlSecFindChild(ref, xmlSecNodeDigestValue, xmlSecDSigNs), BAD_CAST b64);
	free(b64);
	b64 = NULL;
	si = xmlSecFindChild(sig, xmlSecNodeSignedInfo, xmlSecDSigNs);
	if (c14n_then(xmlSecNodeSetGetChildren(sdoc, si, 1, 0), sig_id, key->key, &bytes, &n) < 0) {
		fb_err_set(err, r, "xmlsec: signing with key '%s' failed", key->id);
		goto out;
	}
	b64 = fb_saml_b64(bytes, n);
	xmlNodeSetContent(xmlSecFindChild(sig, xmlSecNodeSignatureValue, xmlSecDSigNs),
	    BAD_CAST b64);
	/* KeyInfo is outside SignedInfo: the certificate's base64 is kept from start-up. */
	if ((ki = xmlSecTmplSignatureEnsureKeyInfo(sig, NULL)) == NULL ||
	    (x509 = xmlSecTmplKeyInfoAddX509Data(ki)) == NULL ||
	    (cert = xmlSecTmplX509DataAddCertificate(x509)) == NULL) {
		fb_err_set(err, r, "xmlsec: cannot add the certificate to the signature");
		goto out;
	}
	xmlNodeSetContent(cert, BAD_CAST key->cert_b64);
	/* SAML2 Core 5.4.1 and the schema: ds:Signature follows saml:Issuer. */
	xmlUnlinkNode(sig);
	first = xmlSecGetNextElementNode(node->children);
	if (after_first && first != NULL)
		xmlAddNextSibling(first, sig);
	else if (first != NULL)
		xmlAddPrevSibling(first, sig);
	else
		xmlAddChild(node, sig);
	r = FB_OK;
out:
	if (sdoc != NULL)
		xmlFreeDoc(sdoc); /* with the Signature unless it was moved into place */
	free(bytes);
	free(b64);
	free(uri);
	return r;
}

enum fb_status
fb_saml_enc_mngr_new(xmlSecKeyPtr enc_key, xmlSecKeysMngrPtr *out, struct fb_err *err)
{
	xmlSecKeysMngrPtr mngr;
	xmlSecKeyPtr k = NULL;

	*out = NULL;
	/*
	 * Built once per SP: initialising a keys manager loads the system's CA
	 * bundle, far too slow for every response.
	 */
	if ((mngr = xmlSecKeysMngrCreate()) == NULL || xmlSecCryptoAppDefaultKeysMngrInit(mngr) < 0 ||
	    (k = xmlSecKeyDuplicate(enc_key)) == NULL ||
	    xmlSecCryptoAppDefaultKeysMngrAdoptKey(mngr, k) < 0) {
		if (k != NULL)
			xmlSecKeyDestroy(k);
		if (mngr != NULL)
			xmlSecKeysMngrDestroy(mngr);
		return fb_err_set(err, FB_ERR_INTERNAL, "xmlsec: cannot set up the encryption key");
	}
	*out = mngr;
	return FB_OK;
}

enum fb_status
fb_saml_encrypt_assertion(xmlDocPtr doc, xmlNodePtr assertion, xmlSecKeysMngrPtr mngr,
    struct fb_err *err)
{
	xmlNodePtr wrapper, tmpl, ki, ek, eki;
	xmlSecEncCtxPtr ctx = NULL;
	xmlNsPtr ns;
	enum fb_status r = FB_ERR_INTERNAL;

	/* SAML2 Core 2.3.4: EncryptedAssertion holds an xenc:EncryptedData of the Assertion. */
	wrapper = xmlNewNode(NULL, BAD_CAST "EncryptedAssertion");
	ns = xmlNewNs(wrapper, BAD_CAST FB_SAML_NS_ASSERTION, BAD_CAST "saml");
	xmlSetNs(wrapper, ns);
	xmlAddPrevSibling(assertion, wrapper);
	xmlUnlinkNode(assertion);
	xmlAddChild(wrapper, assertion);
	tmpl = xmlSecTmplEncDataCreate(doc, xmlSecTransformAes256GcmId, NULL,
	    xmlSecTypeEncElement, NULL, NULL);
	if (tmpl == NULL || xmlSecTmplEncDataEnsureCipherValue(tmpl) == NULL ||
	    (ki = xmlSecTmplEncDataEnsureKeyInfo(tmpl, NULL)) == NULL ||
	    (ek = xmlSecTmplKeyInfoAddEncryptedKey(ki, xmlSecTransformRsaOaepId, NULL, NULL,
		 NULL)) == NULL ||
	    xmlSecTmplEncDataEnsureCipherValue(ek) == NULL ||
	    (eki = xmlSecTmplEncDataEnsureKeyInfo(ek, NULL)) == NULL ||
	    xmlSecTmplKeyInfoAddX509Data(eki) == NULL) {
		if (tmpl != NULL)
			xmlFreeNode(tmpl);
		fb_err_set(err, r, "xmlsec: cannot create the encryption template");
		goto out;
	}
	/* The session key is wrapped with the SP's public key, found through the manager. */
	if ((ctx = xmlSecEncCtxCreate(mngr)) == NULL) {
		xmlFreeNode(tmpl);
		fb_err_set(err, r, "xmlsec: cannot create an encryption context");
		goto out;
	}
	ctx->encKey = xmlSecKeyGenerate(xmlSecKeyDataAesId, 256, xmlSecKeyDataTypeSession);
	if (ctx->encKey == NULL || xmlSecEncCtxXmlEncrypt(ctx, tmpl, assertion) < 0) {
		xmlFreeNode(tmpl);
		fb_err_set(err, r, "xmlsec: encrypting the assertion failed");
		goto out;
	}
	r = FB_OK;
out:
	if (ctx != NULL)
		xmlSecEncCtxDestroy(ctx);
	return r;
}

enum fb_status
fb_saml_query_sign(const struct fb_saml_key *key, enum fb_conf_saml_alg alg, const char *query,
    char **sig_b64, struct fb_err *err)
{
	const EVP_MD *md;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t siglen = 0;
	enum fb_status r = FB_ERR_INTERNAL;

	*sig_b64 = NULL;
	switch (alg) {
	case FB_CONF_SAML_RSA_SHA384:
		md = EVP_sha384();
		break;
	case FB_CONF_SAML_RSA_SHA512:
		md = EVP_sha512();
		break;
	case FB_CONF_SAML_RSA_SHA1:
		md = EVP_sha1();
		break;
	case FB_CONF_SAML_ECDSA_SHA256:
	case FB_CONF_SAML_RSA_SHA256:
	default:
		md = EVP_sha256();
		break;
	}
	/* SAML2 Bindings 3.4.4.1: the signature is over the octets of the query as sent. */
	if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, md, NULL, key->pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)query, strlen(query)) != 1) {
		fb_err_openssl(err, r, "signing a query with key '%s'", key->id);
		goto out;
	}
	sig = fb_xmalloc(siglen);
	if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)query, strlen(query)) != 1) {
		fb_err_openssl(err, r, "signing a query with key '%s'", key->id);
		goto out;
	}
	*sig_b64 = fb_saml_b64(sig, siglen);
	r = FB_OK;
out:
	free(sig);
	EVP_MD_CTX_free(ctx);
	return r;
}

enum fb_status
fb_saml_verify_root(xmlDocPtr doc, const char *cert_pem, struct fb_err *err)
{
	xmlNodePtr root = xmlDocGetRootElement(doc), sig;
	xmlSecDSigCtxPtr ctx = NULL;
	xmlAttrPtr idattr;
	enum fb_status r = FB_ERR_SIGNATURE;

	sig = xmlSecFindChild(root, xmlSecNodeSignature, xmlSecDSigNs);
	if (sig == NULL)
		return fb_err_set(err, r, "the metadata is not signed");
	if ((idattr = xmlHasProp(root, BAD_CAST "ID")) != NULL) {
		xmlChar *id = xmlNodeGetContent((xmlNodePtr)idattr);

		if (id != NULL && xmlGetID(doc, id) == NULL)
			xmlAddID(NULL, doc, id, idattr);
		xmlFree(id);
	}
	if ((ctx = xmlSecDSigCtxCreate(NULL)) == NULL)
		return fb_err_set(err, FB_ERR_INTERNAL, "xmlsec: cannot create a context");
	ctx->signKey = xmlSecCryptoAppKeyLoadMemory((const xmlSecByte *)cert_pem,
	    (xmlSecSize)strlen(cert_pem), xmlSecKeyDataFormatCertPem, NULL, NULL, NULL);
	if (ctx->signKey == NULL) {
		r = fb_err_set(err, FB_ERR_INVALID, "the certificate is not a PEM certificate");
		goto out;
	}
	/* SECURITY: only an enveloped signature over the whole root is accepted. */
	ctx->enabledReferenceUris = xmlSecTransformUriTypeEmpty | xmlSecTransformUriTypeSameDocument;
	if (xmlSecDSigCtxVerify(ctx, sig) < 0 || ctx->status != xmlSecDSigStatusSucceeded) {
		fb_err_set(err, r, "the metadata signature does not verify with the certificate");
		goto out;
	}
	if (ctx->signedInfoReferences.use != 1) {
		fb_err_set(err, r, "the metadata signature must have exactly one reference");
		goto out;
	}
	{
		xmlSecDSigReferenceCtxPtr rc =
		    xmlSecPtrListGetItem(&ctx->signedInfoReferences, 0);
		xmlChar *id = xmlGetProp(root, BAD_CAST "ID");
		int ok = rc != NULL && rc->uri != NULL &&
		         ((rc->uri[0] == '\0') ||
		             (rc->uri[0] == '#' && id != NULL &&
		                 xmlStrEqual(rc->uri + 1, id)));

		xmlFree(id);
		if (!ok) {
			fb_err_set(err, r, "the metadata signature does not cover the root element");
			goto out;
		}
	}
	r = FB_OK;
out:
	xmlSecDSigCtxDestroy(ctx);
	return r;
}

enum fb_status
fb_saml_query_verify(const char *query, const char *field, EVP_PKEY *const *keys, size_t nkeys,
    int accept_sha1, char **unsigned_query, struct fb_err *err)
{
	static const struct {
		const char *uri;
		int sha1;
	} algs[] = {
	    {"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", 0},
	    {"http://www.w3.org/2001/04/xmldsig-more#rsa-sha384", 0},
	    {"http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", 0},
	    {"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", 0},
	    {"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384", 0},
	    {"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512", 0},
	    {"http://www.w3.org/2000/09/xmldsig#rsa-sha1", 1},
	    {"http://www.w3.org/2000/09/xmldsig#dsa-sha1", 1},
	};
	size_t mlen = 0, rlen = 0, alen = 0, slen = 0, i;
	int dup = 0, d2 = 0, d3 = 0, d4 = 0;
	const char *m = fb_saml_query_param(query, field, &mlen, &dup);
	const char *rs = fb_saml_query_param(query, "RelayState", &rlen, &d2);
	const char *sa = fb_saml_query_param(query, "SigAlg", &alen, &d3);
	const char *sg = fb_saml_query_param(query, "Signature", &slen, &d4);
	char *alg = NULL, *sig64 = NULL;
	unsigned char *sig = NULL;
	const EVP_MD *md = NULL;
	struct fb_buf b;
	size_t siglen = 0;
	enum fb_status r = FB_ERR_INVALID;

	if (unsigned_query != NULL)
		*unsigned_query = NULL;
	if (m == NULL || dup || d2 || d3 || d4)
		return fb_err_set(err, FB_ERR_INVALID, "the query has no %s or repeats a parameter",
		    field);
	/* SAML2 Bindings 3.4.4.1: the octets as sent, in this order. */
	fb_buf_init(&b, strlen(query) + 1);
	fb_buf_addf(&b, NULL, "%s=%.*s", field, (int)mlen, m);
	if (rs != NULL)
		fb_buf_addf(&b, NULL, "&RelayState=%.*s", (int)rlen, rs);
	if (unsigned_query != NULL)
		*unsigned_query = fb_xstrdup(b.data);
	if (sg == NULL) {
		r = fb_err_set(err, FB_ERR_NOTFOUND, "the query is not signed");
		goto out;
	}
	if (sa == NULL || (alg = fb_saml_url_decode(sa, alen, 0)) == NULL) {
		r = fb_err_set(err, FB_ERR_SIGNATURE, "a Signature without a usable SigAlg");
		goto out;
	}
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(alg, algs[i].uri) == 0)
			break;
	if (i == sizeof(algs) / sizeof(algs[0]) || (algs[i].sha1 && !accept_sha1)) {
		r = fb_err_set(err, FB_ERR_SIGNATURE, "the signature algorithm %s is refused", alg);
		goto out;
	}
	md = algs[i].sha1 ? EVP_sha1()
	     : strstr(alg, "sha384") != NULL ? EVP_sha384()
	     : strstr(alg, "sha512") != NULL ? EVP_sha512()
	                                     : EVP_sha256();
	fb_buf_addf(&b, NULL, "&SigAlg=%.*s", (int)alen, sa);
	if ((sig64 = fb_saml_url_decode(sg, slen, 0)) == NULL) {
		r = fb_err_set(err, FB_ERR_SIGNATURE, "the Signature parameter is malformed");
		goto out;
	}
	sig = fb_xmalloc(strlen(sig64) + 1);
	{
		/* base64 of a signature: strict, no whitespace. */
		int n = EVP_DecodeBlock(sig, (const unsigned char *)sig64, (int)strlen(sig64));
		size_t pad = 0, l = strlen(sig64);

		if (n <= 0 || l % 4 != 0) {
			r = fb_err_set(err, FB_ERR_SIGNATURE, "the Signature is not base64");
			goto out;
		}
		while (l > 0 && sig64[l - 1] == '=') {
			pad++;
			l--;
		}
		siglen = (size_t)n - pad;
	}
	r = fb_err_set(err, FB_ERR_SIGNATURE,
	    "the query signature does not verify with the service provider's keys");
	for (size_t k = 0; k < nkeys; k++) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		int ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, md, NULL, keys[k]) == 1 &&
		         EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)b.data, b.len) == 1;

		EVP_MD_CTX_free(ctx);
		if (ok) {
			fb_err_clear(err);
			r = FB_OK;
			break;
		}
	}
	ERR_clear_error();
out:
	free(sig);
	free(sig64);
	free(alg);
	fb_buf_cleanup(&b);
	return r;
}
