/**
 * What changed between two revisions, in words a reviewer can act on: the message of a `revision_changed`
 * refusal ("you looked at revision 1; revision 2 is current: duration 4 h → 8760 h; item i2 changed").
 * Pure: no I/O.
 */
import { canonicalJson } from '../canonical-json.ts';
import type { ChangeContent, Revision } from './types.ts';

const FIELDS: readonly { key: Exclude<keyof ChangeContent, 'items'>; label: string; show: boolean }[] = [
  { key: 'title', label: 'title', show: true },
  { key: 'backend', label: 'backend', show: true },
  { key: 'durationHours', label: 'duration (hours)', show: true },
  { key: 'environment', label: 'environment', show: true },
  { key: 'ticket', label: 'ticket', show: true },
  { key: 'justification', label: 'justification', show: false },
];

function shown(value: unknown): string {
  if (value === undefined) return 'none';
  if (Array.isArray(value)) return value.length ? value.join(', ') : 'none';
  const text = String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The differences from `seen` to `current`, one phrase each; empty when their contents are equal. */
export function contentDifferences(seen: ChangeContent, current: ChangeContent): string[] {
  const out: string[] = [];
  for (const f of FIELDS) {
    const a = seen[f.key];
    const b = current[f.key];
    if (canonicalJson(a ?? null) === canonicalJson(b ?? null)) continue;
    out.push(f.show ? `${f.label} ${shown(a)} → ${shown(b)}` : `${f.label} changed`);
  }
  const before = new Map(seen.items.map((i) => [i.id, canonicalJson(i)]));
  const after = new Map(current.items.map((i) => [i.id, canonicalJson(i)]));
  for (const [id, text] of after) {
    if (!before.has(id)) out.push(`item ${id} added`);
    else if (before.get(id) !== text) out.push(`item ${id} changed`);
  }
  for (const id of before.keys()) if (!after.has(id)) out.push(`item ${id} removed`);
  if (out.length === 0 && canonicalJson(seen.items.map((i) => i.id)) !== canonicalJson(current.items.map((i) => i.id))) out.push('items reordered');
  return out;
}

/** The message of a refusal whose maker named `seenHash` while `current` is the current revision. */
export function describeRevisionChange(revisions: readonly Revision[], seenHash: string, current: Revision): string {
  const seen = revisions.find((r) => r.hash === seenHash);
  const now = `revision ${current.number} (hash ${current.hash.slice(0, 12)}) is current`;
  if (!seen) {
    return `no revision of this change has hash ${String(seenHash).slice(0, 64)}; ${now}: read it, then act on what you have seen`;
  }
  const diffs = contentDifferences(seen.content, current.content);
  const what = diffs.length ? `: ${diffs.join('; ')}` : ' (the policy or the imported inventory it is judged under changed)';
  return `you looked at revision ${seen.number}, but ${now}${what}. Read revision ${current.number}, then act again`;
}
