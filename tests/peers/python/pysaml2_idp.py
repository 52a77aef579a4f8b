#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A reference IdP built on pysaml2, used only to test the peers themselves
(61-saml-peers.py): it issues known-good Responses, and variants that each
break one rule, so the validators and the AWS stand-in are shown to accept
good input and reject bad input before they judge fedbroker.
"""

import atexit
import os
import re
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import peer_common as pc  # noqa: E402

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT  # noqa: E402
from saml2.config import IdPConfig  # noqa: E402
from saml2.metadata import entity_descriptor  # noqa: E402
from saml2.saml import NameID  # noqa: E402
from saml2.server import Server  # noqa: E402


class IdP:
    """entity_id, base URL for endpoints, and a list of SP metadata texts."""

    def __init__(self, entity_id, base_url, sp_metadata, key=None, cert=None, lifetime=None,
                 want_authn_requests_signed=False):
        self.tmp = tempfile.mkdtemp(prefix="pysaml2-idp-")
        atexit.register(shutil.rmtree, self.tmp, True)  # xmlsec1 reads the key per signature
        if key is None:
            key, cert = pc.make_keypair(self.tmp, "idp")
        self.key, self.cert = key, cert
        md_files = []
        for i, text in enumerate(sp_metadata):
            p = os.path.join(self.tmp, "sp%d.xml" % i)
            with open(p, "w") as f:
                # pysaml2 drops expired metadata (AWS's fixture expired in 2019)
                # and releases only requested attributes (AWS's metadata does not
                # request SessionDuration & co.): neither matters for a test IdP.
                text = re.sub(r'\svalidUntil="[^"]*"', "", text)
                text = re.sub(r"<(\w+:)?AttributeConsumingService\b.*?</(\w+:)?"
                              r"AttributeConsumingService>", "", text, flags=re.S)
                f.write(text)
            md_files.append(p)
        cfg = {
            "entityid": entity_id,
            "service": {"idp": {
                "endpoints": {
                    "single_sign_on_service": [(base_url + "/sso", BINDING_HTTP_REDIRECT),
                                               (base_url + "/sso", BINDING_HTTP_POST)],
                    "single_logout_service": [(base_url + "/slo", BINDING_HTTP_REDIRECT),
                                              (base_url + "/slo", BINDING_HTTP_POST)],
                },
                "name_id_format": [pc.NAMEID_PERSISTENT, pc.NAMEID_EMAIL],
                "want_authn_requests_signed": want_authn_requests_signed,
                "policy": {"default": {"entity_categories": [], "attribute_restrictions": None,
                                       "lifetime": lifetime or {"minutes": 5}}},
            }},
            "key_file": key, "cert_file": cert,
            "metadata": {"local": md_files},
            "xmlsec_binary": pc.XMLSEC1,
        }
        self.config = IdPConfig()
        self.config.load(cfg)
        self.server = Server(config=self.config)
        self.entity_id = entity_id

    def metadata(self):
        return str(entity_descriptor(self.config))

    def authn_request(self, query):
        """The AuthnRequest of an HTTP-Redirect query string (as sent, still
        %-encoded), parsed by pysaml2: its signature verified with the SP's
        metadata certificate when there is one (pysaml2 raises otherwise).
        Returns {"id", "issuer", "acs", "relay_state", "signed", "destination", "binding",
        "subject", "subject_format"} (the Subject's NameID, e.g. a login hint, or None)."""
        import urllib.parse
        q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        req = self.server.parse_authn_request(q["SAMLRequest"], BINDING_HTTP_REDIRECT)
        if "Signature" in q:
            # pysaml2's own check of the query signature, with the certificate of
            # the SP's metadata (as its Entity does for the Redirect binding).
            from saml2.sigver import verify_redirect_signature
            ok = verify_redirect_signature(q, self.server.sec.sec_backend,
                                           cert=self.sp_signing_cert(req.message.issuer.text))
            if not ok:
                raise ValueError("the AuthnRequest's query signature does not verify")
        m = req.message
        nid = m.subject.name_id if m.subject is not None else None
        return {"id": m.id, "issuer": m.issuer.text, "acs": m.assertion_consumer_service_url,
                "relay_state": q.get("RelayState"), "signed": "Signature" in q,
                "destination": m.destination, "binding": m.protocol_binding,
                "subject": nid.text if nid is not None else None,
                "subject_format": nid.format if nid is not None else None}

    def sp_signing_cert(self, sp_entity_id):
        """The SP's signing certificate (base64 DER) from its metadata."""
        certs = self.server.metadata.certs(sp_entity_id, "spsso", use="signing")
        if not certs:
            return None
        # pysaml2 puts BEGIN/END lines around it: the body in 64-character lines.
        b = "".join(certs[0].split())
        return "\n".join(b[i:i + 64] for i in range(0, len(b), 64))

    def acs_of(self, sp_entity_id):
        """The SP's HTTP-POST assertion consumer services, as pysaml2 reads its metadata."""
        return [e["location"] for e in
                self.server.metadata.assertion_consumer_service(sp_entity_id, BINDING_HTTP_POST)]

    def logout_request_url(self, sp_slo, name_id, session_indexes=None, sign=True,
                           name_id_format=pc.NAMEID_PERSISTENT):
        """The HTTP-Redirect URL of a LogoutRequest to the SP's sp_slo for name_id
        (query-signed with the IdP's key when sign), and the request's ID."""
        from saml2.saml import NameID as _NameID
        req_id, req = self.server.create_logout_request(
            sp_slo, self.entity_id, name_id=_NameID(format=name_id_format, text=name_id),
            session_indexes=session_indexes, sign=False)
        info = self.server.apply_binding(BINDING_HTTP_REDIRECT, str(req), sp_slo,
                                         relay_state="slo-rs", sign=sign,
                                         sigalg=pc.SIG_RSA_SHA256 if sign else None)
        return dict(info["headers"])["Location"], req_id

    def logout_request(self, query):
        """A LogoutRequest of an HTTP-Redirect query (as sent): pysaml2 parses it and
        checks its query signature with the SP's metadata certificate.
        Returns {"name_id", "session_indexes", "issuer", "signed"}."""
        import urllib.parse
        from saml2.sigver import verify_redirect_signature
        q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        req = self.server.parse_logout_request(q["SAMLRequest"], BINDING_HTTP_REDIRECT)
        m = req.message
        signed = "Signature" in q and verify_redirect_signature(
            q, self.server.sec.sec_backend, cert=self.sp_signing_cert(m.issuer.text))
        return {"name_id": m.name_id.text, "issuer": m.issuer.text, "signed": bool(signed),
                "session_indexes": [si.text for si in m.session_index]}

    def error_response(self, sp_entity_id, acs, in_response_to, status,
                       message="Access denied by policy"):
        """A signed Response with a failed status (Responder / status), base64."""
        import base64
        resp = self.server.create_error_response(in_response_to, acs, (status, message),
                                                 sign=True, sign_alg=pc.SIG_RSA_SHA256,
                                                 digest_alg=pc.DIGEST_SHA256)
        return base64.b64encode(str(resp).encode()).decode("ascii")

    def response(self, sp_entity_id, acs, name_id="alice@example.com",
                 name_id_format=pc.NAMEID_PERSISTENT, attributes=None, in_response_to=None,
                 sign_response=True, sign_assertion=True, sig_alg=pc.SIG_RSA_SHA256,
                 digest_alg=pc.DIGEST_SHA256):
        """The base64 SAMLResponse pysaml2 makes (a Response pysaml2 considers correct)."""
        resp = self.server.create_authn_response(
            attributes or {}, in_response_to=in_response_to, destination=acs,
            sp_entity_id=sp_entity_id, name_id=NameID(format=name_id_format, text=name_id),
            sign_response=sign_response, sign_assertion=sign_assertion, sign_alg=sig_alg,
            digest_alg=digest_alg, authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:"
                                          "PasswordProtectedTransport"})
        import base64
        return base64.b64encode(str(resp).encode()).decode("ascii")
