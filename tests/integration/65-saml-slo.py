#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""65: single logout (issue 5, item 6): LogoutRequests made by pysaml2
(HTTP-Redirect, signed) and onelogin (HTTP-POST and HTTP-Redirect, signed)
after a sign-on end the broker session, and the broker answers with a signed
LogoutResponse (Success, InResponseTo the request) by the binding the SP
declares, verified by the libraries and by xmlsec1 with the published
certificate. An unsigned LogoutRequest from an SP that must sign changes nothing.
Issue 10, finding 2 (logout CSRF): a LogoutRequest ends the session only when it
names what the session was asserted as to that SP (NameID, and SessionIndex when
given; an unsigned one must give it); otherwise the SP hears Requester and the
session cookie keeps working.
"""

import os
import sys

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

PS_ID, PS_ACS, PS_SLO = ("https://ps.example.test/sp", "https://ps.example.test/acs",
                         "https://ps.example.test/slo")
OL_ID, OL_ACS, OL_SLO = ("https://ol.example.test/sp", "https://ol.example.test/acs",
                         "https://ol.example.test/slo")


class SingleLogout(harness.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        if MISSING:
            raise harness.peer_missing(MISSING)
        cls.holder = harness.TestCase("run")
        d = cls.holder.tmpdir()
        cls.keys = {"ps": pc.make_keypair(d, "ps"), "ol": pc.make_keypair(d, "ol")}
        md_path = os.path.join(d, "ps.xml")
        with open(md_path, "w") as f:
            f.write(fbsaml.sp_metadata_pysaml2(PS_ID, [(PS_ACS, pc.BINDING_POST)],
                                               *cls.keys["ps"],
                                               slo=[(PS_SLO, pc.BINDING_REDIRECT)],
                                               signed_requests=True))
        sps = [{"name": "ps", "metadata": md_path},
               {"name": "ol", "entity_id": OL_ID, "acs": [{"url": OL_ACS}], "slo_url": OL_SLO,
                "slo_binding": "post", "certificate": cls.keys["ol"][1],
                "require_signed_requests": False}]
        cls.srv = fbsaml.saml_server(cls.holder, sps, [], ["alice"])
        cls.md = fbsaml.idp_metadata(cls.holder, cls.srv)
        cls.cert = os.path.join(d, "idp.pem")
        with open(cls.cert, "wb") as f:
            f.write(cls.srv.request("GET", "/saml/idp/cert.pem").body)

    @classmethod
    def tearDownClass(cls):
        if cls.srv is not None and cls.srv.proc is not None and cls.srv.proc.poll() is None:
            cls.srv.stop()
        cls.holder.doCleanups()

    def ps(self):
        return pysaml2_sp.SP(PS_ID, [(PS_ACS, pc.BINDING_POST)], self.md,
                             slo=[(PS_SLO, pc.BINDING_REDIRECT)], key=self.keys["ps"][0],
                             cert=self.keys["ps"][1], authn_requests_signed=True)

    def ol(self, entity=OL_ID, slo=OL_SLO):
        return onelogin_sp.SP(entity, OL_ACS if entity == OL_ID else PS_ACS, self.md, slo=slo,
                              key=self.keys["ol" if entity == OL_ID else "ps"][0],
                              cert=self.keys["ol" if entity == OL_ID else "ps"][1])

    def sso(self, b, sp, entity_id, acs):
        req = sp.authn_request(binding=pc.BINDING_REDIRECT, sign=True)
        page = fbsaml.through_login(self, b, fbsaml.send(b, req), "alice")
        _, resp, _ = fbsaml.response_of(self, page)
        d = pc.describe(pc.decode_post(resp))
        self.assertTrue(d["session_index"], "SessionIndex is needed for logout")
        return d

    def assertSignedOut(self, b):
        p = b.get("/")
        self.assertIn(p.status, (302, 303), "the broker session is over")
        self.assertIn("/login", p.location)

    def test_pysaml2_redirect(self):
        b = fbsaml.browser(self, self.srv)
        d = self.sso(b, self.ps(), PS_ID, PS_ACS)
        off = self.srv.log_size()
        req = self.ps().logout_request(d["name_id"], d["name_id_format"], d["session_index"],
                                       binding=pc.BINDING_REDIRECT, sign=True)
        p = fbsaml.send(b, req)
        self.assertIn(p.status, (302, 303), p.text[:2000])
        self.assertTrue(p.location.startswith(PS_SLO + "?"), p.location)
        q = fbsaml.query(p.location)
        self.assertEqual(q.get("RelayState"), "rs-slo")
        self.assertIn("Signature", q, "a signed LogoutResponse")
        xml = pc.decode_redirect(q["SAMLResponse"])
        lr = pc.describe(xml)
        self.assertEqual(lr["root"], "LogoutResponse")
        self.assertEqual(lr["status"], pc.STATUS_SUCCESS)
        self.assertEqual(lr["in_response_to"], req["id"])
        self.assertEqual(lr["destination"], PS_SLO)
        self.assertEqual(lr["issuer"], pc.metadata_info(self.md)["entity_id"])
        v = self.ps().validate_logout_response(q["SAMLResponse"], pc.BINDING_REDIRECT)
        self.assertTrue(v["ok"], v)
        ok, why = pc.verify_redirect_signature(p.location.split("?", 1)[1], self.cert)
        self.assertTrue(ok, why)
        v = self.ol(PS_ID, PS_SLO).validate_logout_response_redirect(p.location, req["id"])
        self.assertTrue(v["ok"], v)
        self.assertSignedOut(b)
        self.assertTrue(fbsaml.audit_since(self.srv, off))

    def test_onelogin_post_and_redirect(self):
        for binding in (pc.BINDING_POST, pc.BINDING_REDIRECT):
            with self.subTest(binding=binding):
                b = fbsaml.browser(self, self.srv)
                d = self.sso(b, self.ol(), OL_ID, OL_ACS)
                sp = self.ol()
                req = (sp.logout_request_post if binding == pc.BINDING_POST
                       else sp.logout_request)(d["name_id"], d["name_id_format"],
                                               d["session_index"])
                p = fbsaml.send(b, req)
                self.assertEqual(p.status, 200, p.text[:2000])
                action, fields = fbsaml.post_form(p.text)
                self.assertEqual(action, OL_SLO, "the SP's SLO takes POST")
                self.assertIn("SAMLResponse", fields)
                xml = pc.decode_post(fields["SAMLResponse"])
                lr = pc.describe(xml)
                self.assertEqual(lr["root"], "LogoutResponse")
                self.assertEqual(lr["status"], pc.STATUS_SUCCESS)
                self.assertEqual(lr["in_response_to"], req["id"])
                self.assertEqual(lr["destination"], OL_SLO)
                self.assertTrue(lr["signed_response"], "an enveloped signature")
                ok, out = pc.xmlsec_verify(xml, self.cert, "LogoutResponse")
                self.assertTrue(ok, out)
                ps = pysaml2_sp.SP(OL_ID, [(OL_ACS, pc.BINDING_POST)], self.md,
                                   slo=[(OL_SLO, pc.BINDING_POST)])
                v = ps.validate_logout_response(fields["SAMLResponse"], pc.BINDING_POST)
                self.assertTrue(v["ok"], v)
                self.assertSignedOut(b)

    def test_unsigned_logout_request_refused_when_the_sp_must_sign(self):
        b = fbsaml.browser(self, self.srv)
        d = self.sso(b, self.ps(), PS_ID, PS_ACS)
        off = self.srv.log_size()
        req = self.ps().logout_request(d["name_id"], d["name_id_format"], d["session_index"],
                                       binding=pc.BINDING_REDIRECT, sign=False)
        p = fbsaml.send(b, req)
        loc = p.location or ""
        if loc.startswith(PS_SLO):
            st = pc.describe(pc.decode_redirect(fbsaml.query(loc)["SAMLResponse"]))["status"]
            self.assertNotEqual(st, pc.STATUS_SUCCESS)
        else:
            self.assertGreaterEqual(p.status, 400, p.text[:2000])
        self.assertTrue(fbsaml.audit_since(self.srv, off))
        self.assertEqual(b.get("/").status, 200, "still signed in")

    STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"

    def assertLeftAlone(self, b, p, off, slo):
        """The SP hears a non-success LogoutResponse (or the person a 4xx page), an audit
        line says why, and the session cookie still signs in."""
        action, fields = fbsaml.post_form(p.text) if p.status == 200 else (None, {})
        if "SAMLResponse" in fields:
            self.assertEqual(action, slo)
            lr = pc.describe(pc.decode_post(fields["SAMLResponse"]))
        elif (p.location or "").startswith(slo + "?"):
            lr = pc.describe(pc.decode_redirect(fbsaml.query(p.location)["SAMLResponse"]))
        else:
            self.assertGreaterEqual(p.status, 400, p.text[:2000])
            self.assertLess(p.status, 500, p.text[:2000])
            lr = None
        if lr is not None:
            self.assertEqual(lr["root"], "LogoutResponse")
            self.assertEqual(lr["status"], self.STATUS_REQUESTER, lr)
        self.assertTrue(fbsaml.audit_since(self.srv, off, "saml_logout_refused"),
                        "\n".join(self.srv.lines_since(off)))
        self.assertFalse([c for c in p.headers_all("Set-Cookie") if "Max-Age=0" in c],
                         "the session cookie is not dropped")
        self.assertEqual(b.get("/").status, 200, "still signed in: the cookie works")

    def test_cross_site_unsigned_logout_naming_another_nameid_leaves_the_session(self):
        # An SP that may send unsigned requests (ol): any site can make the browser send one.
        for binding in (pc.BINDING_REDIRECT, pc.BINDING_POST):
            with self.subTest(binding=binding):
                b = fbsaml.browser(self, self.srv)
                d = self.sso(b, self.ol(), OL_ID, OL_ACS)
                sp = self.ol()
                make = sp.logout_request if binding == pc.BINDING_REDIRECT \
                    else sp.logout_request_post
                for name_id, sidx in (("mallory", d["session_index"]), ("mallory", None),
                                      ("mallory", "_0123456789")):
                    off = self.srv.log_size()
                    req = make(name_id, d["name_id_format"], sidx, sign=False)
                    self.assertLeftAlone(b, fbsaml.send(b, req), off, OL_SLO)
                # A browser that never signed in to ol, named correctly: also left alone.
                other = fbsaml.signed_in(self, self.srv, "alice")
                off = self.srv.log_size()
                req = make(d["name_id"], d["name_id_format"], d["session_index"], sign=False)
                self.assertLeftAlone(other, fbsaml.send(other, req), off, OL_SLO)

    def test_wrong_session_index_leaves_the_session(self):
        b = fbsaml.browser(self, self.srv)
        d = self.sso(b, self.ol(), OL_ID, OL_ACS)
        # Unsigned (ol) and signed (ps, whose requests must be signed): a SessionIndex that
        # is not this session's is refused even with the right NameID and a valid signature.
        off = self.srv.log_size()
        req = self.ol().logout_request(d["name_id"], d["name_id_format"], "_" + "0" * 40,
                                       sign=False)
        self.assertLeftAlone(b, fbsaml.send(b, req), off, OL_SLO)
        off = self.srv.log_size()
        req = self.ol().logout_request_post(d["name_id"], d["name_id_format"], "_" + "0" * 40,
                                            sign=True)
        self.assertLeftAlone(b, fbsaml.send(b, req), off, OL_SLO)
        b2 = fbsaml.browser(self, self.srv)
        d2 = self.sso(b2, self.ps(), PS_ID, PS_ACS)
        off = self.srv.log_size()
        req = self.ps().logout_request(d2["name_id"], d2["name_id_format"], "_" + "1" * 40,
                                       binding=pc.BINDING_REDIRECT, sign=True)
        self.assertLeftAlone(b2, fbsaml.send(b2, req), off, PS_SLO)
        # ol's session index at ps: the SessionIndex is per SP.
        off = self.srv.log_size()
        req = self.ps().logout_request(d2["name_id"], d2["name_id_format"], d["session_index"],
                                       binding=pc.BINDING_REDIRECT, sign=True)
        self.assertLeftAlone(b2, fbsaml.send(b2, req), off, PS_SLO)

    def test_unsigned_logout_must_name_the_session_index(self):
        b = fbsaml.browser(self, self.srv)
        d = self.sso(b, self.ol(), OL_ID, OL_ACS)
        off = self.srv.log_size()
        req = self.ol().logout_request(d["name_id"], d["name_id_format"], None, sign=False)
        self.assertLeftAlone(b, fbsaml.send(b, req), off, OL_SLO)
        # Named correctly, unsigned (ol may send unsigned requests): the session ends.
        req = self.ol().logout_request(d["name_id"], d["name_id_format"], d["session_index"],
                                       sign=False)
        p = fbsaml.send(b, req)
        action, fields = fbsaml.post_form(p.text)
        self.assertEqual(action, OL_SLO)
        self.assertEqual(pc.describe(pc.decode_post(fields["SAMLResponse"]))["status"],
                         pc.STATUS_SUCCESS)
        self.assertSignedOut(b)


if __name__ == "__main__":
    harness.main()
