/* SPDX-License-Identifier: Apache-2.0 */
/* local/lockout.c: brute-force limits per account and per client address, kept in the store. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "local/local.h"
#include "local/internal.h"

#define NS "lockout"
/* The longest delay exponent (2^30 s is beyond any max_delay allowed). */
#define SHIFT_MAX 30

/*
 * The kv keys of a subject: "n:<kind>:<sha256>" counts failures and
 * "t:<kind>:<sha256>" holds the end of the current lock, in milliseconds
 * since the epoch (the kv entry expires then too): a lock announced as
 * N seconds lasts N seconds to the millisecond, never less. Hashing bounds
 * the key length whatever was typed in the username field.
 */
static void
keys_of(const char *kind, const char *subject, char *count_key, char *lock_key, size_t len)
{
	char h[FB_LOCAL_SHA256_HEX];

	fb_local_sha256_hex(subject, strlen(subject), h);
	snprintf(count_key, len, "n:%s:%s", kind, h);
	snprintf(lock_key, len, "t:%s:%s", kind, h);
}

#define KEY_LEN 80

/*
 * Seconds left on subject's lock into *left (0 when not locked), rounded
 * up: Retry-After never announces less than the lock has left.
 */
static enum fb_status
lock_left(struct fb_store *st, const char *kind, const char *subject, int64_t *left,
    struct fb_err *err)
{
	char ck[KEY_LEN], lk[KEY_LEN], *end;
	unsigned char *v = NULL;
	size_t n = 0;
	long long until;
	int64_t now = fb_time_now_ms();
	enum fb_status r;

	*left = 0;
	keys_of(kind, subject, ck, lk, sizeof(ck));
	r = fb_store_kv_get(st, NS, lk, &v, &n, err);
	if (r == FB_ERR_NOTFOUND)
		return FB_OK;
	if (r != FB_OK)
		return r;
	errno = 0;
	until = strtoll((const char *)v, &end, 10);
	if (errno == 0 && *end == '\0' && until > now)
		*left = (until - now + 999) / 1000;
	free(v);
	return FB_OK;
}

enum fb_status
fb_local_lockout_check(const struct fb_conf *conf, struct fb_store *st, const char *username,
    const char *client_addr, int64_t *retry_after, struct fb_err *err)
{
	int64_t ul = 0, al = 0;
	enum fb_status r;

	*retry_after = 0;
	if (username != NULL && (r = lock_left(st, "u", username, &ul, err)) != FB_OK)
		return r;
	if (client_addr != NULL && (r = lock_left(st, "a", client_addr, &al, err)) != FB_OK)
		return r;
	if (ul == 0 && al == 0)
		return FB_OK;
	*retry_after = ul > al ? ul : al;
	if (ul >= al)
		return fb_err_set(err, FB_ERR_LIMIT,
		    "account %s is locked for %lld more seconds after repeated failures", username,
		    (long long)ul);
	return fb_err_set(err, FB_ERR_LIMIT,
	    "address %s is locked for %lld more seconds after repeated failures", client_addr,
	    (long long)al);
}

/*
 * The delay in seconds after the count-th failure of an account (kind "u":
 * threshold local.lockout.max_failures) or an address ("a": its own
 * threshold): 0 below the threshold, then initial_delay (1 s), twice that,
 * four times ... up to max_delay.
 */
FB_STATIC int64_t
fb_local_lockout_delay(const struct fb_conf *conf, const char *kind, int64_t count)
{
	int max = kind[0] == 'a' ? conf->lockout_addr_max_failures : conf->lockout_max_failures;
	int64_t over = count - (max > 0 ? max : 1);
	int64_t first = conf->lockout_initial_delay > 0 ? conf->lockout_initial_delay : 1;
	int64_t d;

	if (over < 0)
		return 0;
	if (first >= conf->lockout_max_delay)
		return conf->lockout_max_delay;
	/* No overflow: first < max_delay <= 86400 and the shift stops at the cap. */
	d = first;
	for (int64_t i = 0; i < over && i < SHIFT_MAX && d < conf->lockout_max_delay; i++)
		d *= 2;
	return d < conf->lockout_max_delay ? d : conf->lockout_max_delay;
}

/* Counts one failure of subject; a lock it starts is written and its length put in *delay. */
static enum fb_status
fail_one(const struct fb_conf *conf, struct fb_store *st, const char *kind, const char *subject,
    int64_t *count, int64_t *delay, struct fb_err *err)
{
	char ck[KEY_LEN], lk[KEY_LEN], until[32];
	int64_t now = fb_time_now_ms(), end;
	enum fb_status r;

	*delay = 0;
	keys_of(kind, subject, ck, lk, sizeof(ck));
	/* The window slides: the count is forgotten after a quiet window. */
	if ((r = fb_store_kv_incr_ms(st, NS, ck, now + conf->lockout_window * 1000, count, err)) !=
	    FB_OK)
		return r;
	*delay = fb_local_lockout_delay(conf, kind, *count);
	if (*delay == 0)
		return FB_OK;
	end = now + *delay * 1000;
	snprintf(until, sizeof(until), "%lld", (long long)end);
	return fb_store_kv_put_ms(st, NS, lk, until, strlen(until), end, err);
}

enum fb_status
fb_local_lockout_fail(const struct fb_conf *conf, struct fb_store *st, const char *username,
    const char *client_addr, const char *reason, const char *reqid, int64_t *retry_after,
    struct fb_err *err)
{
	int64_t uc = 0, ud = 0, ac = 0, ad = 0;
	enum fb_status r;

	if (retry_after != NULL)
		*retry_after = 0;
	if (username != NULL && (r = fail_one(conf, st, "u", username, &uc, &ud, err)) != FB_OK)
		return r;
	if (client_addr != NULL &&
	    (r = fail_one(conf, st, "a", client_addr, &ac, &ad, err)) != FB_OK)
		return r;
	fb_local_audit(reqid, "login_failed", username, client_addr,
	    "sign-in failed (%s); failures: account %lld, address %lld", reason != NULL ? reason : "",
	    (long long)uc, (long long)ac);
	if (ud != 0)
		fb_local_audit(reqid, "account_locked", username, client_addr,
		    "account locked for %lld s after %lld failures", (long long)ud, (long long)uc);
	if (ad != 0)
		fb_local_audit(reqid, "address_locked", username, client_addr,
		    "address locked for %lld s after %lld failures", (long long)ad, (long long)ac);
	if (retry_after != NULL)
		*retry_after = ud > ad ? ud : ad;
	return FB_OK;
}

enum fb_status
fb_local_lockout_reset(const struct fb_conf *conf, struct fb_store *st, const char *username,
    const char *reqid, struct fb_err *err)
{
	char ck[KEY_LEN], lk[KEY_LEN], *end;
	unsigned char *v = NULL;
	size_t n = 0;
	long long count = 0;
	enum fb_status r;

	keys_of("u", username, ck, lk, sizeof(ck));
	r = fb_store_kv_get(st, NS, ck, &v, &n, err);
	if (r == FB_ERR_NOTFOUND)
		return FB_OK;
	if (r != FB_OK)
		return r;
	errno = 0;
	count = strtoll((const char *)v, &end, 10);
	free(v);
	if ((r = fb_store_kv_delete(st, NS, ck, err)) != FB_OK ||
	    (r = fb_store_kv_delete(st, NS, lk, err)) != FB_OK)
		return r;
	if (errno == 0 && count >= conf->lockout_max_failures)
		fb_local_audit(reqid, "account_unlocked", username, NULL,
		    "failure count (%lld) reset by a successful sign-in", count);
	return FB_OK;
}
