import * as Y from 'yjs';
import type { ChangeContent } from '../domain/review/types.ts';

/**
 * How change content lives in a `draft:` document (authors edit it together) and how a review is
 * projected into its server-written `review:` document. Shapes are documented in docs/protocol.md.
 */

/**
 * Draft layout: Y.Map `meta` (title as a Y.Text so co-authors can type in it together; backend, ticket,
 * durationHours, environment as plain values), Y.Text `justification`, Y.Array `items` of plain objects.
 * Drafts written before the title became a Y.Text hold a string there; readers accept both.
 */
export function writeDraft(doc: Y.Doc, content: ChangeContent, origin: unknown): void {
  doc.transact(() => {
    const meta = doc.getMap('meta');
    // The whole map is replaced: a key the content does not name (a removed ticket, a stray key) goes.
    const keep = new Set(['title', 'backend', ...(['ticket', 'target', 'durationHours', 'environment'] as const).filter((k) => content[k] !== undefined)]);
    for (const key of [...meta.keys()]) if (!keep.has(key)) meta.delete(key);
    meta.set('title', new Y.Text(content.title));
    meta.set('backend', content.backend);
    if (content.ticket !== undefined) meta.set('ticket', content.ticket);
    if (content.target !== undefined) meta.set('target', content.target);
    if (content.durationHours !== undefined) meta.set('durationHours', content.durationHours);
    if (content.environment !== undefined) meta.set('environment', content.environment);
    const text = doc.getText('justification');
    text.delete(0, text.length);
    text.insert(0, content.justification);
    const items = doc.getArray<unknown>('items');
    items.delete(0, items.length);
    items.push(content.items);
  }, origin);
}

/** The draft as plain data, unvalidated: `submit` validates it with the content schema. */
export function readDraft(doc: Y.Doc): Record<string, unknown> {
  const meta = doc.getMap('meta').toJSON() as Record<string, unknown>;
  return { ...meta, justification: doc.getText('justification').toString(), items: doc.getArray('items').toJSON() };
}

/**
 * Review layout: Y.Map `review` with one JSON value per key (`status`, `votes`, `evaluation`, ...) and an
 * append-only Y.Array `revisions`. Only keys whose value changed are written, so clients see small updates.
 */
export function projectReview(doc: Y.Doc, view: { revisions: unknown[]; [key: string]: unknown }, origin: unknown): void {
  doc.transact(() => {
    const map = doc.getMap<unknown>('review');
    for (const [key, value] of Object.entries(view)) {
      if (key === 'revisions') continue;
      if (JSON.stringify(map.get(key)) !== JSON.stringify(value)) map.set(key, value);
    }
    const revisions = doc.getArray<unknown>('revisions');
    if (revisions.length < view.revisions.length) revisions.push(view.revisions.slice(revisions.length));
  }, origin);
}
