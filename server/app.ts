import express from 'express';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server } from 'socket.io';
import type { Config } from './config.ts';
import { createLogger, type Logger } from './log.ts';
import { openStorage, type Storage } from './store/open.ts';
import type { Database } from './store/sql.ts';
import { UserStore } from './auth/user-store.ts';
import { apiRouter, errorHandler } from './http/routes.ts';
import { staticWeb } from './http/static-web.ts';
import { SyncTransport, type AccordServer } from './sync/sync-transport.ts';
import { AccordDocResolver } from './sync/doc-resolver.ts';
import { AccordUpdateGuard } from './sync/update-guard.ts';
import { ChangeBridge, CHANGES_ROOM } from './sync/change-bridge.ts';
import { SessionBridge } from './sync/session-bridge.ts';
import { sessionRouter } from './http/session-routes.ts';
import { targetRouter } from './http/target-routes.ts';
import { campaignRouter } from './http/campaign-routes.ts';
import { CampaignBridge } from './sync/campaign-bridge.ts';
import { CampaignClock } from './commands/campaign-clock.ts';
import { Leases } from './store/leases.ts';
import { WebhookDelivery, WebhookRepository } from './notify/webhooks.ts';
import { webhookRouter } from './http/webhook-routes.ts';
import { notificationRouter } from './http/notification-routes.ts';
import { Inbox } from './notify/inbox.ts';
import type { InboxItem } from './protocol/events.ts';
import { TargetSecrets } from './connectors/secrets.ts';
import { SYSTEM } from './commands/accord.ts';
import { attachCommands } from './sync/command-handlers.ts';
import { Accord } from './commands/accord.ts';
import { loadOrCreateServerKey } from './audit/server-key.ts';
import { changeRouter } from './http/change-routes.ts';
import { accountRouter } from './http/account-routes.ts';
import { adminRouter } from './http/admin-routes.ts';
import { blastRouter } from './http/blast-routes.ts';
import { createClient } from 'redis';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { RedisClusterBus } from './sync/cluster-bus.ts';
import { NotificationPreferences } from './notify/preferences.ts';
import { requireAuth } from './http/routes.ts';
import { originGuard, securityHeaders } from './http/security.ts';
import { RateLimiter } from './http/rate-limit.ts';
import { SocketGate } from './sync/socket-auth.ts';
import { oidcRouter } from './auth/oidc/index.ts';
import { frameParser } from './protocol/frame-parser.ts';
import { installDirectWrites, type DirectWriteStats } from './sync/direct-writes.ts';
import { AppError } from './protocol/errors.ts';
import { NotificationRepository } from './store/repositories/notification-repository.ts';
import { EmailDelivery } from './notify/email.ts';
import { Notifier } from './notify/notifier.ts';
import type { Principal } from './auth/roles.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '../..');

export interface App {
  readonly config: Config;
  readonly log: Logger;
  /** The transaction port every repository uses (SQLite or PostgreSQL: `storage.kind`). */
  readonly db: Database;
  readonly storage: Storage;
  readonly users: UserStore;
  readonly sync: SyncTransport;
  readonly accord: Accord;
  readonly io: AccordServer;
  /** Resolves once every projection started so far is written and every pending update is durable. */
  settle(): Promise<void>;
  /** Disconnects sockets whose credential was revoked or expired (also runs every 15 s). */
  revalidateSockets(): void;
  /** SQLite only: where document commits run, on the writer thread or on the event loop (config `sqliteWriter`). */
  readonly sqliteWriter: 'thread' | 'inline';
  /** Messages written straight to a WebSocket, and those that took Engine.IO's path (sync/direct-writes.ts). */
  readonly directWrites: DirectWriteStats;
  listen(): Promise<{ port: number }>;
  close(): Promise<void>;
}

/**
 * The composition root: storage, auth, HTTP, Socket.io and sync wired together. Opens (and migrates) the
 * configured database first: PostgreSQL that cannot be reached rejects with its URL and the cause.
 */
export async function createApp(config: Config, log: Logger = createLogger(config.logLevel)): Promise<App> {
  const sqliteWriter = config.sqliteWriter === 'thread' || (config.sqliteWriter === 'auto' && availableParallelism() > 1) ? 'thread' : 'inline';
  const storage = await openStorage({
    dataDir: config.dataDir, databaseUrl: config.databaseUrl, databaseSchema: config.databaseSchema,
    offThread: sqliteWriter === 'thread',
    onError: (err) => log.error({ err }, 'storage: an idle connection failed, or work after a commit threw'),
  });
  const { db, documents } = storage;
  if (config.redisUrl && storage.kind !== 'postgres') {
    await storage.close();
    throw new Error('--redis-url joins a cluster of nodes, which share PostgreSQL: give --database-url too (docs/operations.md)');
  }
  // Several nodes: committed updates, presence and credential checks cross nodes through Redis.
  const bus = config.redisUrl ? new RedisClusterBus(config.redisUrl, config.redisPrefix, log) : undefined;
  await bus?.start();
  const users = new UserStore(db);
  const key = loadOrCreateServerKey(config.dataDir);
  let ready = false;
  let sync: SyncTransport | undefined;
  const publicUrl = new URL(config.publicUrl || `http://localhost:${config.port}`);
  const publicOrigin = config.publicUrl ? publicUrl.origin : undefined;
  let gate: SocketGate | undefined;
  // With several nodes the limits are counted for the cluster (Redis), not per node.
  const shared = (name: string) => (bus ? { counters: bus, name } : undefined);
  const commandLimit = new RateLimiter(config.commandsPerMinute, 60_000, Date.now, shared('commands'));
  // Any use of a credential (reads too): bounds a leaked or runaway token.
  const requestLimit = new RateLimiter(config.requestsPerMinute, 60_000, Date.now, shared('requests'));
  const documentLimit = new RateLimiter(config.documentsPerUserPerHour, 60 * 60_000, Date.now, shared('documents'));
  const secureCookies = publicUrl.protocol === 'https:';
  // Background work runs on one node at a time when several share the database (server/store/leases.ts).
  const leases = new Leases(db, (err, name) => log.error({ err, lease: name }, 'renewing a background job\'s lease failed: another node may take the job over'));
  // The in-app notification centre: pushed live to the person's open connections (their `user:` room).
  let pushNotification: (recipient: string, item: InboxItem, unread: number) => void = () => {};
  const inbox = new Inbox(db, (recipient, item, unread) => pushNotification(recipient, item, unread));
  const notificationPrefs = new NotificationPreferences(db);
  // Outgoing webhooks: endpoints and their sealed secrets (server/notify/webhooks.ts).
  const webhooks = new WebhookRepository(db, TargetSecrets.open(config.dataDir));
  const accord: Accord = new Accord({
    db, users, key,
    rpID: publicUrl.hostname,
    origins: [publicUrl.origin],
    exportLimit: new RateLimiter(config.evidenceExportsPerMinute, 60_000),
    dataDir: config.dataDir,
    auditWitness: config.auditWitness,
    log,
    leases,
    connectors: {
      applyRetryMs: config.applyRetryMs ? config.applyRetryMs.split(',').map(Number) : [],
      expirySweepMs: config.expirySweepMs,
    },
    onAnchorError: (err) => log.error({ err }, 'writing the audit anchor failed'),
    onFactLost: (err, fact) => log.error({ err, fact }, 'work after a committed command failed after retries: a live document or a session record may lag until its next change'),
    // Present: in the change's live review, or in a joint session while the change is its current item.
    present: async (changeId): Promise<string[] | undefined> => {
      const rooms: string[] = [`review:${changeId}`, ...(await accord.sessions.discussing(changeId)).map((id) => `session:${id}`)];
      const live = rooms.map((docId) => sync?.registry.get(docId)).filter((doc) => doc !== undefined);
      return live.length ? [...new Set(live.flatMap((doc) => [...doc.sessions.values()].map((s) => s.principal.username)))] : undefined;
    },
  });

  // An upgraded log gets its head signed and anchored once at start (docs/audit.md).
  await accord.audit.checkpoint();

  const web = express();
  web.disable('x-powered-by');
  web.set('trust proxy', false);
  web.use(securityHeaders());
  web.use('/api', originGuard(publicOrigin));
  // Inventories carry whole native configurations; every other body is small.
  web.use('/api/inventories', express.json({ limit: '25mb' }));
  web.use('/api', express.json({ limit: '256kb' }));
  web.use('/api/auth/oidc', oidcRouter({ users, db, log, sessionTtlMs: config.sessionTtlMs, audit: accord.audit, secureCookies }));
  web.use('/api', (req, res, next) => {
    if ((req.path === '/health' && req.method === 'GET') || req.path === '/session') return next();
    requireAuth(users)(req, res, next);
  });
  web.use('/api', async (req, res, next) => {
    const p = res.locals.principal as Principal | undefined;
    if (p && !(await requestLimit.takeShared(p.credential?.hash ?? `user:${p.userId}`))) return next(new AppError('rate_limited', 'too many requests with this credential; slow down'));
    if (p && req.method !== 'GET' && !(await commandLimit.takeShared(`user:${p.userId}`))) return next(new AppError('rate_limited', 'too many commands; slow down'));
    next();
  });
  web.use('/api', changeRouter(accord));
  web.use('/api', sessionRouter(accord));
  web.use('/api', targetRouter(accord));
  web.use('/api', blastRouter(accord));
  web.use('/api', campaignRouter(accord));
  web.use('/api', webhookRouter(webhooks, accord.audit, config.allowPrivateWebhooks));
  web.use('/api', notificationRouter(inbox, notificationPrefs));
  web.use('/api', accountRouter({ users, audit: accord.audit, revalidate: () => revalidateEverywhere() }));
  web.use('/api', adminRouter({ accord, users, db, key, audit: accord.audit, revalidate: () => revalidateEverywhere() }));
  web.use('/api', apiRouter({
    users, log, sessionTtlMs: config.sessionTtlMs, isReady: () => ready, ...(bus ? { sharedCounters: bus } : {}),
    health: async () => ({
      database: await db.get('SELECT 1 AS one').then(() => 'ok' as const, () => 'unavailable' as const),
      redis: !bus ? 'off' as const : bus.state === 'ok' ? 'ok' as const : 'unavailable' as const,
      node: leases.holder,
    }), signedOut: (match) => { gate?.disconnect(match); bus?.publishControl('revalidate'); }, secureCookies,
  }));
  web.use(staticWeb(resolve(ROOT, config.webDir)));
  web.use(errorHandler(log));

  // Node checks these timeouts every connectionsCheckingInterval (default 30 s): check every second.
  const http: HttpServer = createServer({ headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1_000 }, web);
  http.keepAliveTimeout = 5_000;
  const io: AccordServer = new Server(http, {
    serveClient: false,
    parser: frameParser, // one WebSocket frame per binary event (server/protocol/frame-parser.ts)
    maxHttpBufferSize: config.maxMessageBytes + 4_096, // room for the event name and doc id around a full-size message
    cors: undefined, // same origin only
    connectTimeout: 10_000, // a connection that does not complete its handshake is dropped
  });
  // Broadcasts (facts, notifications) reach sockets on every node through Redis streams.
  const adapterClient = bus ? createClient({ url: config.redisUrl, socket: { reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2_000) } }) : undefined;
  // The adapter duplicates the client for its stream readers and never destroys them (a reader
  // reconnecting after close would keep the process alive): keep them, to destroy them at close.
  const adapterClients: { destroy(): void; isOpen: boolean }[] = [];
  if (adapterClient) {
    const duplicate = adapterClient.duplicate.bind(adapterClient);
    adapterClient.duplicate = ((...args: Parameters<typeof duplicate>) => {
      const copy = duplicate(...args);
      copy.on('error', (err: unknown) => log.debug({ err }, 'redis (Socket.io adapter reader): connection error'));
      // The adapter disconnects its readers after close without awaiting: once destroyed here, that is a no-op.
      const disconnect = copy.disconnect.bind(copy);
      copy.disconnect = () => (copy.isOpen ? disconnect() : Promise.resolve());
      adapterClients.push(copy);
      return copy;
    }) as typeof adapterClient.duplicate;
    adapterClient.on('error', (err: unknown) => log.debug({ err }, 'redis (Socket.io adapter): connection error'));
    await adapterClient.connect().catch((err: unknown) => log.warn({ err }, 'redis (Socket.io adapter): not reachable at start; retrying'));
    io.adapter(createAdapter(adapterClient, { streamName: `${config.redisPrefix}:socket.io`, channelPrefix: `${config.redisPrefix}:socket.io`, sessionKeyPrefix: `${config.redisPrefix}:sio:session:` }));
  }
  const directWrites = installDirectWrites(io.engine);
  users.sessionIdleMs = config.sessionIdleMs;
  gate = new SocketGate(io, users, log, {
    publicOrigin, maxSocketsPerUser: config.maxSocketsPerUser, revalidateMs: 15_000,
    ...(bus ? { cluster: { elsewhere: (userId: number) => bus.socketsElsewhere(userId), note: (userId: number, here: number) => bus.noteSockets(userId, here) } } : {}),
  });
  // A credential revoked or a role changed on one node: every node checks its sockets at once.
  bus?.onControl((kind) => { if (kind === 'revalidate') void gate?.revalidate(); });
  const revalidateEverywhere = async (): Promise<void> => {
    bus?.publishControl('revalidate');
    await gate?.revalidate();
  };
  sync = new SyncTransport(io, documents, log, {
    resolver: new AccordDocResolver((id) => accord.changes.facts(id), (id) => accord.sessions.facts(id), {
      exists: (docId) => documents.exists(docId),
      take: (p) => documentLimit.takeShared(`user:${p.userId}`),
      describe: `${config.documentsPerUserPerHour} new documents an hour`,
    }, async (id) => (await accord.campaigns.repo.get(id)) !== undefined),
    guard: new AccordUpdateGuard({
      maxDocumentBytes: config.maxDocumentBytes,
      recordDraftWriter: (changeId, username) => accord.changes.recordDraftWriter(changeId, username),
    }),
    maxMessageBytes: config.maxMessageBytes,
    directWrites,
    maxDocsPerSocket: 64,
    commitWindowMs: config.commitWindowMs,
    ...(bus ? { cluster: bus, exclusive: (name: string, fn: () => Promise<void>) => leases.run(name, 30_000, fn) } : {}),
    compactAfterUpdates: config.compactAfterUpdates,
    compactDelayMs: config.compactDelayMs,
    unloadDelayMs: config.unloadDelayMs,
  });
  const bridge = new ChangeBridge(sync, io, log, (id) => accord.view(id), async (id) => (await accord.store.get(id))?.change.status);
  const sessionBridge = new SessionBridge(sync, accord.sessions, log);
  const campaignBridge = new CampaignBridge(sync, accord.campaigns, log);
  accord.sessions.attach(sessionBridge);
  // Notifications: queued in each command's unit of work, delivered after commit (server/notify/).
  const outbox = new NotificationRepository(db);
  const email = config.smtpUrl ? new EmailDelivery(outbox, config.smtpUrl, config.mailFrom, log) : undefined;
  pushNotification = (recipient, item, unread) => io.to(`user:${recipient}`).emit('notification:new', { notification: item, unread });
  // Nudged after every commit; the slow poll only picks up retries whose back-off has passed.
  const webhookDelivery = new WebhookDelivery(outbox, webhooks, log, config.allowPrivateWebhooks, 5_000);
  accord.dispatcher.subscribe(async () => webhookDelivery.nudge());
  const notifier = new Notifier({
    store: accord.store, users, outbox, publicUrl: publicUrl.origin, channels: email ? ['email'] : [], webhooks, inbox, prefs: notificationPrefs,
    campaignWaiting: async (id) => {
      const c = await accord.campaigns.repo.get(id);
      return c ? { campaign: c, waiting: await accord.campaigns.waiting(c) } : undefined;
    },
  });
  const campaignClock = new CampaignClock({ accord, notifier, log, everyMs: config.campaignClockMs, leases });
  accord.dispatcher.beforeCommit((facts) => notifier.record(facts));
  if (email) accord.dispatcher.subscribe(async () => email.nudge());
  accord.attachDrafts({ readDraft: (id) => bridge.readDraft(id), writeDraft: (id, content) => bridge.writeDraft(id, content) });
  // After every commit, in order: tell live clients and re-project (review or session document), then
  // record the change's decision in the open sessions that have it on their agenda.
  accord.dispatcher.subscribe(async (fact) => {
    if (fact.scope === 'change') await bridge.changed(fact.changeId, fact.name, fact.detail, { statusChanged: fact.statusChanged ?? false });
    else if (fact.scope === 'session') sessionBridge.sessionChanged(fact.sessionId, fact.seed);
    else if (fact.scope === 'campaign') campaignBridge.changed(fact.campaignId, fact.items);
    else io.to(CHANGES_ROOM).emit('drift:changed', { target: fact.target });
  });
  accord.dispatcher.subscribe(async (fact) => {
    if (fact.scope === 'change') await sessionBridge.changeFact(fact.changeId, fact.name, fact.detail);
  });
  attachCommands(io, accord, log, (p) => commandLimit.takeShared(`user:${p.userId}`));

  let driftTimer: NodeJS.Timeout | undefined;
  const startBackground = async (): Promise<void> => {
    await accord.expiry.start();
    campaignClock.start();
    const resumed = await accord.applies.resume();
    if (resumed.length > 0) log.warn({ changes: resumed }, 'resuming applies a restart interrupted');
    accord.applies.startResuming(5_000, (err) => log.error({ err }, 'looking for unfinished applies failed'));
    if (config.driftIntervalMs > 0) {
      driftTimer = setInterval(() => void leases.run('drift-reads', 10 * 60_000, async () => {
        for (const t of await accord.targets.list()) {
          await accord.dispatch('target:read', SYSTEM, { name: t.name })
            .catch((err: unknown) => log.warn({ err, target: t.name }, 'scheduled drift read failed'));
        }
      }).catch((err: unknown) => log.error({ err }, 'scheduled drift reads failed')), config.driftIntervalMs);
      driftTimer.unref();
    }
  };
  let closing: Promise<void> | undefined;
  return {
    config, log, db, storage, users, sync, io, accord, sqliteWriter, directWrites,
    revalidateSockets: () => gate?.revalidate(),
    settle: async () => {
      await bridge.settled();
      await sessionBridge.settled();
      await campaignBridge.settled();
      await sync!.registry.batcher.flush();
      await sync!.registry.batcher.whenDurable();
    },
    listen: () =>
      new Promise((resolvePromise, reject) => {
        http.once('error', reject);
        http.listen(config.port, config.host, () => {
          ready = true;
          // Background work of the connectors: expiry timers and sweeper, applies a restart interrupted, drift reads.
          void startBackground().catch((err: unknown) => log.error({ err }, 'starting the connectors\' background work failed'));
          resolvePromise({ port: (http.address() as AddressInfo).port });
        });
      }),
    close: () =>
      (closing ??= (async () => {
        ready = false;
        gate?.stop();
        clearInterval(driftTimer);
        await accord.expiry.stop();
        await campaignClock.stop();
        await accord.applies.close();
        // Stop accepting, disconnect clients, then store everything and close the database.
        await new Promise<void>((res) => io.close(() => res()));
        await sync.registry.closeAll();
        await email?.stop();
        await webhookDelivery.stop();
        await accord.audit.close();
        await bus?.close();
        for (const c of [adapterClient, ...adapterClients]) if (c?.isOpen) c.destroy();
        await storage.close();
      })()),
  };
}
