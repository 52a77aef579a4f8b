/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/test_scim.c: SCIM bodies (generic and AWS), mapping patches, error details. */
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "map/map.h"
#include "scim/scim.h"
#include "unit.h"

static json_t *
user_json(const char *username, const char *name, const char *email, int active)
{
	json_t *u = json_pack("{s:s, s:s, s:b, s:{}, s:[]}", "username", username, "uid", "uid-1",
	    "is_active", active, "attributes", "groups");

	json_object_set_new(u, "name", name != NULL ? json_string(name) : json_null());
	json_object_set_new(u, "email", email != NULL ? json_string(email) : json_null());
	return u;
}

static struct fb_map_rule *
rule(const char *name, const char *src)
{
	struct fb_map_rule *r = NULL;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_map_rule_compile(name, src, strlen(src), &r, NULL, &err), FB_OK);
	return r;
}

static void
test_user_bodies(void)
{
	struct fb_conf_scim_target aws = {.name = (char *)"aws", .profile = FB_CONF_SCIM_AWS};
	struct fb_conf_scim_target gen = {.name = (char *)"gen", .profile = FB_CONF_SCIM_GENERIC};
	struct fb_map_rule *photos = rule("scim_photos",
	    "return {\"photos\": [{\"value\": \"https://x/p.png\"}], \"title\": request.name}\n");
	struct fb_map_rule *strip = rule("scim_strip_photos", "return {\"photos\": None}\n");
	struct fb_map_rule *two = rule("two", "return {\"emails\": [{\"value\": \"a@x\"}, "
					      "{\"value\": \"b@x\"}]}\n");
	struct fb_map_rule *bad = rule("bad", "return 1\n");
	json_t *u = user_json("ann", "Ann Marie Example", "Ann@Example.com", 1), *b = NULL, *b2;
	char *d1, *d2;
	struct fb_err err;

	/* AWS: userName is the email; one primary email; the name split at its last space. */
	CU_ASSERT_EQUAL_FATAL(fb_scim_user_body(&aws, NULL, u, &b, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "userName")), "Ann@Example.com");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "externalId")), "uid-1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "displayName")),
	    "Ann Marie Example");
	CU_ASSERT_STRING_EQUAL(
	    json_string_value(json_object_get(json_object_get(b, "name"), "givenName")), "Ann Marie");
	CU_ASSERT_STRING_EQUAL(
	    json_string_value(json_object_get(json_object_get(b, "name"), "familyName")), "Example");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(b, "emails")), 1);
	CU_ASSERT(json_is_true(
	    json_object_get(json_array_get(json_object_get(b, "emails"), 0), "primary")));
	CU_ASSERT(json_is_true(json_object_get(b, "active")));
	d1 = fb_scim_body_digest(b);
	json_decref(b);

	/* The same data, the same digest; a change, another. */
	CU_ASSERT_EQUAL(fb_scim_user_body(&aws, NULL, u, &b, &err), FB_OK);
	d2 = fb_scim_body_digest(b);
	CU_ASSERT_STRING_EQUAL(d1, d2);
	free(d2);
	json_decref(b);
	json_object_set_new(u, "is_active", json_false());
	CU_ASSERT_EQUAL(fb_scim_user_body(&aws, NULL, u, &b, &err), FB_OK);
	CU_ASSERT(json_is_false(json_object_get(b, "active")));
	d2 = fb_scim_body_digest(b);
	CU_ASSERT_STRING_NOT_EQUAL(d1, d2);
	free(d2);
	free(d1);
	json_decref(b);

	/* A rule's patch is merged; AWS never gets what it refuses (photos), generic does. */
	CU_ASSERT_EQUAL(fb_scim_user_body(&aws, photos, u, &b, &err), FB_OK);
	CU_ASSERT_PTR_NULL(json_object_get(b, "photos"));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "title")), "aws");
	json_decref(b);
	CU_ASSERT_EQUAL(fb_scim_user_body(&gen, photos, u, &b, &err), FB_OK);
	CU_ASSERT_PTR_NOT_NULL(json_object_get(b, "photos"));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "userName")), "ann");
	json_decref(b);
	CU_ASSERT_EQUAL(fb_scim_user_body(&gen, strip, u, &b, &err), FB_OK);
	CU_ASSERT_PTR_NULL(json_object_get(b, "photos"));
	json_decref(b);

	/* Per-user errors: several emails, a failing rule. */
	CU_ASSERT_EQUAL(fb_scim_user_body(&aws, two, u, &b, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "emails has 2 values"));
	CU_ASSERT_PTR_NULL(b);
	CU_ASSERT_EQUAL(fb_scim_user_body(&aws, bad, u, &b, &err), FB_ERR_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "bad"));
	json_decref(u);

	/* AWS: a one-word name has no familyName; no email, no userName. */
	u = user_json("cher", "Cher", "cher@example.com", 1);
	CU_ASSERT_EQUAL(fb_scim_user_body(&aws, NULL, u, &b, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "user cher: no givenName"));
	/* Generic takes it as it is. */
	CU_ASSERT_EQUAL(fb_scim_user_body(&gen, NULL, u, &b2, &err), FB_OK);
	json_decref(b2);
	json_decref(u);
	u = user_json("bob", "Bob Jones", NULL, 1);
	CU_ASSERT_EQUAL(fb_scim_user_body(&aws, NULL, u, &b, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "user bob: no userName"));
	json_decref(u);
	fb_map_rule_free(photos);
	fb_map_rule_free(strip);
	fb_map_rule_free(two);
	fb_map_rule_free(bad);
}

static void
test_group_bodies(void)
{
	struct fb_conf_scim_target aws = {.name = (char *)"aws", .profile = FB_CONF_SCIM_AWS};
	struct fb_map_rule *r = rule("g", "return {\"displayName\": \"aws-\" + user.name, "
					  "\"description\": \"x\"}\n");
	json_t *b = NULL;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_scim_group_body(&aws, NULL, "dev", &b, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "displayName")), "dev");
	CU_ASSERT_PTR_NULL(json_object_get(b, "members"));
	json_decref(b);
	/* AWS takes displayName, externalId (and members) only. */
	CU_ASSERT_EQUAL(fb_scim_group_body(&aws, r, "dev", &b, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "displayName")), "aws-dev");
	CU_ASSERT_PTR_NULL(json_object_get(b, "description"));
	json_decref(b);
	fb_map_rule_free(r);
}

static void
test_error_detail(void)
{
	static const char aws[] = "{\"schema\":[\"urn:ietf:params:scim:api:messages:2.0:Error\"],"
				  "\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:Error\"],"
				  "\"detail\":\"Refused to create a new, duplicate resource.\","
				  "\"status\":\"409\",\"exceptionRequestId\":\"x\"}";
	static const char html[] = "<html><body>502 Bad Gateway</body></html>";
	static const char ctl[] = "{\"detail\":\"a\\nb\",\"scimType\":\"uniqueness\"}";
	char buf[128];

	fb_scim_error_detail(aws, strlen(aws), buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "Refused to create a new, duplicate resource.");
	fb_scim_error_detail(html, strlen(html), buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "a body that is not JSON");
	fb_scim_error_detail("", 0, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "an empty body");
	fb_scim_error_detail(ctl, strlen(ctl), buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "a b uniqueness");
}

static void
test_list_pages(void)
{
	/* AWS's cursor page: no totalResults, a nextCursor; a resource without an id is skipped. */
	static const char aws[] = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:"
	                          "ListResponse\"],\"itemsPerPage\":3,\"nextCursor\":\"c-2\","
	                          "\"Resources\":[{\"id\":\"a\",\"externalId\":\"u1\","
	                          "\"userName\":\"ann@example.com\",\"active\":false},"
	                          "{\"userName\":\"no-id\"},{\"id\":\"b\",\"externalId\":\"\"}]}";
	static const char generic[] = "{\"totalResults\":25,\"itemsPerPage\":10,"
	                              "\"startIndex\":11,\"Resources\":[]}";
	struct fb_scim_page p;
	struct fb_err err = {0};
	char *id;

	CU_ASSERT_EQUAL_FATAL(fb_scim_page_parse(aws, strlen(aws), "userName", &p, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(p.n, 2);
	CU_ASSERT_STRING_EQUAL(p.v[0].id, "a");
	CU_ASSERT_STRING_EQUAL(p.v[0].external_id, "u1");
	CU_ASSERT_STRING_EQUAL(p.v[0].name, "ann@example.com");
	CU_ASSERT_EQUAL(p.v[0].active, 0);
	CU_ASSERT_PTR_NULL(p.v[1].external_id);
	CU_ASSERT_PTR_NULL(p.v[1].name);
	CU_ASSERT_EQUAL(p.v[1].active, 1);
	CU_ASSERT_EQUAL(p.total, -1);
	CU_ASSERT_EQUAL(p.items, 3);
	CU_ASSERT_STRING_EQUAL(p.next_cursor, "c-2");
	fb_scim_page_cleanup(&p);
	CU_ASSERT_EQUAL_FATAL(fb_scim_page_parse(generic, strlen(generic), "displayName", &p, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(p.n, 0);
	CU_ASSERT_EQUAL(p.total, 25);
	CU_ASSERT_EQUAL(p.items, 10);
	CU_ASSERT_PTR_NULL(p.next_cursor);
	fb_scim_page_cleanup(&p);
	/* Not a ListResponse: an error, the page zeroed. */
	CU_ASSERT_EQUAL(fb_scim_page_parse("<html>", 6, "userName", &p, &err), FB_ERR_INVALID);
	CU_ASSERT_PTR_NULL(p.v);
	CU_ASSERT_EQUAL(fb_scim_page_parse("{\"Resources\":{}}", 16, "userName", &p, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_scim_page_parse("{\"itemsPerPage\":-1}", 19, "userName", &p, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_scim_page_parse(NULL, 0, "userName", &p, &err), FB_ERR_INVALID);
	fb_scim_page_cleanup(NULL);
	/* A resource answer's id. */
	id = fb_scim_resource_id("{\"id\":\"x-1\"}", 12);
	CU_ASSERT_STRING_EQUAL(id, "x-1");
	free(id);
	CU_ASSERT_PTR_NULL(fb_scim_resource_id("{\"id\":\"\"}", 9));
	CU_ASSERT_PTR_NULL(fb_scim_resource_id("{\"id\": ", 7));
	CU_ASSERT_PTR_NULL(fb_scim_resource_id(NULL, 0));
}

int
fb_test_scim_register(void)
{
	CU_pSuite s = CU_add_suite("scim", NULL, NULL);

	if (s == NULL)
		return -1;
	if (CU_add_test(s, "user bodies", test_user_bodies) == NULL ||
	    CU_add_test(s, "group bodies", test_group_bodies) == NULL ||
	    CU_add_test(s, "error details", test_error_detail) == NULL ||
	    CU_add_test(s, "list pages", test_list_pages) == NULL)
		return -1;
	return 0;
}
