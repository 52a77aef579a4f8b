// SPDX-License-Identifier: Apache-2.0
// A relying party of fedbroker's OpenID provider: panva's openid-client for the
// protocol and jose (an independent JOSE implementation) to verify the tokens
// against the provider's JWKS. One step per run; the result is one JSON line.
//
//   node rp.mjs STEP '{"issuer": ..., "client_id": ..., "client_secret": ..., ...}'
//
// client_secret (Basic, or form fields with post), or private_key (PKCS#8 PEM, ES256)
// and kid for private_key_jwt, or neither (a public client). With tls {cert, key, ca}
// (PEM files) every request goes over HTTPS with that client certificate (RFC 8705):
// tls_client_auth (self_signed_tls_client_auth is the same on the wire) unless a
// secret or key is given too; ca is the provider's certificate.
// Steps:
//   authurl    {redirect_uri, scope}: the authorization URL with PKCE S256,
//              state and nonce -> {url, verifier, state, nonce}
//   code       {callback, verifier, state, nonce}: the code grant on the
//              callback URL (iss, state checked) -> {tokens, id_claims, at_claims}
//   refresh    {refresh_token} -> {tokens}
//   cc         {scope}: client_credentials -> {tokens, at_claims}
//   introspect {token} -> the RFC 7662 answer
//   revoke     {token} -> {}
//   verify     {jwt, typ, jwks_uri?}: jose jwtVerify with the remote JWKS (the
//              discovery's jwks_uri, or the one given: one replica's) -> {header, claims}
//   assertion  {private_key?, kid, aud?, exp_in?, jti}: a private_key_jwt assertion -> {jwt}
//   forge      {sub, kid}: an ID token signed by a key the provider does not have -> {jwt}
//   logouturl  {id_token, post_logout_redirect_uri, state}: the end_session URL -> {url}
// Errors: {"error": code, "status": HTTP status, "message": ...} (exit status 0).
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as client from 'openid-client';
import * as jose from 'jose';

const [step, argJson] = process.argv.slice(2);
const a = JSON.parse(argJson);

// openid-client's customFetch over node:https with the client certificate.
let tlsAgent;
async function mtlsFetch(url, options = {}) {
	const body = options.body === undefined || options.body === null ? undefined
		: typeof options.body === 'string' ? options.body
			: Buffer.from(await new Response(options.body).arrayBuffer());
	const headers = Object.fromEntries(new Headers(options.headers || {}).entries());
	return new Promise((resolve, reject) => {
		const req = https.request(url, { method: options.method || 'GET', headers,
			agent: tlsAgent }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => {
				const h = new Headers();
				for (const [k, v] of Object.entries(res.headers))
					h.set(k, Array.isArray(v) ? v.join(', ') : v);
				resolve(new Response(res.statusCode === 204 ? null : Buffer.concat(chunks),
					{ status: res.statusCode, headers: h }));
			});
		});
		req.on('error', reject);
		if (body !== undefined)
			req.write(body);
		req.end();
	});
}

async function config() {
	if (a.tls)
		tlsAgent = new https.Agent({ cert: fs.readFileSync(a.tls.cert),
			key: fs.readFileSync(a.tls.key), ca: fs.readFileSync(a.tls.ca),
			checkServerIdentity: () => undefined });
	const auth = a.private_key
		? client.PrivateKeyJwt({ key: await jose.importPKCS8(a.private_key, 'ES256'),
			kid: a.kid })
		: a.client_secret ? (a.post ? client.ClientSecretPost(a.client_secret)
			: client.ClientSecretBasic(a.client_secret))
			: a.tls ? client.TlsClientAuth() : client.None();
	const cfg = await client.discovery(new URL(a.issuer), a.client_id, undefined, auth,
		a.tls ? { [client.customFetch]: mtlsFetch }
			: { execute: [client.allowInsecureRequests] });
	if (a.tls)
		cfg[client.customFetch] = mtlsFetch;
	return cfg;
}

async function verify(cfg, jwt, typ) {
	const meta = cfg.serverMetadata();
	const uri = a.jwks_uri || meta.jwks_uri;
	const jwks = a.tls ? jose.createLocalJWKSet(await (await mtlsFetch(uri)).json())
		: jose.createRemoteJWKSet(new URL(uri));
	const { payload, protectedHeader } = await jose.jwtVerify(jwt, jwks,
		{ issuer: meta.issuer, typ, algorithms: ['ES256', 'RS256'] });
	return { header: protectedHeader, claims: payload };
}

async function run() {
	const cfg = await config();
	switch (step) {
	case 'authurl': {
		const verifier = client.randomPKCECodeVerifier();
		const state = client.randomState(), nonce = client.randomNonce();
		const url = client.buildAuthorizationUrl(cfg, {
			redirect_uri: a.redirect_uri, scope: a.scope || 'openid profile email groups',
			code_challenge: await client.calculatePKCECodeChallenge(verifier),
			code_challenge_method: 'S256', state, nonce,
		});
		return { url: url.href, verifier, state, nonce };
	}
	case 'code': {
		const t = await client.authorizationCodeGrant(cfg, new URL(a.callback), {
			pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce,
			idTokenExpected: true,
		});
		const id = await verify(cfg, t.id_token, 'JWT');
		const at = await verify(cfg, t.access_token, 'at+jwt');
		return { tokens: { ...t }, id_claims: id.claims, id_header: id.header,
			at_claims: at.claims, at_header: at.header, claims: t.claims() };
	}
	case 'refresh': {
		const t = await client.refreshTokenGrant(cfg, a.refresh_token);
		return { tokens: { ...t } };
	}
	case 'cc': {
		const t = await client.clientCredentialsGrant(cfg, a.scope ? { scope: a.scope } : {});
		const at = await verify(cfg, t.access_token, 'at+jwt');
		return { tokens: { ...t }, at_claims: at.claims, at_header: at.header };
	}
	case 'introspect':
		return { ...(await client.tokenIntrospection(cfg, a.token)) };
	case 'revoke':
		await client.tokenRevocation(cfg, a.token);
		return {};
	case 'userinfo':
		return { ...(await client.fetchUserInfo(cfg, a.token, a.sub)) };
	case 'verify':
		return verify(cfg, a.jwt, a.typ);
	case 'forge': {
		// An ID token for the right issuer and client, signed by a key of someone else
		// that claims the provider's kid.
		const { privateKey } = await jose.generateKeyPair('ES256');
		const jwt = await new jose.SignJWT({ sub: a.sub, aud: a.client_id })
			.setProtectedHeader({ alg: 'ES256', kid: a.kid, typ: 'JWT' })
			.setIssuer(cfg.serverMetadata().issuer).setIssuedAt().setExpirationTime('5m')
			.sign(privateKey);
		return { jwt };
	}
	case 'assertion': {
		// A private_key_jwt assertion with what the test asks for (aud, exp, jti, key).
		const key = a.private_key ? await jose.importPKCS8(a.private_key, 'ES256')
			: (await jose.generateKeyPair('ES256')).privateKey;
		const jwt = await new jose.SignJWT({ jti: a.jti })
			.setProtectedHeader({ alg: 'ES256', kid: a.kid })
			.setIssuer(a.client_id).setSubject(a.client_id)
			.setAudience(a.aud || cfg.serverMetadata().token_endpoint)
			.setIssuedAt().setExpirationTime(Math.floor(Date.now() / 1000) + (a.exp_in || 60))
			.sign(key);
		return { jwt };
	}
	case 'logouturl':
		return { url: client.buildEndSessionUrl(cfg, {
			id_token_hint: a.id_token, post_logout_redirect_uri: a.post_logout_redirect_uri,
			state: a.state }).href };
	default:
		throw new Error('unknown step ' + step);
	}
}

try {
	console.log(JSON.stringify(await run()));
} catch (e) {
	console.log(JSON.stringify({ error: e.error || e.code || e.name, status: e.status,
		message: e.message, cause: e.cause && (e.cause.error || e.cause.message) }));
}
