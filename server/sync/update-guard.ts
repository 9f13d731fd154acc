/**
 * What the server checks before a client's Yjs update touches a live document (integrity findings 6 and 7,
 * and the draft-writer half of 2). Everything here runs BEFORE `Y.applyUpdate` on the live document: a
 * refused update changes nothing, is stored nowhere, and is answered with `doc:error`.
 *
 * - Size: no document grows past `maxDocumentBytes` (a running estimate, recomputed exactly when near it).
 * - Drafts: an update that would leave a `draft:` document in a shape the server cannot read (an unknown
 *   key in `meta`, a foreign root type, an item that is not a plain object with known fields) is refused.
 *   It is validated on a shadow copy of the document first: "validate on a copy, then apply".
 * - Draft writers: whoever writes into a draft is recorded (durably, before the write is applied) as an
 *   author of the revisions submitted after it.
 */
import * as Y from 'yjs';
import { z } from 'zod';
import type { Principal } from '../auth/roles.ts';
import { BACKEND_IDS } from '../domain/access/model.ts';
import { describeIssues } from '../domain/access/change-schema.ts';
import { AppError } from '../protocol/errors.ts';
import { readDraft } from './change-docs.ts';
import type { LiveDocument } from './live-document.ts';

export interface UpdateGuard {
  /** Throws an AppError to refuse `update` from `principal` on `doc`; returns when it may be applied. */
  /** Throws to refuse the update; a returned promise is waited for before the update is acknowledged. */
  beforeUpdate(doc: LiveDocument, principal: Principal, update: Uint8Array): Promise<void> | void;
}

const Text = (max: number) => z.string().max(max);
/** A grant as it may stand while someone is still typing it: every field known, none yet required to be complete. */
const DraftGrant = z.strictObject({
  principal: Text(500),
  role: Text(200).optional(),
  privileges: z.array(Text(64)).max(100).optional(),
  resource: Text(1_000),
  propagate: z.boolean().optional(),
  effect: z.enum(['allow', 'deny']).optional(),
  expiresAt: Text(64).optional(),
});
const DraftItem = z.strictObject({
  id: Text(200),
  op: z.enum(['add', 'remove', 'replace']),
  grant: DraftGrant.optional(),
  from: DraftGrant.optional(),
  to: DraftGrant.optional(),
});
/**
 * The readable shape of a draft (docs/protocol.md, "draft documents"): the same keys and bounds as a
 * change's content (content-schema.ts), but an unfinished title or item is allowed; `submit` then
 * checks the content in full.
 */
const META = {
  title: Text(200).optional(),
  backend: z.enum(BACKEND_IDS).optional(),
  ticket: Text(500).optional(),
  target: Text(63).optional(),
  durationHours: z.number().positive().max(24 * 366).optional(),
  environment: z.array(Text(64)).max(20).optional(),
};
const MAX_JUSTIFICATION = 20_000;
const MAX_ITEMS = 2_000;
const DraftMeta = z.strictObject(META);
export const DraftShape = z.strictObject({
  ...META,
  justification: Text(MAX_JUSTIFICATION),
  items: z.array(DraftItem).max(MAX_ITEMS),
});

const DRAFT_ROOTS = new Set(['meta', 'justification', 'items']);

/** Problems that make a draft unreadable, or none. */
export function draftProblems(doc: Y.Doc): string[] {
  const problems: string[] = [];
  for (const name of doc.share.keys()) if (!DRAFT_ROOTS.has(name)) problems.push(`unknown part "${name}" (a draft has meta, justification and items)`);
  const meta = doc.getMap('meta');
  for (const [key, value] of meta.entries()) {
    if (value instanceof Y.AbstractType && !(key === 'title' && value instanceof Y.Text)) problems.push(`meta.${key}: only the title is shared text`);
  }
  const justification = doc.getText('justification');
  if (justification._map.size > 0) problems.push('justification: holds keys, not only text');
  const items = doc.getArray('items');
  items.forEach((item, i) => { if (item instanceof Y.AbstractType) problems.push(`items.${i}: an item is a plain object, not a shared type`); });
  if (problems.length) return problems;
  const parsed = DraftShape.safeParse(readDraft(doc));
  return parsed.success ? [] : describeIssues(parsed.error);
}

/** The root a (possibly nested) shared type hangs from, by name; null for a type of no known root. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Yjs types every shared type's events differently
function rootName(doc: Y.Doc, type: Y.AbstractType<any>): string | null {
  let t = type;
  while (t._item) t = t._item.parent as Y.AbstractType<Y.YEvent<Y.AbstractType<unknown>>>;
  for (const [name, root] of doc.share) if (root === t) return name;
  return null;
}

/**
 * What one update made unreadable, judged on what it touched (the rest was readable before it, or the
 * full check ran): the `meta` map if it changed, the justification's length, the items it inserted.
 * O(what changed), not O(draft): a keystroke in a 2,000-item draft does not re-read 2,000 items.
 */
function touchedProblems(doc: Y.Doc, roots: ReadonlySet<string>, inserted: readonly unknown[]): string[] {
  const problems: string[] = [];
  if (roots.has('meta')) {
    const meta = doc.getMap('meta');
    for (const [key, value] of meta.entries()) {
      if (value instanceof Y.AbstractType && !(key === 'title' && value instanceof Y.Text)) problems.push(`meta.${key}: only the title is shared text`);
    }
    if (problems.length === 0) {
      const parsed = DraftMeta.safeParse(meta.toJSON());
      if (!parsed.success) problems.push(...describeIssues(parsed.error).map((p) => `meta.${p}`));
    }
  }
  if (roots.has('justification')) {
    const text = doc.getText('justification');
    if (text._map.size > 0) problems.push('justification: holds keys, not only text');
    if (text.length > MAX_JUSTIFICATION) problems.push(`justification: longer than ${MAX_JUSTIFICATION} characters`);
  }
  if (roots.has('items')) {
    const count = doc.getArray('items').length;
    if (count > MAX_ITEMS) problems.push(`items: more than ${MAX_ITEMS}`);
    inserted.forEach((item) => {
      if (item instanceof Y.AbstractType) return void problems.push('items: an item is a plain object, not a shared type');
      const parsed = DraftItem.safeParse(item);
      if (!parsed.success) problems.push(...describeIssues(parsed.error).map((p) => `item ${JSON.stringify((item as { id?: unknown } | null)?.id ?? '?')}: ${p}`));
    });
  }
  return problems;
}

export interface GuardOptions {
  maxDocumentBytes: number;
  /**
   * Records a draft writer; `changeId` is the draft's name. Called before the update is applied; what it
   * returns is waited for before the update is acknowledged (and a submit waits for it too: ChangeService).
   */
  recordDraftWriter(changeId: string, username: string): Promise<void> | void;
}

function copyOf(doc: Y.Doc): Y.Doc {
  const copy = new Y.Doc({ gc: true });
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc));
  return copy;
}

const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MB`;

export class AccordUpdateGuard implements UpdateGuard {
  readonly #options: GuardOptions;
  /** Per live document: an upper estimate of its encoded size (what a new reader downloads). */
  readonly #size = new WeakMap<LiveDocument, number>();
  /** Per live draft: a shadow copy that candidate updates are applied to first. */
  readonly #shadow = new WeakMap<LiveDocument, Y.Doc>();

  constructor(options: GuardOptions) {
    this.#options = options;
  }

  beforeUpdate(doc: LiveDocument, principal: Principal, update: Uint8Array): Promise<void> | void {
    this.#checkSize(doc, update);
    // Opening a draft sends a sync step 2 that may carry nothing new: only a writer of content is an author.
    const recorded = doc.kind === 'draft' && this.#checkDraft(doc, update)
      ? this.#options.recordDraftWriter(doc.id.slice('draft:'.length), principal.username)
      : undefined;
    this.#size.set(doc, (this.#size.get(doc) ?? 0) + update.byteLength);
    return recorded;
  }

  #checkSize(doc: LiveDocument, update: Uint8Array): void {
    const max = this.#options.maxDocumentBytes;
    let size = this.#size.get(doc);
    if (size === undefined || size + update.byteLength > max) {
      // The estimate only grows (deletions shrink the real size): recount before refusing.
      size = Y.encodeStateAsUpdate(doc.doc).byteLength;
      this.#size.set(doc, size);
    }
    if (size + update.byteLength > max) {
      throw new AppError('too_large', `this document holds ${mb(size)} and may not grow past ${mb(max)}; the update (${update.byteLength} bytes) was not applied. Remove content first, or start another document`);
    }
  }

  /**
   * Applies the update to the shadow copy first; a draft it would make unreadable is refused. True when
   * it changes the draft's content (what `submit` would read).
   */
  #checkDraft(doc: LiveDocument, update: Uint8Array): boolean {
    let shadow = this.#shadow.get(doc);
    let full = false;
    if (!shadow) {
      shadow = new Y.Doc({ gc: true });
      // The readable roots exist up front, so a root the update brings in is noticed as new.
      shadow.getMap('meta');
      shadow.getText('justification');
      shadow.getArray('items');
      this.#shadow.set(doc, shadow);
      doc.doc.once('destroy', () => shadow!.destroy());
      full = true; // a new shadow: judge the whole draft once
    }
    // Catch up with what the live document received meanwhile (server writes, other clients): only the difference.
    Y.applyUpdate(shadow, Y.encodeStateAsUpdate(doc.doc, Y.encodeStateVector(shadow)));
    // What this update touches: the roots its changes hang from, and the items it inserts.
    const roots = new Set<string>();
    const inserted: unknown[] = [];
    const share = shadow.share.size;
    const onTransaction = (tr: Y.Transaction): void => {
      for (const type of tr.changed.keys()) roots.add(rootName(shadow!, type) ?? '(unknown)');
    };
    const onItems = (event: Y.YArrayEvent<unknown>): void => {
      for (const d of event.changes.delta) if (Array.isArray(d.insert)) inserted.push(...(d.insert as unknown[]));
    };
    const items = shadow.getArray('items');
    shadow.on('afterTransaction', onTransaction);
    items.observe(onItems);
    try {
      Y.applyUpdate(shadow, update);
    } finally {
      shadow.off('afterTransaction', onTransaction);
      items.unobserve(onItems);
    }
    full ||= shadow.share.size !== share || [...roots].some((r) => !DRAFT_ROOTS.has(r));
    const problems = full ? draftProblems(shadow) : touchedProblems(shadow, roots, inserted);
    // Opening a draft sends a sync step 2 that may carry nothing new: it changes no type.
    if (problems.length === 0) return roots.size > 0;
    // The shadow now holds the update: start it again from the live document next time.
    shadow.destroy();
    this.#shadow.delete(doc);
    // A draft stored before this check existed may be unreadable already: an edit that adds no problem of
    // its own is let through (PUT /draft repairs the rest), one that adds a problem is refused.
    const existing = new Set(draftProblems(copyOf(doc.doc)));
    const added = problems.filter((p) => !existing.has(p));
    if (added.length === 0) return true;
    throw new AppError('invalid_payload', `this edit would leave the draft unreadable, so it was not applied: ${added.slice(0, 5).join('; ')}`);
  }
}
