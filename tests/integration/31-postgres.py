#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""31: store.driver postgres against a private PostgreSQL server (tests/pgtest.py):
serve and the command line work on it; a wrong password, an unreachable or too
old server stop serve and check-config with a clear message and no password in
any output, before anything is created (issue 10: the state directory and
keys were made before the store failed); /readyz follows the server going away
and coming back without a restart, and a sign-in meanwhile answers 503 with
Retry-After."""
import os
import sqlite3
import subprocess
import sys
import threading
import time

import harness
import webclient

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests"))
import pgtest  # noqa: E402

PASSWORD = "correct horse battery staple"


def cli(srv, *args, stdin=None):
    return subprocess.run([harness.BIN] + list(args) + ["--config", srv.config, "--state-dir",
                                                        srv.state_dir],
                          input=stdin, capture_output=True, text=True, timeout=60, env=srv.env)


class Postgres(harness.TestCase):
    pg = None

    @classmethod
    def setUpClass(cls):
        cls.pg = pgtest.shared()

    def latest(self):
        """The schema version this binary migrates to: a new SQLite store's."""
        srv = self.server(conf={"store": None})
        cp = cli(srv, "user", "list", "--init")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        db = sqlite3.connect(os.path.join(srv.state_dir, "fedbroker.db"))
        try:
            return db.execute("PRAGMA user_version").fetchone()[0]
        finally:
            db.close()

    def pg_server(self, dsn, workers=2, **store):
        conf = {"store": dict({"driver": "postgres", "dsn": "env:FB_TEST_DSN"}, **store),
                "local": {"bootstrap": {"enabled": False}}}
        conf.update(harness.replica_conf(self.tmpdir()))
        return self.server(conf=conf, env={"FB_TEST_DSN": dsn}, workers=workers)

    def refused(self, srv, want, secret):
        """serve and check-config both stop on srv's store, naming want, never secret."""
        os.rmdir(srv.state_dir)
        srv.spawn()
        rc = srv.wait_exit(60)
        if rc is None:
            srv.kill()
            self.fail("serve did not exit\n" + srv.logs())
        out = srv.stdout() + srv.stderr()
        self.assertEqual(rc, 1, out)
        self.assertIn(want, out)
        self.assertNotIn(secret, out)
        self.assertFalse(os.path.exists(srv.state_dir), "serve created the state directory")
        cp = subprocess.run([harness.BIN, "check-config", srv.config], capture_output=True,
                            text=True, timeout=60, env=srv.env)
        self.assertNoCrash(cp, "check-config")
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertRegex(cp.stdout + cp.stderr, r"%s:\d+:\d+: store\.dsn: " % srv.config)
        self.assertIn(want, cp.stdout + cp.stderr)
        self.assertNotIn(secret, cp.stdout + cp.stderr)
        self.assertFalse(os.path.exists(srv.state_dir))

    def test_serve_and_cli_on_postgres(self):
        dsn = self.pg.fresh_dsn()
        srv = self.pg_server(dsn)
        cp = subprocess.run([harness.BIN, "check-config", srv.config], capture_output=True,
                            text=True, timeout=60, env=srv.env)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        cp = cli(srv, "user", "add", "ann", "--init", "--password-stdin", stdin=PASSWORD + "\n")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        db = dsn.split("dbname=")[1].strip("'")
        self.assertEqual(self.pg.psql("SELECT version FROM fedbroker_schema", db),
                         str(self.latest()), "the same schema version as SQLite's")
        self.assertEqual(self.pg.psql("SELECT username FROM users", db), "ann")
        srv.start()
        self.assertEqual(srv.http("GET", "/readyz").status, 200)
        b = webclient.Browser("127.0.0.1", srv.port)
        self.assertEqual(b.login("ann", PASSWORD).status, 303)
        srv.stop()
        self.assertNotIn(self.pg.password, srv.logs())

    def test_one_connection_per_process(self):
        """store.pool_size is accepted with a warning and changes nothing: a worker is one
        event loop making one synchronous store call at a time, so each process holds one
        connection (each worker, the jobs process; the master only while it starts or
        reloads), however many requests come at once."""
        dsn = self.pg.fresh_dsn()
        db = dsn.split("dbname=")[1].strip("'")
        srv = self.pg_server(dsn, workers=3, pool_size=4)
        cp = subprocess.run([harness.BIN, "check-config", srv.config], capture_output=True,
                            text=True, timeout=60, env=srv.env)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertRegex(cp.stdout + cp.stderr, r"store\.pool_size: warning: 4 is ignored: "
                         r"each worker and the jobs process holds one connection")
        cp = cli(srv, "user", "add", "ann", "--init", "--password-stdin", stdin=PASSWORD + "\n")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        srv.start()
        self.assertIn("store.pool_size: warning: 4 is ignored", srv.logs())
        # Sign-ins from 12 clients at once, spread over the workers.
        results = []

        def signin():
            results.append(webclient.Browser("127.0.0.1", srv.port).login("ann", PASSWORD).status)

        threads = [threading.Thread(target=signin) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(results, [303] * 12)
        procs = [srv.proc.pid] + harness.children_of(srv.proc.pid)
        self.assertEqual(len(procs), 5, "the master, 3 workers, the jobs process")
        rows = self.pg.psql("SELECT pid FROM pg_stat_activity WHERE application_name ="
                            " 'fedbroker' AND datname = '%s'" % db).split()
        self.assertEqual(len(rows), len(procs) - 1, "none for the master once started")
        srv.stop()

    def test_cli_does_not_create_a_store(self):
        """Without --init a command refuses a database fedbroker has not used (a mistyped
        DSN must not start an empty second store), and leaves it empty."""
        dsn = self.pg.fresh_dsn()
        srv = self.pg_server(dsn)
        db = dsn.split("dbname=")[1].strip("'")
        cp = cli(srv, "user", "list")
        self.assertNotEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertIn("no store in the PostgreSQL database of store.dsn (configuration: %s)"
                      % srv.config, cp.stderr)
        self.assertNotIn(self.pg.password, cp.stdout + cp.stderr)
        self.assertEqual(self.pg.psql("SELECT to_regclass('fedbroker_schema') IS NULL", db), "t")
        cp = cli(srv, "user", "list", "--init")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertEqual(self.pg.psql("SELECT version FROM fedbroker_schema", db),
                         str(self.latest()))

    def test_wrong_password(self):
        dsn = self.pg.fresh_dsn(password="WrongPw-31337")
        self.refused(self.pg_server(dsn), "password authentication failed for user", "WrongPw-31337")

    def test_unreachable(self):
        port = harness.free_port()
        dsn = "host=127.0.0.1 port=%d user=fb password=Unreach-4242 dbname=fb" % port
        self.refused(self.pg_server(dsn), "cannot connect to postgres://fb@127.0.0.1:%d/fb" % port,
                     "Unreach-4242")

    def test_remote_without_verify_full(self):
        dsn = "host=db.example.org user=fb password=Remote-777 sslmode=require dbname=fb"
        self.refused(self.pg_server(dsn), "needs sslmode=verify-full", "Remote-777")

    def test_old_server(self):
        sock, port = pgtest.old_server()
        self.addCleanup(sock.close)
        dsn = "host=127.0.0.1 port=%d user=fb password=Old-96-pw dbname=fb" % port
        self.refused(self.pg_server(dsn),
                     "PostgreSQL server version 9.6.24 is too old; fedbroker needs PostgreSQL 13",
                     "Old-96-pw")

    def test_newer_schema(self):
        dsn = self.pg.fresh_dsn()
        srv = self.pg_server(dsn)
        cp = cli(srv, "user", "add", "ann", "--init", "--password-stdin", stdin=PASSWORD + "\n")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        db = dsn.split("dbname=")[1].strip("'")
        self.pg.psql("UPDATE fedbroker_schema SET version = 42", db)
        self.refused(srv, "schema version 42 is newer than this fedbroker (%d); refusing to touch "
                     "it" % self.latest(), self.pg.password)
        self.assertEqual(self.pg.psql("SELECT username FROM users", db), "ann")
        self.assertEqual(self.pg.psql("SELECT version FROM fedbroker_schema", db), "42")


class PostgresOutage(harness.TestCase):
    """A server of its own, stopped and started under a running broker."""

    def setUp(self):
        super().setUp()
        self.pg = pgtest.Server().start()
        self.addCleanup(self.pg.stop)

    def wait_ready(self, srv, status, within):
        deadline = time.monotonic() + within
        got = None
        while time.monotonic() < deadline:
            got = srv.http("GET", "/readyz").status
            if got == status:
                return time.monotonic()
            time.sleep(0.1)
        self.fail("/readyz stayed %r, not %d, for %.0f s\n%s" % (got, status, within, srv.logs()))

    def test_readyz_follows_postgres(self):
        dsn = self.pg.fresh_dsn()
        conf = {"store": {"driver": "postgres", "dsn": "env:FB_TEST_DSN", "connect_timeout": "2s"},
                "local": {"bootstrap": {"enabled": False}}}
        conf.update(harness.replica_conf(self.tmpdir()))
        srv = self.server(conf=conf, env={"FB_TEST_DSN": dsn}, workers=1)
        cp = cli(srv, "user", "add", "ann", "--init", "--password-stdin", stdin=PASSWORD + "\n")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        srv.start()
        self.assertEqual(srv.http("GET", "/readyz").status, 200)
        signed_in = webclient.Browser("127.0.0.1", srv.port)
        self.assertEqual(signed_in.login("ann", PASSWORD).status, 303)
        self.assertEqual(signed_in.get("/").status, 200)
        b = webclient.Browser("127.0.0.1", srv.port)
        form = b.get("/login")
        t0 = time.monotonic()
        self.pg.stop_server()
        self.assertLess(self.wait_ready(srv, 503, 10) - t0, 5, "/readyz took too long to fail")
        self.assertIsNotNone(srv.http("GET", "/readyz").header("Retry-After"))
        # A sign-in needs the store: 503 with Retry-After, not a wrong-password page.
        r = b.submit(form, "/login", {"username": "ann", "password": PASSWORD})
        self.assertEqual(r.status, 503)
        self.assertIsNotNone(r.header("Retry-After"))
        # So does a page with a session (its revocation is checked): not a sign-in page.
        r = signed_in.get("/")
        self.assertEqual(r.status, 503)
        self.assertIsNotNone(r.header("Retry-After"))
        self.assertEqual(srv.http("GET", "/healthz").status, 200, "the process itself is alive")
        self.pg.start_server()
        self.wait_ready(srv, 200, 15)
        self.assertEqual(b.login("ann", PASSWORD).status, 303)
        self.assertEqual(signed_in.get("/").status, 200, "the session outlived the outage")
        # Connections ended under it (pg_terminate_backend): a call fails, the next reconnects.
        ended = self.pg.psql("SELECT count(pg_terminate_backend(pid, 10000)) FROM"
                             " pg_stat_activity WHERE application_name = 'fedbroker'")
        self.assertGreaterEqual(int(ended), 1)
        self.wait_ready(srv, 200, 10)
        self.assertEqual(signed_in.get("/").status, 200)
        srv.stop()


if __name__ == "__main__":
    harness.main()
