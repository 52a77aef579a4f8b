/* SPDX-License-Identifier: Apache-2.0 */
/* daemon/changes.c: what a reload changed (sections, SPs, keys, rules), for its log line. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "map/map.h"
#include "daemon/daemon.h"
#include "daemon/internal.h"

/* A rule file is compared on its first this many bytes (rules are small). */
#define RULE_MAX_BYTES (1 << 20)

/* The file's text (at most RULE_MAX_BYTES) as a new JSON string; NULL when unreadable. */
static json_t *
file_text(const char *path)
{
	struct fb_buf b;
	char chunk[4096];
	json_t *v = NULL;
	size_t n;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	fb_buf_init(&b, RULE_MAX_BYTES);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (fb_buf_add(&b, chunk, n, NULL) != FB_OK)
			break;
	if (!ferror(f))
		v = json_stringn(b.data != NULL ? b.data : "", b.len);
	fclose(f);
	fb_buf_cleanup(&b);
	return v;
}

json_t *
fb_daemon_rules_snapshot(const char *dir)
{
	json_t *o = json_object();
	struct dirent *de;
	DIR *d;

	if (dir == NULL || (d = opendir(dir)) == NULL)
		return o;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name), el = strlen(FB_MAP_EXT);
		char *path;
		json_t *v;

		if (de->d_name[0] == '.' || len <= el ||
		    strcmp(de->d_name + len - el, FB_MAP_EXT) != 0)
			continue;
		path = fb_xasprintf("%s/%s", dir, de->d_name);
		if ((v = file_text(path)) != NULL)
			json_object_set_new(o, de->d_name, v);
		free(path);
	}
	closedir(d);
	return o;
}

/* Appends name to the comma-separated list in *list (new string, or NULL for none yet). */
static void
list_add(char **list, const char *name)
{
	char *n =
	    fb_xasprintf("%s%s%s", *list != NULL ? *list : "", *list != NULL ? "," : "", name);

	free(*list);
	*list = n;
}

/* The keys of a and b (objects) whose values differ, or that only one has. */
static char *
object_changes(const json_t *a, const json_t *b)
{
	const char *k;
	json_t *v;
	char *out = NULL;

	json_object_foreach((json_t *)a, k, v)
		if (!json_equal(v, json_object_get(b, k)))
			list_add(&out, k);
	json_object_foreach((json_t *)b, k, v)
		if (json_object_get(a, k) == NULL)
			list_add(&out, k);
	return out;
}

/* The service providers of a tree, by name: name -> its configuration. New object. */
static json_t *
sps_by_name(const struct fb_conf *c)
{
	json_t *o = json_object(), *sp;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(c->tree, "saml"), "service_providers"),
	    i, sp)
		if (json_is_string(json_object_get(sp, "name")))
			json_object_set(o, json_string_value(json_object_get(sp, "name")), sp);
	return o;
}

/* Key ids of kr, with ":active" after the active one. New object id -> state. */
static json_t *
keys_by_id(const struct fb_keyring *kr)
{
	json_t *o = json_object();
	const struct fb_key *active = fb_crypto_keyring_active(kr);

	for (size_t i = 0; i < fb_crypto_keyring_count(kr); i++) {
		const struct fb_key *k = fb_crypto_keyring_get(kr, i);
		struct fb_key_info info;

		fb_crypto_key_info(k, &info);
		json_object_set_new(o, info.id, json_string(k == active ? "active" : "published"));
	}
	return o;
}

void
fb_daemon_runtime_changes_log(const struct fb_daemon_runtime *old,
    const struct fb_daemon_runtime *nrt, size_t workers)
{
	json_t *spa = sps_by_name(old->conf), *spb = sps_by_name(nrt->conf);
	json_t *ka = keys_by_id(old->keyring), *kb = keys_by_id(nrt->keyring);
	char *sections = object_changes(old->conf->tree, nrt->conf->tree);
	char *sps = object_changes(spa, spb), *keys = object_changes(ka, kb);
	char *rules = object_changes(old->rules, nrt->rules);
	int none = sections == NULL && sps == NULL && keys == NULL && rules == NULL;

	fb_log_event(FB_LOG_INFO, "app", __func__, NULL, "config_reloaded",
	    FB_LOG_FIELDS(FB_LOG_INT("workers", workers), FB_LOG_STR("sections", sections),
	        FB_LOG_STR("service_providers", sps), FB_LOG_STR("keys", keys),
	        FB_LOG_STR("rules", rules)),
	    "configuration reloaded (%s)", none ? "nothing changed" : "changes in the fields");
	free(sections);
	free(sps);
	free(keys);
	free(rules);
	json_decref(spa);
	json_decref(spb);
	json_decref(ka);
	json_decref(kb);
}
