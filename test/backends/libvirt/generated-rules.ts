/**
 * Seeded generators of polkit rules files that branch on what libvirt checks: action ids (exact and by
 * prefix), `connect_driver`, `domain_name` (equality, regex, lists), other details, subject.user,
 * subject.isInGroup, subject.groups, reads whose key depends on an earlier read, enumeration of the
 * details, and every outcome (YES, NO, AUTH_ADMIN, NOT_HANDLED, throw, an invalid result). ES5 only.
 * Shared by the fleet equivalence test and the polkitd oracle test.
 */
export interface Rng {
  next(): number;
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
  chance(p: number): boolean;
}

export function rngOf(next: () => number): Rng {
  const int = (n: number): number => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)]!, chance: (p) => next() < p };
}

export interface RuleVocabulary {
  users: readonly string[];
  groups: readonly string[];
  domainNames: readonly string[];
  drivers: readonly string[];
  /** Native action names (`domain.start`) the rules may name. */
  actions: readonly string[];
}

const q = (s: string): string => JSON.stringify(s);

function condition(r: Rng, v: RuleVocabulary, depth = 0): string {
  const domainName = 'action.lookup("domain_name")';
  const choices: (() => string)[] = [
    () => `action.id == ${q(`org.libvirt.api.${r.pick(v.actions)}`)}`,
    () => `action.id.indexOf(${q(`org.libvirt.api.${r.pick(['domain', 'network', 'storage-pool', 'connect', 'storage-vol'])}.`)}) == 0`,
    () => `[${[r.pick(v.actions), r.pick(v.actions), r.pick(v.actions)].map((a) => q(`org.libvirt.api.${a}`)).join(', ')}].indexOf(action.id) >= 0`,
    () => `subject.user == ${q(r.pick(v.users))}`,
    () => `subject.user.indexOf(${q(r.pick(v.users).slice(0, 3))}) == 0`,
    () => `subject.isInGroup(${q(r.pick(v.groups))})`,
    () => `subject.groups.length > ${1 + r.int(3)}`,
    () => `subject.groups.indexOf(${q(r.pick(v.groups))}) >= 0`,
    () => `action.lookup("connect_driver") == ${q(r.pick(v.drivers))}`,
    () => `${domainName} == ${q(r.pick(v.domainNames))}`,
    () => `/^${r.pick(v.domainNames).slice(0, 1 + r.int(3)).replace(/[^A-Za-z0-9]/g, '')}/.test(${domainName} || "")`,
    () => `(${domainName} || "").length > ${2 + r.int(4)}`,
    () => `action.lookup("pool_name") !== undefined`,
    () => `action.lookup("network_name") == "default"`,
    // A read whose key depends on an earlier read.
    () => `action.lookup(subject.isInGroup(${q(r.pick(v.groups))}) ? "domain_name" : "connect_driver") == ${q(r.chance(0.5) ? r.pick(v.domainNames) : r.pick(v.drivers))}`,
    // Enumerating the details.
    () => '(function () { var n = 0; for (var k in action) { if (k.indexOf("_detail_") == 0) n++; } return n; })() > 2',
    () => `action._detail_connect_driver == ${q(r.pick(v.drivers))}`,
  ];
  const c = r.pick(choices)();
  if (depth < 2 && r.chance(0.35)) return `(${c} ${r.chance(0.6) ? '&&' : '||'} ${condition(r, v, depth + 1)})`;
  return r.chance(0.15) ? `!(${c})` : c;
}

function outcome(r: Rng, file: string): string {
  const x = r.next();
  if (x < 0.35) return 'return polkit.Result.YES;';
  if (x < 0.6) return 'return polkit.Result.NO;';
  if (x < 0.68) return 'return polkit.Result.AUTH_ADMIN;';
  if (x < 0.85) return 'return polkit.Result.NOT_HANDLED;';
  if (x < 0.93) return `throw new Error(${q(`rule in ${file}`)});`;
  if (x < 0.96) return 'return "bogus";';
  return 'return;';
}

function body(r: Rng, v: RuleVocabulary, file: string, depth = 0): string {
  const lines: string[] = [];
  const n = 1 + r.int(3);
  for (let i = 0; i < n; i++) {
    const inner = depth < 1 && r.chance(0.3) ? `{\n${body(r, v, file, depth + 1)}\n  }` : outcome(r, file);
    lines.push(`  if (${condition(r, v)}) ${inner}`);
  }
  return lines.join('\n');
}

/** A rules file of 1–2 rules; most start by narrowing on the action, as real rules do. */
export function randomRulesFile(r: Rng, v: RuleVocabulary, file: string): string {
  const rules: string[] = [];
  for (let i = 0, n = 1 + r.int(2); i < n; i++) {
    const guard = r.chance(0.6) ? `  if (action.id.indexOf("org.libvirt.api.") != 0) return polkit.Result.NOT_HANDLED;\n` : '';
    rules.push(`polkit.addRule(function (action, subject) {\n${guard}${body(r, v, file)}\n});`);
  }
  return `// generated: ${file}\n${rules.join('\n')}\n`;
}
