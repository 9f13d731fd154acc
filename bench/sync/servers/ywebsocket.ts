/**
 * The reference y-websocket server (@y/websocket-server 0.1.1, setupWSConnection behind http + ws).
 * Token check on the upgrade (`?token=`). Persistence: a bench file store that loads the room's
 * fixture/snapshot in bindState and writes a snapshot when the last client leaves (no per-update
 * log, no fsync) — the shape of 0.1.1's LevelDB hook without the native dependency.
 */
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import * as Y from 'yjs';
import { WebSocketServer } from 'ws';
import * as utils from '@y/websocket-server/utils';
import { readFixture } from '../common.ts';
import { keysOf, parseArgs, reportPersisted, serveIpc } from './child.ts';

const args = parseArgs(process.argv.slice(2));
const load = (room: string): Uint8Array | null => readFixture(args.dataDir, room) ?? readFixture(args.fixtures, room);

if (args.reportPersisted.length > 0) {
  reportPersisted(Object.fromEntries(args.reportPersisted.map((r) => [r, keysOf(readFixture(args.dataDir, r))])));
}

utils.setPersistence({
  provider: null,
  bindState: async (name: string, doc: Y.Doc) => {
    const bytes = load(name);
    if (bytes) Y.applyUpdate(doc, bytes);
  },
  writeState: async (name: string, doc: Y.Doc) => {
    writeFileSync(join(args.dataDir, `${name}.bin`), Y.encodeStateAsUpdate(doc));
  },
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('okay');
});
wss.on('connection', (ws, req) => utils.setupWSConnection(ws, req));
server.on('upgrade', (req, socket, head) => {
  const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
  if (token !== args.token) {
    socket.write('HTTP/1.1 401 Unauthorized\r\n\r\n');
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});
server.listen(args.port, '127.0.0.1', () => {
  serveIpc(
    { liveDoc: (room) => utils.docs.get(room), loadedDocs: () => utils.docs.size },
    { port: (server.address() as AddressInfo).port, token: args.token },
  );
});
