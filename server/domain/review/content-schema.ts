import { z } from 'zod';
import { BACKEND_IDS } from '../access/model.ts';
import { ChangeItemSchema, describeIssues } from '../access/change-schema.ts';
import type { ChangeContent } from './types.ts';

/** A change request's content as requesters write it (JSON or YAML files, REST bodies, drafts). Strict: unknown fields are errors. */
export const ChangeContentSchema = z.strictObject({
  title: z.string().trim().min(3).max(200),
  justification: z.string().max(20_000).default(''),
  backend: z.enum(BACKEND_IDS),
  items: z.array(ChangeItemSchema).max(2_000),
  ticket: z.string().max(500).optional(),
  /** The connected target the change applies to (docs/targets.md); absent: the only target of its backend. */
  target: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'a target name (lower-case letters, digits, ".", "_", "-")').optional(),
  durationHours: z.number().positive().max(24 * 366).optional(),
  environment: z.array(z.string().min(1).max(64)).max(20).optional(),
}).superRefine((c, ctx) => {
  const seen = new Set<string>();
  c.items.forEach((item, i) => {
    if (seen.has(item.id)) ctx.addIssue({ code: 'custom', path: ['items', i, 'id'], message: `item id '${item.id}' is used twice` });
    seen.add(item.id);
  });
});

export type ParsedContent = { ok: true; content: ChangeContent } | { ok: false; problems: string[] };

export function parseChangeContent(value: unknown): ParsedContent {
  const r = ChangeContentSchema.safeParse(value);
  if (!r.success) return { ok: false, problems: describeIssues(r.error, value) };
  return { ok: true, content: JSON.parse(JSON.stringify(r.data)) as ChangeContent };
}
