#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""80: signals: SIGHUP reloads only a valid configuration, requests in flight
survive a reload, a killed worker is replaced, SIGTERM exits 0 in time."""

import http.client
import json
import os
import signal
import threading
import time

import harness


def is_json(line):
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


class Signals(harness.TestCase):
    def test_reload_valid(self):
        srv = self.server()
        srv.start()
        pids = srv.workers_pids()
        srv.conf = harness.deep_merge(srv.conf, {"log": {"format": "json"}})
        srv.write_config(srv.conf)
        off = srv.log_size()
        srv.signal(signal.SIGHUP)
        deadline = time.time() + 10
        switched = False
        while time.time() < deadline and not switched:
            self.assertEqual(srv.http("GET", "/healthz").status, 200, "serving during reload")
            switched = any(is_json(l) for l in srv.lines_since(off))
            time.sleep(0.1)
        self.assertTrue(switched, "log lines became JSON after SIGHUP\n" + srv.logs())
        time.sleep(0.5)
        off = srv.log_size()
        for _ in range(10):
            self.assertEqual(srv.http("GET", "/healthz").status, 200)
        time.sleep(0.3)
        new = srv.lines_since(off)
        self.assertTrue(new, "access lines are written")
        for l in new:
            self.assertTrue(is_json(l), "every new line is JSON: %r" % l)
        self.assertNotEqual(srv.workers_pids(), pids, "a new generation of workers")
        self.assertIsNone(srv.proc.poll())
        srv.stop()

    def test_reload_invalid(self):
        srv = self.server()
        srv.start()
        pids = srv.workers_pids()
        srv.write_config(text="server:\n  workers: 2\n  listn: \"127.0.0.1:1\"\nlog:\n  format: json\n")
        off = srv.log_size()
        srv.signal(signal.SIGHUP)
        line = None
        deadline = time.time() + 10
        while time.time() < deadline and line is None:
            for l in srv.lines_since(off):
                if "listn" in l:
                    line = l
            time.sleep(0.1)
        self.assertIsNotNone(line, "the problem is logged\n" + srv.logs())
        rec = harness.parse_log_line(line)
        self.assertIn(rec.get("level"), ("error", "warn"), line)
        self.assertIn(srv.config, line, "the line names the file")
        for _ in range(10):
            self.assertEqual(srv.http("GET", "/healthz").status, 200)
        self.assertEqual(srv.workers_pids(), pids, "the old workers keep serving")
        off = srv.log_size()
        srv.http("GET", "/healthz")
        time.sleep(0.3)
        for l in srv.lines_since(off):
            self.assertFalse(is_json(l), "old configuration (logfmt) still in force: %r" % l)
            harness.parse_logfmt(l)
        srv.stop()

    def test_connection_opened_before_reload_is_answered(self):
        """A client that connected just before a reload, and sends its request after
        the old worker began draining, gets its answer (then Connection: close)."""
        srv = self.server()
        srv.start()
        s = srv.raw_socket()
        time.sleep(0.3)  # accepted by a worker of the old generation
        pids = srv.workers_pids()
        srv.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and srv.workers_pids() == pids:
            time.sleep(0.1)
        time.sleep(0.3)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        s.settimeout(5)
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        status, headers, _ = harness.parse_raw_response(data)
        self.assertEqual(status, 200, data[:300])
        self.assertEqual(headers.get("connection", "").lower(), "close")
        srv.stop()

    def test_reload_with_broken_mapping_keeps_serving(self):
        srv = self.server()
        mdir = os.path.join(os.path.dirname(srv.config), "rules")
        os.makedirs(mdir, exist_ok=True)
        with open(os.path.join(mdir, "ok.py"), "w") as f:
            f.write("return user.username\n")
        # A service provider uses the rule: a reload that breaks it is refused.
        srv.write_config(text="mappings:\n  dir: rules\nsaml:\n  service_providers:\n"
                         "    - name: app\n      entity_id: https://sp.example.test\n"
                         "      acs:\n        - url: https://sp.example.test/acs\n      attributes:\n"
                         "        - name: uid\n          mapping: ok\n")
        srv.start()
        pids = srv.workers_pids()
        with open(os.path.join(mdir, "ok.py"), "w") as f:
            f.write("return user.username +\n")
        off = srv.log_size()
        srv.signal(signal.SIGHUP)
        line = None
        deadline = time.time() + 10
        while time.time() < deadline and line is None:
            for l in srv.lines_since(off):
                if "ok.py:" in l:
                    line = l
            time.sleep(0.1)
        self.assertIsNotNone(line, "the rule's position is logged\n" + srv.logs())
        self.assertRegex(line, r"rules/ok\.py:1:\d+")
        self.assertEqual(srv.http("GET", "/healthz").status, 200)
        self.assertEqual(srv.workers_pids(), pids, "the old workers keep serving")
        srv.stop()

    def test_reloads_under_keepalive_load_lose_nothing(self):
        """Several clients loop requests on persistent connections across 10
        reloads: every request sent gets an answer. A reply with Connection:
        close makes the client open a new connection, as real clients do; a
        connection closed under a request sent on it is a failure."""
        # The window only holds connections that stay idle: active ones move at once.
        srv = self.server(conf={"server": {"drain_window": "5s", "shutdown_timeout": "10s"}})
        srv.start()
        stop = threading.Event()
        counts = {"ok": 0, "closed": 0}
        failures = []
        lock = threading.Lock()

        def client():
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            n = 0
            while not stop.is_set() and n < 20000:
                n += 1
                try:
                    c.request("GET", "/healthz")
                    r = c.getresponse()
                    r.read()
                    with lock:
                        counts["ok"] += r.status == 200
                        if r.status != 200:
                            failures.append("status %d" % r.status)
                        if (r.getheader("Connection") or "").lower() == "close":
                            counts["closed"] += 1
                except (OSError, http.client.HTTPException) as e:
                    with lock:
                        failures.append(repr(e))
                    c.close()
            c.close()

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            for i in range(10):
                pids = srv.workers_pids()
                off = srv.log_size()
                srv.signal(signal.SIGHUP)
                self.assertIsNotNone(srv.wait_log(lambda l: "configuration reloaded" in l and
                                                  l in srv.lines_since(off), timeout=15),
                                     "reload %d\n%s" % (i, srv.logs()))
                deadline = time.time() + 15
                while time.time() < deadline and set(pids) & set(srv.workers_pids()):
                    time.sleep(0.05)  # the old generation has drained and gone
                self.assertFalse(set(pids) & set(srv.workers_pids()), "old workers exit")
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertEqual(failures, [], "requests without an answer across reloads")
        self.assertGreater(counts["ok"], 100)
        self.assertGreater(counts["closed"], 0, "draining workers answered with Connection: close")
        srv.stop()

    def test_drain_window_keeps_idle_connection(self):
        """An idle keep-alive connection to a draining worker stays open for the
        drain window: a request sent on it then is answered, with Connection: close.
        One worker: with two, the "draining" line of one says nothing of the other,
        which may hold this connection and not have had its SIGTERM yet."""
        srv = self.server(workers=1,
                          conf={"server": {"drain_window": "5s", "shutdown_timeout": "10s"},
                                "log": {"level": "debug"}})
        srv.start()
        s = srv.raw_socket(timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = harness.recv_all(s)
        self.assertEqual(harness.parse_raw_response(first)[0], 200, first)
        self.assertNotIn(b"connection: close", first.lower())
        srv.signal(signal.SIGTERM)
        self.assertIsNotNone(srv.wait_log(lambda l: "draining" in l and "worker" in l),
                             "the worker drains\n" + srv.logs())
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        resp = harness.recv_all(s, timeout=5)
        s.close()
        st, hdrs, _ = harness.parse_raw_response(resp)
        self.assertEqual(st, 200, resp)
        self.assertEqual(hdrs.get("connection", "").lower(), "close")
        self.assertEqual(srv.wait_exit(10), 0, srv.logs())

    def test_request_in_flight_during_reload(self):
        srv = self.server(conf={"server": {"limits": {"request_timeout": "20s"}}})
        srv.start()
        s = srv.raw_socket(timeout=15)
        try:
            s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                      b"Connection: close\r\n\r\nhello")
            time.sleep(0.5)
            srv.conf = harness.deep_merge(srv.conf, {"log": {"level": "warn"}})
            srv.write_config(srv.conf)
            srv.signal(signal.SIGHUP)
            time.sleep(2)
            self.assertEqual(srv.http("GET", "/healthz").status, 200)
            s.sendall(b"world")
            resp = harness.recv_all(s, timeout=10)
        finally:
            s.close()
        st = harness.parse_raw_response(resp)[0]
        self.assertIsNotNone(st, "the request in flight got an answer, got %r\n%s" % (resp, srv.logs()))
        self.assertLess(st, 500, resp)
        srv.stop()

    def test_worker_killed(self):
        srv = self.server()
        srv.start()
        before = srv.workers_pids()
        victim = listening_child(srv) or before[0]
        _, m0 = srv.metrics()
        self.assertEqual(harness.prom_sum(m0, "fedbroker_workers"), 2)
        restarts0 = harness.prom_sum(m0, "fedbroker_worker_restarts_total")
        off = srv.log_size()
        os.kill(victim, signal.SIGKILL)
        deadline = time.time() + 10
        after = []
        while time.time() < deadline:
            after = srv.workers_pids()
            if victim not in after and len(after) == len(before):
                break
            time.sleep(0.1)
        self.assertNotIn(victim, after)
        self.assertEqual(len(after), len(before), "a new worker replaces the killed one\n" + srv.logs())
        line = None
        for l in srv.lines_since(off):
            if str(victim) in l:
                line = l
        self.assertIsNotNone(line, "a log line names the dead worker's pid\n" + srv.logs())
        self.assertIn("signal", line.lower())
        for _ in range(30):
            self.assertEqual(srv.http("GET", "/healthz").status, 200)
        self.assertIsNone(srv.proc.poll(), "the master stays up")
        _, m1 = srv.metrics()
        self.assertEqual(harness.prom_sum(m1, "fedbroker_worker_restarts_total"), restarts0 + 1)
        self.assertEqual(harness.prom_sum(m1, "fedbroker_workers"), 2)
        srv.stop()

    def sp_metadata(self, entity_id):
        return ('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
                'entityID="%s"><md:SPSSODescriptor protocolSupportEnumeration='
                '"urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService '
                'Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
                'Location="%s/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>\n'
                % (entity_id, entity_id))

    def sp_known(self, srv, name):
        """GET /saml/idp/init/NAME without a session: to the login page when the worker's
        IdP has the SP, 404 when not."""
        st = srv.http("GET", "/saml/idp/init/" + name).status
        self.assertIn(st, (302, 303, 404), name)
        return st != 404

    def wait_worker_replaced(self, srv, victim):
        deadline = time.time() + 10
        while time.time() < deadline:
            after = srv.workers_pids()
            if after and victim not in after:
                return after
            time.sleep(0.05)
        self.fail("no worker replaced %d\n%s" % (victim, srv.logs()))

    def test_worker_inherits_the_generations_idp(self):
        """The master builds the SAML IdP before it forks (start-up with 1,000 SPs,
        bench/store.sh): a restarted worker serves its generation's service providers
        even when a metadata file went bad since (it reads none), and a reload builds
        the next generation's from the files as they are then."""
        srv = self.server(workers=1)
        d = os.path.dirname(srv.config)
        md = os.path.join(d, "app.xml")
        with open(md, "w") as f:
            f.write(self.sp_metadata("https://app.example.test"))
        conf = harness.deep_merge(srv.conf, {"saml": {"service_providers": [
            {"name": "app", "metadata": md}]}})
        srv.write_config(conf)
        srv.start()
        self.assertTrue(self.sp_known(srv, "app"))
        self.assertFalse(self.sp_known(srv, "other"))
        with open(md, "w") as f:
            f.write("not metadata\n")
        victim = srv.workers_pids()[0]
        os.kill(victim, signal.SIGKILL)
        self.wait_worker_replaced(srv, victim)
        for _ in range(5):
            self.assertTrue(self.sp_known(srv, "app"), srv.logs())
        # A reload with the bad file is refused: the running generation goes on.
        pids = srv.workers_pids()
        off = srv.log_size()
        srv.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and not any(
                "reload failed" in l for l in srv.lines_since(off)):
            time.sleep(0.05)
        self.assertTrue(any("reload failed" in l for l in srv.lines_since(off)), srv.logs())
        self.assertEqual(srv.workers_pids(), pids)
        self.assertTrue(self.sp_known(srv, "app"))
        # Fixed and renamed: the new generation has the new IdP, not the old one.
        with open(md, "w") as f:
            f.write(self.sp_metadata("https://other.example.test"))
        conf["saml"]["service_providers"][0]["name"] = "other"
        srv.write_config(conf)
        srv.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and srv.workers_pids() in ([], pids):
            time.sleep(0.05)
        self.assertNotEqual(srv.workers_pids(), pids, srv.logs())
        deadline = time.time() + 10
        while time.time() < deadline and self.sp_known(srv, "app"):
            time.sleep(0.05)
        self.assertFalse(self.sp_known(srv, "app"), srv.logs())
        self.assertTrue(self.sp_known(srv, "other"), srv.logs())
        self.assertIsNone(srv.proc.poll())
        srv.stop()

    def test_sigterm_in_time(self):
        srv = self.server(conf={"server": {"shutdown_timeout": "3s"}})
        srv.start()
        kids = srv.workers_pids()
        # An idle keep-alive connection must not hold the shutdown.
        s = srv.raw_socket()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        t0 = time.time()
        srv.stop()
        self.assertLess(time.time() - t0, 4.5, "exit within shutdown_timeout")
        s.close()
        time.sleep(0.2)
        for k in kids:
            self.assertFalse(os.path.exists("/proc/%d/stat" % k) and
                             open("/proc/%d/stat" % k).read().split(") ")[1][0] != "Z",
                             "child %d is gone" % k)
        self.assertFalse(harness.port_listening(srv.port))

    def test_sigterm_drains(self):
        """A request in flight at SIGTERM is answered before the exit."""
        srv = self.server(conf={"server": {"shutdown_timeout": "5s",
                                           "limits": {"request_timeout": "20s"}}})
        srv.start()
        s = srv.raw_socket(timeout=10)
        s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                  b"Connection: close\r\n\r\nab")
        time.sleep(0.3)
        srv.signal(signal.SIGTERM)
        time.sleep(0.5)
        try:
            s.sendall(b"cd")
            resp = harness.recv_all(s, timeout=6)
        except OSError as e:
            resp = repr(e).encode()
        s.close()
        rc = srv.wait_exit(10)
        self.assertEqual(rc, 0, srv.logs())
        st = harness.parse_raw_response(resp)[0]
        self.assertEqual(st, 405, resp)

    def test_sigint(self):
        srv = self.server()
        srv.start()
        srv.signal(signal.SIGINT)
        self.assertEqual(srv.wait_exit(10), 0, srv.logs())


def listening_child(srv):
    """A child of the master holding a listening socket on srv.port (a worker)."""
    inodes = set()
    for tbl in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(tbl) as f:
                next(f)
                for row in f:
                    p = row.split()
                    if p[3] == "0A" and int(p[1].split(":")[1], 16) == srv.port:
                        inodes.add(p[9])
        except OSError:
            pass
    for pid in srv.workers_pids():
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                except OSError:
                    continue
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return pid
        except OSError:
            continue
    return None


if __name__ == "__main__":
    harness.main()
