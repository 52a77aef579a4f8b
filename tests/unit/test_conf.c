/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/test_conf.c: the configuration loader: defaults, every key, every problem's place. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "conf/conf.h"
#include "conf/internal.h"
#include "unit.h"

/* Loads text named t.yaml; returns the status, conf and report (both new, may be NULL). */
static enum fb_status
load(const char *text, const struct fb_conf_overrides *ov, struct fb_conf **conf,
    struct fb_conf_report **rep)
{
	struct fb_err err;

	return fb_conf_load_string(text, strlen(text), "t.yaml", ov, conf, rep, &err);
}

/* 1 when rep holds exactly this line; prints the report otherwise. */
static int
has(const struct fb_conf_report *rep, const char *line)
{
	for (size_t i = 0; i < fb_conf_report_count(rep); i++)
		if (strcmp(fb_conf_report_line(rep, i), line) == 0)
			return 1;
	fprintf(stderr, "\nmissing report line: %s\nreport:\n", line);
	for (size_t i = 0; i < fb_conf_report_count(rep); i++)
		fprintf(stderr, "  %s\n", fb_conf_report_line(rep, i));
	return 0;
}

/* 1 when some line of rep contains s. */
static int
mentions(const struct fb_conf_report *rep, const char *s)
{
	for (size_t i = 0; i < fb_conf_report_count(rep); i++)
		if (strstr(fb_conf_report_line(rep, i), s) != NULL)
			return 1;
	return 0;
}

/* Loads text expecting failure with exactly the given report line among nerr errors. */
static void
expect_error(const char *text, const char *line, size_t nerr)
{
	struct fb_conf_report *rep = NULL;
	struct fb_conf *conf = NULL;

	CU_ASSERT_EQUAL(load(text, NULL, &conf, &rep), FB_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(conf);
	CU_ASSERT(has(rep, line));
	CU_ASSERT_EQUAL(fb_conf_report_errors(rep), nerr);
	if (fb_conf_report_errors(rep) != nerr) {
		fprintf(stderr, "\nexpected %zu errors, report:\n", nerr);
		for (size_t i = 0; i < fb_conf_report_count(rep); i++)
			fprintf(stderr, "  %s\n", fb_conf_report_line(rep, i));
	}
	fb_conf_report_free(rep);
}

static void
test_defaults(void)
{
	struct fb_conf_report *rep = NULL;
	struct fb_conf *c = NULL;
	struct fb_err err;

	CU_ASSERT_EQUAL_FATAL(fb_conf_load(NULL, NULL, &c, &rep, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_conf_report_count(rep), 0);
	CU_ASSERT_STRING_EQUAL(c->path, "(built-in)");
	CU_ASSERT_EQUAL_FATAL(c->nlisten, 1);
	CU_ASSERT_STRING_EQUAL(c->listen[0], "127.0.0.1:8080");
	CU_ASSERT_EQUAL(c->workers, 0);
	CU_ASSERT_STRING_EQUAL(c->public_url, "http://127.0.0.1:8080");
	CU_ASSERT_STRING_EQUAL(c->state_dir, "/var/lib/fedbroker");
	CU_ASSERT_PTR_NULL(c->tls_cert);
	CU_ASSERT_PTR_NULL(c->tls_key);
	CU_ASSERT_EQUAL(c->max_header_bytes, 8192);
	CU_ASSERT_EQUAL(c->max_body_bytes, 1048576);
	CU_ASSERT_EQUAL(c->request_timeout, 30);
	CU_ASSERT_EQUAL(c->idle_timeout, 60);
	CU_ASSERT_EQUAL(c->shutdown_timeout, 30);
	CU_ASSERT_EQUAL(c->log_format, FB_LOG_LOGFMT);
	CU_ASSERT_EQUAL(c->log_level, FB_LOG_INFO);
	CU_ASSERT_EQUAL(c->log_access, 1);
	CU_ASSERT_EQUAL(c->store_driver, FB_STORE_SQLITE);
	CU_ASSERT_FALSE(fb_conf_store_is_shared(c));
	CU_ASSERT_STRING_EQUAL(c->store_path, "/var/lib/fedbroker/fedbroker.db");
	CU_ASSERT_PTR_NULL(c->store_dsn);
	CU_ASSERT_EQUAL(c->store_busy_timeout_ms, 5000);
	CU_ASSERT_EQUAL(c->nkeys, 0);
	CU_ASSERT_STRING_EQUAL(c->cookie_name, "fb_session");
	CU_ASSERT_EQUAL(c->session_lifetime, 8 * 3600);
	CU_ASSERT_EQUAL(c->ncookie_secrets, 0);
	CU_ASSERT_EQUAL(c->metrics_enabled, 1);
	CU_ASSERT_EQUAL(c->ngroups, 0);
	CU_ASSERT_EQUAL(c->argon2_t_cost, 3);
	CU_ASSERT_EQUAL(c->argon2_m_cost_kib, 65536);
	CU_ASSERT_EQUAL(c->argon2_parallelism, 1);
	CU_ASSERT_EQUAL(c->bootstrap_enabled, 1);
	CU_ASSERT_PTR_NULL(c->bootstrap_password);
	CU_ASSERT_PTR_NULL(c->bootstrap_token);
	CU_ASSERT_EQUAL(c->lockout_max_failures, 5);
	CU_ASSERT_EQUAL(c->lockout_window, 900);
	CU_ASSERT_EQUAL(c->lockout_max_delay, 900);
	CU_ASSERT_EQUAL(c->recovery_lifetime, 1800);
	CU_ASSERT_PTR_NULL(c->smtp_host);
	CU_ASSERT_EQUAL(c->smtp_port, 0);
	CU_ASSERT_EQUAL(c->smtp_security, FB_SMTP_STARTTLS);
	CU_ASSERT_PTR_NULL(c->smtp_username);
	CU_ASSERT_PTR_NULL(c->smtp_password);
	CU_ASSERT_PTR_NULL(c->smtp_from);
	CU_ASSERT_EQUAL(c->smtp_timeout, 30);
	CU_ASSERT_STRING_EQUAL(c->org_name, "fedbroker");
	CU_ASSERT_PTR_NULL(c->logo_url);
	fb_conf_free(c);
	fb_conf_report_free(rep);
	/* NULL report: not collected. */
	CU_ASSERT_EQUAL(fb_conf_load(NULL, NULL, &c, NULL, NULL), FB_OK);
	fb_conf_free(c);
	fb_conf_free(NULL);
	fb_conf_report_free(NULL);
}

/* The enum order of the table's choices matches core's parsers. */
static void
test_enum_order(void)
{
	CU_ASSERT_EQUAL(fb_log_format_parse("json"), FB_LOG_JSON);
	CU_ASSERT_EQUAL(fb_log_level_parse("warn"), FB_LOG_WARN);
	CU_ASSERT_EQUAL(fb_log_level_parse("error"), FB_LOG_ERROR);
	for (size_t i = 0; fb_conf_keys_name(i) != NULL; i++)
		CU_ASSERT(strlen(fb_conf_keys_name(i)) > 0);
	CU_ASSERT_STRING_EQUAL(fb_conf_keys_name(0), "server.listen");
}

static const char *full_yaml = "# every key with a value other than its default\n"
                               "server:\n"
                               "  listen:\n"
                               "    - 0.0.0.0:8443\n"
                               "    - \"[::]:8443\"\n"
                               "    - localhost:9000\n"
                               "  workers: 3\n"
                               "  public_url: https://sso.example.com/fb/\n"
                               "  state_dir: state\n"
                               "  tls:\n"
                               "    cert: tls/cert.pem\n"
                               "    key: ./tls/key.pem\n"
                               "  limits:\n"
                               "    max_header_bytes: 16384\n"
                               "    max_body_bytes: 65536\n"
                               "    request_timeout: 10s\n"
                               "    idle_timeout: 2m\n"
                               "  shutdown_timeout: 0\n"
                               "log: {format: json, level: debug, access: false}\n"
                               "store:\n"
                               "  busy_timeout: 250ms\n"
                               "keys:\n"
                               "  - id: k-2024.06\n"
                               "    key: k1.key\n"
                               "    cert: k1.crt\n"
                               "    passphrase: file:pass.txt\n"
                               "  - id: old_1\n"
                               "    key: /KEYDIR/k1.key\n"
                               "    cert: k1.crt\n"
                               "    state: published\n"
                               "session:\n"
                               "  cookie_name: __Host-fb\n"
                               "  lifetime: 1d\n"
                               "  cookie_keys: [\"file:cookie.key\", 'env:FB_TEST_CONF_COOKIE']\n"
                               "metrics:\n"
                               "  enabled: false\n";

static char *
subst(const char *text, const char *what, const char *with)
{
	const char *p = strstr(text, what);

	if (p == NULL)
		return fb_xstrdup(text);
	return fb_xasprintf("%.*s%s%s", (int)(p - text), text, with, p + strlen(what));
}

static void
test_every_key(void)
{
	char *dir = fb_test_tmpdir(), *tlsdir = fb_xasprintf("%s/tls", dir), *path, *text, *want;
	struct fb_conf_report *rep = NULL;
	struct fb_conf *c = NULL;
	struct fb_err err;

	CU_ASSERT_FATAL(mkdir(tlsdir, 0700) == 0);
	free(fb_test_write_file(dir, "tls/cert.pem", "cert\n"));
	free(fb_test_write_file(dir, "tls/key.pem", "key\n"));
	free(fb_test_write_file(dir, "k1.key", "key\n"));
	free(fb_test_write_file(dir, "k1.crt", "cert\n"));
	free(fb_test_write_file(dir, "pass.txt", "key-passphrase\n"));
	free(fb_test_write_file(dir, "cookie.key", "cookie-key-0123456789abcdef\n"));
	setenv("FB_TEST_CONF_COOKIE", "cookie-key-from-the-environment", 1);
	text = subst(full_yaml, "/KEYDIR", dir);
	path = fb_test_write_file(dir, "fedbroker.yaml", text);

	CU_ASSERT_EQUAL_FATAL(fb_conf_load(path, NULL, &c, &rep, &err), FB_OK);
	CU_ASSERT_EQUAL(fb_conf_report_count(rep), 0);
	CU_ASSERT_STRING_EQUAL(c->path, path);
	CU_ASSERT_EQUAL_FATAL(c->nlisten, 3);
	CU_ASSERT_STRING_EQUAL(c->listen[0], "0.0.0.0:8443");
	CU_ASSERT_STRING_EQUAL(c->listen[1], "[::]:8443");
	CU_ASSERT_STRING_EQUAL(c->listen[2], "localhost:9000");
	CU_ASSERT_EQUAL(c->workers, 3);
	CU_ASSERT_STRING_EQUAL(c->public_url, "https://sso.example.com/fb");
	/* Relative paths are resolved against the file's directory. */
	want = fb_xasprintf("%s/state", dir);
	CU_ASSERT_STRING_EQUAL(c->state_dir, want);
	free(want);
	want = fb_xasprintf("%s/tls/cert.pem", dir);
	CU_ASSERT_STRING_EQUAL(c->tls_cert, want);
	free(want);
	want = fb_xasprintf("%s/tls/key.pem", dir);
	CU_ASSERT_STRING_EQUAL(c->tls_key, want);
	free(want);
	CU_ASSERT_EQUAL(c->max_header_bytes, 16384);
	CU_ASSERT_EQUAL(c->max_body_bytes, 65536);
	CU_ASSERT_EQUAL(c->request_timeout, 10);
	CU_ASSERT_EQUAL(c->idle_timeout, 120);
	CU_ASSERT_EQUAL(c->shutdown_timeout, 0);
	CU_ASSERT_EQUAL(c->log_format, FB_LOG_JSON);
	CU_ASSERT_EQUAL(c->log_level, FB_LOG_DEBUG);
	CU_ASSERT_EQUAL(c->log_access, 0);
	CU_ASSERT_EQUAL(c->store_driver, FB_STORE_SQLITE);
	CU_ASSERT_EQUAL(c->store_busy_timeout_ms, 250);
	CU_ASSERT_EQUAL_FATAL(c->nkeys, 2);
	CU_ASSERT_STRING_EQUAL(c->keys[0].id, "k-2024.06");
	want = fb_xasprintf("%s/k1.key", dir);
	CU_ASSERT_STRING_EQUAL(c->keys[0].key_file, want);
	CU_ASSERT_STRING_EQUAL(c->keys[1].key_file, want);
	free(want);
	want = fb_xasprintf("%s/k1.crt", dir);
	CU_ASSERT_STRING_EQUAL(c->keys[0].cert_file, want);
	free(want);
	/* file: secrets lose one trailing newline. */
	CU_ASSERT_STRING_EQUAL(c->keys[0].passphrase, "key-passphrase");
	CU_ASSERT_EQUAL(c->keys[0].state, FB_KEY_ACTIVE);
	CU_ASSERT_STRING_EQUAL(c->keys[1].id, "old_1");
	CU_ASSERT_PTR_NULL(c->keys[1].passphrase);
	CU_ASSERT_EQUAL(c->keys[1].state, FB_KEY_PUBLISHED);
	CU_ASSERT_STRING_EQUAL(c->cookie_name, "__Host-fb");
	CU_ASSERT_EQUAL(c->session_lifetime, 86400);
	CU_ASSERT_EQUAL_FATAL(c->ncookie_secrets, 2);
	CU_ASSERT_STRING_EQUAL(c->cookie_secrets[0], "cookie-key-0123456789abcdef");
	CU_ASSERT_STRING_EQUAL(c->cookie_secrets[1], "cookie-key-from-the-environment");
	CU_ASSERT_EQUAL(c->metrics_enabled, 0);
	/* store.path keeps its default under the state directory. */
	want = fb_xasprintf("%s/state/fedbroker.db", dir);
	CU_ASSERT_STRING_EQUAL(c->store_path, want);
	free(want);
	fb_conf_free(c);
	fb_conf_report_free(rep);

	unsetenv("FB_TEST_CONF_DSN");
	unsetenv("FB_TEST_CONF_COOKIE");
	free(text);
	free(path);
	free(tlsdir);
	fb_test_rmtree(dir);
	free(dir);
}

static void
test_unknown_key(void)
{
	expect_error("server:\n  workrs: 2\n",
	    "t.yaml:2:3: server.workrs: unknown key 'workrs' (did you mean 'workers'?)", 1);
	expect_error("server:\n  limits:\n    max_body: 10\n",
	    "t.yaml:3:5: server.limits.max_body: unknown key 'max_body' (did you mean "
	    "'max_body_bytes'?)",
	    1);
	expect_error("log: {}\nzzz: 1\n",
	    "t.yaml:2:1: zzz: unknown key 'zzz' (known here: server, log, store, keys, key_rollover, "
	    "session, "
	    "metrics, groups, local, smtp, branding, mappings, saml, upstreams, scim, apps, oidc)",
	    1);
	/* A dotted key never aliases a nested one. */
	expect_error("server.workers: 2\n",
	    "t.yaml:1:1: server.workers: unknown key 'server.workers' (known here: server, log, "
	    "store, keys, key_rollover, session, metrics, groups, local, smtp, branding, mappings, "
	    "saml, upstreams, scim, apps, oidc)",
	    1);
	expect_error(
	    "keys:\n  - id: a\n    key: /dev/null\n    cert: /dev/null\n    stat: active\n",
	    "t.yaml:5:5: keys[0].stat: unknown key 'stat' (did you mean 'state'?)", 3);
}

static void
test_wrong_type(void)
{
	expect_error("server:\n  workers: \"4\"\n",
	    "t.yaml:2:12: server.workers: expected an integer, found a string (remove the quotes)",
	    1);
	expect_error("server:\n  workers: 2.5\n",
	    "t.yaml:2:12: server.workers: expected an integer, found a number with a fraction", 1);
	expect_error("server:\n  listen: {a: b}\n",
	    "t.yaml:2:11: server.listen: expected a string or a list of strings, found a mapping",
	    1);
	expect_error("server:\n  limits: 7\n",
	    "t.yaml:2:11: server.limits: expected a mapping (a section of keys), found an integer",
	    1);
	expect_error("log:\n  access: \"true\"\n",
	    "t.yaml:2:11: log.access: expected a boolean (true or false), found a string (remove "
	    "the "
	    "quotes)",
	    1);
	expect_error("log:\n  access: yes\n",
	    "t.yaml:2:11: log.access: 'yes' is not a boolean here: write true or false", 1);
	expect_error("metrics:\n  enabled: off\n",
	    "t.yaml:2:12: metrics.enabled: 'off' is not a boolean here: write true or false", 1);
	expect_error("metrics:\n  enabled:\n",
	    "t.yaml:2:11: metrics.enabled: expected a boolean (true or false), found nothing "
	    "(null)",
	    1);
	expect_error("log:\n  format: jsno\n",
	    "t.yaml:2:11: log.format: unknown value 'jsno' (expected one of: logfmt, json; did you "
	    "mean 'json'?)",
	    1);
	expect_error("session:\n  lifetime: [1]\n",
	    "t.yaml:2:13: session.lifetime: expected a duration (e.g. 30s, 15m, 8h, 7d), found a "
	    "list",
	    1);
	expect_error("session:\n  lifetime: 8 hours\n",
	    "t.yaml:2:13: session.lifetime: '8 hours' is not a duration (write e.g. 30s, 15m, 8h, "
	    "7d)",
	    1);
	expect_error("keys: {id: a}\n",
	    "t.yaml:1:7: keys: expected a list of mappings, found a mapping", 1);
	expect_error("- a\n- b\n",
	    "t.yaml:1:1: yaml: the file must be a mapping of sections (server:, log:, ...), found "
	    "a "
	    "list",
	    1);
}

static void
test_range(void)
{
	expect_error("server:\n  limits:\n    max_body_bytes: 10\n",
	    "t.yaml:3:21: server.limits.max_body_bytes: 10 is out of range (allowed: "
	    "1024..67108864)",
	    1);
	expect_error("server:\n  workers: 257\n",
	    "t.yaml:2:12: server.workers: 257 is out of range (allowed: 0..256)", 1);
	expect_error("server:\n  limits:\n    request_timeout: 11m\n",
	    "t.yaml:3:22: server.limits.request_timeout: 11m is out of range (allowed: 1s..10m)",
	    1);
	expect_error("server:\n  limits:\n    idle_timeout: 0\n",
	    "t.yaml:3:19: server.limits.idle_timeout: 0s is out of range (allowed: 1s..1h)", 1);
	expect_error("store:\n  busy_timeout: 61s\n",
	    "t.yaml:2:17: store.busy_timeout: 61s is out of range (allowed: 0s..1m)", 1);
	expect_error("session:\n  lifetime: 1m\n",
	    "t.yaml:2:13: session.lifetime: 1m is out of range (allowed: 5m..30d)", 1);
	expect_error("server:\n  listen: 127.0.0.1:0\n",
	    "t.yaml:2:11: server.listen: port '0' is not a number in 1..65535", 1);
	expect_error("server:\n  listen: [\"127.0.0.1:80\", \"::1:80\"]\n",
	    "t.yaml:2:28: server.listen[1]: '::1:80': put an IPv6 address in brackets (e.g. "
	    "[::1]:8080)",
	    1);
	expect_error("server:\n  listen: example.com:80\n",
	    "t.yaml:2:11: server.listen: 'example.com' is not a numeric IPv4 address or localhost "
	    "(host names are not resolved)",
	    1);
	expect_error("server:\n  listen: [\"127.0.0.1:80\", \"127.0.0.1:80\"]\n",
	    "t.yaml:2:28: server.listen[1]: '127.0.0.1:80' is listed twice", 1);
	expect_error("server:\n  listen: []\n",
	    "t.yaml:2:11: server.listen: 0 entries given; allowed: 1..64", 1);
	expect_error("server:\n  public_url: ftp://x.example\n",
	    "t.yaml:2:15: server.public_url: 'ftp://x.example' must start with https:// or http://",
	    1);
	expect_error("server:\n  public_url: https://x.example/?a=1\n",
	    "t.yaml:2:15: server.public_url: 'https://x.example/?a=1' must not have a query (?) or "
	    "fragment (#)",
	    1);
	expect_error("session:\n  cookie_name: a;b\n",
	    "t.yaml:2:16: session.cookie_name: 'a;b' is not a cookie name: use 1 to 64 letters, "
	    "digits or !#$%&'*+-.^_`|~ (RFC 6265)",
	    1);
	expect_error("keys:\n  - id: a b\n    key: /dev/null\n    cert: /dev/null\n",
	    "t.yaml:2:9: keys[0].id: 'a b' is not a key id: use 1 to 64 letters, digits, '.', '_' "
	    "or '-'",
	    3);
	expect_error("keys:\n  - id: a\n    key: /dev/null\n    cert: /dev/null\n    state: old\n",
	    "t.yaml:5:12: keys[0].state: unknown value 'old' (expected one of: active, published, retired)",
	    3);
}

static void
test_public_url(void)
{
	struct fb_conf_report *rep = NULL;
	struct fb_conf *c = NULL;

	/* Plain http on a public host: a warning, not an error. */
	CU_ASSERT_EQUAL_FATAL(load("server:\n  public_url: http://sso.example.com/\n", NULL, &c,
	                          &rep),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(c->public_url, "http://sso.example.com");
	CU_ASSERT_EQUAL(fb_conf_report_errors(rep), 0);
	CU_ASSERT_EQUAL(fb_conf_report_warnings(rep), 1);
	CU_ASSERT(fb_conf_report_is_error(rep, 0) == 0);
	CU_ASSERT(has(rep, "t.yaml:2:15: server.public_url: warning: plain http on a non-loopback "
	                   "host: sessions and assertions would cross the network unencrypted (use "
	                   "https:// behind a TLS proxy, or server.tls)"));
	fb_conf_free(c);
	fb_conf_report_free(rep);
	/* Loopback: no warning. */
	CU_ASSERT_EQUAL_FATAL(load("server:\n  public_url: http://[::1]:8080\n", NULL, &c, &rep),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_conf_report_count(rep), 0);
	fb_conf_free(c);
	fb_conf_report_free(rep);
	/* Derived from a public listen address: warned at the listen address. */
	CU_ASSERT_EQUAL_FATAL(load("server:\n  listen: 0.0.0.0:80\n", NULL, &c, &rep), FB_OK);
	CU_ASSERT_STRING_EQUAL(c->public_url, "http://0.0.0.0:80");
	CU_ASSERT(has(rep, "t.yaml:2:11: server.public_url: warning: 'http://0.0.0.0:80' (derived "
	                   "from server.listen) is plain http on a non-loopback host: set "
	                   "server.public_url to the https:// address people use"));
	fb_conf_free(c);
	fb_conf_report_free(rep);
}

/* server.trusted_proxies: addresses and CIDR blocks, kept canonical; bad ones are errors. */
static void
test_trusted_proxies(void)
{
	struct fb_conf_report *rep = NULL;
	struct fb_conf *c = NULL;

	CU_ASSERT_EQUAL_FATAL(load("server:\n  trusted_proxies: [10.0.0.0/8, 192.0.2.7, "
				   "\"2001:DB8::/32\", \"::ffff:172.16.0.0/108\"]\n",
				  NULL, &c, &rep),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_conf_report_count(rep), 0);
	CU_ASSERT_EQUAL_FATAL(c->ntrusted_proxies, 4);
	CU_ASSERT_STRING_EQUAL(c->trusted_proxies[0], "10.0.0.0/8");
	CU_ASSERT_STRING_EQUAL(c->trusted_proxies[1], "192.0.2.7/32");
	CU_ASSERT_STRING_EQUAL(c->trusted_proxies[2], "2001:db8::/32");
	CU_ASSERT_STRING_EQUAL(c->trusted_proxies[3], "172.16.0.0/12");
	/* The defaults: nobody trusted, HSTS for a year, the first lock 1 s. */
	CU_ASSERT_EQUAL(c->hsts_max_age, 31536000);
	fb_conf_free(c);
	fb_conf_report_free(rep);
	CU_ASSERT_EQUAL_FATAL(load("log: {}\n", NULL, &c, &rep), FB_OK);
	CU_ASSERT_EQUAL(c->ntrusted_proxies, 0);
	CU_ASSERT_EQUAL(c->lockout_initial_delay, 1);
	fb_conf_free(c);
	fb_conf_report_free(rep);
	/* One string is a list of one. */
	CU_ASSERT_EQUAL_FATAL(load("server:\n  trusted_proxies: 127.0.0.1\n", NULL, &c, &rep),
	    FB_OK);
	CU_ASSERT_EQUAL_FATAL(c->ntrusted_proxies, 1);
	CU_ASSERT_STRING_EQUAL(c->trusted_proxies[0], "127.0.0.1/32");
	fb_conf_free(c);
	fb_conf_report_free(rep);
	/* Every address: a warning. */
	CU_ASSERT_EQUAL_FATAL(load("server:\n  trusted_proxies: [0.0.0.0/0]\n", NULL, &c, &rep),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_conf_report_warnings(rep), 1);
	CU_ASSERT(mentions(rep, "'0.0.0.0/0' trusts every address"));
	fb_conf_free(c);
	fb_conf_report_free(rep);
	expect_error("server:\n  trusted_proxies: [lb.example.com]\n",
	    "t.yaml:2:21: server.trusted_proxies[0]: not an IPv4 or IPv6 address: "
	    "'lb.example.com' (write 10.0.0.0/8 or 2001:db8::/32)",
	    1);
	expect_error("server:\n  trusted_proxies: [10.1.0.0/8]\n",
	    "t.yaml:2:21: server.trusted_proxies[0]: '10.1.0.0/8': host bits are set beyond the "
	    "/8 prefix",
	    1);
	expect_error("server:\n  trusted_proxies: [10.0.0.0/33]\n",
	    "t.yaml:2:21: server.trusted_proxies[0]: '10.0.0.0/33': the prefix length must be 0 "
	    "to 32",
	    1);
	expect_error("server:\n  hsts_max_age: -1\n",
	    "t.yaml:2:17: server.hsts_max_age: -1 is not a duration in seconds",
	    1);
	expect_error("local:\n  lockout:\n    initial_delay: 0s\n",
	    "t.yaml:3:20: local.lockout.initial_delay: 0s is out of range (allowed: 1s..1d)", 1);
}

static void
test_tls(void)
{
	char *dir = fb_test_tmpdir(), *cert, *text;
	struct fb_conf_report *rep = NULL;
	struct fb_conf *c = NULL;

	cert = fb_test_write_file(dir, "cert.pem", "x");
	text = fb_xasprintf("server:\n  tls:\n    cert: %s\n", cert);
	expect_error(text,
	    "t.yaml:3:11: server.tls.key: missing: server.tls.cert is set; give both "
	    "server.tls.cert and server.tls.key, or neither",
	    1);
	free(text);
	expect_error("server:\n  tls:\n    key: /nonexistent/key.pem\n    cert: /dev/null\n",
	    "t.yaml:3:10: server.tls.key: cannot read '/nonexistent/key.pem': No such file or "
	    "directory",
	    2);
	expect_error("server:\n  tls:\n    key: /nonexistent/key.pem\n    cert: /dev/null\n",
	    "t.yaml:4:11: server.tls.cert: '/dev/null' is not a regular file", 2);
	/* Both, readable: https is the derived public URL. */
	text = fb_xasprintf("server:\n  tls:\n    cert: %s\n    key: %s\n", cert, cert);
	CU_ASSERT_EQUAL_FATAL(load(text, NULL, &c, &rep), FB_OK);
	CU_ASSERT_STRING_EQUAL(c->public_url, "https://127.0.0.1:8080");
	CU_ASSERT_STRING_EQUAL(c->tls_cert, cert);
	fb_conf_free(c);
	fb_conf_report_free(rep);
	free(text);
	free(cert);
	fb_test_rmtree(dir);
	free(dir);
}

static void
test_keys(void)
{
	const char *two_active =
	    "keys:\n"
	    "  - id: a\n    key: /dev/null\n    cert: /dev/null\n"
	    "  - id: b\n    key: /dev/null\n    cert: /dev/null\n    state: active\n";
	char *dir = fb_test_tmpdir(), *f = fb_test_write_file(dir, "k", "k"), *text;

	/* /dev/null is not a regular file: every line above adds that error too. */
	expect_error(two_active,
	    "t.yaml:8:12: keys[1].state: a second active key (keys[0] is active): exactly one key "
	    "signs, mark the others 'state: published'",
	    5);
	text = fb_xasprintf("keys:\n  - id: a\n    key: %s\n    cert: %s\n"
	                    "  - id: a\n    key: %s\n    cert: %s\n    state: published\n",
	    f, f, f, f);
	expect_error(text, "t.yaml:5:9: keys[1].id: duplicate id 'a' (also keys[0])", 1);
	free(text);
	text = fb_xasprintf("keys:\n  - id: a\n    key: %s\n    cert: %s\n    state: published\n",
	    f, f);
	expect_error(text,
	    "t.yaml:1:1: keys: no key is active: mark exactly one key 'state: active' (it signs)",
	    1);
	free(text);
	text = fb_xasprintf("keys:\n  - id: a\n    cert: %s\n", f);
	expect_error(text, "t.yaml:2:5: keys[0].key: missing (required in every key)", 1);
	free(text);
	expect_error("keys:\n  - id: a\n    key: /nonexistent/a.key\n    cert: /dev/null\n",
	    "t.yaml:3:10: keys[0].key: cannot read '/nonexistent/a.key': No such file or directory",
	    2);
	expect_error("keys:\n  - just-a-string\n",
	    "t.yaml:2:5: keys[0]: expected a mapping (id:, key:, cert:, ...), found a string", 1);
	free(f);
	fb_test_rmtree(dir);
	free(dir);
}

static void
test_secrets(void)
{
	struct fb_conf_report *rep = NULL;
	struct fb_conf *c = NULL;
	char *dir = fb_test_tmpdir(), *f, *text, *v = NULL;
	struct fb_err err;

	/* SECURITY: a secret written inline is refused without being repeated. */
	CU_ASSERT_EQUAL(load("store:\n  dsn: postgresql://u:hunter2@db/fb\n", NULL, &c, &rep),
	    FB_ERR_CONFIG);
	CU_ASSERT(has(rep, "t.yaml:2:8: store.dsn: a secret must be given by reference: write "
	                   "env:VARIABLE or file:/path/to/file (the value is not shown)"));
	CU_ASSERT(!mentions(rep, "hunter2"));
	CU_ASSERT_EQUAL(fb_conf_report_errors(rep), 1);
	fb_conf_report_free(rep);
	expect_error("session:\n  cookie_keys: [42]\n",
	    "t.yaml:2:17: session.cookie_keys[0]: expected a secret reference (env:NAME or "
	    "file:PATH), found an integer",
	    1);

	unsetenv("FB_TEST_CONF_UNSET");
	expect_error("store:\n  dsn: env:FB_TEST_CONF_UNSET\n",
	    "t.yaml:2:8: store.dsn: environment variable FB_TEST_CONF_UNSET is not set (from "
	    "env:FB_TEST_CONF_UNSET)",
	    1);
	setenv("FB_TEST_CONF_SHORT", "short", 1);
	expect_error("session:\n  cookie_keys: [env:FB_TEST_CONF_SHORT]\n",
	    "t.yaml:2:17: session.cookie_keys[0]: the secret is 5 bytes long; at least 16 are "
	    "needed "
	    "(make one with: openssl rand -base64 32)",
	    1);
	unsetenv("FB_TEST_CONF_SHORT");
	expect_error("keys:\n  - id: a\n    key: /dev/null\n    cert: /dev/null\n"
	             "    passphrase: file:/nonexistent/pass\n",
	    "t.yaml:5:17: keys[0].passphrase: cannot read secret file '/nonexistent/pass': No such "
	    "file or directory",
	    3);

	/* file: keeps everything but one trailing newline. */
	f = fb_test_write_file(dir, "s1", "line one\nline two\n\n");
	text = fb_xasprintf("file:%s", f);
	CU_ASSERT_EQUAL(fb_conf_secret_resolve(text, &v, &err), FB_OK);
	CU_ASSERT_STRING_EQUAL(v, "line one\nline two\n");
	fb_secret_free(v);
	free(text);
	free(f);
	f = fb_test_write_file(dir, "s2", "");
	text = fb_xasprintf("file:%s", f);
	CU_ASSERT_EQUAL(fb_conf_secret_resolve(text, &v, &err), FB_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT(strstr(err.msg, "is empty") != NULL);
	free(text);
	free(f);
	CU_ASSERT_EQUAL(fb_conf_secret_resolve("plain-Secret-123", &v, &err), FB_ERR_CONFIG);
	CU_ASSERT(strstr(err.msg, "plain-Secret-123") == NULL);
	CU_ASSERT(strstr(err.msg, "env:VARIABLE or file:") != NULL);
	CU_ASSERT_EQUAL(fb_conf_secret_resolve("env:1X", &v, &err), FB_ERR_CONFIG);
	CU_ASSERT_EQUAL(fb_conf_secret_resolve("file:", &v, &err), FB_ERR_CONFIG);
	setenv("FB_TEST_CONF_EMPTY", "", 1);
	CU_ASSERT_EQUAL(fb_conf_secret_resolve("env:FB_TEST_CONF_EMPTY", &v, &err), FB_ERR_CONFIG);
	unsetenv("FB_TEST_CONF_EMPTY");
	fb_test_rmtree(dir);
	free(dir);
}

/* A resolved secret never reaches the log. */
static void
test_secret_redacted(void)
{
	char path[] = "/tmp/fb-conf-log-XXXXXX", buf[4096];
	const char *secret = "conf-Redaction-Canary-7c1e9";
	struct fb_conf_report *rep = NULL;
	struct fb_conf *c = NULL;
	ssize_t n;
	int fd = mkstemp(path);

	CU_ASSERT_FATAL(fd >= 0);
	setenv("FB_TEST_CONF_CANARY", secret, 1);
	CU_ASSERT_EQUAL_FATAL(load("store:\n  dsn: env:FB_TEST_CONF_CANARY\n", NULL, &c, &rep),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(c->store_dsn, secret);
	fb_log_setup(FB_LOG_LOGFMT, FB_LOG_DEBUG, fd);
	fb_log(FB_LOG_INFO, "connecting with %s now", c->store_dsn);
	fb_log_setup(FB_LOG_LOGFMT, FB_LOG_ERROR, 2);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	CU_ASSERT_FATAL(n > 0);
	buf[n] = '\0';
	CU_ASSERT(strstr(buf, secret) == NULL);
	CU_ASSERT(strstr(buf, "[REDACTED]") != NULL);
	close(fd);
	unlink(path);
	unsetenv("FB_TEST_CONF_CANARY");
	fb_conf_free(c);
	fb_conf_report_free(rep);
}

static void
test_yaml_safety(void)
{
	expect_error("base: &b\n  level: info\nlog: *b\n",
	    "t.yaml:1:7: base: anchors (&b) are not allowed: write each value out", 3);
	expect_error("base: &b\n  level: info\nlog: *b\n",
	    "t.yaml:3:6: log: aliases (*b) are not allowed: write each value out", 3);
	/* An alias as a key drops its value, which is not read as a key. */
	expect_error("a: &x k\n*x : {level: info}\n",
	    "t.yaml:2:1: yaml: aliases (*x) are not allowed: write each value out", 3);
	expect_error("log:\n  level: info\n  level: debug\n",
	    "t.yaml:3:3: log.level: duplicate key 'level' (first at line 2)", 1);
	expect_error("log: !!map {level: info}\n",
	    "t.yaml:1:6: log: tags (tag:yaml.org,2002:map) are not allowed", 1);
	expect_error("log: {level: warn}\n---\nlog: {level: info}\n",
	    "t.yaml:2:1: yaml: a second document starts here: the file must hold one document", 1);
	expect_error("? [a, b]\n: c\nlog: {}\n",
	    "t.yaml:1:3: yaml: a mapping key must be a plain name, not a list or mapping", 1);
	expect_error("", "t.yaml: the file is empty: write at least one section (e.g. server:)", 1);
	expect_error("# only a comment\n",
	    "t.yaml: the file is empty: write at least one section (e.g. server:)", 1);
}

static void
test_yaml_syntax(void)
{
	struct fb_conf_report *rep = NULL;
	struct fb_conf *c = NULL;
	char *deep, *big;

	expect_error("server:\n  listen: [\"127.0.0.1:1\"\n  workers: 2\n",
	    "t.yaml:3:3: yaml: did not find expected ',' or ']' (while parsing a flow sequence at "
	    "line 2 column 11)",
	    1);
	expect_error("log:\n  level: info\n bad: 1\n",
	    "t.yaml:3:2: yaml: did not find expected key (while parsing a block mapping at line 1 "
	    "column 1); check the indentation: the keys (or list items) of one section start in "
	    "the same column, with spaces",
	    1);
	/* Hints for what a person most often gets wrong: tabs, indentation. */
	expect_error("server:\n\tworkers: 2\n",
	    "t.yaml:2:1: yaml: found character that cannot start any token (while scanning for the "
	    "next token at line 2 column 1); YAML does not allow tabs for indentation: indent with "
	    "spaces",
	    1);
	expect_error("server:\n  workers: 2\n   listen: x\n",
	    "t.yaml:3:10: yaml: mapping values are not allowed in this context; check the "
	    "indentation (this line is indented more than the key before it), or quote a value "
	    "that holds ': '",
	    1);
	expect_error("log: \"\\xff\n",
	    "t.yaml:2:1: yaml: found unexpected end of stream (while "
	    "scanning a quoted scalar at line 1 column 6)",
	    1);
	/* Not UTF-8: libyaml names the byte's place. */
	CU_ASSERT_EQUAL(load("log:\n  level: \xff\xfe\n", NULL, &c, &rep), FB_ERR_CONFIG);
	CU_ASSERT(mentions(rep, "UTF-8"));
	CU_ASSERT_EQUAL(fb_conf_report_errors(rep), 1);
	fb_conf_report_free(rep);
	/* Nesting is bounded (jansson frees recursively). */
	{
		struct fb_buf b;

		fb_buf_init(&b, 1 << 20);
		fb_buf_add(&b, "server: ", 8, NULL);
		for (int i = 0; i < 5000; i++)
			fb_buf_add(&b, "[", 1, NULL);
		deep = fb_buf_take(&b);
	}
	expect_error(deep,
	    "t.yaml:1:40: server[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
	    "[0][0][0][0][0][0][0][0][0]: nested deeper than 32 levels",
	    1);
	free(deep);
	big = fb_xmalloc(FB_CONF_MAX_BYTES + 2);
	memset(big, '#', FB_CONF_MAX_BYTES + 1);
	big[FB_CONF_MAX_BYTES + 1] = '\0';
	expect_error(big, "t.yaml: the file is larger than 1 MiB", 1);
	free(big);
}

static void
test_multiple_problems(void)
{
	const char *text = "server:\n"
	                   "  listn: \"127.0.0.1:8080\"\n"
	                   "  workers: 100000\n"
	                   "log:\n"
	                   "  access: \"perhaps\"\n"
	                   "session:\n"
	                   "  cookie_keys: [\"inline-Secret-Value-0123456789\"]\n";
	struct fb_conf_report *rep = NULL;
	struct fb_conf *c = NULL;
	struct fb_err err;

	CU_ASSERT_EQUAL(fb_conf_load_string(text, strlen(text), "t.yaml", NULL, &c, &rep, &err),
	    FB_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL_FATAL(fb_conf_report_count(rep), 4);
	CU_ASSERT_EQUAL(fb_conf_report_errors(rep), 4);
	/* In file order, and err carries the first. */
	CU_ASSERT_STRING_EQUAL(fb_conf_report_line(rep, 0),
	    "t.yaml:2:3: server.listn: unknown key 'listn' (did you mean 'listen'?)");
	CU_ASSERT_STRING_EQUAL(fb_conf_report_line(rep, 1),
	    "t.yaml:3:12: server.workers: 100000 is out of range (allowed: 0..256)");
	CU_ASSERT_STRING_EQUAL(fb_conf_report_line(rep, 2),
	    "t.yaml:5:11: log.access: expected a boolean (true or false), found a string");
	CU_ASSERT_STRING_EQUAL(fb_conf_report_line(rep, 3),
	    "t.yaml:7:17: session.cookie_keys[0]: a secret must be given by reference: write "
	    "env:VARIABLE or file:/path/to/file (the value is not shown)");
	CU_ASSERT_STRING_EQUAL(err.msg, fb_conf_report_line(rep, 0));
	CU_ASSERT_EQUAL(err.code, FB_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(fb_conf_report_line(rep, 4));
	fb_conf_report_free(rep);
}

static void
test_overrides(void)
{
	struct fb_conf_overrides ov = {"0.0.0.0:9000,[::1]:9001", "rel/state", 7};
	struct fb_conf_report *rep = NULL;
	struct fb_conf *c = NULL;
	char *cwd = getcwd(NULL, 0), *want;

	CU_ASSERT_EQUAL_FATAL(load("server:\n  listen: 127.0.0.1:1\n  workers: 2\n  public_url: "
	                           "http://localhost\n",
	                          &ov, &c, &rep),
	    FB_OK);
	CU_ASSERT_EQUAL_FATAL(c->nlisten, 2);
	CU_ASSERT_STRING_EQUAL(c->listen[0], "0.0.0.0:9000");
	CU_ASSERT_STRING_EQUAL(c->listen[1], "[::1]:9001");
	CU_ASSERT_EQUAL(c->workers, 7);
	want = fb_xasprintf("%s/rel/state", cwd);
	CU_ASSERT_STRING_EQUAL(c->state_dir, want);
	free(want);
	fb_conf_free(c);
	fb_conf_report_free(rep);

	/* Checked like file values, reported at "(command line)". */
	ov.listen = "localhost";
	ov.state_dir = NULL;
	ov.workers = 999;
	CU_ASSERT_EQUAL(load("log: {}\n", &ov, &c, &rep), FB_ERR_CONFIG);
	CU_ASSERT(
	    has(rep, "(command line): server.workers: 999 is out of range (allowed: 0..256)"));
	CU_ASSERT(has(rep, "(command line): server.listen[0]: 'localhost' has no port: write "
	                   "ADDRESS:PORT (e.g. 127.0.0.1:8080)"));
	CU_ASSERT_EQUAL(fb_conf_report_errors(rep), 2);
	fb_conf_report_free(rep);
	ov.listen = NULL;
	ov.workers = -1;
	ov.state_dir = "";
	CU_ASSERT_EQUAL(load("log: {}\n", &ov, &c, &rep), FB_ERR_CONFIG);
	CU_ASSERT(has(rep, "(command line): server.state_dir: the path is empty"));
	fb_conf_report_free(rep);
	free(cwd);
}

static void
test_files(void)
{
	char *dir = fb_test_tmpdir(), *sub = fb_xasprintf("%s/etc", dir), *path, *text, *want;
	struct fb_conf_report *rep = NULL;
	struct fb_conf *c = NULL;
	struct fb_err err;

	CU_ASSERT_FATAL(mkdir(sub, 0700) == 0);
	free(fb_test_write_file(sub, "cookie", "abcdefghijklmnopqrstuvwxyz\n"));
	text = fb_xasprintf("server:\n  state_dir: ../var\nstore:\n  path: db/x.db\n"
	                    "session:\n  cookie_keys: [file:cookie]\n");
	path = fb_test_write_file(sub, "fb.yaml", text);
	CU_ASSERT_EQUAL_FATAL(fb_conf_load(path, NULL, &c, &rep, &err), FB_OK);
	want = fb_xasprintf("%s/../var", sub);
	CU_ASSERT_STRING_EQUAL(c->state_dir, want);
	free(want);
	want = fb_xasprintf("%s/db/x.db", sub);
	CU_ASSERT_STRING_EQUAL(c->store_path, want);
	free(want);
	CU_ASSERT_STRING_EQUAL(c->cookie_secrets[0], "abcdefghijklmnopqrstuvwxyz");
	fb_conf_free(c);
	fb_conf_report_free(rep);
	free(path);
	free(text);

	/* Unreadable: FB_ERR_IO and one line naming the file. */
	path = fb_xasprintf("%s/missing.yaml", dir);
	CU_ASSERT_EQUAL(fb_conf_load(path, NULL, &c, &rep, &err), FB_ERR_IO);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL(fb_conf_report_count(rep), 1);
	CU_ASSERT(strstr(fb_conf_report_line(rep, 0), path) != NULL);
	CU_ASSERT(strstr(err.msg, "No such file or directory") != NULL);
	fb_conf_report_free(rep);
	free(path);
	CU_ASSERT_EQUAL(fb_conf_load(dir, NULL, &c, &rep, &err), FB_ERR_IO);
	CU_ASSERT(strstr(err.msg, "not a regular file") != NULL);
	fb_conf_report_free(rep);

	/* The shipped demo configuration is valid. */
	CU_ASSERT_EQUAL(fb_conf_load(FB_SRCDIR "/contrib/demo/fedbroker.yaml", NULL, &c, &rep,
	                    &err),
	    FB_OK);
	CU_ASSERT_EQUAL(fb_conf_report_count(rep), 0);
	if (c != NULL) {
		CU_ASSERT_STRING_EQUAL(c->listen[0], "127.0.0.1:8080");
		CU_ASSERT_STRING_EQUAL(c->public_url, "http://localhost:8080");
		CU_ASSERT_EQUAL(c->log_format, FB_LOG_LOGFMT);
	}
	fb_conf_free(c);
	fb_conf_report_free(rep);
	free(sub);
	fb_test_rmtree(dir);
	free(dir);
}

static void
test_scalars(void)
{
	json_t *v;

	v = fb_conf_yaml_plain("42", 2);
	CU_ASSERT(json_is_integer(v) && json_integer_value(v) == 42);
	json_decref(v);
	v = fb_conf_yaml_plain("-1e3", 4);
	CU_ASSERT(json_is_real(v));
	json_decref(v);
	v = fb_conf_yaml_plain("99999999999999999999", 20);
	CU_ASSERT(json_is_real(v));
	json_decref(v);
	v = fb_conf_yaml_plain("~", 1);
	CU_ASSERT(json_is_null(v));
	json_decref(v);
	v = fb_conf_yaml_plain("True", 4);
	CU_ASSERT(json_is_string(v));
	json_decref(v);
	v = fb_conf_yaml_plain("0x10", 4);
	CU_ASSERT(json_is_string(v));
	json_decref(v);
	v = fb_conf_yaml_plain("1.", 2);
	CU_ASSERT(json_is_real(v));
	json_decref(v);
	v = fb_conf_yaml_plain(".", 1);
	CU_ASSERT(json_is_string(v));
	json_decref(v);
}

/* Loads text expecting success with exactly these report lines (warnings). */
static struct fb_conf *
expect_ok(const char *text, size_t nwarn, const char *line)
{
	struct fb_conf_report *rep = NULL;
	struct fb_conf *conf = NULL;

	CU_ASSERT_EQUAL(load(text, NULL, &conf, &rep), FB_OK);
	CU_ASSERT_EQUAL(fb_conf_report_warnings(rep), nwarn);
	CU_ASSERT_EQUAL(fb_conf_report_errors(rep), 0);
	if (fb_conf_report_count(rep) != nwarn)
		for (size_t i = 0; i < fb_conf_report_count(rep); i++)
			fprintf(stderr, "\n  %s", fb_conf_report_line(rep, i));
	if (line != NULL)
		CU_ASSERT(has(rep, line));
	fb_conf_report_free(rep);
	return conf;
}

/*
 * store.driver: postgres needs store.dsn (refused where the driver is
 * written, before anything is created); with one it loads, and the new
 * store keys have their defaults.
 */
static void
test_store_postgres_conf(void)
{
	static const char *const line =
	    "t.yaml:3:11: store.driver: 'postgres' needs store.dsn, the connection string (by "
	    "secret reference)";
	struct fb_conf *c;

	setenv("FB_TEST_CONF_DSN", "postgresql://fb:pw-0123@db/fb", 1);
	c = expect_ok("log: {level: info}\nstore:\n  driver: postgres\n  dsn: env:FB_TEST_CONF_DSN\n",
	    0, NULL);
	CU_ASSERT_EQUAL(c->store_driver, FB_STORE_POSTGRES);
	CU_ASSERT_TRUE(fb_conf_store_is_shared(c));
	CU_ASSERT_EQUAL(c->store_pool_size, 1);
	CU_ASSERT_EQUAL(c->store_connect_timeout, 5);
	CU_ASSERT_EQUAL(c->store_statement_timeout_ms, 5000);
	CU_ASSERT_PTR_NULL(c->store_tls_ca);
	fb_conf_free(c);
	c = expect_ok("store:\n  driver: postgres\n  dsn: env:FB_TEST_CONF_DSN\n"
		      "  pool_size: 4\n  connect_timeout: 2s\n  statement_timeout: 250ms\n"
		      "  tls_ca: /etc/ssl/db-ca.pem\n",
	    1,
	    "t.yaml:4:14: store.pool_size: warning: 4 is ignored: each worker and the jobs process "
	    "holds one connection, as a worker makes one store call at a time");
	CU_ASSERT_EQUAL(c->store_pool_size, 4);
	CU_ASSERT_EQUAL(c->store_connect_timeout, 2);
	CU_ASSERT_EQUAL(c->store_statement_timeout_ms, 250);
	CU_ASSERT_STRING_EQUAL(c->store_tls_ca, "/etc/ssl/db-ca.pem");
	fb_conf_free(c);
	expect_error("log: {level: info}\nstore:\n  driver: postgres\n", line, 1);
	expect_error("log: {level: info}\nstore:\n  driver: postgres\n  path: x.db\n", line, 1);
	unsetenv("FB_TEST_CONF_DSN");
	/* sqlite (the default) stays fine, a dsn beside it a warning. */
	fb_conf_free(expect_ok("store:\n  driver: sqlite\n", 0, NULL));
	fb_conf_free(expect_ok("store:\n  dsn: env:HOME\n", 1,
	    "t.yaml:2:8: store.dsn: warning: ignored: store.driver is sqlite"));
}

/*
 * Key ids and group names follow one rule (conf/keys.c short_name): 1 to 64
 * letters, digits, '.', '_' or '-'. The same edges hold for both.
 */
static void
test_short_names(void)
{
	static const char *const ok64 =
	    "a23456789012345678901234567890123456789012345678901234567890.-_4";
	static const char *const long65 =
	    "a2345678901234567890123456789012345678901234567890123456789012345";
	static const struct {
		const char *before, *after, *where, *what;
		size_t nerr;
	} too_long[] = {
	    {"groups:\n  - name: ", "\n", "t.yaml:2:11: groups[0].name", "group name", 1},
	    {"keys:\n  - id: ", "\n    key: /dev/null\n    cert: /dev/null\n",
	        "t.yaml:2:9: keys[0].id", "key id", 3},
	};
	struct fb_conf *c;
	char *y, *line;

	CU_ASSERT_EQUAL_FATAL(strlen(ok64), 64);
	CU_ASSERT_EQUAL_FATAL(strlen(long65), 65);
	y = fb_xasprintf("groups:\n  - name: %s\n", ok64);
	c = expect_ok(y, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL(c);
	if (c != NULL)
		CU_ASSERT_STRING_EQUAL(c->groups[0].name, ok64);
	fb_conf_free(c);
	free(y);
	/* 65 characters are too many for either. */
	for (size_t i = 0; i < sizeof(too_long) / sizeof(too_long[0]); i++) {
		y = fb_xasprintf("%s%s%s", too_long[i].before, long65, too_long[i].after);
		line = fb_xasprintf("%s: '%s' is not a %s: %s", too_long[i].where, long65,
		    too_long[i].what, "use 1 to 64 letters, digits, '.', '_' or '-'");
		expect_error(y, line, too_long[i].nerr);
		free(line);
		free(y);
	}
	/* 64 characters are a key id: only the key and certificate are wrong. */
	y = fb_xasprintf("keys:\n  - id: %s\n    key: /dev/null\n    cert: /dev/null\n", ok64);
	{
		struct fb_conf_report *rep = NULL;
		struct fb_conf *conf = NULL;

		CU_ASSERT_EQUAL(load(y, NULL, &conf, &rep), FB_ERR_CONFIG);
		CU_ASSERT_FALSE(mentions(rep, "is not a key id"));
		fb_conf_report_free(rep);
		fb_conf_free(conf);
	}
	free(y);
	/* The groups an SP lists are group names by the same rule. */
	expect_error("saml:\n  service_providers:\n    - name: sp\n      groups: [\"a b\"]\n",
	    "t.yaml:4:16: saml.service_providers[0].groups[0]: 'a b' is not a group name: "
	    "use 1 to 64 letters, digits, '.', '_' or '-'",
	    3);
}

static void
test_groups(void)
{
	struct fb_conf *c;
	char *j;

	c = expect_ok("groups:\n"
	              "  - name: superusers\n"
	              "    members: [admin, alice]\n"
	              "    require_mfa: true\n"
	              "    attributes:\n"
	              "      aws_role: Admin\n"
	              "      level: 3\n"
	              "      ratio: 0.5\n"
	              "      on: true\n"
	              "      quoted: \"42\"\n"
	              "      none:\n"
	              "      list: [a, 1, false]\n"
	              "      nested: {deep: {x: y}}\n"
	              "  - name: readers.eu-1_x\n"
	              "    members: bob\n"
	              "  - name: empty\n",
	    0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(c->ngroups, 3);
	CU_ASSERT_STRING_EQUAL(c->groups[0].name, "superusers");
	CU_ASSERT_EQUAL_FATAL(c->groups[0].nmembers, 2);
	CU_ASSERT_STRING_EQUAL(c->groups[0].members[0], "admin");
	CU_ASSERT_STRING_EQUAL(c->groups[0].members[1], "alice");
	CU_ASSERT_EQUAL(c->groups[0].require_mfa, 1);
	/* Free-form values keep their YAML types. */
	j = json_dumps(c->groups[0].attributes, JSON_SORT_KEYS | JSON_COMPACT);
	CU_ASSERT_STRING_EQUAL(j, "{\"aws_role\":\"Admin\",\"level\":3,\"list\":[\"a\",1,false],"
	                          "\"nested\":{\"deep\":{\"x\":\"y\"}},\"none\":null,\"on\":true,"
	                          "\"quoted\":\"42\",\"ratio\":0.5}");
	free(j);
	/* A single member may be a plain string; defaults: no members, {}, no MFA. */
	CU_ASSERT_STRING_EQUAL(c->groups[1].name, "readers.eu-1_x");
	CU_ASSERT_EQUAL_FATAL(c->groups[1].nmembers, 1);
	CU_ASSERT_STRING_EQUAL(c->groups[1].members[0], "bob");
	CU_ASSERT_EQUAL(c->groups[1].require_mfa, 0);
	CU_ASSERT(json_is_object(c->groups[1].attributes) &&
	          json_object_size(c->groups[1].attributes) == 0);
	CU_ASSERT_EQUAL(c->groups[2].nmembers, 0);
	CU_ASSERT(json_is_object(c->groups[2].attributes));
	fb_conf_free(c);
	/* attributes: with nothing is {} too. */
	c = expect_ok("groups:\n  - name: a\n    attributes:\n", 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT(json_is_object(c->groups[0].attributes));
	fb_conf_free(c);
	/* A member listed twice: a warning. */
	c = expect_ok("groups:\n  - name: a\n    members: [x, y, x]\n", 1,
	    "t.yaml:3:21: groups[0].members[2]: warning: 'x' is listed twice");
	fb_conf_free(c);

	expect_error("groups:\n  - name: admins\n  - name: ops\n  - name: admins\n",
	    "t.yaml:4:11: groups[2].name: duplicate group 'admins' (also groups[0])", 1);
	expect_error("groups:\n  - name: \"bad name\"\n",
	    "t.yaml:2:11: groups[0].name: 'bad name' is not a group name: use 1 to 64 letters, "
	    "digits, '.', '_' or '-'",
	    1);
	expect_error("groups:\n  - members: [a]\n",
	    "t.yaml:2:5: groups[0].name: missing (required in every group)", 1);
	expect_error("groups:\n  - admins\n",
	    "t.yaml:2:5: groups[0]: expected a mapping (name:, ...), found a string", 1);
	expect_error("groups: {name: a}\n",
	    "t.yaml:1:9: groups: expected a list of mappings, found a mapping", 1);
	expect_error("groups:\n  - name: a\n    membres: [x]\n",
	    "t.yaml:3:5: groups[0].membres: unknown key 'membres' (did you mean 'members'?)", 1);
	expect_error("groups:\n  - name: a\n    attributes: [x]\n",
	    "t.yaml:3:17: groups[0].attributes: expected a mapping, found a list", 1);
	expect_error("groups:\n  - name: a\n    attributes: Admin\n",
	    "t.yaml:3:17: groups[0].attributes: expected a mapping, found a string", 1);
	expect_error("groups:\n  - name: a\n    members: [\"\"]\n",
	    "t.yaml:3:15: groups[0].members[0]: '' is not a username: 1 to 256 bytes of UTF-8, no "
	    "control characters, no leading or trailing space",
	    1);
	expect_error("groups:\n  - name: a\n    members: {x: 1}\n",
	    "t.yaml:3:14: groups[0].members: expected a string or a list of strings, found a "
	    "mapping",
	    1);
	expect_error("groups:\n  - name: a\n    require_mfa: yes\n",
	    "t.yaml:3:18: groups[0].require_mfa: 'yes' is not a boolean here: write true or false",
	    1);
}

static void
test_local(void)
{
	struct fb_conf *c;

	setenv("FB_TEST_BOOT_PW", "correct horse battery", 1);
	setenv("FB_TEST_BOOT_TOKEN", "0123456789abcdef0123456789abcdef", 1);
	setenv("FB_TEST_SHORT", "short", 1);
	c = expect_ok("local:\n"
	              "  password: {time_cost: 2, memory_kib: 19456, parallelism: 4}\n"
	              "  bootstrap:\n"
	              "    password: env:FB_TEST_BOOT_PW\n"
	              "    token: env:FB_TEST_BOOT_TOKEN\n"
	              "  lockout: {max_failures: 3, window: 1h, max_delay: 30s}\n"
	              "  recovery_link_lifetime: 2h\n",
	    0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->argon2_t_cost, 2);
	CU_ASSERT_EQUAL(c->argon2_m_cost_kib, 19456);
	CU_ASSERT_EQUAL(c->argon2_parallelism, 4);
	CU_ASSERT_EQUAL(c->bootstrap_enabled, 1);
	CU_ASSERT_STRING_EQUAL(c->bootstrap_password, "correct horse battery");
	CU_ASSERT_STRING_EQUAL(c->bootstrap_token, "0123456789abcdef0123456789abcdef");
	CU_ASSERT_EQUAL(c->lockout_max_failures, 3);
	CU_ASSERT_EQUAL(c->lockout_window, 3600);
	CU_ASSERT_EQUAL(c->lockout_max_delay, 30);
	CU_ASSERT_EQUAL(c->recovery_lifetime, 7200);
	fb_conf_free(c);
	/* Disabled bootstrap: its secrets are ignored, with a warning. */
	c = expect_ok(
	    "local:\n  bootstrap:\n    enabled: false\n    password: env:FB_TEST_BOOT_PW\n", 1,
	    "t.yaml:4:15: local.bootstrap.password: warning: ignored: local.bootstrap.enabled is "
	    "false");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->bootstrap_enabled, 0);
	fb_conf_free(c);

	expect_error("local:\n  password:\n    time_cost: 0\n",
	    "t.yaml:3:16: local.password.time_cost: 0 is out of range (allowed: 1..10)", 1);
	expect_error("local:\n  password:\n    memory_kib: 4194305\n",
	    "t.yaml:3:17: local.password.memory_kib: 4194305 is out of range (allowed: "
	    "8..4194304)",
	    1);
	expect_error("local:\n  password:\n    parallelism: 17\n",
	    "t.yaml:3:18: local.password.parallelism: 17 is out of range (allowed: 1..16)", 1);
	expect_error("local:\n  password:\n    memory_kib: 64\n    parallelism: 16\n",
	    "t.yaml:3:17: local.password.memory_kib: 64 KiB is too little for parallelism 16: "
	    "argon2 needs at least 8 KiB per lane (128 KiB)",
	    1);
	/* SECURITY: secrets by reference only, never echoed. */
	expect_error("local:\n  bootstrap:\n    password: hunter2hunter2\n",
	    "t.yaml:3:15: local.bootstrap.password: a secret must be given by reference: write "
	    "env:VARIABLE or file:/path/to/file (the value is not shown)",
	    1);
	expect_error("local:\n  bootstrap:\n    password: env:FB_TEST_SHORT\n",
	    "t.yaml:3:15: local.bootstrap.password: the password is 5 bytes long; at least 12 are "
	    "needed",
	    1);
	expect_error("local:\n  bootstrap:\n    token: env:FB_TEST_SHORT\n",
	    "t.yaml:3:12: local.bootstrap.token: the token is 5 bytes long; at least 32 are needed "
	    "(make one with: openssl rand -hex 32)",
	    1);
	expect_error("local:\n  lockout:\n    max_failures: 0\n",
	    "t.yaml:3:19: local.lockout.max_failures: 0 is out of range (allowed: 1..100)", 1);
	expect_error("local:\n  lockout:\n    window: 30s\n",
	    "t.yaml:3:13: local.lockout.window: 30s is out of range (allowed: 1m..7d)", 1);
	expect_error("local:\n  lockout:\n    max_delay: 2d\n",
	    "t.yaml:3:16: local.lockout.max_delay: 2d is out of range (allowed: 1s..1d)", 1);
	expect_error("local:\n  recovery_link_lifetime: 8d\n",
	    "t.yaml:2:27: local.recovery_link_lifetime: 8d is out of range (allowed: 1m..7d)", 1);
	expect_error("local:\n  recovery_link_lifetme: 1h\n",
	    "t.yaml:2:3: local.recovery_link_lifetme: unknown key 'recovery_link_lifetme' (did you "
	    "mean 'recovery_link_lifetime'?)",
	    1);
	unsetenv("FB_TEST_BOOT_PW");
	unsetenv("FB_TEST_BOOT_TOKEN");
	unsetenv("FB_TEST_SHORT");
}

static void
test_smtp(void)
{
	struct fb_conf *c;

	setenv("FB_TEST_SMTP_PASSWORD", "BPz-ses-smtp-password", 1);
	/* The AWS SES settings. */
	c = expect_ok("smtp:\n"
	              "  host: email-smtp.eu-west-1.amazonaws.com\n"
	              "  username: AKIAIOSFODNN7EXAMPLE\n"
	              "  password: env:FB_TEST_SMTP_PASSWORD\n"
	              "  from: \"Example SSO <sso@example.com>\"\n"
	              "  timeout: 10s\n",
	    0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(c->smtp_host, "email-smtp.eu-west-1.amazonaws.com");
	CU_ASSERT_EQUAL(c->smtp_port, 587);
	CU_ASSERT_EQUAL(c->smtp_security, FB_SMTP_STARTTLS);
	CU_ASSERT_STRING_EQUAL(c->smtp_username, "AKIAIOSFODNN7EXAMPLE");
	CU_ASSERT_STRING_EQUAL(c->smtp_password, "BPz-ses-smtp-password");
	CU_ASSERT_STRING_EQUAL(c->smtp_from, "Example SSO <sso@example.com>");
	CU_ASSERT_EQUAL(c->smtp_timeout, 10);
	fb_conf_free(c);
	/* The port follows the security by default. */
	c = expect_ok("smtp: {host: mail.example.com, security: tls, from: a@example.com}\n", 0,
	    NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->smtp_port, 465);
	CU_ASSERT_EQUAL(c->smtp_security, FB_SMTP_TLS);
	fb_conf_free(c);
	/* Plain SMTP to a loopback relay: no warning; an IPv6 literal loses its brackets. */
	c = expect_ok("smtp: {host: \"[::1]\", security: none, from: a@example.com}\n", 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(c->smtp_host, "::1");
	CU_ASSERT_EQUAL(c->smtp_port, 25);
	fb_conf_free(c);
	c = expect_ok("smtp: {host: 127.0.0.1, port: 2525, security: none, from: a@example.com}\n",
	    0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->smtp_port, 2525);
	fb_conf_free(c);
	/* Plain SMTP elsewhere: a warning. */
	c = expect_ok("smtp:\n  host: mail.example.com\n  security: none\n  from: a@example.com\n",
	    1,
	    "t.yaml:3:13: smtp.security: warning: none sends mail unencrypted to the non-loopback "
	    "host 'mail.example.com': use starttls or tls");
	fb_conf_free(c);
	c = expect_ok("smtp:\n  host: mail.example.com\n  port: 587\n  security: tls\n"
	              "  from: a@example.com\n",
	    1,
	    "t.yaml:3:9: smtp.port: warning: port 587 usually expects STARTTLS (security: "
	    "starttls), but smtp.security is tls");
	fb_conf_free(c);
	/* Keys without a host: email is off, they are ignored. */
	c = expect_ok("smtp:\n  from: a@example.com\n", 1,
	    "t.yaml:2:9: smtp.from: warning: ignored: smtp.host is not set, so email is off");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NULL(c->smtp_host);
	fb_conf_free(c);
	/* A display name with UTF-8 and quotes around it. */
	c = expect_ok("smtp: {host: h, from: '\"F\xc3\xa9"
	              "d SSO\" <sso@example.com>'}\n",
	    0, NULL);
	fb_conf_free(c);

	expect_error("smtp:\n  host: mail.example.com\n",
	    "t.yaml:2:9: smtp.from: missing: required when smtp.host is set (e.g. from: \"Example "
	    "SSO <sso@example.com>\")",
	    1);
	expect_error("smtp:\n  host: h\n  from: \"Me <me@@example.com>\"\n",
	    "t.yaml:3:9: smtp.from: 'me@@example.com' is not an email address (write "
	    "user@example.com or Name <user@example.com>; quoted local parts and non-ASCII "
	    "addresses are not supported)",
	    1);
	expect_error("smtp:\n  host: h\n  from: \"Me <me@example.com\"\n",
	    "t.yaml:3:9: smtp.from: 'Me <me@example.com' is not a mailbox: write "
	    "user@example.com or Name <user@example.com>",
	    1);
	expect_error("smtp:\n  host: h\n  from: \"sso@example.com\\r\\nBcc: x@example.com\"\n",
	    "t.yaml:3:9: smtp.from: the address contains a line break or control character", 1);
	expect_error("smtp:\n  host: smtps://mail.example.com\n  from: a@example.com\n",
	    "t.yaml:2:9: smtp.host: 'smtps://mail.example.com' is a URL: give only the host name "
	    "(e.g. email-smtp.eu-west-1.amazonaws.com) and set smtp.port and smtp.security",
	    1);
	expect_error("smtp:\n  host: mail.example.com:587\n  from: a@example.com\n",
	    "t.yaml:2:9: smtp.host: 'mail.example.com:587': give the port in smtp.port, not in the "
	    "host name",
	    1);
	expect_error("smtp:\n  host: -bad-.example.com\n  from: a@example.com\n",
	    "t.yaml:2:9: smtp.host: '-bad-.example.com' is not a host name or IP address", 1);
	expect_error("smtp:\n  host: h\n  from: a@example.com\n  password: s3cr3t\n",
	    "t.yaml:4:13: smtp.password: a secret must be given by reference: write env:VARIABLE "
	    "or file:/path/to/file (the value is not shown)",
	    2);
	expect_error("smtp:\n  host: h\n  from: a@example.com\n  username: AKIA\n",
	    "t.yaml:4:13: smtp.password: missing: smtp.username is set; give both smtp.username "
	    "and smtp.password, or neither",
	    1);
	expect_error("smtp:\n  host: h\n  from: a@example.com\n  security: ssl\n",
	    "t.yaml:4:13: smtp.security: unknown value 'ssl' (expected one of: starttls, tls, "
	    "none)",
	    1);
	expect_error("smtp:\n  host: h\n  from: a@example.com\n  port: 0\n",
	    "t.yaml:4:9: smtp.port: 0 is out of range (allowed: 1..65535)", 1);
	expect_error("smtp:\n  host: h\n  from: a@example.com\n  timeout: 11m\n",
	    "t.yaml:4:12: smtp.timeout: 11m is out of range (allowed: 1s..10m)", 1);
	expect_error("smtp:\n  hots: h\n",
	    "t.yaml:2:3: smtp.hots: unknown key 'hots' (did you mean 'host'?)", 1);
	unsetenv("FB_TEST_SMTP_PASSWORD");
}

static void
test_branding(void)
{
	struct fb_conf *c;

	c = expect_ok("branding:\n  organization: \"Universit\xc3\xa9 d'Exemple\"\n"
	              "  logo_url: https://cdn.example.org/logo.svg\n",
	    0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(c->org_name, "Universit\xc3\xa9 d'Exemple");
	CU_ASSERT_STRING_EQUAL(c->logo_url, "https://cdn.example.org/logo.svg");
	fb_conf_free(c);
	c = expect_ok("branding:\n  logo_url: /static/logo.png\n", 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(c->logo_url, "/static/logo.png");
	fb_conf_free(c);

	expect_error("branding:\n  organization: \"\"\n",
	    "t.yaml:2:17: branding.organization: must be 1 to 256 bytes long (found 0)", 1);
	expect_error("branding:\n  organization: \"a\\nb\"\n",
	    "t.yaml:2:17: branding.organization: must be one line of UTF-8 text without control "
	    "characters",
	    1);
	expect_error("branding:\n  logo_url: http://cdn.example.org/logo.svg\n",
	    "t.yaml:2:13: branding.logo_url: 'http://cdn.example.org/logo.svg' must be an https:// "
	    "URL or a path starting with '/'",
	    1);
	expect_error("branding:\n  logo_url: \"javascript:alert(1)\"\n",
	    "t.yaml:2:13: branding.logo_url: 'javascript:alert(1)' must be an https:// URL or a "
	    "path starting with '/'",
	    1);
	expect_error("branding:\n  logo_url: //cdn.example.org/x.png\n",
	    "t.yaml:2:13: branding.logo_url: '//cdn.example.org/x.png' is a scheme-relative URL: "
	    "write https://cdn.example.org/x.png",
	    1);
	expect_error("branding:\n  logo_url: '/x\"onload=\"alert(1)'\n",
	    "t.yaml:2:13: branding.logo_url: must be an https:// URL or a path starting with '/', "
	    "up to 2048 characters, without spaces, quotes or angle brackets",
	    1);
	expect_error("branding:\n  logo_url: https://user:pw@cdn.example.org/x.png\n",
	    "t.yaml:2:13: branding.logo_url: 'https://user:pw@cdn.example.org/x.png' must not hold "
	    "a user name or password",
	    1);
}

static void
test_mail_addr(void)
{
	static const char *const good[] = {"a@b", "user@example.com",
	    "first.last+tag@sub.example.org", "o'hara@example.com", "x_y-z=1@a-b.c",
	    "{}|~!#$%&*/=?^`@example.com"};
	static const char *const bad[] = {"", "@example.com", "user@", "user", "a@@b", "a@b@c",
	    ".a@b", "a.@b", "a..b@c", "a@.b", "a@b.", "a@b..c", "a@-b.c", "a@b-.c", "a b@c",
	    "\"quoted\"@example.com", "a@b_c.com", "us\xc3\xa9r@example.com", "a@b\r\n", "<a@b>"};
	char *name, *addr, *local64, *local65;
	struct fb_err err;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CU_ASSERT_EQUAL(fb_conf_addr_spec_check(good[i]), 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (fb_conf_addr_spec_check(bad[i]) != 0)
			fprintf(stderr, "\naccepted: %s\n", bad[i]);
		CU_ASSERT_EQUAL(fb_conf_addr_spec_check(bad[i]), 0);
	}
	CU_ASSERT_EQUAL(fb_conf_addr_spec_check(NULL), 0);
	local64 = fb_xasprintf("%064d@example.com", 0);
	local65 = fb_xasprintf("%065d@example.com", 0);
	CU_ASSERT_EQUAL(fb_conf_addr_spec_check(local64), 1);
	CU_ASSERT_EQUAL(fb_conf_addr_spec_check(local65), 0);
	free(local64);
	free(local65);

	CU_ASSERT_EQUAL(fb_conf_mailbox_parse("sso@example.com", &name, &addr, &err), FB_OK);
	CU_ASSERT_PTR_NULL(name);
	CU_ASSERT_STRING_EQUAL(addr, "sso@example.com");
	free(addr);
	CU_ASSERT_EQUAL(fb_conf_mailbox_parse("  Example SSO   <sso@example.com> ", &name, &addr,
	                    &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(name, "Example SSO");
	CU_ASSERT_STRING_EQUAL(addr, "sso@example.com");
	free(name);
	free(addr);
	CU_ASSERT_EQUAL(fb_conf_mailbox_parse("\"Doe, J\xc3\xa9r\xc3\xb4me\" <j@example.com>",
	                    &name, &addr, &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(name, "Doe, J\xc3\xa9r\xc3\xb4me");
	free(name);
	free(addr);
	CU_ASSERT_EQUAL(fb_conf_mailbox_parse("<j@example.com>", &name, &addr, &err), FB_OK);
	CU_ASSERT_PTR_NULL(name);
	free(addr);
	CU_ASSERT_EQUAL(fb_conf_mailbox_parse("A \"B\" <j@example.com>", &name, &addr, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NULL(name);
	CU_ASSERT_PTR_NULL(addr);
	CU_ASSERT_EQUAL(fb_conf_mailbox_parse("A <j@example.com> x", &name, &addr, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_conf_mailbox_parse("A <<j@example.com>", &name, &addr, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_conf_mailbox_parse("A\n <j@example.com>", &name, &addr, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_conf_mailbox_parse("\xff <j@example.com>", &name, &addr, &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_conf_mailbox_parse("", &name, &addr, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_conf_mailbox_parse(NULL, &name, &addr, &err), FB_ERR_INVALID);
}

/* Other modules' problems get the place of their key, or of the nearest enclosing one. */
static void
test_report_add(void)
{
	const char *text = "server:\n  workers: 2\ngroups:\n  - name: admins\n";
	struct fb_conf_report *rep = NULL;
	struct fb_conf *c = NULL;
	struct fb_err err;

	CU_ASSERT_EQUAL_FATAL(fb_conf_load_string(text, strlen(text), "t.yaml", NULL, &c, &rep,
	                          &err),
	    FB_OK);
	fb_conf_report_add(rep, c, "server.workers", 1, "too many");
	fb_conf_report_add(rep, c, "groups[0].attributes.aws_role", 0, "not used");
	fb_conf_report_add(rep, c, NULL, 1, "m/x.py:3:7: SyntaxError: bad");
	CU_ASSERT_EQUAL(fb_conf_report_count(rep), 3);
	CU_ASSERT_EQUAL(fb_conf_report_errors(rep), 2);
	CU_ASSERT_EQUAL(fb_conf_report_warnings(rep), 1);
	CU_ASSERT_STRING_EQUAL(fb_conf_report_line(rep, 0), "t.yaml:2:12: server.workers: too many");
	CU_ASSERT_STRING_EQUAL(fb_conf_report_line(rep, 1),
	    "t.yaml:4:5: groups[0].attributes.aws_role: warning: not used");
	CU_ASSERT_STRING_EQUAL(fb_conf_report_line(rep, 2), "m/x.py:3:7: SyntaxError: bad");
	fb_conf_report_free(rep);
	fb_conf_free(c);
}

/* scim.targets: defaults, lookups, and every problem at its place. */
static void
test_scim_targets(void)
{
	char *dir = fb_test_tmpdir(), *y;
	struct fb_conf *c;

	free(fb_test_write_file(dir, "scim_strip_photos.py", "return {}\n"));
	setenv("FB_TEST_SCIM_TOKEN", "scim-token-value", 1);
	y = fb_xasprintf("mappings: {dir: %s}\n"
	                 "scim:\n"
	                 "  targets:\n"
	                 "    - name: aws\n"
	                 "      url: https://scim.eu-west-1.amazonaws.com/t-1/scim/v2/\n"
	                 "      token: env:FB_TEST_SCIM_TOKEN\n"
	                 "      profile: aws\n"
	                 "      groups: [staff, admins]\n"
	                 "      user_mapping: scim_strip_photos\n"
	                 "      on_delete: deactivate\n"
	                 "      reconcile_interval: 15m\n"
	                 "      concurrency: 2\n"
	                 "      rate_limit: 20\n"
	                 "    - name: local\n"
	                 "      url: http://127.0.0.1:9000/scim/v2\n"
	                 "      token: env:FB_TEST_SCIM_TOKEN\n",
	    dir);
	c = expect_ok(y, 0, NULL);
	free(y);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(c->nscim_targets, 2);
	CU_ASSERT_STRING_EQUAL(c->scim_targets[0].url,
	    "https://scim.eu-west-1.amazonaws.com/t-1/scim/v2");
	CU_ASSERT_STRING_EQUAL(c->scim_targets[0].token, "scim-token-value");
	CU_ASSERT_EQUAL(c->scim_targets[0].profile, FB_CONF_SCIM_AWS);
	CU_ASSERT_EQUAL_FATAL(c->scim_targets[0].ngroups, 2);
	CU_ASSERT_STRING_EQUAL(c->scim_targets[0].groups[1], "admins");
	CU_ASSERT_STRING_EQUAL(c->scim_targets[0].user_mapping, "scim_strip_photos");
	CU_ASSERT_EQUAL(c->scim_targets[0].on_delete, FB_CONF_SCIM_DEACTIVATE);
	CU_ASSERT_EQUAL(c->scim_targets[0].on_out_of_scope, FB_CONF_SCIM_DEACTIVATE);
	CU_ASSERT_EQUAL(c->scim_targets[0].reconcile_interval, 900);
	CU_ASSERT_EQUAL(c->scim_targets[0].concurrency, 2);
	CU_ASSERT_EQUAL(c->scim_targets[0].rate_limit, 20);
	CU_ASSERT_EQUAL(c->scim_targets[1].profile, FB_CONF_SCIM_GENERIC);
	CU_ASSERT_EQUAL(c->scim_targets[1].on_delete, FB_CONF_SCIM_DELETE);
	CU_ASSERT_EQUAL(c->scim_targets[1].reconcile_interval, 3600);
	CU_ASSERT_EQUAL(c->scim_targets[1].concurrency, 4);
	CU_ASSERT_EQUAL(c->scim_targets[1].timeout_ms, 30000);
	CU_ASSERT_EQUAL(c->scim_targets[1].ngroups, 0);
	CU_ASSERT_PTR_EQUAL(fb_conf_scim_target_find(c, "local"), &c->scim_targets[1]);
	CU_ASSERT_PTR_NULL(fb_conf_scim_target_find(c, "nope"));
	fb_conf_free(c);

	y = fb_xasprintf("mappings: {dir: %s}\n"
	                 "saml:\n"
	                 "  service_providers:\n"
	                 "    - name: idc\n"
	                 "      entity_id: https://eu-west-1.signin.aws.amazon.com/platform/saml/d-1\n"
	                 "      acs: [{url: https://eu-west-1.signin.aws/platform/saml/acs/t-1}]\n"
	                 "      profile: aws-identity-center\n"
	                 "      nameid: {format: email, source: username}\n"
	                 "scim:\n"
	                 "  targets:\n"
	                 "    - name: aws\n"
	                 "      url: http://scim.example.com/v2\n"
	                 "      token: literal-token\n"
	                 "      profile: aws\n"
	                 "      user_mapping: nosuch\n"
	                 "    - name: aws\n"
	                 "      token: env:FB_TEST_SCIM_TOKEN\n"
	                 "      concurrency: 0\n"
	                 "      profile: azure\n",
	    dir);
	{
		struct fb_conf_report *rep = NULL;
		struct fb_conf *conf = NULL;
		static const char *const lines[] = {
		    "t.yaml:12:12: scim.targets[0].url: 'http://scim.example.com/v2' must be "
		    "https:// (plain http is accepted on loopback hosts only)",
		    "t.yaml:13:14: scim.targets[0].token: a secret must be given by reference: write "
		    "env:VARIABLE or file:/path/to/file (the value is not shown)",
		    "t.yaml:14:16: scim.targets[0].profile: warning: profile aws pushes userName = "
		    "email, but service provider 'idc' (aws-identity-center) does not send the "
		    "email as its NameID (nameid: {format: email, source: email}): sign-in and "
		    "provisioning could disagree",
		    "t.yaml:16:13: scim.targets[1].name: duplicate target 'aws' (also "
		    "scim.targets[0])",
		    "t.yaml:16:7: scim.targets[1].url: missing (required in every target)",
		};

		CU_ASSERT_EQUAL(load(y, NULL, &conf, &rep), FB_ERR_CONFIG);
		CU_ASSERT_PTR_NULL(conf);
		for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
			CU_ASSERT(has(rep, lines[i]));
		CU_ASSERT(mentions(rep, "scim.targets[0].user_mapping: no mapping 'nosuch'"));
		CU_ASSERT(mentions(rep, "scim.targets[1].concurrency"));
		CU_ASSERT(mentions(rep, "scim.targets[1].profile"));
		CU_ASSERT_FALSE(mentions(rep, "literal-token"));
		CU_ASSERT_FALSE(mentions(rep, "scim-token-value"));
		if (!has(rep, lines[3]))
			for (size_t i = 0; i < fb_conf_report_count(rep); i++)
				fprintf(stderr, "  %s\n", fb_conf_report_line(rep, i));
		fb_conf_report_free(rep);
	}
	free(y);
	fb_test_rmtree(dir);
	free(dir);
}

/* A client kept in the store: the key table's types, defaults and checks, by the same code. */
static void
test_oidc_client_parse(void)
{
	struct fb_conf_oidc_client cl;
	struct fb_conf_report *rep = NULL;
	struct fb_err err;
	json_t *spec;

	fb_err_clear(&err);
	spec = json_pack("{s:s, s:[s]}", "id", "web", "redirect_uris", "https://a.example/cb");
	CU_ASSERT_EQUAL_FATAL(fb_conf_oidc_client_parse(spec, "00ff", NULL, NULL, "t", &cl, &rep,
	                          &err),
	    FB_OK);
	CU_ASSERT_STRING_EQUAL(cl.id, "web");
	CU_ASSERT_EQUAL(cl.type, FB_CONF_OIDC_CONFIDENTIAL);
	CU_ASSERT_EQUAL(cl.grants, FB_CONF_OIDC_GRANT_CODE | FB_CONF_OIDC_GRANT_REFRESH);
	CU_ASSERT_EQUAL(cl.nscopes, 4);
	CU_ASSERT_EQUAL(cl.access_token_lifetime, 600);
	CU_ASSERT_EQUAL(cl.introspect_any, 0);
	CU_ASSERT_STRING_EQUAL(cl.secret_hash, "00ff");
	CU_ASSERT_PTR_NULL(cl.secret);
	CU_ASSERT_EQUAL(fb_conf_report_errors(rep), 0);
	fb_conf_report_free(rep);
	fb_conf_oidc_client_cleanup(&cl);
	json_decref(spec);

	/* A service client with keys only, and introspect: any. */
	spec = json_pack("{s:s, s:s, s:s, s:[s]}", "id", "rs", "type", "service", "introspect", "any",
	    "scopes", "api");
	CU_ASSERT_EQUAL(fb_conf_oidc_client_parse(spec, NULL, "{\"keys\":[]}", NULL, "t", &cl, NULL,
	                    &err),
	    FB_OK);
	CU_ASSERT_EQUAL(cl.introspect_any, 1);
	CU_ASSERT_EQUAL(cl.grants, FB_CONF_OIDC_GRANT_CLIENT);
	CU_ASSERT_STRING_EQUAL(cl.jwks_json, "{\"keys\":[]}");
	fb_conf_oidc_client_cleanup(&cl);
	json_decref(spec);

	/* Every problem the configuration would report, named; nothing filled. */
	spec = json_pack("{s:s, s:s, s:[s], s:[s]}", "id", "bad id", "type", "public",
	    "redirect_uris", "http://a.example/cb", "grant_types", "password");
	CU_ASSERT_EQUAL(fb_conf_oidc_client_parse(spec, "00ff", NULL, NULL, "t", &cl, &rep, &err),
	    FB_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(cl.id);
	CU_ASSERT(mentions(rep, "oidc.clients[0].id: must be 1 to 128 characters"));
	CU_ASSERT(mentions(rep, "'http://a.example/cb' must be https://"));
	CU_ASSERT(mentions(rep, "'password' is not a grant type"));
	CU_ASSERT(mentions(rep, "a public client has no secret"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "t: oidc.clients[0]"));
	fb_conf_report_free(rep);
	json_decref(spec);

	/* A secret or a key file in the spec is refused: the store keeps hashes and keys only. */
	spec = json_pack("{s:s, s:s}", "id", "x", "secret", "env:X");
	CU_ASSERT_EQUAL(fb_conf_oidc_client_parse(spec, NULL, NULL, NULL, "t", &cl, NULL, &err),
	    FB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "secret and jwks are not part of the spec"));
	json_decref(spec);
	spec = json_pack("{s:s, s:i}", "id", "x", "unknown", 1);
	CU_ASSERT_EQUAL(fb_conf_oidc_client_parse(spec, "00ff", NULL, NULL, "t", &cl, NULL, &err),
	    FB_ERR_CONFIG);
	json_decref(spec);
	CU_ASSERT_EQUAL(fb_conf_oidc_client_parse(NULL, NULL, NULL, NULL, "t", &cl, NULL, &err),
	    FB_ERR_CONFIG);
}

/* oidc.clients: defaults by type, exact redirect URIs, and every problem at its place. */
static void
test_oidc_clients(void)
{
	char *dir = fb_test_tmpdir(), *y;
	struct fb_conf *c;
	const struct fb_conf_oidc_client *cl;

	free(fb_test_write_file(dir, "oidc_groups.py", "return {}\n"));
	setenv("FB_TEST_OIDC_SECRET", "a-client-secret-of-32-bytes-long", 1);
	y = fb_xasprintf("mappings: {dir: %s}\n"
	                 "oidc:\n"
	                 "  clients:\n"
	                 "    - id: grafana\n"
	                 "      secret: env:FB_TEST_OIDC_SECRET\n"
	                 "      redirect_uris: [\"https://grafana.example.com/login/generic_oauth/\"]\n"
	                 "      claims: [{name: roles, mapping: oidc_groups}]\n"
	                 "    - id: kubectl\n"
	                 "      type: public\n"
	                 "      redirect_uris: [\"http://127.0.0.1/callback\", \"com.example.app:/cb\"]\n"
	                 "      signing_alg: RS256\n"
	                 "    - id: ci.robot\n"
	                 "      type: service\n"
	                 "      secret: env:FB_TEST_OIDC_SECRET\n"
	                 "      access_token_lifetime: 5m\n",
	    dir);
	c = expect_ok(y, 0, NULL);
	free(y);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(c->noidc_clients, 3);
	CU_ASSERT_EQUAL(c->oidc_code_lifetime, 60);
	cl = fb_conf_oidc_client_find(c, "grafana");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	CU_ASSERT_EQUAL(cl->type, FB_CONF_OIDC_CONFIDENTIAL);
	CU_ASSERT_STRING_EQUAL(cl->secret, "a-client-secret-of-32-bytes-long");
	/* Kept as written: the trailing slash is part of the exact match. */
	CU_ASSERT_STRING_EQUAL(cl->redirect_uris[0], "https://grafana.example.com/login/generic_oauth/");
	CU_ASSERT_EQUAL(cl->grants, FB_CONF_OIDC_GRANT_CODE | FB_CONF_OIDC_GRANT_REFRESH);
	CU_ASSERT_EQUAL(cl->signing_alg, FB_CONF_OIDC_ES256);
	CU_ASSERT_EQUAL(cl->require_pkce, 1);
	CU_ASSERT_EQUAL(cl->access_token_lifetime, 600);
	CU_ASSERT_EQUAL(cl->refresh_token_lifetime, 8 * 3600);
	CU_ASSERT_EQUAL_FATAL(cl->nscopes, 4);
	CU_ASSERT_STRING_EQUAL(cl->scopes[0], "openid");
	CU_ASSERT_EQUAL_FATAL(cl->nclaims, 1);
	CU_ASSERT_STRING_EQUAL(cl->claims[0].name, "roles");
	cl = fb_conf_oidc_client_find(c, "kubectl");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	CU_ASSERT_EQUAL(cl->type, FB_CONF_OIDC_PUBLIC);
	CU_ASSERT_PTR_NULL(cl->secret);
	CU_ASSERT_EQUAL(cl->signing_alg, FB_CONF_OIDC_RS256);
	cl = fb_conf_oidc_client_find(c, "ci.robot");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	CU_ASSERT_EQUAL(cl->grants, FB_CONF_OIDC_GRANT_CLIENT);
	CU_ASSERT_EQUAL(cl->access_token_lifetime, 300);
	CU_ASSERT_PTR_NULL(fb_conf_oidc_client_find(c, "nope"));
	fb_conf_free(c);

	y = fb_xasprintf("mappings: {dir: %s}\n"
	                 "oidc:\n"
	                 "  clients:\n"
	                 "    - id: web\n"
	                 "      redirect_uris: [\"http://app.example.com/cb\", \"https://a/cb#f\"]\n"
	                 "    - id: spa\n"
	                 "      type: public\n"
	                 "      secret: env:FB_TEST_OIDC_SECRET\n"
	                 "      grant_types: [client_credentials, password]\n"
	                 "    - id: web\n"
	                 "      type: service\n"
	                 "      secret: env:FB_TEST_OIDC_SECRET\n"
	                 "      grant_types: [authorization_code]\n"
	                 "      redirect_uris: [\"https://x.example.com/cb\"]\n"
	                 "      claims: [{name: sub, mapping: oidc_groups}, {name: r, mapping: nosuch}]\n"
	                 "    - id: \"bad id\"\n"
	                 "      signing_alg: HS256\n"
	                 "      cors_origins: [\"https://spa.example/app\"]\n",
	    dir);
	{
		struct fb_conf_report *rep = NULL;
		struct fb_conf *conf = NULL;
		static const char *const lines[] = {
		    "t.yaml:5:23: oidc.clients[0].redirect_uris[0]: 'http://app.example.com/cb' "
		    "must be "
		    "https://, http:// on a loopback address, or a private-use scheme with a dot "
		    "(com.example.app:/callback)",
		    "t.yaml:5:52: oidc.clients[0].redirect_uris[1]: 'https://a/cb#f' must not have "
		    "a "
		    "fragment (#)",
		    "t.yaml:4:7: oidc.clients[0].type: a confidential client needs a secret "
		    "(secret: "
		    "env:NAME), keys (jwks: FILE) or a certificate (tls:)",
		    "t.yaml:8:15: oidc.clients[1].secret: a public client has no secret (it cannot "
		    "keep one): remove it, or make the client confidential",
		    "t.yaml:9:41: oidc.clients[1].grant_types[1]: 'password' is not a grant type "
		    "(known: authorization_code, refresh_token, client_credentials)",
		    "t.yaml:13:20: oidc.clients[2].grant_types: a service client signs no one in: "
		    "client_credentials only",
		    "t.yaml:10:11: oidc.clients[2].id: duplicate client 'web' (also "
		    "oidc.clients[0])",
		    "t.yaml:15:23: oidc.clients[2].claims[0].name: 'sub' is set by the provider "
		    "itself and "
		    "cannot come from a mapping",
		    "t.yaml:16:11: oidc.clients[3].id: must be 1 to 128 characters of A-Z, a-z, "
		    "0-9, "
		    "'.', '_', ':' and '-'",
		};

		CU_ASSERT_EQUAL(load(y, NULL, &conf, &rep), FB_ERR_CONFIG);
		CU_ASSERT_PTR_NULL(conf);
		for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
			CU_ASSERT(has(rep, lines[i]));
			if (!has(rep, lines[i]))
				fprintf(stderr, "missing: %s\n", lines[i]);
		}
		CU_ASSERT(mentions(rep, "oidc.clients[2].claims[1].mapping: no mapping 'nosuch'"));
		CU_ASSERT(mentions(rep, "oidc.clients[3].signing_alg"));
		CU_ASSERT(mentions(rep, "oidc.clients[3].cors_origins[0]: 'https://spa.example/app' "
		                        "is not an origin"));
		CU_ASSERT_FALSE(mentions(rep, "a-client-secret-of-32"));
		if (!has(rep, lines[0]))
			for (size_t i = 0; i < fb_conf_report_count(rep); i++)
				fprintf(stderr, "  %s\n", fb_conf_report_line(rep, i));
		fb_conf_report_free(rep);
	}
	free(y);
	fb_test_rmtree(dir);
	free(dir);
}

/* oidc.clients[].tls (RFC 8705): one binding, no other method, a way for certificates to come. */
static void
test_oidc_clients_tls(void)
{
	char *dir = fb_test_tmpdir(), *y, *ca = fb_test_write_file(dir, "ca.pem", "x\n");
	struct fb_conf *c;
	const struct fb_conf_oidc_client *cl;

	setenv("FB_TEST_OIDC_SECRET", "a-client-secret-of-32-bytes-long", 1);
	y = fb_xasprintf(
	    "server: {tls: {cert: %s, key: %s, client_ca: %s}, trusted_proxies: [10.0.0.1]}\n"
	    "oidc:\n"
	    "  mtls: {header: x-forwarded-client-cert}\n"
	    "  clients:\n"
	    "    - {id: pki, type: service, tls: {subject_dn: \"CN=a,O=b\"}}\n"
	    "    - {id: ip, type: service, tls: {san_ip: \"2001:db8::1\"}}\n"
	    "    - id: self\n"
	    "      type: service\n"
	    "      tls: {thumbprint: 59q_5lbP6ykkiyXZfaK-dmNuInavJwfe5LyEeI0abRE}\n"
	    "    - {id: sj, type: service, jwks: %s, tls: {self_signed: true}}\n",
	    ca, ca, ca, ca);
	c = expect_ok(y, 0, NULL);
	free(y);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(c->tls_client_ca, ca);
	CU_ASSERT_STRING_EQUAL(c->oidc_mtls_header, "x-forwarded-client-cert");
	CU_ASSERT_EQUAL(c->oidc_mtls_header_format, FB_CONF_MTLS_XFCC);
	cl = fb_conf_oidc_client_find(c, "pki");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	CU_ASSERT_EQUAL(fb_conf_oidc_client_mtls(cl), FB_CONF_MTLS_PKI);
	CU_ASSERT_EQUAL(fb_conf_oidc_client_mtls(fb_conf_oidc_client_find(c, "ip")),
	    FB_CONF_MTLS_PKI);
	CU_ASSERT_EQUAL(fb_conf_oidc_client_mtls(fb_conf_oidc_client_find(c, "self")),
	    FB_CONF_MTLS_SELF_SIGNED);
	CU_ASSERT_EQUAL(fb_conf_oidc_client_mtls(fb_conf_oidc_client_find(c, "sj")),
	    FB_CONF_MTLS_SELF_SIGNED);
	fb_conf_free(c);

	y = fb_xasprintf(
	    "oidc:\n"
	    "  mtls: {header_format: pem}\n"
	    "  clients:\n"
	    "    - id: both\n"
	    "      type: service\n"
	    "      secret: env:FB_TEST_OIDC_SECRET\n"
	    "      tls: {subject_dn: \"CN=a\", san_dns: a.example}\n"
	    "    - {id: ip, type: service, tls: {san_ip: \"not-an-ip\"}}\n"
	    "    - {id: tp, type: service, tls: {thumbprint: abc}}\n"
	    "    - {id: pub, type: public, redirect_uris: [\"http://127.0.0.1/cb\"], "
	    "tls: {thumbprint: 59q_5lbP6ykkiyXZfaK-dmNuInavJwfe5LyEeI0abRE}}\n"
	    "    - {id: ss, type: service, tls: {self_signed: true}}\n"
	    "    - {id: pj, type: service, jwks: %s, tls: {san_uri: \"spiffe://a/b\"}}\n",
	    ca);
	{
		struct fb_conf_report *rep = NULL;
		struct fb_conf *conf = NULL;

		CU_ASSERT_EQUAL(load(y, NULL, &conf, &rep), FB_ERR_CONFIG);
		CU_ASSERT_PTR_NULL(conf);
		CU_ASSERT(mentions(rep, "oidc.clients[0].tls: one of subject_dn, san_dns"));
		CU_ASSERT(mentions(rep, "oidc.clients[0].tls: a client that authenticates with a "
		                        "certificate has no secret or jwks"));
		CU_ASSERT(mentions(rep, "oidc.clients[0].tls: tls_client_auth verifies the chain: "
		                        "set oidc.mtls.ca_file"));
		CU_ASSERT(
		    mentions(rep, "oidc.clients[0].tls: no certificate can reach the provider"));
		CU_ASSERT(
		    mentions(rep, "oidc.clients[1].tls.san_ip: 'not-an-ip' is not an IP address"));
		CU_ASSERT(
		    mentions(rep, "oidc.clients[2].tls.thumbprint: not a SHA-256 thumbprint"));
		CU_ASSERT(mentions(rep, "oidc.clients[3].tls: a client that authenticates with a "
		                        "certificate has no secret or jwks (but with self_signed), "
		                        "and is not public"));
		CU_ASSERT(
		    mentions(rep, "oidc.clients[4].tls.self_signed: the certificates come from "
		                  "the client's jwks"));
		CU_ASSERT(mentions(rep, "oidc.clients[5].tls: a client that authenticates with a "
		                        "certificate has no secret or jwks"));
		CU_ASSERT_FALSE(mentions(rep, "a-client-secret-of-32"));
		fb_conf_report_free(rep);
	}
	free(y);
	y = fb_xasprintf("server: {tls: {client_ca: %s}}\noidc: {mtls: {header: x-ssl-cert}}\n",
	    ca);
	{
		struct fb_conf_report *rep = NULL;
		struct fb_conf *conf = NULL;

		CU_ASSERT_EQUAL(load(y, NULL, &conf, &rep), FB_ERR_CONFIG);
		CU_ASSERT(mentions(rep, "server.tls.client_ca: client certificates need TLS here"));
		CU_ASSERT(mentions(rep, "oidc.mtls.header: warning: no server.trusted_proxies"));
		fb_conf_report_free(rep);
	}
	free(y);
	free(ca);
	fb_test_rmtree(dir);
	free(dir);
}

/* upstreams: presets resolve to an issuer, defaults are derived, every problem has its place. */
/* "saml:\n  service_providers:\n" and n inline SPs (new). */
static char *
many_sps(size_t n)
{
	struct fb_buf b;

	fb_buf_init(&b, 1 << 20);
	CU_ASSERT_EQUAL(fb_buf_addf(&b, NULL, "saml:\n  service_providers:\n"), FB_OK);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT_EQUAL(fb_buf_addf(&b, NULL,
		                    "    - {name: sp%zu, entity_id: \"urn:sp:%zu\", acs: "
		                    "[{url: \"https://sp%zu.example.com/acs\"}]}\n",
		                    i, i, i),
		    FB_OK);
	return fb_buf_take(&b);
}

/* Issue 12 measures 1,000 SPs: up to 4,096 load, more are refused. */
static void
test_many_sps(void)
{
	struct fb_conf_report *rep = NULL;
	struct fb_conf *conf = NULL;
	char *text = many_sps(1000);

	CU_ASSERT_EQUAL_FATAL(load(text, NULL, &conf, &rep), FB_OK);
	CU_ASSERT_EQUAL(conf->nsaml_sps, 1000);
	CU_ASSERT_STRING_EQUAL(conf->saml_sps[999].name, "sp999");
	fb_conf_free(conf);
	fb_conf_report_free(rep);
	free(text);
	text = many_sps(4097);
	expect_error(text,
	    "t.yaml:3:5: saml.service_providers: 4097 entries given; allowed: at most 4096", 1);
	free(text);
}

static void
test_upstreams(void)
{
	char *dir = fb_test_tmpdir(), *y, *want;
	struct fb_conf *c;

	free(fb_test_write_file(dir, "upstream_oidc.py", "return {}\n"));
	free(fb_test_write_file(dir, "upstream_saml.py", "return {}\n"));
	free(fb_test_write_file(dir, "md.xml", "<md/>\n"));
	setenv("FB_TEST_UP_SECRET", "s3cret-value", 1);
	y = fb_xasprintf("mappings: {dir: %s}\n"
	                 "server: {public_url: https://sso.example.net}\n"
	                 "upstreams:\n"
	                 "  - name: corp\n"
	                 "    type: oidc\n"
	                 "    domains: [Example.COM, corp.example.com]\n"
	                 "    oidc: {issuer: https://idp.example.com/, client_id: fb,\n"
	                 "           client_secret: env:FB_TEST_UP_SECRET}\n"
	                 "  - name: goog\n"
	                 "    type: oidc\n"
	                 "    oidc: {preset: google, client_id: x, client_auth: private_key_jwt}\n"
	                 "  - name: ms\n"
	                 "    type: oidc\n"
	                 "    link_by_email: true\n"
	                 "    oidc: {preset: microsoft, tenant: contoso.onmicrosoft.com, client_id: x,\n"
	                 "           client_secret: env:FB_TEST_UP_SECRET, client_auth: client_secret_post}\n"
	                 "  - name: okta\n"
	                 "    type: oidc\n"
	                 "    display_name: Okta SSO\n"
	                 "    provision: false\n"
	                 "    session_lifetime: 1h\n"
	                 "    oidc: {preset: okta, domain: ex.okta.com, client_id: x, timeout: 500ms,\n"
	                 "           client_secret: env:FB_TEST_UP_SECRET, scopes: [openid],\n"
	                 "           algorithms: [ES256]}\n"
	                 "  - name: idp\n"
	                 "    type: saml\n"
	                 "    domains: [example.org]\n"
	                 "    mapping: upstream_oidc\n"
	                 "    saml: {metadata: %s/md.xml, sign_requests: always}\n",
	    dir, dir);
	c = expect_ok(y, 0, NULL);
	free(y);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(c->nupstreams, 5);
	CU_ASSERT_STRING_EQUAL(c->saml_sp_entity_id, "https://sso.example.net/saml/sp/metadata");
	CU_ASSERT_STRING_EQUAL(c->upstreams[0].display_name, "corp");
	CU_ASSERT_EQUAL(c->upstreams[0].type, FB_CONF_UPSTREAM_OIDC);
	CU_ASSERT_STRING_EQUAL(c->upstreams[0].mapping, "upstream_oidc");
	CU_ASSERT_EQUAL_FATAL(c->upstreams[0].ndomains, 2);
	CU_ASSERT_STRING_EQUAL(c->upstreams[0].domains[0], "example.com");
	CU_ASSERT_STRING_EQUAL(c->upstreams[0].oidc.issuer, "https://idp.example.com");
	CU_ASSERT_STRING_EQUAL(c->upstreams[0].oidc.client_secret, "s3cret-value");
	CU_ASSERT_EQUAL(c->upstreams[0].oidc.client_auth, FB_CONF_OIDC_SECRET_BASIC);
	CU_ASSERT_EQUAL_FATAL(c->upstreams[0].oidc.nscopes, 3);
	CU_ASSERT_STRING_EQUAL(c->upstreams[0].oidc.scopes[0], "openid");
	CU_ASSERT_EQUAL_FATAL(c->upstreams[0].oidc.nalgorithms, 3);
	CU_ASSERT_STRING_EQUAL(c->upstreams[0].oidc.algorithms[1], "ES256");
	CU_ASSERT_EQUAL(c->upstreams[0].oidc.timeout_ms, 10000);
	CU_ASSERT_EQUAL(c->upstreams[0].oidc.clock_skew, 60);
	CU_ASSERT_EQUAL(c->upstreams[0].oidc.discovery_refresh, 3600);
	CU_ASSERT_EQUAL(c->upstreams[0].link_by_email, 0);
	CU_ASSERT_EQUAL(c->upstreams[0].provision, 1);
	CU_ASSERT_EQUAL(c->upstreams[0].logout, 0);
	CU_ASSERT_EQUAL(c->upstreams[0].session_lifetime, 0);
	CU_ASSERT_STRING_EQUAL(c->upstreams[1].oidc.issuer, "https://accounts.google.com");
	CU_ASSERT_PTR_NULL(c->upstreams[1].oidc.client_secret);
	CU_ASSERT_EQUAL(c->upstreams[1].oidc.client_auth, FB_CONF_OIDC_PRIVATE_KEY_JWT);
	CU_ASSERT_STRING_EQUAL(c->upstreams[2].oidc.issuer,
	    "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0");
	CU_ASSERT_EQUAL(c->upstreams[2].oidc.client_auth, FB_CONF_OIDC_SECRET_POST);
	CU_ASSERT_EQUAL(c->upstreams[2].link_by_email, 1);
	CU_ASSERT_STRING_EQUAL(c->upstreams[3].oidc.issuer, "https://ex.okta.com");
	CU_ASSERT_STRING_EQUAL(c->upstreams[3].display_name, "Okta SSO");
	CU_ASSERT_EQUAL(c->upstreams[3].provision, 0);
	CU_ASSERT_EQUAL(c->upstreams[3].session_lifetime, 3600);
	CU_ASSERT_EQUAL(c->upstreams[3].oidc.timeout_ms, 500);
	CU_ASSERT_EQUAL(c->upstreams[3].oidc.nscopes, 1);
	CU_ASSERT_EQUAL(c->upstreams[3].oidc.nalgorithms, 1);
	CU_ASSERT_EQUAL(c->upstreams[4].type, FB_CONF_UPSTREAM_SAML);
	CU_ASSERT_STRING_EQUAL(c->upstreams[4].mapping, "upstream_oidc");
	want = fb_xasprintf("%s/md.xml", dir);
	CU_ASSERT_STRING_EQUAL(c->upstreams[4].saml.metadata, want);
	free(want);
	CU_ASSERT_EQUAL(c->upstreams[4].saml.sign_requests, FB_CONF_SAML_SIGN_REQ_ALWAYS);
	CU_ASSERT_EQUAL(c->upstreams[4].saml.metadata_refresh, 3600);
	CU_ASSERT_EQUAL(c->upstreams[4].saml.allow_unsolicited, 0);
	/* Lookups by name and by an email's domain (case-insensitive). */
	CU_ASSERT_PTR_EQUAL(fb_conf_upstream_find(c, "idp"), &c->upstreams[4]);
	CU_ASSERT_PTR_NULL(fb_conf_upstream_find(c, "nope"));
	CU_ASSERT_PTR_EQUAL(fb_conf_upstream_for_email(c, "Ann@EXAMPLE.com"), &c->upstreams[0]);
	CU_ASSERT_PTR_EQUAL(fb_conf_upstream_for_email(c, "bob@example.org"), &c->upstreams[4]);
	CU_ASSERT_PTR_NULL(fb_conf_upstream_for_email(c, "bob@sub.example.org"));
	CU_ASSERT_PTR_NULL(fb_conf_upstream_for_email(c, "example.org"));
	CU_ASSERT_PTR_NULL(fb_conf_upstream_for_email(c, "bob@"));
	fb_conf_free(c);

	/* Each problem, at its place. */
	y = fb_xasprintf("mappings: {dir: %s}\n"
	                 "upstreams:\n"
	                 "  - name: corp\n"
	                 "    type: oidc\n"
	                 "    domains: [example.com, Example.com]\n"
	                 "    oidc: {issuer: http://idp.example.com/, client_id: fb,\n"
	                 "           client_secret: literal-secret}\n"
	                 "  - name: corp\n"
	                 "    type: oidc\n"
	                 "    domains: [other.example, EXAMPLE.com]\n"
	                 "    saml: {metadata: x}\n"
	                 "    oidc: {preset: google, issuer: https://x.example, client_id: x,\n"
	                 "           algorithms: [none, HS256, XX], scopes: [email]}\n"
	                 "  - name: ms\n"
	                 "    type: oidc\n"
	                 "    oidc: {preset: microsoft, tenant: common, client_id: x,\n"
	                 "           client_secret: env:FB_TEST_UP_SECRET}\n"
	                 "  - name: okta\n"
	                 "    type: oidc\n"
	                 "    oidc: {preset: okta}\n"
	                 "  - name: Idp\n"
	                 "    type: saml\n"
	                 "  - name: idp2\n"
	                 "    mapping: nosuch\n"
	                 "    type: saml\n"
	                 "    saml: {metadata_url: https://x.example/md}\n"
	                 "  - name: idp3\n"
	                 "    type: saml\n"
	                 "    domains: [bad_domain]\n"
	                 "  - name: x\n"
	                 "  - name: gen\n"
	                 "    type: oidc\n"
	                 "    oidc: {client_id: x, client_secret: env:FB_TEST_UP_SECRET}\n",
	    dir);
	{
		struct fb_conf_report *rep = NULL;
		struct fb_conf *conf = NULL;
		static const char *const lines[] = {
		    "t.yaml:5:28: upstreams[0].domains[1]: 'example.com' is listed twice",
		    "t.yaml:6:20: upstreams[0].oidc.issuer: 'http://idp.example.com' must be "
		    "https:// (plain http is accepted on loopback hosts only)",
		    "t.yaml:7:27: upstreams[0].oidc.client_secret: a secret must be given by "
		    "reference: write env:VARIABLE or file:/path/to/file (the value is not shown)",
		    "t.yaml:8:11: upstreams[1].name: duplicate upstream 'corp' (also upstreams[0])",
		    "t.yaml:10:30: upstreams[1].domains[1]: 'example.com' is claimed by upstreams[0] "
		    "(corp) too: a domain goes to one upstream",
		    "t.yaml:11:11: upstreams[1].saml: only for type saml (this upstream is type oidc)",
		    "t.yaml:12:36: upstreams[1].oidc.issuer: preset google sets the issuer: remove "
		    "issuer: (or use preset: generic)",
		    "t.yaml:13:25: upstreams[1].oidc.algorithms[0]: 'none' is refused: ID tokens must "
		    "be signed with the issuer's private key (use RS256, ES256, PS256, ...)",
		    "t.yaml:13:31: upstreams[1].oidc.algorithms[1]: 'HS256' is refused: ID tokens "
		    "must be signed with the issuer's private key (use RS256, ES256, PS256, ...)",
		    "t.yaml:13:51: upstreams[1].oidc.scopes: must include openid (without it there is "
		    "no ID token)",
		    "t.yaml:12:11: upstreams[1].oidc.client_secret: missing: client_secret_basic needs "
		    "a secret reference (env:NAME or file:PATH), or use client_auth: private_key_jwt",
		    "t.yaml:16:39: upstreams[2].oidc.tenant: 'common' is a multi-tenant endpoint whose "
		    "ID tokens name another issuer: give your tenant id (a GUID) or its domain",
		    "t.yaml:20:11: upstreams[3].oidc.domain: missing: preset okta needs your Okta "
		    "domain (e.g. example.okta.com)",
		    "t.yaml:20:11: upstreams[3].oidc.client_id: missing: give the client id "
		    "registered at the issuer",
		    "t.yaml:21:11: upstreams[4].name: 'Idp' is not an upstream name: use 1 to 32 "
		    "lowercase letters, digits, '_' or '-' (it appears in the URL "
		    "/upstream/NAME/start)",
		    "t.yaml:26:11: upstreams[5].saml.metadata_certificate: missing: metadata fetched "
		    "from metadata_url is trusted only when signed by this pinned certificate (PEM "
		    "file)",
		    "t.yaml:29:15: upstreams[6].domains[0]: 'bad_domain' is not an email domain (a "
		    "DNS name such as example.com, without '@')",
		    "t.yaml:27:5: upstreams[6].saml.metadata: missing: give the IdP's metadata (a "
		    "file) or metadata_url",
		    "t.yaml:30:5: upstreams[7].type: missing (required in every upstream)",
		    "t.yaml:33:11: upstreams[8].oidc.issuer: missing: give the issuer URL, or a preset "
		    "(google, microsoft with tenant, okta with domain)",
		};

		CU_ASSERT_EQUAL(load(y, NULL, &conf, &rep), FB_ERR_CONFIG);
		CU_ASSERT_PTR_NULL(conf);
		for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
			CU_ASSERT(has(rep, lines[i]));
		CU_ASSERT(mentions(rep, "upstreams[5].mapping: no mapping 'nosuch'"));
		CU_ASSERT(mentions(rep, "'XX' is not a signature algorithm"));
		/* SECURITY: the literal secret is not repeated. */
		CU_ASSERT_FALSE(mentions(rep, "literal-secret"));
		CU_ASSERT_EQUAL(fb_conf_report_errors(rep), sizeof(lines) / sizeof(lines[0]) + 3);
		fb_conf_report_free(rep);
	}
	free(y);
	/* An http issuer on loopback is accepted (test peers); saml.sp.entity_id can be set. */
	y = fb_xasprintf("mappings: {dir: %s}\n"
	                 "saml: {sp: {entity_id: \"urn:example:sp\"}}\n"
	                 "upstreams:\n"
	                 "  - {name: local, type: oidc, oidc: {issuer: \"http://127.0.0.1:9/\","
	                 " client_id: x, client_secret: env:FB_TEST_UP_SECRET}}\n",
	    dir);
	c = expect_ok(y, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL(c);
	if (c != NULL) {
		CU_ASSERT_STRING_EQUAL(c->saml_sp_entity_id, "urn:example:sp");
		CU_ASSERT_STRING_EQUAL(c->upstreams[0].oidc.issuer, "http://127.0.0.1:9");
	}
	fb_conf_free(c);
	free(y);
	unsetenv("FB_TEST_UP_SECRET");
	fb_test_rmtree(dir);
	free(dir);
}

int
fb_test_conf_register(void)
{
	CU_pSuite s = CU_add_suite("conf", NULL, NULL);

	if (s == NULL || CU_add_test(s, "defaults", test_defaults) == NULL ||
	    CU_add_test(s, "enum order and key table", test_enum_order) == NULL ||
	    CU_add_test(s, "every key", test_every_key) == NULL ||
	    CU_add_test(s, "unknown keys", test_unknown_key) == NULL ||
	    CU_add_test(s, "wrong types", test_wrong_type) == NULL ||
	    CU_add_test(s, "ranges and formats", test_range) == NULL ||
	    CU_add_test(s, "public url", test_public_url) == NULL ||
	    CU_add_test(s, "tls both or neither", test_tls) == NULL ||
	    CU_add_test(s, "trusted proxies", test_trusted_proxies) == NULL ||
	    CU_add_test(s, "signing keys", test_keys) == NULL ||
	    CU_add_test(s, "secrets", test_secrets) == NULL ||
	    CU_add_test(s, "secret redacted in log", test_secret_redacted) == NULL ||
	    CU_add_test(s, "yaml safety", test_yaml_safety) == NULL ||
	    CU_add_test(s, "yaml syntax", test_yaml_syntax) == NULL ||
	    CU_add_test(s, "multiple problems", test_multiple_problems) == NULL ||
	    CU_add_test(s, "overrides", test_overrides) == NULL ||
	    CU_add_test(s, "files and paths", test_files) == NULL ||
	    CU_add_test(s, "plain scalars", test_scalars) == NULL ||
	    CU_add_test(s, "groups", test_groups) == NULL ||
	    CU_add_test(s, "key ids and group names", test_short_names) == NULL ||
	    CU_add_test(s, "store.driver postgres", test_store_postgres_conf) == NULL ||
	    CU_add_test(s, "local accounts", test_local) == NULL ||
	    CU_add_test(s, "smtp", test_smtp) == NULL ||
	    CU_add_test(s, "branding", test_branding) == NULL ||
	    CU_add_test(s, "email addresses", test_mail_addr) == NULL ||
	    CU_add_test(s, "problems found after loading", test_report_add) == NULL ||
	    CU_add_test(s, "1,000 service providers", test_many_sps) == NULL ||
	    CU_add_test(s, "upstreams", test_upstreams) == NULL ||
	    CU_add_test(s, "scim targets", test_scim_targets) == NULL ||
	    CU_add_test(s, "oidc clients", test_oidc_clients) == NULL ||
	    CU_add_test(s, "oidc clients: tls (RFC 8705)", test_oidc_clients_tls) == NULL ||
	    CU_add_test(s, "oidc client of the store", test_oidc_client_parse) == NULL)
		return -1;
	return 0;
}
