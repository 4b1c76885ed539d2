import { randomBytes } from 'node:crypto';
import { describe } from 'vitest';
import { describeContentStoreContract } from '@twinstore/testing';
import { createAzureBlobContentStore } from './azure-blob-content-store.adapter';

/**
 * The contract against a real storage account, when one is configured:
 *   TWINS_LIVE_STORAGE_CONNECTION_STRING='DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...'
 * Each test creates its own container (`twins-live-<random>`) and deletes it. Without the variable the suite
 * is reported as skipped, never as passed.
 */
const connectionString = process.env['TWINS_LIVE_STORAGE_CONNECTION_STRING'];

describe.skipIf(!connectionString)(
  'AzureBlobContentStore live (needs TWINS_LIVE_STORAGE_CONNECTION_STRING)',
  () => {
    describeContentStoreContract('Azure Blob (live)', async () => {
      const store = createAzureBlobContentStore({
        connectionString: connectionString!,
        container: `twins-live-${randomBytes(6).toString('hex')}`,
      });
      await store.ensureContainer();
      return {
        subject: store,
        cleanup: async () => {
          await store.close();
          await store.container.deleteIfExists();
        },
      };
    });
  },
);
