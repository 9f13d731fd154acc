import { DOC_ID_PATTERN } from '../protocol/events.ts';

/** Document kinds (DESIGN.md §3). */
export const DOC_KINDS = ['notes', 'review', 'draft', 'session', 'campaign'] as const;

export interface ParsedDocId {
  docId: string;
  kind: string;
  name: string;
}

/** Parses `<kind>:<name>`; null when the id is malformed. */
export function parseDocId(value: unknown): ParsedDocId | null {
  if (typeof value !== 'string') return null;
  const match = DOC_ID_PATTERN.exec(value);
  if (!match) return null;
  return { docId: value, kind: match[1]!, name: match[2]! };
}
