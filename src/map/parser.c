/* SPDX-License-Identifier: Apache-2.0 */
/* map/parser.c: tokens -> syntax tree (recursive descent over Python's grammar, subset). */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "map/internal.h"

/*
 * Nested expressions and blocks, counting each link of a left-deep chain
 * (a + b + c, x[0][1], elif ...) as a level: the tree's depth bounds the
 * recursion of the resolver and the evaluator. Brackets have their own
 * limit in the lexer.
 */
#define MAX_NESTING 200

struct parser {
	struct lexer lx;
	struct cerr *e;
	struct fb_arena *a;
	struct token tk[2];
	int ntk;
	int *depth; /* shared with f-string field parsers */
	int loops;  /* enclosing for loops, for break/continue */
	int fdepth; /* f-string nesting */
};

struct nvec {
	struct node **v;
	int n, cap;
};

static void
nvec_push(struct fb_arena *a, struct nvec *v, struct node *x)
{
	if (v->n == v->cap) {
		int cap = v->cap == 0 ? 4 : v->cap * 2;
		struct node **nv = fb_arena_alloc(a, (size_t)cap * sizeof(*nv));

		if (v->n > 0)
			memcpy(nv, v->v, (size_t)v->n * sizeof(*nv));
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = x;
}

struct node *
fb_map_node_new(struct fb_arena *a, enum nkind k, int line, int col)
{
	struct node *n = fb_arena_alloc(a, sizeof(*n));

	memset(n, 0, sizeof(*n));
	n->k = (uint8_t)k;
	n->line = line;
	n->col = col;
	return n;
}

static struct node *
mk(struct parser *p, enum nkind k, const struct token *t)
{
	return fb_map_node_new(p->a, k, t->line, t->col);
}

static void
set_kids(struct node *n, struct nvec *v)
{
	n->kids = v->v;
	n->n = (uint16_t)v->n;
}

static struct token *
peek(struct parser *p, int i)
{
	while (p->ntk <= i)
		fb_map_lex_next(&p->lx, &p->tk[p->ntk++]);
	return &p->tk[i];
}

static struct token
next(struct parser *p)
{
	struct token t = *peek(p, 0);

	p->tk[0] = p->tk[1];
	p->ntk--;
	return t;
}

static char *
tok_text(struct parser *p, const struct token *t)
{
	char *s = fb_arena_alloc(p->a, t->n + 1);

	memcpy(s, t->p, t->n);
	s[t->n] = '\0';
	return s;
}

static void __attribute__((noreturn))
unexpected(struct parser *p, const struct token *t, const char *what)
{
	if (t->t == T_OTHER)
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, t->line, t->col,
		    "operator '%.*s' is not supported in mappings", (int)t->n, t->p);
	if (t->t == T_KEYWORD) {
		/* SECURITY: no imports, functions, loops without bounds, exceptions. */
		if (t->n == 6 && memcmp(t->p, "import", 6) == 0)
			fb_map_cerror(p->e, FB_MAP_ESYNTAX, t->line, t->col,
			    "import statements are not allowed in mappings");
		if (t->n == 4 && memcmp(t->p, "from", 4) == 0)
			fb_map_cerror(p->e, FB_MAP_ESYNTAX, t->line, t->col,
			    "import statements are not allowed in mappings");
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, t->line, t->col,
		    "'%.*s' is not supported in mappings (see fedbroker-mapping(7))", (int)t->n,
		    t->p);
	}
	if (t->t == T_INDENT)
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, t->line, t->col, "unexpected indent");
	if (t->t == T_NAME || t->t == T_INT || t->t == T_FLOAT || t->t == T_STRING ||
	    t->t == T_FSTRING || (t->t >= T_AND && t->t <= T_FALSE) || t->t == T_OTHER ||
	    (t->t >= T_LPAR && t->t <= T_BANG))
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, t->line, t->col, "expected %s, found '%.*s'",
		    what, (int)t->n, t->p);
	fb_map_cerror(p->e, FB_MAP_ESYNTAX, t->line, t->col, "expected %s, found %s", what,
	    fb_map_tok_name(t->t));
}

static struct token
expect(struct parser *p, enum tok k, const char *what)
{
	if (peek(p, 0)->t != k)
		unexpected(p, peek(p, 0), what);
	return next(p);
}

static void
enter(struct parser *p, const struct token *t)
{
	if (++*p->depth > MAX_NESTING)
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, t->line, t->col,
		    "expression or block nested too deeply (at most %d levels)", MAX_NESTING);
}

static void
leave(struct parser *p)
{
	--*p->depth;
}

static int
can_start_expr(enum tok t)
{
	switch (t) {
	case T_NAME:
	case T_INT:
	case T_FLOAT:
	case T_STRING:
	case T_FSTRING:
	case T_LPAR:
	case T_LSQB:
	case T_LBRACE:
	case T_MINUS:
	case T_PLUS:
	case T_NOT:
	case T_NONE:
	case T_TRUE:
	case T_FALSE:
		return 1;
	default:
		return 0;
	}
}

/* SECURITY: no dunder names: nothing reaches Python-style internals, even by accident. */
static void
check_name(struct parser *p, const struct token *t)
{
	if (t->n >= 2 && t->p[0] == '_' && t->p[1] == '_')
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, t->line, t->col,
		    "names starting with '__' are not allowed in mappings");
}

static struct node *parse_test(struct parser *p);
static struct node *parse_or(struct parser *p);
static struct node *parse_exprlist(struct parser *p);
static struct node *parse_target_list(struct parser *p, enum tok stop);
static void parse_block_into(struct parser *p, struct nvec *v);

/* for/if clauses of a comprehension after its element(s). */
static void
parse_comp_clauses(struct parser *p, struct node *comp)
{
	struct nvec v = {0};
	int chain = 0;

	while (peek(p, 0)->t == T_FOR || peek(p, 0)->t == T_IF) {
		struct token t = next(p);
		struct node *c;

		enter(p, &t); /* evaluated recursively, one level per clause */
		chain++;

		if (t.t == T_FOR) {
			c = mk(p, E_COMPFOR, &t);
			c->a = parse_target_list(p, T_IN);
			expect(p, T_IN, "'in'");
			c->b = parse_or(p);
		} else {
			c = mk(p, E_COMPIF, &t);
			c->a = parse_or(p);
		}
		nvec_push(p->a, &v, c);
	}
	while (chain-- > 0)
		leave(p);
	set_kids(comp, &v);
}

/* ---- f-strings ------------------------------------------------------------- */

struct fpos {
	const char *s;
	size_t i, n;
	int line, col;
};

static void
fadv(struct fpos *f)
{
	unsigned char ch = (unsigned char)f->s[f->i++];

	if (ch == '\n') {
		f->line++;
		f->col = 1;
	} else if ((ch & 0xc0) != 0x80) {
		f->col++;
	}
}

static struct node *
const_str(struct parser *p, int line, int col, const char *s, size_t n)
{
	struct node *c = fb_map_node_new(p->a, E_CONST, line, col);

	c->v = fb_map_str(s, n);
	return c;
}

static void fstring_body(struct parser *p, struct fpos *f, int raw, int in_spec,
    struct nvec *parts);

/* One {expr!c:spec} field; f is just after '{'. */
static struct node *
fstring_field(struct parser *p, struct fpos *f, int raw)
{
	struct fpos start = *f;
	int nest = 0;
	char q;
	struct parser sub;
	struct node *field, *ex;
	struct token t;

	/* Find where the expression ends: '!', ':' or '}' outside brackets and strings. */
	for (;;) {
		char ch;

		if (f->i >= f->n)
			fb_map_cerror(p->e, FB_MAP_ESYNTAX, start.line, start.col - 1,
			    "f-string: expecting '}'");
		ch = f->s[f->i];
		if (ch == '\\')
			fb_map_cerror(p->e, FB_MAP_ESYNTAX, f->line, f->col,
			    "f-string expression part cannot include a backslash");
		if (ch == '#')
			fb_map_cerror(p->e, FB_MAP_ESYNTAX, f->line, f->col,
			    "f-string expression part cannot include '#'");
		if (ch == '\'' || ch == '"') {
			q = ch;
			fadv(f);
			while (f->i < f->n && f->s[f->i] != q)
				fadv(f);
			if (f->i >= f->n)
				fb_map_cerror(p->e, FB_MAP_ESYNTAX, f->line, f->col,
				    "f-string: unterminated string");
			fadv(f);
			continue;
		}
		if (ch == '(' || ch == '[' || ch == '{') {
			nest++;
		} else if ((ch == ')' || ch == ']' || ch == '}') && nest > 0) {
			nest--;
		} else if (nest == 0) {
			if (ch == '}' || ch == ':')
				break;
			if (ch == '!' && (f->i + 1 >= f->n || f->s[f->i + 1] != '='))
				break;
			if (ch == '=' && (f->i + 1 >= f->n || f->s[f->i + 1] != '=') &&
			    (f->i == start.i || strchr("=!<>", f->s[f->i - 1]) == NULL))
				fb_map_cerror(p->e, FB_MAP_ESYNTAX, f->line, f->col,
				    "f-string '=' specifier is not supported");
		}
		fadv(f);
	}
	if (strspn(f->s + start.i, " \t\r\n") >= f->i - start.i)
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, start.line, start.col,
		    "f-string: empty expression not allowed");
	memset(&sub, 0, sizeof(sub));
	sub.e = p->e;
	sub.a = p->a;
	sub.depth = p->depth;
	sub.loops = p->loops;
	sub.fdepth = p->fdepth;
	fb_map_lex_init(&sub.lx, p->e, p->a, f->s + start.i, f->i - start.i, start.line, start.col,
	    1);
	ex = parse_exprlist(&sub);
	t = *peek(&sub, 0);
	if (t.t != T_EOF)
		unexpected(&sub, &t, "'}' after the f-string expression");
	field = fb_map_node_new(p->a, E_FIELD, ex->line, ex->col);
	field->a = ex;
	if (f->s[f->i] == '!') {
		fadv(f);
		if (f->i >= f->n || strchr("sra", f->s[f->i]) == NULL || f->s[f->i] == '\0')
			fb_map_cerror(p->e, FB_MAP_ESYNTAX, f->line, f->col,
			    "f-string: invalid conversion character: expected 's', 'r', or 'a'");
		field->slot = f->s[f->i];
		fadv(f);
	}
	if (f->i < f->n && f->s[f->i] == ':') {
		struct nvec spec = {0};
		int line = f->line, col = f->col + 1;

		fadv(f);
		if (p->fdepth >= 2)
			fb_map_cerror(p->e, FB_MAP_ESYNTAX, f->line, f->col,
			    "f-string: expressions nested too deeply");
		p->fdepth++;
		fstring_body(p, f, raw, 1, &spec);
		p->fdepth--;
		if (spec.n == 1 && spec.v[0]->k == E_CONST) {
			field->b = spec.v[0];
		} else if (spec.n > 0) {
			field->b = fb_map_node_new(p->a, E_FSTRING, line, col);
			set_kids(field->b, &spec);
		}
	}
	if (f->i >= f->n || f->s[f->i] != '}')
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, f->line, f->col, "f-string: expecting '}'");
	fadv(f);
	return field;
}

/* Literal text and fields up to the end (or, in a format spec, the closing '}'). */
static void
fstring_body(struct parser *p, struct fpos *f, int raw, int in_spec, struct nvec *parts)
{
	char *lit = fb_arena_alloc(p->a, f->n - f->i + 1);
	size_t k = 0;
	int lline = f->line, lcol = f->col;

	for (;;) {
		int end = f->i >= f->n || (in_spec && f->s[f->i] == '}');

		if (end || f->s[f->i] == '{') {
			if (end || f->i + 1 >= f->n || f->s[f->i + 1] != '{' || in_spec) {
				if (k > 0) {
					struct lexer tmp;
					size_t n = k;
					char *s = lit;

					if (!raw) {
						fb_map_lex_init(&tmp, p->e, p->a, lit, k, lline,
						    lcol, 1);
						s = fb_map_lex_unescape(&tmp, lit, k, lline, lcol,
						    &n);
					}
					nvec_push(p->a, parts, const_str(p, lline, lcol, s, n));
					lit = fb_arena_alloc(p->a, f->n - f->i + 1);
					k = 0;
				}
				if (end)
					return;
				fadv(f);
				nvec_push(p->a, parts, fstring_field(p, f, raw));
				lline = f->line;
				lcol = f->col;
				continue;
			}
			lit[k++] = '{';
			fadv(f);
			fadv(f);
			continue;
		}
		if (f->s[f->i] == '}') {
			if (f->i + 1 >= f->n || f->s[f->i + 1] != '}')
				fb_map_cerror(p->e, FB_MAP_ESYNTAX, f->line, f->col,
				    "f-string: single '}' is not allowed");
			lit[k++] = '}';
			fadv(f);
			fadv(f);
			continue;
		}
		if (f->s[f->i] == '\\' && !raw && f->i + 1 < f->n) {
			lit[k++] = f->s[f->i];
			fadv(f);
		}
		lit[k++] = f->s[f->i];
		fadv(f);
	}
}

/* One or more adjacent string literals, plain or f-strings, concatenated. */
static struct node *
parse_strings(struct parser *p)
{
	struct token first = *peek(p, 0);
	struct nvec parts = {0};
	int fstr = 0;
	struct node *n;

	while (peek(p, 0)->t == T_STRING || peek(p, 0)->t == T_FSTRING) {
		struct token t = next(p);

		if (t.t == T_STRING) {
			nvec_push(p->a, &parts, const_str(p, t.line, t.col, t.s, t.slen));
		} else {
			struct fpos f = {t.fp, 0, t.fn, t.fline, t.fcol};

			fstr = 1;
			fstring_body(p, &f, t.raw, 0, &parts);
		}
	}
	/* Join neighbouring constants. */
	for (int i = 0; i + 1 < parts.n;) {
		struct node *x = parts.v[i], *y = parts.v[i + 1];

		if (x->k == E_CONST && y->k == E_CONST) {
			char *s = fb_arena_alloc(p->a, x->v.n + y->v.n + 1);

			memcpy(s, x->v.u.s, x->v.n);
			memcpy(s + x->v.n, y->v.u.s, y->v.n);
			s[x->v.n + y->v.n] = '\0';
			x->v = fb_map_str(s, x->v.n + y->v.n);
			memmove(parts.v + i + 1, parts.v + i + 2,
			    (size_t)(parts.n - i - 2) * sizeof(*parts.v));
			parts.n--;
			continue;
		}
		i++;
	}
	if (parts.n == 0)
		return const_str(p, first.line, first.col, "", 0);
	if (parts.n == 1 && parts.v[0]->k == E_CONST) {
		parts.v[0]->line = first.line;
		parts.v[0]->col = first.col;
		return parts.v[0];
	}
	(void)fstr;
	n = mk(p, E_FSTRING, &first);
	set_kids(n, &parts);
	return n;
}

/* ---- expressions ------------------------------------------------------------ */

static struct node *
parse_atom(struct parser *p)
{
	struct token t = *peek(p, 0);
	struct node *n, *x;
	struct nvec v = {0};

	switch (t.t) {
	case T_NAME:
		next(p);
		check_name(p, &t);
		n = mk(p, E_NAME, &t);
		n->name = tok_text(p, &t);
		return n;
	case T_INT:
		next(p);
		n = mk(p, E_CONST, &t);
		n->v = fb_map_int(t.i);
		return n;
	case T_FLOAT:
		next(p);
		n = mk(p, E_CONST, &t);
		n->v = fb_map_float(t.f);
		return n;
	case T_STRING:
	case T_FSTRING:
		return parse_strings(p);
	case T_NONE:
	case T_TRUE:
	case T_FALSE:
		next(p);
		n = mk(p, E_CONST, &t);
		n->v = t.t == T_NONE ? fb_map_none() : fb_map_bool(t.t == T_TRUE);
		return n;
	case T_LPAR:
		next(p);
		enter(p, &t);
		if (peek(p, 0)->t == T_RPAR) {
			next(p);
			n = mk(p, E_TUPLE, &t);
			leave(p);
			return n;
		}
		x = parse_test(p);
		if (peek(p, 0)->t == T_FOR) {
			/* A generator expression, evaluated eagerly into a list. */
			n = mk(p, E_LISTCOMP, &t);
			n->a = x;
			parse_comp_clauses(p, n);
		} else if (peek(p, 0)->t == T_COMMA) {
			n = mk(p, E_TUPLE, &t);
			nvec_push(p->a, &v, x);
			while (peek(p, 0)->t == T_COMMA) {
				next(p);
				if (peek(p, 0)->t == T_RPAR)
					break;
				nvec_push(p->a, &v, parse_test(p));
			}
			set_kids(n, &v);
		} else {
			n = x;
		}
		expect(p, T_RPAR, "')'");
		leave(p);
		return n;
	case T_LSQB:
		next(p);
		enter(p, &t);
		if (peek(p, 0)->t == T_RSQB) {
			next(p);
			leave(p);
			return mk(p, E_LIST, &t);
		}
		x = parse_test(p);
		if (peek(p, 0)->t == T_FOR) {
			n = mk(p, E_LISTCOMP, &t);
			n->a = x;
			parse_comp_clauses(p, n);
		} else {
			n = mk(p, E_LIST, &t);
			nvec_push(p->a, &v, x);
			while (peek(p, 0)->t == T_COMMA) {
				next(p);
				if (peek(p, 0)->t == T_RSQB)
					break;
				nvec_push(p->a, &v, parse_test(p));
			}
			set_kids(n, &v);
		}
		expect(p, T_RSQB, "',' or ']'");
		leave(p);
		return n;
	case T_LBRACE:
		next(p);
		enter(p, &t);
		n = mk(p, E_DICT, &t);
		if (peek(p, 0)->t == T_RBRACE) {
			next(p);
			leave(p);
			return n;
		}
		for (;;) {
			struct node *k = NULL, *val;

			if (peek(p, 0)->t == T_DSTAR) {
				next(p);
				val = parse_or(p);
			} else {
				struct token kt = *peek(p, 0);

				k = parse_test(p);
				if (peek(p, 0)->t != T_COLON)
					fb_map_cerror(p->e, FB_MAP_ESYNTAX, kt.line, kt.col,
					    peek(p, 0)->t == T_COMMA || peek(p, 0)->t == T_RBRACE ||
					            peek(p, 0)->t == T_FOR
					        ? "set literals are not supported (use a list)"
					        : "expected ':' after a dict key");
				next(p);
				val = parse_test(p);
				if (v.n == 0 && peek(p, 0)->t == T_FOR) {
					n->k = E_DICTCOMP;
					n->a = k;
					n->b = val;
					parse_comp_clauses(p, n);
					break;
				}
			}
			nvec_push(p->a, &v, k);
			nvec_push(p->a, &v, val);
			if (peek(p, 0)->t != T_COMMA)
				break;
			next(p);
			if (peek(p, 0)->t == T_RBRACE)
				break;
		}
		if (n->k == E_DICT)
			set_kids(n, &v);
		expect(p, T_RBRACE, "',' or '}'");
		leave(p);
		return n;
	case T_STAR:
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, t.line, t.col,
		    "starred expressions are not supported in mappings");
	default:
		unexpected(p, &t, "an expression");
	}
}

static struct node *
parse_call(struct parser *p, struct node *callee, const struct token *lpar)
{
	struct node *n = fb_map_node_new(p->a, E_CALL, callee->line, callee->col);
	struct nvec args = {0}, kw = {0};
	const char **names = NULL;
	int nnames = 0;

	n->a = callee;
	enter(p, lpar);
	while (peek(p, 0)->t != T_RPAR) {
		struct token t = *peek(p, 0);

		if (t.t == T_STAR || t.t == T_DSTAR)
			fb_map_cerror(p->e, FB_MAP_ESYNTAX, t.line, t.col,
			    "*args and **kwargs are not supported in calls");
		if (t.t == T_NAME && peek(p, 1)->t == T_ASSIGN) {
			char *name = tok_text(p, &t);

			next(p);
			next(p);
			for (int i = 0; i < nnames; i++)
				if (strcmp(names[i], name) == 0)
					fb_map_cerror(p->e, FB_MAP_ESYNTAX, t.line, t.col,
					    "keyword argument repeated: %s", name);
			if (nnames % 8 == 0) {
				const char **nn =
				    fb_arena_alloc(p->a, (size_t)(nnames + 8) * sizeof(*nn));

				if (nnames > 0)
					memcpy(nn, names, (size_t)nnames * sizeof(*nn));
				names = nn;
			}
			names[nnames++] = name;
			nvec_push(p->a, &kw, parse_test(p));
		} else {
			struct node *x;

			if (kw.n > 0)
				fb_map_cerror(p->e, FB_MAP_ESYNTAX, t.line, t.col,
				    "positional argument follows keyword argument");
			x = parse_test(p);
			if (peek(p, 0)->t == T_FOR) {
				struct node *g = fb_map_node_new(p->a, E_LISTCOMP, x->line, x->col);

				if (args.n > 0 || peek(p, 0)->t != T_FOR)
					fb_map_cerror(p->e, FB_MAP_ESYNTAX, t.line, t.col,
					    "generator expression must be parenthesized");
				g->a = x;
				parse_comp_clauses(p, g);
				if (peek(p, 0)->t != T_RPAR)
					fb_map_cerror(p->e, FB_MAP_ESYNTAX, t.line, t.col,
					    "generator expression must be parenthesized");
				x = g;
			}
			nvec_push(p->a, &args, x);
		}
		if (peek(p, 0)->t != T_COMMA)
			break;
		next(p);
	}
	expect(p, T_RPAR, "',' or ')'");
	leave(p);
	set_kids(n, &args);
	n->kw = kw.v;
	n->kwname = names;
	n->nkw = (uint16_t)kw.n;
	return n;
}

static struct node *
parse_primary(struct parser *p)
{
	struct node *n = parse_atom(p);
	int chain = 0;

	for (;;) {
		struct token t = *peek(p, 0);

		if (t.t == T_LPAR || t.t == T_DOT || t.t == T_LSQB) {
			enter(p, &t);
			chain++;
		}

		if (t.t == T_LPAR) {
			next(p);
			n = parse_call(p, n, &t);
		} else if (t.t == T_DOT) {
			struct token name;
			struct node *x;

			next(p);
			name = expect(p, T_NAME, "an attribute name after '.'");
			check_name(p, &name);
			x = mk(p, E_ATTR, &name);
			x->a = n;
			x->name = tok_text(p, &name);
			n = x;
		} else if (t.t == T_LSQB) {
			struct node *lo = NULL, *x;

			next(p);
			enter(p, &t);
			if (peek(p, 0)->t != T_COLON)
				lo = parse_test(p);
			if (peek(p, 0)->t == T_COLON) {
				struct node **k = fb_arena_alloc(p->a, 3 * sizeof(*k));

				next(p);
				k[0] = lo;
				k[1] = k[2] = NULL;
				if (peek(p, 0)->t != T_COLON && peek(p, 0)->t != T_RSQB)
					k[1] = parse_test(p);
				if (peek(p, 0)->t == T_COLON) {
					next(p);
					if (peek(p, 0)->t != T_RSQB)
						k[2] = parse_test(p);
				}
				x = mk(p, E_SLICE, &t);
				x->kids = k;
				x->n = 3;
			} else {
				if (peek(p, 0)->t == T_COMMA)
					fb_map_cerror(p->e, FB_MAP_ESYNTAX, peek(p, 0)->line,
					    peek(p, 0)->col, "tuple indexes are not supported");
				x = mk(p, E_INDEX, &t);
				x->b = lo;
			}
			x->a = n;
			expect(p, T_RSQB, "']'");
			leave(p);
			n = x;
		} else {
			while (chain-- > 0)
				leave(p);
			return n;
		}
	}
}

static struct node *parse_factor(struct parser *p);

static struct node *
parse_power(struct parser *p)
{
	struct node *n = parse_primary(p);

	if (peek(p, 0)->t == T_DSTAR) {
		struct token t = next(p);
		struct node *x = mk(p, E_BINOP, &t);

		enter(p, &t);
		x->op = OP_POW;
		x->a = n;
		x->b = parse_factor(p);
		leave(p);
		return x;
	}
	return n;
}

static struct node *
parse_factor(struct parser *p)
{
	struct token t = *peek(p, 0);

	if (t.t == T_MINUS || t.t == T_PLUS) {
		struct node *n = mk(p, E_UNARY, &t);

		next(p);
		enter(p, &t);
		n->op = t.t == T_MINUS ? OP_NEG : OP_POS;
		n->a = parse_factor(p);
		leave(p);
		/* Fold negative numeric literals. */
		if (n->op == OP_NEG && n->a->k == E_CONST && n->a->v.t == VT_INT &&
		    n->a->v.u.i != INT64_MIN) {
			n->a->v.u.i = -n->a->v.u.i;
			n->a->line = n->line;
			n->a->col = n->col;
			return n->a;
		}
		if (n->op == OP_NEG && n->a->k == E_CONST && n->a->v.t == VT_FLOAT) {
			n->a->v.u.f = -n->a->v.u.f;
			n->a->line = n->line;
			n->a->col = n->col;
			return n->a;
		}
		return n;
	}
	return parse_power(p);
}

/* A binary operator of a left-associative chain: its token and the node it makes. */
struct chain_op {
	enum tok tok;
	enum nkind kind;
	int op; /* E_BINOP's operator */
};

static const struct chain_op *
chain_op_of(const struct chain_op *ops, enum tok t)
{
	for (; ops->tok != T_EOF; ops++)
		if (ops->tok == t)
			return ops;
	return NULL;
}

/* sub (op sub)*, left-associative, for the operators of ops (ended by T_EOF). */
static struct node *
parse_chain(struct parser *p, const struct chain_op *ops, struct node *(*sub)(struct parser *))
{
	const struct chain_op *o;
	struct node *n = sub(p);
	int chain = 0;

	while ((o = chain_op_of(ops, peek(p, 0)->t)) != NULL) {
		struct token t = next(p);
		struct node *x = mk(p, o->kind, &t);

		enter(p, &t);
		chain++;
		x->op = (uint8_t)o->op;
		x->a = n;
		x->b = sub(p);
		n = x;
	}
	while (chain-- > 0)
		leave(p);
	return n;
}

static struct node *
parse_term(struct parser *p)
{
	static const struct chain_op ops[] = {{T_STAR, E_BINOP, OP_MUL},
	    {T_SLASH, E_BINOP, OP_DIV}, {T_DSLASH, E_BINOP, OP_FLOORDIV},
	    {T_PERCENT, E_BINOP, OP_MOD}, {T_EOF, 0, 0}};

	return parse_chain(p, ops, parse_factor);
}

static struct node *
parse_arith(struct parser *p)
{
	static const struct chain_op ops[] = {{T_PLUS, E_BINOP, OP_ADD},
	    {T_MINUS, E_BINOP, OP_SUB}, {T_EOF, 0, 0}};

	return parse_chain(p, ops, parse_term);
}

static struct node *
parse_comparison(struct parser *p)
{
	struct node *first = parse_arith(p), *n = NULL;
	struct nvec v = {0};
	uint8_t ops[256];

	for (;;) {
		struct token t = *peek(p, 0);
		int op;

		switch (t.t) {
		case T_EQ:
			op = CMP_EQ;
			break;
		case T_NE:
			op = CMP_NE;
			break;
		case T_LT:
			op = CMP_LT;
			break;
		case T_LE:
			op = CMP_LE;
			break;
		case T_GT:
			op = CMP_GT;
			break;
		case T_GE:
			op = CMP_GE;
			break;
		case T_IN:
			op = CMP_IN;
			break;
		case T_IS:
			op = CMP_IS;
			break;
		case T_NOT:
			if (peek(p, 1)->t != T_IN)
				goto done;
			op = CMP_NOTIN;
			next(p);
			break;
		default:
			goto done;
		}
		next(p);
		if (op == CMP_IS && peek(p, 0)->t == T_NOT) {
			next(p);
			op = CMP_ISNOT;
		}
		if (n == NULL) {
			n = mk(p, E_COMPARE, &t);
			nvec_push(p->a, &v, first);
		}
		if (v.n > 255)
			fb_map_cerror(p->e, FB_MAP_ESYNTAX, t.line, t.col,
			    "comparison chain too long");
		ops[v.n - 1] = (uint8_t)op;
		nvec_push(p->a, &v, parse_arith(p));
	}
done:
	if (n == NULL)
		return first;
	set_kids(n, &v);
	n->ops = fb_arena_alloc(p->a, (size_t)v.n);
	memcpy(n->ops, ops, (size_t)v.n - 1);
	return n;
}

static struct node *
parse_not(struct parser *p)
{
	if (peek(p, 0)->t == T_NOT) {
		struct token t = next(p);
		struct node *n = mk(p, E_NOT, &t);

		enter(p, &t);
		n->a = parse_not(p);
		leave(p);
		return n;
	}
	return parse_comparison(p);
}

static struct node *
parse_and(struct parser *p)
{
	static const struct chain_op ops[] = {{T_AND, E_AND, 0}, {T_EOF, 0, 0}};

	return parse_chain(p, ops, parse_not);
}

static struct node *
parse_or(struct parser *p)
{
	static const struct chain_op ops[] = {{T_OR, E_OR, 0}, {T_EOF, 0, 0}};

	return parse_chain(p, ops, parse_and);
}

static struct node *
parse_test(struct parser *p)
{
	struct token t = *peek(p, 0);
	struct node *n;

	enter(p, &t);
	n = parse_or(p);
	if (peek(p, 0)->t == T_IF) {
		struct token it = next(p);
		struct node *x = mk(p, E_IFEXP, &it);

		x->b = n;
		x->a = parse_or(p);
		if (peek(p, 0)->t != T_ELSE)
			unexpected(p, peek(p, 0), "'else' in the conditional expression");
		next(p);
		x->c = parse_test(p);
		n = x;
	}
	leave(p);
	return n;
}

/* test (',' test)* [','] -> a tuple when there is a comma. */
static struct node *
parse_exprlist(struct parser *p)
{
	struct node *first = parse_test(p), *n;
	struct nvec v = {0};

	if (peek(p, 0)->t != T_COMMA)
		return first;
	n = fb_map_node_new(p->a, E_TUPLE, first->line, first->col);
	nvec_push(p->a, &v, first);
	while (peek(p, 0)->t == T_COMMA) {
		next(p);
		if (!can_start_expr(peek(p, 0)->t))
			break;
		nvec_push(p->a, &v, parse_test(p));
	}
	set_kids(n, &v);
	return n;
}

/* A for loop's target: names, possibly in (nested) tuples or lists. */
static struct node *
parse_target(struct parser *p)
{
	struct token t = *peek(p, 0);

	if (t.t == T_NAME) {
		struct node *n = mk(p, E_NAME, &t);

		next(p);
		check_name(p, &t);
		n->name = tok_text(p, &t);
		return n;
	}
	if (t.t == T_LPAR || t.t == T_LSQB) {
		struct node *n;

		next(p);
		enter(p, &t);
		n = parse_target_list(p, t.t == T_LPAR ? T_RPAR : T_RSQB);
		if (n->k != E_TUPLE) {
			struct node *x = mk(p, E_TUPLE, &t);

			x->kids = fb_arena_alloc(p->a, sizeof(*x->kids));
			x->kids[0] = n;
			x->n = 1;
			n = x;
		}
		expect(p, t.t == T_LPAR ? T_RPAR : T_RSQB, t.t == T_LPAR ? "')'" : "']'");
		leave(p);
		return n;
	}
	unexpected(p, &t, "a variable name as the loop target");
}

static struct node *
parse_target_list(struct parser *p, enum tok stop)
{
	struct node *first = parse_target(p), *n;
	struct nvec v = {0};

	if (peek(p, 0)->t != T_COMMA)
		return first;
	n = fb_map_node_new(p->a, E_TUPLE, first->line, first->col);
	nvec_push(p->a, &v, first);
	while (peek(p, 0)->t == T_COMMA) {
		next(p);
		if (peek(p, 0)->t == stop)
			break;
		nvec_push(p->a, &v, parse_target(p));
	}
	set_kids(n, &v);
	return n;
}

/* ---- statements ------------------------------------------------------------ */

static void
check_target(struct parser *p, struct node *n, int aug)
{
	switch (n->k) {
	case E_NAME:
	case E_INDEX:
		return;
	case E_TUPLE:
	case E_LIST:
		if (aug)
			fb_map_cerror(p->e, FB_MAP_ESYNTAX, n->line, n->col,
			    "illegal expression for augmented assignment");
		for (int i = 0; i < n->n; i++)
			check_target(p, n->kids[i], 0);
		return;
	case E_ATTR:
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, n->line, n->col,
		    "cannot assign to attribute '%s' (user, request and their members are "
		    "read-only)",
		    n->name);
	case E_SLICE:
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, n->line, n->col,
		    "assignment to a slice is not supported");
	case E_CALL:
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, n->line, n->col,
		    "cannot assign to function call");
	case E_CONST:
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, n->line, n->col, "cannot assign to literal");
	default:
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, n->line, n->col, "cannot assign to expression");
	}
}

static struct node *
parse_small(struct parser *p)
{
	struct token t = *peek(p, 0);
	struct node *n, *x;

	switch (t.t) {
	case T_RETURN:
		next(p);
		n = mk(p, S_RETURN, &t);
		if (can_start_expr(peek(p, 0)->t) || peek(p, 0)->t == T_KEYWORD)
			n->a = parse_exprlist(p);
		return n;
	case T_PASS:
		next(p);
		return mk(p, S_PASS, &t);
	case T_BREAK:
	case T_CONTINUE:
		next(p);
		if (p->loops == 0)
			fb_map_cerror(p->e, FB_MAP_ESYNTAX, t.line, t.col, "'%s' outside loop",
			    t.t == T_BREAK ? "break" : "continue");
		return mk(p, t.t == T_BREAK ? S_BREAK : S_CONTINUE, &t);
	case T_KEYWORD:
		unexpected(p, &t, "a statement");
	default:
		break;
	}
	x = parse_exprlist(p);
	t = *peek(p, 0);
	if (t.t == T_ASSIGN) {
		struct nvec targets = {0};
		struct node *value = x;

		n = fb_map_node_new(p->a, S_ASSIGN, x->line, x->col);
		while (peek(p, 0)->t == T_ASSIGN) {
			next(p);
			check_target(p, value, 0);
			nvec_push(p->a, &targets, value);
			value = parse_exprlist(p);
		}
		set_kids(n, &targets);
		n->b = value;
		return n;
	}
	if (t.t >= T_PLUSEQ && t.t <= T_PERCENTEQ) {
		static const uint8_t aug[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD};

		next(p);
		check_target(p, x, 1);
		n = fb_map_node_new(p->a, S_AUG, x->line, x->col);
		n->op = aug[t.t - T_PLUSEQ];
		n->a = x;
		n->b = parse_exprlist(p);
		return n;
	}
	n = fb_map_node_new(p->a, S_EXPR, x->line, x->col);
	n->a = x;
	return n;
}

/* small (';' small)* [';'] NEWLINE */
static void
parse_simple(struct parser *p, struct nvec *v)
{
	for (;;) {
		nvec_push(p->a, v, parse_small(p));
		if (peek(p, 0)->t != T_SEMI)
			break;
		next(p);
		if (peek(p, 0)->t == T_NEWLINE || peek(p, 0)->t == T_EOF)
			break;
	}
	if (peek(p, 0)->t == T_EOF)
		return;
	if (peek(p, 0)->t == T_ASSIGN ||
	    (peek(p, 0)->t >= T_PLUSEQ && peek(p, 0)->t <= T_PERCENTEQ))
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, peek(p, 0)->line, peek(p, 0)->col,
		    "invalid assignment");
	expect(p, T_NEWLINE, "end of line");
}

/* ':' then an indented block or simple statements on the same line. */
static struct node *
parse_suite(struct parser *p, const struct token *owner, const char *what)
{
	struct node *b = mk(p, S_BLOCK, owner);
	struct nvec v = {0};

	expect(p, T_COLON, "':'");
	enter(p, owner);
	if (peek(p, 0)->t == T_NEWLINE) {
		next(p);
		if (peek(p, 0)->t != T_INDENT)
			fb_map_cerror(p->e, FB_MAP_ESYNTAX, peek(p, 0)->line, peek(p, 0)->col,
			    "expected an indented block after '%s' statement on line %d", what,
			    owner->line);
		next(p);
		while (peek(p, 0)->t != T_DEDENT && peek(p, 0)->t != T_EOF)
			parse_block_into(p, &v);
		if (peek(p, 0)->t == T_DEDENT)
			next(p);
	} else {
		parse_simple(p, &v);
	}
	leave(p);
	set_kids(b, &v);
	return b;
}

static struct node *
parse_if(struct parser *p)
{
	struct token t = next(p); /* if or elif */
	struct node *n = mk(p, S_IF, &t);

	n->a = parse_test(p);
	n->b = parse_suite(p, &t, t.t == T_IF ? "if" : "elif");
	if (peek(p, 0)->t == T_ELIF) {
		struct node *b = fb_map_node_new(p->a, S_BLOCK, peek(p, 0)->line, peek(p, 0)->col);

		enter(p, peek(p, 0)); /* each elif nests one level deeper */
		b->kids = fb_arena_alloc(p->a, sizeof(*b->kids));
		b->kids[0] = parse_if(p);
		leave(p);
		b->n = 1;
		n->c = b;
	} else if (peek(p, 0)->t == T_ELSE) {
		struct token et = next(p);

		n->c = parse_suite(p, &et, "else");
	}
	return n;
}

static void
parse_block_into(struct parser *p, struct nvec *v)
{
	struct token t = *peek(p, 0);
	struct node *n;

	switch (t.t) {
	case T_NEWLINE:
		next(p);
		return;
	case T_IF:
		nvec_push(p->a, v, parse_if(p));
		return;
	case T_FOR:
		next(p);
		n = mk(p, S_FOR, &t);
		n->a = parse_target_list(p, T_IN);
		expect(p, T_IN, "'in'");
		n->b = parse_exprlist(p);
		p->loops++;
		n->c = parse_suite(p, &t, "for");
		p->loops--;
		if (peek(p, 0)->t == T_ELSE)
			fb_map_cerror(p->e, FB_MAP_ESYNTAX, peek(p, 0)->line, peek(p, 0)->col,
			    "'else' after 'for' is not supported");
		nvec_push(p->a, v, n);
		return;
	case T_ELIF:
	case T_ELSE:
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, t.line, t.col, "'%s' without a matching 'if'",
		    t.t == T_ELIF ? "elif" : "else");
	case T_INDENT:
		fb_map_cerror(p->e, FB_MAP_ESYNTAX, t.line, t.col, "unexpected indent");
	default:
		parse_simple(p, v);
		return;
	}
}

struct node *
fb_map_parse(struct fb_arena *a, struct cerr *e, const char *src, size_t len)
{
	struct parser p;
	struct node *body = fb_map_node_new(a, S_BLOCK, 1, 1);
	struct nvec v = {0};
	int depth = 0;

	memset(&p, 0, sizeof(p));
	p.e = e;
	p.a = a;
	p.depth = &depth;
	fb_map_lex_init(&p.lx, e, a, src, len, 1, 1, 0);
	while (peek(&p, 0)->t != T_EOF) {
		if (peek(&p, 0)->t == T_DEDENT) {
			next(&p);
			continue;
		}
		parse_block_into(&p, &v);
	}
	set_kids(body, &v);
	return body;
}
