/**
 * The campaigns' clock (docs/campaigns.md): every `everyMs`, an active campaign whose end has come is closed
 * (as the system actor `accord`, so undecided items take its default decision and its revocations become
 * change requests), and the reviewers of one whose end is within `remindDaysBefore` days get one reminder
 * each for the items they have not decided (queued in the outbox, deduplicated per campaign and reviewer).
 */
import type { Notifier } from '../notify/notifier.ts';
import { randomBytes } from 'node:crypto';
import { nextRuns } from '../domain/campaign/definition.ts';
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
  /**
   * A recurring campaign starts its next run when its recurrence says: a new campaign with the same
   * definition and owner, started at once (a fresh snapshot), linked both ways; once per run.
   */
  async #recur(now: number): Promise<void> {
    const { accord } = this.#o;
    for (const status of ['active', 'closing', 'closed'] as const) {
      for (const c of await accord.campaigns.repo.withStatus(status)) {
        if (!c.definition.recurrence || c.data.followedBy || !c.startedAt) continue;
        const [next] = nextRuns(c.definition, new Date(c.startedAt), 1);
        if (!next || Date.parse(next) > now) continue;
        const id = `cp-${randomBytes(6).toString('hex')}`;
        const started = await accord.db.transaction(async () => {
          const fresh = await accord.campaigns.load(c.id);
          if (fresh.data.followedBy) return false;
          const version = fresh.version;
          const run = await accord.campaigns.create(id, fresh.definition, fresh.owner, new Date(now).toISOString());
          run.data.follows = fresh.id;
          let items = 0;
          let refusal: string | undefined;
          try {
            items = (await accord.campaigns.start(run, new Date(now))).items;
          } catch (err) {
            // Nothing to review this time (or no reviewer): the run stays a draft and says why in the audit log.
            refusal = (err as Error).message;
          }
          await accord.campaigns.repo.save(run, run.version);
          fresh.data.followedBy = id;
          await accord.campaigns.repo.save(fresh, version);
          await accord.audit.append({ actor: 'accord', action: 'campaign.recur', subject: `campaign:${id}`, outcome: 'ok', detail: { follows: fresh.id, scheduledFor: next, items, ...(refusal ? { notStarted: refusal } : {}) } });
          const facts = [{ scope: 'campaign' as const, campaignId: id, ...(refusal ? {} : { started: true as const }) }];
          await accord.dispatcher.inUnit(facts);
          return refusal === undefined;
        });
        await accord.dispatcher.publish({ scope: 'campaign', campaignId: id });
        await accord.dispatcher.publish({ scope: 'campaign', campaignId: c.id });
        if (!started) this.#o.log.warn({ campaignId: id, follows: c.id }, 'a recurring campaign\'s new run could not start; it stays a draft');
      }
    }
  }

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
    await this.#recur(now);
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
