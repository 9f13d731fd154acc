import type * as Y from 'yjs';
import type { Awareness } from 'y-protocols/awareness';

/** One real provider connected to one room, the same shape for every server. */
export interface BenchClient {
  readonly doc: Y.Doc;
  readonly awareness: Awareness;
  /** Resolves after the first complete sync with the server. */
  readonly synced: Promise<void>;
  /** True while connected and in sync (false while reconnecting). */
  isSynced(): boolean;
  close(): void;
  /** Call right before each local edit (counts edits for ack tracking). */
  markEdit(): void;
  /** Number of leading local edits the server acknowledged as durable; null if the protocol has no acks. */
  ackedEdits(): number | null;
}

export interface ClientAdapter {
  connect(room: string, token: string): BenchClient;
}

export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
