/**
 * Apply and verify (docs/targets.md). `begin` runs inside the `change:apply` command's unit of work and
 * stores an apply record in state `applying`; after the commit the engine reads the target, plans, carries
 * out the plan one step at a time (each step's outcome stored before the next starts, so a restart resumes
 * from the record: `resume`), retries transient failures with back-off, and never reports `applied` for a
 * partial result. Then it reads the target again: the observed effective access of every affected principal
 * must equal the approved "after" state (and, where the connector can ask, the hypervisor's own authority
 * must agree), or the change is `verification_failed` with the difference.
 *
 * Outcomes go into the audit log under the change's id (so evidence packs carry them) and move the change
 * to `applied` (verified) or `apply_failed` (anything else; Apply may be pressed again).
 */
import { createHash } from 'node:crypto';
import type { AuditLog } from '../audit/audit-log.ts';
import { AccessInputError, type AccessModel, type Backend, type ChangeItem, type ChangeSet, type GrantSpec, type NativeFile } from '../domain/access/model.ts';
import type { ChangeRequest, Revision } from '../domain/review/types.ts';
import type { Inventories } from '../commands/inventory.ts';
import type { PublishedFact } from '../commands/dispatcher.ts';
import { AppError } from '../protocol/errors.ts';
import type { ChangeStore } from '../store/repositories/change-repository.ts';
import type { ApplyRecord, ItemResult, LiveGrant, StoredTarget, TargetRepository } from '../store/repositories/target-repository.ts';
import type { Database } from '../store/sql.ts';
import type { Targets } from './targets.ts';
import type { Leases } from '../store/leases.ts';
import { ConnectorError, grantKey, type Connector, type PlanStep } from './types.ts';

export interface ApplyEngineOptions {
  db: Database;
  repo: TargetRepository;
  targets: Targets;
  store: ChangeStore;
  audit: AuditLog;
  inventories: Inventories;
  publish: (fact: PublishedFact) => Promise<void>;
  log: { warn(o: object, m: string): void; error(o: object, m: string): void };
  /** Waits between tries of a transient failure; its length is the number of retries. */
  retryDelaysMs?: readonly number[];
  /** Inside the unit of work of a final state, with its facts (the notification outbox). */
  beforeCommit?: (facts: readonly PublishedFact[]) => Promise<void>;
  /** Live grants recorded once every step is done (the expiry scheduler sets their timers). */
  onApplied?: (grants: readonly LiveGrant[]) => void;
  /** With several nodes: one node runs an apply (lease `apply:<change id>`), the others leave it. */
  leases?: Leases;
  /** Test hook: called after each step is recorded; a throw stops the run there (as a crash would). */
  afterStep?: (changeId: string, step: PlanStep) => void | Promise<void>;
}

/** A run stopped on purpose by the test hook: the record stays `applying`, as after a crash. */
export class RunInterrupted extends Error {}

const DEFAULT_RETRIES = [500, 2_000, 5_000];
/** How long an apply run's lease lasts without renewal (renewed every third of it). */
const APPLY_LEASE_MS = 10_000;
const MAX_PLANS = 3;

const nowIso = (): string => new Date().toISOString();
const filesHash = (files: readonly NativeFile[]): string => {
  const h = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) h.update(`${f.path}\u0000${f.text}\u0000`);
  return h.digest('hex');
};

/** A change set whose added grants end at `notAfter` (native expiry: the hypervisor itself stops honouring them). */
export function withExpiry(items: readonly ChangeItem[], notAfter: string): ChangeItem[] {
  const bound = (g: GrantSpec): GrantSpec => (g.expiresAt === undefined ? { ...g, expiresAt: notAfter } : g);
  return items.map((i) => (i.op === 'add' ? { ...i, grant: bound(i.grant) } : i.op === 'replace' ? { ...i, to: bound(i.to) } : i));
}

/** Observed access that differs from the approved state, for the principals a change affects, in words. */
export function accessDifference(backend: Backend, observed: AccessModel, desired: AccessModel, principals: readonly string[]): string[] {
  if (principals.length === 0) return [];
  const key = (r: { principal: string; resource: string; privilege: string }): string => `${r.principal} ${r.privilege} on ${r.resource}`;
  const seen = new Set(backend.effective(observed, { principals }).map(key));
  const want = new Set(backend.effective(desired, { principals }).map(key));
  const out: string[] = [];
  for (const k of want) if (!seen.has(k)) out.push(`missing: ${k}`);
  for (const k of seen) if (!want.has(k)) out.push(`not approved: ${k}`);
  return out.sort();
}

export function importObserved(backend: Backend, files: NativeFile[]): AccessModel {
  try {
    return backend.import(files);
  } catch (err) {
    if (err instanceof AccessInputError) throw new ConnectorError('invalid', `the target's state cannot be read as ${backend.displayName}: ${err.message}`);
    throw err;
  }
}

export class ApplyEngine {
  readonly #o: ApplyEngineOptions;
  readonly #running = new Map<string, Promise<void>>();
  #resumer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(o: ApplyEngineOptions) {
    this.#o = o;
  }

  get retryDelaysMs(): readonly number[] {
    return this.#o.retryDelaysMs ?? DEFAULT_RETRIES;
  }

  /**
   * Inside the command's unit of work: stores a fresh record for the current revision (refused while one is
   * under way) and starts the run once the command has committed.
   */
  async begin(change: ChangeRequest, target: StoredTarget, by: string): Promise<ApplyRecord> {
    const rev = change.revisions.at(-1);
    if (!rev) throw new AppError('conflict', 'the change has no revision to apply');
    const existing = await this.#o.repo.run(change.id);
    if (existing?.state === 'applying') throw new AppError('conflict', `an apply of revision ${existing.revision} to ${existing.target} is already under way`);
    const at = nowIso();
    const rec: ApplyRecord = {
      changeId: change.id, revision: rev.number, revisionHash: rev.hash, target: target.name, state: 'applying',
      steps: [], items: rev.content.items.map((i) => ({ itemId: i.id, state: 'pending' })), plans: 0, warnings: [], difference: [],
      startedBy: by, startedAt: at, updatedAt: at,
    };
    await this.#o.repo.saveRun(rec);
    this.#o.db.afterCommit(() => this.kick(change.id));
    return rec;
  }

  /** Runs (or joins) the apply of one change in the background. */
  kick(changeId: string): void {
    if (this.#closed || this.#running.has(changeId)) return;
    const leases = this.#o.leases;
    // A short lease, renewed while the run works: a node that dies mid-run leaves it to another within seconds.
    const work = leases ? leases.run(`apply:${changeId}`, APPLY_LEASE_MS, () => this.#run(changeId)).then(() => undefined) : this.#run(changeId);
    const run = work
      .catch((err: unknown) => {
        if (!(err instanceof RunInterrupted)) this.#o.log.error({ err, changeId }, 'apply run failed unexpectedly; it resumes on the next start');
      })
      .finally(() => this.#running.delete(changeId));
    this.#running.set(changeId, run);
  }

  /** After a restart: every apply left `applying` continues from its record. */
  async resume(): Promise<string[]> {
    const ids = (await this.#o.repo.unfinishedRuns()).filter((id) => !this.#running.has(id));
    for (const id of ids) this.kick(id);
    return ids;
  }

  /**
   * Looks for unfinished applies every `everyMs` (with several nodes, one whose node died is taken over once
   * its lease lapses).
   */
  startResuming(everyMs: number, onError: (err: unknown) => void): void {
    clearInterval(this.#resumer);
    this.#resumer = setInterval(() => void this.resume().catch(onError), everyMs);
    this.#resumer.unref();
  }

  /** Resolves when no run is in progress (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running.values()]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#resumer);
    await this.settled();
  }

  async #retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const delays = this.retryDelaysMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const transient = err instanceof ConnectorError && err.transient;
        if (!transient || attempt >= delays.length) throw err;
        this.#o.log.warn({ err, attempt: attempt + 1 }, `${what} failed; trying again`);
        await new Promise((r) => setTimeout(r, delays[attempt]));
      }
    }
  }

  async #save(rec: ApplyRecord, publish = true): Promise<void> {
    rec.updatedAt = nowIso();
    await this.#o.repo.saveRun(rec);
    if (publish) await this.#o.publish({ scope: 'change', changeId: rec.changeId, name: 'apply:changed', detail: { state: rec.state } });
  }

  async #run(changeId: string): Promise<void> {
    const o = this.#o;
    const rec = await o.repo.run(changeId);
    if (!rec || rec.state !== 'applying') return;
    const found = await o.store.get(changeId);
    const rev = found?.change.revisions[rec.revision - 1];
    if (!found || !rev || rev.hash !== rec.revisionHash) return this.#finish(rec, 'apply_failed', 'the change was amended after Apply was pressed: nothing applied', []);
    let connector: Connector | undefined;
    try {
      const target = await o.repo.get(rec.target);
      if (!target) return await this.#finish(rec, 'apply_failed', `target ${rec.target} is no longer connected`, []);
      const backend = o.targets.backendOf(target);
      connector = o.targets.open(target);
      const { change, observed, desired, notAfter } = await this.#plan(rec, rev, backend, connector);
      for (const s of rec.steps) {
        if (s.status === 'done') continue;
        try {
          await this.#retry(`step ${s.step.describe}`, async () => {
            s.attempts++;
            await connector!.apply(s.step, observed, desired);
          });
          s.status = 'done';
          s.at = nowIso();
          delete s.error;
        } catch (err) {
          s.status = 'failed';
          s.error = (err as Error).message;
        }
        this.#itemsFromSteps(rec);
        await this.#save(rec);
        if (s.status === 'failed') break;
        await o.afterStep?.(changeId, s.step);
      }
      const failed = rec.steps.find((s) => s.status === 'failed');
      if (failed) {
        const done = rec.steps.filter((s) => s.status === 'done').length;
        return await this.#finish(rec, done > 0 ? 'partially_applied' : 'apply_failed', `${failed.step.describe}: ${failed.error ?? 'failed'}`, []);
      }
      rec.state = 'applied';
      await this.#save(rec);
      const afterFiles = await this.#retry('read after applying', () => connector!.read());
      const after = importObserved(backend, afterFiles);
      // What Accord wrote is Accord's, verified or not: the baseline moves by exactly what this change did
      // (drift found before stays drift), and its grants are live (a time-bound one must still expire).
      const recorded: LiveGrant[] = [];
      await o.db.transaction(async () => {
        const prior = await o.repo.baseline(target.name);
        const before = new Set(observed.grants.map((g) => grantKey(specOf(g))));
        const wanted = new Set(desired.grants.map((g) => grantKey(specOf(g))));
        const removed = new Set([...before].filter((k) => !wanted.has(k)));
        const added = desired.grants.map(specOf).filter((g) => !before.has(grantKey(g)));
        const base = prior ? prior.grants.filter((g) => !removed.has(grantKey(g))) : after.grants.map(specOf);
        const have = new Set(base.map(grantKey));
        await o.repo.setBaseline(target.name, { grants: [...base, ...added.filter((g) => !have.has(grantKey(g)))], opaque: prior?.opaque ?? opaqueOf(after) }, changeId);
        for (const item of change.items) {
          if (item.op === 'remove') continue;
          // The grant as the target now holds it (a backend may normalise a field, e.g. XAPI roles always
          // reach the whole pool): that is what a revocation must find and remove.
          const grant = asHeld(item.op === 'add' ? item.grant : item.to, after.grants.map(specOf), before);
          const live: LiveGrant = {
            id: `lg-${createHash('sha256').update(`${changeId}\u0000${rec.revision}\u0000${item.id}`).digest('hex').slice(0, 16)}`,
            changeId, target: target.name, itemId: item.id, grant: specOf(grant), notAfter: notAfter ?? null, state: 'active',
            attempts: 0, nextAttemptAt: 0, lastError: null, revokedAt: null,
          };
          await o.repo.addLiveGrant(live);
          recorded.push(live);
        }
        // The next review computes its blast radius on what the target really holds.
        await o.inventories.putObserved(backend.id, afterFiles, `target:${target.name}`);
      });
      o.onApplied?.(recorded);
      // Verify: what the target now holds must be what was approved, and its own authority must agree.
      const principals = backend.affectedPrincipals(desired, change);
      const difference = accessDifference(backend, after, desired, principals);
      if (connector.checkNative) difference.push(...await connector.checkNative(desired, principals, change));
      if (difference.length > 0) return await this.#finish(rec, 'verification_failed', 'the target does not hold what was approved', difference);
      rec.verifiedAt = nowIso();
      await this.#finish(rec, 'verified', undefined, []);
    } catch (err) {
      if (err instanceof RunInterrupted) throw err;
      const message = err instanceof ConnectorError ? `${err.kind}: ${err.message}` : (err as Error).message;
      if (!(err instanceof ConnectorError) && !(err instanceof AppError)) o.log.error({ err, changeId }, 'apply failed');
      const done = rec.steps.some((s) => s.status === 'done');
      await this.#finish(rec, done ? 'partially_applied' : 'apply_failed', message, []);
    } finally {
      await connector?.close().catch((err: unknown) => o.log.warn({ err, changeId }, 'closing the connector failed'));
    }
  }

  /**
   * Reads and plans (again, on a resume: steps already done stay done, the rest is planned from what the
   * target now holds). A target that changes between the read and the check just before the first step is
   * planned again, up to three times: Accord never writes over a state it did not plan from.
   */
  async #plan(rec: ApplyRecord, rev: Revision, backend: Backend, connector: Connector): Promise<{ change: ChangeSet; observed: AccessModel; desired: AccessModel; notAfter: string | undefined }> {
    const notAfter = rec.items.find((i) => i.notAfter)?.notAfter
      ?? (rev.content.durationHours !== undefined ? new Date(Date.now() + rev.content.durationHours * 3_600_000).toISOString() : undefined);
    const native = backend.capabilities.expiry === 'native';
    const change: ChangeSet = { backend: backend.id, items: notAfter && native ? withExpiry(rev.content.items, notAfter) : rev.content.items };
    for (let attempt = 1; ; attempt++) {
      const files = await this.#retry('read', () => connector.read());
      const observed = importObserved(backend, files);
      const desired = backend.applyChange(observed, change);
      const steps = connector.plan(observed, desired, change);
      rec.plans++;
      // A step recorded as pending that the new plan no longer needs was carried out before a crash (or by
      // someone else): the target already holds it.
      for (const s of rec.steps) {
        if (s.status !== 'done' && !steps.some((n) => n.id === s.step.id)) {
          s.status = 'done';
          s.at = nowIso();
          s.error = 'found done when planned again';
        }
      }
      const done = rec.steps.filter((s) => s.status === 'done');
      rec.steps = [...done, ...steps.filter((s) => !done.some((d) => d.step.id === s.id)).map((step) => ({ step, status: 'pending' as const, attempts: 0 }))];
      if (notAfter) for (const i of rec.items) i.notAfter = notAfter;
      const shadow = (connector as { shadowWarnings?: (m: AccessModel) => string[] }).shadowWarnings?.(desired) ?? [];
      rec.warnings = [...new Set([...rec.warnings.filter((w) => !w.startsWith('re-planned')), ...shadow, ...observed.warnings.slice(0, 20).map((w) => `target: ${w.file ? `${w.file}: ` : ''}${w.message}`)])];
      if (attempt > 1) rec.warnings.push(`re-planned ${attempt - 1} time(s): the target changed between plan and apply`);
      this.#itemsFromSteps(rec);
      await this.#save(rec);
      if (steps.length === 0) return { change, observed, desired, notAfter };
      const again = await this.#retry('read before applying', () => connector.read());
      if (filesHash(again) === filesHash(files)) return { change, observed, desired, notAfter };
      if (attempt >= MAX_PLANS) throw new ConnectorError('conflict', `the target kept changing while Accord planned (${MAX_PLANS} plans): nothing more was applied`);
    }
  }

  /** Item states from the step records: an item no step carries was already in place. */
  #itemsFromSteps(rec: ApplyRecord): void {
    rec.items = rec.items.map((i): ItemResult => {
      const steps = rec.steps.filter((s) => s.step.itemIds.includes(i.itemId));
      const failed = steps.find((s) => s.status === 'failed');
      const state: ItemResult['state'] = steps.length === 0 ? 'unchanged' : failed ? 'failed' : steps.every((s) => s.status === 'done') ? 'applied' : 'pending';
      return { itemId: i.itemId, state, ...(failed?.error ? { error: failed.error } : {}), ...(i.notAfter ? { notAfter: i.notAfter } : {}) };
    });
  }

  /** A final state: the record, the change's status and the audit entry in one unit of work. */
  async #finish(rec: ApplyRecord, state: ApplyRecord['state'], error: string | undefined, difference: string[]): Promise<void> {
    const o = this.#o;
    rec.state = state;
    rec.difference = difference;
    if (error === undefined) delete rec.error;
    else rec.error = error;
    if (state !== 'verified') for (const i of rec.items) if (i.state === 'pending') { i.state = 'failed'; i.error ??= 'not applied: the apply stopped before it'; }
    let statusChanged = false;
    let status = '';
    await o.db.transaction(async () => {
      rec.updatedAt = nowIso();
      await o.repo.saveRun(rec);
      const found = await o.store.get(rec.changeId);
      if (!found) return;
      const { change, version } = found;
      const to = state === 'verified' ? 'applied' : 'apply_failed';
      const from = change.status;
      if (from === 'approved' || from === 'apply_failed') {
        change.status = to;
        statusChanged = from !== to;
        await o.store.save(change, version, change.revisions.at(-1)?.content.title);
      }
      status = change.status;
      if (statusChanged) await o.beforeCommit?.([{ scope: 'change', changeId: rec.changeId, name: 'status:changed', detail: { status }, statusChanged: true }]);
      await o.audit.append({
        actor: rec.startedBy, action: 'change.apply.result', subject: rec.changeId, outcome: 'ok',
        detail: {
          state, target: rec.target, revision: rec.revision, revisionHash: rec.revisionHash, from, to: change.status, status: change.status,
          steps: rec.steps.map((s) => ({ step: s.step.describe, status: s.status, attempts: s.attempts, ...(s.error ? { error: s.error } : {}) })),
          items: rec.items, difference, ...(error ? { error } : {}),
        },
      });
    });
    await o.publish({ scope: 'change', changeId: rec.changeId, name: 'apply:changed', detail: { state } });
    if (statusChanged) await o.publish({ scope: 'change', changeId: rec.changeId, name: 'status:changed', detail: { status }, statusChanged: true });
  }
}

/** Native state that is not grants, by path and SHA-256 (libvirt: the polkit rules files Accord does not own). */
export function opaqueOf(model: AccessModel): Record<string, string> {
  const foreign = (model.native as { foreignRules?: { path: string; text: string }[] } | undefined)?.foreignRules ?? [];
  return Object.fromEntries(foreign.map((f) => [f.path, createHash('sha256').update(f.text).digest('hex')]));
}

/** The same access, ignoring how a backend writes propagation and expiry. */
export const looseKey = (g: GrantSpec): string => JSON.stringify([g.principal, g.resource, g.role ?? null, [...(g.privileges ?? [])].sort(), g.effect]);

/** The grant in `held` that carries `spec`: the same key, else the same access added by this change, else `spec`. */
export function asHeld(spec: GrantSpec, held: readonly GrantSpec[], before: ReadonlySet<string>): GrantSpec {
  const exact = held.find((g) => grantKey(g) === grantKey(spec));
  if (exact) return exact;
  return held.find((g) => !before.has(grantKey(g)) && looseKey(g) === looseKey(spec)) ?? held.find((g) => looseKey(g) === looseKey(spec)) ?? spec;
}

export function specOf(g: GrantSpec): GrantSpec {
  const { principal, resource, role, privileges, propagate, effect, expiresAt } = g;
  return { principal, resource, propagate, effect, ...(role !== undefined ? { role } : {}), ...(privileges !== undefined ? { privileges } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}) };
}

export { grantKey };
