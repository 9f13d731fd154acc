/** Every Yjs transaction says who made it (Hocuspocus's TransactionOrigin). */
export type Origin =
  | { source: 'client'; socketId: string; userId: number }
  | { source: 'server'; reason: string }
  | { source: 'load' }
  /** Committed by another node (or read back from the database to fill a gap): already stored, never re-persisted. */
  | { source: 'remote' };

export function isOrigin(value: unknown): value is Origin {
  return typeof value === 'object' && value !== null && 'source' in value;
}
