/* SPDX-License-Identifier: Apache-2.0 */
/* cli/map.c: fedbroker map test|check: run one mapping on sample data, compile them all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "map/map.h"
#include "cli/cli.h"

#define DEFAULT_DIR "mappings"

static const char usage_map[] = "usage: fedbroker map <command> [options]\n"
                                "\n"
                                "Works with mapping rules (fedbroker-mapping(7)).\n"
                                "\n"
                                "commands:\n"
                                "  test    run one mapping on sample JSON and print its result\n"
                                "  check   compile every mapping of a directory\n"
                                "\n"
                                "'fedbroker map <command> --help' describes a command.\n";

static const char usage_test[] =
    "usage: fedbroker map test NAME|PATH --user FILE.json [--request FILE.json]\n"
    "                          [--upstream FILE.json] [--dir DIR]\n"
    "\n"
    "Compiles one mapping, runs it with the given user, request and upstream\n"
    "data and prints the result as JSON. NAME means DIR/NAME.py; anything with\n"
    "a '/' or ending in .py is a path. On an error, prints it with its\n"
    "position (NAME:LINE:COLUMN: kind: message) and exits 1. FILE may be '-'\n"
    "for standard input (for one of the files).\n"
    "\n"
    "  -u, --user FILE      the user: {\"username\", \"name\", \"email\", \"uid\",\n"
    "                       \"is_active\", \"attributes\": {}, \"groups\": [{\"name\",\n"
    "                       \"attributes\": {}}]}\n"
    "  -r, --request FILE   the request: {\"name\", \"type\", \"upstream\"}\n"
    "  -U, --upstream FILE  the upstream's raw claims or attributes (an object)\n"
    "  -d, --dir DIR        the mappings directory (default ./" DEFAULT_DIR ")\n"
    "  -h, --help           this help\n";

static const char usage_check[] =
    "usage: fedbroker map check [--dir DIR]\n"
    "\n"
    "Compiles every DIR/NAME.py and prints each error as\n"
    "PATH:LINE:COLUMN: kind: message. Exits 1 when any mapping fails.\n"
    "\n"
    "  -d, --dir DIR   the mappings directory (default ./" DEFAULT_DIR ")\n"
    "  -h, --help      this help\n";

/* Reads a JSON file ("-": stdin); what names the option in messages. New in *out. */
static int
read_json(const char *path, const char *what, json_t **out)
{
	json_error_t je;

	if (strcmp(path, "-") == 0)
		*out = json_loadf(stdin, JSON_DECODE_ANY, &je);
	else
		*out = json_load_file(path, JSON_DECODE_ANY, &je);
	if (*out == NULL) {
		fprintf(stderr, "fedbroker: %s %s:%d:%d: %s\n", what, path, je.line, je.column,
		    je.text);
		return -1;
	}
	return 0;
}

static int
map_test(int argc, char **argv)
{
	const char *user_file = NULL, *request_file = NULL, *upstream_file = NULL;
	const char *dir = DEFAULT_DIR, *name = NULL;
	const struct fb_cli_option opts[] = {
	    {"user", 'u', &user_file, NULL},
	    {"request", 'r', &request_file, NULL},
	    {"upstream", 'U', &upstream_file, NULL},
	    {"dir", 'd', &dir, NULL},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"map test", usage_test, NULL, opts, &name,
	    "which mapping? give a NAME or a PATH"};
	struct fb_map_input in = {NULL, NULL, NULL};
	json_t *user = NULL, *request = NULL, *upstream = NULL, *result = NULL;
	struct fb_map_rule *rule = NULL;
	struct fb_err err;
	char *path = NULL, *text = NULL;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (user_file == NULL)
		return fb_cli_usage_error(syntax.cmd, "--user FILE.json is required");
	rc = FB_EXIT_FAIL;
	if (strchr(name, '/') != NULL ||
	    (strlen(name) > strlen(FB_MAP_EXT) &&
	        strcmp(name + strlen(name) - strlen(FB_MAP_EXT), FB_MAP_EXT) == 0))
		path = fb_xstrdup(name);
	else
		path = fb_xasprintf("%s/%s%s", dir, name, FB_MAP_EXT);
	if (read_json(user_file, "--user", &user) != 0 ||
	    (request_file != NULL && read_json(request_file, "--request", &request) != 0) ||
	    (upstream_file != NULL && read_json(upstream_file, "--upstream", &upstream) != 0))
		goto out;
	if (!json_is_object(user)) {
		fprintf(stderr, "fedbroker: --user %s: not a JSON object\n", user_file);
		goto out;
	}
	if (request != NULL && !json_is_object(request)) {
		fprintf(stderr, "fedbroker: --request %s: not a JSON object\n", request_file);
		goto out;
	}
	if (upstream != NULL && !json_is_object(upstream)) {
		fprintf(stderr, "fedbroker: --upstream %s: not a JSON object\n", upstream_file);
		goto out;
	}
	fb_err_clear(&err);
	if (fb_map_rule_load(path, &rule, NULL, &err) != FB_OK) {
		fb_cli_error(&err);
		goto out;
	}
	in.user = user;
	in.request = request;
	in.upstream = upstream;
	if (fb_map_rule_eval(rule, &in, NULL, &result, NULL, &err) != FB_OK) {
		fb_cli_error(&err);
		goto out;
	}
	text = json_dumps(result, JSON_INDENT(2) | JSON_ENCODE_ANY);
	printf("%s\n", text != NULL ? text : "null");
	rc = FB_EXIT_OK;
out:
	free(text);
	free(path);
	json_decref(result);
	json_decref(user);
	json_decref(request);
	json_decref(upstream);
	fb_map_rule_free(rule);
	return rc;
}

static int
map_check(int argc, char **argv)
{
	const char *dir = DEFAULT_DIR;
	const struct fb_cli_option opts[] = {
	    {"dir", 'd', &dir, NULL},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"map check", usage_check, NULL, opts, NULL, NULL};
	struct fb_map_set *set = NULL;
	json_t *errors = NULL, *line;
	struct fb_err err;
	size_t i;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	fb_err_clear(&err);
	if (fb_map_set_load(dir, &set, &errors, &err) != FB_OK) {
		json_array_foreach(errors, i, line)
			fprintf(stderr, "%s\n", json_string_value(line));
		fprintf(stderr, "fedbroker: %zu problem%s in %s\n", json_array_size(errors),
		    json_array_size(errors) == 1 ? "" : "s", dir);
		rc = FB_EXIT_FAIL;
	} else {
		printf("%zu mapping%s compiled in %s\n", fb_map_set_count(set),
		    fb_map_set_count(set) == 1 ? "" : "s", dir);
		rc = FB_EXIT_OK;
	}
	json_decref(errors);
	fb_map_set_free(set);
	return rc;
}

int
fb_cli_map(int argc, char **argv)
{
	static const struct fb_cli_command table[] = {
	    {"test", map_test},
	    {"check", map_check},
	    {NULL, NULL},
	};

	return fb_cli_dispatch(argc, argv, usage_map, table);
}
