/**
 * The audit trail hashes canonical JSON (server/domain/canonical.ts): object keys sorted, no whitespace,
 * anything JSON cannot represent faithfully refused, so a hash can always be recomputed from stored text.
 */
export { canonicalJson, sha256Hex } from '../domain/canonical.ts';
