import type { ManagerOptions, SocketOptions } from 'socket.io-client';
import { frameParser } from '../../server/protocol/frame-parser.ts';

/**
 * How every Accord client connects: WebSocket only, and a short reconnect back-off with jitter, so a
 * room of reviewers is back within about a second after a server restart without all arriving at once.
 * The schedule is y-websocket's (100 ms doubling, at most 2.5 s), with ±50 % jitter on top.
 */
export const SOCKET_OPTIONS = {
  transports: ['websocket'],
  reconnectionDelay: 100,
  reconnectionDelayMax: 2_500,
  randomizationFactor: 0.5,
  /** Must match the server's: binary events travel as one frame. */
  parser: frameParser,
} satisfies Partial<ManagerOptions & SocketOptions>;
