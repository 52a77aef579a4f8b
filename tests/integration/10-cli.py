#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""10: the command line: --help everywhere, version, unknown subcommand, usage errors;
no command but serve (or --init) creates a store."""

import os

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

    # Every command with subcommands, and each of its subcommands.
    GROUPS = {
        "keys": ["list", "generate", "activate", "retire"],
        "map": ["test", "check"],
        "user": ["add", "list", "show", "set-password", "disable", "enable", "delete",
                 "recovery-link", "reset-mfa"],
        "token": ["create", "list", "revoke"],
        "metadata": ["export", "import", "show"],
        "aws": ["trust-policy"],
    }

    def test_every_subcommand_help(self):
        for cmd, subs in self.GROUPS.items():
            for args in [[cmd, "help"], [cmd, "-h"]] + [[cmd, sub, "--help"] for sub in subs]:
                with self.subTest(args=args):
                    cp = self.check_help(args)
                    self.assertIn("usage: fedbroker " + " ".join(args[:2] if len(args) == 3
                                                                  else args[:1]), cp.stdout)
                    self.assertEqual(cp.stderr, "")
        cp = self.check_help(["explain", "--help"])
        self.assertIn("usage: fedbroker explain", cp.stdout)

    def test_group_usage_errors(self):
        """The same words and statuses from every command: no subcommand, an unknown one."""
        for cmd in self.GROUPS:
            with self.subTest(cmd=cmd):
                cp = harness.run([cmd])
                self.assertEqual(cp.returncode, 2, cp.stderr)
                self.assertTrue(cp.stderr.startswith("usage: fedbroker %s <command>" % cmd),
                                cp.stderr)
                self.assertEqual(cp.stdout, "")
                cp = harness.run([cmd, "frob"])
                self.assertEqual(cp.returncode, 2, cp.stderr)
                self.assertTrue(cp.stderr.startswith(
                    "fedbroker %s: unknown command 'frob'\n\nusage: fedbroker %s <command>"
                    % (cmd, cmd)), cp.stderr)
                self.assertEqual(cp.stdout, "")

    def test_option_usage_errors(self):
        """A bad option names itself and points at the subcommand's --help, exit 2."""
        for args, msg in (
                (["keys", "list", "--no-such-flag"], "unknown option --no-such-flag"),
                (["keys", "list", "-x"], "unknown option -x"),
                (["keys", "list", "--json=1"], "--json=1: the option takes no value"),
                (["keys", "list", "extra"], "unexpected argument 'extra'"),
                (["user", "list", "--name", "x"], "unknown option --name"),
                (["user", "show"], "the user NAME is missing"),
                (["token", "revoke"], "the token ID is missing"),
                (["token", "create", "--user"], "--user needs an argument"),
                (["metadata", "show"], "the metadata FILE or URL is missing"),
                (["metadata", "import", "x.xml", "--state-dir", "/tmp"],
                 "unknown option --state-dir"),
                (["map", "test"], "which mapping? give a NAME or a PATH"),
                (["map", "test", "m", "-u"], "-u needs an argument"),
                (["map", "check", "extra"], "unexpected argument 'extra'"),
                (["explain", "--sp", "aws"], "--user NAME and --sp SP are both required"),
                (["aws", "trust-policy", "-c"], "-c needs an argument")):
            with self.subTest(args=args):
                cp = harness.run(args)
                self.assertNoCrash(cp, " ".join(args))
                self.assertEqual(cp.returncode, 2, cp.stdout + cp.stderr)
                sub = " ".join(args[:1] if args[0] == "explain" else args[:2])
                self.assertEqual(cp.stderr, "fedbroker %s: %s\n(see 'fedbroker %s --help')\n"
                                 % (sub, msg, sub))
                self.assertEqual(cp.stdout, "")



def tree(d):
    """Every path under d (relative), for "nothing was created" checks."""
    out = []
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(root, n), d))
    return sorted(out)


class NoAccidentalStore(harness.TestCase):
    """Only `serve` or --init creates state: a command pointed at the wrong place says so."""

    # Commands that open the store (and keys generate, which writes the state directory).
    COMMANDS = (["user", "list"], ["user", "add", "ann"], ["user", "show", "ann"],
                ["user", "disable", "ann"], ["token", "list"],
                ["token", "create", "--user", "ann"], ["token", "revoke", "t1"],
                ["keys", "generate"])

    def test_missing_state_dir_is_refused_and_not_created(self):
        d = self.tmpdir()
        state = os.path.join(d, "state")
        conf = self.write(os.path.join(d, "fedbroker.yaml"),
                          harness.to_yaml({"server": {"state_dir": state}}) + "\n")
        before = tree(d)
        for args in self.COMMANDS:
            with self.subTest(args=args):
                cp = harness.run(args + ["--config", conf], env={"FEDBROKER_CONFIG": None})
                self.assertNoCrash(cp, " ".join(args))
                self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
                self.assertIn(state, cp.stderr, "names the path it would have created")
                self.assertIn(conf, cp.stderr, "names the configuration it read")
                for hint in ("--config", "--state-dir", "--init", "fedbroker serve"):
                    self.assertIn(hint, cp.stderr)
                self.assertEqual(tree(d), before, "nothing created on disk")
        # Read-only commands fail on the missing keys or store, and create nothing either.
        for args in (["explain", "--user", "ann", "--sp", "aws"], ["keys", "list"],
                     ["keys", "activate", "k1"], ["keys", "retire", "k1"],
                     ["metadata", "export"]):
            with self.subTest(args=args):
                cp = harness.run(args + ["--config", conf], env={"FEDBROKER_CONFIG": None})
                self.assertNoCrash(cp, " ".join(args))
                self.assertIn(cp.returncode, (0, 1), cp.stdout + cp.stderr)
                self.assertIn(state, cp.stdout + cp.stderr, "says where it looked")
                self.assertEqual(tree(d), before, "nothing created on disk")

    def test_missing_store_in_existing_state_dir(self):
        d = self.tmpdir()
        cp = harness.run(["user", "list", "--state-dir", d], env={"FEDBROKER_CONFIG": None})
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn(os.path.join(d, "fedbroker.db"), cp.stderr)
        self.assertIn("built-in defaults", cp.stderr, "says no configuration file was read")
        self.assertEqual(tree(d), [], "no store file created")

    def test_default_state_dir_untouched(self):
        """No --config, no $FEDBROKER_CONFIG: the built-in /var/lib/fedbroker is not created."""
        default = "/var/lib/fedbroker"
        existed = os.path.exists(os.path.join(default, "fedbroker.db"))
        if existed:
            self.skipTest("%s holds a store on this machine" % default)
        had_dir = os.path.isdir(default)
        cp = harness.run(["user", "list"], env={"FEDBROKER_CONFIG": None})
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn(os.path.join(default, "fedbroker.db"), cp.stderr)
        self.assertFalse(os.path.exists(os.path.join(default, "fedbroker.db")))
        self.assertEqual(os.path.isdir(default), had_dir, "the directory was not created")

    def test_init_creates_then_plain_commands_work(self):
        d = self.tmpdir()
        state = os.path.join(d, "state")
        cp = harness.run(["user", "list", "--state-dir", state, "--init"],
                         env={"FEDBROKER_CONFIG": None})
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertTrue(os.path.exists(os.path.join(state, "fedbroker.db")))
        cp = harness.run(["user", "list", "--state-dir", state], env={"FEDBROKER_CONFIG": None})
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        cp = harness.run(["keys", "generate", "--state-dir", state],
                         env={"FEDBROKER_CONFIG": None})
        self.assertEqual(cp.returncode, 0, "an existing state directory takes keys: " +
                         cp.stdout + cp.stderr)


if __name__ == "__main__":
    harness.main()
