import type { ChangeItem, GrantSpec, Revision } from './types.ts';

export interface ItemDiff {
  added: ChangeItem[];
  removed: ChangeItem[];
  changed: { before: ChangeItem; after: ChangeItem }[];
  unchanged: ChangeItem[];
}

/** Items added, removed and changed, matched by their stable item id; `same` decides whether one id's two versions are equal. */
export function diffItems(before: readonly ChangeItem[], after: readonly ChangeItem[], same: (a: ChangeItem, b: ChangeItem) => boolean): ItemDiff {
  const out: ItemDiff = { added: [], removed: [], changed: [], unchanged: [] };
  const old = new Map(before.map((i) => [i.id, i]));
  for (const item of after) {
    const prev = old.get(item.id);
    if (!prev) out.added.push(item);
    else if (!same(prev, item)) out.changed.push({ before: prev, after: item });
    else out.unchanged.push(item);
    old.delete(item.id);
  }
  out.removed.push(...old.values());
  return out;
}

/** Items added, removed and changed between two revisions, matched by their stable item id (equal = same item hash). */
export function diffRevisions(before: Revision | undefined, after: Revision): ItemDiff {
  if (!before) return { added: [...after.content.items], removed: [], changed: [], unchanged: [] };
  return diffItems(before.content.items, after.content.items, (a) => before.itemHashes[a.id] === after.itemHashes[a.id]);
}

/** One line a person reads for an item: `add devs: vm.power, vm.console on /vms/100`. Tolerates half-written draft items. */
export function describeItem(item: ChangeItem): string {
  const grant = (g: GrantSpec | undefined) =>
    g ? `${g.principal || '?'}: ${g.role ?? (g.privileges ?? []).join(', ')} on ${g.resource || '?'}${g.propagate ? ' (propagates)' : ''}${g.effect === 'deny' ? ' — deny' : ''}` : '?';
  if (item.op === 'replace') return `replace ${grant(item.from)} → ${grant(item.to)}`;
  return `${item.op} ${grant(item.grant)}`;
}

/** The parts of a change's content that are not items (what the revision's `envelopeHash` covers, less the policy). */
export interface ContentLike {
  title?: unknown;
  justification?: unknown;
  backend?: unknown;
  ticket?: unknown;
  durationHours?: unknown;
  environment?: unknown;
  items?: unknown;
}

export type ContentField = 'title' | 'justification' | 'backend' | 'ticket' | 'durationHours' | 'environment';

/** One field that differs, in words: `Duration: 4 h → 8,760 h`. */
export interface FieldChange {
  field: ContentField;
  label: string;
  before: string;
  after: string;
  /** Long text (the justification): show before and after on request, not inline. */
  long: boolean;
}

export interface ContentChanges {
  fields: FieldChange[];
  items: ItemDiff;
  /** True when nothing a person can see differs. */
  none: boolean;
  /** Said when nothing in the content differs yet the revisions differ (e.g. the governing policy changed). */
  note?: string;
}

const NUMBER = new Intl.NumberFormat('en-US');

/** `4 h`, `8,760 h`; no duration means the access does not expire. */
export function formatDuration(hours: unknown): string {
  return typeof hours === 'number' ? `${NUMBER.format(hours)} h` : 'permanent';
}

const FIELDS: { field: ContentField; label: string; format: (v: unknown) => string; long?: boolean }[] = [
  { field: 'title', label: 'Title', format: (v) => (typeof v === 'string' && v ? `“${v}”` : 'none') },
  { field: 'backend', label: 'Backend', format: (v) => (typeof v === 'string' && v ? v : 'none') },
  { field: 'durationHours', label: 'Duration', format: formatDuration },
  { field: 'environment', label: 'Environment', format: (v) => (Array.isArray(v) && v.length ? v.join(', ') : 'none') },
  { field: 'ticket', label: 'Ticket', format: (v) => (typeof v === 'string' && v ? v : 'none') },
  { field: 'justification', label: 'Justification', format: (v) => (typeof v === 'string' ? v : ''), long: true },
];

const itemsOf = (c: ContentLike): ChangeItem[] => (Array.isArray(c.items) ? (c.items as ChangeItem[]).filter((i) => i && typeof i.id === 'string') : []);
const sameJson = (a: unknown, b: unknown) => JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, x]) => [k, sortKeys(x)]));
  return v;
}

/**
 * Everything a person would notice between two versions of a change's content: each differing field in
 * words, and the items added, removed and changed by id. Works for revisions and for drafts (plain data
 * read from the `draft:` document); `sameItem` defaults to comparing the items' JSON with sorted keys.
 */
export function compareContent(before: ContentLike, after: ContentLike, sameItem: (a: ChangeItem, b: ChangeItem) => boolean = sameJson): ContentChanges {
  const fields: FieldChange[] = [];
  for (const f of FIELDS) {
    const a = before[f.field];
    const b = after[f.field];
    if (sameJson(a ?? null, b ?? null)) continue;
    fields.push({ field: f.field, label: f.label, before: f.format(a), after: f.format(b), long: f.long ?? false });
  }
  const items = diffItems(itemsOf(before), itemsOf(after), sameItem);
  return { fields, items, none: !fields.length && !items.added.length && !items.removed.length && !items.changed.length };
}

/** What changed from one revision to another (items compared by their hashes, as the server does). */
export function compareRevisions(before: Revision, after: Revision): ContentChanges {
  const changes = compareContent(before.content, after.content, (a) => before.itemHashes[a.id] === after.itemHashes[a.id]);
  if (changes.none && before.envelopeHash !== undefined && after.envelopeHash !== undefined && before.envelopeHash !== after.envelopeHash) {
    changes.note = 'The content is the same; the governing policy or the inventory the blast radius was computed on changed.';
  } else if (changes.none) {
    changes.note = 'The content is the same: it was submitted again.';
  }
  return changes;
}

/** One short line per change, for text and tests: `Duration: 4 h → 8,760 h`, `Justification changed`, `Item i3 added`. */
export function summarizeChanges(changes: ContentChanges): string[] {
  const lines = changes.fields.map((f) => (f.long ? `${f.label} changed` : `${f.label}: ${f.before} → ${f.after}`));
  for (const i of changes.items.added) lines.push(`Item ${i.id} added: ${describeItem(i)}`);
  for (const i of changes.items.removed) lines.push(`Item ${i.id} removed: ${describeItem(i)}`);
  for (const c of changes.items.changed) lines.push(`Item ${c.after.id} changed: ${describeItem(c.before)} → ${describeItem(c.after)}`);
  if (changes.none && changes.note) lines.push(changes.note);
  return lines;
}
