import { createHash } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { Logger } from '../log.ts';
import { Drain } from './drain.ts';
import type { NotificationRepository, OutboxRow } from '../store/repositories/notification-repository.ts';
import { isCampaignPayload, type CampaignEvent, type CampaignPayload, type ChangeEvent, type NotificationPayload } from './notifier.ts';

const SUBJECT: Record<ChangeEvent, (p: NotificationPayload) => string> = {
  'change.needs_vote': (p) => `Your vote is needed: ${p.title} (revision ${p.revision})`,
  'change.needs_signoff': (p) => `Sign-off needed: ${p.title} (revision ${p.revision})`,
  'vote.stale': (p) => `Your vote no longer counts: ${p.title} was amended (revision ${p.revision})`,
  'change.decided': (p) => `${p.status === 'approved' ? 'Approved' : 'Rejected'}: ${p.title} (revision ${p.revision})`,
  'change.applied': (p) => `Applied: ${p.title}`,
  'change.apply_failed': (p) => `Apply failed: ${p.title}`,
};

const CAMPAIGN_SUBJECT: Record<CampaignEvent, (p: CampaignPayload) => string> = {
  'campaign.needs_review': (p) => `Access review: ${p.items} item${p.items === 1 ? '' : 's'} wait for your decision (${p.title})`,
  'campaign.reminder': (p) => `Reminder: ${p.items} item${p.items === 1 ? '' : 's'} still wait for your decision (${p.title})`,
};

/** A campaign's message: the campaign, how many items wait, until when, and the link. */
function renderCampaignEmail(p: CampaignPayload): { subject: string; text: string; html: string } {
  const what = p.event === 'campaign.reminder' ? 'The access review below ends soon, and some of your items are still undecided.' : 'An access review started: decide whether each grant assigned to you is still needed.';
  const until = p.endsAt ? `Decide by: ${p.endsAt}` : '';
  const lines = [what, '', `Campaign: ${p.title}`, `Items waiting for you: ${p.items}`, until, '', `Open it: ${p.link}`, '', 'Nothing is decided by this message: decisions are made in Accord.'];
  const html = `<p>${escape(what)}</p><table><tr><th align="left">Campaign</th><td>${escape(p.title)}</td></tr>`
    + `<tr><th align="left">Items waiting for you</th><td>${p.items}</td></tr>${p.endsAt ? `<tr><th align="left">Decide by</th><td>${escape(p.endsAt)}</td></tr>` : ''}</table>`
    + `<p><a href="${escape(p.link)}">Open the campaign in Accord</a></p><p>Nothing is decided by this message: decisions are made in Accord.</p>`;
  return { subject: CAMPAIGN_SUBJECT[p.event](p), text: `${lines.filter((l, i) => l !== '' || lines[i - 1] !== '').join('\n')}\n`, html };
}

const WHAT: Record<ChangeEvent, string> = {
  'change.needs_vote': 'This access change is in review and waits for your vote.',
  'change.needs_signoff': 'This access change was approved and waits for your sign-off with your passkey.',
  'vote.stale': 'The change you voted on was amended: your vote no longer counts. Review the new revision and vote again.',
  'change.decided': 'The review of your access change is decided.',
  'change.applied': 'Your access change was applied on the hypervisor.',
  'change.apply_failed': 'Applying your access change on the hypervisor failed.',
};

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The message in plain text and HTML: what happened, the exact revision (number and hash) and the link. Nothing else of the change. */
export function renderEmail(p: NotificationPayload | CampaignPayload): { subject: string; text: string; html: string } {
  if (isCampaignPayload(p)) return renderCampaignEmail(p);
  const lines = [WHAT[p.event], '', `Change: ${p.title}`, `Revision: ${p.revision}`, `Revision hash: ${p.revisionHash}`, `Status: ${p.status.replace('_', ' ')}`, '', `Open it: ${p.link}`, '',
    'Nothing is approved or signed by this message: decisions are made in Accord.'];
  const html = `<p>${escape(WHAT[p.event])}</p><table><tr><th align="left">Change</th><td>${escape(p.title)}</td></tr>`
    + `<tr><th align="left">Revision</th><td>${p.revision}</td></tr><tr><th align="left">Revision hash</th><td><code>${escape(p.revisionHash)}</code></td></tr>`
    + `<tr><th align="left">Status</th><td>${escape(p.status.replace('_', ' '))}</td></tr></table>`
    + `<p><a href="${escape(p.link)}">Open revision ${p.revision} in Accord</a></p><p>Nothing is approved or signed by this message: decisions are made in Accord.</p>`;
  return { subject: SUBJECT[p.event](p), text: `${lines.join('\n')}\n`, html };
}

/** Back-off after a failed delivery: 1 s, 2 s, 4 s … at most 5 minutes. */
export function retryDelayMs(attempts: number): number {
  return Math.min(5 * 60_000, 1_000 * 2 ** Math.min(attempts, 20));
}

/**
 * Delivers the outbox's e-mail over SMTP (nodemailer): polls every `pollMs` and whenever nudged after a
 * commit; a failure is retried with back-off, its error kept on the row. A message is marked sent after
 * the SMTP server accepted it; a crash between the two sends it again on restart, with the same
 * Message-ID (derived from its dedupe key), so mail systems and readers see one message.
 */
export class EmailDelivery {
  readonly #outbox: NotificationRepository;
  readonly #transport: nodemailer.Transporter;
  readonly #from: string;
  readonly #log: Logger;
  readonly #drain: Drain;

  constructor(outbox: NotificationRepository, smtpUrl: string, from: string, log: Logger, pollMs = 1_000) {
    this.#outbox = outbox;
    this.#transport = nodemailer.createTransport(smtpUrl);
    this.#from = from;
    this.#log = log;
    this.#drain = new Drain(() => this.#run(), (err) => this.#log.error({ err }, 'e-mail delivery failed; retrying at the next poll'), pollMs);
  }

  /** Delivers what is due now (one run at a time; a nudge during a run makes one more run). */
  nudge(): void {
    this.#drain.nudge();
  }

  async #run(): Promise<void> {
    let due: OutboxRow[];
    try {
      due = await this.#outbox.due(Date.now());
    } catch (err) {
      this.#log.error({ err }, 'reading the notification outbox failed; retrying at the next poll');
      return;
    }
    for (const row of due) {
      if (this.#drain.stopped) return;
      const rendered = renderEmail(row.payload as unknown as NotificationPayload);
      try {
        await this.#transport.sendMail({
          from: this.#from, to: row.address, ...rendered,
          messageId: `<${createHash('sha256').update(row.dedupeKey).digest('hex').slice(0, 32)}@accord>`,
        });
      } catch (err) {
        const next = Date.now() + retryDelayMs(row.attempts);
        this.#log.warn({ err, id: row.id, event: row.event, attempts: row.attempts + 1 }, 'sending a notification failed; retrying later');
        await this.#outbox.markFailed(row.id, next, err instanceof Error ? err.message : String(err)).catch((markErr: unknown) =>
          this.#log.error({ err: markErr, id: row.id }, 'recording a failed notification failed'));
        continue;
      }
      await this.#outbox.markSent(row.id).catch((err: unknown) =>
        this.#log.error({ err, id: row.id }, 'marking a sent notification failed: it may be sent again (same Message-ID)'));
    }
  }

  async stop(): Promise<void> {
    await this.#drain.stop();
    this.#transport.close();
  }
}
