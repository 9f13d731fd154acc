import * as Y from 'yjs';
import type { Logger } from '../log.ts';
import type { SessionEvents, SessionService, SessionView } from '../commands/session-service.ts';
import { minutesDocName } from '../domain/session/types.ts';
import type { FactName } from '../protocol/events.ts';
import type { Origin } from './origin.ts';
import type { SyncTransport } from './sync-transport.ts';

/**
 * Writes joint sessions into live documents with a server origin: `session:<id>` (Y.Map `session`, one
 * JSON value per key, only changed keys written) from the database after every session command and
 * decision; its `decisions` are the read-only record. The shared minutes, `notes:session-<id>` (Y.Text
 * `body`), get their opening lines once when the session opens and nothing from the server after that:
 * their prose is the participants', and no decision of Accord's is mixed into it.
 */
export class SessionBridge implements SessionEvents {
  readonly #sync: SyncTransport;
  readonly #sessions: SessionService;
  readonly #log: Logger;
  readonly #pending = new Map<string, Promise<void>>();

  constructor(sync: SyncTransport, sessions: SessionService, log: Logger) {
    this.#sync = sync;
    this.#sessions = sessions;
    this.#log = log;
  }

  /**
   * A committed change command: sessions with the change on their agenda record what was decided. A
   * failure is the dispatcher's to retry (the record is written from the stored change) and report.
   */
  async changeFact(changeId: string, fact: FactName, detail: Record<string, unknown>): Promise<void> {
    await this.#sessions.onChangeFact(changeId, fact, detail);
  }

  sessionChanged(sessionId: string, seed: readonly string[] = []): void {
    const previous = this.#pending.get(sessionId) ?? Promise.resolve();
    const next = previous.then(async () => {
      const view = await this.#sessions.view(sessionId);
      if (view) await this.#write(`session:${sessionId}`, 'session', (doc) => projectSession(doc, view), 'session');
      if (seed.length > 0) await this.#write(`notes:${minutesDocName(sessionId)}`, 'notes', (doc) => appendLines(doc.getText('body'), seed), 'minutes');
    }).catch((err: unknown) => this.#log.error({ err, sessionId }, 'projecting a session failed'));
    this.#pending.set(sessionId, next);
    void next.finally(() => {
      if (this.#pending.get(sessionId) === next) this.#pending.delete(sessionId);
    });
  }

  async settled(): Promise<void> {
    await Promise.all([...this.#pending.values()]);
  }

  async #write(docId: string, kind: string, fn: (doc: Y.Doc) => void, reason: string): Promise<void> {
    const live = await this.#sync.registry.acquire(docId, kind, true);
    try {
      live!.doc.transact(() => fn(live!.doc), { source: 'server', reason } satisfies Origin);
    } finally {
      this.#sync.registry.release(live!);
    }
  }
}

/** Session layout: Y.Map `session` with one JSON value per key of the view; only changed keys are written. */
export function projectSession(doc: Y.Doc, view: SessionView): void {
  const map = doc.getMap<unknown>('session');
  for (const [key, value] of Object.entries(view)) {
    if (JSON.stringify(map.get(key)) !== JSON.stringify(value)) map.set(key, value);
  }
}

/** Appends whole lines at the end of a text, after whatever is there (the minutes' opening lines). */
export function appendLines(text: Y.Text, lines: readonly string[]): void {
  const current = text.toString();
  const prefix = current.length === 0 || current.endsWith('\n') ? '' : '\n';
  text.insert(text.length, `${prefix}${lines.join('\n')}\n`);
}
