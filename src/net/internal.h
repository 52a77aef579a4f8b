/* SPDX-License-Identifier: Apache-2.0 */
/* net/internal.h: what the net module's files share, and what its unit tests reach. */
#ifndef FB_NET_INTERNAL_H
#define FB_NET_INTERNAL_H

#include "core/core.h"
#include "conf/conf.h"

#ifdef FB_UNIT_TESTS
/*
 * smtp.c: checks the arguments like fb_net_mail_send and builds the whole
 * message (headers, blank line, body, CRLF line ends) into *out (new,
 * caller frees). Needs smtp.from but not smtp.host.
 */
enum fb_status fb_net_mail_build(const struct fb_conf *conf, const char *to, const char *subject,
    const char *text_body, char **out, struct fb_err *err);
#endif

#endif
