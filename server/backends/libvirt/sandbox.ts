/**
 * A faithful, minimal polkitd JavaScript authority in `node:vm`: rules files loaded in polkitd's
 * order into one shared global (as duktape does), `polkit._runRules` semantics from polkit's init.js,
 * and polkitd's outcome for errors (polkitbackendduktapeauthority.c: any error → not authorized).
 */
import vm from 'node:vm';
import { parse } from 'acorn';
import { IMPLICIT_VALUES, type Implicit } from './actions.ts';

export interface RulesFile {
  /** Path as polkitd sees it (basename decides order). */
  path: string;
  text: string;
}

export interface Verdict {
  /** null: no rule decided (the action's defaults apply). */
  result: Implicit | null;
  /** Path of the file whose rule decided, or which raised an error. */
  file?: string;
  error?: string;
  /** Whether any rule read `subject.user` (otherwise the verdict depends on groups only). */
  readUser: boolean;
}

const basename = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
const cmp = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** polkitd's order: by basename (strcmp); on a tie the full path decides (/etc before /usr). */
export function polkitOrder<T extends { path: string }>(files: readonly T[]): T[] {
  return [...files].sort((a, b) => cmp(basename(a.path), basename(b.path)) || cmp(a.path, b.path));
}

/**
 * Syntax duktape 2.7 rejects (past ES5, except `const`, which it accepts) makes polkitd skip the whole
 * file. `const` is swapped for `var` of the same length only for this check.
 */
export function es5SyntaxError(text: string): string | undefined {
  try {
    parse(text.replace(/\bconst\b/g, 'var  '), { ecmaVersion: 5, sourceType: 'script' });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Built-ins that node has and duktape 2.7 (polkitd 122) lacks, measured against polkitd here; a rule
 * that calls one throws there, so it must throw here too.
 */
const MISSING_IN_DUKTAPE = [
  'Array.prototype.includes', 'Array.prototype.find', 'Array.prototype.findIndex', 'Array.prototype.fill',
  'Array.prototype.flat', 'Array.prototype.flatMap', 'Array.prototype.at', 'Array.prototype.findLast', 'Array.prototype.findLastIndex',
  'Array.from', 'Array.of', 'Object.entries', 'Object.values', 'Object.fromEntries',
  'String.prototype.padStart', 'String.prototype.padEnd', 'String.prototype.trimStart', 'String.prototype.trimEnd',
  'String.prototype.matchAll', 'String.prototype.replaceAll', 'String.prototype.at',
];
const MISSING_GLOBALS = ['Map', 'Set', 'WeakMap', 'WeakSet', 'WeakRef', 'Promise', 'BigInt'];

const PRELUDE = `
${MISSING_IN_DUKTAPE.map((p) => `delete ${p};`).join('\n')}
${MISSING_GLOBALS.map((g) => `delete globalThis.${g};`).join('\n')}
function Action() {}
Action.prototype.lookup = function (name) { return this["_detail_" + name]; };
function Subject() {}
Subject.prototype.isInGroup = function (group) {
  for (var n = 0; n < this.groups.length; n++) { if (this.groups[n] == group) return true; }
  return false;
};
Subject.prototype.isInNetGroup = function (netGroup) { return false; };
polkit.Result = { NO: "no", YES: "yes", AUTH_SELF: "auth_self", AUTH_SELF_KEEP: "auth_self_keep",
  AUTH_ADMIN: "auth_admin", AUTH_ADMIN_KEEP: "auth_admin_keep", NOT_HANDLED: null };
polkit._ruleFuncs = []; polkit._origins = []; polkit._adminRuleFuncs = [];
polkit.addRule = function (cb) { this._ruleFuncs.push(cb); this._origins.push(__accord.file); };
polkit.addAdminRule = function (cb) { this._adminRuleFuncs.push(cb); };
__accord.run = function (id, details, user, groups) {
  var a = new Action(); a.id = id;
  for (var k in details) { a["_detail_" + k] = details[k]; }
  var s = new Subject();
  Object.defineProperty(s, "user", { enumerable: true, get: function () { __accord.readUser = true; return user; } });
  s.pid = 0; s.groups = groups; s.seat = null; s.session = null; s.local = false; s.active = false;
  for (var n = 0; n < polkit._ruleFuncs.length; n++) {
    __accord.index = n;
    var r = polkit._ruleFuncs[n](a, s);
    if (r) return r;
  }
  return null;
};
`;

function fixedDate(nowMs: number): string {
  return `(function (Real) {
  function D() {
    if (!(this instanceof D)) return new Real(${nowMs}).toString();
    if (arguments.length === 0) return new Real(${nowMs});
    var args = [null]; for (var i = 0; i < arguments.length; i++) args.push(arguments[i]);
    return new (Function.prototype.bind.apply(Real, args))();
  }
  D.prototype = Real.prototype; D.now = function () { return ${nowMs}; }; D.UTC = Real.UTC; D.parse = Real.parse;
  Date = D;
})(Date);`;
}

export interface SandboxOptions {
  /** Milliseconds since the epoch that rules see as "now". */
  nowMs: number;
  /** Per-load and per-evaluation limit, like polkitd's runaway killer (which allows 15 s). */
  timeoutMs?: number;
}

/** Rules loaded once; `evaluate` answers one (action, details, subject) question. */
export class PolkitSandbox {
  readonly warnings: string[] = [];
  readonly log: string[] = [];
  readonly #context: vm.Context;
  readonly #timeoutMs: number;
  readonly #call = new vm.Script('__accord.result = __accord.run(__accord.q.id, __accord.q.details, __accord.q.user, __accord.q.groups);');

  constructor(files: readonly RulesFile[], options: SandboxOptions) {
    this.#timeoutMs = options.timeoutMs ?? 1_000;
    const state: Record<string, unknown> = { file: '' };
    const polkit = {
      log: (m: unknown) => { if (this.log.length < 1_000) this.log.push(String(m)); },
      spawn: () => { throw new Error('polkit.spawn() is not run by Accord\'s evaluator'); },
      _userIsInNetGroup: () => false,
    };
    // eval and new Function stay: duktape has them and rules may use them.
    this.#context = vm.createContext({ polkit, __accord: state });
    vm.runInContext(fixedDate(options.nowMs) + PRELUDE, this.#context);
    for (const f of polkitOrder(files)) {
      const syntax = es5SyntaxError(f.text);
      if (syntax) {
        this.warnings.push(`${f.path}: not loaded: polkitd (duktape, ES5) cannot compile it: ${syntax}`);
        continue;
      }
      state.file = f.path;
      try {
        new vm.Script(f.text, { filename: f.path }).runInContext(this.#context, { timeout: this.#timeoutMs });
      } catch (e) {
        this.warnings.push(`${f.path}: error while loading (rules added before it stay): ${(e as Error).message}`);
      }
    }
  }

  evaluate(id: string, details: Readonly<Record<string, string>>, user: string, groups: readonly string[]): Verdict {
    const state = this.#context.__accord as Record<string, unknown>;
    state.q = { id, details: { ...details }, user, groups: [...groups] };
    state.readUser = false;
    state.index = -1;
    const origins = (this.#context.polkit as { _origins: string[] })._origins;
    const at = (): string | undefined => origins[state.index as number];
    try {
      this.#call.runInContext(this.#context, { timeout: this.#timeoutMs });
    } catch (e) {
      return { result: 'no', file: at(), error: (e as Error).message, readUser: true };
    }
    const r = state.result;
    if (r === null || r === undefined) return { result: null, readUser: state.readUser === true };
    if (typeof r === 'string' && (IMPLICIT_VALUES as readonly string[]).includes(r)) {
      return { result: r as Implicit, file: at(), readUser: state.readUser === true };
    }
    return { result: 'no', file: at(), error: `invalid result ${String(r)}`, readUser: true };
  }
}
