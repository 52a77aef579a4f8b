/* SPDX-License-Identifier: Apache-2.0 */
/* http/ops.c: the operations endpoints /healthz, /readyz and /metrics. */
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "saml/saml.h"
#include "scim/scim.h"
#include "http/http.h"

#define TEXT_PLAIN "text/plain; charset=utf-8"
/* Upper bound of the /metrics text (65 routes x 24 codes and histograms fit easily). */
#define METRICS_TEXT_MAX (4 * 1024 * 1024)

/* Liveness: the worker's loop answers; nothing else is touched. */
static void
healthz(struct fb_http_req *req, void *arg)
{
	fb_http_reply(req, 200, TEXT_PLAIN, "ok\n", 3);
}

/* Readiness: the store answers a trivial query. */
static void
readyz(struct fb_http_req *req, void *arg)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_err err = {0};

	if (env->store == NULL) {
		fb_http_reply(req, 503, TEXT_PLAIN, "store not open\n", 15);
		return;
	}
	if (fb_store_ping(env->store, &err) != FB_OK) {
		fb_rlog_err(req, &err);
		fb_http_reply(req, 503, TEXT_PLAIN, "store unavailable\n", 18);
		return;
	}
	fb_http_reply(req, 200, TEXT_PLAIN, "ready\n", 6);
}

/*
 * 1 when req carries "Authorization: Bearer TOKEN" with metrics.token
 * (compared in constant time over the longer length), or no token is set.
 */
static int
metrics_authorized(const struct fb_http_req *req, const char *token)
{
	const char *h = fb_http_req_header(req, "Authorization");
	size_t tlen, glen;
	int ok;

	if (token == NULL)
		return 1;
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	h += strspn(h, " ");
	tlen = strlen(token);
	glen = strlen(h);
	ok = glen == tlen;
	/* Same work whatever the length given: compare the token with itself when it differs. */
	ok &= fb_memeq_ct(ok ? h : token, token, tlen) == 0;
	return ok;
}

static void
metrics(struct fb_http_req *req, void *arg)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	struct fb_err err = {0};
	struct fb_buf b;

	if (!metrics_authorized(req, env->conf->metrics_token)) {
		/* RFC 6750 3: the scheme expected; nothing about the token. */
		fb_http_reply_header(req, "WWW-Authenticate", "Bearer realm=\"metrics\"");
		fb_http_reply(req, 401, TEXT_PLAIN, "Unauthorized\n", 13);
		return;
	}
	if (env->metrics == NULL) {
		fb_http_reply_error(req, FB_ERR_NOTFOUND, NULL, NULL);
		return;
	}
	fb_buf_init(&b, METRICS_TEXT_MAX);
	/* The jobs process refreshes upstream metadata: its counters come from its status files. */
	if (fb_http_metrics_render(env->metrics, &b, &err) != FB_OK ||
	    fb_saml_upstream_metadata_metrics(env->conf, &b, &err) != FB_OK ||
	    fb_scim_metrics(env->conf, env->store, &b, &err) != FB_OK)
		fb_http_reply_error(req, FB_ERR_INTERNAL, NULL, &err);
	else
		fb_http_reply(req, 200, FB_HTTP_METRICS_CONTENT_TYPE, b.data, b.len);
	fb_buf_cleanup(&b);
}

enum fb_status
fb_http_ops_register(struct fb_http_router *r, const struct fb_conf *conf, struct fb_err *err)
{
	enum fb_status rc;

	rc = fb_http_router_add(r, "/healthz", FB_HTTP_GET, healthz, NULL, err);
	if (rc == FB_OK)
		rc = fb_http_router_add(r, "/readyz", FB_HTTP_GET, readyz, NULL, err);
	/* With metrics.listen, /metrics is on that listener only (fb_http_ops_metrics_register). */
	if (rc == FB_OK && conf->metrics_enabled && conf->metrics_listen == NULL)
		rc = fb_http_router_add(r, "/metrics", FB_HTTP_GET, metrics, NULL, err);
	return rc;
}

enum fb_status
fb_http_ops_metrics_register(struct fb_http_router *r, const struct fb_conf *conf,
    struct fb_err *err)
{
	if (!conf->metrics_enabled)
		return FB_OK;
	return fb_http_router_add(r, "/metrics", FB_HTTP_GET, metrics, NULL, err);
}
