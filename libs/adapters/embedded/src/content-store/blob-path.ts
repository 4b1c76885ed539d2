import { assertBlobPath, assertBlobPrefix, MAX_BLOB_PATH_LENGTH } from '@twinstore/application';

export { assertBlobPath, assertBlobPrefix, MAX_BLOB_PATH_LENGTH };

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
