import { createHash, randomBytes } from 'node:crypto';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Principal } from '../auth/roles.ts';
import { AppError } from '../protocol/errors.ts';
import type { ChangeStore } from '../store/repositories/change-repository.ts';
import type { Database } from '../store/sql.ts';

/**
 * The id of something a command creates. With an idempotency key it is derived from (user, key), so a
 * replayed create names the same subject and returns the first result instead of a conflict.
 */
export function newId(prefix: string, p: Principal, key: string | undefined, bytes = 8): string {
  const raw = key === undefined ? randomBytes(bytes) : createHash('sha256').update(`${p.userId}\0${key}`).digest().subarray(0, bytes);
  return `${prefix}${raw.toString('hex')}`;
}

export interface CommandOutcome<T> {
  result: T;
  /** What the audit entry records about the command (never secrets). */
  detail: Record<string, unknown>;
}

/**
 * Runs every server-authoritative command the same way: in one transaction with its audit entry;
 * a refusal rolls everything back and then records only the refusal; an idempotency key makes a
 * replayed command return the first result without a second effect.
 */
export class CommandRunner {
  readonly #db: Database;
  readonly #audit: AuditLog;
  readonly #store: ChangeStore;

  constructor(db: Database, audit: AuditLog, store: ChangeStore) {
    this.#db = db;
    this.#audit = audit;
    this.#store = store;
  }

  /**
   * `payload`: for commands whose subject comes from the key (creates), what was asked: a replay must ask
   * the same, or it is refused rather than silently answered with the first result.
   */
  async run<T>(p: Principal, command: string, subject: string, key: string | undefined, fn: () => Promise<CommandOutcome<T>>, payload?: unknown): Promise<T> {
    const tag = payload === undefined ? `${command}:${subject}` : `${command}:${subject}#${createHash('sha256').update(JSON.stringify(payload) ?? '').digest('hex').slice(0, 32)}`;
    try {
      return await this.#db.transaction(async () => {
        if (key !== undefined) {
          const prior = await this.#store.commandResult(p.userId, key);
          if (prior) {
            if (prior.command !== tag) throw new AppError('conflict', 'this idempotency key was used for another command');
            return prior.result as T;
          }
        }
        const { result, detail } = await fn();
        await this.#audit.append({ actor: p.username, action: command, subject, outcome: 'ok', detail });
        if (key !== undefined) await this.#store.rememberResult(p.userId, key, tag, result);
        return result;
      });
    } catch (err) {
      await this.refused(p, command, subject, err);
      throw err;
    }
  }

  /**
   * A fact the server observed that is not a command (e.g. who wrote into a draft over Yjs): `effect` runs
   * in one unit of work with its audit entry, written only when it returns a detail (null: nothing new).
   */
  async observe(actor: string, action: string, subject: string, effect: () => Promise<Record<string, unknown> | null>): Promise<void> {
    await this.#db.transaction(async () => {
      const detail = await effect();
      if (detail) await this.#audit.append({ actor, action, subject, outcome: 'ok', detail });
    });
  }

  /**
   * Records a refusal (its own unit of work: the refused command's writes were rolled back). Nothing is
   * recorded when the database itself was unreachable: there is nowhere to record it.
   */
  async refused(p: Principal, command: string, subject: string, err: unknown): Promise<void> {
    if (!(err instanceof AppError) || err.code === 'storage_unavailable') return;
    await this.#audit.append({ actor: p.username, action: command, subject, outcome: 'refused', detail: { code: err.code, message: err.message } });
  }
}
