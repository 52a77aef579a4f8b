/* SPDX-License-Identifier: Apache-2.0 */
/* cli/aws.c: fedbroker aws trust-policy: AWS set-up helpers for a SAML service provider. */
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
    "Only for an SP with profile: aws (the classic AWS sign-in); others are refused.\n"
    "\n"
    "  -s, --sp SP          the service provider's name in saml.service_providers\n"
    "  -a, --account ID     the 12-digit AWS account id\n"
    "  -p, --provider NAME  the name of the SAML identity provider created in IAM\n"
    FB_CLI_HELP_CONFIG FB_CLI_HELP_HELP;

/* A trust policy is for the classic AWS sign-in (IAM SAML provider) only. */
static enum fb_status
sp_check_classic(const struct fb_saml_sp *sp, const char *name, struct fb_err *err)
{
	const struct fb_conf_saml_sp *c = fb_saml_sp_conf(sp);

	if (c->profile == FB_CONF_SAML_AWS)
		return FB_OK;
	if (c->profile == FB_CONF_SAML_AWS_IDENTITY_CENTER)
		return fb_err_set(err, FB_ERR_INVALID,
		    "--sp %s is an IAM Identity Center service provider (profile "
		    "aws-identity-center): Identity Center makes its roles' trust policies itself; "
		    "a trust policy is only for the classic AWS sign-in (profile: aws)",
		    name);
	return fb_err_set(err, FB_ERR_INVALID,
	    "--sp %s is not the classic AWS sign-in service provider (its profile is generic): "
	    "a trust policy is only for an SP with 'profile: aws' (entity id "
	    "urn:amazon:webservices, ACS " FB_SAML_AWS_SIGNIN_ACS " or a regional one)",
	    name);
}

static int
trust_policy(int argc, char **argv)
{
	struct fb_cli_conf_opts co = {0};
	const char *spname = NULL, *account = NULL, *provider = NULL, *acs;
	const struct fb_cli_option opts[] = {
	    {"sp", 's', &spname, NULL},
	    {"account", 'a', &account, NULL},
	    {"provider", 'p', &provider, NULL},
	    {NULL, 0, NULL, NULL},
	};
	const struct fb_cli_syntax syntax = {"aws trust-policy", usage_trust, &co, opts, NULL,
	    NULL};
	struct fb_saml_idp *idp = NULL;
	const struct fb_saml_sp *sp;
	struct fb_cli_ctx x;
	char *policy = NULL;
	struct fb_err err;
	int rc;

	if ((rc = fb_cli_args_parse(argc, argv, &syntax)) >= 0)
		return rc;
	if (spname == NULL || account == NULL || provider == NULL)
		return fb_cli_usage_error(syntax.cmd,
		    "--sp, --account and --provider are all required");
	if ((rc = fb_cli_ctx_open(&co, FB_CLI_KEYRING, &x)) != FB_EXIT_OK)
		return rc;
	rc = FB_EXIT_FAIL;
	fb_err_clear(&err);
	if (fb_saml_idp_new(x.conf, x.kr, NULL, &idp, &err) != FB_OK ||
	    fb_cli_sp_get(idp, spname, &sp, &err) != FB_OK)
		goto out;
	if (sp_check_classic(sp, spname, &err) != FB_OK)
		goto out;
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
	fb_cli_ctx_close(&x);
	return rc;
}

int
fb_cli_aws(int argc, char **argv)
{
	static const struct fb_cli_command table[] = {
	    {"trust-policy", trust_policy},
	    {NULL, NULL},
	};

	return fb_cli_dispatch(argc, argv, usage_aws, table);
}
