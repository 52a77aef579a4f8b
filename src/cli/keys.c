/* SPDX-License-Identifier: Apache-2.0 */
/* cli/keys.c: fedbroker keys list|generate|activate|retire: the signing keys and their rollover. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "cli/cli.h"

static const char usage_keys[] = "usage: fedbroker keys <command> [options]\n"
                                 "\n"
                                 "Manages the signing keys (SAML metadata, OIDC JWKS).\n"
                                 "\n"
                                 "commands:\n"
                                 "  list       list the keys, their expiry and state\n"
                                 "  generate   generate a new key, published (rollover step 1)\n"
                                 "  activate   make a published key the signing one (step 2)\n"
                                 "  retire     stop publishing a key that no longer signs (step 3)\n"
                                 "\n"
                                 "A rollover: 'keys generate', reload, wait until every service\n"
                                 "provider has the new metadata (key_rollover.min_publish_time), 'keys\n"
                                 "activate NEW', reload, later 'keys retire OLD', reload.\n"
                                 "\n"
                                 "'fedbroker keys <command> --help' describes a command.\n";

static const char usage_list[] =
    "usage: fedbroker keys list [--config FILE] [--state-dir DIR] [--json]\n"
    "\n"
    "Lists the signing keys: those of the configuration's keys: list, or else\n"
    "those in <state_dir>/keys. Columns: ID ALG BITS PUBLISHED EXPIRES STATE\n"
    "(active, published or retired). Warns when the active key was published\n"
    "for less than key_rollover.min_publish_time.\n"
    "\n"
    FB_CLI_HELP_CONFIG
    "      --json           print a JSON array instead of a table\n" FB_CLI_HELP_HELP;

static const char usage_generate[] =
    "usage: fedbroker keys generate [--config FILE] [--state-dir DIR] [--id ID]\n"
    "                               [--type rsa|ec] [--bits N] [--days N]\n"
    "                               [--activate] [--out DIR]\n"
    "\n"
    "Generates a key and a self-signed certificate into <state_dir>/keys. The\n"
    "new key is only published: it appears in the metadata after a reload, and\n"
    "'fedbroker keys activate ID' makes it sign once every service provider has\n"
    "fetched it (AWS IAM refuses sign-ins signed by a key it does not know yet).\n"
    "The first key of an empty directory is active at once. With --activate the\n"
    "new key signs at once and the active key before stays published. When the\n"
    "configuration lists its keys explicitly, --out DIR is required: the files\n"
    "are written there and the keys: entry to add is printed. Run it as the user\n"
    "fedbroker runs as; files are created 0600.\n"
    "\n"
    FB_CLI_HELP_CONFIG
    "      --id ID          key id (default kYYYYMMDD-xxxx)\n"
    "      --type TYPE      rsa (default) or ec\n"
    "      --bits N         RSA 2048..8192 (default 2048); EC 256 (default) or 384\n"
    "      --days N         certificate validity in days (default 3650)\n"
    "      --activate       make the new key the signing one at once\n"
    "      --publish-only   only publish the new key (the default; kept for scripts)\n"
    "      --out DIR        write into DIR and print the configuration entry\n" FB_CLI_HELP_HELP;

static const char usage_activate[] =
    "usage: fedbroker keys activate KEY [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Makes the published key KEY the active (signing) one in <state_dir>/keys;\n"
    "the key active before stays published, so service providers still verify\n"
    "what it signed. Warns when KEY was published for less than\n"
    "key_rollover.min_publish_time. A retired or unknown key is refused. Reload\n"
    "fedbroker (SIGHUP) to sign with it.\n"
    "\n"
    FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP;

static const char usage_retire[] =
    "usage: fedbroker keys retire KEY [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Retires the published key KEY in <state_dir>/keys: after a reload it is\n"
    "neither published nor signing (its files stay). The active key is refused:\n"
    "activate another key first.\n"
    "\n"
    FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP;

#define MISSING_KEY "the KEY id is missing (see 'fedbroker keys list')"

static int
parse_int(const char *s, long min, long max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

static void
format_day(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, outlen, "%Y-%m-%d", &tm);
}

static const char *
alg_name(const char *type)
{
	return strcmp(type, "ec") == 0 ? "EC" : "RSA";
}

static const char *
state_name(enum fb_conf_key_state s)
{
	return fb_crypto_key_state_name(s);
}

/* The rollover warning of kr, if any, on stderr. */
static void
warn_rollover(const struct fb_conf *conf, const struct fb_keyring *kr)
{
	char msg[512];

	if (fb_crypto_keyring_rollover_check(kr, conf->key_min_publish_time, fb_time_now(), msg,
	        sizeof(msg)))
		fprintf(stderr, "warning: %s\n", msg);
}

static void
print_table(const struct fb_keyring *kr)
{
	size_t i, n = fb_crypto_keyring_count(kr), w = 2;
	struct fb_key_info info;
	char day[16], pub[16];

	for (i = 0; i < n; i++) {
		fb_crypto_key_info(fb_crypto_keyring_get(kr, i), &info);
		if (strlen(info.id) > w)
			w = strlen(info.id);
	}
	printf("%-*s  %-3s  %5s  %-10s  %-10s  %s\n", (int)w, "ID", "ALG", "BITS", "PUBLISHED",
	    "EXPIRES", "STATE");
	for (i = 0; i < n; i++) {
		fb_crypto_key_info(fb_crypto_keyring_get(kr, i), &info);
		format_day(info.not_after, day, sizeof(day));
		format_day(info.not_before, pub, sizeof(pub));
		printf("%-*s  %-3s  %5d  %-10s  %-10s  %s%s\n", (int)w, info.id, info.alg, info.bits,
		    pub, day, state_name(info.state),
		    info.not_after <= fb_time_now() ? " (expired)" : "");
	}
}

static int
print_json(const struct fb_keyring *kr)
{
	json_t *arr = json_array();
	struct fb_key_info info;
	char when[32], pub[32];
	char *s;

	for (size_t i = 0; i < fb_crypto_keyring_count(kr); i++) {
		fb_crypto_key_info(fb_crypto_keyring_get(kr, i), &info);
		fb_time_format(info.not_after, -1, when, sizeof(when));
		fb_time_format(info.not_before, -1, pub, sizeof(pub));
		json_array_append_new(arr,
		    json_pack("{s:s, s:s, s:i, s:s, s:s, s:b, s:s, s:s, s:s}", "id", info.id, "alg",
		        info.alg, "bits", info.bits, "published", pub, "expires", when, "expired",
		        info.not_after <= fb_time_now(), "state", state_name(info.state),
		        "key", info.key_file, "cert", info.cert_file));
	}
	s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(arr);
	if (s == NULL)
		return FB_EXIT_FAIL;
	printf("%s\n", s);
	free(s);
	return FB_EXIT_OK;
}

static int
keys_list(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	int json = 0, rc;
	const struct fb_cli_option opts[] = {
	    {"json", 0, NULL, &json},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"keys list", usage_list, &co, opts, NULL, NULL};
	struct fb_keyring *kr = NULL;
	struct fb_cli_ctx x;
	struct fb_err err;
	enum fb_status r;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if ((rc = fb_cli_ctx_open(&co, 0, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	/* Not FB_CLI_KEYRING: no key yet is an answer here, not an error. */
	r = fb_crypto_keyring_load_all(x.conf, &kr, &err);
	if (r == FB_ERR_NOTFOUND) {
		if (json)
			printf("[]\n");
		else
			printf("%s: fedbroker generates a key on its first start, or run "
			       "'fedbroker keys generate'\n",
			    err.msg);
		rc = FB_EXIT_OK;
	} else if (r != FB_OK) {
		rc = fb_cli_error(&err);
	} else if (json) {
		warn_rollover(x.conf, kr);
		rc = print_json(kr);
	} else {
		print_table(kr);
		fflush(stdout);
		warn_rollover(x.conf, kr);
		rc = FB_EXIT_OK;
	}
	fb_crypto_keyring_free(kr);
	fb_cli_ctx_close(&x);
	return rc;
}

/* A bad --id or --bits is a usage error; anything else a failure. */
static int
generate_exit(const struct fb_err *err)
{
	return err->code == FB_ERR_INVALID ? FB_EXIT_USAGE : FB_EXIT_FAIL;
}

/* The configuration lists its keys: write into out and print the entry to add. */
static int
generate_out(const struct fb_conf *conf, const char *out, const char *id, const char *type,
    int bits, int days, int activate)
{
	enum fb_conf_key_state state = activate ? FB_KEY_ACTIVE : FB_KEY_PUBLISHED;
	char *cn = fb_crypto_key_cn(conf), *abs = NULL;
	const char *prev = NULL;
	struct fb_err err;
	int rc = FB_EXIT_FAIL;

	fb_err_clear(&err);
	for (size_t i = 0; i < conf->nkeys; i++)
		if (strcmp(conf->keys[i].id, id) == 0) {
			fb_err_set(&err, FB_ERR_INVALID,
			    "key id %s is already in the configuration", id);
			fb_cli_error(&err);
			rc = FB_EXIT_USAGE;
			goto out;
		}
	if (fb_crypto_key_generate(out, id, type, bits, days, cn, state, &err) != FB_OK) {
		fb_cli_error(&err);
		rc = generate_exit(&err);
		goto out;
	}
	abs = realpath(out, NULL);
	for (size_t i = 0; i < conf->nkeys; i++)
		if (conf->keys[i].state == FB_KEY_ACTIVE)
			prev = conf->keys[i].id;
	printf("generated key %s (%s %d bits) in %s\n\nadd it to the keys: list of %s:\n\n", id,
	    alg_name(type), bits, abs != NULL ? abs : out,
	    conf->path != NULL ? conf->path : "the configuration");
	printf("keys:\n  - id: %s\n    key: %s/%s.key.pem\n    cert: %s/%s.crt.pem\n"
	       "    state: %s\n",
	    id, abs != NULL ? abs : out, id, abs != NULL ? abs : out, id, state_name(state));
	if (activate && prev != NULL)
		printf("\nand set the state of key %s to published: it then no longer signs, and "
		       "relying parties can still verify what it signed.\n",
		    prev);
	else if (!activate)
		printf("\nmake it active (and the current active key published) once every "
		       "service provider has fetched the metadata (key_rollover.min_publish_time).\n");
	rc = FB_EXIT_OK;
out:
	free(abs);
	free(cn);
	return rc;
}

static int
generate_state_dir(const struct fb_cli_ctx *x, const char *id, const char *type, int bits, int days,
    int activate)
{
	const struct fb_conf *conf = x->conf;
	enum fb_conf_key_state state;
	char *dir = NULL, *prev = NULL, *cn = fb_crypto_key_cn(conf);
	char day[16];
	struct fb_err err;
	int rc = FB_EXIT_FAIL;

	fb_err_clear(&err);
	if (conf->state_dir == NULL) {
		fb_err_set(&err, FB_ERR_CONFIG, "no state_dir is configured (use --state-dir)");
		fb_cli_error(&err);
		goto out;
	}
	if (fb_cli_store_check(x, conf->state_dir, "state directory", &err) != FB_OK) {
		fb_cli_error(&err);
		goto out;
	}
	if (mkdir(conf->state_dir, 0700) != 0 && errno != EEXIST) {
		fb_err_set(&err, FB_ERR_IO, "cannot create %s: %s", conf->state_dir,
		    strerror(errno));
		fb_cli_error(&err);
		goto out;
	}
	dir = fb_xasprintf("%s/keys", conf->state_dir);
	if (fb_crypto_keydir_active(dir, &prev, &err) != FB_OK) {
		fb_cli_error(&err);
		goto out;
	}
	/* The first key signs: there is nothing to roll over from. */
	state = activate || prev == NULL ? FB_KEY_ACTIVE : FB_KEY_PUBLISHED;
	if (fb_crypto_key_generate(dir, id, type, bits, days, cn, state, &err) != FB_OK) {
		fb_cli_error(&err);
		rc = generate_exit(&err);
		goto out;
	}
	format_day(fb_time_now() + (int64_t)days * 86400, day, sizeof(day));
	printf("generated key %s (%s %d bits, CN=%s, valid until %s): %s\n  %s/%s.key.pem\n"
	       "  %s/%s.crt.pem\n",
	    id, alg_name(type), bits, cn, day, state_name(state), dir, id, dir, id);
	if (state == FB_KEY_PUBLISHED)
		printf("key %s stays active; %s is published for service providers to fetch: reload "
		       "fedbroker, wait until every service provider has the new metadata, then run "
		       "'fedbroker keys activate %s'\n",
		    prev, id, id);
	else if (prev != NULL)
		printf("key %s is now published: it no longer signs, and relying parties can still "
		       "verify what it signed (service providers that have not fetched the new "
		       "metadata refuse what %s signs)\n",
		    prev, id);
	printf("reload or restart fedbroker to use it\n");
	rc = FB_EXIT_OK;
out:
	free(dir);
	free(prev);
	free(cn);
	return rc;
}

static int
keys_generate(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *id_opt = NULL, *type = "rsa", *out = NULL, *bits_s = NULL, *days_s = NULL;
	int bits = 0, days = 3650, publish_only = 0, activate = 0, rc;
	const struct fb_cli_option opts[] = {
	    {"id", 0, &id_opt, NULL},
	    {"type", 0, &type, NULL},
	    {"bits", 0, &bits_s, NULL},
	    {"days", 0, &days_s, NULL},
	    {"activate", 0, NULL, &activate},
	    {"publish-only", 0, NULL, &publish_only},
	    {"out", 0, &out, NULL},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"keys generate", usage_generate, &co, opts, NULL,
	    NULL};
	struct fb_cli_ctx x;
	char *id = NULL;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (strcmp(type, "rsa") != 0 && strcmp(type, "ec") != 0)
		return fb_cli_usage_error(syntax.cmd, "--type '%s': use rsa or ec", type);
	if (bits_s != NULL && parse_int(bits_s, 1, INT_MAX, &bits) != 0)
		return fb_cli_usage_error(syntax.cmd, "--bits '%s' is not a number", bits_s);
	if (days_s != NULL && parse_int(days_s, 1, 36500, &days) != 0)
		return fb_cli_usage_error(syntax.cmd, "--days '%s': use 1..36500", days_s);
	if (activate && publish_only)
		return fb_cli_usage_error(syntax.cmd, "--activate and --publish-only exclude each other");
	if (bits == 0)
		bits = strcmp(type, "rsa") == 0 ? 2048 : 256;
	if ((rc = fb_cli_ctx_open(&co, 0, &x)) != FB_EXIT_OK)
		return rc;
	id = id_opt != NULL ? fb_xstrdup(id_opt) : fb_crypto_key_id_new();
	if (x.conf->nkeys > 0 && out == NULL) {
		fprintf(stderr,
		    "fedbroker keys generate: %s lists its keys explicitly: give --out DIR, then "
		    "add the printed entry to its keys: list\n",
		    x.conf->path != NULL ? x.conf->path : "the configuration");
		rc = FB_EXIT_USAGE;
	} else if (out != NULL) {
		rc = generate_out(x.conf, out, id, type, bits, days, activate);
	} else {
		rc = generate_state_dir(&x, id, type, bits, days, activate);
	}
	if (rc == FB_EXIT_OK)
		fb_cli_audit(&x, "key_generated", FB_LOG_FIELDS(FB_LOG_STR("key", id)), "key generated");
	free(id);
	fb_cli_ctx_close(&x);
	return rc;
}

/* keys activate / keys retire: one state change of <state_dir>/keys. */
static int
keys_state_set(int argc, char **argv, const char *cmd, const char *usage,
    enum fb_conf_key_state to)
{
	struct fb_cli_conf_opts co = {0};
	const char *id = NULL;
	const struct fb_cli_syntax syntax = {cmd, usage, &co, NULL, &id, MISSING_KEY};
	enum fb_conf_key_state was;
	struct fb_keyring *kr = NULL;
	struct fb_cli_ctx x;
	struct fb_err err;
	char *prev = NULL;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if ((rc = fb_cli_ctx_open(&co, 0, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	if (fb_crypto_key_state_set(x.conf, id, to, &was, &prev, &err) != FB_OK) {
		rc = fb_cli_error(&err);
		goto out;
	}
	if (was == to) {
		printf("key %s is %s already: nothing changed\n", id, state_name(to));
	} else if (to == FB_KEY_ACTIVE) {
		printf("key %s is now active (it signs after a reload)", id);
		if (prev != NULL)
			printf("; key %s is now published: it no longer signs, and service providers "
			       "still verify what it signed; retire it later with 'fedbroker keys "
			       "retire %s'",
			    prev, prev);
		printf("\n");
	} else {
		printf("key %s is now retired: after a reload it is neither published nor "
		       "signing\n",
		    id);
	}
	if (was != to)
		fb_cli_audit(&x, to == FB_KEY_ACTIVE ? "key_activated" : "key_retired",
		    FB_LOG_FIELDS(FB_LOG_STR("key", id), FB_LOG_STR("previous_active", prev)),
		    to == FB_KEY_ACTIVE ? "key activated" : "key retired");
	if (to == FB_KEY_ACTIVE && fb_crypto_keyring_load_existing(x.conf, &kr, &err) == FB_OK)
		warn_rollover(x.conf, kr);
	printf("reload fedbroker (SIGHUP) to use it\n");
	rc = FB_EXIT_OK;
out:
	free(prev);
	fb_crypto_keyring_free(kr);
	fb_cli_ctx_close(&x);
	return rc;
}

static int
keys_activate(int argc, char **argv)
{
	return keys_state_set(argc, argv, "keys activate", usage_activate, FB_KEY_ACTIVE);
}

static int
keys_retire(int argc, char **argv)
{
	return keys_state_set(argc, argv, "keys retire", usage_retire, FB_KEY_RETIRED);
}

int
fb_cli_keys(int argc, char **argv)
{
	static const struct fb_cli_command table[] = {
	    {"list", keys_list},
	    {"generate", keys_generate},
	    {"activate", keys_activate},
	    {"retire", keys_retire},
	    {NULL, NULL},
	};

	return fb_cli_dispatch(argc, argv, usage_keys, table);
}
