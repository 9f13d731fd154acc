/**
 * Side-by-side Yjs sync benchmark: Accord vs the reference y-websocket server vs Hocuspocus 4.
 *
 *   npm run bench:sync                      # all scenarios, 3 runs per configuration (~15 min)
 *   npm run bench:sync -- --quick           # 1 run, shorter phases (smoke test)
 *   npm run bench:sync -- --only A,B        # selected scenarios
 *   npm run bench:sync -- --runs 5 --servers accord,ywebsocket
 *
 * The orchestrator spawns one load-generator worker per run (`taskset -c 1`), which starts a fresh
 * server child (`taskset -c 0`), runs the scenario and prints its result. Results: a table on stdout
 * and in bench/README.md (between the results markers). Method: bench/README.md.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { ensureFixtures, GENERATOR_NODE_ARGS, SCENARIO_IDS, SERVER_NAMES, type ScenarioId, type ServerName } from './common.ts';
import { fmt, spread, traceStalls } from './stats.ts';
import type { RunResult } from './scenarios/harness.ts';

const SELF = fileURLToPath(import.meta.url);
const ROOT = resolve(SELF, '../../..');
const README = join(ROOT, 'bench/README.md');
const MARK_START = '<!-- results:start -->';
const MARK_END = '<!-- results:end -->';

interface Job {
  scenario: ScenarioId;
  server: ServerName;
  rep: number;
  quick: boolean;
  fixtures: string;
}

interface Outcome {
  job: Job;
  result: RunResult | null;
  error?: string;
  status: 'ok' | 'discarded' | 'failed';
  reason?: string;
  seconds: number;
}

// ------------------------------------------------------------------------------------ worker mode

async function worker(job: Job): Promise<void> {
  process.on('SIGTERM', () => process.exit(143));
  process.on('SIGINT', () => process.exit(130));
  if (process.env.BENCH_SERVER_STALLS) traceStalls('load generator', Number(process.env.BENCH_SERVER_STALLS));
  const { SCENARIOS } = await import('./scenarios/index.ts');
  const tmp = mkdtempSync(join(tmpdir(), 'accord-bench-run-'));
  try {
    const result = await SCENARIOS[job.scenario].run({ server: job.server, quick: job.quick, fixtures: job.fixtures, tmp });
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  process.exit(0); // do not wait for reconnect timers of closed providers
}

// ------------------------------------------------------------------------------------ orchestrator

function parseCli(argv: string[]): { quick: boolean; only: ScenarioId[]; runs: number; servers: ServerName[] } {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    if (i >= 0) return argv[i + 1];
    const inline = argv.find((a) => a.startsWith(`${flag}=`));
    return inline?.slice(flag.length + 1);
  };
  const quick = argv.includes('--quick');
  const only = (get('--only')?.split(',').map((s) => s.trim().toUpperCase()) ?? [...SCENARIO_IDS]) as ScenarioId[];
  for (const s of only) if (!SCENARIO_IDS.includes(s)) throw new Error(`unknown scenario ${s} (known: ${SCENARIO_IDS.join(', ')})`);
  const servers = (get('--servers')?.split(',') ?? [...SERVER_NAMES]) as ServerName[];
  for (const s of servers) if (!SERVER_NAMES.includes(s)) throw new Error(`unknown server ${s}`);
  const runs = Number(get('--runs') ?? (quick ? 1 : 3));
  return { quick, only, runs, servers };
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

let current: ChildProcess | null = null;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    current?.kill('SIGTERM');
    process.exit(130);
  });
}
process.on('exit', () => current?.kill('SIGKILL'));

const JOB_TIMEOUT_MS = 240_000;

function runJob(job: Job): Promise<Outcome> {
  const t0 = performance.now();
  return new Promise((res) => {
    const child = spawn('taskset', ['-c', '1', process.execPath, ...GENERATOR_NODE_ARGS, ...(process.env.BENCH_WORKER_NODE_ARGS?.split(' ').filter(Boolean) ?? []), SELF, '--worker', JSON.stringify(job)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    current = child;
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), JOB_TIMEOUT_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      current = null;
      const seconds = (performance.now() - t0) / 1000;
      if (process.env.BENCH_SERVER_STALLS) process.stderr.write(err); // the server's stall and GC trace
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (!line) {
        const log = join(tmpdir(), `accord-bench-${job.scenario}-${job.server}-${job.rep}.log`);
        writeFileSync(log, `${out}\n--- stderr ---\n${err}`);
        return res({ job, result: null, status: 'failed', reason: `worker exited ${code}: ${err.trim().split('\n')[0] ?? ''} (log: ${log})`, seconds });
      }
      const result = JSON.parse(line.slice(7)) as RunResult;
      if (!result.converged) return res({ job, result, status: 'failed', reason: `convergence check failed ${result.notes.join('; ')}`, seconds });
      if (result.lagP99 > 20) return res({ job, result, status: 'discarded', reason: `load generator event-loop p99 ${fmt(result.lagP99)} ms > 20 ms`, seconds });
      if (result.sentRatio < 0.98) return res({ job, result, status: 'discarded', reason: `load generator sent ${fmt(result.sentRatio * 100)} % < 98 % of target`, seconds });
      res({ job, result, status: 'ok', seconds });
    });
  });
}

function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown';
  const nproc = spawnSync('nproc', { encoding: 'utf8' }).stdout.trim();
  return `${nproc} vCPU (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM (${(freemem() / 2 ** 30).toFixed(1)} free), Linux ${release()}, Node ${process.version}`;
}

function versions(): string {
  const v = (pkg: string): string => {
    try {
      return (JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return '?';
    }
  };
  return ['yjs', 'y-protocols', 'socket.io', 'socket.io-client', '@y/websocket-server', 'y-websocket', '@hocuspocus/server', '@hocuspocus/provider', 'ws'].map((p) => `${p} ${v(p)}`).join(', ');
}

const LABEL: Record<ServerName, string> = {
  accord: 'Accord (SQLite, durable acks ON)',
  ywebsocket: 'y-websocket server 0.1.1',
  hocuspocus: 'Hocuspocus 4.7 (no throttle)',
};

function tables(outcomes: Outcome[], only: ScenarioId[], servers: ServerName[], titles: Record<ScenarioId, string>): string {
  const lines: string[] = [];
  for (const sc of only) {
    const mine = outcomes.filter((o) => o.job.scenario === sc);
    if (mine.length === 0) continue;
    lines.push(`### ${titles[sc]}`, '');
    const metricNames: string[] = [];
    for (const o of mine) for (const k of Object.keys(o.result?.metrics ?? {})) if (!metricNames.includes(k)) metricNames.push(k);
    lines.push(`| metric | ${servers.map((s) => LABEL[s]).join(' | ')} |`, `|---|${servers.map(() => '---').join('|')}|`);
    for (const m of metricNames) {
      const cells = servers.map((s) => {
        const vals = mine.filter((o) => o.job.server === s && o.status === 'ok').map((o) => o.result!.metrics[m] ?? NaN);
        const st = spread(vals);
        if (st.n === 0) return vals.length ? 'n/a' : '–';
        const d = vals.every((v) => Number.isInteger(v)) || Math.abs(st.median) >= 100 ? 0 : Math.abs(st.median) >= 10 ? 1 : 2;
        return st.n > 1 ? `${fmt(st.median, d)} (${fmt(st.min, d)}–${fmt(st.max, d)})` : fmt(st.median, d);
      });
      lines.push(`| ${m} | ${cells.join(' | ')} |`);
    }
    const counts = servers.map((s) => {
      const os = mine.filter((o) => o.job.server === s);
      return `${os.filter((o) => o.status === 'ok').length}/${os.length} valid, ${os.filter((o) => o.status === 'discarded').length} discarded, ${os.filter((o) => o.status === 'failed').length} failed`;
    });
    lines.push(`| runs | ${counts.join(' | ')} |`, '');
    const notes = mine.filter((o) => o.status !== 'ok' || (o.result?.notes.length ?? 0) > 0);
    for (const o of notes) {
      const what = o.status === 'ok' ? o.result!.notes.join('; ') : `${o.status.toUpperCase()}: ${o.reason}`;
      lines.push(`- ${o.job.server} run ${o.job.rep}: ${what}`);
    }
    if (notes.length) lines.push('');
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const wIdx = process.argv.indexOf('--worker');
  if (wIdx >= 0) return worker(JSON.parse(process.argv[wIdx + 1]!) as Job);

  const cli = parseCli(process.argv.slice(2));
  if (spawnSync('taskset', ['-V']).status !== 0) throw new Error('taskset (util-linux) is required');
  if (cpus().length < 2) throw new Error('needs at least 2 cores (server on core 0, load generator on core 1)');
  const { SCENARIOS } = await import('./scenarios/index.ts');
  const titles = Object.fromEntries(Object.entries(SCENARIOS).map(([k, v]) => [k, v.title])) as Record<ScenarioId, string>;
  const fixtures = ensureFixtures(join(tmpdir(), 'accord-bench-fixtures-v1'));
  const jobs: Job[] = [];
  for (const scenario of cli.only) for (const server of cli.servers) for (let rep = 1; rep <= cli.runs; rep++) jobs.push({ scenario, server, rep, quick: cli.quick, fixtures });
  shuffle(jobs);
  console.log(`bench:sync — ${jobs.length} runs in random order (${cli.quick ? 'quick' : 'full'}); ${machine()}`);
  const started = performance.now();
  const outcomes: Outcome[] = [];
  for (const [i, job] of jobs.entries()) {
    const o = await runJob(job);
    outcomes.push(o);
    const m = o.result?.metrics ?? {};
    const headline = Object.entries(m).slice(0, 3).map(([k, v]) => `${k}=${fmt(v, 1)}`).join(', ');
    console.log(`[${i + 1}/${jobs.length}] ${job.scenario} ${job.server} #${job.rep}: ${o.status}${o.reason ? ` (${o.reason})` : ''} in ${o.seconds.toFixed(0)} s — ${headline}`);
    for (const n of o.result?.notes ?? []) console.log(`    ${n}`);
  }
  const minutes = (performance.now() - started) / 60_000;
  const discarded = outcomes.filter((o) => o.status === 'discarded').length;
  const failed = outcomes.filter((o) => o.status === 'failed').length;
  const body = [
    MARK_START,
    `_Last run: ${new Date().toISOString()}, \`npm run bench:sync${process.argv.slice(2).length ? ' -- ' + process.argv.slice(2).join(' ') : ''}\`, ${outcomes.length} runs in ${minutes.toFixed(1)} min; ${discarded} discarded (load generator lagged), ${failed} failed._`,
    '',
    `Machine: ${machine()}.`,
    '',
    `Versions: ${versions()}.`,
    '',
    `Cells: median (min–max) over the valid runs of each configuration.`,
    '',
    tables(outcomes, cli.only, cli.servers, titles),
    MARK_END,
  ].join('\n');
  console.log(`\n${body}\n`);
  const existing = existsSync(README) ? readFileSync(README, 'utf8') : '';
  const next = existing.includes(MARK_START) && existing.includes(MARK_END)
    ? existing.slice(0, existing.indexOf(MARK_START)) + body + existing.slice(existing.indexOf(MARK_END) + MARK_END.length)
    : `# Benchmarks\n\n## Sync: Accord vs y-websocket vs Hocuspocus\n\nRerun: \`npm run bench:sync\`.\n\n${body}\n`;
  writeFileSync(README, next);
  console.log(`results written to ${README}`);
  process.exit(failed > 0 ? 1 : 0);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
