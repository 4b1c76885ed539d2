/** Azure metadata names must be C# identifiers; lower case, because the service returns them lower-cased. */
const METADATA_KEY = /^[a-z_][a-z0-9_]{0,63}$/;

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
