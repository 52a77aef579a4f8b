/* SPDX-License-Identifier: Apache-2.0 */
/* conf/upstream.c: the upstreams: list (identity providers people sign in through). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/core.h"
#include "conf/internal.h"

void
fb_conf_upstream_cleanup(struct fb_conf_upstream *up)
{
	free(up->name);
	free(up->display_name);
	for (size_t i = 0; i < up->ndomains; i++)
		free(up->domains[i]);
	free(up->domains);
	free(up->mapping);
	free(up->oidc.tenant);
	free(up->oidc.domain);
	free(up->oidc.issuer);
	free(up->oidc.client_id);
	fb_secret_free(up->oidc.client_secret);
	for (size_t i = 0; i < up->oidc.nscopes; i++)
		free(up->oidc.scopes[i]);
	free(up->oidc.scopes);
	for (size_t i = 0; i < up->oidc.nalgorithms; i++)
		free(up->oidc.algorithms[i]);
	free(up->oidc.algorithms);
	free(up->oidc.ca_file);
	free(up->saml.metadata);
	free(up->saml.metadata_url);
	free(up->saml.metadata_certificate);
	free(up->saml.ca_file);
	memset(up, 0, sizeof(*up));
}

const struct fb_conf_upstream *
fb_conf_upstream_find(const struct fb_conf *conf, const char *name)
{
	for (size_t i = 0; conf != NULL && name != NULL && i < conf->nupstreams; i++)
		if (conf->upstreams[i].name != NULL && strcmp(conf->upstreams[i].name, name) == 0)
			return &conf->upstreams[i];
	return NULL;
}

const struct fb_conf_upstream *
fb_conf_upstream_for_email(const struct fb_conf *conf, const char *email)
{
	const char *at = email != NULL ? strrchr(email, '@') : NULL;

	if (conf == NULL || at == NULL || at[1] == '\0')
		return NULL;
	for (size_t i = 0; i < conf->nupstreams; i++)
		for (size_t d = 0; d < conf->upstreams[i].ndomains; d++)
			if (strcasecmp(conf->upstreams[i].domains[d], at + 1) == 0)
				return &conf->upstreams[i];
	return NULL;
}

/* Reports at upstreams[i].leaf (falling back to the item's place). */
static void up_problem(struct fb_conf_ctx *ctx, size_t i, const char *leaf, int is_error,
    const char *fmt, ...) FB_PRINTF(5, 6);

static void
up_problem(struct fb_conf_ctx *ctx, size_t i, const char *leaf, int is_error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fb_conf_item_problemv(ctx, "upstreams", i, leaf, is_error, fmt, ap);
	va_end(ap);
}

/* 1 when upstreams[i].leaf was given in the file. */
static int
up_is_set(struct fb_conf_ctx *ctx, size_t i, const char *leaf)
{
	char *path = fb_xasprintf("upstreams[%zu].%s", i, leaf);
	int r = fb_conf_is_set(ctx, path);

	free(path);
	return r;
}

static void
up_readable(struct fb_conf_ctx *ctx, size_t i, const char *leaf, const char *file)
{
	char *path;

	if (file == NULL)
		return;
	path = fb_xasprintf("upstreams[%zu].%s", i, leaf);
	fb_conf_check_readable(ctx, path, file);
	free(path);
}

/* The section of the other type must not be given (its keys would be silently unused). */
static void
check_other_section(struct fb_conf_ctx *ctx, size_t i, const struct fb_conf_upstream *up)
{
	const char *other = up->type == FB_CONF_UPSTREAM_OIDC ? "saml" : "oidc";

	if (up_is_set(ctx, i, other))
		up_problem(ctx, i, other, 1, "only for type %s (this upstream is type %s)", other,
		    up->type == FB_CONF_UPSTREAM_OIDC ? "oidc" : "saml");
}

static char **
strs_of(const char *const *v, size_t n)
{
	char **out = fb_xcalloc(n + 1, sizeof(*out));

	for (size_t i = 0; i < n; i++)
		out[i] = fb_xstrdup(v[i]);
	return out;
}

/* SECURITY: an http issuer lets anyone on the path forge discovery and keys. */
static void
check_https(struct fb_conf_ctx *ctx, size_t i, const char *leaf, const char *url)
{
	if (url != NULL && strncmp(url, "https://", 8) != 0 && !fb_conf_url_is_loopback(url))
		up_problem(ctx, i, leaf, 1,
		    "'%s' must be https:// (plain http is accepted on loopback hosts only)", url);
}

static void
check_oidc(struct fb_conf_ctx *ctx, size_t i, struct fb_conf_upstream *up)
{
	static const char *const scopes[] = {"openid", "email", "profile"};
	static const char *const algs[] = {"RS256", "ES256", "PS256"};
	struct fb_conf_upstream_oidc *o = &up->oidc;
	const char *preset = NULL;
	int openid = 0;

	switch (o->preset) {
	case FB_CONF_OIDC_GOOGLE:
		preset = "google";
		break;
	case FB_CONF_OIDC_MICROSOFT:
		preset = "microsoft";
		if (o->tenant == NULL && !up_is_set(ctx, i, "oidc.tenant"))
			up_problem(ctx, i, "oidc.tenant", 1,
			    "missing: preset microsoft needs your tenant id (a GUID) or domain");
		break;
	case FB_CONF_OIDC_OKTA:
		preset = "okta";
		if (o->domain == NULL && !up_is_set(ctx, i, "oidc.domain"))
			up_problem(ctx, i, "oidc.domain", 1,
			    "missing: preset okta needs your Okta domain (e.g. example.okta.com)");
		break;
	default:
		if (o->issuer == NULL && !up_is_set(ctx, i, "oidc.issuer"))
			up_problem(ctx, i, "oidc.issuer", 1,
			    "missing: give the issuer URL, or a preset (google, microsoft with "
			    "tenant, okta with domain)");
		break;
	}
	if (preset != NULL && up_is_set(ctx, i, "oidc.issuer"))
		up_problem(ctx, i, "oidc.issuer", 1,
		    "preset %s sets the issuer: remove issuer: (or use preset: generic)", preset);
	if (o->preset != FB_CONF_OIDC_MICROSOFT && up_is_set(ctx, i, "oidc.tenant"))
		up_problem(ctx, i, "oidc.tenant", 1, "only for preset microsoft");
	if (o->preset != FB_CONF_OIDC_OKTA && up_is_set(ctx, i, "oidc.domain"))
		up_problem(ctx, i, "oidc.domain", 1, "only for preset okta");
	if (preset != NULL && o->issuer == NULL) {
		if (o->preset == FB_CONF_OIDC_GOOGLE)
			o->issuer = fb_xstrdup("https://accounts.google.com");
		else if (o->preset == FB_CONF_OIDC_MICROSOFT && o->tenant != NULL)
			o->issuer =
			    fb_xasprintf("https://login.microsoftonline.com/%s/v2.0", o->tenant);
		else if (o->preset == FB_CONF_OIDC_OKTA && o->domain != NULL)
			o->issuer = fb_xasprintf("https://%s", o->domain);
	}
	check_https(ctx, i, "oidc.issuer", o->issuer);
	if (o->client_id == NULL && !up_is_set(ctx, i, "oidc.client_id"))
		up_problem(ctx, i, "oidc.client_id", 1,
		    "missing: give the client id registered at the issuer");
	if (o->client_auth == FB_CONF_OIDC_PRIVATE_KEY_JWT) {
		if (up_is_set(ctx, i, "oidc.client_secret"))
			up_problem(ctx, i, "oidc.client_secret", 0,
			    "ignored: private_key_jwt signs with fedbroker's key instead");
		fb_secret_free(o->client_secret);
		o->client_secret = NULL;
	} else if (o->client_secret == NULL && !up_is_set(ctx, i, "oidc.client_secret")) {
		up_problem(ctx, i, "oidc.client_secret", 1,
		    "missing: %s needs a secret reference (env:NAME or file:PATH), or use "
		    "client_auth: private_key_jwt",
		    o->client_auth == FB_CONF_OIDC_SECRET_POST ? "client_secret_post"
		                                               : "client_secret_basic");
	}
	if (o->nscopes == 0 && !up_is_set(ctx, i, "oidc.scopes")) {
		o->scopes = strs_of(scopes, 3);
		o->nscopes = 3;
	}
	for (size_t s = 0; s < o->nscopes; s++)
		openid |= o->scopes[s] != NULL && strcmp(o->scopes[s], "openid") == 0;
	if (!openid && o->nscopes > 0)
		up_problem(ctx, i, "oidc.scopes", 1,
		    "must include openid (without it there is no ID token)");
	if (o->nalgorithms == 0 && !up_is_set(ctx, i, "oidc.algorithms")) {
		o->algorithms = strs_of(algs, 3);
		o->nalgorithms = 3;
	}
	up_readable(ctx, i, "oidc.ca_file", o->ca_file);
}

static void
check_saml(struct fb_conf_ctx *ctx, size_t i, struct fb_conf_upstream *up)
{
	struct fb_conf_upstream_saml *s = &up->saml;
	int file = s->metadata != NULL || up_is_set(ctx, i, "saml.metadata");
	int url = s->metadata_url != NULL || up_is_set(ctx, i, "saml.metadata_url");

	if (!file && !url)
		up_problem(ctx, i, "saml.metadata", 1,
		    "missing: give the IdP's metadata (a file) or metadata_url");
	if (file && url)
		up_problem(ctx, i, "saml.metadata_url", 1,
		    "give either metadata: or metadata_url:, not both");
	if (url && s->metadata_certificate == NULL &&
	    !up_is_set(ctx, i, "saml.metadata_certificate"))
		up_problem(ctx, i, "saml.metadata_certificate", 1,
		    "missing: metadata fetched from metadata_url is trusted only when signed by "
		    "this pinned certificate (PEM file)");
	if (!url && up_is_set(ctx, i, "saml.metadata_certificate"))
		up_problem(ctx, i, "saml.metadata_certificate", 0,
		    "ignored without metadata_url (a metadata file is trusted as it is)");
	check_https(ctx, i, "saml.metadata_url", s->metadata_url);
	up_readable(ctx, i, "saml.metadata", s->metadata);
	up_readable(ctx, i, "saml.metadata_certificate", s->metadata_certificate);
	up_readable(ctx, i, "saml.ca_file", s->ca_file);
	if (s->accept_sha1)
		up_problem(ctx, i, "saml.accept_sha1", 0,
		    "SHA-1 signatures can be forged with enough effort: enable only for an IdP "
		    "that offers nothing else");
	if (s->allow_unsolicited)
		up_problem(ctx, i, "saml.allow_unsolicited", 0,
		    "IdP-initiated responses are not bound to this browser (login CSRF): enable "
		    "only when the IdP needs it");
}

static void
check_mapping(struct fb_conf_ctx *ctx, size_t i, const struct fb_conf_upstream *up)
{
	struct stat st;
	char *file;

	if (up->mapping == NULL || ctx->conf->mappings_dir == NULL)
		return;
	file = fb_xasprintf("%s/%s.py", ctx->conf->mappings_dir, up->mapping);
	if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
		up_problem(ctx, i, "mapping", 1,
		    "no mapping '%s': %s does not exist (mappings.dir is %s)", up->mapping, file,
		    ctx->conf->mappings_dir);
	free(file);
}

/* A domain claimed twice would make home-realm discovery depend on the order. */
static void
check_domains(struct fb_conf_ctx *ctx, size_t i)
{
	const struct fb_conf *c = ctx->conf;
	const struct fb_conf_upstream *up = &c->upstreams[i];

	for (size_t d = 0; d < up->ndomains; d++) {
		int dup = 0;

		for (size_t j = 0; j <= i && !dup; j++)
			for (size_t e = 0; e < c->upstreams[j].ndomains && !dup; e++) {
				if (j == i && e >= d)
					break;
				if (strcmp(c->upstreams[j].domains[e], up->domains[d]) == 0) {
					char *leaf = fb_xasprintf("domains[%zu]", d);

					if (j == i)
						up_problem(ctx, i, leaf, 1, "'%s' is listed twice",
						    up->domains[d]);
					else
						up_problem(ctx, i, leaf, 1,
						    "'%s' is claimed by upstreams[%zu] (%s) too: a "
						    "domain goes to one upstream",
						    up->domains[d], j,
						    c->upstreams[j].name != NULL
						        ? c->upstreams[j].name
						        : "?");
					free(leaf);
					dup = 1;
				}
			}
	}
}

void
fb_conf_check_upstreams(struct fb_conf_ctx *ctx)
{
	struct fb_conf *c = ctx->conf;

	if (c->saml_sp_entity_id == NULL && c->public_url != NULL)
		c->saml_sp_entity_id = fb_xasprintf("%s/saml/sp/metadata", c->public_url);
	for (size_t i = 0; i < c->nupstreams; i++) {
		struct fb_conf_upstream *up = &c->upstreams[i];

		if (up->name == NULL)
			continue; /* not a mapping, or a bad name: reported already */
		for (size_t j = 0; j < i; j++)
			if (c->upstreams[j].name != NULL &&
			    strcmp(c->upstreams[j].name, up->name) == 0) {
				up_problem(ctx, i, "name", 1,
				    "duplicate upstream '%s' (also upstreams[%zu])", up->name, j);
				break;
			}
		if (up->display_name == NULL)
			up->display_name = fb_xstrdup(up->name);
		if (up->mapping == NULL && !up_is_set(ctx, i, "mapping"))
			up->mapping = fb_xstrdup(
			    up->type == FB_CONF_UPSTREAM_OIDC ? "upstream_oidc" : "upstream_saml");
		if (!up_is_set(ctx, i, "type"))
			continue; /* reported as missing; the type-specific checks would mislead */
		check_other_section(ctx, i, up);
		if (up->type == FB_CONF_UPSTREAM_OIDC)
			check_oidc(ctx, i, up);
		else
			check_saml(ctx, i, up);
		check_mapping(ctx, i, up);
		check_domains(ctx, i);
	}
}
