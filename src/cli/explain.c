/* SPDX-License-Identifier: Apache-2.0 */
/* cli/explain.c: fedbroker explain: what a user would get at a SAML service provider, and why. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "saml/saml.h"
#include "cli/cli.h"

static const char usage_explain[] =
    "usage: fedbroker explain --user NAME --sp SP [--json] [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Shows, without a browser, what user NAME would get when signing in to the\n"
    "SAML service provider SP (its name in saml.service_providers) and why: the\n"
    "user's groups and merged group attributes, whether a group lets the user in,\n"
    "the NameID, each attribute's mapping and its values (or the mapping's error\n"
    "with file:line:column), the AWS checks with their verdicts, and the\n"
    "Assertion XML that would be signed and sent. Nothing is written: a\n"
    "persistent NameID not yet created is shown as it would be.\n"
    "\n"
    "Exit status: 0 when a response would be sent, 1 when the sign-in would be\n"
    "refused (or the user or SP does not exist), 2 on a bad command line.\n"
    "\n"
    "  -u, --user NAME      the account (as signed in: local or from an upstream)\n"
    "  -s, --sp SP          the service provider's name\n"
    "      --json           print the whole explanation as JSON\n"
    "  -c, --config FILE    configuration file (default $FEDBROKER_CONFIG, else built-in)\n"
    "      --state-dir DIR  state directory (overrides server.state_dir)\n"
    "  -h, --help           this help\n";

enum {
	OPT_STATE_DIR = 256,
	OPT_JSON,
};

static int usage_error(const char *fmt, ...) FB_PRINTF(1, 2);

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fedbroker explain: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see 'fedbroker explain --help')\n");
	return FB_EXIT_USAGE;
}

static const char *
jstr(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : dflt;
}

/* A JSON value on one line (strings quoted), new. */
static char *
compact(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);

	return s != NULL ? s : fb_xstrdup("?");
}

/* The unknown SP's message, with the nearest configured name as a suggestion. */
static void
unknown_sp(const struct fb_saml_idp *idp, const char *name, struct fb_err *err)
{
	const char *best = NULL;
	int bestd = 4;

	for (size_t i = 0; i < fb_saml_idp_sp_count(idp); i++) {
		const char *n = fb_saml_sp_name(fb_saml_idp_sp_at(idp, i));
		int d = fb_str_distance(n, name);

		if (d < bestd) {
			bestd = d;
			best = n;
		}
	}
	if (fb_saml_idp_sp_count(idp) == 0)
		fb_err_set(err, FB_ERR_NOTFOUND,
		    "--sp %s: the configuration declares no saml.service_providers", name);
	else if (best != NULL)
		fb_err_set(err, FB_ERR_NOTFOUND,
		    "--sp %s: no such service provider (did you mean '%s'?)", name, best);
	else
		fb_err_set(err, FB_ERR_NOTFOUND,
		    "--sp %s: no such service provider in saml.service_providers", name);
}

static void
print_human(const json_t *x)
{
	const json_t *sp = json_object_get(x, "sp"), *user = json_object_get(x, "user");
	const json_t *arr, *e, *v, *nid = json_object_get(x, "nameid");
	const char *k;
	size_t i, j;
	char *s;

	printf("user:        %s", jstr(user, "username", "?"));
	if (json_is_string(json_object_get(user, "name")) ||
	    json_is_string(json_object_get(user, "email")))
		printf(" (%s%s%s)", jstr(user, "name", ""),
		    json_is_string(json_object_get(user, "name")) &&
			    json_is_string(json_object_get(user, "email"))
			? ", "
			: "",
		    jstr(user, "email", ""));
	printf("\n");
	printf("SP:          %s (%s), profile %s\n", jstr(sp, "name", "?"),
	    jstr(sp, "entity_id", "?"), jstr(sp, "profile", "generic"));
	arr = json_object_get(sp, "acs");
	json_array_foreach(arr, i, e)
	{
		if (json_is_true(json_object_get(e, "default")) || json_array_size(arr) == 1)
			printf("ACS:         %s (IdP-initiated responses go here)\n",
			    jstr(e, "url", "?"));
	}
	arr = json_object_get(x, "groups");
	printf("groups:      ");
	if (json_array_size(arr) == 0)
		printf("(none)");
	json_array_foreach(arr, i, e)
	{
		printf("%s%s", i > 0 ? ", " : "", json_string_value(e));
	}
	printf("\n");
	arr = json_object_get(sp, "groups");
	if (json_array_size(arr) == 0)
		printf("allowed:     %s (the SP lists no groups: everyone may use it)\n",
		    json_is_true(json_object_get(x, "allowed")) ? "yes" : "no");
	else {
		printf("allowed:     %s (members of ",
		    json_is_true(json_object_get(x, "allowed")) ? "yes" : "NO");
		json_array_foreach(arr, i, e)
		{
			printf("%s%s", i > 0 ? ", " : "", json_string_value(e));
		}
		printf(")\n");
	}
	printf("group attributes:%s\n",
	    json_object_size(json_object_get(x, "group_attributes")) == 0 ? " (none)" : "");
	json_object_foreach(json_object_get(x, "group_attributes"), k, v)
	{
		s = compact(v);
		printf("  %s = %s\n", k, s);
		free(s);
	}
	printf("NameID:      %s %s%s\n", jstr(nid, "format", "?"), jstr(nid, "value", "(none)"),
	    json_is_true(json_object_get(nid, "new")) ? "  (new: created at the first sign-in)"
						       : "");
	printf("attributes:%s\n",
	    json_array_size(json_object_get(x, "attributes")) == 0 ? " (none configured)" : "");
	json_array_foreach(json_object_get(x, "attributes"), i, e)
	{
		printf("  %s  (mapping %s)\n", jstr(e, "name", "?"), jstr(e, "mapping", "?"));
		if (json_is_string(json_object_get(e, "error")))
			printf("    ERROR %s\n", jstr(e, "error", ""));
		else if (json_array_size(json_object_get(e, "values")) == 0)
			printf("    (no value: the attribute is left out)\n");
		json_array_foreach(json_object_get(e, "values"), j, v)
		{
			s = compact(v);
			printf("    %s\n", s);
			free(s);
		}
	}
	arr = json_object_get(x, "checks");
	if (json_array_size(arr) > 0) {
		printf("checks:\n");
		json_array_foreach(arr, i, e)
		{
			int ok = json_is_true(json_object_get(e, "ok"));

			printf("  %-4s %s", ok ? "ok" : "FAIL", jstr(e, "rule", "?"));
			if (json_is_string(json_object_get(e, "attribute")))
				printf(" [%s", jstr(e, "attribute", ""));
			if (json_is_string(json_object_get(e, "mapping")))
				printf("%smapping %s",
				    json_is_string(json_object_get(e, "attribute")) ? ", " : " [",
				    jstr(e, "mapping", ""));
			if (json_is_string(json_object_get(e, "attribute")) ||
			    json_is_string(json_object_get(e, "mapping")))
				printf("]");
			if (json_is_string(json_object_get(e, "message")))
				printf(": %s", jstr(e, "message", ""));
			printf("\n");
		}
	}
	if (json_is_true(json_object_get(x, "ok"))) {
		printf("result:      a signed response would be sent\n");
		printf("\nassertion (before signing):\n%s\n", jstr(x, "assertion", ""));
	} else
		printf("result:      REFUSED: the sign-in would stop with an error page "
		       "(see above)\n");
}

int
fb_cli_explain(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"user", required_argument, NULL, 'u'},
	    {"sp", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"config", required_argument, NULL, 'c'},
	    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct fb_conf_overrides ov = {.listen = NULL, .state_dir = NULL, .workers = -1};
	const char *config = NULL, *username = NULL, *spname = NULL;
	struct fb_store_user user;
	struct fb_saml_idp *idp = NULL;
	struct fb_keyring *kr = NULL;
	struct fb_store *st = NULL;
	struct fb_conf *conf = NULL;
	const struct fb_saml_sp *sp;
	json_t *x = NULL;
	int c, json = 0, rc = FB_EXIT_FAIL, have_user = 0;
	struct fb_err err;
	char *s;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":u:s:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			username = optarg;
			break;
		case 's':
			spname = optarg;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case 'c':
			config = optarg;
			break;
		case OPT_STATE_DIR:
			ov.state_dir = optarg;
			break;
		case 'h':
			fputs(usage_explain, stdout);
			return FB_EXIT_OK;
		case ':':
			return usage_error("%s needs an argument", argv[optind - 1]);
		default:
			if (optopt != 0)
				return usage_error("unknown option -%c", optopt);
			return usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (username == NULL || spname == NULL)
		return usage_error("--user NAME and --sp SP are both required");
	memset(&user, 0, sizeof(user));
	fb_err_clear(&err);
	if (fb_conf_load(config != NULL ? config : fb_cli_default_config(), &ov, &conf, NULL,
		&err) != FB_OK)
		goto out;
	fb_log_setup(conf->log_format, FB_LOG_WARN, 2);
	if (fb_crypto_keyring_load_existing(conf, &kr, &err) != FB_OK) {
		if (err.code == FB_ERR_NOTFOUND)
			fb_err_set(&err, FB_ERR_NOTFOUND,
			    "no signing key in %s/keys yet: start the broker once or run "
			    "'fedbroker keys generate'",
			    conf->state_dir);
		goto out;
	}
	if (fb_saml_idp_new(conf, kr, &idp, &err) != FB_OK)
		goto out;
	if ((sp = fb_saml_idp_sp_get(idp, spname)) == NULL) {
		unknown_sp(idp, spname, &err);
		goto out;
	}
	if (fb_store_open(conf, &st, &err) != FB_OK)
		goto out;
	if (fb_store_user_get(st, username, &user, &err) != FB_OK) {
		if (err.code == FB_ERR_NOTFOUND)
			fb_err_set(&err, FB_ERR_NOTFOUND,
			    "--user %s: no such user (local accounts: 'fedbroker user list'; "
			    "upstream users appear after their first sign-in)",
			    username);
		goto out;
	}
	have_user = 1;
	if (fb_saml_explain(idp, st, sp, &user, &x, &err) != FB_OK)
		goto out;
	if (json) {
		s = json_dumps(x, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("%s\n", s);
		free(s);
	} else
		print_human(x);
	rc = json_is_true(json_object_get(x, "ok")) ? FB_EXIT_OK : FB_EXIT_FAIL;
	json_decref(x);
	x = NULL;
	goto done;
out:
	fb_cli_error(&err);
done:
	if (have_user)
		fb_store_user_cleanup(&user);
	fb_store_close(st);
	fb_saml_idp_free(idp);
	fb_crypto_keyring_free(kr);
	fb_conf_free(conf);
	return rc;
}
