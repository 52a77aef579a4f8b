#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""70: TLS: server.tls with a certificate made by the openssl CLI."""

import os
import shutil
import socket
import ssl
import unittest

import harness


@unittest.skipIf(shutil.which("openssl") is None, "the openssl CLI is not installed")
class Tls(harness.TestCase):
    def tls_server(self):
        d = self.tmpdir()
        cert, key = harness.openssl_selfsigned(d)
        srv = self.server(conf={"server": {"tls": {"cert": cert, "key": key}}}, tls=True)
        return srv, cert, key

    def test_https_healthz(self):
        srv, cert, _ = self.tls_server()
        srv.start()
        r = srv.http("GET", "/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body.strip(), b"ok")
        hsts = r.header("Strict-Transport-Security")
        self.assertIsNotNone(hsts, "HSTS over TLS")
        self.assertRegex(hsts, r"max-age=\d+")
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        # The certificate served is the configured one.
        ctx = ssl.create_default_context(cafile=cert)
        ctx.check_hostname = False
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                self.assertIn(t.version(), ("TLSv1.2", "TLSv1.3"))
        srv.stop()

    def test_old_tls_refused(self):
        srv, _, _ = self.tls_server()
        srv.start()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            self.skipTest("this Python cannot offer TLS 1.1")
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            with self.assertRaises((ssl.SSLError, OSError)):
                ctx.wrap_socket(s).close()
        self.assertEqual(srv.http("GET", "/healthz").status, 200)
        srv.stop()

    def test_plain_http_on_tls_port(self):
        srv, _, _ = self.tls_server()
        srv.start()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = harness.recv_all(s, timeout=5)
        self.assertFalse(data.startswith(b"HTTP/1.1 200"), data)
        self.assertEqual(srv.http("GET", "/healthz").status, 200, "still serving")
        srv.stop()

    def test_missing_tls_key(self):
        d = self.tmpdir()
        cert, _ = harness.openssl_selfsigned(d)
        missing = os.path.join(d, "absent.key.pem")
        srv = self.server(conf={"server": {"tls": {"cert": cert, "key": missing}}}, tls=True)
        srv.spawn()
        rc = srv.wait_exit(30)
        if rc is None:
            srv.kill()
            self.fail("serve did not exit\n" + srv.logs())
        self.assertEqual(rc, 1, srv.logs())
        self.assertIn(missing, srv.stdout() + srv.stderr())


if __name__ == "__main__":
    harness.main()
