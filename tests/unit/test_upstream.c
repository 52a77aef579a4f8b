/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/test_upstream.c: sign-in through an upstream: mapping, linking, provisioning, groups.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "ident/ident.h"
#include "map/map.h"
#include "upstream/upstream.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "http/web.h"
#include "http/pages.h"
#include "unit.h"

static const char *const conf_yaml =
    "server: {state_dir: %s}\n"
    "mappings: {dir: %s}\n"
    "groups:\n"
    "  - {name: admins, attributes: {aws_role: Admin}}\n"
    "upstreams:\n"
    "  - {name: corp, type: oidc, oidc: {issuer: https://corp.example, client_id: c,"
    " client_secret: env:FB_TEST_UP_SECRET}}\n"
    "  - {name: mail, type: oidc, link_by_email: true, oidc: {issuer: https://mail.example,"
    " client_id: c, client_secret: env:FB_TEST_UP_SECRET}}\n"
    "  - {name: noprov, type: oidc, provision: false, oidc: {issuer: https://np.example,"
    " client_id: c, client_secret: env:FB_TEST_UP_SECRET}}\n"
    "  - {name: badname, type: oidc, mapping: bad_user, oidc: {issuer: https://b.example,"
    " client_id: c, client_secret: env:FB_TEST_UP_SECRET}}\n"
    "  - {name: fails, type: oidc, mapping: fails, oidc: {issuer: https://f.example,"
    " client_id: c, client_secret: env:FB_TEST_UP_SECRET}}\n"
    "  - {name: notdict, type: oidc, mapping: notdict, oidc: {issuer: https://n.example,"
    " client_id: c, client_secret: env:FB_TEST_UP_SECRET}}\n"
    "  - {name: idp, type: saml, saml: {metadata: %s/md.xml}}\n";

/* One test's world: conf, store and compiled rules in a fresh directory. */
struct world {
	char *dir;
	struct fb_conf *conf;
	struct fb_store *st;
	struct fb_map_set *rules;
};

static void
world_new(struct world *w)
{
	char *mdir, *src, *text, *yaml;
	size_t len;
	struct fb_conf_report *rep = NULL;
	struct fb_err err;

	memset(w, 0, sizeof(*w));
	w->dir = fb_test_tmpdir();
	mdir = fb_xasprintf("%s/mappings", w->dir);
	CU_ASSERT_FATAL(mkdir(mdir, 0700) == 0);
	for (size_t i = 0; i < 2; i++) {
		const char *name = i == 0 ? "upstream_oidc.py" : "upstream_saml.py";
		FILE *f;

		src = fb_xasprintf("%s/mappings/%s", FB_SRCDIR, name);
		f = fopen(src, "rb");
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		text = fb_xcalloc(1, 65536);
		len = fread(text, 1, 65535, f);
		fclose(f);
		CU_ASSERT(len > 0);
		free(fb_test_write_file(mdir, name, text));
		free(text);
		free(src);
	}
	free(fb_test_write_file(mdir, "bad_user.py",
	    "return {\"username\": upstream[\"preferred_username\"] + \" x\"}\n"));
	free(fb_test_write_file(mdir, "fails.py", "return 1 // 0\n"));
	free(fb_test_write_file(mdir, "notdict.py", "return \"ann\"\n"));
	free(fb_test_write_file(w->dir, "md.xml", "<md/>\n"));
	setenv("FB_TEST_UP_SECRET", "s3cret-value", 1);
	yaml = fb_xasprintf(conf_yaml, w->dir, mdir, w->dir);
	if (fb_conf_load_string(yaml, strlen(yaml), "t.yaml", NULL, &w->conf, &rep, &err) != FB_OK)
		for (size_t i = 0; i < fb_conf_report_count(rep); i++)
			fprintf(stderr, "%s\n", fb_conf_report_line(rep, i));
	fb_conf_report_free(rep);
	free(yaml);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->conf);
	CU_ASSERT_EQUAL_FATAL(fb_store_open(w->conf, &w->st, &err), FB_OK);
	CU_ASSERT_EQUAL_FATAL(fb_map_set_load(mdir, &w->rules, NULL, &err), FB_OK);
	free(mdir);
}

static void
world_free(struct world *w)
{
	fb_map_set_free(w->rules);
	fb_store_close(w->st);
	fb_conf_free(w->conf);
	fb_test_rmtree(w->dir);
	free(w->dir);
	unsetenv("FB_TEST_UP_SECRET");
}

/* Signs in through upstream with subject sub and claims (JSON text). */
static enum fb_status
signin(struct world *w, const char *upstream, const char *sub, const char *claims,
    struct fb_upstream_result *res, struct fb_err *err)
{
	json_t *c = json_loads(claims, 0, NULL);
	const struct fb_conf_upstream *up = fb_conf_upstream_find(w->conf, upstream);
	struct fb_upstream_identity id = {
	    .upstream = upstream,
	    .issuer = up != NULL ? up->oidc.issuer : "urn:x",
	    .subject = sub,
	    .claims = c,
	};
	enum fb_status r;

	CU_ASSERT_PTR_NOT_NULL(c);
	r = fb_upstream_signin(w->conf, w->st, w->rules, &id, "req-1", "192.0.2.1", res, err);
	json_decref(c);
	return r;
}

static int
count_one(const struct fb_store_user *u, void *arg)
{
	(void)u;
	(*(size_t *)arg)++;
	return 0;
}

static size_t
user_count(struct world *w)
{
	size_t n = 0;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_store_user_list(w->st, count_one, &n, &err), FB_OK);
	return n;
}

/* The upstream groups of username, joined with ",". New. */
static char *
groups_of(struct world *w, const char *username)
{
	struct fb_store_user u = {0};
	char **g = NULL;
	size_t n = 0;
	struct fb_buf b;
	struct fb_err err;

	fb_buf_init(&b, 4096);
	fb_buf_addf(&b, NULL, "%s", "");
	if (fb_store_user_get(w->st, username, &u, &err) == FB_OK &&
	    fb_store_upstream_groups(w->st, u.id, &g, &n, &err) == FB_OK)
		for (size_t i = 0; i < n; i++) {
			fb_buf_addf(&b, NULL, "%s%s", i > 0 ? "," : "", g[i]);
			free(g[i]);
		}
	free(g);
	fb_store_user_cleanup(&u);
	return fb_buf_take(&b);
}

static int
linked(struct world *w, const char *upstream, const char *issuer, const char *sub)
{
	char *uid = NULL;
	struct fb_err err;
	int r = fb_store_link_find(w->st, upstream, issuer, sub, &uid, &err) == FB_OK;

	free(uid);
	return r;
}

#define ANN                                                                                        \
	"{\"sub\": \"s-ann\", \"preferred_username\": \"ann\", \"email\": \"ann@corp.example\","   \
	" \"email_verified\": true, \"name\": \"Ann\", \"groups\": [\"dev\", \"admins\", "         \
	"\"dev\"]}"

/* First sign-in creates the user, later ones find the link; groups replaced each time. */
static void
test_provision_and_link(void)
{
	struct world w;
	struct fb_upstream_result res;
	struct fb_store_user u = {0};
	json_t *uj = NULL, *g;
	char *s, **ug = NULL;
	size_t nug = 0;
	struct fb_err err;

	world_new(&w);
	CU_ASSERT_EQUAL_FATAL(signin(&w, "corp", "s-ann", ANN, &res, &err), FB_OK);
	CU_ASSERT_EQUAL(res.action, FB_UPSTREAM_PROVISIONED);
	CU_ASSERT_EQUAL(res.refusal, FB_UPSTREAM_OK);
	CU_ASSERT_STRING_EQUAL(res.user.username, "ann");
	CU_ASSERT_STRING_EQUAL(res.user.source, "corp");
	CU_ASSERT_PTR_NOT_NULL(res.user.id);
	CU_ASSERT_EQUAL(res.mapped.ngroups, 2);
	CU_ASSERT_TRUE(res.mapped.email_verified);
	fb_upstream_result_cleanup(&res);
	CU_ASSERT_TRUE(linked(&w, "corp", "https://corp.example", "s-ann"));
	s = groups_of(&w, "ann");
	CU_ASSERT_STRING_EQUAL(s, "admins,dev");
	free(s);
	/* Upstream groups feed the same merge as declared groups: admins lends aws_role. */
	CU_ASSERT_EQUAL_FATAL(fb_store_user_get(w.st, "ann", &u, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_store_upstream_groups(w.st, u.id, &ug, &nug, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_ident_user_json_with(w.conf, &u, (const char *const *)ug, nug, &uj,
	                    &err),
	    FB_OK);
	g = json_object_get(uj, "groups");
	CU_ASSERT_EQUAL_FATAL(json_array_size(g), 2);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(g, 0), "name")),
	    "admins");
	CU_ASSERT_STRING_EQUAL(json_string_value(
	                           json_object_get(json_object_get(json_array_get(g, 0),
	                                               "attributes"),
	                               "aws_role")),
	    "Admin");
	CU_ASSERT_EQUAL(json_object_size(json_object_get(json_array_get(g, 1), "attributes")), 0);
	json_decref(uj);
	for (size_t i = 0; i < nug; i++)
		free(ug[i]);
	free(ug);
	fb_store_user_cleanup(&u);

	/* Second sign-in: the link; groups and profile replaced. */
	CU_ASSERT_EQUAL(signin(&w, "corp", "s-ann",
	                    "{\"preferred_username\": \"ann\", \"email\": \"ann@corp.example\","
	                    " \"name\": \"Ann B\", \"groups\": \"ops\"}",
	                    &res, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(res.action, FB_UPSTREAM_LINKED);
	fb_upstream_result_cleanup(&res);
	s = groups_of(&w, "ann");
	CU_ASSERT_STRING_EQUAL(s, "ops");
	free(s);
	CU_ASSERT_EQUAL(fb_store_user_get(w.st, "ann", &u, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(u.name, "Ann B");
	fb_store_user_cleanup(&u);
	CU_ASSERT_EQUAL(user_count(&w), 1);

	/* A linked identity sends another username later: still the linked user. */
	CU_ASSERT_EQUAL(signin(&w, "corp", "s-ann", "{\"preferred_username\": \"ann2\"}", &res,
	                    &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(res.user.username, "ann");
	fb_upstream_result_cleanup(&res);
	CU_ASSERT_EQUAL(user_count(&w), 1);
	world_free(&w);
}

/* A username someone else has is refused, never linked; nothing is stored. */
static void
test_username_taken(void)
{
	struct world w;
	struct fb_upstream_result res;
	struct fb_store_user local = {0};
	char *s;
	struct fb_err err;

	world_new(&w);
	local.username = (char *)"ann";
	local.source = (char *)"local";
	local.active = 1;
	CU_ASSERT_EQUAL_FATAL(fb_store_user_upsert(w.st, &local, &err), FB_OK);
	free(local.id);
	CU_ASSERT_EQUAL(signin(&w, "corp", "s-ann", ANN, &res, &err), FB_ERR_DENIED);
	CU_ASSERT_EQUAL(res.refusal, FB_UPSTREAM_USERNAME_TAKEN);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "belongs to another account"));
	CU_ASSERT_STRING_EQUAL(fb_upstream_refusal_name(res.refusal), "upstream_username_taken");
	fb_upstream_result_cleanup(&res);
	CU_ASSERT_FALSE(linked(&w, "corp", "https://corp.example", "s-ann"));
	s = groups_of(&w, "ann");
	CU_ASSERT_STRING_EQUAL(s, "");
	free(s);
	CU_ASSERT_EQUAL(user_count(&w), 1);
	world_free(&w);
}

/* Linking by email: only when allowed, verified and unambiguous. */
static void
test_link_by_email(void)
{
	static const char *const bob_verified =
	    "{\"preferred_username\": \"robert\", \"email\": \"Bob@Example.com\","
	    " \"email_verified\": true, \"groups\": [\"g\"]}";
	static const char *const bob_unverified =
	    "{\"preferred_username\": \"robert\", \"email\": \"bob@example.com\","
	    " \"email_verified\": false}";
	struct world w;
	struct fb_upstream_result res;
	struct fb_store_user bob = {0};
	char *s;
	struct fb_err err;

	world_new(&w);
	bob.username = (char *)"bob";
	bob.email = (char *)"bob@example.com";
	bob.source = (char *)"local";
	bob.active = 1;
	CU_ASSERT_EQUAL_FATAL(fb_store_user_upsert(w.st, &bob, &err), FB_OK);
	free(bob.id);
	/* corp does not link by email: refused even though verified. */
	CU_ASSERT_EQUAL(signin(&w, "corp", "s-bob", bob_verified, &res, &err), FB_ERR_DENIED);
	CU_ASSERT_EQUAL(res.refusal, FB_UPSTREAM_EMAIL_TAKEN);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "may not link"));
	fb_upstream_result_cleanup(&res);
	/* mail links by email, but not an unverified one. */
	CU_ASSERT_EQUAL(signin(&w, "mail", "s-bob", bob_unverified, &res, &err), FB_ERR_DENIED);
	CU_ASSERT_EQUAL(res.refusal, FB_UPSTREAM_EMAIL_TAKEN);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "verified"));
	fb_upstream_result_cleanup(&res);
	CU_ASSERT_FALSE(linked(&w, "mail", "https://mail.example", "s-bob"));
	CU_ASSERT_EQUAL(user_count(&w), 1);
	/* Verified: linked to bob (the upstream's username is not used). */
	CU_ASSERT_EQUAL(signin(&w, "mail", "s-bob", bob_verified, &res, &err), FB_OK);
	CU_ASSERT_EQUAL(res.action, FB_UPSTREAM_LINK_EMAIL);
	CU_ASSERT_STRING_EQUAL(res.user.username, "bob");
	fb_upstream_result_cleanup(&res);
	CU_ASSERT_TRUE(linked(&w, "mail", "https://mail.example", "s-bob"));
	s = groups_of(&w, "bob");
	CU_ASSERT_STRING_EQUAL(s, "g");
	free(s);
	CU_ASSERT_EQUAL(user_count(&w), 1);
	/* Two users with the address: ambiguous, refused. */
	bob.id = NULL;
	bob.username = (char *)"bob2";
	CU_ASSERT_EQUAL_FATAL(fb_store_user_upsert(w.st, &bob, &err), FB_OK);
	free(bob.id);
	CU_ASSERT_EQUAL(signin(&w, "mail", "s-bob-2", bob_verified, &res, &err), FB_ERR_DENIED);
	CU_ASSERT_EQUAL(res.refusal, FB_UPSTREAM_EMAIL_TAKEN);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "several accounts"));
	fb_upstream_result_cleanup(&res);
	world_free(&w);
}

/* provision: false, disabled users, and bad mapping results. */
static void
test_refusals(void)
{
	struct world w;
	struct fb_upstream_result res;
	struct fb_store_user u = {0};
	json_t *c;
	struct fb_upstream_identity id = {0};
	char *s;
	struct fb_err err;

	world_new(&w);
	CU_ASSERT_EQUAL(signin(&w, "noprov", "s-1", ANN, &res, &err), FB_ERR_DENIED);
	CU_ASSERT_EQUAL(res.refusal, FB_UPSTREAM_NOT_PROVISIONED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "does not create one"));
	fb_upstream_result_cleanup(&res);
	CU_ASSERT_EQUAL(user_count(&w), 0);

	/* A disabled user is refused through its link, and its groups stay as they were. */
	CU_ASSERT_EQUAL_FATAL(signin(&w, "corp", "s-ann", ANN, &res, &err), FB_OK);
	fb_upstream_result_cleanup(&res);
	CU_ASSERT_EQUAL_FATAL(fb_store_user_get(w.st, "ann", &u, &err), FB_OK);
	u.active = 0;
	CU_ASSERT_EQUAL(fb_store_user_upsert(w.st, &u, &err), FB_OK);
	fb_store_user_cleanup(&u);
	CU_ASSERT_EQUAL(signin(&w, "corp", "s-ann",
	                    "{\"preferred_username\": \"ann\","
	                    " \"groups\": [\"x\"]}",
	                    &res, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_EQUAL(res.refusal, FB_UPSTREAM_DISABLED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "disabled"));
	fb_upstream_result_cleanup(&res);
	s = groups_of(&w, "ann");
	CU_ASSERT_STRING_EQUAL(s, "admins,dev");
	free(s);

	/* No username; a username with forbidden characters; a failing rule; not a dict. */
	CU_ASSERT_EQUAL(signin(&w, "corp", "s-2", "{\"name\": \"Nobody\"}", &res, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_EQUAL(res.refusal, FB_UPSTREAM_NO_USERNAME);
	fb_upstream_result_cleanup(&res);
	CU_ASSERT_EQUAL(signin(&w, "corp", "s-2", "{\"preferred_username\": \"-x\"}", &res, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_EQUAL(res.refusal, FB_UPSTREAM_NO_USERNAME);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "must start with a letter or digit"));
	fb_upstream_result_cleanup(&res);
	CU_ASSERT_EQUAL(signin(&w, "badname", "s-3", "{\"preferred_username\": \"carl\"}", &res,
	                    &err),
	    FB_ERR_DENIED);
	CU_ASSERT_EQUAL(res.refusal, FB_UPSTREAM_NO_USERNAME);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "is not allowed"));
	fb_upstream_result_cleanup(&res);
	CU_ASSERT_EQUAL(signin(&w, "fails", "s-4", "{}", &res, &err), FB_ERR_DENIED);
	CU_ASSERT_EQUAL(res.refusal, FB_UPSTREAM_MAPPING_FAILED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "zero division"));
	fb_upstream_result_cleanup(&res);
	CU_ASSERT_EQUAL(signin(&w, "notdict", "s-5", "{}", &res, &err), FB_ERR_DENIED);
	CU_ASSERT_EQUAL(res.refusal, FB_UPSTREAM_MAPPING_FAILED);
	fb_upstream_result_cleanup(&res);
	CU_ASSERT_EQUAL(signin(&w, "corp", "s-6",
	                    "{\"preferred_username\": \"dan\","
	                    " \"groups\": [\"ok\", 5, \"\"]}",
	                    &res, &err),
	    FB_OK);
	CU_ASSERT_EQUAL(res.mapped.ngroups, 1);
	fb_upstream_result_cleanup(&res);

	/* An identity without a subject, or of an unknown upstream. */
	c = json_object();
	id = (struct fb_upstream_identity){.upstream = "corp",
	    .issuer = "https://corp.example",
	    .claims = c};
	CU_ASSERT_EQUAL(fb_upstream_signin(w.conf, w.st, w.rules, &id, NULL, NULL, &res, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_EQUAL(res.refusal, FB_UPSTREAM_BAD_IDENTITY);
	fb_upstream_result_cleanup(&res);
	id.subject = "s";
	id.upstream = "nope";
	CU_ASSERT_EQUAL(fb_upstream_signin(w.conf, w.st, w.rules, &id, NULL, NULL, &res, &err),
	    FB_ERR_DENIED);
	CU_ASSERT_EQUAL(res.refusal, FB_UPSTREAM_BAD_IDENTITY);
	fb_upstream_result_cleanup(&res);
	json_decref(c);
	/* Only ann and dan exist: no refusal stored anything. */
	CU_ASSERT_EQUAL(user_count(&w), 2);
	world_free(&w);
}

/* fb_upstream_plan decides like a sign-in and writes nothing. */
static void
test_plan(void)
{
	struct world w;
	struct fb_upstream_result res;
	json_t *c = json_loads(ANN, 0, NULL);
	struct fb_upstream_identity id = {.upstream = "corp",
	    .issuer = "https://corp.example",
	    .subject = "s-ann",
	    .claims = c};
	struct fb_err err;

	world_new(&w);
	CU_ASSERT_EQUAL(fb_upstream_plan(w.conf, w.st, w.rules, &id, &res, &err), FB_OK);
	CU_ASSERT_EQUAL(res.action, FB_UPSTREAM_PROVISIONED);
	CU_ASSERT_PTR_NULL(res.user.id);
	CU_ASSERT_STRING_EQUAL(res.user.username, "ann");
	fb_upstream_result_cleanup(&res);
	CU_ASSERT_EQUAL(user_count(&w), 0);
	CU_ASSERT_FALSE(linked(&w, "corp", "https://corp.example", "s-ann"));
	CU_ASSERT_EQUAL(fb_upstream_signin(w.conf, w.st, w.rules, &id, NULL, NULL, &res, &err),
	    FB_OK);
	fb_upstream_result_cleanup(&res);
	CU_ASSERT_EQUAL(fb_upstream_plan(w.conf, w.st, w.rules, &id, &res, &err), FB_OK);
	CU_ASSERT_EQUAL(res.action, FB_UPSTREAM_LINKED);
	CU_ASSERT_PTR_NOT_NULL(res.user.id);
	fb_upstream_result_cleanup(&res);
	json_decref(c);
	world_free(&w);
}

/* The shipped SAML default reads the common attribute names. */
static void
test_saml_default(void)
{
	struct world w;
	struct fb_upstream_result res;
	json_t *c = json_loads(
	    "{\"urn:oid:0.9.2342.19200300.100.1.3\": [\"eve@example.org\"],"
	    " \"http://schemas.microsoft.com/ws/2008/06/identity/claims/groups\": [\"g1\", \"g2\"],"
	    " \"memberOf\": [\"g1\"], \"givenName\": [\"Eve\"], \"sn\": [\"E\"]}",
	    0, NULL);
	struct fb_upstream_identity id = {.upstream = "idp",
	    .issuer = "urn:idp",
	    .subject = "eve@example.org",
	    .claims = c};
	struct fb_err err;

	world_new(&w);
	CU_ASSERT_EQUAL_FATAL(fb_upstream_signin(w.conf, w.st, w.rules, &id, NULL, NULL, &res,
	                          &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(res.user.username, "eve@example.org");
	CU_ASSERT_STRING_EQUAL(res.user.name, "Eve E");
	CU_ASSERT_FALSE(res.mapped.email_verified);
	CU_ASSERT_EQUAL_FATAL(res.mapped.ngroups, 2);
	CU_ASSERT_STRING_EQUAL(res.mapped.groups[1], "g2");
	fb_upstream_result_cleanup(&res);
	json_decref(c);
	world_free(&w);
}

/* ---- fb_http_upstream_finish through a real server on loopback ------------------------ */

/* What the test route hands to fb_http_upstream_finish. */
struct finish_fx {
	struct world *w;
	const char *upstream, *sub, *claims;
	int64_t expires_at;
};

static void
h_finish(struct fb_http_req *req, void *arg)
{
	struct finish_fx *fx = arg;
	json_t *c = json_loads(fx->claims, 0, NULL);
	const struct fb_conf_upstream *up = fb_conf_upstream_find(fx->w->conf, fx->upstream);
	struct fb_upstream_identity id = {
	    .upstream = fx->upstream,
	    .issuer = up != NULL ? up->oidc.issuer : "urn:x",
	    .subject = fx->sub,
	    .claims = c,
	    .expires_at = fx->expires_at,
	    .session_index = "idx-1",
	};

	fb_http_upstream_finish(req, &id);
	json_decref(c);
}

struct client {
	int port;
	const char *request;
	struct fb_buf response;
	int done_fd;
};

/* On its own thread: one request, the whole response (the server closes), then a byte. */
static void *
client_run(void *arg)
{
	struct client *c = arg;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char buf[4096];
	ssize_t n;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    write(fd, c->request, strlen(c->request)) == (ssize_t)strlen(c->request))
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			fb_buf_add(&c->response, buf, (size_t)n, NULL);
	if (fd >= 0)
		close(fd);
	if (write(c->done_fd, "x", 1) != 1)
		abort();
	return NULL;
}

static void
loop_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/*
 * method path with cookie and a form body (each may be NULL) through the
 * server on port; the raw response, new.
 */
static char *
http_req(struct event_base *base, int port, const char *method, const char *path,
    const char *cookie, const char *form)
{
	struct client c = {.port = port};
	struct timeval limit = {20, 0};
	struct event *done, *timeout;
	pthread_t t;
	int p[2];
	char *req;

	CU_ASSERT_FATAL(pipe(p) == 0);
	{
		char *body = form != NULL ? fb_xasprintf("Content-Type: application/"
		                                         "x-www-form-urlencoded\r\n"
		                                         "Content-Length: %zu\r\n\r\n%s",
		                                strlen(form), form)
		                          : fb_xstrdup("\r\n");

		req = fb_xasprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
		                   "%s%s%s%s",
		    method, path, cookie != NULL ? "Cookie: " : "", cookie != NULL ? cookie : "",
		    cookie != NULL ? "\r\n" : "", body);
		free(body);
	}
	c.request = req;
	c.done_fd = p[1];
	fb_buf_init(&c.response, 1 << 20);
	fb_buf_addf(&c.response, NULL, "%s", "");
	done = event_new(base, p[0], EV_READ, loop_stop, base);
	timeout = evtimer_new(base, loop_stop, base);
	event_add(done, NULL);
	event_add(timeout, &limit);
	CU_ASSERT_FATAL(pthread_create(&t, NULL, client_run, &c) == 0);
	event_base_dispatch(base);
	pthread_join(t, NULL);
	event_free(done);
	event_free(timeout);
	close(p[0]);
	close(p[1]);
	free(req);
	return fb_buf_take(&c.response);
}

static char *
http_get(struct event_base *base, int port, const char *path, const char *cookie)
{
	return http_req(base, port, "GET", path, cookie, NULL);
}

/* The value of the Set-Cookie of name in a raw response ("" when deleted), new; NULL if none. */
static char *
set_cookie(const char *resp, const char *name)
{
	char *key = fb_xasprintf("\r\nSet-Cookie: %s=", name);
	const char *p = strstr(resp, key);
	char *v = NULL;

	if (p != NULL) {
		p += strlen(key);
		v = fb_xstrndup(p, strcspn(p, ";\r"));
	}
	free(key);
	return v;
}

static char *
location(const char *resp)
{
	const char *p = strstr(resp, "\r\nLocation: ");

	return p != NULL ? fb_xstrndup(p + 12, strcspn(p + 12, "\r")) : NULL;
}

/* A return-to cookie as /upstream/NAME/start makes it, for upstream u and path n. */
static char *
return_cookie(const struct fb_sealer *s, const char *u, const char *n)
{
	char *text = fb_xasprintf("{\"u\": \"%s\", \"n\": \"%s\"}", u, n), *tok = NULL, *c;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_crypto_seal(s, FB_HTTP_UPSTREAM_RETURN_PURPOSE, text, strlen(text),
			    fb_time_now() + 60, &tok, &err),
	    FB_OK);
	c = fb_xasprintf("fb_session" FB_HTTP_UPSTREAM_RETURN_SUFFIX "=%s", tok);
	free(tok);
	free(text);
	return c;
}

/*
 * The completion: a refusal is a page with no session; an accepted identity
 * gets a session recording the upstream, capped by the upstream's expiry,
 * its logout record, and the saved return-to (only a local one, only for
 * this upstream).
 */
static void
test_finish(void)
{
	static const unsigned char key[1][32] = {{7}};
	struct world w;
	struct finish_fx fx;
	struct fb_sealer *sealer = fb_crypto_sealer_new(key, 1);
	struct fb_http_router *router = fb_http_router_new();
	struct fb_http_server *srv = NULL;
	struct event_base *base = event_base_new();
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t salen = sizeof(sa);
	struct fb_http_env env;
	struct fb_http_session s;
	char *resp, *tok, *loc, *cookie;
	unsigned char *rec = NULL;
	size_t reclen;
	int fd, port;
	struct fb_err err;

	world_new(&w);
	fx = (struct finish_fx){&w, "corp", "s-ann", ANN, fb_time_now() + 120};
	env = (struct fb_http_env){.conf = w.conf, .store = w.st, .sealer = sealer};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	                listen(fd, 16) == 0 &&
	                getsockname(fd, (struct sockaddr *)&sa, &salen) == 0);
	port = ntohs(sa.sin_port);
	CU_ASSERT_EQUAL_FATAL(fb_http_router_add(router, "/t/finish", FB_HTTP_GET, h_finish, &fx,
				  &err),
	    FB_OK);
	/*
	 * The pages (/login, /logout, ...) with /upstream/ + "*". A rule file that
	 * does not compile and that nothing uses only leaves its rule out: the
	 * upstream routes are there (sign-in below works), the file is named in
	 * the log (the configuration check warns about it: 72-upstream-cli).
	 */
	{
		char *mdir = fb_xasprintf("%s/mappings", w.dir), tmpl[] = "/tmp/fb-unit-log-XXXXXX";
		char buf[8192];
		int lfd = mkstemp(tmpl);
		ssize_t n;

		CU_ASSERT_FATAL(lfd >= 0);
		free(fb_test_write_file(mdir, "broken_unused.py", "return {\n"));
		fb_log_setup(FB_LOG_LOGFMT, FB_LOG_DEBUG, lfd);
		CU_ASSERT_EQUAL_FATAL(fb_http_web_routes_add(router, w.conf, &err), FB_OK);
		fb_log_setup(FB_LOG_LOGFMT, FB_LOG_ERROR, 2);
		n = pread(lfd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		CU_ASSERT_PTR_NOT_NULL(strstr(buf, "broken_unused.py"));
		CU_ASSERT_PTR_NOT_NULL(strstr(buf, "rule left out"));
		close(lfd);
		unlink(tmpl);
		free(mdir);
	}
	CU_ASSERT_EQUAL_FATAL(fb_http_server_new(base, &env, router, &fd, 1, &srv, &err), FB_OK);

	/* Refused (noprov creates no user): a page, no session, nothing stored. */
	fx.upstream = "noprov";
	resp = http_get(base, port, "/t/finish", NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp, "HTTP/1.1 403"));
	CU_ASSERT_PTR_NOT_NULL(strstr(resp, "does not create one"));
	CU_ASSERT_PTR_NULL(strstr(resp, "Set-Cookie: fb_session="));
	CU_ASSERT_EQUAL(user_count(&w), 0);
	free(resp);

	/* Accepted, with a return-to saved for corp: a session and a redirect there. */
	fx.upstream = "corp";
	cookie = return_cookie(sealer, "corp", "/apps?x=1");
	resp = http_get(base, port, "/t/finish", cookie);
	free(cookie);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp, "HTTP/1.1 303"));
	loc = location(resp);
	CU_ASSERT_STRING_EQUAL(loc != NULL ? loc : "", "/apps?x=1");
	free(loc);
	tok = set_cookie(resp, "fb_session");
	CU_ASSERT_PTR_NOT_NULL_FATAL(tok);
	CU_ASSERT_EQUAL_FATAL(fb_http_session_open(sealer, tok, &s, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(s.username, "ann");
	CU_ASSERT_STRING_EQUAL(s.upstream, "corp");
	CU_ASSERT_EQUAL(s.state, FB_HTTP_SESSION_FULL);
	/* Capped by the upstream's expiry (120 s), not session.lifetime (8 h). */
	CU_ASSERT(s.expires_at <= fx.expires_at && s.expires_at >= fx.expires_at - 5);
	CU_ASSERT_EQUAL(fb_store_kv_get(w.st, FB_HTTP_UPSTREAM_SESSION_NS, s.sid, &rec, &reclen,
			    &err),
	    FB_OK);
	CU_ASSERT_PTR_NOT_NULL(rec != NULL ? strstr((char *)rec, "\"session_index\":\"idx-1\"")
	                                   : NULL);
	free(rec);
	/* Signing out forgets the logout record (corp has logout: false: no upstream step). */
	{
		char *sc = fb_xasprintf("fb_session=%s", tok), *page, *csrf, *form;
		const char *v;

		page = http_get(base, port, "/logout", sc);
		v = strstr(page, "name=\"csrf\" value=\"");
		CU_ASSERT_PTR_NOT_NULL_FATAL(v);
		v += strlen("name=\"csrf\" value=\"");
		csrf = fb_xstrndup(v, strcspn(v, "\""));
		form = fb_xasprintf("csrf=%s&next=%%2F", csrf);
		free(page);
		page = http_req(base, port, "POST", "/logout", sc, form);
		CU_ASSERT_PTR_NOT_NULL(strstr(page, "You have signed out"));
		CU_ASSERT_EQUAL(fb_store_kv_get(w.st, FB_HTTP_UPSTREAM_SESSION_NS, s.sid, &rec,
				    &reclen, &err),
		    FB_ERR_NOTFOUND);
		free(page);
		free(form);
		free(csrf);
		free(sc);
	}
	fb_http_session_cleanup(&s);
	free(tok);
	/* The return-to cookie is deleted. */
	tok = set_cookie(resp, "fb_session" FB_HTTP_UPSTREAM_RETURN_SUFFIX);
	CU_ASSERT_STRING_EQUAL(tok != NULL ? tok : "(none)", "");
	free(tok);
	free(resp);
	CU_ASSERT_EQUAL(user_count(&w), 1);

	/* SECURITY: a return-to of another upstream, or not a local path, goes to "/". */
	fx.expires_at = 0;
	cookie = return_cookie(sealer, "mail", "/apps");
	resp = http_get(base, port, "/t/finish", cookie);
	loc = location(resp);
	CU_ASSERT_STRING_EQUAL(loc != NULL ? loc : "", "/");
	free(loc);
	free(resp);
	free(cookie);
	cookie = return_cookie(sealer, "corp", "//evil.example/");
	resp = http_get(base, port, "/t/finish", cookie);
	loc = location(resp);
	CU_ASSERT_STRING_EQUAL(loc != NULL ? loc : "", "/");
	free(loc);
	/* Without the upstream's word, session.lifetime. */
	tok = set_cookie(resp, "fb_session");
	CU_ASSERT_EQUAL_FATAL(fb_http_session_open(sealer, tok, &s, &err), FB_OK);
	CU_ASSERT(s.expires_at - s.auth_time == w.conf->session_lifetime);
	fb_http_session_cleanup(&s);
	free(tok);
	free(resp);
	free(cookie);

	/* An upstream session that has ended already: refused before anything is stored. */
	fx.expires_at = fb_time_now() - 1;
	fx.sub = "s-new";
	resp = http_get(base, port, "/t/finish", NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp, "HTTP/1.1 403"));
	CU_ASSERT_PTR_NULL(strstr(resp, "Set-Cookie: fb_session="));
	CU_ASSERT_FALSE(linked(&w, "corp", "https://corp.example", "s-new"));
	free(resp);

	fb_http_server_free(srv);
	fb_http_router_free(router);
	event_base_free(base);
	close(fd);
	fb_crypto_sealer_free(sealer);
	world_free(&w);
}

int
fb_test_upstream_register(void)
{
	CU_pSuite s = CU_add_suite("upstream", NULL, NULL);

	if (s == NULL || CU_add_test(s, "provision and link", test_provision_and_link) == NULL ||
	    CU_add_test(s, "username taken", test_username_taken) == NULL ||
	    CU_add_test(s, "link by email", test_link_by_email) == NULL ||
	    CU_add_test(s, "refusals", test_refusals) == NULL ||
	    CU_add_test(s, "plan writes nothing", test_plan) == NULL ||
	    CU_add_test(s, "saml default mapping", test_saml_default) == NULL ||
	    CU_add_test(s, "http completion", test_finish) == NULL)
		return -1;
	return 0;
}
