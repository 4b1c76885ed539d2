import { describe, expect, it } from 'vitest';
import { SaveTwinUseCase, VersionConflictError, WriterHandler } from '@twinstore/application';
import { documentFromJson, Version, VersionGenerator } from '@twinstore/domain';
import { describeIdempotencyStoreContract } from '@twinstore/testing';
import {
  InMemoryCatalog,
  InMemoryContentStore,
  InMemoryIdempotencyStore,
  RecordingPublisher,
} from '../testing/in-memory-doubles';

describeIdempotencyStoreContract('InMemoryIdempotencyStore (the test double)', async (options) => {
  const store = new InMemoryIdempotencyStore(options);
  return { subject: store, sibling: async () => store, cleanup: async () => undefined };
});

/** SaveTwinUseCase's If-Match across UTC days, on a clock the test moves. */
describe('If-Match across day-blobs', () => {
  const DAY_END = Date.UTC(2030, 4, 1, 23, 59, 59);

  function setup() {
    let ms = DAY_END;
    const clock = { now: () => new Date(ms) };
    const content = new InMemoryContentStore();
    const catalog = new InMemoryCatalog();
    const publisher = new RecordingPublisher();
    const save = new SaveTwinUseCase(content, publisher, new VersionGenerator(clock.now), clock, catalog);
    const writer = new WriterHandler(catalog, content);
    let projected = 0;
    return {
      content,
      setTime: (t: number) => (ms = t),
      save: (markdown: string, ifMatch?: '*' | string[]) =>
        save.execute({ leadId: 'lead-1', document: documentFromJson({ markdown }), ifMatch }),
      async project() {
        while (projected < publisher.events.length) await writer.handle(publisher.events[projected++]);
      },
    };
  }

  const conflict = async (p: Promise<unknown>): Promise<Version | null> => {
    const e = await p.then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(VersionConflictError);
    return (e as VersionConflictError).currentVersion;
  };

  it("finds the current version on yesterday's day-blob before any projection ran (the version names its day)", async () => {
    const t = setup();
    const v0 = (await t.save('# v0')).version;
    t.setTime(DAY_END + 500);
    const v1 = (await t.save('# v1')).version; // same day-blob, v0 overwritten
    t.setTime(DAY_END + 2000); // the next UTC day
    expect(await conflict(t.save('# stale', [v0]))).toBe(v1);
    const v2 = (await t.save('# v2', [v1])).version;
    expect(t.content.puts.filter((p) => p.endsWith('lead-1.md'))).toHaveLength(3);
    expect(new Set(t.content.puts).size).toBe(2); // two day-blobs
    // v2 is on today's blob, which is always read: v1 is stale now, on either day
    expect(await conflict(t.save('# stale', [v1]))).toBe(v2);
  });

  it('If-Match: * finds a twin of an earlier day through the projections', async () => {
    const t = setup();
    const v0 = (await t.save('# v0')).version;
    await t.project();
    t.setTime(DAY_END + 2000);
    const v1 = (await t.save('# v1', '*')).version;
    expect(v1 > v0).toBe(true);
  });

  it('a catalog that names an erased blob is not trusted', async () => {
    const t = setup();
    const v0 = (await t.save('# v0')).version;
    await t.project();
    for (const path of [...t.content.blobs.keys()]) await t.content.delete(path); // erased, catalog not told
    expect(await conflict(t.save('# back', [v0]))).toBeNull();
    expect(await conflict(t.save('# back', '*'))).toBeNull();
  });
});
