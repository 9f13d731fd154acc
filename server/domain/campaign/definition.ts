/**
 * A recertification campaign's definition (docs/campaigns.md): what access it reviews (a query over the
 * imported access), who reviews each item, when it recurs, how long it runs and what happens to items
 * nobody decided. Written as YAML (like policies) or JSON; strict: an unknown field is an error naming it.
 */
import { Cron } from 'croner';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { BACKEND_IDS } from '../access/model.ts';
import { describeIssues } from '../access/change-schema.ts';

const Name = z.string().trim().min(1).max(64);

export const CampaignDefinitionSchema = z.strictObject({
  /** Shown to reviewers and auditors, e.g. "Q1 2027 production hypervisors". */
  title: z.string().trim().min(3).max(200),
  description: z.string().max(5_000).optional(),
  scope: z.strictObject({
    /** Backends whose imported access is reviewed (default: every backend with an inventory). */
    backend: z.array(z.enum(BACKEND_IDS)).min(1).optional(),
    /** Only grants on resources whose id starts with this (e.g. `/vms/1`, `/DC0/vm/prod`). */
    resourcePrefix: z.string().min(1).max(500).optional(),
    /** Only grants of these roles (native role names). */
    role: z.array(Name).min(1).max(100).optional(),
    /** Only these kinds of principal. */
    principalKind: z.array(z.enum(['user', 'group', 'token'])).min(1).optional(),
    /** Only grants that open a high-risk privilege. */
    highRiskOnly: z.boolean().default(false),
    /** Only grants no change request of Accord approved. */
    outsideAccordOnly: z.boolean().default(false),
  }).default({ highRiskOnly: false, outsideAccordOnly: false }),
  /** Who decides each item: named Accord users, and members of Accord groups. */
  reviewers: z.strictObject({
    users: z.array(Name).max(200).default([]),
    groups: z.array(Name).max(50).default([]),
  }).refine((r) => r.users.length + r.groups.length > 0, 'name at least one reviewer (users or groups)'),
  /** Who decides when no named reviewer may (e.g. every reviewer is the item's own principal). */
  fallbackReviewers: z.array(Name).max(50).default([]),
  /** A cron expression (5 or 6 fields, croner syntax) for recurring campaigns, e.g. `0 9 1 1,4,7,10 *` (quarterly). */
  recurrence: z.string().min(9).max(120).optional(),
  /** How long each run stays open for decisions. */
  durationDays: z.number().int().min(1).max(180).default(14),
  /** What an item nobody decided becomes at close: kept, revoked, or left undecided (reported as such). */
  defaultDecision: z.enum(['keep', 'revoke', 'none']).default('none'),
  /** Remind reviewers with undecided items this many days before the end (0: no reminder). */
  remindDaysBefore: z.number().int().min(0).max(60).default(3),
}).superRefine((d, ctx) => {
  if (d.recurrence !== undefined) {
    try {
      new Cron(d.recurrence, { paused: true }).stop();
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['recurrence'], message: `not a cron expression croner reads: ${(err as Error).message}` });
    }
  }
  if (d.remindDaysBefore >= d.durationDays && d.remindDaysBefore > 0) {
    ctx.addIssue({ code: 'custom', path: ['remindDaysBefore'], message: `must be less than durationDays (${d.durationDays})` });
  }
});

export type CampaignDefinition = z.infer<typeof CampaignDefinitionSchema>;

export class CampaignDefinitionError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('; '));
    this.name = 'CampaignDefinitionError';
    this.problems = problems;
  }
}

/** Validates a definition given as data (a JSON body). */
export function parseCampaignDefinition(value: unknown): CampaignDefinition {
  const r = CampaignDefinitionSchema.safeParse(value);
  if (!r.success) throw new CampaignDefinitionError(describeIssues(r.error, value));
  return r.data;
}

/** Validates a definition file (YAML or JSON); problems name the file and line where YAML can say it. */
export function parseCampaignYaml(text: string, file = 'campaign.yaml'): CampaignDefinition {
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length > 0) throw new CampaignDefinitionError(doc.errors.map((e) => `${file}: ${e.message}`));
  try {
    return parseCampaignDefinition(doc.toJS());
  } catch (err) {
    if (err instanceof CampaignDefinitionError) throw new CampaignDefinitionError(err.problems.map((p) => `${file}: ${p}`));
    throw err;
  }
}

/** The next times a recurring campaign starts, after `from` (none without a recurrence). */
export function nextRuns(d: Pick<CampaignDefinition, 'recurrence'>, from: Date, count = 3): string[] {
  if (d.recurrence === undefined) return [];
  const cron = new Cron(d.recurrence, { paused: true });
  const out: string[] = [];
  let at: Date | null = from;
  for (let i = 0; i < count; i++) {
    at = cron.nextRun(at ?? undefined);
    if (!at) break;
    out.push(at.toISOString());
  }
  cron.stop();
  return out;
}
