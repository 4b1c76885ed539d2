import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PreconditionFailedError } from '@twinstore/application';
import { contentPath, imagePath, metadataPath, VersionGenerator } from '@twinstore/domain';
import {
  describeBlobTieringContract,
  describeContentStoreContract,
  describeLeaseLockContract,
  startAzurite,
  TestAzurite,
} from '@twinstore/testing';
import { BlobLeaseLock } from './blob-lease-lock';
import {
  AzureBlobContentStore,
  BlobArchivedError,
  createAzureBlobContentStore,
  MAX_BATCH_DELETE,
} from './azure-blob-content-store.adapter';

let azurite: TestAzurite;

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

const uniqueContainer = () => `t-${randomBytes(6).toString('hex')}`;

async function openStore(container = uniqueContainer()): Promise<AzureBlobContentStore> {
  const store = createAzureBlobContentStore({ connectionString: azurite.connectionString, container });
  await store.ensureContainer();
  return store;
}

async function dropStore(store: AzureBlobContentStore): Promise<void> {
  await store.close();
  await store.container.deleteIfExists();
}

describeContentStoreContract('Azure Blob (Azurite)', async () => {
  const store = await openStore();
  return { subject: store, cleanup: () => dropStore(store) };
});

describeBlobTieringContract('Azure Blob (Azurite)', async () => {
  const store = await openStore();
  return { subject: store, cleanup: () => dropStore(store) };
});

describeLeaseLockContract('BlobLeaseLock (Azurite, two clients)', async () => {
  const store = await openStore();
  const other = createAzureBlobContentStore({
    connectionString: azurite.connectionString,
    container: store.container.containerName,
  });
  return {
    subject: { a: new BlobLeaseLock(store.container), b: new BlobLeaseLock(other.container) },
    cleanup: () => dropStore(store),
  };
});

describe('AzureBlobContentStore on Azurite', () => {
  let store: AzureBlobContentStore;
  let service: BlobServiceClient;
  const MD = 'text/markdown; charset=utf-8';

  beforeEach(async () => {
    store = await openStore();
    service = BlobServiceClient.fromConnectionString(azurite.connectionString);
  });
  afterEach(async () => {
    await dropStore(store);
  });

  it('names blobs exactly by the seed layout, with no prefix of its own', async () => {
    const generator = new VersionGenerator(() => new Date(Date.UTC(2026, 10, 28, 12)));
    const leadId = 'c82e9186-babb-465e-bc5f-77483fec5678';
    const version = generator.next();
    const paths = [
      contentPath(leadId, version),
      metadataPath(leadId),
      imagePath(leadId, 'thumbnail'),
      imagePath(leadId, 'medium'),
      imagePath(leadId, 'full'),
    ];
    for (const p of paths) await store.put(p, Buffer.from(p), { contentType: 'application/octet-stream' });

    // Listed with the raw SDK, not through the adapter: what an operator sees in Storage Explorer.
    const raw: string[] = [];
    for await (const item of service.getContainerClient(store.container.containerName).listBlobsFlat()) {
      raw.push(item.name);
    }
    expect(raw).toEqual([
      `digital-twins/2026/11/28/${leadId}.md`,
      `digital-twins/metadata/${leadId}.json`,
      `persona-images/${leadId}/full.png`,
      `persona-images/${leadId}/medium.png`,
      `persona-images/${leadId}/thumbnail.png`,
    ]);
  });

  it('stores content type and metadata as the blob headers and metadata', async () => {
    await store.put('digital-twins/2026/11/28/lead-1.md', Buffer.from('# hi'), {
      contentType: MD,
      metadata: { version: '01JDZ0000000000000000000AA', leadid: 'lead-1', sha256: 'ab'.repeat(32) },
    });
    const props = await store.container
      .getBlockBlobClient('digital-twins/2026/11/28/lead-1.md')
      .getProperties();
    expect(props.contentType).toBe(MD);
    expect(props.metadata).toEqual({
      version: '01JDZ0000000000000000000AA',
      leadid: 'lead-1',
      sha256: 'ab'.repeat(32),
    });
    // ETags are the service's own, quoted, passed through unchanged.
    expect((await store.head('digital-twins/2026/11/28/lead-1.md'))!.etag).toBe(props.etag);
    expect(props.etag).toMatch(/^"0x[0-9A-F]+"$/);
  });

  it('refuses metadata keys Azure would reject or re-case, before any request', async () => {
    await expect(
      store.put('x/a.md', Buffer.from('a'), { contentType: MD, metadata: { 'not-an-identifier': '1' } }),
    ).rejects.toThrow(/lower-case identifier/);
    await expect(
      store.put('x/a.md', Buffer.from('a'), { contentType: MD, metadata: { leadId: '1' } }),
    ).rejects.toThrow(/lower-case identifier/);
    expect(await store.head('x/a.md')).toBeNull();
  });

  it('refuses paths that would escape their prefix', async () => {
    for (const bad of ['../x.md', 'a/../../b', 'a//b', '/a', 'a/./b', 'a b', '']) {
      await expect(store.put(bad, Buffer.from('x'), { contentType: MD })).rejects.toThrow(/blob path/);
    }
  });

  it('moves blobs between tiers; the blob keeps its ETag and content', async () => {
    const { etag } = await store.put('t/a.md', Buffer.from('tiered'), { contentType: MD });
    const blob = store.container.getBlockBlobClient('t/a.md');

    expect(await store.setTier('t/a.md', 'cool')).toBe(true);
    expect((await blob.getProperties()).accessTier).toBe('Cool');
    expect(await store.head('t/a.md')).toMatchObject({ tier: 'cool', etag });
    expect((await store.get('t/a.md'))!.properties.tier).toBe('cool');

    expect(await store.setTier('t/a.md', 'archive')).toBe(true);
    expect((await blob.getProperties()).accessTier).toBe('Archive');
    const [listed] = await collect(store.list('t/'));
    expect(listed).toMatchObject({ path: 't/a.md', tier: 'archive', etag });

    expect(await store.setTier('t/a.md', 'hot')).toBe(true);
    expect((await blob.getProperties()).accessTier).toBe('Hot');
    expect((await store.get('t/a.md'))!.body.toString()).toBe('tiered');
    expect(await store.setTier('t/missing.md', 'cool')).toBe(false);
  });

  it('get of an archived blob throws BlobArchivedError; head still answers', async () => {
    await store.put('t/cold.md', Buffer.from('frozen'), { contentType: MD });
    await store.setTier('t/cold.md', 'archive');

    // What the service says underneath: 409 BlobArchived.
    const raw = await store.container
      .getBlockBlobClient('t/cold.md')
      .download()
      .catch((e: unknown) => e as { statusCode: number; code: string });
    expect(raw).toMatchObject({ statusCode: 409, code: 'BlobArchived' });

    const error = await store.get('t/cold.md').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlobArchivedError);
    expect(error).toMatchObject({ code: 'BLOB.ARCHIVED', path: 't/cold.md' });
    expect(await store.head('t/cold.md')).toMatchObject({ tier: 'archive', size: 6 });
  });

  it('deleteMany removes hundreds of blobs in batches of at most 256 and reports the missing ones', async () => {
    const paths = Array.from({ length: 300 }, (_, i) => `history/lead-1/${String(i).padStart(4, '0')}.md`);
    await inParallel(paths, 32, (p) =>
      store.put(p, Buffer.from(p), { contentType: MD }).then(() => undefined),
    );
    await store.put('history/lead-2/keep.md', Buffer.from('keep'), { contentType: MD });

    const result = await store.deleteMany([...paths, 'history/lead-1/never.md']);
    expect(result.deleted.sort()).toEqual([...paths].sort());
    expect(result.missing).toEqual(['history/lead-1/never.md']);
    expect(MAX_BATCH_DELETE).toBe(256);
    expect((await collect(store.list('history/'))).map((b) => b.path)).toEqual(['history/lead-2/keep.md']);
    expect(await store.deleteMany([])).toEqual({ deleted: [], missing: [] });
  });

  it('a failed conditional write surfaces as PreconditionFailedError, not as the SDK error', async () => {
    await store.put('c/a.md', Buffer.from('1'), { contentType: MD });
    const error = await store
      .put('c/a.md', Buffer.from('2'), { contentType: MD, ifMatch: '"0x8D000000000000"' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreconditionFailedError);
    expect(error).toMatchObject({ code: 'BLOB.PRECONDITION_FAILED' });
  });

  it('lists across several pages', async () => {
    const paged = new AzureBlobContentStore(store.container, { listPageSize: 7 });
    const names = Array.from({ length: 30 }, (_, i) => `p/${String(i).padStart(3, '0')}`);
    await inParallel(names, 16, (p) =>
      store.put(p, Buffer.from(p), { contentType: MD }).then(() => undefined),
    );
    expect((await collect(paged.list('p/'))).map((b) => b.path)).toEqual(names);
  });

  it('measures put throughput of 10 KB bodies at 32 in flight against raw uploadData', async () => {
    const perRound = 500;
    const bodies = Array.from({ length: perRound }, () => randomBytes(10 * 1024));
    const raw = service.getContainerClient(store.container.containerName);
    const rawPut = (name: string, body: Buffer) =>
      raw
        .getBlockBlobClient(name)
        .uploadData(body, { blobHTTPHeaders: { blobContentType: MD }, metadata: { version: 'v' } })
        .then(() => undefined);
    const adapterPut = (name: string, body: Buffer) =>
      store
        .put(name, body, { contentType: MD, metadata: { version: 'v' }, ifNoneMatch: '*' })
        .then(() => undefined);
    const round = async (label: string, put: (name: string, body: Buffer) => Promise<void>) => {
      const started = performance.now();
      await inParallel(
        bodies.map((body, i) => ({ body, i })),
        32,
        ({ body, i }) => put(`${label}/${i}.md`, body),
      );
      return perRound / ((performance.now() - started) / 1000);
    };

    await round('warmup', rawPut); // JIT, sockets and Azurite's first allocations, measured by nobody
    // Alternating rounds, so drift in the shared process (GC, Azurite's growing index) hits both sides alike.
    const rates = { raw: [] as number[], adapter: [] as number[] };
    for (let r = 0; r < 2; r++) {
      rates.raw.push(await round(`raw${r}`, rawPut));
      rates.adapter.push(await round(`adapter${r}`, adapterPut));
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(
      `[measure] blob put 10 KB, 32 in flight, ${2 * perRound} each: adapter put (If-None-Match) ` +
        `${mean(rates.adapter).toFixed(0)}/s [${rates.adapter.map((x) => x.toFixed(0)).join(', ')}], ` +
        `raw uploadData ${mean(rates.raw).toFixed(0)}/s [${rates.raw.map((x) => x.toFixed(0)).join(', ')}]`,
    );
    expect(mean(rates.adapter)).toBeGreaterThan(0);
  });
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}
