import { BundleLocation } from '../ports';

/** The format name stored in each bundle blob's metadata. */
export const BUNDLE_FORMAT = 'twinstore-bundle-1';
export const BUNDLE_CONTENT_TYPE = 'application/x-twinstore-bundle';

/** One twin version in a bundle: its bytes and the blob properties needed to restore it exactly. */
export interface BundleEntry {
  leadId: string;
  version: string;
  contentType: string;
  /** The day-blob's metadata (version, leadid, sha256): never personal data. */
  metadata: Record<string, string>;
  body: Buffer;
}

/**
 * A bundle is self-describing, so it can be read (and the offset index rebuilt) without the index: per entry
 * one JSON header line `{"leadId","version","length","contentType","metadata"}\n`, then exactly `length`
 * bytes of content, then `\n`. The offset index points at the content bytes.
 */
export function encodeBundle(
  bundle: string,
  entries: readonly BundleEntry[],
): { body: Buffer; locations: BundleLocation[] } {
  const parts: Buffer[] = [];
  const locations: BundleLocation[] = [];
  let offset = 0;
  for (const e of entries) {
    const header = Buffer.from(
      `${JSON.stringify({
        leadId: e.leadId,
        version: e.version,
        length: e.body.length,
        contentType: e.contentType,
        metadata: e.metadata,
      })}\n`,
      'utf8',
    );
    parts.push(header, e.body, Buffer.from('\n'));
    offset += header.length;
    locations.push({ bundle, offset, length: e.body.length });
    offset += e.body.length + 1;
  }
  return { body: Buffer.concat(parts), locations };
}

/** The entry whose content starts at `location.offset` (header read back from just before it). */
export function readBundleEntry(body: Buffer, location: BundleLocation): BundleEntry {
  const { offset, length } = location;
  if (offset < 2 || offset + length > body.length) throw new Error('bundle location out of range');
  const headerStart = body.lastIndexOf(0x0a, offset - 2) + 1;
  const header = JSON.parse(body.subarray(headerStart, offset - 1).toString('utf8')) as {
    leadId: string;
    version: string;
    length: number;
    contentType: string;
    metadata: Record<string, string>;
  };
  if (header.length !== length) throw new Error('bundle entry length does not match the index');
  return {
    leadId: header.leadId,
    version: header.version,
    contentType: header.contentType,
    metadata: header.metadata,
    body: Buffer.from(body.subarray(offset, offset + length)),
  };
}

/** Every entry of a bundle in order, with where its content is (rebuilding the index and the manifest). */
export function decodeBundleLocated(
  bundle: string,
  body: Buffer,
): { entry: BundleEntry; location: BundleLocation }[] {
  const out: { entry: BundleEntry; location: BundleLocation }[] = [];
  let pos = 0;
  while (pos < body.length) {
    const nl = body.indexOf(0x0a, pos);
    if (nl < 0) throw new Error('truncated bundle header');
    const header = JSON.parse(body.subarray(pos, nl).toString('utf8')) as { length: number };
    const location = { bundle, offset: nl + 1, length: header.length };
    out.push({ entry: readBundleEntry(body, location), location });
    pos = nl + 1 + header.length + 1;
  }
  return out;
}

/** Every entry of a bundle in order (rebuilding the index, tests). */
export function decodeBundle(body: Buffer): BundleEntry[] {
  const out: BundleEntry[] = [];
  let pos = 0;
  while (pos < body.length) {
    const nl = body.indexOf(0x0a, pos);
    if (nl < 0) throw new Error('truncated bundle header');
    const header = JSON.parse(body.subarray(pos, nl).toString('utf8')) as { length: number };
    const location = { bundle: '', offset: nl + 1, length: header.length };
    out.push(readBundleEntry(body, location));
    pos = nl + 1 + header.length + 1;
  }
  return out;
}
