/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli/token.c: fedbroker token create|list|revoke: API tokens of local
 * accounts; fedbroker token client: an OpenID service client's access token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "local/local.h"
#include "map/map.h"
#include "oidc/oidc.h"
#include "cli/cli.h"

#define COMMON_OPTS FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP

/* Used when --expires is not given. */
#define DEFAULT_EXPIRES "90d"

static const char usage_token[] =
    "usage: fedbroker token <command> [options]\n"
    "\n"
    "Manages API tokens of local accounts, for the HTTP API to come: no endpoint\n"
    "accepts them yet. Only a hash of each token is stored: the token itself is\n"
    "shown once, when it is created.\n"
    "\n"
    "commands:\n"
    "  create   create a token for a user\n"
    "  list     list the tokens (never their secrets)\n"
    "  revoke   revoke a token by its id\n"
    "  client   print an access token of an OpenID client, for testing\n"
    "\n"
    "'fedbroker token <command> --help' describes a command.\n";

static const char usage_create[] =
    "usage: fedbroker token create --user NAME [--description TEXT] [--expires DURATION]\n"
    "                              [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Creates an API token for a local account and prints it once: store it now.\n"
    "The token expires after DURATION (90d by default; s, m, h or d, or 'never').\n"
    "\n"
    "      --user NAME          the account the token acts as\n"
    "      --description TEXT   what the token is for (shown by 'token list')\n"
    "      --expires DURATION   lifetime, e.g. 30d, 12h; 'never' for no expiry\n" COMMON_OPTS;

static const char usage_list[] =
    "usage: fedbroker token list [--user NAME] [--json] [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Lists the API tokens. Columns: ID USER STATE CREATED EXPIRES DESCRIPTION; STATE\n"
    "is active, expired or revoked.\n"
    "\n"
    "      --user NAME      only this user's tokens\n"
    "      --json           print a JSON array instead of a table\n" COMMON_OPTS;

static const char usage_revoke[] =
    "usage: fedbroker token revoke ID [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Revokes a token: it is refused from now on (every replica sees it at once).\n"
    "\n" COMMON_OPTS;

static const char usage_client[] =
    "usage: fedbroker token client --client ID [--scope SCOPE] [--config FILE]\n"
    "                              [--state-dir DIR]\n"
    "\n"
    "Prints what the OpenID provider's token endpoint returns to client ID for the\n"
    "client_credentials grant (JSON: access_token, token_type, expires_in, scope):\n"
    "an RFC 9068 access token signed by the key that signs the client's tokens, for\n"
    "testing a resource server. The client (of oidc.clients or the store) must be\n"
    "allowed client_credentials; SCOPE, space-separated, must be among its scopes\n"
    "(default: all of them).\n"
    "\n"
    "      --client ID      the client the token is issued to\n"
    "      --scope SCOPE    the scopes asked for\n" COMMON_OPTS;

static int
token_client(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *client = NULL, *scope = NULL;
	const struct fb_cli_option opts[] = {
	    {"client", 0, &client, NULL},
	    {"scope", 0, &scope, NULL},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"token client", usage_client, &co, opts, NULL, NULL};
	struct fb_map_set *maps = NULL;
	struct fb_oidc_op *op = NULL;
	struct fb_err err = {0};
	struct fb_cli_ctx x;
	json_t *body = NULL;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (client == NULL)
		return fb_cli_usage_error(syntax.cmd, "--client ID is required");
	if ((rc = fb_cli_ctx_open(&co, FB_CLI_KEYRING | FB_CLI_STORE_IF_THERE, &x)) != FB_EXIT_OK)
		return rc;
	if (fb_cli_oidc_op_open(&x, &op, &maps, &err) != FB_OK ||
	    fb_oidc_op_client_token(op, client, scope, &body, &err) != FB_OK)
		rc = fb_cli_error(&err);
	else
		rc = fb_cli_json_print(body, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(body);
	fb_oidc_op_free(op);
	fb_map_set_free(maps);
	fb_cli_ctx_close(&x);
	return rc;
}

static const char *
token_state(const struct fb_store_token *t)
{
	if (t->revoked_at != 0)
		return "revoked";
	if (t->expires_at != 0 && fb_time_now() >= t->expires_at)
		return "expired";
	return "active";
}

static int
token_create(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *user = NULL, *description = NULL, *exp = DEFAULT_EXPIRES;
	const struct fb_cli_option opts[] = {
	    {"user", 0, &user, NULL},
	    {"description", 0, &description, NULL},
	    {"expires", 0, &exp, NULL},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"token create", usage_create, &co, opts, NULL, NULL};
	char *secret = NULL, *id = NULL, when[40];
	int64_t lifetime = 0, expires_at = 0;
	struct fb_cli_ctx x;
	struct fb_err err;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (user == NULL)
		return fb_cli_usage_error(syntax.cmd, "--user NAME is required");
	fb_err_clear(&err);
	if (strcmp(exp, "never") != 0) {
		if (fb_duration_parse(exp, &lifetime, &err) != FB_OK || lifetime <= 0)
			return fb_cli_usage_error(syntax.cmd,
			    "--expires '%s': use a duration such as 90d, 12h, 30m, or 'never'",
			    exp);
		expires_at = fb_time_now() + lifetime;
	}
	if ((rc = fb_cli_ctx_open(&co, FB_CLI_STORE, &x)) != FB_EXIT_OK)
		return rc;
	if (fb_local_token_create(x.st, user, description, expires_at, NULL, &secret, &id,
		&err) != FB_OK) {
		rc = fb_cli_error(&err);
	} else {
		fb_cli_time_format(expires_at, when, sizeof(when));
		printf("token: %s\nid: %s\nuser: %s\nexpires: %s\n", secret, id, user, when);
		fprintf(stderr, "the token is shown once: store it now (revoke it with "
				"'fedbroker token revoke %s')\n",
		    id);
		rc = FB_EXIT_OK;
	}
	fb_secret_free(secret);
	free(id);
	fb_cli_ctx_close(&x);
	return rc;
}

static int
print_row(const struct fb_store_token *t, void *arg)
{
	char created[40], expires[40];

	fb_cli_time_format(t->created, created, sizeof(created));
	fb_cli_time_format(t->expires_at, expires, sizeof(expires));
	printf("%-16s  %-16s  %-7s  %-20s  %-20s  %s\n", t->id, t->username, token_state(t), created,
	    expires, t->description != NULL ? t->description : "");
	return 0;
}

static int
append_json(const struct fb_store_token *t, void *arg)
{
	char created[40], expires[40], revoked[40];

	fb_cli_time_format(t->created, created, sizeof(created));
	fb_cli_time_format(t->expires_at, expires, sizeof(expires));
	fb_cli_time_format(t->revoked_at, revoked, sizeof(revoked));
	json_array_append_new(arg,
	    json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s?, s:s?}", "id", t->id, "user", t->username,
		"state", token_state(t), "description", t->description, "created", created,
		"expires", t->expires_at != 0 ? expires : NULL, "revoked",
		t->revoked_at != 0 ? revoked : NULL));
	return 0;
}

static int
token_list(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *user = NULL;
	int json = 0;
	const struct fb_cli_option opts[] = {
	    {"user", 0, &user, NULL},
	    {"json", 0, NULL, &json},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"token list", usage_list, &co, opts, NULL, NULL};
	struct fb_local_account acc;
	const char *uid = NULL;
	json_t *arr = NULL;
	struct fb_cli_ctx x;
	struct fb_err err;
	int rc;

	memset(&acc, 0, sizeof(acc));
	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if ((rc = fb_cli_ctx_open(&co, FB_CLI_STORE, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	if (user != NULL) {
		if (fb_local_account_get(x.st, user, &acc, &err) != FB_OK) {
			rc = fb_cli_error(&err);
			goto out;
		}
		uid = acc.id;
	}
	if (json) {
		arr = json_array();
		rc = fb_store_token_list(x.st, uid, append_json, arr, &err) == FB_OK
			 ? fb_cli_json_print(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
			 : fb_cli_error(&err);
	} else {
		printf("%-16s  %-16s  %-7s  %-20s  %-20s  %s\n", "ID", "USER", "STATE", "CREATED",
		    "EXPIRES", "DESCRIPTION");
		rc = fb_store_token_list(x.st, uid, print_row, NULL, &err) == FB_OK
			 ? FB_EXIT_OK
			 : fb_cli_error(&err);
	}
out:
	json_decref(arr);
	fb_local_account_cleanup(&acc);
	fb_cli_ctx_close(&x);
	return rc;
}

static int
token_revoke(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *id = NULL;
	const struct fb_cli_syntax syntax = {"token revoke", usage_revoke, &co, NULL, &id,
	    "the token ID is missing"};
	struct fb_store_token t;
	struct fb_cli_ctx x;
	struct fb_err err;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if ((rc = fb_cli_ctx_open(&co, FB_CLI_STORE, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	if (fb_store_token_get(x.st, id, &t, &err) != FB_OK) {
		if (err.code == FB_ERR_NOTFOUND)
			fb_err_set(&err, FB_ERR_NOTFOUND,
			    "no API token %s (see 'fedbroker token list')", id);
		rc = fb_cli_error(&err);
	} else if (t.revoked_at != 0) {
		printf("token %s of %s was revoked already\n", id, t.username);
		rc = FB_EXIT_OK;
	} else if (fb_local_token_revoke(x.st, id, NULL, &err) != FB_OK) {
		rc = fb_cli_error(&err);
	} else {
		printf("token %s of %s revoked\n", id, t.username);
		rc = FB_EXIT_OK;
	}
	fb_store_token_cleanup(&t);
	fb_cli_ctx_close(&x);
	return rc;
}

int
fb_cli_token(int argc, char **argv)
{
	static const struct fb_cli_command table[] = {
	    {"create", token_create},
	    {"list", token_list},
	    {"revoke", token_revoke},
	    {"client", token_client},
	    {NULL, NULL},
	};

	return fb_cli_dispatch(argc, argv, usage_token, table);
}
