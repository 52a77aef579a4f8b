#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""78: consent for third-party OpenID clients (issue 14 item 2). A client with
first_party: false shows the consent page (its name, the scopes in words, Allow
and Deny) before its first code; Allow is remembered per user, client and
scopes (the next request skips the page, more scopes ask again), Deny sends
access_denied to the client; prompt=none then answers consent_required,
prompt=consent shows the page for any client. The consent POST is
CSRF-checked, one-time and bound to the session that was asked. npm's
openid-client drives the code flow and redeems the code. A stored client gets
the same with `oidc client add --third-party`, and `oidc consent revoke`
forgets a consent. Runs on SQLite and, with FB_TEST_STORE=postgres, on
PostgreSQL (consents and pending requests live in the store).
"""

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
KEYS = harness.FIXTURE_KEYS
THIRD_SECRET = "third-secret-0123456789abcdefgh"
FIRST_SECRET = "first-secret-0123456789abcdefgh"
CB = "https://app.example.test/cb"


class OidcConsent(harness.TestCase):
    """One broker: "third" (first_party: false, named "Third App"), "first" (a
    first-party client: no page unless prompt=consent); a user per test."""

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
        for name, value in (("third", THIRD_SECRET), ("first", FIRST_SECRET)):
            with open(os.path.join(d, name + ".secret"), "w") as f:
                f.write(value + "\n")
        conf = {
            "keys": keys,
            "key_rollover": {"min_publish_time": "0"},
            "oidc": {"clients": [
                {"id": "third", "name": "Third App", "first_party": False,
                 "secret": "file:" + os.path.join(d, "third.secret"), "redirect_uris": [CB]},
                {"id": "first", "secret": "file:" + os.path.join(d, "first.secret"),
                 "redirect_uris": [CB]},
            ]},
        }
        users = ["alice", "bob", "carol", "dave", "erin", "frank", "gina"]
        cls.srv = fbsaml.saml_server(cls.holder, [], users=users, conf=conf)
        cls.issuer = "http://127.0.0.1:%d" % cls.srv.port

    @classmethod
    def tearDownClass(cls):
        cls.holder.doCleanups()

    # -- helpers
    def rp(self, step, **args):
        if shutil.which("node") is None or not all(os.path.isdir(os.path.join(
                harness.PEERS, "node_modules", m)) for m in ("openid-client", "jose")):
            raise harness.peer_missing("node and tests/peers' openid-client and jose "
                                       "(cd tests/peers && npm ci)")
        a = {"issuer": self.issuer}
        a.update(args)
        cp = subprocess.run(["node", RP, step, json.dumps(a)], capture_output=True, text=True,
                            timeout=60, cwd=harness.PEERS)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return json.loads(cp.stdout.strip().splitlines()[-1])

    def cli(self, *args):
        cp = fbsaml.cli(self.srv, *args)
        self.assertNoCrash(cp, " ".join(args))
        return cp

    def authurl(self, client="third", scope="openid profile", prompt=None):
        """openid-client's authorization URL (PKCE, state, nonce) as a local path."""
        secret = THIRD_SECRET if client == "third" else FIRST_SECRET
        a = self.rp("authurl", client_id=client, client_secret=secret, redirect_uri=CB,
                    scope=scope)
        a["path"] = fbsaml.path_of(a["url"]) + ("&prompt=" + prompt if prompt else "")
        a["client"], a["secret"] = client, secret
        return a

    def query(self, page):
        """The authorization response at the client's redirect URI: its query as a dict."""
        self.assertEqual(page.status, 302, page.text[:2000])
        u = urllib.parse.urlsplit(page.location)
        self.assertEqual(u.scheme + "://" + u.netloc + u.path, CB)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
        self.assertEqual(q.get("iss"), self.issuer, "RFC 9207")
        return q

    def consent_page(self, page, name="Third App"):
        self.assertEqual(page.status, 200, page.text[:2000])
        self.assertEqual(page.title(), "Allow access")
        self.assertIn(name, page.text)
        self.assertTrue(page.hidden("ticket"), "the pending request's ticket")
        self.assertTrue(page.hidden("csrf"), "a CSRF token")
        self.assertNotIn("<script", page.text, "no script on the page")
        return page

    def answer(self, b, page, yes=True, **override):
        f = {"ticket": page.hidden("ticket"), "allow": "yes" if yes else "no"}
        f.update(override)
        return b.submit(page, "/oauth2/consent", f)

    def redeem(self, a, page):
        return self.rp("code", client_id=a["client"], client_secret=a["secret"],
                       callback=page.location, verifier=a["verifier"], state=a["state"],
                       nonce=a["nonce"])

    def audit(self, offset, event):
        return fbsaml.audit_since(self.srv, offset, event)

    # -- the tests
    def test_allow_remembered_more_scopes_ask_again_and_revoke(self):
        b = fbsaml.browser(self, self.srv)
        a = self.authurl()
        p = b.get(a["path"])
        # No session: the login page, then back to the request and its consent page.
        self.assertEqual(p.status, 303, p.text[:2000])
        form = b.get(p.location)
        p = b.submit(form, "/login", {"username": "alice", "password": fbsaml.PASSWORD})
        while p.status in (302, 303) and p.location.startswith("/"):
            p = b.get(p.location)
        self.consent_page(p)
        self.assertIn("See your name and username", p.text)
        self.assertIn("Know who you are", p.text)
        self.assertNotIn("email address", p.text, "only the scopes asked for")
        self.assertIn("alice", p.text)
        off = self.srv.log_size()
        r = self.answer(b, p)
        q = self.query(r)
        self.assertEqual(q["state"], a["state"])
        self.assertTrue(self.audit(off, "oidc_consent_given"))
        t = self.redeem(a, r)
        self.assertNotIn("error", t, t)
        self.assertEqual(t["id_claims"]["preferred_username"], "alice")
        self.assertEqual(t["id_claims"]["aud"], "third")

        # The same scopes again: remembered, no page.
        a = self.authurl()
        r = b.get(a["path"])
        self.assertIn("code", self.query(r))
        self.assertNotIn("error", self.redeem(a, r))
        # Fewer scopes: covered too.
        self.assertIn("code", self.query(b.get(self.authurl(scope="openid")["path"])))

        # More scopes: the page again, naming the new one.
        a = self.authurl(scope="openid profile email")
        p = self.consent_page(b.get(a["path"]))
        self.assertIn("See your email address", p.text)
        r = self.answer(b, p)
        self.assertNotIn("error", self.redeem(a, r))
        self.assertIn("code", self.query(b.get(self.authurl(scope="openid email")["path"])))

        # fedbroker oidc consent revoke: the next request asks again.
        cp = self.cli("oidc", "consent", "revoke", "--user", "alice", "--client", "third")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("revoked", cp.stdout)
        self.consent_page(b.get(self.authurl()["path"]))
        cp = self.cli("oidc", "consent", "revoke", "--user", "alice", "--client", "third")
        self.assertEqual(cp.returncode, 1, "nothing left to revoke")
        self.assertIn("no consent", cp.stderr)
        cp = self.cli("oidc", "consent", "revoke", "--user", "nobody", "--client", "third")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("no user", cp.stderr)
        cp = self.cli("oidc", "consent", "revoke", "--user", "alice")
        self.assertEqual(cp.returncode, 2, "--client is required")
        cp = self.cli("oidc", "consent", "revoke", "--help")
        self.assertEqual(cp.returncode, 0)
        self.assertIn("--client ID", cp.stdout)

    def test_deny_sends_access_denied_with_state(self):
        b = fbsaml.signed_in(self, self.srv, "bob")
        a = self.authurl()
        p = self.consent_page(b.get(a["path"]))
        off = self.srv.log_size()
        r = self.answer(b, p, yes=False)
        q = self.query(r)
        self.assertEqual(q["error"], "access_denied")
        self.assertEqual(q["state"], a["state"])
        self.assertNotIn("code", q)
        self.assertTrue(self.audit(off, "oidc_consent_denied"))
        t = self.redeem(a, r)
        self.assertEqual(t.get("error"), "access_denied", t)
        # Nothing remembered: asked again.
        self.consent_page(b.get(self.authurl()["path"]))

    def test_prompt_none_needs_consent(self):
        b = fbsaml.signed_in(self, self.srv, "carol")
        a = self.authurl(prompt="none")
        q = self.query(b.get(a["path"]))
        self.assertEqual(q["error"], "consent_required")
        self.assertEqual(q["state"], a["state"])
        # prompt=none with consent is a contradiction (OIDC Core 3.1.2.1).
        q = self.query(b.get(self.authurl(prompt="none+consent")["path"]))
        self.assertEqual(q["error"], "invalid_request")
        # Once allowed, prompt=none passes.
        self.answer(b, self.consent_page(b.get(self.authurl()["path"])))
        self.assertIn("code", self.query(b.get(self.authurl(prompt="none")["path"])))

    def test_prompt_consent_on_first_party_client(self):
        b = fbsaml.signed_in(self, self.srv, "dave")
        # A first-party client: no page, as before.
        a = self.authurl(client="first")
        r = b.get(a["path"])
        self.assertIn("code", self.query(r))
        self.assertNotIn("error", self.redeem(a, r))
        # prompt=consent: the page, named by the id (no name configured).
        a = self.authurl(client="first", prompt="consent")
        p = self.consent_page(b.get(a["path"]), name="first")
        r = self.answer(b, p)
        self.assertNotIn("error", self.redeem(a, r))
        # prompt=consent on a remembered third-party consent: asked anyway.
        self.answer(b, self.consent_page(b.get(self.authurl()["path"])))
        self.assertIn("code", self.query(b.get(self.authurl()["path"])))
        self.consent_page(b.get(self.authurl(prompt="consent")["path"]))

    def test_csrf_replay_and_other_session_refused(self):
        b = fbsaml.signed_in(self, self.srv, "erin")
        a = self.authurl()
        p = self.consent_page(b.get(a["path"]))
        off = self.srv.log_size()
        for bad in ("", "forged-" + p.hidden("csrf")[7:]):
            r = self.answer(b, p, csrf=bad)
            self.assertEqual(r.status, 403, r.text[:2000])
            self.assertIsNone(r.location, "nothing sent to the client")
        self.assertTrue(self.audit(off, "csrf_failed"))
        # Another signed-in person with a valid CSRF token of their own: refused.
        other = fbsaml.signed_in(self, self.srv, "frank")
        mine = other.get("/logout")
        r = other.post("/oauth2/consent", {"csrf": mine.hidden("csrf"), "next": "/",
                                           "ticket": p.hidden("ticket"), "allow": "yes"})
        self.assertEqual(r.status, 403, r.text[:2000])
        self.assertIsNone(r.location)
        self.assertTrue(self.audit(off, "oidc_consent_refused"))
        # The refusals issued nothing and remembered nothing: erin is asked again.
        p = self.consent_page(b.get(a["path"]))
        r = self.answer(b, p)
        self.assertNotIn("error", self.redeem(a, r))
        # The same form again: one-time.
        off = self.srv.log_size()
        r = self.answer(b, p)
        self.assertEqual(r.status, 400, r.text[:2000])
        self.assertIsNone(r.location, "no second code")
        self.assertIn("answered already", r.text)
        self.assertTrue(self.audit(off, "oidc_consent_refused"))
        # A malformed answer.
        p = self.consent_page(b.get(self.authurl(prompt="consent")["path"]))
        r = self.answer(b, p, allow="maybe")
        self.assertEqual(r.status, 400, r.text[:2000])
        self.assertIsNone(r.location)

    def test_stored_third_party_client(self):
        # Bad input first: nothing stored.
        cp = self.cli("oidc", "client", "add", "--id", "stored3", "--third-party",
                      "--redirect-uri", CB, "--generate-secret", "--consent-lifetime", "forever")
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("consent_lifetime", cp.stderr)
        cp = self.cli("oidc", "client", "list", "--json")
        self.assertNotIn("stored3", [c["id"] for c in json.loads(cp.stdout)])
        cp = self.cli("oidc", "client", "add", "--id", "stored3", "--third-party",
                      "--name", "Stored App", "--redirect-uri", CB, "--generate-secret",
                      "--consent-lifetime", "30d")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        cp = self.cli("oidc", "client", "show", "stored3", "--json")
        o = json.loads(cp.stdout)
        self.assertEqual((o["first_party"], o["name"], o["consent_lifetime"]),
                         (False, "Stored App", 30 * 86400))
        b = fbsaml.signed_in(self, self.srv, "gina")
        path = ("/oauth2/authorize?" + urllib.parse.urlencode({
            "response_type": "code", "client_id": "stored3", "redirect_uri": CB,
            "scope": "openid", "state": "s-3",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256"}))
        deadline = time.time() + 20
        p = b.get(path)
        while p.status == 400 and time.time() < deadline:  # every worker reads it within 5 s
            time.sleep(0.2)
            p = b.get(path)
        self.consent_page(p, name="Stored App")
        q = self.query(self.answer(b, p))
        self.assertIn("code", q)
        self.assertEqual(q["state"], "s-3")
        self.assertIn("code", self.query(b.get(path)), "remembered")
        # Removed and added again under the same id: another client, which gina never allowed.
        self.assertEqual(self.cli("oidc", "client", "remove", "stored3").returncode, 0)
        cp = self.cli("oidc", "client", "add", "--id", "stored3", "--third-party",
                      "--name", "Stored App", "--redirect-uri", CB, "--generate-secret")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        deadline = time.time() + 20
        p = b.get(path)
        while p.status == 302 and time.time() < deadline:  # the old entry, for up to 5 s
            time.sleep(0.2)
            p = b.get(path)
        self.consent_page(p, name="Stored App")


if __name__ == "__main__":
    harness.main()
