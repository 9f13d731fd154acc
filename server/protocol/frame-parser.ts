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
import { Decoder as BaseDecoder, Encoder as BaseEncoder, type Packet } from 'socket.io-parser';

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

function readVarUint(bytes: Uint8Array, at: number): [number, number] {
  let n = 0;
  let mult = 1;
  for (let i = 0; i < 5; i++) {
    if (at >= bytes.length) throw new Error('packed frame: truncated length');
    const b = bytes[at++]!;
    n += (b & 0x7f) * mult;
    if (b < 0x80) return [n, at];
    mult *= 128;
  }
  throw new Error('packed frame: length too long');
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

export class Encoder extends BaseEncoder {
  override encode(packet: Packet): unknown[] {
    const parts = super.encode(packet);
    return parts.length > 1 ? [pack(parts)] : parts;
  }
}

export class Decoder extends BaseDecoder {
  override add(obj: unknown): void {
    if (obj instanceof Uint8Array || obj instanceof ArrayBuffer) {
      const bytes = toBytes(obj);
      if (bytes[0] === MAGIC) {
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
