import * as Y from 'yjs';
import { Awareness } from 'y-protocols/awareness';
import type { DocAccess } from '../protocol/events.ts';
import type { Principal } from '../auth/roles.ts';

/** One socket's membership in a live document. */
export interface DocSession {
  socketId: string;
  /** The socket itself, so that a relay reaches it without a lookup by id. */
  socket: { readonly connected: boolean; readonly conn: object };
  principal: Principal;
  access: DocAccess;
  /** Awareness client ids this socket has announced; removed when it leaves. */
  awarenessClients: Set<number>;
}

/** A Y.Doc held in memory while anyone is connected to it, with its presence and sessions. */
export class LiveDocument {
  readonly id: string;
  readonly kind: string;
  readonly doc = new Y.Doc({ gc: true });
  readonly awareness: Awareness;
  readonly sessions = new Map<string, DocSession>();
  /** Which socket owns each awareness client id, so nobody can overwrite another's presence. */
  readonly awarenessOwners = new Map<number, string>();
  /**
   * Sequence number up to which this node holds every durable update of the document (its own and, with
   * several nodes, the others'): the snapshot of a compaction covers exactly the log up to it.
   */
  lastSeq = 0;
  /** Ranges of sequence numbers held beyond `lastSeq`, waiting for the gap before them (several nodes). */
  ahead: [number, number][] = [];
  gapTimer: NodeJS.Timeout | undefined;
  /** A read of the stored document to fill a gap, while one runs. */
  filling: Promise<void> | undefined;
  /** Updates in the store's log since the last snapshot. */
  logLength = 0;
  compactTimer: NodeJS.Timeout | undefined;
  unloadTimer: NodeJS.Timeout | undefined;

  constructor(id: string, kind: string) {
    this.id = id;
    this.kind = kind;
    this.awareness = new Awareness(this.doc);
    this.awareness.setLocalState(null); // the server has no presence of its own
  }

  destroy(): void {
    clearTimeout(this.compactTimer);
    clearTimeout(this.unloadTimer);
    clearTimeout(this.gapTimer);
    this.awareness.destroy();
    this.doc.destroy();
  }
}
