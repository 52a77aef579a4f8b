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
the generated EC P-256 key. And the Kubernetes worked example (item 8,
contrib/oidc): its kubeconfig names kubelogin's exec plugin and the issuer and
client of its fedbroker.yaml, and the redirect URI kubelogin sends from those
arguments gets a code from a broker running that client, whose ID token holds
what the kube-apiserver flags of the example read. On SQLite and, with
FB_TEST_STORE=postgres, on PostgreSQL.
"""

import base64
import hashlib
import json
import os
import re
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


def pg_keys(d):
    """{"keys": ...} for the PostgreSQL run (replicas are given their keys, none is
    generated): an active RSA key and a published EC P-256 one, copied under d; {} on
    SQLite, where fedbroker generates both."""
    if harness.STORE != "postgres":
        return {}
    keys = []
    for kid, name, state in (("rsa", "rsa2048", "active"), ("ec", "ec256", "published")):
        for ext in ("key", "crt"):
            shutil.copy(os.path.join(harness.FIXTURE_KEYS, "%s.%s.pem" % (name, ext)),
                        os.path.join(d, "%s.%s.pem" % (kid, ext)))
        os.chmod(os.path.join(d, kid + ".key.pem"), 0o600)
        keys.append({"id": kid, "key": os.path.join(d, kid + ".key.pem"),
                     "cert": os.path.join(d, kid + ".crt.pem"), "state": state})
    return {"keys": keys}


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
        conf.update(pg_keys(d))
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


KUBE_DIR = os.path.join(harness.SRCDIR, "contrib", "oidc")


class KubernetesExample(harness.TestCase):
    """contrib/oidc/kubernetes.md and kubeconfig-oidc.yaml, and the man page, agree with
    each other and with the provider."""

    def read(self, name):
        with open(os.path.join(KUBE_DIR, name)) as f:
            return f.read()

    def test_kubeconfig_and_flags_work_with_the_provider(self):
        import yaml
        md = self.read("kubernetes.md")
        kc = yaml.safe_load(self.read("kubeconfig-oidc.yaml"))
        self.assertEqual((kc["apiVersion"], kc["kind"]), ("v1", "Config"))
        ex = kc["users"][0]["user"]["exec"]
        self.assertEqual(ex["apiVersion"], "client.authentication.k8s.io/v1")
        self.assertEqual(ex["command"], "kubectl")
        self.assertEqual(ex["args"][:2], ["oidc-login", "get-token"])
        args = {}
        for a in ex["args"][2:]:
            k, _, v = a.partition("=")
            args.setdefault(k, []).append(v)
        self.assertEqual(set(args) - {"--oidc-issuer-url", "--oidc-client-id",
                                      "--oidc-extra-scope", "--listen-address",
                                      "--oidc-redirect-url-hostname"}, set(),
                         "only kubelogin flags the test knows")
        # The example's fedbroker.yaml: the issuer and the client the kubeconfig names.
        conf = yaml.safe_load(re.search(r"## fedbroker.yaml.*?```yaml\n(.*?)```", md,
                                        re.S).group(1))
        client = conf["oidc"]["clients"][0]
        self.assertEqual(args["--oidc-issuer-url"], [conf["server"]["public_url"]])
        self.assertEqual(args["--oidc-client-id"], [client["id"]])
        self.assertEqual(set(args["--oidc-extra-scope"]) - set(client["scopes"]), set())
        # kube-apiserver's flags in the example name the same issuer, client and claims.
        flags = dict(re.findall(r"^(--oidc-[a-z-]+)=(\S+)$", md, re.M))
        self.assertEqual(flags["--oidc-issuer-url"], conf["server"]["public_url"])
        self.assertEqual(flags["--oidc-client-id"], client["id"])
        self.assertEqual(flags["--oidc-groups-claim"], "groups")
        self.assertEqual(flags["--oidc-username-claim"], "email")
        self.assertEqual(flags["--oidc-signing-algs"], "ES256")
        # The man page gives the same flags.
        with open(os.path.join(harness.SRCDIR, "man", "fedbroker.yaml.5")) as f:
            man = f.read().replace("\\-", "-").replace("\\fB", "").replace("\\fR", "")
        for flag in ("--oidc-issuer-url=", "--oidc-client-id=" + client["id"],
                     "--oidc-groups-claim=groups", "--oidc-username-claim=email",
                     "kubectl oidc-login get-token", "--oidc-redirect-url-hostname=127.0.0.1"):
            self.assertIn(flag, man.replace("\n", " "), flag)
        # The redirect URI kubelogin builds from its arguments: http://HOST:PORT (no path).
        host = args.get("--oidc-redirect-url-hostname", ["localhost"])[0]
        port = args["--listen-address"][0].rsplit(":", 1)[1]
        redirect = "http://%s:%s" % (host, port)
        # A broker running the example's client (its issuer this test's address).
        d = self.tmpdir()
        srv_conf = {"oidc": {"clients": [client]},
                    "groups": [{"name": g, "members": ["alice"]} for g in client["groups"]]}
        srv_conf.update(pg_keys(d))
        srv = fbsaml.saml_server(self, [], users=[("alice", "alice@example.com")],
                                 conf=srv_conf)
        b = fbsaml.signed_in(self, srv, "alice")
        verifier = "k" * 64
        ch = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()
                                      ).decode().rstrip("=")
        scope = " ".join(["openid"] + args["--oidc-extra-scope"])
        q = {"response_type": "code", "client_id": client["id"], "scope": scope,
             "code_challenge": ch, "code_challenge_method": "S256", "state": "s", "nonce": "n"}
        p = b.get("/oauth2/authorize?" + urllib.parse.urlencode(dict(q, redirect_uri=redirect)))
        self.assertEqual(p.status, 302, p.text[:1000])
        self.assertTrue(p.location.startswith(redirect + "?code="), p.location)
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)["code"][0]
        # kubelogin's fallback listener (18000): any port of the loopback literal.
        p2 = b.get("/oauth2/authorize?" + urllib.parse.urlencode(
            dict(q, redirect_uri="http://%s:18000" % host)))
        self.assertEqual(p2.status, 302, p2.text[:1000])
        # Its default hostname, localhost, is not accepted: the example must set it.
        p3 = b.get("/oauth2/authorize?" + urllib.parse.urlencode(
            dict(q, redirect_uri="http://localhost:" + port)))
        self.assertNotEqual(p3.status, 302)
        r = srv.request("POST", "/oauth2/token", headers=FORM, body=urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
            "client_id": client["id"], "code_verifier": verifier}))
        self.assertEqual(r.status, 200, r.body)
        idt = json.loads(r.body)["id_token"]
        head, payload = [json.loads(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))
                         for x in idt.split(".")[:2]]
        self.assertEqual(head["alg"], flags["--oidc-signing-algs"])
        self.assertEqual(payload["aud"], flags["--oidc-client-id"])
        self.assertEqual(payload[flags["--oidc-username-claim"]], "alice@example.com")
        self.assertIs(payload["email_verified"], True, "kube-apiserver requires it for email")
        self.assertEqual(sorted(payload[flags["--oidc-groups-claim"]]),
                         sorted(client["groups"]))


if __name__ == "__main__":
    harness.main()
