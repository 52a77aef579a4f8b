#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The SCIM peer itself (tests/peers/scim/server.mjs): the AWS IAM Identity Center rules it
enforces (shared/notes/aws.md C) and its faults, so that a push test passing against it
means something. Each rule is checked on the refusal and on the accepted shape."""

import os
import socket
import sys
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from scimpeer import Peer, aws_user  # noqa: E402

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def patch(*ops):
    return {"schemas": [PATCH], "Operations": list(ops)}


class AwsRules(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.peer = Peer(self)

    def assertAwsError(self, st, body, status):
        self.assertEqual(st, status, body)
        self.assertEqual(body["status"], str(status))  # a string, as AWS sends it
        self.assertIn("schema", body)                  # AWS's extra key
        self.assertIn("detail", body)

    def users(self, n):
        ids = []
        for i in range(n):
            st, _, b = self.peer.request("POST", "/Users", aws_user("u%03d@example.com" % i))
            self.assertEqual(st, 201, b)
            ids.append(b["id"])
        return ids

    def test_users(self):
        st, _, b = self.peer.request("POST", "/Users", aws_user("ann@example.com"))
        self.assertEqual(st, 201, b)
        # A duplicate userName (any case) is a 409 in AWS's shape.
        st, _, e = self.peer.request("POST", "/Users", aws_user("ANN@example.com"))
        self.assertAwsError(st, e, 409)
        self.assertEqual(e["detail"], "Refused to create a new, duplicate resource.")
        for bad in (aws_user("p@example.com", photos=[{"value": "https://x/p.png"}]),
                    aws_user("p@example.com", password="x"),
                    aws_user("p@example.com", displayName=""),
                    aws_user("p@example.com", name={"givenName": "P"}),
                    aws_user("p@example.com", emails=[{"value": "p@example.com"},
                                                      {"value": "q@example.com"}]),
                    aws_user("p@example.com", emails=[{"value": "p@example.com"}])):
            st, _, e = self.peer.request("POST", "/Users", bad)
            self.assertAwsError(st, e, 400)
        # Filters: quoted eq only.
        st, _, b = self.peer.request("GET", '/Users?filter=userName%20eq%20%22ann@example.com%22')
        self.assertEqual((st, b["totalResults"]), (200, 1))
        st, _, e = self.peer.request("GET", "/Users?filter=userName%20eq%20ann@example.com")
        self.assertAwsError(st, e, 400)
        st, _, e = self.peer.request("GET", '/Users?filter=userName%20co%20%22ann%22')
        self.assertAwsError(st, e, 400)
        # A wrong token: 401.
        st, _, e = self.peer.request("GET", "/Users", token="wrong")
        self.assertAwsError(st, e, 401)
        # No Bulk.
        st, _, e = self.peer.request("POST", "/Bulk", {})
        self.assertAwsError(st, e, 404)

    def test_groups(self):
        ids = self.users(101)
        # At most 100 members in a CreateGroup.
        st, _, e = self.peer.request("POST", "/Groups", {
            "schemas": [GROUP], "displayName": "big",
            "members": [{"value": i} for i in ids]})
        self.assertAwsError(st, e, 400)
        st, _, g = self.peer.request("POST", "/Groups", {
            "schemas": [GROUP], "displayName": "big", "members": [{"value": ids[0]}]})
        self.assertEqual(st, 201, g)
        st, _, e = self.peer.request("POST", "/Groups", {"schemas": [GROUP], "displayName": "big"})
        self.assertAwsError(st, e, 409)
        gid = g["id"]
        # Members are never returned.
        st, _, b = self.peer.request("GET", "/Groups/" + gid)
        self.assertEqual((st, b.get("members", [])), (200, []))
        st, _, b = self.peer.request("GET", "/Groups")
        self.assertEqual(b["Resources"][0].get("members", []), [])
        # No PUT, no replace of members, no path-less multi-attribute op, no more than 100.
        st, _, e = self.peer.request("PUT", "/Groups/" + gid, {"schemas": [GROUP],
                                                                "displayName": "big"})
        self.assertAwsError(st, e, 400)
        st, _, e = self.peer.request("PATCH", "/Groups/" + gid, patch(
            {"op": "replace", "path": "members", "value": [{"value": ids[1]}]}))
        self.assertAwsError(st, e, 400)
        self.assertEqual(e["detail"], "Replacing group memberships is not supported.")
        st, _, e = self.peer.request("PATCH", "/Groups/" + gid, patch(
            {"op": "replace", "value": {"displayName": "x", "externalId": "y"}}))
        self.assertAwsError(st, e, 400)
        st, _, e = self.peer.request("PATCH", "/Groups/" + gid, patch(
            {"op": "add", "path": "members", "value": [{"value": i} for i in ids[1:]]},
            {"op": "remove", "path": "members", "value": [{"value": ids[0]}]}))
        self.assertAwsError(st, e, 400)
        # The accepted shapes: add/remove with path "members", <= 100; replace displayName.
        st, _, b = self.peer.request("PATCH", "/Groups/" + gid, patch(
            {"op": "add", "path": "members", "value": [{"value": i} for i in ids[1:]]}))
        self.assertEqual(st, 204, b)
        st, _, b = self.peer.request("PATCH", "/Groups/" + gid, patch(
            {"op": "remove", "path": "members", "value": [{"value": ids[0]}]},
            {"op": "replace", "path": "displayName", "value": "bigger"}))
        self.assertEqual(st, 204, b)
        g = [g for g in self.peer.state()["groups"] if g["id"] == gid][0]
        self.assertEqual(g["displayName"], "bigger")
        self.assertEqual(sorted(m["value"] for m in g["members"]), sorted(ids[1:]))

    def test_cursor_paging(self):
        ids = self.users(150)
        seen, cursor, pages = [], "", 0
        while True:
            st, _, b = self.peer.request("GET", "/Users?count=500&cursor=" + cursor)
            self.assertEqual(st, 200, b)
            self.assertLessEqual(len(b["Resources"]), 100)
            seen += [u["id"] for u in b["Resources"]]
            pages += 1
            if "nextCursor" not in b:
                break
            cursor = b["nextCursor"]
        self.assertEqual((pages, sorted(seen)), (2, sorted(ids)))

    def test_faults(self):
        self.peer.fault("429", match="POST /Users", retry_after=3)
        st, hdr, e = self.peer.request("POST", "/Users", aws_user("a@example.com"))
        self.assertAwsError(st, e, 429)
        self.assertEqual(hdr.get("Retry-After"), "3")
        self.peer.fault("500", match="GET")
        st, _, e = self.peer.request("GET", "/Users")
        self.assertAwsError(st, e, 500)
        # Dropped after commit: no answer, yet the user exists.
        self.peer.fault("drop", match="POST /Users")
        with self.assertRaises((urllib.error.URLError, ConnectionError, socket.error)):
            self.peer.request("POST", "/Users", aws_user("b@example.com"))
        names = [u["userName"] for u in self.peer.state()["users"]]
        self.assertEqual(names, ["b@example.com"])
        st, _, b = self.peer.request("POST", "/Users", aws_user("b@example.com"))
        self.assertEqual(st, 409, b)
        self.assertEqual(self.peer.state()["writes"], 1)


if __name__ == "__main__":
    harness.main()
