import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { after } from 'node:test';
import { io } from 'socket.io-client';
import { createApp, type App } from '../../server/app.ts';
import { loadConfig, type Config } from '../../server/config.ts';
import { createLogger, type Logger } from '../../server/log.ts';
import type { Role } from '../../server/auth/roles.ts';
import { SocketProvider, type AccordSocket } from '../../web/lib/socket-provider.ts';
import { frameParser } from '../../server/protocol/frame-parser.ts';
import { freshSchema, PG_URL, SERVER_DATABASE } from './databases.ts';

/** A TCP port free now on 127.0.0.1: for a server whose URL (its WebAuthn origin, a mail link) is set before it starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix = 'accord-test-', onTeardown: (fn: () => unknown) => void = after): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTeardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A suite's teardown stack, for suites that set up in `before`: `teardown.push(fn)` registers a step
 * (pass `(fn) => teardown.push(fn)` to startTestServer, launchBrowser, ...). After the suite the steps
 * run in reverse order, every one of them; if any failed, the suite's after hook fails with all their errors.
 */
export function suiteTeardown(): { push(fn: () => unknown): void } {
  const steps: (() => unknown)[] = [];
  after(async () => {
    const errors: unknown[] = [];
    for (const fn of steps.reverse()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, `${errors.length} teardown step(s) failed`);
  });
  return { push: (fn) => void steps.push(fn) };
}

/**
 * The PostgreSQL schema each data dir's servers use (ACCORD_TEST_DATABASE=postgres), and how many of
 * them are still open: the schema is dropped after the last one closed (a restart reuses it).
 */
const PG_SCHEMAS = new Map<string, { schema: string; open: number; drop: () => unknown }>();

export interface TestServer {
  app: App;
  url: string;
  port: number;
  dataDir: string;
  /** Creates a user and returns its API token. */
  user(name: string, role: Role, password?: string): Promise<string>;
}

/**
 * A real Accord server on port 0 with a fresh SQLite data dir (or, with ACCORD_TEST_DATABASE=postgres, a
 * fresh PostgreSQL schema), closed when the calling test ends.
 * From a suite's `before` hook pass the suite's teardown (`(fn) => teardowns.push(fn)`), since an
 * `after` registered inside a hook runs when the hook ends.
 */
export async function startTestServer(overrides: Partial<Config> = {}, onTeardown: (fn: () => unknown) => void = after, logger?: Logger): Promise<TestServer> {
  // The data dir goes only after the server closed: its last anchor line may still be on its way to disk.
  const removals: (() => unknown)[] = [];
  const dataDir = overrides.dataDir ?? tempDir('accord-test-', (fn) => removals.push(fn));
  // ACCORD_TEST_DATABASE=postgres: the same server on PostgreSQL, in a schema of its own (test/helpers/databases.ts).
  // A restart on the same data dir finds the same schema, as it would find the same SQLite file.
  let database = {};
  if (SERVER_DATABASE === 'postgres' && overrides.databaseUrl === undefined) {
    let entry = PG_SCHEMAS.get(dataDir);
    if (entry === undefined) {
      let drop: () => unknown = () => undefined;
      const schema = await freshSchema((fn) => void (drop = fn));
      PG_SCHEMAS.set(dataDir, (entry = { schema, open: 0, drop }));
    }
    entry.open += 1;
    const used = entry;
    removals.unshift(async () => {
      if (--used.open === 0) {
        PG_SCHEMAS.delete(dataDir);
        await used.drop();
      }
    });
    database = { databaseUrl: PG_URL, databaseSchema: entry.schema };
  }
  const config = loadConfig([], {}, { port: 0, host: '127.0.0.1', logLevel: 'silent', ...database, ...overrides, dataDir });
  const app = await createApp(config, logger ?? createLogger(process.env.ACCORD_TEST_LOG ?? 'silent'));
  onTeardown(async () => {
    try {
      await app.close();
    } finally {
      for (const remove of removals) await remove();
    }
  });
  const { port } = await app.listen();
  return {
    app, port, dataDir,
    url: `http://127.0.0.1:${port}`,
    user: async (name, role, password) => (await app.users.addUser(name, role, password)).token,
  };
}

/** A real socket.io-client connected with a token (websocket only, as the web app does). */
export function connect(url: string, token: string | undefined, extra: { cookie?: string; origin?: string } = {}, onTeardown: (fn: () => unknown) => void = after): AccordSocket {
  const socket: AccordSocket = io(url, {
    auth: token === undefined ? {} : { token },
    transports: ['websocket'],
    parser: frameParser,
    query: { frames: 'packed' },
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
    forceNew: true,
    extraHeaders: { ...(extra.cookie ? { cookie: extra.cookie } : {}), ...(extra.origin ? { origin: extra.origin } : {}) },
  });
  onTeardown(() => socket.disconnect());
  return socket;
}

/** Resolves on `connect`, rejects with the server's reason on `connect_error`. */
export function connected(socket: AccordSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve();
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => reject(err));
  });
}

/** A synced SocketProvider on `docId` over `socket` (connected first), destroyed when the calling test ends. */
export async function openProvider(socket: AccordSocket, docId: string, onTeardown: (fn: () => unknown) => void = after): Promise<SocketProvider> {
  await connected(socket);
  const provider = new SocketProvider(socket, docId);
  onTeardown(() => provider.destroy()); // its awareness timer would keep the test process alive
  await provider.whenSynced();
  return provider;
}

export async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  url: string;
  exited: Promise<number | null>;
  /** Everything the process printed so far (JSON log lines). */
  output(): string;
}

/** Starts `node server/main.ts` as a real process (for kill -9 and SIGTERM tests). */
export async function spawnServer(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['server/main.ts', '--port', '0', '--host', '127.0.0.1', '--data', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ACCORD_LOG_LEVEL: 'info', ...env },
  });
  after(() => void child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"port":(\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then(() => reject(new Error(`server exited before listening:\n${output}`)));
  });
  return { child, port, url: `http://127.0.0.1:${port}`, exited, output: () => output };
}
