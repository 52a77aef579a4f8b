/* SPDX-License-Identifier: Apache-2.0 */
/* http/dashboard.c: the user's home page at /: the applications they may open, their account. */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "conf/conf.h"
#include "ident/ident.h"
#include "local/local.h"
#include "saml/saml.h"
#include "http/http.h"
#include "http/web.h"
#include "http/pages.h"

/*
 * The forward-auth apps whose groups let the user in (declared, or given
 * by upstreams: ug), each by its first host; opens the list when shown is
 * 0. Returns the number shown.
 */
static size_t
forward_auth_apps(struct fb_http_web *w, struct fb_http_page *p, const struct fb_local_account *a,
    const char *const *ug, size_t nug, size_t shown)
{
	const struct fb_conf_group **groups = NULL;
	const char *scheme =
	    strncmp(w->conf->public_url != NULL ? w->conf->public_url : "", "http://", 7) == 0
	        ? "http"
	        : "https";
	size_t n = 0, ng;

	if (w->conf->napps == 0)
		return 0;
	ng = fb_ident_groups_with(w->conf, a->username, ug, nug, &groups);
	for (size_t i = 0; i < w->conf->napps; i++) {
		const struct fb_conf_app *app = &w->conf->apps[i];
		int ok = app->ngroups == 0;

		for (size_t g = 0; g < app->ngroups && !ok; g++)
			for (size_t k = 0; k < ng && !ok; k++)
				ok = strcmp(app->groups[g], groups[k]->name) == 0;
		if (!ok || app->nhosts == 0)
			continue;
		if (shown + n++ == 0)
			fb_http_page_raw(p, "<ul class=\"apps\" id=\"apps\">\n");
		fb_http_page_html(p, "<li><a class=\"app\" href=\"%s://%s/\">%s</a></li>\n", scheme,
		    app->hosts[0], app->display_name != NULL ? app->display_name : app->name);
	}
	free(groups);
	return n;
}

/*
 * The applications the user may open: each SAML SP its groups (declared,
 * or given by upstreams) allow, by its start URL, then the forward-auth apps.
 */
static void
apps_list(struct fb_http_web *w, struct fb_http_page *p, const struct fb_local_account *a)
{
	char **ug = NULL;
	size_t shown = 0, nug = 0;
	struct fb_err err = {0};

	if (fb_store_upstream_groups(w->env->store, a->id, &ug, &nug, &err) != FB_OK)
		fb_rlog_err(w->req, &err);
	for (size_t i = 0; i < w->conf->nsaml_sps; i++) {
		const struct fb_conf_saml_sp *sp = &w->conf->saml_sps[i];

		if (!fb_saml_sp_conf_allowed(w->conf, sp, a->username, (const char *const *)ug, nug))
			continue;
		if (shown++ == 0)
			fb_http_page_raw(p, "<ul class=\"apps\" id=\"apps\">\n");
		fb_http_page_html(p, "<li><a class=\"app\" href=\"" FB_SAML_PATH_INIT "%s\">%s</a></li>\n",
		    sp->name, sp->display_name != NULL ? sp->display_name : sp->name);
	}
	shown += forward_auth_apps(w, p, a, (const char *const *)ug, nug, shown);
	for (size_t i = 0; i < nug; i++)
		free(ug[i]);
	free(ug);
	if (shown > 0)
		fb_http_page_raw(p, "</ul>\n");
	else
		fb_http_page_raw(p,
		    "<p id=\"no-apps\">There are no applications for you to open yet. When your "
		    "administrator connects one you may use, it appears here.</p>\n");
}

void
fb_http_web_handle_home(struct fb_http_req *req, void *arg)
{
	struct fb_http_web w;
	struct fb_local_account a = {0};
	struct fb_http_page p;

	if (fb_http_web_begin(req, &w) != 0)
		return;
	if (fb_http_web_user(&w, &a) != 0)
		goto out;
	fb_http_page_begin(&p, w.conf, "Applications");
	fb_http_page_html(&p,
	    "<main class=\"wide\">\n<h1>Applications</h1>\n"
	    "<p class=\"who\">Signed in as <strong>%s</strong>%s%s%s.</p>\n",
	    a.name != NULL ? a.name : a.username, a.name != NULL ? " (" : "",
	    a.name != NULL ? a.username : "", a.name != NULL ? ")" : "");
	apps_list(&w, &p, &a);
	fb_http_page_raw(&p, "<h2>Your account</h2>\n");
	if (w.sess.upstream != NULL) {
		const struct fb_conf_upstream *up = fb_conf_upstream_find(w.conf, w.sess.upstream);

		fb_http_page_html(&p, "<p>You signed in through %s.</p>\n",
		    up != NULL ? up->display_name : w.sess.upstream);
	} else if (a.totp_enabled)
		fb_http_page_html(&p,
		    "<p>Two-step verification is on (%zu recovery codes left). "
		    "<a href=\"" FB_HTTP_PATH_MFA_ENROL "\">Set it up again</a></p>\n",
		    a.recovery_codes_left);
	else
		fb_http_page_raw(&p, "<p>Two-step verification is off. "
		                     "<a href=\"" FB_HTTP_PATH_MFA_ENROL "\">Set it up</a> "
		                     "to protect your account.</p>\n");
	fb_http_page_raw(&p, "<p><a id=\"change-password\" href=\"" FB_HTTP_PATH_PASSWORD "\">"
			     "Change your password</a></p>\n");
	fb_http_page_raw(&p, "<form class=\"inline\" method=\"post\" "
	                     "action=\"" FB_HTTP_PATH_LOGOUT "\">\n");
	fb_http_web_form_fields(&w, &p);
	fb_http_page_raw(&p, "<button type=\"submit\" class=\"secondary\">Sign out</button>\n"
	                     "</form>\n</main>");
	fb_http_page_send(req, &p, 200);
out:
	fb_local_account_cleanup(&a);
	fb_http_web_end(&w);
}
