/* SPDX-License-Identifier: Apache-2.0 */
/* core/log.c: one line per event, logfmt or JSON, secrets redacted. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/core.h"

#define LOG_MAX_SECRETS 64
#define LOG_REDACTED "[REDACTED]"

enum fb_log_level fb_log_min_level = FB_LOG_INFO;
static enum fb_log_format log_format = FB_LOG_LOGFMT;
static int log_fd = 2;
static char log_proc[32] = "main";
static char *log_secrets[LOG_MAX_SECRETS];
static size_t log_nsecrets;

static void add_field(json_t *o, struct fb_buf *b, const struct fb_log_field *f);
static void (*audit_hook)(const char *event, void *arg);
static void *audit_hook_arg;
static void (*audit_sink)(const char *event, const char *detail, void *arg);
static void *audit_sink_arg;
static int audit_sink_busy; /* a sink that logs an audit line does not recurse */
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
fb_log_setup(enum fb_log_format format, enum fb_log_level level, int fd)
{
	log_format = format;
	fb_log_min_level = level;
	log_fd = fd;
}

int
fb_log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

int
fb_log_format_parse(const char *s)
{
	if (strcmp(s, "logfmt") == 0)
		return FB_LOG_LOGFMT;
	if (strcmp(s, "json") == 0)
		return FB_LOG_JSON;
	return -1;
}

void
fb_log_proc_set(const char *proc)
{
	snprintf(log_proc, sizeof(log_proc), "%s", proc);
}

void
fb_log_secret_add(const char *secret)
{
	if (secret == NULL || strlen(secret) < 4 || log_nsecrets == LOG_MAX_SECRETS)
		return;
	for (size_t i = 0; i < log_nsecrets; i++)
		if (strcmp(log_secrets[i], secret) == 0)
			return;
	log_secrets[log_nsecrets++] = fb_xstrdup(secret);
}

void
fb_log_secret_clear(void)
{
	for (size_t i = 0; i < log_nsecrets; i++) {
		fb_secret_free(log_secrets[i]);
		log_secrets[i] = NULL;
	}
	log_nsecrets = 0;
}

/* Returns s with every registered secret replaced (new, caller frees). */
static char *
redact(const char *s)
{
	char *out = fb_xstrdup(s);

	for (size_t i = 0; i < log_nsecrets; i++) {
		const char *sec = log_secrets[i];
		size_t slen = strlen(sec);
		char *hit;

		while ((hit = strstr(out, sec)) != NULL) {
			char *n = fb_xasprintf("%.*s%s%s", (int)(hit - out), out, LOG_REDACTED,
			    hit + slen);

			free(out);
			out = n;
		}
	}
	return out;
}

/* logfmt: bare when the value has no space, quote, '=' or control byte. */
static void
logfmt_value(struct fb_buf *b, const char *v)
{
	const char *p;
	int bare = *v != '\0';

	for (p = v; *p != '\0'; p++)
		if (*p == ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p < 0x20 ||
		    *p == 0x7f)
			bare = 0;
	if (bare) {
		fb_buf_add(b, v, strlen(v), NULL);
		return;
	}
	fb_buf_add(b, "\"", 1, NULL);
	for (p = v; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};

			fb_buf_add(b, esc, 2, NULL);
		} else if (c == '\n') {
			fb_buf_add(b, "\\n", 2, NULL);
		} else if (c < 0x20 || c == 0x7f) {
			fb_buf_addf(b, NULL, "\\x%02x", c);
		} else {
			fb_buf_add(b, p, 1, NULL);
		}
	}
	fb_buf_add(b, "\"", 1, NULL);
}

static void
emit_line(struct fb_buf *b)
{
	size_t off = 0;

	fb_buf_add(b, "\n", 1, NULL);
	while (off < b->len) {
		ssize_t n = write(log_fd, b->data + off, b->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
}

void
fb_log_audit_sink_set(void (*sink)(const char *event, const char *detail, void *arg), void *arg)
{
	audit_sink = sink;
	audit_sink_arg = arg;
}

/* Gives sink the event and its fields, message and request id as a JSON object (redacted). */
static void
sink_call(const char *reqid, const struct fb_log_field *f, const char *msg)
{
	const char *event = NULL;
	json_t *o = json_object();
	char *detail;

	for (; f != NULL && f->key != NULL; f++) {
		if (strcmp(f->key, "event") == 0 && f->type == FB_LOG_F_STR)
			event = f->s;
		else
			add_field(o, NULL, f);
	}
	json_object_set_new(o, "msg", json_string(msg));
	if (reqid != NULL)
		json_object_set_new(o, "reqid", json_string(reqid));
	detail = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(o);
	if (event != NULL && detail != NULL) {
		audit_sink_busy = 1;
		audit_sink(event, detail, audit_sink_arg);
		audit_sink_busy = 0;
	}
	free(detail);
}

void
fb_log_audit_hook_set(void (*hook)(const char *event, void *arg), void *arg)
{
	audit_hook = hook;
	audit_hook_arg = arg;
}

/* Adds field f to the JSON object o, or as logfmt to b when o is NULL. */
static void
add_field(json_t *o, struct fb_buf *b, const struct fb_log_field *f)
{
	char *v;

	switch (f->type) {
	case FB_LOG_F_INT:
		if (o != NULL)
			json_object_set_new(o, f->key, json_integer((json_int_t)f->i));
		else
			fb_buf_addf(b, NULL, " %s=%jd", f->key, (intmax_t)f->i);
		break;
	case FB_LOG_F_REAL:
		if (o != NULL)
			json_object_set_new(o, f->key, json_real(f->d));
		else
			fb_buf_addf(b, NULL, " %s=%.3f", f->key, f->d);
		break;
	case FB_LOG_F_STR:
	default:
		if (f->s == NULL)
			break;
		v = redact(f->s);
		if (o != NULL) {
			json_object_set_new(o, f->key, json_string(v));
		} else {
			fb_buf_addf(b, NULL, " %s=", f->key);
			logfmt_value(b, v);
		}
		free(v);
		break;
	}
}

/* Writes one line: the fixed head, the message, then the fields (a NULL string value is skipped). */
static void
write_line(enum fb_log_level level, const char *cat, const char *func, const char *reqid,
    const struct fb_log_field *f, const char *fmt, va_list ap)
{
	struct timeval tv;
	char ts[40];
	char *msg, *raw;
	struct fb_buf b;
	int lvl = level < FB_LOG_DEBUG || level > FB_LOG_ERROR ? FB_LOG_ERROR : (int)level;
	const struct fb_log_field *f0 = f;

	gettimeofday(&tv, NULL);
	fb_time_format((int64_t)tv.tv_sec, (int)(tv.tv_usec / 1000), ts, sizeof(ts));
	raw = fb_xvasprintf(fmt, ap);
	msg = redact(raw);
	free(raw);
	fb_buf_init(&b, 1 << 20);
	if (log_format == FB_LOG_JSON) {
		json_t *o = json_object();
		char *line;

		json_object_set_new(o, "time", json_string(ts));
		json_object_set_new(o, "level", json_string(level_names[lvl]));
		json_object_set_new(o, "cat", json_string(cat));
		json_object_set_new(o, "proc", json_string(log_proc));
		if (func != NULL)
			json_object_set_new(o, "func", json_string(func));
		if (reqid != NULL)
			json_object_set_new(o, "reqid", json_string(reqid));
		json_object_set_new(o, "msg", json_string(msg));
		for (; f != NULL && f->key != NULL; f++)
			add_field(o, NULL, f);
		line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII |
		    JSON_REAL_PRECISION(6));
		json_decref(o);
		if (line != NULL)
			fb_buf_add(&b, line, strlen(line), NULL);
		free(line);
	} else {
		fb_buf_addf(&b, NULL, "time=%s level=%s cat=%s proc=%s", ts, level_names[lvl], cat,
		    log_proc);
		if (func != NULL)
			fb_buf_addf(&b, NULL, " func=%s", func);
		if (reqid != NULL) {
			fb_buf_add(&b, " reqid=", 7, NULL);
			logfmt_value(&b, reqid);
		}
		fb_buf_add(&b, " msg=", 5, NULL);
		logfmt_value(&b, msg);
		for (; f != NULL && f->key != NULL; f++)
			add_field(NULL, &b, f);
	}
	emit_line(&b);
	fb_buf_cleanup(&b);
	if (audit_hook != NULL && strcmp(cat, "audit") == 0)
		for (f = f0; f != NULL && f->key != NULL; f++)
			if (strcmp(f->key, "event") == 0 && f->type == FB_LOG_F_STR && f->s != NULL)
				audit_hook(f->s, audit_hook_arg);
	if (audit_sink != NULL && !audit_sink_busy && strcmp(cat, "audit") == 0)
		sink_call(reqid, f0, msg);
	free(msg);
}

/* Audit lines are written whatever the level. */
static int
wanted(enum fb_log_level level, const char *cat)
{
	return level >= fb_log_min_level || strcmp(cat, "audit") == 0;
}

void
fb_log_vwrite(enum fb_log_level level, const char *cat, const char *func, const char *reqid,
    const char *const *kv, const char *fmt, va_list ap)
{
	struct fb_log_field *f;
	size_t n = 0;

	if (!wanted(level, cat))
		return;
	while (kv != NULL && kv[2 * n] != NULL && kv[2 * n + 1] != NULL)
		n++;
	f = fb_xcalloc(n + 1, sizeof(*f));
	for (size_t i = 0; i < n; i++)
		f[i] = (struct fb_log_field)FB_LOG_STR(kv[2 * i], kv[2 * i + 1]);
	write_line(level, cat, func, reqid, f, fmt, ap);
	free(f);
}

void
fb_log_vevent(enum fb_log_level level, const char *cat, const char *func, const char *reqid,
    const char *event, const struct fb_log_field *fields, const char *fmt, va_list ap)
{
	struct fb_log_field *f;
	size_t n = 0;

	if (!wanted(level, cat))
		return;
	while (fields != NULL && fields[n].key != NULL)
		n++;
	f = fb_xcalloc(n + 2, sizeof(*f));
	f[0] = (struct fb_log_field)FB_LOG_STR("event", event);
	if (n > 0)
		memcpy(f + 1, fields, n * sizeof(*f));
	write_line(level, cat, func, reqid, f, fmt, ap);
	free(f);
}

void
fb_log_event(enum fb_log_level level, const char *cat, const char *func, const char *reqid,
    const char *event, const struct fb_log_field *fields, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fb_log_vevent(level, cat, func, reqid, event, fields, fmt, ap);
	va_end(ap);
}

void
fb_log_write(enum fb_log_level level, const char *cat, const char *func, const char *reqid,
    const char *const *kv, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fb_log_vwrite(level, cat, func, reqid, kv, fmt, ap);
	va_end(ap);
}

void
fb_log_err(enum fb_log_level level, const char *reqid, const struct fb_err *err)
{
	char where[300];

	if (level < fb_log_min_level || err == NULL)
		return;
	snprintf(where, sizeof(where), "%s:%d", err->file != NULL ? err->file : "?", err->line);
	fb_log_write(level, "app", err->func, reqid,
	    (const char *const[]){"error", fb_status_name(err->code), "at", where, NULL}, "%s",
	    err->msg);
}
