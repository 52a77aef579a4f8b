/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/test_net.c: mail building, header injection, delivery to a real SMTP server; the HTTPS
 * client. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/core.h"
#include "conf/conf.h"
#include "net/net.h"
#include "net/internal.h"
#include "unit.h"

#define PYTHON "/usr/bin/python3"
#define SMTPD  FB_SRCDIR "/tests/fixtures/smtp/smtpd.py"
#define CERT   FB_SRCDIR "/tests/fixtures/keys/rsa2048.crt.pem"
#define KEY    FB_SRCDIR "/tests/fixtures/keys/rsa2048.key.pem"

static struct fb_conf *
load(const char *text)
{
	struct fb_conf *c = NULL;
	struct fb_err err;

	if (fb_conf_load_string(text, strlen(text), "t.yaml", NULL, &c, NULL, &err) != FB_OK)
		fprintf(stderr, "\nconf: %s\n", err.msg);
	return c;
}

/* A conf for the relay on 127.0.0.1:port; extra is appended under smtp:. */
static struct fb_conf *
load_smtp(int port, const char *security, const char *extra)
{
	char *text = fb_xasprintf("smtp:\n  host: 127.0.0.1\n  port: %d\n  security: %s\n"
	                          "  from: \"F\xc3\xa9"
	                          "d\xc3\xa9ration SSO <sso@example.org>\"\n"
	                          "  timeout: 10s\n%s",
	    port, security, extra != NULL ? extra : "");
	struct fb_conf *c = load(text);

	free(text);
	return c;
}

/* The line of msg starting with name (borrowed up to CRLF, copied), or NULL. New. */
static char *
header(const char *msg, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = msg; p != NULL && *p != '\0';) {
		const char *eol = strstr(p, "\r\n");

		if (eol == NULL || eol == p)
			return NULL; /* end of the headers */
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			/* Continuation lines (folded encoded words) belong to the field. */
			while (eol[2] == ' ')
				eol = strstr(eol + 2, "\r\n");
			return fb_xstrndup(p, (size_t)(eol - p));
		}
		p = eol + 2;
	}
	return NULL;
}

static const char *
body_of(const char *msg)
{
	const char *p = strstr(msg, "\r\n\r\n");

	return p != NULL ? p + 4 : "";
}

/* 1 when every line of s (CRLF-separated) is at most max bytes. */
static int
lines_at_most(const char *s, size_t max)
{
	for (const char *p = s; *p != '\0';) {
		const char *eol = strstr(p, "\r\n");
		size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);

		if (len > max)
			return 0;
		if (eol == NULL)
			break;
		p = eol + 2;
	}
	return 1;
}

static void
expect_header(const char *msg, const char *name, const char *want)
{
	char *h = header(msg, name);

	CU_ASSERT_PTR_NOT_NULL(h);
	if (h != NULL && strcmp(h, want) != 0)
		fprintf(stderr, "\nheader: %s\nwant:   %s\n", h, want);
	CU_ASSERT(h != NULL && strcmp(h, want) == 0);
	free(h);
}

static void
test_build(void)
{
	struct fb_conf *c = load_smtp(2525, "none", NULL);
	char *m = NULL, *h;
	struct fb_err err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(fb_net_mail_build(c, "bob@example.com", "Reset your password",
	                          "Hello Bob,\n\nopen https://sso.example.org/r/abc\n", &m, &err),
	    FB_OK);
	expect_header(m, "From", "From: =?UTF-8?B?RsOpZMOpcmF0aW9uIFNTTw==?= <sso@example.org>");
	expect_header(m, "To", "To: bob@example.com");
	expect_header(m, "Subject", "Subject: Reset your password");
	expect_header(m, "MIME-Version", "MIME-Version: 1.0");
	expect_header(m, "Content-Type", "Content-Type: text/plain; charset=utf-8");
	expect_header(m, "Content-Transfer-Encoding", "Content-Transfer-Encoding: 7bit");
	h = header(m, "Message-ID");
	CU_ASSERT(h != NULL && strlen(h) == strlen("Message-ID: <>@example.org") + 32 &&
	          strncmp(h, "Message-ID: <", 13) == 0 && strcmp(h + 45, "@example.org>") == 0);
	free(h);
	/* "Date: Tue, 02 Jan 2024 15:04:05 +0000" */
	h = header(m, "Date");
	CU_ASSERT(h != NULL && strlen(h) == 37 && h[9] == ',' && strcmp(h + 31, " +0000") == 0);
	free(h);
	/* LF became CRLF. */
	CU_ASSERT_STRING_EQUAL(body_of(m),
	    "Hello Bob,\r\n\r\nopen https://sso.example.org/r/abc\r\n");
	free(m);

	/* Two messages never share a Message-ID. */
	{
		char *m2 = NULL, *h1, *h2;

		CU_ASSERT_EQUAL(fb_net_mail_build(c, "bob@example.com", "x", "y", &m, &err), FB_OK);
		CU_ASSERT_EQUAL(fb_net_mail_build(c, "bob@example.com", "x", "y", &m2, &err),
		    FB_OK);
		h1 = header(m, "Message-ID");
		h2 = header(m2, "Message-ID");
		CU_ASSERT(h1 != NULL && h2 != NULL && strcmp(h1, h2) != 0);
		/* A final CRLF is added; NULL subject and body are empty. */
		CU_ASSERT_STRING_EQUAL(body_of(m), "y\r\n");
		free(h1);
		free(h2);
		free(m);
		free(m2);
		CU_ASSERT_EQUAL(fb_net_mail_build(c, "bob@example.com", NULL, NULL, &m, &err),
		    FB_OK);
		expect_header(m, "Subject", "Subject: ");
		CU_ASSERT_STRING_EQUAL(body_of(m), "\r\n");
		free(m);
	}
	fb_conf_free(c);

	/* An ASCII display name is quoted; no name: the bare address. */
	c = load("smtp:\n  host: localhost\n  from: Example SSO <sso@example.org>\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(fb_net_mail_build(c, "bob@example.com", "s", "b", &m, &err), FB_OK);
	expect_header(m, "From", "From: \"Example SSO\" <sso@example.org>");
	free(m);
	fb_conf_free(c);
	c = load("smtp:\n  host: localhost\n  from: sso@example.org\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(fb_net_mail_build(c, "bob@example.com", "s", "b", &m, &err), FB_OK);
	expect_header(m, "From", "From: sso@example.org");
	free(m);
	fb_conf_free(c);
}

static void
test_build_encoding(void)
{
	struct fb_conf *c = load_smtp(2525, "none", NULL);
	char *m = NULL, *h, *subject, *longline, *body;
	struct fb_err err;
	struct fb_buf b;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	/* RFC 2047: a short UTF-8 subject is one encoded word. */
	CU_ASSERT_EQUAL_FATAL(fb_net_mail_build(c, "bob@example.com", "R\xc3\xa9initialiser",
	                          "\xc3\xa9t\xc3\xa9\r\nbare\rcr", &m, &err),
	    FB_OK);
	expect_header(m, "Subject", "Subject: =?UTF-8?B?UsOpaW5pdGlhbGlzZXI=?=");
	expect_header(m, "Content-Transfer-Encoding", "Content-Transfer-Encoding: 8bit");
	CU_ASSERT_STRING_EQUAL(body_of(m), "\xc3\xa9t\xc3\xa9\r\nbare\r\ncr\r\n");
	free(m);

	/*
	 * A long one is folded into several words on lines of at most 76 characters, never
	 * splitting a character: 100 x "é" is 200 bytes: 38 on the first line, then 44.
	 */
	fb_buf_init(&b, 4096);
	for (int i = 0; i < 100; i++)
		fb_buf_add(&b, "\xc3\xa9", 2, NULL);
	subject = fb_buf_take(&b);
	CU_ASSERT_EQUAL_FATAL(fb_net_mail_build(c, "bob@example.com", subject, "x", &m, &err),
	    FB_OK);
	h = header(m, "Subject");
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT(strncmp(h, "Subject: =?UTF-8?B?w6nDqc", 25) == 0);
	CU_ASSERT(lines_at_most(h, 76));
	{
		/* Decode the words back and compare. */
		struct fb_buf dec;
		const char *p = h;
		size_t words = 0;

		fb_buf_init(&dec, 4096);
		while ((p = strstr(p, "=?UTF-8?B?")) != NULL) {
			const char *e = strstr(p + 10, "?=");
			char *w = fb_xstrndup(p + 10, (size_t)(e - p - 10));
			unsigned char *raw = NULL;
			size_t rawlen = 0;

			for (char *q = w; *q != '\0'; q++)
				*q = *q == '+' ? '-' : *q == '/' ? '_' : *q;
			if (strchr(w, '=') != NULL)
				*strchr(w, '=') = '\0';
			CU_ASSERT(e - p + 2 <= 75);
			CU_ASSERT_EQUAL(fb_b64url_decode(w, &raw, &rawlen, NULL), FB_OK);
			/* Every word is whole UTF-8. */
			CU_ASSERT(fb_utf8_check((const char *)raw, rawlen));
			fb_buf_add(&dec, raw, rawlen, NULL);
			free(raw);
			free(w);
			words++;
			p = e + 2;
		}
		CU_ASSERT_EQUAL(words, 5);
		CU_ASSERT_STRING_EQUAL(dec.data, subject);
		fb_buf_cleanup(&dec);
	}
	free(h);
	free(m);
	free(subject);

	/* A line longer than 998 bytes: quoted-printable, lines of at most 76. */
	longline = fb_xmalloc(2001);
	memset(longline, 'a', 2000);
	longline[2000] = '\0';
	longline[10] = '=';
	body = fb_xasprintf("%s\ncaf\xc3\xa9 \nend", longline);
	CU_ASSERT_EQUAL_FATAL(fb_net_mail_build(c, "bob@example.com", "s", body, &m, &err), FB_OK);
	expect_header(m, "Content-Transfer-Encoding",
	    "Content-Transfer-Encoding: quoted-printable");
	CU_ASSERT(lines_at_most(body_of(m), 76));
	CU_ASSERT(strncmp(body_of(m), "aaaaaaaaaa=3Daaaa", 17) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(body_of(m), "=\r\n"));
	/* Non-ASCII is escaped, and so is a space before a line end. */
	CU_ASSERT_PTR_NOT_NULL(strstr(body_of(m), "\r\ncaf=C3=A9=20\r\nend\r\n"));
	free(m);
	free(body);
	free(longline);
	fb_conf_free(c);
}

static void
test_bad_input(void)
{
	/* A port with no server: any attempt to connect would be FB_ERR_UPSTREAM. */
	struct fb_conf *c = load_smtp(1, "none", NULL), *off = load("log: {}\n");
	struct fb_err err;
	char *big;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(off);
	/* SECURITY: header injection through the recipient or the subject. */
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com\r\nBcc: eve@example.net", "s", "b",
	                    &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "line break"));
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com\n", "s", "b", &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", "Hi\r\nBcc: eve@example.net", "b",
	                    &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "subject contains a line break"));
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", "Hi\nthere", "b", &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", "Hi\rthere", "b", &err),
	    FB_ERR_INVALID);
	/* Not an addr-spec. */
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "Bob <bob@example.com>", "s", "b", &err),
	    FB_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "is not an email address"));
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob", "s", "b", &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@", "s", "b", &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "b ob@example.com", "s", "b", &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com>", "s", "b", &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, NULL, "s", "b", &err), FB_ERR_INVALID);
	/* Not UTF-8, control characters, too long. */
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", "\xff", "b", &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", "a\x1b[31m", "b", &err),
	    FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", "s", "\xc3(", &err), FB_ERR_INVALID);
	big = fb_xmalloc(FB_NET_MAIL_MAX_BODY + 2);
	memset(big, 'x', FB_NET_MAIL_MAX_BODY + 1);
	big[FB_NET_MAIL_MAX_BODY + 1] = '\0';
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", "s", big, &err), FB_ERR_INVALID);
	big[FB_NET_MAIL_MAX_SUBJECT + 1] = '\0';
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", big, "b", &err), FB_ERR_INVALID);
	free(big);
	/* Email off: FB_ERR_CONFIG before anything else. */
	CU_ASSERT_EQUAL(fb_net_mail_send(off, "bob@example.com", "s", "b", &err), FB_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "smtp.host is not set"));
	CU_ASSERT_EQUAL(fb_net_mail_send(NULL, "bob@example.com", "s", "b", &err), FB_ERR_CONFIG);
	/* Nobody listens: the connection error, naming the relay. */
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", "s", "b", &err), FB_ERR_UPSTREAM);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "smtp 127.0.0.1:1: "));
	fb_conf_free(c);
	fb_conf_free(off);
}

/* ---- a real SMTP server (tests/fixtures/smtp/smtpd.py, python3-aiosmtpd) ---------- */

struct smtpd {
	pid_t pid;
	int port;
	char *dir;
};

static int
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* The content of dir/name, or NULL. New. */
static char *
slurp(const char *dir, const char *name)
{
	char *path = fb_xasprintf("%s/%s", dir, name), buf[4096];
	struct fb_buf b;
	FILE *f = fopen(path, "rb");
	size_t n;

	free(path);
	if (f == NULL)
		return NULL;
	fb_buf_init(&b, 4 * 1024 * 1024);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fb_buf_add(&b, buf, n, NULL);
	fclose(f);
	return fb_buf_take(&b);
}

/*
 * Runs argv (python3 and its arguments) with stdout on a pipe and stderr to
 * logpath (NULL: inherited); the child's pid, its first stdout line in line.
 */
static pid_t
spawn_ready(const char *const *argv, const char *logpath, char *line, size_t linelen)
{
	struct pollfd pfd;
	size_t got = 0;
	int pipefd[2];
	pid_t pid;

	line[0] = '\0';
	if (pipe(pipefd) != 0)
		return -1;
	if ((pid = fork()) == 0) {
		int logfd =
		    logpath != NULL ? open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600) : -1;

		if (logfd >= 0)
			dup2(logfd, 2);
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		execv(PYTHON, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(pipefd[1]);
	pfd.fd = pipefd[0];
	pfd.events = POLLIN;
	while (got < linelen - 1 && strchr(line, '\n') == NULL && poll(&pfd, 1, 15000) == 1) {
		ssize_t n = read(pipefd[0], line + got, linelen - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
		line[got] = '\0';
	}
	close(pipefd[0]);
	return pid;
}

/* Starts the server with extra arguments (NULL-terminated); 0 once it said READY. */
static int
smtpd_start(struct smtpd *s, const char *const *extra)
{
	char portbuf[16], line[64] = "", *logpath;
	const char *argv[16];
	size_t argc = 0;

	s->dir = fb_test_tmpdir();
	s->port = free_port();
	s->pid = -1;
	snprintf(portbuf, sizeof(portbuf), "%d", s->port);
	argv[argc++] = PYTHON;
	argv[argc++] = SMTPD;
	argv[argc++] = "--port";
	argv[argc++] = portbuf;
	argv[argc++] = "--dir";
	argv[argc++] = s->dir;
	for (size_t i = 0; extra != NULL && extra[i] != NULL && argc < 15; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	/* The server's warnings and tracebacks go to DIR/stderr.log, not the test output. */
	logpath = fb_xasprintf("%s/stderr.log", s->dir);
	s->pid = spawn_ready(argv, logpath, line, sizeof(line));
	free(logpath);
	if (strncmp(line, "READY", 5) != 0) {
		char *log = slurp(s->dir, "stderr.log");

		fprintf(stderr,
		    "\nthe SMTP test server did not start (is python3-aiosmtpd "
		    "installed? apt-get install python3-aiosmtpd):\n%s\n",
		    log != NULL ? log : "");
		free(log);
		return -1;
	}
	return 0;
}

static void
smtpd_stop(struct smtpd *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
	}
	if (s->dir != NULL) {
		fb_test_rmtree(s->dir);
		free(s->dir);
	}
	s->dir = NULL;
	s->pid = -1;
}

static void
test_send_plain(void)
{
	struct smtpd s;
	struct fb_conf *c;
	struct fb_err err;
	char *m, *env;

	CU_ASSERT_EQUAL_FATAL(smtpd_start(&s, NULL), 0);
	c = load_smtp(s.port, "none", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", "R\xc3\xa9initialiser",
	                    "Hello Bob,\n.\n..two dots\nhttps://sso.example.org/r/abc\n", &err),
	    FB_OK);
	m = slurp(s.dir, "0001.eml");
	env = slurp(s.dir, "0001.json");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_PTR_NOT_NULL_FATAL(env);
	expect_header(m, "To", "To: bob@example.com");
	expect_header(m, "Subject", "Subject: =?UTF-8?B?UsOpaW5pdGlhbGlzZXI=?=");
	expect_header(m, "From", "From: =?UTF-8?B?RsOpZMOpcmF0aW9uIFNTTw==?= <sso@example.org>");
	/* Lines starting with a dot survive SMTP's dot-stuffing. */
	CU_ASSERT_STRING_EQUAL(body_of(m),
	    "Hello Bob,\r\n.\r\n..two dots\r\nhttps://sso.example.org/r/abc\r\n");
	CU_ASSERT_PTR_NOT_NULL(strstr(env, "\"mail_from\": \"sso@example.org\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(env, "\"rcpt_tos\": [\"bob@example.com\"]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(env, "\"auth_login\": null"));
	free(m);
	free(env);

	/* The relay refuses the recipient: FB_ERR_UPSTREAM with the server's answer. */
	smtpd_stop(&s);
	fb_conf_free(c);
	{
		const char *const args[] = {"--reject-rcpt", "nobody@example.com", NULL};

		CU_ASSERT_EQUAL_FATAL(smtpd_start(&s, args), 0);
	}
	c = load_smtp(s.port, "none", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "nobody@example.com", "s", "b", &err), FB_ERR_UPSTREAM);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "550"));
	CU_ASSERT_PTR_NULL(slurp(s.dir, "0001.eml"));
	smtpd_stop(&s);
	fb_conf_free(c);
}

static void
test_send_auth(void)
{
	const char *const args[] = {"--auth", "AKIAEXAMPLE:s3cret-SMTP-pass", NULL};
	struct smtpd s;
	struct fb_conf *c;
	struct fb_err err;
	char *env;

	CU_ASSERT_EQUAL_FATAL(smtpd_start(&s, args), 0);
	setenv("FB_TEST_SMTP_PW", "s3cret-SMTP-pass", 1);
	c = load_smtp(s.port, "none", "  username: AKIAEXAMPLE\n  password: env:FB_TEST_SMTP_PW\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", "s", "b", &err), FB_OK);
	env = slurp(s.dir, "0001.json");
	CU_ASSERT(env != NULL && strstr(env, "\"auth_login\": \"AKIAEXAMPLE\"") != NULL);
	free(env);
	fb_conf_free(c);

	/* A wrong password: refused, and the error never holds the password. */
	setenv("FB_TEST_SMTP_PW", "wrong-password-value", 1);
	c = load_smtp(s.port, "none", "  username: AKIAEXAMPLE\n  password: env:FB_TEST_SMTP_PW\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", "s", "b", &err), FB_ERR_UPSTREAM);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "smtp 127.0.0.1:"));
	CU_ASSERT_PTR_NULL(strstr(err.msg, "wrong-password-value"));
	CU_ASSERT_PTR_NULL(slurp(s.dir, "0002.eml"));
	fb_conf_free(c);

	/* No credentials at all: the relay requires them. */
	c = load_smtp(s.port, "none", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", "s", "b", &err), FB_ERR_UPSTREAM);
	fb_conf_free(c);
	unsetenv("FB_TEST_SMTP_PW");
	smtpd_stop(&s);
}

static void
test_send_tls(void)
{
	const char *const starttls[] = {"--starttls", CERT, KEY, NULL};
	const char *const smtps[] = {"--smtps", CERT, KEY, NULL};
	struct smtpd s;
	struct fb_conf *c;
	struct fb_err err;

	/* SECURITY: starttls required but the server does not offer it: no plain fallback. */
	CU_ASSERT_EQUAL_FATAL(smtpd_start(&s, NULL), 0);
	c = load_smtp(s.port, "starttls", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", "s", "b", &err), FB_ERR_UPSTREAM);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "STARTTLS"));
	CU_ASSERT_PTR_NULL(slurp(s.dir, "0001.eml"));
	fb_conf_free(c);
	smtpd_stop(&s);

	/* STARTTLS offered with a certificate nobody vouches for: verification is on. */
	CU_ASSERT_EQUAL_FATAL(smtpd_start(&s, starttls), 0);
	c = load_smtp(s.port, "starttls", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", "s", "b", &err), FB_ERR_UPSTREAM);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "certificate"));
	CU_ASSERT_PTR_NULL(slurp(s.dir, "0001.eml"));
	fb_conf_free(c);
	/* The same server with security none: it requires STARTTLS, so the plain mail fails. */
	c = load_smtp(s.port, "none", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", "s", "b", &err), FB_ERR_UPSTREAM);
	fb_conf_free(c);
	smtpd_stop(&s);

	/* Implicit TLS (smtps): the handshake happens, and the certificate is checked. */
	CU_ASSERT_EQUAL_FATAL(smtpd_start(&s, smtps), 0);
	c = load_smtp(s.port, "tls", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(fb_net_mail_send(c, "bob@example.com", "s", "b", &err), FB_ERR_UPSTREAM);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "certificate"));
	fb_conf_free(c);
	smtpd_stop(&s);
}

/* --- HTTPS client (net/http.c) against tests/fixtures/http/httpd.py --- */

#define HTTPD    FB_SRCDIR "/tests/fixtures/http/httpd.py"
#define TLS_CERT FB_SRCDIR "/tests/fixtures/keys/localhost.crt.pem"
#define TLS_KEY  FB_SRCDIR "/tests/fixtures/keys/localhost.key.pem"

struct httpd {
	pid_t pid;
	int port;
};

/* Starts the HTTPS test peer; 0 once it listens. */
static int
httpd_start(struct httpd *s)
{
	const char *argv[] = {PYTHON, HTTPD, "--cert", TLS_CERT, "--key", TLS_KEY, NULL};
	char line[64];

	s->port = 0;
	s->pid = spawn_ready(argv, NULL, line, sizeof(line));
	if (strncmp(line, "READY ", 6) != 0)
		return -1;
	s->port = (int)strtol(line + 6, NULL, 10);
	return s->port > 0 ? 0 : -1;
}

static void
httpd_stop(struct httpd *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
	}
	s->pid = -1;
}

/* A request for path on the peer, trusting its certificate. url is the caller's buffer. */
static struct fb_net_http_request
http_rq(const struct httpd *s, const char *host, const char *path, char *url, size_t urllen)
{
	struct fb_net_http_request rq = {0};

	snprintf(url, urllen, "https://%s:%d%s", host, s->port, path);
	rq.url = url;
	rq.ca_file = TLS_CERT;
	rq.timeout_ms = 10000;
	return rq;
}

static void
test_http_fetch(void)
{
	struct fb_net_http_response resp;
	struct fb_net_http_request rq;
	struct httpd s;
	struct fb_err err;
	char url[128];

	CU_ASSERT_EQUAL_FATAL(httpd_start(&s), 0);
	/* GET, certificate checked against ca_file, name localhost and address 127.0.0.1. */
	rq = http_rq(&s, "localhost", "/echo", url, sizeof(url));
	rq.accept = "application/json";
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_OK);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT(resp.content_type != NULL && strcmp(resp.content_type, "application/json") == 0);
	CU_ASSERT(resp.body != NULL && strstr(resp.body, "\"method\": \"GET\"") != NULL);
	CU_ASSERT(
	    resp.body != NULL && strstr(resp.body, "\"accept\": \"application/json\"") != NULL);
	CU_ASSERT_EQUAL(resp.body_len, strlen(resp.body));
	fb_net_http_response_cleanup(&resp);

	/* POST form with HTTP Basic. */
	rq = http_rq(&s, "127.0.0.1", "/echo", url, sizeof(url));
	rq.body = "grant_type=authorization_code&code=abc";
	rq.body_len = strlen(rq.body);
	rq.username = "client";
	rq.password = "s3cret";
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_OK);
	CU_ASSERT(
	    strstr(resp.body, "\"body\": \"grant_type=authorization_code&code=abc\"") != NULL);
	CU_ASSERT(strstr(resp.body, "\"authorization\": \"Basic Y2xpZW50OnMzY3JldA==\"") != NULL);
	CU_ASSERT(strstr(resp.body, "application/x-www-form-urlencoded") != NULL);
	fb_net_http_response_cleanup(&resp);

	/* A bearer token (userinfo). */
	rq = http_rq(&s, "localhost", "/echo", url, sizeof(url));
	rq.bearer = "at-123";
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_OK);
	CU_ASSERT(strstr(resp.body, "\"authorization\": \"Bearer at-123\"") != NULL);
	fb_net_http_response_cleanup(&resp);

	/* A 500 is a response, not a transport failure: the caller judges it. */
	rq = http_rq(&s, "localhost", "/status/500", url, sizeof(url));
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_OK);
	CU_ASSERT_EQUAL(resp.status, 500);
	CU_ASSERT_EQUAL(resp.retry_after, -1);
	fb_net_http_response_cleanup(&resp);

	/* Other methods (SCIM's PATCH, PUT, DELETE), with or without a body. */
	rq = http_rq(&s, "localhost", "/echo", url, sizeof(url));
	rq.method = "PATCH";
	rq.body = "{\"Operations\":[]}";
	rq.body_len = strlen(rq.body);
	rq.content_type = "application/scim+json";
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_OK);
	CU_ASSERT(resp.body != NULL && strstr(resp.body, "\"method\": \"PATCH\"") != NULL);
	CU_ASSERT(resp.body != NULL && strstr(resp.body, "application/scim+json") != NULL);
	fb_net_http_response_cleanup(&resp);
	rq = http_rq(&s, "localhost", "/echo", url, sizeof(url));
	rq.method = "DELETE";
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_OK);
	CU_ASSERT(resp.body != NULL && strstr(resp.body, "\"method\": \"DELETE\"") != NULL);
	fb_net_http_response_cleanup(&resp);

	/* Retry-After is handed back (429 Too Many Requests). */
	rq = http_rq(&s, "localhost", "/retry/7", url, sizeof(url));
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_OK);
	CU_ASSERT_EQUAL(resp.status, 429);
	CU_ASSERT_EQUAL(resp.retry_after, 7);
	fb_net_http_response_cleanup(&resp);

	/* Redirects are never followed. */
	rq = http_rq(&s, "localhost", "/redirect", url, sizeof(url));
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_OK);
	CU_ASSERT_EQUAL(resp.status, 302);
	CU_ASSERT_STRING_EQUAL(resp.body, "");
	fb_net_http_response_cleanup(&resp);

	/* The body is bounded: exactly max passes, one byte more fails. */
	rq = http_rq(&s, "localhost", "/big/4096", url, sizeof(url));
	rq.max_body = 4096;
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_OK);
	CU_ASSERT_EQUAL(resp.body_len, 4096);
	fb_net_http_response_cleanup(&resp);
	rq.max_body = 4095;
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_ERR_UPSTREAM);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "larger than 4095"));
	CU_ASSERT_PTR_NULL(resp.body);

	/* SECURITY: verification is on: without the CA file the peer is not trusted. */
	rq = http_rq(&s, "localhost", "/echo", url, sizeof(url));
	rq.ca_file = NULL;
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_ERR_UPSTREAM);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "certificate"));
	/* ... nor under a name its certificate does not carry. */
	rq = http_rq(&s, "127.0.0.2", "/echo", url, sizeof(url));
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_ERR_UPSTREAM);
	/* Plain http:// is refused before any connection. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", s.port);
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_ERR_INVALID);
	/* ... unless asked for, and then to loopback hosts only (this port speaks TLS). */
	rq.loopback_http = 1;
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_ERR_UPSTREAM);
	fb_net_http_response_cleanup(&resp);
	snprintf(url, sizeof(url), "http://127.evil.example:%d/echo", s.port);
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_ERR_INVALID);
	snprintf(url, sizeof(url), "http://u@127.0.0.1:%d/echo", s.port);
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_ERR_INVALID);
	snprintf(url, sizeof(url), "http://sso.example.com/echo");
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_ERR_INVALID);
	rq.loopback_http = 0;

	/* A peer that never answers: the total timeout ends it. */
	rq = http_rq(&s, "localhost", "/hang", url, sizeof(url));
	rq.timeout_ms = 300;
	CU_ASSERT_EQUAL(fb_net_http_fetch(&rq, &resp, &err), FB_ERR_UPSTREAM);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "imeout"));
	httpd_stop(&s);
}

/* What the asynchronous test records. */
struct http_async {
	struct event_base *base;
	int ok_done, hang_done, err_done, ticks, ticks_at_ok;
	long ok_status, err_status;
	enum fb_status hang_st;
	char hang_msg[sizeof(((struct fb_err *)0)->msg) + 1];
	int cancelled_called;
	int expected;
};

static void
async_finish(struct http_async *a)
{
	if (a->ok_done + a->hang_done + a->err_done == a->expected)
		event_base_loopexit(a->base, NULL);
}

static void
async_ok(enum fb_status st, struct fb_net_http_response *resp, const struct fb_err *err, void *arg)
{
	struct http_async *a = arg;

	a->ok_done++;
	a->ok_status = st == FB_OK ? resp->status : -1;
	a->ticks_at_ok = a->ticks;
	async_finish(a);
}

static void
async_500(enum fb_status st, struct fb_net_http_response *resp, const struct fb_err *err, void *arg)
{
	struct http_async *a = arg;

	a->err_done++;
	a->err_status = st == FB_OK ? resp->status : -1;
	async_finish(a);
}

static void
async_hang(enum fb_status st, struct fb_net_http_response *resp, const struct fb_err *err,
    void *arg)
{
	struct http_async *a = arg;

	a->hang_done++;
	a->hang_st = st;
	if (err != NULL)
		snprintf(a->hang_msg, sizeof(a->hang_msg), "%s", err->msg);
	async_finish(a);
}

static void
async_never(enum fb_status st, struct fb_net_http_response *resp, const struct fb_err *err,
    void *arg)
{
	((struct http_async *)arg)->cancelled_called++;
}

static void
async_tick(evutil_socket_t fd, short what, void *arg)
{
	((struct http_async *)arg)->ticks++;
}

static void
test_http_async(void)
{
	struct fb_net_http_request rq;
	struct fb_net_http_call *call = NULL;
	struct fb_net_http *h;
	struct http_async a = {0};
	struct timeval tick = {0, 20000}, guard = {20, 0};
	struct event *tev;
	struct httpd s;
	struct fb_err err;
	char url[128];

	CU_ASSERT_EQUAL_FATAL(httpd_start(&s), 0);
	a.base = event_base_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(a.base);
	h = fb_net_http_new(a.base);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	/* A timer keeps firing on the same loop while a peer hangs. */
	tev = event_new(a.base, -1, EV_PERSIST, async_tick, &a);
	event_add(tev, &tick);
	a.expected = 3;

	/* The hanging request first: the others must not wait for it. */
	rq = http_rq(&s, "localhost", "/hang", url, sizeof(url));
	rq.timeout_ms = 1500;
	CU_ASSERT_EQUAL(fb_net_http_start(h, &rq, async_hang, &a, NULL, &err), FB_OK);
	rq = http_rq(&s, "localhost", "/echo", url, sizeof(url));
	CU_ASSERT_EQUAL(fb_net_http_start(h, &rq, async_ok, &a, NULL, &err), FB_OK);
	rq = http_rq(&s, "localhost", "/status/500", url, sizeof(url));
	CU_ASSERT_EQUAL(fb_net_http_start(h, &rq, async_500, &a, NULL, &err), FB_OK);
	/* A started then cancelled call never calls back. */
	rq = http_rq(&s, "localhost", "/hang", url, sizeof(url));
	CU_ASSERT_EQUAL(fb_net_http_start(h, &rq, async_never, &a, &call, &err), FB_OK);
	CU_ASSERT_PTR_NOT_NULL(call);
	fb_net_http_cancel(call);
	/* A bad URL fails at once, and nothing runs for it. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", s.port);
	CU_ASSERT_EQUAL(fb_net_http_start(h, &rq, async_never, &a, NULL, &err), FB_ERR_INVALID);
	CU_ASSERT_EQUAL(fb_net_http_running(h), 3);
	/* Nothing is called back from inside start. */
	CU_ASSERT_EQUAL(a.ok_done + a.hang_done + a.err_done, 0);

	event_base_loopexit(a.base, &guard); /* a safety net, not a synchronisation */
	event_base_dispatch(a.base);
	CU_ASSERT_EQUAL(a.ok_done, 1);
	CU_ASSERT_EQUAL(a.ok_status, 200);
	CU_ASSERT_EQUAL(a.err_done, 1);
	CU_ASSERT_EQUAL(a.err_status, 500);
	CU_ASSERT_EQUAL(a.hang_done, 1);
	CU_ASSERT_EQUAL(a.hang_st, FB_ERR_UPSTREAM);
	CU_ASSERT_PTR_NOT_NULL(strstr(a.hang_msg, "imeout"));
	CU_ASSERT_EQUAL(a.cancelled_called, 0);
	CU_ASSERT_EQUAL(fb_net_http_running(h), 0);
	/* The loop kept turning while the hanging peer held its request. */
	CU_ASSERT(a.ticks > a.ticks_at_ok);

	/* Freeing the client with a call running cancels it. */
	rq = http_rq(&s, "localhost", "/hang", url, sizeof(url));
	CU_ASSERT_EQUAL(fb_net_http_start(h, &rq, async_never, &a, NULL, &err), FB_OK);
	event_base_loop(a.base, EVLOOP_NONBLOCK);
	fb_net_http_free(h);
	CU_ASSERT_EQUAL(a.cancelled_called, 0);
	event_free(tev);
	event_base_free(a.base);
	httpd_stop(&s);
}

int
fb_test_net_register(void)
{
	CU_pSuite s = CU_add_suite("net", NULL, NULL);

	if (s == NULL || CU_add_test(s, "mail headers and body", test_build) == NULL ||
	    CU_add_test(s, "RFC 2047 and quoted-printable", test_build_encoding) == NULL ||
	    CU_add_test(s, "bad input and header injection", test_bad_input) == NULL ||
	    CU_add_test(s, "send to a real SMTP server", test_send_plain) == NULL ||
	    CU_add_test(s, "SMTP authentication", test_send_auth) == NULL ||
	    CU_add_test(s, "STARTTLS and implicit TLS", test_send_tls) == NULL ||
	    CU_add_test(s, "HTTPS fetch: TLS, limits, no redirects", test_http_fetch) == NULL ||
	    CU_add_test(s, "HTTPS on the event loop: a hanging peer stalls nothing",
	        test_http_async) == NULL)
		return -1;
	return 0;
}
