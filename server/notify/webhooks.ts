/**
 * Outgoing webhooks (docs/notifications.md): an admin registers an endpoint for some events, in the Standard
 * Webhooks form (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`) or ready
 * for Slack or Microsoft Teams (an Adaptive Card). Messages go through the same outbox as e-mail (written
 * with the state change, delivered after with retries and back-off); an endpoint that answers 410, or fails
 * ten times in a row, is disabled. Destinations on loopback, private, link-local or other internal ranges
 * are refused (server-side request forgery) unless the server runs with `--allow-private-webhooks`; the
 * check runs at registration and again before every delivery (an address that changed since), redirects
 * are not followed, and secrets are sealed at rest and never logged.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import type { Logger } from '../log.ts';
import { AppError } from '../protocol/errors.ts';
import type { TargetSecrets } from '../connectors/secrets.ts';
import type { Database } from '../store/sql.ts';
import { int, json, text } from '../store/repositories/change-repository.ts';
import type { NewMessage, NotificationRepository, OutboxRow } from '../store/repositories/notification-repository.ts';
import { retryDelayMs } from './email.ts';
import { Drain } from './drain.ts';

export const WEBHOOK_EVENTS = [
  'change.needs_vote', 'change.needs_signoff', 'vote.stale', 'change.decided', 'change.applied', 'change.apply_failed',
  'campaign.needs_review', 'campaign.reminder', 'drift.found',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];
export const WEBHOOK_FORMATS = ['standard', 'slack', 'teams'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/** Consecutive failed deliveries after which an endpoint is disabled. */
export const MAX_FAILURES = 10;
/** How long the previous secret still signs after a rotation (receivers switch over meanwhile). */
const ROTATION_OVERLAP_MS = 24 * 3_600_000;

export interface Webhook {
  id: string;
  url: string;
  events: WebhookEvent[];
  format: WebhookFormat;
  createdBy: string;
  createdAt: string;
  failures: number;
  disabledAt: string | null;
  disabledReason: string | null;
}

interface Secrets {
  current: string;
  previous?: string;
  previousUntil?: number;
}

const INTERNAL = new BlockList();
for (const [net, bits] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4]] as const) INTERNAL.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96]] as const) INTERNAL.addSubnet(net, bits, 'ipv6');

/** Whether an IP address is loopback, private, link-local, shared, multicast or otherwise not the public internet. */
export function isInternalAddress(address: string): boolean {
  const v = isIP(address);
  if (v === 4) return INTERNAL.check(address, 'ipv4');
  if (v === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return INTERNAL.check(mapped[1]!, 'ipv4');
    return INTERNAL.check(address, 'ipv6');
  }
  return true; // not an address at all: never trusted
}

/** Refuses a destination that is not http(s) or that resolves to an internal address (unless allowed). */
export async function checkDestination(raw: string, allowPrivate: boolean): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AppError('invalid_payload', 'url: not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new AppError('invalid_payload', 'url: only https (or http) endpoints');
  if (url.username || url.password) throw new AppError('invalid_payload', 'url: no credentials in the URL (the signature authenticates Accord)');
  if (allowPrivate) return url;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  } catch (err) {
    throw new AppError('invalid_payload', `url: ${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? 'lookup failed'})`);
  }
  const internal = addresses.find(isInternalAddress);
  if (internal !== undefined) {
    throw new AppError('invalid_payload', `url: ${host} resolves to ${internal}, a loopback, private or internal address; webhooks go to public endpoints (an admin may allow private ones with --allow-private-webhooks)`);
  }
  return url;
}

export function newSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** The Standard Webhooks signature of a message: `v1,<base64 HMAC-SHA256(secret bytes, id.timestamp.body)>`. */
export function sign(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

const nullable = (v: unknown, c: string): string | null => (v === null || v === undefined ? null : text(v, c));

export class WebhookRepository {
  readonly #db: Database;
  readonly #secrets: TargetSecrets;

  constructor(db: Database, secrets: TargetSecrets) {
    this.#db = db;
    this.#secrets = secrets;
  }

  async create(w: Pick<Webhook, 'url' | 'events' | 'format' | 'createdBy'>): Promise<{ webhook: Webhook; secret: string }> {
    const id = `wh-${randomBytes(8).toString('hex')}`;
    const secret = newSecret();
    const at = new Date().toISOString();
    await this.#db.run(`INSERT INTO webhooks (id, url, events, format, secret, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [id, w.url, JSON.stringify(w.events), w.format, this.#seal(id, { current: secret }), w.createdBy, at]);
    return { webhook: (await this.get(id))!, secret };
  }

  async rotate(id: string, now = Date.now()): Promise<string> {
    const s = await this.secrets(id);
    const secret = newSecret();
    await this.#db.run('UPDATE webhooks SET secret = ? WHERE id = ?', [this.#seal(id, { current: secret, previous: s.current, previousUntil: now + ROTATION_OVERLAP_MS }), id]);
    return secret;
  }

  async secrets(id: string): Promise<Secrets> {
    const r = await this.#db.get<{ secret: unknown }>('SELECT secret FROM webhooks WHERE id = ?', [id]);
    if (!r) throw new AppError('not_found', `no webhook ${id}`);
    return this.#secrets.open(`webhook:${id}`, text(r.secret, 'webhooks.secret')) as unknown as Secrets;
  }

  #seal(id: string, s: Secrets): string {
    return this.#secrets.seal(`webhook:${id}`, s as unknown as Record<string, string>);
  }

  async get(id: string): Promise<Webhook | undefined> {
    const r = await this.#db.get<Record<string, unknown>>('SELECT * FROM webhooks WHERE id = ?', [id]);
    return r ? decode(r) : undefined;
  }

  async list(): Promise<Webhook[]> {
    return (await this.#db.all<Record<string, unknown>>('SELECT * FROM webhooks ORDER BY created_at, id')).map(decode);
  }

  async remove(id: string): Promise<number> {
    return this.#db.run('DELETE FROM webhooks WHERE id = ?', [id]);
  }

  /** Enabled endpoints subscribed to an event. */
  async subscribed(event: string): Promise<Webhook[]> {
    return (await this.list()).filter((w) => w.disabledAt === null && (w.events as string[]).includes(event));
  }

  async delivered(id: string): Promise<void> {
    await this.#db.run('UPDATE webhooks SET failures = 0 WHERE id = ?', [id]);
  }

  /** Counts a failure; returns the new count. */
  async failed(id: string): Promise<number> {
    await this.#db.run('UPDATE webhooks SET failures = failures + 1 WHERE id = ?', [id]);
    return (await this.get(id))?.failures ?? 0;
  }

  async disable(id: string, reason: string): Promise<void> {
    await this.#db.run('UPDATE webhooks SET disabled_at = ?, disabled_reason = ? WHERE id = ? AND disabled_at IS NULL', [new Date().toISOString(), reason.slice(0, 500), id]);
  }
}

function decode(r: Record<string, unknown>): Webhook {
  return {
    id: text(r.id, 'webhooks.id'), url: text(r.url, 'webhooks.url'), events: json<WebhookEvent[]>(r.events, 'webhooks.events', 'array'),
    format: text(r.format, 'webhooks.format') as WebhookFormat, createdBy: text(r.created_by, 'webhooks.created_by'),
    createdAt: text(r.created_at, 'webhooks.created_at'), failures: int(r.failures, 'webhooks.failures'),
    disabledAt: nullable(r.disabled_at, 'webhooks.disabled_at'), disabledReason: nullable(r.disabled_reason, 'webhooks.disabled_reason'),
  };
}

/** Outbox messages for the endpoints subscribed to `event`: one per endpoint and event subject. */
export async function webhookMessages(repo: WebhookRepository, event: string, subjectKey: string, payload: Record<string, unknown>): Promise<NewMessage[]> {
  return (await repo.subscribed(event)).map((w) => ({
    dedupeKey: `${event}:${subjectKey}:webhook:${w.id}`, event, channel: 'webhook', recipient: w.id, address: w.url, payload,
  }));
}

/** What the endpoint receives, in its format. Only what the message is about: title, state, link. */
export function webhookBody(format: WebhookFormat, event: string, payload: Record<string, unknown>, at: Date): unknown {
  const title = String(payload.title ?? '');
  const link = String(payload.link ?? '');
  const summary = summaryOf(event, payload);
  if (format === 'slack') {
    return { text: `${summary}: ${title} ${link}`, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*${escapeSlack(summary)}*\n<${link}|${escapeSlack(title)}>` } }] };
  }
  if (format === 'teams') {
    return {
      type: 'message',
      attachments: [{
        contentType: 'application/vnd.microsoft.card.adaptive',
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4',
          body: [{ type: 'TextBlock', text: summary, weight: 'Bolder', wrap: true }, { type: 'TextBlock', text: title, wrap: true }],
          actions: [{ type: 'Action.OpenUrl', title: 'Open in Accord', url: link }],
        },
      }],
    };
  }
  return { type: event, timestamp: at.toISOString(), data: payload };
}

const escapeSlack = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function summaryOf(event: string, p: Record<string, unknown>): string {
  switch (event) {
    case 'change.needs_vote': return `Votes needed (revision ${String(p.revision)})`;
    case 'change.needs_signoff': return `Sign-off needed (revision ${String(p.revision)})`;
    case 'vote.stale': return 'A vote went stale';
    case 'change.decided': return `Decided: ${String(p.status)}`;
    case 'change.applied': return 'Applied';
    case 'change.apply_failed': return 'Apply failed';
    case 'campaign.needs_review': return 'Access review started';
    case 'campaign.reminder': return 'Access review ends soon';
    case 'drift.found': return 'Drift found';
    default: return event;
  }
}

/**
 * Delivers the outbox's webhook messages: polls every `pollMs` and when nudged; a 2xx is delivered, a 410
 * disables the endpoint (the receiver says it is gone), anything else is retried with back-off, and
 * `MAX_FAILURES` failures in a row disable it. The message id is stable (its dedupe key), so a receiver
 * deduplicates a message sent again after a crash.
 */
export class WebhookDelivery {
  readonly #outbox: NotificationRepository;
  readonly #repo: WebhookRepository;
  readonly #log: Logger;
  readonly #allowPrivate: boolean;
  readonly #drain: Drain;

  constructor(outbox: NotificationRepository, repo: WebhookRepository, log: Logger, allowPrivate: boolean, pollMs = 1_000) {
    this.#outbox = outbox;
    this.#repo = repo;
    this.#log = log;
    this.#allowPrivate = allowPrivate;
    this.#drain = new Drain(() => this.#run(), (err) => this.#log.error({ err }, 'webhook delivery failed; retrying at the next poll'), pollMs);
  }

  nudge(): void {
    this.#drain.nudge();
  }

  async #run(): Promise<void> {
    for (const row of await this.#outbox.due(Date.now(), 20, 'webhook')) {
      if (this.#drain.stopped) return;
      await this.#deliver(row);
    }
  }

  async #deliver(row: OutboxRow): Promise<void> {
    const w = await this.#repo.get(row.recipient);
    if (!w || w.disabledAt !== null) {
      await this.#outbox.markAbandoned(row.id, w ? `endpoint disabled: ${w.disabledReason ?? ''}` : 'endpoint removed');
      return;
    }
    const messageId = `msg_${Buffer.from(row.dedupeKey).toString('base64url').slice(0, 60)}`;
    const at = new Date();
    const timestamp = Math.floor(at.getTime() / 1_000);
    const body = JSON.stringify(webhookBody(w.format, row.event, row.payload, at));
    let status: number;
    try {
      const url = await checkDestination(w.url, this.#allowPrivate);
      const s = await this.#repo.secrets(w.id);
      const signatures = [sign(s.current, messageId, timestamp, body)];
      if (s.previous && (s.previousUntil ?? 0) > Date.now()) signatures.push(sign(s.previous, messageId, timestamp, body));
      const res = await fetch(url, {
        method: 'POST', redirect: 'manual', signal: AbortSignal.timeout(10_000), body,
        headers: { 'content-type': 'application/json', 'user-agent': 'Accord-Webhooks/1', 'webhook-id': messageId, 'webhook-timestamp': String(timestamp), 'webhook-signature': signatures.join(' ') },
      });
      status = res.status;
      await res.body?.cancel();
    } catch (err) {
      await this.#failure(row, w, err instanceof AppError ? err.message : `unreachable: ${(err as Error).message}`);
      return;
    }
    if (status >= 200 && status < 300) {
      await this.#outbox.markSent(row.id);
      await this.#repo.delivered(w.id);
      return;
    }
    if (status === 410) {
      await this.#repo.disable(w.id, 'the endpoint answered 410 Gone');
      await this.#outbox.markAbandoned(row.id, 'the endpoint answered 410 Gone: disabled');
      this.#log.warn({ webhook: w.id }, 'webhook endpoint answered 410 Gone: disabled');
      return;
    }
    await this.#failure(row, w, `the endpoint answered ${status}`);
  }

  async #failure(row: OutboxRow, w: Webhook, why: string): Promise<void> {
    const failures = await this.#repo.failed(w.id);
    if (failures >= MAX_FAILURES) {
      await this.#repo.disable(w.id, `${failures} failed deliveries in a row; last: ${why}`);
      await this.#outbox.markAbandoned(row.id, why);
      this.#log.warn({ webhook: w.id, failures }, 'webhook endpoint disabled after repeated failures');
      return;
    }
    this.#log.warn({ webhook: w.id, attempts: row.attempts + 1, why }, 'webhook delivery failed; retrying later');
    await this.#outbox.markFailed(row.id, Date.now() + retryDelayMs(row.attempts), why);
  }

  stop(): Promise<void> {
    return this.#drain.stop();
  }
}
