/**
 * Import: detect each input by name and content (rules files, `.policy` action files, the inventory
 * JSON, daemon configs), recover Accord's grants from its own rules file, keep other rules verbatim.
 */
import type { AccessModel, Grant, ImportWarning, NativeFile } from '../../domain/access/model.ts';
import { AccessInputError } from '../../domain/access/model.ts';
import { parsePolicy, type ActionDefaults } from './actions.ts';
import { parseInventory, principalsOf, resourcesOf, type Inventory } from './inventory.ts';
import { knownActions, type LibvirtNative } from './native.ts';
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

export function importLibvirt(files: NativeFile[]): AccessModel {
  const warnings: ImportWarning[] = [];
  const actions: Record<string, ActionDefaults> = {};
  const rules: NativeFile[] = [];
  const accessDrivers: Record<string, string[]> = {};
  let inventory: Inventory | undefined;
  for (const f of files) {
    switch (kindOf(f)) {
      case 'rules': rules.push(f); break;
      case 'policy': for (const [id, d] of parsePolicy(f.text, f.path)) actions[id] = d; break;
      case 'inventory':
        if (inventory) throw new AccessInputError('a second inventory file', { file: f.path });
        inventory = parseInventory(f.text, f.path);
        break;
      case 'daemon-config': accessDrivers[f.path] = parseAccessDrivers(f.text); break;
      case 'unknown': warnings.push({ file: f.path, message: 'not a rules, policy, inventory or daemon config file: ignored' });
    }
  }
  if (!inventory) throw new AccessInputError('no libvirt inventory (JSON with "kind": "libvirt-inventory") among the inputs');
  if (!Object.keys(actions).some((id) => id.startsWith('org.libvirt.api.'))) {
    throw new AccessInputError('no org.libvirt.api.* actions: add org.libvirt.api.policy from libvirt-daemon-system');
  }
  for (const [file, drivers] of Object.entries(accessDrivers)) {
    if (!drivers.includes('polkit')) {
      warnings.push({ file, message: 'access_drivers does not include "polkit": these rules are not enforced, every read-write client may call every API' });
    }
  }
  const known = knownActions({ actions });
  const foreignRules: NativeFile[] = [];
  let grants: Grant[] = [];
  let accordFile: string | undefined;
  for (const f of rules) {
    if (!isAccordRulesFile(f.text)) {
      const syntax = es5SyntaxError(f.text);
      if (syntax) warnings.push({ file: f.path, message: `polkitd (duktape, ES5) will not load this file: ${syntax}` });
      foreignRules.push({ path: f.path, text: f.text });
      continue;
    }
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
  const native: LibvirtNative = { foreignRules, accordFile: accordFile ?? DEFAULT_ACCORD_FILE, actions, inventory, accessDrivers };
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
