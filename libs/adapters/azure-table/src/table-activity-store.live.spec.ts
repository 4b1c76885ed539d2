import { randomBytes } from 'node:crypto';
import { describe } from 'vitest';
import { describeActivityStoreContract } from '@twinstore/testing';
import { createTableActivityStore } from './table-activity-store.adapter';

/**
 * The contract against a real storage account's Table service, when one is configured:
 *   TWINS_LIVE_STORAGE_CONNECTION_STRING='DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...'
 * Each test creates its own table (`twinactivitylive<random>`) and deletes it. Without the variable the
 * suite is reported as skipped, never as passed.
 */
const connectionString = process.env['TWINS_LIVE_STORAGE_CONNECTION_STRING'];

describe.skipIf(!connectionString)(
  'TableActivityStore live (needs TWINS_LIVE_STORAGE_CONNECTION_STRING)',
  () => {
    describeActivityStoreContract('Azure Table (live)', async () => {
      const store = createTableActivityStore({
        connectionString: connectionString!,
        table: `twinactivitylive${randomBytes(5).toString('hex')}`,
      });
      await store.ensureTable();
      return {
        subject: store,
        cleanup: async () => {
          await store.table.deleteTable();
          await store.close();
        },
      };
    });
  },
);
