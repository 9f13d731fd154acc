/** Server child-process control and shared traffic machinery for the scenarios. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import * as Y from 'yjs';
import { b64, sleep, type ServerCommand, type ServerEvent, type ServerName, type ServerStats } from '../common.ts';
import type { BenchClient, ClientAdapter } from '../clients/types.ts';
import { cpuMs, LoopLag, Samples } from '../stats.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');

export interface RunContext {
  server: ServerName;
  quick: boolean;
  fixtures: string;
  /** A temp dir for this run, removed at exit. */
  tmp: string;
}

export interface RunResult {
  metrics: Record<string, number>;
  /** Load generator health: worst event-loop p99 (ms) and lowest sent/target ratio over measured phases. */
  lagP99: number;
  sentRatio: number;
  converged: boolean;
  notes: string[];
}

export interface ServerHandle {
  readonly name: ServerName;
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  readonly token: string;
  readonly exited: Promise<void>;
  /** Vote keys found on disk before listening (only with reportPersisted). */
  readonly persisted: Record<string, string[]> | null;
  stats(): Promise<ServerStats>;
  sv(rooms: string[]): Promise<Record<string, string | null>>;
  keys(rooms: string[]): Promise<Record<string, string[] | null>>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export function tempDir(parent: string, prefix: string): string {
  return mkdtempSync(join(parent, prefix));
}

/** Starts a server child pinned to core 0 (`taskset -c 0`), fresh process, its own data dir. */
export async function startServer(
  name: ServerName,
  opts: { dataDir: string; fixtures: string; port?: number; token?: string; reportPersisted?: string[] },
): Promise<ServerHandle> {
  const args = [
    '-c', '0', process.execPath, '--expose-gc', ...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []), join(ROOT, `bench/sync/servers/${name}.ts`),
    '--port', String(opts.port ?? 0), '--data', opts.dataDir, '--fixtures', opts.fixtures,
    '--token', opts.token ?? 'bench-secret-token',
  ];
  if (opts.reportPersisted?.length) args.push('--report-persisted', opts.reportPersisted.join(','));
  // Every server child starts with Node's module compile cache, as `npm start` does for Accord: a
  // restart (scenario F) then measures the server, not the compiler. Same cache rule for all three.
  const env = { ...process.env, NODE_COMPILE_CACHE: join(tmpdir(), 'accord-bench-compile-cache') };
  const child = spawn('taskset', args, { cwd: ROOT, env, stdio: ['ignore', process.env.BENCH_SERVER_STDOUT ? 'inherit' : 'ignore', 'inherit', 'ipc'] });
  live.add(child);
  const exited = new Promise<void>((r) => child.once('exit', () => (live.delete(child), r())));
  const pending = new Map<number, (v: unknown) => void>();
  let nextId = 1;
  let persisted: Record<string, string[]> | null = null;
  const ready = await new Promise<{ port: number; token: string; pid: number }>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${name} did not start in 30 s`)), 30_000);
    child.on('message', (raw: unknown) => {
      const ev = raw as ServerEvent;
      if (ev.type === 'ready') {
        clearTimeout(timer);
        res(ev);
      } else if (ev.type === 'persisted') persisted = ev.rooms;
      else if (ev.type === 'reply') pending.get(ev.id)?.(ev.result), pending.delete(ev.id);
    });
    void exited.then(() => rej(new Error(`${name} exited before it was ready`)));
  });
  const request = <T>(cmd: Omit<ServerCommand, 'id'>): Promise<T> =>
    new Promise<T>((res, rej) => {
      const id = nextId++;
      const timer = setTimeout(() => (pending.delete(id), rej(new Error(`${name}: ${cmd.cmd} timed out`))), 60_000);
      pending.set(id, (v) => (clearTimeout(timer), res(v as T)));
      child.send({ ...cmd, id } as ServerCommand);
    });
  return {
    name,
    pid: ready.pid,
    port: ready.port,
    url: `http://127.0.0.1:${ready.port}`,
    token: ready.token,
    exited,
    persisted,
    stats: () => request<ServerStats>({ cmd: 'stats' }),
    sv: (rooms) => request({ cmd: 'sv', rooms } as Omit<ServerCommand, 'id'>),
    keys: (rooms) => request({ cmd: 'keys', rooms } as Omit<ServerCommand, 'id'>),
    kill: async (signal: NodeJS.Signals = (process.env.BENCH_KILL_SIGNAL as NodeJS.Signals | undefined) ?? 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// Rooms, clients, traffic

export interface Room {
  name: string;
  clients: BenchClient[];
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, rej) => (timer = setTimeout(() => rej(new Error(`timed out: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Connects `perRoom` clients to each room, at most `concurrency` handshakes in flight. Returns ms. */
export async function connectRooms(adapter: ClientAdapter, token: string, names: string[], perRoom: number, concurrency = 50): Promise<{ rooms: Room[]; ms: number }> {
  const start = performance.now();
  const rooms: Room[] = names.map((name) => ({ name, clients: [] }));
  const jobs: { room: Room }[] = [];
  for (let i = 0; i < perRoom; i++) for (const room of rooms) jobs.push({ room });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      const client = adapter.connect(job.room.name, token);
      job.room.clients.push(client);
      await withTimeout(client.synced, 60_000, `sync of ${job.room.name}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker));
  return { rooms, ms: performance.now() - start };
}

export function closeRooms(rooms: Room[]): void {
  for (const room of rooms) for (const c of room.clients) c.close();
}

interface PhaseStats {
  lat: Samples;
  delivered: number;
  expected: number;
  sent: number;
  target: number;
}

interface Stamp {
  t: number;
  p: string;
}

/**
 * Fan-out latency: writers stamp performance.now() and a phase id into each vote/annotation; every
 * other client in the room (same process, one monotonic clock) records now − t when it arrives.
 */
export class Meter {
  readonly #phases = new Map<string, PhaseStats>();

  attach(rooms: Room[]): void {
    for (const room of rooms) for (const c of room.clients) this.attachClient(c);
  }

  attachClient(c: BenchClient): void {
    const votes = c.doc.getMap('votes');
    const notes = c.doc.getArray('annotations');
    votes.observe((event, txn) => {
      if (txn.local) return;
      const now = performance.now();
      for (const key of event.keysChanged) this.record(votes.get(key) as Stamp | undefined, now);
    });
    notes.observe((event, txn) => {
      if (txn.local) return;
      const now = performance.now();
      for (const item of event.changes.added) for (const v of item.content.getContent()) this.record(v as Stamp, now);
    });
  }

  /** Records one stamped value that arrived at `now` (raw clients call this directly). */
  record(v: Stamp | undefined, now: number): void {
    if (!v || typeof v.t !== 'number' || typeof v.p !== 'string') return;
    const ph = this.#phases.get(v.p);
    if (!ph) return;
    ph.lat.add(now - v.t);
    ph.delivered += 1;
  }

  phase(id: string): PhaseStats {
    let ph = this.#phases.get(id);
    if (!ph) this.#phases.set(id, (ph = { lat: new Samples(), delivered: 0, expected: 0, sent: 0, target: 0 }));
    return ph;
  }
}

let seq = 0;
const PAD = 'x'.repeat(150);

export function vote(c: BenchClient, room: Room, phase: string, writer: string): number {
  c.markEdit();
  c.doc.getMap('votes').set(`${writer}:${seq++}`, { t: performance.now(), p: phase, v: seq % 3 === 0 ? 'reject' : 'approve', item: seq % 50 });
  return room.clients.length - 1;
}

export function annotate(c: BenchClient, room: Room, phase: string, writer: string): number {
  c.markEdit();
  c.doc.getArray('annotations').push([{ t: performance.now(), p: phase, by: writer, item: seq++ % 50, text: PAD }]);
  return room.clients.length - 1;
}

/**
 * Issues `rate` operations per second for `ms`, on a 5 ms tick. A lagging loop cannot catch up by
 * more than 50 ms worth of operations, so the sent/target ratio shows load-generator saturation.
 */
export async function drive(rate: number, ms: number, op: (i: number) => void): Promise<{ sent: number; target: number }> {
  const start = performance.now();
  const maxBurst = Math.max(1, Math.ceil(rate * 0.05));
  let sent = 0;
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - start;
      const due = Math.floor((Math.min(elapsed, ms) / 1000) * rate);
      const n = Math.min(due - sent, maxBurst);
      for (let i = 0; i < n; i++) op(sent++);
      if (elapsed >= ms) {
        clearInterval(timer);
        done();
      }
    }, 5);
  });
  return { sent, target: Math.floor((ms / 1000) * rate) };
}

/** Presence: every client updates its awareness state `hz` times per second, spread over the period. */
export function presence(clients: BenchClient[], hz: number): () => void {
  let i = 0;
  const tickMs = 20;
  const perTick = Math.max(1, Math.round((clients.length * hz * tickMs) / 1000));
  clients.forEach((c, n) => c.awareness.setLocalState({ user: { name: `user${n}`, color: '#3a7bd5' }, item: n % 50, cursor: { x: 0, y: 0 }, pad: 'p'.repeat(60) }));
  const timer = setInterval(() => {
    for (let k = 0; k < perTick; k++) {
      const c = clients[i++ % clients.length]!;
      c.awareness.setLocalStateField('cursor', { x: i % 997, y: i % 113 });
    }
  }, tickMs);
  return () => clearInterval(timer);
}

/** Runs `body` while measuring load-generator lag and server CPU. */
export async function measured<T>(server: ServerHandle, body: () => Promise<T>): Promise<{ value: T; lagP99: number; cpuMs: number; wallMs: number }> {
  const lag = new LoopLag();
  const cpu0 = cpuMs(server.pid);
  const t0 = performance.now();
  lag.start();
  const value = await body();
  const lagP99 = lag.stop();
  return { value, lagP99, cpuMs: cpuMs(server.pid) - cpu0, wallMs: performance.now() - t0 };
}

/**
 * Correctness gate: waits until every client's state vector equals the server's for its room.
 * Returns the rooms that did not converge within the timeout.
 */
export async function converge(server: ServerHandle, rooms: Room[], timeoutMs = 10_000): Promise<string[]> {
  const deadline = performance.now() + timeoutMs;
  let bad: string[] = [];
  for (;;) {
    const svs = await server.sv(rooms.map((r) => r.name));
    bad = rooms
      .filter((r) => {
        const s = svs[r.name];
        return !s || r.clients.some((c) => b64(Y.encodeStateVector(c.doc)) !== s);
      })
      .map((r) => r.name);
    if (bad.length === 0 || performance.now() > deadline) return bad;
    await sleep(100);
  }
}

export function pct(part: number, whole: number): number {
  return whole > 0 ? (100 * part) / whole : NaN;
}
