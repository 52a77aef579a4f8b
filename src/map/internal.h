/* SPDX-License-Identifier: Apache-2.0 */
/* map/internal.h: the mapping engine's private types: tokens, syntax tree, values, evaluation. */
#ifndef FB_MAP_INTERNAL_H
#define FB_MAP_INTERNAL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/core.h"
#include "map/map.h"

/* Open brackets, nested expressions and nested blocks (the parser recurses). */
#define MAP_MAX_DEPTH 64
/* Indentation levels. */
#define MAP_MAX_INDENT 32
/* Values nested deeper than this (a list holding itself) stop repr, ==, sort and JSON output. */
#define MAP_MAX_VALUE_DEPTH 64
/* Most local variable slots in one rule. */
#define MAP_MAX_SLOTS 4096

/* ---- compile-time errors --------------------------------------------- */

/*
 * The lexer, parser and compiler stop at the first error with longjmp: all
 * they allocate is in the rule's arena, which the caller frees as a whole,
 * so there is nothing to unwind by hand.
 */
struct cerr {
	jmp_buf jb;
	enum fb_map_errkind kind;
	int line, col;
	char msg[400];
};

void fb_map_cerror(struct cerr *e, enum fb_map_errkind kind, int line, int col, const char *fmt,
    ...) FB_PRINTF(5, 6) __attribute__((noreturn));

/* ---- tokens ------------------------------------------------------------- */

enum tok {
	T_EOF = 0,
	T_NEWLINE,
	T_INDENT,
	T_DEDENT,
	T_NAME,
	T_INT,
	T_FLOAT,
	T_STRING,
	T_FSTRING,
	T_LPAR,
	T_RPAR,
	T_LSQB,
	T_RSQB,
	T_LBRACE,
	T_RBRACE,
	T_COMMA,
	T_COLON,
	T_DOT,
	T_SEMI,
	T_PLUS,
	T_MINUS,
	T_STAR,
	T_SLASH,
	T_DSLASH,
	T_PERCENT,
	T_DSTAR,
	T_EQ,
	T_NE,
	T_LT,
	T_LE,
	T_GT,
	T_GE,
	T_ASSIGN,
	T_PLUSEQ,
	T_MINUSEQ,
	T_STAREQ,
	T_SLASHEQ,
	T_DSLASHEQ,
	T_PERCENTEQ,
	T_BANG,  /* '!' (f-string conversions) */
	T_OTHER, /* an operator the language lacks (&, |, ->, :=, @ ...) */
	/* keywords */
	T_AND,
	T_OR,
	T_NOT,
	T_IN,
	T_IS,
	T_IF,
	T_ELIF,
	T_ELSE,
	T_FOR,
	T_RETURN,
	T_PASS,
	T_BREAK,
	T_CONTINUE,
	T_NONE,
	T_TRUE,
	T_FALSE,
	T_KEYWORD, /* a Python keyword the language lacks (import, def, while ...) */
};

struct token {
	enum tok t;
	int line, col;
	const char *p; /* the token's source text */
	size_t n;
	int64_t i; /* T_INT */
	double f;  /* T_FLOAT */
	char *s;   /* T_STRING: decoded text, in the rule arena */
	size_t slen;
	/* T_FSTRING: the raw text between the quotes, and where it starts. */
	const char *fp;
	size_t fn;
	int fline, fcol;
	int raw;
};

struct lexer {
	struct cerr *e;
	struct fb_arena *arena;
	const char *p, *end;
	int line, col;
	int fmode;  /* inside an f-string field: newlines and indentation ignored */
	int at_bol; /* at the start of a logical line */
	int done;   /* end of input reached and its NEWLINE sent */
	int indents[MAP_MAX_INDENT + 1];
	int nindent;
	int dedents; /* DEDENT tokens still to send */
	int depth;   /* open brackets */
	char bkind[MAP_MAX_DEPTH];
	int bline[MAP_MAX_DEPTH], bcol[MAP_MAX_DEPTH];
};

void fb_map_lex_init(struct lexer *lx, struct cerr *e, struct fb_arena *a, const char *src,
    size_t len, int line, int col, int fmode);
void fb_map_lex_next(struct lexer *lx, struct token *t);
/* Decodes a string literal's escapes (not raw): n bytes at p, positions for errors. */
char *fb_map_lex_unescape(struct lexer *lx, const char *p, size_t n, int line, int col,
    size_t *outlen);
/* The display name of a token kind, for messages ("')'", "end of line"). */
const char *fb_map_tok_name(enum tok t);

/* ---- values ------------------------------------------------------------- */

enum vtype {
	VT_UNBOUND = 0, /* an unassigned variable; never seen by rules */
	VT_NONE,
	VT_BOOL,
	VT_INT,
	VT_FLOAT,
	VT_STR,
	VT_LIST,
	VT_TUPLE,
	VT_DICT,
	VT_RANGE,
	VT_USER,
	VT_GROUP,
	VT_REQUEST,
	VT_TYPE, /* str, int, ... as values (isinstance); n is the vtype */
};

struct list;
struct dict;
struct range;
struct obj;

/* 16 bytes, passed by value. Strings are immutable and never NUL-terminated by contract. */
struct val {
	uint8_t t;
	uint32_t n; /* VT_STR: length in bytes; VT_TYPE: the vtype */
	union {
		int64_t i; /* VT_BOOL (0 or 1), VT_INT */
		double f;
		const char *s;
		struct list *l; /* VT_LIST, VT_TUPLE */
		struct dict *d;
		struct range *r;
		struct obj *o; /* VT_USER, VT_GROUP, VT_REQUEST */
	} u;
};

/*
 * Lists and dicts read from user, request or upstream are frozen: rules
 * read them but cannot change them (copy with list() or dict() first), so
 * one converted subject can serve many evaluations (FROZEN_SHARED: it
 * belongs to a struct fb_map_subject and is never written, not even its
 * hash index).
 */
#define FROZEN        1
#define FROZEN_SHARED 2

struct list {
	uint32_t len, cap;
	struct val *v;
	uint8_t frozen;
};

struct dent {
	const char *k;
	uint32_t klen;
	uint32_t hash;
	struct val v;
};

/* Insertion-ordered; keys are strings. An index is built once a dict grows past a few keys. */
struct dict {
	uint32_t len, cap;
	struct dent *e;
	uint32_t *idx; /* open addressing, entry number + 1, 0 empty */
	uint32_t icap;
	/*
	 * A dict read from JSON stays a view of the JSON object (borrowed)
	 * until something needs its entries: lookups of scalar values go
	 * straight to jansson, so reading a few attributes of a big user
	 * converts nothing. e/len are valid only once lazy is NULL.
	 */
	const json_t *lazy;
	uint8_t frozen;
};

struct range {
	int64_t start, stop, step;
};

/* Attributes of the exposed objects. */
enum attr {
	A_USERNAME = 0,
	A_NAME,
	A_EMAIL,
	A_UID,
	A_IS_ACTIVE,
	A_ATTRIBUTES,
	A_GROUPS,
	A_TYPE,
	A_UPSTREAM,
	A_COUNT,
};
/* The name of each attribute as rules write it (user.email) and as JSON holds it. */
extern const char *const fb_map_attr_names[A_COUNT];

/* user, a group, request: a view of borrowed JSON whose fields are converted when first read. */
struct obj {
	const json_t *j;
	struct val f[]; /* per kind, see fb_map_obj_slot(); VT_UNBOUND until read */
};

/* ---- syntax tree ---------------------------------------------------------- */

enum nkind {
	E_CONST = 0,
	E_NAME, /* unresolved (parser output) */
	E_LOCAL,
	E_USER,
	E_REQUEST,
	E_UPSTREAM,
	E_ATTR,
	E_UNARY,
	E_BINOP,
	E_AND,
	E_OR,
	E_NOT,
	E_COMPARE,
	E_IFEXP,
	E_LIST,
	E_TUPLE,
	E_DICT,
	E_INDEX,
	E_SLICE,
	E_CALL, /* unresolved (parser output) */
	E_BUILTIN,
	E_METHOD,
	E_FSTRING,
	E_FIELD,
	E_LISTCOMP,
	E_DICTCOMP,
	E_COMPFOR,
	E_COMPIF,
	S_BLOCK,
	S_EXPR,
	S_ASSIGN,
	S_AUG,
	S_RETURN,
	S_IF,
	S_FOR,
	S_PASS,
	S_BREAK,
	S_CONTINUE,
};

enum binop {
	OP_ADD = 0,
	OP_SUB,
	OP_MUL,
	OP_DIV,
	OP_FLOORDIV,
	OP_MOD,
	OP_POW,
	OP_NEG,
	OP_POS,
};

enum cmpop {
	CMP_EQ = 0,
	CMP_NE,
	CMP_LT,
	CMP_LE,
	CMP_GT,
	CMP_GE,
	CMP_IN,
	CMP_NOTIN,
	CMP_IS,
	CMP_ISNOT,
};

enum builtin {
	B_LEN = 0,
	B_STR,
	B_INT,
	B_FLOAT,
	B_BOOL,
	B_LIST,
	B_DICT,
	B_SORTED,
	B_REVERSED,
	B_ANY,
	B_ALL,
	B_MIN,
	B_MAX,
	B_RANGE,
	B_ISINSTANCE,
	B_RE_MATCH,
	B_RE_SUB,
	B_COUNT,
};

enum method {
	M_LOWER = 0,
	M_UPPER,
	M_STRIP,
	M_LSTRIP,
	M_RSTRIP,
	M_SPLIT,
	M_RSPLIT,
	M_JOIN,
	M_REPLACE,
	M_STARTSWITH,
	M_ENDSWITH,
	M_FORMAT,
	M_PARTITION,
	M_RPARTITION,
	M_FIND,
	M_COUNT,
	M_REMOVEPREFIX,
	M_REMOVESUFFIX,
	M_GET,
	M_KEYS,
	M_VALUES,
	M_ITEMS,
	M_UPDATE,
	M_APPEND,
	M_EXTEND,
	M_INDEX,
	M_GROUP_ATTRIBUTES,
	M_NUM,
};

/*
 * One node. Expressions: E_*; statements: S_*. Children by kind:
 *   E_ATTR a.name (slot = enum attr)  E_UNARY/E_BINOP op a [b]  E_AND/E_OR/E_NOT a b
 *   E_COMPARE kids[n], ops[n-1]        E_IFEXP b if a else c    E_LIST/E_TUPLE kids
 *   E_DICT kids = key, value pairs (key NULL: **value)          E_INDEX a[b]
 *   E_SLICE a[kids[0]:kids[1]:kids[2]] (each may be NULL)
 *   E_CALL a(kids, kw)   E_BUILTIN op(kids, kw)   E_METHOD a.name(kids, kw), op = method
 *   E_FSTRING kids = E_CONST strings and E_FIELD {a!slot:b}
 *   E_LISTCOMP [a kids]  E_DICTCOMP {a: b kids}, kids = E_COMPFOR (for a in b) / E_COMPIF (if a)
 *   S_BLOCK kids  S_EXPR a  S_ASSIGN kids = a = b (targets kids, value b)  S_AUG a op= b
 *   S_RETURN [a]  S_IF if a: b else: c  S_FOR for a in b: c
 */
struct node {
	uint8_t k;
	uint8_t op;
	uint16_t n;
	uint16_t nkw;
	int line, col;
	int slot;
	struct node *a, *b, *c;
	struct node **kids;
	struct node **kw;
	const char **kwname;
	const char *name;
	uint8_t *ops;
	struct val v;
	void *re; /* E_BUILTIN re_*: the constant pattern, compiled once */
};

struct node *fb_map_node_new(struct fb_arena *a, enum nkind k, int line, int col);

/* parser.c: source text -> tree with unresolved names. */
struct node *fb_map_parse(struct fb_arena *a, struct cerr *e, const char *src, size_t len);
/* compile.c: resolves names and slots, checks names, attributes and calls. */
void fb_map_resolve(struct fb_arena *a, struct cerr *e, struct node *body, int *nslots);

struct builtin_info {
	const char *name;
	int min, max;   /* positional arguments */
	const char *kw; /* accepted keyword arguments, space-separated; "*" any */
};
struct method_info {
	const char *name;
	int min, max;
	const char *kw;
};
extern const struct builtin_info fb_map_builtins[B_COUNT];
extern const struct method_info fb_map_methods[M_NUM];

/* ---- the compiled rule ------------------------------------------------- */

struct fb_map_rule {
	char *name;
	struct fb_arena *arena; /* every node, constant and compiled pattern */
	struct node *body;
	int nslots;
};

/* ---- evaluation --------------------------------------------------------- */

struct chunk {
	struct chunk *next;
	size_t size;
	char data[];
};

struct ctx {
	const struct fb_map_rule *rule;
	struct val *slots;
	int64_t steps;
	/* memory: a bump allocator over chunks; the first lives on eval's stack */
	char *cur, *end, *chunk_start;
	struct chunk *chunks;
	size_t mem_used, mem_limit;
	/* inputs, converted when first read */
	const json_t *juser, *jrequest, *jupstream;
	struct val user, request, upstream;
	struct val ret;
	int retline, retcol; /* the return statement, for errors converting its value */
	int vdepth;          /* value recursion (repr, ==, json) */
	/* the first error */
	enum fb_map_errkind ekind;
	int eline, ecol;
	char emsg[400];
};

/* Sets the error (the first one wins) and returns -1. The position comes from the node being
 * evaluated. */
int fb_map_rt_error(struct ctx *c, enum fb_map_errkind kind, const char *fmt, ...) FB_PRINTF(3, 4);
/* Charges n steps; -1 (budget error) when the budget is spent. */
static inline int
fb_map_charge(struct ctx *c, int64_t n)
{
	c->steps -= n;
	if (c->steps < 0)
		return fb_map_rt_error(c, FB_MAP_EBUDGET, "step budget exceeded");
	return 0;
}
/* Charges steps for scanning or copying n bytes. */
static inline int
fb_map_charge_bytes(struct ctx *c, size_t n)
{
	return fb_map_charge(c, (int64_t)(n >> 6));
}

/* value.c */
void *fb_map_alloc(struct ctx *c, size_t n);     /* NULL: memory budget error set */
void *fb_map_try_alloc(struct ctx *c, size_t n); /* NULL: over budget, no error set */
void *fb_map_realloc(struct ctx *c, void *p, size_t old, size_t n); /* grows in place when last */
char *fb_map_str_alloc(struct ctx *c, size_t n);                    /* n bytes (no NUL) */
struct val fb_map_str(const char *s, size_t n);
struct val fb_map_cstr(const char *s);
struct val fb_map_int(int64_t i);
struct val fb_map_float(double f);
struct val fb_map_bool(int b);
struct val fb_map_none(void);
struct list *fb_map_list_new(struct ctx *c, uint32_t cap);
int fb_map_list_push(struct ctx *c, struct list *l, struct val v);
struct val fb_map_list_val(struct list *l, int tuple);
struct dict *fb_map_dict_new(struct ctx *c, uint32_t cap);
/* Looks k up: 1 with *out, 0 when absent, -1 on error (probes beyond the first cost steps). */
int fb_map_dict_lookup(struct ctx *c, struct dict *d, const char *k, size_t klen, struct val *out);
/* Converts a lazy dict's entries (see struct dict); 0 or -1. */
int fb_map_dict_force(struct ctx *c, struct dict *d);
uint32_t fb_map_dict_len(const struct dict *d);
int fb_map_dict_set(struct ctx *c, struct dict *d, const char *k, size_t klen, struct val v);
struct val fb_map_dict_val(struct dict *d);
int fb_map_from_json(struct ctx *c, const json_t *j, struct val *out);
/* Converts every lazy part of v and marks it FROZEN_SHARED (for a subject). */
int fb_map_share(struct ctx *c, struct val v, int depth);
/* A type error when v (a list or dict) is frozen; what names the operation. */
int fb_map_check_mutable(struct ctx *c, struct val v);
int fb_map_to_json(struct ctx *c, struct val v, json_t **out);
int fb_map_obj_field(struct ctx *c, struct val obj, enum attr a, struct val *out);
/* A view of j (borrowed) as a user, group or request (vt). */
int fb_map_obj_new(struct ctx *c, int vt, const json_t *j, struct val *out);
int64_t fb_map_range_len(const struct range *r);
int fb_map_obj_slot(int vtype, enum attr a);
int fb_map_truthy(struct val v);
const char *fb_map_type_name(struct val v);
const char *fb_map_vtype_name(int vt);
/* -1 error, 0 not equal, 1 equal */
int fb_map_equal(struct ctx *c, struct val a, struct val b);
/* Orders a and b for op ("<", "sorted" ...): -2 on error (type error set), else -1, 0, 1. */
int fb_map_compare(struct ctx *c, struct val a, struct val b, const char *op);

/* A string being built in the evaluation's memory. */
struct sbuf {
	struct ctx *c;
	char *p;
	size_t len, cap;
};
void fb_map_sb_init(struct sbuf *b, struct ctx *c);
int fb_map_sb_add(struct sbuf *b, const char *s, size_t n);
int fb_map_sb_addc(struct sbuf *b, char ch);
struct val fb_map_sb_val(struct sbuf *b);
/* Appends str(v) or repr(v). */
int fb_map_sb_str(struct sbuf *b, struct val v);
int fb_map_sb_repr(struct sbuf *b, struct val v);
int fb_map_to_str(struct ctx *c, struct val v, struct val *out);
/* Python's format(v, spec). */
int fb_map_format(struct ctx *c, struct val v, const char *spec, size_t slen, struct val *out);
/* Python's repr(float) into out (>= 32 bytes). */
void fb_map_float_repr(double f, char *out, size_t outlen);

/* 1 when the n bytes at s are ASCII (UTF-8 itself is core's fb_utf8_*). */
int fb_map_is_ascii(const char *s, size_t n);

/* eval.c */
int fb_map_eval(struct ctx *c, const struct node *n, struct val *out);
/* Iteration over any iterable value. */
struct iter {
	struct val v;
	uint32_t i, n;
	int64_t cur;
	const char *s;
};
int fb_map_iter_init(struct ctx *c, struct val v, struct iter *it);
/* 1 with *out, 0 at the end, -1 on error. */
int fb_map_iter_next(struct ctx *c, struct iter *it, struct val *out);
int fb_map_group_attributes(struct ctx *c, struct val user, struct val *out);
/* Appends every item of iterable v to l. */
int fb_map_list_extend(struct ctx *c, struct list *l, struct val v);
/* Runs the rule's body: 0 with c->ret set, -1 with the error in c. */
int fb_map_run(struct ctx *c);

/* builtins.c */
int fb_map_call_builtin(struct ctx *c, const struct node *n, struct val *args, int nargs,
    struct val *kw, struct val *out);
int fb_map_call_method(struct ctx *c, const struct node *n, struct val self, struct val *args,
    int nargs, struct val *kw, struct val *out);
/* Compiles a constant pattern at compile time (NULL + cerror on failure). */
void *fb_map_regex_compile_const(struct cerr *e, int line, int col, const char *pat, size_t n);
void fb_map_regex_free(void *re);

#endif
