/** Shared definitions for the side-by-side sync benchmark (bench/README.md). */
import * as Y from 'yjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from '../../test/helpers/rng.ts';

/** Deterministic PRNG so every server gets byte-identical fixtures. */
export const rng = mulberry32;

/**
 * V8 flags of every load-generator process (the same for all three servers). One generator holds up to
 * 60 replicas of one document in one isolate, so they share Yjs's allocation sites. In some runs and not
 * others V8 started to pretenure Yjs's transactions (so the allocation profile reads: their state-vector
 * maps and sets were what survived minor GCs), and every dead transaction in old space then kept its
 * young maps alive through the remembered set. Each
 * scavenge then promoted ~5 MB instead of ~0.5 MB and paused 6 ms instead of 2 ms, every ~170 ms, and
 * that set scenario B's p99 at 80 votes/s for whichever client it hit (Accord 7.4–8.4 ms, Hocuspocus
 * 15.6 ms, where runs without it gave 3–5 ms). One browser tab holds one replica; this is an artefact
 * of packing 60 into one process, so the generator runs without allocation-site pretenuring.
 */
export const GENERATOR_NODE_ARGS = ['--no-allocation-site-pretenuring'];

/**
 * For load-generator entry points run directly (hot-probe, fixed-rate): runs this same script again
 * with GENERATOR_NODE_ARGS when the process was started without them, and exits with its status.
 */
export function ensureGeneratorFlags(): void {
  if (GENERATOR_NODE_ARGS.every((f) => process.execArgv.includes(f))) return;
  const r = spawnSync(process.execPath, [...GENERATOR_NODE_ARGS, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

export const SERVER_NAMES = ['accord', 'ywebsocket', 'hocuspocus'] as const;
export type ServerName = (typeof SERVER_NAMES)[number];

export const SCENARIO_IDS = ['A', 'B', 'C', 'D', 'E', 'F'] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

/** Messages a server child sends over its IPC channel. */
export type ServerEvent =
  | { type: 'ready'; port: number; token: string; pid: number }
  | { type: 'persisted'; rooms: Record<string, string[]> }
  | { type: 'reply'; id: number; result: unknown };

/** Commands a server child answers over IPC. */
export type ServerCommand =
  | { id: number; cmd: 'stats' }
  | { id: number; cmd: 'sv'; rooms: string[] }
  | { id: number; cmd: 'keys'; rooms: string[] };

export interface ServerStats {
  rss: number;
  heapUsed: number;
  /** Documents currently loaded in memory. */
  docs: number;
}


const WORDS = 'allow deny vm host cluster datastore network role admin read write power console snapshot clone migrate folder pool tag policy'.split(' ');

export function text(rand: () => number, chars: number): string {
  let s = '';
  while (s.length < chars) s += WORDS[Math.floor(rand() * WORDS.length)] + ' ';
  return s.slice(0, chars);
}

/** A room's seeded content: `proposal` map of 50 access-change items (~10 KB). */
function roomFixture(seed: number, annotations: number): Uint8Array {
  const rand = rng(seed);
  const doc = new Y.Doc({ gc: true });
  doc.clientID = 1; // deterministic bytes
  doc.transact(() => {
    const proposal = doc.getMap('proposal');
    for (let i = 0; i < 50; i++) {
      proposal.set(`item${i}`, { principal: `user${Math.floor(rand() * 500)}@corp`, role: text(rand, 24), entity: `/dc1/vm/${text(rand, 40)}`, propagate: rand() < 0.5, note: text(rand, 110) });
    }
    const notes = doc.getArray('annotations');
    for (let i = 0; i < annotations; i++) notes.push([{ t: 0, by: `seed${i % 50}`, item: i % 50, text: text(rand, 180) }]);
  });
  return Y.encodeStateAsUpdate(doc);
}

export const IDLE_ROOMS = 1000;
export const BIG_ROOMS = ['big0', 'big1'];
export const roomName = (i: number): string => `r${i}`;

/** Writes the fixtures once: r0..r999 (~10 KB each) and big0/big1 (~1 MB each). Returns the dir. */
export function ensureFixtures(dir: string): string {
  const marker = join(dir, 'complete-v1');
  if (existsSync(marker)) return dir;
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < IDLE_ROOMS; i++) writeFileSync(join(dir, `${roomName(i)}.bin`), roomFixture(1000 + i, 0));
  BIG_ROOMS.forEach((name, i) => writeFileSync(join(dir, `${name}.bin`), roomFixture(7 + i, 4700)));
  writeFileSync(marker, new Date().toISOString());
  return dir;
}

export function readFixture(dir: string, room: string): Uint8Array | null {
  const file = join(dir, `${room}.bin`);
  return existsSync(file) ? new Uint8Array(readFileSync(file)) : null;
}

export function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Vote keys present in a document (used to count edits that survived a crash). */
export function voteKeys(doc: Y.Doc): string[] {
  return [...doc.getMap('votes').keys()];
}
