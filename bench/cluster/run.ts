/**
 * `npm run bench:cluster` (docs/operations.md, "Several nodes"; figures in bench/README.md): one node vs two
 * vs three real Accord processes on one PostgreSQL schema and one Redis, behind Debian's HAProxy
 * (deploy/haproxy.cfg with one server line per node). Prints, per cluster size:
 * - fan-out p50/p99 at the typical-session load (one writer, 20 updates/s, 10 readers spread over the
 *   nodes), for readers on the writer's node and on other nodes, and the writer's durable-ack p99;
 * - sustained acknowledged updates/s (12 writers through the load balancer, 4 updates in flight each);
 * - failover (two or three nodes): SIGKILL of a node until every client is back and has seen an update
 *   written after the kill, and acknowledged updates lost (must be 0);
 * - CPU of all node processes per delivered update during the fan-out run.
 * Needs PostgreSQL (ACCORD_BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test), Redis
 * (ACCORD_BENCH_REDIS_URL, default redis://127.0.0.1:6379) and /usr/sbin/haproxy. Options: --sizes 1,2,3.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, copyFileSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import * as Y from 'yjs';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import { io, type Socket } from 'socket.io-client';
import pg from 'pg';
import { frameParser } from '../../server/protocol/frame-parser.ts';
import { frameSync, SYNC_STEP1, SYNC_UPDATE } from '../../server/sync/yjs-messages.ts';
import { SERVER_KEY_FILE } from '../../server/audit/server-key.ts';
import { Samples, cpuMs } from '../sync/stats.ts';

const { values: args } = parseArgs({ options: { sizes: { type: 'string', default: '1,2,3' } } });
const SIZES = args.sizes!.split(',').map(Number);
const PG_URL = process.env.ACCORD_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.ACCORD_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const cleanups: (() => void)[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Node { child: ChildProcess; port: number; url: string }

async function startNode(dataDir: string, env: Record<string, string>): Promise<Node> {
  const child = spawn(process.execPath, ['server/main.ts', '--port', '0', '--host', '127.0.0.1', '--data', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ACCORD_LOG_LEVEL: 'info', ...env },
  });
  cleanups.push(() => child.kill('SIGKILL'));
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /"port":(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`node exited:\n${out}`)));
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return { child, port, url: `http://127.0.0.1:${port}` };
}

async function startHaproxy(nodes: Node[]): Promise<string> {
  const port = await freePort();
  // The deployed file, with one server line per node of this run.
  const base = readFileSync('deploy/haproxy.cfg', 'utf8').split('\n').filter((l) => !/^\s*server node\d/.test(l));
  const cfg = [...base, ...nodes.map((n, i) => `    server node${i + 1} 127.0.0.1:${n.port} check`), ''].join('\n');
  const file = join(mkdtempSync(join(tmpdir(), 'accord-lb-')), 'haproxy.cfg');
  writeFileSync(file, cfg);
  const child = spawn('/usr/sbin/haproxy', ['-db', '-f', file], { env: { ...process.env, ACCORD_LB_BIND: `127.0.0.1:${port}` }, stdio: 'ignore' });
  cleanups.push(() => child.kill('SIGKILL'));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 150; i++) {
    if (await fetch(`${url}/api/health`).then((r) => r.ok, () => false)) return url;
    await sleep(100);
  }
  throw new Error('haproxy did not come up');
}

/** A y-protocols peer over Socket.io with Accord's packed framing; sends updates with acks. */
class Peer {
  readonly socket: Socket;
  readonly doc = new Y.Doc();
  joined = false;
  onRemote: (tx: Y.Transaction) => void = () => {};
  readonly docId: string;
  constructor(url: string, token: string, docId: string) {
    this.docId = docId;
    this.socket = io(url, { auth: { token }, transports: ['websocket'], parser: frameParser, query: { frames: 'packed' }, forceNew: true, reconnectionDelay: 50, reconnectionDelayMax: 200 });
    this.socket.on('connect', () => {
      this.joined = false;
      this.socket.emit('doc:join', docId, (r: { ok: boolean }) => {
        if (!r.ok) return;
        this.joined = true;
        this.socket.emit('doc:message', docId, frameSync(SYNC_STEP1, Y.encodeStateVector(this.doc)));
      });
    });
    this.socket.on('disconnect', () => (this.joined = false));
    this.socket.on('doc:message', (id: string, message: Uint8Array) => {
      if (id !== docId) return;
      const decoder = decoding.createDecoder(message);
      if (decoding.readVarUint(decoder) !== 0) return;
      const enc = encoding.createEncoder();
      encoding.writeVarUint(enc, 0);
      syncProtocol.readSyncMessage(decoder, enc, this.doc, 'remote');
      if (encoding.length(enc) > 1) this.socket.emit('doc:message', docId, encoding.toUint8Array(enc));
    });
    this.doc.on('afterTransaction', (tx: Y.Transaction) => { if (tx.origin === 'remote') this.onRemote(tx); });
    cleanups.push(() => this.socket.disconnect());
  }
  async ready(): Promise<void> {
    for (let i = 0; i < 300 && !this.joined; i++) await sleep(20);
    if (!this.joined) throw new Error('peer did not join');
  }
  /** Sets `key` and sends the update; resolves with the ack's delay (ms) once durable, or null if refused/lost. */
  write(key: string, value: unknown): Promise<number | null> {
    const before = Y.encodeStateVector(this.doc);
    this.doc.getMap('m').set(key, value);
    const update = Y.encodeStateAsUpdate(this.doc, before);
    const t0 = performance.now();
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), 10_000);
      this.socket.emit('doc:message', this.docId, frameSync(SYNC_UPDATE, update), (r: { ok: boolean }) => {
        clearTimeout(timer);
        resolve(r.ok ? performance.now() - t0 : null);
      });
    });
  }
}

const fmt = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '—');

async function runSize(n: number, token: string, env: Record<string, string>, firstDir: string): Promise<Record<string, string>> {
  const dirs = [firstDir, ...Array.from({ length: n - 1 }, () => mkdtempSync(join(tmpdir(), 'accord-node-')))];
  const nodes: Node[] = [await startNode(dirs[0]!, env)];
  for (const d of dirs.slice(1)) {
    copyFileSync(join(firstDir, SERVER_KEY_FILE), join(d, SERVER_KEY_FILE));
    nodes.push(await startNode(d, env));
  }
  const lb = await startHaproxy(nodes);
  const out: Record<string, string> = {};

  // Fan-out at the typical-session load: writer on node 1, readers spread round robin over the nodes.
  const doc = `notes:fanout-${n}`;
  const writer = new Peer(nodes[0]!.url, token, doc);
  const readers = Array.from({ length: 10 }, (_, i) => ({ peer: new Peer(nodes[i % n]!.url, token, doc), same: i % n === 0 }));
  await writer.ready();
  await Promise.all(readers.map((r) => r.peer.ready()));
  const sentAt = new Map<string, number>();
  const same = new Samples();
  const cross = new Samples();
  let delivered = 0;
  for (const r of readers) {
    r.peer.onRemote = (tx) => {
      const now = performance.now();
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Y.Transaction.changed is keyed by any shared type
      for (const key of tx.changed.get(r.peer.doc.getMap("m") as unknown as Y.AbstractType<Y.YEvent<any>>) ?? new Set<string>()) {
        if (key === null) continue;
        const t = sentAt.get(key);
        if (t === undefined) continue;
        delivered++;
        (r.same ? same : cross).add(now - t);
      }
    };
  }
  const acks = new Samples();
  const cpu0 = nodes.map((x) => cpuMs(x.child.pid!));
  const pending: Promise<void>[] = [];
  for (let i = 0; i < 160; i++) { // 8 s at 20 updates/s
    const key = `k${i}`;
    sentAt.set(key, performance.now());
    pending.push(writer.write(key, i).then((d) => { if (d !== null) acks.add(d); }));
    await sleep(50);
  }
  await Promise.all(pending);
  await sleep(500);
  const cpu = nodes.reduce((s, x, i) => s + cpuMs(x.child.pid!) - cpu0[i]!, 0);
  out['fan-out p50 / p99, same node (ms)'] = `${fmt(same.percentile(50))} / ${fmt(same.percentile(99))}`;
  out['fan-out p50 / p99, other node (ms)'] = n > 1 ? `${fmt(cross.percentile(50))} / ${fmt(cross.percentile(99))}` : '—';
  out['durable ack p99 (ms)'] = fmt(acks.percentile(99));
  out['CPU per delivered update (ms, all nodes)'] = fmt(cpu / Math.max(1, delivered), 3);
  out['deliveries (of 1,600)'] = String(delivered);
  for (const r of [writer, ...readers.map((x) => x.peer)]) r.socket.disconnect();

  // Sustained: 12 writers through the load balancer, 4 updates in flight each, 6 s.
  const sustainedDoc = `notes:sustained-${n}`;
  const writers = Array.from({ length: 12 }, () => new Peer(lb, token, sustainedDoc));
  await Promise.all(writers.map((w) => w.ready()));
  let acked = 0;
  const until = performance.now() + 6_000;
  await Promise.all(writers.flatMap((w, wi) => Array.from({ length: 4 }, async (_, lane) => {
    let i = 0;
    while (performance.now() < until) if ((await w.write(`w${wi}-${lane}-${i++}`, i)) !== null) acked++;
  })));
  out['sustained acked updates/s (12 writers via LB)'] = fmt(acked / 6, 0);
  for (const w of writers) w.socket.disconnect();

  // Failover: 9 clients through the load balancer, one writing markers; SIGKILL node 1.
  if (n > 1) {
    const failDoc = `notes:failover-${n}`;
    const clients = Array.from({ length: 9 }, () => new Peer(lb, token, failDoc));
    await Promise.all(clients.map((c) => c.ready()));
    const ackedKeys: string[] = [];
    let marker = 0;
    let stop = false;
    const markers = (async () => {
      while (!stop) {
        const w = clients.find((c) => c.joined);
        if (w) {
          const key = `m${marker++}`;
          void w.write(key, Date.now()).then((d) => { if (d !== null) ackedKeys.push(key); });
        }
        await sleep(50);
      }
    })();
    await sleep(1_000);
    const killedAt = performance.now();
    const firstAfter = marker + 1;
    nodes[0]!.child.kill('SIGKILL');
    let resynced = NaN;
    for (let i = 0; i < 600; i++) {
      const done = clients.every((c) => c.joined && [...c.doc.getMap('m').keys()].some((k) => Number(k.slice(1)) >= firstAfter));
      if (done) { resynced = performance.now() - killedAt; break; }
      await sleep(25);
    }
    stop = true;
    await markers;
    await sleep(1_000);
    const check = new Peer(lb, token, failDoc);
    await check.ready();
    await sleep(500);
    const lost = ackedKeys.filter((k) => !check.doc.getMap('m').has(k)).length;
    out['failover: kill -9 to all clients resynced (ms)'] = fmt(resynced, 0);
    out['acknowledged updates lost'] = `${lost} of ${ackedKeys.length}`;
    for (const c of [...clients, check]) c.socket.disconnect();
  } else {
    out['failover: kill -9 to all clients resynced (ms)'] = '—';
    out['acknowledged updates lost'] = '—';
  }
  for (const x of nodes) x.child.kill('SIGKILL');
  return out;
}

async function main(): Promise<void> {
  const schemaBase = `bench_cluster_${randomBytes(4).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: PG_URL });
  const results: Record<number, Record<string, string>> = {};
  try {
    for (const n of SIZES) {
      const schema = `${schemaBase}_${n}`;
      const env = { ACCORD_DATABASE_URL: PG_URL, ACCORD_DATABASE_SCHEMA: schema, ACCORD_REDIS_URL: REDIS_URL, ACCORD_REDIS_PREFIX: schema };
      const firstDir = mkdtempSync(join(tmpdir(), 'accord-node-'));
      // The first node creates the schema; the bench user is added through the CLI, as an operator would.
      const first = await startNode(firstDir, env);
      first.child.kill('SIGKILL');
      const token = execFileSync(process.execPath, ['server/cli.ts', 'user', 'add', 'bench', '--role', 'reviewer', '--database-url', PG_URL, '--database-schema', schema]).toString().trim().split('\n').at(-1)!;
      results[n] = await runSize(n, token, env, firstDir);
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      rmSync(firstDir, { recursive: true, force: true });
      for (const fn of cleanups.splice(0)) fn();
      await sleep(500);
    }
  } finally {
    for (const fn of cleanups.splice(0)) fn();
    await pool.end();
  }
  const metrics = Object.keys(results[SIZES[0]!]!);
  console.log(`bench:cluster, ${new Date().toISOString()}: ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}, Node ${process.version}`);
  console.log(`| metric | ${SIZES.map((n) => `${n} node${n > 1 ? 's' : ''}`).join(' | ')} |`);
  console.log(`|---|${SIZES.map(() => '---|').join('')}`);
  for (const m of metrics) console.log(`| ${m} | ${SIZES.map((n) => results[n]![m]).join(' | ')} |`);
  process.exit(0);
}

await main();
