/**
 * The record format that the `xe` CLI prints (`xe subject-list`, `xe role-list`, `xe vm-list`, `params=all`):
 *
 *   uuid ( RO)                  : 6f5d...
 *       subject-identifier ( RO): S-1-5-21-...
 *             other-config (MRO): subject-name: CORP\alice; subject-is-group: false
 *                    roles (SRO): vm-admin
 *
 * Records are separated by blank lines; each line is `key ( QUAL): value` with the key padded either side.
 * Map fields (MRO/MRW) print `k: v; k: v`, set fields (SRO/SRW) print `a; b`. Pure: text in, data out.
 */
import { AccessInputError } from '../../domain/access/model.ts';

export const XE_QUALIFIERS = ['RO', 'RW', 'MRO', 'MRW', 'SRO', 'SRW'] as const;
export type XeQualifier = (typeof XE_QUALIFIERS)[number];

export interface XeField {
  key: string;
  qualifier: XeQualifier;
  value: string;
  line: number;
}

export interface XeRecord {
  /** 1-based line of the record's first field. */
  line: number;
  fields: Map<string, XeField>;
}

const FIELD = /^\s*([A-Za-z0-9][A-Za-z0-9_.\-]*)\s*\(\s*(RO|RW|MRO|MRW|SRO|SRW)\s*\)\s*:\s?(.*)$/;

/** Parse `xe ... -list` output. A line that is neither blank nor a field throws, naming file and line. */
export function parseXeRecords(text: string, file: string): XeRecord[] {
  const records: XeRecord[] = [];
  let current: XeRecord | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const lineNo = i + 1;
    if (raw.trim() === '') {
      current = undefined;
      continue;
    }
    const m = FIELD.exec(raw);
    if (!m) {
      const hint = /^[0-9a-f-]{36}(,[0-9a-f-]{36})*$/i.test(raw.trim()) ? ' (--minimal output carries no records; run without --minimal)' : '';
      throw new AccessInputError(`not an xe record line: ${JSON.stringify(raw.slice(0, 80))}${hint}`, { file, line: lineNo });
    }
    const key = m[1] ?? '';
    const field: XeField = { key, qualifier: (m[2] ?? 'RO') as XeQualifier, value: (m[3] ?? '').trimEnd(), line: lineNo };
    // Some printed examples omit the blank line between records: a second `uuid` starts a new record.
    if (current && key === 'uuid' && current.fields.has('uuid')) current = undefined;
    if (!current) {
      current = { line: lineNo, fields: new Map() };
      records.push(current);
    }
    if (current.fields.has(key)) throw new AccessInputError(`duplicate field ${key} in one record`, { file, line: lineNo });
    current.fields.set(key, field);
  }
  return records;
}

/**
 * `k: v; k: v` → object (xe prints maps with records.ml `get_from_map`: `"%s: %s"` joined by `"; "`, no
 * escaping). An empty value prints as `k: `; as the last entry its trailing blank is gone once the line is
 * trimmed, leaving `k:`, which is the key `k` with an empty value. Keys without `: ` are kept with an
 * empty value.
 */
export function parseXeMap(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (value.trim() === '') return out;
  for (const part of value.split('; ')) {
    const at = part.indexOf(': ');
    if (at >= 0) out[part.slice(0, at).trim()] = part.slice(at + 2).trim();
    else if (part.trimEnd().endsWith(':')) out[part.trimEnd().slice(0, -1).trim()] = '';
    else out[part.trim()] = '';
  }
  return out;
}

/** `a; b` → [a, b]; empty → []. */
export function parseXeSet(value: string): string[] {
  return value.trim() === '' ? [] : value.split(';').map((s) => s.trim()).filter((s) => s !== '');
}

export function formatXeMap(map: Record<string, string>): string {
  return Object.entries(map).map(([k, v]) => `${k}: ${v}`).join('; ');
}

export interface XeOutField {
  key: string;
  qualifier: XeQualifier;
  value: string;
}

/**
 * Print records the way xe does (xen-api ocaml/xapi-cli-server/cli_printer.ml `multi_line_record`): the
 * column is 4 + the longest `key (QUAL)` label; the first label is padded on the right, the others on the
 * left; each record is printed as `Print (record ^ "\n")` and the xe client adds a newline
 * (ocaml/xe-cli/newcli.ml `print_endline`), so every record, the last included, ends with two blank lines.
 */
export function formatXeRecords(records: readonly (readonly XeOutField[])[]): string {
  return records.map((fields) => {
    const labels = fields.map((f) => `${f.key} (${f.qualifier.padStart(3, ' ')})`);
    const width = 4 + Math.max(0, ...labels.map((l) => l.length));
    const lines = labels.map((label, i) => `${i === 0 ? label.padEnd(width, ' ') : label.padStart(width, ' ')}: ${fields[i]?.value ?? ''}`);
    return `${lines.join('\n')}\n\n\n`;
  }).join('');
}
