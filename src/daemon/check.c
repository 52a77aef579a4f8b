/* SPDX-License-Identifier: Apache-2.0 */
/* daemon/check.c: what a loaded configuration needs beyond its file: mapping rules, SAML SPs. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "map/map.h"
#include "saml/saml.h"
#include "oidc/oidc.h"
#include "daemon/daemon.h"
#include "daemon/internal.h"

/* 1 when line (a problem of fb_map_set_load) is about the rule name of mappings.dir. */
static int
line_names(const struct fb_conf *conf, const char *line, const char *name)
{
	char *prefix;
	int r;

	if (name == NULL)
		return 0;
	prefix = fb_xasprintf("%s/%s%s:", conf->mappings_dir, name, FB_MAP_EXT);
	r = strncmp(line, prefix, strlen(prefix)) == 0;
	free(prefix);
	return r;
}

/* 1 when line is about a rule that a service provider or an upstream uses. */
static int
line_used(const struct fb_conf *conf, const char *line)
{
	for (size_t i = 0; i < conf->nupstreams; i++)
		if (line_names(conf, line, conf->upstreams[i].mapping))
			return 1;
	for (size_t i = 0; i < conf->nsaml_sps; i++) {
		const struct fb_conf_saml_sp *sp = &conf->saml_sps[i];

		if (line_names(conf, line, sp->nameid_mapping))
			return 1;
		for (size_t a = 0; a < sp->nattributes; a++)
			if (line_names(conf, line, sp->attributes[a].mapping))
				return 1;
	}
	return 0;
}

/*
 * Every rule of mappings.dir that the configuration uses compiles: each
 * failing file is one report line with its position, an error when a
 * service provider uses the rule, else a warning (the rule is left out).
 */
static void
check_mappings(const struct fb_conf *conf, struct fb_conf_report *rep, struct fb_map_set **keep)
{
	struct fb_map_set *set = NULL;
	json_t *errors = NULL, *line;
	struct fb_err err = {0};
	enum fb_status r;
	size_t i;

	if (conf->mappings_dir == NULL)
		return;
	r = fb_map_set_load_usable(conf->mappings_dir, &set, &errors, &err);
	/* No directory: fine unless a mapping is named (conf's checks report that one). */
	if (r == FB_OK) {
		json_array_foreach(errors, i, line) {
			const char *l = json_string_value(line);
			char *w;

			if (line_used(conf, l)) {
				fb_conf_report_add(rep, NULL, NULL, 1, l);
				continue;
			}
			w = fb_xasprintf("%s (no service provider uses this rule: left out)", l);
			fb_conf_report_add(rep, NULL, NULL, 0, w);
			free(w);
		}
	} else if (r != FB_ERR_NOTFOUND) {
		fb_conf_report_add(rep, conf, "mappings.dir", 1, err.msg);
	}
	json_decref(errors);
	*keep = set;
}

/* The SAML SPs can be set up: metadata parses, certificates load, AWS's needs are met. */
static void
check_saml(const struct fb_conf *conf, const struct fb_keyring *kr, const struct fb_map_set *maps,
    struct fb_conf_report *rep, struct fb_saml_idp **idp)
{
	json_t *problems = NULL, *p;
	struct fb_err err = {0};
	size_t i;

	fb_saml_check_build(conf, kr, maps, &problems, idp, &err);
	json_array_foreach(problems, i, p)
		fb_conf_report_add(rep, conf, json_string_value(json_object_get(p, "path")),
		    json_is_true(json_object_get(p, "error")),
		    json_string_value(json_object_get(p, "message")));
	json_decref(problems);
}

/* The OpenID provider can be built: a key for each client's algorithm, its claims' rules. */
static void
check_oidc(const struct fb_conf *conf, const struct fb_keyring *kr, struct fb_conf_report *rep)
{
	struct fb_map_set *set = NULL;
	struct fb_oidc_op *op = NULL;
	json_t *errors = NULL;
	struct fb_err err = {0};

	if (kr == NULL || conf->noidc_clients == 0)
		return;
	if (conf->mappings_dir != NULL)
		(void)fb_map_set_load_usable(conf->mappings_dir, &set, &errors, NULL);
	if (fb_oidc_op_new(conf, kr, set, &op, &err) != FB_OK)
		fb_conf_report_add(rep, conf, "oidc.clients", 1, err.msg);
	fb_oidc_op_free(op);
	fb_map_set_free(set);
	json_decref(errors);
}

enum fb_status
fb_daemon_conf_check(const struct fb_conf *conf, const struct fb_keyring *kr,
    struct fb_conf_report *rep, struct fb_err *err)
{
	return fb_daemon_conf_build(conf, kr, rep, NULL, NULL, err);
}

enum fb_status
fb_daemon_conf_build(const struct fb_conf *conf, const struct fb_keyring *kr,
    struct fb_conf_report *rep, struct fb_map_set **maps, struct fb_saml_idp **idp,
    struct fb_err *err)
{
	size_t before = fb_conf_report_errors(rep), n;
	struct fb_map_set *set = NULL;

	if (idp != NULL)
		*idp = NULL;
	if (maps != NULL)
		*maps = NULL;
	check_mappings(conf, rep, &set);
	check_saml(conf, kr, set, rep, idp);
	check_oidc(conf, kr, rep);
	n = fb_conf_report_errors(rep) - before;
	if (maps != NULL && n == 0) {
		*maps = set;
		set = NULL;
	} else if (idp != NULL) {
		fb_saml_idp_free(*idp); /* it borrows set */
		*idp = NULL;
	}
	fb_map_set_free(set);
	if (n > 0)
		return fb_err_set(err, FB_ERR_CONFIG, "%s: %zu %s in what the configuration names",
		    conf->path, n, n == 1 ? "error" : "errors");
	return FB_OK;
}
