/** The one catalogue of error codes, used by HTTP responses, Socket.io acks and `doc:error`. */
export const ErrorCode = {
  InvalidPayload: 'invalid_payload',
  Unauthorized: 'unauthorized',
  Forbidden: 'forbidden',
  NotFound: 'not_found',
  Conflict: 'conflict',
  /** The revision hash a vote, recusal or sign-off names is not the current revision's. */
  RevisionChanged: 'revision_changed',
  /** The draft moved since the hash a submit names. */
  DraftChanged: 'draft_changed',
  UnknownKind: 'unknown_kind',
  NotJoined: 'not_joined',
  ReadOnly: 'read_only',
  TooLarge: 'too_large',
  MalformedMessage: 'malformed_message',
  StorageFailed: 'storage_failed',
  /** The database cannot be reached: the command or update was refused and changed nothing; retry later. */
  StorageUnavailable: 'storage_unavailable',
  RateLimited: 'rate_limited',
  TooManyConnections: 'too_many_connections',
  Internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

export type Ack<T extends object = Record<never, never>> = ({ ok: true } & T) | { ok: false; error: ErrorBody };

export function fail(code: ErrorCode, message: string): { ok: false; error: ErrorBody } {
  return { ok: false, error: { code, message } };
}

const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_payload: 400,
  malformed_message: 400,
  unknown_kind: 400,
  too_large: 413,
  unauthorized: 401,
  forbidden: 403,
  read_only: 403,
  not_found: 404,
  not_joined: 409,
  conflict: 409,
  revision_changed: 409,
  draft_changed: 409,
  storage_failed: 503,
  storage_unavailable: 503,
  rate_limited: 429,
  too_many_connections: 429,
  internal: 500,
};

/** An expected failure with a catalogue code; its message is safe to show to the caller. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AppError';
    this.code = code;
    this.status = HTTP_STATUS[code];
  }
  toBody(): ErrorBody {
    return { code: this.code, message: this.message };
  }
}
