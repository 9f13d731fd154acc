/**
 * Import `/etc/pve/user.cfg`: a line-by-line port of `parse_user_config` (AccessControl.pm).
 *
 * Like Proxmox, lines are read in order and an entry that Proxmox ignores (invalid name, unknown role,
 * token of a missing user, unknown privilege...) is ignored here too, but never silently: each becomes an
 * ImportWarning with file and line. A file Accord cannot trust at all (NUL bytes, an `acl:`/`user:` line
 * cut short, nothing that looks like user.cfg) is an AccessInputError, because reviewing a truncated ACL
 * list would understate who has access.
 */
import { AccessInputError } from '../../domain/access/model.ts';
import type { AccessModel, Grant, ImportWarning, NativeFile, Principal, RoleDefinition } from '../../domain/access/model.ts';
import { aclKey, emptyNative, epochToIso } from './native.ts';
import type { PveNative } from './native.ts';
import { BUILTIN_ROLES, NO_ACCESS, ROLE_NAME_RE, ROOT_USER, VALID_PRIVILEGES } from './privileges.ts';
import { GROUP_RE, POOL_RE, STORAGE_RE, TOKEN_RE, USER_RE, checkPath, classifyUgid, normalizePath } from './paths.ts';
import { buildResources } from './resources.ts';

interface ParseState {
  users: Map<string, Principal>;
  tokens: Map<string, Principal>;
  groups: Map<string, Principal>;
  roles: Map<string, RoleDefinition>;
  grants: Map<string, Grant>;
  native: PveNative;
  vmPool: Map<string, string>;
  warnings: ImportWarning[];
  recognised: number;
}

interface Line { file: string; line: number; fields: string[]; text: string }

/** `split_list`: commas, semicolons or whitespace. */
const splitList = (s: string | undefined): string[] => (s ?? '').split(/[,;\s]+/).filter(Boolean);

function warn(st: ParseState, l: Line, message: string): void {
  st.warnings.push({ file: l.file, line: l.line, message });
}

function newState(): ParseState {
  const roles = new Map<string, RoleDefinition>();
  for (const [name, privs] of BUILTIN_ROLES) roles.set(name, { name, privileges: [...privs].sort(), builtin: true });
  return { users: new Map(), tokens: new Map(), groups: new Map(), roles, grants: new Map(), native: emptyNative(), vmPool: new Map(), warnings: [], recognised: 0 };
}

function parseExpire(st: ParseState, l: Line, raw: string | undefined, what: string): number | undefined {
  const v = raw || '0';
  if (/^\d+$/.test(v)) return Number(v);
  warn(st, l, `ignored ${what}: illegal characters in expire '${v}'`);
  return undefined;
}

function onUser(st: ParseState, l: Line): void {
  const [id = '', enable, expire, firstname, lastname, email, comment, keys] = l.fields;
  if (!id) throw new AccessInputError('user line without a user id', l);
  if (!USER_RE.test(id)) return warn(st, l, `ignored user '${id}': invalid user name`);
  const exp = parseExpire(st, l, expire, `user '${id}'`);
  if (exp === undefined) return;
  const expiresAt = epochToIso(exp);
  const realm = id.slice(id.lastIndexOf('@') + 1);
  st.users.set(id, { kind: 'user', id, directory: realm, memberOf: [], enabled: Boolean(enable && enable !== '0'), ...(expiresAt ? { expiresAt } : {}) });
  const fields = Object.fromEntries(Object.entries({ firstname, lastname, email, comment, keys }).filter(([, v]) => v));
  st.native.userFields[id] = fields;
}

function onToken(st: ParseState, l: Line): void {
  const [id = '', expire, privsep, comment] = l.fields;
  const m = TOKEN_RE.exec(id);
  if (!m) return warn(st, l, `ignored invalid token id '${id}'`);
  const owner = m[1] ?? '';
  if (!st.users.has(owner)) return warn(st, l, `ignored token '${id}': user '${owner}' does not exist`);
  const exp = parseExpire(st, l, expire, `token '${id}'`);
  if (exp === undefined) return;
  const expiresAt = epochToIso(exp);
  st.tokens.set(id, { kind: 'token', id, owner, privsep: Boolean(privsep && privsep !== '0'), ...(expiresAt ? { expiresAt } : {}) });
  if (comment) st.native.tokenComments[id] = comment;
}

function onGroup(st: ParseState, l: Line): void {
  const [name = '', members, comment] = l.fields;
  if (!GROUP_RE.test(name)) return warn(st, l, `ignored group '${name}': invalid characters in group name`);
  if (!st.groups.has(name)) st.groups.set(name, { kind: 'group', id: name });
  if (comment) st.native.groupComments[name] = comment;
  for (const member of splitList(members)) {
    const user = st.users.get(member);
    // Proxmox keeps a missing member in the group but it can never log in: report and skip it.
    if (!user) { warn(st, l, `ignored group member '${member}' of '${name}': no such user`); continue; }
    if (!user.memberOf?.includes(name)) user.memberOf = [...(user.memberOf ?? []), name];
  }
}

function onRole(st: ParseState, l: Line): void {
  const [name = '', privs] = l.fields;
  if (!ROLE_NAME_RE.test(name)) return warn(st, l, `ignored role '${name}': invalid characters in role name`);
  if (BUILTIN_ROLES.has(name)) return warn(st, l, `ignored role '${name}': built-in roles cannot be redefined`);
  const role = st.roles.get(name) ?? { name, privileges: [], builtin: false, provenance: { file: l.file, line: l.line } };
  for (const p of splitList(privs)) {
    if (VALID_PRIVILEGES.has(p)) { if (!role.privileges.includes(p)) role.privileges.push(p); }
    else warn(st, l, `role '${name}': ignored privilege '${p}', unknown to Proxmox VE 9.x (Proxmox drops it too)`);
  }
  role.privileges.sort();
  st.roles.set(name, role);
}

function onAcl(st: ParseState, l: Line): void {
  const [prop, rawPath = '', ugids, roles] = l.fields;
  if (l.fields.length < 4 || !rawPath || !ugids || !roles) {
    throw new AccessInputError('acl line needs propagate, path, principals and roles (acl:<0|1>:<path>:<ugids>:<roles>:)', l);
  }
  if (prop !== '0' && prop !== '1') warn(st, l, `propagate '${prop ?? ''}' is not 0 or 1; read as ${prop ? 1 : 0} like Proxmox`);
  const path = normalizePath(rawPath);
  if (!path) return warn(st, l, `ignored acl: invalid path '${rawPath}'`);
  if (!checkPath(path)) warn(st, l, `acl path '${path}' is not one check_path accepts; kept, as Proxmox keeps it`);
  for (const role of splitList(roles)) {
    if (!st.roles.has(role)) { warn(st, l, `ignored acl role '${role}': no such role (defined before this line)`); continue; }
    for (const ug of splitList(ugids)) addAcl(st, l, path, ug, role, Boolean(prop && prop !== '0'));
  }
}

function addAcl(st: ParseState, l: Line, path: string, ug: string, role: string, propagate: boolean): void {
  const c = classifyUgid(ug);
  const isGroup = ug.startsWith('@') && c?.kind === 'group';
  if (!c || (c.kind === 'group' && !isGroup)) return warn(st, l, `ignored invalid user/group '${ug}' in acl`);
  if (c.kind === 'token' && !st.tokens.has(c.id)) return warn(st, l, `ignored acl for token '${ug}': no such token`);
  if (c.kind === 'group' && !st.groups.has(c.id)) warn(st, l, `acl names group '${c.id}' that does not exist; kept, as Proxmox keeps it`);
  if (c.kind === 'user' && !st.users.has(c.id) && c.id !== ROOT_USER) warn(st, l, `acl names user '${c.id}' that does not exist; kept, as Proxmox keeps it`);
  const id = aclKey(path, c.id, role);
  if (st.grants.has(id)) warn(st, l, `acl ${path} ${ug} ${role} repeated: this line's propagate wins`);
  st.grants.set(id, { id, principal: c.id, role, resource: path, propagate, effect: role === NO_ACCESS ? 'deny' : 'allow', provenance: { file: l.file, line: l.line } });
}

function onPool(st: ParseState, l: Line): void {
  const [name = '', comment, vms, stores] = l.fields;
  if (!POOL_RE.test(name)) return warn(st, l, `ignored pool '${name}': invalid pool name`);
  const pool = st.native.pools[name] ?? { vms: [], storage: [] };
  if (comment) pool.comment = comment;
  for (const vm of splitList(vms)) {
    if (!/^\d+$/.test(vm)) { warn(st, l, `ignored invalid vmid '${vm}' in pool '${name}'`); continue; }
    const id = String(Number(vm));
    if (st.vmPool.has(id)) { warn(st, l, `ignored vmid '${id}' in pool '${name}': already in pool '${st.vmPool.get(id) ?? ''}'`); continue; }
    st.vmPool.set(id, name);
    pool.vms.push(id);
  }
  for (const s of splitList(stores)) {
    if (STORAGE_RE.test(s)) { if (!pool.storage.includes(s)) pool.storage.push(s); }
    else warn(st, l, `ignored invalid storage '${s}' in pool '${name}'`);
  }
  st.native.pools[name] = pool;
}

const HANDLERS: Record<string, (st: ParseState, l: Line) => void> = {
  user: onUser, token: onToken, group: onGroup, role: onRole, acl: onAcl, pool: onPool,
};

function parseFile(st: ParseState, file: NativeFile): void {
  const nul = file.text.indexOf('\0');
  if (nul >= 0) throw new AccessInputError('binary content (NUL byte): not a user.cfg', { file: file.path, line: file.text.slice(0, nul).split('\n').length });
  file.text.split(/\r?\n/).forEach((raw, i) => {
    const text = raw.trim();
    if (!text) return;
    const [type = '', ...fields] = text.split(':').map((f) => f.trim());
    const l: Line = { file: file.path, line: i + 1, fields, text };
    const handler = HANDLERS[type];
    if (!handler) return warn(st, l, `ignored unknown config line: ${text}`);
    st.recognised += 1;
    handler(st, l);
  });
  if (st.recognised === 0 && file.text.trim()) throw new AccessInputError('no user:, group:, token:, pool:, role: or acl: line: not a user.cfg', { file: file.path, line: 1 });
}

/** Parse one or more user.cfg files (read in order, as one file) into the neutral model. */
export function parseUserCfg(files: readonly NativeFile[]): AccessModel {
  const st = newState();
  for (const f of files) parseFile(st, f);
  // `userconfig_force_defaults`: root@pam always exists and is enabled.
  if (!st.users.has(ROOT_USER)) st.users.set(ROOT_USER, { kind: 'user', id: ROOT_USER, directory: 'pam', memberOf: [], enabled: true });
  const grants = [...st.grants.values()];
  return {
    backend: 'proxmox',
    principals: [...st.users.values(), ...st.tokens.values(), ...st.groups.values()],
    resources: buildResources(grants, st.native.pools),
    roles: [...st.roles.values()],
    grants,
    warnings: st.warnings,
    native: st.native as unknown as Record<string, unknown>,
  };
}
