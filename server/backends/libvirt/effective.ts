/**
 * Effective access by enumeration: every user × `org.libvirt.api.*` action × object of that action's
 * type, decided as polkitd decides (reference §1.5): uid 0 always; else the rules in file order, first
 * non-null result wins, any rule error denies; else the action's `allow_any` default, because a libvirt
 * client process has no logind session here (verified against polkitd). Only `yes` grants access:
 * libvirt's polkit driver never allows interaction, so `auth_*` results deny.
 */
import type { AccessModel, EffectiveQuery, EffectiveRow, Grant } from '../../domain/access/model.ts';
import { AccessInputError } from '../../domain/access/model.ts';
import { API_PREFIX, objectTypeOf, type Implicit } from './actions.ts';
import { evaluateHosts, NotDeterministic, RuleSet, type FleetUser } from './fleet.ts';
import { groupId, hostsOf, isFleet, objectsOf, userId } from './inventory.ts';
import { foreignRulesOn, knownActions, nativeOf, type LibvirtNative } from './native.ts';
import { mayKeepState } from './purity.ts';
import { referenceEffective } from './reference.ts';
import { expiryMs, grantsOnHost, orderGrants, renderRulesFile } from './rules-file.ts';
import { es5SyntaxError, PolkitSandbox, polkitOrder } from './sandbox.ts';
import { nativeScope } from './scope.ts';

export interface EvaluationOptions {
  /** What rules see as "now" (expiry); defaults to the current time. */
  nowMs?: number;
  timeoutMs?: number;
}

export interface DeciderOptions extends EvaluationOptions {
  /** On a fleet inventory, the host whose rules decide (required there, refused on a single host). */
  host?: string;
}

export interface Decision {
  result: Implicit;
  /** Grant id, rules file path, policy file path, or `uid 0`. */
  because: string;
}

/** The model's grants in `host`'s Accord file (all of them on a single host). */
function hostGrants(native: LibvirtNative, grants: readonly Grant[], host: string | undefined): readonly Grant[] {
  if (isFleet(native.inventory) && host === undefined) throw new AccessInputError('this libvirt model is a fleet: name the host to decide on');
  if (!isFleet(native.inventory) && host !== undefined) throw new AccessInputError(`this libvirt model has one host; no host ${host}`);
  if (host !== undefined && !native.inventory.hosts?.some((h) => h.name === host)) throw new AccessInputError(`no host ${host} in the inventory`);
  return host === undefined ? grants : grantsOnHost(grants, host);
}

/**
 * Decides single questions against a model's rules (one host's, on a fleet) by running the whole chain
 * of rules in the sandbox; memoised by (groups, action, details) and by user when a rule reads it. This
 * is the reference the fleet evaluator (fleet.ts) is tested against.
 */
export class Decider {
  readonly #native: LibvirtNative;
  readonly #sandbox: PolkitSandbox;
  readonly #grants: { grant: Grant; actions: Set<string>; match: Record<string, string>; expires: number | null }[];
  readonly #accordFile: string;
  readonly #nowMs: number;
  readonly #memo = new Map<string, { shared?: Decision; byUser: Map<string, Decision> }>();

  constructor(model: AccessModel, options: DeciderOptions = {}) {
    this.#native = nativeOf(model);
    this.#nowMs = options.nowMs ?? Date.now();
    const known = knownActions(this.#native);
    this.#accordFile = this.#native.accordFile;
    const grants = hostGrants(this.#native, model.grants, options.host);
    const accordText = renderRulesFile(grants, known);
    this.#sandbox = new PolkitSandbox([...foreignRulesOn(this.#native, options.host), { path: this.#accordFile, text: accordText }], {
      nowMs: this.#nowMs, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
    this.#grants = orderGrants(grants).map((grant) => {
      const s = nativeScope(grant, known);
      return { grant, actions: new Set(s.actions.map((a) => API_PREFIX + a)), match: s.match, expires: expiryMs(grant.expiresAt) };
    });
  }
  get warnings(): readonly string[] {
    return this.#sandbox.warnings;
  }

  decide(user: { name: string; uid: number; groups: readonly string[] }, action: string, details: Readonly<Record<string, string>>): Decision {
    if (user.uid === 0) return { result: 'yes', because: 'uid 0' };
    const key = `${[...user.groups].sort().join(',')}\u0000${action}\u0000${JSON.stringify(details)}`;
    const entry = this.#memo.get(key) ?? { byUser: new Map<string, Decision>() };
    this.#memo.set(key, entry);
    const hit = entry.shared ?? entry.byUser.get(user.name);
    if (hit) return hit;
    const v = this.#sandbox.evaluate(action, details, user.name, user.groups);
    let d: Decision;
    if (v.error !== undefined) d = { result: 'no', because: v.file ?? 'rules error' };
    else if (v.result !== null) d = { result: v.result, because: v.file === this.#accordFile ? this.#grantFor(user, action, details) : (v.file ?? '?') };
    else {
      const defaults = this.#native.actions[action];
      d = { result: defaults?.any ?? 'no', because: defaults?.source ?? 'no policy for action' };
    }
    if (v.readUser) entry.byUser.set(user.name, d);
    else entry.shared = d;
    return d;
  }

  /** The grant in Accord's file that decided: same first-match logic as the rendered evaluator. */
  #grantFor(user: { name: string; groups: readonly string[] }, action: string, details: Readonly<Record<string, string>>): string {
    for (const g of this.#grants) {
      if (g.expires !== null && this.#nowMs >= g.expires) continue;
      const p = g.grant.principal;
      if (p !== userId(user.name) && !user.groups.some((x) => groupId(x) === p)) continue;
      if (!g.actions.has(action)) continue;
      if (Object.entries(g.match).every(([k, val]) => details[k] === val)) return g.grant.id;
    }
    return this.#accordFile;
  }
}

/** Why the fleet evaluator cannot be exact for these files (one may keep state between questions), or undefined. */
function statefulFile(files: readonly { path: string; text: string }[]): string | undefined {
  for (const f of files) {
    if (es5SyntaxError(f.text)) continue; // polkitd does not load it
    const why = mayKeepState(f.text);
    if (why) return `${f.path} may keep state between questions: ${why}`;
  }
  return undefined;
}

/**
 * Rule sets (sandbox and learned decision trees) kept between calls, most recent last: a blast radius asks
 * twice with the same foreign rules, and a review asks again and again. Bounded.
 */
const RULE_SETS = new Map<string, RuleSet>();
const RULE_SETS_KEPT = 16;

/** Forget the kept rule sets (benchmarks measure the cold cost with it). */
export function clearRuleSetCache(): void {
  RULE_SETS.clear();
}

function cachedRuleSet(signature: string, make: () => RuleSet): RuleSet {
  let rs = RULE_SETS.get(signature);
  if (rs) RULE_SETS.delete(signature);
  else rs = make();
  RULE_SETS.set(signature, rs);
  while (RULE_SETS.size > RULE_SETS_KEPT) RULE_SETS.delete(RULE_SETS.keys().next().value!);
  return rs;
}

/** What the last `computeEffective` did, for benchmarks and diagnostics. */
export const lastEvaluation: { mode: 'fleet' | 'reference'; why?: string; ruleEvaluations: number; ruleSets: number } = { mode: 'fleet', ruleEvaluations: 0, ruleSets: 0 };

/**
 * Rows for every allowed (user, object, native action); `query` narrows principals and resources. Uses the
 * fleet evaluator (fleet.ts); falls back to asking every question through the whole chain (reference.ts)
 * when the rules may keep state, change built-ins, or turn out not to be functions of what they read.
 */
export function computeEffective(model: AccessModel, query: EffectiveQuery = {}, options: EvaluationOptions = {}): EffectiveRow[] {
  const native = nativeOf(model);
  const nowMs = options.nowMs ?? Date.now();
  const fixed = { ...options, nowMs };
  const known = knownActions(native);
  const wanted = query.principals ? new Set(query.principals) : undefined;
  const users: FleetUser[] = native.inventory.users.filter((u) =>
    !wanted || wanted.has(userId(u.name)) || u.groups.some((g) => wanted.has(groupId(g))));
  const resources = query.resources ? new Set(query.resources) : undefined;
  const accordPlaceholder = renderRulesFile([], known);
  const sets = new Map<string, RuleSet>();
  const objects = objectsOf(native.inventory);
  const hosts = hostsOf(native.inventory).map((h) => {
    const foreign = foreignRulesOn(native, h.name);
    // What a rule set learns depends on its files, Accord's path and, for rules that can read the clock, the time.
    const files = JSON.stringify(polkitOrder(foreign).map((f) => [f.path, f.text]));
    const clock = foreign.some((f) => /\bDate\b/.test(f.text)) ? nowMs : 'no clock';
    const signature = JSON.stringify([files, native.accordFile, clock, options.timeoutMs ?? null]);
    let ruleSet = sets.get(signature);
    if (!ruleSet) {
      ruleSet = cachedRuleSet(signature, () => new RuleSet(foreign, native.accordFile, accordPlaceholder, nowMs, options.timeoutMs, statefulFile(foreign)));
      sets.set(signature, ruleSet);
    }
    let reference: Decider | undefined;
    return {
      chain: {
        foreign, accordFile: native.accordFile, grants: hostGrants(native, model.grants, h.name),
        objects: objects.filter((o) => o.host === h.name && (!resources || resources.has(o.resource))),
      },
      ruleSet,
      reference: () => (reference ??= new Decider(model, { ...fixed, ...(h.name !== undefined ? { host: h.name } : {}) })),
    };
  });
  const unsupported = [...sets.values()].map((s) => s.unsupported ?? s.broken).find((why) => why !== undefined);
  if (unsupported) {
    Object.assign(lastEvaluation, { mode: 'reference', why: unsupported, ruleEvaluations: 0, ruleSets: sets.size });
    return referenceEffective(model, query, fixed);
  }
  const rows: EffectiveRow[] = [];
  const before = [...sets.values()].reduce((n, s) => n + s.evaluations, 0);
  try {
    const ids = new Map<FleetUser, string>();
    evaluateHosts(hosts, users, known, objectTypeOf, native.actions, known, nowMs, (user, object, action, because) => {
      let principal = ids.get(user);
      if (principal === undefined) ids.set(user, (principal = userId(user.name)));
      rows.push({ principal, resource: object.resource, privilege: action, because: [because] });
    });
  } catch (e) {
    if (!(e instanceof NotDeterministic)) throw e;
    Object.assign(lastEvaluation, { mode: 'reference', why: e.message, ruleEvaluations: 0, ruleSets: sets.size });
    return referenceEffective(model, query, fixed);
  }
  const evaluations = [...sets.values()].reduce((n, s) => n + s.evaluations, 0) - before;
  Object.assign(lastEvaluation, { mode: 'fleet', ruleEvaluations: evaluations, ruleSets: sets.size });
  delete lastEvaluation.why;
  return rows;
}
