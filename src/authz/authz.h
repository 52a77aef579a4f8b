/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authz: forward auth's decision. A proxy (Envoy/Istio ext_authz, nginx
 * auth_request, Caddy forward_auth, Traefik forwardAuth) asks about each
 * request; the facts of the request go in, a verdict and the identity
 * headers come out. Pure: no store, no clock, no I/O (the http layer reads
 * the session and asks).
 */
#ifndef FB_AUTHZ_AUTHZ_H
#define FB_AUTHZ_AUTHZ_H

#include <stddef.h>

#include <jansson.h>

#include "core/core.h"

struct fb_conf;
struct fb_conf_app;
struct fb_map_set;

/* Longest request path (with its query) and host looked at; longer: FB_AUTHZ_BAD_REQUEST. */
#define FB_AUTHZ_PATH_MAX 8192
#define FB_AUTHZ_HOST_MAX 253

/* The app index of one configuration (hosts sorted: a lookup costs log(apps)). */
struct fb_authz;

enum fb_authz_verdict {
	FB_AUTHZ_ALLOW = 0,   /* a signed-in user may: 200 with the identity headers */
	FB_AUTHZ_ANONYMOUS,   /* an anonymous rule: 200 without identity */
	FB_AUTHZ_SIGNIN,      /* who the user is decides: 302 to sign in, or 401 */
	FB_AUTHZ_FORBIDDEN,   /* 403 */
	FB_AUTHZ_NO_APP,      /* no app claims the host (and path) */
	FB_AUTHZ_BAD_REQUEST, /* a host or path that cannot be decided safely: 400 */
};

/* What the proxy says about the request it holds. Every member borrowed. */
struct fb_authz_request {
	const char *method;   /* as sent; compared without regard to case */
	const char *host;     /* as sent: a port, upper case and one trailing dot are ignored */
	const char *uri;      /* the path (and query) as sent, percent-encoded, starting with '/' */
	const char *username; /* the signed-in user, NULL when there is no session */
	const char *const *groups; /* the user's groups */
	size_t ngroups;
};

struct fb_authz_decision {
	enum fb_authz_verdict verdict;
	const struct fb_conf_app *app;    /* the app deciding; NULL with NO_APP, BAD_REQUEST */
	int rule;                         /* the deciding rule's index; -1: the app's groups */
	const char *group;                /* the group that let the user in (or out), or NULL */
	char host[FB_AUTHZ_HOST_MAX + 1]; /* the host as compared */
	char *path;                       /* the path as compared (new; NULL when bad) */
	char reason[320];                 /* why, for logs and fedbroker explain */
};

/* Builds the index of conf's apps (borrowed: conf outlives it). New; NULL when conf has none. */
struct fb_authz *fb_authz_new(const struct fb_conf *conf);
void fb_authz_free(struct fb_authz *az);

/*
 * The path part of uri (before '?' or '#') in the form rules are compared
 * with: percent-decoded once, ";params" dropped from each segment, empty
 * and "." segments removed, ".." applied. FB_ERR_INVALID (nothing stored)
 * when the path does not start with '/', is longer than FB_AUTHZ_PATH_MAX
 * or holds what upstream servers read in different ways: a bad or double
 * %-escape, an encoded '/', a '\', a NUL or another control character.
 */
enum fb_status fb_authz_path_normalise(const char *uri, char **out, struct fb_err *err);
/*
 * host as compared: lower case, without its port and one trailing dot,
 * into out (FB_AUTHZ_HOST_MAX + 1 bytes). FB_ERR_INVALID when empty, too
 * long or holding anything but letters, digits, '-', '.' (or an IPv6
 * literal in brackets).
 */
enum fb_status fb_authz_host_normalise(const char *host, char *out, struct fb_err *err);

/* Decides rq (see enum fb_authz_verdict). out is cleaned with fb_authz_decision_cleanup. */
void fb_authz_decide(const struct fb_authz *az, const struct fb_authz_request *rq,
    struct fb_authz_decision *out);
void fb_authz_decision_cleanup(struct fb_authz_decision *d);

/* The verdict's name ("allow", "anonymous", "signin", "forbidden", "no-app", "bad-request"). */
const char *fb_authz_verdict_name(enum fb_authz_verdict v);

/*
 * The identity headers app sends upstream for a user, as a JSON object of
 * header name -> value (new): username, email, groups (comma-separated),
 * display name, each under the app's configured header name (none when
 * ""; an unknown value, or anyone's when username is NULL, is "": the
 * proxy then overwrites what the client sent), plus mapped: the values of
 * the app's mapped
 * headers, already computed (borrowed; may be NULL). Control characters
 * are dropped from values, so a value never splits a header.
 */
json_t *fb_authz_headers_build(const struct fb_conf_app *app, const char *username,
    const char *email, const char *display_name, const char *const *groups, size_t ngroups,
    const json_t *mapped);

/*
 * The values of app's mapped headers (headers.mapped) for user (borrowed:
 * the JSON fb_ident_user_json makes), each rule taken from set and run
 * with request {"name": app, "type": "forward_auth", "upstream": null}:
 * a JSON object of header name -> string in *out (new). A string result
 * is the value, a list its items joined with ',', a number or boolean its
 * text, None or an empty list "". FB_ERR_DENIED (err names the rule, *out
 * NULL) when a rule is not in set, fails, or returns a dict.
 */
enum fb_status fb_authz_mapped_eval(const struct fb_conf_app *app, const struct fb_map_set *set,
    const json_t *user, json_t **out, struct fb_err *err);

#endif
