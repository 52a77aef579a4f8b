/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_saml_acs.c: libFuzzer target for the broker's ACS
 * (fb_saml_broker_acs): a SAMLResponse form value as posted; raw XML
 * encoded into a valid value; and raw XML whose assertion (and then
 * response) is signed here with the IdP's key before it is encoded, so
 * that the fuzzer gets past the signature into the structure, time,
 * audience and subject checks. The first byte picks the mode, its high
 * bit says whether the browser started a request (_req1).
 */
#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "saml/saml.h"
#include "saml/internal.h"

#ifndef FB_FIXTURES_DIR
#define FB_FIXTURES_DIR "tests/fixtures"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ACS_MAX (96 * 1024)
/* The seeds' times are around this clock (2026-11-23T00:00:00Z). */
#define FUZZ_ACS_CLOCK 1795392000LL

static struct fb_keyring *fz_sp_kr, *fz_idp_kr;
static struct fb_saml_key *fz_idp_keys;
static size_t fz_nidp_keys;
static struct fb_saml_broker *fz_b;
static json_t *fz_used;
static char fz_dir[] = "/tmp/fb-fuzz-acs-XXXXXX";

static int
fz_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
fz_teardown(void)
{
	fb_saml_broker_free(fz_b);
	fb_saml_keys_free(fz_idp_keys, fz_nidp_keys);
	fb_crypto_keyring_free(fz_sp_kr);
	fb_crypto_keyring_free(fz_idp_kr);
	json_decref(fz_used);
	nftw(fz_dir, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* A keyring of the fixture RSA key alone. */
static struct fb_keyring *
fz_keyring(void)
{
	struct fb_conf_key k = {(char *)"fx", (char *)FB_FIXTURES_DIR "/keys/rsa2048.key.pem",
	    (char *)FB_FIXTURES_DIR "/keys/rsa2048.crt.pem", NULL, FB_KEY_ACTIVE};
	struct fb_conf c;
	struct fb_keyring *kr = NULL;
	struct fb_err err = {0};

	memset(&c, 0, sizeof(c));
	c.keys = &k;
	c.nkeys = 1;
	if (fb_crypto_keyring_load(&c, &kr, &err) != FB_OK) {
		fprintf(stderr, "fuzz_saml_acs: %s\n", err.msg);
		abort();
	}
	return kr;
}

static void
fz_setup(void)
{
	struct fb_err err = {0};
	struct fb_saml_upstream_def def = {0};
	char *md;
	int fd;

	if (fz_b != NULL)
		return;
	if ((fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) >= 0)
		fb_log_setup(FB_LOG_LOGFMT, FB_LOG_ERROR, fd);
	if (mkdtemp(fz_dir) == NULL)
		abort();
	/* The IdP and the SP share the fixture key: encrypted seeds decrypt too. */
	fz_sp_kr = fz_keyring();
	fz_idp_kr = fz_keyring();
	if (fb_saml_keys_load(fz_idp_kr, &fz_idp_keys, &fz_nidp_keys, &err) != FB_OK ||
	    fb_saml_broker_new("https://sp.example.test", NULL, fz_sp_kr, &fz_b, &err) != FB_OK)
		goto fail;
	md = fb_xasprintf(
	    "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
	    "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"https://idp.example.test\">"
	    "<md:IDPSSODescriptor "
	    "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">"
	    "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s"
	    "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
	    "<md:SingleSignOnService Binding=\"" FB_SAML_BINDING_REDIRECT_URI
	    "\" Location=\"https://idp.example.test/sso\"/>"
	    "</md:IDPSSODescriptor></md:EntityDescriptor>",
	    fz_idp_keys[0].cert_b64);
	def.name = "corp";
	def.metadata = md;
	def.metadata_len = strlen(md);
	def.clock_skew = 60;
	if (fb_saml_broker_add_upstream(fz_b, &def, &err) != FB_OK) {
		free(md);
		goto fail;
	}
	free(md);
	fz_used = json_object();
	atexit(fz_teardown);
	return;
fail:
	fprintf(stderr, "fuzz_saml_acs: setup: %s\n", err.msg);
	abort();
}

static enum fb_status
fz_once(void *ctx, const char *id, int64_t expires_at, struct fb_err *err)
{
	/* Forgets at once: the same seed must reach the same code every run. */
	(void)ctx;
	(void)id;
	(void)expires_at;
	(void)err;
	return FB_OK;
}

/* The first element named name (assertion namespace) under n, or NULL. */
static xmlNodePtr
fz_find(xmlNodePtr n, const char *name)
{
	for (; n != NULL; n = n->next) {
		xmlNodePtr f;

		if (fb_saml_xml_is(n, FB_SAML_NS_ASSERTION, name))
			return n;
		if ((f = fz_find(n->children, name)) != NULL)
			return f;
	}
	return NULL;
}

/* xml with its first Assertion and its root signed by the IdP key, base64 (new); NULL if unusable.
 */
static char *
fz_sign(const char *xml, size_t len)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr as;
	char *out = NULL, *text;
	size_t n = 0;

	if (fb_saml_xml_parse(xml, len, &doc, NULL) != FB_OK)
		return NULL;
	as = fz_find(xmlDocGetRootElement(doc), "Assertion");
	if (as != NULL && xmlHasProp(as, BAD_CAST "ID") != NULL)
		(void)fb_saml_sign_node(as, &fz_idp_keys[0], FB_CONF_SAML_RSA_SHA256, 1, NULL);
	if (xmlHasProp(xmlDocGetRootElement(doc), BAD_CAST "ID") != NULL)
		(void)fb_saml_sign_node(xmlDocGetRootElement(doc), &fz_idp_keys[0],
		    FB_CONF_SAML_RSA_SHA256, 1, NULL);
	text = fb_saml_doc_dump(doc, &n);
	if (text != NULL)
		out = fb_saml_b64(text, n);
	free(text);
	xmlFreeDoc(doc);
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fb_saml_acs in = {"corp", NULL, NULL, FUZZ_ACS_CLOCK, fz_once, NULL, "fuzz"};
	struct fb_saml_login out;
	struct fb_saml_reply reply;
	struct fb_err err = {0};
	char *s, *v = NULL;

	if (size < 1 || size > FUZZ_ACS_MAX)
		return 0;
	fz_setup();
	s = fb_xmalloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	in.request_id = (data[0] & 0x80) ? "_req1" : NULL;
	switch ((data[0] & 0x7f) % 3) {
	case 0: /* the form value as posted */
		in.saml_response = s;
		break;
	case 1: /* XML, base64-encoded */
		v = fb_saml_b64(s, size - 1);
		in.saml_response = v;
		break;
	default: /* XML, signed here, then encoded */
		v = fz_sign(s, size - 1);
		in.saml_response = v;
		break;
	}
	memset(&reply, 0, sizeof(reply));
	if (in.saml_response != NULL && fb_saml_broker_acs(fz_b, &in, &out, &reply, &err) == FB_OK)
		fb_saml_login_cleanup(&out);
	fb_saml_reply_cleanup(&reply);
	free(v);
	free(s);
	return 0;
}
