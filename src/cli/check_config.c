/* SPDX-License-Identifier: Apache-2.0 */
/* cli/check_config.c: fedbroker check-config: every problem of a configuration file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "daemon/daemon.h"
#include "store/store.h"
#include "cli/cli.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: fedbroker check-config [--quiet] [FILE]\n\n"
	    "Reads the configuration FILE (default: $FEDBROKER_CONFIG) and prints every\n"
	    "problem found, one per line as FILE:LINE:COLUMN: KEY: MESSAGE, then a summary.\n"
	    "Beyond the file it compiles every mapping rule of mappings.dir and sets up\n"
	    "each SAML service provider (metadata, certificates, AWS's limits), with the\n"
	    "keys of server.state_dir when they exist. With store.driver postgres it\n"
	    "connects to the store (changing nothing) and needs keys: and\n"
	    "session.cookie_keys (nothing is generated for replicas).\n"
	    "Warnings do not fail the check.\n\n"
	    "options:\n"
	    "  -q, --quiet   print errors only (no warnings, no summary)\n"
	    "  -h, --help    show this help\n\n"
	    "exit status: 0 no errors, 1 errors found, 2 usage error.\n"
	    "See fedbroker.yaml(5) for the keys.\n");
}

/*
 * A shared store (store.driver postgres) means replicas: serve generates neither a
 * signing key nor cookie keys for them, so both must be given (keys:,
 * session.cookie_keys) or already be in server.state_dir. Placed at store.driver.
 */
static void
check_replica_keys(const struct fb_conf *conf, const struct fb_keyring *kr, enum fb_status keys_err,
    struct fb_conf_report *rep)
{
	char *path;

	if (!fb_conf_store_is_shared(conf))
		return;
	if (kr == NULL && keys_err == FB_ERR_NOTFOUND)
		fb_conf_report_add(rep, conf, "store.driver", 1,
		    "postgres (a shared store: replicas) needs the signing keys listed in keys:, "
		    "the same files on every replica; none is generated per replica");
	if (conf->ncookie_secrets > 0)
		return;
	path = conf->state_dir != NULL ? fb_xasprintf("%s/cookie-keys", conf->state_dir) : NULL;
	if (path == NULL || access(path, F_OK) != 0)
		fb_conf_report_add(rep, conf, "store.driver", 1,
		    "postgres (a shared store: replicas) needs session.cookie_keys, the same "
		    "secrets on every replica; none are generated per replica");
	free(path);
}

static const char *
plural(size_t n, const char *word, const char *words)
{
	return n == 1 ? word : words;
}

int
fb_cli_check_config(int argc, char **argv)
{
	struct fb_conf_report *rep = NULL;
	struct fb_conf *conf = NULL;
	const char *file = NULL;
	struct fb_err err;
	size_t nerr, nwarn;
	int quiet = 0, i, rc;

	if (fb_cli_wants_help(argc, argv)) {
		usage(stdout);
		return FB_EXIT_OK;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
			quiet = 1;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "fedbroker check-config: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return FB_EXIT_USAGE;
		} else {
			break;
		}
	}
	if (i < argc)
		file = argv[i++];
	if (i < argc) {
		fprintf(stderr, "fedbroker check-config: one FILE only ('%s' is extra)\n", argv[i]);
		return FB_EXIT_USAGE;
	}
	if (file == NULL && (file = fb_cli_default_config()) == NULL) {
		fprintf(stderr, "fedbroker check-config: give a FILE (or set FEDBROKER_CONFIG)\n");
		usage(stderr);
		return FB_EXIT_USAGE;
	}
	if (fb_conf_load(file, NULL, &conf, &rep, &err) == FB_OK) {
		struct fb_keyring *kr = NULL;
		enum fb_status keys_err = FB_OK;

		/* Keys are made at the first start: before it, key checks are skipped. */
		if (fb_crypto_keyring_load_existing(conf, &kr, &err) != FB_OK &&
		    (keys_err = err.code) != FB_ERR_NOTFOUND)
			fb_conf_report_add(rep, conf, "keys", 1, err.msg);
		check_replica_keys(conf, kr, keys_err, rep);
		fb_daemon_conf_check(conf, kr, rep, &err);
		fb_crypto_keyring_free(kr);
		/* PostgreSQL: reachable with these credentials, recent enough, schema known. */
		if (fb_conf_report_errors(rep) == 0 && fb_store_check(conf, NULL, &err) != FB_OK)
			fb_conf_report_add(rep, conf, "store.dsn", 1, err.msg);
	}
	for (size_t k = 0; k < fb_conf_report_count(rep); k++)
		if (!quiet || fb_conf_report_is_error(rep, k))
			fprintf(stderr, "%s\n", fb_conf_report_line(rep, k));
	nerr = fb_conf_report_errors(rep);
	nwarn = fb_conf_report_warnings(rep);
	if (!quiet && nerr == 0 && nwarn == 0)
		printf("%s: OK\n", file);
	else if (!quiet && nwarn == 0)
		printf("%s: %zu %s\n", file, nerr, plural(nerr, "error", "errors"));
	else if (!quiet)
		printf("%s: %zu %s, %zu %s\n", file, nerr, plural(nerr, "error", "errors"), nwarn,
		    plural(nwarn, "warning", "warnings"));
	rc = nerr == 0 ? FB_EXIT_OK : FB_EXIT_FAIL;
	fb_conf_report_free(rep);
	fb_conf_free(conf);
	return rc;
}
