/**
 * `npm run bench:campaign [-- --only sqlite|postgres]`: a recertification campaign over the generated
 * 5,000-VM / 2,000-user Proxmox inventory of bench:access (bench/access/generate.ts), through a real
 * in-process Accord server over loopback REST:
 *
 * - import of the inventory (PUT /api/inventories/proxmox);
 * - campaign creation and start (the snapshot: one item per allow grant, reviewers assigned);
 * - the campaign page's data: GET /api/campaigns/:id with every item (what the page loads first), and with
 *   `?mine=1&undecided=1` (one reviewer's work list);
 * - one bulk decision over 1,000 items (revoke, with a reason), acknowledged;
 * - the report export, JSON and CSV.
 *
 * Prints a table. PostgreSQL: ACCORD_TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/test, in a
 * schema of its own dropped afterwards.
 */
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { createLogger } from '../../server/log.ts';
import { proxmox } from '../access/generate.ts';

const { values } = parseArgs({ options: { only: { type: 'string' } } });
const PG_URL = process.env.ACCORD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SCALE = { vms: 5000, users: 2000, groups: 200, grants: 20_000 };

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const out = await fn();
  return [out, performance.now() - t];
}

async function measure(kind: 'sqlite' | 'postgres'): Promise<Record<string, string>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'accord-bench-campaign-'));
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const config = loadConfig([], {}, {
    port: 0, host: '127.0.0.1', dataDir, logLevel: 'silent', driftIntervalMs: 0,
    ...(kind === 'postgres' ? { databaseUrl: PG_URL, databaseSchema: schema } : {}),
  });
  const app = await createApp(config, createLogger('silent'));
  try {
    const { port } = await app.listen();
    const url = `http://127.0.0.1:${port}/api`;
    const root = (await app.users.addUser('root', 'admin')).token;
    const ana = (await app.users.addUser('ana', 'reviewer')).token;
    const call = async (token: string, method: string, path: string, body?: unknown): Promise<{ status: number; bytes: number; json: Record<string, unknown> | null; text: string }> => {
      const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
      return { status: res.status, bytes: Buffer.byteLength(text), json: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) as Record<string, unknown> : null, text };
    };
    const generated = proxmox(SCALE);
    const [, importMs] = await timed(() => call(root, 'PUT', '/inventories/proxmox', { files: generated.files }));
    const [created, createMs] = await timed(() => call(root, 'POST', '/campaigns', { title: 'Bench: every Proxmox grant', scope: { backend: ['proxmox'] }, reviewers: { users: ['ana'] }, fallbackReviewers: ['root'] }));
    const id = (created.json!.campaign as { id: string }).id;
    const [, startMs] = await timed(() => call(root, 'POST', `/campaigns/${id}/start`));
    const [page, pageMs] = await timed(() => call(ana, 'GET', `/campaigns/${id}`));
    const items = page.json!.items as { id: string; highRisk: boolean; reviewers: string[] }[];
    const [mine, mineMs] = await timed(() => call(ana, 'GET', `/campaigns/${id}?mine=1&undecided=1`));
    const batch = items.filter((i) => i.reviewers.includes('ana')).slice(0, 1_000).map((i) => i.id);
    const [, bulkMs] = await timed(() => call(ana, 'POST', `/campaigns/${id}/decisions`, { items: batch, decision: 'revoke', reason: 'bench: bulk revoke' }));
    const [json, reportMs] = await timed(() => call(ana, 'GET', `/campaigns/${id}/report`));
    const [csv, csvMs] = await timed(() => call(ana, 'GET', `/campaigns/${id}/report?format=csv`));
    const f = (n: number): string => (n < 1_000 ? `${n.toFixed(0)} ms` : `${(n / 1_000).toFixed(2)} s`);
    const mb = (n: number): string => `${(n / 1_048_576).toFixed(1)} MB`;
    return {
      storage: kind,
      items: String(items.length),
      'import inventory': f(importMs),
      create: f(createMs),
      'start (snapshot)': f(startMs),
      'campaign page data (all items)': `${f(pageMs)}, ${mb(page.bytes)}`,
      'my undecided items': `${f(mineMs)}, ${(mine.json!.items as unknown[]).length} items`,
      'bulk decision, 1,000 items (ack)': f(bulkMs),
      'report JSON': `${f(reportMs)}, ${mb(json.bytes)}`,
      'report CSV': `${f(csvMs)}, ${mb(csv.bytes)}`,
    };
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
    if (kind === 'postgres') {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  }
}

const kinds = (values.only ? values.only.split(',') : ['sqlite', 'postgres']) as ('sqlite' | 'postgres')[];
const rows: Record<string, string>[] = [];
for (const k of kinds) rows.push(await measure(k));
const keys = Object.keys(rows[0]!);
const width = Math.max(...keys.map((k) => k.length));
process.stdout.write(`Campaign over the generated Proxmox inventory (${SCALE.vms} VMs, ${SCALE.users} users, ${SCALE.grants} ACL entries), node ${process.version}\n`);
for (const k of keys) process.stdout.write(`${k.padEnd(width)}  ${rows.map((r) => (r[k] ?? '').padEnd(28)).join('')}\n`);
