/* SPDX-License-Identifier: Apache-2.0 */
/* http/session.c: the browser session: a sealed cookie, checked against revocations on each use. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "saml/saml.h"
#include "http/http.h"
#include "http/web.h"

/* Random bytes of a session id (22 base64url characters). */
#define SID_BYTES 16

static const char *const state_names[] = {
    [FB_HTTP_SESSION_FULL] = "full",
    [FB_HTTP_SESSION_MFA_PENDING] = "mfa",
    [FB_HTTP_SESSION_MFA_ENROL] = "enrol",
};

void
fb_http_session_init(struct fb_http_session *s, const char *user_id, const char *username,
    enum fb_http_session_state state, int mfa, int64_t lifetime)
{
	int64_t now = fb_time_now();

	memset(s, 0, sizeof(*s));
	s->sid = fb_rand_token(SID_BYTES);
	s->user_id = fb_xstrdup(user_id);
	s->username = fb_xstrdup(username);
	s->auth_time = now;
	s->expires_at = now + lifetime;
	s->state = state;
	s->mfa = mfa;
}

void
fb_http_session_cleanup(struct fb_http_session *s)
{
	if (s == NULL)
		return;
	free(s->sid);
	free(s->user_id);
	free(s->username);
	free(s->upstream);
	memset(s, 0, sizeof(*s));
}

enum fb_status
fb_http_session_seal(const struct fb_sealer *sealer, const struct fb_http_session *s, char **out,
    struct fb_err *err)
{
	json_t *o = NULL;
	char *text = NULL;
	enum fb_status r = FB_ERR_INVALID;

	*out = NULL;
	if (s->sid == NULL || s->user_id == NULL || s->username == NULL ||
	    (unsigned)s->state > FB_HTTP_SESSION_MFA_ENROL) {
		r = fb_err_set(err, FB_ERR_INVALID, "session: incomplete");
		goto out;
	}
	o = json_pack("{s:i, s:s, s:s, s:s, s:I, s:I, s:s, s:b, s:I}", "v", 1, "sid", s->sid,
	    "uid", s->user_id, "usr", s->username, "iat", (json_int_t)s->auth_time, "exp",
	    (json_int_t)s->expires_at, "st", state_names[s->state], "mfa", s->mfa, "gen",
	    (json_int_t)s->gen);
	if (o != NULL && s->upstream != NULL &&
	    json_object_set_new(o, "up", json_string(s->upstream)) != 0) {
		json_decref(o);
		o = NULL;
	}
	if (o == NULL) {
		r = fb_err_set(err, FB_ERR_INVALID, "session: a member is not UTF-8");
		goto out;
	}
	text = json_dumps(o, JSON_COMPACT);
	if (text == NULL) {
		r = fb_err_set(err, FB_ERR_INTERNAL, "session: cannot encode");
		goto out;
	}
	r = fb_crypto_seal(sealer, FB_HTTP_SESSION_PURPOSE, text, strlen(text), s->expires_at, out,
	    err);
out:
	free(text);
	json_decref(o);
	return r;
}

enum fb_status
fb_http_session_open(const struct fb_sealer *sealer, const char *token, struct fb_http_session *out,
    struct fb_err *err)
{
	unsigned char *plain = NULL;
	size_t plen = 0;
	json_t *o = NULL;
	json_error_t jerr;
	const char *sid = NULL, *uid = NULL, *usr = NULL, *st = NULL, *up = NULL;
	json_int_t v = 0, iat = 0, exp = 0, gen = 0;
	int mfa = 0;
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	if ((r = fb_crypto_unseal(sealer, FB_HTTP_SESSION_PURPOSE, token, &plain, &plen, err)) !=
	    FB_OK)
		goto out;
	r = FB_ERR_INVALID;
	o = json_loadb((const char *)plain, plen, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL ||
	    json_unpack(o, "{s:I, s:s, s:s, s:s, s:I, s:I, s:s, s:b, s?I, s?s}", "v", &v, "sid",
	        &sid, "uid", &uid, "usr", &usr, "iat", &iat, "exp", &exp, "st", &st, "mfa", &mfa,
	        "gen", &gen, "up", &up) != 0 ||
	    v != 1) {
		r = fb_err_set(err, FB_ERR_INVALID, "session: not a session payload");
		goto out;
	}
	out->state = (enum fb_http_session_state) - 1;
	for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (strcmp(st, state_names[i]) == 0)
			out->state = (enum fb_http_session_state)i;
	if ((int)out->state < 0) {
		r = fb_err_set(err, FB_ERR_INVALID, "session: unknown state");
		goto out;
	}
	out->sid = fb_xstrdup(sid);
	out->user_id = fb_xstrdup(uid);
	out->username = fb_xstrdup(usr);
	out->auth_time = iat;
	out->expires_at = exp;
	out->mfa = mfa;
	out->gen = gen;
	out->upstream = up != NULL ? fb_xstrdup(up) : NULL;
	r = FB_OK;
out:
	json_decref(o);
	if (plain != NULL) {
		fb_secret_wipe(plain, plen);
		free(plain);
	}
	return r;
}

/* fb_http_session_get; with user not NULL, fb_http_session_get_user. */
static enum fb_status
session_get(struct fb_http_req *req, struct fb_http_session *out, struct fb_store_user *user,
    const struct fb_saml_sp *sp, struct fb_store_signon *signon, struct fb_err *err)
{
	struct fb_store_signon_want want;
	char *key = NULL;
	const struct fb_http_env *env = fb_http_req_env(req);
	const char *token = fb_http_req_cookie(req, env->conf->cookie_name);
	int64_t gen = 0;
	int revoked = 0;
	enum fb_status r;

	memset(out, 0, sizeof(*out));
	if (user != NULL)
		memset(user, 0, sizeof(*user));
	if (token == NULL)
		return fb_err_set(err, FB_ERR_NOTFOUND, "no session cookie");
	if ((r = fb_http_session_open(env->sealer, token, out, err)) != FB_OK)
		goto out;
	if (user != NULL && sp != NULL) /* the SP's reads too: one round trip */
		fb_saml_signon_want(sp, out->sid, &want, &key);
	r = user != NULL
	        ? fb_store_session_user(env->store, out->sid, out->user_id, &revoked, &gen, user,
	              key != NULL ? &want : NULL, signon, err)
	        : fb_store_session_state(env->store, out->sid, out->user_id, &revoked, &gen, err);
	free(key);
	/* A user who is gone: the session's checks still come first. */
	if (r != FB_OK && !(user != NULL && r == FB_ERR_NOTFOUND))
		goto out;
	/* SECURITY: a signed-out session must not come back from a copy of its cookie. */
	if (revoked)
		r = fb_err_set(err, FB_ERR_DENIED, "session of %s was revoked", out->username);
	/*
	 * SECURITY: a password reset or disabling ends every session of the
	 * account. An account without credentials (deleted) is the pages' call.
	 */
	else if (gen >= 0 && gen != out->gen)
		r = fb_err_set(err, FB_ERR_DENIED,
		    "session of %s predates a password reset or disabling", out->username);
out:
	if (r != FB_OK) {
		fb_http_session_cleanup(out);
		if (user != NULL)
			fb_store_user_cleanup(user);
		fb_store_signon_cleanup(signon);
	}
	return r;
}

enum fb_status
fb_http_session_get(struct fb_http_req *req, struct fb_http_session *out, struct fb_err *err)
{
	return session_get(req, out, NULL, NULL, NULL, err);
}

enum fb_status
fb_http_session_get_user(struct fb_http_req *req, struct fb_http_session *out,
    struct fb_store_user *user, const struct fb_saml_sp *sp, struct fb_store_signon *signon,
    struct fb_err *err)
{
	return session_get(req, out, user, sp, signon, err);
}

enum fb_status
fb_http_session_set(struct fb_http_req *req, const struct fb_http_session *s, struct fb_err *err)
{
	const struct fb_http_env *env = fb_http_req_env(req);
	char *token = NULL;
	int64_t age = s->expires_at - fb_time_now();
	enum fb_status r;

	if ((r = fb_http_session_seal(env->sealer, s, &token, err)) != FB_OK)
		return r;
	fb_http_reply_cookie(req, env->conf->cookie_name, token, age > 0 ? age : 0);
	free(token);
	return FB_OK;
}

void
fb_http_session_clear(struct fb_http_req *req)
{
	fb_http_reply_cookie(req, fb_http_req_env(req)->conf->cookie_name, "", 0);
}
