import type { Logger } from '../log.ts';
import type { CampaignService } from '../commands/campaign-service.ts';
import type { Origin } from './origin.ts';
import type { SyncTransport } from './sync-transport.ts';

/**
 * Writes campaigns into live documents with a server origin (docs/campaigns.md): `campaign:<id>` holds
 * Y.Map `campaign` (the view: status, progress, revocations; one JSON value per key, only changed keys
 * written) and Y.Map `items` (item id → the item with its reviewers and decision; only changed entries
 * written). Reviewers join it read-only: decisions are commands. Presence comes with the document.
 */
/** Waits between tries of a failed projection. */
const RETRIES_MS = [50, 250, 1_000, 4_000];

export class CampaignBridge {
  readonly #sync: SyncTransport;
  readonly #campaigns: CampaignService;
  readonly #log: Logger;
  readonly #pending = new Map<string, Promise<void>>();

  constructor(sync: SyncTransport, campaigns: CampaignService, log: Logger) {
    this.#sync = sync;
    this.#campaigns = campaigns;
    this.#log = log;
  }

  /** `items`: only these items changed (a decision); absent: project every item (start, close). */
  changed(campaignId: string, changedItems?: readonly string[]): void {
    const previous = this.#pending.get(campaignId) ?? Promise.resolve();
    const next = previous.then(async () => {
      // A projection re-reads the stored campaign, so a failed one is simply tried again (the database may
      // be briefly unavailable, or busy); only after the last try is it reported.
      for (let attempt = 0; ; attempt++) {
        try {
          const c = await this.#campaigns.repo.get(campaignId);
          if (!c) return;
          const live = await this.#sync.registry.acquire(`campaign:${campaignId}`, 'campaign', true);
          try {
            // A decision changes its items only: the others are projected already (unless the document is new).
            const partial = changedItems !== undefined && live!.doc.getMap('items').size > 0;
            const items = partial ? await this.#campaigns.repo.itemsById(campaignId, changedItems) : await this.#campaigns.repo.items(campaignId);
            const view = await this.#campaigns.view(c);
            live!.doc.transact(() => {
              const map = live!.doc.getMap<unknown>('campaign');
              for (const [key, value] of Object.entries(view)) if (JSON.stringify(map.get(key)) !== JSON.stringify(value)) map.set(key, value);
              const itemMap = live!.doc.getMap<unknown>('items');
              for (const i of items) {
                const value = { ...i.item, reviewers: i.reviewers, decision: i.decision, reason: i.reason, decidedBy: i.decidedBy, decidedAt: i.decidedAt };
                if (JSON.stringify(itemMap.get(i.item.id)) !== JSON.stringify(value)) itemMap.set(i.item.id, value);
              }
            }, { source: 'server', reason: 'campaign' } satisfies Origin);
          } finally {
            this.#sync.registry.release(live!);
          }
          return;
        } catch (err) {
          if (attempt >= RETRIES_MS.length) throw err;
          this.#log.warn({ err, campaignId, attempt: attempt + 1 }, 'projecting a campaign failed; trying again');
          await new Promise((resolve) => setTimeout(resolve, RETRIES_MS[attempt]));
        }
      }
    }).catch((err: unknown) => this.#log.error({ err, campaignId }, 'projecting a campaign failed: its document lags until its next change'));
    this.#pending.set(campaignId, next);
    void next.finally(() => {
      if (this.#pending.get(campaignId) === next) this.#pending.delete(campaignId);
    });
  }

  async settled(): Promise<void> {
    await Promise.all([...this.#pending.values()]);
  }
}
