import { createHash } from 'node:crypto';
import { createEvent, TwinEventOf } from '@twinstore/contracts';
import {
  documentFromMarkdown,
  parseMetadata,
  TwinMetadata,
  twinMetadataSchema,
  TwinPointer,
  Version,
  versionTime,
} from '@twinstore/domain';
import { ContentStore } from '../ports';
import { readPointer } from '../use-cases/get-twin-metadata.use-case';
import { savedEventId } from '../use-cases/save-twin.use-case';
import { BlobProblem, DayBlob, dayBlobOf, isBlobProblem } from './day-blob';

/**
 * Where the metadata of a recovered version came from. The day-blob holds only the markdown, so:
 * - `pointer`: the pointer (`digital-twins/metadata/{leadId}.json`) is at exactly this version: exact;
 * - `manifest`: a cold twin's bundle manifest recorded the metadata of this version when it was bundled: exact;
 * - `front-matter`: the markdown starts with YAML front matter (twins posted as text/markdown): exact;
 * - `pointer-other-version`: only a pointer of another version exists (a JSON-form twin whose newest
 *   version was never projected): that version's metadata, carried over — an approximation;
 * - `defaults`: neither (a JSON-form twin without pointer): the defaults (classification warm, no tags).
 * The last two are "unrecovered" and are reported by leadId.
 */
export const METADATA_SOURCES = [
  'pointer',
  'manifest',
  'front-matter',
  'pointer-other-version',
  'defaults',
] as const;
export type MetadataSource = (typeof METADATA_SOURCES)[number];
export const isRecoveredExactly = (s: MetadataSource): boolean =>
  s === 'pointer' || s === 'manifest' || s === 'front-matter';

/** Same pattern as the domain's text/markdown parser: a leading `---` block closed by `---`. */
const FRONT_MATTER = /^\uFEFF?---[ \t]*\r?\n[\s\S]*?\r?\n---[ \t]*(?:\r?\n|$)/;

export type ReadDayBlobResult =
  | { kind: 'ok'; blob: DayBlob; body: Buffer }
  /** In the archive tier on a store that cannot read it without rehydration: not verified, no body. */
  | { kind: 'archived'; blob: DayBlob }
  /** Deleted since it was listed. */
  | { kind: 'gone' }
  /** Its bytes do not match its recorded sha256, or its metadata no longer holds up. */
  | { kind: 'corrupt'; problem: BlobProblem };

/**
 * Reads a listed day-blob and verifies its bytes against the sha256 in its metadata. The properties are
 * taken from the read, not the listing: a newer write of the same day since the listing is what counts.
 */
export async function readDayBlob(content: ContentStore, listed: DayBlob): Promise<ReadDayBlobResult> {
  let found: Awaited<ReturnType<ContentStore['get']>>;
  try {
    found = await content.get(listed.path);
  } catch (e) {
    if ((e as { code?: unknown }).code === 'BLOB.ARCHIVED') return { kind: 'archived', blob: listed };
    throw e;
  }
  if (!found) return { kind: 'gone' };
  const blob = dayBlobOf(found.properties);
  if (blob === null || isBlobProblem(blob)) {
    return { kind: 'corrupt', problem: blob ?? { path: listed.path, reason: 'not a day-blob' } };
  }
  const actual = createHash('sha256').update(found.body).digest('hex');
  if (actual !== blob.sha256) {
    return { kind: 'corrupt', problem: { path: listed.path, reason: 'content does not match its sha256' } };
  }
  return { kind: 'ok', blob: { ...blob, size: found.body.length }, body: found.body };
}

/** The pointer, or null when there is none or it does not parse (it is a projection: never trusted blindly). */
export async function readPointerLeniently(
  content: ContentStore,
  leadId: string,
): Promise<TwinPointer | null> {
  try {
    const found = await readPointer(content, leadId);
    const p = found?.pointer;
    return p && typeof p.version === 'string' && Array.isArray(p.history) ? p : null;
  } catch (e) {
    if (e instanceof SyntaxError) return null;
    throw e;
  }
}

/** The metadata of `version` from the best source there is (see MetadataSource). */
export function recoverMetadata(
  version: Version,
  body: Buffer | null,
  pointer: TwinPointer | null,
  /** A cold twin's: what its bundle manifest recorded for this version. */
  fromManifest?: unknown,
): { metadata: TwinMetadata; source: MetadataSource } {
  const fromPointer = pointer ? twinMetadataSchema.safeParse(pointer.metadata) : null;
  if (pointer?.version === version && fromPointer?.success)
    return { metadata: fromPointer.data, source: 'pointer' };
  if (fromManifest !== undefined) {
    const parsed = twinMetadataSchema.safeParse(fromManifest);
    if (parsed.success) return { metadata: parsed.data, source: 'manifest' };
  }
  if (body && FRONT_MATTER.test(body.toString('utf8'))) {
    try {
      return { metadata: documentFromMarkdown(body).metadata, source: 'front-matter' };
    } catch {
      // not metadata after all (a JSON-form twin whose markdown merely starts with ---): fall through
    }
  }
  if (fromPointer?.success) return { metadata: fromPointer.data, source: 'pointer-other-version' };
  return { metadata: parseMetadata({}), source: 'defaults' };
}

/**
 * When the version was saved: the pointer's record of it, else the time of the version itself (a ULID
 * minted at acceptance; the original `savedAt` was taken moments later, after the blob write).
 */
export function recoverSavedAt(version: Version, pointer: TwinPointer | null, recorded?: string): string {
  if (pointer?.version === version && pointer.savedAt) return pointer.savedAt;
  const entry = pointer?.history.find((h) => h.version === version);
  if (entry?.savedAt) return entry.savedAt;
  // A cold twin's manifest: the savedAt its pointer had when it was bundled.
  if (recorded && !Number.isNaN(Date.parse(recorded))) return recorded;
  return versionTime(version).toISOString();
}

/**
 * The `twin.saved.v1` that SaveTwinUseCase published (or would have) for this version: same event id
 * (`savedEventId`), same fields. `markdown` inline when given, else the event is a claim check on the blob.
 */
export function savedEventFor(input: {
  blob: DayBlob;
  metadata: TwinMetadata;
  savedAt: string;
  markdown?: string;
}): TwinEventOf<'twin.saved.v1'> {
  const { blob, metadata, savedAt, markdown } = input;
  return createEvent(
    'twin.saved.v1',
    {
      leadId: blob.leadId,
      version: blob.version,
      blobPath: blob.path,
      contentHash: blob.sha256,
      size: blob.size,
      contentType: 'text/markdown',
      savedAt,
      metadata,
      ...(markdown !== undefined ? { markdown } : {}),
    },
    { id: savedEventId(blob.leadId, blob.version), time: new Date(savedAt) },
  );
}
