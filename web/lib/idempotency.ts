/** A fresh idempotency key (matches /^[A-Za-z0-9_-]{8,100}$/): a replayed command changes nothing. */
export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}
