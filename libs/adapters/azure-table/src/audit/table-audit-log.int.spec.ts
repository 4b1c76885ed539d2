import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { describeAuditLogContract, startAzurite, TestAzurite } from '@twinstore/testing';
import { createTableAuditLog } from './table-audit-log.adapter';

let azurite: TestAzurite;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

describeAuditLogContract('Azure Table (Azurite)', async () => {
  const subject = createTableAuditLog({
    connectionString: azurite.connectionString,
    table: `audit${randomBytes(6).toString('hex')}`,
  });
  await subject.ensureTable();
  return {
    subject,
    cleanup: async () => {
      await subject.table.deleteTable();
      await subject.close();
    },
  };
});
