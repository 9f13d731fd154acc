/**
 * Value classes for a rules file (acorn): when a rule uses `action.id` and `action.lookup("key")` only in
 * fixed shapes whose other operands are literals, two values that give the same result in every such use
 * are indistinguishable to the file's rules, so the fleet evaluator may branch on the class instead of the
 * value (one question for all `web-*` domains instead of one per domain).
 *
 * Recognised uses of a site S (`A.id`, or `A.lookup("k")` with a string literal), optionally as
 * `S || "lit"`: `S == lit` (also `===`, `!=`, `!==`), `/re/.test(S)`, `["a", "b"].indexOf(S)`,
 * `S.indexOf("lit")`, `S.length`. The class of a value is the list of those results over every use of
 * that key in the file. It is exact only if the action reaches the rule's code through these sites alone,
 * so the file gets no classes at all (every value is its own class) when: a rule is not an inline
 * function expression; a rule's action parameter is used any other way (passed on, stored, enumerated,
 * indexed with `[]`, reassigned, shadowed) or `arguments` is used; or a site is used any other way.
 */
import { parse } from 'acorn';

interface Node {
  type: string;
  [key: string]: unknown;
}

const isNode = (x: unknown): x is Node => typeof x === 'object' && x !== null && typeof (x as Node).type === 'string';

function children(n: Node): Node[] {
  const out: Node[] = [];
  for (const [k, v] of Object.entries(n)) {
    if (k === 'type' || k === 'start' || k === 'end') continue;
    if (Array.isArray(v)) for (const x of v) { if (isNode(x)) out.push(x); }
    else if (isNode(v)) out.push(v);
  }
  return out;
}

type Value = string | undefined;
type Predicate = { shape: string; run: (v: Value) => unknown };

/** key (`i` for action.id, `d<key>` for a detail) → value → class; absent keys and files: the value itself. */
export type Classifier = (key: string, value: string) => string;

const identity: Classifier = (_key, value) => value;

const literalOf = (n: Node | undefined): { ok: true; value: unknown } | { ok: false } =>
  n && n.type === 'Literal' && !n.regex ? { ok: true, value: n.value } : { ok: false };

/** The use of site `n` (with `parents` from the root down to its parent): a predicate, or undefined if unrecognised. */
function useOf(n: Node, parents: Node[]): Predicate | undefined {
  let expr = n;
  let i = parents.length - 1;
  let transform = (v: Value): unknown => v;
  let shapeTail = '';
  const p0 = parents[i];
  if (p0?.type === 'LogicalExpression' && p0.operator === '||' && p0.left === expr) {
    const fallback = literalOf(p0.right as Node);
    if (!fallback.ok) return undefined;
    transform = (v) => v || fallback.value;
    shapeTail = `||${JSON.stringify(fallback.value)}`;
    expr = p0;
    i -= 1;
  }
  const p = parents[i];
  const g = parents[i - 1];
  if (!p) return undefined;
  const t = transform;
  if (p.type === 'BinaryExpression' && ['==', '===', '!=', '!=='].includes(p.operator as string)) {
    const other = literalOf((p.left === expr ? p.right : p.left) as Node);
    if (!other.ok) return undefined;
    const lit = other.value;
    const op = p.operator as string;
    // Loose comparisons are intended: they are what the rule computes.
    const run = (v: Value): unknown => {
      const x = t(v);
      return op === '==' ? x == lit : op === '===' ? x === lit : op === '!=' ? x != lit : x !== lit; // eslint-disable-line eqeqeq
    };
    return { shape: `${op}${JSON.stringify(lit)}${shapeTail}`, run };
  }
  if (p.type === 'CallExpression' && (p.arguments as Node[]).length === 1 && (p.arguments as Node[])[0] === expr) {
    const callee = p.callee as Node;
    if (callee.type !== 'MemberExpression' || callee.computed) return undefined;
    const method = (callee.property as Node).name;
    const obj = callee.object as Node;
    if (method === 'test' && obj.type === 'Literal' && obj.regex) {
      const { pattern, flags } = obj.regex as { pattern: string; flags: string };
      return { shape: `test/${pattern}/${flags}${shapeTail}`, run: (v) => new RegExp(pattern, flags).test(t(v) as string) };
    }
    if (method === 'indexOf' && obj.type === 'ArrayExpression' && (obj.elements as (Node | null)[]).every((e) => literalOf(e ?? undefined).ok)) {
      const items = (obj.elements as Node[]).map((e) => e.value);
      return { shape: `in${JSON.stringify(items)}${shapeTail}`, run: (v) => items.indexOf(t(v)) };
    }
    return undefined;
  }
  if (p.type === 'MemberExpression' && p.object === expr && !p.computed) {
    const prop = (p.property as Node).name;
    if (prop === 'length') return { shape: `length${shapeTail}`, run: (v) => (t(v) as { length: unknown }).length };
    if (prop === 'indexOf' && g?.type === 'CallExpression' && g.callee === p && (g.arguments as Node[]).length === 1) {
      const arg = literalOf((g.arguments as Node[])[0]);
      if (!arg.ok) return undefined;
      return {
        shape: `indexOf${JSON.stringify(arg.value)}${shapeTail}`,
        run: (v) => (t(v) as { indexOf(x: unknown): unknown }).indexOf(arg.value),
      };
    }
  }
  return undefined;
}

/** Names a function declares itself (params, var, inner function declarations, its own name). */
function declares(fn: Node, name: string): boolean {
  if ((fn.params as Node[]).some((p) => p.type !== 'Identifier' || p.name === name)) return true;
  let found = false;
  const visit = (n: Node): void => {
    if (found) return;
    if (n.type === 'VariableDeclarator' && (n.id as Node).name === name) found = true;
    if (n.type === 'FunctionDeclaration') { if ((n.id as Node | null)?.name === name) found = true; return; }
    if (n.type === 'FunctionExpression') return;
    if (n.type === 'CatchClause' && (n.param as Node | null)?.name === name) found = true;
    for (const c of children(n)) visit(c);
  };
  visit(fn.body as Node);
  return found;
}

/** The file's classifier; identity when the file's rules do not keep to the recognised shapes. */
export function classifierOf(text: string): Classifier {
  let ast: Node;
  try {
    ast = parse(text.replace(/\bconst\b/g, 'var  '), { ecmaVersion: 5, sourceType: 'script' }) as unknown as Node;
  } catch {
    return identity; // polkitd does not load it: no rule of it ever runs
  }
  const predicates = new Map<string, Map<string, Predicate>>();
  let opaque = false;
  const callbacks: Node[] = [];
  const findRules = (n: Node): void => {
    if (n.type === 'CallExpression') {
      const callee = n.callee as Node;
      const isAdd = callee.type === 'MemberExpression' && !callee.computed && ['addRule', 'addAdminRule'].includes((callee.property as Node).name as string);
      if (isAdd) {
        const fn = (n.arguments as Node[])[0];
        if (fn?.type === 'FunctionExpression') callbacks.push(fn); else opaque = true;
      }
    }
    for (const c of children(n)) findRules(c);
  };
  findRules(ast);
  // A rule added other than by `polkit.addRule(function (...) {...})` in plain sight.
  if (/addRule/.test(text.replace(/\.addRule\s*\(\s*function\b/g, '').replace(/\.addAdminRule\s*\(\s*function\b/g, ''))) opaque = true;
  for (const fn of callbacks) {
    const param = (fn.params as Node[])[0];
    if (param && param.type !== 'Identifier') { opaque = true; continue; }
    const name = param?.name as string | undefined;
    const visit = (n: Node, parents: Node[]): void => {
      if (opaque) return;
      if (n.type === 'Identifier' && n.name === 'arguments') { opaque = true; return; }
      if ((n.type === 'FunctionExpression' || n.type === 'FunctionDeclaration') && n !== fn && name !== undefined && declares(n, name)) { opaque = true; return; }
      if (name !== undefined && n.type === 'Identifier' && n.name === name) {
        const parent = parents[parents.length - 1];
        // The parameter itself (in fn.params) is not a use.
        if (parent === fn) return;
        if (!parent || parent.type !== 'MemberExpression' || parent.object !== n || parent.computed) { opaque = true; return; }
        const prop = (parent.property as Node).name as string;
        let key: string;
        let site: Node;
        let siteParents: Node[];
        if (prop === 'id') {
          key = 'i'; site = parent; siteParents = parents.slice(0, -1);
        } else if (prop === 'lookup') {
          const call = parents[parents.length - 2];
          const arg = literalOf((call?.arguments as Node[] | undefined)?.[0]);
          if (!call || call.type !== 'CallExpression' || call.callee !== parent || (call.arguments as Node[]).length !== 1 || !arg.ok || typeof arg.value !== 'string') { opaque = true; return; }
          key = `d${arg.value}`; site = call; siteParents = parents.slice(0, -2);
        } else { opaque = true; return; }
        const pred = useOf(site, siteParents);
        if (!pred) { opaque = true; return; }
        const forKey = predicates.get(key) ?? new Map<string, Predicate>();
        predicates.set(key, forKey);
        forKey.set(pred.shape, pred);
        return;
      }
      for (const c of children(n)) visit(c, [...parents, n]);
    };
    for (const p of fn.params as Node[]) visit(p, [fn]);
    visit(fn.body as Node, [fn]);
  }
  if (opaque) return identity;
  const sorted = new Map([...predicates].map(([k, m]) => [k, [...m.keys()].sort().map((s) => m.get(s)!)]));
  const memo = new Map<string, Map<string, string>>();
  return (key, value) => {
    const preds = sorted.get(key);
    if (!preds) return value;
    let forKey = memo.get(key);
    if (!forKey) { forKey = new Map(); memo.set(key, forKey); }
    let c = forKey.get(value);
    if (c === undefined) {
      // Details are recorded as `s<text>` or `u` (absent); action.id as itself.
      const v: Value = key === 'i' ? value : value === 'u' ? undefined : value.slice(1);
      c = `~${JSON.stringify(preds.map((p) => {
        try {
          return String(p.run(v));
        } catch (e) {
          return `throw ${(e as Error).name}`;
        }
      }))}`;
      forKey.set(value, c);
    }
    return c;
  };
}
