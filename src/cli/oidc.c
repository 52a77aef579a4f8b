/* SPDX-License-Identifier: Apache-2.0 */
/* cli/oidc.c: fedbroker oidc client list|show: the OpenID provider's clients as configured. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "map/map.h"
#include "oidc/oidc.h"
#include "cli/cli.h"

static const char usage_oidc[] =
    "usage: fedbroker oidc <command> [options]\n"
    "\n"
    "The OpenID provider (oidc: in the configuration).\n"
    "\n"
    "commands:\n"
    "  client   the provider's clients: what each may do, which key signs its tokens\n"
    "\n"
    "'fedbroker oidc <command> --help' describes a command.\n";

static const char usage_client[] =
    "usage: fedbroker oidc client <command> [options]\n"
    "\n"
    "The OpenID provider's clients (oidc.clients of the configuration): what each may\n"
    "do and which key signs its tokens. Secrets are never printed.\n"
    "\n"
    "commands:\n"
    "  list     one line per client: id, type, signing algorithm, grants\n"
    "  show     one client in full\n"
    "\n"
    "'fedbroker oidc client <command> --help' describes a command.\n";

static const char usage_list[] =
    "usage: fedbroker oidc client list [--json] [--config FILE]\n"
    "\n"
    "Prints ID TYPE GRANTS ALG for each client of oidc.clients.\n"
    "\n"
    "      --json           print a JSON array instead of a table\n" FB_CLI_HELP_CONFIG
        FB_CLI_HELP_HELP;

static const char usage_show[] =
    "usage: fedbroker oidc client show ID [--json] [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Prints client ID: its type, how it authenticates (a secret is shown as set,\n"
    "never its value), redirect URIs, grants, scopes, groups, lifetimes, mapped\n"
    "claims, and the key of the keyring that signs its tokens.\n"
    "\n"
    "      --json           print JSON instead of text\n" FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP;

static const char *const type_names[] = {"confidential", "public", "service"};

static json_t *
strs(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* What the configuration says of cl, as JSON (never the secret). New. */
static json_t *
client_json(const struct fb_conf_oidc_client *cl)
{
	json_t *grants = json_array(), *claims = json_array();
	json_t *auth = json_array();

	if (cl->grants & FB_CONF_OIDC_GRANT_CODE)
		json_array_append_new(grants, json_string("authorization_code"));
	if (cl->grants & FB_CONF_OIDC_GRANT_REFRESH)
		json_array_append_new(grants, json_string("refresh_token"));
	if (cl->grants & FB_CONF_OIDC_GRANT_CLIENT)
		json_array_append_new(grants, json_string("client_credentials"));
	if (cl->secret != NULL) {
		json_array_append_new(auth, json_string("client_secret_basic"));
		json_array_append_new(auth, json_string("client_secret_post"));
	}
	if (cl->jwks != NULL && fb_conf_oidc_client_mtls(cl) == FB_CONF_MTLS_NONE)
		json_array_append_new(auth, json_string("private_key_jwt"));
	if (fb_conf_oidc_client_mtls(cl) != FB_CONF_MTLS_NONE)
		json_array_append_new(auth,
		    json_string(fb_conf_oidc_client_mtls(cl) == FB_CONF_MTLS_PKI
		                    ? "tls_client_auth"
		                    : "self_signed_tls_client_auth"));
	if (cl->type == FB_CONF_OIDC_PUBLIC)
		json_array_append_new(auth, json_string("none"));
	for (size_t i = 0; i < cl->nclaims; i++)
		json_array_append_new(claims, json_pack("{s:s, s:s}", "name", cl->claims[i].name,
		                                  "mapping", cl->claims[i].mapping));
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:s, s:I, s:I, s:I,"
	                 " s:o}",
	    "id", cl->id, "type", type_names[cl->type], "auth_methods", auth, "grant_types", grants,
	    "redirect_uris", strs(cl->redirect_uris, cl->nredirect_uris),
	    "post_logout_redirect_uris",
	    strs(cl->post_logout_redirect_uris, cl->npost_logout_redirect_uris), "scopes",
	    strs(cl->scopes, cl->nscopes), "groups", strs(cl->groups, cl->ngroups), "claims",
	    claims, "require_pkce", cl->type == FB_CONF_OIDC_PUBLIC || cl->require_pkce,
	    "signing_alg", cl->signing_alg == FB_CONF_OIDC_RS256 ? "RS256" : "ES256",
	    "access_token_lifetime", (json_int_t)cl->access_token_lifetime, "id_token_lifetime",
	    (json_int_t)cl->id_token_lifetime, "refresh_token_lifetime",
	    (json_int_t)cl->refresh_token_lifetime, "jwks",
	    cl->jwks != NULL ? json_string(cl->jwks) : json_null());
}

/* The array a as "a, b" (or "-"), in a static buffer. */
static const char *
joined(const json_t *a)
{
	static char buf[1024];
	size_t i, off = 0;
	const json_t *v;

	buf[0] = '\0';
	json_array_foreach(a, i, v) {
		int n = snprintf(buf + off, sizeof(buf) - off, "%s%s", i > 0 ? ", " : "",
		    json_string_value(v) != NULL ? json_string_value(v) : "?");
		if (n < 0 || (size_t)n >= sizeof(buf) - off)
			break;
		off += (size_t)n;
	}
	return buf[0] != '\0' ? buf : "-";
}

static int
client_list(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	int json = 0;
	const struct fb_cli_option opts[] = {
	    {"json", 0, NULL, &json},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"oidc client list", usage_list, &co, opts, NULL, NULL};
	json_t *arr = json_array();
	struct fb_cli_ctx x;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0 ||
	    (rc = fb_cli_ctx_open(&co, 0, &x)) != FB_EXIT_OK) {
		json_decref(arr);
		return rc;
	}
	for (size_t i = 0; i < x.conf->noidc_clients; i++)
		json_array_append_new(arr, client_json(&x.conf->oidc_clients[i]));
	if (json) {
		rc = fb_cli_json_print(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	} else {
		size_t i;
		const json_t *c;

		printf("%-24s  %-12s  %-5s  %s\n", "ID", "TYPE", "ALG", "GRANTS");
		json_array_foreach(arr, i, c)
			printf("%-24s  %-12s  %-5s  %s\n",
			    json_string_value(json_object_get(c, "id")),
			    json_string_value(json_object_get(c, "type")),
			    json_string_value(json_object_get(c, "signing_alg")),
			    joined(json_object_get(c, "grant_types")));
	}
	json_decref(arr);
	fb_cli_ctx_close(&x);
	return rc;
}

static int
client_show(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *id = NULL;
	int json = 0;
	const struct fb_cli_option opts[] = {
	    {"json", 0, NULL, &json},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"oidc client show", usage_show, &co, opts, &id,
	    "which client? (fedbroker oidc client show ID)"};
	const struct fb_conf_oidc_client *cl;
	struct fb_map_set *maps = NULL;
	struct fb_oidc_op *op = NULL;
	json_t *o = NULL, *errors = NULL;
	struct fb_cli_ctx x;
	struct fb_err err = {0};
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0 ||
	    (rc = fb_cli_ctx_open(&co, FB_CLI_KEYRING, &x)) != FB_EXIT_OK)
		return rc;
	if ((cl = fb_conf_oidc_client_find(x.conf, id)) == NULL) {
		fprintf(stderr, "fedbroker oidc client show: no client '%s' in oidc.clients\n", id);
		rc = FB_EXIT_FAIL;
		goto out;
	}
	if (x.conf->mappings_dir != NULL)
		(void)fb_map_set_load_usable(x.conf->mappings_dir, &maps, &errors, NULL);
	if (fb_oidc_op_new(x.conf, x.kr, maps, &op, &err) != FB_OK) {
		rc = fb_cli_error(&err);
		goto out;
	}
	o = client_json(cl);
	json_object_set_new(o, "signing_key", json_string(fb_oidc_op_client_key(op, id)));
	json_object_set_new(o, "issuer", json_string(fb_oidc_op_issuer(op)));
	if (json) {
		rc = fb_cli_json_print(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	} else {
		static const char *const rows[] = {"id", "type", "auth_methods", "grant_types",
		    "redirect_uris", "post_logout_redirect_uris", "scopes", "groups",
		    "require_pkce", "signing_alg", "signing_key", "access_token_lifetime",
		    "id_token_lifetime", "refresh_token_lifetime", "issuer", NULL};

		for (size_t i = 0; rows[i] != NULL; i++) {
			const json_t *v = json_object_get(o, rows[i]);

			if (json_is_array(v))
				printf("%-26s %s\n", rows[i], joined(v));
			else if (json_is_string(v))
				printf("%-26s %s\n", rows[i], json_string_value(v));
			else if (json_is_integer(v))
				printf("%-26s %lld\n", rows[i], (long long)json_integer_value(v));
			else
				printf("%-26s %s\n", rows[i], json_is_true(v) ? "yes" : "no");
		}
		for (size_t i = 0; i < cl->nclaims; i++)
			printf("%-26s %s (mapping %s)\n", i == 0 ? "claims" : "",
			    cl->claims[i].name, cl->claims[i].mapping);
	}
out:
	json_decref(o);
	json_decref(errors);
	fb_oidc_op_free(op);
	fb_map_set_free(maps);
	fb_cli_ctx_close(&x);
	return rc;
}

static int
oidc_client(int argc, char **argv)
{
	static const struct fb_cli_command table[] = {
	    {"list", client_list},
	    {"show", client_show},
	    {NULL, NULL},
	};

	return fb_cli_dispatch(argc, argv, usage_client, table);
}

int
fb_cli_oidc(int argc, char **argv)
{
	static const struct fb_cli_command table[] = {
	    {"client", oidc_client},
	    {NULL, NULL},
	};

	return fb_cli_dispatch(argc, argv, usage_oidc, table);
}
