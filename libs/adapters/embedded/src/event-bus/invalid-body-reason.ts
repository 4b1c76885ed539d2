import { EventValidationError } from '@twinstore/contracts';

export const SCHEMA_VALIDATION_FAILED = 'SchemaValidationFailed';

const MAX_PATHS = 10;
const MAX_PATH_LENGTH = 100;

/**
 * Why a stored body could not be decoded, naming only the paths of the offending fields: issue messages and
 * the body itself may quote personal data (markdown, age, income) and must not reach logs or dead letters.
 */
export function invalidBodyReason(error: unknown, body: string): string {
  if (!(error instanceof EventValidationError)) return `${SCHEMA_VALIDATION_FAILED}: ${errorName(error)}`;
  const paths = error.issues.map((issue) => {
    const colon = issue.indexOf(': ');
    const path = colon < 0 ? issue : issue.slice(0, colon);
    return (path || '(root)').slice(0, MAX_PATH_LENGTH);
  });
  // validateEvent reports two failures without issues: a body that is not JSON and an unknown event type.
  if (paths.length === 0) paths.push(isJson(body) ? 'type' : '(not JSON)');
  const unique = [...new Set(paths)];
  const shown = unique.slice(0, MAX_PATHS).join(', ');
  return `${SCHEMA_VALIDATION_FAILED}: ${shown}${unique.length > MAX_PATHS ? ` (+${unique.length - MAX_PATHS} more)` : ''}`;
}

/** The class of an error, never its message (messages may carry data). */
export function errorName(error: unknown): string {
  if (error instanceof Error && error.name) return error.name.slice(0, MAX_PATH_LENGTH);
  return 'NonErrorThrown';
}

function isJson(body: string): boolean {
  try {
    JSON.parse(body);
    return true;
  } catch {
    return false;
  }
}
