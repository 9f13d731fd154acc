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

export type ClientToServerEvents = {
  [C in CommandName]: (payload: unknown, ack: CommandAck) => void;
} & {
  'doc:join': (docId: string, ack: (result: Ack<JoinInfo>) => void) => void;
  'doc:leave': (docId: string) => void;
  'doc:message': (docId: string, message: Uint8Array, ack?: MessageAck) => void;
};

/** Facts the server broadcasts after a command committed (to the change's review room and the `changes` room). */
export const FACTS = [
  'change:created', 'author:added', 'revision:submitted', 'vote:recorded', 'reviewer:recused', 'status:changed',
  'annotation:created', 'annotation:edited', 'annotation:deleted', 'annotation:resolved', 'signoff:recorded',
  'apply:changed',
] as const;
export type FactName = (typeof FACTS)[number];
export interface Fact {
  changeId: string;
  status?: string;
  [detail: string]: unknown;
}

/** Commands over Socket.io: the same operations as REST, same rule book; payload validated per command. */
export const COMMANDS = [
  'change:create', 'change:submit', 'change:withdraw', 'change:recuse', 'vote:cast',
  'annotation:create', 'annotation:edit', 'annotation:delete', 'annotation:resolve',
  'session:create', 'session:agenda', 'session:goto', 'session:timer', 'session:note', 'session:close', 'session:rename',
  'change:invite', 'change:apply', 'draft:replace', 'inventory:import', 'policy:write',
  'target:create', 'target:read', 'drift:resolve',
  'campaign:create', 'campaign:start', 'campaign:decide', 'campaign:close', 'campaign:accept-failure',
] as const;
export type CommandName = (typeof COMMANDS)[number];
export type CommandAck = (result: Ack<{ data: unknown }>) => void;

export type ServerToClientEvents = {
  [F in FactName]: (fact: Fact) => void;
} & {
  'doc:message': (docId: string, message: Uint8Array) => void;
  'doc:error': (docId: string, error: ErrorBody) => void;
  /** Your rights on this document changed: join it again to be re-admitted at the new level. */
  'doc:rejoin': (docId: string) => void;
  /** The open drift findings changed (docs/targets.md): read `GET /api/drift` again. */
  'drift:changed': (d: { target: string }) => void;
  /** A new message in your notification centre (GET /api/notifications), with your unread count. */
  'notification:new': (n: { notification: InboxItem; unread: number }) => void;
};

/** One message of the in-app notification centre (docs/notifications.md). */
export interface InboxItem {
  id: string;
  event: string;
  payload: Record<string, unknown>;
  createdAt: string;
  readAt: string | null;
}

/** Document ids are `<kind>:<name>`; names are short and plain so they are safe in logs and URLs. */
export const DOC_ID_PATTERN = /^([a-z]+):([A-Za-z0-9][A-Za-z0-9._-]{0,127})$/;
