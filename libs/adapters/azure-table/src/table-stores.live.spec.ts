import { randomBytes } from 'node:crypto';
import { describe } from 'vitest';
import {
  describeApiKeyStoreContract,
  describeAuditLogContract,
  describeIdempotencyStoreContract,
  describeTierLedgerContract,
} from '@twinstore/testing';
import { createTableApiKeyStore } from './api-keys/table-api-key-store.adapter';
import { createTableAuditLog } from './audit/table-audit-log.adapter';
import { createTableIdempotencyStore } from './idempotency/table-idempotency-store.adapter';
import { createTableActivityStore } from './table-activity-store.adapter';

/**
 * The other Table Storage adapters' contracts against a real storage account, when one is configured:
 *   TWINS_LIVE_STORAGE_CONNECTION_STRING='DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...'
 * Each test creates its own table (`<kind>live<random>`) and deletes it. Without the variable the suites are
 * reported as skipped, never as passed.
 */
const connectionString = process.env['TWINS_LIVE_STORAGE_CONNECTION_STRING'];
const tableName = (kind: string) => `${kind}live${randomBytes(5).toString('hex')}`;

describe.skipIf(!connectionString)(
  'Table Storage stores live (needs TWINS_LIVE_STORAGE_CONNECTION_STRING)',
  () => {
    describeTierLedgerContract('Azure Table (live)', async () => {
      const store = createTableActivityStore({
        connectionString: connectionString!,
        table: tableName('tier'),
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

    describeApiKeyStoreContract('Azure Table (live)', async () => {
      const table = tableName('keys');
      const open = async () => {
        const store = createTableApiKeyStore({ connectionString: connectionString!, table });
        await store.ensureTable();
        return store;
      };
      const subject = await open();
      return {
        subject,
        sibling: open,
        cleanup: async () => {
          await subject.table.deleteTable();
          await subject.close();
        },
      };
    });

    describeAuditLogContract('Azure Table (live)', async () => {
      const subject = createTableAuditLog({ connectionString: connectionString!, table: tableName('audit') });
      await subject.ensureTable();
      return {
        subject,
        cleanup: async () => {
          await subject.table.deleteTable();
          await subject.close();
        },
      };
    });

    describeIdempotencyStoreContract('Azure Table (live)', async (options) => {
      const table = tableName('idem');
      const open = async () => {
        const store = createTableIdempotencyStore({ connectionString: connectionString!, table, ...options });
        await store.ensureTable();
        return store;
      };
      const subject = await open();
      return {
        subject,
        sibling: open,
        cleanup: async () => {
          await subject.table.deleteTable();
          await subject.close();
        },
      };
    });
  },
);
