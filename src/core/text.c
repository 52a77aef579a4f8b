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

int
fb_utf8_check(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	while (p < end) {
		unsigned c = *p;
		size_t len;
		unsigned cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			p++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if ((size_t)(end - p) < len)
			return 0;
		for (size_t i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		/* Reject overlong forms, surrogates and values past U+10FFFF. */
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += len;
	}
	return 1;
}
