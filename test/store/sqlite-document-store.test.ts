import { after } from 'node:test';
import { openDatabase } from '../../server/store/sqlite/database.ts';
import { SqliteDocumentStore } from '../../server/store/sqlite/sqlite-document-store.ts';
import { tempDir } from '../helpers/server.ts';
import { documentStoreContract } from './document-store.contract.ts';

documentStoreContract('SqliteDocumentStore', async () => {
  const db = openDatabase(tempDir());
  after(() => db.close());
  return new SqliteDocumentStore(db);
});
