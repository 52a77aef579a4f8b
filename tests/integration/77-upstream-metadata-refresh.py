#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""77: an upstream's IdP metadata from metadata_url (issue 11, item 4): the jobs
process fetches it over HTTPS (saml.ca_file), verifies its signature with the
pinned metadata_certificate and stores the last good copy in the state
directory; the workers load it (the sign-in redirect goes to its SSO URL). A
tampered copy, another key's signature, an expired validUntil, another
entityID, a copy over 1 MiB, a 500 and a server that hangs are each refused with a warning naming the reason: the last
good copy stays (the redirect is unchanged) and
fedbroker_upstream_metadata_refresh_failures_total moves. A new validly signed
copy with another SSO URL is picked up without a restart. A stored copy past
its validUntil stays in use (with a warning) while refreshes fail. A reload does not
fetch again at once (the next refresh stays when it was due); SIGUSR1 to the
jobs process refreshes now (how this test drives it: metadata_refresh is 1m at
least).
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


def metadata(cert_path, sso, valid_until, entity=IDP_ID, cache=None):
    body = pc.pem_body(open(cert_path).read())
    cache = ' cacheDuration="%s"' % cache if cache else ""
    return ('<?xml version="1.0"?>\n'
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_mdr1" entityID="%s" '
            'validUntil="%s"%s>'
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
            % (entity, valid_until, cache, body, sso)).encode()


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
        self.count = 0
        self.hang = False
        self.release = threading.Event()

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                peer.count += 1
                if peer.hang:
                    peer.release.wait(60)
                    return
                self.send_response(peer.status)
                self.send_header("Content-Type", "application/samlmetadata+xml")
                self.send_header("Content-Length", str(len(peer.body)))
                self.end_headers()
                try:
                    self.wfile.write(peer.body)
                except (ssl.SSLError, OSError):
                    pass  # the client stopped reading (the body over its bound)

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
                                      mappings={"upstream_saml": MAPPING}, start=False)
        self.state = self.srv.state_dir

    def signed(self, sso, days=2, key=None, cert=None, entity=IDP_ID, cache=None):
        return sign(metadata(self.idp_cert, sso, stamp(days), entity, cache), key or self.key,
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

    def jobs_ready(self, not_pid=None, timeout=10.0):
        """The jobs process' pid once it is the only one (an old generation's has gone)
        and catches SIGUSR1 (its handler is in place)."""
        import time
        deadline = time.time() + timeout
        while time.time() < deadline:
            pids = harness.children_of(self.srv.proc.pid, "fb-jobs")
            for pid in pids:
                if pid == not_pid or len(pids) != 1:
                    continue
                try:
                    with open("/proc/%d/status" % pid) as f:
                        st = dict(l.split(":\t", 1) for l in f if ":\t" in l)
                except OSError:
                    continue
                if int(st.get("SigCgt", "0"), 16) & (1 << (10 - 1)):
                    return pid
            time.sleep(0.05)
        self.fail("no jobs process catching SIGUSR1")

    def kick(self):
        """SIGUSR1 to the jobs process: it refreshes now."""
        import signal
        os.kill(self.jobs_ready(), signal.SIGUSR1)

    def warning(self, off, timeout):
        """The first refresh warning after the jobs process took the SIGUSR1 (after off)."""
        import time
        deadline = time.time() + timeout
        while time.time() < deadline:
            kicked = False
            for l in self.srv.lines_since(off):
                kicked = kicked or "SIGUSR1: refreshing upstream metadata now" in l
                if kicked and "metadata refresh" in l and "keeping the last good copy" in l:
                    return l
            time.sleep(0.05)
        self.fail("no refresh warning")

    def settled(self, timeout=30.0):
        """Waits until the reload the first fetch caused is over: the workers may serve the
        new copy from the state directory before the master has even read the jobs process'
        SIGHUP, and a SIGUSR1 sent to that outgoing jobs process is lost with it."""
        import re
        self.assertIsNotNone(self.srv.wait_log(
            lambda l: re.search(r"jobs \(pid \d+, generation \d+\) exited", l) is not None,
            timeout), self.srv.logs())

    def refresh_fails(self, why, timeout=10.0):
        before = self.failures()
        off = self.srv.log_size()
        self.kick()
        self.assertRegex(self.warning(off, timeout), why)
        self.assertEqual(self.failures(), before + 1)
        # The last good copy stays: the redirect still goes to the first SSO URL.
        self.wait_redirect("https://idp.mdr.test/sso-one?")

    def test_sigusr1_to_the_master(self):
        """SIGUSR1 to the master (what systemctl kill or the pid file reach) is forwarded
        to the jobs process, which refreshes; the workers ignore it (none restarts)."""
        import signal
        self.srv.start()
        self.wait_redirect("https://idp.mdr.test/sso-one?")
        self.settled()
        jobs = self.jobs_ready()
        workers = sorted(harness.children_of(self.srv.proc.pid, "fb-worker"))
        self.peer.body = self.peer.body.replace(b"sso-one", b"sso-evil")
        before = self.failures()
        off = self.srv.log_size()
        os.kill(self.srv.proc.pid, signal.SIGUSR1)
        self.assertRegex(self.warning(off, 10.0), r"(?i)signature|digest")
        self.assertEqual(self.failures(), before + 1)
        self.assertTrue([l for l in self.srv.lines_since(off)
                         if "forwarding SIGUSR1 to the jobs process (pid %d)" % jobs in l])
        # Sent to every process (systemctl kill's default): the workers stay up. (A worker
        # of the generation the first fetch's reload replaced may still be draining when the
        # list was taken, and be gone by now.)
        off = self.srv.log_size()
        for pid in workers:
            try:
                os.kill(pid, signal.SIGUSR1)
            except ProcessLookupError:
                pass
        self.wait_redirect("https://idp.mdr.test/sso-one?")
        after = set(harness.children_of(self.srv.proc.pid, "fb-worker"))
        self.assertTrue(after and after <= set(workers), (after, workers))
        self.assertFalse([l for l in self.srv.lines_since(off) if "restarting it" in l])

    def test_expired_copy_stays_in_use(self):
        """A stored copy past its validUntil and an IdP answering 500: the upstream
        keeps working with it, and the log says both."""
        d = os.path.join(self.state, "upstream-metadata")
        os.mkdir(d)
        with open(os.path.join(d, "mdr.xml"), "wb") as f:
            f.write(self.signed("https://idp.mdr.test/sso-old", days=-1))
        self.peer.status, self.peer.body = 500, b"oops"
        self.srv.start()
        self.assertIsNotNone(self.srv.wait_log(lambda l: "HTTP status 500" in l and
                                               "keeping the last good copy" in l, 10.0))
        self.assertIsNotNone(self.srv.wait_log(
            lambda l: "last good metadata copy expired" in l, 10.0))
        self.wait_redirect("https://idp.mdr.test/sso-old?")
        self.assertEqual(self.failures(), 1)

    def status(self):
        import json
        try:
            with open(os.path.join(self.state, "upstream-metadata", "mdr.status.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def kick_until(self, pred, timeout=15.0):
        """Kicks the jobs process until its status matches pred. Each refresh that takes new
        metadata reloads the broker: a SIGUSR1 that reaches the outgoing generation's jobs
        process just before it stops is lost with it (the new one refreshes when due), so the
        kick is repeated until its effect is seen."""
        import time
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.kick()
            end = min(deadline, time.time() + 2.0)
            while time.time() < end:
                st = self.status()
                if pred(st):
                    return st
                time.sleep(0.05)
        self.fail("status never matched: %r" % self.status())

    def wait_status(self, pred, timeout=10.0):
        import time
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = self.status()
            if pred(st):
                return st
            time.sleep(0.05)
        self.fail("status never matched: %r" % self.status())

    def test_cache_duration(self):
        """The IdP's cacheDuration, when shorter than metadata_refresh (1h), is the next
        refresh; bounded below at one minute; a longer one changes nothing."""
        self.peer.body = self.signed("https://idp.mdr.test/sso-one", cache="PT2M30S")
        self.srv.start()
        self.wait_redirect("https://idp.mdr.test/sso-one?")
        st = self.wait_status(lambda s: s.get("last_success"))
        self.assertEqual(st["next_refresh"] - st["last_success"], 150, st)
        self.peer.body = self.signed("https://idp.mdr.test/sso-one", cache="PT1S")
        st = self.kick_until(lambda s: s.get("next_refresh", 0) - s.get("last_success", 0) != 150)
        self.assertEqual(st["next_refresh"] - st["last_success"], 60, st)
        self.peer.body = self.signed("https://idp.mdr.test/sso-one", cache="P1D")
        st = self.kick_until(lambda s: s.get("next_refresh", 0) - s.get("last_success", 0) != 60)
        self.assertEqual(st["next_refresh"] - st["last_success"], 3600, st)
        # Not an xs:duration: ignored with a warning, the copy still taken.
        self.peer.body = self.signed("https://idp.mdr.test/sso-two", cache="6h")
        off = self.srv.log_size()
        self.kick_until(lambda _: [l for l in self.srv.lines_since(off)
                                   if "cacheDuration '6h' is not a duration (ignored)" in l])
        self.wait_redirect("https://idp.mdr.test/sso-two?")
        st = self.status()
        self.assertEqual(st["next_refresh"] - st["last_success"], 3600, st)
        self.assertEqual(st.get("failures", 0), 0, st)

    def test_dead_url_does_not_hold_back_another(self):
        """Two upstreams, the first URL hangs: the second's metadata is fetched and in
        use while the first fetch is still waiting (the fetches run side by side, not
        one after the other behind a 10 s timeout)."""
        d = self.tmpdir()
        tls_cert, tls_key = harness.openssl_selfsigned(d)
        good = Peer(tls_cert, tls_key)
        self.addCleanup(good.close)
        good.body = self.signed("https://idp2.mdr.test/sso", entity="https://idp2.mdr.test/saml")
        self.peer.hang = True
        ups = [{"name": "mdr", "type": "saml", "domains": ["mdr.test"],
                "saml": {"metadata_url": "https://localhost:%d/md.xml" % self.peer.port,
                         "metadata_certificate": self.cert,
                         "ca_file": self.srv.conf["upstreams"][0]["saml"]["ca_file"],
                         "sign_requests": "never"}},
               {"name": "mdr2", "type": "saml", "domains": ["mdr2.test"],
                "saml": {"metadata_url": "https://localhost:%d/md.xml" % good.port,
                         "metadata_certificate": self.cert, "ca_file": tls_cert,
                         "sign_requests": "never"}}]
        srv = fbsaml.saml_server(self, [], conf={"upstreams": ups},
                                 mappings={"upstream_saml": MAPPING})
        import json
        import time

        def status(name):
            try:
                with open(os.path.join(srv.state_dir, "upstream-metadata",
                                       name + ".status.json")) as f:
                    return json.load(f)
            except (OSError, ValueError):
                return {}
        # mdr2's copy is stored (its status written) while mdr's fetch still hangs: mdr's
        # status is written only when its fetch ends, at its 10 s timeout.
        deadline = time.time() + 30
        while time.time() < deadline and not status("mdr2").get("last_success"):
            time.sleep(0.05)
        self.assertTrue(status("mdr2").get("last_success"), srv.logs())
        self.assertEqual(status("mdr"), {}, "mdr2 was fetched only after mdr's fetch ended")
        self.assertFalse([l for l in srv.log_lines()
                          if "upstream mdr:" in l and "keeping the last good copy" in l])
        # The hanging fetch was under way all along (its server holds the request).
        deadline = time.time() + 10
        while time.time() < deadline and self.peer.count < 1:
            time.sleep(0.05)
        self.assertGreaterEqual(self.peer.count, 1)
        # The workers use mdr2's copy; the hanging one ends in a warning (its timeout).
        deadline = time.time() + 30
        while time.time() < deadline:
            r = srv.http("GET", "/upstream/mdr2/start")
            if r.status == 303 and (r.header("Location") or "").startswith(
                    "https://idp2.mdr.test/sso?"):
                break
            time.sleep(0.05)
        else:
            self.fail("mdr2's metadata never came: %s" % srv.logs())
        self.assertIsNotNone(srv.wait_log(lambda l: "upstream mdr:" in l and
                                          "keeping the last good copy" in l, 30.0))
        self.assertEqual(status("mdr").get("failures"), 1)

    def test_refresh(self):
        self.srv.start()
        # The first fetch: the workers build their SP with it.
        self.wait_redirect("https://idp.mdr.test/sso-one?")
        self.settled()
        path = os.path.join(self.state, "upstream-metadata", "mdr.xml")
        self.assertEqual(open(path, "rb").read(), self.peer.body)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o644)
        types, m = self.srv.metrics()
        self.assertEqual(types.get(FAILURES), "counter")
        self.assertEqual(types.get(LAST_OK), "gauge")
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
        # Validly signed by the pinned key, but for another entity than the last good copy.
        self.peer.body = self.signed("https://idp.mdr.test/sso-evil",
                                     entity="https://other.mdr.test/saml")
        self.refresh_fails(r"entityID https://other\.mdr\.test/saml is not the last good")
        # Over the size bound (1 MiB).
        self.peer.body = good + b" " * (1024 * 1024)
        self.refresh_fails(r"larger than 1048576 bytes")
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

        # A reload restarts the jobs process, which does not fetch at once: only the kick does.
        import signal
        self.peer.status, self.peer.body = 500, b"oops"
        old = self.jobs_ready()
        n, off = self.peer.count, self.srv.log_size()
        self.srv.signal(signal.SIGHUP)
        new = self.jobs_ready(not_pid=old)
        os.kill(new, signal.SIGUSR1)
        self.assertRegex(self.warning(off, 10.0), r"HTTP status 500")
        self.assertEqual(self.peer.count, n + 1)
        self.peer.status = 200

        # A new good copy with another SSO URL is picked up without a restart.
        self.peer.body = self.signed("https://idp.mdr.test/sso-two")
        self.kick()
        self.wait_redirect("https://idp.mdr.test/sso-two?")
        self.assertEqual(open(path, "rb").read(), self.peer.body)


if __name__ == "__main__":
    harness.main()
