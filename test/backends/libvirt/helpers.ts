/** Shared test inputs: the fixture inventory and Debian's libvirt action file, plus extra rules files. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AccessModel, NativeFile } from '../../../server/domain/access/model.ts';
import { backend } from '../../../server/backends/libvirt/index.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'libvirt');
export const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');

export function baseFiles(rules: Record<string, string> = {}): NativeFile[] {
  return [
    { path: '/usr/share/polkit-1/actions/org.libvirt.api.policy', text: fixture('org.libvirt.api.policy') },
    { path: 'inventory.json', text: fixture('inventory.json') },
    { path: '/usr/share/polkit-1/rules.d/60-libvirt.rules', text: fixture('60-libvirt.rules') },
    ...Object.entries(rules).map(([name, text]) => ({ path: `/etc/polkit-1/rules.d/${name}`, text })),
  ];
}

export const modelWith = (rules: Record<string, string> = {}): AccessModel => backend.import(baseFiles(rules));

export const USERS = {
  root: { name: 'root', uid: 0, groups: ['root'] },
  berrange: { name: 'berrange', uid: 1000, groups: ['berrange', 'libvirt'] },
  alice: { name: 'alice', uid: 1001, groups: ['alice', 'vmops'] },
  bob: { name: 'bob', uid: 1002, groups: ['bob'] },
  carol: { name: 'carol', uid: 1003, groups: ['carol', 'vmops', 'storage'] },
};

export const DOMAIN = {
  web01: { connect_driver: 'QEMU', domain_name: 'web01', domain_uuid: '0d7a1c4e-1111-4a51-9c1e-000000000001' },
  db01: { connect_driver: 'QEMU', domain_name: 'db01', domain_uuid: '0d7a1c4e-1111-4a51-9c1e-000000000002' },
  demo: { connect_driver: 'LXC', domain_name: 'demo', domain_uuid: '0d7a1c4e-1111-4a51-9c1e-000000000003' },
};
