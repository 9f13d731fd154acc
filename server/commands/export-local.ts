import { loadOrCreateServerKey } from '../audit/server-key.ts';
import { evidenceJson } from '../audit/evidence.ts';
import { UserStore } from '../auth/user-store.ts';
import type { Storage } from '../store/open.ts';
import { Accord } from './accord.ts';

/**
 * Exports a change's evidence pack straight from the storage (the server may be running: SQLite's WAL and
 * PostgreSQL both allow it). `dataDir` holds the server key and the audit anchor.
 */
export async function exportLocal(storage: Storage, dataDir: string, changeId: string, format: 'json' | 'html'): Promise<string> {
  const { db } = storage;
  const accord = new Accord({ db, users: new UserStore(db), key: loadOrCreateServerKey(dataDir), rpID: 'localhost', origins: [], present: async () => undefined, dataDir });
  try {
    const pack = await accord.evidence(changeId, 'cli');
    return format === 'html' ? accord.evidenceHtml(pack) : evidenceJson(pack);
  } finally {
    await accord.audit.close(); // the export's anchor line is written before the database closes
  }
}
