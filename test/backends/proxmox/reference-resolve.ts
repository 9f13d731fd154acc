/**
 * TEST-ONLY REFERENCE: the pair-by-pair resolver as it was before the per-subject tree walk
 * (server/backends/proxmox/resolve.ts), kept verbatim but for imports so that properties.test.ts and
 * equivalence.test.ts can check the fast engine against it. Slow (it scans every pool per path): do not use.
 *
 * Effective access, exactly as Proxmox VE computes it. Sources (pve-access-control):
 * - `AccessControl.pm::roles`: walk the path from `/` down; at each level the subject's own ACL entries
 *   (a token's, or a user's) replace what was inherited, else the union of its groups' entries does;
 *   an entry counts above the target only if it propagates; `NoAccess` anywhere in the result wins alone.
 * - `RPCEnvironment.pm::compile_acl_path`: roles on `/pool/<p>` are added (never propagated) to the VMs
 *   and storages of the pool, unless the regular ACL already set the role; a regular `NoAccess` beats
 *   pool roles, a pool `NoAccess` beats regular ones.
 * - `RPCEnvironment.pm::permissions`: `root@pam` has every privilege; a token without privilege
 *   separation has exactly its user's privileges, a privilege-separated one the intersection of its own
 *   and its user's.
 * Accord's decision (Proxmox checks these at login and per API-token request, `check_user_enabled` and
 * `verify_token`): a disabled user, an expired user, an expired token and the tokens of a disabled or
 * expired user have no access at all. A user that no `user:` line defines has none either: it cannot
 * authenticate. Groups are not subjects: asking about a group yields no rows.
 */
import type { AccessModel, EffectiveQuery, EffectiveRow, Grant, Principal } from '../../../server/domain/access/model.ts';
import { pveNative } from '../../../server/backends/proxmox/native.ts';
import type { PvePool } from '../../../server/backends/proxmox/native.ts';
import { NO_ACCESS, ROOT_USER, VALID_PRIVILEGES } from '../../../server/backends/proxmox/privileges.ts';
import { classifyUgid, pathLevels } from '../../../server/backends/proxmox/paths.ts';

/** Pools that hold a path: the VM's one pool, or every pool listing the storage (a scan of every pool). */
export function poolsOf(path: string, pools: Readonly<Record<string, PvePool>>): string[] {
  const m = /^\/(vms|storage)\/([^/]+)$/.exec(path);
  if (!m) return [];
  const [, top, id] = m;
  return Object.entries(pools)
    .filter(([, p]) => (top === 'vms' ? p.vms : p.storage).includes(id ?? ''))
    .map(([name]) => name)
    .sort();
}

/** Role name → ids of the grants that set it. */
type RoleSet = Map<string, Set<string>>;
/** Privilege → ids of the grants that give it. */
export type PrivSet = Map<string, Set<string>>;

interface Context {
  grantsByPath: Map<string, Array<Grant & { isGroup: boolean }>>;
  rolePrivs: Map<string, readonly string[]>;
  principals: Map<string, Principal>;
  pools: Record<string, PvePool>;
  nowMs: number;
  memo: Map<string, PrivSet>;
}

export function makeContext(model: AccessModel, nowMs?: number): Context {
  const grantsByPath: Context['grantsByPath'] = new Map();
  for (const g of model.grants) {
    const list = grantsByPath.get(g.resource) ?? [];
    list.push({ ...g, isGroup: classifyUgid(g.principal)?.kind === 'group' });
    grantsByPath.set(g.resource, list);
  }
  const native = pveNative(model);
  return {
    grantsByPath,
    rolePrivs: new Map(model.roles.map((r) => [r.name, r.privileges])),
    principals: new Map(model.principals.map((p) => [p.id, p])),
    pools: native.pools,
    nowMs: nowMs ?? (native.asOf ? Date.parse(native.asOf) : Date.now()),
    memo: new Map(),
  };
}

function toRoleSet(grants: readonly Grant[]): RoleSet {
  const set: RoleSet = new Map();
  for (const g of grants) {
    const ids = set.get(g.role ?? '') ?? new Set<string>();
    ids.add(g.id);
    set.set(g.role ?? '', ids);
  }
  return set;
}

/** Port of `roles()` for one subject (user or token id) on one path. */
function rolesAt(ctx: Context, subject: string, path: string): RoleSet {
  const groups = new Set(ctx.principals.get(subject)?.memberOf ?? []);
  let roles: RoleSet = new Map();
  for (const level of pathLevels(path)) {
    const applicable = (ctx.grantsByPath.get(level) ?? []).filter((g) => level === path || g.propagate);
    const own = applicable.filter((g) => !g.isGroup && g.principal === subject);
    if (own.length > 0) { roles = toRoleSet(own); continue; } // user privs always override group privs
    const viaGroups = applicable.filter((g) => g.isGroup && groups.has(g.principal));
    if (viaGroups.length > 0) roles = toRoleSet(viaGroups);
  }
  const noAccess = roles.get(NO_ACCESS);
  return noAccess ? new Map([[NO_ACCESS, noAccess]]) : roles;
}

/** `compile_acl_path` role step: regular roles plus roles inherited from the pools holding the path. */
function rolesWithPools(ctx: Context, subject: string, path: string): RoleSet {
  const roles = rolesAt(ctx, subject, path);
  const poolRoles: RoleSet = new Map();
  for (const pool of poolsOf(path, ctx.pools)) {
    for (const [role, ids] of rolesAt(ctx, subject, `/pool/${pool}`)) {
      poolRoles.set(role, new Set([...(poolRoles.get(role) ?? []), ...ids]));
    }
  }
  if (poolRoles.size === 0 || roles.has(NO_ACCESS)) return roles; // NoAccess must not be trumped by pool ACLs
  const poolNoAccess = poolRoles.get(NO_ACCESS);
  if (poolNoAccess) return new Map([[NO_ACCESS, poolNoAccess]]); // but pool NoAccess trumps regular ACLs
  for (const [role, ids] of poolRoles) if (!roles.has(role)) roles.set(role, ids);
  return roles;
}

function privsOf(ctx: Context, roles: RoleSet): PrivSet {
  const privs: PrivSet = new Map();
  for (const [role, ids] of roles) {
    for (const p of ctx.rolePrivs.get(role) ?? []) privs.set(p, new Set([...(privs.get(p) ?? []), ...ids]));
  }
  return privs;
}

function isLive(ctx: Context, p: Principal | undefined): boolean {
  if (!p) return false;
  if (p.enabled === false) return false;
  return !(p.expiresAt && Date.parse(p.expiresAt) < ctx.nowMs);
}

/** Port of `permissions()`: the privileges `subject` holds on `path`, each with the grants behind it. */
export function permissions(ctx: Context, subject: string, path: string): PrivSet {
  const key = `${subject}\u0000${path}`;
  const cached = ctx.memo.get(key);
  if (cached) return cached;
  const result = computePermissions(ctx, subject, path);
  ctx.memo.set(key, result);
  return result;
}

function computePermissions(ctx: Context, subject: string, path: string): PrivSet {
  if (subject === ROOT_USER) return new Map([...VALID_PRIVILEGES].map((p) => [p, new Set([`builtin:${ROOT_USER}`])]));
  const principal = ctx.principals.get(subject);
  if (!isLive(ctx, principal) || !principal || principal.kind === 'group') return new Map();
  if (principal.kind === 'user') return privsOf(ctx, rolesWithPools(ctx, subject, path));
  const owner = principal.owner ?? '';
  const ownerPrivs = permissions(ctx, owner, path);
  if (!principal.privsep) return ownerPrivs;
  const own = privsOf(ctx, rolesWithPools(ctx, subject, path));
  const both: PrivSet = new Map();
  for (const [p, ids] of own) {
    const fromOwner = ownerPrivs.get(p);
    if (fromOwner) both.set(p, new Set([...ids, ...fromOwner]));
  }
  return both;
}

/** Effective rows for the query (default: every user and token × every resource in the model). */
export function effectiveRows(model: AccessModel, query: EffectiveQuery = {}, nowMs?: number): EffectiveRow[] {
  const ctx = makeContext(model, nowMs);
  const subjects = query.principals ?? model.principals.filter((p) => p.kind !== 'group').map((p) => p.id);
  const paths = query.resources ?? model.resources.map((r) => r.id);
  const rows: EffectiveRow[] = [];
  for (const subject of [...new Set(subjects)].sort()) {
    for (const path of [...new Set(paths)].sort()) {
      const privs = permissions(ctx, subject, path);
      for (const p of [...privs.keys()].sort()) {
        rows.push({ principal: subject, resource: path, privilege: p, because: [...(privs.get(p) ?? [])].sort() });
      }
    }
  }
  return rows;
}

/**
 * `AccessControl.pm::roles()` on its own: no pools, no token ∩ user. Upstream's perm tests check both
 * this and `permissions()`; exposing it lets Accord's tests port theirs one to one.
 */
export function rolesOf(model: AccessModel, subject: string, path: string): string[] {
  if (subject === ROOT_USER) return ['Administrator'];
  const ctx = makeContext(model);
  const p = ctx.principals.get(subject);
  const who = p?.kind === 'token' && !p.privsep && p.owner ? p.owner : subject;
  return [...rolesAt(ctx, who, path).keys()].sort();
}
