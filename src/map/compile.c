/* SPDX-License-Identifier: Apache-2.0 */
/* map/compile.c: resolves names to slots, builtins and methods, and checks them before any
 * evaluation. */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "map/internal.h"

static const struct {
	const char *name;
	int vt;
} type_names[] = {
    {"str", VT_STR},
    {"int", VT_INT},
    {"float", VT_FLOAT},
    {"bool", VT_BOOL},
    {"list", VT_LIST},
    {"dict", VT_DICT},
};

struct ent {
	const char *name;
	int slot;
};

struct resolver {
	struct cerr *e;
	struct fb_arena *a;
	struct ent *ents; /* visible names; comprehension variables on top */
	int n, cap;
	int nslots;
	const char **assigned; /* every name the rule assigns anywhere */
	int nassigned;
};

static int
find_builtin(const char *name)
{
	for (int i = 0; i < B_COUNT; i++)
		if (strcmp(fb_map_builtins[i].name, name) == 0)
			return i;
	return -1;
}

static int
find_method(const char *name)
{
	for (int i = 0; i < M_NUM; i++)
		if (strcmp(fb_map_methods[i].name, name) == 0)
			return i;
	return -1;
}

static int
find_attr(const char *name)
{
	for (int i = 0; i < A_COUNT; i++)
		if (strcmp(fb_map_attr_names[i], name) == 0)
			return i;
	return -1;
}

static int
is_reserved(const char *name)
{
	return strcmp(name, "user") == 0 || strcmp(name, "request") == 0 ||
	       strcmp(name, "upstream") == 0 || find_builtin(name) >= 0;
}

static int
lookup(const struct resolver *r, const char *name)
{
	for (int i = r->n - 1; i >= 0; i--)
		if (strcmp(r->ents[i].name, name) == 0)
			return r->ents[i].slot;
	return -1;
}

static int
push(struct resolver *r, const char *name, int line, int col)
{
	if (r->n == r->cap) {
		int cap = r->cap == 0 ? 16 : r->cap * 2;
		struct ent *ne = fb_arena_alloc(r->a, (size_t)cap * sizeof(*ne));

		if (r->n > 0)
			memcpy(ne, r->ents, (size_t)r->n * sizeof(*ne));
		r->ents = ne;
		r->cap = cap;
	}
	if (r->nslots >= MAP_MAX_SLOTS)
		fb_map_cerror(r->e, FB_MAP_ESYNTAX, line, col, "too many variables (at most %d)",
		    MAP_MAX_SLOTS);
	r->ents[r->n].name = name;
	r->ents[r->n].slot = r->nslots++;
	return r->ents[r->n++].slot;
}

/* A top-level variable: its slot, created on first assignment. */
static int
declare(struct resolver *r, struct node *t)
{
	int slot;

	if (is_reserved(t->name))
		fb_map_cerror(r->e, FB_MAP_ESYNTAX, t->line, t->col,
		    "cannot assign to '%s': it is a built-in name", t->name);
	if ((slot = lookup(r, t->name)) >= 0)
		return slot;
	return push(r, t->name, t->line, t->col);
}

/* "did you mean" among visible names, globals and builtins. */
static const char *
suggest(const struct resolver *r, const char *name)
{
	static const char *const globals[] = {"user", "request", "upstream", "True", "False",
	    "None"};
	const char *best = NULL;
	int bd = 3;

	for (int i = 0; i < r->n; i++) {
		int d = fb_str_distance(name, r->ents[i].name);

		if (d < bd) {
			bd = d;
			best = r->ents[i].name;
		}
	}
	for (size_t i = 0; i < sizeof(globals) / sizeof(globals[0]); i++) {
		int d = fb_str_distance(name, globals[i]);

		if (d < bd) {
			bd = d;
			best = globals[i];
		}
	}
	for (int i = 0; i < B_COUNT; i++) {
		int d = fb_str_distance(name, fb_map_builtins[i].name);

		if (d < bd) {
			bd = d;
			best = fb_map_builtins[i].name;
		}
	}
	/* One edit for short names, two for longer ones: "foo" is not "bool". */
	if (best == NULL || strlen(name) < 3 || bd > (strlen(name) <= 4 ? 1 : 2))
		return NULL;
	return best;
}

static void __attribute__((noreturn)) unknown_name(struct resolver *r, const struct node *n)
{
	const char *s;

	for (int i = 0; i < r->nassigned; i++)
		if (strcmp(r->assigned[i], n->name) == 0)
			fb_map_cerror(r->e, FB_MAP_ENAME, n->line, n->col,
			    "name '%s' is used before it is assigned", n->name);
	s = suggest(r, n->name);
	if (s != NULL)
		fb_map_cerror(r->e, FB_MAP_ENAME, n->line, n->col,
		    "name '%s' is not defined (did you mean '%s'?)", n->name, s);
	fb_map_cerror(r->e, FB_MAP_ENAME, n->line, n->col, "name '%s' is not defined", n->name);
}

/* Collects the names assigned in statements (not inside comprehensions). */
static void
collect_targets(struct resolver *r, const struct node *t, const char ***v, int *n)
{
	if (t == NULL)
		return;
	if (t->k == E_NAME) {
		if (*n % 16 == 0) {
			const char **nv = fb_arena_alloc(r->a, (size_t)(*n + 16) * sizeof(*nv));

			if (*n > 0)
				memcpy(nv, *v, (size_t)*n * sizeof(*nv));
			*v = nv;
		}
		(*v)[(*n)++] = t->name;
	} else if (t->k == E_TUPLE || t->k == E_LIST) {
		for (int i = 0; i < t->n; i++)
			collect_targets(r, t->kids[i], v, n);
	}
}

static void
collect_assigned(struct resolver *r, const struct node *s, const char ***v, int *n)
{
	if (s == NULL)
		return;
	switch (s->k) {
	case S_BLOCK:
		for (int i = 0; i < s->n; i++)
			collect_assigned(r, s->kids[i], v, n);
		break;
	case S_ASSIGN:
		for (int i = 0; i < s->n; i++)
			collect_targets(r, s->kids[i], v, n);
		break;
	case S_AUG:
		collect_targets(r, s->a, v, n);
		break;
	case S_FOR:
		collect_targets(r, s->a, v, n);
		collect_assigned(r, s->c, v, n);
		break;
	case S_IF:
		collect_assigned(r, s->b, v, n);
		collect_assigned(r, s->c, v, n);
		break;
	default:
		break;
	}
}

static void resolve_expr(struct resolver *r, struct node *n);

static void
check_kwargs(struct resolver *r, const struct node *n, const char *fn, const char *allowed)
{
	for (int i = 0; i < n->nkw; i++) {
		const char *k = n->kwname[i];
		size_t kl = strlen(k);
		const char *p = allowed;
		int ok = strcmp(allowed, "*") == 0;

		while (!ok && (p = strstr(p, k)) != NULL) {
			if ((p == allowed || p[-1] == ' ') && (p[kl] == '\0' || p[kl] == ' '))
				ok = 1;
			p += kl;
		}
		if (!ok)
			fb_map_cerror(r->e, FB_MAP_ETYPE, n->kw[i]->line, n->kw[i]->col,
			    "%s() got an unexpected keyword argument '%s'", fn, k);
	}
}

static void
check_arity(struct resolver *r, const struct node *n, const char *fn, int min, int max)
{
	if (n->n < min || n->n > max) {
		if (min == max)
			fb_map_cerror(r->e, FB_MAP_ETYPE, n->line, n->col,
			    "%s() takes %d positional argument%s (%d given)", fn, min,
			    min == 1 ? "" : "s", n->n);
		fb_map_cerror(r->e, FB_MAP_ETYPE, n->line, n->col,
		    "%s() takes %s %d positional argument%s (%d given)", fn,
		    n->n < min ? "at least" : "at most", n->n < min ? min : max,
		    (n->n < min ? min : max) == 1 ? "" : "s", n->n);
	}
}

static void
resolve_call(struct resolver *r, struct node *n)
{
	struct node *callee = n->a;

	for (int i = 0; i < n->n; i++)
		resolve_expr(r, n->kids[i]);
	for (int i = 0; i < n->nkw; i++)
		resolve_expr(r, n->kw[i]);
	if (callee->k == E_NAME) {
		int b;

		if (lookup(r, callee->name) >= 0 || strcmp(callee->name, "user") == 0 ||
		    strcmp(callee->name, "request") == 0 || strcmp(callee->name, "upstream") == 0)
			fb_map_cerror(r->e, FB_MAP_ETYPE, callee->line, callee->col,
			    "'%s' is not callable", callee->name);
		if ((b = find_builtin(callee->name)) < 0)
			unknown_name(r, callee);
		n->k = E_BUILTIN;
		n->op = (uint8_t)b;
		n->name = callee->name;
		n->a = NULL;
		check_arity(r, n, callee->name, fb_map_builtins[b].min, fb_map_builtins[b].max);
		check_kwargs(r, n, callee->name, fb_map_builtins[b].kw);
		if ((b == B_RE_MATCH || b == B_RE_SUB) && n->kids[0]->k == E_CONST &&
		    n->kids[0]->v.t == VT_STR) {
			n->re = fb_map_regex_compile_const(r->e, n->kids[0]->line, n->kids[0]->col,
			    n->kids[0]->v.u.s, n->kids[0]->v.n);
			fb_arena_dispose(r->a, fb_map_regex_free, n->re);
		}
		return;
	}
	if (callee->k == E_ATTR) {
		struct node *recv = callee->a;
		int m = find_method(callee->name);

		resolve_expr(r, recv);
		n->k = E_METHOD;
		n->a = recv;
		n->name = callee->name;
		n->line = callee->line;
		n->col = callee->col;
		if (recv->k == E_USER && m != M_GROUP_ATTRIBUTES)
			fb_map_cerror(r->e, FB_MAP_EATTRIBUTE, callee->line, callee->col,
			    "user has no method '%s' (user's only method is group_attributes())",
			    callee->name);
		if (recv->k == E_REQUEST)
			fb_map_cerror(r->e, FB_MAP_EATTRIBUTE, callee->line, callee->col,
			    "request has no method '%s'", callee->name);
		if (m < 0) {
			if (find_attr(callee->name) >= 0)
				fb_map_cerror(r->e, FB_MAP_ETYPE, callee->line, callee->col,
				    "'%s' is an attribute, not a method: remove the parentheses",
				    callee->name);
			fb_map_cerror(r->e, FB_MAP_EATTRIBUTE, callee->line, callee->col,
			    "unknown method '%s' (see fedbroker-mapping(7) for the methods of str, "
			    "list and dict)",
			    callee->name);
		}
		if (m == M_GROUP_ATTRIBUTES && recv->k != E_USER)
			fb_map_cerror(r->e, FB_MAP_EATTRIBUTE, callee->line, callee->col,
			    "group_attributes() is a method of user only");
		n->op = (uint8_t)m;
		check_arity(r, n, callee->name, fb_map_methods[m].min, fb_map_methods[m].max);
		check_kwargs(r, n, callee->name, fb_map_methods[m].kw);
		return;
	}
	resolve_expr(r, callee);
	fb_map_cerror(r->e, FB_MAP_ETYPE, callee->line, callee->col,
	    "only builtins and methods can be called");
}

/* Comprehension: each for clause's iterable sees the variables of the clauses before it. */
static void
resolve_comp(struct resolver *r, struct node *n)
{
	int base = r->n;

	for (int i = 0; i < n->n; i++) {
		struct node *cl = n->kids[i];

		if (cl->k == E_COMPFOR) {
			const char **names = NULL;
			int nn = 0;

			resolve_expr(r, cl->b);
			collect_targets(r, cl->a, &names, &nn);
			for (int k = 0; k < nn; k++)
				if (is_reserved(names[k]))
					fb_map_cerror(r->e, FB_MAP_ESYNTAX, cl->a->line, cl->a->col,
					    "cannot assign to '%s': it is a built-in name",
					    names[k]);
			for (int k = 0; k < nn; k++)
				push(r, names[k], cl->line, cl->col);
			/* Now the target's names resolve to the new slots. */
			resolve_expr(r, cl->a);
		} else {
			resolve_expr(r, cl->a);
		}
	}
	resolve_expr(r, n->a);
	if (n->b != NULL)
		resolve_expr(r, n->b);
	r->n = base;
}

static void
resolve_expr(struct resolver *r, struct node *n)
{
	int slot;

	if (n == NULL)
		return;
	switch (n->k) {
	case E_NAME:
		if ((slot = lookup(r, n->name)) >= 0) {
			n->k = E_LOCAL;
			n->slot = slot;
			return;
		}
		if (strcmp(n->name, "user") == 0) {
			n->k = E_USER;
			return;
		}
		if (strcmp(n->name, "request") == 0) {
			n->k = E_REQUEST;
			return;
		}
		if (strcmp(n->name, "upstream") == 0) {
			n->k = E_UPSTREAM;
			return;
		}
		for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
			if (strcmp(n->name, type_names[i].name) == 0) {
				n->k = E_CONST;
				n->v.t = VT_TYPE;
				n->v.n = (uint32_t)type_names[i].vt;
				return;
			}
		if (find_builtin(n->name) >= 0)
			fb_map_cerror(r->e, FB_MAP_ETYPE, n->line, n->col,
			    "builtin '%s' can only be called", n->name);
		unknown_name(r, n);
	case E_ATTR: {
		/* SECURITY: only the documented attributes of the exposed objects exist. */
		int a = find_attr(n->name);

		resolve_expr(r, n->a);
		if (n->a->k == E_USER && (a < 0 || fb_map_obj_slot(VT_USER, a) < 0))
			fb_map_cerror(r->e, FB_MAP_EATTRIBUTE, n->line, n->col,
			    "user has no attribute '%s' (it has username, name, email, uid, "
			    "is_active, attributes, groups)",
			    n->name);
		if (n->a->k == E_REQUEST && (a < 0 || fb_map_obj_slot(VT_REQUEST, a) < 0))
			fb_map_cerror(r->e, FB_MAP_EATTRIBUTE, n->line, n->col,
			    "request has no attribute '%s' (it has name, type, upstream)", n->name);
		if (n->a->k == E_UPSTREAM || n->a->k == E_DICT || n->a->k == E_LIST ||
		    n->a->k == E_CONST)
			fb_map_cerror(r->e, FB_MAP_EATTRIBUTE, n->line, n->col,
			    "a %s has no attribute '%s'%s",
			    n->a->k == E_UPSTREAM || n->a->k == E_DICT ? "dict"
			    : n->a->k == E_LIST                        ? "list"
			                                               : "constant",
			    n->name,
			    n->a->k == E_UPSTREAM
			        ? " (use upstream[\"...\"] or upstream.get(\"...\"))"
			        : "");
		if (a < 0) {
			if (find_method(n->name) >= 0)
				fb_map_cerror(r->e, FB_MAP_ETYPE, n->line, n->col,
				    "method '%s' must be called: add ()", n->name);
			fb_map_cerror(r->e, FB_MAP_EATTRIBUTE, n->line, n->col,
			    "unknown attribute '%s' (groups have name and attributes)", n->name);
		}
		n->slot = a;
		return;
	}
	case E_CALL:
		resolve_call(r, n);
		return;
	case E_LISTCOMP:
	case E_DICTCOMP:
		resolve_comp(r, n);
		return;
	case E_SLICE:
		resolve_expr(r, n->a);
		for (int i = 0; i < 3; i++)
			resolve_expr(r, n->kids[i]);
		return;
	default:
		resolve_expr(r, n->a);
		resolve_expr(r, n->b);
		resolve_expr(r, n->c);
		for (int i = 0; i < n->n; i++)
			resolve_expr(r, n->kids[i]);
		return;
	}
}

static void
resolve_target(struct resolver *r, struct node *t)
{
	switch (t->k) {
	case E_NAME:
		t->slot = declare(r, t);
		t->k = E_LOCAL;
		return;
	case E_TUPLE:
	case E_LIST:
		if (t->n > 16)
			fb_map_cerror(r->e, FB_MAP_ESYNTAX, t->line, t->col,
			    "too many names to unpack (at most 16)");
		for (int i = 0; i < t->n; i++)
			resolve_target(r, t->kids[i]);
		return;
	default: /* E_INDEX */
		resolve_expr(r, t);
		return;
	}
}

static void
resolve_stmt(struct resolver *r, struct node *s)
{
	if (s == NULL)
		return;
	switch (s->k) {
	case S_BLOCK:
		for (int i = 0; i < s->n; i++)
			resolve_stmt(r, s->kids[i]);
		return;
	case S_EXPR:
	case S_RETURN:
		resolve_expr(r, s->a);
		return;
	case S_ASSIGN:
		resolve_expr(r, s->b);
		for (int i = 0; i < s->n; i++)
			resolve_target(r, s->kids[i]);
		return;
	case S_AUG:
		resolve_expr(r, s->b);
		if (s->a->k == E_NAME && is_reserved(s->a->name))
			fb_map_cerror(r->e, FB_MAP_ESYNTAX, s->a->line, s->a->col,
			    "cannot assign to '%s': it is a built-in name", s->a->name);
		resolve_expr(r, s->a); /* the target must exist already */
		return;
	case S_IF:
		resolve_expr(r, s->a);
		resolve_stmt(r, s->b);
		resolve_stmt(r, s->c);
		return;
	case S_FOR: {
		const char **names = NULL;
		int nn = 0;

		resolve_expr(r, s->b);
		/*
		 * Names the loop body assigns exist from the loop's start: a later
		 * iteration may read what an earlier one wrote (checked at run time).
		 */
		collect_assigned(r, s->c, &names, &nn);
		for (int i = 0; i < nn; i++) {
			struct node tmp;

			if (is_reserved(names[i]))
				continue; /* reported where it is assigned */
			memset(&tmp, 0, sizeof(tmp));
			tmp.name = names[i];
			tmp.line = s->line;
			tmp.col = s->col;
			declare(r, &tmp);
		}
		resolve_target(r, s->a);
		resolve_stmt(r, s->c);
		return;
	}
	default:
		return;
	}
}

void
fb_map_resolve(struct fb_arena *a, struct cerr *e, struct node *body, int *nslots)
{
	struct resolver r;

	memset(&r, 0, sizeof(r));
	r.e = e;
	r.a = a;
	collect_assigned(&r, body, &r.assigned, &r.nassigned);
	resolve_stmt(&r, body);
	*nslots = r.nslots;
}
