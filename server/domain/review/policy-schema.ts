/**
 * Review policies as admins write them (YAML), validated with zod into the `Policy` the engine reads.
 * Format and examples: docs/policies.md. Every error names the field path and, when the text is YAML,
 * the line, because a policy that silently means something else than its author thought is worse
 * than one that fails to load: unknown fields are errors, not ignored.
 */
import { z } from 'zod';
import { LineCounter, isMap, isScalar, parseDocument, type Document } from 'yaml';
import { BACKEND_IDS, type BackendId } from '../access/model.ts';
import type { Reviewer } from './types.ts';

export const REVIEWER_ROLES = ['viewer', 'reviewer', 'approver', 'admin'] as const satisfies readonly Reviewer['role'][];
export type ReviewerRole = (typeof REVIEWER_ROLES)[number];

/** Who counts as a member of a class: every given criterion must match (see docs/policies.md). */
export interface ReviewerClass {
  name: string;
  description?: string;
  /** Minimum Accord role. */
  role?: ReviewerRole;
  /** Member of at least one of these Accord groups. */
  groups?: string[];
  /** One of these usernames. */
  users?: string[];
  /** A counted reject from a member rejects the change. */
  veto: boolean;
}

export type Requirement =
  | { kind: 'class'; id: string; description?: string; class: string; approvals: number | 'all' }
  | { kind: 'all' | 'any'; id: string; description?: string; of: Requirement[] };

export interface Stage {
  name: string;
  description?: string;
  require: Requirement;
}

export interface PolicySelector {
  backend?: BackendId[];
  /** Matches when the change carries at least one of these environment tags. */
  environment?: string[];
  /** `high`: the revision gains a high-risk privilege; `normal`: it does not. */
  risk?: 'high' | 'normal';
}

export interface Policy {
  name: string;
  description?: string;
  select: PolicySelector;
  classes: Record<string, ReviewerClass>;
  /** Evaluated in order: stage N+1 opens when stage N is met. */
  stages: Stage[];
  /** Distinct counted voters present in the live session before the change can be approved. */
  presence?: { minimum: number };
  /** A reject without a reason does not count (and is reported). */
  requireRejectReason: boolean;
  /** `veto`: an item reject from a veto class rejects like a whole reject; `advisory`: it only withholds that voter's approval. */
  itemRejects: 'advisory' | 'veto';
  /** `auto`: an approved change is applied through its target as soon as its sign-off is in (docs/targets.md); `manual`: an admin presses Apply. */
  apply: 'manual' | 'auto';
}

/** Ids the engine uses for its own rows; a requirement may not take them. */
export const RESERVED_IDS = ['presence'] as const;

export interface PolicyIssue {
  path: string;
  line?: number;
  message: string;
}

export class PolicyError extends Error {
  readonly issues: PolicyIssue[];
  constructor(issues: PolicyIssue[], file?: string) {
    const where = (i: PolicyIssue) => [file, i.line].filter((x) => x !== undefined).join(':');
    super(issues.map((i) => [where(i), i.path, i.message].filter(Boolean).join(': ')).join('\n'));
    this.name = 'PolicyError';
    this.issues = issues;
  }
}

const NAME = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'use 1-64 letters, digits, ".", "_" or "-"');
/** `x` or `[x, y]`: a single value is the common case in hand-written YAML. */
const oneOrMany = <T extends z.ZodType>(item: T) =>
  z.preprocess((v) => (Array.isArray(v) ? v : v === undefined ? v : [v]), z.array(item).min(1));

const ClassSchema = z
  .strictObject({
    description: z.string().optional(),
    role: z.enum(REVIEWER_ROLES).optional(),
    groups: oneOrMany(z.string().min(1)).optional(),
    users: oneOrMany(z.string().min(1)).optional(),
    veto: z.boolean().default(false),
  })
  .refine((c) => c.role !== undefined || c.groups !== undefined || c.users !== undefined, {
    message: 'a class needs at least one of role, groups or users',
  });

interface RawRequirement {
  id?: string | undefined;
  description?: string | undefined;
  class?: string | undefined;
  approvals?: number | 'all' | undefined;
  all?: RawRequirement[] | undefined;
  any?: RawRequirement[] | undefined;
}

// One object with optional keys (not a union) so that a mistake is reported at its own path.
const RequirementSchema: z.ZodType<RawRequirement> = z.lazy(() =>
  z
    .strictObject({
      id: NAME.optional(),
      description: z.string().optional(),
      class: NAME.optional(),
      approvals: z.union([z.number().int().min(1), z.literal('all')], { error: 'a whole number >= 1 or "all"' }).optional(),
      all: z.array(RequirementSchema).min(1).optional(),
      any: z.array(RequirementSchema).min(1).optional(),
    })
    .superRefine((r, ctx) => {
      const kinds = (['class', 'all', 'any'] as const).filter((k) => r[k] !== undefined);
      if (kinds.length !== 1) ctx.addIssue({ code: 'custom', message: 'a requirement has exactly one of class, all or any' });
      if (r.class !== undefined && r.approvals === undefined) {
        ctx.addIssue({ code: 'custom', path: ['approvals'], message: 'required with class (a number or "all")' });
      }
      if (r.class === undefined && r.approvals !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['approvals'], message: 'only allowed next to class' });
      }
    }),
);

const StageSchema = z.strictObject({ name: NAME, description: z.string().optional(), require: RequirementSchema });

const PolicySchema = z
  .strictObject({
    name: NAME,
    description: z.string().optional(),
    select: z
      .strictObject({
        backend: oneOrMany(z.enum(BACKEND_IDS)).optional(),
        environment: oneOrMany(z.string().min(1)).optional(),
        risk: z.enum(['high', 'normal']).optional(),
      })
      .default({}),
    classes: z.record(NAME, ClassSchema).refine((c) => Object.keys(c).length > 0, 'define at least one class'),
    require: RequirementSchema.optional(),
    stages: z.array(StageSchema).min(1).optional(),
    presence: z.strictObject({ minimum: z.number().int().min(1) }).optional(),
    requireRejectReason: z.boolean().default(true),
    itemRejects: z.enum(['advisory', 'veto']).default('advisory'),
    apply: z.enum(['manual', 'auto']).default('manual'),
  })
  .superRefine((p, ctx) => {
    if ((p.require === undefined) === (p.stages === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give either require (one stage) or stages, not both or neither' });
    }
  });

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : out ? `.${String(k)}` : String(k);
  return out;
}

/** Turn the validated raw form into the engine's shape, checking what zod cannot see locally. */
function normalise(raw: z.output<typeof PolicySchema>): { policy: Policy; issues: { path: PropertyKey[]; message: string }[] } {
  const issues: { path: PropertyKey[]; message: string }[] = [];
  const classes: Record<string, ReviewerClass> = {};
  for (const [name, c] of Object.entries(raw.classes)) classes[name] = { name, ...c };
  const ids = new Set<string>(RESERVED_IDS);
  const claim = (id: string, path: PropertyKey[]) => {
    if (ids.has(id)) issues.push({ path, message: `requirement id "${id}" is used twice (or reserved)` });
    ids.add(id);
  };
  const convert = (r: RawRequirement, autoId: string, path: PropertyKey[]): Requirement => {
    const id = r.id ?? autoId;
    claim(id, [...path, ...(r.id !== undefined ? ['id'] : [])]);
    const description = r.description !== undefined ? { description: r.description } : {};
    if (r.class !== undefined) {
      if (!Object.hasOwn(classes, r.class)) {
        issues.push({ path: [...path, 'class'], message: `unknown class "${r.class}" (defined: ${Object.keys(classes).join(', ')})` });
      }
      return { kind: 'class', id, ...description, class: r.class, approvals: r.approvals ?? 1 };
    }
    const kind = r.all !== undefined ? 'all' : 'any';
    const list = r.all ?? r.any ?? [];
    return { kind, id, ...description, of: list.map((c, i) => convert(c, `${id}.${i + 1}`, [...path, kind, i])) };
  };
  const rawStages = raw.stages ?? (raw.require ? [{ name: 'approval', require: raw.require }] : []);
  const stageNames = new Set<string>();
  const stages = rawStages.map((s, i): Stage => {
    const base: PropertyKey[] = raw.stages ? ['stages', i] : [];
    if (stageNames.has(s.name)) issues.push({ path: [...base, 'name'], message: `stage "${s.name}" is defined twice` });
    stageNames.add(s.name);
    const require = convert(s.require, s.name, [...base, 'require']);
    return { name: s.name, ...(s.description !== undefined ? { description: s.description } : {}), require };
  });
  const policy: Policy = {
    name: raw.name,
    ...(raw.description !== undefined ? { description: raw.description } : {}),
    select: raw.select,
    classes,
    stages,
    ...(raw.presence ? { presence: raw.presence } : {}),
    requireRejectReason: raw.requireRejectReason,
    itemRejects: raw.itemRejects,
    apply: raw.apply,
  };
  return { policy, issues };
}

/** Validate an already-parsed value (e.g. from JSON). Throws PolicyError naming each bad path. */
export function validatePolicy(value: unknown, file?: string): Policy {
  return check(value, undefined, file);
}

/** Parse one policy from YAML text; errors carry file, line and path. */
export function parsePolicyYaml(text: string, file?: string): Policy {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      doc.errors.map((e) => ({ path: '', line: lineCounter.linePos(e.pos[0]).line, message: e.message.split('\n')[0] ?? e.message })),
      file,
    );
  }
  return check(doc.toJS({ maxAliasCount: 100 }), { doc, lineCounter }, file);
}

function check(value: unknown, src: { doc: Document; lineCounter: LineCounter } | undefined, file?: string): Policy {
  const lineOf = (path: readonly PropertyKey[], key?: string): number | undefined => {
    if (!src) return undefined;
    // Walk up to the nearest node that exists: `backend: hyperv` has no node at backend[0].
    let depth = path.length;
    while (depth > 0 && !src.doc.hasIn(path.slice(0, depth))) depth--;
    if (depth < path.length) key = undefined;
    const node: unknown = src.doc.getIn(path.slice(0, depth), true);
    const target: unknown =
      key !== undefined && isMap(node) ? node.items.find((p) => isScalar(p.key) && p.key.value === key)?.key : node;
    const range = (target as { range?: [number, number, number] } | undefined)?.range;
    return range ? src.lineCounter.linePos(range[0]).line : undefined;
  };
  const result = PolicySchema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.flatMap((i): PolicyIssue[] => {
      if (i.code === 'unrecognized_keys') {
        return i.keys.map((k) => ({ path: formatPath([...i.path, k]), line: lineOf(i.path, k), message: 'unknown field' }));
      }
      return [{ path: formatPath(i.path), line: lineOf(i.path), message: i.message }];
    });
    throw new PolicyError(issues.map(dropUndefinedLine), file);
  }
  const { policy, issues } = normalise(result.data);
  if (issues.length > 0) {
    throw new PolicyError(issues.map((i) => dropUndefinedLine({ path: formatPath(i.path), line: lineOf(i.path), message: i.message })), file);
  }
  return policy;
}

function dropUndefinedLine(i: PolicyIssue): PolicyIssue {
  return i.line === undefined ? { path: i.path, message: i.message } : i;
}

/** A set of policies (in precedence order) must not reuse a name: a change records its policy by name. */
export function checkPolicySet(policies: readonly Policy[]): void {
  const seen = new Set<string>();
  for (const p of policies) {
    if (seen.has(p.name)) throw new PolicyError([{ path: 'name', message: `policy "${p.name}" is defined twice` }]);
    seen.add(p.name);
  }
}
