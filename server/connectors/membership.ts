import { readFile, stat } from 'node:fs/promises';
import type { NativeFile } from '../domain/access/model.ts';
import { ConnectorError } from './types.ts';

const MAX_BYTES = 20_000_000;

/**
 * Group membership the hypervisor's API does not expose (vSphere SSO, XAPI's AD groups): a local file in
 * the format the backend's importer reads (docs/backends/vsphere.md, xapi.md), read with every read of the
 * target so principals added to the directory are known to the next review.
 */
export async function readMembershipFile(path: string, as: string): Promise<NativeFile> {
  try {
    const size = (await stat(path)).size;
    if (size > MAX_BYTES) throw new ConnectorError('too_large', `the membership file ${path} is ${size} bytes (at most ${MAX_BYTES} are read)`);
    return { path: as, text: await readFile(path, 'utf8') };
  } catch (err) {
    if (err instanceof ConnectorError) throw err;
    throw new ConnectorError('invalid', `cannot read the membership file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Validates the optional `membershipFile` connection field. */
export function membershipField(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !value.startsWith('/') || value.length > 500) throw new ConnectorError('invalid', 'membershipFile must be an absolute path');
  return value;
}
