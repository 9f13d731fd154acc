/**
 * Accord client: the product's own SocketProvider (web/lib/socket-provider.ts) over socket.io-client,
 * WebSocket transport only, one connection per client. Every update is sent with an ack callback;
 * the adapter records which local edits a durable ack covered.
 */
import * as Y from 'yjs';
import { io } from 'socket.io-client';
import { SocketProvider, type AccordSocket } from '../../../web/lib/socket-provider.ts';
import { deferred, type BenchClient, type ClientAdapter } from './types.ts';
import { SOCKET_OPTIONS } from '../../../web/lib/socket-options.ts';

type Emit = (...args: unknown[]) => unknown;

export function accordAdapter(url: string): ClientAdapter {
  return {
    connect(room: string, token: string): BenchClient {
      const socket: AccordSocket = io(url, { ...SOCKET_OPTIONS, auth: { token }, forceNew: true }); // as the web app connects
      let edits = 0;
      let acked = 0;
      // Wrap emit: an ok ack for a message sent after N local edits means edits 0..N-1 are durable.
      const raw = socket as unknown as { emit: Emit };
      const emit = raw.emit.bind(socket) as Emit;
      raw.emit = (...args: unknown[]) => {
        const last = args[args.length - 1];
        if (args[0] === 'doc:message' && typeof last === 'function') {
          const covered = edits;
          const ack = last as (r: { ok: boolean }) => void;
          args[args.length - 1] = (r: { ok: boolean }) => {
            if (r.ok) acked = Math.max(acked, covered);
            ack(r);
          };
        }
        return emit(...args);
      };
      const doc = new Y.Doc();
      const provider = new SocketProvider(socket, `notes:${room}`, doc);
      const synced = deferred();
      const off = provider.subscribe(() => {
        if (provider.status === 'synced') {
          off();
          synced.resolve();
        }
      });
      return {
        doc,
        awareness: provider.awareness,
        synced: synced.promise,
        isSynced: () => provider.status === 'synced' && socket.connected,
        markEdit: () => void (edits += 1),
        ackedEdits: () => acked,
        close: () => {
          provider.destroy();
          socket.disconnect();
          doc.destroy();
        },
      };
    },
  };
}
