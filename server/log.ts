import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** One structured logger. Secrets (tokens, passwords, cookies) are redacted by path wherever they appear. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: undefined,
    redact: {
      paths: ['password', 'token', '*.password', '*.token', 'cookie', '*.cookie', 'headers.cookie', 'headers.authorization'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
