/* SPDX-License-Identifier: Apache-2.0 */
/* http/recover.c: setting a new password from a recovery link (GET looks, POST uses it up). */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "store/store.h"
#include "local/local.h"
#include "http/http.h"
#include "http/web.h"
#include "http/pages.h"

#define GONE_TITLE "This link cannot be used"
#define GONE_TEXT                                                                                  \
	"This recovery link has expired or was used already. Ask your administrator for "          \
	"a new one."

static void
recover_form(struct fb_http_web *w, int code, const char *error, const char *token,
    const char *username)
{
	struct fb_http_page p;

	fb_http_page_begin(&p, w->conf, "Choose a new password");
	fb_http_page_raw(&p, "<main>\n<h1>Choose a new password</h1>\n");
	if (error != NULL)
		fb_http_page_html(&p, "<p class=\"alert\" role=\"alert\">%s</p>\n", error);
	fb_http_page_html(&p, "<p>For the account <strong>%s</strong>.</p>\n", username);
	fb_http_page_raw(&p, "<form method=\"post\" action=\"" FB_HTTP_PATH_RECOVER "\">\n");
	fb_http_web_form_fields(w, &p);
	fb_http_page_html(&p,
	    "<input type=\"hidden\" name=\"token\" value=\"%s\">\n"
	    /* For password managers: which account the new password belongs to. */
	    "<input type=\"hidden\" name=\"username\" autocomplete=\"username\" value=\"%s\">\n"
	    "<label for=\"password\">New password</label>\n"
	    "<input type=\"password\" id=\"password\" name=\"password\" "
	    "autocomplete=\"new-password\" minlength=\"%d\" required autofocus "
	    "aria-describedby=\"password-hint\">\n"
	    "<p class=\"hint\" id=\"password-hint\">At least %d characters. A few unrelated words "
	    "make a strong password that is easy to type.</p>\n"
	    "<label for=\"confirm\">New password again</label>\n"
	    "<input type=\"password\" id=\"confirm\" name=\"confirm\" "
	    "autocomplete=\"new-password\" "
	    "required>\n<button type=\"submit\">Set password</button>\n</form>\n</main>",
	    token, username, FB_LOCAL_PASSWORD_MIN, FB_LOCAL_PASSWORD_MIN);
	fb_http_page_send(w->req, &p, code);
}

/* The answer to a link that cannot be used: malformed (400) or unknown, used, expired (404). */
static void
link_refused(struct fb_http_web *w, enum fb_status r)
{
	fb_http_web_fail(w, r == FB_ERR_INVALID ? 400 : 404, GONE_TITLE, GONE_TEXT,
	    FB_HTTP_PATH_LOGIN, "Back to sign in", "recovery_link_refused",
	    r == FB_ERR_INVALID ? "malformed token" : "unknown, used or expired token");
}

static void
recover_get(struct fb_http_web *w)
{
	const char *token = fb_http_req_query(w->req, "token");
	char *username = NULL;
	struct fb_err err = {0};
	enum fb_status r;

	if (token == NULL || token[0] == '\0') {
		link_refused(w, FB_ERR_INVALID);
		return;
	}
	/* Only a look: mail scanners fetch links before people click them. */
	r = fb_local_recovery_link_check(w->env->store, token, &username, &err);
	if (r == FB_OK)
		recover_form(w, 200, NULL, token, username);
	else if (r == FB_ERR_NOTFOUND || r == FB_ERR_INVALID)
		link_refused(w, r);
	else
		fb_http_web_unavailable(w, &err);
	free(username);
}

static void
recover_post(struct fb_http_web *w)
{
	const char *token, *password, *confirm;
	char *username = NULL;
	struct fb_http_page p;
	struct fb_err err = {0};
	enum fb_status r;

	if (fb_http_web_post(w) != 0)
		return;
	token = fb_http_form_get(w->form, "token");
	password = fb_http_form_get(w->form, "password");
	confirm = fb_http_form_get(w->form, "confirm");
	if (token == NULL || token[0] == '\0') {
		link_refused(w, FB_ERR_INVALID);
		return;
	}
	r = fb_local_recovery_link_check(w->env->store, token, &username, &err);
	if (r == FB_ERR_NOTFOUND || r == FB_ERR_INVALID) {
		link_refused(w, r);
		goto out;
	}
	if (r != FB_OK) {
		fb_http_web_unavailable(w, &err);
		goto out;
	}
	if (password == NULL || password[0] == '\0' || confirm == NULL ||
	    strcmp(password, confirm) != 0) {
		fb_http_web_audit(w, "password_refused", username, "the two passwords differ");
		recover_form(w, 400, "The two passwords are not the same. Type them again.", token,
		    username);
		goto out;
	}
	free(username);
	username = NULL;
	r = fb_local_recovery_link_consume(w->conf, w->env->store, token, password, w->reqid,
	    &username, &err);
	switch (r) {
	case FB_OK:
		break;
	case FB_ERR_INVALID: {
		char *who = NULL;

		/* A weak password leaves the link usable: ask again. */
		fb_http_web_audit(w, "password_refused", NULL, "new password fails the policy");
		if (fb_local_recovery_link_check(w->env->store, token, &who, NULL) == FB_OK)
			recover_form(w, 400,
			    fb_arena_printf(fb_http_req_arena(w->req),
			        "This password is too weak. Use at least %d characters, "
			        "without control characters.",
			        FB_LOCAL_PASSWORD_MIN),
			    token, who);
		else
			link_refused(w, FB_ERR_NOTFOUND);
		free(who);
		goto out;
	}
	case FB_ERR_NOTFOUND:
		link_refused(w, r);
		goto out;
	case FB_ERR_DENIED:
		fb_http_web_fail(w, 403, "Account disabled",
		    "This account is disabled. Ask your administrator.", NULL, NULL, NULL, NULL);
		goto out;
	default:
		fb_http_web_unavailable(w, &err);
		goto out;
	}
	fb_http_page_begin(&p, w->conf, "Password changed");
	fb_http_page_html(&p,
	    "<main>\n<h1>Password changed</h1>\n<p class=\"alert ok\" role=\"status\">The "
	    "password of <strong>%s</strong> was changed. Sign in with the new one.</p>\n"
	    "<p><a href=\"" FB_HTTP_PATH_LOGIN "\">Sign in</a></p>\n</main>",
	    username);
	fb_http_page_send(w->req, &p, 200);
out:
	free(username);
}

void
fb_http_web_handle_recover(struct fb_http_req *req, void *arg)
{
	struct fb_http_web w;

	if (fb_http_web_begin(req, &w) != 0)
		return;
	if (fb_http_req_method_id(req) == FB_HTTP_POST)
		recover_post(&w);
	else
		recover_get(&w);
	fb_http_web_end(&w);
}
