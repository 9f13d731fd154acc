/**
 * `node bench/effective/run.ts [--scale small,large] [--only proxmox,vsphere] [--runs N] [--what full,blast,rows]`:
 * the compact effective table (server/domain/access/compact.ts) on inventories from the access bench's
 * generator (bench/access/generate.ts, imported read-only), at the two scales of issue 22. Every
 * measurement runs in its own child process, so its peak RSS is its own; the 1-minute load average is
 * printed beside every figure because the machine is shared.
 *
 * - full:  `effectiveCompact(model)`, every principal × every resource; cells, rows it stands for, peak RSS.
 * - blast: the backend's share of a blast radius with the compact form: applyChange, affectedPrincipals
 *          and 2 × effectiveCompact on the affected principals (all resources of both sides), as
 *          blast-radius.ts asks `effective`; and the same with `effective()` rows, for comparison.
 * - rows:  the full table as `EffectiveRow` objects (`effective(model)`), small scale only.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { AccessModel } from '../../server/domain/access/model.ts';
import type { CompactBackend } from '../../server/domain/access/compact.ts';
import { cellCount, rowCount } from '../../server/domain/access/compact.ts';
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
/** The targets per scale: blast radius (ms), full table (ms), peak RSS (MB). */
const TARGETS: Record<string, { blast: number; full: number; rss: number }> = {
  small: { blast: 200, full: 1_000, rss: 1_024 },
  large: { blast: 2_000, full: 10_000, rss: 4_096 },
};

interface Stat { median: number; min: number; max: number; runs: number }
interface Measured {
  what: string;
  backend: string;
  scale: string;
  notes: string;
  principals: number;
  resources: number;
  grants: number;
  importMs: number;
  rssAfterImportMB: number;
  time: Stat;
  /** What was measured besides the time, by name. */
  figures: Record<string, number | string>;
  heapMB: number;
  peakRssMB: number;
  load: number;
}

function stat(xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s[s.length - 1]!, runs: s.length };
}

function measure(runs: number, budgetMs: number, f: () => void): Stat {
  const times: number[] = [];
  const started = performance.now();
  do {
    const t = performance.now();
    f();
    times.push(performance.now() - t);
  } while (times.length < runs && performance.now() - started < budgetMs);
  return stat(times);
}

const mb = (bytes: number): number => bytes / 2 ** 20;

function child(what: string, name: string, scaleName: string, runs: number): Measured {
  const { backend, generate } = BACKENDS[name]!;
  const g = generate(SCALES[scaleName]!);
  let t = performance.now();
  const model: AccessModel = backend.import(g.files);
  const importMs = performance.now() - t;
  g.files.length = 0; // the native text is not part of what is measured
  const rssAfterImportMB = process.memoryUsage().rss / 2 ** 20;
  const figures: Record<string, number | string> = {};
  let heap = 0;
  const budget = scaleName === 'large' ? 60_000 : 20_000;
  let time: Stat;
  if (what === 'full') {
    time = measure(runs, budget, () => {
      const table = backend.effectiveCompact(model);
      heap = Math.max(heap, process.memoryUsage().heapUsed);
      figures.principals = table.principals.length;
      figures.cells = cellCount(table);
      figures.sets = table.sets.length - 1;
      figures.sharedCells = table.cells.length - new Set(table.cells).size;
    });
    const table = backend.effectiveCompact(model);
    t = performance.now();
    figures.rows = rowCount(table);
    figures.rowCountMs = Math.round(performance.now() - t);
    let bytes = 0;
    for (const c of new Set(table.cells)) bytes += c.resources.byteLength + c.codes.byteLength + c.palette.byteLength;
    figures.columnsMB = Math.round(mb(bytes));
  } else if (what === 'rows') {
    time = measure(runs, budget, () => {
      const rows = backend.effective(model);
      heap = Math.max(heap, process.memoryUsage().heapUsed);
      figures.rows = rows.length;
    });
  } else if (what === 'blast') {
    const change = validChange(backend, model, g.change(model).items);
    const side = (compact: boolean): (() => void) => () => {
      const after = backend.applyChange(model, change);
      const principals = backend.affectedPrincipals(model, change);
      const resources = [...new Set([...model.resources, ...after.resources].map((r) => r.id))].sort();
      const q = { principals, resources };
      if (compact) {
        const a = backend.effectiveCompact(model, q);
        const b = backend.effectiveCompact(after, q);
        figures.affected = principals.length;
        figures.cellsBefore = cellCount(a);
        figures.cellsAfter = cellCount(b);
      } else {
        figures.rowsBefore = backend.effective(model, q).length;
        figures.rowsAfter = backend.effective(after, q).length;
      }
      heap = Math.max(heap, process.memoryUsage().heapUsed);
    };
    t = performance.now();
    side(true)();
    figures.compactFirstRunMs = Math.round(performance.now() - t);
    time = measure(runs, budget, side(true));
    const rows = measure(runs, budget, side(false));
    figures.rowsMedianMs = Math.round(rows.median);
    figures.rowsRuns = rows.runs;
  } else throw new Error(`unknown measurement ${what}`);
  return {
    what, backend: name, scale: scaleName, notes: g.notes,
    principals: model.principals.length, resources: model.resources.length, grants: model.grants.length,
    importMs, rssAfterImportMB, time, figures, heapMB: mb(heap), peakRssMB: process.resourceUsage().maxRSS / 1024, load: loadavg()[0]!,
  };
}

const args = process.argv.slice(2);
const opt = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const runs = Number(opt('--runs', '5'));
const childArg = opt('--child', '');
const n = (x: number): string => x.toLocaleString('en-US');
const ms = (s: Stat): string => (s.runs === 1 ? `${n(Math.round(s.median))} (1 run)` : `${n(Math.round(s.median))} (${n(Math.round(s.min))}–${n(Math.round(s.max))}, ${s.runs} runs)`);

if (childArg) {
  const [what, name, scale] = childArg.split(':') as [string, string, string];
  process.stdout.write(JSON.stringify(child(what, name, scale, runs)));
} else {
  const scales = opt('--scale', 'small,large').split(',');
  const only = opt('--only', 'proxmox,vsphere').split(',');
  const whats = opt('--what', 'full,blast,rows').split(',');
  for (const s of scales) if (!SCALES[s]) throw new Error(`unknown scale ${s} (known: ${Object.keys(SCALES).join(', ')})`);
  for (const b of only) if (!BACKENDS[b]) throw new Error(`unknown backend ${b} (known: ${Object.keys(BACKENDS).join(', ')})`);
  console.log(`bench:effective, ${new Date().toISOString()}: ${availableParallelism()} CPUs (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`);
  console.log('Times in ms: median (min–max, runs). "load" is the 1-minute load average when the child started / ended.\n');
  console.log('| backend | scale | measurement | time (ms) | figures | heap (MB) | peak RSS (MB) | RSS after import (MB) | load |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  const verdicts: string[] = [];
  for (const scale of scales) {
    for (const name of only) {
      for (const what of whats) {
        if (what === 'rows' && scale === 'large') continue; // hundreds of millions of row objects do not fit
        const loadBefore = loadavg()[0]!;
        // generate.ts pushes all ACL lines with one spread call: 200,000 arguments need a larger stack.
        const p = spawnSync(process.execPath, ['--stack-size=4000', fileURLToPath(import.meta.url), '--child', `${what}:${name}:${scale}`, '--runs', String(runs)], {
          encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'],
        });
        if (p.status !== 0) throw new Error(`${what}:${name}:${scale}: child exited with ${p.status ?? p.signal}`);
        const r = JSON.parse(p.stdout) as Measured;
        const figures = Object.entries(r.figures).map(([k, v]) => `${k} ${typeof v === 'number' ? n(v) : v}`).join('; ');
        console.log(`| ${name} | ${scale} (${n(r.principals)} principals, ${n(r.resources)} resources, ${n(r.grants)} grants) | ${what} | ${ms(r.time)} | ${figures} | ${n(Math.round(r.heapMB))} | ${n(Math.round(r.peakRssMB))} | ${n(Math.round(r.rssAfterImportMB))} | ${loadBefore.toFixed(1)} / ${r.load.toFixed(1)} |`);
        const target = TARGETS[scale]!;
        if (what === 'full') verdicts.push(`- ${name} ${scale}: full compact table ${n(Math.round(r.time.median))} ms (target < ${n(target.full)}: ${r.time.median < target.full ? 'met' : 'MISSED'}); peak RSS ${n(Math.round(r.peakRssMB))} MB (target < ${n(target.rss)}: ${r.peakRssMB < target.rss ? 'met' : 'MISSED'}); load ${r.load.toFixed(1)}`);
        if (what === 'blast') verdicts.push(`- ${name} ${scale}: backend share of the blast radius, compact, ${n(Math.round(r.time.median))} ms (target for the whole blast radius < ${n(target.blast)}: ${r.time.median < target.blast ? 'met' : 'MISSED'} for this share); load ${r.load.toFixed(1)}`);
        process.stderr.write(`  ${name} ${scale}: ${r.notes}\n`);
      }
    }
  }
  console.log('\nAgainst the targets of issue 22:');
  for (const v of verdicts) console.log(v);
}
