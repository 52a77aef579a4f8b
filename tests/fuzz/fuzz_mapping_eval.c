/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_mapping_eval.c: libFuzzer target: identities built from the
 * input bytes, run through the shipped rules (mappings/) and a few more.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "map/map.h"

#ifndef FB_MAPPINGS_DIR
#define FB_MAPPINGS_DIR "mappings"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Rules that reach more of the language with whatever the identity holds. */
static const char *const extra[] = {
    "return [f'{g.name}:{g.attributes}' for g in user.groups if g.attributes]",
    "return {k: str(v) for k, v in user.group_attributes().items()}",
    "return sorted(user.attributes.keys(), reverse=True)",
    "return re_sub(r'[^a-z0-9]', '_', user.username.lower())[:20]",
    "x = user.attributes.get('n', 0)\nreturn f'{x:>8}|{x!r}|' + str(x * 2)",
    "return [g.attributes.get('aws_role', '').split(',') for g in user.groups]",
    "return upstream.get('groups', []) + [user.email]",
    "return max([len(g.name) for g in user.groups], default=-1)",
    "return {**upstream, 'u': user.username, 'photos': None}",
};

static struct fb_map_set *set;
static struct fb_map_rule *extras[sizeof(extra) / sizeof(extra[0])];

static void
setup(void)
{
	if (fb_map_set_load(FB_MAPPINGS_DIR, &set, NULL, NULL) != FB_OK) {
		fprintf(stderr, "fuzz_mapping_eval: cannot load %s\n", FB_MAPPINGS_DIR);
		abort();
	}
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		if (fb_map_rule_compile("extra", extra[i], strlen(extra[i]), &extras[i], NULL,
		        NULL) != FB_OK)
			abort();
}

struct reader {
	const uint8_t *p;
	size_t n;
};

static unsigned
byte(struct reader *r)
{
	if (r->n == 0)
		return 0;
	r->n--;
	return *r->p++;
}

/* A short string from the input; some characters are multi-byte. */
static json_t *
str(struct reader *r)
{
	static const char *const alpha[] = {"a", "b", "z", "A", "_", "-", ".", "@", " ", ",", "0",
	    "9", "\xc3\xa9", "\xe2\x82\xac", "arn:", "'", "\"", "{", "}", "\\", "\n", "admin",
	    "aws_role"};
	char buf[128];
	size_t len = 0, n = byte(r) % 12;

	for (size_t i = 0; i < n; i++) {
		const char *a = alpha[byte(r) % (sizeof(alpha) / sizeof(alpha[0]))];

		if (len + strlen(a) >= sizeof(buf))
			break;
		memcpy(buf + len, a, strlen(a));
		len += strlen(a);
	}
	return json_stringn(buf, len);
}

static json_t *
value(struct reader *r, int depth)
{
	switch (byte(r) % (depth > 2 ? 6 : 8)) {
	case 0:
		return json_null();
	case 1:
		return json_boolean(byte(r) & 1);
	case 2:
		return json_integer((json_int_t)(int8_t)byte(r) * (json_int_t)(byte(r) + 1));
	case 3:
		return json_real((double)(int8_t)byte(r) / 7.0);
	case 4:
	case 5:
		return str(r);
	case 6: {
		json_t *a = json_array();

		for (unsigned i = byte(r) % 4; i > 0; i--)
			json_array_append_new(a, value(r, depth + 1));
		return a;
	}
	default: {
		json_t *o = json_object();

		for (unsigned i = byte(r) % 4; i > 0; i--) {
			json_t *k = str(r);

			json_object_set_new(o, json_string_value(k), value(r, depth + 1));
			json_decref(k);
		}
		return o;
	}
	}
}

static json_t *
identity(struct reader *r)
{
	json_t *u = json_object(), *groups = json_array(), *attrs = value(r, 2);
	unsigned ng = byte(r) % 24;

	json_object_set_new(u, "username", byte(r) % 8 == 0 ? value(r, 0) : str(r));
	json_object_set_new(u, "name", str(r));
	json_object_set_new(u, "email", str(r));
	json_object_set_new(u, "uid", value(r, 3));
	json_object_set_new(u, "is_active", json_boolean(byte(r) & 1));
	json_object_set_new(u, "attributes", json_is_object(attrs) ? attrs : json_object());
	if (!json_is_object(attrs))
		json_decref(attrs);
	for (unsigned i = 0; i < ng; i++) {
		json_t *g = json_object(), *ga = json_object();

		json_object_set_new(g, "name", byte(r) % 16 == 0 ? value(r, 2) : str(r));
		if (byte(r) % 2 == 0)
			json_object_set_new(ga, "aws_role",
			    byte(r) % 8 == 0 ? value(r, 2) : str(r));
		if (byte(r) % 4 == 0)
			json_object_set_new(ga, "extra", value(r, 1));
		json_object_set_new(g, "attributes", ga);
		json_array_append_new(groups, g);
	}
	json_object_set_new(u, "groups", groups);
	return u;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fb_map_limits limits = {.steps = 20000, .memory = 256 * 1024};
	struct reader rd = {data, size};
	json_t *user, *upstream, *res;
	struct fb_map_input in;
	struct fb_map_subject *subject = NULL;

	if (set == NULL)
		setup();
	user = identity(&rd);
	upstream = value(&rd, 1);
	in.user = user;
	in.request = NULL;
	in.upstream = json_is_object(upstream) ? upstream : NULL;
	if (fb_map_subject_new(&in, &subject, NULL) != FB_OK)
		abort();
	for (size_t i = 0; i < fb_map_set_count(set) + sizeof(extra) / sizeof(extra[0]); i++) {
		const struct fb_map_rule *rule = i < fb_map_set_count(set)
		                                     ? fb_map_set_at(set, i)
		                                     : extras[i - fb_map_set_count(set)];
		json_t *res2 = NULL, *vals = NULL;
		enum fb_status s1, s2;

		s1 = fb_map_rule_eval(rule, &in, &limits, &res, NULL, NULL);
		s2 = fb_map_rule_eval_subject(rule, subject, &limits, &res2, NULL, NULL);
		/* The subject's conversion is not charged: only budget errors may differ. */
		if (s1 != FB_ERR_LIMIT && s2 != FB_ERR_LIMIT &&
		    (s1 != s2 || (s1 == FB_OK && !json_equal(res, res2))))
			abort();
		if (s1 == FB_OK) {
			(void)fb_map_saml_values("fuzz", res, &vals, NULL);
			json_decref(vals);
		}
		json_decref(res);
		json_decref(res2);
	}
	fb_map_subject_free(subject);
	json_decref(user);
	json_decref(upstream);
	return 0;
}
