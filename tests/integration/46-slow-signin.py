# SPDX-License-Identifier: Apache-2.0
"""Password hashing runs off the event loop: a worker keeps answering while a
slow sign-in is verified; a full CPU queue answers 503 at once; a client that
leaves mid-verify still has its failure counted; SIGTERM waits for the job;
the per-address lockout threshold is its own."""
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import harness
import webclient

PASSWORD = "correct horse battery staple"


def cli(srv, *args, stdin=None):
    return subprocess.run([harness.BIN] + list(args) + ["--config", srv.config, "--state-dir",
                                                        srv.state_dir],
                          input=stdin, capture_output=True, text=True, timeout=60)


class SlowSignin(harness.TestCase):
    """One worker, one CPU thread, a queue of one, argon2id at ~0.5-1 s per verify."""

    def setUp(self):
        super().setUp()
        conf = {"server": {"cpu_threads": 1, "cpu_queue": 1},
                "local": {"password": {"time_cost": 10, "memory_kib": 65536},
                          "bootstrap": {"enabled": False},
                          # A first lock of a minute: test_per_address_threshold's
                          # lock must not end (1 s by default) before it is tried.
                          "lockout": {"max_failures": 50, "initial_delay": "60s",
                                      "per_address": {"max_failures": 3}}}}
        self.srv = self.server(conf=conf, workers=1)
        cp = cli(self.srv, "user", "add", "ann", "--init", "--password-stdin", stdin=PASSWORD + "\n")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.srv.start()

    def tearDown(self):
        if self.srv.proc is not None and self.srv.proc.poll() is None:
            self.srv.stop()
        super().tearDown()

    def login_form(self):
        b = webclient.Browser("127.0.0.1", self.srv.port, timeout=30)
        self.addCleanup(b.close)
        return b, b.get("/login")

    def post_login(self, b, form, password):
        return b.submit(form, "/login", {"username": "ann", "password": password})

    def in_background(self, fn):
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("r", fn()))
        t.start()
        return t, out

    def test_healthz_answers_during_signin(self):
        b, form = self.login_form()
        # The verify alone, for the record: one sign-in takes a while.
        t0 = time.monotonic()
        t, out = self.in_background(lambda: self.post_login(b, form, PASSWORD))
        time.sleep(0.1)
        worst, n = 0.0, 0
        while t.is_alive():
            s = time.monotonic()
            r = self.srv.request("GET", "/healthz", timeout=5)
            worst = max(worst, time.monotonic() - s)
            self.assertEqual(r.status, 200)
            n += 1
        t.join()
        took = time.monotonic() - t0
        self.assertEqual(out["r"].status, 303, out["r"].text[:2000])
        self.assertGreater(took, 0.3, "the sign-in was too fast to prove anything")
        self.assertGreater(n, 2)
        self.assertLess(worst, 0.1, "healthz took %.3f s during a %.2f s sign-in" % (worst, took))

    def test_queue_full_is_503(self):
        b1, f1 = self.login_form()
        b2, f2 = self.login_form()
        t, out = self.in_background(lambda: self.post_login(b1, f1, PASSWORD))
        time.sleep(0.15)
        s = time.monotonic()
        r = self.post_login(b2, f2, PASSWORD)
        self.assertLess(time.monotonic() - s, 0.2, "a full queue must answer at once")
        self.assertEqual(r.status, 503, r.text[:2000])
        self.assertIsNotNone(r.header("Retry-After"))
        t.join()
        self.assertEqual(out["r"].status, 303)
        # Once free, the next sign-in goes through.
        self.assertEqual(self.post_login(b2, b2.get("/login"), PASSWORD).status, 303)

    def test_client_leaves_mid_verify(self):
        b, form = self.login_form()
        body = urllib.parse.urlencode({"csrf": form.hidden("csrf"), "next": "/",
                                       "username": "ann", "password": "wrong password!!"})
        cookie = "; ".join("%s=%s" % kv for kv in b.cookies.items())
        s = socket.create_connection(("127.0.0.1", self.srv.port))
        s.sendall(("POST /login HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n"
                   "Content-Type: application/x-www-form-urlencoded\r\n"
                   "Content-Length: %d\r\n\r\n%s" % (cookie, len(body), body)).encode())
        time.sleep(0.1)
        s.close()
        # The failure is still counted and the worker keeps serving.
        self.assertTrue(self.srv.wait_log(
            lambda l: "event=login_failed" in l and "wrong_password" in l, timeout=10),
            self.srv.logs())
        self.assertEqual(self.srv.request("GET", "/healthz").status, 200)
        self.assertEqual(self.post_login(b, b.get("/login"), PASSWORD).status, 303)
        self.srv.stop()

    def test_sigterm_waits_for_signin(self):
        b, form = self.login_form()
        t, out = self.in_background(lambda: self.post_login(b, form, PASSWORD))
        time.sleep(0.15)
        self.srv.signal(signal.SIGTERM)
        t.join()
        self.assertEqual(out["r"].status, 303, out["r"].text[:2000])
        self.assertEqual(self.srv.wait_exit(), 0, self.srv.logs())
        self.srv.assert_no_sanitizer_report()

    def test_per_address_threshold(self):
        # Three failures from one address on three unknown accounts lock the address
        # (per_address.max_failures 3) although no account reached its own limit (50).
        b = webclient.Browser("127.0.0.1", self.srv.port, timeout=30)
        self.addCleanup(b.close)
        for i in range(3):
            r = b.submit(b.get("/login"), "/login", {"username": "nobody%d" % i,
                                                     "password": "wrong password!!"})
            self.assertIn(r.status, (403, 429), r.text[:2000])
        self.assertTrue(self.srv.wait_log(lambda l: "event=address_locked" in l), self.srv.logs())
        r = b.submit(b.get("/login"), "/login", {"username": "ann", "password": PASSWORD})
        self.assertEqual(r.status, 429, r.text[:2000])
        self.assertGreater(int(r.header("Retry-After")), 30)


if __name__ == "__main__":
    harness.main()
