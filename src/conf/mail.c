/* SPDX-License-Identifier: Apache-2.0 */
/* conf/mail.c: email addresses and mailboxes (smtp.from, user emails), checked one way. */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "conf/conf.h"

#define ATEXT "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-"
#define LDH   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"

/* Largest mailbox ("Name <addr>") accepted. */
#define MAILBOX_MAX 512

/* 1 when s[0..len) is a dot-atom of chars (no empty atom, no leading/trailing dot). */
static int
dot_atom(const char *s, size_t len, const char *chars, size_t maxatom, int ldh)
{
	size_t i = 0;

	if (len == 0)
		return 0;
	while (i < len) {
		size_t n = 0;

		while (i + n < len && s[i + n] != '.' && strchr(chars, s[i + n]) != NULL &&
		       s[i + n] != '\0')
			n++;
		if (n == 0 || n > maxatom)
			return 0;
		/* RFC 1123 labels: no leading or trailing hyphen. */
		if (ldh && (s[i] == '-' || s[i + n - 1] == '-'))
			return 0;
		i += n;
		if (i == len)
			return 1;
		if (s[i] != '.' || i + 1 == len)
			return 0;
		i++;
	}
	return 0;
}

int
fb_conf_addr_spec_check(const char *s)
{
	const char *at;
	size_t len;

	if (s == NULL)
		return 0;
	len = strlen(s);
	at = strrchr(s, '@');
	if (len > 254 || at == NULL || at == s || (size_t)(at - s) > 64)
		return 0;
	return dot_atom(s, (size_t)(at - s), ATEXT, 64, 0) &&
	       dot_atom(at + 1, len - (size_t)(at - s) - 1, LDH, 63, 1);
}

/* s[*b..*e) without surrounding spaces and tabs. */
static void
trim(const char *s, size_t *b, size_t *e)
{
	while (*b < *e && (s[*b] == ' ' || s[*b] == '\t'))
		(*b)++;
	while (*e > *b && (s[*e - 1] == ' ' || s[*e - 1] == '\t'))
		(*e)--;
}

enum fb_status
fb_conf_mailbox_parse(const char *s, char **name, char **addr, struct fb_err *err)
{
	size_t len, b = 0, e, nb = 0, ne = 0;
	const char *lt;
	char *a = NULL;
	enum fb_status r = FB_ERR_INVALID;

	*name = NULL;
	*addr = NULL;
	if (s == NULL || (len = strlen(s)) == 0) {
		fb_err_set(err, FB_ERR_INVALID, "the address is empty");
		goto out;
	}
	if (len > MAILBOX_MAX) {
		fb_err_set(err, FB_ERR_INVALID, "the address is longer than %d bytes", MAILBOX_MAX);
		goto out;
	}
	/* SECURITY: a line break would start a new mail header. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t') {
			fb_err_set(err, FB_ERR_INVALID,
			    "the address contains a line break or control character");
			goto out;
		}
	if (!fb_utf8_check(s, len)) {
		fb_err_set(err, FB_ERR_INVALID, "the address is not valid UTF-8");
		goto out;
	}
	e = len;
	trim(s, &b, &e);
	if ((lt = strchr(s, '<')) != NULL) {
		if (e == b || s[e - 1] != '>' || strchr(lt + 1, '<') != NULL ||
		    strchr(s, '>') != s + e - 1) {
			fb_err_set(err, FB_ERR_INVALID,
			    "'%s' is not a mailbox: write user@example.com or Name "
			    "<user@example.com>",
			    s);
			goto out;
		}
		nb = b;
		ne = (size_t)(lt - s);
		trim(s, &nb, &ne);
		if (ne - nb >= 2 && s[nb] == '"' && s[ne - 1] == '"') {
			nb++;
			ne--;
		}
		for (size_t i = nb; i < ne; i++)
			if (s[i] == '"' || s[i] == '\\' || s[i] == '>') {
				fb_err_set(err, FB_ERR_INVALID,
				    "the display name of '%s' must not contain '\"', '\\' or '>'",
				    s);
				goto out;
			}
		b = (size_t)(lt - s) + 1;
		e--;
	}
	a = fb_xstrndup(s + b, e - b);
	if (!fb_conf_addr_spec_check(a)) {
		fb_err_set(err, FB_ERR_INVALID,
		    "'%s' is not an email address (write user@example.com or Name "
		    "<user@example.com>; quoted local parts and non-ASCII addresses are not "
		    "supported)",
		    a);
		goto out;
	}
	if (ne > nb)
		*name = fb_xstrndup(s + nb, ne - nb);
	*addr = a;
	a = NULL; /* transferred */
	r = FB_OK;
out:
	free(a);
	return r;
}
