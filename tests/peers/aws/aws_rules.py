# SPDX-License-Identifier: Apache-2.0
"""AWS's documented rules for a SAML Response, as a checker (the core of the
AWS stand-in, acs.py). Every rule cites ../../../../shared/notes/aws.md
(sections A.1-A.7 classic IAM, B.2 IAM Identity Center).

check(b64, ...) first has a real SAML library (pysaml2 or onelogin, strict)
validate the Response against the IdP metadata (signature with the IdP's
certificate, issuer, audience, times, destination), then applies AWS's own
rules to the XML. It returns a verdict dict:
    {"ok": bool, "rule": <first failing rule or None>, "error": str,
     "library": ..., "checks": {rule: "ok" | reason}, "name_id": ..., "roles": [...]}
Rule names: library, status, issuer, destination, assertion-count, signature,
audience, subject-confirmation, name-id, time, role, role-session-name,
session-duration, source-identity, principal-tag, name-id-format.
"""

import datetime
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PYPEERS = os.path.join(os.path.dirname(HERE), "python")
if PYPEERS not in sys.path:
    sys.path.insert(0, PYPEERS)

import peer_common as pc  # noqa: E402

AWS_ATTR = "https://aws.amazon.com/SAML/Attributes/"
ROLE = AWS_ATTR + "Role"
ROLE_SESSION_NAME = AWS_ATTR + "RoleSessionName"
SESSION_DURATION = AWS_ATTR + "SessionDuration"
SOURCE_IDENTITY = AWS_ATTR + "SourceIdentity"
PRINCIPAL_TAG = AWS_ATTR + "PrincipalTag:"
TRANSITIVE_TAG_KEYS = AWS_ATTR + "TransitiveTagKeys"
CLASSIC_AUDIENCES = ("urn:amazon:webservices", "https://signin.aws.amazon.com/saml")
CLASSIC_ACS = "https://signin.aws.amazon.com/saml"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

# A.4 / A.7: STS's own message: [a-zA-Z_0-9+=,.@-]{2,64}
SESSION_NAME_RE = re.compile(r"^[a-zA-Z_0-9+=,.@-]{2,64}$")
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
PROVIDER_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:saml-provider/[\w.-]+$")
# B.2: an RFC 2822 addr-spec (dot-atom local part, domain with a dot).
ADDR_SPEC_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                          r"@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class RuleError(Exception):
    def __init__(self, rule, msg):
        super().__init__(msg)
        self.rule = rule


def _time(s):
    if s is None:
        return None
    s = s.rstrip("Z").split(".")[0]
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)


def library_verdict(library, b64, idp_metadata, entity_id, acs, in_response_to=None):
    """The verdict of a real SAML library (pysaml2 | onelogin | node-saml)."""
    if library == "pysaml2":
        import pysaml2_sp
        sp = pysaml2_sp.SP(entity_id, [(acs, pc.BINDING_POST)], idp_metadata,
                           want_response_signed=False, want_assertions_signed=True)
        return sp.validate_response(b64, in_response_to)
    if library == "onelogin":
        import onelogin_sp
        sp = onelogin_sp.SP(entity_id, acs, idp_metadata, want_response_signed=False,
                            want_assertions_signed=True)
        return sp.validate_response(b64, in_response_to)
    if library == "node-saml":
        return pc.node_saml_validate(b64, entity_id, acs, idp_metadata,
                                     in_response_to=in_response_to, allow_assertion_only=True)
    raise ValueError("unknown library %r" % library)


def check(b64, idp_metadata, mode="classic", acs=CLASSIC_ACS, entity_id=None,
          library="pysaml2", in_response_to=None, known_users=None, now=None):
    """AWS's verdict on a base64 SAMLResponse (see the module comment).

    mode: "classic" (IAM SAML, A.*) or "identity-center" (B.2).
    idp_metadata: the IdP metadata XML that was "uploaded to AWS".
    acs: the URL the Response was posted to (Destination and Recipient must equal it).
    entity_id: the SP entity id (classic: urn:amazon:webservices).
    known_users: Identity Center user names (NameID must be one of them) or None.
    """
    if entity_id is None:
        entity_id = CLASSIC_AUDIENCES[0] if mode == "classic" else None
    checks = {}
    out = {"ok": False, "rule": None, "library": library, "checks": checks, "mode": mode}
    rule = "library"
    try:
        try:
            xml = pc.decode_post(b64)
            d = pc.describe(xml)
        except Exception as e:  # noqa: BLE001
            raise RuleError("library", "not a base64 SAML Response: %s" % e)
        out["name_id"] = d.get("name_id")
        out["name_id_format"] = d.get("name_id_format")
        out["roles"] = d.get("attributes", {}).get(ROLE, [])
        out["attributes"] = d.get("attributes", {})
        lib = library_verdict(library, b64, idp_metadata, entity_id, acs, in_response_to)
        out["library_verdict"] = {k: lib.get(k) for k in ("ok", "error", "library")}
        if not lib["ok"]:
            raise RuleError("library", "%s refused the response: %s" % (library, lib.get("error")))
        checks["library"] = "ok"
        md = pc.metadata_info(idp_metadata)

        rule = "status"
        if d.get("status") != pc.STATUS_SUCCESS:
            raise RuleError(rule, "StatusCode %s" % d.get("status"))
        checks[rule] = "ok"

        rule = "issuer"  # A.3: Issuer must equal the entityID uploaded to IAM
        if d.get("assertion_issuer") != md["entity_id"] or (
                d.get("issuer") is not None and d["issuer"] != md["entity_id"]):
            raise RuleError(rule, "Issuer %r / %r is not the metadata entityID %r" % (
                d.get("issuer"), d.get("assertion_issuer"), md["entity_id"]))
        checks[rule] = "ok"

        rule = "destination"  # A.1: Destination = the ACS posted to
        if d.get("destination") != acs:
            raise RuleError(rule, "Destination %r is not the ACS %r" % (d.get("destination"), acs))
        checks[rule] = "ok"

        rule = "assertion-count"  # B.2: one assertion, no encryption (IdC); classic: one
        if d.get("assertion_count") != 1 or d.get("encrypted_assertion_count"):
            raise RuleError(rule, "%d assertions, %d encrypted" % (
                d.get("assertion_count", 0), d.get("encrypted_assertion_count", 0)))
        checks[rule] = "ok"

        rule = "signature"  # A.5: WantAssertionsSigned="true", RSA-SHA256
        if not d.get("signed_assertion"):
            raise RuleError(rule, "the Assertion is not signed (WantAssertionsSigned)")
        bad = [a for a in d.get("signature_algorithms", []) if a != pc.SIG_RSA_SHA256]
        if bad:
            raise RuleError(rule, "signature algorithm %s, not rsa-sha256" % bad[0])
        checks[rule] = "ok"

        rule = "audience"  # A.2
        auds = d.get("audiences") or []
        want = CLASSIC_AUDIENCES if mode == "classic" else (entity_id,)
        if not any(a in want for a in auds):
            raise RuleError(rule, "Audience %r is not %s" % (auds, " or ".join(want)))
        checks[rule] = "ok"

        rule = "subject-confirmation"  # A.3: exactly one, bearer, Recipient + NotOnOrAfter
        scs = d.get("subject_confirmations") or []
        if len(scs) != 1:
            raise RuleError(rule, "%d SubjectConfirmation elements, AWS wants exactly one" %
                            len(scs))
        sc = scs[0]
        if sc["method"] != BEARER:
            raise RuleError(rule, "Method %r is not bearer" % sc["method"])
        if sc["recipient"] is None or sc["not_on_or_after"] is None:
            raise RuleError(rule, "SubjectConfirmationData lacks Recipient or NotOnOrAfter")
        if sc["recipient"] != acs:
            raise RuleError(rule, "Recipient %r is not the ACS %r" % (sc["recipient"], acs))
        checks[rule] = "ok"

        rule = "time"
        now = now or datetime.datetime.now(datetime.timezone.utc)
        nooa = _time(sc["not_on_or_after"])
        if nooa <= now:
            raise RuleError(rule, "SubjectConfirmationData NotOnOrAfter %s has passed" %
                            sc["not_on_or_after"])
        nb = _time(d.get("conditions_not_before"))
        if nb is not None and nb > now + datetime.timedelta(seconds=60):
            raise RuleError(rule, "Conditions NotBefore %s is in the future" %
                            d["conditions_not_before"])
        cn = _time(d.get("conditions_not_on_or_after"))
        if cn is not None and cn <= now:
            raise RuleError(rule, "Conditions NotOnOrAfter %s has passed" %
                            d["conditions_not_on_or_after"])
        checks[rule] = "ok"

        rule = "name-id"  # A.3 / A.7: no Subject NameID -> AccessDenied
        if not d.get("name_id"):
            raise RuleError(rule, "the Subject has no NameID")
        checks[rule] = "ok"

        attrs = d.get("attributes") or {}
        if mode == "classic":
            _classic_attributes(attrs, checks)
        else:
            rule = "name-id-format"  # B.2
            if d.get("name_id_format") != pc.NAMEID_EMAIL:
                raise RuleError(rule, "NameID Format %r; Identity Center needs emailAddress "
                                "(\"Response contains invalid name id policy format\")" %
                                d.get("name_id_format"))
            if not ADDR_SPEC_RE.match(d["name_id"]):
                raise RuleError(rule, "NameID %r is not an RFC 2822 addr-spec" % d["name_id"])
            if known_users is not None and d["name_id"] not in known_users:
                raise RuleError(rule, "NameID %r is no Identity Center userName" % d["name_id"])
            checks[rule] = "ok"
        out["ok"] = True
    except RuleError as e:
        out["rule"] = e.rule
        out["error"] = "%s: %s" % (e.rule, e)
        checks[e.rule] = str(e)
    return out


def _classic_attributes(attrs, checks):
    rule = "role"  # A.4: required, each value role-arn,provider-arn (either order, A.4 note)
    roles = attrs.get(ROLE)
    if not roles:
        raise RuleError(rule, "no %s attribute (\"Your request included an invalid SAML "
                        "response\")" % ROLE)
    for v in roles:
        parts = v.split(",")
        if len(parts) != 2:
            raise RuleError(rule, "Role value %r is not role-arn,provider-arn" % v)
        a, b = parts
        if not ((ROLE_ARN_RE.match(a) and PROVIDER_ARN_RE.match(b)) or
                (ROLE_ARN_RE.match(b) and PROVIDER_ARN_RE.match(a))):
            raise RuleError(rule, "Role value %r is not a role ARN and a saml-provider ARN" % v)
    checks[rule] = "ok"

    rule = "role-session-name"  # A.4: required, one value, regex
    rsn = attrs.get(ROLE_SESSION_NAME)
    if not rsn:
        raise RuleError(rule, "RoleSessionName is required in AuthnResponse")
    if len(rsn) != 1:
        raise RuleError(rule, "RoleSessionName has %d values" % len(rsn))
    if not SESSION_NAME_RE.match(rsn[0]):
        raise RuleError(rule, "RoleSessionName in AuthnResponse must match "
                        "[a-zA-Z_0-9+=,.@-]{2,64} (got %r)" % rsn[0])
    checks[rule] = "ok"

    rule = "session-duration"  # A.4: optional, one integer 900..43200
    sd = attrs.get(SESSION_DURATION)
    if sd is not None:
        if len(sd) != 1 or not re.match(r"^\d+$", sd[0]) or not 900 <= int(sd[0]) <= 43200:
            raise RuleError(rule, "SessionDuration %r is not one integer in 900..43200" % sd)
    checks[rule] = "ok"

    rule = "source-identity"  # A.4 / A.7
    si = attrs.get(SOURCE_IDENTITY)
    if si is not None:
        if len(si) != 1 or not SESSION_NAME_RE.match(si[0]) or si[0].startswith("aws:"):
            raise RuleError(rule, "Source Identity must match [a-zA-Z_0-9+=,.@-]{2,64} and not "
                            "begin with \"aws:\" (got %r)" % si)
    checks[rule] = "ok"

    rule = "principal-tag"  # A.4: one Attribute per tag, one value
    for name, vals in attrs.items():
        if name.startswith(PRINCIPAL_TAG):
            if not name[len(PRINCIPAL_TAG):] or len(vals) != 1:
                raise RuleError(rule, "%s must name a tag and carry one value" % name)
    checks[rule] = "ok"
