/**
 * Closing the loop through the server for vSphere (the real vcsim), Proxmox and XAPI (in-repo fakes of their
 * APIs): connect → read → submit → approve → sign off → Apply → verified; a grant with a 2-second duration is
 * revoked on time and verified gone; drift injected straight into the target is found; wrong credentials and
 * unreachable targets end in a clear state; a retried transient failure still applies once.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { PROXMOX_CONTENT } from '../helpers/api.ts';
import { REVIEW_ORIGIN, reviewTeam, settledApply, type ReviewTeam } from '../helpers/approve.ts';
import { connect, connected, freePort, startTestServer, suiteTeardown, until, type TestServer } from '../helpers/server.ts';
import { startVcsim, stopVcsim } from '../helpers/vcsim.ts';
import { ProxmoxFake } from '../fakes/proxmox-api.ts';
import { PVE_SECRET, pveUserCfg } from './pve-fixture.ts';
import { XapiFake } from '../fakes/xapi-server.ts';

const FAST = { publicUrl: REVIEW_ORIGIN, applyRetryMs: '20,50', expirySweepMs: 200, driftIntervalMs: 0 } as const;

/** Waits until the change's first live grant left `active`; returns the view. */
async function grantSettled(team: ReviewTeam, id: string, notAfter: string): Promise<ReviewView> {
  const deadline = Date.parse(notAfter) + 10_000;
  for (;;) {
    const v = await team.view(id);
    if (v.apply!.grants[0]!.state !== 'active' || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- Proxmox ----

describe('Proxmox VE through the fake API (test/fakes/proxmox-api.ts)', () => {
  let fake: ProxmoxFake;
  let team: ReviewTeam;
  let server: TestServer;
  const teardown = suiteTeardown();

  before(async () => {
    fake = new ProxmoxFake({ userCfg: pveUserCfg(), tokenSecrets: { 'accord@pve!apply': PVE_SECRET } });
    await fake.start();
    teardown.push(async () => {
      await fake.stop();
      assert.deepEqual(fake.errors, []);
    });
    server = await startTestServer(FAST, (fn) => teardown.push(fn));
    team = await reviewTeam(server);
    const created = await team.api.root('POST', '/targets', { name: 'pve1', backend: 'proxmox', url: fake.url, tokenId: 'accord@pve!apply', tokenSecret: PVE_SECRET });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.ok(!JSON.stringify(created.body).includes(PVE_SECRET), 'the secret is never sent back');
    assert.deepEqual((created.body as { target: { secretFields: string[] } }).target.secretFields, ['tokenSecret']);
    assert.equal((await team.api.root('POST', '/targets/pve1/read')).status, 200);
  });

  it('applies and verifies; a transient 503 on the way is retried and the grants land once', async () => {
    const id = await team.approved({ ...PROXMOX_CONTENT, target: 'pve1' });
    fake.failNext = { count: 2, status: 503, message: 'proxy: upstream busy' };
    const view = await team.applied(id);
    assert.equal(view.apply!.state, 'verified', JSON.stringify(view.apply));
    assert.equal(view.status, 'applied');
    assert.deepEqual(view.apply!.items.map((i) => i.state), ["applied", "applied"], JSON.stringify(view.apply!.steps));
    const cfg = fake.userCfg();
    assert.match(cfg, /^acl:0:\/vms\/100:.*@devs:.*$/m);
    assert.match(cfg, /^acl:1:\/vms\/300:carol@ldap:PVEVMUser:$/m);
    const puts = fake.requests.filter((r) => r.method === 'PUT' && r.path === '/access/acl' && r.status === 200);
    assert.equal(new Set(puts.map((r) => JSON.stringify(r.params))).size, puts.length, 'no grant was written twice');
    // The next review sees what the target holds: the inventory was imported from it.
    const inv = await team.api.vic('GET', '/inventories/proxmox');
    assert.equal(inv.status, 200);
  });

  it('plans again when the target changes between the plan and the first step, and never writes over it', async () => {
    let aclReads = 0;
    fake.onRequest = (method, path) => {
      // The second read of the ACL is Accord's check just before the first step: change the target first.
      if (method === 'GET' && path === '/access/acl' && ++aclReads === 2) {
        fake.edit((cfg) => {
          const node = cfg.acl.get('/vms/101') ?? { users: new Map(), groups: new Map(), tokens: new Map() };
          node.users.set('erin@pve', new Map([['PVEAuditor', 0]]));
          cfg.acl.set('/vms/101', node);
        });
      }
    };
    try {
      const id = await team.approved({
        title: 'Carol audits VM 101', justification: 'audit', backend: 'proxmox', target: 'pve1',
        items: [{ id: 'r1', op: 'add', grant: { principal: 'carol@ldap', role: 'PVEAuditor', resource: '/vms/101', propagate: false, effect: 'allow' } }],
      });
      const view = await team.applied(id);
      assert.equal(view.apply!.state, 'verified', JSON.stringify(view.apply));
      assert.ok(view.apply!.warnings.some((w) => /re-planned 1 time/.test(w)), JSON.stringify(view.apply!.warnings));
      assert.ok(aclReads >= 4, `plan, check, plan again, check again: ${aclReads} reads`);
      assert.match(fake.userCfg(), /^acl:0:\/vms\/101:[^:]*\berin@pve\b[^:]*:PVEAuditor:$/m, 'the change made meanwhile is still there');
      assert.match(fake.userCfg(), /^acl:0:\/vms\/101:[^:]*\bcarol@ldap\b[^:]*:PVEAuditor:$/m);
    } finally {
      fake.onRequest = undefined;
    }
    // What appeared meanwhile was not Accord's doing: it is drift.
    const read = (await team.api.root('POST', '/targets/pve1/read')).body as { opened: { detail: { summary: string } }[] };
    assert.ok(read.opened.some((f) => /erin@pve on \/vms\/101/.test(f.detail.summary)), JSON.stringify(read.opened));
    for (const f of read.opened) assert.equal((await team.api.root('POST', `/drift/${(f as unknown as { id: string }).id}/adopt`)).status, 200);
  });

  it('a policy with apply: auto applies the change as soon as it is signed off', async () => {
    const yaml = 'name: auto-pve\nselect:\n  backend: proxmox\n  environment: [lab]\nclasses:\n  reviewers:\n    role: reviewer\nrequire:\n  class: reviewers\n  approvals: 2\napply: auto\n';
    assert.equal((await team.api.root('PUT', '/policies/auto-pve', { yaml })).status, 204);
    const id = await team.approved({
      title: 'Erin audits /vms/300 in the lab', justification: 'lab', backend: 'proxmox', target: 'pve1', environment: ['lab'],
      items: [{ id: 'e1', op: 'add', grant: { principal: 'erin@pve', role: 'PVEAuditor', resource: '/vms/300', propagate: false, effect: 'allow' } }],
    });
    const view = await settledApply(team.view, id);
    assert.equal(view.policy, 'auto-pve');
    assert.equal(view.apply!.state, 'verified', JSON.stringify(view.apply));
    assert.equal(view.apply!.startedBy, 'accord', 'started by Accord, nobody pressed Apply');
    assert.match(fake.userCfg(), /^acl:0:\/vms\/300:[^:]*\berin@pve\b[^:]*:PVEAuditor:$/m);
  });

  it('revokes a grant with a 2-second duration on time, and the target no longer has it', async () => {
    const id = await team.approved({
      title: 'Bob audits /vms/300 for two seconds', justification: 'a short look', backend: 'proxmox', target: 'pve1', durationHours: 2 / 3600,
      items: [{ id: 't1', op: 'add', grant: { principal: 'bob@pve', role: 'PVEAuditor', resource: '/vms/300', propagate: false, effect: 'allow' } }],
    });
    const view = await team.applied(id);
    assert.equal(view.apply!.state, 'verified', JSON.stringify(view.apply));
    const notAfter = view.apply!.grants[0]!.notAfter!;
    assert.ok(Date.parse(notAfter) - Date.parse(view.apply!.startedAt) <= 2_500, `ends two seconds after the apply: ${notAfter}`);
    const bobLine = /^acl:0:\/vms\/300:[^:]*\bbob@pve\b[^:]*:PVEAuditor:$/m;
    assert.match(fake.userCfg(), bobLine);
    const settled = await grantSettled(team, id, notAfter);
    assert.equal(settled.apply!.grants[0]!.state, 'revoked', JSON.stringify(settled.apply!.grants));
    assert.ok(Date.parse(settled.apply!.grants[0]!.revokedAt!) >= Date.parse(notAfter), 'not before its time');
    assert.doesNotMatch(fake.userCfg(), bobLine);
    // The revocation is not drift: the baseline moved with it.
    const read = (await team.api.root('POST', '/targets/pve1/read')).body as { opened: unknown[] };
    assert.deepEqual(read.opened, []);
  });

  it('finds drift injected straight into user.cfg, and tells connected clients live', async () => {
    const socket = connect(server.url, team.tokens.vic);
    await connected(socket);
    const told: string[] = [];
    socket.on('drift:changed', (d) => told.push(d.target));
    fake.edit((cfg) => {
      const node = cfg.acl.get('/vms/100') ?? { users: new Map(), groups: new Map(), tokens: new Map() };
      node.users.set('bob@pve', new Map([['Administrator', 1]]));
      cfg.acl.set('/vms/100', node);
    });
    const read = await team.api.root('POST', '/targets/pve1/read');
    assert.equal(read.status, 200, JSON.stringify(read.body));
    const opened = (read.body as { opened: { kind: string; detail: { summary: string } }[] }).opened;
    assert.equal(opened.length, 1, JSON.stringify(opened));
    assert.equal(opened[0]!.kind, 'added');
    assert.match(opened[0]!.detail.summary, /Administrator for bob@pve on \/vms\/100/);
    await until(() => told.length === 1, 'a viewer\'s connection hears the drift changed');
    assert.equal((await team.api.root('POST', `/drift/${(opened[0] as unknown as { id: string }).id}/adopt`)).status, 200);
    await until(() => told.length === 2, 'and again when it is adopted');
    assert.deepEqual(told, ['pve1', 'pve1']);
  });

  it('wrong credentials and an unreachable API end the apply with a clear reason', async () => {
    for (const [name, extra] of [['pve-badkey', { url: fake.url, tokenSecret: 'not-the-secret' }], ['pve-down', { url: `http://127.0.0.1:${await freePort()}`, tokenSecret: PVE_SECRET, timeoutMs: 2_000 }]] as const) {
      assert.equal((await team.api.root('POST', '/targets', { name, backend: 'proxmox', tokenId: 'accord@pve!apply', ...extra })).status, 201);
      const id = await team.approved({ ...PROXMOX_CONTENT, title: `Through ${name}`, target: name });
      const view = await team.applied(id);
      assert.equal(view.apply!.state, 'apply_failed', JSON.stringify(view.apply));
      assert.equal(view.status, 'apply_failed');
      assert.match(view.apply!.error!, name === 'pve-badkey' ? /^auth: / : /^unreachable: /);
    }
  });
});

// ---- vSphere ----

describe('VMware vSphere through the real vcsim', () => {
  let team: ReviewTeam;
  const teardown = suiteTeardown();
  const OPS = 'VSPHERE.LOCAL\\ops';
  const ALICE = 'VSPHERE.LOCAL\\alice';

  before(async () => {
    const sim = await startVcsim('accord', 'vc-secret');
    teardown.push(() => stopVcsim(sim));
    const dir = mkdtempSync(join(tmpdir(), 'accord-vc-'));
    teardown.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'groups.json'), JSON.stringify({ groups: { [OPS]: [ALICE] } }));
    const server = await startTestServer(FAST, (fn) => teardown.push(fn));
    team = await reviewTeam(server);
    const created = await team.api.root('POST', '/targets', { name: 'vc1', backend: 'vsphere', url: sim.url, username: 'accord', password: 'vc-secret', insecure: true, membershipFile: join(dir, 'groups.json') });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const read = await team.api.root('POST', '/targets/vc1/read');
    assert.equal(read.status, 200, JSON.stringify(read.body));
  });

  it('applies a permission and verifies it; a 2-second one is removed on time', async () => {
    const id = await team.approved({
      title: 'Ops read the VM folder', justification: 'monitoring', backend: 'vsphere',
      items: [{ id: 'v1', op: 'add', grant: { principal: OPS, role: 'ReadOnly', resource: '/DC0/vm', propagate: true, effect: 'allow' } }],
    });
    const view = await team.applied(id);
    assert.equal(view.apply!.state, 'verified', JSON.stringify(view.apply));
    const brief = await team.approved({
      title: 'Alice is admin of the VM folder briefly', justification: 'migration', backend: 'vsphere', durationHours: 2 / 3600,
      items: [{ id: 'v2', op: 'add', grant: { principal: ALICE, role: 'Admin', resource: '/DC0/vm', propagate: false, effect: 'allow' } }],
    });
    const briefView = await team.applied(brief);
    assert.equal(briefView.apply!.state, 'verified', JSON.stringify(briefView.apply));
    const settled = await grantSettled(team, brief, briefView.apply!.grants[0]!.notAfter!);
    assert.equal(settled.apply!.grants[0]!.state, 'revoked', JSON.stringify(settled.apply!.grants));
    // Read back from vcsim: ops' permission stays, alice's is gone.
    const inv = (await team.api.root('POST', '/targets/vc1/read')).body as { opened: unknown[] };
    assert.deepEqual(inv.opened, [], 'nothing outside Accord');
    const model = (await team.api.vic('GET', '/inventories/vsphere')).body as { grants?: { principal: string; resource: string }[] };
    if (model.grants) {
      assert.ok(model.grants.some((g) => g.principal === OPS && g.resource === '/DC0/vm'));
      assert.ok(!model.grants.some((g) => g.principal === ALICE && g.resource === '/DC0/vm'));
    }
  });

  it('a wrong password fails the apply as auth, without retries', async () => {
    assert.equal((await team.api.root('POST', '/targets', { name: 'vc-bad', backend: 'vsphere', url: 'https://127.0.0.1:1/sdk', username: 'accord', password: 'x', insecure: true, timeoutMs: 2_000 })).status, 201);
    const id = await team.approved({
      title: 'Through a target that is down', justification: 'x', backend: 'vsphere', target: 'vc-bad',
      items: [{ id: 'v3', op: 'add', grant: { principal: OPS, role: 'ReadOnly', resource: '/DC0/host', propagate: true, effect: 'allow' } }],
    });
    const view = await team.applied(id);
    assert.equal(view.apply!.state, 'apply_failed');
    assert.match(view.apply!.error!, /^unreachable: /);
  });
});

// ---- XAPI ----

describe('Xen XAPI through the fake xapi (test/fakes/xapi-server.ts)', () => {
  let team: ReviewTeam;
  let fake: XapiFake;
  const teardown = suiteTeardown();

  before(async () => {
    fake = new XapiFake({ accounts: { root: 'xenroot' }, poolName: 'xen-prod' });
    fake.addSubject('CORP\\alice', ['vm-operator']);
    fake.addSubject('CORP\\xen-ops', ['pool-operator'], { 'subject-is-group': 'true' });
    fake.addDirectoryUser('CORP\\carol');
    await fake.start();
    teardown.push(async () => {
      await fake.stop();
      assert.deepEqual(fake.errors, []);
    });
    const dir = mkdtempSync(join(tmpdir(), 'accord-xen-'));
    teardown.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'membership.json'), JSON.stringify({ format: 'accord-xapi-membership/1', groups: { 'CORP\\xen-ops': ['CORP\\alice', 'CORP\\carol'] } }));
    const server = await startTestServer(FAST, (fn) => teardown.push(fn));
    team = await reviewTeam(server);
    const created = await team.api.root('POST', '/targets', { name: 'xen1', backend: 'xapi', url: fake.url, username: 'root', password: 'xenroot', membershipFile: join(dir, 'membership.json') });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await team.api.root('POST', '/targets/xen1/read')).status, 200);
  });

  it('changes a subject\'s role and verifies it; the role is taken back after two seconds', async () => {
    const id = await team.approved({
      title: 'Alice becomes vm-admin briefly', justification: 'patching', backend: 'xapi', durationHours: 2 / 3600,
      items: [{ id: 'x1', op: 'replace', from: { principal: 'CORP\\alice', role: 'vm-operator', resource: 'pool', propagate: false, effect: 'allow' }, to: { principal: 'CORP\\alice', role: 'vm-admin', resource: 'pool', propagate: false, effect: 'allow' } }],
    });
    const view = await team.applied(id);
    assert.equal(view.apply!.state, 'verified', JSON.stringify(view.apply));
    assert.deepEqual(fake.rolesOf('CORP\\alice'), ['vm-admin']);
    const settled = await grantSettled(team, id, view.apply!.grants[0]!.notAfter!);
    assert.equal(settled.apply!.grants[0]!.state, 'revoked', JSON.stringify(settled.apply!.grants));
    assert.deepEqual(fake.rolesOf('CORP\\alice'), [], 'the granted role is gone (the replaced one is not restored: an extension or a return is a new request)');
  });
});
