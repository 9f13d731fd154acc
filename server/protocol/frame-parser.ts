/**
 * Socket.io's default parser sends an event with binary data as two or more WebSocket frames: a text
 * header, then one frame per attachment. For `doc:message` that doubles the frames the server writes per
 * recipient. This parser packs such a packet into ONE binary frame:
 *
 *   0xAC  varUint(header length)  header (UTF-8, the default parser's text)  { varUint(length) bytes }*
 *
 * Packets without binary data are unchanged text, and the decoder still accepts the default two-frame
 * form, so raw Socket.io clients keep working for everything but receiving binary events. No Node
 * imports: the web app uses it too (docs/protocol.md).
 */
import { Decoder as BaseDecoder, Encoder as BaseEncoder, PacketType, type Packet } from 'socket.io-parser';

const MAGIC = 0xac;
/** Attachments one packed frame may carry (doc:message has one). */
const MAX_ATTACHMENTS = 16;

function varUintLength(n: number): number {
  let len = 1;
  while (n > 0x7f) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarUint(out: Uint8Array, at: number, n: number): number {
  while (n > 0x7f) {
    out[at++] = 0x80 | (n & 0x7f);
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

/** Reads a varUint of at most `maxBytes` bytes: [value, next], or value -1 if truncated, -2 if longer. */
function tryVarUint(bytes: Uint8Array, at: number, maxBytes: number): [value: number, next: number] {
  let n = 0;
  let mult = 1;
  for (let i = 0; i < maxBytes; i++) {
    if (at >= bytes.length) return [-1, at];
    const b = bytes[at++]!;
    n += (b & 0x7f) * mult;
    if (b < 0x80) return [n, at];
    mult *= 128;
  }
  return [-2, at];
}

function readVarUint(bytes: Uint8Array, at: number): [number, number] {
  const read = tryVarUint(bytes, at, 5);
  if (read[0] === -1) throw new Error('packed frame: truncated length');
  if (read[0] === -2) throw new Error('packed frame: length too long');
  return read;
}

function toBytes(part: unknown): Uint8Array {
  if (part instanceof Uint8Array) return part;
  if (part instanceof ArrayBuffer) return new Uint8Array(part);
  if (ArrayBuffer.isView(part)) return new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
  throw new Error('packed frame: unexpected attachment');
}

/** Packs the default encoding [header, ...attachments] into one frame. */
export function pack(parts: readonly unknown[]): Uint8Array {
  const header = new TextEncoder().encode(parts[0] as string);
  const attachments = parts.slice(1).map(toBytes);
  let size = 1 + varUintLength(header.length) + header.length;
  for (const a of attachments) size += varUintLength(a.length) + a.length;
  const out = new Uint8Array(size);
  out[0] = MAGIC;
  let at = writeVarUint(out, 1, header.length);
  out.set(header, at);
  at += header.length;
  for (const a of attachments) {
    at = writeVarUint(out, at, a.length);
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** The header text and attachments of a packed frame; throws on anything malformed. */
export function unpack(frame: Uint8Array): { header: string; attachments: Uint8Array[] } {
  if (frame[0] !== MAGIC) throw new Error('packed frame: bad marker');
  let [len, at] = readVarUint(frame, 1);
  if (at + len > frame.length) throw new Error('packed frame: truncated header');
  const header = new TextDecoder('utf-8', { fatal: true }).decode(frame.subarray(at, at + len));
  at += len;
  const attachments: Uint8Array[] = [];
  while (at < frame.length) {
    if (attachments.length >= MAX_ATTACHMENTS) throw new Error('packed frame: too many attachments');
    [len, at] = readVarUint(frame, at);
    if (at + len > frame.length) throw new Error('packed frame: truncated attachment');
    attachments.push(frame.subarray(at, at + len));
    at += len;
  }
  return { header, attachments };
}

// ---------------------------------------------------------------------------------------------
// The canonical doc:message frame: the one packet every keystroke and presence update travels in.

/**
 * A packed `doc:message` event in its canonical form, as `Encoder` writes it for
 * `emit('doc:message', docId, bytes[, ack])` on the main namespace:
 *
 *   0xAC  varUint(n)  `51-<ack id?>["doc:message","<doc id>",{"_placeholder":true,"num":0}]`  varUint(m)  <m bytes>
 *
 * with a document id of printable ASCII without `"` or `\` (so its JSON string is the id itself). Both
 * ends read and write this form without JSON or Socket.io's packet machinery (server/sync/fast-messages.ts
 * on the server, `Encoder` and `Decoder` below on both sides); any other form takes the generic path.
 */
export interface DocMessageFrame {
  docId: string;
  /** Socket.io ack id, when the sender asked for an ack. */
  ackId: number | undefined;
  /** The y-protocols message: a view into the frame. */
  message: Uint8Array;
}

const EVENT_NAME = 'doc:message';
const PREFIX = asciiBytes('51-');
const EVENT = asciiBytes('["doc:message","');
const SUFFIX = asciiBytes('",{"_placeholder":true,"num":0}]');
/** Longest document id in canonical form; longer ones take the generic path (and the server refuses them). */
const MAX_ID_BYTES = 512;
/** Ack ids are counters; more digits than a safe integer has take the generic path. */
const MAX_ACK_DIGITS = 15;

function asciiBytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function matches(frame: Uint8Array, at: number, expected: Uint8Array): boolean {
  if (at + expected.length > frame.length) return false;
  for (let i = 0; i < expected.length; i++) if (frame[at + i] !== expected[i]) return false;
  return true;
}

/** A character of a canonical id: printable ASCII but `"` and `\` (its JSON string is then the id itself). */
function isIdChar(c: number): boolean {
  return c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c;
}

/** True for a document id whose JSON string is `"<id>"` (printable ASCII, no quote or backslash). */
function isCanonicalId(id: string): boolean {
  if (id.length > MAX_ID_BYTES) return false;
  for (let i = 0; i < id.length; i++) if (!isIdChar(id.charCodeAt(i))) return false;
  return true;
}

/** The document id, ack id and message of a packed `doc:message` frame in canonical form, else null. */
export function parseDocMessageFrame(frame: Uint8Array): DocMessageFrame | null {
  if (frame.length < 2 || frame[0] !== MAGIC) return null;
  const [headerLength, headerStart] = tryVarUint(frame, 1, 4);
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
  while (at < headerEnd && isIdChar(frame[at]!)) at++;
  const idEnd = at;
  if (idEnd - idStart > MAX_ID_BYTES || at + SUFFIX.length !== headerEnd || !matches(frame, at, SUFFIX)) return null;
  const [messageLength, messageStart] = tryVarUint(frame, headerEnd, 4);
  if (messageLength < 0 || messageStart + messageLength !== frame.length) return null;
  return {
    docId: String.fromCharCode.apply(null, frame.subarray(idStart, idEnd) as unknown as number[]),
    ackId,
    message: frame.subarray(messageStart),
  };
}

/**
 * The canonical frame of `doc:message` (docId, message[, ack id]), byte for byte what
 * `pack(new BaseEncoder().encode(packet))` gives, or null when `docId` has no canonical form.
 */
export function encodeDocMessageFrame(docId: string, message: Uint8Array, ackId?: number): Uint8Array | null {
  if (!isCanonicalId(docId) || (ackId !== undefined && !(Number.isSafeInteger(ackId) && ackId >= 0))) return null;
  const ack = ackId === undefined ? '' : String(ackId);
  const headerLength = PREFIX.length + ack.length + EVENT.length + docId.length + SUFFIX.length;
  const out = new Uint8Array(1 + varUintLength(headerLength) + headerLength + varUintLength(message.length) + message.length);
  out[0] = MAGIC;
  let at = writeVarUint(out, 1, headerLength);
  out.set(PREFIX, at);
  at += PREFIX.length;
  for (let i = 0; i < ack.length; i++) out[at++] = ack.charCodeAt(i);
  out.set(EVENT, at);
  at += EVENT.length;
  for (let i = 0; i < docId.length; i++) out[at++] = docId.charCodeAt(i);
  out.set(SUFFIX, at);
  at += SUFFIX.length;
  at = writeVarUint(out, at, message.length);
  out.set(message, at);
  return out;
}

/** The frame of a `doc:message` packet in canonical form, or null for any other packet. */
function canonicalFrame(packet: Packet): Uint8Array | null {
  const data = packet.data as unknown;
  if (packet.type !== PacketType.EVENT || packet.nsp !== '/' || !Array.isArray(data) || data.length !== 3) return null;
  const [event, docId, message] = data as unknown[];
  if (event !== EVENT_NAME || typeof docId !== 'string' || !(message instanceof Uint8Array)) return null;
  return encodeDocMessageFrame(docId, message, packet.id);
}

export class Encoder extends BaseEncoder {
  override encode(packet: Packet): unknown[] {
    const canonical = canonicalFrame(packet);
    if (canonical) return [canonical];
    const parts = super.encode(packet);
    return parts.length > 1 ? [pack(parts)] : parts;
  }
}

interface DecoderInternals {
  /** socket.io-parser's pending two-frame packet, if any (then frames must take its path). */
  reconstructor?: unknown;
  /** A JSON reviver would see the header's values: then the header is parsed as JSON. */
  opts?: { reviver?: unknown };
}

export class Decoder extends BaseDecoder {
  override add(obj: unknown): void {
    if (obj instanceof Uint8Array || obj instanceof ArrayBuffer) {
      const bytes = toBytes(obj);
      const internals = this as unknown as DecoderInternals;
      // In the middle of a default-form packet every binary frame is its next attachment, whatever its first byte.
      if (bytes[0] === MAGIC && !internals.reconstructor) {
        const canonical = internals.opts?.reviver ? null : parseDocMessageFrame(bytes);
        if (canonical) {
          // The packet socket.io-parser would have rebuilt from the header and the attachment.
          const packet: Packet = { type: PacketType.EVENT, nsp: '/', data: [EVENT_NAME, canonical.docId, canonical.message] };
          if (canonical.ackId !== undefined) packet.id = canonical.ackId;
          this.emitReserved('decoded', packet);
          return;
        }
        const { header, attachments } = unpack(bytes);
        super.add(header);
        for (const a of attachments) super.add(a);
        return;
      }
    }
    super.add(obj);
  }
}

/** Pass as `parser` to both `new Server(...)` and `io(...)`. */
export const frameParser = { Encoder, Decoder };
