/* SPDX-License-Identifier: Apache-2.0 */
/* saml/check.c: what check-config learns only by building the IdP: SP metadata, keys, AWS limits. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "saml/saml.h"
#include "saml/internal.h"

static void
add(json_t *problems, int error, const char *fmt, ...) FB_PRINTF(3, 4);

static void
add(json_t *problems, int error, const char *fmt, ...)
{
	va_list ap;
	char *msg, *colon;

	va_start(ap, fmt);
	msg = fb_xvasprintf(fmt, ap);
	va_end(ap);
	/* "path: message" */
	colon = strstr(msg, ": ");
	if (colon != NULL) {
		*colon = '\0';
		json_array_append_new(problems,
		    json_pack("{s:s, s:s, s:b}", "path", msg, "message", colon + 2, "error", error));
	} else {
		json_array_append_new(problems,
		    json_pack("{s:s, s:s, s:b}", "path", "saml", "message", msg, "error", error));
	}
	free(msg);
}

/* Identity Center (and any emailAddress SP fed by usernames): usernames that are not addr-specs. */
static void
check_email_source(const struct fb_conf *conf, size_t i, const struct fb_saml_sp *sp,
    json_t *problems)
{
	const struct fb_conf_saml_sp *c = sp->conf;

	if (c->nameid_format != FB_CONF_NAMEID_EMAIL || c->nameid_mapping != NULL ||
	    c->nameid_source != FB_CONF_NAMEID_FROM_USERNAME)
		return;
	for (size_t g = 0; g < conf->ngroups; g++)
		for (size_t m = 0; m < conf->groups[g].nmembers; m++) {
			const char *u = conf->groups[g].members[m];

			if (!fb_saml_sp_conf_allowed(conf, c, u, NULL, 0) || fb_conf_addr_spec_check(u))
				continue;
			add(problems, 0,
			    "saml.service_providers[%zu].nameid.source: the username '%s' "
			    "(groups[%zu]) is not an email address, so %s cannot match it: use "
			    "email-shaped usernames or source: email",
			    i, u, g, c->name);
		}
}

/* A checked build becomes a serving one: the certificates it kept for the check go. */
static void
certs_drop(struct fb_saml_idp *idp)
{
	for (size_t i = 0; i < idp->nsps; i++) {
		struct fb_saml_sp *sp = &idp->sps[i];

		for (size_t k = 0; sp->certs != NULL && k < sp->md.ncerts; k++) {
			X509_free(sp->certs[k]);
			sp->certs[k] = NULL;
		}
	}
	idp->keyless = 0;
}

enum fb_status
fb_saml_check(const struct fb_conf *conf, const struct fb_keyring *kr, json_t **problems,
    struct fb_err *err)
{
	return fb_saml_check_build(conf, kr, NULL, problems, NULL, err);
}

enum fb_status
fb_saml_check_build(const struct fb_conf *conf, const struct fb_keyring *kr,
    const struct fb_map_set *maps, json_t **problems, struct fb_saml_idp **out, struct fb_err *err)
{
	struct fb_saml_idp *idp = NULL;
	struct fb_err e = {0};
	int idc = 0;
	enum fb_status r;
	size_t errors;

	if (out != NULL)
		*out = NULL;
	*problems = json_array();
	/* The SAML upstreams' IdP metadata, read as the workers will. */
	for (size_t i = 0; i < conf->nupstreams; i++)
		if (conf->upstreams[i].type == FB_CONF_UPSTREAM_SAML &&
		    fb_saml_upstream_metadata_check(conf, &conf->upstreams[i], &e) != FB_OK)
			add(*problems, 1, "upstreams[%zu].saml.metadata: %s", i, e.msg);
	if (conf->nsaml_sps == 0)
		return FB_OK;
	if ((r = fb_saml_idp_build(conf, kr, 1, maps, &idp, &e)) != FB_OK) {
		add(*problems, 1, "%s", e.msg);
		return fb_err_set(err, r, "%s", e.msg);
	}
	for (size_t i = 0; i < idp->nsps; i++) {
		const struct fb_saml_sp *sp = &idp->sps[i];
		json_t *info, *w;
		size_t k;

		idc |= sp->conf->profile == FB_CONF_SAML_AWS_IDENTITY_CENTER;
		check_email_source(conf, i, sp, *problems);
		/* Described from what the build parsed: the XML is not parsed twice. */
		info = fb_saml_md_describe(&sp->md, 0, sp->certs, sp->md.ncerts);
		json_array_foreach(json_object_get(info, "warnings"), k, w)
			add(*problems, 0, "saml.service_providers[%zu].metadata: %s", i,
			    json_string_value(w));
		json_decref(info);
	}
	if (idc && idp->active != NULL) {
		size_t len = strlen(idp->metadata);

		/* notes/aws.md B.2: Identity Center's limits on what it imports. */
		if (len > FB_SAML_AWS_IDC_METADATA_MAX)
			add(*problems, 0,
			    "keys: the IdP metadata is %zu characters; IAM Identity Center "
			    "accepts at most %d (publish fewer keys)",
			    len, FB_SAML_AWS_IDC_METADATA_MAX);
		if (strlen(idp->active->cert_pem) > FB_SAML_AWS_IDC_CERT_MAX)
			add(*problems, 0,
			    "keys: the signing certificate is %zu characters of PEM; IAM "
			    "Identity Center accepts at most %d",
			    strlen(idp->active->cert_pem), FB_SAML_AWS_IDC_CERT_MAX);
	}
	errors = 0;
	for (size_t i = 0; i < json_array_size(*problems); i++)
		errors += json_is_true(json_object_get(json_array_get(*problems, i), "error"));
	/* The daemon's master keeps the build its workers inherit; it can sign. */
	if (out != NULL && errors == 0 && idp->active != NULL) {
		certs_drop(idp);
		*out = idp;
		idp = NULL;
	}
	fb_saml_idp_free(idp);
	return FB_OK;
}
