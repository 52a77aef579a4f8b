/* SPDX-License-Identifier: Apache-2.0 */
/* conf/check.c: checks that span several keys, and the defaults derived from other keys. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
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

void
fb_conf_check_readable(struct fb_conf_ctx *ctx, const char *path, const char *file)
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
	for (size_t i = 0; c->metrics_listen != NULL && i < c->nlisten; i++)
		if (strcmp(c->metrics_listen, c->listen[i]) == 0) {
			struct fb_conf_place pl;

			place(ctx, "metrics.listen", NULL, &pl);
			fb_conf_problem(ctx, &pl, "metrics.listen", 1,
			    "'%s' is a server.listen address too: give /metrics its own port",
			    c->metrics_listen);
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
		fb_conf_check_readable(ctx, "server.tls.cert", c->tls_cert);
	if (c->tls_key != NULL)
		fb_conf_check_readable(ctx, "server.tls.key", c->tls_key);
	if (c->tls_client_ca != NULL) {
		fb_conf_check_readable(ctx, "server.tls.client_ca", c->tls_client_ca);
		if (c->tls_cert == NULL) {
			place(ctx, "server.tls.client_ca", NULL, &pl);
			fb_conf_problem(ctx, &pl, "server.tls.client_ca", 1,
			    "client certificates need TLS here: set server.tls.cert and "
			    "server.tls.key");
		}
	}
}

int
fb_conf_url_is_loopback(const char *url)
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
	if (strncmp(c->public_url, "http://", 7) != 0 || fb_conf_url_is_loopback(c->public_url))
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

	if (c->store_driver == FB_STORE_POSTGRES && c->store_dsn == NULL) {
		place(ctx, "store.driver", NULL, &pl);
		fb_conf_problem(ctx, &pl, "store.driver", 1,
		    "'postgres' needs store.dsn, the connection string (by secret reference)");
	}
	if (c->store_driver == FB_STORE_SQLITE && fb_conf_is_set(ctx, "store.dsn")) {
		place(ctx, "store.dsn", NULL, &pl);
		fb_conf_problem(ctx, &pl, "store.dsn", 0, "ignored: store.driver is sqlite");
	}
	/*
	 * A worker is one event loop making one synchronous store call at a
	 * time: a second connection in it would stay idle (bench/store.sh).
	 */
	if (fb_conf_is_set(ctx, "store.pool_size") && c->store_pool_size != 1) {
		place(ctx, "store.pool_size", NULL, &pl);
		fb_conf_problem(ctx, &pl, "store.pool_size", 0,
		    "%lld is ignored: each worker and the jobs process holds one "
		    "connection, as a worker makes one store call at a time",
		    (long long)c->store_pool_size);
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
			fb_conf_check_readable(ctx, path, k->key_file);
			free(path);
		}
		if (k->cert_file != NULL) {
			path = fb_xasprintf("keys[%zu].cert", i);
			fb_conf_check_readable(ctx, path, k->cert_file);
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
fb_conf_item_problemv(struct fb_conf_ctx *ctx, const char *list, size_t i, const char *leaf,
    int is_error, const char *fmt, va_list ap)
{
	char *path = leaf != NULL ? fb_xasprintf("%s[%zu].%s", list, i, leaf)
	                          : fb_xasprintf("%s[%zu]", list, i);
	char *ipath = fb_xasprintf("%s[%zu]", list, i);
	struct fb_conf_place pl;
	char *msg = fb_xvasprintf(fmt, ap);

	fb_conf_place_of(ctx, path, &pl);
	if (pl.origin == FB_CONF_NOWHERE)
		fb_conf_key_place_of(ctx, path, &pl);
	if (pl.origin == FB_CONF_NOWHERE && leaf != NULL && strchr(leaf, '.') != NULL) {
		/* A missing oidc.x: at its section. */
		char *sect = fb_xasprintf("%s.%.*s", ipath, (int)strcspn(leaf, ".["), leaf);

		fb_conf_place_of(ctx, sect, &pl);
		free(sect);
	}
	if (pl.origin == FB_CONF_NOWHERE)
		fb_conf_place_of(ctx, ipath, &pl);
	fb_conf_problem(ctx, &pl, path, is_error, "%s", msg);
	free(msg);
	free(ipath);
	free(path);
}

/* Reports at saml.service_providers[i].leaf (falling back to the SP item's place). */
void
fb_conf_item_problem(struct fb_conf_ctx *ctx, const char *list, size_t i, const char *leaf,
    int is_error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fb_conf_item_problemv(ctx, list, i, leaf, is_error, fmt, ap);
	va_end(ap);
}

static void
sp_problem(struct fb_conf_ctx *ctx, size_t i, const char *leaf, int is_error, const char *fmt,
    ...) FB_PRINTF(5, 6);

static void
sp_problem(struct fb_conf_ctx *ctx, size_t i, const char *leaf, int is_error, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	fb_conf_item_problemv(ctx, "saml.service_providers", i, leaf, is_error, fmt, ap);
	va_end(ap);
}

/* The inline keys that a metadata file replaces. */
static const char *const sp_inline_keys[] = {"entity_id", "acs", "certificate", "slo_url",
    "encryption_certificate"};

static void
check_saml_sp_acs(struct fb_conf_ctx *ctx, size_t i, struct fb_conf_saml_sp *sp)
{
	size_t ndefault = 0;

	for (size_t a = 0; a < sp->nacs; a++) {
		char *ipath = fb_xasprintf("saml.service_providers[%zu].acs[%zu].index", i, a);

		if (!fb_conf_is_set(ctx, ipath))
			sp->acs[a].index = (int)a;
		free(ipath);
		ndefault += sp->acs[a].is_default != 0;
	}
	for (size_t a = 1; a < sp->nacs; a++)
		for (size_t b = 0; b < a; b++)
			if (sp->acs[a].index == sp->acs[b].index) {
				char *leaf = fb_xasprintf("acs[%zu].index", a);

				sp_problem(ctx, i, leaf, 1, "index %d is used twice (also acs[%zu])",
				    sp->acs[a].index, b);
				free(leaf);
				break;
			}
	if (ndefault > 1)
		sp_problem(ctx, i, "acs", 1, "%zu entries are marked default: at most one may be",
		    ndefault);
}

static void
check_saml_sp_refs(struct fb_conf_ctx *ctx, size_t i, const struct fb_conf_saml_sp *sp)
{
	const struct fb_conf *c = ctx->conf;

	for (size_t g = 0; g < sp->ngroups; g++) {
		size_t j;

		for (j = 0; j < c->ngroups; j++)
			if (c->groups[j].name != NULL && strcmp(c->groups[j].name, sp->groups[g]) == 0)
				break;
		if (j == c->ngroups) {
			char *leaf = fb_xasprintf("groups[%zu]", g);

			sp_problem(ctx, i, leaf, 1,
			    "unknown group '%s' (declare it under groups:, or remove it)",
			    sp->groups[g]);
			free(leaf);
		}
	}
	for (size_t a = 0; a < sp->nattributes; a++) {
		const struct fb_conf_saml_attr *at = &sp->attributes[a];

		if (at->name == NULL)
			continue;
		for (size_t b = 0; b < a; b++)
			if (sp->attributes[b].name != NULL && strcmp(sp->attributes[b].name, at->name) == 0) {
				char *leaf = fb_xasprintf("attributes[%zu].name", a);

				sp_problem(ctx, i, leaf, 1,
				    "attribute '%s' is listed twice (also attributes[%zu]): one mapping "
				    "returns all its values",
				    at->name, b);
				free(leaf);
				break;
			}
	}
}

void
fb_conf_check_mapping_file(struct fb_conf_ctx *ctx, const char *list, size_t i, const char *leaf,
    const char *name)
{
	char *file;
	struct stat st;

	if (name == NULL || ctx->conf->mappings_dir == NULL)
		return;
	file = fb_xasprintf("%s/%s.py", ctx->conf->mappings_dir, name);
	if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
		fb_conf_item_problem(ctx, list, i, leaf, 1,
		    "no mapping '%s': %s does not exist (mappings.dir is %s)", name, file,
		    ctx->conf->mappings_dir);
	free(file);
}

/* Reports a mapping that has no file under mappings.dir. */
static void
check_mapping_file(struct fb_conf_ctx *ctx, size_t i, const char *leaf, const char *name)
{
	fb_conf_check_mapping_file(ctx, "saml.service_providers", i, leaf, name);
}

static void
check_saml_sp_profile(struct fb_conf_ctx *ctx, size_t i, const struct fb_conf_saml_sp *sp)
{
	int role = 0, session = 0;

	for (size_t a = 0; a < sp->nattributes; a++) {
		const char *n = sp->attributes[a].name;

		if (n == NULL)
			continue;
		role |= strcmp(n, "https://aws.amazon.com/SAML/Attributes/Role") == 0;
		session |= strcmp(n, "https://aws.amazon.com/SAML/Attributes/RoleSessionName") == 0;
		if (sp->profile == FB_CONF_SAML_AWS &&
		    strncmp(n, "https://aws.amazon.com/SAML/Attributes/", 39) != 0 &&
		    strncmp(n, "urn:oid:", 8) != 0) {
			char *leaf = fb_xasprintf("attributes[%zu].name", a);

			sp_problem(ctx, i, leaf, 0,
			    "AWS reads only https://aws.amazon.com/SAML/Attributes/... and urn:oid: "
			    "attributes; '%s' will be ignored",
			    n);
			free(leaf);
		}
	}
	if (sp->profile == FB_CONF_SAML_AWS) {
		/* notes/aws.md A.4: both are required by AWS. */
		if (!role)
			sp_problem(ctx, i, "attributes", 0,
			    "no attribute https://aws.amazon.com/SAML/Attributes/Role: AWS refuses "
			    "every sign-in without it (map it, e.g. with mappings/aws_role.py)");
		if (!session)
			sp_problem(ctx, i, "attributes", 0,
			    "no attribute https://aws.amazon.com/SAML/Attributes/RoleSessionName: AWS "
			    "refuses every sign-in without it (e.g. mappings/aws_role_session_name.py)");
		if (sp->sign == FB_CONF_SAML_SIGN_RESPONSE)
			sp_problem(ctx, i, "sign", 0,
			    "AWS wants signed assertions (WantAssertionsSigned): use both or assertion");
	}
	if (sp->profile == FB_CONF_SAML_AWS_IDENTITY_CENTER) {
		/* notes/aws.md B.2: emailAddress NameID, one unencrypted assertion. */
		if (sp->nameid_format != FB_CONF_NAMEID_EMAIL)
			sp_problem(ctx, i, "nameid.format", 0,
			    "IAM Identity Center requires an emailAddress NameID (format: email) "
			    "equal to the user's Identity Center username");
		if (sp->nameid_format == FB_CONF_NAMEID_EMAIL && sp->nameid_mapping == NULL &&
		    sp->nameid_source == FB_CONF_NAMEID_FROM_UID)
			sp_problem(ctx, i, "nameid.source", 0,
			    "uid is not an email address: IAM Identity Center needs an addr-spec");
		if (sp->encrypt_assertion)
			sp_problem(ctx, i, "encrypt_assertion", 0,
			    "IAM Identity Center does not accept encrypted assertions");
		if (sp->sign == FB_CONF_SAML_SIGN_RESPONSE)
			sp_problem(ctx, i, "sign", 0,
			    "IAM Identity Center wants signed assertions: use both or assertion");
	}
	if (sp->signature_algorithm == FB_CONF_SAML_RSA_SHA1)
		sp_problem(ctx, i, "signature_algorithm", 0,
		    "rsa-sha1 is weak and refused by strict SPs: use rsa-sha256 unless the SP "
		    "accepts nothing else");
	if (sp->nameid_mapping != NULL && (sp->nameid_format == FB_CONF_NAMEID_PERSISTENT ||
	                                      sp->nameid_format == FB_CONF_NAMEID_TRANSIENT))
		sp_problem(ctx, i, "nameid.mapping", 0, "%s",
		    sp->nameid_format_set
		        ? "ignored: a persistent or transient NameID is generated by fedbroker"
		        : "used only when the SP asks for an emailAddress NameID (without "
		          "nameid.format the NameID is the persistent one fedbroker generates)");
}

static void
check_saml(struct fb_conf_ctx *ctx)
{
	struct fb_conf *c = ctx->conf;

	if (c->mappings_dir == NULL)
		c->mappings_dir = fb_conf_path_join(ctx->basedir, "mappings");
	if (c->saml_entity_id == NULL && !fb_conf_is_set(ctx, "saml.idp.entity_id") &&
	    c->public_url != NULL)
		c->saml_entity_id = fb_xasprintf("%s/saml/idp/metadata", c->public_url);
	for (size_t i = 0; i < c->nsaml_sps; i++) {
		struct fb_conf_saml_sp *sp = &c->saml_sps[i];
		char *path = fb_xasprintf("saml.service_providers[%zu].require_signed_requests", i);

		sp->require_signed_requests_set = fb_conf_is_set(ctx, path);
		free(path);
		path = fb_xasprintf("saml.service_providers[%zu].nameid.format", i);
		sp->nameid_format_set = fb_conf_is_set(ctx, path);
		free(path);
		path = fb_xasprintf("saml.service_providers[%zu].nameid.source", i);
		sp->nameid_source_set = fb_conf_is_set(ctx, path);
		free(path);
		if (sp->name == NULL)
			continue; /* not a mapping, or a bad name: reported already */
		for (size_t j = 0; j < i; j++)
			if (c->saml_sps[j].name != NULL && strcmp(c->saml_sps[j].name, sp->name) == 0) {
				sp_problem(ctx, i, "name", 1,
				    "duplicate service provider '%s' (also saml.service_providers[%zu])",
				    sp->name, j);
				break;
			}
		for (size_t j = 0; j < i && sp->entity_id != NULL; j++)
			if (c->saml_sps[j].entity_id != NULL &&
			    strcmp(c->saml_sps[j].entity_id, sp->entity_id) == 0) {
				sp_problem(ctx, i, "entity_id",
				    1, "entity id '%s' is used twice (also saml.service_providers[%zu])",
				    sp->entity_id, j);
				break;
			}
		if (sp->display_name == NULL)
			sp->display_name = fb_xstrdup(sp->name);
		if (sp->metadata != NULL) {
			char *leaf;

			for (size_t k = 0; k < sizeof(sp_inline_keys) / sizeof(sp_inline_keys[0]); k++) {
				leaf = fb_xasprintf("saml.service_providers[%zu].%s", i,
				    sp_inline_keys[k]);
				if (fb_conf_is_set(ctx, leaf))
					sp_problem(ctx, i, sp_inline_keys[k], 1,
					    "give either metadata: or the inline %s:, not both (the "
					    "metadata file declares it)",
					    sp_inline_keys[k]);
				free(leaf);
			}
			leaf = fb_xasprintf("saml.service_providers[%zu].metadata", i);
			fb_conf_check_readable(ctx, leaf, sp->metadata);
			free(leaf);
		} else {
			if (sp->entity_id == NULL)
				sp_problem(ctx, i, "entity_id", 1,
				    "missing: give metadata: (a file under metadata/) or entity_id: and "
				    "acs:");
			if (sp->nacs == 0)
				sp_problem(ctx, i, "acs", 1,
				    "missing: give metadata: or at least one acs: entry (url:)");
			if (sp->certificate != NULL) {
				char *leaf = fb_xasprintf("saml.service_providers[%zu].certificate", i);

				fb_conf_check_readable(ctx, leaf, sp->certificate);
				free(leaf);
			}
			if (sp->encryption_certificate != NULL) {
				char *leaf = fb_xasprintf(
				    "saml.service_providers[%zu].encryption_certificate", i);

				fb_conf_check_readable(ctx, leaf, sp->encryption_certificate);
				free(leaf);
			}
		}
		if (sp->require_signed_requests_set && sp->require_signed_requests &&
		    sp->metadata == NULL && sp->certificate == NULL)
			sp_problem(ctx, i, "require_signed_requests", 1,
			    "true needs the SP's certificate: give certificate: (or metadata: with a "
			    "signing key)");
		if (sp->encrypt_assertion && sp->metadata == NULL &&
		    sp->encryption_certificate == NULL && sp->certificate == NULL)
			sp_problem(ctx, i, "encrypt_assertion", 1,
			    "true needs the SP's encryption certificate: give encryption_certificate: "
			    "(or metadata: with an encryption key)");
		check_saml_sp_acs(ctx, i, sp);
		check_saml_sp_refs(ctx, i, sp);
		for (size_t a = 0; a < sp->nattributes; a++) {
			char *leaf = fb_xasprintf("attributes[%zu].mapping", a);

			check_mapping_file(ctx, i, leaf, sp->attributes[a].mapping);
			free(leaf);
		}
		check_mapping_file(ctx, i, "nameid.mapping", sp->nameid_mapping);
		check_saml_sp_profile(ctx, i, sp);
	}
}

/* SECURITY: a block of every address lets any client choose the address it is counted as. */
static void
check_trusted_proxies(struct fb_conf_ctx *ctx)
{
	struct fb_conf *c = ctx->conf;
	struct fb_conf_place pl;

	for (size_t i = 0; i < c->ntrusted_proxies; i++) {
		const char *slash = strrchr(c->trusted_proxies[i], '/');
		char path[48];

		if (slash == NULL || strcmp(slash, "/0") != 0)
			continue;
		snprintf(path, sizeof(path), "server.trusted_proxies[%zu]", i);
		place(ctx, path, "server.trusted_proxies", &pl);
		fb_conf_problem(ctx, &pl, "server.trusted_proxies", 0,
		    "'%s' trusts every address: any client could name the address its failed "
		    "sign-ins are counted against (list the proxies' own addresses)",
		    c->trusted_proxies[i]);
	}
}

void
fb_conf_check_all(struct fb_conf_ctx *ctx)
{
	check_listen(ctx);
	check_trusted_proxies(ctx);
	check_tls(ctx);
	check_public_url(ctx);
	check_store(ctx);
	check_keys(ctx);
	check_groups(ctx);
	check_local(ctx);
	check_smtp(ctx);
	check_saml(ctx);
	fb_conf_check_upstreams(ctx);
	fb_conf_check_scim(ctx);
	fb_conf_check_apps(ctx);
	fb_conf_check_oidc(ctx);
}
