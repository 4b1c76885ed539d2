/**
 * Blob names are the port's logical paths, used verbatim (the seed layout, no prefix added). The rules are the
 * embedded store's, so a path valid there is valid here: "/"-separated segments without "." or "..", which
 * Azure would otherwise resolve as URL dot-segments and so let a name reach outside its prefix.
 */
export const MAX_BLOB_PATH_LENGTH = 1024;
const SEGMENT = /^[A-Za-z0-9_.-]+$/;
const PREFIX = /^[A-Za-z0-9_./-]*$/;
/** Azure metadata names must be C# identifiers; lower case, because the service returns them lower-cased. */
const METADATA_KEY = /^[a-z_][a-z0-9_]{0,63}$/;

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

export function assertBlobPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string' || prefix.length > MAX_BLOB_PATH_LENGTH || !PREFIX.test(prefix)) {
    throw new Error('blob prefix must be at most 1024 characters of A-Z, a-z, 0-9, "_", ".", "-" or "/"');
  }
}

export function assertBlobMetadata(metadata: Record<string, string> | undefined): void {
  for (const [key, value] of Object.entries(metadata ?? {})) {
    if (!METADATA_KEY.test(key)) {
      throw new Error(
        `blob metadata key "${key.slice(0, 64)}" must be a lower-case identifier (a-z, 0-9, _)`,
      );
    }
    if (typeof value !== 'string') throw new Error(`blob metadata "${key}" must be a string`);
    // Header values: printable ASCII only, or the service rejects the whole request.
    if (!/^[\x20-\x7e]*$/.test(value)) throw new Error(`blob metadata "${key}" must be printable ASCII`);
  }
}
