/* SPDX-License-Identifier: Apache-2.0 */
/* core: errors, logging, memory, bounded buffers, arenas, randomness, time. */
#ifndef FB_CORE_CORE_H
#define FB_CORE_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * FB_STATIC marks file-local functions that unit tests reach: static in the
 * daemon, visible when FB_UNIT_TESTS is defined.
 */
#ifdef FB_UNIT_TESTS
#define FB_STATIC
#else
#define FB_STATIC static
#endif

#define FB_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- errors ------------------------------------------------------------ */

enum fb_status {
	FB_OK = 0,
	FB_ERR_NOMEM,
	FB_ERR_INVALID,	  /* malformed input */
	FB_ERR_PROTOCOL,  /* well-formed, violates the spec */
	FB_ERR_SIGNATURE,
	FB_ERR_EXPIRED,
	FB_ERR_REPLAY,
	FB_ERR_DENIED,	  /* policy or mapping refused */
	FB_ERR_UPSTREAM,  /* a peer failed */
	FB_ERR_IO,
	FB_ERR_CONFIG,
	FB_ERR_INTERNAL,
	FB_ERR_NOTFOUND,
	FB_ERR_LIMIT,	  /* a size or time limit was broken */
};

/*
 * Where and why something failed. Caller-allocated, usually on the stack;
 * members are filled by fb_err_set() at the point of failure. msg is for
 * operators (the log), never for the browser.
 */
struct fb_err {
	enum fb_status code;
	const char *file;
	const char *func;
	int line;
	char msg[512];
};

#define fb_err_set(e, c, ...) fb_err_set_((e), (c), __FILE__, __LINE__, __func__, __VA_ARGS__)
/* Like fb_err_set, then appends OpenSSL's queued error text and clears the queue. */
#define fb_err_openssl(e, c, ...) \
	fb_err_openssl_((e), (c), __FILE__, __LINE__, __func__, __VA_ARGS__)

/* Fills err (may be NULL) and returns c, so callers can `return fb_err_set(...)`. */
enum fb_status fb_err_set_(struct fb_err *err, enum fb_status c, const char *file, int line,
    const char *func, const char *fmt, ...) FB_PRINTF(6, 7);
enum fb_status fb_err_openssl_(struct fb_err *err, enum fb_status c, const char *file, int line,
    const char *func, const char *fmt, ...) FB_PRINTF(6, 7);
/* Puts "prefix: " in front of err's message (used to add file:line context). */
void fb_err_prefix(struct fb_err *err, const char *fmt, ...) FB_PRINTF(2, 3);
/* Resets err to FB_OK with an empty message. */
void fb_err_clear(struct fb_err *err);
/* A stable lower-case name for a status ("invalid", "expired", ...). Borrowed, static. */
const char *fb_status_name(enum fb_status s);

/* ---- logging ------------------------------------------------------------ */

enum fb_log_level {
	FB_LOG_DEBUG = 0,
	FB_LOG_INFO,
	FB_LOG_WARN,
	FB_LOG_ERROR,
};

enum fb_log_format {
	FB_LOG_LOGFMT = 0,
	FB_LOG_JSON,
};

extern enum fb_log_level fb_log_min_level;

/*
 * Sets the output format, the minimum level and the file descriptor lines
 * are written to (2 by default). Each line is written with one write(2), so
 * lines from several worker processes never interleave.
 */
void fb_log_setup(enum fb_log_format format, enum fb_log_level level, int fd);
/* Parses "debug", "info", "warn", "error"; returns -1 when unknown. */
int fb_log_level_parse(const char *s);
/* Parses "logfmt", "json"; returns -1 when unknown. */
int fb_log_format_parse(const char *s);
/*
 * Registers a secret value (copied) that must never appear in the log: any
 * occurrence in a line is replaced by "[REDACTED]" before it is written.
 * This is the last line of defence; code must not log secrets to begin with.
 * Values shorter than 4 bytes are ignored (they would redact common words).
 */
void fb_log_secret_add(const char *secret);
/* Forgets every registered secret (wiping the copies). */
void fb_log_secret_clear(void);
/* Sets the process role written as proc= on every line ("master", "worker.1", ...). */
void fb_log_proc_set(const char *proc);
/*
 * Calls hook(event, arg) after every audit line this process writes (the
 * metrics count them); NULL removes it. The event is borrowed for the call.
 */
void fb_log_audit_hook_set(void (*hook)(const char *event, void *arg), void *arg);
/*
 * Calls sink(event, detail, arg) after every audit line this process
 * writes, detail being a JSON object text of the line's other fields, its
 * message and request id (secrets redacted); both borrowed for the call.
 * An audit line written by the sink itself is not given to it again. The
 * command line records what it changes in the store's audit log this way.
 * NULL removes it.
 */
void fb_log_audit_sink_set(void (*sink)(const char *event, const char *detail, void *arg),
    void *arg);

/*
 * Writes one event. cat is "app", "access" or "audit"; reqid may be NULL.
 * The message is formatted; kv is a NULL-terminated list of extra
 * key, value string pairs (may be NULL).
 */
void fb_log_write(enum fb_log_level level, const char *cat, const char *func, const char *reqid,
    const char *const *kv, const char *fmt, ...) FB_PRINTF(6, 7);
void fb_log_vwrite(enum fb_log_level level, const char *cat, const char *func, const char *reqid,
    const char *const *kv, const char *fmt, va_list ap) FB_PRINTF(6, 0);

/* One field of a structured event: a string (skipped when NULL), an integer or a real. */
enum fb_log_ftype {
	FB_LOG_F_STR = 0,
	FB_LOG_F_INT,
	FB_LOG_F_REAL,
};
struct fb_log_field {
	const char *key; /* NULL ends a list */
	enum fb_log_ftype type;
	const char *s;
	int64_t i;
	double d;
};
#define FB_LOG_STR(k, v)  {.key = (k), .type = FB_LOG_F_STR, .s = (v)}
#define FB_LOG_INT(k, v)  {.key = (k), .type = FB_LOG_F_INT, .i = (int64_t)(v)}
#define FB_LOG_REAL(k, v) {.key = (k), .type = FB_LOG_F_REAL, .d = (double)(v)}

/*
 * Writes one named event: event= first (none when NULL), then fields (borrowed, ended by a
 * field whose key is NULL; may be NULL). Identifiers go in fields, not in
 * the message; integers and reals are JSON numbers with log.format json.
 * Category "audit" is written whatever the level.
 */
void fb_log_event(enum fb_log_level level, const char *cat, const char *func, const char *reqid,
    const char *event, const struct fb_log_field *fields, const char *fmt, ...) FB_PRINTF(7, 8);
void fb_log_vevent(enum fb_log_level level, const char *cat, const char *func, const char *reqid,
    const char *event, const struct fb_log_field *fields, const char *fmt, va_list ap)
    FB_PRINTF(7, 0);

/* The level is checked before the arguments are evaluated. */
#define fb_log(lvl, ...)                                                           \
	do {                                                                       \
		if ((lvl) >= fb_log_min_level)                                     \
			fb_log_write((lvl), "app", __func__, NULL, NULL, __VA_ARGS__); \
	} while (0)
/* A security event: always written, at info, category audit, with an event name. */
#define fb_audit(reqid, event, ...)                                              \
	fb_log_write(FB_LOG_INFO, "audit", __func__, (reqid),                    \
	    (const char *const[]){"event", (event), NULL}, __VA_ARGS__)
/* The same with fields: fb_audit_fields(reqid, event, FIELDS(...), fmt, ...). */
#define fb_audit_fields(reqid, event, fields, ...) \
	fb_log_event(FB_LOG_INFO, "audit", __func__, (reqid), (event), (fields), __VA_ARGS__)
#define FB_LOG_FIELDS(...) ((const struct fb_log_field[]){__VA_ARGS__, {0}})
/* Logs err with the place it was raised. */
void fb_log_err(enum fb_log_level level, const char *reqid, const struct fb_err *err);
/*
 * The connection's address (a trusted proxy's) while this thread handles
 * a request whose client is another address: audit lines name it as
 * "peer" beside the client's "addr". NULL or "" clears it; copied.
 * fb_log_peer returns it (borrowed, valid until the next set) or NULL.
 */
void fb_log_peer_set(const char *peer);
const char *fb_log_peer(void);
/*
 * An audit line (level info) of func (the module): event, the user and the
 * client's addr when not NULL (with the proxy's "peer" when it differs),
 * then the fields of more (borrowed; may be NULL).
 */
void fb_log_vaudit(const char *reqid, const char *func, const char *event, const char *user,
    const char *addr, const struct fb_log_field *more, const char *fmt, va_list ap)
    FB_PRINTF(7, 0);

/* ---- memory ------------------------------------------------------------- */

/* These abort with a log line on allocation failure: callers need not check. */
void *fb_xmalloc(size_t n);
void *fb_xcalloc(size_t n, size_t size);
void *fb_xrealloc(void *p, size_t n);
char *fb_xstrdup(const char *s);
char *fb_xstrndup(const char *s, size_t n);
char *fb_xasprintf(const char *fmt, ...) FB_PRINTF(1, 2);
char *fb_xvasprintf(const char *fmt, va_list ap) FB_PRINTF(1, 0);
/* Wipes n bytes (not optimised away). */
void fb_secret_wipe(void *p, size_t n);
/* Wipes and frees a NUL-terminated secret string; NULL is a no-op. */
void fb_secret_free(char *s);

/*
 * A growable byte buffer with a mandatory upper bound, for data that comes
 * from a peer. Members are private; use the API. Data is always
 * NUL-terminated after the last byte.
 */
struct fb_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void fb_buf_init(struct fb_buf *b, size_t max);
/* Appends n bytes; FB_ERR_LIMIT (err filled) when the result would exceed max. */
enum fb_status fb_buf_add(struct fb_buf *b, const void *p, size_t n, struct fb_err *err);
enum fb_status fb_buf_addf(struct fb_buf *b, struct fb_err *err, const char *fmt, ...)
    FB_PRINTF(3, 4);
/*
 * Appends s escaped for HTML and XML: & < > " ' become entities, so the
 * result is safe in element content and in a double- or single-quoted
 * attribute value. NULL appends nothing. FB_ERR_LIMIT when b's bound is
 * reached.
 */
enum fb_status fb_buf_add_escaped(struct fb_buf *b, const char *s, struct fb_err *err);
/* Returns the data (new, caller frees) and leaves b empty. */
char *fb_buf_take(struct fb_buf *b);
void fb_buf_reset(struct fb_buf *b);
void fb_buf_cleanup(struct fb_buf *b);

/*
 * An arena: many small allocations freed in one go, plus dispose callbacks
 * for foreign objects (json_t, EVP_PKEY, ...) run in reverse order of
 * registration when the arena is freed.
 */
struct fb_arena;
struct fb_arena *fb_arena_new(void);
void fb_arena_free(struct fb_arena *a);
void *fb_arena_alloc(struct fb_arena *a, size_t n);
char *fb_arena_strdup(struct fb_arena *a, const char *s);
char *fb_arena_printf(struct fb_arena *a, const char *fmt, ...) FB_PRINTF(2, 3);
void fb_arena_dispose(struct fb_arena *a, void (*fn)(void *), void *p);

/* ---- randomness and encodings ---------------------------------------- */

/*
 * Fills p with n bytes from OpenSSL's CSPRNG (fork-safe). Aborts if the
 * generator fails: nothing may continue with predictable values.
 */
void fb_rand_bytes(void *p, size_t n);
/* The value of hexadecimal digit c (either case), -1 when c is not one. */
int fb_hex_value(char c);
/* Writes 2*n lowercase hex characters plus NUL into out (size >= 2n+1). */
void fb_hex_encode(const void *p, size_t n, char *out);
/* A new random identifier of nbytes bytes, base64url without padding. New, caller frees. */
char *fb_rand_token(size_t nbytes);
/* base64url without padding. New, caller frees. */
char *fb_b64url_encode(const void *p, size_t n);
/* Decodes base64url (padding optional). New buffer in *out, caller frees. */
enum fb_status fb_b64url_decode(const char *s, unsigned char **out, size_t *outlen,
    struct fb_err *err);
/* Compares n bytes in constant time; 0 when equal. */
int fb_memeq_ct(const void *a, const void *b, size_t n);

/* ---- IP addresses (core/addr.c) ------------------------------------------ */

/* Longest address text read or written ("ffff:...:255.255.255.255" and NUL). */
#define FB_ADDR_TEXT_MAX 46

/* An IPv4 or IPv6 address; IPv4-mapped IPv6 addresses are kept as IPv4. */
struct fb_addr {
	unsigned char a[16]; /* network order; the first 4 bytes for IPv4 */
	int v6;
};

/* An address block: addr with its first bits significant. */
struct fb_addr_cidr {
	struct fb_addr addr;
	int bits;
};

/*
 * 1 when s is a whole IPv4 or IPv6 address (no brackets, port or zone id)
 * and *out holds it, else 0.
 */
int fb_addr_parse(const char *s, struct fb_addr *out);
/* The canonical text of a (inet_ntop) into out (outlen >= FB_ADDR_TEXT_MAX). */
void fb_addr_format(const struct fb_addr *a, char *out, size_t outlen);
/*
 * Parses "ADDR" or "ADDR/BITS" (IPv4 or IPv6). FB_ERR_INVALID (err filled)
 * when not an address, the prefix is out of range or host bits are set.
 */
enum fb_status fb_addr_cidr_parse(const char *s, struct fb_addr_cidr *out, struct fb_err *err);
/* 1 when a is inside c. */
int fb_addr_cidr_match(const struct fb_addr_cidr *c, const struct fb_addr *a);

/* ---- time and text ------------------------------------------------------ */

/*
 * Wall clock seconds (fb_time_now) and milliseconds (fb_time_now_ms), one
 * clock: fb_time_now() is fb_time_now_ms() / 1000. Tests may set
 * fb_time_offset (seconds) to move the clock, or fb_time_clock_ms to an
 * injectable now() that replaces the real clock (NULL: the real one).
 */
extern int64_t fb_time_offset;
extern int64_t (*fb_time_clock_ms)(void);
int64_t fb_time_now(void);
int64_t fb_time_now_ms(void);
/* Monotonic clock in microseconds. */
int64_t fb_time_mono_us(void);
/* Formats t as RFC 3339 UTC with milliseconds when ms >= 0 into out (>= 32 bytes). */
void fb_time_format(int64_t t, int ms, char *out, size_t outlen);
/*
 * Parses a duration: an integer followed by s, m, h or d ("90s", "8h");
 * a bare integer means seconds. FB_ERR_INVALID on anything else.
 */
enum fb_status fb_duration_parse(const char *s, int64_t *out, struct fb_err *err);
/* Levenshtein distance, capped at 255; for "did you mean" suggestions. */
int fb_str_distance(const char *a, const char *b);
/*
 * UTF-8 (RFC 3629). fb_utf8_valid: 1 when the n bytes at s are UTF-8 without
 * overlong forms, surrogates or values past U+10FFFF (NUL bytes allowed);
 * fb_utf8_check: the same, and no NUL byte.
 */
int fb_utf8_valid(const char *s, size_t n);
int fb_utf8_check(const char *s, size_t n);
/* Code points in n bytes of valid UTF-8 (the bytes that do not continue a sequence). */
size_t fb_utf8_len(const char *s, size_t n);
/* Byte offset of code point i in n bytes of valid UTF-8; n when i is at or past the end. */
size_t fb_utf8_offset(const char *s, size_t n, size_t i);
/* Writes cp (at most U+10FFFF, not a surrogate) to out as 1 to 4 bytes; returns how many. */
size_t fb_utf8_encode(uint32_t cp, char *out);

#endif
