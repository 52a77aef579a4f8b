/* SPDX-License-Identifier: Apache-2.0 */
/* saml/aws.c: what AWS would refuse, checked before a response is sent (notes/aws.md A.4, B.2), and IAM trust policies. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "conf/conf.h"
#include "saml/saml.h"
#include "saml/internal.h"

/* AWS STS: RoleSessionName and SourceIdentity match [a-zA-Z_0-9+=,.@-]{2,64}. */
static int
session_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 2 && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+=,.@-") == n;
}

/* "arn:PARTITION:iam::ACCOUNT:" then kind ("role/" or "saml-provider/") and a name. */
static int
arn_ok(const char *s, size_t len, const char *kind)
{
	const char *p = s, *end = s + len;
	size_t k;

	if (len < 4 || strncmp(p, "arn:", 4) != 0)
		return 0;
	p += 4;
	/* The partition: aws, aws-cn, aws-us-gov, ... */
	k = strspn(p, "abcdefghijklmnopqrstuvwxyz-");
	if (k < 3 || strncmp(p, "aws", 3) != 0 || p + k >= end || p[k] != ':')
		return 0;
	p += k + 1;
	if (end - p < 5 || strncmp(p, "iam::", 5) != 0)
		return 0;
	p += 5;
	/* A 12-digit account id. */
	if (end - p < 13 || strspn(p, "0123456789") < 12 || p[12] != ':')
		return 0;
	p += 13;
	k = strlen(kind);
	if ((size_t)(end - p) <= k || strncmp(p, kind, k) != 0)
		return 0;
	p += k;
	/* IAM names: [\w+=,.@-] with '/' for role paths; at most 512 characters in all. */
	for (const char *q = p; q < end; q++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+=,.@-/",
		        *q) == NULL || *q == '\0')
			return 0;
	return end - p >= 1 && len <= 2048 && end[-1] != '/';
}

/* A Role value: "role-arn,provider-arn" (AWS's order; the other order is common and accepted). */
static int
role_value_ok(const char *v)
{
	const char *comma = strchr(v, ',');
	size_t a, b;

	if (comma == NULL || strchr(comma + 1, ',') != NULL)
		return 0;
	a = (size_t)(comma - v);
	b = strlen(comma + 1);
	return (arn_ok(v, a, "role/") && arn_ok(comma + 1, b, "saml-provider/")) ||
	       (arn_ok(v, a, "saml-provider/") && arn_ok(comma + 1, b, "role/"));
}

static void
problem(json_t *out, const char *rule, const char *attr, const char *fmt, ...)
    FB_PRINTF(4, 5);

static void
problem(json_t *out, const char *rule, const char *attr, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = fb_xvasprintf(fmt, ap);
	va_end(ap);
	json_array_append_new(out, json_pack("{s:s, s:s?, s:b, s:s}", "rule", rule, "attribute",
	    attr, "ok", 0, "message", msg));
	free(msg);
}

/* Prints v for a message: at most 80 characters, control characters as '?'. New. */
static char *
shown(const char *v)
{
	size_t n = strlen(v);
	char *s = fb_xstrndup(v, n > 80 ? 80 : n);

	for (char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (n > 80) {
		char *t = fb_xasprintf("%s...", s);

		free(s);
		s = t;
	}
	return s;
}

static void
check_single(json_t *out, const char *rule, const char *name, const json_t *vals)
{
	if (json_array_size(vals) != 1)
		problem(out, rule, name, "%s must have exactly one value (it has %zu)", name,
		    json_array_size(vals));
}

/* Every rule, what it demands, and when it applies (the attribute is sent, or always). */
static const struct {
	const char *rule;
	const char *attribute; /* NULL: the NameID */
	int always;	       /* applies even when the attribute is absent */
	int identity_center;
	const char *demand;
} rules[] = {
	{"aws-role-required", FB_SAML_AWS_ATTR_ROLE, 1, 0, "at least one Role value"},
	{"aws-role-format", FB_SAML_AWS_ATTR_ROLE, 1, 0,
	    "each Role value is a role ARN and a saml-provider ARN, comma-separated"},
	{"aws-role-session-name-required", FB_SAML_AWS_ATTR_ROLE_SESSION, 1, 0,
	    "a RoleSessionName value"},
	{"aws-role-session-name-single", FB_SAML_AWS_ATTR_ROLE_SESSION, 1, 0,
	    "exactly one RoleSessionName value"},
	{"aws-role-session-name-format", FB_SAML_AWS_ATTR_ROLE_SESSION, 1, 0,
	    "RoleSessionName matches [A-Za-z0-9_+=,.@-]{2,64}"},
	{"aws-source-identity-single", FB_SAML_AWS_ATTR_SOURCE_IDENTITY, 0, 0,
	    "exactly one SourceIdentity value"},
	{"aws-source-identity-format", FB_SAML_AWS_ATTR_SOURCE_IDENTITY, 0, 0,
	    "SourceIdentity matches [A-Za-z0-9_+=,.@-]{2,64} and does not begin with aws:"},
	{"aws-session-duration-single", FB_SAML_AWS_ATTR_DURATION, 0, 0,
	    "exactly one SessionDuration value"},
	{"aws-session-duration-range", FB_SAML_AWS_ATTR_DURATION, 0, 0,
	    "SessionDuration is a number of seconds in 900..43200"},
	{"aws-principal-tag-key", FB_SAML_AWS_ATTR_PRINCIPAL_TAG, 0, 0,
	    "PrincipalTag keys are 1 to 128 characters"},
	{"aws-principal-tag-single", FB_SAML_AWS_ATTR_PRINCIPAL_TAG, 0, 0,
	    "exactly one value per PrincipalTag"},
	{"aws-principal-tag-value", FB_SAML_AWS_ATTR_PRINCIPAL_TAG, 0, 0,
	    "PrincipalTag values are at most 256 characters"},
	{"aws-idc-nameid-format", NULL, 1, 1, "the NameID format is emailAddress"},
	{"aws-idc-nameid-addr-spec", NULL, 1, 1, "the NameID is an email address (addr-spec)"},
};

/* 1 when attrs has the attribute (a PrincipalTag rule: any PrincipalTag:*). */
static int
attribute_sent(const json_t *attrs, const char *name)
{
	const char *key;
	json_t *v;

	if (strcmp(name, FB_SAML_AWS_ATTR_PRINCIPAL_TAG) != 0)
		return json_object_get(attrs, name) != NULL;
	json_object_foreach((json_t *)(uintptr_t)attrs, key, v)
		if (strncmp(key, name, strlen(name)) == 0)
			return 1;
	return 0;
}

/* Appends a passed verdict for each rule that applied and found nothing wrong. */
static void
add_passed(json_t *out, const json_t *attrs, int identity_center)
{
	for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
		int failed = 0;
		json_t *v;
		size_t i;

		if (rules[r].identity_center != identity_center ||
		    (!rules[r].always && !attribute_sent(attrs, rules[r].attribute)))
			continue;
		json_array_foreach(out, i, v)
			failed |= strcmp(json_string_value(json_object_get(v, "rule")),
			              rules[r].rule) == 0;
		if (!failed)
			json_array_append_new(out, json_pack("{s:s, s:s?, s:b, s:s}", "rule",
			    rules[r].rule, "attribute", rules[r].attribute, "ok", 1, "message",
			    rules[r].demand));
	}
}

void
fb_saml_aws_check(const json_t *attrs, int identity_center, const char *nameid_format,
    const char *nameid, int passed, json_t **out, int *ok)
{
	const json_t *vals, *v;
	const char *name;
	size_t i;

	*out = json_array();
	if (identity_center) {
		/* notes/aws.md B.2: an emailAddress NameID equal to an Identity Center userName. */
		if (nameid_format == NULL || strcmp(nameid_format, FB_SAML_NAMEID_EMAIL) != 0)
			problem(*out, "aws-idc-nameid-format", NULL,
			    "IAM Identity Center needs the NameID format emailAddress, not %s",
			    nameid_format != NULL ? nameid_format : "(none)");
		else if (nameid == NULL || !fb_conf_addr_spec_check(nameid)) {
			char *s = shown(nameid != NULL ? nameid : "");

			problem(*out, "aws-idc-nameid-addr-spec", NULL,
			    "the NameID '%s' is not an email address (RFC 2822 addr-spec), so IAM "
			    "Identity Center cannot match it to a username",
			    s);
			free(s);
		}
		*ok = json_array_size(*out) == 0;
		if (passed)
			add_passed(*out, attrs, 1);
		return;
	}
	/* Classic IAM (notes/aws.md A.4); attribute names are case-sensitive. */
	vals = json_object_get(attrs, FB_SAML_AWS_ATTR_ROLE);
	if (json_array_size(vals) == 0)
		problem(*out, "aws-role-required", FB_SAML_AWS_ATTR_ROLE,
		    "no Role value: the user is in no group that grants an AWS role (AWS refuses "
		    "a response without https://aws.amazon.com/SAML/Attributes/Role)");
	json_array_foreach(vals, i, v) {
		if (!role_value_ok(json_string_value(v))) {
			char *s = shown(json_string_value(v));

			problem(*out, "aws-role-format", FB_SAML_AWS_ATTR_ROLE,
			    "Role value '%s' is not 'arn:aws:iam::ACCOUNT:role/NAME,"
			    "arn:aws:iam::ACCOUNT:saml-provider/NAME'",
			    s);
			free(s);
		}
	}
	vals = json_object_get(attrs, FB_SAML_AWS_ATTR_ROLE_SESSION);
	if (json_array_size(vals) == 0)
		problem(*out, "aws-role-session-name-required", FB_SAML_AWS_ATTR_ROLE_SESSION,
		    "no RoleSessionName value (AWS requires one)");
	else
		check_single(*out, "aws-role-session-name-single", FB_SAML_AWS_ATTR_ROLE_SESSION,
		    vals);
	json_array_foreach(vals, i, v) {
		if (!session_name_ok(json_string_value(v))) {
			char *s = shown(json_string_value(v));

			problem(*out, "aws-role-session-name-format", FB_SAML_AWS_ATTR_ROLE_SESSION,
			    "RoleSessionName '%s' does not match [A-Za-z0-9_+=,.@-]{2,64}", s);
			free(s);
		}
	}
	vals = json_object_get(attrs, FB_SAML_AWS_ATTR_SOURCE_IDENTITY);
	if (vals != NULL) {
		check_single(*out, "aws-source-identity-single", FB_SAML_AWS_ATTR_SOURCE_IDENTITY,
		    vals);
		json_array_foreach(vals, i, v) {
			const char *s = json_string_value(v);

			if (!session_name_ok(s) || strncmp(s, "aws:", 4) == 0) {
				char *t = shown(s);

				problem(*out, "aws-source-identity-format",
				    FB_SAML_AWS_ATTR_SOURCE_IDENTITY,
				    "SourceIdentity '%s' does not match [A-Za-z0-9_+=,.@-]{2,64} or "
				    "begins with aws:",
				    t);
				free(t);
			}
		}
	}
	vals = json_object_get(attrs, FB_SAML_AWS_ATTR_DURATION);
	if (vals != NULL) {
		check_single(*out, "aws-session-duration-single", FB_SAML_AWS_ATTR_DURATION, vals);
		json_array_foreach(vals, i, v) {
			const char *s = json_string_value(v);
			char *end = NULL;
			long d = strtol(s, &end, 10);

			if (s[0] == '\0' || *end != '\0' || d < 900 || d > 43200) {
				char *t = shown(s);

				problem(*out, "aws-session-duration-range", FB_SAML_AWS_ATTR_DURATION,
				    "SessionDuration '%s' is not a number of seconds in 900..43200", t);
				free(t);
			}
		}
	}
	json_object_foreach((json_t *)(uintptr_t)attrs, name, vals) {
		size_t plen = strlen(FB_SAML_AWS_ATTR_PRINCIPAL_TAG);
		const char *key;

		if (strncmp(name, FB_SAML_AWS_ATTR_PRINCIPAL_TAG, plen) != 0)
			continue;
		key = name + plen;
		/* IAM session tags: key 1..128, value 0..256 characters, one value each. */
		if (key[0] == '\0' || strlen(key) > 128)
			problem(*out, "aws-principal-tag-key", name,
			    "a PrincipalTag key must be 1 to 128 characters");
		check_single(*out, "aws-principal-tag-single", name, vals);
		json_array_foreach(vals, i, v)
			if (strlen(json_string_value(v)) > 256)
				problem(*out, "aws-principal-tag-value", name,
				    "a PrincipalTag value must be at most 256 characters");
	}
	*ok = json_array_size(*out) == 0;
	if (passed)
		add_passed(*out, attrs, 0);
}

enum fb_status
fb_saml_aws_trust_policy(const struct fb_saml_sp *sp, const char *account, const char *provider,
    char **out, struct fb_err *err)
{
	json_t *doc;
	char *arn;
	size_t plen = provider != NULL ? strlen(provider) : 0;

	*out = NULL;
	if (account == NULL || strlen(account) != 12 || strspn(account, "0123456789") != 12)
		return fb_err_set(err, FB_ERR_INVALID, "the AWS account id must be 12 digits");
	if (plen == 0 || plen > 128 ||
	    strspn(provider, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	        plen)
		return fb_err_set(err, FB_ERR_INVALID,
		    "the SAML provider name must be 1 to 128 of A-Z a-z 0-9 . _ -");
	arn = fb_xasprintf("arn:aws:iam::%s:saml-provider/%s", account, provider);
	/* notes/aws.md A.2: STS takes saml:aud from the Recipient, i.e. the ACS posted to. */
	doc = json_pack("{s:s, s:[{s:s, s:{s:s}, s:[s, s, s], s:{s:{s:s}}}]}", "Version",
	    "2012-10-17", "Statement", "Effect", "Allow", "Principal", "Federated", arn, "Action",
	    "sts:AssumeRoleWithSAML", "sts:TagSession", "sts:SetSourceIdentity", "Condition",
	    "StringEquals", "SAML:aud", fb_saml_sp_default_acs(sp));
	free(arn);
	*out = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (*out == NULL)
		return fb_err_set(err, FB_ERR_INTERNAL, "cannot format the policy");
	return FB_OK;
}
