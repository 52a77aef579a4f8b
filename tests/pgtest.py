#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The private PostgreSQL server of the tests, and a stand-in for an old one.

The one PostgreSQL starter of the tests: the C unit tests (tests/unit/test_store.c
runs `pgtest.py serve`), 31-postgres.py, and the integration harness
(FB_TEST_STORE=postgres: one server per test process, pgtest.shared()).

    pg = pgtest.shared()        # the process-wide server (started on first use,
                                # stopped at exit); pgtest.fresh_dsn() is shared().fresh_dsn()
    pg = pgtest.Server().start()    # a server of one's own (stopped and started)
    pg.new_database()           # DSN of a new database owned by a new role (its password)
    pg.fresh_dsn()              # DSN of a new database, as the administrator
    pg.pg_ctl("stop"), pg.pg_ctl("start"), pg.running()   # same port, same data
    pg.stop()                   # stops it and removes its directory

The server is Debian's PostgreSQL (/usr/lib/postgresql/<ver>/bin, or FB_PG_BINDIR),
run in a temporary directory (Server.dir) on a free port of 127.0.0.1 with its unix
socket in that directory, as the invoking user (as `postgres` or `nobody` under
root: PostgreSQL refuses to run as root). Password (SCRAM) authentication
everywhere; ssl=on with a certificate for "localhost", "pg.test" and 127.0.0.1
signed by a CA made for the run (Server.ca_file). Nothing is written outside the
temporary directory.

CLI:
  pgtest.py serve      start a server; print "dsn <admin DSN>", "ca <CA file>",
                       "dir <directory>", "db <DSN of a fresh database with its own
                       role>" lines and "ready"; stop it and remove everything when
                       stdin closes (or on SIGTERM)
  pgtest.py oldserver  a stand-in that answers the start-up protocol as
                       PostgreSQL 9.6 would; prints "port N", serves until stdin closes
"""
import atexit
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading

ADMIN = "fbadmin"
INSTALL_HINT = "apt-get install -y postgresql"


class PgError(RuntimeError):
    pass


def bindir():
    """The directory of initdb/pg_ctl/postgres (FB_PG_BINDIR, else the newest
    /usr/lib/postgresql/<ver>/bin), or None when PostgreSQL is not installed."""
    env = os.environ.get("FB_PG_BINDIR")
    dirs = [env] if env else sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                                    key=lambda d: int(re.sub(r"\D", "", d) or 0), reverse=True)
    for d in dirs:
        if all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_user():
    """The unprivileged user the server runs as (None: the current user)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    raise PgError("pgtest: running as root and there is no postgres or nobody user")


def dsn_quote(v):
    v = str(v)
    if v and not re.search(r"[\s'\\]", v):
        return v
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


def dsn_fields(dsn):
    """A DSN's key=value fields as a dict (values unquoted)."""
    return {k: v.strip("'") for k, v in re.findall(r"(\w+)=('(?:[^'\\]|\\.)*'|\S*)", dsn)}


class Server:
    def __init__(self):
        self.bindir = bindir()
        self.dir = None
        self.port = None
        self.password = secrets.token_urlsafe(18)
        self.user = run_user()
        self.count = 0

    # -- paths
    @property
    def data(self):
        return os.path.join(self.dir, "data")

    @property
    def sock(self):
        return os.path.join(self.dir, "sock")

    @property
    def ca_file(self):
        return os.path.join(self.dir, "ca.crt")

    def _as_user(self, argv, **kw):
        if self.user is not None:
            argv = ["runuser", "-u", self.user.pw_name, "--"] + argv
        return subprocess.run(argv, check=True, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              stderr=subprocess.STDOUT, text=True, timeout=120, **kw)

    def _certs(self):
        t = self.dir
        ssl = lambda *a: subprocess.run(["openssl"] + list(a), check=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", "/CN=fedbroker pgtest CA", "-keyout", t + "/ca.key",
            "-out", t + "/ca.crt")
        with open(t + "/ext.cnf", "w") as f:
            f.write("subjectAltName=DNS:localhost,DNS:pg.test,IP:127.0.0.1\n")
        ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=pg.test", "-keyout", self.data + "/server.key",
            "-out", t + "/server.csr")
        ssl("x509", "-req", "-in", t + "/server.csr", "-CA", t + "/ca.crt", "-CAkey",
            t + "/ca.key", "-CAcreateserial", "-days", "2", "-extfile", t + "/ext.cnf",
            "-out", self.data + "/server.crt")
        # A second CA that signed nothing: a client trusting it must refuse the server.
        ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", "/CN=other CA", "-keyout", t + "/other.key",
            "-out", t + "/other-ca.crt")
        os.chmod(self.data + "/server.key", 0o600)
        if self.user is not None:
            for f in ("server.key", "server.crt"):
                os.chown(os.path.join(self.data, f), self.user.pw_uid, self.user.pw_gid)

    def start(self):
        if self.bindir is None:
            raise PgError("pgtest: no PostgreSQL server found under /usr/lib/postgresql (%s)"
                          % INSTALL_HINT)
        self.dir = tempfile.mkdtemp(prefix="fb-pgtest-")
        atexit.register(self.stop)
        os.chmod(self.dir, 0o755)
        os.mkdir(self.sock)
        os.mkdir(self.data, 0o700)
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        if self.user is not None:
            for p in (self.sock, self.data, pwfile):
                os.chown(p, self.user.pw_uid, self.user.pw_gid)
        self._as_user([self.bindir + "/initdb", "-D", self.data, "-U", ADMIN,
                       "--auth=scram-sha-256", "--pwfile=" + pwfile, "-E", "UTF8",
                       "--locale=C.UTF-8", "--no-sync"])
        os.unlink(pwfile)
        self._certs()
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = '127.0.0.1'\n"
                    "unix_socket_directories = '%s'\n"
                    "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                    "password_encryption = 'scram-sha-256'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                    "max_connections = 200\nshared_buffers = 32MB\n"
                    "log_min_messages = fatal\n" % self.sock)
        self.port = free_port()
        self.pg_ctl("start", first=True)
        return self

    def pg_ctl(self, what, timeout=60, first=False):
        """pg_ctl start|stop|restart on the same data directory and port (failure tests)."""
        argv = [self.bindir + "/pg_ctl", "-D", self.data, "-w", "-t", str(int(timeout)),
                "-l", os.path.join(self.data, "server.log")]
        if what != "stop":
            argv += ["-o", "-p %d" % self.port, what]
        else:
            argv += ["-m", "fast", what]
        for _ in range(3):
            try:
                return self._as_user(argv)
            except subprocess.CalledProcessError as e:
                if not first:
                    raise PgError("pgtest: pg_ctl %s: %s" % (what, e.stdout))
                # The port was taken meanwhile (first start only): another one.
                self.port = free_port()
                argv[-2] = "-p %d" % self.port
        raise PgError("pgtest: the server would not start; see %s/server.log" % self.data)

    def running(self):
        return self.dir is not None and os.path.exists(os.path.join(self.data, "postmaster.pid"))

    def stop_server(self):
        """Stops the server, keeping its data (start_server starts it again)."""
        self.pg_ctl("stop")

    def start_server(self):
        self.pg_ctl("start")

    def stop(self):
        if self.dir is None:
            return
        try:
            if self.running():
                self.pg_ctl("stop")
        except (PgError, subprocess.TimeoutExpired):
            try:
                with open(os.path.join(self.data, "postmaster.pid")) as f:
                    os.kill(int(f.readline()), signal.SIGQUIT)
            except (OSError, ValueError):
                pass
        finally:
            if not os.environ.get("FB_KEEP_TMP"):
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # -- connection strings
    def dsn(self, dbname="postgres", host="127.0.0.1", **extra):
        parts = {"host": host, "port": self.port, "user": ADMIN, "password": self.password,
                 "dbname": dbname}
        parts.update(extra)
        return " ".join("%s=%s" % (k, dsn_quote(v)) for k, v in parts.items())

    def psql(self, sql, dbname="postgres"):
        """Runs sql as the administrator; its output (unaligned, tuples only)."""
        env = dict(os.environ, PGPASSWORD=self.password)
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                            "127.0.0.1", "-p", str(self.port), "-U", ADMIN, "-d", dbname,
                            "-c", sql], env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, timeout=120)
        if r.returncode != 0:
            raise PgError("pgtest: psql: %s" % r.stderr.strip())
        return r.stdout.strip()

    def _new_name(self):
        self.count += 1
        return "fb_%d_%d_%s" % (os.getpid(), self.count, secrets.token_hex(3))

    def fresh_dsn(self, **extra):
        """The DSN of a new, empty database, as the administrator."""
        name = self._new_name()
        self.psql("CREATE DATABASE %s" % name)
        return self.dsn(dbname=name, **extra)

    def new_database(self):
        """The DSN of a new, empty database owned by a new role (not a superuser) with
        its own password, over TCP: what a deployment gives fedbroker."""
        name = self._new_name()
        pw = secrets.token_urlsafe(18)
        self.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (name, pw))
        self.psql("CREATE DATABASE %s OWNER %s" % (name, name))
        return self.dsn(dbname=name, user=name, password=pw)


_shared = None


def shared():
    """The server shared by this process (started on first use, stopped at exit)."""
    global _shared
    if _shared is None:
        _shared = Server().start()
    return _shared


def fresh_dsn(**extra):
    """The DSN of a new, empty database on the shared server: what a test that only
    needs a PostgreSQL store calls."""
    return shared().fresh_dsn(**extra)


# ---- the stand-in for an old server -------------------------------------------

def _msg(kind, payload=b""):
    return kind + struct.pack("!I", len(payload) + 4) + payload


def _serve_old(conn, version):
    try:
        while True:
            head = conn.recv(8, socket.MSG_WAITALL)
            if len(head) < 8:
                return
            n, code = struct.unpack("!II", head)
            body = conn.recv(n - 8, socket.MSG_WAITALL) if n > 8 else b""
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest: no
                conn.sendall(b"N")
                continue
            break
        params = b""
        for k, v in (("server_version", version), ("server_encoding", "UTF8"),
                     ("client_encoding", "UTF8"), ("DateStyle", "ISO, MDY"),
                     ("integer_datetimes", "on"), ("standard_conforming_strings", "on")):
            params += _msg(b"S", k.encode() + b"\0" + v.encode() + b"\0")
        conn.sendall(_msg(b"R", struct.pack("!I", 0)) + params +
                     _msg(b"K", struct.pack("!II", 4242, 1)) + _msg(b"Z", b"I"))
        # Any query: an error, as a server would give for what it does not know.
        while True:
            head = conn.recv(5, socket.MSG_WAITALL)
            if len(head) < 5 or head[:1] == b"X":
                return
            n = struct.unpack("!I", head[1:])[0]
            conn.recv(n - 4, socket.MSG_WAITALL)
            if head[:1] in (b"Q", b"S"):
                conn.sendall(_msg(b"E", b"SERROR\0C0A000\0Mstand-in\0\0") + _msg(b"Z", b"I"))
    except OSError:
        return
    finally:
        conn.close()


def old_server(version="9.6.24"):
    """Listens on a free port of 127.0.0.1 in a thread; returns (socket, port)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)

    def loop():
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            threading.Thread(target=_serve_old, args=(c, version), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return s, s.getsockname()[1]


def main(argv):
    if len(argv) < 2 or argv[1] not in ("serve", "oldserver"):
        sys.stderr.write(__doc__)
        return 2
    if argv[1] == "oldserver":
        s, port = old_server()
        print("port %d" % port, flush=True)
        sys.stdin.read()
        s.close()
        return 0
    pg = Server()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    try:
        pg.start()
        print("dsn %s" % pg.dsn(), flush=True)
        print("ca %s" % pg.ca_file, flush=True)
        print("dir %s" % pg.dir, flush=True)
        print("db %s" % pg.new_database(), flush=True)
        print("ready", flush=True)
        sys.stdin.read()
    finally:
        pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
