/* SPDX-License-Identifier: Apache-2.0 */
/* core/text.c: clocks, durations, string distance, UTF-8 validation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"

int64_t fb_time_offset;
int64_t (*fb_time_clock_ms)(void);

int64_t
fb_time_now_ms(void)
{
	struct timespec ts;
	int64_t ms;

	if (fb_time_clock_ms != NULL) {
		ms = fb_time_clock_ms();
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	}
	return ms + fb_time_offset * 1000;
}

int64_t
fb_time_now(void)
{
	int64_t ms = fb_time_now_ms();

	/* Floor, also before 1970 (a test clock may go there). */
	return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

int64_t
fb_time_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
fb_time_format(int64_t t, int ms, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char base[32];

	gmtime_r(&tt, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	if (ms >= 0)
		snprintf(out, outlen, "%s.%03dZ", base, ms % 1000);
	else
		snprintf(out, outlen, "%sZ", base);
}

enum fb_status
fb_duration_parse(const char *s, int64_t *out, struct fb_err *err)
{
	int64_t v = 0, mult = 1;
	const char *p = s;

	*out = 0;
	if (*p < '0' || *p > '9')
		return fb_err_set(err, FB_ERR_INVALID,
		    "'%s' is not a duration (write e.g. 30s, 15m, 8h, 7d)", s);
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (INT64_MAX - 9) / 10)
			return fb_err_set(err, FB_ERR_INVALID, "duration '%s' is too large", s);
		v = v * 10 + (*p - '0');
	}
	switch (*p) {
	case '\0':
		break;
	case 's':
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	default:
		return fb_err_set(err, FB_ERR_INVALID,
		    "'%s' is not a duration (write e.g. 30s, 15m, 8h, 7d)", s);
	}
	if (*p != '\0' && p[1] != '\0')
		return fb_err_set(err, FB_ERR_INVALID,
		    "'%s' is not a duration (write e.g. 30s, 15m, 8h, 7d)", s);
	if (v > INT64_MAX / mult)
		return fb_err_set(err, FB_ERR_INVALID, "duration '%s' is too large", s);
	*out = v * mult;
	return FB_OK;
}

int
fb_str_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int row[65], prev, tmp;

	if (la > 64 || lb > 64)
		return 255;
	for (j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = (int)i;
		for (j = 1; j <= lb; j++) {
			int cost = a[i - 1] == b[j - 1] ? 0 : 1;
			int best = prev + cost;

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb] > 255 ? 255 : row[lb];
}

/*
 * The one UTF-8 reader and writer (conf, http, saml, local and the mapping
 * language all use these). Runs of eight ASCII bytes are skipped in one step.
 */
int
fb_utf8_valid(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint64_t w;
		unsigned char ch;
		size_t len;
		uint32_t cp;

		if (i + 8 <= n) {
			memcpy(&w, s + i, 8);
			if ((w & 0x8080808080808080ull) == 0) {
				i += 8;
				continue;
			}
		}
		ch = (unsigned char)s[i];
		if (ch < 0x80) {
			i++;
			continue;
		}
		if ((ch & 0xe0) == 0xc0) {
			len = 2;
			cp = ch & 0x1f;
		} else if ((ch & 0xf0) == 0xe0) {
			len = 3;
			cp = ch & 0x0f;
		} else if ((ch & 0xf8) == 0xf0) {
			len = 4;
			cp = ch & 0x07;
		} else {
			return 0;
		}
		if (len > n - i)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if (((unsigned char)s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3f);
		}
		/* Reject overlong forms, surrogates and values past U+10FFFF. */
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

int
fb_utf8_check(const char *s, size_t n)
{
	return memchr(s, '\0', n) == NULL && fb_utf8_valid(s, n);
}

size_t
fb_utf8_len(const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			k++;
	return k;
}

size_t
fb_utf8_offset(const char *s, size_t n, size_t i)
{
	size_t b = 0;

	while (b < n && i > 0) {
		b++;
		while (b < n && ((unsigned char)s[b] & 0xc0) == 0x80)
			b++;
		i--;
	}
	return b;
}

size_t
fb_utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}
