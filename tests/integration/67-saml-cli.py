#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""67: the SAML commands (issue 5, items 7, 9 and 10): `fedbroker metadata
export|import|show` (signed export verified by xmlsec1, import from a file and
from a URL, signature check with --cert, expired validUntil a warning, bad
input refused with nothing written), `fedbroker explain` (groups, attributes,
mapping errors with position, AWS checks, the assertion), and `fedbroker aws
trust-policy` (saml:aud follows the ACS, regional included).
"""

import functools
import http.server
import json
import os
import re
import stat
import subprocess
import sys
import threading

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402
import peer_common as pc  # noqa: E402

REGIONAL = "https://eu-west-1.signin.aws.amazon.com/saml"
GROUPS = [{"name": "aws-admins", "attributes": {"aws_role": "Admin"}, "members": ["alice"]},
          {"name": "plain", "members": ["norole"]}]
SPS = [
    fbsaml.aws_sp("aws"),
    fbsaml.aws_sp("aws-eu", metadata=None, entity_id="urn:amazon:webservices:eu-west-1",
                  audience="urn:amazon:webservices", acs=[{"url": REGIONAL, "default": True}]),
    fbsaml.aws_sp("aws-broken", metadata=None, entity_id="urn:amazon:webservices:broken",
                  audience="urn:amazon:webservices", acs=[{"url": fbsaml.AWS_ACS}],
                  attributes=fbsaml.AWS_ATTRIBUTES[:2] + [
                      {"name": fbsaml.SESSION_DURATION, "mapping": "broken"}]),
    fbsaml.aws_sp("aws-resp", metadata=None, entity_id="urn:amazon:webservices:resp",
                  audience="urn:amazon:webservices", acs=[{"url": fbsaml.AWS_ACS}],
                  sign="response"),
    # Not the classic AWS sign-in: aws trust-policy refuses these.
    {"name": "generic", "entity_id": "https://app.example.com/sp",
     "acs": [{"url": "https://app.example.com/acs"}]},
    {"name": "idc", "profile": "aws-identity-center",
     "metadata": fbsaml.fixture(fbsaml.IDC_METADATA),
     "nameid": {"format": "email", "source": "email"}},
]


class SamlCli(harness.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        cls.holder = harness.TestCase("run")
        cls.srv = fbsaml.saml_server(cls.holder, SPS, GROUPS, ["alice", "norole"],
                                     {"broken": "x = 1\nreturn user.attributes['missing']\n"})

    @classmethod
    def tearDownClass(cls):
        if cls.srv is not None and cls.srv.proc is not None and cls.srv.proc.poll() is None:
            cls.srv.stop()
        cls.holder.doCleanups()

    def fb(self, *args, expect=0):
        cp = fbsaml.cli(self.srv, *args)
        self.assertNoCrash(cp, " ".join(args))
        if expect is not None:
            self.assertEqual(cp.returncode, expect, "%s\n%s%s" % (args, cp.stdout, cp.stderr))
        return cp

    def bare(self, *args, expect=0):
        cp = subprocess.run([harness.BIN] + list(args), capture_output=True, text=True,
                            timeout=60)
        self.assertNoCrash(cp, " ".join(args))
        if expect is not None:
            self.assertEqual(cp.returncode, expect, "%s\n%s%s" % (args, cp.stdout, cp.stderr))
        return cp

    # ---- help
    def test_help(self):
        for args in (["metadata", "--help"], ["metadata", "export", "--help"],
                     ["metadata", "import", "--help"], ["metadata", "show", "--help"],
                     ["explain", "--help"], ["aws", "--help"], ["aws", "trust-policy", "--help"]):
            with self.subTest(args=args):
                cp = self.bare(*args)
                self.assertIn("usage: fedbroker " + args[0], cp.stdout)
        self.assertIn("metadata", self.bare("--help").stdout)
        self.assertIn("explain", self.bare("--help").stdout)
        self.bare("metadata", "frobnicate", expect=2)
        self.bare("explain", "--user", "x", expect=2)
        self.bare("aws", "trust-policy", "--sp", "aws", expect=2)

    # ---- export
    def test_export_matches_the_endpoint_and_signs(self):
        served = fbsaml.idp_metadata(self, self.srv)
        cp = self.fb("metadata", "export")
        self.assertEqual(pc.metadata_info(cp.stdout), pc.metadata_info(served))
        self.assertLess(len(cp.stdout), 75000)
        d = self.tmpdir()
        out = os.path.join(d, "idp.xml")
        self.fb("metadata", "export", "--sign", "--out", out)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o644)
        xml = open(out, "rb").read()
        self.assertTrue(pc.has_signature(xml), "an enveloped signature")
        cert = os.path.join(d, "idp.pem")
        self.write(cert, self.srv.request("GET", "/saml/idp/cert.pem").body)
        p = subprocess.run([pc.XMLSEC1, "--verify", "--enabled-key-data", "rsa,x509",
                            "--pubkey-cert-pem", cert, "--id-attr:ID",
                            "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor", out],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        # pysaml2 takes it as IdP metadata.
        import pysaml2_sp
        pysaml2_sp.SP("https://sp.example.test", [("https://sp.example.test/acs",
                                                   pc.BINDING_POST)], xml.decode())
        # The signed file imports with --cert, and not with another certificate.
        cp = self.bare("metadata", "show", out, "--cert", cert)
        self.assertRegex(cp.stdout, r"signature:\s+verified")
        other = pc.make_keypair(d, "other")[1]
        cp = self.bare("metadata", "show", out, "--cert", other, expect=1)
        self.assertRegex(cp.stderr, r"(?i)signature")

    @harness.generated_keys_only("a state dir without the key serve would generate")
    def test_export_without_keys(self):
        d = self.tmpdir()
        cp = self.bare("metadata", "export", "--config", self.srv.config, "--state-dir", d,
                       expect=1)
        self.assertIn("keys generate", cp.stderr)

    # ---- import / show
    def test_import_aws_fixture(self):
        d = self.tmpdir()
        conf = os.path.join(d, "fedbroker.yaml")
        self.write(conf, open(self.srv.config).read())
        cp = self.bare("metadata", "import", fbsaml.fixture(fbsaml.AWS_METADATA), "--name",
                       "aws", "--config", conf)
        saved = os.path.join(d, "metadata", "aws.xml")
        self.assertEqual(open(saved, "rb").read(),
                         open(fbsaml.fixture(fbsaml.AWS_METADATA), "rb").read())
        self.assertIn("urn:amazon:webservices", cp.stdout)
        self.assertIn("https://signin.aws.amazon.com/saml", cp.stdout)
        self.assertIn("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", cp.stdout)
        self.assertIn("2019-10-01", cp.stdout, "validUntil and certificate expiry shown")
        self.assertRegex(cp.stderr, r"(?i)warning:.*(expired|validUntil)")
        self.assertRegex(cp.stdout, r"name:\s*\"?aws\"?")
        self.assertIn("metadata/aws.xml", cp.stdout)
        self.assertRegex(cp.stdout, r"profile:\s*\"?aws\"?")
        # Again: refused without --force, nothing changed; with --force fine.
        cp = self.bare("metadata", "import", fbsaml.fixture(fbsaml.IDC_METADATA), "--name",
                       "aws", "--config", conf, expect=1)
        self.assertIn("--force", cp.stderr)
        self.assertIn(b"urn:amazon:webservices", open(saved, "rb").read())
        cp = self.bare("metadata", "import", fbsaml.fixture(fbsaml.IDC_METADATA), "--name",
                       "aws", "--config", conf, "--force")
        self.assertRegex(cp.stdout, r"profile:\s*\"?aws-identity-center\"?")
        self.assertIn("emailAddress", cp.stdout)

    def test_import_stanza_pastes_into_existing_config(self):
        """The printed entry is a list item that goes under the existing
        saml.service_providers (first or last), and the result passes check-config."""
        for where in ("first", "last"):
            with self.subTest(where=where):
                d = self.tmpdir()
                conf = os.path.join(d, "fedbroker.yaml")
                text = open(self.srv.config).read()
                self.write(conf, text)
                md = os.path.join(d, "new-sp.xml")
                self.write(md, fbsaml.sp_metadata_pysaml2(
                    "https://new.example.com/sp",
                    [("https://new.example.com/acs", pc.BINDING_POST)]))
                cp = self.bare("metadata", "import", md, "--name", "newapp", "--config", conf)
                stanza = cp.stdout.split("# Paste under 'service_providers:'", 1)[1]
                stanza = stanza.split("\n", 1)[1]  # the rest of the comment line
                stanza = "".join(l for l in stanza.splitlines(True)
                                 if not l.lstrip().startswith("#"))
                self.assertNotIn("saml:", stanza, "not a second saml: key")
                self.assertRegex(stanza, r"^    - name: newapp\n")
                self.assertIn("display_name:", stanza)
                self.assertIn("groups: []", stanza)
                lines = text.splitlines(True)
                at = [i for i, l in enumerate(lines) if l.rstrip() == "  service_providers:"]
                self.assertEqual(len(at), 1, text)
                i = at[0] + 1
                if where == "last":
                    while i < len(lines) and lines[i].startswith("    "):
                        i += 1
                self.write(conf, "".join(lines[:i]) + stanza + "".join(lines[i:]))
                cp = self.bare("check-config", conf)
                self.assertIn("newapp", open(conf).read())
                cp = subprocess.run([harness.BIN, "explain", "--user", "alice", "--sp",
                                     "newapp", "--config", conf, "--state-dir",
                                     self.srv.state_dir, "--json"],
                                    capture_output=True, text=True, timeout=60)
                self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
                x = json.loads(cp.stdout)
                self.assertEqual(x["sp"]["entity_id"], "https://new.example.com/sp")

    def test_import_from_url(self):
        d = self.tmpdir()
        self.write(os.path.join(d, "idc.xml"), open(fbsaml.fixture(fbsaml.IDC_METADATA)).read())
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=d)
        handler.log_message = lambda *a: None
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        self.addCleanup(httpd.server_close)
        self.addCleanup(httpd.shutdown)
        url = "http://127.0.0.1:%d/idc.xml" % httpd.server_address[1]
        out = os.path.join(d, "md")
        cp = self.bare("metadata", "import", url, "--name", "idc", "--dir", out)
        self.assertTrue(os.path.exists(os.path.join(out, "idc.xml")))
        self.assertIn(fbsaml.IDC_ACS0, cp.stdout)
        self.assertIn(fbsaml.IDC_ACS1, cp.stdout)
        cp = self.bare("metadata", "show", url + ".missing", expect=1)
        self.assertIn("404", cp.stderr)
        cp = self.bare("metadata", "show", "file:///etc/passwd", expect=1)

    def test_show_json(self):
        cp = self.bare("metadata", "show", fbsaml.fixture(fbsaml.AWS_METADATA), "--json")
        info = json.loads(cp.stdout)
        self.assertEqual(info["entity_id"], "urn:amazon:webservices")
        self.assertEqual(info["role"], "sp")
        self.assertTrue(info["expired"])
        self.assertEqual(info["acs"][0]["url"], fbsaml.AWS_ACS)
        self.assertTrue(info["want_assertions_signed"])
        self.assertEqual(len(info["nameid_formats"]), 8)
        self.assertTrue(info["certificates"][0]["expired"])

    def test_bad_metadata_refused_and_nothing_written(self):
        d = self.tmpdir()
        cases = {
            "garbage.xml": "this is not XML",
            "html.xml": "<html><body>login</body></html>",
            "dtd.xml": '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM '
                       '"file:///etc/passwd">]><md:EntityDescriptor xmlns:md='
                       '"urn:oasis:names:tc:SAML:2.0:metadata" entityID="&e;"/>',
            "empty.xml": "",
            "noroles.xml": '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:'
                           'metadata" entityID="urn:x"/>',
        }
        ed = ('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
              'entityID="urn:x%s"><md:SPSSODescriptor protocolSupportEnumeration='
              '"urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding='
              '"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://x/acs" '
              'index="0"/></md:SPSSODescriptor></md:EntityDescriptor>')
        # Issue 10, finding 5: no DTD whatever the encoding, UTF-8 only (the reason named).
        reasons = {
            "utf7.xml": ('<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE x +AFs-+ADw-!ENTITY '
                         'e SYSTEM +ACI-file:///etc/passwd+ACI-+AD4-+AF0-+AD4-' + ed % "&e;",
                         "UTF-8"),
            "utf16.xml": (('<?xml version="1.0" encoding="UTF-16"?>' + ed % "").encode("utf-16"),
                          "UTF-8"),
            "latin1.xml": ('<?xml version="1.0" encoding="ISO-8859-1"?>' + ed % "", "UTF-8"),
            "param.xml": ('<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>' +
                          ed % "", "DOCTYPE"),
            "laughs.xml": ('<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">'
                           '<!ENTITY c "&b;&b;&b;&b;&b;&b;">]>' + ed % "&c;", "DOCTYPE"),
        }
        for name, (text, why) in reasons.items():
            cases[name] = text
        for name, text in cases.items():
            with self.subTest(case=name):
                src = os.path.join(d, name)
                with open(src, "wb") as f:
                    f.write(text if isinstance(text, bytes) else text.encode())
                cp = self.bare("metadata", "import", src, "--name", "x", "--dir",
                               os.path.join(d, "out"), expect=1)
                self.assertIn(name, cp.stderr)
                if name in reasons:
                    self.assertIn(reasons[name][1], cp.stderr)
                self.assertNotIn("root:", cp.stdout + cp.stderr)
                self.assertFalse(os.path.exists(os.path.join(d, "out", "x.xml")))
        self.bare("metadata", "import", fbsaml.fixture(fbsaml.AWS_METADATA), "--name",
                  "Bad Name", expect=2)
        self.bare("metadata", "import", fbsaml.fixture(fbsaml.AWS_METADATA), expect=2)
        cp = self.bare("metadata", "show", os.path.join(d, "nope.xml"), expect=1)
        self.assertIn("nope.xml", cp.stderr)

    # ---- explain
    def test_explain_alice(self):
        cp = self.fb("explain", "--user", "alice", "--sp", "aws")
        out = cp.stdout
        self.assertIn("aws-admins", out)
        self.assertIn("aws_role", out)
        self.assertIn("arn:aws:iam::123412341234:role/Admin," + fbsaml.PROVIDER_ARN, out)
        self.assertIn("RoleSessionName", out)
        self.assertIn("<saml:Assertion", out.replace("<saml2:Assertion", "<saml:Assertion"))
        # The label and the content agree: the assertion shown is signed, and says so.
        self.assertNotIn("before signing", out)
        self.assertIn("assertion (signed", out)
        self.assertIn("<ds:Signature", out.split("assertion (signed", 1)[1])
        # sign: response: the assertion shown is not signed, and the label says that instead.
        out = self.fb("explain", "--user", "alice", "--sp", "aws-resp").stdout
        self.assertIn("assertion (not signed itself", out)
        self.assertNotIn("<ds:Signature", out.split("assertion (not signed itself", 1)[1])
        self.assertIn(pc.metadata_info(fbsaml.idp_metadata(self, self.srv))["entity_id"], out)
        x = json.loads(self.fb("explain", "--user", "alice", "--sp", "aws", "--json").stdout)
        self.assertTrue(x["ok"])
        self.assertTrue(x["allowed"])
        self.assertIn("aws-admins", x["groups"])
        self.assertEqual(x["group_attributes"]["aws_role"], "Admin")
        vals = {a["name"]: a.get("values") for a in x["attributes"]}
        self.assertEqual(vals[fbsaml.ROLE_SESSION_NAME], ["alice"])
        # Item 9: "the AWS checks' verdicts": every check, each with its verdict.
        self.assertTrue(x["checks"], "the AWS checks are listed for an aws SP")
        self.assertTrue(all(c.get("ok") is True for c in x["checks"]), x["checks"])
        self.assertEqual(x["nameid"]["format"], pc.NAMEID_PERSISTENT)

    def test_explain_refusals(self):
        cp = self.fb("explain", "--user", "norole", "--sp", "aws", expect=1)
        self.assertRegex(cp.stdout, r"FAIL.*Role")
        self.assertIn("aws_role", cp.stdout)
        x = json.loads(self.fb("explain", "--user", "norole", "--sp", "aws", "--json",
                               expect=1).stdout)
        self.assertFalse(x["ok"])
        # The text says why, as --json does: the refusal's title, detail and event.
        ref = x["refusal"]
        self.assertIn("reason:      %s" % ref["title"], cp.stdout)
        if ref.get("detail"):
            self.assertIn(ref["detail"], cp.stdout)
        self.assertIn(ref["event"], cp.stdout)
        self.assertNotIn("assertion", x)
        self.assertTrue(any(c.get("ok") is False and "Role" in (c.get("attribute") or c["rule"])
                            for c in x["checks"]), x["checks"])
        cp = self.fb("explain", "--user", "alice", "--sp", "aws-broken", expect=1)
        self.assertRegex(cp.stdout, r"broken(\.py)?:2:\d+")
        x = json.loads(self.fb("explain", "--user", "alice", "--sp", "aws-broken", "--json",
                               expect=1).stdout)
        err = [a for a in x["attributes"] if "error" in a][0]
        self.assertEqual(err["mapping"], "broken")
        self.assertEqual(err["line"], 2)
        cp = self.fb("explain", "--user", "nobody", "--sp", "aws", expect=1)
        self.assertIn("nobody", cp.stderr)
        cp = self.fb("explain", "--user", "alice", "--sp", "awz", expect=1)
        self.assertIn("did you mean 'aws'", cp.stderr)

    def test_explain_writes_nothing(self):
        before = self.fb("explain", "--user", "alice", "--sp", "aws-eu", "--json").stdout
        after = self.fb("explain", "--user", "alice", "--sp", "aws-eu", "--json").stdout
        nid_before = json.loads(before)["nameid"]
        nid_after = json.loads(after)["nameid"]
        if nid_before.get("new"):
            self.assertTrue(nid_after.get("new"), "explain must not store a NameID")

    # ---- aws trust-policy
    def policy(self, sp, expect=0):
        cp = self.fb("aws", "trust-policy", "--sp", sp, "--account", "123456789012",
                     "--provider", "fedbroker", expect=expect)
        return cp, (json.loads(cp.stdout) if expect == 0 else None)

    def test_trust_policy_global(self):
        _, p = self.policy("aws")
        self.assertEqual(p["Version"], "2012-10-17")
        st = p["Statement"][0]
        self.assertEqual(st["Effect"], "Allow")
        self.assertEqual(st["Principal"]["Federated"],
                         "arn:aws:iam::123456789012:saml-provider/fedbroker")
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        self.assertIn("sts:AssumeRoleWithSAML", actions)
        self.assertEqual(json.dumps(st["Condition"]).count(fbsaml.AWS_ACS), 1)
        self.assertEqual(st["Condition"]["StringEquals"]["SAML:aud"]
                         if "SAML:aud" in st["Condition"]["StringEquals"]
                         else st["Condition"]["StringEquals"]["saml:aud"], fbsaml.AWS_ACS)

    def test_trust_policy_regional(self):
        cp, p = self.policy("aws-eu")
        self.assertIn(REGIONAL, json.dumps(p))
        self.assertNotIn('"https://signin.aws.amazon.com/saml"', json.dumps(p))
        self.assertIn(REGIONAL, cp.stderr, "a note on the regional saml:aud")

    def test_trust_policy_bad_input(self):
        for account in ("12345", "1234567890123", "12345678901a"):
            cp = self.fb("aws", "trust-policy", "--sp", "aws", "--account", account,
                         "--provider", "fedbroker", expect=1)
            self.assertIn(account, cp.stderr)
        cp = self.fb("aws", "trust-policy", "--sp", "aws", "--account", "123456789012",
                     "--provider", "bad name/x", expect=1)
        self.assertRegex(cp.stderr, r"(?i)provider")
        cp = self.fb("aws", "trust-policy", "--sp", "nope", "--account", "123456789012",
                     "--provider", "fedbroker", expect=1)
        self.assertIn("nope", cp.stderr)
        for sp, words in (("generic", "not the classic AWS sign-in"),
                          ("idc", "IAM Identity Center")):
            cp = self.fb("aws", "trust-policy", "--sp", sp, "--account", "123456789012",
                         "--provider", "fedbroker", expect=1)
            self.assertIn(words, cp.stderr)
            self.assertIn("profile: aws", cp.stderr)
            self.assertEqual(cp.stdout, "", "no policy printed")
        self.assertFalse(re.search(r"Segmentation|AddressSanitizer", cp.stderr))



def pem_b64(path):
    """The base64 body of a PEM certificate file, on one line."""
    with open(path) as f:
        return "".join(l.strip() for l in f if l.strip() and not l.startswith("-----"))


def signing_certs(b64_response):
    """The base64 certificates of every ds:Signature KeyInfo in a SAMLResponse."""
    xml = pc.decode_post(b64_response).decode("utf-8")
    return {re.sub(r"\s+", "", c)
            for c in re.findall(r"<ds:X509Certificate>([^<]+)</ds:X509Certificate>", xml)}


@harness.generated_keys_only("the rollover of the keys in the state dir")
class KeyRollover(harness.TestCase):
    """keys generate (published) -> reload -> keys activate -> reload -> keys retire -> reload,
    against a running server: the metadata it serves and the key its signatures use."""

    def setUp(self):
        super().setUp()
        self.srv = fbsaml.saml_server(self, [fbsaml.aws_sp("aws")], GROUPS, ["alice"],
                                      conf={"log": {"format": "json"}})
        self.keys = os.path.join(self.srv.state_dir, "keys")

    def fb(self, *args, expect=0):
        cp = fbsaml.cli(self.srv, *args)
        self.assertNoCrash(cp, " ".join(args))
        self.assertEqual(cp.returncode, expect, "%s\n%s%s" % (args, cp.stdout, cp.stderr))
        return cp

    def cert(self, kid):
        return pem_b64(os.path.join(self.keys, kid + ".crt.pem"))

    def key_ids(self):
        return sorted(f[:-len(".key.pem")] for f in os.listdir(self.keys)
                      if f.endswith(".key.pem"))

    def active_and_ec(self):
        """The generated keys: the active RSA one and the published EC P-256 one beside it
        (it signs the OpenID provider's ES256 tokens; SAML signs with the active key)."""
        states = {}
        for k in self.key_ids():
            with open(os.path.join(self.keys, k + ".state")) as f:
                states[k] = f.read().strip()
        (old,) = [k for k, st in states.items() if st == "active"]
        (ec,) = [k for k in states if k != old]
        return old, ec

    def metadata_names(self):
        md = fbsaml.idp_metadata(self, self.srv)
        return re.findall(r"<ds:KeyName>([^<]+)</ds:KeyName>", md), md

    def reload_until(self, names):
        """SIGHUP, then waits until the served metadata names exactly these keys, in order."""
        import signal
        import time
        self.srv.signal(signal.SIGHUP)
        deadline = time.time() + 20
        got = None
        while time.time() < deadline:
            got, md = self.metadata_names()
            if got == names:
                return md
            time.sleep(0.1)
        self.fail("served metadata names %s, expected %s" % (got, names))

    def signed_with(self, kid):
        """A fresh sign-in and IdP-initiated response; every signature carries kid's cert."""
        import time
        want = self.cert(kid)
        deadline = time.time() + 20
        while True:
            b = fbsaml.signed_in(self, self.srv, "alice")
            _, resp, _ = fbsaml.response_of(self, b.get("/saml/idp/init/aws"))
            certs = signing_certs(resp)
            if certs == {want} or time.time() > deadline:
                break
            time.sleep(0.2)  # an old worker still draining; the next connection reaches a new one
        self.assertEqual(certs, {want}, "the response is signed with key %s" % kid)
        return resp

    def test_rollover(self):
        old, ec = self.active_and_ec()
        names, _ = self.metadata_names()
        self.assertEqual(names, [old, ec], "the active key first, then the published")
        self.signed_with(old)

        cp = self.fb("keys", "generate")
        (new,) = [k for k in self.key_ids() if k not in (old, ec)]
        self.assertIn("published", cp.stdout)
        md = self.reload_until([old] + sorted([ec, new]))
        # Published, not signing: the old key still signs and SPs can trust the new one.
        resp = self.signed_with(old)
        fbsaml.validate_all(self, resp, md, "urn:amazon:webservices", fbsaml.AWS_ACS)
        rec = self.srv.wait_log(lambda l: '"published_keys"' in l and new in l)
        self.assertIsNotNone(rec, "the log names the keys\n" + self.srv.logs())

        # Activating a key published seconds ago: done, but with a warning naming it.
        cp = self.fb("keys", "activate", new)
        self.assertIn("warning:", cp.stderr)
        self.assertIn(new, cp.stderr)
        self.assertIn("key_rollover.min_publish_time", cp.stderr)
        cp = self.fb("keys", "list")
        self.assertIn("warning:", cp.stderr, "keys list warns too")
        md = self.reload_until([new] + sorted([old, ec]))
        resp = self.signed_with(new)
        fbsaml.validate_all(self, resp, md, "urn:amazon:webservices", fbsaml.AWS_ACS)
        line = self.srv.wait_log(lambda l: "min_publish_time" in l and new in l)
        self.assertIsNotNone(line, "the server logs the warning\n" + self.srv.logs())
        self.assertEqual(json.loads(line)["level"], "warn")

        # Refusals: retiring the active key, activating a retired or unknown one.
        cp = self.fb("keys", "retire", new, expect=1)
        self.assertIn("active", cp.stderr)
        self.assertIn("keys activate", cp.stderr)
        cp = self.fb("keys", "activate", "k-nope", expect=1)
        self.assertIn("no key k-nope", cp.stderr)
        self.assertIn(old, cp.stderr, "lists the keys there")
        self.fb("keys", "retire", old)
        cp = self.fb("keys", "activate", old, expect=1)
        self.assertIn("retired", cp.stderr)
        cp = self.fb("keys", "list")
        self.assertRegex(cp.stdout, r"%s .* retired" % re.escape(old))
        self.reload_until([new, ec])
        self.signed_with(new)
        # Nothing was lost by the refusals: the states on disk are what the commands said.
        with open(os.path.join(self.keys, old + ".state")) as f:
            self.assertEqual(f.read().strip(), "retired")
        with open(os.path.join(self.keys, new + ".state")) as f:
            self.assertEqual(f.read().strip(), "active")
        # The operators of the running daemon see who changed the keys; refusals record nothing.
        recs = json.loads(self.fb("audit", "list", "--json").stdout)
        keyrecs = [(r["event"], r["detail"]["key"]) for r in recs if r["event"].startswith("key_")]
        self.assertEqual(keyrecs, [("key_generated", new), ("key_activated", new),
                                   ("key_retired", old)], recs)
        for r in recs:
            self.assertTrue(r["actor"].startswith("cli:"), r)

    def test_no_warning_after_min_publish_time(self):
        """key_rollover.min_publish_time: 0 turns the warning off (a config key, checked)."""
        conf = dict(self.srv.conf)
        conf["key_rollover"] = {"min_publish_time": "0s"}
        self.srv.write_config(conf)
        old, ec = self.active_and_ec()
        self.fb("keys", "generate")
        (new,) = [k for k in self.key_ids() if k not in (old, ec)]
        cp = self.fb("keys", "activate", new)
        self.assertNotIn("warning", cp.stderr)


if __name__ == "__main__":
    harness.main()
