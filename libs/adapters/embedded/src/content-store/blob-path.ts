/**
 * Blob names are logical paths, never file-system paths: the bytes live under content hashes, so a name can
 * not reach the file system at all. The rules still match what every backend accepts (Azure blob names,
 * object keys), so a path valid here is valid everywhere.
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

/**
 * The smallest string greater than every string starting with `prefix`, or null when there is none (empty
 * prefix). Prefixes are ASCII, so incrementing the last character is exact in SQLite's byte-order collation.
 */
export function prefixUpperBound(prefix: string): string | null {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const code = prefix.charCodeAt(i);
    if (code < 0x7f) return prefix.slice(0, i) + String.fromCharCode(code + 1);
  }
  return null;
}
