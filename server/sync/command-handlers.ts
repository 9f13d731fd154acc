import { z } from 'zod';
import type { Logger } from '../log.ts';
import type { Accord } from '../commands/accord.ts';
import { CreateAnnotation } from '../commands/annotation-service.ts';
import { TimerAction } from '../commands/session-service.ts';
import { AppError, fail } from '../protocol/errors.ts';
import type { CommandAck, CommandName } from '../protocol/events.ts';
import { CHANGES_ROOM } from './change-bridge.ts';
import { DraftHash, RevisionHash } from '../protocol/hashes.ts';
import type { AccordServer } from './sync-transport.ts';

const Key = z.string().regex(/^[A-Za-z0-9_-]{8,100}$/).optional();
const ChangeId = z.string().min(1).max(64);
const SessionId = z.string().min(1).max(64);

/** One schema per command payload; the TypeScript type comes from it (STYLE.md §4). */
const PAYLOADS = {
  'change:create': z.strictObject({ content: z.unknown(), idempotencyKey: Key }),
  'change:submit': z.strictObject({ changeId: ChangeId, draftHash: DraftHash, idempotencyKey: Key }),
  'change:withdraw': z.strictObject({ changeId: ChangeId, idempotencyKey: Key }),
  'change:recuse': z.strictObject({ changeId: ChangeId, reason: z.string().max(2_000), revisionHash: RevisionHash, idempotencyKey: Key }),
  'vote:cast': z.strictObject({
    changeId: ChangeId, choice: z.enum(['approve', 'reject', 'abstain']), revisionHash: RevisionHash, revision: z.number().int().positive().optional(),
    reason: z.string().max(2_000).optional(), itemId: z.string().min(1).max(200).optional(), idempotencyKey: Key,
  }),
  'annotation:create': z.strictObject({ changeId: ChangeId, annotation: CreateAnnotation, idempotencyKey: Key }),
  'annotation:edit': z.strictObject({ annotationId: z.string().max(40), body: z.string().max(10_000), idempotencyKey: Key }),
  'annotation:delete': z.strictObject({ annotationId: z.string().max(40), idempotencyKey: Key }),
  'annotation:resolve': z.strictObject({ annotationId: z.string().max(40), resolved: z.boolean(), idempotencyKey: Key }),
  // Session bodies (title, agenda) are validated by the session service, the same for REST and sockets.
  'session:create': z.strictObject({ session: z.unknown(), idempotencyKey: Key }),
  'session:agenda': z.strictObject({ sessionId: SessionId, agenda: z.unknown(), minutesPerItem: z.unknown().optional(), idempotencyKey: Key }),
  'session:goto': z.strictObject({ sessionId: SessionId, index: z.number().int().min(0).max(1_000), idempotencyKey: Key }),
  'session:timer': z.strictObject({ sessionId: SessionId, action: TimerAction, idempotencyKey: Key }),
  'session:note': z.strictObject({ sessionId: SessionId, text: z.string().max(2_000), idempotencyKey: Key }),
  'session:close': z.strictObject({ sessionId: SessionId, idempotencyKey: Key }),
} satisfies Record<CommandName, z.ZodType>;

type Payload<C extends CommandName> = z.infer<(typeof PAYLOADS)[C]>;
type Handler<C extends CommandName> = (accord: Accord, p: import('../auth/roles.ts').Principal, payload: Payload<C>) => Promise<unknown> | unknown;

const HANDLERS: { [C in CommandName]: Handler<C> } = {
  'change:create': async (a, p, x) => a.view((await a.changes.create(p, x.content, x.idempotencyKey)).id),
  'change:submit': async (a, p, x) => (await a.changes.submit(p, x.changeId, x.draftHash, x.idempotencyKey), a.view(x.changeId)),
  'change:withdraw': (a, p, x) => (a.changes.withdraw(p, x.changeId, x.idempotencyKey), a.view(x.changeId)),
  'change:recuse': (a, p, x) => (a.changes.recuse(p, x.changeId, x.reason, x.revisionHash, x.idempotencyKey), a.view(x.changeId)),
  'vote:cast': (a, p, x) => {
    a.changes.vote(p, x.changeId, {
      choice: x.choice, revisionHash: x.revisionHash, ...(x.revision !== undefined ? { revision: x.revision } : {}),
      ...(x.reason !== undefined ? { reason: x.reason } : {}), ...(x.itemId !== undefined ? { itemId: x.itemId } : {}),
    }, x.idempotencyKey);
    return a.view(x.changeId);
  },
  'annotation:create': (a, p, x) => a.annotations.create(p, x.changeId, x.annotation, x.idempotencyKey),
  'annotation:edit': (a, p, x) => a.annotations.edit(p, x.annotationId, x.body, x.idempotencyKey),
  'annotation:delete': (a, p, x) => a.annotations.remove(p, x.annotationId, x.idempotencyKey),
  'annotation:resolve': (a, p, x) => a.annotations.resolve(p, x.annotationId, x.resolved, x.idempotencyKey),
  'session:create': (a, p, x) => a.sessions.view(a.sessions.create(p, x.session, x.idempotencyKey).id),
  'session:agenda': (a, p, x) => a.sessions.view(a.sessions.setAgenda(p, x.sessionId, {
    agenda: x.agenda, ...(x.minutesPerItem !== undefined ? { minutesPerItem: x.minutesPerItem } : {}),
  }, x.idempotencyKey).id),
  'session:goto': (a, p, x) => a.sessions.view(a.sessions.goto(p, x.sessionId, x.index, x.idempotencyKey).id),
  'session:timer': (a, p, x) => a.sessions.view(a.sessions.timer(p, x.sessionId, x.action, x.idempotencyKey).id),
  'session:note': (a, p, x) => a.sessions.view(a.sessions.note(p, x.sessionId, x.text, x.idempotencyKey).id),
  'session:close': (a, p, x) => a.sessions.view(a.sessions.close(p, x.sessionId, x.idempotencyKey).id),
};

/**
 * Socket.io commands: the same operations as REST behind the same rule book. A hostile client may omit
 * the ack or send anything as payload; both are answered without touching state.
 */
export function attachCommands(io: AccordServer, accord: Accord, log: Logger, allow: (p: import('../auth/roles.ts').Principal) => boolean = () => true): void {
  io.on('connection', (socket) => {
    void socket.join(CHANGES_ROOM);
    for (const name of Object.keys(PAYLOADS) as CommandName[]) {
      socket.on(name, async (raw: unknown, ack: CommandAck) => {
        if (typeof ack !== 'function') return void socket.emit('doc:error', '', { code: 'invalid_payload', message: `${name} needs an ack callback` });
        if (!allow(socket.data.principal)) return ack(fail('rate_limited', 'too many commands; slow down'));
        const parsed = PAYLOADS[name].safeParse(raw);
        if (!parsed.success) {
          return ack(fail('invalid_payload', parsed.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; ')));
        }
        try {
          const data = await (HANDLERS[name] as Handler<CommandName>)(accord, socket.data.principal, parsed.data as Payload<CommandName>);
          ack({ ok: true, data });
        } catch (err) {
          if (err instanceof AppError) return ack({ ok: false, error: err.toBody() });
          log.error({ err, command: name }, 'command failed');
          ack(fail('internal', 'unexpected error'));
        }
      });
    }
  });
}
