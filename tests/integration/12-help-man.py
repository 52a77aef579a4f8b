#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""12: the manual pages match the binary: every command and option that a
--help prints is in fedbroker(8) (its SYNOPSIS line, its COMMANDS entry) and
every one there exists; fedbroker.yaml(5) names every configuration section;
fedbroker-mapping(7) lists every shipped rule; the pages agree on date and
version with `fedbroker version`. A failure says exactly what is missing where."""

import os
import re

import harness

MAN = os.path.join(harness.SRCDIR, "man")
# Options every command takes, documented once in fedbroker(8) OPTIONS.
HELP = "--help"
COMMON = {"--config", "--state-dir", "--init"}
COMMON_MARK = r"common\-options"


def read(name):
    with open(os.path.join(MAN, name), encoding="utf-8") as f:
        return f.read()


def section(page, title):
    """The text of page's .SH title, up to the next .SH."""
    m = re.search(r"^\.SH %s\n(.*?)(?=^\.SH |\Z)" % re.escape(title), page, re.S | re.M)
    return m.group(1) if m else ""


def plain(troff):
    """troff without font escapes and with plain dashes."""
    t = re.sub(r"\\f[BIRP]", "", troff).replace("\\-", "-").replace('"', "")
    return re.sub(r"^\.[A-Z]+ ?", "", t, flags=re.M)


def help_of(args):
    cp = harness.run(list(args) + ["--help"])
    if cp.returncode != 0:
        raise AssertionError("fedbroker %s --help: exit %d\n%s" % (" ".join(args),
                                                                  cp.returncode, cp.stderr))
    return cp.stdout


def commands_in(help_text):
    """The names of the 'commands:' section of a --help."""
    m = re.search(r"^commands:\n((?:  \S.*\n)+)", help_text, re.M)
    return [l.split()[0] for l in m.group(1).splitlines()] if m else []


def options_in(help_text):
    """Long options of a --help: its usage lines and its option lines."""
    opts = set()
    usage = re.match(r"usage:.*?(?:\n\n|\Z)", help_text, re.S)
    if usage:
        opts |= set(re.findall(r"(--[a-z][a-z-]*)", usage.group(0)))
    for line in help_text.splitlines():
        m = re.match(r"^\s+(?:-\w, )?(--[a-z][a-z-]*)", line)
        if m:
            opts.add(m.group(1))
    return opts - {HELP}


def leaf_commands(prefix=()):
    """{"keys list": options, "serve": options, "oidc client show": options, ...} from
    the binary's --help texts, following commands of commands to any depth."""
    out = {}
    h = help_of(list(prefix))
    subs = commands_in(h)
    if prefix and not subs:
        out[" ".join(prefix)] = options_in(h)
    for sub in subs:
        out.update(leaf_commands(tuple(prefix) + (sub,)))
    return out


def synopsis_entries(page):
    """{"keys list": options} from fedbroker(8) SYNOPSIS (entries split by .br)."""
    out = {}
    for entry in section(page, "SYNOPSIS").split(".br\n"):
        first = entry.strip().splitlines()[0] if entry.strip() else ""
        m = re.match(r"\.B fedbroker (.+)$", first)
        if not m:
            continue
        cmd = plain(m.group(1)).strip()
        opts = {"--" + o.replace("\\-", "-") for o in re.findall(r"\\-\\-([a-z](?:[a-z]|\\-)*)",
                                                                     entry)}
        if COMMON_MARK in entry:
            opts |= COMMON
        out[cmd] = opts
    return out


class HelpMatchesMan(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.page = read("fedbroker.8")

    def test_every_command_and_option(self):
        binary = leaf_commands()
        man = synopsis_entries(self.page)
        self.assertIn("keys activate", binary, "the command list is read from --help")
        problems = []
        for cmd in sorted(binary):
            if cmd not in man:
                problems.append("fedbroker(8) SYNOPSIS: no line for 'fedbroker %s' (it is in "
                                "'fedbroker %s --help')" % (cmd, cmd.split()[0]))
                continue
            for o in sorted(binary[cmd] - man[cmd]):
                problems.append("fedbroker(8) SYNOPSIS, line 'fedbroker %s': %s is missing "
                                "(it is in 'fedbroker %s --help')%s" % (
                                    cmd, o, cmd,
                                    "; or write [common-options]" if o in COMMON else ""))
            for o in sorted(man[cmd] - binary[cmd]):
                problems.append("fedbroker(8) SYNOPSIS, line 'fedbroker %s': %s is not an "
                                "option of the binary ('fedbroker %s --help' does not list it)"
                                % (cmd, o, cmd))
        for cmd in sorted(set(man) - set(binary)):
            problems.append("fedbroker(8) SYNOPSIS: 'fedbroker %s' is not a command of the "
                            "binary (no --help lists it)" % cmd)
        # Each command has its entry in COMMANDS (a .TP heading naming it).
        headings = [plain(m) for m in re.findall(r"^\.TP\n(.+)$", section(self.page, "COMMANDS"),
                                                 re.M)]
        for cmd in sorted(binary):
            if not any(re.search(r"(^|[\s,])%s(\s|,|$)" % re.escape(cmd), h) for h in headings):
                problems.append("fedbroker(8) COMMANDS: no .TP entry names '%s' (add "
                                "'.TP' then '.B %s' and what it does)" % (cmd, cmd.replace("-", "\\-")))
        if problems:
            self.fail("the manual and --help disagree:\n  " + "\n  ".join(problems))

    def test_common_options_documented(self):
        opts = section(self.page, "OPTIONS")
        for o in sorted(COMMON | {HELP}):
            self.assertIn(o.replace("-", "\\-"), opts,
                          "fedbroker(8) OPTIONS does not describe %s" % o)

    def test_see_also(self):
        see = section(self.page, "SEE ALSO")
        for ref in (r".BR fedbroker.yaml (5)", r".BR fedbroker\-mapping (7)"):
            self.assertIn(ref, see, "fedbroker(8) SEE ALSO lacks %s" % ref)

    def test_keys_help_describes_rollover(self):
        h = help_of(["keys"])
        self.assertEqual(commands_in(h), ["list", "generate", "activate", "retire"], h)
        for word in ("activate", "retire", "published"):
            self.assertIn(word, help_of(["keys", "generate"]) + h)

    def test_token_help_promises_no_missing_api(self):
        for args in (["token"], ["token", "create"]):
            h = help_of(args)
            self.assertNotIn("/api/v1", h, "fedbroker %s --help names an API that does not "
                             "exist" % " ".join(args))
        self.assertNotIn("/api/v1", self.page)

    def test_yaml5_names_every_section(self):
        """The sections come from the binary: check-config lists them for an unknown key."""
        d = self.tmpdir()
        conf = self.write(os.path.join(d, "c.yaml"), "zzz_unknown: 1\n")
        cp = harness.run(["check-config", conf])
        m = re.search(r"known here: ([a-z_, ]+)\)", cp.stdout + cp.stderr)
        self.assertIsNotNone(m, cp.stdout + cp.stderr)
        sections = [s.strip() for s in m.group(1).split(",")]
        page = read("fedbroker.yaml.5")
        intro = page[:page.index(".SH", page.index(".SH DESCRIPTION") + 1)]
        missing = [s for s in sections if not re.search(r"^\.BR? %s( ,| \.|$)" % re.escape(s),
                                                         intro, re.M)]
        self.assertEqual(missing, [], "fedbroker.yaml(5) DESCRIPTION does not list the "
                         "sections %s (the binary knows: %s)" % (missing, sections))
        for s in sections:
            self.assertRegex(page, r"(?m)^\.(SS|SH) %s\b|^\.B %s\b" % (s, s),
                             "fedbroker.yaml(5) has no part on %s" % s)

    def test_mapping7_lists_every_shipped_rule(self):
        page = read("fedbroker-mapping.7")
        files = section(page, "FILES")
        rules = sorted(f for f in os.listdir(os.path.join(harness.SRCDIR, "mappings"))
                       if f.endswith(".py"))
        self.assertTrue(rules)
        missing = [r for r in rules if ".I mappings/%s" % r not in files]
        self.assertEqual(missing, [], "fedbroker-mapping(7) FILES lacks %s" % missing)
        listed = re.findall(r"^\.I mappings/(\S+\.py)$", files, re.M)
        gone = [r for r in listed if r not in rules]
        self.assertEqual(gone, [], "fedbroker-mapping(7) FILES lists rules not shipped")

    def test_dates_and_versions_agree(self):
        cp = harness.run(["version"])
        version = re.match(r"fedbroker (\S+)", cp.stdout).group(1)
        ths = {}
        for name in ("fedbroker.8", "fedbroker.yaml.5", "fedbroker-mapping.7"):
            m = re.search(r'^\.TH \S+ \d "([0-9-]+)" "fedbroker ([^"]+)"', read(name), re.M)
            self.assertIsNotNone(m, "%s: .TH needs \"DATE\" \"fedbroker VERSION\"" % name)
            ths[name] = m.groups()
        self.assertEqual({v for _, v in ths.values()}, {version},
                         "man page versions %s, binary %s" % (ths, version))
        self.assertEqual(len({d for d, _ in ths.values()}), 1,
                         "the pages carry different dates: %s" % ths)


if __name__ == "__main__":
    harness.main()
