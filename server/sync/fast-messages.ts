import type { Socket } from 'socket.io';
import { parseDocMessageFrame, type DocMessageFrame } from '../protocol/frame-parser.ts';

/**
 * The receive path of `doc:message`, the one event that carries every keystroke and every presence
 * update, without Socket.io's generic event machinery. A client sends it as ONE packed binary frame
 * (server/protocol/frame-parser.ts):
 *
 *   0xAC  varUint(n)  `51-<ack id?>["doc:message","<doc id>",{"_placeholder":true,"num":0}]`  varUint(m)  <m bytes>
 *
 * Socket.io would decode the header as JSON, rebuild the packet around the attachment, look up the
 * namespace, wrap an ack closure and emit through two EventEmitters. Here the header is matched byte
 * by byte against that one canonical form and the handler is called with the document id, the bytes
 * (a view, no copy) and the ack id. Anything that does not match exactly (another event, another
 * namespace, an escaped or non-ASCII id, two attachments, the two-frame form) takes Socket.io's
 * path unchanged, so the fast path decides nothing Socket.io would have decided differently: it only
 * skips work. The handler validates the message exactly as the Socket.io event handler does.
 *
 * Order is kept: Socket.io delivers an event two `process.nextTick`s after its frame arrived (one in
 * `Client#ondecoded`, one in `Socket#dispatch`), and so does this path, so a `doc:leave` (text, via
 * Socket.io) and the `doc:message` after it reach the transport in the order they were sent.
 *
 * The frame is read by `parseDocMessageFrame` (server/protocol/frame-parser.ts), which the clients'
 * decoder shares.
 */

/** The text of a Socket.io ACK packet on the main namespace, as socket.io-parser encodes it. */
export function ackPacket(ackId: number, body: unknown): string {
  return `3${ackId}${JSON.stringify([body])}`;
}

interface ClientInternals {
  ondata(data: unknown): void;
  [FAST_PATH]?: true;
}

const FAST_PATH = Symbol('accord-fast-doc-message');

export type FastHandler = (docId: string, message: Uint8Array, ack: ((body: unknown) => void) | undefined) => void;

export interface FastPathStats {
  /** Packets that took the fast path. */
  fast: number;
  /** Packets handed to Socket.io (text packets, other forms). */
  viaSocketIo: number;
}

/**
 * Routes the connection's packed `doc:message` frames to `handler` (two ticks later, as Socket.io would),
 * everything else to Socket.io. Relies on Socket.io 4's Client listening to Engine.IO's `data` event with
 * its bound `ondata`; the lock file pins the version and test/sync/fast-messages.test.ts checks the
 * behaviour. Only the main namespace is fast-pathed (the header form above has no namespace).
 */
export function installFastPath(socket: Socket, handler: FastHandler, stats: FastPathStats): void {
  const client = (socket as unknown as { client: ClientInternals }).client;
  if (socket.nsp.name !== '/' || client[FAST_PATH]) return;
  client[FAST_PATH] = true;
  const conn = socket.conn;
  const viaSocketIo = client.ondata;
  conn.off('data', viaSocketIo);
  conn.on('data', (data: unknown) => {
    const fast = data instanceof Uint8Array && socket.connected ? parseDocMessageFrame(data) : null;
    if (!fast) {
      stats.viaSocketIo++;
      return viaSocketIo(data);
    }
    stats.fast++;
    const ack = fast.ackId === undefined ? undefined : once(socket, fast.ackId);
    process.nextTick(deliver, socket, handler, fast, ack);
  });
}

function deliver(socket: Socket, handler: FastHandler, fast: DocMessageFrame, ack: ((body: unknown) => void) | undefined): void {
  process.nextTick(() => {
    if (socket.connected) handler(fast.docId, fast.message, ack); // as Socket#dispatch: nothing after a disconnect
  });
}

/** An ack callback that sends at most once, like Socket.io's. */
function once(socket: Socket, ackId: number): (body: unknown) => void {
  let sent = false;
  return (body) => {
    if (sent) return;
    sent = true;
    if (socket.conn.readyState === 'open') socket.conn.write(ackPacket(ackId, body));
  };
}
