/**
 * Time-bound grants (docs/targets.md): a grant applied from a change with a duration has `not_after`. A timer
 * per grant revokes it when it expires, and a sweeper catches anything a timer missed (a restart, a failed
 * try). A revocation removes only what no other active approved grant still covers (reference counting),
 * reads the target again to verify the grant is gone, retries with back-off, and after the last try marks
 * the grant `expired_unrevoked` with an audit entry and an error in the log: never silently.
 */
import type { AuditLog } from '../audit/audit-log.ts';
import type { ChangeSet } from '../domain/access/model.ts';
import type { PublishedFact } from '../commands/dispatcher.ts';
import type { LiveGrant, TargetRepository } from '../store/repositories/target-repository.ts';
import type { Database } from '../store/sql.ts';
import type { Inventories } from '../commands/inventory.ts';
import type { Leases } from '../store/leases.ts';
import { importObserved, looseKey, specOf } from './apply-engine.ts';
import type { Targets } from './targets.ts';
import { ConnectorError, describeGrant, grantKey } from './types.ts';

export interface ExpiryOptions {
  db: Database;
  repo: TargetRepository;
  targets: Targets;
  audit: AuditLog;
  inventories: Inventories;
  publish: (fact: PublishedFact) => Promise<void>;
  log: { warn(o: object, m: string): void; error(o: object, m: string): void };
  /** How often the sweeper looks for due grants, ms. */
  sweepMs?: number;
  /** With several nodes: only the lease holder sweeps (server/store/leases.ts). */
  leases?: Leases;
  /** Back-off between revocation tries, ms; after the last one the grant is `expired_unrevoked`. */
  retryDelaysMs?: readonly number[];
}

const DEFAULT_RETRIES = [5_000, 30_000, 120_000, 600_000];
/** A timer further out than this is not set: the sweeper finds the grant when its time comes. */
const MAX_TIMER_MS = 6 * 3_600_000;

const withoutExpiry = (g: LiveGrant['grant']): string => grantKey({ ...g, expiresAt: undefined });

export class ExpiryScheduler {
  readonly #o: ExpiryOptions;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #sweeper: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;
  #stopped = false;

  constructor(o: ExpiryOptions) {
    this.#o = o;
  }

  get retryDelaysMs(): readonly number[] {
    return this.#o.retryDelaysMs ?? DEFAULT_RETRIES;
  }

  /** Sets timers for the grants already known and starts the sweeper. */
  async start(): Promise<void> {
    this.#stopped = false;
    for (const g of await this.#o.repo.upcomingGrants()) this.schedule(g);
    this.#sweeper = setInterval(() => void this.sweep(), this.#o.sweepMs ?? 30_000);
    this.#sweeper.unref();
  }

  /** A timer for one grant (called when an apply records it). */
  schedule(g: Pick<LiveGrant, 'id' | 'notAfter'>): void {
    if (this.#stopped || g.notAfter === null) return;
    const wait = Date.parse(g.notAfter) - Date.now();
    if (wait > MAX_TIMER_MS) return;
    clearTimeout(this.#timers.get(g.id));
    const t = setTimeout(() => {
      this.#timers.delete(g.id);
      void this.sweep();
    }, Math.max(0, wait) + 5);
    t.unref();
    this.#timers.set(g.id, t);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#sweeper);
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    await this.#sweeping;
  }

  /** Revokes every due grant (one sweep at a time). */
  sweep(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#sweeping ??= this.#sweepOnce().catch((err: unknown) => this.#o.log.error({ err }, 'expiry sweep failed')).finally(() => { this.#sweeping = undefined; });
    return this.#sweeping;
  }

  async #sweepOnce(): Promise<void> {
    if (this.#o.leases) {
      await this.#o.leases.run('expiry-sweep', 60_000, () => this.#sweepDue());
      return;
    }
    await this.#sweepDue();
  }

  async #sweepDue(): Promise<void> {
    const now = Date.now();
    for (const g of await this.#o.repo.dueGrants(new Date(now).toISOString(), now)) {
      if (this.#stopped) return;
      await this.#revoke(g);
    }
  }

  async #revoke(g: LiveGrant): Promise<void> {
    const o = this.#o;
    const now = Date.now();
    // Reference counting: another active approved grant that is not (yet) due covers the same access.
    const cover = (await o.repo.activeOn(g.target)).find((x) => x.id !== g.id && withoutExpiry(x.grant) === withoutExpiry(g.grant)
      && (x.notAfter === null || Date.parse(x.notAfter) > now));
    if (cover) {
      await this.#record(g, { state: 'released', lastError: null, revokedAt: new Date(now).toISOString() }, 'grant.release',
        { reason: `still covered by ${cover.changeId} item ${cover.itemId}`, coveredBy: cover.id });
      return;
    }
    try {
      const target = await o.repo.get(g.target);
      if (!target) throw new ConnectorError('invalid', `target ${g.target} is no longer connected`, false);
      const backend = o.targets.backendOf(target);
      const connector = o.targets.open(target);
      try {
        const observed = importObserved(backend, await connector.read());
        const key = grantKey(g.grant);
        const exact = observed.grants.filter((x) => grantKey(specOf(x)) === key);
        const present = exact.length > 0 ? exact : observed.grants.filter((x) => looseKey(specOf(x)) === looseKey(g.grant));
        if (present.length > 0) {
          const change: ChangeSet = { backend: backend.id, items: [{ id: `expire-${g.itemId}`, op: 'remove', grant: specOf(present[0]!) }] };
          const desired = backend.applyChange(observed, change);
          for (const step of connector.plan(observed, desired, change)) await connector.apply(step, observed, desired);
          const after = importObserved(backend, await connector.read());
          if (after.grants.some((x) => grantKey(specOf(x)) === grantKey(specOf(present[0]!)))) throw new ConnectorError('conflict', 'the grant is still there after the revocation', true);
          const difference = connector.checkNative ? await connector.checkNative(desired, backend.affectedPrincipals(observed, change), change) : [];
          if (difference.length > 0) throw new ConnectorError('conflict', `the hypervisor still answers differently: ${difference.slice(0, 3).join('; ')}`, true);
          await o.db.transaction(async () => {
            const baseline = await o.repo.baseline(g.target);
            if (baseline) await o.repo.setBaseline(g.target, { grants: baseline.grants.filter((x) => grantKey(x) !== key && grantKey(x) !== grantKey(specOf(present[0]!))), opaque: baseline.opaque }, baseline.changeId);
            await o.inventories.putObserved(backend.id, await connector.read(), `target:${g.target}`);
          });
        }
        await this.#record(g, { state: 'revoked', lastError: null, revokedAt: new Date().toISOString() }, 'grant.revoke',
          { grant: describeGrant(g.grant), notAfter: g.notAfter, ...(present.length === 0 ? { note: 'already absent from the target' } : {}) });
      } finally {
        await connector.close();
      }
    } catch (err) {
      const message = err instanceof ConnectorError ? `${err.kind}: ${err.message}` : (err as Error).message;
      const attempts = g.attempts + 1;
      const delays = this.retryDelaysMs;
      if (attempts > delays.length) {
        o.log.error({ err, grant: g.id, changeId: g.changeId }, `expired grant could not be revoked: ${describeGrant(g.grant)} on ${g.target}`);
        await this.#record(g, { state: 'expired_unrevoked', attempts, lastError: message, revokedAt: null }, 'grant.expired_unrevoked',
          { grant: describeGrant(g.grant), notAfter: g.notAfter, error: message });
      } else {
        o.log.warn({ err, grant: g.id, attempt: attempts }, 'revoking an expired grant failed; trying again');
        const nextAttemptAt = Date.now() + (delays[attempts - 1] ?? 0);
        await o.repo.updateLiveGrant({ id: g.id, state: 'active', attempts, nextAttemptAt, lastError: message, revokedAt: null });
        this.schedule({ id: g.id, notAfter: new Date(nextAttemptAt).toISOString() });
      }
    }
  }

  async #record(g: LiveGrant, to: Partial<Pick<LiveGrant, 'state' | 'attempts' | 'lastError' | 'revokedAt'>>, action: string, detail: Record<string, unknown>): Promise<void> {
    const o = this.#o;
    await o.db.transaction(async () => {
      await o.repo.updateLiveGrant({
        id: g.id, state: to.state ?? g.state, attempts: to.attempts ?? g.attempts + 1, nextAttemptAt: g.nextAttemptAt,
        lastError: to.lastError ?? null, revokedAt: to.revokedAt ?? null,
      });
      // Under the grant's own subject, not the change's: a change's evidence stays the record of its decision.
      await o.audit.append({ actor: 'accord', action, subject: `grant:${g.id}`, outcome: 'ok', detail: { changeId: g.changeId, target: g.target, item: g.itemId, ...detail } });
    });
    await o.publish({ scope: 'change', changeId: g.changeId, name: 'apply:changed', detail: { grant: g.id, state: to.state ?? g.state } });
  }
}
