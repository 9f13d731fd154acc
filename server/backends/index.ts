/**
 * The backend registry: one Backend per hypervisor, looked up by id.
 */
import { AccessInputError } from '../domain/access/model.ts';
import type { Backend } from '../domain/access/model.ts';
import { backend as proxmox } from './proxmox/index.ts';
import { backend as xapi } from './xapi/index.ts';
import { backend as vsphere } from './vsphere/index.ts';
import { backend as libvirt } from './libvirt/index.ts';

const REGISTRY: ReadonlyMap<string, Backend> = new Map<string, Backend>(
  [
    proxmox,
    xapi,
    vsphere,
    libvirt,
  ].map((b) => [b.id, b]),
);

/** Ids of the registered backends, sorted. */
export function backendIds(): string[] {
  return [...REGISTRY.keys()].sort();
}

/** The backend for `id`; an unknown id is an input error that lists the known ones. */
export function getBackend(id: string): Backend {
  const b = REGISTRY.get(id);
  if (!b) throw new AccessInputError(`unknown backend '${id}' (known: ${backendIds().join(', ')})`);
  return b;
}
