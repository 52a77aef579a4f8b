/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/test_ident.c: group membership, merged attributes, MFA requirement, the user JSON. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "ident/ident.h"
#include "unit.h"

/* Groups declared out of name order: "zeta" before "alpha" before "mid". */
static const char *groups_yaml =
    "groups:\n"
    "  - name: zeta\n"
    "    members: [alice, bob]\n"
    "    attributes: {aws_role: ReadOnly, tier: 3, nested: {a: 1, b: 2}, tags: [z]}\n"
    "  - name: alpha\n"
    "    members: [alice, carol]\n"
    "    require_mfa: true\n"
    "    attributes:\n"
    "      aws_role: Admin\n"
    "      nested: {a: 10, c: 30}\n"
    "      only_alpha: true\n"
    "  - name: mid\n"
    "    members: [alice]\n"
    "  - name: empty\n";

/* The same groups, declared in the reverse order. */
static const char *groups_yaml_rev =
    "groups:\n"
    "  - name: empty\n"
    "  - name: mid\n"
    "    members: [alice]\n"
    "  - name: alpha\n"
    "    members: [carol, alice]\n"
    "    require_mfa: true\n"
    "    attributes:\n"
    "      aws_role: Admin\n"
    "      nested: {a: 10, c: 30}\n"
    "      only_alpha: true\n"
    "  - name: zeta\n"
    "    members: [bob, alice]\n"
    "    attributes: {aws_role: ReadOnly, tier: 3, nested: {a: 1, b: 2}, tags: [z]}\n";

static struct fb_conf *
load(const char *text)
{
	struct fb_conf *c = NULL;
	struct fb_err err;

	if (fb_conf_load_string(text, strlen(text), "t.yaml", NULL, &c, NULL, &err) != FB_OK)
		fprintf(stderr, "\nconf: %s\n", err.msg);
	return c;
}

/* 1 when the JSON text of v is exactly want (keys sorted, compact). */
static int
json_is(const json_t *v, const char *want)
{
	char *got = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
	int ok = got != NULL && strcmp(got, want) == 0;

	if (!ok)
		fprintf(stderr, "\ngot:  %s\nwant: %s\n", got != NULL ? got : "(null)", want);
	free(got);
	return ok;
}

static void
test_groups_sorted(void)
{
	const char *texts[] = {groups_yaml, groups_yaml_rev};

	for (size_t t = 0; t < 2; t++) {
		struct fb_conf *c = load(texts[t]);
		const struct fb_conf_group **g = NULL;
		size_t n;

		CU_ASSERT_PTR_NOT_NULL_FATAL(c);
		n = fb_ident_groups(c, "alice", &g);
		CU_ASSERT_EQUAL_FATAL(n, 3);
		CU_ASSERT_STRING_EQUAL(g[0]->name, "alpha");
		CU_ASSERT_STRING_EQUAL(g[1]->name, "mid");
		CU_ASSERT_STRING_EQUAL(g[2]->name, "zeta");
		/* Borrowed from conf. */
		CU_ASSERT(g[0] >= c->groups && g[0] < c->groups + c->ngroups);
		free(g);
		n = fb_ident_groups(c, "bob", &g);
		CU_ASSERT_EQUAL_FATAL(n, 1);
		CU_ASSERT_STRING_EQUAL(g[0]->name, "zeta");
		free(g);
		/* Not a member anywhere; usernames compare exactly. */
		CU_ASSERT_EQUAL(fb_ident_groups(c, "dave", &g), 0);
		CU_ASSERT_PTR_NULL(g);
		CU_ASSERT_EQUAL(fb_ident_groups(c, "Alice", &g), 0);
		CU_ASSERT_PTR_NULL(g);
		CU_ASSERT_EQUAL(fb_ident_groups(c, NULL, &g), 0);
		CU_ASSERT_EQUAL(fb_ident_groups(NULL, "alice", &g), 0);
		CU_ASSERT(fb_ident_group_member(c, "alpha", "carol"));
		CU_ASSERT(!fb_ident_group_member(c, "alpha", "bob"));
		CU_ASSERT(!fb_ident_group_member(c, "nosuch", "alice"));
		CU_ASSERT(!fb_ident_group_member(c, "empty", "alice"));
		fb_conf_free(c);
	}
}

static void
test_group_attributes(void)
{
	const char *texts[] = {groups_yaml, groups_yaml_rev};

	for (size_t t = 0; t < 2; t++) {
		struct fb_conf *c = load(texts[t]);
		json_t *a = NULL;

		CU_ASSERT_PTR_NOT_NULL_FATAL(c);
		/* alpha, then mid, then zeta: zeta's values win; nested mappings are replaced
		 * whole. */
		CU_ASSERT_EQUAL(fb_ident_group_attributes(c, "alice", &a, NULL), FB_OK);
		CU_ASSERT(json_is(a, "{\"aws_role\":\"ReadOnly\",\"nested\":{\"a\":1,\"b\":2},"
		                     "\"only_alpha\":true,\"tags\":[\"z\"],\"tier\":3}"));
		json_decref(a);
		CU_ASSERT_EQUAL(fb_ident_group_attributes(c, "carol", &a, NULL), FB_OK);
		CU_ASSERT(json_is(a, "{\"aws_role\":\"Admin\",\"nested\":{\"a\":10,\"c\":30},"
		                     "\"only_alpha\":true}"));
		/* A copy: changing it leaves the configuration alone. */
		json_object_set_new(json_object_get(a, "nested"), "a", json_integer(99));
		json_decref(a);
		CU_ASSERT_EQUAL(fb_ident_group_attributes(c, "carol", &a, NULL), FB_OK);
		CU_ASSERT_EQUAL(json_integer_value(
		                    json_object_get(json_object_get(a, "nested"), "a")),
		    10);
		json_decref(a);
		/* In no group: an empty object, not NULL. */
		CU_ASSERT_EQUAL(fb_ident_group_attributes(c, "dave", &a, NULL), FB_OK);
		CU_ASSERT(json_is(a, "{}"));
		json_decref(a);
		fb_conf_free(c);
	}
}

static void
test_requires_mfa(void)
{
	struct fb_conf *c = load(groups_yaml);

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(fb_ident_requires_mfa(c, "alice"), 1);
	CU_ASSERT_EQUAL(fb_ident_requires_mfa(c, "carol"), 1);
	CU_ASSERT_EQUAL(fb_ident_requires_mfa(c, "bob"), 0);
	CU_ASSERT_EQUAL(fb_ident_requires_mfa(c, "dave"), 0);
	CU_ASSERT_EQUAL(fb_ident_requires_mfa(c, NULL), 0);
	fb_conf_free(c);
	/* No groups at all. */
	c = load("log: {}\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(fb_ident_requires_mfa(c, "alice"), 0);
	fb_conf_free(c);
}

/* user.group_attributes() as the mapping engine derives it: "groups" in order, later wins. */
static json_t *
merge_from_user_json(const json_t *user)
{
	json_t *m = json_object(), *g;
	size_t i;

	json_array_foreach(json_object_get(user, "groups"), i, g)
		json_object_update(m, json_object_get(g, "attributes"));
	return m;
}

static void
test_user_json(void)
{
	const char *texts[] = {groups_yaml, groups_yaml_rev};
	char id[] = "u-123", alice[] = "alice", name[] = "Alice Example",
	     email[] = "alice@example.com", source[] = "local", dave[] = "dave";
	struct fb_store_user u = {.id = id,
	    .username = alice,
	    .name = name,
	    .email = email,
	    .source = source,
	    .active = 1};
	struct fb_store_user bare = {.username = dave, .active = 0};
	struct fb_err err;
	json_t *j = NULL, *a = NULL, *m;

	for (size_t t = 0; t < 2; t++) {
		struct fb_conf *c = load(texts[t]);

		CU_ASSERT_PTR_NOT_NULL_FATAL(c);
		CU_ASSERT_EQUAL_FATAL(fb_ident_user_json(c, &u, &j, &err), FB_OK);
		CU_ASSERT(json_is(j,
		    "{\"attributes\":{},\"email\":\"alice@example.com\",\"groups\":["
		    "{\"attributes\":{\"aws_role\":\"Admin\",\"nested\":{\"a\":10,\"c\":30},"
		    "\"only_alpha\":true},\"name\":\"alpha\"},"
		    "{\"attributes\":{},\"name\":\"mid\"},"
		    "{\"attributes\":{\"aws_role\":\"ReadOnly\",\"nested\":{\"a\":1,\"b\":2},"
		    "\"tags\":[\"z\"],\"tier\":3},\"name\":\"zeta\"}],"
		    "\"is_active\":true,\"name\":\"Alice Example\",\"uid\":\"u-123\","
		    "\"username\":\"alice\"}"));
		/* The mapping engine's merge over "groups" equals fb_ident_group_attributes. */
		m = merge_from_user_json(j);
		CU_ASSERT_EQUAL(fb_ident_group_attributes(c, "alice", &a, NULL), FB_OK);
		CU_ASSERT(json_equal(m, a));
		json_decref(m);
		json_decref(a);
		/* Copies, not conf's objects. */
		CU_ASSERT(json_array_get(json_object_get(j, "groups"), 0) != NULL);
		CU_ASSERT(json_object_get(json_array_get(json_object_get(j, "groups"), 0),
		              "attributes") != c->groups[t == 0 ? 1 : 2].attributes);
		json_decref(j);

		CU_ASSERT_EQUAL_FATAL(fb_ident_user_json(c, &bare, &j, &err), FB_OK);
		CU_ASSERT(json_is(j, "{\"attributes\":{},\"email\":null,\"groups\":[],"
		                     "\"is_active\":false,\"name\":null,\"uid\":null,"
		                     "\"username\":\"dave\"}"));
		json_decref(j);
		fb_conf_free(c);
	}
}

/* Upstream groups: declared ones lend their attributes, others join with none; sorted, once. */
static void
test_user_json_upstream(void)
{
	static const char *const ug[] = {"zeta", "beta", "alpha", "beta", "\xff"};
	char dave[] = "dave";
	struct fb_store_user u = {.username = dave, .active = 1};
	const struct fb_conf_group **groups = NULL;
	struct fb_conf *c = load(groups_yaml);
	json_t *j = NULL;
	struct fb_err err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(fb_ident_groups_with(c, "dave", ug, 5, &groups), 2);
	CU_ASSERT_STRING_EQUAL(groups[0]->name, "alpha");
	CU_ASSERT_STRING_EQUAL(groups[1]->name, "zeta");
	free(groups);
	CU_ASSERT_EQUAL(fb_ident_groups_with(c, "dave", NULL, 0, &groups), 0);
	CU_ASSERT_EQUAL_FATAL(fb_ident_user_json_with(c, &u, ug, 5, &j, &err), FB_OK);
	CU_ASSERT(json_is(json_object_get(j, "groups"),
	    "[{\"attributes\":{\"aws_role\":\"Admin\",\"nested\":{\"a\":10,\"c\":30},"
	    "\"only_alpha\":true},\"name\":\"alpha\"},"
	    "{\"attributes\":{},\"name\":\"beta\"},"
	    "{\"attributes\":{\"aws_role\":\"ReadOnly\",\"nested\":{\"a\":1,\"b\":2},"
	    "\"tags\":[\"z\"],\"tier\":3},\"name\":\"zeta\"}]"));
	json_decref(j);
	fb_conf_free(c);
}

static void
test_username_check(void)
{
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_ident_username_check("ann.b-c_d@example.com+x", &err), FB_OK);
	CU_ASSERT_EQUAL(fb_ident_username_check("", &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_ident_username_check(NULL, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_ident_username_check(".ann", &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_ident_username_check("an n", &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "character 3 is not allowed"));
	CU_ASSERT_EQUAL(fb_ident_username_check(
			    "a123456789012345678901234567890123456789012345678901234567890123", &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_ident_username_check(
			    "a1234567890123456789012345678901234567890123456789012345678901234", &err),
	    FB_ERR_INVALID);
}

static void
test_user_json_bad(void)
{
	struct fb_conf *c = load(groups_yaml);
	char x[] = "x", alice[] = "alice", notutf8[] = "\xff\xfe";
	struct fb_store_user nouser = {.id = x};
	struct fb_store_user bad = {.username = alice, .name = notutf8};
	struct fb_err err;
	json_t *j = (json_t *)1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(fb_ident_user_json(c, NULL, &j, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NULL(j);
	CU_ASSERT_EQUAL(fb_ident_user_json(c, &nouser, &j, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NULL(j);
	CU_ASSERT_EQUAL(fb_ident_user_json(c, &bad, &j, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NULL(j);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not valid UTF-8"));
	fb_conf_free(c);
}

int
fb_test_ident_register(void)
{
	CU_pSuite s = CU_add_suite("ident", NULL, NULL);

	if (s == NULL || CU_add_test(s, "groups sorted by name", test_groups_sorted) == NULL ||
	    CU_add_test(s, "merged group attributes", test_group_attributes) == NULL ||
	    CU_add_test(s, "require_mfa", test_requires_mfa) == NULL ||
	    CU_add_test(s, "user json", test_user_json) == NULL ||
	    CU_add_test(s, "user json bad input", test_user_json_bad) == NULL ||
	    CU_add_test(s, "user json with upstream groups", test_user_json_upstream) == NULL ||
	    CU_add_test(s, "username check", test_username_check) == NULL)
		return -1;
	return 0;
}
