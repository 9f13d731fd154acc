/**
 * The vSphere connector against the real vSphere simulator: test/vcsim/vcsim, govmomi 0.24.2's simulator
 * (VPX model) built from Debian's sources by .ci/build-vcsim.sh (npm test's test/prepare.ts runs it).
 * Read → import → plan → apply → re-read, with the permission semantics vCenter documents checked
 * against vcsim's (vcsim replaces an entity's whole permission list on SetEntityPermissions).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { backend } from '../../server/backends/vsphere/index.ts';
import type { AccessModel, ChangeItem, Grant, GrantSpec } from '../../server/domain/access/model.ts';
import { ConnectorError } from '../../server/connectors/types.ts';
import { VsphereConnector, vsphereConnector } from '../../server/connectors/vsphere/connector.ts';
import { VimClient } from '../../server/connectors/vsphere/soap.ts';
import { escapeXml, parseXml, XmlError } from '../../server/connectors/vsphere/xml.ts';
import { startVcsim, stopVcsim, type Vcsim } from '../helpers/vcsim.ts';
import { freePort } from '../helpers/server.ts';

const USER = 'accord-test';
const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;
const OPS = 'VSPHERE.LOCAL\\ops';
const ALICE = 'VSPHERE.LOCAL\\alice';
const ODD = `VSPHERE.LOCAL\\o'<&>"ps`; // escaping both ways
/** vSphere does not expose SSO membership: Accord's hand-written group file names the principals. */
const GROUPS = { path: 'groups.json', text: JSON.stringify({ groups: { [OPS]: [ALICE], [ODD]: [] } }) };

const connect = (url: string, password = PASSWORD, extra: Record<string, unknown> = {}): VsphereConnector =>
  vsphereConnector.open(vsphereConnector.parseConnection({ url, username: USER, password, insecure: true, ...extra }), backend) as VsphereConnector;

describe('vSphere connector against vcsim', () => {
  let sim: Vcsim;
  let conn: VsphereConnector;

  before(async () => {
    sim = await startVcsim(USER, PASSWORD);
    conn = connect(sim.url);
  });
  after(async () => {
    // Log out, then stop vcsim even if logging out failed; report every failure.
    const errors: unknown[] = [];
    await conn?.close().catch((e: unknown) => void errors.push(e));
    if (sim) await stopVcsim(sim).catch((e: unknown) => void errors.push(e));
    if (errors.length > 0) throw new AggregateError(errors, 'vSphere connector teardown failed');
  });

  const observe = async (): Promise<AccessModel> => backend.import([...(await conn.read()), GROUPS]);

  /** Validates, applies in the model, plans, applies every step on vcsim; returns the plan and the re-read model. */
  async function change(items: ChangeItem[]): Promise<{ steps: ReturnType<VsphereConnector['plan']>; after: AccessModel; desired: AccessModel }> {
    const observed = await observe();
    const cs = { backend: 'vsphere' as const, items };
    backend.validateChange(observed, cs);
    const desired = backend.applyChange(observed, cs);
    const steps = conn.plan(observed, desired, cs);
    // Steps are stored as JSON and resumed: apply what survives a round trip.
    for (const s of JSON.parse(JSON.stringify(steps)) as typeof steps) await conn.apply(s, observed, desired);
    const afterModel = await observe();
    assert.deepEqual(conn.plan(afterModel, desired, cs), [], 'after apply, the target holds the desired state');
    return { steps, after: afterModel, desired };
  }

  const grantOf = (m: AccessModel, resource: string, principal: string): Grant | undefined =>
    m.grants.find((g) => g.resource === resource && g.principal === principal);
  const shape = (g: Grant | undefined): Partial<GrantSpec> | undefined => g && { role: g.role, propagate: g.propagate, effect: g.effect };
  const rootAdmins = (m: AccessModel): (Partial<GrantSpec> | undefined)[] => ['admin', 'root'].map((p) => shape(grantOf(m, '/', p)));

  test('read gives the govc files the importer reads: vcsim\'s roles, inventory and permissions', async () => {
    const files = await conn.read();
    assert.deepEqual(files.map((f) => f.path), ['roles.json', 'permissions.json', 'inventory.json']);
    const m = backend.import(files);
    for (const r of ['NoAccess', 'Anonymous', 'View', 'ReadOnly', 'Admin']) assert.ok(m.roles.some((x) => x.name === r), `role ${r}`);
    assert.ok((m.roles.find((r) => r.name === 'Admin')?.privileges.length ?? 0) > 200, 'Admin carries vcsim\'s privilege list');
    const kinds = Object.fromEntries(m.resources.map((r) => [r.id, r.kind]));
    assert.equal(kinds['/'], 'root');
    assert.equal(kinds['/DC0'], 'datacenter');
    assert.equal(kinds['/DC0/vm'], 'folder');
    assert.equal(kinds['/DC0/host/DC0_C0'], 'cluster');
    assert.equal(kinds['/DC0/host/DC0_C0/DC0_C0_H0'], 'host');
    assert.equal(kinds['/DC0/datastore/LocalDS_0'], 'storage');
    assert.equal(kinds['/DC0/vm/DC0_H0_VM0'], 'vm');
    // A VM inherits through its folder and its resource pool.
    assert.deepEqual(m.resources.find((r) => r.id === '/DC0/vm/DC0_C0_RP0_VM0')?.parents, ['/DC0/vm', '/DC0/host/DC0_C0/Resources']);
    assert.deepEqual((m.native as { refById: Record<string, unknown> }).refById['/'], { type: 'Folder', value: 'group-d1' });
    // vcsim's default permissions: Admin on the root folder for the user `admin` and for `root` (a user
    // and a group of the same name: the importer keeps the first and says so).
    assert.deepEqual(rootAdmins(m), [{ role: 'Admin', propagate: true, effect: 'allow' }, { role: 'Admin', propagate: true, effect: 'allow' }]);
    assert.deepEqual(m.warnings.map((w) => w.message), ['/Permissions/2: second permission of root on /; vSphere keeps one, skipped']);
  });

  test('add, change and remove a permission; the other principals\' permissions on the entity stay', async () => {
    const folder = '/DC0/vm';
    const vm = '/DC0/vm/DC0_H0_VM0';
    const opsRead: GrantSpec = { principal: OPS, resource: folder, role: 'ReadOnly', propagate: true, effect: 'allow' };
    const aliceAdmin: GrantSpec = { principal: ALICE, resource: folder, role: 'Admin', propagate: false, effect: 'allow' };
    const aliceVm: GrantSpec = { principal: ALICE, resource: vm, role: 'View', propagate: false, effect: 'allow' };

    const added = await change([
      { id: 'a1', op: 'add', grant: opsRead },
      { id: 'a2', op: 'add', grant: aliceAdmin },
      { id: 'a3', op: 'add', grant: aliceVm },
    ]);
    assert.deepEqual(added.steps.map((s) => [s.op, s.itemIds]), [['add', ['a1']], ['add', ['a2']], ['add', ['a3']]]);
    assert.deepEqual(shape(grantOf(added.after, folder, OPS)), { role: 'ReadOnly', propagate: true, effect: 'allow' });
    assert.deepEqual(shape(grantOf(added.after, folder, ALICE)), { role: 'Admin', propagate: false, effect: 'allow' });
    assert.deepEqual(shape(grantOf(added.after, vm, ALICE)), { role: 'View', propagate: false, effect: 'allow' });
    assert.equal(added.after.principals.find((p) => p.id === OPS)?.kind, 'group', 'ops was set as a group');
    assert.deepEqual(rootAdmins(added.after), rootAdmins(added.desired));

    // A role change on the same (entity, principal) is one SetEntityPermissions, not a remove and an add.
    const changed = await change([{ id: 'c1', op: 'replace', from: opsRead, to: { ...opsRead, role: 'View', propagate: false } }]);
    assert.equal(changed.steps.length, 1);
    assert.equal(changed.steps[0]?.op, 'add');
    assert.match(changed.steps[0]?.id ?? '', /^set:/);
    assert.deepEqual(changed.steps[0]?.itemIds, ['c1']);
    assert.deepEqual(shape(grantOf(changed.after, folder, OPS)), { role: 'View', propagate: false, effect: 'allow' });
    assert.deepEqual(shape(grantOf(changed.after, folder, ALICE)), { role: 'Admin', propagate: false, effect: 'allow' }, 'alice\'s permission on the folder is untouched');

    const removed = await change([{ id: 'r1', op: 'remove', grant: { ...opsRead, role: 'View', propagate: false } }]);
    assert.deepEqual(removed.steps.map((s) => [s.op, s.itemIds]), [['remove', ['r1']]]);
    assert.equal(grantOf(removed.after, folder, OPS), undefined);
    assert.deepEqual(shape(grantOf(removed.after, folder, ALICE)), { role: 'Admin', propagate: false, effect: 'allow' });
    assert.deepEqual(shape(grantOf(removed.after, vm, ALICE)), { role: 'View', propagate: false, effect: 'allow' });

    // Exactly alice's permission is left on the folder, with its entity (vcsim keeps what it is sent).
    const client = conn.client;
    const ref = (removed.after.native as { refById: Record<string, { type: string; value: string }> }).refById[folder];
    assert.ok(ref);
    assert.deepEqual(await client.retrieveEntityPermissions(ref, false), [
      { entity: ref, principal: ALICE, group: false, roleId: -1, propagate: false },
    ]);

    // Applying a step again is harmless: the remove finds nothing to remove.
    await conn.apply(removed.steps[0] as (typeof removed.steps)[number], removed.after, removed.after);
    assert.equal(grantOf(await observe(), folder, OPS), undefined);
  });

  test('a permission on the root folder leaves vcsim\'s default administrators in place', async () => {
    const grant: GrantSpec = { principal: ODD, resource: '/', role: 'ReadOnly', propagate: true, effect: 'allow' };
    const before = rootAdmins(await observe());
    const added = await change([{ id: 'x1', op: 'add', grant }]);
    assert.deepEqual(shape(grantOf(added.after, '/', ODD)), { role: 'ReadOnly', propagate: true, effect: 'allow' }, 'a principal with XML metacharacters round-trips');
    assert.deepEqual(rootAdmins(added.after), before);
    // Both of vcsim's `root` permissions (user and group) are still there, not just the one the model keeps.
    const root = await conn.client.retrieveEntityPermissions({ type: 'Folder', value: 'group-d1' }, false);
    assert.deepEqual(root.filter((p) => p.principal === 'root').map((p) => p.group).sort(), [false, true]);
    const removed = await change([{ id: 'x2', op: 'remove', grant }]);
    assert.equal(grantOf(removed.after, '/', ODD), undefined);
    assert.deepEqual(rootAdmins(removed.after), before);
  });

  test('a grant of common privileges creates its ACR_ role on the target first', async () => {
    const vm = '/DC0/vm/DC0_C0_RP0_VM1';
    const { steps, after: model, desired } = await change([
      { id: 'p1', op: 'add', grant: { principal: ALICE, resource: vm, privileges: ['vm.power'], propagate: false, effect: 'allow' } },
    ]);
    const role = grantOf(desired, vm, ALICE)?.role ?? '';
    assert.match(role, /^ACR_[0-9a-f]{10}$/);
    assert.ok(Array.isArray((steps[0]?.native as { createRole?: unknown }).createRole), 'the step carries the role to create');
    assert.equal(grantOf(model, vm, ALICE)?.role, role);
    const onTarget = model.roles.find((r) => r.name === role);
    assert.ok(onTarget?.privileges.includes('VirtualMachine.Interact.PowerOn'));
    // Planning the same change again from the new state is empty (the role exists now).
    assert.deepEqual(conn.plan(model, desired, { backend: 'vsphere', items: [] }), []);
  });

  test('an expired session is logged in again once', async () => {
    const c = connect(sim.url);
    await c.read();
    // What vCenter does to an idle session: the cookie no longer names one.
    Reflect.set(c.client, 'cookie', 'vmware_soap_session="expired"');
    const files = await c.read();
    assert.ok(backend.import(files).grants.length > 0);
    await c.close();
  });

  test('a wrong password is ConnectorError auth, not retried', async () => {
    const bad = connect(sim.url, 'not-the-password');
    const err = await bad.read().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ConnectorError, `expected a ConnectorError, got ${String(err)}`);
    assert.equal(err.kind, 'auth');
    assert.equal(err.transient, false);
    assert.match(err.message, /InvalidLogin/);
    await bad.close(); // never logged in: nothing to log out of
  });

  test('a port nobody listens on is unreachable and transient', async () => {
    const port = await freePort();
    const down = connect(`https://127.0.0.1:${port}/sdk`, PASSWORD, { timeoutMs: 5_000 });
    const err = await down.read().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ConnectorError, `expected a ConnectorError, got ${String(err)}`);
    assert.equal(err.kind, 'unreachable');
    assert.equal(err.transient, true);
    assert.match(err.message, /ECONNREFUSED/);
  });

  test('an untrusted certificate without insecure is unreachable, not retried', async () => {
    const strict = connect(sim.url, PASSWORD, { insecure: false });
    const err = await strict.read().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ConnectorError, `expected a ConnectorError, got ${String(err)}`);
    assert.equal(err.kind, 'unreachable');
    assert.equal(err.transient, false);
    assert.match(err.message, /insecure: true/);
  });

  test('a response over the size bound is too_large', async () => {
    const small = new VimClient({ url: sim.url, insecure: true, maxResponseBytes: 1_000 });
    await assert.rejects(small.serviceContent(), (e: unknown) => e instanceof ConnectorError && e.kind === 'too_large' && !e.transient);
  });

  test('parseConnection keeps the password apart and refuses bad input', () => {
    const parsed = vsphereConnector.parseConnection({ url: 'https://vc.example/sdk', username: 'u', password: 'p' });
    assert.deepEqual(parsed, { connection: { url: 'https://vc.example/sdk', username: 'u', insecure: false, timeoutMs: 60_000 }, secrets: { password: 'p' } });
    for (const bad of [
      { url: 'ftp://vc.example', username: 'u', password: 'p' },
      { url: 'https://vc.example', username: '', password: 'p' },
      { url: 'https://vc.example', username: 'u' },
      { url: 'https://vc.example', username: 'u', password: 'p', extra: 1 },
    ]) {
      assert.throws(() => vsphereConnector.parseConnection(bad), (e: unknown) => e instanceof ConnectorError && e.kind === 'invalid', JSON.stringify(bad));
    }
  });
});

describe('the SOAP client\'s XML', () => {
  test('escapes what it sends and decodes what it reads', () => {
    assert.equal(escapeXml(`a<b>&"c'`), 'a&lt;b&gt;&amp;&quot;c&apos;');
    assert.throws(() => escapeXml('nul\u0000'), XmlError);
    const root = parseXml('<?xml version="1.0"?><!-- c --><s:E xmlns:s="x" a=\'1\'><v xsi:type="xsd:string">&lt;&#65;&#x42;&amp;</v><w><![CDATA[<raw>]]></w><e/></s:E>');
    assert.equal(root.name, 'E');
    assert.equal(root.attrs.a, '1');
    assert.deepEqual(root.children.map((c) => [c.name, c.text]), [['v', '<AB&'], ['w', '<raw>'], ['e', '']]);
  });

  test('refuses DTDs, broken nesting and documents over its bounds', () => {
    assert.throws(() => parseXml('<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'), /DTD/);
    assert.throws(() => parseXml('<a><b></a></b>'), /does not match/);
    assert.throws(() => parseXml('<a>'), /unclosed/);
    assert.throws(() => parseXml('<a>&bogus;</a>'), /unknown entity/);
    assert.throws(() => parseXml(`${'<a>'.repeat(65)}${'</a>'.repeat(65)}`), (e: unknown) => e instanceof XmlError && e.tooLarge);
    assert.throws(() => parseXml(`<a>${'<b/>'.repeat(11)}</a>`, { maxDepth: 64, maxNodes: 10 }), (e: unknown) => e instanceof XmlError && e.tooLarge);
  });
});
