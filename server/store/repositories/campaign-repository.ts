/** Campaigns and their items (docs/campaigns.md). Same SQL on SQLite and PostgreSQL; JSON columns are text. */
import type { CampaignDefinition } from '../../domain/campaign/definition.ts';
import type { CampaignItem } from '../../domain/campaign/snapshot.ts';
import { AppError } from '../../protocol/errors.ts';
import type { Database } from '../sql.ts';
import { int, json, text } from './change-repository.ts';

export const CAMPAIGN_STATUSES = ['draft', 'active', 'closing', 'closed'] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];
export type Decision = 'keep' | 'revoke';

export interface Campaign {
  id: string;
  title: string;
  /** `closing`: decided and closed for decisions; waits until every revocation is applied (or accepted as failed). */
  status: CampaignStatus;
  owner: string;
  definition: CampaignDefinition;
  data: {
    /** One change request per backend with the revoked items. */
    revocations: { backend: string; changeId: string }[];
    /** Revocation changes whose failure the owner accepted. */
    acceptedFailures: string[];
    /** Items whose decision at close came from `defaultDecision`. */
    defaulted: number;
    /** A recurring campaign: the run its recurrence started after this one, and the run before it. */
    followedBy?: string;
    follows?: string;
  };
  version: number;
  createdAt: string;
  startedAt: string | null;
  endsAt: string | null;
  closedAt: string | null;
}

export interface StoredItem {
  item: CampaignItem;
  reviewers: string[];
  decision: Decision | null;
  reason: string | null;
  decidedBy: string | null;
  decidedAt: string | null;
}

const nullable = (v: unknown, c: string): string | null => (v === null || v === undefined ? null : text(v, c));

function decodeCampaign(r: Record<string, unknown>): Campaign {
  return {
    id: text(r.id, 'campaigns.id'), title: text(r.title, 'campaigns.title'), status: text(r.status, 'campaigns.status') as CampaignStatus,
    owner: text(r.owner, 'campaigns.owner'), definition: json<CampaignDefinition>(r.definition, 'campaigns.definition'),
    data: json<Campaign['data']>(r.data, 'campaigns.data'), version: int(r.version, 'campaigns.version'),
    createdAt: text(r.created_at, 'campaigns.created_at'), startedAt: nullable(r.started_at, 'campaigns.started_at'),
    endsAt: nullable(r.ends_at, 'campaigns.ends_at'), closedAt: nullable(r.closed_at, 'campaigns.closed_at'),
  };
}

function decodeItem(r: Record<string, unknown>): StoredItem {
  return {
    item: json<CampaignItem>(r.item, 'campaign_items.item'), reviewers: json<string[]>(r.reviewers, 'campaign_items.reviewers', 'array'),
    decision: nullable(r.decision, 'campaign_items.decision') as Decision | null, reason: nullable(r.reason, 'campaign_items.reason'),
    decidedBy: nullable(r.decided_by, 'campaign_items.decided_by'), decidedAt: nullable(r.decided_at, 'campaign_items.decided_at'),
  };
}

/** Rows per multi-row INSERT (well under PostgreSQL's 65,535 parameters). */
const CHUNK = 500;

export class CampaignRepository {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async insert(c: Campaign): Promise<void> {
    await this.#db.run(
      `INSERT INTO campaigns (id, title, status, owner, definition, data, version, created_at, started_at, ends_at, closed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [c.id, c.title, c.status, c.owner, JSON.stringify(c.definition), JSON.stringify(c.data), c.version, c.createdAt, c.startedAt, c.endsAt, c.closedAt]);
  }

  /** Saves a campaign read at `version`; a concurrent save in between is a conflict. */
  async save(c: Campaign, version: number): Promise<void> {
    const n = await this.#db.run(
      `UPDATE campaigns SET title = ?, status = ?, definition = ?, data = ?, version = ?, started_at = ?, ends_at = ?, closed_at = ? WHERE id = ? AND version = ?`,
      [c.title, c.status, JSON.stringify(c.definition), JSON.stringify(c.data), version + 1, c.startedAt, c.endsAt, c.closedAt, c.id, version]);
    if (n !== 1) throw new AppError('conflict', `campaign ${c.id} changed meanwhile; read it again`);
    c.version = version + 1;
  }

  async get(id: string): Promise<Campaign | undefined> {
    const r = await this.#db.get<Record<string, unknown>>('SELECT * FROM campaigns WHERE id = ?', [id]);
    return r ? decodeCampaign(r) : undefined;
  }

  async list(limit = 200): Promise<Campaign[]> {
    return (await this.#db.all<Record<string, unknown>>(`SELECT * FROM campaigns ORDER BY created_at DESC, id LIMIT ${Math.max(1, Math.floor(limit))}`)).map(decodeCampaign);
  }

  /** Campaigns in a status (the closing ones wait for their revocations). */
  async withStatus(status: CampaignStatus): Promise<Campaign[]> {
    return (await this.#db.all<Record<string, unknown>>('SELECT * FROM campaigns WHERE status = ? ORDER BY created_at', [status])).map(decodeCampaign);
  }

  async insertItems(campaignId: string, items: readonly { item: CampaignItem; reviewers: string[] }[]): Promise<void> {
    for (let i = 0; i < items.length; i += CHUNK) {
      const chunk = items.slice(i, i + CHUNK);
      const params = chunk.flatMap((x) => [campaignId, x.item.id, x.item.backend, JSON.stringify(x.item), JSON.stringify(x.reviewers)]);
      await this.#db.run(`INSERT INTO campaign_items (campaign_id, id, backend, item, reviewers) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?)').join(', ')}`, params);
    }
    // Who reviews what, one row each: progress per reviewer is then one query, not a read of every item.
    const pairs = items.flatMap((x) => x.reviewers.map((r) => [campaignId, x.item.id, r]));
    for (let i = 0; i < pairs.length; i += CHUNK) {
      const chunk = pairs.slice(i, i + CHUNK);
      await this.#db.run(`INSERT INTO campaign_assignments (campaign_id, item_id, reviewer) VALUES ${chunk.map(() => '(?, ?, ?)').join(', ')}`, chunk.flat());
    }
  }

  /** Counts for the campaign view, computed by the database. */
  async progress(campaignId: string): Promise<{ total: number; decided: number; keep: number; revoke: number; byReviewer: Record<string, { assigned: number; decided: number }> }> {
    const n = (v: unknown): number => (v === null || v === undefined ? 0 : int(typeof v === 'string' ? Number(v) : v, 'count'));
    const totals = await this.#db.get<Record<string, unknown>>(
      `SELECT count(*) AS total, sum(CASE WHEN decision IS NOT NULL THEN 1 ELSE 0 END) AS decided,
         sum(CASE WHEN decision = 'keep' THEN 1 ELSE 0 END) AS keep, sum(CASE WHEN decision = 'revoke' THEN 1 ELSE 0 END) AS revoke
       FROM campaign_items WHERE campaign_id = ?`, [campaignId]);
    const rows = await this.#db.all<Record<string, unknown>>(
      `SELECT a.reviewer AS reviewer, count(*) AS assigned, sum(CASE WHEN i.decision IS NOT NULL THEN 1 ELSE 0 END) AS decided
       FROM campaign_assignments a JOIN campaign_items i ON i.campaign_id = a.campaign_id AND i.id = a.item_id
       WHERE a.campaign_id = ? GROUP BY a.reviewer ORDER BY a.reviewer`, [campaignId]);
    return {
      total: n(totals?.total), decided: n(totals?.decided), keep: n(totals?.keep), revoke: n(totals?.revoke),
      byReviewer: Object.fromEntries(rows.map((r) => [text(r.reviewer, 'campaign_assignments.reviewer'), { assigned: n(r.assigned), decided: n(r.decided) }])),
    };
  }

  /** One reviewer's items (undecided only, when asked). */
  async itemsOf(campaignId: string, reviewer: string, undecidedOnly: boolean): Promise<StoredItem[]> {
    const rows = await this.#db.all<Record<string, unknown>>(
      `SELECT i.* FROM campaign_assignments a JOIN campaign_items i ON i.campaign_id = a.campaign_id AND i.id = a.item_id
       WHERE a.campaign_id = ? AND a.reviewer = ?${undecidedOnly ? ' AND i.decision IS NULL' : ''} ORDER BY i.backend, i.id`, [campaignId, reviewer]);
    return rows.map(decodeItem);
  }

  async items(campaignId: string): Promise<StoredItem[]> {
    return (await this.#db.all<Record<string, unknown>>('SELECT * FROM campaign_items WHERE campaign_id = ? ORDER BY backend, id', [campaignId])).map(decodeItem);
  }

  /** The items one reviewer decided (what their sign-off covers), by item id. */
  async decidedBy(campaignId: string, reviewer: string): Promise<StoredItem[]> {
    const rows = await this.#db.all<Record<string, unknown>>('SELECT * FROM campaign_items WHERE campaign_id = ? AND decided_by = ? AND decision IS NOT NULL ORDER BY id', [campaignId, reviewer]);
    return rows.map(decodeItem);
  }

  async itemsById(campaignId: string, ids: readonly string[]): Promise<StoredItem[]> {
    const out: StoredItem[] = [];
    for (let i = 0; i < ids.length; i += CHUNK) {
      const chunk = ids.slice(i, i + CHUNK);
      const rows = await this.#db.all<Record<string, unknown>>(`SELECT * FROM campaign_items WHERE campaign_id = ? AND id IN (${chunk.map(() => '?').join(', ')})`, [campaignId, ...chunk]);
      out.push(...rows.map(decodeItem));
    }
    return out;
  }

  async decide(campaignId: string, ids: readonly string[], decision: Decision, reason: string | null, by: string, at: string): Promise<number> {
    let n = 0;
    for (let i = 0; i < ids.length; i += CHUNK) {
      const chunk = ids.slice(i, i + CHUNK);
      n += await this.#db.run(`UPDATE campaign_items SET decision = ?, reason = ?, decided_by = ?, decided_at = ? WHERE campaign_id = ? AND id IN (${chunk.map(() => '?').join(', ')})`,
        [decision, reason, by, at, campaignId, ...chunk]);
    }
    return n;
  }

  /** Undecided items get the campaign's default decision at close. */
  async decideUndecided(campaignId: string, decision: Decision, at: string): Promise<number> {
    return this.#db.run(`UPDATE campaign_items SET decision = ?, reason = ?, decided_by = ?, decided_at = ? WHERE campaign_id = ? AND decision IS NULL`,
      [decision, 'no decision by the end of the campaign: its default decision', 'accord', at, campaignId]);
  }
}
