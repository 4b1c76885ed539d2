import { describeRecentWritesContract, startRedisServer, TestRedisServer } from '@twinstore/testing';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentPath, TwinRecord, VersionGenerator } from '@twinstore/domain';
import { RedisRecentWrites } from './redis-recent-writes.adapter';

let server: TestRedisServer;
let probe: Redis;
let fixtureCounter = 0;

beforeAll(async () => {
  server = await startRedisServer();
  probe = new Redis(server.url);
});
afterAll(async () => {
  await probe?.quit();
  await server?.stop();
});

describeRecentWritesContract('RedisRecentWrites', async (options) => {
  const keyPrefix = `${server.keyPrefix}rw${++fixtureCounter}:`;
  const opened = [new RedisRecentWrites({ url: server.url, keyPrefix, ...options })];
  return {
    subject: opened[0],
    sibling: async () => {
      const other = new RedisRecentWrites({ url: server.url, keyPrefix, ...options });
      opened.push(other);
      return other;
    },
    cleanup: async () => {
      await Promise.all(opened.map((s) => s.close()));
    },
  };
});

describe('RedisRecentWrites on Redis', () => {
  const versions = new VersionGenerator(() => new Date());
  const record = (leadId: string): TwinRecord => {
    const version = versions.next();
    return {
      leadId,
      version,
      blobPath: contentPath(leadId, version),
      contentHash: '00'.repeat(32),
      size: 1,
      savedAt: new Date().toISOString(),
      metadata: { classification: 'warm', tags: [], extra: {} },
    };
  };

  it('keeps one key per lead with the horizon as its TTL, so Redis bounds the keys by the write rate', async () => {
    const keyPrefix = `${server.keyPrefix}ttl:`;
    const store = new RedisRecentWrites({ url: server.url, keyPrefix, horizonMs: 30_000 });
    await store.note([record('a'), record('b'), record('a')]);
    expect((await probe.keys(`${keyPrefix}*`)).sort()).toEqual([`${keyPrefix}{a}`, `${keyPrefix}{b}`]);
    const ttl = await probe.pttl(`${keyPrefix}{a}`);
    expect(ttl).toBeGreaterThan(25_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
    await store.close();
  });

  it('sends a batch as one pipeline', async () => {
    const store = new RedisRecentWrites({ url: server.url, keyPrefix: `${server.keyPrefix}pipe:` });
    const client = (store as unknown as { client: Redis }).client;
    let pipelines = 0;
    const pipeline = client.pipeline.bind(client);
    client.pipeline = ((...args: Parameters<Redis['pipeline']>) => {
      pipelines++;
      return pipeline(...args);
    }) as Redis['pipeline'];
    const batch = Array.from({ length: 100 }, (_, i) => record(`lead-${i}`));
    await store.note(batch);
    expect(pipelines).toBe(1);
    expect(await store.latest('lead-99')).toEqual(batch[99]);
    await store.close();
  });
});
