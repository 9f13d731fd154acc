import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT, submitDraft, voteOnCurrent } from '../helpers/api.ts';
import { startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';

describe('stored policies select and decide live', () => {
  let server: TestServer;
  const api: Record<string, ReturnType<typeof apiAs>> = {};
  const teardown = suiteTeardown();
  before(async () => {
    server = await startTestServer({}, (fn) => teardown.push(fn));
    for (const [name, role, groups] of [['root', 'admin', []], ['rita', 'reviewer', []], ['ana', 'reviewer', []], ['ben', 'reviewer', []], ['sec', 'reviewer', ['security']]] as const) {
      api[name] = apiAs(server.url, await server.user(name, role));
      if (groups.length) await server.app.users.addToGroups((await server.app.users.userId(name))!, groups);
    }
    await importProxmox(server, (await server.user('importer', 'admin')));
  });

  it('only admins write policies, and a policy with a mistake is refused with its path and line', async () => {
    const yaml = readFileSync('examples/policies/prod-security.yaml', 'utf8');
    assert.equal((await api.rita!('PUT', '/policies/prod-security', { yaml })).status, 403);
    const broken = await api.root!('PUT', '/policies/prod-security', { yaml: yaml.replace('approvals: 1', 'aprovals: 1') });
    assert.equal(broken.status, 400);
    assert.match(broken.body.error!.message, /aprovals/);
    assert.match(broken.body.error!.message, /:\d+/, 'names the line');
    const misnamed = await api.root!('PUT', '/policies/other-name', { yaml });
    assert.equal(misnamed.status, 400);
    assert.equal((await api.root!('PUT', '/policies/prod-security', { yaml })).status, 204);
  });

  it('a prod change is governed by the prod policy: two reviewers are not enough without security', async () => {
    const created = await api.rita!('POST', '/changes', { ...PROXMOX_CONTENT, environment: ['prod'] });
    const id = (created.body as { change: ReviewView }).change.id;
    assert.equal((await submitDraft(api.rita!, id)).status, 201);
    assert.equal((await voteOnCurrent(api.ana!, id, { choice: 'approve' })).status, 201);
    assert.equal((await voteOnCurrent(api.ben!, id, { choice: 'approve' })).status, 201);
    let view = ((await api.rita!('GET', `/changes/${id}`)).body as { change: ReviewView }).change;
    assert.equal(view.policy, 'prod-security');
    assert.equal(view.status, 'in_review');
    const unmet = view.evaluation!.requirements.filter((r) => !r.met);
    assert.ok(unmet.some((r) => /security/.test(r.why)), JSON.stringify(unmet));
    assert.equal((await voteOnCurrent(api.sec!, id, { choice: 'approve' })).status, 201);
    view = ((await api.rita!('GET', `/changes/${id}`)).body as { change: ReviewView }).change;
    assert.equal(view.status, 'approved', JSON.stringify(view.evaluation));
  });

  it('a staging change stays on the default policy', async () => {
    const created = await api.rita!('POST', '/changes', { ...PROXMOX_CONTENT, environment: ['staging'] });
    const id = (created.body as { change: ReviewView }).change.id;
    assert.equal((await submitDraft(api.rita!, id)).status, 201);
    const view = ((await api.rita!('GET', `/changes/${id}`)).body as { change: ReviewView }).change;
    assert.equal(view.policy, 'default');
  });
});

describe('preview', () => {
  it('renders and measures a change set without writing anything, and refuses unknown principals', async () => {
    const server = await startTestServer();
    const api = apiAs(server.url, await server.user('prev', 'viewer'));
    await importProxmox(server, await server.user('adm', 'admin'));
    const count = async () => Number((await server.app.db.get<{ n: number }>('SELECT (SELECT count(*) FROM changes) + (SELECT count(*) FROM documents) + (SELECT count(*) FROM audit_log) AS n'))!.n);
    const before = await count();
    const ok = await api('POST', '/preview', { backend: 'proxmox', items: PROXMOX_CONTENT.items });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const body = ok.body as { rendered: { text: string }; blast: { gained: { principal: string }[] }; highRisk: boolean };
    assert.match(body.rendered.text, /pveum acl modify \/vms\/100/);
    assert.ok(body.blast.gained.some((r) => r.principal === 'carol@ldap'));
    assert.equal(body.highRisk, true);
    const bad = await api('POST', '/preview', { backend: 'proxmox', items: [{ id: 'x', op: 'add', grant: { principal: 'nobody@pve', role: 'PVEVMUser', resource: '/vms/100' } }] });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error!.message, /nobody@pve/);
    assert.equal(await count(), before, 'a preview writes nothing');
  });
});
