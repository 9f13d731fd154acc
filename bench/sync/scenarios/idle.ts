/** C. Idle scale: 1,000 seeded ~10 KB documents × 1 client; RSS per 1,000 docs; unloaded after leave? */
import { adapterFor } from '../clients/index.ts';
import { IDLE_ROOMS, roomName, sleep } from '../common.ts';
import { cleanup, closeRooms, connectRooms, converge, measured, startServer, tempDir, type RunContext, type RunResult } from './harness.ts';

export async function idle(ctx: RunContext): Promise<RunResult> {
  const dataDir = tempDir(ctx.tmp, 'data-');
  const server = await startServer(ctx.server, { dataDir, fixtures: ctx.fixtures });
  try {
    const before = await server.stats();
    const run = await measured(server, () => connectRooms(adapterFor(ctx.server, server.url), server.token, Array.from({ length: IDLE_ROOMS }, (_, i) => roomName(i)), 1, 100));
    const { rooms, ms } = run.value;
    await sleep(500);
    const loaded = await server.stats();
    const bad = await converge(server, rooms);
    closeRooms(rooms);
    await sleep(ctx.quick ? 3_000 : 5_000);
    const after = await server.stats();
    return {
      metrics: {
        'open 1,000 docs (s)': ms / 1000,
        'server RSS idle (MB)': before.rss / 1e6,
        'RSS per 1,000 docs (MB)': (loaded.rss - before.rss) / 1e6,
        'heap per 1,000 docs (MB)': (loaded.heapUsed - before.heapUsed) / 1e6,
        'docs loaded after all left': after.docs,
        'RSS after all left, Δ idle (MB)': (after.rss - before.rss) / 1e6,
      },
      lagP99: 0, // connection phase only, no rate target
      sentRatio: 1,
      converged: bad.length === 0,
      notes: [],
    };
  } finally {
    await server.kill();
    cleanup(dataDir);
  }
}
