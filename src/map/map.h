/* SPDX-License-Identifier: Apache-2.0 */
/* map: the mapping engine, a small deterministic interpreter for Python-like rules. */
#ifndef FB_MAP_MAP_H
#define FB_MAP_MAP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/core.h"

/*
 * A rule is one file of a documented subset of Python 3 (fedbroker-mapping(7))
 * whose body returns the value a downstream needs: a SAML attribute's values,
 * an OIDC claim, a SCIM payload patch. Rules are compiled once (at start and
 * on reload) into an immutable struct fb_map_rule that any number of
 * evaluations share read-only; each evaluation has its own memory and budgets,
 * so nothing leaks from one evaluation to the next.
 *
 * Error messages read "NAME:LINE:COLUMN: KIND: message", for example
 * "aws_role:2:13: name error: name 'usr' is not defined (did you mean 'user'?)".
 * LINE and COLUMN are 1-based; COLUMN counts characters, not bytes.
 */

/* Largest rule source accepted, in bytes. */
#define FB_MAP_SOURCE_MAX (256 * 1024)
/* Default budgets of one evaluation (struct fb_map_limits fields left 0). */
#define FB_MAP_DEFAULT_STEPS  100000
#define FB_MAP_DEFAULT_MEMORY (1024 * 1024)
/* File name extension of rule files in a mappings directory. */
#define FB_MAP_EXT ".py"

/* What went wrong; the text in messages is given for each. */
enum fb_map_errkind {
	FB_MAP_EOK = 0,
	FB_MAP_ESYNTAX,    /* "syntax error": bad or unsupported source text */
	FB_MAP_ENAME,      /* "name error": unknown or unassigned name */
	FB_MAP_EATTRIBUTE, /* "attribute error": unknown attribute or method */
	FB_MAP_ETYPE,      /* "type error": operation on the wrong type */
	FB_MAP_EVALUE,     /* "value error": right type, wrong value (int("x"), overflow) */
	FB_MAP_EINDEX,     /* "index error": list or string index out of range */
	FB_MAP_EKEY,       /* "key error": dict key missing */
	FB_MAP_EZERODIV,   /* "zero division error" */
	FB_MAP_EBUDGET,    /* "budget exceeded": step or memory budget */
};

/*
 * Where and what: filled by the functions below when they fail (kind is
 * FB_MAP_EOK and line/column 0 on success, or for failures that have no
 * position, like an unreadable file). A login error page shows these.
 */
struct fb_map_diag {
	enum fb_map_errkind kind;
	int line;   /* 1-based; 0 when unknown */
	int column; /* 1-based, in characters; 0 when unknown */
};

/* The lower-case text of a kind ("syntax error"). Borrowed, static. */
const char *fb_map_errkind_name(enum fb_map_errkind kind);

/* ---- rules ------------------------------------------------------------ */

struct fb_map_rule; /* compiled, immutable; shared read-only */

/*
 * Compiles len bytes of src (borrowed; UTF-8) into *out (new, free with
 * fb_map_rule_free). name (borrowed, copied) names the rule in messages:
 * the file's base name without ".py" for rules of a mappings directory.
 * Returns FB_OK, FB_ERR_INVALID for an error found at compile time
 * (syntax, unknown name or attribute, wrong number of arguments, bad
 * constant regex), or FB_ERR_LIMIT when src is larger than
 * FB_MAP_SOURCE_MAX; err (may be NULL) then holds
 * "NAME:LINE:COLUMN: KIND: message" and diag (may be NULL) the parts.
 * *out is NULL on failure.
 */
enum fb_status fb_map_rule_compile(const char *name, const char *src, size_t len,
    struct fb_map_rule **out, struct fb_map_diag *diag, struct fb_err *err);
/*
 * Reads and compiles the file at path; the rule's name is the file's base
 * name without FB_MAP_EXT. FB_ERR_IO (err names the path) when it cannot be
 * read, else as fb_map_rule_compile.
 */
enum fb_status fb_map_rule_load(const char *path, struct fb_map_rule **out,
    struct fb_map_diag *diag, struct fb_err *err);
/* NULL is a no-op. */
void fb_map_rule_free(struct fb_map_rule *rule);
/* The rule's name. Borrowed, valid while rule lives. */
const char *fb_map_rule_name(const struct fb_map_rule *rule);

/*
 * What a rule sees, all borrowed for the evaluation's duration and never
 * modified:
 *   user     {"username", "name", "email", "uid", "is_active",
 *             "attributes": {...}, "groups": [{"name", "attributes": {...}}]}
 *            (missing members read as None, [] or {}); NULL: user is None.
 *   request  {"name", "type", "upstream"}: the downstream application, its
 *            type ("saml", "oidc", "scim", ...) and the upstream used (or
 *            null); NULL: every member reads as None.
 *   upstream any JSON object: the upstream's raw claims or attributes;
 *            NULL: an empty dict.
 * Rules read these but cannot change them: their lists and dicts are
 * read-only in the language (a rule copies them with list() or dict()).
 */
struct fb_map_input {
	const json_t *user;
	const json_t *request;
	const json_t *upstream;
};

/*
 * Budgets of one evaluation; 0 means the default. A step is one expression
 * node evaluated, one loop iteration, or a unit of work inside a builtin
 * (about 64 bytes of string scanned, a few list items copied, one sort
 * comparison, a regex attempt). Memory counts every byte the evaluation
 * allocates, including the views of user/request/upstream it reads (not
 * when evaluating over a struct fb_map_subject, converted beforehand) and
 * the result's JSON, with no reuse within one evaluation.
 */
struct fb_map_limits {
	int64_t steps; /* default FB_MAP_DEFAULT_STEPS */
	size_t memory; /* bytes; default FB_MAP_DEFAULT_MEMORY */
};

/*
 * Runs rule over in (borrowed; NULL: all members NULL) within limits
 * (borrowed; NULL: the defaults) and stores the returned value in *out as
 * JSON (new reference, caller json_decref()s; json null when the rule
 * returns None or ends without return). Lists and tuples become arrays,
 * dicts objects. Returns FB_OK; FB_ERR_DENIED for a run-time error of the
 * rule (name, attribute, type, value, index, key, zero division) and
 * FB_ERR_LIMIT when a budget was exceeded, with err (may be NULL) holding
 * "NAME:LINE:COLUMN: KIND: message" and diag (may be NULL) the parts;
 * *out is NULL then. Reentrant: rule is only read.
 */
enum fb_status fb_map_rule_eval(const struct fb_map_rule *rule, const struct fb_map_input *in,
    const struct fb_map_limits *limits, json_t **out, struct fb_map_diag *diag, struct fb_err *err);

/*
 * The same inputs converted once, for evaluating several rules over one
 * identity (a login feeds every mapping of a downstream): the conversion is
 * paid once instead of per rule. Immutable once built, so any number of
 * evaluations may read it at the same time.
 */
struct fb_map_subject;

/*
 * Converts in (borrowed; its JSON must stay alive and unchanged while the
 * subject lives: strings are not copied) into *out (new, free with
 * fb_map_subject_free). FB_ERR_INVALID (err filled) when the input is
 * nested more than 1000 levels.
 */
enum fb_status fb_map_subject_new(const struct fb_map_input *in, struct fb_map_subject **out,
    struct fb_err *err);
/* NULL is a no-op. */
void fb_map_subject_free(struct fb_map_subject *subject);
/* fb_map_rule_eval over a converted subject (borrowed, only read). */
enum fb_status fb_map_rule_eval_subject(const struct fb_map_rule *rule,
    const struct fb_map_subject *subject, const struct fb_map_limits *limits, json_t **out,
    struct fb_map_diag *diag, struct fb_err *err);

/* ---- a directory of rules ------------------------------------------------ */

struct fb_map_set; /* every rule of a mappings directory, by name */

/*
 * Compiles every DIR/NAME.py (hidden files and other extensions are skipped;
 * NAME is letters, digits, '_' and '-'). Every failing file is reported,
 * not only the first: *errors (may be NULL to not collect; when non-NULL
 * always set, new JSON array, json_decref()) gets one string per problem,
 * "PATH:LINE:COLUMN: KIND: message" (or "PATH: message" without a
 * position). On success *out is new (fb_map_set_free) and FB_OK returned.
 * Returns FB_ERR_NOTFOUND when dir does not exist, FB_ERR_IO when it or a
 * file cannot be read, FB_ERR_CONFIG when any file failed to compile or has
 * a bad name; err then holds the first problem and *out is NULL.
 */
enum fb_status fb_map_set_load(const char *dir, struct fb_map_set **out, json_t **errors,
    struct fb_err *err);
/*
 * Like fb_map_set_load, but a file that fails to compile or has a bad name
 * only leaves its rule out: FB_OK with the rules that compile in *out and
 * a line per problem in *errors. The caller decides whether a missing rule
 * matters (one the configuration uses does; another file does not).
 * Fails only when dir cannot be read (FB_ERR_NOTFOUND, FB_ERR_IO).
 */
enum fb_status fb_map_set_load_usable(const char *dir, struct fb_map_set **out,
    json_t **errors, struct fb_err *err);
/* NULL is a no-op. */
void fb_map_set_free(struct fb_map_set *set);
/* Rules in name order. Borrowed, valid while set lives; NULL when out of range. */
size_t fb_map_set_count(const struct fb_map_set *set);
const struct fb_map_rule *fb_map_set_at(const struct fb_map_set *set, size_t i);
/* The rule called name, or NULL. Borrowed, valid while set lives. */
const struct fb_map_rule *fb_map_set_get(const struct fb_map_set *set, const char *name);

/* ---- turning a result into what a downstream sends ------------------------ */

/*
 * SAML attribute values from an evaluation result (borrowed): a string is
 * one value, a list or tuple several (None items skipped), None or an empty
 * list means "omit the attribute" (*out NULL). Integers and floats give
 * their decimal text, booleans "true"/"false" (XML Schema xs:boolean).
 * *out is a new JSON array of strings. FB_ERR_DENIED, err naming
 * rule_name, for a dict, a nested list, or a string with a NUL.
 */
enum fb_status fb_map_saml_values(const char *rule_name, const json_t *result, json_t **out,
    struct fb_err *err);
/*
 * The value of an OIDC claim: any JSON, as is (new reference); NULL when the
 * result is None, meaning the claim is omitted (OIDC Core 5.3.2: claims
 * without a value are omitted rather than sent as null).
 */
json_t *fb_map_oidc_claim(const json_t *result);
/*
 * Applies patch (borrowed; a rule's result) to payload (modified in place):
 * a dict is deep-merged, dicts into dicts recursively, any other value
 * replacing what is there (copied), None deleting the key. Member names
 * match case-insensitively (RFC 7643 2.1: SCIM attribute names are case
 * insensitive) and keep the payload's spelling. A None patch changes
 * nothing. FB_ERR_DENIED, err naming rule_name, when patch is not a dict
 * or None; FB_ERR_INVALID when payload is not an object.
 */
enum fb_status fb_map_scim_patch(const char *rule_name, json_t *payload, const json_t *patch,
    struct fb_err *err);

#endif
