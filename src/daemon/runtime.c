/* SPDX-License-Identifier: Apache-2.0 */
/* daemon/runtime.c: what one configuration loads (conf, keys, sealer) and the listening sockets. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "local/local.h"
#include "map/map.h"
#include "saml/saml.h"
#include "http/http.h"
#include "daemon/daemon.h"
#include "daemon/internal.h"

#define LISTEN_BACKLOG 511

/*
 * Logs the report's lines from the from-th on; raw prints them as they are
 * (a configuration that did not load has no log format to follow).
 */
static void
report_out(const struct fb_conf_report *rep, size_t from, int raw)
{
	for (size_t i = from; i < fb_conf_report_count(rep); i++) {
		const char *line = fb_conf_report_line(rep, i);

		if (raw)
			fprintf(stderr, "%s\n", line);
		else if (fb_conf_report_is_error(rep, i))
			fb_log(FB_LOG_ERROR, "%s", line);
		else
			fb_log(FB_LOG_WARN, "%s", line);
	}
}

static enum fb_status
state_dir_ensure(const char *dir, struct fb_err *err)
{
	struct stat st;

	if (dir == NULL || dir[0] == '\0')
		return FB_OK;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return fb_err_set(err, FB_ERR_IO, "server.state_dir: cannot create %s: %s", dir,
		    strerror(errno));
	if (stat(dir, &st) != 0)
		return fb_err_set(err, FB_ERR_IO, "server.state_dir: %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fb_err_set(err, FB_ERR_IO, "server.state_dir: %s is not a directory", dir);
	return FB_OK;
}

enum fb_status
fb_daemon_runtime_load(const char *path, const struct fb_conf_overrides *ov, int startup,
    struct fb_daemon_runtime **out, struct fb_err *err)
{
	struct fb_daemon_runtime *rt = fb_xcalloc(1, sizeof(*rt));
	struct fb_conf_report *rep = NULL;
	struct fb_store *st = NULL;
	enum fb_status rc;
	size_t shown;

	*out = NULL;

	rc = fb_conf_load(path, ov, &rt->conf, &rep, err);
	/* At start-up, the warnings and what follows are logged as configured. */
	if (rc == FB_OK && startup)
		fb_log_setup(rt->conf->log_format, rt->conf->log_level, 2);
	report_out(rep, 0, rc != FB_OK && startup);
	shown = fb_conf_report_count(rep);
	if (rc == FB_ERR_CONFIG && fb_conf_report_errors(rep) > 0) {
		size_t n = fb_conf_report_errors(rep);

		/* Every line was reported already: the summary is enough. */
		fb_err_set(err, rc, "%s: %zu configuration %s", path != NULL ? path : "(built-in)",
		    n, n == 1 ? "error" : "errors");
	}
	if (rc != FB_OK)
		goto out;
	rt->workers = rt->conf->workers > 0 ? rt->conf->workers : fb_conf_cpu_count();
	fb_daemon_public_url_check(rt->conf);
	rt->rules = fb_daemon_rules_snapshot(rt->conf->mappings_dir);
	/* A PostgreSQL store that cannot be used stops us before anything is created. */
	if ((rc = fb_store_check(rt->conf, NULL, err)) != FB_OK)
		goto out;
	if ((rc = state_dir_ensure(rt->conf->state_dir, err)) != FB_OK)
		goto out;
	if ((rc = fb_crypto_keyring_load(rt->conf, &rt->keyring, err)) != FB_OK)
		goto out;
	fb_crypto_keyring_log(rt->keyring, rt->conf->key_min_publish_time);
	if ((rc = fb_crypto_sealer_load(rt->conf, &rt->sealer, err)) != FB_OK)
		goto out;
	/*
	 * SECURITY: fail here, not in every worker: mappings compile, SAML SPs set up;
	 * what this builds (the rules, the IdP) the workers inherit at the fork.
	 */
	rc = fb_daemon_conf_build(rt->conf, rt->keyring, rep, &rt->maps, &rt->idp, err);
	report_out(rep, shown, 0);
	if (rc != FB_OK)
		goto out;
	if ((rc = fb_http_tls_check(rt->conf, err)) != FB_OK)
		goto out;
	/* Migrations run here, once; each process opens its own handle later. */
	if ((rc = fb_store_open(rt->conf, &st, err)) != FB_OK)
		goto out;
	/* A fresh store gets its bootstrap administrator before any worker serves. */
	rc = startup ? fb_local_bootstrap(rt->conf, st, err) : FB_OK;
	fb_store_close(st);
	if (rc != FB_OK)
		goto out;
	*out = rt;
	rt = NULL;
out:
	fb_conf_report_free(rep);
	fb_daemon_runtime_free(rt);
	return rc;
}

void
fb_daemon_runtime_free(struct fb_daemon_runtime *rt)
{
	if (rt == NULL)
		return;
	json_decref(rt->rules);
	fb_saml_idp_free(rt->idp); /* borrows maps, conf and the keyring */
	fb_map_set_free(rt->maps);
	fb_crypto_sealer_free(rt->sealer);
	fb_crypto_keyring_free(rt->keyring);
	fb_conf_free(rt->conf);
	free(rt);
}

char *
fb_daemon_runtime_urls(const struct fb_daemon_runtime *rt)
{
	const char *scheme = rt->conf->tls_cert != NULL ? "https" : "http";
	char *s = fb_xstrdup("");

	for (size_t i = 0; i < rt->conf->nlisten; i++) {
		char *n = fb_xasprintf("%s%s%s://%s", s, i > 0 ? ", " : "", scheme,
		    rt->conf->listen[i]);

		free(s);
		s = n;
	}
	return s;
}

uint64_t
fb_daemon_nofile_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur != rl.rlim_max) {
		rlim_t cur = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = cur;
	}
	return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}

/* Splits "ADDR:PORT" or "[V6]:PORT" into host and port (new strings). */
static enum fb_status
split_addr(const char *addr, char **host, char **port, struct fb_err *err)
{
	const char *colon;

	*host = *port = NULL;
	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');

		if (end == NULL || end[1] != ':')
			goto bad;
		*host = fb_xstrndup(addr + 1, (size_t)(end - addr - 1));
		colon = end + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL)
			goto bad;
		*host = fb_xstrndup(addr, (size_t)(colon - addr));
	}
	if (colon[1] == '\0')
		goto bad;
	*port = fb_xstrdup(colon + 1);
	return FB_OK;
bad:
	free(*host);
	*host = NULL;
	return fb_err_set(err, FB_ERR_CONFIG, "cannot listen on %s: expected ADDR:PORT", addr);
}

/*
 * The port of server.public_url when people would reach it directly: an
 * explicit port, or the scheme's default when the host is loopback (behind
 * a proxy a public URL without a port is normal). 0 when there is none.
 */
static long
public_port(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL;
	long r = 0;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK) {
		r = strtol(port, NULL, 10);
	} else if (curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    (strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
		strcmp(host, "[::1]") == 0) &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
		r = strtol(port, NULL, 10);
	}
out:
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return r;
}

void
fb_daemon_public_url_check(const struct fb_conf *conf)
{
	long want;
	struct fb_err err = {0};

	if (conf->public_url == NULL || (want = public_port(conf->public_url)) == 0)
		return;
	for (size_t i = 0; i < conf->nlisten; i++) {
		char *host, *port;

		if (split_addr(conf->listen[i], &host, &port, &err) != FB_OK)
			continue;
		free(host);
		if (strtol(port, NULL, 10) == want) {
			free(port);
			return;
		}
		free(port);
	}
	fb_log_write(FB_LOG_WARN, "app", __func__, NULL,
	    (const char *const[]){"public_url", conf->public_url, "listen",
		conf->nlisten > 0 ? conf->listen[0] : "-", NULL},
	    "server.public_url names port %ld, which no listen address uses: links built from it "
	    "(recovery mails, the SAML entity id and endpoints) would not reach this server", want);
}

enum fb_status
fb_daemon_listen(const char *addr, int *out, struct fb_err *err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_PASSIVE};
	struct addrinfo *ai = NULL;
	char *host = NULL, *port = NULL;
	int fd = -1, one = 1, g;
	enum fb_status rc;

	*out = -1;
	if ((rc = split_addr(addr, &host, &port, err)) != FB_OK)
		return rc;
	g = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &ai);
	if (g != 0) {
		rc = fb_err_set(err, FB_ERR_IO, "cannot listen on %s: %s", addr, gai_strerror(g));
		goto out;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    ai->ai_protocol);
	if (fd < 0) {
		rc = fb_err_set(err, FB_ERR_IO, "cannot listen on %s: socket: %s", addr,
		    strerror(errno));
		goto out;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    (ai->ai_family == AF_INET6 &&
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)) {
		rc = fb_err_set(err, FB_ERR_IO, "cannot listen on %s: setsockopt: %s", addr,
		    strerror(errno));
		goto out;
	}
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
		rc = fb_err_set(err, FB_ERR_IO, "cannot listen on %s: %s", addr, strerror(errno));
		goto out;
	}
	*out = fd;
	fd = -1;
	rc = FB_OK;
out:
	if (fd >= 0)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	free(host);
	free(port);
	return rc;
}
