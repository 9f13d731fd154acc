/**
 * Every Socket.io command's payload, declared once (docs/api.md, "Socket.io commands"): the server
 * validates with these schemas at the edge, and the web app's command queue takes their input types, so
 * a field renamed or made required here is a type error in the web app too. No Node imports.
 *
 * REST bodies are the same operations; where a REST body's historic field name differs (`item` for
 * `itemId` in `POST /api/changes/:id/votes`), server/http maps it onto these.
 */
import { z } from 'zod';
import { COMMANDS, type CommandName } from './events.ts';
import { DraftHash, RevisionHash } from './hashes.ts';

/** A client-chosen idempotency key: a replay with it returns the first result without a second effect. */
export const IdempotencyKey = z.string().regex(/^[A-Za-z0-9_-]{8,100}$/, 'idempotencyKey: 8 to 100 letters, digits, - or _');
const Key = IdempotencyKey.optional();
const ChangeId = z.string().min(1).max(64);
const SessionId = z.string().min(1).max(64);
const AnnotationId = z.string().max(40);
export const VoteChoiceSchema = z.enum(['approve', 'reject', 'abstain']);

/** Where an annotation points: an item, a native-form line of a revision, or a range of the justification. */
export const AnnotationAnchorSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('item'), itemId: z.string().min(1).max(200) }),
  z.strictObject({ kind: z.literal('line'), revision: z.number().int().positive(), line: z.number().int().positive() }),
  z.strictObject({ kind: z.literal('text'), start: z.string().min(1).max(200), end: z.string().min(1).max(200), quote: z.string().max(500) }),
]);
export const CreateAnnotation = z.strictObject({
  anchor: AnnotationAnchorSchema,
  body: z.string().trim().min(1).max(10_000),
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
} satisfies Record<CommandName, z.ZodType>;

/** What a handler receives: the payload as validated. */
export type CommandInput<C extends CommandName> = z.output<(typeof COMMAND_PAYLOADS)[C]>;
/** What a client sends (the command queue adds the idempotency key itself). */
export type CommandPayload<C extends CommandName> = Omit<z.input<(typeof COMMAND_PAYLOADS)[C]>, 'idempotencyKey'>;

// Every command of the wire contract has a schema, and nothing else does.
const declared: readonly string[] = Object.keys(COMMAND_PAYLOADS);
if (declared.length !== COMMANDS.length || COMMANDS.some((c) => !declared.includes(c))) {
  throw new Error('server/protocol/commands.ts: COMMAND_PAYLOADS and COMMANDS disagree');
}
