/**
 * `npm run bench:access [-- --runs N] [-- --only proxmox,vsphere] [-- --scale large|all]`: import, full
 * effective table and the blast radius of a 10-item change on generated data (see generate.ts), each case
 * in its own child process so peak RSS is its own. Every measurement repeats up to `--runs` times (default
 * 5) but stops early once its time budget is spent (at least one run), and the table says how many runs it
 * got. Each child also has a wall-clock limit and a 4 GiB heap (`--max-old-space-size`), so a case that
 * cannot finish is reported as such instead of running forever.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { AccessModel, Backend, ChangeSet } from '../../server/domain/access/model.ts';
import { blastRadius } from '../../server/domain/access/blast-radius.ts';
import { blastGroups } from '../../server/domain/access/blast-groups.ts';
import { backend as proxmoxBackend } from '../../server/backends/proxmox/index.ts';
import { backend as vsphereBackend } from '../../server/backends/vsphere/index.ts';
import { backend as libvirtBackend } from '../../server/backends/libvirt/index.ts';
import { clearRuleSetCache, lastEvaluation } from '../../server/backends/libvirt/effective.ts';
import { backend as xapiBackend } from '../../server/backends/xapi/index.ts';
import { libvirt, proxmox, validChange, vsphere, xapi } from './generate.ts';
import type { Generated, Scale } from './generate.ts';

interface Targets { blastMs: number; fullMs: number; rssMB?: number }

interface Case {
  backend: Backend;
  scale: Scale;
  generate: (scale: Scale) => Generated;
  /** Seconds one measurement may take in all before it stops repeating. */
  budget: number;
  /** Seconds the whole child may take (generation included) before it is stopped and reported as such. */
  limit: number;
  /**
   * Evaluate the full table on every k-th principal only and extrapolate (linear in principals), when the
   * exact table does not fit the bench's time or memory; `--exact-full` evaluates it all anyway.
   */
  fullSampleEvery?: number;
  targets?: Targets;
  /** `standard` runs by default, `large` with `--scale large`, both with `--scale all`. */
  set: 'standard' | 'large';
}

const BIG: Scale = { vms: 5000, users: 2000, groups: 200, grants: 20_000 };
/** Issue 22's Proxmox / vSphere scale. */
const LARGE: Scale = { vms: 50_000, users: 20_000, groups: 2_000, grants: 200_000 };
/** Issue 22's libvirt fleet: 20 hosts × 50 domains, 500 users, 50 groups, 40 rules files (generate.ts). */
const FLEET: Scale = { vms: 1000, users: 500, groups: 50, grants: 2000 };
const CASES: Record<string, Case> = {
  proxmox: { backend: proxmoxBackend, scale: BIG, generate: proxmox, budget: 25, limit: 600, targets: { blastMs: 200, fullMs: 2000 }, set: 'standard' },
  vsphere: { backend: vsphereBackend, scale: BIG, generate: vsphere, budget: 10, limit: 600, targets: { blastMs: 200, fullMs: 2000 }, set: 'standard' },
  // polkit rules: the fleet evaluator (server/backends/libvirt/fleet.ts) behind effective().
  libvirt: { backend: libvirtBackend, scale: FLEET, generate: libvirt, budget: 20, limit: 600, targets: { blastMs: 1000, fullMs: 5000 }, set: 'standard' },
  // Roles are pool-wide: rows = subjects × objects × role permissions. One pool of 300 VMs, 60 subjects.
  xapi: { backend: xapiBackend, scale: { vms: 300, users: 100, groups: 10, grants: 60 }, generate: xapi, budget: 8, limit: 300, set: 'standard' },
  // The full table at this scale is ~100× the 5,000-VM one (hundreds of millions of rows): it cannot be
  // held in 4 GiB, so every k-th principal's rows are computed and the time extrapolated.
  'proxmox-large': { backend: proxmoxBackend, scale: LARGE, generate: proxmox, budget: 30, limit: 900, fullSampleEvery: 200, targets: { blastMs: 2000, fullMs: 10_000, rssMB: 4096 }, set: 'large' },
  'vsphere-large': { backend: vsphereBackend, scale: LARGE, generate: vsphere, budget: 30, limit: 900, fullSampleEvery: 500, targets: { blastMs: 2000, fullMs: 10_000, rssMB: 4096 }, set: 'large' },
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
  /** The grouped blast radius (blast-groups.ts): time and number of groups. */
  grouped: Stat;
  groups: number;
  /** libvirt: sandbox rule evaluations for the full table and how effective() ran. */
  libvirtNote?: string;
  /** libvirt: one full table with no rule set kept from earlier calls. */
  fullCold?: number;
  /** Set when the child did not finish (time limit, out of memory): the other fields are empty. */
  failed?: string;
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
  const t = performance.now();
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
  const grouped = measure(runs, c.budget, () => blastGroups(b, model, change));
  // libvirt keeps what its rules taught between calls (rule sets): one full table from cold, for the record.
  let fullCold: number | undefined;
  let libvirtNote: string | undefined;
  if (b.id === 'libvirt') {
    clearRuleSetCache();
    const t0 = performance.now();
    b.effective(model);
    fullCold = performance.now() - t0;
    libvirtNote = `cold full table: ${lastEvaluation.mode}; ${n(lastEvaluation.ruleEvaluations)} rule evaluations in the sandbox, ${lastEvaluation.ruleSets} rule sets${lastEvaluation.why ? ` (${lastEvaluation.why})` : ''}`;
  }
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
  return {
    backend: name, scale: c.scale, notes: g.notes, inputBytes: g.files.reduce((n, f) => n + f.text.length, 0),
    principals: model.principals.length, resources: model.resources.length, grants: model.grants.length, warnings: model.warnings.length,
    import: imp.stat, full: full.stat, fullRows, ...(sample ? { fullSample: { evaluated: sample.length, of: everyone.length } } : {}), blastCold, blast: blast.stat, blastBackend: blastBackend.stat,
    affected: b.affectedPrincipals(model, change).length,
    items: Object.entries(ops).map(([op, n]) => `${n} ${op}`).join(', '),
    gained: first.gained.length, lost: first.lost.length,
    heapAfterFullMB: heapAfterFull / 2 ** 20, peakRssMB: process.resourceUsage().maxRSS / 1024,
    grouped: grouped.stat, groups: grouped.last.groups.length, ...(libvirtNote ? { libvirtNote } : {}), ...(fullCold !== undefined ? { fullCold } : {}),
  };
}

const extrapolate = (r: Result, x: number): number => (r.fullSample ? (x * r.fullSample.of) / r.fullSample.evaluated : x);
const fmt = (s: Stat): string => (s.runs === 1 ? `${s.median.toFixed(0)} (1 run)` : `${s.median.toFixed(0)} (${s.min.toFixed(0)}–${s.max.toFixed(0)}, ${s.runs} runs)`);
const n = (x: number): string => x.toLocaleString('en-US');

function table(results: Result[]): string {
  const ok = (f: (r: Result) => string) => (r: Result): string => (r.failed ? (f === scaleCell ? scaleCell(r) : r.failed) : f(r));
  const rows: [string, (r: Result) => string][] = [
    ['scale (VMs / users / groups / grants asked)', scaleCell],
    ['model: principals / resources / grants / warnings', (r) => `${n(r.principals)} / ${n(r.resources)} / ${n(r.grants)} / ${n(r.warnings)}`],
    ['native input (MB)', (r) => (r.inputBytes / 1e6).toFixed(2)],
    ['import (ms)', (r) => fmt(r.import)],
    ['full effective table (ms)', (r) => (r.fullSample ? `${fmt(r.full)} for ${n(r.fullSample.evaluated)} of ${n(r.fullSample.of)} principals; ≈ ${n(Math.round(extrapolate(r, r.full.median) / 1000))} s for all (extrapolated)` : fmt(r.full))],
    ['full effective table, cold: no rules learnt before (ms)', (r) => (r.fullCold === undefined ? '–' : r.fullCold.toFixed(0))],
    ['full effective table (rows)', (r) => (r.fullSample ? `${n(r.fullRows)} for the sample; ≈ ${n(Math.round(extrapolate(r, r.fullRows)))} for all` : n(r.fullRows))],
    ['10-item change', (r) => `${r.items}; ${n(r.affected)} affected principals`],
    ['blast radius rows gained / lost', (r) => `${n(r.gained)} / ${n(r.lost)}`],
    ['blast radius, first run on the model (ms)', (r) => r.blastCold.toFixed(0)],
    ['blast radius (ms)', (r) => fmt(r.blast)],
    ['  of which backend: apply + affected + 2 × effective (ms)', (r) => fmt(r.blastBackend)],
    ['grouped blast radius, blastGroups (ms)', (r) => fmt(r.grouped)],
    ['grouped blast radius (groups)', (r) => n(r.groups)],
    ['heap used with the full table (or its sample) live (MB)', (r) => r.heapAfterFullMB.toFixed(0)],
    ['peak RSS of the process (MB)', (r) => r.peakRssMB.toFixed(0)],
  ];
  const head = `| metric | ${results.map((r) => r.backend).join(' | ')} |\n|---|${results.map(() => '---|').join('')}`;
  return [head, ...rows.map(([label, f]) => `| ${label} | ${results.map(ok(f)).join(' | ')} |`)].join('\n');
}

function scaleCell(r: Result): string {
  return `${n(r.scale.vms)} / ${n(r.scale.users)} / ${n(r.scale.groups)} / ${n(r.scale.grants)}`;
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
  const scale = opt('--scale') ?? 'standard';
  if (!['standard', 'large', 'all'].includes(scale)) throw new Error(`--scale ${scale}: standard, large or all`);
  const only = (opt('--only') ?? Object.keys(CASES).filter((k) => scale === 'all' || CASES[k]!.set === scale).join(',')).split(',');
  const started = performance.now();
  const load = loadavg().map((x) => x.toFixed(2)).join(', ');
  const results: Result[] = [];
  for (const name of only) {
    const c = CASES[name];
    if (!c) throw new Error(`unknown case ${name} (known: ${Object.keys(CASES).join(', ')})`);
    process.stderr.write(`bench:access ${name}...\n`);
    const p = spawnSync(process.execPath, ['--max-old-space-size=4096', fileURLToPath(import.meta.url), '--child', name, '--runs', String(runs), ...(args.includes('--exact-full') ? ['--exact-full'] : [])], {
      encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'], timeout: c.limit * 1000, killSignal: 'SIGKILL',
    });
    if (p.status !== 0) {
      const why = p.error && (p.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? `stopped after the ${c.limit} s limit`
        : p.signal ? `killed (${p.signal}${p.signal === 'SIGABRT' ? ': out of the 4 GiB heap?' : ''})`
          : `failed (exit ${p.status}${p.status === 134 ? ': out of the 4 GiB heap' : '; its error is above'})`;
      process.stderr.write(`  ${name}: ${why}\n`);
      results.push({ backend: name, scale: c.scale, failed: why } as Result);
      continue;
    }
    const r = JSON.parse(p.stdout) as Result;
    r.backend = name;
    results.push(r);
    process.stderr.write(`  ${r.notes}\n`);
  }
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  console.log(`bench:access, ${new Date().toISOString()}: ${availableParallelism()} CPUs (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}; load average at start ${load}, at end ${loadavg().map((x) => x.toFixed(2)).join(', ')}; ${((performance.now() - started) / 1000).toFixed(0)} s in all`);
  console.log('Times: median (min–max, runs); each measurement repeats up to --runs times within its time budget.\n');
  console.log(table(results));
  console.log('\nGenerated:');
  for (const r of results) if (!r.failed) console.log(`- ${r.backend}: ${r.notes}`);
  for (const r of results) if (r.libvirtNote) console.log(`- ${r.backend} effective(): ${r.libvirtNote}`);
  console.log('\nTargets:');
  for (const r of results) {
    const t = CASES[r.backend]?.targets;
    if (!t) continue;
    if (r.failed) { console.log(`- ${r.backend}: ${r.failed}: targets MISSED`); continue; }
    const full = extrapolate(r, r.full.median);
    const parts = [
      `blast radius ${r.blast.median.toFixed(0)} ms (< ${n(t.blastMs)}) ${r.blast.median < t.blastMs ? 'MET' : 'MISSED'}`,
      `full table ${(full / 1000).toFixed(1)} s${r.fullSample ? ' (extrapolated)' : ''} (< ${t.fullMs / 1000} s) ${full < t.fullMs ? 'MET' : 'MISSED'}`,
      ...(t.rssMB ? [`peak RSS ${r.peakRssMB.toFixed(0)} MB (< ${n(t.rssMB)}) ${r.peakRssMB < t.rssMB ? 'MET' : 'MISSED'}${r.fullSample ? ' for the sampled table' : ''}`] : []),
    ];
    console.log(`- ${r.backend}: ${parts.join('; ')}`);
  }
}
