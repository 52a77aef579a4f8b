/* SPDX-License-Identifier: Apache-2.0 */
/* cli/map.c: placeholder until the mapping engine's owner writes it. */
#include <stdio.h>

#include "cli/cli.h"

int
fb_cli_map(int argc, char **argv)
{
	fprintf(stderr, "fedbroker: map is not built yet\n");
	return FB_EXIT_FAIL;
}
