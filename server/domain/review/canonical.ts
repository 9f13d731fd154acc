/** The content hashes that bind votes to what a reviewer saw (DESIGN.md §4). */
import type { ChangeItem } from '../access/model.ts';
import type { ChangeContent } from './types.ts';
import { canonicalJson, sha256Hex } from '../canonical.ts';

export { canonicalJson, sha256Hex };

/**
 * The revision hash: over the whole content (title, justification, backend, items, ticket, duration,
 * environment). Everything a reviewer approves is in it: a changed duration or environment tag makes
 * whole-revision votes stale just like a changed item does.
 */
export function hashContent(content: ChangeContent): string {
  return sha256Hex(canonicalJson(content));
}

/** What a revision is judged under besides its content: the policy chosen for it, the inventory it was computed on. */
export interface EnvelopeContext {
  policy: string;
  /** Version of the backend's imported inventory the native form and blast radius were computed on. */
  inventoryVersion: number;
}

/**
 * The envelope hash: everything of a revision that is not an item (every content field but `items`,
 * and its context). An item vote says "this item, in this setting": it carries over to a later
 * revision only while the item's hash and this hash are both unchanged, so amending the duration,
 * the justification or the environment makes every vote stale (integrity finding 1).
 */
export function hashEnvelope(content: ChangeContent, context: EnvelopeContext): string {
  const { items: _items, ...envelope } = content;
  return sha256Hex(canonicalJson({ type: 'accord-envelope/1', content: envelope, policy: context.policy, inventoryVersion: context.inventoryVersion }));
}

/** The hash of one item (id included): a vote on that item carries over while this stays equal. */
export function hashItem(item: ChangeItem): string {
  return sha256Hex(canonicalJson(item));
}

/** Item id → item hash. Duplicate ids are refused: a vote must name exactly one item. */
export function hashItems(items: readonly ChangeItem[]): Record<string, string> {
  const entries: [string, string][] = [];
  const ids = new Set<string>();
  for (const item of items) {
    if (ids.has(item.id)) throw new TypeError(`hashItems: duplicate item id ${JSON.stringify(item.id)}`);
    ids.add(item.id);
    entries.push([item.id, hashItem(item)]);
  }
  // Object.fromEntries defines own properties, so an id like "__proto__" is stored, not swallowed.
  return Object.fromEntries(entries);
}
