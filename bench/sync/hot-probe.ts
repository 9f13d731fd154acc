/**
 * Scenario B's room at one rate, with the fan-out latency split per vote: first delivery (writer →
 * server → first client) and last delivery (all recipients). Real providers, as in B.
 *
 *   taskset -c 1 npx node bench/sync/hot-probe.ts accord 5 [presence Hz=1] [clients=60] [seconds=8]
 *
 * HOT_PROBE_WARM="5:12,20:12" runs unmeasured steps first (votes/s:seconds), as scenario B does before
 * its 80/s step; BENCH_SERVER_STALLS=<ms> logs loop stalls and GC pauses of both processes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { adapterFor } from './clients/index.ts';
import { ensureFixtures, ensureGeneratorFlags, SERVER_NAMES, sleep, type ServerName } from './common.ts';
import { connectRooms, drive, presence, startServer } from './scenarios/harness.ts';
import { cpuMs, Samples, traceStalls } from './stats.ts';

ensureGeneratorFlags(); // the same V8 flags as the benchmark's load generator (common.ts)
const server = process.argv[2] as ServerName;
const rate = Number(process.argv[3] ?? 5);
const hz = Number(process.argv[4] ?? 1);
const CLIENTS = Number(process.argv[5] ?? 60);
const SECONDS = Number(process.argv[6] ?? 8);
if (!SERVER_NAMES.includes(server) || !(rate > 0) || !(hz >= 0) || !(CLIENTS >= 51) || !(SECONDS > 0)) {
  console.error(`usage: npx node bench/sync/hot-probe.ts ${SERVER_NAMES.join('|')} <votes per second> [presence Hz] [clients, at least 51] [seconds]`);
  process.exit(2);
}

if (process.env.BENCH_SERVER_STALLS) traceStalls('load generator', Number(process.env.BENCH_SERVER_STALLS));
const fixtures = ensureFixtures(join(tmpdir(), 'accord-bench-fixtures-v1'));
const dataDir = mkdtempSync(join(tmpdir(), 'accord-bench-probe-'));
const handle = await startServer(server, { dataDir, fixtures });
try {
  const { rooms } = await connectRooms(adapterFor(server, handle.url), handle.token, ['r0'], CLIENTS);
  const room = rooms[0]!;
  /** Per vote: latency of its first and of its last delivery. */
  const arrivals = new Map<string, { first: number; last: number }>();
  const all = new Samples();
  for (const c of room.clients) {
    const votes = c.doc.getMap('votes');
    votes.observe((event, txn) => {
      if (txn.local) return;
      const now = performance.now();
      for (const key of event.keysChanged) {
        const v = votes.get(key) as { t: number; p: string } | undefined;
        if (!v || v.p !== 'probe') continue;
        const ms = now - v.t;
        const a = arrivals.get(key);
        if (a) (a.first = Math.min(a.first, ms)), (a.last = Math.max(a.last, ms));
        else arrivals.set(key, { first: ms, last: ms });
        all.add(ms);
      }
    });
  }
  const stop = hz > 0 ? presence(room.clients, hz) : () => {};
  await sleep(1000);
  let seq = 0;
  // HOT_PROBE_WARM="5:12,20:12": steps (votes/s:seconds) before the measured one, as scenario B runs them.
  for (const step of (process.env.HOT_PROBE_WARM ?? '').split(',').filter(Boolean)) {
    const [r, sec] = step.split(':').map(Number) as [number, number];
    await drive(r, sec * 1000, (i) => room.clients[i % 50]!.doc.getMap('votes').set(`warm${i}:${seq++}`, { t: performance.now(), p: 'warm', v: 'approve', item: i % 50 }));
  }
  const gen0 = process.cpuUsage();
  const srv0 = cpuMs(handle.pid);
  const setMs = new Samples();
  await drive(rate, SECONDS * 1000, (i) => {
    const t = performance.now();
    room.clients[i % 50]!.doc.getMap('votes').set(`w${i}:${seq++}`, { t, p: 'probe', v: 'approve', item: i % 50 });
    setMs.add(performance.now() - t);
  });
  await sleep(700);
  const genMs = ((u) => (u.user + u.system) / 1000)(process.cpuUsage(gen0));
  const srvMs = cpuMs(handle.pid) - srv0;
  stop();
  const first = new Samples();
  const last = new Samples();
  for (const a of arrivals.values()) (first.add(a.first), last.add(a.last));
  const f = (s: Samples) => `p50 ${s.percentile(50).toFixed(2)} p99 ${s.percentile(99).toFixed(2)}`;
  console.log(`${server} ${rate}/s presence ${hz} Hz ${CLIENTS} clients: all ${f(all)} | first ${f(first)} | last ${f(last)} | set+send p50 ${setMs.percentile(50).toFixed(3)} | generator ${genMs.toFixed(0)} ms, server ${srvMs.toFixed(0)} ms`);
  for (const c of room.clients) c.close();
} finally {
  await handle.kill();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(0);
