/**
 * Rooms of raw-protocol clients with a real provider ("canary") in some of them: the load generator
 * for scenarios above 500 clients (A, D), as the plan's rule 6 asks. Raw clients write real Yjs
 * updates and report every stamp they receive to the Meter; canaries are the products' own providers,
 * measured the same way, and must converge like everyone else.
 */
import * as Y from 'yjs';
import { adapterFor } from '../clients/index.ts';
import { rawConnect, type RawClient } from '../clients/raw.ts';
import type { BenchClient } from '../clients/types.ts';
import { sleep, type ServerName } from '../common.ts';
import { annotate, converge, presence, vote, withTimeout, type Meter, type Room, type ServerHandle } from './harness.ts';

export type Writer = { raw: RawClient } | { canary: BenchClient };

export interface MixedRoom {
  name: string;
  /** Every client of the room, raw ones first; each takes its turn as a writer. */
  writers: Writer[];
  raw: RawClient[];
  /** The room's canary as a harness Room (for converge()), if it has one. */
  canary: Room | null;
}

/** Connects `perRoom` clients to each room (a canary in every `canaryEvery`-th room), at most `concurrency` handshakes at once. */
export async function connectMixedRooms(
  server: ServerName, handle: ServerHandle, names: string[], perRoom: number, canaryEvery: number, meter: Meter, concurrency = 50,
): Promise<{ rooms: MixedRoom[]; ms: number }> {
  const start = performance.now();
  const adapter = adapterFor(server, handle.url);
  const rooms: MixedRoom[] = names.map((name) => ({ name, writers: [], raw: [], canary: null }));
  const jobs: { room: MixedRoom; canary: boolean }[] = [];
  for (let i = 0; i < perRoom; i++) rooms.forEach((room, r) => jobs.push({ room, canary: i === perRoom - 1 && r % canaryEvery === 0 }));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const { room, canary } = jobs[next++]!;
      if (canary) {
        const c = adapter.connect(room.name, handle.token);
        meter.attachClient(c);
        room.canary = { name: room.name, clients: [c] };
        room.writers.push({ canary: c });
        await withTimeout(c.synced, 60_000, `sync of ${room.name}`);
      } else {
        const c = rawConnect(server, handle.url, room.name, handle.token);
        c.onStamp = (stamp, now) => meter.record(stamp, now);
        room.raw.push(c);
        room.writers.push({ raw: c });
        await withTimeout(c.synced, 60_000, `sync of ${room.name}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker));
  return { rooms, ms: performance.now() - start };
}

let seq = 0;

/** One vote by `w`; returns the deliveries it should cause (every other client of the room). */
export function voteBy(w: Writer, room: MixedRoom, phase: string, writer: string): number {
  if ('canary' in w) vote(w.canary, room.canary!, phase, writer);
  else {
    seq += 1;
    w.raw.vote(`${writer}:r${seq}`, { t: performance.now(), p: phase, v: seq % 3 === 0 ? 'reject' : 'approve', item: seq % 50 });
  }
  return room.writers.length - 1;
}

const PAD = 'x'.repeat(150);

/** One ~200 B annotation by `w`; returns the deliveries it should cause. */
export function annotateBy(w: Writer, room: MixedRoom, phase: string, writer: string): number {
  if ('canary' in w) annotate(w.canary, room.canary!, phase, writer);
  else w.raw.annotate({ t: performance.now(), p: phase, by: writer, item: seq++ % 50, text: PAD });
  return room.writers.length - 1;
}

/** Presence at `hz` per client: canaries through their providers' awareness, raw clients with awareness messages. */
export function mixedPresence(rooms: MixedRoom[], hz: number): () => void {
  const stopCanaries = presence(rooms.flatMap((r) => r.canary?.clients ?? []), hz);
  const raw = rooms.flatMap((r) => r.raw);
  const tickMs = 20;
  const perTick = Math.max(1, Math.round((raw.length * hz * tickMs) / 1000));
  let i = 0;
  const state = (n: number): Record<string, unknown> => ({ user: { name: `user${n}`, color: '#3a7bd5' }, item: n % 50, cursor: { x: n % 997, y: n % 113 }, pad: 'p'.repeat(60) });
  raw.forEach((c, n) => c.presence(state(n)));
  const timer = setInterval(() => {
    for (let k = 0; k < perTick; k++) {
      const n = i++ % raw.length;
      raw[n]!.presence(state(i));
    }
  }, tickMs);
  return () => {
    clearInterval(timer);
    stopCanaries();
  };
}

/** The convergence gate for mixed rooms: canaries by their documents, raw clients by the state vectors they saw. */
export async function convergeMixed(server: ServerHandle, rooms: MixedRoom[], timeoutMs: number): Promise<string[]> {
  const badCanaries = await converge(server, rooms.flatMap((r) => (r.canary ? [r.canary] : [])), timeoutMs);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const svs = await server.sv(rooms.map((r) => r.name));
    const badRaw = rooms
      .filter((r) => {
        const s = svs[r.name];
        if (!s) return true;
        const want = Y.decodeStateVector(Buffer.from(s, 'base64'));
        return r.raw.some((c) => {
          const have = c.stateVector();
          return have.size !== want.size || [...want].some(([client, clock]) => have.get(client) !== clock);
        });
      })
      .map((r) => r.name);
    if (badRaw.length === 0 || performance.now() > deadline) return [...new Set([...badCanaries, ...badRaw])];
    await sleep(100);
  }
}

export function closeMixed(rooms: MixedRoom[]): void {
  for (const r of rooms) {
    for (const c of r.raw) c.close();
    for (const c of r.canary?.clients ?? []) c.close();
  }
}
