#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""78: OpenID clients kept in the store (issue 14, items 6 and 7): `fedbroker
oidc client add|list|show|remove` against a running broker, which knows an
added client without a reload and refuses a removed one within seconds (its
refresh tokens at once); every bad input of add refused with nothing stored;
`fedbroker token client` printing what client_credentials returns, verified by
npm's jose against the served JWKS; introspection limited to a client's own
tokens unless it is a resource server (introspect: any); and, with the keys
fedbroker generates (no keys: in the configuration), ES256 tokens signed by
the generated EC P-256 key. On SQLite and, with FB_TEST_STORE=postgres, on
PostgreSQL.
"""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402

RP = os.path.join(harness.PEERS, "oidc", "rp.mjs")
CFG_SECRET = "cfg-secret-0123456789abcdefghijk"
RS_SECRET = "rs-secret-0123456789abcdefghijkl"
ANY_SECRET = "any-secret-0123456789abcdefghijk"
WEB_SECRET = "web2-secret-0123456789abcdefghij"
WEB_CB = "https://app2.example.test/cb"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def basic(cid, secret):
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (cid, secret)).encode()).decode(), **FORM}


class OidcStoreClients(harness.TestCase):
    """One broker: config clients cfg (service), rs (a confidential client that
    introspects its own tokens only) and rs-any (introspect: any); clients added to
    the store by the tests."""

    @classmethod
    def setUpClass(cls):
        cls.holder = harness.TestCase("run")
        cls.holder.setUp()
        d = cls.holder.tmpdir()
        for name, value in (("cfg", CFG_SECRET), ("rs", RS_SECRET), ("any", ANY_SECRET),
                            ("web2", WEB_SECRET), ("short", "too-short")):
            with open(os.path.join(d, name + ".secret"), "w") as f:
                f.write(value + "\n")
        cls.dir = d
        conf = {"oidc": {"clients": [
            {"id": "cfg", "type": "service", "secret": "file:" + os.path.join(d, "cfg.secret"),
             "scopes": ["reports.read"]},
            {"id": "rs", "type": "service", "secret": "file:" + os.path.join(d, "rs.secret"),
             "scopes": ["reports.read"]},
            {"id": "rs-any", "type": "service", "introspect": "any",
             "secret": "file:" + os.path.join(d, "any.secret"), "scopes": ["reports.read"]},
        ]}}
        if harness.STORE == "postgres":
            # Replicas are given their keys: an active RSA key and a published EC one.
            keys = []
            for kid, name, state in (("rsa", "rsa2048", "active"),
                                     ("ec", "ec256", "published")):
                for ext in ("key", "crt"):
                    shutil.copy(os.path.join(harness.FIXTURE_KEYS, "%s.%s.pem" % (name, ext)),
                                os.path.join(d, "%s.%s.pem" % (kid, ext)))
                os.chmod(os.path.join(d, kid + ".key.pem"), 0o600)
                keys.append({"id": kid, "key": os.path.join(d, kid + ".key.pem"),
                             "cert": os.path.join(d, kid + ".crt.pem"), "state": state})
            conf["keys"] = keys
        cls.srv = fbsaml.saml_server(cls.holder, [], groups=[{"name": "staff",
                                                              "members": ["alice"]}],
                                     users=[("alice", "alice@example.com")], conf=conf)
        cls.issuer = "http://127.0.0.1:%d" % cls.srv.port

    @classmethod
    def tearDownClass(cls):
        cls.holder.doCleanups()

    # -- helpers
    def cli(self, *args):
        cp = fbsaml.cli(self.srv, *args)
        self.assertNoCrash(cp, " ".join(args))
        return cp

    def rp(self, step, **args):
        if shutil.which("node") is None or not os.path.isdir(
                os.path.join(harness.PEERS, "node_modules", "jose")):
            raise harness.peer_missing("node and tests/peers' openid-client and jose")
        a = {"issuer": self.issuer}
        a.update(args)
        cp = subprocess.run(["node", RP, step, json.dumps(a)], capture_output=True, text=True,
                            timeout=60, cwd=harness.PEERS)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return json.loads(cp.stdout.strip().splitlines()[-1])

    def token(self, fields, headers=None):
        r = self.srv.request("POST", "/oauth2/token", headers=headers or FORM,
                             body=urllib.parse.urlencode(fields))
        return r.status, json.loads(r.body or b"{}")

    def introspect(self, cid, secret, token):
        r = self.srv.request("POST", "/oauth2/introspect", headers=basic(cid, secret),
                             body=urllib.parse.urlencode({"token": token}))
        self.assertEqual(r.status, 200, r.body)
        return json.loads(r.body)

    def ids(self):
        cp = self.cli("oidc", "client", "list", "--json")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return {c["id"]: c["source"] for c in json.loads(cp.stdout)}

    def add(self, *args):
        return self.cli("oidc", "client", "add", *args)

    def until(self, check, what, timeout=20):
        """Polls check() (a worker reads a stored client again after 5 s) until true."""
        deadline = time.time() + timeout
        while not check():
            self.assertLess(time.time(), deadline, what)
            time.sleep(0.2)

    # -- a service client: added, used at once, token client, removed
    def test_service_client_lifecycle(self):
        cp = self.add("--id", "svc2", "--type", "service", "--scope", "reports.read",
                      "--scope", "reports.write", "--generate-secret")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        secret = [l.split(": ", 1)[1] for l in cp.stdout.splitlines()
                  if l.startswith("client_secret: ")][0]
        self.assertGreaterEqual(len(secret), 40)
        self.assertIn("shown once", cp.stderr)
        # Only the hash is stored: neither list nor show nor an export prints the secret.
        self.assertEqual(self.ids().get("svc2"), "store")
        cp = self.cli("oidc", "client", "show", "svc2", "--json")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        o = json.loads(cp.stdout)
        self.assertEqual((o["source"], o["type"], o["signing_alg"]),
                         ("store", "service", "ES256"))
        self.assertEqual(o["auth_methods"], ["client_secret_basic", "client_secret_post"])
        self.assertNotIn(secret, cp.stdout + cp.stderr)
        # The running broker knows it, without a reload (openid-client, tokens through jose).
        t = self.rp("cc", client_id="svc2", client_secret=secret, scope="reports.read")
        self.assertNotIn("error", t, t)
        self.assertEqual(t["at_claims"]["client_id"], "svc2")
        self.assertEqual(t["at_header"]["alg"], "ES256")
        st, body = self.token({"grant_type": "client_credentials"}, basic("svc2", "wrong" * 8))
        self.assertEqual((st, body.get("error")), (401, "invalid_client"))
        # token client: what client_credentials returns, verified by jose against the JWKS.
        cp = self.cli("token", "client", "--client", "svc2", "--scope", "reports.write")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        tc = json.loads(cp.stdout)
        self.assertEqual((tc["token_type"], tc["scope"]), ("Bearer", "reports.write"))
        self.assertEqual(tc["expires_in"], 600)
        v = self.rp("verify", client_id="svc2", jwt=tc["access_token"], typ="at+jwt")
        self.assertNotIn("error", v, v)
        self.assertEqual(v["header"]["typ"].lower(), "at+jwt")
        self.assertEqual(v["header"]["alg"], "ES256")
        self.assertEqual((v["claims"]["sub"], v["claims"]["client_id"], v["claims"]["iss"]),
                         ("svc2", "svc2", self.issuer))
        self.assertTrue(self.introspect("svc2", secret, tc["access_token"])["active"])
        # token client refuses what the endpoint would.
        cp = self.cli("token", "client", "--client", "svc2", "--scope", "reports.delete")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("invalid_scope", cp.stderr)
        cp = self.cli("token", "client", "--client", "nosuch")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("no OpenID client nosuch", cp.stderr)
        cp = self.cli("token", "client")
        self.assertEqual(cp.returncode, 2)
        # Removed: refused within seconds by every worker.
        cp = self.cli("oidc", "client", "remove", "svc2")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertNotIn("svc2", self.ids())
        # Each worker reads it again within 5 s: then 6 requests in a row (both workers) fail.
        self.until(lambda: all(self.token({"grant_type": "client_credentials"},
                                          basic("svc2", secret))[0] == 401 for _ in range(6)),
                   "a removed client is refused by every worker within seconds")
        cp = self.cli("oidc", "client", "remove", "svc2")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("no client 'svc2' in the store", cp.stderr)

    # -- a confidential client: the code flow, its refresh token revoked by remove
    def test_code_flow_client_removed_revokes_refresh(self):
        cp = self.add("--id", "web2", "--redirect-uri", WEB_CB, "--secret-file",
                      os.path.join(self.dir, "web2.secret"), "--group", "staff")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        b = fbsaml.signed_in(self, self.srv, "alice")
        verifier = "v" * 64
        ch = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()
                                      ).decode().rstrip("=")
        p = b.get("/oauth2/authorize?" + urllib.parse.urlencode({
            "response_type": "code", "client_id": "web2", "redirect_uri": WEB_CB,
            "scope": "openid email groups", "nonce": "n-1", "code_challenge": ch,
            "code_challenge_method": "S256"}))
        self.assertEqual(p.status, 302, p.text[:1000])
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)["code"][0]
        st, t = self.token({"grant_type": "authorization_code", "code": code,
                            "redirect_uri": WEB_CB, "code_verifier": verifier},
                           basic("web2", WEB_SECRET))
        self.assertEqual(st, 200, t)
        # ES256 by default: with generated keys (SQLite), the generated EC P-256 key signs.
        v = self.rp("verify", client_id="web2", jwt=t["id_token"], typ="JWT")
        self.assertNotIn("error", v, v)
        self.assertEqual(v["header"]["alg"], "ES256")
        self.assertEqual(v["claims"]["aud"], "web2")
        self.assertEqual(v["claims"]["groups"], ["staff"])
        jwks = json.loads(self.srv.request("GET", "/oauth2/jwks").body)
        self.assertIn(v["header"]["kid"], [k["kid"] for k in jwks["keys"] if k["kty"] == "EC"])
        # Removing the client revokes its refresh tokens at once, on every replica.
        cp = self.cli("oidc", "client", "remove", "web2")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        st, body = self.token({"grant_type": "refresh_token",
                               "refresh_token": t["refresh_token"]},
                              basic("web2", WEB_SECRET))
        self.assertIn(st, (400, 401), body)
        self.assertIn(body.get("error"), ("invalid_grant", "invalid_client"))
        self.assertFalse(self.introspect("rs-any", ANY_SECRET, t["access_token"])["active"],
                         "its access token is revoked with the family")

    # -- introspection: a client's own tokens only, unless introspect: any
    def test_introspection_limited_to_own_tokens(self):
        cp = self.cli("token", "client", "--client", "cfg")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        at = json.loads(cp.stdout)["access_token"]
        off = self.srv.log_size()
        self.assertEqual(self.introspect("rs", RS_SECRET, at), {"active": False})
        self.assertTrue(fbsaml.audit_since(self.srv, off, "oidc_introspect_refused"))
        i = self.introspect("rs-any", ANY_SECRET, at)
        self.assertTrue(i["active"], i)
        self.assertEqual(i["client_id"], "cfg")
        self.assertTrue(self.introspect("cfg", CFG_SECRET, at)["active"])
        cp = self.cli("oidc", "client", "show", "rs-any", "--json")
        self.assertEqual(cp.returncode, 0, cp.stderr)

    # -- the configuration wins; every bad input refused, nothing stored
    def test_add_bad_input_stores_nothing(self):
        cp = self.add("--id", "keep", "--type", "service", "--generate-secret")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        before = self.ids()
        cases = [
            (["--id", "cfg", "--type", "service", "--generate-secret"], "oidc.clients"),
            (["--id", "keep", "--type", "service", "--generate-secret"], "exists in the store"),
            (["--id", "bad1", "--redirect-uri", "https://app.example.test/cb#frag",
              "--generate-secret"], "redirect_uris"),
            (["--id", "bad2", "--redirect-uri", "http://app.example.test/cb",
              "--generate-secret"], "redirect_uris"),
            (["--id", "bad3", "--redirect-uri", WEB_CB, "--grant-type", "password",
              "--generate-secret"], "not a grant type"),
            (["--id", "bad4", "--type", "public", "--redirect-uri", WEB_CB,
              "--generate-secret"], "public client has no secret"),
            (["--id", "bad5", "--type", "service"], "needs a secret"),
            (["--id", "bad6", "--type", "robot", "--generate-secret"], "type"),
            (["--id", "bad id!", "--type", "service", "--generate-secret"], "id"),
            (["--id", "bad7", "--type", "service", "--secret-file",
              os.path.join(self.dir, "short.secret")], "shorter than 16"),
            (["--id", "bad8", "--type", "service", "--secret-file",
              os.path.join(self.dir, "missing.secret")], "secret-file"),
            (["--id", "bad9", "--type", "service", "--jwks",
              os.path.join(self.dir, "cfg.secret")], "--jwks"),
            (["--id", "bad10", "--type", "service", "--grant-type", "authorization_code",
              "--redirect-uri", WEB_CB, "--generate-secret"], "client_credentials only"),
        ]
        for args, why in cases:
            with self.subTest(args=args):
                cp = self.add(*args)
                self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
                self.assertIn(why, cp.stderr)
                self.assertNotIn("client_secret:", cp.stdout, "no secret for nothing")
        cp = self.add("--id", "x", "--secret-file", "f", "--generate-secret")
        self.assertEqual(cp.returncode, 2, cp.stderr)
        cp = self.add("--type", "service")
        self.assertEqual(cp.returncode, 2, cp.stderr)
        self.assertEqual(self.ids(), before, "nothing was stored")
        cp = self.cli("oidc", "client", "remove", "cfg")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("remove it from the configuration", cp.stderr)
        # The list names each client's source.
        self.assertEqual(self.ids().get("cfg"), "config")
        self.assertEqual(self.ids().get("keep"), "store")
        cp = self.cli("oidc", "client", "list")
        self.assertRegex(cp.stdout, r"(?m)^keep +store +service ")
        self.assertRegex(cp.stdout, r"(?m)^cfg +config +service ")

    def test_private_key_jwt_client_from_the_store(self):
        """A stored client with keys (--jwks: kept in the store, not a path) signs in with
        private_key_jwt through openid-client."""
        key = subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                              "ec_paramgen_curve:P-256"], capture_output=True, text=True,
                             check=True).stdout
        der = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"],
                             input=key.encode(), capture_output=True, check=True).stdout
        xy = der[-64:]
        b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")  # noqa: E731
        path = os.path.join(self.dir, "bot.jwks")
        with open(path, "w") as f:
            json.dump({"keys": [{"kty": "EC", "crv": "P-256", "kid": "bot-1", "use": "sig",
                                 "x": b64(xy[:32]), "y": b64(xy[32:])}]}, f)
        cp = self.add("--id", "bot", "--type", "service", "--jwks", path, "--scope", "jobs")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        os.unlink(path)  # the keys live in the store now
        t = self.rp("cc", client_id="bot", private_key=key, kid="bot-1", scope="jobs")
        self.assertNotIn("error", t, t)
        self.assertEqual(t["at_claims"]["sub"], "bot")


if __name__ == "__main__":
    harness.main()
