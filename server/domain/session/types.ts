/**
 * A joint session (a change advisory board meeting): an agenda of change requests that a facilitator
 * walks through, a time box per item, and the decisions taken, in order. Pure data; no I/O.
 */
export const SESSION_STATUSES = ['open', 'closed'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

export interface AgendaEntry {
  changeId: string;
  /** The time box for this item, in minutes. */
  minutes: number;
  /** Time already spent on this item while its clock ran (ms), not counting a running stretch. */
  spentMs: number;
  /** The change's status when the session last looked: a different status is a decision to minute. */
  lastStatus: string;
  /** The change's current revision number when the session last looked. */
  lastRevision: number;
}

/** `outcome`: an item's status when the session closed. A recusal is a `note` by the reviewer who recused. */
export type DecisionKind = 'status' | 'revision' | 'signoff' | 'note' | 'outcome';

/**
 * One line of the session's decision record: written by the server only (from committed commands and the
 * facilitator's notes), read-only for every client, and never copied into the shared prose minutes.
 */
export interface SessionDecision {
  at: string;
  changeId: string | null;
  kind: DecisionKind;
  /** One line. */
  text: string;
  /** Who caused it when the fact names them (the facilitator for notes, the voter, approver or recusing reviewer); `accord` otherwise (a new revision, a withdrawal, an apply). */
  by: string;
  /**
   * The revision of `changeId` the decision is about, by number and content hash: the revision voted on,
   * signed or submitted, or the one on the table when a note was recorded. Absent for a note on no item,
   * and in records written before decisions kept it.
   */
  revision?: number;
  revisionHash?: string;
}

export interface JointSession {
  id: string;
  title: string;
  facilitator: string;
  status: SessionStatus;
  createdAt: string;
  closedAt?: string;
  agenda: AgendaEntry[];
  /** Index into `agenda` of the item under discussion: null before the first one, and once closed. */
  current: number | null;
  /** The current item's clock: running since `startedAt` (server time), on top of its `spentMs`; stopped once closed. */
  timer: { running: boolean; startedAt: string | null };
  decisions: SessionDecision[];
}

/** The shared minutes of a session live in this `notes:` document. */
export function minutesDocName(sessionId: string): string {
  return `session-${sessionId}`;
}

/** Stops the current item's clock at `now`, adding the running stretch to its spent time. */
export function stopClock(session: JointSession, now: number): void {
  const entry = session.current === null ? undefined : session.agenda[session.current];
  if (entry && session.timer.running && session.timer.startedAt) {
    entry.spentMs += Math.max(0, now - Date.parse(session.timer.startedAt));
  }
  session.timer = { running: false, startedAt: null };
}

export function startClock(session: JointSession, now: number): void {
  session.timer = { running: session.current !== null, startedAt: session.current !== null ? new Date(now).toISOString() : null };
}

/** Milliseconds spent on agenda entry `index` as of `now`, counting the running stretch. */
export function spentOn(session: JointSession, index: number, now: number): number {
  const entry = session.agenda[index];
  if (!entry) return 0;
  const running = session.current === index && session.timer.running && session.timer.startedAt
    ? Math.max(0, now - Date.parse(session.timer.startedAt)) : 0;
  return entry.spentMs + running;
}
