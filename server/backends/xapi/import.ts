/**
 * import(files): `xe subject-list` (required for grants), optional `xe role-list`, optional inventory
 * (`xe pool-list`, `xe host-list`, `xe vm-list`, with or without params=all) and an optional membership JSON.
 * Files are recognised by content, not by name.
 */
import type { AccessModel, Grant, ImportWarning, NativeFile, Principal, Resource, RoleDefinition } from '../../domain/access/model.ts';
import { looksLikeJson, parseMembership } from './membership.ts';
import type { Membership } from './membership.ts';
import { POOL_ID, ROOT_ID, grantId } from './native.ts';
import type { XapiNative, XapiSubject } from './native.ts';
import { builtinRoleDefinitions, isXapiRole } from './roles.ts';
import { parseXeMap, parseXeRecords, parseXeSet } from './xe-format.ts';
import type { XeRecord } from './xe-format.ts';

interface Sorted {
  subjects: { rec: XeRecord; file: string }[];
  roles: { rec: XeRecord; file: string }[];
  pools: { rec: XeRecord; file: string }[];
  hosts: { rec: XeRecord; file: string }[];
  vms: { rec: XeRecord; file: string }[];
  memberships: { m: Membership; file: string }[];
}

const val = (rec: XeRecord, key: string): string | undefined => rec.fields.get(key)?.value;

function sortFiles(files: NativeFile[], warnings: ImportWarning[]): Sorted {
  const out: Sorted = { subjects: [], roles: [], pools: [], hosts: [], vms: [], memberships: [] };
  for (const f of files) {
    if (looksLikeJson(f.text)) {
      out.memberships.push({ m: parseMembership(f.text, f.path), file: f.path });
      continue;
    }
    for (const rec of parseXeRecords(f.text, f.path)) {
      const item = { rec, file: f.path };
      if (rec.fields.has('subject-identifier') || (rec.fields.has('other-config') && rec.fields.has('roles'))) out.subjects.push(item);
      else if (rec.fields.has('power-state') || rec.fields.has('is-control-domain')) out.vms.push(item);
      else if (rec.fields.has('master')) out.pools.push(item);
      else if (rec.fields.has('name-label')) out.hosts.push(item);
      else if (rec.fields.has('name')) out.roles.push(item);
      else warnings.push({ file: f.path, line: rec.line, message: 'unrecognised xe record skipped (not a subject, role, pool, host or VM)' });
    }
  }
  return out;
}

function directoryOf(name: string, otherConfig: Record<string, string>): string | undefined {
  const slash = name.indexOf('\\');
  if (slash > 0) return name.slice(0, slash);
  const upn = otherConfig['subject-upn'];
  return upn?.includes('@') ? upn.slice(upn.indexOf('@') + 1) : undefined;
}

function readSubjects(s: Sorted, knownRoles: Set<string>, warnings: ImportWarning[]) {
  const principals: Principal[] = [];
  const grants: Grant[] = [];
  const subjects: XapiSubject[] = [];
  for (const { rec, file } of s.subjects) {
    const where = { file, line: rec.line };
    const uuid = val(rec, 'uuid');
    const otherConfig = parseXeMap(val(rec, 'other-config') ?? '');
    const identifier = val(rec, 'subject-identifier') ?? otherConfig['subject-sid'] ?? '';
    const name = otherConfig['subject-name'] || identifier;
    if (!uuid || !name) {
      warnings.push({ ...where, message: `unreadable subject record skipped: no ${uuid ? 'subject-name or subject-identifier' : 'uuid'}` });
      continue;
    }
    if (principals.some((p) => p.id.toLowerCase() === name.toLowerCase())) {
      warnings.push({ ...where, message: `duplicate subject ${name} skipped` });
      continue;
    }
    const directory = directoryOf(name, otherConfig);
    principals.push({
      kind: otherConfig['subject-is-group'] === 'true' ? 'group' : 'user',
      id: name,
      ...(directory ? { directory } : {}),
      memberOf: [],
      ...(otherConfig['subject-account-disabled'] === 'true' ? { enabled: false } : {}),
    });
    subjects.push({ principal: name, uuid, identifier, otherConfig, file, line: rec.line });
    if (!rec.fields.has('roles')) warnings.push({ ...where, message: `subject ${name} has no roles field; read as holding no role` });
    for (const role of parseXeSet(val(rec, 'roles') ?? '')) {
      if (!knownRoles.has(role)) warnings.push({ ...where, message: `unknown role ${role} on subject ${name}: kept verbatim, grants nothing Accord can compute` });
      grants.push({ id: grantId(uuid, role), principal: name, role, resource: POOL_ID, propagate: true, effect: 'allow', provenance: { file, line: rec.line } });
    }
  }
  return { principals, grants, subjects };
}

function applyMembership(s: Sorted, principals: Principal[]): void {
  const byLower = new Map(principals.map((p) => [p.id.toLowerCase(), p]));
  const groupNames = new Set(s.memberships.flatMap(({ m }) => m.groups.map((g) => g.group.toLowerCase())));
  const ensure = (name: string): Principal => {
    const found = byLower.get(name.toLowerCase());
    if (found) return found;
    const directory = directoryOf(name, {});
    const p: Principal = { kind: groupNames.has(name.toLowerCase()) ? 'group' : 'user', id: name, ...(directory ? { directory } : {}), memberOf: [] };
    principals.push(p);
    byLower.set(name.toLowerCase(), p);
    return p;
  };
  for (const { m } of s.memberships) {
    for (const { group, members } of m.groups) {
      const g = ensure(group);
      for (const member of members) {
        const p = ensure(member);
        if (!p.memberOf?.includes(g.id)) p.memberOf = [...(p.memberOf ?? []), g.id];
      }
    }
  }
}

function readRoles(s: Sorted, warnings: ImportWarning[]): RoleDefinition[] {
  const roles = builtinRoleDefinitions();
  for (const { rec, file } of s.roles) {
    const name = val(rec, 'name') ?? '';
    const def = roles.find((r) => r.name === name);
    if (def) def.provenance = { file, line: rec.line, ...(val(rec, 'uuid') ? { apiId: val(rec, 'uuid') } : {}) };
    else warnings.push({ file, line: rec.line, message: `unknown role ${name} in role-list: XAPI defines only the six static roles` });
  }
  return roles;
}

function readResources(s: Sorted, warnings: ImportWarning[]): { resources: Resource[]; poolName: string } {
  const poolName = (s.pools[0] && val(s.pools[0].rec, 'name-label')) || POOL_ID;
  const resources: Resource[] = [{ id: POOL_ID, kind: 'pool', name: poolName, parents: [] }];
  const hostByUuid = new Map<string, string>();
  const add = (kind: 'host' | 'vm', rec: XeRecord, file: string, parents: string[]) => {
    const uuid = val(rec, 'uuid') ?? '';
    const label = val(rec, 'name-label') || uuid;
    if (!label) {
      warnings.push({ file, line: rec.line, message: `unreadable ${kind} record skipped: no uuid or name-label` });
      return undefined;
    }
    let id = `${kind}/${label}`;
    if (resources.some((r) => r.id === id)) {
      warnings.push({ file, line: rec.line, message: `duplicate ${kind} name ${label}: this one is ${kind}/${uuid}` });
      id = `${kind}/${uuid}`;
    }
    resources.push({ id, kind, name: label, parents });
    return id;
  };
  for (const { rec, file } of s.hosts) {
    const id = add('host', rec, file, [POOL_ID]);
    const uuid = val(rec, 'uuid');
    if (id && uuid) hostByUuid.set(uuid, id);
  }
  for (const { rec, file } of s.vms) {
    const label = val(rec, 'name-label') ?? '';
    if (val(rec, 'is-control-domain') === 'true' || label.startsWith('Control domain on host')) continue; // dom0 is not a guest
    const host = hostByUuid.get(val(rec, 'resident-on') ?? '');
    add('vm', rec, file, [host ?? POOL_ID]);
  }
  return { resources, poolName };
}

export function importXapi(files: NativeFile[]): AccessModel {
  const warnings: ImportWarning[] = [];
  const sorted = sortFiles(files, warnings);
  const roles = readRoles(sorted, warnings);
  const known = new Set(roles.map((r) => r.name).filter(isXapiRole));
  if (sorted.subjects.length === 0) warnings.push({ message: 'no xe subject-list records found: only local root has access' });
  const { principals, grants, subjects } = readSubjects(sorted, known, warnings);
  applyMembership(sorted, principals);
  if (!principals.some((p) => p.id === ROOT_ID)) principals.unshift({ kind: 'user', id: ROOT_ID, directory: 'local', memberOf: [] });
  const { resources, poolName } = readResources(sorted, warnings);
  const native: XapiNative = { pool: poolName, subjects };
  return { backend: 'xapi', principals, resources, roles, grants, warnings, native: { ...native } };
}
