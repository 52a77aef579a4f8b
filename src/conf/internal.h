/* SPDX-License-Identifier: Apache-2.0 */
/* conf/internal.h: what the conf module's files share (not for other modules). */
#ifndef FB_CONF_INTERNAL_H
#define FB_CONF_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"

/* Largest configuration file read (SECURITY: bounds memory before parsing). */
#define FB_CONF_MAX_BYTES (1024 * 1024)
/* Deepest nesting of mappings and lists (SECURITY: jansson frees recursively). */
#define FB_CONF_MAX_DEPTH 32
/* Largest secret file read. */
#define FB_CONF_MAX_SECRET 65536
/* Report lines kept; later problems are counted but not stored. */
#define FB_CONF_MAX_REPORT 1000

/*
 * Where a value came from: a file position (line and column from 1), the
 * command line, or nowhere (a built-in default).
 */
enum fb_conf_origin {
	FB_CONF_NOWHERE = 0,
	FB_CONF_FILE,
	FB_CONF_CMDLINE,
};

struct fb_conf_place {
	enum fb_conf_origin origin;
	long line;
	long col;
};

struct fb_conf_report_entry {
	char *text;
	long line; /* 0 when the problem has no file position */
	long col;
	size_t seq; /* order of discovery, for a stable sort */
	int is_error;
};

struct fb_conf_report {
	struct fb_conf_report_entry *e;
	size_t n;
	size_t nerrors;
	size_t nwarnings;
	size_t dropped; /* problems past FB_CONF_MAX_REPORT */
};

/* The state of one load. */
struct fb_conf_ctx {
	const char *name; /* file name used in messages (borrowed) */
	char *basedir;    /* absolute directory relative file paths are resolved against */
	char *cwd;        /* absolute directory for command-line paths */
	json_t *keypos;   /* display path -> packed place of its key */
	json_t *valpos;   /* display path -> packed place of its value */
	struct fb_conf_report *rep;
	struct fb_conf *conf;
};

/* Adds one problem; the message is prefixed with "warning: " when !is_error. */
void fb_conf_problem(struct fb_conf_ctx *ctx, const struct fb_conf_place *pl, const char *path,
    int is_error, const char *fmt, ...) FB_PRINTF(5, 6);

/* Records and looks up places by display path ("server.listen[1]"). */
void fb_conf_place_record(json_t *map, const char *path, const struct fb_conf_place *pl);
/* Place of the value at path; falls back to NOWHERE when it is not in the file. */
void fb_conf_place_of(const struct fb_conf_ctx *ctx, const char *path, struct fb_conf_place *pl);
/* Place of the key naming path; falls back to the value's place. */
void fb_conf_key_place_of(const struct fb_conf_ctx *ctx, const char *path,
    struct fb_conf_place *pl);
/* 1 when path was given in the file or on the command line (not a default). */
int fb_conf_is_set(const struct fb_conf_ctx *ctx, const char *path);

/*
 * yaml.c: parses text (len bytes, at most FB_CONF_MAX_BYTES) into *root
 * (new; an empty object for an empty document), recording places in
 * ctx->keypos and ctx->valpos and reporting YAML problems (syntax,
 * aliases, anchors, tags, duplicate keys, several documents, nesting).
 * Returns FB_OK when the tree is complete enough to check (it may still
 * have had problems reported), FB_ERR_CONFIG when parsing stopped.
 */
enum fb_status fb_conf_yaml_parse(struct fb_conf_ctx *ctx, const char *text, size_t len,
    json_t **root);
/* The JSON value of a plain YAML scalar: null, true/false, integer, real or string. New. */
json_t *fb_conf_yaml_plain(const char *s, size_t len);

/* keys.c: fills every key with its built-in default. */
void fb_conf_keys_defaults(struct fb_conf_ctx *ctx);
/* Checks the document's root mapping against the key table, filling ctx->conf. */
void fb_conf_keys_walk(struct fb_conf_ctx *ctx, json_t *root);
/*
 * Sets one top-level key ("server.listen") from a value given outside the
 * file (the command line), checked like a file value. Returns 0 when set.
 */
int fb_conf_keys_apply(struct fb_conf_ctx *ctx, const char *name, json_t *value,
    const struct fb_conf_place *pl);
/* Names of the table's keys, for tests: returns NULL past the end. Borrowed, static. */
const char *fb_conf_keys_name(size_t i);

/* check.c: cross-key checks and derived defaults, after every key was read. */
void fb_conf_check_all(struct fb_conf_ctx *ctx);

/*
 * conf.c: resolves a secret reference, relative file: paths against basedir
 * (NULL: the working directory). See fb_conf_secret_resolve.
 */
enum fb_status fb_conf_secret_resolve_at(const char *ref, const char *basedir, char **out,
    struct fb_err *err);
/* Frees the members of one saml.service_providers entry and zeroes it. */
void fb_conf_saml_sp_cleanup(struct fb_conf_saml_sp *sp);
/* Frees the members of one upstreams entry and zeroes it. */
void fb_conf_upstream_cleanup(struct fb_conf_upstream *up);
/* upstream.c: the upstreams: checks and derived defaults (called by fb_conf_check_all). */
void fb_conf_check_upstreams(struct fb_conf_ctx *ctx);
/* scim.c: the SCIM targets: cleanup, checks (called by fb_conf_check_all). */
void fb_conf_scim_target_cleanup(struct fb_conf_scim_target *t);
void fb_conf_check_scim(struct fb_conf_ctx *ctx);
/* apps.c: the forward-auth apps: cleanup, checks (called by fb_conf_check_all). */
void fb_conf_app_cleanup(struct fb_conf_app *a);
void fb_conf_check_apps(struct fb_conf_ctx *ctx);
/* oidc.c: the OpenID provider's clients: cleanup, checks and defaults (fb_conf_check_all). */
void fb_conf_check_oidc(struct fb_conf_ctx *ctx);
/* check.c: reports when file cannot be opened for reading or is not a regular file. */
void fb_conf_check_readable(struct fb_conf_ctx *ctx, const char *path, const char *file);
/*
 * check.c: reports a problem at list[i].leaf (leaf NULL: the item), placed at
 * its value, else its key, else its section (oidc.x: list[i].oidc), else the item.
 */
void fb_conf_item_problemv(struct fb_conf_ctx *ctx, const char *list, size_t i, const char *leaf,
    int is_error, const char *fmt, va_list ap) FB_PRINTF(6, 0);
/* check.c: the same with the arguments given directly. */
void fb_conf_item_problem(struct fb_conf_ctx *ctx, const char *list, size_t i, const char *leaf,
    int is_error, const char *fmt, ...) FB_PRINTF(6, 7);
/* check.c: reports list[i].leaf naming a mapping name that has no file under mappings.dir. */
void fb_conf_check_mapping_file(struct fb_conf_ctx *ctx, const char *list, size_t i,
    const char *leaf, const char *name);
/* check.c: 1 when url's host is localhost, 127.0.0.0/8 or ::1. */
int fb_conf_url_is_loopback(const char *url);
/* basedir/path unless path is absolute. New, caller frees. */
char *fb_conf_path_join(const char *basedir, const char *path);

#endif
