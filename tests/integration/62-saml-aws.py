#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""62: IdP-initiated sign-in to the classic AWS console SP, configured from
AWS's real metadata (tests/fixtures/aws), judged by pysaml2, onelogin (strict)
and node-saml and by the AWS stand-in's rules (issue 5, items 1, 2, 3, 4 and
"Verified by independent implementations"); and the AWS checks that stop a
sign-in AWS would refuse, each with a page naming the rule and the mapping and
an audit line (item 4, "Bad input": a user not allowed, a mapping that fails).
"""

import os
import re
import sys

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402
import peer_common as pc  # noqa: E402

try:
    import aws_rules  # noqa: E402
    MISSING = None
except ImportError as e:
    MISSING = "%s (apt-get install python3-pysaml2 python3-onelogin-saml2 xmlsec1)" % e

CONSOLE = "https://console.aws.amazon.com/ec2/home?region=eu-west-1#Instances:"
GROUPS = [
    {"name": "aws-admins", "attributes": {"aws_role": "Admin"}, "members": ["alice", "carol"]},
    {"name": "aws-readers", "attributes": {"aws_role": "arn:aws:iam::123412341234:role/ReadOnly"},
     "members": ["alice"]},
    {"name": "bucket-people", "attributes": {"aws_role": "arn:aws:s3:::a-bucket"},
     "members": ["badrole"]},
    {"name": "plain", "members": ["norole", "bob"]},
]
MAPPINGS = {
    "spaced_session_name": "return 'Alice Smith'\n",
    "short_duration": "return '100'\n",
    "aws_source_identity": "return 'aws:' + user.username\n",
    "broken": "x = 1\nreturn user.attributes['no_such_attribute']\n",
    "cost_center": "return 'cc-42'\n",
}


def aws_variant(name, attr, mapping, **over):
    attrs = [a for a in fbsaml.AWS_ATTRIBUTES if a["name"] != attr] + \
        [{"name": attr, "mapping": mapping}]
    return fbsaml.aws_sp(name, metadata=None, attributes=attrs, entity_id="urn:amazon:" + name,
                         acs=[{"url": fbsaml.AWS_ACS, "default": True}], audience=
                         "urn:amazon:webservices", **over)


def inline(sp):
    sp = dict(sp)
    sp.pop("metadata", None)
    return sp


SPS = [
    fbsaml.aws_sp("aws", attributes=fbsaml.AWS_ATTRIBUTES + [
        {"name": fbsaml.PRINCIPAL_TAG + "CostCenter", "mapping": "cost_center"}]),
    inline(aws_variant("aws-spaced", fbsaml.ROLE_SESSION_NAME, "spaced_session_name")),
    inline(aws_variant("aws-short", fbsaml.SESSION_DURATION, "short_duration")),
    inline(aws_variant("aws-srcid", fbsaml.SOURCE_IDENTITY, "aws_source_identity")),
    inline(aws_variant("aws-broken", fbsaml.SESSION_DURATION, "broken")),
    inline(aws_variant("aws-admins-only", fbsaml.SESSION_DURATION, "aws_session_duration",
                       groups=["aws-admins"])),
]
USERS = ["alice", "carol", "bob", "norole", "badrole"]


class AwsClassic(harness.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        if MISSING:
            raise harness.peer_missing(MISSING)
        cls.holder = harness.TestCase("run")
        cls.srv = fbsaml.saml_server(cls.holder, SPS, GROUPS, USERS, MAPPINGS)
        cls.md = fbsaml.idp_metadata(cls.holder, cls.srv)
        cls.idp_id = pc.metadata_info(cls.md)["entity_id"]

    @classmethod
    def tearDownClass(cls):
        if cls.srv is not None and cls.srv.proc is not None and cls.srv.proc.poll() is None:
            cls.srv.stop()
        cls.holder.doCleanups()

    def sign_in(self, user):
        return fbsaml.signed_in(self, self.srv, user)

    def init(self, b, sp="aws", relay_state=None):
        path = "/saml/idp/init/" + sp
        if relay_state is not None:
            path += "?RelayState=" + __import__("urllib.parse").parse.quote(relay_state, safe="")
        return b.get(path)

    def assertRefusal(self, page, offset, status, *words):
        """A page for people (not a SAML form), naming words; an audit line; no crash."""
        self.assertEqual(page.status, status, page.text[:3000])
        self.assertTrue((page.header("Content-Type") or "").startswith("text/html"))
        self.assertNotIn("SAMLResponse", page.text, "nothing is sent to AWS")
        text = re.sub(r"<[^>]+>", " ", page.text)
        for w in words:
            self.assertIn(w, text, page.text[:3000])
        recs = fbsaml.audit_since(self.srv, offset)
        self.assertTrue(recs, "no audit line\n" + "\n".join(self.srv.lines_since(offset)))
        return recs

    # ---- the good path
    def test_response_accepted_by_three_libraries_and_aws_rules(self):
        b = self.sign_in("alice")
        action, resp, rs = fbsaml.response_of(self, self.init(b))
        self.assertEqual(action, fbsaml.AWS_ACS)
        vs = fbsaml.validate_all(self, resp, self.md, "urn:amazon:webservices", fbsaml.AWS_ACS)
        v = vs["onelogin"]
        roles = sorted(v["attributes"][fbsaml.ROLE])
        self.assertEqual(roles, sorted([
            "arn:aws:iam::123412341234:role/Admin," + fbsaml.PROVIDER_ARN,
            "arn:aws:iam::123412341234:role/ReadOnly," + fbsaml.PROVIDER_ARN]))
        self.assertEqual(v["attributes"][fbsaml.ROLE_SESSION_NAME], ["alice"])
        self.assertEqual(v["attributes"][fbsaml.SESSION_DURATION], ["28800"])
        self.assertEqual(v["attributes"][fbsaml.PRINCIPAL_TAG + "CostCenter"], ["cc-42"])
        self.assertEqual(v["lib_attributes"][fbsaml.ROLE_SESSION_NAME], ["alice"])
        # Item 2: what AWS requires of the assertion.
        self.assertEqual(v["issuer"], self.idp_id)
        self.assertEqual(v["assertion_issuer"], self.idp_id)
        self.assertEqual(v["destination"], fbsaml.AWS_ACS)
        self.assertEqual(len(v["subject_confirmations"]), 1)
        sc = v["subject_confirmations"][0]
        self.assertEqual(sc["method"], "urn:oasis:names:tc:SAML:2.0:cm:bearer")
        self.assertEqual(sc["recipient"], fbsaml.AWS_ACS)
        self.assertIsNotNone(sc["not_on_or_after"])
        self.assertIsNone(sc["in_response_to"], "IdP-initiated: no InResponseTo")
        self.assertEqual(v["audiences"], ["urn:amazon:webservices"])
        self.assertTrue(v["session_index"])
        self.assertTrue(v["signed_response"] and v["signed_assertion"], "sign: both")
        self.assertEqual(set(v["signature_algorithms"]), {pc.SIG_RSA_SHA256})
        self.assertEqual(set(v["digest_algorithms"]), {pc.DIGEST_SHA256})
        self.assertEqual(v["name_id_format"], pc.NAMEID_PERSISTENT)
        self.assertEqual(v["attribute_name_formats"][fbsaml.ROLE],
                         "urn:oasis:names:tc:SAML:2.0:attrname-format:uri")
        # The stand-in's AWS rules, with each library underneath.
        for lib in ("pysaml2", "onelogin"):
            verdict = aws_rules.check(resp, self.md, library=lib)
            self.assertTrue(verdict["ok"], verdict)
        self.assertIsNone(rs)

    def test_xmlsec1_verifies_both_signatures_with_the_published_certificate(self):
        b = self.sign_in("alice")
        _, resp, _ = fbsaml.response_of(self, self.init(b))
        r = self.srv.request("GET", "/saml/idp/cert.pem")
        self.assertEqual(r.status, 200)
        cert = os.path.join(self.tmpdir(), "idp.pem")
        self.write(cert, r.body)
        self.assertIn(pc.pem_body(r.body.decode()), pc.metadata_info(self.md)["certs"])
        xml = pc.decode_post(resp)
        for node in ("Response", "Assertion"):
            ok, out = pc.xmlsec_verify(xml, cert, node)
            self.assertTrue(ok, "%s: %s" % (node, out))

    def test_relay_state_passed_through(self):
        b = self.sign_in("carol")
        _, resp, rs = fbsaml.response_of(self, self.init(b, relay_state=CONSOLE))
        self.assertEqual(rs, CONSOLE)
        v = fbsaml.validate_all(self, resp, self.md, "urn:amazon:webservices", fbsaml.AWS_ACS)
        self.assertEqual(v["pysaml2"]["attributes"][fbsaml.ROLE],
                         ["arn:aws:iam::123412341234:role/Admin," + fbsaml.PROVIDER_ARN])

    def test_form_posts_itself_and_has_a_button(self):
        b = self.sign_in("alice")
        p = self.init(b)
        self.assertRegex(p.text, r'(?is)<form[^>]+method="post"')
        self.assertRegex(p.text, r"(?is)<noscript>.*<(button|input)[^>]*(type=\"submit\")?")
        self.assertIn("<script", p.text)
        csp = p.header("Content-Security-Policy") or ""
        self.assertIn("script-src", csp, "the inline submit script is allowed by nonce only")
        self.assertNotIn("unsafe-inline", csp)
        # The site's layout and style (issue 10), allowed by the same fresh nonce.
        self.assertIn('<header class="top">', p.text)
        nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_-]{16,})'", csp)
        self.assertIsNotNone(nonce, csp)
        self.assertIn("style-src 'nonce-%s'" % nonce.group(1), csp)
        self.assertIn('<script nonce="%s">' % nonce.group(1), p.text)
        self.assertIn('<style nonce="%s">' % nonce.group(1), p.text)
        self.assertEqual(p.text.count("<script"), 1)
        self.assertIn("frame-ancestors 'none'", csp)
        again = self.init(self.sign_in("alice"))
        self.assertNotIn(nonce.group(1), again.header("Content-Security-Policy") or "",
                         "a nonce is used once")

    def test_persistent_nameid_stable_per_user_and_opaque(self):
        ids = {}
        for user in ("alice", "carol", "alice"):
            b = self.sign_in(user)
            _, resp, _ = fbsaml.response_of(self, self.init(b))
            d = pc.describe(pc.decode_post(resp))
            self.assertEqual(d["name_id_format"], pc.NAMEID_PERSISTENT)
            self.assertNotIn(user, d["name_id"], "persistent NameIDs are opaque")
            ids.setdefault(user, set()).add(d["name_id"])
        self.assertEqual(len(ids["alice"]), 1, "stable across sign-ins: %s" % ids)
        self.assertNotEqual(ids["alice"], ids["carol"])

    def test_ids_unique_across_workers(self):
        seen = set()
        b = self.sign_in("alice")
        for _ in range(24):
            b.close()  # a new connection may land on the other worker
            _, resp, _ = fbsaml.response_of(self, self.init(b))
            d = pc.describe(pc.decode_post(resp))
            for i in (d["id"], d["assertion_id"], d["session_index"]):
                self.assertNotIn(i, seen, "an ID repeated")
            seen.update((d["id"], d["assertion_id"]))
            self.assertRegex(d["id"], r"^[A-Za-z_][\w.-]{16,}$", "an NCName with >= 128 bits")

    def test_not_signed_in_goes_through_login_and_back(self):
        b = fbsaml.browser(self, self.srv)
        p = b.get("/saml/idp/init/aws?RelayState=" + "%2Fconsole")
        self.assertIn(p.status, (302, 303), p.text[:2000])
        self.assertIn("/login", p.location)
        form = b.get(p.location)
        self.assertEqual(form.status, 200, form.text[:2000])
        p = b.submit(form, "/login", {"username": "alice", "password": fbsaml.PASSWORD})
        n = 0
        while p.status in (302, 303) and n < 5:
            p = b.get(p.location)
            n += 1
        action, resp, rs = fbsaml.response_of(self, p)
        self.assertEqual(action, fbsaml.AWS_ACS)
        self.assertEqual(rs, "/console")
        fbsaml.validate_all(self, resp, self.md, "urn:amazon:webservices", fbsaml.AWS_ACS)

    def test_assertion_only_signature(self):
        # Its own server: the entity id urn:amazon:webservices is the fixture's, once per server.
        srv = fbsaml.saml_server(self, [fbsaml.aws_sp("aws", sign="assertion")], GROUPS,
                                 ["alice"])
        b = fbsaml.signed_in(self, srv, "alice")
        _, resp, _ = fbsaml.response_of(self, b.get("/saml/idp/init/aws"))
        md = fbsaml.idp_metadata(self, srv)
        d = pc.describe(pc.decode_post(resp))
        self.assertFalse(d["signed_response"])
        self.assertTrue(d["signed_assertion"])
        fbsaml.validate_all(self, resp, md, "urn:amazon:webservices", fbsaml.AWS_ACS,
                            allow_assertion_only=True)
        self.assertTrue(aws_rules.check(resp, md)["ok"])
        srv.stop()

    def test_response_only_sha512_and_ecdsa_signatures_verify(self):
        """sign: response with rsa-sha512, and sign: both with an EC key (ecdsa-sha256):
        xmlsec1 verifies each signature with the key's certificate alone."""
        fx = harness.FIXTURE_KEYS
        keys = [{"id": "rsa", "key": os.path.join(fx, "rsa2048.key.pem"),
                 "cert": os.path.join(fx, "rsa2048.crt.pem")},
                {"id": "ec", "key": os.path.join(fx, "ec256.key.pem"),
                 "cert": os.path.join(fx, "ec256.crt.pem"), "state": "published"}]
        sps = [{"name": "r512", "entity_id": "urn:test:r512", "sign": "response",
                "signature_algorithm": "rsa-sha512",
                "acs": [{"url": "https://r512.example.com/acs"}]},
               {"name": "ec", "entity_id": "urn:test:ec", "signing_key": "ec",
                "signature_algorithm": "ecdsa-sha256",
                "acs": [{"url": "https://ec.example.com/acs"}]}]
        srv = fbsaml.saml_server(self, sps, GROUPS, ["alice"], conf={"keys": keys})
        b = fbsaml.signed_in(self, srv, "alice")
        cases = (("r512", "rsa2048.crt.pem", "rsa,x509", ("Response",), "rsa-sha512"),
                 ("ec", "ec256.crt.pem", "ecdsa,x509", ("Response", "Assertion"),
                  "ecdsa-sha256"))
        for sp, cert, kinds, nodes, alg in cases:
            _, resp, _ = fbsaml.response_of(self, b.get("/saml/idp/init/" + sp))
            xml = pc.decode_post(resp)
            self.assertEqual(xml.count(b"<ds:SignatureValue>"), len(nodes), sp)
            self.assertIn(alg.encode(), xml)
            for node in nodes:
                ok, out = pc.xmlsec_verify(xml, os.path.join(fx, cert), node, kinds)
                self.assertTrue(ok, "%s %s: %s" % (sp, node, out))
            # A byte changed inside what was signed: refused.
            bad = xml.replace(b"<saml:Audience>urn:test:", b"<saml:Audience>urn:tesT:", 1)
            self.assertNotEqual(bad, xml)
            ok, _ = pc.xmlsec_verify(bad, os.path.join(fx, cert), nodes[0], kinds)
            self.assertFalse(ok, sp)
        srv.stop()

    def test_each_response_is_audited_and_counted(self):
        b = self.sign_in("alice")
        off = self.srv.log_size()
        fbsaml.response_of(self, self.init(b))
        recs = fbsaml.audit_since(self.srv, off, "saml_response_sent")
        self.assertTrue(recs, "an audit line names who was asserted to which SP")
        # Identifiers are fields (issue 10), at info: what a review correlates with the SP's log.
        self.assertEqual(recs[0]["level"], "info")
        self.assertEqual(recs[0]["sp"], "aws")
        self.assertEqual(recs[0]["user"], "alice")
        self.assertEqual(recs[0]["acs"], fbsaml.AWS_ACS)
        self.assertEqual(recs[0]["addr"], "127.0.0.1")
        self.assertEqual(recs[0]["flow"], "idp-initiated")
        self.assertTrue(recs[0]["nameid"])
        self.assertNotIn("alice", recs[0]["msg"])
        m = self.srv.http("GET", "/metrics")
        self.assertEqual(m.status, 200)
        self.assertRegex(m.body.decode(), r'fedbroker_audit_events_total\{event="saml_response_sent"\} [1-9]')
        self.assertRegex(m.body.decode(), r'fedbroker_audit_events_total\{event="login_succeeded"\} [1-9]')

    def test_dashboard_links_the_start_url(self):
        b = self.sign_in("alice")
        p = b.get("/")
        self.assertEqual(p.status, 200)
        self.assertIn('href="/saml/idp/init/aws"', p.text)
        self.assertIn("AWS console", p.text)
        b = self.sign_in("bob")
        p = b.get("/")
        self.assertNotIn('href="/saml/idp/init/aws-admins-only"', p.text,
                         "an SP the user may not use is not listed")

    # ---- refusals: a page, an audit line, nothing sent, the session intact
    def refusal(self, user, sp, status, *words):
        """status: the expected HTTP status, or a tuple of acceptable ones."""
        b = self.sign_in(user)
        off = self.srv.log_size()
        p = self.init(b, sp)
        if isinstance(status, tuple):
            self.assertIn(p.status, status, p.text[:3000])
            status = p.status
        recs = self.assertRefusal(p, off, status, *words)
        self.assertEqual(b.get("/").status, 200, "the session survives a refusal")
        self.assertIn("fb_session", b.cookies)
        return p, recs

    def test_no_role_stops_the_sign_in(self):
        self.refusal("norole", "aws", 403, "Role", "aws_role")

    def test_role_that_is_not_a_role_arn_stops_the_sign_in(self):
        self.refusal("badrole", "aws", 403, "Role", "aws_role", "arn:aws:s3:::a-bucket")

    def test_role_session_name_with_a_space_stops_the_sign_in(self):
        self.refusal("alice", "aws-spaced", 403, "RoleSessionName", "spaced_session_name")

    def test_session_duration_out_of_range_stops_the_sign_in(self):
        self.refusal("alice", "aws-short", 403, "SessionDuration", "short_duration", "900")

    def test_source_identity_aws_prefix_stops_the_sign_in(self):
        self.refusal("alice", "aws-srcid", 403, "SourceIdentity", "aws_source_identity")

    def test_failing_mapping_names_mapping_and_position(self):
        # A broken rule is the operator's fault: 403 or 500 both say "not you, not now".
        p, _ = self.refusal("alice", "aws-broken", (403, 500), "broken")
        self.assertRegex(re.sub(r"<[^>]+>", " ", p.text), r"broken(\.py)?:2:\d+",
                         "the mapping's file:line:column")

    def test_user_not_allowed(self):
        self.refusal("bob", "aws-admins-only", 403)
        b = self.sign_in("carol")  # a member is let through
        fbsaml.response_of(self, self.init(b, "aws-admins-only"))

    def test_unknown_sp(self):
        b = self.sign_in("alice")
        off = self.srv.log_size()
        p = self.init(b, "no-such-sp")
        self.assertEqual(p.status, 404, p.text[:2000])
        self.assertRegex(re.sub(r"<[^>]+>", " ", p.text), r"(?i)unknown|no (such )?application")
        self.assertTrue(fbsaml.audit_since(self.srv, off))


if __name__ == "__main__":
    harness.main()
