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

size_t
fb_ident_groups(const struct fb_conf *conf, const char *username, const struct fb_conf_group ***out)
{
	const struct fb_conf_group **v = NULL;
	size_t n = 0;

	*out = NULL;
	if (conf == NULL || username == NULL)
		return 0;
	for (size_t i = 0; i < conf->ngroups; i++) {
		if (!is_member(&conf->groups[i], username))
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

enum fb_status
fb_ident_user_json(const struct fb_conf *conf, const struct fb_store_user *u, json_t **out,
    struct fb_err *err)
{
	const struct fb_conf_group **groups = NULL;
	json_t *user = NULL, *list;
	enum fb_status r = FB_ERR_INVALID;
	size_t n;

	*out = NULL;
	if (u == NULL || u->username == NULL) {
		fb_err_set(err, FB_ERR_INVALID, "no user (or a user without a username)");
		goto out;
	}
	/* json_string() refuses what is not UTF-8: say which field, instead of dropping it. */
	if (!utf8_or_null(u->username) || !utf8_or_null(u->name) || !utf8_or_null(u->email) ||
	    !utf8_or_null(u->id)) {
		fb_err_set(err, FB_ERR_INVALID, "user '%s': a field is not valid UTF-8",
		    utf8_or_null(u->username) ? u->username : "(not UTF-8)");
		goto out;
	}
	n = fb_ident_groups(conf, u->username, &groups);
	list = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *g = json_object();

		json_object_set_new(g, "name", json_string(groups[i]->name));
		/* Copies: conf is immutable and shared, the mapping engine may modify its input. */
		json_object_set_new(g, "attributes", json_deep_copy(groups[i]->attributes));
		json_array_append_new(list, g);
	}
	user = json_object();
	json_object_set_new(user, "username", json_string(u->username));
	json_object_set_new(user, "name", str_or_null(u->name));
	json_object_set_new(user, "email", str_or_null(u->email));
	json_object_set_new(user, "uid", str_or_null(u->id));
	json_object_set_new(user, "is_active", json_boolean(u->active != 0));
	json_object_set_new(user, "attributes", json_object());
	json_object_set_new(user, "groups", list);
	*out = user;
	r = FB_OK;
out:
	free(groups);
	return r;
}
