/**
 * Drift (docs/targets.md): what a target holds compared with its last approved state (the baseline: the
 * grants Accord applied or an admin adopted). Each difference is a finding, classified `added` (granted
 * outside Accord), `missing` (an approved grant is gone) or `changed` (the same principal on the same
 * resource with other rights), opened once and kept open until an admin adopts it (it becomes approved
 * state) or reverts it (a change request that undoes it goes to review), or it disappears by itself
 * (`gone`). The first read of a target records its baseline: there is nothing to compare with yet.
 */
import { createHash } from 'node:crypto';
import type { AccessModel, GrantSpec, NativeFile } from '../domain/access/model.ts';
import type { ChangeContent } from '../domain/review/types.ts';
import type { DriftFinding, DriftKind, TargetRepository } from '../store/repositories/target-repository.ts';
import { importObserved, opaqueOf, specOf } from './apply-engine.ts';
import type { Targets } from './targets.ts';
import { describeGrant, grantKey } from './types.ts';
import { AppError } from '../protocol/errors.ts';

export interface Observation {
  target: string;
  backend: string;
  files: NativeFile[];
  model: AccessModel;
}

export interface DriftReport {
  target: string;
  /** `recorded`: the first read, which set the baseline. */
  baseline: 'recorded' | 'compared';
  opened: DriftFinding[];
  gone: string[];
  open: DriftFinding[];
  warnings: string[];
}

const findingId = (target: string, kind: DriftKind, key: string, at: string): string =>
  `dr-${createHash('sha256').update(`${target}\u0000${kind}\u0000${key}\u0000${at}`).digest('hex').slice(0, 12)}`;

/** The differences between a baseline and an observed state. */
export function compareGrants(baseline: readonly GrantSpec[], observed: readonly GrantSpec[]): { kind: DriftKind; key: string; grant?: GrantSpec; approved?: GrantSpec }[] {
  const base = new Map(baseline.map((g) => [grantKey(g), g]));
  const seen = new Map(observed.map((g) => [grantKey(g), g]));
  const added = [...seen].filter(([k]) => !base.has(k));
  const missing = [...base].filter(([k]) => !seen.has(k));
  const out: { kind: DriftKind; key: string; grant?: GrantSpec; approved?: GrantSpec }[] = [];
  const paired = new Set<string>();
  for (const [k, g] of added) {
    const was = missing.find(([mk, m]) => !paired.has(mk) && m.principal === g.principal && m.resource === g.resource);
    if (was) {
      paired.add(was[0]);
      out.push({ kind: 'changed', key: `${k}\u0000${was[0]}`, grant: g, approved: was[1] });
    } else {
      out.push({ kind: 'added', key: k, grant: g });
    }
  }
  for (const [k, g] of missing) if (!paired.has(k)) out.push({ kind: 'missing', key: k, approved: g });
  return out;
}

/** Differences in native state Accord cannot read as grants (libvirt's other rules files), by path. */
export function compareOpaque(baseline: Record<string, string>, observed: Record<string, string>): { kind: DriftKind; key: string; file: string; sha256?: string }[] {
  const out: { kind: DriftKind; key: string; file: string; sha256?: string }[] = [];
  for (const [file, sha256] of Object.entries(observed)) {
    if (!(file in baseline)) out.push({ kind: 'added', key: `file:${file}:${sha256}`, file, sha256 });
    else if (baseline[file] !== sha256) out.push({ kind: 'changed', key: `file:${file}:${sha256}`, file, sha256 });
  }
  for (const file of Object.keys(baseline)) if (!(file in observed)) out.push({ kind: 'missing', key: `file:${file}`, file });
  return out;
}

const FILE_WORDS: Record<DriftKind, string> = {
  added: 'a rules file appeared outside Accord', missing: 'an approved rules file is gone', changed: 'a rules file outside Accord\'s was edited',
};

export function summarise(f: { kind: DriftKind; grant?: GrantSpec; approved?: GrantSpec }): string {
  if (f.kind === 'added') return `granted outside Accord: ${describeGrant(f.grant!)}`;
  if (f.kind === 'missing') return `approved but missing: ${describeGrant(f.approved!)}`;
  return `changed outside Accord: ${describeGrant(f.approved!)} is now ${describeGrant(f.grant!)}`;
}

export class DriftChecker {
  readonly #repo: TargetRepository;
  readonly #targets: Targets;

  constructor(repo: TargetRepository, targets: Targets) {
    this.#repo = repo;
    this.#targets = targets;
  }

  /** Reads a target (I/O, outside any unit of work). */
  async observe(name: string): Promise<Observation> {
    const target = await this.#targets.get(name);
    const backend = this.#targets.backendOf(target);
    const connector = this.#targets.open(target);
    try {
      const files = await connector.read();
      return { target: name, backend: backend.id, files, model: importObserved(backend, files) };
    } finally {
      await connector.close();
    }
  }

  /** Inside a unit of work: compares an observation with the baseline and records findings. */
  async record(o: Observation, now = new Date().toISOString()): Promise<DriftReport> {
    const observed = o.model.grants.map(specOf);
    const opaque = opaqueOf(o.model);
    const warnings = o.model.warnings.slice(0, 50).map((w) => `${w.file ? `${w.file}: ` : ''}${w.message}`);
    const baseline = await this.#repo.baseline(o.target);
    if (!baseline) {
      await this.#repo.setBaseline(o.target, { grants: observed, opaque }, null, now);
      return { target: o.target, baseline: 'recorded', opened: [], gone: [], open: [], warnings };
    }
    const differences: { kind: DriftKind; key: string; detail: DriftFinding['detail'] }[] = [
      ...compareGrants(baseline.grants, observed).map((d) => ({
        kind: d.kind, key: d.key, detail: { ...(d.grant ? { grant: d.grant } : {}), ...(d.approved ? { approved: d.approved } : {}), summary: summarise(d) },
      })),
      ...compareOpaque(baseline.opaque, opaque).map((d) => ({
        kind: d.kind, key: d.key, detail: { file: d.file, ...(d.sha256 ? { sha256: d.sha256 } : {}), summary: `${FILE_WORDS[d.kind]}: ${d.file} (its rules are not Accord grants; polkitd evaluates them)` },
      })),
    ];
    const open = await this.#repo.openFindings(o.target);
    const opened: DriftFinding[] = [];
    for (const d of differences) {
      if (open.some((f) => f.kind === d.kind && f.grantKey === d.key)) continue;
      const f: DriftFinding = {
        id: findingId(o.target, d.kind, d.key, now), target: o.target, kind: d.kind, grantKey: d.key,
        detail: d.detail,
        detectedAt: now, state: 'open', resolvedBy: null, resolvedAt: null, changeId: null,
      };
      await this.#repo.addFinding(f);
      opened.push(f);
    }
    const gone: string[] = [];
    for (const f of open) {
      if (differences.some((d) => d.kind === f.kind && d.key === f.grantKey)) continue;
      await this.#repo.resolveFinding(f.id, 'gone', null, f.changeId, now);
      gone.push(f.id);
    }
    return { target: o.target, baseline: 'compared', opened, gone, open: await this.#repo.openFindings(o.target), warnings };
  }

  /** Adopting a finding makes what the target holds the approved state for that grant. */
  async adopt(f: DriftFinding, by: string): Promise<void> {
    const baseline = await this.#repo.baseline(f.target);
    let grants = baseline?.grants ?? [];
    const opaque = { ...baseline?.opaque };
    if (f.detail.file !== undefined) {
      if (f.detail.sha256 === undefined) delete opaque[f.detail.file];
      else opaque[f.detail.file] = f.detail.sha256;
    }
    if (f.detail.approved) grants = grants.filter((g) => grantKey(g) !== grantKey(f.detail.approved!));
    if (f.detail.grant && !grants.some((g) => grantKey(g) === grantKey(f.detail.grant!))) grants = [...grants, f.detail.grant];
    await this.#repo.setBaseline(f.target, { grants, opaque }, baseline?.changeId ?? null);
    await this.#repo.resolveFinding(f.id, 'adopted', by, null);
  }

  /** The change request that undoes a finding (it goes through review like any other). */
  static revertContent(f: DriftFinding, backend: ChangeContent['backend']): ChangeContent {
    if (f.detail.file !== undefined) throw new AppError('conflict', `${f.detail.file} holds rules Accord cannot express as grants: restore or remove it on the host, then read the target again (or adopt it)`);
    const item = f.kind === 'added' ? { id: 'revert', op: 'remove' as const, grant: f.detail.grant! }
      : f.kind === 'missing' ? { id: 'revert', op: 'add' as const, grant: f.detail.approved! }
        : { id: 'revert', op: 'replace' as const, from: f.detail.grant!, to: f.detail.approved! };
    return {
      title: `Revert drift on ${f.target}`.slice(0, 200),
      justification: `Drift finding ${f.id}, detected ${f.detectedAt}: ${f.detail.summary}. This change restores the approved state.`,
      backend, items: [item], target: f.target,
    };
  }
}
