import type { Principal } from '../auth/roles.ts';
import { decide, type ActionName } from '../auth/permissions.ts';
import type { Annotation } from '../domain/review/annotations.ts';
import type { ChangeRequest } from '../domain/review/types.ts';
import type { JointSession } from '../domain/session/types.ts';
import { COMMAND_FACTS, COMMAND_PAYLOADS, type CommandFactName, type CommandInput, type CommandResult } from '../protocol/commands.ts';
import type { CommandName, FactName } from '../protocol/events.ts';
import { AppError } from '../protocol/errors.ts';
import { describeIssues } from '../protocol/issues.ts';
import type { CommandRunner } from './command-runner.ts';
import { factsOf } from './change-service.ts';

/** What a command is about, loaded inside its unit of work: what the rule book is asked about. */
export type Target =
  | { kind: 'none' }
  | { kind: 'change'; change: ChangeRequest; version: number }
  | { kind: 'session'; session: JointSession; version: number }
  | { kind: 'annotation'; annotation: Annotation; change: ChangeRequest };

/**
 * A fact published once its command committed: about a change (broadcast, review projection, session
 * records, draft re-admission when `statusChanged`), or a session that changed (its document re-projected;
 * `seed`: the minutes' opening lines, once).
 */
export type PublishedFact<N extends FactName = FactName> =
  | { scope: 'change'; changeId: string; name: N; detail: Record<string, unknown>; statusChanged?: boolean }
  | { scope: 'session'; sessionId: string; seed?: readonly string[] }
  /** A campaign changed: its `campaign:<id>` document is projected again. */
  | { scope: 'campaign'; campaignId: string; items?: readonly string[]; started?: true }
  /** The open drift changed: a read found new findings (webhooks hear them) or closed some, or one was resolved. */
  | { scope: 'drift'; target: string; opened: readonly { id: string; summary: string }[] };

export interface Effect<C extends CommandName, R> {
  /** What the idempotency record keeps and a replay returns (small: not the aggregate). */
  result: R;
  /** What the audit entry records about the command (never secrets). */
  detail: Record<string, unknown>;
  facts?: PublishedFact<CommandFactName<C>>[];
}

/**
 * One command's handler (server/commands/handlers.ts); its payload, result and facts are declared in
 * server/protocol/commands.ts. The dispatcher runs it: payload → subject → prepare → unit of work
 * (target, rule book, effect, idempotency record, audit entry) → after → facts → answer.
 */
export interface CommandHandler<C extends CommandName, R, Ctx, P = undefined> {
  /** The audit entry's action and the idempotency record's command, e.g. `change.vote`. */
  audit: string;
  /** The rule book's action, asked about the target before the effect runs. */
  action: ActionName;
  /** What the command is about, for the audit log (a change id, a session id). */
  subject(ctx: Ctx, p: Principal, input: CommandInput<C>, key: string | undefined): string | Promise<string>;
  /** Creates name their subject from the idempotency key: a replay must ask the same (this part of the payload). */
  replayTag?(input: CommandInput<C>): unknown;
  /** Before the unit of work: reads that are not the database's (the live draft). A refusal here is audited. */
  prepare?(ctx: Ctx, p: Principal, input: CommandInput<C>): Promise<P>;
  /** Inside the unit of work: loads what the rule book is asked about. */
  target(ctx: Ctx, input: CommandInput<C>): Promise<Target>;
  /** Inside the unit of work, once the rule book allowed it: the effect. `subject` is the one `subject()` named (a create's new id). */
  run(ctx: Ctx, p: Principal, input: CommandInput<C>, target: Target, prepared: P, subject: string): Promise<Effect<C, R>>;
  /** After the commit, before the facts: work outside the database. `fresh` is false for a replay. */
  after?(ctx: Ctx, p: Principal, input: CommandInput<C>, result: R, fresh: boolean): Promise<void>;
  /** The answer, read after the commit. */
  answer(ctx: Ctx, input: CommandInput<C>, result: R): Promise<CommandResult<C>>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each entry is checked against its own command in handlers.ts
export type CommandHandlers<Ctx> = { [C in CommandName]: CommandHandler<C, any, Ctx, any> };

/** Receives every published fact, in order, after its command committed (registered in app.ts). */
export type FactSubscriber = (fact: PublishedFact) => Promise<void>;

/** Asks the rule book about a target; a refusal says why (a state refusal is a conflict). */
export function authorizeTarget(p: Principal, action: ActionName, target: Target): void {
  const d = target.kind === 'change' ? decide(p, action, { kind: 'change', change: factsOf(target.change) })
    : target.kind === 'annotation' ? decide(p, action, { kind: 'annotation', change: factsOf(target.change), annotation: { author: target.annotation.author } })
      : target.kind === 'session' ? decide(p, action, { kind: 'session', session: { facilitator: target.session.facilitator, status: target.session.status } })
        : decide(p, action);
  if (!d.allowed) throw new AppError(d.kind === 'state' ? 'conflict' : 'forbidden', d.reason);
}

/** Bounded retries of a subscriber that failed (projections are idempotent: they re-read the database). */
const RETRY_DELAYS_MS = [50, 250, 1_000, 4_000];

/**
 * Runs every command the same way, whatever carried it (REST, Socket.io, CLI): see CommandHandler. A
 * subscriber that fails is retried (its work re-reads committed state), then reported to `onLost`:
 * never silently dropped.
 */
export class Dispatcher<Ctx> {
  readonly #handlers: CommandHandlers<Ctx>;
  readonly #runner: CommandRunner;
  readonly #ctx: Ctx;
  readonly #subscribers: FactSubscriber[] = [];
  readonly #inUnit: ((facts: readonly PublishedFact[]) => Promise<void>)[] = [];
  readonly #onLost: (err: unknown, fact: PublishedFact) => void;

  constructor(handlers: CommandHandlers<Ctx>, runner: CommandRunner, ctx: Ctx, onLost: (err: unknown, fact: PublishedFact) => void) {
    this.#handlers = handlers;
    this.#runner = runner;
    this.#ctx = ctx;
    this.#onLost = onLost;
  }

  subscribe(fn: FactSubscriber): void {
    this.#subscribers.push(fn);
  }

  /** Runs `fn` with a command's facts inside its unit of work, before commit (the notification outbox). */
  beforeCommit(fn: (facts: readonly PublishedFact[]) => Promise<void>): void {
    this.#inUnit.push(fn);
  }

  /**
   * For work outside a command that changes state in its own unit of work (an apply run's result): runs the
   * `beforeCommit` hooks with its facts, inside that unit of work, as a command's would.
   */
  async inUnit(facts: readonly PublishedFact[]): Promise<void> {
    for (const fn of this.#inUnit) await fn(facts);
  }

  /** Validates `payload` against the command's schema and runs it; the idempotency key may be in the payload or given. */
  async dispatch<C extends CommandName>(name: C, p: Principal, payload: unknown, key?: string): Promise<CommandResult<C>> {
    const parsed = COMMAND_PAYLOADS[name].safeParse(payload);
    if (!parsed.success) {
      throw new AppError('invalid_payload', describeIssues(parsed.error, payload, '(payload)').join('; '));
    }
    const input = parsed.data as CommandInput<C>;
    const idempotencyKey = key ?? (input as { idempotencyKey?: string }).idempotencyKey;
    const h = this.#handlers[name] as CommandHandler<C, unknown, Ctx, unknown>;
    const ctx = this.#ctx;
    const subject = await h.subject(ctx, p, input, idempotencyKey);
    let prepared: unknown;
    if (h.prepare) {
      try {
        prepared = await h.prepare(ctx, p, input);
      } catch (err) {
        await this.#runner.refused(p, h.audit, subject, err);
        throw err;
      }
    }
    let fresh = false;
    let facts: PublishedFact[] = [];
    const result = await this.#runner.run(p, h.audit, subject, idempotencyKey, async () => {
      fresh = true;
      const target = await h.target(ctx, input);
      authorizeTarget(p, h.action, target);
      const effect = await h.run(ctx, p, input, target, prepared, subject);
      facts = effect.facts ?? [];
      const declared: readonly string[] = COMMAND_FACTS[name];
      const stray = facts.find((f) => f.scope === 'change' && !declared.includes(f.name));
      if (stray) throw new Error(`${name} published ${(stray as { name: string }).name}, which server/protocol/commands.ts does not declare for it`);
      for (const fn of this.#inUnit) await fn(facts);
      return { result: effect.result, detail: effect.detail };
    }, h.replayTag?.(input));
    if (h.after) await h.after(ctx, p, input, result, fresh);
    if (fresh) for (const fact of facts) await this.publish(fact);
    return h.answer(ctx, input, result);
  }

  /** Hands a committed fact to every subscriber in turn; a failing one is retried, then reported. */
  async publish(fact: PublishedFact): Promise<void> {
    for (const subscriber of this.#subscribers) {
      try {
        await subscriber(fact);
      } catch (err) {
        void this.#retry(subscriber, fact, err);
      }
    }
  }

  async #retry(subscriber: FactSubscriber, fact: PublishedFact, first: unknown): Promise<void> {
    let last = first;
    for (const delay of RETRY_DELAYS_MS) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      try {
        await subscriber(fact);
        return;
      } catch (err) {
        last = err;
      }
    }
    this.#onLost(last, fact);
  }
}
