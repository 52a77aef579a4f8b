/* SPDX-License-Identifier: Apache-2.0 */
/* saml/metadata.c: IdP metadata (templated: lasso writes none), SP metadata reading and templating, import descriptions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>
#include <libxml/tree.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/core.h"
#include "conf/conf.h"
#include "saml/saml.h"
#include "saml/internal.h"

/* ---- the IdP's metadata ---------------------------------------------------------- */

static void
add_endpoints(struct fb_buf *b, const char *element, const char *url)
{
	static const char *const bindings[] = {FB_SAML_BINDING_REDIRECT_URI,
	    FB_SAML_BINDING_POST_URI};

	for (size_t i = 0; i < 2; i++) {
		fb_buf_addf(b, NULL, "  <md:%s Binding=\"%s\" Location=\"", element, bindings[i]);
		fb_buf_add_escaped(b, url, NULL);
		fb_buf_addf(b, NULL, "\"/>\n");
	}
}

char *
fb_saml_idp_metadata_build(const struct fb_conf *conf, const char *entity_id,
    const struct fb_saml_key *keys, size_t nkeys)
{
	struct fb_buf b;
	char *sso = fb_xasprintf("%s%s", conf->public_url, FB_SAML_PATH_SSO);
	char *slo = fb_xasprintf("%s%s", conf->public_url, FB_SAML_PATH_SLO);
	char *id = fb_saml_id_new();

	/* Small and plain: IAM Identity Center takes at most 75,000 characters. */
	fb_buf_init(&b, 4 * 1024 * 1024);
	fb_buf_addf(&b, NULL,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<md:EntityDescriptor xmlns:md=\"" FB_SAML_NS_METADATA "\" "
	    "xmlns:ds=\"" FB_SAML_NS_DSIG "\" ID=\"%s\" entityID=\"",
	    id);
	fb_buf_add_escaped(&b, entity_id, NULL);
	fb_buf_addf(&b, NULL,
	    "\">\n <md:IDPSSODescriptor WantAuthnRequestsSigned=\"%s\" "
	    "protocolSupportEnumeration=\"" FB_SAML_NS_PROTOCOL "\">\n",
	    conf->saml_want_requests_signed ? "true" : "false");
	/* Every key: the published ones let SPs trust the next key before it signs. */
	for (size_t i = 0; i < nkeys; i++)
		fb_buf_addf(&b, NULL,
		    "  <md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:KeyName>%s</ds:KeyName>"
		    "<ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data>"
		    "</ds:KeyInfo></md:KeyDescriptor>\n",
		    keys[i].id, keys[i].cert_b64);
	add_endpoints(&b, "SingleLogoutService", slo);
	fb_buf_addf(&b, NULL,
	    "  <md:NameIDFormat>" FB_SAML_NAMEID_PERSISTENT "</md:NameIDFormat>\n"
	    "  <md:NameIDFormat>" FB_SAML_NAMEID_TRANSIENT "</md:NameIDFormat>\n"
	    "  <md:NameIDFormat>" FB_SAML_NAMEID_EMAIL "</md:NameIDFormat>\n"
	    "  <md:NameIDFormat>" FB_SAML_NAMEID_UNSPECIFIED "</md:NameIDFormat>\n");
	add_endpoints(&b, "SingleSignOnService", sso);
	fb_buf_addf(&b, NULL, " </md:IDPSSODescriptor>\n</md:EntityDescriptor>\n");
	free(id);
	free(sso);
	free(slo);
	return fb_buf_take(&b);
}

enum fb_status
fb_saml_metadata_sign(const char *xml, const struct fb_saml_key *key, char **out, size_t *len,
    struct fb_err *err)
{
	xmlDocPtr doc = NULL;
	enum fb_status r;

	if ((r = fb_saml_xml_parse(xml, strlen(xml), &doc, err)) != FB_OK)
		return r;
	/* SAML2 Metadata 2.3.2: ds:Signature is the EntityDescriptor's first child. */
	r = fb_saml_sign_node(xmlDocGetRootElement(doc), key,
	    key->is_ec ? FB_CONF_SAML_ECDSA_SHA256 : FB_CONF_SAML_RSA_SHA256, 0, err);
	if (r == FB_OK) {
		char *body = fb_saml_doc_dump(doc, NULL);

		*out = fb_xasprintf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n%s", body);
		free(body);
		if (len != NULL)
			*len = strlen(*out);
	}
	xmlFreeDoc(doc);
	return r;
}

enum fb_status
fb_saml_idp_metadata(const struct fb_saml_idp *idp, int sign, char **out, size_t *len,
    struct fb_err *err)
{
	*out = NULL;
	if (!sign) {
		*out = fb_xstrdup(idp->metadata);
		if (len != NULL)
			*len = strlen(*out);
		return FB_OK;
	}
	return fb_saml_metadata_sign(idp->metadata, idp->active, out, len, err);
}

enum fb_status
fb_saml_metadata_export(const struct fb_conf *conf, const struct fb_keyring *kr, int sign,
    char **out, size_t *len, struct fb_err *err)
{
	struct fb_saml_key *keys = NULL;
	size_t nkeys = 0;
	char *xml;
	enum fb_status r;

	*out = NULL;
	fb_saml_lib_init();
	if (conf->public_url == NULL || conf->saml_entity_id == NULL)
		return fb_err_set(err, FB_ERR_CONFIG, "saml: server.public_url is not set");
	if ((r = fb_saml_keys_load(kr, &keys, &nkeys, err)) != FB_OK)
		return r;
	if (nkeys == 0) {
		fb_saml_keys_free(keys, nkeys);
		return fb_err_set(err, FB_ERR_CONFIG, "saml: no signing key is loaded");
	}
	xml = fb_saml_idp_metadata_build(conf, conf->saml_entity_id, keys, nkeys);
	if (sign) {
		r = fb_saml_metadata_sign(xml, &keys[0], out, len, err);
		free(xml);
	} else {
		*out = xml;
		if (len != NULL)
			*len = strlen(xml);
	}
	fb_saml_keys_free(keys, nkeys);
	return r;
}

/* ---- reading metadata ---------------------------------------------------------- */

static int
is_md(xmlNodePtr n, const char *name)
{
	return fb_saml_xml_is(n, FB_SAML_NS_METADATA, name);
}

static int
is_ds(xmlNodePtr n, const char *name)
{
	return fb_saml_xml_is(n, FB_SAML_NS_DSIG, name);
}

static int
prop_true(xmlNodePtr n, const char *name)
{
	char *v = fb_saml_xml_prop(n, name);
	int t = v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);

	free(v);
	return t;
}

/* Text content with all whitespace removed (base64 certificates). New. */
static char *
text_nows(xmlNodePtr n)
{
	xmlChar *c = xmlNodeGetContent(n);
	char *out = fb_xmalloc(c != NULL ? (size_t)xmlStrlen(c) + 1 : 1);
	size_t k = 0;

	for (const xmlChar *p = c; p != NULL && *p != '\0'; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			out[k++] = (char)*p;
	out[k] = '\0';
	xmlFree(c);
	return out;
}

static char *
text_trim(xmlNodePtr n)
{
	xmlChar *c = xmlNodeGetContent(n);
	const char *s = c != NULL ? (const char *)c : "";
	size_t len;
	char *out;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' ||
	                      s[len - 1] == '\n'))
		len--;
	out = fb_xstrndup(s, len);
	xmlFree(c);
	return out;
}

static void
add_endpoint(struct fb_saml_endpoint **list, size_t *n, xmlNodePtr node, int with_index)
{
	struct fb_saml_endpoint *e;
	char *idx;

	*list = fb_xrealloc(*list, (*n + 1) * sizeof(**list));
	e = &(*list)[(*n)++];
	memset(e, 0, sizeof(*e));
	e->url = fb_saml_xml_prop(node, "Location");
	e->binding = fb_saml_xml_prop(node, "Binding");
	e->response_url = fb_saml_xml_prop(node, "ResponseLocation");
	if (with_index) {
		char *def = fb_saml_xml_prop(node, "isDefault");

		idx = fb_saml_xml_prop(node, "index");
		e->index = idx != NULL ? (int)strtol(idx, NULL, 10) : (int)*n - 1;
		/* 1 = isDefault true, -1 = explicitly false, 0 = not given. */
		e->is_default = def == NULL ? 0 : (strcmp(def, "true") == 0 || strcmp(def, "1") == 0) ? 1 : -1;
		free(idx);
		free(def);
	}
}

static void
add_certs(struct fb_saml_md *md, xmlNodePtr kd)
{
	char *use = fb_saml_xml_prop(kd, "use");

	for (xmlNodePtr ki = kd->children; ki != NULL; ki = ki->next) {
		xmlNodePtr kn = NULL;

		if (!is_ds(ki, "KeyInfo"))
			continue;
		for (xmlNodePtr xd = ki->children; xd != NULL && kn == NULL; xd = xd->next)
			if (is_ds(xd, "KeyName"))
				kn = xd;
		for (xmlNodePtr xd = ki->children; xd != NULL; xd = xd->next) {
			if (!is_ds(xd, "X509Data"))
				continue;
			for (xmlNodePtr c = xd->children; c != NULL; c = c->next) {
				if (!is_ds(c, "X509Certificate"))
					continue;
				md->certs = fb_xrealloc(md->certs, (md->ncerts + 1) * sizeof(*md->certs));
				md->certs[md->ncerts].use =
				    fb_xstrdup(use != NULL ? use : "both");
				md->certs[md->ncerts].b64 = text_nows(c);
				md->certs[md->ncerts].key_name = kn != NULL ? text_trim(kn) : NULL;
				md->ncerts++;
			}
		}
	}
	free(use);
}

void
fb_saml_md_cleanup(struct fb_saml_md *md)
{
	struct fb_saml_endpoint *lists[3] = {md->acs, md->sso, md->slo};
	size_t counts[3] = {md->nacs, md->nsso, md->nslo};

	free(md->entity_id);
	free(md->valid_until);
	free(md->cache_duration);
	for (size_t i = 0; i < md->nnameid_formats; i++)
		free(md->nameid_formats[i]);
	free(md->nameid_formats);
	for (size_t l = 0; l < 3; l++) {
		for (size_t i = 0; i < counts[l]; i++) {
			free(lists[l][i].url);
			free(lists[l][i].binding);
			free(lists[l][i].response_url);
		}
		free(lists[l]);
	}
	for (size_t i = 0; i < md->ncerts; i++) {
		free(md->certs[i].use);
		free(md->certs[i].b64);
		free(md->certs[i].key_name);
	}
	free(md->certs);
	memset(md, 0, sizeof(*md));
}

enum fb_status
fb_saml_md_parse(const char *xml, size_t len, struct fb_saml_md *md, xmlDocPtr *docp,
    struct fb_err *err)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr root, ed = NULL, role = NULL;
	enum fb_status r;

	memset(md, 0, sizeof(*md));
	*docp = NULL;
	if ((r = fb_saml_xml_parse(xml, len, &doc, err)) != FB_OK)
		return r;
	root = xmlDocGetRootElement(doc);
	if (is_md(root, "EntitiesDescriptor")) {
		size_t n = 0;

		for (xmlNodePtr c = root->children; c != NULL; c = c->next)
			if (is_md(c, "EntityDescriptor")) {
				ed = c;
				n++;
			}
		if (n != 1) {
			r = fb_err_set(err, FB_ERR_INVALID,
			    "an EntitiesDescriptor with %zu entities: give the metadata of one", n);
			goto fail;
		}
	} else if (is_md(root, "EntityDescriptor")) {
		ed = root;
	} else {
		r = fb_err_set(err, FB_ERR_INVALID,
		    "not SAML metadata: the root element is '%s', not md:EntityDescriptor",
		    (const char *)root->name);
		goto fail;
	}
	md->entity_id = fb_saml_xml_prop(ed, "entityID");
	if (md->entity_id == NULL || md->entity_id[0] == '\0' || strlen(md->entity_id) > 1024) {
		r = fb_err_set(err, FB_ERR_INVALID, "the EntityDescriptor has no entityID (or one "
		                                    "longer than 1024 characters)");
		goto fail;
	}
	md->valid_until = fb_saml_xml_prop(ed, "validUntil");
	if (md->valid_until == NULL && ed != root)
		md->valid_until = fb_saml_xml_prop(root, "validUntil");
	md->cache_duration = fb_saml_xml_prop(ed, "cacheDuration");
	if (md->cache_duration == NULL && ed != root)
		md->cache_duration = fb_saml_xml_prop(root, "cacheDuration");
	for (xmlNodePtr c = ed->children; c != NULL; c = c->next) {
		if (is_ds(c, "Signature"))
			md->signed_ = 1;
		if (role == NULL && is_md(c, "SPSSODescriptor")) {
			role = c;
			md->is_sp = 1;
		}
	}
	for (xmlNodePtr c = ed->children; role == NULL && c != NULL; c = c->next)
		if (is_md(c, "IDPSSODescriptor"))
			role = c;
	if (role == NULL) {
		r = fb_err_set(err, FB_ERR_INVALID,
		    "the entity '%s' has neither an SPSSODescriptor nor an IDPSSODescriptor",
		    md->entity_id);
		goto fail;
	}
	/* SP: AuthnRequestsSigned; IdP: WantAuthnRequestsSigned (it wants them signed). */
	md->authn_requests_signed =
	    prop_true(role, md->is_sp ? "AuthnRequestsSigned" : "WantAuthnRequestsSigned");
	md->want_assertions_signed = prop_true(role, "WantAssertionsSigned");
	for (xmlNodePtr c = role->children; c != NULL; c = c->next) {
		if (is_md(c, "KeyDescriptor")) {
			add_certs(md, c);
		} else if (is_md(c, "NameIDFormat")) {
			md->nameid_formats = fb_xrealloc(md->nameid_formats,
			    (md->nnameid_formats + 1) * sizeof(*md->nameid_formats));
			md->nameid_formats[md->nnameid_formats++] = text_trim(c);
		} else if (is_md(c, "AssertionConsumerService")) {
			add_endpoint(&md->acs, &md->nacs, c, 1);
		} else if (is_md(c, "SingleSignOnService")) {
			add_endpoint(&md->sso, &md->nsso, c, 0);
		} else if (is_md(c, "SingleLogoutService")) {
			add_endpoint(&md->slo, &md->nslo, c, 0);
		}
	}
	for (size_t i = 0; i < md->nacs; i++)
		if (md->acs[i].url == NULL || md->acs[i].binding == NULL) {
			r = fb_err_set(err, FB_ERR_INVALID,
			    "AssertionConsumerService %zu has no Location or Binding", i);
			goto fail;
		}
	*docp = doc;
	return FB_OK;
fail:
	xmlFreeDoc(doc);
	fb_saml_md_cleanup(md);
	return r;
}

/* ---- SP metadata from inline configuration ----------------------------------------- */

char *
fb_saml_pem_file_cert_b64(const char *path, struct fb_err *err)
{
	BIO *bio = BIO_new_file(path, "r");
	X509 *x = NULL;
	unsigned char *der = NULL;
	int dlen;
	char *out = NULL;

	if (bio == NULL || (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL ||
	    (dlen = i2d_X509(x, &der)) <= 0) {
		fb_err_openssl(err, FB_ERR_CONFIG, "'%s' holds no PEM certificate", path);
		goto out;
	}
	out = fb_saml_b64(der, (size_t)dlen);
out:
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(bio);
	return out;
}

enum fb_status
fb_saml_sp_metadata_build(const struct fb_conf_saml_sp *sp, char **out, struct fb_err *err)
{
	static const char *const formats[] = {FB_SAML_NAMEID_PERSISTENT, FB_SAML_NAMEID_TRANSIENT,
	    FB_SAML_NAMEID_EMAIL, FB_SAML_NAMEID_UNSPECIFIED};
	char *sign = NULL, *enc = NULL;
	struct fb_buf b;

	*out = NULL;
	if (sp->certificate != NULL &&
	    (sign = fb_saml_pem_file_cert_b64(sp->certificate, err)) == NULL)
		return FB_ERR_CONFIG;
	if (sp->encryption_certificate != NULL &&
	    (enc = fb_saml_pem_file_cert_b64(sp->encryption_certificate, err)) == NULL) {
		free(sign);
		return FB_ERR_CONFIG;
	}
	fb_buf_init(&b, 4 * 1024 * 1024);
	fb_buf_addf(&b, NULL,
	    "<md:EntityDescriptor xmlns:md=\"" FB_SAML_NS_METADATA "\" xmlns:ds=\"" FB_SAML_NS_DSIG
	    "\" entityID=\"");
	fb_buf_add_escaped(&b, sp->entity_id, NULL);
	fb_buf_addf(&b, NULL,
	    "\">\n <md:SPSSODescriptor AuthnRequestsSigned=\"%s\" WantAssertionsSigned=\"true\" "
	    "protocolSupportEnumeration=\"" FB_SAML_NS_PROTOCOL "\">\n",
	    sp->require_signed_requests_set && sp->require_signed_requests ? "true" : "false");
	if (sign != NULL)
		fb_buf_addf(&b, NULL,
		    "  <md:KeyDescriptor use=\"%s\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>"
		    "%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\n",
		    enc != NULL ? "signing" : "signing", sign);
	if (enc != NULL || (sign != NULL && sp->encrypt_assertion))
		fb_buf_addf(&b, NULL,
		    "  <md:KeyDescriptor use=\"encryption\"><ds:KeyInfo><ds:X509Data>"
		    "<ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
		    "</md:KeyDescriptor>\n",
		    enc != NULL ? enc : sign);
	if (sp->slo_url != NULL) {
		fb_buf_addf(&b, NULL, "  <md:SingleLogoutService Binding=\"%s\" Location=\"",
		    sp->slo_binding == FB_CONF_SAML_SLO_POST ? FB_SAML_BINDING_POST_URI
		                                             : FB_SAML_BINDING_REDIRECT_URI);
		fb_buf_add_escaped(&b, sp->slo_url, NULL);
		fb_buf_addf(&b, NULL, "\"/>\n");
	}
	fb_buf_addf(&b, NULL, "  <md:NameIDFormat>%s</md:NameIDFormat>\n",
	    formats[sp->nameid_format]);
	for (size_t i = 0; i < sp->nacs; i++) {
		fb_buf_addf(&b, NULL,
		    "  <md:AssertionConsumerService Binding=\"" FB_SAML_BINDING_POST_URI
		    "\" index=\"%d\"%s Location=\"",
		    sp->acs[i].index, sp->acs[i].is_default ? " isDefault=\"true\"" : "");
		fb_buf_add_escaped(&b, sp->acs[i].url, NULL);
		fb_buf_addf(&b, NULL, "\"/>\n");
	}
	fb_buf_addf(&b, NULL, " </md:SPSSODescriptor>\n</md:EntityDescriptor>\n");
	free(sign);
	free(enc);
	*out = fb_buf_take(&b);
	return FB_OK;
}

/* ---- describing metadata (fedbroker metadata import|show) --------------------------- */

int64_t
fb_saml_datetime_parse(const char *s)
{
	GDateTime *dt = g_date_time_new_from_iso8601(s, NULL);
	int64_t t;

	if (dt == NULL)
		return -1;
	t = g_date_time_to_unix(dt);
	g_date_time_unref(dt);
	return t;
}

int64_t
fb_saml_duration_parse(const char *s)
{
	/* Designators in order, with their seconds: date part, then after 'T' time part. */
	static const char date[] = "YMD", time_[] = "HMS";
	static const int64_t dsec[] = {365 * 86400, 30 * 86400, 86400}, tsec[] = {3600, 60, 1};
	const char *p = s, *order = date;
	const int64_t *mult = dsec;
	int64_t total = 0, max = 10LL * 365 * 86400;
	size_t next = 0, parts = 0;
	int in_time = 0;

	if (p == NULL || *p++ != 'P' || *p == '\0')
		return -1;
	while (*p != '\0') {
		int64_t n = 0;
		size_t digits = 0;
		const char *d;

		if (*p == 'T' && !in_time) {
			in_time = 1;
			order = time_;
			mult = tsec;
			next = 0;
			if (*++p == '\0')
				return -1; /* "T" with nothing after it */
			continue;
		}
		for (; *p >= '0' && *p <= '9'; p++, digits++)
			if ((n = n * 10 + (*p - '0')) > max)
				n = max;
		if (digits == 0)
			return -1;
		if (*p == '.' && in_time) { /* fractions, of seconds only: dropped */
			for (p++, digits = 0; *p >= '0' && *p <= '9'; p++)
				digits++;
			if (digits == 0 || *p != 'S')
				return -1;
		}
		if (*p == '\0' || (d = strchr(order + next, *p)) == NULL)
			return -1;
		next = (size_t)(d - order) + 1;
		total += n * mult[d - order];
		if (total > max)
			total = max;
		p++;
		parts++;
	}
	return parts > 0 ? total : -1;
}

static json_t *
endpoints_json(const struct fb_saml_endpoint *e, size_t n, int acs)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *o = json_pack("{s:s?, s:s?}", "url", e[i].url, "binding", e[i].binding);

		if (acs) {
			json_object_set_new(o, "index", json_integer(e[i].index));
			json_object_set_new(o, "default", json_boolean(e[i].is_default == 1));
		} else if (e[i].response_url != NULL) {
			json_object_set_new(o, "response_url", json_string(e[i].response_url));
		}
		json_array_append_new(a, o);
	}
	return a;
}

unsigned long fb_saml_cert_decodes;

X509 *
fb_saml_cert_decode(const char *b64)
{
	gsize dlen = 0;
	guchar *der = g_base64_decode(b64, &dlen);
	const unsigned char *p = der;
	X509 *x = dlen > 0 ? d2i_X509(NULL, &p, (long)dlen) : NULL;

	fb_saml_cert_decodes++;
	g_free(der);
	return x;
}

/*
 * One certificate described (subject, expiry, PEM); warns into warnings.
 * given: c already decoded (borrowed), or NULL to decode it here.
 */
static json_t *
cert_json(const struct fb_saml_mdcert *c, X509 *given, json_t *warnings)
{
	X509 *x = given != NULL ? given : fb_saml_cert_decode(c->b64);
	json_t *o = json_pack("{s:s}", "use", c->use);

	if (c->key_name != NULL)
		json_object_set_new(o, "key_name", json_string(c->key_name));

	if (x == NULL) {
		json_array_append_new(warnings,
		    json_sprintf("a %s certificate cannot be parsed: it is ignored", c->use));
		json_object_set_new(o, "error", json_string("not an X.509 certificate"));
	} else {
		char subj[512];
		BIO *bio = BIO_new(BIO_s_mem());
		char *pem = NULL;
		long plen;
		struct tm tm;
		char when[64];
		int64_t t;

		X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
		json_object_set_new(o, "subject", json_string(subj));
		if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) {
			t = (int64_t)timegm(&tm);
			fb_saml_time(t, when, sizeof(when));
			json_object_set_new(o, "not_after", json_string(when));
			json_object_set_new(o, "expired", json_boolean(t <= fb_time_now()));
			if (t <= fb_time_now())
				json_array_append_new(warnings,
				    json_sprintf("the %s certificate '%s' expired on %s", c->use, subj,
				        when));
		}
		if (bio != NULL && PEM_write_bio_X509(bio, x) == 1 &&
		    (plen = BIO_get_mem_data(bio, &pem)) > 0)
			json_object_set_new(o, "pem", json_stringn(pem, (size_t)plen));
		BIO_free(bio);
		if (x != given)
			X509_free(x);
	}
	return o;
}

enum fb_status
fb_saml_metadata_parse(const char *xml, size_t len, const char *cert_pem, json_t **out,
    struct fb_err *err)
{
	return fb_saml_metadata_describe(xml, len, cert_pem, NULL, 0, out, err);
}

json_t *
fb_saml_md_describe(const struct fb_saml_md *md, int verified, X509 *const *certs, size_t ncerts)
{
	json_t *o, *a, *warnings = json_array();

	o = json_pack("{s:s, s:s, s:b, s:b, s:b, s:b}", "entity_id", md->entity_id, "role",
	    md->is_sp ? "sp" : "idp", "signed", md->signed_, "signature_verified", verified,
	    "authn_requests_signed", md->authn_requests_signed, "want_assertions_signed",
	    md->want_assertions_signed);
	json_object_set_new(o, "valid_until",
	    md->valid_until != NULL ? json_string(md->valid_until) : json_null());
	json_object_set_new(o, "cache_duration",
	    md->cache_duration != NULL ? json_string(md->cache_duration) : json_null());
	if (md->cache_duration != NULL && fb_saml_duration_parse(md->cache_duration) < 0)
		json_array_append_new(warnings,
		    json_sprintf("cacheDuration '%s' is not a duration (ignored)",
		        md->cache_duration));
	json_object_set_new(o, "expired", json_false());
	if (md->valid_until != NULL) {
		int64_t t = fb_saml_datetime_parse(md->valid_until);

		if (t < 0)
			json_array_append_new(warnings,
			    json_sprintf("validUntil '%s' is not a date", md->valid_until));
		else if (t <= fb_time_now()) {
			json_object_set_new(o, "expired", json_true());
			json_array_append_new(warnings,
			    json_sprintf(
			        "validUntil %s is past: the metadata expired (kept anyway; "
			        "fetch a fresh copy when you can)",
			        md->valid_until));
		}
	}
	a = json_array();
	for (size_t i = 0; i < md->nnameid_formats; i++)
		json_array_append_new(a, json_string(md->nameid_formats[i]));
	json_object_set_new(o, "nameid_formats", a);
	if (md->is_sp) {
		json_object_set_new(o, "acs", endpoints_json(md->acs, md->nacs, 1));
		if (fb_saml_md_default_acs(md) == NULL)
			json_array_append_new(warnings,
			    json_string("no AssertionConsumerService with the HTTP-POST binding: "
			                "fedbroker cannot answer this SP"));
	} else {
		json_object_set_new(o, "sso", endpoints_json(md->sso, md->nsso, 0));
	}
	json_object_set_new(o, "slo", endpoints_json(md->slo, md->nslo, 0));
	a = json_array();
	for (size_t i = 0; i < md->ncerts; i++)
		json_array_append_new(a,
		    cert_json(&md->certs[i], certs != NULL && i < ncerts ? certs[i] : NULL,
		        warnings));
	json_object_set_new(o, "certificates", a);
	if (md->is_sp && md->authn_requests_signed && md->ncerts == 0)
		json_array_append_new(warnings,
		    json_string("AuthnRequestsSigned is true but there is no certificate to verify "
		                "the requests"));
	json_object_set_new(o, "warnings", warnings);
	return o;
}

enum fb_status
fb_saml_metadata_describe(const char *xml, size_t len, const char *cert_pem, X509 *const *certs,
    size_t ncerts, json_t **out, struct fb_err *err)
{
	struct fb_saml_md md;
	xmlDocPtr doc = NULL;
	int verified = 0;
	enum fb_status r;

	*out = NULL;
	fb_saml_lib_init();
	if ((r = fb_saml_md_parse(xml, len, &md, &doc, err)) != FB_OK)
		return r;
	if (cert_pem != NULL) {
		/* SECURITY: when a certificate is given, an unsigned or badly signed file is
		 * refused. */
		if ((r = fb_saml_verify_root(doc, cert_pem, err)) != FB_OK)
			goto out;
		verified = 1;
	}
	*out = fb_saml_md_describe(&md, verified, certs, ncerts);
	r = FB_OK;
out:
	xmlFreeDoc(doc);
	fb_saml_md_cleanup(&md);
	return r;
}

char *
fb_saml_metadata_stanza(const json_t *info, const char *name, const char *metadata_path)
{
	const char *entity = json_string_value(json_object_get(info, "entity_id"));
	const char *profile = NULL, *format = "persistent";
	json_t *mp;
	char *mq;
	struct fb_buf b;

	if (entity != NULL && strcmp(entity, FB_SAML_AWS_ENTITY_ID) == 0)
		profile = "aws";
	else if (entity != NULL && strstr(entity, ".signin.aws.amazon.com/platform/saml/") != NULL) {
		profile = "aws-identity-center";
		format = "email";
	}
	/* A JSON string is a YAML double-quoted scalar: any path pastes safely. */
	mp = json_string(metadata_path);
	mq = mp != NULL ? json_dumps(mp, JSON_ENCODE_ANY) : NULL;
	json_decref(mp);
	fb_buf_init(&b, 64 * 1024);
	/* A list item of saml.service_providers, indented as under "  service_providers:". */
	fb_buf_addf(&b, NULL,
	    "    - name: %s\n"
	    "      display_name: %s  # shown to people on the dashboard: change it\n"
	    "      metadata: %s\n"
	    "      groups: []  # the groups whose members may sign in here; [] lets every user in\n",
	    name, name, mq != NULL ? mq : "\"\"");
	free(mq);
	if (profile != NULL) {
		fb_buf_addf(&b, NULL, "      profile: %s\n      nameid:\n        format: %s\n",
		    profile, format);
		if (strcmp(format, "email") == 0)
			fb_buf_addf(&b, NULL, "        source: email\n");
	} else {
		/*
		 * Not pinned: the SP's AuthnRequests (or its metadata's NameIDFormat
		 * list) choose, as mod_auth_mellon's transient needs.
		 */
		fb_buf_addf(&b, NULL,
		    "      # nameid: {format: persistent}  # pins the NameID format; without it "
		    "the SP's requests choose\n");
	}
	if (profile != NULL && strcmp(profile, "aws") == 0)
		fb_buf_addf(&b, NULL,
		    "      attributes:\n"
		    "        - name: " FB_SAML_AWS_ATTR_ROLE "\n          mapping: aws_role\n"
		    "        - name: " FB_SAML_AWS_ATTR_ROLE_SESSION "\n"
		    "          mapping: aws_role_session_name\n"
		    "        - name: " FB_SAML_AWS_ATTR_DURATION "\n"
		    "          mapping: aws_session_duration\n");
	return fb_buf_take(&b);
}

char *
fb_saml_metadata_upstream_stanza(const json_t *info, const char *name, const char *metadata_path)
{
	json_t *mp = json_string(metadata_path);
	char *mq = mp != NULL ? json_dumps(mp, JSON_ENCODE_ANY) : NULL;
	struct fb_buf b;

	json_decref(mp);
	fb_buf_init(&b, 64 * 1024);
	/* A list item of upstreams, indented as under "upstreams:". */
	fb_buf_addf(&b, NULL,
	    "  - name: %s\n"
	    "    display_name: %s  # the login button's label: change it\n"
	    "    type: saml\n"
	    "    domains: []  # email domains this IdP owns (home-realm discovery)\n"
	    "    saml:\n"
	    "      metadata: %s\n"
	    "      sign_requests: auto  # the IdP %s signed AuthnRequests\n",
	    name, name, mq != NULL ? mq : "\"\"",
	    json_is_true(json_object_get(info, "authn_requests_signed")) ? "wants" : "does not ask for");
	free(mq);
	return fb_buf_take(&b);
}
