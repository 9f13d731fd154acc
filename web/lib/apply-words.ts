/**
 * An apply through a target, and the drift a target shows, in words for people (docs/targets.md): the
 * states as the server names them, said as a sentence; time left on a grant as "ends in 3 h 12 min".
 * Pure functions (no DOM, no clock of their own): the components pass `now`.
 */
import type { ApplyView, DriftFinding } from './types.ts';

export type ApplyState = ApplyView['state'];
export type ApplyItem = ApplyView['items'][number];
export type ApplyStep = ApplyView['steps'][number];
export type ApplyGrant = ApplyView['grants'][number];

/** The run's state, as a heading: never colour alone. */
export const APPLY_STATE_WORDS: Record<ApplyState, string> = {
  applying: 'Applying…',
  applied: 'Applied, verifying…',
  verified: 'Verified',
  verification_failed: 'Verification failed',
  partially_applied: 'Partially applied',
  apply_failed: 'Apply failed',
};

/** One sentence under the heading: what the state means and what to do next. */
export const APPLY_STATE_MEANING: Record<ApplyState, string> = {
  applying: 'Accord is reading the target, planning and applying the steps. This page follows it live.',
  applied: 'Every step is done; Accord is reading the target again to check it holds what was approved.',
  verified: 'The target now gives exactly the access that was approved.',
  verification_failed: 'The steps ran, but the target does not give the access that was approved (the differences are below). Apply may be pressed again.',
  partially_applied: 'Some steps were applied and one failed: the target holds part of the change. Apply may be pressed again.',
  apply_failed: 'Nothing was applied. Apply may be pressed again.',
};

/** The callout tone of a state (with the words above, never instead of them). */
export function applyTone(state: ApplyState): 'ok' | 'warn' | 'bad' {
  if (state === 'verified') return 'ok';
  if (state === 'applying' || state === 'applied') return 'warn';
  return 'bad';
}

/** Whether the run is still going (the page shows progress, not a result). */
export function isApplying(state: ApplyState | undefined): boolean {
  return state === 'applying' || state === 'applied';
}

export const ITEM_STATE_WORDS: Record<ApplyItem['state'], string> = {
  pending: 'pending',
  applied: 'applied',
  unchanged: 'unchanged (already in place)',
  failed: 'failed',
};

export const STEP_STATUS_WORDS: Record<ApplyStep['status'], string> = {
  pending: 'to do',
  done: 'done',
  failed: 'failed',
};

/**
 * A duration in words, coarsest two units: "3 h 12 min", "12 min 5 s", "45 s", "2 d 4 h".
 * Rounded down (a countdown never claims more time than is left).
 */
export function durationWords(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(total / 86_400);
  const h = Math.floor((total % 86_400) / 3_600);
  const m = Math.floor((total % 3_600) / 60);
  const s = total % 60;
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  if (m > 0) return s > 0 ? `${m} min ${s} s` : `${m} min`;
  return `${s} s`;
}

/** A moment, for people: the local date and time to the second. */
export function when(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** How loud a grant's line is: `alarm` (expired, NOT revoked) is an alert. */
export type GrantTone = 'live' | 'ended' | 'alarm';

export interface GrantLine {
  /** What the line says ("ends in 3 h 12 min", "revoked at …", "expired, NOT revoked: …"). */
  text: string;
  tone: GrantTone;
  /** A revocation attempt failed and Accord is still retrying (said under the line). */
  retrying?: string;
}

/** A live grant's state at `now` (ms since the epoch), in words. */
export function grantLine(g: ApplyGrant, now: number): GrantLine {
  switch (g.state) {
    case 'revoked':
      return { text: g.revokedAt ? `revoked at ${when(g.revokedAt)}` : 'revoked', tone: 'ended' };
    case 'released':
      return { text: `ended${g.notAfter ? ` at ${when(g.notAfter)}` : ''}; nothing removed, another approved grant still covers the same access`, tone: 'ended' };
    case 'expired_unrevoked':
      return { text: `expired, NOT revoked: ${g.lastError ?? 'every attempt to take it back failed'}`, tone: 'alarm' };
    default: {
      const retrying = g.lastError ? `the last attempt to revoke it failed: ${g.lastError}; Accord tries again` : undefined;
      if (g.notAfter === null) return { text: 'permanent (no end)', tone: 'live', ...(retrying ? { retrying } : {}) };
      const left = Date.parse(g.notAfter) - now;
      if (left > 0) return { text: `ends in ${durationWords(left)}`, tone: 'live', ...(retrying ? { retrying } : {}) };
      return { text: `time is up (${when(g.notAfter)}); Accord is revoking it`, tone: 'live', ...(retrying ? { retrying } : {}) };
    }
  }
}

/** Whether any grant still counts down (the page then ticks each second). */
export function hasCountdown(grants: readonly ApplyGrant[]): boolean {
  return grants.some((g) => g.state === 'active' && g.notAfter !== null);
}

export const DRIFT_KIND_WORDS: Record<DriftFinding['kind'], string> = {
  added: 'added outside Accord',
  missing: 'missing (approved, gone)',
  changed: 'changed outside Accord',
};

/** "just now", "4 min ago", "3 h ago", else the date. */
export function ago(iso: string, now: number = Date.now()): string {
  const s = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (Number.isNaN(s)) return iso;
  return s < 60 ? 'just now' : s < 3600 ? `${Math.round(s / 60)} min ago` : s < 86400 ? `${Math.round(s / 3600)} h ago` : new Date(iso).toLocaleDateString();
}
