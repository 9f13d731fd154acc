import { loadOrCreateServerKey } from '../audit/server-key.ts';
import { evidenceJson } from '../audit/evidence.ts';
import { UserStore } from '../auth/user-store.ts';
import { openDatabase } from '../store/sqlite/database.ts';
import { Accord } from './accord.ts';

/** Exports a change's evidence pack straight from a data directory (the server may be running: WAL allows it). */
export async function exportLocal(dataDir: string, changeId: string, format: 'json' | 'html'): Promise<string> {
  const db = openDatabase(dataDir);
  try {
    const accord = new Accord({ db, users: new UserStore(db), key: loadOrCreateServerKey(dataDir), rpID: 'localhost', origins: [], present: () => undefined, dataDir });
    try {
      const pack = accord.evidence(changeId, 'cli');
      return format === 'html' ? accord.evidenceHtml(pack) : evidenceJson(pack);
    } finally {
      await accord.audit.close(); // the export's anchor line is written before the database closes
    }
  } finally {
    db.close();
  }
}
