#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""50: the operations endpoints, errors, security headers and request ids."""

import http.client
import re
import socket
import time
import unittest

import harness

REQID_RE = re.compile(r"^[A-Za-z0-9._-]{8,128}$")


class Http(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.holder = harness.TestCase("run")
        cls.addClassCleanup(cls.holder.doCleanups)  # runs even when setUpClass fails
        cls.srv = harness.Server(cls.holder)
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_listening_line(self):
        self.assertIn("fedbroker listening on http://127.0.0.1:%d (2 workers)" % self.srv.port,
                      self.srv.stdout())

    def test_healthz(self):
        r = self.srv.http("GET", "/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body.strip(), b"ok")
        self.assertTrue(r.header("Content-Type").startswith("text/plain"), r.header("Content-Type"))

    def test_head_healthz(self):
        r = self.srv.http("HEAD", "/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")

    def test_readyz(self):
        r = self.srv.http("GET", "/readyz")
        self.assertEqual(r.status, 200, r.body)

    def test_not_found(self):
        r = self.srv.http("GET", "/no/such/path")
        self.assertEqual(r.status, 404)
        self.assertNotIn(b"/no/such/path<", r.body)

    def test_not_found_page_is_escaped_html_with_the_request_id(self):
        r = self.srv.http("GET", "/no/<such>/path")
        self.assertEqual(r.status, 404)
        self.assertTrue(r.header("Content-Type").startswith("text/html"), r.header("Content-Type"))
        self.assertNotIn(b"<such>", r.body)
        self.assertIn(("Request id: <code>%s</code>" % r.header("X-Request-Id")).encode(), r.body)

    def test_method_not_allowed(self):
        r = self.srv.http("POST", "/healthz", body=b"x=1",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 405)
        allow = r.header("Allow")
        self.assertIsNotNone(allow, "405 carries Allow")
        self.assertIn("GET", allow)

    def test_security_headers(self):
        for method, path in (("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
                             ("GET", "/nowhere"), ("POST", "/healthz")):
            with self.subTest(path=path, method=method):
                r = self.srv.http(method, path, body=b"" if method == "POST" else None)
                self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
                csp = r.header("Content-Security-Policy") or ""
                self.assertIn("frame-ancestors 'none'", csp)
                self.assertIsNotNone(r.header("Referrer-Policy"))
                self.assertIsNone(r.header("Strict-Transport-Security"), "no HSTS over http")
                self.assertRegex(r.header("X-Request-Id") or "", REQID_RE)

    def test_security_headers_on_raw_errors(self):
        data = self.srv.raw(b"GARBAGE\r\n\r\n")
        st, hdrs, _ = harness.parse_raw_response(data)
        self.assertEqual(st, 400, data)
        self.assertEqual(hdrs.get("x-content-type-options"), "nosniff")

    def test_request_id_of_a_client_not_taken(self):
        # Issue 10 finding 8: only a trusted proxy's X-Request-Id is kept (beside ours);
        # a client's never becomes the id that audit lines carry.
        rid = "test-req.ID_0123456789"
        r = self.srv.http("GET", "/healthz", headers={"X-Request-Id": rid})
        self.assertNotEqual(r.header("X-Request-Id"), rid)
        self.assertRegex(r.header("X-Request-Id") or "", REQID_RE)

    def test_request_id_replaced(self):
        for bad in ("has space", "a" * 300, "<script>", "x\"y", "semi;colon", ""):
            with self.subTest(bad=bad):
                data = self.srv.raw(("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                     "X-Request-Id: %s\r\n\r\n" % bad).encode())
                st, hdrs, _ = harness.parse_raw_response(data)
                self.assertEqual(st, 200, data)
                got = hdrs.get("x-request-id", "")
                self.assertNotEqual(got, bad.strip())
                self.assertRegex(got, REQID_RE)

    def test_request_ids_unique(self):
        ids = {self.srv.http("GET", "/healthz").header("X-Request-Id") for _ in range(30)}
        self.assertEqual(len(ids), 30)

    def test_keepalive(self):
        c = self.srv.connection()
        try:
            for _ in range(5):
                c.request("GET", "/healthz")
                r = c.getresponse()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.read().strip(), b"ok")
        finally:
            c.close()

    def test_metrics_format(self):
        types, samples = self.srv.metrics()
        self.assertIn("fedbroker_build_info", types)
        info = [l for (n, l, v) in samples if n == "fedbroker_build_info"]
        self.assertEqual(len(info), 1)
        self.assertIn("version", info[0])
        self.assertEqual(types.get("fedbroker_http_requests_total"), "counter")
        hist = [n for n, t in types.items() if t == "histogram" and n.startswith("fedbroker_http")]
        self.assertTrue(hist, "a latency histogram: %s" % types)
        h = hist[0]
        buckets = [(l, v) for (n, l, v) in samples if n == h + "_bucket"]
        self.assertTrue(buckets)
        self.assertTrue(any(l.get("le") == "+Inf" for l, _ in buckets))
        self.assertTrue(any(n == h + "_sum" for (n, _, _) in samples))
        self.assertTrue(any(n == h + "_count" for (n, _, _) in samples))
        r = self.srv.http("GET", "/metrics")
        self.assertTrue(r.header("Content-Type").startswith("text/plain"), r.header("Content-Type"))

    def test_metrics_count_requests(self):
        """Every request is counted once, by route and code, summed over the workers."""
        def counts():
            _, s = self.srv.metrics()
            return (harness.prom_sum(s, "fedbroker_http_requests_total", route="/healthz",
                                     code="200"),
                    harness.prom_sum(s, "fedbroker_http_requests_total", code="404"),
                    s)
        h0, n0, _ = counts()
        for _ in range(40):
            self.assertEqual(self.srv.http("GET", "/healthz").status, 200)
        for _ in range(7):
            self.assertEqual(self.srv.http("GET", "/nothing-here").status, 404)
        deadline = time.time() + 3
        while True:
            h1, n1, s = counts()
            if (h1 - h0 >= 40 and n1 - n0 >= 7) or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(h1 - h0, 40, "GET /healthz 200 counted across workers")
        self.assertEqual(n1 - n0, 7, "404s counted")
        hist = [(n, l, v) for (n, l, v) in s if n.endswith("_count") and n.startswith("fedbroker_http")
                and l.get("route") == "/healthz"]
        self.assertTrue(hist, "latency histogram by route")
        self.assertGreaterEqual(sum(v for _, _, v in hist), 40)

    def test_no_server_version_leak(self):
        r = self.srv.http("GET", "/healthz")
        server = r.header("Server") or ""
        self.assertNotRegex(server, r"\d+\.\d+", "no version in Server")


def have_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


class Listen(harness.TestCase):
    @unittest.skipUnless(have_ipv6_loopback(), "no IPv6 loopback")
    def test_two_addresses_ipv6(self):
        srv = self.server()
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        p6 = s.getsockname()[1]
        s.close()
        srv.extra_args = ["--listen", "127.0.0.1:%d,[::1]:%d" % (srv.port, p6)]
        srv.start()
        c = http.client.HTTPConnection("::1", p6, timeout=5)
        c.request("GET", "/healthz")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.read().strip(), b"ok")
        c.close()
        self.assertIn("http://[::1]:%d" % p6, srv.stdout())
        srv.stop()


    def test_public_url_port_mismatch_warned(self):
        """--listen and server.public_url disagreeing in port: one warning through
        the logger at start (links built from public_url would be dead)."""
        cases = (("http://localhost:%d" % 1, True),        # explicit port, not listened on
                 ("http://127.0.0.1", True),               # loopback, default port 80
                 (None, False),                           # derived from --listen
                 ("https://idp.example.org", False),       # behind a proxy: normal
                 ("http://127.0.0.1:{port}", False))       # agrees
        for url, warned in cases:
            with self.subTest(url=url):
                srv = self.server()
                if url is not None:
                    srv.conf = harness.deep_merge(srv.conf, {"server": {
                        "public_url": url.replace("{port}", str(srv.port))}})
                    srv.write_config(srv.conf)
                srv.start()
                lines = [l for l in srv.log_lines() if "public_url names port" in l]
                if warned:
                    self.assertEqual(len(lines), 1, srv.logs())
                    rec = harness.parse_log_line(lines[0])
                    self.assertEqual(rec.get("level"), "warn", lines[0])
                    self.assertEqual(rec.get("listen"), "127.0.0.1:%d" % srv.port, lines[0])
                    self.assertEqual(rec.get("public_url"), url, lines[0])
                else:
                    self.assertEqual(lines, [], srv.logs())
                srv.stop()


class MetricsAccess(harness.TestCase):
    """metrics.listen puts /metrics on its own port; metrics.token asks for a
    bearer token wherever /metrics is served."""

    TOKEN = "m3tr1cs-t0ken-for-the-test"

    def get(self, port, path, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            c.request("GET", path, headers=headers or {})
            r = c.getresponse()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
        finally:
            c.close()

    def test_separate_listener(self):
        mport = harness.free_port()
        srv = self.server(conf={"metrics": {"listen": "127.0.0.1:%d" % mport}})
        srv.start()
        st, _, body = self.get(mport, "/metrics")
        self.assertEqual(st, 200, body)
        self.assertIn(b"fedbroker_http_requests_total", body)
        # Only /metrics there; and not on the main listener any more.
        self.assertEqual(self.get(mport, "/healthz")[0], 404)
        self.assertEqual(self.get(srv.port, "/metrics")[0], 404)
        self.assertEqual(self.get(srv.port, "/healthz")[0], 200)
        self.assertTrue(srv.wait_log(lambda l: "metrics on http://127.0.0.1:%d/metrics" % mport in l))
        # Both listeners drain and the workers exit at stop.
        srv.stop()
        self.assertFalse(harness.port_listening(mport))

    def test_token(self):
        srv = self.server(conf={"metrics": {"token": "env:FB_TEST_METRICS_TOKEN"}},
                          env={"FB_TEST_METRICS_TOKEN": self.TOKEN})
        srv.start()
        st, hdrs, _ = self.get(srv.port, "/metrics")
        self.assertEqual(st, 401)
        self.assertTrue(hdrs.get("www-authenticate", "").startswith("Bearer"), hdrs)
        for bad in ("Bearer wrong", "Bearer " + self.TOKEN + "x", "Bearer " + self.TOKEN[:-1],
                    "Basic " + self.TOKEN, self.TOKEN, "Bearer "):
            with self.subTest(auth=bad):
                self.assertEqual(self.get(srv.port, "/metrics", {"Authorization": bad})[0], 401)
        st, _, body = self.get(srv.port, "/metrics", {"Authorization": "Bearer " + self.TOKEN})
        self.assertEqual(st, 200)
        self.assertIn(b"fedbroker_build_info", body)
        self.assertEqual(self.get(srv.port, "/healthz")[0], 200, "other endpoints need no token")
        srv.stop()
        self.assertNotIn(self.TOKEN, srv.stdout() + srv.stderr(), "the token is never logged")

    def test_separate_listener_with_token(self):
        mport = harness.free_port()
        srv = self.server(conf={"metrics": {"listen": "127.0.0.1:%d" % mport,
                                            "token": "env:FB_TEST_METRICS_TOKEN"}},
                          env={"FB_TEST_METRICS_TOKEN": self.TOKEN})
        srv.start()
        self.assertEqual(self.get(mport, "/metrics")[0], 401)
        self.assertEqual(self.get(mport, "/metrics", {"Authorization": "Bearer " + self.TOKEN})[0],
                         200)
        self.assertEqual(self.get(srv.port, "/metrics",
                                  {"Authorization": "Bearer " + self.TOKEN})[0], 404)
        srv.stop()

    def test_same_address_refused(self):
        srv = self.server()
        srv.conf = harness.deep_merge(srv.conf, {"metrics": {"listen": "127.0.0.1:%d" % srv.port}})
        srv.write_config(srv.conf)
        cp = harness.run(["check-config", srv.config])
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn("metrics.listen", cp.stdout + cp.stderr)


if __name__ == "__main__":
    harness.main()
