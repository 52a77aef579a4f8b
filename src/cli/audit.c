/* SPDX-License-Identifier: Apache-2.0 */
/* cli/audit.c: fedbroker audit list: the administrative actions recorded in the store. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "cli/cli.h"

#define DEFAULT_LIMIT 50

static const char usage_audit[] =
    "usage: fedbroker audit <command> [options]\n"
    "\n"
    "The store's audit log: what the command line changed (accounts, tokens, keys,\n"
    "metadata...), when and by whom, for the operators of the running daemon.\n"
    "\n"
    "commands:\n"
    "  list     print the latest records\n"
    "\n"
    "'fedbroker audit <command> --help' describes a command.\n";

static const char usage_list[] =
    "usage: fedbroker audit list [--limit N] [--json] [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Prints the latest N records (50 by default; 0 for all), oldest first. Columns:\n"
    "TIME ACTOR EVENT DETAIL; DETAIL is the event's fields as JSON.\n"
    "\n"
    "      --limit N        how many records (0: all)\n"
    "      --json           print a JSON array instead of a table\n" FB_CLI_HELP_CONFIG
        FB_CLI_HELP_HELP;

static int
print_row(const struct fb_store_audit *a, void *arg)
{
	char when[40];

	(void)arg;
	fb_cli_time_format(a->at, when, sizeof(when));
	printf("%-20s  %-16s  %-22s  %s\n", when, a->actor, a->event, a->detail);
	return 0;
}

static int
append_json(const struct fb_store_audit *a, void *arg)
{
	json_t *detail = json_loads(a->detail, 0, NULL);

	json_array_append_new(arg,
	    json_pack("{s:I, s:I, s:s, s:s, s:o}", "id", (json_int_t)a->id, "at", (json_int_t)a->at,
	        "actor", a->actor, "event", a->event, "detail",
	        detail != NULL ? detail : json_string(a->detail)));
	return 0;
}

static int
audit_list(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *limit_s = NULL;
	int json = 0;
	const struct fb_cli_option opts[] = {
	    {"limit", 0, &limit_s, NULL},
	    {"json", 0, NULL, &json},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"audit list", usage_list, &co, opts, NULL, NULL};
	unsigned long limit = DEFAULT_LIMIT;
	json_t *arr = NULL;
	struct fb_cli_ctx x;
	struct fb_err err;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (limit_s != NULL) {
		char *end;

		errno = 0;
		limit = strtoul(limit_s, &end, 10);
		if (errno != 0 || end == limit_s || *end != '\0' || limit_s[0] == '-' ||
		    limit > 1000000) {
			fprintf(stderr,
			    "fedbroker audit list: --limit: '%s' is not a number from 0 to "
			    "1000000\n",
			    limit_s);
			return FB_EXIT_USAGE;
		}
	}
	if ((rc = fb_cli_ctx_open(&co, FB_CLI_STORE, &x)) != FB_EXIT_OK)
		return rc;
	fb_err_clear(&err);
	if (json) {
		arr = json_array();
		rc = fb_store_audit_list(x.st, limit, append_json, arr, &err) == FB_OK
		         ? fb_cli_json_print(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
		         : fb_cli_error(&err);
	} else {
		printf("%-20s  %-16s  %-22s  %s\n", "TIME", "ACTOR", "EVENT", "DETAIL");
		rc = fb_store_audit_list(x.st, limit, print_row, NULL, &err) == FB_OK
		         ? FB_EXIT_OK
		         : fb_cli_error(&err);
	}
	json_decref(arr);
	fb_cli_ctx_close(&x);
	return rc;
}

int
fb_cli_audit_cmd(int argc, char **argv)
{
	static const struct fb_cli_command table[] = {
	    {"list", audit_list},
	    {NULL, NULL},
	};

	return fb_cli_dispatch(argc, argv, usage_audit, table);
}
