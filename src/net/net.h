/* SPDX-License-Identifier: Apache-2.0 */
/* net: outbound connections. For now, sending mail through the configured SMTP relay. */
#ifndef FB_NET_NET_H
#define FB_NET_NET_H

#include "core/core.h"
#include "conf/conf.h"

/* Largest text body fb_net_mail_send accepts (bytes). */
#define FB_NET_MAIL_MAX_BODY (256 * 1024)
/* Largest subject (bytes, before encoding). */
#define FB_NET_MAIL_MAX_SUBJECT 256

/*
 * Sends one plain-text message (UTF-8) to the single address `to` through
 * conf's smtp: relay (host, port, security starttls|tls|none, username and
 * password when set, from, timeout), using libcurl's SMTP.
 *
 * BLOCKING: it waits for the whole SMTP dialogue (up to smtp.timeout).
 * Only the CLI and the jobs process may call it, never an event-loop
 * worker.
 *
 * All arguments are borrowed. The message carries From (smtp.from, display
 * name RFC 2047-encoded when not ASCII), To, Subject (RFC 2047-encoded when
 * not ASCII), Date, Message-ID (random, @ the from domain), MIME-Version,
 * Content-Type: text/plain; charset=utf-8 and Content-Transfer-Encoding:
 * 8bit (quoted-printable when a body line is longer than 998 bytes).
 * Body line ends are sent as CRLF.
 *
 * Returns:
 *   FB_ERR_CONFIG    smtp.host is not set (email is off);
 *   FB_ERR_INVALID   `to` is not an addr-spec (fb_conf_addr_spec_check),
 *                    `to` or subject contain CR or LF (SECURITY: header
 *                    injection), subject or body are not UTF-8 or too long;
 *   FB_ERR_UPSTREAM  the connection, TLS (certificate verification is on),
 *                    STARTTLS, authentication or a command failed; msg has
 *                    the server and curl's error text (never the password).
 */
enum fb_status fb_net_mail_send(const struct fb_conf *conf, const char *to, const char *subject,
    const char *text_body, struct fb_err *err);

#endif
