#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""75: the broker as a SAML service provider to an upstream IdP (issue 11,
items 3 and 4), against pysaml2 as the IdP: the SP metadata at
/saml/sp/metadata and from `metadata export --sp` is accepted by pysaml2
(it finds our ACS and signing certificate); `metadata import` takes the IdP's
metadata and prints an upstreams entry; /upstream/NAME/start sends a signed
AuthnRequest pysaml2 parses and verifies; the ACS accepts pysaml2's answer
once and refuses a replay, an unsolicited response, a response to another
request, another key's signature and a failed status, each with a clear page,
an audit line and no session.
"""

import base64
import os
import re
import sys
import urllib.parse

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402
import peer_common as pc  # noqa: E402

try:
    import pysaml2_idp  # noqa: E402
    MISSING = None
except ImportError as e:
    MISSING = "%s (apt-get install python3-pysaml2 xmlsec1)" % e

IDP_ID = "https://idp.corp.test/saml"
IDP_BASE = "https://idp.corp.test"
GROUPS_ATTR = "groups"
RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
# The upstream's attributes (lists of values by Name) into the identity.
MAPPING = ('mail = upstream["mail"][0]\n'
           'return {"username": mail.split("@")[0], "email": mail, "email_verified": True,\n'
           '        "groups": upstream["groups"]}\n')


class UpstreamSaml(harness.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        if MISSING:
            raise harness.peer_missing(MISSING)
        cls.holder = harness.TestCase("run")
        d = cls.holder.tmpdir()
        cls.idp_key, cls.idp_cert = pc.make_keypair(d, "corpidp")
        cls.evil_key, cls.evil_cert = pc.make_keypair(d, "evil")
        # The IdP's metadata does not depend on the SPs it knows: made first, for our config.
        first = pysaml2_idp.IdP(IDP_ID, IDP_BASE, [], key=cls.idp_key, cert=cls.idp_cert,
                                want_authn_requests_signed=True)
        cls.idp_md_path = os.path.join(d, "corp-idp.xml")
        with open(cls.idp_md_path, "w") as f:
            f.write(first.metadata())
        upstream = {"name": "corp", "display_name": "Corp SSO", "type": "saml",
                    "domains": ["corp.test"], "logout": True,
                    "saml": {"metadata": cls.idp_md_path}}
        # The same IdP once more, told to pass the typed email on as the request's Subject.
        hinted = {"name": "hinted", "type": "saml", "domains": ["hinted.test"],
                  "saml": {"metadata": cls.idp_md_path, "login_hint": "subject"}}
        cls.srv = fbsaml.saml_server(cls.holder, [], conf={"upstreams": [upstream, hinted]},
                                     mappings={"upstream_saml": MAPPING})
        cls.base = "http://127.0.0.1:%d" % cls.srv.port
        cls.sp_id = cls.base + "/saml/sp/metadata"
        cls.acs = cls.base + "/upstream/corp/acs"
        r = cls.srv.http("GET", "/saml/sp/metadata")
        cls.holder.assertEqual(r.status, 200, r.body[:500])
        cls.sp_md = r.body.decode()
        # pysaml2 loads the broker's SP metadata (a parse failure raises here). Its metadata
        # (above) asks for signed requests; pysaml2 7.0.1's parser would look for an XML
        # signature, so the query signature is verified by the peer itself (authn_request).
        cls.idp = pysaml2_idp.IdP(IDP_ID, IDP_BASE, [cls.sp_md], key=cls.idp_key,
                                  cert=cls.idp_cert)
        cls.evil = pysaml2_idp.IdP(IDP_ID, IDP_BASE, [cls.sp_md], key=cls.evil_key,
                                   cert=cls.evil_cert)

    @classmethod
    def tearDownClass(cls):
        if cls.srv is not None and cls.srv.proc is not None and cls.srv.proc.poll() is None:
            cls.srv.stop()
        cls.holder.doCleanups()

    # ---- metadata
    def test_sp_metadata_accepted_by_pysaml2(self):
        r = self.srv.http("GET", "/saml/sp/metadata")
        self.assertIn("samlmetadata+xml", r.header("content-type"))
        self.assertEqual(self.idp.acs_of(self.sp_id),
                         [self.acs, self.base + "/upstream/hinted/acs"])
        # pysaml2 reads the signing certificate it will verify our requests with.
        cert = self.idp.sp_signing_cert(self.sp_id)
        self.assertTrue(cert)
        self.assertIn('WantAssertionsSigned="true"', self.sp_md)
        self.assertIn('AuthnRequestsSigned="true"', self.sp_md)
        self.assertIn('use="encryption"', self.sp_md)
        self.assertIn(self.base + "/upstream/corp/slo", self.sp_md)
        # The CLI prints the same entity (same ACS and certificate; a fresh ID).
        cp = fbsaml.cli(self.srv, "metadata", "export", "--sp")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        strip = lambda t: re.sub(r' ID="[^"]*"', "", t)  # noqa: E731
        self.assertEqual(strip(cp.stdout), strip(self.sp_md))
        cp = fbsaml.cli(self.srv, "metadata", "export", "--sp", "--sign")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("<ds:Signature", cp.stdout)

    def test_import_idp_metadata(self):
        d = self.tmpdir()
        cp = harness.run(["metadata", "import", self.idp_md_path, "--name", "corp2", "--dir", d])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("identity provider (IdP)", cp.stdout)
        self.assertIn("upstreams:", cp.stdout)
        self.assertRegex(cp.stdout, r"(?m)^  - name: corp2\n")
        self.assertRegex(cp.stdout, r"(?m)^    type: saml$")
        self.assertIn("sign_requests: auto  # the IdP wants signed AuthnRequests", cp.stdout)
        self.assertTrue(os.path.exists(os.path.join(d, "corp2.xml")))
        # --cert: this metadata carries no signature, so it is refused and nothing is saved.
        cp = harness.run(["metadata", "import", self.idp_md_path, "--name", "corp3", "--dir", d,
                          "--cert", self.idp_cert])
        self.assertEqual(cp.returncode, 1, cp.stdout)
        self.assertIn("not signed", cp.stderr)
        self.assertFalse(os.path.exists(os.path.join(d, "corp3.xml")))
        # An upstream's name is at most 32 characters.
        cp = harness.run(["metadata", "import", self.idp_md_path, "--name", "c" * 33, "--dir", d])
        self.assertNotEqual(cp.returncode, 0)

    def test_check_config_reads_the_idp_metadata(self):
        d = self.tmpdir()
        sp_md = os.path.join(d, "not-an-idp.xml")
        with open(sp_md, "w") as f:
            f.write(self.sp_md)  # SP metadata where IdP metadata belongs
        conf = harness.deep_merge(self.srv.conf, {"upstreams": [
            {"name": "corp", "type": "saml", "saml": {"metadata": sp_md}}]})
        path = os.path.join(d, "fedbroker.yaml")
        with open(path, "w") as f:
            f.write(harness.to_yaml(conf) + "\n")
        cp = harness.run(["check-config", path])
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        out = cp.stdout + cp.stderr
        self.assertIn("not SAML IdP metadata", out)
        self.assertRegex(out, r"fedbroker\.yaml:\d+:\d+: upstreams\[0\]\.saml\.metadata")
        # The real IdP metadata passes.
        conf["upstreams"][0]["saml"]["metadata"] = self.idp_md_path
        with open(path, "w") as f:
            f.write(harness.to_yaml(conf) + "\n")
        cp = harness.run(["check-config", path])
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)

    # ---- sign-in
    def start(self, b):
        """GET /upstream/corp/start: the AuthnRequest as pysaml2 parses and verifies it."""
        p = b.get("/upstream/corp/start")
        self.assertEqual(p.status, 303, p.text[:2000])
        loc = p.location
        self.assertTrue(loc.startswith(IDP_BASE + "/sso?SAMLRequest="), loc)
        req = self.idp.authn_request(urllib.parse.urlsplit(loc).query)
        self.assertTrue(req["signed"])
        self.assertEqual(req["issuer"], self.sp_id)
        self.assertEqual(req["acs"], self.acs)
        return req

    def post(self, b, resp):
        return b.post("/upstream/corp/acs", {"SAMLResponse": resp})

    def answer(self, req_id, idp=None, who="carol", **kw):
        return (idp or self.idp).response(
            self.sp_id, self.acs, name_id=who + "-7", in_response_to=req_id,
            attributes={GROUPS_ATTR: ["admins", "dev"], "mail": [who + "@corp.test"]}, **kw)

    def users(self):
        """Every username in the store (local and upstream users alike), read-only."""
        return [r[0] for r in self.srv.store_sql("SELECT username FROM users")[1]]

    def assertNobody(self, who):
        """No user was created for who, and the workers still serve."""
        self.assertNotIn(who, self.users())
        self.assertEqual(self.srv.http("GET", "/healthz").status, 200)

    def assertRefused(self, page, off, needle):
        self.assertGreaterEqual(page.status, 400, page.text[:2000])
        self.assertLess(page.status, 500, page.text[:2000])
        self.assertIn(needle, page.text)
        self.assertTrue(fbsaml.audit_since(self.srv, off),
                        "no audit line\n" + "\n".join(self.srv.lines_since(off)))

    def test_login_hint_as_subject(self):
        """saml.login_hint: subject: the email typed at home-realm discovery reaches
        pysaml2 as the AuthnRequest's Subject NameID (emailAddress); the default (none)
        and a hint that is not an email send no Subject."""
        b = fbsaml.browser(self, self.srv)
        seen = {}
        for up, hint in (("hinted", "ann@hinted.test"), ("hinted", "ann"),
                         ("corp", "ann@corp.test")):
            p = b.get("/upstream/%s/start?login_hint=%s" % (up, urllib.parse.quote(hint)))
            self.assertEqual(p.status, 303, p.text[:2000])
            req = self.idp.authn_request(urllib.parse.urlsplit(p.location).query)
            self.assertTrue(req["signed"])
            self.assertEqual(req["acs"], self.base + "/upstream/%s/acs" % up)
            seen[(up, hint)] = (req["subject"], req["subject_format"])
        self.assertEqual(seen[("hinted", "ann@hinted.test")],
                         ("ann@hinted.test",
                          "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"))
        self.assertEqual(seen[("hinted", "ann")], (None, None))
        self.assertEqual(seen[("corp", "ann@corp.test")], (None, None))

    def test_signin_once_then_replay_refused(self):
        b = fbsaml.browser(self, self.srv)
        req = self.start(b)
        resp = self.answer(req["id"])
        p = self.post(b, resp)
        self.assertIn(p.status, (302, 303), p.text[:2000])
        self.assertIn("fb_session", b.cookies)
        # The user was created (what assertNobody looks for in the refusals).
        self.assertIn("carol", self.users())
        # The same response again, from another browser that started its own request.
        b2 = fbsaml.browser(self, self.srv)
        self.start(b2)
        off = self.srv.log_size()
        self.assertRefused(self.post(b2, resp), off, "does not answer")
        # ... and as an unsolicited one (the cookie used): refused, no session.
        b3 = fbsaml.browser(self, self.srv)
        off = self.srv.log_size()
        p = b3.post("/upstream/corp/acs?same_site=1", {"SAMLResponse": resp})
        self.assertRefused(p, off, "did not start")
        self.assertNotIn("fb_session", b3.cookies)

    def test_bad_responses_refused(self):
        cases = [
            ("another key", dict(idp=self.evil), "does not verify"),
            ("failed status", None, "Responder"),
        ]
        for label, kw, needle in cases:
            with self.subTest(label):
                b = fbsaml.browser(self, self.srv)
                req = self.start(b)
                if kw is None:
                    resp = self.idp.error_response(self.sp_id, self.acs, req["id"], RESPONDER)
                else:
                    resp = self.answer(req["id"], who="mallory", **kw)
                off = self.srv.log_size()
                self.assertRefused(self.post(b, resp), off, needle)
                self.assertNotIn("fb_session", b.cookies)
                self.assertNobody("mallory")
        # Another browser's request: the cookie does not match the InResponseTo.
        b1, b2 = fbsaml.browser(self, self.srv), fbsaml.browser(self, self.srv)
        req1 = self.start(b1)
        self.start(b2)
        off = self.srv.log_size()
        self.assertRefused(self.post(b2, self.answer(req1["id"], who="trudy")), off,
                           "does not answer")
        self.assertNotIn("fb_session", b2.cookies)
        self.assertNobody("trudy")

    def signed_in(self):
        """A browser signed in through pysaml2; the SessionIndex pysaml2 gave."""
        b = fbsaml.browser(self, self.srv)
        resp = self.answer(self.start(b)["id"])
        p = self.post(b, resp)
        self.assertIn(p.status, (302, 303), p.text[:2000])
        self.assertIn("fb_session", b.cookies)
        m = re.search(r'SessionIndex="([^"]+)"', base64.b64decode(resp).decode())
        return b, m.group(1) if m else None

    def assertSignedIn(self, b, yes):
        p = b.get("/")
        if yes:
            self.assertEqual(p.status, 200, p.text[:1000])
        else:
            self.assertIn(p.status, (302, 303))
            self.assertIn("/login", p.location)

    def test_idp_logout_request_ends_the_session(self):
        slo = self.base + "/upstream/corp/slo"
        b, si = self.signed_in()
        other, _ = self.signed_in()
        # Unsigned: refused, the session stays.
        url, _ = self.idp.logout_request_url(slo, "carol-7", [si], sign=False)
        off = self.srv.log_size()
        p = b.get(fbsaml.path_of(url))
        self.assertRefused(p, off, "not signed")
        self.assertSignedIn(b, True)
        # Signed, naming another subject: the session stays, the IdP hears Requester.
        url, _ = self.idp.logout_request_url(slo, "somebody-else", [si])
        p = b.get(fbsaml.path_of(url))
        self.assertEqual(p.status, 303, p.text[:2000])
        self.assertTrue(p.location.startswith(IDP_BASE + "/slo?SAMLResponse="), p.location)
        self.assertIn("Requester", pc.decode_redirect(
            dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(p.location).query))[
                "SAMLResponse"]).decode())
        self.assertSignedIn(b, True)
        # Signed, naming this session: it ends; Success; the other browser stays signed in
        # (its SessionIndex is another).
        url, _ = self.idp.logout_request_url(slo, "carol-7", [si])
        p = b.get(fbsaml.path_of(url))
        self.assertEqual(p.status, 303, p.text[:2000])
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(p.location).query))
        self.assertIn("status:Success", pc.decode_redirect(q["SAMLResponse"]).decode())
        self.assertEqual(q.get("RelayState"), "slo-rs")
        self.assertSignedIn(b, False)
        self.assertSignedIn(other, True)

    def test_signing_out_signs_out_at_the_idp(self):
        b, si = self.signed_in()
        form = b.get("/logout")
        self.assertEqual(form.status, 200, form.text[:2000])
        p = b.post("/logout", {"csrf": form.hidden("csrf")})
        self.assertEqual(p.status, 303, p.text[:2000])
        self.assertTrue(p.location.startswith(IDP_BASE + "/slo?SAMLRequest="), p.location)
        req = self.idp.logout_request(urllib.parse.urlsplit(p.location).query)
        self.assertTrue(req["signed"])
        self.assertEqual(req["name_id"], "carol-7")
        self.assertEqual(req["issuer"], self.sp_id)
        self.assertEqual(req["session_indexes"], [si] if si else [])
        self.assertSignedIn(b, False)

    def test_cross_site_post_is_posted_again(self):
        """Without the cookie (a browser's cross-site POST), the ACS answers a form that
        posts the same fields to itself, same-site."""
        b = fbsaml.browser(self, self.srv)
        p = b.post("/upstream/corp/acs", {"SAMLResponse": "PHg+", "RelayState": "x"})
        action, fields = fbsaml.post_form(p.text)
        self.assertEqual(p.status, 200, p.text[:2000])
        self.assertEqual(action, "/upstream/corp/acs?same_site=1")
        self.assertEqual(fields, {"SAMLResponse": "PHg+", "RelayState": "x"})


class FedbrokerUpstream(harness.TestCase):
    """fedbroker's own SAML IdP (server A) as the upstream of a second fedbroker (B)."""

    def setUp(self):
        super().setUp()
        if MISSING:
            raise harness.peer_missing(MISSING)

    def make(self, srv, conf):
        srv.conf = harness.deep_merge(srv.base_conf, conf)
        srv.write_config(srv.conf)

    def run_ok(self, srv, *args, stdin=None):
        cp = fbsaml.cli(srv, *args, stdin=stdin)
        self.assertEqual(cp.returncode, 0, "%s: %s%s" % (" ".join(args), cp.stdout, cp.stderr))
        return cp.stdout

    def test_fedbroker_idp_as_upstream(self):
        a = harness.Server(self, conf={})
        b = harness.Server(self, conf={})
        a_url, b_url = "http://127.0.0.1:%d" % a.port, "http://127.0.0.1:%d" % b.port
        d = self.tmpdir()
        base = {"local": {"password": {"time_cost": 1, "memory_kib": 1024},
                          "bootstrap": {"enabled": False}}}
        # A's keys and IdP metadata first (it does not depend on its SPs).
        self.make(a, harness.deep_merge(base, {"server": {"public_url": a_url}}))
        if not a.conf.get("keys"):  # on PostgreSQL the harness's keys:
            self.run_ok(a, "keys", "generate", "--init")
        a_md = os.path.join(d, "a-idp.xml")
        with open(a_md, "w") as f:
            f.write(self.run_ok(a, "metadata", "export"))
        # B: upstream A; its SP metadata (for A) from the CLI.
        mdir = fbsaml.write_mappings(os.path.join(b.dir, "mappings"), {"upstream_saml": MAPPING})
        self.make(b, harness.deep_merge(base, {
            "server": {"public_url": b_url}, "mappings": {"dir": mdir},
            "upstreams": [{"name": "a", "display_name": "Broker A", "type": "saml",
                           "saml": {"metadata": a_md}}]}))
        if not b.conf.get("keys"):  # on PostgreSQL the harness's keys:
            self.run_ok(b, "keys", "generate", "--init")
        b_md = os.path.join(d, "b-sp.xml")
        with open(b_md, "w") as f:
            f.write(self.run_ok(b, "metadata", "export", "--sp"))
        # A knows B as a service provider, with the groups attribute B's mapping reads.
        amdir = fbsaml.write_mappings(os.path.join(a.dir, "mappings"),
                                      {"all_groups": "return [g.name for g in user.groups]\n",
                                       "mail": "return user.email\n"})
        self.make(a, harness.deep_merge(base, {
            "server": {"public_url": a_url}, "mappings": {"dir": amdir},
            "groups": [{"name": "admins", "members": ["dana"]}],
            "saml": {"service_providers": [{
                "name": "b", "metadata": b_md,
                "attributes": [{"name": "groups", "mapping": "all_groups"},
                               {"name": "mail", "mapping": "mail"}]}]}}))
        fbsaml.add_user(self, a, "dana", email="dana@corp.test")
        a.start()
        b.start()
        self.assertEqual(b.http("GET", "/saml/sp/metadata").status, 200)
        bb, ba = fbsaml.browser(self, b), fbsaml.browser(self, a)
        p = bb.get("/upstream/a/start")
        self.assertEqual(p.status, 303, p.text[:2000])
        self.assertTrue(p.location.startswith(a_url + "/saml/idp/sso?SAMLRequest="), p.location)
        page = fbsaml.through_login(self, ba, ba.get(fbsaml.path_of(p.location)), "dana")
        action, resp, rs = fbsaml.response_of(self, page)
        self.assertEqual(action, b_url + "/upstream/a/acs")
        done = bb.post("/upstream/a/acs", {"SAMLResponse": resp})
        self.assertIn(done.status, (302, 303), done.text[:2000])
        self.assertIn("fb_session", bb.cookies)
        # The same response once more: refused (the request was used).
        off = b.log_size()
        again = bb.post("/upstream/a/acs?same_site=1", {"SAMLResponse": resp})
        self.assertGreaterEqual(again.status, 400, again.text[:2000])
        self.assertTrue(fbsaml.audit_since(b, off))


if __name__ == "__main__":
    harness.main()
