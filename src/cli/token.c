/* SPDX-License-Identifier: Apache-2.0 */
/* cli/token.c: fedbroker token create|list|revoke: API tokens of local accounts. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "local/local.h"
#include "cli/cli.h"

#define COMMON_OPTS                                                                       \
	"  -c, --config FILE    configuration file (default $FEDBROKER_CONFIG, else built-in)\n" \
	"      --state-dir DIR  state directory (overrides server.state_dir)\n"                \
	"  -h, --help           this help\n"

/* Used when --expires is not given. */
#define DEFAULT_EXPIRES "90d"

static const char usage_token[] =
    "usage: fedbroker token <command> [options]\n"
    "\n"
    "Manages API tokens (bearer tokens for /api/v1/) of local accounts. Only a hash\n"
    "of each token is stored: the token itself is shown once, when it is created.\n"
    "\n"
    "commands:\n"
    "  create   create a token for a user\n"
    "  list     list the tokens (never their secrets)\n"
    "  revoke   revoke a token by its id\n"
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

enum {
	OPT_STATE_DIR = 256,
	OPT_JSON,
	OPT_USER,
	OPT_DESCRIPTION,
	OPT_EXPIRES,
};

struct args {
	const char *cmd;
	const char *config;
	const char *state_dir;
	const char *user;
	const char *description;
	const char *expires;
	const char *id; /* revoke's operand */
	int json;
};

static int usage_error(const char *cmd, const char *fmt, ...) FB_PRINTF(2, 3);

static int
usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fedbroker token %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see 'fedbroker token %s --help')\n", cmd);
	return FB_EXIT_USAGE;
}

/* As in cli/user.c: -1 when parsed, else the exit status. */
static int
parse(int argc, char **argv, const char *help, const int *allowed, int need_id, struct args *a)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"user", required_argument, NULL, OPT_USER},
	    {"description", required_argument, NULL, OPT_DESCRIPTION},
	    {"expires", required_argument, NULL, OPT_EXPIRES},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c, ok, li;

	optind = 0;
	opterr = 0;
	li = -1;
	while ((c = getopt_long(argc, argv, ":c:h", opts, &li)) != -1) {
		ok = c == 'c' || c == 'h' || c == OPT_STATE_DIR || c == ':' || c == '?';
		for (const int *p = allowed; !ok && *p != 0; p++)
			ok = *p == c;
		if (!ok)
			return usage_error(a->cmd, "option --%s does not apply here",
			    li >= 0 ? opts[li].name : "?");
		li = -1;
		switch (c) {
		case 'c':
			a->config = optarg;
			break;
		case OPT_STATE_DIR:
			a->state_dir = optarg;
			break;
		case OPT_JSON:
			a->json = 1;
			break;
		case OPT_USER:
			a->user = optarg;
			break;
		case OPT_DESCRIPTION:
			a->description = optarg;
			break;
		case OPT_EXPIRES:
			a->expires = optarg;
			break;
		case 'h':
			fputs(help, stdout);
			return FB_EXIT_OK;
		case ':':
			return usage_error(a->cmd, "%s needs an argument", argv[optind - 1]);
		default:
			if (optopt != 0)
				return usage_error(a->cmd, "unknown option -%c", optopt);
			return usage_error(a->cmd, "unknown option %s", argv[optind - 1]);
		}
	}
	if (need_id) {
		if (optind >= argc)
			return usage_error(a->cmd, "the token ID is missing");
		a->id = argv[optind++];
	}
	if (optind < argc)
		return usage_error(a->cmd, "unexpected argument '%s'", argv[optind]);
	return -1;
}

struct ctx {
	struct fb_conf *conf;
	struct fb_store *st;
};

static int
ctx_open(const struct args *a, struct ctx *x)
{
	struct fb_conf_overrides ov = {.listen = NULL, .state_dir = a->state_dir, .workers = -1};
	struct fb_err err;

	memset(x, 0, sizeof(*x));
	fb_err_clear(&err);
	if (fb_conf_load(a->config != NULL ? a->config : fb_cli_default_config(), &ov, &x->conf,
		NULL, &err) != FB_OK) {
		fb_cli_error(&err);
		return FB_EXIT_FAIL;
	}
	/* Audit lines (warn) of what the command changes go to standard error; info is noise here. */
	fb_log_setup(x->conf->log_format,
	    x->conf->log_level > FB_LOG_WARN ? x->conf->log_level : FB_LOG_WARN, 2);
	if (fb_store_open(x->conf, &x->st, &err) != FB_OK) {
		fb_cli_error(&err);
		fb_conf_free(x->conf);
		x->conf = NULL;
		return FB_EXIT_FAIL;
	}
	return FB_EXIT_OK;
}

static void
ctx_close(struct ctx *x)
{
	fb_store_close(x->st);
	fb_conf_free(x->conf);
}

static void
format_time(int64_t t, char *out, size_t len)
{
	if (t == 0)
		snprintf(out, len, "never");
	else
		fb_time_format(t, -1, out, len);
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
	static const int allowed[] = {OPT_USER, OPT_DESCRIPTION, OPT_EXPIRES, 0};
	struct args a = {.cmd = "create"};
	const char *exp = NULL;
	char *secret = NULL, *id = NULL, when[40];
	int64_t lifetime = 0, expires_at = 0;
	struct ctx x;
	struct fb_err err;
	int rc;

	if ((rc = parse(argc, argv, usage_create, allowed, 0, &a)) >= 0)
		return rc;
	if (a.user == NULL)
		return usage_error("create", "--user NAME is required");
	exp = a.expires != NULL ? a.expires : DEFAULT_EXPIRES;
	fb_err_clear(&err);
	if (strcmp(exp, "never") != 0) {
		if (fb_duration_parse(exp, &lifetime, &err) != FB_OK || lifetime <= 0)
			return usage_error("create",
			    "--expires '%s': use a duration such as 90d, 12h, 30m, or 'never'", exp);
		expires_at = fb_time_now() + lifetime;
	}
	if ((rc = ctx_open(&a, &x)) != FB_EXIT_OK)
		return rc;
	if (fb_local_token_create(x.st, a.user, a.description, expires_at, NULL, &secret, &id,
		&err) != FB_OK) {
		fb_cli_error(&err);
		rc = FB_EXIT_FAIL;
	} else {
		format_time(expires_at, when, sizeof(when));
		printf("token: %s\nid: %s\nuser: %s\nexpires: %s\n", secret, id, a.user, when);
		fprintf(stderr, "the token is shown once: store it now (revoke it with "
				"'fedbroker token revoke %s')\n",
		    id);
		rc = FB_EXIT_OK;
	}
	fb_secret_free(secret);
	free(id);
	ctx_close(&x);
	return rc;
}

static int
print_row(const struct fb_store_token *t, void *arg)
{
	char created[40], expires[40];

	format_time(t->created, created, sizeof(created));
	format_time(t->expires_at, expires, sizeof(expires));
	printf("%-16s  %-16s  %-7s  %-20s  %-20s  %s\n", t->id, t->username, token_state(t), created,
	    expires, t->description != NULL ? t->description : "");
	return 0;
}

static int
append_json(const struct fb_store_token *t, void *arg)
{
	char created[40], expires[40], revoked[40];

	format_time(t->created, created, sizeof(created));
	format_time(t->expires_at, expires, sizeof(expires));
	format_time(t->revoked_at, revoked, sizeof(revoked));
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
	static const int allowed[] = {OPT_USER, OPT_JSON, 0};
	struct args a = {.cmd = "list"};
	struct fb_local_account acc;
	const char *uid = NULL;
	json_t *arr = NULL;
	char *s;
	struct ctx x;
	struct fb_err err;
	int rc;

	memset(&acc, 0, sizeof(acc));
	if ((rc = parse(argc, argv, usage_list, allowed, 0, &a)) >= 0)
		return rc;
	if ((rc = ctx_open(&a, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	if (a.user != NULL) {
		if (fb_local_account_get(x.st, a.user, &acc, &err) != FB_OK) {
			fb_cli_error(&err);
			rc = FB_EXIT_FAIL;
			goto out;
		}
		uid = acc.id;
	}
	if (a.json) {
		arr = json_array();
		if (fb_store_token_list(x.st, uid, append_json, arr, &err) != FB_OK) {
			fb_cli_error(&err);
			rc = FB_EXIT_FAIL;
			goto out;
		}
		s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", s != NULL ? s : "[]");
		free(s);
	} else {
		printf("%-16s  %-16s  %-7s  %-20s  %-20s  %s\n", "ID", "USER", "STATE", "CREATED",
		    "EXPIRES", "DESCRIPTION");
		if (fb_store_token_list(x.st, uid, print_row, NULL, &err) != FB_OK) {
			fb_cli_error(&err);
			rc = FB_EXIT_FAIL;
			goto out;
		}
	}
	rc = FB_EXIT_OK;
out:
	json_decref(arr);
	fb_local_account_cleanup(&acc);
	ctx_close(&x);
	return rc;
}

static int
token_revoke(int argc, char **argv)
{
	static const int allowed[] = {0};
	struct args a = {.cmd = "revoke"};
	struct fb_store_token t;
	struct ctx x;
	struct fb_err err;
	int rc;

	if ((rc = parse(argc, argv, usage_revoke, allowed, 1, &a)) >= 0)
		return rc;
	if ((rc = ctx_open(&a, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	if (fb_store_token_get(x.st, a.id, &t, &err) != FB_OK) {
		if (err.code == FB_ERR_NOTFOUND)
			fb_err_set(&err, FB_ERR_NOTFOUND,
			    "no API token %s (see 'fedbroker token list')", a.id);
		fb_cli_error(&err);
		rc = FB_EXIT_FAIL;
	} else if (t.revoked_at != 0) {
		printf("token %s of %s was revoked already\n", a.id, t.username);
		rc = FB_EXIT_OK;
	} else if (fb_local_token_revoke(x.st, a.id, NULL, &err) != FB_OK) {
		fb_cli_error(&err);
		rc = FB_EXIT_FAIL;
	} else {
		printf("token %s of %s revoked\n", a.id, t.username);
		rc = FB_EXIT_OK;
	}
	fb_store_token_cleanup(&t);
	ctx_close(&x);
	return rc;
}

int
fb_cli_token(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_token, stderr);
		return FB_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage_token, stdout);
		return FB_EXIT_OK;
	}
	if (strcmp(argv[1], "create") == 0)
		return token_create(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return token_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "revoke") == 0)
		return token_revoke(argc - 1, argv + 1);
	fprintf(stderr, "fedbroker token: unknown command '%s'\n\n", argv[1]);
	fputs(usage_token, stderr);
	return FB_EXIT_USAGE;
}
