/**
 * `node bench/blast/run.ts [--scale small,large] [--only proxmox,vsphere] [--what groups,rows] [--runs N]`:
 * the blast radius of the access bench's 10-item change (issue 22: < 200 ms at 5,000 VMs, < 2 s at
 * 50,000 VMs), on inventories from bench/access/generate.ts (imported read-only). Every measurement runs
 * in its own child process (its peak RSS is its own; generation and import included); the 1-minute load
 * average is printed beside every figure because the machine is shared.
 *
 * - groups: `blastGroups(backend, model, change)` as the product stores it (compact tables on both sides,
 *           diffed per set pair). The first call on a fresh model is reported apart from the median of the
 *           following ones (those reuse the before model's per-model indexes). Phases of one extra call:
 *           applyChange + both compact tables, the diff, the grouping and explaining. Wall time and process
 *           CPU time (user + system, all threads: GC helpers count) are both given: on this shared machine
 *           the CPU time is the steadier figure.
 * - rows:   `blastGroupsByRows`, the row path it replaces (effective() rows on both sides), for comparison.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { AccessModel, ChangeSet } from '../../server/domain/access/model.ts';
import type { CompactBackend } from '../../server/domain/access/compact.ts';
import { cellCount } from '../../server/domain/access/compact.ts';
import { diffCompact, evaluateSides } from '../../server/domain/access/blast-radius.ts';
import { blastGroups, blastGroupsByRows, explainer, groupCompact } from '../../server/domain/access/blast-groups.ts';
import { backend as proxmoxBackend } from '../../server/backends/proxmox/index.ts';
import { backend as vsphereBackend } from '../../server/backends/vsphere/index.ts';
import { proxmox, validChange, vsphere } from '../access/generate.ts';
import type { Generated, Scale } from '../access/generate.ts';

const SCALES: Record<string, Scale> = {
  small: { vms: 5_000, users: 2_000, groups: 200, grants: 20_000 },
  large: { vms: 50_000, users: 20_000, groups: 2_000, grants: 200_000 },
};
const BACKENDS: Record<string, { backend: CompactBackend; generate: (s: Scale) => Generated }> = {
  proxmox: { backend: proxmoxBackend, generate: proxmox },
  vsphere: { backend: vsphereBackend, generate: vsphere },
};
/** Issue 22's blast radius target per scale (ms). */
const TARGET: Record<string, number> = { small: 200, large: 2_000 };

interface Stat { median: number; min: number; max: number; runs: number }
interface Measured {
  what: string;
  backend: string;
  scale: string;
  principals: number;
  resources: number;
  grants: number;
  firstMs: number;
  firstCpuMs: number;
  time: Stat;
  /** Process CPU time (user + system, all threads) of the later calls. */
  cpu: Stat;
  figures: Record<string, number | string>;
  peakRssMB: number;
  load: number;
}

function stat(xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s[s.length - 1]!, runs: s.length };
}

const timed = <T>(f: () => T): [T, number] => {
  const t = performance.now();
  const out = f();
  return [out, performance.now() - t];
};

/** Wall and CPU time of one call: on a loaded machine the CPU time is the steadier figure. */
const timedCpu = <T>(f: () => T): [T, number, number] => {
  const c = process.cpuUsage();
  const [out, ms] = timed(f);
  const used = process.cpuUsage(c);
  return [out, ms, (used.user + used.system) / 1000];
};

function child(what: string, name: string, scaleName: string, runs: number): Measured {
  const { backend, generate } = BACKENDS[name]!;
  const g = generate(SCALES[scaleName]!);
  const model: AccessModel = backend.import(g.files);
  g.files.length = 0;
  const change: ChangeSet = validChange(backend, model, g.change(model).items);
  const run = what === 'groups' ? () => blastGroups(backend, model, change) : what === 'rows' ? () => blastGroupsByRows(backend, model, change) : undefined;
  if (!run) throw new Error(`unknown measurement ${what}`);
  const [groups, firstMs, firstCpuMs] = timedCpu(run);
  const times: number[] = [];
  const cpuTimes: number[] = [];
  const budget = scaleName === 'large' ? 60_000 : 20_000;
  const started = performance.now();
  while (times.length < runs - 1 && performance.now() - started < budget) {
    const [, ms, cpuMs] = timedCpu(run);
    times.push(ms);
    cpuTimes.push(cpuMs);
  }
  const figures: Record<string, number | string> = {
    gained: groups.rows.gained, lost: groups.rows.lost, groups: groups.groups.length, resourceSets: groups.resourceSets.length,
    affected: backend.affectedPrincipals(model, change).length,
  };
  if (what === 'groups') {
    const [sides, sidesMs] = timed(() => evaluateSides(backend, model, change));
    if (!sides || !('compact' in sides)) throw new Error(`${name}: the compact path was not taken`);
    const { tableBefore, tableAfter, after } = sides.compact;
    const [diff, diffMs] = timed(() => diffCompact(tableBefore, tableAfter));
    const [, groupMs] = timed(() => groupCompact(diff, (p) => backend.toCommon(p), explainer(backend, model, after, change)));
    Object.assign(figures, {
      cellsBefore: cellCount(tableBefore), cellsAfter: cellCount(tableAfter), changedPrincipals: diff.principals.length,
      sidesMs: Math.round(sidesMs), diffMs: Math.round(diffMs), groupMs: Math.round(groupMs),
    });
  }
  return {
    what, backend: name, scale: scaleName, principals: model.principals.length, resources: model.resources.length, grants: model.grants.length,
    firstMs, firstCpuMs, time: stat(times.length > 0 ? times : [firstMs]), cpu: stat(cpuTimes.length > 0 ? cpuTimes : [firstCpuMs]), figures, peakRssMB: process.resourceUsage().maxRSS / 1024, load: loadavg()[0]!,
  };
}

const args = process.argv.slice(2);
const opt = (key: string, fallback: string): string => {
  const i = args.indexOf(key);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const runs = Number(opt('--runs', '5'));
const childArg = opt('--child', '');
const n = (x: number): string => x.toLocaleString('en-US');
const ms = (s: Stat): string => `${n(Math.round(s.median))} (${n(Math.round(s.min))}–${n(Math.round(s.max))}, ${s.runs} run${s.runs === 1 ? '' : 's'})`;

if (childArg) {
  const [what, name, scale] = childArg.split(':') as [string, string, string];
  process.stdout.write(JSON.stringify(child(what, name, scale, runs)));
} else {
  const scales = opt('--scale', 'small,large').split(',');
  const only = opt('--only', 'proxmox,vsphere').split(',');
  const whats = opt('--what', 'groups').split(',');
  for (const s of scales) if (!SCALES[s]) throw new Error(`unknown scale ${s} (known: ${Object.keys(SCALES).join(', ')})`);
  for (const b of only) if (!BACKENDS[b]) throw new Error(`unknown backend ${b} (known: ${Object.keys(BACKENDS).join(', ')})`);
  console.log(`bench:blast, ${new Date().toISOString()}: ${availableParallelism()} CPUs (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`);
  console.log('Times in ms, wall / process CPU. "later" is the median (min–max, runs) of the calls after the first, on the same model. "load" is the 1-minute load average when the child started / ended.\n');
  console.log('| backend | scale | path | first call (ms, wall / CPU) | later calls (ms, wall) | later calls (ms, CPU) | rows gained / lost | groups | figures | peak RSS (MB) | load |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  const verdicts: string[] = [];
  for (const scale of scales) {
    for (const name of only) {
      for (const what of whats) {
        const loadBefore = loadavg()[0]!;
        // generate.ts pushes all ACL lines with one spread call: 200,000 arguments need a larger stack.
        const p = spawnSync(process.execPath, ['--stack-size=4000', fileURLToPath(import.meta.url), '--child', `${what}:${name}:${scale}`, '--runs', String(runs)], {
          encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'],
        });
        if (p.status !== 0) throw new Error(`${what}:${name}:${scale}: child exited with ${p.status ?? p.signal}`);
        const r = JSON.parse(p.stdout) as Measured;
        const { gained, lost, groups, ...rest } = r.figures;
        const figures = Object.entries(rest).map(([k, v]) => `${k} ${typeof v === 'number' ? n(v) : v}`).join('; ');
        console.log(`| ${name} | ${scale} (${n(r.principals)} principals, ${n(r.resources)} resources, ${n(r.grants)} grants) | ${what} | ${n(Math.round(r.firstMs))} / ${n(Math.round(r.firstCpuMs))} | ${ms(r.time)} | ${ms(r.cpu)} | ${n(gained as number)} / ${n(lost as number)} | ${n(groups as number)} | ${figures} | ${n(Math.round(r.peakRssMB))} | ${loadBefore.toFixed(1)} / ${r.load.toFixed(1)} |`);
        if (what === 'groups') {
          const t = TARGET[scale]!;
          const verdict = (x: number): string => (x < t ? 'met' : 'MISSED');
          verdicts.push(`- ${name} ${scale}: blastGroups first call ${n(Math.round(r.firstMs))} ms wall (${verdict(r.firstMs)}), later calls ${n(Math.round(r.time.median))} ms wall (${verdict(r.time.median)}), ${n(Math.round(r.cpu.median))} ms CPU; target < ${n(t)} ms; load ${r.load.toFixed(1)}`);
        }
      }
    }
  }
  console.log('\nAgainst the targets of issue 22:');
  for (const v of verdicts) console.log(v);
}
