#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""45: local accounts from the command line: fedbroker user ... and token ...,
groups from the configuration, recovery links (printed and emailed through a
real SMTP server), and the bootstrap administrator printed once across two
starts of `fedbroker serve`."""

import email
import email.policy
import json
import os
import re
import threading

import harness

GROUPS = [
    {"name": "admins", "attributes": {"aws_role": "Admin", "team": "platform"},
     "members": ["ann"]},
    {"name": "superusers", "require_mfa": True, "attributes": {"team": "security"},
     "members": ["ann", "root"]},
]


class AccountsCLI(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.dir = self.tmpdir()
        self.state = os.path.join(self.dir, "state")
        self.config = os.path.join(self.dir, "fedbroker.yaml")
        self.write_config()
        # The store is made on purpose here (serve or --init); commands never make one by accident.
        self.fb("user", "list", "--init")

    def write_config(self, extra=None):
        conf = {
            "server": {"state_dir": self.state, "public_url": "https://sso.example.com"},
            "log": {"level": "info"},
            # Cheap hashing: the tests are about the commands, not the cost.
            "local": {"password": {"time_cost": 1, "memory_kib": 1024}},
            "groups": GROUPS,
        }
        conf = harness.deep_merge(conf, extra or {})
        self.write(self.config, harness.to_yaml(conf) + "\n")

    def fb(self, *args, stdin_text=None, expect=0):
        """Runs fedbroker with --config; asserts the exit status; returns the process."""
        stdin = None
        if stdin_text is not None:
            path = os.path.join(self.dir, "stdin.txt")
            self.write(path, stdin_text)
            stdin = open(path)
            self.addCleanup(stdin.close)
        cp = harness.run(list(args) + ["--config", self.config], stdin=stdin)
        self.assertNoCrash(cp, " ".join(args))
        if expect is not None:
            self.assertEqual(cp.returncode, expect,
                             "%s: exit %d\n%s%s" % (" ".join(args), cp.returncode, cp.stdout,
                                                    cp.stderr))
        return cp

    def audit(self, cp, event):
        """The audit records of event in a command's standard error."""
        recs = []
        for line in cp.stderr.splitlines():
            try:
                r = harness.parse_logfmt(line)
            except ValueError:
                continue
            if r.get("cat") == "audit" and r.get("event") == event:
                recs.append(r)
        return recs

    # -- users

    def test_add_list_show(self):
        cp = self.fb("user", "add", "ann", "--name", "Ann Smith", "--email", "ann@example.com")
        self.assertIn("created internal user ann", cp.stdout)
        m = re.search(r"^password: (\S+)$", cp.stdout, re.M)
        self.assertIsNotNone(m, cp.stdout)
        self.assertEqual(len(m.group(1)), 24)
        # The generated password is printed once, on stdout, never in the log.
        self.assertNotIn(m.group(1), cp.stderr)
        self.assertEqual(len(self.audit(cp, "account_created")), 1)

        self.fb("user", "add", "ci-bot", "--type", "service")
        cp = self.fb("user", "list")
        lines = cp.stdout.splitlines()
        self.assertTrue(lines[0].startswith("USERNAME"), cp.stdout)
        self.assertEqual([l.split()[0] for l in lines[1:]], ["ann", "ci-bot"])
        self.assertIn("service", lines[2])
        cp = self.fb("user", "list", "--json")
        users = json.loads(cp.stdout)
        self.assertEqual([u["username"] for u in users], ["ann", "ci-bot"])
        self.assertEqual(users[0]["email"], "ann@example.com")
        self.assertTrue(users[0]["has_password"])
        self.assertFalse(users[1]["has_password"])

        cp = self.fb("user", "show", "ann")
        self.assertIn("name:        Ann Smith", cp.stdout)
        self.assertIn("groups:      admins, superusers", cp.stdout)
        self.assertIn("mfa:         none (required by a group", cp.stdout)
        self.assertIn("last login:  never", cp.stdout)
        self.assertIn('"aws_role": "Admin"', cp.stdout)
        cp = self.fb("user", "show", "ann", "--json")
        j = json.loads(cp.stdout)
        self.assertEqual(j["groups"], ["admins", "superusers"])
        # Merged in group name order: superusers' team wins over admins'.
        self.assertEqual(j["group_attributes"], {"aws_role": "Admin", "team": "security"})
        self.assertTrue(j["mfa_required"])
        cp = self.fb("user", "show", "ci-bot", "--json")
        j = json.loads(cp.stdout)
        self.assertEqual(j["groups"], [])
        self.assertEqual(j["group_attributes"], {})
        self.assertFalse(j["mfa_required"])

    def test_errors(self):
        self.fb("user", "add", "ann")
        cp = self.fb("user", "add", "ann", expect=1)
        self.assertIn("user ann already exists", cp.stderr)
        cp = self.fb("user", "add", "bob", "--password-stdin", stdin_text="tooshort\n",
                     expect=1)
        self.assertIn("too weak", cp.stderr)
        self.assertIn("at least 12", cp.stderr)
        self.assertNotIn("tooshort", cp.stderr)
        cp = self.fb("user", "show", "bob", expect=1)
        self.assertIn("no user bob", cp.stderr)
        cp = self.fb("user", "add", "-x", expect=2)
        cp = self.fb("user", "add", "bad name", expect=1)
        self.assertIn("not allowed", cp.stderr)
        cp = self.fb("user", "add", "carol", "--email", "nope", expect=1)
        self.assertIn("email", cp.stderr)
        cp = self.fb("user", "add", "carol", "--type", "robot", expect=2)
        self.assertIn("--type 'robot'", cp.stderr)
        for args in (["user", "show", "nobody"], ["user", "disable", "nobody"],
                     ["user", "set-password", "nobody"], ["user", "delete", "nobody"],
                     ["user", "recovery-link", "nobody"], ["user", "reset-mfa", "nobody"],
                     ["token", "create", "--user", "nobody"]):
            cp = self.fb(*args, expect=1)
            self.assertIn("no user nobody", cp.stderr, args)
        cp = self.fb("token", "revoke", "0123456789abcdef", expect=1)
        self.assertIn("no API token 0123456789abcdef", cp.stderr)
        # Usage errors: 2.
        for args in (["user"], ["user", "frob"], ["user", "add"], ["user", "list", "extra"],
                     ["user", "list", "--name", "x"], ["user", "show", "ann", "--bogus"],
                     ["token"], ["token", "create"], ["token", "revoke"],
                     ["token", "create", "--user", "ann", "--expires", "soon"]):
            cp = harness.run(args + ["--config", self.config])
            self.assertNoCrash(cp)
            self.assertEqual(cp.returncode, 2, "%s\n%s" % (args, cp.stderr))
        for args in (["user", "--help"], ["user", "add", "--help"], ["user", "disable", "--help"],
                     ["token", "--help"], ["token", "create", "--help"]):
            cp = harness.run(args)
            self.assertEqual(cp.returncode, 0, args)
            self.assertIn("usage: fedbroker", cp.stdout)

    def test_set_password_disable_enable_delete(self):
        cp = self.fb("user", "add", "ann", "--password-stdin",
                     stdin_text="first long passphrase\n")
        self.assertNotIn("password:", cp.stdout)
        cp = self.fb("user", "set-password", "ann", "--password-stdin",
                     stdin_text="second long passphrase\r\n")
        self.assertIn("password of ann set", cp.stdout)
        self.assertEqual(len(self.audit(cp, "password_changed")), 1)
        self.assertNotIn("second long passphrase", cp.stdout + cp.stderr)
        cp = self.fb("user", "set-password", "ann", "--password-stdin", stdin_text="short\n",
                     expect=1)
        self.assertIn("too weak", cp.stderr)
        cp = self.fb("user", "set-password", "ann", "--password-stdin", stdin_text="",
                     expect=1)
        self.assertIn("standard input is empty", cp.stderr)
        cp = self.fb("user", "set-password", "ann")
        self.assertRegex(cp.stdout, r"(?m)^password: \S{24}$")

        cp = self.fb("user", "disable", "ann")
        self.assertIn("user ann disabled", cp.stdout)
        self.assertEqual(len(self.audit(cp, "account_disabled")), 1)
        self.assertFalse(json.loads(self.fb("user", "show", "ann", "--json").stdout)["active"])
        self.assertIn("no (disabled)", self.fb("user", "show", "ann").stdout)
        cp = self.fb("user", "recovery-link", "ann", expect=1)
        self.assertIn("disabled", cp.stderr)
        self.fb("user", "enable", "ann")
        self.assertTrue(json.loads(self.fb("user", "show", "ann", "--json").stdout)["active"])
        cp = self.fb("user", "reset-mfa", "ann")
        self.assertIn("a group requires MFA", cp.stdout)
        self.fb("token", "create", "--user", "ann")
        cp = self.fb("user", "delete", "ann")
        self.assertIn("deleted", cp.stdout)
        self.assertEqual(json.loads(self.fb("user", "list", "--json").stdout), [])
        self.assertEqual(json.loads(self.fb("token", "list", "--json").stdout), [])

    def test_edit(self):
        self.fb("user", "add", "ann", "--email", "ann@example.com", "--name", "Ann",
                "--password-stdin", stdin_text="first long passphrase\n")
        cp = self.fb("user", "edit", "ann", "--email", "ann@new.example", "--name", "Ann B")
        self.assertIn("user ann: name and email changed", cp.stdout)
        self.assertEqual(len(self.audit(cp, "account_edited")), 1)
        shown = json.loads(self.fb("user", "show", "ann", "--json").stdout)
        self.assertEqual((shown["name"], shown["email"]), ("Ann B", "ann@new.example"))
        # Bad input: a clear error, nothing stored.
        cp = self.fb("user", "edit", "ann", "--email", "not an address", expect=1)
        self.assertIn("email 'not an address' is not an address", cp.stderr)
        cp = self.fb("user", "edit", "ann", expect=2)
        self.assertIn("nothing to change", cp.stderr)
        cp = self.fb("user", "edit", "nobody", "--name", "X", expect=1)
        self.assertIn("no user nobody", cp.stderr)
        shown = json.loads(self.fb("user", "show", "ann", "--json").stdout)
        self.assertEqual((shown["name"], shown["email"]), ("Ann B", "ann@new.example"))
        # An empty value removes; the password still works (nothing else changed).
        self.fb("user", "edit", "ann", "--email", "")
        shown = json.loads(self.fb("user", "show", "ann", "--json").stdout)
        self.assertIsNone(shown.get("email"))
        self.assertTrue(shown["has_password"])
        cp = self.fb("user", "edit", "--help")
        self.assertIn("--email ADDR", cp.stdout)
        self.assertIn("--name NAME", cp.stdout)

    def test_audit_log_of_the_command_line(self):
        """What the commands change is in the store's audit log: who, when, what."""
        self.fb("user", "add", "ann", "--password-stdin", stdin_text="first long passphrase\n")
        self.fb("user", "set-password", "ann", "--password-stdin",
                stdin_text="second long passphrase\n")
        self.fb("token", "create", "--user", "ann")
        self.fb("user", "disable", "ann")
        self.fb("user", "edit", "ann", "--name", "Ann")
        self.fb("user", "disable", "nobody", expect=1)  # a failure records nothing
        recs = json.loads(self.fb("audit", "list", "--json").stdout)
        self.assertEqual([r["event"] for r in recs],
                         ["account_created", "password_changed", "token_created",
                          "account_disabled", "account_edited"])
        tok = [r for r in recs if r["event"] == "token_created"][0]
        self.assertRegex(tok["detail"]["token_id"], r"^[0-9a-f]{16}$")
        self.assertIsInstance(tok["detail"]["expires_at"], int)
        self.assertNotIn(tok["detail"]["token_id"], tok["detail"]["msg"])
        for r in recs:
            self.assertTrue(r["actor"].startswith("cli:"), r)
            self.assertIsInstance(r["at"], int)
            self.assertEqual(r["detail"]["user"], "ann", r)
        text = self.fb("audit", "list", "--limit", "2").stdout
        lines = text.strip().splitlines()
        self.assertEqual(len(lines), 3, text)  # the header and the last two
        self.assertIn("account_disabled", lines[1])
        self.assertIn("account_edited", lines[2])
        # Secrets never reach it.
        cp = self.fb("audit", "list", "--json")
        self.assertNotIn("passphrase", cp.stdout)
        self.assertNotIn("fbt_", cp.stdout)
        cp = self.fb("audit", "list", "--limit", "-1", expect=2)
        self.assertIn("--limit", cp.stderr)
        self.assertIn("usage: fedbroker audit list", self.fb("audit", "list", "--help").stdout)

    # -- tokens

    def test_tokens(self):
        self.fb("user", "add", "ann")
        cp = self.fb("token", "create", "--user", "ann", "--description", "deploy pipeline",
                     "--expires", "30d")
        secret = re.search(r"^token: (fbt_[0-9a-f]{16}_\S{43})$", cp.stdout, re.M).group(1)
        tid = re.search(r"^id: ([0-9a-f]{16})$", cp.stdout, re.M).group(1)
        self.assertEqual(secret[4:20], tid)
        self.assertIn("shown once", cp.stderr)
        self.assertNotIn(secret, cp.stderr)
        self.assertEqual(len(self.audit(cp, "token_created")), 1)
        cp = self.fb("token", "create", "--user", "ann", "--expires", "never")
        self.assertIn("expires: never", cp.stdout)
        tid2 = re.search(r"^id: ([0-9a-f]{16})$", cp.stdout, re.M).group(1)

        cp = self.fb("token", "list")
        self.assertTrue(cp.stdout.startswith("ID"), cp.stdout)
        self.assertIn(tid, cp.stdout)
        self.assertIn("deploy pipeline", cp.stdout)
        self.assertNotIn(secret[21:], cp.stdout)
        toks = json.loads(self.fb("token", "list", "--json").stdout)
        self.assertEqual(sorted(t["id"] for t in toks), sorted([tid, tid2]))
        t = [t for t in toks if t["id"] == tid][0]
        self.assertEqual((t["user"], t["state"], t["description"]),
                         ("ann", "active", "deploy pipeline"))
        self.assertIsNotNone(t["expires"])
        self.assertIsNone([t for t in toks if t["id"] == tid2][0]["expires"])
        # The database holds no secret.
        with open(os.path.join(self.state, "fedbroker.db"), "rb") as f:
            self.assertNotIn(secret[21:].encode(), f.read())

        cp = self.fb("token", "revoke", tid)
        self.assertIn("token %s of ann revoked" % tid, cp.stdout)
        self.assertEqual(len(self.audit(cp, "token_revoked")), 1)
        cp = self.fb("token", "revoke", tid)
        self.assertIn("revoked already", cp.stdout)
        toks = json.loads(self.fb("token", "list", "--json", "--user", "ann").stdout)
        self.assertEqual([t["state"] for t in toks if t["id"] == tid], ["revoked"])
        cp = self.fb("token", "list", "--user", "nobody", expect=1)

        self.fb("user", "disable", "ann")
        cp = self.fb("token", "create", "--user", "ann", expect=1)
        self.assertIn("disabled", cp.stderr)

    # -- recovery

    def test_recovery_link_printed(self):
        self.fb("user", "add", "ann")
        cp = self.fb("user", "recovery-link", "ann")
        link = cp.stdout.strip()
        self.assertRegex(link, r"^https://sso\.example\.com/recover\?token=[A-Za-z0-9_-]{43}$")
        self.assertIn("valid 30 minutes", cp.stderr)
        self.assertEqual(len(self.audit(cp, "recovery_link_created")), 1)
        self.assertNotIn(link.split("=")[1], cp.stderr)
        # Only a hash of the token is stored.
        with open(os.path.join(self.state, "fedbroker.db"), "rb") as f:
            self.assertNotIn(link.split("=")[1].encode(), f.read())
        cp = self.fb("user", "recovery-link", "ann", "--email", expect=1)
        self.assertIn("smtp.host is not set", cp.stderr)
        self.fb("user", "add", "bot", "--type", "service")
        cp = self.fb("user", "recovery-link", "bot", expect=1)
        self.assertIn("service account", cp.stderr)

    def test_recovery_link_email(self):
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            raise harness.peer_missing("python3-aiosmtpd is not installed (apt-get install -y python3-aiosmtpd)")
        got = []
        done = threading.Event()

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                got.append(envelope)
                done.set()
                return "250 OK"

        port = harness.free_port()
        ctl = Controller(Handler(), hostname="127.0.0.1", port=port)
        ctl.start()
        self.addCleanup(ctl.stop)
        self.write_config({"smtp": {"host": "127.0.0.1", "port": port, "security": "none",
                                    "from": "SSO <sso@example.com>"},
                           "branding": {"organization": "Example Org"}})
        self.fb("user", "add", "ann", "--email", "ann@example.com", "--name", "Ann")
        cp = self.fb("user", "add", "bob")
        cp = self.fb("user", "recovery-link", "bob", "--email", expect=1)
        self.assertIn("no email address", cp.stderr)
        cp = self.fb("user", "recovery-link", "ann", "--email")
        self.assertIn("sent to ann@example.com", cp.stdout)
        self.assertTrue(done.wait(10), "no message arrived")
        env = got[0]
        self.assertEqual(env.rcpt_tos, ["ann@example.com"])
        msg = email.message_from_bytes(env.original_content, policy=email.policy.default)
        self.assertIn("Example Org", msg["Subject"])
        body = msg.get_content()
        m = re.search(r"https://sso\.example\.com/recover\?token=[A-Za-z0-9_-]{43}", body)
        self.assertIsNotNone(m, body)
        self.assertIn("Hello Ann", body)
        self.assertNotIn(m.group(0).split("=")[1], cp.stdout + cp.stderr)

    # -- bootstrap (fedbroker serve)

    def bootstrap_lines(self, srv):
        out = []
        for line in srv.log_lines():
            try:
                r = harness.parse_logfmt(line)
            except ValueError:
                continue
            if r.get("cat") == "bootstrap":
                out.append(r)
        return out

    def test_bootstrap_once(self):
        srv = self.server(conf={"local": {"password": {"time_cost": 1, "memory_kib": 1024}},
                                "groups": [{"name": "superusers", "members": ["admin"],
                                            "attributes": {"aws_role": "Admin"}}]})
        srv.start()
        srv.stop()
        lines = self.bootstrap_lines(srv)
        self.assertEqual(len(lines), 1, srv.logs())
        rec = lines[0]
        self.assertEqual(rec["level"], "warn")
        self.assertEqual(rec["user"], "admin")
        password, token, tid = rec["password"], rec["token"], rec["token_id"]
        self.assertEqual(len(password), 24)
        self.assertTrue(token.startswith("fbt_" + tid + "_"), rec)
        # Printed once: the value appears on no other line.
        self.assertEqual(sum(password in l for l in srv.log_lines()), 1)
        self.assertEqual(sum(token in l for l in srv.log_lines()), 1)

        cli = ["--config", srv.config, "--state-dir", srv.state_dir]
        cp = harness.run(["user", "show", "admin", "--json"] + cli)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        j = json.loads(cp.stdout)
        self.assertEqual(j["groups"], ["superusers"])
        self.assertEqual(j["group_attributes"], {"aws_role": "Admin"})
        cp = harness.run(["token", "list", "--json"] + cli)
        self.assertEqual([t["id"] for t in json.loads(cp.stdout)], [tid])

        # A second start (a fresh log file) prints nothing, and creates nothing.
        srv.start()
        srv.stop()
        self.assertEqual(self.bootstrap_lines(srv), [], srv.logs())
        self.assertFalse(any(password in l or token in l for l in srv.log_lines()))
        # Both can be turned off afterwards, as the issue asks.
        cp = harness.run(["user", "disable", "admin"] + cli)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        cp = harness.run(["token", "revoke", tid] + cli)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        cp = harness.run(["user", "list", "--json"] + cli)
        self.assertEqual([(u["username"], u["active"]) for u in json.loads(cp.stdout)],
                         [("admin", False)])

    def test_bootstrap_disabled(self):
        srv = self.server(conf={"local": {"bootstrap": {"enabled": False}}})
        srv.start()
        srv.stop()
        self.assertEqual(self.bootstrap_lines(srv), [])
        cp = harness.run(["user", "list", "--json", "--config", srv.config, "--state-dir",
                          srv.state_dir])
        self.assertEqual(json.loads(cp.stdout), [])


if __name__ == "__main__":
    harness.main()
