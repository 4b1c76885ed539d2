/**
 * One error class per failure, each with a stable code. The HTTP layer maps codes to RFC 9457 problems;
 * nothing below it knows about HTTP.
 */
export type DomainErrorCode =
  | 'TWIN.INVALID_LEAD_ID'
  | 'TWIN.INVALID_METADATA'
  | 'TWIN.INVALID_DOCUMENT'
  | 'TWIN.INVALID_VERSION'
  | 'TWIN.NOT_FOUND'
  | 'TWIN.VERSION_CONFLICT'
  | 'TWIN.NOT_YET_AVAILABLE'
  | 'SEARCH.INVALID_QUERY';

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    /** Field-level details safe to show to the caller (never the offending personal data itself). */
    readonly details: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const isDomainError = (e: unknown): e is DomainError => e instanceof DomainError;
