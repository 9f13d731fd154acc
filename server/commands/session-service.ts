import { TimerAction } from '../protocol/commands.ts';
import { z } from 'zod';
import type { Principal } from '../auth/roles.ts';
import type { SessionFacts } from '../auth/permissions.ts';
import { startClock, stopClock, type AgendaEntry, type JointSession, type SessionDecision } from '../domain/session/types.ts';
import { tallyChange } from '../domain/review/votes.ts';
import type { ChangeRequest } from '../domain/review/types.ts';
import { AppError } from '../protocol/errors.ts';
import type { FactName } from '../protocol/events.ts';
import type { ChangeStore } from '../store/repositories/change-repository.ts';
import type { SessionStore } from '../store/repositories/session-repository.ts';
import type { Database } from '../store/sql.ts';

export const MAX_AGENDA = 50;
/** Open sessions one person may facilitate at once, and notes one session may hold: bounds what every vote reads. */
export const MAX_OPEN_PER_FACILITATOR = 20;
export const MAX_NOTES = 500;
/** One line: titles and notes cannot add lines that read as records of their own. */
export const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();

const AgendaInput = z.array(z.union([
  z.string().min(1).max(64),
  z.strictObject({ changeId: z.string().min(1).max(64), minutes: z.number().int().min(1).max(240).optional() }),
])).min(1).max(MAX_AGENDA);

/** What `session:create` and `POST /api/joint-sessions` accept. */
/** A session's title: one line, 1 to 200 characters. */
export const SessionTitle = z.string().max(200).transform(oneLine).pipe(z.string().min(1));
export const CreateSession = z.strictObject({
  title: SessionTitle,
  agenda: AgendaInput,
  /** The default time box per item. */
  minutesPerItem: z.number().int().min(1).max(240).default(10),
});
export const SetAgenda = z.strictObject({ agenda: AgendaInput, minutesPerItem: z.number().int().min(1).max(240).default(10) });
export { TimerAction };
/** One line: a note is one entry of the decision record, never several. */
export const NoteText = z.string().max(2_000).transform(oneLine).pipe(z.string().min(1));

/** What the `session:` document and REST show: the session plus each agenda item's title and status. */
export interface SessionView extends Omit<JointSession, 'agenda'> {
  agenda: (AgendaEntry & { title: string; status: string; backend: string; revision: number })[];
}

/**
 * Hooks after a session changed: project the `session:` document. `seed`: the opening lines of the shared
 * minutes, given once when the session opens; after that the prose is the participants' alone (Accord's
 * decisions are kept in `decisions`, the read-only record, and never written into the prose).
 */
export interface SessionEvents {
  sessionChanged(sessionId: string, seed?: readonly string[]): void;
}

export const now = () => Date.now();
export const iso = (ms: number) => new Date(ms).toISOString();
export const clock = (isoTime: string) => `${isoTime.slice(11, 16)} UTC`;

function factsOf(s: JointSession): SessionFacts {
  return { facilitator: s.facilitator, status: s.status };
}


export function statusWords(status: string): string {
  return status.replaceAll('_', ' ');
}

/** The revision a decision is about, by number and content hash: `number`, or the current one. */
export function revisionOf(change: ChangeRequest | undefined, number?: number): Pick<SessionDecision, 'revision' | 'revisionHash'> {
  const rev = number === undefined ? change?.revisions.at(-1) : change?.revisions.find((r) => r.number === number);
  return rev ? { revision: rev.number, revisionHash: rev.hash } : {};
}

function tallyText(change: ChangeRequest): string {
  if (change.revisions.length === 0) return '';
  const { whole } = tallyChange(change);
  return ` (${whole.approve.length} approve, ${whole.reject.length} reject, ${whole.abstain.length} abstain)`;
}

/**
 * Joint sessions: reading them, building agendas, and the decisions that changes on the agenda take
 * while the session is open, recorded as they happen. The facilitator's commands are handlers run by
 * the dispatcher (handlers.ts).
 */
export class SessionService {
  readonly #db: Database;
  readonly #sessions: SessionStore;
  readonly #changes: ChangeStore;
  #events: SessionEvents | undefined;

  constructor(db: Database, sessions: SessionStore, changes: ChangeStore) {
    this.#db = db;
    this.#sessions = sessions;
    this.#changes = changes;
  }

  attach(events: SessionEvents): void {
    this.#events = events;
  }

  async load(id: string): Promise<{ session: JointSession; version: number }> {
    const found = typeof id === 'string' ? await this.#sessions.get(id) : null;
    if (!found) throw new AppError('not_found', 'no such session');
    return found;
  }

  async facts(id: string): Promise<SessionFacts | null> {
    const found = await this.#sessions.get(id);
    return found ? factsOf(found.session) : null;
  }

  list(filter: { status?: string; limit: number }) {
    return this.#sessions.list(filter);
  }

  async view(id: string): Promise<SessionView | null> {
    const found = await this.#sessions.get(id);
    if (!found) return null;
    const { agenda, ...rest } = found.session;
    // A session closed before closing cleared them may still hold a current item: closed means none.
    const closed = rest.status === 'closed' ? { current: null, timer: { running: false, startedAt: null } } : {};
    return {
      ...rest,
      ...closed,
      agenda: await Promise.all(agenda.map(async (entry) => {
        const change = (await this.#changes.get(entry.changeId))?.change;
        const rev = change?.revisions.at(-1);
        return { ...entry, title: rev?.content.title ?? entry.changeId, status: change?.status ?? 'missing', backend: rev?.content.backend ?? '', revision: rev?.number ?? 0 };
      })),
    };
  }

  /** Open sessions whose current item is this change (presence requirements count their participants). */
  discussing(changeId: string): Promise<string[]> {
    return this.#sessions.discussing(changeId);
  }

  /**
   * A committed command touched a change: every open session with it on the agenda records what was
   * decided (a new status, a new revision, a sign-off, a recusal) in its decision record, each entry
   * bound to the revision it is about.
   */
  async onChangeFact(changeId: string, fact: FactName, detail: Record<string, unknown>): Promise<void> {
    if (!['vote:recorded', 'status:changed', 'revision:submitted', 'signoff:recorded', 'reviewer:recused'].includes(fact)) return;
    const touched: string[] = [];
    await this.#db.transaction(async () => {
      const change = (await this.#changes.get(changeId))?.change;
      if (!change) return;
      for (const open of await this.#sessions.openWith(changeId)) {
        const index = open.agenda.findIndex((e) => e.changeId === changeId);
        if (index < 0) continue;
        const { session: s, version } = await this.load(open.id);
        const entry = s.agenda[index]!;
        const at = iso(now());
        const by = String(detail.voter ?? detail.approver ?? detail.reviewer ?? 'accord');
        const found: SessionDecision[] = [];
        const current = revisionOf(change);
        const revision = current.revision ?? 0;
        if (revision !== entry.lastRevision) {
          found.push({ at, changeId, kind: 'revision', by, text: `revision ${revision} submitted; votes on changed items are stale`, ...current });
          entry.lastRevision = revision;
        }
        if (change.status !== entry.lastStatus) {
          found.push({ at, changeId, kind: 'status', by, text: `${statusWords(change.status)}${tallyText(change)}`, ...current });
          entry.lastStatus = change.status;
        }
        if (fact === 'signoff:recorded') {
          const signed = revisionOf(change, Number(detail.revision));
          found.push({ at, changeId, kind: 'signoff', by, text: `signed off by ${by} (revision ${String(detail.revision)})`, ...signed });
        }
        if (fact === 'reviewer:recused') found.push({ at, changeId, kind: 'note', by, text: `${by} recused`, ...current });
        if (found.length === 0) continue;
        s.decisions.push(...found);
        await this.#sessions.save(s, version);
        touched.push(s.id);
      }
    });
    for (const id of touched) this.#events?.sessionChanged(id);
  }

  /** Builds agenda entries, keeping the time already spent on items that stay; every change must exist, once. */
  async buildAgenda(input: z.infer<typeof AgendaInput>, minutesPerItem: number, previous: readonly AgendaEntry[]): Promise<AgendaEntry[]> {
    const seen = new Set<string>();
    const entries: AgendaEntry[] = [];
    for (const item of input) {
      const changeId = typeof item === 'string' ? item : item.changeId;
      if (seen.has(changeId)) throw new AppError('invalid_payload', `${changeId} is on the agenda twice`);
      seen.add(changeId);
      const change = (await this.#changes.get(changeId))?.change;
      if (!change) throw new AppError('invalid_payload', `no such change: ${changeId}`);
      const old = previous.find((e) => e.changeId === changeId);
      const minutes = typeof item === 'string' ? (old?.minutes ?? minutesPerItem) : (item.minutes ?? old?.minutes ?? minutesPerItem);
      entries.push({
        changeId, minutes, spentMs: old?.spentMs ?? 0,
        lastStatus: old?.lastStatus ?? change.status, lastRevision: old?.lastRevision ?? (change.revisions.at(-1)?.number ?? 0),
      });
    }
    return entries;
  }

  #title(change: ChangeRequest): string {
    const title = change.revisions.at(-1)?.content.title;
    return title ? `“${oneLine(title)}”` : '';
  }

  /** An agenda line's label: the change id and its title. */
  async label(changeId: string): Promise<string> {
    const change = (await this.#changes.get(changeId))?.change;
    return change ? `${changeId} ${this.#title(change)}`.trim() : changeId;
  }
}
