#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""91: the store fails while the broker runs (issue 12, item 3). /readyz
answers 503 within seconds; pages, the sign-in form, IdP-initiated SAML sign-on
and a sign-in in flight answer 503 with Retry-After and a clear page (never
500, never the login page for a person who is signed in); once the store is
back the same processes serve again without a restart and nothing stored was
lost (the session made before still works). SQLite: the test takes every WAL
lock of the file, so no process can read or write it. PostgreSQL
(FB_TEST_STORE=postgres): the server is stopped and started again."""

import fcntl
import os
import re
import sys
import time
import urllib.parse

import harness

sys.path.insert(0, os.path.join(harness.SRCDIR, "tests", "peers", "python"))
import fbsaml  # noqa: E402
import peer_common as pc  # noqa: E402

try:
    import onelogin_sp  # noqa: E402
    MISSING = None
except ImportError as e:
    MISSING = "%s (apt-get install python3-onelogin-saml2 xmlsec1)" % e

OL_ID, OL_ACS = "https://ol.example.test/sp", "https://ol.example.test/acs"
GROUPS = [{"name": "aws-admins", "attributes": {"aws_role": "Admin"}, "members": ["alice"]}]
# SQLite's WAL lock bytes in the -shm file (write, checkpoint, recover, 5 read marks).
WAL_LOCKS = (120, 8)


class StoreDown(harness.TestCase):
    def setUp(self):
        super().setUp()
        if MISSING:
            raise harness.peer_missing(MISSING)
        self.ol_key, self.ol_cert = pc.make_keypair(self.tmpdir(), "ol")
        ol = {"name": "ol", "entity_id": OL_ID, "acs": [{"url": OL_ACS}],
              "certificate": self.ol_cert, "require_signed_requests": False,
              "nameid": {"format": "transient"}}
        self.srv = fbsaml.saml_server(self, [fbsaml.aws_sp("aws"), ol], GROUPS, ["alice"],
                                      conf={"store": {"busy_timeout": "1s"}})
        self.lock_fd = None

    def down(self):
        if harness.STORE == "postgres":
            harness.pg_server().pg_ctl("stop")
            self.addCleanup(lambda: harness.pg_server().running() or
                            harness.pg_server().pg_ctl("start"))
            return
        shm = os.path.join(self.srv.state_dir, "fedbroker.db-shm")
        self.lock_fd = os.open(shm, os.O_RDWR)
        self.addCleanup(self.up)
        fcntl.lockf(self.lock_fd, fcntl.LOCK_EX, WAL_LOCKS[1], WAL_LOCKS[0])

    def up(self):
        if harness.STORE == "postgres":
            if not harness.pg_server().running():
                harness.pg_server().pg_ctl("start")
            return
        if self.lock_fd is not None:
            fcntl.lockf(self.lock_fd, fcntl.LOCK_UN, WAL_LOCKS[1], WAL_LOCKS[0])
            os.close(self.lock_fd)
            self.lock_fd = None

    def assertUnavailable(self, page, title):
        self.assertEqual(page.status, 503, page.text[:2000])
        self.assertEqual(page.header("Retry-After"), "5")
        self.assertTrue((page.header("Content-Type") or "").startswith("text/html"))
        self.assertIn(title, re.sub(r"<[^>]+>", " ", page.text))
        self.assertNotIn("SAMLResponse", page.text)

    def test_store_down_then_back(self):
        srv = self.srv
        b = fbsaml.signed_in(self, srv, "alice")
        self.assertEqual(b.get("/saml/idp/init/aws").status, 200)
        # A sign-in in flight: the form is shown before the store fails.
        b2 = fbsaml.browser(self, srv)
        self.assertEqual(b2.get("/login").status, 200)
        # And an SP-initiated one: the AuthnRequest waits in the store while people sign in.
        md = fbsaml.idp_metadata(self, srv)
        sp = onelogin_sp.SP(OL_ID, OL_ACS, md, key=self.ol_key, cert=self.ol_cert,
                            name_id_format=pc.NAMEID_TRANSIENT)
        areq = sp.authn_request(binding=pc.BINDING_REDIRECT, sign=True)
        b4 = fbsaml.browser(self, srv)
        to_login = fbsaml.send(b4, areq)
        self.assertEqual(to_login.status, 303, to_login.text[:2000])
        nxt = urllib.parse.parse_qs(urllib.parse.urlsplit(to_login.location).query)["next"][0]
        self.assertIn("resume=", nxt)
        workers = sorted(srv.workers_pids())
        # A locked SQLite WAL makes each store call fail only after SQLite's own retries
        # (about 10 s, SQLITE_PROTOCOL; busy_timeout does not bound them): the browsers
        # wait longer than that for the 503 (PostgreSQL down fails at once).
        for x in (b, b2, b4):
            x.timeout = 30.0
            x.close()
        self.down()
        t = time.time()
        r = srv.request("GET", "/readyz", timeout=30)
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(r.header("Retry-After"), "5")
        self.assertLess(time.time() - t, 15.0, "readiness fails within seconds")
        # The person who is signed in is not sent to the login page: 503.
        self.assertUnavailable(b.get("/saml/idp/init/aws"), "Sign-in unavailable")
        self.assertUnavailable(b.get("/"), "Temporarily unavailable")
        self.assertIn("fb_session", b.cookies, "the session cookie is kept")
        # The sign-in in flight fails cleanly: no session.
        p = b2.login("alice", fbsaml.PASSWORD)
        self.assertUnavailable(p, "Temporarily unavailable")
        self.assertNotIn("fb_session", b2.cookies)
        # The SP-initiated sign-in coming back: not "expired", unavailable.
        self.assertUnavailable(b4.get(nxt), "Sign-in unavailable")
        # Liveness is not readiness: the processes live.
        self.assertEqual(srv.request("GET", "/healthz").status, 200)
        self.up()
        deadline = time.time() + 30
        while srv.request("GET", "/readyz", timeout=30).status != 200:
            self.assertLess(time.time(), deadline, "ready again without a restart")
            time.sleep(0.2)
        self.assertEqual(sorted(srv.workers_pids()), workers, "no worker was restarted")
        # Nothing lost: the earlier session signs on; the interrupted sign-in now works.
        action, resp, _ = fbsaml.response_of(self, b.get("/saml/idp/init/aws"))
        self.assertEqual(action, fbsaml.AWS_ACS)
        b3 = fbsaml.signed_in(self, srv, "alice")
        self.assertEqual(b3.get("/saml/idp/init/aws").status, 200)
        # The AuthnRequest kept in the store is answered after the sign-in.
        page = fbsaml.through_login(self, b4, to_login, "alice")
        action, _, _ = fbsaml.response_of(self, page)
        self.assertEqual(action, OL_ACS)
        self.assertFalse([l for l in srv.log_lines() if " 500 " in l or "status=500" in l],
                         "no 500 was answered")
        srv.stop()


if __name__ == "__main__":
    harness.main()
