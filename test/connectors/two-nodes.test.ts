/**
 * Two Accord nodes on one PostgreSQL database: background work runs once. Both nodes sweep for expired
 * grants every 100 ms; a grant with a 2-second duration is revoked exactly once (one removal reaches the
 * target, one `grant.revoke` audit entry), by whichever node holds the sweeper's lease.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVER_KEY_FILE } from '../../server/audit/server-key.ts';
import { TARGET_KEY_FILE } from '../../server/connectors/secrets.ts';
import { REVIEW_ORIGIN, reviewTeam } from '../helpers/approve.ts';
import { freshSchema, PG_URL } from '../helpers/databases.ts';
import { startTestServer, tempDir } from '../helpers/server.ts';
import { ProxmoxFake } from '../fakes/proxmox-api.ts';
import { PVE_SECRET, pveUserCfg } from './pve-fixture.ts';

it('two nodes on one database revoke an expired grant once', async (t) => {
  const fake = new ProxmoxFake({ userCfg: pveUserCfg(), tokenSecrets: { 'accord@pve!apply': PVE_SECRET } });
  await fake.start();
  t.after(() => fake.stop());
  const schema = await freshSchema();
  const shared = { databaseUrl: PG_URL, databaseSchema: schema, publicUrl: REVIEW_ORIGIN, applyRetryMs: '20', expirySweepMs: 100, driftIntervalMs: 0 };
  const a = await startTestServer(shared);
  // The second node shares the database, and the first node's keys (docs/operations.md: copy them to every node).
  const dirB = tempDir();
  copyFileSync(join(a.dataDir, TARGET_KEY_FILE), join(dirB, TARGET_KEY_FILE));
  copyFileSync(join(a.dataDir, SERVER_KEY_FILE), join(dirB, SERVER_KEY_FILE));
  const b = await startTestServer({ ...shared, dataDir: dirB });
  const team = await reviewTeam(a);
  assert.equal((await team.api.root('POST', '/targets', { name: 'pve1', backend: 'proxmox', url: fake.url, tokenId: 'accord@pve!apply', tokenSecret: PVE_SECRET })).status, 201);
  assert.equal((await team.api.root('POST', '/targets/pve1/read')).status, 200);
  const id = await team.approved({
    title: 'Bob audits VM 300 for two seconds', justification: 'x', backend: 'proxmox', target: 'pve1', durationHours: 2 / 3600,
    items: [{ id: 't1', op: 'add', grant: { principal: 'bob@pve', role: 'PVEAuditor', resource: '/vms/300', propagate: false, effect: 'allow' } }],
  });
  const view = await team.applied(id);
  assert.equal(view.apply!.state, 'verified', JSON.stringify(view.apply));
  const notAfter = Date.parse(view.apply!.grants[0]!.notAfter!);
  const deadline = notAfter + 10_000;
  let state = 'active';
  while (state === 'active' && Date.now() < deadline) {
    state = (await team.view(id)).apply!.grants[0]!.state;
    if (state === 'active') await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(state, 'revoked');
  await new Promise((r) => setTimeout(r, 1_000)); // both nodes keep sweeping meanwhile
  const removals = fake.requests.filter((r) => r.method === 'PUT' && r.path === '/access/acl' && r.params.delete === '1' && r.status === 200);
  assert.equal(removals.length, 1, `one removal reached the target: ${JSON.stringify(removals.map((r) => r.params))}`);
  const revokes = (await a.app.accord.audit.all()).filter((e) => e.action === 'grant.revoke');
  assert.equal(revokes.length, 1, 'one revocation in the audit log');
  void b;
});
