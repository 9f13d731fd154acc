/** E. Cold load of a ~1 MB document (one client), then a 50-client join storm on another cold 1 MB document. */
import { performance } from 'node:perf_hooks';
import { adapterFor } from '../clients/index.ts';
import { BIG_ROOMS } from '../common.ts';
import { Samples } from '../stats.ts';
import { cleanup, closeRooms, converge, measured, startServer, tempDir, withTimeout, type Room, type RunContext, type RunResult } from './harness.ts';

export async function cold(ctx: RunContext): Promise<RunResult> {
  const dataDir = tempDir(ctx.tmp, 'data-');
  const server = await startServer(ctx.server, { dataDir, fixtures: ctx.fixtures });
  try {
    const adapter = adapterFor(ctx.server, server.url);
    const t0 = performance.now();
    const one = adapter.connect(BIG_ROOMS[0]!, server.token);
    await withTimeout(one.synced, 60_000, 'cold load');
    const coldMs = performance.now() - t0;
    const size = (await import('yjs')).encodeStateAsUpdate(one.doc).byteLength;
    const storm: Room = { name: BIG_ROOMS[1]!, clients: [] };
    const times = new Samples();
    const run = await measured(server, async () => {
      const start = performance.now();
      for (let i = 0; i < 50; i++) storm.clients.push(adapter.connect(storm.name, server.token));
      await withTimeout(Promise.all(storm.clients.map((c) => c.synced.then(() => times.add(performance.now() - start)))), 120_000, 'join storm');
    });
    const stats = await server.stats();
    const bad = await converge(server, [{ name: BIG_ROOMS[0]!, clients: [one] }, storm]);
    closeRooms([storm]);
    one.close();
    return {
      metrics: {
        'doc size (MB)': size / 1e6,
        'cold load, 1 client (ms)': coldMs,
        'join storm 50 clients: p50 synced (ms)': times.percentile(50),
        'join storm 50 clients: all synced (ms)': times.max(),
        'join storm server CPU (ms)': run.cpuMs,
        'server RSS after storm (MB)': stats.rss / 1e6,
      },
      lagP99: 0,
      sentRatio: 1,
      converged: bad.length === 0,
      notes: [],
    };
  } finally {
    await server.kill();
    cleanup(dataDir);
  }
}
