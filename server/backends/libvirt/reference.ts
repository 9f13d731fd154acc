/**
 * The reference evaluation: every (user, action, object) question through the whole chain of rules in the
 * sandbox (`Decider`), host by host. Slow at fleet scale; the fleet evaluator (fleet.ts) must give the same
 * rows (test/backends/libvirt/fleet-equivalence.test.ts), and falls back to this when it cannot be exact.
 */
import type { AccessModel, EffectiveQuery, EffectiveRow } from '../../domain/access/model.ts';
import { API_PREFIX, objectTypeOf, type ObjectType } from './actions.ts';
import { Decider, type EvaluationOptions } from './effective.ts';
import { groupId, hostsOf, objectsOf, userId, type LibvirtObject } from './inventory.ts';
import { knownActions, nativeOf } from './native.ts';

export function referenceEffective(model: AccessModel, query: EffectiveQuery = {}, options: EvaluationOptions = {}): EffectiveRow[] {
  const native = nativeOf(model);
  const nowMs = options.nowMs ?? Date.now();
  const wanted = query.principals ? new Set(query.principals) : undefined;
  const users = native.inventory.users.filter((u) =>
    !wanted || wanted.has(userId(u.name)) || u.groups.some((g) => wanted.has(groupId(g))));
  const resources = query.resources ? new Set(query.resources) : undefined;
  const actions = knownActions(native);
  const all = objectsOf(native.inventory);
  const rows: EffectiveRow[] = [];
  for (const host of hostsOf(native.inventory)) {
    const decider = new Decider(model, { ...options, nowMs, ...(host.name !== undefined ? { host: host.name } : {}) });
    const byType = new Map<ObjectType, LibvirtObject[]>();
    for (const o of all) {
      if (o.host !== host.name || (resources && !resources.has(o.resource))) continue;
      byType.set(o.type, [...(byType.get(o.type) ?? []), o]);
    }
    for (const user of users) {
      for (const action of actions) {
        const type = objectTypeOf(action);
        for (const o of type ? byType.get(type) ?? [] : []) {
          const d = decider.decide(user, API_PREFIX + action, o.details);
          if (d.result === 'yes') rows.push({ principal: userId(user.name), resource: o.resource, privilege: action, because: [d.because] });
        }
      }
    }
  }
  return rows;
}
