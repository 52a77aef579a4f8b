#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""90: the log: JSON and logfmt lines, access lines with request ids, and
configured secrets never written, at any level, over a whole life cycle."""

import json
import os
import secrets
import signal
import subprocess
import time

import harness

TIME_RE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$"


class Logging(harness.TestCase):
    def exercise(self, srv):
        """A few requests of each kind; returns the request ids the replies named."""
        ids = []
        for i in range(3):
            rid = "logtest-%d-%s" % (i, secrets.token_hex(4))
            r = srv.http("GET", "/healthz", headers={"X-Request-Id": rid})
            self.assertEqual(r.status, 200)
            # A client's id is not taken (only a trusted proxy's, as upstream_request_id).
            self.assertNotEqual(r.header("X-Request-Id"), rid)
            ids.append(r.header("X-Request-Id"))
        srv.http("GET", "/missing")
        srv.http("POST", "/healthz", body=b"a=b")
        srv.http("GET", "/metrics")
        srv.raw(b"BROKEN\r\n\r\n")
        time.sleep(0.3)
        return ids

    def test_json(self):
        srv = self.server(conf={"log": {"format": "json"}})
        srv.start()
        ids = self.exercise(srv)
        srv.stop()
        lines = srv.stderr().splitlines()
        self.assertTrue(lines)
        recs = []
        for l in lines:
            rec = json.loads(l)
            self.assertIsInstance(rec, dict, l)
            for k in ("time", "level", "msg"):
                self.assertIn(k, rec, l)
            self.assertRegex(rec["time"], TIME_RE)
            self.assertIn(rec["level"], ("debug", "info", "warn", "error"))
            recs.append(rec)
        access = [r for r in recs if r.get("cat") == "access"]
        self.assertGreaterEqual(len(access), 6, "one access line per request")
        for r in access:
            self.assertTrue(r.get("reqid"), r)
            self.assertRegex(r.get("proc", ""), r"^worker\.[12]$", "access lines come from workers")
        seen = {r.get("reqid") for r in access}
        for rid in ids:
            self.assertIn(rid, seen, "the access line carries the request's id")

    def test_logfmt(self):
        srv = self.server(conf={"log": {"format": "logfmt"}})
        srv.start()
        ids = self.exercise(srv)
        srv.stop()
        recs = []
        for l in srv.stderr().splitlines():
            rec = harness.parse_logfmt(l)
            for k in ("time", "level", "msg"):
                self.assertIn(k, rec, l)
            self.assertRegex(rec["time"], TIME_RE)
            recs.append(rec)
        access = [r for r in recs if r.get("cat") == "access"]
        self.assertGreaterEqual(len(access), 6)
        seen = {r.get("reqid") for r in access}
        for rid in ids:
            self.assertIn(rid, seen)
        for r in access:
            self.assertTrue(r.get("reqid"), r)
        st = {r.get("status") or r.get("code") for r in access}
        self.assertTrue({"200", "404", "405"} <= st, "access lines carry the status: %s" % st)

    def test_clean_run_has_no_warnings(self):
        """Start, valid requests of every kind, reload, stop: nothing at warn or error.

        The bootstrap administrator's one-time line is a deliberate warning on a
        fresh store (see 45-accounts-cli.py), so it is turned off here."""
        srv = self.server(conf={"local": {"bootstrap": {"enabled": False}}})
        srv.start()
        for path in ("/healthz", "/readyz", "/metrics", "/missing"):
            srv.http("GET", path)
        srv.http("HEAD", "/healthz")
        srv.http("POST", "/healthz", body=b"a=b")
        c = srv.connection()
        for _ in range(3):
            c.request("GET", "/healthz")
            c.getresponse().read()
        c.close()
        srv.signal(signal.SIGHUP)
        self.assertIsNotNone(srv.wait_log(lambda l: "reloaded" in l, timeout=10), srv.logs())
        srv.http("GET", "/healthz")
        srv.stop()
        for l in srv.stderr().splitlines():
            rec = harness.parse_logfmt(l)
            self.assertIn(rec["level"], ("debug", "info"), "unexpected: %s" % l)

    def test_access_off(self):
        srv = self.server(conf={"log": {"access": False}})
        srv.start()
        self.exercise(srv)
        srv.stop()
        for l in srv.stderr().splitlines():
            self.assertNotEqual(harness.parse_logfmt(l).get("cat"), "access", l)

    def test_level_warn_is_quiet(self):
        srv = self.server(conf={"log": {"level": "warn", "access": False}})
        srv.start()
        self.exercise(srv)
        srv.stop()
        for l in srv.stderr().splitlines():
            rec = harness.parse_logfmt(l)
            self.assertIn(rec["level"], ("warn", "error"), l)

    def test_secrets_never_logged(self):
        d = self.tmpdir()
        cookie_secret = "CookieSecret-" + secrets.token_hex(16)
        passphrase = "KeyPass-" + secrets.token_hex(12)
        pwfile = self.write(os.path.join(d, "key.pass"), passphrase + "\n", 0o600)
        key = os.path.join(d, "enc.key.pem")
        subprocess.run(["openssl", "pkey", "-in", os.path.join(harness.FIXTURE_KEYS, "rsa2048.key.pem"),
                        "-out", key, "-aes-256-cbc", "-passout", "file:" + pwfile],
                       check=True, capture_output=True)
        os.chmod(key, 0o600)
        crt = os.path.join(harness.FIXTURE_KEYS, "rsa2048.crt.pem")
        conf = {
            "log": {"level": "debug", "format": "logfmt"},
            "keys": [{"id": "enc1", "key": key, "cert": crt,
                      "passphrase": "file:" + pwfile}],
            "session": {"cookie_keys": ["env:FB_TEST_COOKIE_SECRET"]},
        }
        srv = self.server(conf=conf, env={"FB_TEST_COOKIE_SECRET": cookie_secret})
        srv.start()
        self.exercise(srv)
        srv.http("GET", "/healthz", headers={"Cookie": "fb=" + cookie_secret})
        # Reload (same config, then JSON at debug), more requests, stop.
        srv.signal(signal.SIGHUP)
        time.sleep(1.5)
        self.exercise(srv)
        srv.conf = harness.deep_merge(srv.conf, {"log": {"format": "json"}})
        srv.write_config(srv.conf)
        srv.signal(signal.SIGHUP)
        time.sleep(1.5)
        self.exercise(srv)
        srv.stop()
        out = srv.stdout() + srv.stderr()
        self.assertIn("debug", out, "debug lines were written")
        for sec in (cookie_secret, passphrase, cookie_secret[13:], passphrase[8:]):
            self.assertNotIn(sec, out, "a secret appears in the log")
        # check-config must not print them either.
        cp = harness.run(["check-config", srv.config], env={"FB_TEST_COOKIE_SECRET": cookie_secret})
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertNotIn(cookie_secret, cp.stdout + cp.stderr)
        self.assertNotIn(passphrase, cp.stdout + cp.stderr)


if __name__ == "__main__":
    harness.main()
