/**
 * One server at one fixed vote rate, with its CPU split by thread: the figure behind "where does the
 * CPU go" in bench/README.md. Same rooms and clients as scenario D (50 rooms × 10 clients, raw-protocol
 * clients with 5 canaries), 8 s at the rate, then 1 s to drain; CPU from /proc/<pid>/task/<tid>/stat.
 *
 *   taskset -c 1 npx node bench/sync/fixed-rate.ts accord 1600            # or ywebsocket, hocuspocus; rate in votes/s
 *   taskset -c 1 npx node bench/sync/fixed-rate.ts accord 100 1 100 8     # scenario A's load: presence 1 Hz, 100 rooms × 8
 *
 * Optional: presence rate per client (Hz, default 0), rooms (default 50), clients per room (default 10).
 *
 * Not part of `npm run bench:sync`: no repetitions, no validity guard; for comparing a change against
 * the previous one, or one server against another, at the same load.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureFixtures, ensureGeneratorFlags, roomName, SERVER_NAMES, sleep, type ServerName } from './common.ts';
import { drive, Meter, startServer } from './scenarios/harness.ts';
import { closeMixed, connectMixedRooms, mixedPresence, voteBy } from './scenarios/mixed.ts';

ensureGeneratorFlags(); // the same V8 flags as the benchmark's load generator (common.ts)
const server = process.argv[2] as ServerName;
const rate = Number(process.argv[3] ?? 1600);
const presenceHz = Number(process.argv[4] ?? 0);
const ROOMS = Number(process.argv[5] ?? 50);
const PER_ROOM = Number(process.argv[6] ?? 10);
if (!SERVER_NAMES.includes(server) || !(rate > 0) || !(presenceHz >= 0) || !(ROOMS >= 1) || !(PER_ROOM >= 2)) {
  console.error(`usage: npx node bench/sync/fixed-rate.ts ${SERVER_NAMES.join('|')} <votes per second> [presence Hz] [rooms] [clients per room]`);
  process.exit(2);
}

/** CPU ms per thread name (numbers stripped, so V8's helper threads add up), from /proc. */
function threads(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim().replace(/[0-9]+$/, '');
    const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10); // utime + stime, 100 Hz ticks
  }
  return out;
}

const fixtures = ensureFixtures(join(tmpdir(), 'accord-bench-fixtures-v1'));
const dataDir = mkdtempSync(join(tmpdir(), 'accord-bench-fixed-'));
const handle = await startServer(server, { dataDir, fixtures });
try {
  const meter = new Meter();
  const { rooms } = await connectMixedRooms(server, handle, Array.from({ length: ROOMS }, (_, i) => roomName(i)), PER_ROOM, ROOMS >= 100 ? 20 : 10, meter);
  const stopPresence = presenceHz > 0 ? mixedPresence(rooms, presenceHz) : () => {};
  await sleep(1_000);
  const ph = meter.phase('fixed');
  const before = threads(handle.pid);
  const generator = process.cpuUsage();
  const sent = await drive(rate, Number(process.env.FIXED_SECONDS ?? 8) * 1000, (i) => {
    const room = rooms[i % ROOMS]!;
    ph.expected += voteBy(room.writers[Math.floor(i / ROOMS) % PER_ROOM]!, room, 'fixed', 'w');
  });
  await sleep(1_000);
  const after = threads(handle.pid);
  const generatorMs = Math.round(((u) => (u.user + u.system) / 1000)(process.cpuUsage(generator)));
  stopPresence();
  const parts = [...after].map(([name, ms]) => [name, ms - (before.get(name) ?? 0)] as const).filter(([, ms]) => ms > 0);
  const total = parts.reduce((sum, [, ms]) => sum + ms, 0);
  console.log(
    `${server} at ${rate} votes/s${presenceHz > 0 ? ` + presence ${presenceHz} Hz` : ''}, ${ROOMS} rooms × ${PER_ROOM} (${sent.sent} sent, ${ph.delivered} of ${ph.expected} deliveries): server CPU ${total} ms, ` +
      `${((total * 1000) / sent.sent).toFixed(0)} µs per update, ${((total * 1000) / ph.delivered).toFixed(1)} µs per delivery; ` +
      `fan-out p50 ${ph.lat.percentile(50).toFixed(1)} p99 ${ph.lat.percentile(99).toFixed(1)} ms; by thread: ${parts.map(([n, ms]) => `${n} ${ms}`).join(', ')}; load generator CPU ${generatorMs} ms`,
  );
  closeMixed(rooms);
} finally {
  await handle.kill();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(0);
