/**
 * Connectors: how Accord reaches a hypervisor it manages (a "target"). One connector per backend, each
 * reading the target's native state (as files the backend's importer reads), planning the operations
 * that take the observed state to the approved one, applying them one step at a time, and optionally
 * asking the hypervisor's own authority whether the result is what was approved (docs/targets.md).
 *
 * The apply engine (server/connectors/apply-engine.ts) owns retries, per-step records, resume after a
 * crash and verification; a connector only does one step and says whether a failure is worth retrying.
 */
import type { AccessModel, Backend, BackendId, ChangeSet, GrantSpec, NativeFile } from '../domain/access/model.ts';

/** Why a connector call failed. `transient` failures are retried with back-off; the others stop the apply. */
export type ConnectorFailure = 'unreachable' | 'auth' | 'refused' | 'conflict' | 'invalid' | 'too_large';

export class ConnectorError extends Error {
  readonly kind: ConnectorFailure;
  readonly transient: boolean;
  constructor(kind: ConnectorFailure, message: string, transient = kind === 'unreachable') {
    super(message);
    this.name = 'ConnectorError';
    this.kind = kind;
    this.transient = transient;
  }
}

/** One operation on the target. A plan is a list of steps; each step is applied and recorded on its own. */
export interface PlanStep {
  /** Unique within a plan and stable for the same observed state and change (e.g. `add:<grant key>`). */
  id: string;
  /** The change items this step carries out (a whole-file write carries every item). */
  itemIds: string[];
  op: 'add' | 'remove' | 'write';
  /** What the step does, for people: shown in the change view and written to the audit log. */
  describe: string;
  /** The grant added or removed (absent for a whole-file write). */
  grant?: GrantSpec;
  /** Connector-specific payload (JSON only: steps are stored and resumed after a restart). */
  native?: unknown;
}

export interface Connector {
  /** The target's current native state, as files `backend.import` reads. Bounded: huge or hostile state is a ConnectorError. */
  read(): Promise<NativeFile[]>;
  /**
   * The steps from `observed` to `desired` (= backend.applyChange(observed, change)). An empty plan means
   * the target already holds the approved state (apply is idempotent).
   */
  plan(observed: AccessModel, desired: AccessModel, change: ChangeSet): PlanStep[];
  /** Carries out one step. Throws ConnectorError (transient or not). */
  apply(step: PlanStep, observed: AccessModel, desired: AccessModel): Promise<void>;
  /**
   * Optional: asks the hypervisor's own authority (polkitd for libvirt) whether the effective access of
   * `principals` equals `desired`'s. Returns the differences, for people; [] when equal.
   */
  checkNative?(desired: AccessModel, principals: readonly string[], change?: ChangeSet): Promise<string[]>;
  close(): Promise<void>;
}

/** A connection as stored: public fields (shown to admins) and secrets (encrypted at rest, never sent back). */
export interface ParsedConnection {
  connection: Record<string, unknown>;
  secrets: Record<string, string>;
}

export interface ConnectorFactory {
  backend: BackendId;
  /**
   * Validates the connection fields of `POST /api/targets` (everything but `name` and `backend`) and
   * splits off the secrets. Throws ConnectorError('invalid', reason for people) on bad input.
   */
  parseConnection(input: Record<string, unknown>): ParsedConnection;
  open(parsed: ParsedConnection, backend: Backend): Connector;
}

/** A canonical key for a grant: the same access written the same way has the same key. */
export function grantKey(g: GrantSpec): string {
  return JSON.stringify([g.principal, g.resource, g.role ?? null, [...(g.privileges ?? [])].sort(), g.propagate, g.effect, g.expiresAt ?? null]);
}

/**
 * The generic plan: remove every grant `observed` has and `desired` lacks, then add every grant `desired`
 * has and `observed` lacks, each step carrying the change items that name that grant.
 */
export function diffPlan(observed: AccessModel, desired: AccessModel, change: ChangeSet): PlanStep[] {
  const have = new Map(observed.grants.map((g) => [grantKey(g), g]));
  const want = new Map(desired.grants.map((g) => [grantKey(g), g]));
  const specsOf = (i: ChangeSet['items'][number]): GrantSpec[] => (i.op === 'replace' ? [i.from, i.to] : [i.grant]);
  // The item that names a grant: by its key, or (a backend that writes a grant its own way, e.g. privileges
  // as a custom role) by the same principal, resource and effect.
  const itemsOf = (key: string, g: GrantSpec): string[] => {
    const exact = change.items.filter((i) => specsOf(i).some((s) => grantKey(s) === key || (s.expiresAt === undefined && grantKey({ ...s, expiresAt: wantExpiry(want, s) }) === key)));
    const found = exact.length > 0 ? exact : change.items.filter((i) => specsOf(i).some((s) => s.principal === g.principal && s.resource === g.resource && s.effect === g.effect));
    return found.map((i) => i.id);
  };
  const spec = (g: GrantSpec): GrantSpec => {
    const { principal, resource, role, privileges, propagate, effect, expiresAt } = g;
    return { principal, resource, propagate, effect, ...(role !== undefined ? { role } : {}), ...(privileges !== undefined ? { privileges } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}) };
  };
  const steps: PlanStep[] = [];
  for (const [key, g] of have) {
    if (!want.has(key)) steps.push({ id: `remove:${key}`, itemIds: itemsOf(key, g), op: 'remove', grant: spec(g), describe: `remove ${describeGrant(g)}` });
  }
  for (const [key, g] of want) {
    if (!have.has(key)) steps.push({ id: `add:${key}`, itemIds: itemsOf(key, g), op: 'add', grant: spec(g), describe: `add ${describeGrant(g)}` });
  }
  return steps;
}

/** The expiry the desired state gave a grant the change named without one (time-bound items get it at apply). */
function wantExpiry(want: Map<string, GrantSpec>, s: GrantSpec): string | undefined {
  for (const g of want.values()) {
    if (g.expiresAt !== undefined && grantKey({ ...g, expiresAt: undefined }) === grantKey(s)) return g.expiresAt;
  }
  return undefined;
}

export function describeGrant(g: GrantSpec): string {
  const what = g.role !== undefined ? `role ${g.role}` : `privileges ${(g.privileges ?? []).join(', ')}`;
  return `${g.effect === 'deny' ? 'deny ' : ''}${what} for ${g.principal} on ${g.resource}${g.propagate ? ' (propagating)' : ''}${g.expiresAt ? ` until ${g.expiresAt}` : ''}`;
}
