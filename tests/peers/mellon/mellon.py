#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Debian's mod_auth_mellon on a private Apache: a SAML service provider that
shares no code with fedbroker but lasso, run with mellon's DEFAULT NameID
settings (it asks for a transient NameID, AllowCreate="true").

The instance lives in a directory of its own: its configuration file,
ServerRoot, PidFile, ErrorLog, mellon's lock file, the SP key, certificate
and metadata made by Debian's mellon_create_metadata, and a CGI script that
echoes mellon's MELLON_* variables as JSON. Listens on 127.0.0.1:<free port>;
started with `apache2 -f CONF -DFOREGROUND`. As root (CI) the children run
as nobody:nogroup, and the directory is readable by them.

    m = Mellon(dirpath, port)     # key, certificate, metadata (m.metadata_path)
    m.start(idp_metadata_xml)     # fedbroker's metadata; waits until it answers
    ... http://127.0.0.1:PORT/protected/env (mellon signs in), /mellon/logout?ReturnTo=...
    m.stop()
"""

import os
import pwd
import signal
import socket
import subprocess
import time

APACHE = "/usr/sbin/apache2"
MODULES = "/usr/lib/apache2/modules"
MELLON_MODULE = os.path.join(MODULES, "mod_auth_mellon.so")
CREATE_METADATA = "/usr/sbin/mellon_create_metadata"
# What Apache needs here: a process model, access control, CGI and mellon.
LOAD = ["mpm_prefork", "authz_core", "authz_user", "authn_core", "alias", "mime", "cgi", "setenvif",
        "auth_mellon"]

CGI = """#!/usr/bin/python3
# mellon's variables for this request, as JSON (the protected page).
import json, os
print("Content-Type: application/json")
print()
print(json.dumps({k: v for k, v in os.environ.items()
                  if k.startswith("MELLON_") or k in ("REMOTE_USER", "AUTH_TYPE")},
                 sort_keys=True))
"""

PUBLIC = "<!doctype html><title>Signed out</title><p>Signed out of the mellon app.</p>\n"


def missing():
    """Install commands for what this peer needs, [] when it is all there."""
    if not os.access(APACHE, os.X_OK) or not os.path.exists(MELLON_MODULE) or \
            not os.access(CREATE_METADATA, os.X_OK):
        return ["apt-get install -y --no-install-recommends apache2 libapache2-mod-auth-mellon"]
    return []


class Mellon:
    """One Apache with mod_auth_mellon protecting /protected/ (a CGI echoing MELLON_*).

    attrs: {local name: SAML attribute Name} exported as MELLON_<local name>
    (MellonSetEnv: attribute naming only; NameID settings stay mellon's defaults).
    """

    def __init__(self, dirpath, port, attrs=None):
        self.dir = dirpath
        self.port = port
        self.base = "http://127.0.0.1:%d" % port
        self.entity_id = self.base + "/mellon/metadata"
        self.attrs = attrs or {}
        self.proc = None
        os.makedirs(os.path.join(dirpath, "cgi"), exist_ok=True)
        os.makedirs(os.path.join(dirpath, "htdocs"), exist_ok=True)
        # Debian's own tool: key, certificate and SP metadata (SLO Redirect, ACS POST).
        cp = subprocess.run([CREATE_METADATA, self.entity_id, self.base + "/mellon"],
                            cwd=dirpath, capture_output=True, text=True, timeout=120)
        if cp.returncode != 0:
            raise RuntimeError("mellon_create_metadata: %s%s" % (cp.stdout, cp.stderr))
        stem = "".join(c if c.isalnum() or c == "." else "_" for c in self.entity_id)
        while "__" in stem:
            stem = stem.replace("__", "_")
        self.key_path = os.path.join(dirpath, stem + ".key")
        self.cert_path = os.path.join(dirpath, stem + ".cert")
        self.metadata_path = os.path.join(dirpath, stem + ".xml")
        for p in (self.key_path, self.cert_path, self.metadata_path):
            if not os.path.exists(p):
                raise RuntimeError("mellon_create_metadata made no %s: %s" % (p, cp.stdout))
        cgi = os.path.join(dirpath, "cgi", "env")
        with open(cgi, "w") as f:
            f.write(CGI)
        os.chmod(cgi, 0o755)
        with open(os.path.join(dirpath, "htdocs", "signed-out.html"), "w") as f:
            f.write(PUBLIC)
        self.conf_path = os.path.join(dirpath, "apache2.conf")
        self.error_log = os.path.join(dirpath, "error.log")

    def _conf(self, idp_md_path):
        d = self.dir
        lines = ["ServerRoot %s" % d, "PidFile %s/apache2.pid" % d,
                 "ErrorLog %s" % self.error_log, "LogLevel info auth_mellon:debug",
                 "Listen 127.0.0.1:%d" % self.port, "ServerName 127.0.0.1",
                 "DocumentRoot %s/htdocs" % d, "Mutex file:%s default" % d,
                 "DefaultRuntimeDir %s" % d, "StartServers 1", "MaxRequestWorkers 8",
                 "TypesConfig /etc/mime.types"]
        # unixd, log_config and so are compiled into Debian's apache2.
        lines[0:0] = ["LoadModule %s_module %s/mod_%s.so" % (m, MODULES, m) for m in LOAD]
        if os.geteuid() == 0:
            # Apache refuses to serve as root: the children run as nobody, who can read d.
            lines += ["User nobody", "Group nogroup"]
        lines += [
            "<Directory />", "  Require all granted", "</Directory>",
            "ScriptAlias /protected/ %s/cgi/" % d,
            # mellon's cookie test says SameSite=None without Secure, which Chromium drops
            # over plain http; its documented switch leaves SameSite out (Lax in Chromium:
            # fedbroker and Apache share the site 127.0.0.1, the POST carries it).
            'SetEnvIf Request_URI "^" MELLON_DISABLE_SAMESITE=1',
            "MellonCacheSize 100",
            "MellonLockFile %s/mellon.lock" % d,
            "<Location />",
            "  MellonEnable info",
            "  MellonEndpointPath /mellon",
            "  MellonSPPrivateKeyFile %s" % self.key_path,
            "  MellonSPCertFile %s" % self.cert_path,
            "  MellonSPMetadataFile %s" % self.metadata_path,
            "  MellonIdPMetadataFile %s" % idp_md_path,
        ]
        lines += ['  MellonSetEnv "%s" "%s"' % (k, v) for k, v in self.attrs.items()]
        lines += [
            "</Location>",
            "<Location /protected/>",
            "  AuthType Mellon",
            "  MellonEnable auth",
            "  Require valid-user",
            "</Location>",
        ]
        return "\n".join(lines) + "\n"

    def start(self, idp_metadata, timeout=30.0):
        idp_md_path = os.path.join(self.dir, "idp.xml")
        with open(idp_md_path, "w") as f:
            f.write(idp_metadata)
        with open(self.conf_path, "w") as f:
            f.write(self._conf(idp_md_path))
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            for root, dirs, files in os.walk(self.dir):
                os.chmod(root, 0o755)
                for n in files:
                    os.chmod(os.path.join(root, n), 0o755 if root.endswith("cgi") else 0o644)
            # The key only for the children's user (mellon reads it when serving).
            os.chown(self.key_path, nobody.pw_uid, nobody.pw_gid)
            os.chmod(self.key_path, 0o600)
            # mkdtemp makes /tmp/x 0700: nobody must be able to walk to the directory.
            p = os.path.dirname(self.dir)
            while p not in ("/", "") and os.stat(p).st_uid == 0 and \
                    os.path.basename(p).startswith(("fbinteg-", "mellon-")):
                os.chmod(p, 0o755)
                p = os.path.dirname(p)
        cp = subprocess.run([APACHE, "-f", self.conf_path, "-t"], capture_output=True,
                            text=True, timeout=60)
        if cp.returncode != 0:
            raise RuntimeError("apache2 -t: %s%s" % (cp.stdout, cp.stderr))
        self.out = open(os.path.join(self.dir, "stdout.log"), "w")
        self.proc = subprocess.Popen([APACHE, "-f", self.conf_path, "-DFOREGROUND"],
                                     stdout=self.out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("apache2 exited (%d): %s" % (self.proc.returncode,
                                                                self.logs()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("apache2 did not listen on %d: %s" % (self.port, self.logs()))

    def logs(self):
        out = []
        for p in (self.error_log, os.path.join(self.dir, "stdout.log")):
            try:
                with open(p, errors="replace") as f:
                    out.append(f.read()[-8000:])
            except OSError:
                pass
        return "\n".join(out)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        # SIGTERM to the parent: it ends its children (graceful-stop would wait for them).
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.out.close()
