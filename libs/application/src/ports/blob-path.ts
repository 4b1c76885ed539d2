/**
 * The rules every ContentStore applies to a blob name: "/"-separated segments of a safe character set, no
 * empty, "." or ".." segment (which object stores would resolve as URL dot-segments), at most 1024 characters.
 * They hold on every backend, so a path valid on one profile is valid on the other.
 */
export const MAX_BLOB_PATH_LENGTH = 1024;
const SEGMENT = /^[A-Za-z0-9_.-]+$/;
const PREFIX = /^[A-Za-z0-9_./-]*$/;

export function assertBlobPath(path: unknown): asserts path is string {
  if (typeof path !== 'string' || path.length === 0 || path.length > MAX_BLOB_PATH_LENGTH) {
    throw new Error(`blob path must be 1-${MAX_BLOB_PATH_LENGTH} characters`);
  }
  for (const segment of path.split('/')) {
    if (!SEGMENT.test(segment) || segment === '.' || segment === '..') {
      throw new Error(
        'blob path must be "/"-separated segments of A-Z, a-z, 0-9, "_", "." or "-" (no empty, "." or ".." segment)',
      );
    }
  }
}

/** A list prefix may end mid-segment (`digital-twins/2026/1`), so only the character set is checked. */
export function assertBlobPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string' || prefix.length > MAX_BLOB_PATH_LENGTH || !PREFIX.test(prefix)) {
    throw new Error('blob prefix must be at most 1024 characters of A-Z, a-z, 0-9, "_", ".", "-" or "/"');
  }
}
