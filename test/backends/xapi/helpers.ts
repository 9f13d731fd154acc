/** Test helpers for the XAPI backend: fixture loading and a tiny `xe` simulator for rendered commands. */
import { readFileSync, readdirSync } from 'node:fs';
import type { AccessModel, EffectiveRow, GrantSpec, NativeFile } from '../../../server/domain/access/model.ts';
import { formatXeMap, formatXeRecords, parseXeMap, parseXeRecords, parseXeSet } from '../../../server/backends/xapi/xe-format.ts';

const FIXTURES = new URL('../../fixtures/xapi/', import.meta.url);

export function fixture(name: string): NativeFile {
  return { path: name, text: readFileSync(new URL(name, FIXTURES), 'utf8') };
}

export function allFixtures(): NativeFile[] {
  return readdirSync(FIXTURES).sort().map(fixture);
}

export const pool = (principal: string, role: string): GrantSpec =>
  ({ principal, role, resource: 'pool', propagate: true, effect: 'allow' });

export function grantPairs(model: AccessModel): string[] {
  return model.grants.map((g) => `${g.principal}|${g.role ?? ''}|${g.resource}`).sort();
}

export function rowKeys(rows: readonly EffectiveRow[]): Set<string> {
  return new Set(rows.map((r) => `${r.principal}|${r.resource}|${r.privilege}`));
}

export function privilegesOf(rows: readonly EffectiveRow[], principal: string, resource = 'pool'): Set<string> {
  return new Set(rows.filter((r) => r.principal === principal && r.resource === resource).map((r) => r.privilege));
}

interface SimSubject { uuid: string; identifier: string; otherConfig: Record<string, string>; roles: string[] }

/**
 * Run rendered `xe subject-add` / `subject-role-add` / `subject-role-remove` lines against `xe subject-list`
 * text and print the resulting subject list, as the pool would after the commands.
 */
export function runXe(subjectListText: string, script: string): string {
  const subjects: SimSubject[] = parseXeRecords(subjectListText, 'sim').map((r) => ({
    uuid: r.fields.get('uuid')?.value ?? '',
    identifier: r.fields.get('subject-identifier')?.value ?? '',
    otherConfig: parseXeMap(r.fields.get('other-config')?.value ?? ''),
    roles: parseXeSet(r.fields.get('roles')?.value ?? ''),
  }));
  const vars = new Map<string, string>();
  let next = 0;
  for (const line of script.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const add = /^(\w+)=\$\(xe subject-add subject-name='(.*)'\)$/.exec(line);
    if (add) {
      const uuid = `00000000-0000-4000-8000-${String(++next).padStart(12, '0')}`;
      subjects.push({ uuid, identifier: `S-SIM-${next}`, otherConfig: { 'subject-name': add[2] ?? '' }, roles: [] });
      vars.set(add[1] ?? '', uuid);
      continue;
    }
    const m = /^xe subject-role-(add|remove) uuid=(\S+) role-name=(\S+)$/.exec(line);
    if (!m) throw new Error(`simulator cannot run: ${line}`);
    const ref = m[2] ?? '';
    const uuid = ref.startsWith('"$') ? vars.get(ref.slice(2, -1)) : ref;
    const s = subjects.find((x) => x.uuid === uuid);
    if (!s) throw new Error(`no subject ${ref}`);
    const role = m[3] ?? '';
    if (m[1] === 'add') {
      if (s.roles.includes(role)) throw new Error(`duplicate role ${role}`);
      s.roles.push(role);
    } else {
      if (!s.roles.includes(role)) throw new Error(`role ${role} not held`);
      s.roles = s.roles.filter((r) => r !== role);
    }
  }
  return formatXeRecords(subjects.map((s) => [
    { key: 'uuid', qualifier: 'RO', value: s.uuid },
    { key: 'subject-identifier', qualifier: 'RO', value: s.identifier },
    { key: 'other-config', qualifier: 'MRO', value: formatXeMap(s.otherConfig) },
    { key: 'roles', qualifier: 'SRO', value: s.roles.join('; ') },
  ]));
}
