/* SPDX-License-Identifier: Apache-2.0 */
/* cli/common.c: what every subcommand shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "cli/cli.h"

int
fb_cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
	}
	return 0;
}

void
fb_cli_error(const struct fb_err *err)
{
	fprintf(stderr, "fedbroker: %s\n", err->msg[0] != '\0' ? err->msg : fb_status_name(err->code));
	if (getenv("FB_DEBUG") != NULL && err->file != NULL)
		fprintf(stderr, "  (raised at %s:%d in %s)\n", err->file, err->line, err->func);
}

const char *
fb_cli_default_config(void)
{
	const char *p = getenv("FEDBROKER_CONFIG");

	return p != NULL && *p != '\0' ? p : NULL;
}
