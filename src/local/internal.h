/* SPDX-License-Identifier: Apache-2.0 */
/* local/internal.h: helpers shared by the files of src/local/ only. */
#ifndef FB_LOCAL_INTERNAL_H
#define FB_LOCAL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"
#include "local/local.h"

/* Lowercase hex SHA-256 of n bytes into out (65 bytes with the NUL). */
#define FB_LOCAL_SHA256_HEX 65
void fb_local_sha256_hex(const void *p, size_t n, char out[FB_LOCAL_SHA256_HEX]);

/*
 * One audit line: event, and user / addr as fields when not NULL. The
 * message must never hold a password, code or token.
 */
void fb_local_audit(const char *reqid, const char *event, const char *user, const char *addr,
    const char *fmt, ...) FB_PRINTF(5, 6);
/* The same with more fields (borrowed, as for fb_log_event; may be NULL). */
void fb_local_audit_fields(const char *reqid, const char *event, const char *user,
    const char *addr, const struct fb_log_field *more, const char *fmt, ...) FB_PRINTF(6, 7);

/*
 * Verifies password against a dummy hash of conf's cost and ignores the
 * answer: an unknown user then takes the time a wrong password takes.
 */
void fb_local_password_dummy(const struct fb_conf *conf, const char *password);
/*
 * 1 when encoded was made with a cost other than conf's (a rehash on the
 * next successful sign-in brings it to the configured cost).
 */
int fb_local_password_stale(const struct fb_conf *conf, const char *encoded);

/*
 * The account of user u with credentials c (both borrowed; c may be
 * NULL) and its recovery code count into out (new members).
 */
enum fb_status fb_local_account_fill(struct fb_store *st, const struct fb_store_user *u,
    const struct fb_store_cred *c, struct fb_local_account *out, struct fb_err *err);
/*
 * The local account by username (by_name 1) or id: the user and its
 * credentials (both new; clean up with their _cleanup). FB_ERR_NOTFOUND
 * when absent or not a local account.
 */
enum fb_status fb_local_lookup(struct fb_store *st, const char *key, int by_name,
    struct fb_store_user *u, struct fb_store_cred *c, struct fb_err *err);

#ifdef FB_UNIT_TESTS
/*
 * lockout.c: the lock after the count-th failure of an account (kind "u")
 * or a client address ("a"), each with its own threshold.
 */
int64_t fb_local_lockout_delay(const struct fb_conf *conf, const char *kind, int64_t count);
#endif

#endif
