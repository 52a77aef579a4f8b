#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A throwaway PostgreSQL server for the tests (standard library only).

Debian's postgresql-15 binaries, a temporary data directory, a free port on
127.0.0.1 with scram-sha-256 password authentication, and the unix socket in
the temporary directory. It runs as an unprivileged user: as root (CI), the
server runs as 'postgres' through runuser and the temporary directory is
handed to it. stop() stops it and removes the directory; it is also called at
interpreter exit, so a failing test run never leaves a server behind.

    srv = PgServer(); srv.start()
    dsn = srv.new_database()   # a fresh database and its own role
    ...
    srv.stop()

CLI: `pgserver.py` starts a server, prints a DSN of a fresh database on the
first line and waits until stdin closes (or SIGTERM/SIGINT), then stops it.
"""

import atexit
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PG_BINDIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
              "/usr/lib/postgresql/17/bin")
INSTALL_HINT = "apt-get install -y postgresql"


def bindir():
    """The directory of initdb/pg_ctl/postgres, or None when PostgreSQL is not installed."""
    env = os.environ.get("FB_PG_BINDIR")
    for d in ((env,) if env else PG_BINDIRS):
        if os.access(os.path.join(d, "initdb"), os.X_OK) and \
                os.access(os.path.join(d, "pg_ctl"), os.X_OK):
            return d
    return None


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PgError(Exception):
    pass


class PgServer:
    """One PostgreSQL server: start(), new_database() -> dsn, stop()."""

    def __init__(self, user="postgres"):
        self.bin = bindir()
        self.dir = None
        self.data = None
        self.port = None
        self.password = None
        self.proc_log = None
        self.ndb = 0
        # As root, run the server as an unprivileged user (PostgreSQL refuses root).
        self.run_as = user if os.geteuid() == 0 else None

    # -- commands run as the server's user
    def _cmd(self, args):
        if self.run_as is not None:
            return ["runuser", "-u", self.run_as, "--"] + list(args)
        return list(args)

    def _run(self, args, **kw):
        cp = subprocess.run(self._cmd(args), capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL, **kw)
        if cp.returncode != 0:
            raise PgError("%s failed (%d): %s%s" % (" ".join(args[:2]), cp.returncode,
                                                    cp.stdout, cp.stderr))
        return cp

    def psql(self, sql, db="postgres"):
        """Runs sql as the superuser over the unix socket; stdout."""
        return self._run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.dir,
                          "-p", str(self.port), "-U", "postgres", "-d", db, "-At",
                          "-c", sql]).stdout

    def start(self, timeout=60.0):
        if self.bin is None:
            raise PgError("PostgreSQL is not installed (%s)" % INSTALL_HINT)
        self.dir = tempfile.mkdtemp(prefix="fbpg-")
        atexit.register(self.stop)
        if self.run_as is not None:
            pw = pwd.getpwnam(self.run_as)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            # The path down to the directory must be searchable by that user.
            os.chmod(self.dir, 0o700)
        self.data = os.path.join(self.dir, "data")
        self.password = secrets.token_urlsafe(18)
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        if self.run_as is not None:
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        os.chmod(pwfile, 0o600)
        self._run([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                   "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=" + pwfile,
                   "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        os.unlink(pwfile)
        self.port = _free_port()
        # In postgresql.conf, so that a restart (pg_ctl) keeps them.
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = '127.0.0.1'\nport = %d\n"
                    "unix_socket_directories = '%s'\nfsync = off\n"
                    "synchronous_commit = off\nfull_page_writes = off\n"
                    "max_connections = 200\npassword_encryption = 'scram-sha-256'\n"
                    % (self.port, self.dir))
        self.proc_log = os.path.join(self.dir, "postgres.log")
        self.pg_ctl("start", timeout)
        return self

    def new_database(self):
        """A fresh database owned by a fresh role with a password: its DSN (TCP, scram)."""
        self.ndb += 1
        name = "fb%d_%s" % (self.ndb, secrets.token_hex(4))
        pw = secrets.token_urlsafe(18)
        self.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (name, pw))
        self.psql("CREATE DATABASE %s OWNER %s" % (name, name))
        return "host=127.0.0.1 port=%d dbname=%s user=%s password=%s" % (
            self.port, name, name, pw)

    def running(self):
        return self.data is not None and os.path.exists(os.path.join(self.data,
                                                                     "postmaster.pid"))

    def pg_ctl(self, action, timeout=60):
        """pg_ctl stop|start|restart on the same data directory (failure tests)."""
        if action == "stop":
            return self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m",
                              "fast", "-w", "-t", str(timeout), "stop"])
        return self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l",
                          self.proc_log, "-w", "-t", str(int(timeout)), action])

    def stop(self):
        if self.dir is None:
            return
        try:
            if self.running():
                self.pg_ctl("stop")
        except (PgError, subprocess.TimeoutExpired):
            pidfile = os.path.join(self.data, "postmaster.pid")
            try:
                with open(pidfile) as f:
                    os.kill(int(f.readline()), signal.SIGQUIT)
            except (OSError, ValueError):
                pass
        if not os.environ.get("FB_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None


def main():
    srv = PgServer()
    try:
        srv.start()
    except PgError as e:
        sys.stderr.write("pgserver: %s\n" % e)
        return 1
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    try:
        print(srv.new_database(), flush=True)
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
