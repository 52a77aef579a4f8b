/* SPDX-License-Identifier: Apache-2.0 */
/*
 * upstream: protocol-neutral sign-in through an upstream identity provider.
 * A protocol terminator (OIDC relying party, SAML service provider) checks
 * what the upstream sent, then hands the identity here: the upstream's
 * mapping rule turns its claims into {username, email, email_verified,
 * name, groups}, the identity is linked to one fedbroker user (an existing
 * link, a verified email when the upstream allows it, or a user created
 * just in time), and the upstream's groups are stored as the user's
 * implicit memberships. Every step writes an audit line.
 */
#ifndef FB_UPSTREAM_UPSTREAM_H
#define FB_UPSTREAM_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "map/map.h"

/* Filled by a protocol terminator after ITS checks pass. Everything borrowed. */
struct fb_upstream_identity {
	const char *upstream;	    /* configuration name */
	const char *issuer;	    /* OIDC iss, or the SAML IdP's entity id */
	const char *subject;	    /* OIDC sub, or the SAML NameID value */
	const char *subject_format; /* SAML NameID Format, or NULL */
	json_t *claims;		    /* OIDC: ID token claims merged with userinfo.
				       SAML: {"attr name": ["v1", ...], ...} */
	int64_t expires_at;	    /* when the upstream session ends (unix s), 0 = not said */
	const char *session_index;  /* SAML SessionIndex, or NULL */
	const char *id_token;	    /* OIDC raw ID token (for RP-initiated logout), or NULL */
};

/* How the identity found its user. */
enum fb_upstream_action {
	FB_UPSTREAM_LINKED = 0,	 /* an existing link */
	FB_UPSTREAM_LINK_EMAIL,	 /* linked now to the user with the verified email */
	FB_UPSTREAM_PROVISIONED, /* a user created now */
};

/* Why a sign-in was refused (FB_ERR_DENIED); the audit event is fb_upstream_refusal_name(). */
enum fb_upstream_refusal {
	FB_UPSTREAM_OK = 0,
	FB_UPSTREAM_BAD_IDENTITY,   /* no issuer/subject, unknown upstream */
	FB_UPSTREAM_MAPPING_FAILED, /* the rule failed or returned no dict */
	FB_UPSTREAM_NO_USERNAME,    /* the rule gave no (valid) username */
	FB_UPSTREAM_USERNAME_TAKEN, /* provisioning: the username is another user's */
	FB_UPSTREAM_EMAIL_TAKEN,    /* a user has this email, and linking by it is not allowed */
	FB_UPSTREAM_NOT_PROVISIONED,/* no link, no email link, provision: false */
	FB_UPSTREAM_DISABLED,	    /* the linked user is disabled */
};

/* What the mapping gave, normalised. Members new (fb_upstream_result_cleanup). */
struct fb_upstream_mapped {
	char *username;
	char *email; /* NULL when none */
	int email_verified;
	char *name; /* NULL when none */
	char **groups; /* sorted, unique */
	size_t ngroups;
};

/* The outcome of a sign-in (or of a plan). Members new: fb_upstream_result_cleanup. */
struct fb_upstream_result {
	enum fb_upstream_action action;
	enum fb_upstream_refusal refusal; /* FB_UPSTREAM_OK unless FB_ERR_DENIED */
	struct fb_upstream_mapped mapped;
	/*
	 * The user signed in. After fb_upstream_plan with action
	 * FB_UPSTREAM_PROVISIONED nothing is stored: user.id is NULL.
	 */
	struct fb_store_user user;
};

/*
 * Map, link or provision, refresh upstream groups; the user signed in or a
 * refusal with a reason fit for a page and an audit line. conf, st, rules
 * (the compiled mappings.dir) and id borrowed. FB_ERR_DENIED with
 * out->refusal set and err's message for the page when refused (nothing is
 * stored then: the user, link and groups are written in one transaction);
 * store statuses otherwise. reqid and addr (the client's address; each may
 * be NULL) go into the audit lines.
 */
enum fb_status fb_upstream_signin(const struct fb_conf *conf, struct fb_store *st,
    const struct fb_map_set *rules, const struct fb_upstream_identity *id, const char *reqid,
    const char *addr, struct fb_upstream_result *out, struct fb_err *err);
/*
 * The same decisions without writing anything and without audit lines
 * (fedbroker explain): which user id would link to, or the user that would
 * be created, and the groups it would have.
 */
enum fb_status fb_upstream_plan(const struct fb_conf *conf, struct fb_store *st,
    const struct fb_map_set *rules, const struct fb_upstream_identity *id,
    struct fb_upstream_result *out, struct fb_err *err);
/* Frees r's members and zeroes it; NULL is a no-op. */
void fb_upstream_result_cleanup(struct fb_upstream_result *r);
/* "upstream_no_username", ... : the audit event of a refusal. Static. */
const char *fb_upstream_refusal_name(enum fb_upstream_refusal r);
#endif
