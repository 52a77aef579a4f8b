/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/saml_acs.c: SAML ACS validations per second (fb_saml_broker_acs, the
 * broker as SP: base64, the XML gate, structure, both signatures of a Response
 * and its Assertion, every check, the attributes) next to the RSA-2048
 * verifications per second of this core, and the ratio of the non-crypto work
 * to the signature checks themselves (issue 11 "Benchmark": target < 1, i.e.
 * the rest costs less than the two RSA verifications), and the floors (the
 * parse alone, one c14n of the whole response). CPU time of this
 * process, so neighbours on the machine do not inflate it.
 *
 *   make bench/saml_acs && ./bench/saml_acs [N]     (default N = 2000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include <libxml/c14n.h>
#include <openssl/evp.h>

#include "bench.h"
#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "saml/saml.h"
#include "saml/internal.h"

#define BROKER "https://broker.example.com"
#define IDP    "https://idp.example.com/saml"

static enum fb_status
once_none(void *ctx, const char *id, int64_t expires_at, struct fb_err *err)
{
	(void)ctx;
	(void)id;
	(void)expires_at;
	(void)err;
	return FB_OK; /* the cache is the store's: not what is measured here */
}

/* A keyring of one generated key in dir/id (exits on failure). */
static struct fb_keyring *
keyring(const char *dir, const char *id)
{
	struct fb_err err = {0};
	char *kdir = fb_xasprintf("%s/%s", dir, id);
	char *kf = fb_xasprintf("%s/%s.key.pem", kdir, id),
	     *cf = fb_xasprintf("%s/%s.crt.pem", kdir, id);
	struct fb_conf_key k = {(char *)id, kf, cf, NULL, FB_KEY_ACTIVE};
	struct fb_conf c;
	struct fb_keyring *kr = NULL;

	memset(&c, 0, sizeof(c));
	c.keys = &k;
	c.nkeys = 1;
	if (fb_crypto_key_generate(kdir, id, "rsa", 2048, 30, id, FB_KEY_ACTIVE, &err) != FB_OK ||
	    fb_crypto_keyring_load(&c, &kr, &err) != FB_OK) {
		fprintf(stderr, "saml_acs: %s\n", err.msg);
		exit(1);
	}
	free(kdir);
	free(kf);
	free(cf);
	return kr;
}

int
main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
	char dir[] = "/tmp/fb-bench-acs-XXXXXX", now[32], noa[32], *xml, *md, *b64, *text, *rm;
	struct fb_keyring *sp_kr, *idp_kr;
	struct fb_saml_key *keys = NULL;
	size_t nkeys = 0, len = 0;
	struct fb_saml_broker *b = NULL;
	struct fb_err err = {0};
	xmlDocPtr doc = NULL;
	double t0, acs_s, ver_s, parse_s, c14n_s;
	unsigned char sig[512], dig[32];
	size_t siglen = sizeof(sig);
	EVP_PKEY_CTX *pc;

	if (n < 1 || mkdtemp(dir) == NULL)
		return 2;
	/* Audit lines are written whatever the level: not to the terminal. */
	fb_log_setup(FB_LOG_LOGFMT, FB_LOG_ERROR, open("/dev/null", O_WRONLY | O_CLOEXEC));
	sp_kr = keyring(dir, "sp");
	idp_kr = keyring(dir, "idp");
	if (fb_saml_keys_load(idp_kr, &keys, &nkeys, &err) != FB_OK ||
	    fb_saml_broker_new(BROKER, NULL, sp_kr, &b, &err) != FB_OK)
		goto fail;
	md = fb_xasprintf(
	    "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
	    "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"" IDP "\">"
	    "<md:IDPSSODescriptor "
	    "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">"
	    "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s"
	    "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
	    "<md:SingleSignOnService Binding=\"" FB_SAML_BINDING_REDIRECT_URI "\" "
	    "Location=\"https://idp.example.com/sso\"/></md:IDPSSODescriptor></"
	    "md:EntityDescriptor>",
	    keys[0].cert_b64);
	{
		struct fb_saml_upstream_def def = {"corp", md, strlen(md), 0, 0, 0, 60, 0};

		if (fb_saml_broker_add_upstream(b, &def, &err) != FB_OK)
			goto fail;
	}
	fb_saml_time(fb_time_now(), now, sizeof(now));
	fb_saml_time(fb_time_now() + 3600, noa, sizeof(noa));
	/* A response as IdPs send them: Response and Assertion signed, a few attributes. */
	xml = fb_xasprintf(
	    "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" "
	    "xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_r1\" Version=\"2.0\" "
	    "IssueInstant=\"%s\" Destination=\"" BROKER "/upstream/corp/acs\" InResponseTo=\"_q1\">"
	    "<saml:Issuer>" IDP "</saml:Issuer><samlp:Status><samlp:StatusCode "
	    "Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>"
	    "<saml:Assertion ID=\"_a1\" Version=\"2.0\" IssueInstant=\"%s\"><saml:Issuer>" IDP
	    "</saml:Issuer><saml:Subject><saml:NameID "
	    "Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\">alice-42</saml:NameID>"
	    "<saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">"
	    "<saml:SubjectConfirmationData NotOnOrAfter=\"%s\" Recipient=\"" BROKER
	    "/upstream/corp/acs\" InResponseTo=\"_q1\"/></saml:SubjectConfirmation></saml:Subject>"
	    "<saml:Conditions NotBefore=\"%s\" NotOnOrAfter=\"%s\"><saml:AudienceRestriction>"
	    "<saml:Audience>" BROKER "/saml/sp/metadata</saml:Audience></saml:AudienceRestriction>"
	    "</saml:Conditions><saml:AuthnStatement AuthnInstant=\"%s\" SessionIndex=\"_s1\">"
	    "<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:"
	    "PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>"
	    "</saml:AuthnStatement><saml:AttributeStatement>"
	    "<saml:Attribute Name=\"mail\"><saml:AttributeValue>alice@example.com"
	    "</saml:AttributeValue></saml:Attribute><saml:Attribute Name=\"groups\">"
	    "<saml:AttributeValue>admins</saml:AttributeValue><saml:AttributeValue>dev"
	    "</saml:AttributeValue><saml:AttributeValue>ops</saml:AttributeValue></saml:Attribute>"
	    "</saml:AttributeStatement></saml:Assertion></samlp:Response>",
	    now, now, noa, now, noa, now);
	if (fb_saml_xml_parse(xml, strlen(xml), &doc, &err) != FB_OK)
		goto fail;
	{
		xmlNodePtr root = xmlDocGetRootElement(doc), as = root->children;

		while (as != NULL && !fb_saml_xml_is(as, FB_SAML_NS_ASSERTION, "Assertion"))
			as = as->next;
		if (fb_saml_sign_node(as, &keys[0], FB_CONF_SAML_RSA_SHA256, 1, &err) != FB_OK ||
		    fb_saml_sign_node(root, &keys[0], FB_CONF_SAML_RSA_SHA256, 1, &err) != FB_OK)
			goto fail;
	}
	text = fb_saml_doc_dump(doc, &len);
	b64 = fb_saml_b64(text, len);

	/* The ACS, N times. */
	t0 = cpu_now();
	for (long i = 0; i < n; i++) {
		struct fb_saml_acs in = {"corp", b64, "_q1", fb_time_now(), once_none, NULL, NULL};
		struct fb_saml_login out;
		struct fb_saml_reply reply = {0};

		if (fb_saml_broker_acs(b, &in, &out, &reply, &err) != FB_OK)
			goto fail;
		fb_saml_login_cleanup(&out);
	}
	acs_s = (cpu_now() - t0) / (double)n;

	/*
	 * The floor of the non-crypto work: base64 and the XML gate's parse of
	 * the response alone, then one exclusive c14n of the whole signed
	 * Response (what its Reference digest needs at the least).
	 */
	t0 = cpu_now();
	for (long i = 0; i < n; i++) {
		char *x = NULL;
		size_t xl = 0;
		xmlDocPtr d = NULL;

		if (fb_saml_message_decode(b64, 0, &x, &xl, &err) != FB_OK ||
		    fb_saml_xml_parse(x, xl, &d, &err) != FB_OK)
			goto fail;
		xmlFreeDoc(d);
		free(x);
	}
	parse_s = (cpu_now() - t0) / (double)n;
	t0 = cpu_now();
	for (long i = 0; i < n; i++) {
		xmlChar *c = NULL;
		int cl = xmlC14NDocDumpMemory(doc, NULL, XML_C14N_EXCLUSIVE_1_0, NULL, 0, &c);

		if (cl <= 0)
			return 1;
		xmlFree(c);
	}
	c14n_s = (cpu_now() - t0) / (double)n;

	/* RSA-2048 (PKCS#1 v1.5, SHA-256) verifications with the same key, N times. */
	EVP_Digest("x", 1, dig, NULL, EVP_sha256(), NULL);
	pc = EVP_PKEY_CTX_new(keys[0].pkey, NULL);
	if (pc == NULL || EVP_PKEY_sign_init(pc) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) <= 0 ||
	    EVP_PKEY_sign(pc, sig, &siglen, dig, sizeof(dig)) <= 0)
		return 1;
	EVP_PKEY_CTX_free(pc);
	t0 = cpu_now();
	for (long i = 0; i < n * 2; i++) {
		pc = EVP_PKEY_CTX_new(keys[0].pkey, NULL);
		if (EVP_PKEY_verify_init(pc) <= 0 ||
		    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) <= 0 ||
		    EVP_PKEY_verify(pc, sig, siglen, dig, sizeof(dig)) != 1)
			return 1;
		EVP_PKEY_CTX_free(pc);
	}
	ver_s = (cpu_now() - t0) / (double)(n * 2);

	printf("SAML ACS (Response + Assertion signed, %zu bytes): %.0f validations/s "
	       "(%.3f ms each)\n",
	    len, 1.0 / acs_s, acs_s * 1e3);
	printf("RSA-2048 verify, same core:                     %.0f verifications/s (%.3f ms)\n",
	    1.0 / ver_s, ver_s * 1e3);
	printf("non-crypto work / the 2 signature checks:       %.2f  (target < 1)\n",
	    (acs_s - 2 * ver_s) / (2 * ver_s));
	printf("floor: base64 + parse of the response alone:    %.3f ms (%.2f signature checks)\n",
	    parse_s * 1e3, parse_s / (2 * ver_s));
	printf("floor: one exclusive c14n of the whole response: %.3f ms (%.2f signature checks)\n",
	    c14n_s * 1e3, c14n_s / (2 * ver_s));
	free(text);
	free(b64);
	free(xml);
	free(md);
	xmlFreeDoc(doc);
	fb_saml_broker_free(b);
	fb_saml_keys_free(keys, nkeys);
	fb_crypto_keyring_free(sp_kr);
	fb_crypto_keyring_free(idp_kr);
	rm = fb_xasprintf("rm -rf '%s'", dir);
	if (system(rm) != 0)
		fprintf(stderr, "saml_acs: could not remove %s\n", dir);
	free(rm);
	return 0;
fail:
	fprintf(stderr, "saml_acs: %s\n", err.msg);
	return 1;
}
