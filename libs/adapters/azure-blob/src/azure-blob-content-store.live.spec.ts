import { randomBytes } from 'node:crypto';
import { describe } from 'vitest';
import { describeContentStoreContract, describeLeaseLockContract } from '@twinstore/testing';
import { BlobLeaseLock } from './blob-lease-lock';
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
    // the tiering sweep's lease: two clients of one container, as two replicas would be
    describeLeaseLockContract('BlobLeaseLock (live, two clients)', async () => {
      const container = `twins-live-${randomBytes(6).toString('hex')}`;
      const store = createAzureBlobContentStore({ connectionString: connectionString!, container });
      const other = createAzureBlobContentStore({ connectionString: connectionString!, container });
      await store.ensureContainer();
      return {
        subject: { a: new BlobLeaseLock(store.container), b: new BlobLeaseLock(other.container) },
        cleanup: async () => {
          await store.close();
          await other.close();
          await store.container.deleteIfExists();
        },
      };
    });
  },
);
