#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""48: the sign-in pages end to end in headless Chromium, with axe-core (48-browser.mjs).

Needs Debian's chromium (/usr/bin/chromium), node, and the pinned npm packages of
tests/peers (`npm ci` there); skipped with the install command when one is missing.
Screenshots and the axe report go to tests/artifacts/STORE/ (git-ignored).
"""

import glob
import os
import subprocess

import harness

PEERS = harness.PEERS
ARTIFACTS = harness.ARTIFACTS
DRIVER = os.path.join(harness.HERE, "48-browser.mjs")


def missing_peers():
    return harness.missing_browser_peers(("playwright-core", "axe-core"))


class Browser(harness.TestCase):
    def test_sign_in_enrol_sign_out_sign_in(self):
        need = missing_peers()
        if need:
            raise harness.peer_missing("browser peers missing: " + "; ".join(need))
        srv = self.server(conf={
            "local": {"password": {"time_cost": 1, "memory_kib": 1024}},
            "groups": [{"name": "superusers", "require_mfa": True, "members": ["admin"]}],
            "branding": {"organization": "Example Corp"},
        }, workers=2)
        srv.conf["server"]["public_url"] = "http://127.0.0.1:%d" % srv.port
        srv.write_config(srv.conf)
        srv.start()
        # The bootstrap administrator's generated password, from its one log line.
        line = srv.wait_log(lambda l: "cat=bootstrap" in l and "password=" in l, timeout=5)
        self.assertIsNotNone(line, "no bootstrap line in the log\n" + srv.logs())
        password = harness.parse_log_line(line)["password"]
        self.assertGreaterEqual(len(password), 12)
        cp = subprocess.run([harness.BIN, "user", "recovery-link", "admin", "--config",
                             srv.config, "--state-dir", srv.state_dir],
                            capture_output=True, text=True, timeout=60)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        recovery = cp.stdout[cp.stdout.index("/recover?token="):].split()[0]
        os.makedirs(ARTIFACTS, exist_ok=True)
        for old in glob.glob(os.path.join(ARTIFACTS, "48-*")):
            os.remove(old)
        env = dict(os.environ, FB_BASE_URL="http://127.0.0.1:%d" % srv.port, FB_USER="admin",
                   FB_PASSWORD=password, FB_PEERS=PEERS, FB_ARTIFACTS=ARTIFACTS,
                   FB_RECOVERY_PATH=recovery)
        p = subprocess.run(["node", DRIVER], env=env, capture_output=True, text=True,
                           timeout=300)
        out = p.stdout + "".join(l + "\n" for l in p.stderr.splitlines()
                                 if "unexpected operator" not in l)
        print("\n" + out)
        self.assertEqual(p.returncode, 0, out + "\n" + srv.logs())
        self.assertIn("browser: all steps passed", p.stdout)
        shots = glob.glob(os.path.join(ARTIFACTS, "48-*.png"))
        self.assertGreaterEqual(len(shots), 20, shots)
        srv.stop()


if __name__ == "__main__":
    harness.main()
