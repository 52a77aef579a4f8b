// SPDX-License-Identifier: Apache-2.0
// npm's oidc-provider (panva's, a certified OP) as bench/oidc.sh's yardstick:
// one confidential client that may only use client_credentials
// (client_secret_basic), whose access tokens are JWTs signed ES256 with the
// given P-256 key (resourceIndicators' getResourceServerInfo with
// accessTokenFormat 'jwt': the same thing fedbroker signs). Plain HTTP on
// 127.0.0.1:PORT, default in-memory adapter, no interactions. Node runs
// JavaScript on one thread: with --workers N it forks N processes with
// node:cluster that share the port (the primary accepts and hands each
// connection to a worker in turn) — as many as fedbroker has workers.
// Prints "READY <port>" once every worker listens.
//
//   node bench-op.mjs --port P --key EC_KEY.pem --secret S [--workers N]
import cluster from 'node:cluster';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
	options: {
		port: { type: 'string' }, key: { type: 'string' }, secret: { type: 'string' },
		workers: { type: 'string', default: '1' },
	},
});
const workers = Number(a.workers);

if (cluster.isPrimary && workers > 1) {
	let up = 0;
	cluster.on('listening', () => {
		if (++up === workers) console.log(`READY ${a.port}`);
	});
	cluster.on('exit', (w, code, sig) => console.error(`worker ${w.process.pid} ended: ${code ?? sig}`));
	for (let i = 0; i < workers; i++) cluster.fork();
	const stop = () => {
		for (const w of Object.values(cluster.workers)) w.kill();
		process.exit(0);
	};
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
	process.on('SIGQUIT', stop);
} else {
	const { default: Provider } = await import('oidc-provider');
	const jwk = createPrivateKey(readFileSync(a.key)).export({ format: 'jwk' });
	const issuer = `http://127.0.0.1:${a.port}`;
	const resource = 'https://api.bench.test';
	const provider = new Provider(issuer, {
		clients: [{
			client_id: 'bench',
			client_secret: a.secret,
			token_endpoint_auth_method: 'client_secret_basic',
			grant_types: ['client_credentials'],
			response_types: [],
			redirect_uris: [],
			id_token_signed_response_alg: 'ES256',
		}],
		jwks: { keys: [{ ...jwk, kid: 'bench', alg: 'ES256', use: 'sig' }] },
		features: {
			devInteractions: { enabled: false },
			clientCredentials: { enabled: true },
			resourceIndicators: {
				enabled: true,
				defaultResource: () => resource,
				useGrantedResource: () => true,
				getResourceServerInfo: () => ({
					scope: 'api',
					audience: resource,
					accessTokenTTL: 600,
					accessTokenFormat: 'jwt',
					jwt: { sign: { alg: 'ES256' } },
				}),
			},
		},
	});
	provider.on('server_error', (ctx, err) => console.error('server_error', err));
	const server = createServer(provider.callback());
	server.keepAliveTimeout = 60000;
	server.listen(Number(a.port), '127.0.0.1', () => {
		if (workers <= 1) console.log(`READY ${a.port}`);
	});
}
