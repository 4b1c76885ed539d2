import { z } from 'zod';
import { CLASSIFICATIONS } from './classification';
import { DomainError } from './errors';

const KNOWN_KEYS = new Set(['age', 'income', 'classification', 'location', 'tags', 'extra']);
const TAG_PATTERN = /^[\p{L}\p{N}][\p{L}\p{N} _.:/+-]{0,63}$/u;
export const MAX_METADATA_BYTES = 32 * 1024;
/** Free extra fields nest at most this deep: the schema below is recursive and must not exhaust the stack. */
export const MAX_EXTRA_DEPTH = 32;

const nestsDeeperThan = (value: unknown, depth: number): boolean =>
  typeof value === 'object' &&
  value !== null &&
  (depth === 0 || Object.values(value).some((v) => nestsDeeperThan(v, depth - 1)));

/** Free extra fields: JSON values only, bounded in depth (MAX_EXTRA_DEPTH) and by the serialised size check. */
const jsonValue: z.ZodType<unknown> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(jsonValue),
    z.record(z.string(), jsonValue),
  ]),
);

export const twinMetadataSchema = z
  .object({
    age: z.number().int().min(0).max(150).optional(),
    income: z.number().min(0).max(1e12).optional(),
    classification: z.enum(CLASSIFICATIONS).default('warm'),
    location: z.string().trim().min(1).max(200).optional(),
    tags: z
      .array(z.string().trim().regex(TAG_PATTERN, 'tags are 1-64 letters, digits, spaces or _ . : / + -'))
      .max(50)
      .default([])
      .transform((tags) => [...new Set(tags.map((t) => t.toLowerCase()))]),
    extra: z.record(z.string().max(128), jsonValue).default({}),
  })
  .strict();

/** The normalised metadata of a twin: known fields typed, everything else under `extra`. */
export type TwinMetadata = z.output<typeof twinMetadataSchema>;
export type TwinMetadataInput = z.input<typeof twinMetadataSchema>;

/**
 * Accepts metadata as posted: known fields at the top level, any other top-level field is a free extra
 * field (as is anything under `extra`). Throws TWIN.INVALID_METADATA listing every problem.
 */
export function parseMetadata(input: unknown): TwinMetadata {
  if (input === undefined || input === null) input = {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new DomainError('TWIN.INVALID_METADATA', 'metadata must be an object', [
      { path: 'metadata', message: 'expected an object' },
    ]);
  }
  const known: Record<string, unknown> = {};
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
    if (KNOWN_KEYS.has(key)) known[key] = value;
    else extra[key] = value;
  }
  if (known.extra !== undefined) {
    if (typeof known.extra !== 'object' || known.extra === null || Array.isArray(known.extra)) {
      throw new DomainError('TWIN.INVALID_METADATA', 'metadata is invalid', [
        { path: 'metadata.extra', message: 'expected an object' },
      ]);
    }
    Object.assign(extra, known.extra);
  }
  known.extra = extra;
  if (nestsDeeperThan(extra, MAX_EXTRA_DEPTH + 1)) {
    throw new DomainError('TWIN.INVALID_METADATA', `metadata nests deeper than ${MAX_EXTRA_DEPTH} levels`, [
      { path: 'metadata.extra', message: 'nested too deeply' },
    ]);
  }
  const result = twinMetadataSchema.safeParse(known);
  if (!result.success) {
    throw new DomainError(
      'TWIN.INVALID_METADATA',
      'metadata is invalid',
      result.error.issues.map((i) => ({ path: ['metadata', ...i.path].join('.'), message: i.message })),
    );
  }
  if (Buffer.byteLength(JSON.stringify(result.data)) > MAX_METADATA_BYTES) {
    throw new DomainError(
      'TWIN.INVALID_METADATA',
      `metadata must serialise to at most ${MAX_METADATA_BYTES} bytes`,
    );
  }
  return result.data;
}
