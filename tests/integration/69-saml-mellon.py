#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""69: Debian's mod_auth_mellon on a private Apache as a service provider (issue 10,
"Interoperability"), with mellon's DEFAULT NameID settings: it asks for a transient
NameID, which fedbroker's default service-provider configuration (no nameid.format)
honours. In headless Chromium (69-saml-mellon.mjs): SP-initiated sign-in through
mellon's protected location, a local sign-in at fedbroker, the attributes in the
protected page (mellon's MELLON_* variables echoed by a CGI), then mellon's logout
(/mellon/logout?ReturnTo=...), a signed LogoutRequest with the NameID and
SessionIndex fedbroker issued, ends both sessions. With nameid.format pinned to
persistent, mellon's request gets InvalidNameIDPolicy, a page and an audit line.

Peers (required with FB_REQUIRE_PEERS=1): apache2, libapache2-mod-auth-mellon,
Debian's chromium, node and tests/peers' playwright-core.
"""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "mellon"))
import fbsaml  # noqa: E402
import mellon  # noqa: E402
import peer_common as pc  # noqa: E402

DRIVER = os.path.join(harness.HERE, "69-saml-mellon.mjs")
MAIL = "urn:oid:0.9.2342.19200300.100.1.3"
DISPLAY_NAME = "urn:oid:2.16.840.1.113730.3.1.241"
ATTRS = [{"name": MAIL, "mapping": "mail", "friendly_name": "mail"},
         {"name": DISPLAY_NAME, "mapping": "display", "friendly_name": "displayName"}]
MAPPINGS = {"mail": "return user.email\n", "display": "return user.name\n"}
INVALID_NAMEID_POLICY = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


def location(url):
    """The Location of url's redirect (mellon answers its login with one)."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        r = opener.open(url, timeout=30)
        raise AssertionError("no redirect from %s (%d)" % (url, r.status))
    except urllib.error.HTTPError as e:
        if e.code not in (302, 303, 307):
            raise AssertionError("%s: %d %s" % (url, e.code, e.read()[:500]))
        return e.headers["Location"]


class Mellon(harness.TestCase):
    def setUp(self):
        super().setUp()
        need = mellon.missing()
        if need:
            raise harness.peer_missing("mod_auth_mellon missing: " + "; ".join(need))

    def imported(self, m):
        """`fedbroker metadata import` of mellon's metadata, as an operator would:
        (the saved file, the command's output)."""
        d = self.tmpdir()
        cp = subprocess.run([harness.BIN, "metadata", "import", m.metadata_path, "--name",
                             "mellon", "--dir", d], capture_output=True, text=True, timeout=60)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertIn(m.entity_id, cp.stdout)
        return os.path.join(d, "mellon.xml"), cp.stdout

    def peers(self, nameid=None):
        """A mellon (made, not started) and a fedbroker knowing it; mellon started."""
        m = mellon.Mellon(os.path.join(self.tmpdir(), "mellon-sp"), harness.free_port(),
                          attrs={"mail": MAIL, "displayName": DISPLAY_NAME})
        self.addCleanup(m.stop)
        sp = {"name": "mellon", "display_name": "Mellon app", "metadata": self.imported(m)[0],
              "attributes": ATTRS}
        if nameid:
            sp["nameid"] = nameid
        srv = fbsaml.saml_server(self, [sp], [], [], MAPPINGS)
        fbsaml.add_user(self, srv, "alice", email="alice@example.com", display="Alice Liddell")
        try:
            m.start(fbsaml.idp_metadata(self, srv))
        except RuntimeError as e:
            self.fail(str(e))
        return m, srv

    def test_browser_sign_in_attributes_and_logout(self):
        need = harness.missing_browser_peers()
        if need:
            raise harness.peer_missing("browser peers missing: " + "; ".join(need))
        m, srv = self.peers()
        off = srv.log_size()
        env = dict(os.environ, FB_BASE_URL="http://127.0.0.1:%d" % srv.port,
                   FB_SP_URL=m.base, FB_USER="alice", FB_PASSWORD=fbsaml.PASSWORD,
                   FB_PEERS=harness.PEERS, FB_ARTIFACTS=harness.ARTIFACTS)
        p = subprocess.run(["node", DRIVER], env=env, capture_output=True, text=True,
                           timeout=300)
        out = p.stdout + p.stderr
        print("\n" + out)
        self.assertEqual(p.returncode, 0, out + "\n--- fedbroker\n" + srv.logs() +
                         "\n--- apache2\n" + m.logs())
        self.assertIn("browser: all steps passed", p.stdout)
        # What mellon's page showed, as the driver read it.
        page = json.loads(next(line[len("env: "):] for line in p.stdout.splitlines()
                               if line.startswith("env: ")))
        sent = fbsaml.audit_since(srv, off, "saml_response_sent")
        self.assertEqual(len(sent), 1, sent)
        rec = sent[0]
        self.assertEqual(rec.get("sp"), "mellon", rec)
        self.assertEqual(rec.get("nameid_format"), pc.NAMEID_TRANSIENT,
                         "mellon's default: transient")
        self.assertEqual(rec.get("nameid"), page["MELLON_NAME_ID"], rec)
        self.assertTrue(fbsaml.audit_since(srv, off, "logout"),
                        "fedbroker ended its session\n" + "\n".join(srv.lines_since(off)))
        srv.stop()

    def test_metadata_import_stanza_pins_no_format(self):
        """Pasted as printed, the entry must let mellon's transient request through."""
        m = mellon.Mellon(os.path.join(self.tmpdir(), "mellon-sp"), harness.free_port())
        out = self.imported(m)[1]
        self.assertIn("name: mellon", out)
        self.assertNotRegex(out, r"(?m)^\s+format:", "the stanza pins no NameID format")

    def test_pinned_format_refused_with_invalid_nameid_policy(self):
        m, srv = self.peers(nameid={"format": "persistent"})
        # mellon's login answers with a redirect to fedbroker's SSO (its AuthnRequest).
        sso = location(m.base + "/mellon/login?ReturnTo=" +
                       urllib.parse.quote(m.base + "/protected/env", safe=""))
        self.assertTrue(sso.startswith("http://127.0.0.1:%d/saml/idp/sso?" % srv.port), sso)
        req = pc.decode_redirect(urllib.parse.parse_qs(urllib.parse.urlsplit(sso).query)
                                 ["SAMLRequest"][0])
        self.assertIn(b'Format="%s"' % pc.NAMEID_TRANSIENT.encode(), req)
        b = fbsaml.signed_in(self, srv, "alice")
        off = srv.log_size()
        page = b.get(fbsaml.path_of(sso))
        action, fields = fbsaml.post_form(page.text)
        self.assertEqual(action, m.base + "/mellon/postResponse")
        d = pc.describe(pc.decode_post(fields["SAMLResponse"]))
        self.assertIn(INVALID_NAMEID_POLICY, json.dumps(d), d)
        self.assertEqual(d.get("assertion_count", 0), 0, d)
        rec = fbsaml.audit_since(srv, off, "saml_request_unsupported")
        self.assertTrue(rec, "\n".join(srv.lines_since(off)))
        # The reason: what was asked for, what is configured, and the key that pins it.
        for part in (pc.NAMEID_TRANSIENT, pc.NAMEID_PERSISTENT, "nameid.format"):
            self.assertIn(part, rec[0].get("msg", ""))
        # Nothing was stored for alice at mellon: no persistent NameID made.
        cp = fbsaml.cli(srv, "explain", "--user", "alice", "--sp", "mellon", "--json")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertTrue(json.loads(cp.stdout)["nameid"]["new"], cp.stdout)
        srv.stop()


if __name__ == "__main__":
    harness.main()
