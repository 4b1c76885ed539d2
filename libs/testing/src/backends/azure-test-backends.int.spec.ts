import { randomUUID } from 'node:crypto';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { TableClient } from '@azure/data-tables';
import { AzureKeyCredential, SearchIndexClient } from '@azure/search-documents';
import { ServiceBusClient } from '@azure/service-bus';
import { BlobServiceClient } from '@azure/storage-blob';
import { CONSUMER_NAMES } from '@twinstore/application';
import { TOPIC } from '@twinstore/contracts';
import Redis from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AzureTestBackends, startAzureTestBackends } from './azure-test-backends';
import { dockerAvailable } from './docker-detection';

/** One real operation per backend, through the SDK the services use. */
async function exerciseEveryEndpoint(b: AzureTestBackends): Promise<void> {
  const name = `probe${randomUUID().replace(/-/g, '').slice(0, 12)}`;

  const container = BlobServiceClient.fromConnectionString(b.azurite.connectionString).getContainerClient(
    name,
  );
  await container.create();
  await container.getBlockBlobClient('digital-twins/a.md').upload('# hi', 4);
  expect((await container.getBlockBlobClient('digital-twins/a.md').downloadToBuffer()).toString()).toBe(
    '# hi',
  );

  const table = TableClient.fromConnectionString(b.azurite.connectionString, name, {
    allowInsecureConnection: true,
  });
  await table.createTable();
  await table.upsertEntity({ partitionKey: 'p', rowKey: 'r', n: 1 });
  expect((await table.getEntity('p', 'r'))['n']).toBe(1);

  const cosmos = new CosmosClient({
    endpoint: b.cosmos.endpoint,
    key: b.cosmos.key,
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  try {
    const { database } = await cosmos.databases.createIfNotExists({ id: name });
    const { container: twins } = await database.containers.createIfNotExists({
      id: 'twins',
      partitionKey: { paths: ['/partition_key'] },
    });
    await twins.items.upsert({ id: 'a', partition_key: 'a', n: 1 });
    const { resource } = await twins.item('a', 'a').read<{ n: number }>();
    expect(resource?.n).toBe(1);
  } finally {
    cosmos.dispose();
  }

  const search = new SearchIndexClient(b.search.endpoint, new AzureKeyCredential(b.search.apiKey), {
    allowInsecureConnection: true,
  });
  await search.createIndex({ name, fields: [{ name: 'id', type: 'Edm.String', key: true }] });
  expect((await search.getIndex(name)).name).toBe(name);

  const bus = new ServiceBusClient(b.serviceBus.connectionString);
  try {
    const messageId = randomUUID();
    // a subject every consumer's subscription takes, under the emulator's rules as under the test broker's
    await bus
      .createSender(TOPIC)
      .sendMessages({ body: { probe: name }, messageId, subject: 'twin.saved.v1' });
    const receiver = bus.createReceiver(TOPIC, CONSUMER_NAMES[0]);
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 30_000 });
    expect(message?.messageId).toBe(messageId);
    expect(message?.body).toEqual({ probe: name });
    await receiver.completeMessage(message);
  } finally {
    await bus.close();
  }

  const redis = new Redis(b.redis.url, { maxRetriesPerRequest: 1 });
  try {
    expect(await redis.ping()).toBe('PONG');
  } finally {
    await redis.quit();
  }
}

function endpointsOf(b: AzureTestBackends): { name: string; host: string; port: number }[] {
  const part = (name: string, url: string) => {
    const { hostname, port } = new URL(url);
    return { name, host: hostname, port: Number(port) };
  };
  const setting = (cs: string, key: string) => new RegExp(`${key}=([^;]+)`).exec(cs)![1];
  return [
    part('blob', setting(b.azurite.connectionString, 'BlobEndpoint')),
    part('table', setting(b.azurite.connectionString, 'TableEndpoint')),
    part('cosmos', b.cosmos.endpoint),
    part('search', b.search.endpoint),
    part('service bus', setting(b.serviceBus.connectionString, 'Endpoint').replace(/^sb:/, 'http:')),
    part('redis', b.redis.url),
  ];
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.setTimeout(2_000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function expectAllGone(b: AzureTestBackends): Promise<void> {
  for (const { name, host, port } of endpointsOf(b)) {
    expect(port, name).toBeGreaterThan(0);
    expect(await accepts(host, port), `${name} still accepts connections on ${port}`).toBe(false);
  }
}

describe('startAzureTestBackends without a Docker engine', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('picks local, every endpoint answers, and stop() leaves nothing running', async () => {
    // A socket that cannot exist: the same detection path as on a machine without Docker, even on one with it.
    vi.stubEnv('TWINS_TEST_PROVIDER', undefined);
    vi.stubEnv('DOCKER_HOST', `unix://${join('/nonexistent', `docker-${process.pid}.sock`)}`);
    const backends = await startAzureTestBackends();
    let stopped = false;
    try {
      expect(backends.provider).toBe('local');
      expect(backends.reason).toContain('ENOENT');
      expect(backends.env).toMatchObject({
        TWINS_PROFILE: 'azure',
        TWINS_AZURE_ALLOW_INSECURE: 'true',
        TWINS_AZURE_STORAGE_CONNECTION_STRING: backends.azurite.connectionString,
        TWINS_AZURE_SERVICEBUS_CONNECTION_STRING: backends.serviceBus.connectionString,
        TWINS_REDIS_URL: backends.redis.url,
      });
      for (const { name, host, port } of endpointsOf(backends)) {
        expect(await accepts(host, port), `${name} accepts connections`).toBe(true);
      }
      await exerciseEveryEndpoint(backends);
      await backends.stop();
      stopped = true;
      await expectAllGone(backends);
      await backends.stop(); // idempotent
    } finally {
      if (!stopped) await backends.stop();
    }
  }, 60_000);
});

describe('startAzureTestBackends with Docker (the real emulators)', async () => {
  // Decided once at collection, so the test shows as skipped (not silently absent) where it cannot run.
  const runnable = (await dockerAvailable()) && process.env['ACCEPT_EULA'] === 'Y';

  it.skipIf(!runnable)(
    'picks containers (needs a Docker engine and ACCEPT_EULA=Y), every endpoint answers, and stop() removes them',
    async () => {
      const backends = await startAzureTestBackends({ prefer: 'containers' });
      let stopped = false;
      try {
        expect(backends.provider).toBe('containers');
        await exerciseEveryEndpoint(backends);
        await backends.stop();
        stopped = true;
        await expectAllGone(backends);
      } finally {
        if (!stopped) await backends.stop();
      }
    },
    15 * 60_000,
  );
});
