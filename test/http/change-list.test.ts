import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReviewView } from '../../server/commands/review-view.ts';
import type { ChangeSummary } from '../../server/store/repositories/change-repository.ts';
import type { SqliteDatabase } from '../../server/store/sqlite/sqlite-database.ts';
import { BACKFILL_HIGH_RISK } from '../../server/store/sqlite/database.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT, submitDraft } from '../helpers/api.ts';
import { startTestServer } from '../helpers/server.ts';

test('the change list filters by risk, title, requester, status and backend, on the server', async () => {
  const server = await startTestServer();
  const root = await server.user('root', 'admin');
  await importProxmox(server, root);
  const rita = apiAs(server.url, await server.user('rita', 'reviewer'));
  const ana = apiAs(server.url, await server.user('ana', 'reviewer'));
  const create = async (api: typeof rita, content: Record<string, unknown>, submit: boolean) => {
    const created = await api<{ change: ReviewView }>('POST', '/changes', content);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    if (submit) assert.equal((await submitDraft(api, created.body.change.id)).status, 201);
    return created.body.change.id;
  };
  // Console access is high risk; read-only audit access is not.
  const risky = await create(rita, { ...PROXMOX_CONTENT, title: 'Console for on-call (100% urgent)' }, true);
  const calm = await create(ana, {
    ...PROXMOX_CONTENT, title: 'Audit view for the devs',
    items: [{ id: 'i1', op: 'add', grant: { principal: 'devs', privileges: ['vm.view'], resource: '/vms/100', propagate: false, effect: 'allow' } }],
  }, true);
  const draft = await create(rita, { ...PROXMOX_CONTENT, title: 'Console draft, not submitted' }, false);

  const ids = async (query: string) => {
    const res = await ana<{ changes: ChangeSummary[] }>('GET', `/changes${query}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.changes.map((c) => c.id).sort();
  };
  const all = (await ana<{ changes: ChangeSummary[] }>('GET', '/changes')).body.changes;
  assert.deepEqual(Object.fromEntries(all.map((c) => [c.id, c.highRisk])), { [risky]: true, [calm]: false, [draft]: false });

  assert.deepEqual(await ids('?risk=high'), [risky]);
  assert.deepEqual(await ids('?risk=normal'), [calm, draft].sort());
  assert.deepEqual(await ids('?q=console'), [risky, draft].sort(), 'title contains, case-insensitive');
  assert.deepEqual(await ids('?q=100%25'), [risky], '% is matched literally, not as a wildcard');
  assert.deepEqual(await ids('?q=_'), [], '_ is matched literally');
  assert.deepEqual(await ids('?requester=ana'), [calm]);
  assert.deepEqual(await ids('?status=draft&q=console'), [draft]);
  assert.deepEqual(await ids('?backend=vsphere'), []);
  assert.equal((await ana('GET', '/changes?risk=extreme')).status, 400);

  // SQLite's migration that added the column backfills it from stored revisions (PostgreSQL started with it).
  if (server.app.storage.kind === 'sqlite') {
    const raw = (server.app.db as SqliteDatabase).raw;
    raw.exec('UPDATE changes SET high_risk = 0');
    assert.deepEqual(await ids('?risk=high'), []);
    raw.exec(BACKFILL_HIGH_RISK);
    assert.deepEqual(await ids('?risk=high'), [risky]);
  }
});
