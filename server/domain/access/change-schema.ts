/**
 * The change file (`accord access render|impact --change CHANGE.json`) and any other inbound change set:
 * one zod schema, strict objects so a misspelt field ("propogate") is an error rather than a default.
 */
import { z } from 'zod';
import { BACKEND_IDS, COMMON_PRIVILEGES } from './model.ts';
import type { ChangeSet } from './model.ts';
import { describeIssues as describeIssuesInWords } from '../../protocol/issues.ts';

export const GrantSpecSchema = z.strictObject({
  principal: z.string().min(1),
  role: z.string().min(1).optional(),
  privileges: z.array(z.enum(COMMON_PRIVILEGES)).min(1).optional(),
  resource: z.string().min(1),
  /** Proxmox's and vSphere's default is to propagate. */
  propagate: z.boolean().default(true),
  effect: z.enum(['allow', 'deny']).default('allow'),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
}).refine((g) => (g.role === undefined) !== (g.privileges === undefined), { message: 'give exactly one of role or privileges' });

const ItemId = z.string().min(1).max(200);

export const ChangeItemSchema = z.discriminatedUnion('op', [
  z.strictObject({ id: ItemId, op: z.literal('add'), grant: GrantSpecSchema }),
  z.strictObject({ id: ItemId, op: z.literal('remove'), grant: GrantSpecSchema }),
  z.strictObject({ id: ItemId, op: z.literal('replace'), from: GrantSpecSchema, to: GrantSpecSchema }),
]);

export const ChangeSetSchema = z.strictObject({
  backend: z.enum(BACKEND_IDS),
  items: z.array(ChangeItemSchema),
}).superRefine((c, ctx) => {
  const seen = new Set<string>();
  c.items.forEach((item, i) => {
    if (seen.has(item.id)) ctx.addIssue({ code: 'custom', path: ['items', i, 'id'], message: `item id '${item.id}' is used twice` });
    seen.add(item.id);
  });
});

/** Problems in words, each naming its field: `items.0.grant: has a field Accord does not know: "propogate"; ...` (server/protocol/issues.ts). */
export function describeIssues(error: z.ZodError, root?: unknown): string[] {
  return describeIssuesInWords(error, root, '(root)');
}

export type ParsedChange = { ok: true; change: ChangeSet } | { ok: false; problems: string[] };

/** Validate an already JSON-decoded value as a change set. Optional fields stay absent, never `undefined`. */
export function parseChangeSet(value: unknown): ParsedChange {
  const r = ChangeSetSchema.safeParse(value);
  if (!r.success) return { ok: false, problems: describeIssues(r.error, value) };
  return { ok: true, change: JSON.parse(JSON.stringify(r.data)) as ChangeSet };
}
