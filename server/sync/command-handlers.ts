import type { Logger } from '../log.ts';
import type { Accord } from '../commands/accord.ts';
import type { Principal } from '../auth/roles.ts';
import { AppError, fail } from '../protocol/errors.ts';
import { COMMANDS, type CommandAck } from '../protocol/events.ts';
import { CHANGES_ROOM } from './change-bridge.ts';
import type { AccordServer } from './sync-transport.ts';

/**
 * Socket.io commands: one event per command of server/protocol/commands.ts, each a thin map onto
 * `Accord.dispatch` (the same path as REST: schema, rule book, unit of work, facts). A hostile client may
 * omit the ack or send anything as payload; both are answered without touching state.
 */
export function attachCommands(io: AccordServer, accord: Accord, log: Logger, allow: (p: Principal) => boolean | Promise<boolean> = () => true): void {
  io.on('connection', (socket) => {
    void socket.join(CHANGES_ROOM);
    // The person's own room: their notification centre's live messages (server/notify/inbox.ts).
    void socket.join(`user:${socket.data.principal.username}`);
    // One connection's commands run one after another, in the order they arrived: a queue flushed on
    // reconnect (approve, then reject on second thought) must not be applied the other way round, which
    // concurrent units of work on PostgreSQL would otherwise allow.
    let previous: Promise<void> = Promise.resolve();
    for (const name of COMMANDS) {
      socket.on(name, (raw: unknown, ack: CommandAck) => {
        if (typeof ack !== 'function') return void socket.emit('doc:error', '', { code: 'invalid_payload', message: `${name} needs an ack callback` });
        // The limit is asked at arrival (in order: the queue below keeps the commands' order either way).
        const allowed = allow(socket.data.principal);
        previous = previous.then(async () => {
          if (!(await allowed)) return ack(fail('rate_limited', 'too many commands; slow down'));
          try {
            ack({ ok: true, data: await accord.dispatch(name, socket.data.principal, raw) });
          } catch (err) {
            if (err instanceof AppError) return ack({ ok: false, error: err.toBody() });
            log.error({ err, command: name }, 'command failed');
            ack(fail('internal', 'unexpected error'));
          }
        });
      });
    }
  });
}
