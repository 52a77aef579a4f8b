/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli/oidc.c: fedbroker oidc client list|show|add|remove: the OpenID
 * provider's clients, configured (oidc.clients) or kept in the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "map/map.h"
#include "oidc/oidc.h"
#include "store/store.h"
#include "cli/cli.h"

static const char usage_oidc[] =
    "usage: fedbroker oidc <command> [options]\n"
    "\n"
    "The OpenID provider (oidc: in the configuration).\n"
    "\n"
    "commands:\n"
    "  client   the provider's clients: what each may do, which key signs its tokens\n"
    "  consent  the consents users gave third-party clients\n"
    "\n"
    "'fedbroker oidc <command> --help' describes a command.\n";

static const char usage_client[] =
    "usage: fedbroker oidc client <command> [options]\n"
    "\n"
    "The OpenID provider's clients: those of oidc.clients in the configuration and\n"
    "those kept in the store (added here, seen by every replica without a reload).\n"
    "What each may do and which key signs its tokens. Secrets are never printed.\n"
    "\n"
    "commands:\n"
    "  list     one line per client: id, source, type, signing algorithm, grants\n"
    "  show     one client in full\n"
    "  add      add a client to the store\n"
    "  remove   remove a client from the store and revoke what it was issued\n"
    "\n"
    "'fedbroker oidc client <command> --help' describes a command.\n";

static const char usage_list[] =
    "usage: fedbroker oidc client list [--json] [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Prints ID SOURCE TYPE ALG GRANTS for each client: SOURCE is config (oidc.clients)\n"
    "or store (fedbroker oidc client add); a stored client whose id the\n"
    "configuration also has is listed as store-shadowed (the configuration wins).\n"
    "\n"
    "      --json           print a JSON array instead of a table\n" FB_CLI_HELP_CONFIG
        FB_CLI_HELP_HELP;

static const char usage_show[] =
    "usage: fedbroker oidc client show ID [--json] [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Prints client ID (of oidc.clients, else of the store): its source, type, how\n"
    "it authenticates (a secret is shown as set, never its value), redirect URIs,\n"
    "grants, scopes, groups, lifetimes, mapped claims, and the key of the keyring\n"
    "that signs its tokens.\n"
    "\n"
    "      --json           print JSON instead of text\n" FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP;

static const char usage_add[] =
    "usage: fedbroker oidc client add --id ID [--type confidential|public|service]\n"
    "           [--redirect-uri URI]... [--post-logout-redirect-uri URI]...\n"
    "           [--grant-type GRANT]... [--scope SCOPE]... [--group GROUP]...\n"
    "           [--signing-alg ES256|RS256] [--introspect own|any]\n"
    "           [--name NAME] [--third-party] [--consent-lifetime DURATION]\n"
    "           [--secret-file FILE | --generate-secret] [--jwks FILE]\n"
    "           [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Adds a client to the store: every replica's provider knows it within 5 s,\n"
    "without a reload. The values are checked as the oidc.clients keys of the same\n"
    "names are (fedbroker.yaml(5)); nothing is stored when one is wrong. An id of\n"
    "oidc.clients is refused (the configuration would win). Only the SHA-256 of the\n"
    "secret is stored: a generated secret is printed once, store it now.\n"
    "\n"
    "      --id ID                     the client_id (1..128 of A-Z a-z 0-9 . _ : -)\n"
    "      --type TYPE                 confidential (default), public or service\n"
    "      --redirect-uri URI          an exact redirect URI (repeat for more)\n"
    "      --post-logout-redirect-uri URI  a URI logout may return to (repeat)\n"
    "      --grant-type GRANT          authorization_code, refresh_token or\n"
    "                                  client_credentials (repeat; default by type)\n"
    "      --scope SCOPE               a scope it may ask for (repeat)\n"
    "      --group GROUP               a group whose members may use it (repeat)\n"
    "      --signing-alg ALG           ES256 (default) or RS256\n"
    "      --introspect own|any        any: a resource server that may introspect\n"
    "                                  every token (default own)\n"
    "      --name NAME                 the name the consent page shows (default the id)\n"
    "      --third-party               ask the user's consent before the first sign-in\n"
    "                                  and when it asks for more scopes (first_party:\n"
    "                                  false; default: a first-party client, no page)\n"
    "      --consent-lifetime DURATION how long a consent is remembered (default 90d)\n"
    "      --secret-file FILE          the client secret, read from FILE\n"
    "      --generate-secret           generate a secret and print it once\n"
    "      --jwks FILE                 its public keys (a JWKS) for "
    "private_key_jwt\n" FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP;

static const char usage_remove[] =
    "usage: fedbroker oidc client remove ID [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Removes client ID from the store and revokes its codes, refresh tokens and the\n"
    "access tokens issued with them, at once. Every replica refuses the client\n"
    "within 5 s. A client of oidc.clients is removed from the configuration instead.\n"
    "\n" FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP;

static const char usage_consent[] =
    "usage: fedbroker oidc consent <command> [options]\n"
    "\n"
    "What users allowed third-party clients (oidc.clients[].first_party: false) on\n"
    "the consent page.\n"
    "\n"
    "commands:\n"
    "  revoke   forget a user's consent to a client: the next sign-in asks again\n"
    "\n"
    "'fedbroker oidc consent <command> --help' describes a command.\n";

static const char usage_consent_revoke[] =
    "usage: fedbroker oidc consent revoke --user USERNAME --client ID [--config FILE]\n"
    "           [--state-dir DIR]\n"
    "\n"
    "Forgets the consent USERNAME gave client ID: its next authorization request shows\n"
    "the consent page again (every replica at once). Tokens issued already stay\n"
    "valid until they expire; revoke them with the client's revocation endpoint.\n"
    "Exits 1 when there was no consent to forget.\n"
    "\n"
    "      --user USERNAME     the user (fedbroker user list)\n"
    "      --client ID         the client_id\n" FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP;

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
	if (cl->secret != NULL || cl->secret_hash != NULL) {
		json_array_append_new(auth, json_string("client_secret_basic"));
		json_array_append_new(auth, json_string("client_secret_post"));
	}
	if ((cl->jwks != NULL || cl->jwks_json != NULL) &&
	    fb_conf_oidc_client_mtls(cl) == FB_CONF_MTLS_NONE)
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

enum fb_status
fb_cli_oidc_op_open(const struct fb_cli_ctx *x, struct fb_oidc_op **op, struct fb_map_set **maps,
    struct fb_err *err)
{
	json_t *errors = NULL;
	enum fb_status r;

	*maps = NULL;
	if (x->conf->mappings_dir != NULL)
		(void)fb_map_set_load_usable(x->conf->mappings_dir, maps, &errors, NULL);
	json_decref(errors);
	if ((r = fb_oidc_op_new(x->conf, x->kr, *maps, op, err)) == FB_OK)
		fb_oidc_op_store_set(*op, x->st);
	return r;
}

/*
 * The stored client row as oidc.clients reads it, into *out (cleanup with
 * fb_conf_oidc_client_cleanup). FB_ERR_CONFIG when it is unusable.
 */
static enum fb_status
stored_parse(const struct fb_conf *conf, const struct fb_store_oidc_client *row,
    struct fb_conf_oidc_client *out, struct fb_err *err)
{
	json_t *spec = json_loads(row->spec, JSON_REJECT_DUPLICATES, NULL);
	enum fb_status r;

	r = fb_conf_oidc_client_parse(spec, row->secret_hash, row->jwks, conf->mappings_dir,
	    row->id, out, NULL, err);
	json_decref(spec);
	return r;
}

/* What stored_append adds to. */
struct stored_list {
	const struct fb_conf *conf;
	json_t *arr;
};

/* Appends a stored client's JSON (its source: store, or store-shadowed). */
static int
stored_append(const struct fb_store_oidc_client *row, void *arg)
{
	struct stored_list *sl = arg;
	struct fb_conf_oidc_client cl;
	struct fb_err err = {0};
	json_t *c;

	if (stored_parse(sl->conf, row, &cl, &err) == FB_OK) {
		c = client_json(&cl);
		fb_conf_oidc_client_cleanup(&cl);
	} else {
		c = json_pack("{s:s, s:[], s:s}", "id", row->id, "grant_types", "problem", err.msg);
	}
	json_object_set_new(c, "source",
	    json_string(
	        fb_conf_oidc_client_find(sl->conf, row->id) != NULL ? "store-shadowed" : "store"));
	json_array_append_new(sl->arr, c);
	return 0;
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
	struct stored_list sl;
	struct fb_cli_ctx x;
	struct fb_err err = {0};
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0 ||
	    (rc = fb_cli_ctx_open(&co, FB_CLI_STORE_IF_THERE, &x)) != FB_EXIT_OK) {
		json_decref(arr);
		return rc;
	}
	for (size_t i = 0; i < x.conf->noidc_clients; i++) {
		json_t *c = client_json(&x.conf->oidc_clients[i]);

		json_object_set_new(c, "source", json_string("config"));
		json_array_append_new(arr, c);
	}
	sl.conf = x.conf;
	sl.arr = arr;
	if (x.st != NULL && fb_store_oidc_client_list(x.st, stored_append, &sl, &err) != FB_OK) {
		rc = fb_cli_error(&err);
		goto out;
	}
	if (json) {
		rc = fb_cli_json_print(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	} else {
		size_t i;
		const json_t *c;

		printf("%-24s  %-14s  %-12s  %-5s  %s\n", "ID", "SOURCE", "TYPE", "ALG", "GRANTS");
		json_array_foreach(arr, i, c) {
			const char *type = json_string_value(json_object_get(c, "type"));
			const char *alg = json_string_value(json_object_get(c, "signing_alg"));

			printf("%-24s  %-14s  %-12s  %-5s  %s\n",
			    json_string_value(json_object_get(c, "id")),
			    json_string_value(json_object_get(c, "source")),
			    type != NULL ? type : "(unusable)", alg != NULL ? alg : "-",
			    joined(json_object_get(c, "grant_types")));
		}
	}
out:
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
	struct fb_conf_oidc_client stored = {0};
	struct fb_store_oidc_client row = {0};
	struct fb_map_set *maps = NULL;
	struct fb_oidc_op *op = NULL;
	json_t *o = NULL;
	struct fb_cli_ctx x;
	struct fb_err err = {0};
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0 ||
	    (rc = fb_cli_ctx_open(&co, FB_CLI_KEYRING | FB_CLI_STORE_IF_THERE, &x)) != FB_EXIT_OK)
		return rc;
	if ((cl = fb_conf_oidc_client_find(x.conf, id)) == NULL) {
		enum fb_status r =
		    x.st != NULL ? fb_store_oidc_client_get(x.st, id, &row, &err) : FB_ERR_NOTFOUND;

		if (r == FB_ERR_NOTFOUND) {
			fprintf(stderr,
			    "fedbroker oidc client show: no client '%s' in oidc.clients or the "
			    "store\n",
			    id);
			rc = FB_EXIT_FAIL;
			goto out;
		}
		if (r != FB_OK || stored_parse(x.conf, &row, &stored, &err) != FB_OK) {
			rc = fb_cli_error(&err);
			goto out;
		}
		cl = &stored;
	}
	if (fb_cli_oidc_op_open(&x, &op, &maps, &err) != FB_OK) {
		rc = fb_cli_error(&err);
		goto out;
	}
	o = client_json(cl);
	json_object_set_new(o, "source", json_string(cl == &stored ? "store" : "config"));
	json_object_set_new(o, "name", json_string(cl->name != NULL ? cl->name : cl->id));
	json_object_set_new(o, "first_party", json_boolean(cl->first_party));
	json_object_set_new(o, "consent_lifetime", json_integer((json_int_t)cl->consent_lifetime));
	json_object_set_new(o, "signing_key", json_string(fb_oidc_op_client_key(op, id)));
	json_object_set_new(o, "issuer", json_string(fb_oidc_op_issuer(op)));
	if (json) {
		rc = fb_cli_json_print(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	} else {
		static const char *const rows[] = {"id", "source", "type", "auth_methods",
		    "grant_types", "redirect_uris", "post_logout_redirect_uris", "scopes", "groups",
		    "require_pkce", "signing_alg", "signing_key", "access_token_lifetime",
		    "id_token_lifetime", "refresh_token_lifetime", "name", "first_party",
		    "consent_lifetime", "issuer", NULL};

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
	fb_conf_oidc_client_cleanup(&stored);
	fb_store_oidc_client_cleanup(&row);
	fb_oidc_op_free(op);
	fb_map_set_free(maps);
	fb_cli_ctx_close(&x);
	return rc;
}

/* The JWKS in file, checked (RSA or EC signature keys), compact; new in *out. */
static enum fb_status
jwks_read(const char *file, char **out, struct fb_err *err)
{
	json_error_t je;
	json_t *doc = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
	struct fb_oidc_jwks *keys = NULL;
	enum fb_status r;
	size_t n = 0;

	*out = NULL;
	if (doc == NULL)
		return fb_err_set(err, FB_ERR_INVALID, "--jwks %s: %s (line %d)", file, je.text,
		    je.line);
	*out = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if ((r = fb_oidc_jwks_parse(*out, strlen(*out), &keys, err)) == FB_OK &&
	    (n = fb_oidc_jwks_count(keys)) == 0)
		r = fb_err_set(err, FB_ERR_INVALID, "no RSA or EC signature key");
	fb_oidc_jwks_free(keys);
	if (r != FB_OK) {
		fb_err_prefix(err, "--jwks %s: ", file);
		free(*out);
		*out = NULL;
	}
	return r == FB_OK ? r : FB_ERR_INVALID;
}

/* spec[key] = the n strings of v, when n > 0. */
static void
spec_list(json_t *spec, const char *key, const char *const *v, int n)
{
	if (n > 0)
		json_object_set_new(spec, key, strs((char *const *)v, (size_t)n));
}

static int
client_add(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *id = NULL, *type = NULL, *alg = NULL, *introspect = NULL;
	const char *secret_file = NULL, *jwks_file = NULL, *name = NULL, *consent_lifetime = NULL;
	const char *redirects[FB_CLI_MANY_MAX], *logouts[FB_CLI_MANY_MAX];
	const char *grants[FB_CLI_MANY_MAX], *scopes[FB_CLI_MANY_MAX], *groups[FB_CLI_MANY_MAX];
	int nredirects = 0, nlogouts = 0, ngrants = 0, nscopes = 0, ngroups = 0, generate = 0;
	int third_party = 0;
	const struct fb_cli_option opts[] = {
	    {"id", 0, &id, NULL},
	    {"type", 0, &type, NULL},
	    {"redirect-uri", 0, redirects, &nredirects},
	    {"post-logout-redirect-uri", 0, logouts, &nlogouts},
	    {"grant-type", 0, grants, &ngrants},
	    {"scope", 0, scopes, &nscopes},
	    {"group", 0, groups, &ngroups},
	    {"signing-alg", 0, &alg, NULL},
	    {"introspect", 0, &introspect, NULL},
	    {"secret-file", 0, &secret_file, NULL},
	    {"generate-secret", 0, NULL, &generate},
	    {"jwks", 0, &jwks_file, NULL},
	    {"name", 0, &name, NULL},
	    {"third-party", 0, NULL, &third_party},
	    {"consent-lifetime", 0, &consent_lifetime, NULL},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"oidc client add", usage_add, &co, opts, NULL, NULL};
	char hash[FB_OIDC_SECRET_HASH_LEN], *secret = NULL, *ref = NULL, *jwks = NULL;
	struct fb_store_oidc_client row = {0};
	struct fb_conf_oidc_client cl = {0};
	struct fb_conf_report *rep = NULL;
	struct fb_keyring *kr = NULL;
	struct fb_err kerr = {0};
	json_t *spec = json_object();
	struct fb_cli_ctx x = {0};
	struct fb_err err = {0};
	enum fb_status r;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		goto done;
	rc = FB_EXIT_USAGE;
	if (id == NULL) {
		fb_cli_usage_error(syntax.cmd, "--id ID is required");
		goto done;
	}
	if (secret_file != NULL && generate) {
		fb_cli_usage_error(syntax.cmd,
		    "--secret-file and --generate-secret: one or the other");
		goto done;
	}
	/* The spec: what oidc.clients[] would hold, by the same key names. */
	json_object_set_new(spec, "id", json_string(id));
	if (type != NULL)
		json_object_set_new(spec, "type", json_string(type));
	if (alg != NULL)
		json_object_set_new(spec, "signing_alg", json_string(alg));
	if (introspect != NULL)
		json_object_set_new(spec, "introspect", json_string(introspect));
	if (name != NULL)
		json_object_set_new(spec, "name", json_string(name));
	if (third_party)
		json_object_set_new(spec, "first_party", json_false());
	if (consent_lifetime != NULL)
		json_object_set_new(spec, "consent_lifetime", json_string(consent_lifetime));
	spec_list(spec, "redirect_uris", redirects, nredirects);
	spec_list(spec, "post_logout_redirect_uris", logouts, nlogouts);
	spec_list(spec, "grant_types", grants, ngrants);
	spec_list(spec, "scopes", scopes, nscopes);
	spec_list(spec, "groups", groups, ngroups);
	if ((rc = fb_cli_ctx_open(&co, FB_CLI_STORE, &x)) != FB_EXIT_OK)
		goto done;
	rc = FB_EXIT_FAIL;
	if (fb_conf_oidc_client_find(x.conf, id) != NULL) {
		fprintf(stderr,
		    "fedbroker oidc client add: client '%s' is in oidc.clients of the "
		    "configuration, "
		    "which wins: choose another id\n",
		    id);
		goto done;
	}
	if (secret_file != NULL) {
		ref = fb_xasprintf("file:%s", secret_file);
		if (fb_conf_secret_resolve(ref, &secret, &err) != FB_OK) {
			fb_err_prefix(&err, "--secret-file: ");
			rc = fb_cli_error(&err);
			goto done;
		}
	} else if (generate) {
		secret = fb_rand_token(32);
		fb_log_secret_add(secret); /* SECURITY: printed once on stdout, never logged */
	}
	if (secret != NULL)
		fb_oidc_secret_hash(secret, hash);
	if (jwks_file != NULL && jwks_read(jwks_file, &jwks, &err) != FB_OK) {
		rc = fb_cli_error(&err);
		goto done;
	}
	/* The checks of the configuration's oidc.clients, by the same code. */
	if (fb_conf_oidc_client_parse(spec, secret != NULL ? hash : NULL, jwks,
	        x.conf->mappings_dir, "oidc client add", &cl, &rep, &err) != FB_OK) {
		for (size_t i = 0; i < fb_conf_report_count(rep); i++)
			if (fb_conf_report_is_error(rep, i))
				fprintf(stderr, "fedbroker: %s\n", fb_conf_report_line(rep, i));
		fprintf(stderr, "fedbroker oidc client add: nothing was stored\n");
		goto done;
	}
	/* A client no key can sign for would be refused at every request: say it now. */
	if (fb_crypto_keyring_load_existing(x.conf, &kr, &kerr) == FB_OK) {
		const char *want = cl.signing_alg == FB_CONF_OIDC_RS256 ? "RS256" : "ES256";

		if (fb_oidc_keyring_key(kr, want) == NULL) {
			fprintf(stderr,
			    "fedbroker oidc client add: signing_alg %s needs a%s key in the "
			    "keyring "
			    "(active or published) and it has none: add one (fedbroker keys "
			    "generate --type %s, or keys:) or use --signing-alg %s\n",
			    want, strcmp(want, "ES256") == 0 ? "n EC P-256" : "n RSA",
			    strcmp(want, "ES256") == 0 ? "ec" : "rsa",
			    strcmp(want, "ES256") == 0 ? "RS256" : "ES256");
			goto done;
		}
	}
	if (secret != NULL && strlen(secret) < 16) {
		fprintf(stderr,
		    "fedbroker oidc client add: --secret-file: the secret is shorter than "
		    "16 bytes: use a random value of at least 32 (or --generate-secret)\n");
		goto done;
	}
	row.id = (char *)id;
	row.spec = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
	row.secret_hash = secret != NULL ? hash : NULL;
	row.jwks = jwks;
	r = fb_store_oidc_client_add(x.st, &row, &err);
	free(row.spec);
	if (r == FB_ERR_REPLAY) {
		fprintf(stderr,
		    "fedbroker oidc client add: client '%s' exists in the store (fedbroker oidc "
		    "client remove %s first)\n",
		    id, id);
		goto done;
	}
	if (r != FB_OK) {
		rc = fb_cli_error(&err);
		goto done;
	}
	fb_cli_audit(&x, "oidc_client_added", FB_LOG_FIELDS(FB_LOG_STR("client", id)),
	    "OpenID client added to the store");
	printf("client %s added to the store (every replica knows it within 5 s)\n", id);
	if (generate) {
		printf("client_secret: %s\n", secret);
		fprintf(stderr, "the secret is shown once: store it now (only its hash is kept)\n");
	}
	rc = FB_EXIT_OK;
done:
	fb_crypto_keyring_free(kr);
	fb_conf_report_free(rep);
	fb_conf_oidc_client_cleanup(&cl);
	fb_secret_free(secret);
	free(ref);
	free(jwks);
	json_decref(spec);
	fb_cli_ctx_close(&x);
	return rc;
}

static int
client_remove(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *id = NULL;
	const struct fb_cli_syntax syntax = {"oidc client remove", usage_remove, &co, NULL, &id,
	    "which client? (fedbroker oidc client remove ID)"};
	struct fb_cli_ctx x;
	struct fb_err err = {0};
	enum fb_status r;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0 ||
	    (rc = fb_cli_ctx_open(&co, FB_CLI_STORE, &x)) != FB_EXIT_OK)
		return rc;
	r = fb_store_oidc_client_remove(x.st, id, &err);
	if (r == FB_ERR_NOTFOUND) {
		fprintf(stderr, "fedbroker oidc client remove: no client '%s' in the store%s\n", id,
		    fb_conf_oidc_client_find(x.conf, id) != NULL
		        ? " (it is in oidc.clients: remove it from the configuration)"
		        : "");
		rc = FB_EXIT_FAIL;
	} else if (r != FB_OK) {
		rc = fb_cli_error(&err);
	} else {
		fb_cli_audit(&x, "oidc_client_removed", FB_LOG_FIELDS(FB_LOG_STR("client", id)),
		    "OpenID client removed from the store, its grants revoked");
		printf("client %s removed; its codes and refresh tokens are revoked (every replica "
		       "refuses it within 5 s)\n",
		    id);
		rc = FB_EXIT_OK;
	}
	fb_cli_ctx_close(&x);
	return rc;
}

static int
oidc_client(int argc, char **argv)
{
	static const struct fb_cli_command table[] = {
	    {"list", client_list},
	    {"show", client_show},
	    {"add", client_add},
	    {"remove", client_remove},
	    {NULL, NULL},
	};

	return fb_cli_dispatch(argc, argv, usage_client, table);
}

static int
consent_revoke(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *user = NULL, *client = NULL;
	const struct fb_cli_option opts[] = {
	    {"user", 0, &user, NULL},
	    {"client", 0, &client, NULL},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"oidc consent revoke", usage_consent_revoke, &co, opts,
	    NULL, NULL};
	struct fb_store_user u = {0};
	struct fb_cli_ctx x;
	struct fb_err err = {0};
	enum fb_status r;
	int rc, found = 0;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (user == NULL || client == NULL) {
		fb_cli_usage_error(syntax.cmd, "--user USERNAME and --client ID are required");
		return FB_EXIT_USAGE;
	}
	if ((rc = fb_cli_ctx_open(&co, FB_CLI_STORE, &x)) != FB_EXIT_OK)
		return rc;
	r = fb_store_user_get(x.st, user, &u, &err);
	if (r == FB_ERR_NOTFOUND) {
		fprintf(stderr, "fedbroker oidc consent revoke: no user '%s'\n", user);
		rc = FB_EXIT_FAIL;
		goto out;
	}
	if (r != FB_OK ||
	    (r = fb_oidc_op_consent_revoke(x.st, u.id, client, &found, &err)) != FB_OK) {
		rc = fb_cli_error(&err);
		goto out;
	}
	if (!found) {
		fprintf(stderr,
		    "fedbroker oidc consent revoke: user %s gave client %s no consent\n", user,
		    client);
		rc = FB_EXIT_FAIL;
		goto out;
	}
	fb_cli_audit(&x, "oidc_consent_revoked",
	    FB_LOG_FIELDS(FB_LOG_STR("user", user), FB_LOG_STR("client", client)),
	    "consent to an OpenID client forgotten");
	printf("consent of %s to client %s revoked: the next sign-in asks again\n", user, client);
	rc = FB_EXIT_OK;
out:
	fb_store_user_cleanup(&u);
	fb_cli_ctx_close(&x);
	return rc;
}

static int
oidc_consent(int argc, char **argv)
{
	static const struct fb_cli_command table[] = {
	    {"revoke", consent_revoke},
	    {NULL, NULL},
	};

	return fb_cli_dispatch(argc, argv, usage_consent, table);
}

int
fb_cli_oidc(int argc, char **argv)
{
	static const struct fb_cli_command table[] = {
	    {"client", oidc_client},
	    {"consent", oidc_consent},
	    {NULL, NULL},
	};

	return fb_cli_dispatch(argc, argv, usage_oidc, table);
}
