/** B. Hot review: one room with 60 clients, presence 1 Hz, votes stepped 5 → 20 → 80 updates/s. */
import { adapterFor } from '../clients/index.ts';
import { sleep } from '../common.ts';
import { cleanup, closeRooms, connectRooms, converge, drive, measured, Meter, pct, presence, startServer, tempDir, vote, type RunContext, type RunResult } from './harness.ts';

export async function hot(ctx: RunContext): Promise<RunResult> {
  const CLIENTS = 60;
  const STEPS = [5, 20, 80];
  // 12 s per step: each vote reaches 60 clients at once, so a p99 over deliveries is set by the few slowest
  // votes; at 5 votes/s a 5 s step had 25 of them and one generator GC pause decided the step's p99.
  const MS = ctx.quick ? 3_000 : 12_000;
  const dataDir = tempDir(ctx.tmp, 'data-');
  const server = await startServer(ctx.server, { dataDir, fixtures: ctx.fixtures });
  try {
    const { rooms } = await connectRooms(adapterFor(ctx.server, server.url), server.token, ['r0'], CLIENTS);
    const room = rooms[0]!;
    const meter = new Meter();
    meter.attach(rooms);
    const stopPresence = presence(room.clients, 1);
    await sleep(500);
    const metrics: Record<string, number> = {};
    let lagP99 = 0;
    let sentRatio = 1;
    for (const rate of STEPS) {
      const id = `B${rate}`;
      const ph = meter.phase(id);
      const run = await measured(server, async () => {
        const r = await drive(rate, MS, (i) => {
          const w = i % 50; // 50 reviewers write; 5 approvers and 5 observers only read
          ph.expected += vote(room.clients[w]!, room, id, `w${w}`);
        });
        ph.sent = r.sent;
        ph.target = r.target;
        await sleep(700);
      });
      lagP99 = Math.max(lagP99, run.lagP99);
      sentRatio = Math.min(sentRatio, ph.sent / ph.target);
      metrics[`${rate} upd/s: fan-out p50 (ms)`] = ph.lat.percentile(50);
      metrics[`${rate} upd/s: fan-out p99 (ms)`] = ph.lat.percentile(99);
      metrics[`${rate} upd/s: delivered (%)`] = pct(ph.delivered, ph.expected);
      metrics[`${rate} upd/s: server CPU (% of core)`] = pct(run.cpuMs, run.wallMs);
      if (rate === STEPS[STEPS.length - 1]) metrics['80 upd/s: server CPU per delivered update (µs)'] = (run.cpuMs * 1000) / ph.delivered;
    }
    stopPresence();
    const bad = await converge(server, rooms);
    closeRooms(rooms);
    return { metrics, lagP99, sentRatio, converged: bad.length === 0, notes: [] };
  } finally {
    await server.kill();
    cleanup(dataDir);
  }
}
