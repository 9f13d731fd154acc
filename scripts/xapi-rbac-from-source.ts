/**
 * Derive Accord's XAPI permission table from xen-api's datamodel (issue 22, "XAPI exact from source").
 *
 *   node scripts/xapi-rbac-from-source.ts <xen-api bare git dir or checkout> [commit]
 *
 * writes
 *   test/fixtures/xen-api/excerpt.txt     the exact upstream lines the table depends on (commit, file:line)
 *   server/backends/xapi/rbac-table.ts    the generated table
 * and `node scripts/xapi-rbac-from-source.ts --check` re-derives the table from the vendored excerpt and
 * compares it with the shipped one (the same check as test/backends/xapi/rbac-source.test.ts).
 *
 * How xapi decides who may call what (cited from xen-api; paths are repo-relative there):
 * - ocaml/idl/datamodel_roles.ml: the roles `ordered` "in decreasing total linear order of privileges";
 *   `_R_POOL_ADMIN` ... `_R_READ_ONLY` are `roles_gte <role>` (every role from the top down to it),
 *   `_R_LOCAL_ROOT_ONLY = Some []`, `_R_CLIENT_CERT` is the internal client-cert role, `++` is union.
 * - ocaml/idl/datamodel_common.ml `call`: `~allowed_roles` is a message's own role list; `create_obj` replaces
 *   a `None` by the class's `~messages_default_allowed_roles`; the implicit getters (get_record, get_by_uuid,
 *   get_all...) take `~implicit_messages_allowed_roles` (default `_R_ALL`).
 * - ocaml/idl/datamodel_utils.ml `messages_of_obj`: the implicit constructor/destructor (`create`/`destroy`,
 *   kept only when `~gen_constructor_destructor:true`) take the class default (`obj_allowed_roles`).
 * - ocaml/idl/ocaml_backend/gen_rbac.ml: a permission is the lower-cased wire name `Class.message`
 *   (`vm.start`); a map key restricted by `~map_keys_roles` is `<permission>/key:<key>`; an HTTP action is
 *   `http/<name>`, its sub-actions `http/<name>/<sub>` (`rbac_http_permission_prefix`).
 *
 * The parser is a small OCaml tokenizer plus ocamlformat's layout (structure items start at the column of
 * their module's body), enough for the datamodel files; anything it cannot read for a mapped permission
 * throws rather than guess.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { XAPI_PERMISSION_INPUT } from './xapi-rbac-mapping.ts';
import type { PermissionInput } from './xapi-rbac-mapping.ts';

export const UPSTREAM = 'xapi-project/xen-api';
export const LICENSE_LINE =
  'xen-api is Copyright (C) Citrix Systems Inc. and its contributors, licensed under the GNU Lesser General Public License version 2.1 only with the OCaml static-linking exception (xen-api LICENSE); the lines below are copied unmodified.';
export const EXCERPT_PATH = 'test/fixtures/xen-api/excerpt.txt';
export const TABLE_PATH = 'server/backends/xapi/rbac-table.ts';

/** The accessible roles Accord models, highest first (datamodel_roles.ml `ordered` minus internal roles). */
export type MinRole = 'pool-admin' | 'pool-operator' | 'vm-power-admin' | 'vm-admin' | 'vm-operator' | 'read-only';

export interface DerivedEntry {
  /** xapi's RBAC permission name (gen_rbac.ml: lower-cased wire name). */
  permission: string;
  /** Lowest role allowed. */
  minRole: MinRole;
  /** The role expression as written upstream (`_R_VM_OP`, `_R_POOL_OP ++ _R_CLIENT_CERT`). */
  roles: string;
  /** Where that expression is: `ocaml/idl/<file>.ml:<line>`. */
  source: string;
  /** How the roles reach the permission. */
  via: 'allowed_roles' | 'module call default' | 'class default' | 'implicit default' | 'map_keys_roles' | 'http_actions';
  /** Where the message, key or HTTP action itself is named: `<file>:<line>`. */
  defined: string;
  common: PermissionInput['common'];
}

/** Files read, by upstream path, plus the commit they come from. Sparse (excerpt) files keep line numbers. */
export interface SourceSet {
  commit: string;
  files: Map<string, string>;
  /** An excerpt: bindings the table does not depend on are absent, so their absence is not an error. */
  sparse?: boolean;
}

// ---------------------------------------------------------------------------------------------- tokenizer

export interface Tok {
  kind: 'ident' | 'label' | 'string' | 'char' | 'num' | 'punct' | 'op';
  text: string;
  /** Decoded string literal, or label name. */
  value: string;
  line: number;
  col: number;
  endLine: number;
}

export interface Lexed {
  toks: Tok[];
  /** Line spans of multi-line comments and strings (both ends inclusive). */
  spans: { from: number; to: number }[];
}

const IDENT_START = /[A-Za-z_`]/;
const IDENT_CHAR = /[A-Za-z0-9_']/;
const OP_CHAR = /[!$%&*+\-./:<=>?@^|~#]/;

export function lex(text: string, file: string): Lexed {
  const toks: Tok[] = [];
  const spans: { from: number; to: number }[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const n = text.length;
  const fail = (msg: string): never => {
    throw new Error(`${file}:${line}: ${msg}`);
  };
  const nl = (at: number) => {
    line++;
    lineStart = at + 1;
  };
  while (i < n) {
    const c = text[i] as string;
    if (c === '\n') {
      nl(i);
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    const startLine = line;
    const col = i - lineStart;
    if (c === '(' && text[i + 1] === '*' && text[i + 2] !== ')') {
      let depth = 0;
      while (i < n) {
        if (text[i] === '(' && text[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (text[i] === '*' && text[i + 1] === ')') {
          depth--;
          i += 2;
          if (depth === 0) break;
        } else if (text[i] === '"') {
          i = skipString(i);
        } else {
          if (text[i] === '\n') nl(i);
          i++;
        }
      }
      if (depth !== 0) fail('unterminated comment');
      if (line > startLine) spans.push({ from: startLine, to: line });
      continue;
    }
    if (c === '"') {
      const end = skipString(i);
      toks.push({ kind: 'string', text: text.slice(i, end), value: decodeString(text.slice(i + 1, end - 1)), line: startLine, col, endLine: line });
      if (line > startLine) spans.push({ from: startLine, to: line });
      i = end;
      continue;
    }
    if (c === "'" && (text[i + 2] === "'" || text[i + 1] === '\\')) {
      let j = i + 1;
      if (text[j] === '\\') j++;
      while (j < n && text[j] !== "'") j++;
      toks.push({ kind: 'char', text: text.slice(i, j + 1), value: text.slice(i + 1, j), line, col, endLine: line });
      i = j + 1;
      continue;
    }
    if ((c === '~' || c === '?') && /[a-z_]/.test(text[i + 1] ?? '')) {
      let j = i + 1;
      while (j < n && IDENT_CHAR.test(text[j] as string)) j++;
      const name = text.slice(i + 1, j);
      const hasColon = text[j] === ':' && text[j + 1] !== ':';
      toks.push({ kind: 'label', text: text.slice(i, hasColon ? j + 1 : j), value: name, line, col, endLine: line });
      i = hasColon ? j + 1 : j;
      continue;
    }
    if (c === "'" && /[a-z_]/.test(text[i + 1] ?? '')) {
      // A type variable ('state).
      let j = i + 1;
      while (j < n && IDENT_CHAR.test(text[j] as string)) j++;
      toks.push({ kind: 'ident', text: text.slice(i, j), value: text.slice(i, j), line, col, endLine: line });
      i = j;
      continue;
    }
    if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < n && IDENT_CHAR.test(text[j] as string)) j++;
      // Module paths: `Other_config.add_to_other_config`, `Constants.get_vm_rrd`.
      while (/[A-Z]/.test(text[i] as string) && text[j] === '.' && /[A-Za-z_]/.test(text[j + 1] ?? '')) {
        j++;
        while (j < n && IDENT_CHAR.test(text[j] as string)) j++;
      }
      const word = text.slice(i, j);
      toks.push({ kind: 'ident', text: word, value: word, line, col, endLine: line });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < n && /[0-9A-Za-z_.]/.test(text[j] as string)) j++;
      toks.push({ kind: 'num', text: text.slice(i, j), value: text.slice(i, j), line, col, endLine: line });
      i = j;
      continue;
    }
    if ('()[]{};,'.includes(c)) {
      toks.push({ kind: 'punct', text: c, value: c, line, col, endLine: line });
      i++;
      continue;
    }
    if (OP_CHAR.test(c)) {
      let j = i + 1;
      while (j < n && OP_CHAR.test(text[j] as string)) j++;
      toks.push({ kind: 'op', text: text.slice(i, j), value: text.slice(i, j), line, col, endLine: line });
      i = j;
      continue;
    }
    fail(`unexpected character ${JSON.stringify(c)}`);
  }
  return { toks, spans };

  function skipString(from: number): number {
    let j = from + 1;
    while (j < n && text[j] !== '"') {
      if (text[j] === '\\') j++;
      if (text[j] === '\n') nl(j);
      j++;
    }
    if (j >= n) fail('unterminated string');
    return j + 1;
  }
}

function decodeString(body: string): string {
  return body.replace(/\\\r?\n[ \t]*|\\(.)/g, (_m, ch: string | undefined) => {
    if (ch === undefined) return '';
    return ch === 'n' ? '\n' : ch === 't' ? '\t' : ch;
  });
}

// ---------------------------------------------------------------------------------------------- structure

export interface Binding {
  file: string;
  name: string;
  /** Enclosing modules, outermost first. */
  path: string[];
  /** Token index range of the body (after `=`), end exclusive. */
  from: number;
  to: number;
  line: number;
  endLine: number;
}

interface ModuleSpan {
  name: string;
  path: string[];
  line: number;
  endLine: number;
}

export interface ParsedFile {
  file: string;
  lex: Lexed;
  bindings: Binding[];
  modules: ModuleSpan[];
}

/** Structure items by ocamlformat layout: a module body is indented two columns deeper than `module`. */
export function structure(file: string, text: string): ParsedFile {
  const lx = lex(text, file);
  const { toks } = lx;
  const bindings: Binding[] = [];
  const modules: ModuleSpan[] = [];
  const stack: { name: string; col: number; line: number }[] = [];
  const bodyCol = () => (stack.length === 0 ? 0 : (stack[stack.length - 1]?.col ?? 0) + 2);
  const firstOnLine = (k: number) => k === 0 || (toks[k - 1]?.line ?? 0) < (toks[k]?.line ?? 0);
  const isItemStart = (k: number) => {
    const t = toks[k];
    return t !== undefined && t.kind === 'ident' && firstOnLine(k) && t.col <= bodyCol()
      && ['let', 'module', 'end', 'type', 'open', 'include', 'exception'].includes(t.text);
  };
  let k = 0;
  while (k < toks.length) {
    const t = toks[k] as Tok;
    if (!isItemStart(k)) {
      k++;
      continue;
    }
    if (t.text === 'end' && stack.length > 0 && t.col === stack[stack.length - 1]?.col) {
      const m = stack.pop() as { name: string; col: number; line: number };
      modules.push({ name: m.name, path: [...stack.map((s) => s.name), m.name], line: m.line, endLine: t.line });
      k++;
      continue;
    }
    if (t.text === 'module' && toks[k + 2]?.text === '=' && toks[k + 3]?.text === 'struct') {
      stack.push({ name: toks[k + 1]?.text ?? '', col: t.col, line: t.line });
      k += 4;
      continue;
    }
    let j = k + 1;
    while (j < toks.length && !isItemStart(j)) j++;
    if (t.text === 'let') {
      let h = k + 1;
      if (toks[h]?.text === 'rec') h++;
      const name = toks[h]?.text ?? '';
      // The `=` of the binding, past parameters such as `?(x = default)`.
      let eq = h + 1;
      while (eq < j && toks[eq]?.text !== '=') eq = toks[eq]?.kind === 'punct' && OPEN[toks[eq]?.text ?? ''] ? matchClose(toks, eq, j) + 1 : eq + 1;
      const last = toks[j - 1] as Tok;
      bindings.push({ file, name, path: stack.map((s) => s.name), from: eq + 1, to: j, line: t.line, endLine: last.endLine });
    }
    k = j;
  }
  if (stack.length > 0) throw new Error(`${file}: module ${stack[stack.length - 1]?.name} not closed`);
  return { file, lex: lx, bindings, modules };
}

// ---------------------------------------------------------------------------------------------- derivation

const OPEN: Record<string, string> = { '(': ')', '[': ']', '{': '}' };

/** Index just past the balanced expression starting at `k` (an atom, or a bracketed group). */
function skipValue(toks: Tok[], k: number, end: number): number {
  const t = toks[k];
  if (t === undefined || k >= end) throw new Error('expression expected');
  if (t.kind === 'punct' && OPEN[t.text]) return matchClose(toks, k, end) + 1;
  return k + 1;
}

function matchClose(toks: Tok[], k: number, end: number): number {
  let depth = 0;
  for (let j = k; j < end; j++) {
    const x = toks[j] as Tok;
    if (x.kind !== 'punct') continue;
    if (OPEN[x.text]) depth++;
    else if (x.text === ')' || x.text === ']' || x.text === '}') {
      depth--;
      if (depth === 0) return j;
    }
  }
  throw new Error(`unbalanced ${toks[k]?.text} at line ${toks[k]?.line}`);
}

/** Labelled arguments at depth 0 of a token range: label → [from, to) of the value. */
function labelledArgs(toks: Tok[], from: number, to: number): Map<string, { from: number; to: number; line: number }> {
  const out = new Map<string, { from: number; to: number; line: number }>();
  let k = from;
  while (k < to) {
    const t = toks[k] as Tok;
    if (t.kind === 'label' && t.text.endsWith(':')) {
      let e = skipValue(toks, k + 1, to);
      // `_R_POOL_OP ++ _R_CLIENT_CERT` without parentheses (http_actions style) is one value.
      while (toks[e]?.text === '++') e = skipValue(toks, e + 1, to);
      out.set(t.value, { from: k + 1, to: e, line: t.line });
      k = e;
    } else if (t.kind === 'punct' && OPEN[t.text]) {
      k = matchClose(toks, k, to) + 1;
    } else k++;
  }
  return out;
}

const exprText = (toks: Tok[], from: number, to: number) => toks.slice(from, to).map((t) => t.text).join(' ').replace(/\( /g, '(').replace(/ \)/g, ')');

interface Roles {
  ordered: { name: string; internal: boolean }[];
  /** `_R_*` and `role_*` bindings of datamodel_roles.ml. */
  binding: Map<string, Binding>;
}

export class Deriver {
  readonly src: SourceSet;
  readonly parsed = new Map<string, ParsedFile>();
  /** Lines each derivation read, by file (for the excerpt). */
  readonly used = new Map<string, Set<number>>();
  #roles: Roles | undefined;

  constructor(src: SourceSet) {
    this.src = src;
  }

  file(path: string): ParsedFile {
    let p = this.parsed.get(path);
    if (!p) {
      const text = this.src.files.get(path);
      if (text === undefined) throw new Error(`source file missing: ${path}`);
      p = structure(path, text);
      this.parsed.set(path, p);
    }
    return p;
  }

  use(file: string, from: number, to = from): void {
    let s = this.used.get(file);
    if (!s) this.used.set(file, (s = new Set()));
    for (let l = from; l <= to; l++) s.add(l);
  }

  useBinding(b: Binding): void {
    this.use(b.file, b.line, b.endLine);
    // The modules around it, so that scoping reads the same from an excerpt.
    for (const m of this.file(b.file).modules) {
      if (m.line <= b.line && b.line <= m.endLine) {
        this.use(b.file, m.line);
        this.use(b.file, m.endLine);
      }
    }
  }

  /** A binding visible from `path` (innermost module first), optionally `Mod.name` qualified. */
  lookup(file: string, ref: string, path: string[], beforeLine: number): Binding | undefined {
    const parts = ref.split('.');
    const name = parts.pop() as string;
    const pf = this.file(file);
    for (let depth = path.length; depth >= 0; depth--) {
      const want = [...path.slice(0, depth), ...parts];
      const found = pf.bindings.filter((b) => b.name === name && b.line < beforeLine && b.path.join('.') === want.join('.'));
      const last = found[found.length - 1];
      if (last) return last;
    }
    return undefined;
  }

  get roles(): Roles {
    if (this.#roles) return this.#roles;
    const f = 'ocaml/idl/datamodel_roles.ml';
    const pf = this.file(f);
    const binding = new Map(pf.bindings.map((b) => [b.name, b]));
    const ordB = binding.get('ordered');
    if (!ordB) throw new Error(`${f}: no 'ordered' role list`);
    this.useBinding(ordB);
    const toks = pf.lex.toks;
    const ordered: { name: string; internal: boolean }[] = [];
    // [ (role_x, "description", internal) ; ... ]
    for (let k = ordB.from; k < ordB.to; k++) {
      const t = toks[k] as Tok;
      if (t.text !== '(' || toks[k - 1]?.text === 'Some') continue;
      const close = matchClose(toks, k, ordB.to);
      const inner = toks.slice(k + 1, close);
      const roleRef = inner[0];
      const internal = inner[inner.length - 1];
      if (roleRef?.kind !== 'ident' || internal?.kind !== 'ident') throw new Error(`${f}:${t.line}: unexpected role tuple`);
      ordered.push({ name: this.roleName(roleRef.text), internal: internal.text === 'true' });
      k = close;
    }
    this.#roles = { ordered, binding };
    return this.#roles;
  }

  roleName(ref: string): string {
    const f = 'ocaml/idl/datamodel_roles.ml';
    const b = this.file(f).bindings.find((x) => x.name === ref && x.path.length === 0);
    const t = b && this.file(f).lex.toks[b.from];
    if (!b || t?.kind !== 'string') throw new Error(`${f}: role constant ${ref} not found`);
    this.useBinding(b);
    return t.value;
  }

  /** Evaluate a role expression to a set of role names, or undefined for `None`. */
  evalRoles(file: string, toks: Tok[], from: number, to: number): Set<string> | undefined {
    const terms: (Set<string> | undefined)[] = [];
    let k = from;
    while (k < to) {
      const t = toks[k] as Tok;
      if (t.text === '++') {
        k++;
        continue;
      }
      if (t.text === '(') {
        const close = matchClose(toks, k, to);
        terms.push(this.evalRoles(file, toks, k + 1, close));
        k = close + 1;
      } else if (t.text === 'None') {
        terms.push(undefined);
        k++;
      } else if (t.text === 'Some') {
        const e = skipValue(toks, k + 1, to);
        terms.push(this.evalSome(file, toks, k + 1, e));
        k = e;
      } else if (t.kind === 'ident' && /^(Datamodel_roles\.)?_R_[A-Z_]+$/.test(t.text)) {
        const name = t.text.replace(/^Datamodel_roles\./, '');
        const b = this.roles.binding.get(name);
        if (!b) throw new Error(`${file}:${t.line}: unknown role shortcut ${t.text}`);
        this.useBinding(b);
        const rf = this.file('ocaml/idl/datamodel_roles.ml');
        terms.push(this.evalRoles(rf.file, rf.lex.toks, b.from, b.to));
        k++;
      } else throw new Error(`${file}:${t.line}: cannot evaluate role expression at ${JSON.stringify(t.text)}`);
    }
    if (terms.length === 0) throw new Error(`${file}: empty role expression`);
    // `++` (datamodel_roles.ml `union`): None ++ x = x.
    if (terms.every((x) => x === undefined)) return undefined;
    return new Set(terms.flatMap((x) => (x ? [...x] : [])));
  }

  evalSome(file: string, toks: Tok[], from: number, to: number): Set<string> {
    let a = from;
    let b = to;
    if (toks[a]?.text === '(' && matchClose(toks, a, to) === b - 1) {
      a++;
      b--;
    }
    const t = toks[a] as Tok;
    if (t.text === 'roles_gte') {
      const ref = toks[a + 1];
      if (ref?.kind !== 'ident' || a + 2 !== b) throw new Error(`${file}:${t.line}: unexpected roles_gte argument`);
      const target = this.roleName(ref.text);
      const names = this.roles.ordered.map((r) => r.name);
      const at = names.indexOf(target);
      if (at < 0) throw new Error(`${file}:${t.line}: role ${target} is not in 'ordered'`);
      return new Set(names.slice(0, at + 1));
    }
    if (t.text === '[') {
      const out = new Set<string>();
      for (let k = a + 1; k < b - 1; k++) {
        const x = toks[k] as Tok;
        if (x.text === ';') continue;
        if (x.kind === 'string') out.add(x.value);
        else if (x.kind === 'ident') out.add(this.roleName(x.text));
        else throw new Error(`${file}:${x.line}: unexpected ${x.text} in role list`);
      }
      return out;
    }
    throw new Error(`${file}:${t.line}: cannot evaluate Some ${t.text}`);
  }

  /** Lowest accessible role of a role set that must be upward closed (every role above it included). */
  minRole(set: Set<string> | undefined, where: string): MinRole {
    if (set === undefined) throw new Error(`${where}: no roles (None)`);
    const visible = this.roles.ordered.filter((r) => !r.internal).map((r) => r.name);
    const held = visible.filter((r) => set.has(r));
    if (held.length === 0) throw new Error(`${where}: only local root (or internal roles) may call it`);
    const lowest = held[held.length - 1] as string;
    const expect = visible.slice(0, visible.indexOf(lowest) + 1);
    if (expect.some((r) => !set.has(r))) throw new Error(`${where}: role set ${[...set].join(',')} is not upward closed`);
    return lowest as MinRole;
  }

  // ------------------------------------------------------------------------------------------- classes

  classConst(cls: string): { ref: string; name: string } {
    const f = 'ocaml/idl/datamodel_common.ml';
    const pf = this.file(f);
    for (const b of pf.bindings) {
      const t = pf.lex.toks[b.from];
      if (b.path.length === 0 && b.name.startsWith('_') && b.to === b.from + 1 && t?.kind === 'string' && t.value.toLowerCase() === cls) {
        this.useBinding(b);
        return { ref: b.name, name: t.value };
      }
    }
    throw new Error(`${f}: no class constant for ${cls}`);
  }

  classDef(cls: string) {
    const { ref, name } = this.classConst(cls);
    for (const path of this.datamodelFiles()) {
      const pf = this.file(path);
      const toks = pf.lex.toks;
      for (const b of pf.bindings) {
        if (toks[b.from]?.text !== 'create_obj') continue;
        const args = labelledArgs(toks, b.from + 1, b.to);
        const nameArg = args.get('name');
        if (!nameArg || exprText(toks, nameArg.from, nameArg.to) !== ref) continue;
        this.use(path, b.line, toks[b.from]?.line ?? b.line);
        const need = (label: string) => {
          const a = args.get(label);
          if (a) this.use(path, a.line, toks[a.to - 1]?.endLine ?? a.line);
          return a;
        };
        need('name');
        const def = need('messages_default_allowed_roles');
        if (!def) throw new Error(`${path}:${b.line}: class ${name} has no messages_default_allowed_roles`);
        const msgs = need('messages');
        const ctor = need('gen_constructor_destructor');
        const implicit = need('implicit_messages_allowed_roles');
        const inDb = need('in_db');
        return { name, path, binding: b, toks, args, def, msgs, ctor, implicit, inDb, nameLine: nameArg.line };
      }
    }
    throw new Error(`no create_obj with ~name:${ref} (${name})`);
  }

  datamodelFiles(): string[] {
    return [...this.src.files.keys()].filter((p) => /^ocaml\/idl\/datamodel[a-z_]*\.ml$/.test(p)).sort();
  }

  /** The message bindings a class lists in `~messages`, with their `~name`. */
  classMessages(c: ReturnType<Deriver['classDef']>) {
    const out: { msg: string; binding: Binding; nameLine: number; args: ReturnType<typeof labelledArgs>; toks: Tok[] }[] = [];
    if (!c.msgs) return out;
    for (let k = c.msgs.from; k < c.msgs.to; k++) {
      const t = c.toks[k] as Tok;
      if (t.kind !== 'ident') continue;
      const b = this.lookup(c.path, t.text, c.binding.path, c.binding.line);
      if (!b) {
        if (this.src.sparse) continue;
        throw new Error(`${c.path}:${t.line}: message binding ${t.text} not found`);
      }
      const toks = this.file(b.file).lex.toks;
      if (toks[b.from]?.text !== 'call') continue; // not a plain `call` (reported only if a mapped permission needs it)
      const args = labelledArgs(toks, b.from + 1, b.to);
      const nm = args.get('name');
      const nt = nm && toks[nm.from];
      if (nt?.kind !== 'string') continue;
      out.push({ msg: nt.value, binding: b, nameLine: nm?.line ?? b.line, args, toks });
    }
    return out;
  }

  derive(input: PermissionInput): DerivedEntry {
    const perm = input.permission;
    if (perm.startsWith('http/')) return this.deriveHttp(input);
    const m = /^([a-z0-9_]+)\.([a-z0-9_]+)(?:\/key:(.+))?$/.exec(perm);
    if (!m) throw new Error(`not an xapi permission name: ${perm}`);
    const [, cls, msgName, key] = m as unknown as [string, string, string, string | undefined];
    const c = this.classDef(cls);
    const where = `${perm}`;
    const at = (file: string, line: number) => `${file}:${line}`;
    const named = this.classMessages(c).filter((x) => x.msg.toLowerCase() === msgName);
    if (named.length > 1) throw new Error(`${where}: ${named.length} messages of that name`);
    const explicit = named[0];
    if (explicit) {
      this.useBinding(explicit.binding);
      const { toks, binding: b } = explicit;
      if (key !== undefined) {
        const mk = explicit.args.get('map_keys_roles');
        if (!mk) throw new Error(`${where}: message has no ~map_keys_roles`);
        return { ...this.mapKey(b, toks, mk, key, where), permission: perm, common: [...input.common] };
      }
      let roles = explicit.args.get('allowed_roles');
      let rolesToks = toks;
      let rolesFile = b.file;
      let via: DerivedEntry['via'] = 'allowed_roles';
      if (!roles) {
        // `let call = call ~allowed_roles:... ` partially applied in the same module (datamodel_vm.ml Other_config).
        const partial = this.lookup(b.file, 'call', b.path, b.line);
        const ptoks = partial && this.file(partial.file).lex.toks;
        if (!partial || !ptoks || ptoks[partial.from]?.text !== 'call') throw new Error(`${where}: no ~allowed_roles`);
        this.useBinding(partial);
        roles = labelledArgs(ptoks, partial.from + 1, partial.to).get('allowed_roles');
        if (!roles) throw new Error(`${where}: no ~allowed_roles`);
        rolesToks = ptoks;
        rolesFile = partial.file;
        via = 'module call default';
      }
      let set = this.evalRoles(rolesFile, rolesToks, roles.from, roles.to);
      let rolesExpr = exprText(rolesToks, roles.from, roles.to);
      let source = at(rolesFile, rolesToks[roles.from]?.line ?? roles.line);
      if (set === undefined) {
        // create_obj: a message without roles takes the class default.
        set = this.evalRoles(c.path, c.toks, c.def.from, c.def.to);
        rolesExpr = exprText(c.toks, c.def.from, c.def.to);
        source = at(c.path, c.toks[c.def.from]?.line ?? c.def.line);
        via = 'class default';
      }
      return { permission: perm, minRole: this.minRole(set, where), roles: rolesExpr, source, via, defined: at(b.file, explicit.nameLine), common: [...input.common] };
    }
    if (key !== undefined) throw new Error(`${where}: key permissions are only derived for explicit messages`);
    // Implicit messages (datamodel_utils.ml messages_of_obj).
    if (msgName === 'create' || msgName === 'destroy') {
      const gen = c.ctor && exprText(c.toks, c.ctor.from, c.ctor.to);
      if (gen !== 'true') throw new Error(`${where}: class has no generated constructor/destructor`);
      const set = this.evalRoles(c.path, c.toks, c.def.from, c.def.to);
      return {
        permission: perm, minRole: this.minRole(set, where), roles: exprText(c.toks, c.def.from, c.def.to),
        source: at(c.path, c.toks[c.def.from]?.line ?? c.def.line), via: 'class default', defined: at(c.path, c.ctor?.line ?? c.nameLine), common: [...input.common],
      };
    }
    if (['get_record', 'get_by_uuid', 'get_all', 'get_all_records', 'get_by_name_label'].includes(msgName)) {
      if (c.inDb && exprText(c.toks, c.inDb.from, c.inDb.to) !== 'true') throw new Error(`${where}: class is not in the database`);
      if (c.implicit) {
        const set = this.evalRoles(c.path, c.toks, c.implicit.from, c.implicit.to);
        return {
          permission: perm, minRole: this.minRole(set, where), roles: exprText(c.toks, c.implicit.from, c.implicit.to),
          source: at(c.path, c.toks[c.implicit.from]?.line ?? c.implicit.line), via: 'implicit default', defined: at(c.path, c.nameLine), common: [...input.common],
        };
      }
      const d = this.implicitDefault();
      return { permission: perm, minRole: this.minRole(d.set, where), roles: d.expr, source: d.source, via: 'implicit default', defined: at(c.path, c.nameLine), common: [...input.common] };
    }
    throw new Error(`${where}: no message ${msgName} in class ${c.name} (field accessors are not derived)`);
  }

  /** `?(implicit_messages_allowed_roles = _R_ALL)` in datamodel_common.ml `create_obj`. */
  implicitDefault(): { set: Set<string> | undefined; expr: string; source: string } {
    const f = 'ocaml/idl/datamodel_common.ml';
    const pf = this.file(f);
    const b = pf.bindings.find((x) => x.name === 'create_obj' && x.path.length === 0);
    if (!b) throw new Error(`${f}: create_obj not found`);
    const toks = pf.lex.toks;
    // The parameters sit between `let create_obj` and its `=`, i.e. before b.from.
    let k = toks.findIndex((t) => t.line === b.line && t.text === 'let');
    if (k < 0) throw new Error(`${f}:${b.line}: create_obj binding not found`);
    for (; k < b.from; k++) if (toks[k]?.text === 'implicit_messages_allowed_roles' && toks[k + 1]?.text === '=') break;
    if (k >= b.from) throw new Error(`${f}: no implicit_messages_allowed_roles default`);
    const open = k - 1;
    const close = matchClose(toks, open, b.from);
    const t = toks[k] as Tok;
    this.use(f, b.line);
    this.use(f, t.line, toks[close]?.line ?? t.line);
    return { set: this.evalRoles(f, toks, k + 2, close), expr: exprText(toks, k + 2, close), source: `${f}:${t.line}` };
  }

  mapKey(b: Binding, toks: Tok[], mk: { from: number; to: number }, key: string, where: string): Omit<DerivedEntry, 'permission' | 'common'> {
    let list = { file: b.file, toks, from: mk.from, to: mk.to };
    const ref = toks[mk.from] as Tok;
    if (ref.kind === 'ident' && mk.to === mk.from + 1) {
      const lb = this.lookup(b.file, ref.text, b.path, b.line);
      if (!lb) throw new Error(`${where}: ${ref.text} not found`);
      this.useBinding(lb);
      list = { file: lb.file, toks: this.file(lb.file).lex.toks, from: lb.from, to: lb.to };
    }
    const lt = list.toks;
    for (let k = list.from; k < list.to; k++) {
      if (lt[k]?.text !== '(' || lt[k + 1]?.kind !== 'string' || lt[k + 2]?.text !== ',') continue;
      const close = matchClose(lt, k, list.to);
      if (lt[k + 1]?.value !== key) {
        k = close;
        continue;
      }
      const set = this.evalRoles(list.file, lt, k + 3, close);
      const line = lt[k + 3]?.line ?? 0;
      return { minRole: this.minRole(set, where), roles: exprText(lt, k + 3, close), source: `${list.file}:${line}`, via: 'map_keys_roles', defined: `${list.file}:${lt[k + 1]?.line}` };
    }
    throw new Error(`${where}: key ${key} not in map_keys_roles`);
  }

  deriveHttp(input: PermissionInput): DerivedEntry {
    const perm = input.permission;
    const [action, sub, extra] = perm.slice('http/'.length).split('/');
    if (action === undefined || extra !== undefined) throw new Error(`bad http permission ${perm}`);
    const f = 'ocaml/idl/datamodel.ml';
    const pf = this.file(f);
    const b = pf.bindings.find((x) => x.name === 'http_actions' && x.path.length === 0);
    if (!b) throw new Error(`${f}: http_actions not found`);
    const toks = pf.lex.toks;
    const listOpen = b.from;
    if (toks[listOpen]?.text !== '[') throw new Error(`${f}:${b.line}: http_actions is not a list`);
    const listClose = matchClose(toks, listOpen, b.to);
    this.use(f, b.line, toks[listOpen]?.line ?? b.line);
    this.use(f, toks[listClose]?.line ?? b.endLine);
    for (let k = listOpen + 1; k < listClose; k++) {
      if (toks[k]?.text !== '(') continue;
      const close = matchClose(toks, k, listClose);
      // ( name , ( Meth , uri , sdk , [args] , roles , [ (sub, roles) ] ) )
      const nameTok = toks[k + 1] as Tok;
      const name = this.httpName(nameTok);
      if (name === action) {
        this.use(f, toks[k]?.line ?? 0, toks[close]?.endLine ?? 0);
        const innerOpen = k + 3;
        if (toks[k + 2]?.text !== ',' || toks[innerOpen]?.text !== '(') throw new Error(`${f}:${nameTok.line}: unexpected http action shape`);
        const innerClose = matchClose(toks, innerOpen, close);
        const parts = splitTop(toks, innerOpen + 1, innerClose);
        const rolesPart = parts[4];
        const subs = parts[5];
        if (!rolesPart || !subs || parts.length !== 6) throw new Error(`${f}:${nameTok.line}: http action ${name} does not have 6 fields`);
        if (sub === undefined) {
          const set = this.evalRoles(f, toks, rolesPart.from, rolesPart.to);
          return {
            permission: perm, minRole: this.minRole(set, perm), roles: exprText(toks, rolesPart.from, rolesPart.to),
            source: `${f}:${toks[rolesPart.from]?.line}`, via: 'http_actions', defined: `${f}:${nameTok.line}`, common: [...input.common],
          };
        }
        for (let s = subs.from; s < subs.to; s++) {
          if (toks[s]?.text !== '(' || toks[s + 1]?.kind !== 'string') continue;
          const sc = matchClose(toks, s, subs.to);
          if (toks[s + 1]?.value === sub && toks[s + 2]?.text === ',') {
            const set = this.evalRoles(f, toks, s + 3, sc);
            return {
              permission: perm, minRole: this.minRole(set, perm), roles: exprText(toks, s + 3, sc),
              source: `${f}:${toks[s + 3]?.line}`, via: 'http_actions', defined: `${f}:${toks[s + 1]?.line}`, common: [...input.common],
            };
          }
          s = sc;
        }
        throw new Error(`${perm}: http action ${action} has no sub-action ${sub}`);
      }
      k = close;
    }
    throw new Error(`${perm}: no http action ${action} in ${f}`);
  }

  httpName(t: Tok): string {
    if (t.kind === 'string') return t.value;
    const m = /^Constants\.([a-z_0-9]+)$/.exec(t.text);
    if (!m) throw new Error(`http action name ${t.text} at line ${t.line} is neither a string nor Constants.x`);
    const f = 'ocaml/xapi-consts/constants.ml';
    const pf = this.file(f);
    const b = pf.bindings.find((x) => x.name === m[1] && x.path.length === 0);
    const v = b && pf.lex.toks[b.from];
    if (!b || v?.kind !== 'string' || b.to !== b.from + 1) throw new Error(`${f}: ${m[1]} is not a string constant`);
    this.useBinding(b);
    return v.value;
  }
}

function splitTop(toks: Tok[], from: number, to: number): { from: number; to: number }[] {
  const out: { from: number; to: number }[] = [];
  let start = from;
  let k = from;
  while (k < to) {
    const t = toks[k] as Tok;
    if (t.kind === 'punct' && OPEN[t.text]) k = matchClose(toks, k, to) + 1;
    else if (t.text === ',') {
      out.push({ from: start, to: k });
      start = ++k;
    } else k++;
  }
  out.push({ from: start, to });
  return out;
}

/** Derive every mapped permission. Throws on the first one the source does not support. */
export function deriveTable(src: SourceSet, input: readonly PermissionInput[] = XAPI_PERMISSION_INPUT): { entries: DerivedEntry[]; deriver: Deriver } {
  const d = new Deriver(src);
  const seen = new Set<string>();
  const entries = input.map((x) => {
    if (seen.has(x.permission)) throw new Error(`duplicate mapping for ${x.permission}`);
    seen.add(x.permission);
    return d.derive(x);
  });
  return { entries, deriver: d };
}

// ---------------------------------------------------------------------------------------------- excerpt

/** The lines used, widened so that the excerpt lexes and nests exactly like the full file. */
export function closeLines(pf: ParsedFile, used: Set<number>): Set<number> {
  const keep = new Set(used);
  const { toks, spans } = pf.lex;
  const pairs: [number, number][] = [];
  const stack: number[] = [];
  for (let k = 0; k < toks.length; k++) {
    const t = toks[k] as Tok;
    if (t.kind !== 'punct') continue;
    if (OPEN[t.text]) stack.push(k);
    else if (t.text === ')' || t.text === ']' || t.text === '}') {
      const o = stack.pop();
      if (o !== undefined) pairs.push([toks[o]?.line ?? 0, t.line]);
    }
  }
  let changed = true;
  while (changed) {
    changed = false;
    const add = (l: number) => {
      if (!keep.has(l)) {
        keep.add(l);
        changed = true;
      }
    };
    for (const s of spans) if ([...range(s.from, s.to)].some((l) => keep.has(l))) for (const l of range(s.from, s.to)) add(l);
    for (const [a, b] of pairs) {
      if (keep.has(a)) add(b);
      if (keep.has(b)) add(a);
    }
  }
  return keep;
}

function* range(a: number, b: number) {
  for (let l = a; l <= b; l++) yield l;
}

export function renderExcerpt(d: Deriver): string {
  const out = [
    `# ${UPSTREAM} at commit ${d.src.commit}: the lines that ${TABLE_PATH} is derived from.`,
    `# ${LICENSE_LINE}`,
    '# Generated by scripts/xapi-rbac-from-source.ts; do not edit. Each line: <upstream path>:<line><TAB><text>.',
    `commit ${d.src.commit}`,
  ];
  for (const file of [...d.used.keys()].sort()) {
    const pf = d.file(file);
    const text = (d.src.files.get(file) ?? '').split('\n');
    const lines = [...closeLines(pf, d.used.get(file) ?? new Set())].sort((a, b) => a - b);
    for (const l of lines) out.push(`${file}:${l}\t${text[l - 1] ?? ''}`);
  }
  return `${out.join('\n')}\n`;
}

/** Read an excerpt back as sparse files (missing lines blank, line numbers kept). */
export function parseExcerpt(text: string): SourceSet {
  let commit = '';
  const byFile = new Map<string, Map<number, string>>();
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '' || line.startsWith('#')) continue;
    const c = /^commit ([0-9a-f]{40})$/.exec(line);
    if (c) {
      commit = c[1] as string;
      continue;
    }
    const m = /^([A-Za-z0-9_./-]+):(\d+)\t(.*)$/.exec(line);
    if (!m) throw new Error(`${EXCERPT_PATH}:${i + 1}: not an excerpt line`);
    let f = byFile.get(m[1] as string);
    if (!f) byFile.set(m[1] as string, (f = new Map()));
    f.set(Number(m[2]), m[3] as string);
  }
  if (!commit) throw new Error(`${EXCERPT_PATH}: no commit line`);
  const files = new Map<string, string>();
  for (const [file, lines] of byFile) {
    const max = Math.max(...lines.keys());
    files.set(file, Array.from({ length: max }, (_, i) => lines.get(i + 1) ?? '').join('\n'));
  }
  return { commit, files, sparse: true };
}

/** The line of a file in an excerpt, or undefined. */
export function excerptLine(src: SourceSet, at: string): string | undefined {
  const m = /^(.+):(\d+)$/.exec(at);
  if (!m) return undefined;
  const line = src.files.get(m[1] as string)?.split('\n')[Number(m[2]) - 1];
  return line === '' ? undefined : line;
}

// ---------------------------------------------------------------------------------------------- table

export function renderTable(entries: readonly DerivedEntry[], commit: string): string {
  const rows = entries.map((e) =>
    `  { permission: ${JSON.stringify(e.permission)}, minRole: ${JSON.stringify(e.minRole)}, roles: ${JSON.stringify(e.roles)}, source: ${JSON.stringify(e.source)}, via: ${JSON.stringify(e.via)}, defined: ${JSON.stringify(e.defined)}, common: ${JSON.stringify(e.common)} },`);
  return [
    '/**',
    ` * GENERATED by scripts/xapi-rbac-from-source.ts from ${UPSTREAM} at ${commit}; do not edit.`,
    ' * Each entry: xapi permission, the lowest role allowed to use it, the role expression and where it is',
    ` * written upstream (file:line; vendored in ${EXCERPT_PATH}), how it applies, where the message is named,`,
    ' * and the common privileges Accord maps it to (hand-maintained in scripts/xapi-rbac-mapping.ts).',
    ' * test/backends/xapi/rbac-source.test.ts re-derives this table from the excerpt and fails on any difference.',
    ' */',
    "import type { CommonPrivilege } from '../../domain/access/model.ts';",
    '',
    `export const XEN_API_COMMIT = ${JSON.stringify(commit)};`,
    '',
    'export interface RbacTableEntry {',
    '  permission: string;',
    "  minRole: 'pool-admin' | 'pool-operator' | 'vm-power-admin' | 'vm-admin' | 'vm-operator' | 'read-only';",
    '  roles: string;',
    '  source: string;',
    "  via: 'allowed_roles' | 'module call default' | 'class default' | 'implicit default' | 'map_keys_roles' | 'http_actions';",
    '  defined: string;',
    '  common: CommonPrivilege[];',
    '}',
    '',
    'export const RBAC_TABLE: readonly RbacTableEntry[] = [',
    ...rows,
    '];',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------- reading upstream

const SOURCE_FILES = (all: string[]) =>
  all.filter((p) => /^ocaml\/idl\/datamodel[a-z_]*\.ml$/.test(p) || p === 'ocaml/xapi-consts/constants.ml');

/** Read the needed files from a bare git dir, a checkout, or a checkout's .git. */
export function readUpstream(dir: string, commit = 'HEAD'): SourceSet {
  const bare = existsSync(join(dir, 'HEAD')) && existsSync(join(dir, 'objects'));
  const git = (...args: string[]) =>
    execFileSync('git', bare ? ['--git-dir', dir, ...args] : ['-C', dir, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const sha = git('rev-parse', `${commit}^{commit}`).trim();
  const files = new Map<string, string>();
  if (bare || commit !== 'HEAD') {
    const names = git('ls-tree', '-r', '--name-only', sha, '--', 'ocaml/idl', 'ocaml/xapi-consts').split('\n');
    for (const p of SOURCE_FILES(names)) files.set(p, git('show', `${sha}:${p}`));
  } else {
    const idl = readdirSync(join(dir, 'ocaml/idl')).map((f) => `ocaml/idl/${f}`);
    for (const p of SOURCE_FILES([...idl, 'ocaml/xapi-consts/constants.ml'])) files.set(p, readFileSync(join(dir, p), 'utf8'));
  }
  return { commit: sha, files };
}

function main(argv: string[]): void {
  if (argv[0] === '--check') {
    const src = parseExcerpt(readFileSync(EXCERPT_PATH, 'utf8'));
    const { entries } = deriveTable(src);
    const want = renderTable(entries, src.commit);
    if (readFileSync(TABLE_PATH, 'utf8') !== want) {
      process.stderr.write(`${TABLE_PATH} differs from what ${EXCERPT_PATH} gives; regenerate it\n`);
      process.exitCode = 1;
    }
    return;
  }
  const dir = argv[0];
  if (!dir) {
    process.stderr.write('usage: node scripts/xapi-rbac-from-source.ts <xen-api git dir or checkout> [commit] | --check\n');
    process.exitCode = 2;
    return;
  }
  const src = readUpstream(dir, argv[1]);
  const { entries, deriver } = deriveTable(src);
  const excerpt = renderExcerpt(deriver);
  // The excerpt alone must give the same table.
  const again = deriveTable(parseExcerpt(excerpt)).entries;
  if (JSON.stringify(again) !== JSON.stringify(entries)) throw new Error('the excerpt does not reproduce the table (parser bug)');
  writeFileSync(EXCERPT_PATH, excerpt);
  writeFileSync(TABLE_PATH, renderTable(entries, src.commit));
  process.stdout.write(`${entries.length} permissions from ${src.commit}; wrote ${EXCERPT_PATH} and ${TABLE_PATH}\n`);
}

if (import.meta.main) main(process.argv.slice(2));
