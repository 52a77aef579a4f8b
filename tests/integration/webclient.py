# SPDX-License-Identifier: Apache-2.0
"""A small browser for the sign-in pages: a cookie jar, forms, TOTP codes.

Standard library only (run with /usr/bin/python3). Used by 47-pages.py,
49-recovery-mail.py and bench/login.sh. It keeps one keep-alive connection
and does what a browser does with Set-Cookie (RFC 6265: name=value, Max-Age=0
deletes), but follows no redirect unless asked to.
"""

import base64
import hashlib
import hmac
import html
import http.client
import re
import ssl
import struct
import time
import urllib.parse

FORM_TYPE = "application/x-www-form-urlencoded"


def totp(secret_b32, t=None, step_offset=0, digits=6, period=30):
    """The RFC 6238 code (HMAC-SHA-1) of a base32 secret at time t (now) plus step_offset steps."""
    s = secret_b32.replace(" ", "").upper()
    key = base64.b32decode(s + "=" * (-len(s) % 8))
    counter = int((time.time() if t is None else t) // period) + step_offset
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % (10 ** digits)
    return "%0*d" % (digits, code)


def wait_fresh_step(period=30, margin=2.0):
    """Sleeps, if needed, so that at least margin seconds are left in the current TOTP step."""
    left = period - (time.time() % period)
    if left < margin:
        time.sleep(left + 0.05)


class Page:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.raw = body
        self.text = body.decode("utf-8", "replace")

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def headers_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def location(self):
        return self.header("Location")

    def hidden(self, name):
        """The value of the (first) input called name, unescaped; None when absent."""
        for m in re.finditer(r"<input\b[^>]*>", self.text):
            tag = m.group(0)
            if re.search(r'\bname="%s"' % re.escape(name), tag):
                v = re.search(r'\bvalue="([^"]*)"', tag)
                return html.unescape(v.group(1)) if v else ""
        return None

    def by_id(self, ident):
        """The text content of the element with id ident (tags stripped, unescaped)."""
        m = re.search(r'<(\w+)[^>]*\bid="%s"[^>]*>(.*?)</\1>' % re.escape(ident), self.text, re.S)
        if m is None:
            return None
        return html.unescape(re.sub(r"<[^>]+>", "", m.group(2)))

    def alert(self):
        m = re.search(r'<p class="alert[^"]*" role="(?:alert|status)">(.*?)</p>', self.text, re.S)
        return html.unescape(re.sub(r"<[^>]+>", "", m.group(1))) if m else None

    def title(self):
        m = re.search(r"<h1>(.*?)</h1>", self.text, re.S)
        return html.unescape(re.sub(r"<[^>]+>", "", m.group(1))) if m else None


class Browser:
    def __init__(self, host, port, tls=False, timeout=10.0):
        self.host, self.port, self.tls, self.timeout = host, port, tls, timeout
        self.cookies = {}
        self.set_cookie_lines = []  # every Set-Cookie seen, for attribute checks
        self.extra_headers = {}  # sent with every request (X-Forwarded-For from a "proxy")
        self.conn = None

    def _connect(self):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                               context=ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _store_cookies(self, headers):
        for k, v in headers:
            if k.lower() != "set-cookie":
                continue
            self.set_cookie_lines.append(v)
            parts = [p.strip() for p in v.split(";")]
            name, _, value = parts[0].partition("=")
            attrs = {p.partition("=")[0].lower(): p.partition("=")[2] for p in parts[1:]}
            if attrs.get("max-age") == "0" or value == "":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def request(self, method, path, form=None, body=None, headers=None):
        hdrs = dict(self.extra_headers)
        hdrs.update(headers or {})
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            hdrs.setdefault("Content-Type", FORM_TYPE)
        if self.cookies and "Cookie" not in hdrs:
            hdrs["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 1:
                    raise
        hl = r.getheaders()
        if r.getheader("Connection", "").lower() == "close":
            self.close()
        self._store_cookies(hl)
        return Page(r.status, hl, data)

    def get(self, path, follow=False):
        p = self.request("GET", path)
        n = 0
        while follow and p.status in (302, 303) and n < 10:
            p = self.request("GET", p.location)
            n += 1
        return p

    def post(self, path, fields, follow=False):
        p = self.request("POST", path, form=fields)
        n = 0
        while follow and p.status in (302, 303) and n < 10:
            p = self.request("GET", p.location)
            n += 1
        return p

    def submit(self, page, path, fields, follow=False):
        """Posts fields with the csrf and next hidden fields of page (a Page with the form)."""
        f = {"csrf": page.hidden("csrf"), "next": page.hidden("next") or "/"}
        f.update(fields)
        return self.post(path, f, follow=follow)

    def login(self, username, password, next_path=None, follow=False):
        """GET /login then POST it; returns the POST's answer (or the followed page)."""
        form = self.get("/login" + ("?next=" + urllib.parse.quote(next_path, safe="")
                                    if next_path else ""))
        return self.submit(form, "/login", {"username": username, "password": password},
                           follow=follow)
