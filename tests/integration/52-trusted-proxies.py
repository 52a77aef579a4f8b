#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""52: behind a load balancer (issue 10): server.trusted_proxies decides whose
forwarding headers are read; the per-address lockout counts the forwarded
client; a trusted proxy's X-Request-Id is kept beside ours; public_url
https:// behind a TLS proxy means Secure __Host- cookies and HSTS."""

import os
import subprocess
import time

import harness
import webclient

PASSWORD = "correct horse battery staple"
REQID_RE = r"^[A-Za-z0-9._-]{1,64}$"


def cli(srv, *args, stdin=None):
    return subprocess.run([harness.BIN] + list(args) + ["--config", srv.config, "--state-dir",
                                                        srv.state_dir],
                          input=stdin, capture_output=True, text=True, timeout=60)


def proxy_conf(trusted, public_url=None, **server):
    # initial_delay: a lock of a minute, so no test races a one-second timer.
    conf = {"server": {"trusted_proxies": trusted},
            "local": {"password": {"time_cost": 1, "memory_kib": 1024},
                      "bootstrap": {"enabled": False},
                      "lockout": {"max_failures": 50, "initial_delay": "60s",
                                  "per_address": {"max_failures": 2}}}}
    if public_url is not None:
        conf["server"]["public_url"] = public_url
    conf["server"].update(server)
    return conf


class Base(harness.TestCase):
    trusted = ["127.0.0.1"]

    def setUp(self):
        super().setUp()
        self.srv = self.server(conf=proxy_conf(self.trusted), workers=1)
        cp = cli(self.srv, "user", "add", "ann", "--init", "--password-stdin",
                 stdin=PASSWORD + "\n")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.srv.start()

    def tearDown(self):
        if self.srv.proc is not None and self.srv.proc.poll() is None:
            self.srv.stop()
        super().tearDown()

    def browser(self, **headers):
        b = webclient.Browser("127.0.0.1", self.srv.port)
        b.extra_headers.update(headers)
        self.addCleanup(b.close)
        return b

    def fail(self, b, user):
        r = b.login(user, "wrong password!!")
        self.assertIn(r.status, (403, 429), r.text[:2000])
        return r

    def records(self, offset, pred):
        return [rec for rec in (harness.parse_logfmt(l) for l in self.srv.lines_since(offset))
                if pred(rec)]

    def wait_records(self, offset, pred, timeout=5.0):
        deadline = time.time() + timeout
        while True:
            recs = self.records(offset, pred)
            if recs or time.time() > deadline:
                return recs
            time.sleep(0.05)


class Trusted(Base):
    """The test connects from 127.0.0.1, listed as a trusted proxy."""

    def test_forwarded_clients_lock_out_separately(self):
        off = self.srv.log_size()
        a = self.browser(**{"X-Forwarded-For": "192.0.2.200, 203.0.113.7"})
        b = self.browser(**{"X-Forwarded-For": "198.51.100.9"})
        c = self.browser(**{"Forwarded": 'for="[2001:db8::7]:4711";proto=https'})
        # Two failures from 203.0.113.7 lock that address, not the proxy's.
        self.fail(a, "nobody1")
        self.fail(a, "nobody2")
        r = a.login("ann", PASSWORD)
        self.assertEqual(r.status, 429, r.text[:2000])
        self.assertEqual(r.header("Retry-After"), "60")
        # The other clients behind the same proxy are not locked out.
        r = b.login("ann", PASSWORD)
        self.assertEqual((r.status, r.location), (303, "/"), r.text[:2000])
        r = c.login("ann", PASSWORD)
        self.assertEqual((r.status, r.location), (303, "/"), r.text[:2000])
        locks = self.wait_records(off, lambda r: r.get("event") == "address_locked")
        self.assertEqual([(l.get("addr"), l.get("peer")) for l in locks],
                         [("203.0.113.7", "127.0.0.1")])
        # Every audit line of these requests names the proxy beside the client.
        audits = self.records(off, lambda r: r.get("cat") == "audit" and "addr" in r)
        self.assertTrue(audits)
        for l in audits:
            self.assertEqual(l.get("peer"), "127.0.0.1", l)
        # Access lines: the client, and the proxy as the peer.
        acc = self.wait_records(off, lambda r: r.get("cat") == "access" and
                                r.get("path") == "/login" and r.get("method") == "POST")
        clients = {(l.get("client"), l.get("peer")) for l in acc}
        self.assertEqual(clients, {("203.0.113.7", "127.0.0.1"), ("198.51.100.9", "127.0.0.1"),
                                   ("2001:db8::7", "127.0.0.1")})
        self.assertIn("https", {l.get("forwarded_proto") for l in acc})
        # The pages' audit lines name both addresses too.
        off = self.srv.log_size()
        d = self.browser(**{"X-Forwarded-For": "198.51.100.9"})
        r = d.submit(d.get("/login"), "/login", {"username": "ann"})
        self.assertEqual(r.status, 400, r.text[:2000])
        rec = self.wait_records(off, lambda r: r.get("cat") == "audit" and
                                r.get("event") == "login_failed")
        self.assertTrue(rec, "\n".join(self.srv.lines_since(off)))
        self.assertEqual((rec[0].get("addr"), rec[0].get("peer")), ("198.51.100.9", "127.0.0.1"))

    def test_spoofed_leftmost_entry_ignored(self):
        # A client that forges an entry on the left still counts as itself.
        off = self.srv.log_size()
        self.fail(self.browser(**{"X-Forwarded-For": "1.1.1.1, 203.0.113.50"}), "x1")
        self.fail(self.browser(**{"X-Forwarded-For": "2.2.2.2, 203.0.113.50"}), "x2")
        r = self.browser(**{"X-Forwarded-For": "3.3.3.3, 203.0.113.50"}).login("ann", PASSWORD)
        self.assertEqual(r.status, 429, r.text[:2000])
        locks = self.wait_records(off, lambda r: r.get("event") == "address_locked")
        self.assertEqual([l.get("addr") for l in locks], ["203.0.113.50"])

    def test_garbage_from_proxy(self):
        # Not an address: the proxy's own address is used, with a reason; never the garbage.
        off = self.srv.log_size()
        for bad in ("not-an-ip", "203.0.113.7:99999", "unknown", "<script>"):
            with self.subTest(bad=bad):
                r = self.srv.http("GET", "/healthz", headers={"X-Forwarded-For": bad})
                self.assertEqual(r.status, 200)
        r = self.srv.http("GET", "/healthz", headers={"Forwarded": 'for="unterminated'})
        self.assertEqual(r.status, 200)
        warns = self.wait_records(off, lambda r: "partly ignored" in r.get("msg", ""))
        self.assertGreaterEqual(len(warns), 5, "\n".join(self.srv.lines_since(off)))
        self.assertTrue(any("not an IP address" in w["msg"] for w in warns))
        self.assertTrue(any("quote is not closed" in w["msg"] for w in warns))
        acc = self.records(off, lambda r: r.get("cat") == "access")
        self.assertEqual({l.get("client") for l in acc}, {"127.0.0.1"})
        self.assertEqual(self.srv.request("GET", "/healthz").status, 200)

    def test_upstream_request_id(self):
        # Finding 8: the proxy's id is kept beside ours, never instead of it.
        off = self.srv.log_size()
        r = self.srv.http("GET", "/healthz", headers={"X-Request-Id": "lb-1234.abc"})
        ours = r.header("X-Request-Id")
        self.assertNotEqual(ours, "lb-1234.abc")
        self.assertRegex(ours, REQID_RE)
        acc = self.wait_records(off, lambda r: r.get("cat") == "access" and
                                r.get("reqid") == ours)
        self.assertEqual(len(acc), 1, "\n".join(self.srv.lines_since(off)))
        self.assertEqual(acc[0].get("upstream_request_id"), "lb-1234.abc")
        # A malformed one is dropped, with a reason.
        off = self.srv.log_size()
        r = self.srv.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         b"X-Request-Id: a b<script>\r\n\r\n")
        st, hdrs, _ = harness.parse_raw_response(r)
        self.assertEqual(st, 200)
        self.assertRegex(hdrs.get("x-request-id", ""), REQID_RE)
        acc = self.wait_records(off, lambda r: r.get("cat") == "access")
        self.assertNotIn("upstream_request_id", acc[0])
        self.assertTrue(self.records(off, lambda r: "malformed X-Request-Id" in r.get("msg", "")))


class Untrusted(Base):
    """Only 10.0.0.0/8 is trusted: the test's 127.0.0.1 is a client like any other."""

    trusted = ["10.0.0.0/8", "2001:db8::/32"]

    def test_forwarding_headers_ignored(self):
        off = self.srv.log_size()
        # Each request claims another client; all are 127.0.0.1, locked together.
        self.fail(self.browser(**{"X-Forwarded-For": "203.0.113.1"}), "nobody1")
        self.fail(self.browser(**{"Forwarded": "for=203.0.113.2"}), "nobody2")
        r = self.browser(**{"X-Forwarded-For": "203.0.113.3"}).login("ann", PASSWORD)
        self.assertEqual(r.status, 429, r.text[:2000])
        locks = self.wait_records(off, lambda r: r.get("event") == "address_locked")
        self.assertEqual([l.get("addr") for l in locks], ["127.0.0.1"])
        self.assertFalse(self.records(off, lambda r: "peer" in r))
        acc = self.records(off, lambda r: r.get("cat") == "access")
        self.assertTrue(acc)
        for l in acc:
            self.assertEqual(l.get("client"), "127.0.0.1", l)
            self.assertNotIn("peer", l)
            self.assertNotIn("forwarded_proto", l)
        # And its X-Request-Id is not taken either.
        r = self.srv.http("GET", "/healthz", headers={"X-Request-Id": "client-chosen"})
        self.assertNotEqual(r.header("X-Request-Id"), "client-chosen")
        self.assertFalse(self.records(off, lambda r: "upstream_request_id" in r))


class HttpsBehindProxy(harness.TestCase):
    """Finding 3: TLS ends at a proxy; public_url's scheme decides cookies and HSTS."""

    def site(self, public_url, **server):
        srv = self.server(conf=proxy_conf(["127.0.0.1"], public_url=public_url, **server),
                          workers=1)
        cp = cli(srv, "user", "add", "ann", "--init", "--password-stdin",
                 stdin=PASSWORD + "\n")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        srv.start()
        self.addCleanup(srv.stop)
        b = webclient.Browser("127.0.0.1", srv.port)
        b.extra_headers["X-Forwarded-Proto"] = "https"
        self.addCleanup(b.close)
        return srv, b

    def test_https_public_url(self):
        srv, b = self.site("https://sso.example.com", hsts_max_age="1h")
        for path in ("/healthz", "/login", "/nowhere"):
            with self.subTest(path=path):
                r = srv.http("GET", path)
                self.assertEqual(r.header("Strict-Transport-Security"), "max-age=3600")
        # Also on the replies to requests that never parsed.
        st, hdrs, _ = harness.parse_raw_response(srv.raw(b"GARBAGE\r\n\r\n"))
        self.assertEqual(st, 400)
        self.assertEqual(hdrs.get("strict-transport-security"), "max-age=3600")
        r = b.login("ann", PASSWORD)
        self.assertEqual((r.status, r.location), (303, "/"), r.text[:2000])
        self.assertEqual(r.header("Strict-Transport-Security"), "max-age=3600")
        names = set()
        for line in b.set_cookie_lines:
            name = line.split("=", 1)[0]
            names.add(name)
            attrs = line.split("; ")
            self.assertTrue(name.startswith("__Host-"), line)
            for attr in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
                self.assertIn(attr, attrs, line)
            self.assertFalse(any(a.lower().startswith("domain=") for a in attrs), line)
        self.assertEqual(names, {"__Host-fb_session_pre", "__Host-fb_session"})
        # The flow goes on with the prefixed cookies: the dashboard, then signing out.
        self.assertEqual(b.get("/").status, 200)
        p = b.get("/logout")
        self.assertEqual(p.status, 200, p.text[:2000])
        r = b.submit(p, "/logout", {})
        self.assertEqual(r.status, 200, r.text[:2000])
        cleared = [c for c in r.headers_all("Set-Cookie") if c.startswith("__Host-fb_session=")]
        self.assertTrue(cleared and "Max-Age=0" in cleared[0], r.headers)
        self.assertIn("Secure", cleared[0].split("; "))
        self.assertNotIn("__Host-fb_session", b.cookies)
        # An unprefixed cookie (set over http by someone else) is not a session.
        r = srv.http("GET", "/", headers={"Cookie": "fb_session=" + "A" * 40})
        self.assertIn(r.status, (302, 303))

    def test_scheme_mismatch_warned(self):
        # public_url https but the proxy says the request came over http: said once.
        srv, _ = self.site("https://sso.example.com")
        for _ in range(3):
            self.assertEqual(srv.http("GET", "/healthz",
                                      headers={"X-Forwarded-Proto": "http"}).status, 200)
        self.assertEqual(srv.http("GET", "/healthz",
                                  headers={"X-Forwarded-Proto": "https"}).status, 200)
        self.assertTrue(srv.wait_log(lambda l: "will not send the Secure cookies" in l), srv.logs())
        warns = [l for l in srv.log_lines() if "will not send the Secure cookies" in l]
        self.assertEqual(len(warns), 1, srv.logs())
        # public_url http while the proxy serves https.
        srv, _ = self.site("http://127.0.0.1:1")
        self.assertEqual(srv.http("GET", "/healthz",
                                  headers={"Forwarded": "for=192.0.2.1;proto=https"}).status, 200)
        self.assertTrue(srv.wait_log(lambda l: "set server.public_url to the https" in l),
                        srv.logs())

    def test_hsts_off(self):
        srv, _ = self.site("https://sso.example.com", hsts_max_age=0)
        self.assertIsNone(srv.http("GET", "/healthz").header("Strict-Transport-Security"))

    def test_http_public_url(self):
        srv, b = self.site("http://127.0.0.1:1")
        self.assertIsNone(srv.http("GET", "/login").header("Strict-Transport-Security"))
        _, hdrs, _ = harness.parse_raw_response(srv.raw(b"GARBAGE\r\n\r\n"))
        self.assertNotIn("strict-transport-security", hdrs)
        r = b.login("ann", PASSWORD)
        self.assertEqual(r.status, 303, r.text[:2000])
        self.assertIsNone(r.header("Strict-Transport-Security"))
        self.assertTrue(b.set_cookie_lines)
        for line in b.set_cookie_lines:
            self.assertFalse(line.startswith("__Host-"), line)
            self.assertNotIn("Secure", line.split("; "), line)
        self.assertEqual(b.get("/").status, 200)


class HttpsBehindProxyBrowser(harness.TestCase):
    """The same in headless Chromium (52-proxy-browser.mjs): the browser accepts and sends
    back the __Host- cookies, so signing in and out work."""

    def test_sign_in_and_out(self):
        need = harness.missing_browser_peers(("playwright-core",))
        if need:
            raise harness.peer_missing("browser peers missing: " + "; ".join(need))
        srv = self.server(conf=proxy_conf(["127.0.0.1"]), workers=1)
        srv.conf["server"]["public_url"] = "https://localhost:%d" % srv.port
        srv.write_config(srv.conf)
        cp = cli(srv, "user", "add", "ann", "--init", "--password-stdin",
                 stdin=PASSWORD + "\n")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        srv.start()
        env = dict(os.environ, FB_BASE_URL="http://localhost:%d" % srv.port, FB_USER="ann",
                   FB_PASSWORD=PASSWORD, FB_PEERS=harness.PEERS)
        p = subprocess.run(["node", os.path.join(harness.HERE, "52-proxy-browser.mjs")],
                           env=env, capture_output=True, text=True, timeout=300)
        out = p.stdout + p.stderr
        print("\n" + out)
        self.assertEqual(p.returncode, 0, out + "\n" + srv.logs())
        self.assertIn("browser: all steps passed", p.stdout)
        srv.stop()


if __name__ == "__main__":
    harness.main()
