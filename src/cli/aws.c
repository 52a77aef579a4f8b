/* SPDX-License-Identifier: Apache-2.0 */
/* cli/aws.c: fedbroker aws trust-policy: AWS set-up helpers for a SAML service provider. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "saml/saml.h"
#include "cli/cli.h"

static const char usage_aws[] = "usage: fedbroker aws <command> [options]\n"
				"\n"
				"Helpers for setting up AWS to trust fedbroker.\n"
				"\n"
				"commands:\n"
				"  trust-policy   the IAM role trust policy for a SAML service provider\n"
				"\n"
				"'fedbroker aws <command> --help' describes a command.\n";

static const char usage_trust[] =
    "usage: fedbroker aws trust-policy --sp SP --account ID --provider NAME\n"
    "                                  [--config FILE] [--state-dir DIR]\n"
    "\n"
    "Prints the trust policy (JSON) of an IAM role that people signing in\n"
    "through the service provider SP may assume: sts:AssumeRoleWithSAML (with\n"
    "sts:TagSession and sts:SetSourceIdentity) for the principal\n"
    "arn:aws:iam::ID:saml-provider/NAME, on the condition that saml:aud is the\n"
    "ACS this SP posts to. AWS takes saml:aud from the Recipient of the\n"
    "assertion, not from its Audience: an SP posting to a regional endpoint\n"
    "(https://REGION.signin.aws.amazon.com/saml) needs that regional value, where\n"
    "the IAM console writes https://signin.aws.amazon.com/saml. Paste it in IAM,\n"
    "Roles, the role, Trust relationships (or aws iam update-assume-role-policy).\n"
    "\n"
    "  -s, --sp SP          the service provider's name in saml.service_providers\n"
    "  -a, --account ID     the 12-digit AWS account id\n"
    "  -p, --provider NAME  the name of the SAML identity provider created in IAM\n"
    "  -c, --config FILE    configuration file (default $FEDBROKER_CONFIG, else built-in)\n"
    "      --state-dir DIR  state directory (overrides server.state_dir)\n"
    "  -h, --help           this help\n";

enum {
	OPT_STATE_DIR = 256,
};

static int usage_error(const char *fmt, ...) FB_PRINTF(1, 2);

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fedbroker aws trust-policy: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see 'fedbroker aws trust-policy --help')\n");
	return FB_EXIT_USAGE;
}

static int
trust_policy(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"sp", required_argument, NULL, 's'},
	    {"account", required_argument, NULL, 'a'},
	    {"provider", required_argument, NULL, 'p'},
	    {"config", required_argument, NULL, 'c'},
	    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct fb_conf_overrides ov = {.listen = NULL, .state_dir = NULL, .workers = -1};
	const char *config = NULL, *spname = NULL, *account = NULL, *provider = NULL, *acs;
	struct fb_saml_idp *idp = NULL;
	struct fb_keyring *kr = NULL;
	struct fb_conf *conf = NULL;
	const struct fb_saml_sp *sp;
	char *policy = NULL;
	int c, rc = FB_EXIT_FAIL;
	struct fb_err err;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:a:p:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			spname = optarg;
			break;
		case 'a':
			account = optarg;
			break;
		case 'p':
			provider = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case OPT_STATE_DIR:
			ov.state_dir = optarg;
			break;
		case 'h':
			fputs(usage_trust, stdout);
			return FB_EXIT_OK;
		case ':':
			return usage_error("%s needs an argument", argv[optind - 1]);
		default:
			if (optopt != 0)
				return usage_error("unknown option -%c", optopt);
			return usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (spname == NULL || account == NULL || provider == NULL)
		return usage_error("--sp, --account and --provider are all required");
	fb_err_clear(&err);
	if (fb_conf_load(config != NULL ? config : fb_cli_default_config(), &ov, &conf, NULL,
		&err) != FB_OK)
		goto out;
	fb_log_setup(conf->log_format, FB_LOG_WARN, 2);
	if (fb_crypto_keyring_load_existing(conf, &kr, &err) != FB_OK) {
		if (err.code == FB_ERR_NOTFOUND)
			fb_err_set(&err, FB_ERR_NOTFOUND,
			    "no signing key in %s/keys yet: start the broker once or run "
			    "'fedbroker keys generate'",
			    conf->state_dir);
		goto out;
	}
	if (fb_saml_idp_new(conf, kr, &idp, &err) != FB_OK)
		goto out;
	if ((sp = fb_saml_idp_sp_get(idp, spname)) == NULL) {
		fb_err_set(&err, FB_ERR_NOTFOUND, "--sp %s: no such service provider in "
						  "saml.service_providers",
		    spname);
		goto out;
	}
	if (fb_saml_aws_trust_policy(sp, account, provider, &policy, &err) != FB_OK) {
		fb_err_prefix(&err, "--account '%s' --provider '%s': ", account, provider);
		goto out;
	}
	printf("%s\n", policy);
	acs = fb_saml_sp_default_acs(sp);
	if (strcmp(acs, FB_SAML_AWS_SIGNIN_ACS) != 0)
		fprintf(stderr,
		    "note: %s posts to %s, so saml:aud is that URL, not the %s the IAM console "
		    "writes by default\n",
		    spname, acs, FB_SAML_AWS_SIGNIN_ACS);
	rc = FB_EXIT_OK;
out:
	if (rc != FB_EXIT_OK)
		fb_cli_error(&err);
	free(policy);
	fb_saml_idp_free(idp);
	fb_crypto_keyring_free(kr);
	fb_conf_free(conf);
	return rc;
}

int
fb_cli_aws(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_aws, stderr);
		return FB_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage_aws, stdout);
		return FB_EXIT_OK;
	}
	if (strcmp(argv[1], "trust-policy") == 0)
		return trust_policy(argc - 1, argv + 1);
	fprintf(stderr, "fedbroker aws: unknown command '%s'\n", argv[1]);
	fputs(usage_aws, stderr);
	return FB_EXIT_USAGE;
}
