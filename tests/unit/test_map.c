/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/unit/test_map.c: the mapping engine: lexer, parser, evaluator (every
 * example of the issue, every builtin and method), errors with their
 * positions, budgets, determinism, the output helpers and rule sets.
 *
 * The evaluator tables (cases_*) were checked against CPython 3.11: each
 * source, wrapped in a function of user, request and upstream built from
 * the same JSON, returns the expected value there too. The exceptions are
 * deliberate and commented where they appear (read-only inputs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "core/core.h"
#include "map/internal.h"
#include "map/map.h"
#include "unit.h"

static const char user_text[] =
    "{\"username\": \"alice\", \"name\": \"Alice Example\", \"email\": \"alice@example.com\","
    " \"uid\": \"1001\", \"is_active\": true,"
    " \"attributes\": {\"department\": \"eng\", \"roles\": [\"dev\", \"ops\"], \"level\": 3},"
    " \"groups\": [{\"name\": \"zeta\", \"attributes\": {\"aws_role\": \"zeta_role\", \"color\": "
    "\"red\"}},"
    "  {\"name\": \"alpha\", \"attributes\": {\"aws_role\": \"alpha_role\", \"color\": \"blue\", "
    "\"tier\": 1}},"
    "  {\"name\": \"mid\", \"attributes\": {}}]}";
static const char request_text[] =
    "{\"name\": \"aws\", \"type\": \"saml\", \"upstream\": \"google\"}";
static const char upstream_text[] =
    "{\"email\": \"alice@corp.example\", \"groups\": [\"g1\", \"g2\"], \"email_verified\": true}";

static json_t *user_json, *request_json, *upstream_json;

static int
suite_init(void)
{
	user_json = json_loads(user_text, 0, NULL);
	request_json = json_loads(request_text, 0, NULL);
	upstream_json = json_loads(upstream_text, 0, NULL);
	return user_json == NULL || request_json == NULL || upstream_json == NULL;
}

static int
suite_clean(void)
{
	json_decref(user_json);
	json_decref(request_json);
	json_decref(upstream_json);
	return 0;
}

/* The result as compact JSON, or "ERR " and the error message. New, caller frees. */
static char *
outcome(enum fb_status r, json_t *res, const struct fb_err *err)
{
	char *s;

	if (r != FB_OK)
		return fb_xasprintf("ERR %s", err->msg);
	s = json_dumps(res, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(res);
	return s;
}

/*
 * Compiles src as rule "t" and runs it twice: from the JSON inputs and over
 * a converted subject; both must agree. lim may be NULL.
 */
static char *
run_lim(const char *src, const struct fb_map_limits *lim)
{
	struct fb_map_input in = {user_json, request_json, upstream_json};
	struct fb_map_rule *rule = NULL;
	struct fb_map_subject *subject = NULL;
	struct fb_err err;
	json_t *res = NULL;
	char *a, *b;
	enum fb_status r;

	fb_err_clear(&err);
	if (fb_map_rule_compile("t", src, strlen(src), &rule, NULL, &err) != FB_OK)
		return fb_xasprintf("ERR %s", err.msg);
	r = fb_map_rule_eval(rule, &in, lim, &res, NULL, &err);
	a = outcome(r, res, &err);
	CU_ASSERT_FATAL(fb_map_subject_new(&in, &subject, NULL) == FB_OK);
	fb_err_clear(&err);
	r = fb_map_rule_eval_subject(rule, subject, lim, &res, NULL, &err);
	b = outcome(r, res, &err);
	if (strcmp(a, b) != 0)
		fprintf(stderr, "\n%s\n  from JSON: %s\n  subject:   %s\n", src, a, b);
	CU_ASSERT_STRING_EQUAL(a, b);
	free(b);
	fb_map_subject_free(subject);
	fb_map_rule_free(rule);
	return a;
}

static char *
run(const char *src)
{
	return run_lim(src, NULL);
}

static void
check(int line, const char *src, const char *want)
{
	char *got = run(src);

	if (strcmp(got, want) != 0)
		fprintf(stderr, "\ntest_map.c:%d: %s\n  got:  %s\n  want: %s\n", line, src, got,
		    want);
	CU_ASSERT_STRING_EQUAL(got, want);
	free(got);
}

#define EQ(src, want) check(__LINE__, (src), (want))

struct ecase {
	const char *src, *want;
};

static void
check_table(const struct ecase *t)
{
	for (; t->src != NULL; t++)
		check(0, t->src, t->want);
}

/* Checked against CPython 3.11 (see the comment at the top). */
static const struct ecase cases_issue[] = {
    {"return "
     "\"arn:aws:iam::123412341234:role/saml_role,arn:aws:iam::123412341234:saml-provider/"
     "authentik\"\n",
        "\"arn:aws:iam::123412341234:role/saml_role,arn:aws:iam::123412341234:saml-provider/"
        "authentik\""},
    {"role_name = user.group_attributes().get(\"aws_role\", \"\")\nreturn "
     "f\"arn:aws:iam::123412341234:role/{role_name},arn:aws:iam::123412341234:saml-provider/"
     "authentik\"\n",
        "\"arn:aws:iam::123412341234:role/zeta_role,arn:aws:iam::123412341234:saml-provider/"
        "authentik\""},
    {"return "
     "[\n\"arn:aws:iam::123412341234:role/role_a,arn:aws:iam::123412341234:saml-provider/"
     "authentik\",\n\"arn:aws:iam::123412341234:role/"
     "role_b,arn:aws:iam::123412341234:saml-provider/"
     "authentik\",\n\"arn:aws:iam::123412341234:role/"
     "role_c,arn:aws:iam::123412341234:saml-provider/authentik\",\n]\n",
        "[\"arn:aws:iam::123412341234:role/role_a,arn:aws:iam::123412341234:saml-provider/"
        "authentik\",\"arn:aws:iam::123412341234:role/"
        "role_b,arn:aws:iam::123412341234:saml-provider/"
        "authentik\",\"arn:aws:iam::123412341234:role/"
        "role_c,arn:aws:iam::123412341234:saml-provider/authentik\"]"},
    {"return user.username\n", "\"alice\""},
    {"# This expression strips the default mapping from its 'photos' attribute,\n# which is a "
     "forbidden property in AWS IAM.\nreturn {\n\"photos\": None,\n}\n",
        "{\"photos\":null}"},
    {NULL, NULL},
};

/* Checked against CPython 3.11 (see the comment at the top). */
static const struct ecase cases_objects[] = {
    {"return [user.username, user.name, user.email, user.uid, user.is_active]",
        "[\"alice\",\"Alice Example\",\"alice@example.com\",\"1001\",true]"},
    {"return user.attributes", "{\"department\":\"eng\",\"roles\":[\"dev\",\"ops\"],\"level\":3}"},
    {"return [g.name for g in user.groups]", "[\"zeta\",\"alpha\",\"mid\"]"},
    {"return user.groups[1].attributes['tier']", "1"},
    {"return user.group_attributes()", "{\"aws_role\":\"zeta_role\",\"color\":\"red\",\"tier\":1}"},
    {"return list(user.group_attributes().keys())", "[\"aws_role\",\"color\",\"tier\"]"},
    {"return [request.name, request.type, request.upstream]", "[\"aws\",\"saml\",\"google\"]"},
    {"return upstream['email']", "\"alice@corp.example\""},
    {"return upstream.get('missing', 'dflt')", "\"dflt\""},
    {"return 'g2' in upstream['groups']", "true"},
    {"return sorted(upstream.keys())", "[\"email\",\"email_verified\",\"groups\"]"},
    {"a = dict(user.attributes)\na['x'] = 1\nreturn [len(a), len(user.attributes)]", "[4,3]"},
    {"r = list(user.attributes['roles'])\nr.append('qa')\nreturn r", "[\"dev\",\"ops\",\"qa\"]"},
    {"r = user.attributes['roles']\nr += ['qa']\nreturn [r, user.attributes['roles']]",
        "[[\"dev\",\"ops\",\"qa\"],[\"dev\",\"ops\"]]"},
    {NULL, NULL},
};

/* Checked against CPython 3.11 (see the comment at the top). */
static const struct ecase cases_statements[] = {
    {"x = 1\nx += 2\nx -= 1\nx *= 5\nreturn x", "10"},
    {"x = 7\nx //= 2\nreturn x", "3"},
    {"x = 7\nx %= 4\nreturn x", "3"},
    {"x = 7\nx /= 2\nreturn x", "3.5"},
    {"s = 'a'\ns += 'b'\nreturn s", "\"ab\""},
    {"d = {}\nd['k'] = 1\nd['k'] += 41\nreturn d", "{\"k\":42}"},
    {"l = [1, 2]\nl[0] = 5\nl[-1] += 1\nreturn l", "[5,3]"},
    {"a = b = 3\nreturn a + b", "6"},
    {"a, b = 1, 2\na, b = b, a\nreturn [a, b]", "[2,1]"},
    {"(a, b), c = [1, 2], 3\nreturn a + b + c", "6"},
    {"k, v = 'xy'\nreturn v + k", "\"yx\""},
    /* Nothing to unpack into nothing (libFuzzer: a copy of zero values from nowhere). */
    {"w = (()) = ()\n[] = []\nreturn w", "[]"},
    {"x = 5\nif x > 3:\n    r = 'big'\nelif x > 1:\n    r = 'mid'\nelse:\n    r = 'small'\nreturn "
     "r",
        "\"big\""},
    {"x = 2\nif x > 3:\n    r = 'big'\nelif x > 1:\n    r = 'mid'\nelse:\n    r = 'small'\nreturn "
     "r",
        "\"mid\""},
    {"x = 0\nif x > 3:\n    r = 'big'\nelif x > 1:\n    r = 'mid'\nelse:\n    r = 'small'\nreturn "
     "r",
        "\"small\""},
    {"if True: return 1\nreturn 2", "1"},
    {"t = 0\nfor i in range(5):\n    t += i\nreturn t", "10"},
    {"out = []\nfor k, v in {'a': 1, 'b': 2}.items():\n    out.append(k * v)\nreturn out",
        "[\"a\",\"bb\"]"},
    {"out = []\nfor i in range(10):\n    if i % 2 == 0:\n        continue\n    if i > 6:\n        "
     "break\n    out.append(i)\nreturn out",
        "[1,3,5]"},
    {"for i in []:\n    pass\nreturn 'done'", "\"done\""},
    {"x = 1; y = 2; return x + y", "3"},
    {"pass", "null"},
    {"return", "null"},
    {"x = 1\n", "null"},
    {"for g in user.groups:\n    if g.name == 'alpha':\n        return g.attributes['aws_role']",
        "\"alpha_role\""},
    {"n = 0\nfor c in 'héllo':\n    n += 1\nreturn n", "5"},
    {"total = 0\nfor i in range(3):\n    for j in range(3):\n        total += i * j\nreturn total",
        "9"},
    {"x = [1, \n  2,\n      3]\nreturn x", "[1,2,3]"},
    {"x = 1 + \\\n    2\nreturn x", "3"},
    {"s = \"\"\"line1\nline2\"\"\"\nreturn s", "\"line1\\nline2\""},
    {"def_ = 1\nreturn def_", "1"},
    {NULL, NULL},
};

/* Checked against CPython 3.11 (see the comment at the top). */
static const struct ecase cases_exprs[] = {
    {"return 1 + 2 * 3 - 4", "3"},
    {"return (1 + 2) * 3", "9"},
    {"return 2 ** 10", "1024"},
    {"return -2 ** 2", "-4"},
    {"return 2 ** -1", "0.5"},
    {"return 7 // 2", "3"},
    {"return -7 // 2", "-4"},
    {"return 7 % -3", "-2"},
    {"return -7 % 3", "2"},
    {"return 7 / 2", "3.5"},
    {"return str(7.5 // 2)", "\"3.0\""},
    {"return str(-7.5 % 2)", "\"0.5\""},
    {"return 1 + True", "2"},
    {"return 'ab' * 3", "\"ababab\""},
    {"return 3 * 'ab'", "\"ababab\""},
    {"return [0] * 3", "[0,0,0]"},
    {"return 'a' * -1", "\"\""},
    {"return [1] + [2, 3]", "[1,2,3]"},
    {"return (1, 2) + (3,)", "[1,2,3]"},
    {"return -(3)", "-3"},
    {"return +4", "4"},
    {"return not 0", "true"},
    {"return not 'x'", "false"},
    {"return 0 or 'b'", "\"b\""},
    {"return 'a' or 'b'", "\"a\""},
    {"return 'a' and 'b'", "\"b\""},
    {"return '' and 'b'", "\"\""},
    {"return None or [] or {}", "{}"},
    {"return 1 < 2 < 3", "true"},
    {"return 1 < 3 < 2", "false"},
    {"return 3 > 2 >= 2 == 2 != 1", "true"},
    {"return 1 == 1.0", "true"},
    {"return 'a' < 'b'", "true"},
    {"return [1, 2] < [1, 3]", "true"},
    {"return (1, 2) == (1, 2)", "true"},
    {"return [1, 2] == (1, 2)", "false"},
    {"return {'a': 1, 'b': 2} == {'b': 2, 'a': 1}", "true"},
    {"return 'ell' in 'hello'", "true"},
    {"return 'z' not in 'hello'", "true"},
    {"return 2 in [1, 2]", "true"},
    {"return 'a' in {'a': 1}", "true"},
    {"return 3 in range(0, 10, 3)", "true"},
    {"return 4 in range(0, 10, 3)", "false"},
    {"return 1 in {'a': 1}", "false"},
    {"x = None\nreturn x is None", "true"},
    {"return 1 is not None", "true"},
    {"return True is True", "true"},
    {"return 'yes' if 1 else 'no'", "\"yes\""},
    {"return 'yes' if 0 else 'no'", "\"no\""},
    {"return 'a' if 0 else 'b' if 0 else 'c'", "\"c\""},
    {"return [1, 2, 3][-1]", "3"},
    {"return 'hello'[1]", "\"e\""},
    {"return 'héllo'[1]", "\"é\""},
    {"return {'a': {'b': 5}}['a']['b']", "5"},
    {"return 'abcdef'[1:4]", "\"bcd\""},
    {"return 'abcdef'[:2]", "\"ab\""},
    {"return 'abcdef'[4:]", "\"ef\""},
    {"return 'abcdef'[::2]", "\"ace\""},
    {"return 'abcdef'[::-1]", "\"fedcba\""},
    {"return 'abcdef'[-2:]", "\"ef\""},
    {"return 'abcdef'[-100:100]", "\"abcdef\""},
    {"return 'abcdef'[5:1:-2]", "\"fd\""},
    {"return [1, 2, 3, 4][1:3]", "[2,3]"},
    {"return [1, 2, 3, 4][::-2]", "[4,2]"},
    {"return (1, 2, 3)[1:]", "[2,3]"},
    {"return 'héllo'[1:3]", "\"él\""},
    {"return [x * 2 for x in [1, 2, 3]]", "[2,4,6]"},
    {"return [x for x in range(10) if x % 3 == 0]", "[0,3,6,9]"},
    {"return [x + y for x in 'ab' for y in 'cd']", "[\"ac\",\"ad\",\"bc\",\"bd\"]"},
    {"return [x for x in range(20) if x % 2 if x % 3]", "[1,5,7,11,13,17,19]"},
    {"return [[i, j] for i in range(3) for j in range(i)]", "[[1,0],[2,0],[2,1]]"},
    {"return {k: v * 2 for k, v in {'a': 1, 'b': 2}.items()}", "{\"a\":2,\"b\":4}"},
    {"return {g.name: len(g.attributes) for g in user.groups if g.attributes}",
        "{\"zeta\":2,\"alpha\":3}"},
    {"x = 'outer'\ny = [x for x in 'ab']\nreturn x", "\"outer\""},
    {"return any(g.name == 'mid' for g in user.groups)", "true"},
    {"return list(x for x in 'ab')", "[\"a\",\"b\"]"},
    {"return {'a': 1, **{'b': 2, 'a': 3}}", "{\"a\":3,\"b\":2}"},
    {"return {'x': [1, {'y': None}]}", "{\"x\":[1,{\"y\":null}]}"},
    {"return ()", "[]"},
    {"return (1,)", "[1]"},
    {"return 1, 2", "[1,2]"},
    {"return 'a' 'b' \"c\"", "\"abc\""},
    {"return 'a\\tb\\n'", "\"a\\tb\\n\""},
    {"return r'a\\tb'", "\"a\\\\tb\""},
    {"return '\\x41\\u00e9\\U0001F600'", "\"Aé😀\""},
    {"return '\\101'", "\"A\""},
    {"return 'it''s'", "\"its\""},
    {"return \"it's\"", "\"it's\""},
    {"return 0x1f + 0o17 + 0b11 + 1_000", "1049"},
    {"return str(1e3)", "\"1000.0\""},
    {"return str(.5)", "\"0.5\""},
    {"return str(1.5e-7)", "\"1.5e-07\""},
    {"return str(1e16)", "\"1e+16\""},
    {"return str(0.1 + 0.2)", "\"0.30000000000000004\""},
    {"return str(123456789.0)", "\"123456789.0\""},
    {"return str(-0.0)", "\"-0.0\""},
    {"return str(2.0 ** 0.5)", "\"1.4142135623730951\""},
    {"return str(1/3)", "\"0.3333333333333333\""},
    {"return str(0.0001)", "\"0.0001\""},
    {"return str(0.00001)", "\"1e-05\""},
    {NULL, NULL},
};

/* Checked against CPython 3.11 (see the comment at the top). */
static const struct ecase cases_fstrings[] = {
    {"x = 'ab'\nreturn f'[{x}]'", "\"[ab]\""},
    {"return f'{1 + 2}'", "\"3\""},
    {"return f'{{literal}}'", "\"{literal}\""},
    {"return f'{\"q\"!r}'", "\"'q'\""},
    {"return f'{\"q\"!s}'", "\"q\""},
    {"return f'{None}'", "\"None\""},
    {"return f'{[1, \"a\"]}'", "\"[1, 'a']\""},
    {"return f'{3.14159:.2f}'", "\"3.14\""},
    {"return f'{42:5}|'", "\"   42|\""},
    {"return f'{42:<5}|'", "\"42   |\""},
    {"return f'{42:^6}|'", "\"  42  |\""},
    {"return f'{42:*>6}'", "\"****42\""},
    {"return f'{-42:06}'", "\"-00042\""},
    {"return f'{42:+}'", "\"+42\""},
    {"return f'{42: }'", "\" 42\""},
    {"return f'{255:x}/{255:X}/{255:#x}/{8:o}/{5:b}/{5:#b}'", "\"ff/FF/0xff/10/101/0b101\""},
    {"return f'{1234567:,}'", "\"1,234,567\""},
    {"return f'{1234567:_}'", "\"1_234_567\""},
    {"return f'{0xdeadbeef:_x}'", "\"dead_beef\""},
    {"return f'{65:c}'", "\"A\""},
    {"return f'{1e10:e}'", "\"1.000000e+10\""},
    {"return f'{1234.5:.2e}'", "\"1.23e+03\""},
    {"return f'{0.5:%}'", "\"50.000000%\""},
    {"return f'{0.25:.0%}'", "\"25%\""},
    {"return f'{1.0:g}'", "\"1\""},
    {"return f'{0.00001234:g}'", "\"1.234e-05\""},
    {"return f'{2.0:.3}'", "\"2.0\""},
    {"return f'{1234.5678:.3}'", "\"1.23e+03\""},
    {"return f'{1234567.891:,.2f}'", "\"1,234,567.89\""},
    {"return f'{\"abc\":>5}'", "\"  abc\""},
    {"return f'{\"abc\":.2}'", "\"ab\""},
    {"return f'{\"abc\":-^7}'", "\"--abc--\""},
    {"return f'{\"é\":>3}'", "\"  é\""},
    {"w = 6\nreturn f'{42:>{w}}'", "\"    42\""},
    {"p = 3\nreturn f'{3.14159:.{p}f}'", "\"3.142\""},
    {"return f'{True}'", "\"True\""},
    {"return f'{True:d}'", "\"1\""},
    {"return f'{3:.2f}'", "\"3.00\""},
    {"return F'x{1}' f'y{2}'", "\"x1y2\""},
    {"return rf'\\d{1}'", "\"\\\\d1\""},
    {"return f'''{1}\n{2}'''", "\"1\\n2\""},
    {"d = {'k': 'v'}\nreturn f\"{d['k']}\"", "\"v\""},
    {"return f'{user.username!r:>9}'", "\"  'alice'\""},
    {"return f'{1:{\"0\"}>3}'", "\"001\""},
    {NULL, NULL},
};

/* Checked against CPython 3.11 (see the comment at the top). */
static const struct ecase cases_builtins[] = {
    {"return [len('héllo'), len([1, 2]), len({'a': 1}), len(range(3)), len(())]", "[5,2,1,3,0]"},
    {"return [str(), str(1), str(None), str(True), str([1, 'a']), str({'a': (1,)}), str('x')]",
        "[\"\",\"1\",\"None\",\"True\",\"[1, 'a']\",\"{'a': (1,)}\",\"x\"]"},
    {"return [int(), int('42'), int(' -7 '), int(3.9), int(-3.9), int(True), int('ff', 16), "
     "int('0x1f', 0), int('1_000')]",
        "[0,42,-7,3,-3,1,255,31,1000]"},
    {"return [float(), float('1.5'), float(2), str(float('inf')), str(float('-inf')), str(float(' "
     "1e3 '))]",
        "[0.0,1.5,2.0,\"inf\",\"-inf\",\"1000.0\"]"},
    {"return [bool(), bool(0), bool('a'), bool([]), bool({'a': 1}), bool(None), bool(0.0)]",
        "[false,false,true,false,true,false,false]"},
    {"return [list(), list('ab'), list((1, 2)), list({'a': 1, 'b': 2}), list(range(2, 5))]",
        "[[],[\"a\",\"b\"],[1,2],[\"a\",\"b\"],[2,3,4]]"},
    {"return [dict(), dict({'a': 1}), dict([('a', 1), ['b', 2]]), dict(x=1, y=2), dict({'a': 1}, "
     "b=2)]",
        "[{},{\"a\":1},{\"a\":1,\"b\":2},{\"x\":1,\"y\":2},{\"a\":1,\"b\":2}]"},
    {"return [sorted([3, 1, 2]), sorted('bca'), sorted([3, 1, 2], reverse=True), sorted({'b': 1, "
     "'a': 2})]",
        "[[1,2,3],[\"a\",\"b\",\"c\"],[3,2,1],[\"a\",\"b\"]]"},
    {"return str(sorted([1, 1.0, True, 0], reverse=True))", "\"[1, 1.0, True, 0]\""},
    {"return str(sorted([True, 1.0, 1, 0]))", "\"[0, True, 1.0, 1]\""},
    {"return sorted([[2, 'b'], [1, 'z'], [2, 'a']])", "[[1,\"z\"],[2,\"a\"],[2,\"b\"]]"},
    {"return [list(reversed([1, 2, 3])), list(reversed('ab')), list(reversed(range(3)))]",
        "[[3,2,1],[\"b\",\"a\"],[2,1,0]]"},
    {"return [any([]), any([0, 1]), all([]), all([1, 0]), all(x > 0 for x in [1, 2])]",
        "[false,true,true,false,true]"},
    {"return [min(3, 1, 2), max(3, 1, 2), min([4, 2]), max('abc'), min([], default=7), max(['b', "
     "'a'])]",
        "[1,3,2,\"c\",7,\"b\"]"},
    {"return [list(range(3)), list(range(1, 4)), list(range(10, 0, -3)), list(range(0)), "
     "list(range(5, 1))]",
        "[[0,1,2],[1,2,3],[10,7,4,1],[],[]]"},
    {"return str(range(1, 5, 2))", "\"range(1, 5, 2)\""},
    {"return range(0, 10)[3]", "3"},
    {"return [isinstance('a', str), isinstance(1, int), isinstance(True, int), isinstance(1, "
     "bool), isinstance(1.0, float), isinstance([], list), isinstance({}, dict), isinstance(None, "
     "(str, list)), isinstance('a', (int, str))]",
        "[true,true,true,false,true,true,true,false,true]"},
    {"return str([str, int])", "\"[<class 'str'>, <class 'int'>]\""},
    {"return re_match(r'arn:aws:iam::(\\d+):role/(.+)', 'arn:aws:iam::123:role/admin')",
        "[\"arn:aws:iam::123:role/admin\",\"123\",\"admin\"]"},
    {"return re_match('b', 'ab')", "null"},
    {"return re_match('a(x)?', 'ab')", "[\"a\",null]"},
    {"return re_match('(?i)ALICE', user.username)", "[\"alice\"]"},
    {"return bool(re_match(r'.*@example\\.com$', user.email))", "true"},
    {"return re_sub(r'\\s+', ' ', ' a  b   c ')", "\" a b c \""},
    {"return re_sub('(\\\\w+)@(\\\\w+)', r'\\2 at \\1', 'me@host')", "\"host at me\""},
    {"return re_sub('(?P<u>\\\\w+)@', r'\\g<u>#', 'me@host')", "\"me#host\""},
    {"return re_sub('a', 'b', 'aaa', count=2)", "\"bba\""},
    {"return re_sub('x*', '-', 'abxd')", "\"-a-b--d-\""},
    {"return re_sub('', '.', 'ab')", "\".a.b.\""},
    {"p = '[0-9]+'\nreturn re_sub(p, '#', 'a1b22')", "\"a#b#\""},
    {"return re_sub('é', 'e', 'café')", "\"cafe\""},
    {NULL, NULL},
};

/* Checked against CPython 3.11 (see the comment at the top). */
static const struct ecase cases_methods[] = {
    {"return ['AbC'.lower(), 'AbC'.upper(), 'abc'.lower()]", "[\"abc\",\"ABC\",\"abc\"]"},
    {"return ['  x \\n'.strip(), '  x '.lstrip(), '  x '.rstrip(), 'xxaxx'.strip('x'), "
     "'abcba'.strip('ab'), 'éaé'.strip('é')]",
        "[\"x\",\"x \",\"  x\",\"a\",\"c\",\"a\"]"},
    {"return ['a,b,,c'.split(','), ' a  b '.split(), 'a b c'.split(' ', 1), 'a b "
     "c'.split(maxsplit=1), 'a,b,c'.split(sep=',', maxsplit=1), ''.split(), ''.split(',')]",
        "[[\"a\",\"b\",\"\",\"c\"],[\"a\",\"b\"],[\"a\",\"b c\"],[\"a\",\"b "
        "c\"],[\"a\",\"b,c\"],[],[\"\"]]"},
    {"return ['a,b,c'.rsplit(',', 1), ' a  b c '.rsplit(None, 1), 'a::b::c'.rsplit('::')]",
        "[[\"a,b\",\"c\"],[\" a  b\",\"c\"],[\"a\",\"b\",\"c\"]]"},
    {"return ['-'.join(['a', 'b']), ''.join('xyz'), ', '.join(g.name for g in user.groups), "
     "','.join([])]",
        "[\"a-b\",\"xyz\",\"zeta, alpha, mid\",\"\"]"},
    {"return ['aaa'.replace('a', 'b'), 'aaa'.replace('a', 'b', 2), 'ab'.replace('', '-'), "
     "'abc'.replace('x', 'y')]",
        "[\"bbb\",\"bba\",\"-a-b-\",\"abc\"]"},
    {"return ['abc'.startswith('ab'), 'abc'.startswith(('x', 'a')), 'abc'.endswith('bc'), "
     "'abc'.endswith('b'), 'abc'.startswith('')]",
        "[true,true,true,false,true]"},
    {"return ['{} {}'.format(1, 'a'), '{1}{0}'.format('a', 'b'), '{name}!'.format(name='x'), "
     "'{:>4}|{:.1f}'.format('a', 2.25), '{{}}{}'.format(0), '{0[k]}'.format({'k': 'v'}), "
     "'{!r}'.format('q')]",
        "[\"1 a\",\"ba\",\"x!\",\"   a|2.2\",\"{}0\",\"v\",\"'q'\"]"},
    {"return ['a=b=c'.partition('='), 'a=b=c'.rpartition('='), 'abc'.partition('x'), "
     "'abc'.rpartition('x')]",
        "[[\"a\",\"=\",\"b=c\"],[\"a=b\",\"=\",\"c\"],[\"abc\",\"\",\"\"],[\"\",\"\",\"abc\"]]"},
    {"return ['hello'.find('l'), 'hello'.find('z'), 'héllo'.find('l'), 'hello'.index('o'), "
     "'banana'.count('an'), 'aaa'.count('')]",
        "[2,-1,2,4,2,4]"},
    {"return ['pre_x'.removeprefix('pre_'), 'x.py'.removesuffix('.py'), 'x'.removeprefix('y')]",
        "[\"x\",\"x\",\"x\"]"},
    {"d = {'a': 1}\nreturn [d.get('a'), d.get('b'), d.get('b', 2), d.get(1, 3)]", "[1,null,2,3]"},
    {"d = {'a': 1, 'b': 2}\nreturn [d.keys(), d.values(), d.items()]",
        "[[\"a\",\"b\"],[1,2],[[\"a\",1],[\"b\",2]]]"},
    {"d = {'a': 1}\nd.update({'b': 2})\nd.update([('c', 3)])\nreturn d",
        "{\"a\":1,\"b\":2,\"c\":3}"},
    {"l = [1]\nl.append(2)\nl.extend([3, 4])\nl.extend('ab')\nreturn l", "[1,2,3,4,\"a\",\"b\"]"},
    {"l = [5, 6, 5]\nreturn [l.index(6), l.count(5), l.count(9), (1, 2).index(2)]", "[1,2,0,1]"},
    {"l = [1, 2]\nl2 = l\nl2.append(3)\nreturn l", "[1,2,3]"},
    {NULL, NULL},
};

/* Checked against CPython 3.11 (see the comment at the top). */
static const struct ecase cases_determinism[] = {
    {"d = {}\nd['z'] = 1\nd['a'] = 2\nd['m'] = 3\nd['z'] = 4\nreturn list(d)",
        "[\"z\",\"a\",\"m\"]"},
    {"d = {str(i): i for i in range(40)}\nreturn [list(d)[:3], d['39'], len(d)]",
        "[[\"0\",\"1\",\"2\"],39,40]"},
    {NULL, NULL},
};
/* ---- lexer ------------------------------------------------------------------ */

static const char *const tok_short[] = {"EOF", "NL", "IN", "DE", "NAME", "INT", "FLOAT", "STR",
    "FSTR", "(", ")", "[", "]", "{", "}", ",", ":", ".", ";", "+", "-", "*", "/", "//", "%", "**",
    "==", "!=", "<", "<=", ">", ">=", "=", "+=", "-=", "*=", "/=", "//=", "%=", "!", "OTHER", "and",
    "or", "not", "in", "is", "if", "elif", "else", "for", "return", "pass", "break", "continue",
    "None", "True", "False", "KW"};

/* The kinds of src's tokens, space-separated, or "ERR line:col message". New. */
static char *
lex(const char *src)
{
	struct fb_arena *a = fb_arena_new();
	struct cerr e;
	struct lexer lx;
	struct token t;
	struct fb_buf b;
	char *r;

	memset(&e, 0, sizeof(e));
	fb_buf_init(&b, 1 << 20);
	fb_map_lex_init(&lx, &e, a, src, strlen(src), 1, 1, 0);
	if (setjmp(e.jb) != 0) {
		fb_buf_reset(&b);
		fb_buf_addf(&b, NULL, "ERR %d:%d %s", e.line, e.col, e.msg);
	} else {
		do {
			fb_map_lex_next(&lx, &t);
			fb_buf_addf(&b, NULL, "%s%s", b.len > 0 ? " " : "", tok_short[t.t]);
		} while (t.t != T_EOF);
	}
	r = fb_buf_take(&b);
	fb_buf_cleanup(&b);
	fb_arena_free(a);
	return r;
}

static void
check_lex(int line, const char *src, const char *want)
{
	char *got = lex(src);

	if (strcmp(got, want) != 0)
		fprintf(stderr, "\ntest_map.c:%d: %s\n  got:  %s\n  want: %s\n", line, src, got,
		    want);
	CU_ASSERT_STRING_EQUAL(got, want);
	free(got);
}

#define LEX(src, want) check_lex(__LINE__, (src), (want))

/* The first token of src. */
static struct token
first_token(struct fb_arena *a, const char *src)
{
	struct cerr e;
	struct lexer lx;
	struct token t;

	memset(&e, 0, sizeof(e));
	memset(&t, 0, sizeof(t));
	fb_map_lex_init(&lx, &e, a, src, strlen(src), 1, 1, 0);
	if (setjmp(e.jb) == 0)
		fb_map_lex_next(&lx, &t);
	return t;
}

static void
test_lexer_lines(void)
{
	LEX("x = 1\n", "NAME = INT NL EOF");
	LEX("x = 1", "NAME = INT NL EOF");
	LEX("", "EOF");
	LEX("\n\n   \n", "EOF");
	/* indentation opens and closes blocks */
	LEX("if x:\n    y\n    if z:\n        w\nq\n",
	    "if NAME : NL IN NAME NL if NAME : NL IN NAME NL DE DE NAME NL EOF");
	LEX("if x:\n  y", "if NAME : NL IN NAME NL DE EOF");
	LEX("if x:\n\ty\n\tz\n", "if NAME : NL IN NAME NL NAME NL DE EOF");
	/* brackets suspend indentation and newlines */
	LEX("x = [\n1,\n      2,\n]\ny\n", "NAME = [ INT , INT , ] NL NAME NL EOF");
	LEX("f(a,\n  b)\n", "NAME ( NAME , NAME ) NL EOF");
	LEX("d = {\n'a':\n1}\n", "NAME = { STR : INT } NL EOF");
	/* comments and blank lines are not statements */
	LEX("# c\n\nx # t\n   \n  # indented comment\ny\n", "NAME NL NAME NL EOF");
	LEX("if x:\n    # only a comment\n    y\n", "if NAME : NL IN NAME NL DE EOF");
	/* line continuation */
	LEX("x = 1 + \\\n  2\n", "NAME = INT + INT NL EOF");
	LEX("a\r\nb\r\n", "NAME NL NAME NL EOF");
	/* operators, maximal munch */
	LEX("a//=b**c!=d<=e>=f==g", "NAME //= NAME ** NAME != NAME <= NAME >= NAME == NAME NL EOF");
	LEX("a+=1;b-=2;c*=3;d/=4;e%=5",
	    "NAME += INT ; NAME -= INT ; NAME *= INT ; NAME /= INT ; NAME %= INT NL EOF");
	LEX("x & y", "NAME OTHER NAME NL EOF");
	LEX("not a in b is None and True or False",
	    "not NAME in NAME is None and True or False NL EOF");
	LEX("import os", "KW NAME NL EOF");
	LEX("x.y[0](1)", "NAME . NAME [ INT ] ( INT ) NL EOF");
}

static void
test_lexer_literals(void)
{
	struct fb_arena *a = fb_arena_new();
	struct token t;

	LEX("0x1f 1_000 1e3 .5 2. 0 00", "INT INT FLOAT FLOAT FLOAT INT INT NL EOF");
	t = first_token(a, "0x1F");
	CU_ASSERT_EQUAL(t.i, 31);
	t = first_token(a, "1_000_000");
	CU_ASSERT_EQUAL(t.i, 1000000);
	t = first_token(a, "0b101");
	CU_ASSERT_EQUAL(t.i, 5);
	t = first_token(a, "0o17");
	CU_ASSERT_EQUAL(t.i, 15);
	t = first_token(a, "2.5e-1");
	CU_ASSERT_EQUAL(t.t, T_FLOAT);
	CU_ASSERT(t.f > 0.2499 && t.f < 0.2501);
	t = first_token(a, "'a\\tb\\\\c\\'d'");
	CU_ASSERT_EQUAL(t.t, T_STRING);
	CU_ASSERT_STRING_EQUAL(t.s, "a\tb\\c'd");
	t = first_token(a, "\"\\u00e9\\x41\\101\\q\"");
	CU_ASSERT_STRING_EQUAL(t.s, "\xc3\xa9"
	                            "AA\\q");
	t = first_token(a, "r'\\n\\d'");
	CU_ASSERT_STRING_EQUAL(t.s, "\\n\\d");
	t = first_token(a, "'''a\n'b'\n'''");
	CU_ASSERT_STRING_EQUAL(t.s, "a\n'b'\n");
	t = first_token(a, "\"\"\"x\\\ny\"\"\"");
	CU_ASSERT_STRING_EQUAL(t.s, "xy");
	t = first_token(a, "f'a{b!r:>3}c'");
	CU_ASSERT_EQUAL(t.t, T_FSTRING);
	CU_ASSERT_EQUAL(t.fn, 10);
	CU_ASSERT(memcmp(t.fp, "a{b!r:>3}c", 10) == 0);
	t = first_token(a, "Rb'x'");
	CU_ASSERT_EQUAL(t.t, T_EOF); /* an error: bytes */
	LEX("'a' \"b\" f'c' rf'd' u'e'", "STR STR FSTR FSTR STR NL EOF");
	fb_arena_free(a);
}

static void
test_lexer_errors(void)
{
	LEX("x = 'abc", "ERR 1:5 unterminated string literal");
	LEX("x = 'ab\nc'", "ERR 1:5 unterminated string literal");
	LEX("x = '''ab\n", "ERR 1:5 unterminated triple-quoted string literal");
	LEX("if x:\n    y\n  z\n", "ERR 3:3 unindent does not match any outer indentation level");
	LEX("x = (1,\n2\n", "ERR 1:5 '(' was never closed");
	LEX("x = 1)", "ERR 1:6 unmatched ')'");
	LEX("x = [1)", "ERR 1:7 closing bracket ')' does not match opening bracket '[' on line 1");
	LEX("a ? b", "ERR 1:3 invalid character '?'");
	LEX("caf\xc3\xa9 = 1",
	    "ERR 1:4 invalid character '\xc3\xa9' (names are ASCII letters, digits and '_')");
	LEX("x = 012", "ERR 1:5 leading zeros in decimal integer literals are not permitted; use "
	               "0o for octal");
	LEX("x = 1j", "ERR 1:5 complex numbers are not supported");
	LEX("x = 1abc", "ERR 1:5 invalid number literal '1a'");
	LEX("x = 99999999999999999999", "ERR 1:5 integer literal too large (integers are 64-bit)");
	LEX("x = b'a'", "ERR 1:5 bytes literals are not supported");
	LEX("x = '\\x4'", "ERR 1:6 truncated \\x escape in string (needs 2 hex digits)");
	LEX("x = '\\ud800'", "ERR 1:6 invalid code point U+D800 in string");
	LEX("x = 1 \\ y", "ERR 1:7 unexpected character after line continuation character");
	LEX("((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1",
	    "ERR 1:65 too many nested brackets (at most 64)");
}

/* ---- the evaluator, by table ---------------------------------------------------- */

static void
test_issue_examples(void)
{
	check_table(cases_issue);
}

static void
test_objects(void)
{
	check_table(cases_objects);
}

static void
test_statements(void)
{
	check_table(cases_statements);
}

static void
test_expressions(void)
{
	check_table(cases_exprs);
}

static void
test_fstrings(void)
{
	check_table(cases_fstrings);
}

static void
test_builtins(void)
{
	check_table(cases_builtins);
}

static void
test_methods(void)
{
	check_table(cases_methods);
}

/* ---- errors with their positions ---------------------------------------------------- */

static void
test_syntax_errors(void)
{
	EQ("import os\nreturn 1",
	    "ERR t:1:1: syntax error: import statements are not allowed in mappings");
	EQ("x = 1\nfrom os import path",
	    "ERR t:2:1: syntax error: import statements are not allowed in mappings");
	EQ("def f():\n    return 1", "ERR t:1:1: syntax error: 'def' is not supported in mappings "
	                             "(see fedbroker-mapping(7))");
	EQ("while True:\n    pass", "ERR t:1:1: syntax error: 'while' is not supported in mappings "
	                            "(see fedbroker-mapping(7))");
	EQ("return lambda x: x", "ERR t:1:8: syntax error: 'lambda' is not supported in mappings "
	                         "(see fedbroker-mapping(7))");
	EQ("x = 1 +\n", "ERR t:1:8: syntax error: expected an expression, found end of line");
	EQ("return (1 +", "ERR t:1:8: syntax error: '(' was never closed");
	EQ("if x\n    pass", "ERR t:1:5: syntax error: expected ':', found end of line");
	EQ("if True:\nreturn 1",
	    "ERR t:2:1: syntax error: expected an indented block after 'if' statement on line 1");
	EQ("  return 1", "ERR t:1:3: syntax error: unexpected indent");
	EQ("x = 1\n    y = 2", "ERR t:2:5: syntax error: unexpected indent");
	EQ("else:\n    pass", "ERR t:1:1: syntax error: 'else' without a matching 'if'");
	EQ("break", "ERR t:1:1: syntax error: 'break' outside loop");
	EQ("return {1, 2}", "ERR t:1:9: syntax error: set literals are not supported (use a list)");
	EQ("return x & 1", "ERR t:1:10: syntax error: operator '&' is not supported in mappings");
	EQ("return user.__class__",
	    "ERR t:1:13: syntax error: names starting with '__' are not allowed in mappings");
	EQ("__import__('os')",
	    "ERR t:1:1: syntax error: names starting with '__' are not allowed in mappings");
	EQ("user.name = 'x'", "ERR t:1:6: syntax error: cannot assign to attribute 'name' (user, "
	                      "request and their members are read-only)");
	EQ("f() = 1", "ERR t:1:1: syntax error: cannot assign to function call");
	EQ("1 = x", "ERR t:1:1: syntax error: cannot assign to literal");
	EQ("x[1:2] = 1", "ERR t:1:2: syntax error: assignment to a slice is not supported");
	EQ("a, b += 1", "ERR t:1:1: syntax error: illegal expression for augmented assignment");
	EQ("user = 1", "ERR t:1:1: syntax error: cannot assign to 'user': it is a built-in name");
	EQ("len = 1", "ERR t:1:1: syntax error: cannot assign to 'len': it is a built-in name");
	/* Found by fuzz_mapping_rules: augmented assignment to a built-in name. */
	EQ("upstream //= 5",
	    "ERR t:1:1: syntax error: cannot assign to 'upstream': it is a built-in name");
	EQ("x = 1\nstr += 'a'",
	    "ERR t:2:1: syntax error: cannot assign to 'str': it is a built-in name");
	EQ("return f'{}'", "ERR t:1:11: syntax error: f-string: empty expression not allowed");
	EQ("return f'{x'", "ERR t:1:10: syntax error: f-string: expecting '}'");
	EQ("return f'a}'", "ERR t:1:11: syntax error: f-string: single '}' is not allowed");
	EQ("return f'{x!z}'", "ERR t:1:13: syntax error: f-string: invalid conversion character: "
	                      "expected 's', 'r', or 'a'");
	EQ("return f'{x=}'", "ERR t:1:12: syntax error: f-string '=' specifier is not supported");
	EQ("x = 1\nreturn f'{x +}'",
	    "ERR t:2:14: syntax error: expected an expression, found end of input");
	EQ("return f(*a)",
	    "ERR t:1:10: syntax error: *args and **kwargs are not supported in calls");
	EQ("return len(x=1, 2)",
	    "ERR t:1:17: syntax error: positional argument follows keyword argument");
	EQ("for i in range(3):\n    pass\nelse:\n    pass",
	    "ERR t:3:1: syntax error: 'else' after 'for' is not supported");
	EQ("return 1 if 2", "ERR t:1:14: syntax error: expected 'else' in the conditional "
	                    "expression, found end of line");
	EQ("x = 1 = 2", "ERR t:1:5: syntax error: cannot assign to literal");
	EQ("return b'x'", "ERR t:1:8: syntax error: bytes literals are not supported");
	EQ("return 1 if x else",
	    "ERR t:1:19: syntax error: expected an expression, found end of line");
	EQ("return [x for x in]", "ERR t:1:19: syntax error: expected an expression, found ']'");
	EQ("return \xff", "ERR t:1:8: syntax error: invalid UTF-8 or NUL byte in the source");
}

static void
test_name_errors(void)
{
	EQ("return usr.name",
	    "ERR t:1:8: name error: name 'usr' is not defined (did you mean 'user'?)");
	EQ("return foo", "ERR t:1:8: name error: name 'foo' is not defined");
	EQ("return x\nx = 1", "ERR t:1:8: name error: name 'x' is used before it is assigned");
	EQ("x += 1", "ERR t:1:1: name error: name 'x' is used before it is assigned");
	EQ("return lenn('a')",
	    "ERR t:1:8: name error: name 'lenn' is not defined (did you mean 'len'?)");
	EQ("return ak_is_group_member(user)",
	    "ERR t:1:8: name error: name 'ak_is_group_member' is not defined");
	EQ("return [y for x in [1]]", "ERR t:1:9: name error: name 'y' is not defined");
	EQ("y = [x for x in [1]]\nreturn x", "ERR t:2:8: name error: name 'x' is not defined");
	/* Assigned in a branch not taken: found at run time. */
	EQ("if False:\n    x = 1\nreturn x",
	    "ERR t:3:8: name error: local variable 'x' is used before it is assigned a value");
	EQ("for i in range(2):\n    if i == 1:\n        return seen\n    else:\n        pass\n    "
	   "seen = i",
	    "0");
	EQ("for i in range(2):\n    if i == 0:\n        return seen\n    seen = i",
	    "ERR t:3:16: name error: local variable 'seen' is used before it is assigned a value");
}

static void
test_attribute_errors(void)
{
	EQ("return user.foo", "ERR t:1:13: attribute error: user has no attribute 'foo' (it has "
	                      "username, name, email, uid, is_active, attributes, groups)");
	EQ("return user.password",
	    "ERR t:1:13: attribute error: user has no attribute 'password' (it has username, name, "
	    "email, uid, is_active, attributes, groups)");
	EQ("return request.user", "ERR t:1:16: attribute error: request has no attribute 'user' "
	                          "(it has name, type, upstream)");
	EQ("return upstream.email", "ERR t:1:17: attribute error: a dict has no attribute 'email' "
	                            "(use upstream[\"...\"] or upstream.get(\"...\"))");
	EQ("return user.delete()", "ERR t:1:13: attribute error: user has no method 'delete' "
	                           "(user's only method is group_attributes())");
	EQ("return 'x'.encode()", "ERR t:1:12: attribute error: unknown method 'encode' (see "
	                          "fedbroker-mapping(7) for the methods of str, list and dict)");
	EQ("x = 'a'\nreturn x.upper",
	    "ERR t:2:10: type error: method 'upper' must be called: add ()");
	EQ("x = 'a'\nreturn x.foo", "ERR t:2:10: attribute error: unknown attribute 'foo' (groups "
	                            "have name and attributes)");
	EQ("return user.username()", "ERR t:1:13: attribute error: user has no method 'username' "
	                             "(user's only method is group_attributes())");
	EQ("x = 'a'\nreturn x.name",
	    "ERR t:2:10: attribute error: 'str' object has no attribute 'name'");
	EQ("x = [1]\nreturn x.lower()",
	    "ERR t:2:10: attribute error: 'list' object has no attribute 'lower'");
	EQ("x = {}\nreturn x.group_attributes()",
	    "ERR t:2:10: attribute error: group_attributes() is a method of user only");
	EQ("return user.groups[0].email",
	    "ERR t:1:23: attribute error: 'group' object has no attribute 'email'");
}

/*
 * One table names the attributes for the compiler (user.email in a rule) and
 * for the evaluator (the JSON field read, and written back): every attribute
 * of every object reads the JSON field of that name.
 */
static void
test_attr_names(void)
{
	static const struct {
		int vt;
		const char *expr;
		const char *key; /* JSON pointer-ish: "user", "group", "request" */
	} objs[] = {
	    {VT_USER, "user", "user"},
	    {VT_GROUP, "user.groups[1]", "group"},
	    {VT_REQUEST, "request", "request"},
	};

	for (int a = 0; a < A_COUNT; a++) {
		int found = 0;

		CU_ASSERT_PTR_NOT_NULL_FATAL(fb_map_attr_names[a]);
		for (int b = 0; b < a; b++)
			CU_ASSERT(strcmp(fb_map_attr_names[a], fb_map_attr_names[b]) != 0);
		for (size_t o = 0; o < sizeof(objs) / sizeof(objs[0]); o++) {
			const json_t *from =
			    o == 0   ? user_json
			    : o == 1 ? json_array_get(json_object_get(user_json, "groups"), 1)
			             : request_json;
			char *src, *got, *want;

			if (fb_map_obj_slot(objs[o].vt, (enum attr)a) < 0)
				continue;
			found = 1;
			src = fb_xasprintf("return %s.%s", objs[o].expr, fb_map_attr_names[a]);
			got = run(src);
			want = json_dumps(json_object_get(from, fb_map_attr_names[a]),
			    JSON_COMPACT | JSON_ENCODE_ANY);
			CU_ASSERT_PTR_NOT_NULL_FATAL(want);
			if (strcmp(got, want) != 0)
				fprintf(stderr, "\n%s (%s): got %s, want %s\n", src, objs[o].key,
				    got, want);
			CU_ASSERT_STRING_EQUAL(got, want);
			free(want);
			free(got);
			free(src);
		}
		CU_ASSERT(found); /* each attribute belongs to some object */
	}
}

static void
test_type_errors(void)
{
	EQ("return 1 + 'a'",
	    "ERR t:1:10: type error: unsupported operand type(s) for +: 'int' and 'str'");
	EQ("return 'a' - 'b'",
	    "ERR t:1:12: type error: unsupported operand type(s) for -: 'str' and 'str'");
	EQ("return '%s' % 1", "ERR t:1:13: type error: printf-style '%' formatting is not "
	                      "supported; use an f-string");
	EQ("return -'a'", "ERR t:1:8: type error: bad operand type for unary -: 'str'");
	EQ("return 1 < 'a'",
	    "ERR t:1:10: type error: '<' not supported between instances of 'int' and 'str'");
	EQ("return sorted([1, 'a'])",
	    "ERR t:1:8: type error: '<' not supported between instances of 'str' and 'int'");
	EQ("return len(5)", "ERR t:1:8: type error: object of type 'int' has no len()");
	EQ("return len()", "ERR t:1:8: type error: len() takes 1 positional argument (0 given)");
	EQ("return range(1, 2, 3, 4)",
	    "ERR t:1:8: type error: range() takes at most 3 positional arguments (4 given)");
	EQ("return sorted([1], key=1)",
	    "ERR t:1:24: type error: sorted() got an unexpected keyword argument 'key'");
	EQ("return 'a'.split(',', 1, 2)",
	    "ERR t:1:12: type error: split() takes at most 2 positional arguments (3 given)");
	EQ("x = 1\nreturn x()", "ERR t:2:8: type error: 'x' is not callable");
	EQ("return len", "ERR t:1:8: type error: builtin 'len' can only be called");
	EQ("return [1][0]()", "ERR t:1:11: type error: only builtins and methods can be called");
	EQ("return [1]['a']", "ERR t:1:11: type error: list indices must be integers, not str");
	EQ("return 5[0]", "ERR t:1:9: type error: 'int' object is not subscriptable");
	EQ("for x in 5:\n    pass", "ERR t:1:10: type error: 'int' object is not iterable");
	EQ("return 1 in 5", "ERR t:1:10: type error: argument of type 'int' is not iterable");
	EQ("return 1 in 'abc'",
	    "ERR t:1:10: type error: 'in <string>' requires string as left operand, not int");
	EQ("return {1: 2}", "ERR t:1:9: type error: dict keys must be str, not int");
	EQ("d = {}\nd[1] = 2", "ERR t:2:2: type error: dict keys must be str, not int");
	EQ("s = 'ab'\ns[0] = 'x'",
	    "ERR t:2:2: type error: 'str' object does not support item assignment");
	EQ("return ','.join([1])",
	    "ERR t:1:12: type error: sequence item 0: expected str instance, int found");
	EQ("return isinstance(1, 2)",
	    "ERR t:1:8: type error: isinstance() arg 2 must be a type or tuple of types, not int");
	EQ("return int([])",
	    "ERR t:1:8: type error: int() argument must be a string or a number, not 'list'");
	EQ("return range('a')",
	    "ERR t:1:8: type error: 'str' object cannot be interpreted as an integer");
	EQ("a, b = 1", "ERR t:1:1: type error: cannot unpack non-iterable int object");
	EQ("return f'{None:>5}'",
	    "ERR t:1:11: type error: unsupported format string passed to NoneType.__format__");
	EQ("return range(3)", "ERR t:1:1: type error: a range cannot be returned (not a JSON "
	                      "value); use list(range(...))");
	EQ("return str", "ERR t:1:1: type error: a type cannot be returned (not a JSON value)");
	/* Inputs are read-only (Python would let a rule change them). */
	EQ("user.attributes['x'] = 1",
	    "ERR t:1:16: type error: this dict comes from user, request or upstream and is "
	    "read-only; copy it first with dict(...)");
	EQ("user.attributes['roles'].append('x')",
	    "ERR t:1:26: type error: this list comes from user, request or upstream and is "
	    "read-only; copy it first with list(...)");
	EQ("upstream.update({})", "ERR t:1:10: type error: this dict comes from user, request or "
	                          "upstream and is read-only; copy it first with dict(...)");
	EQ("user.groups.extend([])", "ERR t:1:13: type error: this list comes from user, request "
	                             "or upstream and is read-only; copy it first with list(...)");
}

static void
test_value_errors(void)
{
	EQ("return int('abc')",
	    "ERR t:1:8: value error: invalid literal for int() with base 10: 'abc'");
	EQ("return int('1.5')",
	    "ERR t:1:8: value error: invalid literal for int() with base 10: '1.5'");
	EQ("return float('x')", "ERR t:1:8: value error: could not convert string to float: 'x'");
	EQ("return float('0x1p3')",
	    "ERR t:1:8: value error: could not convert string to float: '0x1p3'");
	EQ("return 9223372036854775807 + 1",
	    "ERR t:1:28: value error: integer overflow (integers are 64-bit)");
	EQ("return 2 ** 64", "ERR t:1:10: value error: integer overflow (integers are 64-bit)");
	EQ("return min([])", "ERR t:1:8: value error: min() arg is an empty sequence");
	EQ("return range(0, 5, 0)", "ERR t:1:8: value error: range() arg 3 must not be zero");
	EQ("return 'abc'[::0]", "ERR t:1:13: value error: slice step cannot be zero");
	EQ("return 'a'.split('')", "ERR t:1:12: value error: empty separator");
	EQ("return [1].index(2)", "ERR t:1:12: value error: 2 is not in list");
	EQ("return 'abc'.index('z')", "ERR t:1:14: value error: substring not found");
	EQ("a, b = [1, 2, 3]",
	    "ERR t:1:1: value error: too many values to unpack (expected 2, got 3)");
	EQ("a, b, c = 'ab'",
	    "ERR t:1:1: value error: not enough values to unpack (expected 3, got 2)");
	EQ("d = {'a': 1}\nfor k in d:\n    d[k + 'x'] = 1",
	    "ERR t:2:1: value error: dictionary changed size during iteration");
	EQ("return f'{1:abc}'", "ERR t:1:11: value error: invalid format specifier 'abc'");
	EQ("return f'{\"s\":d}'",
	    "ERR t:1:11: value error: unknown format code 'd' for object of type 'str'");
	EQ("return f'{1:.2d}'",
	    "ERR t:1:11: value error: precision not allowed in integer format specifier");
	EQ("return '{} {}'.format(1)",
	    "ERR t:1:16: index error: replacement index 1 out of range for positional args tuple");
	EQ("return re_match('(', 'x')", "ERR t:1:17: value error: invalid regular expression at "
	                                "offset 1: missing closing parenthesis");
	EQ("p = '('\nreturn re_match(p, 'x')", "ERR t:2:8: value error: invalid regular expression "
	                                       "at offset 1: missing closing parenthesis");
	EQ("return re_sub('a', r'\\2', 'a')", "ERR t:1:8: value error: invalid group reference 2");
	EQ("return float('inf') * 0 == 1 or float('nan')",
	    "ERR t:1:1: value error: the result contains nan, which JSON cannot represent");
	EQ("a = []\na.append(a)\nreturn a", "ERR t:3:1: value error: result nested deeper than 64 "
	                                    "levels (does a list contain itself?)");
	EQ("a = []\na.append(a)\nreturn str(a)", "ERR t:3:8: value error: values nested deeper "
	                                         "than 64 levels (does a list contain itself?)");
}

static void
test_lookup_errors(void)
{
	EQ("return [1, 2][5]",
	    "ERR t:1:14: index error: list index out of range (index 5, length 2)");
	EQ("return 'ab'[-3]",
	    "ERR t:1:12: index error: string index out of range (index -3, length 2)");
	EQ("x = []\nx[0] = 1", "ERR t:2:2: index error: list assignment index out of range");
	EQ("return {'a': 1}['b']", "ERR t:1:16: key error: 'b'");
	EQ("return upstream['nope']", "ERR t:1:16: key error: 'nope'");
	EQ("return user.groups[2].attributes['aws_role']", "ERR t:1:33: key error: 'aws_role'");
	EQ("return '{x}'.format(y=1)", "ERR t:1:14: key error: 'x'");
	EQ("return 1 / 0", "ERR t:1:10: zero division error: division by zero");
	EQ("return 1 // 0", "ERR t:1:10: zero division error: integer division by zero");
	EQ("return 5 % 0", "ERR t:1:10: zero division error: integer modulo by zero");
	EQ("return 1.0 / 0", "ERR t:1:12: zero division error: float division by zero");
	EQ("return 0 ** -1",
	    "ERR t:1:10: zero division error: 0 cannot be raised to a negative power");
}

/* ---- budgets ------------------------------------------------------------------------ */

static void
test_budgets(void)
{
	struct fb_map_limits small = {.steps = 50, .memory = 0};
	struct fb_map_limits tiny = {.steps = 0, .memory = 4096};
	int64_t t0 = fb_time_mono_us();
	char *r;

	/* An infinite-looking loop stops at the step budget, where it is. */
	EQ("t = 0\nfor i in range(10 ** 15):\n    t += i\nreturn t",
	    "ERR t:3:10: budget exceeded: step budget exceeded");
	EQ("for i in range(10 ** 15):\n    pass",
	    "ERR t:1:1: budget exceeded: step budget exceeded");
	EQ("x = [1]\nfor i in x:\n    x.append(i)",
	    "ERR t:3:7: budget exceeded: step budget exceeded");
	EQ("return [i for i in range(10 ** 15)]",
	    "ERR t:1:8: budget exceeded: memory budget exceeded (1048576 bytes)");
	/* Doubling a string runs into the memory budget. */
	EQ("s = 'x'\nfor i in range(64):\n    s = s + s\nreturn len(s)",
	    "ERR t:3:11: budget exceeded: memory budget exceeded (1048576 bytes)");
	EQ("return len('ab' * 10 ** 9)",
	    "ERR t:1:17: budget exceeded: memory budget exceeded (1048576 bytes)");
	EQ("return len([0] * 10 ** 9)",
	    "ERR t:1:16: budget exceeded: memory budget exceeded (1048576 bytes)");
	EQ("return list(range(10 ** 9))",
	    "ERR t:1:8: budget exceeded: memory budget exceeded (1048576 bytes)");
	EQ("return f'{1:>1000000000}'",
	    "ERR t:1:11: value error: too many decimal digits in format string (at most 100000)");
	/* Shared lists make the result much bigger than the memory they use. */
	EQ("x = [[1] * 1000] * 1000\nreturn x",
	    "ERR t:2:1: budget exceeded: memory budget exceeded (1048576 bytes) while building the "
	    "result");
	EQ("x = [[1] * 1000] * 1000\nreturn x == x",
	    "ERR t:2:10: budget exceeded: step budget exceeded");
	/* Configurable limits. */
	r = run_lim("t = 0\nfor i in range(100):\n    t += i\nreturn t", &small);
	CU_ASSERT_STRING_EQUAL(r, "ERR t:3:10: budget exceeded: step budget exceeded");
	free(r);
	r = run_lim("return 'x' * 5000", &tiny);
	CU_ASSERT_STRING_EQUAL(r,
	    "ERR t:1:12: budget exceeded: memory budget exceeded (4096 bytes)");
	free(r);
	r = run_lim("return 'x' * 100", &tiny);
	CU_ASSERT_EQUAL(strlen(r), 102);
	free(r);
	/* None of this took long. */
	CU_ASSERT(fb_time_mono_us() - t0 < 5 * 1000000);
}

/* A catastrophic pattern on a long input gives up quickly (PCRE2 match limits). */
static void
test_regex_catastrophic(void)
{
	const char *pats[] = {"(a+)+$", "(a|aa)+$", "(a*)*b", "((a{1,10}){1,10}){1,10}$",
	    "(\\\\w+\\\\s?)*$"};

	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		char *src = fb_xasprintf("return [re_match('%s', 'a' * 20000 + '!'), re_sub('%s', "
		                         "'x', 'a' * 20000 + '!')]",
		    pats[i], pats[i]);
		int64_t t0 = fb_time_mono_us();
		char *r = run(src);
		int64_t dt = fb_time_mono_us() - t0;

		CU_ASSERT(dt < 1000000);
		CU_ASSERT(strcmp(r, "ERR t:1:9: value error: regular expression needs too much "
		                    "backtracking on this input (simplify the pattern)") == 0 ||
		          strncmp(r, "[", 1) == 0);
		if (dt >= 1000000)
			fprintf(stderr, "\n%s took %lld us\n", pats[i], (long long)dt);
		free(r);
		free(src);
	}
	/* Many calls cost steps: a loop of regex calls stops at the step budget. */
	EQ("for i in range(100000):\n    re_match('a+', 'aaa')",
	    "ERR t:2:5: budget exceeded: step budget exceeded");
	/* A pattern that needs more than the match limit fails, whatever the budget. */
	EQ("return re_match('(a+)+$', 'a' * 30 + '!')",
	    "ERR t:1:8: value error: regular expression needs too much backtracking on this input "
	    "(simplify the pattern)");
}

/* ---- determinism, independence, sharing -------------------------------------------------- */

static void
test_determinism(void)
{
	struct fb_map_input in = {user_json, request_json, upstream_json};
	struct fb_map_rule *rule = NULL;
	const char *src = "x = []\nx.append(len(x))\nd = {}\nd['n'] = len(d)\nreturn [x, d]";
	json_t *r1 = NULL, *r2 = NULL;
	char *before, *after;

	check_table(cases_determinism);
	/* Two evaluations of one compiled rule see nothing of each other. */
	CU_ASSERT_FATAL(fb_map_rule_compile("t", src, strlen(src), &rule, NULL, NULL) == FB_OK);
	CU_ASSERT(fb_map_rule_eval(rule, &in, NULL, &r1, NULL, NULL) == FB_OK);
	CU_ASSERT(fb_map_rule_eval(rule, &in, NULL, &r2, NULL, NULL) == FB_OK);
	CU_ASSERT(json_equal(r1, r2));
	json_decref(r1);
	json_decref(r2);
	fb_map_rule_free(rule);
	/* The inputs are never modified. */
	before = json_dumps(user_json, JSON_COMPACT);
	free(run("a = dict(user.attributes)\na['x'] = 1\ng = user.group_attributes()\ng['y'] = "
	         "2\nreturn [a, g]"));
	after = json_dumps(user_json, JSON_COMPACT);
	CU_ASSERT_STRING_EQUAL(before, after);
	free(before);
	free(after);
}

static void
test_subject(void)
{
	struct fb_map_input in = {user_json, NULL, NULL};
	struct fb_map_subject *s = NULL;
	struct fb_map_rule *rule = NULL;
	const char *src = "return [user.username, request.name, upstream, len(user.groups)]";
	/* with no user, user.username is an attribute error */
	json_t *r = NULL;
	char *txt;
	json_t *big = json_object();

	CU_ASSERT_FATAL(fb_map_subject_new(&in, &s, NULL) == FB_OK);
	CU_ASSERT_FATAL(fb_map_rule_compile("t", src, strlen(src), &rule, NULL, NULL) == FB_OK);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT(fb_map_rule_eval_subject(rule, s, NULL, &r, NULL, NULL) == FB_OK);
		txt = json_dumps(r, JSON_COMPACT);
		CU_ASSERT_STRING_EQUAL(txt, "[\"alice\",null,{},3]");
		free(txt);
		json_decref(r);
	}
	fb_map_subject_free(s);
	fb_map_subject_free(NULL);
	/* No user at all: user is None. */
	in.user = NULL;
	CU_ASSERT_FATAL(fb_map_subject_new(&in, &s, NULL) == FB_OK);
	CU_ASSERT(fb_map_rule_eval_subject(rule, s, NULL, &r, NULL, NULL) == FB_ERR_DENIED);
	CU_ASSERT_PTR_NULL(r);
	fb_map_subject_free(s);
	fb_map_rule_free(rule);
	/* A big upstream dict is indexed once and read by many evaluations. */
	for (int i = 0; i < 100; i++) {
		char k[16];

		snprintf(k, sizeof(k), "k%d", i);
		json_object_set_new(big, k, json_integer(i));
	}
	in.user = user_json;
	in.upstream = big;
	src = "return [upstream['k42'], upstream.get('k99'), 'k7' in upstream, 'zz' in upstream, "
	      "len(upstream)]";
	CU_ASSERT_FATAL(fb_map_subject_new(&in, &s, NULL) == FB_OK);
	CU_ASSERT_FATAL(fb_map_rule_compile("t", src, strlen(src), &rule, NULL, NULL) == FB_OK);
	CU_ASSERT(fb_map_rule_eval_subject(rule, s, NULL, &r, NULL, NULL) == FB_OK);
	txt = json_dumps(r, JSON_COMPACT);
	CU_ASSERT_STRING_EQUAL(txt, "[42,99,true,false,100]");
	free(txt);
	json_decref(r);
	CU_ASSERT(fb_map_rule_eval(rule, &in, NULL, &r, NULL, NULL) == FB_OK);
	txt = json_dumps(r, JSON_COMPACT);
	CU_ASSERT_STRING_EQUAL(txt, "[42,99,true,false,100]");
	free(txt);
	json_decref(r);
	fb_map_rule_free(rule);
	fb_map_subject_free(s);
	json_decref(big);
}

/* ---- the API: statuses, positions, odd inputs --------------------------------------- */

static void
test_api(void)
{
	struct fb_map_rule *rule = NULL;
	struct fb_map_diag d;
	struct fb_err err;
	json_t *r = NULL, *odd;
	struct fb_map_input in = {NULL, NULL, NULL};
	char *big, *path, *dir;
	const char *src;

	src = "x = 1\nreturn x.nope";
	CU_ASSERT(
	    fb_map_rule_compile("aws_role", src, strlen(src), &rule, &d, &err) == FB_ERR_INVALID);
	CU_ASSERT_PTR_NULL(rule);
	CU_ASSERT_EQUAL(d.kind, FB_MAP_EATTRIBUTE);
	CU_ASSERT_EQUAL(d.line, 2);
	CU_ASSERT_EQUAL(d.column, 10);
	CU_ASSERT(strncmp(err.msg, "aws_role:2:10: attribute error: ", 32) == 0);
	src = "x = {}\nreturn x['k']";
	CU_ASSERT_FATAL(fb_map_rule_compile("r", src, strlen(src), &rule, &d, &err) == FB_OK);
	CU_ASSERT_STRING_EQUAL(fb_map_rule_name(rule), "r");
	CU_ASSERT(fb_map_rule_eval(rule, NULL, NULL, &r, &d, &err) == FB_ERR_DENIED);
	CU_ASSERT_PTR_NULL(r);
	CU_ASSERT_EQUAL(d.kind, FB_MAP_EKEY);
	CU_ASSERT_EQUAL(d.line, 2);
	CU_ASSERT_EQUAL(d.column, 9);
	CU_ASSERT_STRING_EQUAL(err.msg, "r:2:9: key error: 'k'");
	fb_map_rule_free(rule);
	src = "for i in range(10 ** 9):\n    pass";
	CU_ASSERT_FATAL(fb_map_rule_compile("r", src, strlen(src), &rule, NULL, NULL) == FB_OK);
	CU_ASSERT(fb_map_rule_eval(rule, NULL, NULL, &r, &d, &err) == FB_ERR_LIMIT);
	CU_ASSERT_EQUAL(d.kind, FB_MAP_EBUDGET);
	fb_map_rule_free(rule);
	/* No inputs: user is None, request's members None, upstream {}. */
	src = "return [user, request.name, upstream]";
	CU_ASSERT_FATAL(fb_map_rule_compile("r", src, strlen(src), &rule, NULL, NULL) == FB_OK);
	CU_ASSERT(fb_map_rule_eval(rule, &in, NULL, &r, NULL, NULL) == FB_OK);
	big = json_dumps(r, JSON_COMPACT);
	CU_ASSERT_STRING_EQUAL(big, "[null,null,{}]");
	free(big);
	json_decref(r);
	fb_map_rule_free(rule);
	/* A user of the wrong shape reads as empty, without crashing. */
	odd = json_loads(
	    "{\"username\": 5, \"groups\": [\"plain\", 7, {\"name\": 3}], \"attributes\": []}", 0,
	    NULL);
	in.user = odd;
	src = "return [user.username, [g.name for g in user.groups], user.attributes, "
	      "user.group_attributes(), user.email]";
	CU_ASSERT_FATAL(fb_map_rule_compile("r", src, strlen(src), &rule, NULL, NULL) == FB_OK);
	CU_ASSERT(fb_map_rule_eval(rule, &in, NULL, &r, NULL, NULL) == FB_OK);
	big = json_dumps(r, JSON_COMPACT);
	CU_ASSERT_STRING_EQUAL(big, "[5,[\"plain\",3],{},{},null]");
	free(big);
	json_decref(r);
	fb_map_rule_free(rule);
	json_decref(odd);
	/* Input nested deeper than 1000 levels: an error, not a stack overflow. */
	odd = json_object();
	for (int i = 0; i < 1500; i++)
		odd = json_pack("{s:o}", "a", odd);
	big = fb_xasprintf("{\"username\": \"x\"}");
	in.user = json_loads(big, 0, NULL);
	free(big);
	json_object_set_new((json_t *)(uintptr_t)in.user, "attributes", odd);
	src = "return user.attributes['a']";
	CU_ASSERT_FATAL(fb_map_rule_compile("r", src, strlen(src), &rule, NULL, NULL) == FB_OK);
	CU_ASSERT(fb_map_rule_eval(rule, &in, NULL, &r, &d, &err) == FB_ERR_DENIED);
	CU_ASSERT_STRING_EQUAL(err.msg, "r:1:13: value error: input nested too deeply");
	{
		struct fb_map_subject *subj = NULL;

		CU_ASSERT(fb_map_subject_new(&in, &subj, &err) == FB_ERR_INVALID);
		CU_ASSERT_PTR_NULL(subj);
		CU_ASSERT_STRING_EQUAL(err.msg, "mapping input: input nested too deeply");
	}
	fb_map_rule_free(rule);
	json_decref((json_t *)(uintptr_t)in.user);
	in.user = NULL;
	/* Too big a source. */
	big = fb_xmalloc(FB_MAP_SOURCE_MAX + 2);
	memset(big, '#', FB_MAP_SOURCE_MAX + 1);
	big[FB_MAP_SOURCE_MAX + 1] = '\0';
	CU_ASSERT(fb_map_rule_compile("r", big, strlen(big), &rule, NULL, &err) == FB_ERR_LIMIT);
	free(big);
	/* Deep nesting is an error, not a stack overflow. */
	big = fb_xmalloc(200001);
	memcpy(big, "return ", 7);
	for (int i = 7; i < 200000; i++)
		big[i] = i % 2 == 0 ? '-' : '+';
	big[200000] = '\0';
	CU_ASSERT(fb_map_rule_compile("r", big, strlen(big), &rule, &d, &err) == FB_ERR_INVALID);
	CU_ASSERT(strstr(err.msg, "nested too deeply") != NULL);
	for (int i = 7; i < 200000; i++)
		big[i] = i % 2 == 0 ? '1' : '+';
	big[199999] = '1';
	CU_ASSERT(fb_map_rule_compile("r", big, strlen(big), &rule, &d, &err) == FB_ERR_INVALID);
	CU_ASSERT(strstr(err.msg, "nested too deeply") != NULL);
	for (int i = 7; i < 200000; i++)
		big[i] = "not "[i % 4];
	CU_ASSERT(fb_map_rule_compile("r", big, strlen(big), &rule, &d, &err) == FB_ERR_INVALID);
	free(big);
	/* Loading a file: errors name the path; the rule is named after the file. */
	dir = fb_test_tmpdir();
	path = fb_test_write_file(dir, "my_rule.py", "x = 1\nreturn x +\n");
	CU_ASSERT(fb_map_rule_load(path, &rule, &d, &err) == FB_ERR_INVALID);
	big =
	    fb_xasprintf("%s:2:11: syntax error: expected an expression, found end of line", path);
	CU_ASSERT_STRING_EQUAL(err.msg, big);
	free(big);
	free(path);
	path = fb_test_write_file(dir, "my_rule.py", "return 1 / 0\n");
	CU_ASSERT_FATAL(fb_map_rule_load(path, &rule, NULL, &err) == FB_OK);
	CU_ASSERT_STRING_EQUAL(fb_map_rule_name(rule), "my_rule");
	CU_ASSERT(fb_map_rule_eval(rule, NULL, NULL, &r, NULL, &err) == FB_ERR_DENIED);
	CU_ASSERT_STRING_EQUAL(err.msg, "my_rule:1:10: zero division error: division by zero");
	fb_map_rule_free(rule);
	free(path);
	path = fb_xasprintf("%s/missing.py", dir);
	CU_ASSERT(fb_map_rule_load(path, &rule, NULL, &err) == FB_ERR_IO);
	CU_ASSERT(strstr(err.msg, "missing.py: No such file or directory") != NULL);
	free(path);
	fb_test_rmtree(dir);
	free(dir);
	CU_ASSERT_STRING_EQUAL(fb_map_errkind_name(FB_MAP_EZERODIV), "zero division error");
	fb_map_rule_free(NULL);
}

/* ---- output helpers ------------------------------------------------------------------- */

static char *
saml(const char *result_json)
{
	json_t *res = json_loads(result_json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL), *out = NULL;
	struct fb_err err;
	char *s;

	if (fb_map_saml_values("aws_role", res, &out, &err) != FB_OK)
		s = fb_xasprintf("ERR %s", err.msg);
	else if (out == NULL)
		s = fb_xstrdup("OMIT");
	else
		s = json_dumps(out, JSON_COMPACT);
	json_decref(res);
	json_decref(out);
	return s;
}

static void
check_saml(int line, const char *in, const char *want)
{
	char *got = saml(in);

	if (strcmp(got, want) != 0)
		fprintf(stderr, "\ntest_map.c:%d: %s\n  got:  %s\n  want: %s\n", line, in, got,
		    want);
	CU_ASSERT_STRING_EQUAL(got, want);
	free(got);
}

static void
test_output_saml(void)
{
	check_saml(__LINE__, "\"arn:a,arn:b\"", "[\"arn:a,arn:b\"]");
	check_saml(__LINE__, "[\"a\", \"b\"]", "[\"a\",\"b\"]");
	check_saml(__LINE__, "null", "OMIT");
	check_saml(__LINE__, "[]", "OMIT");
	check_saml(__LINE__, "[null, \"a\", null]", "[\"a\"]");
	check_saml(__LINE__, "3600", "[\"3600\"]");
	check_saml(__LINE__, "2.5", "[\"2.5\"]");
	check_saml(__LINE__, "[true, false, 1]", "[\"true\",\"false\",\"1\"]");
	check_saml(__LINE__, "{\"a\": 1}",
	    "ERR mapping 'aws_role': type error: the result is a dict; a SAML attribute needs a "
	    "string or a list of strings");
	check_saml(__LINE__, "[\"a\", [\"b\"]]",
	    "ERR mapping 'aws_role': type error: item 1 of the result is a list; SAML attribute "
	    "values must be strings or numbers");
	check_saml(__LINE__, "[{}]",
	    "ERR mapping 'aws_role': type error: item 0 of the result is a dict; SAML attribute "
	    "values must be strings or numbers");
	check_saml(__LINE__, "\"a\\u0000b\"",
	    "ERR mapping 'aws_role': value error: the result contains a NUL character");
}

static void
test_output_oidc(void)
{
	json_t *v = json_loads("{\"a\": [1, 2]}", 0, NULL), *c;

	CU_ASSERT_PTR_NULL(fb_map_oidc_claim(NULL));
	c = json_null();
	CU_ASSERT_PTR_NULL(fb_map_oidc_claim(c));
	json_decref(c);
	c = fb_map_oidc_claim(v);
	CU_ASSERT(json_equal(c, v));
	CU_ASSERT(c != v);
	json_decref(c);
	json_decref(v);
	v = json_string("x");
	c = fb_map_oidc_claim(v);
	CU_ASSERT_STRING_EQUAL(json_string_value(c), "x");
	json_decref(c);
	json_decref(v);
}

static char *
scim(const char *payload_json, const char *patch_json)
{
	json_t *payload = json_loads(payload_json, JSON_DECODE_ANY, NULL);
	json_t *patch = json_loads(patch_json, JSON_DECODE_ANY, NULL);
	struct fb_err err;
	char *s;

	if (fb_map_scim_patch("scim_fix", payload, patch, &err) != FB_OK)
		s = fb_xasprintf("ERR %s", err.msg);
	else
		s = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	json_decref(patch);
	return s;
}

static void
check_scim(int line, const char *payload, const char *patch, const char *want)
{
	char *got = scim(payload, patch);

	if (strcmp(got, want) != 0)
		fprintf(stderr, "\ntest_map.c:%d: %s + %s\n  got:  %s\n  want: %s\n", line, payload,
		    patch, got, want);
	CU_ASSERT_STRING_EQUAL(got, want);
	free(got);
}

static void
test_output_scim(void)
{
	const char *user =
	    "{\"userName\": \"alice\", \"photos\": [{\"value\": \"x\"}],"
	    " \"name\": {\"givenName\": \"A\", \"familyName\": \"E\"}, \"active\": true}";

	/* The issue's example: None deletes the key. */
	check_scim(__LINE__, user, "{\"photos\": null}",
	    "{\"userName\":\"alice\",\"name\":{\"givenName\":\"A\",\"familyName\":\"E\"},"
	    "\"active\":true}");
	/* Names match case-insensitively and keep the payload's spelling. */
	check_scim(__LINE__, user, "{\"PHOTOS\": null, \"USERNAME\": \"bob\"}",
	    "{\"userName\":\"bob\",\"name\":{\"givenName\":\"A\",\"familyName\":\"E\"},\"active\":"
	    "true}");
	/* Dicts merge recursively; other values replace; new keys are added. */
	check_scim(__LINE__, user,
	    "{\"name\": {\"familyName\": \"X\", \"formatted\": \"A X\"}, \"title\": \"Eng\"}",
	    "{\"userName\":\"alice\",\"photos\":[{\"value\":\"x\"}],\"name\":{\"givenName\":\"A\","
	    "\"familyName\":\"X\",\"formatted\":\"A X\"},\"active\":true,\"title\":\"Eng\"}");
	check_scim(__LINE__, user, "{\"name\": \"flat\"}",
	    "{\"userName\":\"alice\",\"photos\":[{\"value\":\"x\"}],\"name\":\"flat\",\"active\":"
	    "true}");
	check_scim(__LINE__, user, "{\"name\": {\"givenName\": null}}",
	    "{\"userName\":\"alice\",\"photos\":[{\"value\":\"x\"}],\"name\":{\"familyName\":\"E\"}"
	    ",\"active\":true}");
	check_scim(__LINE__, "{\"a\": 1}", "{\"missing\": null}", "{\"a\":1}");
	check_scim(__LINE__, "{\"a\": 1}", "null", "{\"a\":1}");
	check_scim(__LINE__, "{\"a\": 1}", "[1]",
	    "ERR mapping 'scim_fix': type error: a SCIM payload patch must be a dict or None, not "
	    "a list");
	check_scim(__LINE__, "{\"a\": 1}", "\"x\"",
	    "ERR mapping 'scim_fix': type error: a SCIM payload patch must be a dict or None, not "
	    "a str");
	check_scim(__LINE__, "[]", "{}",
	    "ERR mapping 'scim_fix': the SCIM payload is not an object");
}

/* ---- rule sets ------------------------------------------------------------------------- */

static void
test_set(void)
{
	char *dir = fb_test_tmpdir(), *p, *want;
	struct fb_map_set *set = NULL;
	json_t *errors = NULL;
	struct fb_err err;

	free(fb_test_write_file(dir, "b_rule.py", "return user.username\n"));
	free(fb_test_write_file(dir, "a-rule.py", "return 1\n"));
	free(fb_test_write_file(dir, "README", "not a rule"));
	free(fb_test_write_file(dir, ".hidden.py", "syntax error here"));
	CU_ASSERT_FATAL(fb_map_set_load(dir, &set, &errors, &err) == FB_OK);
	CU_ASSERT_EQUAL(json_array_size(errors), 0);
	CU_ASSERT_EQUAL(fb_map_set_count(set), 2);
	CU_ASSERT_STRING_EQUAL(fb_map_rule_name(fb_map_set_at(set, 0)), "a-rule");
	CU_ASSERT_STRING_EQUAL(fb_map_rule_name(fb_map_set_at(set, 1)), "b_rule");
	CU_ASSERT_PTR_NULL(fb_map_set_at(set, 2));
	CU_ASSERT_PTR_NOT_NULL(fb_map_set_get(set, "b_rule"));
	CU_ASSERT_PTR_NULL(fb_map_set_get(set, "c"));
	fb_map_set_free(set);
	json_decref(errors);
	/* Every bad file is reported, each with its position. */
	p = fb_test_write_file(dir, "bad.py", "x = (1,\n");
	free(fb_test_write_file(dir, "worse.py", "return nope\n"));
	free(fb_test_write_file(dir, "bad name.py", "return 1\n"));
	CU_ASSERT(fb_map_set_load(dir, &set, &errors, &err) == FB_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(set);
	CU_ASSERT_EQUAL_FATAL(json_array_size(errors), 3);
	want = fb_xasprintf(
	    "%s/bad name.py: invalid mapping name 'bad name' (use letters, digits, '_' and '-')",
	    dir);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(errors, 0)), want);
	CU_ASSERT_STRING_EQUAL(err.msg, want);
	free(want);
	want = fb_xasprintf("%s:1:5: syntax error: '(' was never closed", p);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(errors, 1)), want);
	free(want);
	want = fb_xasprintf("%s/worse.py:1:8: name error: name 'nope' is not defined", dir);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(errors, 2)), want);
	free(want);
	json_decref(errors);
	/* Usable: the good rules load, the same problems are listed, nothing fails. */
	CU_ASSERT_FATAL(fb_map_set_load_usable(dir, &set, &errors, &err) == FB_OK);
	CU_ASSERT_EQUAL(json_array_size(errors), 3);
	CU_ASSERT_EQUAL(fb_map_set_count(set), 2);
	CU_ASSERT_PTR_NOT_NULL(fb_map_set_get(set, "a-rule"));
	CU_ASSERT_PTR_NULL(fb_map_set_get(set, "bad"));
	CU_ASSERT_PTR_NULL(fb_map_set_get(set, "worse"));
	fb_map_set_free(set);
	json_decref(errors);
	free(p);
	fb_test_rmtree(dir);
	/* A missing directory. */
	CU_ASSERT(fb_map_set_load_usable(dir, &set, NULL, NULL) == FB_ERR_NOTFOUND);
	CU_ASSERT_PTR_NULL(set);
	CU_ASSERT(fb_map_set_load(dir, &set, &errors, &err) == FB_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(json_array_size(errors), 1);
	json_decref(errors);
	CU_ASSERT(fb_map_set_load(dir, &set, NULL, NULL) == FB_ERR_NOTFOUND);
	free(dir);
	fb_map_set_free(NULL);
	CU_ASSERT_EQUAL(fb_map_set_count(NULL), 0);
}

/* The shipped rules compile and give what their comments promise. */
static void
test_shipped_rules(void)
{
	char *dir = fb_xasprintf("%s/mappings", FB_SRCDIR);
	struct fb_map_set *set = NULL;
	json_t *errors = NULL, *r;
	struct fb_err err;
	struct fb_map_input in = {user_json, request_json, upstream_json};
	char *s;

	if (fb_map_set_load(dir, &set, &errors, &err) != FB_OK)
		fprintf(stderr, "\n%s\n", err.msg);
	CU_ASSERT_FATAL(set != NULL);
	CU_ASSERT(fb_map_set_count(set) >= 4);
	CU_ASSERT(
	    fb_map_rule_eval(fb_map_set_get(set, "aws_role"), &in, NULL, &r, NULL, &err) == FB_OK);
	s = json_dumps(r, JSON_COMPACT);
	CU_ASSERT_STRING_EQUAL(s, "[\"arn:aws:iam::123412341234:role/"
	                          "alpha_role,arn:aws:iam::123412341234:saml-provider/fedbroker\","
	                          "\"arn:aws:iam::123412341234:role/"
	                          "zeta_role,arn:aws:iam::123412341234:saml-provider/fedbroker\"]");
	free(s);
	json_decref(r);
	CU_ASSERT(fb_map_rule_eval(fb_map_set_get(set, "aws_role_session_name"), &in, NULL, &r,
	              NULL, &err) == FB_OK);
	CU_ASSERT_STRING_EQUAL(json_string_value(r), "alice");
	json_decref(r);
	CU_ASSERT(fb_map_rule_eval(fb_map_set_get(set, "aws_session_duration"), &in, NULL, &r, NULL,
	              &err) == FB_OK);
	CU_ASSERT_STRING_EQUAL(json_string_value(r), "28800");
	json_decref(r);
	CU_ASSERT(fb_map_rule_eval(fb_map_set_get(set, "scim_strip_photos"), &in, NULL, &r, NULL,
	              &err) == FB_OK);
	s = json_dumps(r, JSON_COMPACT);
	CU_ASSERT_STRING_EQUAL(s, "{\"photos\":null}");
	free(s);
	json_decref(r);
	json_decref(errors);
	fb_map_set_free(set);
	free(dir);
}

int
fb_test_map_register(void)
{
	CU_pSuite s = CU_add_suite("map", suite_init, suite_clean);

	if (s == NULL)
		return -1;
	if (CU_add_test(s, "lexer: lines, indentation, brackets", test_lexer_lines) == NULL ||
	    CU_add_test(s, "lexer: numbers, strings, f-strings", test_lexer_literals) == NULL ||
	    CU_add_test(s, "lexer: errors with positions", test_lexer_errors) == NULL ||
	    CU_add_test(s, "the issue's examples verbatim", test_issue_examples) == NULL ||
	    CU_add_test(s, "user, request, upstream", test_objects) == NULL ||
	    CU_add_test(s, "statements", test_statements) == NULL ||
	    CU_add_test(s, "expressions", test_expressions) == NULL ||
	    CU_add_test(s, "f-strings and format specs", test_fstrings) == NULL ||
	    CU_add_test(s, "builtins", test_builtins) == NULL ||
	    CU_add_test(s, "str, dict and list methods", test_methods) == NULL ||
	    CU_add_test(s, "syntax errors", test_syntax_errors) == NULL ||
	    CU_add_test(s, "name errors", test_name_errors) == NULL ||
	    CU_add_test(s, "attribute errors", test_attribute_errors) == NULL ||
	    CU_add_test(s, "attribute names", test_attr_names) == NULL ||
	    CU_add_test(s, "type errors", test_type_errors) == NULL ||
	    CU_add_test(s, "value errors", test_value_errors) == NULL ||
	    CU_add_test(s, "index, key, zero division errors", test_lookup_errors) == NULL ||
	    CU_add_test(s, "step and memory budgets", test_budgets) == NULL ||
	    CU_add_test(s, "regex: catastrophic patterns", test_regex_catastrophic) == NULL ||
	    CU_add_test(s, "determinism and independence", test_determinism) == NULL ||
	    CU_add_test(s, "subjects", test_subject) == NULL ||
	    CU_add_test(s, "API: statuses, positions, odd input", test_api) == NULL ||
	    CU_add_test(s, "output: SAML values", test_output_saml) == NULL ||
	    CU_add_test(s, "output: OIDC claim", test_output_oidc) == NULL ||
	    CU_add_test(s, "output: SCIM patch", test_output_scim) == NULL ||
	    CU_add_test(s, "rule sets", test_set) == NULL ||
	    CU_add_test(s, "shipped mappings", test_shipped_rules) == NULL)
		return -1;
	return 0;
}
