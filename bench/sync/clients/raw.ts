/**
 * Raw-protocol clients (the plan's rule for runs above 500 clients, `../shared/reference/yjs-sync-servers.md`
 * §10.4 rule 6): each speaks its server's own wire protocol (Accord: Socket.io events with durable acks;
 * y-websocket: y-protocols frames on a WebSocket per room; Hocuspocus: the same frames prefixed with the
 * document name, after its auth message) but keeps no replica of the document. A received update is
 * decoded (Y.decodeUpdate), never applied: the client reads the writer's stamp from each new vote and
 * tracks the state vector it has seen, which the convergence gate compares with the server's.
 * Writes come from a private Y.Doc holding only this client's own votes, so they are real Yjs updates
 * that merge with everyone else's. One load-generator core can then drive the servers to saturation;
 * a few real providers ("canaries") in the same rooms check that real clients converge.
 */
import * as Y from 'yjs';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import WebSocket from 'ws';
import type { ServerName } from '../common.ts';
import { pack, unpack } from '../../../server/protocol/frame-parser.ts';
import { deferred } from './types.ts';

export interface Stamp {
  t: number;
  p: string;
}

export interface RawClient {
  /** Resolves once the server's state arrived (sync step 2). */
  readonly synced: Promise<void>;
  /** Sets one key of the `votes` map, as a real provider's `Y.Map.set` would, and sends the update. */
  vote(key: string, value: Stamp & Record<string, unknown>): void;
  /** Appends to the `annotations` array, as `Y.Array.push` would, and sends the update. */
  annotate(value: Stamp & Record<string, unknown>): void;
  /** Sends this client's presence (an awareness update with the next clock), as a provider does on a change. */
  presence(state: Record<string, unknown>): void;
  /** Highest clock seen per Yjs client: the server's state at join, every relayed update, own writes. */
  stateVector(): Map<number, number>;
  /** Called for every stamped value in a relayed update, with the arrival time. */
  onStamp: ((stamp: Stamp, now: number) => void) | null;
  close(): void;
}

const SYNC = 0;
const AWARENESS = 1;
const STEP1 = 0;
const STEP2 = 1;
const UPDATE = 2;
const EMPTY_SV = Y.encodeStateVector(new Y.Doc());

/** What every raw client does with the y-protocols sync payloads it receives; the transports differ. */
class RawReplica {
  readonly doc = new Y.Doc();
  readonly #sv = new Map<number, number>();
  readonly synced = deferred();
  onStamp: ((stamp: Stamp, now: number) => void) | null = null;

  /** Reads one sync message (after its type byte); returns the reply to send, if any. */
  read(decoder: decoding.Decoder): Uint8Array | null {
    const kind = decoding.readVarUint(decoder);
    if (kind === STEP1) {
      const sv = decoding.readVarUint8Array(decoder);
      return this.#syncMessage(STEP2, Y.encodeStateAsUpdate(this.doc, sv));
    }
    const update = decoding.readVarUint8Array(decoder);
    if (kind === STEP2) {
      for (const [client, clock] of Y.parseUpdateMeta(update).to) this.#see(client, clock);
      this.synced.resolve();
    } else if (kind === UPDATE) this.#relayed(update);
    return null;
  }

  #relayed(update: Uint8Array): void {
    const now = performance.now();
    for (const s of Y.decodeUpdate(update).structs) {
      if (s instanceof Y.Skip) continue;
      this.#see(s.id.client, s.id.clock + s.length);
      // Servers that echo an update to its sender (y-websocket, Hocuspocus) are not delivering it to a peer.
      if (s.id.client === this.doc.clientID) continue;
      if (!(s instanceof Y.Item) || !(s.content instanceof Y.ContentAny)) continue;
      for (const v of s.content.getContent() as unknown[]) {
        const stamp = v as Partial<Stamp> | null;
        if (stamp && typeof stamp.t === 'number' && typeof stamp.p === 'string') this.onStamp?.(stamp as Stamp, now);
      }
    }
  }

  #see(client: number, clock: number): void {
    if ((this.#sv.get(client) ?? 0) < clock) this.#sv.set(client, clock);
  }

  stateVector(): Map<number, number> {
    const sv = new Map(this.#sv);
    const own = Y.decodeStateVector(Y.encodeStateVector(this.doc)).get(this.doc.clientID);
    if (own !== undefined && (sv.get(this.doc.clientID) ?? 0) < own) sv.set(this.doc.clientID, own);
    return sv;
  }

  step1(): Uint8Array {
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, STEP1);
    encoding.writeVarUint8Array(e, EMPTY_SV);
    return encoding.toUint8Array(e);
  }

  #syncMessage(kind: number, payload: Uint8Array): Uint8Array {
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, kind);
    encoding.writeVarUint8Array(e, payload);
    return encoding.toUint8Array(e);
  }

  updateMessage(update: Uint8Array): Uint8Array {
    return this.#syncMessage(UPDATE, update);
  }
}

/** Prefixes a sync payload with the frame header each protocol uses. */
function framed(prefix: (e: encoding.Encoder) => void, payload: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  prefix(e);
  encoding.writeUint8Array(e, payload);
  return encoding.toUint8Array(e);
}

/**
 * `send(type, payload, durable)` writes one y-protocols message (`type` 0 sync or 1 awareness, then
 * the payload) in the server's framing; `durable` asks for an ack where the protocol has them.
 */
function client(r: RawReplica, send: (type: number, payload: Uint8Array, durable: boolean) => void, close: () => void): RawClient {
  r.doc.on('update', (update: Uint8Array) => send(SYNC, r.updateMessage(update), true));
  let clock = 0;
  return {
    synced: r.synced.promise,
    vote: (key, value) => r.doc.getMap('votes').set(key, value),
    annotate: (value) => r.doc.getArray('annotations').push([value]),
    presence: (state) => {
      const e = encoding.createEncoder();
      const update = encoding.createEncoder();
      encoding.writeVarUint(update, 1);
      encoding.writeVarUint(update, r.doc.clientID);
      encoding.writeVarUint(update, ++clock);
      encoding.writeVarString(update, JSON.stringify(state));
      encoding.writeVarUint8Array(e, encoding.toUint8Array(update));
      send(AWARENESS, encoding.toUint8Array(e), false);
    },
    stateVector: () => r.stateVector(),
    get onStamp() {
      return r.onStamp;
    },
    set onStamp(fn) {
      r.onStamp = fn;
    },
    close: () => {
      close();
      r.doc.destroy();
    },
  };
}

/**
 * Accord: Socket.io (Engine.IO 4) over one WebSocket, spoken directly: the open packet, the namespace
 * connect with the token, `doc:join` with an ack, then `doc:message` binary events, each ONE binary
 * frame in Accord's packed form (server/protocol/frame-parser.ts, as the web app sends them). Updates
 * carry an ack id (durable acks); acks are read and dropped.
 */
function accord(url: string, room: string, token: string): RawClient {
  const r = new RawReplica();
  const docId = `notes:${room}`;
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
  const JOIN_ACK = 0;
  let nextAck = JOIN_ACK + 1;
  const name = JSON.stringify(docId);
  const relayHeader = `51-["doc:message",${name},`;
  const send = (type: number, payload: Uint8Array, durable: boolean): void => {
    if (ws.readyState !== WebSocket.OPEN) return;
    const header = `51-${durable ? nextAck++ : ''}["doc:message",${name},{"_placeholder":true,"num":0}]`;
    ws.send(pack([header, framed((e) => encoding.writeVarUint(e, type), payload)]));
  };
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      const { header, attachments } = unpack(data);
      if (!header.startsWith(relayHeader) || !attachments[0]) return;
      const d = decoding.createDecoder(attachments[0]);
      if (decoding.readVarUint(d) !== SYNC) return;
      const reply = r.read(d);
      if (reply) send(SYNC, reply, false);
      return;
    }
    const text = data.toString();
    if (text === '2') ws.send('3'); // Engine.IO ping
    else if (text[0] === '0') ws.send(`40${JSON.stringify({ token })}`); // open → connect to "/" with the token
    else if (text.startsWith('40')) ws.send(`42${JOIN_ACK}${JSON.stringify(['doc:join', docId])}`);
    else if (text.startsWith(`43${JOIN_ACK}[`)) send(SYNC, r.step1(), false);
    else if (text.startsWith('44')) ws.close(); // connect refused
  });
  return client(r, send, () => ws.close());
}

/** y-websocket server: one WebSocket per room at /<room>, y-protocols frames. */
function ywebsocket(url: string, room: string, token: string): RawClient {
  const r = new RawReplica();
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/${room}?token=${encodeURIComponent(token)}`, { perMessageDeflate: false });
  const message = (type: number, payload: Uint8Array): Uint8Array => framed((e) => encoding.writeVarUint(e, type), payload);
  const sync = (payload: Uint8Array): Uint8Array => message(SYNC, payload);
  ws.on('open', () => ws.send(sync(r.step1())));
  ws.on('message', (data: Buffer) => {
    const d = decoding.createDecoder(data);
    if (decoding.readVarUint(d) !== SYNC) return;
    const reply = r.read(d);
    if (reply) ws.send(sync(reply));
  });
  return client(r, (type, payload) => ws.readyState === WebSocket.OPEN && ws.send(message(type, payload)), () => ws.close());
}

/** Hocuspocus 4: every frame starts with the document name; an auth message (token, provider version) comes first. */
function hocuspocus(url: string, room: string, token: string): RawClient {
  const r = new RawReplica();
  const AUTH = 2;
  const TOKEN = 0;
  const AUTHENTICATED = 2;
  const PING = 9;
  const PONG = 10;
  const ws = new WebSocket(url.replace(/^http/, 'ws'), { perMessageDeflate: false });
  const message = (type: number, payload: Uint8Array): Uint8Array => framed((e) => (encoding.writeVarString(e, room), encoding.writeVarUint(e, type)), payload);
  const sync = (payload: Uint8Array): Uint8Array => message(SYNC, payload);
  ws.on('open', () => {
    const e = encoding.createEncoder();
    encoding.writeVarString(e, room);
    encoding.writeVarUint(e, AUTH);
    encoding.writeVarUint(e, TOKEN);
    encoding.writeVarString(e, token);
    encoding.writeVarString(e, '4.8.0');
    ws.send(encoding.toUint8Array(e));
  });
  ws.on('message', (data: Buffer) => {
    if (data.length === 1 && data[0] === PING) return void ws.send(Uint8Array.of(PONG));
    const d = decoding.createDecoder(data);
    if (decoding.readVarString(d) !== room) return;
    const type = decoding.readVarUint(d);
    if (type === AUTH) {
      if (decoding.readVarUint(d) === AUTHENTICATED) ws.send(sync(r.step1()));
      return;
    }
    if (type !== SYNC) return;
    const reply = r.read(d);
    if (reply) ws.send(sync(reply));
  });
  return client(r, (type, payload) => ws.readyState === WebSocket.OPEN && ws.send(message(type, payload)), () => ws.close());
}

export function rawConnect(server: ServerName, url: string, room: string, token: string): RawClient {
  switch (server) {
    case 'accord':
      return accord(url, room, token);
    case 'ywebsocket':
      return ywebsocket(url, room, token);
    case 'hocuspocus':
      return hocuspocus(url, room, token);
  }
}
