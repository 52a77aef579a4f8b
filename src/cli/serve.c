/* SPDX-License-Identifier: Apache-2.0 */
/* cli/serve.c: fedbroker serve: run the broker (master, workers, jobs). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "conf/conf.h"
#include "daemon/daemon.h"
#include "cli/cli.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: fedbroker serve [--config FILE] [--listen ADDR:PORT] [--state-dir DIR]\n"
	    "                       [--workers N]\n\n"
	    "Runs the broker: a master process, N workers serving HTTP on the listen\n"
	    "addresses, and a jobs process. Flags override the configuration file.\n\n"
	    "options:\n"
	    "  -c, --config FILE     configuration file (default: $FEDBROKER_CONFIG, else\n"
	    "                        the built-in defaults)\n"
	    "  -l, --listen ADDR:PORT  listen address; several separated by commas\n"
	    "  -d, --state-dir DIR   directory for keys and the SQLite store\n"
	    "  -w, --workers N       worker processes (0 = one per CPU)\n"
	    "  -h, --help            show this help\n\n"
	    "signals: SIGHUP reloads the configuration (only when valid), SIGTERM and\n"
	    "SIGINT stop after the requests in flight (server.shutdown_timeout).\n"
	    "exit status: 0 stopped cleanly, 1 start-up failed, 2 usage error.\n"
	    "See fedbroker(8) and fedbroker.yaml(5).\n");
}

/* The value of option argv[*i] (--opt VALUE or --opt=VALUE); NULL when missing. */
static const char *
opt_value(int argc, char **argv, int *i, const char *lng, const char *shrt)
{
	size_t n = strlen(lng);

	if (strncmp(argv[*i], lng, n) == 0 && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (strcmp(argv[*i], lng) == 0 || strcmp(argv[*i], shrt) == 0) {
		if (*i + 1 >= argc)
			return NULL;
		return argv[++*i];
	}
	return NULL;
}

static int
is_opt(const char *arg, const char *lng, const char *shrt)
{
	size_t n = strlen(lng);

	return strcmp(arg, lng) == 0 || strcmp(arg, shrt) == 0 ||
	    (strncmp(arg, lng, n) == 0 && arg[n] == '=');
}

int
fb_cli_serve(int argc, char **argv)
{
	struct fb_conf_overrides ov = {.workers = -1};
	const char *config = fb_cli_default_config();

	if (fb_cli_wants_help(argc, argv)) {
		usage(stdout);
		return FB_EXIT_OK;
	}
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *v;

		if (is_opt(arg, "--config", "-c")) {
			if ((v = opt_value(argc, argv, &i, "--config", "-c")) == NULL)
				goto missing;
			config = v;
		} else if (is_opt(arg, "--listen", "-l")) {
			if ((v = opt_value(argc, argv, &i, "--listen", "-l")) == NULL)
				goto missing;
			ov.listen = v;
		} else if (is_opt(arg, "--state-dir", "-d")) {
			if ((v = opt_value(argc, argv, &i, "--state-dir", "-d")) == NULL)
				goto missing;
			ov.state_dir = v;
		} else if (is_opt(arg, "--workers", "-w")) {
			char *end = NULL;
			long n;

			if ((v = opt_value(argc, argv, &i, "--workers", "-w")) == NULL)
				goto missing;
			errno = 0;
			n = strtol(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0' || n < 0 || n > 256) {
				fprintf(stderr, "fedbroker serve: --workers: '%s' is not a number "
						"from 0 to 256\n", v);
				return FB_EXIT_USAGE;
			}
			ov.workers = (int)n;
		} else {
			fprintf(stderr, "fedbroker serve: unknown argument '%s'\n", arg);
			usage(stderr);
			return FB_EXIT_USAGE;
		}
		continue;
missing:
		fprintf(stderr, "fedbroker serve: %s needs a value\n", arg);
		return FB_EXIT_USAGE;
	}
	return fb_daemon_run(config, &ov) == 0 ? FB_EXIT_OK : FB_EXIT_FAIL;
}
