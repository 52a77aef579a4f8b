/* SPDX-License-Identifier: Apache-2.0 */
/* http/account.c: a signed-in person changing their own password (/account/password). */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "store/store.h"
#include "local/local.h"
#include "http/http.h"
#include "http/web.h"
#include "http/pages.h"

#define TITLE "Change your password"

static void
password_form(struct fb_http_web *w, int code, const char *error, const char *username)
{
	struct fb_http_page p;

	fb_http_page_begin(&p, w->conf, TITLE);
	fb_http_page_raw(&p, "<main>\n<h1>" TITLE "</h1>\n");
	if (error != NULL)
		fb_http_page_html(&p, "<p class=\"alert\" role=\"alert\">%s</p>\n", error);
	fb_http_page_raw(&p, "<form method=\"post\" action=\"" FB_HTTP_PATH_PASSWORD "\">\n");
	fb_http_web_form_fields(w, &p);
	fb_http_page_html(&p,
	    /* For password managers: which account the new password belongs to. */
	    "<input type=\"hidden\" name=\"username\" autocomplete=\"username\" value=\"%s\">\n"
	    "<label for=\"current\">Current password</label>\n"
	    "<input type=\"password\" id=\"current\" name=\"current\" "
	    "autocomplete=\"current-password\" required autofocus>\n"
	    "<label for=\"password\">New password</label>\n"
	    "<input type=\"password\" id=\"password\" name=\"password\" "
	    "autocomplete=\"new-password\" minlength=\"%d\" required "
	    "aria-describedby=\"password-hint\">\n"
	    "<p class=\"hint\" id=\"password-hint\">At least %d characters. A few unrelated words "
	    "make a strong password that is easy to type. Your other sessions end.</p>\n"
	    "<label for=\"confirm\">New password again</label>\n"
	    "<input type=\"password\" id=\"confirm\" name=\"confirm\" "
	    "autocomplete=\"new-password\" required>\n"
	    "<button type=\"submit\">Change password</button>\n</form>\n"
	    "<p><a href=\"" FB_HTTP_PATH_HOME "\">Back to your apps</a></p>\n</main>",
	    username, FB_LOCAL_PASSWORD_MIN, FB_LOCAL_PASSWORD_MIN);
	fb_http_page_send(w->req, &p, code);
}

/* A password change whose argon2id work runs on the worker's CPU pool. */
struct pw_job {
	struct fb_http_web w; /* the page's state, moved here from the handler */
	struct fb_local_pwchange c;
};

static void
pw_job_free(struct pw_job *j)
{
	fb_local_password_change_cleanup(&j->c);
	free(j);
}

/* On a CPU thread: argon2id only. */
static void
pw_work(void *arg)
{
	struct pw_job *j = arg;

	fb_local_password_change_work(&j->c);
}

/* Back on the loop: this browser keeps a session with the new generation; the others end. */
static void
pw_finish(struct fb_http_web *w, int64_t gen)
{
	struct fb_http_session s;
	struct fb_http_page p;

	fb_http_session_init(&s, w->sess.user_id, w->sess.username, FB_HTTP_SESSION_FULL,
	    w->sess.mfa, w->conf->session_lifetime);
	s.auth_time = w->sess.auth_time;
	s.gen = gen;
	if (fb_http_web_session_replace(w, &s) == 0) {
		fb_http_page_begin(&p, w->conf, "Password changed");
		fb_http_page_raw(&p,
		    "<main>\n<h1>Password changed</h1>\n<p class=\"alert ok\" role=\"status\">"
		    "Your password was changed. Every other session of your account ended: "
		    "sign in there again with the new password.</p>\n"
		    "<p><a href=\"" FB_HTTP_PATH_HOME "\">Back to your apps</a></p>\n</main>");
		fb_http_page_send(w->req, &p, 200);
	}
	fb_http_session_cleanup(&s);
}

static void
pw_done(struct fb_http_req *req, void *arg)
{
	struct pw_job *j = arg;
	struct fb_err err = {0};
	enum fb_status r;
	int64_t gen = -1;

	/* Recorded even when the client left: a wrong password counts. */
	r = fb_local_password_change_end(j->w.env->store, &j->c, &gen, &err);
	if (req != NULL) {
		if (r == FB_OK)
			pw_finish(&j->w, gen);
		else if (r == FB_ERR_DENIED)
			password_form(&j->w, 403,
			    "The current password is not right. Nothing was changed.",
			    j->w.sess.username);
		else
			fb_http_web_unavailable(&j->w, &err);
	}
	fb_http_web_end(&j->w);
	pw_job_free(j);
}

/* 1 when the reply was deferred (w then belongs to the job), else 0 (answered). */
static int
pw_post(struct fb_http_web *w, const struct fb_local_account *a)
{
	const char *current, *password, *confirm;
	struct pw_job *j;
	struct fb_err err = {0};
	enum fb_status r;

	if (fb_http_web_post(w) != 0)
		return 0;
	current = fb_http_form_get(w->form, "current");
	password = fb_http_form_get(w->form, "password");
	confirm = fb_http_form_get(w->form, "confirm");
	if (current == NULL || current[0] == '\0' || password == NULL || password[0] == '\0' ||
	    confirm == NULL || strcmp(password, confirm) != 0) {
		fb_http_web_audit(w, "password_change_refused", NULL,
		    "a field is missing or the two new passwords differ");
		password_form(w, 400,
		    current == NULL || current[0] == '\0'
		        ? "Enter your current password."
		        : "The two new passwords are not the same. Type them again.",
		    a->username);
		return 0;
	}
	j = fb_xcalloc(1, sizeof(*j));
	r = fb_local_password_change_begin(w->conf, w->env->store, a->username, current, password,
	    w->client, w->reqid, &j->c, &err);
	if (r == FB_ERR_INVALID) {
		fb_http_web_audit(w, "password_change_refused", NULL,
		    "new password fails the policy");
		password_form(w, 400,
		    fb_arena_printf(fb_http_req_arena(w->req),
		        "The new password is too weak. Use at least %d characters, without "
		        "control characters.",
		        FB_LOCAL_PASSWORD_MIN),
		    a->username);
	} else if (r == FB_ERR_LIMIT) {
		fb_http_web_locked(w, j->c.retry_after);
	} else if (r != FB_OK) {
		fb_http_web_unavailable(w, &err);
	} else {
		j->w = *w;
		if (fb_http_req_defer(w->req, pw_work, pw_done, j, &err) == FB_OK)
			return 1;
		/* SECURITY: the pool is full: refuse now, queue nothing. */
		fb_http_web_unavailable(w, &err);
	}
	pw_job_free(j);
	return 0;
}

void
fb_http_web_handle_password(struct fb_http_req *req, void *arg)
{
	struct fb_http_web w;
	struct fb_local_account a = {0};

	(void)arg;
	if (fb_http_web_begin(req, &w) != 0)
		return;
	if (fb_http_web_user(&w, &a) != 0)
		goto out;
	if (fb_http_req_method_id(req) == FB_HTTP_POST) {
		if (pw_post(&w, &a)) {
			fb_local_account_cleanup(&a);
			return; /* pw_done answers */
		}
	} else {
		password_form(&w, 200, NULL, a.username);
	}
out:
	fb_local_account_cleanup(&a);
	fb_http_web_end(&w);
}
