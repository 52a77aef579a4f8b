#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""06: the PostgreSQL starter of the tests (tests/pgtest.py) works: a server
on a private port and data directory, as an unprivileged user, a fresh database
per call reachable with its DSN by psql over TCP with a scram password (and not
without it), and nothing left behind once stopped; the CLI prints a DSN."""

import os
import subprocess
import sys

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests"))
import pgtest  # noqa: E402


dsn_fields = pgtest.dsn_fields


def psql(dsn, sql, password=True):
    d = dsn_fields(dsn)
    env = dict(os.environ)
    env.pop("PGPASSWORD", None)
    if password:
        env["PGPASSWORD"] = d["password"]
    return subprocess.run(["psql", "-X", "-At", "-w", "-h", d["host"], "-p", d["port"],
                           "-U", d["user"], "-d", d["dbname"], "-c", sql],
                          capture_output=True, text=True, env=env, timeout=60,
                          stdin=subprocess.DEVNULL)


class PgTest(harness.TestCase):
    def setUp(self):
        super().setUp()
        if pgtest.bindir() is None:
            raise harness.peer_missing("PostgreSQL (%s)" % pgtest.INSTALL_HINT)

    def test_start_connect_stop(self):
        srv = pgtest.Server()
        self.addCleanup(srv.stop)
        srv.start()
        a, b = srv.new_database(), srv.new_database()
        self.assertNotEqual(dsn_fields(a)["dbname"], dsn_fields(b)["dbname"])
        cp = psql(a, "SELECT current_user || ' ' || current_database()")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        f = dsn_fields(a)
        self.assertEqual(cp.stdout.strip(), "%s %s" % (f["user"], f["dbname"]))
        self.assertEqual(f["host"], "127.0.0.1")
        # The owner may create tables in its database.
        cp = psql(a, "CREATE TABLE t (v text); INSERT INTO t VALUES ('x'); SELECT count(*) FROM t")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(cp.stdout.strip().splitlines()[-1], "1")
        # Password authentication over TCP: no password, no connection.
        cp = psql(a, "SELECT 1", password=False)
        self.assertNotEqual(cp.returncode, 0, cp.stdout)
        self.assertIn("password", cp.stderr)
        self.assertEqual(srv.psql("SHOW password_encryption").strip(), "scram-sha-256")
        # Not the superuser, and not run as root.
        cp = psql(a, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        self.assertEqual(cp.stdout.strip(), "f")
        with open(os.path.join(srv.data, "postmaster.pid")) as fpid:
            pid = int(fpid.readline())
        self.assertNotEqual(os.stat("/proc/%d" % pid).st_uid, 0, "the server does not run as root")
        # Stopped and started again (the failure tests): same port, same data.
        srv.pg_ctl("stop")
        self.assertFalse(srv.running())
        self.assertNotEqual(psql(a, "SELECT 1").returncode, 0, "stopped")
        srv.pg_ctl("start")
        cp = psql(a, "SELECT count(*) FROM t")
        self.assertEqual((cp.returncode, cp.stdout.strip()), (0, "1"), cp.stderr)
        d = srv.dir
        srv.stop()
        self.assertFalse(os.path.exists(d), "the temporary directory is removed")
        self.assertNotEqual(psql(a, "SELECT 1").returncode, 0, "the server is stopped")

    def test_cli_prints_a_dsn_and_stops_when_stdin_closes(self):
        p = subprocess.Popen([sys.executable, os.path.join(harness.SRCDIR, "tests",
                                                           "pgtest.py"), "serve"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        lines = {}
        for line in p.stdout:
            if line.strip() == "ready":
                break
            k, v = line.strip().split(" ", 1)
            lines[k] = v
        self.assertEqual(sorted(lines), ["ca", "db", "dir", "dsn"])
        self.assertTrue(os.path.exists(lines["ca"]))
        dsn = lines["db"]
        self.assertIn("dbname=", dsn)
        admin = dsn_fields(lines["dsn"])
        self.assertNotEqual(admin["user"], dsn_fields(dsn)["user"], "a role of its own")
        cp = psql(dsn, "SELECT 41 + 1")
        self.assertEqual((cp.returncode, cp.stdout.strip()), (0, "42"), cp.stderr)
        p.stdin.close()
        self.assertEqual(p.wait(60), 0)
        self.assertNotEqual(psql(dsn, "SELECT 1").returncode, 0, "stopped at exit")
        self.assertFalse(os.path.exists(lines["dir"]), "its directory is removed")

    def test_shared_is_one_server_per_process(self):
        a = pgtest.shared()
        self.assertIs(pgtest.shared(), a)
        self.assertTrue(a.running())
        cp = psql(pgtest.fresh_dsn(), "SELECT current_database()")
        self.assertEqual(cp.returncode, 0, cp.stderr)

    @harness.unittest.skipIf(harness.STORE != "postgres", "the postgres run only")
    def test_harness_gives_each_server_its_own_database(self):
        a, b = harness.Server(self), harness.Server(self)
        self.assertEqual(a.conf["store"]["driver"], "postgres")
        da = open(a.conf["store"]["dsn"][5:]).read()
        db = open(b.conf["store"]["dsn"][5:]).read()
        self.assertNotEqual(dsn_fields(da)["dbname"], dsn_fields(db)["dbname"])
        self.assertEqual(psql(da, "SELECT 1").returncode, 0)
        # Server.store_sql reaches the same database, qmark parameters quoted.
        a.store_sql("CREATE TABLE t (k text, n integer)")
        self.assertEqual(a.store_sql("INSERT INTO t VALUES (?, ?)", ("it's", 7))[0], 1)
        self.assertEqual(a.store_sql("UPDATE t SET n = ? WHERE k = ?", (8, "it's"))[0], 1)
        self.assertEqual(a.store_sql("SELECT k, n FROM t")[1], [("it's", "8")])
        self.assertEqual(psql(db, "SELECT count(*) FROM pg_tables WHERE tablename = 't'")
                         .stdout.strip(), "0", "not in the other server's database")


if __name__ == "__main__":
    harness.main()
