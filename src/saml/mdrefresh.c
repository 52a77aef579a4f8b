/* SPDX-License-Identifier: Apache-2.0 */
/*
 * saml/mdrefresh.c: upstream IdP metadata fetched from metadata_url by the
 * jobs process, verified with the pinned certificate, kept as the last good
 * copy in the state directory (what workers load), and the refresh counters
 * that /metrics shows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "net/net.h"
#include "saml/saml.h"
#include "saml/internal.h"

/* A failed refresh is retried after this long at most (seconds). */
#define RETRY_MAX 300
/* The shortest refresh interval a cacheDuration can ask for (seconds). */
#define CACHE_MIN 60

char *
fb_saml_upstream_metadata_path(const struct fb_conf *conf, const struct fb_conf_upstream *up,
    const char *suffix)
{
	return fb_xasprintf("%s/upstream-metadata/%s%s",
	    conf->state_dir != NULL ? conf->state_dir : ".", up->name, suffix);
}

/* The status file: {"failures": N, "last_success": T, "last_error": "..."}; a new object. */
static json_t *
status_read(const char *path)
{
	json_t *o = json_load_file(path, 0, NULL);

	if (!json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	return o;
}

static void
status_write(const char *path, json_t *o)
{
	struct fb_err err = {0};
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

	if (s != NULL && fb_saml_file_write(path, s, strlen(s), 0644, &err) != FB_OK)
		fb_log_err(FB_LOG_WARN, NULL, &err);
	free(s);
}

/*
 * Checks fetched metadata (xml, len) for up; FB_OK or the reason in err.
 * *valid_until set (0: none), *cache the cacheDuration in seconds (0: none
 * or not a duration).
 */
static enum fb_status
check(const struct fb_conf_upstream *up, const char *xml, size_t len, const char *old,
    size_t old_len, int64_t *valid_until, int64_t *cache, struct fb_err *err)
{
	char *pem = NULL;
	size_t pem_len = 0;
	json_t *info = NULL, *prev = NULL;
	const char *vu, *eid;
	enum fb_status r;

	*valid_until = 0;
	*cache = 0;
	if ((r = fb_saml_file_read(up->saml.metadata_certificate, &pem, &pem_len, err)) != FB_OK)
		goto out;
	/* SECURITY: the signature must verify with the pinned certificate (never KeyInfo's). */
	if ((r = fb_saml_metadata_parse(xml, len, pem, &info, err)) != FB_OK)
		goto out;
	if (!json_is_true(json_object_get(info, "signature_verified"))) {
		r = fb_err_set(err, FB_ERR_SIGNATURE, "the metadata signature was not verified");
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(info, "role")) != NULL
	               ? json_string_value(json_object_get(info, "role"))
	               : "",
	        "idp") != 0) {
		r = fb_err_set(err, FB_ERR_INVALID, "not SAML IdP metadata");
		goto out;
	}
	vu = json_string_value(json_object_get(info, "valid_until"));
	if (vu != NULL) {
		*valid_until = fb_saml_datetime_parse(vu);
		if (*valid_until <= 0) {
			r = fb_err_set(err, FB_ERR_INVALID, "validUntil '%s' is not a date", vu);
			goto out;
		}
		if (*valid_until <= fb_time_now()) {
			r = fb_err_set(err, FB_ERR_EXPIRED, "validUntil %s is past", vu);
			goto out;
		}
	}
	vu = json_string_value(json_object_get(info, "cache_duration"));
	if (vu != NULL && (*cache = fb_saml_duration_parse(vu)) < 0) {
		fb_log(FB_LOG_WARN, "upstream %s: cacheDuration '%s' is not a duration (ignored)",
		    up->name, vu);
		*cache = 0;
	}
	eid = json_string_value(json_object_get(info, "entity_id"));
	if (old != NULL && fb_saml_metadata_parse(old, old_len, NULL, &prev, NULL) == FB_OK) {
		const char *peid = json_string_value(json_object_get(prev, "entity_id"));

		if (peid != NULL && (eid == NULL || strcmp(peid, eid) != 0)) {
			r = fb_err_set(err, FB_ERR_INVALID,
			    "entityID %s is not the last good copy's %s",
			    eid != NULL ? eid : "(none)", peid);
			goto out;
		}
	}
	r = FB_OK;
out:
	json_decref(prev);
	json_decref(info);
	free(pem);
	return r;
}

/*
 * After a failed refresh: says so when the last good copy (old, may be NULL)
 * is itself past its validUntil. It stays in use (a failed refresh never
 * takes the upstream down), but the operator should know.
 */
static void
old_expired_warn(const struct fb_conf_upstream *up, const char *old, size_t old_len)
{
	json_t *info = NULL;

	if (old != NULL && fb_saml_metadata_parse(old, old_len, NULL, &info, NULL) == FB_OK &&
	    json_is_true(json_object_get(info, "expired")))
		fb_log(FB_LOG_WARN,
		    "upstream %s: the last good metadata copy expired (validUntil %s); it stays in "
		    "use until a refresh succeeds",
		    up->name, json_string_value(json_object_get(info, "valid_until")));
	json_decref(info);
}

void
fb_saml_upstream_metadata_request(const struct fb_conf_upstream *up,
    struct fb_net_http_request *rq)
{
	memset(rq, 0, sizeof(*rq));
	rq->url = up->saml.metadata_url;
	rq->accept = "application/samlmetadata+xml, application/xml, text/xml";
	rq->ca_file = up->saml.ca_file;
	rq->max_body = FB_SAML_METADATA_FILE_MAX;
}

enum fb_status
fb_saml_upstream_metadata_refresh(const struct fb_conf *conf, const struct fb_conf_upstream *up,
    int *changed, int64_t *next, struct fb_err *err)
{
	struct fb_net_http_request rq;
	struct fb_net_http_response resp = {0};
	struct fb_err ferr = {0};
	enum fb_status r;

	fb_saml_upstream_metadata_request(up, &rq);
	r = fb_net_http_fetch(&rq, &resp, &ferr);
	r = fb_saml_upstream_metadata_store(conf, up, r, &resp, &ferr, changed, next, err);
	fb_net_http_response_cleanup(&resp);
	return r;
}

enum fb_status
fb_saml_upstream_metadata_store(const struct fb_conf *conf, const struct fb_conf_upstream *up,
    enum fb_status fetched, const struct fb_net_http_response *resp,
    const struct fb_err *fetch_err, int *changed, int64_t *next, struct fb_err *err)
{
	char *dir =
	    fb_xasprintf("%s/upstream-metadata", conf->state_dir != NULL ? conf->state_dir : ".");
	char *path = fb_saml_upstream_metadata_path(conf, up, ".xml");
	char *spath = fb_saml_upstream_metadata_path(conf, up, ".status.json");
	char *old = NULL;
	size_t old_len = 0;
	int64_t now = fb_time_now(), vu = 0, cache = 0, refresh = up->saml.metadata_refresh;
	json_t *st = status_read(spath);
	enum fb_status r;

	*changed = 0;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		r = fb_err_set(err, FB_ERR_IO, "%s: %s", dir, strerror(errno));
		goto out;
	}
	if (fb_saml_file_read(path, &old, &old_len, NULL) != FB_OK)
		old = NULL;
	if ((r = fetched) != FB_OK) {
		fb_err_set(err, r, "%s", fetch_err != NULL ? fetch_err->msg : "the fetch failed");
		goto out;
	}
	if (resp->status != 200) {
		r = fb_err_set(err, FB_ERR_UPSTREAM, "HTTP status %ld", resp->status);
		goto out;
	}
	if ((r = check(up, resp->body, resp->body_len, old, old_len, &vu, &cache, err)) != FB_OK)
		goto out;
	if (old == NULL || old_len != resp->body_len || memcmp(old, resp->body, old_len) != 0) {
		if ((r = fb_saml_file_write(path, resp->body, resp->body_len, 0644, err)) != FB_OK)
			goto out;
		*changed = 1;
	}
	json_object_set_new(st, "last_success", json_integer(now));
out:
	if (r != FB_OK) {
		fb_err_prefix(err,
		    "upstream %s: metadata refresh from %s failed, keeping the last "
		    "good copy",
		    up->name, up->saml.metadata_url);
		json_object_set_new(st, "failures",
		    json_integer(json_integer_value(json_object_get(st, "failures")) + 1));
		json_object_set_new(st, "last_error", json_string(err->msg));
		if (refresh > RETRY_MAX)
			refresh = RETRY_MAX;
		old_expired_warn(up, old, old_len);
	}
	/* The IdP's cacheDuration when shorter, but not below CACHE_MIN (a refresh a second). */
	if (r == FB_OK && cache > 0 && cache < refresh)
		refresh = cache < CACHE_MIN ? CACHE_MIN : cache;
	*next = now + refresh;
	if (vu > now && vu < *next)
		*next = vu;
	json_object_set_new(st, "next_refresh", json_integer(*next));
	status_write(spath, st);
	json_decref(st);
	free(old);
	free(spath);
	free(path);
	free(dir);
	return r;
}

int64_t
fb_saml_upstream_metadata_due(const struct fb_conf *conf, const struct fb_conf_upstream *up)
{
	char *path = fb_saml_upstream_metadata_path(conf, up, ".xml");
	char *spath = fb_saml_upstream_metadata_path(conf, up, ".status.json");
	json_t *st = status_read(spath);
	struct stat sb;
	int64_t due = 0;

	/* Without a last good copy: now. */
	if (stat(path, &sb) == 0)
		due = json_integer_value(json_object_get(st, "next_refresh"));
	json_decref(st);
	free(spath);
	free(path);
	return due;
}

/* One metric family (name, help, type) over every upstream with a metadata_url: field of the
 * status. */
static enum fb_status
metrics_family(const struct fb_conf *conf, const char *name, const char *help, const char *type,
    const char *field, struct fb_buf *out, struct fb_err *err)
{
	enum fb_status r = FB_OK;
	int head = 0;

	for (size_t i = 0; i < conf->nupstreams && r == FB_OK; i++) {
		const struct fb_conf_upstream *up = &conf->upstreams[i];
		char *spath;
		json_t *st;

		if (up->type != FB_CONF_UPSTREAM_SAML || up->saml.metadata_url == NULL)
			continue;
		if (!head) {
			head = 1;
			if ((r = fb_buf_addf(out, err, "# HELP %s %s\n# TYPE %s %s\n", name, help,
			         name, type)) != FB_OK)
				break;
		}
		spath = fb_saml_upstream_metadata_path(conf, up, ".status.json");
		st = status_read(spath);
		/* Upstream names are [a-z0-9_-]: nothing to escape in the label. */
		r = fb_buf_addf(out, err, "%s{upstream=\"%s\"} %jd\n", name, up->name,
		    (intmax_t)json_integer_value(json_object_get(st, field)));
		json_decref(st);
		free(spath);
	}
	return r;
}

enum fb_status
fb_saml_upstream_metadata_metrics(const struct fb_conf *conf, struct fb_buf *out,
    struct fb_err *err)
{
	enum fb_status r;

	r = metrics_family(conf, "fedbroker_upstream_metadata_refresh_failures_total",
	    "Failed refreshes of an upstream's metadata_url (the last good copy is kept).",
	    "counter", "failures", out, err);
	if (r == FB_OK)
		r = metrics_family(conf,
		    "fedbroker_upstream_metadata_last_success_timestamp_seconds",
		    "When an upstream's metadata_url was last fetched and verified (0: never).",
		    "gauge", "last_success", out, err);
	return r;
}
