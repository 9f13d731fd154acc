/**
 * Render: Accord's whole rules file after the change, with per-item fidelity, the grants an item is
 * shadowed by, and the prerequisites polkit ACLs need in libvirt.
 */
import type { AccessModel, ChangeSet, Fidelity, GrantSpec, RenderedItem, RenderResult, Replacement } from '../../domain/access/model.ts';
import { applyChange, validateChange } from './change.ts';
import { foreignRulesOn, hostFilePath, knownActions, nativeOf } from './native.ts';
import { PRIVILEGE_MAP } from './privileges.ts';
import { renderRulesFile } from './rules-file.ts';
import { polkitOrder } from './sandbox.ts';
import { nativeScope } from './scope.ts';

const RANK: Record<Fidelity, number> = { exact: 0, narrowed: 1, widened: 2, unrepresentable: 3 };
const worst = (a: Fidelity, b: Fidelity): Fidelity => (RANK[b] > RANK[a] ? b : a);

function fidelityOf(spec: GrantSpec, known: readonly string[]): { fidelity: Fidelity; notes: string[] } {
  const scope = nativeScope(spec, known);
  if (spec.role !== undefined) return { fidelity: scope.actions.length > 0 ? 'exact' : 'unrepresentable', notes: [] };
  let fidelity: Fidelity = 'exact';
  const notes: string[] = [];
  for (const p of spec.privileges ?? []) {
    const m = PRIVILEGE_MAP[p];
    const reachable = m.native.filter((a) => scope.actions.includes(a));
    let f = m.fidelity;
    if (m.native.length > 0 && reachable.length === 0) f = 'unrepresentable';
    else if (reachable.length < m.native.length && f === 'exact') f = 'narrowed';
    fidelity = worst(fidelity, f);
    if (f !== 'exact') {
      const why = reachable.length === 0 && m.native.length > 0 ? `no ${m.native.join('/')} on ${spec.resource}` : m.note ?? '';
      notes.push(`${p}: ${f}${why ? ` (${why})` : ''}`);
    }
  }
  if (scope.actions.length === 0) fidelity = 'unrepresentable';
  return { fidelity, notes };
}

export function renderLibvirt(model: AccessModel, change: ChangeSet): RenderResult {
  validateChange(model, change);
  const native = nativeOf(model);
  const known = knownActions(native);
  const after = applyChange(model, change);
  const items: RenderedItem[] = [];
  const replaces: Replacement[] = [];
  for (const item of change.items) {
    if (item.op === 'remove') {
      items.push({ itemId: item.id, fidelity: 'exact', note: 'entry removed from the data array' });
      continue;
    }
    const spec = item.op === 'add' ? item.grant : item.to;
    const { fidelity, notes } = fidelityOf(spec, known);
    const actions = nativeScope(spec, known).actions;
    items.push({ itemId: item.id, fidelity, note: [`actions: ${actions.join(', ') || 'none'}`, ...notes].join('; ') });
    if (spec.effect === 'allow') {
      const host = nativeScope(spec, known).host;
      for (const g of after.grants) {
        const other = nativeScope(g, known);
        const sameHost = host === undefined || other.host === undefined || other.host === host;
        if (g.effect === 'deny' && g.principal === spec.principal && sameHost && other.actions.some((a) => actions.includes(a))) {
          replaces.push({ itemId: item.id, grantId: g.id, reason: 'deny entries come first in Accord\'s file: this deny shadows the overlapping actions' });
        }
      }
    }
  }
  const base = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
  const fleet = native.inventory.hosts;
  const first = fleet?.[0]?.name;
  const order = polkitOrder([...foreignRulesOn(native, first), { path: native.accordFile, text: '' }]).map((f) => base(f.path));
  const at = order.indexOf(base(native.accordFile));
  const warnings = [
    fleet
      ? `a fleet: write each host's file to ${native.accordFile} on that host (the text holds one file per host, each after a "${HOST_HEADER}NAME" line); polkitd reloads rules.d on change`
      : `write to ${native.accordFile}; polkitd reloads rules.d on change`,
    'prerequisite: access_drivers = [ "polkit" ] in libvirtd.conf (or virtqemud.conf, virtnetworkd.conf, virtstoraged.conf... for modular daemons), then restart the daemon',
    `evaluation order: ${order.join(' → ')}; ${at > 0 ? `rules in ${order.slice(0, at).join(', ')} decide first` : 'Accord\'s file decides first'}`,
    'expiry is enforced natively: an expired entry stops matching (new Date() at check time); remove it with a later change',
  ];
  for (const [file, drivers] of Object.entries(native.accessDrivers)) {
    if (!drivers.includes('polkit')) warnings.push(`${file}: access_drivers lacks "polkit": the rendered rules will not be enforced`);
  }
  if (fleet) warnings.push(`evaluation order shown for ${first ?? 'no host'}; hosts with their own rules files may differ`);
  const text = fleet
    ? renderHostFiles(after).map((f) => `${HOST_HEADER}${f.host} ${f.path}\n${f.text}`).join('\n')
    : renderRulesFile(after.grants, known);
  return { format: 'application/javascript', text, items, replaces, warnings };
}

/** On a fleet, the line before each host's file in `render`'s text. */
export const HOST_HEADER = '// accord:host ';

/** A fleet's Accord files, one per host, as `import` takes them back (`hosts/NAME/etc/polkit-1/rules.d/…`). */
export function renderHostFiles(model: AccessModel): { host: string; path: string; text: string }[] {
  const native = nativeOf(model);
  const known = knownActions(native);
  return (native.inventory.hosts ?? []).map((h) => ({ host: h.name, path: hostFilePath(h.name, native.accordFile), text: renderRulesFile(model.grants, known, h.name) }));
}
