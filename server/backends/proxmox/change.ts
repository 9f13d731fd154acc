/**
 * Change sets against a Proxmox model: validation, the pure "after" model, and who can be affected.
 * A Proxmox ACL entry is identified by (path, ugid, role); adding it again only rewrites its propagate
 * flag (`PUT /access/acl` stores `acl->{path}->{users}->{ugid}->{role} = propagate`).
 */
import { createHash } from 'node:crypto';
import { AccessInputError } from '../../domain/access/model.ts';
import type { AccessModel, ChangeItem, ChangeSet, Fidelity, Grant, GrantSpec, RoleDefinition } from '../../domain/access/model.ts';
import { aclKey, pveNative } from './native.ts';
import { aclNodePath, checkPath, classifyUgid, normalizePath } from './paths.ts';
import type { UgidKind } from './paths.ts';
import { BUILTIN_ROLES, NO_ACCESS, ROOT_USER } from './privileges.ts';
import { PRIVILEGE_MAP, nativeFor, worstFidelity } from './privilege-map.ts';
import { resourcesAfter } from './resources.ts';
import { derivedModel } from './acl-index.ts';

/** A grant spec resolved to what Proxmox stores. `role` is undefined when nothing native can express it. */
export interface ResolvedGrant {
  path: string;
  principal: string;
  kind: UgidKind;
  role: string | undefined;
  propagate: boolean;
  /** A role Accord must create first (`pveum role add`), when no built-in role matches. */
  newRole: RoleDefinition | undefined;
  fidelity: Fidelity;
  notes: string[];
}

/** Deterministic custom role name: the same privilege set always gets the same role. */
export function customRoleName(privs: readonly string[]): string {
  return `ACR_${createHash('sha256').update([...privs].sort().join(',')).digest('hex').slice(0, 8)}`;
}

/**
 * A built-in role whose privileges are exactly these, as this model defines it: a `role:` line naming a
 * built-in role extends it on that host (parse.ts `onRole`), and reusing it would then grant more.
 */
function builtinMatching(model: AccessModel, privs: readonly string[]): string | undefined {
  const want = [...privs].sort().join(',');
  for (const [name, set] of BUILTIN_ROLES) {
    if (name === NO_ACCESS) continue;
    const has = model.roles.find((r) => r.name === name)?.privileges ?? [...set];
    if ([...has].sort().join(',') === want) return name;
  }
  return undefined;
}

function fail(itemId: string, message: string): never {
  throw new AccessInputError(`change item ${itemId}: ${message}`);
}

function resolvePrincipal(model: AccessModel, itemId: string, raw: string): { id: string; kind: UgidKind } {
  const c = classifyUgid(raw);
  if (!c) fail(itemId, `'${raw}' is not a Proxmox user (name@realm), token (name@realm!id) or group`);
  const known = c.id === ROOT_USER || model.principals.some((p) => p.id === c.id && p.kind === c.kind);
  if (!known) fail(itemId, `unknown ${c.kind} '${c.id}': no ${c.kind}: line defines it`);
  return c;
}

/**
 * What a NoAccess entry grants on this host: nothing, unless a `role:NoAccess:...` line gave the built-in
 * role privileges (parse.ts `onRole`); `roles()` keeps NoAccess alone and Proxmox then grants exactly those.
 */
function noAccessGrants(model: AccessModel): string[] {
  const privs = model.roles.find((r) => r.name === NO_ACCESS)?.privileges ?? [];
  return privs.length > 0 ? [`this user.cfg gives NoAccess privileges (a role:NoAccess line): the entry also grants ${privs.join(', ')}`] : [];
}

function resolveRole(model: AccessModel, itemId: string, spec: GrantSpec): Pick<ResolvedGrant, 'role' | 'newRole' | 'fidelity' | 'notes'> {
  if (spec.role !== undefined && spec.privileges !== undefined) fail(itemId, 'give either role or privileges, not both');
  if (spec.role !== undefined) {
    if (!model.roles.some((r) => r.name === spec.role)) fail(itemId, `unknown role '${spec.role}'`);
    if ((spec.role === NO_ACCESS) !== (spec.effect === 'deny')) fail(itemId, 'in Proxmox a deny is exactly the NoAccess role: use effect "deny" with role NoAccess');
    const notes = spec.role === NO_ACCESS ? noAccessGrants(model) : [];
    return { role: spec.role, newRole: undefined, fidelity: notes.length > 0 ? 'widened' : 'exact', notes };
  }
  const privs = spec.privileges ?? [];
  if (privs.length === 0) fail(itemId, 'a grant needs a role or at least one privilege');
  if (spec.effect === 'deny') {
    return { role: NO_ACCESS, newRole: undefined, fidelity: 'widened', notes: ['Proxmox can only deny everything (NoAccess), not single privileges', ...noAccessGrants(model)] };
  }
  const fidelity = worstFidelity(privs.map((p) => PRIVILEGE_MAP[p].fidelity));
  const notes = privs.flatMap((p) => (PRIVILEGE_MAP[p].note ? [`${p}: ${PRIVILEGE_MAP[p].note}`] : []));
  const native = nativeFor(privs);
  if (native.length === 0) return { role: undefined, newRole: undefined, fidelity: 'unrepresentable', notes };
  const builtin = builtinMatching(model, native);
  if (builtin) return { role: builtin, newRole: undefined, fidelity, notes };
  const name = customRoleName(native);
  const exists = model.roles.some((r) => r.name === name);
  return { role: name, newRole: exists ? undefined : { name, privileges: native, builtin: false }, fidelity, notes };
}

/** Resolve and check one grant spec against the model. Throws AccessInputError naming the item. */
export function resolveGrant(model: AccessModel, itemId: string, spec: GrantSpec): ResolvedGrant {
  const path = normalizePath(spec.resource);
  if (!path || !checkPath(path)) fail(itemId, `'${spec.resource}' is not a Proxmox ACL path (e.g. /, /vms/100, /storage/local, /pool/dev, /nodes/pve1)`);
  // `find_acl_tree_node` skips a component `0`: Proxmox would store (and apply) the entry one level up.
  if (aclNodePath(path) !== path) fail(itemId, `'${path}' has a path component '0', which Proxmox skips: the entry would be stored on '${aclNodePath(path)}'`);
  const { id, kind } = resolvePrincipal(model, itemId, spec.principal);
  const role = resolveRole(model, itemId, spec);
  const notes = [...role.notes];
  let fidelity = role.fidelity;
  if (spec.expiresAt) {
    notes.push(`ACL entries have no expiry in Proxmox: Accord must remove this grant at ${spec.expiresAt}`);
    fidelity = worstFidelity([fidelity, 'widened']);
  }
  return { path, principal: id, kind, role: role.role, propagate: spec.propagate, newRole: role.newRole, fidelity, notes };
}

/** The grant specs an item touches, in the order Proxmox would apply them. */
export function itemSpecs(item: ChangeItem): Array<{ op: 'add' | 'remove'; spec: GrantSpec }> {
  if (item.op === 'replace') return [{ op: 'remove', spec: item.from }, { op: 'add', spec: item.to }];
  return [{ op: item.op, spec: item.grant }];
}

export function validateChange(model: AccessModel, change: ChangeSet): void {
  if (change.backend !== 'proxmox') throw new AccessInputError(`change is for backend '${change.backend}', not proxmox`);
  const ids = new Set<string>();
  for (const item of change.items) {
    if (ids.has(item.id)) throw new AccessInputError(`change item id '${item.id}' is used twice`);
    ids.add(item.id);
    for (const { spec } of itemSpecs(item)) resolveGrant(model, item.id, spec);
  }
}

/** Grant id → position, per grants array; null when an id is used twice. Models are immutable. */
const positions = new WeakMap<readonly Grant[], Map<string, number> | null>();

function positionsOf(grants: readonly Grant[]): Map<string, number> | null {
  let m = positions.get(grants);
  if (m === undefined) {
    m = new Map();
    for (let i = 0; i < grants.length; i++) m.set(grants[i]!.id, i);
    if (m.size !== grants.length) m = null;
    positions.set(grants, m);
  }
  return m;
}

/**
 * The model's grants keyed by id, changed as a Map would be (`set` keeps an id's place, a new id or one
 * deleted and set again goes to the end), without copying every grant into a Map first.
 */
export class GrantsById {
  readonly #grants: readonly Grant[];
  readonly #at: Map<string, number> | null;
  readonly #all: Map<string, Grant> | undefined;
  /** Ids whose grant changed: the grant now, or null once deleted. */
  readonly #changed = new Map<string, Grant | null>();
  /** Ids (re)inserted after the model's grants, in order. */
  readonly #appended: string[] = [];

  constructor(grants: readonly Grant[]) {
    this.#grants = grants;
    this.#at = positionsOf(grants);
    // An id used twice: a Map of them all is the definition.
    this.#all = this.#at ? undefined : new Map(grants.map((g) => [g.id, g]));
  }

  get(id: string): Grant | undefined {
    if (this.#all) return this.#all.get(id);
    const c = this.#changed.get(id);
    if (c !== undefined) return c ?? undefined;
    const i = this.#at!.get(id);
    return i === undefined ? undefined : this.#grants[i];
  }

  delete(id: string): void {
    if (this.#all) {
      this.#all.delete(id);
      return;
    }
    if (this.get(id) === undefined) return;
    this.#changed.set(id, null);
    const k = this.#appended.indexOf(id);
    if (k >= 0) this.#appended.splice(k, 1);
  }

  set(id: string, g: Grant): void {
    if (this.#all) {
      this.#all.set(id, g);
      return;
    }
    if (this.get(id) === undefined) this.#appended.push(id);
    this.#changed.set(id, g);
  }

  values(): Grant[] {
    if (this.#all) return [...this.#all.values()];
    const again = new Set(this.#appended);
    const out: Grant[] = [];
    for (const g of this.#grants) {
      const c = this.#changed.get(g.id);
      if (c === undefined) out.push(g);
      else if (c !== null && !again.has(g.id)) out.push(c);
    }
    for (const id of this.#appended) out.push(this.#changed.get(id)!);
    return out;
  }
}

/** The model after the change, with Proxmox's overwrite of (path, ugid, role). Pure: the input is not touched. */
export function applyChange(model: AccessModel, change: ChangeSet): AccessModel {
  validateChange(model, change);
  const roles = [...model.roles];
  const grants = new GrantsById(model.grants);
  const created: Grant[] = [];
  const touched = new Set<string>(); // principals whose grants change
  for (const item of change.items) {
    for (const { op, spec } of itemSpecs(item)) {
      const r = resolveGrant({ ...model, roles }, item.id, spec);
      if (r.role === undefined) continue; // unrepresentable: nothing native changes
      if (r.newRole && op === 'add') roles.push(r.newRole);
      const id = aclKey(r.path, r.principal, r.role);
      const had = grants.get(id);
      if (had) touched.add(had.principal);
      if (op === 'remove') { grants.delete(id); continue; }
      const grant: Grant = { id, principal: r.principal, role: r.role, resource: r.path, propagate: r.propagate, effect: r.role === NO_ACCESS ? 'deny' : 'allow', provenance: { apiId: `change:${item.id}` } };
      grants.set(id, grant);
      created.push(grant);
      touched.add(grant.principal);
    }
  }
  const after = grants.values();
  // buildResources(after, pools, the model's resource ids), from the model's resources and the grants the change adds.
  const added = created.filter((g) => grants.get(g.id) === g);
  const resources = resourcesAfter(model.resources, model.grants, after, added, pveNative(model).pools);
  const out = { ...model, roles, grants: after, resources };
  derivedModel(out, model, touched);
  return out;
}

/** Named users and tokens, members of named groups, and the tokens of every such user. */
export function affectedPrincipals(model: AccessModel, change: ChangeSet): string[] {
  const users = new Set<string>();
  const tokens = new Set<string>();
  for (const item of change.items) {
    for (const { spec } of itemSpecs(item)) {
      const c = classifyUgid(spec.principal);
      if (!c) continue;
      if (c.kind === 'token') tokens.add(c.id);
      else if (c.kind === 'user') users.add(c.id);
      else for (const p of model.principals) if (p.kind === 'user' && p.memberOf?.includes(c.id)) users.add(p.id);
    }
  }
  for (const p of model.principals) if (p.kind === 'token' && p.owner && users.has(p.owner)) tokens.add(p.id);
  return [...users, ...tokens].sort();
}
