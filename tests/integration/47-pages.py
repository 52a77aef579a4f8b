#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""47: the sign-in pages over HTTP: every page and every failure (issue 4, items 6 and 7)."""

import hashlib
import os
import re
import shutil
import statistics
import subprocess
import time
import unittest
import urllib.parse

import harness
import webclient

PASSWORD = "correct horse battery staple"
ORG = "Acme & Co <Test>"
LOGO = "/static/logo.png?v=1&x=2"


def cli(srv, *args, stdin=None):
    """Runs `fedbroker ARGS --config ... --state-dir ...` against srv's state; CompletedProcess."""
    return subprocess.run([harness.BIN] + list(args) + ["--config", srv.config, "--state-dir",
                                                        srv.state_dir],
                          input=stdin, capture_output=True, text=True, timeout=60)


def add_user(tc, srv, name, password=PASSWORD, *extra):
    cp = cli(srv, "user", "add", name, "--init", "--password-stdin", *extra, stdin=password + "\n")
    tc.assertEqual(cp.returncode, 0, "user add %s: %s%s" % (name, cp.stdout, cp.stderr))


def pages_conf(**local):
    lk = {"password": {"time_cost": 2, "memory_kib": 4096},
          "bootstrap": {"enabled": False},
          "lockout": {"max_failures": 50}}
    lk.update(local)
    return {
        "server": {"public_url": "http://127.0.0.1:1"},  # replaced in setUpClass
        "local": lk,
        "branding": {"organization": ORG, "logo_url": LOGO},
        "groups": [{"name": "superusers", "require_mfa": True, "members": ["boss"]},
                   {"name": "staff", "members": ["alice", "carol"]}],
    }


class Base(harness.TestCase):
    """A shared server with accounts made by the CLI before it starts."""

    users = ()
    local = {}

    @classmethod
    def setUpClass(cls):
        cls.holder = harness.TestCase("run")
        conf = pages_conf(**cls.local)
        cls.srv = harness.Server(cls.holder, conf=conf, workers=2)
        conf["server"]["public_url"] = "http://127.0.0.1:%d" % cls.srv.port
        cls.srv.conf = harness.deep_merge(cls.srv.base_conf, conf)
        cls.srv.write_config(cls.srv.conf)
        for u in cls.users:
            add_user(cls.holder, cls.srv, *u)
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.holder.doCleanups()

    def browser(self):
        b = webclient.Browser("127.0.0.1", self.srv.port)
        self.addCleanup(b.close)
        return b

    def audit_since(self, offset, event, timeout=3.0):
        """The audit lines with event=EVENT written after offset (waits a little for them)."""
        deadline = time.time() + timeout
        while True:
            found = []
            for line in self.srv.lines_since(offset):
                try:
                    rec = harness.parse_log_line(line)
                except ValueError:
                    continue
                if rec.get("cat") == "audit" and rec.get("event") == event:
                    found.append(rec)
            if found or time.time() > deadline:
                return found
            time.sleep(0.05)

    def assertAudit(self, offset, event):
        recs = self.audit_since(offset, event)
        self.assertTrue(recs, "no audit line event=%s\n%s" % (
            event, "\n".join(self.srv.lines_since(offset))))
        return recs

    def assertNoSession(self, b, page):
        self.assertNotIn(self.srv.conf.get("session", {}).get("cookie_name", "fb_session"),
                         b.cookies, "a failure must never issue a session")
        for line in page.headers_all("Set-Cookie"):
            self.assertFalse(line.startswith("fb_session="), line)

    def assertPage(self, page, status, title=None, alert=None):
        self.assertEqual(page.status, status, page.text[:3000])
        self.assertTrue((page.header("Content-Type") or "").startswith("text/html"),
                        page.header("Content-Type"))
        self.assertIn('<meta name="viewport"', page.text)
        if title is not None:
            self.assertEqual(page.title(), title)
        if alert is not None:
            self.assertIn(alert, page.alert() or "", page.text[:3000])

    def assertLabelled(self, page):
        """Every visible input has a label pointing at its id."""
        ids = set(re.findall(r'<label for="([^"]+)"', page.text))
        for tag in re.findall(r"<input\b[^>]*>", page.text):
            if 'type="hidden"' in tag:
                continue
            m = re.search(r'\bid="([^"]+)"', tag)
            self.assertIsNotNone(m, "input without id: " + tag)
            self.assertIn(m.group(1), ids, "input without label: " + tag)

    def signed_in(self, user, password=PASSWORD):
        b = self.browser()
        r = b.login(user, password)
        self.assertEqual(r.status, 303, r.text[:2000])
        return b, r


class Pages(Base):
    users = (("alice", PASSWORD, "--name", "Alice <Admin> & \"Co\""), ("bob",), ("carol",),
             ("boss",), ("dave",), ("erin", PASSWORD, "--email", "erin@example.com"),
             ("frank",), ("gina",), ("hank", PASSWORD, "--email", "hank@example.com"),
             ("ivan",), ("judy",))

    # ---- the pages -------------------------------------------------------------

    def test_login_page(self):
        b = self.browser()
        p = b.get("/login")
        self.assertPage(p, 200, "Sign in to " + ORG)
        self.assertLabelled(p)
        self.assertIn('<html lang="en">', p.text)
        self.assertIn("Acme &amp; Co &lt;Test&gt;", p.text)  # branding, escaped
        self.assertNotIn("<Test>", p.text)
        self.assertIn('<img src="/static/logo.png?v=1&amp;x=2" alt="">', p.text)
        self.assertIn('autocomplete="current-password"', p.text)
        self.assertTrue(p.hidden("csrf").startswith("v1."))
        self.assertEqual(p.hidden("next"), "/")
        self.assertNotIn("<script", p.text)  # works without JavaScript
        pre = [c for c in p.headers_all("Set-Cookie") if c.startswith("fb_session_pre=")]
        self.assertEqual(len(pre), 1, p.headers)
        for attr in ("HttpOnly", "SameSite=Lax", "Path=/"):
            self.assertIn(attr, pre[0])
        self.assertNotIn("Secure", pre[0])  # plain HTTP here; 70-tls checks Secure
        # The same browser keeps its pre-session id.
        p2 = b.get("/login")
        self.assertEqual([c for c in p2.headers_all("Set-Cookie")
                          if c.startswith("fb_session_pre=")], [])
        self.assertEqual(b.get("/login").status, 200)
        self.assertEqual(b.request("HEAD", "/login").status, 200)

    def test_pages_need_a_session(self):
        b = self.browser()
        r = b.get("/")
        self.assertEqual(r.status, 303)
        self.assertEqual(r.location, "/login")
        r = b.get("/mfa/enrol")
        self.assertEqual(r.status, 303)
        self.assertEqual(r.location, "/login?next=%2Fmfa%2Fenrol")
        r = b.get("/login/mfa")
        self.assertEqual(r.status, 303)
        self.assertEqual(r.location, "/login")

    def test_sign_in_dashboard(self):
        off = self.srv.log_size()
        b, r = self.signed_in("alice")
        self.assertEqual(r.location, "/")
        sess = [c for c in r.headers_all("Set-Cookie") if c.startswith("fb_session=")]
        self.assertEqual(len(sess), 1)
        for attr in ("HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="):
            self.assertIn(attr, sess[0])
        self.assertNotIn("alice", sess[0])  # sealed
        self.assertAudit(off, "login_succeeded")
        d = b.get("/")
        self.assertPage(d, 200, "Applications")
        self.assertIn("Alice &lt;Admin&gt; &amp; &quot;Co&quot;", d.text)
        self.assertIn("no applications for you to open yet", d.text)
        self.assertIn('action="/logout"', d.text)
        self.assertIn("Two-step verification is off", d.text)
        # Signed in already: /login sends on.
        r = b.get("/login")
        self.assertEqual((r.status, r.location), (303, "/"))

    def test_next_local_path(self):
        b = self.browser()
        r = b.login("alice", PASSWORD, next_path="/mfa/enrol")
        self.assertEqual((r.status, r.location), (303, "/mfa/enrol"))

    def test_next_open_redirect_refused(self):
        for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example",
                     "/\t/evil.example", "javascript:alert(1)"):
            with self.subTest(next=evil):
                off = self.srv.log_size()
                b = self.browser()
                form = b.get("/login?next=" + urllib.parse.quote(evil, safe=""))
                self.assertEqual(form.hidden("next"), "/")
                # Also when posted directly in the form.
                r = b.post("/login", {"csrf": form.hidden("csrf"), "next": evil,
                                      "username": "alice", "password": PASSWORD})
                self.assertEqual((r.status, r.location), (303, "/"))
                self.assertAudit(off, "redirect_refused")

    # ---- failures ------------------------------------------------------------

    def test_wrong_password_and_unknown_user(self):
        off = self.srv.log_size()
        b = self.browser()
        wrong = b.login("alice", "not the password at all")
        self.assertPage(wrong, 403, alert="Wrong username or password.")
        self.assertNoSession(b, wrong)
        unknown = b.login("nobody-here", "not the password at all")
        self.assertPage(unknown, 403, alert="Wrong username or password.")
        self.assertNoSession(b, unknown)
        self.assertEqual(wrong.alert(), unknown.alert())
        self.assertEqual(wrong.title(), unknown.title())
        self.assertIn('value="nobody-here"', unknown.text)  # the username is kept
        self.assertGreaterEqual(len(self.assertAudit(off, "login_failed")), 2)
        # Similar timing: the unknown user is checked against a dummy hash of the same cost.
        tw, tu = [], []
        for _ in range(5):
            for name, acc in (("alice", tw), ("nobody-else", tu)):
                form = b.get("/login")
                t0 = time.monotonic()
                b.submit(form, "/login", {"username": name, "password": "wrong password x"})
                acc.append(time.monotonic() - t0)
        mw, mu = statistics.median(tw), statistics.median(tu)
        self.assertLess(max(mw, mu) / min(mw, mu), 2.5, "wrong %.4f s, unknown %.4f s" % (mw, mu))

    def test_missing_fields(self):
        b = self.browser()
        form = b.get("/login")
        r = b.submit(form, "/login", {"username": "alice"})
        self.assertPage(r, 400, alert="Enter your username and password.")
        self.assertNoSession(b, r)

    def test_csrf_missing(self):
        off = self.srv.log_size()
        b = self.browser()
        b.get("/login")
        r = b.post("/login", {"username": "alice", "password": PASSWORD})
        self.assertPage(r, 403, "This form has expired")
        self.assertNoSession(b, r)
        self.assertAudit(off, "csrf_failed")

    def test_csrf_wrong(self):
        off = self.srv.log_size()
        other = self.browser()
        token = other.get("/login").hidden("csrf")
        b = self.browser()
        b.get("/login")
        for bad in (token, "v1.garbage", "x" * 300):
            with self.subTest(token=bad[:20]):
                r = b.post("/login", {"csrf": bad, "username": "alice", "password": PASSWORD})
                self.assertPage(r, 403, "This form has expired")
                self.assertNoSession(b, r)
        self.assertGreaterEqual(len(self.assertAudit(off, "csrf_failed")), 3)

    def test_csrf_without_cookie(self):
        b = self.browser()
        form = b.get("/login")
        b.cookies.clear()  # a browser that keeps no cookie
        r = b.submit(form, "/login", {"username": "alice", "password": PASSWORD})
        self.assertPage(r, 403, "This form has expired", alert="cookies must be allowed")
        self.assertNoSession(b, r)

    def test_not_a_form(self):
        off = self.srv.log_size()
        b = self.browser()
        form = b.get("/login")
        body = urllib.parse.urlencode({"csrf": form.hidden("csrf"), "username": "alice",
                                       "password": PASSWORD}).encode()
        r = b.request("POST", "/login", body=body, headers={"Content-Type": "text/plain"})
        self.assertPage(r, 400, "The form could not be read")
        self.assertNoSession(b, r)
        self.assertAudit(off, "form_rejected")

    def test_oversized_field(self):
        off = self.srv.log_size()
        b = self.browser()
        form = b.get("/login")
        r = b.submit(form, "/login", {"username": "alice", "password": "p" * 5000})
        self.assertPage(r, 413, "The form is too large")
        self.assertNoSession(b, r)
        recs = self.assertAudit(off, "form_rejected")
        self.assertNotIn("ppppp", str(recs))  # never the value

    def test_too_many_fields(self):
        b = self.browser()
        form = b.get("/login")
        fields = {"f%d" % i: "x" for i in range(40)}
        r = b.submit(form, "/login", fields)
        self.assertPage(r, 413, "The form is too large")

    def test_non_utf8_field(self):
        off = self.srv.log_size()
        b = self.browser()
        form = b.get("/login")
        for raw in (b"%FF%FE", b"%C3", b"a%00b", b"%zz"):
            with self.subTest(raw=raw):
                body = ("csrf=%s&username=alice&password=" % urllib.parse.quote(
                    form.hidden("csrf"), safe="")).encode() + raw
                r = b.request("POST", "/login", body=body,
                              headers={"Content-Type": webclient.FORM_TYPE})
                self.assertPage(r, 400, "The form could not be read")
                self.assertNoSession(b, r)
        self.assertGreaterEqual(len(self.assertAudit(off, "form_rejected")), 4)

    def test_disabled_account(self):
        b, _ = self.signed_in("bob")
        self.assertEqual(b.get("/").status, 200)
        old = dict(b.cookies)
        cp = cli(self.srv, "user", "disable", "bob")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        off = self.srv.log_size()
        # The session stops working at once: to the sign-in page, the cookie deleted ...
        r = b.get("/")
        self.assertEqual(r.status, 303, r.text[:2000])
        self.assertTrue(r.location.startswith("/login"), r.location)
        self.assertNotIn("fb_session", b.cookies)
        self.assertAudit(off, "session_ignored")
        # ... and a new sign-in is refused with a clear page.
        b2 = self.browser()
        r = b2.login("bob", PASSWORD)
        self.assertPage(r, 403, "Account disabled", alert="disabled")
        self.assertNoSession(b2, r)
        self.assertAudit(off, "login_disabled")
        # A wrong password for a disabled account says only "wrong".
        r = b2.login("bob", "not the right one")
        self.assertPage(r, 403, alert="Wrong username or password.")
        # Enabling the account again does not bring the old session back.
        cp = cli(self.srv, "user", "enable", "bob")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        b3 = self.browser()
        b3.cookies.update(old)
        self.assertEqual(b3.get("/").status, 303)
        self.assertEqual(self.signed_in("bob")[0].get("/").status, 200)

    def test_logout(self):
        b, _ = self.signed_in("alice")
        old = dict(b.cookies)
        p = b.get("/logout")
        self.assertPage(p, 200, "Sign out")
        self.assertIn("alice", p.text)
        self.assertEqual(b.get("/").status, 200, "GET /logout does not sign out")
        # Without the token: refused, still signed in.
        off = self.srv.log_size()
        r = b.post("/logout", {})
        self.assertPage(r, 403)
        self.assertAudit(off, "csrf_failed")
        self.assertEqual(b.get("/").status, 200)
        r = b.submit(p, "/logout", {})
        self.assertPage(r, 200, "You have signed out")
        cleared = [c for c in r.headers_all("Set-Cookie") if c.startswith("fb_session=")]
        self.assertEqual(len(cleared), 1)
        self.assertIn("Max-Age=0", cleared[0])
        self.assertAudit(off, "logout")
        self.assertEqual(b.get("/").status, 303)
        # A copy of the old cookie does not come back: the session is revoked in the store.
        b2 = self.browser()
        b2.cookies = old
        r = b2.get("/")
        self.assertEqual((r.status, r.location), (303, "/login"))
        self.assertAudit(off, "session_ignored")

    def test_tampered_session_cookie(self):
        b, _ = self.signed_in("alice")
        v = b.cookies["fb_session"]
        i = len(v) // 2
        b.cookies["fb_session"] = v[:i] + ("A" if v[i] != "A" else "B") + v[i + 1:]
        r = b.get("/")
        self.assertEqual((r.status, r.location), (303, "/login"))

    # ---- second factor ------------------------------------------------------------

    def enrol(self, b, expect_notice=None):
        p = b.get("/mfa/enrol")
        self.assertPage(p, 200, "Set up two-step verification")
        self.assertLabelled(p)
        if expect_notice:
            self.assertIn(expect_notice, p.text)
        secret = p.by_id("totp-secret")
        self.assertRegex(secret.replace(" ", ""), r"^[A-Z2-7]{32}$")
        uri = p.by_id("totp-uri")
        self.assertTrue(uri.startswith("otpauth://totp/"), uri)
        self.assertIn("secret=" + secret.replace(" ", ""), uri)
        self.assertIn("<svg", p.text)
        self.assertIn('aria-label="QR code"', p.text)
        # A wrong code: refused, the same key may be tried again.
        off = self.srv.log_size()
        webclient.wait_fresh_step()
        wrong = "%06d" % ((int(webclient.totp(secret)) + 1) % 1000000)
        r = b.submit(p, "/mfa/enrol", {"pending": p.hidden("pending"), "code": wrong})
        self.assertPage(r, 403, alert="not right")
        self.assertEqual(r.hidden("pending"), p.hidden("pending"))
        self.assertAudit(off, "mfa_enrol_failed")
        r = b.submit(r, "/mfa/enrol", {"pending": r.hidden("pending"),
                                       "code": webclient.totp(secret)})
        self.assertPage(r, 200, "Two-step verification is on")
        codes = re.findall(r"<li>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})</li>", r.text)
        self.assertEqual(len(codes), 10, r.text)
        self.assertAudit(off, "mfa_enrolled")
        return secret, codes

    def test_totp_enrol_and_sign_in(self):
        b, _ = self.signed_in("carol")
        secret, codes = self.enrol(b)
        self.assertIn("Two-step verification is on (10 recovery codes left)", b.get("/").text)
        # Sign out, sign in again: the second factor is asked for.
        b.submit(b.get("/logout"), "/logout", {})
        r = b.login("carol", PASSWORD)
        self.assertEqual((r.status, r.location), (303, "/login/mfa"))
        # The password alone opens nothing.
        r = b.get("/")
        self.assertEqual((r.status, r.location), (303, "/login/mfa"))
        p = b.get("/login/mfa")
        self.assertPage(p, 200, "Two-step verification")
        self.assertLabelled(p)
        off = self.srv.log_size()
        webclient.wait_fresh_step()
        wrong = "%06d" % ((int(webclient.totp(secret)) + 7) % 1000000)
        r = b.submit(p, "/login/mfa", {"code": wrong})
        self.assertPage(r, 403, alert="not right")
        self.assertTrue([l for l in self.assertAudit(off, "login_failed") if "totp" in l["msg"]])
        self.assertEqual(b.get("/").status, 303)
        # The enrolment used this step's code: the next step's (within the drift allowed).
        code = webclient.totp(secret, step_offset=1)
        r = b.submit(r, "/login/mfa", {"code": code})
        self.assertEqual((r.status, r.location), (303, "/"), r.text[:2000])
        self.assertAudit(off, "login_succeeded")
        self.assertPage(b.get("/"), 200, "Applications")
        # The same code again, in another sign-in: a replay.
        b2 = self.browser()
        r = b2.login("carol", PASSWORD)
        self.assertEqual(r.location, "/login/mfa")
        p = b2.get("/login/mfa")
        r = b2.submit(p, "/login/mfa", {"code": code})
        self.assertPage(r, 409, alert="used already")
        self.assertEqual(b2.get("/").status, 303)
        self.assertAudit(off, "login_totp_replayed")
        # A recovery code works once.
        r = b2.submit(r, "/login/mfa", {"code": codes[0].upper()})
        self.assertEqual((r.status, r.location), (303, "/"), r.text[:2000])
        self.assertIn("(9 recovery codes left)", b2.get("/").text)
        b3 = self.browser()
        b3.login("carol", PASSWORD)
        p = b3.get("/login/mfa")
        r = b3.submit(p, "/login/mfa", {"code": codes[0]})
        self.assertPage(r, 403, alert="not right")
        self.assertEqual(b3.get("/").status, 303)

    def test_mfa_step_needs_the_password_first(self):
        b = self.browser()
        p = b.get("/login")  # a pre-session id, no session
        r = b.submit(p, "/login/mfa", {"code": "123456"})
        self.assertPage(r, 403, "Sign-in expired")
        self.assertNoSession(b, r)

    def test_require_mfa_group(self):
        b = self.browser()
        r = b.login("boss", PASSWORD, next_path="/")
        self.assertEqual((r.status, r.location), (303, "/mfa/enrol"))
        # Nothing else opens before the second factor is set up.
        r = b.get("/")
        self.assertEqual((r.status, r.location), (303, "/mfa/enrol"))
        r = b.get("/login/mfa")
        self.assertEqual((r.status, r.location), (303, "/mfa/enrol"))
        self.enrol(b, expect_notice="needs a second step")
        self.assertPage(b.get("/"), 200, "Applications")

    # ---- recovery links ------------------------------------------------------------

    def recovery_link(self, user):
        cp = cli(self.srv, "user", "recovery-link", user)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        m = re.search(r"http://127\.0\.0\.1:\d+(/recover\?token=[A-Za-z0-9_-]+)", cp.stdout)
        self.assertIsNotNone(m, cp.stdout)
        return m.group(1)

    def test_recovery_link(self):
        path = self.recovery_link("erin")
        b = self.browser()
        # GET twice: a look does not use the link up (mail scanners fetch links).
        for _ in range(2):
            p = b.get(path)
            self.assertPage(p, 200, "Choose a new password")
            self.assertLabelled(p)
            self.assertIn("<strong>erin</strong>", p.text)
        off = self.srv.log_size()
        r = b.submit(p, "/recover", {"token": p.hidden("token"), "password": "new password 1 x",
                                     "confirm": "new password 2 x"})
        self.assertPage(r, 400, alert="not the same")
        r = b.submit(p, "/recover", {"token": p.hidden("token"), "password": "short",
                                     "confirm": "short"})
        self.assertPage(r, 400, alert="too weak")
        new = "a brand new passphrase"
        r = b.submit(r, "/recover", {"token": r.hidden("token"), "password": new,
                                     "confirm": new})
        self.assertPage(r, 200, "Password changed")
        self.assertAudit(off, "password_recovered")
        self.assertNoSession(b, r)
        # The new password signs in, the old one does not.
        self.assertEqual(self.browser().login("erin", PASSWORD).status, 403)
        self.assertEqual(self.browser().login("erin", new).status, 303)
        # The link is used up: GET and POST refuse it.
        r = b.get(path)
        self.assertPage(r, 404, "This link cannot be used", alert="expired or was used")
        self.assertAudit(off, "recovery_link_refused")
        r = b.submit(p, "/recover", {"token": p.hidden("token"), "password": new + "2",
                                     "confirm": new + "2"})
        self.assertPage(r, 404, "This link cannot be used")

    def test_password_reset_ends_sessions(self):
        """A reset through a recovery link, or by the CLI, ends every session of the account."""
        b1, _ = self.signed_in("hank")
        b2, _ = self.signed_in("hank")
        other, _ = self.signed_in("gina")
        for b in (b1, b2, other):
            self.assertEqual(b.get("/").status, 200)
        p = b1.get(self.recovery_link("hank"))
        new = "hank's new passphrase"
        off = self.srv.log_size()
        r = b1.submit(p, "/recover", {"token": p.hidden("token"), "password": new,
                                      "confirm": new})
        self.assertPage(r, 200, "Password changed", alert="every session")
        self.assertIn("every session of the account ended",
                      self.assertAudit(off, "password_recovered")[0].get("msg", ""))
        # The other client's next request goes to the sign-in page.
        for b in (b2, b1):
            r = b.get("/")
            self.assertEqual(r.status, 303, r.text[:2000])
            self.assertTrue(r.location.startswith("/login"), r.location)
        self.assertAudit(off, "session_ignored")
        # Another account's session is untouched; a new sign-in works.
        self.assertEqual(other.get("/").status, 200)
        b3, _ = self.signed_in("hank", new)
        self.assertEqual(b3.get("/").status, 200)
        # fedbroker user set-password does the same.
        cp = cli(self.srv, "user", "set-password", "hank", "--password-stdin",
                 stdin=PASSWORD + "\n")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(b3.get("/").status, 303)
        self.assertEqual(self.signed_in("hank")[0].get("/").status, 200)

    # ---- issue 10: changing one's own password, the request id, the 404 page --------

    def test_change_own_password(self):
        b1, _ = self.signed_in("ivan")
        b2, _ = self.signed_in("ivan")
        other, _ = self.signed_in("gina")
        home = b1.get("/")
        self.assertIn('href="/account/password"', home.text)
        form = b1.get("/account/password")
        self.assertPage(form, 200, "Change your password")
        self.assertLabelled(form)
        new = "ivan's brand new passphrase"
        # Wrong current password: refused, audited, nothing changed, no session ends.
        off = self.srv.log_size()
        r = b1.submit(form, "/account/password",
                      {"current": "not my password at all", "password": new, "confirm": new})
        self.assertPage(r, 403, alert="current password is not right")
        rec = self.assertAudit(off, "password_change_refused")[0]
        self.assertEqual(rec.get("user"), "ivan")
        self.assertEqual(b2.get("/").status, 200)
        # The new password twice, different; too weak: 400, nothing changed.
        r = b1.submit(form, "/account/password",
                      {"current": PASSWORD, "password": new, "confirm": new + "x"})
        self.assertPage(r, 400, alert="not the same")
        r = b1.submit(form, "/account/password",
                      {"current": PASSWORD, "password": "short", "confirm": "short"})
        self.assertPage(r, 400, alert="too weak")
        # No CSRF token, or one of another browser: refused before anything is checked.
        r = b1.post("/account/password", {"current": PASSWORD, "password": new, "confirm": new})
        self.assertPage(r, 403, "This form has expired")
        r = b1.post("/account/password", {"csrf": other.get("/account/password").hidden("csrf"),
                                          "current": PASSWORD, "password": new,
                                          "confirm": new})
        self.assertPage(r, 403, "This form has expired")
        self.assertEqual(b2.get("/").status, 200)
        self.assertEqual(self.signed_in("ivan")[0].get("/").status, 200, "old password works")
        # Right: changed; this browser stays signed in, the others end.
        off = self.srv.log_size()
        r = b1.submit(b1.get("/account/password"), "/account/password",
                      {"current": PASSWORD, "password": new, "confirm": new})
        self.assertPage(r, 200, alert="Every other session")
        self.assertNotIn(new, r.text)
        rec = self.assertAudit(off, "password_changed")[0]
        self.assertEqual(rec.get("user"), "ivan")
        self.assertEqual(b1.get("/").status, 200)
        r = b2.get("/")
        self.assertEqual(r.status, 303)
        self.assertTrue(r.location.startswith("/login"), r.location)
        self.assertEqual(other.get("/").status, 200)
        self.assertEqual(self.browser().login("ivan", PASSWORD).status, 403)
        self.assertEqual(self.signed_in("ivan", new)[0].get("/").status, 200)
        for l in self.srv.log_lines():
            self.assertNotIn(new, l, "a password in the log")

    def test_change_password_needs_a_session(self):
        b = self.browser()
        r = b.get("/account/password")
        self.assertEqual(r.status, 303)
        self.assertTrue(r.location.startswith("/login"), r.location)
        form = b.get("/login")
        r = b.post("/account/password", {"csrf": form.hidden("csrf"), "current": PASSWORD,
                                         "password": "x" * 20, "confirm": "x" * 20})
        self.assertEqual(r.status, 303)
        self.assertEqual(self.signed_in("judy")[0].get("/").status, 200, "nothing changed")

    def test_error_pages_show_the_request_id(self):
        b = self.browser()
        b.get("/login")
        r = b.post("/login", {"username": "alice", "password": PASSWORD})  # no CSRF token
        self.assertPage(r, 403, "This form has expired")
        rid = r.header("X-Request-Id")
        self.assertTrue(rid)
        self.assertIn("Request id: <code>%s</code>" % rid, r.text)
        ok = b.get("/login")
        self.assertNotIn("Request id:", ok.text, "only error pages show it")

    def test_not_found_page_has_the_site_style(self):
        r = self.browser().get("/no/such/page")
        self.assertPage(r, 404, "Page not found")
        self.assertIn('<header class="top">', r.text)
        self.assertIn("<style>", r.text)
        self.assertIn('href="/"', r.text)
        self.assertIn("Request id: <code>%s</code>" % r.header("X-Request-Id"), r.text)

    def test_recovery_link_expired(self):
        path = self.recovery_link("frank")
        token = urllib.parse.parse_qs(urllib.parse.urlparse(path).query)["token"][0]
        b = self.browser()
        p = b.get(path)
        self.assertPage(p, 200)
        # Move the link's expiry into the past, as 30 minutes of waiting would.
        n, _ = self.srv.store_sql("UPDATE kv SET expires_at = ? WHERE ns = 'recovery' AND key = ?",
                                  (int(time.time()) - 1,
                                   hashlib.sha256(token.encode()).hexdigest()))
        self.assertEqual(n, 1, "the link's store entry")
        off = self.srv.log_size()
        r = b.get(path)
        self.assertPage(r, 404, "This link cannot be used")
        r = b.submit(p, "/recover", {"token": token, "password": "a brand new passphrase",
                                     "confirm": "a brand new passphrase"})
        self.assertPage(r, 404, "This link cannot be used")
        self.assertAudit(off, "recovery_link_refused")
        self.assertEqual(self.browser().login("frank", PASSWORD).status, 303)

    def test_recovery_link_malformed(self):
        b = self.browser()
        for path in ("/recover", "/recover?token=", "/recover?token=%3Cscript%3E",
                     "/recover?token=" + "A" * 43):
            with self.subTest(path=path):
                r = b.get(path)
                self.assertIn(r.status, (400, 404))
                self.assertPage(r, r.status, "This link cannot be used")
                self.assertNotIn("<script>", r.text)


class Lockout(Base):
    """Growing delays after failures; a separate server with a low limit.

    The delays start at 30 s (local.lockout.initial_delay), so no step races a
    one-second timer on a busy machine; the end of a lock is brought forward by
    expiring its entry in the store (what time would do), not by sleeping."""

    users = (("lock1",), ("lock2",))
    local = {"lockout": {"max_failures": 2, "initial_delay": "30s", "max_delay": "2m"}}

    def expire_locks(self):
        """Ends every lock now, as their time running out would (the counts stay)."""
        n, _ = self.srv.store_sql("UPDATE kv SET expires_at = 0 WHERE ns = 'lockout' AND "
                                  "key LIKE 't:%'")
        self.assertGreater(n, 0, "no lock to expire")

    def test_locked_account(self):
        b = self.browser()
        off = self.srv.log_size()
        r = b.login("lock1", "wrong wrong wrong")
        self.assertPage(r, 403, alert="Wrong username or password.")
        self.assertNoSession(b, r)
        # From the threshold on, each failure locks for twice as long: 30 s, 60 s, 120 s.
        r = b.login("lock1", "wrong wrong wrong")
        self.assertPage(r, 429, alert="Wait 30 seconds")
        self.assertEqual(r.header("Retry-After"), "30")
        self.expire_locks()
        r = b.login("lock1", "wrong wrong wrong")
        self.assertPage(r, 429, alert="Wait 60 seconds")
        self.expire_locks()
        r = b.login("lock1", "wrong wrong wrong")
        self.assertPage(r, 429, alert="Wait about 2 minutes")
        self.assertEqual(r.header("Retry-After"), "120")
        self.assertNoSession(b, r)
        locks = self.assertAudit(off, "account_locked")
        self.assertEqual([re.search(r"locked for (\d+) s", l["msg"]).group(1) for l in locks],
                         ["30", "60", "120"])
        # During the lock even the right password is refused, with how long to wait:
        # never less than is left (Retry-After rounds up; 120 s were announced).
        r = b.login("lock1", PASSWORD)
        self.assertPage(r, 429, "Sign-in paused")
        self.assertRegex(r.alert(), r"Wait (1[01][0-9] seconds|about 2 minutes)")
        self.assertLessEqual(int(r.header("Retry-After")), 120)
        self.assertGreater(int(r.header("Retry-After")), 100)
        self.assertNoSession(b, r)
        self.assertAudit(off, "login_locked")
        # Another account is not affected.
        r = self.browser().login("lock2", PASSWORD)
        self.assertEqual((r.status, r.location), (303, "/"), r.text[:2000])
        self.expire_locks()
        off = self.srv.log_size()
        r = b.login("lock1", PASSWORD)
        self.assertEqual((r.status, r.location), (303, "/"), r.text[:2000])
        self.assertAudit(off, "account_unlocked")


@unittest.skipIf(shutil.which("openssl") is None, "the openssl CLI is not installed")
class OverTls(harness.TestCase):
    """Cookies are Secure when the pages are served over TLS."""

    def test_secure_cookies(self):
        cert, key = harness.openssl_selfsigned(self.tmpdir())
        srv = self.server(conf=harness.deep_merge(pages_conf(), {
            "server": {"tls": {"cert": cert, "key": key}, "public_url": None}}), tls=True)
        add_user(self, srv, "alice")
        srv.start()
        b = webclient.Browser("127.0.0.1", srv.port, tls=True)
        self.addCleanup(b.close)
        r = b.login("alice", PASSWORD)
        self.assertEqual((r.status, r.location), (303, "/"), r.text[:2000])
        # Over https the names carry the __Host- prefix (Secure, Path=/, no Domain).
        for name in ("__Host-fb_session_pre=", "__Host-fb_session="):
            lines = [c for c in b.set_cookie_lines if c.startswith(name)]
            self.assertTrue(lines, name)
            for c in lines:
                for attr in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
                    self.assertIn(attr, c.split("; "), c)
        self.assertEqual(b.get("/").status, 200)
        srv.stop()


if __name__ == "__main__":
    harness.main()
