import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DatabaseSync } from 'node:sqlite';
import { openStorage } from '../../server/store/open.ts';
import { UserStore } from '../../server/auth/user-store.ts';
import { apiAs, FIXTURES } from '../helpers/api.ts';
import { spawnServer, tempDir } from '../helpers/server.ts';

const run = promisify(execFile);
const accord = (...args: string[]) => run(process.execPath, ['server/cli.ts', ...args]);

/** Each backend's fixture files, as an admin would import them. */
function inventoryOf(backend: string): { path: string; text: string }[] {
  const dir = join(FIXTURES, backend);
  return readdirSync(dir).map((name) => ({ path: name, text: readFileSync(join(dir, name), 'utf8') }));
}

async function users(dataDir: string): Promise<Record<string, string>> {
  const storage = await openStorage({ dataDir });
  try {
    const store = new UserStore(storage.db);
    const out: Record<string, string> = {};
    for (const [name, role] of [['admin', 'admin'], ['req', 'reviewer'], ['r1', 'reviewer'], ['r2', 'reviewer']] as const) {
      out[name] = (await store.addUser(name, role)).token;
    }
    return out;
  } finally {
    await storage.close();
  }
}

describe('accord submit, status, vote, export, audit verify', () => {
  it('takes every example change from a file to approved, and the exported evidence verifies offline', async () => {
    const dataDir = tempDir();
    const tokens = await users(dataDir);
    const server = await spawnServer(dataDir);
    const admin = apiAs(server.url, tokens.admin!);
    for (const backend of ['proxmox', 'vsphere', 'libvirt', 'xapi']) {
      const imported = await admin('PUT', `/inventories/${backend}`, { files: inventoryOf(backend) });
      assert.equal(imported.status, 200, `${backend}: ${JSON.stringify(imported.body)}`);
    }
    const conn = (who: string) => ['--url', server.url, '--token', tokens[who]!];
    for (const backend of ['proxmox', 'vsphere', 'libvirt', 'xapi']) {
      const submitted = await accord('submit', `examples/changes/${backend}.yaml`, ...conn('req'));
      const id = submitted.stdout.trim().split('\n').at(-1)!;
      assert.match(id, /^ch-[0-9a-f]{16}$/, `${backend}: ${submitted.stdout}`);
      const pending = await accord('status', id, ...conn('r1'));
      assert.equal(pending.stdout.trim().split('\n').at(-1), 'in_review');
      assert.match(pending.stdout, /policy default: pending/);
      // A vote names the revision its voter reviewed: status prints the full hash.
      const hash = /^status: in_review {2}revision 1 ([0-9a-f]{64})$/m.exec(pending.stdout)?.[1];
      assert.ok(hash, `${backend}: status prints the revision's full hash: ${pending.stdout}`);
      await assert.rejects(accord('vote', id, 'approve', ...conn('r1')), (err: { stderr: string }) => {
        assert.match(err.stderr, /--revision/, 'a vote that names no revision is refused, not cast on whatever is current');
        return true;
      });
      if (backend === 'proxmox') {
        await assert.rejects(accord('vote', id, 'approve', '--revision', hash.slice(0, 12), ...conn('r1')), (err: { stderr: string }) => {
          assert.match(err.stderr, /16/, 'a prefix shorter than 16 hex digits is refused');
          return true;
        });
      }
      await accord('vote', id, 'approve', '--revision', hash, ...conn('r1'));
      // At least 16 leading hex digits name it too.
      const second = await accord('vote', id, 'approve', '--revision', hash.slice(0, 16), '--reason', 'checked the blast radius', ...conn('r2'));
      assert.equal(second.stdout.trim().split('\n').at(-1), 'approved', `${backend}: ${second.stdout}`);
    }

    const [first] = (await admin<{ changes: { id: string }[] }>('GET', '/changes?backend=proxmox')).body.changes;
    const packFile = join(dataDir, 'pack.html');
    await accord('export', first!.id, '--format', 'html', '--out', packFile, ...conn('r1'));
    const keyFile = join(dataDir, 'server-public.pem');
    writeFileSync(keyFile, (await accord('audit', 'public-key', '--data', dataDir)).stdout);
    const verified = await accord('audit', 'verify', '--pack', packFile, '--public-key', keyFile);
    assert.match(verified.stdout, /ok/i);
    server.child.kill('SIGTERM');
    await server.exited;

    const chain = await accord('audit', 'verify', '--data', dataDir);
    assert.match(chain.stdout, /ok/i);
    // Tamper with one vote's audit record: verification names the entry.
    const db = new DatabaseSync(join(dataDir, 'accord.sqlite'));
    const row = db.prepare("SELECT seq FROM audit_log WHERE action = 'change.vote' ORDER BY seq LIMIT 1").get() as { seq: number };
    db.prepare("UPDATE audit_log SET detail = replace(detail, 'approve', 'reject') WHERE seq = ?").run(row.seq);
    db.close();
    await assert.rejects(accord('audit', 'verify', '--data', dataDir), (err: { code: number; stdout: string; stderr: string }) => {
      assert.notEqual(err.code, 0);
      assert.match(err.stdout + err.stderr, new RegExp(`entry ${row.seq}\\b`));
      return true;
    });
  });

  it('refuses a change file with unknown fields or principals, naming the file, and writes no change', async () => {
    const dataDir = tempDir();
    const tokens = await users(dataDir);
    const server = await spawnServer(dataDir);
    const admin = apiAs(server.url, tokens.admin!);
    await admin('PUT', '/inventories/proxmox', { files: inventoryOf('proxmox') });
    const bad = join(dataDir, 'bad.yaml');
    writeFileSync(bad, readFileSync('examples/changes/proxmox.yaml', 'utf8').replace('propagate: false', 'propogate: false'));
    await assert.rejects(accord('submit', bad, '--url', server.url, '--token', tokens.req!), (err: { stderr: string }) => {
      assert.match(err.stderr, /propogate/);
      return true;
    });
    const unknown = join(dataDir, 'unknown.yaml');
    writeFileSync(unknown, readFileSync('examples/changes/proxmox.yaml', 'utf8').replace('principal: ops', 'principal: nobody-group'));
    await assert.rejects(accord('submit', unknown, '--url', server.url, '--token', tokens.req!), (err: { stderr: string }) => {
      assert.match(err.stderr, /unknown\.yaml/);
      assert.match(err.stderr, /nobody-group/);
      return true;
    });
    const list = (await admin<{ changes: { status: string }[] }>('GET', '/changes')).body.changes;
    assert.deepEqual(list.map((c) => c.status), ['draft'], 'only the draft of the second file exists; nothing was submitted');
    server.child.kill('SIGTERM');
    await server.exited;
  });
});
