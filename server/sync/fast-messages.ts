import type { Socket } from 'socket.io';

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
 */
export interface FastDocMessage {
  docId: string;
  /** Socket.io ack id, when the client asked for an ack. */
  ackId: number | undefined;
  /** The y-protocols message: a view into the frame. */
  message: Uint8Array;
}

const MAGIC = 0xac;
const PREFIX = asciiBytes('51-');
const EVENT = asciiBytes('["doc:message","');
const SUFFIX = asciiBytes('",{"_placeholder":true,"num":0}]');
/** Longest document id the fast path takes; longer ones go to Socket.io (and are refused there by parseDocId). */
const MAX_ID_BYTES = 512;
/** Ack ids are counters; more digits than a safe integer has go to Socket.io's decoder. */
const MAX_ACK_DIGITS = 15;

function asciiBytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function matches(frame: Uint8Array, at: number, expected: Uint8Array): boolean {
  if (at + expected.length > frame.length) return false;
  for (let i = 0; i < expected.length; i++) if (frame[at + i] !== expected[i]) return false;
  return true;
}

/** Reads a varUint of at most 4 bytes (28 bits: far above any frame size); -1 if truncated or longer. */
function varUint(frame: Uint8Array, at: number): [value: number, next: number] {
  let n = 0;
  for (let i = 0, shift = 0; i < 4; i++, shift += 7) {
    if (at >= frame.length) return [-1, at];
    const b = frame[at++]!;
    n += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [n, at];
  }
  return [-1, at];
}

/** The document id, ack id and message of a packed `doc:message` frame in canonical form, else null. */
export function parseFastDocMessage(frame: Uint8Array): FastDocMessage | null {
  if (frame.length < 2 || frame[0] !== MAGIC) return null;
  const [headerLength, headerStart] = varUint(frame, 1);
  if (headerLength < 0) return null;
  const headerEnd = headerStart + headerLength;
  if (headerEnd > frame.length || !matches(frame, headerStart, PREFIX)) return null;
  let at = headerStart + PREFIX.length;
  let ackId: number | undefined;
  const digitsStart = at;
  while (at < headerEnd && frame[at]! >= 0x30 && frame[at]! <= 0x39) at++;
  if (at > digitsStart) {
    if (at - digitsStart > MAX_ACK_DIGITS) return null;
    ackId = 0;
    for (let i = digitsStart; i < at; i++) ackId = ackId * 10 + (frame[i]! - 0x30);
  }
  if (!matches(frame, at, EVENT)) return null;
  at += EVENT.length;
  const idStart = at;
  // Printable ASCII only, no quote or backslash: the JSON string is then the id itself.
  while (at < headerEnd && frame[at]! >= 0x20 && frame[at]! <= 0x7e && frame[at] !== 0x22 && frame[at] !== 0x5c) at++;
  const idEnd = at;
  if (idEnd - idStart > MAX_ID_BYTES || at + SUFFIX.length !== headerEnd || !matches(frame, at, SUFFIX)) return null;
  const [messageLength, messageStart] = varUint(frame, headerEnd);
  if (messageLength < 0 || messageStart + messageLength !== frame.length) return null;
  return {
    docId: String.fromCharCode.apply(null, frame.subarray(idStart, idEnd) as unknown as number[]),
    ackId,
    message: frame.subarray(messageStart),
  };
}

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
    const fast = data instanceof Uint8Array && socket.connected ? parseFastDocMessage(data) : null;
    if (!fast) {
      stats.viaSocketIo++;
      return viaSocketIo(data);
    }
    stats.fast++;
    const ack = fast.ackId === undefined ? undefined : once(socket, fast.ackId);
    process.nextTick(deliver, socket, handler, fast, ack);
  });
}

function deliver(socket: Socket, handler: FastHandler, fast: FastDocMessage, ack: ((body: unknown) => void) | undefined): void {
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
