/**
 * render(model, change) → the `xe` commands a pool admin would run (text/x-shell), one line per action:
 *   xe subject-add subject-name='CORP\dave'            (only when the subject does not exist yet; prints its uuid)
 *   xe subject-role-add uuid=<subject uuid> role-name=<role>
 *   xe subject-role-remove uuid=<subject uuid> role-name=<role>
 * Unrepresentable items (per-object grants, denies, privileges no role grants) become comments naming the
 * nearest pool-wide form; they are not applied.
 */
import type { AccessModel, ChangeItem, ChangeSet, GrantSpec, RenderResult, RenderedItem, Replacement } from '../../domain/access/model.ts';
import { applyXapiChange, classify, validateXapiChange } from './change.ts';
import type { Classified } from './change.ts';
import { effectiveRole } from './effective.ts';
import { POOL_ID, isPending, subjectOf, xapiNative } from './native.ts';
import { isXapiRole, roleRank } from './roles.ts';

export const XAPI_RENDER_FORMAT = 'text/x-shell';

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

interface Ctx {
  lines: string[];
  warnings: string[];
  vars: Map<string, string>;
}

function subjectRef(model: AccessModel, principal: string, ctx: Ctx): string {
  const s = subjectOf(model, principal);
  if (s && !isPending(s)) return s.uuid;
  let v = ctx.vars.get(principal);
  if (!v) {
    v = `SUBJECT_${ctx.vars.size + 1}`;
    ctx.vars.set(principal, v);
    ctx.lines.push(`${v}=$(xe subject-add subject-name=${q(principal)})`);
  }
  return `"$${v}"`;
}

function describe(spec: GrantSpec): string {
  return `${spec.role ?? `[${spec.privileges?.join(', ') ?? ''}]`} for ${spec.principal} on ${spec.resource}`;
}

function fidelityOf(spec: GrantSpec, c: Classified & { representable: true }): Omit<RenderedItem, 'itemId'> {
  if (c.choice) {
    const { fidelity, extra, missing } = c.choice;
    const parts = [`mapped to ${c.role}, the lowest role covering them`];
    if (extra.length > 0) parts.push(`also grants ${extra.join(', ')}`);
    if (missing.length > 0) parts.push(`cannot grant ${missing.join(', ')}`);
    return { fidelity, note: parts.join('; ') };
  }
  if (!spec.propagate) return { fidelity: 'widened', note: 'XAPI roles always cover every object of the pool (propagate=false cannot be kept)' };
  return { fidelity: 'exact' };
}

function shadowWarnings(before: AccessModel, after: AccessModel, spec: GrantSpec, role: string, itemId: string, ctx: Ctx): void {
  if (!isXapiRole(role)) return;
  const had = effectiveRole(before, spec.principal);
  if (had && roleRank(had.role) > roleRank(role)) {
    ctx.warnings.push(`${itemId}: ${spec.principal} already gets ${had.role} (${had.because.join(', ')}); ${role} adds nothing while that holds (highest role wins)`);
  }
  for (const g of after.grants) {
    if (g.principal !== spec.principal || g.role === role || !g.role || !isXapiRole(g.role)) continue;
    if (roleRank(g.role) < roleRank(role)) ctx.warnings.push(`${itemId}: ${spec.principal}'s ${g.role} grant (${g.id}) has no effect while it holds ${role}`);
  }
}

function renderAdd(model: AccessModel, item: ChangeItem & { op: 'add' }, ctx: Ctx): RenderedItem {
  const c = classify(item.grant);
  if (!c.representable) return unrepresentable(model, item.id, item.grant, c, ctx);
  const already = model.grants.some((g) => g.principal === item.grant.principal && g.role === c.role && g.resource === POOL_ID);
  if (already) {
    ctx.lines.push(`# ${item.id}: ${item.grant.principal} already holds ${c.role}; nothing to run`);
    ctx.warnings.push(`${item.id}: ${item.grant.principal} already holds ${c.role} (xe would refuse a duplicate role)`);
    return { itemId: item.id, ...fidelityOf(item.grant, c) };
  }
  ctx.lines.push(`# ${item.id}: add ${c.role} for ${item.grant.principal} (pool-wide)`);
  ctx.lines.push(`xe subject-role-add uuid=${subjectRef(model, item.grant.principal, ctx)} role-name=${c.role}`);
  return { itemId: item.id, ...fidelityOf(item.grant, c) };
}

function renderRemove(model: AccessModel, itemId: string, spec: GrantSpec, role: string, ctx: Ctx, replaced: boolean): void {
  ctx.lines.push(`xe subject-role-remove uuid=${subjectRef(model, spec.principal, ctx)} role-name=${role}`);
  if (!replaced && !model.grants.some((g) => g.principal === spec.principal && g.role !== role)) {
    ctx.warnings.push(`${itemId}: ${spec.principal} keeps its subject record but holds no role afterwards`);
  }
}

function unrepresentable(model: AccessModel, itemId: string, spec: GrantSpec, c: Classified & { representable: false }, ctx: Ctx): RenderedItem {
  const s = subjectOf(model, spec.principal);
  const nearest = c.nearest
    ? `nearest native form: xe subject-role-add uuid=${s && !isPending(s) ? s.uuid : '<subject uuid>'} role-name=${c.nearest} (pool-wide, every VM and host); put the grant on ${POOL_ID} to accept that widening`
    : 'no native form';
  ctx.lines.push(`# ${itemId}: NOT RENDERED: ${describe(spec)}: ${c.reason}`);
  ctx.lines.push(`#   ${nearest}`);
  return { itemId, fidelity: 'unrepresentable', note: `${c.reason}; ${nearest}` };
}

export function renderXapi(model: AccessModel, change: ChangeSet): RenderResult {
  validateXapiChange(model, change);
  const ctx: Ctx = { lines: [], warnings: [], vars: new Map() };
  const items: RenderedItem[] = [];
  const replaces: Replacement[] = [];
  ctx.lines.push(`# Accord change for XAPI pool ${q(xapiNative(model).pool)}: roles are pool-wide; a user gets the highest role of its subject and its groups`);
  let sim = model;
  for (const item of change.items) {
    const before = sim;
    const specs = item.op === 'replace' ? [item.from, item.to] : [item.grant];
    for (const spec of specs) {
      if (spec.expiresAt) ctx.warnings.push(`${item.id}: XAPI has no expiry; Accord must remove the role at ${spec.expiresAt}`);
    }
    if (item.op === 'add') {
      items.push(renderAdd(before, item, ctx));
    } else if (item.op === 'remove') {
      const c = classify(item.grant);
      if (!c.representable) items.push(unrepresentable(before, item.id, item.grant, c, ctx));
      else {
        ctx.lines.push(`# ${item.id}: remove ${c.role} from ${item.grant.principal}`);
        renderRemove(before, item.id, item.grant, c.role, ctx, false);
        items.push({ itemId: item.id, fidelity: 'exact' });
      }
    } else {
      const from = classify(item.from);
      const to = classify(item.to);
      if (!from.representable) items.push(unrepresentable(before, item.id, item.from, from, ctx));
      else if (!to.representable) items.push(unrepresentable(before, item.id, item.to, to, ctx));
      else {
        ctx.lines.push(`# ${item.id}: replace ${from.role} of ${item.from.principal} by ${to.role} of ${item.to.principal}`);
        renderRemove(before, item.id, item.from, from.role, ctx, true);
        ctx.lines.push(`xe subject-role-add uuid=${subjectRef(before, item.to.principal, ctx)} role-name=${to.role}`);
        const old = before.grants.find((g) => g.principal === item.from.principal && g.role === from.role);
        if (old) replaces.push({ itemId: item.id, grantId: old.id, reason: `role ${from.role} is removed before ${to.role} is added` });
        items.push({ itemId: item.id, ...fidelityOf(item.to, to) });
      }
    }
    sim = applyXapiChange(before, { backend: 'xapi', items: [item] });
    if (item.op !== 'remove') {
      const spec = item.op === 'add' ? item.grant : item.to;
      const c = classify(spec);
      if (c.representable) shadowWarnings(before, sim, spec, c.role, item.id, ctx);
    }
  }
  return { format: XAPI_RENDER_FORMAT, text: `${ctx.lines.join('\n')}\n`, items, replaces, warnings: ctx.warnings };
}
