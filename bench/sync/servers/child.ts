/**
 * Shared plumbing for the server child processes: argument parsing, the IPC command channel the
 * load generator uses (stats with gc, state vectors, vote keys) and exit when the parent goes away.
 */
import { flushCompileCache } from 'node:module';
import * as Y from 'yjs';
import { traceStalls } from '../stats.ts';
import { b64, voteKeys, type ServerCommand, type ServerEvent, type ServerStats } from '../common.ts';

export interface ChildArgs {
  port: number;
  dataDir: string;
  fixtures: string;
  token: string;
  /** Rooms whose persisted vote keys are reported before listening (crash analysis). */
  reportPersisted: string[];
}

export function parseArgs(argv: readonly string[]): ChildArgs {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const need = (flag: string): string => {
    const v = get(flag);
    if (v === undefined) throw new Error(`missing ${flag}`);
    return v;
  };
  const persisted = get('--report-persisted');
  return {
    port: Number(get('--port') ?? '0'),
    dataDir: need('--data'),
    fixtures: need('--fixtures'),
    token: get('--token') ?? 'bench-token',
    reportPersisted: persisted ? persisted.split(',').filter(Boolean) : [],
  };
}

export interface ServerHooks {
  /** The live document of a room, if loaded. */
  liveDoc(room: string): Y.Doc | undefined;
  loadedDocs(): number;
}

function send(event: ServerEvent): void {
  process.send?.(event);
}

export function reportPersisted(rooms: Record<string, string[]>): void {
  send({ type: 'persisted', rooms });
}

export function keysOf(update: Uint8Array | null): string[] {
  if (!update) return [];
  const doc = new Y.Doc();
  Y.applyUpdate(doc, update);
  const keys = voteKeys(doc);
  doc.destroy();
  return keys;
}

/** Wires the IPC channel; call once the server listens. */
export function serveIpc(hooks: ServerHooks, ready: { port: number; token: string }): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('disconnect', () => process.exit(0)); // the load generator is gone: never linger
  process.on('SIGTERM', () => process.exit(0)); // exits normally, so `--cpu-prof` profiles get written (BENCH_KILL_SIGNAL=SIGTERM)
  process.on('message', (raw: unknown) => {
    const msg = raw as ServerCommand;
    let result: unknown;
    if (msg.cmd === 'stats') {
      gc?.();
      const mem = process.memoryUsage();
      result = { rss: mem.rss, heapUsed: mem.heapUsed, docs: hooks.loadedDocs() } satisfies ServerStats;
    } else if (msg.cmd === 'sv') {
      result = Object.fromEntries(msg.rooms.map((r) => {
        const doc = hooks.liveDoc(r);
        return [r, doc ? b64(Y.encodeStateVector(doc)) : null];
      }));
    } else if (msg.cmd === 'keys') {
      result = Object.fromEntries(msg.rooms.map((r) => {
        const doc = hooks.liveDoc(r);
        return [r, doc ? voteKeys(doc) : null];
      }));
    }
    send({ type: 'reply', id: msg.id, result });
  });
  send({ type: 'ready', port: ready.port, token: ready.token, pid: process.pid });
  if (process.env.BENCH_SERVER_STALLS) traceStalls(`server ${process.argv[1]?.split('/').pop() ?? ''}`, Number(process.env.BENCH_SERVER_STALLS));
  // Node writes its compile cache at exit, and a SIGKILLed server never exits: write it once ready.
  flushCompileCache();
}
