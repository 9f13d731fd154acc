import express from 'express';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server } from 'socket.io';
import type { DatabaseSync } from 'node:sqlite';
import type { Config } from './config.ts';
import { createLogger, type Logger } from './log.ts';
import { openDatabase } from './store/sqlite/database.ts';
import { SqliteDocumentStore } from './store/sqlite/sqlite-document-store.ts';
import { UserStore } from './auth/user-store.ts';
import { authenticate } from './auth/authenticate.ts';
import { apiRouter, errorHandler } from './http/routes.ts';
import { staticWeb } from './http/static-web.ts';
import { SyncTransport, type AccordServer } from './sync/sync-transport.ts';
import { AccordDocResolver } from './sync/doc-resolver.ts';
import { ChangeBridge } from './sync/change-bridge.ts';
import { attachCommands } from './sync/command-handlers.ts';
import { Accord } from './commands/accord.ts';
import { loadOrCreateServerKey } from './audit/server-key.ts';
import { changeRouter } from './http/change-routes.ts';
import { requireAuth } from './http/routes.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '../..');

export interface App {
  readonly config: Config;
  readonly log: Logger;
  readonly db: DatabaseSync;
  readonly users: UserStore;
  readonly sync: SyncTransport;
  readonly accord: Accord;
  readonly io: AccordServer;
  listen(): Promise<{ port: number }>;
  close(): Promise<void>;
}

/** The composition root: storage, auth, HTTP, Socket.io and sync wired together. */
export function createApp(config: Config, log: Logger = createLogger(config.logLevel)): App {
  const db = openDatabase(config.dataDir);
  const users = new UserStore(db);
  const documents = new SqliteDocumentStore(db);
  const key = loadOrCreateServerKey(config.dataDir);
  let ready = false;
  let sync: SyncTransport | undefined;
  const publicUrl = new URL(config.publicUrl || `http://localhost:${config.port}`);
  const accord = new Accord({
    db, users, key,
    rpID: publicUrl.hostname,
    origins: [publicUrl.origin],
    present: (changeId) => {
      const live = sync?.registry.get(`review:${changeId}`);
      return live ? [...new Set([...live.sessions.values()].map((s) => s.principal.username))] : undefined;
    },
  });

  const web = express();
  web.disable('x-powered-by');
  // Inventories carry whole native configurations; every other body is small.
  web.use('/api/inventories', express.json({ limit: '25mb' }));
  web.use('/api', express.json({ limit: '256kb' }));
  web.use('/api', (req, res, next) => {
    if ((req.path === '/health' && req.method === 'GET') || req.path === '/session') return next();
    requireAuth(users)(req, res, next);
  });
  web.use('/api', changeRouter(accord));
  web.use('/api', apiRouter({ users, log, sessionTtlMs: config.sessionTtlMs, isReady: () => ready }));
  web.use(staticWeb(resolve(ROOT, config.webDir)));
  web.use(errorHandler(log));

  const http: HttpServer = createServer(web);
  const io: AccordServer = new Server(http, {
    serveClient: false,
    maxHttpBufferSize: config.maxMessageBytes + 4_096, // room for the event name and doc id around a full-size message
    cors: undefined, // same origin only
  });
  io.use((socket, next) => {
    const principal = authenticate(users, socket.handshake.headers, socket.handshake.auth?.token);
    if (!principal) return next(new Error('unauthorized'));
    socket.data.principal = principal;
    next();
  });
  sync = new SyncTransport(io, documents, log, {
    resolver: new AccordDocResolver((id) => accord.changes.facts(id)),
    maxMessageBytes: config.maxMessageBytes,
    maxDocsPerSocket: 64,
    compactAfterUpdates: config.compactAfterUpdates,
    compactDelayMs: config.compactDelayMs,
    unloadDelayMs: config.unloadDelayMs,
  });
  accord.attach(new ChangeBridge(sync, io, log, (id) => accord.view(id)));
  attachCommands(io, accord, log);

  let closing: Promise<void> | undefined;
  return {
    config, log, db, users, sync, io, accord,
    listen: () =>
      new Promise((resolvePromise, reject) => {
        http.once('error', reject);
        http.listen(config.port, config.host, () => {
          ready = true;
          resolvePromise({ port: (http.address() as AddressInfo).port });
        });
      }),
    close: () =>
      (closing ??= (async () => {
        ready = false;
        // Stop accepting, disconnect clients, then store everything and close the database.
        await new Promise<void>((res) => io.close(() => res()));
        await sync.registry.closeAll();
        db.close();
      })()),
  };
}
