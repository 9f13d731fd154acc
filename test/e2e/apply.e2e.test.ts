import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs } from '../helpers/api.ts';
import { currentHash, submitDraft, voteOnCurrent } from '../helpers/api.ts';
import { freePort, startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { ProxmoxFake } from '../fakes/proxmox-api.ts';

const FIXTURE = readFileSync(new URL('../fixtures/proxmox/user.cfg', import.meta.url), 'utf8');
const SECRET = '5d2b6a3e-0c1f-4e8a-9b7d-3f6e2a1c9d04';
const ACCORD_USERS = ['user:accord@pve:1:0:::::', 'token:accord@pve!apply:0:1:Accord connector:'];
const ACCORD_ACL = ['acl:1:/:accord@pve:Administrator:', 'acl:1:/:accord@pve!apply:Administrator:'];
type Api = ReturnType<typeof apiAs>;

describe('probe', () => {
  let server: TestServer;
  let base = '';
  const api: Record<string, Api> = {};
  const authenticator = new SoftAuthenticator();
  const teardown = suiteTeardown();
  let fake: ProxmoxFake;
  before(async () => {
    fake = new ProxmoxFake({ userCfg: `${ACCORD_USERS.join('\n')}\n${FIXTURE}\n${ACCORD_ACL.join('\n')}\n`, tokenSecrets: { 'accord@pve!apply': SECRET } });
    await fake.start();
    teardown.push(() => fake.stop());
    const port = await freePort();
    base = `http://localhost:${port}`;
    server = await startTestServer({ port, publicUrl: base, applyRetryMs: '20,50', expirySweepMs: 200, driftIntervalMs: 0 }, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer'], ['paul', 'approver']] as const) api[name] = apiAs(server.url, await server.user(name, role, 'pass-pass-pass'));
    const options = (await api.paul!('POST', '/passkeys/options')).body as { options: Parameters<SoftAuthenticator['createCredential']>[0] };
    assert.equal((await api.paul!('POST', '/passkeys', { response: authenticator.createCredential(options.options, base) })).status, 201);
  });
  it('applies', async () => {
    const t = await api.root!('POST', '/targets', { name: 'pve1', backend: 'proxmox', url: fake.url, tokenId: 'accord@pve!apply', tokenSecret: SECRET });
    console.log(t.status, JSON.stringify(t.body));
    const r = await api.root!('POST', '/targets/pve1/read');
    console.log(r.status, JSON.stringify(r.body).slice(0, 500));
    const created = await api.rita!('POST', '/changes', { title: 'Carol uses VM 100', justification: 'x', backend: 'proxmox', target: 'pve1', durationHours: 0.01,
      items: [{ id: 'i1', op: 'add', grant: { principal: 'carol@ldap', role: 'PVEVMUser', resource: '/vms/100', propagate: false, effect: 'allow' } }] });
    const id = (created.body as { change: ReviewView }).change.id;
    assert.equal((await submitDraft(api.rita!, id)).status, 201);
    for (const v of ['ana', 'ben']) assert.equal((await voteOnCurrent(api[v]!, id, { choice: 'approve' })).status, 201);
    const revisionHash = await currentHash(api.paul!, id);
    const o = (await api.paul!('POST', `/changes/${id}/signoffs/options`, { revisionHash })).body as { options: Parameters<SoftAuthenticator['getAssertion']>[0] };
    const s = await api.paul!('POST', `/changes/${id}/signoffs`, { response: authenticator.getAssertion(o.options, base), revisionHash });
    assert.equal(s.status, 201, JSON.stringify(s.body));
    const a = await api.root!('POST', `/changes/${id}/apply`, {});
    console.log(a.status);
    for (let i = 0; i < 30; i++) {
      const v = ((await api.ana!('GET', `/changes/${id}`)).body as { change: ReviewView }).change;
      console.log(v.status, JSON.stringify(v.apply));
      if (v.apply && v.apply.state !== 'applying') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    fake.edit((cfg) => { cfg.acl.get('/vms/101')!.users.set('erin@pve', new Map([['PVEVMUser', 0]])); });
    const r2 = await api.root!('POST', '/targets/pve1/read');
    console.log(r2.status, JSON.stringify(r2.body));
    console.log(JSON.stringify((await api.ana!('GET', '/drift')).body));
    console.log(JSON.stringify((await api.ana!('GET', '/targets')).body));
  });
});
