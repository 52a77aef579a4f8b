# SPDX-License-Identifier: Apache-2.0
"""Integration harness: runs the real fedbroker binary over real loopback sockets.

Standard library only (run with /usr/bin/python3). Each test gets its own
temporary state directory and configuration file; Server starts
`fedbroker serve`, waits for /healthz and stops it with SIGTERM.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(HERE, "data")
FIXTURE_KEYS = os.path.join(SRCDIR, "tests", "fixtures", "keys")


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ThreadSanitizer", "Segmentation fault")


def find_binary():
    """The binary under test: $FEDBROKER_BIN, else $abs_top_builddir/src/fedbroker."""
    b = os.environ.get("FEDBROKER_BIN")
    if b:
        return os.path.abspath(b)
    top = os.environ.get("abs_top_builddir")
    if top:
        return os.path.join(top, "src", "fedbroker")
    # Run by automake from the top build dir.
    if os.path.exists(os.path.join(os.getcwd(), "src", "fedbroker")):
        return os.path.abspath(os.path.join("src", "fedbroker"))
    # Run from inside a build dir's tests/integration: ../../src/fedbroker.
    return os.path.abspath(os.path.join(os.getcwd(), "..", "..", "src", "fedbroker"))


BIN = find_binary()

# The store every Server uses: FB_TEST_STORE=sqlite (default, a file in its state dir) or
# postgres (a fresh database on one PostgreSQL server started once per run, tests/pgtest.py).
STORE = os.environ.get("FB_TEST_STORE", "sqlite")
if STORE not in ("sqlite", "postgres"):
    raise SystemExit("FB_TEST_STORE must be sqlite or postgres, not %r" % STORE)


def pg_server():
    """The run's PostgreSQL server (tests/pgtest.py's shared one: started on first use,
    stopped at exit)."""
    import sys
    sys.path.insert(0, os.path.join(SRCDIR, "tests"))
    import pgtest
    if pgtest.bindir() is None:
        raise AssertionError("FB_TEST_STORE=postgres but PostgreSQL is missing (%s)"
                             % pgtest.INSTALL_HINT)
    return pgtest.shared()


def store_conf(dirpath):
    """The store: section of a test configuration for the run's store (FB_TEST_STORE);
    {} for SQLite (the default file in the state dir). For PostgreSQL, a fresh
    database whose DSN is in a file under dirpath (a secret reference)."""
    if STORE != "postgres":
        return {}
    path = os.path.join(dirpath, "store.dsn")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(pg_server().new_database())
    return {"driver": "postgres", "dsn": "file:" + path}


def replica_conf(dirpath):
    """What a shared store (PostgreSQL: replicas) needs besides store: in a
    configuration: the signing key in keys: and session.cookie_keys, in files under
    dirpath (serve and check-config refuse to go without them: none is generated per
    replica). Every harness Server of the PostgreSQL run has them."""
    key, crt = os.path.join(dirpath, "idp.key.pem"), os.path.join(dirpath, "idp.crt.pem")
    shutil.copy(os.path.join(FIXTURE_KEYS, "rsa2048.key.pem"), key)
    shutil.copy(os.path.join(FIXTURE_KEYS, "rsa2048.crt.pem"), crt)
    os.chmod(key, 0o600)
    cookie = os.path.join(dirpath, "cookie-secret")
    fd = os.open(cookie, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("test-cookie-secret-" + os.urandom(16).hex() + "\n")
    return {"keys": [{"id": "test", "key": key, "cert": crt}],
            "session": {"cookie_keys": ["file:" + cookie]}}


def generated_keys_only(reason):
    """Decorator: skipped in the PostgreSQL run only, with reason (tests of the signing
    key or cookie key fedbroker generates in its state directory: a shared store means
    replicas, which must be given them in keys: and session.cookie_keys)."""
    return unittest.skipIf(STORE != "sqlite", "generated keys (single instance) only: "
                           + reason)


def sqlite_only(reason):
    """Decorator (test method or class): skipped in the PostgreSQL run only, with reason
    (tests of the SQLite file itself: store.path, corruption, locking, WAL...)."""
    return unittest.skipIf(STORE != "sqlite", "SQLite only: " + reason)


def free_port():
    """A loopback TCP port nobody listens on right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


PEERS = os.path.join(SRCDIR, "tests", "peers")
# Screenshots and the like. The SQLite and PostgreSQL runs go at the same time
# (make check -j2), and a test that clears its old files must not clear the other's.
ARTIFACTS = os.path.join(SRCDIR, "tests", "artifacts", STORE)


def peer_missing(what):
    """The exception for a test whose independent peer is not installed: a skip naming
    the install command, or a failure when FB_REQUIRE_PEERS=1 (contrib/dev.sh test sets
    it after installing them all, so a missing peer can never pass CI silently)."""
    if os.environ.get("FB_REQUIRE_PEERS") == "1":
        return AssertionError("required test peer missing: %s" % what)
    return unittest.SkipTest(what)


def missing_browser_peers(npm=("playwright-core",)):
    """The install commands for what a headless Chromium test lacks: Debian's chromium,
    node, and the npm packages (of tests/peers' lock file) named in npm."""
    need = []
    if not os.access("/usr/bin/chromium", os.X_OK):
        need.append("apt-get install -y chromium")
    if shutil.which("node") is None:
        need.append("apt-get install -y nodejs npm")
    if any(not os.path.isdir(os.path.join(PEERS, "node_modules", n)) for n in npm):
        need.append("(cd tests/peers && npm ci)")
    return need


def port_listening(port, host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


# ---- YAML output (a small emitter: dicts, lists, scalars) -------------------

def _yaml_scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(obj, indent=0):
    """Block-style YAML for nested dicts/lists of scalars."""
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict) and v:
                out.append("%s%s:" % (pad, k))
                out.append(to_yaml(v, indent + 1))
            elif isinstance(v, list) and v:
                out.append("%s%s:" % (pad, k))
                out.append(to_yaml(v, indent + 1))
            elif isinstance(v, (dict, list)):
                out.append("%s%s: %s" % (pad, k, "{}" if isinstance(v, dict) else "[]"))
            else:
                out.append("%s%s: %s" % (pad, k, _yaml_scalar(v)))
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, dict) and v:
                inner = to_yaml(v, indent + 1).split("\n")
                out.append("%s- %s" % (pad, inner[0].lstrip()))
                out.extend(inner[1:])
            else:
                out.append("%s- %s" % (pad, _yaml_scalar(v)))
    else:
        out.append(pad + _yaml_scalar(obj))
    return "\n".join(out)


def deep_merge(base, over):
    """A copy of base with over merged in (dicts recursively; None deletes)."""
    r = dict(base)
    for k, v in over.items():
        if v is None:
            r.pop(k, None)
        elif isinstance(v, dict) and isinstance(r.get(k), dict):
            r[k] = deep_merge(r[k], v)
        else:
            r[k] = v
    return r


# ---- log parsing ------------------------------------------------------------

_LOGFMT_RE = re.compile(r'\s*([^\s=]+)=("(?:[^"\\]|\\.)*"|[^\s]*)')


def parse_logfmt(line):
    """key=value pairs (quoted values unescaped) as a dict; ValueError when not logfmt."""
    rec = {}
    pos = 0
    line = line.rstrip("\n")
    while pos < len(line):
        if line[pos:].strip() == "":
            break
        m = _LOGFMT_RE.match(line, pos)
        if m is None:
            raise ValueError("not logfmt at column %d: %r" % (pos + 1, line))
        k, v = m.group(1), m.group(2)
        if v.startswith('"'):
            if len(v) < 2 or not v.endswith('"'):
                raise ValueError("unterminated quote: %r" % line)
            body = v[1:-1]
            v = re.sub(r'\\x([0-9a-fA-F]{2})', lambda mm: chr(int(mm.group(1), 16)), body)
            v = v.replace('\\n', '\n').replace('\\"', '"').replace('\\\\', '\\')
        rec[k] = v
        pos = m.end()
    if not rec:
        raise ValueError("empty logfmt line")
    return rec


def parse_log_line(line):
    """A JSON object or a logfmt line, as a dict."""
    s = line.strip()
    if s.startswith("{"):
        return json.loads(s)
    return parse_logfmt(s)


# ---- Prometheus text format -------------------------------------------------

_PROM_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?\s*$')
_PROM_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_prometheus(text):
    """Parses exposition text format 0.0.4. Returns (types, samples):
    types = {family: type}, samples = [(name, {label: value}, float)].
    Raises ValueError on any malformed line."""
    types = {}
    samples = []
    for n, line in enumerate(text.split("\n"), 1):
        if line.strip() == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] == "TYPE":
                if len(parts) != 4 or parts[3] not in (
                        "counter", "gauge", "histogram", "summary", "untyped"):
                    raise ValueError("line %d: bad TYPE: %r" % (n, line))
                if parts[2] in types:
                    raise ValueError("line %d: second TYPE for %s" % (n, parts[2]))
                types[parts[2]] = parts[3]
            elif len(parts) >= 3 and parts[1] == "HELP":
                pass
            continue
        m = _PROM_SAMPLE.match(line)
        if m is None:
            raise ValueError("line %d: not a sample: %r" % (n, line))
        labels = {}
        if m.group(3):
            body = m.group(3)
            pos = 0
            while pos < len(body):
                lm = _PROM_LABEL.match(body, pos)
                if lm is None:
                    raise ValueError("line %d: bad labels: %r" % (n, line))
                v = lm.group(2).replace('\\n', '\n').replace('\\"', '"').replace('\\\\', '\\')
                labels[lm.group(1)] = v
                pos = lm.end()
        val = m.group(4)
        try:
            fval = float(val)
        except ValueError:
            raise ValueError("line %d: bad value %r" % (n, val))
        samples.append((m.group(1), labels, fval))
    return types, samples


def prom_sum(samples, name, **labels):
    """Sum of the samples named name whose labels include labels."""
    return sum(v for (n, l, v) in samples
               if n == name and all(l.get(k) == str(x) for k, x in labels.items()))


# ---- processes --------------------------------------------------------------

def children_of(pid, comm=None):
    """Pids whose parent is pid (from /proc); only those whose name starts
    with comm when given (workers are named fb-worker.N, see master.c)."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may hold spaces and parentheses.
        rest = st[st.rindex(")") + 2:].split()
        name = st[st.index("(") + 1:st.rindex(")")]
        if rest[0] != "Z" and int(rest[1]) == pid and (comm is None or name.startswith(comm)):
            kids.append(int(d))
    return sorted(kids)


def run(args, env=None, timeout=60, stdin=None):
    """Runs the binary with args; returns CompletedProcess (text)."""
    e = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return subprocess.run([BIN] + list(args), capture_output=True, text=True,
                          env=e, timeout=timeout, stdin=subprocess.DEVNULL if stdin is None else stdin,
                          errors="replace")


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage (case-insensitive get)
        self.body = body

    def header(self, name):
        return self.headers.get(name)


def parse_raw_response(data):
    """(status, {lower header: value}, body) from raw response bytes; status None if none."""
    if not data:
        return None, {}, b""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0])
    if m is None:
        return None, {}, data
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(b":")
        hdrs[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    return int(m.group(1)), hdrs, body


class Server:
    """One `fedbroker serve` with its own state dir, config file and port."""

    def __init__(self, tc, conf=None, workers=2, tls=False, env=None, extra_args=()):
        self.tc = tc
        self.dir = tempfile.mkdtemp(prefix="fbinteg-")
        self.state_dir = os.path.join(self.dir, "state")
        os.mkdir(self.state_dir, 0o700)
        self.config = os.path.join(self.dir, "fedbroker.yaml")
        self.port = free_port()
        self.workers = workers
        self.tls = tls
        self.env = dict(os.environ)
        if env:
            self.env.update(env)
        self.extra_args = list(extra_args)
        self.proc = None
        self.out_path = os.path.join(self.dir, "stdout.log")
        self.err_path = os.path.join(self.dir, "stderr.log")
        self.base_conf = {
            "server": {"listen": ["127.0.0.1:%d" % self.port], "workers": workers,
                       "shutdown_timeout": "5s"},
            "log": {"level": "info", "format": "logfmt", "access": True},
        }
        st = store_conf(self.dir)
        if st:
            self.base_conf["store"] = st
            self.base_conf = deep_merge(self.base_conf, replica_conf(self.dir))
        self.conf = deep_merge(self.base_conf, conf or {})
        self.write_config(self.conf)
        tc.addCleanup(self.cleanup)

    # -- configuration
    def write_config(self, conf=None, text=None):
        if text is None:
            text = to_yaml(conf) + "\n"
        with open(self.config, "w") as f:
            f.write(text)

    def args(self):
        return ["serve", "--config", self.config, "--state-dir", self.state_dir,
                "--listen", "127.0.0.1:%d" % self.port, "--workers", str(self.workers)] + \
            self.extra_args

    # -- life cycle
    def spawn(self, cmd_prefix=()):
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(list(cmd_prefix) + [BIN] + self.args(), stdout=self.out,
                                     stderr=self.err, stdin=subprocess.DEVNULL, env=self.env)
        return self.proc

    def start(self, timeout=10.0, cmd_prefix=()):
        self.spawn(cmd_prefix)
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.tc.fail("fedbroker serve exited with status %d before answering /healthz\n%s"
                             % (rc, self.logs()))
            try:
                r = self.request("GET", "/healthz", timeout=1.0)
                # Ready = a worker answers and the master has printed its
                # listening line, which it does once every child is forked.
                if r.status == 200 and "fedbroker listening on" in self.stdout():
                    return self
                last = "status %d" % r.status
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill()
        self.tc.fail("fedbroker did not answer /healthz within %.0f s (%s)\n%s"
                     % (timeout, last, self.logs()))

    def wait_exit(self, timeout=15.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, expect=0, timeout=15.0):
        """SIGTERM, and asserts the exit status (expect)."""
        if self.proc is None or self.proc.poll() is not None:
            rc = None if self.proc is None else self.proc.returncode
            self.tc.fail("fedbroker was not running at stop (status %r)\n%s" % (rc, self.logs()))
        self.proc.send_signal(signal.SIGTERM)
        rc = self.wait_exit(timeout)
        if rc is None:
            self.kill()
            self.tc.fail("fedbroker did not exit within %.0f s of SIGTERM\n%s"
                         % (timeout, self.logs()))
        self.tc.assertEqual(rc, expect, "exit status after SIGTERM\n" + self.logs())
        self.assert_no_sanitizer_report()
        return rc

    def assert_no_sanitizer_report(self):
        """No process (master, workers, jobs) reported a sanitizer error."""
        out = self.stdout() + self.stderr()
        for marker in SANITIZER_MARKERS:
            self.tc.assertNotIn(marker, out, "sanitizer report\n" + self.logs())

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            kids = children_of(self.proc.pid)
            self.proc.kill()
            self.proc.wait()
            for k in kids:
                try:
                    os.kill(k, signal.SIGKILL)
                except OSError:
                    pass

    def cleanup(self):
        self.kill()
        for f in ("out", "err"):
            if hasattr(self, f):
                getattr(self, f).close()
        if os.environ.get("FB_KEEP_TMP"):
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def workers_pids(self):
        return children_of(self.proc.pid, "fb-worker")

    # -- logs
    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def logs(self):
        return "---- stdout\n%s---- stderr\n%s----" % (self.stdout(), self.stderr())

    def log_lines(self):
        """Every non-empty line of stdout and stderr (the log may go to either)."""
        return [l for l in (self.stderr() + "\n" + self.stdout()).split("\n") if l.strip()]

    def log_size(self):
        """Bytes written to stderr (the log) so far: an offset for lines_since."""
        return os.path.getsize(self.err_path)

    def lines_since(self, offset):
        """Complete log lines (stderr) written after offset."""
        with open(self.err_path, "rb") as f:
            f.seek(offset)
            data = f.read().decode("utf-8", "replace")
        if not data.endswith("\n"):
            data = data[:data.rfind("\n") + 1]
        return [l for l in data.split("\n") if l.strip()]

    def log_records(self):
        """Parsed log lines (dicts); lines that do not parse raise."""
        return [parse_log_line(l) for l in self.log_lines()]

    def wait_log(self, pred, timeout=5.0):
        """Waits until some line satisfies pred(line); returns it or None."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for l in self.log_lines():
                if pred(l):
                    return l
            time.sleep(0.05)
        return None

    # -- HTTP
    def connection(self, timeout=5.0):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, headers=None, body=None, timeout=5.0):
        c = self.connection(timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return Response(r.status, r.reason, r.headers, data)
        finally:
            c.close()

    def http(self, method, path, headers=None, body=None, timeout=5.0):
        return self.request(method, path, headers, body, timeout)

    def raw_socket(self, timeout=5.0):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        return s

    def raw(self, data, timeout=5.0, shut_write=False):
        """Sends data on a new connection and reads until the peer closes or timeout."""
        s = self.raw_socket(timeout)
        try:
            s.sendall(data)
            if shut_write:
                s.shutdown(socket.SHUT_WR)
            return recv_all(s, timeout)
        finally:
            s.close()

    # -- the store, behind the broker's back (what time passing would do, checks)
    def store_sql(self, sql, params=()):
        """Runs one SQL statement (qmark parameters) on this server's store (store_sql)."""
        return store_sql(self.tc, self.conf.get("store", {}), self.state_dir, sql, params)

    def metrics(self):
        r = self.request("GET", "/metrics")
        self.tc.assertEqual(r.status, 200, "GET /metrics\n" + r.body.decode("utf-8", "replace"))
        return parse_prometheus(r.body.decode("utf-8"))


def store_sql(tc, st, state_dir, sql, params=()):
    """Runs one SQL statement (qmark parameters) on the store that a configuration's
    store: section st names (SQLite: its path, else state_dir's file; or PostgreSQL):
    (rows changed, [rows as tuples]). Values of rows read from PostgreSQL are strings."""
    if st.get("driver") != "postgres":
        import sqlite3
        db = sqlite3.connect(st.get("path") or os.path.join(state_dir, "fedbroker.db"),
                             timeout=30)
        try:
            with db:
                cur = db.execute(sql, tuple(params))
                return cur.rowcount, cur.fetchall()
        finally:
            db.close()
    parts = sql.split("?")
    tc.assertEqual(len(parts) - 1, len(params), "one parameter per ?")
    text = parts[0]
    for v, rest in zip(params, parts[1:]):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            text += repr(v)
        else:
            text += "'" + str(v).replace("'", "''") + "'"
        text += rest
    with open(st["dsn"][len("file:"):]) as f:
        dsn = f.read().strip()
    cp = subprocess.run(["psql", "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-w",
                         "-d", dsn, "-c", text], capture_output=True, text=True, timeout=60,
                        stdin=subprocess.DEVNULL)
    tc.assertEqual(cp.returncode, 0, "psql: %s\n%s" % (text, cp.stderr))
    lines = cp.stdout.splitlines()
    m = re.match(r"^(UPDATE|DELETE|INSERT \d+) (\d+)$", lines[-1]) if lines else None
    if m:
        return int(m.group(2)), []
    return -1, [tuple(l.split("\t")) for l in lines]


def recv_all(s, timeout=5.0):
    """Reads until EOF, timeout or a reset; returns what arrived."""
    s.settimeout(timeout)
    buf = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, BrokenPipeError):
            break
        if not d:
            break
        buf += d
        # A complete response with a Content-Length is enough.
        st, hdrs, body = parse_raw_response(buf)
        if st is not None and "content-length" in hdrs and b"\r\n\r\n" in buf:
            try:
                if len(body) >= int(hdrs["content-length"]):
                    break
            except ValueError:
                pass
    return buf


def openssl_selfsigned(dirpath, cn="localhost"):
    """A self-signed RSA certificate and key made with the openssl CLI: (cert, key)."""
    cert = os.path.join(dirpath, "tls.crt.pem")
    key = os.path.join(dirpath, "tls.key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


class TestCase(unittest.TestCase):
    """Base class: skips everything when the binary is missing is NOT done:
    a missing binary is a failure (the build must produce it)."""

    maxDiff = None

    def run(self, result=None):
        """Runs the test; on failure prints the tail of the log of the
        class's shared server (cls.srv), when there is one."""
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        r = super().run(result)
        srv = getattr(type(self), "srv", None)
        if srv is not None and len(result.failures) + len(result.errors) > before:
            try:
                tail = srv.stdout() + "\n".join(srv.stderr().splitlines()[-40:])
                print("\n---- %s: last lines of the server's log\n%s\n----" % (self.id(), tail))
            except OSError:
                pass
        return r

    def setUp(self):
        if not os.access(BIN, os.X_OK):
            self.fail("fedbroker binary not found at %s (set FEDBROKER_BIN)" % BIN)

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="fbinteg-")
        if not os.environ.get("FB_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, d, True)
        return d

    def write(self, path, text, mode=None):
        with open(path, "w" if isinstance(text, str) else "wb") as f:
            f.write(text)
        if mode is not None:
            os.chmod(path, mode)
        return path

    def server(self, **kw):
        return Server(self, **kw)

    def assertNoCrash(self, cp, what=""):
        """Exit status of a finished CLI command: not a signal, not a sanitizer abort."""
        self.assertGreaterEqual(cp.returncode, 0, "%s killed by signal %d\n%s%s"
                                % (what, -cp.returncode, cp.stdout, cp.stderr))
        self.assertLess(cp.returncode, 128, "%s crashed\n%s%s" % (what, cp.stdout, cp.stderr))
        for marker in ("AddressSanitizer", "runtime error:", "LeakSanitizer", "Segmentation"):
            self.assertNotIn(marker, cp.stderr, what)


def main():
    unittest.main(verbosity=2)


# ---- runner (run.sh) ----------------------------------------------------------

def run_all(paths, verbosity=2):
    """Loads and runs the numbered test modules; prints the closing count line.
    Returns the process exit status (0 when nothing failed)."""
    import importlib.util
    import sys
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    broken = []
    for p in paths:
        name = "fbinteg_" + os.path.basename(p)[:-3].replace("-", "_")
        try:
            spec = importlib.util.spec_from_file_location(name, p)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            suite.addTests(loader.loadTestsFromModule(mod))
        except Exception as e:  # a module that does not load is one failure
            broken.append((p, e))
            sys.stderr.write("integration: cannot load %s: %r\n" % (p, e))
    sys.stderr.write("fedbroker binary: %s\n" % BIN)
    started = set()
    took = {}  # module name -> seconds, for the closing "slowest modules" lines

    class Result(unittest.TextTestResult):
        def startTest(self, test):
            started.add(test.id())
            self._t0 = time.monotonic()
            super().startTest(test)

        def stopTest(self, test):
            mod = test.id().split(".")[0]
            took[mod] = took.get(mod, 0.0) + time.monotonic() - self._t0
            super().stopTest(test)

    res = unittest.TextTestRunner(stream=sys.stdout, verbosity=verbosity,
                                  resultclass=Result).run(suite)

    def base_id(t):  # a subtest counts for its test
        return getattr(t, "test_case", t).id()
    bad = {base_id(t) for t, _ in res.failures + res.errors} | \
        {base_id(t) for t in res.unexpectedSuccesses}
    skip = {base_id(t) for t, _ in res.skipped} - bad
    failed = len(bad) + len(broken)
    skipped = len(skip)
    passed = len(started - bad - skip)
    line = "integration: %d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    # Where the suite's time goes (CI has a budget): the ten slowest modules.
    for mod, secs in sorted(took.items(), key=lambda kv: -kv[1])[:10]:
        print("integration: %6.1f s %s" % (secs, mod[len("fbinteg_"):]))
    sys.stdout.flush()
    print(line)
    return 0 if failed == 0 else 1
