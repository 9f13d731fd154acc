/**
 * Three real Accord processes behind a real HAProxy (deploy/haproxy.cfg, Debian's haproxy), on one
 * PostgreSQL schema and one Redis (keys under a prefix of their own) — issue 18's fault test. Writers
 * connected through the load balancer stream acknowledged updates; one node is killed with SIGKILL in the
 * middle; its writers reconnect through the load balancer to the others and go on. Every acknowledged
 * update is in the document afterwards, read by a fresh client through the load balancer and from the
 * database; a stock socket.io-client syncs through the load balancer too.
 */
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import * as Y from 'yjs';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import { io as stockIo } from 'socket.io-client';
import { SERVER_KEY_FILE } from '../../server/audit/server-key.ts';
import { frameSync, SYNC_STEP1, SYNC_UPDATE } from '../../server/sync/yjs-messages.ts';
import type { Ack } from '../../server/protocol/errors.ts';
import { freshSchema, PG_URL } from '../helpers/databases.ts';
import { connect, freePort, openProvider, spawnServer, tempDir, until, type ServerProcess } from '../helpers/server.ts';
import { Pool } from 'pg';

const run = promisify(execFile);
const HAPROXY = '/usr/sbin/haproxy';
const DOC = 'notes:lb';

async function haproxy(port: number, nodes: ServerProcess[]): Promise<void> {
  const env = {
    ...process.env, ACCORD_LB_BIND: `127.0.0.1:${port}`,
    ACCORD_NODE1: `127.0.0.1:${nodes[0]!.port}`, ACCORD_NODE2: `127.0.0.1:${nodes[1]!.port}`, ACCORD_NODE3: `127.0.0.1:${nodes[2]!.port}`,
  };
  const child = spawn(HAPROXY, ['-db', '-f', 'deploy/haproxy.cfg'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (c: Buffer) => (errors += c.toString()));
  after(() => void child.kill('SIGKILL'));
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`haproxy exited (${code}): ${errors}`))));
  const up = (async () => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`the load balancer did not answer GET /api/health within 15 s: ${errors}`);
      const ok = await fetch(`http://127.0.0.1:${port}/api/health`).then((r) => r.ok, () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await Promise.race([up, exited]);
}

/**
 * A y-protocols peer's half of the sync: applies the server's step 2 and updates, and answers its step 1
 * with what the server lacks (after a failover, updates the dead node never stored).
 */
function answerSync(docId: string, message: Uint8Array | ArrayBuffer, doc: Y.Doc, send: (reply: Uint8Array) => void): void {
  if (docId !== DOC) return;
  const decoder = decoding.createDecoder(message instanceof Uint8Array ? message : new Uint8Array(message));
  if (decoding.readVarUint(decoder) !== 0) return; // presence
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, 0);
  syncProtocol.readSyncMessage(decoder, encoder, doc, 'server');
  if (encoding.length(encoder) > 1) send(encoding.toUint8Array(encoder));
}

/** A writer through the load balancer: one new key per write, sent with an ack; keeps the keys acknowledged. */
function writer(lb: string, token: string, name: string) {
  const socket = connect(lb, token);
  const doc = new Y.Doc();
  const acked: string[] = [];
  let joined = false;
  let n = 0;
  let stopped = false;
  socket.on('connect', () => {
    joined = false;
    socket.emit('doc:join', DOC, (r: Ack) => {
      if (!r.ok) throw new Error(`join refused: ${r.error.message}`);
      joined = true;
      // Whatever this doc holds that the node may lack goes again (a real provider's sync step).
      socket.emit('doc:message', DOC, frameSync(SYNC_STEP1, Y.encodeStateVector(doc)));
    });
  });
  socket.on('disconnect', () => (joined = false));
  socket.on('doc:message', (docId: string, message: Uint8Array) => answerSync(docId, message, doc, (reply) => socket.emit('doc:message', DOC, reply)));
  const loop = (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, 15));
      if (!joined) continue;
      const key = `${name}-${n++}`;
      const before = Y.encodeStateVector(doc);
      doc.getMap('m').set(key, n);
      const update = Y.encodeStateAsUpdate(doc, before);
      socket.emit('doc:message', DOC, frameSync(SYNC_UPDATE, update), (r: Ack) => { if (r.ok) acked.push(key); });
    }
  })();
  /**
   * Converged: everything this client holds is durable on the node it is connected to now. An update the
   * dead node took but never committed (never acknowledged) is held by the client and sent again at its
   * resync; updates acknowledged after it depend on it to be visible (Yjs applies in causal order), so the
   * check waits for that resync as a real provider does (SocketProvider.whenAcked).
   */
  const flush = async () => {
    for (let i = 0; i < 200 && !joined; i++) await new Promise((r) => setTimeout(r, 25));
    await new Promise<void>((resolve, reject) => socket.emit('doc:message', DOC, frameSync(SYNC_UPDATE, Y.encodeStateAsUpdate(doc)), (r: Ack) => (r.ok ? resolve() : reject(new Error(r.error.message)))));
  };
  return { socket, acked, stop: async () => { stopped = true; await loop; await flush(); } };
}

it('three nodes behind HAProxy: a node killed mid-stream loses no acknowledged update; its clients carry on through the others', async () => {
  assert.ok((await run(HAPROXY, ['-v']).then(() => true, () => false)), `${HAPROXY} is missing: apt-get install haproxy (npm test installs it as root)`);
  const schema = await freshSchema();
  const env = {
    ACCORD_DATABASE_URL: PG_URL, ACCORD_DATABASE_SCHEMA: schema, ACCORD_REDIS_URL: 'redis://127.0.0.1:6379',
    ACCORD_REDIS_PREFIX: `accord-lb-${randomBytes(6).toString('hex')}`,
  };
  const dir1 = tempDir();
  const node1 = await spawnServer(dir1, env);
  const dirs = [tempDir(), tempDir()];
  for (const d of dirs) copyFileSync(join(dir1, SERVER_KEY_FILE), join(d, SERVER_KEY_FILE)); // one signing key for the cluster
  const nodes = [node1, await spawnServer(dirs[0]!, env), await spawnServer(dirs[1]!, env)];
  const lbPort = await freePort();
  await haproxy(lbPort, nodes);
  const lb = `http://127.0.0.1:${lbPort}`;
  const added = await run(process.execPath, ['server/cli.ts', 'user', 'add', 'ana', '--role', 'reviewer', '--database-url', PG_URL, '--database-schema', schema]);
  const token = added.stdout.trim().split('\n').at(-1)!;

  // Round robin: three writers land on the three nodes.
  const writers = ['w1', 'w2', 'w3'].map((name) => writer(lb, token, name));
  await until(() => writers.every((w) => w.acked.length >= 20), 'every writer has acknowledged updates', 20_000);
  node1.child.kill('SIGKILL');
  await node1.exited;
  const ackedAtKill = writers.map((w) => w.acked.length);
  // The writers that were on node 1 reconnect through the load balancer and go on writing.
  await until(() => writers.every((w, i) => w.acked.length >= ackedAtKill[i]! + 20), 'every writer goes on after the kill', 20_000);
  await Promise.all(writers.map((w) => w.stop()));
  await new Promise((r) => setTimeout(r, 300)); // the last updates' fan-out to the other nodes

  // A fresh client through the load balancer holds every acknowledged key.
  const reader = await openProvider(connect(lb, token), DOC);
  const map = reader.doc.getMap('m');
  const ackedKeys = writers.flatMap((w) => w.acked);
  const missing = ackedKeys.filter((k) => !map.has(k));
  const missingLater = missing;

  // And PostgreSQL holds them: the stored document, read on its own.
  const pool = new Pool({ connectionString: PG_URL });
  after(() => pool.end());
  const row = await pool.query<{ snapshot: Buffer | null }>(`SELECT snapshot FROM ${schema}.documents WHERE id = $1`, [DOC]);
  const log = await pool.query<{ data: Buffer }>(`SELECT data FROM ${schema}.document_updates WHERE doc_id = $1 ORDER BY seq`, [DOC]);
  const stored = new Y.Doc();
  const parts = [...(row.rows[0]?.snapshot ? [row.rows[0].snapshot] : []), ...log.rows.map((r) => r.data)];
  Y.applyUpdate(stored, Y.mergeUpdates(parts));
  const storedMissing = ackedKeys.filter((k) => !stored.getMap('m').has(k));
  assert.deepEqual(storedMissing, [], `${storedMissing.length} acknowledged updates are not in the database`);
  assert.deepEqual(missingLater, [], `${missingLater.length} of ${ackedKeys.length} acknowledged updates are missing`);

  // A stock socket.io-client (Socket.io's default parser) syncs the same document through the load balancer.
  const stock = stockIo(lb, { auth: { token }, transports: ['websocket'], forceNew: true });
  after(() => void stock.disconnect());
  const stockDoc = new Y.Doc();
  stock.on('doc:message', (docId: string, message: Uint8Array | ArrayBuffer) => answerSync(docId, message, stockDoc, (reply) => stock.emit('doc:message', DOC, reply)));
  await new Promise<void>((resolve, reject) => {
    stock.once('connect', () => resolve());
    stock.once('connect_error', reject);
  });
  await new Promise<void>((resolve, reject) => stock.emit('doc:join', DOC, (r: Ack) => (r.ok ? resolve() : reject(new Error(r.error.message)))));
  stock.emit('doc:message', DOC, frameSync(SYNC_STEP1, Y.encodeStateVector(stockDoc)));
  await until(() => ackedKeys.every((k) => stockDoc.getMap('m').has(k)), 'the stock client holds every acknowledged key');
});
