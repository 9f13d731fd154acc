import type { Logger } from '../log.ts';
import { authenticate, presentedCredential } from '../auth/authenticate.ts';
import type { UserStore } from '../auth/user-store.ts';
import { isSameOrigin } from '../http/security.ts';
import { AppError } from '../protocol/errors.ts';
import type { AccordServer } from './sync-transport.ts';

export interface SocketAuthOptions {
  publicOrigin: string | undefined;
  maxSocketsPerUser: number;
  /** How often live sockets are re-checked against their credential (revoked, expired, idle). */
  revalidateMs: number;
  /**
   * Several nodes: the user's sockets on the other nodes (server/sync/cluster-bus.ts), so the cap holds for
   * the cluster; `note` tells the others this node's count. Absent: this node's sockets only.
   */
  cluster?: {
    elsewhere(userId: number): Promise<number>;
    note(userId: number, here: number): void;
  };
}

/**
 * Authenticates every Socket.io connection at the handshake, before any event is handled: an API token
 * in `auth.token`, or the session cookie from our own origin only (a cookie sent by another site's page
 * is cross-site WebSocket hijacking). Sockets whose credential is revoked or expires are disconnected.
 *
 * Credentials are checked against the database, asynchronously: a handshake whose check fails (the
 * database is unavailable) is refused with the error's catalogue code (`storage_unavailable`), logged, and
 * never left as an unhandled rejection; so is a revalidation pass.
 */
export class SocketGate {
  readonly #io: AccordServer;
  readonly #users: UserStore;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;

  constructor(io: AccordServer, users: UserStore, log: Logger, options: SocketAuthOptions) {
    this.#io = io;
    this.#users = users;
    this.#log = log;
    io.use(async (socket, next) => {
      const token: unknown = socket.handshake.auth?.token;
      if (token !== undefined && typeof token !== 'string') return next(new Error('unauthorized')); // a token is a string
      if (presentedCredential(socket.handshake.headers, token)?.kind === 'cookie' && !isSameOrigin(socket.handshake.headers, options.publicOrigin)) {
        this.#log.warn({ origin: socket.handshake.headers.origin }, 'cookie handshake from another origin refused');
        return next(new Error('unauthorized'));
      }
      let principal;
      try {
        principal = await authenticate(users, socket.handshake.headers, token);
      } catch (err) {
        // The client sees the catalogue code only, as for the other refusals; the cause goes to the log.
        this.#log.error({ err }, 'socket handshake: the credential could not be checked');
        return next(new Error(err instanceof AppError ? err.code : 'internal'));
      }
      if (!principal) return next(new Error('unauthorized'));
      const here = this.#socketsOf(principal.userId).length;
      // The other nodes' count is best effort: while it cannot be read, this node's own count decides.
      const elsewhere = options.cluster ? await options.cluster.elsewhere(principal.userId).catch(() => 0) : 0;
      if (here + elsewhere >= options.maxSocketsPerUser) return next(new Error('too_many_connections'));
      socket.data.principal = principal;
      next();
    });
    if (options.cluster) {
      const cluster = options.cluster;
      const note = (userId: number) => cluster.note(userId, this.#socketsOf(userId).length);
      io.on('connection', (socket) => {
        const userId = socket.data.principal.userId;
        note(userId);
        socket.on('disconnect', () => note(userId));
      });
    }
    this.#timer = setInterval(() => void this.revalidate(), options.revalidateMs);
    this.#timer.unref();
  }

  #socketsOf(userId: number) {
    return [...this.#io.sockets.sockets.values()].filter((s) => s.data.principal?.userId === userId);
  }

  /**
   * Disconnects every socket whose credential is no longer valid; resolves when every socket connected
   * at the call has been checked. Never rejects: a credential that cannot be checked (database
   * unavailable) is logged and its socket kept, to be checked again at the next pass, so callers and the
   * timer may leave the promise alone. Each credential is looked up once per pass, however many sockets share it.
   */
  async revalidate(): Promise<void> {
    const verdicts = new Map<string, Promise<boolean | null>>();
    for (const socket of [...this.#io.sockets.sockets.values()]) {
      const p = socket.data.principal;
      if (!p) continue;
      const key = p.credential ? `${p.credential.kind}:${p.credential.hash}:${p.role}` : `user:${p.userId}`;
      let verdict = verdicts.get(key);
      if (!verdict) {
        verdict = this.#users.stillValid(p).catch((err: unknown) => {
          this.#log.error({ err, user: p.username }, 'socket revalidation: the credential could not be checked');
          return null; // unknown: the socket stays until a pass can tell
        });
        verdicts.set(key, verdict);
      }
      if ((await verdict) === false) {
        this.#log.info({ user: p.username }, 'credential no longer valid: socket disconnected');
        socket.disconnect(true);
      }
    }
  }

  /** Sign-out everywhere (or of one session): its sockets go at once. */
  disconnect(match: { userId?: number; credentialHash?: string }): void {
    for (const socket of this.#io.sockets.sockets.values()) {
      const p = socket.data.principal;
      if (!p) continue;
      if ((match.userId !== undefined && p.userId === match.userId) || (match.credentialHash && p.credential?.hash === match.credentialHash)) {
        socket.disconnect(true);
      }
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
