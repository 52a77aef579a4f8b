/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/unit/test_saml_sp.c: the broker as a SAML service provider. An
 * upstream IdP key (and an attacker's) are generated here, responses are
 * built as text and signed with fedbroker's own signer (saml/sign.c), then
 * taken apart the ways the literature attacks SAML (XSW1-XSW8, comments in
 * the NameID, DTDs...) and handed to the ACS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libxml/tree.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/templates.h>
#include <xmlsec/crypto.h>
#include <zlib.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "saml/saml.h"
#include "saml/internal.h"
#include "unit.h"

#define BROKER     "https://broker.example.com"
#define ACS        BROKER "/upstream/corp/acs"
#define SP_ENTITY  BROKER "/saml/sp/metadata"
#define IDP_ENTITY "https://idp.corp.example/saml"
#define IDP_SSO    "https://idp.corp.example/sso"
#define REQ_ID     "_req0123456789"

/* A generated key with its certificate, loaded as fedbroker loads its own. */
struct kp {
	struct fb_keyring *kr;
	struct fb_saml_key *keys;
	size_t nkeys;
	char *cert_pem;
};

static void
kp_make(const char *dir, const char *id, const char *alg, struct kp *k)
{
	struct fb_err err = {0};
	char *kdir = fb_xasprintf("%s/%s", dir, id);
	char *key_file = fb_xasprintf("%s/%s.key.pem", kdir, id);
	char *cert_file = fb_xasprintf("%s/%s.crt.pem", kdir, id);
	struct fb_conf_key ck = {(char *)id, key_file, cert_file, NULL, FB_KEY_ACTIVE};
	struct fb_conf c;

	memset(k, 0, sizeof(*k));
	CU_ASSERT_EQUAL_FATAL(fb_crypto_key_generate(kdir, id, alg, strcmp(alg, "ec") ? 2048 : 256,
	                          30, id, FB_KEY_ACTIVE, &err),
	    FB_OK);
	memset(&c, 0, sizeof(c));
	c.keys = &ck;
	c.nkeys = 1;
	CU_ASSERT_EQUAL_FATAL(fb_crypto_keyring_load(&c, &k->kr, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_saml_keys_load(k->kr, &k->keys, &k->nkeys, &err), FB_OK);
	free(kdir);
	free(key_file);
	free(cert_file);
}

static void
kp_free(struct kp *k)
{
	fb_saml_keys_free(k->keys, k->nkeys);
	fb_crypto_keyring_free(k->kr);
}

/* The test's world: the broker (SP), the corp IdP, an attacker's key, a replay cache. */
struct world {
	char *dir;
	struct kp sp, idp, evil;
	struct fb_saml_broker *b;
	json_t *used; /* the replay cache */
	int serial;
};

static enum fb_status
once_mem(void *ctx, const char *id, int64_t expires_at, struct fb_err *err)
{
	json_t *used = ctx;

	(void)expires_at;
	if (json_object_get(used, id) != NULL)
		return fb_err_set(err, FB_ERR_REPLAY, "used");
	json_object_set_new(used, id, json_true());
	return FB_OK;
}

static char *
idp_metadata(const struct kp *idp, int want_signed)
{
	return fb_xasprintf(
	    "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
	    "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"" IDP_ENTITY "\">\n"
	    "<md:IDPSSODescriptor WantAuthnRequestsSigned=\"%s\" "
	    "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\n"
	    "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s"
	    "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\n"
	    "<md:SingleLogoutService Binding=\"" FB_SAML_BINDING_REDIRECT_URI
	    "\" Location=\"https://idp.corp.example/slo\"/>\n"
	    "<md:SingleSignOnService Binding=\"" FB_SAML_BINDING_REDIRECT_URI
	    "\" Location=\"" IDP_SSO "\"/>\n"
	    "</md:IDPSSODescriptor></md:EntityDescriptor>\n",
	    want_signed ? "true" : "false", idp->keys[0].cert_b64);
}

static void
world_make(struct world *w, int allow_unsolicited, int accept_sha1)
{
	struct fb_err err = {0};
	char *md;
	struct fb_saml_upstream_def def = {0};

	memset(w, 0, sizeof(*w));
	w->dir = fb_test_tmpdir();
	kp_make(w->dir, "sp", "rsa", &w->sp);
	kp_make(w->dir, "idp", "rsa", &w->idp);
	kp_make(w->dir, "evil", "rsa", &w->evil);
	CU_ASSERT_EQUAL_FATAL(fb_saml_broker_new(BROKER, NULL, w->sp.kr, &w->b, &err), FB_OK);
	md = idp_metadata(&w->idp, 1);
	def.name = "corp";
	def.metadata = md;
	def.metadata_len = strlen(md);
	def.allow_unsolicited = allow_unsolicited;
	def.accept_sha1 = accept_sha1;
	def.clock_skew = 60;
	if (fb_saml_broker_add_upstream(w->b, &def, &err) != FB_OK) {
		fprintf(stderr, "\nadd_upstream: %s\n", err.msg);
		CU_FAIL_FATAL("add_upstream");
	}
	free(md);
	w->used = json_object();
}

static void
world_free(struct world *w)
{
	fb_saml_broker_free(w->b);
	kp_free(&w->sp);
	kp_free(&w->idp);
	kp_free(&w->evil);
	json_decref(w->used);
	fb_test_rmtree(w->dir);
	free(w->dir);
}

/* How to build one response; zero means the good default. */
struct rsp {
	const char *dest, *irt, *status, *nameid, *recipient, *scd_irt, *audience, *issuer;
	int64_t cond_nb, cond_noa, scd_noa; /* offsets from now (0: defaults) */
	int no_irt, no_sign_resp, no_sign_as, sha1, encrypt;
	const struct kp *key; /* NULL: the IdP's */
	const char *extra_as; /* XML put inside the assertion's Subject NameID position (raw) */
};

/* The response text (unsigned) for o, with assertion ID *as_id (new). */
static char *
rsp_text(struct world *w, const struct rsp *o, char **as_id)
{
	char now[32], nb[32], noa[32], snoa[32], sess[32];
	int64_t t = fb_time_now();
	char irt[128] = "", scd_irt[128] = "";
	const char *irtv = o->irt != NULL ? o->irt : REQ_ID;
	const char *sirtv = o->scd_irt != NULL ? o->scd_irt : irtv;

	*as_id = fb_xasprintf("_as%d_%lld", ++w->serial, (long long)t);
	fb_saml_time(t, now, sizeof(now));
	fb_saml_time(t + (o->cond_nb ? o->cond_nb : -30), nb, sizeof(nb));
	fb_saml_time(t + (o->cond_noa ? o->cond_noa : 300), noa, sizeof(noa));
	fb_saml_time(t + (o->scd_noa ? o->scd_noa : 300), snoa, sizeof(snoa));
	fb_saml_time(t + 8 * 3600, sess, sizeof(sess));
	if (!o->no_irt) {
		snprintf(irt, sizeof(irt), " InResponseTo=\"%s\"", irtv);
		snprintf(scd_irt, sizeof(scd_irt), " InResponseTo=\"%s\"", sirtv);
	}
	return fb_xasprintf(
	    "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" "
	    "xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_r%d\" Version=\"2.0\" "
	    "IssueInstant=\"%s\" Destination=\"%s\"%s>"
	    "<saml:Issuer>%s</saml:Issuer>"
	    "<samlp:Status><samlp:StatusCode Value=\"%s\"/>%s</samlp:Status>"
	    "<saml:Assertion ID=\"%s\" Version=\"2.0\" IssueInstant=\"%s\">"
	    "<saml:Issuer>%s</saml:Issuer>"
	    "<saml:Subject><saml:NameID "
	    "Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\">%s</saml:NameID>"
	    "<saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">"
	    "<saml:SubjectConfirmationData NotOnOrAfter=\"%s\" Recipient=\"%s\"%s/>"
	    "</saml:SubjectConfirmation></saml:Subject>"
	    "<saml:Conditions NotBefore=\"%s\" NotOnOrAfter=\"%s\"><saml:AudienceRestriction>"
	    "<saml:Audience>%s</saml:Audience></saml:AudienceRestriction></saml:Conditions>"
	    "<saml:AuthnStatement AuthnInstant=\"%s\" SessionIndex=\"_sess42\" "
	    "SessionNotOnOrAfter=\"%s\"><saml:AuthnContext><saml:AuthnContextClassRef>"
	    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
	    "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
	    "<saml:AttributeStatement><saml:Attribute Name=\"groups\">"
	    "<saml:AttributeValue>admins</saml:AttributeValue>"
	    "<saml:AttributeValue>dev</saml:AttributeValue></saml:Attribute>"
	    "<saml:Attribute Name=\"urn:oid:0.9.2342.19200300.100.1.3\" FriendlyName=\"mail\">"
	    "<saml:AttributeValue>alice@corp.example</saml:AttributeValue></saml:Attribute>"
	    "</saml:AttributeStatement></saml:Assertion></samlp:Response>",
	    w->serial, now, o->dest != NULL ? o->dest : ACS, irt,
	    o->issuer != NULL ? o->issuer : IDP_ENTITY,
	    o->status != NULL ? o->status : "urn:oasis:names:tc:SAML:2.0:status:Success",
	    o->status != NULL
	        ? "<samlp:StatusMessage>Access to the app is denied</samlp:StatusMessage>"
	        : "",
	    *as_id, now, o->issuer != NULL ? o->issuer : IDP_ENTITY,
	    o->nameid != NULL ? o->nameid : "alice-0042", snoa,
	    o->recipient != NULL ? o->recipient : ACS, scd_irt, nb, noa,
	    o->audience != NULL ? o->audience : SP_ENTITY, now, sess);
}

static xmlNodePtr
find(xmlNodePtr n, const char *ns, const char *name)
{
	for (; n != NULL; n = n->next) {
		xmlNodePtr f;

		if (fb_saml_xml_is(n, ns, name))
			return n;
		if ((f = find(n->children, ns, name)) != NULL)
			return f;
	}
	return NULL;
}

/* The signed document for o (caller frees). */
static xmlDocPtr
rsp_doc(struct world *w, const struct rsp *o)
{
	struct fb_err err = {0};
	char *as_id, *xml = rsp_text(w, o, &as_id);
	xmlDocPtr doc = NULL;
	const struct fb_saml_key *k = o->key != NULL ? &o->key->keys[0] : &w->idp.keys[0];
	enum fb_conf_saml_alg alg = o->sha1 ? FB_CONF_SAML_RSA_SHA1 : FB_CONF_SAML_RSA_SHA256;
	xmlNodePtr as;

	CU_ASSERT_EQUAL_FATAL(fb_saml_xml_parse(xml, strlen(xml), &doc, &err), FB_OK);
	as = find(xmlDocGetRootElement(doc), FB_SAML_NS_ASSERTION, "Assertion");
	if (!o->no_sign_as)
		CU_ASSERT_EQUAL_FATAL(fb_saml_sign_node(as, k, alg, 1, &err), FB_OK);
	if (o->encrypt) {
		xmlSecKeysMngrPtr m = NULL;

		CU_ASSERT_EQUAL_FATAL(fb_saml_enc_mngr_new(w->sp.keys[0].key, &m, &err), FB_OK);
		CU_ASSERT_EQUAL_FATAL(fb_saml_encrypt_assertion(doc, as, m, &err), FB_OK);
		xmlSecKeysMngrDestroy(m);
	}
	if (!o->no_sign_resp)
		CU_ASSERT_EQUAL_FATAL(fb_saml_sign_node(xmlDocGetRootElement(doc), k, alg, 1, &err),
		    FB_OK);
	free(xml);
	free(as_id);
	return doc;
}

static char *
doc_b64(xmlDocPtr doc)
{
	size_t n = 0;
	char *x = fb_saml_doc_dump(doc, &n), *b = fb_saml_b64(x, n);

	free(x);
	return b;
}

/* Runs the ACS on b64 as this browser (request_id may be NULL); returns the status. */
static enum fb_status
acs_run(struct world *w, const char *b64, const char *request_id, struct fb_saml_login *out,
    struct fb_saml_reply *reply, struct fb_err *err)
{
	struct fb_saml_acs in = {"corp", b64, request_id, fb_time_now(), once_mem, w->used, "t"};

	memset(reply, 0, sizeof(*reply));
	return fb_saml_broker_acs(w->b, &in, out, reply, err);
}

/* Expects b64 refused with want, a page, and nothing out; detail must hold needle. */
static void
expect_refused(struct world *w, const char *b64, const char *request_id, enum fb_status want,
    const char *needle, const char *label)
{
	struct fb_saml_login out;
	struct fb_saml_reply reply;
	struct fb_err err = {0};
	enum fb_status r = acs_run(w, b64, request_id, &out, &reply, &err);

	if (r != want || reply.detail == NULL ||
	    (needle != NULL && strstr(reply.detail, needle) == NULL))
		fprintf(stderr, "\n%s: status %d (want %d): %s | %s\n", label, (int)r, (int)want,
		    err.msg, reply.detail ? reply.detail : "(no page)");
	CU_ASSERT_EQUAL(r, want);
	CU_ASSERT_PTR_NOT_NULL(reply.detail);
	CU_ASSERT(reply.http_status >= 400);
	CU_ASSERT_PTR_NULL(reply.post_url);
	if (needle != NULL && reply.detail != NULL)
		CU_ASSERT_PTR_NOT_NULL(strstr(reply.detail, needle));
	/* Nothing comes out of a refused response. */
	CU_ASSERT_PTR_NULL(out.nameid);
	CU_ASSERT_PTR_NULL(out.attributes);
	CU_ASSERT_PTR_NULL(out.issuer);
	fb_saml_reply_cleanup(&reply);
	fb_saml_login_cleanup(&out);
}

static void
expect_o(struct world *w, const struct rsp *o, enum fb_status want, const char *needle,
    const char *label)
{
	xmlDocPtr doc = rsp_doc(w, o);
	char *b64 = doc_b64(doc);

	expect_refused(w, b64, REQ_ID, want, needle, label);
	free(b64);
	xmlFreeDoc(doc);
}

/* ---- the good paths ------------------------------------------------------------------ */

static void
check_good(struct world *w, const struct rsp *o, const char *label)
{
	xmlDocPtr doc = rsp_doc(w, o);
	char *b64 = doc_b64(doc);
	struct fb_saml_login out;
	struct fb_saml_reply reply;
	struct fb_err err = {0};
	enum fb_status r = acs_run(w, b64, o->no_irt ? NULL : REQ_ID, &out, &reply, &err);

	if (r != FB_OK)
		fprintf(stderr, "\n%s: %s\n", label, err.msg);
	CU_ASSERT_EQUAL_FATAL(r, FB_OK);
	CU_ASSERT_STRING_EQUAL(out.issuer, IDP_ENTITY);
	CU_ASSERT_STRING_EQUAL(out.nameid, "alice-0042");
	CU_ASSERT_STRING_EQUAL(out.nameid_format, FB_SAML_NAMEID_PERSISTENT);
	CU_ASSERT_STRING_EQUAL(out.session_index, "_sess42");
	CU_ASSERT(out.expires_at > fb_time_now() + 7 * 3600);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(out.attributes, "groups")), 2);
	CU_ASSERT_STRING_EQUAL(json_string_value(
	                           json_array_get(json_object_get(out.attributes, "groups"), 1)),
	    "dev");
	CU_ASSERT_STRING_EQUAL(json_string_value(
	                           json_array_get(json_object_get(out.attributes, "mail"), 0)),
	    "alice@corp.example");
	CU_ASSERT_EQUAL(out.response_signed, !o->no_sign_resp);
	CU_ASSERT_EQUAL(out.assertion_signed, !o->no_sign_as);
	CU_ASSERT_EQUAL(out.encrypted, o->encrypt);
	fb_saml_login_cleanup(&out);
	fb_saml_reply_cleanup(&reply);
	/* The same response again: a replay. */
	json_object_del(w->used, "req:" REQ_ID); /* only the assertion ID may catch it */
	expect_refused(w, b64, o->no_irt ? NULL : REQ_ID, FB_ERR_REPLAY, "used already", label);
	free(b64);
	xmlFreeDoc(doc);
}

static void
test_sp_acs_good(void)
{
	struct world w;
	struct rsp o = {0};

	world_make(&w, 0, 0);
	check_good(&w, &o, "both signed");
	o.no_sign_resp = 1;
	check_good(&w, &o, "assertion signed");
	o.no_sign_resp = 0;
	o.no_sign_as = 1;
	check_good(&w, &o, "response signed");
	o.no_sign_as = 0;
	o.encrypt = 1;
	check_good(&w, &o, "encrypted, both signed");
	o.no_sign_resp = 1;
	check_good(&w, &o, "encrypted, assertion signed");
	world_free(&w);
}

/* ---- bad input --------------------------------------------------------------------------- */

static void
test_sp_acs_checks(void)
{
	struct world w;
	struct rsp o;

	world_make(&w, 0, 0);
#define CASE(field_set, want, needle, label)                                                       \
	do {                                                                                       \
		memset(&o, 0, sizeof(o));                                                          \
		field_set;                                                                         \
		expect_o(&w, &o, want, needle, label);                                             \
	} while (0)
	CASE((o.no_sign_resp = 1, o.no_sign_as = 1), FB_ERR_SIGNATURE, "neither", "unsigned");
	CASE(o.key = &w.evil, FB_ERR_SIGNATURE, "does not verify", "another key");
	CASE((o.key = &w.evil, o.no_sign_resp = 1), FB_ERR_SIGNATURE, "does not verify",
	    "assertion by another key");
	CASE(o.audience = "https://other.example/sp", FB_ERR_PROTOCOL, "audience",
	    "wrong audience");
	CASE(o.recipient = BROKER "/upstream/other/acs", FB_ERR_PROTOCOL, "Recipient",
	    "wrong recipient");
	CASE(o.dest = "https://evil.example/acs", FB_ERR_PROTOCOL, "Destination",
	    "wrong destination");
	CASE(o.issuer = "https://evil.example/idp", FB_ERR_PROTOCOL, "issued by", "wrong issuer");
	CASE(o.cond_noa = -120, FB_ERR_PROTOCOL, "expired", "expired conditions");
	CASE(o.scd_noa = -120, FB_ERR_PROTOCOL, "expired", "expired confirmation");
	CASE(o.cond_nb = 600, FB_ERR_PROTOCOL, "not valid yet", "not yet valid");
	CASE(o.irt = "_another_request", FB_ERR_PROTOCOL, "request", "other request");
	CASE(o.scd_irt = "_another_request", FB_ERR_PROTOCOL, "another request",
	    "confirmation answers another request");
	CASE(o.no_irt = 1, FB_ERR_PROTOCOL, "does not answer", "missing InResponseTo");
	CASE(o.sha1 = 1, FB_ERR_SIGNATURE, "SHA-1", "sha1");
	CASE(o.status = "urn:oasis:names:tc:SAML:2.0:status:Responder", FB_ERR_DENIED, "Responder",
	    "failed status");
	/* Within the skew: accepted. */
	memset(&o, 0, sizeof(o));
	o.cond_nb = 30;
	check_good(&w, &o, "NotBefore within the skew");
	/* A comment inside the NameID: refused, never truncated. */
	CASE(o.nameid = "alice@corp.example<!-- -->.evil.example", FB_ERR_PROTOCOL, "comment",
	    "comment in NameID");
	CASE(o.nameid = "alice<b>x</b>", FB_ERR_PROTOCOL, "comment", "element in NameID");
#undef CASE
	world_free(&w);
}

static void
test_sp_acs_unsolicited(void)
{
	struct world w;
	struct rsp o = {0};
	xmlDocPtr doc;
	char *b64;

	/* No request of this browser, not allowed: refused; with InResponseTo: refused too. */
	world_make(&w, 0, 0);
	o.no_irt = 1;
	doc = rsp_doc(&w, &o);
	b64 = doc_b64(doc);
	expect_refused(&w, b64, NULL, FB_ERR_PROTOCOL, "unsolicited", "unsolicited");
	free(b64);
	xmlFreeDoc(doc);
	o.no_irt = 0;
	doc = rsp_doc(&w, &o);
	b64 = doc_b64(doc);
	expect_refused(&w, b64, NULL, FB_ERR_PROTOCOL, "did not start", "other browser's");
	free(b64);
	xmlFreeDoc(doc);
	world_free(&w);
	/* Allowed: accepted without InResponseTo, once. */
	world_make(&w, 1, 1);
	o.no_irt = 1;
	check_good(&w, &o, "unsolicited allowed");
	/* accept_sha1: a SHA-1 signature verifies. */
	o.sha1 = 1;
	check_good(&w, &o, "sha1 accepted");
	world_free(&w);
}

static void
test_sp_acs_xml(void)
{
	struct world w;
	char *b64;
	const char *dtd =
	    "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
	    "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">&x;"
	    "</samlp:Response>";
	const char *bomb = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaa\">"
	                   "<!ENTITY b \"&a;&a;&a;&a;\">]><r>&b;</r>";
	const char *utf16 = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><r/>";

	world_make(&w, 0, 0);
	b64 = fb_saml_b64(dtd, strlen(dtd));
	expect_refused(&w, b64, REQ_ID, FB_ERR_INVALID, "DOCTYPE", "external entity");
	free(b64);
	b64 = fb_saml_b64(bomb, strlen(bomb));
	expect_refused(&w, b64, REQ_ID, FB_ERR_INVALID, "DOCTYPE", "entity bomb");
	free(b64);
	b64 = fb_saml_b64(utf16, strlen(utf16));
	expect_refused(&w, b64, REQ_ID, FB_ERR_INVALID, "UTF-8", "utf-16");
	free(b64);
	expect_refused(&w, "%%%not base64", REQ_ID, FB_ERR_INVALID, NULL, "bad base64");
	b64 = fb_saml_b64("<r/>", 4);
	expect_refused(&w, b64, REQ_ID, FB_ERR_PROTOCOL, "not a SAML Response", "not a response");
	free(b64);
	{
		struct fb_saml_acs in = {"nobody", "x", NULL, fb_time_now(), once_mem, w.used,
		    NULL};
		struct fb_saml_login out;
		struct fb_saml_reply reply = {0};
		struct fb_err err = {0};

		CU_ASSERT_EQUAL(fb_saml_broker_acs(w.b, &in, &out, &reply, &err), FB_ERR_NOTFOUND);
		CU_ASSERT_EQUAL(reply.http_status, 404);
		fb_saml_reply_cleanup(&reply);
	}
	world_free(&w);
}

/* ---- signature wrapping (Somorovsky et al., "On Breaking SAML", 2012) --------------------- */

static xmlNodePtr
child(xmlNodePtr n, const char *ns, const char *name)
{
	return fb_saml_xml_child(n, ns, name);
}

/* ---- the signature verifier against xmlsec --------------------------------------------- */

/* xmlsec's verdict on the signature of node (ID registered, cert's key only): 1 valid. */
static int
xmlsec_verdict(xmlDocPtr doc, xmlNodePtr node, xmlNodePtr sig, const char *cert_pem)
{
	xmlSecDSigCtxPtr ctx = xmlSecDSigCtxCreate(NULL);
	xmlAttrPtr idattr = xmlHasProp(node, BAD_CAST "ID");
	xmlChar *id = xmlGetProp(node, BAD_CAST "ID");
	int ok;

	if (id != NULL && xmlGetID(doc, id) == NULL)
		xmlAddID(NULL, doc, id, idattr);
	ctx->signKey = xmlSecCryptoAppKeyLoadMemory((const xmlSecByte *)cert_pem,
	    (xmlSecSize)strlen(cert_pem), xmlSecKeyDataFormatCertPem, NULL, NULL, NULL);
	ctx->enabledReferenceUris = xmlSecTransformUriTypeSameDocument;
	ok = ctx->signKey != NULL && xmlSecDSigCtxVerify(ctx, sig) >= 0 &&
	     ctx->status == xmlSecDSigStatusSucceeded;
	xmlSecDSigCtxDestroy(ctx);
	if (id != NULL && xmlGetID(doc, id) != NULL)
		xmlRemoveID(doc, xmlGetID(doc, id));
	xmlFree(id);
	return ok;
}

/*
 * Signs node with xmlsec's own signer, c14n (both places) given, as the
 * second child; SHA-512 (digest and signature) when sha512, else SHA-256.
 */
static void
xmlsec_sign(xmlNodePtr node, const struct fb_saml_key *k, xmlSecTransformId c14n, int sha512)
{
	xmlChar *id = xmlGetProp(node, BAD_CAST "ID");
	char *uri = fb_xasprintf("#%s", (char *)id);
	xmlNodePtr sig = xmlSecTmplSignatureCreateNsPref(node->doc, c14n,
	    k->is_ec  ? xmlSecTransformEcdsaSha256Id
	    : sha512 ? xmlSecTransformRsaSha512Id
	             : xmlSecTransformRsaSha256Id,
	    NULL, BAD_CAST "ds");
	xmlNodePtr ref = xmlSecTmplSignatureAddReference(sig,
	    sha512 ? xmlSecTransformSha512Id : xmlSecTransformSha256Id, NULL, BAD_CAST uri, NULL);
	xmlSecDSigCtxPtr ctx = xmlSecDSigCtxCreate(NULL);
	xmlNodePtr first = node->children;

	xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId);
	xmlSecTmplReferenceAddTransform(ref, c14n);
	if (first != NULL && first->next != NULL)
		xmlAddNextSibling(first, sig);
	else
		xmlAddChild(node, sig);
	xmlAddID(NULL, node->doc, id, xmlHasProp(node, BAD_CAST "ID"));
	ctx->signKey = xmlSecKeyDuplicate(k->key);
	CU_ASSERT_EQUAL_FATAL(xmlSecDSigCtxSign(ctx, sig), 0);
	xmlSecDSigCtxDestroy(ctx);
	xmlRemoveID(node->doc, xmlGetID(node->doc, id));
	xmlFree(id);
	free(uri);
}

/* Both verifiers on the text's Response and Assertion signatures, verdicts compared. */
static int
crosscheck(const char *text, EVP_PKEY *key, const char *cert_pem, const char *label)
{
	xmlDocPtr doc = NULL;
	struct fb_err err = {0};
	xmlNodePtr nodes[2];
	int valid = 0;

	CU_ASSERT_EQUAL_FATAL(fb_saml_xml_parse(text, strlen(text), &doc, &err), FB_OK);
	nodes[0] = xmlDocGetRootElement(doc);
	nodes[1] = child(nodes[0], FB_SAML_NS_ASSERTION, "Assertion");
	for (int i = 0; i < 2; i++) {
		xmlNodePtr sig = child(nodes[i], FB_SAML_NS_DSIG, "Signature");
		int ours, theirs;

		if (sig == NULL)
			continue;
		ours = fb_saml_dsig_verify(doc, nodes[i], sig, &key, 1, 0, &err) == FB_OK;
		theirs = xmlsec_verdict(doc, nodes[i], sig, cert_pem);
		if (ours != theirs)
			fprintf(stderr, "\n%s, %s: ours %d, xmlsec %d (%s)\n", label,
			    i ? "assertion" : "response", ours, theirs, err.msg);
		CU_ASSERT_EQUAL(ours, theirs);
		valid += ours;
	}
	xmlFreeDoc(doc);
	return valid;
}

/* text with the first from replaced by to (new); NULL when from is not there. */
static char *
replaced(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);

	if (at == NULL)
		return NULL;
	return fb_xasprintf("%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
}

static void
test_sp_dsig_crosscheck(void)
{
	struct world w;
	struct rsp o = {0};
	struct kp ec;
	static const char *const muts[][3] = {
	    {"none", "", ""},
	    {"the NameID changed", "alice-0042", "alice-0043"},
	    {"a comment in the NameID (not in the digest)", "alice-0042", "alice<!--x-->-0042"},
	    {"an attribute added", "Version=\"2.0\" IssueInstant", "Version=\"2.0\" X=\"1\" IssueInstant"},
	    {"an unused namespace on the root", "<samlp:Response ", "<samlp:Response xmlns:foo=\"urn:x\" "},
	    {"a default namespace on the root", "<samlp:Response ", "<samlp:Response xmlns=\"urn:x\" "},
	    {"xml:lang on the root", "<samlp:Response ", "<samlp:Response xml:lang=\"en\" "},
	    {"whitespace in SignedInfo", "<ds:SignedInfo>", "<ds:SignedInfo>\n"},
	    {"a comment in SignedInfo", "<ds:SignedInfo>", "<ds:SignedInfo><!-- c -->"},
	    {"a whitespace change in the attributes", "Version=\"2.0\"", "Version = \"2.0\""},
	    {"another digest", "<ds:DigestValue>", "<ds:DigestValue>AAAA"},
	    {"another signature value", "<ds:SignatureValue>", "<ds:SignatureValue>AAAA"},
	    {"inclusive c14n named in the Reference",
	        "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
	        "<ds:Transform Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>"},
	    {"an entity reference in text", "alice-0042", "alice&#45;0042"},
	    {"CDATA in text", "alice-0042", "<![CDATA[alice-0042]]>"},
	};

	world_make(&w, 0, 0);
	kp_make(w.dir, "ec", "ec", &ec);
	/*
	 * Signed by fedbroker's signer (exclusive c14n), by xmlsec's with exclusive
	 * and inclusive c14n, with EC, and with SHA-512.
	 */
	for (int variant = 0; variant < 5; variant++) {
		char *as_id, *text = rsp_text(&w, &o, &as_id), *signed_text;
		const struct kp *k = variant == 3 ? &ec : &w.idp;
		xmlDocPtr doc = NULL;
		xmlNodePtr root, as;
		struct fb_err err = {0};
		size_t n = 0;

		/* The namespaces in scope matter to inclusive c14n: one more on the root. */
		if (variant == 2) {
			char *t = replaced(text, "<samlp:Response ",
			    "<samlp:Response xmlns:extra=\"urn:extra\" ");

			free(text);
			text = t;
		}
		CU_ASSERT_EQUAL_FATAL(fb_saml_xml_parse(text, strlen(text), &doc, &err), FB_OK);
		root = xmlDocGetRootElement(doc);
		as = child(root, FB_SAML_NS_ASSERTION, "Assertion");
		if (variant == 0) {
			CU_ASSERT_EQUAL_FATAL(fb_saml_sign_node(as, &w.idp.keys[0],
			                          FB_CONF_SAML_RSA_SHA256, 1, &err), FB_OK);
			CU_ASSERT_EQUAL_FATAL(fb_saml_sign_node(root, &w.idp.keys[0],
			                          FB_CONF_SAML_RSA_SHA256, 1, &err), FB_OK);
		} else {
			xmlSecTransformId c = variant == 1 || variant == 4 ? xmlSecTransformExclC14NId
			                                                   : xmlSecTransformInclC14NId;

			xmlsec_sign(as, &k->keys[0], c, variant == 4);
			xmlsec_sign(root, &k->keys[0], c, variant == 4);
		}
		signed_text = fb_saml_doc_dump(doc, &n);
		xmlFreeDoc(doc);
		for (size_t m = 0; m < sizeof(muts) / sizeof(muts[0]); m++) {
			char *t = muts[m][1][0] != '\0' ? replaced(signed_text, muts[m][1], muts[m][2])
			                                : fb_xstrdup(signed_text);
			char *label = fb_xasprintf("variant %d, %s", variant, muts[m][0]);
			int v;

			if (t == NULL) {
				free(label);
				continue;
			}
			v = crosscheck(t, k->keys[0].pkey, k->keys[0].cert_pem, label);
			/* The untouched response verifies twice; with another key, never. */
			if (m == 0)
				CU_ASSERT_EQUAL(v, 2);
			CU_ASSERT_EQUAL(crosscheck(t, w.evil.keys[0].pkey, w.evil.keys[0].cert_pem,
			                    label),
			    0);
			free(label);
			free(t);
		}
		free(signed_text);
		free(text);
		free(as_id);
	}
	kp_free(&ec);
	world_free(&w);
}

/* An evil copy of the assertion (new node): another NameID, its Signature removed, id new. */
static xmlNodePtr
evil_assertion(xmlNodePtr as, const char *id)
{
	xmlNodePtr e = xmlCopyNode(as, 1), s, nid;

	if ((s = child(e, FB_SAML_NS_DSIG, "Signature")) != NULL) {
		xmlUnlinkNode(s);
		xmlFreeNode(s);
	}
	nid = child(child(e, FB_SAML_NS_ASSERTION, "Subject"), FB_SAML_NS_ASSERTION, "NameID");
	xmlNodeSetContent(nid, BAD_CAST "admin");
	if (id != NULL)
		xmlSetProp(e, BAD_CAST "ID", BAD_CAST id);
	return e;
}

static void
xsw_expect(struct world *w, xmlDocPtr doc, const char *label)
{
	char *b64 = doc_b64(doc);

	/* Any refusal will do, as long as nobody (and surely not "admin") is signed in. */
	struct fb_saml_login out;
	struct fb_saml_reply reply;
	struct fb_err err = {0};
	enum fb_status r = acs_run(w, b64, REQ_ID, &out, &reply, &err);

	if (r == FB_OK)
		fprintf(stderr, "\n%s accepted: nameid %s\n", label, out.nameid);
	CU_ASSERT_NOT_EQUAL(r, FB_OK);
	CU_ASSERT(r == FB_ERR_PROTOCOL || r == FB_ERR_SIGNATURE);
	CU_ASSERT_PTR_NULL(out.nameid);
	CU_ASSERT_PTR_NOT_NULL(reply.detail);
	fb_saml_reply_cleanup(&reply);
	fb_saml_login_cleanup(&out);
	free(b64);
	xmlFreeDoc(doc);
}

/* A signed response for o, its root and its assertion. */
static xmlDocPtr
xsw_start(struct world *w, const struct rsp *o, xmlNodePtr *root, xmlNodePtr *as)
{
	xmlDocPtr doc = rsp_doc(w, o);

	*root = xmlDocGetRootElement(doc);
	*as = child(*root, FB_SAML_NS_ASSERTION, "Assertion");
	return doc;
}

static void
test_sp_acs_xsw(void)
{
	struct world w;
	struct rsp resp_signed = {0}, as_signed = {0};
	xmlDocPtr doc;
	xmlNodePtr root, as, sig, e, obj;

	world_make(&w, 0, 0);
	resp_signed.no_sign_as = 1;
	as_signed.no_sign_resp = 1;

	/* XSW1: a new Response root; the signed original goes inside its copied Signature. */
	doc = rsp_doc(&w, &resp_signed);
	root = xmlDocGetRootElement(doc);
	e = xmlCopyNode(root, 1);
	xmlSetProp(e, BAD_CAST "ID", BAD_CAST "_evilresp");
	as = child(e, FB_SAML_NS_ASSERTION, "Assertion");
	xmlReplaceNode(as, evil_assertion(as, "_evilas"));
	xmlFreeNode(as);
	sig = child(e, FB_SAML_NS_DSIG, "Signature");
	xmlUnlinkNode(root);
	xmlAddChild(sig, root);
	xmlDocSetRootElement(doc, e);
	xsw_expect(&w, doc, "XSW1");

	/* XSW2: as XSW1, the signed original a sibling before the Signature (detached). */
	doc = rsp_doc(&w, &resp_signed);
	root = xmlDocGetRootElement(doc);
	e = xmlCopyNode(root, 1);
	xmlSetProp(e, BAD_CAST "ID", BAD_CAST "_evilresp");
	as = child(e, FB_SAML_NS_ASSERTION, "Assertion");
	xmlReplaceNode(as, evil_assertion(as, "_evilas"));
	xmlFreeNode(as);
	sig = child(e, FB_SAML_NS_DSIG, "Signature");
	xmlUnlinkNode(root);
	xmlDocSetRootElement(doc, e);
	xmlAddPrevSibling(sig, root);
	xsw_expect(&w, doc, "XSW2");

	/* XSW3: an evil assertion (new ID) before the signed one. */
	doc = xsw_start(&w, &as_signed, &root, &as);
	xmlAddPrevSibling(as, evil_assertion(as, "_evilas"));
	xsw_expect(&w, doc, "XSW3");

	/* XSW4: the signed assertion wrapped inside the evil one. */
	doc = xsw_start(&w, &as_signed, &root, &as);
	e = evil_assertion(as, "_evilas");
	xmlReplaceNode(as, e);
	xmlAddChild(e, as);
	xsw_expect(&w, doc, "XSW4");

	/* XSW5: the evil assertion carries the copied signature; the original moved to the end. */
	doc = xsw_start(&w, &as_signed, &root, &as);
	e = evil_assertion(as, NULL);
	xmlAddNextSibling(child(e, FB_SAML_NS_ASSERTION, "Issuer"),
	    xmlCopyNode(child(as, FB_SAML_NS_DSIG, "Signature"), 1));
	xmlReplaceNode(as, e);
	xmlAddChild(root, as);
	xsw_expect(&w, doc, "XSW5");

	/* XSW6: as XSW5, the original inside the copied Signature. */
	doc = xsw_start(&w, &as_signed, &root, &as);
	e = evil_assertion(as, NULL);
	sig = xmlCopyNode(child(as, FB_SAML_NS_DSIG, "Signature"), 1);
	xmlAddNextSibling(child(e, FB_SAML_NS_ASSERTION, "Issuer"), sig);
	xmlReplaceNode(as, e);
	xmlAddChild(sig, as);
	xsw_expect(&w, doc, "XSW6");

	/* XSW7: the original inside an Extensions element, the evil one after. */
	doc = xsw_start(&w, &as_signed, &root, &as);
	e = evil_assertion(as, "_evilas");
	obj = xmlNewNode(NULL, BAD_CAST "Extensions");
	xmlSetNs(obj, root->ns);
	xmlReplaceNode(as, obj);
	xmlAddChild(obj, as);
	xmlAddNextSibling(obj, e);
	xsw_expect(&w, doc, "XSW7");

	/* XSW8: the evil assertion's Signature holds an Object with the original (unsigned) in it.
	 */
	doc = xsw_start(&w, &as_signed, &root, &as);
	e = evil_assertion(as, NULL);
	sig = xmlCopyNode(child(as, FB_SAML_NS_DSIG, "Signature"), 1);
	xmlAddNextSibling(child(e, FB_SAML_NS_ASSERTION, "Issuer"), sig);
	obj = xmlNewChild(sig, sig->ns, BAD_CAST "Object", NULL);
	xmlReplaceNode(as, e);
	xmlAddChild(obj, as);
	{
		xmlNodePtr s = child(as, FB_SAML_NS_DSIG, "Signature");

		xmlUnlinkNode(s);
		xmlFreeNode(s);
	}
	xsw_expect(&w, doc, "XSW8");

	/* Duplicated ID: the evil assertion takes the signed one's ID, placed after it. */
	doc = xsw_start(&w, &as_signed, &root, &as);
	{
		xmlChar *id = xmlGetProp(as, BAD_CAST "ID");

		xmlAddNextSibling(as, evil_assertion(as, (const char *)id));
		xmlFree(id);
	}
	xsw_expect(&w, doc, "duplicate ID");

	/* The assertion tampered with after signing (NameID changed in place). */
	doc = rsp_doc(&w, &as_signed);
	as = child(xmlDocGetRootElement(doc), FB_SAML_NS_ASSERTION, "Assertion");
	xmlNodeSetContent(child(child(as, FB_SAML_NS_ASSERTION, "Subject"), FB_SAML_NS_ASSERTION,
	                      "NameID"),
	    BAD_CAST "admin");
	xsw_expect(&w, doc, "tampered");

	/* A signature whose Reference points at another element than its parent. */
	doc = xsw_start(&w, &resp_signed, &root, &as);
	{
		xmlNodePtr s = child(root, FB_SAML_NS_DSIG, "Signature");

		/* The Response's signature moved into the (unsigned) assertion. */
		xmlUnlinkNode(s);
		xmlAddNextSibling(child(as, FB_SAML_NS_ASSERTION, "Issuer"), s);
	}
	xsw_expect(&w, doc, "reference to another element");
	world_free(&w);
}

/* ---- metadata and requests --------------------------------------------------------------- */

static void
test_sp_metadata_and_request(void)
{
	struct world w;
	struct fb_err err = {0};
	char *md = NULL, *url = NULL, *id = NULL, *smd = NULL;
	json_t *info = NULL;
	size_t len = 0;

	world_make(&w, 0, 0);
	CU_ASSERT_EQUAL_FATAL(fb_saml_broker_metadata(w.b, 0, &md, &len, &err), FB_OK);
	CU_ASSERT_EQUAL(len, strlen(md));
	CU_ASSERT_EQUAL_FATAL(fb_saml_metadata_parse(md, len, NULL, &info, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(info, "entity_id")), SP_ENTITY);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(info, "role")), "sp");
	CU_ASSERT(json_is_true(json_object_get(info, "authn_requests_signed")));
	CU_ASSERT(json_is_true(json_object_get(info, "want_assertions_signed")));
	CU_ASSERT_STRING_EQUAL(json_string_value(
	                           json_object_get(json_array_get(json_object_get(info, "acs"), 0),
	                               "url")),
	    ACS);
	CU_ASSERT_PTR_NOT_NULL(strstr(md, "use=\"encryption\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(md, BROKER "/upstream/corp/slo"));
	json_decref(info);
	/* Signed: verifies with our certificate. */
	CU_ASSERT_EQUAL_FATAL(fb_saml_broker_metadata(w.b, 1, &smd, &len, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_saml_metadata_parse(smd, len, w.sp.keys[0].cert_pem, &info, &err),
	    FB_OK);
	json_decref(info);

	/* The AuthnRequest: Redirect to the SSO, deflated, signed (the IdP wants it). */
	CU_ASSERT_EQUAL_FATAL(fb_saml_broker_authn_request(w.b, "corp", "rs-1", NULL, &url, &id, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(strncmp(url, IDP_SSO "?SAMLRequest=", strlen(IDP_SSO) + 13), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(url, "&RelayState=rs-1&SigAlg="));
	CU_ASSERT_PTR_NOT_NULL(strstr(url, "&Signature="));
	CU_ASSERT_EQUAL(id[0], '_');
	{
		const char *q = strchr(url, '?') + 1;
		EVP_PKEY *k = w.sp.keys[0].pkey;
		size_t plen = 0;
		int dup = 0;
		const char *p = fb_saml_query_param(q, "SAMLRequest", &plen, &dup);
		char *enc = fb_saml_url_decode(p, plen, 0), *xml = NULL;

		CU_ASSERT_EQUAL(fb_saml_query_verify(q, "SAMLRequest", &k, 1, 0, NULL, &err),
		    FB_OK);
		CU_ASSERT_EQUAL_FATAL(fb_saml_message_decode(enc, 1, &xml, &len, &err), FB_OK);
		CU_ASSERT_PTR_NOT_NULL(strstr(xml, id));
		CU_ASSERT_PTR_NOT_NULL(strstr(xml, "AssertionConsumerServiceURL=\"" ACS "\""));
		CU_ASSERT_PTR_NOT_NULL(strstr(xml, "<saml:Issuer>" SP_ENTITY "</saml:Issuer>"));
		free(enc);
		free(xml);
	}
	free(url);
	free(id);
	CU_ASSERT_EQUAL(fb_saml_broker_authn_request(w.b, "nope", NULL, NULL, &url, &id, &err),
	    FB_ERR_NOTFOUND);
	/* Not IdP metadata: refused with the reason. */
	{
		struct fb_saml_upstream_def def = {"sp2", md, strlen(md), 0, 0, 0, 60, 0};

		CU_ASSERT_EQUAL(fb_saml_broker_add_upstream(w.b, &def, &err), FB_ERR_CONFIG);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not SAML IdP metadata"));
	}
	free(md);
	free(smd);
	world_free(&w);
}

/* sign_requests: never leaves requests unsigned, and the metadata says so. */
static void
test_sp_unsigned_requests(void)
{
	struct world w;
	struct fb_err err = {0};
	struct fb_saml_broker *b = NULL;
	char *md, *url = NULL, *id = NULL, *sp = NULL;
	struct fb_saml_upstream_def def = {"corp", NULL, 0, 0, 0, FB_CONF_SAML_SIGN_REQ_NEVER, 60, 0};

	world_make(&w, 0, 0);
	md = idp_metadata(&w.idp, 1);
	def.metadata = md;
	def.metadata_len = strlen(md);
	CU_ASSERT_EQUAL_FATAL(fb_saml_broker_new(BROKER, "urn:test:sp", w.sp.kr, &b, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_saml_broker_add_upstream(b, &def, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_saml_broker_authn_request(b, "corp", NULL, NULL, &url, &id, &err),
	    FB_OK);
	CU_ASSERT_PTR_NULL(strstr(url, "Signature="));
	CU_ASSERT_EQUAL_FATAL(fb_saml_broker_metadata(b, 0, &sp, NULL, &err), FB_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(sp, "AuthnRequestsSigned=\"false\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(sp, "entityID=\"urn:test:sp\""));
	free(md);
	free(url);
	free(id);
	free(sp);
	fb_saml_broker_free(b);
	world_free(&w);
}

/* ---- single logout ------------------------------------------------------------------------ */

static char *
logout_xml(const char *issuer, const char *dest, int64_t noa_off, const char *nameid)
{
	char now[32], noa[32];

	fb_saml_time(fb_time_now(), now, sizeof(now));
	fb_saml_time(fb_time_now() + noa_off, noa, sizeof(noa));
	return fb_xasprintf(
	    "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" "
	    "xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_lr1\" Version=\"2.0\" "
	    "IssueInstant=\"%s\" NotOnOrAfter=\"%s\" Destination=\"%s\">"
	    "<saml:Issuer>%s</saml:Issuer><saml:NameID>%s</saml:NameID>"
	    "<samlp:SessionIndex>_sess42</samlp:SessionIndex></samlp:LogoutRequest>",
	    now, noa, dest, issuer, nameid);
}

/* The Redirect query of xml, signed with k unless k is NULL (new). */
static char *
logout_query(const char *xml, const struct kp *k)
{
	struct fb_buf q;
	z_stream z;
	unsigned char buf[8192];
	char *b64, *query, *sig = NULL;

	memset(&z, 0, sizeof(z));
	deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
	z.next_in = (unsigned char *)xml;
	z.avail_in = (uInt)strlen(xml);
	z.next_out = buf;
	z.avail_out = sizeof(buf);
	deflate(&z, Z_FINISH);
	b64 = fb_saml_b64(buf, z.total_out);
	deflateEnd(&z);
	fb_buf_init(&q, 64 * 1024);
	fb_buf_addf(&q, NULL, "SAMLRequest=");
	fb_saml_url_encode(&q, b64, NULL);
	fb_buf_addf(&q, NULL, "&RelayState=rs9");
	if (k != NULL) {
		fb_buf_addf(&q, NULL, "&SigAlg=");
		fb_saml_url_encode(&q, fb_saml_alg_uri(FB_CONF_SAML_RSA_SHA256), NULL);
		query = fb_buf_take(&q);
		CU_ASSERT_EQUAL(fb_saml_query_sign(&k->keys[0], FB_CONF_SAML_RSA_SHA256, query,
		                    &sig, NULL),
		    FB_OK);
		fb_buf_init(&q, 64 * 1024);
		fb_buf_addf(&q, NULL, "%s&Signature=", query);
		fb_saml_url_encode(&q, sig, NULL);
		free(query);
		free(sig);
	}
	free(b64);
	return fb_buf_take(&q);
}

/* logout_parse of a Redirect (k signs) or POST (k signs the XML) request; its status. */
static enum fb_status
logout_run(struct world *w, const char *xml, const struct kp *k, int post,
    struct fb_saml_logout_req *out)
{
	struct fb_saml_reply reply = {0};
	struct fb_err err = {0};
	enum fb_status r;

	if (post) {
		xmlDocPtr doc = NULL;
		char *b64;

		CU_ASSERT_EQUAL_FATAL(fb_saml_xml_parse(xml, strlen(xml), &doc, &err), FB_OK);
		if (k != NULL)
			CU_ASSERT_EQUAL(fb_saml_sign_node(xmlDocGetRootElement(doc), &k->keys[0],
			                    FB_CONF_SAML_RSA_SHA256, 1, &err),
			    FB_OK);
		b64 = doc_b64(doc);
		xmlFreeDoc(doc);
		r = fb_saml_broker_logout_parse(w->b, "corp", FB_SAML_POST, NULL, b64, "rs9",
		    fb_time_now(), "t", out, &reply, &err);
		free(b64);
	} else {
		char *q = logout_query(xml, k);

		r = fb_saml_broker_logout_parse(w->b, "corp", FB_SAML_REDIRECT, q, NULL, NULL,
		    fb_time_now(), "t", out, &reply, &err);
		free(q);
	}
	if (r != FB_OK) {
		CU_ASSERT_PTR_NOT_NULL(reply.detail);
		CU_ASSERT_PTR_NULL(out->nameid);
	}
	fb_saml_reply_cleanup(&reply);
	return r;
}

static void
test_sp_logout(void)
{
	struct world w;
	struct fb_saml_logout_req l;
	struct fb_err err = {0};
	char *good, *x, *url = NULL;
	const char *slo = BROKER "/upstream/corp/slo";

	world_make(&w, 0, 0);
	good = logout_xml(IDP_ENTITY, slo, 300, "alice-0042");
	for (int post = 0; post < 2; post++) {
		CU_ASSERT_EQUAL_FATAL(logout_run(&w, good, &w.idp, post, &l), FB_OK);
		CU_ASSERT_STRING_EQUAL(l.nameid, "alice-0042");
		CU_ASSERT_STRING_EQUAL(l.id, "_lr1");
		CU_ASSERT_STRING_EQUAL(l.relay_state, "rs9");
		CU_ASSERT_EQUAL(l.nsession_indexes, 1);
		CU_ASSERT(fb_saml_logout_req_matches(&l, "alice-0042", "_sess42"));
		CU_ASSERT(!fb_saml_logout_req_matches(&l, "alice-0042", "_other"));
		CU_ASSERT(!fb_saml_logout_req_matches(&l, "bob", "_sess42"));
		CU_ASSERT(!fb_saml_logout_req_matches(&l, NULL, NULL));
		fb_saml_logout_req_cleanup(&l);
		/* Unsigned, or signed by another key: refused. */
		CU_ASSERT_EQUAL(logout_run(&w, good, NULL, post, &l), FB_ERR_SIGNATURE);
		CU_ASSERT_EQUAL(logout_run(&w, good, &w.evil, post, &l), FB_ERR_SIGNATURE);
	}
	free(good);
	x = logout_xml("https://evil.example/idp", slo, 300, "alice-0042");
	CU_ASSERT_EQUAL(logout_run(&w, x, &w.idp, 0, &l), FB_ERR_PROTOCOL);
	free(x);
	x = logout_xml(IDP_ENTITY, "https://evil.example/slo", 300, "alice-0042");
	CU_ASSERT_EQUAL(logout_run(&w, x, &w.idp, 0, &l), FB_ERR_PROTOCOL);
	free(x);
	x = logout_xml(IDP_ENTITY, slo, -300, "alice-0042");
	CU_ASSERT_EQUAL(logout_run(&w, x, &w.idp, 1, &l), FB_ERR_PROTOCOL);
	free(x);
	x = logout_xml(IDP_ENTITY, slo, 300, "alice<!---->-0042");
	CU_ASSERT_EQUAL(logout_run(&w, x, &w.idp, 1, &l), FB_ERR_PROTOCOL);
	free(x);

	/* What we send: signed Redirect messages to the IdP's SLO. */
	CU_ASSERT_EQUAL_FATAL(fb_saml_broker_logout_response(w.b, "corp", "_lr1", 1, "rs9", &url,
	                          &err),
	    FB_OK);
	CU_ASSERT_EQUAL(strncmp(url, "https://idp.corp.example/slo?SAMLResponse=", 42), 0);
	{
		EVP_PKEY *k = w.sp.keys[0].pkey;

		CU_ASSERT_EQUAL(fb_saml_query_verify(strchr(url, '?') + 1, "SAMLResponse", &k, 1, 0,
		                    NULL, &err),
		    FB_OK);
		free(url);
		CU_ASSERT_EQUAL_FATAL(fb_saml_broker_logout_request(w.b, "corp", "alice-0042",
		                          FB_SAML_NAMEID_PERSISTENT, "_sess42", NULL, &url, &err),
		    FB_OK);
		CU_ASSERT_EQUAL(fb_saml_query_verify(strchr(url, '?') + 1, "SAMLRequest", &k, 1, 0,
		                    NULL, &err),
		    FB_OK);
		{
			size_t plen = 0, len = 0;
			int dup = 0;
			const char *p =
			    fb_saml_query_param(strchr(url, '?') + 1, "SAMLRequest", &plen, &dup);
			char *enc = fb_saml_url_decode(p, plen, 0), *xml = NULL;

			CU_ASSERT_EQUAL_FATAL(fb_saml_message_decode(enc, 1, &xml, &len, &err),
			    FB_OK);
			CU_ASSERT_PTR_NOT_NULL(strstr(xml, ">alice-0042</saml:NameID>"));
			CU_ASSERT_PTR_NOT_NULL(strstr(xml, "<samlp:SessionIndex>_sess42<"));
			free(enc);
			free(xml);
		}
		free(url);
	}
	world_free(&w);
}

/* The store's replay cache (fb_store_once): once, across restarts. */
static void
test_sp_once_store(void)
{
	struct fb_conf c;
	struct fb_store *st = NULL;
	struct fb_err err = {0};
	char *dir = fb_test_tmpdir();

	memset(&c, 0, sizeof(c));
	c.store_driver = FB_STORE_SQLITE;
	c.state_dir = dir;
	c.store_busy_timeout_ms = 5000;
	CU_ASSERT_EQUAL_FATAL(fb_store_open(&c, &st, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_saml_broker_once_store(st, "as:x:_a1", fb_time_now() + 60, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_saml_broker_once_store(st, "as:x:_a1", fb_time_now() + 60, &err),
	    FB_ERR_REPLAY);
	CU_ASSERT_EQUAL(fb_saml_broker_once_store(st, "as:x:_a2", fb_time_now() + 60, &err), FB_OK);
	/* A restart (another handle on the database) still knows it. */
	fb_store_close(st);
	st = NULL;
	CU_ASSERT_EQUAL_FATAL(fb_store_open(&c, &st, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_saml_broker_once_store(st, "as:x:_a1", fb_time_now() + 60, &err),
	    FB_ERR_REPLAY);
	fb_store_close(st);
	fb_test_rmtree(dir);
	free(dir);
}

/*
 * The metadata_url refresh's bookkeeping: a failed fetch counts (the status
 * file), stores nothing, retries within 5 minutes; the next refresh is due at
 * once without a stored copy and when the last refresh said with one; the
 * metrics show both families.
 */
static void
test_sp_metadata_refresh_status(void)
{
	struct fb_conf c;
	struct fb_conf_upstream up;
	struct fb_err err = {0};
	struct fb_buf b;
	char *dir = fb_test_tmpdir();
	char *xml, *sub;
	char name[] = "corp", url[] = "https://127.0.0.1:1/md.xml",
	     http[] = "http://127.0.0.1:1/md.xml";
	char cert[] = "/nonexistent.pem";
	int changed = 1;
	int64_t next = 0, now = fb_time_now();

	memset(&c, 0, sizeof(c));
	memset(&up, 0, sizeof(up));
	c.state_dir = dir;
	c.upstreams = &up;
	c.nupstreams = 1;
	up.name = name;
	up.type = FB_CONF_UPSTREAM_SAML;
	up.saml.metadata_url = url; /* nothing listens */
	up.saml.metadata_certificate = cert;
	up.saml.metadata_refresh = 3600;

	CU_ASSERT_EQUAL(fb_saml_upstream_metadata_due(&c, &up), 0);
	CU_ASSERT_EQUAL(fb_saml_upstream_metadata_refresh(&c, &up, &changed, &next, &err),
	    FB_ERR_UPSTREAM);
	CU_ASSERT_EQUAL(changed, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "keeping the last good copy"));
	CU_ASSERT(next >= now + 300 && next <= fb_time_now() + 300);
	xml = fb_saml_upstream_metadata_path(&c, &up, ".xml");
	CU_ASSERT_EQUAL(access(xml, F_OK), -1);
	/* No copy: due now, whatever the last refresh said. */
	CU_ASSERT_EQUAL(fb_saml_upstream_metadata_due(&c, &up), 0);
	CU_ASSERT_EQUAL(fb_saml_upstream_metadata_refresh(&c, &up, &changed, &next, &err),
	    FB_ERR_UPSTREAM);

	fb_buf_init(&b, 4096);
	CU_ASSERT_EQUAL(fb_saml_upstream_metadata_metrics(&c, &b, &err), FB_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data,
	    "# TYPE fedbroker_upstream_metadata_refresh_failures_total counter\n"
	    "fedbroker_upstream_metadata_refresh_failures_total{upstream=\"corp\"} 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data,
	    "fedbroker_upstream_metadata_last_success_timestamp_seconds{upstream=\"corp\"} 0\n"));
	fb_buf_cleanup(&b);

	/* With a stored copy: due when the last refresh said. */
	sub = fb_xasprintf("%s/upstream-metadata", dir);
	free(fb_test_write_file(sub, "corp.xml", "<x/>"));
	CU_ASSERT_EQUAL(fb_saml_upstream_metadata_due(&c, &up), next);
	/* Not https: refused before any connection, still counted. */
	up.saml.metadata_url = http;
	CU_ASSERT_EQUAL(fb_saml_upstream_metadata_refresh(&c, &up, &changed, &next, &err),
	    FB_ERR_INVALID);
	fb_buf_init(&b, 4096);
	CU_ASSERT_EQUAL(fb_saml_upstream_metadata_metrics(&c, &b, &err), FB_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "_failures_total{upstream=\"corp\"} 3\n"));
	fb_buf_cleanup(&b);

	free(sub);
	free(xml);
	fb_test_rmtree(dir);
	free(dir);
}

/* The AuthnRequest XML of a Redirect URL (new). */
static char *
request_xml(const char *url)
{
	const char *q = strchr(url, '?') + 1, *p;
	size_t plen = 0, len = 0;
	int dup = 0;
	char *enc, *xml = NULL;
	struct fb_err err = {0};

	p = fb_saml_query_param(q, "SAMLRequest", &plen, &dup);
	enc = fb_saml_url_decode(p, plen, 0);
	CU_ASSERT_EQUAL(fb_saml_message_decode(enc, 1, &xml, &len, &err), FB_OK);
	free(enc);
	return xml != NULL ? xml : fb_xstrdup("");
}

/* login_hint: subject puts a typed email in the request's Subject; none and non-emails do not. */
static void
test_sp_login_hint(void)
{
	static const struct {
		const char *upstream, *hint, *want;
	} cases[] = {
	    {"hinted", "ann@corp.example",
	        "</saml:Issuer><saml:Subject><saml:NameID Format=\"" FB_SAML_NAMEID_EMAIL
	        "\">ann@corp.example</saml:NameID></saml:Subject><samlp:NameIDPolicy"},
	    {"hinted", "a<b&c@corp.example", ">a&lt;b&amp;c@corp.example</saml:NameID>"},
	    {"hinted", "ann", NULL},
	    {"hinted", NULL, NULL},
	    {"corp", "ann@corp.example", NULL},
	};
	struct world w;
	struct fb_err err = {0};
	char *md;

	world_make(&w, 0, 0);
	md = idp_metadata(&w.idp, 1);
	{
		struct fb_saml_upstream_def def = {"hinted", md, strlen(md), 0, 0, 0, 60,
		    FB_CONF_SAML_HINT_SUBJECT};

		CU_ASSERT_EQUAL_FATAL(fb_saml_broker_add_upstream(w.b, &def, &err), FB_OK);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *url = NULL, *id = NULL, *xml;

		CU_ASSERT_EQUAL_FATAL(fb_saml_broker_authn_request(w.b, cases[i].upstream, NULL,
		                          cases[i].hint, &url, &id, &err),
		    FB_OK);
		xml = request_xml(url);
		if (cases[i].want != NULL) {
			CU_ASSERT_PTR_NOT_NULL(strstr(xml, cases[i].want));
		} else {
			CU_ASSERT_PTR_NULL(strstr(xml, "<saml:Subject>"));
		}
		/* Still one well-formed request. */
		CU_ASSERT_PTR_NOT_NULL(strstr(xml, "<samlp:NameIDPolicy AllowCreate=\"true\"/>"));
		free(xml);
		free(url);
		free(id);
	}
	free(md);
	world_free(&w);
}

/* cacheDuration: xs:duration into seconds; anything else refused. */
static void
test_sp_duration_parse(void)
{
	static const struct {
		const char *s;
		int64_t want;
	} cases[] = {
	    {"PT6H", 6 * 3600},
	    {"PT2M30S", 150},
	    {"P1D", 86400},
	    {"P1DT1H", 90000},
	    {"PT1.5S", 1},
	    {"P1Y2M", 365 * 86400 + 60 * 86400},
	    {"PT0S", 0},
	    {"P100Y", 10LL * 365 * 86400}, /* capped */
	    {"", -1},
	    {"P", -1},
	    {"PT", -1},
	    {"-PT1H", -1},
	    {"PT1H1D", -1}, /* D in the time part */
	    {"P1H", -1},    /* H in the date part */
	    {"PT1M1H", -1}, /* out of order */
	    {"PT1S1S", -1},
	    {"P1.5D", -1},
	    {"PT.5S", -1},
	    {"6h", -1},
	    {"PT1HX", -1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = fb_saml_duration_parse(cases[i].s);

		if (got != cases[i].want)
			fprintf(stderr, "\nduration '%s': %lld, want %lld\n", cases[i].s,
			    (long long)got, (long long)cases[i].want);
		CU_ASSERT_EQUAL(got, cases[i].want);
	}
	CU_ASSERT_EQUAL(fb_saml_duration_parse(NULL), -1);
}

int
fb_test_saml_sp_register(void)
{
	CU_pSuite s = CU_add_suite("saml_sp", NULL, NULL);

	if (s == NULL || CU_add_test(s, "ACS: good responses, replay", test_sp_acs_good) == NULL ||
	    CU_add_test(s, "ACS: every check", test_sp_acs_checks) == NULL ||
	    CU_add_test(s, "ACS: unsolicited, SHA-1", test_sp_acs_unsolicited) == NULL ||
	    CU_add_test(s, "ACS: XML gate", test_sp_acs_xml) == NULL ||
	    CU_add_test(s, "ACS: signature wrapping XSW1-8", test_sp_acs_xsw) == NULL ||
	    CU_add_test(s, "signature verifier = xmlsec's verdicts", test_sp_dsig_crosscheck) ==
	        NULL ||
	    CU_add_test(s, "cacheDuration (xs:duration)", test_sp_duration_parse) == NULL ||
	    CU_add_test(s, "login_hint in the AuthnRequest's Subject", test_sp_login_hint) ==
	        NULL ||
	    CU_add_test(s, "SP metadata, AuthnRequest", test_sp_metadata_and_request) == NULL ||
	    CU_add_test(s, "sign_requests: never", test_sp_unsigned_requests) == NULL ||
	    CU_add_test(s, "single logout with the IdP", test_sp_logout) == NULL ||
	    CU_add_test(s, "replay cache in the store", test_sp_once_store) == NULL ||
	    CU_add_test(s, "metadata_url refresh bookkeeping", test_sp_metadata_refresh_status) ==
	        NULL)
		return -1;
	return 0;
}
