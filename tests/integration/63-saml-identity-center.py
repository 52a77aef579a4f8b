#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""63: IAM Identity Center as the SP (issue 5, item 5): from its real
metadata (emailAddress NameID equal to the user's email, one assertion, no
encryption, IdP metadata under 75,000 characters and a certificate under
2,500), and an Identity-Center-like pysaml2 SP with two ACS endpoints on the
AWS stand-in (identity-center rules) signing in SP-initiated with unsigned
AuthnRequests choosing the ACS by index and by URL; check-config warns when
an emailAddress NameID is fed by a value that is not an addr-spec.
"""

import os
import re
import subprocess
import sys

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402
import peer_common as pc  # noqa: E402

try:
    import aws_rules  # noqa: E402
    import pysaml2_sp  # noqa: E402
    MISSING = None
except ImportError as e:
    MISSING = "%s (apt-get install python3-pysaml2 python3-onelogin-saml2 xmlsec1)" % e

IDC_LIKE = "https://us-east-1.signin.aws.amazon.com/platform/saml/d-0000000001"
USERS = [("alice", "alice@example.com"), ("bob", "bob.smith@example.org"), "noemail"]
GROUPS = [{"name": "staff", "members": ["alice", "bob", "noemail"]}]


def idc_sp(name, **over):
    sp = {"name": name, "display_name": "AWS access portal", "profile": "aws-identity-center",
          "nameid": {"format": "email", "source": "email"}}
    sp.update(over)
    return sp


class IdentityCenter(harness.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        if MISSING:
            raise harness.peer_missing(MISSING)
        cls.holder = harness.TestCase("run")
        # The stand-in first: its ACS URLs go into the SP's metadata.
        cls.standin, url = fbsaml.standin(cls.holder, "", mode="identity-center",
                                          entity_id=IDC_LIKE,
                                          users=["alice@example.com", "bob.smith@example.org"])
        base = url.rsplit("/", 1)[0]
        cls.acs = [base + "/platform/saml/acs/t-0", base + "/platform/saml/acs/t-1"]
        cls.standin.state["acs_url"] = cls.acs
        d = cls.holder.tmpdir()
        md_path = os.path.join(d, "idc-like.xml")
        with open(md_path, "w") as f:
            f.write(fbsaml.sp_metadata_pysaml2(IDC_LIKE, [(u, pc.BINDING_POST) for u in cls.acs],
                                               name_id_format=pc.NAMEID_EMAIL))
        sps = [idc_sp("idc", metadata=fbsaml.fixture(fbsaml.IDC_METADATA)),
               idc_sp("idc-like", metadata=md_path)]
        cls.srv = fbsaml.saml_server(cls.holder, sps, GROUPS, USERS)
        cls.md = fbsaml.idp_metadata(cls.holder, cls.srv)
        cls.standin.state["idp_metadata"] = cls.md

    @classmethod
    def tearDownClass(cls):
        if cls.srv is not None and cls.srv.proc is not None and cls.srv.proc.poll() is None:
            cls.srv.stop()
        cls.holder.doCleanups()

    def sp(self):
        return pysaml2_sp.SP(IDC_LIKE, [(u, pc.BINDING_POST) for u in self.acs], self.md,
                             name_id_format=pc.NAMEID_EMAIL)

    def test_real_fixture_idp_initiated(self):
        b = fbsaml.signed_in(self, self.srv, "alice")
        action, resp, _ = fbsaml.response_of(self, b.get("/saml/idp/init/idc"))
        self.assertEqual(action, fbsaml.IDC_ACS0, "the default ACS (index 0, isDefault)")
        vs = fbsaml.validate_all(self, resp, self.md, fbsaml.IDC_ENTITY_ID, fbsaml.IDC_ACS0)
        v = vs["onelogin"]
        self.assertEqual(v["name_id_format"], pc.NAMEID_EMAIL)
        self.assertEqual(v["name_id"], "alice@example.com")
        self.assertEqual(v["lib_name_id"], "alice@example.com")
        self.assertEqual(v["assertion_count"], 1)
        self.assertEqual(v["encrypted_assertion_count"], 0)
        self.assertEqual(v["audiences"], [fbsaml.IDC_ENTITY_ID])
        verdict = aws_rules.check(resp, self.md, mode="identity-center", acs=fbsaml.IDC_ACS0,
                                  entity_id=fbsaml.IDC_ENTITY_ID,
                                  known_users=["alice@example.com"])
        self.assertTrue(verdict["ok"], verdict)

    def test_sp_initiated_unsigned_by_index_and_by_url(self):
        b = fbsaml.browser(self, self.srv)
        sp = self.sp()
        # By index (pysaml2 numbers the ACS 1, 2): the second ACS; not signed in yet.
        req = sp.authn_request(binding=pc.BINDING_REDIRECT, acs_index=2, relay_state="idx")
        self.assertNotIn("Signature", fbsaml.query(req["url"]))
        page = fbsaml.through_login(self, b, fbsaml.send(b, req), "bob")
        action, resp, rs = fbsaml.response_of(self, page)
        self.assertEqual(action, self.acs[1])
        self.assertEqual(rs, "idx")
        fbsaml.validate_all(self, resp, self.md, IDC_LIKE, self.acs[1], in_response_to=req["id"])
        st, v = fbsaml.post_to(action, {"SAMLResponse": resp, "RelayState": rs})
        self.assertEqual(st, 200, v)
        self.assertEqual(v["name_id"], "bob.smith@example.org")
        # By URL, over POST; the session is reused (no second sign-in).
        req = sp.authn_request(binding=pc.BINDING_POST, acs_url=self.acs[0], relay_state="url")
        action, resp, rs = fbsaml.response_of(self, fbsaml.send(b, req))
        self.assertEqual(action, self.acs[0])
        d = pc.describe(pc.decode_post(resp))
        self.assertEqual(d["in_response_to"], req["id"])
        self.assertEqual(d["subject_confirmations"][0]["in_response_to"], req["id"])
        st, v = fbsaml.post_to(action, {"SAMLResponse": resp, "RelayState": rs})
        self.assertEqual(st, 200, v)

    def test_user_without_email_is_refused_with_a_page(self):
        b = fbsaml.signed_in(self, self.srv, "noemail")
        off = self.srv.log_size()
        p = b.get("/saml/idp/init/idc")
        self.assertGreaterEqual(p.status, 400, p.text[:2000])
        self.assertLess(p.status, 500, p.text[:2000])
        self.assertNotIn("SAMLResponse", p.text, "never a response Identity Center refuses")
        self.assertRegex(re.sub(r"<[^>]+>", " ", p.text), r"(?i)e-?mail|NameID|addr-spec")
        self.assertTrue(fbsaml.audit_since(self.srv, off))

    def test_metadata_within_identity_center_limits(self):
        r = self.srv.request("GET", "/saml/idp/metadata")
        self.assertEqual(r.status, 200)
        text = r.body.decode("utf-8")
        self.assertLess(len(text), 75000)
        self.assertFalse(r.body.startswith(b"\xef\xbb\xbf"), "no BOM (notes/aws.md A.7)")
        info = pc.metadata_info(text)
        self.assertTrue(info["certs"])
        self.assertTrue(info["sso"])
        self.assertIn("xml", (r.header("Content-Type") or ""))
        c = self.srv.request("GET", "/saml/idp/cert.pem")
        self.assertEqual(c.status, 200)
        self.assertLess(len(c.body.decode("utf-8")), 2500)
        self.assertTrue(c.body.startswith(b"-----BEGIN CERTIFICATE-----"))
        self.assertNotIn(b"PRIVATE", c.body)

    def test_check_config_warns_when_nameid_is_not_an_addr_spec(self):
        srv = fbsaml.saml_server(self, [idc_sp("idc", metadata=fbsaml.fixture(
            fbsaml.IDC_METADATA), nameid={"format": "email", "source": "username"})],
            GROUPS, ["alice"], start=False)
        cp = subprocess.run([harness.BIN, "check-config", srv.config], capture_output=True,
                            text=True, timeout=60)
        self.assertNoCrash(cp, "check-config")
        out = cp.stdout + cp.stderr
        self.assertEqual(cp.returncode, 0, "a warning, not an error\n" + out)
        self.assertRegex(out, r"saml\.service_providers\[0\]", out)
        self.assertRegex(out.lower(), r"warn", out)
        self.assertRegex(out.lower(), r"addr-spec|email", out)


if __name__ == "__main__":
    harness.main()
