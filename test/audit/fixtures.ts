/**
 * Shared fixtures for the audit tests: a temp data dir with a real database (SQLite, or PostgreSQL
 * through test/helpers/databases.ts), and a change recorded in the audit log exactly as the commands
 * record it (the audit entry contract in docs/audit.md), with a real passkey sign-off (soft
 * authenticator, receipt signed by the server key).
 */
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { AuditLog, type AuditRow } from '../../server/audit/audit-log.ts';
import { entryHash, signCheckpoint } from '../../server/audit/entry.ts';
import { evidenceDigest, evidenceJson, exportEvidence } from '../../server/audit/evidence.ts';
import type { EvidencePack } from '../../server/audit/evidence.ts';
import { AUDIT_HEAD_SCHEMA, AUDIT_SCHEMA } from '../../server/audit/schema.ts';
import { loadOrCreateServerKey } from '../../server/audit/server-key.ts';
import type { ServerKey } from '../../server/audit/server-key.ts';
import { Passkeys } from '../../server/auth/webauthn/passkeys.ts';
import { ed25519Signer } from '../../server/auth/webauthn/receipt.ts';
import type { SignOffView } from '../../server/commands/signoff-service.ts';
import { hashContent, hashItems } from '../../server/domain/review/canonical.ts';
import type { ChangeContent, ChangeRequest, Recusal, Revision, Vote } from '../../server/domain/review/types.ts';
import type { Database } from '../../server/store/sql.ts';
import { openDatabase } from '../../server/store/sqlite/database.ts';
import { SqliteDatabase } from '../../server/store/sqlite/sqlite-database.ts';
import { openTestStorage, type DatabaseKind } from '../helpers/databases.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';

export const ORIGIN = 'https://accord.example.org';
export const RP_ID = 'accord.example.org';

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'accord-audit-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A fresh SQLite file in `dir` (accord.sqlite, as the server names it) with the audit tables alone,
 * through the port: cheaper than a migrated store, for tests that build hundreds of logs. `.raw` edits it.
 */
export function openAuditDb(dir: string): SqliteDatabase {
  const raw = new DatabaseSync(join(dir, 'accord.sqlite'));
  raw.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
  raw.exec(AUDIT_SCHEMA);
  raw.exec(AUDIT_HEAD_SCHEMA);
  return new SqliteDatabase(raw);
}

function content(number: number): ChangeContent {
  return {
    title: 'Console for the on-call group',
    justification: `Incident response <script>alert("x")</script> & more${number === 2 ? ' (amended)' : ''}`,
    backend: 'proxmox',
    ticket: 'OPS-42',
    durationHours: 8,
    environment: ['prod'],
    items: [
      { id: 'i1', op: 'add', grant: { principal: '@oncall', role: 'PVEVMUser', resource: '/vms/100', propagate: true, effect: 'allow' } },
      // Revision 2 narrows i2: a vote on i2 in revision 1 is stale, one on i1 carries over.
      { id: 'i2', op: 'remove', grant: { principal: 'bob@pve', privileges: ['vm.view'], resource: number === 2 ? '/vms/102' : '/vms/101', propagate: false, effect: 'allow' } },
    ],
  };
}

function revision(number: number): Revision {
  const c = content(number);
  return {
    number, hash: hashContent(c), itemHashes: hashItems(c.items), content: c,
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

/** A real sign-off by `approver` of `target`: soft passkey, challenge and receipt from the Passkeys module. */
async function passkeySignOff(key: ServerKey, approver: string, target: { changeId: string; revision: number; revisionHash: string }) {
  const db = new SqliteDatabase(openDatabase(tempDir()));
  try {
    await db.run('INSERT INTO users (username, role) VALUES (?, ?)', [approver, 'approver']);
    const userId = (await db.get<{ id: number }>('SELECT id FROM users WHERE username = ?', [approver]))!.id;
    const user = { userId, username: approver, role: 'approver' as const };
    const passkeys = new Passkeys(db, { rpID: RP_ID, rpName: 'Accord', origin: ORIGIN, signer: ed25519Signer(key.privateKey, key.keyId) });
    const device = new SoftAuthenticator();
    await passkeys.verifyRegistration(user, device.createCredential(await passkeys.registrationOptions(user), ORIGIN));
    const { receipt } = await passkeys.verifySignOff(user, target, device.getAssertion(await passkeys.signOffOptions(user, target), ORIGIN));
    const row = (await db.get<{ assertion: string; credential_id: string }>('SELECT assertion, credential_id FROM signoffs'))!;
    return { receipt, assertion: row.assertion, credentialId: row.credential_id };
  } finally {
    await db.close();
  }
}

export interface RecordedChange {
  /** The change as the store holds it after these commands. */
  change: ChangeRequest;
  /** What SignOffService.list returns for it. */
  signoffs: SignOffView[];
}

/**
 * Records change `id`'s life in `log` as the commands do (docs/audit.md, "the audit entry contract"),
 * interleaved with entries about change `other`: create, submit revision 1, two item votes and a
 * recusal, submit revision 2, a refused vote, a whole-revision approval, a passkey sign-off.
 * With an empty log, the change's entries are 2-4 and 6-11 (1 and 5 are about `other`).
 */
export async function recordChange(log: AuditLog, key: ServerKey, options: { id?: string; other?: string } = {}): Promise<RecordedChange> {
  const id = options.id ?? 'chg-1';
  const other = options.other ?? 'chg-0';
  const [rev1, rev2] = [revision(1), revision(2)];
  const votes: Vote[] = [
    { voter: 'dave', choice: 'approve', revision: 1, revisionHash: rev1.hash, itemId: 'i1', itemHash: rev1.itemHashes.i1, castAt: '2025-03-01T11:00:00.000Z' },
    { voter: 'erin', choice: 'reject', reason: 'too broad', revision: 1, revisionHash: rev1.hash, itemId: 'i2', itemHash: rev1.itemHashes.i2, castAt: '2025-03-01T11:05:00.000Z' },
    { voter: 'erin', choice: 'approve', reason: 'narrowed', revision: 2, revisionHash: rev2.hash, castAt: '2025-03-02T11:00:00.000Z' },
  ];
  const recusal: Recusal = { reviewer: 'frank', reason: 'is on call', at: '2025-03-01T10:30:00.000Z' };
  const ok = (actor: string, action: string, detail: unknown, subject = id) => log.append({ actor, action, subject, outcome: 'ok', detail });
  // One after another: the entries' seqs are the contract the tests count on.
  const submit = (rev: Revision) => ok('alice', 'change.submit', {
    revision: rev.number, hash: rev.hash, itemHashes: rev.itemHashes, authors: ['alice'], items: rev.content.items, status: 'in_review',
  });

  await ok('zoe', 'change.create', { title: 'Other', backend: 'proxmox', items: [], status: 'draft' }, other);
  await ok('alice', 'change.create', { title: rev1.content.title, backend: 'proxmox', items: rev1.content.items, status: 'draft' });
  await submit(rev1);
  await ok('dave', 'change.vote', { vote: votes[0], status: 'in_review' });
  await ok('zoe', 'change.submit', { revision: 1, hash: 'f'.repeat(64), status: 'in_review' }, other);
  await ok('frank', 'change.recuse', { recusal, status: 'in_review' });
  await ok('erin', 'change.vote', { vote: votes[1], status: 'in_review' });
  await submit(rev2);
  await log.append({ actor: 'mallory', action: 'change.vote', subject: id, outcome: 'refused', detail: { code: 'forbidden', message: 'a requester or author never approves their own change' } });
  await ok('erin', 'change.vote', { vote: votes[2], status: 'approved' });

  const target = { changeId: id, revision: 2, revisionHash: rev2.hash };
  const signed = await passkeySignOff(key, 'grace', target);
  await ok('grace', 'change.signoff', {
    ...target, credentialId: signed.credentialId, receipt: signed.receipt, assertion: signed.assertion,
    seen: { revisionHash: rev2.hash, votes: [{ voter: 'erin', choice: 'approve', item: null }], staleVotes: 1, unresolvedAnnotations: 0, decision: 'approved' },
    rpID: RP_ID, origins: [ORIGIN], approver: 'grace',
  });

  const change: ChangeRequest = {
    id, status: 'approved', requestedBy: 'alice', authors: ['alice'], createdAt: '2025-03-01T09:00:00.000Z',
    revisions: [rev1, rev2], votes, recusals: [recusal], policy: 'prod-two-approvers',
  };
  const signoffs: SignOffView[] = [{
    approver: 'grace', revision: 2, revisionHash: rev2.hash, credentialId: signed.credentialId, at: signed.receipt.signedAt,
    valid: true, receipt: signed.receipt, assertion: JSON.parse(signed.assertion) as unknown,
  }];
  return { change, signoffs };
}

export const annotations: unknown[] = [{ author: 'dave', itemId: 'i2', text: 'Why /vms/101? <img src=x onerror=alert(1)>', at: '2025-03-01T10:45:00.000Z' }];

/**
 * chg-1 recorded as the commands record it, interleaved with chg-0 (entries 1 and 5), then exported:
 * the pack's segment is entries 2 to 12, 12 being the evidence.export entry and the signed head.
 */
export async function exported(kind: DatabaseKind = 'sqlite'): Promise<{ pack: EvidencePack; key: ServerKey; log: AuditLog; recorded: RecordedChange; db: Database }> {
  const storage = await openTestStorage(kind);
  const key = loadOrCreateServerKey(storage.dataDir);
  const log = new AuditLog(storage.db, key, { checkpointEvery: 4 });
  const recorded = await recordChange(log, key);
  const pack = await exportEvidence(log, key, { change: recorded.change, annotations, signoffs: recorded.signoffs, actor: 'auditor' });
  return { pack, key, log, recorded, db: storage.db };
}

export const clone = (p: EvidencePack): EvidencePack => JSON.parse(evidenceJson(p)) as EvidencePack;
export const signoffsOf = (p: EvidencePack): SignOffView[] => p.signoffs as SignOffView[];

/**
 * What whoever holds `signer` can do (the server itself, exporting from a database someone edited, as
 * Accord did before packs were checked against their entries; or a forger with their own key):
 * re-bind the pack's content to its export entry, recompute the chain and sign a new head.
 */
export function reseal(pack: EvidencePack, signer: { privateKey: KeyObject; keyId: string; publicKeyPem: string }): EvidencePack {
  const entries = pack.audit.entries;
  const last = entries.at(-1)!;
  last.detail = { format: pack.format, digest: evidenceDigest(pack) };
  let prevHash = entries[0]!.prevHash;
  for (const e of entries) {
    e.prevHash = prevHash;
    const { hash: _old, ...fields } = e;
    e.hash = entryHash(fields);
    prevHash = e.hash;
  }
  pack.audit.publicKeyPem = signer.publicKeyPem;
  pack.audit.keyId = signer.keyId;
  pack.audit.checkpoint = signCheckpoint({ seq: last.seq, hash: last.hash, keyId: signer.keyId, at: last.at }, signer.privateKey);
  return pack;
}

/**
 * What an attacker without the key can do: rewrite rows from `from` on with consistent hashes (the chain
 * is unkeyed SHA-256). Plain SQL both databases take.
 */
export async function rechain(db: Database, from: number): Promise<void> {
  const rows = await db.all<AuditRow>('SELECT * FROM audit_log WHERE seq >= ? ORDER BY seq', [from]);
  let prev = (await db.get<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = ?', [from - 1]))!.hash;
  for (const r of rows) {
    const fields = { seq: r.seq, at: r.at, actor: r.actor, action: r.action, subject: r.subject, outcome: r.outcome as 'ok', detail: JSON.parse(r.detail) as unknown, prevHash: prev };
    prev = entryHash(fields);
    await db.run('UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?', [fields.prevHash, prev, r.seq]);
  }
}
