// SPDX-License-Identifier: Apache-2.0
// The upstream OpenID provider of the integration tests: panva's
// oidc-provider (a certified OP) on 127.0.0.1 over HTTPS, with one client
// for fedbroker. Prints "READY <port>" once it listens.
//
//   node op.mjs --cert C --key K --redirect-uri URI [--post-logout-uri URI]
//               [--client-secret S] [--auth client_secret_basic|client_secret_post|private_key_jwt]
//               [--client-jwks FILE] [--client-cert PEM --client-kid KID]
//               [--client-jwks-uri URI] [--no-iss]
//
// --client-cert: the client's public key for private_key_jwt, from fedbroker's
// key certificate (a static jwks in the client's registration, kid KID).
// --client-jwks-uri: the client's keys read from URI instead (fedbroker's
// /upstream/jwks.json), as a provider does once the client is registered.
//
// Users: any login name at the dev interaction pages (login, then consent);
// the password is not checked. Claims: email <login>@example.com (verified),
// name, groups: ["everyone", "<login>-group"] plus "aws-admins" for alice.
//
// Test controls (GET, on the same port):
//   /_test/rotate          new signing key first (the old one still published)
//   /_test/mode?hang=P     requests to path P never get an answer (e.g. /token)
//   /_test/mode?fail=P     requests to path P answer 500
//   /_test/mode            back to normal
//   /_test/jwks?bad=1      the JWKS endpoint answers a body that does not parse
//   /_test/count           {"jwks": N}: how many times the JWKS endpoint was asked
//   /_test/userinfo?extra=1&sub=S
//                          userinfo (/me) adds department "finance" (a claim the
//                          ID token does not carry); with sub, it names subject S
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { X509Certificate, generateKeyPairSync, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import Provider from 'oidc-provider';

const { values: a } = parseArgs({
	options: {
		cert: { type: 'string' }, key: { type: 'string' },
		'redirect-uri': { type: 'string' }, 'post-logout-uri': { type: 'string' },
		'client-secret': { type: 'string', default: 'fedbroker-secret' },
		auth: { type: 'string', default: 'client_secret_basic' },
		'client-jwks': { type: 'string' },
		'client-cert': { type: 'string' }, 'client-kid': { type: 'string' },
		'client-jwks-uri': { type: 'string' },
		'no-iss': { type: 'boolean', default: false },
	},
});

const mode = { hang: null, fail: null, badJwks: false, uiExtra: false, uiSub: null };
const count = { jwks: 0 };
let keyNo = 0;
const newKey = () => {
	const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
	return { ...privateKey.export({ format: 'jwk' }), kid: `k${++keyNo}`, alg: 'RS256', use: 'sig' };
};
let keys = [newKey()];
const cookieKeys = [randomBytes(32).toString('hex')];

const findAccount = async (ctx, id) => ({
	accountId: id,
	async claims(use) {
		const extra = use === 'userinfo' && mode.uiExtra ? { department: 'finance' } : {};
		const groups = ['everyone', `${id}-group`];
		if (id === 'alice') groups.push('aws-admins');
		return { sub: id, email: `${id}@example.com`, email_verified: true, name: `User ${id}`, groups, ...extra };
	},
});

const server = createServer({ cert: readFileSync(a.cert), key: readFileSync(a.key) });
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = server.address().port;
const issuer = `https://127.0.0.1:${port}`;

const client = {
	client_id: 'fedbroker',
	redirect_uris: [a['redirect-uri']],
	post_logout_redirect_uris: a['post-logout-uri'] ? [a['post-logout-uri']] : [],
	token_endpoint_auth_method: a.auth,
	grant_types: ['authorization_code'],
	response_types: ['code'],
};
if (a.auth === 'private_key_jwt' && a['client-jwks-uri']) {
	client.jwks_uri = a['client-jwks-uri'];
} else if (a.auth === 'private_key_jwt' && a['client-cert']) {
	const jwk = new X509Certificate(readFileSync(a['client-cert'])).publicKey.export({ format: 'jwk' });
	client.jwks = { keys: [{ ...jwk, kid: a['client-kid'], use: 'sig' }] };
} else if (a.auth === 'private_key_jwt') client.jwks = JSON.parse(readFileSync(a['client-jwks'], 'utf8'));
else client.client_secret = a['client-secret'];

const makeProvider = () => {
	const p = new Provider(issuer, {
		clients: [client],
		findAccount,
		jwks: { keys },
		cookies: { keys: cookieKeys },
		claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups', 'department'] },
		conformIdTokenClaims: false,
		// The client's jwks_uri is fedbroker on loopback: without the SSRF guard's
		// dispatcher, which refuses special-use addresses such as 127.0.0.1.
		fetch: (url, options) => {
			delete options.dispatcher;
			return globalThis.fetch(url, options);
		},
		pkce: { required: () => true },
		features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
		ttl: { AuthorizationCode: 120, IdToken: 600, AccessToken: 600, Session: 3600, Interaction: 600, Grant: 3600 },
	});
	p.proxy = false;
	p.on('server_error', (ctx, err) => console.error('server_error', err));
	// Without RFC 9207: the discovery document stops advertising it, the responses drop iss.
	if (a['no-iss']) {
		p.use(async (ctx, next) => {
			await next();
			if (ctx.path === '/.well-known/openid-configuration' && ctx.body) {
				delete ctx.body.authorization_response_iss_parameter_supported;
			}
			const loc = ctx.response.get('Location');
			if (loc && loc.startsWith(a['redirect-uri'])) {
				const u = new URL(loc);
				u.searchParams.delete('iss');
				ctx.redirect(u.href);
			}
		});
	}
	// A userinfo of another subject (OIDC Core 5.3.4: the RP must refuse it).
	p.use(async (ctx, next) => {
		await next();
		if (ctx.path === '/me' && mode.uiSub && ctx.body && typeof ctx.body === 'object') {
			ctx.body = { ...ctx.body, sub: mode.uiSub };
		}
	});
	return p;
};
let provider = makeProvider();

const send = (res, code, body, type = 'application/json') => {
	res.writeHead(code, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
	res.end(body);
};

server.on('request', (req, res) => {
	const u = new URL(req.url, issuer);
	if (u.pathname === '/_test/rotate') {
		keys = [newKey(), ...keys];
		provider = makeProvider();
		return send(res, 200, JSON.stringify({ kid: keys[0].kid }));
	}
	if (u.pathname === '/_test/mode') {
		mode.hang = u.searchParams.get('hang');
		mode.fail = u.searchParams.get('fail');
		return send(res, 200, '{}');
	}
	if (u.pathname === '/_test/jwks') {
		mode.badJwks = u.searchParams.get('bad') === '1';
		return send(res, 200, '{}');
	}
	if (u.pathname === '/_test/count') return send(res, 200, JSON.stringify(count));
	if (u.pathname === '/_test/userinfo') {
		mode.uiExtra = u.searchParams.get('extra') === '1';
		mode.uiSub = u.searchParams.get('sub');
		return send(res, 200, '{}');
	}
	if (u.pathname === '/jwks') count.jwks++;
	if (mode.hang && u.pathname === mode.hang) return; // never answered
	if (mode.fail && u.pathname === mode.fail) return send(res, 500, '{"error":"server_error"}');
	if (mode.badJwks && u.pathname === '/jwks') return send(res, 200, '{"keys": [{"kty": "RSA", "n": ');
	return provider.callback()(req, res);
});

console.log(`READY ${port}`);
