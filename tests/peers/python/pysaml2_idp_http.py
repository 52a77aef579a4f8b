#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""pysaml2 as a running upstream SAML IdP for browser tests: an HTTP server on
127.0.0.1 (a thread) whose /sso takes an HTTP-Redirect AuthnRequest (parsed and
its query signature verified by pysaml2, see pysaml2_idp.IdP.authn_request),
shows a sign-in form (labels Username and Password, button Sign in), and on
the right password answers with an auto-submitting form POSTing pysaml2's
signed Response to the ACS the request named. Users: {name: (password,
name_id, attributes)}."""

import html
import http.server
import os
import secrets
import sys
import threading
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import pysaml2_idp  # noqa: E402

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>%s</title></head>
<body><main><h1>%s</h1>%s</main></body></html>"""


def serve(entity_id, sp_metadata, users, key=None, cert=None):
    """(server, base_url, idp): the IdP at http://127.0.0.1:PORT with the SPs of
    sp_metadata (texts); server.shutdown() and server_close() stop it. The IdP's
    metadata (idp.metadata()) names base_url/sso and base_url/slo."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.idp = pysaml2_idp.IdP(entity_id, base, sp_metadata, key=key, cert=cert)
    httpd.users = users
    httpd.pending = {}
    httpd.log = []
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    return httpd, base, httpd.idp


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        self.server.log.append(fmt % args)

    def reply(self, code, title, body):
        data = (PAGE % (html.escape(title), html.escape(title), body)).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path != "/sso":
            return self.reply(404, "Not found", "")
        try:
            req = self.server.idp.authn_request(u.query)
        except Exception as e:  # a refused request is the test's finding: say why
            return self.reply(400, "Bad request", "<p>%s</p>" % html.escape(repr(e)))
        token = secrets.token_urlsafe(16)
        self.server.pending[token] = req
        form = ('<form method="post" action="/login"><input type="hidden" name="t" value="%s">'
                '<label for="u">Username</label><input id="u" name="username">'
                '<label for="p">Password</label><input id="p" name="password" type="password">'
                '<button type="submit">Sign in</button></form>' % token)
        self.reply(200, "Corp IdP sign-in", form)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        f = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
        req = self.server.pending.pop(f.get("t", ""), None)
        user = self.server.users.get(f.get("username"))
        if req is None or user is None or user[0] != f.get("password"):
            return self.reply(403, "Sign-in failed", "<p>Wrong user or password.</p>")
        _, name_id, attrs = user
        resp = self.server.idp.response(req["issuer"], req["acs"], name_id=name_id,
                                        attributes=attrs, in_response_to=req["id"])
        fields = '<input type="hidden" name="SAMLResponse" value="%s">' % resp
        if req.get("relay_state"):
            fields += '<input type="hidden" name="RelayState" value="%s">' % html.escape(
                req["relay_state"])
        body = ('<form method="post" action="%s">%s<noscript><button type="submit">Continue'
                '</button></noscript></form><script>document.forms[0].submit()</script>'
                % (html.escape(req["acs"]), fields))
        self.reply(200, "Signing in", body)
