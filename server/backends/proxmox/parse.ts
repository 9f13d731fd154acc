/**
 * Import `/etc/pve/user.cfg`: a line-by-line port of `parse_user_config` (AccessControl.pm), including what
 * it does with hand-edited files: lines out of the usual order, repeated lines, `role:` lines that name a
 * built-in role. The model is what Proxmox would hold after reading the file; docs/backends/proxmox.md
 * ("Reading user.cfg as Proxmox does") lists each rule with its upstream source, and
 * test/backends/proxmox/parser-parity.test.ts checks them one by one.
 *
 * Like Proxmox, lines are read in order and an entry that Proxmox ignores (invalid name, unknown role,
 * token of a missing user, unknown privilege...) is ignored here too, but never silently: each becomes an
 * ImportWarning with file and line. A warning never replaces reading the line as Proxmox does: where
 * Proxmox keeps something odd (a member with no user, an ACL path component `0`), the model keeps it too.
 * A file Accord cannot trust at all (NUL bytes, an `acl:`/`user:` line cut short, nothing that looks like
 * user.cfg) is an AccessInputError, because reviewing a truncated ACL list would understate who has access.
 */
import { AccessInputError } from '../../domain/access/model.ts';
import type { AccessModel, Grant, ImportWarning, NativeFile, Principal, RoleDefinition } from '../../domain/access/model.ts';
import { MAX_EPOCH, aclKey, epochToIso } from './native.ts';
import type { PveNative, PvePool, PveUserFields } from './native.ts';
import { BUILTIN_ROLES, NO_ACCESS, ROLE_NAME_RE, ROOT_USER, VALID_PRIVILEGES } from './privileges.ts';
import {
  PERL_SPACE, STORAGE_RE, TOKEN_RE, aclNodePath, checkPath, isGroupName, isPoolName, isUsername, normalizePath, perlTrim,
  perlTrue, splitList,
} from './paths.ts';
import type { UgidKind } from './paths.ts';
import { buildResources } from './resources.ts';

interface Line { file: string; line: number; fields: string[]; text: string }

/** A group member named on a line where no user: line defined it yet; judged once the whole file is read. */
interface PendingMember { group: string; member: string; at: Line }

interface ParseState {
  /** `$cfg->{users}`. Holds root@pam from the start: `userconfig_force_defaults` runs before the loop. */
  users: Map<string, Principal>;
  /** True while root@pam is only the default, no `user:root@pam` line read yet. */
  implicitRoot: boolean;
  tokens: Map<string, Principal>;
  groups: Map<string, Principal>;
  /**
   * `$cfg->{groups}->{$g}->{users}`: every well-formed member, defined or not. This list, not the user's own
   * record, is what `roles()` reads for membership (AccessControl.pm `next if !$cfg->{groups}->{$g}->{users}->{$user}`).
   */
  groupMembers: Map<string, Set<string>>;
  pendingMembers: PendingMember[];
  roles: Map<string, RoleDefinition>;
  grants: Map<string, Grant>;
  userFields: Map<string, PveUserFields>;
  tokenComments: Map<string, string>;
  groupComments: Map<string, string>;
  pools: Map<string, PvePool>;
  vmPool: Map<string, string>;
  warnings: ImportWarning[];
  recognised: number;
}

const ROOT_DEFAULT = (): Principal => ({ kind: 'user', id: ROOT_USER, directory: 'pam', memberOf: [], enabled: true });

function warn(st: ParseState, l: Line, message: string): void {
  st.warnings.push({ file: l.file, line: l.line, message });
}

function newState(): ParseState {
  const roles = new Map<string, RoleDefinition>();
  // A fresh copy per parse: a role: line naming a built-in role adds to it (see onRole), and that must not
  // leak into the next import the way it leaks into a running Proxmox daemon.
  for (const [name, privs] of BUILTIN_ROLES) roles.set(name, { name, privileges: [...privs].sort(), builtin: true });
  return {
    users: new Map([[ROOT_USER, ROOT_DEFAULT()]]), implicitRoot: true, tokens: new Map(), groups: new Map(),
    groupMembers: new Map(), pendingMembers: [], roles, grants: new Map(), userFields: new Map(), tokenComments: new Map(),
    groupComments: new Map(), pools: new Map(), vmPool: new Map(), warnings: [], recognised: 0,
  };
}

/** `verify_rolename` as `parse_user_config` tests it (the returned name must be true: not `0`). */
const isRoleName = (name: string): boolean => perlTrue(name) && ROLE_NAME_RE.test(name);

/** `$expire = 0 if !$expire;` then digits only, `int()`: no upper bound in Perl. */
function parseExpire(st: ParseState, l: Line, raw: string | undefined, what: string): number | undefined {
  const v = perlTrue(raw) ? raw : '0';
  if (!/^\d+$/.test(v)) {
    warn(st, l, `ignored ${what}: illegal characters in expire '${v}'`);
    return undefined;
  }
  const epoch = Number(v);
  if (epoch > MAX_EPOCH) warn(st, l, `${what}: expire ${v} is beyond what a date can hold here; read as ${epochToIso(MAX_EPOCH) ?? ''}, as far in the future as for Proxmox`);
  return epoch;
}

function onUser(st: ParseState, l: Line): void {
  const [id = '', enable, expire, firstname, lastname, email, comment, keys] = l.fields;
  if (!id) throw new AccessInputError('user line without a user id', l);
  if (!isUsername(id)) return warn(st, l, `ignored user '${id}': invalid user name`);
  const exp = parseExpire(st, l, expire, `user '${id}'`);
  if (exp === undefined) return;
  // `$cfg->{users}->{$user} = { enable => ... }` replaces the whole record: its tokens go with it. Group
  // memberships do not: they live in the groups' lists, which this line does not touch.
  const dropped = [...st.tokens.values()].filter((t) => t.owner === id).map((t) => t.id);
  for (const t of dropped) { st.tokens.delete(t); st.tokenComments.delete(t); }
  const tokensGone = dropped.length > 0 ? `it drops the tokens read above it (${dropped.join(', ')}); a token: line below brings one back` : '';
  if (id === ROOT_USER && st.implicitRoot) {
    st.users.delete(id); // the default root@pam gives way to this line, and takes its position
    st.implicitRoot = false;
    if (tokensGone) warn(st, l, `user '${id}' replaces the default root@pam that Proxmox starts with: ${tokensGone}`);
  } else if (st.users.has(id)) {
    const groups = [...st.groupMembers].filter(([, members]) => members.has(id)).map(([g]) => g);
    warn(st, l, [
      `user '${id}' defined again: this line replaces the earlier one (enable, expire, names, e-mail, keys)`,
      ...(tokensGone ? [tokensGone] : []),
      ...(groups.length > 0 ? [`its memberships (${groups.join(', ')}) still count, as roles() reads the groups' lists, though Proxmox's user view no longer shows them`] : []),
    ].join('; '));
  }
  const expiresAt = epochToIso(exp);
  const realm = id.slice(id.lastIndexOf('@') + 1);
  st.users.set(id, { kind: 'user', id, directory: realm, memberOf: [], enabled: perlTrue(enable), ...(expiresAt ? { expiresAt } : {}) });
  const fields = Object.fromEntries(Object.entries({ firstname, lastname, email, comment, keys }).filter(([, v]) => v));
  st.userFields.set(id, fields);
}

function onToken(st: ParseState, l: Line): void {
  const [id = '', expire, privsep, comment] = l.fields;
  const m = TOKEN_RE.exec(id);
  if (!m) return warn(st, l, `ignored invalid token id '${id}'`);
  const exp = parseExpire(st, l, expire, `token '${id}'`);
  if (exp === undefined) return;
  const owner = m[1] ?? '';
  if (!st.users.has(owner)) return warn(st, l, `ignored token '${id}': user '${owner}' does not exist (a token: line must follow its user: line)`);
  const expiresAt = epochToIso(exp);
  // A repeated token: line replaces privsep and expire; the comment only when it gives one.
  st.tokens.set(id, { kind: 'token', id, owner, privsep: perlTrue(privsep), ...(expiresAt ? { expiresAt } : {}) });
  if (comment) st.tokenComments.set(id, comment);
}

function onGroup(st: ParseState, l: Line): void {
  const [name = '', members, comment] = l.fields;
  if (!isGroupName(name)) return warn(st, l, `ignored group '${name}': invalid characters in group name`);
  let list = st.groupMembers.get(name);
  if (!list) {
    st.groups.set(name, { kind: 'group', id: name });
    st.groupMembers.set(name, (list = new Set()));
  }
  if (comment) st.groupComments.set(name, comment);
  for (const member of splitList(members)) {
    if (!isUsername(member)) { warn(st, l, `ignored invalid group member '${member}' of '${name}'`); continue; }
    // Proxmox warns and still records the member: `$cfg->{groups}->{$group}->{users}->{$user} = 1`.
    if (!st.users.has(member)) st.pendingMembers.push({ group: name, member, at: l });
    list.add(member);
  }
}

function onRole(st: ParseState, l: Line): void {
  const [name = '', privs] = l.fields;
  if (!isRoleName(name)) return warn(st, l, `ignored role '${name}': invalid characters in role name`);
  const existing = st.roles.get(name);
  // `userconfig_force_defaults` puts the built-in role hashes themselves into the config before the loop,
  // and this branch adds to whatever hash it finds: a role: line extends a built-in role.
  if (existing?.builtin) warn(st, l, `role '${name}' is built-in: Proxmox's parser adds this line's privileges to it (its API refuses to; its next write of user.cfg drops the line, its running daemons keep them until restarted)`);
  const role = existing ?? { name, privileges: [], builtin: false, provenance: { file: l.file, line: l.line } };
  for (const p of splitList(privs)) {
    if (VALID_PRIVILEGES.has(p)) { if (!role.privileges.includes(p)) role.privileges.push(p); }
    else warn(st, l, `role '${name}': ignored privilege '${p}', unknown to Proxmox VE 9.x (Proxmox drops it too)`);
  }
  role.privileges.sort();
  st.roles.set(name, role);
}

const GROUP_UGID = new RegExp(`^@([^${PERL_SPACE}]+)$`);

/** An ACL member, tried in `parse_user_config`'s order: `@group`, then a user id, then a token id. */
function aclMember(ug: string): { kind: UgidKind; id: string } | undefined {
  const group = GROUP_UGID.exec(ug)?.[1];
  if (group !== undefined && isGroupName(group)) return { kind: 'group', id: group };
  if (isUsername(ug)) return { kind: 'user', id: ug };
  if (TOKEN_RE.test(ug)) return { kind: 'token', id: ug };
  return undefined;
}

function onAcl(st: ParseState, l: Line): void {
  const [prop, rawPath = '', ugids, roles] = l.fields;
  if (l.fields.length < 4 || !rawPath || !ugids || !roles) {
    throw new AccessInputError('acl line needs propagate, path, principals and roles (acl:<0|1>:<path>:<ugids>:<roles>:)', l);
  }
  if (prop !== '0' && prop !== '1') warn(st, l, `propagate '${prop ?? ''}' is not 0 or 1; read as ${perlTrue(prop) ? 1 : 0} like Proxmox`);
  const normalized = normalizePath(rawPath);
  if (!normalized) return warn(st, l, `ignored acl: invalid path '${rawPath}'`);
  const path = aclNodePath(normalized);
  if (path !== normalized) warn(st, l, `acl path '${normalized}': Proxmox skips the path component '0' (find_acl_tree_node), so this entry is stored on, and applies to, '${path}'`);
  if (!checkPath(path)) warn(st, l, `acl path '${path}' is not one check_path accepts; kept, as Proxmox keeps it`);
  for (const role of splitList(roles)) {
    if (!isRoleName(role)) { warn(st, l, `ignored invalid role name '${role}' in acl`); continue; }
    if (!st.roles.has(role)) { warn(st, l, `ignored acl role '${role}': no such role (defined before this line)`); continue; }
    for (const ug of splitList(ugids)) addAcl(st, l, path, ug, role, perlTrue(prop));
  }
}

function addAcl(st: ParseState, l: Line, path: string, ug: string, role: string, propagate: boolean): void {
  const c = aclMember(ug);
  if (!c) return warn(st, l, `ignored invalid user/group '${ug}' in acl`);
  if (c.kind === 'token' && !st.tokens.has(c.id)) return warn(st, l, `ignored acl for token '${ug}': no such token (defined before this line)`);
  if (c.kind === 'group' && !st.groups.has(c.id)) warn(st, l, `acl names group '${c.id}' that does not exist (yet); kept, as Proxmox keeps it`);
  if (c.kind === 'user' && !st.users.has(c.id)) warn(st, l, `acl names user '${c.id}' that does not exist (yet); kept, as Proxmox keeps it`);
  const id = aclKey(path, c.id, role);
  if (st.grants.has(id)) warn(st, l, `acl ${path} ${ug} ${role} repeated: this line's propagate wins`);
  st.grants.set(id, { id, principal: c.id, role, resource: path, propagate, effect: role === NO_ACCESS ? 'deny' : 'allow', provenance: { file: l.file, line: l.line } });
}

function ensurePool(st: ParseState, name: string): PvePool {
  let pool = st.pools.get(name);
  if (!pool) st.pools.set(name, (pool = { vms: [], storage: [] }));
  return pool;
}

const PARENT_POOL = /^(.+)\/[^/]+$/;

function onPool(st: ParseState, l: Line): void {
  const [name = '', comment, vms, stores] = l.fields;
  if (!isPoolName(name)) return warn(st, l, `ignored pool '${name}': invalid pool name`);
  const pool = ensurePool(st, name);
  // "ensure nested pool info is correctly recorded": every ancestor of `a/b/c` exists, if only empty.
  for (let m = PARENT_POOL.exec(name); m; m = PARENT_POOL.exec(m[1] ?? '')) ensurePool(st, m[1] ?? '');
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
}

/** A Map, not an object: a line type such as `__proto__` or `constructor` must be an unknown line. */
const HANDLERS = new Map<string, (st: ParseState, l: Line) => void>([
  ['user', onUser], ['token', onToken], ['group', onGroup], ['role', onRole], ['acl', onAcl], ['pool', onPool],
]);

function parseFile(st: ParseState, file: NativeFile): void {
  const nul = file.text.indexOf('\0');
  if (nul >= 0) throw new AccessInputError('binary content (NUL byte): not a user.cfg', { file: file.path, line: file.text.slice(0, nul).split('\n').length });
  file.text.split('\n').forEach((raw, i) => {
    // `while ($raw =~ /^\s*(.+?)\s*$/gm)` on bytes: Perl's `\s` is ASCII whitespace, so a BOM or a no-break
    // space stays part of the line. Then `split(/:/, $line)` with each field trimmed the same way.
    const text = perlTrim(raw);
    if (!text) return;
    const [type = '', ...fields] = text.split(':').map(perlTrim);
    const l: Line = { file: file.path, line: i + 1, fields, text };
    const handler = HANDLERS.get(type);
    if (!handler) return warn(st, l, `ignored unknown config line: ${text}`);
    st.recognised += 1;
    handler(st, l);
  });
  if (st.recognised === 0 && file.text.trim()) {
    // Proxmox would read such a file as empty; Accord refuses it rather than review nothing.
    const bom = file.text.startsWith('\ufeff') ? ' (it starts with a byte-order mark, which Proxmox reads as part of the first line)' : '';
    throw new AccessInputError(`no user:, group:, token:, pool:, role: or acl: line: not a user.cfg${bom}`, { file: file.path, line: 1 });
  }
}

/**
 * After the last line: memberships as `roles()` sees them (the groups' lists, whatever the order of the
 * lines), the verdict on members named before their user: line, and root@pam's default place.
 */
function finish(st: ParseState, files: readonly NativeFile[]): PveNative {
  const withoutUser: Array<[string, string[]]> = [];
  for (const [group, members] of st.groupMembers) {
    const missing: string[] = [];
    for (const m of members) {
      const user = st.users.get(m);
      if (user) user.memberOf = [...(user.memberOf ?? []), group];
      else missing.push(m);
    }
    if (missing.length > 0) withoutUser.push([group, missing]);
  }
  for (const { group, member, at } of st.pendingMembers) {
    warn(st, at, st.users.has(member)
      ? `group member '${member}' of '${group}' is defined by a user: line further down; the membership counts (roles() reads the group's list), though Proxmox's user view does not show it`
      : `group member '${member}' of '${group}' is no user; kept in the group, as Proxmox keeps it, but it cannot log in`);
  }
  if (st.implicitRoot) {
    // No user:root@pam line: the default goes last, where it always went.
    const root = st.users.get(ROOT_USER) ?? ROOT_DEFAULT();
    st.users.delete(ROOT_USER);
    st.users.set(ROOT_USER, root);
  }
  // Deferred warnings back into file and line order (a stable sort keeps one line's warnings in order).
  const order = new Map(files.map((f, i) => [f.path, i]));
  st.warnings.sort((a, b) => (order.get(a.file ?? '') ?? 0) - (order.get(b.file ?? '') ?? 0) || (a.line ?? 0) - (b.line ?? 0));
  // Object.fromEntries defines own properties, so a pool or group named `__proto__` is just a name.
  return {
    pools: Object.fromEntries(st.pools),
    userFields: Object.fromEntries(st.userFields),
    groupComments: Object.fromEntries(st.groupComments),
    tokenComments: Object.fromEntries(st.tokenComments),
    groupMembersWithoutUser: Object.fromEntries(withoutUser),
  };
}

/** Parse one or more user.cfg files (read in order, as one file) into the neutral model. */
export function parseUserCfg(files: readonly NativeFile[]): AccessModel {
  const st = newState();
  for (const f of files) parseFile(st, f);
  const native = finish(st, files);
  const grants = [...st.grants.values()];
  return {
    backend: 'proxmox',
    principals: [...st.users.values(), ...st.tokens.values(), ...st.groups.values()],
    resources: buildResources(grants, native.pools),
    roles: [...st.roles.values()],
    grants,
    warnings: st.warnings,
    native: native as unknown as Record<string, unknown>,
  };
}
