/* SPDX-License-Identifier: Apache-2.0 */
/* local/qr.c: a QR code (libqrencode) drawn as an SVG element for the TOTP enrolment page. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <qrencode.h>

#include "core/core.h"
#include "local/local.h"

/* Modules of white around the code (ISO/IEC 18004 asks for 4). */
#define QUIET 4
/* The SVG of the largest QR code (version 40) is below this. */
#define SVG_MAX (4 * 1024 * 1024)

enum fb_status
fb_local_qr_svg(const char *text, char **out, struct fb_err *err)
{
	QRcode *qr = NULL;
	struct fb_buf b;
	int size, w;
	enum fb_status r = FB_ERR_INTERNAL;

	*out = NULL;
	fb_buf_init(&b, SVG_MAX);
	if (text == NULL || text[0] == '\0') {
		r = fb_err_set(err, FB_ERR_INVALID, "QR code: the text is empty");
		goto out;
	}
	/* Byte mode, so the URI is encoded exactly as given; level M survives some smudging. */
	errno = 0;
	qr = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
	if (qr == NULL) {
		r = errno == ERANGE
			? fb_err_set(err, FB_ERR_INVALID,
			      "QR code: %zu bytes of text do not fit in a QR code", strlen(text))
			: fb_err_set(err, FB_ERR_INTERNAL, "QR code: libqrencode failed: %s",
			      strerror(errno));
		goto out;
	}
	size = qr->width;
	w = size + 2 * QUIET;
	/*
	 * One path of unit squares, in module coordinates: the viewBox scales
	 * it, and shape-rendering keeps the edges sharp at any size.
	 */
	if ((r = fb_buf_addf(&b, err,
		 "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
		 "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"QR code\" "
		 "shape-rendering=\"crispEdges\"><rect width=\"%d\" height=\"%d\" "
		 "fill=\"#fff\"/><path fill=\"#000\" d=\"",
		 w, w, w * 6, w * 6, w, w)) != FB_OK)
		goto out;
	for (int y = 0; y < size; y++)
		for (int x = 0; x < size; x++)
			/* Bit 0 of each byte is the module's colour (1 = dark). */
			if ((qr->data[y * size + x] & 1) != 0 &&
			    (r = fb_buf_addf(&b, err, "M%d %dh1v1h-1z", x + QUIET, y + QUIET)) !=
				FB_OK)
				goto out;
	if ((r = fb_buf_addf(&b, err, "\"/></svg>")) != FB_OK)
		goto out;
	*out = fb_buf_take(&b);
	r = FB_OK;
out:
	QRcode_free(qr);
	fb_buf_cleanup(&b);
	return r;
}
