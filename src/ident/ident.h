/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ident: who is signing in. Group membership and merged group attributes
 * are computed here and only here; the mapping engine, the pages and the
 * CLI all see this module's answer.
 */
#ifndef FB_IDENT_IDENT_H
#define FB_IDENT_IDENT_H

#include <stddef.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "store/store.h"

/*
 * The groups of conf (groups:) that list username among their members,
 * sorted by name (byte order, strcmp). Returns their number. *out is a new
 * array (free with free(); NULL when the count is 0) of pointers borrowed
 * from conf (valid while conf lives). Membership compares usernames
 * exactly (case-sensitive), as the store does. username NULL: no groups.
 */
size_t fb_ident_groups(const struct fb_conf *conf, const char *username,
    const struct fb_conf_group ***out);

/*
 * The same, where a declared group also counts when its name is among the
 * nupstream names of upstream (borrowed; the groups an upstream gave the
 * user: fb_store_upstream_groups), so upstream groups get the attributes
 * declared for them (aws_role: ...).
 */
size_t fb_ident_groups_with(const struct fb_conf *conf, const char *username,
    const char *const *upstream, size_t nupstream, const struct fb_conf_group ***out);

/* 1 when username is a member of the group called name, else 0. */
int fb_ident_group_member(const struct fb_conf *conf, const char *name, const char *username);

/*
 * The merged attributes of username's groups: the groups are taken in
 * name order and a later group's attribute overwrites an earlier one's of
 * the same key (authentik's semantics: no deep merge; a nested mapping
 * is replaced whole). *out is a new object (json_decref), {} when the
 * user is in no group; values are deep copies, not shared with conf.
 * Always FB_OK (kept fallible for later group sources).
 */
enum fb_status fb_ident_group_attributes(const struct fb_conf *conf, const char *username,
    json_t **out, struct fb_err *err);

/* 1 when any of username's groups has require_mfa: true, else 0. */
int fb_ident_requires_mfa(const struct fb_conf *conf, const char *username);

/*
 * The JSON the mapping engine binds as `user` (u borrowed):
 *   {"username": u->username, "name": u->name or null,
 *    "email": u->email or null, "uid": u->id or null,
 *    "is_active": true|false, "attributes": {},
 *    "groups": [{"name": ..., "attributes": {...}}, ...]}   (sorted by name)
 * Attribute values are deep copies. The merged view
 * (user.group_attributes() in mappings) is derived from "groups" in the
 * same order as fb_ident_group_attributes and gives the same result.
 * *out is new (json_decref). FB_ERR_INVALID when u or u->username is NULL.
 */
enum fb_status fb_ident_user_json(const struct fb_conf *conf, const struct fb_store_user *u,
    json_t **out, struct fb_err *err);

/*
 * The same with the user's upstream groups (borrowed, may be NULL when
 * nupstream is 0): declared groups count by name as in
 * fb_ident_groups_with, the other names join "groups" with empty
 * attributes; the list stays sorted by name, each name once.
 */
enum fb_status fb_ident_user_json_with(const struct fb_conf *conf, const struct fb_store_user *u,
    const char *const *upstream, size_t nupstream, json_t **out, struct fb_err *err);

/*
 * From a user object of fb_ident_user_json(_with) (borrowed): the names of
 * its groups in *names (a new array) and their merged attributes in
 * *attributes (a new object, as fb_ident_group_attributes merges them),
 * which is what the mappings see.
 */
void fb_ident_user_json_groups(const json_t *user, json_t **names, json_t **attributes);

/* Usernames: 1..64 bytes of [A-Za-z0-9._@+-], starting with a letter or digit. */
#define FB_IDENT_USERNAME_MAX 64
/*
 * FB_OK when username is acceptable for a new user (a local account, or a
 * user created for an upstream identity); FB_ERR_INVALID with the reason.
 */
enum fb_status fb_ident_username_check(const char *username, struct fb_err *err);

#endif
