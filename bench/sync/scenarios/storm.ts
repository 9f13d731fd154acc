/**
 * F. Reconnect storm after SIGKILL: 20 rooms × 5 clients write votes (200/s aggregate); the server is
 * SIGKILLed mid-stream and restarted on the same port and data dir 300 ms later. Measures the time
 * from restart until every client is synced again and every replica equals the server, and which
 * edits survived the crash on disk (for Accord: acked edits lost, which must be 0).
 */
import { performance } from 'node:perf_hooks';
import { adapterFor } from '../clients/index.ts';
import { roomName, sleep } from '../common.ts';
import { cleanup, closeRooms, connectRooms, converge, drive, freePort, startServer, tempDir, type RunContext, type RunResult } from './harness.ts';

export async function storm(ctx: RunContext): Promise<RunResult> {
  const ROOMS = 20;
  const PER_ROOM = 5;
  const dataDir = tempDir(ctx.tmp, 'data-');
  const port = await freePort();
  const names = Array.from({ length: ROOMS }, (_, i) => roomName(i));
  let server = await startServer(ctx.server, { dataDir, fixtures: ctx.fixtures, port });
  try {
    const { rooms } = await connectRooms(adapterFor(ctx.server, server.url), server.token, names, PER_ROOM);
    const clients = rooms.flatMap((r, ri) => r.clients.map((c, ci) => ({ c, room: r.name, tag: `c${ri}_${ci}`, n: 0 })));
    let killed = false;
    const writing = drive(200, ctx.quick ? 2_000 : 4_000, (i) => {
      if (killed) return;
      const w = clients[i % clients.length]!;
      w.c.markEdit();
      w.c.doc.getMap('votes').set(`${w.tag}:${w.n++}`, { t: performance.now(), v: 'approve' });
    });
    await sleep(ctx.quick ? 1_500 : 3_000);
    await server.kill('SIGKILL');
    killed = true;
    const ackedAtKill = clients.map((w) => w.c.ackedEdits());
    await writing;
    await sleep(300);
    const restartAt = performance.now();
    server = await startServer(ctx.server, { dataDir, fixtures: ctx.fixtures, port, reportPersisted: names });
    const readyMs = performance.now() - restartAt;
    const persisted = new Map(Object.entries(server.persisted ?? {}).map(([r, keys]) => [r, new Set(keys)]));
    // Time until every client is synced and every room has converged with the server.
    const deadline = performance.now() + 60_000;
    while (clients.some((w) => !w.c.isSynced()) && performance.now() < deadline) await sleep(20);
    const allSyncedMs = performance.now() - restartAt;
    const bad = await converge(server, rooms, 30_000);
    const convergedMs = performance.now() - restartAt;
    const finalKeys = await server.keys(names);
    let sent = 0;
    let notPersisted = 0;
    let ackedLost = 0;
    let acked = 0;
    let missingAfter = 0;
    clients.forEach((w, idx) => {
      const onDisk = persisted.get(w.room) ?? new Set<string>();
      const final = new Set(finalKeys[w.room] ?? []);
      const ack = ackedAtKill[idx];
      for (let n = 0; n < w.n; n++) {
        const key = `${w.tag}:${n}`;
        sent += 1;
        if (!onDisk.has(key)) notPersisted += 1;
        if (ack !== null && ack !== undefined && n < ack) {
          acked += 1;
          if (!onDisk.has(key)) ackedLost += 1;
        }
        if (!final.has(key)) missingAfter += 1;
      }
    });
    const hasAcks = ackedAtKill.some((a) => a !== null);
    closeRooms(rooms);
    return {
      metrics: {
        'edits sent before kill': sent,
        'edits acked durable at kill': hasAcks ? acked : NaN,
        'acked edits lost': hasAcks ? ackedLost : NaN,
        'edits not on disk after kill': notPersisted,
        'restart until listening (ms)': readyMs,
        'restart → all 100 clients synced (ms)': allSyncedMs,
        'restart → all replicas converged (ms)': convergedMs,
        'edits missing after resync': missingAfter,
      },
      lagP99: 0,
      sentRatio: 1,
      converged: bad.length === 0 && missingAfter === 0,
      notes: bad.length ? [`diverged rooms: ${bad.slice(0, 5).join(', ')}`] : [],
    };
  } finally {
    await server.kill();
    cleanup(dataDir);
  }
}
