/* SPDX-License-Identifier: Apache-2.0 */
/* core/addr.c: IP addresses and CIDR blocks (trusted proxies), parsed by inet_pton. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* The IPv4-mapped IPv6 prefix ::ffff:0:0/96. */
static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int
fb_addr_parse(const char *s, struct fb_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (s == NULL || strlen(s) >= FB_ADDR_TEXT_MAX)
		return 0;
	if (inet_pton(AF_INET, s, out->a) == 1) {
		out->v6 = 0;
		return 1;
	}
	/* inet_pton refuses zone ids ("fe80::1%eth0"): not an address of a client. */
	if (inet_pton(AF_INET6, s, out->a) != 1)
		return 0;
	if (memcmp(out->a, v4mapped, sizeof(v4mapped)) == 0) {
		/* ::ffff:192.0.2.1 is 192.0.2.1: one client, one lockout key. */
		memmove(out->a, out->a + 12, 4);
		memset(out->a + 4, 0, 12);
		out->v6 = 0;
		return 1;
	}
	out->v6 = 1;
	return 1;
}

void
fb_addr_format(const struct fb_addr *a, char *out, size_t outlen)
{
	char buf[INET6_ADDRSTRLEN];

	if (inet_ntop(a->v6 ? AF_INET6 : AF_INET, a->a, buf, sizeof(buf)) == NULL)
		snprintf(buf, sizeof(buf), "-");
	snprintf(out, outlen, "%s", buf);
}

enum fb_status
fb_addr_cidr_parse(const char *s, struct fb_addr_cidr *out, struct fb_err *err)
{
	char addr[FB_ADDR_TEXT_MAX], *end;
	const char *slash = strchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	int max;
	long bits;

	memset(out, 0, sizeof(*out));
	if (alen == 0 || alen >= sizeof(addr))
		return fb_err_set(err, FB_ERR_INVALID, "not an address or CIDR block: '%.64s'", s);
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (!fb_addr_parse(addr, &out->addr))
		return fb_err_set(err, FB_ERR_INVALID,
		    "not an IPv4 or IPv6 address: '%s' (write 10.0.0.0/8 or 2001:db8::/32)", addr);
	max = strchr(addr, ':') != NULL ? 128 : 32;
	out->bits = out->addr.v6 ? 128 : 32;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
			return fb_err_set(err, FB_ERR_INVALID,
			    "'%.64s': the prefix length after / "
			    "must be a number",
			    s);
		bits = strtol(slash + 1, &end, 10);
		if (*end != '\0' || bits > max)
			return fb_err_set(err, FB_ERR_INVALID,
			    "'%.64s': the prefix length must be 0 to %d", s, max);
		/* An IPv4-mapped block (::ffff:10.0.0.0/104) is the IPv4 block. */
		if (!out->addr.v6 && strchr(addr, ':') != NULL) {
			if (bits < 96)
				return fb_err_set(err, FB_ERR_INVALID,
				    "'%.64s': an IPv4-mapped block needs a prefix of 96 or more",
				    s);
			bits -= 96;
		}
		out->bits = (int)bits;
	}
	max = out->addr.v6 ? 128 : 32;
	/* The address bits beyond the prefix must be zero: 10.1.0.0/8 is a typo. */
	for (int i = out->bits; i < max; i++)
		if (out->addr.a[i / 8] & (0x80 >> (i % 8)))
			return fb_err_set(err, FB_ERR_INVALID,
			    "'%.64s': host bits are set beyond the /%d prefix", s, out->bits);
	return FB_OK;
}

int
fb_addr_cidr_match(const struct fb_addr_cidr *c, const struct fb_addr *a)
{
	int full = c->bits / 8, rest = c->bits % 8;

	if (c->addr.v6 != a->v6)
		return 0;
	if (memcmp(c->addr.a, a->a, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((c->addr.a[full] ^ a->a[full]) & (0xff00 >> rest)) == 0;
}
