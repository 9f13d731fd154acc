/**
 * The attacker's toolkit for test/security: a seeded world (users, one change in review, one
 * annotation), the server's REST surface enumerated from the routers themselves, and a fingerprint of
 * everything an attack must not change.
 */
import assert from 'node:assert/strict';
import type { Database } from '../../server/store/sql.ts';
import { createHash } from 'node:crypto';
import { io as ioClient } from 'socket.io-client';
import * as Y from 'yjs';
import { changeRouter } from '../../server/http/change-routes.ts';
import { accountRouter } from '../../server/http/account-routes.ts';
import { apiRouter } from '../../server/http/routes.ts';
import type { Config } from '../../server/config.ts';
import type { AccordSocket } from '../../web/lib/socket-provider.ts';
import { apiAs, currentHash, draftHash, importProxmox, PROXMOX_CONTENT, submitDraft } from '../helpers/api.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { frameParser } from '../../server/protocol/frame-parser.ts';

export type Api = ReturnType<typeof apiAs>;

export interface Route {
  method: string;
  path: string;
}

interface Layer { route?: { path: string; methods: Record<string, boolean> } }

/** Every REST route the server has, read from the routers' stacks (as test/docs/openapi.test.ts does). */
export function restRoutes(): Route[] {
  const stub = {} as never;
  return [changeRouter(stub), accountRouter(stub), apiRouter(stub)].flatMap((router) => (router.stack as unknown as Layer[])
    .filter((l) => l.route)
    .flatMap((l) => Object.keys(l.route!.methods).map((m) => ({ method: m.toUpperCase(), path: l.route!.path }))));
}

/** Routes anyone may call without credentials. */
export const PUBLIC_ROUTES = new Set(['GET /health', 'POST /session', 'DELETE /session']);

/** Fills `:params` with real ids from the world, so a refusal is about credentials, not a missing object. */
export function concrete(path: string, w: { changeId: string; annotationId: string }): string {
  return path.replace(':backend', 'proxmox').replace(':name', 'p1').replace(':id', path.startsWith('/annotations') ? w.annotationId : w.changeId);
}

/**
 * A plausible body for each route, so the only thing wrong with the request is who sends it: commands that
 * name what their maker saw carry the world's real revision and draft hashes.
 */
export function bodyFor(route: Route, w: { revisionHash: string; draftHash: string }): unknown {
  if (route.method === 'GET' || route.method === 'DELETE') return undefined;
  if (route.path.endsWith('/votes')) return { choice: 'approve', revisionHash: w.revisionHash };
  if (route.path.endsWith('/recusals')) return { reason: 'conflict of interest', revisionHash: w.revisionHash };
  if (route.path.endsWith('/submit')) return { draftHash: w.draftHash };
  if (route.path.endsWith('/signoffs/options')) return { revisionHash: w.revisionHash };
  if (route.path.endsWith('/signoffs')) return { response: {}, revisionHash: w.revisionHash };
  if (route.path.endsWith('/apply')) return { outcome: 'applied' };
  if (route.path.endsWith('/annotations')) return { anchor: { kind: 'item', itemId: 'i1' }, body: 'x' };
  if (route.path.startsWith('/annotations')) return { body: 'edited by someone else' };
  if (route.path === '/changes') return PROXMOX_CONTENT;
  if (route.path === '/session') return { username: 'rita', password: 'wrong password' };
  if (route.path.startsWith('/inventories')) return { files: [{ path: 'user.cfg', text: '' }] };
  if (route.path.startsWith('/policies')) return { yaml: 'name: p1\n' };
  return {};
}

export interface World {
  server: TestServer;
  tokens: Record<'root' | 'rita' | 'ana' | 'ben' | 'paul' | 'vic', string>;
  api: Record<'root' | 'rita' | 'ana' | 'ben' | 'paul' | 'vic', Api>;
  changeId: string;
  /** The hash of the change's current revision (revision 1): what a vote, recusal or sign-off on it names. */
  revisionHash: string;
  /** The hash of the change's draft as it stands after the submit: what a submit names. */
  draftHash: string;
  /** ana's annotation on the change. */
  annotationId: string;
}

export const ORIGIN = 'http://localhost:8080';

/** A server with users of every role, the Proxmox inventory, rita's change in review and ana's annotation on it. */
export async function world(onTeardown: (fn: () => unknown) => void, overrides: Partial<Config> = {}): Promise<World> {
  // Compaction is a background rewrite of a document's storage (same content); off here so fingerprints compare content only.
  const server = await startTestServer({ publicUrl: ORIGIN, commandsPerMinute: 100_000, requestsPerMinute: 10_000_000, compactAfterUpdates: 1_000_000, ...overrides } as Partial<Config>, onTeardown);
  const names = { root: 'admin', rita: 'reviewer', ana: 'reviewer', ben: 'reviewer', paul: 'approver', vic: 'viewer' } as const;
  const tokens = {} as World['tokens'];
  const api = {} as World['api'];
  for (const [name, role] of Object.entries(names) as [keyof typeof names, (typeof names)[keyof typeof names]][]) {
    tokens[name] = await server.user(name, role, `${name}-password-long`);
    api[name] = apiAs(server.url, tokens[name]);
  }
  await importProxmox(server, tokens.root);
  const created = await api.rita('POST', '/changes', PROXMOX_CONTENT);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const changeId = (created.body as { change: { id: string } }).change.id;
  assert.equal((await submitDraft(api.rita, changeId)).status, 201);
  const note = await api.ana('POST', `/changes/${changeId}/annotations`, { anchor: { kind: 'item', itemId: 'i1' }, body: 'why console access?' });
  assert.equal(note.status, 201, JSON.stringify(note.body));
  const annotationId = (note.body as { annotation: { id: string } }).annotation.id;
  return { server, tokens, api, changeId, revisionHash: await currentHash(api.rita, changeId), draftHash: await draftHash(api.rita, changeId), annotationId };
}

/**
 * Each stored document's content (its snapshot and update log merged, as a state vector and the JSON
 * hash of its full state), so compaction and unload, which rewrite storage without changing content, do not count.
 */
async function documentContents(db: Database): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const { id, snapshot } of await db.all<{ id: string; snapshot: Uint8Array | null }>('SELECT id, snapshot FROM documents ORDER BY id')) {
    const updates = (await db.all<{ data: Uint8Array }>('SELECT data FROM document_updates WHERE doc_id = ? ORDER BY seq', [id])).map((r) => r.data);
    const doc = new Y.Doc();
    for (const u of snapshot ? [snapshot, ...updates] : updates) Y.applyUpdate(doc, u);
    const content = createHash('sha256').update(Y.encodeStateAsUpdate(doc)).digest('hex');
    out[id] = `${Buffer.from(Y.encodeStateVector(doc)).toString('base64')} ${content}`;
    doc.destroy();
  }
  return out;
}

export async function auditCounts(db: Database): Promise<{ ok: number; refused: number }> {
  const rows = await db.all<{ outcome: string; n: number }>('SELECT outcome, count(*) AS n FROM audit_log GROUP BY outcome');
  return { ok: Number(rows.find((r) => r.outcome === 'ok')?.n ?? 0), refused: Number(rows.find((r) => r.outcome === 'refused')?.n ?? 0) };
}

/**
 * Everything an attack must leave as it was: changes (with votes, revisions, sign-offs inside),
 * annotations, idempotency results, users and roles, groups, credentials, policies, inventories,
 * stored documents and their update logs, sign-offs and passkeys. On either database.
 */
export function fingerprint(db: Database): Promise<string> {
  // One read snapshot: the document writer may compact a document (unloads do) between two of these reads.
  return db.transaction(() => fingerprintNow(db), { readOnly: true });
}

async function fingerprintNow(db: Database): Promise<string> {
  const q = (sql: string) => db.all(sql);
  return JSON.stringify({
    changes: await q('SELECT id, version, status, data FROM changes ORDER BY id'),
    annotations: await q('SELECT id, data FROM annotations ORDER BY id'),
    results: await q('SELECT user_id, key, command FROM command_results ORDER BY user_id, key'),
    users: await q('SELECT id, username, role, disabled FROM users ORDER BY id'),
    groups: await q('SELECT user_id, group_name FROM user_groups ORDER BY user_id, group_name'),
    tokens: await q('SELECT hash, user_id FROM api_tokens ORDER BY hash'),
    policies: await q('SELECT name, yaml FROM policies ORDER BY name'),
    inventories: await q('SELECT backend, version FROM inventories ORDER BY backend'),
    documents: await documentContents(db),
    signoffs: await q('SELECT id, change_id, revision, revision_hash, user_id, credential_id, assertion, receipt, at FROM signoffs ORDER BY id'),
    passkeys: await q('SELECT id, user_id, counter FROM webauthn_credentials ORDER BY id'),
  });
}

/**
 * Runs `attack` and asserts it changed nothing, and that the audit trail grew by exactly
 * `refusedEntries` refusals and no successes.
 */
export async function unchangedBy(app: { db: Database; settle(): Promise<void> }, refusedEntries: number | 'any', attack: () => Promise<void>): Promise<void> {
  const db = app.db;
  await app.settle(); // earlier, legitimate commands finish landing before the snapshot
  const before = await fingerprint(db);
  const audit = await auditCounts(db);
  await attack();
  await app.settle();
  assert.equal(await fingerprint(db), before, 'the attack changed stored state');
  const after = await auditCounts(db);
  assert.equal(after.ok, audit.ok, 'no command succeeded');
  if (refusedEntries !== 'any') assert.equal(after.refused - audit.refused, refusedEntries, 'audited refusals');
}

/** A Socket.io client with full control over auth and headers; never reconnects. */
export function socketAs(url: string, opts: { token?: unknown; cookie?: string; origin?: string }, onTeardown: (fn: () => unknown) => void): AccordSocket {
  const headers: Record<string, string> = {};
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.origin) headers.origin = opts.origin;
  const socket: AccordSocket = ioClient(url, {
    parser: frameParser,
    auth: opts.token === undefined ? {} : { token: opts.token as string },
    transports: ['websocket'], forceNew: true, reconnection: false, extraHeaders: headers,
  });
  onTeardown(() => socket.disconnect());
  return socket;
}

/** Resolves with the connect_error message, 'connected', or 'no answer' after `timeoutMs`. */
export function outcome(socket: AccordSocket, timeoutMs = 3_000): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('no answer'), timeoutMs);
    socket.once('connect', () => { clearTimeout(timer); resolve('connected'); });
    socket.once('connect_error', (err) => { clearTimeout(timer); resolve(err.message); });
  });
}

export async function signIn(url: string, username: string, password: string, origin: string): Promise<string> {
  const res = await fetch(`${url}/api/session`, {
    method: 'POST', headers: { 'content-type': 'application/json', origin }, body: JSON.stringify({ username, password }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return res.headers.get('set-cookie')!.split(';')[0]!;
}

export async function healthy(url: string, withinMs = 2_000): Promise<void> {
  const start = Date.now();
  const res = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(withinMs) });
  assert.equal(res.status, 200);
  assert.ok(Date.now() - start < withinMs);
}

