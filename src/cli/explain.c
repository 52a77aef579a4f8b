/* SPDX-License-Identifier: Apache-2.0 */
/* cli/explain.c: fedbroker explain: what a user would get at a SAML service provider, and why. */
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
    "with file:line:column), the AWS checks with their verdicts, and the signed\n"
    "Assertion XML that would be sent, or the reason the sign-in would be\n"
    "refused. Nothing is written: a\n"
    "persistent NameID not yet created is shown as it would be.\n"
    "\n"
    "Exit status: 0 when a response would be sent, 1 when the sign-in would be\n"
    "refused (or the user or SP does not exist), 2 on a bad command line.\n"
    "\n"
    "  -u, --user NAME      the account (as signed in: local or from an upstream)\n"
    "  -s, --sp SP          the service provider's name\n"
    "      --json           print the whole explanation as JSON\n"
    FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP;

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
		/* The label says what the XML below is: signed or not, before any encryption. */
		int unsigned_ = strcmp(jstr(sp, "sign", "both"), "response") == 0;

		printf("result:      a signed response would be sent\n");
		printf("\nassertion (%s%s):\n%s\n",
		    unsigned_ ? "not signed itself: this SP's 'sign: response' signs the Response "
				"around it"
			      : "signed, as the Response would carry it",
		    json_is_true(json_object_get(sp, "encrypt_assertion"))
			? "; shown before it is encrypted for the SP"
			: "",
		    jstr(x, "assertion", ""));
	} else {
		const json_t *ref = json_object_get(x, "refusal");

		printf("result:      REFUSED: the sign-in would stop with an error page\n");
		printf("reason:      %s\n", jstr(ref, "title", "(none given)"));
		if (json_is_string(json_object_get(ref, "detail")))
			printf("detail:      %s\n", jstr(ref, "detail", ""));
		if (json_is_string(json_object_get(ref, "event")))
			printf("audit event: %s\n", jstr(ref, "event", ""));
	}
}

int
fb_cli_explain(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *username = NULL, *spname = NULL;
	int json = 0, rc, have_user = 0;
	const struct fb_cli_option opts[] = {
	    {"user", 'u', &username, NULL},
	    {"sp", 's', &spname, NULL},
	    {"json", 0, NULL, &json},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"explain", usage_explain, &co, opts, NULL, NULL};
	struct fb_store_user user;
	struct fb_saml_idp *idp = NULL;
	const struct fb_saml_sp *sp;
	struct fb_cli_ctx x;
	json_t *ex = NULL;
	struct fb_err err;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (username == NULL || spname == NULL)
		return fb_cli_usage_error(syntax.cmd, "--user NAME and --sp SP are both required");
	if ((rc = fb_cli_ctx_open(&co, FB_CLI_KEYRING | FB_CLI_STORE, &x)) != FB_EXIT_OK)
		return rc;
	rc = FB_EXIT_FAIL;
	memset(&user, 0, sizeof(user));
	fb_err_clear(&err);
	if (fb_saml_idp_new(x.conf, x.kr, &idp, &err) != FB_OK ||
	    fb_cli_sp_get(idp, spname, &sp, &err) != FB_OK)
		goto out;
	if (fb_store_user_get(x.st, username, &user, &err) != FB_OK) {
		if (err.code == FB_ERR_NOTFOUND)
			fb_err_set(&err, FB_ERR_NOTFOUND,
			    "--user %s: no such user (local accounts: 'fedbroker user list'; "
			    "upstream users appear after their first sign-in)",
			    username);
		goto out;
	}
	have_user = 1;
	if (fb_saml_explain(idp, x.st, sp, &user, &ex, &err) != FB_OK)
		goto out;
	if (json)
		fb_cli_json_print(ex, JSON_INDENT(2) | JSON_SORT_KEYS);
	else
		print_human(ex);
	/* The verdict, not the printing: 1 when the sign-in would be refused. */
	rc = json_is_true(json_object_get(ex, "ok")) ? FB_EXIT_OK : FB_EXIT_FAIL;
out:
	if (err.code != FB_OK)
		fb_cli_error(&err);
	json_decref(ex);
	if (have_user)
		fb_store_user_cleanup(&user);
	fb_saml_idp_free(idp);
	fb_cli_ctx_close(&x);
	return rc;
}
