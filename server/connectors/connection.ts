/** Checks the connection fields HTTP API connectors share (Proxmox, XAPI): one place, one wording. */
import { ConnectorError } from './types.ts';

const invalid = (message: string): ConnectorError => new ConnectorError('invalid', message);

/** Refuses fields the backend does not know (a typo must not be silently ignored). */
export function onlyKnownFields(input: Record<string, unknown>, known: readonly string[], backend: string): void {
  const unknown = Object.keys(input).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw invalid(`unknown connection field(s) for ${backend}: ${unknown.join(', ')}`);
}

/**
 * The API's base URL: http(s), no credentials, query or fragment; trailing slashes and the API's own path
 * suffix (`apiSuffix`, e.g. /api2/json) removed. `what` says what it is, for the message when it is missing.
 */
export function baseUrl(url: unknown, what: string, apiSuffix: RegExp): string {
  if (typeof url !== 'string') throw invalid(`url is required: ${what}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid(`url '${url}' is not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw invalid(`url '${url}': only https (or http) is supported`);
  if (parsed.username || parsed.password || parsed.search || parsed.hash) throw invalid(`url '${url}': no credentials, query or fragment in the url`);
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '').replace(apiSuffix, '')}`;
}

/** `insecure` (skip TLS verification) and `timeoutMs`, as stored: absent when not given. */
export function transportFields(insecure: unknown, timeoutMs: unknown): { insecure?: true; timeoutMs?: number } {
  if (insecure !== undefined && typeof insecure !== 'boolean') throw invalid('insecure must be true or false');
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 600_000)) {
    throw invalid('timeoutMs must be an integer between 100 and 600000');
  }
  return { ...(insecure ? { insecure: true as const } : {}), ...(timeoutMs !== undefined ? { timeoutMs: timeoutMs as number } : {}) };
}
