/**
 * The campaigns' clock (docs/campaigns.md): every `everyMs`, an active campaign whose end has come is closed
 * (as the system actor `accord`, so undecided items take its default decision and its revocations become
 * change requests), and the reviewers of one whose end is within `remindDaysBefore` days get one reminder
 * each for the items they have not decided (queued in the outbox, deduplicated per campaign and reviewer).
 */
import type { Notifier } from '../notify/notifier.ts';
import { SYSTEM, type Accord } from './accord.ts';
import type { Leases } from '../store/leases.ts';

export interface CampaignClockOptions {
  accord: Accord;
  notifier?: Notifier;
  log: { warn(o: object, m: string): void; error(o: object, m: string): void };
  everyMs: number;
  /** With several nodes: only the lease holder runs a pass. */
  leases?: Leases;
  now?: () => number;
}

export class CampaignClock {
  readonly #o: CampaignClockOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(o: CampaignClockOptions) {
    this.#o = o;
  }

  start(): void {
    this.#timer = setInterval(() => void this.tick(), this.#o.everyMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }

  /** One pass (tests call it directly). */
  tick(): Promise<void> {
    const pass = (): Promise<void> => (this.#o.leases ? this.#o.leases.run('campaign-clock', 60_000, () => this.#pass()).then(() => undefined) : this.#pass());
    this.#running ??= pass().catch((err: unknown) => this.#o.log.error({ err }, 'campaign clock failed')).finally(() => { this.#running = undefined; });
    return this.#running;
  }

  async #pass(): Promise<void> {
    const { accord } = this.#o;
    const now = (this.#o.now ?? Date.now)();
    for (const c of await accord.campaigns.repo.withStatus('active')) {
      if (c.endsAt === null) continue;
      const end = Date.parse(c.endsAt);
      if (end <= now) {
        await accord.dispatch('campaign:close', SYSTEM, { campaignId: c.id })
          .catch((err: unknown) => this.#o.log.warn({ err, campaignId: c.id }, 'closing a campaign at its end failed; trying again on the next pass'));
        continue;
      }
      const remind = c.definition.remindDaysBefore;
      if (remind > 0 && this.#o.notifier && end - remind * 86_400_000 <= now) {
        const notifier = this.#o.notifier;
        await accord.db.transaction(async () => {
          await notifier.campaign('campaign.reminder', c, await accord.campaigns.waiting(c));
        });
      }
    }
  }
}
