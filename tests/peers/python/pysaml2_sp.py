#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A SAML service provider built on Debian's python3-pysaml2 (an implementation
that shares no code with fedbroker): validates Responses and LogoutResponses,
and produces AuthnRequests and LogoutRequests (Redirect and POST, signed or not).

Importable (class SP) and a command line:
    pysaml2_sp.py validate --idp-metadata FILE --entity-id ID --acs URL
                  [--in-response-to ID] [--allow-assertion-only] < SAMLResponse(base64)
prints one JSON verdict (see peer_common) and exits 0 when the library accepted it, 1 if not.
"""

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import peer_common as pc  # noqa: E402

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT  # noqa: E402
from saml2.client import Saml2Client  # noqa: E402
from saml2.config import SPConfig  # noqa: E402
from saml2.metadata import entity_descriptor  # noqa: E402
from saml2.saml import NameID  # noqa: E402
from saml2.samlp import SessionIndex  # noqa: E402

logging.getLogger("saml2").setLevel(logging.CRITICAL)

LIBRARY = "pysaml2"


class SP:
    """One pysaml2 SP trusting one IdP (its metadata as XML text).

    acs: list of (url, binding) -- the first HTTP-POST one is the default.
    key/cert: paths of the SP's signing key and certificate (optional).
    want_response_signed / want_assertions_signed: what the library insists on.
    """

    def __init__(self, entity_id, acs, idp_metadata, slo=None, key=None, cert=None,
                 want_response_signed=True, want_assertions_signed=True, name_id_format=None,
                 authn_requests_signed=False, allow_unsolicited=True, time_slack=0):
        self.entity_id = entity_id
        self.idp_metadata = idp_metadata
        self.tmp = tempfile.mkdtemp(prefix="pysaml2-sp-")
        md_path = os.path.join(self.tmp, "idp.xml")
        if idp_metadata is not None:  # None: only for metadata()
            with open(md_path, "w") as f:
                f.write(idp_metadata)
            self.idp_entity_id = pc.metadata_info(idp_metadata)["entity_id"]
        self.key, self.cert = key, cert
        endpoints = {"assertion_consumer_service": [(u, b) for u, b in acs]}
        if slo:
            endpoints["single_logout_service"] = [(u, b) for u, b in slo]
        sp = {
            "endpoints": endpoints,
            "allow_unsolicited": allow_unsolicited,
            "want_response_signed": want_response_signed,
            "want_assertions_signed": want_assertions_signed,
            "want_assertions_or_response_signed": True,
            "authn_requests_signed": authn_requests_signed,
            "logout_requests_signed": authn_requests_signed,
            "allow_unknown_attributes": True,
        }
        if name_id_format:
            sp["name_id_format"] = [name_id_format]
            sp["name_id_policy_format"] = name_id_format
        cfg = {
            "entityid": entity_id,
            "service": {"sp": sp},
            "xmlsec_binary": pc.XMLSEC1,
            "accepted_time_diff": time_slack,
            "allow_unknown_attributes": True,
        }
        if idp_metadata is not None:
            cfg["metadata"] = {"local": [md_path]}
        if key:
            cfg["key_file"] = key
            cfg["cert_file"] = cert
        self.config = SPConfig()
        self.config.load(cfg)
        self.client = Saml2Client(config=self.config)
        shutil.rmtree(self.tmp, ignore_errors=True)  # the metadata was read by load()
        self.acs = acs
        self.slo = slo

    def metadata(self):
        """This SP's metadata as XML text (for fedbroker's configuration)."""
        return str(entity_descriptor(self.config))

    # ---- responses
    def validate_response(self, b64, in_response_to=None):
        """A verdict on a POSTed SAMLResponse (base64)."""
        try:
            xml = pc.decode_post(b64)
        except Exception as e:  # noqa: BLE001 -- any decode failure is a verdict
            return pc.verdict(LIBRARY, False, error="base64: %s" % e)
        outstanding = {in_response_to: "/"} if in_response_to else None
        try:
            r = self.client.parse_authn_request_response(
                b64 if isinstance(b64, str) else b64.decode(), BINDING_HTTP_POST,
                outstanding=outstanding,
                # Without conv_info pysaml2 skips the Recipient check entirely;
                # with it, Recipient must be one of this SP's ACS URLs.
                conv_info={"entity_id": None})
        except Exception as e:  # noqa: BLE001 -- the library's refusal is the verdict
            return pc.verdict(LIBRARY, False, xml, error="%s: %s" % (type(e).__name__, e))
        if r is None or r.assertion is None:
            # pysaml2 logs the reason (e.g. "Destination not in return_addrs") and
            # hands back nothing verified.
            return pc.verdict(LIBRARY, False, xml, error="response not accepted (Destination "
                              "not an ACS of this SP, InResponseTo or IssueInstant wrong)")
        a = r.assertion
        attrs = {}
        for st in a.attribute_statement:
            for at in st.attribute:
                attrs.setdefault(at.name, []).extend(
                    (v.text or "") for v in at.attribute_value)
        nid = a.subject.name_id
        return pc.verdict(LIBRARY, True, xml,
                          lib_name_id=nid.text if nid is not None else None,
                          lib_name_id_format=nid.format if nid is not None else None,
                          lib_attributes=attrs, lib_issuer=r.issuer())

    # ---- requests
    def authn_request(self, binding=BINDING_HTTP_REDIRECT, sign=False, sig_alg=pc.SIG_RSA_SHA256,
                      digest_alg=pc.DIGEST_SHA256, force_authn=False, is_passive=False,
                      acs_url=None, acs_index=None, relay_state="rs-pysaml2",
                      name_id_format=None, allow_create=None):
        """An AuthnRequest for the IdP's SSO endpoint. Returns a dict:
        id, binding, url (Redirect: the full URL; POST: the form action),
        fields (POST: SAMLRequest/RelayState), xml (the request as produced).
        name_id_format: a NameIDPolicy/@Format; allow_create: True/False for its
        AllowCreate (pysaml2's default is "false"; never sent for transient)."""
        kw = {}
        if name_id_format:
            kw["nameid_format"] = name_id_format
        if allow_create is not None:
            kw["allow_create"] = "true" if allow_create else "false"
        if force_authn:
            kw["force_authn"] = "true"
        if is_passive:
            kw["is_passive"] = "true"
        if acs_url:
            kw["assertion_consumer_service_url"] = acs_url
        response_binding = BINDING_HTTP_POST
        if acs_index is not None:
            kw["assertion_consumer_service_index"] = str(acs_index)
            # SAML2 Core 3.4.1: the Index excludes ProtocolBinding and the URL.
            response_binding = None
        req_id, info = self.client.prepare_for_authenticate(
            entityid=self.idp_entity_id, relay_state=relay_state, binding=binding,
            sign=sign, sigalg=sig_alg if sign else None, digest_alg=digest_alg if sign else None,
            response_binding=response_binding, **kw)
        return self._out(req_id, binding, info, "SAMLRequest")

    def logout_request(self, name_id, name_id_format, session_index=None,
                       binding=BINDING_HTTP_REDIRECT, sign=True, sig_alg=pc.SIG_RSA_SHA256,
                       relay_state="rs-slo"):
        """A LogoutRequest for the IdP's SLO endpoint (same dict as authn_request)."""
        dest = pc.endpoint(pc.metadata_info(self.idp_metadata)["slo"], binding)
        nid = NameID(text=name_id, format=name_id_format)
        si = [SessionIndex(session_index)] if session_index else None
        sign_post = sign if binding == BINDING_HTTP_POST else False
        req_id, req = self.client.create_logout_request(
            dest, self.idp_entity_id, name_id=nid, session_indexes=si, sign=sign_post,
            sign_alg=sig_alg if sign_post else None,
            digest_alg=pc.DIGEST_SHA256 if sign_post else None)
        info = self.client.apply_binding(binding, str(req), dest, relay_state,
                                         sign=sign if binding == BINDING_HTTP_REDIRECT else False,
                                         sigalg=sig_alg if sign else None)
        return self._out(req_id, binding, info, "SAMLRequest")

    def _out(self, req_id, binding, info, param):
        out = {"id": req_id, "binding": binding}
        if binding == BINDING_HTTP_REDIRECT:
            out["url"] = dict(info["headers"])["Location"]
        else:
            import html
            import re
            body = info["data"]
            out["url"] = html.unescape(re.search(r'action="([^"]+)"', body).group(1))
            fields = {}
            for m in re.finditer(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', body):
                fields[m.group(1)] = html.unescape(m.group(2))
            out["fields"] = fields
            out["xml"] = pc.decode_post(fields[param])
        return out

    def validate_logout_response(self, value, binding):
        """A verdict on a LogoutResponse: value is SAMLResponse (POST: base64 XML, whose
        enveloped signature pysaml2 checks when present; Redirect: base64 DEFLATE, parsed
        and checked by pysaml2, whose 7.0 does not verify a Redirect query signature:
        use peer_common.verify_redirect_signature for that)."""
        try:
            xml = (pc.decode_redirect(value) if binding == BINDING_HTTP_REDIRECT
                   else pc.decode_post(value))
        except Exception as e:  # noqa: BLE001
            return pc.verdict(LIBRARY, False, error="decode: %s" % e)
        try:
            r = self.client.parse_logout_request_response(value, binding)
        except Exception as e:  # noqa: BLE001
            return pc.verdict(LIBRARY, False, xml, error="%s: %s" % (type(e).__name__, e))
        if r is None:
            return pc.verdict(LIBRARY, False, xml, error="logout response not accepted (None)")
        return pc.verdict(LIBRARY, True, xml)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate", help="validate a SAMLResponse read from stdin")
    v.add_argument("--idp-metadata", required=True)
    v.add_argument("--entity-id", required=True)
    v.add_argument("--acs", required=True)
    v.add_argument("--in-response-to")
    v.add_argument("--allow-assertion-only", action="store_true",
                   help="accept a response whose only signature is the assertion's")
    a = ap.parse_args(argv)
    sp = SP(a.entity_id, [(a.acs, BINDING_HTTP_POST)], pc.read(a.idp_metadata),
            want_response_signed=not a.allow_assertion_only)
    res = sp.validate_response(sys.stdin.read().strip(), a.in_response_to)
    print(json.dumps(res, indent=1, sort_keys=True))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
