/**
 * The wire contract between server and clients (docs/protocol.md). No Node imports: web imports it too.
 */
import type { Ack, ErrorBody } from './errors.ts';

export const PROTOCOL_VERSION = 1;

/** y-websocket framing: first varUint of every `doc:message`. */
export const MESSAGE_SYNC = 0;
export const MESSAGE_AWARENESS = 1;

export type DocAccess = 'read' | 'write';

export interface JoinInfo {
  docId: string;
  access: DocAccess;
  protocol: number;
}

export type MessageAck = (result: Ack) => void;

export interface ClientToServerEvents {
  'doc:join': (docId: string, ack: (result: Ack<JoinInfo>) => void) => void;
  'doc:leave': (docId: string) => void;
  'doc:message': (docId: string, message: Uint8Array, ack?: MessageAck) => void;
}

export interface ServerToClientEvents {
  'doc:message': (docId: string, message: Uint8Array) => void;
  'doc:error': (docId: string, error: ErrorBody) => void;
}

/** Document ids are `<kind>:<name>`; names are short and plain so they are safe in logs and URLs. */
export const DOC_ID_PATTERN = /^([a-z]+):([A-Za-z0-9][A-Za-z0-9._-]{0,127})$/;
