// SPDX-License-Identifier: Apache-2.0
// The SCIM 2.0 target of the integration tests: npm's scimmy (resources,
// schemas, filters, PatchOp) behind scimmy-routers (the RFC 7644 endpoints)
// on express, over plain HTTP on 127.0.0.1, holding users and groups in
// memory. With --aws (the default) it enforces what AWS IAM Identity Center
// does (shared/notes/aws.md section C):
//   - no PUT on /Groups; PATCH /Groups only touches displayName, members,
//     externalId; members changed only by add/remove with path "members",
//     at most 100 changes per request (and per POST /Groups); no path-less op
//     with several attributes; no replace of members;
//   - 409 on a duplicate userName (users) or displayName (groups);
//   - GET /Groups and /Groups/{id} answer no members;
//   - lists at most 100 per page (or the page size of /_admin/config), with
//     AWS's cursor paging when ?cursor= is given (itemsPerPage and
//     nextCursor, no totalResults nor startIndex); startIndex refused (400,
//     AWS does not support it); filters only attr eq "quoted";
//   - photos, password, ims, entitlements, x509Certificates refused (400);
//     userName, displayName, name.givenName, name.familyName required, one
//     value per multi-valued attribute, emails[0].primary true;
//   - /Bulk and /Me answer 404; errors in AWS's shape (status a string, an
//     extra "schema" key, exceptionRequestId, timeStamp).
// Prints "READY <port>" once it listens.
//
//   node server.mjs [--token T] [--generic]
//
// Test controls (no token; JSON in and out):
//   POST /_admin/fault {"match": "POST /Users", "kind": K, "count": N,
//                       "retry_after": S, "delay_ms": MS}
//        the next N requests whose "METHOD /Endpoint" starts with match
//        ("" = any) get fault K: "429" (with Retry-After S when given),
//        "500", "slow" (answered after delay_ms), "drop" (the write is
//        committed, then the connection is closed without an answer),
//        "html" (a proxy's 502 page), "badjson" (200 with a body that is
//        not JSON, nothing done), "down" (the connection is closed at once,
//        nothing done: a target that is down)
//   POST /_admin/faults/clear  disarm every fault
//   POST /_admin/config {"page": N}  lists answer at most N per page (both
//        modes; generic pages with startIndex and count)
//   POST /_admin/seed {"users": [...], "groups": [...]}  objects made by
//        someone else (Control Tower): stored as given (members included)
//   GET  /_admin/state   {"users": [...], "groups": [{..., "members": [...]}],
//                         "writes": N (objects created, changed or deleted),
//                         "requests": [{"method", "path", "status",
//                         "member_changes", "at_ms"}...], "faults": [...]}
//   POST /_admin/reset   forget everything (users, groups, counters, faults)
//   POST /_admin/counters  zero the request log and write count only
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import express from 'express';
import SCIMMY from 'scimmy';
import SCIMMYRouters from 'scimmy-routers';

const { values: a } = parseArgs({
	options: {
		token: { type: 'string', default: 'scim-test-token' },
		generic: { type: 'boolean', default: false },
	},
});
const aws = !a.generic;

const MAX_PAGE = 100;
const MAX_MEMBER_CHANGES = 100;
const FORBIDDEN = ['photos', 'password', 'ims', 'entitlements', 'x509Certificates'];
const MULTI = ['emails', 'phoneNumbers', 'addresses', 'roles'];

const db = { users: new Map(), groups: new Map() };
let log = [];
let writes = 0;
let faults = [];
let maxPage = MAX_PAGE;

const now = () => new Date().toISOString();

// AWS's error body: status as a string, a duplicate "schema" key, no scimType needed.
const awsError = (status, detail) => ({
	schema: ['urn:ietf:params:scim:api:messages:2.0:Error'],
	schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
	detail,
	status: String(status),
	exceptionRequestId: randomUUID(),
	timeStamp: now().replace('T', ' ').replace('Z', ''),
});

const fail = (res, status, detail) => res.status(status).type('application/json').send(JSON.stringify(awsError(status, detail)));

// ---- the store behind scimmy's handlers ----------------------------------------

const strip = (o) => JSON.parse(JSON.stringify(o));

const userIngress = (resource, instance) => {
	const u = strip(instance);
	delete u.schemas;
	delete u.meta;
	for (const [id, other] of db.users)
		if (id !== resource.id && other.userName.toLowerCase() === String(u.userName).toLowerCase())
			throw new SCIMMY.Types.Error(409, 'uniqueness', 'Refused to create a new, duplicate resource.');
	const old = resource.id ? db.users.get(resource.id) : undefined;
	if (resource.id && !old) throw new SCIMMY.Types.Error(404, null, 'Resource not found');
	const id = resource.id ?? randomUUID();
	const stored = { ...u, id, meta: { resourceType: 'User', created: old?.meta.created ?? now(), lastModified: now() } };
	if (stored.active === undefined) stored.active = true;
	db.users.set(id, stored);
	writes++;
	return stored;
};

const groupIngress = (resource, instance) => {
	const g = strip(instance);
	delete g.schemas;
	delete g.meta;
	for (const [id, other] of db.groups)
		if (id !== resource.id && other.displayName === g.displayName)
			throw new SCIMMY.Types.Error(409, 'uniqueness', 'Group already exists.');
	const old = resource.id ? db.groups.get(resource.id) : undefined;
	if (resource.id && !old) throw new SCIMMY.Types.Error(404, null, 'Specified group does not exist');
	for (const m of g.members ?? [])
		if (!db.users.has(m.value))
			throw new SCIMMY.Types.Error(400, 'invalidValue', `Member ${m.value} does not exist`);
	const id = resource.id ?? randomUUID();
	// Adding a member twice keeps one (AWS's PATCH add is idempotent).
	const members = [...new Set((g.members ?? []).map((m) => m.value))].map((value) => ({ value }));
	const stored = { ...g, members, id, meta: { resourceType: 'Group', created: old?.meta.created ?? now(), lastModified: now() } };
	db.groups.set(id, stored);
	writes++;
	return stored;
};

const egress = (map, withMembers) => (resource, ctx) => {
	const view = (o) => (withMembers(ctx) ? o : { ...o, members: [] });
	if (resource.id) {
		const o = map.get(resource.id);
		if (!o) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
		return view(o);
	}
	const all = [...map.values()];
	return (resource.filter ? resource.filter.match(all) : all).map(view);
};

const degress = (map, what) => (resource) => {
	if (!map.delete(resource.id)) throw new SCIMMY.Types.Error(404, null, `Specified ${what} does not exist`);
	writes++;
	if (map === db.users)
		for (const g of db.groups.values()) g.members = (g.members ?? []).filter((m) => m.value !== resource.id);
};

// Members are read internally (PATCH applies to the stored group) and never shown on AWS.
const groupMembersShown = (ctx) => !aws || ctx?.internal === true;

SCIMMY.Resources.declare(SCIMMY.Resources.User)
	.ingress(userIngress)
	.egress(egress(db.users, () => true))
	.degress(degress(db.users, 'user'));
SCIMMY.Resources.declare(SCIMMY.Resources.Group)
	.ingress(groupIngress)
	.egress(egress(db.groups, groupMembersShown))
	.degress(degress(db.groups, 'group'));
SCIMMY.Config.set({ patch: true, filter: { supported: true, maxResults: MAX_PAGE }, bulk: false, sort: false, changePassword: false, etag: false });

// ---- AWS's rules, in front of the routers --------------------------------------

const userRules = (u) => {
	if (u === null || typeof u !== 'object') return 'Request is unparsable, syntactically incorrect, or violates schema.';
	for (const f of FORBIDDEN) if (u[f] !== undefined) return `Unsupported attribute: ${f}`;
	for (const f of MULTI)
		if (Array.isArray(u[f]) && u[f].length > 1) return `${f}: multiple values are not supported`;
	if (!u.userName) return 'userName is required';
	if (!u.displayName) return 'displayName is required';
	if (!u.name?.givenName || !u.name?.familyName) return 'name.givenName and name.familyName are required';
	if (Array.isArray(u.emails) && u.emails.length === 1 && u.emails[0].primary !== true)
		return 'emails: the email must be primary';
	return null;
};

// "attr eq "value"" joined by "and" only.
const filterOk = (f) => f.split(/\s+and\s+/i).every((t) => /^[A-Za-z][\w.]*\s+eq\s+"[^"]*"$/i.test(t.trim()));

const endpointOf = (path) => '/' + (path.split('/')[1] ?? '');

const awsRules = (req, res, next) => {
	const ep = endpointOf(req.path);
	const hasId = req.path.split('/').length > 2 && req.path.split('/')[2] !== '';
	if (ep === '/Bulk' || ep === '/Me' || (ep === '/.search') || req.path.endsWith('/.search'))
		return fail(res, 404, 'Unsupported operation');
	if (req.query.filter !== undefined && !filterOk(String(req.query.filter)))
		return fail(res, 400, 'Request is unparsable, syntactically incorrect, or violates schema.');
	if (req.query.startIndex !== undefined && req.method === 'GET')
		return fail(res, 400, 'startIndex is not supported: page with cursor.');
	if (ep === '/Users' && (req.method === 'POST' || req.method === 'PUT')) {
		const why = userRules(req.body);
		if (why) return fail(res, 400, why);
	}
	if (ep === '/Users' && req.method === 'PATCH') {
		for (const op of req.body?.Operations ?? []) {
			const v = op.value && typeof op.value === 'object' ? op.value : {};
			for (const f of FORBIDDEN)
				if (op.path === f || v[f] !== undefined) return fail(res, 400, `Unsupported attribute: ${f}`);
		}
	}
	if (ep === '/Groups' && req.method === 'PUT') return fail(res, 400, 'Unsupported operation: PutGroup');
	if (ep === '/Groups' && req.method === 'POST' && (req.body?.members ?? []).length > MAX_MEMBER_CHANGES)
		return fail(res, 400, 'A maximum of 100 members can be added in a single request.');
	if (ep === '/Groups' && req.method === 'PATCH') {
		let changes = 0;
		for (const op of req.body?.Operations ?? []) {
			const kind = String(op.op ?? '').toLowerCase();
			if (op.path === undefined) {
				const keys = Object.keys(op.value ?? {});
				if (kind === 'remove' || keys.length > 1)
					return fail(res, 400, 'Current PATCH support allows omitting "path" attribute only for Add and Replace operations modifying a single attribute.');
				if (keys[0] === 'members') return fail(res, 400, 'Replacing group memberships is not supported.');
				if (!['displayName', 'externalId'].includes(keys[0])) return fail(res, 400, `Unsupported attribute: ${keys[0]}`);
				continue;
			}
			const attr = String(op.path).split(/[[.]/)[0];
			if (!['displayName', 'members', 'externalId'].includes(attr))
				return fail(res, 400, `Unsupported attribute: ${attr}`);
			if (attr === 'members') {
				if (kind === 'replace') return fail(res, 400, 'Replacing group memberships is not supported.');
				if (op.path !== 'members' && !/^members\[value eq "[^"]+"\]$/.test(op.path))
					return fail(res, 400, 'Request is unparsable, syntactically incorrect, or violates schema.');
				if (op.path === 'members' && kind === 'remove' && !Array.isArray(op.value))
					return fail(res, 400, 'Removing all group memberships is not supported.');
				changes += Array.isArray(op.value) ? op.value.length : 1;
			}
		}
		if (changes > MAX_MEMBER_CHANGES)
			return fail(res, 400, 'Request is unparsable, syntactically incorrect, or violates schema.');
		req.memberChanges = changes;
	}
	return next();
};

// AWS's cursor paging: ?cursor= (empty on the first page), nextCursor while more remain.
const cursorList = (req, res, next) => {
	const ep = endpointOf(req.path);
	if (req.method !== 'GET' || req.query.cursor === undefined || req.path.split('/').length > 2 && req.path.split('/')[2])
		return next();
	const map = ep === '/Users' ? db.users : ep === '/Groups' ? db.groups : null;
	if (!map) return next();
	let all = [...map.values()].sort((x, y) => (x.id < y.id ? -1 : 1));
	if (req.query.filter) all = new SCIMMY.Types.Filter(String(req.query.filter)).match(all);
	const count = Math.min(Number(req.query.count ?? maxPage) || maxPage, maxPage);
	const start = req.query.cursor ? all.findIndex((o) => o.id > req.query.cursor) : 0;
	const page = start < 0 ? [] : all.slice(start, start + count);
	const Schema = ep === '/Users' ? SCIMMY.Schemas.User : SCIMMY.Schemas.Group;
	// AWS's cursor form: itemsPerPage and nextCursor, no totalResults nor startIndex.
	const body = {
		schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
		itemsPerPage: page.length,
		Resources: page.map((o) => new Schema(ep === '/Groups' && aws ? { ...o, members: [] } : o, 'out', ep)),
	};
	if (start >= 0 && start + count < all.length) body.nextCursor = page[page.length - 1].id;
	res.type('application/scim+json').send(JSON.stringify(body));
};

// The fault of this request, if one is armed for it.
const faultFor = (req) => {
	const key = `${req.method} ${endpointOf(req.path)}`;
	const f = faults.find((x) => x.count > 0 && key.startsWith(x.match ?? ''));
	if (f) f.count--;
	return f;
};

const app = express();
app.disable('x-powered-by');
app.use(express.json({ type: ['application/json', 'application/scim+json'], limit: '10mb' }));

app.post('/_admin/fault', (req, res) => {
	faults.push({ match: '', count: 1, ...req.body });
	res.json({ faults });
});
app.post('/_admin/faults/clear', (req, res) => {
	faults = [];
	res.json({});
});
app.post('/_admin/config', (req, res) => {
	if (req.body.page !== undefined) maxPage = Math.max(1, Math.min(Number(req.body.page) || MAX_PAGE, MAX_PAGE));
	res.json({ page: maxPage });
});
app.post('/_admin/reset', (req, res) => {
	db.users.clear();
	db.groups.clear();
	log = [];
	writes = 0;
	faults = [];
	res.json({});
});
app.post('/_admin/counters', (req, res) => {
	log = [];
	writes = 0;
	res.json({});
});
app.post('/_admin/seed', (req, res) => {
	const out = { users: [], groups: [] };
	for (const u of req.body.users ?? []) {
		const id = u.id ?? randomUUID();
		db.users.set(id, { active: true, ...u, id, meta: { resourceType: 'User', created: now(), lastModified: now() } });
		out.users.push(id);
	}
	for (const g of req.body.groups ?? []) {
		const id = g.id ?? randomUUID();
		db.groups.set(id, { members: [], ...g, id, meta: { resourceType: 'Group', created: now(), lastModified: now() } });
		out.groups.push(id);
	}
	res.json(out);
});
app.get('/_admin/state', (req, res) => {
	res.json({ users: [...db.users.values()], groups: [...db.groups.values()], writes, requests: log, faults });
});

const scim = express.Router();
// Every SCIM request is logged, its status once answered (0: never answered).
scim.use((req, res, next) => {
	const entry = { method: req.method, path: req.path, status: 0, member_changes: 0, at_ms: Date.now() };
	log.push(entry);
	res.on('finish', () => {
		entry.status = res.statusCode;
		entry.member_changes = req.memberChanges ?? 0;
	});
	next();
});
scim.use((req, res, next) => {
	if (req.get('authorization') !== `Bearer ${a.token}`) return fail(res, 401, 'The bearer token is invalid.');
	const f = faultFor(req);
	if (!f) return next();
	switch (f.kind) {
	case '429':
		if (f.retry_after !== undefined) res.set('Retry-After', String(f.retry_after));
		return fail(res, 429, 'Rate exceeded');
	case '500':
		return fail(res, 500, 'Internal server error');
	case 'slow':
		return setTimeout(next, f.delay_ms ?? 5000);
	case 'html':
		return res.status(502).type('text/html').send('<html><body><h1>502 Bad Gateway</h1></body></html>');
	case 'down':
		req.socket.destroy();
		return undefined;
	case 'badjson':
		return res.status(200).type('application/scim+json').send('{"id": "x", "userName": ');
	case 'drop': {
		// The write happens; the answer never leaves: the client cannot know the outcome.
		const kill = () => {
			req.socket.destroy();
			return res;
		};
		res.send = kill;
		res.end = kill;
		return next();
	}
	default:
		return next();
	}
});
// List pages of at most maxPage (both modes; scimmy pages generic lists by startIndex and count).
scim.use((req, res, next) => {
	const parts = req.path.split('/');
	if (req.method === 'GET' && (parts.length <= 2 || parts[2] === '') &&
	    (req.query.count === undefined || Number(req.query.count) > maxPage))
		req.query.count = String(maxPage);
	next();
});
if (aws) {
	scim.use(awsRules);
	scim.use(cursorList);
}
// AWS's error shape on whatever scimmy answers with an error.
scim.use((req, res, next) => {
	const send = res.send.bind(res);
	const ep = endpointOf(req.path); /* req.path changes under the routers' mounts */
	res.send = (body) => {
		if (res.statusCode >= 400 && body && typeof body === 'object' && !Buffer.isBuffer(body))
			return send(JSON.stringify(awsError(res.statusCode, body.detail ?? 'error')));
		// PatchGroup answers 204 No Content on AWS.
		if (aws && req.method === 'PATCH' && ep === '/Groups' && res.statusCode === 200) {
			res.status(204);
			return send();
		}
		if (body && typeof body === 'object' && !Buffer.isBuffer(body)) {
			res.type('application/scim+json');
			return send(JSON.stringify(body));
		}
		return send(body);
	};
	next();
});
scim.use(new SCIMMYRouters({
	type: 'bearer',
	handler: () => 'fedbroker',
	context: (req) => ({ internal: req.method === 'PATCH' }),
}));
app.use('/scim/v2', scim);
app.use((req, res) => fail(res, 404, 'Not found'));

const server = app.listen(0, '127.0.0.1', () => {
	process.stdout.write(`READY ${server.address().port}\n`);
});
