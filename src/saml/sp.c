/* SPDX-License-Identifier: Apache-2.0 */
/*
 * saml/sp.c: the broker as a SAML service provider to upstream IdPs: its one
 * SP entity and metadata, AuthnRequests over HTTP-Redirect, and the ACS's
 * response validation with every check lasso leaves to its caller
 * (notes/lasso.md). The response's signatures are verified on the parsed
 * document (saml/dsig.c), so that the element whose signature was checked
 * is the very element whose data is read (signature wrapping); xmlsec
 * decrypts encrypted assertions.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/xmlenc.h>
#include <xmlsec/keysmngr.h>
#include <xmlsec/crypto.h>
#include <zlib.h>

#include "core/core.h"
#include "saml/saml.h"
#include "saml/internal.h"

#define SP_REPLAY_NS             "saml_sp_once"
#define DSIG_ALG_PREFIX_SHA1_RSA "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
#define DSIG_DIGEST_SHA1         "http://www.w3.org/2000/09/xmldsig#sha1"
#define ECDSA_SHA1               "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"
#define XMLENC_NS                "http://www.w3.org/2001/04/xmlenc#"

struct upstream {
	char *name;
	char *acs; /* our ACS for it */
	struct fb_saml_md md;
	const struct fb_saml_endpoint *sso; /* HTTP-Redirect */
	const struct fb_saml_endpoint *slo; /* HTTP-Redirect, or NULL */
	EVP_PKEY **vkeys;                   /* the IdP's signing certificates' keys */
	size_t nvkeys;
	int loaded; /* the IdP's metadata is loaded (else only listed in ours) */
	int allow_unsolicited, accept_sha1;
	enum fb_conf_saml_sign_requests sign_requests;
	int64_t clock_skew;
	enum fb_conf_saml_login_hint login_hint;
};

struct fb_saml_broker {
	char *public_url;
	char *entity_id;
	struct fb_saml_key *keys;
	size_t nkeys;
	const struct fb_saml_key *active;
	xmlSecKeysMngrPtr *dec; /* per key: a keys manager holding it (NULL for EC keys) */
	struct upstream *ups;
	size_t nups;
};

/* ---- the entity ---------------------------------------------------------------------- */

enum fb_status
fb_saml_broker_new(const char *public_url, const char *entity_id, const struct fb_keyring *kr,
    struct fb_saml_broker **out, struct fb_err *err)
{
	struct fb_saml_broker *b;
	enum fb_status r;

	*out = NULL;
	fb_saml_lib_init();
	if (public_url == NULL || public_url[0] == '\0')
		return fb_err_set(err, FB_ERR_CONFIG, "saml sp: server.public_url is not set");
	b = fb_xcalloc(1, sizeof(*b));
	b->public_url = fb_xstrdup(public_url);
	b->entity_id = entity_id != NULL && entity_id[0] != '\0'
	                   ? fb_xstrdup(entity_id)
	                   : fb_xasprintf("%s%s", public_url, FB_SAML_PATH_SP_METADATA);
	if ((r = fb_saml_keys_load(kr, &b->keys, &b->nkeys, err)) != FB_OK)
		goto fail;
	for (size_t i = 0; i < b->nkeys; i++)
		if (b->keys[i].active)
			b->active = &b->keys[i];
	if (b->active == NULL && b->nkeys > 0)
		b->active = &b->keys[0];
	if (b->active == NULL) {
		r = fb_err_set(err, FB_ERR_CONFIG, "saml sp: no signing key is loaded");
		goto fail;
	}
	/* Built once: a keys manager loads the system's CA bundle when set up. */
	b->dec = fb_xcalloc(b->nkeys, sizeof(*b->dec));
	for (size_t i = 0; i < b->nkeys; i++)
		if (!b->keys[i].is_ec &&
		    (r = fb_saml_enc_mngr_new(b->keys[i].key, &b->dec[i], err)) != FB_OK)
			goto fail;
	*out = b;
	return FB_OK;
fail:
	fb_saml_broker_free(b);
	return r;
}

static void
upstream_cleanup(struct upstream *u)
{
	free(u->name);
	free(u->acs);
	fb_saml_md_cleanup(&u->md);
	for (size_t i = 0; i < u->nvkeys; i++)
		EVP_PKEY_free(u->vkeys[i]);
	free(u->vkeys);
}

/* The definition of upstream up, its metadata not read yet. */
static struct fb_saml_upstream_def
upstream_def(const struct fb_conf_upstream *up)
{
	struct fb_saml_upstream_def def = {up->name, NULL, 0, up->saml.allow_unsolicited,
	    up->saml.accept_sha1, up->saml.sign_requests, up->saml.clock_skew,
	    up->saml.login_hint};

	return def;
}

enum fb_status
fb_saml_broker_from_conf(const struct fb_conf *conf, const struct fb_keyring *kr, int idps,
    struct fb_saml_broker **out, struct fb_err *err)
{
	struct fb_saml_broker *b = NULL;
	enum fb_status r;

	*out = NULL;
	if ((r = fb_saml_broker_new(conf->public_url, conf->saml_sp_entity_id, kr, &b, err)) !=
	    FB_OK)
		return r;
	for (size_t i = 0; i < conf->nupstreams; i++) {
		const struct fb_conf_upstream *up = &conf->upstreams[i];
		struct fb_saml_upstream_def def = upstream_def(up);
		char *xml = NULL;

		if (up->type != FB_CONF_UPSTREAM_SAML)
			continue;
		if (idps && up->saml.metadata != NULL) {
			if ((r = fb_saml_file_read(up->saml.metadata, &xml, &def.metadata_len,
			         err)) != FB_OK) {
				fb_err_prefix(err, "upstream %s: ", up->name);
				goto fail;
			}
			def.metadata = xml;
		} else if (idps && up->saml.metadata_url != NULL) {
			/* The last good copy the jobs process fetched and verified. */
			char *path = fb_saml_upstream_metadata_path(conf, up, ".xml");

			if (fb_saml_file_read(path, &xml, &def.metadata_len, NULL) == FB_OK)
				def.metadata = xml;
			else
				fb_log(FB_LOG_WARN,
				    "upstream %s: no IdP metadata fetched from %s yet: metadata not "
				    "loaded", up->name, up->saml.metadata_url);
			free(path);
		} else if (idps) {
			fb_log(FB_LOG_WARN, "upstream %s: no IdP metadata file", up->name);
		}
		r = fb_saml_broker_add_upstream(b, &def, err);
		free(xml);
		if (r != FB_OK)
			goto fail;
	}
	*out = b;
	return FB_OK;
fail:
	fb_saml_broker_free(b);
	return r;
}

void
fb_saml_broker_free(struct fb_saml_broker *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->nups; i++)
		upstream_cleanup(&b->ups[i]);
	free(b->ups);
	for (size_t i = 0; b->dec != NULL && i < b->nkeys; i++)
		if (b->dec[i] != NULL)
			xmlSecKeysMngrDestroy(b->dec[i]);
	free(b->dec);
	fb_saml_keys_free(b->keys, b->nkeys);
	free(b->public_url);
	free(b->entity_id);
	free(b);
}

static struct upstream *
upstream_get(const struct fb_saml_broker *b, const char *name)
{
	for (size_t i = 0; name != NULL && i < b->nups; i++)
		if (strcmp(b->ups[i].name, name) == 0)
			return &b->ups[i];
	return NULL;
}

/* The public key of the certificate in b64 (base64 DER), or NULL. */
static EVP_PKEY *
cert_pkey(const char *b64)
{
	X509 *x = fb_saml_cert_decode(b64);
	EVP_PKEY *k = x != NULL ? X509_get_pubkey(x) : NULL;

	X509_free(x);
	return k;
}

enum fb_status
fb_saml_broker_add_upstream(struct fb_saml_broker *b, const struct fb_saml_upstream_def *def,
    struct fb_err *err)
{
	struct upstream u;
	xmlDocPtr doc = NULL;
	struct fb_err e = {0};
	enum fb_status r = FB_ERR_CONFIG;

	memset(&u, 0, sizeof(u));
	if (def->name == NULL || upstream_get(b, def->name) != NULL)
		return fb_err_set(err, r, "upstream %s: the name is missing or taken",
		    def->name != NULL ? def->name : "?");
	if (def->metadata == NULL)
		goto add;
	if (fb_saml_md_parse(def->metadata, def->metadata_len, &u.md, &doc, &e) != FB_OK) {
		fb_err_set(err, r, "upstream %s: metadata: %s", def->name, e.msg);
		goto fail;
	}
	xmlFreeDoc(doc);
	if (u.md.is_sp || u.md.nsso == 0) {
		fb_err_set(err, r,
		    "upstream %s: the metadata is not SAML IdP metadata "
		    "(no IDPSSODescriptor with a SingleSignOnService)",
		    def->name);
		goto fail;
	}
	for (size_t i = 0; i < u.md.nsso && u.sso == NULL; i++)
		if (strcmp(u.md.sso[i].binding, FB_SAML_BINDING_REDIRECT_URI) == 0)
			u.sso = &u.md.sso[i];
	if (u.sso == NULL) {
		fb_err_set(err, r, "upstream %s: the IdP has no HTTP-Redirect SingleSignOnService",
		    def->name);
		goto fail;
	}
	for (size_t i = 0; i < u.md.nslo && u.slo == NULL; i++)
		if (strcmp(u.md.slo[i].binding, FB_SAML_BINDING_REDIRECT_URI) == 0)
			u.slo = &u.md.slo[i];
	u.vkeys = fb_xcalloc(u.md.ncerts + 1, sizeof(*u.vkeys));
	for (size_t i = 0; i < u.md.ncerts; i++) {
		EVP_PKEY *pk;

		if (strcmp(u.md.certs[i].use, "encryption") == 0)
			continue;
		if ((pk = cert_pkey(u.md.certs[i].b64)) == NULL) {
			fb_err_set(err, r,
			    "upstream %s: a signing certificate of the metadata "
			    "does not load",
			    def->name);
			goto fail;
		}
		u.vkeys[u.nvkeys++] = pk;
	}
	if (u.nvkeys == 0) {
		fb_err_set(err, r, "upstream %s: the IdP metadata has no signing certificate",
		    def->name);
		goto fail;
	}
	u.loaded = 1;
add:
	u.name = fb_xstrdup(def->name);
	u.acs = fb_xasprintf("%s" FB_SAML_PATH_UPSTREAM "%s" FB_SAML_UPSTREAM_ACS, b->public_url,
	    def->name);
	u.allow_unsolicited = def->allow_unsolicited;
	u.accept_sha1 = def->accept_sha1;
	u.sign_requests = def->sign_requests;
	u.clock_skew = def->clock_skew < 0 ? 0 : def->clock_skew;
	u.login_hint = def->login_hint;
	b->ups = fb_xrealloc(b->ups, (b->nups + 1) * sizeof(*b->ups));
	b->ups[b->nups++] = u;
	return FB_OK;
fail:
	upstream_cleanup(&u);
	return r;
}

/* ---- metadata -------------------------------------------------------------------------- */

static void
key_descriptor(struct fb_buf *b, const char *use, const struct fb_saml_key *k)
{
	fb_buf_addf(b, NULL,
	    "  <md:KeyDescriptor use=\"%s\"><ds:KeyInfo><ds:KeyName>%s</ds:KeyName>"
	    "<ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data>"
	    "</ds:KeyInfo>%s</md:KeyDescriptor>\n",
	    use, k->id, k->cert_b64,
	    strcmp(use, "encryption") == 0
	        ? "<md:EncryptionMethod Algorithm=\"http://www.w3.org/2009/xmlenc11#aes256-gcm\"/>"
	          "<md:EncryptionMethod "
	          "Algorithm=\"http://www.w3.org/2001/04/xmlenc#aes256-cbc\"/>"
	          "<md:EncryptionMethod "
	          "Algorithm=\"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p\"/>"
	        : "");
}

/* 1 unless every upstream says sign_requests: never (what our metadata then promises). */
static int
broker_signs(const struct fb_saml_broker *b)
{
	for (size_t i = 0; i < b->nups; i++)
		if (b->ups[i].sign_requests != FB_CONF_SAML_SIGN_REQ_NEVER)
			return 1;
	return b->nups == 0;
}

static char *
broker_metadata_build(const struct fb_saml_broker *b)
{
	struct fb_buf m;
	char *id = fb_saml_id_new();

	fb_buf_init(&m, 4 * 1024 * 1024);
	fb_buf_addf(&m, NULL,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<md:EntityDescriptor xmlns:md=\"" FB_SAML_NS_METADATA "\" "
	    "xmlns:ds=\"" FB_SAML_NS_DSIG "\" ID=\"%s\" entityID=\"",
	    id);
	fb_buf_add_escaped(&m, b->entity_id, NULL);
	fb_buf_addf(&m, NULL,
	    "\">\n <md:SPSSODescriptor AuthnRequestsSigned=\"%s\" WantAssertionsSigned=\"true\" "
	    "protocolSupportEnumeration=\"" FB_SAML_NS_PROTOCOL "\">\n",
	    broker_signs(b) ? "true" : "false");
	/* Active key first: IdPs that take only one key take the one that signs. */
	key_descriptor(&m, "signing", b->active);
	for (size_t i = 0; i < b->nkeys; i++)
		if (&b->keys[i] != b->active)
			key_descriptor(&m, "signing", &b->keys[i]);
	/* Encryption (RSA-OAEP key transport) needs RSA keys. */
	if (!b->active->is_ec)
		key_descriptor(&m, "encryption", b->active);
	for (size_t i = 0; i < b->nkeys; i++)
		if (&b->keys[i] != b->active && !b->keys[i].is_ec)
			key_descriptor(&m, "encryption", &b->keys[i]);
	/* One SLO endpoint per binding: the handler knows the IdP by the request's Issuer. */
	if (b->nups > 0) {
		fb_buf_addf(&m, NULL,
		    "  <md:SingleLogoutService Binding=\"" FB_SAML_BINDING_REDIRECT_URI
		    "\" Location=\"");
		fb_buf_add_escaped(&m, b->public_url, NULL);
		fb_buf_addf(&m, NULL, FB_SAML_PATH_UPSTREAM);
		fb_buf_add_escaped(&m, b->ups[0].name, NULL);
		fb_buf_addf(&m, NULL, FB_SAML_UPSTREAM_SLO "\"/>\n");
	}
	fb_buf_addf(&m, NULL,
	    "  <md:NameIDFormat>" FB_SAML_NAMEID_PERSISTENT "</md:NameIDFormat>\n"
	    "  <md:NameIDFormat>" FB_SAML_NAMEID_EMAIL "</md:NameIDFormat>\n"
	    "  <md:NameIDFormat>" FB_SAML_NAMEID_TRANSIENT "</md:NameIDFormat>\n"
	    "  <md:NameIDFormat>" FB_SAML_NAMEID_UNSPECIFIED "</md:NameIDFormat>\n");
	for (size_t i = 0; i < b->nups; i++) {
		fb_buf_addf(&m, NULL,
		    "  <md:AssertionConsumerService Binding=\"" FB_SAML_BINDING_POST_URI
		    "\" Location=\"");
		fb_buf_add_escaped(&m, b->ups[i].acs, NULL);
		fb_buf_addf(&m, NULL, "\" index=\"%zu\"%s/>\n", i,
		    i == 0 ? " isDefault=\"true\"" : "");
	}
	fb_buf_addf(&m, NULL, " </md:SPSSODescriptor>\n</md:EntityDescriptor>\n");
	free(id);
	return fb_buf_take(&m);
}

enum fb_status
fb_saml_broker_metadata(const struct fb_saml_broker *b, int sign, char **out, size_t *len,
    struct fb_err *err)
{
	char *xml = broker_metadata_build(b);
	enum fb_status r;

	*out = NULL;
	if (!sign) {
		*out = xml;
		if (len != NULL)
			*len = strlen(xml);
		return FB_OK;
	}
	r = fb_saml_metadata_sign(xml, b->active, out, len, err);
	free(xml);
	return r;
}

/* ---- AuthnRequest ------------------------------------------------------------------------ */

/* Raw DEFLATE (RFC 1951) of s, then base64 (new). */
static char *
deflate_b64(const char *s)
{
	z_stream z;
	uLong cap = compressBound((uLong)strlen(s)) + 64;
	unsigned char *buf = fb_xmalloc(cap);
	char *out = NULL;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		goto out;
	z.next_in = (unsigned char *)s;
	z.avail_in = (uInt)strlen(s);
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) == Z_STREAM_END)
		out = fb_saml_b64(buf, z.total_out);
	deflateEnd(&z);
out:
	free(buf);
	return out;
}

/*
 * The HTTP-Redirect URL carrying xml as field ("SAMLRequest" or
 * "SAMLResponse") to endpoint: deflated, base64, RelayState, and the query
 * signature (SAML2 Bindings 3.4.4.1) with the active key when sign. New in *url.
 */
static enum fb_status
redirect_url(const struct fb_saml_broker *b, const char *endpoint, const char *field,
    const char *xml, const char *relay_state, int sign, char **url, struct fb_err *err)
{
	struct fb_buf q;
	char *enc = deflate_b64(xml), *query = NULL, *sig = NULL;
	enum fb_conf_saml_alg alg;
	enum fb_status r = FB_OK;

	*url = NULL;
	if (enc == NULL)
		return fb_err_set(err, FB_ERR_INTERNAL, "saml sp: deflate failed");
	fb_buf_init(&q, 256 * 1024);
	fb_buf_addf(&q, NULL, "%s=", field);
	fb_saml_url_encode(&q, enc, NULL);
	if (relay_state != NULL) {
		fb_buf_addf(&q, NULL, "&RelayState=");
		fb_saml_url_encode(&q, relay_state, NULL);
	}
	if (sign) {
		alg = b->active->is_ec ? FB_CONF_SAML_ECDSA_SHA256 : FB_CONF_SAML_RSA_SHA256;
		fb_buf_addf(&q, NULL, "&SigAlg=");
		fb_saml_url_encode(&q, fb_saml_alg_uri(alg), NULL);
		query = fb_buf_take(&q);
		if ((r = fb_saml_query_sign(b->active, alg, query, &sig, err)) != FB_OK)
			goto out;
		fb_buf_init(&q, 256 * 1024);
		fb_buf_addf(&q, NULL, "%s&Signature=", query);
		fb_saml_url_encode(&q, sig, NULL);
		free(query);
	}
	query = fb_buf_take(&q);
	*url = fb_xasprintf("%s%c%s", endpoint, strchr(endpoint, '?') ? '&' : '?', query);
out:
	free(enc);
	free(query);
	free(sig);
	return r;
}

/* The upstream name with its IdP metadata loaded, or NULL with err set (FB_ERR_NOTFOUND). */
static struct upstream *
upstream_loaded(const struct fb_saml_broker *b, const char *name, struct fb_err *err)
{
	struct upstream *u = upstream_get(b, name);

	if (u == NULL || !u->loaded) {
		fb_err_set(err, FB_ERR_NOTFOUND, "no SAML upstream %s with IdP metadata",
		    name != NULL ? name : "");
		return NULL;
	}
	return u;
}

enum fb_status
fb_saml_broker_authn_request(struct fb_saml_broker *b, const char *name, const char *relay_state,
    const char *login_hint, char **url, char **request_id, struct fb_err *err)
{
	struct upstream *u = upstream_loaded(b, name, err);
	struct fb_buf x;
	char now[32], *id = NULL, *xml = NULL;
	enum fb_status r;

	*url = NULL;
	*request_id = NULL;
	if (u == NULL)
		return FB_ERR_NOTFOUND;
	if (relay_state != NULL && (r = fb_saml_relay_state_check(relay_state, err)) != FB_OK)
		return r;
	id = fb_saml_id_new();
	fb_saml_time(fb_time_now(), now, sizeof(now));
	fb_buf_init(&x, 64 * 1024);
	fb_buf_addf(&x, NULL,
	    "<samlp:AuthnRequest xmlns:samlp=\"" FB_SAML_NS_PROTOCOL "\" "
	    "xmlns:saml=\"" FB_SAML_NS_ASSERTION "\" ID=\"%s\" Version=\"2.0\" "
	    "IssueInstant=\"%s\" Destination=\"",
	    id, now);
	fb_buf_add_escaped(&x, u->sso->url, NULL);
	fb_buf_addf(&x, NULL, "\" AssertionConsumerServiceURL=\"");
	fb_buf_add_escaped(&x, u->acs, NULL);
	fb_buf_addf(&x, NULL, "\" ProtocolBinding=\"" FB_SAML_BINDING_POST_URI "\"><saml:Issuer>");
	fb_buf_add_escaped(&x, b->entity_id, NULL);
	fb_buf_addf(&x, NULL, "</saml:Issuer>");
	/* SAML core 3.4.1: the Subject comes after the Issuer, before the NameIDPolicy. */
	if (u->login_hint == FB_CONF_SAML_HINT_SUBJECT && login_hint != NULL &&
	    strchr(login_hint, '@') != NULL) {
		fb_buf_addf(&x, NULL,
		    "<saml:Subject><saml:NameID Format=\"" FB_SAML_NAMEID_EMAIL "\">");
		fb_buf_add_escaped(&x, login_hint, NULL);
		fb_buf_addf(&x, NULL, "</saml:NameID></saml:Subject>");
	}
	fb_buf_addf(&x, NULL,
	    "<samlp:NameIDPolicy AllowCreate=\"true\"/></samlp:AuthnRequest>");
	xml = fb_buf_take(&x);
	/*
	 * auto signs too: our metadata says AuthnRequestsSigned="true" (an IdP
	 * that reads it, fedbroker's own, then refuses unsigned requests), and an
	 * IdP that wants signed requests gets them. Only never leaves them unsigned.
	 */
	r = redirect_url(b, u->sso->url, "SAMLRequest", xml, relay_state,
	    u->sign_requests != FB_CONF_SAML_SIGN_REQ_NEVER, url, err);
	if (r == FB_OK) {
		*request_id = id;
		id = NULL;
	}
	free(id);
	free(xml);
	return r;
}

/* ---- the ACS ------------------------------------------------------------------------------- */

void
fb_saml_login_cleanup(struct fb_saml_login *l)
{
	if (l == NULL)
		return;
	free(l->issuer);
	free(l->nameid);
	free(l->nameid_format);
	json_decref(l->attributes);
	free(l->session_index);
	free(l->assertion_id);
	memset(l, 0, sizeof(*l));
}

enum fb_status
fb_saml_broker_once_store(void *store, const char *id, int64_t expires_at, struct fb_err *err)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char hex[65];

	/* Keyed by a hash: IDs are the IdP's text, of any length. */
	EVP_Digest(id, strlen(id), md, &mdlen, EVP_sha256(), NULL);
	fb_hex_encode(md, 32, hex);
	return fb_store_once(store, SP_REPLAY_NS, hex, expires_at * 1000, err);
}

/* Validation state of one response. */
struct acs {
	struct fb_saml_broker *b;
	struct upstream *u;
	const struct fb_saml_acs *in;
	struct fb_saml_reply *reply;
	struct fb_err *err;
	xmlDocPtr doc;
	xmlNodePtr resp, as;
};

/* Refuses: a page for the person, an audit line, err. */
static enum fb_status refuse(struct acs *a, enum fb_status st, int http, const char *event,
    const char *title, const char *why, ...) FB_PRINTF(6, 7);

static enum fb_status
refuse(struct acs *a, enum fb_status st, int http, const char *event, const char *title,
    const char *why, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, why);
	vsnprintf(msg, sizeof(msg), why, ap);
	va_end(ap);
	fb_saml_reply_cleanup(a->reply);
	fb_saml_reply_page(a->reply, http, event, title,
	    "The sign-in through %s was refused: %s. Nobody was signed in. Start again; if it "
	    "happens again, tell your administrator.",
	    a->in->upstream != NULL ? a->in->upstream : "the identity provider", msg);
	fb_audit(a->in->reqid, event, "upstream=%s: %s",
	    a->in->upstream != NULL ? a->in->upstream : "?", msg);
	return fb_err_set(a->err, st, "saml sp: %s", msg);
}

#define BAD(a, ...)                                                                                \
	refuse(a, FB_ERR_PROTOCOL, 400, "saml_upstream_response_invalid", "Sign-in refused",       \
	    __VA_ARGS__)

/* Counts elements named ns:name in the subtree of n. */
static size_t
count_elements(xmlNodePtr n, const char *ns, const char *name)
{
	size_t c = 0;

	for (; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (fb_saml_xml_is(n, ns, name))
			c++;
		c += count_elements(n->children, ns, name);
	}
	return c;
}

/* Collects every ID attribute value; 1 when one appears twice (or is empty). */
static int
ids_duplicate(xmlNodePtr n, json_t *seen)
{
	for (; n != NULL; n = n->next) {
		xmlAttrPtr at;

		if (n->type != XML_ELEMENT_NODE)
			continue;
		for (at = n->properties; at != NULL; at = at->next) {
			xmlChar *v;
			int dup;

			/* ID, and xml:id, which libxml2 registers by itself. */
			if (!xmlStrEqual(at->name, BAD_CAST "ID") &&
			    !xmlStrEqual(at->name, BAD_CAST "id"))
				continue;
			v = xmlNodeGetContent((xmlNodePtr)at);
			dup = v == NULL || v[0] == '\0' || json_object_get(seen, (char *)v) != NULL;
			if (!dup)
				json_object_set_new(seen, (char *)v, json_true());
			xmlFree(v);
			if (dup)
				return 1;
		}
		if (ids_duplicate(n->children, seen))
			return 1;
	}
	return 0;
}

/* The structure rules: one Assertion (or EncryptedAssertion), the Response's child; unique IDs. */
static enum fb_status
check_structure(struct acs *a, int decrypted)
{
	xmlNodePtr top = xmlDocGetRootElement(a->doc);
	size_t nas = count_elements(top, FB_SAML_NS_ASSERTION, "Assertion");
	size_t nenc = count_elements(top, FB_SAML_NS_ASSERTION, "EncryptedAssertion");
	json_t *seen = json_object();
	int dup = ids_duplicate(top, seen);

	json_decref(seen);
	if (dup)
		return BAD(a, "an ID appears twice in the response, or is empty");
	if (nas + nenc != 1 || (decrypted && nenc != 0))
		return BAD(a, "the response must carry exactly one assertion (it has %zu)",
		    nas + nenc);
	a->as = NULL;
	for (xmlNodePtr c = a->resp->children; c != NULL; c = c->next)
		if (fb_saml_xml_is(c, FB_SAML_NS_ASSERTION, "Assertion") ||
		    fb_saml_xml_is(c, FB_SAML_NS_ASSERTION, "EncryptedAssertion"))
			a->as = c;
	if (a->as == NULL)
		return BAD(a, "the assertion is not where SAML puts it (a child of the Response)");
	return FB_OK;
}

/* The text of n (whitespace around removed, new), or NULL when absent. */
static char *
text_of(xmlNodePtr n)
{
	xmlChar *c;
	char *s, *b, *e;

	if (n == NULL || (c = xmlNodeGetContent(n)) == NULL)
		return NULL;
	for (b = (char *)c; *b == ' ' || *b == '\t' || *b == '\r' || *b == '\n'; b++)
		;
	e = b + strlen(b);
	while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	s = fb_xstrndup(b, (size_t)(e - b));
	xmlFree(c);
	return s;
}

/* 1 when the algorithm URI is SHA-1 based. */
static int
is_sha1(const char *alg)
{
	return alg != NULL &&
	       (strcmp(alg, DSIG_ALG_PREFIX_SHA1_RSA) == 0 || strcmp(alg, DSIG_DIGEST_SHA1) == 0 ||
	           strcmp(alg, ECDSA_SHA1) == 0 ||
	           strcmp(alg, "http://www.w3.org/2000/09/xmldsig#dsa-sha1") == 0 ||
	           strcmp(alg, "http://www.w3.org/2000/09/xmldsig#hmac-sha1") == 0);
}

/* 1 when a Reference transform may be used. */
static int
transform_ok(const char *alg)
{
	static const char *const ok[] = {
	    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
	    "http://www.w3.org/2001/10/xml-exc-c14n#",
	    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
	};

	for (size_t i = 0; alg != NULL && i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(alg, ok[i]) == 0)
			return 1;
	return 0;
}

/*
 * Checks the ds:Signature child of node, if any: *present says whether
 * there is one. It must be the only one, have one Reference to node's own
 * ID, plain transforms, no SHA-1 (unless allowed), and verify with one of
 * the IdP's metadata certificates (the signature's KeyInfo is never used).
 */
static enum fb_status
verify_signature(struct acs *a, xmlNodePtr node, const char *what, int *present)
{
	xmlNodePtr sig = NULL, si, ref = NULL, tr;
	xmlChar *id = NULL;
	struct fb_err e = {0};
	char *alg = NULL, *uri = NULL;
	size_t nsig = 0, nref = 0;
	enum fb_status r;

	*present = 0;
	for (xmlNodePtr c = node->children; c != NULL; c = c->next)
		if (fb_saml_xml_is(c, FB_SAML_NS_DSIG, "Signature")) {
			sig = c;
			nsig++;
		}
	if (nsig == 0)
		return FB_OK;
	*present = 1;
	if (nsig > 1)
		return BAD(a, "the %s has %zu signatures", what, nsig);
	si = fb_saml_xml_child(sig, FB_SAML_NS_DSIG, "SignedInfo");
	if (si == NULL)
		return BAD(a, "the %s signature has no SignedInfo", what);
	for (xmlNodePtr c = si->children; c != NULL; c = c->next)
		if (fb_saml_xml_is(c, FB_SAML_NS_DSIG, "Reference")) {
			ref = c;
			nref++;
		}
	if (nref != 1)
		return BAD(a, "the %s signature must have exactly one reference (it has %zu)", what,
		    nref);
	alg = fb_saml_xml_prop(fb_saml_xml_child(si, FB_SAML_NS_DSIG, "SignatureMethod"),
	    "Algorithm");
	if (alg == NULL) {
		r = BAD(a, "the %s signature names no algorithm", what);
		goto out;
	}
	if (is_sha1(alg) && !a->u->accept_sha1) {
		r = refuse(a, FB_ERR_SIGNATURE, 400, "saml_upstream_signature_invalid",
		    "Sign-in refused", "the %s is signed with SHA-1, which is refused", what);
		goto out;
	}
	free(alg);
	alg =
	    fb_saml_xml_prop(fb_saml_xml_child(ref, FB_SAML_NS_DSIG, "DigestMethod"), "Algorithm");
	if (alg == NULL || (is_sha1(alg) && !a->u->accept_sha1)) {
		r = refuse(a, FB_ERR_SIGNATURE, 400, "saml_upstream_signature_invalid",
		    "Sign-in refused", "the %s signature's digest is missing or SHA-1", what);
		goto out;
	}
	tr = fb_saml_xml_child(ref, FB_SAML_NS_DSIG, "Transforms");
	for (xmlNodePtr c = tr != NULL ? tr->children : NULL; c != NULL; c = c->next) {
		char *t;
		int ok;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		t = fb_saml_xml_prop(c, "Algorithm");
		ok = fb_saml_xml_is(c, FB_SAML_NS_DSIG, "Transform") && transform_ok(t);
		free(t);
		if (!ok) {
			r = BAD(a, "the %s signature uses a transform that is not allowed", what);
			goto out;
		}
	}
	/* SECURITY: the reference must name the signed element itself, by its own ID. */
	uri = fb_saml_xml_prop(ref, "URI");
	id = xmlGetProp(node, BAD_CAST "ID");
	if (uri == NULL || id == NULL || uri[0] != '#' || !xmlStrEqual(BAD_CAST uri + 1, id)) {
		r = BAD(a, "the %s signature does not cover the %s", what, what);
		goto out;
	}
	/*
	 * SECURITY: the element digested is node itself (not one found by ID), with
	 * the IdP's metadata certificates only; KeyInfo is not read.
	 */
	r = fb_saml_dsig_verify(a->doc, node, sig, a->u->vkeys, a->u->nvkeys, a->u->accept_sha1,
	    &e);
	if (r != FB_OK)
		r = refuse(a, FB_ERR_SIGNATURE, 400, "saml_upstream_signature_invalid",
		    "Sign-in refused",
		    "the %s signature does not verify with the identity provider's certificate "
		    "(%s)",
		    what, e.msg);
out:
	free(alg);
	free(uri);
	xmlFree(id);
	return r;
}

/* Decrypts the EncryptedAssertion with one of the SP's RSA keys; it is replaced by the Assertion.
 */
static enum fb_status
decrypt_assertion(struct acs *a)
{
	xmlNodePtr ed = fb_saml_xml_child(a->as, XMLENC_NS, "EncryptedData"), dec = NULL;
	enum fb_status r = FB_ERR_SIGNATURE;

	if (ed == NULL)
		return BAD(a, "the encrypted assertion has no EncryptedData");
	for (size_t i = 0; i < a->b->nkeys && r != FB_OK; i++) {
		xmlSecEncCtxPtr ctx;

		if (a->b->dec[i] == NULL || (ctx = xmlSecEncCtxCreate(a->b->dec[i])) == NULL)
			continue;
		if (xmlSecEncCtxDecrypt(ctx, ed) >= 0 && ctx->result != NULL && ctx->resultReplaced)
			r = FB_OK;
		xmlSecEncCtxDestroy(ctx);
	}
	if (r != FB_OK)
		return refuse(a, FB_ERR_SIGNATURE, 400, "saml_upstream_decrypt_failed",
		    "Sign-in refused", "the encrypted assertion does not decrypt with our keys");
	for (xmlNodePtr c = a->as->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE) {
			if (dec != NULL || !fb_saml_xml_is(c, FB_SAML_NS_ASSERTION, "Assertion"))
				return BAD(a,
				    "the encrypted assertion does not hold one Assertion");
			dec = c;
		}
	if (dec == NULL)
		return BAD(a, "the encrypted assertion does not hold one Assertion");
	xmlUnlinkNode(dec);
	xmlReplaceNode(a->as, dec);
	/* The plaintext's namespaces may be declared on the wrapper, about to go. */
	if (xmlReconciliateNs(a->doc, dec) < 0) {
		xmlFreeNode(a->as);
		a->as = NULL;
		return BAD(a, "the decrypted assertion's namespaces do not resolve");
	}
	xmlFreeNode(a->as);
	a->as = dec;
	/* xmlsec parsed the plaintext in the document's context: the same rules apply again. */
	return check_structure(a, 1);
}

/* The time attribute name of n: -1 absent, -2 malformed, else seconds. */
static int64_t
time_attr(xmlNodePtr n, const char *name)
{
	char *v = n != NULL ? fb_saml_xml_prop(n, name) : NULL;
	int64_t t;

	if (v == NULL)
		return -1;
	t = fb_saml_datetime_parse(v);
	free(v);
	return t < 0 ? -2 : t;
}

/* Issuer of n equal to the IdP's entity id (required when required is 1). */
static enum fb_status
check_issuer(struct acs *a, xmlNodePtr n, const char *what, int required)
{
	xmlNodePtr is = fb_saml_xml_child(n, FB_SAML_NS_ASSERTION, "Issuer");
	char *v = text_of(is);
	enum fb_status r = FB_OK;

	if (v == NULL) {
		if (required)
			r = BAD(a, "the %s has no Issuer", what);
	} else if (strcmp(v, a->u->md.entity_id) != 0) {
		r = BAD(a, "the %s was issued by %.200s, not by the configured identity provider",
		    what, v);
	}
	free(v);
	return r;
}

/* The Status: anything but Success is shown with its codes and message. */
static enum fb_status
check_status(struct acs *a)
{
	xmlNodePtr st = fb_saml_xml_child(a->resp, FB_SAML_NS_PROTOCOL, "Status");
	xmlNodePtr sc = fb_saml_xml_child(st, FB_SAML_NS_PROTOCOL, "StatusCode");
	xmlNodePtr sub = fb_saml_xml_child(sc, FB_SAML_NS_PROTOCOL, "StatusCode");
	char *v = fb_saml_xml_prop(sc, "Value"), *v2 = fb_saml_xml_prop(sub, "Value");
	char *m = text_of(fb_saml_xml_child(st, FB_SAML_NS_PROTOCOL, "StatusMessage"));
	enum fb_status r = FB_OK;

	if (v == NULL) {
		r = BAD(a, "the response has no StatusCode");
	} else if (strcmp(v, FB_SAML_STATUS_SUCCESS) != 0) {
		/* Plain text for a person: the last part of each URI. */
		const char *s1 = strrchr(v, ':') ? strrchr(v, ':') + 1 : v;
		const char *s2 = v2 != NULL ? (strrchr(v2, ':') ? strrchr(v2, ':') + 1 : v2) : NULL;

		fb_saml_reply_cleanup(a->reply);
		fb_saml_reply_page(a->reply, 403, "saml_upstream_status", "Sign-in failed",
		    "The identity provider of %s did not sign you in: status "
		    "%.100s%s%.100s%s%.200s. "
		    "Nobody was signed in.",
		    a->u->name, s1, s2 != NULL ? " / " : "", s2 != NULL ? s2 : "",
		    m != NULL ? ": " : "", m != NULL ? m : "");
		fb_audit(a->in->reqid, "saml_upstream_status", "upstream=%s: status %s%s%s",
		    a->u->name, v, v2 != NULL ? " " : "", v2 != NULL ? v2 : "");
		r = fb_err_set(a->err, FB_ERR_DENIED, "saml sp: upstream status %s", v);
	}
	free(v);
	free(v2);
	free(m);
	return r;
}

/* Conditions: times with skew, and every AudienceRestriction names us. */
static enum fb_status
check_conditions(struct acs *a, int64_t *until)
{
	xmlNodePtr c = fb_saml_xml_child(a->as, FB_SAML_NS_ASSERTION, "Conditions");
	int64_t now = a->in->now, skew = a->u->clock_skew, nb, noa;
	size_t nrestr = 0;

	if (c == NULL)
		return BAD(a, "the assertion has no Conditions");
	nb = time_attr(c, "NotBefore");
	noa = time_attr(c, "NotOnOrAfter");
	if (nb == -2 || noa == -2)
		return BAD(a, "the assertion's Conditions times are malformed");
	if (nb >= 0 && now + skew < nb)
		return BAD(a, "the assertion is not valid yet (NotBefore)");
	if (noa >= 0 && now - skew >= noa)
		return BAD(a, "the assertion has expired (NotOnOrAfter)");
	if (noa > *until)
		*until = noa;
	for (xmlNodePtr r = c->children; r != NULL; r = r->next) {
		int ok = 0;

		if (!fb_saml_xml_is(r, FB_SAML_NS_ASSERTION, "AudienceRestriction"))
			continue;
		nrestr++;
		for (xmlNodePtr au = r->children; au != NULL; au = au->next) {
			char *v;

			if (!fb_saml_xml_is(au, FB_SAML_NS_ASSERTION, "Audience"))
				continue;
			v = text_of(au);
			ok |= v != NULL && strcmp(v, a->b->entity_id) == 0;
			free(v);
		}
		if (!ok)
			return BAD(a, "the assertion is meant for another audience, not %s",
			    a->b->entity_id);
	}
	if (nrestr == 0)
		return BAD(a, "the assertion names no Audience");
	return FB_OK;
}

/* The Subject: the NameID (text only) and one bearer confirmation for us, now. */
static enum fb_status
check_subject(struct acs *a, struct fb_saml_login *out, int64_t *until)
{
	xmlNodePtr s = fb_saml_xml_child(a->as, FB_SAML_NS_ASSERTION, "Subject");
	xmlNodePtr nid = fb_saml_xml_child(s, FB_SAML_NS_ASSERTION, "NameID");
	int64_t now = a->in->now, skew = a->u->clock_skew;
	const char *why = "the assertion has no bearer SubjectConfirmation";

	if (nid == NULL)
		return BAD(a, "the assertion has no Subject NameID");
	/*
	 * SECURITY: a comment (or any element) inside the NameID is refused: a
	 * parser that reads only the first text node would see another name.
	 */
	for (xmlNodePtr c = nid->children; c != NULL; c = c->next)
		if (c->type != XML_TEXT_NODE)
			return BAD(a, "the NameID holds something else than text (a comment?)");
	out->nameid = text_of(nid);
	out->nameid_format = fb_saml_xml_prop(nid, "Format");
	if (out->nameid == NULL || out->nameid[0] == '\0')
		return BAD(a, "the NameID is empty");
	for (xmlNodePtr sc = s->children; sc != NULL; sc = sc->next) {
		xmlNodePtr d;
		char *m, *rcp, *irt;
		int64_t nb, noa;

		if (!fb_saml_xml_is(sc, FB_SAML_NS_ASSERTION, "SubjectConfirmation"))
			continue;
		m = fb_saml_xml_prop(sc, "Method");
		d = fb_saml_xml_child(sc, FB_SAML_NS_ASSERTION, "SubjectConfirmationData");
		if (m == NULL || strcmp(m, FB_SAML_CM_BEARER) != 0 || d == NULL) {
			free(m);
			continue;
		}
		free(m);
		rcp = fb_saml_xml_prop(d, "Recipient");
		irt = fb_saml_xml_prop(d, "InResponseTo");
		nb = time_attr(d, "NotBefore");
		noa = time_attr(d, "NotOnOrAfter");
		if (rcp == NULL || strcmp(rcp, a->u->acs) != 0)
			why = "the Recipient is not this service's ACS";
		else if (noa < 0)
			why = "the SubjectConfirmationData has no valid NotOnOrAfter";
		else if (now - skew >= noa)
			why = "the SubjectConfirmationData has expired (NotOnOrAfter)";
		else if (nb == -2 || (nb >= 0 && now + skew < nb))
			why = "the SubjectConfirmationData is not valid yet (NotBefore)";
		else if (irt != NULL &&
		         (a->in->request_id == NULL || strcmp(irt, a->in->request_id) != 0))
			why = "the SubjectConfirmationData answers another request";
		else if (irt == NULL && a->in->request_id != NULL)
			why =
			    "the SubjectConfirmationData answers no request (InResponseTo missing)";
		else
			why = NULL;
		free(rcp);
		free(irt);
		if (why == NULL) {
			if (noa > *until)
				*until = noa;
			return FB_OK;
		}
	}
	return BAD(a, "%s", why);
}

/* AuthnStatement (SessionIndex, SessionNotOnOrAfter) and the attributes. */
static enum fb_status
read_statements(struct acs *a, struct fb_saml_login *out)
{
	xmlNodePtr au = fb_saml_xml_child(a->as, FB_SAML_NS_ASSERTION, "AuthnStatement");
	int64_t snoa;

	if (au == NULL)
		return BAD(a, "the assertion has no AuthnStatement");
	out->session_index = fb_saml_xml_prop(au, "SessionIndex");
	snoa = time_attr(au, "SessionNotOnOrAfter");
	if (snoa == -2)
		return BAD(a, "the SessionNotOnOrAfter is malformed");
	if (snoa >= 0 && a->in->now >= snoa)
		return BAD(a, "the identity provider's session has ended already");
	out->expires_at = snoa > 0 ? snoa : 0;
	out->attributes = json_object();
	for (xmlNodePtr st = a->as->children; st != NULL; st = st->next) {
		if (!fb_saml_xml_is(st, FB_SAML_NS_ASSERTION, "AttributeStatement"))
			continue;
		for (xmlNodePtr at = st->children; at != NULL; at = at->next) {
			char *name, *friendly;
			json_t *vals;

			if (!fb_saml_xml_is(at, FB_SAML_NS_ASSERTION, "Attribute"))
				continue;
			if ((name = fb_saml_xml_prop(at, "Name")) == NULL)
				continue;
			friendly = fb_saml_xml_prop(at, "FriendlyName");
			if ((vals = json_object_get(out->attributes, name)) == NULL) {
				vals = json_array();
				json_object_set_new(out->attributes, name, vals);
			}
			for (xmlNodePtr v = at->children; v != NULL; v = v->next) {
				char *t;

				if (!fb_saml_xml_is(v, FB_SAML_NS_ASSERTION, "AttributeValue"))
					continue;
				/* The whole text, every text node (comments do not cut it). */
				if ((t = text_of(v)) != NULL)
					json_array_append_new(vals, json_string(t));
				free(t);
			}
			if (friendly != NULL && strcmp(friendly, name) != 0 &&
			    json_object_get(out->attributes, friendly) == NULL)
				json_object_set(out->attributes, friendly, vals);
			free(name);
			free(friendly);
		}
	}
	return FB_OK;
}

enum fb_status
fb_saml_broker_acs(struct fb_saml_broker *b, const struct fb_saml_acs *in,
    struct fb_saml_login *out, struct fb_saml_reply *reply, struct fb_err *err)
{
	struct acs a = {b, NULL, in, reply, err, NULL, NULL, NULL};
	struct fb_err e = {0};
	char *xml = NULL, *dest = NULL, *irt = NULL, *key = NULL;
	size_t len = 0;
	int rsig = 0, asig = 0;
	int64_t until = 0;
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	if ((a.u = upstream_get(b, in->upstream)) == NULL || !a.u->loaded)
		return refuse(&a, FB_ERR_NOTFOUND, 404, "saml_upstream_unknown", "Unknown sign-in",
		    "no SAML identity provider is configured under this name");
	if (in->saml_response == NULL)
		return BAD(&a, "the form carries no SAMLResponse");
	if ((r = fb_saml_message_decode(in->saml_response, 0, &xml, &len, &e)) != FB_OK ||
	    (r = fb_saml_xml_parse(xml, len, &a.doc, &e)) != FB_OK) {
		r = refuse(&a, r == FB_ERR_LIMIT ? r : FB_ERR_INVALID,
		    r == FB_ERR_LIMIT ? 413 : 400, "saml_upstream_response_invalid",
		    "Sign-in refused", "the response: %s", e.msg);
		goto out;
	}
	a.resp = xmlDocGetRootElement(a.doc);
	if (!fb_saml_xml_is(a.resp, FB_SAML_NS_PROTOCOL, "Response")) {
		r = BAD(&a, "the message is not a SAML Response");
		goto out;
	}
	if ((r = check_issuer(&a, a.resp, "response", 0)) != FB_OK ||
	    (r = check_status(&a)) != FB_OK)
		goto out;
	if ((r = check_structure(&a, 0)) != FB_OK ||
	    (r = verify_signature(&a, a.resp, "response", &rsig)) != FB_OK)
		goto out;
	if (fb_saml_xml_is(a.as, FB_SAML_NS_ASSERTION, "EncryptedAssertion")) {
		if ((r = decrypt_assertion(&a)) != FB_OK)
			goto out;
		out->encrypted = 1;
	}
	if ((r = verify_signature(&a, a.as, "assertion", &asig)) != FB_OK)
		goto out;
	if (!rsig && !asig) {
		r = refuse(&a, FB_ERR_SIGNATURE, 400, "saml_upstream_signature_invalid",
		    "Sign-in refused", "neither the response nor the assertion is signed");
		goto out;
	}
	out->response_signed = rsig;
	out->assertion_signed = asig;
	/* SAML2 Bindings 3.5.5.2: Destination, and it names us. */
	dest = fb_saml_xml_prop(a.resp, "Destination");
	if (dest == NULL || strcmp(dest, a.u->acs) != 0) {
		r = BAD(&a, "the response's Destination is not this service's ACS");
		goto out;
	}
	irt = fb_saml_xml_prop(a.resp, "InResponseTo");
	if (in->request_id == NULL && irt != NULL) {
		r = BAD(&a, "the response answers a request this browser did not start");
		goto out;
	}
	if (in->request_id == NULL && !a.u->allow_unsolicited) {
		r = BAD(&a, "unsolicited responses are not accepted from this identity provider");
		goto out;
	}
	if (in->request_id != NULL && (irt == NULL || strcmp(irt, in->request_id) != 0)) {
		r = BAD(&a, "the response does not answer the request this browser started");
		goto out;
	}
	if ((r = check_issuer(&a, a.as, "assertion", 1)) != FB_OK ||
	    (r = check_conditions(&a, &until)) != FB_OK ||
	    (r = check_subject(&a, out, &until)) != FB_OK ||
	    (r = read_statements(&a, out)) != FB_OK)
		goto out;
	out->issuer = fb_xstrdup(a.u->md.entity_id);
	{
		xmlChar *id = xmlGetProp(a.as, BAD_CAST "ID");

		if (id == NULL || id[0] == '\0') {
			xmlFree(id);
			r = BAD(&a, "the assertion has no ID");
			goto out;
		}
		out->assertion_id = fb_xstrdup((char *)id);
		xmlFree(id);
	}
	/* Once: the assertion until it expires, and the request this browser started. */
	until += a.u->clock_skew + 1;
	key = fb_xasprintf("as:%s:%s", a.u->md.entity_id, out->assertion_id);
	r = in->once(in->once_ctx, key, until, &e);
	if (r == FB_OK && in->request_id != NULL) {
		free(key);
		key = fb_xasprintf("req:%s", in->request_id);
		r = in->once(in->once_ctx, key, until, &e);
	}
	if (r == FB_ERR_REPLAY) {
		r = refuse(&a, FB_ERR_REPLAY, 409, "saml_upstream_replayed", "Sign-in refused",
		    "this response was used already");
		goto out;
	}
	if (r != FB_OK) {
		fb_log_err(FB_LOG_ERROR, in->reqid, &e);
		fb_saml_reply_page(reply, 503, "saml_store_unavailable", "Sign-in unavailable",
		    "The sign-in service cannot record the response right now. Try again later.");
		r = fb_err_set(err, r, "saml sp: replay cache: %s", e.msg);
		goto out;
	}
	fb_audit(in->reqid, "saml_upstream_response_ok", "upstream=%s assertion=%s%s%s", a.u->name,
	    out->assertion_id, rsig ? " response-signed" : "", asig ? " assertion-signed" : "");
	r = FB_OK;
out:
	if (r != FB_OK)
		fb_saml_login_cleanup(out);
	if (a.doc != NULL)
		xmlFreeDoc(a.doc);
	free(xml);
	free(dest);
	free(irt);
	free(key);
	return r;
}

/* ---- single logout with an upstream IdP ------------------------------------------------ */

void
fb_saml_logout_req_cleanup(struct fb_saml_logout_req *l)
{
	if (l == NULL)
		return;
	free(l->id);
	free(l->nameid);
	free(l->nameid_format);
	for (size_t i = 0; i < l->nsession_indexes; i++)
		free(l->session_indexes[i]);
	free(l->session_indexes);
	free(l->relay_state);
	memset(l, 0, sizeof(*l));
}

/* 1 when dest is one of our SLO URLs: /upstream/<any configured name>/slo. */
static int
slo_destination_ok(const struct fb_saml_broker *b, const char *dest)
{
	for (size_t i = 0; i < b->nups; i++) {
		char *mine = fb_xasprintf("%s" FB_SAML_PATH_UPSTREAM "%s" FB_SAML_UPSTREAM_SLO,
		    b->public_url, b->ups[i].name);
		int ok = strcmp(mine, dest) == 0;

		free(mine);
		if (ok)
			return 1;
	}
	return 0;
}

enum fb_status
fb_saml_broker_logout_parse(struct fb_saml_broker *b, const char *name,
    enum fb_saml_binding binding, const char *query, const char *saml_request,
    const char *relay_state, int64_t now, const char *reqid, struct fb_saml_logout_req *out,
    struct fb_saml_reply *reply, struct fb_err *err)
{
	struct fb_saml_acs ctx = {name, NULL, NULL, now, NULL, NULL, reqid};
	struct acs a = {b, NULL, &ctx, reply, err, NULL, NULL, NULL};
	struct fb_err e = {0};
	char *xml = NULL, *param = NULL, *v = NULL;
	size_t len = 0, plen = 0;
	int dup = 0, signed_ = 0;
	int64_t noa;
	xmlNodePtr root, nid;
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	if ((a.u = upstream_get(b, name)) == NULL || !a.u->loaded)
		return refuse(&a, FB_ERR_NOTFOUND, 404, "saml_upstream_unknown", "Unknown sign-out",
		    "no SAML identity provider is configured under this name");
	if (binding == FB_SAML_REDIRECT) {
		const char *p =
		    query != NULL ? fb_saml_query_param(query, "SAMLRequest", &plen, &dup) : NULL;
		const char *rs =
		    query != NULL ? fb_saml_query_param(query, "RelayState", &len, &dup) : NULL;

		if (p == NULL || dup) {
			r = BAD(&a, "the sign-out request carries no single SAMLRequest");
			goto out;
		}
		if ((r = fb_saml_param_decode(p, plen, 0, "SAMLRequest", &param, &e)) != FB_OK ||
		    (rs != NULL && (r = fb_saml_param_decode(rs, len, 0, "RelayState",
		                        &out->relay_state, &e)) != FB_OK) ||
		    (r = fb_saml_message_decode(param, 1, &xml, &len, &e)) != FB_OK) {
			r = BAD(&a, "the sign-out request: %s", e.msg);
			goto out;
		}
		/* SECURITY: signed by the IdP's certificate, always (else anyone could sign us
		 * out). */
		r = fb_saml_query_verify(query, "SAMLRequest", a.u->vkeys, a.u->nvkeys,
		    a.u->accept_sha1, NULL, &e);
		if (r != FB_OK) {
			r = refuse(&a, FB_ERR_SIGNATURE, 400, "saml_upstream_signature_invalid",
			    "Sign-out refused", "the sign-out request is %s",
			    r == FB_ERR_NOTFOUND ? "not signed"
			                         : "not signed by the identity provider");
			goto out;
		}
		signed_ = 1;
	} else {
		if (saml_request == NULL ||
		    (r = fb_saml_message_decode(saml_request, 0, &xml, &len, &e)) != FB_OK) {
			r = BAD(&a, "the sign-out request: %s",
			    saml_request == NULL ? "no SAMLRequest" : e.msg);
			goto out;
		}
		if (relay_state != NULL)
			out->relay_state = fb_xstrdup(relay_state);
	}
	if ((r = fb_saml_xml_parse(xml, len, &a.doc, &e)) != FB_OK) {
		r = BAD(&a, "the sign-out request: %s", e.msg);
		goto out;
	}
	root = a.resp = xmlDocGetRootElement(a.doc);
	if (!fb_saml_xml_is(root, FB_SAML_NS_PROTOCOL, "LogoutRequest")) {
		r = BAD(&a, "the message is not a LogoutRequest");
		goto out;
	}
	if (!signed_) {
		json_t *seen = json_object();
		int d = ids_duplicate(root, seen);

		json_decref(seen);
		if (d) {
			r = BAD(&a, "an ID appears twice in the sign-out request");
			goto out;
		}
		if ((r = verify_signature(&a, root, "sign-out request", &signed_)) != FB_OK)
			goto out;
		if (!signed_) {
			r = refuse(&a, FB_ERR_SIGNATURE, 400, "saml_upstream_signature_invalid",
			    "Sign-out refused", "the sign-out request is not signed");
			goto out;
		}
	}
	if ((r = check_issuer(&a, root, "sign-out request", 1)) != FB_OK)
		goto out;
	v = fb_saml_xml_prop(root, "Destination");
	if (v != NULL && !slo_destination_ok(b, v)) {
		r = BAD(&a, "the sign-out request's Destination is not this service");
		goto out;
	}
	noa = time_attr(root, "NotOnOrAfter");
	if (noa == -2 || (noa >= 0 && now - a.u->clock_skew >= noa)) {
		r = BAD(&a, "the sign-out request has expired");
		goto out;
	}
	nid = fb_saml_xml_child(root, FB_SAML_NS_ASSERTION, "NameID");
	if (nid == NULL) {
		r = BAD(&a, "the sign-out request names nobody (no NameID)");
		goto out;
	}
	for (xmlNodePtr c = nid->children; c != NULL; c = c->next)
		if (c->type != XML_TEXT_NODE) {
			r = BAD(&a, "the NameID holds something else than text (a comment?)");
			goto out;
		}
	out->nameid = text_of(nid);
	out->nameid_format = fb_saml_xml_prop(nid, "Format");
	out->id = fb_saml_xml_prop(root, "ID");
	if (out->id == NULL || out->nameid == NULL || out->nameid[0] == '\0') {
		r = BAD(&a, "the sign-out request has no ID or an empty NameID");
		goto out;
	}
	for (xmlNodePtr c = root->children; c != NULL; c = c->next)
		if (fb_saml_xml_is(c, FB_SAML_NS_PROTOCOL, "SessionIndex")) {
			out->session_indexes = fb_xrealloc(out->session_indexes,
			    (out->nsession_indexes + 1) * sizeof(*out->session_indexes));
			out->session_indexes[out->nsession_indexes++] = text_of(c);
		}
	r = FB_OK;
out:
	if (r != FB_OK)
		fb_saml_logout_req_cleanup(out);
	if (a.doc != NULL)
		xmlFreeDoc(a.doc);
	free(xml);
	free(param);
	free(v);
	return r;
}

int
fb_saml_logout_req_matches(const struct fb_saml_logout_req *l, const char *nameid,
    const char *session_index)
{
	if (nameid == NULL || l->nameid == NULL || strcmp(nameid, l->nameid) != 0)
		return 0;
	/* SAML2 Core 3.7.1: without SessionIndex, every session of the principal ends. */
	if (l->nsession_indexes == 0)
		return 1;
	for (size_t i = 0; session_index != NULL && i < l->nsession_indexes; i++)
		if (l->session_indexes[i] != NULL &&
		    strcmp(l->session_indexes[i], session_index) == 0)
			return 1;
	return 0;
}

/* The IdP's Redirect SingleLogoutService of u (for responses: its ResponseLocation), or NULL. */
static const char *
slo_url(const struct upstream *u, int response)
{
	if (u->slo == NULL)
		return NULL;
	return response && u->slo->response_url != NULL ? u->slo->response_url : u->slo->url;
}

/* The opening of a logout message to u: root element, ID, times, Destination, Issuer. */
static void
logout_head(struct fb_buf *x, const struct fb_saml_broker *b, const char *root, const char *id,
    const char *dest, const char *extra)
{
	char now[32];

	fb_saml_time(fb_time_now(), now, sizeof(now));
	fb_buf_addf(x, NULL,
	    "<samlp:%s xmlns:samlp=\"" FB_SAML_NS_PROTOCOL "\" xmlns:saml=\"" FB_SAML_NS_ASSERTION
	    "\" ID=\"%s\" Version=\"2.0\" IssueInstant=\"%s\"%s Destination=\"",
	    root, id, now, extra);
	fb_buf_add_escaped(x, dest, NULL);
	fb_buf_addf(x, NULL, "\"><saml:Issuer>");
	fb_buf_add_escaped(x, b->entity_id, NULL);
	fb_buf_addf(x, NULL, "</saml:Issuer>");
}

/*
 * A signed logout message to u's SingleLogoutService over HTTP-Redirect:
 * <samlp:root> with attributes extra, Issuer, then body (XML, ours).
 */
static enum fb_status
logout_send(struct fb_saml_broker *b, const char *name, int response, const char *root,
    const char *extra, const char *body, const char *relay_state, char **url, struct fb_err *err)
{
	struct upstream *u = upstream_loaded(b, name, err);
	const char *dest = u != NULL ? slo_url(u, response) : NULL;
	struct fb_buf x;
	char *id, *xml;
	enum fb_status r;

	*url = NULL;
	if (u == NULL)
		return FB_ERR_NOTFOUND;
	if (dest == NULL)
		return fb_err_set(err, FB_ERR_NOTFOUND,
		    "upstream %s: the IdP has no HTTP-Redirect SingleLogoutService", name);
	id = fb_saml_id_new();
	fb_buf_init(&x, 64 * 1024);
	logout_head(&x, b, root, id, dest, extra);
	fb_buf_addf(&x, NULL, "%s</samlp:%s>", body, root);
	xml = fb_buf_take(&x);
	r = redirect_url(b, dest, response ? "SAMLResponse" : "SAMLRequest", xml, relay_state, 1,
	    url, err);
	free(xml);
	free(id);
	return r;
}

enum fb_status
fb_saml_broker_logout_response(struct fb_saml_broker *b, const char *name,
    const char *in_response_to, int success, const char *relay_state, char **url,
    struct fb_err *err)
{
	struct fb_buf e;
	char *irt, *body;
	enum fb_status r;

	fb_buf_init(&e, 4096);
	fb_buf_addf(&e, NULL, " InResponseTo=\"");
	fb_buf_add_escaped(&e, in_response_to, NULL);
	fb_buf_addf(&e, NULL, "\"");
	irt = fb_buf_take(&e);
	body = fb_xasprintf("<samlp:Status><samlp:StatusCode Value=\"%s\"/></samlp:Status>",
	    success ? FB_SAML_STATUS_SUCCESS : FB_SAML_STATUS_REQUESTER);
	r = logout_send(b, name, 1, "LogoutResponse", irt, body, relay_state, url, err);
	free(irt);
	free(body);
	return r;
}

enum fb_status
fb_saml_broker_logout_request(struct fb_saml_broker *b, const char *name, const char *nameid,
    const char *nameid_format, const char *session_index, const char *relay_state, char **url,
    struct fb_err *err)
{
	struct fb_buf x;
	char noa[32], *extra, *body;
	enum fb_status r;

	fb_saml_time(fb_time_now() + 600, noa, sizeof(noa));
	extra = fb_xasprintf(" NotOnOrAfter=\"%s\"", noa);
	fb_buf_init(&x, 64 * 1024);
	fb_buf_addf(&x, NULL, "<saml:NameID");
	if (nameid_format != NULL) {
		fb_buf_addf(&x, NULL, " Format=\"");
		fb_buf_add_escaped(&x, nameid_format, NULL);
		fb_buf_addf(&x, NULL, "\"");
	}
	fb_buf_addf(&x, NULL, ">");
	fb_buf_add_escaped(&x, nameid, NULL);
	fb_buf_addf(&x, NULL, "</saml:NameID>");
	if (session_index != NULL) {
		fb_buf_addf(&x, NULL, "<samlp:SessionIndex>");
		fb_buf_add_escaped(&x, session_index, NULL);
		fb_buf_addf(&x, NULL, "</samlp:SessionIndex>");
	}
	body = fb_buf_take(&x);
	r = logout_send(b, name, 0, "LogoutRequest", extra, body, relay_state, url, err);
	free(body);
	free(extra);
	return r;
}

enum fb_status
fb_saml_upstream_metadata_check(const struct fb_conf *conf, const struct fb_conf_upstream *up,
    struct fb_err *err)
{
	/* No keys are needed to read IdP metadata: a broker of this upstream alone. */
	struct fb_saml_broker b = {0};
	struct fb_saml_upstream_def def = upstream_def(up);
	char *xml = NULL;
	enum fb_status r;

	if (up->saml.metadata == NULL)
		return FB_OK;
	b.public_url = conf->public_url != NULL ? conf->public_url : (char *)"";
	if ((r = fb_saml_file_read(up->saml.metadata, &xml, &def.metadata_len, err)) != FB_OK)
		return r;
	def.metadata = xml;
	r = fb_saml_broker_add_upstream(&b, &def, err);
	for (size_t i = 0; i < b.nups; i++)
		upstream_cleanup(&b.ups[i]);
	free(b.ups);
	free(xml);
	return r;
}
