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

const ROOT = resolve(fileURLToPath(import.meta.url), '../..');

export interface App {
  readonly config: Config;
  readonly log: Logger;
  readonly db: DatabaseSync;
  readonly users: UserStore;
  readonly sync: SyncTransport;
  readonly io: AccordServer;
  listen(): Promise<{ port: number }>;
  close(): Promise<void>;
}

/** The composition root: storage, auth, HTTP, Socket.io and sync wired together. */
export function createApp(config: Config, log: Logger = createLogger(config.logLevel)): App {
  const db = openDatabase(config.dataDir);
  const users = new UserStore(db);
  const documents = new SqliteDocumentStore(db);
  let ready = false;

  const web = express();
  web.disable('x-powered-by');
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
  const sync = new SyncTransport(io, documents, log, {
    maxMessageBytes: config.maxMessageBytes,
    maxDocsPerSocket: 64,
    compactAfterUpdates: config.compactAfterUpdates,
    compactDelayMs: config.compactDelayMs,
    unloadDelayMs: config.unloadDelayMs,
  });

  let closing: Promise<void> | undefined;
  return {
    config, log, db, users, sync, io,
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
