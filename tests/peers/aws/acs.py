#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""An AWS stand-in ACS: a tiny HTTP server that receives a POSTed SAMLResponse
(application/x-www-form-urlencoded, as a browser's auto-submitted form sends
it), has a real SAML library validate it against the IdP metadata, enforces
AWS's documented rules (aws_rules.py, from notes/aws.md) and answers
    200 {"ok": true, "checks": {...}, "name_id": ..., "roles": [...], ...}
or  400 {"ok": false, "rule": "<rule>", "error": "<rule>: reason", ...}
GET /verdicts returns every verdict so far (a JSON list); GET / a short page.

    acs.py --idp-metadata FILE|URL [--port 0] [--path /saml] [--mode classic|identity-center]
           [--library pysaml2|onelogin|node-saml] [--entity-id ID] [--acs-url URL]
           [--user NAME]...

--acs-url is what Destination and Recipient must equal (default: the URL this
server listens on plus --path). The first stdout line is
"aws-standin: listening on http://127.0.0.1:PORT/PATH". Runs until killed.
Run with /usr/bin/python3.
"""

import argparse
import http.server
import json
import os
import sys
import threading
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import aws_rules  # noqa: E402

MAX_BODY = 1 << 20


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "aws-standin/1"

    def log_message(self, fmt, *args):  # quiet: the verdicts are the log
        pass

    def _send(self, status, obj, ctype="application/json"):
        body = (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode() \
            if ctype == "application/json" else obj.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype + "; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        st = self.server.state
        if self.path == "/verdicts":
            with st["lock"]:
                return self._send(200, list(st["verdicts"]))
        return self._send(200, "<!doctype html><title>AWS stand-in</title>"
                          "<p>POST a SAMLResponse to %s</p>\n" % st["path"], "text/html")

    def do_POST(self):
        st = self.server.state
        path = urllib.parse.urlsplit(self.path).path
        acs_url = st["acs_url"]
        if isinstance(acs_url, list):
            base = "http://127.0.0.1:%d" % self.server.server_address[1]
            if base + path not in acs_url:
                return self._send(404, {"ok": False, "rule": "endpoint",
                                        "error": "endpoint: no ACS at %s" % self.path})
            acs_url = base + path
        elif path != st["path"]:
            return self._send(404, {"ok": False, "rule": "endpoint",
                                    "error": "endpoint: no ACS at %s" % self.path})
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            return self._send(413, {"ok": False, "rule": "size", "error": "size: body too large"})
        form = urllib.parse.parse_qs(self.rfile.read(n).decode("utf-8", "replace"),
                                     keep_blank_values=True)
        b64 = (form.get("SAMLResponse") or [None])[0]
        if b64 is None:
            v = {"ok": False, "rule": "form", "error": "form: no SAMLResponse field"}
        else:
            v = aws_rules.check(b64, st["idp_metadata"], mode=st["mode"], acs=acs_url,
                                entity_id=st["entity_id"], library=st["library"],
                                known_users=st["users"])
        v["relay_state"] = (form.get("RelayState") or [None])[0]
        with st["lock"]:
            st["verdicts"].append(v)
        self._send(200 if v["ok"] else 400, v)


def load_metadata(src):
    if src.startswith("http://") or src.startswith("https://"):
        with urllib.request.urlopen(src, timeout=10) as r:
            return r.read().decode("utf-8")
    with open(src, encoding="utf-8") as f:
        return f.read()


def serve(idp_metadata, port=0, path="/saml", mode="classic", library="pysaml2",
          entity_id=None, acs_url=None, users=None):
    """Starts the stand-in in a thread; returns (server, URL of the ACS). Stop: srv.shutdown().
    srv.state["idp_metadata"] may be replaced later (the IdP may start after the stand-in);
    acs_url may be a list (several ACS paths of one SP: /acs0, /acs1 ...): the posted-to
    URL must then be one of them and Destination/Recipient must equal it."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    url = "http://127.0.0.1:%d%s" % (srv.server_address[1], path)
    srv.state = {"path": path, "mode": mode, "library": library, "lock": threading.Lock(),
                 "entity_id": entity_id or (aws_rules.CLASSIC_AUDIENCES[0]
                                            if mode == "classic" else None),
                 "acs_url": acs_url or url, "users": users, "verdicts": []}
    srv.state["idp_metadata"] = idp_metadata
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv, url


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--idp-metadata", required=True, help="file or http(s) URL")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--path", default="/saml")
    ap.add_argument("--mode", choices=("classic", "identity-center"), default="classic")
    ap.add_argument("--library", choices=("pysaml2", "onelogin", "node-saml"),
                    default="pysaml2")
    ap.add_argument("--entity-id")
    ap.add_argument("--acs-url")
    ap.add_argument("--user", action="append", help="an Identity Center userName")
    a = ap.parse_args(argv)
    if a.mode == "identity-center" and not a.entity_id:
        ap.error("--entity-id is required with --mode identity-center")
    srv, url = serve(load_metadata(a.idp_metadata), a.port, a.path, a.mode, a.library,
                     a.entity_id, a.acs_url, a.user)
    print("aws-standin: listening on %s" % url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    srv.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
