/**
 * The document writer thread: owns a second connection to the database file and runs the document
 * store's appends and compactions there, so the main thread never waits for a commit's fsync.
 * Requests are handled one at a time, in the order they were posted (group commits stay ordered).
 */
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import { CONNECTION_PRAGMAS } from './database.ts';
import { DocumentWrites } from './document-writes.ts';
import type { WriterReply, WriterRequest } from './document-writer.ts';

const db = new DatabaseSync((workerData as { file: string }).file);
db.exec(CONNECTION_PRAGMAS);
const writes = new DocumentWrites(db);
const port = parentPort!;

port.on('message', (req: WriterRequest) => {
  let reply: WriterReply;
  try {
    if (req.op === 'append') reply = { id: req.id, ok: true, seqs: [...writes.append(req.batch)] };
    else {
      writes.compact(req.docId, req.snapshot, req.uptoSeq);
      reply = { id: req.id, ok: true };
    }
  } catch (err) {
    reply = { id: req.id, ok: false, message: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
port.on('close', () => db.close());
