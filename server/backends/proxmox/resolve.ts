/**
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
 *
 * How: per subject, `roles()` runs once over the whole path tree (acl-index.ts `walkRoles`), then each
 * path asked about is expanded from the role set it ended with; pool roles, privileges and the token
 * intersection are computed once per distinct role set, not per path. Rows of one privilege and one set
 * of grants share a frozen `because` array. The pair-by-pair port this replaces is kept as the test
 * reference (test/backends/proxmox/reference-resolve.ts) and must agree with it row for row.
 */
import type { AccessModel, EffectiveQuery, EffectiveRow, Principal } from '../../domain/access/model.ts';
import { NO_ACCESS, ROOT_USER, VALID_PRIVILEGES } from './privileges.ts';
import { makeRoles, modelIndex, pathTable, walkRoles } from './acl-index.ts';
import type { ModelIndex, PathTable, RoleSet, Roles, Template } from './acl-index.ts';

const NONE: Template = Object.freeze({ privs: Object.freeze([]), because: Object.freeze([]) });

interface Run {
  idx: ModelIndex;
  table: PathTable;
  /** Node of each path asked about, in output order. */
  nodes: number[];
  /** The last user evaluated: a token's user comes just before it in sorted order. */
  last: { subject: string; templates: readonly Template[] | undefined } | undefined;
  root: readonly Template[] | undefined;
}

function privsOf(idx: ModelIndex, set: RoleSet): Template {
  const byPriv = new Map<string, Set<string>>();
  for (const [role, ids] of set) {
    for (const p of idx.rolePrivs.get(role) ?? []) {
      const acc = byPriv.get(p);
      if (acc) for (const id of ids) acc.add(id);
      else byPriv.set(p, new Set(ids));
    }
  }
  if (byPriv.size === 0) return NONE;
  const privs = [...byPriv.keys()].sort();
  return { privs, because: privs.map((p) => Object.freeze([...byPriv.get(p)!].sort())) };
}

/** `compile_acl_path`'s role step: regular roles plus those of the pools holding the path (both after `roles()`). */
function combine(regular: Roles, pool: Roles): Roles {
  if (pool.set.size === 0 || regular.set.has(NO_ACCESS)) return regular; // NoAccess must not be trumped by pool ACLs
  let cache = regular.withPools;
  if (!cache) regular.withPools = cache = new Map();
  let out = cache.get(pool);
  if (out) return out;
  const poolNoAccess = pool.set.get(NO_ACCESS);
  if (poolNoAccess) out = makeRoles(new Map([[NO_ACCESS, poolNoAccess]])); // but pool NoAccess trumps regular ACLs
  else {
    const set = new Map(regular.set);
    for (const [role, ids] of pool.set) if (!set.has(role)) set.set(role, ids);
    out = makeRoles(set);
  }
  cache.set(pool, out);
  return out;
}

/** Union of the role sets of several pools (a storage may sit in many). */
function poolUnion(roles: readonly Roles[]): Roles {
  const set = new Map<string, Set<string>>();
  for (const r of roles) {
    for (const [role, ids] of r.set) {
      const acc = set.get(role);
      if (acc) for (const id of ids) acc.add(id);
      else set.set(role, new Set(ids));
    }
  }
  return makeRoles(set);
}

/** A user's (or a token's own) privileges on every path asked about. */
function ownTemplates(run: Run, subject: string): Template[] {
  const res = walkRoles(run.idx, run.table, subject);
  const out = new Array<Template>(run.nodes.length);
  for (let k = 0; k < run.nodes.length; k++) {
    const node = run.nodes[k]!;
    let r = res[node]!.result;
    const pools = run.table.pools[node];
    if (pools) r = combine(r, pools.length === 1 ? res[pools[0]!]!.result : poolUnion(pools.map((p) => res[p]!.result)));
    out[k] = r.privs ??= privsOf(run.idx, r.set);
  }
  return out;
}

/** Privileges in both, each with the grants of both sides (privilege separation). */
function intersect(own: Template, owner: Template): Template {
  const privs: string[] = [];
  const because: Array<readonly string[]> = [];
  let j = 0;
  for (let i = 0; i < own.privs.length; i++) {
    const p = own.privs[i]!;
    while (j < owner.privs.length && owner.privs[j]! < p) j++;
    if (j < owner.privs.length && owner.privs[j] === p) {
      privs.push(p);
      because.push(Object.freeze([...new Set([...own.because[i]!, ...owner.because[j]!])].sort()));
    }
  }
  return privs.length === 0 ? NONE : { privs, because };
}

function isLive(idx: ModelIndex, p: Principal | undefined): p is Principal {
  if (!p || p.enabled === false) return false;
  return !(p.expiresAt && Date.parse(p.expiresAt) < idx.nowMs);
}

/** Port of `permissions()` over every path asked about; undefined when the subject holds nothing anywhere. */
function templatesOf(run: Run, subject: string): readonly Template[] | undefined {
  if (subject === ROOT_USER) {
    if (!run.root) {
      const privs = [...VALID_PRIVILEGES].sort();
      const because = Object.freeze([`builtin:${ROOT_USER}`]);
      const all: Template = { privs, because: privs.map(() => because) };
      run.root = run.nodes.map(() => all);
    }
    return run.root;
  }
  if (run.last?.subject === subject) return run.last.templates;
  const principal = run.idx.principals.get(subject);
  if (!isLive(run.idx, principal) || principal.kind === 'group') return undefined;
  if (principal.kind === 'user') {
    const templates = ownTemplates(run, subject);
    run.last = { subject, templates };
    return templates;
  }
  const ownerTemplates = templatesOf(run, principal.owner ?? '');
  if (!principal.privsep || !ownerTemplates) return ownerTemplates;
  const own = ownTemplates(run, subject);
  const memo = new Map<Template, Map<Template, Template>>();
  return own.map((t, k) => {
    const o = ownerTemplates[k]!;
    if (t === NONE || o === NONE) return NONE;
    let byOwner = memo.get(t);
    if (!byOwner) memo.set(t, (byOwner = new Map()));
    let both = byOwner.get(o);
    if (!both) byOwner.set(o, (both = intersect(t, o)));
    return both;
  });
}

/** Effective rows for the query (default: every user and token × every resource in the model). */
export function effectiveRows(model: AccessModel, query: EffectiveQuery = {}, nowMs?: number): EffectiveRow[] {
  const idx = modelIndex(model, nowMs);
  const subjects = query.principals ?? model.principals.filter((p) => p.kind !== 'group').map((p) => p.id);
  const paths = [...new Set(query.resources ?? model.resources.map((r) => r.id))].sort();
  const table = pathTable(idx, paths);
  const run: Run = { idx, table, nodes: paths.map((p) => table.index.get(p)!), last: undefined, root: undefined };
  const rows: EffectiveRow[] = [];
  for (const subject of [...new Set(subjects)].sort()) {
    const templates = templatesOf(run, subject);
    if (!templates) continue;
    for (let k = 0; k < paths.length; k++) {
      const t = templates[k]!;
      const resource = paths[k]!;
      for (let j = 0; j < t.privs.length; j++) {
        rows.push({ principal: subject, resource, privilege: t.privs[j]!, because: t.because[j] as string[] });
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
  const idx = modelIndex(model);
  const p = idx.principals.get(subject);
  const who = p?.kind === 'token' && !p.privsep && p.owner ? p.owner : subject;
  const table = pathTable(idx, [path]);
  return [...walkRoles(idx, table, who)[table.index.get(path)!]!.result.set.keys()].sort();
}
