/* SPDX-License-Identifier: Apache-2.0 */
/* cli/check_config.c: placeholder until its module's owner writes it. */
#include <stdio.h>

#include "cli/cli.h"

int
fb_cli_check_config(int argc, char **argv)
{
	fprintf(stderr, "fedbroker: check_config is not built yet\n");
	return FB_EXIT_FAIL;
}
