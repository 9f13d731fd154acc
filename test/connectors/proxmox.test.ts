/**
 * The Proxmox connector against the fake Proxmox API (test/fakes/proxmox-api.ts): no Proxmox runs here.
 * read → import → model, plan and apply (add, role change, propagate change, privileges via a custom
 * role, remove), re-read, and the error kinds the apply engine relies on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { backend } from '../../server/backends/proxmox/index.ts';
import type { AccessModel, ChangeSet } from '../../server/domain/access/model.ts';
import { ConnectorError } from '../../server/connectors/types.ts';
import { rejectsWith } from './expect.ts';
import type { Connector } from '../../server/connectors/types.ts';
import { proxmoxConnector } from '../../server/connectors/proxmox/connector.ts';
import { ProxmoxFake } from '../fakes/proxmox-api.ts';
import { freePort } from '../helpers/server.ts';

const FIXTURE = readFileSync(new URL('../fixtures/proxmox/user.cfg', import.meta.url), 'utf8');
const SECRET = '5d2b6a3e-0c1f-4e8a-9b7d-3f6e2a1c9d04';
const ACCORD = [
  'user:accord@pve:1:0:::::',
  'token:accord@pve!apply:0:1:Accord connector:',
  'token:accord@pve!viewer:0:1:read only:',
  'acl:1:/:accord@pve:Administrator:',
  'acl:1:/:accord@pve!apply:Administrator:',
  'acl:1:/:accord@pve!viewer:PVEAuditor:',
].join('\n');
/** The fixture with Accord's own user and tokens (users and tokens first, so ACL lines can name them). */
const initialCfg = (): string => `${ACCORD.split('\n').filter((l) => !l.startsWith('acl')).join('\n')}\n${FIXTURE}\n${ACCORD.split('\n').filter((l) => l.startsWith('acl')).join('\n')}\n`;

function open(url: string, tokenId = 'accord@pve!apply', tokenSecret = SECRET, extra: Record<string, unknown> = {}): Connector {
  return proxmoxConnector.open(proxmoxConnector.parseConnection({ url, tokenId, tokenSecret, ...extra }), backend);
}


/** What matters of a grant for comparison: no ids' line numbers. */
const grants = (m: AccessModel): string[] => m.grants.map((g) => `${g.resource} ${g.principal} ${g.role ?? ''} ${g.propagate ? 1 : 0}`).sort();

async function applyAll(c: Connector, observed: AccessModel, change: ChangeSet): Promise<AccessModel> {
  const desired = backend.applyChange(observed, change);
  for (const step of c.plan(observed, desired, change)) await c.apply(step, observed, desired);
  return desired;
}

describe('Proxmox connector against the fake API', () => {
  let fake: ProxmoxFake;
  let url: string;
  before(async () => {
    fake = new ProxmoxFake({ userCfg: initialCfg(), tokenSecrets: { 'accord@pve!apply': SECRET, 'accord@pve!viewer': SECRET } });
    url = await fake.start();
  });
  after(async () => {
    await fake.stop();
    assert.deepEqual(fake.errors, []);
  });

  it('reads a user.cfg that imports to the model of the host\'s own user.cfg', async () => {
    const c = open(url);
    const files = await c.read();
    assert.equal(files.length, 1);
    const viaApi = backend.import(files);
    const onHost = backend.import([{ path: 'user.cfg', text: fake.userCfg() }]);
    assert.deepEqual(grants(viaApi), grants(onHost));
    assert.deepEqual(viaApi.principals, onHost.principals);
    assert.deepEqual(viaApi.roles.map((r) => [r.name, r.privileges]), onHost.roles.map((r) => [r.name, r.privileges]));
    assert.deepEqual(viaApi.native, onHost.native);
    assert.deepEqual(viaApi.warnings, onHost.warnings);
    // The file is what write_user_config writes: the same text, line for line.
    assert.equal(files[0]?.text, fake.userCfg());
    assert.ok(viaApi.grants.some((g) => g.principal === 'alice@pve!ci' && g.resource === '/vms/100' && g.role === 'PVEVMUser'));
    assert.deepEqual(backend.effective(viaApi, { principals: ['bob@pve'] }), backend.effective(onHost, { principals: ['bob@pve'] }));
    await c.close();
  });

  it('plans and applies an add, a role change, a propagate change, a privilege grant and a removal; a re-read shows them', async () => {
    const c = open(url);
    const observed = backend.import(await c.read());
    const change: ChangeSet = {
      backend: 'proxmox',
      items: [
        { id: 'add', op: 'add', grant: { principal: 'carol@ldap', role: 'PVEVMUser', resource: '/vms/100', propagate: false, effect: 'allow' } },
        { id: 'role', op: 'replace', from: { principal: 'alice@pve!ci', role: 'PVEVMUser', resource: '/vms/100', propagate: false, effect: 'allow' }, to: { principal: 'alice@pve!ci', role: 'PVEVMAdmin', resource: '/vms/100', propagate: false, effect: 'allow' } },
        { id: 'prop', op: 'replace', from: { principal: 'bob@pve!backup', role: 'PVEDatastoreUser', resource: '/storage', propagate: true, effect: 'allow' }, to: { principal: 'bob@pve!backup', role: 'PVEDatastoreUser', resource: '/storage', propagate: false, effect: 'allow' } },
        { id: 'privs', op: 'add', grant: { principal: 'ops', privileges: ['vm.console', 'vm.power'], resource: '/vms/101', propagate: true, effect: 'allow' } },
        { id: 'remove', op: 'remove', grant: { principal: 'ops', role: 'VMOperator', resource: '/vms', propagate: true, effect: 'allow' } },
      ],
    };
    const desired = backend.applyChange(observed, change);
    const steps = c.plan(observed, desired, change);
    // role first; the propagate change is one call, not remove + add
    assert.equal(steps[0]?.id.startsWith('role:ACR_'), true, steps.map((s) => s.id).join('\n'));
    assert.equal(steps.filter((s) => s.itemIds.includes('prop')).length, 1);
    assert.equal(steps.length, 7); // role, remove PVEVMUser, remove VMOperator, add carol, add PVEVMAdmin, propagate, add ACR
    for (const step of steps) await c.apply(step, observed, desired);

    const after1 = backend.import(await c.read());
    assert.deepEqual(c.plan(after1, desired, change), [], 'the target holds the approved state');
    assert.deepEqual(grants(after1), grants(desired));
    assert.match(fake.userCfg(), /^acl:0:\/vms\/100:alice@pve!ci:PVEVMAdmin:$/m);
    assert.match(fake.userCfg(), /^acl:0:\/storage:bob@pve!backup:PVEDatastoreUser:$/m);
    assert.match(fake.userCfg(), /^role:ACR_[0-9a-f]{8}:VM.Console,VM.PowerMgmt:$/m);
    assert.doesNotMatch(fake.userCfg(), /^acl:1:\/vms:@ops:VMOperator:$/m);
    // Apply is idempotent: every step again, nothing fails, nothing changes.
    const before2 = fake.userCfg();
    for (const step of steps) await c.apply(step, observed, desired);
    assert.equal(fake.userCfg(), before2);
    // One PUT per ACL step, with delete=1 only for removals.
    const puts = fake.requests.filter((r) => r.method === 'PUT' && r.path === '/access/acl');
    assert.ok(puts.some((r) => r.params.delete === '1' && r.params.groups === 'ops' && r.params.roles === 'VMOperator'));
    assert.ok(puts.some((r) => r.params.tokens === 'bob@pve!backup' && r.params.propagate === '0' && r.params.delete === undefined));
  });

  it('wrong credentials are auth, not transient', async () => {
    await rejectsWith(open(url, 'accord@pve!apply', 'wrong-secret').read(), 'auth', false, /401 Authentication failed!/);
    await rejectsWith(open(url, 'nobody@pve!apply', SECRET).read(), 'auth', false);
  });

  it('a closed port is unreachable and transient; so is a 503 and a timeout', async () => {
    const port = await freePort();
    await rejectsWith(open(`http://127.0.0.1:${port}`).read(), 'unreachable', true, /ECONNREFUSED/);
    fake.failNext = { count: 1, status: 503, message: 'Service Unavailable' };
    await rejectsWith(open(url).read(), 'unreachable', true, /503/);
    const { createServer } = await import('node:net');
    const sockets = new Set<import('node:net').Socket>();
    const silent = createServer((s) => { sockets.add(s); }); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const silentPort = (silent.address() as { port: number }).port;
    try {
      await rejectsWith(open(`http://127.0.0.1:${silentPort}`, undefined, undefined, { timeoutMs: 200 }).read(), 'unreachable', true, /ETIMEDOUT/);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('an unknown role is refused with Proxmox\'s message (500 from the handler, not an outage)', async () => {
    const c = open(url);
    const observed = backend.import(await c.read());
    const change: ChangeSet = { backend: 'proxmox', items: [{ id: 'i1', op: 'add', grant: { principal: 'erin@pve', role: 'VMOperator', resource: '/vms/100', propagate: true, effect: 'allow' } }] };
    const desired = backend.applyChange(observed, change);
    const [step] = c.plan(observed, desired, change);
    assert.ok(step);
    fake.edit((cfg) => { cfg.roles.delete('VMOperator'); }); // drift: the role went away after the read
    await rejectsWith(c.apply(step, observed, desired), 'refused', false, /ACL update failed: role 'VMOperator' does not exist/);
  });

  it('a removal whose member is gone is already done; a bad path is a 400 refusal', async () => {
    const c = open(url);
    const observed = backend.import(await c.read());
    const change: ChangeSet = { backend: 'proxmox', items: [{ id: 'r', op: 'remove', grant: { principal: 'carol@ldap', role: 'PVEVMUser', resource: '/vms/100', propagate: false, effect: 'allow' } }] };
    const desired = backend.applyChange(observed, change);
    const [step] = c.plan(observed, desired, change);
    assert.ok(step);
    fake.edit((cfg) => { cfg.users.delete('carol@ldap'); for (const n of cfg.acl.values()) n.users.delete('carol@ldap'); });
    await c.apply(step, observed, desired);
    const bad = { ...step, native: { kind: 'acl', path: '/nonsense', param: 'users', ugid: 'bob@pve', role: 'PVEVMUser', propagate: true, delete: false } };
    await rejectsWith(c.apply(bad, observed, desired), 'refused', false, /400 Parameter verification failed\. \(path: invalid ACL path '\/nonsense'\)/);
  });

  it('a token without Permissions.Modify is refused (403)', async () => {
    const viewer = open(url, 'accord@pve!viewer');
    const observed = backend.import(await viewer.read()); // PVEAuditor: Sys.Audit everywhere, so the read is whole
    const change: ChangeSet = { backend: 'proxmox', items: [{ id: 'i', op: 'add', grant: { principal: 'bob@pve', role: 'PVEAuditor', resource: '/nodes', propagate: true, effect: 'allow' } }] };
    const desired = backend.applyChange(observed, change);
    const [step] = viewer.plan(observed, desired, change);
    assert.ok(step);
    await rejectsWith(viewer.apply(step, observed, desired), 'refused', false, /403 Permission check failed \(\/nodes, Permissions\.Modify\)/);
  });

  it('a token that cannot see the whole ACL is refused rather than read a partial state', async () => {
    fake.edit((cfg) => {
      cfg.users.get('accord@pve')?.tokens.set('narrow', { privsep: 1, expire: 0 });
      const node = cfg.acl.get('/vms') ?? { users: new Map(), groups: new Map(), tokens: new Map() };
      node.tokens.set('accord@pve!narrow', new Map([['PVEVMAdmin', 1]]));
      cfg.acl.set('/vms', node);
    });
    fake.setTokenSecret('accord@pve!narrow', SECRET);
    await rejectsWith(open(url, 'accord@pve!narrow').read(), 'refused', false, /lacks Sys\.Audit on \/access/);
  });

  it('concurrent writes are serialised by the user.cfg lock: none is lost', async () => {
    const slow = new ProxmoxFake({ userCfg: initialCfg(), tokenSecrets: { 'accord@pve!apply': SECRET }, writeDelayMs: 20 });
    const slowUrl = await slow.start();
    try {
      const c = open(slowUrl);
      const observed = backend.import(await c.read());
      const change: ChangeSet = {
        backend: 'proxmox',
        items: ['bob@pve', 'carol@ldap', 'erin@pve'].map((p, i) => ({ id: `i${i}`, op: 'add' as const, grant: { principal: p, role: 'PVEAuditor', resource: '/nodes', propagate: true, effect: 'allow' as const } })),
      };
      const desired = backend.applyChange(observed, change);
      await Promise.all(c.plan(observed, desired, change).map((s) => c.apply(s, observed, desired)));
      assert.match(slow.userCfg(), /^acl:1:\/nodes:bob@pve,carol@ldap,erin@pve:PVEAuditor:$/m);
    } finally {
      await slow.stop();
    }
  });

  it('a response over 20 MB is too_large', async () => {
    fake.padResponses = 21 * 1024 * 1024;
    try {
      await rejectsWith(open(url).read(), 'too_large', false);
    } finally {
      fake.padResponses = 0;
    }
  });

  it('parseConnection keeps the secret apart and refuses bad input', () => {
    const parsed = proxmoxConnector.parseConnection({ url: 'https://pve1.example:8006/api2/json/', tokenId: 'accord@pve!apply', tokenSecret: SECRET, insecure: true });
    assert.deepEqual(parsed, { connection: { url: 'https://pve1.example:8006', tokenId: 'accord@pve!apply', insecure: true }, secrets: { tokenSecret: SECRET } });
    for (const bad of [
      { url: 'ftp://x', tokenId: 'a@pve!t', tokenSecret: 's' },
      { url: 'https://x', tokenId: 'a@pve', tokenSecret: 's' },
      { url: 'https://x', tokenId: 'a@pve!t', tokenSecret: 'has space' },
      { url: 'https://x', tokenId: 'a@pve!t', tokenSecret: 's', password: 'p' },
    ]) {
      assert.throws(() => proxmoxConnector.parseConnection(bad), (e: unknown) => e instanceof ConnectorError && e.kind === 'invalid');
    }
  });
});
