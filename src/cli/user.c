/* SPDX-License-Identifier: Apache-2.0 */
/* cli/user.c: fedbroker user add|list|show|set-password|disable|enable|delete|...: local accounts. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "ident/ident.h"
#include "local/local.h"
#include "cli/cli.h"

#define COMMON_OPTS                                                                       \
	"  -c, --config FILE    configuration file (default $FEDBROKER_CONFIG, else built-in)\n" \
	"      --state-dir DIR  state directory (overrides server.state_dir)\n"                \
	"  -h, --help           this help\n"

static const char usage_user[] =
    "usage: fedbroker user <command> [options]\n"
    "\n"
    "Manages local accounts (people and service accounts that sign in to fedbroker\n"
    "itself). Group membership comes from the configuration's groups: list.\n"
    "\n"
    "commands:\n"
    "  add NAME            create an account\n"
    "  list                list the accounts\n"
    "  show NAME           an account with its groups and merged group attributes\n"
    "  set-password NAME   set a new password\n"
    "  disable NAME        refuse its sign-ins and API tokens (nothing is deleted)\n"
    "  enable NAME         allow them again\n"
    "  delete NAME         delete the account with its credentials and API tokens\n"
    "  recovery-link NAME  a one-time link to set a new password (printed or emailed)\n"
    "  reset-mfa NAME      remove its TOTP and recovery codes (a lost phone)\n"
    "\n"
    "'fedbroker user <command> --help' describes a command.\n";

static const char usage_add[] =
    "usage: fedbroker user add NAME [--name NAME] [--email ADDR] [--type internal|service]\n"
    "                          [--password-stdin] [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Creates a local account. An internal account (a person) gets a random password,\n"
    "printed once, unless --password-stdin reads one line from standard input. A\n"
    "service account gets no password unless one is given: it uses API tokens\n"
    "('fedbroker token create --user NAME'). Passwords need at least 12 characters.\n"
    "\n"
    "      --name NAME      display name\n"
    "      --email ADDR     email address (for recovery links)\n"
    "      --type TYPE      internal (default) or service\n"
    "      --password-stdin read the password from the first line of standard input\n" COMMON_OPTS;

static const char usage_list[] =
    "usage: fedbroker user list [--json] [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Lists the local accounts. Columns: USERNAME TYPE ACTIVE MFA LAST-LOGIN NAME.\n"
    "\n"
    "      --json           print a JSON array instead of a table\n" COMMON_OPTS;

static const char usage_show[] =
    "usage: fedbroker user show NAME [--json] [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Shows an account: its fields, MFA state, last sign-in, the groups of the\n"
    "configuration it is a member of and their merged attributes (as the mapping\n"
    "rules see them).\n"
    "\n"
    "      --json           print a JSON object instead of text\n" COMMON_OPTS;

static const char usage_set_password[] =
    "usage: fedbroker user set-password NAME [--password-stdin] [--config FILE]\n"
    "                                   [--state-dir DIR]\n"
    "\n"
    "Sets a new password: a random one, printed once, or with --password-stdin the\n"
    "first line of standard input. Passwords need at least 12 characters.\n"
    "\n"
    "      --password-stdin read the password from the first line of standard input\n" COMMON_OPTS;

static const char usage_recovery[] =
    "usage: fedbroker user recovery-link NAME [--email] [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Creates a one-time link to set a new password, valid local.recovery_link_lifetime\n"
    "(30 minutes by default), and prints it; with --email it is sent to the account's\n"
    "email address through the smtp: relay instead. Opening the link does not use it\n"
    "up; setting the password does.\n"
    "\n"
    "      --email          email the link instead of printing it\n" COMMON_OPTS;

enum {
	OPT_STATE_DIR = 256,
	OPT_JSON,
	OPT_NAME,
	OPT_EMAIL,
	OPT_TYPE,
	OPT_PASSWORD_STDIN,
	OPT_SEND_EMAIL,
};

/* Everything a user subcommand may be given. */
struct args {
	const char *cmd; /* "add", "list", ... */
	const char *config;
	const char *state_dir;
	const char *user; /* the NAME operand */
	const char *name;
	const char *email;
	const char *type;
	int json;
	int password_stdin;
	int send_email;
};

static int usage_error(const char *cmd, const char *fmt, ...) FB_PRINTF(2, 3);

static int
usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fedbroker user %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see 'fedbroker user %s --help')\n", cmd);
	return FB_EXIT_USAGE;
}

/*
 * Parses argv (argv[0] is the subcommand) into a. allowed lists the
 * options this subcommand takes beyond the common ones (by enum value, 0
 * terminated); need_user says whether NAME is required. Returns -1 when
 * parsing went fine, else the exit status (help printed, usage error).
 */
static int
parse(int argc, char **argv, const char *help, const int *allowed, int need_user, struct args *a)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"name", required_argument, NULL, OPT_NAME},
	    {"email", required_argument, NULL, OPT_EMAIL},
	    {"type", required_argument, NULL, OPT_TYPE},
	    {"password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	/* recovery-link --email is a flag (send the link by email). */
	static const struct option opts_flag[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
	    {"email", no_argument, NULL, OPT_SEND_EMAIL},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const struct option *table = strcmp(a->cmd, "recovery-link") == 0 ? opts_flag : opts;
	int c, ok, li;

	optind = 0;
	opterr = 0;
	li = -1;
	while ((c = getopt_long(argc, argv, ":c:h", table, &li)) != -1) {
		ok = c == 'c' || c == 'h' || c == OPT_STATE_DIR || c == ':' || c == '?';
		for (const int *p = allowed; !ok && *p != 0; p++)
			ok = *p == c;
		if (!ok)
			return usage_error(a->cmd, "option --%s does not apply here",
			    li >= 0 ? table[li].name : "?");
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
		case OPT_NAME:
			a->name = optarg;
			break;
		case OPT_EMAIL:
			a->email = optarg;
			break;
		case OPT_SEND_EMAIL:
			a->send_email = 1;
			break;
		case OPT_TYPE:
			a->type = optarg;
			break;
		case OPT_PASSWORD_STDIN:
			a->password_stdin = 1;
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
	if (need_user) {
		if (optind >= argc)
			return usage_error(a->cmd, "the user NAME is missing");
		a->user = argv[optind++];
	}
	if (optind < argc)
		return usage_error(a->cmd, "unexpected argument '%s'", argv[optind]);
	return -1;
}

/* The configuration and the store the command works on. */
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

/* Prints err and returns FB_EXIT_FAIL. */
static int
fail(const struct fb_err *err)
{
	fb_cli_error(err);
	return FB_EXIT_FAIL;
}

/*
 * Reads the password from the first line of standard input (without its
 * line end). New in *out (fb_secret_free). FB_EXIT_OK or FB_EXIT_FAIL.
 */
static int
read_password(char **out)
{
	char buf[FB_LOCAL_PASSWORD_MAX + 3];
	size_t n;

	*out = NULL;
	if (fgets(buf, sizeof(buf), stdin) == NULL) {
		fprintf(stderr, "fedbroker: --password-stdin: standard input is empty\n");
		return FB_EXIT_FAIL;
	}
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (n == sizeof(buf) - 1) {
		fb_secret_wipe(buf, sizeof(buf));
		fprintf(stderr, "fedbroker: --password-stdin: the password is longer than %d "
				"bytes\n",
		    FB_LOCAL_PASSWORD_MAX);
		return FB_EXIT_FAIL;
	}
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	*out = fb_xstrdup(buf);
	fb_secret_wipe(buf, sizeof(buf));
	return FB_EXIT_OK;
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
mfa_state(const struct fb_local_account *a)
{
	return a->totp_enabled ? "totp" : "none";
}

static int
user_add(int argc, char **argv)
{
	static const int allowed[] = {OPT_NAME, OPT_EMAIL, OPT_TYPE, OPT_PASSWORD_STDIN, 0};
	struct args a = {.cmd = "add"};
	enum fb_store_account_type type = FB_ACCOUNT_INTERNAL;
	struct fb_local_account acc;
	char *password = NULL;
	int rc, generated = 0;
	struct ctx x;
	struct fb_err err;

	if ((rc = parse(argc, argv, usage_add, allowed, 1, &a)) >= 0)
		return rc;
	if (a.type != NULL && fb_local_type_parse(a.type, &type) != 0)
		return usage_error("add", "--type '%s': use internal or service", a.type);
	fb_err_clear(&err);
	/* Check what needs no store first, so the message is about the input. */
	if (fb_local_username_check(a.user, &err) != FB_OK)
		return fail(&err);
	if (a.password_stdin && (rc = read_password(&password)) != FB_EXIT_OK)
		return rc;
	if (password == NULL && type == FB_ACCOUNT_INTERNAL) {
		password = fb_local_password_generate();
		generated = 1;
	}
	if ((rc = ctx_open(&a, &x)) != FB_EXIT_OK)
		goto out;
	if (fb_local_account_create(x.conf, x.st, a.user, a.name, a.email, type, password, NULL,
		&acc, &err) != FB_OK) {
		rc = fail(&err);
		ctx_close(&x);
		goto out;
	}
	printf("created %s user %s\n", fb_local_type_name(type), a.user);
	if (generated)
		printf("password: %s\n(shown once: give it to the user, who can change it; or set "
		       "one with 'fedbroker user set-password %s --password-stdin')\n",
		    password, a.user);
	else if (password == NULL)
		printf("no password: create an API token with 'fedbroker token create --user %s'\n",
		    a.user);
	fb_local_account_cleanup(&acc);
	ctx_close(&x);
	rc = FB_EXIT_OK;
out:
	fb_secret_free(password);
	return rc;
}

static int
print_row(const struct fb_local_account *a, void *arg)
{
	char when[40];

	format_time(a->last_login, when, sizeof(when));
	printf("%-20s %-8s %-6s %-4s %-24s %s\n", a->username, fb_local_type_name(a->type),
	    a->active ? "yes" : "no", mfa_state(a), when, a->name != NULL ? a->name : "");
	return 0;
}

static json_t *
account_json(const struct fb_local_account *a)
{
	char created[40], last[40];

	fb_time_format(a->created, -1, created, sizeof(created));
	format_time(a->last_login, last, sizeof(last));
	return json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:b, s:b, s:b, s:I, s:s, s:s?}", "username",
	    a->username, "id", a->id, "name", a->name, "email", a->email, "type",
	    fb_local_type_name(a->type), "active", a->active, "has_password", a->has_password,
	    "totp", a->totp_enabled, "recovery_codes_left", (json_int_t)a->recovery_codes_left,
	    "created", created, "last_login", a->last_login != 0 ? last : NULL);
}

static int
append_json(const struct fb_local_account *a, void *arg)
{
	json_array_append_new(arg, account_json(a));
	return 0;
}

/* Prints j (taken) indented; FB_EXIT_OK or FB_EXIT_FAIL. */
static int
print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(j);
	if (s == NULL)
		return FB_EXIT_FAIL;
	printf("%s\n", s);
	free(s);
	return FB_EXIT_OK;
}

static int
user_list(int argc, char **argv)
{
	static const int allowed[] = {OPT_JSON, 0};
	struct args a = {.cmd = "list"};
	struct ctx x;
	struct fb_err err;
	json_t *arr = NULL;
	int rc;

	if ((rc = parse(argc, argv, usage_list, allowed, 0, &a)) >= 0)
		return rc;
	if ((rc = ctx_open(&a, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	if (a.json) {
		arr = json_array();
		if (fb_local_account_list(x.st, append_json, arr, &err) != FB_OK) {
			json_decref(arr);
			rc = fail(&err);
		} else {
			rc = print_json(arr);
		}
	} else {
		printf("%-20s %-8s %-6s %-4s %-24s %s\n", "USERNAME", "TYPE", "ACTIVE", "MFA",
		    "LAST-LOGIN", "NAME");
		rc = fb_local_account_list(x.st, print_row, NULL, &err) == FB_OK ? FB_EXIT_OK
										: fail(&err);
	}
	ctx_close(&x);
	return rc;
}

static int
user_show(int argc, char **argv)
{
	static const int allowed[] = {OPT_JSON, 0};
	struct args a = {.cmd = "show"};
	const struct fb_conf_group **groups = NULL;
	struct fb_local_account acc;
	json_t *attrs = NULL, *j, *garr;
	char created[40], last[40], *s;
	size_t ng;
	int rc, mfa_required;
	struct ctx x;
	struct fb_err err;

	if ((rc = parse(argc, argv, usage_show, allowed, 1, &a)) >= 0)
		return rc;
	if ((rc = ctx_open(&a, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	if (fb_local_account_get(x.st, a.user, &acc, &err) != FB_OK) {
		rc = fail(&err);
		ctx_close(&x);
		return rc;
	}
	ng = fb_ident_groups(x.conf, acc.username, &groups);
	mfa_required = fb_ident_requires_mfa(x.conf, acc.username);
	if (fb_ident_group_attributes(x.conf, acc.username, &attrs, &err) != FB_OK) {
		rc = fail(&err);
		goto out;
	}
	if (a.json) {
		j = account_json(&acc);
		garr = json_array();
		for (size_t i = 0; i < ng; i++)
			json_array_append_new(garr, json_string(groups[i]->name));
		json_object_set_new(j, "groups", garr);
		json_object_set(j, "group_attributes", attrs);
		json_object_set_new(j, "mfa_required", json_boolean(mfa_required));
		rc = print_json(j);
		goto out;
	}
	fb_time_format(acc.created, -1, created, sizeof(created));
	format_time(acc.last_login, last, sizeof(last));
	printf("username:    %s\n", acc.username);
	printf("id:          %s\n", acc.id);
	printf("name:        %s\n", acc.name != NULL ? acc.name : "-");
	printf("email:       %s\n", acc.email != NULL ? acc.email : "-");
	printf("type:        %s\n", fb_local_type_name(acc.type));
	printf("active:      %s\n", acc.active ? "yes" : "no (disabled)");
	printf("password:    %s\n", acc.has_password ? "set" : "none");
	if (acc.totp_enabled)
		printf("mfa:         totp (%zu recovery codes left)\n", acc.recovery_codes_left);
	else
		printf("mfa:         none%s\n",
		    mfa_required ? " (required by a group: enrolment at the next sign-in)" : "");
	printf("created:     %s\n", created);
	printf("last login:  %s\n", last);
	printf("groups:      ");
	for (size_t i = 0; i < ng; i++)
		printf("%s%s", i != 0 ? ", " : "", groups[i]->name);
	printf("%s\n", ng == 0 ? "-" : "");
	s = json_dumps(attrs, JSON_INDENT(2) | JSON_SORT_KEYS);
	printf("attributes:  %s\n", s != NULL ? s : "{}");
	free(s);
	rc = FB_EXIT_OK;
out:
	json_decref(attrs);
	free(groups);
	fb_local_account_cleanup(&acc);
	ctx_close(&x);
	return rc;
}

static int
user_set_password(int argc, char **argv)
{
	static const int allowed[] = {OPT_PASSWORD_STDIN, 0};
	struct args a = {.cmd = "set-password"};
	char *password = NULL;
	int rc, generated = 0;
	struct ctx x;
	struct fb_err err;

	if ((rc = parse(argc, argv, usage_set_password, allowed, 1, &a)) >= 0)
		return rc;
	if (a.password_stdin) {
		if ((rc = read_password(&password)) != FB_EXIT_OK)
			return rc;
	} else {
		password = fb_local_password_generate();
		generated = 1;
	}
	fb_err_clear(&err);
	if (fb_local_password_check(password, &err) != FB_OK) {
		rc = fail(&err);
		goto out;
	}
	if ((rc = ctx_open(&a, &x)) != FB_EXIT_OK)
		goto out;
	if (fb_local_password_set(x.conf, x.st, a.user, password, NULL, &err) != FB_OK)
		rc = fail(&err);
	else {
		printf("password of %s set\n", a.user);
		if (generated)
			printf("password: %s\n(shown once)\n", password);
		rc = FB_EXIT_OK;
	}
	ctx_close(&x);
out:
	fb_secret_free(password);
	return rc;
}

/* disable, enable, delete, reset-mfa: NAME only. */
static int
user_simple(int argc, char **argv, const char *cmd, const char *what)
{
	static const int allowed[] = {0};
	struct args a = {.cmd = cmd};
	char *help;
	struct ctx x;
	struct fb_err err;
	enum fb_status r;
	int rc;

	help = fb_xasprintf("usage: fedbroker user %s NAME [--config FILE] [--state-dir DIR]\n"
			    "\n%s\n\n" COMMON_OPTS,
	    cmd, what);
	rc = parse(argc, argv, help, allowed, 1, &a);
	free(help);
	if (rc >= 0)
		return rc;
	if ((rc = ctx_open(&a, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	if (strcmp(cmd, "disable") == 0)
		r = fb_local_account_set_active(x.st, a.user, 0, NULL, &err);
	else if (strcmp(cmd, "enable") == 0)
		r = fb_local_account_set_active(x.st, a.user, 1, NULL, &err);
	else if (strcmp(cmd, "delete") == 0)
		r = fb_local_account_delete(x.st, a.user, NULL, &err);
	else
		r = fb_local_mfa_reset(x.st, a.user, NULL, &err);
	if (r != FB_OK)
		rc = fail(&err);
	else {
		if (strcmp(cmd, "disable") == 0)
			printf("user %s disabled: its sign-ins and API tokens are refused\n", a.user);
		else if (strcmp(cmd, "enable") == 0)
			printf("user %s enabled\n", a.user);
		else if (strcmp(cmd, "delete") == 0)
			printf("user %s deleted with its credentials and API tokens\n", a.user);
		else
			printf("TOTP and recovery codes of %s removed; %s\n", a.user,
			    fb_ident_requires_mfa(x.conf, a.user)
				? "a group requires MFA: enrolment comes at the next sign-in"
				: "the user may enrol again");
		rc = FB_EXIT_OK;
	}
	ctx_close(&x);
	return rc;
}

static int
user_recovery_link(int argc, char **argv)
{
	static const int allowed[] = {OPT_SEND_EMAIL, 0};
	struct args a = {.cmd = "recovery-link"};
	char *url = NULL, *to = NULL;
	struct ctx x;
	struct fb_err err;
	int rc;

	if ((rc = parse(argc, argv, usage_recovery, allowed, 1, &a)) >= 0)
		return rc;
	if ((rc = ctx_open(&a, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	if (a.send_email) {
		if (fb_local_recovery_link_mail(x.conf, x.st, a.user, NULL, &to, &err) != FB_OK)
			rc = fail(&err);
		else
			printf("recovery link for %s sent to %s (valid %lld minutes, once)\n", a.user,
			    to, (long long)(x.conf->recovery_lifetime / 60));
	} else if (fb_local_recovery_link_new(x.conf, x.st, a.user, NULL, &url, &err) != FB_OK) {
		rc = fail(&err);
	} else {
		printf("%s\n", url);
		fprintf(stderr, "one-time link for %s, valid %lld minutes\n", a.user,
		    (long long)(x.conf->recovery_lifetime / 60));
	}
	fb_secret_free(url);
	free(to);
	ctx_close(&x);
	return rc;
}

int
fb_cli_user(int argc, char **argv)
{
	static const struct {
		const char *name;
		const char *what;
	} simple[] = {
	    {"disable", "Disables the account: its sign-ins and API tokens are refused; nothing "
			"is deleted."},
	    {"enable", "Enables a disabled account again."},
	    {"delete", "Deletes the account with its credentials, recovery codes and API tokens."},
	    {"reset-mfa", "Removes the account's TOTP secret and recovery codes (a lost phone);\n"
			  "it enrols again at its next sign-in when a group requires MFA."},
	};

	if (argc < 2) {
		fputs(usage_user, stderr);
		return FB_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage_user, stdout);
		return FB_EXIT_OK;
	}
	if (strcmp(argv[1], "add") == 0)
		return user_add(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return user_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return user_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "set-password") == 0)
		return user_set_password(argc - 1, argv + 1);
	if (strcmp(argv[1], "recovery-link") == 0)
		return user_recovery_link(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (strcmp(argv[1], simple[i].name) == 0)
			return user_simple(argc - 1, argv + 1, simple[i].name, simple[i].what);
	fprintf(stderr, "fedbroker user: unknown command '%s'\n\n", argv[1]);
	fputs(usage_user, stderr);
	return FB_EXIT_USAGE;
}
