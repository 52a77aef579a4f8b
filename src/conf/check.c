/* SPDX-License-Identifier: Apache-2.0 */
/* conf/check.c: checks that span several keys, and the defaults derived from other keys. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/core.h"
#include "conf/internal.h"

/* The place of path's value, else of its key, else of fallback's value. */
static void
place(const struct fb_conf_ctx *ctx, const char *path, const char *fallback,
    struct fb_conf_place *pl)
{
	fb_conf_place_of(ctx, path, pl);
	if (pl->origin == FB_CONF_NOWHERE && fallback != NULL)
		fb_conf_place_of(ctx, fallback, pl);
}

/* Reports when file cannot be opened for reading or is not a regular file. */
static void
check_readable(struct fb_conf_ctx *ctx, const char *path, const char *file)
{
	struct fb_conf_place pl;
	struct stat st;
	int fd;

	place(ctx, path, NULL, &pl);
	if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		fb_conf_problem(ctx, &pl, path, 1, "cannot read '%s': %s", file, strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0)
		fb_conf_problem(ctx, &pl, path, 1, "cannot read '%s': %s", file, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		fb_conf_problem(ctx, &pl, path, 1, "'%s' is not a regular file", file);
	close(fd);
}

static void
check_listen(struct fb_conf_ctx *ctx)
{
	const struct fb_conf *c = ctx->conf;

	for (size_t i = 1; i < c->nlisten; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->listen[i], c->listen[j]) == 0) {
				struct fb_conf_place pl;
				char *path = fb_xasprintf("server.listen[%zu]", i);

				place(ctx, path, "server.listen", &pl);
				fb_conf_problem(ctx, &pl, path, 1, "'%s' is listed twice",
				    c->listen[i]);
				free(path);
				break;
			}
}

static void
check_tls(struct fb_conf_ctx *ctx)
{
	const struct fb_conf *c = ctx->conf;
	struct fb_conf_place pl;

	if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
		const char *given = c->tls_cert != NULL ? "server.tls.cert" : "server.tls.key";
		const char *missing = c->tls_cert != NULL ? "server.tls.key" : "server.tls.cert";

		place(ctx, given, NULL, &pl);
		fb_conf_problem(ctx, &pl, missing, 1,
		    "missing: %s is set; give both server.tls.cert and server.tls.key, or neither",
		    given);
	}
	if (c->tls_cert != NULL)
		check_readable(ctx, "server.tls.cert", c->tls_cert);
	if (c->tls_key != NULL)
		check_readable(ctx, "server.tls.key", c->tls_key);
}

/* 1 when url's host is localhost, 127.0.0.0/8 or ::1. */
static int
url_is_loopback(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL;
	unsigned char a4[4], a6[16];
	int r = 0;

	if (u == NULL)
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		size_t len = strlen(host);

		if (strcasecmp(host, "localhost") == 0)
			r = 1;
		else if (inet_pton(AF_INET, host, a4) == 1)
			r = a4[0] == 127;
		else if (len > 2 && host[0] == '[' && host[len - 1] == ']') {
			host[len - 1] = '\0';
			r = inet_pton(AF_INET6, host + 1, a6) == 1 &&
			    memcmp(a6, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
		}
	}
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

static void
check_public_url(struct fb_conf_ctx *ctx)
{
	struct fb_conf *c = ctx->conf;
	struct fb_conf_place pl;
	int derived = c->public_url == NULL;

	if (derived) {
		if (c->nlisten == 0)
			return;
		c->public_url =
		    fb_xasprintf("%s://%s", c->tls_cert != NULL ? "https" : "http", c->listen[0]);
		place(ctx, "server.listen[0]", "server.listen", &pl);
	} else {
		place(ctx, "server.public_url", NULL, &pl);
	}
	/* SECURITY: over plain http session cookies and SAML assertions cross the network. */
	if (strncmp(c->public_url, "http://", 7) != 0 || url_is_loopback(c->public_url))
		return;
	if (derived)
		fb_conf_problem(ctx, &pl, "server.public_url", 0,
		    "'%s' (derived from server.listen) is plain http on a non-loopback host: "
		    "set server.public_url to the https:// address people use",
		    c->public_url);
	else
		fb_conf_problem(ctx, &pl, "server.public_url", 0,
		    "plain http on a non-loopback host: sessions and assertions would cross the "
		    "network unencrypted (use https:// behind a TLS proxy, or server.tls)");
}

static void
check_store(struct fb_conf_ctx *ctx)
{
	struct fb_conf *c = ctx->conf;
	struct fb_conf_place pl;

	if (c->store_driver == FB_STORE_POSTGRES && c->store_dsn == NULL &&
	    !fb_conf_is_set(ctx, "store.dsn")) {
		place(ctx, "store.driver", NULL, &pl);
		fb_conf_problem(ctx, &pl, "store.dsn", 1,
		    "missing: required when store.driver is postgres (e.g. dsn: env:FB_STORE_DSN)");
	}
	if (c->store_driver == FB_STORE_SQLITE && fb_conf_is_set(ctx, "store.dsn")) {
		place(ctx, "store.dsn", NULL, &pl);
		fb_conf_problem(ctx, &pl, "store.dsn", 0, "ignored: store.driver is sqlite");
	}
	if (c->store_driver == FB_STORE_POSTGRES && fb_conf_is_set(ctx, "store.path")) {
		place(ctx, "store.path", NULL, &pl);
		fb_conf_problem(ctx, &pl, "store.path", 0, "ignored: store.driver is postgres");
	}
	if (c->store_path == NULL && c->state_dir != NULL)
		c->store_path = fb_xasprintf("%s/fedbroker.db", c->state_dir);
}

static void
check_keys(struct fb_conf_ctx *ctx)
{
	const struct fb_conf *c = ctx->conf;
	struct fb_conf_place pl;
	size_t active = c->nkeys, seen = 0;

	for (size_t i = 0; i < c->nkeys; i++) {
		const struct fb_conf_key *k = &c->keys[i];
		char *path;

		/* An item that was not a mapping was reported already. */
		if (k->id == NULL && k->key_file == NULL && k->cert_file == NULL)
			continue;
		seen++;
		for (size_t j = 0; j < i && k->id != NULL; j++)
			if (c->keys[j].id != NULL && strcmp(c->keys[j].id, k->id) == 0) {
				path = fb_xasprintf("keys[%zu].id", i);
				place(ctx, path, NULL, &pl);
				fb_conf_problem(ctx, &pl, path, 1,
				    "duplicate id '%s' (also keys[%zu])", k->id, j);
				free(path);
				break;
			}
		if (k->state == FB_KEY_ACTIVE && active == c->nkeys) {
			active = i;
		} else if (k->state == FB_KEY_ACTIVE) {
			char *ipath = fb_xasprintf("keys[%zu]", i);

			path = fb_xasprintf("keys[%zu].state", i);
			place(ctx, path, ipath, &pl);
			fb_conf_problem(ctx, &pl, path, 1,
			    "a second active key (keys[%zu] is active): exactly one key signs, "
			    "mark the others 'state: published'",
			    active);
			free(ipath);
			free(path);
		}
		if (k->key_file != NULL) {
			path = fb_xasprintf("keys[%zu].key", i);
			check_readable(ctx, path, k->key_file);
			free(path);
		}
		if (k->cert_file != NULL) {
			path = fb_xasprintf("keys[%zu].cert", i);
			check_readable(ctx, path, k->cert_file);
			free(path);
		}
	}
	if (seen > 0 && active == c->nkeys) {
		fb_conf_key_place_of(ctx, "keys", &pl);
		fb_conf_problem(ctx, &pl, "keys", 1,
		    "no key is active: mark exactly one key 'state: active' (it signs)");
	}
}

static void
check_groups(struct fb_conf_ctx *ctx)
{
	const struct fb_conf *c = ctx->conf;
	struct fb_conf_place pl;

	for (size_t i = 0; i < c->ngroups; i++) {
		const struct fb_conf_group *g = &c->groups[i];
		char *path;

		for (size_t j = 0; j < i && g->name != NULL; j++)
			if (c->groups[j].name != NULL && strcmp(c->groups[j].name, g->name) == 0) {
				path = fb_xasprintf("groups[%zu].name", i);
				place(ctx, path, NULL, &pl);
				fb_conf_problem(ctx, &pl, path, 1,
				    "duplicate group '%s' (also groups[%zu])", g->name, j);
				free(path);
				break;
			}
		for (size_t m = 1; m < g->nmembers; m++)
			for (size_t j = 0; j < m; j++)
				if (strcmp(g->members[m], g->members[j]) == 0) {
					char *ipath = fb_xasprintf("groups[%zu].members", i);

					path = fb_xasprintf("groups[%zu].members[%zu]", i, m);
					place(ctx, path, ipath, &pl);
					fb_conf_problem(ctx, &pl, path, 0, "'%s' is listed twice",
					    g->members[m]);
					free(ipath);
					free(path);
					break;
				}
	}
}

/* Bootstrap secrets shorter than these are refused (SECURITY: they grant admin). */
#define FB_CONF_MIN_BOOTSTRAP_PASSWORD 12
#define FB_CONF_MIN_BOOTSTRAP_TOKEN    32

static void
check_local(struct fb_conf_ctx *ctx)
{
	const struct fb_conf *c = ctx->conf;
	struct fb_conf_place pl;

	/* Argon2 needs at least 8 KiB of memory per lane. */
	if ((uint64_t)c->argon2_m_cost_kib < 8 * (uint64_t)c->argon2_parallelism) {
		place(ctx, "local.password.memory_kib", "local.password.parallelism", &pl);
		fb_conf_problem(ctx, &pl, "local.password.memory_kib", 1,
		    "%u KiB is too little for parallelism %u: argon2 needs at least 8 KiB per lane "
		    "(%u KiB)",
		    (unsigned)c->argon2_m_cost_kib, (unsigned)c->argon2_parallelism,
		    8 * (unsigned)c->argon2_parallelism);
	}
	if (c->bootstrap_password != NULL &&
	    strlen(c->bootstrap_password) < FB_CONF_MIN_BOOTSTRAP_PASSWORD) {
		place(ctx, "local.bootstrap.password", NULL, &pl);
		fb_conf_problem(ctx, &pl, "local.bootstrap.password", 1,
		    "the password is %zu bytes long; at least %d are needed",
		    strlen(c->bootstrap_password), FB_CONF_MIN_BOOTSTRAP_PASSWORD);
	}
	if (c->bootstrap_token != NULL &&
	    strlen(c->bootstrap_token) < FB_CONF_MIN_BOOTSTRAP_TOKEN) {
		place(ctx, "local.bootstrap.token", NULL, &pl);
		fb_conf_problem(ctx, &pl, "local.bootstrap.token", 1,
		    "the token is %zu bytes long; at least %d are needed (make one with: openssl "
		    "rand -hex 32)",
		    strlen(c->bootstrap_token), FB_CONF_MIN_BOOTSTRAP_TOKEN);
	}
	if (!c->bootstrap_enabled) {
		static const char *const keys[] = {"local.bootstrap.password",
		    "local.bootstrap.token"};

		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (fb_conf_is_set(ctx, keys[i])) {
				place(ctx, keys[i], NULL, &pl);
				fb_conf_problem(ctx, &pl, keys[i], 0,
				    "ignored: local.bootstrap.enabled is false");
			}
	}
}

/* 1 when host (no brackets) is localhost, 127.0.0.0/8 or ::1. */
static int
host_is_loopback(const char *host)
{
	unsigned char a4[4], a6[16];

	if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
		return 1;
	if (inet_pton(AF_INET, host, a4) == 1)
		return a4[0] == 127;
	return inet_pton(AF_INET6, host, a6) == 1 &&
	       memcmp(a6, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
}

static void
check_smtp(struct fb_conf_ctx *ctx)
{
	static const char *const keys[] = {"smtp.port", "smtp.security", "smtp.username",
	    "smtp.password", "smtp.from", "smtp.timeout"};
	static const int ports[] = {587, 465, 25}; /* by enum fb_conf_smtp_security */
	struct fb_conf *c = ctx->conf;
	struct fb_conf_place pl;

	if (c->smtp_host == NULL) {
		if (fb_conf_is_set(ctx, "smtp.host"))
			return; /* given but refused: reported already */
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (fb_conf_is_set(ctx, keys[i])) {
				place(ctx, keys[i], NULL, &pl);
				fb_conf_problem(ctx, &pl, keys[i], 0,
				    "ignored: smtp.host is not set, so email is off");
			}
		return;
	}
	if (c->smtp_from == NULL && !fb_conf_is_set(ctx, "smtp.from")) {
		place(ctx, "smtp.host", NULL, &pl);
		fb_conf_problem(ctx, &pl, "smtp.from", 1,
		    "missing: required when smtp.host is set (e.g. from: \"Example SSO "
		    "<sso@example.com>\")");
	}
	if (c->smtp_port == 0 && !fb_conf_is_set(ctx, "smtp.port"))
		c->smtp_port = ports[c->smtp_security];
	if (fb_conf_is_set(ctx, "smtp.username") != fb_conf_is_set(ctx, "smtp.password")) {
		const char *given =
		    fb_conf_is_set(ctx, "smtp.username") ? "smtp.username" : "smtp.password";
		const char *missing =
		    fb_conf_is_set(ctx, "smtp.username") ? "smtp.password" : "smtp.username";

		place(ctx, given, NULL, &pl);
		fb_conf_problem(ctx, &pl, missing, 1,
		    "missing: %s is set; give both smtp.username and smtp.password, or neither",
		    given);
	}
	/* SECURITY: without TLS the SMTP password and the recovery links cross the network. */
	if (c->smtp_security == FB_SMTP_NONE && !host_is_loopback(c->smtp_host)) {
		place(ctx, "smtp.security", "smtp.host", &pl);
		fb_conf_problem(ctx, &pl, "smtp.security", 0,
		    "none sends mail%s unencrypted to the non-loopback host '%s': use starttls or "
		    "tls",
		    c->smtp_username != NULL ? " and the SMTP password" : "", c->smtp_host);
	}
	if ((c->smtp_security == FB_SMTP_STARTTLS && c->smtp_port == 465) ||
	    (c->smtp_security == FB_SMTP_TLS && (c->smtp_port == 587 || c->smtp_port == 25))) {
		place(ctx, "smtp.port", "smtp.security", &pl);
		fb_conf_problem(ctx, &pl, "smtp.port", 0,
		    "port %d usually expects %s, but smtp.security is %s", c->smtp_port,
		    c->smtp_port == 465 ? "implicit TLS (security: tls)"
		                        : "STARTTLS (security: starttls)",
		    c->smtp_security == FB_SMTP_TLS ? "tls" : "starttls");
	}
}

void
fb_conf_check_all(struct fb_conf_ctx *ctx)
{
	check_listen(ctx);
	check_tls(ctx);
	check_public_url(ctx);
	check_store(ctx);
	check_keys(ctx);
	check_groups(ctx);
	check_local(ctx);
	check_smtp(ctx);
}
