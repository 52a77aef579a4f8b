#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""78: forward auth (issue 15) through a stand-in proxy that follows each
proxy's documented contract: Envoy/Istio ext_authz HTTP service (the
original path appended to the prefix, the original Host, the allowed
request headers; 2xx lets the request through with the headers named in
headersToUpstreamOnAllow, anything else goes back to the client as it is),
nginx auth_request (X-Original-URL; 2xx, 401, 403), Caddy forward_auth and
Traefik forwardAuth (X-Forwarded-Method/-Proto/-Host/-Uri; non-2xx back to
the client). The sign-in hand-off: fedbroker's /auth/start, a one-time
code on the app's host, the app's own sealed cookie; sign-out; bad input."""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import harness
import webclient

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402

PASSWORD = "correct horse battery staple"
APPS = [
    {"name": "wiki", "hosts": ["wiki.test"], "groups": ["staff"],
     "rules": [{"path": "/healthz", "action": "anonymous"},
               {"path": "/admin", "groups": ["admins"]},
               {"path": "/admin", "action": "deny"}],
     "headers": {"mapped": [{"header": "X-Role", "mapping": "wiki_role"}]}},
    {"name": "tools", "display_name": "Tools", "hosts": ["tools.test"]},
    {"name": "brief", "hosts": ["brief.test"], "session_lifetime": "1s"},
    {"name": "corpapp", "hosts": ["corp.test"], "upstream": "corp"},
]


def cli(srv, *args, stdin=None):
    return subprocess.run([harness.BIN] + list(args) + ["--config", srv.config, "--state-dir",
                                                        srv.state_dir],
                          input=stdin, capture_output=True, text=True, timeout=60)


def conf(trusted, mappings):
    shutil.copy(os.path.join(harness.SRCDIR, "mappings", "upstream_oidc.py"), mappings)
    secret = os.path.join(mappings, "corp.secret")
    with open(secret, "w") as f:
        f.write("corp-client-secret\n")
    return {"server": {"trusted_proxies": trusted},
            "mappings": {"dir": mappings},
            "upstreams": [{"name": "corp", "type": "oidc",
                           "oidc": {"issuer": "https://idp.example.com", "client_id": "fb",
                                    "client_secret": "file:" + secret}}],
            "local": {"password": {"time_cost": 1, "memory_kib": 1024},
                      "bootstrap": {"enabled": False}},
            "groups": [{"name": "staff", "members": ["ann"]},
                       {"name": "admins", "members": []}],
            "apps": APPS}


class Proxy:
    """What each proxy sends fedbroker for a browser's request to host+uri."""

    def __init__(self, srv):
        self.srv = srv

    def envoy(self, host, uri, cookie=None, method="GET", html=True, **extra):
        # Istio envoyExtAuthzHttp: pathPrefix /auth/envoy, includeRequestHeadersInCheck
        # [cookie, accept]; Envoy sends the original Host and method.
        h = {"Host": host}
        if html:
            h["Accept"] = "text/html,application/xhtml+xml"
        if cookie:
            h["Cookie"] = cookie
        h.update(extra)
        return self.srv.http(method, "/auth/envoy" + uri, headers=h)

    def nginx(self, url, cookie=None, method="GET"):
        h = {"X-Original-URL": url, "X-Original-Method": method}
        if cookie:
            h["Cookie"] = cookie
        return self.srv.http("GET", "/auth/nginx", headers=h)

    def forward(self, which, host, uri, cookie=None, method="GET"):
        h = {"X-Forwarded-Method": method, "X-Forwarded-Proto": "http",
             "X-Forwarded-Host": host, "X-Forwarded-Uri": uri, "Accept": "text/html"}
        if cookie:
            h["Cookie"] = cookie
        return self.srv.http("GET", "/auth/" + which, headers=h)

    def callback(self, location, state, host=None):
        """The proxy routes /_fedbroker/callback of the app's host to fedbroker, Host kept;
        the browser sends the app host's state cookie (state: "name=value" or None)."""
        u = urllib.parse.urlsplit(location)
        h = {"Host": host or u.netloc}
        if state:
            h["Cookie"] = state
        return self.srv.http("GET", u.path + "?" + u.query, headers=h)


def app_cookie(r, name="fb_session_app"):
    for k, v in r.headers.items():
        if k.lower() == "set-cookie" and v.startswith(name + "="):
            return v.split(";")[0]
    return None


STATE = "S" * 22  # a state a test's browser holds as its cookie
STATE_COOKIE = "fb_session_app_state=" + STATE


def start(rd, state=STATE):
    return "/auth/start?st=%s&rd=%s" % (state, rd)


class Base(harness.TestCase):
    trusted = ["127.0.0.1"]

    def setUp(self):
        super().setUp()
        mappings = self.tmpdir()
        self.write(mappings + "/wiki_role.py",
                   "return 'editor' if 'staff' in [g.name for g in user.groups] else None\n")
        self.srv = self.server(conf=conf(self.trusted, mappings), workers=1)
        for user in ("ann", "bob"):
            cp = cli(self.srv, "user", "add", user, "--init", "--password-stdin",
                     stdin=PASSWORD + "\n")
            self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.srv.start()
        self.proxy = Proxy(self.srv)
        self.base = "http://127.0.0.1:%d" % self.srv.port

    def browser(self):
        b = webclient.Browser("127.0.0.1", self.srv.port)
        self.addCleanup(b.close)
        return b

    def sign_in(self, user, host, uri="/", b=None):
        """The browser's whole trip: check -> 302 -> sign in -> code -> app cookie."""
        r = self.proxy.envoy(host, uri)
        self.assertEqual(r.status, 302, r.body[:500])
        loc = r.header("Location")
        m = re.fullmatch(r"%s/auth/start\?st=([A-Za-z0-9_-]{22})&rd=%s" % (
            re.escape(self.base), re.escape("http://%s%s" % (host, uri))), loc)
        self.assertIsNotNone(m, loc)
        state = app_cookie(r, "fb_session_app_state")
        self.assertEqual(state, "fb_session_app_state=" + m.group(1))
        b = b or self.browser()
        start = loc[len(self.base):]
        p = b.get(start)
        if p.status == 303 and p.location.startswith("/login"):
            p = b.login(user, PASSWORD, next_path=start)
            self.assertEqual(p.status, 303, p.text[:1000])
            self.assertEqual(p.location, start)
            p = b.get(start)
        self.assertEqual(p.status, 303, p.text[:1000])
        self.assertTrue(p.location.startswith("http://%s/_fedbroker/callback?code=" % host),
                        p.location)
        r = self.proxy.callback(p.location, state)
        self.assertEqual(r.status, 303, r.body[:1000])
        self.assertEqual(r.header("Location"), uri)
        cookie = app_cookie(r)
        self.assertIsNotNone(cookie, r.headers)
        sc = r.header("Set-Cookie")
        self.assertIn("HttpOnly", sc)
        self.assertIn("SameSite=Lax", sc)
        self.assertNotIn("Domain", sc)
        return b, cookie, p.location


class Flow(Base):
    def test_envoy_sign_in_and_identity_headers(self):
        b, cookie, _ = self.sign_in("ann", "wiki.test", "/page?x=1")
        r = self.proxy.envoy("wiki.test", "/page?x=1", cookie)
        self.assertEqual(r.status, 200, r.body[:500])
        self.assertEqual(r.header("X-Forwarded-User"), "ann")
        self.assertEqual(r.header("X-Forwarded-Groups"), "staff")
        self.assertEqual(r.header("X-Role"), "editor")
        # The port and letter case of the host do not matter; the method does not either.
        r = self.proxy.envoy("WIKI.test:8443", "/other", cookie, method="POST")
        self.assertEqual(r.status, 200, r.body[:500])
        # A non-browser without a session: 401, not a redirect.
        r = self.proxy.envoy("wiki.test", "/page", html=False)
        self.assertEqual(r.status, 401)
        self.assertIsNone(r.header("Location"))
        # Anonymous path, and no way past it to the rest.
        r = self.proxy.envoy("wiki.test", "/healthz")
        self.assertEqual(r.status, 200)
        # Empty, so the proxy overwrites a client's own X-Forwarded-User.
        self.assertEqual(r.header("X-Forwarded-User"), "")
        for trick in ("/healthz/../page", "/healthz/%2e%2e/page", "/healthz/..;/page",
                      "//page", "/healthz/./../page"):
            with self.subTest(trick=trick):
                self.assertEqual(self.proxy.envoy("wiki.test", trick).status, 302)
        for trick in ("/healthz%2f..%2fpage", "/healthz/%252e%252e/page", "/a\\b",
                      "/Admin"):
            with self.subTest(trick=trick):
                self.assertEqual(self.proxy.envoy("wiki.test", trick, cookie).status, 400)
        # The deny rule after the admins' rule: ann (staff, not admins) is refused.
        for p in ("/admin", "/admin/", "//admin/x", "/x/../admin", "/%61dmin"):
            with self.subTest(path=p):
                self.assertEqual(self.proxy.envoy("wiki.test", p, cookie).status, 403)

    def test_explain(self):
        cp = cli(self.srv, "explain", "--app", "wiki", "--user", "ann", "--url",
                 "https://wiki.test/page")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertIn("verdict:  allow", cp.stdout)
        self.assertIn("because:  app wiki lets group staff in", cp.stdout)
        self.assertIn("header:   X-Forwarded-User: ann", cp.stdout)
        self.assertIn("header:   X-Forwarded-Groups: staff", cp.stdout)
        self.assertIn("header:   X-Role: editor", cp.stdout)
        cp = cli(self.srv, "explain", "--app", "wiki", "--user", "ann", "--url",
                 "https://wiki.test/x/../admin/users", "--method", "POST")
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn("verdict:  forbidden", cp.stdout)
        self.assertIn("because:  rule 2 (deny /admin) refuses everyone", cp.stdout)
        cp = cli(self.srv, "explain", "--app", "wiki", "--url", "https://wiki.test/healthz",
                 "--json")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        ex = json.loads(cp.stdout)
        self.assertEqual((ex["verdict"], ex["rule"], ex["user"]), ("anonymous", 0, None))
        cp = cli(self.srv, "explain", "--app", "wiki", "--user", "bob", "--url",
                 "https://wiki.test/", "--json")
        self.assertEqual(cp.returncode, 1)
        self.assertEqual(json.loads(cp.stdout)["reason"], "bob is in none of app wiki's groups")
        cp = cli(self.srv, "explain", "--app", "wiki", "--url", "https://tools.test/")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("note:     the URL belongs to app tools, not wiki", cp.stdout)
        cp = cli(self.srv, "explain", "--app", "wiki", "--url", "wiki.test/")
        self.assertEqual(cp.returncode, 2)
        cp = cli(self.srv, "explain", "--app", "wiki", "--user", "nobody", "--url",
                 "https://wiki.test/")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("no such user", cp.stderr)

    def test_upstream_groups_count(self):
        # A group an upstream gave bob (declared under groups:) lets him into wiki.
        _, rows = self.srv.store_sql("SELECT id FROM users WHERE username = ?", ("bob",))
        self.srv.store_sql("INSERT INTO upstream_groups (user_id, upstream, name) "
                           "VALUES (?, ?, ?)", (rows[0][0], "corp", "staff"))
        _, cookie, _ = self.sign_in("bob", "wiki.test")
        r = self.proxy.envoy("wiki.test", "/", cookie)
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(r.header("X-Forwarded-Groups"), "staff")
        cp = cli(self.srv, "explain", "--app", "wiki", "--user", "bob", "--url",
                 "https://wiki.test/")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertIn("because:  app wiki lets group staff in", cp.stdout)

    def test_dashboard_lists_apps(self):
        for user, wiki in (("ann", True), ("bob", False)):
            with self.subTest(user=user):
                b = self.browser()
                self.assertEqual(b.login(user, PASSWORD).status, 303)
                page = b.get("/").text
                self.assertIn('href="http://tools.test/">Tools</a>', page)
                self.assertEqual('href="http://wiki.test/">wiki</a>' in page, wiki, page)

    def test_outside_groups_forbidden(self):
        _, cookie, _ = self.sign_in("bob", "wiki.test")
        r = self.proxy.envoy("wiki.test", "/", cookie)
        self.assertEqual(r.status, 403, r.body[:500])
        self.assertEqual(json.loads(r.body)["message"], "forbidden")

    def test_nginx_and_forward_auth(self):
        _, cookie, _ = self.sign_in("ann", "tools.test")
        r = self.proxy.nginx("http://tools.test/x?y=1", cookie)
        self.assertEqual(r.status, 200, r.body[:500])
        self.assertEqual(r.header("X-Forwarded-User"), "ann")
        # nginx knows 2xx, 401 and 403 only: 401, its error_page redirects.
        r = self.proxy.nginx("http://tools.test/x")
        self.assertEqual(r.status, 401)
        for which in ("caddy", "traefik"):
            with self.subTest(proxy=which):
                r = self.proxy.forward(which, "tools.test", "/x?y=1", cookie)
                self.assertEqual(r.status, 200, r.body[:500])
                self.assertEqual(r.header("X-Forwarded-User"), "ann")
                r = self.proxy.forward(which, "tools.test", "/x?y=1")
                self.assertEqual(r.status, 302)
                self.assertRegex(r.header("Location"), re.escape(self.base) +
                                 r"/auth/start\?st=[A-Za-z0-9_-]{22}&rd=http://tools\.test/x\?y=1$")
        # nginx's error_page 401 asks /auth/nginx/signin for the redirect and state cookie.
        r = self.srv.http("GET", "/auth/nginx/signin",
                          headers={"X-Original-URL": "http://tools.test/a/b?c=1&d=2"})
        self.assertEqual(r.status, 302)
        self.assertRegex(r.header("Location"), r"st=[A-Za-z0-9_-]{22}&rd=http://tools\.test/"
                         r"a/b\?c=1&d=2$")
        self.assertIsNotNone(app_cookie(r, "fb_session_app_state"))
        # nginx's unencoded return-to works at /auth/start (query and all).
        b = self.browser()
        p = b.login("ann", PASSWORD)
        p = b.get(start("http://tools.test/a/b?c=1&d=2"))
        self.assertEqual(p.status, 303, p.text[:500])
        r = self.proxy.callback(p.location, STATE_COOKIE)
        self.assertEqual(r.header("Location"), "/a/b?c=1&d=2")

    def test_cookie_bound_to_app_and_host(self):
        b, cookie, used = self.sign_in("ann", "tools.test")
        # Replayed on another app's host: not a session there.
        r = self.proxy.envoy("wiki.test", "/page", cookie)
        self.assertEqual(r.status, 302)
        # The code works once.
        r = self.proxy.callback(used, STATE_COOKIE)
        self.assertEqual(r.status, 400)
        self.assertIsNone(app_cookie(r))
        # A fresh code for tools.test, presented on wiki.test's host: refused, and spent.
        p = b.get(start("http://tools.test/"))
        self.assertEqual(p.status, 303)
        r = self.proxy.callback(p.location, STATE_COOKIE, host="wiki.test")
        self.assertEqual(r.status, 400)
        self.assertIsNone(app_cookie(r))
        self.assertEqual(self.proxy.callback(p.location, STATE_COOKIE).status, 400)
        # Login CSRF: a code planted in another browser (no state cookie, or another one).
        for other in (None, "fb_session_app_state=" + "T" * 22):
            with self.subTest(state=other):
                p = b.get(start("http://tools.test/"))
                self.assertEqual(p.status, 303)
                r = self.proxy.callback(p.location, other)
                self.assertEqual(r.status, 400)
                self.assertIsNone(app_cookie(r))
                # ... and the code is spent.
                self.assertEqual(self.proxy.callback(p.location, STATE_COOKIE).status, 400)
        # Forged and tampered cookies.
        name, _, value = cookie.partition("=")
        for bad in (value[:-2] + ("AA" if not value.endswith("AA") else "BB"), "x" * 40, "",
                    value + value):
            with self.subTest(cookie=bad[:20]):
                r = self.proxy.envoy("tools.test", "/", "%s=%s" % (name, bad))
                self.assertEqual(r.status, 302)

    def test_sign_out_ends_every_app(self):
        b, wiki, _ = self.sign_in("ann", "wiki.test")
        _, tools, _ = self.sign_in("ann", "tools.test", b=b)
        self.assertEqual(self.proxy.envoy("wiki.test", "/", wiki).status, 200)
        self.assertEqual(self.proxy.envoy("tools.test", "/", tools).status, 200)
        p = b.submit(b.get("/logout"), "/logout", {})
        self.assertIn(p.status, (200, 303))
        # Within the revocation cache's two seconds, both apps refuse.
        deadline = time.time() + 10
        while time.time() < deadline:
            got = (self.proxy.envoy("wiki.test", "/", wiki).status,
                   self.proxy.envoy("tools.test", "/", tools).status)
            if got == (302, 302):
                break
            time.sleep(0.1)
        self.assertEqual(got, (302, 302))

    def test_expired_app_session(self):
        _, cookie, _ = self.sign_in("ann", "brief.test")
        first = self.proxy.envoy("brief.test", "/", cookie).status
        deadline = time.time() + 10
        while time.time() < deadline:
            status = self.proxy.envoy("brief.test", "/", cookie).status
            if status != 200:
                break
            time.sleep(0.1)
        self.assertIn(first, (200, 302))
        self.assertEqual(status, 302)

    def test_no_app_for_hostname(self):
        r = self.proxy.envoy("nowhere.test", "/x")
        self.assertEqual(r.status, 404)
        body = json.loads(r.body)
        self.assertEqual(body["message"], "no app for hostname")
        self.assertEqual(body["host"], "nowhere.test")
        self.assertIn("hosts: [nowhere.test]", body["detail"])
        for bad in ("evil.test/x", "a b.test", "evil.test..", "wiki.test@evil.test"):
            with self.subTest(host=bad):
                r = self.proxy.envoy(bad, "/x")
                self.assertEqual(r.status, 400, r.body[:300])

    def test_app_upstream(self):
        # apps[].upstream: someone not signed in goes straight to that upstream's sign-in.
        p = self.browser().get(start("http://corp.test/x"))
        self.assertEqual(p.status, 303)
        self.assertEqual(p.location, "/upstream/corp/start?next=" + urllib.parse.quote(
            start("http://corp.test/x"), safe=""))
        # The others still see the sign-in page.
        p = self.browser().get(start("http://tools.test/x"))
        self.assertTrue(p.location.startswith("/login?next="), p.location)

    def test_open_redirect_refused(self):
        b = self.browser()
        b.login("ann", PASSWORD)
        for rd in ("http://evil.test/", "//evil.test/", "http://wiki.test@evil.test/",
                   "javascript:alert(1)", "http://wiki.test\\@evil.test/", "/relative",
                   "http://wiki.test/%0d%0aSet-Cookie:x", "ftp://wiki.test/"):
            with self.subTest(rd=rd):
                p = b.get(start(rd))
                self.assertEqual(p.status, 400, p.location)
                self.assertIsNone(p.header("Location"))
        for bad in ("/auth/start", "/auth/start?rd=http://tools.test/",
                    "/auth/start?st=short&rd=http://tools.test/"):
            with self.subTest(url=bad):
                self.assertEqual(b.get(bad).status, 400)

    def test_oversized_and_flood(self):
        # Oversized headers: refused by the server's limit, the worker keeps serving.
        r = self.proxy.envoy("wiki.test", "/", "fb_session_app=" + "A" * 20000)
        self.assertIn(r.status, (400, 413, 431))
        r = self.proxy.envoy("wiki.test", "/" + "a" * 9000)
        self.assertIn(r.status, (400, 414, 431))
        for _ in range(300):
            self.assertEqual(self.proxy.envoy("wiki.test", "/", html=False).status, 401)
        self.assertEqual(self.srv.http("GET", "/healthz").status, 200)


class Replicas(Base):
    """Two replicas on one store (one SQLite file, or one PostgreSQL database in the
    PostgreSQL run) with the same cookie keys: either one answers any check, and a
    sign-out at one ends the app sessions at the other."""

    def setUp(self):
        harness.TestCase.setUp(self)
        d = self.tmpdir()
        shared = harness.replica_conf(d)
        shared["store"] = harness.store_conf(d) or {"path": os.path.join(d, "shared.db")}
        mappings = self.tmpdir()
        self.write(mappings + "/wiki_role.py", "return None\n")
        c = harness.deep_merge(conf(self.trusted, mappings), shared)
        self.srv = self.server(conf=c, workers=1)
        self.other = self.server(conf=c, workers=1)
        for user in ("ann", "bob"):
            cp = cli(self.srv, "user", "add", user, "--init", "--password-stdin",
                     stdin=PASSWORD + "\n")
            self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.srv.start()
        self.other.start()
        self.proxy = Proxy(self.srv)
        self.base = "http://127.0.0.1:%d" % self.srv.port

    def test_revoked_at_the_other_replica(self):
        b, cookie, _ = self.sign_in("ann", "tools.test")
        there = Proxy(self.other)
        r = there.envoy("tools.test", "/", cookie)
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(r.header("X-Forwarded-User"), "ann")
        p = b.submit(b.get("/logout"), "/logout", {})
        self.assertIn(p.status, (200, 303))
        deadline = time.time() + 10
        while time.time() < deadline:
            status = there.envoy("tools.test", "/", cookie).status
            if status != 200:
                break
            time.sleep(0.1)
        self.assertEqual(status, 302)


ISSUER = "http://sso.test"  # server.public_url of both replicas: one issuer
SVC_SECRET = "svc-secret-0123456789abcdefghij"
WEB_SECRET = "web-secret-0123456789abcdefghij"
WEB_CB = "https://app.example.test/cb"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def b64(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jws(claims, key_pem, kid="ec", alg="ES256", typ="at+jwt"):
    """A compact JWS of claims signed with the EC P-256 key key_pem (bytes), or unsigned
    (alg none, key_pem None)."""
    head = b64(json.dumps({"alg": alg, "typ": typ, "kid": kid}).encode())
    body = b64(json.dumps(claims).encode())
    if key_pem is None:
        return "%s.%s." % (head, body)
    key = serialization.load_pem_private_key(key_pem, password=None)
    r, s = decode_dss_signature(key.sign(("%s.%s" % (head, body)).encode(),
                                         ec.ECDSA(hashes.SHA256())))
    return "%s.%s.%s" % (head, body, b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")))


def claims_of(token):
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


class Bearer(Base):
    """Access tokens of fedbroker's own OpenID provider at forward auth (RFC 6750, RFC 9068):
    two replicas on one store with the same keys, so a token revoked at one is refused at
    the other once the revocation cache expired."""

    def setUp(self):
        harness.TestCase.setUp(self)
        d = self.tmpdir()
        shared = harness.replica_conf(d)
        shared["store"] = harness.store_conf(d) or {"path": os.path.join(d, "shared.db")}
        keys = []
        for kid, name, state in (("ec", "ec256", "active"), ("rsa", "rsa2048", "published")):
            for ext in ("key", "crt"):
                shutil.copy(os.path.join(harness.FIXTURE_KEYS, "%s.%s.pem" % (name, ext)),
                            os.path.join(d, "%s.%s.pem" % (kid, ext)))
            os.chmod(os.path.join(d, kid + ".key.pem"), 0o600)
            keys.append({"id": kid, "key": os.path.join(d, kid + ".key.pem"),
                         "cert": os.path.join(d, kid + ".crt.pem"), "state": state})
        with open(os.path.join(d, "ec.key.pem"), "rb") as f:
            self.our_key = f.read()
        for name, value in (("svc", SVC_SECRET), ("web", WEB_SECRET)):
            self.write(os.path.join(d, name + ".secret"), value + "\n")
        shared["keys"] = keys
        shared["key_rollover"] = {"min_publish_time": "0"}
        shared["server"] = {"public_url": ISSUER}
        shared["oidc"] = {"clients": [
            {"id": "svc", "type": "service", "secret": "file:" + os.path.join(d, "svc.secret"),
             "scopes": ["reports.read"]},
            {"id": "web", "secret": "file:" + os.path.join(d, "web.secret"),
             "redirect_uris": [WEB_CB], "require_pkce": False},
            # A client named like a user: its tokens would pass for bob upstream.
            {"id": "bob", "type": "service", "secret": "file:" + os.path.join(d, "svc.secret")}]}
        apps = [dict(APPS[0], audiences=["web"]),
                {"name": "tools", "hosts": ["tools.test"],
                 "audiences": ["svc", "web", "tools", "bob"],
                 "pass_access_token": True},
                {"name": "api", "hosts": ["api.test"], "pass_access_token": True,
                 "access_token_header": "X-Access-Token", "audiences": ["web", "api"]}]
        mappings = self.tmpdir()
        self.write(mappings + "/wiki_role.py", "return 'editor'\n")
        c = harness.deep_merge(conf(self.trusted, mappings), shared)
        c["apps"] = apps
        self.srv = self.server(conf=c, workers=1)
        self.other = self.server(conf=c, workers=1)
        for user in ("ann", "bob"):
            cp = cli(self.srv, "user", "add", user, "--init", "--password-stdin",
                     stdin=PASSWORD + "\n")
            self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.srv.start()
        self.other.start()
        self.proxy = Proxy(self.srv)
        self.base = ISSUER

    def service_token(self, srv=None, client="svc"):
        r = (srv or self.srv).http("POST", "/oauth2/token", headers=FORM, body=(
            "grant_type=client_credentials&client_id=%s&client_secret=%s" % (client,
                                                                             SVC_SECRET)))
        self.assertEqual(r.status, 200, r.body)
        return json.loads(r.body)["access_token"]

    def user_token(self, user):
        """The code flow at the provider for client web, as user; the access token."""
        b = self.browser()
        self.assertEqual(b.login(user, PASSWORD).status, 303)
        p = b.get("/oauth2/authorize?" + urllib.parse.urlencode({
            "response_type": "code", "client_id": "web", "redirect_uri": WEB_CB,
            "scope": "openid profile", "state": "st-1", "nonce": "n-1"}))
        self.assertEqual(p.status, 302, p.text[:1000])
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(p.location).query)["code"][0]
        r = self.srv.http("POST", "/oauth2/token", headers=FORM, body=urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": code, "redirect_uri": WEB_CB,
            "client_id": "web", "client_secret": WEB_SECRET}))
        self.assertEqual(r.status, 200, r.body)
        return json.loads(r.body)["access_token"]

    def envoy(self, host, uri, token, srv=None, **extra):
        # Istio's includeRequestHeadersInCheck lists authorization (fedbroker integrate).
        return Proxy(srv or self.srv).envoy(host, uri, html=False,
                                            Authorization="Bearer " + token, **extra)

    def nginx(self, url, token):
        return self.srv.http("GET", "/auth/nginx", headers={
            "X-Original-URL": url, "X-Original-Method": "GET",
            "Authorization": "Bearer " + token})

    def assert_invalid(self, r, why=None):
        self.assertEqual(r.status, 401, r.body[:300])
        self.assertIsNone(r.header("Location"))
        self.assertIn('error="invalid_token"', r.header("WWW-Authenticate"))
        body = json.loads(r.body)
        self.assertEqual(body["error"], "invalid_token")
        if why:
            self.assertIn(why, body["error_description"])

    def test_user_token_at_envoy_and_nginx(self):
        at = self.user_token("ann")
        r = self.envoy("wiki.test", "/page", at)
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(r.header("X-Forwarded-User"), "ann")
        self.assertEqual(r.header("X-Forwarded-Groups"), "staff")
        self.assertEqual(r.header("X-Role"), "editor")
        r = self.nginx("http://wiki.test/page?x=1", at)
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(r.header("X-Forwarded-User"), "ann")
        # Per-path rules apply to the token's user: the deny rule refuses ann.
        self.assertEqual(self.envoy("wiki.test", "/admin", at).status, 403)
        # The other replica checks it too: the same keys, no HTTP to the issuer.
        r = self.envoy("wiki.test", "/", at, srv=self.other)
        self.assertEqual((r.status, r.header("X-Forwarded-User")), (200, "ann"))
        # A user outside the app's groups: 403, not 401.
        r = self.envoy("wiki.test", "/", self.user_token("bob"))
        self.assertEqual(r.status, 403, r.body[:300])
        self.assertEqual(json.loads(r.body)["user"], "bob")

    def test_service_token(self):
        at = self.service_token()
        # tools lets every signed-in one in; its audiences name svc.
        r = self.envoy("tools.test", "/x", at)
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(r.header("X-Forwarded-User"), "svc")
        self.assertEqual(r.header("X-Forwarded-Groups"), "")
        # The presented token goes upstream as it is (pass_access_token).
        self.assertEqual(r.header("Authorization"), "Bearer " + at)
        # A client named like a user does not pass for them.
        self.assert_invalid(self.envoy("tools.test", "/", self.service_token(client="bob")),
                            "bears a user's name")
        # wiki does not list svc among its audiences.
        self.assert_invalid(self.envoy("wiki.test", "/", at), "audiences")
        self.assert_invalid(self.nginx("http://wiki.test/", at), "audiences")

    def test_bad_tokens(self):
        now = int(time.time())
        good = {"iss": ISSUER, "sub": "svc", "client_id": "svc", "aud": "svc", "iat": now,
                "nbf": now, "exp": now + 300, "jti": "j-" + str(now)}
        self.assertEqual(self.envoy("tools.test", "/", jws(good, self.our_key)).status, 200)
        foreign = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        at = self.service_token()
        head, body, sig = at.split(".")
        tampered = dict(claims_of(at), sub="admin")
        offset = self.srv.log_size()
        def bad(name, **changes):
            return dict(good, jti="%s-%d" % (name.replace(" ", "-"), now), **changes)

        cases = {
            "expired": (jws(bad("expired", exp=now - 120), self.our_key), "expired"),
            "not yet": (jws(bad("nbf", nbf=now + 600), self.our_key), "not valid yet"),
            "wrong aud": (jws(bad("aud", aud="elsewhere"), self.our_key), "audiences"),
            "other issuer": (jws(bad("iss", iss="https://evil.test"), self.our_key), "not ours"),
            "foreign key": (jws(good, foreign), None),
            "foreign key, issuer": (jws(dict(good, iss="https://evil.test"), foreign), None),
            "alg none": (jws(good, None, alg="none"), None),
            "typ JWT": (jws(good, self.our_key, typ="JWT"), None),
            "tampered": ("%s.%s.%s" % (head, b64(json.dumps(tampered).encode()), sig), None),
            "bad signature": ("%s.%s.%s" % (head, body, sig[:-4] + ("AAAA" if not
                              sig.endswith("AAAA") else "BBBB")), None),
            "cnf bound": (jws(bad("cnf", cnf={"x5t#S256": b64(b"\0" * 32)}), self.our_key),
                          "bound to a certificate (cnf) and none was presented"),
            "no such user": (jws(bad("nobody", sub="nobody", client_id="web"), self.our_key),
                             "no user"),
            "garbage": ("not-a-jwt", None),
        }
        for name, (token, why) in cases.items():
            with self.subTest(case=name):
                # (each case its own jti: a check's result is cached per jti)
                self.assert_invalid(self.envoy("tools.test", "/", token), why)
                # Even a browser with a bad token is not sent to sign in.
                r = self.proxy.envoy("tools.test", "/", Authorization="Bearer " + token)
                self.assert_invalid(r, why)
                self.assert_invalid(self.nginx("http://tools.test/", token), why)
        refused = fbsaml.audit_since(self.srv, offset, "forward_auth_token_refused")
        self.assertGreaterEqual(len(refused), len(cases), refused[:3])
        self.assertIn("app=tools", str(refused[0]))
        self.assertNotIn(at, "".join(self.srv.lines_since(offset)))  # no token in the log
        # Within the skew, a token just expired still passes (oidc.clock_skew: 60s).
        self.assertEqual(self.envoy("tools.test", "/", jws(bad("skew", exp=now - 5),
                                                          self.our_key)).status, 200)
        # An anonymous path needs no token: a bad one does not matter there.
        self.assertEqual(self.envoy("wiki.test", "/healthz", "not-a-jwt").status, 200)
        self.assertEqual(self.srv.http("GET", "/healthz").status, 200)

    def test_revoked_at_the_other_replica(self):
        at = self.service_token()
        there = self.other
        self.assertEqual(self.envoy("tools.test", "/", at, srv=there).status, 200)
        r = self.srv.http("POST", "/oauth2/revoke", headers=FORM, body=urllib.parse.urlencode({
            "token": at, "client_id": "svc", "client_secret": SVC_SECRET}))
        self.assertEqual(r.status, 200, r.body)
        deadline = time.time() + 10
        while time.time() < deadline:
            r = self.envoy("tools.test", "/", at, srv=there)
            if r.status != 200:
                break
            time.sleep(0.1)
        self.assert_invalid(r, "revoked")

    def test_pass_access_token_for_a_session(self):
        _, cookie, _ = self.sign_in("ann", "tools.test")
        r = self.proxy.envoy("tools.test", "/", cookie)
        self.assertEqual(r.status, 200, r.body[:300])
        auth = r.header("Authorization")
        self.assertTrue(auth.startswith("Bearer "), auth)
        at = auth[len("Bearer "):]
        c = claims_of(at)
        self.assertEqual((c["iss"], c["aud"]), (ISSUER, "tools"))
        self.assertLessEqual(c["exp"] - c["iat"], 300)
        # Cached per session: the next check sends the same token, no new signature.
        self.assertEqual(self.proxy.envoy("tools.test", "/y", cookie).header("Authorization"),
                         auth)
        # It is a token of the provider: accepted back at forward auth for ann.
        r = self.envoy("tools.test", "/", at)
        self.assertEqual((r.status, r.header("X-Forwarded-User")), (200, "ann"))
        # Anonymous checks overwrite whatever Authorization the client sent.
        r = self.proxy.envoy("tools.test", "/", html=False)
        self.assertEqual(r.status, 401)
        # The header name is per app; without pass_access_token no token is sent.
        _, cookie, _ = self.sign_in("ann", "api.test")
        r = self.proxy.envoy("api.test", "/", cookie)
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(claims_of(r.header("X-Access-Token"))["aud"], "api")
        self.assertIsNone(r.header("Authorization"))
        _, cookie, _ = self.sign_in("ann", "wiki.test")
        r = self.proxy.envoy("wiki.test", "/", cookie)
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("Authorization"))

    def test_explain(self):
        cp = cli(self.srv, "explain", "--app", "tools", "--user", "ann", "--url",
                 "http://tools.test/")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertIn("header:   Authorization: Bearer (an access token: sub ann's id, aud tools",
                      cp.stdout)
        self.assertIn("bearer:   access tokens of this fedbroker with aud svc, web, tools, bob "
                      "decide", cp.stdout)
        cp = cli(self.srv, "explain", "--app", "api", "--url", "http://api.test/", "--json")
        ex = json.loads(cp.stdout)
        self.assertEqual(ex["audiences"], ["web", "api"])
        cp = cli(self.srv, "explain", "--app", "wiki", "--user", "ann", "--url",
                 "http://wiki.test/")
        self.assertNotIn("Authorization", cp.stdout)


class Untrusted(Base):
    """The test connects from 127.0.0.1, not a trusted proxy here."""
    trusted = ["192.0.2.1"]

    def test_spoofed_forwarding_headers_refused(self):
        for which in ("nginx", "caddy", "traefik"):
            with self.subTest(proxy=which):
                if which == "nginx":
                    r = self.proxy.nginx("http://wiki.test/")
                else:
                    r = self.proxy.forward(which, "wiki.test", "/")
                self.assertEqual(r.status, 400)
                self.assertIn("server.trusted_proxies", json.loads(r.body)["detail"])
        # Envoy: X-Forwarded-Host from an untrusted address is not read; Host is.
        r = self.proxy.envoy("nowhere.test", "/", **{"X-Forwarded-Host": "wiki.test"})
        self.assertEqual(r.status, 404)
        self.assertEqual(json.loads(r.body)["host"], "nowhere.test")


if __name__ == "__main__":
    harness.main()
