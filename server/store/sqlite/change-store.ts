import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { NativeFile } from '../../domain/access/model.ts';
import type { Annotation } from '../../domain/review/annotations.ts';
import type { ChangeRequest } from '../../domain/review/types.ts';
import { AppError } from '../../protocol/errors.ts';

export interface ChangeSummary {
  id: string;
  title: string;
  status: string;
  backend: string;
  requestedBy: string;
  updatedAt: string;
  /** The current revision gains a high-risk privilege. */
  highRisk: boolean;
}

/** Does the change's current revision gain a high-risk privilege? */
export function isHighRisk(change: ChangeRequest): boolean {
  return change.revisions.at(-1)?.blast.gained.some((row) => row.highRisk) ?? false;
}

/**
 * Change requests as aggregates (one JSON row each, with a version for optimistic concurrency), their
 * annotations, idempotency records, backend inventories and policies. Callers run these inside a
 * transaction together with the audit entry that records the command.
 */
export class ChangeStore {
  readonly #db: DatabaseSync;
  readonly #get: StatementSync;
  readonly #insert: StatementSync;
  readonly #update: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#get = db.prepare('SELECT data, version FROM changes WHERE id = ?');
    this.#insert = db.prepare(
      'INSERT INTO changes (id, version, status, requested_by, backend, title, data, created_at, updated_at) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#update = db.prepare(
      'UPDATE changes SET version = version + 1, status = ?, title = coalesce(?, title), data = ?, updated_at = ?, high_risk = ? WHERE id = ? AND version = ?',
    );
  }

  get(id: string): { change: ChangeRequest; version: number } | null {
    const row = this.#get.get(id) as { data: string; version: number } | undefined;
    return row ? { change: JSON.parse(row.data) as ChangeRequest, version: Number(row.version) } : null;
  }

  insert(change: ChangeRequest, backend: string, title: string): void {
    this.#insert.run(change.id, change.status, change.requestedBy, backend, title, JSON.stringify(change), change.createdAt, change.createdAt);
  }

  /** Saves if nobody else saved since `version` was read; commands on one change are serialised by this. */
  save(change: ChangeRequest, version: number, title?: string): void {
    const result = this.#update.run(change.status, title ?? null, JSON.stringify(change), new Date().toISOString(), isHighRisk(change) ? 1 : 0, change.id, version);
    if (Number(result.changes) !== 1) throw new AppError('conflict', 'the change was modified concurrently; retry');
  }

  list(filter: { status?: string; backend?: string; requestedBy?: string; risk?: 'high' | 'normal'; title?: string; limit: number }): ChangeSummary[] {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.status) (where.push('status = ?'), args.push(filter.status));
    if (filter.backend) (where.push('backend = ?'), args.push(filter.backend));
    if (filter.requestedBy) (where.push('requested_by = ?'), args.push(filter.requestedBy));
    if (filter.risk) where.push(filter.risk === 'high' ? 'high_risk = 1' : 'high_risk = 0');
    if (filter.title) (where.push("title LIKE ? ESCAPE '\\'"), args.push(`%${filter.title.replace(/[\\%_]/g, (c) => `\\${c}`)}%`));
    const sql = `SELECT id, title, status, backend, requested_by AS requestedBy, updated_at AS updatedAt, high_risk AS highRisk FROM changes
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY updated_at DESC LIMIT ${Math.min(500, Math.max(1, filter.limit))}`;
    const rows = this.#db.prepare(sql).all(...args) as unknown as (Omit<ChangeSummary, 'highRisk'> & { highRisk: number })[];
    return rows.map((row) => ({ ...row, highRisk: Number(row.highRisk) === 1 }));
  }

  /** Everyone recorded as having written into the change's draft, by name. */
  draftWriters(changeId: string): string[] {
    const rows = this.#db.prepare('SELECT username FROM draft_writers WHERE change_id = ? ORDER BY username').all(changeId) as { username: string }[];
    return rows.map((r) => r.username);
  }

  /** Records a draft writer; true when they were not recorded before. */
  addDraftWriter(changeId: string, username: string, at: string): boolean {
    const result = this.#db.prepare('INSERT INTO draft_writers (change_id, username, first_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').run(changeId, username, at);
    return Number(result.changes) === 1;
  }

  annotations(changeId: string): Annotation[] {
    const rows = this.#db.prepare('SELECT data FROM annotations WHERE change_id = ? ORDER BY rowid').all(changeId) as { data: string }[];
    return rows.map((r) => JSON.parse(r.data) as Annotation);
  }

  annotation(id: string): Annotation | null {
    const row = this.#db.prepare('SELECT data FROM annotations WHERE id = ?').get(id) as { data: string } | undefined;
    return row ? (JSON.parse(row.data) as Annotation) : null;
  }

  putAnnotation(a: Annotation): void {
    this.#db.prepare('INSERT INTO annotations (id, change_id, data) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data')
      .run(a.id, a.changeId, JSON.stringify(a));
  }

  /** The stored result of an earlier command with the same idempotency key, if any. */
  commandResult(userId: number, key: string): { command: string; result: unknown } | null {
    const row = this.#db.prepare('SELECT command, result FROM command_results WHERE user_id = ? AND key = ?').get(userId, key) as
      | { command: string; result: string }
      | undefined;
    return row ? { command: row.command, result: JSON.parse(row.result) as unknown } : null;
  }

  rememberResult(userId: number, key: string, command: string, result: unknown): void {
    this.#db.prepare('INSERT INTO command_results (user_id, key, command, result, at) VALUES (?, ?, ?, ?, ?)')
      .run(userId, key, command, JSON.stringify(result), new Date().toISOString());
  }

  inventory(backend: string): { files: NativeFile[]; version: number } | null {
    const row = this.#db.prepare('SELECT files, version FROM inventories WHERE backend = ?').get(backend) as
      | { files: string; version: number }
      | undefined;
    return row ? { files: JSON.parse(row.files) as NativeFile[], version: Number(row.version) } : null;
  }

  putInventory(backend: string, files: NativeFile[], by: string): number {
    const current = this.inventory(backend);
    const version = (current?.version ?? 0) + 1;
    this.#db.prepare(`INSERT INTO inventories (backend, files, version, imported_by, imported_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (backend) DO UPDATE SET files = excluded.files, version = excluded.version, imported_by = excluded.imported_by, imported_at = excluded.imported_at`)
      .run(backend, JSON.stringify(files), version, by, new Date().toISOString());
    return version;
  }

  policies(): { name: string; yaml: string }[] {
    return this.#db.prepare('SELECT name, yaml FROM policies ORDER BY name').all() as unknown as { name: string; yaml: string }[];
  }

  putPolicy(name: string, yaml: string, by: string): void {
    this.#db.prepare(`INSERT INTO policies (name, yaml, updated_by, updated_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (name) DO UPDATE SET yaml = excluded.yaml, updated_by = excluded.updated_by, updated_at = excluded.updated_at`)
      .run(name, yaml, by, new Date().toISOString());
  }
}
