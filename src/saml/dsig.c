/* SPDX-License-Identifier: Apache-2.0 */
/*
 * saml/dsig.c: verification of an enveloped XML signature over one element
 * of a parsed document (the SP's ACS and the upstream's LogoutRequest), in
 * one linear pass: the Reference digest is libxml2's c14n of the element
 * with a visibility callback (the element's subtree, minus the enveloped
 * ds:Signature, minus comments: what the "#ID" reference and the
 * enveloped-signature transform select), then the c14n of SignedInfo and an
 * OpenSSL verification with the configured keys only.
 *
 * xmlsec computes the same thing through XPath node sets whose membership
 * test (xmlXPathNodeSetContains) is linear in the set, so quadratic in the
 * document: four fifths of an ACS went there. The unit tests keep xmlsec as
 * the cross-check (tests/unit/test_saml_sp.c: the same verdict over the
 * fixtures and their mutations).
 *
 * SECURITY: the element digested is the element given, never one looked up
 * by ID; KeyInfo is never read; only the algorithms below, SHA-1 only when
 * allowed; one Reference; transforms: enveloped-signature, then at most one
 * c14n 1.0 or exclusive c14n 1.0 without comments.
 */
#include <string.h>

#include <libxml/c14n.h>
#include <libxml/xmlIO.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "core/core.h"
#include "saml/internal.h"

#define DSIG   "http://www.w3.org/2000/09/xmldsig#"
#define MORE   "http://www.w3.org/2001/04/xmldsig-more#"
#define XENC   "http://www.w3.org/2001/04/xmlenc#"
#define EXC    "http://www.w3.org/2001/10/xml-exc-c14n#"
#define C14N10 "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
#define ENVSIG DSIG "enveloped-signature"

/* What a signature method or digest URI means. */
struct alg {
	const char *uri;
	const char *md; /* OpenSSL digest name */
	int type;       /* EVP_PKEY_RSA, EVP_PKEY_EC, or 0 for a digest */
	int sha1;
};

static const struct alg algs[] = {
    {DSIG "rsa-sha1", "SHA1", EVP_PKEY_RSA, 1},
    {MORE "rsa-sha256", "SHA256", EVP_PKEY_RSA, 0},
    {MORE "rsa-sha384", "SHA384", EVP_PKEY_RSA, 0},
    {MORE "rsa-sha512", "SHA512", EVP_PKEY_RSA, 0},
    {MORE "ecdsa-sha1", "SHA1", EVP_PKEY_EC, 1},
    {MORE "ecdsa-sha256", "SHA256", EVP_PKEY_EC, 0},
    {MORE "ecdsa-sha384", "SHA384", EVP_PKEY_EC, 0},
    {MORE "ecdsa-sha512", "SHA512", EVP_PKEY_EC, 0},
    {DSIG "sha1", "SHA1", 0, 1},
    {XENC "sha256", "SHA256", 0, 0},
    {MORE "sha384", "SHA384", 0, 0},
    {XENC "sha512", "SHA512", 0, 0},
};

/* The algorithm named by n's Algorithm attribute, of kind digest (type 0) or signature. */
static const struct alg *
alg_of(xmlNodePtr n, int signature)
{
	xmlChar *uri = n != NULL ? xmlGetProp(n, BAD_CAST "Algorithm") : NULL;
	const struct alg *a = NULL;

	for (size_t i = 0; uri != NULL && a == NULL && i < sizeof(algs) / sizeof(algs[0]); i++)
		if ((algs[i].type != 0) == signature && xmlStrEqual(uri, BAD_CAST algs[i].uri))
			a = &algs[i];
	xmlFree(uri);
	return a;
}

/* The next element sibling from n on (n itself when it is one), or NULL. */
static xmlNodePtr
element_from(xmlNodePtr n)
{
	while (n != NULL && n->type != XML_ELEMENT_NODE)
		n = n->next;
	return n;
}

/* A c14n method: its mode and InclusiveNamespaces PrefixList (exclusive only). */
struct c14n {
	int mode;
	xmlChar *list;    /* the PrefixList text, split in place */
	xmlChar *pfx[33]; /* NULL-terminated */
};

/* Reads the c14n method of n (CanonicalizationMethod or Transform); 0 when not one we take. */
static int
c14n_of(xmlNodePtr n, struct c14n *c)
{
	xmlChar *uri = xmlGetProp(n, BAD_CAST "Algorithm");
	xmlNodePtr in;
	size_t k = 0;
	int ok = 1;

	memset(c, 0, sizeof(*c));
	if (xmlStrEqual(uri, BAD_CAST EXC))
		c->mode = XML_C14N_EXCLUSIVE_1_0;
	else if (xmlStrEqual(uri, BAD_CAST C14N10))
		c->mode = XML_C14N_1_0;
	else
		ok = 0;
	xmlFree(uri);
	in = element_from(n->children);
	if (ok && in != NULL) {
		/* Only exclusive c14n takes a parameter: one InclusiveNamespaces. */
		if (c->mode != XML_C14N_EXCLUSIVE_1_0 ||
		    !fb_saml_xml_is(in, EXC, "InclusiveNamespaces") ||
		    element_from(in->next) != NULL)
			return 0;
		c->list = xmlGetProp(in, BAD_CAST "PrefixList");
		for (xmlChar *p = c->list; p != NULL && *p != '\0';) {
			while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
				*p++ = '\0';
			if (*p == '\0')
				break;
			if (k == sizeof(c->pfx) / sizeof(c->pfx[0]) - 1) {
				ok = 0;
				break;
			}
			c->pfx[k++] = p;
			while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
				p++;
		}
	}
	return ok;
}

/* What the c14n of one element sees: apex's subtree without the signature's. */
struct subset {
	xmlNodePtr apex, cut;
};

/* xmlC14NIsVisibleCallback: the "#ID" node set (no comments), minus the enveloped signature. */
static int
visible(void *data, xmlNodePtr node, xmlNodePtr parent)
{
	const struct subset *s = data;
	xmlNodePtr n;

	if (node == NULL)
		return 0;
	if (node->type == XML_COMMENT_NODE)
		return 0;
	/* Namespace nodes (xmlNs) and attributes belong to their element. */
	n = node->type == XML_NAMESPACE_DECL || node->type == XML_ATTRIBUTE_NODE ? parent : node;
	for (; n != NULL; n = n->parent) {
		if (n == s->cut)
			return 0;
		if (n == s->apex)
			return 1;
	}
	return 0;
}

/* xmlOutputBuffer sink: the canonical bytes go to the digest, or to a buffer when ctx is a buf. */
static int
to_digest(void *ctx, const char *p, int n)
{
	return EVP_DigestUpdate(ctx, p, (size_t)n) == 1 ? n : -1;
}

static int
to_buf(void *ctx, const char *p, int n)
{
	return fb_buf_add(ctx, p, (size_t)n, NULL) == FB_OK ? n : -1;
}

/* c14n of s's node set in doc, written to write(ctx). 0 on success. */
static int
c14n_run(xmlDocPtr doc, struct subset *s, const struct c14n *c, xmlOutputWriteCallback write,
    void *ctx)
{
	xmlOutputBufferPtr out = xmlOutputBufferCreateIO(write, NULL, ctx, NULL);
	int r;

	if (out == NULL)
		return -1;
	/*
	 * Nothing before apex in document order is in the node set, and c14n
	 * reads the namespaces and xml: attributes in scope through the parent
	 * pointers: the walk can start at apex (a document whose first child it
	 * is) instead of visiting the whole document for one small SignedInfo.
	 */
	{
		xmlDoc from = *doc;

		from.children = s->apex;
		r = xmlC14NExecute(&from, visible, s, c->mode,
		    c->pfx[0] != NULL ? (xmlChar **)c->pfx : NULL, 0, out);
	}
	if (xmlOutputBufferClose(out) < 0)
		r = -1;
	return r < 0 ? -1 : 0;
}

/* base64 of n's text (whitespace anywhere ignored) in out (at most cap bytes); its length or -1. */
static int
b64_of(xmlNodePtr n, unsigned char *out, size_t cap)
{
	xmlChar *t = n != NULL ? xmlNodeGetContent(n) : NULL;
	size_t k = 0, pad = 0;
	int len = -1;
	char *s;

	if (t == NULL)
		return -1;
	s = (char *)t;
	for (char *p = s; *p != '\0'; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			s[k++] = *p;
	s[k] = '\0';
	if (k > 0 && k % 4 == 0 && 3 * (k / 4) <= cap) {
		pad = (s[k - 1] == '=') + (k > 1 && s[k - 2] == '=');
		len = EVP_DecodeBlock(out, (unsigned char *)s, (int)k);
		if (len >= 0)
			len -= (int)pad;
	}
	xmlFree(t);
	return len;
}

/* The XML DSig ECDSA value (r || s, RFC 4050) as DER for OpenSSL; 0 when it is not one. */
static int
ecdsa_der(const unsigned char *raw, int len, unsigned char *der, size_t *derlen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *p = der;
	int n = 0;

	if (es != NULL && len > 0 && len % 2 == 0 && (r = BN_bin2bn(raw, len / 2, NULL)) != NULL &&
	    (s = BN_bin2bn(raw + len / 2, len / 2, NULL)) != NULL &&
	    ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL;
		if (i2d_ECDSA_SIG(es, NULL) <= (int)*derlen)
			n = i2d_ECDSA_SIG(es, &p);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	*derlen = n > 0 ? (size_t)n : 0;
	return n > 0;
}

enum fb_status
fb_saml_dsig_verify(xmlDocPtr doc, xmlNodePtr node, xmlNodePtr sig, EVP_PKEY *const *keys,
    size_t nkeys, int accept_sha1, struct fb_err *err)
{
	xmlNodePtr si, cm, sm, ref, tr = NULL, dm, dv, sv, n;
	const struct alg *salg, *dalg;
	struct c14n sic = {0}, refc = {0};
	struct subset sub = {node, NULL}, sisub = {NULL, NULL};
	/* Room for base64's rounding up: a SHA-512 digest, an RSA-8192 signature. */
	unsigned char want[EVP_MAX_MD_SIZE + 3], got[EVP_MAX_MD_SIZE], raw[1024 + 3], der[1100];
	unsigned int gotlen = 0;
	int wantlen, rawlen, have_c14n = 0;
	xmlChar *uri = NULL, *id = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct fb_buf canon;
	enum fb_status r = FB_ERR_SIGNATURE;

	fb_buf_init(&canon, 64 * 1024);
	if (md == NULL) {
		r = fb_err_set(err, FB_ERR_NOMEM, "EVP_MD_CTX_new failed");
		goto out;
	}
	/* Signature: SignedInfo, SignatureValue, (KeyInfo, Object: not read). */
	si = element_from(sig->children);
	sv = si != NULL ? element_from(si->next) : NULL;
	if (!fb_saml_xml_is(si, DSIG, "SignedInfo") ||
	    !fb_saml_xml_is(sv, DSIG, "SignatureValue")) {
		fb_err_set(err, r, "the signature has no SignedInfo and SignatureValue");
		goto out;
	}
	/* SignedInfo: CanonicalizationMethod, SignatureMethod, one Reference, nothing else. */
	cm = element_from(si->children);
	sm = cm != NULL ? element_from(cm->next) : NULL;
	ref = sm != NULL ? element_from(sm->next) : NULL;
	if (!fb_saml_xml_is(cm, DSIG, "CanonicalizationMethod") ||
	    !fb_saml_xml_is(sm, DSIG, "SignatureMethod") ||
	    !fb_saml_xml_is(ref, DSIG, "Reference") || element_from(ref->next) != NULL) {
		fb_err_set(err, r, "the SignedInfo is not one method pair and one Reference");
		goto out;
	}
	if (!c14n_of(cm, &sic)) {
		fb_err_set(err, r, "the SignedInfo canonicalization method is not accepted");
		goto out;
	}
	if ((salg = alg_of(sm, 1)) == NULL || (salg->sha1 && !accept_sha1)) {
		fb_err_set(err, r, "the signature method is not accepted");
		goto out;
	}
	/* SECURITY: the Reference names node itself, by its own ID. */
	uri = xmlGetProp(ref, BAD_CAST "URI");
	id = xmlGetProp(node, BAD_CAST "ID");
	if (uri == NULL || id == NULL || uri[0] != '#' || !xmlStrEqual(uri + 1, id)) {
		fb_err_set(err, r, "the reference does not name the signed element");
		goto out;
	}
	/* Reference: (Transforms), DigestMethod, DigestValue. */
	n = element_from(ref->children);
	if (fb_saml_xml_is(n, DSIG, "Transforms")) {
		tr = n;
		n = element_from(n->next);
	}
	dm = n;
	dv = dm != NULL ? element_from(dm->next) : NULL;
	if (!fb_saml_xml_is(dm, DSIG, "DigestMethod") || !fb_saml_xml_is(dv, DSIG, "DigestValue") ||
	    element_from(dv->next) != NULL || (dalg = alg_of(dm, 0)) == NULL ||
	    (dalg->sha1 && !accept_sha1)) {
		fb_err_set(err, r, "the reference's digest is missing or not accepted");
		goto out;
	}
	/* Transforms: enveloped-signature first, then at most one c14n (default: c14n 1.0). */
	refc.mode = XML_C14N_1_0;
	for (n = tr != NULL ? element_from(tr->children) : NULL; n != NULL;
	     n = element_from(n->next)) {
		xmlChar *t = xmlGetProp(n, BAD_CAST "Algorithm");
		int env = t != NULL && xmlStrEqual(t, BAD_CAST ENVSIG);

		xmlFree(t);
		if (!fb_saml_xml_is(n, DSIG, "Transform") || have_c14n ||
		    (env && (sub.cut != NULL || element_from(n->children) != NULL)) ||
		    (!env && !(have_c14n = c14n_of(n, &refc)))) {
			fb_err_set(err, r, "the reference's transforms are not accepted");
			goto out;
		}
		if (env)
			sub.cut = sig;
	}
	/* The digest of the element as signed. */
	wantlen = b64_of(dv, want, sizeof(want));
	if (EVP_DigestInit_ex2(md, EVP_get_digestbyname(dalg->md), NULL) != 1 ||
	    c14n_run(doc, &sub, &refc, to_digest, md) != 0 ||
	    EVP_DigestFinal_ex(md, got, &gotlen) != 1) {
		fb_err_set(err, r, "the signed element does not canonicalize");
		goto out;
	}
	if (wantlen != (int)gotlen || CRYPTO_memcmp(want, got, gotlen) != 0) {
		fb_err_set(err, r, "the digest of the signed element does not match");
		goto out;
	}
	/* The signature over SignedInfo, with one of the configured keys. */
	sisub.apex = si;
	if (c14n_run(doc, &sisub, &sic, to_buf, &canon) != 0 ||
	    (rawlen = b64_of(sv, raw, sizeof(raw))) <= 0) {
		fb_err_set(err, r, "the SignedInfo or the SignatureValue does not read");
		goto out;
	}
	for (size_t i = 0; i < nkeys && r != FB_OK; i++) {
		const unsigned char *s = raw;
		size_t slen = (size_t)rawlen;

		if (keys[i] == NULL || EVP_PKEY_get_base_id(keys[i]) != salg->type)
			continue;
		if (salg->type == EVP_PKEY_EC) {
			slen = sizeof(der);
			if (!ecdsa_der(raw, rawlen, der, &slen))
				continue;
			s = der;
		}
		EVP_MD_CTX_reset(md);
		if (EVP_DigestVerifyInit_ex(md, NULL, salg->md, NULL, NULL, keys[i], NULL) == 1 &&
		    EVP_DigestVerify(md, s, slen, (unsigned char *)canon.data, canon.len) == 1)
			r = FB_OK;
	}
	if (r != FB_OK)
		fb_err_set(err, r,
		    "the signature does not verify with the configured certificates");
out:
	EVP_MD_CTX_free(md);
	fb_buf_cleanup(&canon);
	xmlFree(sic.list);
	xmlFree(refc.list);
	xmlFree(uri);
	xmlFree(id);
	return r;
}
