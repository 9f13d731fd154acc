import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket as ServerSocket } from 'socket.io';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import * as Y from 'yjs';
import { installDirectWrites } from '../../server/sync/direct-writes.ts';
import { frameParser } from '../../server/protocol/frame-parser.ts';
import type { AccordSocket, SocketProvider } from '../../web/lib/socket-provider.ts';
import { connect, openProvider, startTestServer, until } from '../helpers/server.ts';

/** A bare Socket.io server (Accord's parser) with direct writes installed, on port 0. */
async function bareServer(): Promise<{ server: Server; url: string; stats: ReturnType<typeof installDirectWrites> }> {
  const http = createServer();
  const server = new Server(http, { parser: frameParser });
  const stats = installDirectWrites(server.engine);
  await new Promise<void>((res) => http.listen(0, '127.0.0.1', res));
  after(() => new Promise<void>((res) => void server.close(() => res())));
  return { server, stats, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
}

function client(url: string, transports: ('websocket' | 'polling')[]): ClientSocket {
  const socket = io(url, { transports, parser: frameParser, forceNew: true, reconnection: false });
  after(() => socket.disconnect());
  return socket;
}

const tick = (): Promise<void> => new Promise((res) => setImmediate(res));

/** A WebSocket peer of a bare server that records the `n` events it gets, and the count of TCP writes to it. */
async function peerWithWriteCount(): Promise<{ socket: ServerSocket; got: number[]; writes: () => number }> {
  const { server, url } = await bareServer();
  const peer = client(url, ['websocket']);
  const got: number[] = [];
  peer.on('n', (i: number) => got.push(i));
  await new Promise<void>((res) => peer.once('connect', () => res()));
  const socket = server.sockets.sockets.get(peer.id!)!;
  return { socket, got, writes: countTcpWrites(socket) };
}

/** Counts the writes that reach the TCP socket under a server socket's WebSocket (one `write` or `writev` each). */
function countTcpWrites(socket: { conn: unknown }): () => number {
  const tcp = (socket.conn as { transport: { socket: { _socket: Record<string, (...a: unknown[]) => unknown> } } }).transport.socket._socket;
  let writes = 0;
  for (const method of ['_write', '_writev'] as const) {
    const original = tcp[method]!;
    tcp[method] = (...args: unknown[]) => (writes++, original.apply(tcp, args));
  }
  return () => writes;
}

/**
 * Sends 0..n-1 to `socket` in rounds, mixing packets that may go direct (text, binary, broadcast) with
 * packets that must take Engine.IO's path (a send callback): the second of two such packets in a row
 * stays in Engine.IO's write buffer, so what follows it must queue behind it, not overtake it.
 */
async function sendMixed(server: Server, socketId: string, n: number): Promise<void> {
  const socket = server.sockets.sockets.get(socketId)!;
  void socket.join('room');
  let i = 0;
  while (i < n) {
    for (let k = 0; k < 8 && i < n; k++, i++) {
      if (k === 2 || k === 3) socket.conn.write(`2["n",${i}]`, {}, () => {}); // Socket.io EVENT, with a send callback
      else if (k === 5) socket.emit('n', i, new Uint8Array([i & 0xff, 1, 2, 3]));
      else if (k === 6) server.to('room').emit('n', i);
      else socket.emit('n', i);
    }
    await tick();
  }
}

describe('direct writes', () => {
  it('keeps the order of every message while some go straight to the WebSocket and some through Engine.IO', async () => {
    const { server, url, stats } = await bareServer();
    const peer = client(url, ['websocket']);
    const got: number[] = [];
    const binaries: number[] = [];
    peer.on('n', (i: number, bytes?: Uint8Array) => {
      got.push(i);
      if (bytes) binaries.push(bytes[0]!);
    });
    await new Promise<void>((res) => peer.once('connect', () => res()));
    const n = 2_000;
    await sendMixed(server, peer.id!, n);
    await until(() => got.length === n, `all ${n} messages`);
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => i), 'received in the order sent');
    assert.deepEqual(binaries, got.filter((i) => i % 8 === 5).map((i) => i & 0xff), 'binary payloads intact');
    assert.ok(stats.direct > n / 4, `most messages went direct (${stats.direct})`);
    assert.ok(stats.queued > 0, `some were queued behind Engine.IO's buffer (${stats.queued})`);
  });

  it('writes the first message of a turn at once and coalesces the rest of that turn into one socket write', async () => {
    const { socket, got, writes } = await peerWithWriteCount();
    for (let i = 0; i < 50; i++) socket.emit('n', i);
    await until(() => got.length === 50, 'all 50 messages');
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => i), 'in order');
    // The first alone, the other 49 together: two writes. The hold lasts at most about a millisecond, so
    // on a loaded machine a slow loop may see it released once or twice mid-turn; never one write each.
    const turn = writes();
    assert.ok(turn >= 2 && turn <= 4, `fifty messages of one turn left in ${turn} writes (2 expected; at most 4 on a loaded machine), not one each`);

    socket.emit('n', 50); // a turn with one message: written at once, never held back
    assert.equal(writes(), turn + 1, 'a lone message is written in the turn that sends it');
    await until(() => got.length === 51, 'the lone message');
  });

  it('holds small messages for at most about a millisecond, and never holds a large one', async () => {
    const { socket, got, writes } = await peerWithWriteCount();
    socket.emit('n', 0); // first of the turn: at once
    socket.emit('n', 1); // held
    assert.equal(writes(), 1);
    socket.emit('n', 2, new Uint8Array(100 * 1024)); // large: what is held goes first, then it, both at once
    assert.equal(writes(), 3, 'the held message and the large one were written in the same turn');
    socket.emit('n', 3); // held again
    const until2ms = performance.now() + 2;
    while (performance.now() < until2ms); // the turn goes on working
    socket.emit('n', 4); // the next write after the cap releases what is held and goes at once
    assert.equal(writes(), 5);
    await until(() => got.length === 5, 'all five messages');
    assert.deepEqual(got, [0, 1, 2, 3, 4], 'in order');
  });

  it('sends what a turn wrote before a disconnect in that turn, then closes', async () => {
    const { server, url } = await bareServer();
    const peer = client(url, ['websocket']);
    const got: string[] = [];
    peer.on('last', (s: string) => got.push(s));
    await new Promise<void>((res) => peer.once('connect', () => res()));
    const closed = new Promise<string>((res) => peer.once('disconnect', (reason) => res(reason)));
    const socket = server.sockets.sockets.get(peer.id!)!;
    socket.emit('last', 'words');
    socket.disconnect(true);
    assert.equal(await closed, 'io server disconnect');
    assert.deepEqual(got, ['words']);
  });

  it('leaves long-polling connections on Engine.IO, in order', async () => {
    const { server, url, stats } = await bareServer();
    const peer = client(url, ['polling']);
    const got: number[] = [];
    peer.on('n', (i: number) => got.push(i));
    await new Promise<void>((res) => peer.once('connect', () => res()));
    const directBefore = stats.direct;
    await sendMixed(server, peer.id!, 300);
    await until(() => got.length === 300, 'all 300 messages');
    assert.deepEqual(got, Array.from({ length: 300 }, (_, i) => i));
    assert.equal(stats.direct, directBefore, 'nothing bypassed the polling transport');
  });

  it('relays updates and presence of a document to WebSocket and long-polling peers alike', async () => {
    const server = await startTestServer();
    const [wa, wb, pc] = await Promise.all(['dw-a', 'dw-b', 'dw-c'].map((name) => server.user(name, 'reviewer')));
    const polling = io(server.url, { auth: { token: pc }, transports: ['polling'], parser: frameParser, query: { frames: 'packed' }, forceNew: true }) as AccordSocket;
    after(() => polling.disconnect());
    const [alice, bob, cara] = await Promise.all([
      openProvider(connect(server.url, wa!), 'notes:direct'), openProvider(connect(server.url, wb!), 'notes:direct'), openProvider(polling, 'notes:direct'),
    ]);
    const directBefore = server.app.directWrites.direct;

    for (let i = 0; i < 100; i++) alice.doc.getText('body').insert(i, 'a');
    bob.awareness.setLocalStateField('cursor', 7);
    await alice.whenAcked();
    const text = (p: SocketProvider): string => p.doc.getText('body').toString();
    await until(() => text(bob) === 'a'.repeat(100) && text(cara) === 'a'.repeat(100), 'both peers have all updates');
    await until(() => [alice, cara].every((p) => [...p.awareness.getStates().values()].some((s) => s.cursor === 7)), 'presence relayed to both');
    assert.ok(server.app.directWrites.direct - directBefore >= 100, 'relays to the WebSocket peer went direct');
    assert.deepEqual(Y.encodeStateVector(cara.doc), Y.encodeStateVector(server.app.sync.registry.get('notes:direct')!.doc));
  });
});
