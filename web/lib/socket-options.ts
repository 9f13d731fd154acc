import type { ManagerOptions, SocketOptions } from 'socket.io-client';
import { frameParser } from '../../server/protocol/frame-parser.ts';

/**
 * How every Accord client connects: WebSocket only, and a short reconnect back-off with jitter, so a
 * room of reviewers is back within about a second after a server restart without all arriving at once.
 */
export const SOCKET_OPTIONS = {
  transports: ['websocket'],
  reconnectionDelay: 300,
  reconnectionDelayMax: 2_000,
  randomizationFactor: 0.5,
  /** Must match the server's: binary events travel as one frame. */
  parser: frameParser,
} satisfies Partial<ManagerOptions & SocketOptions>;
