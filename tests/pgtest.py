#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A private PostgreSQL server for the tests, and a stand-in for an old one.

Used by the C unit tests (tests/unit/test_store.c runs `pgtest.py serve`) and
the python integration harness (import pgtest; dsn = pgtest.fresh_dsn() for a new
database on a server shared by the process, or pg = pgtest.Server().start() for a
server of one's own to stop and start; pg.fresh_dsn()).

The server is Debian's PostgreSQL (/usr/lib/postgresql/<ver>/bin), run in a
temporary data directory on a free port of 127.0.0.1 with its unix socket in
that directory, as the invoking user (as `postgres` or `nobody` under root:
PostgreSQL refuses to run as root). Password (SCRAM) authentication
everywhere; ssl=on with a certificate for "localhost", "pg.test" and
127.0.0.1 signed by a CA made for the run (Server.ca_file). Nothing is
written outside the temporary directory.

CLI:
  pgtest.py serve      start a server; print "dsn <admin DSN>", "ca <CA file>",
                       "dir <data directory>" lines and "ready"; stop it and
                       remove everything when stdin closes (or on SIGTERM)
  pgtest.py oldserver  a stand-in that answers the start-up protocol as
                       PostgreSQL 9.6 would; prints "port N", serves until stdin closes
"""
import atexit
import glob
import os
import pwd
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


def pg_bindir():
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(d, "postgres")):
            return d
    raise RuntimeError("pgtest: no PostgreSQL server found under /usr/lib/postgresql "
                       "(apt-get install postgresql)")


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
    raise RuntimeError("pgtest: running as root and there is no postgres or nobody user")


def dsn_quote(v):
    return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"


class Server:
    def __init__(self):
        self.bindir = pg_bindir()
        self.top = None
        self.port = None
        self.password = secrets.token_urlsafe(18)
        self.user = run_user()
        self.count = 0

    # -- paths
    @property
    def data(self):
        return os.path.join(self.top, "data")

    @property
    def sock(self):
        return os.path.join(self.top, "sock")

    @property
    def ca_file(self):
        return os.path.join(self.top, "ca.crt")

    def _as_user(self, argv, **kw):
        if self.user is not None:
            argv = ["runuser", "-u", self.user.pw_name, "--"] + argv
        return subprocess.run(argv, check=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, **kw)

    def _certs(self):
        t = self.top
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
        self.top = tempfile.mkdtemp(prefix="fb-pgtest-")
        os.chmod(self.top, 0o755)
        os.mkdir(self.sock)
        os.mkdir(self.data, 0o700)
        pwfile = os.path.join(self.top, "pw")
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
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                    "max_connections = 200\nshared_buffers = 32MB\n"
                    "log_min_messages = fatal\n" % self.sock)
        self.port = free_port()
        self._ctl("start")
        return self

    def _ctl(self, what):
        argv = [self.bindir + "/pg_ctl", "-D", self.data, "-w", "-t", "60",
                "-l", os.path.join(self.data, "server.log")]
        if what == "start":
            argv += ["-o", "-p %d" % self.port, "start"]
        else:
            argv += ["-m", "fast", what]
        for _ in range(3):
            try:
                self._as_user(argv)
                return
            except subprocess.CalledProcessError as e:
                if what != "start":
                    raise RuntimeError("pgtest: pg_ctl %s: %s" % (what, e.stdout))
                # The port was taken meanwhile: another one.
                self.port = free_port()
                argv[-2] = "-p %d" % self.port
        raise RuntimeError("pgtest: the server would not start; see %s/server.log" % self.data)

    def stop_server(self):
        """Stops the server, keeping its data (restart with start_server)."""
        self._ctl("stop")

    def start_server(self):
        self._ctl("start")

    def stop(self):
        if self.top is None:
            return
        try:
            if os.path.exists(os.path.join(self.data, "postmaster.pid")):
                self._ctl("stop")
        finally:
            shutil.rmtree(self.top, ignore_errors=True)
            self.top = None

    # -- connection strings
    def dsn(self, dbname="postgres", host="127.0.0.1", **extra):
        parts = {"host": host, "port": self.port, "user": ADMIN, "password": self.password,
                 "dbname": dbname}
        parts.update(extra)
        return " ".join("%s=%s" % (k, dsn_quote(v)) for k, v in parts.items())

    def psql(self, sql, dbname="postgres"):
        env = dict(os.environ, PGPASSWORD=self.password)
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                            "127.0.0.1", "-p", str(self.port), "-U", ADMIN, "-d", dbname,
                            "-c", sql], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise RuntimeError("pgtest: psql: %s" % r.stderr.strip())
        return r.stdout.strip()

    def fresh_dsn(self, **extra):
        """The DSN of a new, empty database."""
        self.count += 1
        name = "fb_%d_%d_%s" % (os.getpid(), self.count, secrets.token_hex(3))
        self.psql("CREATE DATABASE %s" % name)
        return self.dsn(dbname=name, **extra)


_shared = None


def fresh_dsn(**extra):
    """The DSN of a new, empty database on a server shared by this process (started on
    first use, stopped at exit): what a test that only needs a PostgreSQL store calls."""
    global _shared
    if _shared is None:
        _shared = Server().start()
        atexit.register(_shared.stop)
    return _shared.fresh_dsn(**extra)


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
        print("dir %s" % pg.top, flush=True)
        print("ready", flush=True)
        sys.stdin.read()
    finally:
        pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
