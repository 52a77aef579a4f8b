#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""30: fedbroker serve refuses bad input before listening: exit 1, a clear
message naming what is wrong, nothing listening, nothing stored changed."""

import hashlib
import os
import socket
import sqlite3
import subprocess

import harness


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class ServeErrors(harness.TestCase):
    def fails(self, srv, timeout=30):
        """Starts srv, which must exit 1 by itself; returns its stdout+stderr."""
        srv.spawn()
        rc = srv.wait_exit(timeout)
        if rc is None:
            srv.kill()
            self.fail("serve did not exit on bad input\n" + srv.logs())
        out = srv.stdout() + srv.stderr()
        self.assertEqual(rc, 1, "exit status\n" + srv.logs())
        self.assertFalse(harness.port_listening(srv.port), "nothing listens after a failed start")
        for marker in ("AddressSanitizer", "runtime error:", "Segmentation"):
            self.assertNotIn(marker, out)
        return out

    def test_invalid_config(self):
        srv = self.server()
        srv.write_config(text="server:\n  workers: 2\n  listn: \"127.0.0.1:1\"\nlog:\n  level: loud\n")
        out = self.fails(srv)
        self.assertIn("%s:3:3: server.listn:" % srv.config, out)
        self.assertRegex(out, r"%s:5:\d+: log\.level: " % srv.config)
        self.assertNotIn("listening on", out)

    def test_broken_mapping(self):
        """A broken rule a service provider uses stops the start; one nobody uses is a warning."""
        srv = self.server()
        mdir = os.path.join(os.path.dirname(srv.config), "rules")
        os.makedirs(mdir, exist_ok=True)
        with open(os.path.join(mdir, "bad.py"), "w") as f:
            f.write("x = (1\n")
        srv.write_config(text="mappings:\n  dir: rules\n")
        srv.start()
        self.assertEqual(srv.http("GET", "/healthz").status, 200)
        srv.stop()
        warn = [l for l in srv.stderr().splitlines() if "bad.py:" in l]
        self.assertEqual(len(warn), 1, srv.logs())
        self.assertRegex(warn[0], r"level=warn .*rules/bad\.py:\d+:\d+: .*no service provider uses")
        srv = self.server()
        os.makedirs(os.path.join(os.path.dirname(srv.config), "rules"), exist_ok=True)
        with open(os.path.join(os.path.dirname(srv.config), "rules", "bad.py"), "w") as f:
            f.write("x = (1\n")
        srv.write_config(text="mappings:\n  dir: rules\nsaml:\n  service_providers:\n"
                         "    - name: app\n      entity_id: https://sp.example.test\n"
                         "      acs:\n        - url: https://sp.example.test/acs\n      attributes:\n"
                         "        - name: mail\n          mapping: bad\n")
        out = self.fails(srv)
        self.assertRegex(out, r"rules/bad\.py:\d+:\d+: ")
        self.assertNotIn("no service provider uses", out)
        self.assertNotIn("listening on", out)

    def test_missing_config_file(self):
        srv = self.server()
        os.unlink(srv.config)
        out = self.fails(srv)
        self.assertIn(srv.config, out)

    def key_conf(self, key_file, cert_file, passphrase=None):
        k = {"id": "k1", "key": key_file, "cert": cert_file}
        if passphrase is not None:
            k["passphrase"] = passphrase
        return {"keys": [k]}

    def test_garbage_key_file(self):
        key = os.path.join(harness.FIXTURE_KEYS, "garbage.pem")
        crt = os.path.join(harness.FIXTURE_KEYS, "rsa2048.crt.pem")
        srv = self.server(conf=self.key_conf(key, crt))
        out = self.fails(srv)
        self.assertIn(key, out)

    def test_missing_key_file(self):
        d = self.tmpdir()
        key = os.path.join(d, "absent.key.pem")
        crt = os.path.join(harness.FIXTURE_KEYS, "rsa2048.crt.pem")
        srv = self.server(conf=self.key_conf(key, crt))
        out = self.fails(srv)
        self.assertIn(key, out)

    def test_unreadable_key_file(self):
        # A directory where a file is expected cannot be read, even by root.
        d = self.tmpdir()
        key = os.path.join(d, "key-is-a-dir.pem")
        os.mkdir(key)
        crt = os.path.join(harness.FIXTURE_KEYS, "rsa2048.crt.pem")
        srv = self.server(conf=self.key_conf(key, crt))
        out = self.fails(srv)
        self.assertIn(key, out)

    def test_wrong_passphrase(self):
        d = self.tmpdir()
        pw = self.write(os.path.join(d, "pass"), "not-the-passphrase\n", 0o600)
        key = os.path.join(harness.FIXTURE_KEYS, "encrypted.key.pem")
        crt = os.path.join(harness.FIXTURE_KEYS, "encrypted.crt.pem")
        srv = self.server(conf=self.key_conf(key, crt, "file:" + pw))
        out = self.fails(srv)
        self.assertIn(key, out)
        self.assertNotIn("not-the-passphrase", out)

    def test_mismatched_certificate(self):
        key = os.path.join(harness.FIXTURE_KEYS, "mismatch.key.pem")
        crt = os.path.join(harness.FIXTURE_KEYS, "mismatch.crt.pem")
        srv = self.server(conf=self.key_conf(key, crt))
        out = self.fails(srv)
        self.assertTrue(key in out or crt in out, out)

    @harness.sqlite_only("the store file is not an SQLite database")
    def test_store_not_a_database(self):
        srv = self.server()
        db = os.path.join(srv.state_dir, "fedbroker.db")
        self.write(db, b"this is not an SQLite database\n" * 200, 0o600)
        before = digest(db)
        out = self.fails(srv)
        self.assertIn(db, out)
        self.assertEqual(digest(db), before, "the file is left byte-identical")

    @harness.sqlite_only("a newer schema is written with the sqlite3 module into the file")
    def test_store_schema_newer(self):
        srv = self.server()
        db = os.path.join(srv.state_dir, "fedbroker.db")
        c = sqlite3.connect(db)
        c.execute("CREATE TABLE precious (v TEXT)")
        c.execute("INSERT INTO precious VALUES ('keep me')")
        c.execute("PRAGMA user_version = 9999")
        c.commit()
        c.close()
        os.chmod(db, 0o600)
        before = digest(db)
        out = self.fails(srv)
        self.assertIn(db, out)
        self.assertIn("9999", out, "the message gives the version found")
        self.assertEqual(digest(db), before, "the file is left byte-identical")
        c = sqlite3.connect(db)
        self.assertEqual(c.execute("PRAGMA user_version").fetchone()[0], 9999)
        c.close()

    def test_port_in_use(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        srv = self.server()
        srv.port = s.getsockname()[1]
        srv.spawn()
        rc = srv.wait_exit(30)
        if rc is None:
            srv.kill()
            self.fail("serve did not exit when its port is taken\n" + srv.logs())
        out = srv.stdout() + srv.stderr()
        self.assertEqual(rc, 1, srv.logs())
        self.assertIn("127.0.0.1:%d" % srv.port, out)

    def test_bad_listen_flag(self):
        srv = self.server()
        srv.extra_args = ["--listen", "not-an-address"]
        srv.spawn()
        rc = srv.wait_exit(30)
        if rc is None:
            srv.kill()
            self.fail("serve did not exit\n" + srv.logs())
        self.assertIn(rc, (1, 2), srv.logs())
        self.assertIn("not-an-address", srv.stdout() + srv.stderr())

    def test_state_dir_is_a_file(self):
        srv = self.server()
        f = os.path.join(srv.dir, "plainfile")
        self.write(f, "x")
        srv.state_dir = f
        out = self.fails(srv)
        self.assertIn(f, out)


if __name__ == "__main__":
    harness.main()
