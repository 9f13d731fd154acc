/** Change sets against a libvirt model: validation, pure application, affected principals. */
import { createHash } from 'node:crypto';
import type { AccessModel, ChangeSet, Grant, GrantSpec } from '../../domain/access/model.ts';
import { AccessInputError } from '../../domain/access/model.ts';
import { knownActions, nativeOf } from './native.ts';
import { expiryMs } from './rules-file.ts';
import { expandRole, resourceTarget } from './scope.ts';

const specsOf = (change: ChangeSet): { itemId: string; spec: GrantSpec; mustExist: boolean }[] =>
  change.items.flatMap((i) =>
    i.op === 'replace'
      ? [{ itemId: i.id, spec: i.from, mustExist: true }, { itemId: i.id, spec: i.to, mustExist: false }]
      : [{ itemId: i.id, spec: i.grant, mustExist: i.op === 'remove' }]);

const sameSet = (a: readonly string[] | undefined, b: readonly string[] | undefined): boolean =>
  (a === undefined) === (b === undefined) && JSON.stringify([...(a ?? [])].sort()) === JSON.stringify([...(b ?? [])].sort());

/** Whether an existing grant is the one a spec names (ids and provenance aside). */
export function sameGrant(g: GrantSpec, s: GrantSpec): boolean {
  return g.principal === s.principal && g.resource === s.resource && g.propagate === s.propagate && g.effect === s.effect
    && g.role === s.role && sameSet(g.privileges, s.privileges) && g.expiresAt === s.expiresAt;
}

/** Stable id for a grant: a hash of its canonical fields. */
export function grantId(s: GrantSpec): string {
  const canonical = JSON.stringify([s.principal, s.resource, s.propagate, s.effect, s.role ?? null,
    [...(s.privileges ?? [])].sort(), s.expiresAt ?? null]);
  return `g-${createHash('sha256').update(canonical).digest('hex').slice(0, 12)}`;
}

export function validateChange(model: AccessModel, change: ChangeSet): void {
  if (change.backend !== 'libvirt') throw new AccessInputError(`change is for ${change.backend}, not libvirt`);
  const known = knownActions(nativeOf(model));
  const principals = new Set(model.principals.map((p) => p.id));
  const resources = new Set(model.resources.map((r) => r.id));
  const ids = new Set<string>();
  for (const item of change.items) {
    if (ids.has(item.id)) throw new AccessInputError(`duplicate change item id ${item.id}`);
    ids.add(item.id);
  }
  for (const { itemId, spec, mustExist } of specsOf(change)) {
    const where = `item ${itemId}`;
    if (!principals.has(spec.principal)) throw new AccessInputError(`${where}: unknown principal ${spec.principal} (use unix-user:NAME or unix-group:NAME)`);
    if (!resources.has(spec.resource)) throw new AccessInputError(`${where}: unknown resource ${spec.resource}`);
    resourceTarget(spec.resource);
    if ((spec.role === undefined) === (spec.privileges === undefined)) {
      throw new AccessInputError(`${where}: give either privileges or a native role (comma-separated libvirt actions)`);
    }
    if (spec.role !== undefined) expandRole(spec.role, known);
    if (spec.privileges?.length === 0) throw new AccessInputError(`${where}: empty privileges`);
    expiryMs(spec.expiresAt);
    if (mustExist && !model.grants.some((g) => sameGrant(g, spec))) throw new AccessInputError(`${where}: no such grant to remove`);
  }
}

/** The model after the change. Adding a grant that exists is a no-op; replace keeps the position. */
export function applyChange(model: AccessModel, change: ChangeSet): AccessModel {
  let grants: Grant[] = [...model.grants];
  const make = (spec: GrantSpec, itemId: string): Grant => ({ ...spec, id: grantId(spec), provenance: { apiId: itemId } });
  for (const item of change.items) {
    if (item.op === 'add') {
      if (!grants.some((g) => sameGrant(g, item.grant))) grants.push(make(item.grant, item.id));
    } else if (item.op === 'remove') {
      grants = grants.filter((g) => !sameGrant(g, item.grant));
    } else {
      const at = grants.findIndex((g) => sameGrant(g, item.from));
      grants = grants.filter((g) => !sameGrant(g, item.from));
      if (!grants.some((g) => sameGrant(g, item.to))) grants.splice(at < 0 ? grants.length : at, 0, make(item.to, item.id));
    }
  }
  return { ...model, grants };
}

/** Principals named by the change, plus every member user of a named group. */
export function affectedPrincipals(model: AccessModel, change: ChangeSet): string[] {
  const named = new Set(specsOf(change).map((s) => s.spec.principal));
  const out = new Set(named);
  for (const p of model.principals) {
    if (p.kind === 'user' && (p.memberOf ?? []).some((g) => named.has(g))) out.add(p.id);
  }
  return [...out].sort();
}
