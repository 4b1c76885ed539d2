import { parseLeadId } from './lead-id';
import { Version, versionTime } from './version';

/**
 * The reference design's blob layout, kept exactly. Every path is built from a validated leadId only,
 * so no path can escape its prefix.
 */
export const CONTENT_PREFIX = 'digital-twins/';
export const METADATA_PREFIX = 'digital-twins/metadata/';
export const IMAGE_PREFIX = 'persona-images/';
export const IMAGE_SIZES = ['thumbnail', 'medium', 'full'] as const;
export type ImageSize = (typeof IMAGE_SIZES)[number];

const pad = (n: number) => String(n).padStart(2, '0');

/** `digital-twins/{yyyy}/{mm}/{dd}/{leadId}.md`, dated by the version's UTC day. */
export function contentPath(leadId: string, version: Version): string {
  return contentPathOn(leadId, versionTime(version));
}

/** The day-blob of `leadId` for the UTC day of `d`. */
export function contentPathOn(leadId: string, d: Date): string {
  const id = parseLeadId(leadId);
  return `${CONTENT_PREFIX}${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/${id}.md`;
}

/** `digital-twins/metadata/{leadId}.json`: the current pointer and extracted metadata. */
export function metadataPath(leadId: string): string {
  return `${METADATA_PREFIX}${parseLeadId(leadId)}.json`;
}

/** `persona-images/{leadId}/{size}.png`. */
export function imagePath(leadId: string, size: ImageSize): string {
  return `${IMAGE_PREFIX}${parseLeadId(leadId)}/${size}.png`;
}

const CONTENT_PATH_PATTERN =
  /^digital-twins\/(\d{4})\/(\d{2})\/(\d{2})\/([A-Za-z0-9][A-Za-z0-9_-]{0,127})\.md$/;

/** The leadId and day of a content path, or null if the path is not one. */
export function parseContentPath(path: string): { leadId: string; day: string } | null {
  const m = CONTENT_PATH_PATTERN.exec(path);
  return m ? { leadId: m[4], day: `${m[1]}-${m[2]}-${m[3]}` } : null;
}
