import { describe, expect, it } from 'vitest';
import type { TwinEvent } from '@twinstore/contracts';
import { contentPath, documentFromJson, TwinRecord, VersionGenerator } from '@twinstore/domain';
import {
  BlobProperties,
  ContentStore,
  EventPublisher,
  PreconditionFailedError,
  PutBlobItem,
  PutBlobOptions,
  PutBlobOutcome,
  RecentWrites,
} from '../ports';
import { SaveTwinCommand, SaveTwinResult, SaveTwinUseCase } from './save-twin.use-case';

/** A blob store in memory that counts what the use case asks of it; putMany only when `grouped`. */
class CountingStore implements ContentStore {
  readonly blobs = new Map<string, { body: Buffer; properties: BlobProperties }>();
  readonly calls = { put: 0, putMany: 0, head: 0 };
  /** Paths whose next write fails with this error. */
  readonly failures = new Map<string, Error>();
  private etags = 0;
  putMany?: (items: readonly PutBlobItem[]) => Promise<PutBlobOutcome[]>;

  constructor(grouped: boolean) {
    if (grouped) {
      this.putMany = async (items) => {
        this.calls.putMany++;
        return items.map((i) => this.write(i.path, i.body, i.options));
      };
    }
  }

  async put(path: string, body: Buffer, options: PutBlobOptions): Promise<{ etag: string }> {
    this.calls.put++;
    const outcome = this.write(path, body, options);
    if (outcome instanceof Error) throw outcome;
    return outcome;
  }

  /** Stores a blob as another writer would (no call counted). */
  seed(path: string, version: string, body = 'seeded'): void {
    this.write(path, Buffer.from(body), { contentType: 'text/markdown', metadata: { version } });
  }

  private write(path: string, body: Buffer, options: PutBlobOptions): PutBlobOutcome {
    const failure = this.failures.get(path);
    if (failure) {
      this.failures.delete(path);
      return failure;
    }
    const current = this.blobs.get(path);
    if (options.ifNoneMatch === '*' && current) return new PreconditionFailedError(path);
    if (options.ifMatch !== undefined && current?.properties.etag !== options.ifMatch) {
      return new PreconditionFailedError(path);
    }
    const etag = `"${++this.etags}"`;
    const properties: BlobProperties = {
      path,
      etag,
      size: body.length,
      contentType: options.contentType,
      metadata: { ...options.metadata },
      lastModified: new Date(0),
      tier: 'hot',
    };
    this.blobs.set(path, { body, properties });
    return { etag };
  }

  async get(path: string) {
    return this.blobs.get(path) ?? null;
  }
  async head(path: string) {
    this.calls.head++;
    return this.blobs.get(path)?.properties ?? null;
  }
  async delete(): Promise<boolean> {
    throw new Error('not used');
  }
  async *list(): AsyncIterable<BlobProperties> {
    throw new Error('not used');
  }
  async close(): Promise<void> {}
}

class Publisher implements EventPublisher {
  readonly calls: TwinEvent[][] = [];
  fail?: Error;
  constructor(private readonly log: string[] = []) {}
  async publish(events: TwinEvent[]): Promise<void> {
    this.log.push('publish');
    if (this.fail) throw this.fail;
    this.calls.push(events);
  }
  async close(): Promise<void> {}
}

const NOW = Date.UTC(2030, 4, 1, 12);

function setup(options: { grouped?: boolean; inlineMaxBytes?: number; tickMs?: number } = {}) {
  const log: string[] = [];
  const store = new CountingStore(options.grouped ?? true);
  const publisher = new Publisher(log);
  const noted: TwinRecord[][] = [];
  const recentWrites: RecentWrites = {
    note: async (records) => {
      log.push('note');
      noted.push([...records]);
    },
    latest: async () => null,
    forget: async () => undefined,
    close: async () => undefined,
  };
  let ms = NOW;
  const clock = { now: () => new Date((ms += options.tickMs ?? 0)) };
  const save = new SaveTwinUseCase(store, publisher, new VersionGenerator(clock.now), clock, undefined, {
    recentWrites,
    inlineMaxBytes: options.inlineMaxBytes,
  });
  return { store, publisher, noted, log, save };
}

const command = (leadId: string, markdown = `# ${leadId}`): SaveTwinCommand => ({
  leadId,
  document: documentFromJson({ markdown }),
});

const accepted = (outcome: SaveTwinResult | Error): SaveTwinResult => {
  if (outcome instanceof Error) throw outcome;
  return outcome;
};

describe('SaveTwinUseCase.executeMany', () => {
  it('writes a batch in one group, notes it once, publishes it once, and reads nothing', async () => {
    const t = setup();
    const leads = Array.from({ length: 50 }, (_, i) => `lead-${i}`);
    const outcomes = await t.save.executeMany(leads.map((l) => command(l)));
    expect(outcomes.map((o) => accepted(o).leadId)).toEqual(leads);
    expect(t.store.calls).toEqual({ put: 0, putMany: 1, head: 0 });
    expect(t.log).toEqual(['note', 'publish']);
    expect(t.publisher.calls[0].map((e) => e.subject)).toEqual(leads);
    expect(t.noted[0].map((r) => [r.leadId, r.version])).toEqual(
      outcomes.map((o) => [accepted(o).leadId, accepted(o).version]),
    );
    for (const o of outcomes) {
      const blob = t.store.blobs.get(accepted(o).blobPath);
      expect(blob?.properties.metadata.version).toBe(accepted(o).version);
    }
  });

  it('saves items of the same lead in order: versions ascend and the day-blob holds the last', async () => {
    const t = setup();
    const outcomes = await t.save.executeMany([
      command('lead-a', '# first'),
      command('lead-b'),
      command('lead-a', '# second'),
      command('lead-a', '# third'),
    ]);
    const versions = [0, 2, 3].map((i) => accepted(outcomes[i]).version);
    expect([...versions].sort()).toEqual(versions);
    const day = t.store.blobs.get(accepted(outcomes[3]).blobPath)!;
    expect(day.body.toString()).toBe('# third');
    expect(day.properties.metadata.version).toBe(versions[2]);
    expect(t.publisher.calls).toHaveLength(1);
    expect(t.publisher.calls[0].map((e) => e.id.split(':')[0])).toEqual([
      'lead-a',
      'lead-b',
      'lead-a',
      'lead-a',
    ]);
  });

  it('an invalid item fails alone; the others are saved and published', async () => {
    const t = setup();
    const outcomes = await t.save.executeMany([command('good-1'), command('../bad'), command('good-2')]);
    expect(outcomes[1]).toBeInstanceOf(Error);
    expect([outcomes[0], outcomes[2]].map((o) => accepted(o).leadId)).toEqual(['good-1', 'good-2']);
    expect(t.publisher.calls.map((c) => c.map((e) => e.subject))).toEqual([['good-1', 'good-2']]);
  });

  it('a write error of one item answers that item with the error', async () => {
    const t = setup();
    t.store.putMany = async (items) =>
      items.map((i) => (i.path.includes('/bad-disk.md') ? new Error('EIO') : { etag: '"x"' }));
    const outcomes = await t.save.executeMany([command('ok'), command('bad-disk')]);
    expect(accepted(outcomes[0]).leadId).toBe('ok');
    expect((outcomes[1] as Error).message).toBe('EIO');
    expect(t.publisher.calls[0].map((e) => e.subject)).toEqual(['ok']);
    expect(t.noted[0].map((r) => r.leadId)).toEqual(['ok']);
  });

  it('create-first: only a day-blob that exists is read, then replaced on its etag', async () => {
    const t = setup();
    const old = new VersionGenerator(() => new Date(NOW - 1000)).next();
    t.store.seed(contentPath('existing', old), old);
    const outcomes = await t.save.executeMany([command('existing', '# newer'), command('fresh')]);
    // the group, the refused create's read, its retry (a group of one goes by put())
    expect(t.store.calls).toEqual({ putMany: 1, head: 1, put: 1 });
    const saved = accepted(outcomes[0]);
    expect(saved.version > old).toBe(true);
    expect(t.store.blobs.get(saved.blobPath)?.body.toString()).toBe('# newer');
    expect(accepted(outcomes[1]).leadId).toBe('fresh');
  });

  it("mints again when the day-blob holds a version as new as ours (another writer's clock is ahead)", async () => {
    const t = setup({ tickMs: 2 });
    const ahead = new VersionGenerator(() => new Date(NOW + 5)).next();
    t.store.seed(contentPath('raced', ahead), ahead);
    const [outcome] = await t.save.executeMany([command('raced', '# mine')]);
    const saved = accepted(outcome);
    expect(saved.version > ahead).toBe(true);
    expect(t.store.blobs.get(saved.blobPath)?.properties.metadata.version).toBe(saved.version);
  });

  it('gives up when no version newer than the stored one can be minted', async () => {
    const t = setup();
    const ahead = new VersionGenerator(() => new Date(NOW + 60_000)).next();
    t.store.seed(contentPath('raced', ahead), ahead);
    const [outcome] = await t.save.executeMany([command('raced', '# mine')]);
    expect((outcome as Error).message).toContain('could not mint a version newer');
    expect(t.store.blobs.get(contentPath('raced', ahead))?.properties.metadata.version).toBe(ahead);
    expect(t.publisher.calls).toEqual([]);
  });

  it('a failed publish fails every item it was to announce', async () => {
    const t = setup();
    t.publisher.fail = new Error('bus down');
    const outcomes = await t.save.executeMany([command('a'), command('b')]);
    expect(outcomes.map((o) => (o as Error).message)).toEqual(['bus down', 'bus down']);
  });

  it('sends markdown inline up to inlineMaxBytes, by reference above it', async () => {
    const t = setup({ inlineMaxBytes: 10 });
    await t.save.executeMany([command('small', '# tiny'), command('large', '# a bit larger')]);
    const [small, large] = t.publisher.calls[0];
    expect(small.type === 'twin.saved.v1' && small.data.markdown).toBe('# tiny');
    expect(large.type === 'twin.saved.v1' && large.data.markdown).toBeUndefined();
    const none = setup({ inlineMaxBytes: 0 });
    await none.save.executeMany([command('small', '# tiny')]);
    expect(
      none.publisher.calls[0][0].type === 'twin.saved.v1' && none.publisher.calls[0][0].data,
    ).not.toHaveProperty('markdown');
  });

  it('without putMany, writes at most 16 at a time with put()', async () => {
    const t = setup({ grouped: false });
    const outcomes = await t.save.executeMany(Array.from({ length: 40 }, (_, i) => command(`lead-${i}`)));
    expect(outcomes.filter((o) => o instanceof Error)).toEqual([]);
    expect(t.store.calls).toEqual({ put: 40, putMany: 0, head: 0 });
    expect(t.publisher.calls).toHaveLength(1);
  });
});

describe('SaveTwinUseCase.execute', () => {
  it('saves a new twin with one write and no read', async () => {
    const t = setup();
    const saved = await t.save.execute(command('single'));
    expect(t.store.calls).toEqual({ put: 1, putMany: 0, head: 0 });
    expect(t.noted).toEqual([[expect.objectContaining({ leadId: 'single', version: saved.version })]]);
    expect(t.publisher.calls).toHaveLength(1);
  });

  it('throws the error of its document', async () => {
    const t = setup();
    await expect(t.save.execute(command('../bad'))).rejects.toThrow();
    expect(t.publisher.calls).toEqual([]);
  });

  it('a second save of the day replaces the day-blob: the create is refused, read, then written on its etag', async () => {
    const t = setup();
    const first = await t.save.execute(command('twice', '# one'));
    const second = await t.save.execute(command('twice', '# two'));
    expect(second.blobPath).toBe(first.blobPath);
    expect(second.version > first.version).toBe(true);
    expect(t.store.calls).toEqual({ put: 3, putMany: 0, head: 1 });
    expect(t.store.blobs.get(second.blobPath)?.body.toString()).toBe('# two');
  });
});
