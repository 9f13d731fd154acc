/**
 * Server child of bench/web/run.ts: the real Accord app (`createApp` through test/helpers'
 * startTestServer) on 127.0.0.1, a fresh SQLite data dir, the web app served from the bench's own
 * build (`webDir`, so web/dist of the working tree is left alone). Creates the bench's users and
 * reports `{ url, pid, tokens }` over IPC; exits when the parent disconnects.
 *
 *   node bench/web/server.ts '<json: { webDir, dataDir, users: [name, role, password?][] }>'
 */
import { rmSync } from 'node:fs';
import type { Role } from '../../server/auth/roles.ts';
import { startTestServer } from '../../test/helpers/server.ts';

interface Spec {
  webDir: string;
  dataDir: string;
  users: [string, Role, string?][];
}

const spec = JSON.parse(process.argv[2]!) as Spec;
const teardown: (() => unknown)[] = [];
let closing = false;

async function close(code: number): Promise<never> {
  if (!closing) {
    closing = true;
    for (const fn of teardown.reverse()) await Promise.resolve().then(fn).catch(() => undefined);
    rmSync(spec.dataDir, { recursive: true, force: true });
  }
  process.exit(code);
}
process.on('disconnect', () => void close(0));
process.on('SIGTERM', () => void close(143));
process.on('SIGINT', () => void close(130));

const server = await startTestServer(
  // One user per simulated person, so the per-user socket cap is the product default.
  { webDir: spec.webDir, dataDir: spec.dataDir, port: 0 },
  (fn) => teardown.push(fn),
);
const tokens: Record<string, string> = {};
await Promise.all(spec.users.map(async ([name, role, password]) => (tokens[name] = await server.user(name, role, password))));
process.send!({ url: server.url, pid: process.pid, tokens });
