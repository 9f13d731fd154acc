/**
 * Both databases for suites that run on each (docs/storage.md, "Tests on both databases").
 *
 * PostgreSQL: ACCORD_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test (CI's .ci/run
 * starts the server). Every opened database gets a schema of its own (accord_t_<random>), dropped when
 * the test ends, so test files run in parallel. An unreachable server fails the suite with the URL and
 * the cause; ACCORD_TEST_DATABASES=sqlite runs the SQLite half alone (never in CI).
 */
import { randomBytes } from 'node:crypto';
import { after, describe } from 'node:test';
import pg from 'pg';
import { openStorage, type Storage } from '../../server/store/open.ts';
import { redactUrl } from '../../server/store/postgres/pg-database.ts';
import { tempDir } from './server.ts';

export type DatabaseKind = 'sqlite' | 'postgres';

export const PG_URL = process.env.ACCORD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The databases this run covers: both unless ACCORD_TEST_DATABASES narrows it. */
export const DATABASES: readonly DatabaseKind[] = (process.env.ACCORD_TEST_DATABASES ?? 'sqlite,postgres')
  .split(',').map((s) => s.trim()).filter((s): s is DatabaseKind => s === 'sqlite' || s === 'postgres');

/** The database a test server runs on (ACCORD_TEST_DATABASE: `sqlite`, the default, or `postgres`). */
export const SERVER_DATABASE: DatabaseKind = process.env.ACCORD_TEST_DATABASE === 'postgres' ? 'postgres' : 'sqlite';

/**
 * A fresh, empty schema on the test PostgreSQL server, dropped after the calling test (or suite, with
 * `onTeardown`). Throws with the URL and the cause when the server cannot be reached.
 */
export async function freshSchema(onTeardown: (fn: () => unknown) => void = after): Promise<string> {
  const schema = `accord_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5_000 });
  try {
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`); // a generated identifier: DDL takes no parameters
  } catch (err) {
    await admin.end().catch(() => {});
    throw new Error(`PostgreSQL at ${redactUrl(PG_URL)} is not usable for tests (${err instanceof Error ? err.message || (err as { code?: string }).code : String(err)}); start it or set ACCORD_TEST_DATABASE_URL`, { cause: err });
  }
  await admin.end();
  onTeardown(async () => {
    const drop = new pg.Client({ connectionString: PG_URL });
    await drop.connect();
    try {
      await drop.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } finally {
      await drop.end();
    }
  });
  return schema;
}

/** Opened storage of `kind`, migrated and empty, closed (and its schema dropped) after the test. */
export async function openTestStorage(kind: DatabaseKind, onTeardown: (fn: () => unknown) => void = after): Promise<Storage & { dataDir: string }> {
  const dataDir = tempDir('accord-db-', onTeardown);
  const storage = kind === 'sqlite'
    ? await openStorage({ dataDir })
    : await openStorage({ dataDir, databaseUrl: PG_URL, databaseSchema: await freshSchema(onTeardown), poolSize: 4 });
  onTeardown(() => storage.close());
  return Object.assign(storage, { dataDir });
}

/** `describe(name [sqlite])` and `describe(name [postgres])` with the same body. */
export function onEachDatabase(name: string, body: (kind: DatabaseKind) => void): void {
  for (const kind of DATABASES) describe(`${name} [${kind}]`, () => body(kind));
}
