import type { Principal } from '../auth/roles.ts';
import type { Passkeys } from '../auth/webauthn/passkeys.ts';
import type { ChangeRequest } from '../domain/review/types.ts';
import type { ChangeStore } from '../store/repositories/change-repository.ts';
import { PasskeyRepository } from '../store/repositories/passkey-repository.ts';
import type { Database } from '../store/sql.ts';
import type { CommandRunner } from './command-runner.ts';
import { authorize, requireCurrent, type ChangeEvents, type ChangeService } from './change-service.ts';
import type { PolicyEngine } from './policy-engine.ts';
import { classifyVotes } from '../domain/review/votes.ts';

export interface SignOffView {
  approver: string;
  revision: number;
  revisionHash: string;
  credentialId: string;
  at: string;
  /** False once a later revision exists: editing after sign-off voids it. */
  valid: boolean;
  receipt: unknown;
  assertion: unknown;
}

/** Remote sign-off with a passkey whose challenge commits to the current revision hash. */
export class SignOffService {
  /** Reads the stored sign-offs (server/store/repositories/passkey-repository.ts). */
  readonly #repo: PasskeyRepository;
  readonly #passkeys: Passkeys;
  readonly #runner: CommandRunner;
  readonly #changes: ChangeService;
  readonly #store: ChangeStore;
  readonly #policy: PolicyEngine;
  readonly #events: Pick<ChangeEvents, 'changed'>;

  constructor(db: Database, passkeys: Passkeys, runner: CommandRunner, changes: ChangeService, store: ChangeStore, policy: PolicyEngine, events: Pick<ChangeEvents, 'changed'>) {
    this.#repo = new PasskeyRepository(db);
    this.#passkeys = passkeys;
    this.#runner = runner;
    this.#changes = changes;
    this.#store = store;
    this.#policy = policy;
    this.#events = events;
  }

  /** The revision the approver names, which must be the current one (a sign-off binds to the hash its maker saw). */
  #target(change: ChangeRequest, revisionHash: string) {
    const rev = requireCurrent(change, revisionHash);
    return { changeId: change.id, revision: rev.number, revisionHash: rev.hash };
  }

  /** WebAuthn request options whose challenge commits to the revision hash the approver names (the current one). */
  async options(p: Principal, changeId: string, revisionHash: string): Promise<unknown> {
    try {
      const { change } = await this.#changes.load(changeId);
      // The hash first: an amendment reopens the review, and "it was amended: here is what changed" is
      // what the approver needs to hear, not "only an approved change is signed off".
      const target = this.#target(change, revisionHash);
      authorize(p, 'change.signoff', change);
      return await this.#passkeys.signOffOptions(p, target);
    } catch (err) {
      await this.#runner.refused(p, 'change.signoff.options', changeId, err);
      throw err;
    }
  }

  /**
   * Verifies the assertion (the passkey module refuses stale, replayed, foreign or forged ones), then
   * records the sign-off with what the approver was shown: revision, votes and unresolved annotations.
   */
  async signOff(p: Principal, changeId: string, response: unknown, revisionHash: string): Promise<{ receipt: unknown; seen: Record<string, unknown> }> {
    let target;
    try {
      const { change } = await this.#changes.load(changeId);
      target = this.#target(change, revisionHash);
      authorize(p, 'change.signoff', change);
    } catch (err) {
      await this.#runner.refused(p, 'change.signoff', changeId, err);
      throw err;
    }
    let seen: Record<string, unknown> = {};
    let verified;
    try {
      verified = await this.#passkeys.verifySignOff(p, target, response, async ({ signoff, receipt, assertion }) => {
        // In the sign-off's own transaction, after the passkey check: the change may have moved meanwhile.
        const { change } = await this.#changes.load(changeId);
        this.#target(change, revisionHash);
        authorize(p, 'change.signoff', change);
        seen = await this.#seen(change);
        // Everything an offline verifier needs to check this sign-off from the audit log alone (docs/audit.md).
        await this.#runner.observe(p.username, 'change.signoff', changeId, async () => ({
          ...target, approver: p.username, credentialId: signoff.credentialId, receipt, assertion, seen, ...this.#passkeys.relyingParty,
        }));
      });
    } catch (err) {
      await this.#runner.refused(p, 'change.signoff', changeId, err);
      throw err;
    }
    await this.#events.changed(changeId, 'signoff:recorded', { approver: p.username, revision: target.revision });
    return { receipt: verified.receipt, seen };
  }

  async #seen(change: ChangeRequest): Promise<Record<string, unknown>> {
    const { counted, stale } = classifyVotes(change);
    const unresolved = (await this.#store.annotations(change.id)).filter((a) => !a.resolved && !a.deleted).length;
    const evaluation = await this.#policy.decide(change);
    return {
      revisionHash: change.revisions.at(-1)!.hash,
      votes: counted.map((v) => ({ voter: v.voter, choice: v.choice, item: v.itemId ?? null })),
      staleVotes: stale.length,
      unresolvedAnnotations: unresolved,
      decision: evaluation.decision,
    };
  }

  async list(change: ChangeRequest): Promise<SignOffView[]> {
    const current = change.revisions.at(-1);
    return (await this.#repo.signOffsOf(change.id)).map((r) => ({
      approver: r.approver, revision: r.revision, revisionHash: r.revisionHash, credentialId: r.credentialId, at: r.at,
      valid: current !== undefined && r.revisionHash === current.hash,
      receipt: r.receipt, assertion: r.assertion,
    }));
  }

  async hasValidSignOff(change: ChangeRequest): Promise<boolean> {
    return (await this.list(change)).some((s) => s.valid);
  }
}
