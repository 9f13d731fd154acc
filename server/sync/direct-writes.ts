import type { Server } from 'socket.io';

type EngineServer = Server['engine'];

/**
 * Direct writes: a message for a connection whose Engine.IO socket has nothing queued goes straight to
 * its WebSocket, instead of through Engine.IO's write buffer, flush and drain events and per-packet
 * send callback. Profiling the relay of an update to 9 peers showed that machinery, not the WebSocket
 * write, as the largest cost of a delivery; bypassing it cut the server's CPU per update by about a
 * tenth (docs/decisions.md, "Relays are encoded once and written straight to each WebSocket").
 *
 * Order is kept: a packet goes direct only when Engine.IO's write buffer is empty, so everything
 * written before it is already in the WebSocket's own ordered queue. Anything else takes Engine.IO's
 * path unchanged: pings and other control packets, packets with a send callback, a connection on
 * long-polling or still upgrading, a closing connection, per-message deflate, a client that asked for
 * base64 instead of binary frames.
 *
 * Relies on Engine.IO 6 internals (`sendPacket`, `writeBuffer`, `transport.socket`, `ws`'s
 * `Sender#sendFrame` for the pre-encoded frames of broadcasts, as Engine.IO itself uses it, and the
 * WebSocket's `_socket`, the TCP socket that write coalescing corks); the lock file pins the versions
 * and test/sync/direct-writes.test.ts checks the behaviour.
 */

interface WsSocket {
  readyState: number;
  send(data: string | Uint8Array): void;
  _sender?: { sendFrame?: (frame: unknown, cb?: unknown) => void };
  /** The TCP socket under the WebSocket. */
  _socket?: Corkable;
}

/** What write coalescing needs of a TCP socket (a `net.Socket`). */
interface Corkable {
  cork(): void;
  uncork(): void;
  destroyed?: boolean;
  writableCorked: number;
}

interface EngineTransport {
  name: string;
  perMessageDeflate?: unknown;
  supportsBinary?: boolean;
  socket?: WsSocket;
}

export interface EngineSocket {
  readyState: string;
  upgrading: boolean;
  writeBuffer: unknown[];
  transport: EngineTransport;
  sendPacket(type: string, data?: unknown, options?: unknown, callback?: unknown): void;
}

interface PacketOptions {
  wsPreEncodedFrame?: unknown;
}

const WS_OPEN = 1;

export interface DirectWriteStats {
  /** Messages written straight to a WebSocket. */
  direct: number;
  /** Messages that took Engine.IO's path (something queued, not a WebSocket, a callback...). */
  queued: number;
}

/** Installs direct writes on every Engine.IO connection of `engine`; returns live counters. */
export function installDirectWrites(engine: EngineServer): DirectWriteStats {
  const stats: DirectWriteStats = { direct: 0, queued: 0 };
  engine.on('connection', (conn: EngineSocket) => {
    const viaEngine = conn.sendPacket;
    conn.sendPacket = function sendPacket(type, data, options, callback) {
      const opts = options as PacketOptions | undefined;
      const direct = type === 'message' && callback === undefined && (options === undefined || typeof options === 'object');
      const ws = direct ? directSocket(conn) : undefined;
      if (ws && (typeof data === 'string' || data instanceof Uint8Array)) {
        coalesce(ws, typeof data === 'string' ? data.length : data.byteLength);
        const sender = ws._sender;
        if (opts?.wsPreEncodedFrame !== undefined && sender?.sendFrame) sender.sendFrame(opts.wsPreEncodedFrame);
        else ws.send(typeof data === 'string' ? `4${data}` : data); // Engine.IO's "message" packet; binary goes as it is
        stats.direct++;
        return;
      }
      if (type === 'message') stats.queued++;
      viaEngine.call(conn, type, data, options, callback);
    };
  });
  return stats;
}

/**
 * The same binary message to many connections (a relay): the WebSocket frame (header and payload, one
 * buffer) is built once, on first use, and each connection that can take a direct write gets it in one
 * socket write; the others get `data` through Engine.IO as usual.
 */
export function writeToMany(conns: Iterable<EngineSocket>, data: Uint8Array, stats: DirectWriteStats): void {
  let frame: Buffer[] | undefined;
  for (const conn of conns) {
    const ws = directSocket(conn);
    const sender = ws?._sender;
    if (sender?.sendFrame) {
      coalesce(ws!, data.byteLength);
      frame ??= [wsBinaryFrame(data)];
      sender.sendFrame(frame);
      stats.direct++;
    } else {
      (conn as unknown as { write(data: Uint8Array): void }).write(data);
    }
  }
}

/**
 * Write coalescing: the first message a connection gets in a turn of the event loop is written at once;
 * if more follow in the same turn, its TCP socket is corked, so they leave together in one `writev`
 * instead of one `write` system call each. A connection with one message per turn (a quiet session) is
 * never delayed; on a busy server, where one turn reads many peers' updates, each connection's relays,
 * acks and presence of that turn go out together, and the busier the server, the more system calls this
 * saves. What is held is released at the end of the turn (one `setImmediate`), or earlier: at the next
 * write once it has been held for `HOLD_MAX_MS`, and before any message of `LARGE_MESSAGE_BYTES` or more
 * (a document's state for a joining client), which is written at once; so a turn that does heavy work
 * (a join storm encoding a large document for each client) never holds a small message for its whole
 * length. Order is unchanged: a corked socket still queues every write in order, Engine.IO's and `ws`'s
 * own included, and `end()` flushes a corked socket, so a close frame still follows what came before it.
 */
const HOLD_MAX_MS = 1;
const LARGE_MESSAGE_BYTES = 64 * 1024;
const writtenThisTurn = new Set<Corkable>();
const held: Corkable[] = [];
let heldSince = 0;

function coalesce(ws: WsSocket, bytes: number): void {
  const socket = ws._socket;
  if (!socket) return;
  if (!writtenThisTurn.has(socket)) {
    if (writtenThisTurn.size === 0) setImmediate(endTurn);
    writtenThisTurn.add(socket);
    return;
  }
  if (bytes >= LARGE_MESSAGE_BYTES || (held.length > 0 && performance.now() - heldSince > HOLD_MAX_MS)) return release();
  if (socket.writableCorked !== 0) return;
  if (held.length === 0) heldSince = performance.now();
  socket.cork();
  held.push(socket);
}

function release(): void {
  for (const socket of held.splice(0)) if (!socket.destroyed) socket.uncork();
}

function endTurn(): void {
  writtenThisTurn.clear();
  release();
}

/** An unmasked, final, binary WebSocket frame (RFC 6455 §5.2) carrying `payload`, as one buffer. */
export function wsBinaryFrame(payload: Uint8Array): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + n);
  frame[0] = 0x82;
  if (n < 126) frame[1] = n;
  else if (n < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    frame.writeUInt32BE(n >>> 0, 6);
  }
  frame.set(payload, head);
  return frame;
}

/** The connection's WebSocket when a message may bypass Engine.IO without overtaking anything. */
function directSocket(conn: EngineSocket): WsSocket | undefined {
  if (conn.readyState !== 'open' || conn.upgrading || conn.writeBuffer.length !== 0) return undefined;
  const transport = conn.transport;
  if (transport.name !== 'websocket' || transport.perMessageDeflate || transport.supportsBinary === false) return undefined;
  const ws = transport.socket;
  return ws && ws.readyState === WS_OPEN ? ws : undefined;
}
