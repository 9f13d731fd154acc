import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { backend, writeUserCfg } from '../../../server/backends/proxmox/index.ts';
import { BUILTIN_ROLES } from '../../../server/backends/proxmox/privileges.ts';
import { AccessInputError } from '../../../server/domain/access/model.ts';
import type { AccessModel } from '../../../server/domain/access/model.ts';

const FIXTURE = 'test/fixtures/proxmox/user.cfg';
const load = (text: string, path = 'user.cfg'): AccessModel => backend.import([{ path, text }]);
const fixture = (): AccessModel => load(readFileSync(new URL('../../fixtures/proxmox/user.cfg', import.meta.url), 'utf8'), FIXTURE);

test('imports users, tokens, groups, pools and ACL lines with file and line', () => {
  const m = fixture();
  const ids = (kind: string) => m.principals.filter((p) => p.kind === kind).map((p) => p.id).sort();
  assert.deepEqual(ids('user'), ['alice@pve', 'bob@pve', 'carol@ldap', 'dave@pve', 'erin@pve', 'root@pam']);
  assert.deepEqual(ids('token'), ['alice@pve!ci', 'alice@pve!legacy', 'bob@pve!backup']);
  assert.deepEqual(ids('group'), ['auditors', 'devs', 'ops']);
  const ci = m.principals.find((p) => p.id === 'alice@pve!ci');
  assert.deepEqual({ owner: ci?.owner, privsep: ci?.privsep }, { owner: 'alice@pve', privsep: true });
  assert.equal(m.principals.find((p) => p.id === 'dave@pve')?.enabled, false);
  assert.equal(m.principals.find((p) => p.id === 'erin@pve')?.expiresAt, '2026-01-01T00:00:00.000Z');
  const deny = m.grants.find((g) => g.resource === '/vms/101' && g.principal === 'bob@pve');
  assert.deepEqual(deny, { id: 'acl:/vms/101:bob@pve:NoAccess', principal: 'bob@pve', role: 'NoAccess', resource: '/vms/101', propagate: false, effect: 'deny', provenance: { file: FIXTURE, line: 31 } });
  assert.equal(m.grants.length, 11);
});

test('a pool is a second parent of its VMs and storages', () => {
  const m = fixture();
  assert.deepEqual(m.resources.find((r) => r.id === '/vms/100')?.parents, ['/vms', '/pool/prod']);
  assert.deepEqual(m.resources.find((r) => r.id === '/storage/local-lvm')?.parents, ['/storage', '/pool/dev', '/pool/prod']);
  assert.deepEqual(m.resources.find((r) => r.id === '/pool/dev/sandbox')?.parents, ['/pool/dev']);
});

test('built-in roles of PVE 9.x: PVEVMUser reads and writes guest files, PVEAdmin cannot modify permissions', () => {
  const vmUser = BUILTIN_ROLES.get('PVEVMUser');
  assert.ok(vmUser?.has('VM.GuestAgent.FileRead') && vmUser.has('VM.GuestAgent.FileWrite'));
  assert.ok(!vmUser?.has('VM.GuestAgent.Unrestricted'));
  assert.ok(!BUILTIN_ROLES.get('PVEAdmin')?.has('Permissions.Modify'));
  assert.deepEqual([...BUILTIN_ROLES.keys()].sort(), [
    'Administrator', 'NoAccess', 'PVEAdmin', 'PVEAuditor', 'PVEDatastoreAdmin', 'PVEDatastoreUser', 'PVEMappingAdmin',
    'PVEMappingUser', 'PVEPoolAdmin', 'PVEPoolUser', 'PVESDNAdmin', 'PVESDNUser', 'PVESysAdmin', 'PVETemplateUser',
    'PVEUserAdmin', 'PVEVMAdmin', 'PVEVMUser',
  ]);
  assert.equal(BUILTIN_ROLES.get('Administrator')?.size, 47);
});

test('what Proxmox ignores is reported with file and line, never dropped silently', () => {
  const m = load([
    'user:ann@pve:1:', 'user:bad user:1:', 'token:ghost@pve!tk::1:', 'group:bad group:ann@pve:', 'group:g:ann@pve,nobody@pve:',
    'role:R:VM.Audit,VM.Monitor:', 'acl:1:/vms:ann@pve:Missing:', 'pool:p1::100:', 'pool:p2::100:', 'frobnicate:x:', 'acl:1:/vms:@g:R:',
  ].join('\n'));
  const w = m.warnings.map((x) => `${x.line}:${x.message.split(':')[0]}`);
  assert.deepEqual(w, [
    "2:ignored user 'bad user'", "3:ignored token 'ghost@pve!tk'", "4:ignored group 'bad group'",
    "5:group member 'nobody@pve' of 'g' is no user; kept in the group, as Proxmox keeps it, but it cannot log in", "6:role 'R'", "7:ignored acl role 'Missing'",
    "9:ignored vmid '100' in pool 'p2'", '10:ignored unknown config line',
  ]);
  assert.ok(m.warnings.every((x) => x.file === 'user.cfg'));
  assert.deepEqual(m.roles.find((r) => r.name === 'R')?.privileges, ['VM.Audit']);
  assert.equal(m.grants.length, 1);
});

test('a file that cannot be trusted is an AccessInputError naming file and line', () => {
  const cases: Array<[string, RegExp]> = [
    ['user:a@pve:1:\nacl:1:/vms\n', /^cut\.cfg:2: acl line needs/],
    ['user:a@pve:1:\nuser::1:\n', /^cut\.cfg:2: user line without a user id/],
    ['user:a@pve:1:\n\0\0', /^cut\.cfg:2: binary content/],
    ['[global]\nfoo = bar\n', /^cut\.cfg:1: no user:.*not a user\.cfg/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => load(text, 'cut.cfg'), (e: unknown) => e instanceof AccessInputError && re.test(e.message) && e.file === 'cut.cfg');
  }
});

test('round trip: import → full user.cfg → import gives the same grants, principals, roles and pools', () => {
  const first = fixture();
  const text = writeUserCfg(first);
  const second = load(text, FIXTURE);
  const strip = (m: AccessModel) => m.grants.map(({ provenance: _p, ...g }) => g).sort((a, b) => (a.id < b.id ? -1 : 1));
  assert.deepEqual(strip(second), strip(first));
  assert.deepEqual(second.principals.map((p) => p.id).sort(), first.principals.map((p) => p.id).sort());
  assert.deepEqual(second.roles.filter((r) => !r.builtin).map((r) => [r.name, r.privileges]), first.roles.filter((r) => !r.builtin).map((r) => [r.name, r.privileges]));
  assert.deepEqual(second.native, first.native);
  assert.equal(writeUserCfg(second), text, 'writing is a fixed point');
});

test('written ACL lines are grouped per path, propagate and role list, like write_user_config', () => {
  const text = writeUserCfg(load('user:a@pve:1:\nuser:b@pve:1:\ngroup:g:a@pve:\nacl:1:/vms:b@pve,@g,a@pve:PVEAuditor:\nacl:0:/vms:a@pve:PVEVMUser:\nacl:1:/:root@pam:Administrator:\n'));
  assert.match(text, /^acl:0:\/vms:a@pve:PVEVMUser:\nacl:1:\/vms:@g,a@pve,b@pve:PVEAuditor:\n$/m);
  assert.doesNotMatch(text, /root@pam:Administrator/);
  assert.match(text, /^user:root@pam:1:0:/m);
});
