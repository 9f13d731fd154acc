/**
 * The inverse of import for subjects: print a model's subjects and their roles as `xe subject-list` records,
 * so that a model (for instance one after applyChange) can be re-imported and compared.
 * Pending subjects (not yet created by `xe subject-add`) get a placeholder uuid derived from their name.
 */
import type { AccessModel } from '../../domain/access/model.ts';
import { POOL_ID, isPending, xapiNative } from './native.ts';
import { formatXeMap, formatXeRecords } from './xe-format.ts';
import type { XeOutField } from './xe-format.ts';

function placeholderUuid(name: string): string {
  let h = 0x811c9dc5;
  const hex: string[] = [];
  for (let round = 0; round < 4; round++) {
    for (const ch of `${round}:${name}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
    hex.push(h.toString(16).padStart(8, '0'));
  }
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}

export function serializeSubjectList(model: AccessModel): string {
  const records: XeOutField[][] = xapiNative(model).subjects.map((s) => {
    const roles = model.grants.filter((g) => g.principal === s.principal && g.resource === POOL_ID && g.role).map((g) => g.role as string);
    const otherConfig = { 'subject-name': s.principal, ...s.otherConfig };
    return [
      { key: 'uuid', qualifier: 'RO', value: isPending(s) ? placeholderUuid(s.principal) : s.uuid },
      { key: 'subject-identifier', qualifier: 'RO', value: s.identifier },
      { key: 'other-config', qualifier: 'MRO', value: formatXeMap(otherConfig) },
      { key: 'roles', qualifier: 'SRO', value: roles.join('; ') },
    ];
  });
  return formatXeRecords(records);
}
