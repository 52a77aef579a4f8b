/* SPDX-License-Identifier: Apache-2.0 */
/* conf/apps.c: the apps: list (web apps behind a proxy that asks fedbroker: forward auth). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "conf/internal.h"

static void
free_strs(char **v, size_t n)
{
	for (size_t i = 0; i < n && v != NULL; i++)
		free(v[i]);
	free(v);
}

void
fb_conf_app_cleanup(struct fb_conf_app *a)
{
	free(a->name);
	free(a->display_name);
	free_strs(a->hosts, a->nhosts);
	free_strs(a->groups, a->ngroups);
	for (size_t i = 0; i < a->nrules; i++) {
		free(a->rules[i].path);
		free_strs(a->rules[i].methods, a->rules[i].nmethods);
		free_strs(a->rules[i].groups, a->rules[i].ngroups);
	}
	free(a->rules);
	free(a->header_username);
	free(a->header_email);
	free(a->header_groups);
	free(a->header_name);
	for (size_t i = 0; i < a->nmapped; i++) {
		free(a->mapped[i].header);
		free(a->mapped[i].mapping);
	}
	free(a->mapped);
	free(a->upstream);
	free_strs(a->audiences, a->naudiences);
	free(a->access_token_header);
	memset(a, 0, sizeof(*a));
}

const struct fb_conf_app *
fb_conf_app_find(const struct fb_conf *conf, const char *name)
{
	for (size_t i = 0; conf != NULL && name != NULL && i < conf->napps; i++)
		if (conf->apps[i].name != NULL && strcmp(conf->apps[i].name, name) == 0)
			return &conf->apps[i];
	return NULL;
}

#define app_problem(ctx, i, ...) fb_conf_item_problem((ctx), "apps", (i), __VA_ARGS__)

static int
group_declared(const struct fb_conf *c, const char *name)
{
	for (size_t j = 0; j < c->ngroups; j++)
		if (c->groups[j].name != NULL && strcmp(c->groups[j].name, name) == 0)
			return 1;
	return 0;
}

/* Reports each of groups (at leaf "<what>[k]") that groups: does not declare. */
static void
check_groups(struct fb_conf_ctx *ctx, size_t i, const char *what, char **groups, size_t n)
{
	for (size_t g = 0; g < n; g++) {
		if (group_declared(ctx->conf, groups[g]))
			continue;
		char *leaf = fb_xasprintf("%s[%zu]", what, g);

		app_problem(ctx, i, leaf, 1,
		    "unknown group '%s' (declare it under groups:, or remove it)", groups[g]);
		free(leaf);
	}
}

static void
check_rules(struct fb_conf_ctx *ctx, size_t i, const struct fb_conf_app *a)
{
	for (size_t r = 0; r < a->nrules; r++) {
		const struct fb_conf_app_rule *ru = &a->rules[r];
		char *what = fb_xasprintf("rules[%zu].groups", r);

		check_groups(ctx, i, what, ru->groups, ru->ngroups);
		if (ru->action == FB_CONF_APP_ANONYMOUS && ru->ngroups > 0)
			app_problem(ctx, i, what, 1,
			    "an anonymous rule lets everyone in without signing in: it cannot "
			    "name groups (use action: allow for members of groups)");
		free(what);
	}
}

/* Reports a host (with its path prefix) that an earlier app, or this one, already claims. */
static void
check_hosts(struct fb_conf_ctx *ctx, size_t i, const struct fb_conf_app *a)
{
	const struct fb_conf *c = ctx->conf;

	for (size_t h = 0; h < a->nhosts; h++)
		for (size_t j = 0; j <= i; j++) {
			const struct fb_conf_app *b = &c->apps[j];
			size_t end = j == i ? h : b->nhosts;
			size_t k;

			for (k = 0; k < end; k++)
				if (strcmp(b->hosts[k], a->hosts[h]) == 0)
					break;
			if (k == end)
				continue;
			char *leaf = fb_xasprintf("hosts[%zu]", h);

			app_problem(ctx, i, leaf, 1,
			    "'%s' is claimed twice (also apps[%zu].hosts[%zu], app '%s'): each "
			    "host "
			    "and path prefix belongs to one app",
			    a->hosts[h], j, k, b->name != NULL ? b->name : "?");
			free(leaf);
			j = i; /* once */
			break;
		}
}

void
fb_conf_check_apps(struct fb_conf_ctx *ctx)
{
	struct fb_conf *c = ctx->conf;

	for (size_t i = 0; i < c->napps; i++) {
		struct fb_conf_app *a = &c->apps[i];

		if (a->name == NULL || a->hosts == NULL)
			continue; /* not a mapping, or a bad name: reported already */
		for (size_t j = 0; j < i; j++)
			if (c->apps[j].name != NULL && strcmp(c->apps[j].name, a->name) == 0) {
				app_problem(ctx, i, "name", 1,
				    "duplicate app '%s' (also apps[%zu])", a->name, j);
				break;
			}
		if (a->display_name == NULL)
			a->display_name = fb_xstrdup(a->name);
		check_hosts(ctx, i, a);
		check_groups(ctx, i, "groups", a->groups, a->ngroups);
		check_rules(ctx, i, a);
		for (size_t m = 0; m < a->nmapped; m++) {
			char *leaf = fb_xasprintf("headers.mapped[%zu].mapping", m);

			fb_conf_check_mapping_file(ctx, "apps", i, leaf, a->mapped[m].mapping);
			free(leaf);
		}
		if (a->upstream != NULL) {
			size_t u;

			for (u = 0; u < c->nupstreams; u++)
				if (c->upstreams[u].name != NULL &&
				    strcmp(c->upstreams[u].name, a->upstream) == 0)
					break;
			if (u == c->nupstreams)
				app_problem(ctx, i, "upstream", 1,
				    "unknown upstream '%s' (declare it under upstreams:, or remove "
				    "it to show the sign-in page)",
				    a->upstream);
		}
	}
}
