/**
 * Hand-edited user.cfg files read exactly as pve-access-control's `parse_user_config` reads them.
 *
 * Line numbers refer to `src/PVE/AccessControl.pm` (and `src/PVE/Auth/Plugin.pm`,
 * `src/PVE/RPCEnvironment.pm`) of proxmox/pve-access-control 9.1.1, commit 5ccd07d9302562b73374d331b63d25b04b86766c.
 * Every case asserts what ends up in the model or in effective access, not only that a warning is given.
 *
 * The first group covers behaviours Accord used to read differently (each of these failed before the
 * parser followed upstream); the second guards behaviours that already matched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backend, writeUserCfg } from '../../../server/backends/proxmox/index.ts';
import { pveNative } from '../../../server/backends/proxmox/native.ts';
import { rolesOf } from '../../../server/backends/proxmox/resolve.ts';
import type { AccessModel, ChangeSet } from '../../../server/domain/access/model.ts';

const load = (...lines: string[]): AccessModel => backend.import([{ path: 'user.cfg', text: `${lines.join('\n')}\n` }]);
const privs = (m: AccessModel, subject: string, path: string): string[] =>
  backend.effective(m, { principals: [subject], resources: [path] }).map((r) => r.privilege);
const principal = (m: AccessModel, id: string) => m.principals.find((p) => p.id === id);
const role = (m: AccessModel, name: string) => m.roles.find((r) => r.name === name);

// ---------------------------------------------------------------------------------------------------------
// Behaviours Accord now reads as upstream does
// ---------------------------------------------------------------------------------------------------------

test('a group: line may list a user defined further down: the membership counts (parse_user_config records `$cfg->{groups}->{$group}->{users}->{$user} = 1` for a missing user too, AccessControl.pm:1489; roles() reads that list, :1870)', () => {
  const m = load('group:ops:alice@pve:', 'user:alice@pve:1:0:', 'acl:1:/vms:@ops:PVEVMUser:');
  assert.deepEqual(principal(m, 'alice@pve')?.memberOf, ['ops']);
  assert.ok(privs(m, 'alice@pve', '/vms/100').includes('VM.Console'));
  assert.deepEqual(rolesOf(m, 'alice@pve', '/vms/100'), ['PVEVMUser']);
});

test('a repeated user: line replaces the user record but not its group memberships (`$cfg->{users}->{$user} = { enable => ... }`, :1449; membership lives in the group, :1489, read by roles() at :1870)', () => {
  const m = load('user:alice@pve:1:0:Alice:::', 'group:ops:alice@pve:', 'user:alice@pve:1:0:Alicia:::', 'acl:1:/vms:@ops:PVEVMUser:');
  assert.deepEqual(principal(m, 'alice@pve')?.memberOf, ['ops']);
  assert.equal(pveNative(m).userFields['alice@pve']?.firstname, 'Alicia');
  assert.ok(privs(m, 'alice@pve', '/vms/100').includes('VM.Console'));
});

test('a repeated user: line drops the tokens read above it (:1449 replaces the whole hash, `tokens` included; `check_token_exist` then finds none), and a later token: line brings the token back with the ACL entries read while it first existed', () => {
  const dropped = load('user:alice@pve:1:0:', 'token:alice@pve!ci::0:first:', 'acl:1:/vms:alice@pve!ci:PVEVMUser:', 'acl:1:/vms:alice@pve:PVEVMAdmin:', 'user:alice@pve:1:0:');
  assert.equal(principal(dropped, 'alice@pve!ci'), undefined);
  assert.deepEqual(privs(dropped, 'alice@pve!ci', '/vms/100'), []);
  assert.equal(pveNative(dropped).tokenComments['alice@pve!ci'], undefined);
  assert.ok(dropped.warnings.some((w) => w.line === 5 && /alice@pve!ci/.test(w.message)));
  const back = load('user:alice@pve:1:0:', 'token:alice@pve!ci::1:', 'acl:1:/vms:alice@pve!ci:PVEVMUser:', 'acl:1:/vms:alice@pve:PVEVMAdmin:', 'user:alice@pve:1:0:', 'token:alice@pve!ci::1:');
  assert.equal(principal(back, 'alice@pve!ci')?.kind, 'token');
  assert.ok(privs(back, 'alice@pve!ci', '/vms/100').includes('VM.Console'));
});

test('root@pam exists before the first line (`userconfig_force_defaults` runs before the loop, :1409, adding root@pam at :1394): its token: lines need no user:root@pam line above them', () => {
  const m = load('token:root@pam!auto::1:', 'acl:1:/:root@pam!auto:PVEAuditor:');
  assert.equal(principal(m, 'root@pam!auto')?.owner, 'root@pam');
  assert.deepEqual(privs(m, 'root@pam!auto', '/vms/100'), ['Datastore.Audit', 'Mapping.Audit', 'Pool.Audit', 'SDN.Audit', 'Sys.Audit', 'VM.Audit', 'VM.GuestAgent.Audit']);
  // ...and, like any user, a user:root@pam line below drops it again (:1449).
  const later = load('token:root@pam!auto::1:', 'user:root@pam:1:0:');
  assert.equal(principal(later, 'root@pam!auto'), undefined);
});

test('a role: line naming a built-in role adds its privileges to that role (`userconfig_force_defaults` puts the `$special_roles` hashes themselves into the config, :1390, and the role branch adds to the hash it finds, :1501-1505)', () => {
  const m = load('user:alice@pve:1:0:', 'role:PVEAuditor:VM.PowerMgmt,Nope.Priv:', 'acl:1:/vms:alice@pve:PVEAuditor:');
  assert.ok(role(m, 'PVEAuditor')?.builtin);
  assert.ok(role(m, 'PVEAuditor')?.privileges.includes('VM.PowerMgmt'));
  assert.ok(!role(m, 'PVEAuditor')?.privileges.includes('Nope.Priv'));
  assert.ok(privs(m, 'alice@pve', '/vms/100').includes('VM.PowerMgmt'));
  assert.ok(!privs(m, 'alice@pve', '/vms/100').includes('VM.Console'));
  // write_user_config never writes a special role (:1701), so the line does not survive a rewrite.
  assert.doesNotMatch(writeUserCfg(m), /^role:PVEAuditor/m);
});

test('a role: line naming NoAccess gives NoAccess privileges: roles() keeps NoAccess alone (:1888) and compile_acl_path takes its privileges from `$cfg->{roles}->{NoAccess}` (RPCEnvironment.pm:90)', () => {
  const m = load('user:alice@pve:1:0:', 'role:NoAccess:VM.Audit:', 'acl:1:/vms:alice@pve:PVEVMAdmin:', 'acl:1:/vms/100:alice@pve:NoAccess:');
  assert.deepEqual(rolesOf(m, 'alice@pve', '/vms/100'), ['NoAccess']);
  assert.deepEqual(privs(m, 'alice@pve', '/vms/100'), ['VM.Audit']);
});

test('a change asking for privileges reuses a built-in role only as the file defines it (a role: line may have extended it, :1501-1505)', () => {
  const m = load('user:alice@pve:1:0:', 'role:PVETemplateUser:VM.Console:');
  const change: ChangeSet = { backend: 'proxmox', items: [{ id: 'i1', op: 'add', grant: { principal: 'alice@pve', privileges: ['vm.view', 'vm.clone'], resource: '/vms/100', propagate: false, effect: 'allow' } }] };
  const r = backend.render(m, change);
  assert.doesNotMatch(r.text, /PVETemplateUser/);
  assert.match(r.text, /^pveum role add ACR_[0-9a-f]{8} --privs VM.Audit,VM.Clone$/m);
});

test('a deny rendered on a host whose NoAccess has privileges says what it grants and is not exact (roles() keeps NoAccess alone, :1888; its privileges come from the file, :1501-1505)', () => {
  const m = load('user:alice@pve:1:0:', 'role:NoAccess:VM.Audit:');
  const change: ChangeSet = { backend: 'proxmox', items: [{ id: 'd', op: 'add', grant: { principal: 'alice@pve', role: 'NoAccess', resource: '/vms/100', propagate: false, effect: 'deny' } }] };
  const r = backend.render(m, change);
  assert.equal(r.items[0]?.fidelity, 'widened');
  assert.match(r.items[0]?.note ?? '', /NoAccess privileges .*VM\.Audit/);
});

test('an ACL path component `0` is skipped: the entry lands on the node above (find_acl_tree_node: `next if !$p`, :992)', () => {
  const m = load('user:alice@pve:1:0:', 'acl:1:/vms/0:alice@pve:PVEVMUser:', 'acl:0:/0:alice@pve:PVEAuditor:');
  assert.deepEqual(m.grants.map((g) => g.resource).sort(), ['/', '/vms']);
  assert.ok(privs(m, 'alice@pve', '/vms/100').includes('VM.Console'));
  assert.deepEqual(privs(m, 'alice@pve', '/'), ['Datastore.Audit', 'Mapping.Audit', 'Pool.Audit', 'SDN.Audit', 'Sys.Audit', 'VM.Audit', 'VM.GuestAgent.Audit']);
});

test('an ACL path `0` is invalid (normalize_path: `return undef if !$path`, :1266, and "0" is false in Perl)', () => {
  const m = load('user:alice@pve:1:0:', 'acl:1:0:alice@pve:Administrator:');
  assert.equal(m.grants.length, 0);
  assert.deepEqual(privs(m, 'alice@pve', '/'), []);
});

test('group, role and pool names `0` are refused: verify_groupname/verify_rolename/verify_poolname return the name, and "0" is false (:1467, :1495, :1520, :1564); an ACL `@0` is no group (`if ($group && ...)`, :1533)', () => {
  const m = load('user:alice@pve:1:0:', 'group:0:alice@pve:', 'role:0:VM.Audit:', 'pool:0::100::', 'acl:1:/vms:@0:PVEVMUser:', 'acl:1:/vms:alice@pve:0:');
  assert.equal(principal(m, '0'), undefined);
  assert.equal(role(m, '0'), undefined);
  assert.deepEqual(Object.keys(pveNative(m).pools), []);
  assert.equal(m.grants.length, 0);
  assert.deepEqual(principal(m, 'alice@pve')?.memberOf, []);
});

test('user ids longer than 64 bytes are invalid everywhere (verify_username: `$len > 64`, Auth/Plugin.pm:130)', () => {
  const long = `${'a'.repeat(61)}@pve`; // 65 bytes
  const wide = `${'ä'.repeat(30)}@pve`; // 30 characters but 64 bytes: still valid
  const m = load(`user:${long}:1:0:`, `user:${wide}:1:0:`, `group:g:${long},${wide}:`, `acl:1:/vms:${long},${wide}:PVEVMUser:`);
  assert.equal(principal(m, long), undefined);
  assert.deepEqual(principal(m, wide)?.memberOf, ['g']);
  assert.deepEqual(m.grants.map((g) => g.principal), [wide]);
  assert.deepEqual(pveNative(m).groupMembersWithoutUser ?? {}, {});
});

test('lines and fields are trimmed of Perl whitespace only (`/^\\s*(.+?)\\s*$/gm`, :1412, on the raw bytes): a UTF-8 BOM or a no-break space is text', () => {
  const bom = backend.import([{ path: 'user.cfg', text: '\ufeffuser:alice@pve:1:0:\nuser:bob@pve:1:0:\nacl:1:/vms:alice@pve,bob@pve:PVEVMUser:\n' }]);
  assert.equal(principal(bom, 'alice@pve'), undefined);
  assert.ok(bom.warnings.some((w) => w.line === 1));
  assert.deepEqual(privs(bom, 'alice@pve', '/vms/100'), []);
  const nbsp = load('user:alice@pve:1:0:', 'user:bob@pve:1:0:', 'acl:1:/vms:alice@pve:PVEVMUser\u00a0:', 'acl:1:/storage:alice@pve\u00a0bob@pve:PVEDatastoreUser:');
  assert.deepEqual(privs(nbsp, 'alice@pve', '/vms/100'), []);
  // split_list splits on Perl whitespace, so `alice@pve<NBSP>bob@pve` is one (valid, undefined) user id.
  assert.deepEqual(nbsp.grants.map((g) => g.principal), ['alice@pve\u00a0bob@pve']);
  assert.deepEqual(privs(nbsp, 'bob@pve', '/storage/local'), []);
});

test('a line type that is a JavaScript Object property (`__proto__`, `hasOwnProperty`) is just an unknown line (`else { warn "ignore config line" }`, :1643)', () => {
  const m = load('user:alice@pve:1:0:', '__proto__:x:', 'hasOwnProperty:y:', 'constructor:z:', 'acl:1:/vms:alice@pve:PVEVMUser:');
  assert.deepEqual(m.warnings.map((w) => w.line), [2, 3, 4]);
  assert.ok(privs(m, 'alice@pve', '/vms/100').includes('VM.Console'));
});

test('a group or pool named `__proto__` is an ordinary name (verify_groupname and verify_poolname accept it, :1467, :1564)', () => {
  const m = load('user:a@pve:1:0:', 'group:__proto__:a@pve:team:', 'pool:__proto__::100::', 'acl:1:/pool/__proto__:@__proto__:PVEVMUser:');
  const native = pveNative(m);
  assert.ok(Object.hasOwn(native.pools, '__proto__') && Object.hasOwn(native.groupComments, '__proto__'));
  assert.deepEqual(Object.entries(native.pools), [['__proto__', { vms: ['100'], storage: [] }]]);
  assert.deepEqual(principal(m, 'a@pve')?.memberOf, ['__proto__']);
  assert.ok(privs(m, 'a@pve', '/vms/100').includes('VM.Console'));
  const text = writeUserCfg(m);
  assert.match(text, /^group:__proto__:a@pve:team:$/m);
  assert.match(text, /^pool:__proto__::100::$/m);
});

test('a nested pool creates its parent pools (parse_user_config walks `$curr =~ m!^(.+)/[^/]+$!`, :1574-1583)', () => {
  const m = load('pool:a/b/c::100::');
  assert.deepEqual(Object.keys(pveNative(m).pools).sort(), ['a', 'a/b', 'a/b/c']);
  assert.deepEqual(pveNative(m).pools['a'], { vms: [], storage: [] });
  assert.match(writeUserCfg(m), /^pool:a::::\npool:a\/b::::\npool:a\/b\/c::100::$/m);
});

test('an expire beyond the range of a JavaScript date is a far-future expiry, not a failed import (`$expire = int($expire)`, :1442, :1631)', () => {
  const m = load('user:alice@pve:1:99999999999999999:', 'token:alice@pve!tk:99999999999999999:1:', 'acl:1:/vms:alice@pve,alice@pve!tk:PVEVMUser:');
  assert.equal(principal(m, 'alice@pve')?.enabled, true);
  assert.ok(Date.parse(principal(m, 'alice@pve')?.expiresAt ?? '') > Date.parse('3000-01-01T00:00:00Z'));
  assert.ok(privs(m, 'alice@pve!tk', '/vms/100').includes('VM.Console'));
});

test('a group member with no user: line stays in the group, as write_user_config writes it back (:1489; `join(",", sort keys %{ $d->{users} })`, :1683)', () => {
  const m = load('user:alice@pve:1:0:', 'group:ops:alice@pve,ghost@pve:');
  assert.deepEqual(pveNative(m).groupMembersWithoutUser, { ops: ['ghost@pve'] });
  assert.match(writeUserCfg(m), /^group:ops:alice@pve,ghost@pve::$/m);
  assert.equal(principal(m, 'ghost@pve'), undefined);
  // ...and a change set cannot target a member that cannot log in.
  assert.deepEqual(backend.affectedPrincipals(m, { backend: 'proxmox', items: [{ id: 'x', op: 'add', grant: { principal: 'ops', role: 'PVEAuditor', resource: '/', propagate: true, effect: 'allow' } }] }), ['alice@pve']);
});

test('a change cannot name a path with a `0` component: Proxmox would store it on the node above (find_acl_tree_node, :992)', () => {
  const m = load('user:alice@pve:1:0:');
  const change: ChangeSet = { backend: 'proxmox', items: [{ id: 'z', op: 'add', grant: { principal: 'alice@pve', role: 'PVEAuditor', resource: '/nodes/0', propagate: true, effect: 'allow' } }] };
  assert.throws(() => backend.validateChange(m, change), /change item z: .*'\/nodes\/0'.*'\/nodes'/);
});

// ---------------------------------------------------------------------------------------------------------
// Behaviours that already matched upstream (guards)
// ---------------------------------------------------------------------------------------------------------

test('[guard] an acl: line naming a user or group defined further down is kept (`warn ... ignore invalid acl member` but `$acl_node->{users}->{$ug}->{$role} = $propagate`, :1538-1544)', () => {
  const m = load('acl:1:/vms:alice@pve,@ops:PVEVMUser:', 'user:alice@pve:1:0:', 'user:bob@pve:1:0:', 'group:ops:bob@pve:');
  assert.ok(privs(m, 'alice@pve', '/vms/100').includes('VM.Console'));
  assert.ok(privs(m, 'bob@pve', '/vms/100').includes('VM.Console'));
});

test('[guard] an acl: line naming a token or a custom role defined further down loses that entry (`check_token_exist`, :1546; `if (!$cfg->{roles}->{$role})`, :1525)', () => {
  const m = load('user:alice@pve:1:0:', 'acl:1:/vms:alice@pve!ci:PVEVMUser:', 'acl:1:/storage:alice@pve:Later:', 'token:alice@pve!ci::0:', 'role:Later:Datastore.Audit:');
  assert.equal(m.grants.length, 0);
  assert.deepEqual(privs(m, 'alice@pve!ci', '/vms/100'), []);
});

test('[guard] a token: line above its user: line is ignored (`ignore token ... user does not exist`, :1633-1640)', () => {
  const m = load('token:alice@pve!ci::0:', 'user:alice@pve:1:0:');
  assert.equal(principal(m, 'alice@pve!ci'), undefined);
});

test('[guard] repeated role:, group:, pool: and token: lines merge into what is there (`= {} if !...`, :1473, :1501, :1570, :1634); a later comment replaces, an empty one keeps', () => {
  const m = load('user:a@pve:1:0:', 'user:b@pve:1:0:', 'role:R:VM.Audit:', 'role:R:VM.Console:', 'group:g:a@pve:one:', 'group:g:b@pve::',
    'pool:p:first:100:local:', 'pool:p::101:nfs:', 'token:a@pve!tk:0:0:c1:', 'token:a@pve!tk:0:1::');
  assert.deepEqual(role(m, 'R')?.privileges, ['VM.Audit', 'VM.Console']);
  assert.deepEqual(m.principals.filter((p) => p.memberOf?.includes('g')).map((p) => p.id), ['a@pve', 'b@pve']);
  assert.deepEqual(pveNative(m).groupComments['g'], 'one');
  assert.deepEqual(pveNative(m).pools['p'], { comment: 'first', vms: ['100', '101'], storage: ['local', 'nfs'] });
  assert.equal(principal(m, 'a@pve!tk')?.privsep, true);
  assert.equal(pveNative(m).tokenComments['a@pve!tk'], 'c1');
});

test('[guard] a custom role extended by a second role: line below the ACL gives the ACL every privilege (the hash is shared by name, :1505)', () => {
  const m = load('user:a@pve:1:0:', 'role:R:VM.Audit:', 'acl:1:/vms:a@pve:R:', 'role:R:VM.Console:');
  assert.deepEqual(privs(m, 'a@pve', '/vms/100'), ['VM.Audit', 'VM.Console']);
});

test('[guard] a repeated (path, ugid, role) keeps the last propagate flag (`$acl_node->{users}->{$ug}->{$role} = $propagate`, :1544)', () => {
  const m = load('user:a@pve:1:0:', 'acl:1:/vms:a@pve:PVEAuditor:', 'acl:0:/vms:a@pve:PVEAuditor:');
  assert.deepEqual(privs(m, 'a@pve', '/vms/100'), []);
});

test('[guard] a VM listed by two pools stays in the first (`ignore duplicate vmid`, :1595)', () => {
  const m = load('pool:p1::100::', 'pool:p2::100,0100::');
  assert.deepEqual(pveNative(m).pools['p1']?.vms, ['100']);
  assert.deepEqual(pveNative(m).pools['p2']?.vms, []);
});

test('[guard] `#` lines, blank lines and CRLF endings: no comment syntax, `#...` is an unknown line (:1643)', () => {
  const m = backend.import([{ path: 'user.cfg', text: '# user:x@pve:1:0:\r\n\r\n  user:a@pve:1:0:  \r\n' }]);
  assert.equal(principal(m, 'x@pve'), undefined);
  assert.equal(principal(m, 'a@pve')?.enabled, true);
  assert.deepEqual(m.warnings.map((w) => w.line), [1]);
});

test('[guard] enable and propagate are Perl booleans: only "" and "0" are false (`$enable ? 1 : 0`, :1433; `$propagate ? 1 : 0`, :1514)', () => {
  const m = load('user:a@pve:00:0:', 'user:b@pve::0:', 'acl:00:/vms:a@pve:PVEAuditor:');
  assert.equal(principal(m, 'a@pve')?.enabled, true);
  assert.equal(principal(m, 'b@pve')?.enabled, false);
  assert.equal(m.grants[0]?.propagate, true);
});

test('[guard] an acl `@name@realm` is a user, not a group (group regex fails, then verify_username, :1531-1539)', () => {
  const m = load('acl:1:/vms:@x@pve:PVEAuditor:');
  assert.deepEqual(m.grants.map((g) => g.principal), ['@x@pve']);
});
