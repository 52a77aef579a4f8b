/* SPDX-License-Identifier: Apache-2.0 */
/* bench/mapping.c: evaluations per second of two mapping rules, against the targets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/core.h"
#include "map/map.h"

/*
 * What is measured, for each rule (compiled once beforehand, as at start):
 *
 *   eval      fb_map_rule_eval_subject() over a subject converted once: the
 *             rule itself, building its JSON result and freeing it. This is
 *             the figure compared with the targets: a login converts the
 *             identity once (fb_map_subject_new) and evaluates every
 *             mapping of the downstream over it.
 *   from JSON fb_map_rule_eval() straight from the user's JSON: the same
 *             plus reading the fields the rule touches out of jansson, per
 *             evaluation (what a caller with a single rule pays).
 *   subject   fb_map_subject_new() + _free() alone: the one-off conversion.
 *
 * Times are the process's CPU time, so other processes sharing the machine
 * (a busy CI runner, a build) do not inflate them.
 */

/* (a) authentik's AWS Role example: f-string over group_attributes(). */
static const char rule_a[] = "role_name = user.group_attributes().get(\"aws_role\", \"\")\n"
                             "return "
                             "f\"arn:aws:iam::123412341234:role/"
                             "{role_name},arn:aws:iam::123412341234:saml-provider/authentik\"\n";

/* (b) 20 lines with a list comprehension over a user in 50 groups. */
static const char rule_b[] =
    "# Role ARNs for the AWS console: one per group with an aws_role attribute.\n"
    "account = \"123412341234\"\n"
    "provider = f\"arn:aws:iam::{account}:saml-provider/fedbroker\"\n"
    "roles = [\n"
    "    f\"arn:aws:iam::{account}:role/{g.attributes['aws_role']},{provider}\"\n"
    "    for g in user.groups\n"
    "    if \"aws_role\" in g.attributes\n"
    "]\n"
    "if not user.is_active:\n"
    "    return None\n"
    "extra = user.attributes.get(\"extra_roles\", [])\n"
    "for r in extra:\n"
    "    roles.append(f\"arn:aws:iam::{account}:role/{r},{provider}\")\n"
    "admins = [g.name for g in user.groups if g.name.startswith(\"admin\")]\n"
    "if admins and len(roles) < 100:\n"
    "    roles.append(f\"arn:aws:iam::{account}:role/admin,{provider}\")\n"
    "seen = {}\n"
    "for r in roles:\n"
    "    seen[r] = True\n"
    "return sorted(seen.keys())\n";

static json_t *
make_user(int ngroups, int every)
{
	json_t *groups = json_array();

	for (int i = 0; i < ngroups; i++) {
		char name[32], role[32];
		json_t *attrs = json_object();

		snprintf(name, sizeof(name), i % 17 == 0 ? "admin-%02d" : "team-%02d", i);
		json_object_set_new(attrs, "team", json_string(name));
		if (i % every == 0) {
			snprintf(role, sizeof(role), "role_%02d", i);
			json_object_set_new(attrs, "aws_role", json_string(role));
		}
		json_array_append_new(groups,
		    json_pack("{s:s, s:o}", "name", name, "attributes", attrs));
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:{s:s, s:[s]}, s:o}", "username", "alice",
	    "name", "Alice Example", "email", "alice@example.com", "uid", "42", "is_active", 1,
	    "attributes", "department", "eng", "extra_roles", "readonly", "groups", groups);
}

/* CPU time of this process, in microseconds. */
static int64_t
cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

enum mode {
	EVAL_SUBJECT,
	EVAL_JSON,
	SUBJECT_ONLY,
};

static double
time_ns(const struct fb_map_rule *rule, const json_t *user, enum mode mode)
{
	struct fb_map_input in = {user, NULL, NULL};
	struct fb_map_subject *subject = NULL;
	json_t *out;
	long n = 1000;
	double ns;

	if (fb_map_subject_new(&in, &subject, NULL) != FB_OK)
		exit(1);
	/* Grow the run until it lasts half a second. */
	for (;;) {
		int64_t t0 = cpu_us(), dt;

		for (long i = 0; i < n; i++) {
			if (mode == EVAL_SUBJECT) {
				fb_map_rule_eval_subject(rule, subject, NULL, &out, NULL, NULL);
				json_decref(out);
			} else if (mode == EVAL_JSON) {
				fb_map_rule_eval(rule, &in, NULL, &out, NULL, NULL);
				json_decref(out);
			} else {
				struct fb_map_subject *s;

				fb_map_subject_new(&in, &s, NULL);
				fb_map_subject_free(s);
			}
		}
		dt = cpu_us() - t0;
		if (dt >= 500000) {
			ns = (double)dt * 1000.0 / (double)n;
			break;
		}
		n *= dt < 50000 ? 10 : 2;
	}
	fb_map_subject_free(subject);
	return ns;
}

static double
run(const char *label, const char *src, const json_t *user, double target_ns)
{
	struct fb_map_rule *rule = NULL;
	struct fb_map_input in = {user, NULL, NULL};
	struct fb_err err;
	json_t *out;
	double ns, json_ns, subj_ns;

	if (fb_map_rule_compile(label, src, strlen(src), &rule, NULL, &err) != FB_OK) {
		fprintf(stderr, "%s\n", err.msg);
		exit(1);
	}
	if (fb_map_rule_eval(rule, &in, NULL, &out, NULL, &err) != FB_OK) {
		fprintf(stderr, "%s\n", err.msg);
		exit(1);
	}
	json_decref(out);
	ns = time_ns(rule, user, EVAL_SUBJECT);
	json_ns = time_ns(rule, user, EVAL_JSON);
	subj_ns = time_ns(rule, user, SUBJECT_ONLY);
	printf("%s\n", label);
	printf("  eval      %10.0f evals/s %8.0f ns/eval  target < %5.0f ns: %4.2fx of target %s\n",
	    1e9 / ns, ns, target_ns, ns / target_ns, ns < target_ns ? "ok" : "SLOW");
	printf("  from JSON %10.0f evals/s %8.0f ns/eval  (%4.2fx of target)\n", 1e9 / json_ns,
	    json_ns, json_ns / target_ns);
	printf("  subject   %10.0f /s      %8.0f ns       (converting the user once)\n",
	    1e9 / subj_ns, subj_ns);
	fb_map_rule_free(rule);
	return ns / target_ns;
}

int
main(void)
{
	json_t *small = make_user(5, 2), *big = make_user(50, 3);
	double a, b;

	a = run("(a) f-string Role rule, user in 5 groups", rule_a, small, 1000);
	b = run("(b) 20-line rule, comprehension, 50 groups", rule_b, big, 10000);
	(void)run("(a') the f-string Role rule, user in 50 groups", rule_a, big, 10000);
	json_decref(small);
	json_decref(big);
	return a < 1 && b < 1 ? 0 : 1;
}
