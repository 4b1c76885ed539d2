import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { BlobTiering, BundleLocation, ContentStore, PreconditionFailedError } from '../ports';
import { readPointer } from '../use-cases/get-twin-metadata.use-case';
import { BundleEntry } from './bundle-format';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export const MANIFEST_FORMAT = 'twinstore-bundle-manifest-1';
export const MANIFEST_PREFIX = 'tiering/manifests/';
export const MANIFEST_CONTENT_TYPE = 'application/gzip';
/** Same as BUNDLE_PREFIX (tier-lifecycle.ts imports this module). */
const BUNDLE_DIR = 'tiering/bundles/';

/**
 * One twin version of a bundle, as the sidecar manifest describes it: everything a rebuild needs without
 * reading the (archived) bundle. `markdown` is the text the search index holds for the twin (the full
 * markdown, as the indexer indexes it); `metadata` and `savedAt` are the twin's own (from its pointer when
 * the bundle was written), absent when they were not known then.
 */
export interface ManifestEntry {
  leadId: string;
  version: string;
  /** Byte range of the content in the bundle (the offset index). */
  offset: number;
  length: number;
  /** sha256 (hex) of the content bytes, from the day-blob's metadata. */
  sha256: string;
  contentType: string;
  /** The day-blob's blob metadata (version, leadid, sha256), restored with the bytes. */
  blobMetadata: Record<string, string>;
  savedAt?: string;
  metadata?: unknown;
  markdown: string;
}

export interface BundleManifest {
  format: typeof MANIFEST_FORMAT;
  bundle: string;
  entries: ManifestEntry[];
}

/** `tiering/manifests/{yyyy}/{mm}/{dd}/{id}.manifest.json.gz` next to `tiering/bundles/{...}/{id}.bundle`. */
export function manifestPath(bundle: string): string {
  const rest = bundle.startsWith(BUNDLE_DIR) ? bundle.slice(BUNDLE_DIR.length) : bundle;
  return `${MANIFEST_PREFIX}${rest.replace(/\.bundle$/, '')}.manifest.json.gz`;
}

/** The bundle a manifest path belongs to (the inverse of manifestPath), or null for another name. */
export function bundleOfManifest(path: string): string | null {
  if (!path.startsWith(MANIFEST_PREFIX) || !path.endsWith('.manifest.json.gz')) return null;
  return `${BUNDLE_DIR}${path.slice(MANIFEST_PREFIX.length, -'.manifest.json.gz'.length)}.bundle`;
}

export async function encodeManifest(manifest: BundleManifest): Promise<Buffer> {
  return gzipAsync(Buffer.from(JSON.stringify(manifest), 'utf8'));
}

export async function decodeManifest(body: Buffer): Promise<BundleManifest> {
  const parsed = JSON.parse((await gunzipAsync(body)).toString('utf8')) as Partial<BundleManifest>;
  if (
    parsed.format !== MANIFEST_FORMAT ||
    typeof parsed.bundle !== 'string' ||
    !Array.isArray(parsed.entries)
  ) {
    throw new Error('not a bundle manifest');
  }
  return parsed as BundleManifest;
}

/**
 * The manifest of `bundle`, or null when there is none. A manifest that does not decode is reported as an
 * error (thrown): the rebuild counts it and falls back to the bundle itself.
 */
export async function readManifest(
  content: ContentStore,
  bundle: string,
): Promise<{ manifest: BundleManifest; etag: string } | null> {
  const blob = await content.get(manifestPath(bundle));
  if (!blob) return null;
  const manifest = await decodeManifest(blob.body);
  if (manifest.bundle !== bundle) throw new Error('manifest names another bundle');
  return { manifest, etag: blob.properties.etag };
}

/** Writes (or replaces, conditional on `ifMatch`) a bundle's manifest and puts it in the Cool tier. */
export async function writeManifest(
  content: ContentStore & BlobTiering,
  manifest: BundleManifest,
  options: { ifMatch?: string } = {},
): Promise<void> {
  const path = manifestPath(manifest.bundle);
  await content.put(path, await encodeManifest(manifest), {
    contentType: MANIFEST_CONTENT_TYPE,
    metadata: { format: MANIFEST_FORMAT, entries: String(manifest.entries.length) },
    ...(options.ifMatch ? { ifMatch: options.ifMatch } : {}),
  });
  await content.setTier(path, 'cool');
}

/**
 * The manifest entry of a bundle entry. The twin's metadata and savedAt come from its pointer when the
 * pointer is at exactly this version (it is, unless a projection lags); otherwise they are left out and a
 * rebuild recovers them as for a day-blob (pointer, front matter, defaults).
 */
export async function manifestEntryOf(
  content: ContentStore,
  entry: BundleEntry,
  location: BundleLocation,
  known?: Pick<ManifestEntry, 'metadata' | 'savedAt'>,
): Promise<ManifestEntry> {
  let twin: Pick<ManifestEntry, 'metadata' | 'savedAt'> = known ?? {};
  if (!known) {
    const pointer = await readPointer(content, entry.leadId).catch(() => null);
    if (pointer?.pointer.version === entry.version) {
      twin = { metadata: pointer.pointer.metadata, savedAt: pointer.pointer.savedAt };
    }
  }
  return {
    leadId: entry.leadId,
    version: entry.version,
    offset: location.offset,
    length: location.length,
    sha256: entry.metadata.sha256 ?? '',
    contentType: entry.contentType,
    blobMetadata: entry.metadata,
    ...(twin.savedAt !== undefined ? { savedAt: twin.savedAt } : {}),
    ...(twin.metadata !== undefined ? { metadata: twin.metadata } : {}),
    markdown: entry.body.toString('utf8'),
  };
}

/**
 * Erasure: drops every entry of `leadId` from the manifest of `bundle` at once (the manifest is online, so
 * this does not wait for the bundle's rewrite). True when the manifest no longer holds the lead.
 */
export async function eraseFromManifest(
  content: ContentStore & BlobTiering,
  bundle: string,
  leadId: string,
): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    let found: Awaited<ReturnType<typeof readManifest>>;
    try {
      found = await readManifest(content, bundle);
    } catch {
      // Unreadable: it cannot be shown to be clean, so it goes (a rebuild then reads the bundle instead).
      await content.delete(manifestPath(bundle));
      return true;
    }
    if (!found) return true;
    const entries = found.manifest.entries.filter((e) => e.leadId !== leadId);
    if (entries.length === found.manifest.entries.length) return true;
    try {
      await writeManifest(content, { ...found.manifest, entries }, { ifMatch: found.etag });
      return true;
    } catch (e) {
      if (!(e instanceof PreconditionFailedError)) throw e;
    }
  }
  return false;
}

/** Manifest entries of many bundle entries, a bounded number of pointer reads at once. */
export async function manifestEntriesOf(
  content: ContentStore,
  items: readonly {
    entry: BundleEntry;
    location: BundleLocation;
    known?: Pick<ManifestEntry, 'metadata' | 'savedAt'>;
  }[],
  concurrency = 16,
): Promise<ManifestEntry[]> {
  const out = new Array<ManifestEntry>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await manifestEntryOf(content, items[i].entry, items[i].location, items[i].known);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return out;
}
