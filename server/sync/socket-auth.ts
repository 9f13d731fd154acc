import type { Logger } from '../log.ts';
import { authenticate, presentedCredential } from '../auth/authenticate.ts';
import type { UserStore } from '../auth/user-store.ts';
import { isSameOrigin } from '../http/security.ts';
import type { AccordServer } from './sync-transport.ts';

export interface SocketAuthOptions {
  publicOrigin: string | undefined;
  maxSocketsPerUser: number;
  /** How often live sockets are re-checked against their credential (revoked, expired, idle). */
  revalidateMs: number;
}

/**
 * Authenticates every Socket.io connection at the handshake, before any event is handled: an API token
 * in `auth.token`, or the session cookie from our own origin only (a cookie sent by another site's page
 * is cross-site WebSocket hijacking). Sockets whose credential is revoked or expires are disconnected.
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
    io.use((socket, next) => {
      const token: unknown = socket.handshake.auth?.token;
      if (token !== undefined && typeof token !== 'string') return next(new Error('unauthorized')); // a token is a string
      if (presentedCredential(socket.handshake.headers, token)?.kind === 'cookie' && !isSameOrigin(socket.handshake.headers, options.publicOrigin)) {
        this.#log.warn({ origin: socket.handshake.headers.origin }, 'cookie handshake from another origin refused');
        return next(new Error('unauthorized'));
      }
      const principal = authenticate(users, socket.handshake.headers, token);
      if (!principal) return next(new Error('unauthorized'));
      if (this.#socketsOf(principal.userId).length >= options.maxSocketsPerUser) return next(new Error('too_many_connections'));
      socket.data.principal = principal;
      next();
    });
    this.#timer = setInterval(() => this.revalidate(), options.revalidateMs);
    this.#timer.unref();
  }

  #socketsOf(userId: number) {
    return [...this.#io.sockets.sockets.values()].filter((s) => s.data.principal?.userId === userId);
  }

  /** Disconnects every socket whose credential is no longer valid. */
  revalidate(): void {
    for (const socket of this.#io.sockets.sockets.values()) {
      const p = socket.data.principal;
      if (p && !this.#users.stillValid(p)) {
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
