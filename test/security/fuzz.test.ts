import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { COMMANDS } from '../../server/protocol/events.ts';
import { frameSync, SYNC_UPDATE } from '../../server/sync/yjs-messages.ts';
import type { AccordSocket } from '../../web/lib/socket-provider.ts';
import { concrete, fingerprint, healthy, outcome, restRoutes, socketAs, world, type World } from './attack.ts';
import { mulberry32 } from '../helpers/rng.ts';
import { suiteTeardown } from '../helpers/server.ts';

/** Seeded, so a failure reproduces: ACCORD_FUZZ_SEED=<n> reruns one sequence. */
const SEED = Number(process.env.ACCORD_FUZZ_SEED ?? 20_260_301);
const SOCKET_FRAMES = 80_000;
const HTTP_REQUESTS = 20_000;
const BATCH = 1_000;


const KEYS = ['changeId', 'choice', 'revision', 'revisionHash', 'draftHash', 'annotationId', 'body', 'reason', 'content', 'idempotencyKey', 'annotation', 'anchor',
  'kind', 'itemId', 'resolved', 'voter', 'role', '__proto__', 'constructor', 'prototype', 'toString', 'response', 'files', 'yaml', ''];

class Gen {
  readonly r: () => number;
  readonly ids: string[];
  constructor(seed: number, ids: string[]) {
    this.r = mulberry32(seed);
    this.ids = ids;
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  string(): string {
    switch (this.int(6)) {
      case 0: return this.pick(this.ids);
      case 1: return this.pick(['approve', 'reject', 'abstain', 'item', 'line', 'text', 'i1', 'i2', 'admin', 'x'.repeat(65)]);
      case 2: return String.fromCharCode(...Array.from({ length: this.int(40) }, () => this.int(0x3000)));
      case 3: return 'A'.repeat(this.int(3_000));
      case 4: return `${this.pick(['review', 'notes', 'draft', 'session', 'x', '', 'review:..'])}:${this.pick(this.ids)}`;
      default: return Math.random.toString().slice(0, this.int(20));
    }
  }
  value(depth = 0): unknown {
    switch (this.int(depth > 2 ? 5 : 8)) {
      case 0: return null;
      case 1: return this.r() < 0.5;
      case 2: return this.pick([0, -1, 1, 2, 2 ** 53, -(2 ** 31), 1.5, 1e308, Number.MAX_SAFE_INTEGER + 2]);
      case 3: case 4: return this.string();
      case 5: return Array.from({ length: this.int(4) }, () => this.value(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = this.int(5); i > 0; i--) Object.defineProperty(o, this.pick(KEYS), { value: this.value(depth + 1), enumerable: true, configurable: true, writable: true });
        return o;
      }
    }
  }
  bytes(): Uint8Array {
    return Uint8Array.from({ length: this.int(64) }, () => this.int(256));
  }
}

describe(`fuzzing: ${SOCKET_FRAMES + HTTP_REQUESTS} seeded frames and requests (seed ${SEED})`, () => {
  let w: World;
  const teardown = suiteTeardown();
  before(async () => {
    w = await world((fn) => teardown.push(fn), { commandsPerMinute: 10_000_000, requestsPerMinute: 10_000_000 } as never);
  });

  it('crashes nothing, changes nothing, and keeps answering health', { timeout: 90_000 }, async () => {
    const db = w.server.app.db;
    // The server runs in this process: an exception escaping an event handler surfaces here (and would end a real server).
    const escaped: string[] = [];
    const onEscape = (err: unknown) => void escaped.push(err instanceof Error ? `${err.message} ${err.stack?.split('\n')[1]?.trim()}` : String(err));
    process.on('unhandledRejection', onEscape);
    process.on('uncaughtException', onEscape);
    teardown.push(() => { process.off('unhandledRejection', onEscape); process.off('uncaughtException', onEscape); });
    const started = Date.now();
    await w.server.app.settle(); // the world's own setup finishes landing first
    const before = await fingerprint(db);
    // Reading evidence is audited as a success (evidence.export); every other success would be a fuzz-made change.
    const okCount = async () => Number((await db.get<{ n: number }>("SELECT count(*) AS n FROM audit_log WHERE outcome = 'ok' AND action != 'evidence.export'"))!.n);
    const okBefore = await okCount();
    const review = `review:${w.changeId}`;
    // The live review document (loaded while anyone is joined): its content must not move either.
    const reviewState = () => {
      const live = w.server.app.sync.registry.get(review);
      return live ? Buffer.from(Y.encodeStateVector(live.doc)).toString('base64') : null;
    };
    // The real revision and draft hashes too, so commands that name what their maker saw get past their schemas.
    const ids = [w.changeId, w.annotationId, w.revisionHash, w.draftHash, 'notes:fuzz', review, `draft:${w.changeId}`, 'ch-0000', 'an-0000', '../../etc/passwd', '%00', ''];

    // Socket.io: the viewer (joined read-only to the review and a notes document) and a reviewer with no stake
    // (who may legitimately write notes, so it only sends commands whose random payloads are invalid).
    const gen = new Gen(SEED, ids);
    const open = async (token: string): Promise<AccordSocket> => {
      const s = socketAs(w.server.url, { token }, (fn) => teardown.push(fn));
      assert.equal(await outcome(s), 'connected');
      for (const doc of [review, 'notes:fuzz']) await s.timeout(5_000).emitWithAck('doc:join', doc);
      return s;
    };
    let vic = await open(w.tokens.vic);
    const reviewBefore = reviewState();
    const forged = new Y.Doc();
    forged.getMap('review').set('status', 'approved');
    const forgedUpdate = frameSync(SYNC_UPDATE, Y.encodeStateAsUpdate(forged));
    const events = [...COMMANDS, 'doc:join', 'doc:leave', 'doc:message', 'doc:message', 'doc:message', 'nonsense', '__proto__'];
    let sent = 0;
    let acks = 0;
    while (sent < SOCKET_FRAMES) {
      if (!vic.connected) vic = await open(w.tokens.vic); // the server may drop an abusive connection; the attacker comes back
      for (let i = 0; i < BATCH && sent < SOCKET_FRAMES; i++, sent++) {
        const event = gen.pick(events);
        const arg = event === 'doc:message'
          ? [gen.pick([review, 'notes:fuzz', gen.string()]), gen.r() < 0.2 ? forgedUpdate : gen.r() < 0.8 ? gen.bytes() : gen.value()]
          : [gen.value()];
        if (gen.r() < 0.5) (vic.emit as (...a: unknown[]) => void)(event, ...arg, () => void acks++);
        else (vic.emit as (...a: unknown[]) => void)(event, ...arg);
      }
      // Back-pressure: one round trip per batch, so the frames are processed, not merely queued.
      await vic.timeout(10_000).emitWithAck('vote:cast', {}).catch(() => undefined);
      if (sent % 10_000 === 0) await healthy(w.server.url);
    }
    assert.ok(acks > SOCKET_FRAMES / 10, `the server answered acks (${acks})`);
    const socketMs = Date.now() - started;

    // HTTP: random routes (real and invented), methods, bodies and credentials, 50 in flight.
    const routes = restRoutes();
    const credentials: Record<string, string>[] = [{ authorization: `Bearer ${w.tokens.vic}` }, {}, { authorization: 'Bearer junk' }, { cookie: 'accord_session=ses_x' }];
    const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'];
    let done = 0;
    let statuses = new Map<number, number>();
    const one = async (): Promise<void> => {
      const route = gen.pick(routes);
      const path = gen.r() < 0.7 ? concrete(route.path, w) : `/${encodeURIComponent(gen.string()).slice(0, 300)}`;
      const method = gen.r() < 0.7 ? route.method : gen.pick(methods);
      const body = method === 'GET' || method === 'HEAD' ? undefined : gen.r() < 0.8 ? JSON.stringify(gen.value()) : gen.string();
      const res = await fetch(`${w.server.url}/api${path}`, {
        method, body, headers: { ...gen.pick(credentials), ...(body === undefined ? {} : { 'content-type': gen.pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded']) }) },
      });
      await res.arrayBuffer();
      assert.ok(res.status < 500 || res.status === 503, `${method} ${path} → ${res.status}`);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    };
    while (done < HTTP_REQUESTS) {
      const n = Math.min(50, HTTP_REQUESTS - done);
      await Promise.all(Array.from({ length: n }, one));
      done += n;
    }
    statuses = new Map([...statuses].sort());

    await healthy(w.server.url);
    await w.server.app.settle();
    assert.equal(await fingerprint(db), before, 'no stored state changed');
    assert.equal(await okCount(), okBefore, 'no command succeeded');
    const reviewAfter = reviewState();
    if (reviewAfter !== null) assert.equal(reviewAfter, reviewBefore, 'the live review document is unchanged');
    assert.equal(escaped.length, 0, `${escaped.length} exceptions escaped the server's handlers: ${[...new Set(escaped)].slice(0, 3).join(' | ')}`);
    const elapsed = Date.now() - started;
    process.stdout.write(`# fuzz: ${elapsed} ms, socket part ${socketMs} ms, HTTP statuses ${JSON.stringify([...statuses])}\n`);
    assert.ok(elapsed < 60_000, `${SOCKET_FRAMES + HTTP_REQUESTS} in ${elapsed} ms (socket part ${socketMs} ms); statuses ${JSON.stringify([...statuses])}`);
  });
});
