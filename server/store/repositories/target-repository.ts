/**
 * Targets (hypervisors Accord applies to), their last approved state, apply records, live grants and
 * drift findings (docs/targets.md). Same SQL on SQLite and PostgreSQL; JSON columns are text.
 */
import type { GrantSpec } from '../../domain/access/model.ts';
import type { PlanStep } from '../../connectors/types.ts';
import type { Database } from '../sql.ts';
import { int, json, text } from './change-repository.ts';

/**
 * A target's last approved state: Accord's grants, and native state Accord cannot read as grants (libvirt's
 * other polkit rules files), by path and SHA-256, so a new or edited file there is drift too.
 */
export interface Baseline {
  grants: GrantSpec[];
  opaque: Record<string, string>;
}

export interface StoredTarget {
  name: string;
  backend: string;
  /** Public connection fields (no secrets). */
  connection: Record<string, unknown>;
  /** `TargetSecrets.seal` output: never decoded outside the connector's opening. */
  sealedSecrets: string;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

export const APPLY_STATES = ['applying', 'applied', 'partially_applied', 'apply_failed', 'verification_failed', 'verified'] as const;
export type ApplyState = (typeof APPLY_STATES)[number];
/** States after which nothing more happens until someone presses Apply again. */
export const FINAL_APPLY_STATES: readonly ApplyState[] = ['partially_applied', 'apply_failed', 'verification_failed', 'verified'];

export interface StepRecord {
  step: PlanStep;
  status: 'pending' | 'done' | 'failed';
  attempts: number;
  error?: string;
  at?: string;
}

export interface ItemResult {
  itemId: string;
  /** `unchanged`: the target already held what the item asks (nothing to do). */
  state: 'pending' | 'applied' | 'unchanged' | 'failed';
  error?: string;
  /** For a time-bound item: when its access ends. */
  notAfter?: string;
}

export interface ApplyRecord {
  changeId: string;
  revision: number;
  revisionHash: string;
  target: string;
  state: ApplyState;
  steps: StepRecord[];
  items: ItemResult[];
  /** Plans made (a target that changed between plan and apply is planned again). */
  plans: number;
  warnings: string[];
  /** Verification's differences between observed and approved access (for people). */
  difference: string[];
  error?: string;
  startedBy: string;
  startedAt: string;
  updatedAt: string;
  verifiedAt?: string;
}

export interface LiveGrant {
  id: string;
  changeId: string;
  target: string;
  itemId: string;
  grant: GrantSpec;
  notAfter: string | null;
  /** `released`: expired while another approved grant still covers the same access (nothing revoked). */
  state: 'active' | 'revoked' | 'released' | 'expired_unrevoked';
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  revokedAt: string | null;
}

export const DRIFT_KINDS = ['added', 'missing', 'changed'] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

export interface DriftFinding {
  id: string;
  target: string;
  kind: DriftKind;
  grantKey: string;
  /** `grant` observed (added, changed) and `approved` (missing, changed): what the finding is about. */
  detail: { grant?: GrantSpec; approved?: GrantSpec; file?: string; sha256?: string; summary: string };
  detectedAt: string;
  /** `gone`: the difference disappeared by itself before anyone decided. */
  state: 'open' | 'adopted' | 'reverted' | 'gone';
  resolvedBy: string | null;
  resolvedAt: string | null;
  changeId: string | null;
}

const nullable = (v: unknown, c: string): string | null => (v === null || v === undefined ? null : text(v, c));

export class TargetRepository {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  // ---- targets ----

  async put(t: Omit<StoredTarget, 'createdAt' | 'updatedAt'>, now = new Date().toISOString()): Promise<void> {
    await this.#db.run(
      `INSERT INTO targets (name, backend, connection, secrets, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET backend = excluded.backend, connection = excluded.connection, secrets = excluded.secrets, updated_at = excluded.updated_at`,
      [t.name, t.backend, JSON.stringify(t.connection), t.sealedSecrets, t.createdBy, now, now]);
  }

  async get(name: string): Promise<StoredTarget | undefined> {
    const r = await this.#db.get<Record<string, unknown>>('SELECT * FROM targets WHERE name = ?', [name]);
    return r ? decodeTarget(r) : undefined;
  }

  async list(): Promise<StoredTarget[]> {
    return (await this.#db.all<Record<string, unknown>>('SELECT * FROM targets ORDER BY name')).map(decodeTarget);
  }

  async remove(name: string): Promise<number> {
    return this.#db.run('DELETE FROM targets WHERE name = ?', [name]);
  }

  // ---- the last approved state of a target (drift compares against it) ----

  async baseline(target: string): Promise<(Baseline & { changeId: string | null; recordedAt: string }) | undefined> {
    const r = await this.#db.get<Record<string, unknown>>('SELECT * FROM target_baselines WHERE target = ?', [target]);
    if (!r) return undefined;
    const b = json<Baseline>(r.files, 'target_baselines.files');
    return { grants: b.grants, opaque: b.opaque ?? {}, changeId: nullable(r.change_id, 'target_baselines.change_id'), recordedAt: text(r.recorded_at, 'target_baselines.recorded_at') };
  }

  async setBaseline(target: string, b: Baseline, changeId: string | null, now = new Date().toISOString()): Promise<void> {
    await this.#db.run(
      `INSERT INTO target_baselines (target, files, change_id, recorded_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (target) DO UPDATE SET files = excluded.files, change_id = excluded.change_id, recorded_at = excluded.recorded_at`,
      [target, JSON.stringify({ grants: b.grants, opaque: b.opaque }), changeId, now]);
  }

  // ---- apply records ----

  async run(changeId: string): Promise<ApplyRecord | undefined> {
    const r = await this.#db.get<Record<string, unknown>>('SELECT record FROM apply_runs WHERE change_id = ?', [changeId]);
    return r ? json<ApplyRecord>(r.record, 'apply_runs.record') : undefined;
  }

  async saveRun(rec: ApplyRecord): Promise<void> {
    await this.#db.run(
      `INSERT INTO apply_runs (change_id, revision, target, state, record, started_by, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (change_id) DO UPDATE SET revision = excluded.revision, target = excluded.target, state = excluded.state,
         record = excluded.record, started_by = excluded.started_by, started_at = excluded.started_at, updated_at = excluded.updated_at`,
      [rec.changeId, rec.revision, rec.target, rec.state, JSON.stringify(rec), rec.startedBy, rec.startedAt, rec.updatedAt]);
  }

  /** Change ids whose apply was under way (a restart resumes them). */
  async unfinishedRuns(): Promise<string[]> {
    const rows = await this.#db.all<{ change_id: unknown }>(`SELECT change_id FROM apply_runs WHERE state = 'applying' ORDER BY started_at`);
    return rows.map((r) => text(r.change_id, 'apply_runs.change_id'));
  }

  // ---- live grants ----

  async addLiveGrant(g: LiveGrant): Promise<void> {
    await this.#db.run(
      `INSERT INTO live_grants (id, change_id, target, item_id, grant_spec, not_after, state, attempts, next_attempt_at, last_error, revoked_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      [g.id, g.changeId, g.target, g.itemId, JSON.stringify(g.grant), g.notAfter, g.state, g.attempts, g.nextAttemptAt, g.lastError, g.revokedAt]);
  }

  async updateLiveGrant(g: Pick<LiveGrant, 'id' | 'state' | 'attempts' | 'nextAttemptAt' | 'lastError' | 'revokedAt'>): Promise<void> {
    await this.#db.run('UPDATE live_grants SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, revoked_at = ? WHERE id = ?',
      [g.state, g.attempts, g.nextAttemptAt, g.lastError, g.revokedAt, g.id]);
  }

  async liveGrant(id: string): Promise<LiveGrant | undefined> {
    const r = await this.#db.get<Record<string, unknown>>('SELECT * FROM live_grants WHERE id = ?', [id]);
    return r ? decodeLive(r) : undefined;
  }

  async liveGrantsOf(changeId: string): Promise<LiveGrant[]> {
    return (await this.#db.all<Record<string, unknown>>('SELECT * FROM live_grants WHERE change_id = ? ORDER BY item_id, id', [changeId])).map(decodeLive);
  }

  /** Active grants on a target (reference counting before a revocation). */
  async activeOn(target: string): Promise<LiveGrant[]> {
    return (await this.#db.all<Record<string, unknown>>(`SELECT * FROM live_grants WHERE target = ? AND state = 'active'`, [target])).map(decodeLive);
  }

  /** Active time-bound grants whose time is up and whose next attempt is due. */
  async dueGrants(nowIso: string, nowMs: number, limit = 50): Promise<LiveGrant[]> {
    const rows = await this.#db.all<Record<string, unknown>>(
      `SELECT * FROM live_grants WHERE state = 'active' AND not_after IS NOT NULL AND not_after <= ? AND next_attempt_at <= ? ORDER BY not_after LIMIT ${Math.max(1, Math.floor(limit))}`,
      [nowIso, nowMs]);
    return rows.map(decodeLive);
  }

  /** Active time-bound grants not yet due, soonest first (the scheduler sets a timer for each). */
  async upcomingGrants(limit = 500): Promise<LiveGrant[]> {
    const rows = await this.#db.all<Record<string, unknown>>(
      `SELECT * FROM live_grants WHERE state = 'active' AND not_after IS NOT NULL ORDER BY not_after LIMIT ${Math.max(1, Math.floor(limit))}`);
    return rows.map(decodeLive);
  }

  // ---- drift ----

  async openFindings(target?: string): Promise<DriftFinding[]> {
    const rows = target === undefined
      ? await this.#db.all<Record<string, unknown>>(`SELECT * FROM drift_findings WHERE state = 'open' ORDER BY detected_at, id`)
      : await this.#db.all<Record<string, unknown>>(`SELECT * FROM drift_findings WHERE state = 'open' AND target = ? ORDER BY detected_at, id`, [target]);
    return rows.map(decodeFinding);
  }

  async findings(limit = 500): Promise<DriftFinding[]> {
    const rows = await this.#db.all<Record<string, unknown>>(`SELECT * FROM drift_findings ORDER BY detected_at DESC, id LIMIT ${Math.max(1, Math.floor(limit))}`);
    return rows.map(decodeFinding);
  }

  async finding(id: string): Promise<DriftFinding | undefined> {
    const r = await this.#db.get<Record<string, unknown>>('SELECT * FROM drift_findings WHERE id = ?', [id]);
    return r ? decodeFinding(r) : undefined;
  }

  async addFinding(f: DriftFinding): Promise<void> {
    await this.#db.run(
      `INSERT INTO drift_findings (id, target, kind, grant_key, detail, detected_at, state, resolved_by, resolved_at, change_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [f.id, f.target, f.kind, f.grantKey, JSON.stringify(f.detail), f.detectedAt, f.state, f.resolvedBy, f.resolvedAt, f.changeId]);
  }

  async resolveFinding(id: string, state: DriftFinding['state'], by: string | null, changeId: string | null, now = new Date().toISOString()): Promise<number> {
    return this.#db.run(`UPDATE drift_findings SET state = ?, resolved_by = ?, resolved_at = ?, change_id = ? WHERE id = ? AND state = 'open'`,
      [state, by, now, changeId, id]);
  }
}

function decodeTarget(r: Record<string, unknown>): StoredTarget {
  return {
    name: text(r.name, 'targets.name'), backend: text(r.backend, 'targets.backend'),
    connection: json<Record<string, unknown>>(r.connection, 'targets.connection'), sealedSecrets: text(r.secrets, 'targets.secrets'),
    createdBy: text(r.created_by, 'targets.created_by'), createdAt: text(r.created_at, 'targets.created_at'), updatedAt: text(r.updated_at, 'targets.updated_at'),
  };
}

function decodeLive(r: Record<string, unknown>): LiveGrant {
  return {
    id: text(r.id, 'live_grants.id'), changeId: text(r.change_id, 'live_grants.change_id'), target: text(r.target, 'live_grants.target'),
    itemId: text(r.item_id, 'live_grants.item_id'), grant: json<GrantSpec>(r.grant_spec, 'live_grants.grant_spec'),
    notAfter: nullable(r.not_after, 'live_grants.not_after'), state: text(r.state, 'live_grants.state') as LiveGrant['state'],
    attempts: int(r.attempts, 'live_grants.attempts'), nextAttemptAt: int(r.next_attempt_at, 'live_grants.next_attempt_at'),
    lastError: nullable(r.last_error, 'live_grants.last_error'), revokedAt: nullable(r.revoked_at, 'live_grants.revoked_at'),
  };
}

function decodeFinding(r: Record<string, unknown>): DriftFinding {
  return {
    id: text(r.id, 'drift_findings.id'), target: text(r.target, 'drift_findings.target'), kind: text(r.kind, 'drift_findings.kind') as DriftKind,
    grantKey: text(r.grant_key, 'drift_findings.grant_key'), detail: json<DriftFinding['detail']>(r.detail, 'drift_findings.detail'),
    detectedAt: text(r.detected_at, 'drift_findings.detected_at'), state: text(r.state, 'drift_findings.state') as DriftFinding['state'],
    resolvedBy: nullable(r.resolved_by, 'drift_findings.resolved_by'), resolvedAt: nullable(r.resolved_at, 'drift_findings.resolved_at'),
    changeId: nullable(r.change_id, 'drift_findings.change_id'),
  };
}
