/** Shared fixtures for the audit tests: a temp data dir with a real SQLite file, and a hand-built change. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { AUDIT_SCHEMA } from '../../server/audit/schema.ts';
import type { ChangeRequest, Revision } from '../../server/domain/review/types.ts';

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'accord-audit-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A fresh database file in `dir` (accord.sqlite, as the server names it) with the audit tables. */
export function openAuditDb(dir: string): DatabaseSync {
  const db = new DatabaseSync(join(dir, 'accord.sqlite'));
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;');
  db.exec(AUDIT_SCHEMA);
  return db;
}

const H1 = 'a'.repeat(64);
const H2 = 'b'.repeat(64);

function revision(number: number, hash: string, itemHashes: Record<string, string>, extra: string): Revision {
  return {
    number, hash, itemHashes,
    content: {
      title: 'Console for the on-call group',
      justification: `Incident response <script>alert("x")</script> & more${extra}`,
      backend: 'proxmox',
      ticket: 'OPS-42',
      durationHours: 8,
      environment: ['prod'],
      items: [
        { id: 'i1', op: 'add', grant: { principal: '@oncall', role: 'PVEVMUser', resource: '/vms/100', propagate: true, effect: 'allow' } },
        { id: 'i2', op: 'remove', grant: { principal: 'bob@pve', privileges: ['vm.view'], resource: '/vms/101', propagate: false, effect: 'allow' } },
      ],
    },
    submittedBy: 'alice',
    submittedAt: `2025-03-0${number}T10:00:00.000Z`,
    rendered: {
      format: 'text/x-pve-user-cfg',
      text: 'acl:1:/vms/100:@oncall:PVEVMUser:\nacl:0:/vms/101:bob@pve:</pre><b>x</b>:\n',
      items: [{ itemId: 'i1', fidelity: 'exact' }, { itemId: 'i2', fidelity: 'widened', note: 'role granularity' }],
      replaces: [],
      warnings: number === 2 ? ['i2 widened'] : [],
    },
    blast: {
      gained: [{ principal: 'carol@pve', resource: '/vms/100', privilege: 'VM.Console', common: ['vm.console'], highRisk: true }],
      lost: [{ principal: 'bob@pve', resource: '/vms/101', privilege: 'VM.Audit', common: ['vm.view'], highRisk: false }],
    },
    highRisk: true,
  };
}

export function fabricatedChange(id = 'chg-1'): ChangeRequest {
  return {
    id,
    status: 'approved',
    requestedBy: 'alice',
    authors: ['alice'],
    createdAt: '2025-03-01T09:00:00.000Z',
    revisions: [revision(1, H1, { i1: 'c'.repeat(64), i2: 'd'.repeat(64) }, ''), revision(2, H2, { i1: 'c'.repeat(64), i2: 'e'.repeat(64) }, ' (amended)')],
    votes: [
      { voter: 'dave', choice: 'approve', revision: 1, revisionHash: H1, itemId: 'i1', itemHash: 'c'.repeat(64), castAt: '2025-03-01T11:00:00.000Z' },
      { voter: 'erin', choice: 'reject', reason: 'too broad', revision: 1, revisionHash: H1, itemId: 'i2', itemHash: 'd'.repeat(64), castAt: '2025-03-01T11:05:00.000Z' },
      { voter: 'erin', choice: 'approve', reason: 'narrowed', revision: 2, revisionHash: H2, castAt: '2025-03-02T11:00:00.000Z' },
    ],
    recusals: [{ reviewer: 'frank', reason: 'is on call', at: '2025-03-01T10:30:00.000Z' }],
    policy: 'prod-two-approvers',
  };
}

export const signoffs: unknown[] = [{
  approver: 'grace', revision: 2, revisionHash: H2, at: '2025-03-02T12:00:00.000Z',
  assertion: { credentialId: 'cred-1', clientDataJSON: 'eyJjaGFsbGVuZ2UiOiJ4In0', signature: 'MEUCIQ' },
  receipt: 'server-receipt-sig',
}];

export const annotations: unknown[] = [{ author: 'dave', itemId: 'i2', text: 'Why /vms/101? <img src=x onerror=alert(1)>', at: '2025-03-01T10:45:00.000Z' }];
