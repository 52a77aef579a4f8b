#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""61: the SAML peers judged before they judge fedbroker (issue 5, "Verified by
independent implementations"). pysaml2's own IdP issues a known-good Response
for AWS's real SP metadata and variants that each break one rule; pysaml2,
onelogin (strict) and node-saml must accept the good one and refuse the bad
ones, and the AWS stand-in must name the rule AWS would refuse on. The
request builders (AuthnRequest, LogoutRequest) are checked by pysaml2's IdP.
No fedbroker process is involved.
"""

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402
import peer_common as pc  # noqa: E402

try:
    import aws_rules  # noqa: E402
    import onelogin_sp  # noqa: E402
    import pysaml2_idp  # noqa: E402
    import pysaml2_sp  # noqa: E402
    MISSING = None
except ImportError as e:  # pragma: no cover -- reported as a skip with the fix
    MISSING = "%s (apt-get install python3-pysaml2 python3-onelogin-saml2 xmlsec1)" % e

IDP_ID = "https://idp.example.test/saml/idp"
ROLE_OK = ("arn:aws:iam::123456789012:role/Admin,"
           "arn:aws:iam::123456789012:saml-provider/fedbroker")
GOOD_ATTRS = {aws_rules.ROLE if not MISSING else "r": [ROLE_OK],
              "https://aws.amazon.com/SAML/Attributes/RoleSessionName": ["alice"],
              "https://aws.amazon.com/SAML/Attributes/SessionDuration": ["3600"]}


class Peers(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        if MISSING:
            raise harness.peer_missing(MISSING)
        cls.aws_md = pc.read(fbsaml.fixture(fbsaml.AWS_METADATA))
        cls.idc_md = pc.read(fbsaml.fixture(fbsaml.IDC_METADATA))
        cls.idp = pysaml2_idp.IdP(IDP_ID, IDP_ID, [cls.aws_md, cls.idc_md])
        cls.idp_md = cls.idp.metadata()

    def setUp(self):
        pass  # no fedbroker binary needed

    def aws(self, **kw):
        args = dict(attributes=GOOD_ATTRS)
        args.update(kw)
        return self.idp.response("urn:amazon:webservices", fbsaml.AWS_ACS, **args)

    # ---- the validators
    def test_good_response_accepted_by_every_library(self):
        vs = fbsaml.validate_all(self, self.aws(), self.idp_md, "urn:amazon:webservices",
                                 fbsaml.AWS_ACS)
        for lib, v in vs.items():
            self.assertEqual(v["recipient"], fbsaml.AWS_ACS, lib)
            self.assertEqual(v["attributes"][aws_rules.ROLE], [ROLE_OK], lib)
        self.assertEqual(vs["onelogin"]["lib_attributes"][aws_rules.ROLE], [ROLE_OK])
        self.assertEqual(vs["pysaml2"]["lib_name_id"], "alice@example.com")
        if "node-saml" in vs:
            self.assertEqual(vs["node-saml"]["nameID"], "alice@example.com")

    def test_tampered_attribute_refused(self):
        xml = pc.decode_post(self.aws()).replace(b"role/Admin", b"role/Owner")
        errs = fbsaml.refused_by_all(self, base64.b64encode(xml).decode(), self.idp_md,
                                     "urn:amazon:webservices", fbsaml.AWS_ACS)
        self.assertIn("ignature", errs["onelogin"])

    def test_wrong_audience_refused(self):
        errs = fbsaml.refused_by_all(self, self.aws(), self.idp_md, "urn:other:sp",
                                     fbsaml.AWS_ACS)
        self.assertIn("audience", errs["onelogin"].lower())

    def test_wrong_destination_and_recipient_refused(self):
        fbsaml.refused_by_all(self, self.aws(), self.idp_md, "urn:amazon:webservices",
                              "https://eu-west-1.signin.aws.amazon.com/saml")

    def test_other_idp_certificate_refused(self):
        other = pysaml2_idp.IdP(IDP_ID, IDP_ID, [self.aws_md])
        fbsaml.refused_by_all(self, self.aws(), other.metadata(), "urn:amazon:webservices",
                              fbsaml.AWS_ACS)

    def test_unsigned_response_refused(self):
        b64 = self.aws(sign_response=False, sign_assertion=False)
        fbsaml.refused_by_all(self, b64, self.idp_md, "urn:amazon:webservices", fbsaml.AWS_ACS)

    def test_assertion_only_signature(self):
        b64 = self.aws(sign_response=False, sign_assertion=True)
        # Refused when the SP insists on a signed Response, accepted when it does not.
        fbsaml.refused_by_all(self, b64, self.idp_md, "urn:amazon:webservices", fbsaml.AWS_ACS)
        fbsaml.validate_all(self, b64, self.idp_md, "urn:amazon:webservices", fbsaml.AWS_ACS,
                            allow_assertion_only=True)
        self.assertTrue(aws_rules.check(b64, self.idp_md)["ok"])

    def test_expired_response_refused(self):
        idp = pysaml2_idp.IdP(IDP_ID, IDP_ID, [self.aws_md], key=self.idp.key,
                              cert=self.idp.cert, lifetime={"seconds": 1})
        b64 = idp.response("urn:amazon:webservices", fbsaml.AWS_ACS, attributes=GOOD_ATTRS)
        time.sleep(2.2)
        fbsaml.refused_by_all(self, b64, self.idp_md, "urn:amazon:webservices", fbsaml.AWS_ACS)
        v = aws_rules.check(b64, self.idp_md, library="onelogin")
        self.assertEqual(v["rule"], "library", v)

    def test_sha1_refused_by_aws_rules(self):
        # onelogin 1.12 has no rejectDeprecatedAlgorithm (it came in 1.13), and the
        # libraries accept SHA-1: the stand-in's "signature" rule is what refuses it.
        b64 = self.aws(sig_alg=pc.SIG_RSA_SHA1, digest_alg=pc.DIGEST_SHA1)
        v = aws_rules.check(b64, self.idp_md, library="pysaml2")
        self.assertEqual(v["rule"], "signature", v)

    # ---- AWS's rules
    def rule_of(self, attrs, **kw):
        return aws_rules.check(self.aws(attributes=attrs), self.idp_md, **kw)

    def test_aws_rules_accept_good(self):
        for lib in ("pysaml2", "onelogin", "node-saml"):
            if lib == "node-saml" and not fbsaml.node_saml_present():
                continue
            v = aws_rules.check(self.aws(), self.idp_md, library=lib)
            self.assertTrue(v["ok"], v)
            self.assertEqual(v["roles"], [ROLE_OK])

    def test_aws_rules_name_each_violation(self):
        rsn = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
        cases = [
            ("role", {rsn: ["alice"]}),
            ("role", {aws_rules.ROLE: ["Admin"], rsn: ["alice"]}),
            ("role", {aws_rules.ROLE: ["arn:aws:iam::123456789012:role/A,"
                                       "arn:aws:iam::123456789012:role/B"], rsn: ["alice"]}),
            ("role-session-name", {aws_rules.ROLE: [ROLE_OK]}),
            ("role-session-name", {aws_rules.ROLE: [ROLE_OK], rsn: ["Alice Smith"]}),
            ("role-session-name", {aws_rules.ROLE: [ROLE_OK], rsn: ["a"]}),
            ("role-session-name", {aws_rules.ROLE: [ROLE_OK], rsn: ["x" * 65]}),
            ("session-duration", {aws_rules.ROLE: [ROLE_OK], rsn: ["alice"],
                                  aws_rules.SESSION_DURATION: ["899"]}),
            ("session-duration", {aws_rules.ROLE: [ROLE_OK], rsn: ["alice"],
                                  aws_rules.SESSION_DURATION: ["43201"]}),
            ("source-identity", {aws_rules.ROLE: [ROLE_OK], rsn: ["alice"],
                                 aws_rules.SOURCE_IDENTITY: ["aws:alice"]}),
        ]
        for rule, attrs in cases:
            with self.subTest(rule=rule, attrs=attrs):
                v = self.rule_of(attrs)
                self.assertFalse(v["ok"])
                self.assertEqual(v["rule"], rule, v)
        # Provider-first pairs are common practice (notes/aws.md A.4): accepted.
        v = self.rule_of({aws_rules.ROLE: [",".join(reversed(ROLE_OK.split(",")))],
                          rsn: ["alice"], aws_rules.SESSION_DURATION: ["900"]})
        self.assertTrue(v["ok"], v)

    def test_aws_rules_wrong_acs(self):
        v = aws_rules.check(self.aws(), self.idp_md,
                            acs="https://us-east-2.signin.aws.amazon.com/saml")
        self.assertEqual(v["rule"], "library", v)

    def test_identity_center_rules(self):
        ok = self.idp.response(fbsaml.IDC_ENTITY_ID, fbsaml.IDC_ACS0, name_id="alice@example.com",
                               name_id_format=pc.NAMEID_EMAIL)
        v = aws_rules.check(ok, self.idp_md, mode="identity-center", acs=fbsaml.IDC_ACS0,
                            entity_id=fbsaml.IDC_ENTITY_ID, known_users=["alice@example.com"])
        self.assertTrue(v["ok"], v)
        v = aws_rules.check(ok, self.idp_md, mode="identity-center", acs=fbsaml.IDC_ACS0,
                            entity_id=fbsaml.IDC_ENTITY_ID, known_users=["bob@example.com"])
        self.assertEqual(v["rule"], "name-id-format", v)
        bad = self.idp.response(fbsaml.IDC_ENTITY_ID, fbsaml.IDC_ACS0, name_id="alice",
                                name_id_format=pc.NAMEID_PERSISTENT)
        v = aws_rules.check(bad, self.idp_md, mode="identity-center", acs=fbsaml.IDC_ACS0,
                            entity_id=fbsaml.IDC_ENTITY_ID)
        self.assertEqual(v["rule"], "name-id-format", v)

    # ---- the stand-in server
    def test_standin_http(self):
        srv, url = fbsaml.standin(self, self.idp_md, acs_url=fbsaml.AWS_ACS)

        def post(fields):
            data = urllib.parse.urlencode(fields).encode()
            try:
                with urllib.request.urlopen(url, data, timeout=30) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())
        st, v = post({"SAMLResponse": self.aws(), "RelayState": "/console"})
        self.assertEqual(st, 200, v)
        self.assertTrue(v["ok"])
        self.assertEqual(v["relay_state"], "/console")
        bad = self.aws(attributes={aws_rules.ROLE: [ROLE_OK]})
        st, v = post({"SAMLResponse": bad})
        self.assertEqual((st, v["rule"]), (400, "role-session-name"), v)
        st, v = post({"nothing": "here"})
        self.assertEqual((st, v["rule"]), (400, "form"))
        st, v = post({"SAMLResponse": "%%% not base64"})
        self.assertEqual((st, v["rule"]), (400, "library"))
        with urllib.request.urlopen(url.rsplit("/", 1)[0] + "/verdicts", timeout=10) as r:
            self.assertEqual(len(json.loads(r.read())), 4)

    # ---- the request builders, checked by pysaml2's IdP
    def sp_pair(self, signed):
        d = self.tmpdir()
        key, cert = pc.make_keypair(d, "sp")
        acs = "https://sp.example.test/acs"
        ps = pysaml2_sp.SP("https://sp.example.test/pysaml2", [(acs, pc.BINDING_POST)],
                           self.idp_md, slo=[("https://sp.example.test/slo",
                                              pc.BINDING_REDIRECT)],
                           key=key, cert=cert, authn_requests_signed=signed)
        ol = onelogin_sp.SP("https://sp.example.test/onelogin", acs, self.idp_md,
                            slo="https://sp.example.test/slo", key=key, cert=cert)
        idp = pysaml2_idp.IdP(IDP_ID, IDP_ID, [ps.metadata(), self._ol_md(ol, cert)],
                              key=self.idp.key, cert=self.idp.cert)
        return ps, ol, idp, cert

    def _ol_md(self, ol, cert):
        from onelogin.saml2.settings import OneLogin_Saml2_Settings
        s = OneLogin_Saml2_Settings(ol.settings_dict, sp_validation_only=True)
        return s.get_sp_metadata().decode() if isinstance(s.get_sp_metadata(), bytes) \
            else s.get_sp_metadata()

    def test_authn_requests_parse_at_a_reference_idp(self):
        ps, ol, idp, cert = self.sp_pair(True)
        for maker, binding, sign in [(ps, pc.BINDING_REDIRECT, True),
                                     (ps, pc.BINDING_REDIRECT, False),
                                     (ps, pc.BINDING_POST, True), (ps, pc.BINDING_POST, False),
                                     (ol, pc.BINDING_REDIRECT, True),
                                     (ol, pc.BINDING_REDIRECT, False),
                                     (ol, pc.BINDING_POST, True), (ol, pc.BINDING_POST, False)]:
            with self.subTest(lib=type(maker).__module__, binding=binding, sign=sign):
                r = maker.authn_request(binding=binding, sign=sign, force_authn=True)
                if binding == pc.BINDING_REDIRECT:
                    q = fbsaml.query(r["url"])
                    self.assertEqual("Signature" in q, sign)
                    req = idp.server.parse_authn_request(q["SAMLRequest"], binding)
                    xml = pc.decode_redirect(q["SAMLRequest"])
                    if sign:
                        self.assertEqual(q["SigAlg"], pc.SIG_RSA_SHA256)
                else:
                    req = idp.server.parse_authn_request(r["fields"]["SAMLRequest"], binding)
                    xml = pc.decode_post(r["fields"]["SAMLRequest"])
                    self.assertEqual(pc.has_signature(xml), sign)
                    if sign:
                        ok, out = pc.xmlsec_verify(xml, cert, "AuthnRequest")
                        self.assertTrue(ok, out)
                self.assertEqual(req.message.id, r["id"])
                self.assertEqual(req.message.force_authn, "true")

    def test_logout_requests(self):
        ps, ol, idp, cert = self.sp_pair(True)
        for r in [ps.logout_request("alice", pc.NAMEID_PERSISTENT, "sess1"),
                  ps.logout_request("alice", pc.NAMEID_PERSISTENT, "sess1",
                                    binding=pc.BINDING_POST),
                  ol.logout_request("alice", pc.NAMEID_PERSISTENT, "sess1"),
                  ol.logout_request_post("alice", pc.NAMEID_PERSISTENT, "sess1")]:
            with self.subTest(url=r["url"][:60], binding=r["binding"]):
                if r["binding"] == pc.BINDING_REDIRECT:
                    q = fbsaml.query(r["url"])
                    self.assertIn("Signature", q)
                    xml = pc.decode_redirect(q["SAMLRequest"])
                else:
                    xml = pc.decode_post(r["fields"]["SAMLRequest"])
                    ok, out = pc.xmlsec_verify(xml, cert, "LogoutRequest")
                    self.assertTrue(ok, out)
                d = pc.describe(xml)
                self.assertEqual(d["root"], "LogoutRequest")
                self.assertEqual(d["name_id"], "alice")
                self.assertEqual(d["session_index"], "sess1")


if __name__ == "__main__":
    harness.main()
