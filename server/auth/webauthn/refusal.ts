import { AppError, type ErrorCode } from '../../protocol/errors.ts';

/** Why a passkey registration or sign-off was refused; stable strings for logs, audit and tests. */
export type RefusalReason =
  | 'malformed_response'
  | 'invalid_target'
  | 'not_approver'
  | 'no_passkey'
  | 'already_signed_off'
  | 'unknown_challenge'
  | 'challenge_expired'
  | 'challenge_used'
  | 'challenge_other_user'
  | 'stale_revision'
  | 'unknown_credential'
  | 'credential_other_user'
  | 'credential_exists'
  | 'counter_not_increased'
  | 'assertion_invalid'
  | 'attestation_invalid';

/** An AppError from the catalogue (code, safe message) that also says which check refused. */
export class PasskeyRefusal extends AppError {
  readonly reason: RefusalReason;
  constructor(code: ErrorCode, reason: RefusalReason, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = 'PasskeyRefusal';
    this.reason = reason;
  }
}
