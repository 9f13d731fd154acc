/**
 * Every Socket.io command's payload, declared once (docs/api.md, "Socket.io commands"): the server
 * validates with these schemas at the edge, and the web app's command queue takes their input types, so
 * a field renamed or made required here is a type error in the web app too. No Node imports.
 *
 * REST bodies are the same operations; where a REST body's historic field name differs (`item` for
 * `itemId` in `POST /api/changes/:id/votes`), server/http maps it onto these.
 */
import { z } from 'zod';
import { COMMANDS, type CommandName, type FactName } from './events.ts';
import type { ReviewView } from '../commands/review-view.ts';
import type { SessionView } from '../commands/session-service.ts';
import type { Annotation } from '../domain/review/annotations.ts';
import type { TargetView } from '../connectors/targets.ts';
import type { DriftReport } from '../connectors/drift.ts';
import type { DriftFinding } from '../store/repositories/target-repository.ts';
import type { CampaignView } from '../commands/campaign-service.ts';
import type { InventoryImportResult } from '../commands/inventory.ts';
import { DraftHash, RevisionHash } from './hashes.ts';
import { MAX_ANNOTATION_BODY } from './limits.ts';

/** A client-chosen idempotency key: a replay with it returns the first result without a second effect. */
export const IdempotencyKey = z.string().regex(/^[A-Za-z0-9_-]{8,100}$/, 'idempotencyKey: 8 to 100 letters, digits, - or _');
const Key = IdempotencyKey.optional();
const ChangeId = z.string().min(1).max(64);
const SessionId = z.string().min(1).max(64);
const AnnotationId = z.string().max(40);
const CampaignId = z.string().min(1).max(40);
export const VoteChoiceSchema = z.enum(['approve', 'reject', 'abstain']);

/** Where an annotation points: an item, a native-form line of a revision, or a range of the justification. */
export const AnnotationAnchorSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('item'), itemId: z.string().min(1).max(200) }),
  z.strictObject({ kind: z.literal('line'), revision: z.number().int().positive(), line: z.number().int().positive() }),
  z.strictObject({ kind: z.literal('text'), start: z.string().min(1).max(200), end: z.string().min(1).max(200), quote: z.string().max(500) }),
]);
export const CreateAnnotation = z.strictObject({
  anchor: AnnotationAnchorSchema,
  body: z.string().trim().min(1).max(MAX_ANNOTATION_BODY),
  parentId: z.string().max(40).optional(),
});
export type CreateAnnotation = z.infer<typeof CreateAnnotation>;

export const TimerAction = z.enum(['start', 'pause', 'reset']);

/** One schema per command; strict objects: an unknown field (a `voter`, a `role`) is refused. */
export const COMMAND_PAYLOADS = {
  'change:create': z.strictObject({ content: z.unknown(), idempotencyKey: Key }),
  'change:submit': z.strictObject({ changeId: ChangeId, draftHash: DraftHash, idempotencyKey: Key }),
  'change:withdraw': z.strictObject({ changeId: ChangeId, idempotencyKey: Key }),
  'change:recuse': z.strictObject({ changeId: ChangeId, reason: z.string().max(2_000), revisionHash: RevisionHash, idempotencyKey: Key }),
  'vote:cast': z.strictObject({
    changeId: ChangeId, choice: VoteChoiceSchema, revisionHash: RevisionHash, revision: z.number().int().positive().optional(),
    reason: z.string().max(2_000).optional(), itemId: z.string().min(1).max(200).optional(), idempotencyKey: Key,
  }),
  'annotation:create': z.strictObject({ changeId: ChangeId, annotation: CreateAnnotation, idempotencyKey: Key }),
  'annotation:edit': z.strictObject({ annotationId: AnnotationId, body: z.string().max(10_000), idempotencyKey: Key }),
  'annotation:delete': z.strictObject({ annotationId: AnnotationId, idempotencyKey: Key }),
  'annotation:resolve': z.strictObject({ annotationId: AnnotationId, resolved: z.boolean(), idempotencyKey: Key }),
  // Session bodies (title, agenda) are validated by the session service, the same for REST and sockets.
  'session:create': z.strictObject({ session: z.unknown(), idempotencyKey: Key }),
  'session:agenda': z.strictObject({ sessionId: SessionId, agenda: z.unknown(), minutesPerItem: z.unknown().optional(), idempotencyKey: Key }),
  'session:goto': z.strictObject({ sessionId: SessionId, index: z.number().int().min(0).max(1_000), idempotencyKey: Key }),
  'session:timer': z.strictObject({ sessionId: SessionId, action: TimerAction, idempotencyKey: Key }),
  'session:note': z.strictObject({ sessionId: SessionId, text: z.string().max(2_000), idempotencyKey: Key }),
  'session:close': z.strictObject({ sessionId: SessionId, idempotencyKey: Key }),
  'session:rename': z.strictObject({ sessionId: SessionId, title: z.string().max(200), idempotencyKey: Key }),
  'change:invite': z.strictObject({ changeId: ChangeId, username: z.string().min(1).max(64), idempotencyKey: Key }),
  // Without `outcome`: apply through the change's connected target (docs/targets.md). With it: record a manual apply.
  'change:apply': z.strictObject({ changeId: ChangeId, outcome: z.enum(['applied', 'apply_failed']).optional(), note: z.string().max(2_000).default(''), idempotencyKey: Key }),
  // The whole draft content, checked by the handler against the change content schema.
  'draft:replace': z.strictObject({ changeId: ChangeId, draft: z.unknown(), idempotencyKey: Key }),
  'inventory:import': z.strictObject({
    backend: z.string().min(1).max(40),
    files: z.array(z.strictObject({ path: z.string().min(1).max(300), text: z.string().max(20_000_000) })).min(1).max(50),
    idempotencyKey: Key,
  }),
  'policy:write': z.strictObject({ name: z.string().min(1).max(200), yaml: z.string().min(1).max(200_000), idempotencyKey: Key }),
  // The connection fields depend on the backend: the connector validates them (server/connectors/).
  'target:create': z.strictObject({ target: z.record(z.string(), z.unknown()), idempotencyKey: Key }),
  'target:read': z.strictObject({ name: z.string().min(1).max(63), idempotencyKey: Key }),
  'drift:resolve': z.strictObject({ findingId: z.string().min(1).max(40), resolution: z.enum(['adopt', 'revert']), idempotencyKey: Key }),
  // The definition is checked by its own schema (server/domain/campaign/definition.ts), naming each bad field.
  'campaign:create': z.strictObject({ definition: z.unknown(), idempotencyKey: Key }),
  'campaign:start': z.strictObject({ campaignId: CampaignId, idempotencyKey: Key }),
  'campaign:decide': z.strictObject({
    campaignId: CampaignId, items: z.array(z.string().min(1).max(40)).min(1).max(5_000), decision: z.enum(['keep', 'revoke']),
    reason: z.string().max(2_000).default(''), idempotencyKey: Key,
  }),
  'campaign:close': z.strictObject({ campaignId: CampaignId, idempotencyKey: Key }),
  'campaign:accept-failure': z.strictObject({ campaignId: CampaignId, changeId: ChangeId, reason: z.string().trim().min(1).max(2_000), idempotencyKey: Key }),
} satisfies Record<CommandName, z.ZodType>;

/**
 * The facts each command publishes after it commits, to the change's review room and the `changes` room
 * (docs/protocol.md, "Facts"). Session commands publish none: they update the `session:` document. The
 * dispatcher refuses to publish a fact its command does not declare here.
 */
export const COMMAND_FACTS = {
  'change:create': ['change:created'],
  'change:submit': ['revision:submitted'],
  'change:withdraw': ['status:changed'],
  'change:recuse': ['reviewer:recused'],
  'vote:cast': ['vote:recorded'],
  'annotation:create': ['annotation:created'],
  'annotation:edit': ['annotation:edited'],
  'annotation:delete': ['annotation:deleted'],
  'annotation:resolve': ['annotation:resolved'],
  'session:create': [],
  'session:agenda': [],
  'session:goto': [],
  'session:timer': [],
  'session:note': [],
  'session:close': [],
  'session:rename': [],
  'change:invite': ['author:added'],
  'change:apply': ['status:changed', 'apply:changed'],
  'draft:replace': [],
  'inventory:import': [],
  'policy:write': [],
  'target:create': [],
  'target:read': [],
  'drift:resolve': [],
  'campaign:create': [],
  'campaign:start': [],
  'campaign:decide': [],
  'campaign:close': [],
  'campaign:accept-failure': [],
} as const satisfies Record<CommandName, readonly FactName[]>;

/** A fact command `C` may publish. */
export type CommandFactName<C extends CommandName> = (typeof COMMAND_FACTS)[C][number];

/** What each command answers (`data` of its Socket.io ack; the REST route returns the same object). */
export interface CommandResults {
  'change:create': ReviewView;
  'change:submit': ReviewView;
  'change:withdraw': ReviewView;
  'change:recuse': ReviewView;
  'vote:cast': ReviewView;
  'annotation:create': Annotation;
  'annotation:edit': Annotation;
  'annotation:delete': Annotation;
  'annotation:resolve': Annotation;
  'session:create': SessionView;
  'session:agenda': SessionView;
  'session:goto': SessionView;
  'session:timer': SessionView;
  'session:note': SessionView;
  'session:close': SessionView;
  'session:rename': SessionView;
  'change:invite': ReviewView;
  'change:apply': ReviewView;
  'draft:replace': null;
  'inventory:import': InventoryImportResult;
  'policy:write': null;
  'target:create': TargetView;
  'target:read': DriftReport;
  'drift:resolve': { finding: DriftFinding; changeId: string | null };
  'campaign:create': CampaignView;
  'campaign:start': CampaignView;
  'campaign:decide': CampaignView;
  'campaign:close': CampaignView;
  'campaign:accept-failure': CampaignView;
}
export type CommandResult<C extends CommandName> = CommandResults[C];

/** What a handler receives: the payload as validated. */
export type CommandInput<C extends CommandName> = z.output<(typeof COMMAND_PAYLOADS)[C]>;
/** What a client sends (the command queue adds the idempotency key itself). */
export type CommandPayload<C extends CommandName> = Omit<z.input<(typeof COMMAND_PAYLOADS)[C]>, 'idempotencyKey'>;

// Every command of the wire contract has a schema, and nothing else does.
const declared: readonly string[] = Object.keys(COMMAND_PAYLOADS);
if (declared.length !== COMMANDS.length || COMMANDS.some((c) => !declared.includes(c))) {
  throw new Error('server/protocol/commands.ts: COMMAND_PAYLOADS and COMMANDS disagree');
}
