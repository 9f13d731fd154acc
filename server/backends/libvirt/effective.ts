/**
 * Effective access by enumeration: every user × `org.libvirt.api.*` action × object of that action's
 * type, decided as polkitd decides (reference §1.5): uid 0 always; else the rules in file order, first
 * non-null result wins, any rule error denies; else the action's `allow_any` default, because a libvirt
 * client process has no logind session here (verified against polkitd). Only `yes` grants access:
 * libvirt's polkit driver never allows interaction, so `auth_*` results deny.
 */
import type { AccessModel, EffectiveQuery, EffectiveRow, Grant } from '../../domain/access/model.ts';
import { API_PREFIX, objectTypeOf, type Implicit, type ObjectType } from './actions.ts';
import { groupId, objectsOf, userId, type LibvirtObject } from './inventory.ts';
import { knownActions, nativeOf, type LibvirtNative } from './native.ts';
import { expiryMs, orderGrants, renderRulesFile } from './rules-file.ts';
import { PolkitSandbox } from './sandbox.ts';
import { nativeScope } from './scope.ts';

export interface EvaluationOptions {
  /** What rules see as "now" (expiry); defaults to the current time. */
  nowMs?: number;
  timeoutMs?: number;
}

export interface Decision {
  result: Implicit;
  /** Grant id, rules file path, policy file path, or `uid 0`. */
  because: string;
}

/** Decides single questions against a model's rules; memoised by (groups, action, details) and by user when a rule reads it. */
export class Decider {
  readonly #native: LibvirtNative;
  readonly #sandbox: PolkitSandbox;
  readonly #grants: { grant: Grant; actions: Set<string>; match: Record<string, string>; expires: number | null }[];
  readonly #accordFile: string;
  readonly #nowMs: number;
  readonly #memo = new Map<string, { shared?: Decision; byUser: Map<string, Decision> }>();

  constructor(model: AccessModel, options: EvaluationOptions = {}) {
    this.#native = nativeOf(model);
    this.#nowMs = options.nowMs ?? Date.now();
    const known = knownActions(this.#native);
    this.#accordFile = this.#native.accordFile;
    const accordText = renderRulesFile(model.grants, known);
    this.#sandbox = new PolkitSandbox([...this.#native.foreignRules, { path: this.#accordFile, text: accordText }], {
      nowMs: this.#nowMs, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
    this.#grants = orderGrants(model.grants).map((grant) => {
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

/** Rows for every allowed (user, object, native action); `query` narrows principals and resources. */
export function computeEffective(model: AccessModel, query: EffectiveQuery = {}, options: EvaluationOptions = {}): EffectiveRow[] {
  const native = nativeOf(model);
  const decider = new Decider(model, options);
  const wanted = query.principals ? new Set(query.principals) : undefined;
  const users = native.inventory.users.filter((u) =>
    !wanted || wanted.has(userId(u.name)) || u.groups.some((g) => wanted.has(groupId(g))));
  const resources = query.resources ? new Set(query.resources) : undefined;
  const byType = new Map<ObjectType, LibvirtObject[]>();
  for (const o of objectsOf(native.inventory)) {
    if (resources && !resources.has(o.resource)) continue;
    byType.set(o.type, [...(byType.get(o.type) ?? []), o]);
  }
  const actions = knownActions(native);
  const rows: EffectiveRow[] = [];
  for (const user of users) {
    for (const action of actions) {
      const type = objectTypeOf(action);
      for (const o of type ? byType.get(type) ?? [] : []) {
        const d = decider.decide(user, API_PREFIX + action, o.details);
        if (d.result === 'yes') rows.push({ principal: userId(user.name), resource: o.resource, privilege: action, because: [d.because] });
      }
    }
  }
  return rows;
}
