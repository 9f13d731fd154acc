/**
 * `GET /api/changes/:id/blast` (server/http/blast-routes.ts): "does X gain Y on Z", answered from the
 * submitted revision's grouped blast radius. The router is mounted on a small app of its own in front of
 * a real server's commands and users (the same authentication and error handler as the server's).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { blastRouter } from '../../server/http/blast-routes.ts';
import { errorHandler, requireAuth } from '../../server/http/routes.ts';
import type { ReviewView } from '../../server/commands/review-view.ts';
import type { BlastAnswer } from '../../server/domain/access/model.ts';
import { expandBlastGroups } from '../../server/domain/access/blast-groups.ts';
import { apiAs, importProxmox, PROXMOX_CONTENT, submitDraft } from '../helpers/api.ts';
import { startTestServer } from '../helpers/server.ts';

test('GET /changes/:id/blast answers gained, lost or unchanged with the why; revisions store groups and rows', async (t) => {
  const server = await startTestServer();
  const root = await server.user('root', 'admin');
  await importProxmox(server, root);
  const rita = apiAs(server.url, await server.user('rita', 'reviewer'));
  const created = await rita<{ change: ReviewView }>('POST', '/changes', PROXMOX_CONTENT);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.change.id;

  const web = express();
  web.use('/api', requireAuth(server.app.users));
  web.use('/api', blastRouter(server.app.accord));
  web.use(errorHandler(server.app.log));
  const http = web.listen(0, '127.0.0.1');
  t.after(() => new Promise((resolve) => http.close(resolve)));
  await new Promise((resolve) => http.once('listening', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const viewer = apiAs(url, await server.user('vera', 'viewer'));
  const ask = (query: string) => viewer<BlastAnswer & { revision: number; revisionHash: string }>('GET', `/changes/${id}/blast?${query}`);

  assert.equal((await ask('principal=carol@ldap&resource=/vms/300')).status, 404, 'a draft has no submitted revision yet');
  assert.equal((await submitDraft(rita, id)).status, 201);

  const console = await ask('principal=carol%40ldap&resource=%2Fvms%2F300&privilege=VM.Console');
  assert.equal(console.status, 200, JSON.stringify(console.body));
  assert.equal(console.body.answer, 'gained');
  assert.equal(console.body.revision, 1);
  assert.deepEqual(console.body.changes.map((c) => [c.direction, c.privilege, c.highRisk]), [['gained', 'VM.Console', true]]);
  assert.match(console.body.changes[0]!.why, /carol@ldap's role PVEVMUser on \/vms\/300 \(added by item i2\)/);
  assert.equal((await ask('principal=carol@ldap&resource=/vms/300&privilege=vm.console')).body.answer, 'gained', 'common privileges match');
  assert.equal((await ask('principal=carol@ldap&resource=/vms/300&privilege=VM.Audit')).body.answer, 'unchanged', 'she had it through auditors');
  assert.equal((await ask('principal=carol@ldap&resource=/vms/300&privilege=Sys.Audit')).body.answer, 'lost');
  assert.equal((await ask('principal=alice@pve&resource=/vms/300&revision=1')).body.answer, 'unchanged');
  assert.equal((await ask('principal=carol@ldap&resource=/vms/300&revision=2')).status, 404);
  assert.equal((await ask('resource=/vms/300')).status, 400, 'principal is required');
  assert.equal((await viewer('GET', '/changes/no-such-change/blast?principal=a&resource=b')).status, 404);
  assert.equal((await apiAs(url, 'not-a-token')('GET', `/changes/${id}/blast?principal=a&resource=b`)).status, 401);

  // The revision carries both forms: the groups, and (a small change) every row, equal to the groups expanded.
  const full = await apiAs(server.url, root)<{ change: ReviewView }>('GET', `/changes/${id}`);
  const rev = full.body.change.revisions[0]!;
  assert.ok(rev.blastGroups && rev.blastGroups.groups.length > 0);
  assert.equal(rev.blast.truncated, undefined);
  assert.deepEqual(expandBlastGroups(rev.blastGroups), { gained: rev.blast.gained, lost: rev.blast.lost });
  assert.equal(rev.highRisk, true);
});
