/**
 * The XAPI connector against the fake xapi JSON-RPC server (test/fakes/xapi-server.ts): no xapi runs here.
 * read → import → model, plan and apply (a new subject, a role change, a removal), re-read, and the error
 * kinds, including xapi's non-idempotent add_to_roles / remove_from_roles.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { backend } from '../../server/backends/xapi/index.ts';
import type { AccessModel, ChangeSet, NativeFile } from '../../server/domain/access/model.ts';
import { ConnectorError } from '../../server/connectors/types.ts';
import { rejectsWith } from './expect.ts';
import type { Connector } from '../../server/connectors/types.ts';
import { xapiConnector } from '../../server/connectors/xapi/connector.ts';
import { XapiFake } from '../fakes/xapi-server.ts';
import { freePort } from '../helpers/server.ts';

const PASSWORD = 'xenroot';
/** AD membership is not in xapi: the reviewer supplies it (docs/backends/xapi.md); carol is no subject yet. */
const MEMBERSHIP: NativeFile = {
  path: 'membership.json',
  text: JSON.stringify({ format: 'accord-xapi-membership/1', groups: { 'CORP\\xen-ops': ['CORP\\alice', 'CORP\\carol'] } }),
};

function open(url: string, username = 'root', password = PASSWORD): Connector {
  return xapiConnector.open(xapiConnector.parseConnection({ url, username, password }), backend);
}


const grants = (m: AccessModel): string[] => m.grants.map((g) => `${g.principal} ${g.role ?? ''}`).sort();

describe('XAPI connector against the fake xapi', () => {
  let fake: XapiFake;
  let url: string;
  before(async () => {
    fake = new XapiFake({ accounts: { root: PASSWORD, auditor: 'audit' }, readOnlyAccounts: ['auditor'], poolName: 'xen-prod' });
    fake.addSubject('CORP\\alice', ['vm-operator'], { 'subject-upn': 'alice@corp.example' });
    fake.addSubject('CORP\\xen-ops', ['pool-operator'], { 'subject-is-group': 'true' });
    fake.addSubject('CORP\\bob', ['vm-power-admin']);
    fake.addDirectoryUser('CORP\\carol');
    url = await fake.start();
  });
  after(async () => {
    await fake.stop();
    assert.deepEqual(fake.errors, []);
  });

  it('reads xe subject-list, role-list and pool-list text that imports to the model', async () => {
    const c = open(url);
    const files = await c.read();
    assert.deepEqual(files.map((f) => f.path), ['subject-list.txt', 'role-list.txt', 'pool-list.txt']);
    const model = backend.import([...files, MEMBERSHIP]);
    assert.deepEqual(model.warnings, []);
    assert.deepEqual(grants(model), ['CORP\\alice vm-operator', 'CORP\\bob vm-power-admin', 'CORP\\xen-ops pool-operator']);
    assert.equal(model.principals.find((p) => p.id === 'CORP\\xen-ops')?.kind, 'group');
    assert.equal(model.resources.find((r) => r.id === 'pool')?.name, 'xen-prod');
    assert.ok(model.roles.find((r) => r.name === 'pool-admin')?.provenance?.apiId, 'role uuids come from role.get_all_records');
    assert.match(files[0]?.text ?? '', /^\s*roles \(SRO\): vm-operator$/m);
    await c.close();
    assert.equal(fake.sessionCount, 0, 'close logs out');
  });

  it('plans and applies a new subject, a role change and a removal; a re-read shows them', async () => {
    const c = open(url);
    const observed = backend.import([...await c.read(), MEMBERSHIP]);
    const change: ChangeSet = {
      backend: 'xapi',
      items: [
        { id: 'add', op: 'add', grant: { principal: 'CORP\\carol', role: 'vm-admin', resource: 'pool', propagate: true, effect: 'allow' } },
        { id: 'role', op: 'replace', from: { principal: 'CORP\\alice', role: 'vm-operator', resource: 'pool', propagate: true, effect: 'allow' }, to: { principal: 'CORP\\alice', role: 'vm-admin', resource: 'pool', propagate: true, effect: 'allow' } },
        { id: 'remove', op: 'remove', grant: { principal: 'CORP\\bob', role: 'vm-power-admin', resource: 'pool', propagate: true, effect: 'allow' } },
      ],
    };
    const desired = backend.applyChange(observed, change);
    const steps = c.plan(observed, desired, change);
    assert.equal(steps.length, 4);
    for (const step of steps) await c.apply(step, observed, desired);
    assert.deepEqual(fake.rolesOf('CORP\\carol'), ['vm-admin']);
    assert.deepEqual(fake.rolesOf('CORP\\alice'), ['vm-admin']);
    assert.deepEqual(fake.rolesOf('CORP\\bob'), []);
    assert.ok(fake.calls.some((x) => x.method === 'auth.get_subject_identifier'), 'carol was resolved in the directory');
    assert.ok(fake.calls.some((x) => x.method === 'subject.create' && !x.error));

    const reread = backend.import([...await c.read(), MEMBERSHIP]);
    assert.deepEqual(c.plan(reread, desired, change), [], 'the target holds the approved state');
    assert.deepEqual(grants(reread), grants(desired));

    // Every step again: add_to_roles answers ROLE_ALREADY_EXISTS, remove_from_roles ROLE_NOT_FOUND; the apply does not fail.
    const before2 = fake.calls.length;
    for (const step of steps) await c.apply(step, observed, desired);
    const errors = fake.calls.slice(before2).map((x) => x.error).filter(Boolean);
    assert.deepEqual(errors.sort(), ['ROLE_ALREADY_EXISTS', 'ROLE_ALREADY_EXISTS', 'ROLE_NOT_FOUND', 'ROLE_NOT_FOUND']);
    assert.equal(fake.subjects.size, 4, 'no second subject for carol');
    await c.close();
  });

  it('add_to_roles on a role granted meanwhile (by someone else) does not fail the apply', async () => {
    const c = open(url);
    const observed = backend.import([...await c.read(), MEMBERSHIP]);
    const change: ChangeSet = { backend: 'xapi', items: [{ id: 'i', op: 'add', grant: { principal: 'CORP\\bob', role: 'read-only', resource: 'pool', propagate: true, effect: 'allow' } }] };
    const desired = backend.applyChange(observed, change);
    const [step] = c.plan(observed, desired, change);
    assert.ok(step);
    const bob = fake.subjectByName('CORP\\bob');
    assert.ok(bob);
    bob[1].roles.push(fake.roleRef('read-only')); // drift
    await c.apply(step, observed, desired);
    assert.deepEqual(fake.rolesOf('CORP\\bob'), ['read-only']);
    assert.equal(fake.calls.at(-1)?.error, 'ROLE_ALREADY_EXISTS');
    await c.close();
  });

  it('a dropped session is renewed once', async () => {
    const c = open(url);
    await c.read();
    fake.dropSessions();
    const files = await c.read();
    assert.ok(files[0]?.text.includes('CORP\\bob'));
    await c.close();
  });

  it('wrong credentials are auth, not transient', async () => {
    await rejectsWith(open(url, 'root', 'wrong').read(), 'auth', false, /SESSION_AUTHENTICATION_FAILED \["root","Authentication failure"\]/);
  });

  it('a closed port and a 502 are unreachable and transient', async () => {
    const port = await freePort();
    await rejectsWith(open(`http://127.0.0.1:${port}`).read(), 'unreachable', true, /ECONNREFUSED/);
    fake.failNext = { count: 1, status: 502 };
    await rejectsWith(open(url).read(), 'unreachable', true, /HTTP 502/);
  });

  it('an account without pool-admin is refused (RBAC_PERMISSION_DENIED)', async () => {
    const c = open(url, 'auditor', 'audit');
    const observed = backend.import([...await c.read(), MEMBERSHIP]);
    const change: ChangeSet = { backend: 'xapi', items: [{ id: 'i', op: 'add', grant: { principal: 'CORP\\alice', role: 'read-only', resource: 'pool', propagate: true, effect: 'allow' } }] };
    const desired = backend.applyChange(observed, change);
    const [step] = c.plan(observed, desired, change);
    assert.ok(step);
    await rejectsWith(c.apply(step, observed, desired), 'refused', false, /RBAC_PERMISSION_DENIED/);
    await c.close();
  });

  it('a subject the directory no longer knows is refused (SUBJECT_CANNOT_BE_RESOLVED); a removal for a vanished subject is done', async () => {
    const c = open(url);
    const observed = backend.import([...await c.read(), MEMBERSHIP]);
    const change: ChangeSet = {
      backend: 'xapi',
      items: [
        { id: 'add', op: 'add', grant: { principal: 'CORP\\xen-ops', role: 'read-only', resource: 'pool', propagate: true, effect: 'allow' } },
        { id: 'rm', op: 'remove', grant: { principal: 'CORP\\xen-ops', role: 'pool-operator', resource: 'pool', propagate: true, effect: 'allow' } },
      ],
    };
    const desired = backend.applyChange(observed, change);
    const steps = c.plan(observed, desired, change);
    const ops = fake.subjectByName('CORP\\xen-ops');
    assert.ok(ops);
    fake.subjects.delete(ops[0]); // removed from the pool and from AD after the read
    fake.directory.delete('CORP\\xen-ops');
    const remove = steps.find((s) => s.op === 'remove');
    const add = steps.find((s) => s.op === 'add');
    assert.ok(remove && add);
    await c.apply(remove, observed, desired);
    await rejectsWith(c.apply(add, observed, desired), 'refused', false, /SUBJECT_CANNOT_BE_RESOLVED/);
    await c.close();
  });

  it('parseConnection keeps the password apart and refuses bad input', () => {
    assert.deepEqual(xapiConnector.parseConnection({ url: 'https://xen1.example/jsonrpc', username: 'root', password: 'p' }), {
      connection: { url: 'https://xen1.example', username: 'root' }, secrets: { password: 'p' },
    });
    for (const bad of [{ url: 'https://x', username: 'root' }, { url: 'x', username: 'root', password: 'p' }, { url: 'https://x', username: 'root', password: 'p', token: 't' }]) {
      assert.throws(() => xapiConnector.parseConnection(bad), (e: unknown) => e instanceof ConnectorError && e.kind === 'invalid');
    }
  });
});
