/* SPDX-License-Identifier: Apache-2.0 */
/* tests/fuzz/fuzz_mapping_rules.c: libFuzzer target: rule source text -> compile -> evaluate. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "map/map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char user_text[] =
    "{\"username\": \"alice\", \"name\": \"Alice\", \"email\": \"a@example.com\", \"uid\": \"7\","
    " \"is_active\": true, \"attributes\": {\"roles\": [\"a\", \"b\"], \"n\": 3, \"d\": {\"x\": "
    "null}},"
    " \"groups\": [{\"name\": \"g2\", \"attributes\": {\"aws_role\": \"r2\"}},"
    " {\"name\": \"g1\", \"attributes\": {\"aws_role\": \"r1\", \"f\": 1.5}}, \"plain\"]}";

/* Small budgets keep each input fast; they must hold whatever the rule does. */
static const struct fb_map_limits limits = {.steps = 20000, .memory = 256 * 1024};

static void
use_result(const char *name, json_t *res)
{
	json_t *vals = NULL, *claim,
	       *payload = json_pack("{s:s, s:[{s:s}], s:{s:s}}", "userName", "alice", "photos",
	           "value", "x", "name", "givenName", "A");

	(void)fb_map_saml_values(name, res, &vals, NULL);
	json_decref(vals);
	claim = fb_map_oidc_claim(res);
	json_decref(claim);
	(void)fb_map_scim_patch(name, payload, res, NULL);
	json_decref(payload);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *user = json_loads(user_text, 0, NULL);
	json_t *request = json_pack("{s:s, s:s, s:n}", "name", "aws", "type", "saml", "upstream");
	json_t *upstream = json_pack("{s:s, s:[s, i]}", "sub", "123", "groups", "x", 1);
	struct fb_map_input in = {user, request, upstream};
	struct fb_map_subject *subject = NULL;
	struct fb_map_rule *rule = NULL;
	struct fb_map_diag diag;
	struct fb_err err;
	json_t *r1 = NULL, *r2 = NULL;
	enum fb_status s1, s2;

	if (fb_map_rule_compile("fuzz", (const char *)data, size, &rule, &diag, &err) == FB_OK) {
		s1 = fb_map_rule_eval(rule, &in, &limits, &r1, &diag, &err);
		if (s1 == FB_OK)
			use_result("fuzz", r1);
		/* Over a shared subject the outcome is the same. */
		if (fb_map_subject_new(&in, &subject, NULL) == FB_OK) {
			s2 = fb_map_rule_eval_subject(rule, subject, &limits, &r2, NULL, NULL);
			/*
			 * The subject's conversion is not charged to the evaluation's
			 * memory, so only a budget error may differ.
			 */
			if (s1 != FB_ERR_LIMIT && s2 != FB_ERR_LIMIT &&
			    (s1 != s2 || (s1 == FB_OK && !json_equal(r1, r2))))
				__builtin_trap();
			json_decref(r2);
			fb_map_subject_free(subject);
		}
		json_decref(r1);
		fb_map_rule_free(rule);
	} else if (diag.line < 0 || diag.column < 0 || err.msg[0] == '\0') {
		__builtin_trap();
	}
	json_decref(user);
	json_decref(request);
	json_decref(upstream);
	return 0;
}
