/**
 * Render a change set as a reviewer reads it for Proxmox VE: the user.cfg lines it adds and removes (as
 * `write_user_config` would write the file) and the equivalent `pveum` commands, plus every existing ACL
 * entry that a command silently overwrites (same path, principal and role, other propagate flag).
 */
import type { AccessModel, ChangeItem, ChangeSet, Fidelity, GrantSpec, RenderResult, RenderedItem, Replacement } from '../../domain/access/model.ts';
import { applyChange, itemSpecs, resolveGrant, validateChange } from './change.ts';
import type { ResolvedGrant } from './change.ts';
import { aclKey } from './native.ts';
import { worstFidelity } from './privilege-map.ts';
import { writeUserCfg } from './write.ts';

const FLAG = { user: 'users', group: 'groups', token: 'tokens' } as const;

/** Quote for a POSIX shell when needed: a token id's `!` would trigger bash history expansion. */
function sh(s: string): string {
  return /^[A-Za-z0-9@._\-/,]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

function aclCommand(verb: 'modify' | 'delete', r: ResolvedGrant): string {
  const who = `--${FLAG[r.kind]} ${sh(r.principal)} --roles ${sh(r.role ?? '')}`;
  return verb === 'modify' ? `pveum acl modify ${sh(r.path)} ${who} --propagate ${r.propagate ? 1 : 0}` : `pveum acl delete ${sh(r.path)} ${who}`;
}

interface ItemOutput { commands: string[]; replaces: Replacement[]; warnings: string[]; rendered: RenderedItem; after: AccessModel }

/** Render one add or remove against the model as it stands after the previous steps. */
function renderStep(model: AccessModel, itemId: string, op: 'add' | 'remove', spec: GrantSpec, out: ItemOutput, fidelities: Fidelity[], notes: string[]): AccessModel {
  const r = resolveGrant(model, itemId, spec);
  fidelities.push(r.fidelity);
  notes.push(...r.notes);
  if (r.role === undefined) {
    out.warnings.push(`item ${itemId}: nothing in Proxmox VE can express ${JSON.stringify(spec.privileges ?? [])}; no command rendered`);
    return model;
  }
  const existing = model.grants.find((g) => g.id === aclKey(r.path, r.principal, r.role ?? ''));
  if (op === 'add') {
    if (r.newRole) out.commands.push(`pveum role add ${r.newRole.name} --privs ${sh(r.newRole.privileges.join(','))}`);
    if (existing && existing.propagate !== r.propagate) {
      out.replaces.push({ itemId, grantId: existing.id, reason: `${r.principal} already holds ${r.role} on ${r.path} with propagate ${existing.propagate ? 1 : 0}; Proxmox keeps one flag per (path, principal, role), so this overwrites it with ${r.propagate ? 1 : 0}` });
    } else if (existing) out.warnings.push(`item ${itemId}: ${r.principal} already holds ${r.role} on ${r.path}; no change`);
    out.commands.push(aclCommand('modify', r));
  } else {
    if (!existing) out.warnings.push(`item ${itemId}: ${r.principal} does not hold ${r.role} on ${r.path}; nothing to remove`);
    out.commands.push(aclCommand('delete', r));
  }
  const step: ChangeItem = { id: itemId, op, grant: spec };
  return applyChange(model, { backend: 'proxmox', items: [step] });
}

function renderItem(model: AccessModel, item: ChangeItem): ItemOutput {
  const out: ItemOutput = { commands: [], replaces: [], warnings: [], rendered: { itemId: item.id, fidelity: 'exact' }, after: model };
  const fidelities: Fidelity[] = [];
  const notes: string[] = [];
  for (const { op, spec } of itemSpecs(item)) out.after = renderStep(out.after, item.id, op, spec, out, fidelities, notes);
  const fidelity = worstFidelity(fidelities);
  const note = [...new Set(notes)].join('; ');
  out.rendered = note ? { itemId: item.id, fidelity, note } : { itemId: item.id, fidelity };
  return out;
}

/** Lines of `after` not in `before` and vice versa, counted as multisets, each in file order. */
function lineDiff(before: string, after: string): { removed: string[]; added: string[] } {
  const count = (lines: string[]) => lines.reduce((m, l) => m.set(l, (m.get(l) ?? 0) + 1), new Map<string, number>());
  const pick = (lines: string[], other: Map<string, number>) => lines.filter((l) => {
    const n = other.get(l) ?? 0;
    if (n > 0) { other.set(l, n - 1); return false; }
    return true;
  });
  const b = before.split('\n').filter(Boolean);
  const a = after.split('\n').filter(Boolean);
  return { removed: pick(b, count(a)), added: pick(a, count(b)) };
}

export function render(model: AccessModel, change: ChangeSet): RenderResult {
  validateChange(model, change);
  let current = model;
  const items: RenderedItem[] = [];
  const replaces: Replacement[] = [];
  const warnings: string[] = [];
  const shell: string[] = [];
  for (const item of change.items) {
    const out = renderItem(current, item);
    current = out.after;
    items.push(out.rendered);
    replaces.push(...out.replaces);
    warnings.push(...out.warnings);
    shell.push(`# item ${item.id} (fidelity: ${out.rendered.fidelity})`, ...out.commands);
  }
  const { removed, added } = lineDiff(writeUserCfg(model), writeUserCfg(current));
  const diff = [...removed.map((l) => `-${l}`), ...added.map((l) => `+${l}`)];
  const text = [
    '# /etc/pve/user.cfg: lines removed (-) and added (+)',
    ...(diff.length > 0 ? diff : ['# (no change)']),
    '',
    '# the same change with pveum',
    ...shell,
    ...replaces.map((r) => `# REPLACES ${r.grantId}: ${r.reason}`),
  ].join('\n');
  return { format: 'text/x-pve-user-cfg-diff+shell', text: `${text}\n`, items, replaces, warnings };
}
