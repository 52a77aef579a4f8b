#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""77: an upstream's IdP metadata from metadata_url (issue 11, item 4): the jobs
process fetches it over HTTPS (saml.ca_file), verifies its signature with the
pinned metadata_certificate and stores the last good copy in the state
directory; the workers load it (the sign-in redirect goes to its SSO URL). A
tampered copy, another key's signature, an expired validUntil, a 500 and a
server that hangs are each refused with a warning naming the reason: the last
good copy stays (the redirect is unchanged) and
fedbroker_upstream_metadata_refresh_failures_total moves. A new validly signed
copy with another SSO URL is picked up without a restart.
"""

import datetime
import os
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402
import peer_common as pc  # noqa: E402

IDP_ID = "https://idp.mdr.test/saml"
MAPPING = ('mail = upstream["mail"][0]\n'
           'return {"username": mail.split("@")[0], "email": mail, "email_verified": True}\n')
FAILURES = "fedbroker_upstream_metadata_refresh_failures_total"
LAST_OK = "fedbroker_upstream_metadata_last_success_timestamp_seconds"


def metadata(cert_path, sso, valid_until):
    body = pc.pem_body(open(cert_path).read())
    return ('<?xml version="1.0"?>\n'
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_mdr1" entityID="%s" '
            'validUntil="%s">'
            '<ds:Signature><ds:SignedInfo>'
            '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
            '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
            '<ds:Reference URI="#_mdr1"><ds:Transforms>'
            '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
            '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
            '</ds:Transforms>'
            '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
            '<ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/>'
            '</ds:Signature>'
            '<md:IDPSSODescriptor WantAuthnRequestsSigned="false" '
            'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s'
            '</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>'
            '<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'
            '</md:NameIDFormat>'
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            'Location="%s"/></md:IDPSSODescriptor></md:EntityDescriptor>\n'
            % (IDP_ID, valid_until, body, sso)).encode()


def sign(xml, key, cert):
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        f.write(xml)
        f.flush()
        p = subprocess.run([pc.XMLSEC1, "--sign", "--privkey-pem", "%s,%s" % (key, cert),
                            "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
                            f.name], capture_output=True)
        if p.returncode != 0:
            raise RuntimeError("xmlsec1 --sign: " + p.stderr.decode(errors="replace"))
        return p.stdout


def stamp(days):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Peer:
    """A loopback HTTPS server answering /md.xml with what the test sets."""

    def __init__(self, cert, key):
        peer = self
        self.status, self.body = 200, b""
        self.hang = False
        self.release = threading.Event()

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                if peer.hang:
                    peer.release.wait(60)
                    return
                self.send_response(peer.status)
                self.send_header("Content-Type", "application/samlmetadata+xml")
                self.send_header("Content-Length", str(len(peer.body)))
                self.end_headers()
                self.wfile.write(peer.body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class MetadataRefresh(harness.TestCase):
    def setUp(self):
        super().setUp()
        d = self.tmpdir()
        self.key, self.cert = pc.make_keypair(d, "mdsigner")
        self.evil_key, self.evil_cert = pc.make_keypair(d, "evil")
        self.idp_key, self.idp_cert = pc.make_keypair(d, "idp")
        tls_cert, tls_key = harness.openssl_selfsigned(d)
        self.peer = Peer(tls_cert, tls_key)
        self.addCleanup(self.peer.close)
        self.peer.body = self.signed("https://idp.mdr.test/sso-one")
        upstream = {"name": "mdr", "type": "saml", "domains": ["mdr.test"],
                    "saml": {"metadata_url": "https://localhost:%d/md.xml" % self.peer.port,
                             "metadata_certificate": self.cert, "ca_file": tls_cert,
                             "sign_requests": "never"}}
        self.srv = fbsaml.saml_server(self, [], conf={"upstreams": [upstream]},
                                      mappings={"upstream_saml": MAPPING})
        self.state = self.srv.state_dir

    def signed(self, sso, days=2, key=None, cert=None):
        return sign(metadata(self.idp_cert, sso, stamp(days)), key or self.key,
                    cert or self.cert)

    def redirect(self):
        r = self.srv.http("GET", "/upstream/mdr/start")
        return r.status, r.header("Location") or ""

    def wait_redirect(self, prefix, timeout=30.0):
        """Polls the start URL until it redirects to prefix (the workers reload)."""
        import time
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = self.redirect()
            if last[0] == 303 and last[1].startswith(prefix):
                return
            time.sleep(0.1)
        self.fail("no redirect to %s; last %r" % (prefix, last))

    def failures(self):
        return harness.prom_sum(self.srv.metrics()[1], FAILURES, upstream="mdr")

    def refresh_fails(self, why, timeout=10.0):
        """SIGHUP (a new jobs process fetches at start); waits for its warning."""
        import signal
        before = self.failures()
        off = self.srv.log_size()
        self.srv.signal(signal.SIGHUP)
        line = None
        import time
        deadline = time.time() + timeout
        while time.time() < deadline and line is None:
            for l in self.srv.lines_since(off):
                if "metadata refresh" in l and "keeping the last good copy" in l:
                    line = l
            time.sleep(0.05)
        self.assertIsNotNone(line, "no refresh warning")
        self.assertRegex(line, why)
        self.assertEqual(self.failures(), before + 1)
        # The last good copy stays: the redirect still goes to the first SSO URL.
        self.wait_redirect("https://idp.mdr.test/sso-one?")

    def test_refresh(self):
        # The first fetch: the workers build their SP with it.
        self.wait_redirect("https://idp.mdr.test/sso-one?")
        path = os.path.join(self.state, "upstream-metadata", "mdr.xml")
        self.assertEqual(open(path, "rb").read(), self.peer.body)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o644)
        m = self.srv.metrics()[1]
        self.assertEqual(harness.prom_sum(m, FAILURES, upstream="mdr"), 0)
        self.assertGreater(harness.prom_sum(m, LAST_OK, upstream="mdr"), 0)
        good = self.peer.body

        # Tampered after signing: the signature no longer verifies.
        self.peer.body = good.replace(b"sso-one", b"sso-evil")
        self.refresh_fails(r"(?i)signature|digest")
        # Signed by another key than the pinned certificate.
        self.peer.body = self.signed("https://idp.mdr.test/sso-evil", key=self.evil_key,
                                     cert=self.evil_cert)
        self.refresh_fails(r"(?i)signature")
        # Validly signed, but validUntil is past.
        self.peer.body = self.signed("https://idp.mdr.test/sso-old", days=-1)
        self.refresh_fails(r"validUntil .* is past")
        # Not metadata at all / a server error / a server that never answers.
        self.peer.body = b"<html>maintenance</html>"
        self.refresh_fails(r"(?i)metadata")
        self.peer.status, self.peer.body = 500, b"oops"
        self.refresh_fails(r"HTTP status 500")
        self.peer.status, self.peer.hang = 200, True
        self.refresh_fails(r"(?i)time", timeout=30.0)
        self.assertEqual(open(path, "rb").read(), good)
        self.peer.hang = False
        self.peer.release.set()

        # A new good copy with another SSO URL is picked up without a restart.
        self.peer.body = self.signed("https://idp.mdr.test/sso-two")
        import signal
        self.srv.signal(signal.SIGHUP)
        self.wait_redirect("https://idp.mdr.test/sso-two?")
        self.assertEqual(open(path, "rb").read(), self.peer.body)


if __name__ == "__main__":
    harness.main()
