/* SPDX-License-Identifier: Apache-2.0 */
/* http/login.c: the sign-in pages: username and password, the second factor, signing out. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "store/store.h"
#include "local/local.h"
#include "http/http.h"
#include "http/web.h"
#include "http/pages.h"

/* ---- /login ------------------------------------------------------------------- */

static void
login_form(struct fb_http_web *w, int code, const char *error, const char *username)
{
	struct fb_http_page p;
	int local = fb_http_upstream_local_available(w);

	fb_http_page_begin(&p, w->conf, "Sign in");
	fb_http_page_html(&p, "<main>\n<h1>Sign in to %s</h1>\n", w->conf->org_name);
	if (error != NULL)
		fb_http_page_html(&p, "<p class=\"alert\" role=\"alert\">%s</p>\n", error);
	/* The upstreams first: with them, the password form is for local accounts. */
	fb_http_upstream_login_choices(w, &p);
	if (!local) {
		fb_http_page_raw(&p, "</main>");
		fb_http_page_send(w->req, &p, code);
		return;
	}
	if (w->conf->nupstreams > 0)
		fb_http_page_raw(&p, "<h2>Sign in with a password</h2>\n");
	fb_http_page_raw(&p, "<form method=\"post\" action=\"" FB_HTTP_PATH_LOGIN "\">\n");
	fb_http_web_form_fields(w, &p);
	fb_http_page_html(&p,
	    "<label for=\"username\">Username</label>\n"
	    "<input type=\"text\" id=\"username\" name=\"username\" value=\"%s\" "
	    "autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required%s>\n"
	    "<label for=\"password\">Password</label>\n"
	    "<input type=\"password\" id=\"password\" name=\"password\" "
	    "autocomplete=\"current-password\" required%s>\n"
	    "<button type=\"submit\">Sign in</button>\n</form>\n"
	    "<p class=\"hint\">Forgot your password? Ask your administrator for a recovery "
	    "link.</p>\n</main>",
	    username != NULL ? username : "",
	    (username == NULL || username[0] == '\0') && w->conf->nupstreams == 0 ? " autofocus"
	                                                                        : "",
	    username != NULL && username[0] != '\0' ? " autofocus" : "");
	fb_http_page_send(w->req, &p, code);
}

/* Answers a sign-in whose password step reached a verdict (att). */
static void
login_verdict(struct fb_http_web *w, struct fb_local_attempt *att, const char *username)
{
	struct fb_http_session s = {0};
	struct fb_err err = {0};
	const char *target;

	switch (att->result) {
	case FB_LOCAL_ACCEPTED:
		break;
	case FB_LOCAL_LOCKED:
		fb_http_web_locked(w, att->retry_after);
		return;
	case FB_LOCAL_DISABLED:
		fb_http_web_fail(w, 403, "Account disabled",
		    "This account is disabled. Ask your administrator.", NULL, NULL, NULL, NULL);
		return;
	case FB_LOCAL_REJECTED:
	case FB_LOCAL_REPLAYED:
	default:
		/* One answer for an unknown user and a wrong password. */
		if (att->retry_after > 0) {
			fb_http_web_retry_after(w, att->retry_after);
			login_form(w, 429, fb_http_web_wait_text(w, att->retry_after), username);
		} else {
			login_form(w, 403, "Wrong username or password.", username);
		}
		return;
	}
	if (att->mfa_needed) {
		int enrol = !att->account.totp_enabled;

		fb_http_session_init(&s, att->account.id, att->account.username,
		    enrol ? FB_HTTP_SESSION_MFA_ENROL : FB_HTTP_SESSION_MFA_PENDING, 0,
		    FB_HTTP_SESSION_STEP_LIFETIME);
		target =
		    fb_http_web_url(w, enrol ? FB_HTTP_PATH_MFA_ENROL : FB_HTTP_PATH_LOGIN_MFA);
	} else {
		if (fb_local_login_finish(w->conf, w->env->store, att->account.id, w->client,
		        w->reqid, &err) != FB_OK) {
			fb_http_web_unavailable(w, &err);
			return;
		}
		fb_http_session_init(&s, att->account.id, att->account.username,
		    FB_HTTP_SESSION_FULL, 0, w->conf->session_lifetime);
		target = w->next;
	}
	s.gen = att->account.session_gen;
	if (fb_http_web_session_replace(w, &s) == 0)
		fb_http_redirect(w->req, target);
	fb_http_session_cleanup(&s);
}

/* A sign-in whose password check runs on the worker's CPU pool. */
struct login_job {
	struct fb_http_web w; /* the page's state, moved here from the handler */
	struct fb_local_signin s;
	struct fb_local_attempt att;
};

static void
login_job_free(struct login_job *j)
{
	fb_local_signin_cleanup(&j->s);
	fb_local_attempt_cleanup(&j->att);
	free(j);
}

/* On a CPU thread: argon2id only. */
static void
login_work(void *arg)
{
	struct login_job *j = arg;

	fb_local_signin_verify(&j->s);
}

/* Back on the loop: record the outcome (even when the client left), then answer. */
static void
login_done(struct fb_http_req *req, void *arg)
{
	struct login_job *j = arg;
	struct fb_err err = {0};

	if (req != NULL) {
		if (fb_local_signin_end(j->w.env->store, &j->s, &j->att, &err) != FB_OK)
			fb_http_web_unavailable(&j->w, &err);
		else
			login_verdict(&j->w, &j->att, j->s.username);
	}
	fb_http_web_end(&j->w);
	login_job_free(j);
}

/* 1 when the reply was deferred (w then belongs to the job), else 0 (answered). */
static int
login_post(struct fb_http_web *w)
{
	const char *username, *password;
	struct login_job *j;
	struct fb_err err = {0};

	if (fb_http_web_post(w) != 0)
		return 0;
	username = fb_http_form_get(w->form, "username");
	password = fb_http_form_get(w->form, "password");
	if (username == NULL || username[0] == '\0' || password == NULL || password[0] == '\0') {
		fb_http_web_audit(w, "login_failed", NULL, "username or password missing");
		login_form(w, 400, "Enter your username and password.", username);
		return 0;
	}
	j = fb_xcalloc(1, sizeof(*j));
	if (fb_local_signin_begin(w->conf, w->env->store, username, password, w->client, w->reqid,
	        &j->s, &j->att, &err) != FB_OK) {
		fb_http_web_unavailable(w, &err);
	} else if (!fb_local_signin_pending(&j->s)) {
		login_verdict(w, &j->att, username);
	} else {
		j->w = *w;
		if (fb_http_req_defer(w->req, login_work, login_done, j, &err) == FB_OK)
			return 1;
		/* SECURITY: the pool is full (a flood of sign-ins): refuse now, queue nothing. */
		fb_http_web_unavailable(w, &err);
	}
	login_job_free(j);
	return 0;
}

void
fb_http_web_handle_login(struct fb_http_req *req, void *arg)
{
	struct fb_http_web w;
	const char *message = NULL, *username = NULL;

	if (fb_http_web_begin(req, &w) != 0)
		return;
	if (fb_http_req_method_id(req) == FB_HTTP_POST) {
		if (login_post(&w))
			return; /* login_done answers */
	} else if (w.has_session && w.sess.state == FB_HTTP_SESSION_FULL) {
		fb_http_redirect(req, w.next); /* signed in already */
	} else if (fb_http_upstream_login_get(&w, &message, &username) == 0) {
		login_form(&w, message != NULL && username == NULL ? 400 : 200, message, username);
	}
	fb_http_web_end(&w);
}

/* ---- /login/mfa ------------------------------------------------------------------ */

static void
mfa_form(struct fb_http_web *w, int code, const char *error)
{
	struct fb_http_page p;

	fb_http_page_begin(&p, w->conf, "Two-step verification");
	fb_http_page_raw(&p, "<main>\n<h1>Two-step verification</h1>\n");
	if (error != NULL)
		fb_http_page_html(&p, "<p class=\"alert\" role=\"alert\">%s</p>\n", error);
	fb_http_page_html(&p,
	    "<p>Signing in as <strong>%s</strong>. Open your authenticator app and enter the "
	    "6-digit code it shows.</p>\n",
	    w->sess.username);
	fb_http_page_raw(&p, "<form method=\"post\" action=\"" FB_HTTP_PATH_LOGIN_MFA "\">\n");
	fb_http_web_form_fields(w, &p);
	fb_http_page_raw(&p,
	    "<label for=\"code\">Authentication code</label>\n"
	    "<input type=\"text\" id=\"code\" name=\"code\" autocomplete=\"one-time-code\" "
	    "autocapitalize=\"none\" spellcheck=\"false\" required autofocus "
	    "aria-describedby=\"code-hint\">\n"
	    "<p class=\"hint\" id=\"code-hint\">No phone at hand? Enter one of your recovery codes "
	    "(xxxx-xxxx-xxxx) instead.</p>\n"
	    "<button type=\"submit\">Verify</button>\n</form>\n");
	fb_http_page_html(&p,
	    "<p><a href=\"%s\">Cancel and sign in as someone else</a></p>\n</main>",
	    FB_HTTP_PATH_LOGOUT);
	fb_http_page_send(w->req, &p, code);
}

/* 1 when code looks like a TOTP code: six digits, spaces ignored. */
static int
is_totp_code(const char *code)
{
	int digits = 0;

	for (const char *c = code; *c != '\0'; c++) {
		if (*c == ' ')
			continue;
		if (!isdigit((unsigned char)*c))
			return 0;
		digits++;
	}
	return digits == FB_LOCAL_TOTP_DIGITS;
}

static void
mfa_post(struct fb_http_web *w)
{
	const char *code;
	struct fb_local_attempt att = {0};
	struct fb_http_session s = {0};
	struct fb_err err = {0};
	enum fb_status r;

	if (fb_http_web_post(w) != 0)
		return;
	code = fb_http_form_get(w->form, "code");
	if (code == NULL || code[0] == '\0') {
		mfa_form(w, 400, "Enter the code from your authenticator app.");
		return;
	}
	if (is_totp_code(code))
		r = fb_local_totp_signin(w->conf, w->env->store, w->env->sealer, w->sess.user_id,
		    code, w->client, w->reqid, &att, &err);
	else
		r = fb_local_recovery_signin(w->conf, w->env->store, w->sess.user_id, code,
		    w->client, w->reqid, &att, &err);
	if (r != FB_OK) {
		fb_http_web_unavailable(w, &err);
		goto out;
	}
	switch (att.result) {
	case FB_LOCAL_ACCEPTED:
		break;
	case FB_LOCAL_LOCKED:
		fb_http_web_locked(w, att.retry_after);
		goto out;
	case FB_LOCAL_REPLAYED:
		mfa_form(w, 409,
		    "This code was used already. Wait for your app to show the next code and enter "
		    "that one.");
		goto out;
	case FB_LOCAL_DISABLED:
	case FB_LOCAL_REJECTED:
	default:
		if (att.retry_after > 0) {
			fb_http_web_retry_after(w, att.retry_after);
			mfa_form(w, 429, fb_http_web_wait_text(w, att.retry_after));
		} else {
			mfa_form(w, 403,
			    "That code is not right. Check that your phone's clock is set "
			    "automatically and try the current code.");
		}
		goto out;
	}
	if (fb_local_login_finish(w->conf, w->env->store, w->sess.user_id, w->client, w->reqid,
	        &err) != FB_OK) {
		fb_http_web_unavailable(w, &err);
		goto out;
	}
	fb_http_session_init(&s, w->sess.user_id, w->sess.username, FB_HTTP_SESSION_FULL, 1,
	    w->conf->session_lifetime);
	s.auth_time = w->sess.auth_time;
	s.gen = w->sess.gen;
	if (fb_http_web_session_replace(w, &s) != 0)
		goto out;
	fb_http_redirect(w->req, w->next);
out:
	fb_http_session_cleanup(&s);
	fb_local_attempt_cleanup(&att);
}

void
fb_http_web_handle_login_mfa(struct fb_http_req *req, void *arg)
{
	struct fb_http_web w;

	if (fb_http_web_begin(req, &w) != 0)
		return;
	if (!w.has_session) {
		if (fb_http_req_method_id(req) == FB_HTTP_POST)
			fb_http_web_fail(&w, 403, "Sign-in expired",
			    "Your sign-in took too long or was cancelled. Sign in again.",
			    fb_http_web_url(&w, FB_HTTP_PATH_LOGIN), "Sign in", "mfa_refused",
			    "no session");
		else
			fb_http_redirect(req, fb_http_web_url(&w, FB_HTTP_PATH_LOGIN));
	} else if (w.sess.state == FB_HTTP_SESSION_FULL) {
		fb_http_redirect(req, w.next);
	} else if (w.sess.state == FB_HTTP_SESSION_MFA_ENROL) {
		fb_http_redirect(req, fb_http_web_url(&w, FB_HTTP_PATH_MFA_ENROL));
	} else if (fb_http_req_method_id(req) == FB_HTTP_POST) {
		mfa_post(&w);
	} else {
		mfa_form(&w, 200, NULL);
	}
	fb_http_web_end(&w);
}

/* ---- /logout --------------------------------------------------------------------- */

static void
logout_post(struct fb_http_web *w)
{
	struct fb_http_page p;
	struct fb_err err = {0};

	if (fb_http_web_post(w) != 0)
		return;
	if (w->has_session) {
		if (fb_store_session_revoke(w->env->store, w->sess.sid, w->sess.expires_at, &err) !=
		    FB_OK) {
			fb_http_web_unavailable(w, &err);
			return;
		}
		fb_http_web_audit(w, "logout", NULL, "signed out");
	}
	fb_http_session_clear(w->req);
	/* Signed in through an upstream that is to be signed out of too: it answers. */
	if (fb_http_upstream_logout(w))
		return;
	fb_http_page_begin(&p, w->conf, "Signed out");
	fb_http_page_raw(&p,
	    "<main>\n<h1>You have signed out</h1>\n"
	    "<p class=\"alert ok\" role=\"status\">Your session has ended. "
	    "Close the browser if others use this computer.</p>\n"
	    "<p><a href=\"" FB_HTTP_PATH_LOGIN "\">Sign in again</a></p>\n</main>");
	fb_http_page_send(w->req, &p, 200);
}

void
fb_http_web_handle_logout(struct fb_http_req *req, void *arg)
{
	struct fb_http_web w;
	struct fb_http_page p;

	if (fb_http_web_begin(req, &w) != 0)
		return;
	if (fb_http_req_method_id(req) == FB_HTTP_POST) {
		logout_post(&w);
	} else {
		/* A GET never signs out (a link or an image could): it asks. */
		fb_http_page_begin(&p, w.conf, "Sign out");
		fb_http_page_raw(&p, "<main>\n<h1>Sign out</h1>\n");
		if (w.has_session)
			fb_http_page_html(&p, "<p>You are signed in as <strong>%s</strong>.</p>\n",
			    w.sess.username);
		else
			fb_http_page_raw(&p, "<p>You are not signed in.</p>\n");
		fb_http_page_raw(&p, "<form method=\"post\" action=\"" FB_HTTP_PATH_LOGOUT "\">\n");
		fb_http_web_form_fields(&w, &p);
		fb_http_page_raw(&p,
		    "<button type=\"submit\">Sign out</button>\n</form>\n"
		    "<p><a href=\"" FB_HTTP_PATH_HOME "\">Cancel</a></p>\n</main>");
		fb_http_page_send(req, &p, 200);
	}
	fb_http_web_end(&w);
}
