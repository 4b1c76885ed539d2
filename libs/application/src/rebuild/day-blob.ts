import { contentPath, isVersion, parseContentPath, Version } from '@twinstore/domain';
import { BlobProperties, BlobTier } from '../ports';

/** One content day-blob (`digital-twins/{yyyy}/{mm}/{dd}/{leadId}.md`) as listed, with its blob metadata. */
export interface DayBlob {
  leadId: string;
  version: Version;
  path: string;
  /** The sha256 the writer recorded in the blob metadata (hex). */
  sha256: string;
  size: number;
  tier: BlobTier;
}

export interface BlobProblem {
  path: string;
  reason: string;
}

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * A listed blob as a content day-blob: `null` for anything that is not one (the pointers under
 * `digital-twins/metadata/`, foreign names), a problem when it looks like one but its metadata does not hold
 * up (no version, a leadid or day that disagrees with its path, no sha256). Such blobs are never projected.
 */
export function dayBlobOf(props: BlobProperties): DayBlob | BlobProblem | null {
  const parsed = parseContentPath(props.path);
  if (!parsed) return null;
  const { version, leadid, sha256 } = props.metadata;
  if (!isVersion(version)) return { path: props.path, reason: 'blob metadata has no valid version' };
  if (leadid !== parsed.leadId)
    return { path: props.path, reason: 'blob metadata leadid differs from the path' };
  if (contentPath(parsed.leadId, version) !== props.path) {
    return { path: props.path, reason: 'the path is not the UTC day of the blob version' };
  }
  if (typeof sha256 !== 'string' || !SHA256.test(sha256)) {
    return { path: props.path, reason: 'blob metadata has no valid sha256' };
  }
  return { leadId: parsed.leadId, version, path: props.path, sha256, size: props.size, tier: props.tier };
}

export function isBlobProblem(value: DayBlob | BlobProblem | null): value is BlobProblem {
  return value !== null && 'reason' in value;
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight; results in input order. */
export async function mapBounded<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return results;
}
