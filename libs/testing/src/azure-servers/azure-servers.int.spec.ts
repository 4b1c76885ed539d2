import { createConnection } from 'node:net';
import { TableClient } from '@azure/data-tables';
import { CosmosClient } from '@azure/cosmos';
import { BlobServiceClient } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';
import { AZURITE_ACCOUNT_NAME, startAzurite } from './azurite';
import { startCosmosServer } from './cosmos-server';

function accepts(endpoint: string): Promise<boolean> {
  const { hostname, port } = new URL(endpoint);
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('startAzurite', () => {
  it('serves blob and table on their own ports with the development account', async () => {
    const azurite = await startAzurite();
    try {
      expect(azurite.accountName).toBe(AZURITE_ACCOUNT_NAME);
      expect(azurite.blobEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
      expect(azurite.tableEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
      expect(new URL(azurite.blobEndpoint).port).not.toBe(new URL(azurite.tableEndpoint).port);

      // The newest SDKs' API versions are accepted (skipApiVersionCheck).
      const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
        'probe',
      );
      await container.create();
      await container.getBlockBlobClient('a/b.md').upload('hi', 2);
      expect((await container.getBlockBlobClient('a/b.md').downloadToBuffer()).toString()).toBe('hi');

      const table = TableClient.fromConnectionString(azurite.connectionString, 'probe', {
        allowInsecureConnection: true,
      });
      await table.createTable();
      await table.createEntity({ partitionKey: 'p', rowKey: 'r', n: 1 });
      expect((await table.getEntity('p', 'r'))['n']).toBe(1);
    } finally {
      await azurite.stop();
    }
  });

  it('gives every start its own data, and stop() releases the ports', async () => {
    const [a, b] = await Promise.all([startAzurite(), startAzurite()]);
    try {
      const ca = BlobServiceClient.fromConnectionString(a.connectionString).getContainerClient('same');
      const cb = BlobServiceClient.fromConnectionString(b.connectionString).getContainerClient('same');
      await ca.create();
      await ca.getBlockBlobClient('x').upload('from a', 6);
      await cb.create();
      expect(await cb.getBlockBlobClient('x').exists()).toBe(false);
    } finally {
      await a.stop();
      await b.stop();
    }
    expect(await accepts(a.blobEndpoint)).toBe(false);
    expect(await accepts(a.tableEndpoint)).toBe(false);
    await a.stop(); // idempotent
  });

  it('also runs with its data on disk', async () => {
    const azurite = await startAzurite({ persistence: 'disk' });
    try {
      const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
        'disk',
      );
      await container.create();
      await container.getBlockBlobClient('x').upload('disk', 4);
      expect((await container.getBlockBlobClient('x').downloadToBuffer()).toString()).toBe('disk');
    } finally {
      await azurite.stop();
    }
  });
});

describe('startCosmosServer', () => {
  it('serves the unmodified SDK over plain http with endpoint discovery off, until stopped', async () => {
    const server = await startCosmosServer();
    const client = new CosmosClient({
      endpoint: server.endpoint,
      key: server.key,
      connectionPolicy: { enableEndpointDiscovery: false },
    });
    try {
      expect(server.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const { database } = await client.databases.createIfNotExists({ id: 'db' });
      const { container } = await database.containers.createIfNotExists({
        id: 'c',
        partitionKey: { paths: ['/pk'] },
      });
      await container.items.create({ id: 'a', pk: 'a', n: 1 });
      const { resources } = await container.items
        .query({
          query: 'SELECT VALUE c.n FROM c WHERE c.id = @id',
          parameters: [{ name: '@id', value: 'a' }],
        })
        .fetchAll();
      expect(resources).toEqual([1]);
    } finally {
      client.dispose();
      await server.stop();
    }
    expect(await accepts(server.endpoint)).toBe(false);
  });
});
