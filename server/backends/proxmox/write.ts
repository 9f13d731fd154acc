/**
 * Write a model back as `/etc/pve/user.cfg`, in the order and grouping of `write_user_config`
 * (AccessControl.pm): users each followed by their tokens, groups, pools, custom roles, then ACL lines
 * per path, grouped by (propagate, role list). Built-in roles and root@pam's ACLs are never written.
 */
import type { AccessModel, Grant } from '../../domain/access/model.ts';
import { isoToEpoch, pveNative } from './native.ts';
import type { PveNative } from './native.ts';
import { classifyUgid, ugidInCfg } from './paths.ts';
import { ROOT_USER } from './privileges.ts';

const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

/** `record[key]` if it is the record's own: a group may be called `__proto__` or `constructor`. */
function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function userLines(model: AccessModel, native: PveNative): string[] {
  const lines: string[] = [];
  const users = model.principals.filter((p) => p.kind === 'user');
  for (const u of [...users].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const f = own(native.userFields, u.id) ?? {};
    const enable = u.enabled === false ? 0 : 1;
    lines.push(`user:${u.id}:${enable}:${isoToEpoch(u.expiresAt)}:${f.firstname ?? ''}:${f.lastname ?? ''}:${f.email ?? ''}:${f.comment ?? ''}:${f.keys ?? ''}:`);
    const tokens = model.principals.filter((t) => t.kind === 'token' && t.owner === u.id);
    for (const t of [...tokens].sort((a, b) => (a.id < b.id ? -1 : 1))) {
      lines.push(`token:${t.id}:${isoToEpoch(t.expiresAt)}:${t.privsep ? 1 : 0}:${own(native.tokenComments, t.id) ?? ''}:`);
    }
  }
  return lines;
}

/** Members are the users listing the group plus those Proxmox keeps without a user: line. */
function groupLines(model: AccessModel, native: PveNative): string[] {
  return sorted(model.principals.filter((p) => p.kind === 'group').map((g) => g.id)).map((g) => {
    const users = model.principals.filter((u) => u.kind === 'user' && u.memberOf?.includes(g)).map((u) => u.id);
    const members = sorted(new Set([...users, ...(own(native.groupMembersWithoutUser, g) ?? [])]));
    return `group:${g}:${members.join(',')}:${own(native.groupComments, g) ?? ''}:`;
  });
}

function poolLines(native: PveNative): string[] {
  return sorted(Object.keys(native.pools)).map((name) => {
    const p = own(native.pools, name) ?? { vms: [], storage: [] };
    return `pool:${name}:${p.comment ?? ''}:${sorted(p.vms).join(',')}:${sorted(p.storage).join(',')}:`;
  });
}

function roleLines(model: AccessModel): string[] {
  return [...model.roles].filter((r) => !r.builtin).sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((r) => `role:${r.name}:${sorted(r.privileges).join(',')}:`);
}

/** One path's ACL lines: each member's roles split by propagate, then members sharing a role list joined. */
function aclLinesFor(path: string, grants: readonly Grant[]): string[] {
  const byMember = new Map<string, Grant[]>();
  for (const g of grants) {
    const c = classifyUgid(g.principal);
    if (!c || g.principal === ROOT_USER) continue; // root@pam is always Administrator
    const ugid = ugidInCfg(c.kind, c.id);
    byMember.set(ugid, [...(byMember.get(ugid) ?? []), g]);
  }
  const lines: string[] = [];
  for (const prop of [false, true]) {
    const byRoleList = new Map<string, string[]>();
    for (const [ugid, gs] of byMember) {
      const roles = sorted(gs.filter((g) => g.propagate === prop).map((g) => g.role ?? ''));
      if (roles.length > 0) byRoleList.set(roles.join(','), [...(byRoleList.get(roles.join(',')) ?? []), ugid]);
    }
    for (const roleList of sorted(byRoleList.keys())) {
      lines.push(`acl:${prop ? 1 : 0}:${path}:${sorted(byRoleList.get(roleList) ?? []).join(',')}:${roleList}:`);
    }
  }
  return lines;
}

function aclLines(model: AccessModel): string[] {
  const byPath = new Map<string, Grant[]>();
  for (const g of model.grants) if (g.role) byPath.set(g.resource, [...(byPath.get(g.resource) ?? []), g]);
  return sorted(byPath.keys()).flatMap((path) => aclLinesFor(path, byPath.get(path) ?? []));
}

/** The full user.cfg text Proxmox would write for this model. */
export function writeUserCfg(model: AccessModel): string {
  const native = pveNative(model);
  const sections = [userLines(model, native), groupLines(model, native), poolLines(native), roleLines(model), aclLines(model)];
  return `${sections.map((s) => s.map((l) => `${l}\n`).join('')).join('\n')}`;
}
