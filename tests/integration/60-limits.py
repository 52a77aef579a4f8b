#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""60: limits over raw sockets: 400, 431, 413, 408, and the server survives."""

import socket
import time

import harness

LIMITS = {"server": {"limits": {"max_header_bytes": 2048, "max_body_bytes": 4096,
                                "request_timeout": "2s"}}}


class Limits(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.holder = harness.TestCase("run")
        cls.addClassCleanup(cls.holder.doCleanups)  # runs even when setUpClass fails
        cls.srv = harness.Server(cls.holder, conf=LIMITS)
        cls.srv.start()
        cls.pids = cls.srv.workers_pids()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        super().setUp()
        self.addCleanup(self.still_serving)

    def still_serving(self):
        """After each case: normal requests work and no process died."""
        for _ in range(4):
            self.assertEqual(self.srv.http("GET", "/healthz").status, 200)
        self.assertIsNone(self.srv.proc.poll(), "master alive")
        self.assertEqual(self.srv.workers_pids(), self.pids,
                         "no worker died or was replaced\n" + self.srv.logs())

    def status_of(self, data, **kw):
        resp = self.srv.raw(data, **kw)
        st, hdrs, body = harness.parse_raw_response(resp)
        return st, hdrs, body, resp

    def test_garbage_request_line(self):
        for junk in (b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"\x00\x01\x02\x03 / HTTP/1.1\r\n\r\n",
                     b"GET / HTTP/9.9\r\n\r\n", b"GET /healthz HTTP/1.1\r\nNo colon here\r\n\r\n"):
            with self.subTest(junk=junk):
                st, _, _, resp = self.status_of(junk)
                self.assertIn(st, (400, 505), resp)
        st, _, _, resp = self.status_of(b"GARBAGE\r\n\r\n")
        self.assertEqual(st, 400, resp)

    def test_headers_too_large(self):
        big = b"X-Filler: " + b"a" * 3000 + b"\r\n"
        st, _, _, resp = self.status_of(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
        self.assertEqual(st, 431, resp)
        many = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 60) for i in range(60))
        st, _, _, resp = self.status_of(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        self.assertEqual(st, 431, resp)

    def test_long_uri(self):
        st, _, _, resp = self.status_of(b"GET /" + b"u" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(st, (414, 431, 400), resp)

    def test_headers_under_limit(self):
        st, _, _, resp = self.status_of(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                        b"X-Filler: " + b"a" * 1000 + b"\r\n\r\n")
        self.assertEqual(st, 200, resp)

    def test_body_too_large(self):
        body = b"z" * 5000
        st, _, _, resp = self.status_of(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                                        b"Connection: close\r\n\r\n" % len(body) + body)
        self.assertEqual(st, 413, resp)
        # Announced only: refused from the header, before the body arrives.
        st, _, _, resp = self.status_of(b"POST /healthz HTTP/1.1\r\nHost: x\r\n"
                                        b"Content-Length: 100000000\r\n\r\n", timeout=5)
        self.assertEqual(st, 413, resp)

    def test_chunked_body_too_large(self):
        chunk = b"%x\r\n%s\r\n" % (1000, b"c" * 1000)
        data = (b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                chunk * 6 + b"0\r\n\r\n")
        st, _, _, resp = self.status_of(data)
        self.assertEqual(st, 413, resp)

    def test_body_under_limit(self):
        body = b"z" * 3000
        st, _, _, resp = self.status_of(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                                        b"Connection: close\r\n\r\n" % len(body) + body)
        self.assertEqual(st, 405, resp)

    def test_request_timeout_headers(self):
        s = self.srv.raw_socket(timeout=10)
        try:
            t0 = time.time()
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            resp = harness.recv_all(s, timeout=8)
            elapsed = time.time() - t0
        finally:
            s.close()
        st, _, _, = harness.parse_raw_response(resp)[:3]
        self.assertLess(elapsed, 6, "the connection is ended near request_timeout (2 s)")
        self.assertGreater(elapsed, 1.5, "not before request_timeout")
        self.assertEqual(st, 408, "a 408 is sent, got %r" % resp)

    def test_request_timeout_slowloris(self):
        """Trickling header bytes does not extend the deadline."""
        s = self.srv.raw_socket(timeout=10)
        t0 = time.time()
        resp = b""
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            while time.time() - t0 < 8:
                try:
                    s.sendall(b"X-A: b\r\n")
                except OSError:
                    break
                s.settimeout(0.3)
                try:
                    d = s.recv(4096)
                    if not d:
                        break
                    resp += d
                except socket.timeout:
                    pass
        finally:
            s.close()
        self.assertLess(time.time() - t0, 6, "ended by the whole-request timeout")

    def test_request_timeout_body(self):
        s = self.srv.raw_socket(timeout=10)
        try:
            t0 = time.time()
            s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
            resp = harness.recv_all(s, timeout=8)
            elapsed = time.time() - t0
        finally:
            s.close()
        self.assertLess(elapsed, 6, resp)
        st = harness.parse_raw_response(resp)[0]
        self.assertEqual(st, 408, resp)

    def test_conflicting_content_length(self):
        """RFC 9112 6.3: differing Content-Length values are an unrecoverable
        error (400), never resolved by picking one (request smuggling)."""
        st, _, _, resp = self.status_of(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                        b"Content-Length: 6\r\nConnection: close\r\n\r\nhelloo")
        self.assertEqual(st, 400, resp)
        st, _, _, resp = self.status_of(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                        b"Content-Length: 6\r\nConnection: close\r\n\r\nhelloo")
        self.assertEqual(st, 400, resp)

    def test_content_length_and_chunked(self):
        st, _, _, resp = self.status_of(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                        b"0\r\n\r\n")
        self.assertEqual(st, 400, resp)

    def test_unknown_transfer_coding(self):
        """RFC 9112 6.1/6.3: a coding other than a final chunked is refused."""
        for te in (b"gzip", b"chunked, gzip", b"identity"):
            with self.subTest(te=te):
                st, _, _, resp = self.status_of(b"POST /healthz HTTP/1.1\r\nHost: x\r\n"
                                                b"Transfer-Encoding: " + te + b"\r\n"
                                                b"Connection: close\r\n\r\nabc")
                self.assertIn(st, (400, 501), resp)

    def test_odd_framing_refused_without_smuggling(self):
        """RFC 9112 5.1: whitespace between a field name and its colon is a 400,
        and so is every other odd framing field; the bytes after the head are
        never read as a second request (request smuggling)."""
        smuggled = b"GET /smuggled-%d HTTP/1.1\r\nHost: x\r\n\r\n"
        heads = [
            b"Content-Length : %d\r\n",
            b"Content-Length\t: %d\r\n",
            b"content-length  :%d\r\n",
            b"Transfer-Encoding : chunked\r\nContent-Length: %d\r\n",
            b"Content-Length:\r\n %d\r\n",                      # obs-fold
            b"Content-Length: %d\r\n 0\r\n",                    # obs-fold
            b"Content-Length: %d\r\nContent-Length: 0\r\n",
            b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n",
            b"Content-Length: 0x%x\r\n",
            b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n , identity\r\n",
            b"Content-Length: +%d\r\n",
            b"X-Padding : 1\r\nContent-Length: %d\r\n",
        ]
        off = self.srv.log_size()
        for i, head in enumerate(heads):
            with self.subTest(head=head):
                tail = smuggled % i
                req = (b"POST /healthz HTTP/1.1\r\nHost: x\r\n" + (head % len(tail)) +
                       b"\r\n" + tail)
                resp = self.srv.raw(req, timeout=5)
                st = harness.parse_raw_response(resp)[0]
                self.assertEqual(st, 400, resp)
                self.assertEqual(resp.count(b"HTTP/1.1 "), 1, "one response only: %r" % resp)
                self.assertIn(b"connection: close", resp.lower())
        # The access log saw none of the smuggled requests.
        self.assertIsNotNone(self.srv.wait_log(lambda l: "POST" in l and "status=400" in l))
        for l in self.srv.lines_since(off):
            self.assertNotIn("/smuggled-", l)

    def test_error_replies_are_delimited(self):
        """Every error reply has a Content-Length or ends with the connection."""
        for req in (b"CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GARBAGE\r\n\r\n",
                    b"FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n"):
            with self.subTest(req=req):
                s = self.srv.raw_socket(timeout=10)
                try:
                    t0 = time.time()
                    s.sendall(req)
                    resp = harness.recv_all(s, timeout=5)
                    elapsed = time.time() - t0
                finally:
                    s.close()
                st, hdrs, _ = harness.parse_raw_response(resp)
                self.assertIsNotNone(st, resp)
                self.assertTrue("content-length" in hdrs or elapsed < 2,
                                "no Content-Length and the connection stays open: %r" % resp)

    def test_many_idle_connections(self):
        socks = []
        try:
            for _ in range(100):
                socks.append(self.srv.raw_socket())
            self.assertEqual(self.srv.http("GET", "/healthz").status, 200)
        finally:
            for s in socks:
                s.close()

    def test_abrupt_close(self):
        for _ in range(20):
            s = self.srv.raw_socket()
            s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nab")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()


class Descriptors(harness.TestCase):
    """More idle connections than a worker may hold: it stays reachable, closes
    idle connections to make room, and the log stays small (no accept loop)."""

    NOFILE = 160

    def flood(self, conf):
        srv = self.server(conf=conf, workers=1)
        srv.start(cmd_prefix=["prlimit", "--nofile=%d:%d" % (self.NOFILE, self.NOFILE), "--"])
        off = srv.log_size()
        socks = []
        try:
            for _ in range(self.NOFILE * 2):
                socks.append(srv.raw_socket())
            t0 = time.time()
            r = srv.http("GET", "/healthz", timeout=10)
            self.assertEqual(r.status, 200)
            self.assertLess(time.time() - t0, 8, "answered without waiting for timeouts")
            _, m = srv.metrics()
            # Idle connections were closed to make room, oldest first: the
            # first ones opened are gone.
            self.assertGreater(harness.prom_sum(m, "fedbroker_http_idle_closed_total"), 0)
            socks[0].settimeout(5)
            self.assertEqual(socks[0].recv(1), b"", "the oldest idle connection was closed")
        finally:
            for s in socks:
                s.close()
        time.sleep(0.5)
        new = srv.lines_since(off)
        grown = srv.log_size() - off
        self.assertLess(grown, 8192, "the log stays small\n" + "\n".join(new[:20]))
        self.assertLessEqual(len([l for l in new if "not accepting" in l]), 1, "\n".join(new))
        self.assertEqual(srv.http("GET", "/healthz").status, 200)
        self.assertIsNone(srv.proc.poll())
        return srv, m, new

    def test_idle_keepalive_closed_first(self):
        """At server.max_connections, the oldest idle keep-alive connection
        makes room; connections that have not sent a request yet, and those
        with a request in progress, come after."""
        srv = self.server(conf={"server": {"max_connections": 4,
                                           "limits": {"request_timeout": "20s"}}}, workers=1)
        srv.start()
        fresh = [srv.raw_socket(), srv.raw_socket()]
        busy = srv.raw_socket()
        busy.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        kept = srv.raw_socket()
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(harness.parse_raw_response(harness.recv_all(kept))[0], 200)
        self.assertEqual(srv.http("GET", "/healthz").status, 200)
        kept.settimeout(5)
        self.assertEqual(kept.recv(1), b"", "the idle keep-alive connection was closed")
        for s in fresh + [busy]:
            s.settimeout(0.3)
            with self.assertRaises(socket.timeout, msg="still open"):
                s.recv(1)
        busy.settimeout(5)
        busy.sendall(b"cdefghij")
        self.assertEqual(harness.parse_raw_response(harness.recv_all(busy, timeout=5))[0], 405)
        _, m = srv.metrics()
        self.assertGreaterEqual(harness.prom_sum(m, "fedbroker_http_idle_closed_total"), 1)
        for s in fresh + [busy, kept]:
            s.close()
        srv.stop()

    def test_descriptor_limit_raised_to_hard(self):
        """serve raises the soft RLIMIT_NOFILE to the hard one; workers inherit it."""
        srv = self.server(workers=1)
        srv.start(cmd_prefix=["prlimit", "--nofile=200:%d" % (self.NOFILE * 10), "--"])
        for pid in [srv.proc.pid] + srv.workers_pids():
            with open("/proc/%d/limits" % pid) as f:
                row = [l for l in f if l.startswith("Max open files")][0].split()
            self.assertEqual(row[3:5], [str(self.NOFILE * 10)] * 2, row)
        srv.stop()

    def test_connection_cap_from_descriptor_limit(self):
        srv, m, _ = self.flood({})
        # The cap (derived from RLIMIT_NOFILE) is below it: accept never failed.
        self.assertEqual(harness.prom_sum(m, "fedbroker_http_accept_paused_total",
                                          reason="descriptors"), 0)
        srv.stop()

    def test_out_of_descriptors(self):
        """A cap above the descriptor limit: accept(2) fails with EMFILE; the
        worker pauses accepting, logs once, counts it, and frees idle ones."""
        srv, m, new = self.flood({"server": {"max_connections": 100000}})
        self.assertGreater(harness.prom_sum(m, "fedbroker_http_accept_paused_total",
                                            reason="descriptors"), 0)
        self.assertEqual(len([l for l in new if "not accepting" in l]), 1, "\n".join(new))
        self.assertTrue(any("max_connections" in l for l in srv.log_lines()),
                        "the cap above the limit is warned about\n" + srv.logs())
        srv.stop()


if __name__ == "__main__":
    harness.main()
