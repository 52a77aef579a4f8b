#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""79: Debian's libapache2-mod-auth-openidc on a private Apache as a relying party
of fedbroker's OpenID provider (issue 14, "Verified by real peers"): it reads the
discovery document, sends the browser to /oauth2/authorize with PKCE S256, redeems
the code with client_secret_basic, verifies the ID token against /oauth2/jwks, and
then serves its protected page with the claims (a CGI echoing OIDC_CLAIM_*). Twice:
with the test's own HTTP client (one cookie jar per site) following the redirects,
and in headless Chromium (79-oidc-mod-auth-openidc-browser.mjs: the sign-in page,
then RP-initiated logout through the end_session_endpoint). Runs on SQLite and
PostgreSQL.

Peers (required with FB_REQUIRE_PEERS=1): apache2, libapache2-mod-auth-openidc,
chromium, node and tests/peers' playwright-core.
"""

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402

APACHE = "/usr/sbin/apache2"
MODULES = "/usr/lib/apache2/modules"
LOAD = ["mpm_prefork", "authz_core", "authz_user", "authn_core", "alias", "mime", "cgi",
        "auth_openidc"]
SECRET = "apache-client-secret-0123456789ab"
CGI = """#!/usr/bin/python3
import json, os
print("Content-Type: application/json")
print()
print(json.dumps({k: v for k, v in os.environ.items()
                  if k.startswith("OIDC_CLAIM_") or k in ("REMOTE_USER", "AUTH_TYPE")},
                 sort_keys=True))
"""


class Apache:
    def __init__(self, tc, dirpath, port, issuer):
        self.dir, self.port, self.proc = dirpath, port, None
        self.base = "http://127.0.0.1:%d" % port
        os.makedirs(os.path.join(dirpath, "cgi"), exist_ok=True)
        cgi = os.path.join(dirpath, "cgi", "env")
        with open(cgi, "w") as f:
            f.write(CGI)
        os.chmod(cgi, 0o755)
        self.error_log = os.path.join(dirpath, "error.log")
        lines = ["LoadModule %s_module %s/mod_%s.so" % (m, MODULES, m) for m in LOAD] + [
            "ServerRoot %s" % dirpath, "PidFile %s/apache2.pid" % dirpath,
            "ErrorLog %s" % self.error_log, "LogLevel info auth_openidc:debug",
            "Listen 127.0.0.1:%d" % port, "ServerName 127.0.0.1",
            "DocumentRoot %s" % dirpath, "Mutex file:%s default" % dirpath,
            "DefaultRuntimeDir %s" % dirpath, "StartServers 1", "MaxRequestWorkers 8",
            "TypesConfig /etc/mime.types"]
        if os.geteuid() == 0:
            lines += ["User nobody", "Group nogroup"]
        lines += [
            "<Directory />", "  Require all granted", "</Directory>",
            "ScriptAlias /protected/ %s/cgi/" % dirpath,
            "OIDCProviderMetadataURL %s/.well-known/openid-configuration" % issuer,
            "OIDCClientID apache",
            "OIDCClientSecret %s" % SECRET,
            "OIDCRedirectURI %s/protected/redirect_uri" % self.base,
            "OIDCCryptoPassphrase test-passphrase-0123456789",
            "OIDCScope \"openid email profile groups\"",
            "OIDCPKCEMethod S256",
            "OIDCProviderTokenEndpointAuth client_secret_basic",
            "OIDCCookieSameSite Off",
            "OIDCSessionType server-cache",
            "OIDCUnAuthAction auth true",
            "OIDCCacheType shm",
            "<Location /protected/>",
            "  AuthType openid-connect",
            "  Require valid-user",
            "</Location>",
        ]
        self.conf = os.path.join(dirpath, "apache2.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        if os.geteuid() == 0:
            for root, dirs, files in os.walk(dirpath):
                os.chmod(root, 0o755)
                for n in files:
                    os.chmod(os.path.join(root, n), 0o755)
            p = os.path.dirname(dirpath)
            while p not in ("/", "") and os.path.basename(p).startswith("fbinteg-"):
                os.chmod(p, 0o755)
                p = os.path.dirname(p)
        tc.addCleanup(self.stop)

    def start(self):
        cp = subprocess.run([APACHE, "-f", self.conf, "-t"], capture_output=True, text=True,
                            timeout=60)
        if cp.returncode != 0:
            raise AssertionError("apache2 -t: %s%s" % (cp.stdout, cp.stderr))
        self.out = open(os.path.join(self.dir, "stdout.log"), "w")
        self.proc = subprocess.Popen([APACHE, "-f", self.conf, "-DFOREGROUND"], stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("apache2 exited: " + self.logs())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("apache2 did not listen: " + self.logs())

    def logs(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()[-8000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.out.close()


def need_apache():
    if not os.access(APACHE, os.X_OK) or not os.path.exists(
            os.path.join(MODULES, "mod_auth_openidc.so")):
        raise harness.peer_missing("apt-get install -y apache2 libapache2-mod-auth-openidc")


class ModAuthOpenidc(harness.TestCase):
    def test_browser_sign_in_and_logout(self):
        need_apache()
        need = harness.missing_browser_peers(("playwright-core",))
        if need:
            raise harness.peer_missing("browser peers missing: " + "; ".join(need))
        d = self.tmpdir()
        aport = harness.free_port()
        app = "http://127.0.0.1:%d" % aport
        with open(os.path.join(d, "apache.secret"), "w") as f:
            f.write(SECRET + "\n")
        # fedbroker is "localhost", Apache "127.0.0.1": two sites, two cookie jars.
        srv = harness.Server(self, conf={}, workers=2)
        sso = "http://localhost:%d" % srv.port
        # An EC P-256 key in keys: on both stores: mod_auth_openidc checks ES256 here.
        ec = {}
        for ext in ("key", "crt"):
            ec[ext] = os.path.join(d, "ec.%s.pem" % ext)
            shutil.copy(os.path.join(harness.FIXTURE_KEYS, "ec256.%s.pem" % ext), ec[ext])
        os.chmod(ec["key"], 0o600)
        conf = {"server": {"public_url": sso},
                "keys": [{"id": "ec", "key": ec["key"], "cert": ec["crt"]}],
                "oidc": {"clients": [{
                    "id": "apache", "secret": "file:" + os.path.join(d, "apache.secret"),
                    "redirect_uris": [app + "/protected/redirect_uri"],
                    "post_logout_redirect_uris": [app + "/signed-out"]}]}}
        srv = fbsaml.saml_server(self, [], groups=[{"name": "staff", "members": ["alice"]}],
                                 users=[("alice", "alice@example.com")], conf=conf,
                                 start=False, server=srv)
        srv.start()
        ap = Apache(self, os.path.join(d, "apache"), aport, sso)
        ap.start()
        env = dict(os.environ, FB_SSO_URL=sso, FB_APP_URL=app, FB_USER="alice",
                   FB_PASSWORD=fbsaml.PASSWORD, FB_PEERS=harness.PEERS)
        p = subprocess.run(["node", os.path.join(harness.HERE,
                                                 "79-oidc-mod-auth-openidc-browser.mjs")],
                           env=env, capture_output=True, text=True, timeout=300)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, out + "\n--- apache\n" + ap.logs() +
                         "\n--- fedbroker\n" + srv.logs()[-4000:])
        self.assertIn("browser: all steps passed", p.stdout)
        # The provider ended the broker session for the client that asked.
        ended = fbsaml.audit_since(srv, 0, "session_ended")
        self.assertIn("signed out by client apache", str(ended), srv.logs()[-3000:])

    def test_sign_in_through_mod_auth_openidc(self):
        need_apache()
        import webclient
        d = self.tmpdir()
        aport = harness.free_port()
        with open(os.path.join(d, "apache.secret"), "w") as f:
            f.write(SECRET + "\n")
        conf = {"oidc": {"clients": [{
            "id": "apache", "secret": "file:" + os.path.join(d, "apache.secret"),
            "redirect_uris": ["http://127.0.0.1:%d/protected/redirect_uri" % aport],
            "signing_alg": "RS256"}]}}
        srv = fbsaml.saml_server(self, [], groups=[{"name": "staff", "members": ["alice"]}],
                                 users=[("alice", "alice@example.com")], conf=conf)
        issuer = "http://127.0.0.1:%d" % srv.port
        ap = Apache(self, os.path.join(d, "apache"), aport, issuer)
        ap.start()
        fb = fbsaml.signed_in(self, srv, "alice")
        app = webclient.Browser("127.0.0.1", aport)
        self.addCleanup(app.close)
        p = app.get("/protected/env")
        self.assertEqual(p.status, 302, p.text[:500] + ap.logs())
        self.assertTrue(p.location.startswith(issuer + "/oauth2/authorize?"), p.location)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)
        self.assertEqual(q["code_challenge_method"], ["S256"])
        p = fb.get(fbsaml.path_of(p.location))
        self.assertEqual(p.status, 302, p.text[:500])
        self.assertTrue(p.location.startswith(ap.base + "/protected/redirect_uri?"), p.location)
        p = app.get(fbsaml.path_of(p.location))
        for _ in range(3):
            if p.status not in (302, 303):
                break
            loc = p.location
            p = app.get(fbsaml.path_of(loc) if loc.startswith("http") else loc)
        self.assertEqual(p.status, 200, p.text[:1000] + "\n--- apache\n" + ap.logs() +
                         "\n--- fedbroker\n" + srv.logs()[-4000:])
        env = json.loads(p.text)
        self.assertEqual(env["OIDC_CLAIM_email"], "alice@example.com")
        self.assertEqual(env["OIDC_CLAIM_preferred_username"], "alice")
        self.assertIn("staff", env["OIDC_CLAIM_groups"])
        self.assertEqual(env["AUTH_TYPE"], "openid-connect")
        # The session is mod_auth_openidc's now: the page again, no trip to fedbroker.
        p = app.get("/protected/env")
        self.assertEqual(p.status, 200)


if __name__ == "__main__":
    harness.main()
