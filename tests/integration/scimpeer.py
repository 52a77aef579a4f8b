# SPDX-License-Identifier: Apache-2.0
"""The SCIM 2.0 target of the integration tests (tests/peers/scim/server.mjs: npm's
scimmy and scimmy-routers enforcing AWS IAM Identity Center's rules, with fault
injection), started on a loopback port and stopped at the test's cleanup."""

import json
import os
import select
import shutil
import subprocess
import urllib.error
import urllib.request

import harness

SERVER = os.path.join(harness.PEERS, "scim", "server.mjs")
TOKEN = "scim-test-token"


class Peer:
    """server.mjs on a loopback port; its admin endpoint drives faults and shows state."""

    def __init__(self, tc, generic=False, token=TOKEN):
        if shutil.which("node") is None or not os.path.isdir(
                os.path.join(harness.PEERS, "node_modules", "scimmy-routers")):
            raise harness.peer_missing("node and tests/peers' scimmy, scimmy-routers "
                                       "(apt-get install nodejs npm; cd tests/peers && npm ci)")
        self.tc = tc
        self.token = token
        self.log = open(os.path.join(tc.tmpdir(), "scim-peer.log"), "wb")  # noqa: R1732
        tc.addCleanup(self.stop)
        args = ["node", SERVER, "--token", token] + (["--generic"] if generic else [])
        self.proc = subprocess.Popen(args, cwd=harness.PEERS,  # noqa: R1732 (stopped at cleanup)
                                     stdout=subprocess.PIPE, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline().decode() if ready else ""
        self.proc.stdout.close()
        tc.assertTrue(line.startswith("READY "), "the SCIM peer did not start: %r" % line)
        self.port = int(line.split()[1])
        self.base = "http://127.0.0.1:%d" % self.port
        self.url = self.base + "/scim/v2"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()

    def request(self, method, path, body=None, token=None, raw=None):
        """(status, headers, parsed JSON or None) of one SCIM request."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", "Bearer %s" % (token or self.token))
        if data is not None:
            req.add_header("Content-Type", "application/scim+json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read()
                return r.status, dict(r.headers), json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read()
            return e.code, dict(e.headers), json.loads(text) if text else None

    def admin(self, path, body=None):
        req = urllib.request.Request(self.base + "/_admin/" + path,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     method="POST" if body is not None else "GET")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def state(self):
        return self.admin("state")

    def fault(self, kind, match="", count=1, **kw):
        return self.admin("fault", dict(kind=kind, match=match, count=count, **kw))

    def seed(self, users=(), groups=()):
        return self.admin("seed", {"users": list(users), "groups": list(groups)})


def aws_user(email, given="Given", family="Family", **extra):
    """A User body that AWS accepts."""
    u = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email,
         "displayName": "%s %s" % (given, family),
         "name": {"givenName": given, "familyName": family},
         "emails": [{"value": email, "type": "work", "primary": True}], "active": True}
    u.update(extra)
    return u
