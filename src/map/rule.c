/* SPDX-License-Identifier: Apache-2.0 */
/* map/rule.c: compiling a rule, evaluating it, and the error text both produce. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "map/internal.h"
#include "map/map.h"

/* The first chunk of an evaluation's memory lives on eval's stack. */
#define STACK_CHUNK 8192

const char *
fb_map_errkind_name(enum fb_map_errkind kind)
{
	switch (kind) {
	case FB_MAP_EOK:
		return "ok";
	case FB_MAP_ESYNTAX:
		return "syntax error";
	case FB_MAP_ENAME:
		return "name error";
	case FB_MAP_EATTRIBUTE:
		return "attribute error";
	case FB_MAP_ETYPE:
		return "type error";
	case FB_MAP_EVALUE:
		return "value error";
	case FB_MAP_EINDEX:
		return "index error";
	case FB_MAP_EKEY:
		return "key error";
	case FB_MAP_EZERODIV:
		return "zero division error";
	case FB_MAP_EBUDGET:
		return "budget exceeded";
	default:
		return "error";
	}
}

static enum fb_status
report(enum fb_status code, const char *where, enum fb_map_errkind kind, int line, int col,
    const char *msg, struct fb_map_diag *diag, struct fb_err *err)
{
	if (diag != NULL) {
		diag->kind = kind;
		diag->line = line;
		diag->column = col;
	}
	if (line > 0)
		return fb_err_set(err, code, "%s:%d:%d: %s: %s", where, line, col,
		    fb_map_errkind_name(kind), msg);
	return fb_err_set(err, code, "%s: %s: %s", where, fb_map_errkind_name(kind), msg);
}

/* Position of the first byte that is not UTF-8 (or is NUL); 0 when all is well. */
static int
utf8_bad(const char *s, size_t n, int *line, int *col)
{
	const char *p = s, *end = s + n;

	*line = 1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (!fb_utf8_check(p, len)) {
			/* Find the character: check growing prefixes of this line. */
			size_t ok = 0;

			*col = 1;
			while (ok < len) {
				size_t k = 1;

				while (ok + k <= len && k <= 4 && !fb_utf8_check(p + ok, k))
					k++;
				if (ok + k > len || k > 4)
					break;
				ok += k;
				(*col)++;
			}
			return 1;
		}
		p += len + 1;
		(*line)++;
	}
	return 0;
}

/* Parses and resolves into rule; -1 with e filled on error (the parser longjmps here). */
static int
parse_into(struct fb_map_rule *rule, const char *src, size_t len, struct cerr *e)
{
	if (setjmp(e->jb) != 0)
		return -1;
	rule->body = fb_map_parse(rule->arena, e, src, len);
	fb_map_resolve(rule->arena, e, rule->body, &rule->nslots);
	return 0;
}

/* Compiles; on failure fills e (kind, line, col, msg) and returns NULL. */
static struct fb_map_rule *
compile(const char *name, const char *src, size_t len, struct cerr *e)
{
	struct fb_map_rule *rule;
	int line, col;

	if (len > FB_MAP_SOURCE_MAX) {
		e->kind = FB_MAP_ESYNTAX;
		e->line = e->col = 0;
		snprintf(e->msg, sizeof(e->msg), "mapping larger than %d bytes", FB_MAP_SOURCE_MAX);
		return NULL;
	}
	if (src == NULL) {
		src = "";
		len = 0;
	}
	if (utf8_bad(src, len, &line, &col)) {
		e->kind = FB_MAP_ESYNTAX;
		e->line = line;
		e->col = col;
		snprintf(e->msg, sizeof(e->msg), "invalid UTF-8 or NUL byte in the source");
		return NULL;
	}
	rule = fb_xcalloc(1, sizeof(*rule));
	rule->name = fb_xstrdup(name != NULL ? name : "(mapping)");
	rule->arena = fb_arena_new();
	if (parse_into(rule, src, len, e) != 0) {
		fb_map_rule_free(rule);
		return NULL;
	}
	return rule;
}

enum fb_status
fb_map_rule_compile(const char *name, const char *src, size_t len, struct fb_map_rule **out,
    struct fb_map_diag *diag, struct fb_err *err)
{
	struct cerr e;

	*out = NULL;
	if (diag != NULL)
		memset(diag, 0, sizeof(*diag));
	memset(&e, 0, sizeof(e));
	*out = compile(name, src, len, &e);
	if (*out == NULL)
		return report(len > FB_MAP_SOURCE_MAX ? FB_ERR_LIMIT : FB_ERR_INVALID,
		    name != NULL ? name : "(mapping)", e.kind, e.line, e.col, e.msg, diag, err);
	return FB_OK;
}

enum fb_status
fb_map_rule_load(const char *path, struct fb_map_rule **out, struct fb_map_diag *diag,
    struct fb_err *err)
{
	struct fb_buf b;
	char chunk[8192], *name = NULL;
	const char *base;
	size_t n, blen;
	FILE *f;
	struct cerr e;
	enum fb_status r = FB_ERR_IO;

	*out = NULL;
	if (diag != NULL)
		memset(diag, 0, sizeof(*diag));
	fb_buf_init(&b, FB_MAP_SOURCE_MAX);
	if ((f = fopen(path, "rb")) == NULL) {
		r = fb_err_set(err, FB_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (fb_buf_add(&b, chunk, n, NULL) != FB_OK) {
			fclose(f);
			r = fb_err_set(err, FB_ERR_LIMIT, "%s: mapping larger than %d bytes", path,
			    FB_MAP_SOURCE_MAX);
			goto out;
		}
	if (ferror(f)) {
		fclose(f);
		r = fb_err_set(err, FB_ERR_IO, "%s: read error", path);
		goto out;
	}
	fclose(f);
	base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
	blen = strlen(base);
	if (blen > strlen(FB_MAP_EXT) && strcmp(base + blen - strlen(FB_MAP_EXT), FB_MAP_EXT) == 0)
		blen -= strlen(FB_MAP_EXT);
	name = fb_xstrndup(base, blen);
	memset(&e, 0, sizeof(e));
	if ((*out = compile(name, b.data != NULL ? b.data : "", b.len, &e)) == NULL) {
		/* Compile errors name the file, so editors can jump to them. */
		r = report(FB_ERR_INVALID, path, e.kind, e.line, e.col, e.msg, diag, err);
		goto out;
	}
	r = FB_OK;
out:
	free(name);
	fb_buf_cleanup(&b);
	return r;
}

void
fb_map_rule_free(struct fb_map_rule *rule)
{
	if (rule == NULL)
		return;
	fb_arena_free(rule->arena);
	free(rule->name);
	free(rule);
}

const char *
fb_map_rule_name(const struct fb_map_rule *rule)
{
	return rule->name;
}

struct fb_map_subject {
	struct chunk *chunks;
	struct val user, request, upstream;
};

static void
free_chunks(struct chunk *ch)
{
	struct chunk *next;

	for (; ch != NULL; ch = next) {
		next = ch->next;
		free(ch);
	}
}

/* Runs rule in c (inputs set up by the caller). */
static enum fb_status
eval(const struct fb_map_rule *rule, struct ctx *c, const struct fb_map_limits *limits,
    json_t **out, struct fb_map_diag *diag, struct fb_err *err)
{
	*out = NULL;
	if (diag != NULL)
		memset(diag, 0, sizeof(*diag));
	c->rule = rule;
	c->steps = limits != NULL && limits->steps > 0 ? limits->steps : FB_MAP_DEFAULT_STEPS;
	c->mem_limit =
	    limits != NULL && limits->memory > 0 ? limits->memory : FB_MAP_DEFAULT_MEMORY;
	if ((c->slots = fb_map_alloc(c, (size_t)rule->nslots * sizeof(struct val) + 1)) == NULL)
		goto fail;
	memset(c->slots, 0, (size_t)rule->nslots * sizeof(struct val));
	if (fb_map_run(c) != 0)
		goto fail;
	if (fb_map_to_json(c, c->ret, out) != 0) {
		c->eline = c->retline;
		c->ecol = c->retcol;
		goto fail;
	}
	return FB_OK;
fail:
	return report(c->ekind == FB_MAP_EBUDGET ? FB_ERR_LIMIT : FB_ERR_DENIED, rule->name,
	    c->ekind, c->eline, c->ecol, c->emsg, diag, err);
}

enum fb_status
fb_map_rule_eval(const struct fb_map_rule *rule, const struct fb_map_input *in,
    const struct fb_map_limits *limits, json_t **out, struct fb_map_diag *diag, struct fb_err *err)
{
	_Alignas(16) char stackmem[STACK_CHUNK];
	struct ctx c;
	enum fb_status r;

	memset(&c, 0, sizeof(c));
	c.cur = c.chunk_start = stackmem;
	c.end = stackmem + sizeof(stackmem);
	if (in != NULL) {
		c.juser = in->user;
		c.jrequest = in->request;
		c.jupstream = in->upstream;
	}
	r = eval(rule, &c, limits, out, diag, err);
	free_chunks(c.chunks);
	return r;
}

enum fb_status
fb_map_rule_eval_subject(const struct fb_map_rule *rule, const struct fb_map_subject *subject,
    const struct fb_map_limits *limits, json_t **out, struct fb_map_diag *diag, struct fb_err *err)
{
	_Alignas(16) char stackmem[STACK_CHUNK];
	struct ctx c;
	enum fb_status r;

	memset(&c, 0, sizeof(c));
	c.cur = c.chunk_start = stackmem;
	c.end = stackmem + sizeof(stackmem);
	/* Fully converted and FROZEN_SHARED: the evaluation only reads them. */
	c.user = subject->user;
	c.request = subject->request;
	c.upstream = subject->upstream;
	r = eval(rule, &c, limits, out, diag, err);
	free_chunks(c.chunks);
	return r;
}

enum fb_status
fb_map_subject_new(const struct fb_map_input *in, struct fb_map_subject **out, struct fb_err *err)
{
	struct fb_map_subject *s = fb_xcalloc(1, sizeof(*s));
	struct ctx c;
	enum fb_status r = FB_ERR_INVALID;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	c.steps = INT64_MAX;
	c.mem_limit = SIZE_MAX / 2; /* the caller bounds its input */
	if (in != NULL) {
		c.juser = in->user;
		c.jrequest = in->request;
		c.jupstream = in->upstream;
	}
	s->user = fb_map_none();
	if (c.juser != NULL && fb_map_obj_new(&c, VT_USER, c.juser, &s->user) != 0)
		goto fail;
	if (fb_map_obj_new(&c, VT_REQUEST, c.jrequest, &s->request) != 0)
		goto fail;
	if (c.jupstream != NULL) {
		if (fb_map_from_json(&c, c.jupstream, &s->upstream) != 0)
			goto fail;
	} else {
		struct dict *d = fb_map_dict_new(&c, 0);

		if (d == NULL)
			goto fail;
		s->upstream = fb_map_dict_val(d);
	}
	if (fb_map_share(&c, s->user, 0) != 0 || fb_map_share(&c, s->request, 0) != 0 ||
	    fb_map_share(&c, s->upstream, 0) != 0)
		goto fail;
	if (s->upstream.t == VT_DICT)
		s->upstream.u.d->frozen = FROZEN_SHARED;
	s->chunks = c.chunks;
	*out = s;
	return FB_OK;
fail:
	r = fb_err_set(err, FB_ERR_INVALID, "mapping input: %s", c.emsg);
	free_chunks(c.chunks);
	free(s);
	return r;
}

void
fb_map_subject_free(struct fb_map_subject *subject)
{
	if (subject == NULL)
		return;
	free_chunks(subject->chunks);
	free(subject);
}
