/**
 * Render a change set as the govc commands an operator would run (govc `permissions.set`,
 * `permissions.remove`, `role.create`; flags as in govmomi `govc/permissions/*.go`), one line per call,
 * each preceded by a comment naming the change item, its fidelity and what it silently overwrites.
 */
import type { AccessModel, ChangeSet, Grant, RenderResult, Replacement } from '../../domain/access/model.ts';
import { indexModel } from './model-index.ts';
import { planChange } from './plan.ts';
import { IMPLICIT_ROLE_PRIVILEGES } from './privileges.ts';

/** POSIX single-quoting: `VSPHERE.LOCAL\ops` must reach govc with its backslash intact. */
export const shellQuote = (s: string): string => (/^[A-Za-z0-9_./:@=-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

const comment = (text: string): string => `# ${text.replaceAll('\n', ' ')}`;

export function render(model: AccessModel, change: ChangeSet): RenderResult {
  const plan = planChange(model, change);
  const index = indexModel(model);
  const byId = new Map(model.resources.map((r) => [r.id, r]));
  const groupFlag = (g: Grant): string => (index.kinds.get(g.principal) === 'group' ? ' -group=true' : '');
  const lines: string[] = [comment(`Accord change: ${change.items.length} item(s) for vSphere, in order. Requires govc and GOVC_URL.`)];
  const replaces: Replacement[] = [];
  const warnings: string[] = [];

  for (const planned of plan.items) {
    const { item } = planned;
    lines.push('', comment(`item ${item.id}: ${item.op} (fidelity: ${planned.fidelity})`));
    for (const note of planned.notes) lines.push(comment(`  ${note}`));
    for (const r of planned.createRoles) {
      const explicit = r.privileges.filter((p) => !(IMPLICIT_ROLE_PRIVILEGES as readonly string[]).includes(p));
      lines.push(['govc role.create', shellQuote(r.name), ...explicit.map(shellQuote)].join(' '));
    }
    for (const { grant, reason } of planned.replaces) {
      replaces.push({ itemId: item.id, grantId: grant.id, reason });
      lines.push(comment(`  replaces ${grant.id} (${grant.role}, propagate=${grant.propagate})`));
    }
    if (planned.operations.length === 0) lines.push(comment('  nothing vSphere can express: no command'));
    for (const op of planned.operations) {
      const g = op.grant;
      const entity = shellQuote(g.resource);
      if (op.op === 'remove') {
        lines.push(`govc permissions.remove -principal ${shellQuote(g.principal)}${groupFlag(g)} ${entity}`);
        continue;
      }
      lines.push(`govc permissions.set -principal ${shellQuote(g.principal)}${groupFlag(g)} -propagate=${g.propagate} -role ${shellQuote(g.role ?? '')} ${entity}`);
      // "You cannot set direct permissions on the VM, host, network, and storage folders", nor on the root
      // resource pool of a cluster or host (vSphere Security guide; PowerCLI New-VIPermission).
      const resource = byId.get(g.resource);
      const parentKinds = (resource?.parents ?? []).map((p) => byId.get(p)?.kind);
      if ((resource?.kind === 'folder' && parentKinds.includes('datacenter')) || (resource?.kind === 'pool' && parentKinds.includes('cluster'))) {
        warnings.push(`item ${item.id}: vSphere does not accept permissions directly on ${g.resource}; set them on its parent`);
      }
    }
  }
  return {
    format: 'text/x-shell',
    text: `${lines.join('\n')}\n`,
    items: plan.items.map((p) => ({
      itemId: p.item.id, fidelity: p.fidelity, ...(p.notes.length > 0 ? { note: p.notes.join('; ') } : {}),
    })),
    replaces,
    warnings,
  };
}
