/* SPDX-License-Identifier: Apache-2.0 */
/* map/set.c: every rule of a mappings directory, compiled at start and on reload. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "core/core.h"
#include "map/internal.h"
#include "map/map.h"

struct fb_map_set {
	size_t n;
	struct fb_map_rule **rules; /* by name */
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmp_rule(const void *a, const void *b)
{
	return strcmp((*(struct fb_map_rule *const *)a)->name,
	    (*(struct fb_map_rule *const *)b)->name);
}

static int
valid_name(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/* Adds one problem line; the first one also goes to err. */
static void
problem(json_t *errors, int *count, struct fb_err *first, const struct fb_err *e)
{
	if (*count == 0 && first != NULL)
		*first = *e;
	(*count)++;
	if (errors != NULL)
		json_array_append_new(errors, json_string(e->msg));
}

/* fb_map_set_load; usable keeps the rules that compile and succeeds despite the others. */
static enum fb_status
set_load(const char *dir, int usable, struct fb_map_set **out, json_t **errors,
    struct fb_err *err)
{
	struct fb_map_set *set = NULL;
	json_t *errs = json_array();
	char **names = NULL;
	size_t nnames = 0, cap = 0;
	int nproblems = 0, io = 0, cfg = 0;
	struct fb_err first, e;
	enum fb_status r = FB_ERR_IO;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	if (errors != NULL)
		*errors = NULL;
	fb_err_clear(&first);
	if ((d = opendir(dir)) == NULL) {
		r = fb_err_set(err, errno == ENOENT ? FB_ERR_NOTFOUND : FB_ERR_IO, "%s: %s", dir,
		    strerror(errno));
		json_array_append_new(errs, json_string(err != NULL ? err->msg : dir));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name), el = strlen(FB_MAP_EXT);

		if (de->d_name[0] == '.' || len <= el ||
		    strcmp(de->d_name + len - el, FB_MAP_EXT) != 0)
			continue;
		if (nnames == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			names = fb_xrealloc(names, cap * sizeof(*names));
		}
		names[nnames++] = fb_xstrdup(de->d_name);
	}
	closedir(d);
	if (nnames > 1)
		qsort(names, nnames, sizeof(*names), cmp_str);
	set = fb_xcalloc(1, sizeof(*set));
	set->rules = fb_xcalloc(nnames + 1, sizeof(*set->rules));
	for (size_t i = 0; i < nnames; i++) {
		char *path = fb_xasprintf("%s/%s", dir, names[i]);
		size_t nl = strlen(names[i]) - strlen(FB_MAP_EXT);
		struct fb_map_rule *rule;
		struct stat st;
		enum fb_status s;

		if (!valid_name(names[i], nl)) {
			fb_err_set(&e, FB_ERR_CONFIG,
			    "%s: invalid mapping name '%.*s' (use letters, digits, '_' and '-')",
			    path, (int)nl, names[i]);
			problem(errs, &nproblems, &first, &e);
			cfg = 1;
		} else if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			fb_err_set(&e, FB_ERR_IO, "%s: not a regular file", path);
			problem(errs, &nproblems, &first, &e);
			io = 1;
		} else if ((s = fb_map_rule_load(path, &rule, NULL, &e)) != FB_OK) {
			problem(errs, &nproblems, &first, &e);
			if (s == FB_ERR_IO)
				io = 1;
			else
				cfg = 1;
		} else {
			set->rules[set->n++] = rule;
		}
		free(path);
	}
	if (nproblems > 0 && !usable) {
		r = cfg ? FB_ERR_CONFIG : io ? FB_ERR_IO : FB_ERR_CONFIG;
		if (err != NULL) {
			*err = first;
			err->code = r;
		}
		goto out;
	}
	qsort(set->rules, set->n, sizeof(*set->rules), cmp_rule);
	*out = set;
	set = NULL;
	r = FB_OK;
out:
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	fb_map_set_free(set);
	if (errors != NULL)
		*errors = errs;
	else
		json_decref(errs);
	return r;
}

enum fb_status
fb_map_set_load(const char *dir, struct fb_map_set **out, json_t **errors, struct fb_err *err)
{
	return set_load(dir, 0, out, errors, err);
}

enum fb_status
fb_map_set_load_usable(const char *dir, struct fb_map_set **out, json_t **errors,
    struct fb_err *err)
{
	return set_load(dir, 1, out, errors, err);
}

void
fb_map_set_free(struct fb_map_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++)
		fb_map_rule_free(set->rules[i]);
	free(set->rules);
	free(set);
}

size_t
fb_map_set_count(const struct fb_map_set *set)
{
	return set != NULL ? set->n : 0;
}

const struct fb_map_rule *
fb_map_set_at(const struct fb_map_set *set, size_t i)
{
	return set != NULL && i < set->n ? set->rules[i] : NULL;
}

const struct fb_map_rule *
fb_map_set_get(const struct fb_map_set *set, const char *name)
{
	size_t lo = 0, hi = fb_map_set_count(set);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(set->rules[mid]->name, name);

		if (c == 0)
			return set->rules[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
