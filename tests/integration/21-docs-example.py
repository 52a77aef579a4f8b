#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""21: the configuration fedbroker.yaml(5) shows as its EXAMPLE is one this
fedbroker accepts (issue 10: it used store.driver postgres, which is not built).
The files and secrets it names live on the machine it was written for, so the
only problems allowed are those: a file that cannot be read, an unset variable.
"""

import os
import re
import subprocess

import harness

MAN = os.path.join(harness.SRCDIR, "man", "fedbroker.yaml.5")
ALLOWED = re.compile(r": (cannot read (secret file )?'[^']+': No such file or directory"
                     r"|environment variable \w+ is not set \(from env:\w+\))$")


def example_yaml():
    """The text between .SH EXAMPLE's .nf and .fi, roff escapes undone."""
    with open(MAN, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^\.SH EXAMPLE\n(?:.*\n)*?\.nf\n((?:.*\n)*?)\.fi\n", text, re.M)
    if m is None:
        raise AssertionError("no .SH EXAMPLE with .nf/.fi in %s" % MAN)
    return m.group(1).replace("\\-", "-").replace("\\(aq", "'").replace("\\\\", "\\")


class DocsExample(harness.TestCase):
    def test_yaml5_example_passes_check_config(self):
        d = self.tmpdir()
        path = os.path.join(d, "fedbroker.yaml")
        with open(path, "w") as f:
            f.write(example_yaml())
        env = dict(os.environ)
        env.pop("FB_SMTP_PASSWORD", None)
        cp = subprocess.run([harness.BIN, "check-config", "--quiet", path], capture_output=True,
                            text=True, timeout=60, env=env)
        self.assertNoCrash(cp, "check-config")
        errors = [line for line in (cp.stdout + cp.stderr).splitlines()
                  if line.startswith(path + ":")]
        self.assertTrue(errors or cp.returncode == 0, cp.stdout + cp.stderr)
        for line in errors:
            self.assertRegex(line, ALLOWED, "the EXAMPLE has a problem beyond the files and "
                             "secrets of its machine:\n" + cp.stdout + cp.stderr)


if __name__ == "__main__":
    harness.main()
