import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  contentPath,
  parseMetadata,
  TwinPointer,
  Version,
  VersionGenerator,
  versionTime,
} from '@twinstore/domain';
import { BlobProperties } from '../ports';
import { savedEventId } from '../use-cases/save-twin.use-case';
import { dayBlobOf, isBlobProblem, mapBounded } from './day-blob';
import { dayPrefixes } from './reconcile.use-case';
import { recoverMetadata, recoverSavedAt, savedEventFor } from './recover';

const at = (iso: string) => new VersionGenerator(() => new Date(iso));
const v1 = at('2026-03-01T10:00:00Z').next();
const v2 = at('2026-03-02T10:00:00Z').next();
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const props = (path: string, metadata: Record<string, string>): BlobProperties => ({
  path,
  etag: '"e"',
  size: 5,
  contentType: 'text/markdown; charset=utf-8',
  metadata,
  lastModified: new Date(),
  tier: 'hot',
});

const pointer = (version: Version, metadata: Record<string, unknown>): TwinPointer => ({
  leadId: 'lead-1',
  version,
  blobPath: contentPath('lead-1', version),
  contentHash: sha('x'),
  size: 1,
  savedAt: '2026-03-01T10:00:00.123Z',
  metadata: parseMetadata(metadata),
  history: [
    { version, blobPath: contentPath('lead-1', version), savedAt: '2026-03-01T10:00:00.123Z', size: 1 },
  ],
});

describe('day-blobs of the listing', () => {
  it('takes content day-blobs whose metadata holds up, skips pointers, reports the rest', () => {
    const path = contentPath('lead-1', v1);
    const ok = dayBlobOf(props(path, { version: v1, leadid: 'lead-1', sha256: sha('hello') }));
    expect(ok).toMatchObject({ leadId: 'lead-1', version: v1, path, sha256: sha('hello'), size: 5 });
    expect(dayBlobOf(props('digital-twins/metadata/lead-1.json', { version: v1 }))).toBeNull();
    const problems = [
      props(path, { leadid: 'lead-1', sha256: sha('a') }),
      props(path, { version: v1, leadid: 'lead-2', sha256: sha('a') }),
      props(path, { version: v2, leadid: 'lead-1', sha256: sha('a') }), // v2 is another day
      props(path, { version: v1, leadid: 'lead-1', sha256: 'nope' }),
    ].map(dayBlobOf);
    expect(problems.every((p) => isBlobProblem(p))).toBe(true);
    expect(problems.map((p) => (isBlobProblem(p) ? p.reason : ''))).toEqual([
      'blob metadata has no valid version',
      'blob metadata leadid differs from the path',
      'the path is not the UTC day of the blob version',
      'blob metadata has no valid sha256',
    ]);
  });

  it('mapBounded keeps order and never runs more than the bound at once', async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapBounded([5, 1, 4, 2, 3], 2, async (n) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, n));
      inFlight--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(most).toBe(2);
  });
});

describe('metadata of a recovered version', () => {
  const withFrontMatter = Buffer.from('---\nage: 58\nclassification: cold\ntags: [Retiree]\n---\n# Pat\n');
  const plain = Buffer.from('# Alex\nno front matter\n');

  it('pointer at that version first, exact', () => {
    const r = recoverMetadata(v2, withFrontMatter, pointer(v2, { classification: 'hot', income: 5 }));
    expect(r).toEqual({ source: 'pointer', metadata: parseMetadata({ classification: 'hot', income: 5 }) });
  });

  it('front matter next (a text/markdown twin), exact', () => {
    const r = recoverMetadata(v2, withFrontMatter, pointer(v1, { classification: 'hot' }));
    expect(r).toEqual({
      source: 'front-matter',
      metadata: parseMetadata({ age: 58, classification: 'cold', tags: ['retiree'] }),
    });
  });

  it("then the pointer of another version, then the defaults: a JSON-form twin's metadata is only in its event", () => {
    expect(recoverMetadata(v2, plain, pointer(v1, { classification: 'hot' }))).toEqual({
      source: 'pointer-other-version',
      metadata: parseMetadata({ classification: 'hot' }),
    });
    expect(recoverMetadata(v2, plain, null)).toEqual({ source: 'defaults', metadata: parseMetadata({}) });
    // markdown that merely starts with a rule is not metadata
    const notYaml = Buffer.from('---\n: : [\n---\ntext\n');
    expect(recoverMetadata(v2, notYaml, null).source).toBe('defaults');
    // archived: no body
    expect(recoverMetadata(v2, null, null).source).toBe('defaults');
  });

  it('savedAt from the pointer when it knows the version, else the time of the version', () => {
    expect(recoverSavedAt(v1, pointer(v1, {}))).toBe('2026-03-01T10:00:00.123Z');
    expect(recoverSavedAt(v2, pointer(v1, {}))).toBe(versionTime(v2).toISOString());
    expect(recoverSavedAt(v2, null)).toBe('2026-03-02T10:00:00.000Z');
  });
});

describe('the event of a recovered version', () => {
  it('is the twin.saved.v1 the save publishes, with the same id', () => {
    const leadId = 'L'.repeat(128);
    const blob = {
      leadId,
      version: v1,
      path: contentPath(leadId, v1),
      sha256: sha('hi'),
      size: 2,
      tier: 'hot' as const,
    };
    const e = savedEventFor({ blob, metadata: parseMetadata({}), savedAt: versionTime(v1).toISOString() });
    expect(e.id).toBe(savedEventId(leadId, v1));
    expect(e.id.length).toBeLessThanOrEqual(128);
    expect(e.data).toEqual({
      leadId,
      version: v1,
      blobPath: blob.path,
      contentHash: sha('hi'),
      size: 2,
      contentType: 'text/markdown',
      savedAt: '2026-03-01T10:00:00.000Z',
      metadata: parseMetadata({}),
    });
    expect(
      savedEventFor({ blob, metadata: parseMetadata({}), savedAt: e.data.savedAt, markdown: 'hi' }).data
        .markdown,
    ).toBe('hi');
  });
});

describe('reconcile window', () => {
  it('lists one prefix per UTC day of the window, or the whole content prefix for long windows', () => {
    expect(dayPrefixes(new Date('2026-02-27T23:00:00Z'), new Date('2026-03-01T01:00:00Z'))).toEqual([
      'digital-twins/2026/02/27/',
      'digital-twins/2026/02/28/',
      'digital-twins/2026/03/01/',
    ]);
    expect(dayPrefixes(new Date('2025-01-01T00:00:00Z'), new Date('2026-03-01T00:00:00Z'))).toEqual([
      'digital-twins/',
    ]);
  });
});
