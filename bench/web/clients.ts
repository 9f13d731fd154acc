/**
 * Simulated people for the web bench: one real socket.io-client connection per person (the web app's
 * SOCKET_OPTIONS, so Accord's one-frame parser), the product's own SocketProvider on one document,
 * and commands sent as the web app sends them (`entity:verb` with an ack).
 */
import * as Y from 'yjs';
import { io } from 'socket.io-client';
import { SocketProvider, type AccordSocket } from '../../web/lib/socket-provider.ts';
import { SOCKET_OPTIONS } from '../../web/lib/socket-options.ts';
import type { CommandName } from '../../server/protocol/events.ts';

export interface Person {
  name: string;
  socket: AccordSocket;
  provider: SocketProvider;
  doc: Y.Doc;
  /** Sends a command and resolves with its data; rejects with the server's refusal. */
  command(name: CommandName, payload: Record<string, unknown>): Promise<unknown>;
  close(): void;
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Connects `name` (with its API token) and joins `docId`; resolves once the first sync is done. */
export async function join(url: string, name: string, token: string, docId: string, timeoutMs = 30_000): Promise<Person> {
  const socket: AccordSocket = io(url, { ...SOCKET_OPTIONS, auth: { token }, forceNew: true });
  const doc = new Y.Doc();
  const provider = new SocketProvider(socket, docId, doc);
  const person: Person = {
    name, socket, provider, doc,
    command(command, payload) {
      return new Promise((resolve, reject) => {
        const emit = socket.emit as unknown as (event: string, payload: unknown, ack: (r: { ok: boolean; data?: unknown; error?: { code: string; message: string } }) => void) => void;
        emit.call(socket, command, payload, (r) => (r.ok ? resolve(r.data) : reject(new Error(`${name} ${command}: ${r.error?.code}: ${r.error?.message}`))));
      });
    },
    close() {
      provider.destroy();
      socket.disconnect();
    },
  };
  try {
    await withTimeout(provider.whenSynced(), timeoutMs, `${name} joining ${docId}`);
  } catch (err) {
    person.close();
    throw err;
  }
  return person;
}

/** Runs `f` over `items` with at most `limit` at a time. */
export async function pool<T, R>(items: readonly T[], limit: number, f: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!, i);
    }
  }));
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
