/**
 * Reading govc's `-json` output. govc serialises govmomi's Go structs: upstream types carry lowerCamel
 * json tags (`principal`, `roleId`), older releases (Debian's 0.24) have none, so the keys are the Go field
 * names (`Principal`, `RoleId`). Every reader here accepts both spellings.
 */
import { AccessInputError } from '../../domain/access/model.ts';

export type JsonObject = Record<string, unknown>;

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `field(o, 'roleId')` reads `roleId`, else `RoleId`. */
export function field(o: JsonObject, lowerCamel: string): unknown {
  if (lowerCamel in o) return o[lowerCamel];
  return o[lowerCamel.charAt(0).toUpperCase() + lowerCamel.slice(1)];
}

export const stringField = (o: JsonObject, name: string): string | undefined => {
  const v = field(o, name);
  return typeof v === 'string' ? v : undefined;
};

export const boolField = (o: JsonObject, name: string): boolean | undefined => {
  const v = field(o, name);
  return typeof v === 'boolean' ? v : undefined;
};

export interface MoRef {
  type: string;
  value: string;
}

/** A ManagedObjectReference as govc prints it: `{type, value}` or `{Type, Value}`. */
export function moRef(v: unknown): MoRef | undefined {
  if (!isObject(v)) return undefined;
  const type = stringField(v, 'type');
  const value = stringField(v, 'value');
  return type && value ? { type, value } : undefined;
}

export const refKey = (r: MoRef): string => `${r.type}:${r.value}`;

/** Parse a file as JSON, turning a syntax error into an AccessInputError that names file and line. */
export function parseJson(path: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const position = /position (\d+)/.exec(message);
    const line = position ? text.slice(0, Number(position[1])).split('\n').length : undefined;
    throw new AccessInputError(`not valid JSON (${message})`, { file: path, ...(line ? { line } : {}) });
  }
}

/** Escape one JSON-pointer token (RFC 6901). */
export const pointerToken = (s: string): string => s.replaceAll('~', '~0').replaceAll('/', '~1');
