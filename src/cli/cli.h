/* SPDX-License-Identifier: Apache-2.0 */
/* cli: one file per subcommand; each returns the process exit status. */
#ifndef FB_CLI_CLI_H
#define FB_CLI_CLI_H

#include "core/core.h"

/* Exit statuses shared by every subcommand. */
#define FB_EXIT_OK 0
#define FB_EXIT_FAIL 1	/* the command ran and found a problem */
#define FB_EXIT_USAGE 2 /* bad command line */

int fb_cli_serve(int argc, char **argv);
int fb_cli_check_config(int argc, char **argv);
int fb_cli_keys(int argc, char **argv);
int fb_cli_version(int argc, char **argv);
int fb_cli_map(int argc, char **argv);
int fb_cli_user(int argc, char **argv);
int fb_cli_token(int argc, char **argv);
int fb_cli_metadata(int argc, char **argv);
int fb_cli_explain(int argc, char **argv);
int fb_cli_aws(int argc, char **argv);

/* 1 when argv[1..] holds -h or --help (after the subcommand name). */
int fb_cli_wants_help(int argc, char **argv);
/* Prints "fedbroker: <message>" to stderr (and the err's place with FB_DEBUG set). */
void fb_cli_error(const struct fb_err *err);
/*
 * The configuration file a subcommand uses when --config is absent:
 * $FEDBROKER_CONFIG, else NULL (built-in defaults). Borrowed.
 */
const char *fb_cli_default_config(void);

#endif
