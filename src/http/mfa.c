/* SPDX-License-Identifier: Apache-2.0 */
/* http/mfa.c: TOTP enrolment: the key as QR code and text, the first code, the recovery codes. */
#include <string.h>

#include "core/core.h"
#include "store/store.h"
#include "local/local.h"
#include "http/http.h"
#include "http/web.h"
#include "http/pages.h"

static void
code_fields(struct fb_http_web *w, struct fb_http_page *p, const char *pending)
{
	fb_http_page_raw(p, "<form method=\"post\" action=\"" FB_HTTP_PATH_MFA_ENROL "\">\n");
	fb_http_web_form_fields(w, p);
	fb_http_page_html(p, "<input type=\"hidden\" name=\"pending\" value=\"%s\">\n", pending);
	fb_http_page_raw(p,
	    "<label for=\"code\">Code from the app</label>\n"
	    "<input type=\"text\" id=\"code\" name=\"code\" inputmode=\"numeric\" "
	    "autocomplete=\"one-time-code\" pattern=\"[0-9 ]*\" required "
	    "aria-describedby=\"code-hint\">\n"
	    "<p class=\"hint\" id=\"code-hint\">The 6 digits the app shows for this account.</p>\n"
	    "<button type=\"submit\">Turn on two-step verification</button>\n</form>\n");
}

static void
enrol_form(struct fb_http_web *w, const struct fb_local_account *a)
{
	struct fb_local_totp_enrolment e = {0};
	struct fb_http_page p;
	struct fb_err err = {0};

	if (fb_local_totp_enrol_begin(w->conf, w->env->sealer, a->id, a->username, &e, &err) !=
	    FB_OK) {
		fb_http_web_unavailable(w, &err);
		return;
	}
	fb_http_page_begin(&p, w->conf, "Set up two-step verification");
	fb_http_page_raw(&p, "<main class=\"wide\">\n<h1>Set up two-step verification</h1>\n");
	if (w->sess.state == FB_HTTP_SESSION_MFA_ENROL)
		fb_http_page_raw(&p,
		    "<p class=\"alert note\" role=\"status\">Your account needs a second "
		    "step to sign in. Set it up now to continue.</p>\n");
	else if (a->totp_enabled)
		fb_http_page_raw(&p,
		    "<p class=\"alert note\" role=\"status\">Two-step verification is "
		    "on. Setting it up again replaces the app you use now and "
		    "your recovery codes.</p>\n");
	fb_http_page_raw(&p,
	    "<h2>1. Add this account to your authenticator app</h2>\n"
	    "<p>Scan the QR code with an app such as FreeOTP, Aegis, Google Authenticator or "
	    "1Password.</p>\n<div class=\"qr\">");
	/* Markup made by the local module from the URI (no input in it). */
	fb_http_page_raw(&p, e.qr_svg);
	fb_http_page_html(&p,
	    "</div>\n<p>Cannot scan? Enter this key in the app (time-based, 6 digits, 30 "
	    "seconds):</p>\n<p><code class=\"secret\" id=\"totp-secret\">%s</code></p>\n"
	    "<details><summary>Show the setup link</summary>\n"
	    "<p><code id=\"totp-uri\">%s</code></p></details>\n"
	    "<h2>2. Enter the code the app shows</h2>\n",
	    e.secret, e.uri);
	code_fields(w, &p, e.pending);
	fb_http_page_raw(&p, "</main>");
	fb_http_page_send(w->req, &p, 200);
	fb_local_totp_enrolment_cleanup(&e);
}

/* A code that did not work: ask again for the same pending key (the app has it already). */
static void
retry_form(struct fb_http_web *w, int code, const char *msg, const char *pending)
{
	struct fb_http_page p;

	fb_http_page_begin(&p, w->conf, "Set up two-step verification");
	fb_http_page_html(&p,
	    "<main>\n<h1>Set up two-step verification</h1>\n"
	    "<p class=\"alert\" role=\"alert\">%s</p>\n",
	    msg);
	code_fields(w, &p, pending);
	fb_http_page_html(&p, "<p><a href=\"%s\">Start again with a new key</a></p>\n</main>",
	    fb_http_web_url(w, FB_HTTP_PATH_MFA_ENROL));
	fb_http_page_send(w->req, &p, code);
}

static void
enrol_post(struct fb_http_web *w, const struct fb_local_account *a)
{
	const char *pending, *code;
	struct fb_http_session s = {0};
	struct fb_http_page p;
	struct fb_err err = {0};
	char **codes = NULL;
	enum fb_status r;

	if (fb_http_web_post(w) != 0)
		return;
	pending = fb_http_form_get(w->form, "pending");
	code = fb_http_form_get(w->form, "code");
	if (pending == NULL || pending[0] == '\0') {
		fb_http_web_fail(w, 400, "Setup expired", "Start the setup again.",
		    fb_http_web_url(w, FB_HTTP_PATH_MFA_ENROL), "Start again", "mfa_enrol_failed",
		    "no pending key");
		return;
	}
	if (code == NULL || code[0] == '\0') {
		retry_form(w, 400, "Enter the 6-digit code the app shows.", pending);
		return;
	}
	r = fb_local_totp_enrol_finish(w->conf, w->env->store, w->env->sealer, a->id, pending, code,
	    w->reqid, &err);
	switch (r) {
	case FB_OK:
		break;
	case FB_ERR_DENIED:
	case FB_ERR_INVALID:
		/* The local module wrote the audit line (mfa_enrol_failed). */
		retry_form(w, r == FB_ERR_DENIED ? 403 : 400,
		    "That code is not right. Check that your phone's clock is set automatically "
		    "and enter the code the app shows now.",
		    pending);
		return;
	case FB_ERR_EXPIRED:
	case FB_ERR_SIGNATURE:
	case FB_ERR_NOTFOUND:
		fb_http_web_fail(w, 400, "Setup expired",
		    "This setup page is too old. Start again with a new key.",
		    fb_http_web_url(w, FB_HTTP_PATH_MFA_ENROL), "Start again", "mfa_enrol_failed",
		    fb_status_name(r));
		return;
	default:
		fb_http_web_unavailable(w, &err);
		return;
	}
	if (fb_local_recovery_codes_new(w->env->store, a->id, w->reqid, &codes, &err) != FB_OK) {
		fb_http_web_unavailable(w, &err);
		return;
	}
	if (w->sess.state == FB_HTTP_SESSION_MFA_ENROL &&
	    fb_local_login_finish(w->conf, w->env->store, a->id, w->client, w->reqid, &err) !=
	        FB_OK) {
		fb_http_web_unavailable(w, &err);
		goto out;
	}
	/* The second factor was just proven: the session is now a full one. */
	fb_http_session_init(&s, a->id, a->username, FB_HTTP_SESSION_FULL, 1,
	    w->conf->session_lifetime);
	if (w->sess.state == FB_HTTP_SESSION_FULL)
		s.expires_at = w->sess.expires_at;
	s.auth_time = w->sess.auth_time;
	s.gen = w->sess.gen;
	if (fb_http_web_session_replace(w, &s) != 0)
		goto out;
	fb_http_page_begin(&p, w->conf, "Two-step verification is on");
	fb_http_page_raw(&p,
	    "<main>\n<h1>Two-step verification is on</h1>\n"
	    "<p class=\"alert ok\" role=\"status\">From now on, signing in asks for a code from "
	    "your app.</p>\n<h2>Your recovery codes</h2>\n"
	    "<p>If you lose your phone, each of these codes signs you in once instead of the app. "
	    "Save them somewhere safe now: they are not shown again.</p>\n"
	    "<ul class=\"codes\" id=\"recovery-codes\">\n");
	for (size_t i = 0; codes[i] != NULL; i++)
		fb_http_page_html(&p, "<li>%s</li>\n", codes[i]);
	fb_http_page_html(&p, "</ul>\n<p><a href=\"%s\">Continue</a></p>\n</main>", w->next);
	fb_http_page_send(w->req, &p, 200);
out:
	fb_local_codes_free(codes);
	fb_http_session_cleanup(&s);
}

void
fb_http_web_handle_mfa_enrol(struct fb_http_req *req, void *arg)
{
	struct fb_http_web w;
	struct fb_local_account a = {0};

	if (fb_http_web_begin(req, &w) != 0)
		return;
	if (fb_http_web_user(&w, &a) != 0)
		goto out;
	if (fb_http_req_method_id(req) == FB_HTTP_POST)
		enrol_post(&w, &a);
	else
		enrol_form(&w, &a);
out:
	fb_local_account_cleanup(&a);
	fb_http_web_end(&w);
}
