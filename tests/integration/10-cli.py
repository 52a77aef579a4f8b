#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""10: the command line: --help everywhere, version, unknown subcommand."""

import harness


class Cli(harness.TestCase):
    def check_help(self, args):
        cp = harness.run(args)
        self.assertNoCrash(cp, " ".join(args))
        self.assertEqual(cp.returncode, 0, "%s: %s%s" % (args, cp.stdout, cp.stderr))
        self.assertIn("usage:", cp.stdout.lower(), "%s prints its usage on stdout" % (args,))
        return cp

    def test_top_help(self):
        cp = self.check_help(["--help"])
        for cmd in ("serve", "check-config", "keys", "version"):
            self.assertIn(cmd, cp.stdout)
        self.check_help(["-h"])

    def test_subcommand_help(self):
        for args in (["serve", "--help"], ["check-config", "--help"], ["keys", "--help"],
                     ["keys", "list", "--help"], ["keys", "generate", "--help"],
                     ["version", "--help"]):
            with self.subTest(args=args):
                cp = self.check_help(args)
                self.assertIn(args[0], cp.stdout)

    def test_serve_help_names_flags(self):
        cp = self.check_help(["serve", "--help"])
        for flag in ("--config", "--listen", "--state-dir", "--workers"):
            self.assertIn(flag, cp.stdout)

    def test_version(self):
        cp = harness.run(["version"])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"^fedbroker \d+\.\d+\.\d+")
        for lib in ("libevent", "OpenSSL", "jansson", "sqlite"):
            self.assertIn(lib, cp.stdout)
        cp2 = harness.run(["--version"])
        self.assertEqual(cp2.returncode, 0)
        self.assertEqual(cp2.stdout, cp.stdout)

    def test_unknown_subcommand(self):
        cp = harness.run(["frobnicate"])
        self.assertEqual(cp.returncode, 2, cp.stdout + cp.stderr)
        self.assertIn("frobnicate", cp.stderr)
        self.assertEqual(cp.stdout, "", "errors go to stderr")

    def test_no_subcommand(self):
        cp = harness.run([])
        self.assertEqual(cp.returncode, 2)
        self.assertIn("usage", cp.stderr.lower())

    def test_unknown_option(self):
        for args in (["serve", "--no-such-flag"], ["check-config", "--no-such-flag"],
                     ["keys", "list", "--no-such-flag"], ["keys", "frob"]):
            with self.subTest(args=args):
                cp = harness.run(args, timeout=20)
                self.assertNoCrash(cp, " ".join(args))
                self.assertEqual(cp.returncode, 2, "%s: %s%s" % (args, cp.stdout, cp.stderr))
                self.assertNotEqual(cp.stderr.strip(), "", "a usage error says what is wrong")


if __name__ == "__main__":
    harness.main()
