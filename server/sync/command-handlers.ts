import type { Logger } from '../log.ts';
import type { Accord } from '../commands/accord.ts';
import { AppError, fail } from '../protocol/errors.ts';
import type { CommandAck, CommandName } from '../protocol/events.ts';
import { CHANGES_ROOM } from './change-bridge.ts';
import { COMMAND_PAYLOADS, type CommandInput } from '../protocol/commands.ts';
import type { AccordServer } from './sync-transport.ts';

/** One schema per command payload, declared once in server/protocol/commands.ts (shared with the web app). */
const PAYLOADS = COMMAND_PAYLOADS;

type Payload<C extends CommandName> = CommandInput<C>;
type Handler<C extends CommandName> = (accord: Accord, p: import('../auth/roles.ts').Principal, payload: Payload<C>) => Promise<unknown> | unknown;

const HANDLERS: { [C in CommandName]: Handler<C> } = {
  'change:create': async (a, p, x) => a.view((await a.changes.create(p, x.content, x.idempotencyKey)).id),
  'change:submit': async (a, p, x) => (await a.changes.submit(p, x.changeId, x.draftHash, x.idempotencyKey), a.view(x.changeId)),
  'change:withdraw': async (a, p, x) => (await a.changes.withdraw(p, x.changeId, x.idempotencyKey), a.view(x.changeId)),
  'change:recuse': async (a, p, x) => (await a.changes.recuse(p, x.changeId, x.reason, x.revisionHash, x.idempotencyKey), a.view(x.changeId)),
  'vote:cast': async (a, p, x) => {
    await a.changes.vote(p, x.changeId, {
      choice: x.choice, revisionHash: x.revisionHash, ...(x.revision !== undefined ? { revision: x.revision } : {}),
      ...(x.reason !== undefined ? { reason: x.reason } : {}), ...(x.itemId !== undefined ? { itemId: x.itemId } : {}),
    }, x.idempotencyKey);
    return a.view(x.changeId);
  },
  'annotation:create': (a, p, x) => a.annotations.create(p, x.changeId, x.annotation, x.idempotencyKey),
  'annotation:edit': (a, p, x) => a.annotations.edit(p, x.annotationId, x.body, x.idempotencyKey),
  'annotation:delete': (a, p, x) => a.annotations.remove(p, x.annotationId, x.idempotencyKey),
  'annotation:resolve': (a, p, x) => a.annotations.resolve(p, x.annotationId, x.resolved, x.idempotencyKey),
  'session:create': async (a, p, x) => a.sessions.view((await a.sessions.create(p, x.session, x.idempotencyKey)).id),
  'session:agenda': async (a, p, x) => a.sessions.view((await a.sessions.setAgenda(p, x.sessionId, {
    agenda: x.agenda, ...(x.minutesPerItem !== undefined ? { minutesPerItem: x.minutesPerItem } : {}),
  }, x.idempotencyKey)).id),
  'session:goto': async (a, p, x) => a.sessions.view((await a.sessions.goto(p, x.sessionId, x.index, x.idempotencyKey)).id),
  'session:timer': async (a, p, x) => a.sessions.view((await a.sessions.timer(p, x.sessionId, x.action, x.idempotencyKey)).id),
  'session:note': async (a, p, x) => a.sessions.view((await a.sessions.note(p, x.sessionId, x.text, x.idempotencyKey)).id),
  'session:close': async (a, p, x) => a.sessions.view((await a.sessions.close(p, x.sessionId, x.idempotencyKey)).id),
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
