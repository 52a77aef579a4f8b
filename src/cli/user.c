/* SPDX-License-Identifier: Apache-2.0 */
/* cli/user.c: fedbroker user add|list|show|set-password|disable|enable|delete|...: local accounts. */
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

#define COMMON_OPTS FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP
#define MISSING_USER "the user NAME is missing"

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
    "Shows an account: its fields, MFA state, last sign-in, its links to upstream\n"
    "identities and the groups each upstream gave it at its last sign-in, and its\n"
    "groups (declared in the configuration, or given by an upstream) with their\n"
    "merged attributes, as the mapping rules see them. A user created by an\n"
    "upstream sign-in (no local password) is shown too.\n"
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

/* Everything a user subcommand may be given. */
struct args {
	struct fb_cli_conf_opts co;
	const char *user; /* the NAME operand */
	const char *name;
	const char *email;
	const char *type;
	int json;
	int password_stdin;
	int send_email;
};

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

static const char *
mfa_state(const struct fb_local_account *a)
{
	return a->totp_enabled ? "totp" : "none";
}

static int
user_add(int argc, char **argv)
{
	struct args a = {0};
	const struct fb_cli_option opts[] = {
	    {"name", 0, &a.name, NULL},
	    {"email", 0, &a.email, NULL},
	    {"type", 0, &a.type, NULL},
	    {"password-stdin", 0, NULL, &a.password_stdin},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"user add", usage_add, &a.co, opts, &a.user,
	    MISSING_USER};
	enum fb_store_account_type type = FB_ACCOUNT_INTERNAL;
	struct fb_local_account acc;
	char *password = NULL;
	int rc, generated = 0;
	struct fb_cli_ctx x;
	struct fb_err err;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (a.type != NULL && fb_local_type_parse(a.type, &type) != 0)
		return fb_cli_usage_error(syntax.cmd, "--type '%s': use internal or service",
		    a.type);
	fb_err_clear(&err);
	/* Check what needs no store first, so the message is about the input. */
	if (fb_ident_username_check(a.user, &err) != FB_OK)
		return fb_cli_error(&err);
	if (a.password_stdin && (rc = read_password(&password)) != FB_EXIT_OK)
		return rc;
	if (password == NULL && type == FB_ACCOUNT_INTERNAL) {
		password = fb_local_password_generate();
		generated = 1;
	}
	if ((rc = fb_cli_ctx_open(&a.co, FB_CLI_STORE, &x)) != FB_EXIT_OK)
		goto out;
	if (fb_local_account_create(x.conf, x.st, a.user, a.name, a.email, type, password, NULL,
		&acc, &err) != FB_OK) {
		rc = fb_cli_error(&err);
		fb_cli_ctx_close(&x);
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
	fb_cli_ctx_close(&x);
	rc = FB_EXIT_OK;
out:
	fb_secret_free(password);
	return rc;
}

static int
print_row(const struct fb_local_account *a, void *arg)
{
	char when[40];

	fb_cli_time_format(a->last_login, when, sizeof(when));
	printf("%-20s %-8s %-6s %-4s %-24s %s\n", a->username, fb_local_type_name(a->type),
	    a->active ? "yes" : "no", mfa_state(a), when, a->name != NULL ? a->name : "");
	return 0;
}

static json_t *
account_json(const struct fb_local_account *a)
{
	char created[40], last[40];

	fb_time_format(a->created, -1, created, sizeof(created));
	fb_cli_time_format(a->last_login, last, sizeof(last));
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

static int
user_list(int argc, char **argv)
{
	struct args a = {0};
	const struct fb_cli_option opts[] = {
	    {"json", 0, NULL, &a.json},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"user list", usage_list, &a.co, opts, NULL, NULL};
	struct fb_cli_ctx x;
	struct fb_err err;
	json_t *arr = NULL;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if ((rc = fb_cli_ctx_open(&a.co, FB_CLI_STORE, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	if (a.json) {
		arr = json_array();
		if (fb_local_account_list(x.st, append_json, arr, &err) != FB_OK)
			rc = fb_cli_error(&err);
		else
			rc = fb_cli_json_print(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(arr);
	} else {
		printf("%-20s %-8s %-6s %-4s %-24s %s\n", "USERNAME", "TYPE", "ACTIVE", "MFA",
		    "LAST-LOGIN", "NAME");
		rc = fb_local_account_list(x.st, print_row, NULL, &err) == FB_OK ? FB_EXIT_OK
										: fb_cli_error(&err);
	}
	fb_cli_ctx_close(&x);
	return rc;
}

/* Collects the links of a user as JSON (user show). */
static int
link_json(const struct fb_store_link *l, void *arg)
{
	char created[40], used[40];

	fb_time_format(l->created, -1, created, sizeof(created));
	fb_time_format(l->last_used, -1, used, sizeof(used));
	json_array_append_new(arg, json_pack("{s:s, s:s, s:s, s:s, s:s}", "upstream", l->upstream,
	    "issuer", l->issuer, "subject", l->subject, "created", created, "last_used", used));
	return 0;
}

static void
free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * What upstreams say about the user: *links (each link), *by_upstream
 * ({upstream: [groups]}), and every upstream group in *ug (*nug of them).
 */
static enum fb_status
upstream_info(struct fb_store *st, const char *user_id, json_t **links, json_t **by_upstream,
    char ***ug, size_t *nug, struct fb_err *err)
{
	const json_t *l;
	size_t i;
	enum fb_status r;

	*links = json_array();
	*by_upstream = json_object();
	if ((r = fb_store_link_list(st, user_id, link_json, *links, err)) != FB_OK ||
	    (r = fb_store_upstream_groups(st, user_id, ug, nug, err)) != FB_OK)
		return r;
	json_array_foreach(*links, i, l)
	{
		const char *up = json_string_value(json_object_get(l, "upstream"));
		json_t *names = json_array();
		char **g = NULL;
		size_t n = 0;

		if (json_object_get(*by_upstream, up) != NULL) {
			json_decref(names);
			continue;
		}
		if ((r = fb_store_upstream_groups_of(st, user_id, up, &g, &n, err)) != FB_OK) {
			json_decref(names);
			return r;
		}
		for (size_t k = 0; k < n; k++)
			json_array_append_new(names, json_string(g[k]));
		free_names(g, n);
		json_object_set_new(*by_upstream, up, names);
	}
	return FB_OK;
}

/* The account of a user who signs in through an upstream (no local credentials). */
static enum fb_status
upstream_account(struct fb_store *st, const char *username, struct fb_local_account *acc,
    char **source, struct fb_err *err)
{
	struct fb_store_user u = {0};
	enum fb_status r;

	if ((r = fb_store_user_get(st, username, &u, err)) != FB_OK)
		return r;
	memset(acc, 0, sizeof(*acc));
	acc->id = u.id;
	acc->username = u.username;
	acc->name = u.name;
	acc->email = u.email;
	acc->active = u.active;
	acc->created = u.created;
	acc->last_login = u.last_seen;
	*source = u.source;
	return FB_OK;
}

static int
user_show(int argc, char **argv)
{
	struct args a = {0};
	const struct fb_cli_option opts[] = {
	    {"json", 0, NULL, &a.json},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"user show", usage_show, &a.co, opts, &a.user, MISSING_USER};
	struct fb_local_account acc = {0};
	struct fb_store_user su = {0};
	json_t *attrs = NULL, *names = NULL, *uj = NULL, *links = NULL, *upg = NULL, *j, *v;
	char created[40], last[40], *s, *source = NULL, **ug = NULL;
	const char *k;
	size_t nug = 0, i;
	int rc, mfa_required, local = 1;
	struct fb_cli_ctx x;
	struct fb_err err;
	enum fb_status r;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if ((rc = fb_cli_ctx_open(&a.co, FB_CLI_STORE, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	r = fb_local_account_get(x.st, a.user, &acc, &err);
	if (r == FB_ERR_NOTFOUND) {
		/* Not a local account: a user an upstream sign-in created. */
		local = 0;
		fb_err_clear(&err);
		r = upstream_account(x.st, a.user, &acc, &source, &err);
	}
	if (r != FB_OK) {
		rc = fb_cli_error(&err);
		fb_cli_ctx_close(&x);
		return rc;
	}
	if (upstream_info(x.st, acc.id, &links, &upg, &ug, &nug, &err) != FB_OK) {
		rc = fb_cli_error(&err);
		goto out;
	}
	/* The groups as the mappings see them: declared memberships and upstream groups. */
	su = (struct fb_store_user){.id = acc.id, .username = acc.username, .name = acc.name,
	    .email = acc.email, .active = acc.active};
	if (fb_ident_user_json_with(x.conf, &su, (const char *const *)ug, nug, &uj, &err) != FB_OK) {
		rc = fb_cli_error(&err);
		goto out;
	}
	fb_ident_user_json_groups(uj, &names, &attrs);
	mfa_required = local && fb_ident_requires_mfa(x.conf, acc.username);
	if (a.json) {
		j = account_json(&acc);
		if (!local) {
			json_object_del(j, "type");
			json_object_del(j, "has_password");
			json_object_del(j, "totp");
			json_object_del(j, "recovery_codes_left");
		}
		json_object_set_new(j, "source", json_string(local ? "local" : source));
		json_object_set(j, "groups", names);
		json_object_set(j, "group_attributes", attrs);
		json_object_set_new(j, "mfa_required", json_boolean(mfa_required));
		json_object_set(j, "links", links);
		json_object_set(j, "upstream_groups", upg);
		rc = fb_cli_json_print(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(j);
		goto out;
	}
	fb_time_format(acc.created, -1, created, sizeof(created));
	fb_cli_time_format(acc.last_login, last, sizeof(last));
	printf("username:    %s\n", acc.username);
	printf("id:          %s\n", acc.id);
	printf("name:        %s\n", acc.name != NULL ? acc.name : "-");
	printf("email:       %s\n", acc.email != NULL ? acc.email : "-");
	if (local) {
		printf("type:        %s\n", fb_local_type_name(acc.type));
		printf("active:      %s\n", acc.active ? "yes" : "no (disabled)");
		printf("password:    %s\n", acc.has_password ? "set" : "none");
		if (acc.totp_enabled)
			printf("mfa:         totp (%zu recovery codes left)\n",
			    acc.recovery_codes_left);
		else
			printf("mfa:         none%s\n", mfa_required ? " (required by a group: "
			                                              "enrolment at the next sign-in)"
			                                            : "");
	} else {
		printf("source:      upstream %s (no local password: signs in there)\n", source);
		printf("active:      %s\n", acc.active ? "yes" : "no (disabled)");
	}
	printf("created:     %s\n", created);
	printf("last login:  %s\n", last);
	printf("links:       %s\n", json_array_size(links) == 0 ? "-" : "");
	json_array_foreach(links, i, v)
	{
		printf("  %s: %s %s (last used %s)\n",
		    json_string_value(json_object_get(v, "upstream")),
		    json_string_value(json_object_get(v, "issuer")),
		    json_string_value(json_object_get(v, "subject")),
		    json_string_value(json_object_get(v, "last_used")));
	}
	printf("upstream groups:%s\n", json_object_size(upg) == 0 ? " -" : "");
	json_object_foreach(upg, k, v)
	{
		printf("  %s: ", k);
		for (size_t g = 0; g < json_array_size(v); g++)
			printf("%s%s", g != 0 ? ", " : "", json_string_value(json_array_get(v, g)));
		printf("%s\n", json_array_size(v) == 0 ? "-" : "");
	}
	printf("groups:      ");
	json_array_foreach(names, i, v)
	{
		printf("%s%s", i != 0 ? ", " : "", json_string_value(v));
	}
	printf("%s\n", json_array_size(names) == 0 ? "-" : "");
	s = json_dumps(attrs, JSON_INDENT(2) | JSON_SORT_KEYS);
	printf("attributes:  %s\n", s != NULL ? s : "{}");
	free(s);
	rc = FB_EXIT_OK;
out:
	json_decref(attrs);
	json_decref(names);
	json_decref(uj);
	json_decref(links);
	json_decref(upg);
	free_names(ug, nug);
	free(source);
	fb_local_account_cleanup(&acc);
	fb_cli_ctx_close(&x);
	return rc;
}

static int
user_set_password(int argc, char **argv)
{
	struct args a = {0};
	const struct fb_cli_option opts[] = {
	    {"password-stdin", 0, NULL, &a.password_stdin},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"user set-password", usage_set_password, &a.co, opts,
	    &a.user, MISSING_USER};
	char *password = NULL;
	int rc, generated = 0;
	struct fb_cli_ctx x;
	struct fb_err err;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
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
		rc = fb_cli_error(&err);
		goto out;
	}
	if ((rc = fb_cli_ctx_open(&a.co, FB_CLI_STORE, &x)) != FB_EXIT_OK)
		goto out;
	if (fb_local_password_set(x.conf, x.st, a.user, password, NULL, &err) != FB_OK)
		rc = fb_cli_error(&err);
	else {
		printf("password of %s set\n", a.user);
		if (generated)
			printf("password: %s\n(shown once)\n", password);
		rc = FB_EXIT_OK;
	}
	fb_cli_ctx_close(&x);
out:
	fb_secret_free(password);
	return rc;
}

/* disable, enable, delete, reset-mfa: NAME only; what describes them in their --help. */
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

/* argv[0] is one of simple[]. */
static int
user_simple(int argc, char **argv)
{
	const char *cmd = argv[0], *what = "";
	struct args a = {0};
	struct fb_cli_syntax syntax = {NULL, NULL, &a.co, NULL, &a.user, MISSING_USER};
	char *help, *name;
	struct fb_cli_ctx x;
	struct fb_err err;
	enum fb_status r;
	int rc;

	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (strcmp(cmd, simple[i].name) == 0)
			what = simple[i].what;
	help = fb_xasprintf("usage: fedbroker user %s NAME [--config FILE] [--state-dir DIR]\n"
			    "\n%s\n\n" COMMON_OPTS,
	    cmd, what);
	name = fb_xasprintf("user %s", cmd);
	syntax.cmd = name;
	syntax.help = help;
	rc = fb_cli_args_parse(argc, argv, &syntax);
	free(help);
	free(name);
	if (rc >= 0)
		return rc;
	if ((rc = fb_cli_ctx_open(&a.co, FB_CLI_STORE, &x)) != FB_EXIT_OK)
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
		rc = fb_cli_error(&err);
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
	fb_cli_ctx_close(&x);
	return rc;
}

static int
user_recovery_link(int argc, char **argv)
{
	struct args a = {0};
	/* Here --email is a flag (send the link by email). */
	const struct fb_cli_option opts[] = {
	    {"email", 0, NULL, &a.send_email},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"user recovery-link", usage_recovery, &a.co, opts,
	    &a.user, MISSING_USER};
	char *url = NULL, *to = NULL;
	struct fb_cli_ctx x;
	struct fb_err err;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if ((rc = fb_cli_ctx_open(&a.co, FB_CLI_STORE, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	if (a.send_email) {
		if (fb_local_recovery_link_mail(x.conf, x.st, a.user, NULL, &to, &err) != FB_OK)
			rc = fb_cli_error(&err);
		else
			printf("recovery link for %s sent to %s (valid %lld minutes, once)\n", a.user,
			    to, (long long)(x.conf->recovery_lifetime / 60));
	} else if (fb_local_recovery_link_new(x.conf, x.st, a.user, NULL, &url, &err) != FB_OK) {
		rc = fb_cli_error(&err);
	} else {
		printf("%s\n", url);
		fprintf(stderr, "one-time link for %s, valid %lld minutes\n", a.user,
		    (long long)(x.conf->recovery_lifetime / 60));
	}
	fb_secret_free(url);
	free(to);
	fb_cli_ctx_close(&x);
	return rc;
}

int
fb_cli_user(int argc, char **argv)
{
	static const struct fb_cli_command table[] = {
	    {"add", user_add},
	    {"list", user_list},
	    {"show", user_show},
	    {"set-password", user_set_password},
	    {"recovery-link", user_recovery_link},
	    {"disable", user_simple},
	    {"enable", user_simple},
	    {"delete", user_simple},
	    {"reset-mfa", user_simple},
	    {NULL, NULL},
	};

	return fb_cli_dispatch(argc, argv, usage_user, table);
}
