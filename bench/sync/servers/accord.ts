/**
 * Accord as a benchmark child: the real createApp with SQLite in the given data dir (WAL,
 * synchronous=FULL, durable acks after group commit), fixtures imported into the store first.
 * Auth is Accord's own: a reviewer user is created and its API token handed to the clients.
 */
import { readdirSync } from 'node:fs';
import * as Y from 'yjs';
import { createApp } from '../../../server/app.ts';
import { loadConfig } from '../../../server/config.ts';
import { createLogger } from '../../../server/log.ts';
import { openDatabase } from '../../../server/store/sqlite/database.ts';
import { SqliteDocumentStore } from '../../../server/store/sqlite/sqlite-document-store.ts';
import { readFixture } from '../common.ts';
import { keysOf, parseArgs, reportPersisted, serveIpc } from './child.ts';

const args = parseArgs(process.argv.slice(2));
const docId = (room: string): string => `notes:${room}`;

// Import fixtures (first start only) and, after a crash, report what survived.
{
  const db = openDatabase(args.dataDir);
  const store = new SqliteDocumentStore(db);
  const persisted: Record<string, string[]> = {};
  for (const room of args.reportPersisted) {
    const stored = await store.load(docId(room));
    const parts = stored ? [...(stored.snapshot ? [stored.snapshot] : []), ...stored.updates] : [];
    persisted[room] = parts.length > 0 ? keysOf(Y.mergeUpdates(parts)) : [];
  }
  if (args.reportPersisted.length > 0) reportPersisted(persisted);
  // A restart (scenario F) finds them imported: it reads nothing more than the other servers' children do.
  const imported = (db.prepare('SELECT count(*) AS n FROM documents').get() as { n: number }).n > 0;
  if (!imported) {
    const files = readdirSync(args.fixtures).filter((f) => f.endsWith('.bin'));
    // One transaction for all fixtures (the store's own create/compact commit one by one).
    const insert = db.prepare('INSERT INTO documents (id, snapshot, snapshot_seq) VALUES (?, ?, 0)');
    db.exec('BEGIN');
    for (const file of files) insert.run(docId(file.slice(0, -4)), readFixture(args.fixtures, file.slice(0, -4))!);
    db.exec('COMMIT');
  }
  db.close();
}

// The load generator plays hundreds of people with one token: lift the per-user socket cap and the
// per-user command rate, which exist to bound one real person (docs/decisions.md).
const config = loadConfig([], {}, {
  port: args.port, host: '127.0.0.1', dataDir: args.dataDir, logLevel: 'silent', maxSocketsPerUser: 100_000, commandsPerMinute: 10_000_000,
});
const app = await createApp(config, createLogger('silent'));
const user = await app.users.addUser(`bench${Date.now()}`, 'reviewer');
const { port } = await app.listen();
serveIpc(
  {
    liveDoc: (room) => app.sync.registry.get(docId(room))?.doc,
    loadedDocs: () => app.sync.registry.openCount,
  },
  { port, token: user.token },
);
