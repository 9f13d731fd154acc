import type { Database } from '../sql.ts';
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
 * annotations, idempotency records, backend inventories and policies. Callers run these inside a unit of
 * work (`Database.transaction`) together with the audit entry that records the command. The same SQL
 * runs on SQLite and PostgreSQL (server/store/sql.ts).
 */
export class ChangeStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async get(id: string): Promise<{ change: ChangeRequest; version: number } | null> {
    const row = await this.#db.get<{ data: unknown; version: unknown }>('SELECT data, version FROM changes WHERE id = ?', [id]);
    return row ? { change: json<ChangeRequest>(row.data, 'changes.data'), version: int(row.version, 'changes.version') } : null;
  }

  async insert(change: ChangeRequest, backend: string, title: string): Promise<void> {
    await this.#db.run(
      'INSERT INTO changes (id, version, status, requested_by, backend, title, data, created_at, updated_at, high_risk) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?)',
      [change.id, change.status, change.requestedBy, backend, title, JSON.stringify(change), change.createdAt, change.createdAt, isHighRisk(change) ? 1 : 0],
    );
  }

  /** Saves if nobody else saved since `version` was read; commands on one change are serialised by this. */
  async save(change: ChangeRequest, version: number, title?: string): Promise<void> {
    const changed = await this.#db.run(
      'UPDATE changes SET version = version + 1, status = ?, title = coalesce(?, title), data = ?, updated_at = ?, high_risk = ? WHERE id = ? AND version = ?',
      [change.status, title ?? null, JSON.stringify(change), new Date().toISOString(), isHighRisk(change) ? 1 : 0, change.id, version],
    );
    if (changed !== 1) throw new AppError('conflict', 'the change was modified concurrently; retry');
  }

  async list(filter: { status?: string; backend?: string; requestedBy?: string; risk?: 'high' | 'normal'; title?: string; limit: number }): Promise<ChangeSummary[]> {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.status) (where.push('status = ?'), args.push(filter.status));
    if (filter.backend) (where.push('backend = ?'), args.push(filter.backend));
    if (filter.requestedBy) (where.push('requested_by = ?'), args.push(filter.requestedBy));
    if (filter.risk) where.push(filter.risk === 'high' ? 'high_risk = 1' : 'high_risk = 0');
    // SQLite's LIKE ignores ASCII case; PostgreSQL's needs ILIKE for the same answer.
    const like = this.#db.dialect === 'postgres' ? 'ILIKE' : 'LIKE';
    if (filter.title) (where.push(`title ${like} ? ESCAPE '\\'`), args.push(`%${filter.title.replace(/[\\%_]/g, (c) => `\\${c}`)}%`));
    const sql = `SELECT id, title, status, backend, requested_by AS "requestedBy", updated_at AS "updatedAt", high_risk AS "highRisk" FROM changes
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY updated_at DESC, id LIMIT ${limitOf(filter.limit)}`;
    const rows = await this.#db.all<Record<string, unknown>>(sql, args);
    return rows.map((row) => ({
      id: text(row.id, 'changes.id'), title: text(row.title, 'changes.title'), status: text(row.status, 'changes.status'),
      backend: text(row.backend, 'changes.backend'), requestedBy: text(row.requestedBy, 'changes.requested_by'),
      updatedAt: text(row.updatedAt, 'changes.updated_at'), highRisk: int(row.highRisk, 'changes.high_risk') === 1,
    }));
  }

  /** Everyone recorded as having written into the change's draft, by name. */
  async draftWriters(changeId: string): Promise<string[]> {
    const rows = await this.#db.all<{ username: unknown }>('SELECT username FROM draft_writers WHERE change_id = ?', [changeId]);
    return rows.map((r) => text(r.username, 'draft_writers.username')).sort(byCodeUnit);
  }

  /** Records a draft writer; true when they were not recorded before. */
  async addDraftWriter(changeId: string, username: string, at: string): Promise<boolean> {
    return (await this.#db.run('INSERT INTO draft_writers (change_id, username, first_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [changeId, username, at])) === 1;
  }

  /** A change's annotations in the order they were made (SQLite: rowid; PostgreSQL: an identity column). */
  async annotations(changeId: string): Promise<Annotation[]> {
    const order = this.#db.dialect === 'postgres' ? 'seq' : 'rowid';
    const rows = await this.#db.all<{ data: unknown }>(`SELECT data FROM annotations WHERE change_id = ? ORDER BY ${order}`, [changeId]);
    return rows.map((r) => json<Annotation>(r.data, 'annotations.data'));
  }

  async annotation(id: string): Promise<Annotation | null> {
    const row = await this.#db.get<{ data: unknown }>('SELECT data FROM annotations WHERE id = ?', [id]);
    return row ? json<Annotation>(row.data, 'annotations.data') : null;
  }

  async putAnnotation(a: Annotation): Promise<void> {
    await this.#db.run('INSERT INTO annotations (id, change_id, data) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data',
      [a.id, a.changeId, JSON.stringify(a)]);
  }

  /** The stored result of an earlier command with the same idempotency key, if any. */
  async commandResult(userId: number, key: string): Promise<{ command: string; result: unknown } | null> {
    const row = await this.#db.get<{ command: unknown; result: unknown }>('SELECT command, result FROM command_results WHERE user_id = ? AND key = ?', [userId, key]);
    return row ? { command: text(row.command, 'command_results.command'), result: json<unknown>(row.result, 'command_results.result', 'any') } : null;
  }

  async rememberResult(userId: number, key: string, command: string, result: unknown): Promise<void> {
    await this.#db.run('INSERT INTO command_results (user_id, key, command, result, at) VALUES (?, ?, ?, ?, ?)',
      [userId, key, command, JSON.stringify(result) ?? 'null', new Date().toISOString()]);
  }

  async inventory(backend: string): Promise<{ files: NativeFile[]; version: number } | null> {
    const row = await this.#db.get<{ files: unknown; version: unknown }>('SELECT files, version FROM inventories WHERE backend = ?', [backend]);
    return row ? { files: json<NativeFile[]>(row.files, 'inventories.files', 'array'), version: int(row.version, 'inventories.version') } : null;
  }

  /** Each imported backend's version and who imported it when (not the files), by backend name. */
  async inventoryList(): Promise<{ backend: string; version: number; importedBy: string; importedAt: string }[]> {
    const rows = await this.#db.all<{ backend: unknown; version: unknown; imported_by: unknown; imported_at: unknown }>(
      'SELECT backend, version, imported_by, imported_at FROM inventories');
    return rows.map((r) => ({ backend: String(r.backend), version: int(r.version, 'inventories.version'), importedBy: String(r.imported_by), importedAt: String(r.imported_at) }))
      .sort((a, b) => (a.backend < b.backend ? -1 : a.backend > b.backend ? 1 : 0));
  }

  async putInventory(backend: string, files: NativeFile[], by: string): Promise<number> {
    const current = await this.inventory(backend);
    const version = (current?.version ?? 0) + 1;
    await this.#db.run(`INSERT INTO inventories (backend, files, version, imported_by, imported_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (backend) DO UPDATE SET files = excluded.files, version = excluded.version, imported_by = excluded.imported_by, imported_at = excluded.imported_at`,
      [backend, JSON.stringify(files), version, by, new Date().toISOString()]);
    return version;
  }

  async policies(): Promise<{ name: string; yaml: string }[]> {
    const rows = await this.#db.all<{ name: unknown; yaml: unknown }>('SELECT name, yaml FROM policies');
    return rows.map((r) => ({ name: text(r.name, 'policies.name'), yaml: text(r.yaml, 'policies.yaml') })).sort((a, b) => byCodeUnit(a.name, b.name));
  }

  async putPolicy(name: string, yaml: string, by: string): Promise<void> {
    await this.#db.run(`INSERT INTO policies (name, yaml, updated_by, updated_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (name) DO UPDATE SET yaml = excluded.yaml, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
      [name, yaml, by, new Date().toISOString()]);
  }
}

/**
 * A TEXT column holding JSON, decoded; a column of another type, text that is not JSON, or JSON of
 * another shape than `shape` (an aggregate is an object, a list an array) is an error naming the column.
 */
export function json<T>(value: unknown, column: string, shape: 'object' | 'array' | 'any' = 'object'): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text(value, column));
  } catch (err) {
    if (err instanceof SyntaxError) throw new Error(`${column}: not JSON (${err.message})`, { cause: err });
    throw err;
  }
  const found = Array.isArray(parsed) ? 'array' : parsed === null ? 'null' : typeof parsed;
  if (shape === 'array' ? found !== 'array' : shape === 'object' ? found !== 'object' : false) throw new Error(`${column}: expected a JSON ${shape}, found ${found}`);
  return parsed as T;
}

/** A LIMIT from a caller's number: a whole number from 1 to 500 (anything else, NaN included, is clamped). */
function limitOf(limit: number): number {
  return Number.isFinite(limit) ? Math.min(500, Math.max(1, Math.floor(limit))) : 100;
}

/** Code-unit order, the same on every database whatever its collation. */
export const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function text(value: unknown, column: string): string {
  if (typeof value !== 'string') throw new Error(`${column}: expected text, found ${value === null ? 'null' : typeof value}`);
  return value;
}

export function int(value: unknown, column: string): number {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new Error(`${column}: expected an integer, found ${value === null ? 'null' : typeof value}`);
  return n;
}
