/* SPDX-License-Identifier: Apache-2.0 */
/* cli/map.c: fedbroker map test|check: run one mapping on sample data, compile them all. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
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
    "                          [--upstream FILE.json] [--dir DIR] [--config FILE]\n"
    "\n"
    "Compiles one mapping, runs it with the given user, request and upstream\n"
    "data and prints the result as JSON. NAME means DIR/NAME.py; anything with\n"
    "a '/' or ending in .py is a path. On an error, prints it with its\n"
    "position (NAME:LINE:COLUMN: kind: message) and exits 1. FILE may be '-'\n"
    "for standard input (for one of the files). A user or request of the wrong\n"
    "shape (an unknown member, a member of the wrong type) is refused, naming the\n"
    "member; a file that is not JSON is refused with FILE:LINE:COLUMN.\n"
    "\n"
    "  -u, --user FILE      the user: {\"username\", \"name\", \"email\", \"uid\",\n"
    "                       \"is_active\", \"attributes\": {}, \"groups\": [{\"name\",\n"
    "                       \"attributes\": {}}]}\n"
    "  -r, --request FILE   the request: {\"name\", \"type\", \"upstream\"}\n"
    "  -U, --upstream FILE  the upstream's raw claims or attributes (an object)\n"
    "  -d, --dir DIR        the mappings directory (default: mappings.dir of the\n"
    "                       configuration, else ./" DEFAULT_DIR ")\n"
    "  -c, --config FILE    configuration file (default $FEDBROKER_CONFIG, else none)\n"
    "  -h, --help           this help\n";

static const char usage_check[] =
    "usage: fedbroker map check [--dir DIR] [--config FILE]\n"
    "\n"
    "Compiles every DIR/NAME.py and prints each error as\n"
    "PATH:LINE:COLUMN: kind: message. Exits 1 when any mapping fails.\n"
    "\n"
    "  -d, --dir DIR       the mappings directory (default: mappings.dir of the\n"
    "                      configuration, else ./" DEFAULT_DIR ")\n"
    "  -c, --config FILE   configuration file (default $FEDBROKER_CONFIG, else none)\n"
    "  -h, --help          this help\n";

int
fb_cli_json_read(const char *path, const char *what, json_t **out)
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

/*
 * The mappings directory: --dir, else mappings.dir of the configuration
 * (--config or $FEDBROKER_CONFIG), else ./mappings. New in *out; 0, or -1
 * after printing why the configuration does not load.
 */
static int
mappings_dir(const char *dir, const char *config, char **out)
{
	struct fb_conf *conf = NULL;
	struct fb_err err;

	*out = NULL;
	if (config == NULL)
		config = fb_cli_default_config();
	if (dir != NULL || config == NULL) {
		*out = fb_xstrdup(dir != NULL ? dir : DEFAULT_DIR);
		return 0;
	}
	fb_err_clear(&err);
	if (fb_conf_load(config, NULL, &conf, NULL, &err) != FB_OK) {
		fb_cli_error(&err);
		return -1;
	}
	*out = fb_xstrdup(conf->mappings_dir != NULL ? conf->mappings_dir : DEFAULT_DIR);
	fb_conf_free(conf);
	return 0;
}

/* One member a sample may hold: its name and the JSON types it may have. */
struct member {
	const char *name;
	const char *want; /* in words */
	int (*ok)(const json_t *);
};

static int
is_str(const json_t *v)
{
	return json_is_string(v);
}

static int
is_str_or_null(const json_t *v)
{
	return json_is_string(v) || json_is_null(v);
}

static int
is_bool(const json_t *v)
{
	return json_is_boolean(v);
}

static int
is_obj(const json_t *v)
{
	return json_is_object(v);
}

static int
is_list(const json_t *v)
{
	return json_is_array(v);
}

static const struct member user_members[] = {
    {"username", "a string", is_str},
    {"name", "a string or null", is_str_or_null},
    {"email", "a string or null", is_str_or_null},
    {"uid", "a string or null", is_str_or_null},
    {"is_active", "true or false", is_bool},
    {"attributes", "an object", is_obj},
    {"groups", "a list of {\"name\", \"attributes\"}", is_list},
    {NULL, NULL, NULL},
};

static const struct member group_members[] = {
    {"name", "a string", is_str},
    {"attributes", "an object", is_obj},
    {NULL, NULL, NULL},
};

static const struct member request_members[] = {
    {"name", "a string or null", is_str_or_null},
    {"type", "a string or null", is_str_or_null},
    {"upstream", "a string or null", is_str_or_null},
    {NULL, NULL, NULL},
};

/*
 * Checks that o (at where: "--user FILE", member path prefix pre) is an
 * object holding only members of ms, each of its type. Prints the first
 * problem, naming the member; returns 0 or -1.
 */
static int
shape_check(const json_t *o, const char *where, const char *pre, const struct member *ms)
{
	const char *k;
	const json_t *v;

	if (!json_is_object(o)) {
		fprintf(stderr, "fedbroker: %s: %s: expected an object, found %s\n", where,
		    *pre != '\0' ? pre : "the document", fb_cli_json_kind(o));
		return -1;
	}
	json_object_foreach((json_t *)(uintptr_t)o, k, v)
	{
		const struct member *m = ms;
		struct fb_buf names;

		while (m->name != NULL && strcmp(m->name, k) != 0)
			m++;
		if (m->name != NULL && m->ok(v))
			continue;
		if (m->name != NULL) {
			fprintf(stderr, "fedbroker: %s: %s%s: expected %s, found %s\n", where, pre, k,
			    m->want, fb_cli_json_kind(v));
			return -1;
		}
		const char *best = NULL;
		int bestd = 3;

		fb_buf_init(&names, 1024);
		for (m = ms; m->name != NULL; m++) {
			int d = fb_str_distance(m->name, k);

			fb_buf_addf(&names, NULL, "%s%s", m == ms ? "" : ", ", m->name);
			if (d < bestd) {
				bestd = d;
				best = m->name;
			}
		}
		fprintf(stderr, "fedbroker: %s: %s%s: unknown member%s%s%s (known: %s)\n", where, pre,
		    k, best != NULL ? " (did you mean '" : "", best != NULL ? best : "",
		    best != NULL ? "'?)" : "", names.data);
		fb_buf_cleanup(&names);
		return -1;
	}
	return 0;
}

/* The user sample: its members, then each group's. */
static int
user_check(const json_t *user, const char *file)
{
	char *where = fb_xasprintf("--user %s", file);
	const json_t *g;
	size_t i;
	int rc = shape_check(user, where, "", user_members);

	json_array_foreach(json_object_get(user, "groups"), i, g)
	{
		char pre[64];

		if (rc != 0)
			break;
		snprintf(pre, sizeof(pre), "groups[%zu].", i);
		if (!json_is_object(g)) {
			fprintf(stderr, "fedbroker: %s: groups[%zu]: expected an object, found %s\n",
			    where, i, fb_cli_json_kind(g));
			rc = -1;
		} else {
			rc = shape_check(g, where, pre, group_members);
		}
	}
	free(where);
	return rc;
}

static int
map_test(int argc, char **argv)
{
	const char *user_file = NULL, *request_file = NULL, *upstream_file = NULL;
	const char *dir_opt = NULL, *config = NULL, *name = NULL;
	const struct fb_cli_option opts[] = {
	    {"user", 'u', &user_file, NULL},
	    {"request", 'r', &request_file, NULL},
	    {"upstream", 'U', &upstream_file, NULL},
	    {"dir", 'd', &dir_opt, NULL},
	    {"config", 'c', &config, NULL},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"map test", usage_test, NULL, opts, &name,
	    "which mapping? give a NAME or a PATH"};
	struct fb_map_input in = {NULL, NULL, NULL};
	json_t *user = NULL, *request = NULL, *upstream = NULL, *result = NULL;
	struct fb_map_rule *rule = NULL;
	struct fb_err err;
	char *path = NULL, *text = NULL, *dir = NULL;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (user_file == NULL)
		return fb_cli_usage_error(syntax.cmd, "--user FILE.json is required");
	rc = FB_EXIT_FAIL;
	if (mappings_dir(dir_opt, config, &dir) != 0)
		goto out;
	if (strchr(name, '/') != NULL ||
	    (strlen(name) > strlen(FB_MAP_EXT) &&
	        strcmp(name + strlen(name) - strlen(FB_MAP_EXT), FB_MAP_EXT) == 0))
		path = fb_xstrdup(name);
	else
		path = fb_xasprintf("%s/%s%s", dir, name, FB_MAP_EXT);
	if (fb_cli_json_read(user_file, "--user", &user) != 0 ||
	    (request_file != NULL && fb_cli_json_read(request_file, "--request", &request) != 0) ||
	    (upstream_file != NULL && fb_cli_json_read(upstream_file, "--upstream", &upstream) != 0))
		goto out;
	if (user_check(user, user_file) != 0)
		goto out;
	if (request != NULL) {
		char *where = fb_xasprintf("--request %s", request_file);
		int bad = shape_check(request, where, "", request_members);

		free(where);
		if (bad)
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
	free(dir);
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
	const char *dir_opt = NULL, *config = NULL;
	const struct fb_cli_option opts[] = {
	    {"dir", 'd', &dir_opt, NULL},
	    {"config", 'c', &config, NULL},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"map check", usage_check, NULL, opts, NULL, NULL};
	struct fb_map_set *set = NULL;
	json_t *errors = NULL, *line;
	struct fb_err err;
	char *dir = NULL;
	size_t i;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (mappings_dir(dir_opt, config, &dir) != 0)
		return FB_EXIT_FAIL;
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
	free(dir);
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
