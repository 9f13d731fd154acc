/**
 * A. Typical sessions: 100 rooms × 8 clients; per room 1 vote/s + 0.2 annotations/s; presence 1 Hz.
 * 800 clients: raw-protocol clients with a real provider in every 20th room (scenarios/mixed.ts).
 */
import { roomName, sleep } from '../common.ts';
import { cleanup, drive, measured, Meter, pct, startServer, tempDir, type RunContext, type RunResult } from './harness.ts';
import { annotateBy, closeMixed, connectMixedRooms, convergeMixed, mixedPresence, voteBy } from './mixed.ts';

export async function typical(ctx: RunContext): Promise<RunResult> {
  const ROOMS = 100;
  const PER_ROOM = 8;
  const MS = ctx.quick ? 5_000 : 8_000;
  const dataDir = tempDir(ctx.tmp, 'data-');
  const server = await startServer(ctx.server, { dataDir, fixtures: ctx.fixtures });
  try {
    const meter = new Meter();
    const { rooms, ms: connectMs } = await connectMixedRooms(ctx.server, server, Array.from({ length: ROOMS }, (_, i) => roomName(i)), PER_ROOM, 20, meter);
    const stopPresence = mixedPresence(rooms, 1);
    await sleep(1_000); // presence warm-up
    const ph = meter.phase('A');
    const run = await measured(server, async () => {
      const votes = drive(ROOMS * 1, MS, (i) => {
        const room = rooms[i % ROOMS]!;
        const w = Math.floor(i / ROOMS) % PER_ROOM;
        ph.expected += voteBy(room.writers[w]!, room, 'A', `w${w}`);
      });
      const notes = drive(ROOMS * 0.2, MS, (i) => {
        const room = rooms[(i * 7) % ROOMS]!;
        const w = i % PER_ROOM;
        ph.expected += annotateBy(room.writers[w]!, room, 'A', `w${w}`);
      });
      const [v, n] = await Promise.all([votes, notes]);
      ph.sent = v.sent + n.sent;
      ph.target = v.target + n.target;
      await sleep(1_000); // drain
    });
    stopPresence();
    const bad = await convergeMixed(server, rooms, 10_000);
    const stats = await server.stats();
    closeMixed(rooms);
    return {
      metrics: {
        'connect 800 clients (s)': connectMs / 1000,
        'fan-out p50 (ms)': ph.lat.percentile(50),
        'fan-out p99 (ms)': ph.lat.percentile(99),
        'delivered (%)': pct(ph.delivered, ph.expected),
        'updates in (/s)': ph.sent / (MS / 1000),
        'server CPU (% of core)': pct(run.cpuMs, run.wallMs),
        'server CPU per delivered update (µs)': (run.cpuMs * 1000) / ph.delivered,
        'server RSS (MB)': stats.rss / 1e6,
      },
      lagP99: run.lagP99,
      sentRatio: ph.sent / ph.target,
      converged: bad.length === 0,
      notes: bad.length ? [`diverged rooms: ${bad.slice(0, 5).join(', ')}`] : [],
    };
  } finally {
    await server.kill();
    cleanup(dataDir);
  }
}
