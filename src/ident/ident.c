/* SPDX-License-Identifier: Apache-2.0 */
/* ident/ident.c: group membership, merged group attributes and the `user` JSON, in one place. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "ident/ident.h"

static int
is_member(const struct fb_conf_group *g, const char *username)
{
	for (size_t i = 0; i < g->nmembers; i++)
		if (strcmp(g->members[i], username) == 0)
			return 1;
	return 0;
}

static int
group_cmp(const void *a, const void *b)
{
	const struct fb_conf_group *const *ga = a, *const *gb = b;

	return strcmp((*ga)->name, (*gb)->name);
}

/* 1 when name is among the n names of v (NULL when n is 0). */
static int
listed(const char *name, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], name) == 0)
			return 1;
	return 0;
}

size_t
fb_ident_groups_with(const struct fb_conf *conf, const char *username, const char *const *upstream,
    size_t nupstream, const struct fb_conf_group ***out)
{
	const struct fb_conf_group **v = NULL;
	size_t n = 0;

	*out = NULL;
	if (conf == NULL || username == NULL)
		return 0;
	for (size_t i = 0; i < conf->ngroups; i++) {
		if (!is_member(&conf->groups[i], username) &&
		    !listed(conf->groups[i].name, upstream, nupstream))
			continue;
		if (v == NULL)
			v = fb_xcalloc(conf->ngroups, sizeof(*v));
		v[n++] = &conf->groups[i];
	}
	/* Names are unique (conf checks), so the order is total. */
	if (n > 1)
		qsort(v, n, sizeof(*v), group_cmp);
	*out = v;
	return n;
}

size_t
fb_ident_groups(const struct fb_conf *conf, const char *username, const struct fb_conf_group ***out)
{
	return fb_ident_groups_with(conf, username, NULL, 0, out);
}

int
fb_ident_group_member(const struct fb_conf *conf, const char *name, const char *username)
{
	if (conf == NULL || name == NULL || username == NULL)
		return 0;
	for (size_t i = 0; i < conf->ngroups; i++)
		if (strcmp(conf->groups[i].name, name) == 0)
			return is_member(&conf->groups[i], username);
	return 0;
}

enum fb_status
fb_ident_group_attributes(const struct fb_conf *conf, const char *username, json_t **out,
    struct fb_err *err)
{
	const struct fb_conf_group **groups = NULL;
	size_t n = fb_ident_groups(conf, username, &groups);
	json_t *merged = json_object();

	/* Name order; a later group's key replaces an earlier one's whole (no deep merge). */
	for (size_t i = 0; i < n; i++) {
		const char *k;
		json_t *v;

		json_object_foreach(groups[i]->attributes, k, v)
			json_object_set_new(merged, k, json_deep_copy(v));
	}
	free(groups);
	*out = merged;
	return FB_OK;
}

int
fb_ident_requires_mfa(const struct fb_conf *conf, const char *username)
{
	const struct fb_conf_group **groups = NULL;
	size_t n = fb_ident_groups(conf, username, &groups);
	int r = 0;

	for (size_t i = 0; i < n; i++)
		r |= groups[i]->require_mfa != 0;
	free(groups);
	return r;
}

/* 1 when s is NULL or valid UTF-8. */
static int
utf8_or_null(const char *s)
{
	return s == NULL || fb_utf8_check(s, strlen(s));
}

/* A string, or JSON null for NULL. New. */
static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* One entry of the user's "groups": a declared group (attributes) or an upstream-only name. */
struct group_entry {
	const char *name;
	const json_t *attributes; /* NULL: {} */
};

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct group_entry *)a)->name, ((const struct group_entry *)b)->name);
}

/* The "groups" list: declared groups of the user and upstream names, by name, each once. */
static json_t *
groups_json(const struct fb_conf *conf, const char *username, const char *const *upstream,
    size_t nupstream)
{
	const struct fb_conf_group **groups = NULL;
	size_t n = fb_ident_groups_with(conf, username, upstream, nupstream, &groups), ne = 0;
	struct group_entry *e = fb_xcalloc(n + nupstream + 1, sizeof(*e));
	json_t *list = json_array();

	for (size_t i = 0; i < n; i++)
		e[ne++] = (struct group_entry){groups[i]->name, groups[i]->attributes};
	for (size_t i = 0; i < nupstream; i++) {
		size_t j;

		for (j = 0; j < ne && strcmp(e[j].name, upstream[i]) != 0; j++)
			;
		if (j == ne && fb_utf8_check(upstream[i], strlen(upstream[i])))
			e[ne++] = (struct group_entry){upstream[i], NULL};
	}
	qsort(e, ne, sizeof(*e), entry_cmp);
	for (size_t i = 0; i < ne; i++) {
		json_t *g = json_object();

		json_object_set_new(g, "name", json_string(e[i].name));
		/* Copies: conf is immutable and shared, the mapping engine may modify its input. */
		json_object_set_new(g, "attributes",
		    e[i].attributes != NULL ? json_deep_copy(e[i].attributes) : json_object());
		json_array_append_new(list, g);
	}
	free(e);
	free(groups);
	return list;
}

enum fb_status
fb_ident_user_json_with(const struct fb_conf *conf, const struct fb_store_user *u,
    const char *const *upstream, size_t nupstream, json_t **out, struct fb_err *err)
{
	json_t *user;

	*out = NULL;
	if (u == NULL || u->username == NULL)
		return fb_err_set(err, FB_ERR_INVALID, "no user (or a user without a username)");
	/* json_string() refuses what is not UTF-8: say which field, instead of dropping it. */
	if (!utf8_or_null(u->username) || !utf8_or_null(u->name) || !utf8_or_null(u->email) ||
	    !utf8_or_null(u->id))
		return fb_err_set(err, FB_ERR_INVALID, "user '%s': a field is not valid UTF-8",
		    utf8_or_null(u->username) ? u->username : "(not UTF-8)");
	user = json_object();
	json_object_set_new(user, "username", json_string(u->username));
	json_object_set_new(user, "name", str_or_null(u->name));
	json_object_set_new(user, "email", str_or_null(u->email));
	json_object_set_new(user, "uid", str_or_null(u->id));
	json_object_set_new(user, "is_active", json_boolean(u->active != 0));
	json_object_set_new(user, "attributes", json_object());
	json_object_set_new(user, "groups", groups_json(conf, u->username, upstream, nupstream));
	*out = user;
	return FB_OK;
}

enum fb_status
fb_ident_user_json(const struct fb_conf *conf, const struct fb_store_user *u, json_t **out,
    struct fb_err *err)
{
	return fb_ident_user_json_with(conf, u, NULL, 0, out, err);
}

void
fb_ident_user_json_groups(const json_t *user, json_t **names, json_t **attributes)
{
	const json_t *groups = json_object_get(user, "groups"), *g;
	size_t i;

	*names = json_array();
	*attributes = json_object();
	/* Name order; a later group's key replaces an earlier one's whole (no deep merge). */
	json_array_foreach(groups, i, g)
	{
		json_array_append(*names, json_object_get(g, "name"));
		json_object_update(*attributes, json_object_get(g, "attributes"));
	}
}

enum fb_status
fb_ident_username_check(const char *username, struct fb_err *err)
{
	size_t n;

	if (username == NULL || username[0] == '\0')
		return fb_err_set(err, FB_ERR_INVALID, "username is empty");
	n = strnlen(username, FB_IDENT_USERNAME_MAX + 1);
	if (n > FB_IDENT_USERNAME_MAX)
		return fb_err_set(err, FB_ERR_INVALID, "username is longer than %d bytes",
		    FB_IDENT_USERNAME_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)username[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9');

		if (i == 0 && !alnum)
			return fb_err_set(err, FB_ERR_INVALID,
			    "username '%s' must start with a letter or digit", username);
		if (!alnum && strchr("._@+-", c) == NULL)
			return fb_err_set(err, FB_ERR_INVALID,
			    "username '%s': character %zu is not allowed (use letters, digits and "
			    ". _ @ + -)",
			    username, i + 1);
	}
	return FB_OK;
}
