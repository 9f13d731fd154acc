import type { ManagerOptions, SocketOptions } from 'socket.io-client';
import { frameParser } from '../../server/protocol/frame-parser.ts';

/**
 * How every Accord client connects: WebSocket only, and a short reconnect back-off with jitter, so a
 * room of reviewers is back within about a second after a server restart without all arriving at once.
 * First retry after 100 ms, doubling, at most 1 s between attempts, ±50 % jitter: while the server is
 * down a client tries about once a second (a refused TCP connect costs nothing), and once it is back
 * every client is in within about a second. A longer cap leaves the last clients of a room waiting
 * seconds after the server is up (bench:sync scenario F).
 *
 * A connection attempt that has not completed its handshake in 5 s is abandoned and retried (Socket.io's
 * default waits 20 s): an attempt made while the network silently drops packets would otherwise keep a
 * user offline for 20 s after the network is back. A refused connection (server down) fails at once and
 * is not affected; a handshake takes milliseconds.
 */
export const SOCKET_OPTIONS = {
  transports: ['websocket'],
  reconnectionDelay: 100,
  reconnectionDelayMax: 1_000,
  randomizationFactor: 0.5,
  timeout: 5_000,
  /** Binary events travel as one frame: this parser reads and writes it, and the handshake asks the server for it. */
  parser: frameParser,
  query: { frames: 'packed' },
} satisfies Partial<ManagerOptions & SocketOptions>;
