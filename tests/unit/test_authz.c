/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/test_authz.c: forward auth: the apps: configuration and the decision. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "map/map.h"
#include "authz/authz.h"
#include "unit.h"

static const char apps_yaml[] = "server:\n"
                                "  public_url: https://sso.example.com\n"
                                "groups:\n"
                                "  - {name: staff, members: [alice, bob]}\n"
                                "  - {name: admins, members: [alice]}\n"
                                "  - {name: interns, members: [carol]}\n"
                                "apps:\n"
                                "  - name: wiki\n"
                                "    display_name: The wiki\n"
                                "    hosts: [Wiki.Example.com., example.com/wiki]\n"
                                "    groups: [staff]\n"
                                "    rules:\n"
                                "      - {path: /healthz, action: anonymous}\n"
                                "      - {path: /hooks, methods: [post], action: anonymous}\n"
                                "      - {path: /admin, groups: [admins]}\n"
                                "      - {path: /admin, action: deny}\n"
                                "      - {path: /secret, action: deny, groups: [interns]}\n"
                                "      - {path: /secret, groups: [interns]}\n"
                                "    headers:\n"
                                "      email: ''\n"
                                "      mapped: []\n"
                                "    session_lifetime: 1h\n"
                                "  - name: site\n"
                                "    hosts: [example.com]\n";

static struct fb_conf *
load_ok(const char *text)
{
	struct fb_conf_report *rep = NULL;
	struct fb_conf *c = NULL;
	struct fb_err err;
	enum fb_status r = fb_conf_load_string(text, strlen(text), "t.yaml", NULL, &c, &rep, &err);

	for (size_t i = 0; i < fb_conf_report_count(rep); i++)
		fprintf(stderr, "  %s\n", fb_conf_report_line(rep, i));
	fb_conf_report_free(rep);
	CU_ASSERT_EQUAL(r, FB_OK);
	return c;
}

/* 1 when loading text fails with a report line equal to line. */
static int
load_fails_with(const char *text, const char *line)
{
	struct fb_conf_report *rep = NULL;
	struct fb_conf *c = NULL;
	struct fb_err err;
	int found = 0;

	if (fb_conf_load_string(text, strlen(text), "t.yaml", NULL, &c, &rep, &err) == FB_OK) {
		fb_conf_free(c);
		fprintf(stderr, "\nloaded, but expected: %s\n", line);
		fb_conf_report_free(rep);
		return 0;
	}
	for (size_t i = 0; i < fb_conf_report_count(rep); i++)
		found |= strcmp(fb_conf_report_line(rep, i), line) == 0;
	if (!found) {
		fprintf(stderr, "\nmissing report line: %s\nreport:\n", line);
		for (size_t i = 0; i < fb_conf_report_count(rep); i++)
			fprintf(stderr, "  %s\n", fb_conf_report_line(rep, i));
	}
	fb_conf_report_free(rep);
	return found;
}

static void
test_conf_apps(void)
{
	struct fb_conf *c = load_ok(apps_yaml);
	const struct fb_conf_app *a;

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(c->napps, 2);
	a = fb_conf_app_find(c, "wiki");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_STRING_EQUAL(a->display_name, "The wiki");
	CU_ASSERT_STRING_EQUAL(a->hosts[0], "wiki.example.com");
	CU_ASSERT_STRING_EQUAL(a->hosts[1], "example.com/wiki");
	CU_ASSERT_EQUAL(a->nrules, 6);
	CU_ASSERT_EQUAL(a->rules[0].action, FB_CONF_APP_ANONYMOUS);
	CU_ASSERT_STRING_EQUAL(a->rules[1].methods[0], "POST");
	CU_ASSERT_EQUAL(a->rules[2].action, FB_CONF_APP_ALLOW);
	CU_ASSERT_STRING_EQUAL(a->header_username, "X-Forwarded-User");
	CU_ASSERT_STRING_EQUAL(a->header_email, "");
	CU_ASSERT_STRING_EQUAL(a->header_groups, "X-Forwarded-Groups");
	CU_ASSERT_EQUAL(a->session_lifetime, 3600);
	a = fb_conf_app_find(c, "site");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_STRING_EQUAL(a->display_name, "site");
	CU_ASSERT_EQUAL(a->session_lifetime, 0);
	CU_ASSERT_PTR_NULL(fb_conf_app_find(c, "nope"));
	fb_conf_free(c);
}

static void
test_conf_app_errors(void)
{
	static const char head[] = "server: {public_url: https://sso.example.com}\n"
	                           "groups: [{name: staff}]\n"
	                           "apps:\n";
	char *t;

#define FAILS(body, line)                                                                          \
	do {                                                                                       \
		t = fb_xasprintf("%s%s", head, body);                                              \
		CU_ASSERT(load_fails_with(t, line));                                               \
		free(t);                                                                           \
	} while (0)
	FAILS("  - {name: a}\n", "t.yaml:4:5: apps[0].hosts: missing (required in every app)");
	FAILS("  - {name: a, hosts: [https://a.example.com]}\n",
	    "t.yaml:4:23: apps[0].hosts[0]: 'https://a.example.com' is a URL: give the host name "
	    "as the browser sends it, optionally with a path prefix (e.g. wiki.example.com or "
	    "example.com/wiki)");
	FAILS("  - {name: a, hosts: [a.example.com:8443]}\n",
	    "t.yaml:4:23: apps[0].hosts[0]: 'a.example.com:8443': give the host without a port "
	    "(a request's port is ignored when its host is compared)");
	FAILS("  - {name: a, hosts: [a.example.com/x/../y]}\n",
	    "t.yaml:4:23: apps[0].hosts[0]: 'a.example.com/x/../y': the path prefix must start "
	    "with '/' and hold no '//', '.' or '..' segments, '%', '?', '#', ';' or '\\'");
	FAILS("  - {name: a, hosts: [a.example.com]}\n  - {name: b, hosts: [A.example.com]}\n",
	    "t.yaml:5:23: apps[1].hosts[0]: 'a.example.com' is claimed twice (also "
	    "apps[0].hosts[0], app 'a'): each host and path prefix belongs to one app");
	FAILS("  - {name: a, hosts: [a.example.com]}\n  - {name: a, hosts: [b.example.com]}\n",
	    "t.yaml:5:12: apps[1].name: duplicate app 'a' (also apps[0])");
	FAILS("  - {name: a, hosts: [a.example.com], groups: [staf]}\n",
	    "t.yaml:4:48: apps[0].groups[0]: unknown group 'staf' (declare it under groups:, or "
	    "remove it)");
	FAILS("  - name: a\n    hosts: [a.example.com]\n    rules:\n      - {path: admin}\n",
	    "t.yaml:7:16: apps[0].rules[0].path: 'admin' is not a path prefix: write it as the "
	    "browser's decoded path, starting with '/', without '//', '.' or '..' segments, '%', "
	    "'?', '#', ';' or '\\' (e.g. /admin or /api/v1)");
	FAILS("  - name: a\n    hosts: [a.example.com]\n    rules:\n"
	      "      - {path: /x, methods: [FETCH]}\n",
	    "t.yaml:7:30: apps[0].rules[0].methods[0]: 'FETCH' is not an HTTP method (known: GET, "
	    "HEAD, POST, PUT, PATCH, DELETE, OPTIONS, CONNECT, TRACE)");
	FAILS("  - name: a\n    hosts: [a.example.com]\n    rules:\n"
	      "      - {path: /x, action: alow}\n",
	    "t.yaml:7:28: apps[0].rules[0].action: unknown value 'alow' (expected one of: allow, "
	    "deny, anonymous; did you mean 'allow'?)");
	FAILS("  - name: a\n    hosts: [a.example.com]\n    rules:\n"
	      "      - {path: /x, action: anonymous, groups: [staff]}\n",
	    "t.yaml:7:47: apps[0].rules[0].groups: an anonymous rule lets everyone in without "
	    "signing in: it cannot name groups (use action: allow for members of groups)");
	FAILS("  - name: a\n    hosts: [a.example.com]\n    headers: {username: Cookie}\n",
	    "t.yaml:6:25: apps[0].headers.username: 'Cookie' is a header HTTP or the proxy "
	    "itself uses: choose another name");
	FAILS("  - name: a\n    hosts: [a.example.com]\n    headers: {usernme: X-User}\n",
	    "t.yaml:6:15: apps[0].headers.usernme: unknown key 'usernme' (did you mean "
	    "'username'?)");
	FAILS("  - name: a\n    hosts: [a.example.com]\n    upstream: google\n",
	    "t.yaml:6:15: apps[0].upstream: unknown upstream 'google' (declare it under "
	    "upstreams:, or remove it to show the sign-in page)");
#undef FAILS
}

static void
test_path_normalise(void)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
	    {"/", "/"},
	    {"/a/b", "/a/b"},
	    {"/a/b/", "/a/b/"},
	    {"/a/b?x=/../admin", "/a/b"},
	    {"/a#/../admin", "/a"},
	    {"//admin", "/admin"},
	    {"/x/../admin", "/admin"},
	    {"/admin/../", "/"},
	    {"/admin/..", "/"},
	    {"/%2e%2e/admin", "/admin"},
	    {"/x/%2E%2e/admin", "/admin"},
	    {"/x/.%2e/admin/", "/admin/"},
	    {"/./admin", "/admin"},
	    {"/../../admin", "/admin"},
	    {"/public/..;/admin", "/admin"},
	    {"/admin;jsessionid=1/x", "/admin/x"},
	    {"/%41dmin", "/Admin"},
	    {"/a%20b", "/a b"},
	    {"/caf%C3%A9", "/caf\xc3\xa9"},
	};
	static const char *const bad[] = {"", "admin", "http://x/admin", "/a%2fb", "/a%2Fb",
	    "/a%5cb", "/a\\b", "/a%00b", "/a%0d%0aX: y", "/a%", "/a%4", "/a%zz",
	    "/%252e%252e/admin", "/a\tb"};
	char *out, *big;
	struct fb_err err;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(fb_authz_path_normalise(ok[i].in, &out, &err), FB_OK);
		if (strcmp(out, ok[i].out) != 0)
			fprintf(stderr, "\n%s -> %s, expected %s\n", ok[i].in, out, ok[i].out);
		CU_ASSERT_STRING_EQUAL(out, ok[i].out);
		free(out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = (char *)"unchanged";
		CU_ASSERT_EQUAL(fb_authz_path_normalise(bad[i], &out, &err), FB_ERR_INVALID);
		CU_ASSERT_PTR_NULL(out);
	}
	big = fb_xmalloc(FB_AUTHZ_PATH_MAX + 2);
	memset(big, 'a', FB_AUTHZ_PATH_MAX + 1);
	big[0] = '/';
	big[FB_AUTHZ_PATH_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(fb_authz_path_normalise(big, &out, &err), FB_ERR_INVALID);
	big[FB_AUTHZ_PATH_MAX] = '\0';
	CU_ASSERT_EQUAL(fb_authz_path_normalise(big, &out, &err), FB_OK);
	free(out);
	free(big);
}

static void
test_host_normalise(void)
{
	char out[FB_AUTHZ_HOST_MAX + 1];
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_authz_host_normalise("Wiki.Example.COM", out, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(out, "wiki.example.com");
	CU_ASSERT_EQUAL(fb_authz_host_normalise("wiki.example.com.:443", out, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(out, "wiki.example.com");
	CU_ASSERT_EQUAL(fb_authz_host_normalise("[::1]:8080", out, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(out, "[::1]");
	CU_ASSERT_EQUAL(fb_authz_host_normalise("wiki.example.com..", out, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_authz_host_normalise("", out, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_authz_host_normalise(NULL, out, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_authz_host_normalise(":443", out, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_authz_host_normalise("a.com:x", out, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_authz_host_normalise("a.com@b.com", out, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_authz_host_normalise("a.com/x", out, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_authz_host_normalise("a com", out, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_authz_host_normalise(".a.com", out, &err), FB_ERR_INVALID);
}

/* Decides method host uri for user (NULL: anonymous) with groups; returns the verdict. */
static enum fb_authz_verdict
ask(const struct fb_authz *az, const char *method, const char *host, const char *uri,
    const char *user, const char *app, int rule)
{
	static const char *const alice[] = {"staff", "admins"}, *const bob[] = {"staff"},
	                         *const carol[] = {"interns"};
	struct fb_authz_request rq = {method, host, uri, user, NULL, 0};
	struct fb_authz_decision d;
	enum fb_authz_verdict v;

	if (user != NULL && strcmp(user, "alice") == 0)
		rq.groups = alice, rq.ngroups = 2;
	else if (user != NULL && strcmp(user, "bob") == 0)
		rq.groups = bob, rq.ngroups = 1;
	else if (user != NULL && strcmp(user, "carol") == 0)
		rq.groups = carol, rq.ngroups = 1;
	fb_authz_decide(az, &rq, &d);
	v = d.verdict;
	if (app != NULL && (d.app == NULL || strcmp(d.app->name, app) != 0)) {
		fprintf(stderr, "\n%s %s%s: app %s, expected %s (%s)\n", method, host, uri,
		    d.app != NULL ? d.app->name : "none", app, d.reason);
		v = (enum fb_authz_verdict) - 1;
	}
	if (d.rule != rule && v != FB_AUTHZ_NO_APP && v != FB_AUTHZ_BAD_REQUEST) {
		fprintf(stderr, "\n%s %s%s: rule %d, expected %d (%s)\n", method, host, uri, d.rule,
		    rule, d.reason);
		v = (enum fb_authz_verdict) - 1;
	}
	fb_authz_decision_cleanup(&d);
	return v;
}

static void
test_decide(void)
{
	struct fb_conf *c = load_ok(apps_yaml);
	struct fb_authz *az;

	if (c == NULL)
		return;
	az = fb_authz_new(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(az);
	/* Hosts: case, port, trailing dot; unknown hosts; path prefixes. */
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/", "bob", "wiki", -1), FB_AUTHZ_ALLOW);
	CU_ASSERT_EQUAL(ask(az, "GET", "WIKI.example.com.:443", "/", "bob", "wiki", -1),
	    FB_AUTHZ_ALLOW);
	CU_ASSERT_EQUAL(ask(az, "GET", "other.example.com", "/", "bob", NULL, -1), FB_AUTHZ_NO_APP);
	CU_ASSERT_EQUAL(ask(az, "GET", "example.com", "/wiki/page", "carol", "wiki", -1),
	    FB_AUTHZ_FORBIDDEN);
	CU_ASSERT_EQUAL(ask(az, "GET", "example.com", "/wikipedia", "carol", "site", -1),
	    FB_AUTHZ_ALLOW);
	CU_ASSERT_EQUAL(ask(az, "GET", "example.com", "/", "carol", "site", -1), FB_AUTHZ_ALLOW);
	CU_ASSERT_EQUAL(ask(az, "GET", "example.com", "/x/../wiki/", "carol", "wiki", -1),
	    FB_AUTHZ_FORBIDDEN);
	CU_ASSERT_EQUAL(ask(az, "GET", "example.com", "/WIKI/x", "carol", "wiki", -1),
	    FB_AUTHZ_BAD_REQUEST);
	CU_ASSERT_EQUAL(ask(az, "GET", "evil.com\r\nx", "/", "bob", NULL, -1),
	    FB_AUTHZ_BAD_REQUEST);
	/* The app's groups. */
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/page", NULL, "wiki", -1),
	    FB_AUTHZ_SIGNIN);
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/page", "carol", "wiki", -1),
	    FB_AUTHZ_FORBIDDEN);
	/* Anonymous paths, by method. */
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/healthz", NULL, "wiki", 0),
	    FB_AUTHZ_ANONYMOUS);
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/healthz", "carol", "wiki", 0),
	    FB_AUTHZ_ALLOW);
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/healthzz", NULL, "wiki", -1),
	    FB_AUTHZ_SIGNIN);
	CU_ASSERT_EQUAL(ask(az, "POST", "wiki.example.com", "/hooks/gitlab", NULL, "wiki", 1),
	    FB_AUTHZ_ANONYMOUS);
	CU_ASSERT_EQUAL(ask(az, "post", "wiki.example.com", "/hooks/gitlab", NULL, "wiki", 1),
	    FB_AUTHZ_ANONYMOUS);
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/hooks/gitlab", NULL, "wiki", -1),
	    FB_AUTHZ_SIGNIN);
	/* SECURITY: an anonymous path is no way around the others. */
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/healthz/../admin", NULL, "wiki", 2),
	    FB_AUTHZ_SIGNIN);
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/healthz/%2e%2e/admin", "bob", "wiki",
	                    3),
	    FB_AUTHZ_FORBIDDEN);
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/healthz/..;/admin", "bob", "wiki", 3),
	    FB_AUTHZ_FORBIDDEN);
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/healthz%2f..%2fadmin", NULL, NULL, -1),
	    FB_AUTHZ_BAD_REQUEST);
	/* Group rules: admins pass, the deny rule after stops the other staff. */
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/admin", "alice", "wiki", 2),
	    FB_AUTHZ_ALLOW);
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/admin/users", "bob", "wiki", 3),
	    FB_AUTHZ_FORBIDDEN);
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "//admin", "bob", "wiki", 3),
	    FB_AUTHZ_FORBIDDEN);
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/x/../admin", "bob", "wiki", 3),
	    FB_AUTHZ_FORBIDDEN);
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/%61dmin", "bob", "wiki", 3),
	    FB_AUTHZ_FORBIDDEN);
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/Admin", "bob", "wiki", 2),
	    FB_AUTHZ_BAD_REQUEST);
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/administrator", "bob", "wiki", -1),
	    FB_AUTHZ_ALLOW);
	/* A deny rule for a group, then an allow for it: the first one decides. */
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/secret", "carol", "wiki", 4),
	    FB_AUTHZ_FORBIDDEN);
	CU_ASSERT_EQUAL(ask(az, "GET", "wiki.example.com", "/secret", "bob", "wiki", -1),
	    FB_AUTHZ_ALLOW);
	fb_authz_free(az);
	fb_conf_free(c);
	/* No apps: no index, every host unknown. */
	CU_ASSERT_PTR_NULL(fb_authz_new(NULL));
	CU_ASSERT_EQUAL(ask(NULL, "GET", "wiki.example.com", "/", "bob", NULL, -1),
	    FB_AUTHZ_NO_APP);
}

static void
test_headers(void)
{
	struct fb_conf *c = load_ok(apps_yaml);
	static const char *const groups[] = {"staff", "admins"};
	json_t *h, *mapped = json_pack("{s:s}", "X-Role", "admin\r\nSet-Cookie: x=1");

	if (c == NULL)
		return;
	h = fb_authz_headers_build(fb_conf_app_find(c, "wiki"), "alice", "alice@example.com",
	    "Alice\nA.", groups, 2, mapped);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(h, "X-Forwarded-User")), "alice");
	/* headers.email: '' sends none. */
	CU_ASSERT_PTR_NULL(json_object_get(h, "X-Forwarded-Email"));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(h, "X-Forwarded-Groups")),
	    "staff,admins");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(h, "X-Forwarded-Name")),
	    "AliceA.");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(h, "X-Role")),
	    "adminSet-Cookie: x=1");
	CU_ASSERT_EQUAL(json_object_size(h), 4);
	json_decref(h);
	/* Anonymous: every header, empty (a client's own X-Forwarded-User never passes). */
	h = fb_authz_headers_build(fb_conf_app_find(c, "site"), NULL, NULL, NULL, NULL, 0, NULL);
	CU_ASSERT_EQUAL(json_object_size(h), 4);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(h, "X-Forwarded-User")), "");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(h, "X-Forwarded-Groups")), "");
	json_decref(h);
	json_decref(mapped);
	fb_conf_free(c);
}

static void
test_mapped(void)
{
	char *dir = fb_test_tmpdir(), *text;
	struct fb_map_set *set = NULL;
	struct fb_conf *c;
	struct fb_err err;
	json_t *user, *out = NULL, *h;

	free(fb_test_write_file(dir, "role.py",
	    "return 'admin' if 'admins' in [g.name for g in user.groups] else 'reader'\n"));
	free(fb_test_write_file(dir, "teams.py", "return [request.name, user.username, 7]\n"));
	free(fb_test_write_file(dir, "none.py", "return None\n"));
	free(fb_test_write_file(dir, "bad.py", "return {'a': 1}\n"));
	text = fb_xasprintf("mappings: {dir: %s}\n"
	                    "groups: [{name: admins, members: [alice]}]\n"
	                    "apps:\n"
	                    "  - name: a\n"
	                    "    hosts: [a.test]\n"
	                    "    headers:\n"
	                    "      mapped:\n"
	                    "        - {header: X-Role, mapping: role}\n"
	                    "        - {header: X-Teams, mapping: teams}\n"
	                    "        - {header: X-None, mapping: none}\n"
	                    "  - name: b\n"
	                    "    hosts: [b.test]\n"
	                    "    headers: {mapped: [{header: X-Bad, mapping: bad}]}\n",
	    dir);
	c = load_ok(text);
	free(text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(fb_map_set_load(dir, &set, NULL, &err), FB_OK);
	user = json_pack("{s:s, s:[{s:s, s:{}}]}", "username", "alice", "groups", "name", "admins",
	    "attributes");
	CU_ASSERT_EQUAL_FATAL(fb_authz_mapped_eval(&c->apps[0], set, user, &out, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(out, "X-Role")), "admin");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(out, "X-Teams")), "a,alice,7");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(out, "X-None")), "");
	h = fb_authz_headers_build(&c->apps[0], "alice", NULL, NULL, NULL, 0, out);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(h, "X-Role")), "admin");
	json_decref(h);
	/* Anonymous: the mapped headers too, empty. */
	h = fb_authz_headers_build(&c->apps[0], NULL, NULL, NULL, NULL, 0, NULL);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(h, "X-Role")), "");
	json_decref(h);
	json_decref(out);
	out = NULL;
	/* A dict is no header value: refused, nothing out. */
	CU_ASSERT_EQUAL(fb_authz_mapped_eval(&c->apps[1], set, user, &out, &err), FB_ERR_DENIED);
	CU_ASSERT_PTR_NULL(out);
	/* A rule missing from the set. */
	fb_map_set_free(set);
	set = NULL;
	CU_ASSERT_EQUAL(fb_authz_mapped_eval(&c->apps[0], NULL, user, &out, &err), FB_ERR_DENIED);
	CU_ASSERT(strstr(err.msg, "no mapping 'role'") != NULL);
	json_decref(user);
	fb_conf_free(c);
	fb_test_rmtree(dir);
	free(dir);
}

/* The lookup of one host among 3,000 apps. */
static void
test_many_apps(void)
{
	struct fb_buf b;
	struct fb_conf *c;
	struct fb_authz *az;

	fb_buf_init(&b, 1 << 22);
	fb_buf_addf(&b, NULL, "server: {public_url: https://sso.example.com}\napps:\n");
	for (int i = 2999; i >= 0; i--)
		fb_buf_addf(&b, NULL,
		    "  - {name: app%d, hosts: [h%d.example.com, x.example.com/p%d]}\n", i, i, i);
	c = load_ok(b.data);
	fb_buf_cleanup(&b);
	if (c == NULL)
		return;
	az = fb_authz_new(c);
	for (int i = 0; i < 3000; i += 137) {
		char host[64], uri[64], app[16];

		snprintf(host, sizeof(host), "h%d.example.com", i);
		snprintf(app, sizeof(app), "app%d", i);
		CU_ASSERT_EQUAL(ask(az, "GET", host, "/", "bob", app, -1), FB_AUTHZ_ALLOW);
		snprintf(uri, sizeof(uri), "/p%d/x", i);
		CU_ASSERT_EQUAL(ask(az, "GET", "x.example.com", uri, "bob", app, -1),
		    FB_AUTHZ_ALLOW);
	}
	CU_ASSERT_EQUAL(ask(az, "GET", "x.example.com", "/q", "bob", NULL, -1), FB_AUTHZ_NO_APP);
	CU_ASSERT_EQUAL(ask(az, "GET", "h3000.example.com", "/", "bob", NULL, -1), FB_AUTHZ_NO_APP);
	fb_authz_free(az);
	fb_conf_free(c);
}

int
fb_test_authz_register(void)
{
	CU_pSuite s = CU_add_suite("authz", NULL, NULL);

	if (s == NULL)
		return -1;
	if (CU_add_test(s, "apps configuration", test_conf_apps) == NULL ||
	    CU_add_test(s, "apps configuration errors", test_conf_app_errors) == NULL ||
	    CU_add_test(s, "path normalisation", test_path_normalise) == NULL ||
	    CU_add_test(s, "host normalisation", test_host_normalise) == NULL ||
	    CU_add_test(s, "decisions", test_decide) == NULL ||
	    CU_add_test(s, "identity headers", test_headers) == NULL ||
	    CU_add_test(s, "mapped headers", test_mapped) == NULL ||
	    CU_add_test(s, "3,000 apps", test_many_apps) == NULL)
		return -1;
	return 0;
}
