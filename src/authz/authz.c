/* SPDX-License-Identifier: Apache-2.0 */
/* authz/authz.c: forward auth's decision: request facts in, verdict and identity headers out. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "map/map.h"
#include "authz/authz.h"

/* One claimed host (and path prefix) of one app. */
struct host_entry {
	const char *host; /* borrowed from the app's hosts[k], cut at '/' */
	size_t hostlen;
	const char *prefix; /* "" or "/wiki" (borrowed) */
	const struct fb_conf_app *app;
};

struct fb_authz {
	struct host_entry *hosts; /* sorted by host, then longest prefix first */
	size_t nhosts;
};

static int
entry_cmp(const void *a, const void *b)
{
	const struct host_entry *x = a, *y = b;
	size_t n = x->hostlen < y->hostlen ? x->hostlen : y->hostlen;
	int c = memcmp(x->host, y->host, n);

	if (c != 0)
		return c;
	if (x->hostlen != y->hostlen)
		return x->hostlen < y->hostlen ? -1 : 1;
	/* Longest prefix first: the most specific app is tried first. */
	return strlen(x->prefix) > strlen(y->prefix) ? -1 : strlen(x->prefix) < strlen(y->prefix);
}

struct fb_authz *
fb_authz_new(const struct fb_conf *conf)
{
	struct fb_authz *az;
	size_t n = 0;

	if (conf == NULL || conf->napps == 0)
		return NULL;
	for (size_t i = 0; i < conf->napps; i++)
		n += conf->apps[i].nhosts;
	az = fb_xcalloc(1, sizeof(*az));
	az->hosts = fb_xcalloc(n + 1, sizeof(*az->hosts));
	for (size_t i = 0; i < conf->napps; i++)
		for (size_t k = 0; k < conf->apps[i].nhosts; k++) {
			const char *h = conf->apps[i].hosts[k];
			struct host_entry *e = &az->hosts[az->nhosts++];

			e->host = h;
			e->hostlen = strcspn(h, "/");
			e->prefix = h + e->hostlen;
			e->app = &conf->apps[i];
		}
	qsort(az->hosts, az->nhosts, sizeof(*az->hosts), entry_cmp);
	return az;
}

void
fb_authz_free(struct fb_authz *az)
{
	if (az == NULL)
		return;
	free(az->hosts);
	free(az);
}

const char *
fb_authz_verdict_name(enum fb_authz_verdict v)
{
	static const char *const names[] = {"allow", "anonymous", "signin", "forbidden", "no-app",
	    "bad-request"};

	return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

/* ---- normalisation -------------------------------------------------------- */

enum fb_status
fb_authz_path_normalise(const char *uri, char **out, struct fb_err *err)
{
	size_t len = strcspn(uri, "?#"), n = 0, o = 0;
	char *dec = NULL, *res = NULL;
	enum fb_status r = FB_ERR_INVALID;

	*out = NULL;
	if (len == 0 || uri[0] != '/') {
		r = fb_err_set(err, FB_ERR_INVALID, "the path does not start with '/'");
		goto out;
	}
	if (len > FB_AUTHZ_PATH_MAX) {
		r = fb_err_set(err, FB_ERR_INVALID, "the path is longer than %d bytes",
		    FB_AUTHZ_PATH_MAX);
		goto out;
	}
	/* Decode once. */
	dec = fb_xmalloc(len + 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)uri[i];

		if (c == '%') {
			int hi = i + 2 < len ? fb_hex_value(uri[i + 1]) : -1;
			int lo = hi >= 0 ? fb_hex_value(uri[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				r = fb_err_set(err, FB_ERR_INVALID,
				    "a '%%' is not followed by two "
				    "hexadecimal digits");
				goto out;
			}
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
			/* SECURITY: servers split at an encoded '/' or '\' or not: refuse. */
			if (c == '/' || c == '\\') {
				r = fb_err_set(err, FB_ERR_INVALID, "an encoded '%c' in the path",
				    c);
				goto out;
			}
			/* SECURITY: "%25 2e" decoded twice by some upstreams is '.': refuse. */
			if (c == '%' && i + 2 < len && fb_hex_value(uri[i + 1]) >= 0 &&
			    fb_hex_value(uri[i + 2]) >= 0) {
				r = fb_err_set(err, FB_ERR_INVALID,
				    "a double %%-escape in the path");
				goto out;
			}
		}
		if (c < 0x20 || c == 0x7f || c == '\\') {
			r = fb_err_set(err, FB_ERR_INVALID,
			    "a control character or '\\' in the "
			    "path");
			goto out;
		}
		dec[n++] = (char)c;
	}
	dec[n] = '\0';
	/* Segments: drop ";params", empty and "." segments; ".." removes the previous one. */
	res = fb_xmalloc(n + 2);
	for (size_t i = 0; i < n;) {
		size_t slen, plen;
		const char *seg;

		while (i < n && dec[i] == '/')
			i++;
		seg = dec + i;
		slen = strcspn(seg, "/");
		plen = strcspn(seg, ";");
		if (plen > slen)
			plen = slen;
		i += slen;
		if (plen == 0 || (plen == 1 && seg[0] == '.'))
			continue;
		if (plen == 2 && seg[0] == '.' && seg[1] == '.') {
			while (o > 0 && res[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the '/' before it */
			continue;
		}
		res[o++] = '/';
		memcpy(res + o, seg, plen);
		o += plen;
	}
	if (o == 0)
		res[o++] = '/';
	else if (n > 0 && dec[n - 1] == '/')
		res[o++] = '/';
	res[o] = '\0';
	*out = res;
	res = NULL;
	r = FB_OK;
out:
	free(dec);
	free(res);
	return r;
}

enum fb_status
fb_authz_host_normalise(const char *host, char *out, struct fb_err *err)
{
	size_t len;

	out[0] = '\0';
	if (host == NULL)
		return fb_err_set(err, FB_ERR_INVALID, "no host");
	if (host[0] == '[') {
		const char *close = strchr(host, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return fb_err_set(err, FB_ERR_INVALID, "a bad IPv6 literal as host");
		len = (size_t)(close - host) + 1;
	} else {
		len = strcspn(host, ":");
	}
	if (host[len] == ':') {
		const char *p = host + len + 1;

		if (*p == '\0' || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p))
			return fb_err_set(err, FB_ERR_INVALID, "a bad port after the host");
	}
	if (len > 1 && host[len - 1] == '.')
		len--;
	if (len == 0 || len > FB_AUTHZ_HOST_MAX || host[len - 1] == '.')
		return fb_err_set(err, FB_ERR_INVALID, "the host is empty or too long");
	for (size_t i = 0; i < len; i++) {
		char c = host[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		             c == '.' || (host[0] == '[' && (c == ':' || c == '[' || c == ']'))))
			return fb_err_set(err, FB_ERR_INVALID,
			    "the host holds a character that is "
			    "not allowed in a host name");
		if (c == '.' && (i == 0 || host[i - 1] == '.'))
			return fb_err_set(err, FB_ERR_INVALID, "the host has an empty label");
		out[i] = c;
	}
	out[len] = '\0';
	return FB_OK;
}

/* ---- matching ------------------------------------------------------------- */

/*
 * 1 when path is under prefix, segment-wise ("/admin" covers "/admin" and
 * "/admin/x", not "/administrator"); 0 when not; -1 when it would be under
 * it but for letter case (an upstream may ignore case: refused).
 */
static int
under(const char *prefix, const char *path)
{
	size_t n = strlen(prefix);

	if (n == 0 || (n == 1 && prefix[0] == '/'))
		return 1;
	if (strncasecmp(prefix, path, n) != 0)
		return 0;
	if (prefix[n - 1] != '/' && path[n] != '\0' && path[n] != '/')
		return 0;
	return strncmp(prefix, path, n) == 0 ? 1 : -1;
}

static const struct host_entry *
host_first(const struct fb_authz *az, const char *host)
{
	size_t lo = 0, hi = az->nhosts, hlen = strlen(host);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct host_entry *e = &az->hosts[mid];
		size_t n = e->hostlen < hlen ? e->hostlen : hlen;
		int c = memcmp(e->host, host, n);

		if (c == 0 && e->hostlen != hlen)
			c = e->hostlen < hlen ? -1 : 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < az->nhosts && az->hosts[lo].hostlen == hlen &&
	    memcmp(az->hosts[lo].host, host, hlen) == 0)
		return &az->hosts[lo];
	return NULL;
}

static const char *
member_of(const struct fb_authz_request *rq, char *const *groups, size_t ngroups)
{
	for (size_t i = 0; i < ngroups; i++)
		for (size_t j = 0; j < rq->ngroups; j++)
			if (rq->groups[j] != NULL && strcmp(groups[i], rq->groups[j]) == 0)
				return groups[i];
	return NULL;
}

static int
method_matches(const struct fb_conf_app_rule *ru, const char *method)
{
	if (ru->nmethods == 0)
		return 1;
	for (size_t i = 0; i < ru->nmethods; i++)
		if (method != NULL && strcasecmp(ru->methods[i], method) == 0)
			return 1;
	return 0;
}

static void FB_PRINTF(3, 4)
    verdict(struct fb_authz_decision *d, enum fb_authz_verdict v, const char *fmt, ...)
{
	va_list ap;

	d->verdict = v;
	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
}

static const char *
action_name(enum fb_conf_app_action a)
{
	return a == FB_CONF_APP_DENY ? "deny" : a == FB_CONF_APP_ANONYMOUS ? "anonymous" : "allow";
}

/* The rules of d->app, then its groups, decide. */
static void
decide_app(const struct fb_authz_request *rq, struct fb_authz_decision *d)
{
	const struct fb_conf_app *app = d->app;
	const char *g;

	for (size_t i = 0; i < app->nrules; i++) {
		const struct fb_conf_app_rule *ru = &app->rules[i];
		int m;

		if (!method_matches(ru, rq->method))
			continue;
		if ((m = under(ru->path, d->path)) == 0)
			continue;
		d->rule = (int)i;
		if (m < 0) {
			verdict(d, FB_AUTHZ_BAD_REQUEST,
			    "path %s differs from rule %zu's %s only in letter case", d->path, i,
			    ru->path);
			return;
		}
		if (ru->ngroups == 0) {
			if (ru->action == FB_CONF_APP_DENY)
				verdict(d, FB_AUTHZ_FORBIDDEN,
				    "rule %zu (deny %s) refuses everyone", i, ru->path);
			else if (ru->action == FB_CONF_APP_ANONYMOUS)
				verdict(d,
				    rq->username != NULL ? FB_AUTHZ_ALLOW : FB_AUTHZ_ANONYMOUS,
				    "rule %zu (anonymous %s) lets everyone in", i, ru->path);
			else if (rq->username != NULL)
				verdict(d, FB_AUTHZ_ALLOW,
				    "rule %zu (allow %s) lets every signed-in user in", i,
				    ru->path);
			else
				verdict(d, FB_AUTHZ_SIGNIN,
				    "rule %zu (allow %s) needs a signed-in user", i, ru->path);
			return;
		}
		if (rq->username == NULL) {
			verdict(d, FB_AUTHZ_SIGNIN, "rule %zu (%s %s) depends on the user's groups",
			    i, action_name(ru->action), ru->path);
			return;
		}
		if ((g = member_of(rq, ru->groups, ru->ngroups)) == NULL)
			continue;
		d->group = g;
		verdict(d, ru->action == FB_CONF_APP_DENY ? FB_AUTHZ_FORBIDDEN : FB_AUTHZ_ALLOW,
		    "rule %zu (%s %s) matches group %s", i, action_name(ru->action), ru->path, g);
		return;
	}
	d->rule = -1;
	if (rq->username == NULL) {
		verdict(d, FB_AUTHZ_SIGNIN, "app %s needs a signed-in user", app->name);
	} else if (app->ngroups == 0) {
		verdict(d, FB_AUTHZ_ALLOW, "app %s lets every signed-in user in (no groups:)",
		    app->name);
	} else if ((g = member_of(rq, app->groups, app->ngroups)) != NULL) {
		d->group = g;
		verdict(d, FB_AUTHZ_ALLOW, "app %s lets group %s in", app->name, g);
	} else {
		verdict(d, FB_AUTHZ_FORBIDDEN, "%s is in none of app %s's groups", rq->username,
		    app->name);
	}
}

void
fb_authz_decide(const struct fb_authz *az, const struct fb_authz_request *rq,
    struct fb_authz_decision *d)
{
	const struct host_entry *e;
	struct fb_err err;

	memset(d, 0, sizeof(*d));
	d->rule = -1;
	if (fb_authz_host_normalise(rq->host, d->host, &err) != FB_OK) {
		verdict(d, FB_AUTHZ_BAD_REQUEST, "host: %s", err.msg);
		return;
	}
	if (rq->uri == NULL || fb_authz_path_normalise(rq->uri, &d->path, &err) != FB_OK) {
		verdict(d, FB_AUTHZ_BAD_REQUEST, "path: %s", rq->uri == NULL ? "none" : err.msg);
		return;
	}
	if (az == NULL || (e = host_first(az, d->host)) == NULL) {
		verdict(d, FB_AUTHZ_NO_APP, "no app for hostname %s", d->host);
		return;
	}
	for (; e < az->hosts + az->nhosts && strlen(d->host) == e->hostlen &&
	       memcmp(e->host, d->host, e->hostlen) == 0;
	     e++) {
		int m = under(e->prefix, d->path);

		if (m == 0)
			continue;
		d->app = e->app;
		if (m < 0) {
			verdict(d, FB_AUTHZ_BAD_REQUEST,
			    "path %s differs from app %s's prefix %s only in letter case", d->path,
			    e->app->name, e->prefix);
			return;
		}
		decide_app(rq, d);
		return;
	}
	verdict(d, FB_AUTHZ_NO_APP, "no app for hostname %s and path %s", d->host, d->path);
}

void
fb_authz_decision_cleanup(struct fb_authz_decision *d)
{
	if (d == NULL)
		return;
	free(d->path);
	d->path = NULL;
}

/* ---- identity headers ----------------------------------------------------- */

/* value without control characters (new). */
static char *
clean(const char *value)
{
	size_t n = 0;
	char *out = fb_xmalloc(strlen(value) + 1);

	for (const char *p = value; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x20 && *p != 0x7f)
			out[n++] = *p;
	out[n] = '\0';
	return out;
}

static void
put(json_t *o, const char *header, const char *value)
{
	char *v;

	if (header == NULL || header[0] == '\0')
		return;
	v = clean(value != NULL ? value : "");
	json_object_set_new(o, header, json_string(v));
	free(v);
}

json_t *
fb_authz_headers_build(const struct fb_conf_app *app, const char *username, const char *email,
    const char *display_name, const char *const *groups, size_t ngroups, const json_t *mapped)
{
	json_t *o = json_object();
	struct fb_buf b;
	const char *k;
	json_t *v;

	put(o, app->header_username, username);
	put(o, app->header_email, email);
	put(o, app->header_name, display_name);
	fb_buf_init(&b, 65536);
	for (size_t i = 0; username != NULL && i < ngroups; i++)
		/* Group names hold no ',' (groups[].name: letters, digits, . _ -). */
		fb_buf_addf(&b, NULL, "%s%s", i > 0 ? "," : "", groups[i]);
	put(o, app->header_groups, b.data != NULL ? b.data : "");
	fb_buf_cleanup(&b);
	json_object_foreach((json_t *)mapped, k, v)
		if (json_is_string(v))
			put(o, k, json_string_value(v));
	for (size_t i = 0; i < app->nmapped; i++)
		if (json_object_get(o, app->mapped[i].header) == NULL)
			put(o, app->mapped[i].header, "");
	return o;
}

enum fb_status
fb_authz_mapped_eval(const struct fb_conf_app *app, const struct fb_map_set *set,
    const json_t *user, json_t **out, struct fb_err *err)
{
	json_t *request =
	    json_pack("{s:s, s:s, s:n}", "name", app->name, "type", "forward_auth", "upstream");
	struct fb_map_input in = {user, request, NULL};
	enum fb_status r = FB_OK;
	json_t *o = json_object();

	*out = NULL;
	for (size_t i = 0; i < app->nmapped && r == FB_OK; i++) {
		const struct fb_conf_app_mapped *m = &app->mapped[i];
		const struct fb_map_rule *rule = fb_map_set_get(set, m->mapping);
		json_t *res = NULL, *vals = NULL, *v;
		struct fb_buf b;
		size_t k;

		if (rule == NULL) {
			r = fb_err_set(err, FB_ERR_DENIED, "header %s: no mapping '%s'", m->header,
			    m->mapping);
			break;
		}
		if ((r = fb_map_rule_eval(rule, &in, NULL, &res, NULL, err)) != FB_OK ||
		    (r = fb_map_saml_values(m->mapping, res, &vals, err)) != FB_OK) {
			if (r != FB_ERR_DENIED)
				r = fb_err_set(err, FB_ERR_DENIED, "header %s: %s", m->header,
				    err != NULL ? err->msg : "the mapping failed");
			json_decref(res);
			break;
		}
		fb_buf_init(&b, 65536);
		json_array_foreach(vals, k, v)
			fb_buf_addf(&b, NULL, "%s%s", k > 0 ? "," : "", json_string_value(v));
		put(o, m->header, b.data != NULL ? b.data : "");
		fb_buf_cleanup(&b);
		json_decref(vals);
		json_decref(res);
	}
	json_decref(request);
	if (r != FB_OK)
		json_decref(o);
	else
		*out = o;
	return r;
}
