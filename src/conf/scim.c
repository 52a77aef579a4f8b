/* SPDX-License-Identifier: Apache-2.0 */
/* conf/scim.c: the scim.targets: list (directories kept in step over SCIM 2.0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "conf/internal.h"

void
fb_conf_scim_target_cleanup(struct fb_conf_scim_target *t)
{
	free(t->name);
	free(t->url);
	fb_secret_free(t->token);
	for (size_t i = 0; i < t->ngroups; i++)
		free(t->groups[i]);
	free(t->groups);
	free(t->user_mapping);
	free(t->group_mapping);
	free(t->ca_file);
	memset(t, 0, sizeof(*t));
}

const struct fb_conf_scim_target *
fb_conf_scim_target_find(const struct fb_conf *conf, const char *name)
{
	for (size_t i = 0; conf != NULL && name != NULL && i < conf->nscim_targets; i++)
		if (conf->scim_targets[i].name != NULL && strcmp(conf->scim_targets[i].name, name) == 0)
			return &conf->scim_targets[i];
	return NULL;
}

#define scim_problem(ctx, i, ...) fb_conf_item_problem((ctx), "scim.targets", (i), __VA_ARGS__)

/*
 * AWS: the SCIM userName is the user's email, and Identity Center signs in
 * only a NameID equal to a userName: an Identity Center SP whose NameID is
 * something else would refuse every user this target provisions.
 */
static void
check_aws_nameid(struct fb_conf_ctx *ctx, size_t i)
{
	const struct fb_conf *c = ctx->conf;

	for (size_t s = 0; s < c->nsaml_sps; s++) {
		const struct fb_conf_saml_sp *sp = &c->saml_sps[s];

		if (sp->profile != FB_CONF_SAML_AWS_IDENTITY_CENTER)
			continue;
		if (sp->nameid_format != FB_CONF_NAMEID_EMAIL ||
		    sp->nameid_source != FB_CONF_NAMEID_FROM_EMAIL || sp->nameid_mapping != NULL)
			scim_problem(ctx, i, "profile", 0,
			    "profile aws pushes userName = email, but service provider '%s' "
			    "(aws-identity-center) does not send the email as its NameID "
			    "(nameid: {format: email, source: email}): sign-in and provisioning "
			    "could disagree",
			    sp->name != NULL ? sp->name : "?");
	}
}

void
fb_conf_check_scim(struct fb_conf_ctx *ctx)
{
	const struct fb_conf *c = ctx->conf;

	for (size_t i = 0; i < c->nscim_targets; i++) {
		const struct fb_conf_scim_target *t = &c->scim_targets[i];

		for (size_t j = 0; j < i && t->name != NULL; j++)
			if (c->scim_targets[j].name != NULL &&
			    strcmp(c->scim_targets[j].name, t->name) == 0) {
				scim_problem(ctx, i, "name", 1,
				    "duplicate target '%s' (also scim.targets[%zu])", t->name, j);
				break;
			}
		/* SECURITY: the bearer token and every user's data travel to this URL. */
		if (t->url != NULL && strncmp(t->url, "https://", 8) != 0 &&
		    !fb_conf_url_is_loopback(t->url))
			scim_problem(ctx, i, "url", 1,
			    "'%s' must be https:// (plain http is accepted on loopback hosts only)",
			    t->url);
		if (t->ca_file != NULL) {
			char *path = fb_xasprintf("scim.targets[%zu].ca_file", i);

			fb_conf_check_readable(ctx, path, t->ca_file);
			free(path);
		}
		fb_conf_check_mapping_file(ctx, "scim.targets", i, "user_mapping", t->user_mapping);
		fb_conf_check_mapping_file(ctx, "scim.targets", i, "group_mapping", t->group_mapping);
		if (t->profile == FB_CONF_SCIM_AWS)
			check_aws_nameid(ctx, i);
	}
}
