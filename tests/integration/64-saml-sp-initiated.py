#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""64: SP-initiated sign-on at /saml/idp/sso with AuthnRequests made by
pysaml2 and onelogin (issue 5, item 1): HTTP-Redirect and HTTP-POST, signed
and unsigned; a signed request is verified (a bad signature refused even when
signing is optional), an unsigned one refused when the SP must sign; the
answer's InResponseTo, ACS and RelayState; ForceAuthn asks for a new sign-in,
IsPassive answers NoPassive without a session; an existing session is reused.
Each answer is validated by pysaml2, onelogin (strict) and node-saml.
"""

import os
import re
import sys
import time
import urllib.parse

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402
import peer_common as pc  # noqa: E402

try:
    import onelogin_sp  # noqa: E402
    import pysaml2_sp  # noqa: E402
    MISSING = None
except ImportError as e:
    MISSING = "%s (apt-get install python3-pysaml2 python3-onelogin-saml2 xmlsec1)" % e

PS_ID, PS_ACS = "https://ps.example.test/sp", "https://ps.example.test/acs"
PS_SLO = "https://ps.example.test/slo"
OL_ID, OL_ACS = "https://ol.example.test/sp", "https://ol.example.test/acs"
OL_SLO = "https://ol.example.test/slo"
MAIL = "urn:oid:0.9.2342.19200300.100.1.3"
ATTRS = [{"name": MAIL, "mapping": "mail", "friendly_name": "mail"}]
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
NO_PASSIVE = "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
INVALID_NAMEID_POLICY = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"


def setup_sps(holder):
    """Keys and metadata of the two SPs, and their fedbroker configuration entries."""
    d = holder.tmpdir()
    keys = {"ps": pc.make_keypair(d, "ps"), "ol": pc.make_keypair(d, "ol")}
    md_path = os.path.join(d, "ps.xml")
    with open(md_path, "w") as f:
        f.write(fbsaml.sp_metadata_pysaml2(PS_ID, [(PS_ACS, pc.BINDING_POST)], *keys["ps"],
                                           slo=[(PS_SLO, pc.BINDING_REDIRECT)],
                                           signed_requests=True,
                                           name_id_format=pc.NAMEID_PERSISTENT))
    sps = [
        {"name": "ps", "metadata": md_path, "attributes": ATTRS},
        {"name": "ol", "entity_id": OL_ID, "acs": [{"url": OL_ACS}], "slo_url": OL_SLO,
         "slo_binding": "post", "certificate": keys["ol"][1], "require_signed_requests": False,
         "nameid": {"format": "transient"}, "attributes": ATTRS},
    ]
    return keys, sps


class SpInitiated(harness.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        if MISSING:
            raise harness.peer_missing(MISSING)
        cls.holder = harness.TestCase("run")
        cls.keys, sps = setup_sps(cls.holder)
        cls.srv = fbsaml.saml_server(cls.holder, sps, [], [("alice", "alice@example.com")],
                                     {"mail": "return user.email\n"})
        cls.md = fbsaml.idp_metadata(cls.holder, cls.srv)

    @classmethod
    def tearDownClass(cls):
        if cls.srv is not None and cls.srv.proc is not None and cls.srv.proc.poll() is None:
            cls.srv.stop()
        cls.holder.doCleanups()

    def ps(self):
        return pysaml2_sp.SP(PS_ID, [(PS_ACS, pc.BINDING_POST)], self.md,
                             slo=[(PS_SLO, pc.BINDING_REDIRECT)], key=self.keys["ps"][0],
                             cert=self.keys["ps"][1], authn_requests_signed=True)

    def ol(self):
        return onelogin_sp.SP(OL_ID, OL_ACS, self.md, slo=OL_SLO, key=self.keys["ol"][0],
                              cert=self.keys["ol"][1],
                              name_id_format=pc.NAMEID_TRANSIENT)

    def answered(self, req, entity_id, acs, user="alice", b=None):
        b = b or fbsaml.browser(self, self.srv)
        page = fbsaml.through_login(self, b, fbsaml.send(b, req), user)
        action, resp, rs = fbsaml.response_of(self, page)
        self.assertEqual(action, acs)
        vs = fbsaml.validate_all(self, resp, self.md, entity_id, acs, in_response_to=req["id"])
        v = vs["pysaml2"]
        self.assertEqual(v["in_response_to"], req["id"])
        self.assertEqual(v["attributes"].get(MAIL), ["alice@example.com"])
        return v, rs, b

    def assertRefused(self, page, off):
        """No success Response: a page for people or a SAML error status; an audit line."""
        action, fields = fbsaml.post_form(page.text)
        if "SAMLResponse" in fields:
            d = pc.describe(pc.decode_post(fields["SAMLResponse"]))
            self.assertNotEqual(d.get("status"), pc.STATUS_SUCCESS, d)
            self.assertEqual(d.get("assertion_count", 0), 0, "no assertion in an error")
        else:
            self.assertGreaterEqual(page.status, 400, page.text[:2000])
            self.assertLess(page.status, 500, page.text[:2000])
        self.assertTrue(fbsaml.audit_since(self.srv, off),
                        "no audit line\n" + "\n".join(self.srv.lines_since(off)))

    # ---- pysaml2 (from its metadata; it must sign)
    def test_pysaml2_redirect_signed(self):
        req = self.ps().authn_request(binding=pc.BINDING_REDIRECT, sign=True, relay_state="r1")
        v, rs, _ = self.answered(req, PS_ID, PS_ACS)
        self.assertEqual(rs, "r1")
        self.assertEqual(v["name_id_format"], pc.NAMEID_PERSISTENT)

    def test_pysaml2_post_signed(self):
        req = self.ps().authn_request(binding=pc.BINDING_POST, sign=True, relay_state="r2")
        _, rs, _ = self.answered(req, PS_ID, PS_ACS)
        self.assertEqual(rs, "r2")

    def test_pysaml2_unsigned_refused_when_the_sp_must_sign(self):
        for binding in (pc.BINDING_REDIRECT, pc.BINDING_POST):
            with self.subTest(binding=binding):
                b = fbsaml.signed_in(self, self.srv, "alice")
                off = self.srv.log_size()
                req = self.ps().authn_request(binding=binding, sign=False)
                self.assertRefused(fbsaml.send(b, req), off)
                self.assertEqual(b.get("/").status, 200, "the session survives")

    # ---- onelogin (inline configuration; signing optional)
    def test_onelogin_all_bindings_signed_and_unsigned(self):
        for binding in (pc.BINDING_REDIRECT, pc.BINDING_POST):
            for sign in (False, True):
                with self.subTest(binding=binding, sign=sign):
                    req = self.ol().authn_request(binding=binding, sign=sign, relay_state="ol")
                    if binding == pc.BINDING_REDIRECT:
                        self.assertEqual("Signature" in fbsaml.query(req["url"]), sign)
                    v, rs, _ = self.answered(req, OL_ID, OL_ACS)
                    self.assertEqual(rs, "ol")
                    self.assertEqual(v["name_id_format"], pc.NAMEID_TRANSIENT)

    def test_onelogin_bad_signature_refused_although_optional(self):
        b = fbsaml.signed_in(self, self.srv, "alice")
        req = self.ol().authn_request(binding=pc.BINDING_REDIRECT, sign=True)
        u = urllib.parse.urlsplit(req["url"])
        q = urllib.parse.parse_qsl(u.query)
        q = [(k, (v[:-6] + ("AAAAA=" if v[-6:] != "AAAAA=" else "BBBBB=")) if k == "Signature"
              else v) for k, v in q]
        off = self.srv.log_size()
        p = b.get(u.path + "?" + urllib.parse.urlencode(q))
        self.assertRefused(p, off)
        req = self.ol().authn_request(binding=pc.BINDING_POST, sign=True)
        xml = req["xml"].replace(b"https://ol.example.test/acs", b"https://evil.example/acs")
        req["fields"]["SAMLRequest"] = __import__("base64").b64encode(xml).decode()
        off = self.srv.log_size()
        self.assertRefused(fbsaml.send(b, req), off)

    # ---- the NameID format asked for (issue 10: honoured unless nameid.format pins one)
    def test_pysaml2_asks_for_transient_and_email(self):
        for fmt, value in ((pc.NAMEID_TRANSIENT, None), (pc.NAMEID_EMAIL, "alice@example.com")):
            with self.subTest(format=fmt):
                req = self.ps().authn_request(binding=pc.BINDING_REDIRECT, sign=True,
                                              name_id_format=fmt)
                self.assertIn(b'Format="%s"' % fmt.encode(), pc.decode_redirect(
                    fbsaml.query(req["url"])["SAMLRequest"]))
                v, _, _ = self.answered(req, PS_ID, PS_ACS)
                self.assertEqual(v["name_id_format"], fmt)
                self.assertEqual(v["lib_name_id_format"], fmt)
                if value:
                    self.assertEqual(v["name_id"], value)

    def test_onelogin_asks_for_email_at_an_sp_that_pins_nothing(self):
        ol = onelogin_sp.SP(PS_ID, PS_ACS, self.md, key=self.keys["ps"][0],
                            cert=self.keys["ps"][1], name_id_format=pc.NAMEID_EMAIL)
        req = ol.authn_request(binding=pc.BINDING_REDIRECT, sign=True)
        v, _, _ = self.answered(req, PS_ID, PS_ACS)
        self.assertEqual(v["name_id_format"], pc.NAMEID_EMAIL)
        self.assertEqual(v["name_id"], "alice@example.com")

    def test_onelogin_other_format_than_the_pinned_one_refused(self):
        ol = onelogin_sp.SP(OL_ID, OL_ACS, self.md, key=self.keys["ol"][0],
                            cert=self.keys["ol"][1], name_id_format=pc.NAMEID_PERSISTENT)
        b = fbsaml.signed_in(self, self.srv, "alice")
        off = self.srv.log_size()
        p = fbsaml.send(b, ol.authn_request(binding=pc.BINDING_REDIRECT))
        self.assertRefused(p, off)
        action, resp, _ = fbsaml.response_of(self, p)
        self.assertEqual(action, OL_ACS)
        d = pc.describe(pc.decode_post(resp))
        self.assertEqual(d["sub_status"], INVALID_NAMEID_POLICY, d)
        rec = fbsaml.audit_since(self.srv, off, "saml_request_unsupported")
        self.assertTrue(rec)
        self.assertIn("nameid.format", rec[0]["msg"])
        self.assertIn(pc.NAMEID_PERSISTENT, rec[0]["msg"])

    def test_pysaml2_persistent_allow_create_false(self):
        """SAML Core 3.4.1.1: AllowCreate="false" (pysaml2's default) only for a user who
        has a persistent NameID at the SP already."""
        fbsaml.add_user(self, self.srv, "nina", email="nina@example.com")
        b = fbsaml.signed_in(self, self.srv, "nina")
        off = self.srv.log_size()
        req = self.ps().authn_request(binding=pc.BINDING_REDIRECT, sign=True,
                                      name_id_format=pc.NAMEID_PERSISTENT, allow_create=False)
        self.assertIn(b'AllowCreate="false"', pc.decode_redirect(
            fbsaml.query(req["url"])["SAMLRequest"]))
        p = fbsaml.send(b, req)
        self.assertRefused(p, off)
        action, resp, _ = fbsaml.response_of(self, p)
        self.assertEqual(action, PS_ACS)
        d = pc.describe(pc.decode_post(resp))
        self.assertEqual((d["status"], d["sub_status"]), (STATUS_RESPONDER, INVALID_NAMEID_POLICY))
        self.assertEqual(d["in_response_to"], req["id"])
        self.assertTrue(fbsaml.audit_since(self.srv, off, "saml_nameid_policy"))
        nids = []
        for create in (True, False):
            req = self.ps().authn_request(binding=pc.BINDING_REDIRECT, sign=True,
                                          name_id_format=pc.NAMEID_PERSISTENT,
                                          allow_create=create)
            _, resp, _ = fbsaml.response_of(self, fbsaml.send(b, req))
            v = fbsaml.validate_all(self, resp, self.md, PS_ID, PS_ACS, in_response_to=req["id"])
            nids.append(v["pysaml2"]["lib_name_id"])
        self.assertEqual(nids[0], nids[1], "the identifier made is the one used afterwards")

    # ---- ForceAuthn, IsPassive, session reuse
    def test_session_reused(self):
        b = fbsaml.signed_in(self, self.srv, "alice")
        req = self.ol().authn_request(binding=pc.BINDING_REDIRECT)
        p = fbsaml.send(b, req)
        self.assertEqual(p.status, 200, "no second sign-in: %s" % p.location)
        fbsaml.response_of(self, p)

    def test_force_authn_asks_again(self):
        b = fbsaml.signed_in(self, self.srv, "alice")
        time.sleep(1.1)
        t0 = time.time()
        req = self.ps().authn_request(binding=pc.BINDING_REDIRECT, sign=True, force_authn=True)
        self.assertIn(b'ForceAuthn="true"', pc.decode_redirect(fbsaml.query(req["url"])[
            "SAMLRequest"]))
        old = dict(b.cookies)
        p = fbsaml.send(b, req)
        self.assertIn(p.status, (302, 303), "ForceAuthn: sign in again\n" + p.text[:2000])
        self.assertIn("/login", p.location)
        # Issue 10, finding 6: the session ForceAuthn set aside is revoked, not only its
        # cookie dropped: a copy of the old cookie no longer signs anyone in.
        copy = fbsaml.browser(self, self.srv)
        copy.cookies.update(old)
        p2 = copy.get("/")
        self.assertIn(p2.status, (302, 303), "the old session is revoked")
        self.assertIn("/login", p2.location)
        page = fbsaml.through_login(self, b, p, "alice")
        _, resp, _ = fbsaml.response_of(self, page)
        d = pc.describe(pc.decode_post(resp))
        self.assertEqual(d["in_response_to"], req["id"])
        self.assertNotEqual(b.cookies.get("fb_session"), old.get("fb_session"))
        import calendar
        inst = calendar.timegm(time.strptime(d["authn_instant"][:19], "%Y-%m-%dT%H:%M:%S"))
        self.assertGreaterEqual(inst, int(t0), "AuthnInstant is the new sign-in")

    def test_is_passive_without_session_answers_no_passive(self):
        b = fbsaml.browser(self, self.srv)
        req = self.ol().authn_request(binding=pc.BINDING_REDIRECT, is_passive=True)
        p = fbsaml.send(b, req)
        action, resp, _ = fbsaml.response_of(self, p)
        self.assertEqual(action, OL_ACS)
        xml = pc.decode_post(resp)
        d = pc.describe(xml)
        self.assertEqual(d["status"], STATUS_RESPONDER, d)
        self.assertEqual(d["sub_status"], NO_PASSIVE, d)
        self.assertEqual(d["in_response_to"], req["id"])
        self.assertEqual(d["assertion_count"], 0)
        self.assertNotIn("fb_session", b.cookies)

    def test_is_passive_with_session_answers(self):
        b = fbsaml.signed_in(self, self.srv, "alice")
        req = self.ol().authn_request(binding=pc.BINDING_REDIRECT, is_passive=True)
        p = fbsaml.send(b, req)
        self.assertEqual(p.status, 200)
        _, resp, _ = fbsaml.response_of(self, p)
        fbsaml.validate_all(self, resp, self.md, OL_ID, OL_ACS, in_response_to=req["id"])

    def test_relay_state_escaped_in_the_form(self):
        rs = 'a"b<c>&d'
        req = self.ol().authn_request(binding=pc.BINDING_REDIRECT, relay_state=rs)
        b = fbsaml.signed_in(self, self.srv, "alice")
        p = fbsaml.send(b, req)
        self.assertNotIn('a"b<c>', p.text)
        _, _, got = fbsaml.response_of(self, p)
        self.assertEqual(got, rs)
        self.assertFalse(re.search(r"<c>", p.text))

    def test_relay_state_one_rule_for_both_paths(self):
        # Issue 10, finding 8: SP-initiated accepted control characters that IdP-initiated
        # refused, and "a%00b" was cut to "a". One rule now: UTF-8, no control character,
        # no encoded NUL, at most 1024 bytes; each refusal a 400 with an audit line.
        b = fbsaml.signed_in(self, self.srv, "alice")
        bad = ["a\x01b", "a\nb", "a\x7fb", "a\u0085b", "x" * 1025]
        for rs in bad + ["a\x00b"]:
            with self.subTest(path="idp-initiated", rs=rs[:20]):
                off = self.srv.log_size()
                p = b.get("/saml/idp/init/ol?RelayState=" + urllib.parse.quote(rs, safe=""))
                self.assertEqual(p.status, 400, p.text[:2000])
                self.assertNotIn('name="SAMLResponse"', p.text)
                self.assertTrue(fbsaml.audit_since(self.srv, off, "saml_request_invalid"))
        for rs in bad:
            with self.subTest(path="sp-initiated redirect", rs=rs[:20]):
                off = self.srv.log_size()
                p = fbsaml.send(b, self.ol().authn_request(relay_state=rs))
                self.assertEqual(p.status, 400, p.text[:2000])
                self.assertNotIn('name="SAMLResponse"', p.text)
                self.assertTrue(fbsaml.audit_since(self.srv, off, "saml_request_invalid"))
        for rs in bad + ["a\x00b"]:
            with self.subTest(path="sp-initiated post", rs=rs[:20]):
                off = self.srv.log_size()
                p = fbsaml.send(b, self.ol().authn_request(binding=pc.BINDING_POST,
                                                           relay_state=rs))
                self.assertEqual(p.status, 400, p.text[:2000])
                self.assertNotIn('name="SAMLResponse"', p.text)
                self.assertTrue(fbsaml.audit_since(self.srv, off, "saml_request_invalid"))
        # The SP-initiated Redirect query with an encoded NUL, built by hand.
        url = self.ol().authn_request(relay_state="ab")["url"]
        self.assertIn("RelayState=ab", url)
        off = self.srv.log_size()
        p = b.get(fbsaml.path_of(url.replace("RelayState=ab", "RelayState=a%00b")))
        self.assertEqual(p.status, 400, p.text[:2000])
        recs = fbsaml.audit_since(self.srv, off, "saml_request_invalid")
        self.assertTrue(any("NUL" in str(r) for r in recs), recs)
        # What is allowed passes through unchanged on both paths: 1024 bytes, UTF-8, URLs.
        for rs in ("y" * 1024, "https://console.aws.amazon.com/ec2/home?region=eu-west-1#",
                   "caf\u00e9 \u2713"):
            with self.subTest(allowed=rs[:20]):
                p = b.get("/saml/idp/init/ol?RelayState=" + urllib.parse.quote(rs, safe=""))
                self.assertEqual(fbsaml.response_of(self, p)[2], rs)
                p = fbsaml.send(b, self.ol().authn_request(relay_state=rs))
                self.assertEqual(fbsaml.response_of(self, p)[2], rs)
        self.assertEqual(b.get("/").status, 200, "the session survives")


if __name__ == "__main__":
    harness.main()
