/* SPDX-License-Identifier: Apache-2.0 */
/* saml/idp.c: single sign-on: attribute values from the mappings, the NameID, the Response signed with xmlsec. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "core/core.h"
#include "conf/conf.h"
#include "ident/ident.h"
#include "map/map.h"
#include "store/store.h"
#include "saml/saml.h"
#include "saml/internal.h"

static const char *const nameid_uris[] = {FB_SAML_NAMEID_PERSISTENT, FB_SAML_NAMEID_TRANSIENT,
    FB_SAML_NAMEID_EMAIL, FB_SAML_NAMEID_UNSPECIFIED};
static const char *const nameid_sources[] = {"username", "email", "uid"};
static const char *const attrname_uris[] = {FB_SAML_ATTRNAME_URI, FB_SAML_ATTRNAME_BASIC,
    FB_SAML_ATTRNAME_UNSPECIFIED};

const char *
fb_saml_nameid_uri(enum fb_conf_nameid_format f)
{
	return nameid_uris[f];
}

/* The format whose URI is uri (*out), or 0 when fedbroker issues no such format. */
static int
nameid_format_of(const char *uri, enum fb_conf_nameid_format *out)
{
	for (size_t i = 0; i < sizeof(nameid_uris) / sizeof(nameid_uris[0]); i++)
		if (strcmp(uri, nameid_uris[i]) == 0) {
			*out = (enum fb_conf_nameid_format)i;
			return 1;
		}
	return 0;
}

/*
 * The configuration pins the format when nameid.format is given, or when a
 * profile (aws, aws-identity-center) dictates it.
 */
int
fb_saml_nameid_pinned(const struct fb_saml_sp *sp)
{
	return sp->conf->nameid_format_set || sp->conf->profile != FB_CONF_SAML_GENERIC;
}

enum fb_status
fb_saml_nameid_format_pick(const struct fb_saml_sp *sp, const char *requested,
    enum fb_conf_nameid_format *out)
{
	const struct fb_conf_saml_sp *c = sp->conf;
	enum fb_conf_nameid_format f;

	*out = c->nameid_format;
	/* SAML2 Core 8.3.1: unspecified leaves the choice to the IdP. */
	if (requested != NULL && strcmp(requested, FB_SAML_NAMEID_UNSPECIFIED) == 0)
		requested = NULL;
	if (requested != NULL) {
		if (!nameid_format_of(requested, &f) ||
		    (fb_saml_nameid_pinned(sp) && f != c->nameid_format))
			return FB_ERR_PROTOCOL;
		*out = f;
		return FB_OK;
	}
	if (fb_saml_nameid_pinned(sp) || sp->md.nnameid_formats == 0)
		return FB_OK;
	/*
	 * No format asked for: the configured default when the SP's metadata
	 * lists it (or unspecified), else the first listed format fedbroker
	 * issues (mod_auth_mellon's generated metadata lists only transient).
	 */
	for (size_t i = 0; i < sp->md.nnameid_formats; i++)
		if (nameid_format_of(sp->md.nameid_formats[i], &f) &&
		    (f == c->nameid_format || f == FB_CONF_NAMEID_UNSPECIFIED))
			return FB_OK;
	for (size_t i = 0; i < sp->md.nnameid_formats; i++)
		if (nameid_format_of(sp->md.nameid_formats[i], &f)) {
			*out = f;
			break;
		}
	return FB_OK;
}

int
fb_saml_is_post(const char *binding)
{
	return binding != NULL && strcmp(binding, FB_SAML_BINDING_POST_URI) == 0;
}

void
fb_saml_reply_page(struct fb_saml_reply *r, int status, const char *event, const char *title,
    const char *fmt, ...)
{
	va_list ap;

	fb_saml_reply_cleanup(r);
	r->http_status = status;
	r->event = event;
	r->title = fb_xstrdup(title);
	va_start(ap, fmt);
	r->detail = fb_xvasprintf(fmt, ap);
	va_end(ap);
}

/* ---- what a user gets at an SP ------------------------------------------------------ */

/* Everything computed before a response is built (also what `fedbroker explain` prints). */
struct prep {
	json_t *user;	    /* the mapping input's user object */
	json_t *attrs;	    /* {name: [values]} of the attributes sent, in configuration order */
	json_t *report;	    /* [{name, mapping, values | error, line, column}] */
	json_t *checks;	    /* [{rule, attribute, mapping, message}] of the AWS checks */
	char *nameid;
	const char *nameid_format;
	int nameid_new;
	int nameid_policy;  /* the failure is the request's NameIDPolicy (format, AllowCreate) */
	int ok;		    /* 1 when a response may be sent */
	const char *event;  /* audit event when !ok */
	char *title;	    /* page when !ok */
	char *detail;
};

static void
prep_cleanup(struct prep *p)
{
	json_decref(p->user);
	json_decref(p->attrs);
	json_decref(p->report);
	json_decref(p->checks);
	free(p->nameid);
	free(p->title);
	free(p->detail);
	memset(p, 0, sizeof(*p));
}

static void
prep_fail(struct prep *p, const char *event, const char *title, const char *fmt, ...)
    FB_PRINTF(4, 5);

static void
prep_fail(struct prep *p, const char *event, const char *title, const char *fmt, ...)
{
	va_list ap;

	if (!p->ok)
		return; /* the first failure is the one shown */
	p->ok = 0;
	p->event = event;
	p->title = fb_xstrdup(title);
	va_start(ap, fmt);
	p->detail = fb_xvasprintf(fmt, ap);
	va_end(ap);
}

/* The mapping that feeds attribute name at sp, or NULL. */
static const char *
mapping_of(const struct fb_saml_sp *sp, const char *name)
{
	for (size_t i = 0; name != NULL && i < sp->nattrs; i++)
		if (strcmp(sp->attrs[i].conf->name, name) == 0)
			return sp->attrs[i].conf->mapping;
	return NULL;
}

/*
 * The NameID of user at sp in format fmt: fills p->nameid (or fails p).
 * dry: never write to the store. allow_create 0: a persistent NameID must
 * exist already (SAML2 Core 3.4.1.1 AllowCreate="false").
 */
static void
prep_nameid(struct fb_saml_sp *sp, struct fb_store *store, const struct fb_store_user *user,
    const struct fb_map_subject *subject, enum fb_conf_nameid_format fmt, int allow_create, int dry,
    const struct fb_store_signon *known, struct prep *p)
{
	const struct fb_conf_saml_sp *c = sp->conf;
	enum fb_conf_nameid_source source = c->nameid_source;
	struct fb_err e = {0};
	enum fb_status r;
	char *candidate;
	const char *v = NULL;

	p->nameid_format = nameid_uris[fmt];
	switch (fmt) {
	case FB_CONF_NAMEID_PERSISTENT:
		/*
		 * Opaque and stable per user and SP: nothing of the username leaks to
		 * the SP. A read first: only a user's first sign-in at an SP writes.
		 */
		if (known != NULL) /* read with the rest of the sign-on's reads */
			r = known->nameid != NULL ? FB_OK : FB_ERR_NOTFOUND;
		else
			r = store != NULL ? fb_store_nameid_get(store, user->id, sp->md.entity_id,
			                        &p->nameid, &e)
			                  : FB_ERR_NOTFOUND;
		if (r == FB_OK && known != NULL)
			p->nameid = fb_xstrdup(known->nameid);
		if (r == FB_OK)
			return;
		if (!allow_create && r == FB_ERR_NOTFOUND) {
			prep_fail(p, "saml_nameid_policy", "Sign-in stopped",
			    "%s asked for your existing persistent identifier only (AllowCreate is "
			    "false), and you have none there yet. Sign in from %s again, or "
			    "ask its administrator to allow creating one.",
			    c->display_name, c->display_name);
			p->nameid_policy = 1;
			return;
		}
		candidate = fb_rand_token(24);
		if (store == NULL || dry) {
			p->nameid = candidate;
			p->nameid_new = 1;
			return;
		}
		if (fb_store_nameid_ensure(store, user->id, sp->md.entity_id, candidate, &p->nameid,
		        &e) != FB_OK) {
			fb_log_err(FB_LOG_ERROR, NULL, &e);
			prep_fail(p, "saml_nameid_failed", "Sign-in unavailable",
			    "The persistent identifier for %s could not be read or stored. Try again "
			    "later.",
			    c->display_name);
		}
		free(candidate);
		return;
	case FB_CONF_NAMEID_TRANSIENT:
		p->nameid = fb_saml_id_new();
		return;
	case FB_CONF_NAMEID_EMAIL:
		/* Asked for by the request or metadata: the account's email unless configured. */
		if (fmt != c->nameid_format && !c->nameid_source_set)
			source = FB_CONF_NAMEID_FROM_EMAIL;
		break;
	case FB_CONF_NAMEID_UNSPECIFIED:
	default:
		break;
	}
	if (sp->nameid_rule != NULL) {
		struct fb_map_diag diag = {0};
		json_t *res = NULL;

		if (fb_map_rule_eval_subject(sp->nameid_rule, subject, NULL, &res, &diag, &e) != FB_OK) {
			prep_fail(p, "saml_mapping_failed", "Sign-in stopped",
			    "The mapping '%s' that makes your identifier for %s failed: %s",
			    c->nameid_mapping, c->display_name, e.msg);
			return;
		}
		if (!json_is_string(res) || json_string_length(res) == 0) {
			prep_fail(p, "saml_mapping_failed", "Sign-in stopped",
			    "The mapping '%s' that makes your identifier for %s returned %s, not a "
			    "string",
			    c->nameid_mapping, c->display_name,
			    json_is_null(res) ? "None" : "something else");
			json_decref(res);
			return;
		}
		p->nameid = fb_xstrdup(json_string_value(res));
		json_decref(res);
	} else {
		switch (source) {
		case FB_CONF_NAMEID_FROM_EMAIL:
			v = user->email;
			break;
		case FB_CONF_NAMEID_FROM_UID:
			v = user->id;
			break;
		case FB_CONF_NAMEID_FROM_USERNAME:
		default:
			v = user->username;
			break;
		}
		if (v == NULL || v[0] == '\0') {
			prep_fail(p, "saml_nameid_missing", "Sign-in stopped",
			    "Your account has no %s, which %s needs as your identifier "
			    "(%s: %s).",
			    nameid_sources[source], c->display_name,
			    source != c->nameid_source ? "it asked for an emailAddress NameID"
			                               : "nameid.source",
			    nameid_sources[source]);
			/* A format the SP asked for and cannot have: it is told so. */
			p->nameid_policy = fmt != c->nameid_format;
			return;
		}
		p->nameid = fb_xstrdup(v);
	}
	/* SAML2 Core 8.3.2: an emailAddress NameID is an addr-spec (RFC 2822 3.4.1). */
	if (fmt == FB_CONF_NAMEID_EMAIL && c->profile != FB_CONF_SAML_AWS_IDENTITY_CENTER &&
	    !fb_conf_addr_spec_check(p->nameid)) {
		prep_fail(p, "saml_nameid_invalid", "Sign-in stopped",
		    "Rule nameid-email-addr-spec: your identifier for %s must be an email address, "
		    "but %s gives a value that is not one (%s).",
		    c->display_name, c->nameid_mapping != NULL ? "the mapping" : "nameid.source",
		    c->nameid_mapping != NULL ? c->nameid_mapping : nameid_sources[source]);
		p->nameid_policy = fmt != c->nameid_format;
	}
}

/* Evaluates every attribute mapping into p->attrs; a failure fails p (and is in p->report). */
static void
prep_attrs(struct fb_saml_sp *sp, const struct fb_map_subject *subject, struct prep *p)
{
	for (size_t i = 0; i < sp->nattrs; i++) {
		const struct fb_conf_saml_attr *ac = sp->attrs[i].conf;
		struct fb_map_diag diag = {0};
		struct fb_err e = {0};
		json_t *res = NULL, *vals = NULL, *line;
		enum fb_status r;

		line = json_pack("{s:s, s:s}", "name", ac->name, "mapping", ac->mapping);
		r = fb_map_rule_eval_subject(sp->attrs[i].rule, subject, NULL, &res, &diag, &e);
		if (r == FB_OK)
			r = fb_map_saml_values(ac->mapping, res, &vals, &e);
		if (r != FB_OK) {
			json_object_set_new(line, "error", json_string(e.msg));
			json_object_set_new(line, "line", json_integer(diag.line));
			json_object_set_new(line, "column", json_integer(diag.column));
			prep_fail(p, "saml_mapping_failed", "Sign-in stopped",
			    "The mapping '%s' for the attribute %s failed, so nothing was sent to %s: "
			    "%s",
			    ac->mapping, ac->name, sp->conf->display_name, e.msg);
		} else {
			if (vals != NULL)
				json_object_set(line, "values", vals);
			else
				json_object_set_new(line, "values", json_array());
			if (vals != NULL && json_array_size(vals) > 0)
				json_object_set(p->attrs, ac->name, vals);
		}
		json_array_append_new(p->report, line);
		json_decref(res);
		json_decref(vals);
	}
}

/* Runs the profile's checks (aws.c) on what would be sent; passed: list the rules passed too. */
static void
prep_checks(struct fb_saml_sp *sp, int passed, struct prep *p)
{
	const struct fb_conf_saml_sp *c = sp->conf;
	json_t *problems = NULL, *pr;
	int ok = 1, stopped = 0;
	size_t i;

	if (c->profile == FB_CONF_SAML_GENERIC || !p->ok)
		return;
	fb_saml_aws_check(p->attrs, c->profile == FB_CONF_SAML_AWS_IDENTITY_CENTER,
	    p->nameid_format, p->nameid, passed, &problems, &ok);
	json_array_foreach(problems, i, pr) {
		const char *attr = json_string_value(json_object_get(pr, "attribute"));
		const char *m = attr != NULL ? mapping_of(sp, attr) : c->nameid_mapping;
		char *src = NULL;

		if (m == NULL && attr == NULL)
			src = fb_xasprintf("nameid.source: %s", nameid_sources[c->nameid_source]);
		else if (m == NULL && !json_is_true(json_object_get(pr, "ok")))
			src = fb_xstrdup("no mapping configured for it");
		json_object_set_new(pr, "mapping",
		    m != NULL ? json_string(m) : src != NULL ? json_string(src) : json_null());
		if (!json_is_true(json_object_get(pr, "ok")) && !stopped++)
			prep_fail(p, "saml_aws_check_failed", "Sign-in stopped: AWS would refuse it",
			    "Rule %s (%s %s): %s. Nothing was sent to %s; ask your administrator to "
			    "fix the mapping.",
			    json_string_value(json_object_get(pr, "rule")),
			    m != NULL ? "mapping" : "from", m != NULL ? m : src,
			    json_string_value(json_object_get(pr, "message")), c->display_name);
		free(src);
		json_array_append(p->checks, pr);
	}
	json_decref(problems);
}

/*
 * Everything for user at sp. Fails (p->ok 0, with the page text) when the
 * user may not use it, a mapping fails or a check refuses the values.
 */
/* The groups upstreams gave user (the store's implicit memberships); none without both. */
static void
upstream_groups(struct fb_store *store, const struct fb_store_user *user, char ***groups,
    size_t *n)
{
	struct fb_err e = {0};

	*groups = NULL;
	*n = 0;
	if (store != NULL && user->id != NULL &&
	    fb_store_upstream_groups(store, user->id, groups, n, &e) != FB_OK)
		fb_log_err(FB_LOG_ERROR, NULL, &e);
}

static void
free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * upstream (n names, borrowed): the groups upstreams gave the user, which
 * count as memberships (SP groups, mapping input).
 */
static void
prep_run(struct fb_saml_idp *idp, struct fb_saml_sp *sp, struct fb_store *store,
    const struct fb_store_user *user, const char *const *upstream, size_t nupstream,
    enum fb_conf_nameid_format fmt, int allow_create, int dry, const struct fb_store_signon *known,
    struct prep *p)
{
	struct fb_map_subject *subject = NULL;
	struct fb_map_input in = {0};
	json_t *request = NULL;
	struct fb_err e = {0};

	memset(p, 0, sizeof(*p));
	p->ok = 1;
	p->attrs = json_object();
	p->report = json_array();
	p->checks = json_array();
	if (!fb_saml_sp_conf_allowed(idp->conf, sp->conf, user->username, upstream, nupstream))
		prep_fail(p, "saml_sp_denied", "Not allowed",
		    "Your account is not in a group that may use %s. Ask your administrator for "
		    "access.",
		    sp->conf->display_name);
	if (fb_ident_user_json_with(idp->conf, user, upstream, nupstream, &p->user, &e) != FB_OK) {
		prep_fail(p, "saml_user_invalid", "Sign-in stopped", "Your account cannot be read: %s",
		    e.msg);
		return;
	}
	request = json_pack("{s:s, s:s, s:n}", "name", sp->conf->name, "type", "saml", "upstream");
	in.user = p->user;
	in.request = request;
	if (fb_map_subject_new(&in, &subject, &e) != FB_OK) {
		prep_fail(p, "saml_user_invalid", "Sign-in stopped", "Your account cannot be used: %s",
		    e.msg);
		goto out;
	}
	prep_nameid(sp, store, user, subject, fmt, allow_create, dry, known, p);
	prep_attrs(sp, subject, p);
	prep_checks(sp, dry, p);
out:
	fb_map_subject_free(subject);
	json_decref(request);
}

/* ---- the Response ---------------------------------------------------------------------- */

static xmlNodePtr
text_child(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
	/* xmlNewTextChild escapes the text (xmlNewChild would interpret entities). */
	return xmlNewTextChild(parent, ns, BAD_CAST name, BAD_CAST text);
}

static void
set_prop(xmlNodePtr n, const char *name, const char *value)
{
	if (value != NULL)
		xmlSetProp(n, BAD_CAST name, BAD_CAST value);
}

/*
 * The Assertion, as the root of a document of its own: it is signed there
 * (c14n walks a whole document) and then moved into the Response.
 */
static xmlNodePtr
build_assertion(struct fb_saml_idp *idp, const struct fb_saml_answer *a, const char *nameid,
    const char *nameid_format, const json_t *attrs, const struct fb_saml_subject *who, int64_t now)
{
	const struct fb_conf_saml_sp *c = a->sp->conf;
	char t_now[32], t_before[32], t_after[32], t_authn[32], t_session[32];
	xmlNodePtr as, subj, n, sc, cond, ar, st, ac, ast;
	char *id = fb_saml_id_new(), *sidx = NULL;
	const char *name;
	const json_t *vals;

	fb_saml_time(now, t_now, sizeof(t_now));
	fb_saml_time(now - idp->conf->saml_clock_skew, t_before, sizeof(t_before));
	fb_saml_time(now + c->assertion_lifetime, t_after, sizeof(t_after));
	fb_saml_time(who->auth_time > 0 ? who->auth_time : now, t_authn, sizeof(t_authn));
	as = xmlNewNode(NULL, BAD_CAST "Assertion");
	xmlDocSetRootElement(xmlNewDoc(BAD_CAST "1.0"), as);
	/* Declared here, so the assertion stands alone once extracted or decrypted. */
	xmlNsPtr saml = xmlNewNs(as, BAD_CAST FB_SAML_NS_ASSERTION, BAD_CAST "saml");
	xmlNewNs(as, BAD_CAST FB_SAML_NS_XS, BAD_CAST "xs");
	xmlNsPtr xsi = xmlNewNs(as, BAD_CAST FB_SAML_NS_XSI, BAD_CAST "xsi");
	xmlSetNs(as, saml);
	set_prop(as, "ID", id);
	set_prop(as, "Version", "2.0");
	set_prop(as, "IssueInstant", t_now);
	/* AWS: the Issuer is the entity id of the IdP metadata uploaded to IAM. */
	text_child(as, saml, "Issuer", idp->entity_id);
	subj = xmlNewChild(as, saml, BAD_CAST "Subject", NULL);
	n = text_child(subj, saml, "NameID", nameid);
	set_prop(n, "Format", nameid_format);
	if (strcmp(nameid_format, FB_SAML_NAMEID_PERSISTENT) == 0 ||
	    strcmp(nameid_format, FB_SAML_NAMEID_TRANSIENT) == 0) {
		set_prop(n, "NameQualifier", idp->entity_id);
		set_prop(n, "SPNameQualifier", a->sp->md.entity_id);
	}
	/* AWS: exactly one bearer SubjectConfirmation with Recipient and NotOnOrAfter. */
	sc = xmlNewChild(subj, saml, BAD_CAST "SubjectConfirmation", NULL);
	set_prop(sc, "Method", FB_SAML_CM_BEARER);
	n = xmlNewChild(sc, saml, BAD_CAST "SubjectConfirmationData", NULL);
	set_prop(n, "NotOnOrAfter", t_after);
	set_prop(n, "Recipient", a->acs);
	set_prop(n, "InResponseTo", a->in_response_to);
	cond = xmlNewChild(as, saml, BAD_CAST "Conditions", NULL);
	set_prop(cond, "NotBefore", t_before);
	set_prop(cond, "NotOnOrAfter", t_after);
	ar = xmlNewChild(cond, saml, BAD_CAST "AudienceRestriction", NULL);
	text_child(ar, saml, "Audience", c->audience != NULL ? c->audience : a->sp->md.entity_id);
	st = xmlNewChild(as, saml, BAD_CAST "AuthnStatement", NULL);
	set_prop(st, "AuthnInstant", t_authn);
	if (who->session_id != NULL) {
		sidx = fb_saml_session_index(who->session_id, a->sp->md.entity_id);
		set_prop(st, "SessionIndex", sidx);
	}
	if (c->session_lifetime > 0) {
		fb_saml_time(now + c->session_lifetime, t_session, sizeof(t_session));
		set_prop(st, "SessionNotOnOrAfter", t_session);
	}
	ac = xmlNewChild(st, saml, BAD_CAST "AuthnContext", NULL);
	text_child(ac, saml, "AuthnContextClassRef", FB_SAML_AC_PPT);
	if (json_object_size(attrs) > 0) {
		ast = xmlNewChild(as, saml, BAD_CAST "AttributeStatement", NULL);
		json_object_foreach((json_t *)(uintptr_t)attrs, name, vals) {
			const struct fb_conf_saml_attr *at = NULL;
			xmlNodePtr an;
			size_t i;
			const json_t *v;

			for (size_t k = 0; k < a->sp->nattrs; k++)
				if (strcmp(a->sp->attrs[k].conf->name, name) == 0)
					at = a->sp->attrs[k].conf;
			an = xmlNewChild(ast, saml, BAD_CAST "Attribute", NULL);
			set_prop(an, "Name", name);
			set_prop(an, "NameFormat",
			    attrname_uris[at != NULL ? at->name_format : FB_CONF_SAML_ATTR_URI]);
			if (at != NULL)
				set_prop(an, "FriendlyName", at->friendly_name);
			json_array_foreach(vals, i, v) {
				xmlNodePtr vn = text_child(an, saml, "AttributeValue",
				    json_string_value(v));

				xmlSetNsProp(vn, xsi, BAD_CAST "type", BAD_CAST "xs:string");
			}
		}
	}
	free(sidx);
	free(id);
	return as;
}

enum fb_status
fb_saml_response_build(struct fb_saml_idp *idp, const struct fb_saml_answer *a,
    const char *nameid, const char *nameid_format, const json_t *attrs,
    const struct fb_saml_subject *who, char **out, char **assertion_xml, struct fb_err *err)
{
	const struct fb_conf_saml_sp *c = a->sp->conf;
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr resp, status, code, as = NULL;
	xmlNsPtr samlp, saml;
	char t_now[32], *id = fb_saml_id_new(), *xml = NULL;
	int64_t now = fb_time_now();
	size_t len = 0;
	enum fb_status r;

	*out = NULL;
	if (assertion_xml != NULL)
		*assertion_xml = NULL;
	fb_saml_time(now, t_now, sizeof(t_now));
	resp = xmlNewNode(NULL, BAD_CAST "Response");
	xmlDocSetRootElement(doc, resp);
	samlp = xmlNewNs(resp, BAD_CAST FB_SAML_NS_PROTOCOL, BAD_CAST "samlp");
	saml = xmlNewNs(resp, BAD_CAST FB_SAML_NS_ASSERTION, BAD_CAST "saml");
	xmlSetNs(resp, samlp);
	/* SECURITY: IDs from the CSPRNG: forked workers never repeat one. */
	set_prop(resp, "ID", id);
	set_prop(resp, "Version", "2.0");
	set_prop(resp, "IssueInstant", t_now);
	set_prop(resp, "Destination", a->acs);
	set_prop(resp, "InResponseTo", a->in_response_to);
	text_child(resp, saml, "Issuer", idp->entity_id);
	status = xmlNewChild(resp, samlp, BAD_CAST "Status", NULL);
	code = xmlNewChild(status, samlp, BAD_CAST "StatusCode", NULL);
	set_prop(code, "Value", a->status1 != NULL ? a->status1 : FB_SAML_STATUS_SUCCESS);
	if (a->status2 != NULL)
		set_prop(xmlNewChild(code, samlp, BAD_CAST "StatusCode", NULL), "Value", a->status2);
	if (a->status_message != NULL)
		text_child(status, samlp, "StatusMessage", a->status_message);
	if (a->status1 == NULL) {
		xmlDocPtr adoc;

		as = build_assertion(idp, a, nameid, nameid_format, attrs, who, now);
		adoc = as->doc;
		r = c->sign != FB_CONF_SAML_SIGN_RESPONSE
		        ? fb_saml_sign_node(as, a->sp->sign_key, c->signature_algorithm, 1, err)
		        : FB_OK;
		xmlUnlinkNode(as);
		xmlAddChild(resp, as);
		xmlFreeDoc(adoc);
		if (r != FB_OK)
			goto out;
		if (assertion_xml != NULL) {
			xmlBufferPtr b = xmlBufferCreate();

			xmlNodeDump(b, doc, as, 0, 0);
			*assertion_xml = fb_xstrdup((const char *)xmlBufferContent(b));
			xmlBufferFree(b);
		}
		if (a->sp->enc_key != NULL &&
		    (r = fb_saml_encrypt_assertion(doc, as, a->sp->enc_mngr, err)) != FB_OK)
			goto out;
	}
	/* An error Response carries no assertion: it is signed whatever sign: says. */
	if ((c->sign != FB_CONF_SAML_SIGN_ASSERTION || as == NULL) &&
	    (r = fb_saml_sign_node(resp, a->sp->sign_key, c->signature_algorithm, 1, err)) !=
	        FB_OK)
		goto out;
	xml = fb_saml_doc_dump(doc, &len);
	*out = fb_saml_b64(xml, len);
	r = FB_OK;
out:
	if (r != FB_OK && assertion_xml != NULL) {
		free(*assertion_xml);
		*assertion_xml = NULL;
	}
	free(xml);
	free(id);
	xmlFreeDoc(doc);
	return r;
}

/* ---- replies ---------------------------------------------------------------------------- */

/* Answers with a success Response, or the prep's refusal page. */
static enum fb_status
answer(struct fb_saml_idp *idp, struct fb_store *store, const struct fb_saml_answer *a,
    const struct fb_saml_subject *who, const char *reqid, struct fb_saml_reply *reply,
    struct fb_err *err)
{
	struct fb_saml_sp *sp = (struct fb_saml_sp *)(uintptr_t)a->sp;
	struct fb_store_signon read = {0};
	const struct fb_store_signon *known = who != NULL ? who->known : NULL;
	struct prep p;
	char *b64 = NULL, **ug = NULL;
	size_t nug = 0;
	enum fb_status r;
	int have = 0;

	fb_saml_reply_cleanup(reply);
	if (who == NULL || who->user == NULL || who->user->username == NULL || who->user->id == NULL) {
		fb_saml_reply_page(reply, 500, "saml_internal", "Sign-in unavailable",
		    "No signed-in user.");
		return fb_err_set(err, FB_ERR_INVALID, "saml: no user to answer for");
	}
	/*
	 * One store call reads what the answer needs (one round trip on PostgreSQL):
	 * the upstream groups, the persistent NameID, the session's record for
	 * logout. Without a session, or when that read fails, each is read alone.
	 */
	if (known == NULL && store != NULL && who->session_id != NULL) {
		struct fb_err e = {0};
		struct fb_store_signon_want want;
		char *sidx = NULL;

		fb_saml_signon_want(sp, who->session_id, &want, &sidx);
		if (fb_store_signon_get(store, who->user->id, want.sp, want.ns, want.key, &read,
		        &e) == FB_OK)
			known = &read;
		else
			fb_log_err(FB_LOG_ERROR, NULL, &e);
		free(sidx);
	}
	have = known != NULL;
	if (have) {
		ug = known->groups;
		nug = known->ngroups;
	} else {
		upstream_groups(store, who->user, &ug, &nug);
	}
	prep_run(idp, sp, store, who->user, (const char *const *)ug, nug, a->nameid_format,
	    a->allow_create, 0, known, &p);
	if (!have)
		free_strv(ug, nug);
	if (!p.ok) {
		/* The store failing is ours to fix (503); everything else is a refusal (403). */
		fb_saml_reply_page(reply, strcmp(p.event, "saml_nameid_failed") == 0 ? 503 : 403,
		    p.event, p.title, "%s", p.detail);
		if (p.nameid_policy)
			fb_saml_error_response(idp, sp, a->acs, a->in_response_to, a->relay_state,
			    FB_SAML_STATUS_RESPONDER, FB_SAML_STATUS_INVALID_NAMEID_POLICY, NULL,
			    reply);
		fb_audit_fields(reqid, p.event,
		    FB_LOG_FIELDS(FB_LOG_STR("sp", sp->conf->name),
			FB_LOG_STR("user", who->user->username), FB_LOG_STR("addr", who->client_addr)),
		    "%s", p.detail);
		r = fb_err_set(err, FB_ERR_DENIED, "saml: %s: %s", sp->conf->name, p.detail);
		goto out;
	}
	r = fb_saml_response_build(idp, a, p.nameid, p.nameid_format, p.attrs, who, &b64, NULL,
	    err);
	if (r != FB_OK) {
		fb_saml_reply_page(reply, 500, "saml_internal", "Sign-in unavailable",
		    "The response for %s could not be built. The administrator will find the "
		    "reason in the log.",
		    sp->conf->display_name);
		goto out;
	}
	/* What a LogoutRequest must name to end this session (slo.c). */
	{
		struct fb_err e = {0};

		if (fb_saml_slo_remember(store, sp, who, p.nameid, p.nameid_format, known, &e) !=
		    FB_OK)
			fb_log(FB_LOG_WARN, "saml: %s: single logout will refuse this session: %s",
			    sp->conf->name, e.msg);
	}
	reply->post_url = fb_xstrdup(a->acs);
	reply->post_field = "SAMLResponse";
	reply->post_value = b64;
	reply->relay_state = a->relay_state != NULL ? fb_xstrdup(a->relay_state) : NULL;
	reply->http_status = 200;
	/* Who was asserted to whom, as what: what a review correlates with the SP's own log. */
	fb_audit_fields(reqid, "saml_response_sent",
	    FB_LOG_FIELDS(FB_LOG_STR("sp", sp->conf->name), FB_LOG_STR("user", who->user->username),
		FB_LOG_STR("nameid", p.nameid), FB_LOG_STR("nameid_format", p.nameid_format),
		FB_LOG_STR("acs", a->acs), FB_LOG_STR("addr", who->client_addr),
		FB_LOG_STR("flow", a->in_response_to != NULL ? "sp-initiated" : "idp-initiated")),
	    "SAML response sent");
out:
	prep_cleanup(&p);
	fb_store_signon_cleanup(&read);
	return r;
}

enum fb_status
fb_saml_idp_initiated(struct fb_saml_idp *idp, struct fb_store *store,
    const struct fb_saml_sp *sp, const struct fb_saml_subject *who, const char *relay_state,
    const char *reqid, struct fb_saml_reply *reply, struct fb_err *err)
{
	struct fb_saml_answer a = {0};
	struct fb_err e = {0};

	fb_saml_reply_cleanup(reply);
	if (relay_state == NULL)
		relay_state = sp->conf->relay_state;
	if (fb_saml_relay_state_check(relay_state, &e) != FB_OK) {
		fb_saml_reply_page(reply, 400, "saml_request_invalid", "Bad link",
		    "This link is refused: %s.", e.msg);
		fb_audit_fields(reqid, reply->event, FB_LOG_FIELDS(FB_LOG_STR("sp", sp->conf->name)),
		    "RelayState refused: %s", e.msg);
		return fb_err_set(err, FB_ERR_INVALID, "saml: %s", e.msg);
	}
	a.sp = sp;
	a.acs = sp->default_acs->url;
	a.relay_state = relay_state;
	fb_saml_nameid_format_pick(sp, NULL, &a.nameid_format);
	a.allow_create = 1;
	return answer(idp, store, &a, who, reqid, reply, err);
}

/* ---- SP-initiated ------------------------------------------------------------------------ */

void
fb_saml_request_free(struct fb_saml_request *req)
{
	if (req == NULL)
		return;
	free(req->id);
	free(req->acs);
	free(req->relay_state);
	free(req);
}

const struct fb_saml_sp *
fb_saml_request_sp(const struct fb_saml_request *req)
{
	return req->sp;
}

const char *
fb_saml_request_id(const struct fb_saml_request *req)
{
	return req->id;
}

int
fb_saml_request_force_authn(const struct fb_saml_request *req)
{
	return req->force_authn;
}

int
fb_saml_request_is_passive(const struct fb_saml_request *req)
{
	return req->is_passive;
}

int64_t
fb_saml_request_received(const struct fb_saml_request *req)
{
	return req->received;
}

void
fb_saml_error_response(struct fb_saml_idp *idp, const struct fb_saml_sp *sp, const char *acs,
    const char *in_response_to, const char *relay_state, const char *status1,
    const char *status2, const char *message, struct fb_saml_reply *reply)
{
	struct fb_saml_answer a = {0};
	struct fb_err e = {0};
	char *b64 = NULL;

	a.sp = sp;
	a.acs = acs;
	a.in_response_to = in_response_to;
	a.status1 = status1;
	a.status2 = status2;
	a.status_message = message;
	if (fb_saml_response_build(idp, &a, NULL, NULL, NULL, NULL, &b64, NULL, &e) != FB_OK) {
		fb_log_err(FB_LOG_ERROR, NULL, &e);
		return; /* the page already in reply stays */
	}
	free(reply->post_url);
	free(reply->post_value);
	free(reply->relay_state);
	reply->post_url = fb_xstrdup(acs);
	reply->post_field = "SAMLResponse";
	reply->post_value = b64;
	reply->relay_state = relay_state != NULL ? fb_xstrdup(relay_state) : NULL;
}

enum fb_status
fb_saml_request_answer(struct fb_saml_idp *idp, struct fb_store *store,
    const struct fb_saml_request *req, const struct fb_saml_subject *who, const char *reqid,
    struct fb_saml_reply *reply, struct fb_err *err)
{
	struct fb_saml_answer a = {0};

	fb_saml_reply_cleanup(reply);
	if (who == NULL) {
		/* SAML2 Core 3.4.1: IsPassive and nobody signed in: NoPassive. */
		fb_saml_reply_page(reply, 200, "saml_no_passive", "Not signed in",
		    "%s asked to sign you in without showing a page, but you are not signed in.",
		    req->sp->conf->display_name);
		fb_saml_error_response(idp, req->sp, req->acs, req->id, req->relay_state,
		    FB_SAML_STATUS_RESPONDER, FB_SAML_STATUS_NO_PASSIVE, NULL, reply);
		return fb_err_set(err, FB_ERR_DENIED, "saml: passive request and no session");
	}
	a.sp = req->sp;
	a.acs = req->acs;
	a.in_response_to = req->id;
	a.relay_state = req->relay_state;
	a.nameid_format = req->nameid_format;
	a.allow_create = req->allow_create;
	return answer(idp, store, &a, who, reqid, reply, err);
}

/* ---- stash -------------------------------------------------------------------------------- */

#define STASH_NS "saml-pending"

enum fb_status
fb_saml_request_stash(struct fb_saml_idp *idp, struct fb_store *store,
    const struct fb_saml_request *req, char **handle, struct fb_err *err)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:b, s:b, s:I, s:s, s:b}", "sp",
	    req->sp->conf->name, "id", req->id, "acs", req->acs, "relay_state", req->relay_state,
	    "force_authn", req->force_authn, "is_passive", req->is_passive, "received",
	    (json_int_t)req->received, "nameid_format", nameid_uris[req->nameid_format],
	    "allow_create", req->allow_create);
	char *text = json_dumps(o, JSON_COMPACT);
	enum fb_status r;

	*handle = fb_rand_token(16);
	r = fb_store_kv_put(store, STASH_NS, *handle, text, strlen(text),
	    req->received + idp->conf->saml_request_lifetime, err);
	free(text);
	json_decref(o);
	if (r != FB_OK) {
		free(*handle);
		*handle = NULL;
	}
	return r;
}

enum fb_status
fb_saml_request_resume(struct fb_saml_idp *idp, struct fb_store *store, const char *handle,
    struct fb_saml_request **out, struct fb_err *err)
{
	unsigned char *val = NULL;
	size_t len = 0, hlen = handle != NULL ? strlen(handle) : 0;
	json_t *o = NULL;
	struct fb_saml_request *req;
	const struct fb_saml_sp *sp;
	enum fb_status r;

	*out = NULL;
	if (hlen == 0 || hlen > 64 ||
	    strspn(handle, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != hlen)
		return fb_err_set(err, FB_ERR_INVALID, "saml: malformed resume handle");
	/* Taken once: a handle resumes one sign-in. */
	if ((r = fb_store_kv_take(store, STASH_NS, handle, &val, &len, err)) != FB_OK)
		return r;
	o = json_loadb((const char *)val, len, 0, NULL);
	free(val);
	sp = fb_saml_idp_sp_get(idp, json_string_value(json_object_get(o, "sp")));
	if (o == NULL || sp == NULL || !json_is_string(json_object_get(o, "id")) ||
	    !json_is_string(json_object_get(o, "acs"))) {
		json_decref(o);
		return fb_err_set(err, FB_ERR_NOTFOUND,
		    "saml: the pending request is unreadable or its SP was removed");
	}
	req = fb_xcalloc(1, sizeof(*req));
	req->sp = sp;
	req->id = fb_xstrdup(json_string_value(json_object_get(o, "id")));
	req->acs = fb_xstrdup(json_string_value(json_object_get(o, "acs")));
	if (json_is_string(json_object_get(o, "relay_state")))
		req->relay_state = fb_xstrdup(json_string_value(json_object_get(o, "relay_state")));
	req->force_authn = json_is_true(json_object_get(o, "force_authn"));
	req->is_passive = json_is_true(json_object_get(o, "is_passive"));
	req->received = json_integer_value(json_object_get(o, "received"));
	/* Stashed before the format was kept: what an IdP-initiated sign-on gets. */
	req->allow_create = !json_is_false(json_object_get(o, "allow_create"));
	if (!json_is_string(json_object_get(o, "nameid_format")) ||
	    !nameid_format_of(json_string_value(json_object_get(o, "nameid_format")),
	        &req->nameid_format))
		fb_saml_nameid_format_pick(sp, NULL, &req->nameid_format);
	json_decref(o);
	/* The ACS must still be one the SP declares (a reload may have changed it). */
	for (size_t i = 0; i < sp->md.nacs; i++)
		if (fb_saml_is_post(sp->md.acs[i].binding) && strcmp(sp->md.acs[i].url, req->acs) == 0) {
			*out = req;
			return FB_OK;
		}
	fb_saml_request_free(req);
	return fb_err_set(err, FB_ERR_PROTOCOL, "saml: the pending request's ACS is no longer declared");
}

/* ---- explain ----------------------------------------------------------------------------- */

json_t *
fb_saml_sp_describe(const struct fb_saml_sp *sp)
{
	static const char *const profiles[] = {"generic", "aws", "aws-identity-center"};
	static const char *const signs[] = {"both", "assertion", "response"};
	const struct fb_conf_saml_sp *c = sp->conf;
	json_t *o, *a;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "name", c->name,
	    "display_name", c->display_name, "entity_id", sp->md.entity_id, "profile",
	    profiles[c->profile], "nameid_format", nameid_uris[c->nameid_format], "audience",
	    c->audience != NULL ? c->audience : sp->md.entity_id, "sign", signs[c->sign],
	    "signature_algorithm", fb_saml_alg_uri(c->signature_algorithm),
	    "require_signed_requests", sp->require_signed, "encrypt_assertion",
	    sp->enc_key != NULL);
	/* Not pinned: an AuthnRequest's NameIDPolicy/@Format may choose. */
	json_object_set_new(o, "nameid_format_pinned", json_boolean(fb_saml_nameid_pinned(sp)));
	a = json_array();
	for (size_t i = 0; i < sp->md.nacs; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:b}", "url", sp->md.acs[i].url,
		    "binding", sp->md.acs[i].binding, "index", sp->md.acs[i].index, "default",
		    &sp->md.acs[i] == sp->default_acs));
	json_object_set_new(o, "acs", a);
	a = json_array();
	for (size_t i = 0; i < sp->md.nslo; i++)
		json_array_append_new(a, json_pack("{s:s?, s:s?}", "url", sp->md.slo[i].url,
		    "binding", sp->md.slo[i].binding));
	json_object_set_new(o, "slo", a);
	a = json_array();
	for (size_t i = 0; i < c->ngroups; i++)
		json_array_append_new(a, json_string(c->groups[i]));
	json_object_set_new(o, "groups", a);
	a = json_array();
	for (size_t i = 0; i < c->nattributes; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "name", c->attributes[i].name,
		    "mapping", c->attributes[i].mapping));
	json_object_set_new(o, "attributes", a);
	json_object_set_new(o, "start_path", json_sprintf("%s%s", FB_SAML_PATH_INIT, c->name));
	return o;
}

enum fb_status
fb_saml_explain(struct fb_saml_idp *idp, struct fb_store *store, const struct fb_saml_sp *sp,
    const struct fb_store_user *user, json_t **out, struct fb_err *err)
{
	char **ug = NULL;
	size_t nug = 0;
	enum fb_status r;

	upstream_groups(store, user, &ug, &nug);
	r = fb_saml_explain_with(idp, store, sp, user, (const char *const *)ug, nug, out, err);
	free_strv(ug, nug);
	return r;
}

enum fb_status
fb_saml_explain_with(struct fb_saml_idp *idp, struct fb_store *store, const struct fb_saml_sp *sp,
    const struct fb_store_user *user, const char *const *upstream, size_t nupstream, json_t **out,
    struct fb_err *err)
{
	struct fb_saml_sp *msp = (struct fb_saml_sp *)(uintptr_t)sp;
	struct fb_saml_answer a = {0};
	struct fb_saml_subject who = {0};
	json_t *o, *ga, *names;
	char *b64 = NULL, *axml = NULL;
	struct prep p;
	enum fb_status r = FB_OK;

	*out = NULL;
	fb_saml_nameid_format_pick(sp, NULL, &a.nameid_format);
	prep_run(idp, msp, store, user, upstream, nupstream, a.nameid_format, 1, 1, NULL, &p);
	o = json_object();
	json_object_set_new(o, "sp", fb_saml_sp_describe(sp));
	json_object_set(o, "user", p.user != NULL ? p.user : json_null());
	json_object_set_new(o, "allowed",
	    json_boolean(fb_saml_sp_conf_allowed(idp->conf, sp->conf, user->username, upstream,
		nupstream)));
	/* The groups as the mapping sees them (declared and upstream), and their merged attributes. */
	if (p.user != NULL)
		fb_ident_user_json_groups(p.user, &names, &ga);
	else {
		names = json_array();
		ga = json_object();
	}
	json_object_set_new(o, "groups", names);
	json_object_set_new(o, "group_attributes", ga);
	json_object_set_new(o, "nameid",
	    json_pack("{s:s?, s:s?, s:b}", "format", p.nameid_format, "value", p.nameid, "new",
		p.nameid_new));
	json_object_set(o, "attributes", p.report);
	json_object_set(o, "checks", p.checks);
	json_object_set_new(o, "ok", json_boolean(p.ok));
	if (!p.ok) {
		json_object_set_new(o, "refusal", json_pack("{s:s, s:s, s:s}", "event", p.event,
		    "title", p.title, "detail", p.detail));
	} else {
		a.sp = sp;
		a.acs = sp->default_acs->url;
		who.user = user;
		who.session_id = "explain";
		who.auth_time = fb_time_now();
		r = fb_saml_response_build(idp, &a, p.nameid, p.nameid_format, p.attrs, &who, &b64,
		    &axml, err);
		if (r == FB_OK)
			json_object_set_new(o, "assertion", json_string(axml));
	}
	free(b64);
	free(axml);
	prep_cleanup(&p);
	if (r != FB_OK) {
		json_decref(o);
		return r;
	}
	*out = o;
	return FB_OK;
}
