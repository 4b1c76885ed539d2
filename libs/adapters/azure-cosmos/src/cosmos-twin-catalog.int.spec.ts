import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { contentPath, parseMetadata, TwinRecord, Version, VersionGenerator } from '@twinstore/domain';
import { describeCatalogContract, startCosmosServer, TestCosmosServer } from '@twinstore/testing';
import {
  CosmosTwinCatalog,
  createCosmosTwinCatalog,
  PARTITION_KEY_PATH,
} from './cosmos-twin-catalog.adapter';

let server: TestCosmosServer;

beforeAll(async () => {
  server = await startCosmosServer();
});
afterAll(async () => {
  await server?.stop();
});

/** A container per test: the server is shared by the file, the data never is. */
async function openCatalog(): Promise<CosmosTwinCatalog> {
  const catalog = createCosmosTwinCatalog({
    endpoint: server.endpoint,
    key: server.key,
    container: `twins-${randomBytes(6).toString('hex')}`,
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  await catalog.ensureContainer();
  return catalog;
}

async function dropCatalog(catalog: CosmosTwinCatalog): Promise<void> {
  await catalog.container.delete();
  await catalog.close();
}

describeCatalogContract('Cosmos DB (cosmosdb-server)', async () => {
  const catalog = await openCatalog();
  return { subject: catalog, cleanup: () => dropCatalog(catalog) };
});

function versions(count: number, start = Date.UTC(2026, 10, 28, 9)): Version[] {
  let ms = start;
  const generator = new VersionGenerator(() => new Date((ms += 1000)));
  return Array.from({ length: count }, () => generator.next());
}

function record(leadId: string, version: Version, metadata: Record<string, unknown> = {}): TwinRecord {
  return {
    leadId,
    version,
    blobPath: contentPath(leadId, version),
    contentHash: 'ab'.repeat(32),
    size: 10_240,
    savedAt: new Date(Date.UTC(2026, 10, 28, 9, 0, 1)).toISOString(),
    metadata: parseMetadata(metadata),
  };
}

describe('CosmosTwinCatalog on cosmosdb-server', () => {
  let catalog: CosmosTwinCatalog;
  const v = versions(4);
  const leadId = 'c82e9186-babb-465e-bc5f-77483fec5678';

  beforeEach(async () => {
    catalog = await openCatalog();
  });
  afterEach(async () => {
    await dropCatalog(catalog);
  });

  it('partitions the container by /partition_key', async () => {
    const { resource } = await catalog.container.read();
    expect(resource!.partitionKey!.paths).toEqual([PARTITION_KEY_PATH]);
  });

  it("stores the seed's minimal document, with the leadId as partition key", async () => {
    await catalog.upsert(
      record(leadId, v[0], {
        classification: 'hot',
        age: 32,
        income: 120000,
        location: 'Sydney',
        tags: ['family', 'term-life', 'high-income'],
        channel: 'web',
      }),
    );
    // Read with the SDK directly, as any other consumer of the container would.
    const { resource } = await catalog.container.item(leadId, leadId).read<Record<string, unknown>>();
    const document = Object.fromEntries(Object.entries(resource!).filter(([k]) => !k.startsWith('_')));
    expect(document).toEqual({
      id: leadId,
      partition_key: leadId,
      lead_classification: 'hot',
      age: 32,
      income: 120000,
      location: 'Sydney',
      last_updated: '2026-11-28T09:00:01.000Z',
      blob_path: `digital-twins/2026/11/28/${leadId}.md`,
      search_tags: ['family', 'term-life', 'high-income'],
      version: v[0],
      content_hash: 'ab'.repeat(32),
      size: 10_240,
      metadata_extra: { channel: 'web' },
    });
  });

  it('omits unknown optional fields instead of writing nulls', async () => {
    await catalog.upsert(record('lead-min', v[0]));
    const { resource } = await catalog.container.item('lead-min', 'lead-min').read<Record<string, unknown>>();
    expect(resource).not.toHaveProperty('age');
    expect(resource).not.toHaveProperty('income');
    expect(resource).not.toHaveProperty('location');
    expect(resource).toMatchObject({ lead_classification: 'warm', search_tags: [] });
  });

  it('a tombstone keeps no personal field; a newer record after it keeps the deletion version', async () => {
    await catalog.upsert(record(leadId, v[0], { age: 32, location: 'Sydney', tags: ['x'] }));
    await catalog.remove(leadId, v[1]);
    const tomb = (await catalog.container.item(leadId, leadId).read<Record<string, unknown>>()).resource!;
    expect(
      Object.keys(tomb)
        .filter((k) => !k.startsWith('_'))
        .sort(),
    ).toEqual(['deleted', 'deleted_version', 'id', 'partition_key']);
    expect(tomb).toMatchObject({ deleted: true, deleted_version: v[1] });

    await catalog.upsert(record(leadId, v[2], { age: 33 }));
    const back = (await catalog.container.item(leadId, leadId).read<Record<string, unknown>>()).resource!;
    expect(back).toMatchObject({ version: v[2], age: 33, deleted_version: v[1] });
    expect(back).not.toHaveProperty('deleted');
  });

  it('lists across partitions in id order in several pages', async () => {
    const ids = Array.from({ length: 25 }, (_, i) => `lead-${String(i).padStart(3, '0')}`);
    for (const id of [...ids].reverse()) await catalog.upsert(record(id, v[0]));
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await catalog.list({ after, limit: 10 });
      if (page.length === 0) break;
      seen.push(...page.map((r) => r.leadId));
      after = page[page.length - 1].leadId;
    }
    expect(seen).toEqual(ids);
    expect(await catalog.count()).toBe(25);
    expect(await catalog.list({ limit: 0 })).toEqual([]);
  });

  it('measures the upsert rate at 32 in flight', async () => {
    const count = 1000;
    const [first, second] = versions(2);
    const run = async (version: Version) => {
      const records = Array.from({ length: count }, (_, i) =>
        record(`m-${i}`, version, { age: 30 + (i % 40), tags: ['a', 'b'], classification: 'hot' }),
      );
      const started = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < records.length) expect(await catalog.upsert(records[next++])).toBe('applied');
        }),
      );
      return count / ((performance.now() - started) / 1000);
    };
    const created = await run(first);
    const replaced = await run(second);
    console.log(
      `[measure] cosmos catalog upsert x${count} @32: new leads (point read + create) ${created.toFixed(0)}/s, ` +
        `newer versions (point read + replace If-Match) ${replaced.toFixed(0)}/s`,
    );
    expect(await catalog.count()).toBe(count);
  });
});
