/* SPDX-License-Identifier: Apache-2.0 */
/* cli/keys.c: placeholder until its module's owner writes it. */
#include <stdio.h>

#include "cli/cli.h"

int
fb_cli_keys(int argc, char **argv)
{
	fprintf(stderr, "fedbroker: keys is not built yet\n");
	return FB_EXIT_FAIL;
}
