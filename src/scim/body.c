/* SPDX-License-Identifier: Apache-2.0 */
/* scim/body.c: the SCIM User and Group bodies a target gets, through its mapping rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/core.h"
#include "conf/conf.h"
#include "map/map.h"
#include "scim/scim.h"

/* Attributes IAM Identity Center refuses with a 400 (shared/notes/aws.md C). */
static const char *const aws_refused[] = {"photos", "password", "ims", "entitlements",
    "x509Certificates"};
/* Multi-valued attributes, of which AWS takes one value only. */
static const char *const aws_single[] = {"emails", "phoneNumbers", "addresses", "roles",
    "groups"};

static const char *
str_member(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* Runs rule over user for target t and applies its patch to body. */
static enum fb_status
apply_rule(const struct fb_conf_scim_target *t, const struct fb_map_rule *rule,
    const json_t *user, json_t *body, struct fb_err *err)
{
	json_t *request, *patch = NULL;
	struct fb_map_input in = {0};
	enum fb_status r;

	if (rule == NULL)
		return FB_OK;
	request = json_pack("{s:s, s:s, s:n}", "name", t->name, "type", "scim", "upstream");
	in.user = user;
	in.request = request;
	if ((r = fb_map_rule_eval(rule, &in, NULL, &patch, NULL, err)) == FB_OK)
		r = fb_map_scim_patch(fb_map_rule_name(rule), body, patch, err);
	json_decref(patch);
	json_decref(request);
	return r;
}

/* Profile aws: what AWS refuses is taken out; what it requires must be there. */
static enum fb_status
aws_check(const char *who, json_t *body, struct fb_err *err)
{
	json_t *name = json_object_get(body, "name"), *emails;

	for (size_t i = 0; i < sizeof(aws_refused) / sizeof(aws_refused[0]); i++)
		json_object_del(body, aws_refused[i]);
	for (size_t i = 0; i < sizeof(aws_single) / sizeof(aws_single[0]); i++)
		if (json_array_size(json_object_get(body, aws_single[i])) > 1)
			return fb_err_set(err, FB_ERR_INVALID,
			    "user %s: %s has %zu values; AWS takes one", who, aws_single[i],
			    json_array_size(json_object_get(body, aws_single[i])));
	if (str_member(body, "userName") == NULL)
		return fb_err_set(err, FB_ERR_INVALID,
		    "user %s: no userName (profile aws uses the email: the user has none)", who);
	if (str_member(body, "displayName") == NULL)
		return fb_err_set(err, FB_ERR_INVALID, "user %s: no displayName (AWS requires one)",
		    who);
	if (str_member(name, "givenName") == NULL || str_member(name, "familyName") == NULL)
		return fb_err_set(err, FB_ERR_INVALID,
		    "user %s: no %s (AWS requires givenName and familyName; the name \"%s\" has "
		    "no space to split at: set them in the user_mapping)",
		    who, str_member(name, "givenName") == NULL ? "givenName" : "familyName",
		    str_member(body, "displayName") != NULL ? str_member(body, "displayName") : "");
	emails = json_object_get(body, "emails");
	if (json_array_size(emails) == 1)
		json_object_set_new(json_array_get(emails, 0), "primary", json_true());
	return FB_OK;
}

enum fb_status
fb_scim_user_body(const struct fb_conf_scim_target *t, const struct fb_map_rule *rule,
    const json_t *user, json_t **out, struct fb_err *err)
{
	const char *username = str_member(user, "username"), *email = str_member(user, "email");
	const char *display = str_member(user, "name"), *space;
	json_t *body, *name;
	enum fb_status r;

	*out = NULL;
	if (username == NULL)
		return fb_err_set(err, FB_ERR_INVALID, "a user without a username");
	body = json_pack("{s:[s], s:o, s:O}", "schemas", FB_SCIM_USER_SCHEMA, "userName",
	    t->profile == FB_CONF_SCIM_AWS ? (email != NULL ? json_string(email) : json_null())
					   : json_string(username),
	    "active", json_is_false(json_object_get(user, "is_active")) ? json_false() : json_true());
	if (str_member(user, "uid") != NULL)
		json_object_set_new(body, "externalId", json_string(str_member(user, "uid")));
	if (display == NULL && t->profile == FB_CONF_SCIM_AWS)
		display = username;
	if (display != NULL) {
		json_object_set_new(body, "displayName", json_string(display));
		name = json_pack("{s:s}", "formatted", display);
		if ((space = strrchr(display, ' ')) != NULL && space != display && space[1] != '\0') {
			json_object_set_new(name, "givenName", json_stringn(display,
			    (size_t)(space - display)));
			json_object_set_new(name, "familyName", json_string(space + 1));
		}
		json_object_set_new(body, "name", name);
	}
	if (email != NULL)
		json_object_set_new(body, "emails",
		    json_pack("[{s:s, s:s, s:b}]", "value", email, "type", "work", "primary", 1));
	if ((r = apply_rule(t, rule, user, body, err)) != FB_OK)
		goto out;
	if (t->profile == FB_CONF_SCIM_AWS && (r = aws_check(username, body, err)) != FB_OK)
		goto out;
	if (json_is_null(json_object_get(body, "userName")) ||
	    json_object_get(body, "userName") == NULL) {
		r = fb_err_set(err, FB_ERR_INVALID, "user %s: no userName", username);
		goto out;
	}
	*out = body;
	body = NULL;
	r = FB_OK;
out:
	json_decref(body);
	return r;
}

enum fb_status
fb_scim_group_body(const struct fb_conf_scim_target *t, const struct fb_map_rule *rule,
    const char *name, json_t **out, struct fb_err *err)
{
	json_t *body = json_pack("{s:[s], s:s, s:s}", "schemas", FB_SCIM_GROUP_SCHEMA,
	    "displayName", name, "externalId", name);
	json_t *group = json_pack("{s:s}", "name", name);
	enum fb_status r;

	*out = NULL;
	/* A group rule sees the group as user.name (there is no user). */
	if ((r = apply_rule(t, rule, group, body, err)) != FB_OK) {
		json_decref(body);
		json_decref(group);
		return r;
	}
	json_decref(group);
	if (t->profile == FB_CONF_SCIM_AWS) {
		/* PATCH and POST /Groups take displayName, members and externalId only. */
		const char *key;
		json_t *v;
		void *tmp;

		json_object_foreach_safe(body, tmp, key, v) {
			if (strcmp(key, "schemas") != 0 && strcmp(key, "displayName") != 0 &&
			    strcmp(key, "externalId") != 0)
				json_object_del(body, key);
		}
	}
	if (str_member(body, "displayName") == NULL) {
		json_decref(body);
		return fb_err_set(err, FB_ERR_INVALID, "group %s: no displayName", name);
	}
	*out = body;
	return FB_OK;
}

char *
fb_scim_body_digest(const json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char *out;

	if (text == NULL || EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL) != 1)
		n = 0;
	out = fb_b64url_encode(md, n);
	free(text);
	return out;
}

void
fb_scim_error_detail(const char *body, size_t len, char *buf, size_t size)
{
	json_t *j = body != NULL && len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
	const char *detail = json_string_value(json_object_get(j, "detail"));
	const char *type = json_string_value(json_object_get(j, "scimType"));

	if (j == NULL)
		snprintf(buf, size, "%s", len == 0 ? "an empty body" : "a body that is not JSON");
	else if (detail == NULL)
		snprintf(buf, size, "a JSON body without detail");
	else
		snprintf(buf, size, "%.300s%s%s", detail, type != NULL ? " " : "",
		    type != NULL ? type : "");
	/* Printable only: it goes to logs and to the outbox's error. */
	for (char *p = buf; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	json_decref(j);
}

char *
fb_scim_resource_id(const char *body, size_t len)
{
	json_t *b = body != NULL && len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
	const char *id = str_member(b, "id");
	char *out = id != NULL && strlen(id) <= FB_SCIM_ID_MAX ? fb_xstrdup(id) : NULL;

	json_decref(b);
	return out;
}

/* A string member as a new string, NULL when absent, empty or too long. */
static char *
str_dup(const json_t *o, const char *key)
{
	const char *s = str_member(o, key);

	return s != NULL && strlen(s) <= FB_SCIM_ID_MAX ? fb_xstrdup(s) : NULL;
}

enum fb_status
fb_scim_page_parse(const char *body, size_t len, const char *name_attr, struct fb_scim_page *out,
    struct fb_err *err)
{
	json_t *b = body != NULL && len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *res = json_object_get(b, "Resources"), *o, *v;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(b) || (res != NULL && !json_is_array(res))) {
		json_decref(b);
		return fb_err_set(err, FB_ERR_INVALID,
		    "a list answer that is not a SCIM ListResponse");
	}
	out->v = fb_xcalloc(json_array_size(res) + 1, sizeof(*out->v));
	json_array_foreach(res, i, o) {
		struct fb_scim_entry *e = &out->v[out->n];

		if ((e->id = str_dup(o, "id")) == NULL)
			continue; /* nothing to match it by */
		e->external_id = str_dup(o, "externalId");
		e->name = str_dup(o, name_attr);
		e->active = !json_is_false(json_object_get(o, "active"));
		out->n++;
	}
	/* totalResults and itemsPerPage as numbers, or as strings (AWS's status is one). */
	v = json_object_get(b, "totalResults");
	out->total = json_is_integer(v) ? json_integer_value(v) : -1;
	v = json_object_get(b, "itemsPerPage");
	out->items = json_is_integer(v) ? json_integer_value(v) : (int64_t)json_array_size(res);
	if (out->total < -1 || out->items < 0) {
		fb_scim_page_cleanup(out);
		json_decref(b);
		return fb_err_set(err, FB_ERR_INVALID, "a list answer with negative counts");
	}
	out->next_cursor = str_dup(b, "nextCursor");
	json_decref(b);
	return FB_OK;
}

void
fb_scim_page_cleanup(struct fb_scim_page *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].id);
		free(p->v[i].external_id);
		free(p->v[i].name);
	}
	free(p->v);
	free(p->next_cursor);
	memset(p, 0, sizeof(*p));
}
