/* SPDX-License-Identifier: Apache-2.0 */
/* local/bootstrap.c: the first administrator of a fresh deployment, created once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "local/local.h"
#include "local/internal.h"

/* The store flag: set once bootstrap ran (or found accounts), never removed. */
#define FLAG_NS "bootstrap"
#define FLAG_KEY "done"
#define FLAG_VALUE "1"

static enum fb_status
flag_set(struct fb_store *st, struct fb_err *err)
{
	return fb_store_kv_put(st, FLAG_NS, FLAG_KEY, FLAG_VALUE, 1, INT64_MAX, err);
}

enum fb_status
fb_local_bootstrap_skip(struct fb_store *st, struct fb_err *err)
{
	return flag_set(st, err);
}

enum fb_status
fb_local_bootstrap(const struct fb_conf *conf, struct fb_store *st, struct fb_err *err)
{
	struct fb_local_account a;
	enum fb_log_level saved_level;
	struct fb_err perr;
	unsigned char *v = NULL;
	char *password = NULL, *token = NULL, *token_id = NULL;
	const char *pw_shown, *tok_shown;
	size_t n = 0, accounts = 0;
	enum fb_status r;

	memset(&a, 0, sizeof(a));
	if (!conf->bootstrap_enabled) {
		fb_log(FB_LOG_DEBUG, "bootstrap: local.bootstrap.enabled is false");
		return FB_OK;
	}
	r = fb_store_kv_get(st, FLAG_NS, FLAG_KEY, &v, &n, err);
	free(v);
	if (r == FB_OK)
		return FB_OK; /* done on an earlier start */
	if (r != FB_ERR_NOTFOUND)
		return r;
	if ((r = fb_store_cred_count(st, &accounts, err)) != FB_OK)
		return r;
	if (accounts > 0) {
		fb_log(FB_LOG_INFO, "bootstrap: %zu local accounts exist; no bootstrap account made",
		    accounts);
		return flag_set(st, err);
	}
	/* Check a configured password before anything is written. */
	fb_err_clear(&perr);
	if (conf->bootstrap_password != NULL &&
	    fb_local_password_check(conf->bootstrap_password, &perr) != FB_OK)
		return fb_err_set(err, FB_ERR_CONFIG, "local.bootstrap.password: %s", perr.msg);
	/*
	 * Claim the bootstrap atomically (kv_add): with several replicas on one
	 * store starting together, one creates the account.
	 */
	r = fb_store_kv_add(st, FLAG_NS, FLAG_KEY, FLAG_VALUE, 1, INT64_MAX, err);
	if (r == FB_ERR_REPLAY)
		return FB_OK;
	if (r != FB_OK)
		return r;
	password = conf->bootstrap_password != NULL ? fb_xstrdup(conf->bootstrap_password)
						    : fb_local_password_generate();
	if ((r = fb_local_account_create(conf, st, FB_LOCAL_BOOTSTRAP_USER,
		 "Bootstrap administrator", NULL, FB_ACCOUNT_INTERNAL, password, NULL, &a, err)) !=
	    FB_OK)
		goto out;
	if (conf->bootstrap_token != NULL)
		r = fb_local_token_import(st, FB_LOCAL_BOOTSTRAP_USER, conf->bootstrap_token,
		    "bootstrap", 0, NULL, &token_id, err);
	else
		r = fb_local_token_create(st, FB_LOCAL_BOOTSTRAP_USER, "bootstrap", 0, NULL, &token,
		    &token_id, err);
	if (r != FB_OK) {
		(void)fb_local_account_delete(st, FB_LOCAL_BOOTSTRAP_USER, NULL, NULL);
		goto out;
	}
	pw_shown = conf->bootstrap_password != NULL ? "(from configuration)" : password;
	tok_shown = conf->bootstrap_token != NULL ? "(from configuration)" : token;
	/*
	 * SECURITY: the one deliberate exception to "no secrets in logs". On a
	 * fresh deployment the operator has no other way to learn the generated
	 * password and token, so they are written here, once, in one clearly
	 * marked line; they are not registered with the log redactor until
	 * after this line, and the store flag keeps any later start from
	 * printing them again. Configured values are never printed (the
	 * operator knows them, and conf registered them with the redactor).
	 */
	/* The line must reach the operator even when log.level is error. */
	saved_level = fb_log_min_level;
	if (fb_log_min_level > FB_LOG_WARN)
		fb_log_min_level = FB_LOG_WARN;
	fb_log_write(FB_LOG_WARN, "bootstrap", __func__, NULL,
	    (const char *const[]){"event", "bootstrap_admin", "user", FB_LOCAL_BOOTSTRAP_USER,
		"password", pw_shown, "token_id", token_id, "token", tok_shown, NULL},
	    "bootstrap administrator created: sign in as %s, then create your own accounts and "
	    "run 'fedbroker user disable %s' and 'fedbroker token revoke %s'. This line is "
	    "printed once and never again",
	    FB_LOCAL_BOOTSTRAP_USER, FB_LOCAL_BOOTSTRAP_USER, token_id);
	fb_log_min_level = saved_level;
	fb_log_secret_add(password);
	if (token != NULL)
		fb_log_secret_add(token);
	fb_local_audit(NULL, "bootstrap_admin", FB_LOCAL_BOOTSTRAP_USER, NULL,
	    "bootstrap administrator and API token %s created", token_id);
	r = FB_OK;
out:
	if (r != FB_OK) {
		/* Nothing was made: let the next start try again. */
		(void)fb_store_kv_delete(st, FLAG_NS, FLAG_KEY, NULL);
	}
	fb_secret_free(password);
	fb_secret_free(token);
	free(token_id);
	fb_local_account_cleanup(&a);
	return r;
}
