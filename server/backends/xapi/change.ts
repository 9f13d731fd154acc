/**
 * Change semantics for XAPI: validate, apply (pure), and who is affected.
 * A grant is representable natively only as an allow of a known role (or of common privileges, mapped to the
 * lowest covering role) on the pool. Per-object grants and denies are `unrepresentable`: they are rendered as
 * comments only, and applyChange leaves the model unchanged for them (the hypervisor would not hold them).
 */
import { AccessInputError, COMMON_PRIVILEGES } from '../../domain/access/model.ts';
import type { AccessModel, ChangeItem, ChangeSet, GrantSpec } from '../../domain/access/model.ts';
import { roleOfGrant } from './effective.ts';
import { POOL_ID, ROOT_ID, grantId, membersOf, subjectOf, xapiNative } from './native.ts';
import type { XapiNative } from './native.ts';
import { isXapiRole, roleForPrivileges } from './roles.ts';
import type { RoleChoice, XapiRole } from './roles.ts';

export type Classified =
  | { representable: true; role: string; choice?: RoleChoice }
  | { representable: false; reason: string; nearest?: XapiRole };

export function classify(spec: GrantSpec): Classified {
  const choice = spec.privileges ? roleForPrivileges(spec.privileges) : undefined;
  const role = spec.role ?? choice?.role;
  const nearest = roleOfGrant(spec);
  const withNearest = nearest ? { nearest } : {};
  if (role === undefined) return { representable: false, reason: 'no XAPI role grants these privileges', ...withNearest };
  if (spec.effect !== 'allow') return { representable: false, reason: 'XAPI RBAC has no deny', ...withNearest };
  if (spec.resource !== POOL_ID) {
    return { representable: false, reason: `XAPI roles are pool-wide; a grant on ${spec.resource} cannot be scoped`, ...withNearest };
  }
  return { representable: true, role, ...(choice ? { choice } : {}) };
}

function specsOf(item: ChangeItem): GrantSpec[] {
  return item.op === 'replace' ? [item.from, item.to] : [item.grant];
}

function checkSpec(model: AccessModel, spec: GrantSpec, itemId: string, removing: boolean): void {
  const where = `change item ${itemId}`;
  if (spec.principal === ROOT_ID) throw new AccessInputError(`${where}: local root is always pool-admin; XAPI has no subject for it`);
  if (!model.principals.some((p) => p.id === spec.principal)) throw new AccessInputError(`${where}: unknown subject ${spec.principal}`);
  if (!model.resources.some((r) => r.id === spec.resource)) throw new AccessInputError(`${where}: unknown resource ${spec.resource}`);
  if ((spec.role === undefined) === (spec.privileges === undefined)) {
    throw new AccessInputError(`${where}: give exactly one of role or privileges`);
  }
  if (spec.role !== undefined && !isXapiRole(spec.role)) {
    const heldVerbatim = removing && model.grants.some((g) => g.principal === spec.principal && g.role === spec.role);
    if (!heldVerbatim) throw new AccessInputError(`${where}: unknown role ${spec.role} (XAPI roles: pool-admin, pool-operator, vm-power-admin, vm-admin, vm-operator, read-only)`);
  }
  if (spec.privileges !== undefined) {
    if (spec.privileges.length === 0) throw new AccessInputError(`${where}: empty privilege list`);
    const bad = spec.privileges.filter((x) => !(COMMON_PRIVILEGES as readonly string[]).includes(x));
    if (bad.length > 0) throw new AccessInputError(`${where}: unknown common privileges ${bad.join(', ')}`);
  }
}

function addGrant(model: AccessModel, principal: string, role: string, itemId: string): void {
  if (model.grants.some((g) => g.principal === principal && g.role === role && g.resource === POOL_ID)) return;
  const native = model.native as unknown as XapiNative;
  let subject = subjectOf(model, principal);
  if (!subject) {
    subject = { principal, uuid: `pending:${principal}`, identifier: '', otherConfig: { 'subject-name': principal } };
    const kind = model.principals.find((p) => p.id === principal)?.kind;
    subject.otherConfig['subject-is-group'] = String(kind === 'group');
    native.subjects.push(subject);
  }
  model.grants.push({
    id: grantId(subject.uuid, role), principal, role, resource: POOL_ID, propagate: true, effect: 'allow',
    provenance: { apiId: `change:${itemId}` },
  });
}

function removeGrant(model: AccessModel, principal: string, role: string, itemId: string): void {
  const at = model.grants.findIndex((g) => g.principal === principal && g.role === role && g.resource === POOL_ID);
  if (at < 0) throw new AccessInputError(`change item ${itemId}: ${principal} does not hold ${role} (nothing to remove)`);
  model.grants.splice(at, 1);
}

function applyItem(model: AccessModel, item: ChangeItem): void {
  if (item.op === 'add') {
    const c = classify(item.grant);
    if (c.representable) addGrant(model, item.grant.principal, c.role, item.id);
    return;
  }
  if (item.op === 'remove') {
    const c = classify(item.grant);
    if (!c.representable) throw new AccessInputError(`change item ${item.id}: no such grant to remove (${c.reason})`);
    removeGrant(model, item.grant.principal, c.role, item.id);
    return;
  }
  const from = classify(item.from);
  if (!from.representable) throw new AccessInputError(`change item ${item.id}: no such grant to replace (${from.reason})`);
  const to = classify(item.to);
  if (!to.representable) return; // the whole replacement is unrepresentable: nothing is applied
  removeGrant(model, item.from.principal, from.role, item.id);
  addGrant(model, item.to.principal, to.role, item.id);
}

export function applyXapiChange(model: AccessModel, change: ChangeSet): AccessModel {
  const next = structuredClone(model);
  next.native = { ...xapiNative(next) };
  for (const item of change.items) applyItem(next, item);
  return next;
}

export function validateXapiChange(model: AccessModel, change: ChangeSet): void {
  if (change.backend !== 'xapi') throw new AccessInputError(`change is for backend ${change.backend}, not xapi`);
  const ids = new Set<string>();
  for (const item of change.items) {
    if (ids.has(item.id)) throw new AccessInputError(`duplicate change item id ${item.id}`);
    ids.add(item.id);
    specsOf(item).forEach((spec, i) => checkSpec(model, spec, item.id, item.op === 'remove' || (item.op === 'replace' && i === 0)));
  }
  applyXapiChange(model, change); // sequential dry run: removals must find their grant
}

export function affectedXapiPrincipals(model: AccessModel, change: ChangeSet): string[] {
  const out = new Set<string>();
  for (const item of change.items) {
    for (const spec of specsOf(item)) {
      out.add(spec.principal);
      for (const m of membersOf(model, spec.principal)) out.add(m);
    }
  }
  return [...out];
}
