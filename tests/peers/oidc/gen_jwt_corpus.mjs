// SPDX-License-Identifier: Apache-2.0
// Writes tests/fixtures/oidc/jwks.json (the public keys of the fixture keys
// rsa2048 and ec256, kids "rsa" and "ec") and the seeds of the jwt fuzz
// target, tests/fuzz/corpus/jwt/, signed with those keys by panva's jose
// (the library oidc-provider uses): node tests/peers/oidc/gen_jwt_corpus.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK } from 'jose';

const top = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const keys = join(top, 'tests', 'fixtures', 'keys');
const rsa = createPrivateKey(readFileSync(join(keys, 'rsa2048.key.pem')));
const ec = createPrivateKey(readFileSync(join(keys, 'ec256.key.pem')));
const pub = async (k, kid) => ({ ...(await exportJWK(createPublicKey(k))), kid, use: 'sig' });
const jwks = { keys: [await pub(rsa, 'rsa'), await pub(ec, 'ec')] };
writeFileSync(join(top, 'tests', 'fixtures', 'oidc', 'jwks.json'), JSON.stringify(jwks, null, 1) + '\n');

// The fuzz target checks with issuer https://op.example.org, client fedbroker,
// nonce "n1", at the time 1700000000, access token "at".
const claims = {
	iss: 'https://op.example.org', sub: 'alice', aud: 'fedbroker', nonce: 'n1',
	iat: 1700000000, exp: 1700000600,
};
const out = join(top, 'tests', 'fuzz', 'corpus', 'jwt');
const seed = async (name, key, alg, kid, extra = {}) => {
	const t = await new SignJWT({ ...claims, ...extra }).setProtectedHeader({ alg, kid, typ: 'JWT' }).sign(key);
	writeFileSync(join(out, name), t);
};
await seed('rs256', rsa, 'RS256', 'rsa');
await seed('ps256', rsa, 'PS256', 'rsa');
await seed('es256', ec, 'ES256', 'ec');
await seed('azp', rsa, 'RS256', 'rsa', { aud: ['fedbroker', 'x'], azp: 'fedbroker', nbf: 1699999999 });
await seed('at_hash', rsa, 'RS256', 'rsa', { at_hash: 'sda5G2fCr6XjIpiNlGJjjQ' });
await seed('unknown-kid', rsa, 'RS256', 'other');
await seed('expired', ec, 'ES256', 'ec', { exp: 1600000000 });
const b64 = (s) => Buffer.from(s).toString('base64url');
writeFileSync(join(out, 'none'), `${b64('{"alg":"none"}')}.${b64(JSON.stringify(claims))}.`);
writeFileSync(join(out, 'hs256'), `${b64('{"alg":"HS256","kid":"rsa"}')}.${b64(JSON.stringify(claims))}.AAAA`);
writeFileSync(join(out, 'jwks'), JSON.stringify(jwks));
