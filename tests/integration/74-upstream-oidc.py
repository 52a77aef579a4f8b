#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Sign-in through an upstream OpenID provider: npm's oidc-provider (panva's certified OP,
tests/peers/oidc/op.mjs) on loopback HTTPS, fedbroker as its relying party.

The full code flow through fedbroker's /upstream/corp/start and /callback, then the bad
input that needs a live provider: a callback replayed (state and code used once), a
callback in another browser, a provider that hangs (other requests still served), one
that answers 500, a JWKS that does not parse, and key rotation (one JWKS refetch,
counted at the provider, then refused within the refetch window); a code presented again
with a fresh, valid state; userinfo merged (a claim only userinfo has reaches the mapping;
another subject is refused); private_key_jwt with the broker's key registered at the
provider; what caps the session.
"""

import http.client
import json
import os
import re
import select
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from webclient import Browser  # noqa: E402

CERT = os.path.join(harness.FIXTURE_KEYS, "localhost.crt.pem")
KEY = os.path.join(harness.FIXTURE_KEYS, "localhost.key.pem")
OP = os.path.join(harness.PEERS, "oidc", "op.mjs")


class Provider:
    """op.mjs on a loopback port; stopped at cleanup."""

    def __init__(self, tc, redirect_uri, extra=()):
        if shutil.which("node") is None or not os.path.isdir(
                os.path.join(harness.PEERS, "node_modules", "oidc-provider")):
            raise harness.peer_missing("node and tests/peers' oidc-provider "
                                       "(apt-get install nodejs npm; cd tests/peers && npm ci)")
        self.log = open(os.path.join(tc.tmpdir(), "op.log"), "wb")
        tc.addCleanup(self.stop)
        # node has been seen to stall at start-up now and then on a loaded machine (its
        # main thread waiting, no CPU used): a second start after 30 s, then a failure.
        for _ in range(2):
            self.proc = subprocess.Popen(  # noqa: R1732 (stopped at cleanup)
                ["node", OP, "--cert", CERT, "--key", KEY, "--redirect-uri", redirect_uri] +
                list(extra), cwd=harness.PEERS, stdout=subprocess.PIPE, stderr=self.log,
                stdin=subprocess.DEVNULL)
            ready, _, _ = select.select([self.proc.stdout], [], [], 30)
            line = self.proc.stdout.readline().decode() if ready else ""
            self.proc.stdout.close()
            if line.startswith("READY "):
                break
            self.proc.kill()
            self.proc.wait(10)
        tc.assertTrue(line.startswith("READY "), "oidc-provider did not start: %r" % line)
        self.port = int(line.split()[1])
        self.issuer = "https://127.0.0.1:%d" % self.port
        self.ctx = ssl.create_default_context(cafile=CERT)
        self.cookies = {}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()

    def request(self, method, url, form=None):
        """One request to the OP keeping its cookies; (status, location, body)."""
        u = urllib.parse.urlsplit(url)
        c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=15, context=self.ctx)
        hdrs = {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            hdrs["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        c.request(method, u.path + ("?" + u.query if u.query else ""), body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read().decode("utf-8", "replace")
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                self.cookies[name] = rest.split(";")[0]
        c.close()
        loc = r.getheader("Location")
        if loc is not None:
            loc = urllib.parse.urljoin(url, loc)
        return r.status, loc, data

    def control(self, path):
        return self.request("GET", self.issuer + path)

    def sign_in(self, auth_url, login):
        """Walks the dev interaction pages (login, consent) from the authorization URL;
        the URL the OP finally sends the browser to (fedbroker's callback)."""
        url, method, form = auth_url, "GET", None
        for _ in range(12):
            status, loc, body = self.request(method, url, form)
            if status in (302, 303):
                if not loc.startswith(self.issuer):
                    return loc
                url, method, form = loc, "GET", None
                continue
            m = re.search(r'<form[^>]*action="([^"]+)"', body)
            if status != 200 or m is None:
                raise AssertionError("OP page %d without a form: %s" % (status, body[:300]))
            action = urllib.parse.urljoin(url, m.group(1).replace("&amp;", "&"))
            fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', body))
            if 'name="login"' in body:
                fields.update({"login": login, "password": "any"})
            url, method, form = action, "POST", fields
        raise AssertionError("the OP never redirected back")


class UpstreamOIDCTest(harness.TestCase):

    def start(self, op_extra=(), oidc=None, upstream=None, workers=2, before_op=None,
              mappings=None):
        self.srv = self.server(env={"FB_TEST_OIDC_SECRET": "fedbroker-secret"}, workers=workers)
        base = "http://127.0.0.1:%d" % self.srv.port
        if before_op is not None:
            op_extra = list(op_extra) + before_op()
        self.op = Provider(self, base + "/upstream/corp/callback",
                           ["--post-logout-uri", base + "/"] + list(op_extra))
        o = {"issuer": self.op.issuer, "client_id": "fedbroker",
             "client_secret": "env:FB_TEST_OIDC_SECRET", "ca_file": CERT, "timeout": "3s"}
        o.update(oidc or {})
        o = {k: v for k, v in o.items() if v is not None}
        up = {"name": "corp", "display_name": "Corp SSO", "type": "oidc",
              "domains": ["example.com"], "oidc": o}
        up.update(upstream or {})
        self.srv.conf = harness.deep_merge(self.srv.conf, {
            "server": {"public_url": base},
            "mappings": {"dir": mappings or os.path.join(harness.SRCDIR, "mappings")},
            "upstreams": [up]})
        self.srv.write_config(self.srv.conf)
        type(self).srv = self.srv  # its log is printed when the test fails
        self.srv.start()
        return Browser("127.0.0.1", self.srv.port)

    def begin(self, b):
        """GET /upstream/corp/start: the authorization URL it redirects to."""
        p = b.get("/upstream/corp/start")
        self.assertEqual(p.status, 302, p.text[:300])
        self.assertTrue(p.location.startswith(self.op.issuer + "/auth?"), p.location)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)
        self.assertEqual(q["code_challenge_method"], ["S256"])
        self.assertEqual(q["response_type"], ["code"])
        return p.location

    def callback(self, b, url):
        u = urllib.parse.urlsplit(url)
        return b.get(u.path + "?" + u.query)

    def audit(self, event):
        return [l for l in self.srv.stderr().splitlines() if "event=" + event in l]

    def signed_in(self, b):
        return b.get("/").status == 200

    def test_code_flow(self):
        b = self.start()
        self.assertFalse(self.signed_in(b))
        auth = self.begin(b)
        saved = dict(b.cookies)
        cb = self.op.sign_in(auth, "alice")
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(cb).query)
        self.assertIn("code", q)
        self.assertEqual(q["iss"], [self.op.issuer])  # RFC 9207
        p = self.callback(b, cb)
        self.assertIn(p.status, (302, 303), p.text[:500])
        self.assertTrue(self.signed_in(b))
        self.assertTrue(self.audit("upstream_start"))
        # The same answer again, with the flow cookie it came with: the state and the code
        # are accepted once.
        again = Browser("127.0.0.1", self.srv.port)
        again.cookies = saved
        p = self.callback(again, cb)
        self.assertEqual(p.status, 400, p.text[:300])
        self.assertEqual(len(self.audit("upstream_replay")), 1)
        self.assertFalse(self.signed_in(again))

    def test_replayed_state_in_cookie(self):
        """The flow cookie copied from a finished sign-in: its state was used."""
        b = self.start()
        auth = self.begin(b)
        saved = dict(b.cookies)
        cb = self.op.sign_in(auth, "alice")
        self.assertIn(self.callback(b, cb).status, (302, 303))
        # A second sign-in at the OP gives a fresh code, but the old state again.
        auth2 = auth
        cb2 = self.op.sign_in(auth2, "alice")
        c = Browser("127.0.0.1", self.srv.port)
        c.cookies = saved
        p = self.callback(c, cb2)
        self.assertEqual(p.status, 400, p.text[:300])
        self.assertEqual(len(self.audit("upstream_replay")), 1)

    def test_other_browser(self):
        """A callback in a browser that did not start the flow: no cookie, refused."""
        b = self.start()
        cb = self.op.sign_in(self.begin(b), "alice")
        other = Browser("127.0.0.1", self.srv.port)
        p = self.callback(other, cb)
        self.assertEqual(p.status, 400)
        self.assertFalse(self.signed_in(other))
        self.assertTrue(self.audit("upstream_state_invalid"))

    def test_hanging_token_endpoint(self):
        """The token endpoint never answers: the sign-in fails after the timeout while
        the worker keeps serving everyone else."""
        b = self.start(oidc={"timeout": "2s"})
        cb = self.op.sign_in(self.begin(b), "alice")
        self.op.control("/_test/mode?hang=/token")
        result = {}

        def waiting():
            result["page"] = self.callback(b, cb)

        t = threading.Thread(target=waiting)
        t.start()
        other = Browser("127.0.0.1", self.srv.port)
        served = 0
        while t.is_alive() and served < 200:
            self.assertEqual(other.get("/healthz").status, 200)
            served += 1
        t.join(20)
        self.assertGreater(served, 0)
        self.assertEqual(result["page"].status, 502)
        self.assertTrue(self.audit("upstream_unreachable"))
        self.assertFalse(self.signed_in(b))

    def test_token_endpoint_500(self):
        b = self.start()
        cb = self.op.sign_in(self.begin(b), "alice")
        self.op.control("/_test/mode?fail=/token")
        p = self.callback(b, cb)
        self.assertEqual(p.status, 502)
        self.assertTrue(self.audit("upstream_token_refused"))
        self.assertFalse(self.signed_in(b))

    def test_jwks_does_not_parse(self):
        b = self.start()
        cb = self.op.sign_in(self.begin(b), "alice")
        self.op.control("/_test/jwks?bad=1")
        p = self.callback(b, cb)
        self.assertEqual(p.status, 502)
        self.assertTrue(self.audit("upstream_jwks_bad"))

    def test_key_rotation(self):
        """The provider rotates its signing key: one JWKS refetch on the unknown kid."""
        b = self.start(oidc={})
        self.assertIn(self.callback(b, self.op.sign_in(self.begin(b), "alice")).status,
                      (302, 303))
        self.op.control("/_test/rotate")
        b2 = Browser("127.0.0.1", self.srv.port)
        self.op.cookies = {}
        p = self.callback(b2, self.op.sign_in(self.begin(b2), "alice"))
        self.assertIn(p.status, (302, 303), p.text[:300])

    def cli(self, *args):
        """`fedbroker ARGS` on the server's configuration and state (text)."""
        return subprocess.run([harness.BIN] + list(args) + ["--config", self.srv.config,
                                                            "--state-dir", self.srv.state_dir],
                              env=dict(os.environ, FB_TEST_OIDC_SECRET="fedbroker-secret"),
                              capture_output=True, text=True, timeout=60)

    def jwks_fetches(self):
        status, _, body = self.op.control("/_test/count")
        self.assertEqual(status, 200)
        return json.loads(body)["jwks"]

    def test_key_rotation_refetch_rate_limited(self):
        """Rotation: the unknown kid causes exactly one JWKS fetch, and the sign-in passes;
        a second rotation within the refetch window: the unknown kid is refused without
        another fetch (counted at the provider). One worker, so one JWKS cache."""
        b = self.start(workers=1)
        self.assertIn(self.callback(b, self.op.sign_in(self.begin(b), "alice")).status,
                      (302, 303))
        self.assertEqual(self.jwks_fetches(), 1)
        self.op.control("/_test/rotate")
        b2 = Browser("127.0.0.1", self.srv.port)
        self.op.cookies = {}
        p = self.callback(b2, self.op.sign_in(self.begin(b2), "alice"))
        self.assertIn(p.status, (302, 303), p.text[:300])
        self.assertEqual(self.jwks_fetches(), 2)
        self.op.control("/_test/rotate")
        b3 = Browser("127.0.0.1", self.srv.port)
        self.op.cookies = {}
        p = self.callback(b3, self.op.sign_in(self.begin(b3), "alice"))
        self.assertEqual(p.status, 403, p.text[:300])
        self.assertIn("did not pass the checks", p.text)
        self.assertEqual(self.jwks_fetches(), 2)
        self.assertEqual(len(self.audit("upstream_token_invalid")), 1)
        self.assertFalse(self.signed_in(b3))

    def test_code_used_twice_fresh_state(self):
        """The code of a finished sign-in presented again with the state of a new flow in the
        same browser (valid, unused): refused by the code-once check, no session."""
        b = self.start()
        cb = self.op.sign_in(self.begin(b), "alice")
        self.assertIn(self.callback(b, cb).status, (302, 303))
        b2 = Browser("127.0.0.1", self.srv.port)
        auth2 = self.begin(b2)
        state2 = urllib.parse.parse_qs(urllib.parse.urlsplit(auth2).query)["state"][0]
        u = urllib.parse.urlsplit(cb)
        q = urllib.parse.parse_qs(u.query)
        q["state"] = [state2]
        forged = urllib.parse.urlunsplit(u._replace(query=urllib.parse.urlencode(q, doseq=True)))
        p = self.callback(b2, forged)
        self.assertEqual(p.status, 400, p.text[:300])
        self.assertIn("used already", p.text)
        self.assertEqual(len(self.audit("upstream_replay")), 1)
        self.assertFalse(self.signed_in(b2))
        # Only the first sign-in made a session.
        self.assertEqual(len(self.audit("upstream_token_invalid")), 0)

    def userinfo_mapping(self):
        """A mapping dir whose upstream rule takes groups from userinfo's department."""
        d = os.path.join(self.tmpdir(), "mappings")
        shutil.copytree(os.path.join(harness.SRCDIR, "mappings"), d)
        with open(os.path.join(d, "upstream_oidc.py")) as f:
            text = f.read()
        text = text.replace('groups = upstream.get("groups", [])',
                            'groups = upstream.get("groups", []) + '
                            '["dept-" + upstream.get("department", "none")]')
        with open(os.path.join(d, "upstream_dept.py"), "w") as f:
            f.write(text)
        return d

    def test_userinfo_merged(self):
        """userinfo: true: a claim only userinfo carries (department) reaches the mapping."""
        b = self.start(oidc={"userinfo": True}, upstream={"mapping": "upstream_dept"},
                       mappings=self.userinfo_mapping())
        self.op.control("/_test/userinfo?extra=1")
        p = self.callback(b, self.op.sign_in(self.begin(b), "alice"))
        self.assertIn(p.status, (302, 303), p.text[:300])
        cp = self.cli("user", "show", "alice@example.com")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("dept-finance", cp.stdout)

    def test_userinfo_other_subject(self):
        """userinfo naming another sub: refused, no session, no user."""
        b = self.start(oidc={"userinfo": True}, upstream={"mapping": "upstream_dept"},
                       mappings=self.userinfo_mapping())
        self.op.control("/_test/userinfo?extra=1&sub=mallory")
        p = self.callback(b, self.op.sign_in(self.begin(b), "alice"))
        self.assertEqual(p.status, 502, p.text[:300])
        self.assertTrue(self.audit("upstream_userinfo_bad"))
        self.assertFalse(self.signed_in(b))
        cp = self.cli("user", "show", "alice@example.com")
        self.assertNotEqual(cp.returncode, 0, cp.stdout)

    @harness.generated_keys_only("two keys generated in the state dir, one active, one published")
    def test_private_key_jwt(self):
        """client_auth: private_key_jwt: the provider reads the broker's public keys from
        its jwks_uri, <public_url>/upstream/jwks.json (the active key and a published one,
        each under its kid), and accepts the client assertion."""
        def keygen():
            self.srv.write_config(self.srv.conf)
            for kid in ("fbk1", "fbk0"):
                cp = self.cli("keys", "generate", "--id", kid)
                self.assertEqual(cp.returncode, 0, cp.stderr)
            cp = self.cli("keys", "list", "--json")
            self.assertEqual(cp.returncode, 0, cp.stderr)
            key = [k for k in json.loads(cp.stdout) if k["id"] == "fbk1"][0]
            self.assertEqual(key["state"], "active")
            return ["--auth", "private_key_jwt", "--client-jwks-uri",
                    "http://127.0.0.1:%d/upstream/jwks.json" % self.srv.port]
        # The token call waits while the provider fetches the jwks_uri from the broker: more
        # than the 3 s the other tests allow, for slow (sanitizer) builds.
        b = self.start(oidc={"client_auth": "private_key_jwt", "client_secret": None,
                             "timeout": "10s"},
                       before_op=keygen)
        r = self.srv.http("GET", "/upstream/jwks.json")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "application/jwk-set+json")
        keys = json.loads(r.body)["keys"]
        # The two RSA keys, and the EC P-256 key serve generates beside them (ES256).
        rsa = [k for k in keys if k["kty"] == "RSA"]
        self.assertEqual(sorted(k["kid"] for k in rsa), ["fbk0", "fbk1"])
        self.assertEqual([(k["kty"], k["crv"], k["alg"]) for k in keys if k["kty"] != "RSA"],
                         [("EC", "P-256", "ES256")])
        for k in keys:
            self.assertEqual((k["use"], k["alg"]), ("sig", "RS256" if k in rsa else "ES256"))
            self.assertFalse({"d", "p", "q", "dp", "dq", "qi"} & set(k), k)
        p = self.callback(b, self.op.sign_in(self.begin(b), "alice"))
        self.assertIn(p.status, (302, 303), p.text[:300] + self.srv.stderr()[-2000:])
        self.assertTrue(self.signed_in(b))

    def test_private_key_jwt_other_key(self):
        """private_key_jwt while the provider has another key registered for the client:
        the token request is refused (invalid_client), a clear page, no session."""
        def other():
            return ["--auth", "private_key_jwt", "--client-cert", CERT, "--client-kid", "fbk1"]
        b = self.start(oidc={"client_auth": "private_key_jwt", "client_secret": None},
                       before_op=other)
        p = self.callback(b, self.op.sign_in(self.begin(b), "alice"))
        self.assertEqual(p.status, 502, p.text[:300])
        self.assertIn("refused the sign-in", p.text)
        self.assertTrue(self.audit("upstream_token_refused"))
        self.assertFalse(self.signed_in(b))

    def session_max_age(self, page):
        ages = [int(m) for v in page.headers_all("Set-Cookie")
                for m in re.findall(r"Max-Age=(\d+)", v, re.I)]
        self.assertTrue(ages, page.headers)
        return max(ages)

    def test_session_lifetime(self):
        """What caps a session through an OIDC upstream: session.lifetime (8h), or
        upstreams[].session_lifetime when shorter; not the ID token's exp nor the token
        response's expires_in (both 600 s at this provider: token lifetimes, not the
        upstream session's end)."""
        b = self.start()
        p = self.callback(b, self.op.sign_in(self.begin(b), "alice"))
        self.assertIn(p.status, (302, 303), p.text[:300])
        self.assertEqual(self.session_max_age(p), 8 * 3600)
        self.srv.stop()
        b = self.start(upstream={"session_lifetime": "15m"})
        p = self.callback(b, self.op.sign_in(self.begin(b), "alice"))
        self.assertIn(p.status, (302, 303), p.text[:300])
        self.assertEqual(self.session_max_age(p), 900)

    def test_no_iss_advertised(self):
        """A provider without RFC 9207: the callback without iss is accepted."""
        b = self.start(op_extra=["--no-iss"])
        cb = self.op.sign_in(self.begin(b), "alice")
        self.assertNotIn("iss=", cb)
        self.assertIn(self.callback(b, cb).status, (302, 303))

    def test_rp_initiated_logout(self):
        """upstreams[].logout: signing out of the broker sends the browser to the OP's
        end_session_endpoint with the ID token as hint."""
        b = self.start(upstream={"logout": True})
        self.assertIn(self.callback(b, self.op.sign_in(self.begin(b), "alice")).status,
                      (302, 303))
        self.assertTrue(self.signed_in(b))
        p = b.get("/logout")
        self.assertEqual(p.status, 200)
        r = b.submit(p, "/logout", {})
        self.assertEqual(r.status, 302, r.text[:300])
        u = urllib.parse.urlsplit(r.location)
        self.assertEqual("%s://%s%s" % (u.scheme, u.netloc, u.path),
                         self.op.issuer + "/session/end")
        q = urllib.parse.parse_qs(u.query)
        self.assertEqual(q["client_id"], ["fedbroker"])
        self.assertEqual(q["post_logout_redirect_uri"],
                         ["http://127.0.0.1:%d/" % self.srv.port])
        self.assertEqual(len(q["id_token_hint"][0].split(".")), 3)
        self.assertFalse(self.signed_in(b))
        self.assertTrue(self.audit("upstream_logout"))
        # The OP accepts the request: its logout confirmation page.
        status, _, body = self.op.request("GET", r.location)
        self.assertEqual(status, 200, body[:300])

    def test_client_secret_post(self):
        b = self.start(op_extra=["--auth", "client_secret_post"],
                       oidc={"client_auth": "client_secret_post"})
        self.assertIn(self.callback(b, self.op.sign_in(self.begin(b), "alice")).status,
                      (302, 303))


class UpstreamOIDCBrowser(harness.TestCase):
    """Headless Chromium: the AWS start URL -> login -> the upstream -> oidc-provider's
    pages -> back -> the SAMLResponse at the AWS stand-in, Role from the upstream's groups."""

    def test_aws_through_upstream(self):
        need = harness.missing_browser_peers()
        import importlib.util
        if importlib.util.find_spec("saml2") is None or not os.access("/usr/bin/xmlsec1",
                                                                       os.X_OK):
            need.append("apt-get install -y python3-pysaml2 xmlsec1")
        if need:
            raise harness.peer_missing("browser peers missing: " + "; ".join(need))
        sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
        import fbsaml
        standin, acs = fbsaml.standin(self, "", mode="classic", library="pysaml2")
        sp = fbsaml.aws_sp("aws", metadata=None, entity_id="urn:amazon:webservices",
                           acs=[{"url": acs, "default": True}], display_name="AWS console")
        # aws-admins has no declared members: alice is in it through the upstream's groups.
        srv = fbsaml.saml_server(self, [sp], [
            {"name": "aws-admins", "attributes": {"aws_role": "Admin"}}], [], start=False)
        base = "http://127.0.0.1:%d" % srv.port
        op = Provider(self, base + "/upstream/corp/callback")
        shutil.copy(os.path.join(harness.SRCDIR, "mappings", "upstream_oidc.py"),
                    os.path.join(srv.conf["mappings"]["dir"], "upstream_oidc.py"))
        srv.conf = harness.deep_merge(srv.conf, {"upstreams": [{
            "name": "corp", "display_name": "Corp SSO", "type": "oidc",
            "oidc": {"issuer": op.issuer, "client_id": "fedbroker",
                     "client_secret": "env:FB_TEST_OIDC_SECRET", "ca_file": CERT}}]})
        srv.env["FB_TEST_OIDC_SECRET"] = "fedbroker-secret"
        srv.write_config(srv.conf)
        srv.start()
        standin.state["idp_metadata"] = fbsaml.idp_metadata(self, srv)
        env = dict(os.environ, FB_BASE_URL=base, FB_PEERS=harness.PEERS, FB_ACS_URL=acs,
                   FB_BUTTON="Sign in with Corp SSO", FB_ARTIFACTS=harness.ARTIFACTS)
        p = subprocess.run(["node", os.path.join(harness.HERE, "74-upstream-oidc-browser.mjs")],
                           env=env, capture_output=True, text=True, timeout=300)
        out = p.stdout + p.stderr
        print("\n" + out)
        self.assertEqual(p.returncode, 0, out + "\n" + srv.logs())
        self.assertIn("browser: all steps passed", p.stdout)
        import urllib.request
        with urllib.request.urlopen(acs.rsplit("/", 1)[0] + "/verdicts", timeout=10) as r:
            verdicts = json.loads(r.read())
        self.assertEqual(len(verdicts), 1, verdicts)
        self.assertTrue(verdicts[0]["ok"], verdicts[0])
        self.assertEqual(verdicts[0]["roles"], [
            "arn:aws:iam::123412341234:role/Admin," + fbsaml.PROVIDER_ARN])
        srv.stop()


if __name__ == "__main__":
    harness.main()
