#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""71: the login page with upstreams: a button each, home-realm discovery, /upstream/NAME/... (issue 11)."""

import os
import subprocess
import time
import unittest
import urllib.parse

import harness
import webclient

PASSWORD = "correct horse battery staple"


def upstreams_conf(bootstrap):
    return {
        "server": {"public_url": "http://127.0.0.1:1"},  # replaced in setUpClass
        "mappings": {"dir": os.path.join(harness.SRCDIR, "mappings")},
        "local": {"password": {"time_cost": 2, "memory_kib": 4096},
                  "bootstrap": {"enabled": False}},
        "upstreams": [
            {"name": "corp", "display_name": "Corp <SSO> & Co", "type": "oidc",
             "domains": ["example.com", "corp.example"],
             "oidc": {"issuer": "https://idp.corp.example", "client_id": "fb",
                      "client_secret": "env:FB_TEST_UPSTREAM_SECRET"}},
            {"name": "partner", "type": "saml", "domains": ["Partner.Example"],
             "saml": {"metadata": os.path.join(harness.SRCDIR, "tests", "fixtures", "saml",
                                               "idp-metadata.xml")}},
        ],
    }


class Base(harness.TestCase):
    with_local = False

    @classmethod
    def setUpClass(cls):
        cls.holder = harness.TestCase("run")
        conf = upstreams_conf(cls.with_local)
        env = {"FB_TEST_UPSTREAM_SECRET": "0123456789abcdef"}
        cls.srv = harness.Server(cls.holder, conf=conf, workers=1, env=env)
        conf["server"]["public_url"] = "http://127.0.0.1:%d" % cls.srv.port
        cls.srv.conf = harness.deep_merge(cls.srv.base_conf, conf)
        cls.srv.write_config(cls.srv.conf)
        if cls.with_local:
            cp = subprocess.run([harness.BIN, "user", "add", "alice", "--init",
                                 "--password-stdin", "--config", cls.srv.config,
                                 "--state-dir", cls.srv.state_dir],
                                input=PASSWORD + "\n", capture_output=True, text=True,
                                timeout=60, env=cls.srv.env)
            assert cp.returncode == 0, cp.stdout + cp.stderr
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.holder.doCleanups()

    def browser(self):
        b = webclient.Browser("127.0.0.1", self.srv.port)
        self.addCleanup(b.close)
        return b

    def audit(self, offset, event, timeout=3.0):
        deadline = time.time() + timeout
        while True:
            found = [rec for rec in (self._parse(l) for l in self.srv.lines_since(offset))
                     if rec.get("cat") == "audit" and rec.get("event") == event]
            if found or time.time() > deadline:
                self.assertTrue(found, "no audit line event=%s\n%s" % (
                    event, "\n".join(self.srv.lines_since(offset))))
                return found
            time.sleep(0.05)

    @staticmethod
    def _parse(line):
        try:
            return harness.parse_log_line(line)
        except ValueError:
            return {}

    def assertPage(self, page, status, alert=None):
        self.assertEqual(page.status, status, page.text[:3000])
        self.assertTrue((page.header("Content-Type") or "").startswith("text/html"))
        if alert is not None:
            self.assertIn(alert, page.alert() or "", page.text[:3000])


class UpstreamsOnly(Base):
    """No local account: the login page offers the upstreams only."""

    def test_login_page_buttons(self):
        p = self.browser().get("/login")
        self.assertPage(p, 200)
        # One button per upstream, labelled with the display name (escaped).
        self.assertIn('href="/upstream/corp/start">Sign in with Corp &lt;SSO&gt; &amp; Co</a>',
                      p.text)
        self.assertIn('href="/upstream/partner/start">Sign in with partner</a>', p.text)
        self.assertIn('<form method="get" action="/login" id="discover">', p.text)
        self.assertIn('<label for="email">', p.text)
        # Without local accounts there is no password form.
        self.assertNotIn('name="password"', p.text)

    def test_next_kept(self):
        p = self.browser().get("/login?next=" + urllib.parse.quote("/saml/idp/init/x?a=1",
                                                                 safe=""))
        self.assertPage(p, 200)
        self.assertIn('href="/upstream/corp/start?next=%2Fsaml%2Fidp%2Finit%2Fx%3Fa%3D1"',
                      p.text)
        self.assertIn('<input type="hidden" name="next" value="/saml/idp/init/x?a=1">', p.text)
        # An open redirect is refused where it comes in.
        off = self.srv.log_size()
        p = self.browser().get("/login?next=" + urllib.parse.quote("//evil.example/", safe=""))
        self.assertIn('href="/upstream/corp/start"', p.text)
        self.audit(off, "redirect_refused")

    def test_upstream_param(self):
        p = self.browser().get("/login?upstream=partner&next=%2Fx")
        self.assertEqual(p.status, 303)
        self.assertEqual(p.location, "/upstream/partner/start?next=%2Fx")
        p = self.browser().get("/login?upstream=nope")
        self.assertPage(p, 404)

    def test_discovery(self):
        b = self.browser()
        p = b.get("/login?email=" + urllib.parse.quote("Ann@EXAMPLE.com"))
        self.assertEqual(p.status, 303, p.text[:2000])
        self.assertEqual(p.location, "/upstream/corp/start?login_hint=Ann%40EXAMPLE.com")
        p = b.get("/login?next=%2Fapps&email=" + urllib.parse.quote("bob@partner.example"))
        self.assertEqual(p.status, 303)
        self.assertEqual(p.location,
                         "/upstream/partner/start?next=%2Fapps&login_hint=bob%40partner.example")
        # A subdomain is another domain.
        off = self.srv.log_size()
        p = b.get("/login?email=" + urllib.parse.quote("eve@sub.example.com"))
        self.assertPage(p, 400, "No sign-in provider is set up for sub.example.com")
        self.audit(off, "upstream_unknown_domain")
        self.assertNotIn('name="password"', p.text)
        p = b.get("/login?email=not-an-address")
        self.assertPage(p, 400)
        self.assertIn("Enter your email address", p.text)

    def test_start_of_unreachable_upstream(self):
        """Both protocol ends are built in: an OIDC issuer that does not resolve gets a clear
        502 page and an audit line; a SAML start redirects to the IdP's SSO URL."""
        b = self.browser()
        off = self.srv.log_size()
        p = b.get("/upstream/corp/start?next=%2Fx&login_hint=a%40example.com")
        self.assertPage(p, 502)
        self.assertIn("did not answer", p.text)
        self.audit(off, "upstream_unreachable")
        p = b.get("/upstream/partner/start?next=%2Fx")
        self.assertEqual(p.status, 303, p.text)
        self.assertTrue(p.header("Location").startswith(
            "https://idp.partner.example/saml/sso?SAMLRequest="), p.header("Location"))
        self.audit(off, "saml_upstream_request")

    def test_browser(self):
        """In Chromium: axe-clean, fits a phone, discovery by typing an address."""
        need = harness.missing_browser_peers(("playwright-core", "axe-core"))
        if need:
            raise harness.peer_missing("browser peers missing: " + "; ".join(need))
        env = dict(os.environ, FB_BASE_URL="http://127.0.0.1:%d" % self.srv.port,
                   FB_PEERS=harness.PEERS, FB_ARTIFACTS=harness.ARTIFACTS)
        p = subprocess.run(["node", os.path.join(harness.HERE, "71-upstream-browser.mjs")],
                           env=env, capture_output=True, text=True, timeout=300)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("browser: all steps passed", p.stdout)

    def test_unknown_paths(self):
        b = self.browser()
        for path in ("/upstream/nope/start", "/upstream/", "/upstream/corp/bogus",
                     "/upstream/partner/callback", "/upstream/corp/acs",
                     "/upstream/" + "a" * 100 + "/start"):
            p = b.get(path)
            self.assertPage(p, 404)
        # The ACS takes POST only.
        self.assertPage(b.get("/upstream/partner/acs"), 404)
        # A refused start never creates a session.
        self.assertNotIn("fb_session", b.cookies)


class WithLocal(Base):
    """A local account exists: the password form stays, and catches unknown domains."""

    with_local = True

    def test_login_page_both(self):
        p = self.browser().get("/login")
        self.assertPage(p, 200)
        self.assertIn('href="/upstream/corp/start"', p.text)
        self.assertIn('name="password"', p.text)
        self.assertIn("<h2>Sign in with a password</h2>", p.text)

    def test_unknown_domain_falls_back(self):
        b = self.browser()
        p = b.get("/login?email=" + urllib.parse.quote("alice@elsewhere.example"))
        self.assertPage(p, 200, "No single sign-on is set up for this address")
        self.assertIn('value="alice@elsewhere.example"', p.text)
        # The password form still signs a local account in.
        r = b.submit(p, "/login", {"username": "alice", "password": PASSWORD})
        self.assertEqual(r.status, 303, r.text[:2000])


if __name__ == "__main__":
    unittest.main()
