/**
 * Hocuspocus 4 (@hocuspocus/server 4.7.0, built-in Server on crossws/ws). No extensions (so no
 * Throttle), token check in onAuthenticate, compression off. Persistence: onLoadDocument reads the
 * room's snapshot/fixture, onStoreDocument writes a snapshot (default debounce 2 s / max 10 s,
 * immediately when the last client leaves).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as Y from 'yjs';
import { Server } from '@hocuspocus/server';
import { readFixture } from '../common.ts';
import { keysOf, parseArgs, reportPersisted, serveIpc } from './child.ts';

const args = parseArgs(process.argv.slice(2));
const load = (room: string): Uint8Array | null => readFixture(args.dataDir, room) ?? readFixture(args.fixtures, room);

if (args.reportPersisted.length > 0) {
  reportPersisted(Object.fromEntries(args.reportPersisted.map((r) => [r, keysOf(readFixture(args.dataDir, r))])));
}

const server = new Server({
  port: args.port,
  address: '127.0.0.1',
  quiet: true,
  stopOnSignals: false,
  websocketOptions: { perMessageDeflate: false },
  async onAuthenticate({ token }) {
    if (token !== args.token) throw new Error('unauthorized');
  },
  async onLoadDocument({ documentName, document }) {
    const bytes = load(documentName);
    if (bytes) Y.applyUpdate(document, bytes);
  },
  async onStoreDocument({ documentName, document }) {
    writeFileSync(join(args.dataDir, `${documentName}.bin`), Y.encodeStateAsUpdate(document));
  },
});
await server.listen();
serveIpc(
  { liveDoc: (room) => server.hocuspocus.documents.get(room), loadedDocs: () => server.hocuspocus.documents.size },
  { port: server.address.port, token: args.token },
);
