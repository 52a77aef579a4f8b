#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""35: fedbroker map test|check: results as JSON, errors with positions, exit codes."""

import json
import os

import harness

MAPPINGS = os.path.join(harness.SRCDIR, "mappings")

USER = {"username": "alice", "name": "Alice", "email": "alice@example.com", "uid": "7",
        "is_active": True, "attributes": {"aws_session_duration": 3600},
        "groups": [{"name": "ops", "attributes": {"aws_role": "ops"}},
                   {"name": "admins", "attributes": {"aws_role": "arn:aws:iam::999:role/adm"}},
                   {"name": "staff", "attributes": {}}]}


class MapCli(harness.TestCase):
    def write(self, d, name, text):
        p = os.path.join(d, name)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        return p

    def setUp(self):
        super().setUp()
        self.d = self.tmpdir()
        self.user = self.write(self.d, "user.json", json.dumps(USER))

    def test_help(self):
        for args in (["map", "--help"], ["map", "test", "--help"], ["map", "check", "--help"]):
            with self.subTest(args=args):
                cp = harness.run(args)
                self.assertEqual(cp.returncode, 0, cp.stderr)
                self.assertIn("usage: fedbroker map", cp.stdout)
        cp = harness.run(["map"])
        self.assertEqual(cp.returncode, 2)

    def test_shipped_rules(self):
        cp = harness.run(["map", "test", "aws_role", "--user", self.user, "--dir", MAPPINGS])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(json.loads(cp.stdout), [
            "arn:aws:iam::999:role/adm,arn:aws:iam::123412341234:saml-provider/fedbroker",
            "arn:aws:iam::123412341234:role/ops,arn:aws:iam::123412341234:saml-provider/fedbroker"])
        cp = harness.run(["map", "test", os.path.join(MAPPINGS, "aws_session_duration.py"),
                          "--user", self.user])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(json.loads(cp.stdout), "3600")
        cp = harness.run(["map", "check", "--dir", MAPPINGS])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"^\d+ mappings compiled in ")

    def test_request_and_upstream(self):
        rule = self.write(self.d, "r.py", "return [request.name, upstream['sub'], user.username]\n")
        req = self.write(self.d, "req.json", '{"name": "aws", "type": "saml", "upstream": null}')
        up = self.write(self.d, "up.json", '{"sub": "123"}')
        cp = harness.run(["map", "test", rule, "--user", self.user, "--request", req,
                          "--upstream", up])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(json.loads(cp.stdout), ["aws", "123", "alice"])

    def test_errors_have_positions(self):
        bad = self.write(self.d, "bad.py", "x = 1\nreturn x +\n")
        cp = harness.run(["map", "test", bad, "--user", self.user])
        self.assertEqual(cp.returncode, 1)
        self.assertIn("%s:2:11: syntax error: expected an expression" % bad, cp.stderr)
        self.assertEqual(cp.stdout, "")
        rt = self.write(self.d, "rt.py", "return user.attributes['nope']\n")
        cp = harness.run(["map", "test", rt, "--user", self.user])
        self.assertEqual(cp.returncode, 1)
        self.assertIn("rt:1:23: key error: 'nope'", cp.stderr)
        loop = self.write(self.d, "loop.py", "for i in range(10 ** 12):\n    pass\n")
        cp = harness.run(["map", "test", loop, "--user", self.user], timeout=20)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("loop:1:1: budget exceeded", cp.stderr)

    def test_check_reports_every_file(self):
        self.write(self.d, "good.py", "return 1\n")
        self.write(self.d, "one.py", "import os\n")
        self.write(self.d, "two.py", "return usr\n")
        cp = harness.run(["map", "check", "--dir", self.d])
        self.assertEqual(cp.returncode, 1)
        self.assertIn("one.py:1:1: syntax error: import statements are not allowed", cp.stderr)
        self.assertIn("two.py:1:8: name error: name 'usr' is not defined (did you mean 'user'?)",
                      cp.stderr)
        self.assertIn("2 problems", cp.stderr)

    def test_usage_errors(self):
        cp = harness.run(["map", "test", "aws_role"])
        self.assertEqual(cp.returncode, 2)
        self.assertIn("--user", cp.stderr)
        cp = harness.run(["map", "test", "nosuch", "--user", self.user, "--dir", self.d])
        self.assertEqual(cp.returncode, 1)
        self.assertIn("nosuch.py: No such file or directory", cp.stderr)
        notjson = self.write(self.d, "x.json", "{nope")
        cp = harness.run(["map", "test", "aws_role", "--user", notjson, "--dir", MAPPINGS])
        self.assertEqual(cp.returncode, 1)
        self.assertIn("--user %s:1:" % notjson, cp.stderr)
        cp = harness.run(["map", "check", "--dir", os.path.join(self.d, "missing")])
        self.assertEqual(cp.returncode, 1)
        cp = harness.run(["map", "frob"])
        self.assertEqual(cp.returncode, 2)
        cp = harness.run(["map", "check", "--bogus"])
        self.assertEqual(cp.returncode, 2)

    def test_config_mappings_dir(self):
        """--config (or $FEDBROKER_CONFIG) locates the rules: mappings.dir, not ./mappings."""
        rules = os.path.join(self.d, "rules")
        os.makedirs(rules)
        self.write(rules, "hello.py", "return 'hi ' + user.username\n")
        conf = self.write(self.d, "fb.yaml", "mappings:\n  dir: %s\n" % rules)
        cp = harness.run(["map", "test", "hello", "--user", self.user, "--config", conf])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(json.loads(cp.stdout), "hi alice")
        cp = harness.run(["map", "test", "hello", "--user", self.user],
                         env={"FEDBROKER_CONFIG": conf})
        self.assertEqual(cp.returncode, 0, cp.stderr)
        cp = harness.run(["map", "check", "-c", conf])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("1 mapping compiled in %s" % rules, cp.stdout)
        # --dir still wins.
        cp = harness.run(["map", "check", "--config", conf, "--dir", MAPPINGS])
        self.assertIn("compiled in %s" % MAPPINGS, cp.stdout)
        # A broken configuration is named, not silently replaced by ./mappings.
        bad = self.write(self.d, "bad.yaml", "mappings:\n  dri: x\n")
        cp = harness.run(["map", "check", "--config", bad])
        self.assertEqual(cp.returncode, 1)
        self.assertIn("bad.yaml", cp.stderr)

    def test_user_of_wrong_shape(self):
        for doc, words in (
                ({"usernme": "a"}, "usernme: unknown member (did you mean 'username'?)"),
                ({"username": 7}, "username: expected a string, found a number"),
                ({"username": "a", "is_active": "yes"},
                 "is_active: expected true or false, found a string"),
                ({"username": "a", "attributes": []}, "attributes: expected an object"),
                ({"username": "a", "groups": {"name": "x"}}, "groups: expected a list"),
                ({"username": "a", "groups": ["admins"]},
                 "groups[0]: expected an object, found a string"),
                ({"username": "a", "groups": [{"name": "x", "attributes": []}]},
                 "groups[0].attributes: expected an object, found a list"),
                ([USER], "expected an object, found a list")):
            with self.subTest(doc=doc):
                p = self.write(self.d, "bad-user.json", json.dumps(doc))
                cp = harness.run(["map", "test", "aws_role", "--user", p, "--dir", MAPPINGS])
                self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
                self.assertIn("--user %s: " % p, cp.stderr)
                self.assertIn(words, cp.stderr)
                self.assertEqual(cp.stdout, "")
        req = self.write(self.d, "req.json", '{"nmae": "aws"}')
        cp = harness.run(["map", "test", "aws_role", "--user", self.user, "--request", req,
                          "--dir", MAPPINGS])
        self.assertEqual(cp.returncode, 1)
        self.assertIn("--request %s: nmae: unknown member" % req, cp.stderr)

    def test_json_errors_have_line_and_column(self):
        p = self.write(self.d, "cols.json", '{"username":\n  "a",, }')
        cp = harness.run(["map", "test", "aws_role", "--user", p, "--dir", MAPPINGS])
        self.assertEqual(cp.returncode, 1)
        self.assertIn("--user %s:2:7: " % p, cp.stderr)


if __name__ == "__main__":
    harness.main()
