/* SPDX-License-Identifier: Apache-2.0 */
/* saml/slo.c: SP-initiated single logout: the LogoutRequest checked, a signed LogoutResponse back. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libxml/tree.h>
#include <lasso/lasso.h>
#include <lasso/xml/saml-2.0/samlp2_authn_request.h>
#include <lasso/xml/saml-2.0/samlp2_logout_request.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "core/core.h"
#include "saml/saml.h"
#include "saml/internal.h"

/* Store namespace: what each browser session was asserted as, per SP (key: its SessionIndex). */
#define SLO_NS FB_SAML_SLO_NS

char *
fb_saml_session_index(const char *sid, const char *sp_entity_id)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char hex[65];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, "fedbroker/session-index/", 24);
	EVP_DigestUpdate(ctx, sid, strlen(sid) + 1);
	EVP_DigestUpdate(ctx, sp_entity_id, strlen(sp_entity_id));
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	fb_hex_encode(md, 20, hex);
	return fb_xasprintf("_%s", hex);
}

void
fb_saml_signon_want(const struct fb_saml_sp *sp, const char *sid, struct fb_store_signon_want *want,
    char **key)
{
	*key = fb_saml_session_index(sid, sp->md.entity_id);
	want->sp = sp->md.entity_id;
	want->ns = SLO_NS;
	want->key = *key;
}

/* 1 when the store holds exactly text under key already (known: what was read of it). */
static int
same_record(struct fb_store *store, const char *key, const char *text,
    const struct fb_store_signon *known)
{
	unsigned char *v = NULL;
	size_t len = 0;
	struct fb_err err = {0};
	int same;

	if (known != NULL)
		return known->kv != NULL && known->kvlen == strlen(text) &&
		       memcmp(known->kv, text, known->kvlen) == 0;
	if (fb_store_kv_get(store, SLO_NS, key, &v, &len, &err) != FB_OK)
		return 0;
	same = len == strlen(text) && memcmp(v, text, len) == 0;
	free(v);
	return same;
}

enum fb_status
fb_saml_slo_remember(struct fb_store *store, const struct fb_saml_sp *sp,
    const struct fb_saml_subject *who, const char *nameid, const char *nameid_format,
    const struct fb_store_signon *known, struct fb_err *err)
{
	int64_t now = fb_time_now();
	int64_t until = who->expires_at > now ? who->expires_at : now + 86400;
	json_t *o;
	char *key, *text;
	enum fb_status r;

	if (store == NULL || who->session_id == NULL || nameid == NULL)
		return FB_OK;
	key = fb_saml_session_index(who->session_id, sp->md.entity_id);
	o = json_pack("{s:s, s:s, s:s?}", "sp", sp->conf->name, "nameid", nameid, "format",
	    nameid_format);
	if (o == NULL || (text = json_dumps(o, JSON_COMPACT)) == NULL) {
		json_decref(o);
		free(key);
		return fb_err_set(err, FB_ERR_INVALID, "the NameID is not UTF-8 text");
	}
	/*
	 * Each SAML response of a session to an SP records the same thing: read
	 * before writing, so the hot path takes a write transaction only for a
	 * session's first assertion to an SP (or a changed NameID). With no
	 * session end known the expiry slides, so that case always writes.
	 */
	if (who->expires_at > now && same_record(store, key, text, known))
		r = FB_OK;
	else
		r = fb_store_kv_put(store, SLO_NS, key, text, strlen(text), until, err);
	free(text);
	json_decref(o);
	free(key);
	return r;
}

/*
 * SECURITY (issue 10, finding 2): 1 when the LogoutRequest root names what
 * this browser session was asserted as to in->sp: the NameID (value, and
 * Format and qualifiers when given) of the last assertion, and one of its
 * SessionIndex elements is that assertion's. An unsigned request must
 * name the SessionIndex (the one secret it can carry), else any site
 * could end a session by naming a guessable NameID. *why says what failed.
 */
static int
logout_matches(struct fb_saml_idp *idp, struct fb_store *store,
    const struct fb_saml_incoming *in, const char *session_id, int verified, const char **why)
{
	xmlNodePtr root = xmlDocGetRootElement(in->doc);
	xmlNodePtr nid = fb_saml_xml_child(root, FB_SAML_NS_ASSERTION, "NameID");
	char *sidx = fb_saml_session_index(session_id, in->sp->md.entity_id);
	char *value = NULL, *format = NULL, *nq = NULL, *spnq = NULL;
	unsigned char *rec = NULL;
	size_t reclen = 0;
	json_t *o = NULL;
	const char *want, *want_format;
	struct fb_err e = {0};
	int ok = 0, nsidx = 0, sidx_ok = 0;
	xmlChar *t;

	for (xmlNodePtr c = root->children; c != NULL; c = c->next)
		if (fb_saml_xml_is(c, FB_SAML_NS_PROTOCOL, "SessionIndex")) {
			nsidx++;
			t = xmlNodeGetContent(c);
			sidx_ok |= t != NULL && strcmp((const char *)t, sidx) == 0;
			xmlFree(t);
		}
	if (fb_store_kv_get(store, SLO_NS, sidx, &rec, &reclen, &e) != FB_OK ||
	    (o = json_loadb((const char *)rec, reclen, 0, NULL)) == NULL) {
		*why = "this browser's session has not signed in to this service provider";
		goto out;
	}
	if (nsidx > 0 && !sidx_ok) {
		*why = "its SessionIndex is not that of this browser's session";
		goto out;
	}
	if (nsidx == 0 && !verified) {
		*why = "it is unsigned and names no SessionIndex";
		goto out;
	}
	t = nid != NULL ? xmlNodeGetContent(nid) : NULL;
	value = t != NULL ? fb_xstrdup((const char *)t) : NULL;
	xmlFree(t);
	format = nid != NULL ? fb_saml_xml_prop(nid, "Format") : NULL;
	nq = nid != NULL ? fb_saml_xml_prop(nid, "NameQualifier") : NULL;
	spnq = nid != NULL ? fb_saml_xml_prop(nid, "SPNameQualifier") : NULL;
	want = json_string_value(json_object_get(o, "nameid"));
	want_format = json_string_value(json_object_get(o, "format"));
	if (value == NULL || want == NULL || strcmp(value, want) != 0 ||
	    (format != NULL && (want_format == NULL || strcmp(format, want_format) != 0)) ||
	    (nq != NULL && strcmp(nq, idp->entity_id) != 0) ||
	    (spnq != NULL && strcmp(spnq, in->sp->md.entity_id) != 0)) {
		*why = "its NameID is not the one this browser's session was given";
		goto out;
	}
	ok = 1;
out:
	json_decref(o);
	free(rec);
	free(value);
	free(format);
	free(nq);
	free(spnq);
	free(sidx);
	return ok;
}

/* Raw DEFLATE of n bytes for the Redirect binding (new, *outlen). */
static unsigned char *
deflate_raw(const char *in, size_t n, size_t *outlen)
{
	z_stream z;
	uLong cap = compressBound((uLong)n) + 64;
	unsigned char *out = fb_xmalloc(cap);

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK) {
		free(out);
		return NULL;
	}
	z.next_in = (unsigned char *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		free(out);
		return NULL;
	}
	*outlen = cap - z.avail_out;
	deflateEnd(&z);
	return out;
}

/* The LogoutResponse document (unsigned) for the request in, with status (NULL: Success). New. */
static xmlDocPtr
logout_response(struct fb_saml_idp *idp, const struct fb_saml_incoming *in, const char *dest,
    const char *status, const char *message)
{
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr resp = xmlNewNode(NULL, BAD_CAST "LogoutResponse"), st, code;
	xmlNsPtr samlp = xmlNewNs(resp, BAD_CAST FB_SAML_NS_PROTOCOL, BAD_CAST "samlp");
	xmlNsPtr saml = xmlNewNs(resp, BAD_CAST FB_SAML_NS_ASSERTION, BAD_CAST "saml");
	char *id = fb_saml_id_new(), now[32];

	fb_saml_time(fb_time_now(), now, sizeof(now));
	xmlSetNs(resp, samlp);
	xmlDocSetRootElement(doc, resp);
	xmlSetProp(resp, BAD_CAST "ID", BAD_CAST id);
	xmlSetProp(resp, BAD_CAST "Version", BAD_CAST "2.0");
	xmlSetProp(resp, BAD_CAST "IssueInstant", BAD_CAST now);
	xmlSetProp(resp, BAD_CAST "Destination", BAD_CAST dest);
	xmlSetProp(resp, BAD_CAST "InResponseTo", BAD_CAST in->id);
	xmlNewTextChild(resp, saml, BAD_CAST "Issuer", BAD_CAST idp->entity_id);
	st = xmlNewChild(resp, samlp, BAD_CAST "Status", NULL);
	code = xmlNewChild(st, samlp, BAD_CAST "StatusCode", NULL);
	xmlSetProp(code, BAD_CAST "Value",
	    BAD_CAST(status != NULL ? status : FB_SAML_STATUS_SUCCESS));
	if (message != NULL)
		xmlNewTextChild(st, samlp, BAD_CAST "StatusMessage", BAD_CAST message);
	free(id);
	return doc;
}

/* The Redirect-binding URL of a LogoutResponse: deflated, signed query (Bindings 3.4.4.1). */
static enum fb_status
redirect_url(const struct fb_saml_sp *sp, xmlDocPtr doc, const char *endpoint,
    const char *relay_state, char **out, struct fb_err *err)
{
	enum fb_conf_saml_alg alg = sp->conf->signature_algorithm;
	size_t xlen = 0, dlen = 0;
	char *xml = fb_saml_doc_dump(doc, &xlen), *b64 = NULL, *sig = NULL;
	unsigned char *def = deflate_raw(xml, xlen, &dlen);
	struct fb_buf q;
	enum fb_status r = FB_ERR_INTERNAL;

	*out = NULL;
	fb_buf_init(&q, 16 * FB_SAML_MESSAGE_MAX);
	if (def == NULL) {
		fb_err_set(err, r, "deflate failed");
		goto out;
	}
	b64 = fb_saml_b64(def, dlen);
	fb_buf_addf(&q, NULL, "SAMLResponse=");
	fb_saml_url_encode(&q, b64, NULL);
	if (relay_state != NULL) {
		fb_buf_addf(&q, NULL, "&RelayState=");
		fb_saml_url_encode(&q, relay_state, NULL);
	}
	fb_buf_addf(&q, NULL, "&SigAlg=");
	fb_saml_url_encode(&q, fb_saml_alg_uri(alg), NULL);
	if ((r = fb_saml_query_sign(sp->sign_key, alg, q.data, &sig, err)) != FB_OK)
		goto out;
	fb_buf_addf(&q, NULL, "&Signature=");
	fb_saml_url_encode(&q, sig, NULL);
	*out = fb_xasprintf("%s%c%s", endpoint, strchr(endpoint, '?') != NULL ? '&' : '?', q.data);
	r = FB_OK;
out:
	fb_buf_cleanup(&q);
	free(sig);
	free(b64);
	free(def);
	free(xml);
	return r;
}

enum fb_status
fb_saml_logout(struct fb_saml_idp *idp, struct fb_store *store, enum fb_saml_binding binding,
    const char *query, const char *saml_request, const char *relay_state, const char *session_id,
    const char *reqid, struct fb_saml_reply *reply, struct fb_err *err)
{
	struct fb_saml_incoming in;
	const char *status = NULL, *why = NULL;
	int verified;
	const struct fb_saml_endpoint *ep = NULL;
	LassoLogout *logout = NULL;
	xmlDocPtr doc = NULL;
	const char *want = binding == FB_SAML_POST ? FB_SAML_BINDING_POST_URI
	                                           : FB_SAML_BINDING_REDIRECT_URI;
	enum fb_status r;
	int rc;

	if ((r = fb_saml_incoming_decode(idp, binding, query, saml_request, relay_state,
	         "LogoutRequest", reqid, &in, reply, err)) != FB_OK)
		goto out;
	if (in.destination != NULL && strcmp(in.destination, idp->slo_url) != 0) {
		fb_saml_reply_page(reply, 400, "saml_request_invalid", "Bad sign-out request",
		    "The request's Destination is not this identity provider's sign-out URL.");
		fb_audit_fields(reqid, reply->event,
		    FB_LOG_FIELDS(FB_LOG_STR("sp", in.sp->conf->name),
			FB_LOG_STR("destination", in.destination)),
		    "LogoutRequest Destination mismatch");
		r = fb_err_set(err, FB_ERR_PROTOCOL, "saml: LogoutRequest Destination mismatch");
		goto out;
	}
	logout = lasso_logout_new(idp->server);
	lasso_profile_set_signature_verify_hint(LASSO_PROFILE(logout),
	    in.sp->require_signed ? LASSO_PROFILE_SIGNATURE_VERIFY_HINT_FORCE
	                          : LASSO_PROFILE_SIGNATURE_VERIFY_HINT_MAYBE);
	rc = lasso_logout_process_request_msg(logout, in.msg);
	if (!LASSO_IS_SAMLP2_LOGOUT_REQUEST(LASSO_PROFILE(logout)->request)) {
		fb_saml_reply_page(reply, 400, "saml_request_invalid", "Bad sign-out request",
		    "lasso cannot read the request: %s.", lasso_strerror(rc));
		fb_audit_fields(reqid, reply->event, FB_LOG_FIELDS(FB_LOG_STR("sp", in.sp->conf->name)),
		    "%s", reply->detail);
		r = fb_err_set(err, FB_ERR_INVALID, "saml: LogoutRequest unreadable");
		goto out;
	}
	if ((r = fb_saml_incoming_signature(&in, LASSO_PROFILE(logout)->signature_status, reqid,
	         reply, err)) != FB_OK ||
	    (r = fb_saml_incoming_fresh(idp, &in, reqid, reply, err)) != FB_OK ||
	    (r = fb_saml_incoming_replay(idp, store, &in, reqid, reply, err)) != FB_OK)
		goto out;
	/* Verified by a certificate of the SP: our query check (Redirect) or lasso's (POST). */
	verified = in.has_sig && in.sp->has_signing_cert &&
	           (in.redirect ? in.qsig == FB_OK
	                        : LASSO_PROFILE(logout)->signature_status == 0);
	/* SECURITY: only a request naming this browser's session to this SP may end it. */
	if (session_id != NULL && !logout_matches(idp, store, &in, session_id, verified, &why))
		status = FB_SAML_STATUS_REQUESTER;
	/* The response goes back over the binding the request used when the SP declares it. */
	for (size_t i = 0; i < in.sp->md.nslo && ep == NULL; i++)
		if (in.sp->md.slo[i].binding != NULL && strcmp(in.sp->md.slo[i].binding, want) == 0)
			ep = &in.sp->md.slo[i];
	for (size_t i = 0; i < in.sp->md.nslo && ep == NULL; i++)
		if (in.sp->md.slo[i].binding != NULL &&
		    (fb_saml_is_post(in.sp->md.slo[i].binding) ||
		        strcmp(in.sp->md.slo[i].binding, FB_SAML_BINDING_REDIRECT_URI) == 0))
			ep = &in.sp->md.slo[i];
	fb_saml_reply_cleanup(reply);
	if (status != NULL && ep == NULL) {
		fb_saml_reply_page(reply, 403, "saml_logout_refused", "Sign-out refused",
		    "The sign-out request from %s does not name your session, which stays open: %s.",
		    in.sp->conf->display_name, why);
		fb_audit(reqid, reply->event, "sp=%s: %s", in.sp->conf->name, why);
		r = fb_err_set(err, FB_ERR_DENIED, "saml: LogoutRequest refused: %s", why);
		goto out;
	}
	if (ep == NULL) {
		/* Nowhere to send a LogoutResponse: the person sees a page. */
		fb_saml_reply_page(reply, 200, NULL, "Signed out",
		    "You are signed out of %s. You can close this window.",
		    in.sp->conf->display_name);
		r = FB_OK;
		goto out;
	}
	{
		const char *dest = ep->response_url != NULL ? ep->response_url : ep->url;

		doc = logout_response(idp, &in, dest, status,
		    status != NULL ? "The request does not name this session." : NULL);
		if (fb_saml_is_post(ep->binding)) {
			size_t len = 0;
			char *xml;

			if ((r = fb_saml_sign_node(xmlDocGetRootElement(doc), in.sp->sign_key,
			         in.sp->conf->signature_algorithm, 1, err)) != FB_OK)
				goto fail;
			xml = fb_saml_doc_dump(doc, &len);
			reply->post_url = fb_xstrdup(dest);
			reply->post_field = "SAMLResponse";
			reply->post_value = fb_saml_b64(xml, len);
			reply->relay_state = in.relay_state != NULL ? fb_xstrdup(in.relay_state) : NULL;
			free(xml);
		} else if ((r = redirect_url(in.sp, doc, dest, in.relay_state, &reply->redirect_url,
		                err)) != FB_OK) {
			goto fail;
		}
		reply->http_status = 200;
	}
	if (status != NULL) {
		/* The SP hears no (Requester); the browser's session is left alone. */
		reply->event = "saml_logout_refused";
		fb_audit(reqid, reply->event, "sp=%s: %s", in.sp->conf->name, why);
		r = fb_err_set(err, FB_ERR_DENIED, "saml: LogoutRequest refused: %s", why);
		goto out;
	}
	fb_log(FB_LOG_INFO, "saml: logout requested by %s", in.sp->conf->name);
	r = FB_OK;
	goto out;
fail:
	fb_saml_reply_page(reply, 500, "saml_internal", "Sign-out failed",
	    "The sign-out response could not be built. The administrator will find the reason in "
	    "the log.");
out:
	if (doc != NULL)
		xmlFreeDoc(doc);
	if (logout != NULL)
		lasso_logout_destroy(logout);
	fb_saml_incoming_cleanup(&in);
	return r;
}
