import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcp, type Socket } from 'node:net';
import WebSocket from 'ws';
import { healthy, outcome, socketAs, unchangedBy, world, type World } from './attack.ts';
import { suiteTeardown } from '../helpers/server.ts';

/** Malformed and oversized input, hostile frames and slow-loris connections: refused, bounded, and the server keeps answering. */
describe('malformed input and resource exhaustion', () => {
  let w: World;
  const teardown = suiteTeardown();
  before(async () => {
    w = await world((fn) => teardown.push(fn));
  });

  const raw = (path: string, body: string | Uint8Array<ArrayBuffer>, contentType = 'application/json') => fetch(`${w.server.url}/api${path}`, {
    method: 'POST', headers: { authorization: `Bearer ${w.tokens.ben}`, 'content-type': contentType }, body,
  });

  it('answers malformed, oversized, deeply nested and prototype-polluting JSON with catalogue errors, writing nothing', async () => {
    const votes = `/changes/${w.changeId}/votes`;
    await unchangedBy(w.server.app, 'any', async () => {
      const cases: [Response, number, string][] = [
        [await raw(votes, '{"choice":'), 400, 'invalid_payload'],
        [await raw(votes, '\u0000\u0001\u0002'), 400, 'invalid_payload'],
        [await raw(votes, JSON.stringify({ choice: 'approve', revisionHash: w.revisionHash, reason: 'x'.repeat(300_000) })), 413, 'too_large'],
        [await raw(votes, `${'['.repeat(50_000)}${']'.repeat(50_000)}`), 400, 'invalid_payload'],
        [await raw(votes, '{"__proto__":{"polluted":true},"choice":"maybe"}'), 400, 'invalid_payload'],
        [await raw(votes, '{"constructor":{"prototype":{"polluted":true}}}'), 400, 'invalid_payload'],
        [await raw(votes, `{"choice":"approve","revisionHash":"${w.revisionHash}","revision":1e400}`), 400, 'invalid_payload'],
        [await raw(votes, new Uint8Array([0xff, 0xfe, 0xfd]), 'application/octet-stream'), 400, 'invalid_payload'],
        [await raw('/changes', JSON.stringify([1, 2, 3])), 400, 'invalid_payload'],
      ];
      for (const [res, status, code] of cases) {
        const text = await res.text();
        assert.equal(res.status, status, text);
        const body = JSON.parse(text) as { error: { code: string; message: string } };
        assert.equal(body.error.code, code);
        assert.doesNotMatch(body.error.message, /at .*\.ts|Error:|node_modules/, 'no internals leak');
      }
    });
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched');
    await healthy(w.server.url);
  });

  it('drops an oversized Socket.io frame and survives hostile engine.io packets', async () => {
    const big = socketAs(w.server.url, { token: w.tokens.ben }, (fn) => teardown.push(fn));
    assert.equal(await outcome(big), 'connected');
    const gone = new Promise((r) => big.once('disconnect', r));
    big.emit('doc:message', 'notes:big', new Uint8Array(3 * 1024 * 1024));
    await gone;

    await unchangedBy(w.server.app, 'any', async () => {
      const ws = new WebSocket(`${w.server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
      teardown.push(() => ws.terminate());
      const closed = new Promise((r) => ws.once('close', r));
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
      ws.send(`40${JSON.stringify({ token: w.tokens.ben })}`);
      for (const frame of [
        '42["vote:cast"', '42{"not":"an array"}', '42[]', '42[42]', `42["vote:cast",${'['.repeat(5_000)}]`,
        '451-["doc:message","notes:x",{"_placeholder":true,"num":7}]', '9999', '4', '42["__proto__",{}]',
      ]) ws.send(frame);
      ws.send(Buffer.alloc(64, 0xff));
      await Promise.race([closed, new Promise((r) => setTimeout(r, 1_000))]);
    });
    await healthy(w.server.url);
    const after = socketAs(w.server.url, { token: w.tokens.ben }, (fn) => teardown.push(fn));
    assert.equal(await outcome(after), 'connected', 'new connections are still served');
  });

  it('keeps answering /api/health while 50 slow-loris connections dribble headers', async () => {
    const sockets: Socket[] = [];
    teardown.push(() => sockets.forEach((s) => s.destroy()));
    const { port } = w.server;
    for (let i = 0; i < 50; i++) {
      const s = tcp({ host: '127.0.0.1', port });
      s.on('error', () => s.destroy()); // the server may cut them: that is the point
      sockets.push(s);
    }
    const header = `GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: ${'a'.repeat(200)}`;
    let i = 0;
    const drip = setInterval(() => {
      for (const s of sockets) if (!s.destroyed) s.write(header[i % header.length]!);
      i++;
    }, 50);
    try {
      const deadline = Date.now() + 3_000;
      let probes = 0;
      while (Date.now() < deadline) {
        await healthy(w.server.url, 1_000);
        probes++;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(probes >= 10, `${probes} health probes answered`);
    } finally {
      clearInterval(drip);
    }
  });

  it('cuts a connection that never finishes its headers (server.headersTimeout)', { timeout: 30_000 }, async () => {
    const s = tcp({ host: '127.0.0.1', port: w.server.port });
    teardown.push(() => s.destroy());
    const start = Date.now();
    const closed = new Promise<number>((resolve) => s.once('close', () => resolve(Date.now() - start)));
    s.on('error', () => undefined);
    const drip = setInterval(() => s.writable && s.write('X'), 500);
    s.write('GET /api/health HTTP/1.1\r\nX-Slow: ');
    const ms = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 25_000))]);
    clearInterval(drip);
    assert.ok(ms > 0 && ms <= 20_000, `closed after ${ms} ms (expected within the headers timeout)`);
  });
});

describe('a hostile event payload against the real server process', () => {
  it('a viewer sending doc:leave with an object whose toString is not a function does not crash the process', { timeout: 30_000 }, async () => {
    const { tempDir, spawnServer } = await import('../helpers/server.ts');
    const { UserStore } = await import('../../server/auth/user-store.ts');
    const { openStorage } = await import('../../server/store/open.ts');
    const dataDir = tempDir();
    const storage = await openStorage({ dataDir });
    const token = (await new UserStore(storage.db).addUser('vic', 'viewer')).token;
    await storage.close();
    const proc = await spawnServer(dataDir);
    const socket = socketAs(proc.url, { token }, (fn) => after(fn));
    assert.equal(await outcome(socket), 'connected');
    for (const hostile of [{ toString: 'x' }, { toString: null, valueOf: null }, Object.create(null)]) {
      (socket.emit as (...a: unknown[]) => void)('doc:leave', hostile);
      (socket.emit as (...a: unknown[]) => void)('doc:message', hostile, new Uint8Array([0, 0]));
    }
    const exited = await Promise.race([proc.exited.then((code) => `exited with ${code}`), new Promise<string>((r) => setTimeout(() => r('alive'), 1_500))]);
    assert.equal(exited, 'alive', 'an unhandled rejection in an event handler ends the process (sync-transport.ts refuse(): String(docId))');
    await healthy(proc.url);
    assert.doesNotMatch(proc.output(), /unhandled rejection/, 'handled by the event handlers themselves, not by the process-wide safety net');
  });
});
