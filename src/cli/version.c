/* SPDX-License-Identifier: Apache-2.0 */
/* cli/version.c: fedbroker version. */
#include <stdio.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <yaml.h>

#include "core/core.h"
#include "cli/cli.h"

int
fb_cli_version(int argc, char **argv)
{
	if (fb_cli_wants_help(argc, argv)) {
		printf("usage: fedbroker version\n\n"
		       "Prints fedbroker's version and the versions of the libraries it runs on.\n");
		return FB_EXIT_OK;
	}
	if (argc > 1) {
		fprintf(stderr, "fedbroker version: takes no arguments\n");
		return FB_EXIT_USAGE;
	}
	printf("fedbroker %s\n", FB_VERSION);
	printf("libevent %s, %s, jansson %s, libyaml %s, sqlite %s\n", event_get_version(),
	    OpenSSL_version(OPENSSL_VERSION), JANSSON_VERSION, yaml_get_version_string(),
	    sqlite3_libversion());
	return FB_EXIT_OK;
}
