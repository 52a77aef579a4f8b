#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""SCIM push against the SCIM peer (npm's scimmy + scimmy-routers, enforcing AWS IAM Identity
Center's rules: tests/peers/scim/server.mjs): the daemon's jobs process pushes each change
(account created, renamed, disabled, deleted) by itself; `fedbroker scim sync` brings a few
hundred users and a 250-member group in step and a second run writes nothing; the dry run
changes nothing; a 409 adopts the object and never deletes what fedbroker did not create;
429 with Retry-After, 500 and a connection dropped after the write converge without
duplicates; a wrong token, a dead target and a user AWS cannot take are clear errors that
lose nothing from the outbox; kill -9 of a sync at random points, then exact convergence; a
store restored from an export writes only what differs; on PostgreSQL (FB_TEST_STORE, every
test's store), two replicas drain one target without pushing any object twice."""

import json
import os
import random
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from scimpeer import Peer, TOKEN, aws_user  # noqa: E402


def wait_for(tc, what, fn, timeout=60.0):
    """Polls fn until it returns a true value (the peer's state is reached); fails after
    timeout with what."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.2)
    tc.fail("timed out waiting for %s (last: %r)" % (what, last))
    return None


class ScimBase(harness.TestCase):
    """A state directory and configuration with one SCIM target, the peer (AWS's rules,
    or a generic SCIM server when the class sets generic)."""

    generic = False

    def setUp(self):
        super().setUp()
        self.peer = Peer(self, generic=self.generic)
        self.dir = self.tmpdir()
        self.state = os.path.join(self.dir, "state")
        self.config = os.path.join(self.dir, "fedbroker.yaml")
        self.env = dict(os.environ, FB_TEST_SCIM_TOKEN=TOKEN)
        self.store = harness.store_conf(self.dir)  # {} on SQLite (FB_TEST_STORE)

    def configure(self, groups=(), target=None, url=None, token_env="FB_TEST_SCIM_TOKEN"):
        t = {"name": "aws", "url": url or self.peer.url, "token": "env:" + token_env,
             "profile": "aws", "concurrency": 4, "timeout": "5s"}
        t.update(target or {})
        conf = {"server": {"state_dir": self.state},
                "log": {"level": "info"},
                "scim": {"targets": [t]}}
        if self.store:
            conf["store"] = self.store
        if groups:
            conf["groups"] = [{"name": n, "members": list(m)} for n, m in groups]
        self.write(self.config, harness.to_yaml(conf) + "\n")
        return conf

    def fb(self, *args, expect=0, timeout=300):
        cp = harness.run(list(args) + ["--config", self.config], env=self.env, timeout=timeout)
        self.assertNoCrash(cp, " ".join(args))
        if expect is not None:
            self.assertEqual(cp.returncode, expect, "%s: exit %d\n%s%s"
                             % (" ".join(args), cp.returncode, cp.stdout, cp.stderr))
        return cp

    def add_users(self, n, prefix="user"):
        """n users through the store's schema (as upstream sign-ins create them), fast: the
        store's own triggers log them for the push, as for any other writer."""
        params = []
        for i in range(n):
            params += ["id-%s-%04d" % (prefix, i), "%s%04d" % (prefix, i),
                       "Given%d Family%d" % (i, i), "%s%04d@example.com" % (prefix, i)]
        self.sql("INSERT INTO users (id, username, name, email, source, active, created, "
                 "last_seen) VALUES " + ", ".join(["(?, ?, ?, ?, 'corp', 1, 1, 1)"] * n), params)
        return ["%s%04d" % (prefix, i) for i in range(n)]

    def sql(self, sql, params=()):
        """One statement on the test's store, SQLite or PostgreSQL (FB_TEST_STORE)."""
        return harness.store_sql(self, self.store, self.state, sql, params)

    def sync(self, *extra, expect=0):
        cp = self.fb("scim", "sync", "aws", "--json", *extra, expect=expect)
        return json.loads(cp.stdout)

    def assertConverged(self, usernames, groups):
        """The peer holds exactly these users (by email) and groups with these members."""
        st = self.peer.state()
        names = sorted(u["userName"] for u in st["users"])
        self.assertEqual(names, sorted("%s@example.com" % u for u in usernames))
        by_id = {u["id"]: u["userName"] for u in st["users"]}
        got = {g["displayName"]: sorted(by_id[m["value"]] for m in g.get("members", []))
               for g in st["groups"]}
        want = {n: sorted("%s@example.com" % u for u in m) for n, m in groups.items()}
        self.assertEqual(got, want)
        return st

    def assertAwsShapes(self):
        """Every request the peer saw kept to AWS's rules (the peer refuses the others)."""
        for r in self.peer.state()["requests"]:
            self.assertFalse(r["method"] == "PUT" and r["path"].startswith("/Groups"), r)
            self.assertLessEqual(r["member_changes"], 100, r)
            self.assertNotEqual(r["status"], 400, r)


class Sync(ScimBase):
    def test_initial_sync_resync_and_dry_run(self):
        big = ["user%04d" % i for i in range(250)]
        self.configure(groups=[("big", big), ("small", ["user0001", "user0002"])])
        self.fb("user", "add", "ann", "--name", "Ann Smith", "--email", "ann@example.com",
                "--type", "service", "--init")
        users = self.add_users(300) + ["ann"]
        # The dry run sends nothing and stores nothing.
        cp = self.fb("scim", "sync", "aws", "--dry-run", "--json")
        plan = json.loads(cp.stdout)
        actions = [p.get("action") for p in plan]
        self.assertEqual(actions.count("create"), 301 + 2, plan[:3])
        self.assertEqual(self.peer.state()["requests"], [])
        cp = self.fb("scim", "sync", "aws", "--dry-run")
        self.assertIn("303 creates", cp.stdout)
        rep = self.sync()
        self.assertTrue(rep["ok"], rep)
        self.assertConverged(users, {"big": big, "small": ["user0001", "user0002"]})
        self.assertAwsShapes()
        # The 250 members went in chunks of at most 100 (100 on create, then 100 and 50).
        changes = [r["member_changes"] for r in self.peer.state()["requests"]
                   if r["method"] == "PATCH"]
        self.assertEqual(sorted(changes, reverse=True)[:2], [100, 50])
        # A second run right after: zero writes.
        self.peer.admin("counters", {})
        rep = self.sync()
        self.assertTrue(rep["ok"], rep)
        self.assertEqual(rep["writes"], 0, rep)
        self.assertEqual(self.peer.state()["writes"], 0)
        # status shows the last report.
        st = json.loads(self.fb("scim", "status", "--json").stdout)
        self.assertEqual(st[0]["target"], "aws")
        self.assertEqual(st[0]["outbox"], 0)
        self.assertTrue(st[0]["last_sync"]["ok"])
        # A rename, a member leaving: the dry run names them, changes nothing; sync does it.
        self.fb("user", "edit", "ann", "--name", "Ann Jones")
        self.configure(groups=[("big", big[:-1]), ("small", ["user0001", "user0002"])])
        plan = json.loads(self.fb("scim", "sync", "aws", "--dry-run", "--json").stdout)
        self.assertIn({"action": "update", "name": "ann@example.com",
                       "changes": ["displayName", "name"]},
                      [{"action": p.get("action"), "name": p.get("name"),
                        "changes": sorted(p.get("changes", []))} for p in plan])
        cp = self.fb("scim", "sync", "aws", "--dry-run")
        self.assertIn("update         user  ann@example.com (displayName, name)", cp.stdout)
        self.assertIn(("remove_members", "big", 1),
                      [(p.get("action"), p.get("name"), p.get("members")) for p in plan])
        self.assertEqual(self.peer.state()["writes"], 0)
        rep = self.sync()
        self.assertEqual(rep["writes"], 2, rep)
        st = self.assertConverged(users, {"big": big[:-1], "small": ["user0001", "user0002"]})
        ann = [u for u in st["users"] if u["userName"] == "ann@example.com"][0]
        self.assertEqual((ann["displayName"], ann["name"]["familyName"]), ("Ann Jones", "Jones"))

    def test_adoption_and_what_is_not_ours(self):
        self.configure()
        seeded = self.peer.seed(users=[
            aws_user("ann@example.com", "Ann", "Old"),                      # no externalId
            aws_user("ct@example.com", "Control", "Tower", externalId="ct-1")])
        self.fb("user", "add", "ann", "--name", "Ann Smith", "--email", "ann@example.com",
                "--type", "service", "--init")
        self.fb("user", "add", "eve", "--name", "Eve Other", "--email", "eve@example.com",
                "--type", "service")
        self.peer.seed(users=[aws_user("eve@example.com", "Eve", "Theirs", externalId="x-9")])
        rep = self.sync(expect=1)
        # ann: 409, looked up, adopted (the same remote object, updated).
        st = self.peer.state()
        anns = [u for u in st["users"] if u["userName"] == "ann@example.com"]
        self.assertEqual(len(anns), 1)
        self.assertEqual(anns[0]["id"], seeded["users"][0])
        self.assertEqual(anns[0]["name"]["familyName"], "Smith")
        # eve: someone else's (another externalId): an error against eve only.
        self.assertEqual(rep["failing"], 1, rep)
        self.assertIn("made by someone else", rep["errors"][0]["error"])
        # A group that exists there already (409): adopted, and every member added.
        self.peer.seed(groups=[{"displayName": "staff"}])
        self.configure(groups=[("staff", ["ann"])])
        self.sync(expect=1)
        st = self.peer.state()
        staff = [g for g in st["groups"] if g["displayName"] == "staff"]
        self.assertEqual(len(staff), 1)
        self.assertEqual([m["value"] for m in staff[0]["members"]], [anns[0]["id"]])
        # Deleting ann locally never deletes the adopted user, nor Control Tower's.
        self.fb("user", "delete", "ann")
        self.sync(expect=1)
        names = sorted(u["userName"] for u in self.peer.state()["users"])
        self.assertEqual(names, ["ann@example.com", "ct@example.com", "eve@example.com"])


class Restore(ScimBase):
    def test_restore_writes_only_what_differs(self):
        """A backup carries the SCIM remote ids and pushed memberships: the restored store
        pushes every object once and writes only what differs from what was pushed (here a
        rename still queued at export, which is not lost); nothing is created twice."""
        staff = ["user0000", "user0001", "user0002"]
        self.configure(groups=[("staff", staff)])
        self.fb("user", "list", "--init")
        users = self.add_users(10)
        self.assertTrue(self.sync()["ok"])
        self.sql("UPDATE users SET name = 'Given1 Renamed' WHERE username = 'user0001'")
        dump = os.path.join(self.dir, "export.json")
        self.fb("store", "export", "--json", "--output", dump)
        with open(dump) as f:
            tables = json.load(f)["tables"]
        self.assertEqual(len(tables["scim_remote"]), 10 + 1)
        self.assertEqual(len(tables["scim_members"]), 3)
        self.assertNotIn("scim_outbox", tables)
        # A new state directory and store, the same target.
        self.state = os.path.join(self.dir, "restored")
        self.store = harness.store_conf(self.tmpdir())
        self.configure(groups=[("staff", staff)])
        self.fb("store", "import", "--json", dump, "--init")
        self.peer.admin("counters", {})
        rep = self.sync()
        self.assertTrue(rep["ok"], rep)
        self.assertEqual(rep["writes"], 1, rep)
        self.assertEqual(self.peer.state()["writes"], 1)
        self.assertFalse([r for r in self.peer.state()["requests"] if r["method"] == "POST"])
        st = self.assertConverged(users, {"staff": staff})
        self.assertIn("Given1 Renamed", [u["displayName"] for u in st["users"]])
        self.assertEqual(self.sync()["writes"], 0)


@unittest.skipIf(harness.STORE != "postgres", "replicas share a PostgreSQL store")
class Replicas(ScimBase):
    def test_two_replicas_drain_one_target(self):
        """Two brokers on one PostgreSQL database: their jobs processes drain the one outbox
        together and never push one object twice: the peer sees exactly one create per
        user and group, no 409, and the exact state."""
        members = ["user%04d" % i for i in range(80)]
        env = {"FB_TEST_SCIM_TOKEN": TOKEN}
        conf = {"scim": {"targets": [{"name": "aws", "url": self.peer.url, "profile": "aws",
                                      "token": "env:FB_TEST_SCIM_TOKEN", "concurrency": 4,
                                      "groups": ["all"]}]},
                "groups": [{"name": "all", "members": members}]}
        a = harness.Server(self, conf=conf, env=env)
        b = harness.Server(self, conf=harness.deep_merge(
            conf, {k: a.conf[k] for k in ("store", "keys", "session")}), env=env)
        self.config, self.state, self.store = a.config, a.state_dir, a.conf["store"]
        self.peer.fault("slow", match="", count=100000, delay_ms=10)
        a.start()
        b.start()
        users = self.add_users(80)

        def converged():
            st = self.peer.state()
            g = [g for g in st["groups"] if g["displayName"] == "all"]
            return len(st["users"]) == 80 and g and len(g[0]["members"]) == 80
        wait_for(self, "both replicas' pushes converged", converged, timeout=120)
        self.assertConverged(users, {"all": members})
        reqs = self.peer.state()["requests"]
        self.assertEqual(len([r for r in reqs if (r["method"], r["path"]) == ("POST", "/Users")]),
                         80)
        self.assertEqual(len([r for r in reqs if (r["method"], r["path"]) == ("POST", "/Groups")]),
                         1)
        self.assertEqual([r for r in reqs if r["status"] == 409], [])
        self.assertAwsShapes()
        a.stop()
        b.stop()


class PagingBase(ScimBase):
    """A full reconcile pages through the target's /Users and /Groups (AWS: cursor only,
    the peer refuses startIndex; generic: startIndex and count) and matches what is there
    with what the store recorded, on every page."""

    def reconcile_by_pages(self, generic):
        members = ["user%04d" % i for i in range(0, 40, 3)]
        self.configure(groups=[("staff", members)],
                       target={"profile": "generic"} if generic else None)
        self.peer.admin("config", {"page": 7})
        self.fb("user", "list", "--init")
        users = self.add_users(40)
        rep = self.sync()
        self.assertTrue(rep["ok"], rep)
        self.assertEqual(rep["listed"], 0, rep)  # the target was empty
        name = (lambda u: u) if generic else (lambda u: "%s@example.com" % u)
        if not generic:
            self.assertConverged(users, {"staff": members})
            self.assertAwsShapes()
        # The remote ids are lost (an older backup restored): the listing finds every
        # user on its page (40 users: 6 pages of 7) and adopts them: nothing is created.
        self.sql("DELETE FROM scim_remote WHERE kind = 'user'")
        self.peer.admin("counters", {})
        rep = self.sync()
        self.assertTrue(rep["ok"], rep)
        self.assertEqual(rep["listed"], 41, rep)
        reqs = self.peer.state()["requests"]
        self.assertEqual([r for r in reqs if r["method"] == "POST"], [])
        self.assertEqual([r for r in reqs if r["status"] == 409], [])
        self.assertGreaterEqual(len([r for r in reqs if (r["method"], r["path"]) ==
                                     ("GET", "/Users")]), 6)
        adopted = self.sql("SELECT count(*) FROM scim_remote WHERE kind = 'user' "
                           "AND managed = 1")[1][0][0]
        self.assertEqual(int(adopted), 40)
        st = self.peer.state()
        self.assertEqual(len(st["users"]), 40)
        # Objects deleted at the target (the last pages' too) are made again, the group's
        # memberships with them; a second object carrying a user's id as externalId and
        # objects made by someone else (on later pages) are never deleted.
        by_name = {u["userName"]: u["id"] for u in st["users"]}
        for u in ("user0000", "user0039", "user0021"):
            self.assertEqual(self.peer.request("DELETE", "/Users/" + by_name[name(u)])[0], 204)
        seeded = self.peer.seed(users=[
            aws_user("zz-ct@example.com", "Control", "Tower", externalId="ct-1"),
            aws_user("zz-dup@example.com", "Dup", "Licate", externalId="id-user-0005"),
            aws_user("zz-none@example.com", "No", "Body")])["users"]
        rep = self.sync()
        self.assertTrue(rep["ok"], rep)
        st = self.peer.state()
        names = sorted(u["userName"] for u in st["users"])
        self.assertEqual(names, sorted([name(u) for u in users] + [
            "zz-ct@example.com", "zz-dup@example.com", "zz-none@example.com"]))
        self.assertEqual({u["id"] for u in st["users"]} & set(seeded), set(seeded))
        if not generic:
            by_id = {u["id"]: u["userName"] for u in st["users"]}
            staff = [g for g in st["groups"] if g["displayName"] == "staff"][0]
            self.assertEqual(sorted(by_id[m["value"]] for m in staff["members"]),
                             sorted(name(u) for u in members))
        # Deleting user0005 here deletes its recorded object only, never the duplicate;
        # the others made by someone else stay.
        self.sql("DELETE FROM users WHERE username = 'user0005'")
        self.sync()
        names = [u["userName"] for u in self.peer.state()["users"]]
        self.assertNotIn(name("user0005"), names)
        for n in ("zz-ct@example.com", "zz-dup@example.com", "zz-none@example.com"):
            self.assertIn(n, names)
        # In step: the next run writes nothing.
        self.peer.admin("counters", {})
        self.assertEqual(self.sync()["writes"], 0)
        self.assertEqual(self.peer.state()["writes"], 0)
        if not generic:
            self.assertAwsShapes()


class Paging(PagingBase):
    def test_aws_cursor_pages(self):
        self.reconcile_by_pages(generic=False)
        # AWS refuses startIndex; the peer does as AWS does.
        status, _, body = self.peer.request("GET", "/Users?startIndex=1&count=10")
        self.assertEqual((status, body["status"]), (400, "400"))
        status, _, body = self.peer.request("GET", "/Users?count=5&cursor=")
        self.assertEqual(len(body["Resources"]), 5)
        self.assertIn("nextCursor", body)
        self.assertNotIn("startIndex", body)


class GenericPaging(PagingBase):
    generic = True

    def test_generic_start_index_pages(self):
        self.reconcile_by_pages(generic=True)


class Generic(ScimBase):
    generic = True

    def test_generic_profile(self):
        # userName is the username; a one-word name is fine; the user_mapping patches it.
        os.mkdir(os.path.join(self.dir, "mappings"))
        self.write(os.path.join(self.dir, "mappings", "scim_title.py"),
                   'return {"title": "Staff", "photos": None}\n')
        conf = self.configure(groups=[("staff", ["cher", "ann"])],
                              target={"profile": "generic", "user_mapping": "scim_title"})
        conf["mappings"] = {"dir": os.path.join(self.dir, "mappings")}
        self.write(self.config, harness.to_yaml(conf) + "\n")
        self.fb("user", "add", "cher", "--name", "Cher", "--email", "cher@example.com",
                "--type", "service", "--init")
        self.fb("user", "add", "ann", "--name", "Ann Smith", "--type", "service")
        rep = self.sync()
        self.assertTrue(rep["ok"], rep)
        st = self.peer.state()
        self.assertEqual(sorted(u["userName"] for u in st["users"]), ["ann", "cher"])
        self.assertEqual({u.get("title") for u in st["users"]}, {"Staff"})
        self.assertEqual(len(st["groups"][0]["members"]), 2)
        self.assertEqual(self.sync()["writes"], 0)


class Faults(ScimBase):
    def test_retries_converge_without_duplicates(self):
        self.configure(groups=[("staff", ["user0000", "user0001", "user0002"])])
        self.fb("user", "list", "--init")
        users = self.add_users(20)
        self.peer.fault("429", match="POST /Users", count=2, retry_after=1)
        self.peer.fault("500", match="POST /Users", count=1)
        self.peer.fault("drop", match="POST /Users", count=2)
        self.peer.fault("slow", match="POST /Groups", count=1, delay_ms=7000)  # > timeout
        rep = self.sync()
        self.assertTrue(rep["ok"], rep)
        self.assertGreater(rep["retries"], 0, rep)
        self.assertConverged(users, {"staff": ["user0000", "user0001", "user0002"]})
        self.assertAwsShapes()

    def test_bad_target_and_bad_data(self):
        # A wrong token: a clear error naming the target, no retry storm, nothing lost.
        self.env["FB_TEST_BAD_TOKEN"] = "wrong-token"
        self.configure(token_env="FB_TEST_BAD_TOKEN")
        self.fb("user", "list", "--init")
        self.add_users(30)
        cp = self.fb("scim", "sync", "aws", expect=1)
        self.assertIn("aws", cp.stdout + cp.stderr)
        self.assertIn("refuses the token", cp.stdout + cp.stderr)
        self.assertNotIn("wrong-token", cp.stdout + cp.stderr)
        self.assertLessEqual(len(self.peer.state()["requests"]), 4)
        st = json.loads(self.fb("scim", "status", "--json").stdout)
        self.assertEqual(st[0]["outbox"], 30)
        # A target that does not answer: errors, the outbox keeps everything.
        self.configure(url="http://127.0.0.1:%d/scim/v2" % harness.free_port())
        cp = self.fb("scim", "sync", "aws", expect=1)
        self.assertEqual(json.loads(self.fb("scim", "status", "--json").stdout)[0]["outbox"],
                         30)
        # The right token: a user AWS cannot take (one-word name) fails alone.
        self.sql("UPDATE users SET name = 'Cher' WHERE username = 'user0007'")
        self.configure()
        self.fb("scim", "sync", "aws", expect=1)
        st = json.loads(self.fb("scim", "status", "--json").stdout)[0]
        self.assertEqual(st["failing"], 1, st)
        self.assertIn("user user0007: no givenName", st["errors"][0]["error"])
        self.assertEqual(len(self.peer.state()["users"]), 29)

    def test_html_and_malformed_answers(self):
        self.configure()
        self.fb("user", "list", "--init")
        users = self.add_users(6)
        # A proxy's HTML 502 is retried (a 5xx); a 200 that is not JSON is an error against
        # that user only, and its entry stays for the next sync.
        self.peer.fault("html", match="POST /Users", count=2)
        self.peer.fault("badjson", match="POST /Users", count=1)
        rep = self.sync(expect=1)
        self.assertEqual(rep["failing"], 1, rep)
        self.assertIn("without an id", rep["errors"][0]["error"])
        self.assertGreaterEqual(rep["retries"], 2, rep)
        self.assertEqual(len(self.peer.state()["users"]), 5)
        # The next sync (the entry is due again after its wait, or at once by hand) converges.
        self.sql("UPDATE scim_outbox SET next_at = 0")
        rep = self.sync()
        self.assertTrue(rep["ok"], rep)
        self.assertConverged(users, {})

    def test_rate_limit(self):
        # rate_limit: 10 requests a second at most: 12 creates take at least 1.1 s.
        self.configure(target={"rate_limit": 10, "concurrency": 8})
        self.fb("user", "list", "--init")
        users = self.add_users(12)
        rep = self.sync()
        self.assertEqual(rep["requests"], 12 + 2, rep)  # and a page of /Users and /Groups
        self.assertGreaterEqual(rep["duration_ms"], 1100, rep)
        self.assertConverged(users, {})

    def test_out_of_scope(self):
        self.configure(groups=[("staff", ["ann", "bob"])], target={"groups": ["staff"]})
        for u in ("ann", "bob", "eve"):
            self.fb("user", "add", u, "--name", "%s Example" % u.title(), "--email",
                    "%s@example.com" % u, "--type", "service", "--init")
        self.sync()
        self.assertConverged(["ann", "bob"], {"staff": ["ann", "bob"]})  # eve is not in scope
        # bob leaves the scope: deactivated (on_out_of_scope), and out of the group.
        self.configure(groups=[("staff", ["ann"])], target={"groups": ["staff"]})
        self.sync()
        st = self.assertConverged(["ann", "bob"], {"staff": ["ann"]})
        bob = [u for u in st["users"] if u["userName"] == "bob@example.com"][0]
        self.assertIs(bob["active"], False)
        # With on_out_of_scope: delete, bob goes (fedbroker made him).
        self.configure(groups=[("staff", ["ann"])],
                       target={"groups": ["staff"], "on_out_of_scope": "delete"})
        self.fb("user", "edit", "bob", "--name", "Bob Changed")
        self.sync()
        self.assertConverged(["ann"], {"staff": ["ann"]})

    def test_kill_during_sync_converges(self):
        self.configure(groups=[("all", ["user%04d" % i for i in range(150)])])
        self.fb("user", "list", "--init")
        users = self.add_users(150)
        rng = random.Random(13)
        for _ in range(3):
            self.peer.fault("slow", match="", count=1000, delay_ms=20)
            proc = subprocess.Popen(  # noqa: R1732 (waited below)
                [harness.BIN, "scim", "sync", "aws", "--config", self.config], env=self.env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.3, 2.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        # The entries the killed syncs held wait for their leases to run out; the sync
        # waits for them, looks up what may have been created, and converges.
        rep = self.sync()
        self.assertTrue(rep["ok"], rep)
        self.assertConverged(users, {"all": ["user%04d" % i for i in range(150)]})
        self.assertAwsShapes()


class Daemon(ScimBase):
    def test_changes_reach_the_target_by_themselves(self):
        self.configure(groups=[("staff", ["ann", "bob"])])
        srv = harness.Server(self, conf=json.loads(json.dumps(
            {"scim": {"targets": [{"name": "aws", "url": self.peer.url,
                                   "token": "env:FB_TEST_SCIM_TOKEN", "profile": "aws",
                                   "groups": ["staff"]}]},
             "groups": [{"name": "staff", "members": ["ann", "bob"]}]})),
            env={"FB_TEST_SCIM_TOKEN": TOKEN})
        srv.start()
        self.config, self.state, self.store = srv.config, srv.state_dir, srv.conf.get("store", {})
        self.fb("user", "add", "ann", "--name", "Ann Smith", "--email", "ann@example.com",
                "--type", "service", "--state-dir", srv.state_dir)
        self.fb("user", "add", "bob", "--name", "Bob Brown", "--email", "bob@example.com",
                "--type", "service", "--state-dir", srv.state_dir)

        def staff():
            st = self.peer.state()
            g = [g for g in st["groups"] if g["displayName"] == "staff"]
            return len(st["users"]) == 2 and g and len(g[0]["members"]) == 2 and st
        wait_for(self, "ann and bob in staff at the target", staff)
        self.fb("user", "edit", "ann", "--name", "Ann Jones", "--state-dir", srv.state_dir)
        wait_for(self, "the rename", lambda: any(
            u["displayName"] == "Ann Jones" for u in self.peer.state()["users"]))
        self.fb("user", "disable", "bob", "--state-dir", srv.state_dir)
        wait_for(self, "bob deactivated", lambda: any(
            u["userName"] == "bob@example.com" and u["active"] is False
            for u in self.peer.state()["users"]))
        self.fb("user", "delete", "ann", "--state-dir", srv.state_dir)
        wait_for(self, "ann deleted", lambda: [
            u["userName"] for u in self.peer.state()["users"]] == ["bob@example.com"])
        # The bootstrap admin (no email: AWS could not take it) is outside the scope.
        st = json.loads(self.fb("scim", "status", "--json", "--state-dir",
                                srv.state_dir).stdout)
        self.assertEqual(st[0]["failing"], 0, st)
        self.assertAwsShapes()
        # /metrics: the outbox and the jobs process's live counts, per target: requests by
        # status, writes, retries; the outbox depth while the target fails, then its
        # catching up.
        m = wait_for(self, "the jobs process's counts in /metrics", lambda: (
            lambda s: harness.prom_sum(s, "fedbroker_scim_requests_total", target="aws",
                                       status="201") >= 2 and s)(srv.metrics()[1]))
        self.assertEqual(harness.prom_sum(m, "fedbroker_scim_outbox_depth", target="aws"), 0)
        self.assertEqual(harness.prom_sum(m, "fedbroker_scim_outbox_failing", target="aws"), 0)
        self.assertGreater(harness.prom_sum(m, "fedbroker_scim_writes_total", target="aws"), 0)
        first_ok = harness.prom_sum(m, "fedbroker_scim_last_success_timestamp_seconds",
                                    target="aws")
        self.assertGreater(first_ok, 0)
        self.peer.fault("500", match="PUT /Users", count=1000)
        self.sql("UPDATE users SET active = 1, name = 'Bob Again' WHERE username = 'bob'")
        m = wait_for(self, "the 500s in /metrics", lambda: (
            lambda s: harness.prom_sum(s, "fedbroker_scim_requests_total", target="aws",
                                       status="500") >= 1 and s)(srv.metrics()[1]))
        self.assertGreaterEqual(harness.prom_sum(m, "fedbroker_scim_outbox_depth",
                                                 target="aws"), 1)
        self.assertGreater(harness.prom_sum(m, "fedbroker_scim_retries_total", target="aws"), 0)
        st = json.loads(self.fb("scim", "status", "--json", "--state-dir",
                                srv.state_dir).stdout)[0]
        self.assertGreaterEqual(st["outbox"], 1, st)
        self.assertGreater(st["jobs"]["requests"], 0, st)
        self.assertIn("HTTP 500", " ".join(e["error"] for e in st["errors"]), st)
        self.assertGreaterEqual(st["last_success"], first_ok, st)
        text = self.fb("scim", "status", "--state-dir", srv.state_dir).stdout
        self.assertIn("last success", text)
        self.assertIn("HTTP 500", text)
        srv.stop()

    def test_long_outage_catches_up_without_a_retry_storm(self):
        """The target down (connections cut) for many backoff periods (backoff_max 2s)
        while 12 users wait: the jobs process probes it with one request per period, not
        one per object, and once it is back everything arrives by itself."""
        conf = {"scim": {"targets": [{"name": "aws", "url": self.peer.url, "timeout": "3s",
                                      "token": "env:FB_TEST_SCIM_TOKEN", "profile": "aws",
                                      "backoff_max": "2s", "concurrency": 4,
                                      "groups": ["all"]}]},
                "groups": [{"name": "all", "members": ["user%04d" % i for i in range(12)]}]}
        srv = harness.Server(self, conf=conf, env={"FB_TEST_SCIM_TOKEN": TOKEN})
        srv.start()
        self.config, self.state, self.store = srv.config, srv.state_dir, srv.conf.get("store", {})
        wait_for(self, "the first reconcile", lambda: self.peer.state()["requests"])
        self.peer.fault("down", match="", count=100000)
        self.peer.admin("counters", {})
        users = self.add_users(12)

        def cut():
            return [r for r in self.peer.state()["requests"] if r["status"] == 0]
        # Six periods: 1 + 2 + 2 + 2 + 2 s at least after the first failures.
        reqs = wait_for(self, "six backoff periods of the outage",
                        lambda: (lambda c: len(c) >= 4 + 6 and c)(cut()), timeout=90)
        span = (reqs[-1]["at_ms"] - reqs[0]["at_ms"]) / 1000.0
        # At most the requests in flight when it went down, then one per period (>= 1 s).
        self.assertLessEqual(len(reqs), 4 + 1 + span, (span, reqs))
        self.assertGreaterEqual(span, 1 + 2 + 2 + 2 + 2 - 1, reqs)
        self.assertEqual(len(self.peer.state()["users"]), 0)
        self.peer.admin("faults/clear", {})
        wait_for(self, "the catching up", lambda: len(self.peer.state()["users"]) == 12 and [
            g for g in self.peer.state()["groups"] if len(g["members"]) == 12], timeout=60)
        self.assertConverged(users, {"all": users})
        wait_for(self, "the outbox empty", lambda: json.loads(self.fb(
            "scim", "status", "--json", "--state-dir", srv.state_dir).stdout)[0]["outbox"] == 0)
        srv.stop()

    def test_kill_9_of_the_broker_converges(self):
        """The whole broker (master, workers, jobs) killed at random points of a large
        push, started again each time: in the end exactly the right state."""
        conf = {"scim": {"targets": [{"name": "aws", "url": self.peer.url, "timeout": "3s",
                                      "token": "env:FB_TEST_SCIM_TOKEN", "profile": "aws",
                                      "groups": ["all"]}]},
                "groups": [{"name": "all", "members": ["user%04d" % i for i in range(120)]}]}
        srv = harness.Server(self, conf=conf, env={"FB_TEST_SCIM_TOKEN": TOKEN})
        srv.start()
        self.config, self.state, self.store = srv.config, srv.state_dir, srv.conf.get("store", {})
        users = self.add_users(120)
        self.peer.fault("slow", match="", count=100000, delay_ms=15)
        rng = random.Random(7)
        for _ in range(3):
            time.sleep(rng.uniform(0.2, 1.5))
            srv.kill()
            srv.out.close()
            srv.err.close()
            srv.start()
        want = {"all": users}

        def converged():
            st = self.peer.state()
            by_id = {u["id"]: u["userName"] for u in st["users"]}
            got = {g["displayName"]: sorted(by_id[m["value"]] for m in g["members"])
                   for g in st["groups"]}
            return (sorted(by_id.values()) == sorted("%s@example.com" % u for u in users) and
                    got == {n: sorted("%s@example.com" % u for u in m)
                            for n, m in want.items()})
        # The killed jobs process's leases run out (3 s timeout: 16 s), then it converges.
        wait_for(self, "convergence after kill -9", converged, timeout=120)
        self.assertConverged(users, want)
        self.assertAwsShapes()
        srv.stop()


if __name__ == "__main__":
    harness.main()
