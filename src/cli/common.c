/* SPDX-License-Identifier: Apache-2.0 */
/* cli/common.c: what every subcommand shares: usage errors, dispatch, options, set-up. */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "saml/saml.h"
#include "cli/cli.h"

/* getopt_long's value of a long option without a letter: OPT_BASE + its index. */
#define OPT_BASE 256

int
fb_cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
	}
	return 0;
}

int
fb_cli_error(const struct fb_err *err)
{
	fprintf(stderr, "fedbroker: %s\n",
	    err->msg[0] != '\0' ? err->msg : fb_status_name(err->code));
	if (getenv("FB_DEBUG") != NULL && err->file != NULL)
		fprintf(stderr, "  (raised at %s:%d in %s)\n", err->file, err->line, err->func);
	return FB_EXIT_FAIL;
}

int
fb_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fedbroker %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see 'fedbroker %s --help')\n", cmd);
	return FB_EXIT_USAGE;
}

const char *
fb_cli_default_config(void)
{
	const char *p = getenv("FEDBROKER_CONFIG");

	return p != NULL && *p != '\0' ? p : NULL;
}

int
fb_cli_dispatch(int argc, char **argv, const char *usage, const struct fb_cli_command *table)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return FB_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage, stdout);
		return FB_EXIT_OK;
	}
	for (const struct fb_cli_command *c = table; c->name != NULL; c++)
		if (strcmp(argv[1], c->name) == 0)
			return c->run(argc - 1, argv + 1);
	fprintf(stderr, "fedbroker %s: unknown command '%s'\n\n", argv[0], argv[1]);
	fputs(usage, stderr);
	return FB_EXIT_USAGE;
}

/* The usage error after getopt_long returned ':' or '?'. */
static int
option_error(const char *cmd, int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		return fb_cli_usage_error(cmd, "%s needs an argument", arg);
	if (optopt == 0)
		return fb_cli_usage_error(cmd, "unknown option %s", arg);
	/* A known long option given a value it does not take ("--json=1"). */
	if (strncmp(arg, "--", 2) == 0)
		return fb_cli_usage_error(cmd, "%s: the option takes no value", arg);
	return fb_cli_usage_error(cmd, "unknown option -%c", optopt);
}

int
fb_cli_args_parse(int argc, char **argv, const struct fb_cli_syntax *syntax)
{
	struct fb_cli_option *opts;
	struct option *longopts;
	char *shortopts, *sp;
	size_t n = 0, i;
	int c, rc = FB_EXIT_USAGE;

	while (syntax->opts != NULL && syntax->opts[n].name != NULL)
		n++;
	/* The whole table: the command's options, then those of its configuration. */
	opts = fb_xcalloc(n + 3, sizeof(*opts));
	if (n > 0)
		memcpy(opts, syntax->opts, n * sizeof(*opts));
	if (syntax->conf != NULL) {
		opts[n++] = (struct fb_cli_option)FB_CLI_OPT_CONFIG(syntax->conf);
		opts[n++] = (struct fb_cli_option)FB_CLI_OPT_STATE_DIR(syntax->conf);
		opts[n++] = (struct fb_cli_option)FB_CLI_OPT_INIT(syntax->conf);
	}
	/* getopt's tables: every option, then --help and the end; ":" + "x:" per letter + "h". */
	longopts = fb_xcalloc(n + 2, sizeof(*longopts));
	sp = shortopts = fb_xmalloc(2 * n + 3);
	*sp++ = ':';
	for (i = 0; i < n; i++) {
		longopts[i].name = opts[i].name;
		longopts[i].has_arg = opts[i].value != NULL ? required_argument : no_argument;
		longopts[i].val = opts[i].letter != 0 ? opts[i].letter : OPT_BASE + (int)i;
		if (opts[i].letter != 0) {
			*sp++ = opts[i].letter;
			if (opts[i].value != NULL)
				*sp++ = ':';
		}
	}
	longopts[n].name = "help";
	longopts[n].val = 'h';
	*sp++ = 'h';
	*sp = '\0';

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct fb_cli_option *o = NULL;

		if (c == 'h') {
			fputs(syntax->help, stdout);
			rc = FB_EXIT_OK;
			goto out;
		}
		if (c >= OPT_BASE && (size_t)(c - OPT_BASE) < n)
			o = &opts[c - OPT_BASE];
		for (i = 0; o == NULL && i < n && c != ':' && c != '?'; i++)
			if (opts[i].letter == c)
				o = &opts[i];
		if (o == NULL) {
			rc = option_error(syntax->cmd, c, argv);
			goto out;
		}
		if (o->value != NULL && o->flag != NULL) {
			if (*o->flag >= FB_CLI_MANY_MAX) {
				rc = fb_cli_usage_error(syntax->cmd, "--%s: at most %d", o->name,
				    FB_CLI_MANY_MAX);
				goto out;
			}
			o->value[(*o->flag)++] = optarg;
		} else if (o->value != NULL) {
			*o->value = optarg;
		} else {
			*o->flag = 1;
		}
	}
	if (syntax->operand != NULL) {
		if (optind >= argc) {
			rc = fb_cli_usage_error(syntax->cmd, "%s", syntax->missing);
			goto out;
		}
		*syntax->operand = argv[optind++];
	}
	if (optind < argc) {
		rc = fb_cli_usage_error(syntax->cmd, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	rc = -1;
out:
	free(longopts);
	free(shortopts);
	free(opts);
	return rc;
}

/* "cli:" and who runs the command (and who became root through sudo). Static. */
static const char *
audit_actor(void)
{
	static char actor[160];
	const struct passwd *pw = getpwuid(geteuid());
	const char *sudo = getenv("SUDO_USER");
	char who[64];

	if (pw != NULL)
		snprintf(who, sizeof(who), "%s", pw->pw_name);
	else
		snprintf(who, sizeof(who), "uid %ju", (uintmax_t)geteuid());
	if (sudo != NULL && sudo[0] != '\0' && strcmp(sudo, who) != 0)
		snprintf(actor, sizeof(actor), "cli:%s (sudo from %.64s)", who, sudo);
	else
		snprintf(actor, sizeof(actor), "cli:%s", who);
	return actor;
}

/* The audit sink of a command with the store open: the line goes to the audit log too. */
static void
audit_record(const char *event, const char *detail, void *arg)
{
	struct fb_cli_ctx *x = arg;
	struct fb_err err;

	fb_err_clear(&err);
	if (x->st != NULL && fb_store_audit_add(x->st, audit_actor(), event, detail, &err) != FB_OK)
		fb_log(FB_LOG_WARN, "not recorded in the store's audit log: %s", err.msg);
}

/*
 * FB_OK when x's store exists or --init was given: the SQLite file is
 * there, or the PostgreSQL database has fedbroker's schema (it is reached
 * and checked, nothing is changed).
 */
static enum fb_status
store_exists(const struct fb_cli_ctx *x, struct fb_err *err)
{
	char *path = fb_store_path(x->conf);
	int v = 0;
	enum fb_status r;

	if (path != NULL) {
		r = fb_cli_store_check(x, path, "store", err);
		free(path);
		return r;
	}
	if ((r = fb_store_check(x->conf, &v, err)) != FB_OK || x->init || v != 0)
		return r;
	return fb_err_set(err, FB_ERR_NOTFOUND,
	    "no store in the PostgreSQL database of store.dsn (configuration: %s): only "
	    "'fedbroker serve' creates one, or this command with --init",
	    x->config != NULL ? x->config : "built-in defaults, no --config");
}

int
fb_cli_ctx_open(const struct fb_cli_conf_opts *o, unsigned need, struct fb_cli_ctx *x)
{
	struct fb_conf_overrides ov = {.listen = NULL, .state_dir = o->state_dir, .workers = -1};
	struct fb_err err;
	int rc = FB_EXIT_FAIL;

	memset(x, 0, sizeof(*x));
	fb_err_clear(&err);
	x->config = o->config != NULL ? o->config : fb_cli_default_config();
	x->init = o->init;
	if (fb_conf_load(x->config, &ov, &x->conf, NULL, &err) != FB_OK)
		goto out;
	fb_log_setup(x->conf->log_format,
	    x->conf->log_level > FB_LOG_WARN ? x->conf->log_level : FB_LOG_WARN, 2);
	if ((need & FB_CLI_KEYRING) != 0 &&
	    fb_crypto_keyring_load_existing(x->conf, &x->kr, &err) != FB_OK) {
		if (err.code == FB_ERR_NOTFOUND)
			fb_err_set(&err, FB_ERR_NOTFOUND,
			    "no signing key in %s/keys yet: start the broker once or run "
			    "'fedbroker keys generate'",
			    x->conf->state_dir);
		goto out;
	}
	if ((need & FB_CLI_STORE_IF_THERE) != 0 && (need & FB_CLI_STORE) == 0 &&
	    store_exists(x, &err) == FB_ERR_NOTFOUND) {
		fb_err_clear(&err);
	} else if ((need & (FB_CLI_STORE | FB_CLI_STORE_IF_THERE)) != 0) {
		/* SECURITY: a mistyped or missing --config must not start an empty second store. */
		if (store_exists(x, &err) != FB_OK || fb_store_open(x->conf, &x->st, &err) != FB_OK)
			goto out;
		fb_log_audit_sink_set(audit_record, x);
	}
	rc = FB_EXIT_OK;
out:
	if (rc != FB_EXIT_OK) {
		fb_cli_error(&err);
		fb_cli_ctx_close(x);
	}
	return rc;
}

enum fb_status
fb_cli_store_check(const struct fb_cli_ctx *x, const char *path, const char *what,
    struct fb_err *err)
{
	struct stat sb;

	/* Only a path that is not there is refused; opening reports any other problem. */
	if (x->init || stat(path, &sb) == 0 || errno != ENOENT)
		return FB_OK;
	return fb_err_set(err, FB_ERR_NOTFOUND,
	    "no %s at %s (configuration: %s): only 'fedbroker serve' creates one, or this "
	    "command with --init. Point at the real one with --config FILE (or "
	    "$FEDBROKER_CONFIG) or --state-dir DIR",
	    what, path, x->config != NULL ? x->config : "built-in defaults, no --config");
}

void
fb_cli_audit(struct fb_cli_ctx *x, const char *event, const struct fb_log_field *fields,
    const char *msg)
{
	struct fb_err err;

	fb_err_clear(&err);
	if (x->st == NULL) {
		/* Recording never creates a store: only serve or --init does. */
		if (store_exists(x, &err) == FB_OK && fb_store_open(x->conf, &x->st, &err) == FB_OK)
			fb_log_audit_sink_set(audit_record, x);
		else
			fb_log(FB_LOG_WARN, "not recorded in the store's audit log: %s", err.msg);
	}
	fb_log_event(FB_LOG_INFO, "audit", "cli", NULL, event, fields, "%s", msg);
}

void
fb_cli_ctx_close(struct fb_cli_ctx *x)
{
	if (x->st != NULL)
		fb_log_audit_sink_set(NULL, NULL);
	fb_store_close(x->st);
	fb_crypto_keyring_free(x->kr);
	fb_conf_free(x->conf);
	memset(x, 0, sizeof(*x));
}

enum fb_status
fb_cli_sp_get(const struct fb_saml_idp *idp, const char *name, const struct fb_saml_sp **out,
    struct fb_err *err)
{
	const char *best = NULL;
	int bestd = 4;

	if ((*out = fb_saml_idp_sp_get(idp, name)) != NULL)
		return FB_OK;
	for (size_t i = 0; i < fb_saml_idp_sp_count(idp); i++) {
		const char *n = fb_saml_sp_name(fb_saml_idp_sp_at(idp, i));
		int d = fb_str_distance(n, name);

		if (d < bestd) {
			bestd = d;
			best = n;
		}
	}
	if (fb_saml_idp_sp_count(idp) == 0)
		return fb_err_set(err, FB_ERR_NOTFOUND,
		    "--sp %s: the configuration declares no saml.service_providers", name);
	if (best != NULL)
		return fb_err_set(err, FB_ERR_NOTFOUND,
		    "--sp %s: no such service provider (did you mean '%s'?)", name, best);
	return fb_err_set(err, FB_ERR_NOTFOUND,
	    "--sp %s: no such service provider in saml.service_providers", name);
}

int
fb_cli_json_print(const json_t *j, size_t flags)
{
	char *s = json_dumps(j, flags);

	if (s == NULL)
		return FB_EXIT_FAIL;
	printf("%s\n", s);
	free(s);
	return FB_EXIT_OK;
}

void
fb_cli_time_format(int64_t t, char *out, size_t len)
{
	if (t == 0)
		snprintf(out, len, "never");
	else
		fb_time_format(t, -1, out, len);
}

const char *
fb_cli_json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}
