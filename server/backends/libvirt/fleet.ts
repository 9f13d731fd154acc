/**
 * Fleet-scale effective access: the same answers as asking polkit's rules every (user, action, object)
 * question (`reference.ts`), with far fewer sandbox calls.
 *
 * - Each foreign rule function is run alone (in polkitd's order, first truthy result wins) with proxies
 *   that record what it reads (sandbox.ts, `evaluateRules`): action.id, subject.user, isInGroup(name),
 *   subject.groups, each `action.lookup(key)`, enumeration of the details. A rule that is a function of
 *   its reads gives the same outcome to every question that agrees on them, so each rule keeps a decision
 *   tree of the reads seen (key read next → value → ...→ outcome). A question walks the tree; only a
 *   branch never seen is evaluated, in batches (one sandbox entry per batch). Objects are split only where
 *   a rule read one of their details, so a rule that never reads `domain_name` is asked once per
 *   (action, subject facts it reads) for all domains.
 * - Trees branch on value classes where the file's source allows it (value-classes.ts): one branch for
 *   all domains a rule's literal comparisons and regexes cannot tell apart.
 * - Questions are walked in blocks (users × objects of one host and action): users split only where a
 *   rule read a subject fact, objects only where it read their details; partitions are cached by list.
 * - Accord's own rules file is rendered by Accord and evaluated natively (same first-match logic).
 * - Hosts with the same foreign files share a RuleSet; effective.ts keeps RuleSets between calls.
 * - Exactness guards: a file that may keep state between questions (purity.ts), a rules file that changed
 *   built-ins or polkit's objects at load time, or a rule whose reads are not a function of earlier reads
 *   (two traces disagree) makes the whole computation fall back to the reference evaluation. A rule that
 *   writes to its action or subject (later rules would see it) sends those questions through the whole
 *   chain in the sandbox (the reference `Decider`).
 */
import type { Grant } from '../../domain/access/model.ts';
import { API_PREFIX, IMPLICIT_VALUES, type Implicit } from './actions.ts';
import { groupId, userId, type LibvirtObject } from './inventory.ts';
import { expiryMs, orderGrants } from './rules-file.ts';
import { PolkitSandbox, type RuleOutcome, type RuleQuestion, type RulesFile } from './sandbox.ts';
import { nativeScope } from './scope.ts';
import { classifierOf, type Classifier } from './value-classes.ts';

export interface FleetUser {
  name: string;
  uid: number;
  groups: readonly string[];
}

/** One host's evaluation inputs. */
export interface HostChain {
  /** Foreign rules files as polkitd on that host sees them. */
  foreign: readonly RulesFile[];
  /** Path of Accord's file on that host. */
  accordFile: string;
  /** Grants in Accord's file on that host. */
  grants: readonly Grant[];
  objects: readonly LibvirtObject[];
}

/** Outcome of one rule for a set of questions: 0 falls through, 1 decided with `result`, 2 error (deny), 3 wrote to its inputs. */
interface Leaf { leaf: true; kind: 0 | 1 | 2 | 3; result: Implicit | null }
interface Read { leaf: false; id: number; key: string; kids: Map<string, Tree> }
type Tree = Leaf | Read;

/** Thrown inside the engine when a rule's reads are not a function of what it read before. */
export class NotDeterministic extends Error {}

const leafOf = (o: RuleOutcome): Leaf => {
  if (o.mutated) return { leaf: true, kind: 3, result: null };
  if (o.kind === 'null') return { leaf: true, kind: 0, result: null };
  if (o.kind === 'result' && (IMPLICIT_VALUES as readonly string[]).includes(o.value ?? '')) return { leaf: true, kind: 1, result: o.value as Implicit };
  return { leaf: true, kind: 2, result: 'no' };
};

/** An Accord grant for one action: `enc` is its match as read keys and values (`dconnect_driver` → `sQEMU`). */
interface AccordEntry { principal: string; enc: [string, string][]; result: Implicit; id: string }

/** Per object: its read values (`d<key>` → `s<value>`, `K` → own keys of the action object). */
/** `tag` names the (host, type) list the object is indexed in. */
interface Obj { o: LibvirtObject; vals: Record<string, string>; index: number; tag: string }

const objOf = (o: LibvirtObject, index: number, tag: string): Obj => {
  const vals: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(o.details)) vals[`d${k}`] = `s${v}`;
  vals.K = JSON.stringify(['id', ...Object.keys(o.details).map((k) => `_detail_${k}`)]);
  return { o, vals, index, tag };
};

interface Subject { index: number; user: FleetUser; groupSet: Set<string>; principals: Set<string>; groupsJson: string }

/** Rules files loaded once for every host that has exactly these foreign files and Accord's file at the same path. */
let ruleSets = 0;

/** Every rule file's value classifier; partitions name theirs by index. */
const CLASSIFIERS: Classifier[] = [];

export class RuleSet {
  readonly key = String(ruleSets++);
  readonly sandbox: PolkitSandbox;
  /** Per rule function: `accord` or the file it came from. */
  readonly chain: ({ accord: true } | { accord: false; rule: number; file: string })[];
  readonly #trees: (Tree | undefined)[];
  #nextId = 0;
  /** Why this rule set cannot be evaluated by tracing (then the reference evaluation is used). */
  readonly unsupported: string | undefined;
  evaluations = 0;
  /** Milliseconds spent in the sandbox. */
  sandboxMs = 0;

  /** Per rule: index of its file's classifier in CLASSIFIERS (value-classes.ts). */
  readonly classifier: number[];

  constructor(foreign: readonly RulesFile[], accordFile: string, accordText: string, nowMs: number, timeoutMs: number | undefined, stateful: string | undefined) {
    this.sandbox = new PolkitSandbox([...foreign, { path: accordFile, text: accordText }], { nowMs, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
    const origins = this.sandbox.origins;
    const byFile = new Map<string, number>();
    this.classifier = origins.map((file) => {
      let ci = byFile.get(file);
      if (ci === undefined) {
        const text = foreign.find((f) => f.path === file)?.text;
        ci = CLASSIFIERS.push(text === undefined || foreign.filter((f) => f.path === file).length !== 1 ? (_k: string, v: string) => v : classifierOf(text)) - 1;
        byFile.set(file, ci);
      }
      return ci;
    });
    this.chain = origins.map((file, rule) => (file === accordFile ? { accord: true as const } : { accord: false as const, rule, file }));
    this.#trees = origins.map(() => undefined);
    const accordRules = this.chain.filter((c) => c.accord).length;
    this.unsupported = stateful
      ?? (!this.sandbox.intact ? 'a rules file changes built-ins or polkit\'s objects when loaded' : undefined)
      ?? (accordRules !== 1 ? `Accord's file ${accordFile} adds ${accordRules} rules where 1 was expected (a foreign file at the same path?)` : undefined);
  }

  tree(rule: number): Tree | undefined {
    return this.#trees[rule];
  }

  #build(trace: readonly string[], i: number, leaf: Leaf): Tree {
    if (i >= trace.length) return leaf;
    return { leaf: false, id: this.#nextId++, key: trace[i]!, kids: new Map([[trace[i + 1]!, this.#build(trace, i + 2, leaf)]]) };
  }

  /** Adds one traced outcome; throws NotDeterministic if it contradicts what the tree holds. */
  insert(rule: number, outcome: RuleOutcome): void {
    const leaf = leafOf(outcome);
    // Branch on value classes where the rule's file allows it (value-classes.ts).
    const classify = CLASSIFIERS[this.classifier[rule] ?? -1];
    const t = classify ? outcome.trace.map((x, i) => (i % 2 === 1 && /^[id]/.test(outcome.trace[i - 1]!) ? classify(outcome.trace[i - 1]!, x) : x)) : outcome.trace;
    let node = this.#trees[rule];
    if (!node) {
      this.#trees[rule] = this.#build(t, 0, leaf);
      return;
    }
    for (let i = 0; ; i += 2) {
      if (node.leaf) {
        if (i === t.length && node.kind === leaf.kind && node.result === leaf.result) return;
        throw new NotDeterministic(`rule ${rule}: a question ended differently after the same reads`);
      }
      if (i >= t.length || t[i] !== node.key) throw new NotDeterministic(`rule ${rule}: after the same reads, a question read ${t[i] ?? 'nothing'} instead of ${node.key}`);
      const child: Tree | undefined = node.kids.get(t[i + 1]!);
      if (!child) {
        node.kids.set(t[i + 1]!, this.#build(t, i + 2, leaf));
        return;
      }
      node = child;
    }
  }

  /** Set once a rule proved not to be a function of its reads: this rule set is not used again. */
  broken: string | undefined;

  run(questions: RuleQuestion[]): void {
    this.evaluations += questions.length;
    const t = performance.now();
    const outcomes = this.sandbox.evaluateRules(questions);
    this.sandboxMs += performance.now() - t;
    try {
      outcomes.forEach((o, i) => this.insert(questions[i]!.rule, o));
    } catch (e) {
      if (e instanceof NotDeterministic) this.broken = e.message;
      throw e;
    }
  }
}

interface Missing { ruleSet: RuleSet; question: RuleQuestion }

/** A block of questions: every subject × every object (for one host and action). */
interface Block { subjects: Subject[]; objs: Obj[] }

/**
 * Partitions of a list by a read key, cached by the list's identity: the lists a partition yields are
 * themselves cached, so the same sub-lists come back for every action, host and rule that splits them alike.
 */
class Partitions<T> {
  readonly #cache = new WeakMap<T[], Map<string, Map<string, T[]>>>();
  readonly valueOf: (x: T, key: string) => string;
  constructor(valueOf: (x: T, key: string) => string) {
    this.valueOf = valueOf;
  }
  split(list: T[], key: string): Map<string, T[]> {
    let byKey = this.#cache.get(list);
    if (!byKey) { byKey = new Map(); this.#cache.set(list, byKey); }
    let parts = byKey.get(key);
    if (!parts) {
      parts = new Map();
      for (const x of list) {
        const v = this.valueOf(x, key);
        const part = parts.get(v);
        if (part) part.push(x); else parts.set(v, [x]);
      }
      // One part: keep the same list, so later splits of it stay cached.
      if (parts.size === 1) parts.set(parts.keys().next().value!, list);
      byKey.set(key, parts);
    }
    return parts;
  }
}

export interface FleetHost {
  chain: HostChain;
  ruleSet: RuleSet;
  /** The whole-chain evaluator for questions a rule that writes to its inputs leaves to it. */
  reference: () => { decide(u: FleetUser, action: string, details: Readonly<Record<string, string>>): { result: Implicit; because: string } };
}

/**
 * Decides every (user, action, object) question of each host and calls `allow` for those answered `yes`
 * (in a deterministic order: host, action, then blocks of users and objects). uid 0 is always allowed.
 */
export function evaluateHosts(
  hosts: readonly FleetHost[],
  users: readonly FleetUser[],
  actions: readonly string[],
  typeOf: (action: string) => string | undefined,
  defaults: Readonly<Record<string, { any: Implicit; source: string }>>,
  known: readonly string[],
  nowMs: number,
  allow: (user: FleetUser, object: LibvirtObject, action: string, because: string) => void,
): void {
  const everyone: Subject[] = users.filter((u) => u.uid !== 0).map((u, index) => ({
    index, user: u, groupSet: new Set(u.groups), principals: new Set([userId(u.name), ...u.groups.map(groupId)]), groupsJson: JSON.stringify(u.groups),
  }));
  const roots = users.filter((u) => u.uid === 0);
  const subjectParts = new Partitions<Subject>((s, k) => {
    const c = k.charCodeAt(0);
    if (c === 117 /* u */) return s.user.name;
    if (c === 71 /* G */) return s.groupsJson;
    if (c === 103 /* g */) return s.groupSet.has(k.slice(1)) ? '1' : '0';
    throw new Error(`fleet evaluator: ${k} is not a subject read`);
  });
  // Key `d<key>\u0001<classifier>`: objects split by the value class the rule's file sees.
  const objParts = new Partitions<Obj>((x, k) => {
    const at = k.indexOf('\u0001');
    const key = k.slice(0, at);
    return CLASSIFIERS[Number(k.slice(at + 1))]!(key, x.vals[key] ?? 'u');
  });
  interface Unit { host: number; action: string; objs: Obj[]; accord: AccordEntry[]; named?: string }
  // Subjects named by Accord entries (directly or by a group) and the others, cached like Partitions.
  const namedCache = new WeakMap<Subject[], Map<string, { others: Subject[]; mine: Subject[] }>>();
  const namedSplit = (subjects: Subject[], named: string): { others: Subject[]; mine: Subject[] } => {
    let byNamed = namedCache.get(subjects);
    if (!byNamed) { byNamed = new Map(); namedCache.set(subjects, byNamed); }
    let hit = byNamed.get(named);
    if (!hit) {
      const set = new Set(named.split('\u0000'));
      const others: Subject[] = [];
      const mine: Subject[] = [];
      for (const s of subjects) {
        let is = false;
        for (const p of s.principals) if (set.has(p)) { is = true; break; }
        (is ? mine : others).push(s);
      }
      hit = { others: others.length === subjects.length ? subjects : others, mine };
      byNamed.set(named, hit);
    }
    return hit;
  };
  const pending: Unit[] = [];
  for (const [hi, h] of hosts.entries()) {
    const byType = new Map<string, Obj[]>();
    for (const o of h.chain.objects) {
      const list = byType.get(o.type) ?? [];
      byType.set(o.type, list);
      list.push(objOf(o, list.length, `${hi}/${o.type}`));
    }
    const accord = new Map<string, AccordEntry[]>();
    for (const g of orderGrants(h.chain.grants)) {
      const expires = expiryMs(g.expiresAt);
      if (expires !== null && nowMs >= expires) continue;
      const scope = nativeScope(g, known);
      const e: AccordEntry = { principal: g.principal, enc: Object.entries(scope.match).map(([k, v]) => [`d${k}`, `s${v}`]), result: g.effect === 'allow' ? 'yes' : 'no', id: g.id };
      for (const a of scope.actions) accord.set(API_PREFIX + a, [...(accord.get(API_PREFIX + a) ?? []), e]);
    }
    for (const action of actions) {
      const objs = byType.get(typeOf(action) ?? '');
      if (!objs || objs.length === 0) continue;
      for (const u of roots) for (const { o } of objs) allow(u, o, action, 'uid 0');
      if (everyone.length > 0) pending.push({ host: hi, action, objs, accord: accord.get(API_PREFIX + action) ?? [] });
    }
  }

  // Blocks that fall through a rule are merged (same subjects: objects joined; then same objects: subjects
  // joined) into lists interned by content, so the next rules walk few blocks and partitions stay cached.
  const interned = new Map<string, unknown[]>();
  const intern = <T extends { index: number }>(tag: string, lists: T[][]): T[] => {
    let max = 0;
    for (const l of lists) { const last = l[l.length - 1]!.index; if (last > max) max = last; }
    const words = new Uint16Array((max >> 4) + 1);
    for (const l of lists) for (const x of l) words[x.index >> 4]! |= 1 << (x.index & 15);
    let key = tag;
    for (let i = 0; i < words.length; i += 4096) key += String.fromCharCode(...words.subarray(i, i + 4096));
    const hit = interned.get(key) as T[] | undefined;
    if (hit) return hit;
    const all = lists.flat().sort((a, b) => a.index - b.index);
    interned.set(key, all);
    return all;
  };
  const merge = (blocks: Block[]): Block[] => {
    const bySubjects = new Map<Subject[], Obj[][]>();
    for (const b of blocks) {
      const l = bySubjects.get(b.subjects);
      if (l) l.push(b.objs); else bySubjects.set(b.subjects, [b.objs]);
    }
    const byObjs = new Map<Obj[], Subject[][]>();
    for (const [subjects, objLists] of bySubjects) {
      const objs = objLists.length === 1 ? objLists[0]! : intern(`o${objLists[0]![0]!.tag}\u0000`, objLists);
      const l = byObjs.get(objs);
      if (l) l.push(subjects); else byObjs.set(objs, [subjects]);
    }
    const out: Block[] = [];
    for (const [objs, subjectLists] of byObjs) out.push({ subjects: subjectLists.length === 1 ? subjectLists[0]! : intern('s\u0000', subjectLists), objs });
    return out;
  };

  // Each (host, action) is walked until no branch is missing; the questions its walk finds missing are
  // asked together (one sandbox entry per batch), and what they teach serves every later unit.
  const asked = new Set<string>();
  for (const unit of pending) {
    for (;;) {
      const missing = new Map<string, Missing>();
      const h = hosts[unit.host]!;
      const id = API_PREFIX + unit.action;
      const decided: { block: Block; result: Implicit | 'fallback'; because: string }[] = [];
      const perCell: { s: Subject; x: Obj; because: string }[] = [];
      /** Cells (subject index × width + object index) already decided by Accord's entries. */
      let taken: Uint8Array | undefined;
      let blocked = false;
      let remaining: Block[] = [{ subjects: everyone, objs: unit.objs }];
      for (const step of h.ruleSet.chain) {
        if (remaining.length === 0) break;
        const next: Block[] = [];
        if (step.accord) {
          if (unit.accord.length === 0) continue;
          // Cells an entry matches are decided here and marked, so later rules skip them; blocks stay whole
          // (and their cached partitions with them).
          const named = unit.named ??= [...new Set(unit.accord.map((e) => e.principal))].sort().join('\u0000');
          const width = unit.objs.length;
          for (const b of remaining) {
            for (const s of namedSplit(b.subjects, named).mine) {
              const entries = unit.accord.filter((e) => s.principals.has(e.principal));
              for (const x of b.objs) {
                const cell = s.index * width + x.index;
                if (taken?.[cell] === 1) continue;
                const hit = entries.find((e) => e.enc.every(([k, v]) => x.vals[k] === v));
                if (!hit) continue;
                taken ??= new Uint8Array(everyone.length * width);
                taken[cell] = 1;
                if (!blocked && hit.result === 'yes') perCell.push({ s, x, because: hit.id });
              }
            }
          }
          continue;
        }
        const walk = (node: Tree | undefined, b: Block, parent: Read | undefined, value: string): void => {
          if (!node) {
            blocked = true;
            const key = `${h.ruleSet.key}\u0000${step.rule}\u0000${parent?.id ?? 'root'}\u0000${value}`;
            if (!missing.has(key)) {
              const s = b.subjects[0]!;
              missing.set(key, { ruleSet: h.ruleSet, question: { rule: step.rule, id, details: b.objs[0]!.o.details, user: s.user.name, groups: s.user.groups } });
            }
            next.push(b); // keep walking later rules: their missing branches are asked in the same batch
            return;
          }
          if (node.leaf) {
            if (node.kind === 0) next.push(b);
            else if (!blocked) decided.push({ block: b, result: node.kind === 3 ? 'fallback' : node.result!, because: step.file });
            return;
          }
          const k = node.key;
          const c = k.charCodeAt(0);
          if (c === 105 /* i */) {
            const v = CLASSIFIERS[h.ruleSet.classifier[step.rule]!]!(k, id);
            walk(node.kids.get(v), b, node, v);
          } else if (c === 100 /* d */ || c === 75 /* K */) {
            for (const [v, objs] of objParts.split(b.objs, `${k}\u0001${h.ruleSet.classifier[step.rule]!}`)) walk(node.kids.get(v), { subjects: b.subjects, objs }, node, v);
          } else {
            for (const [v, subjects] of subjectParts.split(b.subjects, k)) walk(node.kids.get(v), { subjects, objs: b.objs }, node, v);
          }
        };
        for (const b of remaining) walk(h.ruleSet.tree(step.rule), b, undefined, '');
        // Merge only when the rule split blocks: otherwise they are as merged as they were.
        remaining = next.length > 1 && next.length > remaining.length ? merge(next) : next;
      }
      if (blocked) {
        if (missing.size === 0) throw new Error('fleet evaluator: questions blocked with nothing to ask');
        const byRuleSet = new Map<RuleSet, RuleQuestion[]>();
        for (const [key, m] of missing) {
          // Asked before and still missing: the walk and the sandbox disagree on a value (a bug here, not in the rules).
          if (asked.has(key)) throw new Error(`fleet evaluator: branch asked twice (rule ${m.question.rule}, ${m.question.id})`);
          asked.add(key);
          const list = byRuleSet.get(m.ruleSet) ?? [];
          byRuleSet.set(m.ruleSet, list);
          list.push(m.question);
        }
        for (const [rs, questions] of byRuleSet) rs.run(questions);
        continue;
      }
      for (const c of perCell) allow(c.s.user, c.x.o, unit.action, c.because);
      const width = unit.objs.length;
      const open = (s: Subject, x: Obj): boolean => taken === undefined || taken[s.index * width + x.index] !== 1;
      for (const d of decided) {
        if (d.result === 'fallback') {
          for (const s of d.block.subjects) {
            for (const x of d.block.objs) {
              if (!open(s, x)) continue;
              const r = h.reference().decide(s.user, id, x.o.details);
              if (r.result === 'yes') allow(s.user, x.o, unit.action, r.because);
            }
          }
        } else if (d.result === 'yes') {
          for (const s of d.block.subjects) for (const x of d.block.objs) if (open(s, x)) allow(s.user, x.o, unit.action, d.because);
        }
      }
      const def = defaults[id];
      if (def?.any === 'yes') {
        for (const b of remaining) for (const s of b.subjects) for (const x of b.objs) if (open(s, x)) allow(s.user, x.o, unit.action, def.source);
      }
      break;
    }
  }
}
