/* SPDX-License-Identifier: Apache-2.0 */
/* conf/yaml.c: libyaml events -> a jansson tree, with the place of every key and value. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "core/core.h"
#include "conf/internal.h"

/* One open mapping or sequence. */
struct frame {
	json_t *node; /* object or array being filled */
	char *path;   /* display path of node ("" for the root) */
	char *key;    /* mapping: the key whose value comes next */
	int have_key; /* mapping: a key was read, its value comes next */
	int discard;  /* mapping: drop the next value (its key was refused) */
	int is_key;   /* a collection used as a mapping key: dropped when it ends */
};

struct parse {
	struct fb_conf_ctx *ctx;
	struct frame stack[FB_CONF_MAX_DEPTH + 1];
	size_t depth;
	json_t *root;
	int have_root;
};

static void
mark_place(const yaml_mark_t *m, struct fb_conf_place *pl)
{
	pl->origin = FB_CONF_FILE;
	pl->line = (long)m->line + 1;
	pl->col = (long)m->column + 1;
}

static void problem_at(struct parse *ps, const yaml_mark_t *m, const char *path, const char *fmt,
    ...) FB_PRINTF(4, 5);

static void
problem_at(struct parse *ps, const yaml_mark_t *m, const char *path, const char *fmt, ...)
{
	struct fb_conf_place pl;
	va_list ap;
	char *msg;

	mark_place(m, &pl);
	va_start(ap, fmt);
	msg = fb_xvasprintf(fmt, ap);
	va_end(ap);
	fb_conf_problem(ps->ctx, &pl, path[0] != '\0' ? path : "yaml", 1, "%s", msg);
	free(msg);
}

static int
all_digits(const char *p, const char *end)
{
	if (p == end)
		return 0;
	for (; p < end; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

/* Decimal float syntax: [-+]? (d+ (. d*)? | . d+) ([eE] [-+]? d+)? */
static int
is_float(const char *p, const char *end)
{
	int digits = 0;

	if (p < end && (*p == '+' || *p == '-'))
		p++;
	for (; p < end && *p >= '0' && *p <= '9'; p++)
		digits++;
	if (p < end && *p == '.')
		for (p++; p < end && *p >= '0' && *p <= '9'; p++)
			digits++;
	if (digits == 0)
		return 0;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (!all_digits(p, end))
			return 0;
		return 1;
	}
	return p == end;
}

json_t *
fb_conf_yaml_plain(const char *s, size_t len)
{
	const char *end = s + len;
	const char *digits = s;
	json_t *v = NULL;
	char *copy;

	/* YAML 1.2 core schema, narrowed: booleans are only true and false. */
	if (len == 0 || (len == 1 && s[0] == '~') || (len == 4 && memcmp(s, "null", 4) == 0))
		return json_null();
	if (len == 4 && memcmp(s, "true", 4) == 0)
		return json_true();
	if (len == 5 && memcmp(s, "false", 5) == 0)
		return json_false();
	if (memchr(s, '\0', len) != NULL)
		return json_stringn(s, len);
	if (digits < end && (*digits == '+' || *digits == '-'))
		digits++;
	if (all_digits(digits, end) || is_float(s, end)) {
		copy = fb_xstrndup(s, len);
		if (all_digits(digits, end)) {
			long long n;

			errno = 0;
			n = strtoll(copy, NULL, 10);
			if (errno == 0)
				v = json_integer(n);
		}
		if (v == NULL)
			v = json_real(strtod(copy, NULL));
		free(copy);
		if (v != NULL)
			return v;
	}
	return json_stringn(s, len);
}

static char *
child_path(const struct frame *top)
{
	if (json_is_array(top->node))
		return fb_xasprintf("%s[%zu]", top->path, json_array_size(top->node));
	if (top->path[0] == '\0')
		return fb_xstrdup(top->key != NULL ? top->key : "?");
	return fb_xasprintf("%s.%s", top->path, top->key != NULL ? top->key : "?");
}

/* Puts a finished value (taken) into the open collection, or makes it the root. */
static void
add_value(struct parse *ps, json_t *v)
{
	struct frame *top;

	if (ps->depth == 0) {
		ps->root = v;
		ps->have_root = 1;
		return;
	}
	top = &ps->stack[ps->depth - 1];
	if (json_is_array(top->node)) {
		json_array_append_new(top->node, v);
		return;
	}
	if (!top->discard && top->key != NULL)
		json_object_set_new(top->node, top->key, v);
	else
		json_decref(v);
	free(top->key);
	top->key = NULL;
	top->have_key = 0;
	top->discard = 0;
}

/* 1 when the next node is a mapping key. */
static int
expecting_key(const struct parse *ps)
{
	const struct frame *top;

	if (ps->depth == 0)
		return 0;
	top = &ps->stack[ps->depth - 1];
	return json_is_object(top->node) && !top->have_key;
}

/* Refuses anchors and tags on any node. */
static void
check_node_props(struct parse *ps, const yaml_event_t *ev, const char *path)
{
	const yaml_char_t *anchor = NULL, *tag = NULL;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		break;
	}
	/* SECURITY: no anchors or aliases, so no "billion laughs" and no shared nodes. */
	if (anchor != NULL)
		problem_at(ps, &ev->start_mark, path,
		    "anchors (&%s) are not allowed: write each value out", (const char *)anchor);
	if (tag != NULL)
		problem_at(ps, &ev->start_mark, path, "tags (%s) are not allowed",
		    (const char *)tag);
}

/* A scalar in key position. */
static void
take_key(struct parse *ps, const yaml_event_t *ev)
{
	struct frame *top = &ps->stack[ps->depth - 1];
	const char *k = (const char *)ev->data.scalar.value;
	size_t klen = ev->data.scalar.length;
	struct fb_conf_place pl;
	char *path;

	top->have_key = 1;
	if (memchr(k, '\0', klen) != NULL) {
		check_node_props(ps, ev, top->path);
		problem_at(ps, &ev->start_mark, top->path, "a key contains a NUL character");
		top->discard = 1;
		return;
	}
	top->key = fb_xstrndup(k, klen);
	path = child_path(top);
	check_node_props(ps, ev, path);
	mark_place(&ev->start_mark, &pl);
	if (json_object_get(top->node, top->key) != NULL) {
		struct fb_conf_place first;

		fb_conf_key_place_of(ps->ctx, path, &first);
		fb_conf_problem(ps->ctx, &pl, path, 1, "duplicate key '%s' (first at line %ld)",
		    top->key, first.line);
		top->discard = 1;
	} else {
		fb_conf_place_record(ps->ctx->keypos, path, &pl);
	}
	free(path);
}

/* A scalar or alias in value position. */
static void
take_scalar(struct parse *ps, const yaml_event_t *ev, const char *path)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	json_t *v;

	check_node_props(ps, ev, path);
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		v = fb_conf_yaml_plain(s, len);
	else
		v = json_stringn(s, len);
	if (v == NULL) {
		problem_at(ps, &ev->start_mark, path, "the value is not valid UTF-8");
		v = json_null();
	}
	add_value(ps, v);
}

static void
free_stack(struct parse *ps)
{
	while (ps->depth > 0) {
		struct frame *f = &ps->stack[--ps->depth];

		json_decref(f->node);
		free(f->path);
		free(f->key);
	}
	json_decref(ps->root);
	ps->root = NULL;
}

/* Handles one event; returns 0 to go on, 1 at the end, -1 when parsing must stop. */
static int
on_event(struct parse *ps, const yaml_event_t *ev, int *ndocs)
{
	struct fb_conf_place pl;
	struct frame *f;
	char *path;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_DOCUMENT_START_EVENT:
		if (++*ndocs > 1) {
			problem_at(ps, &ev->start_mark, "",
			    "a second document starts here: the file must hold one document");
			return 1;
		}
		return 0;
	case YAML_ALIAS_EVENT:
		if (expecting_key(ps)) {
			/* An alias as a key: the value that follows is dropped with it. */
			problem_at(ps, &ev->start_mark, ps->stack[ps->depth - 1].path,
			    "aliases (*%s) are not allowed: write each value out",
			    (const char *)ev->data.alias.anchor);
			ps->stack[ps->depth - 1].have_key = 1;
			ps->stack[ps->depth - 1].discard = 1;
			return 0;
		}
		path = ps->depth > 0 ? child_path(&ps->stack[ps->depth - 1]) : fb_xstrdup("");
		problem_at(ps, &ev->start_mark, path,
		    "aliases (*%s) are not allowed: write each value out",
		    (const char *)ev->data.alias.anchor);
		free(path);
		add_value(ps, json_null());
		return 0;
	case YAML_SCALAR_EVENT:
		if (expecting_key(ps)) {
			take_key(ps, ev);
			return 0;
		}
		path = ps->depth > 0 ? child_path(&ps->stack[ps->depth - 1]) : fb_xstrdup("");
		mark_place(&ev->start_mark, &pl);
		fb_conf_place_record(ps->ctx->valpos, path, &pl);
		take_scalar(ps, ev, path);
		free(path);
		return 0;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		path = ps->depth > 0 ? child_path(&ps->stack[ps->depth - 1]) : fb_xstrdup("");
		check_node_props(ps, ev, path);
		if (ps->depth == FB_CONF_MAX_DEPTH) {
			problem_at(ps, &ev->start_mark, path, "nested deeper than %d levels",
			    FB_CONF_MAX_DEPTH);
			free(path);
			return -1;
		}
		f = &ps->stack[ps->depth];
		memset(f, 0, sizeof(*f));
		if (expecting_key(ps)) {
			problem_at(ps, &ev->start_mark, ps->stack[ps->depth - 1].path,
			    "a mapping key must be a plain name, not a list or mapping");
			f->is_key = 1;
		} else {
			mark_place(&ev->start_mark, &pl);
			fb_conf_place_record(ps->ctx->valpos, path, &pl);
		}
		f->node = ev->type == YAML_MAPPING_START_EVENT ? json_object() : json_array();
		f->path = path;
		ps->depth++;
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (ps->depth == 0)
			return 0;
		f = &ps->stack[--ps->depth];
		free(f->path);
		free(f->key);
		if (f->is_key) {
			json_decref(f->node);
			ps->stack[ps->depth - 1].have_key = 1;
			ps->stack[ps->depth - 1].discard = 1;
		} else {
			add_value(ps, f->node);
		}
		return 0;
	case YAML_NO_EVENT:
	case YAML_STREAM_START_EVENT:
	case YAML_DOCUMENT_END_EVENT:
	default:
		return 0;
	}
}

/* 1 when line (0-based) of text starts with white space holding a tab. */
static int
line_indented_with_tab(const char *text, size_t len, size_t line)
{
	size_t i = 0;

	for (size_t l = 0; l < line && i < len; i++)
		if (text[i] == '\n')
			l++;
	for (; i < len && (text[i] == ' ' || text[i] == '\t'); i++)
		if (text[i] == '\t')
			return 1;
	return 0;
}

/* What the operator most likely got wrong, for libyaml's problem; "" when no guess. */
static const char *
syntax_hint(const yaml_parser_t *p, const char *text, size_t len)
{
	const char *pr = p->problem != NULL ? p->problem : "";

	if (line_indented_with_tab(text, len, p->problem_mark.line) ||
	    (p->context != NULL && line_indented_with_tab(text, len, p->context_mark.line)))
		return "; YAML does not allow tabs for indentation: indent with spaces";
	if (strstr(pr, "did not find expected key") != NULL ||
	    strstr(pr, "did not find expected '-'") != NULL)
		return "; check the indentation: the keys (or list items) of one section start "
		       "in the same column, with spaces";
	if (strstr(pr, "mapping values are not allowed") != NULL)
		return "; check the indentation (this line is indented more than the key before "
		       "it), or quote a value that holds ': '";
	return "";
}

static void
syntax_problem(struct parse *ps, const yaml_parser_t *p, const char *text, size_t len)
{
	struct fb_conf_place pl;
	const char *hint = syntax_hint(p, text, len);

	mark_place(&p->problem_mark, &pl);
	if (p->context != NULL)
		fb_conf_problem(ps->ctx, &pl, "yaml", 1, "%s (%s at line %ld column %ld)%s",
		    p->problem != NULL ? p->problem : "syntax error", p->context,
		    (long)p->context_mark.line + 1, (long)p->context_mark.column + 1, hint);
	else
		fb_conf_problem(ps->ctx, &pl, "yaml", 1, "%s%s",
		    p->problem != NULL ? p->problem : "syntax error", hint);
}

enum fb_status
fb_conf_yaml_parse(struct fb_conf_ctx *ctx, const char *text, size_t len, json_t **root)
{
	struct parse ps;
	yaml_parser_t parser;
	yaml_event_t ev;
	enum fb_status r = FB_ERR_CONFIG;
	int ndocs = 0, done = 0;

	*root = NULL;
	memset(&ps, 0, sizeof(ps));
	ps.ctx = ctx;
	if (yaml_parser_initialize(&parser) == 0) {
		fb_conf_problem(ctx, NULL, "yaml", 1, "libyaml could not start");
		return FB_ERR_CONFIG;
	}
	/* Only UTF-8: libyaml reports any invalid byte with its place. */
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (done == 0) {
		if (yaml_parser_parse(&parser, &ev) == 0) {
			syntax_problem(&ps, &parser, text, len);
			goto out;
		}
		done = on_event(&ps, &ev, &ndocs);
		yaml_event_delete(&ev);
		if (done < 0)
			goto out;
	}
	if (!ps.have_root || json_is_null(ps.root)) {
		fb_conf_problem(ctx, NULL, NULL, 1,
		    "the file is empty: write at least one section (e.g. server:)");
		json_decref(ps.root);
		ps.root = json_object();
	} else if (!json_is_object(ps.root)) {
		struct fb_conf_place pl;

		fb_conf_place_of(ctx, "", &pl);
		fb_conf_problem(ctx, &pl, "yaml", 1,
		    "the file must be a mapping of sections (server:, log:, ...), found %s",
		    json_is_array(ps.root) ? "a list" : "a single value");
		json_decref(ps.root);
		ps.root = json_object();
	}
	*root = ps.root;
	ps.root = NULL; /* transferred */
	r = FB_OK;
out:
	free_stack(&ps);
	yaml_parser_delete(&parser);
	return r;
}
