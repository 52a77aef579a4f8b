#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""49: a recovery link by email, through a real SMTP server (Debian's python3-aiosmtpd).

`fedbroker user recovery-link admin --email` hands the message to the relay; the test
reads it, follows the link (twice: a look does not use it up), sets a new password,
signs in with it, and finds the link used up.
"""

import email
import email.policy
import re
import subprocess
import threading
import urllib.parse

import harness
import webclient

try:
    from aiosmtpd.controller import Controller
except ImportError:  # skipped below with the install command
    Controller = None

OLD = "the first password of admin"
NEW = "a new password from the link"


class Inbox:
    """aiosmtpd handler: keeps every message delivered."""

    def __init__(self):
        self.messages = []
        self.cond = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        with self.cond:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            self.cond.notify_all()
        return "250 OK"

    def wait(self, n=1, timeout=10.0):
        with self.cond:
            self.cond.wait_for(lambda: len(self.messages) >= n, timeout)
            return list(self.messages)


def body_text(msg):
    parts = []
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)


class RecoveryMail(harness.TestCase):
    def test_link_by_email(self):
        if Controller is None:
            raise harness.peer_missing("python3-aiosmtpd missing: apt-get install -y python3-aiosmtpd")
        inbox = Inbox()
        smtp_port = harness.free_port()
        ctl = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
        ctl.start()
        self.addCleanup(ctl.stop)

        srv = self.server(conf={
            "local": {"password": {"time_cost": 1, "memory_kib": 1024},
                      "bootstrap": {"enabled": False}},
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none",
                     "from": "Example Corp <noreply@example.com>", "timeout": "10s"},
            "branding": {"organization": "Example Corp"},
        })
        srv.conf["server"]["public_url"] = "http://127.0.0.1:%d" % srv.port
        srv.write_config(srv.conf)

        def cli(*args, stdin=None):
            return subprocess.run([harness.BIN] + list(args) + ["--config", srv.config,
                                                                "--state-dir", srv.state_dir],
                                  input=stdin, capture_output=True, text=True, timeout=60)

        cp = cli("user", "add", "admin", "--init", "--email", "admin@example.com", "--password-stdin",
                 stdin=OLD + "\n")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        srv.start()

        cp = cli("user", "recovery-link", "admin", "--email")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertNotIn("token=", cp.stdout + cp.stderr, "the link goes by mail only")
        msgs = inbox.wait(1)
        self.assertEqual(len(msgs), 1, "one message delivered")
        mail_from, rcpts, raw = msgs[0]
        self.assertEqual(rcpts, ["admin@example.com"])
        self.assertEqual(mail_from, "noreply@example.com")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertIn("admin@example.com", msg["To"])
        self.assertTrue(msg["Subject"])
        text = body_text(msg)
        m = re.search(r"http://127\.0\.0\.1:%d(/recover\?token=[A-Za-z0-9_-]+)" % srv.port, text)
        self.assertIsNotNone(m, "no link in the message:\n" + text)
        link = m.group(1)

        b = webclient.Browser("127.0.0.1", srv.port)
        self.addCleanup(b.close)
        # A mail scanner's GET and the person's GET: the link still works after both.
        for _ in range(2):
            page = b.get(link)
            self.assertEqual(page.status, 200, page.text[:2000])
            self.assertEqual(page.title(), "Choose a new password")
        r = b.submit(page, "/recover", {"token": page.hidden("token"), "password": NEW,
                                        "confirm": NEW})
        self.assertEqual(r.status, 200, r.text[:2000])
        self.assertEqual(r.title(), "Password changed")

        # The new password signs in (to the dashboard); the old one does not.
        b2 = webclient.Browser("127.0.0.1", srv.port)
        self.addCleanup(b2.close)
        self.assertEqual(b2.login("admin", OLD).status, 403)
        r = b2.login("admin", NEW, follow=True)
        self.assertEqual(r.status, 200, r.text[:2000])
        self.assertEqual(r.title(), "Applications")

        # Reusing the link fails, by GET and by POST.
        r = b.get(link)
        self.assertEqual(r.status, 404)
        self.assertEqual(r.title(), "This link cannot be used")
        token = urllib.parse.parse_qs(urllib.parse.urlparse(link).query)["token"][0]
        r = b.submit(page, "/recover", {"token": token, "password": NEW + "!", "confirm": NEW + "!"})
        self.assertEqual(r.status, 404)
        self.assertIsNotNone(srv.wait_log(lambda l: "event=recovery_link_refused" in l))
        srv.stop()


if __name__ == "__main__":
    harness.main()
