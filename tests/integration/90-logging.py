#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""90: the log: JSON and logfmt lines, access lines with request ids, and
configured secrets never written, at any level, over a whole life cycle."""

import json
import os
import secrets
import signal
import shutil
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
            if rec.get("cat") == "audit":
                # Audit events are written whatever the level, at info (they are not problems).
                self.assertEqual(rec["level"], "info", l)
                continue
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

    # ---- issue 10: structured events, numbers, start-up warnings, reloads ----------------

    def json_records(self, srv, text=None):
        """Every stderr line parsed by Python's json (any line that is not JSON fails)."""
        recs = []
        for l in (text if text is not None else srv.stderr()).splitlines():
            rec = json.loads(l)
            self.assertIsInstance(rec, dict, l)
            recs.append(rec)
        return recs

    def wait_record(self, srv, pred, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for l in srv.stderr().splitlines():
                try:
                    rec = harness.parse_log_line(l)
                except ValueError:
                    continue
                if pred(rec):
                    return rec
            time.sleep(0.05)
        return None

    def test_json_numbers_and_audit_fields(self):
        import webclient
        password = "Horse-" + secrets.token_hex(12)
        srv = self.server(conf={"log": {"format": "json"},
                                "local": {"password": {"time_cost": 1, "memory_kib": 1024},
                                          "bootstrap": {"enabled": False}}})
        srv.conf = harness.deep_merge(srv.conf, {"server": {
            "public_url": "http://127.0.0.1:%d" % srv.port}})
        srv.write_config(srv.conf)
        srv.start()
        cp = subprocess.run([harness.BIN, "user", "add", "alice", "--password-stdin",
                             "--config", srv.config, "--state-dir", srv.state_dir],
                            input=password + "\n", capture_output=True, text=True, timeout=60)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertNotIn(password, cp.stdout + cp.stderr)
        b = webclient.Browser("127.0.0.1", srv.port)
        self.addCleanup(b.close)
        r = b.login("alice", "wrong-" + password)
        self.assertEqual(r.status, 403)
        r = b.login("alice", password)
        self.assertEqual(r.status, 303)
        rec = self.wait_record(srv, lambda r: r.get("event") == "login_succeeded")
        self.assertIsNotNone(rec, srv.logs())
        srv.stop()
        recs = self.json_records(srv)
        audit = [r for r in recs if r.get("cat") == "audit"]
        events = {r["event"] for r in audit}
        self.assertTrue({"login_failed", "login_succeeded"} <= events, events)
        for r in audit:
            # Audit events are not problems: info, with identifiers as fields.
            self.assertEqual(r["level"], "info", r)
        ok = [r for r in audit if r["event"] == "login_succeeded"][0]
        self.assertEqual(ok["user"], "alice")
        self.assertEqual(ok["addr"], "127.0.0.1")
        self.assertNotIn("alice", ok["msg"])
        access = [r for r in recs if r.get("cat") == "access"]
        self.assertTrue(access)
        for r in access:
            self.assertIsInstance(r["status"], int, r)
            self.assertIsInstance(r["bytes"], int, r)
            self.assertIsInstance(r["duration_ms"], (int, float), r)
            self.assertNotIsInstance(r["status"], bool, r)
        self.assertNotIn(password, srv.stdout() + srv.stderr(), "a password appears in the log")

    def broken_rule(self, srv):
        mdir = os.path.join(os.path.dirname(srv.config), "rules")
        os.makedirs(mdir, exist_ok=True)
        with open(os.path.join(mdir, "ok.py"), "w") as f:
            f.write("return user.username\n")
        with open(os.path.join(mdir, "bad.py"), "w") as f:
            f.write("return (1\n")
        return mdir

    def test_startup_warnings_go_through_the_logger(self):
        srv = self.server(conf={"log": {"format": "json"}, "mappings": {"dir": "rules"}})
        self.broken_rule(srv)
        srv.start()
        srv.stop()
        recs = self.json_records(srv)
        warn = [r for r in recs if "bad.py" in r.get("msg", "")]
        self.assertEqual(len(warn), 1, srv.logs())
        self.assertEqual(warn[0]["level"], "warn")
        self.assertEqual(warn[0]["proc"], "master")
        self.assertRegex(warn[0]["msg"], r"rules/bad\.py:1:\d+: .*no service provider uses")

    def reload(self, srv):
        """SIGHUP; the config_reloaded record it writes (None after 10 s)."""
        off = srv.log_size()
        srv.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline:
            for l in srv.lines_since(off):
                r = harness.parse_log_line(l)
                if r.get("event") == "config_reloaded":
                    return r
            time.sleep(0.05)
        return None

    def test_reload_says_what_changed(self):
        srv = self.server(conf={"mappings": {"dir": "rules"}})
        mdir = self.broken_rule(srv)
        srv.start()
        pids = srv.workers_pids()
        # Nothing changed: said so.
        rec = self.reload(srv)
        self.assertIsNotNone(rec, srv.logs())
        self.assertIn("nothing changed", rec["msg"])
        for k in ("sections", "service_providers", "keys", "rules"):
            self.assertNotIn(k, rec, rec)
        # A section and a rule change; the broken rule nobody uses does not stop the reload.
        with open(os.path.join(mdir, "ok.py"), "w") as f:
            f.write("return user.email\n")
        srv.conf = harness.deep_merge(srv.conf, {"log": {"access": False}})
        srv.write_config(srv.conf)
        rec = self.reload(srv)
        self.assertIsNotNone(rec, srv.logs())
        self.assertEqual(rec["level"], "info")
        self.assertEqual(rec.get("sections"), "log", rec)
        self.assertEqual(rec.get("rules"), "ok.py", rec)
        self.assertNotIn("keys", rec)
        self.assertNotEqual(srv.workers_pids(), pids, "the new configuration is in use")
        self.assertEqual(srv.http("GET", "/healthz").status, 200)
        # A service provider added, a key generated (on PostgreSQL, where none is generated
        # for replicas, one added to keys:): each named.
        if srv.conf.get("keys"):
            d = self.tmpdir()
            key, crt = os.path.join(d, "added.key.pem"), os.path.join(d, "added.crt.pem")
            shutil.copy(os.path.join(harness.FIXTURE_KEYS, "ec256.key.pem"), key)
            shutil.copy(os.path.join(harness.FIXTURE_KEYS, "ec256.crt.pem"), crt)
            os.chmod(key, 0o600)
            srv.conf = harness.deep_merge(srv.conf, {"keys": srv.conf["keys"] + [
                {"id": "added", "key": key, "cert": crt, "state": "published"}]})
            new_key = {"added"}
        else:
            before = set(os.listdir(os.path.join(srv.state_dir, "keys")))
            cp = subprocess.run([harness.BIN, "keys", "generate", "--config", srv.config,
                                 "--state-dir", srv.state_dir], capture_output=True, text=True,
                                timeout=60)
            self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
            new_key = {f.split(".")[0] for f in os.listdir(os.path.join(srv.state_dir, "keys"))} \
                - {f.split(".")[0] for f in before}
        self.assertEqual(len(new_key), 1, new_key)
        srv.conf = harness.deep_merge(srv.conf, {"saml": {"service_providers": [{
            "name": "app", "entity_id": "https://sp.example.test",
            "acs": [{"url": "https://sp.example.test/acs"}]}]}})
        srv.write_config(srv.conf)
        rec = self.reload(srv)
        self.assertIsNotNone(rec, srv.logs())
        self.assertEqual(rec.get("sections"), "keys,saml" if new_key == {"added"} else "saml",
                         rec)
        self.assertEqual(rec.get("service_providers"), "app", rec)
        self.assertIn(new_key.pop(), rec.get("keys", ""), rec)
        self.assertNotIn("rules", rec)
        srv.stop()


if __name__ == "__main__":
    harness.main()
