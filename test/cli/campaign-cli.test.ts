/**
 * The campaign and target commands of the CLI against a real server: a campaign defined from the example
 * YAML file, started on the imported Proxmox inventory, its status and its CSV report; a target connected
 * from a file and read.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { importProxmox } from '../helpers/api.ts';
import { startTestServer, tempDir } from '../helpers/server.ts';
import { ProxmoxFake } from '../fakes/proxmox-api.ts';
import { PVE_SECRET, pveUserCfg } from '../connectors/pve-fixture.ts';

const run = promisify(execFile);

it('accord campaign create/start/status/report and target add/read/list', async (t) => {
  const server = await startTestServer();
  const root = await server.user('root', 'admin');
  await importProxmox(server, root);
  const env = { ...process.env, ACCORD_URL: server.url, ACCORD_TOKEN: root };
  const accord = async (...args: string[]): Promise<string[]> => (await run(process.execPath, ['server/cli.ts', ...args], { env })).stdout.trim().split('\n');

  const created = await accord('campaign', 'create', 'examples/campaigns/quarterly-proxmox.yaml');
  const id = created.at(-1)!;
  assert.match(id, /^cp-[0-9a-f]{12}$/);
  const started = await accord('campaign', 'start', id);
  assert.equal(started.at(-1), 'active');
  assert.match(started.join('\n'), /0 of \d+ items decided/);
  assert.match(started.join('\n'), /root: 0\/\d+/, 'the fallback reviewer (nobody is in the security group) has the items');
  const dir = tempDir();
  const out = join(dir, 'report.csv');
  await accord('campaign', 'report', id, '--format', 'csv', '--out', out);
  const bad = await run(process.execPath, ['server/cli.ts', 'campaign', 'start', id], { env }).then(() => '', (e: { stderr: string }) => e.stderr);
  assert.match(bad, /only a draft campaign is started; this one is active/);

  const fake = new ProxmoxFake({ userCfg: pveUserCfg(), tokenSecrets: { 'accord@pve!apply': PVE_SECRET } });
  await fake.start();
  t.after(() => fake.stop());
  const file = join(dir, 'pve1.yaml');
  writeFileSync(file, `name: pve1\nbackend: proxmox\nurl: ${fake.url}\ntokenId: accord@pve!apply\ntokenSecret: ${PVE_SECRET}\n`);
  assert.deepEqual(await accord('target', 'add', file), ['connected proxmox target pve1']);
  assert.match((await accord('target', 'read', 'pve1')).join('\n'), /first read: its state is recorded as the approved baseline/);
  assert.deepEqual(await accord('target', 'list'), ['pve1\tproxmox']);
});
