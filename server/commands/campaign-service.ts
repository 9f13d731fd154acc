/**
 * Recertification campaigns (docs/campaigns.md): a snapshot of the access in scope at start, decisions by
 * the reviewers of each item, and a close that turns revocations into one change request per backend. The
 * commands (server/commands/handlers.ts) call these inside their units of work.
 */
import type { CampaignFacts } from '../auth/permissions.ts';
import type { UserStore } from '../auth/user-store.ts';
import { getBackend } from '../backends/index.ts';
import { looseKey } from '../connectors/apply-engine.ts';
import type { BackendId, GrantSpec } from '../domain/access/model.ts';
import { BACKEND_IDS } from '../domain/access/model.ts';
import { nextRuns, type CampaignDefinition } from '../domain/campaign/definition.ts';
import { snapshotItems, type CampaignItem } from '../domain/campaign/snapshot.ts';
import type { ChangeContent } from '../domain/review/types.ts';
import { AppError } from '../protocol/errors.ts';
import type { Campaign, CampaignRepository, Decision, StoredItem } from '../store/repositories/campaign-repository.ts';
import type { ChangeStore } from '../store/repositories/change-repository.ts';
import type { TargetRepository } from '../store/repositories/target-repository.ts';
import type { PasskeyRepository } from '../store/repositories/passkey-repository.ts';
import { localName } from './policy-engine.ts';
import { canonicalJson } from '../domain/canonical-json.ts';
import { sha256Hex } from '../domain/canonical.ts';
import type { Inventories } from './inventory.ts';

export interface CampaignView {
  id: string;
  title: string;
  status: Campaign['status'];
  owner: string;
  definition: CampaignDefinition;
  createdAt: string;
  startedAt: string | null;
  endsAt: string | null;
  closedAt: string | null;
  nextRuns: string[];
  progress: {
    total: number;
    decided: number;
    keep: number;
    revoke: number;
    /** Per reviewer: items assigned and decided (by anyone). */
    byReviewer: Record<string, { assigned: number; decided: number }>;
  };
  revocations: { backend: string; changeId: string; status: string | null }[];
  acceptedFailures: string[];
  /** A recurring campaign's previous and next runs (campaign ids), when there are. */
  follows: string | null;
  followedBy: string | null;
  /** Reviewers' passkey sign-offs of their decisions; `current`: they still sign exactly what the reviewer decided. */
  signoffs: { reviewer: string; decisions: number; decisionsHash: string; at: string; current: boolean }[];
}

/** The largest set of items one decision may name. */
export const MAX_BULK = 5_000;

export class CampaignService {
  readonly #repo: CampaignRepository;
  readonly #inventories: Inventories;
  readonly #users: UserStore;
  readonly #targets: TargetRepository;
  readonly #changes: ChangeStore;

  readonly #passkeys: PasskeyRepository;

  constructor(repo: CampaignRepository, inventories: Inventories, users: UserStore, targets: TargetRepository, changes: ChangeStore, passkeys: PasskeyRepository) {
    this.#passkeys = passkeys;
    this.#repo = repo;
    this.#inventories = inventories;
    this.#users = users;
    this.#targets = targets;
    this.#changes = changes;
  }

  get repo(): CampaignRepository {
    return this.#repo;
  }

  async load(id: string): Promise<Campaign> {
    const c = await this.#repo.get(id);
    if (!c) throw new AppError('not_found', `no campaign ${id}`);
    return c;
  }

  /** What the rule book asks about a campaign for one user and some of its items. */
  async facts(c: Campaign, username: string, itemIds: readonly string[] = []): Promise<CampaignFacts> {
    const items = itemIds.length > 0 ? await this.#repo.itemsById(c.id, itemIds) : [];
    return { owner: c.owner, status: c.status, assigned: items.length > 0 && items.every((i) => i.reviewers.includes(username)) };
  }

  async create(id: string, definition: CampaignDefinition, owner: string, at: string): Promise<Campaign> {
    const c: Campaign = {
      id, title: definition.title, status: 'draft', owner, definition,
      data: { revocations: [], acceptedFailures: [], defaulted: 0 }, version: 1, createdAt: at, startedAt: null, endsAt: null, closedAt: null,
    };
    await this.#repo.insert(c);
    return c;
  }

  /**
   * Takes the snapshot: one item per grant in scope in each backend's imported inventory, each assigned to
   * its reviewers. A scope that matches nothing is refused: a campaign of 0 items is not started.
   */
  async start(c: Campaign, at: Date): Promise<{ items: number }> {
    if (c.status !== 'draft') throw new AppError('conflict', `only a draft campaign is started; this one is ${c.status}`);
    const d = c.definition;
    const backends: BackendId[] = d.scope.backend ?? [];
    if (backends.length === 0) {
      for (const b of BACKEND_IDS) if ((await this.#inventories.version(b)) > 0) backends.push(b);
    }
    if (backends.length === 0) throw new AppError('conflict', 'no backend has an imported inventory: import one (or read a target) before starting a campaign');
    const approvedBy = await this.#provenance();
    const reviewers = await this.#users.reviewers();
    const enabled = new Set(reviewers.map((r) => r.username));
    const named = [...new Set([...d.reviewers.users.filter((u) => enabled.has(u)), ...reviewers.filter((r) => r.groups.some((g) => d.reviewers.groups.includes(g))).map((r) => r.username)])];
    const fallback = d.fallbackReviewers.filter((u) => enabled.has(u));
    if (named.length === 0 && fallback.length === 0) throw new AppError('conflict', 'none of the campaign\'s reviewers is an enabled Accord user: nobody could decide its items');
    const rows: { item: CampaignItem; reviewers: string[] }[] = [];
    for (const b of backends) {
      if ((await this.#inventories.version(b)) === 0) throw new AppError('conflict', `the scope names ${b}, which has no imported inventory`);
      const backend = getBackend(b);
      const model = await this.#inventories.model(b);
      for (const item of snapshotItems(d, { backend, model, approvedBy: (g) => approvedBy.get(`${b}\u0000${looseKey(g)}`) ?? null, now: at.getTime() })) {
        // Nobody reviews their own access (by the principal's plain name, as the review policy's beneficiaries).
        const own = localName(item.grant.principal);
        const assigned = named.filter((u) => u.toLowerCase() !== own);
        rows.push({ item, reviewers: assigned.length > 0 ? assigned : fallback.filter((u) => u.toLowerCase() !== own) });
      }
    }
    if (rows.length === 0) throw new AppError('conflict', 'the scope matches no access: a campaign of 0 items is not started; widen the scope');
    const orphans = rows.filter((r) => r.reviewers.length === 0);
    if (orphans.length > 0) {
      throw new AppError('conflict', `${orphans.length} item(s) would have no reviewer (every reviewer is the principal itself, e.g. ${orphans[0]!.item.grant.principal}): add fallbackReviewers`);
    }
    await this.#repo.insertItems(c.id, rows);
    c.status = 'active';
    c.startedAt = at.toISOString();
    c.endsAt = new Date(at.getTime() + d.durationDays * 86_400_000).toISOString();
    return { items: rows.length };
  }

  /** The change that approved each live grant, by backend and grant (loosely, as revocations match). */
  async #provenance(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const t of await this.#targets.list()) {
      for (const g of await this.#targets.activeOn(t.name)) out.set(`${t.backend}\u0000${looseKey(g.grant)}`, g.changeId);
    }
    return out;
  }

  /** Records one decision on items the user reviews; bulk keeps of high-risk items are refused. */
  async decide(c: Campaign, items: StoredItem[], ids: readonly string[], decision: Decision, reason: string, by: string, at: string): Promise<number> {
    const found = new Set(items.map((i) => i.item.id));
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) throw new AppError('invalid_payload', `no item ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` (and ${missing.length - 3} more)` : ''} in campaign ${c.id}`);
    if (decision === 'revoke' && reason.trim() === '') throw new AppError('invalid_payload', 'reason: say why the access is revoked (the requester and the auditor read it)');
    if (decision === 'keep' && ids.length > 1) {
      const risky = items.filter((i) => i.item.highRisk);
      if (risky.length > 0) {
        throw new AppError('invalid_payload', `high-risk items cannot be kept in bulk: decide ${risky.length === 1 ? 'it' : `these ${risky.length}`} one by one (${risky.slice(0, 3).map((i) => i.item.id).join(', ')}${risky.length > 3 ? ', ...' : ''})`);
      }
    }
    return this.#repo.decide(c.id, ids, decision, reason.trim() || null, by, at);
  }

  /**
   * Closes the campaign for decisions: undecided items take the default decision; the revocations, grouped
   * per backend, are the change requests' contents (created by the caller after the commit).
   */
  async close(c: Campaign, at: string): Promise<{ revocations: ChangeContent[]; undecided: number }> {
    const d = c.definition;
    const before = await this.#repo.items(c.id);
    const undecided = before.filter((i) => i.decision === null).length;
    if (d.defaultDecision !== 'none' && undecided > 0) c.data.defaulted = await this.#repo.decideUndecided(c.id, d.defaultDecision, at);
    const items = d.defaultDecision !== 'none' && undecided > 0 ? await this.#repo.items(c.id) : before;
    const byBackend = new Map<string, GrantSpec[]>();
    for (const i of items) if (i.decision === 'revoke') byBackend.set(i.item.backend, [...(byBackend.get(i.item.backend) ?? []), i.item.grant]);
    const revocations: ChangeContent[] = [];
    for (const [backend, grants] of byBackend) {
      revocations.push({
        title: `Revocations from campaign "${c.title}"`.slice(0, 200),
        justification: `Campaign ${c.id} (${c.title}): ${grants.length} grant(s) its reviewers decided to revoke. Each item's reviewer and reason are in the campaign's report.`,
        backend: backend as BackendId,
        items: grants.map((grant, n) => ({ id: `r${n + 1}`, op: 'remove' as const, grant })),
        environment: ['campaign-revocations'],
      });
    }
    c.status = revocations.length > 0 ? 'closing' : 'closed';
    c.closedAt = revocations.length > 0 ? null : at;
    return { revocations, undecided: d.defaultDecision === 'none' ? undecided : 0 };
  }

  /** Closing → closed once every revocation change is applied or its failure accepted. */
  async settle(c: Campaign, at: string): Promise<boolean> {
    if (c.status !== 'closing' || c.data.revocations.length === 0) return false;
    for (const r of c.data.revocations) {
      if (c.data.acceptedFailures.includes(r.changeId)) continue;
      if ((await this.#changes.get(r.changeId))?.change.status !== 'applied') return false;
    }
    c.status = 'closed';
    c.closedAt = at;
    return true;
  }

  /**
   * What a reviewer signs: the campaign, who they are, the attestation, and every decision they made (item,
   * grant, decision, reason), in item order. Its hash is the passkey challenge's content (docs/campaigns.md).
   */
  async decisionsOf(c: Campaign, reviewer: string): Promise<{ count: number; hash: string; attestation: string; decisions: { item: string; grant: GrantSpec; decision: Decision; reason: string | null }[] }> {
    const mine = (await this.#repo.decidedBy(c.id, reviewer))
      .map((i) => ({ item: i.item.id, grant: i.item.grant, decision: i.decision!, reason: i.reason }))
      .sort((a, b) => (a.item < b.item ? -1 : a.item > b.item ? 1 : 0));
    const attestation = `I, ${reviewer}, reviewed the ${mine.length} item(s) below in campaign "${c.title}" (${c.id}) and attest that each decision is mine and correct.`;
    const hash = sha256Hex(canonicalJson({ type: 'accord-campaign-signoff/1', campaign: c.id, reviewer, attestation, decisions: mine }));
    return { count: mine.length, hash, attestation, decisions: mine };
  }

  async #signoffs(c: Campaign): Promise<CampaignView['signoffs']> {
    const rows = await this.#passkeys.signOffsOf(`campaign:${c.id}`);
    const out: CampaignView['signoffs'] = [];
    for (const r of rows) {
      const now = await this.decisionsOf(c, r.approver);
      out.push({ reviewer: r.approver, decisions: r.revision, decisionsHash: r.revisionHash, at: r.at, current: now.hash === r.revisionHash });
    }
    return out;
  }

  /** Undecided items per reviewer (reminders, "waiting for my review"). */
  async waiting(c: Campaign): Promise<Record<string, number>> {
    const p = await this.#repo.progress(c.id);
    return Object.fromEntries(Object.entries(p.byReviewer).map(([r, x]) => [r, x.assigned - x.decided]).filter(([, n]) => (n as number) > 0));
  }

  async view(c: Campaign): Promise<CampaignView> {
    const revocations: CampaignView['revocations'] = [];
    for (const r of c.data.revocations) revocations.push({ ...r, status: (await this.#changes.get(r.changeId))?.change.status ?? null });
    return {
      id: c.id, title: c.title, status: c.status, owner: c.owner, definition: c.definition, createdAt: c.createdAt,
      startedAt: c.startedAt, endsAt: c.endsAt, closedAt: c.closedAt, nextRuns: nextRuns(c.definition, new Date()),
      progress: await this.#repo.progress(c.id),
      revocations, acceptedFailures: c.data.acceptedFailures, follows: c.data.follows ?? null, followedBy: c.data.followedBy ?? null,
      signoffs: await this.#signoffs(c),
    };
  }
}

/** The report's rows as CSV (RFC 4180 quoting): one line per item with its decision. */
export function reportCsv(items: readonly StoredItem[]): string {
  const q = (v: unknown): string => {
    const s = v === null || v === undefined ? '' : String(v);
    // A leading = + - @ would be a formula in a spreadsheet: prefix it (CSV injection).
    const safe = /^[=+\-@]/.test(s) ? `'${s}` : s;
    return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  const head = ['item', 'backend', 'principal', 'resource', 'role', 'privileges', 'propagate', 'high_risk', 'reach_vms', 'approved_by', 'orphaned', 'reviewers', 'decision', 'reason', 'decided_by', 'decided_at'];
  const rows = items.map((i) => [
    i.item.id, i.item.backend, i.item.grant.principal, i.item.grant.resource, i.item.grant.role ?? '', i.item.privileges.join(' '), i.item.grant.propagate,
    i.item.highRisk, i.item.reach.vms, i.item.approvedBy ?? 'outside Accord', i.item.helpers.orphaned, i.reviewers.join(' '), i.decision ?? 'undecided', i.reason, i.decidedBy, i.decidedAt,
  ].map(q).join(','));
  return `${head.join(',')}\r\n${rows.map((r) => `${r}\r\n`).join('')}`;
}
