/**
 * The storage issue's benchmark (`npm run bench:storage`): the same in-process Accord server on SQLite
 * and on PostgreSQL, measured from real clients over loopback:
 *
 * - durable ack of a Yjs update: one client sends one update at a time to a `notes:` document and waits
 *   for its ack (the ack follows the commit: SQLite's WAL fsync, PostgreSQL's COMMIT);
 * - a vote command over REST (`POST /changes/:id/votes`, authenticated, authorised, one unit of work
 *   with its audit entry, broadcast), one at a time, alternating approve and abstain so each is a new fact;
 * - updates per second at saturation: 32 clients on 32 documents each keep 4 updates in flight for a
 *   fixed time (group commit folds concurrent updates into one transaction).
 *
 * Prints a table; `--rounds N` sets the samples per latency figure (default 400), `--seconds S` the
 * saturation phase (default 8), `--only sqlite|postgres`. PostgreSQL: ACCORD_TEST_DATABASE_URL or
 * postgres://postgres@127.0.0.1:5432/test, in a schema of its own dropped afterwards.
 */
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import * as Y from 'yjs';
import { io } from 'socket.io-client';
import { createApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { createLogger } from '../../server/log.ts';
import { frameParser } from '../../server/protocol/frame-parser.ts';
import { frameSync, SYNC_UPDATE } from '../../server/sync/yjs-messages.ts';
import type { AccordSocket } from '../../web/lib/socket-provider.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '400' }, seconds: { type: 'string', default: '8' }, only: { type: 'string' } } });
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const PG_URL = process.env.ACCORD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const FIXTURE = new URL('../../test/fixtures/proxmox/user.cfg', import.meta.url);

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const ms = (n: number) => `${n.toFixed(2)} ms`;

async function measure(kind: 'sqlite' | 'postgres'): Promise<Record<string, string>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'accord-bench-storage-'));
  const schema = `accord_bench_${randomBytes(4).toString('hex')}`;
  const admin = kind === 'postgres' ? new pg.Client({ connectionString: PG_URL }) : undefined;
  if (admin) await admin.connect();
  const config = loadConfig([], {}, {
    port: 0, host: '127.0.0.1', dataDir, logLevel: 'silent', commandsPerMinute: 10_000_000, requestsPerMinute: 10_000_000, maxSocketsPerUser: 1_000,
    ...(kind === 'postgres' ? { databaseUrl: PG_URL, databaseSchema: schema } : {}),
  });
  const app = await createApp(config, createLogger('silent'));
  const { port } = await app.listen();
  const url = `http://127.0.0.1:${port}`;
  const sockets: AccordSocket[] = [];
  try {
    const token = async (name: string, role: 'reviewer' | 'admin') => (await app.users.addUser(name, role)).token;
    const rest = (t: string) => async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${url}/api${path}`, { method, headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: await res.json().catch(() => null) as Record<string, any> };
    };
    const root = rest(await token('root', 'admin'));
    const rita = rest(await token('rita', 'reviewer'));
    const ana = rest(await token('ana', 'reviewer'));
    const { readFileSync } = await import('node:fs');
    await root('PUT', '/inventories/proxmox', { files: [{ path: 'user.cfg', text: readFileSync(FIXTURE, 'utf8') }] });
    const created = await rita('POST', '/changes', {
      title: 'bench', justification: 'storage benchmark', backend: 'proxmox',
      items: [{ id: 'i1', op: 'add', grant: { principal: 'devs', privileges: ['vm.power'], resource: '/vms/100', propagate: false, effect: 'allow' } }],
    });
    const id = created.body.change.id as string;
    const draft = await rita('GET', `/changes/${id}/draft`);
    await rita('POST', `/changes/${id}/submit`, { draftHash: draft.body.draftHash });
    const revisionHash = (await rita('GET', `/changes/${id}`)).body.change.revisions.at(-1).hash as string;

    // Vote command latency (REST, one at a time).
    const votes: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const start = performance.now();
      const res = await ana('POST', `/changes/${id}/votes`, { choice: i % 2 === 0 ? 'abstain' : 'approve', revisionHash });
      votes.push(performance.now() - start);
      if (res.status !== 201) throw new Error(`vote refused: ${JSON.stringify(res.body)}`);
    }

    // Durable ack of one update at a time.
    const writer = await token('wes', 'reviewer');
    const connectAs = async (t: string): Promise<AccordSocket> => {
      const s: AccordSocket = io(url, { auth: { token: t }, transports: ['websocket'], parser: frameParser, query: { frames: 'packed' }, forceNew: true });
      sockets.push(s);
      await new Promise<void>((resolve, reject) => (s.once('connect', () => resolve()), s.once('connect_error', reject)));
      return s;
    };
    const one = await connectAs(writer);
    await one.timeout(10_000).emitWithAck('doc:join', 'notes:bench-ack');
    const doc = new Y.Doc();
    const text = doc.getText('body');
    const acks: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const before = Y.encodeStateVector(doc);
      text.insert(text.length, 'x');
      const start = performance.now();
      const ack = (await one.timeout(10_000).emitWithAck('doc:message', 'notes:bench-ack', frameSync(SYNC_UPDATE, Y.encodeStateAsUpdate(doc, before)))) as { ok: boolean };
      acks.push(performance.now() - start);
      if (!ack.ok) throw new Error('update refused');
    }

    // Saturation: 32 clients × 4 in flight, for SECONDS.
    const clients = await Promise.all(Array.from({ length: 32 }, async (_, c) => {
      const s = await connectAs(writer);
      await s.timeout(10_000).emitWithAck('doc:join', `notes:bench-sat-${c}`);
      return { s, doc: new Y.Doc(), room: `notes:bench-sat-${c}` };
    }));
    let acked = 0;
    const until = performance.now() + SECONDS * 1_000;
    await Promise.all(clients.flatMap((c) => Array.from({ length: 4 }, async () => {
      while (performance.now() < until) {
        const before = Y.encodeStateVector(c.doc);
        c.doc.getText('body').insert(0, 'y');
        const ack = (await c.s.timeout(30_000).emitWithAck('doc:message', c.room, frameSync(SYNC_UPDATE, Y.encodeStateAsUpdate(c.doc, before)))) as { ok: boolean };
        if (!ack.ok) throw new Error('update refused under load');
        acked += 1;
      }
    })));
    votes.sort((a, b) => a - b);
    acks.sort((a, b) => a - b);
    return {
      'update durable ack p50': ms(pct(acks, 50)), 'update durable ack p99': ms(pct(acks, 99)),
      'vote command p50': ms(pct(votes, 50)), 'vote command p99': ms(pct(votes, 99)),
      'updates/s at saturation (32 clients × 4 in flight)': `${Math.round(acked / SECONDS)}`,
    };
  } finally {
    for (const s of sockets) s.disconnect();
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
    if (admin) {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    }
  }
}

const kinds = (values.only ? [values.only] : ['sqlite', 'postgres']) as ('sqlite' | 'postgres')[];
const results: Record<string, Record<string, string>> = {};
for (const kind of kinds) {
  process.stderr.write(`measuring ${kind} (${ROUNDS} rounds, ${SECONDS} s saturation)...\n`);
  results[kind] = await measure(kind);
}
const rows = Object.keys(results[kinds[0]!]!);
console.log(`| figure | ${kinds.join(' | ')} |`);
console.log(`|---|${kinds.map(() => '---').join('|')}|`);
for (const row of rows) console.log(`| ${row} | ${kinds.map((k) => results[k]![row]).join(' | ')} |`);
