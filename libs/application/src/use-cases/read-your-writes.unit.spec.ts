import { describe, expect, it } from 'vitest';
import {
  contentPath,
  metadataPath,
  TwinPointer,
  TwinRecord,
  Version,
  VersionGenerator,
} from '@twinstore/domain';
import {
  AuditLog,
  BlobProperties,
  ContentStore,
  EventPublisher,
  RecentWrites,
  TwinCache,
  TwinCatalog,
} from '../ports';
import { AccessRecorder } from './access-recorder';
import { DeleteTwinUseCase } from './delete-twin.use-case';
import { GetTwinMetadataUseCase } from './get-twin-metadata.use-case';
import { GetTwinUseCase } from './get-twin.use-case';

/**
 * How the read use cases combine RecentWrites with the projections, on minimal fakes (the whole path on real
 * stores: libs/platform/src/read-path.int.spec.ts).
 */
const DAY = 86_400_000;
let ms = Date.UTC(2030, 0, 1, 12);
const versions = new VersionGenerator(() => new Date(ms));
const LEAD = 'lead-1';

const record = (version: Version, size = 1): TwinRecord => ({
  leadId: LEAD,
  version,
  blobPath: contentPath(LEAD, version),
  contentHash: '00'.repeat(32),
  size,
  savedAt: new Date(ms).toISOString(),
  metadata: { classification: 'hot', tags: [], extra: {} },
});

function fakes(options: { catalog?: TwinRecord; tombstone?: Version; noted?: TwinRecord | Error } = {}) {
  const blobs = new Map<string, { body: Buffer; version: string }>();
  const calls: string[] = [];
  const properties = (path: string, version: string): BlobProperties => ({
    path,
    etag: `"${version}"`,
    size: 1,
    contentType: 'text/markdown',
    metadata: { version },
    lastModified: new Date(ms),
    tier: 'hot',
  });
  const content = {
    async get(path: string) {
      const b = blobs.get(path);
      return b ? { body: b.body, properties: properties(path, b.version) } : null;
    },
    async head(path: string) {
      const b = blobs.get(path);
      return b ? properties(path, b.version) : null;
    },
    async delete(path: string) {
      calls.push(`delete ${path}`);
      return blobs.delete(path);
    },
  } as unknown as ContentStore;
  const catalog = {
    get: async () => options.catalog ?? null,
    tombstone: async () => options.tombstone ?? null,
  } as unknown as TwinCatalog;
  const cache = {
    get: async () => null,
    set: async () => 'applied',
    invalidate: async () => undefined,
  } as unknown as TwinCache;
  const recentWrites: RecentWrites = {
    note: async () => undefined,
    latest: async () => {
      if (options.noted instanceof Error) throw options.noted;
      return options.noted ?? null;
    },
    forget: async (leadId, version) => void calls.push(`forget ${leadId} ${version}`),
    close: async () => undefined,
  };
  const access = { record: () => undefined } as unknown as AccessRecorder;
  const put = (path: string, version: string, body = version) =>
    blobs.set(path, { body: Buffer.from(body), version });
  return { content, catalog, cache, recentWrites, access, calls, put };
}

describe('GetTwinUseCase with RecentWrites', () => {
  it('reads the noted version from its day-blob when the catalog has not caught up', async () => {
    const noted = record(versions.next());
    const f = fakes({ noted });
    f.put(noted.blobPath, noted.version, 'fresh');
    const twin = await new GetTwinUseCase(
      f.cache,
      f.catalog,
      f.content,
      f.access,
      undefined,
      f.recentWrites,
    ).execute(LEAD);
    expect(twin).toMatchObject({ version: noted.version, source: 'store' });
    expect(twin.markdown.toString()).toBe('fresh');
  });

  it('an explicit minVersion above the noted one still decides', async () => {
    const noted = record(versions.next());
    const asked = versions.next();
    const f = fakes({ noted });
    f.put(noted.blobPath, noted.version);
    const get = new GetTwinUseCase(f.cache, f.catalog, f.content, f.access, undefined, f.recentWrites);
    await expect(get.execute(LEAD, { minVersion: asked })).rejects.toMatchObject({ code: 'TWIN.NOT_FOUND' });
  });

  it('answers from the projections when RecentWrites fails', async () => {
    const projected = record(versions.next());
    const f = fakes({ catalog: projected, noted: new Error('redis down') });
    f.put(projected.blobPath, projected.version);
    const get = new GetTwinUseCase(f.cache, f.catalog, f.content, f.access, undefined, f.recentWrites);
    expect((await get.execute(LEAD)).version).toBe(projected.version);
  });

  it('a noted version whose blob a DELETE erased is not found', async () => {
    const f = fakes({ noted: record(versions.next()) });
    const get = new GetTwinUseCase(f.cache, f.catalog, f.content, f.access, undefined, f.recentWrites);
    await expect(get.execute(LEAD)).rejects.toMatchObject({ code: 'TWIN.NOT_FOUND' });
  });
});

describe('GetTwinMetadataUseCase with RecentWrites', () => {
  it('answers the noted record when it is newer than the catalog, else the catalog', async () => {
    const older = record(versions.next());
    const newer = record(versions.next());
    let f = fakes({ catalog: older, noted: newer });
    expect(await new GetTwinMetadataUseCase(f.catalog, f.content, f.recentWrites).metadata(LEAD)).toEqual(
      newer,
    );
    f = fakes({ catalog: newer, noted: older });
    expect(await new GetTwinMetadataUseCase(f.catalog, f.content, f.recentWrites).metadata(LEAD)).toEqual(
      newer,
    );
  });

  it('never answers a noted record at or below the catalog tombstone', async () => {
    const noted = record(versions.next());
    const deletion = versions.next();
    const f = fakes({ noted, tombstone: deletion });
    const uc = new GetTwinMetadataUseCase(f.catalog, f.content, f.recentWrites);
    await expect(uc.metadata(LEAD)).rejects.toMatchObject({ code: 'TWIN.NOT_FOUND' });
    await expect(uc.versions(LEAD)).rejects.toMatchObject({ code: 'TWIN.NOT_FOUND' });
    // A save after the deletion is a new twin.
    const after = record(versions.next());
    const g = fakes({ noted: after, tombstone: deletion });
    expect(await new GetTwinMetadataUseCase(g.catalog, g.content, g.recentWrites).metadata(LEAD)).toEqual(
      after,
    );
  });

  it('merges the noted version into the pointer history: one entry per day-blob, newest first', async () => {
    const yesterday = record(versions.next());
    ms += DAY;
    const today = record(versions.next());
    const noted = record(versions.next(), 7);
    const pointer: TwinPointer = {
      ...today,
      history: [yesterday, today].map((r) => ({
        version: r.version,
        blobPath: r.blobPath,
        savedAt: r.savedAt,
        size: r.size,
      })),
    };
    const f = fakes({ noted });
    f.put(metadataPath(LEAD), 'x', JSON.stringify(pointer));
    const history = await new GetTwinMetadataUseCase(f.catalog, f.content, f.recentWrites).versions(LEAD);
    expect(history.map((h) => [h.version, h.size])).toEqual([
      [noted.version, 7],
      [yesterday.version, 1],
    ]);
  });
});

describe('DeleteTwinUseCase with RecentWrites', () => {
  it('forgets the lead with the deletion version before it erases the content', async () => {
    const saved = record(versions.next());
    const f = fakes({ noted: saved });
    f.put(saved.blobPath, saved.version);
    const publisher = { publish: async () => undefined } as unknown as EventPublisher;
    const audit = { append: async () => undefined } as unknown as AuditLog;
    const clock = { now: () => new Date(ms) };
    const result = await new DeleteTwinUseCase(
      f.content,
      f.catalog,
      f.cache,
      publisher,
      versions,
      clock,
      audit,
      undefined,
      f.recentWrites,
    ).execute(LEAD);
    expect(f.calls[0]).toBe(`forget ${LEAD} ${result.version}`);
    expect(f.calls).toContain(`delete ${saved.blobPath}`);
  });
});
