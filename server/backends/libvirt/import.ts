/**
 * Import: detect each input by name and content (rules files, `.policy` action files, the inventory
 * JSON, daemon configs), recover Accord's grants from its own rules file, keep other rules verbatim.
 */
import type { AccessModel, Grant, ImportWarning, NativeFile } from '../../domain/access/model.ts';
import { AccessInputError } from '../../domain/access/model.ts';
import { parsePolicy, type ActionDefaults } from './actions.ts';
import { parseInventory, principalsOf, resourcesOf, type Inventory } from './inventory.ts';
import { hostFilePath, knownActions, type LibvirtNative } from './native.ts';
import { DEFAULT_ACCORD_FILE, isAccordRulesFile, parseRulesFile, renderRulesFile } from './rules-file.ts';
import { es5SyntaxError } from './sandbox.ts';

type Kind = 'rules' | 'policy' | 'inventory' | 'daemon-config' | 'unknown';

function kindOf(f: NativeFile): Kind {
  if (f.path.endsWith('.rules')) return 'rules';
  if (f.path.endsWith('.policy') || /<policyconfig[\s>]/.test(f.text)) return 'policy';
  if (/"kind"\s*:\s*"libvirt-inventory"/.test(f.text)) return 'inventory';
  if (/(^|\/)(libvirtd|virt[a-z]+d)\.conf$/.test(f.path)) return 'daemon-config';
  if (/polkit\.add(Admin)?Rule\s*\(/.test(f.text)) return 'rules';
  return 'unknown';
}

/** `access_drivers = [ "polkit" ]` from a libvirtd.conf-style file (commented lines ignored). */
export function parseAccessDrivers(text: string): string[] {
  const m = /^\s*access_drivers\s*=\s*\[([^\]]*)\]/m.exec(text);
  if (!m) return [];
  return [...(m[1] ?? '').matchAll(/"([^"]*)"/g)].map((x) => x[1] ?? '');
}

/**
 * The grants of several hosts' files as one list that keeps each file's order (entry order decides which
 * grant a rule match names); a grant in several files (one on the fleet root) once. Undefined when the
 * files order two grants both ways.
 */
function mergeInOrder(lists: readonly Grant[][]): Grant[] | undefined {
  const byId = new Map<string, Grant>();
  const rank = new Map<string, number>();
  const after = new Map<string, string[]>();
  const waiting = new Map<string, number>();
  for (const list of lists) {
    list.forEach((g, i) => {
      if (!byId.has(g.id)) { byId.set(g.id, g); rank.set(g.id, rank.size); waiting.set(g.id, 0); after.set(g.id, []); }
      const prev = list[i - 1];
      if (prev) { after.get(prev.id)!.push(g.id); waiting.set(g.id, waiting.get(g.id)! + 1); }
    });
  }
  // Kahn's algorithm, taking the earliest-seen ready grant first.
  const ready = [...waiting].filter(([, n]) => n === 0).map(([id]) => id);
  const out: Grant[] = [];
  while (ready.length > 0) {
    let best = 0;
    for (let i = 1; i < ready.length; i++) if (rank.get(ready[i]!)! < rank.get(ready[best]!)!) best = i;
    const id = ready.splice(best, 1)[0]!;
    out.push(byId.get(id)!);
    for (const next of after.get(id)!) {
      const n = waiting.get(next)! - 1;
      waiting.set(next, n);
      if (n === 0) ready.push(next);
    }
  }
  return out.length === byId.size ? out : undefined;
}

/** `hosts/NAME/etc/…` → NAME and `/etc/…`. */
const HOST_FILE = /^hosts\/([^/]+)(\/.*)$/;

export function importLibvirt(files: NativeFile[]): AccessModel {
  const warnings: ImportWarning[] = [];
  const actions: Record<string, ActionDefaults> = {};
  const rules: NativeFile[] = [];
  const hostRuleFiles: { host: string; file: NativeFile }[] = [];
  const accessDrivers: Record<string, string[]> = {};
  let inventory: Inventory | undefined;
  for (const f of files) {
    if (kindOf(f) !== 'inventory') continue;
    if (inventory) throw new AccessInputError('a second inventory file', { file: f.path });
    inventory = parseInventory(f.text, f.path);
  }
  if (!inventory) throw new AccessInputError('no libvirt inventory (JSON with "kind": "libvirt-inventory") among the inputs');
  const hostNames = new Set((inventory.hosts ?? []).map((h) => h.name));
  for (const f of files) {
    const kind = kindOf(f);
    // Only a fleet inventory gives `hosts/NAME/…` a meaning: a single host's inputs read as before.
    const onHost = inventory.hosts ? HOST_FILE.exec(f.path) : null;
    if (onHost && kind === 'rules') {
      if (!hostNames.has(onHost[1]!)) throw new AccessInputError(`rules file for host ${onHost[1]!}, which the inventory does not list under "hosts"`, { file: f.path });
      hostRuleFiles.push({ host: onHost[1]!, file: { path: onHost[2]!, text: f.text } });
      continue;
    }
    switch (kind) {
      case 'rules': rules.push(f); break;
      case 'policy': for (const [id, d] of parsePolicy(f.text, f.path)) actions[id] = d; break;
      case 'inventory': break;
      case 'daemon-config': accessDrivers[f.path] = parseAccessDrivers(f.text); break;
      case 'unknown': warnings.push({ file: f.path, message: 'not a rules, policy, inventory or daemon config file: ignored' });
    }
  }
  if (!Object.keys(actions).some((id) => id.startsWith('org.libvirt.api.'))) {
    throw new AccessInputError('no org.libvirt.api.* actions: add org.libvirt.api.policy from libvirt-daemon-system');
  }
  for (const [file, drivers] of Object.entries(accessDrivers)) {
    if (!drivers.includes('polkit')) {
      warnings.push({ file, message: 'access_drivers does not include "polkit": these rules are not enforced, every read-write client may call every API' });
    }
  }
  const known = knownActions({ actions });
  const foreign = (f: NativeFile, shownAs: string): NativeFile => {
    const syntax = es5SyntaxError(f.text);
    if (syntax) warnings.push({ file: shownAs, message: `polkitd (duktape, ES5) will not load this file: ${syntax}` });
    return { path: f.path, text: f.text };
  };
  const foreignRules: NativeFile[] = [];
  let grants: Grant[] = [];
  let accordFile: string | undefined;
  for (const f of rules) {
    if (!isAccordRulesFile(f.text)) {
      foreignRules.push(foreign(f, f.path));
      continue;
    }
    if (inventory.hosts) throw new AccessInputError('on a fleet inventory, give Accord\'s rules file per host (hosts/NAME/etc/polkit-1/rules.d/…)', { file: f.path });
    if (accordFile) throw new AccessInputError(`a second Accord rules file (first: ${accordFile})`, { file: f.path });
    const parsed = parseRulesFile(f.text, f.path);
    if (renderRulesFile(parsed, known) !== f.text) {
      warnings.push({ file: f.path, message: 'Accord rules file differs from what Accord renders for its grants (edited by hand?): kept as foreign rules' });
      foreignRules.push({ path: f.path, text: f.text });
      continue;
    }
    accordFile = f.path;
    grants = parsed;
  }
  const hostRules: Record<string, NativeFile[]> = {};
  if (inventory.hosts) {
    const accord: { host: string; file: NativeFile; grants: Grant[] }[] = [];
    for (const { host, file } of hostRuleFiles) {
      const shownAs = hostFilePath(host, file.path);
      if (!isAccordRulesFile(file.text)) {
        (hostRules[host] ??= []).push(foreign(file, shownAs));
        continue;
      }
      if (accord.some((a) => a.host === host)) throw new AccessInputError(`a second Accord rules file for host ${host}`, { file: shownAs });
      if (accordFile !== undefined && accordFile !== file.path) throw new AccessInputError(`Accord's rules file must have the same path on every host (${accordFile})`, { file: shownAs });
      accordFile = file.path;
      accord.push({ host, file, grants: parseRulesFile(file.text, shownAs) });
    }
    // Grants are the union of the hosts' files (a grant on the fleet root `/` is in each); a file that is
    // not what Accord renders for its host from that union is kept as that host's foreign rules.
    let kept = accord;
    for (;;) {
      const union = mergeInOrder(kept.map((a) => a.grants));
      const bad = kept.filter((a) => union === undefined || renderRulesFile(union, known, a.host) !== a.file.text);
      if (bad.length === 0) {
        grants = union ?? [];
        break;
      }
      for (const a of bad) {
        const shownAs = hostFilePath(a.host, a.file.path);
        warnings.push({ file: shownAs, message: 'Accord rules file differs from what Accord renders for this host from the fleet\'s grants (edited by hand?): kept as foreign rules' });
        (hostRules[a.host] ??= []).push({ path: a.file.path, text: a.file.text });
      }
      kept = kept.filter((a) => !bad.includes(a));
    }
    const missing = inventory.hosts.filter((h) => !kept.some((a) => a.host === h.name));
    if (kept.length > 0 && missing.length > 0) {
      warnings.push({ message: `no Accord rules file for ${missing.map((h) => h.name).join(', ')}: grants on the fleet root are not in force there until it is written` });
    }
  }
  const native: LibvirtNative = { foreignRules, hostRules, accordFile: accordFile ?? DEFAULT_ACCORD_FILE, actions, inventory, accessDrivers };
  return {
    backend: 'libvirt',
    principals: principalsOf(inventory),
    resources: resourcesOf(inventory),
    roles: [],
    grants,
    warnings,
    native: native as unknown as Record<string, unknown>,
  };
}
