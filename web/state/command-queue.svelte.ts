import type { AccordSocket } from '../lib/socket-provider.ts';
import type { CommandName, CommandPayload, CommandResult, ErrorBody } from '../lib/types.ts';
import { newIdempotencyKey } from '../lib/idempotency.ts';
import { canonicalJson } from '../lib/canonical.ts';

/** One command as queued: its payload is exactly what is sent (plus the idempotency key), typed per command. */
export interface QueuedCommandOf<N extends CommandName> {
  /** Also the idempotency key: resending after a lost ack changes nothing on the server. */
  key: string;
  name: N;
  /**
   * Fixed when the user acted: a vote queued offline keeps the revision hash it was cast with, so the
   * server refuses it (`revision_changed`) if the change was amended meanwhile, instead of counting it.
   */
  payload: CommandPayload<N>;
  /** What the user did, in words: "Approve revision 2". */
  label: string;
  queuedAt: string;
}

/** A command waiting for the server's answer; kept across reloads and disconnections. */
export type QueuedCommand = { [N in CommandName]: QueuedCommandOf<N> }[CommandName];

export type RefusedCommand = QueuedCommand & { error: ErrorBody };

/** The change a command is about, when its payload names one. */
export function commandChangeId(command: QueuedCommand): string | undefined {
  const id = (command.payload as { changeId?: unknown }).changeId;
  return typeof id === 'string' ? id : undefined;
}

/** A command's answer: its declared result (server/protocol/commands.ts, CommandResults) or the refusal. */
export type CommandOutcomeOf<N extends CommandName> = { ok: true; data: CommandResult<N> } | { ok: false; error: ErrorBody };
export type CommandOutcome = { [N in CommandName]: CommandOutcomeOf<N> }[CommandName];

type Waiter = (outcome: CommandOutcome) => void;

/** The part of localStorage the queue uses; injectable for tests. */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

const ACK_TIMEOUT_MS = 8_000;

/**
 * Every command the user issues goes through here: sent at once over Socket.io with an ack and an
 * idempotency key, or kept (in memory and in localStorage) while offline and sent on reconnect, in
 * the order issued. Refusals are kept for the user to read; nothing is retried after a refusal.
 */
export class CommandQueue {
  #pending = $state.raw<QueuedCommand[]>([]);
  #refused = $state.raw<RefusedCommand[]>([]);
  #connected = $state(false);
  readonly #socket: AccordSocket;
  readonly #storage: KeyValueStore | null;
  readonly #storageKey: string;
  /** Keys sent on the current connection and not yet answered; cleared on disconnect. */
  #inFlight = new Set<string>();
  #waiters = new Map<string, Waiter[]>();
  #generation = 0;

  constructor(socket: AccordSocket, storageKey: string, storage: KeyValueStore | null = globalThis.localStorage ?? null) {
    this.#socket = socket;
    this.#storage = storage;
    this.#storageKey = storageKey;
    this.#pending = this.#load();
    this.#connected = socket.connected;
    socket.on('connect', this.#onConnect);
    socket.on('disconnect', this.#onDisconnect);
    if (socket.connected) this.#flush();
  }

  /** Commands not yet answered by the server (queued offline or in flight). */
  get pending(): readonly QueuedCommand[] {
    return this.#pending;
  }
  get refused(): readonly RefusedCommand[] {
    return this.#refused;
  }
  get isConnected(): boolean {
    return this.#connected;
  }

  /**
   * Sends a command (or queues it while offline); resolves with the server's answer whenever it comes.
   * The same command again while the first is still pending (a double click) is that command: it is not
   * sent twice, and both callers get its answer.
   */
  send<N extends CommandName>(name: N, payload: CommandPayload<N>, label: string): Promise<CommandOutcomeOf<N>> {
    // A plain copy (what localStorage keeps anyway): the payload is fixed now, whatever happens to the caller's object.
    const copy = JSON.parse(JSON.stringify(payload)) as CommandPayload<N>;
    const same = this.#pending.find((c) => c.name === name && canonicalJson(c.payload) === canonicalJson(copy));
    if (same) return new Promise<CommandOutcomeOf<N>>((resolve) => this.#waiters.set(same.key, [...(this.#waiters.get(same.key) ?? []), resolve as Waiter]));
    const command = { key: newIdempotencyKey(), name, payload: copy, label, queuedAt: new Date().toISOString() } as QueuedCommand;
    const outcome = new Promise<CommandOutcomeOf<N>>((resolve) => this.#waiters.set(command.key, [resolve as Waiter]));
    this.#pending = [...this.#pending, command];
    this.#save();
    this.#flush();
    return outcome;
  }

  dismissRefusal(key: string): void {
    this.#refused = this.#refused.filter((c) => c.key !== key);
  }

  #flush(): void {
    if (!this.#socket.connected) return;
    for (const command of this.#pending) if (!this.#inFlight.has(command.key)) this.#emit(command);
  }

  #emit(command: QueuedCommand): void {
    const generation = this.#generation;
    this.#inFlight.add(command.key);
    this.#socket.timeout(ACK_TIMEOUT_MS).emit(command.name, { ...command.payload, idempotencyKey: command.key }, (err: Error | null, result: unknown) => {
      if (err) {
        // No answer: keep it pending; it is resent on the next connection (the key makes that safe).
        if (generation === this.#generation) this.#inFlight.delete(command.key);
        return;
      }
      this.#settle(command, result as CommandOutcome);
    });
  }

  #settle(command: QueuedCommand, outcome: CommandOutcome): void {
    this.#inFlight.delete(command.key);
    if (!this.#pending.some((c) => c.key === command.key)) return; // answered twice (resent): the first answer won
    this.#pending = this.#pending.filter((c) => c.key !== command.key);
    if (!outcome.ok) this.#refused = [...this.#refused, { ...command, error: outcome.error }];
    this.#save();
    for (const resolve of this.#waiters.get(command.key) ?? []) resolve(outcome);
    this.#waiters.delete(command.key);
  }

  #onConnect = (): void => {
    this.#connected = true;
    this.#flush();
  };

  #onDisconnect = (): void => {
    this.#connected = false;
    this.#generation += 1;
    this.#inFlight.clear();
  };

  #load(): QueuedCommand[] {
    try {
      const raw = this.#storage?.getItem(this.#storageKey);
      const parsed: unknown = raw ? JSON.parse(raw) : [];
      return Array.isArray(parsed) ? (parsed as QueuedCommand[]).filter((c) => typeof c?.key === 'string' && typeof c?.name === 'string') : [];
    } catch {
      return [];
    }
  }

  #save(): void {
    try {
      if (this.#pending.length === 0) this.#storage?.removeItem(this.#storageKey);
      else this.#storage?.setItem(this.#storageKey, JSON.stringify(this.#pending));
    } catch {
      // Storage full or disabled: the queue still works in memory for this page's life.
    }
  }

  dispose(): void {
    this.#socket.off('connect', this.#onConnect);
    this.#socket.off('disconnect', this.#onDisconnect);
    this.#waiters.clear();
  }
}
