/* SPDX-License-Identifier: Apache-2.0 */
/* saml/request.c: incoming AuthnRequests: decoding, the checks lasso does not make, signatures, ACS choice, replay. */
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <libxml/tree.h>
#include <lasso/lasso.h>
#include <lasso/xml/saml-2.0/samlp2_authn_request.h>
#include <lasso/xml/saml-2.0/samlp2_logout_request.h>
#include <openssl/evp.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "saml/saml.h"
#include "saml/internal.h"

#define REPLAY_NS "saml-request-id"
/* Longest request ID accepted (they are 20..64 characters in practice). */
#define ID_MAX 200

void
fb_saml_incoming_cleanup(struct fb_saml_incoming *in)
{
	free(in->xml);
	if (in->doc != NULL)
		xmlFreeDoc(in->doc);
	free(in->msg);
	free(in->relay_state);
	free(in->sig_alg);
	free(in->id);
	free(in->issuer);
	free(in->destination);
	memset(in, 0, sizeof(*in));
}

/* The text of the first child element (namespace ns, name) of n, new; NULL when none. */
static char *
child_text(xmlNodePtr n, const char *ns, const char *name)
{
	xmlNodePtr c = fb_saml_xml_child(n, ns, name);
	xmlChar *t;
	char *out;

	if (c == NULL)
		return NULL;
	t = xmlNodeGetContent(c);
	out = fb_xstrdup(t != NULL ? (const char *)t : "");
	xmlFree(t);
	return out;
}

/* 1 when uri names a SHA-1 based algorithm (RSA-SHA1, DSA-SHA1, SHA-1 digest). */
static int
is_sha1(const char *uri)
{
	return uri != NULL && (strstr(uri, "sha1") != NULL || strstr(uri, "SHA1") != NULL);
}

/* Fills *sha1 when the enveloped signature of root uses SHA-1 anywhere; *present when signed. */
static void
xml_signature_algs(xmlNodePtr root, int *present, int *sha1)
{
	xmlNodePtr sig = fb_saml_xml_child(root, FB_SAML_NS_DSIG, "Signature");
	xmlNodePtr si = fb_saml_xml_child(sig, FB_SAML_NS_DSIG, "SignedInfo");

	*present = sig != NULL;
	*sha1 = 0;
	for (xmlNodePtr c = si != NULL ? si->children : NULL; c != NULL; c = c->next) {
		char *alg = NULL;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrEqual(c->name, BAD_CAST "SignatureMethod"))
			alg = fb_saml_xml_prop(c, "Algorithm");
		else if (xmlStrEqual(c->name, BAD_CAST "Reference")) {
			xmlNodePtr dm = fb_saml_xml_child(c, FB_SAML_NS_DSIG, "DigestMethod");

			alg = dm != NULL ? fb_saml_xml_prop(dm, "Algorithm") : NULL;
		}
		*sha1 |= is_sha1(alg);
		free(alg);
	}
}

/* Sets a page on reply and fills err; returns status. */
static enum fb_status
refuse(struct fb_saml_reply *reply, const char *reqid, enum fb_status status, int http,
    const char *event, const char *title, const char *detail, struct fb_err *err)
{
	fb_saml_reply_page(reply, http, event, title, "%s", detail);
	fb_audit(reqid, event, "%s", detail);
	return fb_err_set(err, status, "saml: %s", detail);
}

/* One child element a request may have, in schema order (SAML2 Core 3.2.1, 3.4.1, 3.7.1). */
struct shape {
	const char *ns;
	const char *name;
	int many; /* 0: at most once, 1: any number */
	int group; /* > 0: one of the elements sharing this number, exactly once */
	int text;  /* simple content: no child element */
};

static const struct shape authn_request_shape[] = {
	{FB_SAML_NS_ASSERTION, "Issuer", 0, 0, 1},
	{FB_SAML_NS_DSIG, "Signature", 0, 0, 0},
	{FB_SAML_NS_PROTOCOL, "Extensions", 0, 0, 0},
	{FB_SAML_NS_ASSERTION, "Subject", 0, 0, 0},
	{FB_SAML_NS_PROTOCOL, "NameIDPolicy", 0, 0, 0},
	{FB_SAML_NS_ASSERTION, "Conditions", 0, 0, 0},
	{FB_SAML_NS_PROTOCOL, "RequestedAuthnContext", 0, 0, 0},
	{FB_SAML_NS_PROTOCOL, "Scoping", 0, 0, 0},
	{NULL, NULL, 0, 0, 0},
};

static const struct shape logout_request_shape[] = {
	{FB_SAML_NS_ASSERTION, "Issuer", 0, 0, 1},
	{FB_SAML_NS_DSIG, "Signature", 0, 0, 0},
	{FB_SAML_NS_PROTOCOL, "Extensions", 0, 0, 0},
	/* BaseID and EncryptedID are not accepted: this IdP issues plain NameIDs only. */
	{FB_SAML_NS_ASSERTION, "NameID", 0, 1, 1},
	{FB_SAML_NS_PROTOCOL, "SessionIndex", 1, 0, 1},
	{NULL, NULL, 0, 0, 0},
};

/*
 * SECURITY: lasso 2.8 stops with g_error() (SIGTRAP: the worker dies) on
 * some requests it cannot read, e.g. a LogoutRequest without NameID or
 * with a Signature outside the XML-DSig namespace. The root's children are
 * checked against the schema's sequence before lasso sees the message:
 * known elements only, in order, each at most once unless repeatable,
 * text-only ones (Issuer, NameID, SessionIndex) without child elements, no
 * xsi:type anywhere (lasso would build the node class it names), and
 * exactly one NameID in a LogoutRequest. *why tells what is wrong.
 */
/* 1 when an element at or under n carries xsi:type (lasso would pick the node's class by it). */
static int
has_xsi_type(xmlNodePtr n)
{
	for (; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		for (xmlAttrPtr a = n->properties; a != NULL; a = a->next)
			if (a->ns != NULL && xmlStrEqual(a->ns->href, BAD_CAST FB_SAML_NS_XSI) &&
			    xmlStrEqual(a->name, BAD_CAST "type"))
				return 1;
		if (has_xsi_type(n->children))
			return 1;
	}
	return 0;
}

static int
shape_ok(xmlNodePtr root, const char **why)
{
	const struct shape *sh = xmlStrEqual(root->name, BAD_CAST "LogoutRequest")
	                             ? logout_request_shape
	                             : authn_request_shape;
	size_t at = 0, groups = 0;
	int need_group = sh == logout_request_shape;

	/* libxml2 refuses documents nested deeper than 256 without XML_PARSE_HUGE: a bounded walk. */
	if (has_xsi_type(root)) {
		*why = "an xsi:type attribute (none is needed in a request)";
		return 0;
	}

	for (xmlNodePtr c = root->children; c != NULL; c = c->next) {
		size_t k;

		if (c->type == XML_TEXT_NODE || c->type == XML_COMMENT_NODE) {
			if (c->type == XML_TEXT_NODE && !xmlIsBlankNode(c)) {
				*why = "text between its elements";
				return 0;
			}
			continue;
		}
		if (c->type != XML_ELEMENT_NODE) {
			*why = "a node that is not an element";
			return 0;
		}
		for (k = at; sh[k].name != NULL; k++)
			if (fb_saml_xml_is(c, sh[k].ns, sh[k].name))
				break;
		if (sh[k].name == NULL) {
			*why = "an unexpected, misplaced or repeated element";
			return 0;
		}
		if (sh[k].text)
			for (xmlNodePtr g = c->children; g != NULL; g = g->next)
				if (g->type == XML_ELEMENT_NODE) {
					*why = "an element inside one that holds only text";
					return 0;
				}
		if (sh[k].group > 0)
			groups++;
		/* Past this element; a repeatable one may come again. */
		at = sh[k].many ? k : k + 1;
		/* The members of a choice exclude each other. */
		while (sh[at].name != NULL && sh[at].group > 0 && sh[at].group == sh[k].group &&
		       !sh[k].many)
			at++;
	}
	if (need_group && groups != 1) {
		*why = "it needs exactly one NameID (BaseID and EncryptedID are not accepted)";
		return 0;
	}
	return 1;
}

enum fb_status
fb_saml_incoming_decode(struct fb_saml_idp *idp, enum fb_saml_binding binding, const char *query,
    const char *saml_request, const char *relay_state, const char *root_name,
    const char *reqid, struct fb_saml_incoming *in, struct fb_saml_reply *reply,
    struct fb_err *err)
{
	const char *what = strcmp(root_name, "AuthnRequest") == 0 ? "sign-in" : "sign-out";
	struct fb_err e = {0};
	xmlNodePtr root;
	const char *why = NULL;
	enum fb_status r;
	int dup = 0;
	char *title = fb_xasprintf("Bad %s request", what);

	memset(in, 0, sizeof(*in));
	fb_saml_reply_cleanup(reply);
	if (binding == FB_SAML_REDIRECT) {
		size_t len = 0, rlen = 0;
		const char *p = fb_saml_query_param(query, "SAMLRequest", &len, &dup);
		const char *rs = fb_saml_query_param(query, "RelayState", &rlen, NULL);
		const char *sa;
		char *raw;

		in->redirect = 1;

		if (p == NULL || dup) {
			r = refuse(reply, reqid, FB_ERR_INVALID, 400, "saml_request_invalid", title,
			    dup ? "The request has several SAMLRequest parameters."
			        : "The request has no SAMLRequest parameter.",
			    err);
			goto out;
		}
		if (len > 3 * FB_SAML_MESSAGE_MAX) {
			r = refuse(reply, reqid, FB_ERR_LIMIT, 413, "saml_request_invalid", title,
			    "The SAMLRequest parameter is too large.", err);
			goto out;
		}
		/* '+' stays '+': it is a base64 character, and encoders escape it (%2B). */
		if ((raw = fb_saml_url_decode(p, len, 0)) == NULL) {
			r = refuse(reply, reqid, FB_ERR_INVALID, 400, "saml_request_invalid", title,
			    "The SAMLRequest parameter has a bad %-escape.", err);
			goto out;
		}
		r = fb_saml_message_decode(raw, 1, &in->xml, &in->len, &e);
		free(raw);
		if (r != FB_OK) {
			char *d = fb_xasprintf("The SAMLRequest cannot be decoded: %s.", e.msg);

			r = refuse(reply, reqid, r, r == FB_ERR_LIMIT ? 413 : 400,
			    "saml_request_invalid", title, d, err);
			free(d);
			goto out;
		}
		if (rs != NULL && (r = fb_saml_param_decode(rs, rlen, 1, "RelayState",
		                       &in->relay_state, &e)) != FB_OK) {
			char *d = fb_xasprintf("The request is refused: %s.", e.msg);

			r = refuse(reply, reqid, r, 400, "saml_request_invalid", title, d, err);
			free(d);
			goto out;
		}
		if ((sa = fb_saml_query_param(query, "SigAlg", &len, NULL)) != NULL)
			in->sig_alg = fb_saml_url_decode(sa, len, 0);
		in->has_sig = fb_saml_query_param(query, "Signature", &len, NULL) != NULL;
	} else {
		if (saml_request == NULL) {
			r = refuse(reply, reqid, FB_ERR_INVALID, 400, "saml_request_invalid", title,
			    "The form has no SAMLRequest field.", err);
			goto out;
		}
		if ((r = fb_saml_message_decode(saml_request, 0, &in->xml, &in->len, &e)) != FB_OK) {
			char *d = fb_xasprintf("The SAMLRequest cannot be decoded: %s.", e.msg);

			r = refuse(reply, reqid, r, r == FB_ERR_LIMIT ? 413 : 400,
			    "saml_request_invalid", title, d, err);
			free(d);
			goto out;
		}
		in->relay_state = relay_state != NULL ? fb_xstrdup(relay_state) : NULL;
		in->msg = fb_xstrdup(saml_request);
	}
	/* The same RelayState rule as IdP-initiated links (fb_saml_relay_state_check). */
	if ((r = fb_saml_relay_state_check(in->relay_state, &e)) != FB_OK) {
		char *d = fb_xasprintf("The request is refused: %s.", e.msg);

		r = refuse(reply, reqid, r, 400, "saml_request_invalid", title, d, err);
		free(d);
		goto out;
	}
	/* SECURITY: decoded and checked (no DOCTYPE, bounded) before lasso parses anything. */
	if ((r = fb_saml_xml_parse(in->xml, in->len, &in->doc, &e)) != FB_OK) {
		char *d = fb_xasprintf("The SAMLRequest is not usable XML: %s.", e.msg);

		r = refuse(reply, reqid, r, 400, "saml_request_invalid", title, d, err);
		free(d);
		goto out;
	}
	root = xmlDocGetRootElement(in->doc);
	if (!fb_saml_xml_is(root, FB_SAML_NS_PROTOCOL, root_name)) {
		char *d = fb_xasprintf("The message is a %s, not a samlp:%s.", (const char *)root->name,
		    root_name);

		r = refuse(reply, reqid, FB_ERR_PROTOCOL, 400, "saml_request_invalid", title, d, err);
		free(d);
		goto out;
	}
	if (!shape_ok(root, &why)) {
		char *d = fb_xasprintf("The %s does not follow the SAML schema: %s.", root_name, why);

		r = refuse(reply, reqid, FB_ERR_PROTOCOL, 400, "saml_request_invalid", title, d, err);
		free(d);
		goto out;
	}
	in->id = fb_saml_xml_prop(root, "ID");
	in->destination = fb_saml_xml_prop(root, "Destination");
	in->issuer = child_text(root, FB_SAML_NS_ASSERTION, "Issuer");
	if (in->id == NULL || in->id[0] == '\0' || strlen(in->id) > ID_MAX) {
		r = refuse(reply, reqid, FB_ERR_PROTOCOL, 400, "saml_request_invalid", title,
		    "The request has no ID (or one longer than 200 characters).", err);
		goto out;
	}
	if (in->issuer == NULL) {
		r = refuse(reply, reqid, FB_ERR_PROTOCOL, 400, "saml_request_invalid", title,
		    "The request names no Issuer, so its service provider is unknown.", err);
		goto out;
	}
	if ((in->sp = fb_saml_idp_sp_by_entity_id(idp, in->issuer)) == NULL) {
		char *d = fb_xasprintf("The service provider '%.200s' is not known here.", in->issuer);

		r = refuse(reply, reqid, FB_ERR_NOTFOUND, 404, "saml_sp_unknown", title, d, err);
		free(d);
		goto out;
	}
	if ((r = fb_saml_sp_lasso_add(in->sp, &e)) != FB_OK) {
		fb_log(FB_LOG_ERROR, "%s", e.msg);
		r = refuse(reply, reqid, r, 500, "saml_sp_unusable", title,
		    "This service provider's metadata cannot be used; the log says why.", err);
		goto out;
	}
	if (binding == FB_SAML_REDIRECT) {
		/*
		 * The query signature is checked here, over the parameters as sent;
		 * lasso gets the query without it (its own check leaks memory in
		 * lasso 2.8.1).
		 */
		in->qsig = fb_saml_query_verify(query, "SAMLRequest", in->sp->verify_keys,
		    in->sp->nverify_keys, 1, &in->msg, &e);
		if (in->msg == NULL) {
			r = refuse(reply, reqid, FB_ERR_INVALID, 400, "saml_request_invalid", title,
			    "The query repeats a parameter.", err);
			goto out;
		}
		if (in->qsig != FB_OK && in->qsig != FB_ERR_NOTFOUND)
			fb_log(FB_LOG_DEBUG, "saml: %s: %s", in->sp->conf->name, e.msg);
	}
	/* SHA-1: refused unless this SP is allowed it. */
	{
		int present = 0, sha1 = 0;

		if (binding == FB_SAML_POST)
			xml_signature_algs(root, &present, &sha1);
		else
			sha1 = in->has_sig && (in->sig_alg == NULL || is_sha1(in->sig_alg));
		in->has_sig |= present;
		if (sha1 && !in->sp->conf->accept_sha1) {
			r = refuse(reply, reqid, FB_ERR_SIGNATURE, 403, "saml_signature_invalid", title,
			    "The request is signed with SHA-1, which is refused (accept_sha1 is "
			    "false for this service provider).",
			    err);
			goto out;
		}
	}
	r = FB_OK;
out:
	free(title);
	return r;
}

/* lasso's verdict on the signature, with the SP's policy applied. */
enum fb_status
fb_saml_incoming_signature(struct fb_saml_incoming *in, int lasso_status, const char *reqid,
    struct fb_saml_reply *reply, struct fb_err *err)
{
	const struct fb_saml_sp *sp = in->sp;
	int missing;

	/* Redirect: our own verdict (fb_saml_query_verify); POST: lasso's on the enveloped one. */
	if (in->redirect)
		lasso_status = in->qsig == FB_OK	     ? 0
			       : in->qsig == FB_ERR_NOTFOUND ? LASSO_DS_ERROR_SIGNATURE_NOT_FOUND
							     : LASSO_DS_ERROR_INVALID_SIGNATURE;
	missing = lasso_status == LASSO_DS_ERROR_SIGNATURE_NOT_FOUND ||
	          lasso_status == LASSO_PROFILE_ERROR_CANNOT_VERIFY_SIGNATURE || !in->has_sig;
	if (lasso_status == 0 && in->has_sig)
		return FB_OK;
	if (missing && !in->has_sig) {
		/* SECURITY: an unsigned request from an SP that must sign is refused. */
		if (sp->require_signed)
			return refuse(reply, reqid, FB_ERR_SIGNATURE, 403, "saml_signature_missing",
			    "Unsigned request",
			    "The service provider must sign its requests, and this one is not signed.",
			    err);
		return FB_OK;
	}
	if (!sp->has_signing_cert && !sp->require_signed) {
		/* Nothing to verify it with, and signing is optional: treated as unsigned. */
		fb_log(FB_LOG_DEBUG, "saml: %s signs requests but has no certificate here",
		    sp->conf->name);
		return FB_OK;
	}
	/* SECURITY: a signature that is present must verify, required or not. */
	{
		char *d = fb_xasprintf("The request's signature does not verify with the service "
		                       "provider's certificate (lasso: %s).",
		    lasso_strerror(lasso_status));
		enum fb_status r = refuse(reply, reqid, FB_ERR_SIGNATURE, 403,
		    "saml_signature_invalid", "Bad signature", d, err);

		free(d);
		return r;
	}
}

/* Checks IssueInstant is recent (the replay cache remembers IDs only that long). */
enum fb_status
fb_saml_incoming_fresh(struct fb_saml_idp *idp, struct fb_saml_incoming *in, const char *reqid,
    struct fb_saml_reply *reply, struct fb_err *err)
{
	char *ii = fb_saml_xml_prop(xmlDocGetRootElement(in->doc), "IssueInstant");
	GDateTime *dt = ii != NULL ? g_date_time_new_from_iso8601(ii, NULL) : NULL;
	int64_t now = fb_time_now(), t;
	enum fb_status r = FB_OK;

	if (dt == NULL) {
		r = refuse(reply, reqid, FB_ERR_PROTOCOL, 400, "saml_request_invalid", "Bad request",
		    "The request has no valid IssueInstant.", err);
		goto out;
	}
	t = g_date_time_to_unix(dt);
	g_date_time_unref(dt);
	if (t < now - idp->conf->saml_request_lifetime || t > now + idp->conf->saml_clock_skew) {
		r = refuse(reply, reqid, FB_ERR_EXPIRED, 400, "saml_request_expired", "Expired request",
		    "The request was issued too long ago (or in the future): start again from the "
		    "service provider.",
		    err);
		goto out;
	}
out:
	free(ii);
	return r;
}

/* Refuses an ID seen before from the same SP (store replay cache). */
enum fb_status
fb_saml_incoming_replay(struct fb_saml_idp *idp, struct fb_store *store,
    struct fb_saml_incoming *in, const char *reqid, struct fb_saml_reply *reply,
    struct fb_err *err)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char hex[33], *key;
	struct fb_err e = {0};
	enum fb_status r;

	EVP_Digest(in->sp->md.entity_id, strlen(in->sp->md.entity_id), md, &mdlen, EVP_sha256(),
	    NULL);
	fb_hex_encode(md, 16, hex);
	key = fb_xasprintf("%s:%s", hex, in->id);
	r = fb_store_kv_add(store, REPLAY_NS, key, "1", 1,
	    fb_time_now() + idp->conf->saml_request_lifetime + idp->conf->saml_clock_skew, &e);
	free(key);
	if (r == FB_ERR_REPLAY)
		return refuse(reply, reqid, FB_ERR_REPLAY, 409, "saml_request_replayed",
		    "Request used already",
		    "This request was used already. Start again from the service provider.", err);
	if (r != FB_OK) {
		fb_log_err(FB_LOG_ERROR, reqid, &e);
		fb_saml_reply_page(reply, 503, "saml_store_unavailable", "Sign-in unavailable",
		    "The sign-in service cannot record the request right now. Try again later.");
		return fb_err_set(err, r, "saml: replay cache: %s", e.msg);
	}
	return FB_OK;
}

enum fb_status
fb_saml_request_parse(struct fb_saml_idp *idp, struct fb_store *store,
    enum fb_saml_binding binding, const char *query, const char *saml_request,
    const char *relay_state, const char *reqid, struct fb_saml_request **out,
    struct fb_saml_reply *reply, struct fb_err *err)
{
	struct fb_saml_incoming in;
	LassoLogin *login = NULL;
	LassoSamlp2AuthnRequest *ar;
	const struct fb_saml_sp *sp;
	const struct fb_saml_endpoint *acs = NULL;
	struct fb_saml_request *req = NULL;
	enum fb_conf_nameid_format fmt;
	enum fb_status r;
	int rc;

	*out = NULL;
	if ((r = fb_saml_incoming_decode(idp, binding, query, saml_request, relay_state,
	         "AuthnRequest", reqid, &in, reply, err)) != FB_OK)
		goto out;
	sp = in.sp;
	/* SAML2 Core 3.2.1: a Destination, when present, must be where it arrived. */
	if (in.destination != NULL && strcmp(in.destination, idp->sso_url) != 0) {
		r = refuse(reply, reqid, FB_ERR_PROTOCOL, 400, "saml_request_invalid", "Bad request",
		    "The request's Destination is not this identity provider's sign-in URL.", err);
		goto out;
	}
	login = lasso_login_new(idp->server);
	lasso_profile_set_signature_verify_hint(LASSO_PROFILE(login),
	    sp->require_signed ? LASSO_PROFILE_SIGNATURE_VERIFY_HINT_FORCE
	                       : LASSO_PROFILE_SIGNATURE_VERIFY_HINT_MAYBE);
	rc = lasso_login_process_authn_request_msg(login, in.msg);
	if (!LASSO_IS_SAMLP2_AUTHN_REQUEST(LASSO_PROFILE(login)->request)) {
		char *d = fb_xasprintf("lasso cannot read the request: %s.", lasso_strerror(rc));

		r = refuse(reply, reqid, FB_ERR_INVALID, 400, "saml_request_invalid", "Bad request", d,
		    err);
		free(d);
		goto out;
	}
	if ((r = fb_saml_incoming_signature(&in, LASSO_PROFILE(login)->signature_status, reqid,
	         reply, err)) != FB_OK)
		goto out;
	ar = LASSO_SAMLP2_AUTHN_REQUEST(LASSO_PROFILE(login)->request);
	/* The ACS: named by URL or index, or the default; it must be declared, HTTP-POST. */
	if (ar->AssertionConsumerServiceURL != NULL) {
		for (size_t i = 0; i < sp->md.nacs && acs == NULL; i++)
			if (strcmp(sp->md.acs[i].url, ar->AssertionConsumerServiceURL) == 0 &&
			    fb_saml_is_post(sp->md.acs[i].binding))
				acs = &sp->md.acs[i];
	} else if (ar->AssertionConsumerServiceIndex >= 0) {
		for (size_t i = 0; i < sp->md.nacs && acs == NULL; i++)
			if (sp->md.acs[i].index == ar->AssertionConsumerServiceIndex &&
			    fb_saml_is_post(sp->md.acs[i].binding))
				acs = &sp->md.acs[i];
	} else {
		acs = sp->default_acs;
	}
	if (acs == NULL) {
		/* SECURITY: never post an assertion to a URL the SP's metadata does not declare. */
		r = refuse(reply, reqid, FB_ERR_PROTOCOL, 400, "saml_acs_undeclared",
		    "Bad sign-in request",
		    "The request asks for the response at an address (AssertionConsumerService) that "
		    "this service provider does not declare for HTTP-POST.",
		    err);
		goto out;
	}
	if ((r = fb_saml_incoming_fresh(idp, &in, reqid, reply, err)) != FB_OK ||
	    (r = fb_saml_incoming_replay(idp, store, &in, reqid, reply, err)) != FB_OK)
		goto out;
	if (ar->ProtocolBinding != NULL && !fb_saml_is_post(ar->ProtocolBinding)) {
		fb_saml_reply_page(reply, 400, "saml_request_unsupported", "Unsupported request",
		    "The service provider asked for the response over %s; only HTTP-POST is "
		    "supported.",
		    ar->ProtocolBinding);
		fb_saml_error_response(idp, sp, acs->url, in.id, in.relay_state,
		    FB_SAML_STATUS_REQUESTER, FB_SAML_STATUS_UNSUPPORTED_BINDING, NULL, reply);
		fb_audit_fields(reqid, reply->event,
		    FB_LOG_FIELDS(FB_LOG_STR("sp", sp->conf->name),
			FB_LOG_STR("binding", ar->ProtocolBinding)),
		    "unsupported ProtocolBinding");
		r = fb_err_set(err, FB_ERR_PROTOCOL, "saml: unsupported ProtocolBinding");
		goto out;
	}
	if (fb_saml_nameid_format_pick(sp,
	        ar->NameIDPolicy != NULL ? ar->NameIDPolicy->Format : NULL, &fmt) != FB_OK) {
		if (fb_saml_nameid_pinned(sp))
			fb_saml_reply_page(reply, 400, "saml_request_unsupported",
			    "Unsupported request",
			    "The service provider asked for a NameID of format %s; it is "
			    "configured for %s (%s).",
			    ar->NameIDPolicy->Format, fb_saml_nameid_uri(fmt),
			    sp->conf->nameid_format_set ? "nameid.format" : "its profile");
		else
			fb_saml_reply_page(reply, 400, "saml_request_unsupported",
			    "Unsupported request",
			    "The service provider asked for a NameID of format %s; this identity "
			    "provider issues persistent, transient, emailAddress and unspecified "
			    "ones.",
			    ar->NameIDPolicy->Format);
		fb_saml_error_response(idp, sp, acs->url, in.id, in.relay_state,
		    FB_SAML_STATUS_REQUESTER, FB_SAML_STATUS_INVALID_NAMEID_POLICY, NULL, reply);
		/* The page's reason (both formats, the key that pins one) for the operator. */
		fb_audit_fields(reqid, reply->event,
		    FB_LOG_FIELDS(FB_LOG_STR("sp", sp->conf->name),
			FB_LOG_STR("nameid_format", ar->NameIDPolicy->Format)),
		    "%s", reply->detail);
		r = fb_err_set(err, FB_ERR_PROTOCOL, "saml: unsupported NameIDPolicy");
		goto out;
	}
	req = fb_xcalloc(1, sizeof(*req));
	req->sp = sp;
	req->id = fb_xstrdup(in.id);
	req->acs = fb_xstrdup(acs->url);
	req->relay_state = in.relay_state != NULL ? fb_xstrdup(in.relay_state) : NULL;
	req->force_authn = ar->ForceAuthn != 0;
	req->is_passive = ar->IsPassive != 0;
	req->nameid_format = fmt;
	/*
	 * SAML2 Core 3.4.1.1: AllowCreate (false when absent) holds back a new
	 * identifier; applied when persistent is asked for by name, not to
	 * requests that leave the format to fedbroker (whose choice it is).
	 */
	req->allow_create = ar->NameIDPolicy == NULL || ar->NameIDPolicy->AllowCreate ||
	                    ar->NameIDPolicy->Format == NULL ||
	                    strcmp(ar->NameIDPolicy->Format, FB_SAML_NAMEID_PERSISTENT) != 0;
	req->received = fb_time_now();
	*out = req;
	r = FB_OK;
out:
	if (login != NULL)
		lasso_login_destroy(login);
	fb_saml_incoming_cleanup(&in);
	return r;
}
