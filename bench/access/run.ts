/**
 * `npm run bench:access [-- --runs N] [-- --only proxmox,vsphere]`: import, full effective table and the
 * blast radius of a 10-item change on generated data (see generate.ts), each backend in its own child
 * process so peak RSS is its own. Every measurement repeats up to `--runs` times (default 5) but stops
 * early once its time budget is spent (at least one run), and the table says how many runs it got.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { AccessModel, Backend, ChangeSet } from '../../server/domain/access/model.ts';
import { blastRadius } from '../../server/domain/access/blast-radius.ts';
import { backend as proxmoxBackend } from '../../server/backends/proxmox/index.ts';
import { backend as vsphereBackend } from '../../server/backends/vsphere/index.ts';
import { backend as libvirtBackend } from '../../server/backends/libvirt/index.ts';
import { backend as xapiBackend } from '../../server/backends/xapi/index.ts';
import { libvirt, proxmox, validChange, vsphere, xapi } from './generate.ts';
import type { Generated, Scale } from './generate.ts';

interface Case {
  backend: Backend;
  scale: Scale;
  generate: (scale: Scale) => Generated;
  /** Seconds one measurement may take in all before it stops repeating. */
  budget: number;
  /**
   * Evaluate the full table on every k-th principal only and extrapolate (linear in principals), when the
   * exact table does not fit the bench's time or memory; `--exact-full` evaluates it all anyway.
   */
  fullSampleEvery?: number;
}

const BIG: Scale = { vms: 5000, users: 2000, groups: 200, grants: 20_000 };
const CASES: Record<string, Case> = {
  proxmox: { backend: proxmoxBackend, scale: BIG, generate: proxmox, budget: 25 },
  vsphere: { backend: vsphereBackend, scale: BIG, generate: vsphere, budget: 10 },
  // polkit rules run in a sandbox per (user's groups, action, object): one host's scale.
  libvirt: { backend: libvirtBackend, scale: { vms: 20, users: 12, groups: 4, grants: 60 }, generate: libvirt, budget: 8 },
  // Roles are pool-wide: rows = subjects × objects × role permissions. One pool of 300 VMs, 60 subjects.
  xapi: { backend: xapiBackend, scale: { vms: 300, users: 100, groups: 10, grants: 60 }, generate: xapi, budget: 8 },
};

interface Stat { median: number; min: number; max: number; runs: number }
interface Result {
  backend: string;
  scale: Scale;
  notes: string;
  inputBytes: number;
  principals: number;
  resources: number;
  grants: number;
  warnings: number;
  import: Stat;
  full: Stat;
  fullRows: number;
  /** Set when the full table was sampled: how many principals were evaluated, of how many. */
  fullSample?: { evaluated: number; of: number };
  blastCold: number;
  blast: Stat;
  blastBackend: Stat;
  affected: number;
  items: string;
  gained: number;
  lost: number;
  heapAfterFullMB: number;
  peakRssMB: number;
}

function stat(xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, runs: s.length };
}

/** Run `f` up to `runs` times within `budgetS` seconds (at least once); times in ms. */
function measure<T>(runs: number, budgetS: number, f: () => T): { stat: Stat; last: T } {
  const times: number[] = [];
  let last: T | undefined;
  const started = performance.now();
  do {
    const t = performance.now();
    last = f();
    times.push(performance.now() - t);
  } while (times.length < runs && performance.now() - started < budgetS * 1000);
  return { stat: stat(times), last: last as T };
}

function child(name: string, runs: number): Result {
  const c = CASES[name]!;
  const b = c.backend;
  const g = c.generate(c.scale);
  const imp = measure(runs, c.budget, () => b.import(g.files));
  const model: AccessModel = imp.last;
  const change: ChangeSet = validChange(b, model, g.change(model).items);
  const ops = change.items.reduce((m, i) => ({ ...m, [i.op]: (m[i.op] ?? 0) + 1 }), {} as Record<string, number>);
  // The blast radius first, on a model never evaluated: the first run pays any per-model indexing.
  let t = performance.now();
  const first = blastRadius(b, model, change);
  const blastCold = performance.now() - t;
  const blast = measure(runs, c.budget, () => blastRadius(b, model, change));
  // The backend's share: applyChange, affectedPrincipals and both effective tables, without the diff.
  const blastBackend = measure(runs, c.budget, () => {
    const after = b.applyChange(model, change);
    const principals = b.affectedPrincipals(model, change);
    const resources = [...new Set([...model.resources, ...after.resources].map((r) => r.id))].sort();
    return b.effective(model, { principals, resources }).length + b.effective(after, { principals, resources }).length;
  });
  let fullRows = 0;
  let heapAfterFull = 0;
  const every = args.includes('--exact-full') ? undefined : c.fullSampleEvery;
  const everyone = [...new Set(model.principals.map((p) => p.id))].sort();
  const sample = every ? everyone.filter((_, i) => i % every === 0) : undefined;
  const full = measure(runs, c.budget, () => {
    const rows = sample ? b.effective(model, { principals: sample }) : b.effective(model);
    fullRows = rows.length;
    heapAfterFull = Math.max(heapAfterFull, process.memoryUsage().heapUsed);
    return rows.length;
  });
  t = performance.now();
  return {
    backend: name, scale: c.scale, notes: g.notes, inputBytes: g.files.reduce((n, f) => n + f.text.length, 0),
    principals: model.principals.length, resources: model.resources.length, grants: model.grants.length, warnings: model.warnings.length,
    import: imp.stat, full: full.stat, fullRows, ...(sample ? { fullSample: { evaluated: sample.length, of: everyone.length } } : {}), blastCold, blast: blast.stat, blastBackend: blastBackend.stat,
    affected: b.affectedPrincipals(model, change).length,
    items: Object.entries(ops).map(([op, n]) => `${n} ${op}`).join(', '),
    gained: first.gained.length, lost: first.lost.length,
    heapAfterFullMB: heapAfterFull / 2 ** 20, peakRssMB: process.resourceUsage().maxRSS / 1024,
  };
}

const extrapolate = (r: Result, x: number): number => (r.fullSample ? (x * r.fullSample.of) / r.fullSample.evaluated : x);
const fmt = (s: Stat): string => (s.runs === 1 ? `${s.median.toFixed(0)} (1 run)` : `${s.median.toFixed(0)} (${s.min.toFixed(0)}–${s.max.toFixed(0)}, ${s.runs} runs)`);
const n = (x: number): string => x.toLocaleString('en-US');

function table(results: Result[]): string {
  const rows: [string, (r: Result) => string][] = [
    ['scale (VMs / users / groups / grants asked)', (r) => `${n(r.scale.vms)} / ${n(r.scale.users)} / ${n(r.scale.groups)} / ${n(r.scale.grants)}`],
    ['model: principals / resources / grants / warnings', (r) => `${n(r.principals)} / ${n(r.resources)} / ${n(r.grants)} / ${n(r.warnings)}`],
    ['native input (MB)', (r) => (r.inputBytes / 1e6).toFixed(2)],
    ['import (ms)', (r) => fmt(r.import)],
    ['full effective table (ms)', (r) => (r.fullSample ? `${fmt(r.full)} for ${n(r.fullSample.evaluated)} of ${n(r.fullSample.of)} principals; ≈ ${n(Math.round(extrapolate(r, r.full.median) / 1000))} s for all (extrapolated)` : fmt(r.full))],
    ['full effective table (rows)', (r) => (r.fullSample ? `${n(r.fullRows)} for the sample; ≈ ${n(Math.round(extrapolate(r, r.fullRows)))} for all` : n(r.fullRows))],
    ['10-item change', (r) => `${r.items}; ${n(r.affected)} affected principals`],
    ['blast radius rows gained / lost', (r) => `${n(r.gained)} / ${n(r.lost)}`],
    ['blast radius, first run on the model (ms)', (r) => r.blastCold.toFixed(0)],
    ['blast radius (ms)', (r) => fmt(r.blast)],
    ['  of which backend: apply + affected + 2 × effective (ms)', (r) => fmt(r.blastBackend)],
    ['heap used with the full table (or its sample) live (MB)', (r) => r.heapAfterFullMB.toFixed(0)],
    ['peak RSS of the process (MB)', (r) => r.peakRssMB.toFixed(0)],
  ];
  const head = `| metric | ${results.map((r) => r.backend).join(' | ')} |\n|---|${results.map(() => '---|').join('')}`;
  return [head, ...rows.map(([label, f]) => `| ${label} | ${results.map(f).join(' | ')} |`)].join('\n');
}

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const runs = Number(opt('--runs') ?? 5);
const childName = opt('--child');
if (childName) {
  process.stdout.write(JSON.stringify(child(childName, runs)));
} else {
  const only = (opt('--only') ?? Object.keys(CASES).join(',')).split(',');
  const started = performance.now();
  const results: Result[] = [];
  for (const name of only) {
    if (!CASES[name]) throw new Error(`unknown backend ${name} (known: ${Object.keys(CASES).join(', ')})`);
    process.stderr.write(`bench:access ${name}...\n`);
    const p = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', name, '--runs', String(runs), ...(args.includes('--exact-full') ? ['--exact-full'] : [])], { encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'] });
    if (p.status !== 0) throw new Error(`${name}: child exited with ${p.status ?? p.signal}`);
    const r = JSON.parse(p.stdout) as Result;
    results.push(r);
    process.stderr.write(`  ${r.notes}\n`);
  }
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  console.log(`bench:access, ${new Date().toISOString()}: ${availableParallelism()} CPUs (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}; ${((performance.now() - started) / 1000).toFixed(0)} s in all`);
  console.log('Times: median (min–max, runs); each measurement repeats up to --runs times within its time budget.\n');
  console.log(table(results));
  console.log('\nGenerated:');
  for (const r of results) console.log(`- ${r.backend}: ${r.notes}`);
  const big = results.filter((r) => r.scale === BIG || (r.scale.vms === BIG.vms && r.scale.users === BIG.users));
  console.log('\nTargets (blast radius < 200 ms, full effective table < 2 s):');
  for (const r of big) console.log(`- ${r.backend}: blast radius ${r.blast.median.toFixed(0)} ms ${r.blast.median < 200 ? 'MET' : 'MISSED'}; full table ${(extrapolate(r, r.full.median) / 1000).toFixed(1)} s${r.fullSample ? ' (extrapolated)' : ''} ${extrapolate(r, r.full.median) < 2000 ? 'MET' : 'MISSED'}`);
}
