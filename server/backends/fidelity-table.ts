import { COMMON_PRIVILEGES, HIGH_RISK_PRIVILEGES, type Backend } from '../domain/access/model.ts';
import { backendIds, getBackend } from './index.ts';

/** One Markdown table per backend: common privilege → native privileges and fidelity, straight from the code. */
export function fidelityMarkdown(backends: Backend[] = backendIds().map(getBackend)): string {
  const out: string[] = [];
  for (const b of backends) {
    out.push(`### ${b.displayName} (\`${b.id}\`)`, '', '| common privilege | native | fidelity | note |', '|---|---|---|---|');
    for (const p of COMMON_PRIVILEGES) {
      const m = b.privilegeMap[p];
      const name = HIGH_RISK_PRIVILEGES.has(p) ? `\`${p}\` (high risk)` : `\`${p}\``;
      const native = m.native.length ? m.native.map((n) => `\`${n}\``).join(', ') : '—';
      out.push(`| ${name} | ${native} | ${m.fidelity} | ${(m.note ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
