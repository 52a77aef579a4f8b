/* SPDX-License-Identifier: Apache-2.0 */
/* map/eval.c: the tree-walking evaluator: statements, operators, indexing, iteration. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "map/internal.h"

enum {
	X_NORMAL = 0,
	X_RETURN,
	X_BREAK,
	X_CONTINUE,
	X_ERROR = -1,
};

int
fb_map_rt_error(struct ctx *c, enum fb_map_errkind kind, const char *fmt, ...)
{
	va_list ap;

	if (c->ekind != FB_MAP_EOK)
		return -1;
	c->ekind = kind;
	c->eline = c->ecol = 0;
	va_start(ap, fmt);
	vsnprintf(c->emsg, sizeof(c->emsg), fmt, ap);
	va_end(ap);
	return -1;
}

/* Places the pending error at n unless an inner node already did. */
static int
fail_at(struct ctx *c, const struct node *n)
{
	if (c->ekind == FB_MAP_EOK)
		fb_map_rt_error(c, FB_MAP_EVALUE, "internal error");
	if (c->eline == 0) {
		c->eline = n->line;
		c->ecol = n->col;
	}
	return -1;
}

/*
 * fb_map_eval with the two commonest leaves (constants and bound variables)
 * handled inline: same result, same step accounting, no call.
 */
static inline int
ev(struct ctx *c, const struct node *n, struct val *out)
{
	if (n->k == E_CONST && c->steps > 0) {
		c->steps--;
		*out = n->v;
		return 0;
	}
	if (n->k == E_LOCAL && c->steps > 0 && c->slots[n->slot].t != VT_UNBOUND) {
		c->steps--;
		*out = c->slots[n->slot];
		return 0;
	}
	return fb_map_eval(c, n, out);
}

static int
overflow(struct ctx *c)
{
	return fb_map_rt_error(c, FB_MAP_EVALUE, "integer overflow (integers are 64-bit)");
}

/* ---- iteration ------------------------------------------------------------- */

int
fb_map_iter_init(struct ctx *c, struct val v, struct iter *it)
{
	memset(it, 0, sizeof(*it));
	it->v = v;
	switch (v.t) {
	case VT_LIST:
	case VT_TUPLE:
		return 0;
	case VT_STR:
		it->n = v.n;
		return 0;
	case VT_DICT:
		if (fb_map_dict_force(c, v.u.d) != 0)
			return -1;
		it->n = v.u.d->len;
		return 0;
	case VT_RANGE:
		it->cur = v.u.r->start;
		return 0;
	default:
		return fb_map_rt_error(c, FB_MAP_ETYPE, "'%s' object is not iterable",
		    fb_map_type_name(v));
	}
}

int
fb_map_iter_next(struct ctx *c, struct iter *it, struct val *out)
{
	switch (it->v.t) {
	case VT_LIST:
	case VT_TUPLE:
		/* The live length: appending while iterating is seen, as in Python. */
		if (it->i >= it->v.u.l->len)
			return 0;
		*out = it->v.u.l->v[it->i++];
		return 1;
	case VT_STR: {
		uint32_t e = it->i;

		if (it->i >= it->n)
			return 0;
		e++;
		while (e < it->n && ((unsigned char)it->v.u.s[e] & 0xc0) == 0x80)
			e++;
		*out = fb_map_str(it->v.u.s + it->i, e - it->i);
		it->i = e;
		return 1;
	}
	case VT_DICT:
		if (it->v.u.d->len != it->n)
			return fb_map_rt_error(c, FB_MAP_EVALUE,
			    "dictionary changed size during iteration");
		if (it->i >= it->n)
			return 0;
		*out = fb_map_str(it->v.u.d->e[it->i].k, it->v.u.d->e[it->i].klen);
		it->i++;
		return 1;
	case VT_RANGE: {
		const struct range *r = it->v.u.r;

		if ((r->step > 0 && it->cur >= r->stop) || (r->step < 0 && it->cur <= r->stop) ||
		    it->i == 1)
			return 0;
		*out = fb_map_int(it->cur);
		if (__builtin_add_overflow(it->cur, r->step, &it->cur))
			it->i = 1; /* past the last representable value: done */
		return 1;
	}
	default:
		return 0;
	}
}

/* ---- objects --------------------------------------------------------------- */

static int
global_obj(struct ctx *c, struct val *slot, int vt, const json_t *j, struct val *out)
{
	if (slot->t == VT_UNBOUND) {
		if (vt == VT_USER && j == NULL)
			*slot = fb_map_none();
		else if (fb_map_obj_new(c, vt, j, slot) != 0)
			return -1;
	}
	*out = *slot;
	return 0;
}

static int
get_upstream(struct ctx *c, struct val *out)
{
	if (c->upstream.t == VT_UNBOUND) {
		if (c->jupstream == NULL) {
			struct dict *d = fb_map_dict_new(c, 0);

			if (d == NULL)
				return -1;
			c->upstream = fb_map_dict_val(d);
		} else if (fb_map_from_json(c, c->jupstream, &c->upstream) != 0) {
			return -1;
		}
	}
	*out = c->upstream;
	return 0;
}

struct gsort {
	const char *name;
	size_t n;
	uint32_t i;
	const json_t *attrs;
};

static int
gsort_cmp(const void *a, const void *b)
{
	const struct gsort *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int r = n > 0 ? memcmp(x->name, y->name, n) : 0;

	if (r != 0)
		return r;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i; /* stable */
}

/*
 * authentik's documented semantics: the user's groups sorted by name, later
 * groups' attributes overwriting earlier ones' (a shallow update).
 */
int
fb_map_group_attributes(struct ctx *c, struct val user, struct val *out)
{
	int gslot = fb_map_obj_slot(VT_USER, A_GROUPS);
	struct obj *o = user.u.o;
	struct gsort *gs;
	struct dict *d;
	uint32_t n = 0;
	const json_t *groups;

	if (o->f[gslot].t == VT_UNBOUND) {
		/* Straight from the JSON: no group objects needed. */
		groups = json_object_get(o->j, "groups");
		n = json_is_array(groups) ? (uint32_t)json_array_size(groups) : 0;
		if ((gs = fb_map_alloc(c, (size_t)n * sizeof(*gs) + 1)) == NULL)
			return -1;
		for (uint32_t i = 0; i < n; i++) {
			const json_t *g = json_array_get(groups, i), *name;

			name = json_is_object(g) ? json_object_get(g, "name") : g;
			gs[i].name = json_is_string(name) ? json_string_value(name) : "";
			gs[i].n = json_is_string(name) ? json_string_length(name) : 0;
			gs[i].i = i;
			gs[i].attrs = json_is_object(g) ? json_object_get(g, "attributes") : NULL;
		}
	} else {
		struct val gl = o->f[gslot];

		if (gl.t != VT_LIST)
			return fb_map_rt_error(c, FB_MAP_ETYPE, "user.groups is not a list");
		n = gl.u.l->len;
		if ((gs = fb_map_alloc(c, (size_t)n * sizeof(*gs) + 1)) == NULL)
			return -1;
		for (uint32_t i = 0; i < n; i++) {
			struct val g = gl.u.l->v[i], name;

			if (g.t != VT_GROUP)
				return fb_map_rt_error(c, FB_MAP_ETYPE,
				    "user.groups holds a %s, not a group", fb_map_type_name(g));
			if (fb_map_obj_field(c, g, A_NAME, &name) != 0)
				return -1;
			gs[i].name = name.t == VT_STR ? name.u.s : "";
			gs[i].n = name.t == VT_STR ? name.n : 0;
			gs[i].i = i;
			gs[i].attrs = NULL;
		}
	}
	if (fb_map_charge(c, n * 4) != 0)
		return -1;
	qsort(gs, n, sizeof(*gs), gsort_cmp);
	if ((d = fb_map_dict_new(c, 4)) == NULL)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		if (o->f[gslot].t == VT_UNBOUND) {
			const char *k;
			json_t *x;

			if (!json_is_object(gs[i].attrs))
				continue;
			json_object_foreach((json_t *)(uintptr_t)gs[i].attrs, k, x) {
				struct val v;

				if (fb_map_charge(c, 1) != 0 || fb_map_from_json(c, x, &v) != 0 ||
				    fb_map_dict_set(c, d, k, strlen(k), v) != 0)
					return -1;
			}
		} else {
			struct val attrs;

			if (fb_map_obj_field(c, o->f[gslot].u.l->v[gs[i].i], A_ATTRIBUTES,
			        &attrs) != 0)
				return -1;
			if (attrs.t != VT_DICT)
				continue;
			if (fb_map_dict_force(c, attrs.u.d) != 0)
				return -1;
			for (uint32_t k = 0; k < attrs.u.d->len; k++) {
				const struct dent *e = &attrs.u.d->e[k];

				if (fb_map_charge(c, 1) != 0 ||
				    fb_map_dict_set(c, d, e->k, e->klen, e->v) != 0)
					return -1;
			}
		}
	}
	*out = fb_map_dict_val(d);
	return 0;
}

/* ---- operators ---------------------------------------------------------------- */

static double
as_double(struct val v)
{
	return v.t == VT_FLOAT ? v.u.f : (double)v.u.i;
}

static int
is_num(struct val v)
{
	return v.t == VT_BOOL || v.t == VT_INT || v.t == VT_FLOAT;
}

static int
is_intlike(struct val v)
{
	return v.t == VT_BOOL || v.t == VT_INT;
}

static const char *const binop_names[] = {"+", "-", "*", "/", "//", "%", "**"};

static int
binop_type_error(struct ctx *c, int op, struct val a, struct val b)
{
	if (op == OP_MOD && a.t == VT_STR)
		return fb_map_rt_error(c, FB_MAP_ETYPE,
		    "printf-style '%%' formatting is not supported; use an f-string");
	return fb_map_rt_error(c, FB_MAP_ETYPE, "unsupported operand type(s) for %s: '%s' and '%s'",
	    binop_names[op], fb_map_type_name(a), fb_map_type_name(b));
}

/* Repeats a sequence n times (str * n, list * n). */
static int
repeat(struct ctx *c, struct val s, int64_t n, struct val *out)
{
	if (n < 0)
		n = 0;
	if (s.t == VT_STR) {
		char *p;

		if (n > 0 && s.n > (c->mem_limit - c->mem_used) / (uint64_t)n)
			return fb_map_rt_error(c, FB_MAP_EBUDGET,
			    "memory budget exceeded (%zu bytes)", c->mem_limit);
		if ((p = fb_map_str_alloc(c, s.n * (size_t)n)) == NULL ||
		    fb_map_charge_bytes(c, s.n * (size_t)n) != 0)
			return -1;
		for (int64_t i = 0; i < n; i++)
			memcpy(p + (size_t)i * s.n, s.u.s, s.n);
		*out = fb_map_str(p, s.n * (size_t)n);
		return 0;
	} else {
		uint32_t len = s.u.l->len;
		struct list *l;

		if (n > 0 &&
		    (uint64_t)len * sizeof(struct val) > (c->mem_limit - c->mem_used) / (uint64_t)n)
			return fb_map_rt_error(c, FB_MAP_EBUDGET,
			    "memory budget exceeded (%zu bytes)", c->mem_limit);
		if ((l = fb_map_list_new(c, (uint32_t)(len * (uint64_t)n))) == NULL ||
		    fb_map_charge(c, (int64_t)(len * (uint64_t)n / 8)) != 0)
			return -1;
		for (int64_t i = 0; i < n; i++)
			memcpy(l->v + (size_t)i * len, s.u.l->v, len * sizeof(struct val));
		l->len = (uint32_t)(len * (uint64_t)n);
		*out = fb_map_list_val(l, s.t == VT_TUPLE);
		return 0;
	}
}

static int
ipow(struct ctx *c, int64_t b, int64_t e, struct val *out)
{
	int64_t r = 1;

	while (e > 0) {
		if ((e & 1) != 0 && __builtin_mul_overflow(r, b, &r))
			return overflow(c);
		e >>= 1;
		if (e > 0 && __builtin_mul_overflow(b, b, &b))
			return overflow(c);
	}
	*out = fb_map_int(r);
	return 0;
}

/* Python's float divmod. */
static void
fdivmod(double x, double y, double *fdiv, double *fmodv)
{
	double mod = fmod(x, y), div = (x - mod) / y, fl;

	if (mod < 0 || mod > 0) {
		if ((y < 0) != (mod < 0)) {
			mod += y;
			div -= 1.0;
		}
	} else {
		mod = copysign(0.0, y);
	}
	if (div < 0 || div > 0) {
		fl = floor(div);
		if (div - fl > 0.5)
			fl += 1.0;
	} else {
		fl = copysign(0.0, x / y);
	}
	*fdiv = fl;
	*fmodv = mod;
}

static int
binop(struct ctx *c, int op, struct val a, struct val b, struct val *out)
{
	if (is_intlike(a) && is_intlike(b)) {
		int64_t x = a.u.i, y = b.u.i, r;

		switch (op) {
		case OP_ADD:
			if (__builtin_add_overflow(x, y, &r))
				return overflow(c);
			*out = fb_map_int(r);
			return 0;
		case OP_SUB:
			if (__builtin_sub_overflow(x, y, &r))
				return overflow(c);
			*out = fb_map_int(r);
			return 0;
		case OP_MUL:
			if (__builtin_mul_overflow(x, y, &r))
				return overflow(c);
			*out = fb_map_int(r);
			return 0;
		case OP_DIV:
			if (y == 0)
				return fb_map_rt_error(c, FB_MAP_EZERODIV, "division by zero");
			*out = fb_map_float((double)x / (double)y);
			return 0;
		case OP_FLOORDIV:
		case OP_MOD:
			if (y == 0)
				return fb_map_rt_error(c, FB_MAP_EZERODIV, "integer %s by zero",
				    op == OP_MOD ? "modulo" : "division");
			if (x == INT64_MIN && y == -1) {
				if (op == OP_MOD) {
					*out = fb_map_int(0);
					return 0;
				}
				return overflow(c);
			}
			r = x / y;
			if ((x % y != 0) && ((x < 0) != (y < 0)))
				r--;
			*out = fb_map_int(op == OP_FLOORDIV ? r : x - r * y);
			return 0;
		case OP_POW:
			if (y < 0) {
				if (x == 0)
					return fb_map_rt_error(c, FB_MAP_EZERODIV,
					    "0 cannot be raised to a negative power");
				*out = fb_map_float(pow((double)x, (double)y));
				return 0;
			}
			return ipow(c, x, y, out);
		default:
			break;
		}
	}
	if (is_num(a) && is_num(b)) {
		double x = as_double(a), y = as_double(b), d, m;

		switch (op) {
		case OP_ADD:
			*out = fb_map_float(x + y);
			return 0;
		case OP_SUB:
			*out = fb_map_float(x - y);
			return 0;
		case OP_MUL:
			*out = fb_map_float(x * y);
			return 0;
		case OP_DIV:
			if (!(y < 0 || y > 0))
				return fb_map_rt_error(c, FB_MAP_EZERODIV,
				    "float division by zero");
			*out = fb_map_float(x / y);
			return 0;
		case OP_FLOORDIV:
		case OP_MOD:
			if (!(y < 0 || y > 0))
				return fb_map_rt_error(c, FB_MAP_EZERODIV, "float %s by zero",
				    op == OP_MOD ? "modulo" : "floor division");
			fdivmod(x, y, &d, &m);
			*out = fb_map_float(op == OP_FLOORDIV ? d : m);
			return 0;
		case OP_POW:
			if (!(x < 0 || x > 0) && y < 0)
				return fb_map_rt_error(c, FB_MAP_EZERODIV,
				    "0.0 cannot be raised to a negative power");
			if (x < 0 && floor(y) < y)
				return fb_map_rt_error(c, FB_MAP_EVALUE,
				    "a negative number cannot be raised to a fractional power");
			*out = fb_map_float(pow(x, y));
			return 0;
		default:
			break;
		}
	}
	if (op == OP_ADD && a.t == VT_STR && b.t == VT_STR) {
		char *p;

		if ((size_t)a.n + b.n > UINT32_MAX - 8)
			return fb_map_rt_error(c, FB_MAP_EBUDGET,
			    "memory budget exceeded (%zu bytes)", c->mem_limit);
		if ((p = fb_map_str_alloc(c, (size_t)a.n + b.n)) == NULL ||
		    fb_map_charge_bytes(c, (size_t)a.n + b.n) != 0)
			return -1;
		memcpy(p, a.u.s, a.n);
		memcpy(p + a.n, b.u.s, b.n);
		*out = fb_map_str(p, (size_t)a.n + b.n);
		return 0;
	}
	if (op == OP_ADD && a.t == b.t && (a.t == VT_LIST || a.t == VT_TUPLE)) {
		uint64_t n = (uint64_t)a.u.l->len + b.u.l->len;
		struct list *l;

		if (n > UINT32_MAX / 2)
			return fb_map_rt_error(c, FB_MAP_EBUDGET,
			    "memory budget exceeded (%zu bytes)", c->mem_limit);
		if ((l = fb_map_list_new(c, (uint32_t)n)) == NULL ||
		    fb_map_charge(c, (int64_t)(n / 8)) != 0)
			return -1;
		if (a.u.l->len > 0)
			memcpy(l->v, a.u.l->v, a.u.l->len * sizeof(struct val));
		if (b.u.l->len > 0)
			memcpy(l->v + a.u.l->len, b.u.l->v, b.u.l->len * sizeof(struct val));
		l->len = (uint32_t)n;
		*out = fb_map_list_val(l, a.t == VT_TUPLE);
		return 0;
	}
	if (op == OP_MUL && is_intlike(b) && (a.t == VT_STR || a.t == VT_LIST || a.t == VT_TUPLE))
		return repeat(c, a, b.u.i, out);
	if (op == OP_MUL && is_intlike(a) && (b.t == VT_STR || b.t == VT_LIST || b.t == VT_TUPLE))
		return repeat(c, b, a.u.i, out);
	return binop_type_error(c, op, a, b);
}

static int
unary(struct ctx *c, int op, struct val a, struct val *out)
{
	if (is_intlike(a)) {
		if (op == OP_NEG && a.u.i == INT64_MIN)
			return overflow(c);
		*out = fb_map_int(op == OP_NEG ? -a.u.i : a.u.i);
		return 0;
	}
	if (a.t == VT_FLOAT) {
		*out = fb_map_float(op == OP_NEG ? -a.u.f : a.u.f);
		return 0;
	}
	return fb_map_rt_error(c, FB_MAP_ETYPE, "bad operand type for unary %s: '%s'",
	    op == OP_NEG ? "-" : "+", fb_map_type_name(a));
}

/* x in container: -1 error, 0, 1. */
static int
contains(struct ctx *c, struct val x, struct val in)
{
	switch (in.t) {
	case VT_STR:
		if (x.t != VT_STR)
			return fb_map_rt_error(c, FB_MAP_ETYPE,
			    "'in <string>' requires string as left operand, not %s",
			    fb_map_type_name(x));
		if (fb_map_charge_bytes(c, in.n) != 0)
			return -1;
		if (x.n == 0)
			return 1;
		return memmem(in.u.s, in.n, x.u.s, x.n) != NULL;
	case VT_LIST:
	case VT_TUPLE:
		for (uint32_t i = 0; i < in.u.l->len; i++) {
			int r;

			if (fb_map_charge(c, 1) != 0)
				return -1;
			if ((r = fb_map_equal(c, x, in.u.l->v[i])) != 0)
				return r;
		}
		return 0;
	case VT_DICT: {
		struct val v;

		if (x.t != VT_STR)
			return 0;
		return fb_map_dict_lookup(c, in.u.d, x.u.s, x.n, &v);
	}
	case VT_RANGE: {
		const struct range *r = in.u.r;

		if (!is_intlike(x) &&
		    !(x.t == VT_FLOAT && floor(x.u.f) == x.u.f && fabs(x.u.f) < 9.2e18))
			return 0;
		{
			int64_t v = x.t == VT_FLOAT ? (int64_t)x.u.f : x.u.i;

			if (r->step > 0 ? (v < r->start || v >= r->stop)
			                : (v > r->start || v <= r->stop))
				return 0;
			return ((uint64_t)v - (uint64_t)r->start) %
			           (uint64_t)(r->step > 0 ? r->step : -r->step) ==
			       0;
		}
	}
	default:
		return fb_map_rt_error(c, FB_MAP_ETYPE, "argument of type '%s' is not iterable",
		    fb_map_type_name(in));
	}
}

static int
identical(struct val a, struct val b)
{
	if (a.t != b.t)
		return 0;
	switch (a.t) {
	case VT_NONE:
		return 1;
	case VT_BOOL:
	case VT_INT:
		return a.u.i == b.u.i;
	case VT_FLOAT:
		return memcmp(&a.u.f, &b.u.f, sizeof(double)) == 0;
	case VT_STR:
		return a.n == b.n && memcmp(a.u.s, b.u.s, a.n) == 0;
	case VT_TYPE:
		return a.n == b.n;
	default:
		return a.u.l == b.u.l;
	}
}

static int
cmp_op(struct ctx *c, int op, struct val a, struct val b)
{
	static const char *const names[] = {"==", "!=", "<", "<=", ">", ">="};
	int r;

	switch (op) {
	case CMP_EQ:
		return fb_map_equal(c, a, b);
	case CMP_NE:
		r = fb_map_equal(c, a, b);
		return r < 0 ? -1 : !r;
	case CMP_IN:
		return contains(c, a, b);
	case CMP_NOTIN:
		r = contains(c, a, b);
		return r < 0 ? -1 : !r;
	case CMP_IS:
		return identical(a, b);
	case CMP_ISNOT:
		return !identical(a, b);
	default:
		/* nan compares false with everything */
		if ((a.t == VT_FLOAT && isnan(a.u.f)) || (b.t == VT_FLOAT && isnan(b.u.f))) {
			if (is_num(a) && is_num(b))
				return 0;
		}
		r = fb_map_compare(c, a, b, names[op]);
		if (r == -2)
			return -1;
		switch (op) {
		case CMP_LT:
			return r < 0;
		case CMP_LE:
			return r <= 0;
		case CMP_GT:
			return r > 0;
		default:
			return r >= 0;
		}
	}
}

/* ---- indexing --------------------------------------------------------------------- */

static int
index_int(struct ctx *c, struct val k, const char *what, int64_t *out)
{
	if (!is_intlike(k))
		return fb_map_rt_error(c, FB_MAP_ETYPE, "%s indices must be integers, not %s", what,
		    fb_map_type_name(k));
	*out = k.u.i;
	return 0;
}

static int
getitem(struct ctx *c, struct val a, struct val k, struct val *out)
{
	int64_t i = 0, len;

	switch (a.t) {
	case VT_LIST:
	case VT_TUPLE:
		if (index_int(c, k, fb_map_type_name(a), &i) != 0)
			return -1;
		len = a.u.l->len;
		if (i < 0)
			i += len;
		if (i < 0 || i >= len)
			return fb_map_rt_error(c, FB_MAP_EINDEX,
			    "%s index out of range (index %lld, length %lld)", fb_map_type_name(a),
			    (long long)k.u.i, (long long)len);
		*out = a.u.l->v[i];
		return 0;
	case VT_STR: {
		size_t b, e;

		if (index_int(c, k, "string", &i) != 0)
			return -1;
		if (fb_map_charge_bytes(c, a.n) != 0)
			return -1;
		len = fb_map_is_ascii(a.u.s, a.n) ? (int64_t)a.n
		                                  : (int64_t)fb_utf8_len(a.u.s, a.n);
		if (i < 0)
			i += len;
		if (i < 0 || i >= len)
			return fb_map_rt_error(c, FB_MAP_EINDEX,
			    "string index out of range (index %lld, length %lld)", (long long)k.u.i,
			    (long long)len);
		if (len == (int64_t)a.n) {
			*out = fb_map_str(a.u.s + i, 1);
			return 0;
		}
		b = fb_utf8_offset(a.u.s, a.n, (size_t)i);
		e = fb_utf8_offset(a.u.s, a.n, (size_t)i + 1);
		*out = fb_map_str(a.u.s + b, e - b);
		return 0;
	}
	case VT_DICT: {
		int found = k.t == VT_STR ? fb_map_dict_lookup(c, a.u.d, k.u.s, k.n, out) : 0;
		struct sbuf b;

		if (found != 0)
			return found < 0 ? -1 : 0;
		fb_map_sb_init(&b, c);
		if (fb_map_sb_repr(&b, k) != 0)
			return -1;
		return fb_map_rt_error(c, FB_MAP_EKEY, "%.*s%s", b.len > 200 ? 200 : (int)b.len,
		    b.p, b.len > 200 ? "..." : "");
	}
	case VT_RANGE: {
		const struct range *r = a.u.r;

		if (index_int(c, k, "range", &i) != 0)
			return -1;
		len = fb_map_range_len(r);
		if (i < 0)
			i += len;
		if (i < 0 || i >= len)
			return fb_map_rt_error(c, FB_MAP_EINDEX, "range object index out of range");
		*out = fb_map_int((int64_t)((uint64_t)r->start + (uint64_t)i * (uint64_t)r->step));
		return 0;
	}
	default:
		return fb_map_rt_error(c, FB_MAP_ETYPE, "'%s' object is not subscriptable",
		    fb_map_type_name(a));
	}
}

static int
setitem(struct ctx *c, struct val a, struct val k, struct val v)
{
	int64_t i = 0;

	if ((a.t == VT_LIST || a.t == VT_DICT) && fb_map_check_mutable(c, a) != 0)
		return -1;
	switch (a.t) {
	case VT_LIST:
		if (index_int(c, k, "list", &i) != 0)
			return -1;
		if (i < 0)
			i += a.u.l->len;
		if (i < 0 || i >= a.u.l->len)
			return fb_map_rt_error(c, FB_MAP_EINDEX,
			    "list assignment index out of range");
		a.u.l->v[i] = v;
		return 0;
	case VT_DICT:
		if (k.t != VT_STR)
			return fb_map_rt_error(c, FB_MAP_ETYPE, "dict keys must be str, not %s",
			    fb_map_type_name(k));
		return fb_map_dict_set(c, a.u.d, k.u.s, k.n, v);
	default:
		return fb_map_rt_error(c, FB_MAP_ETYPE,
		    "'%s' object does not support item assignment", fb_map_type_name(a));
	}
}

/* Python's slice.indices(): clamps start/stop to the length for the step's direction. */
static int
slice_bounds(struct ctx *c, const struct val *parts, int64_t len, int64_t *start, int64_t *stop,
    int64_t *step)
{
	int64_t st = 1;

	for (int i = 0; i < 3; i++)
		if (parts[i].t != VT_NONE && !is_intlike(parts[i]))
			return fb_map_rt_error(c, FB_MAP_ETYPE,
			    "slice indices must be integers or None, not %s",
			    fb_map_type_name(parts[i]));
	if (parts[2].t != VT_NONE) {
		st = parts[2].u.i;
		if (st == 0)
			return fb_map_rt_error(c, FB_MAP_EVALUE, "slice step cannot be zero");
		if (st == INT64_MIN)
			st = -INT64_MAX;
	}
	if (parts[0].t == VT_NONE) {
		*start = st < 0 ? len - 1 : 0;
	} else {
		*start = parts[0].u.i;
		if (*start < 0) {
			*start = *start < -len ? (st < 0 ? -1 : 0) : *start + len;
		} else if (*start >= len) {
			*start = st < 0 ? len - 1 : len;
		}
	}
	if (parts[1].t == VT_NONE) {
		*stop = st < 0 ? -1 : len;
	} else {
		*stop = parts[1].u.i;
		if (*stop < 0) {
			*stop = *stop < -len ? (st < 0 ? -1 : 0) : *stop + len;
		} else if (*stop >= len) {
			*stop = st < 0 ? len - 1 : len;
		}
	}
	*step = st;
	return 0;
}

static __attribute__((noinline)) int
slice(struct ctx *c, struct val a, const struct val *parts, struct val *out)
{
	int64_t len, start = 0, stop = 0, step = 1, n;

	if (a.t != VT_LIST && a.t != VT_TUPLE && a.t != VT_STR)
		return fb_map_rt_error(c, FB_MAP_ETYPE, "'%s' object cannot be sliced",
		    fb_map_type_name(a));
	if (a.t == VT_STR) {
		if (fb_map_charge_bytes(c, a.n) != 0)
			return -1;
		len = fb_map_is_ascii(a.u.s, a.n) ? (int64_t)a.n
		                                  : (int64_t)fb_utf8_len(a.u.s, a.n);
	} else {
		len = a.u.l->len;
	}
	if (slice_bounds(c, parts, len, &start, &stop, &step) != 0)
		return -1;
	if (step > 0)
		n = start < stop ? (stop - start - 1) / step + 1 : 0;
	else
		n = start > stop ? (start - stop - 1) / (-step) + 1 : 0;
	if (a.t == VT_STR) {
		struct sbuf b;

		if (step == 1) {
			size_t bs = len == (int64_t)a.n
			                ? (size_t)start
			                : fb_utf8_offset(a.u.s, a.n, (size_t)start);
			size_t be = len == (int64_t)a.n
			                ? (size_t)(start + n)
			                : fb_utf8_offset(a.u.s, a.n, (size_t)(start + n));

			*out = fb_map_str(a.u.s + bs, n > 0 ? be - bs : 0);
			return 0;
		}
		fb_map_sb_init(&b, c);
		for (int64_t i = 0, k = start; i < n; i++, k += step) {
			size_t bs = len == (int64_t)a.n ? (size_t)k
			                                : fb_utf8_offset(a.u.s, a.n, (size_t)k);
			size_t be = len == (int64_t)a.n
			                ? bs + 1
			                : fb_utf8_offset(a.u.s, a.n, (size_t)k + 1);

			if (fb_map_sb_add(&b, a.u.s + bs, be - bs) != 0 || fb_map_charge(c, 1) != 0)
				return -1;
		}
		*out = fb_map_sb_val(&b);
		return 0;
	} else {
		struct list *l = fb_map_list_new(c, (uint32_t)n);

		if (l == NULL || fb_map_charge(c, n / 8) != 0)
			return -1;
		for (int64_t i = 0, k = start; i < n; i++, k += step)
			l->v[i] = a.u.l->v[k];
		l->len = (uint32_t)n;
		*out = fb_map_list_val(l, a.t == VT_TUPLE);
		return 0;
	}
}

/* ---- expressions ---------------------------------------------------------------------- */

static int assign(struct ctx *c, const struct node *t, struct val v);

static __attribute__((noinline)) int
comp(struct ctx *c, const struct node *n, int k, struct val *res)
{
	const struct node *cl;
	struct val v;

	if (k == n->n) {
		if (n->k == E_LISTCOMP) {
			if (ev(c, n->a, &v) != 0)
				return -1;
			return fb_map_list_push(c, res->u.l, v);
		} else {
			struct val key;

			if (ev(c, n->a, &key) != 0 || ev(c, n->b, &v) != 0)
				return -1;
			if (key.t != VT_STR) {
				fb_map_rt_error(c, FB_MAP_ETYPE, "dict keys must be str, not %s",
				    fb_map_type_name(key));
				return fail_at(c, n->a);
			}
			return fb_map_dict_set(c, res->u.d, key.u.s, key.n, v);
		}
	}
	cl = n->kids[k];
	if (cl->k == E_COMPIF) {
		if (ev(c, cl->a, &v) != 0)
			return -1;
		return fb_map_truthy(v) ? comp(c, n, k + 1, res) : 0;
	} else {
		struct iter it;
		int r;

		if (ev(c, cl->b, &v) != 0)
			return -1;
		if (fb_map_iter_init(c, v, &it) != 0)
			return fail_at(c, cl->b);
		while ((r = fb_map_iter_next(c, &it, &v)) == 1) {
			if (fb_map_charge(c, 1) != 0)
				return fail_at(c, cl);
			if (cl->a->k == E_LOCAL)
				c->slots[cl->a->slot] = v;
			else if (assign(c, cl->a, v) != 0)
				return fail_at(c, cl);
			if (comp(c, n, k + 1, res) != 0)
				return -1;
		}
		return r < 0 ? fail_at(c, cl) : 0;
	}
}

static int
eval_args(struct ctx *c, const struct node *n, struct val *args, struct val *kw)
{
	for (int i = 0; i < n->n; i++)
		if (ev(c, n->kids[i], &args[i]) != 0)
			return -1;
	for (int i = 0; i < n->nkw; i++)
		if (ev(c, n->kw[i], &kw[i]) != 0)
			return -1;
	return 0;
}

static __attribute__((noinline)) int
fstring(struct ctx *c, const struct node *n, struct val *out)
{
	struct sbuf b;
	size_t guess = 0;

	fb_map_sb_init(&b, c);
	/* One allocation in the common case: the constant text plus a little per field. */
	for (int i = 0; i < n->n; i++)
		guess += n->kids[i]->k == E_CONST ? n->kids[i]->v.n : 16;
	if ((b.p = fb_map_alloc(c, guess)) == NULL)
		return -1;
	b.cap = guess;
	for (int i = 0; i < n->n; i++) {
		const struct node *p = n->kids[i];
		struct val v, spec = fb_map_str("", 0), s;

		if (p->k == E_CONST) {
			if (fb_map_sb_add(&b, p->v.u.s, p->v.n) != 0)
				return fail_at(c, p);
			continue;
		}
		if (ev(c, p->a, &v) != 0)
			return -1;
		if (p->slot == 'r' || p->slot == 'a') {
			struct sbuf r;

			fb_map_sb_init(&r, c);
			if (fb_map_sb_repr(&r, v) != 0)
				return fail_at(c, p);
			v = fb_map_sb_val(&r);
		} else if (p->slot == 's') {
			if (fb_map_to_str(c, v, &v) != 0)
				return fail_at(c, p);
		}
		if (p->b != NULL && ev(c, p->b, &spec) != 0)
			return -1;
		if (v.t == VT_STR && spec.n == 0)
			s = v;
		else if (fb_map_format(c, v, spec.u.s, spec.n, &s) != 0)
			return fail_at(c, p);
		if (fb_map_sb_add(&b, s.u.s, s.n) != 0)
			return fail_at(c, p);
	}
	*out = fb_map_sb_val(&b);
	return 0;
}

/* Builtin and method calls, out of line: their argument arrays stay off the hot frame. */
static __attribute__((noinline)) int
eval_call(struct ctx *c, const struct node *n, struct val *out)
{
	struct val args[8], kw[8], *ap = args, *kp = kw, self = {0};
	int r;

	if (n->n > 8 && (ap = fb_map_alloc(c, n->n * sizeof(*ap))) == NULL)
		return fail_at(c, n);
	if (n->nkw > 8 && (kp = fb_map_alloc(c, n->nkw * sizeof(*kp))) == NULL)
		return fail_at(c, n);
	if (n->k == E_METHOD && ev(c, n->a, &self) != 0)
		return -1;
	if (eval_args(c, n, ap, kp) != 0)
		return -1;
	if (n->k == E_BUILTIN)
		r = fb_map_call_builtin(c, n, ap, n->n, kp, out);
	else
		r = fb_map_call_method(c, n, self, ap, n->n, kp, out);
	return r != 0 ? fail_at(c, n) : 0;
}

int
fb_map_eval(struct ctx *c, const struct node *n, struct val *out)
{
	struct val a, b;
	int r;

	/* SECURITY: one step per node evaluated: no rule runs for ever. */
	if (--c->steps < 0) {
		fb_map_rt_error(c, FB_MAP_EBUDGET, "step budget exceeded");
		return fail_at(c, n);
	}
	switch (n->k) {
	case E_CONST:
		*out = n->v;
		return 0;
	case E_LOCAL:
		*out = c->slots[n->slot];
		if (out->t == VT_UNBOUND) {
			fb_map_rt_error(c, FB_MAP_ENAME,
			    "local variable '%s' is used before it is assigned a value", n->name);
			return fail_at(c, n);
		}
		return 0;
	case E_USER:
		if (global_obj(c, &c->user, VT_USER, c->juser, out) != 0)
			return fail_at(c, n);
		return 0;
	case E_REQUEST:
		if (global_obj(c, &c->request, VT_REQUEST, c->jrequest, out) != 0)
			return fail_at(c, n);
		return 0;
	case E_UPSTREAM:
		if (get_upstream(c, out) != 0)
			return fail_at(c, n);
		return 0;
	case E_ATTR:
		if (ev(c, n->a, &a) != 0)
			return -1;
		if (a.t == VT_GROUP && n->slot == A_NAME && a.u.o->f[0].t != VT_UNBOUND) {
			*out = a.u.o->f[0]; /* the hot path of loops over user.groups */
			return 0;
		}
		if (a.t == VT_GROUP && n->slot == A_ATTRIBUTES && a.u.o->f[1].t != VT_UNBOUND) {
			*out = a.u.o->f[1];
			return 0;
		}
		if (a.t != VT_USER && a.t != VT_GROUP && a.t != VT_REQUEST) {
			fb_map_rt_error(c, FB_MAP_EATTRIBUTE, "'%s' object has no attribute '%s'",
			    fb_map_type_name(a), n->name);
			return fail_at(c, n);
		}
		if (fb_map_obj_field(c, a, (enum attr)n->slot, out) != 0)
			return fail_at(c, n);
		return 0;
	case E_UNARY:
		if (ev(c, n->a, &a) != 0)
			return -1;
		if (unary(c, n->op, a, out) != 0)
			return fail_at(c, n);
		return 0;
	case E_BINOP:
		if (ev(c, n->a, &a) != 0 || ev(c, n->b, &b) != 0)
			return -1;
		if (binop(c, n->op, a, b, out) != 0)
			return fail_at(c, n);
		return 0;
	case E_AND:
		if (ev(c, n->a, &a) != 0)
			return -1;
		if (!fb_map_truthy(a)) {
			*out = a;
			return 0;
		}
		return ev(c, n->b, out);
	case E_OR:
		if (ev(c, n->a, &a) != 0)
			return -1;
		if (fb_map_truthy(a)) {
			*out = a;
			return 0;
		}
		return ev(c, n->b, out);
	case E_NOT:
		if (ev(c, n->a, &a) != 0)
			return -1;
		*out = fb_map_bool(!fb_map_truthy(a));
		return 0;
	case E_COMPARE:
		if (ev(c, n->kids[0], &a) != 0)
			return -1;
		for (int i = 1; i < n->n; i++) {
			if (ev(c, n->kids[i], &b) != 0)
				return -1;
			if ((r = cmp_op(c, n->ops[i - 1], a, b)) < 0)
				return fail_at(c, n);
			if (r == 0) {
				*out = fb_map_bool(0);
				return 0;
			}
			a = b;
		}
		*out = fb_map_bool(1);
		return 0;
	case E_IFEXP:
		if (ev(c, n->a, &a) != 0)
			return -1;
		return ev(c, fb_map_truthy(a) ? n->b : n->c, out);
	case E_LIST:
	case E_TUPLE: {
		struct list *l = fb_map_list_new(c, n->n);

		if (l == NULL)
			return fail_at(c, n);
		for (int i = 0; i < n->n; i++)
			if (ev(c, n->kids[i], &l->v[i]) != 0)
				return -1;
		l->len = n->n;
		*out = fb_map_list_val(l, n->k == E_TUPLE);
		return 0;
	}
	case E_DICT: {
		struct dict *d = fb_map_dict_new(c, n->n / 2);

		if (d == NULL)
			return fail_at(c, n);
		for (int i = 0; i + 1 < n->n; i += 2) {
			if (ev(c, n->kids[i + 1], &b) != 0)
				return -1;
			if (n->kids[i] == NULL) {
				if (b.t != VT_DICT) {
					fb_map_rt_error(c, FB_MAP_ETYPE,
					    "'%s' object is not a mapping (after **)",
					    fb_map_type_name(b));
					return fail_at(c, n->kids[i + 1]);
				}
				if (fb_map_dict_force(c, b.u.d) != 0)
					return fail_at(c, n);
				for (uint32_t k = 0; k < b.u.d->len; k++)
					if (fb_map_dict_set(c, d, b.u.d->e[k].k, b.u.d->e[k].klen,
					        b.u.d->e[k].v) != 0)
						return fail_at(c, n);
				continue;
			}
			if (ev(c, n->kids[i], &a) != 0)
				return -1;
			if (a.t != VT_STR) {
				fb_map_rt_error(c, FB_MAP_ETYPE, "dict keys must be str, not %s",
				    fb_map_type_name(a));
				return fail_at(c, n->kids[i]);
			}
			if (fb_map_dict_set(c, d, a.u.s, a.n, b) != 0)
				return fail_at(c, n);
		}
		*out = fb_map_dict_val(d);
		return 0;
	}
	case E_INDEX:
		if (ev(c, n->a, &a) != 0 || ev(c, n->b, &b) != 0)
			return -1;
		if (getitem(c, a, b, out) != 0)
			return fail_at(c, n);
		return 0;
	case E_SLICE: {
		struct val parts[3];

		if (ev(c, n->a, &a) != 0)
			return -1;
		for (int i = 0; i < 3; i++) {
			parts[i] = fb_map_none();
			if (n->kids[i] != NULL && ev(c, n->kids[i], &parts[i]) != 0)
				return -1;
		}
		if (slice(c, a, parts, out) != 0)
			return fail_at(c, n);
		return 0;
	}
	case E_BUILTIN:
	case E_METHOD:
		return eval_call(c, n, out);
	case E_FSTRING:
		if (fstring(c, n, out) != 0)
			return fail_at(c, n);
		return 0;
	case E_LISTCOMP: {
		struct list *l = fb_map_list_new(c, 0);

		if (l == NULL)
			return fail_at(c, n);
		*out = fb_map_list_val(l, 0);
		return comp(c, n, 0, out) != 0 ? fail_at(c, n) : 0;
	}
	case E_DICTCOMP: {
		struct dict *d = fb_map_dict_new(c, 0);

		if (d == NULL)
			return fail_at(c, n);
		*out = fb_map_dict_val(d);
		return comp(c, n, 0, out) != 0 ? fail_at(c, n) : 0;
	}
	default:
		fb_map_rt_error(c, FB_MAP_EVALUE, "internal error: node %d", n->k);
		return fail_at(c, n);
	}
}

/* ---- statements ---------------------------------------------------------------------- */

static int
unpack(struct ctx *c, const struct node *t, struct val v)
{
	struct val tmp[16], *items = tmp;
	uint32_t n = 0;

	if (v.t == VT_LIST || v.t == VT_TUPLE) {
		items = v.u.l->v;
		n = v.u.l->len;
	} else {
		struct iter it;
		struct val x;
		int r;

		if (v.t != VT_STR && v.t != VT_DICT && v.t != VT_RANGE)
			return fb_map_rt_error(c, FB_MAP_ETYPE,
			    "cannot unpack non-iterable %s object", fb_map_type_name(v));
		if (fb_map_iter_init(c, v, &it) != 0)
			return -1;
		while ((r = fb_map_iter_next(c, &it, &x)) == 1) {
			if (n >= t->n || n >= 16)
				return fb_map_rt_error(c, FB_MAP_EVALUE,
				    "too many values to unpack (expected %d)", t->n);
			tmp[n++] = x;
		}
		if (r < 0)
			return -1;
	}
	if (n != t->n)
		return fb_map_rt_error(c, FB_MAP_EVALUE,
		    n > t->n ? "too many values to unpack (expected %d, got %u)"
		             : "not enough values to unpack (expected %d, got %u)",
		    t->n, n);
	/* Copy first: the targets may change the list being unpacked. */
	if (items != tmp && n > 0) {
		struct val *copy = n <= 16 ? tmp : fb_map_alloc(c, n * sizeof(*copy));

		if (copy == NULL)
			return -1;
		memcpy(copy, items, n * sizeof(*copy));
		items = copy;
	}
	for (uint32_t i = 0; i < n; i++)
		if (assign(c, t->kids[i], items[i]) != 0)
			return -1;
	return 0;
}

static int
assign(struct ctx *c, const struct node *t, struct val v)
{
	struct val a, k;

	switch (t->k) {
	case E_LOCAL:
		c->slots[t->slot] = v;
		return 0;
	case E_INDEX:
		if (ev(c, t->a, &a) != 0 || ev(c, t->b, &k) != 0)
			return -1;
		if (setitem(c, a, k, v) != 0)
			return fail_at(c, t);
		return 0;
	case E_TUPLE:
	case E_LIST:
		if (unpack(c, t, v) != 0)
			return fail_at(c, t);
		return 0;
	default:
		fb_map_rt_error(c, FB_MAP_EVALUE, "internal error: bad target");
		return fail_at(c, t);
	}
}

/* list += iterable extends the list in place (Python's list.__iadd__). */
static int
extend(struct ctx *c, struct list *l, struct val v)
{
	struct iter it;
	struct val x;
	int r;

	if (v.t == VT_LIST || v.t == VT_TUPLE) {
		uint32_t n = v.u.l->len; /* l += l doubles once */

		for (uint32_t i = 0; i < n; i++)
			if (fb_map_list_push(c, l, v.u.l->v[i]) != 0)
				return -1;
		return fb_map_charge(c, n / 8);
	}
	if (fb_map_iter_init(c, v, &it) != 0)
		return -1;
	while ((r = fb_map_iter_next(c, &it, &x)) == 1)
		if (fb_map_charge(c, 1) != 0 || fb_map_list_push(c, l, x) != 0)
			return -1;
	return r;
}

int
fb_map_list_extend(struct ctx *c, struct list *l, struct val v)
{
	return extend(c, l, v);
}

static int
exec(struct ctx *c, const struct node *n)
{
	struct val a, b, k;
	int r;

	switch (n->k) {
	case S_BLOCK:
		for (int i = 0; i < n->n; i++)
			if ((r = exec(c, n->kids[i])) != X_NORMAL)
				return r;
		return X_NORMAL;
	case S_EXPR:
		return ev(c, n->a, &a) != 0 ? X_ERROR : X_NORMAL;
	case S_ASSIGN:
		if (ev(c, n->b, &b) != 0)
			return X_ERROR;
		for (int i = 0; i < n->n; i++)
			if (assign(c, n->kids[i], b) != 0)
				return X_ERROR;
		return X_NORMAL;
	case S_AUG: {
		const struct node *t = n->a;

		if (t->k == E_LOCAL) {
			if (ev(c, t, &a) != 0 || ev(c, n->b, &b) != 0)
				return X_ERROR;
			if (n->op == OP_ADD && a.t == VT_LIST && a.u.l->frozen == 0) {
				if (extend(c, a.u.l, b) != 0)
					return fail_at(c, n);
				return X_NORMAL;
			}
			if (binop(c, n->op, a, b, &c->slots[t->slot]) != 0)
				return fail_at(c, n);
			return X_NORMAL;
		}
		/* obj[key] op= value: obj and key evaluated once */
		if (t->k != E_INDEX) {
			fb_map_rt_error(c, FB_MAP_EVALUE, "internal error: bad target");
			return fail_at(c, n);
		}
		if (ev(c, t->a, &a) != 0 || ev(c, t->b, &k) != 0)
			return X_ERROR;
		{
			struct val cur, res;

			if (getitem(c, a, k, &cur) != 0)
				return fail_at(c, t);
			if (ev(c, n->b, &b) != 0)
				return X_ERROR;
			if (n->op == OP_ADD && cur.t == VT_LIST && cur.u.l->frozen == 0) {
				if (extend(c, cur.u.l, b) != 0)
					return fail_at(c, n);
				return X_NORMAL;
			}
			if (binop(c, n->op, cur, b, &res) != 0 || setitem(c, a, k, res) != 0)
				return fail_at(c, n);
		}
		return X_NORMAL;
	}
	case S_RETURN:
		c->retline = n->line;
		c->retcol = n->col;
		if (n->a == NULL)
			c->ret = fb_map_none();
		else if (ev(c, n->a, &c->ret) != 0)
			return X_ERROR;
		return X_RETURN;
	case S_IF:
		if (ev(c, n->a, &a) != 0)
			return X_ERROR;
		if (fb_map_truthy(a))
			return exec(c, n->b);
		return n->c != NULL ? exec(c, n->c) : X_NORMAL;
	case S_FOR: {
		struct iter it;

		if (ev(c, n->b, &a) != 0)
			return X_ERROR;
		if (fb_map_iter_init(c, a, &it) != 0)
			return fail_at(c, n->b);
		while ((r = fb_map_iter_next(c, &it, &b)) == 1) {
			if (fb_map_charge(c, 1) != 0)
				return fail_at(c, n);
			if (assign(c, n->a, b) != 0)
				return X_ERROR;
			r = exec(c, n->c);
			if (r == X_BREAK)
				break;
			if (r == X_RETURN || r == X_ERROR)
				return r;
		}
		if (r < 0)
			return fail_at(c, n);
		return X_NORMAL;
	}
	case S_PASS:
		return X_NORMAL;
	case S_BREAK:
		return X_BREAK;
	case S_CONTINUE:
		return X_CONTINUE;
	default:
		fb_map_rt_error(c, FB_MAP_EVALUE, "internal error: statement %d", n->k);
		return fail_at(c, n);
	}
}

int
fb_map_run(struct ctx *c)
{
	int r = exec(c, c->rule->body);

	if (r == X_ERROR)
		return -1;
	if (r != X_RETURN)
		c->ret = fb_map_none();
	return 0;
}
