#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""72: the CLI and upstream identities: `explain --upstream NAME --claims FILE` and `user show`
with links and upstream groups (issue 11, items 5 and 8)."""

import json
import os
import sqlite3
import subprocess
import time

import harness

ROLE = "https://aws.amazon.com/SAML/Attributes/Role"
ENV = {"FB_TEST_UPSTREAM_SECRET": "0123456789abcdef"}


class UpstreamCli(harness.TestCase):
    def setUp(self):
        super().setUp()
        d = self.tmpdir()
        self.state = os.path.join(d, "state")
        self.conf = os.path.join(d, "fedbroker.yaml")
        self.write(self.conf, harness.to_yaml({
            "server": {"public_url": "https://sso.example.com", "state_dir": self.state},
            "mappings": {"dir": os.path.join(harness.SRCDIR, "mappings")},
            "local": {"password": {"time_cost": 1, "memory_kib": 1024},
                      "bootstrap": {"enabled": False}},
            "groups": [{"name": "admins", "attributes": {"aws_role": "Admin"}}],
            "saml": {"service_providers": [{
                "name": "aws", "profile": "aws",
                "metadata": os.path.join(harness.SRCDIR, "tests", "fixtures", "aws",
                                         "aws-signin-saml-metadata.xml"),
                "attributes": [
                    {"name": ROLE, "mapping": "aws_role"},
                    {"name": "https://aws.amazon.com/SAML/Attributes/RoleSessionName",
                     "mapping": "aws_role_session_name"}]}]},
            "upstreams": [
                {"name": "corp", "type": "oidc", "domains": ["example.com"],
                 "oidc": {"issuer": "https://idp.example.com", "client_id": "fb",
                          "client_secret": "env:FB_TEST_UPSTREAM_SECRET"}},
                {"name": "mail", "type": "oidc", "link_by_email": True,
                 "oidc": {"issuer": "https://mail.example.com", "client_id": "fb",
                          "client_secret": "env:FB_TEST_UPSTREAM_SECRET"}}],
        }) + "\n")
        cp = self.fb("keys", "generate", "--init")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        cp = subprocess.run([harness.BIN, "user", "add", "bob", "--email", "bob@example.com",
                             "--config", self.conf, "--init"], capture_output=True, text=True,
                            env=dict(os.environ, **ENV), timeout=60)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.db = os.path.join(self.state, "fedbroker.db")

    def fb(self, *args, stdin=None):
        return harness.run(list(args) + ["--config", self.conf], env=ENV, stdin=stdin)

    def claims(self, obj):
        path = os.path.join(self.tmpdir(), "claims.json")
        self.write(path, json.dumps(obj))
        return path

    def explain(self, claims, *extra):
        return self.fb("explain", "--upstream", extra[0] if extra else "corp", "--claims",
                       self.claims(claims), *extra[1:])

    def users(self):
        with sqlite3.connect(self.db) as c:
            return sorted(r[0] for r in c.execute("SELECT username FROM users"))

    def test_check_config_upstream_rules(self):
        """A broken rule nothing uses is a warning (sign-in keeps working); one an upstream
        uses is an error."""
        import shutil
        mdir = os.path.join(self.tmpdir(), "rules")
        shutil.copytree(os.path.join(harness.SRCDIR, "mappings"), mdir)
        with open(self.conf) as f:
            text = f.read()
        self.write(self.conf, text.replace(os.path.join(harness.SRCDIR, "mappings"), mdir))
        self.write(os.path.join(mdir, "unused_broken.py"), "return {\n")
        cp = harness.run(["check-config", self.conf], env=ENV)
        out = cp.stdout + cp.stderr
        self.assertEqual(cp.returncode, 0, out)
        self.assertRegex(out, r"unused_broken\.py:\d+:\d+: .*left out", out)
        # The upstream sign-in path still maps (explain runs the upstream's rule).
        cp = self.explain({"sub": "u1", "email": "ann@example.com", "email_verified": True,
                           "preferred_username": "ann"})
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        os.remove(os.path.join(mdir, "unused_broken.py"))
        self.write(os.path.join(mdir, "upstream_oidc.py"), "return {\n")
        cp = harness.run(["check-config", self.conf], env=ENV)
        out = cp.stdout + cp.stderr
        self.assertEqual(cp.returncode, 1, out)
        self.assertRegex(out, r"upstream_oidc\.py:\d+:\d+: ", out)
        self.assertNotRegex(out, r"upstream_oidc\.py.*left out", out)

    def test_new_user_and_aws_roles(self):
        cp = self.explain({"sub": "s-ann", "preferred_username": "ann",
                           "email": "ann@example.com", "email_verified": True,
                           "groups": ["admins", "dev"]})
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertIn("links to:    a new user ann (created at the first sign-in)", cp.stdout)
        self.assertIn("upstream groups: admins, dev", cp.stdout)
        # The AWS Role values come from the upstream's group admins (aws_role: Admin).
        self.assertIn("%s = [\"arn:aws:iam::123412341234:role/Admin," % ROLE, cp.stdout)
        # Nothing was created.
        self.assertEqual(self.users(), ["bob"])
        cp = self.fb("explain", "--upstream", "corp", "--claims",
                     self.claims({"sub": "s-ann", "preferred_username": "ann",
                                  "groups": ["admins"]}), "--sp", "aws", "--json")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        x = json.loads(cp.stdout)
        self.assertEqual(x["upstream"]["action"], "create")
        self.assertIsNone(x["upstream"]["user"].get("id"))
        self.assertEqual(len(x["sps"]), 1)
        self.assertTrue(x["sps"][0]["ok"])
        self.assertEqual(x["sps"][0]["groups"], ["admins"])
        self.assertEqual(x["sps"][0]["group_attributes"], {"aws_role": "Admin"})

    def test_refusals(self):
        # An existing user's email: corp may not link by email.
        claims = {"sub": "s-b", "preferred_username": "robert", "email": "Bob@Example.com",
                  "email_verified": True}
        cp = self.explain(claims)
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn("REFUSED", cp.stdout)
        self.assertIn("audit event: upstream_email_taken", cp.stdout)
        # mail may, with a verified address: bob.
        cp = self.explain(claims, "mail")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertIn("links to:    bob (the existing user with this verified email", cp.stdout)
        # ...but not an unverified one.
        cp = self.explain(dict(claims, email_verified=False), "mail")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("did not say the address is verified", cp.stdout)
        # A username that cannot be one.
        cp = self.explain({"sub": "s-x", "preferred_username": "bad name"})
        self.assertEqual(cp.returncode, 1)
        self.assertIn("audit event: upstream_no_username", cp.stdout)
        # The same username as a local account: refused, never linked.
        cp = self.explain({"sub": "s-y", "preferred_username": "bob"})
        self.assertEqual(cp.returncode, 1)
        self.assertIn("upstream_username_taken", cp.stdout)
        self.assertEqual(self.users(), ["bob"])

    def test_bad_command_lines(self):
        cp = self.explain({"sub": "s"}, "nope")
        self.assertEqual(cp.returncode, 1)
        self.assertIn("--upstream nope: no such upstream", cp.stderr)
        bad = os.path.join(self.tmpdir(), "bad.json")
        self.write(bad, "{\"sub\": \n")
        cp = self.fb("explain", "--upstream", "corp", "--claims", bad)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("--claims %s:2:" % bad, cp.stderr)
        cp = self.explain(["not", "an", "object"])
        self.assertEqual(cp.returncode, 1)
        self.assertIn("not a JSON object", cp.stderr)
        cp = self.explain({"preferred_username": "ann"})
        self.assertEqual(cp.returncode, 1)
        self.assertIn("--subject", cp.stderr)
        cp = self.fb("explain", "--upstream", "corp")
        self.assertEqual(cp.returncode, 2)
        cp = self.fb("explain", "--user", "bob", "--upstream", "corp", "--claims", "x")
        self.assertEqual(cp.returncode, 2)
        cp = self.fb("explain", "--user", "bob", "--sp", "aws", "--subject", "s")
        self.assertEqual(cp.returncode, 2)

    def test_linked_user(self):
        """A user an upstream sign-in made (written here as fb_upstream_signin writes it)."""
        now = int(time.time())
        with sqlite3.connect(self.db) as c:
            c.execute("INSERT INTO users (id, username, name, email, source, active, created,"
                      " last_seen) VALUES ('u-ann', 'ann', 'Ann', 'ann@example.com', 'corp', 1,"
                      " ?, ?)", (now, now))
            c.execute("INSERT INTO upstream_links VALUES ('corp', 'https://idp.example.com',"
                      " 's-ann', 'u-ann', ?, ?)", (now, now))
            for g in ("admins", "dev"):
                c.execute("INSERT INTO upstream_groups VALUES ('u-ann', 'corp', ?)", (g,))
        cp = self.fb("user", "show", "ann")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertIn("source:      upstream corp", cp.stdout)
        self.assertIn("  corp: https://idp.example.com s-ann (last used ", cp.stdout)
        self.assertIn("upstream groups:\n  corp: admins, dev\n", cp.stdout)
        self.assertIn("groups:      admins, dev\n", cp.stdout)
        self.assertIn('"aws_role": "Admin"', cp.stdout)
        self.assertNotIn("\npassword:", cp.stdout)
        cp = self.fb("user", "show", "ann", "--json")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        j = json.loads(cp.stdout)
        self.assertEqual(j["source"], "corp")
        self.assertEqual(j["upstream_groups"], {"corp": ["admins", "dev"]})
        self.assertEqual([(l["upstream"], l["subject"]) for l in j["links"]],
                         [("corp", "s-ann")])
        # A local account has no links.
        cp = self.fb("user", "show", "bob", "--json")
        j = json.loads(cp.stdout)
        self.assertEqual(j["source"], "local")
        self.assertEqual(j["links"], [])
        # The identity's link wins over what the claims now say.
        cp = self.explain({"sub": "s-ann", "preferred_username": "ann.new", "groups": ["dev"]})
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertIn("links to:    ann (an existing link)", cp.stdout)
        # Stored upstream groups feed the SAML IdP: ann's Role comes from admins.
        cp = self.fb("explain", "--user", "ann", "--sp", "aws")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertIn("role/Admin", cp.stdout)
        # Disabled: refused through its link.
        with sqlite3.connect(self.db) as c:
            c.execute("UPDATE users SET active = 0 WHERE id = 'u-ann'")
        cp = self.explain({"sub": "s-ann", "preferred_username": "ann"})
        self.assertEqual(cp.returncode, 1)
        self.assertIn("upstream_user_disabled", cp.stdout)


if __name__ == "__main__":
    harness.main()
