/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/store_call.c: how long one store call blocks the calling worker's
 * event loop (issue 12, item 1): opens the store CONFIG names (SQLite or
 * PostgreSQL, as fedbroker serve would), then makes each call the
 * IdP-initiated SAML sign-on makes N times in turn (the session check, the
 * user, the upstream groups, the persistent NameID, the stash of a pending
 * response: a kv put and a take; then the combined reads: session_user,
 * signon_get, and session_signon, the one call the sign-on makes now instead
 * of the first four and the logout record's read), each timed on the monotonic clock (wall
 * time: a worker waits for the round trip, not only for CPU), and prints per
 * call the median, p99 and max in microseconds. bench/store.sh runs it on both
 * stores with the same users.
 *
 *   make bench/store_call && ./bench/store_call CONFIG STATE_DIR USERNAME [N]   (N = 2000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"

enum { CALLS = 9 };
static const char *const names[CALLS] = {"session_state", "user_get", "upstream_groups",
    "nameid_get", "kv_put", "kv_take", "session_user", "signon_get", "session_signon"};

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void
fail(const char *what, const struct fb_err *err)
{
	fprintf(stderr, "store_call: %s: %s\n", what, err->msg);
	exit(1);
}

/* One round of every call; each time in us[i]. */
static void
round_of(struct fb_store *st, const struct fb_store_user *u, long i, int64_t us[CALLS])
{
	struct fb_err err = {0};
	char key[64], *nameid = NULL, **groups = NULL;
	unsigned char *val = NULL;
	size_t n = 0, len = 0;
	int revoked = 0;
	int64_t gen = 0, t;
	enum fb_status r;

	snprintf(key, sizeof(key), "bench-%ld", i);
	t = fb_time_mono_us();
	if (fb_store_session_state(st, key, u->id, &revoked, &gen, &err) != FB_OK)
		fail("session_state", &err);
	us[0] = fb_time_mono_us() - t;

	struct fb_store_user v;
	t = fb_time_mono_us();
	if (fb_store_user_get(st, u->username, &v, &err) != FB_OK)
		fail("user_get", &err);
	us[1] = fb_time_mono_us() - t;
	fb_store_user_cleanup(&v);

	t = fb_time_mono_us();
	if (fb_store_upstream_groups(st, u->id, &groups, &n, &err) != FB_OK)
		fail("upstream_groups", &err);
	us[2] = fb_time_mono_us() - t;
	for (size_t j = 0; j < n; j++)
		free(groups[j]);
	free(groups);

	t = fb_time_mono_us();
	r = fb_store_nameid_get(st, u->id, "urn:amazon:webservices", &nameid, &err);
	us[3] = fb_time_mono_us() - t;
	if (r != FB_OK && r != FB_ERR_NOTFOUND)
		fail("nameid_get", &err);
	free(nameid);

	t = fb_time_mono_us();
	if (fb_store_kv_put(st, "bench", key, "a pending response", 18, fb_time_now() + 60, &err) !=
	    FB_OK)
		fail("kv_put", &err);
	us[4] = fb_time_mono_us() - t;

	t = fb_time_mono_us();
	if (fb_store_kv_take(st, "bench", key, &val, &len, &err) != FB_OK)
		fail("kv_take", &err);
	us[5] = fb_time_mono_us() - t;
	free(val);

	t = fb_time_mono_us();
	if (fb_store_session_user(st, key, u->id, &revoked, &gen, &v, NULL, NULL, &err) != FB_OK)
		fail("session_user", &err);
	us[6] = fb_time_mono_us() - t;
	fb_store_user_cleanup(&v);

	struct fb_store_signon so;
	t = fb_time_mono_us();
	if (fb_store_signon_get(st, u->id, "urn:amazon:webservices", "saml-slo", key, &so, &err) !=
	    FB_OK)
		fail("signon_get", &err);
	us[7] = fb_time_mono_us() - t;
	fb_store_signon_cleanup(&so);

	const struct fb_store_signon_want want = {"urn:amazon:webservices", "saml-slo", key};
	t = fb_time_mono_us();
	if (fb_store_session_user(st, key, u->id, &revoked, &gen, &v, &want, &so, &err) != FB_OK)
		fail("session_signon", &err);
	us[8] = fb_time_mono_us() - t;
	fb_store_user_cleanup(&v);
	fb_store_signon_cleanup(&so);
}

int
main(int argc, char **argv)
{
	struct fb_conf_overrides ov = {NULL, NULL, -1};
	struct fb_conf *conf = NULL;
	struct fb_store *st = NULL;
	struct fb_store_user u;
	struct fb_err err = {0};
	long n = argc > 4 ? strtol(argv[4], NULL, 10) : 2000;
	int64_t *t[CALLS];

	if (argc < 4 || n < 1) {
		fprintf(stderr, "usage: store_call CONFIG STATE_DIR USERNAME [N]\n");
		return 2;
	}
	ov.state_dir = argv[2];
	if (fb_conf_load(argv[1], &ov, &conf, NULL, &err) != FB_OK)
		fail(argv[1], &err);
	if (fb_store_open(conf, &st, &err) != FB_OK)
		fail("open", &err);
	if (fb_store_user_get(st, argv[3], &u, &err) != FB_OK)
		fail(argv[3], &err);
	for (int c = 0; c < CALLS; c++)
		t[c] = fb_xcalloc((size_t)n, sizeof(int64_t));
	for (long i = 0; i < n; i++) {
		int64_t us[CALLS];

		round_of(st, &u, i, us);
		for (int c = 0; c < CALLS; c++)
			t[c][i] = us[c];
	}
	for (int c = 0; c < CALLS; c++) {
		qsort(t[c], (size_t)n, sizeof(int64_t), cmp64);
		printf("%s %lld %lld %lld\n", names[c], (long long)t[c][n / 2],
		    (long long)t[c][(n * 99) / 100], (long long)t[c][n - 1]);
		free(t[c]);
	}
	fb_store_user_cleanup(&u);
	fb_store_close(st);
	fb_conf_free(conf);
	return 0;
}
