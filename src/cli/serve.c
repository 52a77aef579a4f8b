/* SPDX-License-Identifier: Apache-2.0 */
/* cli/serve.c: placeholder until its module's owner writes it. */
#include <stdio.h>

#include "cli/cli.h"

int
fb_cli_serve(int argc, char **argv)
{
	fprintf(stderr, "fedbroker: serve is not built yet\n");
	return FB_EXIT_FAIL;
}
