import { io } from 'socket.io-client';
import { createSubscriber } from 'svelte/reactivity';
import type { AccordSocket } from '../lib/socket-provider.ts';
import { FACTS, type Fact, type FactName } from '../../server/protocol/events.ts';
import { CommandQueue } from './command-queue.svelte.ts';
import { SOCKET_OPTIONS } from '../lib/socket-options.ts';

/**
 * The signed-in user's one Socket.io connection: documents, commands and facts all share it. It
 * authenticates with the session cookie at the handshake, and reconnects on its own.
 */
export class LiveConnection {
  readonly socket: AccordSocket;
  readonly commands: CommandQueue;
  readonly #subscribe = createSubscriber((update) => {
    this.socket.on('connect', update);
    this.socket.on('disconnect', update);
    return () => {
      this.socket.off('connect', update);
      this.socket.off('disconnect', update);
    };
  });

  constructor(username: string) {
    this.socket = io({ ...SOCKET_OPTIONS, withCredentials: true });
    this.commands = new CommandQueue(this.socket, `accord:commands:${username}`);
  }

  get isConnected(): boolean {
    this.#subscribe();
    return this.socket.connected;
  }

  /**
   * Calls `listener` on every fact the server broadcasts (any change), and with `connected` whenever the
   * socket (re)connects: facts broadcast while it was not connected are lost, so listeners re-read then.
   * Returns the stop function.
   */
  onFacts(listener: (name: FactName | 'connected', fact?: Fact) => void): () => void {
    const onConnect = () => listener('connected');
    this.socket.on('connect', onConnect);
    const offs = FACTS.map((name) => {
      const handler = (fact: Fact) => listener(name, fact);
      this.socket.on(name, handler);
      return () => this.socket.off(name, handler);
    });
    return () => {
      this.socket.off('connect', onConnect);
      offs.forEach((off) => off());
    };
  }

  dispose(): void {
    this.commands.dispose();
    this.socket.disconnect();
  }
}
