/* SPDX-License-Identifier: Apache-2.0 */
/* map/lexer.c: rule source text -> tokens, with Python's indentation rules. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "map/internal.h"

void
fb_map_cerror(struct cerr *e, enum fb_map_errkind kind, int line, int col, const char *fmt, ...)
{
	va_list ap;

	e->kind = kind;
	e->line = line;
	e->col = col;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	longjmp(e->jb, 1);
}

static const struct {
	const char *name;
	enum tok t;
} keywords[] = {
    {"and", T_AND},
    {"or", T_OR},
    {"not", T_NOT},
    {"in", T_IN},
    {"is", T_IS},
    {"if", T_IF},
    {"elif", T_ELIF},
    {"else", T_ELSE},
    {"for", T_FOR},
    {"return", T_RETURN},
    {"pass", T_PASS},
    {"break", T_BREAK},
    {"continue", T_CONTINUE},
    {"None", T_NONE},
    {"True", T_TRUE},
    {"False", T_FALSE},
    /* Python keywords the language leaves out: reserved, with a clear error. */
    {"import", T_KEYWORD},
    {"from", T_KEYWORD},
    {"def", T_KEYWORD},
    {"class", T_KEYWORD},
    {"lambda", T_KEYWORD},
    {"while", T_KEYWORD},
    {"try", T_KEYWORD},
    {"except", T_KEYWORD},
    {"finally", T_KEYWORD},
    {"raise", T_KEYWORD},
    {"with", T_KEYWORD},
    {"as", T_KEYWORD},
    {"assert", T_KEYWORD},
    {"del", T_KEYWORD},
    {"global", T_KEYWORD},
    {"nonlocal", T_KEYWORD},
    {"yield", T_KEYWORD},
    {"async", T_KEYWORD},
    {"await", T_KEYWORD},
};

const char *
fb_map_tok_name(enum tok t)
{
	switch (t) {
	case T_EOF:
		return "end of input";
	case T_NEWLINE:
		return "end of line";
	case T_INDENT:
		return "indent";
	case T_DEDENT:
		return "dedent";
	case T_NAME:
		return "name";
	case T_INT:
	case T_FLOAT:
		return "number";
	case T_STRING:
	case T_FSTRING:
		return "string";
	case T_LPAR:
		return "'('";
	case T_RPAR:
		return "')'";
	case T_LSQB:
		return "'['";
	case T_RSQB:
		return "']'";
	case T_LBRACE:
		return "'{'";
	case T_RBRACE:
		return "'}'";
	case T_COMMA:
		return "','";
	case T_COLON:
		return "':'";
	case T_DOT:
		return "'.'";
	case T_SEMI:
		return "';'";
	case T_ASSIGN:
		return "'='";
	case T_BANG:
		return "'!'";
	default:
		return "operator";
	}
}

static void
adv(struct lexer *lx)
{
	unsigned char ch = (unsigned char)*lx->p++;

	if (ch == '\n') {
		lx->line++;
		lx->col = 1;
	} else if ((ch & 0xc0) != 0x80) {
		lx->col++;
	}
}

static int
peekc(const struct lexer *lx, size_t i)
{
	return lx->p + i < lx->end ? (unsigned char)lx->p[i] : -1;
}

void
fb_map_lex_init(struct lexer *lx, struct cerr *e, struct fb_arena *a, const char *src, size_t len,
    int line, int col, int fmode)
{
	memset(lx, 0, sizeof(*lx));
	lx->e = e;
	lx->arena = a;
	lx->p = src;
	lx->end = src + len;
	lx->line = line;
	lx->col = col;
	lx->fmode = fmode;
	lx->at_bol = !fmode;
	lx->nindent = 1;
	lx->indents[0] = 0;
}

/* Measures the indentation at the start of a logical line; returns a token or T_EOF for none. */
static enum tok
indentation(struct lexer *lx)
{
	while (lx->at_bol) {
		int w = 0;

		while (lx->p < lx->end &&
		       (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\f' || *lx->p == '\r')) {
			if (*lx->p == ' ')
				w++;
			else if (*lx->p == '\t')
				w = (w / 8 + 1) * 8;
			else if (*lx->p == '\f')
				w = 0;
			adv(lx);
		}
		if (lx->p >= lx->end)
			return T_EOF; /* end of input: the caller sends DEDENTs */
		if (*lx->p == '#') {
			while (lx->p < lx->end && *lx->p != '\n')
				adv(lx);
			continue;
		}
		if (*lx->p == '\n') {
			adv(lx);
			continue;
		}
		if (*lx->p == '\\' && peekc(lx, 1) == '\n') {
			adv(lx);
			adv(lx);
			continue;
		}
		lx->at_bol = 0;
		if (w > lx->indents[lx->nindent - 1]) {
			if (lx->nindent > MAP_MAX_INDENT)
				fb_map_cerror(lx->e, FB_MAP_ESYNTAX, lx->line, lx->col,
				    "too many indentation levels (at most %d)", MAP_MAX_INDENT);
			lx->indents[lx->nindent++] = w;
			return T_INDENT;
		}
		if (w < lx->indents[lx->nindent - 1]) {
			int n = 0;

			while (lx->nindent > 1 && lx->indents[lx->nindent - 1] > w) {
				lx->nindent--;
				n++;
			}
			if (lx->indents[lx->nindent - 1] != w)
				fb_map_cerror(lx->e, FB_MAP_ESYNTAX, lx->line, lx->col,
				    "unindent does not match any outer indentation level");
			lx->dedents = n - 1;
			return T_DEDENT;
		}
	}
	return T_EOF;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

char *
fb_map_lex_unescape(struct lexer *lx, const char *p, size_t n, int line, int col, size_t *outlen)
{
	/* Escapes never make the text longer: \U0001F600 (10 bytes) gives 4. */
	char *o = fb_arena_alloc(lx->arena, n + 1);
	size_t k = 0;
	const char *end = p + n;

	while (p < end) {
		unsigned long cp;
		int digits, ch;

		if (*p != '\\') {
			if (*p == '\n') {
				line++;
				col = 0;
			}
			if (((unsigned char)*p & 0xc0) != 0x80)
				col++;
			o[k++] = *p++;
			continue;
		}
		if (p + 1 >= end) {
			o[k++] = *p++;
			break;
		}
		ch = (unsigned char)p[1];
		p += 2;
		col += 2;
		switch (ch) {
		case '\n':
			line++;
			col = 1;
			break;
		case '\\':
		case '\'':
		case '"':
			o[k++] = (char)ch;
			break;
		case 'a':
			o[k++] = '\a';
			break;
		case 'b':
			o[k++] = '\b';
			break;
		case 'f':
			o[k++] = '\f';
			break;
		case 'n':
			o[k++] = '\n';
			break;
		case 'r':
			o[k++] = '\r';
			break;
		case 't':
			o[k++] = '\t';
			break;
		case 'v':
			o[k++] = '\v';
			break;
		case '0':
		case '1':
		case '2':
		case '3':
		case '4':
		case '5':
		case '6':
		case '7':
			cp = (unsigned long)(ch - '0');
			for (int i = 0; i < 2 && p < end && *p >= '0' && *p <= '7'; i++, p++, col++)
				cp = cp * 8 + (unsigned long)(*p - '0');
			k += fb_utf8_encode((uint32_t)cp, o + k);
			break;
		case 'x':
		case 'u':
		case 'U':
			digits = ch == 'x' ? 2 : ch == 'u' ? 4 : 8;
			cp = 0;
			for (int i = 0; i < digits; i++) {
				int h = p + i < end ? hexval((unsigned char)p[i]) : -1;

				if (h < 0)
					fb_map_cerror(lx->e, FB_MAP_ESYNTAX, line, col - 2,
					    "truncated \\%c escape in string (needs %d hex digits)",
					    ch, digits);
				cp = cp * 16 + (unsigned long)h;
			}
			p += digits;
			col += digits;
			if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
				fb_map_cerror(lx->e, FB_MAP_ESYNTAX, line, col - digits - 2,
				    "invalid code point U+%04lX in string", cp);
			k += fb_utf8_encode((uint32_t)cp, o + k);
			break;
		case 'N':
			fb_map_cerror(lx->e, FB_MAP_ESYNTAX, line, col - 2,
			    "\\N{...} escapes are not supported");
		default:
			/* Python keeps unknown escapes as they are. */
			o[k++] = '\\';
			p--;
			col--;
			break;
		}
	}
	o[k] = '\0';
	*outlen = k;
	return o;
}

static void
lex_string(struct lexer *lx, struct token *t, const char *prefix, size_t plen)
{
	int raw = 0, f = 0, triple;
	char q;
	const char *start;
	int sline, scol;

	for (size_t i = 0; i < plen; i++) {
		switch (prefix[i]) {
		case 'r':
		case 'R':
			raw = 1;
			break;
		case 'f':
		case 'F':
			f = 1;
			break;
		case 'b':
		case 'B':
			fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col,
			    "bytes literals are not supported");
		default: /* u */
			break;
		}
	}
	q = *lx->p;
	triple = peekc(lx, 1) == q && peekc(lx, 2) == q;
	for (int i = 0; i < (triple ? 3 : 1); i++)
		adv(lx);
	start = lx->p;
	sline = lx->line;
	scol = lx->col;
	for (;;) {
		if (lx->p >= lx->end)
			fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col,
			    triple ? "unterminated triple-quoted string literal"
			           : "unterminated string literal");
		if (*lx->p == '\\') {
			adv(lx);
			if (lx->p < lx->end)
				adv(lx);
			continue;
		}
		if (*lx->p == '\n' && !triple)
			fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col,
			    "unterminated string literal");
		if (*lx->p == q && (!triple || (peekc(lx, 1) == q && peekc(lx, 2) == q)))
			break;
		adv(lx);
	}
	if (f) {
		t->t = T_FSTRING;
		t->fp = start;
		t->fn = (size_t)(lx->p - start);
		t->fline = sline;
		t->fcol = scol;
		t->raw = raw;
	} else {
		t->t = T_STRING;
		if (raw) {
			t->slen = (size_t)(lx->p - start);
			t->s = fb_arena_alloc(lx->arena, t->slen + 1);
			memcpy(t->s, start, t->slen);
			t->s[t->slen] = '\0';
		} else {
			t->s = fb_map_lex_unescape(lx, start, (size_t)(lx->p - start), sline, scol,
			    &t->slen);
		}
	}
	for (int i = 0; i < (triple ? 3 : 1); i++)
		adv(lx);
}

static int
is_digit_of(int ch, int base)
{
	int h = hexval(ch);

	return h >= 0 && h < base;
}

static void
lex_number(struct lexer *lx, struct token *t)
{
	char buf[128];
	size_t k = 0;
	int base = 10, isfloat = 0;
	const char *start = lx->p;

	if (*lx->p == '0' &&
	    (peekc(lx, 1) == 'x' || peekc(lx, 1) == 'X' || peekc(lx, 1) == 'o' ||
	        peekc(lx, 1) == 'O' || peekc(lx, 1) == 'b' || peekc(lx, 1) == 'B')) {
		int ch = peekc(lx, 1) | 0x20;

		base = ch == 'x' ? 16 : ch == 'o' ? 8 : 2;
		adv(lx);
		adv(lx);
		while (lx->p < lx->end &&
		       (is_digit_of((unsigned char)*lx->p, base) || *lx->p == '_')) {
			if (*lx->p != '_' && k < sizeof(buf) - 1)
				buf[k++] = *lx->p;
			adv(lx);
		}
	} else {
		while (lx->p < lx->end && ((*lx->p >= '0' && *lx->p <= '9') || *lx->p == '_' ||
		                              *lx->p == '.' || *lx->p == 'e' || *lx->p == 'E' ||
		                              ((*lx->p == '+' || *lx->p == '-') && k > 0 &&
		                                  (buf[k - 1] == 'e' || buf[k - 1] == 'E')))) {
			if (*lx->p == '.' || *lx->p == 'e' || *lx->p == 'E')
				isfloat = 1;
			if (*lx->p == '.' && peekc(lx, 1) == '.')
				break;
			if (*lx->p != '_' && k < sizeof(buf) - 1)
				buf[k++] = *lx->p;
			adv(lx);
		}
	}
	buf[k] = '\0';
	t->p = start;
	t->n = (size_t)(lx->p - start);
	if (lx->p < lx->end && (*lx->p == 'j' || *lx->p == 'J'))
		fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col,
		    "complex numbers are not supported");
	if (lx->p < lx->end && (((*lx->p | 0x20) >= 'a' && (*lx->p | 0x20) <= 'z') ||
	                           *lx->p == '_' || (*lx->p >= '0' && *lx->p <= '9')))
		fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col,
		    "invalid number literal '%.*s'", (int)(lx->p - start + 1), start);
	if (k == 0 || k >= sizeof(buf) - 1 || buf[k - 1] == '_')
		fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col,
		    "invalid number literal '%.*s'", (int)t->n, start);
	errno = 0;
	if (isfloat) {
		char *end;

		t->t = T_FLOAT;
		t->f = strtod(buf, &end);
		if (*end != '\0')
			fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col,
			    "invalid number literal '%.*s'", (int)t->n, start);
	} else {
		char *end;

		if (base == 10 && buf[0] == '0' && strspn(buf, "0") != k)
			fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col,
			    "leading zeros in decimal integer literals are not permitted; use 0o "
			    "for octal");
		t->t = T_INT;
		t->i = strtoll(buf, &end, base);
		if (errno == ERANGE)
			fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col,
			    "integer literal too large (integers are 64-bit)");
		if (*end != '\0')
			fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col,
			    "invalid number literal '%.*s'", (int)t->n, start);
	}
}

static void
open_bracket(struct lexer *lx, struct token *t, char kind)
{
	if (lx->depth >= MAP_MAX_DEPTH)
		fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col,
		    "too many nested brackets (at most %d)", MAP_MAX_DEPTH);
	lx->bkind[lx->depth] = kind;
	lx->bline[lx->depth] = t->line;
	lx->bcol[lx->depth] = t->col;
	lx->depth++;
}

static void
close_bracket(struct lexer *lx, struct token *t, char kind)
{
	static const char open[] = "([{", close[] = ")]}";

	if (lx->depth == 0)
		fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col, "unmatched '%c'", kind);
	if (close[strchr(open, lx->bkind[lx->depth - 1]) - open] != kind)
		fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col,
		    "closing bracket '%c' does not match opening bracket '%c' on line %d", kind,
		    lx->bkind[lx->depth - 1], lx->bline[lx->depth - 1]);
	lx->depth--;
}

/* One of the operators, maximal munch. */
static void
lex_operator(struct lexer *lx, struct token *t)
{
	static const struct {
		const char *s;
		enum tok t;
	} ops[] = {
	    {"**=", T_OTHER},
	    {"//=", T_DSLASHEQ},
	    {">>=", T_OTHER},
	    {"<<=", T_OTHER},
	    {"...", T_OTHER},
	    {"**", T_DSTAR},
	    {"//", T_DSLASH},
	    {"==", T_EQ},
	    {"!=", T_NE},
	    {"<=", T_LE},
	    {">=", T_GE},
	    {"+=", T_PLUSEQ},
	    {"-=", T_MINUSEQ},
	    {"*=", T_STAREQ},
	    {"/=", T_SLASHEQ},
	    {"%=", T_PERCENTEQ},
	    {"->", T_OTHER},
	    {":=", T_OTHER},
	    {"<<", T_OTHER},
	    {">>", T_OTHER},
	    {"&=", T_OTHER},
	    {"|=", T_OTHER},
	    {"^=", T_OTHER},
	    {"@=", T_OTHER},
	    {"(", T_LPAR},
	    {")", T_RPAR},
	    {"[", T_LSQB},
	    {"]", T_RSQB},
	    {"{", T_LBRACE},
	    {"}", T_RBRACE},
	    {",", T_COMMA},
	    {":", T_COLON},
	    {".", T_DOT},
	    {";", T_SEMI},
	    {"+", T_PLUS},
	    {"-", T_MINUS},
	    {"*", T_STAR},
	    {"/", T_SLASH},
	    {"%", T_PERCENT},
	    {"=", T_ASSIGN},
	    {"<", T_LT},
	    {">", T_GT},
	    {"!", T_BANG},
	    {"&", T_OTHER},
	    {"|", T_OTHER},
	    {"^", T_OTHER},
	    {"~", T_OTHER},
	    {"@", T_OTHER},
	};
	size_t left = (size_t)(lx->end - lx->p);

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t n = strlen(ops[i].s);

		if (n <= left && memcmp(lx->p, ops[i].s, n) == 0) {
			t->t = ops[i].t;
			t->p = lx->p;
			t->n = n;
			for (size_t k = 0; k < n; k++)
				adv(lx);
			switch (t->t) {
			case T_LPAR:
				open_bracket(lx, t, '(');
				break;
			case T_LSQB:
				open_bracket(lx, t, '[');
				break;
			case T_LBRACE:
				open_bracket(lx, t, '{');
				break;
			case T_RPAR:
				close_bracket(lx, t, ')');
				break;
			case T_RSQB:
				close_bracket(lx, t, ']');
				break;
			case T_RBRACE:
				close_bracket(lx, t, '}');
				break;
			default:
				break;
			}
			return;
		}
	}
	if ((unsigned char)*lx->p >= 0x80) {
		/* Show the whole character. */
		size_t n = 1;

		while (n < left && ((unsigned char)lx->p[n] & 0xc0) == 0x80)
			n++;
		fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col,
		    "invalid character '%.*s' (names are ASCII letters, digits and '_')", (int)n,
		    lx->p);
	}
	if ((unsigned char)*lx->p < 0x20 || *lx->p == 0x7f)
		fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col, "invalid character 0x%02x",
		    (unsigned char)*lx->p);
	fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col, "invalid character '%c'", *lx->p);
}

static int
is_name_start(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static int
is_name_char(int ch)
{
	return is_name_start(ch) || (ch >= '0' && ch <= '9');
}

void
fb_map_lex_next(struct lexer *lx, struct token *t)
{
	memset(t, 0, sizeof(*t));
	for (;;) {
		t->line = lx->line;
		t->col = lx->col;
		if (lx->dedents > 0) {
			lx->dedents--;
			t->t = T_DEDENT;
			return;
		}
		if (lx->at_bol && lx->depth == 0 && !lx->fmode) {
			enum tok it = indentation(lx);

			t->line = lx->line;
			t->col = lx->col;
			if (it != T_EOF) {
				t->t = it;
				return;
			}
		}
		if (lx->p >= lx->end) {
			if (lx->fmode) {
				t->t = T_EOF;
				return;
			}
			if (lx->depth > 0)
				fb_map_cerror(lx->e, FB_MAP_ESYNTAX, lx->bline[lx->depth - 1],
				    lx->bcol[lx->depth - 1], "'%c' was never closed",
				    lx->bkind[lx->depth - 1]);
			if (!lx->at_bol) {
				lx->at_bol = 1;
				t->t = T_NEWLINE;
				return;
			}
			if (lx->nindent > 1) {
				lx->nindent--;
				t->t = T_DEDENT;
				return;
			}
			t->t = T_EOF;
			return;
		}
		switch (*lx->p) {
		case ' ':
		case '\t':
		case '\f':
		case '\r':
			adv(lx);
			continue;
		case '#':
			while (lx->p < lx->end && *lx->p != '\n')
				adv(lx);
			continue;
		case '\\':
			if (peekc(lx, 1) == '\n' ||
			    (peekc(lx, 1) == '\r' && peekc(lx, 2) == '\n')) {
				while (*lx->p != '\n')
					adv(lx);
				adv(lx);
				continue;
			}
			fb_map_cerror(lx->e, FB_MAP_ESYNTAX, t->line, t->col,
			    "unexpected character after line continuation character");
		case '\n':
			adv(lx);
			if (lx->depth > 0 || lx->fmode)
				continue;
			lx->at_bol = 1;
			t->t = T_NEWLINE;
			return;
		default:
			break;
		}
		break;
	}
	t->p = lx->p;
	if (is_name_start((unsigned char)*lx->p)) {
		const char *s = lx->p;
		size_t n;

		while (lx->p < lx->end && is_name_char((unsigned char)*lx->p))
			adv(lx);
		n = (size_t)(lx->p - s);
		if (lx->p < lx->end && (*lx->p == '\'' || *lx->p == '"') && n <= 2 &&
		    strspn(s, "rRfFbBuU") >= n) {
			lex_string(lx, t, s, n);
			t->n = (size_t)(lx->p - t->p);
			return;
		}
		t->n = n;
		t->t = T_NAME;
		for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
			if (strlen(keywords[i].name) == n && memcmp(keywords[i].name, s, n) == 0) {
				t->t = keywords[i].t;
				break;
			}
		return;
	}
	if ((*lx->p >= '0' && *lx->p <= '9') ||
	    (*lx->p == '.' && peekc(lx, 1) >= '0' && peekc(lx, 1) <= '9')) {
		lex_number(lx, t);
		return;
	}
	if (*lx->p == '\'' || *lx->p == '"') {
		lex_string(lx, t, "", 0);
		t->n = (size_t)(lx->p - t->p);
		return;
	}
	lex_operator(lx, t);
}
