/**
 * Whether a rules file may carry state from one polkit question to the next, found statically (acorn).
 * polkitd keeps one JavaScript global for all questions, so a rule that writes outside its own call (a
 * global counter, a cache object, `this`, a `/g` regex's lastIndex), draws random numbers or runs
 * `eval` answers depending on what was asked before. No memoised evaluator can be exact for such a rule;
 * the fleet evaluator then falls back to asking every question (see effective.ts). The check is
 * conservative: it flags any write through a member expression inside a function, any assignment to a
 * name not declared in an enclosing function, and calls of mutating methods, whatever the receiver.
 */
import { parse } from 'acorn';

interface Node {
  type: string;
  [key: string]: unknown;
}

const MUTATING_METHODS = new Set([
  'push', 'pop', 'shift', 'unshift', 'splice', 'sort', 'reverse', 'fill', 'copyWithin',
  'addRule', 'addAdminRule', 'defineProperty', 'defineProperties', 'setPrototypeOf', 'assign', 'freeze', 'seal',
  'preventExtensions', '__defineGetter__', '__defineSetter__', 'set', 'add', 'delete', 'clear', 'compile', 'setTime',
  'setFullYear', 'setMonth', 'setDate', 'setHours', 'setMinutes', 'setSeconds', 'setMilliseconds', 'setYear',
  'setUTCFullYear', 'setUTCMonth', 'setUTCDate', 'setUTCHours', 'setUTCMinutes', 'setUTCSeconds', 'setUTCMilliseconds',
]);

const isNode = (x: unknown): x is Node => typeof x === 'object' && x !== null && typeof (x as Node).type === 'string';

function children(n: Node): Node[] {
  const out: Node[] = [];
  for (const [k, v] of Object.entries(n)) {
    if (k === 'type' || k === 'start' || k === 'end' || k === 'loc' || k === 'range') continue;
    if (Array.isArray(v)) for (const x of v) { if (isNode(x)) out.push(x); }
    else if (isNode(v)) out.push(v);
  }
  return out;
}

/** Names a function declares for itself: params, `var`/`const`, inner function declarations, its own name, catch params below it. */
function declared(fn: Node): Set<string> {
  const names = new Set<string>(['arguments']);
  const id = fn.id as Node | null;
  if (fn.type === 'FunctionExpression' && id) names.add(id.name as string);
  for (const p of fn.params as Node[]) if (p.type === 'Identifier') names.add(p.name as string);
  const visit = (n: Node): void => {
    if (n.type === 'VariableDeclarator' && (n.id as Node).type === 'Identifier') names.add((n.id as Node).name as string);
    if (n.type === 'FunctionDeclaration' && n.id) { names.add((n.id as Node).name as string); return; }
    if (n.type === 'FunctionExpression') return;
    if (n.type === 'CatchClause' && n.param && (n.param as Node).type === 'Identifier') names.add((n.param as Node).name as string);
    for (const c of children(n)) visit(c);
  };
  visit(fn.body as Node);
  return names;
}

/** Why the file may keep state between questions, or undefined when it cannot (by this check). */
export function mayKeepState(text: string): string | undefined {
  let ast: Node;
  try {
    ast = parse(text.replace(/\bconst\b/g, 'var  '), { ecmaVersion: 5, sourceType: 'script' }) as unknown as Node;
  } catch {
    return undefined; // polkitd does not load it (reported by es5SyntaxError): it cannot keep anything.
  }
  let why: string | undefined;
  const flag = (n: Node, reason: string): void => { why ??= `${reason} (offset ${n.start as number})`; };
  const walk = (n: Node, scopes: Set<string>[]): void => {
    if (why) return;
    const inFunction = scopes.length > 0;
    if (n.type === 'FunctionDeclaration' || n.type === 'FunctionExpression') {
      const inner = [...scopes, declared(n)];
      walk(n.body as Node, inner);
      return;
    }
    const local = (name: string): boolean => scopes.some((s) => s.has(name));
    if (n.type === 'Literal' && n.regex && /[gy]/.test((n.regex as { flags: string }).flags) && !inFunction) {
      flag(n, 'a file-level /g or /y regular expression keeps lastIndex between calls');
    }
    if (n.type === 'ThisExpression' && inFunction) flag(n, 'a rule function uses `this`');
    // Code built at run time escapes this check.
    if (n.type === 'Identifier' && (n.name === 'eval' || n.name === 'Function')) flag(n, `uses ${n.name as string}`);
    if (n.type === 'MemberExpression' && !n.computed) {
      const prop = (n.property as Node).name as string;
      if (prop === 'random' || prop === 'lastIndex' || prop === 'constructor') flag(n, `uses .${prop}`);
    }
    if ((n.type === 'CallExpression' || n.type === 'NewExpression') && !inFunction && (n.callee as Node).type === 'Identifier'
      && (n.callee as Node).name === 'RegExp' && (n.arguments as Node[]).length > 1) {
      flag(n, 'a file-level RegExp with flags may keep lastIndex between calls');
    }
    if (inFunction) {
      if (n.type === 'AssignmentExpression' || n.type === 'UpdateExpression') {
        const target = (n.type === 'AssignmentExpression' ? n.left : n.argument) as Node;
        if (target.type === 'Identifier') {
          if (!local(target.name as string)) flag(n, `assigns to ${target.name as string}, which is not local to a function`);
        } else flag(n, 'writes a property inside a function');
      }
      if (n.type === 'ForInStatement') {
        const left = n.left as Node;
        if (left.type === 'Identifier' && !local(left.name as string)) flag(n, `for-in assigns to ${left.name as string}, which is not local`);
        if (left.type === 'MemberExpression') flag(n, 'for-in writes a property');
      }
      if (n.type === 'UnaryExpression' && n.operator === 'delete') flag(n, 'deletes a property inside a function');
      if (n.type === 'CallExpression' || n.type === 'NewExpression') {
        const callee = n.callee as Node;
        if (callee.type === 'MemberExpression') {
          const prop = callee.computed ? undefined : ((callee.property as Node).name as string);
          if (prop === undefined) flag(n, 'calls a computed method');
          else if (MUTATING_METHODS.has(prop)) flag(n, `calls .${prop}()`);
        }
      }
    }
    for (const c of children(n)) walk(c, scopes);
  };
  walk(ast, []);
  return why;
}
