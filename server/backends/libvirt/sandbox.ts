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

/**
 * Batched, traced evaluation of one rule function per question (the fleet evaluator's entry): the rule
 * gets proxies of its action and subject that record every fact it reads, in order, as key/value pairs:
 * `i` action.id, `u` subject.user, `G` subject.groups (whole list), `g<name>` subject.isInGroup(name),
 * `d<key>` a detail (`action.lookup(key)` or the `_detail_` property; value `s<text>` or `u` if absent),
 * `K` the action's own keys (enumeration). Any write to the action, the subject or its group list marks the
 * question `mutated` (later rules would see the change: the caller falls back to whole-chain evaluation).
 * Built-ins the tracer uses are taken before any rules file loads; `intact()` tells whether rules changed them.
 */
const TRACER = `
(function (acc, Real) {
  var T = null;
  var hasOwn = Object.prototype.hasOwnProperty, slice = String.prototype.slice, join = Array.prototype.join;
  var aslice = Array.prototype.slice, apush = Array.prototype.push, stringify = JSON.stringify;
  var R = { get: Reflect.get, has: Reflect.has, ownKeys: Reflect.ownKeys, gopd: Reflect.getOwnPropertyDescriptor,
    set: Reflect.set, def: Reflect.defineProperty, del: Reflect.deleteProperty, spo: Reflect.setPrototypeOf, pe: Reflect.preventExtensions,
    apply: Reflect.apply };
  var P = Proxy, AP = Action.prototype, SP = Subject.prototype, funcs = polkit._ruleFuncs;
  function rec(k, v) {
    if (hasOwn.call(T.seen, k)) return;
    T.seen[k] = true; apush.call(T.trace, k, v);
  }
  function detailKey(p) { return typeof p === 'string' && slice.call(p, 0, 8) === '_detail_'; }
  function detail(t, p) { rec('d' + slice.call(p, 8), hasOwn.call(t, p) ? 's' + t[p] : 'u'); }
  function mutate() { if (T !== null) T.mutated = true; }
  var plainIsInGroup = SP.isInGroup;
  SP.isInGroup = function (group) {
    if (T !== null && this === T.subject && typeof group === 'string') {
      var gs = T.groups, r = false;
      for (var n = 0; n < gs.length; n++) { if (gs[n] === group) { r = true; break; } }
      rec('g' + group, r ? '1' : '0');
      return r;
    }
    return R.apply(plainIsInGroup, this, arguments);
  };
  var AH = {
    get: function (t, p, r) {
      if (T !== null) { if (p === 'id') rec('i', t.id); else if (detailKey(p)) detail(t, p); }
      return R.get(t, p, r);
    },
    has: function (t, p) { if (T !== null && detailKey(p)) detail(t, p); return R.has(t, p); },
    ownKeys: function (t) { var ks = R.ownKeys(t); if (T !== null) rec('K', stringify(ks)); return ks; },
    getOwnPropertyDescriptor: function (t, p) {
      if (T !== null) { if (p === 'id') rec('i', t.id); else if (detailKey(p)) detail(t, p); }
      return R.gopd(t, p);
    },
    set: function (t, p, v) { mutate(); return R.set(t, p, v); },
    defineProperty: function (t, p, d) { mutate(); return R.def(t, p, d); },
    deleteProperty: function (t, p) { mutate(); return R.del(t, p); },
    setPrototypeOf: function (t, x) { mutate(); return R.spo(t, x); },
    preventExtensions: function (t) { mutate(); return R.pe(t); }
  };
  var SH = {
    get: function (t, p, r) {
      if (T !== null) { if (p === 'user') rec('u', T.user); else if (p === 'groups') rec('G', stringify(T.groups)); }
      return R.get(t, p, r);
    },
    getOwnPropertyDescriptor: function (t, p) {
      if (T !== null) { if (p === 'user') rec('u', T.user); else if (p === 'groups') rec('G', stringify(T.groups)); }
      return R.gopd(t, p);
    },
    set: AH.set, defineProperty: AH.defineProperty, deleteProperty: AH.deleteProperty,
    setPrototypeOf: AH.setPrototypeOf, preventExtensions: AH.preventExtensions
  };
  // One question: [rule index, action id, details, user, groups] -> [outcome, value, mutated, trace...].
  function one(q) {
    var a = new Action(); a.id = q[1];
    var d = q[2];
    for (var k in d) { a['_detail_' + k] = d[k]; }
    var user = q[3], groups = aslice.call(q[4]), copy = aslice.call(groups);
    var s = new Subject();
    Object.defineProperty(s, 'user', { enumerable: true, get: function () { return user; } });
    s.pid = 0; s.groups = groups; s.seat = null; s.session = null; s.local = false; s.active = false;
    var st = { trace: [], seen: Object.create(null), mutated: false, user: user, groups: groups, subject: null };
    var pa = new P(a, AH), ps = new P(s, SH);
    st.subject = ps;
    var out;
    T = st;
    try {
      var r = funcs[q[0]](pa, ps);
      T = null;
      if (!r) out = [0, null];
      else if (typeof r === 'string') out = [1, r];
      else out = [2, 'invalid result ' + String(r)];
    } catch (e) {
      T = null;
      var m;
      try { m = e instanceof Error ? e.message : String(e); } catch (e2) { m = 'error'; }
      out = [2, m];
    }
    var changed = s.groups !== groups || groups.length !== copy.length;
    for (var n = 0; !changed && n < copy.length; n++) changed = groups[n] !== copy[n];
    apush.call(out, st.mutated || changed);
    for (var i = 0; i < st.trace.length; i++) apush.call(out, st.trace[i]);
    return out;
  }
  // Runs questions from acc.at on, leaving each outcome in acc.out (a timeout keeps the finished ones).
  acc.batch = function () {
    T = null;
    var qs = acc.qs, out = acc.out;
    for (; acc.at < qs.length; acc.at++) out[acc.at] = one(qs[acc.at]);
  };
  acc.single = function () { T = null; acc.out[acc.at] = one(acc.qs[acc.at]); };
})(__accord);
`;

/** Objects whose own properties (and prototype) must not change after the prelude for traced evaluation to be exact. */
const GUARDED = `[globalThis, Object, Object.prototype, Function.prototype, Array, Array.prototype, String, String.prototype,
  Number.prototype, Boolean.prototype, RegExp, RegExp.prototype, JSON, Reflect, Math, Date, Date.prototype, Error, Error.prototype,
  Action, Action.prototype, Subject, Subject.prototype, polkit, polkit.Result]`;
const SNAPSHOT = `(function () {
  var out = [];
  var objs = ${GUARDED};
  for (var i = 0; i < objs.length; i++) {
    var o = objs[i];
    out.push(o, Object.getPrototypeOf(o));
    var ks = Reflect.ownKeys(o);
    for (var j = 0; j < ks.length; j++) {
      var k = ks[j];
      if (o === globalThis && typeof k === 'string' && !/^(Object|Function|Array|String|Number|Boolean|RegExp|JSON|Reflect|Proxy|Math|Date|Error|Action|Subject|polkit|__accord|undefined)$/.test(k)) continue;
      var d = Object.getOwnPropertyDescriptor(o, k);
      out.push(k, d.value, d.get, d.set, d.writable, d.configurable);
    }
  }
  out.push(__accord.batch, __accord.single, __accord.run, polkit._ruleFuncs, polkit._origins);
  return out;
})()`;

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

/** One rule function asked one question (`evaluateRules`). */
export interface RuleQuestion {
  rule: number;
  id: string;
  details: Readonly<Record<string, string>>;
  user: string;
  groups: readonly string[];
}

/**
 * What the rule returned: `null` (falsy: later rules decide), `result` (a truthy string: polkitd's answer
 * if it is a valid result, else an error), `error` (threw or timed out). `trace` alternates read keys and
 * values in the order first read; `mutated` when it wrote to its action or subject.
 */
export interface RuleOutcome {
  kind: 'null' | 'result' | 'error';
  value: string | null;
  mutated: boolean;
  trace: string[];
}

const BATCH = 2_000;
const timedOut = (e: unknown): boolean => (e as { code?: string } | null)?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT';

/** Rules loaded once; `evaluate` answers one (action, details, subject) question. */
export class PolkitSandbox {
  readonly warnings: string[] = [];
  readonly log: string[] = [];
  readonly #context: vm.Context;
  readonly #timeoutMs: number;
  readonly #call = new vm.Script('__accord.result = __accord.run(__accord.q.id, __accord.q.details, __accord.q.user, __accord.q.groups);');
  readonly #batch = new vm.Script('__accord.batch();');
  readonly #single = new vm.Script('__accord.single();');
  #intact = false;

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
    vm.runInContext(fixedDate(options.nowMs) + PRELUDE + TRACER, this.#context);
    const before = vm.runInContext(SNAPSHOT, this.#context) as unknown[];
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
    const after = vm.runInContext(SNAPSHOT, this.#context) as unknown[];
    this.#intact = after.length === before.length && after.every((x, i) => Object.is(x, before[i]));
  }

  /** False when loading the rules changed a built-in or polkit's own objects: traced evaluation is then not trusted. */
  get intact(): boolean {
    return this.#intact;
  }

  /** The file each rule function (by index, in polkitd's order of addition) came from. */
  get origins(): readonly string[] {
    return [...(this.#context.polkit as { _origins: string[] })._origins];
  }

  /**
   * Runs rule `q.rule` alone on each question, in one sandbox entry per batch (a batch that hits the time
   * limit is finished question by question, each with the per-evaluation limit, as `evaluate` has).
   */
  evaluateRules(questions: readonly RuleQuestion[]): RuleOutcome[] {
    const state = this.#context.__accord as Record<string, unknown>;
    const out: unknown[][] = [];
    for (let from = 0; from < questions.length; from += BATCH) {
      const part = questions.slice(from, from + BATCH);
      state.qs = part.map((q) => [q.rule, q.id, { ...q.details }, q.user, [...q.groups]]);
      state.out = new Array(part.length);
      state.at = 0;
      while ((state.at as number) < part.length) {
        try {
          this.#batch.runInContext(this.#context, { timeout: this.#timeoutMs * 5 });
        } catch (e) {
          if (!timedOut(e)) throw e;
          // The question running when the batch's time ran out gets its own full limit, like `evaluate`.
          const at = state.at as number;
          try {
            this.#single.runInContext(this.#context, { timeout: this.#timeoutMs });
          } catch (again) {
            if (!timedOut(again)) throw again;
            (state.out as unknown[][])[at] = [2, (again as Error).message, false];
          }
          state.at = at + 1;
        }
      }
      out.push(...(state.out as unknown[][]));
    }
    return out.map((o) => {
      const trace: string[] = [];
      for (let i = 3; i < o.length; i++) trace.push(String(o[i]));
      return { kind: o[0] === 0 ? 'null' : o[0] === 1 ? 'result' : 'error', value: o[1] === null ? null : String(o[1]), mutated: o[2] === true, trace };
    });
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
