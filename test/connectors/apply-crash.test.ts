/**
 * A crash between two steps of an apply: the server process is killed (-9) after the first of three grants
 * reached the target (the fake Proxmox API holds each write for a while, so the kill lands mid-run). A new
 * process on the same data directory resumes from the per-step record: every grant ends on the target
 * exactly once and the change is verified.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { Role } from '../../server/auth/roles.ts';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs } from '../helpers/api.ts';
import { REVIEW_ORIGIN, reviewTeam, settledApply } from '../helpers/approve.ts';
import { spawnServer, tempDir, type ServerProcess } from '../helpers/server.ts';
import { ProxmoxFake } from '../fakes/proxmox-api.ts';
import { PVE_SECRET, pveUserCfg } from './pve-fixture.ts';

const ENV = { ACCORD_PUBLIC_URL: REVIEW_ORIGIN, ACCORD_APPLY_RETRY_MS: '20', ACCORD_DRIFT_INTERVAL_MS: '0' };

describe('an apply interrupted by a crash resumes from its record', () => {
  it('kill -9 after the first of three writes; the restarted server finishes, each grant written once', async () => {
    const fake = new ProxmoxFake({ userCfg: pveUserCfg(), tokenSecrets: { 'accord@pve!apply': PVE_SECRET }, writeDelayMs: 600 });
    await fake.start();
    after(() => fake.stop());
    const dataDir = tempDir();
    const user = async (name: string, role: Role): Promise<string> =>
      execFileSync(process.execPath, ['server/cli.ts', 'user', 'add', name, '--role', role, '--data', dataDir], { encoding: 'utf8' }).trim().split('\n').at(-1)!;
    let server: ServerProcess = await spawnServer(dataDir, ENV);
    const team = await reviewTeam({ url: server.url, user });
    assert.equal((await team.api.root('POST', '/targets', { name: 'pve1', backend: 'proxmox', url: fake.url, tokenId: 'accord@pve!apply', tokenSecret: PVE_SECRET })).status, 201);
    assert.equal((await team.api.root('POST', '/targets/pve1/read')).status, 200);
    const grant = (principal: string) => ({ principal, role: 'PVEAuditor', resource: '/vms/100', propagate: false, effect: 'allow' });
    const id = await team.approved({
      title: 'Three auditors on VM 100', justification: 'quarterly audit', backend: 'proxmox', target: 'pve1',
      items: [{ id: 'a1', op: 'add', grant: grant('bob@pve') }, { id: 'a2', op: 'add', grant: grant('carol@ldap') }, { id: 'a3', op: 'add', grant: grant('erin@pve') }],
    });
    const puts = () => fake.requests.filter((r) => r.method === 'PUT' && r.path === '/access/acl' && r.status === 200);
    assert.equal((await team.api.root('POST', `/changes/${id}/apply`, {})).status, 202);
    const deadline = Date.now() + 20_000;
    while (puts().length < 1) {
      if (Date.now() > deadline) assert.fail('the first write never reached the fake');
      await new Promise((r) => setTimeout(r, 10));
    }
    server.child.kill('SIGKILL');
    await server.exited;
    assert.ok(puts().length < 3, `the kill landed before the last write (${puts().length} done)`);

    server = await spawnServer(dataDir, ENV);
    const vic = apiAs(server.url, team.tokens.vic);
    const view = await settledApply(async (changeId) => ((await vic('GET', `/changes/${changeId}`)).body as { change: ReviewView }).change, id);
    assert.equal(view.apply!.state, 'verified', JSON.stringify(view.apply));
    assert.deepEqual(view.apply!.items.map((i) => i.state), ['applied', 'applied', 'applied']);
    const written = puts().map((r) => r.params.users);
    assert.deepEqual([...written].sort(), ['bob@pve', 'carol@ldap', 'erin@pve'], `each grant written exactly once: ${JSON.stringify(written)}`);
    assert.match(server.output(), /resuming applies a restart interrupted/);

  });
});
