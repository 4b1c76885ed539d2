import { EventValidationError } from '@twinstore/contracts';

export const SCHEMA_VALIDATION_FAILED = 'SchemaValidationFailed';
export const MAX_DELIVERY_COUNT_EXCEEDED = 'MaxDeliveryCountExceeded';

const MAX_PATHS = 10;
const MAX_PATH_LENGTH = 100;
/** Service Bus accepts longer reasons; ours are codes or short phrases, and logs stay small. */
const MAX_REASON_LENGTH = 256;

/**
 * Why a message could not be decoded, naming only the paths of the offending fields: validation messages
 * and the body may quote personal data (markdown, age, income) and must reach neither logs nor dead letters.
 */
export function invalidMessageReason(error: unknown): string {
  if (!(error instanceof EventValidationError)) return `${SCHEMA_VALIDATION_FAILED}: ${errorName(error)}`;
  const paths = error.issues.map((issue) => {
    const colon = issue.indexOf(': ');
    return (colon < 0 ? issue : issue.slice(0, colon)).slice(0, MAX_PATH_LENGTH) || '(root)';
  });
  // The two failures validateEvent reports without issues: a body that is not JSON, an unknown type.
  if (paths.length === 0) paths.push(error.message === NOT_JSON ? '(not JSON)' : 'type');
  const unique = [...new Set(paths)];
  const more = unique.length > MAX_PATHS ? ` (+${unique.length - MAX_PATHS} more)` : '';
  return `${SCHEMA_VALIDATION_FAILED}: ${unique.slice(0, MAX_PATHS).join(', ')}${more}`;
}

export const NOT_JSON = 'event data is not JSON';

/** The class of an error, never its message (messages may carry data). */
export function errorName(error: unknown): string {
  if (error instanceof Error && error.name) return error.name.slice(0, MAX_PATH_LENGTH);
  return 'NonErrorThrown';
}

/** A handler's own reason, bounded in length. */
export function boundedReason(reason: string): string {
  return reason.length > MAX_REASON_LENGTH ? `${reason.slice(0, MAX_REASON_LENGTH - 1)}…` : reason;
}
