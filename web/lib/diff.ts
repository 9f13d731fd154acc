import type { ChangeItem, GrantSpec, Revision } from './types.ts';

export interface ItemDiff {
  added: ChangeItem[];
  removed: ChangeItem[];
  changed: { before: ChangeItem; after: ChangeItem }[];
  unchanged: ChangeItem[];
}

/** Items added, removed and changed between two revisions, matched by their stable item id. */
export function diffRevisions(before: Revision | undefined, after: Revision): ItemDiff {
  const out: ItemDiff = { added: [], removed: [], changed: [], unchanged: [] };
  const old = new Map((before?.content.items ?? []).map((i) => [i.id, i]));
  for (const item of after.content.items) {
    const prev = old.get(item.id);
    if (!prev) out.added.push(item);
    else if (before && before.itemHashes[item.id] !== after.itemHashes[item.id]) out.changed.push({ before: prev, after: item });
    else out.unchanged.push(item);
    old.delete(item.id);
  }
  out.removed.push(...old.values());
  return out;
}

/** One line a person reads for an item: `add devs: vm.power, vm.console on /vms/100`. */
export function describeItem(item: ChangeItem): string {
  const grant = (g: GrantSpec) =>
    `${g.principal}: ${g.role ?? (g.privileges ?? []).join(', ')} on ${g.resource}${g.propagate ? ' (propagates)' : ''}${g.effect === 'deny' ? ' — deny' : ''}`;
  if (item.op === 'replace') return `replace ${grant(item.from)} → ${grant(item.to)}`;
  return `${item.op} ${grant(item.grant)}`;
}
