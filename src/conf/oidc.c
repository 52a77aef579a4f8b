/* SPDX-License-Identifier: Apache-2.0 */
/* conf/oidc.c: the oidc.clients: list (applications signing in through the OpenID provider). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "conf/internal.h"

static void
strs_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
fb_conf_oidc_client_cleanup(struct fb_conf_oidc_client *cl)
{
	free(cl->id);
	free(cl->name);
	fb_secret_free(cl->secret);
	free(cl->jwks);
	free(cl->tls_subject_dn);
	free(cl->tls_san_dns);
	free(cl->tls_san_uri);
	free(cl->tls_san_email);
	free(cl->tls_san_ip);
	free(cl->tls_thumbprint);
	strs_free(cl->redirect_uris, cl->nredirect_uris);
	strs_free(cl->post_logout_redirect_uris, cl->npost_logout_redirect_uris);
	strs_free(cl->grant_types, cl->ngrant_types);
	strs_free(cl->cors_origins, cl->ncors_origins);
	strs_free(cl->scopes, cl->nscopes);
	strs_free(cl->groups, cl->ngroups);
	for (size_t i = 0; i < cl->nclaims; i++) {
		free(cl->claims[i].name);
		free(cl->claims[i].mapping);
	}
	free(cl->claims);
	free(cl->secret_hash);
	free(cl->jwks_json);
	memset(cl, 0, sizeof(*cl));
}

const struct fb_conf_oidc_client *
fb_conf_oidc_client_find(const struct fb_conf *conf, const char *id)
{
	for (size_t i = 0; conf != NULL && id != NULL && i < conf->noidc_clients; i++)
		if (conf->oidc_clients[i].id != NULL && strcmp(conf->oidc_clients[i].id, id) == 0)
			return &conf->oidc_clients[i];
	return NULL;
}

#define client_problem(ctx, i, ...) fb_conf_item_problem((ctx), "oidc.clients", (i), __VA_ARGS__)

static const char *const type_names[] = {"confidential", "public", "service"};

/* The grant bits of grant_types, or of the type when none is given. */
static unsigned
grants_of(const struct fb_conf_oidc_client *cl)
{
	unsigned g = 0;

	if (cl->ngrant_types == 0)
		return cl->type == FB_CONF_OIDC_SERVICE
		           ? FB_CONF_OIDC_GRANT_CLIENT
		           : FB_CONF_OIDC_GRANT_CODE | FB_CONF_OIDC_GRANT_REFRESH;
	for (size_t i = 0; i < cl->ngrant_types; i++)
		if (cl->grant_types[i] != NULL)
			g |= strcmp(cl->grant_types[i], "authorization_code") == 0
			         ? FB_CONF_OIDC_GRANT_CODE
			     : strcmp(cl->grant_types[i], "refresh_token") == 0
			         ? FB_CONF_OIDC_GRANT_REFRESH
			         : FB_CONF_OIDC_GRANT_CLIENT;
	return g;
}

enum fb_conf_mtls_method
fb_conf_oidc_client_mtls(const struct fb_conf_oidc_client *cl)
{
	if (cl->tls_thumbprint != NULL || cl->tls_self_signed)
		return FB_CONF_MTLS_SELF_SIGNED;
	if (cl->tls_subject_dn != NULL || cl->tls_san_dns != NULL || cl->tls_san_uri != NULL ||
	    cl->tls_san_email != NULL || cl->tls_san_ip != NULL)
		return FB_CONF_MTLS_PKI;
	return FB_CONF_MTLS_NONE;
}

/*
 * RFC 8705 2: one certificate binding (a subject DN, one SAN, or a
 * thumbprint), for a client with no other way to authenticate.
 */
static void
check_client_tls(struct fb_conf_ctx *ctx, size_t i)
{
	const struct fb_conf_oidc_client *cl = &ctx->conf->oidc_clients[i];
	const struct fb_conf *c = ctx->conf;
	int n = (cl->tls_subject_dn != NULL) + (cl->tls_san_dns != NULL) +
	        (cl->tls_san_uri != NULL) + (cl->tls_san_email != NULL) + (cl->tls_san_ip != NULL) +
	        (cl->tls_thumbprint != NULL) + (cl->tls_self_signed != 0);
	unsigned char ip[16];

	if (n == 0)
		return;
	if (n > 1)
		client_problem(ctx, i, "tls", 1,
		    "one of subject_dn, san_dns, san_uri, san_email, san_ip, thumbprint or "
		    "self_signed: the certificate is matched on one value (RFC 8705 2.1.2)");
	/*
	 * SECURITY: a client bound to a certificate never falls back to another
	 * method; its jwks (self_signed) holds certificates, not assertion keys.
	 */
	if (cl->type == FB_CONF_OIDC_PUBLIC || cl->secret != NULL ||
	    (cl->jwks != NULL && !cl->tls_self_signed))
		client_problem(ctx, i, "tls", 1,
		    "a client that authenticates with a certificate has no secret or jwks (but "
		    "with self_signed), and is not public");
	if (cl->tls_self_signed && cl->jwks == NULL)
		client_problem(ctx, i, "tls.self_signed", 1,
		    "the certificates come from the client's jwks: (x5c or x5t#S256): give one");
	if (cl->tls_san_ip != NULL && inet_pton(AF_INET, cl->tls_san_ip, ip) != 1 &&
	    inet_pton(AF_INET6, cl->tls_san_ip, ip) != 1)
		client_problem(ctx, i, "tls.san_ip", 1, "'%s' is not an IP address",
		    cl->tls_san_ip);
	if (cl->tls_thumbprint != NULL &&
	    (strlen(cl->tls_thumbprint) != 43 ||
	        strspn(cl->tls_thumbprint, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                                   "0123456789-_") != 43))
		client_problem(ctx, i, "tls.thumbprint", 1,
		    "not a SHA-256 thumbprint: base64url of the certificate's DER hash, 43 "
		    "characters (openssl x509 -outform DER | openssl dgst -sha256 -binary | "
		    "basenc --base64url)");
	if (fb_conf_oidc_client_mtls(cl) == FB_CONF_MTLS_PKI && c->oidc_mtls_ca_file == NULL &&
	    c->tls_client_ca == NULL)
		client_problem(ctx, i, "tls", 1,
		    "tls_client_auth verifies the chain: set oidc.mtls.ca_file (or "
		    "server.tls.client_ca)");
	if (c->tls_client_ca == NULL && c->oidc_mtls_header == NULL)
		client_problem(ctx, i, "tls", 1,
		    "no certificate can reach the provider: set server.tls.client_ca (TLS here) "
		    "or oidc.mtls.header (a trusted proxy's)");
}

static void
check_client(struct fb_conf_ctx *ctx, size_t i)
{
	struct fb_conf_oidc_client *cl = &ctx->conf->oidc_clients[i];
	const char *type = type_names[cl->type];
	static const char *const scopes[] = {"openid", "profile", "email", "groups"};
	int has_secret = cl->secret != NULL || cl->secret_hash != NULL;
	int has_keys = cl->jwks != NULL || cl->jwks_json != NULL;

	cl->grants = grants_of(cl);
	if (cl->nscopes == 0 && cl->type != FB_CONF_OIDC_SERVICE) {
		cl->scopes = fb_xcalloc(4, sizeof(*cl->scopes));
		for (size_t s = 0; s < 4; s++)
			cl->scopes[s] = fb_xstrdup(scopes[s]);
		cl->nscopes = 4;
	}
	/* SECURITY: a public client cannot keep a secret; the others must prove who they are. */
	if (cl->type == FB_CONF_OIDC_PUBLIC && (has_secret || has_keys))
		client_problem(ctx, i, has_secret ? "secret" : "jwks", 1,
		    "a public client has no secret (it cannot keep one): remove it, or make the "
		    "client confidential");
	if (cl->type != FB_CONF_OIDC_PUBLIC && !has_secret && !has_keys &&
	    fb_conf_oidc_client_mtls(cl) == FB_CONF_MTLS_NONE)
		client_problem(ctx, i, "type", 1,
		    "a %s client needs a secret (secret: env:NAME), keys (jwks: FILE) or a "
		    "certificate (tls:)",
		    type);
	check_client_tls(ctx, i);
	if (cl->jwks != NULL) {
		char *path = fb_xasprintf("oidc.clients[%zu].jwks", i);

		fb_conf_check_readable(ctx, path, cl->jwks);
		free(path);
	}
	if (cl->secret != NULL && strlen(cl->secret) < 16)
		client_problem(ctx, i, "secret", 1,
		    "the secret is shorter than 16 bytes: use a random value of at least 32");
	if (cl->type == FB_CONF_OIDC_SERVICE && (cl->grants & ~FB_CONF_OIDC_GRANT_CLIENT) != 0)
		client_problem(ctx, i, "grant_types", 1,
		    "a service client signs no one in: client_credentials only");
	if (cl->type == FB_CONF_OIDC_PUBLIC && (cl->grants & FB_CONF_OIDC_GRANT_CLIENT) != 0)
		client_problem(ctx, i, "grant_types", 1,
		    "client_credentials needs a client that can keep a secret (confidential or "
		    "service)");
	if ((cl->grants & FB_CONF_OIDC_GRANT_CODE) != 0 && cl->nredirect_uris == 0)
		client_problem(ctx, i, "redirect_uris", 1,
		    "authorization_code needs at least one redirect URI");
	if ((cl->grants & FB_CONF_OIDC_GRANT_CODE) == 0 && cl->nredirect_uris > 0)
		client_problem(ctx, i, "redirect_uris", 0,
		    "warning: unused: the client has no authorization_code grant");
	if ((cl->grants & FB_CONF_OIDC_GRANT_REFRESH) != 0 &&
	    (cl->grants & FB_CONF_OIDC_GRANT_CODE) == 0)
		client_problem(ctx, i, "grant_types", 1,
		    "refresh_token comes with authorization_code (a refresh token is issued for a "
		    "sign-in)");
	if ((cl->grants & FB_CONF_OIDC_GRANT_REFRESH) != 0 && cl->refresh_token_lifetime == 0)
		client_problem(ctx, i, "refresh_token_lifetime", 1,
		    "refresh_token is allowed but the lifetime is 0");
	for (size_t o = 0; o < cl->ncors_origins; o++) {
		const char *v = cl->cors_origins[o], *host = v != NULL ? strstr(v, "://") : NULL;

		if (host != NULL && strchr(host + 3, '/') != NULL) {
			char *list = fb_xasprintf("oidc.clients[%zu].cors_origins", i);

			fb_conf_item_problem(ctx, list, o, NULL, 1,
			    "'%s' is not an origin: scheme://host[:port], without a path", v);
			free(list);
		}
	}
	for (size_t c = 0; c < cl->nclaims; c++) {
		char *list = fb_xasprintf("oidc.clients[%zu].claims", i);

		fb_conf_check_mapping_file(ctx, list, c, "mapping", cl->claims[c].mapping);
		for (size_t d = 0; d < c && cl->claims[c].name != NULL; d++)
			if (cl->claims[d].name != NULL &&
			    strcmp(cl->claims[d].name, cl->claims[c].name) == 0) {
				fb_conf_item_problem(ctx, list, c, "name", 1,
				    "duplicate claim '%s' (also claims[%zu])", cl->claims[c].name,
				    d);
				break;
			}
		free(list);
	}
	for (size_t j = 0; j < i && cl->id != NULL; j++)
		if (ctx->conf->oidc_clients[j].id != NULL &&
		    strcmp(ctx->conf->oidc_clients[j].id, cl->id) == 0) {
			client_problem(ctx, i, "id", 1,
			    "duplicate client '%s' (also oidc.clients[%zu])", cl->id, j);
			break;
		}
}

void
fb_conf_check_oidc(struct fb_conf_ctx *ctx)
{
	const struct fb_conf *c = ctx->conf;

	if (c->oidc_mtls_ca_file != NULL)
		fb_conf_check_readable(ctx, "oidc.mtls.ca_file", c->oidc_mtls_ca_file);
	if (c->oidc_mtls_header != NULL && c->ntrusted_proxies == 0) {
		struct fb_conf_place pl;

		fb_conf_place_of(ctx, "oidc.mtls.header", &pl);
		fb_conf_problem(ctx, &pl, "oidc.mtls.header", 0,
		    "no server.trusted_proxies: the header is read from a trusted proxy only, so "
		    "never");
	}

	for (size_t i = 0; i < c->noidc_clients; i++)
		check_client(ctx, i);
}

enum fb_status
fb_conf_oidc_client_parse(const json_t *spec, const char *secret_hash, const char *jwks_json,
    const char *mappings_dir, const char *name, struct fb_conf_oidc_client *out,
    struct fb_conf_report **report, struct fb_err *err)
{
	struct fb_conf_report *rep = fb_xcalloc(1, sizeof(*rep));
	struct fb_conf_ctx ctx;
	enum fb_status r = FB_OK;
	json_t *root;

	memset(out, 0, sizeof(*out));
	memset(&ctx, 0, sizeof(ctx));
	ctx.name = name != NULL ? name : "(store)";
	ctx.cwd = fb_xstrdup("/");
	ctx.basedir = fb_xstrdup("/");
	ctx.keypos = json_object();
	ctx.valpos = json_object();
	ctx.rep = rep;
	ctx.conf = fb_xcalloc(1, sizeof(*ctx.conf));
	fb_conf_keys_defaults(&ctx);
	free(ctx.conf->mappings_dir);
	ctx.conf->mappings_dir = mappings_dir != NULL ? fb_xstrdup(mappings_dir) : NULL;
	if (!json_is_object(spec)) {
		fb_conf_problem(&ctx, NULL, NULL, 1, "a client is a JSON object");
	} else if (json_object_get(spec, "secret") != NULL ||
	           json_object_get(spec, "jwks") != NULL) {
		/* SECURITY: a stored client's secret is kept as its hash only, its keys inline. */
		fb_conf_problem(&ctx, NULL, NULL, 1, "secret and jwks are not part of the spec");
	} else {
		root = json_pack("{s:{s:[O]}}", "oidc", "clients", spec);
		fb_conf_keys_walk(&ctx, root);
		json_decref(root);
		if (ctx.conf->noidc_clients == 1) {
			struct fb_conf_oidc_client *cl = &ctx.conf->oidc_clients[0];

			cl->secret_hash = secret_hash != NULL ? fb_xstrdup(secret_hash) : NULL;
			cl->jwks_json = jwks_json != NULL ? fb_xstrdup(jwks_json) : NULL;
			check_client(&ctx, 0);
		} else if (rep->nerrors == 0) {
			fb_conf_problem(&ctx, NULL, NULL, 1, "no client was read");
		}
	}
	if (rep->nerrors > 0) {
		for (size_t i = 0; i < rep->n; i++)
			if (rep->e[i].is_error) {
				r = fb_err_set(err, FB_ERR_CONFIG, "%s", rep->e[i].text);
				break;
			}
	} else {
		*out = ctx.conf->oidc_clients[0];
		memset(&ctx.conf->oidc_clients[0], 0, sizeof(*out));
	}
	if (report != NULL)
		*report = rep;
	else
		fb_conf_report_free(rep);
	fb_conf_free(ctx.conf);
	json_decref(ctx.keypos);
	json_decref(ctx.valpos);
	free(ctx.basedir);
	free(ctx.cwd);
	return r;
}
