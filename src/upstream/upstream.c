/* SPDX-License-Identifier: Apache-2.0 */
/* upstream/upstream.c: an upstream identity mapped, linked or provisioned, its groups stored. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "ident/ident.h"
#include "map/map.h"
#include "upstream/upstream.h"

/* The most groups one sign-in brings (the store's limit too). */
#define GROUPS_MAX 1000
/* Longest group name and display name kept. */
#define GROUP_NAME_MAX 256
#define NAME_MAX_BYTES 1024

const char *
fb_upstream_refusal_name(enum fb_upstream_refusal r)
{
	switch (r) {
	case FB_UPSTREAM_OK:
		return "upstream_signin";
	case FB_UPSTREAM_BAD_IDENTITY:
		return "upstream_identity_invalid";
	case FB_UPSTREAM_MAPPING_FAILED:
		return "upstream_mapping_failed";
	case FB_UPSTREAM_NO_USERNAME:
		return "upstream_no_username";
	case FB_UPSTREAM_USERNAME_TAKEN:
		return "upstream_username_taken";
	case FB_UPSTREAM_EMAIL_TAKEN:
		return "upstream_email_taken";
	case FB_UPSTREAM_NOT_PROVISIONED:
		return "upstream_not_provisioned";
	case FB_UPSTREAM_DISABLED:
		return "upstream_user_disabled";
	}
	return "upstream_refused";
}

/* An audit line of the upstream sign-in: event, user (may be NULL), client address, upstream. */
static void audit(const char *const who[3], const char *event, const char *user, const char *fmt,
    ...) FB_PRINTF(4, 5);

/* who: the request id, the client's address and the upstream's name (each may be NULL). */
static void
audit(const char *const who[3], const char *event, const char *user, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fb_log_vaudit(who[0], "upstream", event, user, who[1], "upstream", who[2], fmt, ap);
	va_end(ap);
}

/* Sets the refusal; returns FB_ERR_DENIED with msg (fit for a page) in err. */
static enum fb_status refuse(struct fb_upstream_result *out, enum fb_upstream_refusal why,
    struct fb_err *err, const char *fmt, ...) FB_PRINTF(4, 5);

static enum fb_status
refuse(struct fb_upstream_result *out, enum fb_upstream_refusal why, struct fb_err *err,
    const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = fb_xvasprintf(fmt, ap);
	va_end(ap);
	out->refusal = why;
	fb_err_set(err, FB_ERR_DENIED, "%s", msg);
	free(msg);
	return FB_ERR_DENIED;
}

/* One line of UTF-8 text without control characters, 1..max bytes. */
static int
text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || !fb_utf8_check(s, n))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The groups of the rule's result (a string or a list of strings), sorted and unique. */
static enum fb_status
mapped_groups(const json_t *v, struct fb_upstream_mapped *m, size_t *skipped, struct fb_err *err)
{
	size_t n = json_is_array(v) ? json_array_size(v) : json_is_string(v) ? 1 : 0, k = 0;

	*skipped = 0;
	if (v != NULL && !json_is_null(v) && !json_is_array(v) && !json_is_string(v))
		return fb_err_set(err, FB_ERR_INVALID, "groups must be a list of strings");
	if (n > GROUPS_MAX)
		return fb_err_set(err, FB_ERR_INVALID, "%zu groups (at most %d)", n, GROUPS_MAX);
	m->groups = fb_xcalloc(n + 1, sizeof(*m->groups));
	for (size_t i = 0; i < n; i++) {
		const json_t *g = json_is_array(v) ? json_array_get(v, i) : v;

		/* A name no group could have (empty, too long, control characters) is skipped. */
		if (!json_is_string(g) || !text_ok(json_string_value(g), GROUP_NAME_MAX)) {
			(*skipped)++;
			continue;
		}
		m->groups[k++] = fb_xstrdup(json_string_value(g));
	}
	qsort(m->groups, k, sizeof(*m->groups), str_cmp);
	m->ngroups = 0;
	for (size_t i = 0; i < k; i++) {
		if (m->ngroups > 0 && strcmp(m->groups[m->ngroups - 1], m->groups[i]) == 0) {
			free(m->groups[i]);
			continue;
		}
		m->groups[m->ngroups++] = m->groups[i];
	}
	m->groups[m->ngroups] = NULL;
	return FB_OK;
}

/* Runs up's mapping over id's claims into out->mapped. */
static enum fb_status
map_identity(const struct fb_conf_upstream *up, const struct fb_map_set *rules,
    const struct fb_upstream_identity *id, struct fb_upstream_result *out, struct fb_err *err)
{
	const struct fb_map_rule *rule = fb_map_set_get(rules, up->mapping);
	struct fb_upstream_mapped *m = &out->mapped;
	struct fb_map_input in = {0};
	json_t *request, *res = NULL, *claims;
	const json_t *v;
	struct fb_err e = {0};
	size_t skipped;
	enum fb_status r;

	if (rule == NULL)
		return refuse(out, FB_UPSTREAM_MAPPING_FAILED, err,
		    "The mapping '%s' of sign-in through %s is not loaded (see the mappings "
		    "directory).",
		    up->mapping, up->display_name);
	request = json_pack("{s:s, s:s, s:s}", "name", up->name, "type",
	    up->type == FB_CONF_UPSTREAM_OIDC ? "oidc" : "saml", "upstream", up->name);
	claims = id->claims != NULL && json_is_object(id->claims) ? json_incref(id->claims)
	                                                          : json_object();
	in.request = request;
	in.upstream = claims;
	r = fb_map_rule_eval(rule, &in, NULL, &res, NULL, &e);
	json_decref(request);
	json_decref(claims);
	if (r != FB_OK)
		return refuse(out, FB_UPSTREAM_MAPPING_FAILED, err,
		    "The mapping of sign-in through %s failed: %s", up->display_name, e.msg);
	if (!json_is_object(res)) {
		json_decref(res);
		return refuse(out, FB_UPSTREAM_MAPPING_FAILED, err,
		    "The mapping '%s' of sign-in through %s must return a dict (username, email, "
		    "email_verified, name, groups).",
		    up->mapping, up->display_name);
	}
	if ((r = mapped_groups(json_object_get(res, "groups"), m, &skipped, &e)) != FB_OK) {
		json_decref(res);
		return refuse(out, FB_UPSTREAM_MAPPING_FAILED, err,
		    "The mapping '%s' of sign-in through %s gave unusable groups: %s", up->mapping,
		    up->display_name, e.msg);
	}
	if (skipped > 0)
		fb_log(FB_LOG_WARN,
		    "upstream %s: %zu group names skipped (empty, over %d bytes or "
		    "with control characters)",
		    up->name, skipped, GROUP_NAME_MAX);
	v = json_object_get(res, "email");
	if (json_is_string(v) && fb_conf_addr_spec_check(json_string_value(v)))
		m->email = fb_xstrdup(json_string_value(v));
	/* SECURITY: only a real true counts; "true" strings are the mapping's to convert. */
	m->email_verified =
	    m->email != NULL && json_is_true(json_object_get(res, "email_verified"));
	v = json_object_get(res, "name");
	if (json_is_string(v) && text_ok(json_string_value(v), NAME_MAX_BYTES))
		m->name = fb_xstrdup(json_string_value(v));
	v = json_object_get(res, "username");
	if (json_is_string(v) && json_string_length(v) > 0)
		m->username = fb_xstrdup(json_string_value(v));
	json_decref(res);
	if (m->username == NULL)
		return refuse(out, FB_UPSTREAM_NO_USERNAME, err,
		    "%s did not send what the mapping '%s' needs for a username.", up->display_name,
		    up->mapping);
	if (fb_ident_username_check(m->username, &e) != FB_OK)
		return refuse(out, FB_UPSTREAM_NO_USERNAME, err,
		    "The username given by the mapping '%s' cannot be used: %s", up->mapping,
		    e.msg);
	return FB_OK;
}

/* Copies the stored user src into dst (dst's members new). */
static void
user_take(struct fb_store_user *dst, struct fb_store_user *src)
{
	fb_store_user_cleanup(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

/*
 * Which user id goes to: out->action and out->user (a stored user, or for
 * FB_UPSTREAM_PROVISIONED the user to create, id NULL). Writes nothing.
 */
static enum fb_status
resolve(const struct fb_conf_upstream *up, struct fb_store *st,
    const struct fb_upstream_identity *id, struct fb_upstream_result *out, struct fb_err *err)
{
	struct fb_upstream_mapped *m = &out->mapped;
	struct fb_store_user u = {0};
	char *uid = NULL;
	size_t count = 0;
	enum fb_status r;

	r = fb_store_link_find(st, up->name, id->issuer, id->subject, &uid, err);
	if (r == FB_OK) {
		r = fb_store_user_get_by_id(st, uid, &u, err);
		free(uid);
		if (r != FB_OK)
			return r;
		out->action = FB_UPSTREAM_LINKED;
		user_take(&out->user, &u);
		goto check_active;
	}
	if (r != FB_ERR_NOTFOUND)
		return r;
	if (m->email != NULL) {
		r = fb_store_user_find_email(st, m->email, &u, &count, err);
		if (r != FB_OK && r != FB_ERR_NOTFOUND)
			return r;
		if (r == FB_OK) {
			/* SECURITY: an account is taken over only by a verified, unambiguous email.
			 */
			if (!up->link_by_email || !m->email_verified || count != 1) {
				fb_store_user_cleanup(&u);
				return refuse(out, FB_UPSTREAM_EMAIL_TAKEN, err,
				    "An account with the email %s exists already, and %s", m->email,
				    !up->link_by_email ? "sign-in through this provider may not "
				                         "link to it. Ask your "
				                         "administrator."
				    : !m->email_verified
				        ? "the provider did not say the address is verified."
				        : "several accounts have it. Ask your administrator.");
			}
			out->action = FB_UPSTREAM_LINK_EMAIL;
			user_take(&out->user, &u);
			goto check_active;
		}
	}
	if (!up->provision)
		return refuse(out, FB_UPSTREAM_NOT_PROVISIONED, err,
		    "There is no account for you yet, and sign-in through %s does not create one. "
		    "Ask your administrator.",
		    up->display_name);
	r = fb_store_user_get(st, m->username, &u, err);
	if (r == FB_OK) {
		fb_store_user_cleanup(&u);
		/* SECURITY: never linked silently to a user who happens to have the name. */
		return refuse(out, FB_UPSTREAM_USERNAME_TAKEN, err,
		    "The username %s belongs to another account. Ask your administrator.",
		    m->username);
	}
	if (r != FB_ERR_NOTFOUND)
		return r;
	out->action = FB_UPSTREAM_PROVISIONED;
	fb_store_user_cleanup(&out->user);
	out->user.username = fb_xstrdup(m->username);
	out->user.email = m->email != NULL ? fb_xstrdup(m->email) : NULL;
	out->user.name = m->name != NULL ? fb_xstrdup(m->name) : NULL;
	out->user.source = fb_xstrdup(up->name);
	out->user.active = 1;
	fb_err_clear(err);
	return FB_OK;
check_active:
	if (!out->user.active)
		return refuse(out, FB_UPSTREAM_DISABLED, err,
		    "The account %s is disabled. Ask your administrator.", out->user.username);
	fb_err_clear(err);
	return FB_OK;
}

/* Checks id and finds its upstream; maps and resolves. */
static enum fb_status
decide(const struct fb_conf *conf, struct fb_store *st, const struct fb_map_set *rules,
    const struct fb_upstream_identity *id, const struct fb_conf_upstream **upp,
    struct fb_upstream_result *out, struct fb_err *err)
{
	const struct fb_conf_upstream *up;
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	*upp = up = fb_conf_upstream_find(conf, id != NULL ? id->upstream : NULL);
	if (up == NULL)
		return refuse(out, FB_UPSTREAM_BAD_IDENTITY, err, "Unknown sign-in provider.");
	if (id->issuer == NULL || !text_ok(id->issuer, FB_STORE_TEXT_MAX) || id->subject == NULL ||
	    !text_ok(id->subject, FB_STORE_TEXT_MAX))
		return refuse(out, FB_UPSTREAM_BAD_IDENTITY, err,
		    "%s did not identify you (no usable issuer or subject).", up->display_name);
	if ((r = map_identity(up, rules, id, out, err)) != FB_OK)
		return r;
	return resolve(up, st, id, out, err);
}

enum fb_status
fb_upstream_plan(const struct fb_conf *conf, struct fb_store *st, const struct fb_map_set *rules,
    const struct fb_upstream_identity *id, struct fb_upstream_result *out, struct fb_err *err)
{
	const struct fb_conf_upstream *up;

	return decide(conf, st, rules, id, &up, out, err);
}

static const char *
action_text(enum fb_upstream_action a)
{
	switch (a) {
	case FB_UPSTREAM_LINK_EMAIL:
		return "linked by verified email";
	case FB_UPSTREAM_PROVISIONED:
		return "created";
	default:
		return "linked";
	}
}

enum fb_status
fb_upstream_signin(const struct fb_conf *conf, struct fb_store *st, const struct fb_map_set *rules,
    const struct fb_upstream_identity *id, const char *reqid, const char *addr,
    struct fb_upstream_result *out, struct fb_err *err)
{
	const struct fb_conf_upstream *up = NULL;
	struct fb_store_upstream_signin in;
	const char *who[3] = {reqid, addr, id != NULL ? id->upstream : NULL};
	enum fb_status r;

	r = decide(conf, st, rules, id, &up, out, err);
	if (out->mapped.username != NULL && out->refusal != FB_UPSTREAM_NO_USERNAME)
		audit(who, "upstream_mapped", out->mapped.username,
		    "subject mapped by %s: email %s (%s), %zu groups", up->mapping,
		    out->mapped.email != NULL ? out->mapped.email : "none",
		    out->mapped.email_verified ? "verified" : "not verified", out->mapped.ngroups);
	if (r == FB_ERR_DENIED) {
		audit(who, fb_upstream_refusal_name(out->refusal), out->mapped.username,
		    "sign-in refused: %s", err->msg);
		return r;
	}
	if (r != FB_OK)
		return r;
	in = (struct fb_store_upstream_signin){
	    .upstream = up->name,
	    .issuer = id->issuer,
	    .subject = id->subject,
	    .create = out->action == FB_UPSTREAM_PROVISIONED,
	    /* The upstream owns the profile of the users it created. */
	    .update_profile = out->action == FB_UPSTREAM_LINKED && out->user.source != NULL &&
	                      strcmp(out->user.source, up->name) == 0,
	    .groups = (const char *const *)out->mapped.groups,
	    .ngroups = out->mapped.ngroups,
	};
	if (in.update_profile) {
		free(out->user.name);
		free(out->user.email);
		out->user.name = out->mapped.name != NULL ? fb_xstrdup(out->mapped.name) : NULL;
		out->user.email = out->mapped.email != NULL ? fb_xstrdup(out->mapped.email) : NULL;
	}
	r = fb_store_upstream_signin(st, &out->user, &in, err);
	if (r == FB_ERR_INVALID) {
		/* Another sign-in won a race for the username or the link: nothing was written. */
		char *why = fb_xstrdup(err->msg);

		r = refuse(out, FB_UPSTREAM_USERNAME_TAKEN, err,
		    "Your account could not be set up (it changed meanwhile). Try again.");
		audit(who, fb_upstream_refusal_name(out->refusal), out->mapped.username,
		    "sign-in refused: %s", why);
		free(why);
		return r;
	}
	if (r != FB_OK)
		return r;
	if (out->action == FB_UPSTREAM_PROVISIONED)
		audit(who, "upstream_user_created", out->user.username,
		    "user created for the identity");
	else if (out->action == FB_UPSTREAM_LINK_EMAIL)
		audit(who, "upstream_linked", out->user.username,
		    "identity linked to the existing user by its verified email");
	audit(who, "upstream_groups", out->user.username, "%zu upstream groups stored",
	    out->mapped.ngroups);
	audit(who, "upstream_signin", out->user.username, "signed in (%s)",
	    action_text(out->action));
	return FB_OK;
}

void
fb_upstream_result_cleanup(struct fb_upstream_result *r)
{
	if (r == NULL)
		return;
	free(r->mapped.username);
	free(r->mapped.email);
	free(r->mapped.name);
	for (size_t i = 0; i < r->mapped.ngroups; i++)
		free(r->mapped.groups[i]);
	free(r->mapped.groups);
	fb_store_user_cleanup(&r->user);
	memset(r, 0, sizeof(*r));
}
