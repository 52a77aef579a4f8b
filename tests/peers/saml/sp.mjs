// SPDX-License-Identifier: Apache-2.0
// A SAML service provider built on npm's @node-saml/node-saml (pinned in
// package.json, shares no code with fedbroker): validates one SAMLResponse
// (base64, read from stdin or given with --response) against the IdP's
// certificates taken from its metadata (--idp-metadata FILE) or a PEM file
// (--idp-cert FILE), and prints one JSON verdict:
//   {"ok": true|false, "library": "node-saml", "error": "...", "issuer": ...,
//    "nameID": ..., "nameIDFormat": ..., "sessionIndex": ..., "attributes": {...},
//    "destination": ..., "recipient": ...}
// Exit status 0 when accepted, 1 when refused, 2 on bad usage.
//
// node-saml checks the signatures (response and assertion; both required
// unless --allow-assertion-only), the Issuer (--idp-entity-id, default: the
// metadata's entityID), the Audience (--entity-id), the time conditions
// (no clock skew) and InResponseTo (--in-response-to ID; IdP-initiated
// responses are accepted without one). It does not check Destination or the
// SubjectConfirmationData Recipient: this script checks both against --acs
// after the library accepted the response, and says so in the error.
//
// Usage: node sp.mjs --entity-id ID --acs URL (--idp-metadata FILE | --idp-cert FILE)
//                    [--idp-entity-id ID] [--in-response-to ID] [--allow-assertion-only]
//                    [--response B64] < SAMLResponse

import fs from 'node:fs';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';

function usage(msg) {
  console.log(JSON.stringify({ ok: false, library: 'node-saml', error: `usage: ${msg}` }));
  process.exit(2);
}

const args = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (!a.startsWith('--')) usage(`unexpected argument ${a}`);
  const k = a.slice(2);
  if (k === 'allow-assertion-only') {
    args[k] = true;
  } else {
    if (i + 1 >= argv.length) usage(`${a} needs a value`);
    args[k] = argv[++i];
  }
}
for (const k of ['entity-id', 'acs']) if (!args[k]) usage(`--${k} is required`);
if (!args['idp-metadata'] && !args['idp-cert']) usage('--idp-metadata or --idp-cert is required');

let certs = [];
let idpEntityId = args['idp-entity-id'];
if (args['idp-metadata']) {
  const md = fs.readFileSync(args['idp-metadata'], 'utf8');
  // Signing certificates of the IDPSSODescriptor (KeyDescriptor use="signing" or no use).
  const idp = md.match(/<(?:\w+:)?IDPSSODescriptor[\s\S]*?<\/(?:\w+:)?IDPSSODescriptor>/);
  if (!idp) usage(`no IDPSSODescriptor in ${args['idp-metadata']}`);
  for (const kd of idp[0].matchAll(/<(?:\w+:)?KeyDescriptor([^>]*)>([\s\S]*?)<\/(?:\w+:)?KeyDescriptor>/g)) {
    if (/use="encryption"/.test(kd[1])) continue;
    for (const c of kd[2].matchAll(/<(?:\w+:)?X509Certificate>([^<]+)<\/(?:\w+:)?X509Certificate>/g)) {
      certs.push(c[1].replace(/\s+/g, ''));
    }
  }
  if (!idpEntityId) {
    const m = md.match(/<(?:\w+:)?EntityDescriptor[^>]*\sentityID="([^"]+)"/);
    if (m) idpEntityId = m[1];
  }
} else {
  certs = [fs.readFileSync(args['idp-cert'], 'utf8')];
}
if (certs.length === 0) usage('no signing certificate found');

const b64 = (args.response ?? fs.readFileSync(0, 'utf8')).trim();
const xml = Buffer.from(b64, 'base64').toString('utf8');
const attr = (re) => {
  const m = xml.match(re);
  return m ? m[1] : null;
};
const destination = attr(/<(?:\w+:)?Response\b[^>]*\sDestination="([^"]+)"/);
const recipient = attr(/<(?:\w+:)?SubjectConfirmationData\b[^>]*\sRecipient="([^"]+)"/);

const saml = new SAML({
  callbackUrl: args.acs,
  issuer: args['entity-id'],
  audience: args['entity-id'],
  idpCert: certs,
  idpIssuer: idpEntityId,
  wantAuthnResponseSigned: !args['allow-assertion-only'],
  wantAssertionsSigned: true,
  acceptedClockSkewMs: 0,
  validateInResponseTo: args['in-response-to'] ? ValidateInResponseTo.always
    : ValidateInResponseTo.never,
});

const out = { ok: false, library: 'node-saml', destination, recipient, issuer: idpEntityId };
try {
  if (args['in-response-to']) {
    await saml.cacheProvider.saveAsync(args['in-response-to'], new Date().toISOString());
  }
  const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: b64 });
  if (!profile) throw new Error('no profile (logout response?)');
  out.issuer = profile.issuer;
  out.nameID = profile.nameID;
  out.nameIDFormat = profile.nameIDFormat;
  out.sessionIndex = profile.sessionIndex ?? null;
  // node-saml gives a single value as a string, several as an array: always an array here.
  out.attributes = {};
  for (const [k, v] of Object.entries(profile.attributes ?? {})) {
    out.attributes[k] = Array.isArray(v) ? v : [v];
  }
  // What node-saml does not check (see the header comment).
  if (destination !== args.acs) {
    throw new Error(`sp.mjs: Destination ${destination} is not the ACS ${args.acs}`);
  }
  if (recipient !== args.acs) {
    throw new Error(`sp.mjs: SubjectConfirmationData Recipient ${recipient} is not the ACS ${args.acs}`);
  }
  out.ok = true;
} catch (e) {
  out.error = String(e && e.message ? e.message : e);
}
console.log(JSON.stringify(out, null, 1));
process.exit(out.ok ? 0 : 1);
