/* SPDX-License-Identifier: Apache-2.0 */
/* map/output.c: one shared reading of a rule's result as SAML values, an OIDC claim or a SCIM
 * patch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "core/core.h"
#include "map/internal.h"
#include "map/map.h"

/* The text of a scalar: 1 with *out (new), 0 for null, -1 for an array or object. */
static int
scalar_text(const json_t *v, char **out, int *has_nul)
{
	char num[64];

	*out = NULL;
	*has_nul = 0;
	switch (json_typeof(v)) {
	case JSON_STRING:
		*has_nul = strlen(json_string_value(v)) != json_string_length(v);
		*out = fb_xstrdup(json_string_value(v));
		return 1;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		*out = fb_xstrdup(num);
		return 1;
	case JSON_REAL:
		fb_map_float_repr(json_real_value(v), num, sizeof(num));
		*out = fb_xstrdup(num);
		return 1;
	case JSON_TRUE:
		*out = fb_xstrdup("true");
		return 1;
	case JSON_FALSE:
		*out = fb_xstrdup("false");
		return 1;
	case JSON_NULL:
		return 0;
	default:
		return -1;
	}
}

enum fb_status
fb_map_saml_values(const char *rule_name, const json_t *result, json_t **out, struct fb_err *err)
{
	json_t *vals = NULL;
	enum fb_status r = FB_ERR_DENIED;
	char *s = NULL;
	int nul;

	*out = NULL;
	if (result == NULL || json_is_null(result))
		return FB_OK;
	vals = json_array();
	if (json_is_array(result)) {
		size_t i;
		const json_t *x;

		json_array_foreach(result, i, x) {
			int k = scalar_text(x, &s, &nul);

			if (k < 0) {
				r = fb_err_set(err, FB_ERR_DENIED,
				    "mapping '%s': type error: item %zu of the result is a %s; "
				    "SAML attribute values must be strings or numbers",
				    rule_name, i, json_is_array(x) ? "list" : "dict");
				goto out;
			}
			if (nul) {
				r = fb_err_set(err, FB_ERR_DENIED,
				    "mapping '%s': value error: item %zu of the result contains a "
				    "NUL character",
				    rule_name, i);
				goto out;
			}
			if (k == 1)
				json_array_append_new(vals, json_string(s));
			free(s);
			s = NULL;
		}
	} else {
		int k = scalar_text(result, &s, &nul);

		if (k < 0) {
			r = fb_err_set(err, FB_ERR_DENIED,
			    "mapping '%s': type error: the result is a dict; a SAML attribute "
			    "needs a string or a list of strings",
			    rule_name);
			goto out;
		}
		if (nul) {
			r = fb_err_set(err, FB_ERR_DENIED,
			    "mapping '%s': value error: the result contains a NUL character",
			    rule_name);
			goto out;
		}
		json_array_append_new(vals, json_string(s));
	}
	if (json_array_size(vals) > 0) {
		*out = vals;
		vals = NULL; /* transferred */
	}
	r = FB_OK;
out:
	free(s);
	json_decref(vals);
	return r;
}

json_t *
fb_map_oidc_claim(const json_t *result)
{
	if (result == NULL || json_is_null(result))
		return NULL;
	return json_deep_copy(result);
}

static enum fb_status
merge(const char *rule_name, json_t *dst, const json_t *patch, int depth, struct fb_err *err)
{
	const char *k;
	json_t *v;

	if (depth > MAP_MAX_VALUE_DEPTH)
		return fb_err_set(err, FB_ERR_DENIED,
		    "mapping '%s': value error: patch nested too deeply", rule_name);
	json_object_foreach((json_t *)(uintptr_t)patch, k, v) {
		const char *dk;
		json_t *dv, *cur = NULL;
		char *key = NULL;
		enum fb_status r;

		json_object_foreach(dst, dk, dv) {
			if (strcasecmp(dk, k) == 0) {
				key = fb_xstrdup(dk);
				cur = dv;
				break;
			}
		}
		if (json_is_null(v)) {
			if (key != NULL)
				json_object_del(dst, key);
		} else if (cur != NULL && json_is_object(cur) && json_is_object(v)) {
			if ((r = merge(rule_name, cur, v, depth + 1, err)) != FB_OK) {
				free(key);
				return r;
			}
		} else {
			json_object_set_new(dst, key != NULL ? key : k, json_deep_copy(v));
		}
		free(key);
	}
	return FB_OK;
}

enum fb_status
fb_map_scim_patch(const char *rule_name, json_t *payload, const json_t *patch, struct fb_err *err)
{
	if (!json_is_object(payload))
		return fb_err_set(err, FB_ERR_INVALID,
		    "mapping '%s': the SCIM payload is not an object", rule_name);
	if (patch == NULL || json_is_null(patch))
		return FB_OK;
	if (!json_is_object(patch))
		return fb_err_set(err, FB_ERR_DENIED,
		    "mapping '%s': type error: a SCIM payload patch must be a dict or None, not %s",
		    rule_name,
		    json_is_array(patch)    ? "a list"
		    : json_is_string(patch) ? "a str"
		                            : "a scalar");
	return merge(rule_name, payload, patch, 0, err);
}
