/* SPDX-License-Identifier: Apache-2.0 */
/* net/smtp.c: one plain-text mail through the configured SMTP relay, with libcurl (blocking). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "core/core.h"
#include "conf/conf.h"
#include "net/net.h"
#include "net/internal.h"

/* RFC 5322 2.1.1: a line is at most 998 characters before CRLF. */
#define LINE_MAX_OCTETS 998
/* RFC 2047 2: an encoded word on its own line: 45 bytes make 60 base64 characters. */
#define EW_CHUNK 45
/* The whole message: the body plus generous room for headers. */
#define MSG_MAX (4 * FB_NET_MAIL_MAX_BODY + 16384)

/* 1 when s holds a byte of 0x80 or above. */
static int
non_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/* 1 when s holds a control character other than tab (CR and LF included). */
static int
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return 1;
	return 0;
}

/* Standard base64 (RFC 4648 4) of n bytes, appended to b. */
static void
add_base64(struct fb_buf *b, const void *p, size_t n)
{
	char *s = fb_b64url_encode(p, n);
	size_t len = strlen(s);

	for (size_t i = 0; i < len; i++)
		s[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	fb_buf_add(b, s, len, NULL);
	for (; len % 4 != 0; len++)
		fb_buf_add(b, "=", 1, NULL);
	free(s);
}

/*
 * Appends text as RFC 2047 encoded words (UTF-8, B encoding), folded onto
 * continuation lines so that no line exceeds 76 characters (the first
 * line already holds prefix_len characters, "Subject: "); a UTF-8
 * sequence is never split between two words.
 */
static void
add_encoded_words(struct fb_buf *b, const char *text, size_t prefix_len)
{
	size_t len = strlen(text), i = 0;
	/* 12 = "=?UTF-8?B?" + "?="; 4 base64 characters carry 3 bytes. */
	size_t first = (76 - 12 - prefix_len) / 4 * 3;

	while (i < len) {
		size_t max = i == 0 ? first : EW_CHUNK;
		size_t n = len - i < max ? len - i : max;

		/* Back off to the start of a character (continuation bytes are 10xxxxxx). */
		while (i + n < len && n > 0 && ((unsigned char)text[i + n] & 0xc0) == 0x80)
			n--;
		if (i > 0)
			fb_buf_add(b, "\r\n ", 3, NULL);
		fb_buf_add(b, "=?UTF-8?B?", 10, NULL);
		add_base64(b, text + i, n);
		fb_buf_add(b, "?=", 2, NULL);
		i += n;
	}
}

/* RFC 5322 3.3 date in UTC, built without the locale. */
static void
add_date(struct fb_buf *b)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
	    "Sep", "Oct", "Nov", "Dec"};
	time_t now = (time_t)fb_time_now();
	struct tm tm;

	gmtime_r(&now, &tm);
	fb_buf_addf(b, NULL, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
	    tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The body with every line end as CRLF and a final CRLF; *longest is the longest line. */
static void
add_crlf_lines(struct fb_buf *b, const char *body, size_t *longest)
{
	size_t col = 0;

	*longest = 0;
	for (const char *p = body; *p != '\0'; p++) {
		if (*p == '\r' || *p == '\n') {
			if (*p == '\r' && p[1] == '\n')
				p++;
			fb_buf_add(b, "\r\n", 2, NULL);
			col = 0;
			continue;
		}
		fb_buf_add(b, p, 1, NULL);
		if (++col > *longest)
			*longest = col;
	}
	if (b->len < 2 || memcmp(b->data + b->len - 2, "\r\n", 2) != 0)
		fb_buf_add(b, "\r\n", 2, NULL);
}

/* RFC 2045 6.7 quoted-printable of CRLF-separated text, lines of at most 76 characters. */
static void
add_quoted_printable(struct fb_buf *b, const char *crlf_text, size_t len)
{
	size_t col = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)crlf_text[i];
		int line_end = i + 1 >= len || crlf_text[i + 1] == '\r';
		char tok[4];
		size_t t;

		if (c == '\r' && i + 1 < len && crlf_text[i + 1] == '\n') {
			fb_buf_add(b, "\r\n", 2, NULL);
			col = 0;
			i++;
			continue;
		}
		/* Space and tab are literal except before a line end (they would be stripped). */
		if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !line_end)) {
			tok[0] = (char)c;
			t = 1;
		} else {
			snprintf(tok, sizeof(tok), "=%02X", c);
			t = 3;
		}
		if (col + t > 75) {
			fb_buf_add(b, "=\r\n", 3, NULL);
			col = 0;
		}
		fb_buf_add(b, tok, t, NULL);
		col += t;
	}
}

/* SECURITY: every argument that reaches a header is checked here. */
static enum fb_status
check_args(const char *to, const char *subject, const char *body, struct fb_err *err)
{
	if (to == NULL || strchr(to, '\r') != NULL || strchr(to, '\n') != NULL)
		return fb_err_set(err, FB_ERR_INVALID,
		    to == NULL ? "no recipient" : "the recipient contains a line break");
	if (strchr(subject, '\r') != NULL || strchr(subject, '\n') != NULL)
		return fb_err_set(err, FB_ERR_INVALID, "the subject contains a line break");
	if (!fb_conf_addr_spec_check(to))
		return fb_err_set(err, FB_ERR_INVALID, "'%s' is not an email address (user@domain)",
		    has_control(to) || strlen(to) > 254 ? "(unprintable)" : to);
	if (strlen(subject) > FB_NET_MAIL_MAX_SUBJECT)
		return fb_err_set(err, FB_ERR_INVALID, "the subject is longer than %d bytes",
		    FB_NET_MAIL_MAX_SUBJECT);
	if (!fb_utf8_check(subject, strlen(subject)) || has_control(subject))
		return fb_err_set(err, FB_ERR_INVALID,
		    "the subject is not UTF-8 text or holds control characters");
	if (strlen(body) > FB_NET_MAIL_MAX_BODY)
		return fb_err_set(err, FB_ERR_INVALID, "the body is longer than %d bytes",
		    FB_NET_MAIL_MAX_BODY);
	if (!fb_utf8_check(body, strlen(body)))
		return fb_err_set(err, FB_ERR_INVALID, "the body is not valid UTF-8");
	return FB_OK;
}

FB_STATIC enum fb_status
fb_net_mail_build(const struct fb_conf *conf, const char *to, const char *subject,
    const char *text_body, char **out, struct fb_err *err)
{
	char *name = NULL, *from = NULL, id[33];
	unsigned char rnd[16];
	struct fb_buf body, msg;
	size_t longest;
	enum fb_status r;

	*out = NULL;
	subject = subject != NULL ? subject : "";
	text_body = text_body != NULL ? text_body : "";
	fb_buf_init(&body, MSG_MAX);
	fb_buf_init(&msg, MSG_MAX);
	if ((r = check_args(to, subject, text_body, err)) != FB_OK)
		goto out;
	if (conf->smtp_from == NULL) {
		r = fb_err_set(err, FB_ERR_CONFIG, "smtp.from is not set");
		goto out;
	}
	if ((r = fb_conf_mailbox_parse(conf->smtp_from, &name, &from, err)) != FB_OK) {
		fb_err_prefix(err, "smtp.from: ");
		r = FB_ERR_CONFIG;
		goto out;
	}

	add_date(&msg);
	fb_buf_addf(&msg, NULL, "From: ");
	if (name != NULL && non_ascii(name)) {
		add_encoded_words(&msg, name, strlen("From: "));
		fb_buf_addf(&msg, NULL, " <%s>\r\n", from);
	} else if (name != NULL) {
		/* conf refused '"' and '\' in the name, so quoting needs no escapes. */
		fb_buf_addf(&msg, NULL, "\"%s\" <%s>\r\n", name, from);
	} else {
		fb_buf_addf(&msg, NULL, "%s\r\n", from);
	}
	fb_buf_addf(&msg, NULL, "To: %s\r\nSubject: ", to);
	if (non_ascii(subject))
		add_encoded_words(&msg, subject, strlen("Subject: "));
	else
		fb_buf_addf(&msg, NULL, "%s", subject);
	fb_rand_bytes(rnd, sizeof(rnd));
	fb_hex_encode(rnd, sizeof(rnd), id);
	fb_buf_addf(&msg, NULL, "\r\nMessage-ID: <%s@%s>\r\n", id, strrchr(from, '@') + 1);
	fb_buf_addf(&msg, NULL, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n");

	add_crlf_lines(&body, text_body, &longest);
	if (longest > LINE_MAX_OCTETS) {
		fb_buf_addf(&msg, NULL, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		add_quoted_printable(&msg, body.data, body.len);
		if (msg.len < 2 || memcmp(msg.data + msg.len - 2, "\r\n", 2) != 0)
			fb_buf_add(&msg, "\r\n", 2, NULL);
	} else {
		fb_buf_addf(&msg, NULL, "Content-Transfer-Encoding: %s\r\n\r\n",
		    non_ascii(text_body) ? "8bit" : "7bit");
		fb_buf_add(&msg, body.data, body.len, NULL);
	}
	*out = fb_buf_take(&msg);
	r = FB_OK;
out:
	free(name);
	free(from);
	/* SECURITY: bodies carry one-time links. */
	if (body.data != NULL)
		fb_secret_wipe(body.data, body.len);
	if (msg.data != NULL)
		fb_secret_wipe(msg.data, msg.len);
	fb_buf_cleanup(&body);
	fb_buf_cleanup(&msg);
	return r;
}

struct upload {
	const char *data;
	size_t len;
	size_t pos;
};

static size_t
read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct upload *up = arg;
	size_t n = size * nitems;

	if (n > up->len - up->pos)
		n = up->len - up->pos;
	memcpy(buf, up->data + up->pos, n);
	up->pos += n;
	return n;
}

enum fb_status
fb_net_mail_send(const struct fb_conf *conf, const char *to, const char *subject,
    const char *text_body, struct fb_err *err)
{
	char errbuf[CURL_ERROR_SIZE] = "", *msg = NULL, *url = NULL, *name = NULL, *from = NULL;
	char *mail_from = NULL, *rcpt_to = NULL;
	struct curl_slist *rcpt = NULL;
	struct upload up;
	CURL *c = NULL;
	CURLcode rc;
	enum fb_status r;

	if (conf == NULL || conf->smtp_host == NULL) {
		r = fb_err_set(err, FB_ERR_CONFIG,
		    "email is not configured (smtp.host is not set)");
		goto out;
	}
	if ((r = fb_net_mail_build(conf, to, subject, text_body, &msg, err)) != FB_OK)
		goto out;
	/* Checked by fb_net_mail_build. */
	(void)fb_conf_mailbox_parse(conf->smtp_from, &name, &from, NULL);
	mail_from = fb_xasprintf("<%s>", from);
	rcpt_to = fb_xasprintf("<%s>", to);
	url = fb_xasprintf("%s://%s%s%s:%d", conf->smtp_security == FB_SMTP_TLS ? "smtps" : "smtp",
	    strchr(conf->smtp_host, ':') != NULL ? "[" : "", conf->smtp_host,
	    strchr(conf->smtp_host, ':') != NULL ? "]" : "", conf->smtp_port);
	if ((c = curl_easy_init()) == NULL) {
		r = fb_err_set(err, FB_ERR_INTERNAL, "curl_easy_init failed");
		goto out;
	}
	rcpt = curl_slist_append(NULL, rcpt_to);
	up.data = msg;
	up.len = strlen(msg);
	up.pos = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	/* SECURITY: starttls means STARTTLS or nothing: no silent fallback to plain text. */
	curl_easy_setopt(c, CURLOPT_USE_SSL,
	    (long)(conf->smtp_security == FB_SMTP_NONE ? CURLUSESSL_NONE : CURLUSESSL_ALL));
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(c, CURLOPT_READDATA, &up);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up.len);
	if (conf->smtp_username != NULL) {
		curl_easy_setopt(c, CURLOPT_USERNAME, conf->smtp_username);
		curl_easy_setopt(c, CURLOPT_PASSWORD,
		    conf->smtp_password != NULL ? conf->smtp_password : "");
	}
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)conf->smtp_timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)conf->smtp_timeout);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if ((rc = curl_easy_perform(c)) != CURLE_OK) {
		/* curl's text names the step (connect, STARTTLS, AUTH, RCPT); never the password.
		 */
		r = fb_err_set(err, FB_ERR_UPSTREAM, "smtp %s:%d: %s%s%s", conf->smtp_host,
		    conf->smtp_port, curl_easy_strerror(rc), errbuf[0] != '\0' ? ": " : "", errbuf);
		goto out;
	}
	fb_log(FB_LOG_DEBUG, "mail to %s sent through %s:%d", to, conf->smtp_host, conf->smtp_port);
	r = FB_OK;
out:
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(c);
	fb_secret_free(msg);
	free(url);
	free(name);
	free(from);
	free(mail_from);
	free(rcpt_to);
	return r;
}
