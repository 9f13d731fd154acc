import { join } from 'node:path';
import { AuditLog } from '../audit/audit-log.ts';
import { ANCHOR_FILE } from '../audit/anchor.ts';
import { EvidenceRefused } from '../audit/evidence.ts';
import { exportEvidence, renderEvidenceHtml, type EvidencePack } from '../audit/evidence.ts';
import type { ServerKey } from '../audit/server-key.ts';
import { Passkeys } from '../auth/webauthn/passkeys.ts';
import { ed25519Signer } from '../auth/webauthn/receipt.ts';
import type { Principal } from '../auth/roles.ts';
import type { UserStore } from '../auth/user-store.ts';
import { parseChangeContent } from '../domain/review/content-schema.ts';
import { parsePolicyYaml, PolicyError } from '../domain/review/policy.ts';
import { AppError } from '../protocol/errors.ts';
import { ChangeStore } from '../store/repositories/change-repository.ts';
import type { Database } from '../store/sql.ts';
import { authorize, ChangeService, factsOf, type ChangeEvents } from './change-service.ts';
import { can, decide } from '../auth/permissions.ts';
import { AccessInputError, type BlastGroups, type RenderResult, type StoredBlastRadius } from '../domain/access/model.ts';
import { blastGroups, gainsHighRisk, storedBlastRows } from '../domain/access/blast-groups.ts';
import { parseChangeSet } from '../domain/access/change-schema.ts';
import { classifyVotes } from '../domain/review/votes.ts';
import type { ChangeSummary } from '../store/repositories/change-repository.ts';
import { CommandRunner } from './command-runner.ts';
import { Dispatcher, type PublishedFact } from './dispatcher.ts';
import { HANDLERS } from './handlers.ts';
import type { CommandName } from '../protocol/events.ts';
import type { CommandResult } from '../protocol/commands.ts';
import type { ChangeContent } from '../domain/review/types.ts';

/** Where drafts live: their Yjs documents, owned by the transport. */
export type DraftSink = Pick<ChangeEvents, 'readDraft' | 'writeDraft'>;
import { Inventories } from './inventory.ts';
import { StoredPolicyEngine } from './policy-engine.ts';
import { buildReviewView, type ApplyView, type ReviewView } from './review-view.ts';
import { SignOffService } from './signoff-service.ts';
import { SessionService } from './session-service.ts';
import { SessionStore } from '../store/repositories/session-repository.ts';
import type { RateLimiter } from '../http/rate-limit.ts';
import { draftHashOf } from './change-service.ts';
import { TargetRepository } from '../store/repositories/target-repository.ts';
import { TargetSecrets } from '../connectors/secrets.ts';
import { Targets } from '../connectors/targets.ts';
import { ApplyEngine } from '../connectors/apply-engine.ts';
import { ExpiryScheduler } from '../connectors/expiry.ts';
import { DriftChecker } from '../connectors/drift.ts';
import { CONNECTORS } from '../connectors/index.ts';
import type { ConnectorFactory } from '../connectors/types.ts';
import type { Leases } from '../store/leases.ts';
import { CampaignService } from './campaign-service.ts';
import { CampaignRepository } from '../store/repositories/campaign-repository.ts';
import { PasskeyRepository } from '../store/repositories/passkey-repository.ts';

export interface ConnectorOptions {
  factories?: readonly ConnectorFactory[];
  /** Waits between tries of a transient connector failure during an apply. */
  applyRetryMs?: readonly number[];
  expirySweepMs?: number;
  expiryRetryMs?: readonly number[];
}

const silentLog = { warn: () => {}, error: () => {} };

/** Who acts for Accord's own scheduled and automatic work (automatic apply, drift reads): named `accord` in the audit log. */
export const SYSTEM: Principal = { userId: 0, username: 'accord', role: 'admin' };

export interface AccordOptions {
  db: Database;
  users: UserStore;
  key: ServerKey;
  /** WebAuthn relying party: the host name users see, and the origins their browsers report. */
  rpID: string;
  origins: string[];
  /** Usernames present in a change's live review session (for presence requirements). */
  present: (changeId: string) => Promise<string[] | undefined>;
  /** Evidence exports per user (each writes an audit entry): absent = unlimited (tests of the services alone). */
  exportLimit?: RateLimiter;
  /** The data directory: the audit anchor file lives there (docs/audit.md). */
  dataDir: string;
  /** A file on other storage that receives a copy of every anchor line ('' = none). */
  auditWitness?: string;
  /** Where a failed anchor write is reported (it never fails the command that was already committed). */
  onAnchorError?: (err: unknown) => void;
  /** Targets, apply, expiry (server/connectors/). */
  connectors?: ConnectorOptions;
  /** Leases for background work when several nodes share the database (server/store/leases.ts). */
  leases?: Leases;
  /** Where background work (apply runs, expiry) reports problems. */
  log?: { warn(o: object, m: string): void; error(o: object, m: string): void };
  /** A fact's subscriber failed even after its retries (dispatcher.ts): report it. */
  onFactLost?: (err: unknown, fact: PublishedFact) => void;
}

/**
 * The review workflow's composition: every service behind REST, Socket.io and the CLI. The events sink
 * (projection into live documents and broadcast) is attached once the transport exists.
 */
export class Accord {
  readonly store: ChangeStore;
  readonly audit: AuditLog;
  readonly inventories: Inventories;
  readonly policy: StoredPolicyEngine;
  readonly passkeys: Passkeys;
  readonly changes: ChangeService;
  readonly signoffs: SignOffService;
  readonly sessions: SessionService;
  readonly sessionStore: SessionStore;
  readonly targetRepo: TargetRepository;
  readonly targets: Targets;
  /** Applies approved changes through the targets' connectors and verifies them (server/connectors/apply-engine.ts). */
  readonly applies: ApplyEngine;
  readonly expiry: ExpiryScheduler;
  readonly drift: DriftChecker;
  /** Recertification campaigns (server/commands/campaign-service.ts). */
  readonly campaigns: CampaignService;
  /** Runs every command declared in server/protocol/commands.ts (handlers.ts); facts go to its subscribers. */
  readonly dispatcher: Dispatcher<Accord>;
  readonly #key: ServerKey;
  readonly #users: UserStore;
  readonly #runner: CommandRunner;
  readonly #exportLimit: RateLimiter | undefined;
  readonly #db: Database;
  #drafts: DraftSink | undefined;

  constructor(o: AccordOptions) {
    this.#key = o.key;
    this.#users = o.users;
    this.#exportLimit = o.exportLimit;
    this.store = new ChangeStore(o.db);
    this.audit = new AuditLog(o.db, o.key, {
      anchorPath: join(o.dataDir, ANCHOR_FILE),
      witnessPath: o.auditWitness ?? '',
      ...(o.onAnchorError ? { onAnchorError: o.onAnchorError } : {}),
    });
    this.inventories = new Inventories(this.store);
    this.policy = new StoredPolicyEngine(this.store, o.users, o.present);
    this.passkeys = new Passkeys(o.db, { rpID: o.rpID, rpName: 'Accord', origin: o.origins, signer: ed25519Signer(o.key.privateKey, o.key.keyId) });
    this.#runner = new CommandRunner(o.db, this.audit, this.store);
    this.#db = o.db;
    this.dispatcher = new Dispatcher(HANDLERS, this.#runner, this, o.onFactLost ?? ((err) => { throw err; }));
    // Commands not yet declared in server/protocol (invite, apply, sign-off) publish their facts the same way.
    const events: ChangeEvents = {
      changed: (changeId, name, detail, info) => this.dispatcher.publish({ scope: 'change', changeId, name, detail, ...(info ? { statusChanged: info.statusChanged } : {}) }),
      readDraft: (id) => this.readDraft(id),
      writeDraft: (id, content) => this.writeDraft(id, content),
    };
    this.changes = new ChangeService(this.store, this.#runner, this.inventories, this.policy, events);
    this.signoffs = new SignOffService(o.db, this.passkeys, this.#runner, this.changes, this.store, this.policy, events);
    this.sessionStore = new SessionStore(o.db);
    this.sessions = new SessionService(o.db, this.sessionStore, this.store);
    this.targetRepo = new TargetRepository(o.db);
    this.targets = new Targets(this.targetRepo, TargetSecrets.open(o.dataDir), o.connectors?.factories ?? CONNECTORS);
    const publish = (fact: PublishedFact): Promise<void> => this.dispatcher.publish(fact);
    const log = o.log ?? silentLog;
    this.applies = new ApplyEngine({
      db: o.db, repo: this.targetRepo, targets: this.targets, store: this.store, audit: this.audit, inventories: this.inventories, publish, log,
      ...(o.connectors?.applyRetryMs ? { retryDelaysMs: o.connectors.applyRetryMs } : {}),
      ...(o.leases ? { leases: o.leases } : {}),
      beforeCommit: (facts) => this.dispatcher.inUnit(facts),
      onApplied: (grants) => { for (const g of grants) this.expiry.schedule(g); },
    });
    this.expiry = new ExpiryScheduler({
      db: o.db, repo: this.targetRepo, targets: this.targets, audit: this.audit, inventories: this.inventories, publish, log,
      ...(o.connectors?.expirySweepMs ? { sweepMs: o.connectors.expirySweepMs } : {}),
      ...(o.connectors?.expiryRetryMs ? { retryDelaysMs: o.connectors.expiryRetryMs } : {}),
      ...(o.leases ? { leases: o.leases } : {}),
    });
    this.drift = new DriftChecker(this.targetRepo, this.targets);
    this.campaigns = new CampaignService(new CampaignRepository(o.db), this.inventories, o.users, this.targetRepo, this.store, new PasskeyRepository(o.db));
    // A closing campaign closes once every revocation change it made is applied.
    this.dispatcher.subscribe(async (fact) => {
      if (fact.scope !== 'change' || fact.name !== 'status:changed') return;
      for (const c of await this.campaigns.repo.withStatus('closing')) {
        if (!c.data.revocations.some((r) => r.changeId === fact.changeId)) continue;
        const closed = await o.db.transaction(async () => {
          const fresh = await this.campaigns.load(c.id);
          const version = fresh.version;
          if (!(await this.campaigns.settle(fresh, new Date().toISOString()))) return false;
          await this.campaigns.repo.save(fresh, version);
          await this.audit.append({ actor: 'accord', action: 'campaign.closed', subject: `campaign:${c.id}`, outcome: 'ok', detail: { revocations: fresh.data.revocations, acceptedFailures: fresh.data.acceptedFailures } });
          return true;
        });
        if (closed) await this.dispatcher.publish({ scope: 'campaign', campaignId: c.id });
      }
    });
    // `apply: auto` policies: the sign-off that completes an approved change starts its apply.
    this.dispatcher.subscribe(async (fact) => {
      if (fact.scope === 'change' && fact.name === 'signoff:recorded') await this.#autoApply(fact.changeId, log);
    });
  }

  async #autoApply(changeId: string, log: { warn(o: object, m: string): void }): Promise<void> {
    const found = await this.store.get(changeId);
    if (!found || found.change.status !== 'approved') return;
    if (!(await this.policy.appliesAutomatically(found.change))) return;
    if ((await this.targetRepo.run(changeId))?.state === 'applying') return;
    try {
      await this.dispatch('change:apply', SYSTEM, { changeId });
    } catch (err) {
      // Refused (no target, no valid sign-off yet): the refusal is in the audit log; an admin may press Apply.
      log.warn({ err, changeId }, 'automatic apply was refused');
    }
  }

  /** The transaction port (for work after a command's commit that needs one unit of work). */
  get db(): Database {
    return this.#db;
  }

  /** The transport's live drafts: read and written through it (attached once it exists). */
  attachDrafts(drafts: DraftSink): void {
    this.#drafts = drafts;
  }

  /** Runs a command (REST, Socket.io and the CLI all come here): server/commands/dispatcher.ts. */
  dispatch<C extends CommandName>(name: C, p: Principal, payload: unknown, key?: string): Promise<CommandResult<C>> {
    return this.dispatcher.dispatch(name, p, payload, key);
  }

  /** The draft as its live document holds it. */
  readDraft(changeId: string): Promise<Record<string, unknown>> {
    return this.#sink().readDraft(changeId);
  }

  writeDraft(changeId: string, content: ChangeContent): Promise<void> {
    return this.#sink().writeDraft(changeId, content);
  }

  #sink(): DraftSink {
    if (!this.#drafts) throw new Error('no live document sink attached');
    return this.#drafts;
  }

  /** Everything a reviewer sees of one change, or null. */
  async view(id: string): Promise<ReviewView | null> {
    // One snapshot: the change, its annotations and sign-offs as of one commit.
    return this.#db.transaction(async () => {
      const found = await this.store.get(id);
      if (!found) return null;
      const { change } = found;
      const evaluation = change.revisions.length > 0 ? await this.policy.decide(change) : null;
      const rules = { requireRejectReason: change.revisions.length > 0 ? await this.policy.requiresRejectReason(change) : true };
      const apply = await this.applyView(id);
      return buildReviewView(change, await this.store.annotations(id), await this.signoffs.list(change), evaluation, rules, apply);
    }, { readOnly: true });
  }

  /** The change's apply record and its live grants (time left on each), or null before any apply through a target. */
  async applyView(id: string): Promise<ApplyView | null> {
    const run = await this.targetRepo.run(id);
    if (!run) return null;
    const grants = await this.targetRepo.liveGrantsOf(id);
    return {
      state: run.state, target: run.target, revision: run.revision, revisionHash: run.revisionHash,
      items: run.items, steps: run.steps.map((s) => ({ describe: s.step.describe, itemIds: s.step.itemIds, status: s.status, attempts: s.attempts, ...(s.error ? { error: s.error } : {}) })),
      warnings: run.warnings, difference: run.difference, ...(run.error ? { error: run.error } : {}),
      startedBy: run.startedBy, startedAt: run.startedAt, updatedAt: run.updatedAt, ...(run.verifiedAt ? { verifiedAt: run.verifiedAt } : {}),
      grants: grants.map((g) => ({ itemId: g.itemId, notAfter: g.notAfter, state: g.state, ...(g.lastError ? { lastError: g.lastError } : {}), ...(g.revokedAt ? { revokedAt: g.revokedAt } : {}) })),
    };
  }

  /**
   * Changes that wait for this user: `vote` (in review, the user may vote, and has no counted
   * whole-revision vote yet) or `signoff` (approved, the user may sign off, and has no valid sign-off).
   */
  async waitingFor(p: Principal, kind: 'vote' | 'signoff'): Promise<ChangeSummary[]> {
    const status = kind === 'vote' ? 'in_review' : 'approved';
    const waiting: ChangeSummary[] = [];
    for (const summary of await this.store.list({ status, limit: 500 })) {
      if (await this.#waits(p, kind, summary.id)) waiting.push(summary);
    }
    return waiting;
  }

  async #waits(p: Principal, kind: 'vote' | 'signoff', id: string): Promise<boolean> {
    const found = await this.store.get(id);
    if (!found) return false;
    const { change } = found;
    if (kind === 'vote') {
      // Waiting for my vote: one I could approve (who wrote any of it never approves it).
      if (!can(p, 'change.approve', { kind: 'change', change: factsOf(change) })) return false;
      return !classifyVotes(change).counted.some((v) => v.voter === p.username && v.itemId === undefined);
    }
    if (!can(p, 'change.signoff', { kind: 'change', change: factsOf(change) })) return false;
    return !(await this.signoffs.list(change)).some((s) => s.valid && s.approver === p.username);
  }

  /** Is `username` an enabled Accord user who may write changes (reviewer or above)? */
  async isWriter(username: string): Promise<boolean> {
    return (await this.#users.reviewers()).some((u) => u.username === username && u.role !== 'viewer');
  }

  /** Renders a proposed change set against the imported state and computes its blast radius; writes nothing. */
  async preview(p: Principal, body: unknown): Promise<{ rendered: RenderResult; blast: StoredBlastRadius; blastGroups: BlastGroups; highRisk: boolean }> {
    const d = decide(p, 'change.view');
    if (!d.allowed) throw new AppError('forbidden', d.reason);
    const parsed = parseChangeSet(body);
    if (!parsed.ok) throw new AppError('invalid_payload', parsed.problems.join('; '));
    const backend = this.inventories.backend(parsed.change.backend);
    const model = await this.inventories.model(parsed.change.backend);
    try {
      backend.validateChange(model, parsed.change);
      const groups = blastGroups(backend, model, parsed.change);
      return { rendered: backend.render(model, parsed.change), blast: storedBlastRows(groups), blastGroups: groups, highRisk: gainsHighRisk(groups) };
    } catch (err) {
      if (err instanceof AccessInputError) throw new AppError('invalid_payload', err.message);
      throw err;
    }
  }

  /** The draft as its authors see it, with the hash a submit names (`draftHash`). */
  async draft(p: Principal, id: string): Promise<{ draft: Record<string, unknown>; draftHash: string }> {
    const { change } = await this.changes.load(id);
    const d = decide(p, 'change.view', { kind: 'change', change: factsOf(change) });
    if (!d.allowed) throw new AppError('forbidden', d.reason);
    const draft = await this.#sink().readDraft(id);
    return { draft, draftHash: draftHashOf(draft) };
  }

  /**
   * Exports an evidence pack for an auditor (a command: rate limited per user, recorded once in the audit
   * log by the export itself, bound to a signed checkpoint).
   */
  async exportEvidence(p: Principal, id: string): Promise<EvidencePack> {
    try {
      const { change } = await this.changes.load(id);
      const d = decide(p, 'change.view', { kind: 'change', change: factsOf(change) });
      if (!d.allowed) throw new AppError('forbidden', d.reason);
      if (this.#exportLimit && !this.#exportLimit.take(`user:${p.userId}`)) {
        throw new AppError('rate_limited', `too many evidence exports; try again in ${this.#exportLimit.retryAfterSeconds(`user:${p.userId}`)} s`);
      }
      return await this.evidence(id, p.username);
    } catch (err) {
      // The stored change disagrees with its audit entries: no pack vouches for that (docs/audit.md).
      const refusal = err instanceof EvidenceRefused ? new AppError('conflict', err.message, { cause: err }) : err;
      await this.#runner.refused(p, 'evidence.export', id, refusal);
      throw refusal;
    }
  }

  /** An evidence pack, recorded in the audit log and bound to a signed checkpoint (also the local CLI export). */
  async evidence(id: string, actor = 'system'): Promise<EvidencePack> {
    // The change, its annotations and sign-offs read in the export's own unit of work (which holds the
    // audit chain's lock): a command committing meanwhile cannot make them disagree with the entries.
    return this.audit.transaction(async () => {
      const { change } = await this.changes.load(id);
      return exportEvidence(this.audit, this.#key, {
        change, annotations: await this.store.annotations(id), signoffs: await this.signoffs.list(change), actor,
      });
    });
  }

  evidenceHtml(pack: EvidencePack): string {
    return renderEvidenceHtml(pack);
  }
}
