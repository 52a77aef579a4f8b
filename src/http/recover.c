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

/* The weak-password answer: the link stays usable, the form is shown again. */
static void
recover_weak(struct fb_http_web *w, const char *token)
{
	char *who = NULL;

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
}

/* Uses the link up with the new hash and answers. */
static void
recover_finish(struct fb_http_web *w, const char *token, const char *hash)
{
	char *username = NULL;
	struct fb_http_page p;
	struct fb_err err = {0};
	enum fb_status r;

	r = fb_local_recovery_link_consume_hash(w->conf, w->env->store, token, hash, w->reqid,
	    &username, &err);
	switch (r) {
	case FB_OK:
		break;
	case FB_ERR_NOTFOUND:
	case FB_ERR_INVALID:
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
	/* Every session of the account ended, this browser's too. */
	if (w->has_session)
		fb_http_session_clear(w->req);
	fb_http_page_begin(&p, w->conf, "Password changed");
	fb_http_page_html(&p,
	    "<main>\n<h1>Password changed</h1>\n<p class=\"alert ok\" role=\"status\">The "
	    "password of <strong>%s</strong> was changed and every session of the account "
	    "ended. Sign in with the new password.</p>\n"
	    "<p><a href=\"" FB_HTTP_PATH_LOGIN "\">Sign in</a></p>\n</main>",
	    username);
	fb_http_page_send(w->req, &p, 200);
out:
	free(username);
}

/* A new password being hashed on the worker's CPU pool. */
struct recover_job {
	struct fb_http_web w; /* the page's state, moved here from the handler */
	const char *token;    /* in the request's arena */
	char *password;       /* a copy, wiped */
	char *hash;
	enum fb_status r;
	struct fb_err err;
};

static void
recover_job_free(struct recover_job *j)
{
	fb_secret_free(j->password);
	fb_secret_free(j->hash);
	free(j);
}

/* On a CPU thread: argon2id only. */
static void
recover_work(void *arg)
{
	struct recover_job *j = arg;

	j->r = fb_local_password_hash(j->w.conf, j->password, &j->hash, &j->err);
}

static void
recover_done(struct fb_http_req *req, void *arg)
{
	struct recover_job *j = arg;

	if (req != NULL) {
		if (j->r != FB_OK)
			fb_http_web_unavailable(&j->w, &j->err);
		else
			recover_finish(&j->w, j->token, j->hash);
	}
	fb_http_web_end(&j->w);
	recover_job_free(j);
}

/* 1 when the reply was deferred (w then belongs to the job), else 0 (answered). */
static int
recover_post(struct fb_http_web *w)
{
	const char *token, *password, *confirm;
	char *username = NULL;
	struct recover_job *j;
	struct fb_err err = {0};
	enum fb_status r;
	int deferred = 0;

	if (fb_http_web_post(w) != 0)
		return 0;
	token = fb_http_form_get(w->form, "token");
	password = fb_http_form_get(w->form, "password");
	confirm = fb_http_form_get(w->form, "confirm");
	if (token == NULL || token[0] == '\0') {
		link_refused(w, FB_ERR_INVALID);
		return 0;
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
	/* A weak password must not burn the link: checked before anything is used up. */
	if (fb_local_password_check(password, NULL) != FB_OK) {
		recover_weak(w, token);
		goto out;
	}
	j = fb_xcalloc(1, sizeof(*j));
	j->w = *w;
	j->token = token;
	j->password = fb_xstrdup(password);
	if (fb_http_req_defer(w->req, recover_work, recover_done, j, &err) == FB_OK) {
		deferred = 1;
	} else {
		/* SECURITY: the pool is full: refuse now, queue nothing. */
		recover_job_free(j);
		fb_http_web_unavailable(w, &err);
	}
out:
	free(username);
	return deferred;
}

void
fb_http_web_handle_recover(struct fb_http_req *req, void *arg)
{
	struct fb_http_web w;

	if (fb_http_web_begin(req, &w) != 0)
		return;
	if (fb_http_req_method_id(req) == FB_HTTP_POST) {
		if (recover_post(&w))
			return; /* recover_done answers */
	} else {
		recover_get(&w);
	}
	fb_http_web_end(&w);
}
