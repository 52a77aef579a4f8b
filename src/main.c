/* SPDX-License-Identifier: Apache-2.0 */
/* main.c: the one binary; dispatches to a subcommand in src/cli/. */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "cli/cli.h"

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand subcommands[] = {
	{"serve", fb_cli_serve, "run the broker (master and workers)"},
	{"check-config", fb_cli_check_config, "validate a configuration file"},
	{"keys", fb_cli_keys, "signing keys: list, generate, activate, retire"},
	{"map", fb_cli_map, "test and check mapping rules"},
	{"user", fb_cli_user, "manage local accounts"},
	{"token", fb_cli_token, "manage API tokens of local accounts"},
	{"audit", fb_cli_audit_cmd, "list what the command line changed (the store's audit log)"},
	{"store", fb_cli_store, "export, import, copy and migrate the store"},
	{"metadata", fb_cli_metadata, "export the IdP's SAML metadata, import an SP's"},
	{"explain", fb_cli_explain, "show what a user would get at a SAML service provider or app"},
	{"integrate", fb_cli_integrate, "print a proxy's forward-auth configuration for an app"},
	{"aws", fb_cli_aws, "AWS helpers: the IAM role trust policy for a SAML SP"},
	{"scim", fb_cli_scim, "SCIM push: sync a target now, show the outbox and errors"},
	{"oidc", fb_cli_oidc, "the OpenID provider's clients: list, show"},
	{"version", fb_cli_version, "print the version"},
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: fedbroker <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-14s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f, "\n'fedbroker <command> --help' describes a command; man fedbroker(8).\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return FB_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return FB_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0)
		return fb_cli_version(1, argv + 1);
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "fedbroker: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return FB_EXIT_USAGE;
}
