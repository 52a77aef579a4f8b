#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""78: fedbroker as an OpenID provider (issue 14): discovery and JWKS, the
code flow with PKCE S256 on the broker session driven by npm's openid-client,
tokens verified by npm's jose against the JWKS, refresh-token rotation and
reuse detection, client_credentials, introspection and revocation; and every
bad input implemented: near-miss redirect URIs, PKCE missing, plain or wrong,
a code replayed or used by another client, a refresh token reused or
presented by another client, a wrong secret or unknown client, a grant the
client may not use, malformed, repeated and oversized form bodies. Each
refusal: the RFC's error code, an audit line, nothing issued. Runs on SQLite
and, with FB_TEST_STORE=postgres, on PostgreSQL (codes and refresh-token
families live in the store).
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402

RP = os.path.join(harness.PEERS, "oidc", "rp.mjs")
KEYS = harness.FIXTURE_KEYS
WEB_SECRET = "web-secret-0123456789abcdefghij"
RS_SECRET = "rs-secret-0123456789abcdefghijk"
SVC_SECRET = "svc-secret-0123456789abcdefghij"
WEB_CB = "https://app.example.test/cb"
SPA_CB = "http://127.0.0.1/callback"
WEB_LOGOUT = "https://app.example.test/bye"
SPA_ORIGIN = "https://spa.example.test"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CLAIMS_RULE = "return 'blue-' + user.username\n"


def basic(cid, secret):
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (cid, secret)).encode()).decode(), **FORM}


def peers_missing():
    if shutil.which("node") is None or not all(os.path.isdir(os.path.join(
            harness.PEERS, "node_modules", m)) for m in ("openid-client", "jose")):
        return harness.peer_missing("node and tests/peers' openid-client and jose "
                                    "(cd tests/peers && npm ci)")
    return None


class OidcProvider(harness.TestCase):
    """One broker with four clients, alice (staff) and bob (no group)."""

    @classmethod
    def setUpClass(cls):
        cls.holder = harness.TestCase("run")
        cls.holder.setUp()
        d = cls.holder.tmpdir()
        keys = []
        for kid, name, state in (("rsa", "rsa2048", "active"), ("ec", "ec256", "published")):
            for ext in ("key", "crt"):
                shutil.copy(os.path.join(KEYS, "%s.%s.pem" % (name, ext)),
                            os.path.join(d, "%s.%s.pem" % (kid, ext)))
            os.chmod(os.path.join(d, kid + ".key.pem"), 0o600)
            keys.append({"id": kid, "key": os.path.join(d, kid + ".key.pem"),
                         "cert": os.path.join(d, kid + ".crt.pem"), "state": state})
        for name, value in (("web", WEB_SECRET), ("rs", RS_SECRET), ("svc", SVC_SECRET)):
            with open(os.path.join(d, name + ".secret"), "w") as f:
                f.write(value + "\n")
        # robot authenticates with private_key_jwt: its key pair made here, its JWKS in a file.
        cls.robot_key = subprocess.run(
            ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            capture_output=True, text=True, check=True).stdout
        der = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"],
                             input=cls.robot_key.encode(), capture_output=True,
                             check=True).stdout
        xy = der[-64:]  # the uncompressed point's x and y (SubjectPublicKeyInfo ends with it)
        b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")  # noqa: E731
        jwks = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "robot-1", "use": "sig",
                          "x": b64(xy[:32]), "y": b64(xy[32:])}]}
        with open(os.path.join(d, "robot.jwks"), "w") as f:
            json.dump(jwks, f)
        conf = {
            "keys": keys,
            "key_rollover": {"min_publish_time": "0"},
            "oidc": {"clients": [
                {"id": "web", "secret": "file:" + os.path.join(d, "web.secret"),
                 "redirect_uris": [WEB_CB], "claims": [{"name": "team", "mapping": "team"}]},
                {"id": "web-rs", "secret": "file:" + os.path.join(d, "rs.secret"),
                 "redirect_uris": [WEB_CB], "signing_alg": "RS256", "require_pkce": False,
                 "post_logout_redirect_uris": [WEB_LOGOUT]},
                {"id": "spa", "type": "public", "redirect_uris": [SPA_CB],
                 "groups": ["staff"], "cors_origins": [SPA_ORIGIN]},
                {"id": "svc", "type": "service", "secret": "file:" + os.path.join(d, "svc.secret"),
                 "scopes": ["reports.read", "reports.write"]},
                {"id": "robot", "type": "service", "jwks": os.path.join(d, "robot.jwks"),
                 "scopes": ["reports.read"]},
            ]},
        }
        cls.srv = fbsaml.saml_server(cls.holder, [], groups=[{"name": "staff",
                                                              "members": ["alice"]}],
                                     users=[("alice", "alice@example.com"), "bob"],
                                     mappings={"team": CLAIMS_RULE}, conf=conf)
        cls.issuer = "http://127.0.0.1:%d" % cls.srv.port

    @classmethod
    def tearDownClass(cls):
        cls.holder.doCleanups()

    # -- helpers
    def rp(self, step, **args):
        missing = peers_missing()
        if missing:
            raise missing
        a = {"issuer": self.issuer}
        a.update(args)
        cp = subprocess.run(["node", RP, step, json.dumps(a)], capture_output=True, text=True,
                            timeout=60, cwd=harness.PEERS)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return json.loads(cp.stdout.strip().splitlines()[-1])

    def token(self, fields, headers=None):
        r = self.srv.request("POST", "/oauth2/token", headers=headers or FORM,
                             body=urllib.parse.urlencode(fields))
        return r.status, json.loads(r.body or b"{}"), r

    def authorize(self, browser, **params):
        return browser.get("/oauth2/authorize?" + urllib.parse.urlencode(params))

    def code_for(self, browser, client="web", redirect=WEB_CB, challenge=None, **extra):
        params = {"response_type": "code", "client_id": client, "redirect_uri": redirect,
                  "scope": "openid profile email groups", "state": "st-1", "nonce": "n-1"}
        if challenge:
            params.update(code_challenge=challenge, code_challenge_method="S256")
        params.update(extra)
        p = self.authorize(browser, **params)
        self.assertEqual(p.status, 302, p.text[:2000])
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)
        self.assertIn("code", q, p.location)
        return q["code"][0]

    def through_login(self, b, page, user):
        """Signs in at the login page page sends b to, then follows the broker's own
        redirects; returns the first answer that leaves it (the client's redirect)."""
        self.assertEqual(page.status, 303, page.text[:500])
        form = b.get(page.location)
        self.assertEqual(form.status, 200, form.text[:2000])
        page = b.submit(form, "/login", {"username": user, "password": fbsaml.PASSWORD})
        for _ in range(6):
            loc = page.location or ""
            if page.status not in (302, 303) or not (loc.startswith("/") or
                                                     loc.startswith(self.issuer)):
                break
            page = b.get(fbsaml.path_of(loc) if loc.startswith("http") else loc)
        return page

    def audit(self, offset, event):
        return fbsaml.audit_since(self.srv, offset, event)

    # -- discovery and keys
    def test_discovery_and_jwks(self):
        r = self.srv.request("GET", "/.well-known/openid-configuration")
        self.assertEqual(r.status, 200)
        d = json.loads(r.body)
        self.assertEqual(d["issuer"], self.issuer)
        self.assertEqual(d["token_endpoint"], self.issuer + "/oauth2/token")
        self.assertEqual(d["jwks_uri"], self.issuer + "/oauth2/jwks")
        self.assertEqual(d["code_challenge_methods_supported"], ["S256"])
        self.assertTrue(d["authorization_response_iss_parameter_supported"])
        r = self.srv.request("GET", "/oauth2/jwks")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "application/jwk-set+json")
        kids = sorted(k["kid"] for k in json.loads(r.body)["keys"])
        self.assertEqual(kids, ["ec", "rsa"], "active and published keys")
        self.assertFalse(any("d" in k for k in json.loads(r.body)["keys"]), "no private part")

    # -- the code flow with openid-client, tokens checked by jose
    def test_code_pkce_with_openid_client(self):
        a = self.rp("authurl", client_id="web", client_secret=WEB_SECRET, redirect_uri=WEB_CB)
        b = fbsaml.browser(self, self.srv)
        p = b.get(fbsaml.path_of(a["url"]))
        # No session: the login page, then back to the authorization request.
        self.assertEqual(p.status, 303, p.text[:2000])
        self.assertTrue(p.location.startswith("/login?next="), p.location)
        p = self.through_login(b, p, "alice")
        self.assertEqual(p.status, 302, p.text[:2000])
        u = urllib.parse.urlsplit(p.location)
        self.assertEqual(u.scheme + "://" + u.netloc + u.path, WEB_CB)
        q = urllib.parse.parse_qs(u.query)
        self.assertEqual(q["iss"], [self.issuer], "RFC 9207")
        self.assertEqual(q["state"], [a["state"]])
        t = self.rp("code", client_id="web", client_secret=WEB_SECRET, callback=p.location,
                    verifier=a["verifier"], state=a["state"], nonce=a["nonce"])
        self.assertNotIn("error", t, t)
        idc = t["id_claims"]
        self.assertEqual(t["id_header"]["alg"], "ES256")
        self.assertEqual(t["id_header"]["kid"], "ec")
        self.assertEqual(t["at_header"]["typ"], "at+jwt")
        self.assertEqual(idc["aud"], "web")
        self.assertEqual(idc["nonce"], a["nonce"])
        self.assertEqual(idc["preferred_username"], "alice")
        self.assertEqual(idc["email"], "alice@example.com")
        self.assertEqual(idc["groups"], ["staff"])
        self.assertEqual(idc["team"], "blue-alice", "the client's mapped claim")
        self.assertEqual((idc["acr"], idc["amr"]), ("urn:fedbroker:acr:pwd", ["pwd"]),
                         "a password sign-in, no second factor")
        self.assertEqual(t["at_claims"]["client_id"], "web")
        self.assertEqual(t["at_claims"]["sub"], idc["sub"])
        ui = self.rp("userinfo", client_id="web", client_secret=WEB_SECRET,
                     token=t["tokens"]["access_token"], sub=idc["sub"])
        self.assertEqual(ui.get("email"), "alice@example.com", ui)
        # Refresh: rotated; the old one presented again revokes the whole family.
        old = t["tokens"]["refresh_token"]
        r1 = self.rp("refresh", client_id="web", client_secret=WEB_SECRET, refresh_token=old)
        self.assertNotIn("error", r1, r1)
        new = r1["tokens"]["refresh_token"]
        self.assertNotEqual(new, old)
        off = self.srv.log_size()
        st, body, _ = self.token({"grant_type": "refresh_token", "refresh_token": old},
                                 basic("web", WEB_SECRET))
        self.assertEqual((st, body["error"]), (400, "invalid_grant"))
        self.assertNotIn("access_token", body)
        self.assertTrue(self.audit(off, "oidc_refresh_replayed"))
        st, body, _ = self.token({"grant_type": "refresh_token", "refresh_token": new},
                                 basic("web", WEB_SECRET))
        self.assertEqual((st, body["error"]), (400, "invalid_grant"), "the family is revoked")
        i = self.rp("introspect", client_id="web", client_secret=WEB_SECRET,
                    token=r1["tokens"]["access_token"])
        self.assertFalse(i["active"], "access tokens of the family are revoked too")

    def test_acr_mfa(self):
        # carol enrols a second factor: her session then satisfies acr_values mfa.
        import webclient
        fbsaml.add_user(self, self.srv, "carol")
        b = fbsaml.signed_in(self, self.srv, "carol")
        p = b.get("/mfa/enrol")
        self.assertEqual(p.status, 200, p.text[:2000])
        secret = p.by_id("totp-secret").replace(" ", "")
        webclient.wait_fresh_step()
        r = b.submit(p, "/mfa/enrol", {"pending": p.hidden("pending"),
                                       "code": webclient.totp(secret)})
        self.assertIn("Two-step verification is on", r.text)
        code = self.code_for(b, client="web-rs", acr_values="urn:fedbroker:acr:mfa")
        st, t, _ = self.token({"grant_type": "authorization_code", "code": code,
                               "redirect_uri": WEB_CB}, basic("web-rs", RS_SECRET))
        self.assertEqual(st, 200, t)
        claims = json.loads(base64.urlsafe_b64decode(t["id_token"].split(".")[1] + "=="))
        self.assertEqual((claims["acr"], claims["amr"]), ("urn:fedbroker:acr:mfa",
                                                          ["pwd", "mfa"]))

    def test_rs256_client(self):
        b = fbsaml.signed_in(self, self.srv, "alice")
        code = self.code_for(b, client="web-rs")
        st, body, _ = self.token({"grant_type": "authorization_code", "code": code,
                                  "redirect_uri": WEB_CB}, basic("web-rs", RS_SECRET))
        self.assertEqual(st, 200, body)
        v = self.rp("verify", client_id="web-rs", jwt=body["id_token"], typ="JWT")
        self.assertEqual(v["header"]["alg"], "RS256", v)
        self.assertEqual(v["header"]["kid"], "rsa")

    # -- client credentials, introspection, revocation
    def test_client_credentials_introspect_revoke(self):
        t = self.rp("cc", client_id="svc", client_secret=SVC_SECRET, scope="reports.read")
        self.assertNotIn("error", t, t)
        self.assertEqual(t["at_claims"]["sub"], "svc")
        self.assertEqual(t["at_claims"]["scope"], "reports.read")
        at = t["tokens"]["access_token"]
        i = self.rp("introspect", client_id="svc", client_secret=SVC_SECRET, token=at)
        self.assertTrue(i["active"], i)
        self.assertEqual(i["client_id"], "svc")
        self.assertEqual(self.rp("revoke", client_id="svc", client_secret=SVC_SECRET,
                                 token=at), {})
        i = self.rp("introspect", client_id="svc", client_secret=SVC_SECRET, token=at)
        self.assertFalse(i["active"], "revoked")
        # client_secret_post works too; a scope it may not have, or openid, is refused.
        st, body, _ = self.token({"grant_type": "client_credentials", "client_id": "svc",
                                  "client_secret": SVC_SECRET, "scope": "reports.delete"})
        self.assertEqual((st, body["error"]), (400, "invalid_scope"))
        st, body, _ = self.token({"grant_type": "client_credentials", "client_id": "svc",
                                  "client_secret": SVC_SECRET, "scope": "openid"})
        self.assertEqual((st, body["error"]), (400, "invalid_scope"))
        st, body, _ = self.token({"grant_type": "client_credentials", "client_id": "svc",
                                  "client_secret": SVC_SECRET})
        self.assertEqual(st, 200, body)

    def test_private_key_jwt(self):
        t = self.rp("cc", client_id="robot", private_key=self.robot_key, kid="robot-1",
                    scope="reports.read")
        self.assertNotIn("error", t, t)
        self.assertEqual(t["at_claims"]["sub"], "robot")

        def post(jwt, **extra):
            f = {"grant_type": "client_credentials", "client_assertion": jwt,
                 "client_assertion_type":
                     "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
            f.update(extra)
            return self.token(f)

        a = self.rp("assertion", client_id="robot", private_key=self.robot_key, kid="robot-1",
                    jti="once-1")["jwt"]
        st, body, _ = post(a)
        self.assertEqual(st, 200, body)
        cases = {
            "replayed": a,
            "another key": self.rp("assertion", client_id="robot", kid="robot-1",
                                   jti="k-1")["jwt"],
            "another audience": self.rp("assertion", client_id="robot", kid="robot-1",
                                        private_key=self.robot_key, jti="a-1",
                                        aud="https://elsewhere.example/token")["jwt"],
            "too long-lived": self.rp("assertion", client_id="robot", kid="robot-1",
                                      private_key=self.robot_key, jti="l-1",
                                      exp_in=3600)["jwt"],
            "a client without keys": self.rp("assertion", client_id="svc", kid="robot-1",
                                             private_key=self.robot_key, jti="s-1")["jwt"],
            "not a JWT": "a.b",
        }
        for why, jwt in cases.items():
            with self.subTest(why=why):
                off = self.srv.log_size()
                st, body, r = post(jwt)
                self.assertEqual((st, body.get("error")), (401, "invalid_client"), body)
                self.assertNotIn("access_token", body)
                self.assertTrue(self.audit(off, "oidc_client_auth_failed"))
        st, body, _ = post(a, client_assertion_type="urn:other")
        self.assertEqual((st, body.get("error")), (401, "invalid_client"))

    def test_cors_for_browser_apps(self):
        pre = {"Origin": SPA_ORIGIN, "Access-Control-Request-Method": "POST"}
        r = self.srv.request("OPTIONS", "/oauth2/token", headers=pre)
        self.assertEqual(r.status, 204)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), SPA_ORIGIN)
        self.assertIn("Content-Type", r.header("Access-Control-Allow-Headers"))
        for origin in ("https://evil.example.test", SPA_ORIGIN + ":8443", SPA_ORIGIN + "/"):
            with self.subTest(origin=origin):
                r = self.srv.request("OPTIONS", "/oauth2/token", headers=dict(pre, Origin=origin))
                self.assertIsNone(r.header("Access-Control-Allow-Origin"))
                r = self.srv.request("POST", "/oauth2/token", headers=dict(FORM, Origin=origin),
                                     body="grant_type=refresh_token&refresh_token=x&client_id=spa")
                self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        r = self.srv.request("POST", "/oauth2/token", headers=dict(FORM, Origin=SPA_ORIGIN),
                             body="grant_type=refresh_token&refresh_token=x&client_id=spa")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), SPA_ORIGIN,
                         "the app can read the error")
        self.assertEqual(r.header("Vary"), "Origin")

    def test_cli(self):
        cp = fbsaml.cli(self.srv, "oidc", "client", "list")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        ids = [line.split()[0] for line in cp.stdout.splitlines()[1:]]
        self.assertEqual(ids, ["web", "web-rs", "spa", "svc", "robot"])
        cp = fbsaml.cli(self.srv, "oidc", "client", "show", "web", "--json")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        o = json.loads(cp.stdout)
        self.assertEqual((o["signing_alg"], o["signing_key"]), ("ES256", "ec"))
        self.assertEqual(o["claims"], [{"name": "team", "mapping": "team"}])
        self.assertNotIn(WEB_SECRET, cp.stdout + cp.stderr, "a secret is never printed")
        cp = fbsaml.cli(self.srv, "oidc", "client", "show", "web-rs")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"(?m)^signing_key +rsa$")
        self.assertNotIn(RS_SECRET, cp.stdout + cp.stderr)
        cp = fbsaml.cli(self.srv, "oidc", "client", "show", "robot", "--json")
        self.assertEqual(json.loads(cp.stdout)["auth_methods"], ["private_key_jwt"])
        # explain --client: the claims alice would get, and why bob gets nothing from spa.
        cp = fbsaml.cli(self.srv, "explain", "--user", "alice", "--client", "web", "--json")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        ex = json.loads(cp.stdout)
        self.assertTrue(ex["ok"])
        self.assertEqual(ex["id_token"]["groups"], ["staff"])
        self.assertEqual(ex["id_token"]["team"], "blue-alice")
        self.assertEqual(ex["id_token"]["email"], "alice@example.com")
        self.assertEqual(ex["access_token"]["client_id"], "web")
        self.assertEqual(ex["signing_key"], "ec")
        cp = fbsaml.cli(self.srv, "explain", "--user", "bob", "--client", "spa")
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn("no group that may use client spa", cp.stdout)
        cp = fbsaml.cli(self.srv, "explain", "--user", "bob", "--client", "nosuch")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("no such client", cp.stderr)
        cp = fbsaml.cli(self.srv, "oidc", "client", "show", "nosuch")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("no client 'nosuch'", cp.stderr)

    # -- bad input
    def test_redirect_uri_near_misses_get_a_page(self):
        b = fbsaml.signed_in(self, self.srv, "alice")
        for uri in (WEB_CB + "/", "https://app.example.test:8443/cb",
                    "http://app.example.test/cb", WEB_CB + "/more", WEB_CB + "?x=1",
                    "https://app.example.test/CB", None):
            with self.subTest(uri=uri):
                off = self.srv.log_size()
                params = {"response_type": "code", "client_id": "web", "scope": "openid",
                          "state": "s", "code_challenge": "a" * 43,
                          "code_challenge_method": "S256"}
                if uri is not None:
                    params["redirect_uri"] = uri
                p = self.authorize(b, **params)
                self.assertEqual(p.status, 400, p.text[:500])
                self.assertIsNone(p.location, "never redirected to an unregistered URI")
                self.assertTrue(self.audit(off, "oidc_authorize_refused"))
        p = self.authorize(b, response_type="code", client_id="nosuch", redirect_uri=WEB_CB)
        self.assertEqual(p.status, 400)
        # A native app's loopback redirect may use any port (RFC 8252 7.3), not another path.
        verifier = "v" * 50
        ch = base64.urlsafe_b64encode(__import__("hashlib").sha256(
            verifier.encode()).digest()).decode().rstrip("=")
        code = self.code_for(b, client="spa", redirect="http://127.0.0.1:53124/callback",
                             challenge=ch)
        self.assertTrue(code)
        p = self.authorize(b, response_type="code", client_id="spa",
                           redirect_uri="http://127.0.0.1:53124/other", code_challenge=ch,
                           code_challenge_method="S256")
        self.assertEqual(p.status, 400)

    def test_pkce(self):
        b = fbsaml.signed_in(self, self.srv, "alice")
        base = {"response_type": "code", "client_id": "spa", "redirect_uri": SPA_CB,
                "scope": "openid", "state": "s1"}
        for extra, why in (({}, "required"),
                           ({"code_challenge": "a" * 43, "code_challenge_method": "plain"},
                            "plain"),
                           ({"code_challenge": "a" * 43}, "plain"),
                           ({"code_challenge": "short", "code_challenge_method": "S256"},
                            "malformed")):
            with self.subTest(why=why, extra=extra):
                p = self.authorize(b, **base, **extra)
                self.assertEqual(p.status, 302, p.text[:500])
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)
                self.assertEqual(q["error"], ["invalid_request"])
                self.assertIn(why, q["error_description"][0])
                self.assertEqual(q["state"], ["s1"])
                self.assertNotIn("code", q)
        verifier = "w" * 60
        ch = base64.urlsafe_b64encode(__import__("hashlib").sha256(
            verifier.encode()).digest()).decode().rstrip("=")
        for bad in (None, "x" * 60):
            with self.subTest(verifier=bad):
                code = self.code_for(b, client="spa", redirect=SPA_CB, challenge=ch)
                f = {"grant_type": "authorization_code", "code": code,
                     "redirect_uri": SPA_CB, "client_id": "spa"}
                if bad:
                    f["code_verifier"] = bad
                st, body, _ = self.token(f)
                self.assertEqual((st, body.get("error")), (400, "invalid_grant"))
                self.assertNotIn("access_token", body)
                # The code is spent: the right verifier does not bring it back.
                f["code_verifier"] = verifier
                st, body, _ = self.token(f)
                self.assertEqual((st, body.get("error")), (400, "invalid_grant"))
        code = self.code_for(b, client="spa", redirect=SPA_CB, challenge=ch)
        st, body, _ = self.token({"grant_type": "authorization_code", "code": code,
                                  "redirect_uri": SPA_CB, "client_id": "spa",
                                  "code_verifier": verifier})
        self.assertEqual(st, 200, body)
        self.assertIn("id_token", body)

    def test_code_replay_revokes_what_it_issued(self):
        b = fbsaml.signed_in(self, self.srv, "alice")
        code = self.code_for(b, client="web-rs")
        f = {"grant_type": "authorization_code", "code": code, "redirect_uri": WEB_CB}
        st, first, _ = self.token(f, basic("web-rs", RS_SECRET))
        self.assertEqual(st, 200, first)
        off = self.srv.log_size()
        st, body, _ = self.token(f, basic("web-rs", RS_SECRET))
        self.assertEqual((st, body["error"]), (400, "invalid_grant"))
        self.assertNotIn("access_token", body)
        self.assertTrue(self.audit(off, "oidc_code_replayed"))
        st, body, _ = self.token({"grant_type": "refresh_token",
                                  "refresh_token": first["refresh_token"]},
                                 basic("web-rs", RS_SECRET))
        self.assertEqual((st, body["error"]), (400, "invalid_grant"))
        r = self.srv.request("POST", "/oauth2/introspect", headers=basic("web-rs", RS_SECRET),
                             body=urllib.parse.urlencode({"token": first["access_token"]}))
        self.assertEqual(json.loads(r.body), {"active": False})
        # A code used by another client is refused (and burnt).
        code = self.code_for(b, client="web-rs")
        st, body, _ = self.token({"grant_type": "authorization_code", "code": code,
                                  "redirect_uri": WEB_CB}, basic("web", WEB_SECRET))
        self.assertEqual((st, body["error"]), (400, "invalid_grant"))
        st, body, _ = self.token({"grant_type": "authorization_code", "code": code,
                                  "redirect_uri": WEB_CB}, basic("web-rs", RS_SECRET))
        self.assertEqual((st, body["error"]), (400, "invalid_grant"))
        # A refresh token presented by another client: refused, its family revoked.
        code = self.code_for(b, client="web-rs")
        st, t, _ = self.token({"grant_type": "authorization_code", "code": code,
                               "redirect_uri": WEB_CB}, basic("web-rs", RS_SECRET))
        self.assertEqual(st, 200, t)
        st, body, _ = self.token({"grant_type": "refresh_token",
                                  "refresh_token": t["refresh_token"]}, basic("web", WEB_SECRET))
        self.assertEqual((st, body["error"]), (400, "invalid_grant"))
        st, body, _ = self.token({"grant_type": "refresh_token",
                                  "refresh_token": t["refresh_token"]},
                                 basic("web-rs", RS_SECRET))
        self.assertEqual((st, body["error"]), (400, "invalid_grant"))

    def test_client_authentication(self):
        f = {"grant_type": "client_credentials"}
        answers = []
        for h in (basic("svc", "wrong-secret-0123456789"), basic("nosuch", SVC_SECRET),
                  basic("svc", "")):
            off = self.srv.log_size()
            st, body, r = self.token(f, h)
            self.assertEqual((st, body["error"]), (401, "invalid_client"))
            self.assertTrue(r.header("WWW-Authenticate").startswith("Basic"))
            self.assertTrue(self.audit(off, "oidc_client_auth_failed"))
            answers.append(body)
        self.assertEqual(answers[0], answers[1], "no client enumeration")
        st, body, _ = self.token({"grant_type": "client_credentials", "client_id": "svc",
                                  "client_secret": "wrong-secret-0123456789"})
        self.assertEqual((st, body["error"]), (401, "invalid_client"))
        st, body, _ = self.token(f, FORM)
        self.assertEqual((st, body["error"]), (401, "invalid_client"))
        # Grants the client may not use.
        st, body, _ = self.token(f, basic("web", WEB_SECRET))
        self.assertEqual((st, body["error"]), (400, "unauthorized_client"))
        st, body, _ = self.token({"grant_type": "authorization_code", "code": "x",
                                  "redirect_uri": WEB_CB}, basic("svc", SVC_SECRET))
        self.assertEqual((st, body["error"]), (400, "unauthorized_client"))
        st, body, _ = self.token({"grant_type": "password"}, basic("svc", SVC_SECRET))
        self.assertEqual((st, body["error"]), (400, "unsupported_grant_type"))
        # A public client cannot introspect.
        r = self.srv.request("POST", "/oauth2/introspect", headers=FORM,
                             body="token=x&client_id=spa")
        self.assertEqual(r.status, 401)

    def test_malformed_bodies(self):
        h = basic("svc", SVC_SECRET)
        for body, headers in (("grant_type=client_credentials&grant_type=client_credentials", h),
                              ("grant_type=%zz", h),
                              ("grant_type=client_credentials&x=" + "a" * 20000, h),
                              ('{"grant_type": "client_credentials"}',
                               {**h, "Content-Type": "application/json"}),
                              ("grant_type=client_credentials", {
                                  "Authorization": h["Authorization"]})):
            with self.subTest(body=body[:40]):
                off = self.srv.log_size()
                r = self.srv.request("POST", "/oauth2/token", headers=headers, body=body)
                self.assertEqual(r.status, 400, r.body[:300])
                self.assertEqual(json.loads(r.body)["error"], "invalid_request")
                self.assertNotIn(b"access_token", r.body)
                self.assertTrue(self.audit(off, "oidc_token_refused"))
        # Past server.limits.max_body_bytes: refused before it is read (413, or closed).
        try:
            r = self.srv.request("POST", "/oauth2/token", headers=h,
                                 body="grant_type=client_credentials&x=" + "a" * 2000000)
            self.assertIn(r.status, (400, 413))
            self.assertNotIn(b"access_token", r.body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = self.srv.request("GET", "/oauth2/token")
        self.assertEqual(r.status, 405)

    def test_rp_initiated_logout(self):
        b = fbsaml.signed_in(self, self.srv, "alice")
        code = self.code_for(b, client="web-rs")
        st, t, _ = self.token({"grant_type": "authorization_code", "code": code,
                               "redirect_uri": WEB_CB}, basic("web-rs", RS_SECRET))
        self.assertEqual(st, 200, t)
        d = json.loads(self.srv.request("GET", "/.well-known/openid-configuration").body)
        self.assertEqual(d["end_session_endpoint"], self.issuer + "/oauth2/logout")
        sub = self.rp("verify", client_id="web-rs", jwt=t["id_token"], typ="JWT")["claims"]["sub"]
        # Refused, the session kept: a hint signed by someone else, an unregistered
        # post-logout URI, a client_id that is not the hint's audience.
        forged = self.rp("forge", client_id="web-rs", sub=sub, kid="rsa")["jwt"]
        for q in ({"id_token_hint": forged, "post_logout_redirect_uri": WEB_LOGOUT},
                  {"id_token_hint": t["id_token"], "post_logout_redirect_uri": WEB_LOGOUT + "/"},
                  {"id_token_hint": t["id_token"], "client_id": "web"},
                  {"post_logout_redirect_uri": WEB_LOGOUT}):
            with self.subTest(q=sorted(q)):
                off = self.srv.log_size()
                p = b.get("/oauth2/logout?" + urllib.parse.urlencode(q))
                self.assertEqual(p.status, 400, p.text[:300])
                self.assertIsNone(p.location)
                self.assertTrue(self.audit(off, "oidc_logout_refused"))
                self.assertEqual(b.get("/").status, 200, "still signed in")
        url = self.rp("logouturl", client_id="web-rs", client_secret=RS_SECRET,
                      id_token=t["id_token"], post_logout_redirect_uri=WEB_LOGOUT,
                      state="bye-1")["url"]
        p = b.get(fbsaml.path_of(url))
        self.assertEqual(p.status, 302, p.text[:300])
        self.assertEqual(p.location, WEB_LOGOUT + "?state=bye-1")
        p = self.authorize(b, response_type="code", client_id="web-rs", redirect_uri=WEB_CB,
                           scope="openid", prompt="none")
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)
        self.assertEqual(q["error"], ["login_required"], "the broker session is over")

    def test_prompt_and_groups(self):
        anon = fbsaml.browser(self, self.srv)
        p = self.authorize(anon, response_type="code", client_id="web", redirect_uri=WEB_CB,
                           scope="openid", state="s9", prompt="none",
                           code_challenge="a" * 43, code_challenge_method="S256")
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)
        self.assertEqual(q["error"], ["login_required"])
        self.assertEqual(q["state"], ["s9"])
        self.assertEqual(q["iss"], [self.issuer])
        # bob is not in staff: spa refuses him.
        b = fbsaml.signed_in(self, self.srv, "bob")
        p = self.authorize(b, response_type="code", client_id="spa", redirect_uri=SPA_CB,
                           scope="openid", code_challenge="a" * 43, code_challenge_method="S256")
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)
        self.assertEqual(q["error"], ["access_denied"])
        self.assertNotIn("code", q)
        # prompt=login: a fresh sign-in, then a code.
        p = self.authorize(b, response_type="code", client_id="web", redirect_uri=WEB_CB,
                           scope="openid", prompt="login", code_challenge="a" * 43,
                           code_challenge_method="S256")
        self.assertEqual(p.status, 303, p.text[:500])
        self.assertTrue(p.location.startswith("/login?"), p.location)
        p = self.through_login(b, p, "bob")
        self.assertEqual(p.status, 302, p.text[:500])
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)
        self.assertIn("code", q, p.location)
        # max_age=0: every request needs a sign-in newer than itself; after it, a code
        # (not another trip to the login page, however long the sign-in took).
        p = self.authorize(b, response_type="code", client_id="web", redirect_uri=WEB_CB,
                           scope="openid", max_age="0", code_challenge="a" * 43,
                           code_challenge_method="S256")
        self.assertEqual(p.status, 303, p.text[:500])
        time.sleep(1.1)  # the sign-in takes longer than max_age: not a synchronisation
        p = self.through_login(b, p, "bob")
        self.assertEqual(p.status, 302, p.text[:500])
        self.assertIn("code", urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query))
        # acr_values asking for a second factor: bob signed in with a password only.
        for prompt, err in ((None, "access_denied"), ("none", "interaction_required")):
            params = {"response_type": "code", "client_id": "web", "redirect_uri": WEB_CB,
                      "scope": "openid", "acr_values": "urn:fedbroker:acr:mfa",
                      "code_challenge": "a" * 43, "code_challenge_method": "S256"}
            if prompt:
                params["prompt"] = prompt
            p = self.authorize(b, **params)
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)
            self.assertEqual(q["error"], [err])
            self.assertNotIn("code", q)
        # response_type other than code: to the (registered) redirect URI.
        p = self.authorize(b, response_type="token", client_id="web", redirect_uri=WEB_CB)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)
        self.assertEqual(q["error"], ["unsupported_response_type"])


class OidcReplicas(harness.TestCase):
    """Two replicas on one store (SQLite file, or the PostgreSQL database): a code issued
    by one is redeemed at the other, once; a refresh token rotated at one is refused,
    reused, at the other (and its family with it)."""

    def test_codes_and_refresh_tokens_across_replicas(self):
        d = self.tmpdir()
        os.chmod(d, 0o755)
        replicas = harness.replica_conf(d)
        store = harness.store_conf(d) or {"path": os.path.join(d, "shared", "fedbroker.db")}
        with open(os.path.join(d, "web.secret"), "w") as f:
            f.write(WEB_SECRET + "\n")
        conf = {"store": store, "keys": replicas["keys"], "session": replicas["session"],
                "oidc": {"clients": [{"id": "web", "secret": "file:" + os.path.join(
                    d, "web.secret"), "redirect_uris": [WEB_CB], "signing_alg": "RS256"}]}}
        a, b = [fbsaml.saml_server(self, [], users=users, conf=conf, start=False)
                for users in (["alice"], [])]
        # One issuer for both, as behind a balancer.
        for srv in (a, b):
            srv.conf["server"]["public_url"] = "http://127.0.0.1:%d" % a.port
            srv.write_config(srv.conf)
            srv.start()
        br = fbsaml.signed_in(self, a, "alice")
        verifier = "r" * 64
        ch = base64.urlsafe_b64encode(__import__("hashlib").sha256(
            verifier.encode()).digest()).decode().rstrip("=")
        p = br.get("/oauth2/authorize?" + urllib.parse.urlencode({
            "response_type": "code", "client_id": "web", "redirect_uri": WEB_CB,
            "scope": "openid", "code_challenge": ch, "code_challenge_method": "S256"}))
        self.assertEqual(p.status, 302, p.text[:500])
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)["code"][0]

        def token(srv, fields):
            r = srv.request("POST", "/oauth2/token", headers=basic("web", WEB_SECRET),
                            body=urllib.parse.urlencode(fields))
            return r.status, json.loads(r.body)

        f = {"grant_type": "authorization_code", "code": code, "redirect_uri": WEB_CB,
             "code_verifier": verifier}
        st, t = token(b, f)
        self.assertEqual(st, 200, t)
        st, body = token(a, f)
        self.assertEqual((st, body["error"]), (400, "invalid_grant"), "used once, anywhere")
        # The replay at a revoked the family b issued: its refresh token is dead too.
        st, body = token(b, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]})
        self.assertEqual((st, body["error"]), (400, "invalid_grant"))
        # A fresh sign-in: rotation at a, the old refresh token reused at b.
        p = br.get("/oauth2/authorize?" + urllib.parse.urlencode({
            "response_type": "code", "client_id": "web", "redirect_uri": WEB_CB,
            "scope": "openid", "code_challenge": ch, "code_challenge_method": "S256"}))
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)["code"][0]
        st, t = token(a, dict(f, code=code))
        self.assertEqual(st, 200, t)
        st, t2 = token(a, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]})
        self.assertEqual(st, 200, t2)
        st, body = token(b, {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]})
        self.assertEqual((st, body["error"]), (400, "invalid_grant"))
        st, body = token(a, {"grant_type": "refresh_token", "refresh_token": t2["refresh_token"]})
        self.assertEqual((st, body["error"]), (400, "invalid_grant"), "the family is revoked")
        # Both replicas verify with the same keys: b introspects what a issued.
        r = b.request("POST", "/oauth2/introspect", headers=basic("web", WEB_SECRET),
                      body=urllib.parse.urlencode({"token": t2["access_token"]}))
        self.assertEqual(json.loads(r.body), {"active": False})


class OidcKeyRotation(harness.TestCase):
    """A rotation: the next key published first, then active; a token signed by the
    previous key keeps verifying (jose, against the JWKS; introspection) until that key is
    retired."""

    def test_no_key_for_the_algorithm_is_refused_at_start(self):
        d = self.tmpdir()
        key, crt = os.path.join(d, "rsa.key.pem"), os.path.join(d, "rsa.crt.pem")
        shutil.copy(os.path.join(KEYS, "rsa2048.key.pem"), key)
        shutil.copy(os.path.join(KEYS, "rsa2048.crt.pem"), crt)
        os.chmod(key, 0o600)
        with open(os.path.join(d, "svc.secret"), "w") as f:
            f.write(SVC_SECRET + "\n")
        conf = {"keys": [{"id": "rsa", "key": key, "cert": crt}],
                "oidc": {"clients": [{"id": "svc", "type": "service",
                                      "secret": "file:" + os.path.join(d, "svc.secret")}]}}
        srv = harness.Server(self, conf=conf)
        for args in (["check-config", srv.config], srv.args()):
            with self.subTest(args=args[0]):
                cp = subprocess.run([harness.BIN] + args, capture_output=True, text=True,
                                    timeout=60)
                self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
                self.assertIn("oidc.clients[0] (svc): signing_alg ES256 needs an EC P-256 "
                              "key", cp.stdout + cp.stderr)

    def test_rotation_keeps_old_tokens_verifying(self):
        if peers_missing():
            raise peers_missing()
        d = self.tmpdir()
        os.chmod(d, 0o755)
        keys = {}
        for kid in ("old", "new"):
            key, crt = os.path.join(d, kid + ".key.pem"), os.path.join(d, kid + ".crt.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                            "/CN=" + kid, "-keyout", key, "-out", crt],
                           capture_output=True, check=True)
            os.chmod(key, 0o600)
            keys[kid] = {"id": kid, "key": key, "cert": crt}
        with open(os.path.join(d, "svc.secret"), "w") as f:
            f.write(SVC_SECRET + "\n")
        conf = {"keys": [dict(keys["old"], state="active"), dict(keys["new"], state="published")],
                "key_rollover": {"min_publish_time": "0"},
                "oidc": {"clients": [{"id": "svc", "type": "service",
                                      "secret": "file:" + os.path.join(d, "svc.secret")}]}}
        srv = fbsaml.saml_server(self, [], conf=conf)
        issuer = "http://127.0.0.1:%d" % srv.port

        def rp(step, **args):
            a = {"issuer": issuer, "client_id": "svc", "client_secret": SVC_SECRET}
            a.update(args)
            cp = subprocess.run(["node", RP, step, json.dumps(a)], capture_output=True,
                                text=True, timeout=60, cwd=harness.PEERS)
            return json.loads(cp.stdout.strip().splitlines()[-1])

        def reload(keylist):
            srv.conf["keys"] = keylist
            srv.write_config(srv.conf)
            before = sum("config_reloaded" in line for line in srv.log_lines())
            srv.signal(signal.SIGHUP)
            deadline = time.time() + 30
            while sum("config_reloaded" in line for line in srv.log_lines()) <= before:
                self.assertLess(time.time(), deadline, "no reload\n" + srv.logs())
                time.sleep(0.05)

        old = rp("cc")
        self.assertEqual(old["at_header"]["kid"], "old", old)
        token = old["tokens"]["access_token"]
        reload([dict(keys["new"], state="active"), dict(keys["old"], state="published")])
        for _ in range(100):
            new = rp("cc")
            if new.get("at_header", {}).get("kid") == "new":
                break
        self.assertEqual(new["at_header"]["kid"], "new", "the new key signs after the reload")
        v = rp("verify", jwt=token, typ="at+jwt")
        self.assertNotIn("error", v, "a token of the previous key still verifies: %s" % v)
        self.assertTrue(rp("introspect", token=token)["active"])
        # The previous key retired (gone from keys:): its tokens stop verifying.
        reload([dict(keys["new"], state="active")])
        for _ in range(100):
            jwks = json.loads(srv.request("GET", "/oauth2/jwks").body)
            if [k["kid"] for k in jwks["keys"]] == ["new"]:
                break
        self.assertEqual([k["kid"] for k in jwks["keys"]], ["new"])
        self.assertFalse(rp("introspect", token=token)["active"])


if __name__ == "__main__":
    harness.main()
