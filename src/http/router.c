/* SPDX-License-Identifier: Apache-2.0 */
/* http/router.c: method-aware routing on exact paths and path prefixes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "http/http.h"
#include "http/internal.h"

struct route {
	char *pattern;	/* as given */
	size_t prefix;	/* for a prefix pattern, the length up to its last slash; 0 for exact */
	unsigned methods;
	fb_http_handler_fn *fn;
	void *arg;
};

struct fb_http_router {
	struct route routes[FB_HTTP_ROUTES_MAX];
	size_t n;
};

static const struct {
	const char *name;
	enum fb_http_method m;
} methods[] = {
	{"GET", FB_HTTP_GET},
	{"HEAD", FB_HTTP_HEAD},
	{"POST", FB_HTTP_POST},
	{"PUT", FB_HTTP_PUT},
	{"DELETE", FB_HTTP_DELETE},
	{"PATCH", FB_HTTP_PATCH},
	{"OPTIONS", FB_HTTP_OPTIONS},
};

struct fb_http_router *
fb_http_router_new(void)
{
	return fb_xcalloc(1, sizeof(struct fb_http_router));
}

void
fb_http_router_free(struct fb_http_router *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->routes[i].pattern);
	free(r);
}

enum fb_status
fb_http_router_add(struct fb_http_router *r, const char *pattern, unsigned methods_mask,
    fb_http_handler_fn *fn, void *arg, struct fb_err *err)
{
	size_t len = strlen(pattern);
	struct route *rt;

	if (pattern[0] != '/')
		return fb_err_set(err, FB_ERR_INVALID, "route '%s': must start with '/'", pattern);
	if (methods_mask == 0 || fn == NULL)
		return fb_err_set(err, FB_ERR_INVALID, "route '%s': no method or no handler",
		    pattern);
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->routes[i].pattern, pattern) == 0)
			return fb_err_set(err, FB_ERR_INVALID, "route '%s': already registered",
			    pattern);
	if (r->n == FB_HTTP_ROUTES_MAX)
		return fb_err_set(err, FB_ERR_LIMIT, "route '%s': more than %d routes", pattern,
		    FB_HTTP_ROUTES_MAX);
	rt = &r->routes[r->n++];
	rt->pattern = fb_xstrdup(pattern);
	rt->prefix = len >= 2 && strcmp(pattern + len - 2, "/*") == 0 ? len - 1 : 0;
	/* RFC 9110 9.3.2: a server that answers GET answers HEAD the same way. */
	rt->methods = methods_mask & FB_HTTP_GET ? methods_mask | FB_HTTP_HEAD : methods_mask;
	rt->fn = fn;
	rt->arg = arg;
	return FB_OK;
}

enum fb_http_route_result
fb_http_router_match(const struct fb_http_router *r, enum fb_http_method method,
    const char *path, fb_http_handler_fn **fn, void **arg, const char **label, unsigned *allow)
{
	const struct route *best = NULL;

	for (size_t i = 0; i < r->n; i++) {
		const struct route *rt = &r->routes[i];

		if (rt->prefix == 0) {
			if (strcmp(rt->pattern, path) == 0) {
				best = rt;
				break; /* an exact match wins */
			}
		} else if (strncmp(rt->pattern, path, rt->prefix) == 0 &&
		    (best == NULL || rt->prefix > best->prefix)) {
			best = rt;
		}
	}
	if (label != NULL)
		*label = best != NULL ? best->pattern : FB_HTTP_ROUTE_UNMATCHED;
	if (allow != NULL)
		*allow = best != NULL ? best->methods : 0;
	if (best == NULL)
		return FB_HTTP_ROUTE_NOT_FOUND;
	if ((best->methods & (unsigned)method) == 0)
		return FB_HTTP_ROUTE_BAD_METHOD;
	if (fn != NULL)
		*fn = best->fn;
	if (arg != NULL)
		*arg = best->arg;
	return FB_HTTP_ROUTE_FOUND;
}

enum fb_http_method
fb_http_method_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(s, methods[i].name) == 0)
			return methods[i].m;
	return FB_HTTP_OTHER;
}

void
fb_http_methods_format(unsigned mask, char *out, size_t outlen)
{
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		int n;

		if ((mask & methods[i].m) == 0)
			continue;
		n = snprintf(out + off, outlen - off, "%s%s", off > 0 ? ", " : "",
		    methods[i].name);
		if (n < 0 || (size_t)n >= outlen - off)
			break;
		off += (size_t)n;
	}
}
